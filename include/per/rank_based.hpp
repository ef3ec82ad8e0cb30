#ifndef PER_RANK_BASED_HPP
#define PER_RANK_BASED_HPP

#include "detail/error.hpp"
#include "detail/order_statistics_tree.hpp"
#include "detail/random.hpp"
#include "detail/update_validation.hpp"
#include "importance.hpp"
#include "prioritized_replay.hpp"
#include "replay_options.hpp"
#include "sample_batch.hpp"
#include "sum_tree.hpp"

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <iterator>
#include <limits>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <vector>

namespace per {

namespace detail {
struct checkpoint_access; // checkpoint.hpp: save / load of the private state
} // namespace detail

// The storage-agnostic logic of rank-based prioritized replay (the PER paper's second variant)
// over slots 0..capacity-1, with exact ranks in O(log N). It plays the role of
// prioritized_sampler and has its API, so that
//
//     per::prioritized_replay<Item, per::rank_based_sampler>   (alias: per::rank_based_replay)
//
// is the whole switch from proportional to rank-based replay.
//
// Semantics (Schaul et al. 2016, section 3.3):
// - A filled slot i has a raw priority p_i >= 0 (typically |TD error|). The N filled slots are
//   ranked by it: rank 1 is the largest priority. The sampling weight of rank r is r^-alpha, so
//   P(i) = rank(i)^-alpha / sum_{r=1..N} r^-alpha: a power law that depends only on N and alpha,
//   whatever the priorities' scale. alpha 0 is uniform.
// - Ties: among equal priorities the more recently filled item ranks first (fills are counted;
//   an update keeps the item's place in that count). Hence an item filled without a priority,
//   which gets max_priority() (>= every priority present), always takes rank 1: the newest
//   transition is the likeliest to be replayed next, as the paper's "new transitions get the
//   maximal priority" intends. 0.0 and -0.0 tie.
// - epsilon plays no role: adding it to every priority changes no rank. options().epsilon() is
//   validated and kept, but ignored.
// - Every filled slot has rank weight > 0, also with priority 0 (it ranks last, but is still
//   sampled): sampleable_size() == size().
// - Importance-sampling weights are (N P(i))^-beta, normalized as options().normalization()
//   says (see importance.hpp); for global_max the reference is the least likely item, rank N.
// - max_priority() is the largest of options().initial_max_priority() and every priority given
//   since construction (by fill or by an applied update); it never decreases, not on clear()
//   either.
// - Handles: filling a slot increments its 32-bit generation; an update whose handle names an
//   older generation, or a slot that is empty now, is stale and skipped.
// - The paper's rank-based defaults are alpha 0.7 and beta annealed from 0.5 to 1; pass them
//   (replay_options{}.alpha(0.7)): the options' defaults are the proportional variant's.
//
// Sampling. The distribution over ranks lives in a sum tree over rank positions (leaf r-1 holds
// r^-alpha for r <= N, 0 beyond): a draw is a prefix search there, with the same rule and the
// same random numbers as prioritized_sampler, and the slot holding the drawn rank comes from an
// order-statistics tree (a counted B+ tree of the slots in rank order, about 5 levels deep for
// 4 million items: see detail/order_statistics_tree.hpp). Stratified sampling
// cuts the rank distribution into B slices of equal probability and draws once in each: the
// paper's segments, except that within a segment we draw exactly by P, where the paper took a
// rank uniformly. Ranks are exact at every moment, not the paper's approximate heap order.
//
// Complexity (N = size(), C = capacity()): fill, erase and one priority update are O(log C);
// sampling B items is O(B log C); priority, contains, handle O(1); probability, rank and
// slot_of_rank O(log C); set_alpha O(C) (it rewrites the rank weights); clear O(C). Growing N by
// one changes one rank weight. Memory: about 77 bytes per slot, allocated at construction: 16
// for the slot's key, up to 47 for the B+ tree's nodes (its pools are sized for the worst case,
// every node half full, so that no operation allocates), 9 to 10 for the rank-weight tree and
// 4 of generation.
//
// Exceptions: every member that takes user input validates all of it before changing
// anything, and throws std::invalid_argument or std::out_of_range naming the argument and its
// value; the sampler (and any output argument) is then exactly as before (strong guarantee).
// sample() offers the same guarantee if the random engine throws.
class rank_based_sampler {
public:
    using size_type = std::size_t;
    using tree_type = sum_tree<double>; // the rank weights

    // O(C). `capacity` empty slots. Throws std::invalid_argument if capacity is 0, if an option
    // is invalid (alpha, epsilon or initial_max_priority negative or not finite), or if alpha
    // is so large that capacity^-alpha, the weight of the last rank, is not a normal double
    // (alpha above about 1022 / log2(capacity)); std::length_error if capacity exceeds
    // max_capacity().
    explicit rank_based_sampler(size_type capacity, replay_options options = {})
        : m_options(validated(options, capacity))
        , m_index(capacity)
        , m_rank_weights(capacity)
        , m_generations(capacity, 0)
        , m_max_priority(options.initial_max_priority()) {}

    // The largest capacity: 2^32 - 1 (slots are 32-bit indices in the order-statistics tree).
    static constexpr size_type max_capacity() noexcept {
        return detail::order_statistics_tree::max_capacity() < tree_type::max_capacity()
                   ? detail::order_statistics_tree::max_capacity()
                   : tree_type::max_capacity();
    }

    // --- Observers, O(1) unless stated ------------------------------------------------------

    size_type capacity() const noexcept { return m_generations.size(); }
    // Number of filled slots: the N of the ranks and of the importance-sampling weights.
    size_type size() const noexcept { return m_index.size(); }
    bool empty() const noexcept { return m_index.size() == 0; }
    // The most a batch without replacement can hold: every filled slot (rank weights are > 0).
    size_type sampleable_size() const noexcept { return m_index.size(); }
    const replay_options& options() const noexcept { return m_options; }
    double alpha() const noexcept { return m_options.alpha(); }
    double max_priority() const noexcept { return m_max_priority; }
    // sum_{r=1..N} r^-alpha: the normalizer of P.
    double total_weight() const noexcept { return m_rank_weights.total(); }

    // Whether `slot` holds an item. Throws std::out_of_range if slot >= capacity().
    bool contains(size_type slot) const {
        check_slot("per::rank_based_sampler::contains", slot);
        return m_index.contains(slot);
    }
    // The raw priority p of a filled slot. Throws std::out_of_range if slot >= capacity() or
    // the slot is empty.
    double priority(size_type slot) const {
        check_filled("per::rank_based_sampler::priority", slot);
        return m_index.priority(slot);
    }
    // O(log C). The rank of a filled slot: 1 for the largest priority, size() for the
    // smallest. Throws as priority().
    size_type rank(size_type slot) const {
        check_filled("per::rank_based_sampler::rank", slot);
        return m_index.position(slot) + 1;
    }
    // O(log C). The slot holding rank `rank` (1-based). Throws std::out_of_range unless
    // 1 <= rank <= size().
    size_type slot_of_rank(size_type rank) const {
        if (rank == 0 || rank > size()) {
            detail::throw_out_of_range("per::rank_based_sampler::slot_of_rank", "rank", rank,
                                       "must be in [1, size()] = [1, " + std::to_string(size()) +
                                           "]");
        }
        return m_index.select(rank - 1);
    }
    // O(log C). P(slot) = rank(slot)^-alpha / total_weight(). Throws as priority().
    double probability(size_type slot) const {
        check_filled("per::rank_based_sampler::probability", slot);
        return m_rank_weights.get(m_index.position(slot)) / total_weight();
    }
    // The handle of the item now in `slot`. Throws as priority().
    replay_handle handle(size_type slot) const {
        check_filled("per::rank_based_sampler::handle", slot);
        return {slot, m_generations[slot]};
    }

    // Bytes of heap storage used to index the slots (order-statistics tree, rank-weight tree,
    // generations).
    size_type memory_bytes() const noexcept {
        return m_index.memory_bytes() + m_rank_weights.memory_bytes() +
               m_generations.size() * sizeof(std::uint32_t);
    }

    // Throws std::invalid_argument (naming `argument` and the value, with `where` in the
    // message) unless `priority` is finite and >= 0. Changes nothing. Lets a container check a
    // priority before it writes the item that goes with it. (Any finite priority is accepted:
    // ranks cannot overflow.)
    void validate_priority(const char* where, const char* argument, double priority) const {
        if (!(std::isfinite(priority) && priority >= 0.0)) {
            detail::throw_invalid_argument(where, argument, priority, "must be finite and >= 0");
        }
    }

    // --- Filling and emptying slots ---------------------------------------------------------

    // O(log C). `slot` now holds a new item with priority max_priority(): it takes rank 1.
    // Returns its handle (the slot's generation is incremented, so handles of the previous
    // occupant go stale). Throws std::out_of_range if slot >= capacity().
    replay_handle fill(size_type slot) {
        check_slot("per::rank_based_sampler::fill", slot);
        return fill_validated(slot, m_max_priority);
    }

    // As fill(slot), with the given raw priority (which also raises max_priority() if larger).
    // Throws std::out_of_range if slot >= capacity(), std::invalid_argument if the priority is
    // negative or not finite.
    replay_handle fill(size_type slot, double priority) {
        check_slot("per::rank_based_sampler::fill", slot);
        validate_priority("per::rank_based_sampler::fill", "priority", priority);
        return fill_validated(slot, priority);
    }

    // fill without validation, for containers that validated slot and priority already.
    // Precondition (PER_ASSERT): slot < capacity(), validate_priority would accept priority.
    replay_handle fill_validated(size_type slot, double priority) noexcept {
        PER_ASSERT(slot < capacity() && priority >= 0.0 && std::isfinite(priority));
        if (m_index.contains(slot)) {
            m_index.erase(slot);
        } else {
            const size_type rank = size() + 1;
            m_rank_weights.set_unchecked(rank - 1, rank_weight(rank, alpha()));
        }
        m_index.insert(slot, priority, ++m_fills);
        if (priority > m_max_priority) {
            m_max_priority = priority;
        }
        return {slot, ++m_generations[slot]};
    }

    // O(log C). Empties `slot` (no-op if already empty); updates for its handles become stale.
    // Throws std::out_of_range if slot >= capacity().
    void erase(size_type slot) {
        check_slot("per::rank_based_sampler::erase", slot);
        if (!m_index.contains(slot)) {
            return;
        }
        m_rank_weights.set_unchecked(size() - 1, 0.0);
        m_index.erase(slot);
    }

    // O(C). Empties every slot. Generations are kept, so handles from before stay stale after
    // their slots are filled again. max_priority() is kept as well.
    void clear() noexcept {
        m_index.clear();
        m_rank_weights.clear();
    }

    // O(C): rewrites the rank weights r^-alpha (alpha annealing pays this each time alpha
    // changes; change it every few thousand steps, not every step). Ranks do not change.
    // Throws std::invalid_argument if alpha is negative, not finite, or so large that
    // capacity()^-alpha is not a normal double; std::bad_alloc if the O(C) staging buffer
    // cannot be allocated. Unchanged on throw.
    void set_alpha(double alpha) {
        check_alpha("per::rank_based_sampler::set_alpha", alpha, capacity());
        std::vector<double> weights(size());
        for (size_type rank = 1; rank <= weights.size(); ++rank) {
            weights[rank - 1] = rank_weight(rank, alpha);
        }
        m_rank_weights.assign(weights.begin(), weights.end()); // strong guarantee
        m_options.alpha(alpha);
    }

    // --- Sampling ---------------------------------------------------------------------------

    // O(B log C). Draws batch_size slots by P(i) in options().sampling() mode, with
    // importance-sampling weights for the given beta. `generator` is any
    // UniformRandomBitGenerator; the same generator state and the same calls give the same
    // batch on every platform (the library turns bits into numbers itself). The random numbers
    // are used as prioritized_sampler uses them, one detail::uniform_unit per draw:
    // - stratified: the k-th draw is the prefix value (k + U_k) * total_weight() / B;
    // - independent: U_k * total_weight();
    // - without replacement: U_k * (the total weight of the ranks not drawn yet in this batch);
    // and the drawn rank is the first whose running sum of rank weights exceeds the prefix
    // value (the last rank if rounding puts the value at or past the total).
    // probabilities()[k] is the item's single-draw P(i), also without replacement.
    // Throws std::invalid_argument if batch_size is 0 or beta is not in [0, 1];
    // std::out_of_range if the sampler is empty, or, without replacement, if
    // batch_size > size(). The sampler and `out` are unchanged when these throw. If the
    // generator itself throws, the sampler is still unchanged; the output's contents are then
    // unspecified.
    template <class Generator>
    void sample(size_type batch_size, double beta, Generator& generator, sample_batch& out) {
        validate_sample("per::rank_based_sampler::sample", batch_size, beta);
        detail::batch_writer::resize(out, batch_size);
        sample_validated(batch_size, beta, generator, detail::batch_writer::handles(out),
                         detail::batch_writer::weights(out),
                         detail::batch_writer::probabilities(out));
        detail::batch_writer::copy_slots_from_handles(out);
    }

    // As above, returning a new batch.
    template <class Generator>
    sample_batch sample(size_type batch_size, double beta, Generator& generator) {
        sample_batch batch;
        sample(batch_size, beta, generator, batch);
        return batch;
    }

    // As above, writing into caller storage of batch_size elements each (no allocation); the
    // slots are handles[k].slot.
    template <class Generator>
    void sample_into(size_type batch_size, double beta, Generator& generator,
                     replay_handle* handles, double* weights, double* probabilities) {
        validate_sample("per::rank_based_sampler::sample_into", batch_size, beta);
        sample_validated(batch_size, beta, generator, handles, weights, probabilities);
    }

    // --- Priority updates -------------------------------------------------------------------

    // O(count log C). Sets the raw priority of each item named by handles[k] to priorities[k]
    // (usually |TD error|), moving it to its new rank. Handles of items that were overwritten
    // or erased since they were sampled are skipped. Updates apply in order (for a repeated
    // handle the last one wins). Returns the number applied. Priorities may be float or
    // double. Throws, before applying any: std::out_of_range if a handle's slot >= capacity();
    // std::invalid_argument if a priority is negative or not finite. Unchanged on throw.
    template <class Priority>
    size_type update_priorities(const replay_handle* handles, const Priority* priorities,
                                size_type count) {
        detail::validate_updates(
            "per::rank_based_sampler::update_priorities", handles, priorities, count, capacity(),
            [](double priority) { return std::isfinite(priority) && priority >= 0.0; },
            [this](const char* argument, double priority) {
                validate_priority("per::rank_based_sampler::update_priorities", argument, priority);
            });
        size_type applied = 0;
        for (size_type k = 0; k < count; ++k) {
            applied += apply_update(handles[k], static_cast<double>(priorities[k]));
        }
        return applied;
    }

    // As above for any two contiguous ranges with data() and size() (std::vector,
    // std::array, C arrays, std::span). Throws std::invalid_argument if their sizes differ.
    template <class Handles, class Priorities>
    size_type update_priorities(const Handles& handles, const Priorities& priorities) {
        detail::check_same_size("per::rank_based_sampler::update_priorities", handles, priorities);
        return update_priorities(std::data(handles), std::data(priorities), std::size(handles));
    }

    // One update; returns whether it applied (false for a stale handle). Throws as above.
    bool update_priority(replay_handle handle, double priority) {
        return update_priorities(&handle, &priority, 1) == 1;
    }

private:
    friend struct detail::checkpoint_access;
    static constexpr const char* where_constructor = "per::rank_based_sampler";

    static const replay_options& validated(const replay_options& options, size_type capacity) {
        options.validate(where_constructor);
        detail::check_capacity(where_constructor, capacity, max_capacity());
        check_alpha(where_constructor, options.alpha(), capacity);
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

    void check_slot(const char* where, size_type slot) const {
        detail::check_index(where, "slot", slot, capacity());
    }
    void check_filled(const char* where, size_type slot) const {
        check_slot(where, slot);
        if (!m_index.contains(slot)) {
            detail::throw_out_of_range(where, "slot", slot, "is empty");
        }
    }

    void validate_sample(const char* where, size_type batch_size, double beta) const {
        if (batch_size == 0) {
            detail::throw_invalid_argument(where, "batch_size", batch_size, "must be > 0");
        }
        if (!(beta >= 0.0 && beta <= 1.0)) {
            detail::throw_invalid_argument(where, "beta", beta, "must be in [0, 1]");
        }
        if (empty()) {
            throw std::out_of_range(std::string(where) + ": nothing to sample: 0 items");
        }
        if (m_options.sampling() == sampling_mode::without_replacement && batch_size > size()) {
            detail::throw_out_of_range(where, "batch_size", batch_size,
                                       "must be <= size() = " + std::to_string(size()) +
                                           " when sampling without replacement");
        }
    }

    bool apply_update(replay_handle handle, double priority) noexcept {
        const size_type slot = handle.slot;
        if (!m_index.contains(slot) || m_generations[slot] != handle.generation) {
            return false;
        }
        const double old = m_index.priority(slot);
        // An equal priority keeps the rank: skip the tree work (but store -0.0 over 0.0 and
        // back, so that priority() returns the value given, as in prioritized_sampler).
        if (priority != old || std::signbit(priority) != std::signbit(old)) {
            // The fill stamp stays: among equal priorities the item keeps its age.
            const std::uint64_t stamp = m_index.stamp(slot);
            m_index.erase(slot);
            m_index.insert(slot, priority, stamp);
        }
        if (priority > m_max_priority) {
            m_max_priority = priority;
        }
        return true;
    }

    // Draws the ranks first (into handles[k].slot, as 0-based rank positions), then turns
    // them into slots in one select_batch, then computes probabilities and weights.
    template <class Generator>
    void sample_validated(size_type batch_size, double beta, Generator& generator,
                          replay_handle* handles, double* weights, double* probabilities) {
        if (m_options.sampling() == sampling_mode::without_replacement) {
            draw_without_replacement(batch_size, generator, handles, weights);
        } else {
            draw_with_replacement(batch_size, generator, handles);
        }
        // Nothing below throws.
        const double total = total_weight();
        for (size_type k = 0; k < batch_size; ++k) {
            weights[k] = m_rank_weights.get(handles[k].slot);
            probabilities[k] = weights[k] / total;
        }
        constexpr size_type chunk = 64;
        size_type slots[chunk];
        for (size_type begin = 0; begin < batch_size; begin += chunk) {
            const size_type count = batch_size - begin < chunk ? batch_size - begin : chunk;
            for (size_type q = 0; q < count; ++q) {
                slots[q] = handles[begin + q].slot;
            }
            m_index.select_batch(slots, count);
            for (size_type q = 0; q < count; ++q) {
                handles[begin + q] = {slots[q], m_generations[slots[q]]};
            }
        }
        detail::importance_weights_from_values(weights, batch_size, total, size(), beta,
                                               m_options.normalization(),
                                               m_rank_weights.get(size() - 1), weights);
    }

    // Stratified: u_k = (k + U_k) * total / B, one draw per slice, in increasing order.
    // Independent: u_k = U_k * total. A u that rounding puts at or above the total lands on the
    // last rank.
    template <class Generator>
    void draw_with_replacement(size_type batch_size, Generator& generator,
                               replay_handle* handles) const {
        const double total = total_weight();
        const bool stratified = m_options.sampling() == sampling_mode::stratified;
        const double slice = total / static_cast<double>(batch_size);
        constexpr size_type chunk = 64;
        double prefixes[chunk];
        size_type positions[chunk];
        for (size_type begin = 0; begin < batch_size; begin += chunk) {
            const size_type count = batch_size - begin < chunk ? batch_size - begin : chunk;
            for (size_type q = 0; q < count; ++q) {
                const double unit = detail::uniform_unit(generator);
                prefixes[q] =
                    stratified ? (static_cast<double>(begin + q) + unit) * slice : unit * total;
            }
            m_rank_weights.find_prefix_batch_unchecked(prefixes, count, positions);
            for (size_type q = 0; q < count; ++q) {
                handles[begin + q].slot = positions[q];
            }
        }
    }

    // Successive sampling: each draw is proportional to the weights of the ranks not drawn yet.
    // Drawn ranks are zeroed in the rank-weight tree for the rest of the batch, then restored
    // from `saved` (the caller's weights buffer, overwritten later); restoring recomputes the
    // same sums bit for bit, also when the generator throws half-way.
    template <class Generator>
    void draw_without_replacement(size_type batch_size, Generator& generator,
                                  replay_handle* handles, double* saved) {
        struct restore_on_exit {
            tree_type& tree;
            const replay_handle* handles;
            const double* saved;
            size_type drawn = 0;
            ~restore_on_exit() {
                for (size_type k = drawn; k-- > 0;) {
                    tree.set_unchecked(handles[k].slot, saved[k]);
                }
            }
        } restore{m_rank_weights, handles, saved};
        for (size_type k = 0; k < batch_size; ++k) {
            const double u = detail::uniform_unit(generator) * m_rank_weights.total();
            const size_type position = m_rank_weights.find_prefix_unchecked(u);
            handles[k].slot = position;
            saved[k] = m_rank_weights.get(position);
            m_rank_weights.set_unchecked(position, 0.0);
            restore.drawn = k + 1;
        }
    }

    replay_options m_options;
    detail::order_statistics_tree m_index;    // filled slots in rank order; holds raw priorities
    tree_type m_rank_weights;                 // leaf r-1 = r^-alpha for r <= size(), 0 beyond
    std::vector<std::uint32_t> m_generations; // fills per slot, for stale-handle checks
    std::uint64_t m_fills = 0;                // fills so far: the tie-breaking stamps
    double m_max_priority = 1.0;              // running max of raw priorities
};

// The replay buffer with rank-based prioritization: prioritized_replay with the rank-based
// sampler (see rank_based_sampler for the semantics).
template <class Item>
using rank_based_replay = prioritized_replay<Item, rank_based_sampler>;

} // namespace per

#endif // PER_RANK_BASED_HPP
