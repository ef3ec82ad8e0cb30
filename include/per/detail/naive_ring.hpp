#ifndef PER_DETAIL_NAIVE_RING_HPP
#define PER_DETAIL_NAIVE_RING_HPP

#include "../importance.hpp"
#include "../random.hpp"
#include "../replay_batch.hpp"
#include "../replay_options.hpp"
#include "../sample_batch.hpp"
#include "../sampler_state.hpp"
#include "error.hpp"
#include "special_members.hpp"
#include "state_validation.hpp"
#include "update_validation.hpp"

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <iterator>
#include <limits>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

namespace per::detail {

// What the two O(N) reference buffers, naive_prioritized_replay (naive_replay.hpp) and
// naive_rank_based_replay (naive_rank_based.hpp), have in common, written once: a ring of items
// beside an array of raw priorities and one of generations, the running max priority, push,
// priority updates, the observers, and sampling the way the tutorials do it: running sums of a
// list of weights, searched for each prefix value. Each reference adds only what makes it
// proportional or rank-based: which priorities and alphas it accepts, and the list of weights a
// sample draws from. The class comments of the two references state the semantics.
//
// A CRTP base: Derived is the reference buffer. It may keep the following private if it
// befriends this class, and it provides
// - static constexpr const char* name: the class its error messages name, e.g.
//   "per::naive_prioritized_replay" ("<name>::push" and so on for the members below);
// - bool accepts_priority(double) const, and check_priority(where, argument, priority) const,
//   which throws std::invalid_argument naming `argument` for a priority accepts_priority refuses;
// - check_sample(where, batch_size, beta) const: validates a sample call (starting with
//   check_sample_arguments), throwing before anything changes, and returns what the sample draws
//   from: an object with `weights` (a std::vector<double>, one weight per position, some of them
//   non-zero), `smallest_weight` (the least non-zero one: the least likely item's, for global_max
//   normalization) and slot(position) (the slot of the item at that position);
// - on_push(slot) noexcept: told that a push has just filled `slot`, after everything else;
// - static constexpr stamp_rule state_stamps, export_stamps(sampler_state&) const and
//   import_stamps(where, prefix, const sampler_state&): whether its state carries fill stamps
//   (the push order that breaks ties), writing them into an exported state, and validating
//   those of a state being imported (throwing std::invalid_argument before changing anything)
//   and taking them, on a buffer just constructed for the import.
// Its constructor validates what it adds to the options and then reserves the storage of the
// items (m_items.reserve(capacity)), so that push never reallocates.
//
// Complexity: push and update of one priority O(1); sample of B items O(N + B log N), O(B N)
// without replacement, plus Derived's check_sample; observers O(1); clear O(N) (the items'
// destructors).
// Exceptions: every public member validates its arguments and throws std::invalid_argument /
// std::out_of_range naming the argument and its value before anything changes: the buffer (and
// an output batch) is then exactly as before. push is as safe as Item's copy or move when it
// stores the item.
template <class Derived, class Item>
class naive_ring {
public:
    using item_type = Item;
    using size_type = std::size_t;

    // --- Adding items -----------------------------------------------------------------------

    // O(1). Stores the item with priority max_priority() and returns its handle {slot,
    // generation}: the slot after the last one written (slot 0 first, then around the ring,
    // overwriting the oldest item once capacity() items are stored), whose generation this
    // increments.
    // Throws std::logic_error on a moved-from buffer (capacity() 0).
    replay_handle push(const Item& item) {
        check_not_moved_from();
        return store_item(item, m_max_priority);
    }
    replay_handle push(Item&& item) {
        check_not_moved_from();
        return store_item(std::move(item), m_max_priority);
    }

    // O(1). Stores the item with the given raw priority (raising max_priority() if larger).
    // Throws std::invalid_argument naming `priority` if Derived does not accept it (see its
    // class comment); the buffer is then unchanged.
    replay_handle push(const Item& item, double priority) {
        check_not_moved_from();
        check_push_priority(priority);
        return store_item(item, priority);
    }
    replay_handle push(Item&& item, double priority) {
        check_not_moved_from();
        check_push_priority(priority);
        return store_item(std::move(item), priority);
    }

    // --- Sampling ---------------------------------------------------------------------------

    // O(N + B log N), O(B N) without replacement, plus the cost of Derived's weights. Draws
    // batch_size items in options().sampling() mode, with importance-sampling weights for the
    // given beta, using `generator` (any UniformRandomBitGenerator) exactly as the O(log N)
    // buffers do, from the weights w of Derived's positions:
    // - stratified: the k-th draw is the prefix value (k + U_k) * total / B;
    // - independent: U_k * total;
    // - without replacement: U_k * (the total of the positions not drawn yet in this batch),
    //   searched among those positions only;
    // where U_k = per::uniform_unit(generator) and total is the sum of w in position order.
    // The drawn position is the first whose running sum of weights exceeds the prefix value
    // (the last position with a non-zero weight if rounding put the value at or past the
    // total), and the drawn item the one at that position. probabilities()[k] is the item's
    // single-draw P(i) = w / total, also without replacement.
    // Throws std::invalid_argument if batch_size is 0 or beta is not in [0, 1];
    // std::out_of_range if there is nothing to sample or, without replacement, too little (see
    // Derived); std::invalid_argument if batch_size > per::max_batch_size; std::bad_alloc. The
    // buffer and `out` are then unchanged; they are also unchanged if the generator throws.
    template <class Generator>
    replay_batch<Item> sample(size_type batch_size, double beta, Generator& generator) {
        replay_batch<Item> batch;
        sample(batch_size, beta, generator, batch);
        return batch;
    }

    // As above, into an existing batch (whose storage is reused).
    template <class Generator>
    void sample(size_type batch_size, double beta, Generator& generator, replay_batch<Item>& out) {
        static const std::string where = qualified("sample");
        const auto distribution = derived().check_sample(where.c_str(), batch_size, beta);
        check_batch_size_limit(where.c_str(), batch_size);
        std::vector<replay_handle> handles(batch_size);
        std::vector<double> weights(batch_size);
        std::vector<double> probabilities(batch_size);
        sample_checked(distribution, batch_size, beta, generator, handles.data(), weights.data(),
                       probabilities.data());
        // Validation and the generator have run: only growing `out` (std::bad_alloc) can
        // still throw.
        sample_batch& batch = replay_batch_access::indices(out);
        sample_batch_access::resize(batch, batch_size);
        for (size_type k = 0; k < batch_size; ++k) {
            sample_batch_access::handles(batch)[k] = handles[k];
            sample_batch_access::slots(batch)[k] = handles[k].slot;
            sample_batch_access::weights(batch)[k] = weights[k];
            sample_batch_access::probabilities(batch)[k] = probabilities[k];
        }
        replay_batch_access::set_items(out, m_items.data());
    }

    // As above, writing into caller storage of batch_size elements each. The sampled items are
    // item(handles[k].slot). Also throws std::invalid_argument naming handles, weights or
    // probabilities if it is null (before drawing). If the generator throws, the buffer is
    // unchanged and the caller's arrays hold unspecified values.
    template <class Generator>
    void sample_into(size_type batch_size, double beta, Generator& generator,
                     replay_handle* handles, double* weights, double* probabilities) {
        static const std::string where = qualified("sample_into");
        const auto distribution = derived().check_sample(where.c_str(), batch_size, beta);
        check_batch_size_limit(where.c_str(), batch_size);
        check_sample_outputs(where.c_str(), batch_size, handles, weights, probabilities);
        sample_checked(distribution, batch_size, beta, generator, handles, weights, probabilities);
    }

    // --- Priority updates -------------------------------------------------------------------

    // O(count). Sets the raw priority of each item named by handles[k] to priorities[k], in
    // order (for a repeated handle the last one wins), raising max_priority() for each applied
    // one that is larger. Stale handles (the slot is empty, or was refilled since the handle
    // was made) are skipped. Returns the number applied. Priorities may be any arithmetic type
    // (float, double). Throws, before applying any: std::out_of_range naming handles[k].slot if
    // a slot >= capacity(); std::invalid_argument naming priorities[k] if Derived does not
    // accept a priority. Unchanged on throw.
    template <class Priority>
    size_type update_priorities(const replay_handle* handles, const Priority* priorities,
                                size_type count) {
        static const std::string where = qualified("update_priorities");
        const Derived& self = derived();
        detail::validate_updates(
            [] { return where; }, handles, priorities, count, m_capacity,
            [&self](double priority) { return self.accepts_priority(priority); },
            [&self](const char* argument, double priority) {
                self.check_priority(where.c_str(), argument, priority);
            });
        size_type applied = 0;
        for (size_type k = 0; k < count; ++k) {
            const replay_handle handle = handles[k];
            const bool present = handle.slot < m_items.size();
            if (present && m_generations[handle.slot] == handle.generation) {
                const double priority = static_cast<double>(priorities[k]);
                m_priorities[handle.slot] = priority;
                m_max_priority = std::max(m_max_priority, priority);
                ++applied;
            }
        }
        return applied;
    }

    // As above for any two contiguous ranges with std::data and std::size (std::vector,
    // std::array, C arrays, std::span). Throws std::invalid_argument naming both sizes if they
    // differ.
    template <class Handles, class Priorities>
    size_type update_priorities(const Handles& handles, const Priorities& priorities) {
        static const std::string where = qualified("update_priorities");
        detail::check_same_size([] { return where; }, handles, priorities);
        return update_priorities(std::data(handles), std::data(priorities), std::size(handles));
    }

    // One update; returns whether it applied (false for a stale handle). Throws as above.
    bool update_priority(replay_handle handle, double priority) {
        return update_priorities(&handle, &priority, 1) == 1;
    }

    // --- Observers and the rest -------------------------------------------------------------

    // Number of items present: the N of the importance-sampling weights.
    size_type size() const noexcept { return m_items.size(); }
    size_type capacity() const noexcept { return m_capacity; }
    bool empty() const noexcept { return m_items.empty(); }
    // The priority a push without one gives: the largest of options().initial_max_priority()
    // and every priority given since construction (by push or by an applied update). It never
    // decreases, not even on clear().
    double max_priority() const noexcept { return m_max_priority; }
    double alpha() const noexcept { return m_options.alpha(); }
    const replay_options& options() const noexcept { return m_options; }

    // O(N). Removes every item. Generations are kept, so handles from before stay stale after
    // their slots are filled again; max_priority() is kept too. The next push goes to slot 0.
    void clear() noexcept {
        m_items.clear();
        m_next = 0;
    }

    // The item in `slot`. Throws std::out_of_range if slot >= size().
    const Item& item(size_type slot) const {
        static const std::string where = qualified("item");
        check_present(where.c_str(), slot);
        return m_items[slot];
    }

    // The raw priority p of the item in `slot`. Throws std::out_of_range if slot >= size().
    double priority(size_type slot) const {
        static const std::string where = qualified("priority");
        check_present(where.c_str(), slot);
        return m_priorities[slot];
    }

    // The handle of the item now in `slot`. Throws std::out_of_range if slot >= size().
    replay_handle handle(size_type slot) const {
        static const std::string where = qualified("handle");
        check_present(where.c_str(), slot);
        return {slot, m_generations[slot]};
    }

    // The slot the next push writes to.
    size_type next_slot() const noexcept { return m_next; }

    // --- State export and import (sampler_state.hpp) ----------------------------------------

    // O(N). The buffer's priorities, generations, options and max priority (and Derived's
    // push stamps) as a sampler_state: slots 0..size()-1 filled, with their raw priorities.
    // Without the items (what checkpoint.hpp's save writes before item(0), ...). May throw
    // std::bad_alloc.
    sampler_state export_sampler_state() const {
        sampler_state state;
        state.options = m_options;
        state.max_priority = m_max_priority;
        state.generations = m_generations;
        state.filled.assign(m_capacity, 0);
        std::fill_n(state.filled.begin(), m_items.size(), static_cast<unsigned char>(1));
        state.priorities.assign(m_priorities.begin(), m_priorities.begin() + m_items.size());
        derived().export_stamps(state);
        return state;
    }

    // O(N). The complete plain state: export_sampler_state(), the ring position and a copy of
    // the items. May throw std::bad_alloc and what copying an Item throws.
    replay_state<Item> export_state() const { return {export_sampler_state(), m_next, m_items}; }

    // O(N) (O(N log N) with push stamps). Replaces the whole buffer, capacity and options
    // included, with the one `state` describes, taking its items by move. Throws
    // std::invalid_argument naming the field and its value unless Derived could hold the
    // state: options valid (as the constructor checks them, against the capacity), the
    // capacity within what the sums can index, one filled flag per slot, each 0 or 1, one raw
    // priority per filled slot, each accepted by Derived, a max priority that is finite, >=
    // options.initial_max_priority(), >= every raw priority and accepted too, Derived's push
    // stamps (see its class comment), one item per filled slot, the filled slots exactly
    // 0..size-1 and next_slot equal to the size while the buffer is not full and below the
    // capacity once it is; std::bad_alloc and what moving an Item throws (while reserving the
    // storage). Unchanged on throw.
    void import_state(replay_state<Item> state) {
        static_assert(std::is_nothrow_move_assignable_v<Derived>,
                      "import_state replaces the buffer by a noexcept move (strong guarantee)");
        static const std::string where_name = qualified("import_state");
        const char* where = where_name.c_str();
        const char* prefix = "state.sampler.";
        const sampler_state& sampler = state.sampler;
        const size_type size =
            check_state_layout(where, prefix, sampler, capacity_limit(), Derived::state_stamps);
        Derived staged = construct_for_import<Derived>(where, prefix, sampler);
        check_state_priorities(
            where, prefix, sampler,
            [&staged](double priority) { return staged.accepts_priority(priority); },
            [&staged, where](const char* argument, double priority) {
                staged.check_priority(where, argument, priority);
            });
        staged.import_stamps(where, prefix, sampler);
        check_ring_state(where, sampler, state.next_slot, state.items.size());
        naive_ring& ring = staged;
        std::copy_n(sampler.priorities.begin(), size, ring.m_priorities.begin());
        ring.m_generations = sampler.generations;
        ring.m_max_priority = sampler.max_priority;
        state.items.reserve(ring.m_capacity); // push never reallocates
        ring.m_items = std::move(state.items);
        ring.m_next = state.next_slot;
        derived() = std::move(staged); // nothing above changed *this
    }

protected:
    // O(N). An empty ring for `capacity` items. Throws std::invalid_argument naming Derived if
    // capacity is 0 or an option is invalid (replay_options::validate), std::length_error if
    // capacity is too large for the sums of weights to be indexed. Reserves no item storage:
    // Derived does that once it has validated the rest (see the class comment).
    naive_ring(size_type capacity, const replay_options& options)
        : m_options(validated(options))
        , m_capacity(checked_capacity(capacity))
        , m_priorities(capacity, 0.0)
        , m_generations(capacity, 0)
        , m_max_priority(options.initial_max_priority()) {}

    // O(N). An exact copy, its item storage reserved up front like a new ring's. Throws
    // std::bad_alloc and what copying an Item throws.
    naive_ring(const naive_ring& other)
        : m_options(other.m_options)
        , m_capacity(other.m_capacity)
        , m_priorities(other.m_priorities)
        , m_generations(other.m_generations)
        , m_next(other.m_next)
        , m_max_priority(other.m_max_priority) {
        m_items.reserve(m_capacity);
        m_items.insert(m_items.end(), other.m_items.begin(), other.m_items.end());
    }
    // O(1). Takes the other ring's items and slots; the other ring is left moved-from: empty,
    // capacity() 0, next_slot() 0, options and max_priority() kept (see the references' class
    // comments for what each member does then).
    naive_ring(naive_ring&& other) noexcept
        : m_options(other.m_options)
        , m_capacity(std::exchange(other.m_capacity, 0))
        , m_items(std::move(other.m_items))
        , m_priorities(std::move(other.m_priorities))
        , m_generations(std::move(other.m_generations))
        , m_next(std::exchange(other.m_next, 0))
        , m_max_priority(other.m_max_priority) {}
    // Derived's copy assignment is the strong one (detail::assign_copy); no member-wise copy.
    naive_ring& operator=(const naive_ring&) = delete;
    // As the move constructor; self-move-assignment does nothing.
    naive_ring& operator=(naive_ring&& other) noexcept {
        if (this != &other) {
            m_options = other.m_options;
            m_capacity = std::exchange(other.m_capacity, 0);
            move_and_empty(m_items, other.m_items);
            move_and_empty(m_priorities, other.m_priorities);
            move_and_empty(m_generations, other.m_generations);
            m_next = std::exchange(other.m_next, 0);
            m_max_priority = other.m_max_priority;
        }
        return *this;
    }
    ~naive_ring() = default;

    // O(1). Throws std::out_of_range naming `slot` if no item is in it (slot >= size()).
    void check_present(const char* where, size_type slot) const {
        if (slot >= m_items.size()) {
            throw_out_of_range(where, "slot", slot,
                               "must be < size() = " + std::to_string(m_items.size()));
        }
    }

    // O(1). The checks every sample call starts with, in this order: std::invalid_argument if
    // batch_size is 0 or beta is not in [0, 1], std::out_of_range if the buffer is empty.
    // Derived's check_sample calls it first, then checks what only it knows.
    void check_sample_arguments(const char* where, size_type batch_size, double beta) const {
        if (batch_size == 0) {
            throw_invalid_argument(where, "batch_size", batch_size, "must be > 0");
        }
        check_beta(where, beta);
        if (m_items.empty()) {
            throw std::out_of_range(std::string(where) +
                                    ": nothing to sample: the buffer is empty");
        }
    }

    // O(n). The sum of the values, in order.
    static double sum(const std::vector<double>& values) {
        double total = 0.0;
        for (double value : values) {
            total += value;
        }
        return total;
    }

    replay_options m_options;
    size_type m_capacity;
    std::vector<Item> m_items;                // the items present: slots 0..size()-1
    std::vector<double> m_priorities;         // raw priorities p, per slot
    std::vector<std::uint32_t> m_generations; // pushes per slot, for stale-handle checks
    size_type m_next = 0;                     // the slot the next push writes to
    double m_max_priority;                    // running max of all priorities given

private:
    const Derived& derived() const noexcept { return static_cast<const Derived&>(*this); }
    Derived& derived() noexcept { return static_cast<Derived&>(*this); }

    // "<Derived::name>::<function>", the `where` of an error message. Each member keeps its
    // own in a function-local static, built once, on first use.
    static std::string qualified(const char* function) {
        return std::string(Derived::name) + "::" + function;
    }

    static const replay_options& validated(const replay_options& options) {
        options.validate(Derived::name);
        return options;
    }
    // The largest capacity: the sums of weights are indexed with room to spare.
    static constexpr size_type capacity_limit() noexcept {
        return std::numeric_limits<size_type>::max() / (4 * sizeof(double));
    }
    static size_type checked_capacity(size_type capacity) {
        check_capacity(Derived::name, capacity, capacity_limit());
        return capacity;
    }

    void check_not_moved_from() const {
        if (m_capacity == 0) {
            throw_moved_from(qualified("push").c_str());
        }
    }

    void check_push_priority(double priority) const {
        static const std::string where = qualified("push");
        derived().check_priority(where.c_str(), "priority", priority);
    }

    // The first position whose running sum of weights exceeds u: cumulative[i] is the sum of
    // weights[0..i]. A u at or past the last sum (rounding) takes the last position with a
    // non-zero weight. Never returns a weight-0 position: cumulative[i] > u >= cumulative[i -
    // 1] means weights[i] > 0.
    static size_type find_position(const std::vector<double>& weights,
                                   const std::vector<double>& cumulative, double u) {
        const size_type position = static_cast<size_type>(
            std::upper_bound(cumulative.begin(), cumulative.end(), u) - cumulative.begin());
        if (position < cumulative.size()) {
            return position;
        }
        size_type last = weights.size() - 1;
        while (!(weights[last] > 0.0)) {
            --last; // some weight is non-zero: check_sample made sure of it
        }
        return last;
    }

    static std::vector<double> running_sums(const std::vector<double>& weights) {
        std::vector<double> cumulative(weights.size());
        double running = 0.0;
        for (size_type i = 0; i < weights.size(); ++i) {
            running += weights[i];
            cumulative[i] = running;
        }
        return cumulative;
    }

    // Precondition: Derived's check_sample passed and returned `distribution`. Changes no
    // member.
    template <class Distribution, class Generator>
    void sample_checked(const Distribution& distribution, size_type batch_size, double beta,
                        Generator& generator, replay_handle* handles, double* weights,
                        double* probabilities) const {
        const std::vector<double>& position_weights = distribution.weights;
        const std::vector<double> cumulative = running_sums(position_weights);
        const double total = cumulative.back();

        std::vector<size_type> positions(batch_size);
        if (m_options.sampling() == sampling_mode::stratified) {
            const double slice = total / static_cast<double>(batch_size);
            for (size_type k = 0; k < batch_size; ++k) {
                const double u = (static_cast<double>(k) + per::uniform_unit(generator)) * slice;
                positions[k] = find_position(position_weights, cumulative, u);
            }
        } else if (m_options.sampling() == sampling_mode::independent) {
            for (size_type k = 0; k < batch_size; ++k) {
                const double u = per::uniform_unit(generator) * total;
                positions[k] = find_position(position_weights, cumulative, u);
            }
        } else {
            // Successive sampling: each draw among the positions not drawn yet in this batch.
            std::vector<double> remaining = position_weights;
            for (size_type k = 0; k < batch_size; ++k) {
                const std::vector<double> remaining_cumulative = running_sums(remaining);
                const double u = per::uniform_unit(generator) * remaining_cumulative.back();
                positions[k] = find_position(remaining, remaining_cumulative, u);
                remaining[positions[k]] = 0.0;
            }
        }

        for (size_type k = 0; k < batch_size; ++k) {
            const size_type slot = distribution.slot(positions[k]);
            handles[k] = {slot, m_generations[slot]};
            weights[k] = position_weights[positions[k]];
            probabilities[k] = weights[k] / total;
        }
        detail::importance_weights_from_values(weights, batch_size, total, m_items.size(), beta,
                                               m_options.normalization(),
                                               distribution.smallest_weight, weights);
    }

    template <class Value>
    replay_handle store_item(Value&& item, double priority) {
        const size_type slot = m_next;
        if (m_items.size() < m_capacity) {
            m_items.push_back(std::forward<Value>(item)); // reserved: never reallocates
        } else {
            m_items[slot] = std::forward<Value>(item);
        }
        // The item is stored: nothing below throws.
        m_priorities[slot] = priority;
        m_max_priority = std::max(m_max_priority, priority);
        ++m_generations[slot];
        m_next = slot + 1 == m_capacity ? 0 : slot + 1;
        derived().on_push(slot);
        return {slot, m_generations[slot]};
    }
};

} // namespace per::detail

#endif // PER_DETAIL_NAIVE_RING_HPP
