#ifndef PER_TESTS_CHECKPOINT_ROUND_TRIP_HPP
#define PER_TESTS_CHECKPOINT_ROUND_TRIP_HPP

// Helpers the checkpoint tests share (test_checkpoint.cpp, test_rank_based_checkpoint.cpp):
// save to a string, load from one, the code of the per::checkpoint_error a load throws, and
// "two objects draw the same batches".
#include <per/checkpoint.hpp>

#include "per_catch.hpp"
#include "state_snapshot.hpp"

#include <cstddef>
#include <cstdint>
#include <random>
#include <sstream>
#include <string>

namespace per_test {

template <class Object>
std::string saved(const Object& object) {
    std::ostringstream out;
    per::save(out, object);
    return out.str();
}

template <class Object>
void load_from(const std::string& checkpoint, Object& object) {
    std::istringstream in(checkpoint);
    per::load(in, object);
}

// The code of the checkpoint_error a load throws; fails the test if it throws nothing or
// something else.
template <class Object, class... Serializer>
per::checkpoint_errc load_error(const std::string& checkpoint, Object& object,
                                Serializer&&... serializer) {
    std::istringstream in(checkpoint);
    try {
        per::load(in, object, serializer...);
    } catch (const per::checkpoint_error& error) {
        INFO(error.what());
        REQUIRE(std::string(error.what()).rfind("per::load: ", 0) == 0);
        return error.code();
    }
    FAIL("load did not throw per::checkpoint_error");
    return per::checkpoint_errc::stream_error;
}

// Two objects draw the same batches from identically seeded engines, and leave the engines in
// the same state.
template <class A, class B>
void require_same_batches(A& a, B& b, std::size_t batch_size, std::uint64_t seed) {
    std::mt19937_64 engine_a(seed);
    std::mt19937_64 engine_b(seed);
    for (int round = 0; round < 4; ++round) {
        const auto batch_a = a.sample(batch_size, 0.25 * round, engine_a);
        const auto batch_b = b.sample(batch_size, 0.25 * round, engine_b);
        REQUIRE(batch_text(batch_a) == batch_text(batch_b));
    }
    REQUIRE(engine_a == engine_b);
}

} // namespace per_test

#endif // PER_TESTS_CHECKPOINT_ROUND_TRIP_HPP
