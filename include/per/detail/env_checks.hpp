#ifndef PER_DETAIL_ENV_CHECKS_HPP
#define PER_DETAIL_ENV_CHECKS_HPP

/// @file
/// The argument checks the per-environment writers (n_step.hpp, sequence.hpp) share.

#include "error.hpp"

#include <cstddef>
#include <string>

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

} // namespace per::detail

#endif // PER_DETAIL_ENV_CHECKS_HPP
