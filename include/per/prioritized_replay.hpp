#ifndef PER_PRIORITIZED_REPLAY_HPP
#define PER_PRIORITIZED_REPLAY_HPP

#include "detail/error.hpp"
#include "prioritized_sampler.hpp"
#include "replay_batch.hpp"
#include "replay_options.hpp"
#include "sample_batch.hpp"

#include <cstddef>
#include <string>
#include <utility>
#include <vector>

namespace per {

namespace detail {
struct checkpoint_access; // checkpoint.hpp: save / load of the private state
} // namespace detail

// A prioritized experience replay buffer: a ring of `capacity` items plus a sampler that keeps
// their priorities. What the PER tutorials' users want, in O(log N):
//
//     per::prioritized_replay<Transition> buffer(100'000, per::replay_options{}.alpha(0.6));
//     buffer.push(transition);                             // gets max_priority()
//     auto batch = buffer.sample(64, beta, rng);          // items, handles, weights, P(i)
//     buffer.update_priorities(batch.handles(), td_errors); // |delta|; epsilon added here
//
// push fills slots 0, 1, 2, ... and, once full, overwrites the oldest item. The semantics of
// priorities, sampling modes, weights and handles are those of basic_prioritized_sampler
// (prioritized_sampler.hpp): P(i) = (p_i + epsilon)^alpha / sum over the items present, new
// items get the running max priority, stale handles are skipped.
//
// Item needs to be copy- or move-constructible and -assignable (whichever push you call).
// Sampler is basic_prioritized_sampler<...> (the default: proportional priorities on a
// double-precision sum tree) or rank_based_sampler (rank_based.hpp: rank-based priorities).
//
// Complexity: push, sample of B items and update of B priorities are O(log N), O(B log N),
// O(B log N); set_alpha and clear are O(N). Memory: the items plus about 24 bytes per slot.
// Exceptions: bad arguments throw std::invalid_argument / std::out_of_range naming the argument
// and its value, and leave the buffer exactly as before. push is as safe as Item's copy or move
// assignment when it overwrites an old item (strong if that assignment is).
template <class Item, class Sampler = prioritized_sampler>
class prioritized_replay {
public:
    using item_type = Item;
    using sampler_type = Sampler;
    using size_type = std::size_t;

    // O(N). An empty buffer for `capacity` items (storage is reserved up front).
    // Throws std::invalid_argument if capacity is 0 or an option is invalid.
    explicit prioritized_replay(size_type capacity, replay_options options = {})
        : m_sampler(capacity, options) {
        m_items.reserve(capacity);
    }

    // --- Adding items -----------------------------------------------------------------------

    // O(log N). Stores the item with priority max_priority() and returns its handle.
    replay_handle push(const Item& item) { return emplace_item(item, m_sampler.max_priority()); }
    replay_handle push(Item&& item) {
        return emplace_item(std::move(item), m_sampler.max_priority());
    }

    // O(log N). Stores the item with the given raw priority (raising max_priority() if larger).
    // Throws std::invalid_argument if the priority is negative, not finite or too large; the
    // buffer is then unchanged.
    replay_handle push(const Item& item, double priority) {
        m_sampler.validate_priority("per::prioritized_replay::push", "priority", priority);
        return emplace_item(item, priority);
    }
    replay_handle push(Item&& item, double priority) {
        m_sampler.validate_priority("per::prioritized_replay::push", "priority", priority);
        return emplace_item(std::move(item), priority);
    }

    // --- Sampling ---------------------------------------------------------------------------

    // O(B log N). Draws batch_size items (see basic_prioritized_sampler::sample for modes,
    // reproducibility and what it throws). The buffer is unchanged on throw.
    template <class Generator>
    replay_batch<Item> sample(size_type batch_size, double beta, Generator& generator) {
        replay_batch<Item> batch;
        sample(batch_size, beta, generator, batch);
        return batch;
    }

    // As above, into an existing batch whose storage is reused (no allocation once it has
    // held batch_size items).
    template <class Generator>
    void sample(size_type batch_size, double beta, Generator& generator, replay_batch<Item>& out) {
        m_sampler.sample(batch_size, beta, generator, detail::batch_writer::batch(out));
        detail::batch_writer::set_items(out, m_items.data());
    }

    // As above, writing into caller storage of batch_size elements each (no allocation).
    // The sampled items are item(handles[k].slot).
    template <class Generator>
    void sample_into(size_type batch_size, double beta, Generator& generator,
                     replay_handle* handles, double* weights, double* probabilities) {
        m_sampler.sample_into(batch_size, beta, generator, handles, weights, probabilities);
    }

    // --- Priority updates -------------------------------------------------------------------

    // O(B log N). New raw priorities (|TD error|; epsilon is added here) for sampled items;
    // stale handles (items overwritten since they were sampled) are skipped. Takes any two
    // contiguous ranges of equal size (std::vector, std::array, std::span) of replay_handle
    // and of float or double. Returns the number applied. Throws, before applying any, for
    // sizes that differ, a handle slot >= capacity() or a bad priority.
    template <class Handles, class Priorities>
    size_type update_priorities(const Handles& handles, const Priorities& priorities) {
        return m_sampler.update_priorities(handles, priorities);
    }
    template <class Priority>
    size_type update_priorities(const replay_handle* handles, const Priority* priorities,
                                size_type count) {
        return m_sampler.update_priorities(handles, priorities, count);
    }
    bool update_priority(replay_handle handle, double priority) {
        return m_sampler.update_priority(handle, priority);
    }

    // --- Observers and the rest -------------------------------------------------------------

    size_type size() const noexcept { return m_sampler.size(); }
    size_type capacity() const noexcept { return m_sampler.capacity(); }
    bool empty() const noexcept { return m_sampler.empty(); }
    double max_priority() const noexcept { return m_sampler.max_priority(); }
    double alpha() const noexcept { return m_sampler.alpha(); }
    const replay_options& options() const noexcept { return m_sampler.options(); }

    // O(N) rewrite of every sampling weight from the stored raw priorities (see
    // basic_prioritized_sampler::set_alpha).
    void set_alpha(double alpha) { m_sampler.set_alpha(alpha); }

    // O(N). Removes every item. Handles from before stay stale; max_priority() is kept.
    void clear() noexcept {
        m_sampler.clear();
        m_items.clear();
        m_next = 0;
    }

    // The item in `slot`. Throws std::out_of_range if slot >= size().
    const Item& item(size_type slot) const {
        return m_items[checked_slot("per::prioritized_replay::item", slot)];
    }
    // The raw priority, P(i) and current handle of the item in `slot`. Throw std::out_of_range
    // if slot >= size().
    double priority(size_type slot) const {
        return m_sampler.priority(checked_slot("per::prioritized_replay::priority", slot));
    }
    double probability(size_type slot) const {
        return m_sampler.probability(checked_slot("per::prioritized_replay::probability", slot));
    }
    replay_handle handle(size_type slot) const {
        return m_sampler.handle(checked_slot("per::prioritized_replay::handle", slot));
    }

    // The slot the next push writes to.
    size_type next_slot() const noexcept { return m_next; }

    // The sampler (priorities, generations, trees), read-only.
    const Sampler& sampler() const noexcept { return m_sampler; }

private:
    friend struct detail::checkpoint_access;
    template <class Value>
    replay_handle emplace_item(Value&& item, double priority) {
        const size_type slot = m_next;
        if (m_items.size() < capacity()) {
            m_items.push_back(std::forward<Value>(item)); // never reallocates: reserved
        } else {
            m_items[slot] = std::forward<Value>(item);
        }
        // The priority was validated and the item is stored: nothing below throws.
        const replay_handle handle = m_sampler.fill_validated(slot, priority);
        m_next = slot + 1 == capacity() ? 0 : slot + 1;
        return handle;
    }

    size_type checked_slot(const char* where, size_type slot) const {
        if (slot >= m_items.size()) {
            detail::throw_out_of_range(where, "slot", slot,
                                       "must be < size() = " + std::to_string(m_items.size()));
        }
        return slot;
    }

    Sampler m_sampler;
    std::vector<Item> m_items;
    size_type m_next = 0;
};

} // namespace per

#endif // PER_PRIORITIZED_REPLAY_HPP
