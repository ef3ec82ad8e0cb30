#ifndef PER_SAMPLER_STATE_HPP
#define PER_SAMPLER_STATE_HPP

/// @file
/// sampler_state and replay_state: the plain state samplers and buffers export and import.

#include "replay_options.hpp"

#include <cstddef>
#include <cstdint>
#include <vector>

namespace per {

/// The complete plain state of a sampler: everything its behaviour depends on, in plain vectors,
/// without the trees, which are a function of these fields. A sampler's export_state() returns
/// it (O(N)); import_state(state) validates one and rebuilds the sampler from it (the trees in
/// O(N), the rank order in O(N log N)): the imported sampler is indistinguishable from the
/// exported one (same observers, same batches from the same engine state, same ties, same
/// handles). checkpoint.hpp writes and reads this state; code that keeps samplers elsewhere
/// (a database, another serialization format, a process that forks) can use it directly.
//
/// Proportional samplers (basic_prioritized_sampler) leave fill_count 0 and fill_stamps empty;
/// rank-based ones (rank_based_sampler) fill them. The naive reference buffers describe their
/// priorities, generations and (rank-based) push stamps in the same struct, inside their
/// replay_state.
struct sampler_state {
    /// The options, with alpha as it was last set (set_alpha changes it). Validated on import as
    /// the constructor validates them, against the capacity.
    replay_options options;
    /// The running maximum priority, what a fill without a priority gets: finite, at least
    /// options.initial_max_priority() and every entry of `priorities`, and within the sampler's
    /// priority limit.
    double max_priority = 1.0;
    /// One per slot, filled or not: how many times the slot was filled, modulo 2^32 (a handle
    /// names a slot and its generation). The capacity is generations.size(), at least 1.
    std::vector<std::uint32_t> generations;
    /// One per slot: 1 if the slot holds an item, else 0 (no other value).
    std::vector<unsigned char> filled;
    /// The raw priority (before epsilon and alpha) of each filled slot, in slot order: one entry
    /// per 1 in `filled`, each finite, >= 0 and within the sampler's priority limit.
    std::vector<double> priorities;
    /// Rank-based only (0 and empty for proportional samplers): the fill clock that orders equal
    /// priorities, and each filled slot's fill stamp, in slot order. Every fill increments
    /// fill_count and stamps its item with the new value (an update keeps the stamp); among equal
    /// priorities the larger stamp ranks first. The stamps are distinct, each in [1, fill_count],
    /// one per filled slot, and fill_count modulo 2^32 equals the sum of the generations (every
    /// fill increments one generation too). fill_count is at most max_fill_count = 2^63 - 1, so
    /// that at least 2^63 more fills (centuries at a billion fills a second) can follow before
    /// the 64-bit clock could wrap: a wrapped clock would give a new item a stamp equal to or
    /// below the stamps present, and break the rank order.
    ///@{
    std::uint64_t fill_count = 0;
    std::vector<std::uint64_t> fill_stamps;
    ///@}

    /// The largest fill_count a state may carry: 2^63 - 1 = 2^64 - 1 - 2^63, the largest count
    /// to which 2^63 more fills can be added without wrapping a std::uint64_t.
    static constexpr std::uint64_t max_fill_count = (std::uint64_t{1} << 63) - 1;
};

/// The complete plain state of a replay buffer: its sampler's state, the ring position and the
/// items. A buffer's export_state() returns it (copying the items); import_state(state)
/// validates one and takes its items by move. A buffer fills its slots 0, 1, 2, ... and then
/// around the ring, so the filled slots are exactly 0..size-1, next_slot equals size until the
/// buffer is full (and is below the capacity once it is), and for rank-based buffers the fill
/// stamps grow along the ring from the oldest slot (next_slot once full, slot 0 before).
template <class Item>
struct replay_state {
    sampler_state sampler;     ///< for the naive buffers: priorities, generations, push stamps
    std::size_t next_slot = 0; ///< where the next push goes
    std::vector<Item> items;   ///< the items of slots 0..size-1
};

} // namespace per

#endif // PER_SAMPLER_STATE_HPP
