#ifndef PER_NAIVE_REPLAY_HPP
#define PER_NAIVE_REPLAY_HPP

#include "detail/error.hpp"
#include "detail/random.hpp"
#include "detail/update_validation.hpp"
#include "importance.hpp"
#include "replay_batch.hpp"
#include "replay_options.hpp"
#include "sample_batch.hpp"

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

namespace per {

namespace detail {
struct checkpoint_access; // checkpoint.hpp: save / load of the private state
} // namespace detail

// The O(N) reference prioritized replay buffer, written the way the PER tutorials write it
// (tutorial design 1): a ring of items beside an array of raw priorities, and on every sample
// the sampling weights p^alpha of the items present are recomputed, summed, accumulated and
// searched. It has the public API and the semantics of prioritized_replay<Item> and consumes
// the random engine in the same way, so that the same seed gives the same batch (up to draws
// that rounding puts on the other side of a boundary). It exists to be obviously correct: it is
// the oracle of the differential and statistical tests and the baseline of the benchmarks. Use
// prioritized_replay<Item> in real code.
//
// Semantics (Schaul et al. 2016, "Prioritized Experience Replay"):
// - push fills slots 0, 1, 2, ... and, once capacity() items are stored, overwrites the oldest.
//   Each push increments its slot's 32-bit generation and returns the handle {slot,
//   generation}; an update whose handle names an older generation, or a slot that is empty
//   now, is stale and skipped.
// - A stored item has a raw priority p >= 0 (typically |TD error|) and the sampling weight
//   w = (p + epsilon)^alpha, or 0 when p + epsilon == 0 ("never sampled", whatever alpha,
//   although std::pow(0, 0) is 1). P(i) = w_i / the sum of w over the items present.
// - An item pushed without a priority gets max_priority(): the largest of
//   options().initial_max_priority() and every priority given since construction (by push or
//   by an applied update). It never decreases, not even on clear().
// - Importance-sampling weights are (N P(i))^-beta with N = size(), normalized as
//   options().normalization() says (see importance.hpp).
// - A priority is accepted if it is finite, >= 0 and its weight (p + epsilon)^alpha is at most
//   max double / (4 capacity()), so that no sum of weights can overflow (the same bound as the
//   sum tree of prioritized_replay).
//
// Complexity: push and update of one priority O(1); sample of B items O(N + B log N), O(B N)
// without replacement; probability(slot) O(N); set_alpha O(N) (to check nothing overflows);
// clear O(N).
// Exceptions: bad arguments throw std::invalid_argument / std::out_of_range naming the argument
// and its value, before anything changes: the buffer (and an output batch) is then exactly as
// before. push is as safe as Item's copy or move when it stores the item.
template <class Item>
class naive_prioritized_replay {
public:
    using item_type = Item;
    using size_type = std::size_t;

    // O(N). An empty buffer for `capacity` items (storage is reserved up front).
    // Throws std::invalid_argument if capacity is 0 or an option is invalid (alpha, epsilon or
    // initial_max_priority negative or not finite, or an initial_max_priority whose weight
    // would overflow the sums).
    explicit naive_prioritized_replay(size_type capacity, replay_options options = {})
        : m_options(validated(options))
        , m_capacity(checked_capacity(capacity))
        , m_priorities(capacity, 0.0)
        , m_generations(capacity, 0)
        , m_max_priority(options.initial_max_priority()) {
        if (!fits(m_max_priority, m_options.alpha())) {
            detail::throw_invalid_argument(where_constructor, "initial_max_priority",
                                           m_max_priority, overflow_requirement());
        }
        m_items.reserve(capacity);
    }

    // --- Adding items -----------------------------------------------------------------------

    // O(1). Stores the item with priority max_priority() and returns its handle.
    replay_handle push(const Item& item) { return store_item(item, m_max_priority); }
    replay_handle push(Item&& item) { return store_item(std::move(item), m_max_priority); }

    // O(1). Stores the item with the given raw priority (raising max_priority() if larger).
    // Throws std::invalid_argument naming `priority` if it is negative, not finite or too large
    // (see the class comment); the buffer is then unchanged.
    replay_handle push(const Item& item, double priority) {
        check_priority("per::naive_prioritized_replay::push", "priority", priority);
        return store_item(item, priority);
    }
    replay_handle push(Item&& item, double priority) {
        check_priority("per::naive_prioritized_replay::push", "priority", priority);
        return store_item(std::move(item), priority);
    }

    // --- Sampling ---------------------------------------------------------------------------

    // O(N + B log N), O(B N) without replacement. Draws batch_size items by P(i) in
    // options().sampling() mode, with importance-sampling weights for the given beta, using
    // `generator` (any UniformRandomBitGenerator) exactly as prioritized_replay does:
    // - stratified: the k-th draw is the prefix value (k + U_k) * total / B;
    // - independent: U_k * total;
    // - without replacement: U_k * (the total of the items not drawn yet in this batch),
    //   searched among those items only;
    // where U_k = detail::uniform_unit(generator) and total is the sum of the weights of the
    // items present, in slot order. The drawn item is the first slot whose running sum of
    // weights exceeds the prefix value (the last slot with a non-zero weight if rounding put
    // the value at or past the total). probabilities()[k] is the item's single-draw P(i), also
    // without replacement.
    // Throws std::invalid_argument if batch_size is 0 or beta is not in [0, 1];
    // std::out_of_range if no item present has a non-zero weight (which includes an empty
    // buffer) or, without replacement, if batch_size exceeds the number of items with a
    // non-zero weight. The buffer and `out` are then unchanged; they are also unchanged if the
    // generator throws.
    template <class Generator>
    replay_batch<Item> sample(size_type batch_size, double beta, Generator& generator) {
        replay_batch<Item> batch;
        sample(batch_size, beta, generator, batch);
        return batch;
    }

    // As above, into an existing batch (whose storage is reused).
    template <class Generator>
    void sample(size_type batch_size, double beta, Generator& generator, replay_batch<Item>& out) {
        const std::vector<double> item_weights =
            check_sample("per::naive_prioritized_replay::sample", batch_size, beta);
        std::vector<replay_handle> handles(batch_size);
        std::vector<double> weights(batch_size);
        std::vector<double> probabilities(batch_size);
        sample_checked(item_weights, batch_size, beta, generator, handles.data(), weights.data(),
                       probabilities.data());
        // Validation and the generator have run: only growing `out` (std::bad_alloc) can
        // still throw.
        sample_batch& batch = detail::batch_writer::batch(out);
        detail::batch_writer::resize(batch, batch_size);
        for (size_type k = 0; k < batch_size; ++k) {
            detail::batch_writer::handles(batch)[k] = handles[k];
            detail::batch_writer::slots(batch)[k] = handles[k].slot;
            detail::batch_writer::weights(batch)[k] = weights[k];
            detail::batch_writer::probabilities(batch)[k] = probabilities[k];
        }
        detail::batch_writer::set_items(out, m_items.data());
    }

    // As above, writing into caller storage of batch_size elements each. The sampled items are
    // item(handles[k].slot). If the generator throws, the buffer is unchanged and the caller's
    // arrays hold unspecified values.
    template <class Generator>
    void sample_into(size_type batch_size, double beta, Generator& generator,
                     replay_handle* handles, double* weights, double* probabilities) {
        const std::vector<double> item_weights =
            check_sample("per::naive_prioritized_replay::sample_into", batch_size, beta);
        sample_checked(item_weights, batch_size, beta, generator, handles, weights, probabilities);
    }

    // --- Priority updates -------------------------------------------------------------------

    // O(count). Sets the raw priority of each item named by handles[k] to priorities[k]
    // (|TD error|; epsilon is added here, not by the caller), in order (for a repeated handle
    // the last one wins), raising max_priority() for each applied one that is larger. Stale
    // handles (the slot is empty, or was refilled since the handle was made) are skipped.
    // Returns the number applied. Priorities may be any arithmetic type (float, double).
    // Throws, before applying any: std::out_of_range naming handles[k].slot if a slot >=
    // capacity(); std::invalid_argument naming priorities[k] if a priority is negative, not
    // finite or too large. Unchanged on throw.
    template <class Priority>
    size_type update_priorities(const replay_handle* handles, const Priority* priorities,
                                size_type count) {
        detail::validate_updates(
            "per::naive_prioritized_replay::update_priorities", handles, priorities, count,
            m_capacity,
            [this](double priority) {
                return std::isfinite(priority) && priority >= 0.0 &&
                       fits(priority, m_options.alpha());
            },
            [this](const char* argument, double priority) {
                check_priority("per::naive_prioritized_replay::update_priorities", argument,
                               priority);
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
        detail::check_same_size("per::naive_prioritized_replay::update_priorities", handles,
                                priorities);
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
    // The priority a push without one gives (see the class comment).
    double max_priority() const noexcept { return m_max_priority; }
    double alpha() const noexcept { return m_options.alpha(); }
    const replay_options& options() const noexcept { return m_options; }

    // O(N). Changes the priority exponent; the next samples use (p + epsilon)^alpha with the
    // stored raw priorities. Throws std::invalid_argument naming alpha if it is negative, not
    // finite, or so large that the weight of max_priority() would overflow the sums.
    // Unchanged on throw.
    void set_alpha(double alpha) {
        const char* where = "per::naive_prioritized_replay::set_alpha";
        if (!(std::isfinite(alpha) && alpha >= 0.0)) {
            detail::throw_invalid_argument(where, "alpha", alpha, "must be finite and >= 0");
        }
        // Every stored priority is <= max_priority(), and the weight grows with the priority.
        if (!fits(m_max_priority, alpha)) {
            detail::throw_invalid_argument(where, "alpha", alpha,
                                           "would overflow the weight of max_priority() = " +
                                               detail::format_value(m_max_priority) + " (" +
                                               overflow_requirement() + ")");
        }
        m_options.alpha(alpha);
    }

    // O(N). Removes every item. Generations are kept, so handles from before stay stale after
    // their slots are filled again; max_priority() is kept too. The next push goes to slot 0.
    void clear() noexcept {
        m_items.clear();
        m_next = 0;
    }

    // The item in `slot`. Throws std::out_of_range if slot >= size().
    const Item& item(size_type slot) const {
        check_present("per::naive_prioritized_replay::item", slot);
        return m_items[slot];
    }

    // The raw priority p of the item in `slot`. Throws std::out_of_range if slot >= size().
    double priority(size_type slot) const {
        check_present("per::naive_prioritized_replay::priority", slot);
        return m_priorities[slot];
    }

    // O(N). P(slot) = its weight / the sum of the weights of the items present; 0 for an item
    // whose weight is 0. Throws std::out_of_range if slot >= size().
    double probability(size_type slot) const {
        check_present("per::naive_prioritized_replay::probability", slot);
        const double weight = weight_of(m_priorities[slot]);
        return weight > 0.0 ? weight / total_weight() : 0.0;
    }

    // The handle of the item now in `slot`. Throws std::out_of_range if slot >= size().
    replay_handle handle(size_type slot) const {
        check_present("per::naive_prioritized_replay::handle", slot);
        return {slot, m_generations[slot]};
    }

    // The slot the next push writes to.
    size_type next_slot() const noexcept { return m_next; }

private:
    friend struct detail::checkpoint_access;
    static constexpr const char* where_constructor = "per::naive_prioritized_replay";

    static const replay_options& validated(const replay_options& options) {
        options.validate(where_constructor);
        return options;
    }
    static size_type checked_capacity(size_type capacity) {
        detail::check_capacity(where_constructor, capacity,
                               std::numeric_limits<size_type>::max() / (4 * sizeof(double)));
        return capacity;
    }

    // The sampling weight of raw priority p: (p + epsilon)^alpha, and 0 when p + epsilon is 0.
    double weight_of(double priority, double alpha) const {
        const double base = priority + m_options.epsilon();
        return base > 0.0 ? std::pow(base, alpha) : 0.0;
    }
    double weight_of(double priority) const { return weight_of(priority, m_options.alpha()); }

    // Whether the weight of `priority` under `alpha` is small enough that the sum of
    // capacity() such weights stays finite with room to spare.
    bool fits(double priority, double alpha) const {
        const double largest_weight =
            std::numeric_limits<double>::max() / (4.0 * static_cast<double>(m_capacity));
        return weight_of(priority, alpha) <= largest_weight;
    }
    std::string overflow_requirement() const {
        return "must keep (priority + epsilon)^alpha <= max double / (4 capacity()), so that "
               "the sums cannot overflow";
    }

    void check_priority(const char* where, const char* argument, double priority) const {
        if (!(std::isfinite(priority) && priority >= 0.0)) {
            detail::throw_invalid_argument(where, argument, priority, "must be finite and >= 0");
        }
        if (!fits(priority, m_options.alpha())) {
            detail::throw_invalid_argument(where, argument, priority, overflow_requirement());
        }
    }

    void check_present(const char* where, size_type slot) const {
        if (slot >= m_items.size()) {
            detail::throw_out_of_range(where, "slot", slot,
                                       "must be < size() = " + std::to_string(m_items.size()));
        }
    }

    // The weights of the items present, in slot order.
    std::vector<double> present_weights() const {
        std::vector<double> weights(m_items.size());
        for (size_type i = 0; i < m_items.size(); ++i) {
            weights[i] = weight_of(m_priorities[i]);
        }
        return weights;
    }

    static double sum(const std::vector<double>& values) {
        double total = 0.0;
        for (double value : values) {
            total += value;
        }
        return total;
    }

    double total_weight() const { return sum(present_weights()); }

    static size_type count_non_zero(const std::vector<double>& values) {
        size_type count = 0;
        for (double value : values) {
            count += value > 0.0;
        }
        return count;
    }

    // Validates a sample call and returns the sampling weights of the items present, which
    // the sample then uses (computed once per call, as the tutorials do).
    std::vector<double> check_sample(const char* where, size_type batch_size, double beta) const {
        if (batch_size == 0) {
            detail::throw_invalid_argument(where, "batch_size", batch_size, "must be > 0");
        }
        if (!(beta >= 0.0 && beta <= 1.0)) {
            detail::throw_invalid_argument(where, "beta", beta, "must be in [0, 1]");
        }
        if (m_items.empty()) {
            throw std::out_of_range(std::string(where) +
                                    ": nothing to sample: the buffer is empty");
        }
        std::vector<double> item_weights = present_weights();
        const size_type sampleable = count_non_zero(item_weights);
        if (sampleable == 0) {
            throw std::out_of_range(std::string(where) + ": nothing to sample: none of the " +
                                    std::to_string(m_items.size()) +
                                    " items has a non-zero priority weight");
        }
        if (m_options.sampling() == sampling_mode::without_replacement && batch_size > sampleable) {
            detail::throw_out_of_range(where, "batch_size", batch_size,
                                       "must be <= " + std::to_string(sampleable) +
                                           ", the number of items with a non-zero priority "
                                           "weight, when sampling without replacement");
        }
        return item_weights;
    }

    // The first slot whose running sum of weights exceeds u: cumulative[i] is the sum of
    // weights[0..i]. A u at or past the last sum (rounding) takes the last slot with a
    // non-zero weight. Never returns a weight-0 slot: cumulative[i] > u >= cumulative[i - 1]
    // means weights[i] > 0.
    static size_type find_slot(const std::vector<double>& weights,
                               const std::vector<double>& cumulative, double u) {
        const size_type slot = static_cast<size_type>(
            std::upper_bound(cumulative.begin(), cumulative.end(), u) - cumulative.begin());
        if (slot < cumulative.size()) {
            return slot;
        }
        size_type last = weights.size() - 1;
        while (!(weights[last] > 0.0)) {
            --last; // the caller checked that some weight is non-zero
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

    // Precondition: check_sample passed and returned item_weights. Changes no member.
    template <class Generator>
    void sample_checked(const std::vector<double>& item_weights, size_type batch_size, double beta,
                        Generator& generator, replay_handle* handles, double* weights,
                        double* probabilities) const {
        const std::vector<double> cumulative = running_sums(item_weights);
        const double total = cumulative.back();

        std::vector<size_type> slots(batch_size);
        if (m_options.sampling() == sampling_mode::stratified) {
            const double slice = total / static_cast<double>(batch_size);
            for (size_type k = 0; k < batch_size; ++k) {
                const double u = (static_cast<double>(k) + detail::uniform_unit(generator)) * slice;
                slots[k] = find_slot(item_weights, cumulative, u);
            }
        } else if (m_options.sampling() == sampling_mode::independent) {
            for (size_type k = 0; k < batch_size; ++k) {
                const double u = detail::uniform_unit(generator) * total;
                slots[k] = find_slot(item_weights, cumulative, u);
            }
        } else {
            // Successive sampling: each draw among the items not drawn yet in this batch.
            std::vector<double> remaining = item_weights;
            for (size_type k = 0; k < batch_size; ++k) {
                const std::vector<double> remaining_cumulative = running_sums(remaining);
                const double u = detail::uniform_unit(generator) * remaining_cumulative.back();
                slots[k] = find_slot(remaining, remaining_cumulative, u);
                remaining[slots[k]] = 0.0;
            }
        }

        double smallest_weight = std::numeric_limits<double>::infinity();
        for (double weight : item_weights) {
            if (weight > 0.0 && weight < smallest_weight) {
                smallest_weight = weight;
            }
        }
        for (size_type k = 0; k < batch_size; ++k) {
            handles[k] = {slots[k], m_generations[slots[k]]};
            probabilities[k] = item_weights[slots[k]] / total;
            weights[k] = item_weights[slots[k]];
        }
        detail::importance_weights_from_values(weights, batch_size, total, m_items.size(), beta,
                                               m_options.normalization(), smallest_weight, weights);
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
        return {slot, m_generations[slot]};
    }

    replay_options m_options;
    size_type m_capacity;
    std::vector<Item> m_items;                // the items present: slots 0..size()-1
    std::vector<double> m_priorities;         // raw priorities p, per slot
    std::vector<std::uint32_t> m_generations; // pushes per slot, for stale-handle checks
    size_type m_next = 0;                     // the slot the next push writes to
    double m_max_priority;                    // running max of all priorities given
};

} // namespace per

#endif // PER_NAIVE_REPLAY_HPP
