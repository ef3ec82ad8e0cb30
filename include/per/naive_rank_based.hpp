#ifndef PER_NAIVE_RANK_BASED_HPP
#define PER_NAIVE_RANK_BASED_HPP

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
#include <numeric>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

namespace per {

// The reference rank-based replay buffer, written the way the rank-based PER tutorial writes
// it: a ring of items beside an array of raw priorities, and on every sample the items present
// are sorted by priority (an argsort, O(N log N)), the rank weights r^-alpha are computed,
// summed, accumulated and searched. It has the public API and the semantics of
// rank_based_replay<Item> (prioritized_replay<Item, rank_based_sampler>) and consumes the
// random engine in the same way, so that the same seed gives the same batch (up to draws that
// rounding puts on the other side of a boundary). It exists to be obviously correct: it is the
// oracle of the rank-based differential and statistical tests and the baseline of the
// benchmarks. Use rank_based_replay<Item> in real code.
//
// Semantics (see rank_based_sampler in rank_based.hpp for the reasons):
// - push fills slots 0, 1, 2, ... and, once capacity() items are stored, overwrites the oldest.
//   Each push increments its slot's 32-bit generation and returns the handle {slot,
//   generation}; an update whose handle names an older generation, or a slot that is empty
//   now, is stale and skipped.
// - The items present are ranked by raw priority, largest first; among equal priorities the
//   more recently pushed item first (an update keeps the item's push order). rank(i) is 1 plus
//   the number of items that precede i. P(i) = rank(i)^-alpha / sum_{r=1..N} r^-alpha.
//   epsilon is ignored; an item of priority 0 ranks last and is still sampled.
// - An item pushed without a priority gets max_priority(): the largest of
//   options().initial_max_priority() and every priority given since construction (by push or
//   by an applied update). It never decreases, not even on clear(). Such an item takes rank 1.
// - Importance-sampling weights are (N P(i))^-beta with N = size(), normalized as
//   options().normalization() says (see importance.hpp).
// - A priority is accepted if it is finite and >= 0. alpha is accepted if it is finite, >= 0
//   and capacity()^-alpha is a normal double (the rule of rank_based_sampler).
//
// Complexity: push and update of one priority O(1); sample of B items O(N log N + B log N),
// O(N log N + B N) without replacement; rank(slot) and probability(slot) O(N); set_alpha O(1);
// clear O(N).
// Exceptions: bad arguments throw std::invalid_argument / std::out_of_range naming the argument
// and its value, before anything changes: the buffer (and an output batch) is then exactly as
// before. push is as safe as Item's copy or move when it stores the item.
template <class Item>
class naive_rank_based_replay {
public:
    using item_type = Item;
    using size_type = std::size_t;

    // O(N). An empty buffer for `capacity` items (storage is reserved up front).
    // Throws std::invalid_argument if capacity is 0 or an option is invalid (alpha, epsilon or
    // initial_max_priority negative or not finite, or alpha so large that capacity^-alpha is
    // not a normal double).
    explicit naive_rank_based_replay(size_type capacity, replay_options options = {})
        : m_options(validated(options))
        , m_capacity(checked_capacity(capacity))
        , m_priorities(capacity, 0.0)
        , m_pushes(capacity, 0)
        , m_generations(capacity, 0)
        , m_max_priority(options.initial_max_priority()) {
        check_alpha(where_constructor, m_options.alpha());
        m_items.reserve(capacity);
    }

    // --- Adding items -----------------------------------------------------------------------

    // O(1). Stores the item with priority max_priority() and returns its handle.
    replay_handle push(const Item& item) { return store_item(item, m_max_priority); }
    replay_handle push(Item&& item) { return store_item(std::move(item), m_max_priority); }

    // O(1). Stores the item with the given raw priority (raising max_priority() if larger).
    // Throws std::invalid_argument naming `priority` if it is negative or not finite; the
    // buffer is then unchanged.
    replay_handle push(const Item& item, double priority) {
        check_priority("per::naive_rank_based_replay::push", "priority", priority);
        return store_item(item, priority);
    }
    replay_handle push(Item&& item, double priority) {
        check_priority("per::naive_rank_based_replay::push", "priority", priority);
        return store_item(std::move(item), priority);
    }

    // --- Sampling ---------------------------------------------------------------------------

    // O(N log N + B log N), O(N log N + B N) without replacement. Sorts the items by rank,
    // then draws batch_size ranks in options().sampling() mode, with importance-sampling
    // weights for the given beta, using `generator` (any UniformRandomBitGenerator) exactly as
    // rank_based_replay does:
    // - stratified: the k-th draw is the prefix value (k + U_k) * total / B;
    // - independent: U_k * total;
    // - without replacement: U_k * (the total of the ranks not drawn yet in this batch),
    //   searched among those ranks only;
    // where U_k = detail::uniform_unit(generator) and total = sum_{r=1..N} r^-alpha, summed in
    // rank order. The drawn rank is the first whose running sum of rank weights exceeds the
    // prefix value (the last rank with a non-zero weight if rounding put the value at or past
    // the total), and the drawn item the one holding that rank. probabilities()[k] is the
    // item's single-draw P(i), also without replacement.
    // Throws std::invalid_argument if batch_size is 0 or beta is not in [0, 1];
    // std::out_of_range if the buffer is empty or, without replacement, if batch_size exceeds
    // size(). The buffer and `out` are then unchanged; they are also unchanged if the
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
        check_sample("per::naive_rank_based_replay::sample", batch_size, beta);
        std::vector<replay_handle> handles(batch_size);
        std::vector<double> weights(batch_size);
        std::vector<double> probabilities(batch_size);
        sample_checked(batch_size, beta, generator, handles.data(), weights.data(),
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
        check_sample("per::naive_rank_based_replay::sample_into", batch_size, beta);
        sample_checked(batch_size, beta, generator, handles, weights, probabilities);
    }

    // --- Priority updates -------------------------------------------------------------------

    // O(count). Sets the raw priority of each item named by handles[k] to priorities[k]
    // (|TD error|), in order (for a repeated handle the last one wins), raising max_priority()
    // for each applied one that is larger. Stale handles (the slot is empty, or was refilled
    // since the handle was made) are skipped. Returns the number applied. Priorities may be
    // any arithmetic type (float, double). Throws, before applying any: std::out_of_range
    // naming handles[k].slot if a slot >= capacity(); std::invalid_argument naming
    // priorities[k] if a priority is negative or not finite. Unchanged on throw.
    template <class Priority>
    size_type update_priorities(const replay_handle* handles, const Priority* priorities,
                                size_type count) {
        detail::validate_updates(
            "per::naive_rank_based_replay::update_priorities", handles, priorities, count,
            m_capacity, [](double priority) { return std::isfinite(priority) && priority >= 0.0; },
            [this](const char* argument, double priority) {
                check_priority("per::naive_rank_based_replay::update_priorities", argument,
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
        detail::check_same_size("per::naive_rank_based_replay::update_priorities", handles,
                                priorities);
        return update_priorities(std::data(handles), std::data(priorities), std::size(handles));
    }

    // One update; returns whether it applied (false for a stale handle). Throws as above.
    bool update_priority(replay_handle handle, double priority) {
        return update_priorities(&handle, &priority, 1) == 1;
    }

    // --- Observers and the rest -------------------------------------------------------------

    // Number of items present: the N of the ranks and importance-sampling weights.
    size_type size() const noexcept { return m_items.size(); }
    size_type capacity() const noexcept { return m_capacity; }
    bool empty() const noexcept { return m_items.empty(); }
    // The priority a push without one gives (see the class comment).
    double max_priority() const noexcept { return m_max_priority; }
    double alpha() const noexcept { return m_options.alpha(); }
    const replay_options& options() const noexcept { return m_options; }

    // O(1). Changes the rank exponent; the next samples use r^-alpha. Throws
    // std::invalid_argument naming alpha if it is negative, not finite, or so large that
    // capacity()^-alpha is not a normal double. Unchanged on throw.
    void set_alpha(double alpha) {
        check_alpha("per::naive_rank_based_replay::set_alpha", alpha);
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
        check_present("per::naive_rank_based_replay::item", slot);
        return m_items[slot];
    }

    // The raw priority p of the item in `slot`. Throws std::out_of_range if slot >= size().
    double priority(size_type slot) const {
        check_present("per::naive_rank_based_replay::priority", slot);
        return m_priorities[slot];
    }

    // O(N). The rank of the item in `slot`: 1 plus the number of items that precede it.
    // Throws std::out_of_range if slot >= size().
    size_type rank(size_type slot) const {
        check_present("per::naive_rank_based_replay::rank", slot);
        size_type preceding = 0;
        for (size_type other = 0; other < m_items.size(); ++other) {
            preceding += precedes(other, slot);
        }
        return preceding + 1;
    }

    // O(N). P(slot) = rank(slot)^-alpha / sum_{r=1..N} r^-alpha. Throws std::out_of_range if
    // slot >= size().
    double probability(size_type slot) const {
        check_present("per::naive_rank_based_replay::probability", slot);
        return rank_weight(rank(slot)) / sum(rank_weights());
    }

    // The handle of the item now in `slot`. Throws std::out_of_range if slot >= size().
    replay_handle handle(size_type slot) const {
        check_present("per::naive_rank_based_replay::handle", slot);
        return {slot, m_generations[slot]};
    }

    // The slot the next push writes to.
    size_type next_slot() const noexcept { return m_next; }

private:
    static constexpr const char* where_constructor = "per::naive_rank_based_replay";

    static const replay_options& validated(const replay_options& options) {
        options.validate(where_constructor);
        return options;
    }
    static size_type checked_capacity(size_type capacity) {
        detail::check_capacity(where_constructor, capacity,
                               std::numeric_limits<size_type>::max() / (4 * sizeof(double)));
        return capacity;
    }

    void check_alpha(const char* where, double alpha) const {
        if (!(std::isfinite(alpha) && alpha >= 0.0)) {
            detail::throw_invalid_argument(where, "alpha", alpha, "must be finite and >= 0");
        }
        if (!(std::pow(static_cast<double>(m_capacity), -alpha) >=
              std::numeric_limits<double>::min())) {
            detail::throw_invalid_argument(where, "alpha", alpha,
                                           "is too large: capacity()^-alpha must be a normal "
                                           "double");
        }
    }

    void check_priority(const char* where, const char* argument, double priority) const {
        if (!(std::isfinite(priority) && priority >= 0.0)) {
            detail::throw_invalid_argument(where, argument, priority, "must be finite and >= 0");
        }
    }

    void check_present(const char* where, size_type slot) const {
        if (slot >= m_items.size()) {
            detail::throw_out_of_range(where, "slot", slot,
                                       "must be < size() = " + std::to_string(m_items.size()));
        }
    }

    // Whether the item in slot a ranks before the item in slot b.
    bool precedes(size_type a, size_type b) const {
        return m_priorities[a] > m_priorities[b] ||
               (m_priorities[a] == m_priorities[b] && m_pushes[a] > m_pushes[b]);
    }

    double rank_weight(size_type rank) const {
        return std::pow(static_cast<double>(rank), -m_options.alpha());
    }

    // The weights of ranks 1..N.
    std::vector<double> rank_weights() const {
        std::vector<double> weights(m_items.size());
        for (size_type r = 0; r < weights.size(); ++r) {
            weights[r] = rank_weight(r + 1);
        }
        return weights;
    }

    // The argsort: slots of the items present, best rank first.
    std::vector<size_type> slots_by_rank() const {
        std::vector<size_type> order(m_items.size());
        std::iota(order.begin(), order.end(), size_type{0});
        std::sort(order.begin(), order.end(),
                  [this](size_type a, size_type b) { return precedes(a, b); });
        return order;
    }

    static double sum(const std::vector<double>& values) {
        double total = 0.0;
        for (double value : values) {
            total += value;
        }
        return total;
    }

    void check_sample(const char* where, size_type batch_size, double beta) const {
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
        if (m_options.sampling() == sampling_mode::without_replacement &&
            batch_size > m_items.size()) {
            detail::throw_out_of_range(where, "batch_size", batch_size,
                                       "must be <= size() = " + std::to_string(m_items.size()) +
                                           " when sampling without replacement");
        }
    }

    // The first rank position whose running sum of weights exceeds u: cumulative[i] is the
    // sum of weights[0..i]. A u at or past the last sum (rounding) takes the last position
    // with a non-zero weight.
    static size_type find_position(const std::vector<double>& weights,
                                   const std::vector<double>& cumulative, double u) {
        const size_type position = static_cast<size_type>(
            std::upper_bound(cumulative.begin(), cumulative.end(), u) - cumulative.begin());
        if (position < cumulative.size()) {
            return position;
        }
        size_type last = weights.size() - 1;
        while (!(weights[last] > 0.0)) {
            --last; // some weight is non-zero: without replacement, B <= N leaves one
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

    // Precondition: check_sample passed. Changes no member.
    template <class Generator>
    void sample_checked(size_type batch_size, double beta, Generator& generator,
                        replay_handle* handles, double* weights, double* probabilities) const {
        const std::vector<size_type> order = slots_by_rank();
        const std::vector<double> weights_by_rank = rank_weights();
        const std::vector<double> cumulative = running_sums(weights_by_rank);
        const double total = cumulative.back();

        std::vector<size_type> positions(batch_size);
        if (m_options.sampling() == sampling_mode::stratified) {
            const double slice = total / static_cast<double>(batch_size);
            for (size_type k = 0; k < batch_size; ++k) {
                const double u = (static_cast<double>(k) + detail::uniform_unit(generator)) * slice;
                positions[k] = find_position(weights_by_rank, cumulative, u);
            }
        } else if (m_options.sampling() == sampling_mode::independent) {
            for (size_type k = 0; k < batch_size; ++k) {
                const double u = detail::uniform_unit(generator) * total;
                positions[k] = find_position(weights_by_rank, cumulative, u);
            }
        } else {
            // Successive sampling: each draw among the ranks not drawn yet in this batch.
            std::vector<double> remaining = weights_by_rank;
            for (size_type k = 0; k < batch_size; ++k) {
                const std::vector<double> remaining_cumulative = running_sums(remaining);
                const double u = detail::uniform_unit(generator) * remaining_cumulative.back();
                positions[k] = find_position(remaining, remaining_cumulative, u);
                remaining[positions[k]] = 0.0;
            }
        }

        for (size_type k = 0; k < batch_size; ++k) {
            const size_type slot = order[positions[k]];
            handles[k] = {slot, m_generations[slot]};
            weights[k] = weights_by_rank[positions[k]];
            probabilities[k] = weights[k] / total;
        }
        // The least likely item holds rank N.
        detail::importance_weights_from_values(weights, batch_size, total, m_items.size(), beta,
                                               m_options.normalization(), weights_by_rank.back(),
                                               weights);
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
        m_pushes[slot] = ++m_push_count;
        m_max_priority = std::max(m_max_priority, priority);
        ++m_generations[slot];
        m_next = slot + 1 == m_capacity ? 0 : slot + 1;
        return {slot, m_generations[slot]};
    }

    replay_options m_options;
    size_type m_capacity;
    std::vector<Item> m_items;                // the items present: slots 0..size()-1
    std::vector<double> m_priorities;         // raw priorities p, per slot
    std::vector<std::uint64_t> m_pushes;      // when each slot was last pushed (for ties)
    std::vector<std::uint32_t> m_generations; // pushes per slot, for stale-handle checks
    std::uint64_t m_push_count = 0;           // pushes so far
    size_type m_next = 0;                     // the slot the next push writes to
    double m_max_priority;                    // running max of all priorities given
};

} // namespace per

#endif // PER_NAIVE_RANK_BASED_HPP
