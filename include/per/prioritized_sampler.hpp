#ifndef PER_PRIORITIZED_SAMPLER_HPP
#define PER_PRIORITIZED_SAMPLER_HPP

#include "detail/error.hpp"
#include "detail/random.hpp"
#include "detail/update_validation.hpp"
#include "importance.hpp"
#include "min_tree.hpp"
#include "replay_options.hpp"
#include "sample_batch.hpp"
#include "sum_tree.hpp"

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <iterator>
#include <limits>
#include <string>
#include <type_traits>
#include <vector>

namespace per {

namespace detail {
struct checkpoint_access; // checkpoint.hpp: save / load of the private state
} // namespace detail

// The storage-agnostic logic of proportional prioritized replay over slots 0..capacity-1: it
// knows which slots hold an item and with what priority, samples slots, computes
// importance-sampling weights, and applies priority updates. It stores no items, so codebases
// that keep their own storage (tensors on a GPU, memory-mapped frames, a replay server) use it
// alone; prioritized_replay<Item> pairs it with a ring of items.
//
// Semantics (Schaul et al. 2016, "Prioritized Experience Replay"):
// - A filled slot i has a raw priority p_i >= 0 (typically |TD error|) and the sampling
//   weight w_i = (p_i + epsilon)^alpha, or 0 when p_i + epsilon == 0 ("never sampled", for
//   every alpha). P(i) = w_i / sum of w over the filled slots; empty slots never count.
// - Importance-sampling weights are (N P(i))^-beta with N = size(), the number of filled
//   slots, normalized as options().normalization() says (see importance.hpp).
// - A slot filled without a priority gets max_priority(): the largest of
//   options().initial_max_priority() and every priority given since construction. It never
//   decreases (Algorithm 1 of the paper), so every new item is replayed with high priority.
// - Handles: filling a slot increments its 32-bit generation; an update whose handle names an
//   older generation, or a slot that is empty now, is stale and skipped.
//
// Complexity (N = capacity, F = SumTree::fanout): fill, erase and one priority update are
// O(F log_F N); sampling B items is O(B F log_F N); set_alpha and clear are O(N).
// Memory per slot: about sizeof(value) * (1 + 3 / (F - 1)) for the sum tree and the min tree of
// its leaf blocks, 8 bytes of raw priority and 4 of generation: 23.5 bytes with doubles.
//
// Exceptions: every member that takes user input validates all of it before changing
// anything, and throws std::invalid_argument or std::out_of_range naming the argument and its
// value; the sampler (and any output argument) is then exactly as before (strong guarantee).
// sample() offers the same guarantee if the random engine throws.
template <class SumTree = sum_tree<double>>
class basic_prioritized_sampler {
public:
    using tree_type = SumTree;
    using value_type = typename SumTree::value_type;
    using size_type = std::size_t;

    // O(N). `capacity` empty slots. Throws std::invalid_argument if capacity is 0 or an option
    // is invalid (alpha, epsilon or initial_max_priority negative or not finite).
    explicit basic_prioritized_sampler(size_type capacity, replay_options options = {})
        : m_options(validated(options))
        , m_sums(checked_capacity(capacity))
        , m_mins(leaf_blocks(capacity))
        , m_raw(capacity, empty_slot)
        , m_generations(capacity, 0)
        , m_max_priority(options.initial_max_priority())
        , m_raw_limit(raw_limit_for(options.alpha(), options.epsilon())) {
        if (!(m_max_priority <= m_raw_limit)) {
            detail::throw_invalid_argument(where_constructor, "initial_max_priority",
                                           m_max_priority, raw_limit_requirement(m_raw_limit));
        }
    }

    // --- Observers, O(1) unless stated ------------------------------------------------------

    size_type capacity() const noexcept { return m_raw.size(); }
    // Number of filled slots: the N of the importance-sampling weights.
    size_type size() const noexcept { return m_size; }
    bool empty() const noexcept { return m_size == 0; }
    // Number of filled slots with a non-zero sampling weight: the most a batch without
    // replacement can hold.
    size_type sampleable_size() const noexcept { return m_sampleable; }
    const replay_options& options() const noexcept { return m_options; }
    double alpha() const noexcept { return m_options.alpha(); }
    double max_priority() const noexcept { return m_max_priority; }
    // Sum of the sampling weights (p + epsilon)^alpha of the filled slots.
    double total_weight() const noexcept { return static_cast<double>(m_sums.total()); }

    // Whether `slot` holds an item. Throws std::out_of_range if slot >= capacity().
    bool contains(size_type slot) const {
        check_slot("per::prioritized_sampler::contains", slot);
        return m_raw[slot] != empty_slot;
    }
    // The raw priority p of a filled slot. Throws std::out_of_range if slot >= capacity() or
    // the slot is empty.
    double priority(size_type slot) const {
        check_filled("per::prioritized_sampler::priority", slot);
        return m_raw[slot];
    }
    // P(slot): its sampling weight over the total; 0 for a weight-0 slot. Throws as priority().
    double probability(size_type slot) const {
        check_filled("per::prioritized_sampler::probability", slot);
        const double weight = static_cast<double>(m_sums.get(slot));
        return weight > 0.0 ? weight / total_weight() : 0.0;
    }
    // The handle of the item now in `slot`. Throws as priority().
    replay_handle handle(size_type slot) const {
        check_filled("per::prioritized_sampler::handle", slot);
        return {slot, m_generations[slot]};
    }

    // Bytes of heap storage used to index the slots (trees, raw priorities, generations).
    size_type memory_bytes() const noexcept {
        return m_sums.memory_bytes() + m_mins.memory_bytes() + m_raw.size() * sizeof(double) +
               m_generations.size() * sizeof(std::uint32_t);
    }

    // Throws std::invalid_argument (naming `argument` and the value, with `where` in the
    // message) unless `priority` is finite, >= 0, and small enough that its sampling weight
    // cannot overflow the sums. Changes nothing. Lets a container check a priority before it
    // writes the item that goes with it.
    void validate_priority(const char* where, const char* argument, double priority) const {
        if (!(std::isfinite(priority) && priority >= 0.0)) {
            detail::throw_invalid_argument(where, argument, priority, "must be finite and >= 0");
        }
        if (!(priority <= m_raw_limit)) {
            detail::throw_invalid_argument(where, argument, priority,
                                           raw_limit_requirement(m_raw_limit));
        }
    }

    // --- Filling and emptying slots ---------------------------------------------------------

    // O(F log_F N). `slot` now holds a new item with priority max_priority(). Returns its
    // handle (the slot's generation is incremented, so handles of the previous occupant go
    // stale). Throws std::out_of_range if slot >= capacity().
    replay_handle fill(size_type slot) {
        check_slot("per::prioritized_sampler::fill", slot);
        return fill_validated(slot, m_max_priority);
    }

    // As fill(slot), with the given raw priority (which also raises max_priority() if larger).
    // Throws std::out_of_range if slot >= capacity(), std::invalid_argument if the priority is
    // negative, not finite, or too large (see validate_priority).
    replay_handle fill(size_type slot, double priority) {
        check_slot("per::prioritized_sampler::fill", slot);
        validate_priority("per::prioritized_sampler::fill", "priority", priority);
        return fill_validated(slot, priority);
    }

    // fill without validation, for containers that validated slot and priority already.
    // Precondition (PER_ASSERT): slot < capacity(), validate_priority would accept priority.
    replay_handle fill_validated(size_type slot, double priority) noexcept {
        PER_ASSERT(slot < capacity() && priority >= 0.0 && priority <= m_raw_limit);
        if (m_raw[slot] == empty_slot) {
            ++m_size;
        }
        store(slot, priority);
        if (priority > m_max_priority) {
            m_max_priority = priority;
        }
        return {slot, ++m_generations[slot]};
    }

    // O(F log_F N). Empties `slot` (no-op if already empty); updates for its handles become
    // stale. Throws std::out_of_range if slot >= capacity().
    void erase(size_type slot) {
        check_slot("per::prioritized_sampler::erase", slot);
        if (m_raw[slot] == empty_slot) {
            return;
        }
        set_weight(slot, value_type(0));
        m_raw[slot] = empty_slot;
        --m_size;
    }

    // O(N). Empties every slot. Generations are kept, so handles from before stay stale after
    // their slots are filled again. max_priority() is kept as well.
    void clear() noexcept {
        m_sums.clear();
        m_mins.clear();
        std::fill(m_raw.begin(), m_raw.end(), empty_slot);
        m_size = 0;
        m_sampleable = 0;
    }

    // O(N): recomputes every sampling weight from the stored raw priorities (alpha annealing
    // pays this each time alpha changes; change it every few thousand steps, not every step).
    // Throws std::invalid_argument if alpha is negative or not finite, or so large that the
    // weight of max_priority() would overflow the sums; std::bad_alloc if the O(N) staging
    // buffer cannot be allocated. Unchanged on throw.
    void set_alpha(double alpha) {
        const char* where = "per::prioritized_sampler::set_alpha";
        if (!(std::isfinite(alpha) && alpha >= 0.0)) {
            detail::throw_invalid_argument(where, "alpha", alpha, "must be finite and >= 0");
        }
        const double limit = raw_limit_for(alpha, m_options.epsilon());
        if (!(m_max_priority <= limit)) {
            detail::throw_invalid_argument(where, "alpha", alpha,
                                           "would overflow the weight of max_priority() = " +
                                               detail::format_value(m_max_priority) + " (" +
                                               raw_limit_requirement(limit) + ")");
        }
        rebuilt_index index = rebuild_index(alpha);
        // Nothing below throws.
        install(std::move(index));
        m_options.alpha(alpha);
        m_raw_limit = limit;
    }

    // --- Sampling ---------------------------------------------------------------------------

    // O(B F log_F N). Draws batch_size slots by P(i) in options().sampling() mode, with
    // importance-sampling weights for the given beta. `generator` is any
    // UniformRandomBitGenerator; the same generator state and the same calls give the same
    // batch on every platform (the library turns bits into numbers itself).
    // Throws std::invalid_argument if batch_size is 0 or beta is not in [0, 1];
    // std::out_of_range if no filled slot has a non-zero weight, or, without replacement, if
    // batch_size > sampleable_size(). The sampler and `out` are unchanged when these throw. If
    // the generator itself throws, the sampler is still unchanged; the output's contents are
    // then unspecified.
    template <class Generator>
    void sample(size_type batch_size, double beta, Generator& generator, sample_batch& out) {
        validate_sample("per::prioritized_sampler::sample", batch_size, beta);
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
        validate_sample("per::prioritized_sampler::sample_into", batch_size, beta);
        sample_validated(batch_size, beta, generator, handles, weights, probabilities);
    }

    // --- Priority updates -------------------------------------------------------------------

    // O(count F log_F N). Sets the raw priority of each item named by handles[k] to
    // priorities[k] (usually |TD error|; epsilon is added here, not by the caller). Handles of
    // items that were overwritten or erased since they were sampled are skipped. Updates apply
    // in order (for a repeated handle the last one wins). Returns the number applied.
    // Priorities may be float or double. Throws, before applying any: std::out_of_range if a
    // handle's slot >= capacity(); std::invalid_argument if a priority is negative, not finite
    // or too large (see validate_priority). Unchanged on throw.
    template <class Priority>
    size_type update_priorities(const replay_handle* handles, const Priority* priorities,
                                size_type count) {
        // The lines an update touches are spread over five arrays; requesting them ahead (the
        // first updates before validation, later ones while earlier ones apply) overlaps their
        // cache misses instead of taking them one after another.
        constexpr size_type lookahead = 4;
        for (size_type k = 0; k < count && k < lookahead; ++k) {
            prefetch_update(handles[k].slot);
        }
        detail::validate_updates(
            "per::prioritized_sampler::update_priorities", handles, priorities, count, capacity(),
            [this](double priority) {
                return std::isfinite(priority) && priority >= 0.0 && priority <= m_raw_limit;
            },
            [this](const char* argument, double priority) {
                validate_priority("per::prioritized_sampler::update_priorities", argument,
                                  priority);
            });
        size_type applied = 0;
        for (size_type k = 0; k < count; ++k) {
            if (k + lookahead < count) {
                prefetch_update(handles[k + lookahead].slot);
            }
            applied += apply_update(handles[k], static_cast<double>(priorities[k]));
        }
        return applied;
    }

    // As above for any two contiguous ranges with data() and size() (std::vector,
    // std::array, C arrays, std::span). Throws std::invalid_argument if their sizes differ.
    template <class Handles, class Priorities>
    size_type update_priorities(const Handles& handles, const Priorities& priorities) {
        detail::check_same_size("per::prioritized_sampler::update_priorities", handles, priorities);
        return update_priorities(std::data(handles), std::data(priorities), std::size(handles));
    }

    // One update; returns whether it applied (false for a stale handle). Throws as above.
    bool update_priority(replay_handle handle, double priority) {
        return update_priorities(&handle, &priority, 1) == 1;
    }

private:
    friend struct detail::checkpoint_access;
    static constexpr double empty_slot = -1.0; // m_raw marker; raw priorities are >= 0
    static constexpr const char* where_constructor = "per::prioritized_sampler";

    static const replay_options& validated(const replay_options& options) {
        options.validate(where_constructor);
        return options;
    }
    static size_type checked_capacity(size_type capacity) {
        detail::check_capacity(where_constructor, capacity, SumTree::max_capacity());
        return capacity;
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
    // overflow. 64 pow calls per alpha change; the hot paths compare against the result.
    double raw_limit_for(double alpha, double epsilon) const noexcept {
        // Compared in double before the weight is rounded to value_type: a double weight at or
        // below this limit (itself a value_type value) rounds to one at or below it.
        const double largest_weight = static_cast<double>(m_sums.max_value() / value_type(2));
        const auto fits = [&](double priority) {
            const double base = priority + epsilon;
            return !(base > 0.0) || std::pow(base, alpha) <= largest_weight;
        };
        if (!fits(0.0)) {
            return -1.0;
        }
        std::uint64_t low = 0;                                                // fits
        std::uint64_t high = bits_of(std::numeric_limits<double>::max()) + 1; // past the end
        while (high - low > 1) {
            const std::uint64_t middle = low + (high - low) / 2;
            (fits(double_of(middle)) ? low : high) = middle;
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
    static std::string raw_limit_requirement(double limit) {
        if (limit < 0.0) {
            return "is not accepted: even priority 0 has a weight epsilon^alpha above what the "
                   "sums can hold (epsilon too large for this alpha)";
        }
        return "must be <= " + detail::format_value(limit) +
               ", the largest priority whose (priority + epsilon)^alpha the sums can hold";
    }

    void check_slot(const char* where, size_type slot) const {
        detail::check_index(where, "slot", slot, capacity());
    }
    void check_filled(const char* where, size_type slot) const {
        check_slot(where, slot);
        if (m_raw[slot] == empty_slot) {
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
        if (m_sampleable == 0) {
            throw std::out_of_range(std::string(where) +
                                    ": nothing to sample: " + std::to_string(m_size) +
                                    " items, none with a non-zero priority weight");
        }
        if (m_options.sampling() == sampling_mode::without_replacement &&
            batch_size > m_sampleable) {
            detail::throw_out_of_range(
                where, "batch_size", batch_size,
                "must be <= sampleable_size() = " + std::to_string(m_sampleable) +
                    " when sampling without replacement");
        }
    }

    // Sets the raw priority of a filled slot and its weight in both trees.
    void store(size_type slot, double priority) noexcept {
        m_raw[slot] = priority;
        set_weight(slot, weight_of(priority, m_options.alpha(), m_options.epsilon()));
    }

    void set_weight(size_type slot, value_type weight) noexcept {
        const bool was_sampleable = m_sums.get(slot) > value_type(0);
        const bool is_sampleable = weight > value_type(0);
        m_sums.set_unchecked(slot, weight);
        // Most updates leave their block's minimum as it was (the slot was not the block's
        // least weight and does not become it): then the min tree, which would recompute the
        // very same values on its whole path, is not touched.
        const size_type block = slot / SumTree::fanout;
        const value_type minimum = block_minimum(m_sums, block);
        if (!(minimum == m_mins.get(block))) {
            m_mins.set_unchecked(block, minimum);
        }
        m_sampleable += is_sampleable;
        m_sampleable -= was_sampleable;
    }

    // The min tree holds, per block of `fanout` consecutive slots (one leaf line of the sum
    // tree), the smallest non-zero weight in the block, or +inf. Its minimum is the smallest
    // non-zero weight overall, as a tree over every slot would give, for 1/fanout of the
    // memory, and an update reads the block from the sum tree line it has just written
    // instead of missing on a second leaf array.
    static size_type leaf_blocks(size_type capacity) noexcept {
        return capacity / SumTree::fanout + (capacity % SumTree::fanout != 0);
    }
    static value_type block_minimum(const SumTree& sums, size_type block) noexcept {
        const size_type first = block * SumTree::fanout;
        const size_type last = std::min(first + SumTree::fanout, sums.capacity());
        value_type minimum = std::numeric_limits<value_type>::infinity();
        for (size_type slot = first; slot < last; ++slot) {
            const value_type weight = sums.get(slot);
            minimum = weight > value_type(0) && weight < minimum ? weight : minimum;
        }
        return minimum;
    }

    // Trees and count of sampleable slots recomputed from the raw priorities for `alpha`:
    // O(N); may throw std::bad_alloc; changes nothing. install() then takes them (noexcept).
    // set_alpha and checkpoint loading use the pair.
    struct rebuilt_index {
        SumTree sums;
        min_tree<value_type, SumTree::fanout> mins;
        size_type sampleable;
    };
    rebuilt_index rebuild_index(double alpha) const {
        std::vector<value_type> weights(capacity(), value_type(0));
        size_type sampleable = 0;
        for (size_type slot = 0; slot < capacity(); ++slot) {
            if (m_raw[slot] != empty_slot) {
                weights[slot] = weight_of(m_raw[slot], alpha, m_options.epsilon());
                sampleable += weights[slot] > value_type(0);
            }
        }
        rebuilt_index index{SumTree(capacity()),
                            min_tree<value_type, SumTree::fanout>(leaf_blocks(capacity())),
                            sampleable};
        index.sums.assign(weights.begin(), weights.end());
        std::vector<value_type> minima(leaf_blocks(capacity()));
        for (size_type block = 0; block < minima.size(); ++block) {
            minima[block] = block_minimum(index.sums, block);
        }
        index.mins.assign(minima.begin(), minima.end());
        return index;
    }
    void install(rebuilt_index&& index) noexcept {
        m_sums = std::move(index.sums);
        m_mins = std::move(index.mins);
        m_sampleable = index.sampleable;
    }

    static void prefetch(const void* address) noexcept {
#if defined(__GNUC__) || defined(__clang__)
        __builtin_prefetch(address);
#else
        (void)address;
#endif
    }

    // Starts loading what apply_update(slot) reads and writes (a hint; nothing for a slot out
    // of range).
    void prefetch_update(size_type slot) const noexcept {
        if (slot < capacity()) {
            prefetch(m_raw.data() + slot);
            prefetch(m_generations.data() + slot);
            m_sums.prefetch_path(slot);
            m_mins.prefetch_path(slot / SumTree::fanout);
        }
    }

    bool apply_update(replay_handle handle, double priority) noexcept {
        if (m_raw[handle.slot] == empty_slot || m_generations[handle.slot] != handle.generation) {
            return false;
        }
        store(handle.slot, priority);
        if (priority > m_max_priority) {
            m_max_priority = priority;
        }
        return true;
    }

    template <class Generator>
    void sample_validated(size_type batch_size, double beta, Generator& generator,
                          replay_handle* handles, double* weights, double* probabilities) {
        const double total = total_weight();
        if (m_options.sampling() == sampling_mode::without_replacement) {
            sample_without_replacement(batch_size, generator, handles, weights);
        } else {
            sample_with_replacement(batch_size, generator, handles);
        }
        for (size_type k = 0; k < batch_size; ++k) {
            const size_type slot = handles[k].slot;
            handles[k].generation = m_generations[slot];
            weights[k] = static_cast<double>(m_sums.get(slot));
        }
        for (size_type k = 0; k < batch_size; ++k) { // apart, so that it vectorizes
            probabilities[k] = weights[k] / total;
        }
        detail::importance_weights_from_values(weights, batch_size, total, m_size, beta,
                                               m_options.normalization(),
                                               static_cast<double>(m_mins.min()), weights);
    }

    // Stratified: u_k = (k + U_k) * total / B, one draw per slice, in increasing order (which
    // also makes the batched descent cache-friendly). Independent: u_k = U_k * total.
    // A u that rounding puts at or above total lands on the last non-empty leaf.
    template <class Generator>
    void sample_with_replacement(size_type batch_size, Generator& generator,
                                 replay_handle* handles) const {
        const double total = total_weight();
        const bool stratified = m_options.sampling() == sampling_mode::stratified;
        const double slice = total / static_cast<double>(batch_size);
        constexpr size_type chunk = 64;
        value_type prefixes[chunk];
        size_type slots[chunk];
        for (size_type begin = 0; begin < batch_size; begin += chunk) {
            const size_type count = batch_size - begin < chunk ? batch_size - begin : chunk;
            for (size_type q = 0; q < count; ++q) {
                const double unit = detail::uniform_unit(generator);
                const double u =
                    stratified ? (static_cast<double>(begin + q) + unit) * slice : unit * total;
                prefixes[q] = static_cast<value_type>(u);
            }
            m_sums.find_prefix_batch_unchecked(prefixes, count, slots);
            // The generations are read once the whole batch is drawn (sample_validated):
            // requested now, they arrive while the next chunks descend the tree.
            for (size_type q = 0; q < count; ++q) {
                handles[begin + q].slot = slots[q];
                prefetch(m_generations.data() + slots[q]);
            }
        }
    }

    // Successive sampling: each draw is proportional to the weights of the slots not drawn yet.
    // Drawn slots are zeroed in the sum tree for the rest of the batch, then restored from
    // `saved` (the caller's weights buffer, overwritten later); restoring recomputes the same
    // sums bit for bit, also when the generator throws half-way.
    template <class Generator>
    void sample_without_replacement(size_type batch_size, Generator& generator,
                                    replay_handle* handles, double* saved) {
        struct restore_on_exit {
            basic_prioritized_sampler& self;
            const replay_handle* handles;
            const double* saved;
            size_type drawn = 0;
            ~restore_on_exit() {
                for (size_type k = 0; k < drawn; ++k) {
                    self.m_sums.set_unchecked(handles[k].slot, static_cast<value_type>(saved[k]));
                }
            }
        } restore{*this, handles, saved};
        for (size_type k = 0; k < batch_size; ++k) {
            const double u = detail::uniform_unit(generator) * total_weight();
            const size_type slot = m_sums.find_prefix_unchecked(static_cast<value_type>(u));
            handles[k] = {slot, m_generations[slot]};
            saved[k] = static_cast<double>(m_sums.get(slot));
            m_sums.set_unchecked(slot, value_type(0));
            restore.drawn = k + 1;
        }
    }

    replay_options m_options;
    SumTree m_sums;                               // sampling weights (p + epsilon)^alpha
    min_tree<value_type, SumTree::fanout> m_mins; // per leaf block: least non-zero weight
    std::vector<double> m_raw;                    // raw priorities p; empty_slot when empty
    std::vector<std::uint32_t> m_generations;     // fills per slot, for stale-handle checks
    size_type m_size = 0;                         // filled slots
    size_type m_sampleable = 0;                   // filled slots with a non-zero weight
    double m_max_priority = 1.0;                  // running max of raw priorities
    double m_raw_limit = 0.0;                     // largest accepted raw priority
};

// The sampler with the default double-precision sum tree.
using prioritized_sampler = basic_prioritized_sampler<>;

} // namespace per

#endif // PER_PRIORITIZED_SAMPLER_HPP
