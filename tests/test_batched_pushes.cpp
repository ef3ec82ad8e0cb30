// Batched pushes and fills: replay_buffer::push_batch and basic_sampler::fill_batch are count
// pushes (fills) in order, bit for bit: the same slots, generations, priorities, stamps, handles
// and later batches as one call per item, whatever the batch size (also larger than the
// capacity, where a batch overwrites its own first items), with or without priorities, for
// every sampler. Bad input throws before anything changes, and so does an item copy that throws
// (strong guarantee), compared on the complete state description of state_snapshot.hpp.
#include <per/prioritized_replay.hpp>
#include <per/prioritized_sampler.hpp>
#include <per/rank_based.hpp>
#include <per/rank_based_sampler.hpp>

#include "fragile_item.hpp"
#include "per_catch.hpp"
#include "state_snapshot.hpp"

#include <cstddef>
#include <cstdint>
#include <limits>
#include <random>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <vector>

namespace {

using float_sampler = per::basic_prioritized_sampler<per::sum_tree<float>>;

template <class Buffer>
void check_push_batches(std::size_t capacity, per::replay_options options, std::uint64_t seed) {
    std::mt19937_64 engine(seed);
    std::exponential_distribution<double> priority(1.0);
    Buffer batched(capacity, options);
    Buffer single(capacity, options);
    int next_item = 0;
    const std::size_t sizes[] = {0, 1, 2, 5, capacity, 300, 2 * capacity + 3, 7};
    for (int round = 0; round < 24; ++round) {
        const std::size_t count = sizes[static_cast<std::size_t>(round) % 8];
        std::vector<int> items(count);
        std::vector<double> priorities(count);
        for (std::size_t k = 0; k < count; ++k) {
            items[k] = next_item++;
            priorities[k] = engine() % 7 == 0 ? 0.0 : priority(engine) * (round % 5 + 1);
        }
        std::vector<per::replay_handle> handles(count);
        std::vector<per::replay_handle> expected(count);
        const bool with_priorities = round % 3 != 0;
        if (with_priorities) {
            batched.push_batch(items.data(), priorities.data(), count, handles.data());
            for (std::size_t k = 0; k < count; ++k) {
                expected[k] = single.push(items[k], priorities[k]);
            }
        } else {
            batched.push_batch(items.data(), count, handles.data());
            for (std::size_t k = 0; k < count; ++k) {
                expected[k] = single.push(items[k]);
            }
        }
        INFO("round " << round << ", batch " << count);
        for (std::size_t k = 0; k < count; ++k) {
            REQUIRE(handles[k] == expected[k]);
        }
        REQUIRE(per_test::state(batched) == per_test::state(single));
        if (round % 4 == 3 && batched.size() > 0) { // priorities change between batches
            const std::size_t slot = engine() % batched.size();
            const double p = priority(engine);
            batched.update_priority(batched.handle(slot), p);
            single.update_priority(single.handle(slot), p);
        }
    }
    // The range forms, and a null handle output.
    const std::vector<int> items = {1000, 1001, 1002};
    const std::vector<float> priorities = {0.5f, 2.5f, 0.0f};
    batched.push_batch(items, priorities);
    batched.push_batch(items);
    batched.push_batch(items.data(), 2);
    for (std::size_t k = 0; k < 3; ++k) {
        single.push(items[k], static_cast<double>(priorities[k]));
    }
    for (std::size_t k = 0; k < 3; ++k) {
        single.push(items[k]);
    }
    single.push(items[0]);
    single.push(items[1]);
    REQUIRE(per_test::state(batched) == per_test::state(single));
}

} // namespace

TEST_CASE("push_batch equals one push per item, bit for bit", "[batched_pushes]") {
    const per::replay_options options = per::replay_options{}.alpha(0.6);
    const per::replay_options zero_epsilon = per::replay_options{}.alpha(0.7).epsilon(0.0);
    std::uint64_t seed = 11;
    for (std::size_t capacity : {1, 3, 64, 700}) {
        check_push_batches<per::prioritized_replay<int>>(capacity, options, seed++);
        check_push_batches<per::prioritized_replay<int>>(capacity, zero_epsilon, seed++);
        check_push_batches<per::prioritized_replay<int, float_sampler>>(capacity, zero_epsilon,
                                                                        seed++);
        check_push_batches<per::rank_based_replay<int>>(capacity, options, seed++);
    }
}

TEST_CASE("push_batch refuses bad input before anything changes", "[batched_pushes]") {
    per::prioritized_replay<int> buffer(10);
    buffer.push(1, 2.0);
    const std::string before = per_test::state(buffer);
    const int items[] = {1, 2, 3};
    const double bad[] = {1.0, std::numeric_limits<double>::infinity(), 1.0};
    REQUIRE_THROWS_AS(buffer.push_batch(items, bad, 3), std::invalid_argument);
    REQUIRE_THROWS_WITH(buffer.push_batch(items, bad, 3),
                        PER_CONTAINS("per::prioritized_replay::push_batch: priorities[1] = inf "));
    const double negative[] = {1.0, 1.0, -0.5};
    REQUIRE_THROWS_WITH(buffer.push_batch(items, negative, 3),
                        PER_CONTAINS("priorities[2] = -0.5 "));
    const std::vector<int> three = {1, 2, 3};
    const std::vector<double> two = {1.0, 2.0};
    REQUIRE_THROWS_WITH(buffer.push_batch(three, two),
                        PER_CONTAINS("per::prioritized_replay::push_batch: priorities.size() = 2 "
                                     "must equal items.size() = 3"));
    REQUIRE(per_test::state(buffer) == before);

    per::prioritized_replay<int> moved_to(std::move(buffer));
    REQUIRE_THROWS_AS(buffer.push_batch(items, 3),
                      std::logic_error); // NOLINT(bugprone-use-after-move)
    REQUIRE(buffer.size() == 0);
}

TEST_CASE("fill_batch equals one fill per slot and validates first", "[batched_pushes]") {
    std::mt19937_64 engine(21);
    for (int kind = 0; kind < 2; ++kind) {
        per::prioritized_sampler proportional(50, per::replay_options{}.epsilon(0.0));
        per::rank_based_sampler rank(50);
        const auto run = [&](auto& sampler) {
            using Sampler = std::decay_t<decltype(sampler)>;
            Sampler single = sampler;
            for (int round = 0; round < 30; ++round) {
                const std::size_t count = engine() % 120;
                std::vector<std::size_t> slots(count);
                std::vector<double> priorities(count);
                for (std::size_t k = 0; k < count; ++k) {
                    slots[k] = engine() % 50;
                    priorities[k] = static_cast<double>(engine() % 9);
                }
                std::vector<per::replay_handle> handles(count);
                if (round % 2 == 0) {
                    sampler.fill_batch(slots.data(), priorities.data(), count, handles.data());
                    for (std::size_t k = 0; k < count; ++k) {
                        REQUIRE(single.fill(slots[k], priorities[k]) == handles[k]);
                    }
                } else {
                    sampler.fill_batch(slots.data(), count,
                                       round % 4 == 1 ? nullptr : handles.data());
                    for (std::size_t k = 0; k < count; ++k) {
                        const per::replay_handle handle = single.fill(slots[k]);
                        if (round % 4 != 1) {
                            REQUIRE(handle == handles[k]);
                        }
                    }
                }
                REQUIRE(per_test::state(sampler) == per_test::state(single));
            }
            const std::string before = per_test::state(sampler);
            const std::size_t bad_slots[] = {1, 50};
            const double priorities[] = {1.0, 1.0};
            per::replay_handle out[2];
            REQUIRE_THROWS_AS(sampler.fill_batch(bad_slots, priorities, 2, out), std::out_of_range);
            REQUIRE_THROWS_WITH(sampler.fill_batch(bad_slots, 2, out),
                                PER_CONTAINS("::fill_batch: slots[k] = 50 ") &&
                                    PER_CONTAINS("(k = 1)"));
            const std::size_t good_slots[] = {1, 2};
            const double nan[] = {1.0, std::numeric_limits<double>::quiet_NaN()};
            REQUIRE_THROWS_WITH(sampler.fill_batch(good_slots, nan, 2, out),
                                PER_CONTAINS("::fill_batch: priorities[1] = nan "));
            REQUIRE(per_test::state(sampler) == before);
        };
        if (kind == 0) {
            run(proportional);
        } else {
            run(rank);
        }
    }
}

namespace {

// Items whose copies throw: a complete description (per_test::state needs trivially copyable
// items, so the items are listed here and the sampler through state_snapshot).
template <class Buffer>
std::string fragile_state(const Buffer& buffer) {
    std::string text =
        std::to_string(buffer.size()) + " next " + std::to_string(buffer.next_slot());
    for (std::size_t slot = 0; slot < buffer.size(); ++slot) {
        text += " " + std::to_string(buffer.item(slot).value);
    }
    return text + "\n" + per_test::state(buffer.sampler());
}

} // namespace

TEST_CASE("push_batch is all or nothing when an item copy throws", "[batched_pushes]") {
    using per_test::fragile_item;
    const auto run = [](auto buffer) {
        for (int v = 0; v < 5; ++v) {
            buffer.push(fragile_item(v), 1.0 + v);
        }
        std::vector<fragile_item> items;
        for (int v = 10; v < 18; ++v) {
            items.emplace_back(v);
        }
        const std::vector<double> priorities(items.size(), 3.0);
        const std::string before = fragile_state(buffer);
        for (long failing = 0; failing < 8; ++failing) { // staging copies each item once
            per_test::copies_until_failure = failing;
            REQUIRE_THROWS_AS(buffer.push_batch(items.data(), priorities.data(), items.size()),
                              per_test::copy_failure);
            per_test::copies_until_failure = failing;
            REQUIRE_THROWS_AS(buffer.push_batch(items.data(), items.size()),
                              per_test::copy_failure);
            REQUIRE(fragile_state(buffer) == before);
        }
        per_test::copies_until_failure = -1;
        buffer.push_batch(items.data(), priorities.data(), items.size());
        REQUIRE(buffer.size() == 6); // capacity 6: the batch wrapped around
        REQUIRE(buffer.item(0).value == 17);
        REQUIRE(buffer.item(4).value == 15);
        REQUIRE(buffer.item(5).value == 16);
    };
    run(per::prioritized_replay<fragile_item>(6));
    run(per::rank_based_replay<fragile_item>(6));
}
