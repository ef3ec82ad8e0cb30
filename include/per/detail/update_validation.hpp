#ifndef PER_DETAIL_UPDATE_VALIDATION_HPP
#define PER_DETAIL_UPDATE_VALIDATION_HPP

#include "../replay_handle.hpp"
#include "error.hpp"

#include <cmath>
#include <cstddef>
#include <iterator>
#include <string>
#include <type_traits>

namespace per::detail {

// What every sampler and buffer checks before it applies a batch of priority updates, with one
// wording: a handle's slot >= capacity throws std::out_of_range naming it and its position;
// a priority that `accepts` refuses is passed to `reject(argument, priority)`, which throws the
// class's own std::invalid_argument naming "priorities[k]" (the name is built only then, so
// the valid path costs one call of `accepts` per entry). `where()` gives the name of the caller
// for the message, asked only when one is thrown. O(count); changes nothing.
template <class Where, class Priority, class Accepts, class Reject>
void validate_updates(Where&& where, const replay_handle* handles, const Priority* priorities,
                      std::size_t count, std::size_t capacity, Accepts&& accepts, Reject&& reject) {
    static_assert(std::is_arithmetic_v<Priority>, "priorities must be float or double");
    for (std::size_t k = 0; k < count; ++k) {
        if (handles[k].slot >= capacity) {
            throw_out_of_range(std::string(where()).c_str(), "handles[k].slot", handles[k].slot,
                               "must be < capacity() = " + std::to_string(capacity) +
                                   " (k = " + std::to_string(k) + ")");
        }
        const double priority = static_cast<double>(priorities[k]);
        if (!accepts(priority)) {
            const std::string argument = "priorities[" + std::to_string(k) + "]";
            reject(argument.c_str(), priority);
        }
    }
}

// Throws the std::invalid_argument of a refused priority, naming `argument`: "must be finite and
// >= 0" if it is negative or not finite, else `limit_requirement` (it is above the limit).
[[noreturn]] inline void reject_priority(const char* where, const char* argument, double priority,
                                         const std::string& limit_requirement) {
    if (!(std::isfinite(priority) && priority >= 0.0)) {
        throw_invalid_argument(where, argument, priority, "must be finite and >= 0");
    }
    throw_invalid_argument(where, argument, priority, limit_requirement);
}

// The range form of update_priorities takes two contiguous ranges of equal size.
// `where()` as in validate_updates.
template <class Where, class Handles, class Priorities>
void check_same_size(Where&& where, const Handles& handles, const Priorities& priorities) {
    if (std::size(handles) != std::size(priorities)) {
        throw_invalid_argument(std::string(where()).c_str(), "priorities.size()",
                               std::size(priorities),
                               "must equal handles.size() = " + std::to_string(std::size(handles)));
    }
}

} // namespace per::detail

#endif // PER_DETAIL_UPDATE_VALIDATION_HPP
