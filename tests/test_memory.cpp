// memory_bytes() against the heap: this executable replaces the global operator new and delete
// (tests/allocation_counter.hpp) to count the bytes every allocation requests and every
// deallocation returns. The bytes an object still holds once constructed are the live bytes
// after its construction minus those before, and memory_bytes() must equal them exactly: both
// count the bytes asked of operator new (malloc's own headers and rounding are in neither), so
// there is no allocator overhead to allow for. Measured again after the object has been used
// (fills, updates, erases, samples, alpha changes): the index must not grow in use. The
// per-slot figures the headers document are checked on the bytes really held.
#include <per/checkpoint.hpp>
#include <per/min_tree.hpp>
#include <per/prioritized_sampler.hpp>
#include <per/rank_based.hpp>
#include <per/sum_tree.hpp>

#include "allocation_counter.hpp"
#include "per_catch.hpp"

#include <cstddef>
#include <cstdint>
#include <memory>
#include <random>
#include <sstream>
#include <string>
#include <vector>

namespace {

using per_test::allocations::live;

// The heap bytes held by an object that `make` builds (in place, so that nothing but the
// object's own storage is alive at the end), and the object. A first object is built and
// dropped before measuring, so that whatever the library allocates once per program (the
// function-local strings of error messages, say) is not charged to the measured one.
template <class Object, class Make>
std::unique_ptr<Object> measured(Make&& make, std::size_t& held) {
    make(); // warm-up
    std::unique_ptr<Object> object(static_cast<Object*>(::operator new(sizeof(Object))));
    const std::size_t before = live();
    new (object.get()) Object(make());
    held = live() - before;
    return object;
}

// Destroys what measured() returned (its storage came from ::operator new, not new Object).
template <class Object>
void destroy(std::unique_ptr<Object>& object) {
    object->~Object();
    ::operator delete(object.release());
}

// Fills most slots, updates drawn priorities, erases and refills, changes alpha, and samples
// (batches freed before returning): everything a training loop does to a sampler.
template <class Sampler>
void use(Sampler& sampler, std::uint64_t seed) {
    std::mt19937_64 rng(seed);
    const std::size_t capacity = sampler.capacity();
    for (std::size_t slot = 0; slot < capacity; ++slot) {
        if (slot % 5 != 3) {
            sampler.fill(slot, static_cast<double>(slot % 7) * 0.25);
        }
    }
    for (int round = 0; round < 20; ++round) {
        if (sampler.sampleable_size() == 0) {
            break;
        }
        const auto batch = sampler.sample(8, 0.5, rng);
        std::vector<double> priorities(batch.size(), 0.5 + round);
        sampler.update_priorities(batch.handles(), priorities);
        const std::size_t slot = static_cast<std::size_t>(rng() % capacity);
        if (sampler.contains(slot)) {
            sampler.erase(slot);
        } else {
            sampler.fill(slot);
        }
    }
    sampler.set_alpha(0.3);
}

const std::size_t capacities[] = {1, 2, 7, 8, 9, 63, 64, 65, 1000, 4097};

} // namespace

TEMPLATE_TEST_CASE("memory_bytes() of a tree is the heap it holds", "[memory]",
                   per::sum_tree<double>, per::sum_tree<float>, per::min_tree<double>,
                   per::min_tree<float>) {
    for (std::size_t capacity : capacities) {
        std::size_t held = 0;
        auto tree = measured<TestType>([capacity] { return TestType(capacity); }, held);
        CAPTURE(capacity, held);
        REQUIRE(tree->memory_bytes() == held);
        REQUIRE(held >= capacity * sizeof(typename TestType::value_type)); // the leaves at least
        // Setting leaves allocates nothing.
        const std::size_t before = live();
        for (std::size_t i = 0; i < capacity; ++i) {
            tree->set(i, static_cast<typename TestType::value_type>(i % 3));
        }
        REQUIRE(live() == before);
        destroy(tree);
    }
}

TEMPLATE_TEST_CASE("memory_bytes() of a sampler is the heap it holds, before and after use",
                   "[memory]", per::prioritized_sampler,
                   per::basic_prioritized_sampler<per::sum_tree<float>>, per::rank_based_sampler) {
    for (std::size_t capacity : capacities) {
        std::size_t held = 0;
        auto sampler = measured<TestType>(
            [capacity] { return TestType(capacity, per::replay_options{}.alpha(0.6)); }, held);
        const std::size_t before_use = live();
        use(*sampler, capacity);
        const std::size_t after_use = live();
        CAPTURE(capacity, held, before_use, after_use);
        REQUIRE(sampler->memory_bytes() == held);
        REQUIRE(after_use == before_use); // nothing grew, nothing leaked
        REQUIRE(sampler->memory_bytes() == held);
        destroy(sampler);
    }
}

TEST_CASE("index memory stays near 23.5 bytes per slot", "[memory][sampler]") {
    // Sum tree 8 + 2 * 8 / 7, min tree over leaf blocks about 8 / 7 + 8 / 49, raw priority 8,
    // generation 4: on the bytes really allocated.
    std::size_t held = 0;
    auto sampler =
        measured<per::prioritized_sampler>([] { return per::prioritized_sampler(1 << 16); }, held);
    const double per_slot = static_cast<double>(held) / (1 << 16);
    CAPTURE(held, per_slot);
    REQUIRE(sampler->memory_bytes() == held);
    REQUIRE(per_slot <= 24.0);
    REQUIRE(per_slot >= 23.0);
    destroy(sampler);
}

TEST_CASE("rank-based sampler: index memory is about 77 bytes per slot",
          "[memory][rank_based][sampler]") {
    std::size_t held = 0;
    auto sampler =
        measured<per::rank_based_sampler>([] { return per::rank_based_sampler(1 << 16); }, held);
    const double per_slot = static_cast<double>(held) / (1 << 16);
    CAPTURE(held, per_slot);
    REQUIRE(sampler->memory_bytes() == held);
    REQUIRE(per_slot >= 70.0);
    REQUIRE(per_slot <= 80.0);
    destroy(sampler);
}

TEST_CASE("the allocation counter counts what it is asked", "[memory]") {
    // The instrument itself: plain, array and over-aligned blocks, and their release.
    const std::size_t before = live();
    auto* plain = new std::uint64_t[25];
    REQUIRE(live() - before == 25 * sizeof(std::uint64_t));
    struct alignas(64) line {
        double values[8];
    };
    auto* aligned = new line[3];
    REQUIRE(reinterpret_cast<std::uintptr_t>(aligned) % 64 == 0);
    REQUIRE(live() - before == 25 * sizeof(std::uint64_t) + 3 * sizeof(line));
    std::vector<int> reserved;
    reserved.reserve(10);
    REQUIRE(live() - before == 25 * sizeof(std::uint64_t) + 3 * sizeof(line) + 10 * sizeof(int));
    delete[] plain;
    delete[] aligned;
    reserved = std::vector<int>();
    REQUIRE(live() == before);
}

TEST_CASE("load allocates the capacity a small checkpoint describes, unless max_capacity refuses "
          "it first",
          "[memory][checkpoint]") {
    // An empty buffer of 2^14 items of 4 KiB: an 82 KB file that asks for 64 MiB of items.
    struct big_item {
        unsigned char bytes[4096];
    };
    constexpr std::size_t capacity = std::size_t{1} << 14;
    std::string checkpoint;
    {
        per::prioritized_replay<big_item> source(capacity);
        std::ostringstream out;
        per::save(out, source);
        checkpoint = out.str();
    }
    REQUIRE(checkpoint.size() < 100'000);
    const auto bytes_allocated_by = [&](const per::load_options& options, bool& refused) {
        per::prioritized_replay<big_item> target(1);
        std::istringstream in(checkpoint);
        const std::size_t before = per_test::allocations::total_bytes.load();
        refused = false;
        try {
            per::load(in, target, options);
        } catch (const per::checkpoint_error& error) {
            refused = error.code() == per::checkpoint_errc::limit_exceeded;
        }
        return per_test::allocations::total_bytes.load() - before;
    };
    bool refused = false;
    REQUIRE(bytes_allocated_by(per::load_options{}, refused) >= capacity * sizeof(big_item));
    REQUIRE_FALSE(refused);
    // Refused: nothing but the error's message is allocated.
    REQUIRE(bytes_allocated_by(per::load_options{}.max_capacity(capacity - 1), refused) < 4096);
    REQUIRE(refused);
}
