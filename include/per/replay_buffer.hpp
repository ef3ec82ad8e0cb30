#ifndef PER_REPLAY_BUFFER_HPP
#define PER_REPLAY_BUFFER_HPP

/// @file
/// replay_buffer<Item, Sampler>: a ring of items plus any Sampler.

#include "detail/error.hpp"
#include "detail/sampler_requirements.hpp"
#include "detail/special_members.hpp"
#include "detail/state_validation.hpp"
#include "detail/update_validation.hpp"
#include "replay_batch.hpp"
#include "replay_handle.hpp"
#include "replay_options.hpp"
#include "sample_batch.hpp"
#include "sampler_state.hpp"

#include <cmath>
#include <cstddef>
#include <iterator>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

namespace per {

/// A prioritized experience replay buffer: a ring of `capacity` items plus a Sampler that
/// keeps their priorities. What the PER tutorials' users want, in O(log N):
///
///     per::prioritized_replay<Transition> buffer(100'000, per::replay_options{}.alpha(0.6));
///     buffer.push(transition);                             // gets max_priority()
///     auto batch = buffer.sample(64, beta, rng);          // items, handles, weights, P(i)
///     buffer.update_priorities(batch.handles(), td_errors); // |delta|; epsilon added here
///
/// push fills slots 0, 1, 2, ... and, once full, overwrites the oldest item. The semantics of
/// priorities, sampling modes, weights and handles are the Sampler's (basic_sampler.hpp):
/// new items get the running max priority, stale handles are skipped.
/// prioritized_replay<Item> (prioritized_replay.hpp) is this buffer with the proportional
/// sampler, rank_based_replay<Item> (rank_based.hpp) with the rank-based one.
///
/// Item needs to be copy- or move-constructible and -assignable (whichever push you call).
/// Sampler: what it must offer is written down in detail/sampler_requirements.hpp and checked
/// when the buffer is instantiated (both basic_sampler types qualify): construction from
/// (capacity, replay_options); capacity, size, empty, max_priority, priority_limit, alpha,
/// options; fill(slot) and fill(slot, priority) returning a replay_handle; sample(batch_size,
/// beta, generator, sample_batch&) and sample_into; the three update_priorities forms;
/// priority, probability and handle of a slot; set_alpha; clear.
///
/// Complexity: push, sample of B items and update of B priorities are O(log N), O(B log N),
/// O(B log N); set_alpha and clear are O(N). Memory: the items plus the sampler's index.
/// Exceptions: bad arguments throw std::invalid_argument / std::out_of_range naming the argument
/// and its value, and leave the buffer exactly as before. push is as safe as Item's copy or move
/// assignment when it overwrites an old item (strong if that assignment is). Copy assignment is
/// strong; moves are noexcept and leave a moved-from buffer empty with capacity 0 (see the move
/// constructor for what each member does on it).
template <class Item, class Sampler>
class replay_buffer {
    static_assert(detail::sampler_requirements<Sampler>::value,
                  "per::replay_buffer<Item, Sampler>: Sampler does not meet the Sampler "
                  "requirements (detail/sampler_requirements.hpp names the missing member)");

public:
    /// The stored item type.
    using item_type = Item;
    /// The sampler type.
    using sampler_type = Sampler;
    /// Slot indices and counts.
    using size_type = std::size_t;

    /// O(N). An empty buffer for `capacity` items (storage is reserved up front).
    /// Throws std::invalid_argument if capacity is 0 or an option is invalid.
    explicit replay_buffer(size_type capacity, replay_options options = {})
        : m_sampler(capacity, options) {
        m_items.reserve(capacity);
    }

    /// O(N). An exact copy: the same items, priorities and handles, the same batches from the
    /// same engine state; its storage is reserved up front like a new buffer's. Throws
    /// std::bad_alloc and what copying an Item throws.
    replay_buffer(const replay_buffer& other)
        : m_sampler(other.m_sampler)
        , m_next(other.m_next) {
        m_items.reserve(other.capacity());
        m_items.insert(m_items.end(), other.m_items.begin(), other.m_items.end());
    }
    /// O(1). Takes the other buffer's items and slots. The other buffer is left moved-from:
    /// empty with capacity() 0 and next_slot() 0, options(), alpha() and max_priority() kept.
    /// On it every observer works; item(), priority(), probability(), handle() and
    /// update_priorities with any handle throw std::out_of_range; push throws std::logic_error
    /// ("capacity() = 0: moved from"); sample throws as on an empty buffer; clear() and
    /// set_alpha() work; export_state() gives a state of capacity 0, which import_state (and
    /// checkpoint load) refuses. Assigning a buffer to it, or import_state, makes it usable
    /// again.
    replay_buffer(replay_buffer&& other) noexcept
        : m_sampler(std::move(other.m_sampler))
        , m_items(std::move(other.m_items))
        , m_next(std::exchange(other.m_next, 0)) {}
    /// O(N). Strong guarantee: if copying an Item or allocating throws, *this is unchanged.
    /// Self-assignment does nothing.
    replay_buffer& operator=(const replay_buffer& other) {
        return detail::assign_copy(*this, other);
    }
    /// O(N) (the old items' destructors). As the move constructor; self-move-assignment does
    /// nothing.
    replay_buffer& operator=(replay_buffer&& other) noexcept {
        if (this != &other) {
            m_sampler = std::move(other.m_sampler);
            detail::move_and_empty(m_items, other.m_items);
            m_next = std::exchange(other.m_next, 0);
        }
        return *this;
    }
    ~replay_buffer() = default;

    // --- Adding items -----------------------------------------------------------------------

    /// O(log N). Stores the item with priority max_priority() and returns its handle.
    /// Throws std::logic_error on a moved-from buffer (capacity() 0).
    replay_handle push(const Item& item) {
        check_not_moved_from();
        return store(item);
    }
    /// As above, moving the item in.
    replay_handle push(Item&& item) {
        check_not_moved_from();
        return store(std::move(item));
    }

    /// O(log N). Stores the item with the given raw priority (raising max_priority() if
    /// larger). Throws std::invalid_argument if the priority is negative, not finite or above
    /// the sampler's priority_limit(), std::logic_error on a moved-from buffer; the buffer is
    /// then unchanged.
    replay_handle push(const Item& item, double priority) {
        check_not_moved_from();
        check_push_priority(priority);
        return store(item, priority);
    }
    /// As above, moving the item in.
    replay_handle push(Item&& item, double priority) {
        check_not_moved_from();
        check_push_priority(priority);
        return store(std::move(item), priority);
    }

    /// O(count log N), with the tree work the batch's slots share done once (an actor's batch
    /// of transitions, Ape-X style). Exactly `count` pushes of items[0], items[1], ... in this
    /// order, each with priority max_priority() (or priorities[k] below), bit for bit: the same
    /// slots, generations, priorities and handles (the k-th into handles[k] when `handles` is
    /// not null; a batch larger than capacity() overwrites its own first items, whose handles
    /// are then stale). Throws std::logic_error on a moved-from buffer. Strong guarantee when
    /// Item's copy or its move is noexcept (with only the move noexcept, the batch is copied
    /// into temporary storage first, which may throw std::bad_alloc): the buffer is unchanged if
    /// anything throws. For an Item whose copy and move may both throw, the items go in one push
    /// at a time, and a throwing copy leaves the pushes before it done (each complete).
    void push_batch(const Item* items, size_type count, replay_handle* handles = nullptr) {
        check_not_moved_from();
        store_batch(items, static_cast<const double*>(nullptr), count, handles);
    }

    /// As above, the k-th item with raw priority priorities[k] (float or double; raising
    /// max_priority() if larger). Also throws std::invalid_argument naming priorities[k] if one
    /// is negative, not finite or above the sampler's priority_limit(), before anything changes.
    template <class Priority>
    void push_batch(const Item* items, const Priority* priorities, size_type count,
                    replay_handle* handles = nullptr) {
        static_assert(std::is_arithmetic_v<Priority>, "priorities must be float or double");
        check_not_moved_from();
        for (size_type k = 0; k < count; ++k) {
            check_push_priority(static_cast<double>(priorities[k]), "push_batch", k);
        }
        store_batch(items, priorities, count, handles);
    }

    /// As push_batch(data, size) for a contiguous range of items with data() and size()
    /// (std::vector, std::array, C arrays, std::span).
    template <class Items, std::enable_if_t<!std::is_pointer_v<Items>, int> = 0>
    void push_batch(const Items& items) {
        push_batch(std::data(items), std::size(items));
    }
    /// As push_batch(items, priorities, size) for two contiguous ranges. Throws
    /// std::invalid_argument if their sizes differ.
    template <
        class Items, class Priorities,
        std::enable_if_t<!std::is_pointer_v<Items> && !std::is_arithmetic_v<Priorities>, int> = 0>
    void push_batch(const Items& items, const Priorities& priorities) {
        if (std::size(items) != std::size(priorities)) {
            detail::throw_invalid_argument((std::string(name) + "::push_batch").c_str(),
                                           "priorities.size()", std::size(priorities),
                                           "must equal items.size() = " +
                                               std::to_string(std::size(items)));
        }
        push_batch(std::data(items), std::data(priorities), std::size(items));
    }

    // --- Sampling ---------------------------------------------------------------------------

    /// O(B log N). Draws batch_size items (see basic_sampler::sample for modes,
    /// reproducibility and what it throws: among others std::invalid_argument naming
    /// batch_size for 0 or above per::max_batch_size). The buffer is unchanged on throw.
    template <class Generator>
    replay_batch<Item> sample(size_type batch_size, double beta, Generator& generator) {
        replay_batch<Item> batch;
        sample(batch_size, beta, generator, batch);
        return batch;
    }

    /// As above, into an existing batch whose storage is reused (no allocation once it has
    /// held batch_size items).
    template <class Generator>
    void sample(size_type batch_size, double beta, Generator& generator, replay_batch<Item>& out) {
        m_sampler.sample(batch_size, beta, generator, detail::replay_batch_access::indices(out));
        detail::replay_batch_access::set_items(out, m_items.data());
    }

    /// As above, writing into caller storage of batch_size elements each (no allocation).
    /// The sampled items are item(handles[k].slot). Also throws std::invalid_argument naming
    /// handles, weights or probabilities if it is null, before drawing.
    template <class Generator>
    void sample_into(size_type batch_size, double beta, Generator& generator,
                     replay_handle* handles, double* weights, double* probabilities) {
        m_sampler.sample_into(batch_size, beta, generator, handles, weights, probabilities);
    }

    /// The sampler's draw_into: handles and probabilities as sample_into draws them, without
    /// importance-sampling weights. Throws as the sampler does; unchanged on throw.
    template <class Generator>
    void draw_into(size_type batch_size, Generator& generator, replay_handle* handles,
                   double* probabilities) {
        m_sampler.draw_into(batch_size, generator, handles, probabilities);
    }

    // --- Priority updates -------------------------------------------------------------------

    /// O(B log N). New raw priorities (|TD error|; epsilon is added here) for sampled items;
    /// stale handles (items overwritten since they were sampled) are skipped. Takes any two
    /// contiguous ranges of equal size (std::vector, std::array, std::span) of replay_handle
    /// and of float or double. Returns the number applied. Throws, before applying any, for
    /// sizes that differ, a handle slot >= capacity() or a bad priority.
    template <class Handles, class Priorities>
    size_type update_priorities(const Handles& handles, const Priorities& priorities) {
        return m_sampler.update_priorities(handles, priorities);
    }
    /// As above, for count handles and priorities at two pointers.
    template <class Priority>
    size_type update_priorities(const replay_handle* handles, const Priority* priorities,
                                size_type count) {
        return m_sampler.update_priorities(handles, priorities, count);
    }
    /// One update; returns whether it applied (false for a stale handle).
    bool update_priority(replay_handle handle, double priority) {
        return m_sampler.update_priority(handle, priority);
    }

    // --- Observers and the rest -------------------------------------------------------------

    /// Number of items present.
    size_type size() const noexcept { return m_sampler.size(); }
    /// The number of slots.
    size_type capacity() const noexcept { return m_sampler.capacity(); }
    /// Whether no item is present.
    bool empty() const noexcept { return m_sampler.empty(); }
    /// The priority a push without one gives.
    double max_priority() const noexcept { return m_sampler.max_priority(); }
    /// The priority exponent.
    double alpha() const noexcept { return m_sampler.alpha(); }
    /// The options, with the alpha of the last set_alpha.
    const replay_options& options() const noexcept { return m_sampler.options(); }

    /// O(N) rewrite of every sampling weight (see basic_sampler::set_alpha).
    void set_alpha(double alpha) { m_sampler.set_alpha(alpha); }
    /// set_alpha in two steps (see basic_sampler::prepare_alpha): the first may throw and
    /// changes nothing, the second never throws.
    using alpha_change = typename Sampler::alpha_change;
    /// O(N). Validates alpha and computes the new weights; the buffer is unchanged.
    alpha_change prepare_alpha(double alpha) const { return m_sampler.prepare_alpha(alpha); }
    /// O(1). Installs what prepare_alpha computed on this buffer, unchanged since. Never throws.
    void install_alpha(alpha_change&& change) noexcept {
        m_sampler.install_alpha(std::move(change));
    }

    /// O(N). Removes every item. Handles from before stay stale; max_priority() is kept.
    void clear() noexcept {
        m_sampler.clear();
        m_items.clear();
        m_next = 0;
    }

    /// The item in `slot`. Throws std::out_of_range if slot >= size().
    const Item& item(size_type slot) const { return m_items[checked_slot("item", slot)]; }
    /// The raw priority of the item in `slot`. Throws std::out_of_range if slot >= size().
    double priority(size_type slot) const {
        return m_sampler.priority(checked_slot("priority", slot));
    }
    /// P(i) of the item in `slot`. Throws std::out_of_range if slot >= size().
    double probability(size_type slot) const {
        return m_sampler.probability(checked_slot("probability", slot));
    }
    /// The current handle of the item in `slot`. Throws std::out_of_range if slot >= size().
    replay_handle handle(size_type slot) const {
        return m_sampler.handle(checked_slot("handle", slot));
    }

    /// The slot the next push writes to.
    size_type next_slot() const noexcept { return m_next; }

    /// The sampler (priorities, generations, trees), read-only.
    const Sampler& sampler() const noexcept { return m_sampler; }

    // --- State export and import (sampler_state.hpp) ----------------------------------------

    /// O(N). The complete plain state: the sampler's (sampler().export_state()), the ring
    /// position and a copy of the items. May throw std::bad_alloc and what copying an Item
    /// throws.
    replay_state<Item> export_state() const { return {m_sampler.export_state(), m_next, m_items}; }
    /// O(N). The sampler's part of export_state() alone, without copying the items (what
    /// checkpoint.hpp's save writes before it writes item(0), ..., item(size() - 1)).
    sampler_state export_sampler_state() const { return m_sampler.export_state(); }

    /// O(N) (plus O(N log N) for the rank order of a rank-based sampler). Replaces the whole
    /// buffer, capacity and options included, with the one `state` describes, taking its items
    /// by move. Throws std::invalid_argument naming the field and its value unless the sampler
    /// part is one Sampler::import_state accepts (see there) and the ring is one pushes can
    /// make: one item per filled slot, the filled slots exactly 0..size-1, next_slot equal to
    /// the size while the buffer is not full and below the capacity once it is, and fill
    /// stamps (rank-based) growing along the ring from its oldest slot; std::bad_alloc and what
    /// moving an Item throws (while reserving the storage). Unchanged on throw.
    void import_state(replay_state<Item> state) {
        const std::string where = std::string(name) + "::import_state";
        static_assert(std::is_nothrow_move_assignable_v<Sampler>,
                      "import_state replaces the sampler by a noexcept move (strong guarantee)");
        Sampler sampler(1); // a placeholder: import_state replaces its capacity and options
        sampler.import_state(state.sampler);
        detail::check_ring_state(where.c_str(), state.sampler, state.next_slot, state.items.size());
        state.items.reserve(sampler.capacity()); // push never reallocates
        // Nothing below throws.
        m_sampler = std::move(sampler);
        m_items = std::move(state.items);
        m_next = state.next_slot;
    }

private:
    static constexpr const char* name = "per::prioritized_replay";

    void check_not_moved_from() const {
        if (capacity() == 0) {
            detail::throw_moved_from((std::string(name) + "::push").c_str());
        }
    }

    void check_push_priority(double priority, const char* member = "push",
                             size_type position = static_cast<size_type>(-1)) const {
        if (!(std::isfinite(priority) && priority >= 0.0 &&
              priority <= m_sampler.priority_limit())) {
            const std::string argument = position == static_cast<size_type>(-1)
                                             ? std::string("priority")
                                             : "priorities[" + std::to_string(position) + "]";
            detail::reject_priority(
                (std::string(name) + "::" + member).c_str(), argument.c_str(), priority,
                "must be <= " + detail::format_value(m_sampler.priority_limit()) +
                    ", the sampler's priority_limit()");
        }
    }

    // The items of a validated batch go into the ring first (staged when only a noexcept move
    // can make that all-or-nothing), then the sampler fills their slots in one batch; a null
    // `priorities` means max_priority() for each.
    template <class Priority>
    void store_batch(const Item* items, const Priority* priorities, size_type count,
                     replay_handle* handles) {
        if (count == 0) {
            return;
        }
        if constexpr (std::is_nothrow_copy_constructible_v<Item> &&
                      std::is_nothrow_copy_assignable_v<Item>) {
            write_items(items, count);
        } else if constexpr (std::is_nothrow_move_constructible_v<Item> &&
                             std::is_nothrow_move_assignable_v<Item>) {
            std::vector<Item> staged(items, items + count); // may throw: nothing changed yet
            write_items(std::make_move_iterator(staged.begin()), count);
        } else {
            for (size_type k = 0; k < count; ++k) {
                const replay_handle handle =
                    priorities != nullptr ? store(items[k], static_cast<double>(priorities[k]))
                                          : store(items[k]);
                if (handles != nullptr) {
                    handles[k] = handle;
                }
            }
            return;
        }
        // Nothing below throws: the slots are in range and the priorities validated.
        constexpr size_type chunk = 256;
        size_type slots[chunk];
        size_type slot = m_next;
        for (size_type begin = 0; begin < count; begin += chunk) {
            const size_type size = count - begin < chunk ? count - begin : chunk;
            for (size_type q = 0; q < size; ++q) {
                slots[q] = slot;
                slot = slot + 1 == capacity() ? 0 : slot + 1;
            }
            replay_handle* out = handles != nullptr ? handles + begin : nullptr;
            if (priorities != nullptr) {
                m_sampler.fill_batch(slots, priorities + begin, size, out);
            } else {
                m_sampler.fill_batch(slots, size, out);
            }
        }
        m_next = slot;
    }

    // Writes count items from `source` at the ring positions from m_next on (the ring itself
    // does not move here). Each write is noexcept by the caller's choice of source.
    template <class Source>
    void write_items(Source source, size_type count) noexcept {
        size_type slot = m_next;
        for (size_type k = 0; k < count; ++k, ++source) {
            if (m_items.size() < capacity()) {
                m_items.push_back(*source); // never reallocates: reserved
            } else {
                m_items[slot] = *source;
            }
            slot = slot + 1 == capacity() ? 0 : slot + 1;
        }
    }

    // Stores the item at the ring position, then fills its slot (the priority was validated,
    // and the item is stored: the fill does not throw).
    template <class Value, class... Priority>
    replay_handle store(Value&& item, Priority... priority) {
        const size_type slot = m_next;
        if (m_items.size() < capacity()) {
            m_items.push_back(std::forward<Value>(item)); // never reallocates: reserved
        } else {
            m_items[slot] = std::forward<Value>(item);
        }
        const replay_handle handle = m_sampler.fill(slot, priority...);
        m_next = slot + 1 == capacity() ? 0 : slot + 1;
        return handle;
    }

    size_type checked_slot(const char* member, size_type slot) const {
        if (slot >= m_items.size()) {
            detail::throw_out_of_range((std::string(name) + "::" + member).c_str(), "slot", slot,
                                       "must be < size() = " + std::to_string(m_items.size()));
        }
        return slot;
    }

    Sampler m_sampler;
    std::vector<Item> m_items;
    size_type m_next = 0;
};

} // namespace per

#endif // PER_REPLAY_BUFFER_HPP
