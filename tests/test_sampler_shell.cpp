// What the two samplers share, tested once for each: basic_sampler (basic_sampler.hpp) over the
// proportional index (with a double and a float sum tree) and over the rank index, and
// replay_buffer (replay_buffer.hpp) over either sampler. What depends on the priority rule
// (proportional weights, epsilon, priority limits, float trees; ranks, ties, rank weights) is
// tested in test_prioritized_sampler.cpp, test_prioritized_replay.cpp and test_rank_based.cpp.
#include <per/prioritized_replay.hpp>
#include <per/prioritized_sampler.hpp>
#include <per/rank_based.hpp>
#include <per/rank_based_sampler.hpp>

#include "per_catch.hpp"
#include "state_snapshot.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <memory>
#include <random>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

// The types every test below runs for (macros: TEMPLATE_TEST_CASE names each instance after its
// type, so that a failure says which sampler failed).
#define PER_SHELL_SAMPLERS                                                                         \
    per::prioritized_sampler, per::basic_prioritized_sampler<per::sum_tree<float>>,                \
        per::rank_based_sampler
#define PER_SHELL_BUFFERS per::prioritized_replay<int>, per::rank_based_replay<int>

namespace {

constexpr double not_a_number = std::numeric_limits<double>::quiet_NaN();
constexpr double infinite = std::numeric_limits<double>::infinity();

const per::sampling_mode all_modes[] = {per::sampling_mode::stratified,
                                        per::sampling_mode::independent,
                                        per::sampling_mode::without_replacement};

// The class name error messages of Sampler begin with.
template <class Sampler>
std::string name_of() {
    return Sampler::index_type::name;
}

// The filled slots a draw may return: those with P > 0.
template <class Sampler>
std::set<std::size_t> sampleable_slots(const Sampler& sampler) {
    std::set<std::size_t> slots;
    for (std::size_t slot = 0; slot < sampler.capacity(); ++slot) {
        if (sampler.contains(slot) && sampler.probability(slot) > 0.0) {
            slots.insert(slot);
        }
    }
    return slots;
}

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

struct transition {
    int state = 0;
    int action = 0;
    float reward = 0;
};

} // namespace

// --- The sampler ------------------------------------------------------------------------------

TEMPLATE_TEST_CASE("shell: fill, erase and clear, and the observers of a slot", "[shell]",
                   PER_SHELL_SAMPLERS) {
    TestType sampler(10, per::replay_options{}.alpha(0.7));
    REQUIRE(sampler.empty());
    REQUIRE(sampler.capacity() == 10);
    REQUIRE(sampler.size() == 0);
    REQUIRE(sampler.total_weight() == 0.0);
    sampler.fill(7, 3.0);
    sampler.fill(2, 1.0);
    sampler.fill(4, 0.0);
    REQUIRE_FALSE(sampler.empty());
    REQUIRE(sampler.size() == 3);
    REQUIRE(sampler.capacity() == 10);
    REQUIRE(sampler.contains(7));
    REQUIRE_FALSE(sampler.contains(0));
    REQUIRE(sampler.priority(7) == 3.0);
    REQUIRE(sampler.priority(2) == 1.0);
    REQUIRE(sampler.priority(4) == 0.0);
    REQUIRE_THROWS_AS(sampler.probability(0), std::out_of_range);
    REQUIRE_THROWS_WITH(sampler.priority(0), PER_CONTAINS("slot = 0 is empty"));
    REQUIRE_THROWS_AS(sampler.handle(0), std::out_of_range);
    // Erasing empties the slot and shrinks N; erasing an empty slot is a no-op.
    sampler.erase(7);
    REQUIRE(sampler.size() == 2);
    REQUIRE_FALSE(sampler.contains(7));
    sampler.erase(7);
    REQUIRE(sampler.size() == 2);
    // Refilling a filled slot replaces its item: N stays, the generation moves on.
    const auto before = sampler.handle(4);
    const auto after = sampler.fill(4);
    REQUIRE(after.slot == 4);
    REQUIRE(after.generation == before.generation + 1);
    REQUIRE(sampler.size() == 2);
    REQUIRE(sampler.priority(4) == sampler.max_priority());
    sampler.clear();
    REQUIRE(sampler.empty());
    REQUIRE(sampler.size() == 0);
    REQUIRE(sampler.total_weight() == 0.0);
    REQUIRE_FALSE(sampler.contains(2));
    REQUIRE_FALSE(sampler.update_priority(after, 1.0)); // cleared: stale
    REQUIRE(sampler.fill(4).generation == after.generation + 1);
}

TEMPLATE_TEST_CASE("shell: new items get the running max priority, which never decreases",
                   "[shell]", PER_SHELL_SAMPLERS) {
    TestType sampler(4, per::replay_options{}.initial_max_priority(2.0));
    REQUIRE(sampler.max_priority() == 2.0);
    const auto a = sampler.fill(0);
    REQUIRE(sampler.priority(0) == 2.0);
    REQUIRE(sampler.update_priority(a, 5.0));
    REQUIRE(sampler.max_priority() == 5.0);
    sampler.fill(1);
    REQUIRE(sampler.priority(1) == 5.0);
    REQUIRE(sampler.update_priority(a, 0.5)); // lowering an item does not lower the running max
    REQUIRE(sampler.max_priority() == 5.0);
    sampler.fill(2, 9.0); // an explicit priority raises it
    REQUIRE(sampler.max_priority() == 9.0);
    const auto stale = sampler.handle(0);
    sampler.fill(0);
    REQUIRE_FALSE(sampler.update_priority(stale, 100.0)); // a skipped update raises nothing
    REQUIRE(sampler.max_priority() == 9.0);
    sampler.clear();
    REQUIRE(sampler.max_priority() == 9.0);
}

TEMPLATE_TEST_CASE("shell: stale handles are skipped and counted, never applied to the "
                   "new occupant",
                   "[shell]", PER_SHELL_SAMPLERS) {
    TestType sampler(3);
    const auto old_handle = sampler.fill(1, 4.0);
    const auto fresh = sampler.fill(1, 2.0); // the slot is overwritten
    REQUIRE(fresh.slot == 1);
    REQUIRE(fresh.generation == old_handle.generation + 1);
    REQUIRE(sampler.size() == 1);
    sampler.fill(0, 3.0);
    const std::vector<per::replay_handle> handles = {old_handle, fresh, old_handle};
    const std::vector<float> priorities = {100.0f, 5.0f, 200.0f};
    REQUIRE(sampler.update_priorities(handles, priorities) == 1);
    REQUIRE(sampler.priority(1) == 5.0);
    REQUIRE(sampler.max_priority() == 5.0);
    REQUIRE_FALSE(sampler.update_priority(old_handle, 7.0));
    REQUIRE(sampler.priority(1) == 5.0);
    sampler.erase(1);
    REQUIRE(sampler.size() == 1);
    REQUIRE_FALSE(sampler.update_priority(fresh, 7.0)); // erased: stale too
    const auto again = sampler.fill(1);
    REQUIRE_FALSE(sampler.update_priority(fresh, 7.0)); // refilled after erase
    REQUIRE(sampler.priority(1) == 5.0);                // the max priority it was filled with
    REQUIRE(sampler.update_priority(again, 7.0));
    REQUIRE(sampler.priority(1) == 7.0);
    sampler.clear();
    REQUIRE_FALSE(sampler.update_priority(again, 1.0)); // cleared
}

TEMPLATE_TEST_CASE("shell: a handle carries no owner: judged by slot and generation alone",
                   "[shell]", PER_SHELL_SAMPLERS) {
    // Documented in replay_handle.hpp: a handle from another sampler is applied where this
    // sampler's slot holds an item of the same generation, skipped where it does not, and out of
    // range past this sampler's capacity.
    TestType mine(4);
    TestType other(8);
    mine.fill(0, 1.0);
    mine.fill(1, 1.0);
    mine.fill(1, 1.0);                      // slot 1: generation 2
    const auto same = other.fill(0, 3.0);   // slot 0, generation 1: as mine's slot 0
    const auto older = other.fill(1, 3.0);  // slot 1, generation 1: stale for mine
    const auto empty = other.fill(2, 3.0);  // slot 2: empty in mine
    const auto beyond = other.fill(6, 3.0); // slot 6 >= mine's capacity
    REQUIRE(mine.update_priority(same, 5.0));
    REQUIRE(mine.priority(0) == 5.0);
    REQUIRE_FALSE(mine.update_priority(older, 5.0));
    REQUIRE(mine.priority(1) == 1.0);
    REQUIRE_FALSE(mine.update_priority(empty, 5.0));
    REQUIRE_FALSE(mine.contains(2));
    REQUIRE_THROWS_AS(mine.update_priority(beyond, 5.0), std::out_of_range);
    // A copy accepts the original's handles, and the original the copy's.
    TestType copy = mine;
    const auto from_copy = copy.fill(3, 2.0);
    mine.fill(3, 9.0);
    REQUIRE(mine.update_priority(from_copy, 4.0));
    REQUIRE(mine.priority(3) == 4.0);
    REQUIRE(copy.update_priority(mine.handle(0), 6.0));
    REQUIRE(copy.priority(0) == 6.0);
}

TEMPLATE_TEST_CASE("shell: update_priorities in its three forms, float or double; a repeated "
                   "handle's last priority wins",
                   "[shell]", PER_SHELL_SAMPLERS) {
    TestType sampler(4);
    std::vector<per::replay_handle> handles;
    for (std::size_t slot = 0; slot < 4; ++slot) {
        handles.push_back(sampler.fill(slot));
    }
    // Two ranges (vectors, arrays), float or double.
    REQUIRE(sampler.update_priorities(handles, std::vector<float>(4, 0.25f)) == 4);
    for (std::size_t slot = 0; slot < 4; ++slot) {
        REQUIRE(sampler.priority(slot) == 0.25);
    }
    const std::array<per::replay_handle, 2> pair = {handles[0], handles[1]};
    const std::array<double, 2> values = {3.0, 4.0};
    REQUIRE(sampler.update_priorities(pair, values) == 2);
    REQUIRE(sampler.priority(1) == 4.0);
    // Two pointers and a count.
    const double lower[] = {0.5, 1.5};
    REQUIRE(sampler.update_priorities(pair.data(), lower, 2) == 2);
    REQUIRE(sampler.priority(0) == 0.5);
    REQUIRE(sampler.priority(1) == 1.5);
    REQUIRE(sampler.max_priority() == 4.0);
    // One handle.
    REQUIRE(sampler.update_priority(handles[3], 2.5));
    REQUIRE(sampler.priority(3) == 2.5);
    // Repeated handles apply in order: the last one wins, and each counts.
    const per::replay_handle repeated[] = {handles[2], handles[2], handles[2]};
    const double priorities[] = {1.0, 2.0, 0.25};
    REQUIRE(sampler.update_priorities(repeated, priorities) == 3);
    REQUIRE(sampler.priority(2) == 0.25);
    const per::replay_handle repeated_again[] = {handles[2], handles[2], handles[2]};
    const double more[] = {1.0, 9.0, 0.75};
    REQUIRE(sampler.update_priorities(repeated_again, more, 3) == 3);
    REQUIRE(sampler.priority(2) == 0.75);
    REQUIRE(sampler.max_priority() == 9.0);
}

TEMPLATE_TEST_CASE("shell: bad input throws, names the argument, and changes nothing",
                   "[shell][errors]", PER_SHELL_SAMPLERS) {
    REQUIRE_THROWS_WITH(TestType(0), PER_CONTAINS("capacity = 0"));
    REQUIRE_THROWS_WITH(TestType(4, per::replay_options{}.alpha(-1)), PER_CONTAINS("alpha = -1"));
    REQUIRE_THROWS_WITH(TestType(4, per::replay_options{}.epsilon(not_a_number)),
                        PER_CONTAINS("epsilon = nan"));
    REQUIRE_THROWS_AS(TestType(4, per::replay_options{}.initial_max_priority(infinite)),
                      std::invalid_argument);
    if (TestType::max_capacity() < std::numeric_limits<std::size_t>::max()) {
        REQUIRE_THROWS_AS(TestType(TestType::max_capacity() + 1), std::length_error);
    }

    const std::string name = name_of<TestType>();
    for (const auto& options : {per::replay_options{}.sampling(per::sampling_mode::independent),
                                per::replay_options{}.alpha(0.7)}) {
        CAPTURE(options.alpha());
        TestType sampler(8, options);
        std::vector<per::replay_handle> handles;
        for (std::size_t slot = 0; slot < 5; ++slot) {
            handles.push_back(sampler.fill(slot, 0.5 * static_cast<double>(slot)));
        }
        const std::string before = per_test::state(sampler);
        std::mt19937_64 rng(9);
        per::sample_batch batch = sampler.sample(4, 0.5, rng);
        const auto batch_before = batch.slots();

        REQUIRE_THROWS_WITH(sampler.fill(8), PER_CONTAINS("slot = 8"));
        REQUIRE_THROWS_AS(sampler.fill(8, 1.0), std::out_of_range);
        for (double bad : {not_a_number, infinite, -infinite, -0.5, -1e-300}) {
            CAPTURE(bad);
            REQUIRE_THROWS_AS(sampler.fill(2, bad), std::invalid_argument);
            REQUIRE_THROWS_AS(sampler.update_priority(handles[2], bad), std::invalid_argument);
        }
        REQUIRE_THROWS_WITH(sampler.fill(2, -0.5), PER_CONTAINS("priority = -0.5"));
        REQUIRE_THROWS_WITH(sampler.fill(2, -2.0), PER_CONTAINS(name + "::fill: priority = -2"));
        REQUIRE_THROWS_AS(sampler.erase(9), std::out_of_range);
        REQUIRE_THROWS_AS(sampler.priority(5), std::out_of_range); // empty slot
        REQUIRE_THROWS_AS(sampler.probability(5), std::out_of_range);
        REQUIRE_THROWS_AS(sampler.handle(5), std::out_of_range);
        REQUIRE_THROWS_AS(sampler.contains(8), std::out_of_range);

        // A bad entry anywhere in a batch update rejects the whole batch.
        std::vector<double> priorities = {1.0, 2.0, 3.0, not_a_number, 5.0};
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
        REQUIRE_THROWS_AS(sampler.sample(4, not_a_number, rng, batch), std::invalid_argument);
        REQUIRE(batch.slots() == batch_before); // the output is untouched too

        REQUIRE_THROWS_WITH(sampler.set_alpha(-0.1), PER_CONTAINS("alpha = -0.1"));
        REQUIRE_THROWS_AS(sampler.set_alpha(infinite), std::invalid_argument);
        REQUIRE(per_test::state(sampler) == before);
    }

    std::mt19937_64 rng(9);
    TestType empty(4);
    REQUIRE_THROWS_AS(empty.sample(1, 0.5, rng), std::out_of_range);
    REQUIRE_THROWS_WITH(empty.sample(1, 0.5, rng), PER_CONTAINS("nothing to sample"));
    TestType without(4, per::replay_options{}.sampling(per::sampling_mode::without_replacement));
    without.fill(0);
    REQUIRE_THROWS_WITH(without.sample(2, 0.5, rng), PER_CONTAINS("batch_size = 2"));
}

TEMPLATE_TEST_CASE("shell: a generator that throws mid-batch leaves the sampler unchanged",
                   "[shell][errors]", PER_SHELL_SAMPLERS) {
    for (auto mode : all_modes) {
        CAPTURE(static_cast<int>(mode));
        const auto options = per::replay_options{}.sampling(mode);
        TestType sampler(32, options);
        TestType fresh(32, options);
        for (std::size_t slot = 0; slot < 32; ++slot) {
            sampler.fill(slot, 0.1 * static_cast<double>(slot + 1));
            fresh.fill(slot, 0.1 * static_cast<double>(slot + 1));
        }
        const std::string before = per_test::state(sampler);
        failing_generator generator;
        generator.calls_left = 5;
        REQUIRE_THROWS_AS(sampler.sample(16, 0.5, generator), std::runtime_error);
        REQUIRE(per_test::state(sampler) == before);
        // And it draws on as one that never failed.
        std::mt19937_64 a(1), b(1);
        REQUIRE(sampler.sample(16, 0.5, a).slots() == fresh.sample(16, 0.5, b).slots());
    }
}

TEMPLATE_TEST_CASE("shell: sample, sample into a reused batch, and sample_into draw the same",
                   "[shell]", PER_SHELL_SAMPLERS) {
    for (auto mode : all_modes) {
        CAPTURE(static_cast<int>(mode));
        TestType sampler(64, per::replay_options{}.sampling(mode));
        for (std::size_t slot = 0; slot < 64; ++slot) {
            sampler.fill(slot, 1.0 + static_cast<double>(slot % 7));
        }
        std::mt19937_64 a(8), b(8), c(8), other(3);
        const auto batch = sampler.sample(16, 0.6, a);
        REQUIRE(batch.size() == 16);
        per::replay_handle handles[16];
        double weights[16];
        double probabilities[16];
        sampler.sample_into(16, 0.6, b, handles, weights, probabilities);
        per::sample_batch reused = sampler.sample(40, 0.2, other); // larger, other contents
        sampler.sample(16, 0.6, c, reused);
        REQUIRE(reused.size() == 16);
        REQUIRE(reused.slots() == batch.slots());
        REQUIRE(reused.handles() == batch.handles());
        REQUIRE(reused.weights() == batch.weights());
        REQUIRE(reused.probabilities() == batch.probabilities());
        for (std::size_t k = 0; k < 16; ++k) {
            REQUIRE(handles[k] == batch.handles()[k]);
            REQUIRE(weights[k] == batch.weights()[k]);
            REQUIRE(probabilities[k] == batch.probabilities()[k]);
        }
    }
}

namespace {
// The bits of each value, so that batches compare bit for bit.
std::vector<std::uint64_t> bits_of(const std::vector<double>& values) {
    std::vector<std::uint64_t> bits(values.size());
    std::memcpy(bits.data(), values.data(), values.size() * sizeof(double));
    return bits;
}

// A sampler with a history: fills (with ties), updates of sampled batches, an erase, a refill
// at the max priority, an alpha change. Every sampler built by it has made the same calls,
// drawing from its own engine seeded alike.
template <class Sampler>
Sampler sampler_with_history(double alpha, per::sampling_mode mode) {
    Sampler sampler(100, per::replay_options{}.alpha(alpha).sampling(mode));
    for (std::size_t slot = 0; slot < 100; ++slot) {
        sampler.fill(slot, std::fmod(static_cast<double>(slot) * 0.37, 1.0));
    }
    std::mt19937_64 engine(77);
    for (int round = 0; round < 3; ++round) {
        const auto batch = sampler.sample(16, 0.5, engine);
        std::vector<double> priorities(batch.size());
        for (std::size_t k = 0; k < priorities.size(); ++k) {
            priorities[k] = 0.05 * static_cast<double>((k + round) % 5); // ties
        }
        sampler.update_priorities(batch.handles(), priorities);
    }
    sampler.erase(50);
    sampler.fill(3);
    sampler.set_alpha(alpha + 0.2);
    return sampler;
}
} // namespace

TEMPLATE_TEST_CASE("shell: the same seed and the same calls give the same batch",
                   "[shell][reproducible]", PER_SHELL_SAMPLERS) {
    // Two samplers with identical histories and two engines seeded alike draw the same batches,
    // bit for bit, round after round (each round updates the drawn priorities on both); a third
    // with the same history and another seed draws other batches.
    for (double alpha : {0.6, 0.7}) {
        for (auto mode : all_modes) {
            CAPTURE(alpha, static_cast<int>(mode));
            TestType a = sampler_with_history<TestType>(alpha, mode);
            TestType b = sampler_with_history<TestType>(alpha, mode);
            TestType c = sampler_with_history<TestType>(alpha, mode);
            std::mt19937_64 first(2024), second(2024), other(2025);
            bool differs = false;
            for (int round = 0; round < 5; ++round) {
                const auto x = a.sample(32, 0.4, first);
                const auto y = b.sample(32, 0.4, second);
                const auto z = c.sample(32, 0.4, other);
                REQUIRE(x.slots() == y.slots());
                REQUIRE(x.handles() == y.handles());
                REQUIRE(bits_of(x.weights()) == bits_of(y.weights()));
                REQUIRE(bits_of(x.probabilities()) == bits_of(y.probabilities()));
                differs = differs || z.slots() != x.slots();
                std::vector<double> priorities(x.size());
                for (std::size_t k = 0; k < priorities.size(); ++k) {
                    priorities[k] = 0.01 * static_cast<double>((k * (round + 1)) % 7);
                }
                a.update_priorities(x.handles(), priorities);
                b.update_priorities(y.handles(), priorities);
                c.update_priorities(x.handles(), priorities); // c keeps a's history
            }
            REQUIRE(first == second);
            REQUIRE(differs);
        }
    }
}

TEMPLATE_TEST_CASE("shell: every sampling mode draws only live slots with P > 0; without "
                   "replacement, distinct ones",
                   "[shell]", PER_SHELL_SAMPLERS) {
    std::mt19937_64 rng(77);
    for (auto mode : all_modes) {
        CAPTURE(static_cast<int>(mode));
        // Priority 0 with epsilon 0: never sampled by a proportional sampler, last but sampled
        // by a rank-based one.
        TestType sampler(1000, per::replay_options{}.epsilon(0.0).sampling(mode));
        for (std::size_t slot = 0; slot < 1000; slot += 3) {
            sampler.fill(slot, slot % 2 ? 0.0 : 1e-3 * static_cast<double>(slot + 1));
        }
        const std::set<std::size_t> live = sampleable_slots(sampler);
        REQUIRE(live.size() == sampler.sampleable_size());
        for (int round = 0; round < 50; ++round) {
            const auto batch = sampler.sample(128, 0.5, rng);
            REQUIRE(batch.size() == 128);
            for (std::size_t k = 0; k < batch.size(); ++k) {
                const std::size_t slot = batch.slots()[k];
                REQUIRE(live.count(slot) == 1);
                REQUIRE(batch.handles()[k].slot == slot);
                REQUIRE(batch.handles()[k] == sampler.handle(slot));
                REQUIRE(batch.probabilities()[k] > 0.0);
                REQUIRE(batch.probabilities()[k] == sampler.probability(slot));
            }
            if (mode == per::sampling_mode::without_replacement) {
                REQUIRE(std::set<std::size_t>(batch.slots().begin(), batch.slots().end()).size() ==
                        128);
            }
        }
    }
}

TEMPLATE_TEST_CASE("shell: without replacement can take every sampleable item, and no more",
                   "[shell]", PER_SHELL_SAMPLERS) {
    TestType sampler(
        6, per::replay_options{}.epsilon(0.0).sampling(per::sampling_mode::without_replacement));
    sampler.fill(0, 5.0);
    sampler.fill(1, 1e-12);
    sampler.fill(2, 0.0);
    sampler.fill(3, 1.0);
    const std::set<std::size_t> sampleable = sampleable_slots(sampler);
    const std::size_t count = sampler.sampleable_size();
    REQUIRE(sampleable.size() == count);
    std::mt19937_64 rng(3);
    const std::string before = per_test::state(sampler);
    for (int round = 0; round < 100; ++round) {
        const auto batch = sampler.sample(count, 0.7, rng);
        REQUIRE(std::set<std::size_t>(batch.slots().begin(), batch.slots().end()) == sampleable);
    }
    REQUIRE(per_test::state(sampler) == before); // drawn positions are restored bit for bit
    REQUIRE_THROWS_AS(sampler.sample(count + 1, 0.7, rng), std::out_of_range);
    REQUIRE_THROWS_WITH(sampler.sample(count + 1, 0.7, rng),
                        PER_CONTAINS("batch_size = " + std::to_string(count + 1)));
    REQUIRE(per_test::state(sampler) == before);
}

TEMPLATE_TEST_CASE("shell: importance weights follow each normalization", "[shell][weights]",
                   PER_SHELL_SAMPLERS) {
    struct setup {
        double priorities[4];
        double beta;
    };
    const setup setups[] = {{{1, 2, 4, 8}, 0.4}, {{1, 2, 3, 4}, 0.6}};
    for (const setup& s : setups) {
        for (auto normalization :
             {per::weight_normalization::global_max, per::weight_normalization::batch_max,
              per::weight_normalization::none}) {
            CAPTURE(s.beta, static_cast<int>(normalization));
            TestType sampler(8, per::replay_options{}
                                    .alpha(1.0)
                                    .epsilon(0.0)
                                    .normalization(normalization)
                                    .sampling(per::sampling_mode::independent));
            for (std::size_t slot = 0; slot < 4; ++slot) {
                sampler.fill(slot, s.priorities[slot]);
            }
            double smallest_probability = 1.0;
            for (std::size_t slot = 0; slot < 4; ++slot) {
                smallest_probability = std::min(smallest_probability, sampler.probability(slot));
            }
            std::mt19937_64 rng(11);
            const auto batch = sampler.sample(32, s.beta, rng);
            double batch_min_probability = 1.0;
            for (double probability : batch.probabilities()) {
                batch_min_probability = std::min(batch_min_probability, probability);
            }
            for (std::size_t k = 0; k < batch.size(); ++k) {
                const double probability = batch.probabilities()[k];
                REQUIRE(probability == sampler.probability(batch.slots()[k]));
                const double raw = std::pow(4.0 * probability, -s.beta); // N = 4, not capacity 8
                double expected = raw;
                if (normalization == per::weight_normalization::global_max) {
                    expected = raw / std::pow(4.0 * smallest_probability, -s.beta);
                } else if (normalization == per::weight_normalization::batch_max) {
                    expected = raw / std::pow(4.0 * batch_min_probability, -s.beta);
                }
                REQUIRE(batch.weights()[k] == Approx(expected).epsilon(1e-12));
            }
        }
    }
}

TEMPLATE_TEST_CASE("shell: set_alpha gives the sampler built with that alpha", "[shell]",
                   PER_SHELL_SAMPLERS) {
    std::mt19937_64 rng(21);
    std::uniform_real_distribution<double> unit(0.0, 3.0);
    TestType annealed(50, per::replay_options{}.alpha(0.2));
    TestType direct(50, per::replay_options{}.alpha(0.9));
    for (std::size_t slot = 0; slot < 50; slot += 2) {
        const double priority = unit(rng);
        annealed.fill(slot, priority);
        direct.fill(slot, priority);
    }
    annealed.set_alpha(0.9);
    REQUIRE(annealed.alpha() == 0.9);
    REQUIRE(annealed.options().alpha() == 0.9);
    REQUIRE(annealed.total_weight() == direct.total_weight());
    for (std::size_t slot = 0; slot < 50; slot += 2) {
        REQUIRE(annealed.probability(slot) == direct.probability(slot));
    }
    // Every observer (ranks and the age order too), the generations, and what a copy draws.
    REQUIRE(per_test::state(annealed) == per_test::state(direct));
    std::mt19937_64 a(5), b(5);
    REQUIRE(annealed.sample(32, 0.5, a).slots() == direct.sample(32, 0.5, b).slots());
    // Later fills use the new alpha's weights.
    annealed.fill(1, 1.0);
    direct.fill(1, 1.0);
    REQUIRE(annealed.total_weight() == direct.total_weight());
    REQUIRE(per_test::state(annealed) == per_test::state(direct));
}

TEMPLATE_TEST_CASE("shell: any UniformRandomBitGenerator works", "[shell]", PER_SHELL_SAMPLERS) {
    for (double alpha : {0.6, 0.7}) {
        CAPTURE(alpha);
        TestType sampler(100, per::replay_options{}.alpha(alpha));
        for (std::size_t slot = 0; slot < 100; ++slot) {
            sampler.fill(slot, static_cast<double>(slot % 10));
        }
        std::minstd_rand rng(3); // 31 bits, a range that is not a power of two
        const auto batch = sampler.sample(50, 1.0, rng);
        REQUIRE(batch.size() == 50);
        for (std::size_t k = 0; k < batch.size(); ++k) {
            REQUIRE(sampler.probability(batch.slots()[k]) > 0.0);
            REQUIRE(batch.weights()[k] <= 1.0);
        }
    }
}

// --- The buffer ---------------------------------------------------------------------------------

TEMPLATE_TEST_CASE("shell buffer: push fills a ring and overwrites the oldest item",
                   "[shell][replay]", PER_SHELL_BUFFERS) {
    TestType buffer(3);
    REQUIRE(buffer.empty());
    REQUIRE(buffer.capacity() == 3);
    REQUIRE(buffer.next_slot() == 0);
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
    REQUIRE(buffer.max_priority() == 5.0);
    REQUIRE_THROWS_AS(buffer.item(3), std::out_of_range);
    REQUIRE_THROWS_WITH(buffer.push(14, -1.0), PER_CONTAINS("priority = -1"));
    REQUIRE(buffer.next_slot() == 1);
    buffer.clear();
    REQUIRE(buffer.empty());
    REQUIRE(buffer.next_slot() == 0);
    REQUIRE_FALSE(buffer.update_priority(h3, 1.0)); // cleared: stale
    REQUIRE(buffer.push(15).slot == 0);
}

TEMPLATE_TEST_CASE("shell buffer: every mode draws present items, by reference; without "
                   "replacement, distinct ones",
                   "[shell][replay]", PER_SHELL_BUFFERS) {
    using buffer_type = per::replay_buffer<transition, typename TestType::sampler_type>;
    std::mt19937_64 rng(77);
    for (auto mode : all_modes) {
        CAPTURE(static_cast<int>(mode));
        buffer_type buffer(300, per::replay_options{}.alpha(0.7).sampling(mode));
        for (int i = 0; i < 200; ++i) {
            buffer.push(transition{i, i % 2, 0.5f * static_cast<float>(i)},
                        static_cast<double>(i % 13));
        }
        const auto require_present = [&](const per::replay_batch<transition>& batch) {
            REQUIRE(batch.size() == 64);
            REQUIRE(batch.handles().size() == 64);
            REQUIRE(batch.weights().size() == 64);
            REQUIRE(batch.probabilities().size() == 64);
            std::size_t k = 0;
            for (const transition& item : batch.items()) {
                const std::size_t slot = batch.slots()[k];
                REQUIRE(slot < 200);
                REQUIRE(&item == &buffer.item(slot));
                REQUIRE(&batch[k] == &item);
                REQUIRE(item.state == static_cast<int>(slot));
                REQUIRE(batch.handles()[k] == buffer.handle(slot));
                REQUIRE(batch.probabilities()[k] == buffer.probability(slot));
                ++k;
            }
            REQUIRE(k == 64);
            if (mode == per::sampling_mode::without_replacement) {
                REQUIRE(std::set<std::size_t>(batch.slots().begin(), batch.slots().end()).size() ==
                        64);
            }
        };
        per::replay_batch<transition> batch;
        for (int round = 0; round < 30; ++round) {
            buffer.sample(64, 0.5, rng, batch); // reusing the batch's storage
            require_present(batch);
            require_present(buffer.sample(64, 0.5, rng));
        }
        // A reused batch holds what a fresh one would.
        std::mt19937_64 a(6), b(6);
        buffer.sample(4, 0.5, a, batch);
        const auto fresh = buffer.sample(4, 0.5, b);
        REQUIRE(batch.slots() == fresh.slots());
        REQUIRE(batch.weights() == fresh.weights());
    }
}

TEMPLATE_TEST_CASE("shell buffer: update_priorities takes vectors, arrays, pointers and "
                   "float priorities",
                   "[shell][replay]", PER_SHELL_BUFFERS) {
    TestType buffer(8);
    for (int i = 0; i < 8; ++i) {
        buffer.push(i);
    }
    std::mt19937_64 rng(1);
    const auto batch = buffer.sample(4, 0.5, rng);
    const std::vector<float> td_errors(4, 0.25f);
    REQUIRE(buffer.update_priorities(batch.handles(), td_errors) == 4);
    for (auto slot : batch.slots()) {
        REQUIRE(buffer.priority(slot) == 0.25);
    }
    const std::array<per::replay_handle, 2> handles = {buffer.handle(0), buffer.handle(1)};
    const std::array<double, 2> priorities = {3.0, 4.0};
    REQUIRE(buffer.update_priorities(handles, priorities) == 2);
    REQUIRE(buffer.update_priorities(handles.data(), priorities.data(), 2) == 2);
    REQUIRE(buffer.priority(0) == 3.0);
    REQUIRE(buffer.priority(1) == 4.0);
    REQUIRE(buffer.max_priority() == 4.0);
}

TEMPLATE_TEST_CASE("shell buffer: a bad push changes nothing", "[shell][replay][errors]",
                   PER_SHELL_BUFFERS) {
    per::replay_buffer<std::string, typename TestType::sampler_type> buffer(2);
    buffer.push("a");
    buffer.push("b");
    const std::string before = per_test::state(buffer);
    REQUIRE_THROWS_WITH(buffer.push("c", not_a_number), PER_CONTAINS("priority = nan"));
    REQUIRE_THROWS_AS(buffer.push("c", -1.0), std::invalid_argument);
    REQUIRE_THROWS_AS(buffer.push(std::string("c"), infinite), std::invalid_argument);
    REQUIRE(buffer.item(0) == "a");
    REQUIRE(buffer.next_slot() == 0);
    REQUIRE(buffer.size() == 2);
    REQUIRE(buffer.handle(0).generation == 1);
    REQUIRE(per_test::state(buffer) == before);
}

TEMPLATE_TEST_CASE("shell buffer: a throwing call leaves the buffer exactly as before",
                   "[shell][replay][errors]", PER_SHELL_BUFFERS) {
    for (auto mode : all_modes) {
        CAPTURE(static_cast<int>(mode));
        TestType buffer(6, per::replay_options{}.alpha(0.7).sampling(mode));
        std::vector<per::replay_handle> handles;
        for (int i = 0; i < 8; ++i) {
            handles.push_back(buffer.push(i, static_cast<double>((i * 5) % 7)));
        }
        const std::string before = per_test::state(buffer);
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
        if (mode == per::sampling_mode::without_replacement) {
            REQUIRE_THROWS_AS(buffer.sample(7, 0.5, rng, batch), std::out_of_range);
        }
        REQUIRE(batch.slots() == slots_before);
        REQUIRE(per_test::state(buffer) == before);
    }
}

TEMPLATE_TEST_CASE("shell buffer: move-only items, and clear", "[shell][replay]",
                   PER_SHELL_BUFFERS) {
    per::replay_buffer<std::unique_ptr<int>, typename TestType::sampler_type> buffer(2);
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
