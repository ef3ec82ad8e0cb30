#ifndef PER_BASIC_SAMPLER_HPP
#define PER_BASIC_SAMPLER_HPP

/// @file
/// basic_sampler<Index>: the sampler shell over any priority index.

#include "detail/error.hpp"
#include "detail/prefetch.hpp"
#include "detail/special_members.hpp"
#include "detail/state_validation.hpp"
#include "detail/update_validation.hpp"
#include "importance.hpp"
#include "random.hpp"
#include "replay_handle.hpp"
#include "replay_options.hpp"
#include "sample_batch.hpp"
#include "sampler_state.hpp"

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <iterator>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

namespace per {

/// The storage-agnostic logic of prioritized replay over slots 0..capacity-1, written once for
/// every priority rule: it knows which slots hold an item and with what raw priority, samples
/// slots, computes importance-sampling weights, and applies priority updates. It stores no
/// items, so codebases that keep their own storage (tensors on a GPU, memory-mapped frames, a
/// replay server) use it alone; replay_buffer<Item, Sampler> pairs it with a ring of items.
///
/// The two samplers of the library are this shell over two priority indexes:
///
///     per::prioritized_sampler  = basic_sampler<proportional_index<sum_tree<double>>>
///     per::rank_based_sampler   = basic_sampler<rank_index>
///
/// What the shell does, whatever the index:
/// - Generations: filling a slot increments its 32-bit generation and returns the handle
///   {slot, generation}; an update whose handle names an older generation, or a slot that is
///   empty now, is stale and skipped.
/// - The running max priority: a slot filled without a priority gets max_priority(), the
///   largest of options().initial_max_priority() and every priority given since construction
///   (by fill or by an applied update). It never decreases, not on clear() either (Algorithm 1
///   of the paper: every new item is replayed with high priority).
/// - Validation, with one wording: "<where>: <argument> = <value> <requirement>".
/// - Sampling in the three modes of replay_options::sampling(), from the index's tree of
///   sampling weights over *positions* (a position is a slot for the proportional index, a rank
///   minus one for the rank-based one), with the random numbers used the same way whatever the
///   index, one uniform_unit(generator) U_k per draw:
///   - stratified: the k-th draw is the prefix value (k + U_k) * total_weight() / B;
///   - independent: U_k * total_weight();
///   - without replacement: U_k * (the total weight of the positions not drawn yet in this
///     batch);
///   and the drawn position is the first whose running sum of weights exceeds the prefix value
///   (the last position with a non-zero weight if rounding puts the value at or past the total).
///   probabilities()[k] is the item's single-draw P(i) = w / total_weight(), also without
///   replacement; weights()[k] its importance-sampling weight (N P(i))^-beta with N = size(),
///   normalized as options().normalization() says (importance.hpp).
///
/// The Index contract (proportional_index in prioritized_sampler.hpp and rank_index in
/// rank_based_sampler.hpp are the two models; the shell validates every argument before it
/// calls a member below, so none of them validates or throws unless it says so):
///
///     using weight_tree_type;                  // a sum_tree over positions
///     static constexpr const char* name;       // the class error messages name
///     static constexpr bool positions_are_slots;  // position(slot) == slot for every slot
///     static constexpr bool ranked;            // positions are ranks - 1 (enables rank())
///     static constexpr std::size_t max_capacity() noexcept;
///     Index(std::size_t capacity, const replay_options&);  // validates both; may throw
///     // copyable, with a copy assignment that is unchanged on throw; noexcept moves that
///     // leave the source with capacity 0 and size 0 (and self-move a no-op); prepare_alpha
///     // and every observer valid on that moved-from index
///     size_type size() const noexcept;            // filled slots
///     size_type sampleable_size() const noexcept; // filled slots with a weight > 0
///     bool contains(slot) const noexcept;         // slot < capacity
///     double priority(slot) const noexcept;       // raw priority of a filled slot
///     double priority_limit() const noexcept;     // the largest raw priority accepted
///     std::string priority_limit_requirement() const;  // why, for error messages
///     const weight_tree_type& weights() const noexcept;  // sampling weights by position
///     weight_tree_type& weights() noexcept;       // for draws without replacement: the
///         // shell zeroes drawn positions and restores them bit for bit before it returns
///     size_type position(slot) const noexcept;    // of a filled slot
///     void slots_of(size_type* positions, size_type count) const noexcept;  // in place
///     double smallest_weight() const noexcept;    // least non-zero weight (global_max)
///     void fill(slot, double priority) noexcept;  // slot empty or filled; priority accepted
///     void update(slot, double priority) noexcept;  // slot filled; priority accepted
///     void update_batch(const size_type* slots, const double* priorities, size_type count)
///         noexcept;  // update() for each k in order, bit for bit (slots filled, may repeat)
///     void fill_batch(const size_type* slots, const double* priorities, size_type count)
///         noexcept;  // fill() for each k in order, bit for bit (slots may repeat)
///     void erase(slot) noexcept;                  // slot filled
///     void clear() noexcept;
///     void prefetch_update(slot) const noexcept;  // a hint for update(slot); slot < capacity
///     void prefetch_batch_update(slot) const noexcept;  // a hint for contains(slot)
///     alpha_change prepare_alpha(const char* where, double alpha, double max_priority) const;
///         // validates alpha (may throw), computes what set_alpha installs; changes nothing
///     void install_alpha(alpha_change&&) noexcept;
///     size_type memory_bytes() const noexcept;
///     static constexpr detail::stamp_rule stamps;  // whether states carry fill stamps
///     void export_priorities(sampler_state&) const;  // filled, priorities (, stamps, count)
///     void import_priorities(const sampler_state&);  // into a new index, from a validated
///         // state of its capacity and options; may throw std::bad_alloc
///
/// Exceptions: every member that takes user input validates all of it before changing
/// anything, and throws std::invalid_argument or std::out_of_range naming the argument and its
/// value; the sampler (and any output argument) is then exactly as before (strong guarantee).
/// sample() offers the same guarantee if the random engine throws.
template <class Index>
class basic_sampler {
public:
    /// The priority index (the policy).
    using index_type = Index;
    /// The sum tree of sampling weights over positions that draws search.
    using weight_tree_type = typename Index::weight_tree_type;
    /// Slot indices and counts.
    using size_type = std::size_t;

    /// O(capacity). `capacity` empty slots. Throws std::invalid_argument if capacity is 0 or an
    /// option is invalid (see the index for the rules it adds), std::length_error if capacity
    /// exceeds max_capacity().
    explicit basic_sampler(size_type capacity, replay_options options = {})
        : m_index(capacity, options)
        , m_options(options)
        , m_generations(capacity, 0)
        , m_max_priority(options.initial_max_priority()) {}

    /// O(C). An exact copy (same batches from the same engine state). Throws std::bad_alloc.
    basic_sampler(const basic_sampler&) = default;
    /// O(1). Takes the other sampler's slots; the other sampler is left moved-from: capacity 0
    /// and no filled slot, with its options and max_priority() kept. On a moved-from sampler
    /// every observer works, clear() and set_alpha() do what they do on any sampler, fill() and
    /// every member taking a slot or handle throw std::out_of_range (no slot is < capacity() =
    /// 0), sample throws as on an empty sampler, and export_state() gives a state of capacity
    /// 0, which import_state refuses. Assigning a sampler to it (or import_state) makes it
    /// usable again.
    basic_sampler(basic_sampler&& other) noexcept
        : m_index(std::move(other.m_index))
        , m_options(other.m_options)
        , m_generations(std::move(other.m_generations))
        , m_max_priority(other.m_max_priority) {}
    /// O(C). Strong guarantee: if an allocation throws (std::bad_alloc), *this is unchanged.
    /// Self-assignment does nothing.
    basic_sampler& operator=(const basic_sampler& other) {
        return detail::assign_copy(*this, other);
    }
    /// O(1). As the move constructor; self-move-assignment does nothing.
    basic_sampler& operator=(basic_sampler&& other) noexcept {
        if (this != &other) {
            m_index = std::move(other.m_index);
            m_options = other.m_options;
            detail::move_and_empty(m_generations, other.m_generations);
            m_max_priority = other.m_max_priority;
        }
        return *this;
    }
    ~basic_sampler() = default;

    /// The largest capacity the index supports.
    static constexpr size_type max_capacity() noexcept { return Index::max_capacity(); }

    // --- Observers, O(1) unless stated ------------------------------------------------------

    /// The number of slots.
    size_type capacity() const noexcept { return m_generations.size(); }
    /// Number of filled slots: the N of the importance-sampling weights.
    size_type size() const noexcept { return m_index.size(); }
    /// Whether no slot is filled.
    bool empty() const noexcept { return size() == 0; }
    /// Number of filled slots with a non-zero sampling weight: the most a batch without
    /// replacement can hold.
    size_type sampleable_size() const noexcept { return m_index.sampleable_size(); }
    /// The options, with the alpha of the last set_alpha.
    const replay_options& options() const noexcept { return m_options; }
    /// The priority exponent.
    double alpha() const noexcept { return m_options.alpha(); }
    /// The priority a fill without one gives (see the class comment).
    double max_priority() const noexcept { return m_max_priority; }
    /// The largest raw priority fill and update_priorities accept.
    double priority_limit() const noexcept { return m_index.priority_limit(); }
    /// The sum of the sampling weights of the filled slots: the normalizer of P.
    double total_weight() const noexcept { return static_cast<double>(m_index.weights().total()); }

    /// Whether `slot` holds an item. Throws std::out_of_range if slot >= capacity().
    bool contains(size_type slot) const {
        check_slot("contains", slot);
        return m_index.contains(slot);
    }
    /// The raw priority p of a filled slot. Throws std::out_of_range if slot >= capacity() or
    /// the slot is empty.
    double priority(size_type slot) const {
        check_filled("priority", slot);
        return m_index.priority(slot);
    }
    /// O(1), O(log C) for rank-based. P(slot): its sampling weight over the total; 0 for a
    /// weight-0 slot. Throws as priority().
    double probability(size_type slot) const {
        check_filled("probability", slot);
        const double weight =
            static_cast<double>(m_index.weights().get_unchecked(m_index.position(slot)));
        return weight > 0.0 ? weight / total_weight() : 0.0;
    }
    /// The handle of the item now in `slot`. Throws as priority().
    replay_handle handle(size_type slot) const {
        check_filled("handle", slot);
        return {slot, m_generations[slot]};
    }

    /// O(log C); rank-based samplers only. The rank of a filled slot: 1 for the largest
    /// priority, size() for the smallest. Throws as priority().
    template <class I = Index, std::enable_if_t<I::ranked, int> = 0>
    size_type rank(size_type slot) const {
        check_filled("rank", slot);
        return m_index.position(slot) + 1;
    }
    /// O(log C); rank-based samplers only. The slot holding rank `rank` (1-based). Throws
    /// std::out_of_range unless 1 <= rank <= size().
    template <class I = Index, std::enable_if_t<I::ranked, int> = 0>
    size_type slot_of_rank(size_type rank) const {
        if (rank == 0 || rank > size()) {
            detail::throw_out_of_range(qualified("slot_of_rank").c_str(), "rank", rank,
                                       "must be in [1, size()] = [1, " + std::to_string(size()) +
                                           "]");
        }
        size_type position = rank - 1;
        m_index.slots_of(&position, 1);
        return position;
    }

    /// Bytes of heap storage used to index the slots (the index's trees and priorities, and
    /// the generations).
    size_type memory_bytes() const noexcept {
        return m_index.memory_bytes() + m_generations.size() * sizeof(std::uint32_t);
    }

    /// The priority index, read-only (its trees, for diagnostics and tests).
    const Index& index() const noexcept { return m_index; }

    // --- Filling and emptying slots ---------------------------------------------------------

    /// O(log C). `slot` now holds a new item with priority max_priority(). Returns its handle
    /// (the slot's generation is incremented, so handles of the previous occupant go stale).
    /// Throws std::out_of_range if slot >= capacity().
    replay_handle fill(size_type slot) {
        check_slot("fill", slot);
        return fill_slot(slot, m_max_priority);
    }

    /// As fill(slot), with the given raw priority (which also raises max_priority() if larger).
    /// Throws std::out_of_range if slot >= capacity(), std::invalid_argument if the priority is
    /// negative, not finite, or above priority_limit().
    replay_handle fill(size_type slot, double priority) {
        check_slot("fill", slot);
        if (!accepts(priority)) {
            reject_priority("fill", "priority", priority);
        }
        return fill_slot(slot, priority);
    }

    /// O(count log C), with the tree work a batch of slots shares done once (as in
    /// update_priorities). fill(slots[k], priorities[k]) for k = 0, ..., count - 1 in this
    /// order, bit for bit: the k-th handle goes to handles[k] (a slot given twice gets two
    /// generations, and only its last handle is current). `handles` may be null when the
    /// caller does not need them. Priorities may be float or double. Throws, before filling
    /// any: std::out_of_range naming slots[k] if a slot >= capacity(); std::invalid_argument
    /// naming priorities[k] if a priority is negative, not finite or above priority_limit().
    /// Unchanged on throw.
    template <class Priority>
    void fill_batch(const size_type* slots, const Priority* priorities, size_type count,
                    replay_handle* handles) {
        validate_fills(slots, count);
        for (size_type k = 0; k < count; ++k) {
            if (!accepts(static_cast<double>(priorities[k]))) {
                const std::string argument = "priorities[" + std::to_string(k) + "]";
                reject_priority("fill_batch", argument.c_str(), static_cast<double>(priorities[k]));
            }
        }
        fill_batch_validated(slots, priorities, count, handles);
    }

    /// As above, every slot with priority max_priority().
    void fill_batch(const size_type* slots, size_type count, replay_handle* handles) {
        validate_fills(slots, count);
        fill_batch_validated(slots, static_cast<const double*>(nullptr), count, handles);
    }

    /// O(log C). Empties `slot` (no-op if already empty); updates for its handles become
    /// stale. Throws std::out_of_range if slot >= capacity().
    void erase(size_type slot) {
        check_slot("erase", slot);
        if (m_index.contains(slot)) {
            m_index.erase(slot);
        }
    }

    /// O(C). Empties every slot. Generations are kept, so handles from before stay stale after
    /// their slots are filled again. max_priority() is kept as well.
    void clear() noexcept { m_index.clear(); }

    /// O(C): recomputes every sampling weight for the new exponent (alpha annealing pays this
    /// each time alpha changes; change it every few thousand steps, not every step). Throws
    /// std::invalid_argument if alpha is negative, not finite, or outside what the index can
    /// hold (see the index); std::bad_alloc if the O(C) staging buffer cannot be allocated.
    /// Unchanged on throw.
    void set_alpha(double alpha) { install_alpha(prepare_alpha(alpha)); }

    /// What prepare_alpha computes and install_alpha takes: set_alpha in two steps.
    using alpha_change = typename Index::alpha_change;
    /// O(C). The first step of set_alpha, for a container that changes several samplers all or
    /// none (concurrent_replay's shards): validates alpha and computes the new weights. Throws
    /// as set_alpha does (named set_alpha); the sampler is unchanged either way.
    alpha_change prepare_alpha(double alpha) const {
        return m_index.prepare_alpha(qualified("set_alpha").c_str(), alpha, m_max_priority);
    }
    /// O(1). The second step: installs what prepare_alpha computed on this sampler, which must
    /// not have changed in between. Never throws.
    void install_alpha(alpha_change&& change) noexcept {
        const double alpha = change.alpha;
        m_index.install_alpha(std::move(change));
        m_options.alpha(alpha);
    }

    // --- Sampling ---------------------------------------------------------------------------

    /// O(B log C). Draws batch_size slots by P(i) in options().sampling() mode (see the class
    /// comment), with importance-sampling weights for the given beta. `generator` is any
    /// UniformRandomBitGenerator; the same generator state and the same calls give the same
    /// batch on every platform (the library turns bits into numbers itself).
    /// Throws std::invalid_argument if batch_size is 0 or beta is not in [0, 1];
    /// std::out_of_range if no filled slot has a non-zero weight, or, without replacement, if
    /// batch_size > sampleable_size(); std::invalid_argument if batch_size > per::max_batch_size
    /// (sample_batch.hpp: more than any array can hold); std::bad_alloc if the batch cannot
    /// grow to batch_size. The sampler and `out` are unchanged when these throw. If
    /// the generator itself throws, the sampler is still unchanged; the output's contents are
    /// then unspecified.
    template <class Generator>
    void sample(size_type batch_size, double beta, Generator& generator, sample_batch& out) {
        validate_sample("sample", batch_size, beta);
        detail::sample_batch_access::resize(out, batch_size);
        draw(batch_size, beta, generator, detail::sample_batch_access::handles(out),
             detail::sample_batch_access::weights(out),
             detail::sample_batch_access::probabilities(out));
        detail::sample_batch_access::copy_slots_from_handles(out);
    }

    /// As above, returning a new batch.
    template <class Generator>
    sample_batch sample(size_type batch_size, double beta, Generator& generator) {
        sample_batch batch;
        sample(batch_size, beta, generator, batch);
        return batch;
    }

    /// As above, writing into caller storage of batch_size elements each (no allocation); the
    /// slots are handles[k].slot. Also throws std::invalid_argument naming handles, weights or
    /// probabilities if it is null (after the checks above, before drawing: nothing is written
    /// and the generator is not used).
    template <class Generator>
    void sample_into(size_type batch_size, double beta, Generator& generator,
                     replay_handle* handles, double* weights, double* probabilities) {
        validate_sample("sample_into", batch_size, beta);
        if (handles == nullptr || weights == nullptr || probabilities == nullptr) {
            detail::check_sample_outputs(qualified("sample_into").c_str(), batch_size, handles,
                                         weights, probabilities);
        }
        draw(batch_size, beta, generator, handles, weights, probabilities);
    }

    /// O(B log C). Draws as sample_into does, the same handles and probabilities bit for bit
    /// from the same generator state, without the importance-sampling weights: for a caller
    /// that computes its own over several samplers (concurrent_replay's shards, which weigh
    /// their draws against the whole buffer). Throws as sample_into does for batch_size, an
    /// empty sampler or a null handles or probabilities, before drawing: nothing is written and
    /// the generator is not used. Unchanged on throw.
    template <class Generator>
    void draw_into(size_type batch_size, Generator& generator, replay_handle* handles,
                   double* probabilities) {
        validate_sample("draw_into", batch_size, 0.0);
        if (handles == nullptr || probabilities == nullptr) {
            detail::check_sample_outputs(qualified("draw_into").c_str(), batch_size, handles,
                                         probabilities);
        }
        draw_values(batch_size, generator, handles, probabilities);
        const double total = total_weight();
        for (size_type k = 0; k < batch_size; ++k) { // as draw() divides: the same bits
            probabilities[k] = probabilities[k] / total;
        }
    }

    // --- Priority updates -------------------------------------------------------------------

    /// O(count log C), usually much less per update for a batch: the stale handles are dropped
    /// and the rest go to the index in chunks of 256, each applied as one batch (for the
    /// proportional index, every tree entry on the chunk's paths is recomputed once, level by
    /// level, bit for bit as one update after another). Sets the raw priority of each item
    /// named by handles[k] to priorities[k]
    /// (usually |TD error|; a proportional index adds epsilon, the caller does not). Handles of
    /// items that were overwritten or erased since they were sampled are skipped. Updates
    /// apply in order (for a repeated handle the last one wins). Returns the number applied.
    /// Priorities may be float or double. Throws, before applying any: std::out_of_range if a
    /// handle's slot >= capacity(); std::invalid_argument if a priority is negative, not
    /// finite or above priority_limit(). Unchanged on throw.
    template <class Priority>
    size_type update_priorities(const replay_handle* handles, const Priority* priorities,
                                size_type count) {
        // The lines an update touches are spread over several arrays; requesting them ahead
        // (the first updates before validation, later ones while earlier ones apply) overlaps
        // their cache misses instead of taking them one after another.
        // Not yet validated: only slots inside the storage are prefetched (prefetch_update and
        // prefetch_batch_update check).
        if (count == 1) {
            prefetch_update(handles[0].slot); // the whole path at once
        }
        for (size_type k = 0; count > 1 && k < count && k < batch_lookahead; ++k) {
            prefetch_batch_update(handles[k].slot);
        }
        detail::validate_updates([] { return qualified("update_priorities"); }, handles, priorities,
                                 count, capacity(),
                                 [this](double priority) { return accepts(priority); },
                                 [this](const char* argument, double priority) {
                                     reject_priority("update_priorities", argument, priority);
                                 });
        if (count == 1) {
            return apply_update(handles[0], static_cast<double>(priorities[0])) ? 1 : 0;
        }
        return apply_update_batch(handles, priorities, count);
    }

    /// As above for any two contiguous ranges with data() and size() (std::vector,
    /// std::array, C arrays, std::span). Throws std::invalid_argument if their sizes differ.
    template <class Handles, class Priorities>
    size_type update_priorities(const Handles& handles, const Priorities& priorities) {
        detail::check_same_size([] { return qualified("update_priorities"); }, handles, priorities);
        return update_priorities(std::data(handles), std::data(priorities), std::size(handles));
    }

    /// One update; returns whether it applied (false for a stale handle). Throws as above.
    bool update_priority(replay_handle handle, double priority) {
        return update_priorities(&handle, &priority, 1) == 1;
    }

    // --- State export and import (sampler_state.hpp) ----------------------------------------

    /// O(C). The complete plain state: options, max priority, generations, filled flags, the
    /// raw priority of each filled slot and, for a rank-based index, the fill stamps and the
    /// fill count (0 and none for a proportional one). May throw std::bad_alloc.
    sampler_state export_state() const {
        sampler_state state;
        state.options = m_options;
        state.max_priority = m_max_priority;
        state.generations = m_generations;
        m_index.export_priorities(state);
        return state;
    }

    /// O(C) (plus O(N log N) for the rank order of a rank-based index). Replaces the whole
    /// sampler, capacity and options included, with the one `state` describes: the same
    /// observers, the same batches from the same engine state (bit for bit), the same ties and
    /// handles. Throws std::invalid_argument naming the field and its value unless the state is
    /// one this sampler can hold: options valid (as the constructor checks them, against the
    /// capacity), 1 <= capacity <= max_capacity(), one filled flag per slot, each 0 or 1, one
    /// raw priority per filled slot, each finite, >= 0 and <= the priority limit, a max
    /// priority that is accepted too, >= options.initial_max_priority() and >= every raw
    /// priority; for a rank-based index fill_count <= sampler_state::max_fill_count (2^63 - 1,
    /// so that the fill clock cannot wrap in the next 2^63 fills) and one fill stamp per filled
    /// slot, distinct, each in [1, fill_count], with fill_count modulo 2^32 equal to the sum of
    /// the generations, and for a proportional one fill_count 0 and no stamps; std::bad_alloc.
    /// Unchanged on throw.
    void import_state(const sampler_state& state) {
        const std::string where = qualified("import_state"); // O(N) below: no static needed
        detail::check_state_layout(where.c_str(), "state.", state, max_capacity(), Index::stamps);
        auto staged = detail::construct_for_import<basic_sampler>(where.c_str(), "state.", state);
        detail::check_state_priorities(
            where.c_str(), "state.", state,
            [&staged](double priority) { return staged.accepts(priority); },
            [&staged, &where](const char* argument, double priority) {
                detail::reject_priority(where.c_str(), argument, priority,
                                        staged.m_index.priority_limit_requirement());
            });
        if (Index::stamps == detail::stamp_rule::required) {
            detail::check_fill_stamps(where.c_str(), "state.", state);
        }
        staged.m_index.import_priorities(state);
        staged.m_generations = state.generations;
        staged.m_max_priority = state.max_priority;
        static_assert(std::is_nothrow_move_assignable_v<basic_sampler>,
                      "import_state replaces *this by a noexcept move (strong guarantee)");
        *this = std::move(staged); // nothing above changed *this
    }

private:
    using value_type = typename weight_tree_type::value_type;

    // "<Index::name>::<member>", the `where` of an error message; built only when one is thrown,
    // so that the valid paths neither allocate nor keep a string.
    static std::string qualified(const char* member) {
        return std::string(Index::name) + "::" + member;
    }

    bool accepts(double priority) const noexcept {
        return std::isfinite(priority) && priority >= 0.0 && priority <= m_index.priority_limit();
    }
    [[noreturn]] void reject_priority(const char* member, const char* argument,
                                      double priority) const {
        detail::reject_priority(qualified(member).c_str(), argument, priority,
                                m_index.priority_limit_requirement());
    }

    void check_slot(const char* member, size_type slot) const {
        if (slot >= capacity()) {
            detail::check_index(qualified(member).c_str(), "slot", slot, capacity());
        }
    }
    void check_filled(const char* member, size_type slot) const {
        check_slot(member, slot);
        if (!m_index.contains(slot)) {
            detail::throw_out_of_range(qualified(member).c_str(), "slot", slot, "is empty");
        }
    }

    void validate_sample(const char* member, size_type batch_size, double beta) const {
        if (batch_size == 0) {
            detail::throw_invalid_argument(qualified(member).c_str(), "batch_size", batch_size,
                                           "must be > 0");
        }
        if (!(beta >= 0.0 && beta <= 1.0)) { // the message is detail::check_beta's
            detail::check_beta(qualified(member).c_str(), beta);
        }
        if (sampleable_size() == 0) {
            throw std::out_of_range(qualified(member) +
                                    ": nothing to sample: " + std::to_string(size()) +
                                    " items, none with a non-zero priority weight");
        }
        if (m_options.sampling() == sampling_mode::without_replacement &&
            batch_size > sampleable_size()) {
            detail::throw_out_of_range(
                qualified(member).c_str(), "batch_size", batch_size,
                "must be <= sampleable_size() = " + std::to_string(sampleable_size()) +
                    " when sampling without replacement");
        }
        if (batch_size > max_batch_size) {
            detail::check_batch_size_limit(qualified(member).c_str(), batch_size);
        }
    }

    void validate_fills(const size_type* slots, size_type count) const {
        for (size_type k = 0; k < count; ++k) {
            if (slots[k] >= capacity()) {
                detail::throw_out_of_range(qualified("fill_batch").c_str(), "slots[k]", slots[k],
                                           "must be < capacity() = " + std::to_string(capacity()) +
                                               " (k = " + std::to_string(k) + ")");
            }
        }
    }

    // Validated fills, in chunks: the index fills a chunk as one batch, then the generations
    // move on in order. A null `priorities` means max_priority() for every slot.
    template <class Priority>
    void fill_batch_validated(const size_type* slots, const Priority* priorities, size_type count,
                              replay_handle* handles) noexcept {
        constexpr size_type chunk = 256;
        double values[chunk];
        for (size_type begin = 0; begin < count; begin += chunk) {
            const size_type size = count - begin < chunk ? count - begin : chunk;
            double max_priority = m_max_priority;
            for (size_type q = 0; q < size; ++q) {
                values[q] = priorities != nullptr ? static_cast<double>(priorities[begin + q])
                                                  : m_max_priority;
                max_priority = values[q] > max_priority ? values[q] : max_priority;
            }
            m_index.fill_batch(slots + begin, values, size);
            m_max_priority = max_priority;
            for (size_type q = 0; q < size; ++q) {
                const size_type slot = slots[begin + q];
                const replay_handle handle{slot, ++m_generations[slot]};
                if (handles != nullptr) {
                    handles[begin + q] = handle;
                }
            }
        }
    }

    replay_handle fill_slot(size_type slot, double priority) noexcept {
        m_index.fill(slot, priority);
        if (priority > m_max_priority) {
            m_max_priority = priority;
        }
        return {slot, ++m_generations[slot]};
    }

    // Starts loading what apply_update(slot) reads and writes (a hint; nothing for a slot out
    // of range).
    void prefetch_update(size_type slot) const noexcept {
        if (slot < capacity()) {
            detail::prefetch(m_generations.data() + slot);
            m_index.prefetch_update(slot);
        }
    }

    // How far ahead a batch of updates requests the lines of the updates to come.
    static constexpr size_type batch_lookahead = 16;

    // Starts loading the lines of one update of a batch that are its own (the generation and
    // what the index names; the inner nodes are shared with the rest of the batch).
    void prefetch_batch_update(size_type slot) const noexcept {
        if (slot < capacity()) {
            detail::prefetch(m_generations.data() + slot);
            m_index.prefetch_batch_update(slot);
        }
    }

    // A validated batch (count > 1): the stale handles are dropped, and the rest go to the
    // index in chunks, in order, as one batch each (the index recomputes what the chunk's
    // paths share once). Staleness cannot change within a batch (an update changes no
    // generation and empties no slot), and neither can the order of the applied updates, so
    // this is apply_update for each k in order, bit for bit.
    template <class Priority>
    size_type apply_update_batch(const replay_handle* handles, const Priority* priorities,
                                 size_type count) noexcept {
        constexpr size_type chunk = 256;
        size_type applied = 0;
        double max_priority = m_max_priority;
        for (size_type begin = 0; begin < count; begin += chunk) {
            const size_type size = count - begin < chunk ? count - begin : chunk;
            size_type slots[chunk];
            double values[chunk];
            size_type kept = 0;
            for (size_type k = begin; k < begin + size; ++k) {
                if (k + batch_lookahead < count) {
                    prefetch_batch_update(handles[k + batch_lookahead].slot);
                }
                const replay_handle handle = handles[k];
                if (m_index.contains(handle.slot) &&
                    m_generations[handle.slot] == handle.generation) {
                    const double priority = static_cast<double>(priorities[k]);
                    slots[kept] = handle.slot;
                    values[kept] = priority;
                    ++kept;
                    max_priority = priority > max_priority ? priority : max_priority;
                }
            }
            m_index.update_batch(slots, values, kept);
            applied += kept;
        }
        m_max_priority = max_priority;
        return applied;
    }

    bool apply_update(replay_handle handle, double priority) noexcept {
        const size_type slot = handle.slot;
        if (!m_index.contains(slot) || m_generations[slot] != handle.generation) {
            return false;
        }
        m_index.update(slot, priority);
        if (priority > m_max_priority) {
            m_max_priority = priority;
        }
        return true;
    }

    // A validated sample, in three passes over the batch:
    // 1. draw positions in the weight tree, writing each into handles[k].slot and its
    //    sampling weight w into weights[k];
    // 2. turn the positions into slots (in place; nothing to do where they are the same) and
    //    read the slots' generations;
    // 3. compute P = w / total into probabilities[k], and turn weights[k] from w into the
    //    importance-sampling weight, in place.
    template <class Generator>
    void draw(size_type batch_size, double beta, Generator& generator, replay_handle* handles,
              double* weights, double* probabilities) {
        draw_values(batch_size, generator, handles, weights);
        const double total = total_weight();
        for (size_type k = 0; k < batch_size; ++k) { // apart, so that it vectorizes
            probabilities[k] = weights[k] / total;
        }
        detail::importance_weights_from_values(weights, batch_size, total, size(), beta,
                                               m_options.normalization(), m_index.smallest_weight(),
                                               weights);
    }

    // Steps 1 and 2 of draw(): the handles, and each draw's sampling weight w in values[k].
    template <class Generator>
    void draw_values(size_type batch_size, Generator& generator, replay_handle* handles,
                     double* values) {
        if (m_options.sampling() == sampling_mode::without_replacement) {
            draw_positions_without_replacement(batch_size, generator, handles, values);
        } else {
            draw_positions_with_replacement(batch_size, generator, handles, values);
        }
        // Nothing below throws.
        if constexpr (Index::positions_are_slots) {
            for (size_type k = 0; k < batch_size; ++k) {
                handles[k].generation = m_generations[handles[k].slot];
            }
        } else {
            constexpr size_type chunk = 64;
            size_type slots[chunk];
            for (size_type begin = 0; begin < batch_size; begin += chunk) {
                const size_type count = batch_size - begin < chunk ? batch_size - begin : chunk;
                for (size_type q = 0; q < count; ++q) {
                    slots[q] = handles[begin + q].slot;
                }
                m_index.slots_of(slots, count);
                for (size_type q = 0; q < count; ++q) {
                    handles[begin + q] = {slots[q], m_generations[slots[q]]};
                }
            }
        }
    }

    // Stratified: u_k = (k + U_k) * total / B, one draw per slice, in increasing order (which
    // also makes the batched descent cache-friendly). Independent: u_k = U_k * total.
    template <class Generator>
    void draw_positions_with_replacement(size_type batch_size, Generator& generator,
                                         replay_handle* handles, double* weights) const {
        const weight_tree_type& tree = m_index.weights();
        const double total = total_weight();
        const bool stratified = m_options.sampling() == sampling_mode::stratified;
        const double slice = total / static_cast<double>(batch_size);
        constexpr size_type chunk = 64;
        value_type prefixes[chunk];
        size_type positions[chunk];
        for (size_type begin = 0; begin < batch_size; begin += chunk) {
            const size_type count = batch_size - begin < chunk ? batch_size - begin : chunk;
            for (size_type q = 0; q < count; ++q) {
                const double unit = uniform_unit(generator);
                const double u =
                    stratified ? (static_cast<double>(begin + q) + unit) * slice : unit * total;
                prefixes[q] = static_cast<value_type>(u);
            }
            tree.find_prefix_batch_unchecked(prefixes, count, positions);
            for (size_type q = 0; q < count; ++q) {
                handles[begin + q].slot = positions[q];
                weights[begin + q] = static_cast<double>(tree.get_unchecked(positions[q]));
                if constexpr (Index::positions_are_slots) {
                    // Read once the whole batch is drawn: requested now, the generations
                    // arrive while the next chunks descend the tree.
                    detail::prefetch(m_generations.data() + positions[q]);
                }
            }
        }
    }

    // Successive sampling: each draw is proportional to the weights of the positions not drawn
    // yet. Drawn positions are zeroed in the weight tree for the rest of the batch, then
    // restored from weights[]; restoring recomputes the same sums bit for bit (every node is
    // rebuilt from its children), also when the generator throws half-way.
    template <class Generator>
    void draw_positions_without_replacement(size_type batch_size, Generator& generator,
                                            replay_handle* handles, double* weights) {
        weight_tree_type& tree = m_index.weights();
        struct restore_on_exit {
            weight_tree_type& tree;
            const replay_handle* handles;
            const double* weights;
            size_type drawn = 0;
            ~restore_on_exit() {
                for (size_type k = 0; k < drawn; ++k) {
                    tree.set_unchecked(handles[k].slot, static_cast<value_type>(weights[k]));
                }
            }
        } restore{tree, handles, weights};
        for (size_type k = 0; k < batch_size; ++k) {
            const double u = uniform_unit(generator) * static_cast<double>(tree.total());
            const size_type position = tree.find_prefix_unchecked(static_cast<value_type>(u));
            handles[k].slot = position;
            weights[k] = static_cast<double>(tree.get_unchecked(position));
            tree.set_unchecked(position, value_type(0));
            restore.drawn = k + 1;
        }
    }

    Index m_index;                            // priorities, weights, the position map
    replay_options m_options;                 // alpha as of the last set_alpha
    std::vector<std::uint32_t> m_generations; // fills per slot, for stale-handle checks
    double m_max_priority = 1.0;              // running max of raw priorities
};

} // namespace per

#endif // PER_BASIC_SAMPLER_HPP
