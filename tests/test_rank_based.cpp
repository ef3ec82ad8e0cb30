// Unit tests of what is specific to rank-based prioritization: the order-statistics tree on its
// own; ranks, ties and rank weights of the sampler, the buffer (prioritized_replay<Item,
// rank_based_sampler>) and the naive reference, against ranks and probabilities computed by
// hand; and the naive reference where the tree buffer's test is shared with the proportional
// sampler (test_sampler_shell.cpp).
#include <per/detail/order_statistics_tree.hpp>
#include <per/naive_rank_based.hpp>
#include <per/prioritized_replay.hpp>
#include <per/rank_based.hpp>

#include "per_catch.hpp"
#include "state_snapshot.hpp"
#include "stats.hpp"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <random>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

namespace {

using per::rank_based_sampler;
using per::replay_options;
using per::sampling_mode;
using per::weight_normalization;

constexpr double not_a_number = std::numeric_limits<double>::quiet_NaN();

const sampling_mode all_modes[] = {sampling_mode::stratified, sampling_mode::independent,
                                   sampling_mode::without_replacement};

// P of rank r among n items: r^-alpha / sum_{k=1..n} k^-alpha.
double rank_probability(std::size_t r, std::size_t n, double alpha) {
    double total = 0.0;
    for (std::size_t k = 1; k <= n; ++k) {
        total += std::pow(static_cast<double>(k), -alpha);
    }
    return std::pow(static_cast<double>(r), -alpha) / total;
}

// Everything observable about a buffer, to prove that a throwing call changed nothing.
struct buffer_snapshot {
    std::size_t size = 0;
    std::size_t next_slot = 0;
    double max_priority = 0;
    double alpha = 0;
    std::vector<int> items;
    std::vector<double> priorities;
    std::vector<double> probabilities;
    std::vector<per::replay_handle> handles;

    template <class Buffer>
    explicit buffer_snapshot(const Buffer& buffer)
        : size(buffer.size())
        , next_slot(buffer.next_slot())
        , max_priority(buffer.max_priority())
        , alpha(buffer.alpha()) {
        for (std::size_t slot = 0; slot < buffer.size(); ++slot) {
            items.push_back(buffer.item(slot));
            priorities.push_back(buffer.priority(slot));
            probabilities.push_back(buffer.probability(slot));
            handles.push_back(buffer.handle(slot));
        }
    }
    bool operator==(const buffer_snapshot& other) const {
        return size == other.size && next_slot == other.next_slot &&
               max_priority == other.max_priority && alpha == other.alpha && items == other.items &&
               priorities == other.priorities && probabilities == other.probabilities &&
               handles == other.handles;
    }
};

// The rank of a slot in either buffer type.
std::size_t rank_of(const per::rank_based_replay<int>& buffer, std::size_t slot) {
    return buffer.sampler().rank(slot);
}
std::size_t rank_of(const per::naive_rank_based_replay<int>& buffer, std::size_t slot) {
    return buffer.rank(slot);
}

// An engine that returns one value forever: with 2^63 every uniform_unit is exactly 0.5.
struct constant_engine {
    using result_type = std::uint64_t;
    static constexpr result_type min() { return 0; }
    static constexpr result_type max() { return ~result_type{0}; }
    result_type value = 0;
    result_type operator()() const { return value; }
};

} // namespace

// --- The order-statistics tree ----------------------------------------------------------------

TEMPLATE_TEST_CASE("order-statistics tree: random operations against a sorted list",
                   "[rank_based][tree]", (per::detail::basic_order_statistics_tree<3, 4>),
                   (per::detail::basic_order_statistics_tree<4, 5>),
                   (per::detail::basic_order_statistics_tree<7, 4>),
                   per::detail::order_statistics_tree) {
    // Small nodes split, borrow and merge all the time; the library's 31 / 31 only at the
    // larger capacities.
    for (std::size_t capacity : {1, 2, 3, 17, 200, 1500}) {
        CAPTURE(capacity);
        TestType tree(capacity);
        std::vector<double> priority(capacity, -1.0);
        std::vector<std::uint64_t> stamp(capacity, 0);
        std::uint64_t stamps = 0;
        std::mt19937_64 rng(capacity);
        auto reference_order = [&] {
            std::vector<std::size_t> order;
            for (std::size_t slot = 0; slot < capacity; ++slot) {
                if (priority[slot] >= 0.0) {
                    order.push_back(slot);
                }
            }
            std::sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) {
                return priority[a] > priority[b] ||
                       (priority[a] == priority[b] && stamp[a] > stamp[b]);
            });
            return order;
        };
        auto require_same = [&] {
            REQUIRE(tree.valid());
            const auto order = reference_order();
            REQUIRE(tree.size() == order.size());
            std::vector<std::size_t> batch(order.size());
            for (std::size_t position = 0; position < order.size(); ++position) {
                REQUIRE(tree.select(position) == order[position]);
                REQUIRE(tree.position(order[position]) == position);
                batch[position] = order.size() - 1 - position;
            }
            tree.select_batch(batch.data(), batch.size());
            for (std::size_t k = 0; k < batch.size(); ++k) {
                REQUIRE(batch[k] == order[order.size() - 1 - k]);
            }
        };
        const int operations = capacity > 1000 ? 20000 : 4000;
        for (int op = 0; op < operations; ++op) {
            const std::size_t slot = rng() % capacity;
            // Few distinct values: many ties, broken by stamp.
            const double value = static_cast<double>(rng() % 6) * 0.5;
            // Phases that grow and shrink the tree, so that it also empties and refills.
            const bool shrinking = (op / 1000) % 2 == 1;
            if (priority[slot] >= 0.0 && rng() % 3 < (shrinking ? 2u : 1u)) {
                tree.erase(slot);
                priority[slot] = -1.0;
            } else {
                if (priority[slot] >= 0.0) {
                    tree.erase(slot);
                }
                priority[slot] = value;
                stamp[slot] = ++stamps;
                tree.insert(slot, value, stamps);
            }
            if (op % 97 == 0 || capacity < 20) {
                require_same();
            }
        }
        require_same();
        // Emptying in random order, then filling in rank order and its reverse.
        for (std::size_t slot = 0; slot < capacity; ++slot) {
            if (priority[slot] >= 0.0) {
                tree.erase(slot);
                priority[slot] = -1.0;
            }
        }
        require_same();
        REQUIRE(tree.height() == 0);
        for (std::size_t slot = 0; slot < capacity; ++slot) {
            priority[slot] = static_cast<double>(slot);
            stamp[slot] = ++stamps;
            tree.insert(slot, priority[slot], stamps);
        }
        require_same();
        for (std::size_t slot = capacity; slot-- > 0;) {
            if (slot % 3 != 0) {
                tree.erase(slot);
                priority[slot] = -1.0;
            }
        }
        require_same();
        // assign rebuilds the same order.
        TestType rebuilt(capacity);
        rebuilt.assign(priority.data(), stamp.data());
        REQUIRE(rebuilt.valid());
        const auto order = reference_order();
        REQUIRE(rebuilt.size() == order.size());
        for (std::size_t position = 0; position < order.size(); ++position) {
            REQUIRE(rebuilt.select(position) == order[position]);
        }
        tree.clear();
        REQUIRE(tree.size() == 0);
        REQUIRE(tree.valid());
    }
}

TEST_CASE("order-statistics tree: a full tree stays shallow, and its pools suffice",
          "[rank_based][tree]") {
    using tree_type = per::detail::order_statistics_tree;
    const std::size_t n = 1 << 16;
    tree_type tree(n);
    // Increasing keys, then equal keys (which go by stamp): the worst orders for a tree that
    // does not balance. Every split leaves half-full nodes: the most nodes the pools must hold.
    for (std::size_t slot = 0; slot < n / 2; ++slot) {
        tree.insert(slot, static_cast<double>(slot), slot + 1);
    }
    for (std::size_t slot = n / 2; slot < n; ++slot) {
        tree.insert(slot, 1.0, slot + 1);
    }
    REQUIRE(tree.valid());
    REQUIRE(tree.size() == n);
    // 1 + log_15(65536 / 15) = 4.1: at most 4 inner levels above the leaves.
    REQUIRE(tree.height() <= 5);
    for (std::size_t slot = 0; slot < n; slot += 2) {
        tree.erase(slot);
    }
    REQUIRE(tree.valid());
    REQUIRE(tree.height() <= 5);
    for (std::size_t slot = 0; slot < n; slot += 2) {
        tree.insert(slot, 0.5, n + slot);
    }
    REQUIRE(tree.valid());
    REQUIRE(tree.select(n - 1) == 0); // priority 0.5, the oldest of those: last
}

// --- Ranks and probabilities ------------------------------------------------------------------

TEMPLATE_TEST_CASE("rank-based: ranks and P(i) by hand", "[rank_based]",
                   per::rank_based_replay<int>, per::naive_rank_based_replay<int>) {
    TestType buffer(10, replay_options{}.alpha(0.7));
    const double priorities[] = {0.3, 2.0, 0.0, 7.5, 1.0};
    for (int i = 0; i < 5; ++i) {
        buffer.push(i, priorities[i]);
    }
    // Ranks by priority, largest first: 7.5, 2.0, 1.0, 0.3, 0.0.
    const std::size_t ranks[] = {4, 2, 5, 1, 3};
    for (std::size_t slot = 0; slot < 5; ++slot) {
        CAPTURE(slot);
        REQUIRE(rank_of(buffer, slot) == ranks[slot]);
        REQUIRE(buffer.probability(slot) ==
                Approx(rank_probability(ranks[slot], 5, 0.7)).epsilon(1e-14));
    }
    // By hand: sum_{r=1..5} r^-0.7 = 1 + 0.615572 + 0.463463 + 0.378929 + 0.324131.
    REQUIRE(buffer.probability(3) == Approx(1.0 / 2.782096).epsilon(1e-6));
    // The ranks depend on the order of the priorities only, not on their scale.
    TestType scaled(10, replay_options{}.alpha(0.7));
    for (int i = 0; i < 5; ++i) {
        scaled.push(i, 1000.0 * priorities[i] + 5.0);
    }
    for (std::size_t slot = 0; slot < 5; ++slot) {
        REQUIRE(scaled.probability(slot) == buffer.probability(slot));
    }
}

TEMPLATE_TEST_CASE("rank-based: alpha 0 is uniform, alpha 1 is 1/rank", "[rank_based]",
                   per::rank_based_replay<int>, per::naive_rank_based_replay<int>) {
    TestType flat(8, replay_options{}.alpha(0.0));
    TestType steep(8, replay_options{}.alpha(1.0));
    for (int i = 0; i < 4; ++i) {
        flat.push(i, 0.5 * i);
        steep.push(i, 0.5 * i);
    }
    for (std::size_t slot = 0; slot < 4; ++slot) {
        REQUIRE(flat.probability(slot) == Approx(0.25));
    }
    // Ranks 4, 3, 2, 1; harmonic number H_4 = 25/12.
    std::vector<double> one_over_rank(8, 0.0);
    for (std::size_t slot = 0; slot < 4; ++slot) {
        one_over_rank[slot] = (1.0 / (4.0 - slot)) / (25.0 / 12.0);
        REQUIRE(steep.probability(slot) == Approx(one_over_rank[slot]));
    }
    // And the draws follow: alpha 0 samples the four items uniformly, in every mode. Pearson's
    // chi-square (tests/stats.hpp) at a false-alarm rate of 1e-4 per mode, fixed seeds
    // (stratified and without-replacement draws vary less than multinomial ones, so fail less
    // often); the same counts miss the 1/rank distribution by far.
    constexpr double false_alarm_rate = 1e-4;
    const std::vector<double> uniform = {0.25, 0.25, 0.25, 0.25, 0.0, 0.0, 0.0, 0.0};
    for (sampling_mode mode : all_modes) {
        CAPTURE(static_cast<int>(mode));
        TestType sampled(8, replay_options{}.alpha(0.0).sampling(mode));
        for (int i = 0; i < 4; ++i) {
            sampled.push(i, 0.5 * i);
        }
        std::mt19937_64 rng(600 + static_cast<int>(mode));
        // 16000 draws (2000 without replacement, in pairs of distinct items).
        const bool without = mode == sampling_mode::without_replacement;
        const auto counts = per_test::count_draws(sampled, without ? 2 : 16, 1000, rng);
        per_test::require_right_not_wrong(counts, uniform, one_over_rank, false_alarm_rate, 10.0);
    }
}

TEMPLATE_TEST_CASE("rank-based: ties go to the most recently pushed item", "[rank_based]",
                   per::rank_based_replay<int>, per::naive_rank_based_replay<int>) {
    TestType buffer(6, replay_options{}.alpha(1.0));
    std::vector<per::replay_handle> handles;
    for (int i = 0; i < 4; ++i) {
        handles.push_back(buffer.push(i, 2.0));
    }
    // Equal priorities: newest first.
    REQUIRE(rank_of(buffer, 3) == 1);
    REQUIRE(rank_of(buffer, 2) == 2);
    REQUIRE(rank_of(buffer, 1) == 3);
    REQUIRE(rank_of(buffer, 0) == 4);
    // An update keeps the push order among equals: slot 0 updated to the same value stays last.
    REQUIRE(buffer.update_priority(handles[0], 2.0));
    REQUIRE(rank_of(buffer, 0) == 4);
    // 0.0 and -0.0 tie, and also go by push order.
    REQUIRE(buffer.update_priority(handles[1], 0.0));
    REQUIRE(buffer.update_priority(handles[2], -0.0));
    REQUIRE(rank_of(buffer, 2) == 3);
    REQUIRE(rank_of(buffer, 1) == 4);
    REQUIRE(std::signbit(buffer.priority(2)));
    // Raising an item above its equals moves it up; equal again: back by push order.
    REQUIRE(buffer.update_priority(handles[0], 2.5));
    REQUIRE(rank_of(buffer, 0) == 1);
    REQUIRE(buffer.update_priority(handles[0], 2.0));
    REQUIRE(rank_of(buffer, 0) == 2);
    REQUIRE(rank_of(buffer, 3) == 1);
}

TEMPLATE_TEST_CASE("rank-based: a new item gets max priority and takes rank 1", "[rank_based]",
                   per::rank_based_replay<int>, per::naive_rank_based_replay<int>) {
    TestType buffer(4, replay_options{}.alpha(0.7).initial_max_priority(2.0));
    REQUIRE(buffer.max_priority() == 2.0);
    const auto a = buffer.push(0);
    REQUIRE(buffer.priority(0) == 2.0);
    REQUIRE(buffer.update_priority(a, 5.0));
    REQUIRE(buffer.max_priority() == 5.0);
    buffer.push(1); // priority 5, ties with slot 0, newer: rank 1
    REQUIRE(buffer.priority(1) == 5.0);
    REQUIRE(rank_of(buffer, 1) == 1);
    REQUIRE(rank_of(buffer, 0) == 2);
    buffer.push(2, 0.5);
    REQUIRE(rank_of(buffer, 2) == 3);
    buffer.push(3);
    REQUIRE(rank_of(buffer, 3) == 1);
    buffer.push(4); // wraps around onto slot 0, again rank 1
    REQUIRE(buffer.item(0) == 4);
    REQUIRE(rank_of(buffer, 0) == 1);
    REQUIRE(rank_of(buffer, 3) == 2);
    REQUIRE(rank_of(buffer, 1) == 3);
    REQUIRE(rank_of(buffer, 2) == 4);
    REQUIRE_FALSE(buffer.update_priority(a, 100.0)); // stale: its item was overwritten
    REQUIRE(buffer.max_priority() == 5.0);
    buffer.clear();
    REQUIRE(buffer.max_priority() == 5.0);
}

TEMPLATE_TEST_CASE("rank-based: updates move ranks", "[rank_based]", per::rank_based_replay<int>,
                   per::naive_rank_based_replay<int>) {
    TestType buffer(5, replay_options{}.alpha(0.7));
    std::vector<per::replay_handle> handles;
    for (int i = 0; i < 5; ++i) {
        handles.push_back(buffer.push(i, 1.0 + i)); // ranks 5, 4, 3, 2, 1
    }
    REQUIRE(rank_of(buffer, 0) == 5);
    const std::vector<per::replay_handle> which = {handles[0], handles[4], handles[2]};
    const std::vector<float> values = {10.0f, 0.0f, 3.5f};
    REQUIRE(buffer.update_priorities(which, values) == 3);
    // Priorities now 10, 2, 3.5, 4, 0.
    const std::size_t expected[] = {1, 4, 3, 2, 5};
    for (std::size_t slot = 0; slot < 5; ++slot) {
        REQUIRE(rank_of(buffer, slot) == expected[slot]);
    }
    REQUIRE(buffer.max_priority() == 10.0);
}

TEMPLATE_TEST_CASE("rank-based: priority 0 ranks last and is still sampled", "[rank_based]",
                   per::rank_based_replay<int>, per::naive_rank_based_replay<int>) {
    for (auto mode : all_modes) {
        CAPTURE(static_cast<int>(mode));
        TestType buffer(4, replay_options{}.alpha(0.7).epsilon(0.0).sampling(mode));
        buffer.push(0, 0.0);
        buffer.push(1, 0.0);
        REQUIRE(buffer.probability(0) == Approx(rank_probability(2, 2, 0.7)));
        REQUIRE(buffer.probability(1) == Approx(rank_probability(1, 2, 0.7)));
        std::mt19937_64 rng(3);
        std::set<std::size_t> seen;
        for (int round = 0; round < 50; ++round) {
            const auto batch = buffer.sample(2, 0.5, rng);
            seen.insert(batch.slots().begin(), batch.slots().end());
        }
        REQUIRE(seen == std::set<std::size_t>{0, 1});
    }
}

TEST_CASE("naive rank-based: importance weights follow each normalization", "[rank_based][naive]") {
    using naive = per::naive_rank_based_replay<int>;
    const double beta = 0.6;
    for (auto normalization : {weight_normalization::global_max, weight_normalization::batch_max,
                               weight_normalization::none}) {
        CAPTURE(static_cast<int>(normalization));
        naive buffer(8, replay_options{}
                            .alpha(1.0)
                            .normalization(normalization)
                            .sampling(sampling_mode::independent));
        for (int i = 0; i < 4; ++i) {
            buffer.push(i, 1.0 + i); // slot s has rank 4 - s: P = (1 / (4 - s)) / H_4
        }
        std::mt19937_64 rng(11);
        const auto batch = buffer.sample(32, beta, rng);
        double batch_min = 1.0;
        for (double p : batch.probabilities()) {
            batch_min = std::min(batch_min, p);
        }
        const double p_last = (1.0 / 4.0) / (25.0 / 12.0); // rank N = 4
        for (std::size_t k = 0; k < batch.size(); ++k) {
            const std::size_t slot = batch.slots()[k];
            const double p = (1.0 / (4.0 - static_cast<double>(slot))) / (25.0 / 12.0);
            REQUIRE(batch.probabilities()[k] == Approx(p).epsilon(1e-14));
            const double raw = std::pow(4.0 * p, -beta); // N = 4 items, not capacity 8
            double expected = raw;
            if (normalization == weight_normalization::global_max) {
                expected = raw / std::pow(4.0 * p_last, -beta);
            } else if (normalization == weight_normalization::batch_max) {
                expected = raw / std::pow(4.0 * batch_min, -beta);
            }
            REQUIRE(batch.weights()[k] == Approx(expected).epsilon(1e-12));
        }
    }
}

// --- Sampling -----------------------------------------------------------------------------------

TEMPLATE_TEST_CASE("rank-based: draws follow the documented prefix rule", "[rank_based][rng]",
                   per::rank_based_replay<int>, per::naive_rank_based_replay<int>) {
    // alpha 1 over 4 items: rank weights 1, 1/2, 1/3, 1/4, running sums 1, 1.5, 1.833, 2.083.
    // With every U = 0.5: independent u = 1.0417 -> rank 2; stratified over 4 slices
    // u = 0.26, 0.78, 1.30, 1.82 -> ranks 1, 1, 2, 3; without replacement: 1.0417 -> rank 2,
    // then 0.5 * (2.083 - 0.5) = 0.79 -> rank 1, then 0.5 * 0.583 = 0.29 -> rank 3.
    const double priorities[] = {4.0, 1.0, 3.0, 2.0}; // slots of ranks 1..4: 0, 2, 3, 1
    const std::size_t slot_of_rank[] = {0, 0, 2, 3, 1};
    const std::vector<std::vector<std::size_t>> expected_ranks = {
        {1, 1, 2, 3}, {2, 2, 2, 2}, {2, 1, 3}};
    std::size_t case_index = 0;
    for (auto mode : all_modes) {
        CAPTURE(static_cast<int>(mode));
        TestType buffer(4, replay_options{}.alpha(1.0).sampling(mode));
        for (int i = 0; i < 4; ++i) {
            buffer.push(i, priorities[i]);
        }
        constant_engine half{std::uint64_t{1} << 63};
        const auto& ranks = expected_ranks[case_index++];
        const auto batch = buffer.sample(ranks.size(), 0.5, half);
        for (std::size_t k = 0; k < ranks.size(); ++k) {
            CAPTURE(k);
            REQUIRE(batch.slots()[k] == slot_of_rank[ranks[k]]);
        }
        // U = 0 takes rank 1; the largest U takes the last rank in every mode.
        constant_engine zero{0};
        REQUIRE(buffer.sample(1, 0.5, zero).slots()[0] == 0);
        constant_engine top{~std::uint64_t{0}};
        REQUIRE(buffer.sample(1, 0.5, top).slots()[0] == 1);
    }
}

TEST_CASE("naive rank-based: every mode draws present items; without replacement distinct",
          "[rank_based][naive]") {
    using naive = per::naive_rank_based_replay<int>;
    std::mt19937_64 rng(77);
    for (auto mode : all_modes) {
        CAPTURE(static_cast<int>(mode));
        naive buffer(300, replay_options{}.alpha(0.7).sampling(mode));
        for (int i = 0; i < 200; ++i) {
            buffer.push(i, static_cast<double>(i % 13));
        }
        per::replay_batch<int> batch;
        for (int round = 0; round < 30; ++round) {
            buffer.sample(64, 0.5, rng, batch);
            REQUIRE(batch.size() == 64);
            for (std::size_t k = 0; k < batch.size(); ++k) {
                REQUIRE(batch.slots()[k] < 200);
                REQUIRE(batch.handles()[k] == buffer.handle(batch.slots()[k]));
                REQUIRE(batch.probabilities()[k] == Approx(buffer.probability(batch.slots()[k])));
                REQUIRE(&batch[k] == &buffer.item(batch.slots()[k]));
            }
            if (mode == sampling_mode::without_replacement) {
                std::set<std::size_t> distinct(batch.slots().begin(), batch.slots().end());
                REQUIRE(distinct.size() == 64);
            }
        }
    }
}

TEST_CASE("rank-based: stratified with alpha 0 draws rank k + 1 in slice k", "[rank_based]") {
    rank_based_sampler sampler(16, replay_options{}.alpha(0.0));
    for (std::size_t slot = 0; slot < 16; ++slot) {
        sampler.fill(slot, static_cast<double>((slot * 7) % 16));
    }
    std::mt19937_64 rng(5);
    for (int round = 0; round < 20; ++round) {
        const auto batch = sampler.sample(16, 1.0, rng);
        for (std::size_t k = 0; k < 16; ++k) {
            REQUIRE(batch.slots()[k] == sampler.slot_of_rank(k + 1));
            REQUIRE(batch.weights()[k] == 1.0);
        }
    }
}

TEST_CASE("naive rank-based: without replacement can take every item, and no more",
          "[rank_based][naive]") {
    using naive = per::naive_rank_based_replay<int>;
    naive buffer(6, replay_options{}.alpha(0.7).sampling(sampling_mode::without_replacement));
    for (int i = 0; i < 4; ++i) {
        buffer.push(i, i == 2 ? 0.0 : 1.0 + i);
    }
    const buffer_snapshot before(buffer);
    std::mt19937_64 rng(3);
    for (int round = 0; round < 50; ++round) {
        const auto batch = buffer.sample(4, 0.7, rng);
        std::set<std::size_t> slots(batch.slots().begin(), batch.slots().end());
        REQUIRE(slots == std::set<std::size_t>{0, 1, 2, 3});
    }
    REQUIRE(buffer_snapshot(buffer) == before); // drawn ranks restored bit for bit
    REQUIRE_THROWS_AS(buffer.sample(5, 0.7, rng), std::out_of_range);
    REQUIRE_THROWS_WITH(buffer.sample(5, 0.7, rng), PER_CONTAINS("batch_size = 5"));
}

// --- The sampler's own API ----------------------------------------------------------------------

TEST_CASE("rank-based sampler: slots, ranks and handles", "[rank_based][sampler]") {
    rank_based_sampler sampler(10, replay_options{}.alpha(0.7));
    sampler.fill(7, 3.0);
    sampler.fill(2, 1.0);
    sampler.fill(4, 0.0);
    REQUIRE(sampler.sampleable_size() == 3); // priority 0 ranks last, with a weight > 0
    REQUIRE(sampler.rank(7) == 1);
    REQUIRE(sampler.rank(2) == 2);
    REQUIRE(sampler.rank(4) == 3);
    REQUIRE(sampler.slot_of_rank(1) == 7);
    REQUIRE(sampler.slot_of_rank(3) == 4);
    REQUIRE(sampler.total_weight() ==
            Approx(1.0 + std::pow(2.0, -0.7) + std::pow(3.0, -0.7)).epsilon(1e-15));
    REQUIRE_THROWS_WITH(sampler.rank(0), PER_CONTAINS("slot = 0 is empty"));
    REQUIRE_THROWS_WITH(sampler.slot_of_rank(0), PER_CONTAINS("rank = 0"));
    REQUIRE_THROWS_WITH(sampler.slot_of_rank(4), PER_CONTAINS("rank = 4"));
    // Erasing renumbers the ranks below and shrinks N.
    sampler.erase(7);
    REQUIRE(sampler.rank(2) == 1);
    REQUIRE(sampler.rank(4) == 2);
    REQUIRE(sampler.probability(2) == Approx(rank_probability(1, 2, 0.7)));
    // Refilling a filled slot replaces its item: the new item takes rank 1.
    sampler.fill(4);
    REQUIRE(sampler.rank(4) == 1);
}

TEST_CASE("rank-based sampler: skipped and repeated updates leave the right ranks",
          "[rank_based][sampler]") {
    rank_based_sampler sampler(3);
    const auto old_handle = sampler.fill(1, 4.0);
    const auto fresh = sampler.fill(1, 2.0);
    sampler.fill(0, 3.0);
    const std::vector<per::replay_handle> handles = {old_handle, fresh, old_handle};
    const std::vector<float> priorities = {100.0f, 5.0f, 200.0f};
    REQUIRE(sampler.update_priorities(handles, priorities) == 1);
    REQUIRE(sampler.rank(1) == 1); // 5 above 3; the skipped 100 and 200 would also give rank 1
    sampler.erase(1);
    const auto again = sampler.fill(1);
    REQUIRE(sampler.update_priority(again, 7.0));
    // Repeated handles: the last one wins.
    const per::replay_handle repeated[] = {again, again, again};
    const double values[] = {1.0, 9.0, 0.25};
    REQUIRE(sampler.update_priorities(repeated, values) == 3);
    REQUIRE(sampler.rank(1) == 2); // 0.25 below 3; 9 would give rank 1
}

TEST_CASE("rank-based sampler: an alpha too large for the capacity is refused and changes nothing",
          "[rank_based][sampler][errors]") {
    // alpha so large that the last rank's weight capacity^-alpha underflows.
    REQUIRE_THROWS_WITH(rank_based_sampler(1024, replay_options{}.alpha(103.0)),
                        PER_CONTAINS("alpha = 103"));
    REQUIRE_NOTHROW(rank_based_sampler(1024, replay_options{}.alpha(100.0)));
    REQUIRE_NOTHROW(rank_based_sampler(1, replay_options{}.alpha(1e300)));

    rank_based_sampler sampler(8, replay_options{}.alpha(0.7));
    for (std::size_t slot = 0; slot < 5; ++slot) {
        sampler.fill(slot, 0.5 * static_cast<double>(slot));
    }
    const std::string before = per_test::state(sampler);
    REQUIRE_THROWS_WITH(sampler.set_alpha(400.0), PER_CONTAINS("too large"));
    REQUIRE(per_test::state(sampler) == before);
}

TEST_CASE("rank-based sampler: any finite priority is accepted", "[rank_based][sampler]") {
    rank_based_sampler sampler(4, replay_options{}.alpha(1.0));
    const double largest = std::numeric_limits<double>::max();
    sampler.fill(0, largest);
    sampler.fill(1, std::numeric_limits<double>::denorm_min());
    sampler.fill(2, 0.0);
    REQUIRE(sampler.max_priority() == largest);
    REQUIRE(sampler.rank(0) == 1);
    REQUIRE(sampler.rank(1) == 2);
    REQUIRE(sampler.rank(2) == 3);
    sampler.set_alpha(3.0); // ranks cannot overflow: any alpha the capacity allows
    REQUIRE(sampler.probability(0) == Approx(1.0 / (1.0 + 1.0 / 8.0 + 1.0 / 27.0)));
}

// The index memory per slot is tested against real allocations in test_memory.cpp.

TEST_CASE("rank-based sampler: ranks stay exact over many random operations",
          "[rank_based][sampler]") {
    // A sorted reference list checked against rank() and slot_of_rank() now and then, over
    // fills, refills, erases and updates with many ties.
    const std::size_t capacity = 500;
    rank_based_sampler sampler(capacity, replay_options{}.alpha(0.7));
    std::vector<double> priority(capacity, -1.0);
    std::vector<std::uint64_t> order(capacity, 0);
    std::uint64_t fills = 0;
    std::mt19937_64 rng(99);
    for (int op = 0; op < 20000; ++op) {
        const std::size_t slot = rng() % capacity;
        const double value = static_cast<double>(rng() % 50) / 4.0;
        const auto kind = rng() % 10;
        if (kind < 4) {
            sampler.fill(slot, value);
            priority[slot] = value;
            order[slot] = ++fills;
        } else if (kind < 5) {
            sampler.erase(slot);
            priority[slot] = -1.0;
        } else if (priority[slot] >= 0.0) {
            REQUIRE(sampler.update_priority(sampler.handle(slot), value));
            priority[slot] = value;
        }
        if (op % 1000 == 999) {
            std::vector<std::size_t> present;
            for (std::size_t s = 0; s < capacity; ++s) {
                if (priority[s] >= 0.0) {
                    present.push_back(s);
                }
            }
            std::sort(present.begin(), present.end(), [&](std::size_t a, std::size_t b) {
                return priority[a] > priority[b] ||
                       (priority[a] == priority[b] && order[a] > order[b]);
            });
            REQUIRE(sampler.size() == present.size());
            double total = 0.0;
            for (std::size_t r = 1; r <= present.size(); ++r) {
                REQUIRE(sampler.slot_of_rank(r) == present[r - 1]);
                REQUIRE(sampler.rank(present[r - 1]) == r);
                total += std::pow(static_cast<double>(r), -0.7);
            }
            REQUIRE(sampler.total_weight() == Approx(total).epsilon(1e-13));
        }
    }
}

// --- The replay buffer --------------------------------------------------------------------------

TEST_CASE("rank-based replay: one line switches prioritized_replay to ranks",
          "[rank_based][replay]") {
    per::prioritized_replay<int, per::rank_based_sampler> buffer(3, replay_options{}.alpha(0.7));
    per::rank_based_replay<int>& alias = buffer; // the same type
    REQUIRE(alias.capacity() == 3);
    buffer.push(10, 1.0);
    buffer.push(11, 3.0);
    buffer.push(12, 2.0);
    REQUIRE(buffer.sampler().rank(1) == 1);
    REQUIRE(buffer.sampler().rank(2) == 2);
    REQUIRE(buffer.sampler().rank(0) == 3);
    const auto h3 = buffer.push(13); // wraps onto slot 0 with max priority 3: rank 1
    REQUIRE(buffer.sampler().rank(0) == 1);
    REQUIRE(buffer.sampler().rank(1) == 2);
    REQUIRE(buffer.probability(0) == Approx(rank_probability(1, 3, 0.7)));
    REQUIRE(buffer.update_priority(h3, 0.5));
    REQUIRE(buffer.sampler().rank(0) == 3);
    std::mt19937_64 rng(4);
    const auto batch = buffer.sample(8, 1.0, rng);
    for (std::size_t k = 0; k < batch.size(); ++k) {
        // beta 1, global max: w = P(rank N) / P(i).
        REQUIRE(batch.weights()[k] ==
                Approx(rank_probability(3, 3, 0.7) / batch.probabilities()[k]));
    }
    buffer.set_alpha(0.0);
    REQUIRE(buffer.probability(1) == Approx(1.0 / 3.0));
}

TEST_CASE("naive rank-based: a throwing call leaves the buffer exactly as before",
          "[rank_based][naive][errors]") {
    using naive = per::naive_rank_based_replay<int>;
    for (auto mode : all_modes) {
        naive buffer(6, replay_options{}.alpha(0.7).sampling(mode));
        std::vector<per::replay_handle> handles;
        for (int i = 0; i < 8; ++i) {
            handles.push_back(buffer.push(i, static_cast<double>((i * 5) % 7)));
        }
        const buffer_snapshot before(buffer);
        std::mt19937_64 rng(1);
        per::replay_batch<int> batch = buffer.sample(3, 0.5, rng);
        const auto slots_before = batch.slots();
        REQUIRE_THROWS_AS(buffer.push(100, not_a_number), std::invalid_argument);
        REQUIRE_THROWS_AS(buffer.push(100, -1.0), std::invalid_argument);
        REQUIRE_THROWS_AS(buffer.update_priorities(handles, std::vector<double>(8, -1.0)),
                          std::invalid_argument);
        REQUIRE_THROWS_AS(buffer.sample(0, 0.5, rng, batch), std::invalid_argument);
        REQUIRE_THROWS_AS(buffer.sample(2, 2.0, rng, batch), std::invalid_argument);
        REQUIRE_THROWS_AS(buffer.set_alpha(-1.0), std::invalid_argument);
        REQUIRE_THROWS_AS(buffer.set_alpha(1000.0), std::invalid_argument);
        REQUIRE_THROWS_AS(buffer.item(6), std::out_of_range);
        if (mode == sampling_mode::without_replacement) {
            REQUIRE_THROWS_AS(buffer.sample(7, 0.5, rng, batch), std::out_of_range);
        }
        REQUIRE(batch.slots() == slots_before);
        REQUIRE(buffer_snapshot(buffer) == before);
    }
}

TEST_CASE("naive rank-based: bad construction arguments throw naming them", "[rank_based][naive]") {
    using naive = per::naive_rank_based_replay<int>;
    REQUIRE_THROWS_WITH(naive(0), PER_CONTAINS("capacity = 0"));
    REQUIRE_THROWS_WITH(naive(4, replay_options{}.alpha(-1)), PER_CONTAINS("alpha = -1"));
    REQUIRE_THROWS_WITH(naive(1024, replay_options{}.alpha(103.0)), PER_CONTAINS("alpha = 103"));
    REQUIRE_THROWS_AS(naive(4, replay_options{}.initial_max_priority(-1.0)), std::invalid_argument);
    const naive buffer(5, replay_options{}.alpha(0.7).epsilon(0.01).initial_max_priority(2));
    REQUIRE(buffer.empty());
    REQUIRE(buffer.alpha() == 0.7);
    REQUIRE(buffer.options().epsilon() == 0.01);
    REQUIRE(buffer.max_priority() == 2.0);
    REQUIRE_THROWS_AS(buffer.rank(0), std::out_of_range);
}
