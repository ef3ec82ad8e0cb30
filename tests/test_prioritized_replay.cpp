// What is specific to the proportional buffer: P(i) by hand over the items present, and the
// three tutorial designs as options. What the buffer does whatever its sampler (the ring, items
// by reference, updates, bad input) is tested in test_sampler_shell.cpp.
#include <per/prioritized_replay.hpp>

#include "per_catch.hpp"

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <limits>
#include <memory>
#include <random>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

namespace {
struct transition {
    int state = 0;
    int action = 0;
    float reward = 0;
};
} // namespace

TEST_CASE("P(i) uses the items present, not the capacity", "[replay]") {
    per::prioritized_replay<int> buffer(100, per::replay_options{}.alpha(1.0).epsilon(0.0));
    buffer.push(1, 1.0);
    buffer.push(2, 3.0);
    REQUIRE(buffer.probability(0) == Approx(0.25));
    REQUIRE(buffer.probability(1) == Approx(0.75));
    std::mt19937_64 rng(4);
    const auto batch = buffer.sample(8, 1.0, rng);
    for (std::size_t k = 0; k < batch.size(); ++k) {
        const double p = batch.probabilities()[k];
        // beta = 1, global max: w = (N P)^-1 / (N P_min)^-1 with N = 2.
        REQUIRE(batch.weights()[k] == Approx(0.25 / p));
    }
}

TEST_CASE("the three tutorial designs are options", "[replay]") {
    std::mt19937_64 rng(12);
    // Tutorial 1: independent draws with replacement, weights normalized by the batch max.
    per::prioritized_replay<int> first(1000,
                                       per::replay_options{}
                                           .alpha(0.6)
                                           .epsilon(1e-5)
                                           .sampling(per::sampling_mode::independent)
                                           .normalization(per::weight_normalization::batch_max));
    // Tutorial 2: without replacement, unnormalized weights (rank-based priorities: a later
    // header; the sampling and weights are what is tested here).
    per::prioritized_replay<int> second(1000, per::replay_options{}
                                                  .alpha(0.7)
                                                  .sampling(per::sampling_mode::without_replacement)
                                                  .normalization(per::weight_normalization::none));
    // Tutorial 3: without replacement, weights normalized by the batch max.
    per::prioritized_replay<int> third(1000,
                                       per::replay_options{}
                                           .sampling(per::sampling_mode::without_replacement)
                                           .normalization(per::weight_normalization::batch_max));
    for (int i = 0; i < 1000; ++i) {
        const double priority = 0.001 * (i % 100);
        first.push(i, priority);
        second.push(i, priority);
        third.push(i, priority);
    }
    auto batch_max_is_one = [](const auto& batch) {
        double largest = 0;
        for (double w : batch.weights()) {
            largest = std::max(largest, w);
        }
        return largest == 1.0;
    };
    const auto distinct_slots = [](const auto& batch) {
        return std::set<std::size_t>(batch.slots().begin(), batch.slots().end()).size();
    };
    REQUIRE(batch_max_is_one(first.sample(64, 0.4, rng)));
    // With replacement: a batch larger than the buffer works, and must repeat items.
    const auto large = first.sample(1500, 0.4, rng);
    REQUIRE(large.size() == 1500);
    REQUIRE(distinct_slots(large) < 1500);
    // Without replacement: 64 distinct items per batch, batch after batch, in both designs.
    for (int round = 0; round < 20; ++round) {
        const auto normalized = third.sample(64, 0.4, rng);
        REQUIRE(batch_max_is_one(normalized));
        REQUIRE(distinct_slots(normalized) == 64);
        const auto unnormalized = second.sample(64, 0.4, rng);
        REQUIRE(distinct_slots(unnormalized) == 64);
        for (std::size_t k = 0; k < unnormalized.size(); ++k) {
            REQUIRE(
                unnormalized.weights()[k] ==
                Approx(std::pow(1000.0 * unnormalized.probabilities()[k], -0.4)).epsilon(1e-12));
        }
    }
    // and never more items than there are.
    REQUIRE_THROWS_AS(second.sample(1001, 0.4, rng), std::out_of_range);
}
