#ifndef PER_PRIORITIZED_SAMPLER_HPP
#define PER_PRIORITIZED_SAMPLER_HPP

/// @file
/// proportional_index and the proportional samplers (prioritized_sampler,
/// basic_prioritized_sampler).

#include "basic_sampler.hpp"
#include "detail/assert.hpp"
#include "detail/error.hpp"
#include "detail/prefetch.hpp"
#include "detail/special_members.hpp"
#include "detail/state_validation.hpp"
#include "min_tree.hpp"
#include "replay_options.hpp"
#include "sampler_state.hpp"
#include "sum_tree.hpp"

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <limits>
#include <string>
#include <utility>
#include <vector>

namespace per {

/// The priority index of proportional prioritized replay (Schaul et al. 2016, "Prioritized
/// Experience Replay"), the Index of basic_sampler behind prioritized_sampler:
/// - A filled slot i has a raw priority p_i >= 0 (typically |TD error|) and the sampling
///   weight w_i = (p_i + epsilon)^alpha, or 0 when p_i + epsilon == 0 ("never sampled", for
///   every alpha). P(i) = w_i / sum of w over the filled slots; empty slots never count.
/// - Positions are slots: the weights live in a sum tree over the slots.
/// - For global_max normalization, a min tree keeps, per block of `fanout` consecutive slots
///   (one leaf line of the sum tree), the block's least non-zero weight: its root is the least
///   non-zero weight overall, for 1/fanout of the memory of a min tree over every slot.
/// - Priorities are accepted up to priority_limit(): the largest whose weight stays at or
///   below half the sum tree's max_value(), so that no sum of weights can overflow. The
///   constructor and set_alpha refuse an alpha or epsilon for which the running max priority
///   (or the initial one) would be above the limit.
///
/// Complexity (N = capacity, F = SumTree::fanout): fill, erase and update O(F log_F N);
/// set_alpha and clear O(N). Memory per slot: about sizeof(value) * (1 + 3 / (F - 1)) for the
/// sum tree and the min tree of its leaf blocks and 8 bytes of raw priority (the sampler adds 4
/// of generation): 23.5 bytes with doubles.
///
/// SumTree is a per::sum_tree<T, Fanout> (float trees halve the memory of the weights at the
/// cost of precision; see docs/).
template <class SumTree = sum_tree<double>>
class proportional_index {
public:
    /// The sum tree of sampling weights, indexed by slot.
    using weight_tree_type = SumTree;
    /// The tree's value type.
    using value_type = typename SumTree::value_type;
    /// Slot indices and counts.
    using size_type = std::size_t;

    /// The class error messages name.
    static constexpr const char* name = "per::prioritized_sampler";
    /// Positions of the weight tree are slots.
    static constexpr bool positions_are_slots = true;
    /// Positions are not ranks.
    static constexpr bool ranked = false;
    /// The largest capacity: the sum tree's.
    static constexpr size_type max_capacity() noexcept { return SumTree::max_capacity(); }

    /// O(N). Throws std::invalid_argument if an option is invalid (replay_options::validate),
    /// if capacity is 0, or if initial_max_priority is above the priority limit of this alpha
    /// and epsilon; std::length_error if capacity > max_capacity().
    proportional_index(size_type capacity, const replay_options& options)
        : m_alpha(validated(options).alpha())
        , m_epsilon(options.epsilon())
        , m_sums(checked_capacity(capacity))
        , m_mins(leaf_blocks(capacity))
        , m_raw(capacity, empty_slot)
        , m_limit(limit_for(m_alpha, m_epsilon)) {
        if (!(options.initial_max_priority() <= m_limit)) {
            detail::throw_invalid_argument(name, "initial_max_priority",
                                           options.initial_max_priority(),
                                           limit_requirement(m_limit));
        }
    }

    /// Copies (std::bad_alloc).
    proportional_index(const proportional_index&) = default;
    /// Takes the other index's storage; the other index is left with capacity 0 and no filled
    /// slot, and keeps its alpha, epsilon and limit.
    proportional_index(proportional_index&& other) noexcept
        : m_alpha(other.m_alpha)
        , m_epsilon(other.m_epsilon)
        , m_sums(std::move(other.m_sums))
        , m_mins(std::move(other.m_mins))
        , m_raw(std::move(other.m_raw))
        , m_size(std::exchange(other.m_size, 0))
        , m_sampleable(std::exchange(other.m_sampleable, 0))
        , m_limit(other.m_limit)
        , m_memo(other.m_memo) {}
    /// Strong guarantee: on std::bad_alloc the index is unchanged.
    proportional_index& operator=(const proportional_index& other) {
        return detail::assign_copy(*this, other);
    }
    /// As the move constructor. Self-move: no-op.
    proportional_index& operator=(proportional_index&& other) noexcept {
        if (this != &other) {
            m_alpha = other.m_alpha;
            m_epsilon = other.m_epsilon;
            m_sums = std::move(other.m_sums);
            m_mins = std::move(other.m_mins);
            detail::move_and_empty(m_raw, other.m_raw);
            m_size = std::exchange(other.m_size, 0);
            m_sampleable = std::exchange(other.m_sampleable, 0);
            m_limit = other.m_limit;
            m_memo = other.m_memo;
        }
        return *this;
    }
    ~proportional_index() = default;

    /// Filled slots.
    size_type size() const noexcept { return m_size; }
    /// Filled slots with a non-zero weight.
    size_type sampleable_size() const noexcept { return m_sampleable; }
    /// Whether the slot is filled. Precondition: slot < capacity.
    bool contains(size_type slot) const noexcept { return m_raw[slot] != empty_slot; }
    /// The raw priority of a filled slot.
    double priority(size_type slot) const noexcept { return m_raw[slot]; }
    /// The largest raw priority accepted (see the class comment).
    double priority_limit() const noexcept { return m_limit; }
    /// The requirement a priority above priority_limit() breaks, for error messages.
    std::string priority_limit_requirement() const { return limit_requirement(m_limit); }
    /// The sampling weights (p + epsilon)^alpha by slot.
    const SumTree& weights() const noexcept { return m_sums; }
    /// As above, for draws without replacement (see basic_sampler).
    SumTree& weights() noexcept { return m_sums; }
    /// Positions are slots.
    size_type position(size_type slot) const noexcept { return slot; }
    /// Positions are slots: nothing to do.
    void slots_of(size_type*, size_type) const noexcept {}
    /// The least non-zero weight of a filled slot (+inf if none).
    double smallest_weight() const noexcept { return static_cast<double>(m_mins.min()); }

    /// Fills `slot` (empty or not) with an accepted priority.
    void fill(size_type slot, double priority) noexcept {
        PER_ASSERT(priority >= 0.0 && priority <= m_limit);
        m_size += m_raw[slot] == empty_slot;
        store(slot, priority);
    }
    /// Sets the priority of a filled slot.
    void update(size_type slot, double priority) noexcept {
        PER_ASSERT(contains(slot) && priority >= 0.0 && priority <= m_limit);
        store(slot, priority);
    }
    /// update(slots[k], priorities[k]) for k = 0, ..., count - 1 in this order, bit for bit,
    /// with each tree entry on the union of their paths recomputed once (sum_tree::set_batch)
    /// and the weights' powers computed in one independent loop.
    void update_batch(const size_type* slots, const double* priorities, size_type count) noexcept {
        constexpr size_type chunk = SumTree::batch_chunk;
        for (size_type begin = 0; begin < count; begin += chunk) {
            const size_type size = count - begin < chunk ? count - begin : chunk;
            update_chunk(slots + begin, priorities + begin, size);
        }
    }
    /// fill(slots[k], priorities[k]) for k = 0, ..., count - 1 in this order, bit for bit, in
    /// batches as update_batch.
    void fill_batch(const size_type* slots, const double* priorities, size_type count) noexcept {
        for (size_type k = 0; k < count; ++k) { // a repeated slot counts once
            m_size += m_raw[slots[k]] == empty_slot;
            m_raw[slots[k]] = priorities[k];
        }
        update_batch(slots, priorities, count);
    }
    /// Empties a filled slot.
    void erase(size_type slot) noexcept {
        PER_ASSERT(contains(slot));
        set_weight(slot, value_type(0));
        m_raw[slot] = empty_slot;
        --m_size;
    }
    /// Empties every slot. O(N).
    void clear() noexcept {
        m_sums.clear();
        m_mins.clear();
        std::fill(m_raw.begin(), m_raw.end(), empty_slot);
        m_size = 0;
        m_sampleable = 0;
    }

    /// Starts loading what update(slot) touches. Precondition: slot < capacity.
    void prefetch_update(size_type slot) const noexcept {
        detail::prefetch(m_raw.data() + slot);
        m_sums.prefetch_path(slot);
        m_mins.prefetch_path(slot / SumTree::fanout);
    }
    /// Starts loading what contains(slot) reads, ahead of a batch's staleness checks
    /// (update_batch requests the trees' lines itself, while it computes the weights).
    /// Precondition: slot < capacity.
    void prefetch_batch_update(size_type slot) const noexcept {
        detail::prefetch(m_raw.data() + slot);
    }

    /// What set_alpha installs: the trees rebuilt for the new exponent, and its limit.
    struct alpha_change {
        double alpha;                               ///< the new exponent
        double limit;                               ///< its priority limit
        SumTree sums;                               ///< the weights for it
        min_tree<value_type, SumTree::fanout> mins; ///< their block minima
        size_type sampleable;                       ///< slots with a weight > 0
    };

    /// O(N). Throws std::invalid_argument if alpha is negative or not finite, or so large that
    /// the weight of max_priority would overflow the sums; std::bad_alloc. Changes nothing.
    alpha_change prepare_alpha(const char* where, double alpha, double max_priority) const {
        if (!(std::isfinite(alpha) && alpha >= 0.0)) {
            detail::throw_invalid_argument(where, "alpha", alpha, "must be finite and >= 0");
        }
        // The limit is a function of alpha and epsilon alone: unchanged alpha (an import), the
        // same limit, without its pow calls.
        const double limit = alpha == m_alpha ? m_limit : limit_for(alpha, m_epsilon);
        if (!(max_priority <= limit)) {
            detail::throw_invalid_argument(where, "alpha", alpha,
                                           "would overflow the weight of max_priority() = " +
                                               detail::format_value(max_priority) + " (" +
                                               limit_requirement(limit) + ")");
        }
        const size_type capacity = m_raw.size();
        if (capacity == 0) { // moved from: no weight to recompute, and no tree of capacity 0
            return alpha_change{alpha, limit, m_sums, m_mins, 0};
        }
        alpha_change change{alpha, limit, SumTree(capacity),
                            min_tree<value_type, SumTree::fanout>(leaf_blocks(capacity)), 0};
        change.sampleable = build_weights(alpha, change.sums, change.mins);
        return change;
    }
    /// Takes what prepare_alpha computed.
    void install_alpha(alpha_change&& change) noexcept {
        m_alpha = change.alpha;
        m_limit = change.limit;
        m_sums = std::move(change.sums);
        m_mins = std::move(change.mins);
        m_sampleable = change.sampleable;
        m_memo = weight_memo{};
    }

    /// Proportional states carry no fill stamps.
    static constexpr detail::stamp_rule stamps = detail::stamp_rule::none;
    /// Writes the filled flags and the raw priorities of the filled slots into `state`.
    void export_priorities(sampler_state& state) const {
        state.filled.assign(m_raw.size(), 0);
        state.priorities.reserve(m_size);
        for (size_type slot = 0; slot < m_raw.size(); ++slot) {
            if (m_raw[slot] != empty_slot) {
                state.filled[slot] = 1;
                state.priorities.push_back(m_raw[slot]);
            }
        }
    }
    /// O(N). Takes the priorities of a validated state (this index is new, of the state's
    /// capacity and options) and rebuilds the trees as set_alpha does. May throw
    /// std::bad_alloc, with this index then unspecified (the sampler discards it).
    void import_priorities(const sampler_state& state) {
        for (size_type slot = 0, k = 0; slot < m_raw.size(); ++slot) {
            if (state.filled[slot] != 0) {
                m_raw[slot] = state.priorities[k++];
            }
        }
        m_size = state.priorities.size();
        // In place: this index is new, its trees of the right capacity and all zero, its alpha
        // and limit the state's (validated against them).
        m_sampleable = build_weights(m_alpha, m_sums, m_mins);
        m_memo = weight_memo{};
    }

    /// Bytes of heap storage: the trees and the raw priorities.
    size_type memory_bytes() const noexcept {
        return m_sums.memory_bytes() + m_mins.memory_bytes() + m_raw.size() * sizeof(double);
    }

private:
    static constexpr double empty_slot = -1.0; // m_raw marker; raw priorities are >= 0

    static const replay_options& validated(const replay_options& options) {
        options.validate(name);
        return options;
    }
    static size_type checked_capacity(size_type capacity) {
        detail::check_capacity(name, capacity, SumTree::max_capacity());
        return capacity;
    }

    // Fills `sums` (of capacity() leaves) with the weights of the raw priorities for `alpha` and
    // `mins` with their block minima; returns the number of slots with a weight > 0. O(N);
    // std::bad_alloc (then `sums` and `mins` are unspecified).
    size_type build_weights(double alpha, SumTree& sums,
                            min_tree<value_type, SumTree::fanout>& mins) const {
        const size_type capacity = m_raw.size();
        std::vector<value_type> weights(capacity, value_type(0));
        size_type sampleable = 0;
        for (size_type slot = 0; slot < capacity; ++slot) {
            if (m_raw[slot] != empty_slot) {
                weights[slot] = weight_of(m_raw[slot], alpha, m_epsilon);
                sampleable += weights[slot] > value_type(0);
            }
        }
        sums.assign(weights.begin(), weights.end());
        std::vector<value_type> minima(leaf_blocks(capacity));
        for (size_type block = 0; block < minima.size(); ++block) {
            minima[block] = block_minimum(sums, block);
        }
        mins.assign(minima.begin(), minima.end());
        return sampleable;
    }

    // The sampling weight of raw priority p: (p + epsilon)^alpha, and 0 when p + epsilon is 0
    // whatever alpha (std::pow(0, 0) is 1, which would make "never sample" items sampleable).
    static value_type weight_of(double priority, double alpha, double epsilon) noexcept {
        const double base = priority + epsilon;
        return base > 0.0 ? static_cast<value_type>(std::pow(base, alpha)) : value_type(0);
    }

    // The largest raw priority whose weight (p + epsilon)^alpha stays at or below half the sum
    // tree's max_value(), so that no sum of weights can overflow; -1 if not even priority 0
    // fits. Found by bisection over the bit patterns of the non-negative doubles (ordered like
    // the values), with the very weight_of the updates use: a closed form such as
    // (W^(1/alpha) - epsilon) is off by its rounding times alpha, and p + epsilon may itself
    // overflow. The closed form serves as the starting guess: steps doubling from it find a
    // bracket (a priority that fits, and one that does not or the end of the doubles), usually
    // a few bit patterns wide, which the bisection then halves. The weight grows with the
    // priority, so there is one boundary and the result is the one a bisection over all doubles
    // finds (test_limits compares the two over 1,800 alphas, epsilons and capacities), with a
    // few pow calls instead of 64 (callgrind: 3 per construction with the default options; at
    // most 74).
    double limit_for(double alpha, double epsilon) const noexcept {
        // Compared in double before the weight is rounded to value_type: a double weight at or
        // below this limit (itself a value_type value) rounds to one at or below it.
        const double largest_weight = static_cast<double>(m_sums.max_value() / value_type(2));
        const auto fits = [&](std::uint64_t bits) {
            const double base = double_of(bits) + epsilon;
            return !(base > 0.0) || std::pow(base, alpha) <= largest_weight;
        };
        if (!fits(0)) {
            return -1.0;
        }
        const std::uint64_t end = bits_of(std::numeric_limits<double>::max()) + 1; // past the end
        // The guess, as the bit pattern of a double in [0, max]; an overflowing root (alpha near
        // 0) or a difference at or below 0 falls back to the end it is beyond.
        const double root = alpha > 0.0 ? std::pow(largest_weight, 1.0 / alpha)
                                        : std::numeric_limits<double>::infinity();
        const double guess =
            std::min(std::max(root - epsilon, 0.0), std::numeric_limits<double>::max());
        // The bracket: fits(low), and high == end or !fits(high).
        std::uint64_t low = 0;
        std::uint64_t high = end;
        const std::uint64_t start = bits_of(guess);
        constexpr int widenings = 8; // then the bisection takes the bracket as it is
        if (fits(start)) {
            low = start;
            for (std::uint64_t step = 1, k = 0; k < widenings && end - low > step; step *= 2, ++k) {
                if (!fits(low + step)) {
                    high = low + step;
                    break;
                }
                low += step;
            }
        } else {
            high = start;
            for (std::uint64_t step = 1, k = 0; k < widenings && high - low > step;
                 step *= 2, ++k) {
                if (fits(high - step)) {
                    low = high - step;
                    break;
                }
                high -= step;
            }
        }
        while (high - low > 1) {
            const std::uint64_t middle = low + (high - low) / 2;
            (fits(middle) ? low : high) = middle;
        }
        return double_of(low);
    }
    static std::uint64_t bits_of(double value) noexcept {
        std::uint64_t bits;
        std::memcpy(&bits, &value, sizeof bits);
        return bits;
    }
    static double double_of(std::uint64_t bits) noexcept {
        double value;
        std::memcpy(&value, &bits, sizeof value);
        return value;
    }
    static std::string limit_requirement(double limit) {
        if (limit < 0.0) {
            return "is not accepted: even priority 0 has a weight epsilon^alpha above what the "
                   "sums can hold (epsilon too large for this alpha)";
        }
        return "must be <= " + detail::format_value(limit) +
               ", the largest priority whose (priority + epsilon)^alpha the sums can hold";
    }

    // Sets the raw priority of a filled slot and its weight in both trees.
    void store(size_type slot, double priority) noexcept {
        m_raw[slot] = priority;
        set_weight(slot, memoized_weight(priority));
    }

    // The weight of `priority`, from the memo when it holds the same priority (pushes without
    // a priority all give max_priority(), so their power is computed once per new maximum).
    // The memo holds what weight_of returned, so the bits are the same either way; priorities
    // that compare equal (0.0 and -0.0) have equal bases p + epsilon and so equal weights.
    value_type memoized_weight(double priority) noexcept {
        if (!(priority == m_memo.priority)) {
            m_memo = weight_memo{priority, weight_of(priority, m_alpha, m_epsilon)};
        }
        return m_memo.weight;
    }

    // One chunk of update_batch: the powers, the raw priorities, the sum tree in one batch,
    // then the minima of the blocks whose minimum moved in one batch of the min tree.
    void update_chunk(const size_type* slots, const double* priorities, size_type count) noexcept {
        // The powers are independent of each other and of memory: while they run, the lines a
        // batch of random slots rarely shares (the leaf and the lowest sums above it, the
        // block's minimum) arrive for the updates a few powers ahead.
        constexpr size_type lookahead = 8;
        for (size_type k = 0; k < count && k < lookahead; ++k) {
            prefetch_tree_lines(slots[k]);
        }
        value_type weights[SumTree::batch_chunk];
        for (size_type k = 0; k < count; ++k) {
            if (k + lookahead < count) {
                prefetch_tree_lines(slots[k + lookahead]);
            }
            weights[k] = priorities[k] == m_memo.priority
                             ? m_memo.weight
                             : weight_of(priorities[k], m_alpha, m_epsilon);
        }
        for (size_type k = 0; k < count; ++k) {
            PER_ASSERT(contains(slots[k]) && priorities[k] >= 0.0 && priorities[k] <= m_limit);
            m_raw[slots[k]] = priorities[k];
        }
        size_type sampleable = m_sampleable; // a local: no store to the trees can change it
        // The blocks whose least weight moved, for one batch of the min tree (a block the sum
        // tree reports twice is set twice to the same minimum).
        size_type blocks[SumTree::batch_chunk];
        value_type minima[SumTree::batch_chunk];
        size_type changed = 0;
        m_sums.set_batch_unchecked(
            slots, weights, count,
            [&](size_type k, value_type old) {
                sampleable += weights[k] > value_type(0);
                sampleable -= old > value_type(0);
            },
            [&](size_type block) {
                const value_type minimum = least_positive(m_sums.leaf_block(block));
                blocks[changed] = block;
                minima[changed] = minimum;
                changed += !(minimum == m_mins.get_unchecked(block));
            });
        m_sampleable = sampleable;
        m_mins.set_batch_unchecked(blocks, minima, changed);
    }

    void prefetch_tree_lines(size_type slot) const noexcept {
        m_sums.prefetch_leaf(slot);
        m_mins.prefetch_leaf(slot / SumTree::fanout);
    }

    void set_weight(size_type slot, value_type weight) noexcept {
        const bool was_sampleable = m_sums.get_unchecked(slot) > value_type(0);
        const bool is_sampleable = weight > value_type(0);
        m_sums.set_unchecked(slot, weight);
        // Most updates leave their block's minimum as it was (the slot was not the block's
        // least weight and does not become it): then the min tree, which would recompute the
        // very same values on its whole path, is not touched.
        const size_type block = slot / SumTree::fanout;
        const value_type minimum = block_minimum(m_sums, block);
        if (!(minimum == m_mins.get_unchecked(block))) {
            m_mins.set_unchecked(block, minimum);
        }
        m_sampleable += is_sampleable;
        m_sampleable -= was_sampleable;
    }

    static size_type leaf_blocks(size_type capacity) noexcept {
        return capacity / SumTree::fanout + (capacity % SumTree::fanout != 0);
    }
    // The least non-zero value of one leaf block (+inf if none), without a branch: padding
    // leaves are 0 and do not count.
    static value_type least_positive(const value_type* block) noexcept {
        constexpr value_type none = std::numeric_limits<value_type>::infinity();
        value_type minimum = none;
        for (size_type k = 0; k < SumTree::fanout; ++k) {
            const value_type weight = block[k] > value_type(0) ? block[k] : none;
            minimum = weight < minimum ? weight : minimum;
        }
        return minimum;
    }
    static value_type block_minimum(const SumTree& sums, size_type block) noexcept {
        return least_positive(sums.leaf_block(block));
    }

    double m_alpha;                               // the exponent of the weights
    double m_epsilon;                             // added to every priority
    SumTree m_sums;                               // sampling weights (p + epsilon)^alpha
    min_tree<value_type, SumTree::fanout> m_mins; // per leaf block: least non-zero weight
    std::vector<double> m_raw;                    // raw priorities p; empty_slot when empty
    size_type m_size = 0;                         // filled slots
    size_type m_sampleable = 0;                   // filled slots with a non-zero weight
    double m_limit;                               // largest accepted raw priority
    // The last priority whose weight store() computed, and that weight (-1: none yet; a
    // priority is never negative). Reset with the exponent.
    struct weight_memo {
        double priority = -1.0;
        value_type weight = value_type(0);
    };
    weight_memo m_memo;
};

/// The proportional sampler over a given sum tree type (e.g. sum_tree<float> for half the
/// memory of the weights): see basic_sampler and proportional_index for the semantics.
template <class SumTree = sum_tree<double>>
using basic_prioritized_sampler = basic_sampler<proportional_index<SumTree>>;

/// The proportional sampler with the default double-precision sum tree.
using prioritized_sampler = basic_prioritized_sampler<>;

} // namespace per

#endif // PER_PRIORITIZED_SAMPLER_HPP
