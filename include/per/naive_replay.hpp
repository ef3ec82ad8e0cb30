#ifndef PER_NAIVE_REPLAY_HPP
#define PER_NAIVE_REPLAY_HPP

/// @file
/// naive_prioritized_replay: the O(N) proportional reference buffer (test oracle, benchmark
/// baseline).

#include "detail/error.hpp"
#include "detail/naive_ring.hpp"
#include "detail/special_members.hpp"
#include "detail/state_validation.hpp"
#include "replay_options.hpp"
#include "sampler_state.hpp"

#include <cmath>
#include <cstddef>
#include <limits>
#include <stdexcept>
#include <string>
#include <vector>

namespace per {

/// The O(N) reference prioritized replay buffer, written the way the PER tutorials write it
/// (tutorial design 1): a ring of items beside an array of raw priorities, and on every sample
/// the sampling weights p^alpha of the items present are recomputed, summed, accumulated and
/// searched. It has the public API and the semantics of prioritized_replay<Item> and consumes
/// the random engine in the same way, so that the same seed gives the same batch (up to draws
/// that rounding puts on the other side of a boundary). It exists to be obviously correct: it is
/// the oracle of the differential and statistical tests and the baseline of the benchmarks. Use
/// prioritized_replay<Item> in real code. The ring, push, updates, observers and the sampling
/// loop are detail::naive_ring, shared with naive_rank_based_replay; this class adds the
/// proportional weights.
//
/// Semantics (Schaul et al. 2016, "Prioritized Experience Replay"):
/// - push fills slots 0, 1, 2, ... and, once capacity() items are stored, overwrites the oldest.
///   Each push increments its slot's 32-bit generation and returns the handle {slot,
///   generation}; an update whose handle names an older generation, or a slot that is empty
///   now, is stale and skipped.
/// - A stored item has a raw priority p >= 0 (typically |TD error|; epsilon is added here, not
///   by the caller) and the sampling weight w = (p + epsilon)^alpha, or 0 when p + epsilon == 0
///   ("never sampled", whatever alpha, although std::pow(0, 0) is 1). P(i) = w_i / the sum of w
///   over the items present. A sample draws from the weights of the items present in slot
///   order.
/// - An item pushed without a priority gets max_priority(): the largest of
///   options().initial_max_priority() and every priority given since construction (by push or
///   by an applied update). It never decreases, not even on clear().
/// - Importance-sampling weights are (N P(i))^-beta with N = size(), normalized as
///   options().normalization() says (see importance.hpp).
/// - A priority is accepted if it is finite, >= 0 and its weight (p + epsilon)^alpha is at most
///   max double / (4 capacity()), so that no sum of weights can overflow (the same bound as the
///   sum tree of prioritized_replay).
/// - sample throws std::out_of_range if no item present has a non-zero weight (which includes an
///   empty buffer) or, without replacement, if batch_size exceeds the number of items with a
///   non-zero weight.
//
/// Complexity: push and update of one priority O(1); sample of B items O(N + B log N), O(B N)
/// without replacement; probability(slot) O(N); set_alpha O(N) (to check nothing overflows);
/// clear O(N).
/// Exceptions: bad arguments throw std::invalid_argument / std::out_of_range naming the argument
/// and its value, before anything changes: the buffer (and an output batch) is then exactly as
/// before. push is as safe as Item's copy or move when it stores the item.
template <class Item>
class naive_prioritized_replay : public detail::naive_ring<naive_prioritized_replay<Item>, Item> {
    using ring = detail::naive_ring<naive_prioritized_replay<Item>, Item>;

public:
    using typename ring::item_type;
    using typename ring::size_type;

    /// O(N). An empty buffer for `capacity` items (storage is reserved up front).
    /// Throws std::invalid_argument if capacity is 0 or an option is invalid (alpha, epsilon or
    /// initial_max_priority negative or not finite, or an initial_max_priority whose weight
    /// would overflow the sums), std::length_error if capacity is too large.
    explicit naive_prioritized_replay(size_type capacity, replay_options options = {})
        : ring(capacity, options) {
        if (!fits(m_max_priority, m_options.alpha())) {
            detail::throw_invalid_argument(name, "initial_max_priority", m_max_priority,
                                           overflow_requirement());
        }
        m_items.reserve(capacity);
    }

    /// O(N). An exact copy, its storage reserved up front like a new buffer's. Throws
    /// std::bad_alloc and what copying an Item throws.
    naive_prioritized_replay(const naive_prioritized_replay&) = default;
    /// O(1). Takes the other buffer's items; the other buffer is left moved-from, as
    /// prioritized_replay's is (empty, capacity() 0, settings kept, push throws
    /// std::logic_error).
    naive_prioritized_replay(naive_prioritized_replay&&) noexcept = default;
    /// O(N). Strong guarantee: if copying an Item or allocating throws, *this is unchanged.
    naive_prioritized_replay& operator=(const naive_prioritized_replay& other) {
        return detail::assign_copy(*this, other);
    }
    /// As the move constructor; self-move-assignment does nothing.
    naive_prioritized_replay& operator=(naive_prioritized_replay&&) noexcept = default;
    ~naive_prioritized_replay() = default;

    /// O(N). Changes the priority exponent; the next samples use (p + epsilon)^alpha with the
    /// stored raw priorities. Throws std::invalid_argument naming alpha if it is negative, not
    /// finite, or so large that the weight of max_priority() would overflow the sums.
    /// Unchanged on throw.
    void set_alpha(double alpha) {
        const char* where = "per::naive_prioritized_replay::set_alpha";
        if (!(std::isfinite(alpha) && alpha >= 0.0)) {
            detail::throw_invalid_argument(where, "alpha", alpha, "must be finite and >= 0");
        }
        /// Every stored priority is <= max_priority(), and the weight grows with the priority.
        if (!fits(m_max_priority, alpha)) {
            detail::throw_invalid_argument(where, "alpha", alpha,
                                           "would overflow the weight of max_priority() = " +
                                               detail::format_value(m_max_priority) + " (" +
                                               overflow_requirement() + ")");
        }
        m_options.alpha(alpha);
    }

    /// O(N). P(slot) = its weight / the sum of the weights of the items present; 0 for an item
    /// whose weight is 0. Throws std::out_of_range if slot >= size().
    double probability(size_type slot) const {
        check_present("per::naive_prioritized_replay::probability", slot);
        const double weight = weight_of(m_priorities[slot]);
        return weight > 0.0 ? weight / total_weight() : 0.0;
    }

private:
    friend ring;
    using ring::check_present;
    using ring::check_sample_arguments;
    using ring::m_capacity;
    using ring::m_items;
    using ring::m_max_priority;
    using ring::m_options;
    using ring::m_priorities;
    using ring::sum;

    /// The class the error messages name (the ring's members append "::push" and so on).
    static constexpr const char* name = "per::naive_prioritized_replay";

    /// What a sample draws from: the weights of the items present, in slot order.
    struct distribution {
        std::vector<double> weights;
        double smallest_weight; // the least non-zero weight
        static size_type slot(size_type position) { return position; }
    };

    /// The sampling weight of raw priority p: (p + epsilon)^alpha, and 0 when p + epsilon is 0.
    double weight_of(double priority, double alpha) const {
        const double base = priority + m_options.epsilon();
        return base > 0.0 ? std::pow(base, alpha) : 0.0;
    }
    double weight_of(double priority) const { return weight_of(priority, m_options.alpha()); }

    /// Whether the weight of `priority` under `alpha` is small enough that the sum of
    /// capacity() such weights stays finite with room to spare.
    bool fits(double priority, double alpha) const {
        const double largest_weight =
            std::numeric_limits<double>::max() / (4.0 * static_cast<double>(m_capacity));
        return weight_of(priority, alpha) <= largest_weight;
    }
    std::string overflow_requirement() const {
        return "must keep (priority + epsilon)^alpha <= max double / (4 capacity()), so that "
               "the sums cannot overflow";
    }

    /// Whether `priority` is valid: what check_priority lets through, without building a message.
    bool accepts_priority(double priority) const {
        return std::isfinite(priority) && priority >= 0.0 && fits(priority, m_options.alpha());
    }
    /// Throws std::invalid_argument naming `argument` if `priority` is negative, not finite or
    /// too large (see the class comment). import_state calls it too.
    void check_priority(const char* where, const char* argument, double priority) const {
        if (!(std::isfinite(priority) && priority >= 0.0)) {
            detail::throw_invalid_argument(where, argument, priority, "must be finite and >= 0");
        }
        if (!fits(priority, m_options.alpha())) {
            detail::throw_invalid_argument(where, argument, priority, overflow_requirement());
        }
    }

    /// Nothing to record per push beyond the ring's own state, and no push stamps in its
    /// sampler_state: ties do not matter to proportional weights.
    void on_push(size_type) noexcept {}
    static constexpr detail::stamp_rule state_stamps = detail::stamp_rule::none;
    void export_stamps(sampler_state&) const noexcept {}
    void import_stamps(const char*, const char*, const sampler_state&) const noexcept {}

    /// The weights of the items present, in slot order.
    std::vector<double> present_weights() const {
        std::vector<double> weights(m_items.size());
        for (size_type i = 0; i < m_items.size(); ++i) {
            weights[i] = weight_of(m_priorities[i]);
        }
        return weights;
    }

    double total_weight() const { return sum(present_weights()); }

    static size_type count_non_zero(const std::vector<double>& values) {
        size_type count = 0;
        for (double value : values) {
            count += value > 0.0;
        }
        return count;
    }

    /// Validates a sample call (the exceptions of sample) and returns what it draws from: the
    /// sampling weights of the items present, computed once per call as the tutorials do, and
    /// the least non-zero one. O(N).
    distribution check_sample(const char* where, size_type batch_size, double beta) const {
        check_sample_arguments(where, batch_size, beta);
        distribution result{present_weights(), std::numeric_limits<double>::infinity()};
        const size_type sampleable = count_non_zero(result.weights);
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
        for (double weight : result.weights) {
            if (weight > 0.0 && weight < result.smallest_weight) {
                result.smallest_weight = weight;
            }
        }
        return result;
    }
};

} // namespace per

#endif // PER_NAIVE_REPLAY_HPP
