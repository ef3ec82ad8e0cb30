#ifndef PER_RANK_BASED_SAMPLER_HPP
#define PER_RANK_BASED_SAMPLER_HPP

/// @file
/// rank_index and rank_based_sampler: rank-based prioritization with exact ranks.

#include "basic_sampler.hpp"
#include "detail/assert.hpp"
#include "detail/error.hpp"
#include "detail/order_statistics_tree.hpp"
#include "detail/special_members.hpp"
#include "detail/state_validation.hpp"
#include "replay_options.hpp"
#include "sampler_state.hpp"
#include "sum_tree.hpp"

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <string>
#include <utility>
#include <vector>

namespace per {

/// The priority index of rank-based prioritized replay (the PER paper's second variant,
/// section 3.3), with exact ranks in O(log N): the Index of basic_sampler behind
/// rank_based_sampler.
/// - The N filled slots are ranked by raw priority: rank 1 is the largest. The sampling
///   weight of rank r is r^-alpha, so P(i) = rank(i)^-alpha / sum_{r=1..N} r^-alpha: a power
///   law that depends only on N and alpha, whatever the priorities' scale. alpha 0 is uniform.
/// - Ties: among equal priorities the more recently filled item ranks first (fills are
///   counted; an update keeps the item's place in that count). Hence an item filled without a
///   priority, which gets max_priority() (>= every priority present), always takes rank 1: the
///   newest transition is the likeliest to be replayed next, as the paper's "new transitions
///   get the maximal priority" intends. 0.0 and -0.0 tie.
/// - epsilon plays no role: adding it to every priority changes no rank. The options' epsilon
///   is validated (it is an option) but unused.
/// - Every filled slot has rank weight > 0, also with priority 0 (it ranks last, but is still
///   sampled): sampleable_size() == size(). Any finite priority >= 0 is accepted.
/// - For global_max normalization the reference is the least likely item, rank N.
/// - The paper's rank-based defaults are alpha 0.7 and beta annealed from 0.5 to 1; pass them
///   (replay_options{}.alpha(0.7)): the options' defaults are the proportional variant's.
///
/// Positions are ranks - 1. The weights live in a sum tree over rank positions (leaf r-1 holds
/// r^-alpha for r <= N, 0 beyond), so a draw is a prefix search there with the same rule and the
/// same random numbers as the proportional sampler's; the slot holding the drawn rank comes
/// from an order-statistics tree (a counted B+ tree of the slots in rank order, about 5 levels
/// deep for 4 million items: detail/order_statistics_tree.hpp). Stratified sampling therefore
/// cuts the rank distribution into B slices of equal probability and draws once in each: the
/// paper's segments, except that within a segment we draw exactly by P where the paper took a
/// rank uniformly. Ranks are exact at every moment, not the paper's approximate heap order.
///
/// Complexity (N = size(), C = capacity): fill, erase and update O(log C); position and
/// slots_of O(log C) per slot; set_alpha O(C) (it rewrites the rank weights); clear O(C).
/// Growing N by one changes one rank weight. Memory: about 73 bytes per slot, allocated at
/// construction: 16 for the slot's key, up to 47 for the B+ tree's nodes (its pools are sized
/// for the worst case, every node half full, so that no operation allocates) and 9 to 10 for the
/// rank-weight tree (the sampler adds 4 of generation).
class rank_index {
public:
    /// The sum tree of rank weights, indexed by rank - 1.
    using weight_tree_type = sum_tree<double>;
    /// Slot indices and counts.
    using size_type = std::size_t;

    /// The class error messages name.
    static constexpr const char* name = "per::rank_based_sampler";
    /// Positions are ranks - 1, not slots.
    static constexpr bool positions_are_slots = false;
    /// Positions are ranks - 1.
    static constexpr bool ranked = true;
    /// The largest capacity: 2^32 - 1 (slots are 32-bit indices in the order-statistics tree).
    static constexpr size_type max_capacity() noexcept {
        return detail::order_statistics_tree::max_capacity() < weight_tree_type::max_capacity()
                   ? detail::order_statistics_tree::max_capacity()
                   : weight_tree_type::max_capacity();
    }

    /// O(C). Throws std::invalid_argument if an option is invalid (replay_options::validate),
    /// if capacity is 0, or if alpha is so large that capacity^-alpha, the weight of the last
    /// rank, is not a normal double (alpha above about 1022 / log2(capacity));
    /// std::length_error if capacity exceeds max_capacity().
    rank_index(size_type capacity, const replay_options& options)
        : m_alpha(validated(options, capacity).alpha())
        , m_order(capacity)
        , m_weights(capacity) {}

    /// Copies (std::bad_alloc).
    rank_index(const rank_index&) = default;
    /// Takes the other index's storage; the other index is left with capacity 0 and no filled
    /// slot, and keeps its alpha and fill count.
    rank_index(rank_index&&) noexcept = default;
    /// Strong guarantee: on std::bad_alloc the index is unchanged.
    rank_index& operator=(const rank_index& other) { return detail::assign_copy(*this, other); }
    /// As the move constructor. Self-move: no-op.
    rank_index& operator=(rank_index&&) noexcept = default;
    ~rank_index() = default;

    /// Filled slots.
    size_type size() const noexcept { return m_order.size(); }
    /// Every filled slot has a weight > 0.
    size_type sampleable_size() const noexcept { return m_order.size(); }
    /// Whether the slot is filled. Precondition: slot < capacity.
    bool contains(size_type slot) const noexcept { return m_order.contains(slot); }
    /// The raw priority of a filled slot.
    double priority(size_type slot) const noexcept { return m_order.priority(slot); }
    /// Any finite priority is accepted: ranks cannot overflow.
    double priority_limit() const noexcept { return std::numeric_limits<double>::max(); }
    /// Never needed (no finite priority is above the limit); for the Index contract.
    std::string priority_limit_requirement() const { return "must be finite"; }
    /// The rank weights r^-alpha by rank - 1.
    const weight_tree_type& weights() const noexcept { return m_weights; }
    /// As above, for draws without replacement (see basic_sampler).
    weight_tree_type& weights() noexcept { return m_weights; }
    /// O(log C). The rank - 1 of a filled slot.
    size_type position(size_type slot) const noexcept { return m_order.position(slot); }
    /// O(count log C). Rank positions to the slots holding them, in place, level by level.
    void slots_of(size_type* positions, size_type count) const noexcept {
        m_order.select_batch(positions, count);
    }
    /// The weight of rank N, the least likely item's.
    double smallest_weight() const noexcept {
        return size() > 0 ? m_weights.get_unchecked(size() - 1)
                          : std::numeric_limits<double>::infinity();
    }
    /// The fill stamp of a filled slot: among equal priorities the larger stamp ranks first.
    std::uint64_t stamp(size_type slot) const noexcept { return m_order.stamp(slot); }
    /// Fills so far: the last stamp given.
    std::uint64_t fill_count() const noexcept { return m_fills; }

    /// Fills `slot` (empty or not): it takes the next stamp, ranking first among its ties. The
    /// 64-bit fill count starts at 0 (or at most at 2^63 - 1 after an import), so it cannot wrap
    /// within 2^63 fills.
    void fill(size_type slot, double priority) noexcept {
        PER_ASSERT(priority >= 0.0 && std::isfinite(priority));
        if (m_order.contains(slot)) {
            m_order.erase(slot);
        } else {
            const size_type rank = size() + 1;
            m_weights.set_unchecked(rank - 1, rank_weight(rank, m_alpha));
        }
        m_order.insert(slot, priority, ++m_fills);
    }
    /// Moves a filled slot to the rank of its new priority, keeping its stamp.
    void update(size_type slot, double priority) noexcept {
        PER_ASSERT(contains(slot) && priority >= 0.0 && std::isfinite(priority));
        const double old = m_order.priority(slot);
        // An equal priority keeps the rank: skip the tree work (but store -0.0 over 0.0 and
        // back, so that priority() returns the value given, as the proportional index does).
        if (priority != old || std::signbit(priority) != std::signbit(old)) {
            const std::uint64_t stamp = m_order.stamp(slot);
            m_order.erase(slot);
            m_order.insert(slot, priority, stamp);
        }
    }
    /// Empties a filled slot: the last rank's weight goes.
    void erase(size_type slot) noexcept {
        PER_ASSERT(contains(slot));
        m_weights.set_unchecked(size() - 1, 0.0);
        m_order.erase(slot);
    }
    /// Empties every slot. O(C). The fill count is kept.
    void clear() noexcept {
        m_order.clear();
        m_weights.clear();
    }
    /// update(slots[k], priorities[k]) for k = 0, ..., count - 1 in this order: the B+ tree
    /// moves one key at a time (each descent depends on the keys it reads), with the keys of
    /// later slots requested ahead.
    void update_batch(const size_type* slots, const double* priorities, size_type count) noexcept {
        for_each_key_ahead(slots, count, [&](size_type k) { update(slots[k], priorities[k]); });
    }
    /// fill(slots[k], priorities[k]) for k = 0, ..., count - 1 in this order (each takes the
    /// next stamp).
    void fill_batch(const size_type* slots, const double* priorities, size_type count) noexcept {
        for_each_key_ahead(slots, count, [&](size_type k) { fill(slots[k], priorities[k]); });
    }
    /// Starts loading the slot's key; the B+ tree descent that follows depends on the keys it
    /// reads, so nothing further can be requested ahead. Precondition: slot < capacity.
    void prefetch_update(size_type slot) const noexcept { m_order.prefetch_key(slot); }
    /// As prefetch_update.
    void prefetch_batch_update(size_type slot) const noexcept { m_order.prefetch_key(slot); }

    /// What set_alpha installs: the rank weights for the new exponent.
    struct alpha_change {
        double alpha;             ///< the new exponent
        weight_tree_type weights; ///< the rank weights for it
    };
    /// O(C). Throws std::invalid_argument if alpha is negative, not finite, or so large that
    /// capacity^-alpha is not a normal double; std::bad_alloc. Changes nothing.
    alpha_change prepare_alpha(const char* where, double alpha, double) const {
        check_alpha(where, alpha, m_weights.capacity());
        if (m_weights.capacity() == 0) { // moved from: no weight, and no tree of capacity 0
            return alpha_change{alpha, m_weights};
        }
        std::vector<double> weights(size());
        for (size_type rank = 1; rank <= weights.size(); ++rank) {
            weights[rank - 1] = rank_weight(rank, alpha);
        }
        alpha_change change{alpha, weight_tree_type(m_weights.capacity())};
        change.weights.assign(weights.begin(), weights.end());
        return change;
    }
    /// Takes what prepare_alpha computed.
    void install_alpha(alpha_change&& change) noexcept {
        m_alpha = change.alpha;
        m_weights = std::move(change.weights);
    }

    /// Rank-based states carry a fill stamp per filled slot.
    static constexpr detail::stamp_rule stamps = detail::stamp_rule::required;
    /// Writes the filled flags, raw priorities, fill stamps and fill count into `state`.
    void export_priorities(sampler_state& state) const {
        const size_type capacity = m_weights.capacity();
        state.filled.assign(capacity, 0);
        state.priorities.reserve(size());
        state.fill_stamps.reserve(size());
        for (size_type slot = 0; slot < capacity; ++slot) {
            if (m_order.contains(slot)) {
                state.filled[slot] = 1;
                state.priorities.push_back(m_order.priority(slot));
                state.fill_stamps.push_back(m_order.stamp(slot));
            }
        }
        state.fill_count = m_fills;
    }
    /// O(C + N log N). Takes the keys of a validated state (this index is new, of the state's
    /// capacity and options): the rank order from priorities and stamps, the rank weights as
    /// set_alpha writes them. May throw std::bad_alloc, with this index then unspecified (the
    /// sampler discards it).
    void import_priorities(const sampler_state& state) {
        const size_type capacity = m_weights.capacity();
        std::vector<double> priorities(capacity, -1.0); // negative: not in the tree
        std::vector<std::uint64_t> fill_stamps(capacity, 0);
        for (size_type slot = 0, k = 0; slot < capacity; ++slot) {
            if (state.filled[slot] != 0) {
                priorities[slot] = state.priorities[k];
                fill_stamps[slot] = state.fill_stamps[k];
                ++k;
            }
        }
        std::vector<double> weights(state.priorities.size());
        for (size_type rank = 1; rank <= weights.size(); ++rank) {
            weights[rank - 1] = rank_weight(rank, m_alpha);
        }
        m_order.assign(priorities.data(), fill_stamps.data());
        m_weights.assign(weights.begin(), weights.end());
        PER_ASSERT(state.fill_count <= sampler_state::max_fill_count); // fill() cannot wrap it
        m_fills = state.fill_count;
    }

    /// Bytes of heap storage: the order-statistics tree and the rank-weight tree.
    size_type memory_bytes() const noexcept {
        return m_order.memory_bytes() + m_weights.memory_bytes();
    }

private:
    // Calls apply(k) for k = 0, ..., count - 1, with the key of slots[k + 8] requested first.
    template <class Apply>
    void for_each_key_ahead(const size_type* slots, size_type count, Apply&& apply) noexcept {
        constexpr size_type lookahead = 8;
        for (size_type k = 0; k < count; ++k) {
            if (k + lookahead < count) {
                m_order.prefetch_key(slots[k + lookahead]);
            }
            apply(k);
        }
    }

    static const replay_options& validated(const replay_options& options, size_type capacity) {
        options.validate(name);
        detail::check_capacity(name, capacity, max_capacity());
        check_alpha(name, options.alpha(), capacity);
        return options;
    }

    // alpha must be finite, >= 0, and small enough that the smallest rank weight a sampler of
    // this capacity can hold, capacity^-alpha, is a normal double: then every filled slot has a
    // weight > 0 and every ratio of weights is finite.
    static void check_alpha(const char* where, double alpha, size_type capacity) {
        if (!(std::isfinite(alpha) && alpha >= 0.0)) {
            detail::throw_invalid_argument(where, "alpha", alpha, "must be finite and >= 0");
        }
        if (!(rank_weight(capacity, alpha) >= std::numeric_limits<double>::min())) {
            detail::throw_invalid_argument(
                where, "alpha", alpha,
                "is too large: capacity()^-alpha, the weight of the last rank, must be a normal "
                "double (alpha <= about " +
                    detail::format_value(1022.0 / std::log2(static_cast<double>(capacity))) +
                    " for capacity " + std::to_string(capacity) + ")");
        }
    }

    // The sampling weight of rank r (1-based): r^-alpha; 1 for every rank when alpha is 0.
    static double rank_weight(size_type rank, double alpha) noexcept {
        return std::pow(static_cast<double>(rank), -alpha);
    }

    double m_alpha;                        // the rank exponent
    detail::order_statistics_tree m_order; // filled slots in rank order; holds raw priorities
    weight_tree_type m_weights;            // leaf r-1 = r^-alpha for r <= size(), 0 beyond
    std::uint64_t m_fills = 0;             // fills so far: the tie-breaking stamps
};

/// The rank-based sampler: see basic_sampler and rank_index for the semantics. It has the
/// proportional sampler's API plus rank(slot) and slot_of_rank(rank), so that
/// replay_buffer<Item, rank_based_sampler> (alias: rank_based_replay<Item>) is the whole
/// switch from proportional to rank-based replay.
using rank_based_sampler = basic_sampler<rank_index>;

} // namespace per

#endif // PER_RANK_BASED_SAMPLER_HPP
