// A table of calls that must throw, for the tests of the per-environment writers: each call,
// whether it throws std::out_of_range (else std::invalid_argument), and a part of its message.
#ifndef PER_TEST_BAD_CALL_HPP
#define PER_TEST_BAD_CALL_HPP

#include "per_catch.hpp"

#include <functional>
#include <stdexcept>
#include <string>
#include <vector>

namespace per_test {

struct bad_call {
    std::function<void()> call;
    bool out_of_range;
    std::string message;
};

// Every call throws the type and message it names; `unchanged()` (the caller's checks that the
// object is as before) runs after each.
template <class Unchanged>
void require_bad_calls(const std::vector<bad_call>& calls, Unchanged&& unchanged) {
    for (const bad_call& bad : calls) {
        CAPTURE(bad.message);
        if (bad.out_of_range) {
            REQUIRE_THROWS_AS(bad.call(), std::out_of_range);
        } else {
            REQUIRE_THROWS_AS(bad.call(), std::invalid_argument);
        }
        REQUIRE_THROWS_WITH(bad.call(), PER_CONTAINS(bad.message));
        unchanged();
    }
}

} // namespace per_test

#endif // PER_TEST_BAD_CALL_HPP
