#include <per/prioritized_replay.hpp>

#include "per_catch.hpp"

#include <array>
#include <cmath>
#include <limits>
#include <memory>
#include <random>
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

TEST_CASE("push fills a ring and overwrites the oldest item", "[replay]") {
    per::prioritized_replay<int> buffer(3);
    REQUIRE(buffer.empty());
    REQUIRE(buffer.capacity() == 3);
    const auto h0 = buffer.push(10);
    buffer.push(11);
    buffer.push(12);
    REQUIRE(buffer.size() == 3);
    REQUIRE(buffer.next_slot() == 0);
    const auto h3 = buffer.push(13); // overwrites slot 0
    REQUIRE(h3.slot == 0);
    REQUIRE(h3.generation == h0.generation + 1);
    REQUIRE(buffer.size() == 3);
    REQUIRE(buffer.item(0) == 13);
    REQUIRE(buffer.item(1) == 11);
    REQUIRE(buffer.next_slot() == 1);
    REQUIRE_FALSE(buffer.update_priority(h0, 5.0)); // stale: the item it named is gone
    REQUIRE(buffer.update_priority(h3, 5.0));
    REQUIRE(buffer.priority(0) == 5.0);
    REQUIRE_THROWS_AS(buffer.item(3), std::out_of_range);
}

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

TEST_CASE("a batch exposes the sampled items by reference", "[replay]") {
    per::prioritized_replay<transition> buffer(16);
    for (int i = 0; i < 16; ++i) {
        buffer.push(transition{i, i % 2, 0.5f * static_cast<float>(i)});
    }
    std::mt19937_64 rng(8);
    const auto batch = buffer.sample(32, 0.4, rng);
    REQUIRE(batch.size() == 32);
    std::size_t k = 0;
    for (const transition& item : batch.items()) {
        REQUIRE(&item == &buffer.item(batch.slots()[k]));
        REQUIRE(&batch[k] == &item);
        REQUIRE(item.state == static_cast<int>(batch.slots()[k]));
        ++k;
    }
    REQUIRE(k == 32);
    REQUIRE(batch.handles().size() == 32);
    REQUIRE(batch.weights().size() == 32);
    REQUIRE(batch.probabilities().size() == 32);
}

TEST_CASE("update_priorities takes vectors, arrays and float priorities", "[replay]") {
    per::prioritized_replay<int> buffer(8);
    for (int i = 0; i < 8; ++i) {
        buffer.push(i);
    }
    std::mt19937_64 rng(1);
    auto batch = buffer.sample(4, 0.5, rng);
    std::vector<float> td_errors(4, 0.25f);
    REQUIRE(buffer.update_priorities(batch.handles(), td_errors) == 4);
    for (auto slot : batch.slots()) {
        REQUIRE(buffer.priority(slot) == 0.25);
    }
    std::array<per::replay_handle, 2> handles = {buffer.handle(0), buffer.handle(1)};
    std::array<double, 2> priorities = {3.0, 4.0};
    REQUIRE(buffer.update_priorities(handles, priorities) == 2);
    REQUIRE(buffer.update_priorities(handles.data(), priorities.data(), 2) == 2);
    REQUIRE(buffer.max_priority() == 4.0);
    // Reusing a batch object: same result as a fresh one.
    std::mt19937_64 a(6), b(6);
    buffer.sample(4, 0.5, a, batch);
    REQUIRE(batch.slots() == buffer.sample(4, 0.5, b).slots());
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
    REQUIRE(batch_max_is_one(first.sample(64, 0.4, rng)));
    REQUIRE(batch_max_is_one(third.sample(64, 0.4, rng)));
    const auto unnormalized = second.sample(64, 0.4, rng);
    for (std::size_t k = 0; k < unnormalized.size(); ++k) {
        REQUIRE(unnormalized.weights()[k] ==
                Approx(std::pow(1000.0 * unnormalized.probabilities()[k], -0.4)).epsilon(1e-12));
    }
}

TEST_CASE("a bad push changes nothing", "[replay][errors]") {
    per::prioritized_replay<std::string> buffer(2);
    buffer.push("a");
    buffer.push("b");
    const double nan = std::numeric_limits<double>::quiet_NaN();
    REQUIRE_THROWS_WITH(buffer.push("c", nan), PER_CONTAINS("priority = nan"));
    REQUIRE_THROWS_AS(buffer.push("c", -1.0), std::invalid_argument);
    REQUIRE(buffer.item(0) == "a");
    REQUIRE(buffer.next_slot() == 0);
    REQUIRE(buffer.size() == 2);
    REQUIRE(buffer.handle(0).generation == 1);
}

TEST_CASE("move-only items and clear", "[replay]") {
    per::prioritized_replay<std::unique_ptr<int>> buffer(2);
    buffer.push(std::make_unique<int>(1));
    buffer.push(std::make_unique<int>(2), 0.5);
    buffer.push(std::make_unique<int>(3));
    REQUIRE(*buffer.item(0) == 3);
    const auto h = buffer.handle(1);
    buffer.clear();
    REQUIRE(buffer.empty());
    REQUIRE_FALSE(buffer.update_priority(h, 1.0));
    buffer.push(std::make_unique<int>(4));
    REQUIRE(buffer.size() == 1);
    REQUIRE(*buffer.item(0) == 4);
    std::mt19937_64 rng(2);
    REQUIRE(*buffer.sample(1, 0.5, rng)[0] == 4);
}
