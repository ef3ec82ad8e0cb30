// Differential tests of rank-based prioritization: the O(log N) buffer
// (prioritized_replay<int, rank_based_sampler>) against the naive reference that argsorts on
// every draw, on random sequences of operations (valid and invalid), for several capacities,
// every sampling mode and every weight normalization. After each operation both must expose
// the same state (the same rank and probability for every slot), return the same values and
// throw the same exception types; sampling with identically seeded engines must draw the same
// slots with the same weights and probabilities: a draw may differ only where its prefix value
// lies within rounding of a boundary of the running sums of the rank weights
// (differential_support.hpp, boundary_bound), and every draw must be the one its definition
// names.
#include <per/naive_rank_based.hpp>
#include <per/rank_based.hpp>

#include "differential_support.hpp"
#include "per_catch.hpp"

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <random>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

namespace {

namespace differential = per_test::differential;
using differential::chooser;
using differential::close;
using differential::infinite;
using differential::not_a_number;
using differential::outcome;
using per::replay_handle;
using per::replay_options;
using per::sampling_mode;
using per::weight_normalization;
using tree_buffer = per::rank_based_replay<int>;
using naive_buffer = per::naive_rank_based_replay<int>;

// Valid priorities: zeros (also -0.0), many ties, ordinary values, the largest double and
// magnitudes from 1e-300 to 1e300 (ranks cannot overflow).
constexpr differential::priority_mix valid_priorities{0.35, 0.82, -300.0, 600.0};

struct counters : differential::counters {
    std::size_t ties = 0; // states checked in which two present items had equal priorities
};

// How closely (relative) the two buffers' probabilities of a sampled item must agree.
constexpr double probability_tolerance = 1e-12;

void require_same_state(const tree_buffer& tree, const naive_buffer& naive, chooser& choose,
                        bool every_slot, counters& count) {
    REQUIRE(tree.size() == naive.size());
    REQUIRE(tree.empty() == naive.empty());
    REQUIRE(tree.capacity() == naive.capacity());
    REQUIRE(tree.next_slot() == naive.next_slot());
    REQUIRE(tree.max_priority() == naive.max_priority());
    REQUIRE(tree.alpha() == naive.alpha());
    REQUIRE(tree.sampler().size() == naive.size());
    const std::size_t size = naive.size();
    if (size == 0) {
        return;
    }
    // Every slot for small buffers or now and then; else a few random ones (the naive rank
    // is O(N) per call).
    const std::size_t checks = every_slot || size <= 16 ? size : 6;
    std::vector<double> seen;
    for (std::size_t c = 0; c < checks; ++c) {
        const std::size_t slot = checks == size ? c : choose.below(size);
        CAPTURE(slot);
        REQUIRE(tree.item(slot) == naive.item(slot));
        REQUIRE(tree.priority(slot) == naive.priority(slot));
        REQUIRE(std::signbit(tree.priority(slot)) == std::signbit(naive.priority(slot)));
        REQUIRE(tree.handle(slot) == naive.handle(slot));
        const std::size_t rank = naive.rank(slot);
        REQUIRE(tree.sampler().rank(slot) == rank);
        REQUIRE(tree.sampler().slot_of_rank(rank) == slot);
        const double p_tree = tree.probability(slot);
        const double p_naive = naive.probability(slot);
        CAPTURE(p_tree, p_naive);
        REQUIRE(close(p_tree, p_naive, 1e-12));
        seen.push_back(naive.priority(slot));
    }
    std::sort(seen.begin(), seen.end());
    count.ties += std::adjacent_find(seen.begin(), seen.end()) != seen.end();
    REQUIRE_THROWS_AS(tree.item(size), std::out_of_range);
    REQUIRE_THROWS_AS(naive.item(size), std::out_of_range);
}

struct configuration {
    std::size_t capacity;
    replay_options options;
};

std::string describe(const configuration& config) {
    std::ostringstream out;
    out << "capacity " << config.capacity << ", sampling "
        << static_cast<int>(config.options.sampling()) << ", normalization "
        << static_cast<int>(config.options.normalization()) << ", alpha " << config.options.alpha()
        << ", initial_max_priority " << config.options.initial_max_priority();
    return out.str();
}

void run_sequence(const configuration& config, std::uint64_t seed, std::size_t operations,
                  counters& count) {
    INFO(describe(config) << ", seed " << seed);
    chooser choose(seed, valid_priorities);
    tree_buffer tree(config.capacity, config.options);
    naive_buffer naive(config.capacity, config.options);
    differential::handle_pool pool;
    int next_item = 0;

    for (std::size_t op = 0; op < operations; ++op) {
        const double pick = choose.unit();
        std::ostringstream what;
        what << "operation " << op << ": ";
        bool invalid = false;

        if (pick < 0.25) {
            const replay_handle pushed =
                differential::push_both(tree, naive, next_item, pool, choose, what);
            INFO(what.str());
            REQUIRE(tree.sampler().rank(pushed.slot) == 1); // max priority, newest: rank 1
        } else if (pick < 0.45) {
            invalid =
                differential::push_both_with_priority(tree, naive, next_item, pool, choose, what);
        } else if (pick < 0.70) {
            invalid =
                differential::update_both(tree, naive, pool, choose, config.capacity, count, what);
        } else if (pick < 0.73) {
            const double alphas[] = {0.0, 0.25, 0.7, 1.0, 1.7};
            const double bad_alphas[] = {-0.5, not_a_number, infinite, 5000.0};
            invalid = choose.chance(0.2);
            const double alpha = invalid ? bad_alphas[choose.below(4)] : alphas[choose.below(5)];
            what << "set_alpha(" << alpha << ")";
            INFO(what.str());
            const std::string tree_outcome = outcome([&] { tree.set_alpha(alpha); });
            const std::string naive_outcome = outcome([&] { naive.set_alpha(alpha); });
            REQUIRE(tree_outcome == naive_outcome);
            // 5000 is too large for every capacity but 1 (where 1^-alpha = 1 always).
            const bool rejected = invalid && !(alpha == 5000.0 && config.capacity == 1);
            REQUIRE(tree_outcome == (rejected ? "invalid_argument" : "ok"));
            invalid = rejected;
        } else if (pick < 0.74) {
            differential::clear_both(tree, naive, what);
        } else {
            invalid =
                differential::sample_both(tree, naive, choose, probability_tolerance, count, what);
        }
        count.invalid += invalid;
        INFO(what.str());
        require_same_state(tree, naive, choose, op % 16 == 0, count);
    }
    require_same_state(tree, naive, choose, true, count);
}

} // namespace

TEST_CASE("rank differential: tree buffer and naive reference agree on random operations",
          "[rank_based][differential]") {
    const std::size_t capacities[] = {1, 2, 3, 7, 8, 9, 64, 100};
    const sampling_mode modes[] = {sampling_mode::stratified, sampling_mode::independent,
                                   sampling_mode::without_replacement};
    const weight_normalization normalizations[] = {weight_normalization::global_max,
                                                   weight_normalization::batch_max,
                                                   weight_normalization::none};
    const double alphas[] = {0.7, 1.0, 0.0, 0.4};
    const double initial_max_priorities[] = {1.0, 3.0, 0.5, 0.0};

    counters count;
    std::uint64_t seed = 27000;
    std::size_t index = 0;
    for (std::size_t capacity : capacities) {
        for (sampling_mode mode : modes) {
            for (weight_normalization normalization : normalizations) {
                const replay_options options =
                    replay_options{}
                        .sampling(mode)
                        .normalization(normalization)
                        .alpha(alphas[index % 4])
                        .initial_max_priority(initial_max_priorities[index % 4]);
                ++index;
                const std::size_t operations = capacity >= 64 ? 300 : 200;
                run_sequence({capacity, options}, ++seed, operations, count);
            }
        }
    }
    INFO("compared " << count.positions << " sampled positions in " << count.samples << " batches; "
                     << count.mismatches << " differ, " << count.boundary_cases
                     << " of them at a boundary within rounding");
    REQUIRE(count.samples > 3000);
    REQUIRE(count.invalid > 500);
    REQUIRE(count.stale > 500);
    REQUIRE(count.ties > 1000);
    // compare_samples failed every difference away from a boundary; here, that the draws were
    // recomputed (all but those after a difference without replacement).
    REQUIRE(count.draws_checked + count.mismatches >= count.positions);
    REQUIRE(count.draws_checked > 40000);
    REQUIRE(count.without_positions > 2000);
    WARN("rank differential: " << count.draws_checked
                               << " draws checked against their prefix value, "
                               << count.boundary_cases << " at a boundary within rounding");
}

TEST_CASE("rank differential: both throw alike for impossible samples",
          "[rank_based][differential]") {
    for (sampling_mode mode : {sampling_mode::stratified, sampling_mode::independent,
                               sampling_mode::without_replacement}) {
        CAPTURE(static_cast<int>(mode));
        const auto options = replay_options{}.sampling(mode);
        tree_buffer tree(4, options);
        naive_buffer naive(4, options);
        std::mt19937_64 a(1);
        std::mt19937_64 b(1);
        REQUIRE_THROWS_AS(tree.sample(1, 0.5, a), std::out_of_range);
        REQUIRE_THROWS_AS(naive.sample(1, 0.5, b), std::out_of_range);
        REQUIRE_THROWS_AS(tree.sample(0, 0.5, a), std::invalid_argument); // batch 0 first
        REQUIRE_THROWS_AS(naive.sample(0, 0.5, b), std::invalid_argument);
        // Priority 0 items are sampleable in rank-based replay.
        tree.push(1, 0.0);
        naive.push(1, 0.0);
        tree.push(2, 0.0);
        naive.push(2, 0.0);
        REQUIRE_NOTHROW(tree.sample(2, 0.5, a));
        REQUIRE_NOTHROW(naive.sample(2, 0.5, b));
        if (mode == sampling_mode::without_replacement) {
            REQUIRE_THROWS_AS(tree.sample(3, 0.5, a), std::out_of_range);
            REQUIRE_THROWS_AS(naive.sample(3, 0.5, b), std::out_of_range);
        } else {
            REQUIRE_NOTHROW(tree.sample(3, 0.5, a));
            REQUIRE_NOTHROW(naive.sample(3, 0.5, b));
        }
        REQUIRE(a == b);
        tree.clear();
        naive.clear();
        REQUIRE_THROWS_AS(tree.sample(1, 0.5, a), std::out_of_range);
        REQUIRE_THROWS_AS(naive.sample(1, 0.5, b), std::out_of_range);
    }
}

TEST_CASE("rank differential: both agree at the extreme uniforms 0 and 1 - 2^-53",
          "[rank_based][differential]") {
    const std::vector<double> priorities = {0.0, 0.0, 1.5, 0.0, 0.25, 3.0, 0.0, 0.0, 0.0};
    for (std::size_t capacity : {9, 16, 100}) {
        for (sampling_mode mode : {sampling_mode::stratified, sampling_mode::independent,
                                   sampling_mode::without_replacement}) {
            for (double alpha : {0.0, 0.7, 3.0}) {
                CAPTURE(capacity, static_cast<int>(mode), alpha);
                const auto options = replay_options{}.alpha(alpha).sampling(mode);
                tree_buffer tree(capacity, options);
                naive_buffer naive(capacity, options);
                for (double p : priorities) {
                    tree.push(0, p);
                    naive.push(0, p);
                }
                for (std::uint64_t value : {std::uint64_t{0}, ~std::uint64_t{0}}) {
                    for (std::size_t batch_size : {1, 2, 3, 7, 9, 33}) {
                        if (mode == sampling_mode::without_replacement && batch_size > 9) {
                            continue;
                        }
                        CAPTURE(value, batch_size);
                        differential::constant_engine engine{value};
                        const auto a = tree.sample(batch_size, 0.5, engine);
                        const auto b = naive.sample(batch_size, 0.5, engine);
                        REQUIRE(a.slots() == b.slots());
                    }
                }
            }
        }
    }
}

TEST_CASE("rank differential: large buffers agree after heavy churn",
          "[rank_based][differential]") {
    // Fewer, larger sequences: a deep tree, many rotations, every slot compared at the end.
    counters count;
    for (sampling_mode mode : {sampling_mode::stratified, sampling_mode::without_replacement}) {
        const std::size_t capacity = 700;
        const replay_options options = replay_options{}.alpha(0.7).sampling(mode);
        tree_buffer tree(capacity, options);
        naive_buffer naive(capacity, options);
        chooser choose(static_cast<std::uint64_t>(mode) + 28000, valid_priorities);
        std::vector<replay_handle> handles;
        for (std::size_t i = 0; i < 2000; ++i) {
            const double p = choose.priority();
            handles.push_back(tree.push(static_cast<int>(i), p));
            REQUIRE(naive.push(static_cast<int>(i), p) == handles.back());
            if (i % 3 == 0) {
                const replay_handle h = handles[choose.below(handles.size())];
                const double q = choose.priority();
                REQUIRE(tree.update_priority(h, q) == naive.update_priority(h, q));
            }
            if (i % 97 == 0) {
                differential::compare_samples(tree, naive, 32, 0.5, choose.seed(), false,
                                              probability_tolerance, count);
            }
        }
        require_same_state(tree, naive, choose, true, count);
    }
    // compare_samples failed every difference away from a boundary; every draw was recomputed.
    REQUIRE(count.draws_checked + count.mismatches >= count.positions);
    REQUIRE(count.draws_checked > 1000);
}
