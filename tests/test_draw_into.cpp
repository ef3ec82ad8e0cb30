// draw_into: the draws of sample_into without the importance-sampling weights, for callers that
// weigh draws themselves (concurrent_replay's shards). Same handles and probabilities, bit for
// bit, from the same engine state, in every sampling mode and for every sampler kind; the same
// errors before anything is drawn.
#include <per/prioritized_replay.hpp>
#include <per/prioritized_sampler.hpp>
#include <per/rank_based_sampler.hpp>
#include <per/sum_tree.hpp>

#include "per_catch.hpp"
#include "state_snapshot.hpp"

#include <cmath>
#include <cstddef>
#include <cstring>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

namespace {

using per::replay_handle;
using per::replay_options;
using per::sampling_mode;

template <class Sampler>
Sampler filled_sampler(std::size_t capacity, std::size_t filled, replay_options options) {
    Sampler sampler(capacity, options);
    std::mt19937_64 engine(17);
    for (std::size_t slot = 0; slot < filled; ++slot) {
        // Spread priorities over several decades, a few zeros among them.
        const double priority = slot % 7 == 3 ? 0.0
                                              : std::ldexp(1.0 + 0.1 * (engine() % 10),
                                                           static_cast<int>(engine() % 20) - 10);
        sampler.fill(slot, priority);
    }
    return sampler;
}

bool same_bits(const std::vector<double>& a, const std::vector<double>& b) {
    return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(double)) == 0;
}

template <class Sampler>
void check_same_draws(const Sampler& original, std::size_t batch_size) {
    Sampler weighted = original;
    Sampler unweighted = original;
    std::mt19937_64 engine_a(2026);
    std::mt19937_64 engine_b(2026);
    std::vector<replay_handle> handles_a(batch_size), handles_b(batch_size);
    std::vector<double> weights(batch_size), probabilities_a(batch_size),
        probabilities_b(batch_size);
    for (int round = 0; round < 5; ++round) {
        weighted.sample_into(batch_size, 0.5, engine_a, handles_a.data(), weights.data(),
                             probabilities_a.data());
        unweighted.draw_into(batch_size, engine_b, handles_b.data(), probabilities_b.data());
        REQUIRE(handles_a == handles_b);
        REQUIRE(same_bits(probabilities_a, probabilities_b));
        REQUIRE(engine_a == engine_b); // the same draws consumed
    }
}

} // namespace

TEMPLATE_TEST_CASE("draw_into draws what sample_into draws, bit for bit", "[draw_into]",
                   per::prioritized_sampler, per::basic_prioritized_sampler<per::sum_tree<float>>,
                   per::rank_based_sampler) {
    for (const sampling_mode mode : {sampling_mode::stratified, sampling_mode::independent,
                                     sampling_mode::without_replacement}) {
        CAPTURE(static_cast<int>(mode));
        const auto options = replay_options{}.alpha(0.7).sampling(mode);
        for (const std::size_t capacity : {std::size_t{1}, std::size_t{5}, std::size_t{300}}) {
            CAPTURE(capacity);
            const TestType sampler = filled_sampler<TestType>(capacity, capacity, options);
            const std::size_t most = mode == sampling_mode::without_replacement
                                         ? sampler.sampleable_size()
                                         : std::size_t{64};
            for (const std::size_t batch : {std::size_t{1}, most}) {
                check_same_draws(sampler, batch);
            }
        }
    }
}

TEST_CASE("draw_into through a replay buffer", "[draw_into]") {
    per::prioritized_replay<int> buffer(16, replay_options{}.alpha(0.6));
    for (int i = 0; i < 12; ++i) {
        buffer.push(i, 0.25 * (i + 1));
    }
    std::mt19937_64 engine_a(5);
    std::mt19937_64 engine_b(5);
    std::vector<replay_handle> handles_a(8), handles_b(8);
    std::vector<double> weights(8), probabilities_a(8), probabilities_b(8);
    buffer.sample_into(8, 1.0, engine_a, handles_a.data(), weights.data(), probabilities_a.data());
    buffer.draw_into(8, engine_b, handles_b.data(), probabilities_b.data());
    CHECK(handles_a == handles_b);
    CHECK(same_bits(probabilities_a, probabilities_b));
    for (std::size_t k = 0; k < 8; ++k) {
        CHECK(probabilities_b[k] == buffer.sampler().probability(handles_b[k].slot));
    }
}

TEST_CASE("draw_into rejects what sample_into rejects, before drawing", "[draw_into]") {
    auto sampler = filled_sampler<per::prioritized_sampler>(
        8, 4, replay_options{}.sampling(sampling_mode::without_replacement));
    const std::string before = per_test::state(sampler);
    std::mt19937_64 engine(9);
    const std::mt19937_64 engine_before = engine;
    std::vector<replay_handle> handles(16, replay_handle{99, 99});
    std::vector<double> probabilities(16, -1.0);
    const auto untouched = [&] {
        return engine == engine_before && per_test::state(sampler) == before &&
               handles == std::vector<replay_handle>(16, replay_handle{99, 99}) &&
               probabilities == std::vector<double>(16, -1.0);
    };

    REQUIRE_THROWS_WITH(sampler.draw_into(0, engine, handles.data(), probabilities.data()),
                        PER_CONTAINS("draw_into: batch_size = 0 must be > 0"));
    CHECK(untouched());
    REQUIRE_THROWS_AS(sampler.draw_into(5, engine, handles.data(), probabilities.data()),
                      std::out_of_range); // 4 filled, one at priority 0: 3 sampleable
    CHECK(untouched());
    REQUIRE_THROWS_WITH(sampler.draw_into(2, engine, nullptr, probabilities.data()),
                        PER_CONTAINS("draw_into: handles = nullptr must point to batch_size = 2"));
    REQUIRE_THROWS_WITH(sampler.draw_into(2, engine, handles.data(), nullptr),
                        PER_CONTAINS("draw_into: probabilities = nullptr"));
    CHECK(untouched());

    per::prioritized_sampler empty(4);
    REQUIRE_THROWS_WITH(empty.draw_into(1, engine, handles.data(), probabilities.data()),
                        PER_CONTAINS("nothing to sample"));
    CHECK(untouched());
}
