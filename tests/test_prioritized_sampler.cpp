#include <per/prioritized_sampler.hpp>

#include "per_catch.hpp"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <set>
#include <stdexcept>
#include <vector>

namespace {

// Everything observable about a sampler, to prove that a throwing call changed nothing.
struct snapshot {
    std::size_t size = 0;
    std::size_t sampleable = 0;
    double max_priority = 0;
    double alpha = 0;
    double total = 0;
    std::vector<int> filled;
    std::vector<double> priorities;
    std::vector<double> probabilities;
    std::vector<std::uint32_t> generations;

    template <class Sampler>
    explicit snapshot(const Sampler& sampler)
        : size(sampler.size())
        , sampleable(sampler.sampleable_size())
        , max_priority(sampler.max_priority())
        , alpha(sampler.alpha())
        , total(sampler.total_weight()) {
        for (std::size_t slot = 0; slot < sampler.capacity(); ++slot) {
            const bool is_filled = sampler.contains(slot);
            filled.push_back(is_filled);
            priorities.push_back(is_filled ? sampler.priority(slot) : -1.0);
            probabilities.push_back(is_filled ? sampler.probability(slot) : -1.0);
            generations.push_back(is_filled ? sampler.handle(slot).generation : 0);
        }
    }
    bool operator==(const snapshot& other) const {
        return size == other.size && sampleable == other.sampleable &&
               max_priority == other.max_priority && alpha == other.alpha && total == other.total &&
               filled == other.filled && priorities == other.priorities &&
               probabilities == other.probabilities && generations == other.generations;
    }
};

double weight(double priority, double alpha, double epsilon) {
    return std::pow(priority + epsilon, alpha);
}

} // namespace

TEST_CASE("P(i) counts only filled slots, with (p + epsilon)^alpha", "[sampler]") {
    per::prioritized_sampler sampler(10, per::replay_options{}.alpha(0.5).epsilon(0.01));
    sampler.fill(2, 1.0);
    sampler.fill(7, 3.0);
    sampler.fill(4, 0.0);
    REQUIRE(sampler.size() == 3);
    REQUIRE(sampler.capacity() == 10);
    const double total = weight(1, 0.5, 0.01) + weight(3, 0.5, 0.01) + weight(0, 0.5, 0.01);
    REQUIRE(sampler.total_weight() == Approx(total).epsilon(1e-14));
    REQUIRE(sampler.probability(2) == Approx(weight(1, 0.5, 0.01) / total).epsilon(1e-14));
    REQUIRE(sampler.probability(7) == Approx(weight(3, 0.5, 0.01) / total).epsilon(1e-14));
    REQUIRE(sampler.probability(4) == Approx(weight(0, 0.5, 0.01) / total).epsilon(1e-14));
    REQUIRE(sampler.priority(7) == 3.0);
    REQUIRE_FALSE(sampler.contains(0));
    REQUIRE_THROWS_AS(sampler.probability(0), std::out_of_range);
}

TEST_CASE("new items get the running max priority, which never decreases", "[sampler]") {
    per::prioritized_sampler sampler(4, per::replay_options{}.initial_max_priority(2.0));
    REQUIRE(sampler.max_priority() == 2.0);
    auto a = sampler.fill(0);
    REQUIRE(sampler.priority(0) == 2.0);
    sampler.update_priority(a, 5.0);
    REQUIRE(sampler.max_priority() == 5.0);
    sampler.fill(1);
    REQUIRE(sampler.priority(1) == 5.0);
    sampler.update_priority(a, 0.5); // lowering an item does not lower the running max
    REQUIRE(sampler.max_priority() == 5.0);
    sampler.fill(2, 9.0); // an explicit priority raises it
    REQUIRE(sampler.max_priority() == 9.0);
    sampler.clear();
    REQUIRE(sampler.max_priority() == 9.0);
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

TEST_CASE("alpha 0 samples the filled slots uniformly", "[sampler]") {
    per::prioritized_sampler sampler(8, per::replay_options{}.alpha(0.0));
    for (std::size_t slot = 0; slot < 5; ++slot) {
        sampler.fill(slot, 0.1 + slot * 7.0);
    }
    for (std::size_t slot = 0; slot < 5; ++slot) {
        REQUIRE(sampler.probability(slot) == Approx(0.2));
    }
}

TEST_CASE("every sampling mode returns only filled slots with non-zero probability", "[sampler]") {
    std::mt19937_64 rng(77);
    for (auto mode : {per::sampling_mode::stratified, per::sampling_mode::independent,
                      per::sampling_mode::without_replacement}) {
        per::prioritized_sampler sampler(1000, per::replay_options{}.epsilon(0.0).sampling(mode));
        std::set<std::size_t> live;
        for (std::size_t slot = 0; slot < 1000; slot += 3) {
            const double priority = slot % 2 ? 0.0 : 1e-3 * static_cast<double>(slot + 1);
            sampler.fill(slot, priority);
            if (priority > 0) {
                live.insert(slot);
            }
        }
        for (int round = 0; round < 50; ++round) {
            const auto batch = sampler.sample(128, 0.5, rng);
            REQUIRE(batch.size() == 128);
            for (std::size_t k = 0; k < batch.size(); ++k) {
                REQUIRE(live.count(batch.slots()[k]) == 1);
                REQUIRE(batch.handles()[k].slot == batch.slots()[k]);
                REQUIRE(batch.probabilities()[k] > 0.0);
                REQUIRE(batch.probabilities()[k] == sampler.probability(batch.slots()[k]));
            }
            if (mode == per::sampling_mode::without_replacement) {
                REQUIRE(std::set<std::size_t>(batch.slots().begin(), batch.slots().end()).size() ==
                        128);
            }
        }
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

TEST_CASE("without replacement can take every sampleable item, and no more", "[sampler]") {
    per::prioritized_sampler sampler(
        6, per::replay_options{}.epsilon(0.0).sampling(per::sampling_mode::without_replacement));
    sampler.fill(0, 5.0);
    sampler.fill(1, 1e-12);
    sampler.fill(2, 0.0);
    sampler.fill(3, 1.0);
    std::mt19937_64 rng(3);
    const snapshot before(sampler);
    for (int round = 0; round < 100; ++round) {
        const auto batch = sampler.sample(3, 0.7, rng);
        std::set<std::size_t> slots(batch.slots().begin(), batch.slots().end());
        REQUIRE(slots == std::set<std::size_t>{0, 1, 3});
    }
    REQUIRE(snapshot(sampler) == before); // drawn leaves are restored bit for bit
    REQUIRE_THROWS_AS(sampler.sample(4, 0.7, rng), std::out_of_range);
    REQUIRE_THROWS_WITH(sampler.sample(4, 0.7, rng), PER_CONTAINS("batch_size = 4"));
}

TEST_CASE("importance weights follow each normalization", "[sampler][weights]") {
    // Priorities 1, 2, 4, 8 with alpha 1, epsilon 0: P = 1/15, 2/15, 4/15, 8/15.
    const double p[] = {1, 2, 4, 8};
    const double beta = 0.4;
    for (auto normalization :
         {per::weight_normalization::global_max, per::weight_normalization::batch_max,
          per::weight_normalization::none}) {
        CAPTURE(static_cast<int>(normalization));
        per::prioritized_sampler sampler(8, per::replay_options{}
                                                .alpha(1.0)
                                                .epsilon(0.0)
                                                .normalization(normalization)
                                                .sampling(per::sampling_mode::independent));
        for (std::size_t slot = 0; slot < 4; ++slot) {
            sampler.fill(slot, p[slot]);
        }
        std::mt19937_64 rng(11);
        const auto batch = sampler.sample(32, beta, rng);
        double batch_min_probability = 1.0;
        for (double probability : batch.probabilities()) {
            batch_min_probability = std::min(batch_min_probability, probability);
        }
        for (std::size_t k = 0; k < batch.size(); ++k) {
            const double probability = p[batch.slots()[k]] / 15.0;
            REQUIRE(batch.probabilities()[k] == Approx(probability).epsilon(1e-14));
            const double raw = std::pow(4.0 * probability, -beta); // N = 4 items, not capacity 8
            double expected = raw;
            if (normalization == per::weight_normalization::global_max) {
                expected = raw / std::pow(4.0 * (1.0 / 15.0), -beta);
            } else if (normalization == per::weight_normalization::batch_max) {
                expected = raw / std::pow(4.0 * batch_min_probability, -beta);
            }
            REQUIRE(batch.weights()[k] == Approx(expected).epsilon(1e-12));
        }
    }
}

TEST_CASE("stale handles are skipped and counted, never applied to the new occupant", "[sampler]") {
    per::prioritized_sampler sampler(3);
    const auto old_handle = sampler.fill(1, 4.0);
    const auto fresh = sampler.fill(1, 2.0); // the slot is overwritten
    REQUIRE(fresh.generation == old_handle.generation + 1);
    const std::vector<per::replay_handle> handles = {old_handle, fresh, old_handle};
    const std::vector<float> priorities = {100.0f, 3.0f, 200.0f};
    REQUIRE(sampler.update_priorities(handles, priorities) == 1);
    REQUIRE(sampler.priority(1) == 3.0);
    REQUIRE_FALSE(sampler.update_priority(old_handle, 7.0));
    sampler.erase(1);
    REQUIRE_FALSE(sampler.update_priority(fresh, 7.0)); // erased: stale too
    REQUIRE(sampler.size() == 0);
    const auto again = sampler.fill(1);
    REQUIRE_FALSE(sampler.update_priority(fresh, 7.0)); // refilled after erase
    REQUIRE(sampler.update_priority(again, 7.0));
    sampler.clear();
    REQUIRE_FALSE(sampler.update_priority(again, 1.0)); // cleared
}

TEST_CASE("repeated handles in one update: the last priority wins", "[sampler]") {
    per::prioritized_sampler sampler(2);
    const auto h = sampler.fill(0);
    const per::replay_handle handles[] = {h, h, h};
    const double priorities[] = {1.0, 2.0, 0.25};
    REQUIRE(sampler.update_priorities(handles, priorities) == 3);
    REQUIRE(sampler.priority(0) == 0.25);
}

TEST_CASE("bad input throws, names the argument, and changes nothing", "[sampler][errors]") {
    const double nan = std::numeric_limits<double>::quiet_NaN();
    const double inf = std::numeric_limits<double>::infinity();
    REQUIRE_THROWS_WITH(per::prioritized_sampler(0), PER_CONTAINS("capacity = 0"));
    REQUIRE_THROWS_WITH(per::prioritized_sampler(4, per::replay_options{}.alpha(-1)),
                        PER_CONTAINS("alpha = -1"));
    REQUIRE_THROWS_WITH(per::prioritized_sampler(4, per::replay_options{}.epsilon(nan)),
                        PER_CONTAINS("epsilon = nan"));
    REQUIRE_THROWS_AS(per::prioritized_sampler(4, per::replay_options{}.initial_max_priority(inf)),
                      std::invalid_argument);

    per::prioritized_sampler sampler(
        8, per::replay_options{}.sampling(per::sampling_mode::independent));
    std::vector<per::replay_handle> handles;
    for (std::size_t slot = 0; slot < 5; ++slot) {
        handles.push_back(sampler.fill(slot, 0.5 * static_cast<double>(slot)));
    }
    const snapshot before(sampler);
    std::mt19937_64 rng(9);
    per::sample_batch batch = sampler.sample(4, 0.5, rng);
    const auto batch_before = batch.slots();

    REQUIRE_THROWS_WITH(sampler.fill(8), PER_CONTAINS("slot = 8"));
    REQUIRE_THROWS_AS(sampler.fill(8, 1.0), std::out_of_range);
    for (double bad : {nan, inf, -inf, -0.5}) {
        REQUIRE_THROWS_AS(sampler.fill(2, bad), std::invalid_argument);
        REQUIRE_THROWS_AS(sampler.update_priority(handles[2], bad), std::invalid_argument);
    }
    REQUIRE_THROWS_WITH(sampler.fill(2, -0.5), PER_CONTAINS("priority = -0.5"));
    REQUIRE_THROWS_AS(sampler.erase(9), std::out_of_range);
    REQUIRE_THROWS_AS(sampler.priority(5), std::out_of_range); // empty slot

    // A bad entry anywhere in a batch update rejects the whole batch.
    std::vector<double> priorities = {1.0, 2.0, 3.0, nan, 5.0};
    REQUIRE_THROWS_WITH(sampler.update_priorities(handles, priorities),
                        PER_CONTAINS("priorities[3] = nan"));
    priorities[3] = 4.0;
    auto bad_handles = handles;
    bad_handles[4].slot = 100;
    REQUIRE_THROWS_WITH(sampler.update_priorities(bad_handles, priorities),
                        PER_CONTAINS("slot = 100"));
    REQUIRE_THROWS_WITH(sampler.update_priorities(handles, std::vector<double>{1.0}),
                        PER_CONTAINS("handles.size() = 5"));

    REQUIRE_THROWS_WITH(sampler.sample(0, 0.5, rng, batch), PER_CONTAINS("batch_size = 0"));
    REQUIRE_THROWS_WITH(sampler.sample(4, 1.5, rng, batch), PER_CONTAINS("beta = 1.5"));
    REQUIRE_THROWS_AS(sampler.sample(4, -0.1, rng, batch), std::invalid_argument);
    REQUIRE_THROWS_AS(sampler.sample(4, nan, rng, batch), std::invalid_argument);
    REQUIRE(batch.slots() == batch_before); // the output is untouched too

    REQUIRE_THROWS_WITH(sampler.set_alpha(-0.1), PER_CONTAINS("alpha = -0.1"));
    REQUIRE_THROWS_AS(sampler.set_alpha(inf), std::invalid_argument);
    REQUIRE(snapshot(sampler) == before);

    per::prioritized_sampler empty(4);
    REQUIRE_THROWS_AS(empty.sample(1, 0.5, rng), std::out_of_range);
    REQUIRE_THROWS_WITH(empty.sample(1, 0.5, rng), PER_CONTAINS("nothing to sample"));
}

TEST_CASE("priorities whose weight would overflow the sums are rejected up front",
          "[sampler][errors]") {
    per::prioritized_sampler sampler(4, per::replay_options{}.alpha(1.0));
    const auto h = sampler.fill(0, 1.0);
    const snapshot before(sampler);
    REQUIRE_THROWS_WITH(sampler.fill(1, 1e308), PER_CONTAINS("the sums can hold"));
    REQUIRE_THROWS_AS(sampler.update_priority(h, 1e308), std::invalid_argument);
    REQUIRE(snapshot(sampler) == before);
    // With alpha 0 every finite priority has weight 1; raising alpha then must be refused.
    per::prioritized_sampler flat(4, per::replay_options{}.alpha(0.0));
    flat.fill(0, 1e300);
    REQUIRE(flat.max_priority() == 1e300);
    REQUIRE_THROWS_WITH(flat.set_alpha(2.0), PER_CONTAINS("max_priority()"));
    REQUIRE(flat.alpha() == 0.0);
    flat.set_alpha(0.5); // (1e300)^0.5 = 1e150 is fine
    REQUIRE(flat.probability(0) == 1.0);
}

TEST_CASE("set_alpha rewrites every weight from the raw priorities", "[sampler]") {
    std::mt19937_64 rng(21);
    std::uniform_real_distribution<double> unit(0.0, 3.0);
    per::prioritized_sampler annealed(50, per::replay_options{}.alpha(0.2));
    per::prioritized_sampler direct(50, per::replay_options{}.alpha(0.9));
    for (std::size_t slot = 0; slot < 50; slot += 2) {
        const double priority = unit(rng);
        annealed.fill(slot, priority);
        direct.fill(slot, priority);
    }
    annealed.set_alpha(0.9);
    REQUIRE(annealed.alpha() == 0.9);
    REQUIRE(annealed.total_weight() == direct.total_weight());
    for (std::size_t slot = 0; slot < 50; slot += 2) {
        REQUIRE(annealed.probability(slot) == direct.probability(slot));
    }
    std::mt19937_64 a(5), b(5);
    REQUIRE(annealed.sample(32, 0.5, a).slots() == direct.sample(32, 0.5, b).slots());
}

TEST_CASE("the same seed and the same calls give the same batch", "[sampler][reproducible]") {
    for (auto mode : {per::sampling_mode::stratified, per::sampling_mode::independent,
                      per::sampling_mode::without_replacement}) {
        per::prioritized_sampler sampler(100, per::replay_options{}.sampling(mode));
        for (std::size_t slot = 0; slot < 100; ++slot) {
            sampler.fill(slot, std::fmod(static_cast<double>(slot) * 0.37, 1.0));
        }
        std::mt19937_64 first(2024), second(2024);
        for (int round = 0; round < 5; ++round) {
            const auto a = sampler.sample(32, 0.4, first);
            const auto b = sampler.sample(32, 0.4, second);
            REQUIRE(a.slots() == b.slots());
            REQUIRE(a.weights() == b.weights());
        }
    }
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

TEST_CASE("sample_into writes the same batch into caller storage", "[sampler]") {
    per::prioritized_sampler sampler(64);
    for (std::size_t slot = 0; slot < 64; ++slot) {
        sampler.fill(slot, 1.0 + static_cast<double>(slot % 7));
    }
    std::mt19937_64 a(8), b(8);
    const auto batch = sampler.sample(16, 0.6, a);
    per::replay_handle handles[16];
    double weights[16];
    double probabilities[16];
    sampler.sample_into(16, 0.6, b, handles, weights, probabilities);
    for (std::size_t k = 0; k < 16; ++k) {
        REQUIRE(handles[k] == batch.handles()[k]);
        REQUIRE(weights[k] == batch.weights()[k]);
        REQUIRE(probabilities[k] == batch.probabilities()[k]);
    }
}

namespace {
// A generator that throws after a number of calls, to test the guarantee of sample().
struct failing_generator {
    using result_type = std::uint64_t;
    static constexpr result_type min() { return 0; }
    static constexpr result_type max() { return ~result_type{0}; }
    std::mt19937_64 engine{1};
    int calls_left = 0;
    result_type operator()() {
        if (calls_left-- == 0) {
            throw std::runtime_error("generator failed");
        }
        return engine();
    }
};
} // namespace

TEST_CASE("a generator that throws mid-batch leaves the sampler unchanged", "[sampler][errors]") {
    per::prioritized_sampler sampler(
        32, per::replay_options{}.sampling(per::sampling_mode::without_replacement));
    for (std::size_t slot = 0; slot < 32; ++slot) {
        sampler.fill(slot, 0.1 * static_cast<double>(slot + 1));
    }
    const snapshot before(sampler);
    failing_generator generator;
    generator.calls_left = 5;
    REQUIRE_THROWS_AS(sampler.sample(16, 0.5, generator), std::runtime_error);
    REQUIRE(snapshot(sampler) == before);
}

TEST_CASE("a float-tree sampler and any generator work", "[sampler]") {
    per::basic_prioritized_sampler<per::sum_tree<float>> sampler(100);
    for (std::size_t slot = 0; slot < 100; ++slot) {
        sampler.fill(slot, static_cast<double>(slot % 10));
    }
    std::minstd_rand rng(3); // 31-bit generator with a range that is not a power of two
    const auto batch = sampler.sample(50, 1.0, rng);
    for (std::size_t k = 0; k < batch.size(); ++k) {
        REQUIRE(sampler.probability(batch.slots()[k]) > 0.0);
        REQUIRE(batch.weights()[k] <= 1.0);
    }
}

TEST_CASE("index memory stays near 23.5 bytes per slot", "[sampler]") {
    // Sum tree 8 + 2 * 8 / 7, min tree over leaf blocks about 8 / 7 + 8 / 49, raw priority 8,
    // generation 4.
    per::prioritized_sampler sampler(1 << 16);
    const double per_slot = static_cast<double>(sampler.memory_bytes()) / (1 << 16);
    REQUIRE(per_slot <= 24.0);
    REQUIRE(per_slot >= 23.0);
}
