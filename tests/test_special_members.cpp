// Copies and moves of every buffer, sampler and tree (the contract in
// include/per/detail/special_members.hpp and the README's "Copies and moves"):
// - copy assignment has the strong guarantee, whether an Item's copy or an allocation throws
//   (every allocation of the assignment is made to fail in turn);
// - a copy reserves its storage up front, as a new buffer does;
// - moves are noexcept and leave the source valid: empty, capacity 0, settings kept, every member
//   callable with the documented result, and usable again once something is assigned to it;
// - self-assignment of either kind changes nothing.
// This file replaces the global operator new and delete (to make the n-th allocation fail), so it
// is its own executable and includes no other allocation-counting header.
#include <per/checkpoint.hpp>
#include <per/concurrent_replay.hpp>
#include <per/min_tree.hpp>
#include <per/naive_rank_based.hpp>
#include <per/naive_replay.hpp>
#include <per/prioritized_replay.hpp>
#include <per/prioritized_sampler.hpp>
#include <per/rank_based.hpp>
#include <per/rank_based_sampler.hpp>
#include <per/sum_tree.hpp>

#include "fragile_item.hpp"
#include "per_catch.hpp"
#include "state_snapshot.hpp"

#include <cstddef>
#include <cstdlib>
#include <limits>
#include <new>
#include <random>
#include <sstream>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

// --- Allocation failure on demand ------------------------------------------------------------

namespace {

// Allocations left before one fails (std::bad_alloc); negative: none fails. With
// keep_failing, every allocation after that one fails too (memory that stays exhausted).
long allocations_until_failure = -1;
bool keep_failing = false;

void* allocate(std::size_t size, std::size_t alignment) {
    if (allocations_until_failure >= 0 && allocations_until_failure-- == 0) {
        allocations_until_failure = keep_failing ? 0 : -1;
        throw std::bad_alloc();
    }
    size = size == 0 ? 1 : size;
    void* block =
        alignment > alignof(std::max_align_t)
            ? std::aligned_alloc(alignment, (size + alignment - 1) / alignment * alignment)
            : std::malloc(size);
    if (block == nullptr) {
        throw std::bad_alloc();
    }
    return block;
}

// Runs `attempt` with the 0th, 1st, 2nd, ... allocation failing (and, with `and_every_later`,
// every allocation after it) until it succeeds; `check` runs after each failed attempt (with
// allocations working again). Returns the number of failures.
template <class Attempt, class Check>
int fail_each_allocation_in_turn(Attempt attempt, Check check, bool and_every_later = false) {
    keep_failing = and_every_later;
    for (long failing = 0;; ++failing) {
        allocations_until_failure = failing;
        try {
            attempt();
            allocations_until_failure = -1;
            keep_failing = false;
            return static_cast<int>(failing);
        } catch (const std::bad_alloc&) {
            allocations_until_failure = -1;
            check();
        }
    }
}

} // namespace

void* operator new(std::size_t size) {
    return allocate(size, 0);
}
void* operator new[](std::size_t size) {
    return allocate(size, 0);
}
void* operator new(std::size_t size, std::align_val_t alignment) {
    return allocate(size, static_cast<std::size_t>(alignment));
}
void* operator new[](std::size_t size, std::align_val_t alignment) {
    return allocate(size, static_cast<std::size_t>(alignment));
}
void* operator new(std::size_t size, const std::nothrow_t&) noexcept {
    try {
        return allocate(size, 0);
    } catch (const std::bad_alloc&) {
        return nullptr;
    }
}
void* operator new[](std::size_t size, const std::nothrow_t&) noexcept {
    return operator new(size, std::nothrow);
}
void* operator new(std::size_t size, std::align_val_t alignment, const std::nothrow_t&) noexcept {
    try {
        return allocate(size, static_cast<std::size_t>(alignment));
    } catch (const std::bad_alloc&) {
        return nullptr;
    }
}
void* operator new[](std::size_t size, std::align_val_t alignment, const std::nothrow_t&) noexcept {
    return operator new(size, alignment, std::nothrow);
}
void operator delete(void* block, const std::nothrow_t&) noexcept {
    std::free(block);
}
void operator delete[](void* block, const std::nothrow_t&) noexcept {
    std::free(block);
}
void operator delete(void* block, std::align_val_t, const std::nothrow_t&) noexcept {
    std::free(block);
}
void operator delete[](void* block, std::align_val_t, const std::nothrow_t&) noexcept {
    std::free(block);
}
void operator delete(void* block) noexcept {
    std::free(block);
}
void operator delete[](void* block) noexcept {
    std::free(block);
}
void operator delete(void* block, std::size_t) noexcept {
    std::free(block);
}
void operator delete[](void* block, std::size_t) noexcept {
    std::free(block);
}
void operator delete(void* block, std::align_val_t) noexcept {
    std::free(block);
}
void operator delete[](void* block, std::align_val_t) noexcept {
    std::free(block);
}
void operator delete(void* block, std::size_t, std::align_val_t) noexcept {
    std::free(block);
}
void operator delete[](void* block, std::size_t, std::align_val_t) noexcept {
    std::free(block);
}

// --- Items whose copy throws on demand --------------------------------------------------------

namespace {
using per_test::copies_until_failure;
using per_test::copy_failure;
using fragile = per_test::fragile_item;
} // namespace

namespace per_test {
template <>
std::string item_text(const fragile& item) {
    return std::to_string(item.value);
}
} // namespace per_test

// --- What each type under test is ------------------------------------------------------------

namespace {
using float_tree_replay =
    per::prioritized_replay<fragile, per::basic_prioritized_sampler<per::sum_tree<float>>>;
} // namespace

#define PER_MEMBER_BUFFERS                                                                         \
    per::prioritized_replay<fragile>, float_tree_replay, per::rank_based_replay<fragile>,          \
        per::naive_prioritized_replay<fragile>, per::naive_rank_based_replay<fragile>
#define PER_MEMBER_SAMPLERS                                                                        \
    per::prioritized_sampler, per::basic_prioritized_sampler<per::sum_tree<float>>,                \
        per::rank_based_sampler

namespace {

const per::replay_options test_options =
    per::replay_options{}.alpha(0.7).epsilon(0.01).initial_max_priority(2.0);

// A buffer of `capacity` holding `pushes` items (wrapped once pushes > capacity), with a few
// priorities updated so that the sampler is not in its freshly filled state.
template <class Buffer>
Buffer make_buffer(std::size_t capacity, int pushes, int seed) {
    Buffer buffer(capacity, test_options);
    for (int k = 0; k < pushes; ++k) {
        if (k % 3 == 0) {
            buffer.push(fragile(seed * 100 + k));
        } else {
            buffer.push(fragile(seed * 100 + k), 0.25 * (k % 7) + 0.5 * seed);
        }
    }
    for (std::size_t slot = 0; slot < buffer.size(); slot += 2) {
        buffer.update_priority(buffer.handle(slot), 0.125 * static_cast<double>(slot + seed));
    }
    return buffer;
}

template <class Sampler>
Sampler make_sampler(std::size_t capacity, int fills, int seed) {
    Sampler sampler(capacity, test_options);
    for (int k = 0; k < fills; ++k) {
        const std::size_t slot = static_cast<std::size_t>(k * 5 + seed) % capacity;
        if (k % 3 == 0) {
            sampler.fill(slot);
        } else {
            sampler.fill(slot, 0.25 * (k % 7) + 0.5 * seed);
        }
    }
    return sampler;
}

// What sampling a moved-from (or empty) object throws, and its message without the class name.
template <class Object>
std::string sample_outcome(Object& object) {
    std::mt19937_64 engine(7);
    return per_test::outcome([&] { object.sample(4, 0.5, engine); });
}

} // namespace

// --- Copy assignment --------------------------------------------------------------------------

TEMPLATE_TEST_CASE("buffer copy assignment is unchanged on throw when an item copy throws",
                   "[special_members]", PER_MEMBER_BUFFERS) {
    // The case: 8 items assigned over a buffer of 2, the 4th item copy throwing.
    const TestType source = make_buffer<TestType>(8, 8, 1);
    TestType target = make_buffer<TestType>(2, 2, 2);
    const std::string before = per_test::state(target);
    for (int failing = 0; failing < 8; ++failing) {
        copies_until_failure = failing;
        REQUIRE_THROWS_AS(target = source, copy_failure);
        copies_until_failure = -1;
        REQUIRE(per_test::state(target) == before);
    }
    // Every sampled slot still has its item behind it.
    std::mt19937_64 engine(3);
    const auto batch = target.sample(16, 0.5, engine);
    for (std::size_t k = 0; k < batch.size(); ++k) {
        REQUIRE(batch[k].value == target.item(batch.handles()[k].slot).value);
    }
    target = source;
    REQUIRE(per_test::state(target) == per_test::state(source));
}

TEMPLATE_TEST_CASE("buffer copy assignment is unchanged on throw when an allocation fails",
                   "[special_members]", PER_MEMBER_BUFFERS) {
    const TestType source = make_buffer<TestType>(40, 50, 1);
    TestType target = make_buffer<TestType>(12, 9, 2);
    const std::string before = per_test::state(target);
    const int failures = fail_each_allocation_in_turn(
        [&] { target = source; }, [&] { REQUIRE(per_test::state(target) == before); });
    CHECK(failures >= 3); // items, generations and the index's storage at least
    REQUIRE(per_test::state(target) == per_test::state(source));
}

TEMPLATE_TEST_CASE("sampler copy assignment is unchanged on throw when an allocation fails",
                   "[special_members]", PER_MEMBER_SAMPLERS) {
    const TestType source = make_sampler<TestType>(100, 120, 1);
    TestType target = make_sampler<TestType>(30, 20, 2);
    const std::string before = per_test::state(target);
    const int failures = fail_each_allocation_in_turn(
        [&] { target = source; }, [&] { REQUIRE(per_test::state(target) == before); });
    CHECK(failures >= 3);
    REQUIRE(per_test::state(target) == per_test::state(source));
}

TEST_CASE("concurrent_replay::set_alpha is unchanged on throw when an allocation fails",
          "[special_members][concurrent]") {
    // Each shard's new weights are computed before any is installed. The first version set the
    // shards one by one and set the changed ones back on a failure, which allocated again: a
    // second failure left shards with different alphas (found by a review).
    for (const std::size_t shards : {std::size_t{1}, std::size_t{3}}) {
        CAPTURE(shards);
        per::concurrent_replay<int> replay(90, per::replay_options{}.alpha(0.6),
                                           per::concurrent_options{}.shards(shards));
        for (int k = 0; k < 70; ++k) {
            REQUIRE(replay.push(k, 0.25 * k) == per::replay_status::ok);
        }
        const auto saved = [&] {
            std::ostringstream out;
            replay.save(out);
            return out.str();
        };
        const std::string before = saved();
        const int failures = fail_each_allocation_in_turn(
            [&] { replay.set_alpha(0.9); },
            [&] {
                REQUIRE(saved() == before);
                REQUIRE(replay.alpha() == 0.6);
                for (std::size_t s = 0; s < shards; ++s) {
                    REQUIRE(replay.inspect(s, [](const auto& b) { return b.alpha(); }) == 0.6);
                }
            },
            true); // memory stays exhausted: a rollback that allocates fails as well
        CHECK(failures >= static_cast<int>(2 * shards)); // two trees per shard at least
        REQUIRE(replay.alpha() == 0.9);
        for (std::size_t s = 0; s < shards; ++s) {
            REQUIRE(replay.inspect(s, [](const auto& buffer) { return buffer.alpha(); }) == 0.9);
        }
    }
}

TEST_CASE("tree copy assignment is unchanged on throw when an allocation fails",
          "[special_members]") {
    per::sum_tree<double> source(1000);
    per::sum_tree<double> target(10);
    per::min_tree<double> min_source(1000);
    per::min_tree<double> min_target(10);
    for (std::size_t i = 0; i < 1000; ++i) {
        source.set(i, static_cast<double>(i % 13));
        min_source.set(i, static_cast<double>(i % 13));
    }
    target.set(3, 2.5);
    min_target.set(3, 2.5);
    const std::string before = per_test::state(target);
    const std::string min_before = per_test::state(min_target);
    CHECK(fail_each_allocation_in_turn([&] { target = source; },
                                       [&] { REQUIRE(per_test::state(target) == before); }) >= 2);
    CHECK(fail_each_allocation_in_turn(
              [&] { min_target = min_source; },
              [&] { REQUIRE(per_test::state(min_target) == min_before); }) >= 2);
    REQUIRE(per_test::state(target) == per_test::state(source));
    REQUIRE(per_test::state(min_target) == per_test::state(min_source));
}

TEMPLATE_TEST_CASE("self-assignment changes nothing", "[special_members]", PER_MEMBER_BUFFERS) {
    TestType buffer = make_buffer<TestType>(10, 14, 1);
    const std::string before = per_test::state(buffer);
    TestType& alias = buffer;
    buffer = alias;
    REQUIRE(per_test::state(buffer) == before);
    buffer = std::move(alias);
    REQUIRE(per_test::state(buffer) == before);
}

TEMPLATE_TEST_CASE("sampler self-assignment changes nothing", "[special_members]",
                   PER_MEMBER_SAMPLERS) {
    TestType sampler = make_sampler<TestType>(40, 50, 1);
    const std::string before = per_test::state(sampler);
    TestType& alias = sampler;
    sampler = alias;
    REQUIRE(per_test::state(sampler) == before);
    sampler = std::move(alias);
    REQUIRE(per_test::state(sampler) == before);
}

// --- Copies keep the reservation --------------------------------------------------------------

TEMPLATE_TEST_CASE("a copy of a partly filled buffer reserves its storage up front",
                   "[special_members]", PER_MEMBER_BUFFERS) {
    const TestType source = make_buffer<TestType>(64, 5, 1);
    TestType copy = source;
    REQUIRE(per_test::state(copy) == per_test::state(source));
    const fragile* storage = &copy.item(0);
    allocations_until_failure = 0; // no push below may allocate
    for (int k = 5; k < 64; ++k) {
        copy.push(fragile(k));
    }
    allocations_until_failure = -1;
    REQUIRE(&copy.item(0) == storage);
    REQUIRE(copy.size() == 64);
}

// --- Moves ------------------------------------------------------------------------------------

TEMPLATE_TEST_CASE("moves are noexcept", "[special_members]", PER_MEMBER_BUFFERS,
                   PER_MEMBER_SAMPLERS, per::sum_tree<double>, per::sum_tree<float>,
                   per::min_tree<double>) {
    STATIC_REQUIRE(std::is_nothrow_move_constructible_v<TestType>);
    STATIC_REQUIRE(std::is_nothrow_move_assignable_v<TestType>);
    STATIC_REQUIRE(std::is_copy_constructible_v<TestType>);
    STATIC_REQUIRE(std::is_copy_assignable_v<TestType>);
}

namespace {

// Checks every member of a moved-from buffer against the contract, given the state the buffer
// had before it was moved from.
template <class Buffer>
void check_moved_from_buffer(Buffer& buffer, const per::replay_options& options,
                             double max_priority) {
    REQUIRE(buffer.size() == 0);
    REQUIRE(buffer.capacity() == 0);
    REQUIRE(buffer.empty());
    REQUIRE(buffer.next_slot() == 0);
    REQUIRE(buffer.max_priority() == max_priority);
    REQUIRE(buffer.alpha() == options.alpha());
    REQUIRE(per_test::options_text(buffer.options()) == per_test::options_text(options));

    REQUIRE_THROWS_AS(buffer.item(0), std::out_of_range);
    REQUIRE_THROWS_AS(buffer.priority(0), std::out_of_range);
    REQUIRE_THROWS_AS(buffer.probability(0), std::out_of_range);
    REQUIRE_THROWS_AS(buffer.handle(0), std::out_of_range);

    REQUIRE_THROWS_AS(buffer.push(fragile(1)), std::logic_error);
    const fragile item(2);
    REQUIRE_THROWS_WITH(buffer.push(item), PER_CONTAINS("capacity() = 0"));
    REQUIRE_THROWS_WITH(buffer.push(item, 1.0), PER_CONTAINS("moved from"));
    REQUIRE_THROWS_WITH(buffer.push(fragile(3), -1.0), PER_CONTAINS("::push"));

    Buffer empty(4, options);
    REQUIRE(sample_outcome(buffer) == sample_outcome(empty));
    std::mt19937_64 engine(1);
    per::replay_handle handles[2];
    double weights[2];
    double probabilities[2];
    REQUIRE_THROWS_AS(buffer.sample_into(2, 0.5, engine, handles, weights, probabilities),
                      std::out_of_range);

    const std::vector<per::replay_handle> no_handles;
    const std::vector<double> no_priorities;
    REQUIRE(buffer.update_priorities(no_handles, no_priorities) == 0);
    const std::vector<per::replay_handle> one_handle{{0, 1}};
    const std::vector<double> one_priority{1.0};
    REQUIRE_THROWS_AS(buffer.update_priorities(one_handle, one_priority), std::out_of_range);
    REQUIRE_THROWS_AS(buffer.update_priority({5, 1}, 1.0), std::out_of_range);

    buffer.clear();
    REQUIRE(buffer.capacity() == 0);
    REQUIRE_THROWS_AS(buffer.push(fragile(4)), std::logic_error); // clear does not revive it

    REQUIRE_THROWS_AS(buffer.set_alpha(-1.0), std::invalid_argument);
    REQUIRE(buffer.alpha() == options.alpha());
    buffer.set_alpha(0.5);
    REQUIRE(buffer.alpha() == 0.5);
    buffer.set_alpha(options.alpha());

    const auto state = buffer.export_state();
    REQUIRE(state.items.empty());
    REQUIRE(state.sampler.generations.empty());
    REQUIRE(state.sampler.filled.empty());
    Buffer other(3, options);
    REQUIRE_THROWS_AS(other.import_state(state), std::invalid_argument);

    const Buffer copy = buffer; // a copy of a moved-from buffer is moved-from too
    REQUIRE(copy.capacity() == 0);
    REQUIRE(per_test::state(copy) == per_test::state(buffer));
}

template <class Sampler>
void check_moved_from_sampler(Sampler& sampler, const per::replay_options& options,
                              double max_priority) {
    REQUIRE(sampler.size() == 0);
    REQUIRE(sampler.capacity() == 0);
    REQUIRE(sampler.empty());
    REQUIRE(sampler.sampleable_size() == 0);
    REQUIRE(sampler.total_weight() == 0.0);
    REQUIRE(sampler.max_priority() == max_priority);
    REQUIRE(sampler.alpha() == options.alpha());
    REQUIRE(sampler.memory_bytes() == 0);
    REQUIRE_THROWS_AS(sampler.contains(0), std::out_of_range);
    REQUIRE_THROWS_AS(sampler.fill(0), std::out_of_range);
    REQUIRE_THROWS_AS(sampler.fill(0, 1.0), std::out_of_range);
    REQUIRE_THROWS_AS(sampler.erase(0), std::out_of_range);
    REQUIRE_THROWS_AS(sampler.priority(0), std::out_of_range);
    REQUIRE_THROWS_AS(sampler.probability(0), std::out_of_range);
    REQUIRE_THROWS_AS(sampler.handle(0), std::out_of_range);
    Sampler empty(4, options);
    REQUIRE(sample_outcome(sampler) == sample_outcome(empty));
    REQUIRE_THROWS_AS(sampler.update_priority({0, 1}, 1.0), std::out_of_range);
    const std::vector<per::replay_handle> no_handles;
    const std::vector<float> no_priorities;
    REQUIRE(sampler.update_priorities(no_handles, no_priorities) == 0);
    sampler.clear();
    sampler.set_alpha(0.5);
    REQUIRE(sampler.alpha() == 0.5);
    sampler.set_alpha(options.alpha());
    Sampler other(3, options);
    REQUIRE_THROWS_AS(other.import_state(sampler.export_state()), std::invalid_argument);
    const Sampler copy = sampler;
    REQUIRE(per_test::state(copy) == per_test::state(sampler));
}

} // namespace

TEMPLATE_TEST_CASE("a moved-from buffer is empty with capacity 0 and says so", "[special_members]",
                   PER_MEMBER_BUFFERS) {
    TestType buffer = make_buffer<TestType>(10, 7, 1);
    const std::string before = per_test::state(buffer);
    const per::replay_options options = buffer.options();
    const double max_priority = buffer.max_priority();

    SECTION("move construction") {
        TestType taken(std::move(buffer));
        REQUIRE(per_test::state(taken) == before);
        check_moved_from_buffer(buffer, options, max_priority);
        // Usable again once a buffer is assigned to it.
        buffer = std::move(taken);
        REQUIRE(per_test::state(buffer) == before);
        check_moved_from_buffer(taken, options, max_priority);
        taken = buffer;
        REQUIRE(per_test::state(taken) == before);
        taken.push(fragile(99));
        REQUIRE(taken.size() == 8);
    }
    SECTION("move assignment") {
        TestType taken = make_buffer<TestType>(3, 5, 2);
        taken = std::move(buffer);
        REQUIRE(per_test::state(taken) == before);
        check_moved_from_buffer(buffer, options, max_priority);
        // The natural pattern: keep the old contents, start afresh in the same variable.
        buffer = TestType(10, options);
        buffer.push(fragile(5));
        REQUIRE(buffer.size() == 1);
    }
    SECTION("import_state revives it") {
        TestType taken(std::move(buffer));
        buffer.import_state(taken.export_state());
        REQUIRE(per_test::state(buffer) == before);
    }
}

TEMPLATE_TEST_CASE("a moved-from sampler is empty with capacity 0 and says so", "[special_members]",
                   PER_MEMBER_SAMPLERS) {
    TestType sampler = make_sampler<TestType>(50, 60, 1);
    const std::string before = per_test::state(sampler);
    const per::replay_options options = sampler.options();
    const double max_priority = sampler.max_priority();

    SECTION("move construction") {
        TestType taken(std::move(sampler));
        REQUIRE(per_test::state(taken) == before);
        check_moved_from_sampler(sampler, options, max_priority);
        sampler = taken;
        REQUIRE(per_test::state(sampler) == before);
    }
    SECTION("move assignment") {
        TestType taken = make_sampler<TestType>(5, 3, 2);
        taken = std::move(sampler);
        REQUIRE(per_test::state(taken) == before);
        check_moved_from_sampler(sampler, options, max_priority);
        sampler.import_state(taken.export_state());
        REQUIRE(per_test::state(sampler) == before);
    }
}

TEMPLATE_TEST_CASE("a moved-from tree has capacity 0", "[special_members]", per::sum_tree<double>,
                   per::sum_tree<float>) {
    TestType tree(100);
    for (std::size_t i = 0; i < 100; ++i) {
        tree.set(i, static_cast<typename TestType::value_type>(i % 5));
    }
    const std::string before = per_test::state(tree);
    TestType taken(std::move(tree));
    REQUIRE(per_test::state(taken) == before);
    REQUIRE(tree.capacity() == 0);
    REQUIRE(tree.total() == 0);
    REQUIRE(tree.memory_bytes() == 0);
    REQUIRE_THROWS_AS(tree.get(0), std::out_of_range);
    REQUIRE_THROWS_AS(tree.set(0, 1), std::out_of_range);
    REQUIRE_THROWS_AS(tree.find_prefix(0), std::out_of_range);
    tree.clear();
    const std::vector<double> none;
    tree.assign(none.begin(), none.end());
    REQUIRE(tree.total() == 0);
    const std::vector<double> one{1.0};
    REQUIRE_THROWS_AS(tree.assign(one.begin(), one.end()), std::invalid_argument);
    tree = taken;
    REQUIRE(per_test::state(tree) == before);
    taken = std::move(tree);
    REQUIRE(per_test::state(taken) == before);
    REQUIRE(tree.capacity() == 0);
}

TEST_CASE("a moved-from min tree has capacity 0", "[special_members]") {
    per::min_tree<double> tree(100);
    tree.set(7, 0.5);
    const std::string before = per_test::state(tree);
    per::min_tree<double> taken(std::move(tree));
    REQUIRE(per_test::state(taken) == before);
    REQUIRE(tree.capacity() == 0);
    REQUIRE(tree.min() == std::numeric_limits<double>::infinity());
    REQUIRE_THROWS_AS(tree.get(0), std::out_of_range);
    REQUIRE_THROWS_AS(tree.set(0, 1.0), std::out_of_range);
    tree.clear();
    const std::vector<double> none;
    tree.assign(none.begin(), none.end());
    tree = std::move(taken);
    REQUIRE(per_test::state(tree) == before);
}

TEST_CASE("a checkpoint of a moved-from buffer is refused on load; loading revives it",
          "[special_members]") {
    per::prioritized_replay<int> buffer(8, test_options);
    for (int k = 0; k < 5; ++k) {
        buffer.push(k, 0.5 + k);
    }
    const std::string before = per_test::state(buffer);
    per::prioritized_replay<int> taken(std::move(buffer));
    std::stringstream moved_from_file;
    per::save(moved_from_file, buffer);
    per::prioritized_replay<int> target(4);
    REQUIRE_THROWS_AS(per::load(moved_from_file, target), per::checkpoint_error);
    REQUIRE(target.capacity() == 4);

    std::stringstream file;
    per::save(file, taken);
    per::load(file, buffer);
    REQUIRE(per_test::state(buffer) == before);
}
