// Batched priority updates: sum_tree::set_batch, min_tree::set_batch_unchecked and the
// samplers' update_priorities with many handles recompute each shared entry once per batch,
// level by level. The promise is that this is only a different order of the same work: the
// result is bit for bit what the updates give applied one at a time, and what a tree rebuilt
// from the same leaves holds. Checked here on every stored entry (the trees' inner lines and
// prefix lines, through detail::kary_tree), and through the samplers' observable state: the
// exported state, total weight, smallest weight, sampleable count, max priority and the next
// batches drawn from the same engine.
#include <per/detail/kary_tree.hpp>
#include <per/min_tree.hpp>
#include <per/prioritized_sampler.hpp>
#include <per/rank_based_sampler.hpp>
#include <per/sum_tree.hpp>

#include "per_catch.hpp"

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <limits>
#include <random>
#include <vector>

namespace {

using per::detail::kary_tree;
using per::detail::min_reduce;
using per::detail::sum_reduce;

// Every stored value of two trees of the same shape, compared as bytes (so that -0.0 and 0.0,
// or two NaN payloads, would count as different).
template <class Tree>
bool same_storage(const Tree& a, const Tree& b, bool with_prefixes) {
    if (a.capacity() != b.capacity() || a.depth() != b.depth()) {
        return false;
    }
    using T = typename Tree::value_type;
    const auto same = [](const T* x, const T* y, std::size_t count) {
        return std::memcmp(x, y, count * sizeof(T)) == 0;
    };
    const std::size_t leaf_values = (a.capacity() + Tree::fanout - 1) / Tree::fanout * Tree::fanout;
    if (!same(a.leaf_node(0), b.leaf_node(0), leaf_values)) {
        return false;
    }
    for (std::size_t level = 0; level < a.depth(); ++level) {
        if (!same(a.inner_node(level, 0), b.inner_node(level, 0), a.level_size(level))) {
            return false;
        }
        if constexpr (Tree::keeps_prefixes) {
            if (with_prefixes &&
                !same(a.prefix_node(level, 0), b.prefix_node(level, 0), a.level_size(level))) {
                return false;
            }
        }
    }
    const T root_a = a.root();
    const T root_b = b.root();
    return std::memcmp(&root_a, &root_b, sizeof(T)) == 0;
}

// Random leaf indices with repeats (a quarter of the batch repeats earlier entries, some of
// them next to each other), sorted or not.
std::vector<std::size_t> random_indices(std::mt19937_64& engine, std::size_t capacity,
                                        std::size_t count, bool sorted) {
    std::uniform_int_distribution<std::size_t> any(0, capacity - 1);
    std::vector<std::size_t> indices(count);
    for (std::size_t k = 0; k < count; ++k) {
        const bool repeat = k > 0 && engine() % 4 == 0;
        indices[k] = repeat ? indices[engine() % k] : any(engine);
    }
    if (sorted) {
        std::sort(indices.begin(), indices.end());
    }
    return indices;
}

template <class T>
std::vector<T> random_values(std::mt19937_64& engine, std::size_t count, T zero_share) {
    std::exponential_distribution<double> value(1.0);
    std::uniform_real_distribution<double> unit(0.0, 1.0);
    std::vector<T> values(count);
    for (T& v : values) {
        v = unit(engine) < static_cast<double>(zero_share) ? T(0) : static_cast<T>(value(engine));
    }
    return values;
}

template <class Tree>
void check_batches_match_single_sets(std::size_t capacity, std::uint64_t seed) {
    using T = typename Tree::value_type;
    std::mt19937_64 engine(seed);
    Tree one_by_one(capacity);
    Tree batched(capacity);
    for (std::size_t count :
         {std::size_t{0}, std::size_t{1}, std::size_t{2}, std::size_t{31}, std::size_t{255},
          std::size_t{256}, std::size_t{257}, std::size_t{1000}, 3 * capacity}) {
        for (bool sorted : {false, true}) {
            const std::vector<std::size_t> indices =
                random_indices(engine, capacity, count, sorted);
            const std::vector<T> values = random_values<T>(engine, count, T(0.1));
            for (std::size_t k = 0; k < count; ++k) {
                one_by_one.set(indices[k], values[k]);
            }
            std::size_t calls = 0;
            std::vector<T> expected_old(count);
            std::vector<T> current(capacity);
            for (std::size_t i = 0; i < capacity; ++i) {
                current[i] = batched.leaf(i);
            }
            for (std::size_t k = 0; k < count; ++k) { // what each write replaces, in order
                expected_old[k] = current[indices[k]];
                current[indices[k]] = values[k];
            }
            std::vector<std::size_t> reported;
            batched.set_batch(
                indices.data(), values.data(), count,
                [&](std::size_t k, T old) {
                    // Every leaf is announced in order, with the value it holds then (an
                    // earlier k's value for a repeated index).
                    CHECK(k == calls);
                    CHECK(old == expected_old[k]);
                    ++calls;
                },
                [&](std::size_t node) { reported.push_back(node); });
            CHECK(calls == count);
            // Every leaf node written is reported, and none that was not.
            std::vector<std::size_t> written(count);
            for (std::size_t k = 0; k < count; ++k) {
                written[k] = indices[k] / Tree::fanout;
            }
            std::sort(written.begin(), written.end());
            written.erase(std::unique(written.begin(), written.end()), written.end());
            std::sort(reported.begin(), reported.end());
            CHECK(reported.size() <= count);
            reported.erase(std::unique(reported.begin(), reported.end()), reported.end());
            CHECK(reported == written);
            INFO("capacity " << capacity << ", batch " << count << (sorted ? ", sorted" : ""));
            REQUIRE(same_storage(one_by_one, batched, true));
        }
    }
    // And both equal a tree rebuilt from the leaves.
    Tree rebuilt(capacity);
    std::vector<T> leaves(capacity);
    for (std::size_t i = 0; i < capacity; ++i) {
        leaves[i] = batched.leaf(i);
    }
    rebuilt.assign(leaves.begin(), capacity);
    REQUIRE(same_storage(rebuilt, batched, true));
}

// Capacities around the fanout, around exact powers (full and padded last nodes), around the
// exact-deduplication limit of a level (4096 nodes), and a deep tree.
const std::size_t capacities[] = {1,  2,    7,    8,    9,     63,    64,
                                  65, 1000, 4096, 4097, 32768, 32769, 100003};

// The trees under test, with whether they keep prefix lines.
struct sum8 : kary_tree<double, 8, sum_reduce<double>, true> {
    using kary_tree::kary_tree;
    static constexpr bool keeps_prefixes = true;
};
struct sum16f : kary_tree<float, 16, sum_reduce<float>, true> {
    using kary_tree::kary_tree;
    static constexpr bool keeps_prefixes = true;
};
struct sum2 : kary_tree<double, 2, sum_reduce<double>, true> {
    using kary_tree::kary_tree;
    static constexpr bool keeps_prefixes = true;
};
struct min8 : kary_tree<double, 8, min_reduce<double>> {
    using kary_tree::kary_tree;
    static constexpr bool keeps_prefixes = false;
};

} // namespace

TEST_CASE("kary_tree set_batch equals one set per leaf, bit for bit, on every stored entry",
          "[batched_updates]") {
    std::uint64_t seed = 1;
    for (std::size_t capacity : capacities) {
        check_batches_match_single_sets<sum8>(capacity, seed++);
        check_batches_match_single_sets<sum16f>(capacity, seed++);
        check_batches_match_single_sets<min8>(capacity, seed++);
        if (capacity <= 4097) { // depth 13 at 4097: every level width from 1 to the limit
            check_batches_match_single_sets<sum2>(capacity, seed++);
        }
    }
}

TEST_CASE("sum_tree::set_batch validates everything before it writes", "[batched_updates]") {
    per::sum_tree<> tree(100);
    tree.set(3, 1.5);
    const double total = tree.total();
    const std::size_t indices[] = {1, 2, 100};
    const double values[] = {1.0, 2.0, 3.0};
    REQUIRE_THROWS_AS(tree.set_batch(indices, values, 3), std::out_of_range);
    REQUIRE_THROWS_WITH(tree.set_batch(indices, values, 3),
                        PER_CONTAINS("per::sum_tree::set_batch: indices[k] = 100 ") &&
                            PER_CONTAINS("(at position 2)"));
    const std::size_t good[] = {1, 2, 5};
    const double bad[] = {1.0, -2.0, 3.0};
    REQUIRE_THROWS_WITH(tree.set_batch(good, bad, 3),
                        PER_CONTAINS("per::sum_tree::set_batch: values[k] = -2 ") &&
                            PER_CONTAINS("(at position 1)"));
    const double huge[] = {1.0, 2.0, tree.max_value() * 2};
    REQUIRE_THROWS_AS(tree.set_batch(good, huge, 3), std::invalid_argument);
    const double nan[] = {std::numeric_limits<double>::quiet_NaN(), 1.0, 1.0};
    REQUIRE_THROWS_AS(tree.set_batch(good, nan, 3), std::invalid_argument);
    CHECK(tree.total() == total);
    CHECK(tree.get(1) == 0.0);
    CHECK(tree.get(2) == 0.0);
    tree.set_batch(nullptr, nullptr, 0);
    tree.set_batch(good, values, 3);
    CHECK(tree.get(5) == 3.0);
    CHECK(tree.total() == 1.5 + 1.0 + 2.0 + 3.0);
}

TEST_CASE("min_tree::set_batch_unchecked equals one set per slot", "[batched_updates]") {
    std::mt19937_64 engine(99);
    for (std::size_t capacity : {1, 9, 4100, 70000}) {
        per::min_tree<> one_by_one(capacity);
        per::min_tree<> batched(capacity);
        for (int round = 0; round < 20; ++round) {
            const std::size_t count = 1 + engine() % 600;
            const std::vector<std::size_t> indices =
                random_indices(engine, capacity, count, round % 2 == 0);
            std::vector<double> values = random_values<double>(engine, count, 0.0);
            for (std::size_t k = 0; k < count; ++k) {
                if (engine() % 5 == 0) {
                    values[k] = std::numeric_limits<double>::infinity(); // emptied
                }
                one_by_one.set(indices[k], values[k]);
            }
            batched.set_batch_unchecked(indices.data(), values.data(), count);
            REQUIRE(batched.min() == one_by_one.min());
            for (std::size_t slot = 0; slot < capacity; ++slot) {
                REQUIRE(batched.get(slot) == one_by_one.get(slot));
            }
        }
    }
}

namespace {

// Two samplers with one history, then batches of updates given to one as a batch and to the
// other one handle at a time: their states, observers and next batches must agree exactly.
template <class Sampler>
void check_sampler_batches(std::size_t capacity, per::replay_options options, std::uint64_t seed) {
    std::mt19937_64 engine(seed);
    Sampler batched(capacity, options);
    std::vector<per::replay_handle> handles(capacity);
    for (std::size_t slot = 0; slot < capacity; ++slot) {
        handles[slot] = batched.fill(slot, static_cast<double>(engine() % 1000) / 100.0);
    }
    Sampler single = batched;
    std::exponential_distribution<double> priority(1.0);
    for (int round = 0; round < 40; ++round) {
        const std::size_t count = 2 + engine() % 700;
        std::vector<per::replay_handle> batch(count);
        std::vector<double> priorities(count);
        for (std::size_t k = 0; k < count; ++k) {
            const std::size_t slot = engine() % capacity;
            batch[k] = handles[slot];
            if (engine() % 8 == 0) { // a stale handle: an older generation
                batch[k].generation -= 1;
            }
            const auto kind = engine() % 10;
            priorities[k] = kind == 0   ? 0.0
                            : kind == 1 ? 50.0 + priority(engine)
                                        : priority(engine);
        }
        if (round % 3 == 0) { // sampled batches come sorted by slot (stratified draws)
            std::sort(batch.begin(), batch.end(),
                      [](per::replay_handle a, per::replay_handle b) { return a.slot < b.slot; });
        }
        if (round % 5 == 4) { // refills between batches make more handles stale
            for (int r = 0; r < 5; ++r) {
                const std::size_t slot = engine() % capacity;
                const double p = priority(engine);
                handles[slot] = batched.fill(slot, p);
                single.fill(slot, p);
            }
        }
        const std::size_t applied = batched.update_priorities(batch, priorities);
        std::size_t applied_single = 0;
        for (std::size_t k = 0; k < count; ++k) {
            applied_single += single.update_priority(batch[k], priorities[k]) ? 1 : 0;
        }
        INFO("round " << round << ", batch " << count);
        REQUIRE(applied == applied_single);
        REQUIRE(batched.total_weight() == single.total_weight());
        REQUIRE(batched.sampleable_size() == single.sampleable_size());
        REQUIRE(batched.max_priority() == single.max_priority());
        REQUIRE(batched.index().smallest_weight() == single.index().smallest_weight());
        for (std::size_t slot = 0; slot < capacity; ++slot) {
            REQUIRE(batched.probability(slot) == single.probability(slot));
        }
        const per::sampler_state a = batched.export_state();
        const per::sampler_state b = single.export_state();
        REQUIRE(a.priorities == b.priorities);
        REQUIRE(a.generations == b.generations);
        REQUIRE(a.fill_stamps == b.fill_stamps);
        std::mt19937_64 ga(seed + 1000 + static_cast<std::uint64_t>(round));
        std::mt19937_64 gb = ga;
        const per::sample_batch sa = batched.sample(64, 0.5, ga);
        const per::sample_batch sb = single.sample(64, 0.5, gb);
        REQUIRE(sa.slots() == sb.slots());
        REQUIRE(sa.weights() == sb.weights());
        REQUIRE(sa.probabilities() == sb.probabilities());
    }
}

} // namespace

TEST_CASE("update_priorities with many handles equals one update at a time, bit for bit",
          "[batched_updates]") {
    const per::replay_options options = per::replay_options{}.alpha(0.6);
    // epsilon 0: priority 0 has weight 0, so batches also move slots in and out of the
    // sampleable set, and blocks' minima in and out of the min tree.
    const per::replay_options zero_epsilon = per::replay_options{}.alpha(0.7).epsilon(0.0);
    std::uint64_t seed = 5;
    for (std::size_t capacity : {3, 64, 1000, 20000}) {
        check_sampler_batches<per::prioritized_sampler>(capacity, options, seed++);
        check_sampler_batches<per::prioritized_sampler>(capacity, zero_epsilon, seed++);
        check_sampler_batches<per::basic_prioritized_sampler<per::sum_tree<float>>>(
            capacity, zero_epsilon, seed++);
        check_sampler_batches<per::rank_based_sampler>(capacity, options, seed++);
    }
}

TEST_CASE("batched updates keep the trees equal to a rebuild", "[batched_updates]") {
    // After many batches the sampler's trees hold exactly what set_alpha's rebuild computes
    // from the same priorities (import_state rebuilds the same way).
    std::mt19937_64 engine(17);
    const std::size_t capacity = 50000;
    per::prioritized_sampler sampler(capacity, per::replay_options{}.alpha(0.6).epsilon(0.0));
    std::vector<per::replay_handle> handles(capacity);
    for (std::size_t slot = 0; slot < capacity; ++slot) {
        handles[slot] = sampler.fill(slot, 1.0);
    }
    std::exponential_distribution<double> priority(1.0);
    for (int round = 0; round < 300; ++round) {
        std::vector<per::replay_handle> batch(256);
        std::vector<double> priorities(256);
        for (std::size_t k = 0; k < 256; ++k) {
            batch[k] = handles[engine() % capacity];
            priorities[k] = engine() % 16 == 0 ? 0.0 : priority(engine);
        }
        sampler.update_priorities(batch, priorities);
    }
    per::prioritized_sampler rebuilt(capacity, sampler.options());
    rebuilt.import_state(sampler.export_state());
    REQUIRE(rebuilt.total_weight() == sampler.total_weight());
    REQUIRE(rebuilt.index().smallest_weight() == sampler.index().smallest_weight());
    REQUIRE(rebuilt.sampleable_size() == sampler.sampleable_size());
    for (std::size_t slot = 0; slot < capacity; ++slot) {
        REQUIRE(rebuilt.index().weights().get(slot) == sampler.index().weights().get(slot));
    }
    std::mt19937_64 ga(3);
    std::mt19937_64 gb(3);
    REQUIRE(rebuilt.sample(256, 0.4, ga).slots() == sampler.sample(256, 0.4, gb).slots());
}
