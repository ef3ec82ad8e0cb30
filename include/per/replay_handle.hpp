#ifndef PER_REPLAY_HANDLE_HPP
#define PER_REPLAY_HANDLE_HPP

/// @file
/// replay_handle: one occupancy of a slot (slot + generation).

#include <cstddef>
#include <cstdint>

namespace per {

/// Names one occupancy of a slot: the slot index and how many times the slot had been filled
/// when the handle was made. A sampler applies a priority update only if the slot still holds
/// that occupancy, so an update computed for an item that was overwritten since it was sampled
/// never lands on the new occupant. The generation is 32 bits: a handle kept while the same slot
/// is refilled 2^32 times would alias (a ring of 10^6 slots refilled once per step: ~4 * 10^15
/// steps).
///
/// A handle does not name the sampler or buffer it came from (no owner tag: it stays 16 bytes
/// and checks stay one comparison). A sampler or buffer judges every handle by its own state
/// alone: update_priorities applies an update whose handle's slot holds an item here and has
/// here the handle's generation, whichever object made the handle; it skips it as stale if the
/// slot is empty here or has another generation, and throws std::out_of_range if the slot is >=
/// this object's capacity. So a handle from another buffer updates this one whenever the slot
/// and generation happen to match, which is likely between buffers filled alike (the first fill
/// of every slot has generation 1). That is also what makes a handle survive a copy, a move or a
/// checkpoint: it is as valid in the copy (or the loaded object) as in the original. Keep each
/// batch's handles with the object that sampled them.
struct replay_handle {
    /// The slot the item occupies.
    std::size_t slot = 0;
    /// The slot's fill count when the handle was made.
    std::uint32_t generation = 0;

    /// Same slot and same generation.
    friend bool operator==(const replay_handle& a, const replay_handle& b) noexcept {
        return a.slot == b.slot && a.generation == b.generation;
    }
    /// Not the same occupancy.
    friend bool operator!=(const replay_handle& a, const replay_handle& b) noexcept {
        return !(a == b);
    }
};

} // namespace per

#endif // PER_REPLAY_HANDLE_HPP
