#ifndef PER_DETAIL_ENV_CHECKS_HPP
#define PER_DETAIL_ENV_CHECKS_HPP

/// @file
/// The argument checks the per-environment writers (n_step.hpp, sequence.hpp) share.

#include "error.hpp"

#include <cstddef>
#include <string>
#include <type_traits>

namespace per::detail {

/// Throws std::out_of_range unless env < num_envs ("env = 9 must be < num_envs() = 8").
inline void check_env(const char* where, std::size_t env, std::size_t num_envs) {
    if (env >= num_envs) {
        throw_out_of_range(where, "env", env, "must be < num_envs() = " + std::to_string(num_envs));
    }
}

/// Throws std::invalid_argument unless a per-environment range holds num_envs values
/// ("rewards.size() = 2 must equal num_envs() = 3").
inline void check_env_count(const char* where, const char* argument, std::size_t size,
                            std::size_t num_envs) {
    if (size != num_envs) {
        throw_invalid_argument(where, argument, size,
                               "must equal num_envs() = " + std::to_string(num_envs));
    }
}

/// Throws std::invalid_argument unless every flag of a per-environment range of done flags
/// (terminated, truncated, episode ends) is a flag: bools (std::vector<bool> too) always are;
/// numbers (float dones from a vector env, 0/1 integers) must be exactly 0 or 1
/// ("terminated[1] = 0.5 must be 0 or 1"), as a value like 0.5 or NaN is a mix-up of ranges,
/// not a flag, and converting it to bool would silently call it true. O(count) for numbers.
template <class Flags>
void check_env_flags(const char* where, const char* argument, const Flags& flags,
                     std::size_t count) {
    using flag = std::remove_cv_t<std::remove_reference_t<decltype(flags[0])>>;
    if constexpr (std::is_arithmetic_v<flag> && !std::is_same_v<flag, bool>) {
        for (std::size_t env = 0; env < count; ++env) {
            const flag value = flags[env];
            if (!(value == flag(0) || value == flag(1))) {
                throw_invalid_argument(
                    where, (std::string(argument) + "[" + std::to_string(env) + "]").c_str(), value,
                    "must be 0 or 1");
            }
        }
    }
}

} // namespace per::detail

#endif // PER_DETAIL_ENV_CHECKS_HPP
