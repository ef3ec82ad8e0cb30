#ifndef PER_DETAIL_STATE_VALIDATION_HPP
#define PER_DETAIL_STATE_VALIDATION_HPP

#include "../sampler_state.hpp"
#include "error.hpp"

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace per::detail {

// The checks import_state runs on a sampler_state / replay_state before it rebuilds anything,
// written once for every sampler and buffer. Each throws std::invalid_argument
// "<where>: <prefix><field> = <value> <requirement>", e.g.
// "per::prioritized_sampler::import_state: state.priorities[3] = -1 must be finite and >= 0";
// `prefix` names the sampler_state in the caller's argument ("state." for a sampler,
// "state.sampler." for a naive buffer). None of them changes anything. An importer calls
//   check_state_layout -> construct_for_import -> check_state_priorities -> (rank-based)
//   check_fill_stamps -> (buffers) check_ring_state,
// then fills the object it constructed and moves it into place.

// Whether a sampler_state carries fill stamps: proportional samplers have none, rank-based
// ones one per filled slot.
enum class stamp_rule { none, required };

inline std::string state_field(const char* prefix, const char* field) {
    return std::string(prefix) + field;
}
inline std::string state_field(const char* prefix, const char* field, std::size_t index) {
    return std::string(prefix) + field + "[" + std::to_string(index) + "]";
}

[[noreturn]] inline void throw_bad_state(const char* where, const std::string& message) {
    throw std::invalid_argument(std::string(where) + ": " + message);
}

// The shape of a state: the options valid, the capacity generations.size() in
// [1, max_capacity], one filled flag per slot, each 0 or 1, one priority per filled slot, and
// the fill-stamp fields as `stamps` requires. Returns the number of filled slots. O(capacity).
inline std::size_t check_state_layout(const char* where, const char* prefix,
                                      const sampler_state& state, std::size_t max_capacity,
                                      stamp_rule stamps) {
    state.options.validate((std::string(where) + ": " + prefix + "options").c_str());
    const std::size_t capacity = state.generations.size();
    const std::string generations = state_field(prefix, "generations.size()");
    if (capacity == 0) {
        throw_bad_state(where, generations + " = 0 must be > 0 (it is the capacity)");
    }
    if (capacity > max_capacity) {
        throw_bad_state(where, generations + " = " + std::to_string(capacity) + " must be <= " +
                                   std::to_string(max_capacity) + ", the largest capacity");
    }
    if (state.filled.size() != capacity) {
        throw_bad_state(where, state_field(prefix, "filled.size()") + " = " +
                                   std::to_string(state.filled.size()) + " must equal " +
                                   generations + " = " + std::to_string(capacity));
    }
    std::size_t size = 0;
    for (std::size_t slot = 0; slot < capacity; ++slot) {
        const unsigned char flag = state.filled[slot];
        if (flag > 1) {
            throw_bad_state(where, state_field(prefix, "filled", slot) + " = " +
                                       std::to_string(flag) + " must be 0 or 1");
        }
        size += flag;
    }
    const auto check_count = [&](const char* field, std::size_t count) {
        if (count != size) {
            throw_bad_state(where, state_field(prefix, field) + " = " + std::to_string(count) +
                                       " must equal the number of filled slots, " +
                                       std::to_string(size));
        }
    };
    check_count("priorities.size()", state.priorities.size());
    if (stamps == stamp_rule::required) {
        check_count("fill_stamps.size()", state.fill_stamps.size());
    } else {
        const char* reason = " must be 0: only rank-based samplers keep fill stamps";
        if (state.fill_count != 0) {
            throw_bad_state(where, state_field(prefix, "fill_count") + " = " +
                                       std::to_string(state.fill_count) + reason);
        }
        if (!state.fill_stamps.empty()) {
            throw_bad_state(where, state_field(prefix, "fill_stamps.size()") + " = " +
                                       std::to_string(state.fill_stamps.size()) + reason);
        }
    }
    return size;
}

[[noreturn]] inline void throw_unsuitable_options(const char* where, const char* prefix,
                                                  std::size_t capacity,
                                                  const std::exception& error) {
    throw_bad_state(where, state_field(prefix, "options") + " do not suit the capacity " +
                               std::to_string(capacity) + ": " + error.what());
}

// A freshly constructed Object(capacity, options) to import into. Its constructor checks the
// options once more against the capacity (an initial_max_priority whose weight the sums cannot
// hold, an alpha too large for the capacity); what it throws is rethrown as
// std::invalid_argument naming the state's options. Precondition: check_state_layout passed.
template <class Object>
Object construct_for_import(const char* where, const char* prefix, const sampler_state& state) {
    const std::size_t capacity = state.generations.size();
    try {
        return Object(capacity, state.options);
    } catch (const std::invalid_argument& error) {
        throw_unsuitable_options(where, prefix, capacity, error);
    } catch (const std::length_error& error) {
        throw_unsuitable_options(where, prefix, capacity, error);
    }
}

// Every raw priority, then the max priority, against the object's own rules: a priority that
// `accepts(priority)` refuses goes to `reject(argument, priority)`, which throws the object's
// std::invalid_argument naming `argument` (built only then, as in detail::validate_updates).
// The max priority must also be finite, at least options.initial_max_priority() and at least
// every raw priority (it is their running maximum). Precondition: check_state_layout passed.
// O(N).
template <class Accepts, class Reject>
void check_state_priorities(const char* where, const char* prefix, const sampler_state& state,
                            Accepts&& accepts, Reject&& reject) {
    for (std::size_t k = 0; k < state.priorities.size(); ++k) {
        if (!accepts(state.priorities[k])) {
            reject(state_field(prefix, "priorities", k).c_str(), state.priorities[k]);
        }
    }
    const double max_priority = state.max_priority;
    const std::string name = state_field(prefix, "max_priority");
    const double initial = state.options.initial_max_priority();
    if (!(std::isfinite(max_priority) && max_priority >= initial)) {
        throw_bad_state(where, name + " = " + format_value(max_priority) +
                                   " must be finite and >= " + prefix +
                                   "options.initial_max_priority() = " + format_value(initial));
    }
    for (std::size_t k = 0; k < state.priorities.size(); ++k) {
        if (state.priorities[k] > max_priority) {
            throw_bad_state(where, name + " = " + format_value(max_priority) +
                                       " must be >= " + state_field(prefix, "priorities", k) +
                                       " = " + format_value(state.priorities[k]) +
                                       " (it is the running maximum)");
        }
    }
    if (!accepts(max_priority)) {
        reject(name.c_str(), max_priority);
    }
}

// Rank-based: fill_count <= sampler_state::max_fill_count (2^63 - 1: the clock cannot wrap in
// the next 2^63 fills), every fill stamp in [1, fill_count], no two equal, and fill_count
// modulo 2^32 equal to the sum of the generations (every fill increments both). Precondition:
// check_state_layout passed with stamp_rule::required. O(N log N); may throw std::bad_alloc.
inline void check_fill_stamps(const char* where, const char* prefix, const sampler_state& state) {
    if (state.fill_count > sampler_state::max_fill_count) {
        throw_bad_state(where, state_field(prefix, "fill_count") + " = " +
                                   std::to_string(state.fill_count) +
                                   " must be <= " + std::to_string(sampler_state::max_fill_count) +
                                   " = 2^63 - 1, so that the fill clock cannot wrap in the next "
                                   "2^63 fills");
    }
    const std::vector<std::uint64_t>& stamps = state.fill_stamps;
    for (std::size_t k = 0; k < stamps.size(); ++k) {
        if (stamps[k] == 0 || stamps[k] > state.fill_count) {
            throw_bad_state(
                where, state_field(prefix, "fill_stamps", k) + " = " + std::to_string(stamps[k]) +
                           " must be in [1, fills = " + std::to_string(state.fill_count) + "] (" +
                           prefix + "fill_count, the fills so far)");
        }
    }
    std::vector<std::pair<std::uint64_t, std::size_t>> by_stamp(stamps.size()); // (stamp, k)
    for (std::size_t k = 0; k < stamps.size(); ++k) {
        by_stamp[k] = {stamps[k], k};
    }
    std::sort(by_stamp.begin(), by_stamp.end());
    for (std::size_t i = 1; i < by_stamp.size(); ++i) {
        if (by_stamp[i].first == by_stamp[i - 1].first) {
            throw_bad_state(
                where, state_field(prefix, "fill_stamps", by_stamp[i - 1].second) + " = " +
                           state_field(prefix, "fill_stamps", by_stamp[i].second) + " = " +
                           std::to_string(by_stamp[i].first) + ": every fill has its own stamp");
        }
    }
    std::uint32_t generations = 0;
    for (std::uint32_t generation : state.generations) {
        generations += generation;
    }
    if (generations != static_cast<std::uint32_t>(state.fill_count)) {
        throw_bad_state(where, state_field(prefix, "fill_count") + " = " +
                                   std::to_string(state.fill_count) +
                                   " disagrees with the generations, which add up to " +
                                   std::to_string(generations) +
                                   " modulo 2^32 (every fill increments one generation)");
    }
}

// What a ring of items adds to its sampler's state (`sampler`, named state.sampler): one item
// per filled slot (`item_count` of them), the filled slots exactly 0..size-1, next_slot equal
// to size while the ring is not full and below the capacity once it is, and fill stamps, if the
// state has them, growing along the ring from its oldest slot (next_slot once full, slot 0
// before): pushes fill the slots in that order. Precondition: check_state_layout passed (and
// check_fill_stamps, for a state with stamps). O(capacity).
inline void check_ring_state(const char* where, const sampler_state& sampler, std::size_t next_slot,
                             std::size_t item_count) {
    const std::size_t capacity = sampler.generations.size();
    const std::size_t size = sampler.priorities.size();
    if (item_count != size) {
        throw_bad_state(where, "state.items.size() = " + std::to_string(item_count) +
                                   " must equal the number of filled slots, " +
                                   std::to_string(size));
    }
    for (std::size_t slot = 0; slot < capacity; ++slot) {
        if (sampler.filled[slot] != (slot < size ? 1 : 0)) {
            throw_bad_state(where, state_field("state.sampler.", "filled", slot) + " = " +
                                       std::to_string(sampler.filled[slot]) +
                                       ": a replay buffer fills slots 0.." + std::to_string(size) +
                                       " - 1 only");
        }
    }
    const bool full = size == capacity;
    if (full ? next_slot >= capacity : next_slot != size) {
        throw_bad_state(where, "state.next_slot = " + std::to_string(next_slot) +
                                   (full ? " must be < the capacity " + std::to_string(capacity)
                                         : " must equal the size " + std::to_string(size) +
                                               " while the buffer is not full"));
    }
    const std::vector<std::uint64_t>& stamps = sampler.fill_stamps;
    if (stamps.empty()) {
        return;
    }
    const std::size_t oldest = full ? next_slot : 0;
    for (std::size_t i = 1; i < size; ++i) {
        const std::size_t slot = (oldest + i) % capacity;
        const std::size_t before = (oldest + i - 1) % capacity;
        if (!(stamps[slot] > stamps[before])) {
            throw_bad_state(where, "state.sampler.fill_stamps: stamps[" + std::to_string(slot) +
                                       "] = " + std::to_string(stamps[slot]) +
                                       " must be > stamps[" + std::to_string(before) +
                                       "] = " + std::to_string(stamps[before]) +
                                       ": a replay buffer fills its slots in ring order");
        }
    }
}

} // namespace per::detail

#endif // PER_DETAIL_STATE_VALIDATION_HPP
