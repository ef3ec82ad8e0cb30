// What is specific to the proportional rule: P(i) = (p + epsilon)^alpha / sum, priority 0 with
// epsilon 0 never sampled, the priority limit, the slot order of stratified draws, golden batches
// and the memory of the index. What both samplers share is in test_sampler_shell.cpp.
#include <per/naive_replay.hpp>
#include <per/prioritized_sampler.hpp>

#include "per_catch.hpp"
#include "state_snapshot.hpp"
#include "stats.hpp"

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <limits>
#include <random>
#include <stdexcept>
#include <vector>

namespace {

double weight(double priority, double alpha, double epsilon) {
    return std::pow(priority + epsilon, alpha);
}

} // namespace

TEST_CASE("P(i) counts only filled slots, with (p + epsilon)^alpha", "[sampler]") {
    per::prioritized_sampler sampler(10, per::replay_options{}.alpha(0.5).epsilon(0.01));
    sampler.fill(2, 1.0);
    sampler.fill(7, 3.0);
    sampler.fill(4, 0.0);
    REQUIRE(sampler.sampleable_size() == 3); // epsilon > 0: priority 0 has a weight
    const double total = weight(1, 0.5, 0.01) + weight(3, 0.5, 0.01) + weight(0, 0.5, 0.01);
    REQUIRE(sampler.total_weight() == Approx(total).epsilon(1e-14));
    REQUIRE(sampler.probability(2) == Approx(weight(1, 0.5, 0.01) / total).epsilon(1e-14));
    REQUIRE(sampler.probability(7) == Approx(weight(3, 0.5, 0.01) / total).epsilon(1e-14));
    REQUIRE(sampler.probability(4) == Approx(weight(0, 0.5, 0.01) / total).epsilon(1e-14));
    // Alpha 1, epsilon 0: P = p / sum p, over the four items of eight slots.
    per::prioritized_sampler linear(8, per::replay_options{}.alpha(1.0).epsilon(0.0));
    const double p[] = {1, 2, 4, 8};
    for (std::size_t slot = 0; slot < 4; ++slot) {
        linear.fill(slot, p[slot]);
    }
    for (std::size_t slot = 0; slot < 4; ++slot) {
        REQUIRE(linear.probability(slot) == Approx(p[slot] / 15.0).epsilon(1e-14));
    }
}

TEST_CASE("priority 0 with epsilon 0 is never sampled, whatever alpha", "[sampler]") {
    for (double alpha : {0.0, 0.6, 1.0}) {
        CAPTURE(alpha);
        per::prioritized_sampler sampler(5, per::replay_options{}.alpha(alpha).epsilon(0.0));
        sampler.fill(0, 0.0);
        sampler.fill(1, 2.0);
        sampler.fill(2, 0.0);
        REQUIRE(sampler.size() == 3);
        REQUIRE(sampler.sampleable_size() == 1);
        REQUIRE(sampler.probability(0) == 0.0);
        REQUIRE(sampler.probability(1) == 1.0);
        // Any positive priority is sampleable, however small.
        sampler.fill(3, 1e-12);
        REQUIRE(sampler.sampleable_size() == 2);
        REQUIRE(sampler.probability(3) > 0.0);
        REQUIRE(sampler.probability(2) == 0.0);
        std::mt19937_64 rng(1);
        for (auto mode : {per::sampling_mode::stratified, per::sampling_mode::independent}) {
            per::prioritized_sampler copy(
                5, per::replay_options{}.alpha(alpha).epsilon(0.0).sampling(mode));
            copy.fill(0, 0.0);
            copy.fill(1, 2.0);
            const auto batch = copy.sample(64, 0.4, rng);
            for (auto slot : batch.slots()) {
                REQUIRE(slot == 1);
            }
        }
    }
}

TEST_CASE("alpha 0 samples the filled slots uniformly", "[sampler][statistics]") {
    // Priorities 0.1 to 28.1 in slots 0..4 of 8: with alpha 0 each filled slot weighs 1,
    // whatever its priority, and the empty ones nothing. In every mode the draw counts must fit
    // the uniform distribution over the filled slots: Pearson's chi-square (tests/stats.hpp) at
    // a false-alarm rate of 1e-4 per mode, fixed seeds; stratified and without-replacement
    // draws vary less than multinomial ones, so they fail less often. The power check: the
    // same counts miss the alpha-1 distribution (proportional to the priorities) by far.
    constexpr double false_alarm_rate = 1e-4;
    const std::vector<double> uniform = {0.2, 0.2, 0.2, 0.2, 0.2, 0.0, 0.0, 0.0};
    std::vector<double> proportional(8, 0.0);
    for (std::size_t slot = 0; slot < 5; ++slot) {
        proportional[slot] = (0.1 + slot * 7.0) / 70.5;
    }
    for (auto mode : {per::sampling_mode::stratified, per::sampling_mode::independent,
                      per::sampling_mode::without_replacement}) {
        CAPTURE(static_cast<int>(mode));
        per::prioritized_sampler sampler(8, per::replay_options{}.alpha(0.0).sampling(mode));
        for (std::size_t slot = 0; slot < 5; ++slot) {
            sampler.fill(slot, 0.1 + slot * 7.0);
        }
        for (std::size_t slot = 0; slot < 5; ++slot) {
            REQUIRE(sampler.probability(slot) == Approx(0.2));
        }
        // 16000 draws (2000 without replacement, in pairs of distinct slots).
        const std::size_t batch_size = mode == per::sampling_mode::without_replacement ? 2 : 16;
        std::mt19937_64 rng(500 + static_cast<int>(mode));
        std::vector<double> counts(8, 0.0);
        per::sample_batch batch;
        for (int round = 0; round < 1000; ++round) {
            sampler.sample(batch_size, 0.5, rng, batch);
            for (std::size_t slot : batch.slots()) {
                counts.at(slot) += 1.0;
            }
        }
        per_test::require_right_not_wrong(counts, uniform, proportional, false_alarm_rate, 10.0);
    }
}

TEST_CASE("stratified sampling draws one item per slice of the total", "[sampler]") {
    // Equal priorities: slice k holds exactly slot k.
    per::prioritized_sampler sampler(16, per::replay_options{}.alpha(1.0).epsilon(0.0));
    for (std::size_t slot = 0; slot < 16; ++slot) {
        sampler.fill(slot, 1.0);
    }
    std::mt19937_64 rng(5);
    for (int round = 0; round < 20; ++round) {
        const auto batch = sampler.sample(16, 1.0, rng);
        for (std::size_t k = 0; k < 16; ++k) {
            REQUIRE(batch.slots()[k] == k);
        }
    }
}

TEST_CASE("priorities whose weight would overflow the sums are rejected up front",
          "[sampler][errors]") {
    per::prioritized_sampler sampler(4, per::replay_options{}.alpha(1.0));
    const auto h = sampler.fill(0, 1.0);
    const std::string before = per_test::state(sampler);
    REQUIRE_THROWS_WITH(sampler.fill(1, 1e308), PER_CONTAINS("the sums can hold"));
    REQUIRE_THROWS_AS(sampler.update_priority(h, 1e308), std::invalid_argument);
    REQUIRE(per_test::state(sampler) == before);
    // With alpha 0 every finite priority has weight 1; raising alpha then must be refused.
    per::prioritized_sampler flat(4, per::replay_options{}.alpha(0.0));
    flat.fill(0, 1e300);
    REQUIRE(flat.max_priority() == 1e300);
    REQUIRE_THROWS_WITH(flat.set_alpha(2.0), PER_CONTAINS("max_priority()"));
    REQUIRE(flat.alpha() == 0.0);
    flat.set_alpha(0.5); // (1e300)^0.5 = 1e150 is fine
    REQUIRE(flat.probability(0) == 1.0);
}

TEST_CASE("the same seed gives the same batch on every platform: golden values",
          "[sampler][reproducible]") {
    // Golden values, also derived independently (in Python from the engine's raw outputs,
    // which the C++ standard fixes): u_k = (k + top53(x_k) * 2^-53) * 55 / 8 over prefix sums
    // 1, 3, 6, ..., 55. The same on every platform, since no std distribution is involved.
    per::prioritized_sampler sampler(10, per::replay_options{}.alpha(1.0).epsilon(0.0));
    for (std::size_t slot = 0; slot < 10; ++slot) {
        sampler.fill(slot, static_cast<double>(slot + 1));
    }
    std::mt19937_64 rng(42);
    const auto batch = sampler.sample(8, 0.4, rng);
    const std::vector<std::size_t> golden = {2, 4, 5, 6, 7, 7, 9, 9};
    REQUIRE(batch.slots() == golden);
}

// The index memory per slot is tested against real allocations in test_memory.cpp.

TEST_CASE("global_max weights stay positive and accurate when priorities span 334 decades",
          "[sampler][importance]") {
    // Epsilon 0, alpha 1: the sampling weights are the priorities, 5e-324 and 1e10. Every draw
    // is the 1e10 item (the other has P = 5e-334), whose weight (5e-324 / 1e10)^beta is a
    // normal double for beta < 0.51 (2.2e-167 at 0.5) although the ratio inside is not.
    const double tiny = std::numeric_limits<double>::denorm_min();
    const double huge = 1e10;
    for (auto mode : {per::sampling_mode::stratified, per::sampling_mode::independent}) {
        const auto options = per::replay_options{}.alpha(1.0).epsilon(0.0).sampling(mode);
        per::prioritized_sampler sampler(4, options);
        per::naive_prioritized_replay<int> naive(4, options);
        sampler.fill(0, tiny);
        sampler.fill(1, huge);
        naive.push(0, tiny);
        naive.push(1, huge);
        for (double beta : {0.0, 0.5, 0.7, 1.0}) {
            CAPTURE(static_cast<int>(mode), beta);
            std::mt19937_64 engine(7);
            std::mt19937_64 naive_engine(7);
            const auto batch = sampler.sample(16, beta, engine);
            const auto naive_batch = naive.sample(16, beta, naive_engine);
            const double expected = beta == 1.0
                                        ? tiny // the exact 4.9e-334 is below every positive double
                                        : std::exp(beta * (std::log(tiny) - std::log(huge)));
            for (std::size_t k = 0; k < batch.size(); ++k) {
                REQUIRE(batch.slots()[k] == 1);
                REQUIRE(batch.weights()[k] > 0.0);
                REQUIRE(batch.weights()[k] == Approx(expected).epsilon(1e-12));
                REQUIRE(naive_batch.weights()[k] == batch.weights()[k]);
            }
        }
    }
}
