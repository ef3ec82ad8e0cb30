#ifndef PER_NAIVE_RANK_BASED_HPP
#define PER_NAIVE_RANK_BASED_HPP

/// @file
/// naive_rank_based_replay: the O(N log N) rank-based reference buffer (test oracle, benchmark
/// baseline).

#include "detail/error.hpp"
#include "detail/naive_ring.hpp"
#include "detail/special_members.hpp"
#include "detail/state_validation.hpp"
#include "replay_options.hpp"
#include "sampler_state.hpp"

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <numeric>
#include <stdexcept>
#include <string>
#include <vector>

namespace per {

/// The reference rank-based replay buffer, written the way the rank-based PER tutorial writes
/// it: a ring of items beside an array of raw priorities, and on every sample the items present
/// are sorted by priority (an argsort, O(N log N)), the rank weights r^-alpha are computed,
/// summed, accumulated and searched. It has the public API and the semantics of
/// rank_based_replay<Item> (prioritized_replay<Item, rank_based_sampler>) and consumes the
/// random engine in the same way, so that the same seed gives the same batch (up to draws that
/// rounding puts on the other side of a boundary). It exists to be obviously correct: it is the
/// oracle of the rank-based differential and statistical tests and the baseline of the
/// benchmarks. Use rank_based_replay<Item> in real code. The ring, push, updates, observers and
/// the sampling loop are detail::naive_ring, shared with naive_prioritized_replay; this class
/// adds the ranks and their weights.
//
/// Semantics (see rank_based_sampler in rank_based.hpp for the reasons):
/// - push fills slots 0, 1, 2, ... and, once capacity() items are stored, overwrites the oldest.
///   Each push increments its slot's 32-bit generation and returns the handle {slot,
///   generation}; an update whose handle names an older generation, or a slot that is empty
///   now, is stale and skipped.
/// - The items present are ranked by raw priority, largest first; among equal priorities the
///   more recently pushed item first (an update keeps the item's push order). rank(i) is 1 plus
///   the number of items that precede i. P(i) = rank(i)^-alpha / sum_{r=1..N} r^-alpha.
///   epsilon is ignored; an item of priority 0 ranks last and is still sampled. A sample draws
///   from the rank weights r^-alpha in rank order: the drawn rank is the first whose running sum
///   exceeds the prefix value, and the drawn item the one holding that rank.
/// - An item pushed without a priority gets max_priority(): the largest of
///   options().initial_max_priority() and every priority given since construction (by push or
///   by an applied update). It never decreases, not even on clear(). Such an item takes rank 1.
/// - Importance-sampling weights are (N P(i))^-beta with N = size(), normalized as
///   options().normalization() says (see importance.hpp).
/// - A priority is accepted if it is finite and >= 0. alpha is accepted if it is finite, >= 0
///   and capacity()^-alpha is a normal double (the rule of rank_based_sampler).
/// - sample throws std::out_of_range if the buffer is empty or, without replacement, if
///   batch_size exceeds size().
//
/// Complexity: push and update of one priority O(1); sample of B items O(N log N + B log N),
/// O(N log N + B N) without replacement; rank(slot) and probability(slot) O(N); set_alpha O(1);
/// clear O(N).
/// Exceptions: bad arguments throw std::invalid_argument / std::out_of_range naming the argument
/// and its value, before anything changes: the buffer (and an output batch) is then exactly as
/// before. push is as safe as Item's copy or move when it stores the item.
template <class Item>
class naive_rank_based_replay : public detail::naive_ring<naive_rank_based_replay<Item>, Item> {
    using ring = detail::naive_ring<naive_rank_based_replay<Item>, Item>;

public:
    using typename ring::item_type;
    using typename ring::size_type;

    /// O(N). An empty buffer for `capacity` items (storage is reserved up front).
    /// Throws std::invalid_argument if capacity is 0 or an option is invalid (alpha, epsilon or
    /// initial_max_priority negative or not finite, or alpha so large that capacity^-alpha is
    /// not a normal double), std::length_error if capacity is too large.
    explicit naive_rank_based_replay(size_type capacity, replay_options options = {})
        : ring(capacity, options)
        , m_pushes(capacity, 0) {
        check_alpha(name, m_options.alpha());
        m_items.reserve(capacity);
    }

    /// O(N). An exact copy, its storage reserved up front like a new buffer's. Throws
    /// std::bad_alloc and what copying an Item throws.
    naive_rank_based_replay(const naive_rank_based_replay&) = default;
    /// O(1). Takes the other buffer's items; the other buffer is left moved-from, as
    /// rank_based_replay's is (empty, capacity() 0, settings and push count kept, push throws
    /// std::logic_error).
    naive_rank_based_replay(naive_rank_based_replay&& other) noexcept
        : ring(std::move(other))
        , m_pushes(std::move(other.m_pushes))
        , m_push_count(other.m_push_count) {}
    /// O(N). Strong guarantee: if copying an Item or allocating throws, *this is unchanged.
    naive_rank_based_replay& operator=(const naive_rank_based_replay& other) {
        return detail::assign_copy(*this, other);
    }
    /// As the move constructor; self-move-assignment does nothing.
    naive_rank_based_replay& operator=(naive_rank_based_replay&& other) noexcept {
        if (this != &other) {
            ring::operator=(std::move(other));
            detail::move_and_empty(m_pushes, other.m_pushes);
            m_push_count = other.m_push_count;
        }
        return *this;
    }
    ~naive_rank_based_replay() = default;

    /// O(1). Changes the rank exponent; the next samples use r^-alpha. Throws
    /// std::invalid_argument naming alpha if it is negative, not finite, or so large that
    /// capacity()^-alpha is not a normal double. Unchanged on throw.
    void set_alpha(double alpha) {
        check_alpha("per::naive_rank_based_replay::set_alpha", alpha);
        m_options.alpha(alpha);
    }

    /// O(N). The rank of the item in `slot`: 1 plus the number of items that precede it.
    /// Throws std::out_of_range if slot >= size().
    size_type rank(size_type slot) const {
        check_present("per::naive_rank_based_replay::rank", slot);
        size_type preceding = 0;
        for (size_type other = 0; other < m_items.size(); ++other) {
            preceding += precedes(other, slot);
        }
        return preceding + 1;
    }

    /// O(N). P(slot) = rank(slot)^-alpha / sum_{r=1..N} r^-alpha. Throws std::out_of_range if
    /// slot >= size().
    double probability(size_type slot) const {
        check_present("per::naive_rank_based_replay::probability", slot);
        return rank_weight(rank(slot)) / sum(rank_weights());
    }

private:
    friend ring;
    using ring::check_present;
    using ring::check_sample_arguments;
    using ring::m_capacity;
    using ring::m_items;
    using ring::m_options;
    using ring::m_priorities;
    using ring::sum;

    /// The class the error messages name (the ring's members append "::push" and so on).
    static constexpr const char* name = "per::naive_rank_based_replay";

    /// What a sample draws from: the rank weights, in rank order, and the slot holding each
    /// rank.
    struct distribution {
        std::vector<size_type> slots; // the argsort: slots_by_rank()
        std::vector<double> weights;  // rank_weights()
        double smallest_weight;       // the weight of rank N, the least likely item's
        size_type slot(size_type position) const { return slots[position]; }
    };

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

    /// Whether `priority` is valid: what check_priority lets through, without building a message.
    bool accepts_priority(double priority) const {
        return std::isfinite(priority) && priority >= 0.0;
    }
    /// Throws std::invalid_argument naming `argument` if `priority` is negative or not finite.
    void check_priority(const char* where, const char* argument, double priority) const {
        if (!accepts_priority(priority)) {
            detail::throw_invalid_argument(where, argument, priority, "must be finite and >= 0");
        }
    }

    /// Records the push order, which breaks ties between equal priorities.
    void on_push(size_type slot) noexcept { m_pushes[slot] = ++m_push_count; }

    /// In its sampler_state the push order is the fill clock: fill_count is the number of
    /// pushes so far, the fill stamps are the push stamps of the items present.
    static constexpr detail::stamp_rule state_stamps = detail::stamp_rule::required;
    void export_stamps(sampler_state& state) const {
        state.fill_count = m_push_count;
        state.fill_stamps.assign(m_pushes.begin(), m_pushes.begin() + m_items.size());
    }
    /// On a buffer just constructed for an import: validates the push stamps as a
    /// rank_based_sampler's (detail::check_fill_stamps) and takes them.
    /// fill_count must be <= sampler_state::max_fill_count there too, so that the push counter
    /// cannot wrap in the next 2^63 pushes.
    void import_stamps(const char* where, const char* prefix, const sampler_state& state) {
        detail::check_fill_stamps(where, prefix, state);
        std::copy(state.fill_stamps.begin(), state.fill_stamps.end(), m_pushes.begin());
        m_push_count = state.fill_count;
    }

    /// Whether the item in slot a ranks before the item in slot b.
    bool precedes(size_type a, size_type b) const {
        return m_priorities[a] > m_priorities[b] ||
               (m_priorities[a] == m_priorities[b] && m_pushes[a] > m_pushes[b]);
    }

    double rank_weight(size_type rank) const {
        return std::pow(static_cast<double>(rank), -m_options.alpha());
    }

    /// The weights of ranks 1..N.
    std::vector<double> rank_weights() const {
        std::vector<double> weights(m_items.size());
        for (size_type r = 0; r < weights.size(); ++r) {
            weights[r] = rank_weight(r + 1);
        }
        return weights;
    }

    /// The argsort: slots of the items present, best rank first.
    std::vector<size_type> slots_by_rank() const {
        std::vector<size_type> order(m_items.size());
        std::iota(order.begin(), order.end(), size_type{0});
        std::sort(order.begin(), order.end(),
                  [this](size_type a, size_type b) { return precedes(a, b); });
        return order;
    }

    /// Validates a sample call (the exceptions of sample) and returns what it draws from: the
    /// items sorted by rank and the rank weights. O(N log N).
    distribution check_sample(const char* where, size_type batch_size, double beta) const {
        check_sample_arguments(where, batch_size, beta);
        if (m_options.sampling() == sampling_mode::without_replacement &&
            batch_size > m_items.size()) {
            detail::throw_out_of_range(where, "batch_size", batch_size,
                                       "must be <= size() = " + std::to_string(m_items.size()) +
                                           " when sampling without replacement");
        }
        distribution result{slots_by_rank(), rank_weights(), 0.0};
        result.smallest_weight = result.weights.back(); // rank N's; every rank weight is > 0
        return result;
    }

    std::vector<std::uint64_t> m_pushes; // when each slot was last pushed (for ties)
    std::uint64_t m_push_count = 0;      // pushes so far
};

} // namespace per

#endif // PER_NAIVE_RANK_BASED_HPP
