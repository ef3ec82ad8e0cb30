#ifndef PER_CONCURRENT_REPLAY_HPP
#define PER_CONCURRENT_REPLAY_HPP

/// @file
/// concurrent_replay<Item, Sampler>: a prioritized replay that any number of threads may use at
/// once (many actors, one or more learners: Ape-X, R2D2 on one machine).

#include "checkpoint.hpp"
#include "detail/cpu.hpp"
#include "detail/error.hpp"
#include "detail/update_validation.hpp"
#include "importance.hpp"
#include "prioritized_sampler.hpp"
#include "random.hpp"
#include "rate_limit.hpp"
#include "replay_buffer.hpp"
#include "replay_handle.hpp"
#include "replay_options.hpp"
#include "sample_batch.hpp"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <istream>
#include <iterator>
#include <limits>
#include <memory>
#include <mutex>
#include <ostream>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

namespace per {

/// How a concurrent_replay is split and paced (see concurrent_replay).
///
///     per::concurrent_options{}.shards(2).limit(per::rate_limit::min_size(10'000))
class concurrent_options {
public:
    /// The number of shards (default 1: one lock, exactly prioritized_replay's semantics).
    std::size_t shards() const noexcept { return m_shards; }
    /// Sets the number of shards (checked by concurrent_replay's constructor: >= 1, at most the
    /// capacity, and 1 unless the sampler is proportional and samples with replacement).
    concurrent_options& shards(std::size_t value) noexcept {
        m_shards = value;
        return *this;
    }
    /// The rate limit (default rate_limit::none()).
    const rate_limit& limit() const noexcept { return m_limit; }
    /// Sets the rate limit.
    concurrent_options& limit(const rate_limit& value) noexcept {
        m_limit = value;
        return *this;
    }

private:
    std::size_t m_shards = 1;
    rate_limit m_limit = rate_limit::none();
};

/// A batch drawn from a concurrent_replay. Unlike replay_batch it owns copies of its items, so
/// that no push by another thread can overwrite what the learner reads. batch[k] is the item of
/// the k-th draw; handles, importance-sampling weights and probabilities as in sample_batch.
/// Reusing one batch across sample() calls reuses its storage.
template <class Item>
class concurrent_batch {
public:
    /// The buffer's item type.
    using item_type = Item;

    /// The number of draws.
    std::size_t size() const noexcept { return m_handles.size(); }
    /// Whether the batch holds no draw (before the first sample).
    bool empty() const noexcept { return m_handles.empty(); }
    /// The k-th drawn item (k < size(), unchecked).
    const Item& operator[](std::size_t k) const noexcept { return m_items[k]; }
    /// The drawn items, in draw order.
    const std::vector<Item>& items() const noexcept { return m_items; }
    /// Their handles (for update_priorities); handles()[k].slot is the buffer slot.
    const std::vector<replay_handle>& handles() const noexcept { return m_handles; }
    /// Their importance-sampling weights.
    const std::vector<double>& weights() const noexcept { return m_weights; }
    /// The probability with which each was drawn.
    const std::vector<double>& probabilities() const noexcept { return m_probabilities; }

private:
    template <class, class>
    friend class concurrent_replay;

    void resize(std::size_t batch_size) {
        m_handles.resize(batch_size);
        m_weights.resize(batch_size);
        m_probabilities.resize(batch_size);
        m_items.clear();
        m_items.reserve(batch_size);
    }

    // What a sample over several shards works with, kept for the next sample.
    struct scratch {
        std::vector<double> totals;
        std::vector<double> smallest;
        std::vector<std::size_t> sizes;
        std::vector<std::size_t> shares;
        std::vector<double> values;
    };

    std::vector<Item> m_items;
    std::vector<replay_handle> m_handles;
    std::vector<double> m_weights;
    std::vector<double> m_probabilities;
    scratch m_scratch;
};

namespace detail {
template <class Sampler>
struct is_proportional_sampler : std::false_type {};
template <class SumTree>
struct is_proportional_sampler<basic_sampler<proportional_index<SumTree>>> : std::true_type {};
} // namespace detail

/// A prioritized replay buffer that any number of threads may call at once: actors push single
/// items or batches (with or without priorities), learners sample and write priorities back,
/// and anyone may observe, clear, close, save or load it. Built from S shards, each a
/// replay_buffer<Item, Sampler> with its own mutex; nothing of it is on prioritized_replay's
/// path, which stays free of locks and atomics for single-threaded users.
///
///     per::concurrent_replay<Transition> replay(1 << 20, per::replay_options{}.alpha(0.6),
///         per::concurrent_options{}.shards(2).limit(per::rate_limit::min_size(50'000)));
///     // actor threads:
///     replay.push_batch(transitions.data(), priorities.data(), transitions.size());
///     // the learner:
///     per::concurrent_batch<Transition> batch;
///     if (replay.sample(256, beta, rng, batch) == per::replay_status::ok) {
///         ...                                   // batch owns copies of its items
///         replay.update_priorities(batch.handles(), td_errors);
///     }
///     // at shutdown, from any thread:
///     replay.close();                            // every waiting call returns closed
///
/// **One shard** (the default) is one mutex around one replay_buffer, with every critical
/// section one batched call: all operations are linearizable, and a run of calls from one
/// thread draws exactly the batches, handles, weights and probabilities prioritized_replay<Item,
/// Sampler> draws (tests/test_concurrent_replay.cpp checks it call for call).
///
/// **S shards** (proportional sampler, stratified or independent sampling) let an actor write
/// into one shard while a learner draws from another, so that on two or more cores their work
/// overlaps. Slot s + S * j of the buffer is slot j of shard s (capacity / S slots per shard,
/// the first capacity % S shards one more). What changes:
/// - A push goes to one shard: the least pushed shard if it is free, else another free one
///   within capacity / (16 S) + 1 pushes of it, else the least pushed (waiting for it); the
///   choice is confirmed under the shard's lock. Shard push counts therefore never differ by
///   more than capacity / (16 S) + 1 plus the largest batch, and an item is overwritten (oldest
///   first within its shard) after between capacity - S times that and capacity + S times that
///   pushes into the whole buffer, rather than after exactly capacity.
/// - A push without a priority gets the buffer-wide max_priority(), as with one shard.
/// - A sample reads each shard's total weight (one shard locked at a time), places its batch's
///   positions over the sum of the totals (stratified or independent, as configured), and then
///   draws each shard's share from that shard, under its lock, with the shard's own sampler.
///   Each draw's probability is the one it was drawn with: P(i) = (T_s / T) (w_i / T'_s), with
///   T_s the shard's total when the totals were read and T'_s when the shard was drawn from;
///   the importance-sampling weights follow from these P(i) and the item count N seen. With no
///   concurrent writer T'_s = T_s, and P(i) = w_i / T, the proportional distribution itself.
///   Stratification is over the whole batch for the shard counts and within each shard for
///   the draws. Pushes into a shard between the two reads are drawn with the weight they have;
///   tests/test_concurrent_replay.cpp tests the distribution (chi-squared, 3 shards).
/// - update_priorities splits its handles by shard and writes each shard's share under its
///   lock; all handles and priorities are validated first, so an invalid one still changes
///   nothing anywhere.
///
/// Which operations are linearizable: with one shard, all. With S shards: every push (it
/// writes one shard), set_alpha, clear, save, load and size() (they lock every shard), and the
/// observers of one slot; a sample is a sequence of atomic per-shard draws with the
/// probabilities described above, and update_priorities a sequence of atomic per-shard writes
/// (a sample running meanwhile may see some shards' new priorities and not others'), each
/// priority applied exactly once or, if its handle is stale, not at all.
///
/// **Rate limits** (rate_limit.hpp): push, push_batch and sample wait as the limit says, up to
/// their timeout (default wait_forever), and return replay_status::ok, timed_out or closed.
/// Waiting calls are not served in order: when room frees up, whichever waiter gets there
/// first is admitted, so a faster actor gets more of its pushes in (examples/apex_cartpole.cpp
/// measured one actor of 3 making 46% of the inserts);
/// update_priorities and the observers never wait. close() wakes every waiter with `closed`;
/// later pushes and samples return `closed` at once, while updates, observers, save and load
/// keep working (a learner can write its last priorities and save a checkpoint).
///
/// Exceptions: the same clear errors as prioritized_replay's, naming
/// `per::concurrent_replay::<member>`, the argument and its value, from any thread, except
/// where a value goes on to the shards' samplers unchanged and they check it: the constructor's
/// capacity and options, and set_alpha's alpha, are named as the sampler names them
/// ("per::prioritized_sampler::set_alpha: alpha = -1 must be finite and >= 0"). Always with the
/// strong guarantee: a call that throws changes nothing, and the rate limiter's counts are
/// taken back. Item must be nothrow copy-constructible and copy-assignable (a sampled batch
/// copies items under the shard's lock).
///
/// Complexity: push of B items O(B log(N / S)) under one shard's lock, plus O(S) to choose the
/// shard; sample of B O(B log(N / S) + S) with B item copies; update of B O(B log(N / S) + S);
/// size() O(S) (it locks every shard); set_alpha, clear, save, load O(N). Not copyable or
/// movable (threads hold references to it).
template <class Item, class Sampler = prioritized_sampler>
class concurrent_replay {
    static_assert(std::is_nothrow_copy_constructible_v<Item> &&
                      std::is_nothrow_copy_assignable_v<Item>,
                  "per::concurrent_replay<Item>: Item must be nothrow copy-constructible and "
                  "copy-assignable (batches copy items under a shard's lock)");

public:
    /// The stored item type.
    using item_type = Item;
    /// The sampler type of each shard.
    using sampler_type = Sampler;
    /// The shards' buffer type.
    using buffer_type = replay_buffer<Item, Sampler>;
    /// Slot indices and counts.
    using size_type = std::size_t;

    /// O(N). An empty buffer of `capacity` slots in concurrency.shards() shards. Throws
    /// std::invalid_argument if capacity is 0 or an option is invalid, if shards() is 0 or above
    /// the capacity, or if shards() > 1 with a rank-based sampler (ranks are buffer-wide) or
    /// sampling_mode::without_replacement (it does not split into shards exactly).
    explicit concurrent_replay(size_type capacity, replay_options options = {},
                               concurrent_options concurrency = {})
        : m_gate(concurrency.limit())
        , m_capacity(capacity) {
        const char* where = "per::concurrent_replay";
        const size_type shards = concurrency.shards();
        if (shards == 0) {
            detail::throw_invalid_argument(where, "shards", shards, "must be > 0");
        }
        if (capacity != 0 && shards > capacity) {
            detail::throw_invalid_argument(where, "shards", shards,
                                           "must be <= capacity = " + std::to_string(capacity));
        }
        if (shards > 1 && !detail::is_proportional_sampler<Sampler>::value) {
            detail::throw_invalid_argument(where, "shards", shards,
                                           "must be 1 for a rank-based sampler (ranks are "
                                           "buffer-wide)");
        }
        if (shards > 1 && options.sampling() == sampling_mode::without_replacement) {
            detail::throw_invalid_argument(where, "shards", shards,
                                           "must be 1 with sampling_mode::without_replacement");
        }
        m_shards.reserve(shards);
        for (size_type s = 0; s < shards; ++s) {
            // A capacity of 0 throws here, as prioritized_replay's constructor does.
            m_shards.push_back(
                std::make_unique<shard>(shard_capacity(capacity, shards, s), options));
        }
        publish_settings(*m_shards.front());
        m_balance_slack.store(capacity / (16 * shards) + 1, std::memory_order_relaxed);
    }

    concurrent_replay(const concurrent_replay&) = delete;
    concurrent_replay& operator=(const concurrent_replay&) = delete;
    ~concurrent_replay() = default;

    // --- Adding items -----------------------------------------------------------------------

    /// Stores the item with priority max_priority(), waiting for the rate limit up to `timeout`.
    /// Returns ok, timed_out or closed (nothing stored then). Throws std::invalid_argument if
    /// the limit can never admit one insert.
    replay_status push(const Item& item, std::chrono::nanoseconds timeout = wait_forever) {
        return insert("push", nullptr, &item, static_cast<const double*>(nullptr), 1, timeout);
    }
    /// As above with the given raw priority (raising max_priority() if larger). Also throws
    /// std::invalid_argument naming priority if it is negative, not finite or above
    /// priority_limit().
    replay_status push(const Item& item, double priority,
                       std::chrono::nanoseconds timeout = wait_forever) {
        check_priorities("push", &priority, 1);
        return insert("push", nullptr, &item, &priority, 1, timeout);
    }

    /// Stores `count` items in this order into one shard, each with priority max_priority(), as
    /// one prioritized_replay::push_batch (the tree work done once). Waits for the rate limit to
    /// admit all count items at once. Throws std::invalid_argument if the limit can never admit
    /// count items.
    replay_status push_batch(const Item* items, size_type count,
                             std::chrono::nanoseconds timeout = wait_forever) {
        return insert("push_batch", "count", items, static_cast<const double*>(nullptr), count,
                      timeout);
    }
    /// As above, the k-th item with raw priority priorities[k] (float or double). Also throws
    /// std::invalid_argument naming priorities[k] if one is negative, not finite or above
    /// priority_limit(), before anything changes.
    template <class Priority>
    replay_status push_batch(const Item* items, const Priority* priorities, size_type count,
                             std::chrono::nanoseconds timeout = wait_forever) {
        static_assert(std::is_arithmetic_v<Priority>, "priorities must be float or double");
        check_priorities("push_batch", priorities, count);
        return insert("push_batch", "count", items, priorities, count, timeout);
    }
    /// As push_batch(data, size) for a contiguous range of items (errors name items.size()).
    template <class Items, std::enable_if_t<!std::is_pointer_v<Items>, int> = 0>
    replay_status push_batch(const Items& items, std::chrono::nanoseconds timeout = wait_forever) {
        return insert("push_batch", "items.size()", std::data(items),
                      static_cast<const double*>(nullptr), std::size(items), timeout);
    }
    /// As push_batch(items, priorities, size) for two contiguous ranges. Throws
    /// std::invalid_argument if their sizes differ.
    template <
        class Items, class Priorities,
        std::enable_if_t<!std::is_pointer_v<Items> && !std::is_arithmetic_v<Priorities> &&
                             !std::is_convertible_v<const Priorities&, std::chrono::nanoseconds>,
                         int> = 0>
    replay_status push_batch(const Items& items, const Priorities& priorities,
                             std::chrono::nanoseconds timeout = wait_forever) {
        if (std::size(items) != std::size(priorities)) {
            detail::throw_invalid_argument(
                qualified("push_batch").c_str(), "priorities.size()", std::size(priorities),
                "must equal items.size() = " + std::to_string(std::size(items)));
        }
        static_assert(std::is_arithmetic_v<
                          std::remove_cv_t<std::remove_pointer_t<decltype(std::data(priorities))>>>,
                      "priorities must be float or double");
        check_priorities("push_batch", std::data(priorities), std::size(priorities));
        return insert("push_batch", "items.size()", std::data(items), std::data(priorities),
                      std::size(items), timeout);
    }

    // --- Sampling ---------------------------------------------------------------------------

    /// Draws batch_size items into `out` (copies of the items, handles, IS weights for `beta`,
    /// probabilities), waiting for the rate limit up to `timeout`. Returns ok, timed_out or
    /// closed (`out` unchanged then). With one shard the draws are prioritized_replay's, bit for
    /// bit, from the same generator state; with S shards see the class comment. Throws, with
    /// the buffer unchanged: std::invalid_argument if batch_size is 0, above per::max_batch_size
    /// or never admissible by the limit, or beta is not in [0, 1] (before waiting);
    /// std::out_of_range if no item has a non-zero weight, or, without replacement, batch_size
    /// exceeds the sampleable items (after waiting; `out`'s contents are then unspecified).
    template <class Generator>
    replay_status sample(size_type batch_size, double beta, Generator& generator,
                         concurrent_batch<Item>& out,
                         std::chrono::nanoseconds timeout = wait_forever) {
        if (batch_size == 0 || batch_size > max_batch_size || !(beta >= 0.0 && beta <= 1.0) ||
            !m_gate.sample_admissible(batch_size)) {
            reject_sample(batch_size, beta); // the messages are built only here
        }
        std::uint64_t epoch = 0; // the rate limiter's counts this sample belongs to
        const replay_status status = m_gate.admit_sample(batch_size, timeout, epoch);
        if (status != replay_status::ok) {
            return status;
        }
        try {
            if (m_shards.size() == 1) {
                sample_one_shard(batch_size, beta, generator, out);
            } else {
                sample_shards(batch_size, beta, generator, out);
            }
        } catch (...) {
            m_gate.cancel_sample(batch_size, epoch);
            throw;
        }
        m_gate.complete_sample(batch_size, epoch);
        return replay_status::ok;
    }

    // --- Priority updates -------------------------------------------------------------------

    /// New raw priorities (|TD error|; epsilon is added by the sampler) for sampled items;
    /// stale handles (items overwritten since they were sampled, by any thread) are skipped.
    /// Never waits for the rate limit. Returns the number applied. Throws, before applying any,
    /// std::out_of_range for a handle slot >= capacity() and std::invalid_argument for a
    /// priority that is negative, not finite or above priority_limit().
    template <class Priority>
    size_type update_priorities(const replay_handle* handles, const Priority* priorities,
                                size_type count) {
        static_assert(std::is_arithmetic_v<Priority>, "priorities must be float or double");
        std::lock_guard<std::mutex> update_lock(m_update_mutex); // no set_alpha meanwhile
        const size_type capacity = m_capacity.load(std::memory_order_relaxed);
        for (size_type k = 0; k < count; ++k) {
            if (handles[k].slot >= capacity) {
                detail::throw_out_of_range(qualified("update_priorities").c_str(),
                                           indexed("handles", k, ".slot").c_str(), handles[k].slot,
                                           "must be < capacity() = " + std::to_string(capacity));
            }
        }
        check_priorities("update_priorities", priorities, count);
        if (m_shards.size() == 1) {
            shard& only = *m_shards.front();
            const shard_lock lock(only);
            const size_type applied = only.buffer.update_priorities(handles, priorities, count);
            raise_max_priority(only.buffer.max_priority());
            return applied;
        }
        return update_shards(handles, priorities, count);
    }
    /// As above for two contiguous ranges of equal size (std::vector, std::array, std::span).
    /// Also throws std::invalid_argument if their sizes differ.
    template <class Handles, class Priorities>
    size_type update_priorities(const Handles& handles, const Priorities& priorities) {
        detail::check_same_size([] { return qualified("update_priorities"); }, handles, priorities);
        return update_priorities(std::data(handles), std::data(priorities), std::size(handles));
    }

    // --- Observers --------------------------------------------------------------------------

    /// The number of slots (sum over the shards).
    size_type capacity() const noexcept { return m_capacity.load(std::memory_order_relaxed); }
    /// The number of shards.
    size_type shards() const noexcept { return m_shards.size(); }
    /// O(S). The number of items present, with every shard locked at once (linearizable).
    size_type size() const {
        const all_shards_lock lock(*this);
        size_type total = 0;
        for (const auto& part : m_shards) {
            total += part->buffer.size();
        }
        return total;
    }
    /// O(S). Whether no item is present.
    bool empty() const { return size() == 0; }
    /// The priority a push without one gives: the largest raw priority pushed or written so far
    /// (or replay_options::initial_max_priority), over all shards.
    double max_priority() const noexcept { return m_max_priority.load(std::memory_order_acquire); }
    /// The priority exponent.
    double alpha() const noexcept { return m_alpha.load(std::memory_order_acquire); }
    /// The largest raw priority accepted (depends on alpha; see basic_sampler).
    double priority_limit() const noexcept { return m_limit.load(std::memory_order_acquire); }
    /// The options, with the alpha of the last set_alpha or load.
    replay_options options() const {
        std::lock_guard<std::mutex> lock(m_shards.front()->mutex);
        return m_shards.front()->buffer.options();
    }
    /// The rate limit.
    const rate_limit& limit() const noexcept { return m_gate.limit(); }
    /// A consistent snapshot of the rate limiter's counts (all zero without a limit).
    rate_counters rate_counts() const { return m_gate.counters(); }
    /// Whether close() was called.
    bool closed() const noexcept { return m_gate.closed(); }

    /// The item in `slot`, copied under its shard's lock. Throws std::out_of_range if the slot
    /// holds no item.
    Item item(size_type slot) const {
        const auto [part, local] = locate("item", slot);
        std::lock_guard<std::mutex> lock(part->mutex);
        return part->buffer.item(checked_local("item", *part, slot, local));
    }
    /// The raw priority of the item in `slot`. Throws std::out_of_range if it holds none.
    double priority(size_type slot) const {
        const auto [part, local] = locate("priority", slot);
        std::lock_guard<std::mutex> lock(part->mutex);
        return part->buffer.priority(checked_local("priority", *part, slot, local));
    }
    /// The current handle of the item in `slot`. Throws std::out_of_range if it holds none.
    replay_handle handle(size_type slot) const {
        const auto [part, local] = locate("handle", slot);
        std::lock_guard<std::mutex> lock(part->mutex);
        replay_handle handle = part->buffer.handle(checked_local("handle", *part, slot, local));
        handle.slot = slot;
        return handle;
    }

    /// Calls visit(shard_buffer) with shard `s` locked and returns what it returns: read access
    /// to one shard's replay_buffer (its slot j is the buffer's slot s + shards() * j), for
    /// statistics, tests and checks. visit must not call back into this concurrent_replay (the
    /// shard's mutex is not recursive). Throws std::out_of_range if s >= shards(), and what
    /// visit throws.
    template <class Visit>
    decltype(auto) inspect(size_type s, Visit&& visit) const {
        if (s >= m_shards.size()) {
            detail::throw_out_of_range(qualified("inspect").c_str(), "s", s,
                                       "must be < shards() = " + std::to_string(m_shards.size()));
        }
        std::lock_guard<std::mutex> lock(m_shards[s]->mutex);
        return std::forward<Visit>(visit)(static_cast<const buffer_type&>(m_shards[s]->buffer));
    }

    // --- Whole-buffer operations ------------------------------------------------------------

    /// O(N). Sets the priority exponent of every shard (see basic_sampler::set_alpha), with
    /// every shard locked. Throws std::invalid_argument as set_alpha does (checked against the
    /// shard with the largest max priority first) and std::bad_alloc if the new weights of all
    /// shards (O(N) together, computed before any is installed) cannot be allocated; the
    /// buffer is unchanged on any throw.
    void set_alpha(double alpha) {
        std::lock_guard<std::mutex> update_lock(m_update_mutex);
        const all_shards_lock lock(*this);
        std::vector<size_type> order(m_shards.size());
        for (size_type s = 0; s < order.size(); ++s) {
            order[s] = s;
        }
        // Ties by shard order. Not std::stable_sort, which allocates a scratch buffer (and goes
        // without it if that fails): this sort allocates nothing.
        std::sort(order.begin(), order.end(), [&](size_type a, size_type b) {
            const double first = m_shards[a]->buffer.max_priority();
            const double second = m_shards[b]->buffer.max_priority();
            return first > second || (first == second && a < b);
        });
        // Every shard's new weights first (what throws, throws here, with nothing changed),
        // then installed in a pass that cannot throw.
        std::vector<typename buffer_type::alpha_change> changes;
        changes.reserve(order.size());
        for (const size_type s : order) {
            changes.push_back(m_shards[s]->buffer.prepare_alpha(alpha));
        }
        for (size_type k = 0; k < order.size(); ++k) {
            m_shards[order[k]]->buffer.install_alpha(std::move(changes[k]));
        }
        publish_settings(*m_shards.front());
    }

    /// O(N). Removes every item (handles from before become stale; max_priority() is kept) and
    /// restarts the rate limiter's counts. Does not reopen a closed buffer.
    void clear() {
        std::lock_guard<std::mutex> update_lock(m_update_mutex);
        const all_shards_lock lock(*this);
        for (const auto& part : m_shards) {
            part->buffer.clear();
            part->pushed.store(0, std::memory_order_relaxed);
        }
        m_gate.restart(0); // under the shards' locks, as every insert completes (see restart)
    }

    /// Wakes every waiting push and sample with replay_status::closed; later pushes and samples
    /// return closed at once. Updates, observers, save and load keep working. Idempotent.
    void close() { m_gate.close(); }

    /// O(N). Saves the buffer (checkpoint.hpp) with every shard locked: one prioritized_replay
    /// checkpoint per shard, in shard order (with one shard, exactly what per::save writes for
    /// a prioritized_replay, which per::load can read into one). Items must be trivially
    /// copyable; see the overload with write_item otherwise. Throws per::checkpoint_error or
    /// what the stream throws; the buffer is unchanged.
    void save(std::ostream& out) const {
        std::lock_guard<std::mutex> update_lock(m_update_mutex);
        const all_shards_lock lock(*this);
        for (const auto& part : m_shards) {
            per::save(out, part->buffer);
        }
    }
    /// As above with an item serializer write_item(std::ostream&, const Item&).
    template <class WriteItem>
    void save(std::ostream& out, WriteItem write_item) const {
        std::lock_guard<std::mutex> update_lock(m_update_mutex);
        const all_shards_lock lock(*this);
        for (const auto& part : m_shards) {
            per::save(out, part->buffer, write_item);
        }
    }

    /// O(N). Replaces the whole buffer with what save() wrote, for the same number of shards:
    /// reads shards() checkpoints into new buffers first (per::load validates each), checks that
    /// their capacities split one total as the constructor would and that their options agree
    /// (and, with several shards, do not sample without replacement, as the constructor requires),
    /// and only then swaps them in under every shard's lock. The rate limiter's counts restart
    /// as if the loaded items had just been inserted (see rate_counts()). Throws
    /// per::checkpoint_error naming what is wrong, or what the stream or an allocation throws;
    /// the buffer is then unchanged.
    void load(std::istream& in) { load(in, load_options{}); }
    /// As above, refusing capacities above options.max_capacity() (checkpoint.hpp) per shard.
    void load(std::istream& in, const load_options& options) {
        load_with(in, [&](std::istream& stream, buffer_type& buffer) {
            per::load(stream, buffer, options);
        });
    }
    /// As above with an item serializer read_item(std::istream&) returning an Item.
    template <class ReadItem>
    void load(std::istream& in, ReadItem read_item, const load_options& options = {}) {
        load_with(in, [&](std::istream& stream, buffer_type& buffer) {
            per::load(stream, buffer, read_item, options);
        });
    }

private:
    static std::string qualified(const char* member) {
        return std::string("per::concurrent_replay::") + member;
    }
    static std::string indexed(const char* name, size_type k, const char* suffix = "") {
        return std::string(name) + "[" + std::to_string(k) + "]" + suffix;
    }
    static size_type shard_capacity(size_type capacity, size_type shards, size_type s) noexcept {
        return capacity / shards + (s < capacity % shards ? 1 : 0);
    }

    struct alignas(64) shard {
        shard(size_type capacity, const replay_options& options)
            : buffer(capacity, options) {}
        mutable std::mutex mutex;
        buffer_type buffer;
        std::atomic<std::uint64_t> pushed{0}; // items pushed since clear/load (shard choice)
    };

    // Takes a shard's mutex, spinning a little before sleeping: other threads hold a shard for
    // one batched call (about a microsecond for a push of 32), far less than a sleep and a
    // wake-up cost, and a learner that sleeps on every busy shard loses most of its steps.
    static void lock_spinning(std::mutex& mutex) {
        for (int attempt = 0; attempt < 64; ++attempt) {
            if (mutex.try_lock()) {
                return;
            }
            for (int pause = 0; pause < 8; ++pause) {
                detail::cpu_relax();
            }
        }
        mutex.lock();
    }
    class shard_lock {
    public:
        explicit shard_lock(const shard& part)
            : m_mutex(part.mutex) {
            lock_spinning(m_mutex);
        }
        ~shard_lock() { m_mutex.unlock(); }
        shard_lock(const shard_lock&) = delete;
        shard_lock& operator=(const shard_lock&) = delete;

    private:
        std::mutex& m_mutex;
    };

    // Locks every shard, in shard order (the one order every multi-shard lock takes).
    class all_shards_lock {
    public:
        explicit all_shards_lock(const concurrent_replay& replay)
            : m_replay(replay) {
            for (const auto& part : m_replay.m_shards) {
                part->mutex.lock();
            }
        }
        ~all_shards_lock() {
            for (const auto& part : m_replay.m_shards) {
                part->mutex.unlock();
            }
        }
        all_shards_lock(const all_shards_lock&) = delete;
        all_shards_lock& operator=(const all_shards_lock&) = delete;

    private:
        const concurrent_replay& m_replay;
    };

    // Every priority finite, >= 0 and <= priority_limit(); else std::invalid_argument naming
    // the first bad one (priorities[k], or priority for a single push). No allocation unless
    // one is bad.
    template <class Priority>
    void check_priorities(const char* member, const Priority* priorities, size_type count) const {
        const double limit = priority_limit();
        bool accepted = true;
        for (size_type k = 0; k < count; ++k) { // branch-free, so that it vectorizes
            const double priority = static_cast<double>(priorities[k]);
            accepted &= priority >= 0.0 && priority <= limit; // false for NaN
        }
        if (accepted) {
            return;
        }
        for (size_type k = 0; k < count; ++k) {
            const double priority = static_cast<double>(priorities[k]);
            if (!(priority >= 0.0 && priority <= limit)) {
                const std::string argument = std::string(member) == "push"
                                                 ? std::string("priority")
                                                 : indexed("priorities", k);
                detail::reject_priority(qualified(member).c_str(), argument.c_str(), priority,
                                        "must be <= " + detail::format_value(limit) +
                                            ", priority_limit()");
            }
        }
    }

    [[noreturn]] void reject_insert(const char* member, const char* count_name,
                                    size_type count) const {
        const std::string band = detail::format_value(limit().max_diff() - limit().min_diff());
        if (count_name == nullptr) {
            detail::throw_invalid_argument(
                qualified(member).c_str(), "limit().samples_per_insert()",
                limit().samples_per_insert(),
                "must be <= max_diff - min_diff = " + band +
                    ": no insert can be admitted in the steady state (see rate_limit)");
        }
        detail::throw_invalid_argument(qualified(member).c_str(), count_name, count,
                                       std::string("can never be admitted in the steady state "
                                                   "(see rate_limit): ") +
                                           count_name +
                                           " * samples_per_insert must be <= max_diff - "
                                           "min_diff = " +
                                           band);
    }

    [[noreturn]] void reject_sample(size_type batch_size, double beta) const {
        const std::string where = qualified("sample");
        if (batch_size == 0) {
            detail::throw_invalid_argument(where.c_str(), "batch_size", batch_size, "must be > 0");
        }
        detail::check_batch_size_limit(where.c_str(), batch_size);
        detail::check_beta(where.c_str(), beta);
        detail::throw_invalid_argument(
            where.c_str(), "batch_size", batch_size,
            "can never be admitted in the steady state (see rate_limit): it must be <= max_diff - "
            "min_diff = " +
                detail::format_value(limit().max_diff() - limit().min_diff()));
    }

    // Copies alpha and the priority limit of a shard (all shards agree) where observers read
    // them without a lock; the max priority is raised to the shard's.
    void publish_settings(const shard& part) {
        m_alpha.store(part.buffer.alpha(), std::memory_order_release);
        m_limit.store(part.buffer.sampler().priority_limit(), std::memory_order_release);
        raise_max_priority(part.buffer.max_priority());
    }
    void raise_max_priority(double value) noexcept {
        double current = m_max_priority.load(std::memory_order_relaxed);
        while (value > current &&
               !m_max_priority.compare_exchange_weak(current, value, std::memory_order_release,
                                                     std::memory_order_relaxed)) {
        }
    }

    std::pair<shard*, size_type> locate(const char* member, size_type slot) const {
        const size_type capacity = this->capacity();
        if (slot >= capacity) {
            detail::throw_out_of_range(qualified(member).c_str(), "slot", slot,
                                       "must be < capacity() = " + std::to_string(capacity));
        }
        return {m_shards[slot % m_shards.size()].get(), slot / m_shards.size()};
    }
    static size_type checked_local(const char* member, const shard& part, size_type slot,
                                   size_type local) {
        if (local >= part.buffer.size()) {
            detail::throw_out_of_range(qualified(member).c_str(), "slot", slot, "holds no item");
        }
        return local;
    }

    // The least pushed shard and its push count (relaxed reads: counts only grow between a
    // clear or load, which hold every shard's lock).
    std::pair<size_type, std::uint64_t> least_pushed() const noexcept {
        size_type least = 0;
        std::uint64_t fewest = m_shards[0]->pushed.load(std::memory_order_relaxed);
        for (size_type s = 1; s < m_shards.size(); ++s) {
            const std::uint64_t pushed = m_shards[s]->pushed.load(std::memory_order_relaxed);
            if (pushed < fewest) {
                least = s;
                fewest = pushed;
            }
        }
        return {least, fewest};
    }
    // Whether a locked shard may take the next push: at most m_balance_slack pushes ahead of the
    // least pushed shard, judged under its lock (no other push can change its count meanwhile),
    // so that push counts never differ by more than the slack plus one batch.
    bool may_take_push(const shard& part) const noexcept {
        return part.pushed.load(std::memory_order_relaxed) <=
               least_pushed().second + m_balance_slack.load(std::memory_order_relaxed);
    }

    // Picks a shard for a push and returns it locked: a free one among those within the slack
    // of the least pushed (the least pushed first), else the least pushed, waiting for it; a
    // shard that other pushes took past the slack meanwhile is released and the choice made
    // again.
    shard& lock_shard_for_push() {
        if (m_shards.size() == 1) {
            lock_spinning(m_shards.front()->mutex);
            return *m_shards.front();
        }
        const size_type count = m_shards.size();
        for (;;) {
            const auto [least, fewest] = least_pushed();
            const size_type slack = m_balance_slack.load(std::memory_order_relaxed);
            for (size_type k = 0; k < count; ++k) {
                shard& part = *m_shards[(least + k) % count];
                if (part.pushed.load(std::memory_order_relaxed) <= fewest + slack &&
                    part.mutex.try_lock()) {
                    if (may_take_push(part)) {
                        return part;
                    }
                    part.mutex.unlock();
                }
            }
            shard& part = *m_shards[least];
            lock_spinning(part.mutex);
            if (may_take_push(part)) {
                return part;
            }
            part.mutex.unlock();
        }
    }

    // count_name: what the caller calls the item count (count, items.size()), or null for a
    // single push, whose error then names the limit's samples_per_insert.
    template <class Priority>
    replay_status insert(const char* member, const char* count_name, const Item* items,
                         const Priority* priorities, size_type count,
                         std::chrono::nanoseconds timeout) {
        if (count == 0) {
            return m_gate.closed() ? replay_status::closed : replay_status::ok;
        }
        if (!m_gate.insert_admissible(count)) {
            reject_insert(member, count_name, count);
        }
        const replay_status status = m_gate.admit_insert(count, timeout);
        if (status != replay_status::ok) {
            return status;
        }
        try {
            shard& part = lock_shard_for_push();
            std::lock_guard<std::mutex> lock(part.mutex, std::adopt_lock);
            if (priorities != nullptr) {
                // Again under the lock: a set_alpha or load while this call waited may have
                // lowered priority_limit() (they change it with every shard locked).
                check_priorities(member, priorities, count);
                part.buffer.push_batch(items, priorities, count);
            } else if (m_shards.size() > 1) {
                // The buffer-wide max, not the shard's: pushes of 256 at a time with it, which
                // is count pushes in order (validated: priority_limit() >= max_priority()).
                constexpr size_type chunk = 256;
                double maxima[chunk];
                std::fill(maxima, maxima + chunk, max_priority());
                for (size_type begin = 0; begin < count; begin += chunk) {
                    const size_type size = count - begin < chunk ? count - begin : chunk;
                    part.buffer.push_batch(items + begin, maxima, size);
                }
            } else {
                part.buffer.push_batch(items, count);
            }
            part.pushed.store(part.pushed.load(std::memory_order_relaxed) + count,
                              std::memory_order_relaxed);
            raise_max_priority(part.buffer.max_priority());
            // Counted under the shard's lock, which clear() and load() take before they restart
            // the counts: the items and their count land on the same side of a restart.
            m_gate.complete_insert(count);
        } catch (...) {
            m_gate.cancel_insert(count);
            throw;
        }
        return replay_status::ok;
    }

    template <class Generator>
    void sample_one_shard(size_type batch_size, double beta, Generator& generator,
                          concurrent_batch<Item>& out) {
        shard& only = *m_shards.front();
        const shard_lock lock(only);
        if (only.buffer.sampler().sampleable_size() == 0) { // the sampler's error, our name
            throw std::out_of_range(qualified("sample") +
                                    ": nothing to sample: " + std::to_string(only.buffer.size()) +
                                    " items, none with a non-zero priority weight");
        }
        if (only.buffer.options().sampling() == sampling_mode::without_replacement &&
            batch_size > only.buffer.sampler().sampleable_size()) {
            detail::throw_out_of_range(qualified("sample").c_str(), "batch_size", batch_size,
                                       "must be <= sampleable_size() = " +
                                           std::to_string(only.buffer.sampler().sampleable_size()) +
                                           " when sampling without replacement");
        }
        out.resize(batch_size);
        only.buffer.sample_into(batch_size, beta, generator, out.m_handles.data(),
                                out.m_weights.data(), out.m_probabilities.data());
        for (size_type k = 0; k < batch_size; ++k) {
            out.m_items.push_back(only.buffer.item(out.m_handles[k].slot));
        }
    }

    // A sample over S shards; drawn again from new totals in the rare case that a shard lost
    // every weight between the two reads (a clear, or updates to 0 with epsilon 0), so that
    // only a buffer with nothing to sample throws.
    template <class Generator>
    void sample_shards(size_type batch_size, double beta, Generator& generator,
                       concurrent_batch<Item>& out) {
        while (!try_sample_shards(batch_size, beta, generator, out)) {
        }
    }
    template <class Generator>
    bool try_sample_shards(size_type batch_size, double beta, Generator& generator,
                           concurrent_batch<Item>& out) {
        const size_type count = m_shards.size();
        typename concurrent_batch<Item>::scratch& work = out.m_scratch;
        work.totals.assign(count, 0.0);
        work.smallest.assign(count, 0.0); // each shard's least weight, scaled as its draws
        work.sizes.assign(count, 0);
        work.shares.assign(count, 0);
        // The totals, one shard at a time (and the options, which only load changes, under
        // shard 0's lock).
        double total = 0.0;
        sampling_mode mode = sampling_mode::stratified;
        weight_normalization normalization = weight_normalization::global_max;
        for (size_type s = 0; s < count; ++s) {
            const shard_lock lock(*m_shards[s]);
            const Sampler& sampler = m_shards[s]->buffer.sampler();
            if (s == 0) {
                mode = sampler.options().sampling();
                normalization = sampler.options().normalization();
            }
            work.totals[s] = sampler.total_weight();
            work.smallest[s] = sampler.sampleable_size() > 0
                                   ? sampler.index().smallest_weight()
                                   : std::numeric_limits<double>::infinity();
            work.sizes[s] = sampler.size();
            total += work.totals[s];
        }
        if (!(total > 0.0)) {
            size_type items = 0;
            for (size_type s = 0; s < count; ++s) {
                items += work.sizes[s];
            }
            throw std::out_of_range(qualified("sample") +
                                    ": nothing to sample: " + std::to_string(items) +
                                    " items, none with a non-zero priority weight");
        }
        // Each draw's shard: its position over the concatenated totals.
        size_type last = 0; // the last shard with a non-zero total
        for (size_type s = 0; s < count; ++s) {
            last = work.totals[s] > 0.0 ? s : last;
        }
        const bool stratified = mode == sampling_mode::stratified;
        for (size_type k = 0; k < batch_size; ++k) {
            const double u = uniform_unit(generator);
            const double position =
                stratified ? (static_cast<double>(k) + u) * total / static_cast<double>(batch_size)
                           : u * total;
            size_type s = 0;
            double end = work.totals[0];
            while (s < last && !(position < end)) {
                end += work.totals[++s];
            }
            while (work.totals[s] == 0.0) { // a position on a boundary: the next shard with weight
                ++s;
            }
            ++work.shares[s];
        }
        out.resize(batch_size);
        work.values.resize(batch_size); // P(i) * total: the importance weights' input
        size_type begin = 0;
        for (size_type s = 0; s < count; ++s) {
            if (work.shares[s] == 0) {
                continue;
            }
            shard& part = *m_shards[s];
            const shard_lock lock(part);
            if (part.buffer.sampler().sampleable_size() == 0) {
                return false;
            }
            // The shard's handles and P(i | shard); the weights come below, buffer-wide.
            part.buffer.draw_into(work.shares[s], generator, out.m_handles.data() + begin,
                                  out.m_probabilities.data() + begin);
            const Sampler& sampler = part.buffer.sampler();
            const double scale = work.totals[s] / sampler.total_weight(); // T_s / T'_s
            work.smallest[s] = sampler.index().smallest_weight() * scale;
            work.sizes[s] = sampler.size();
            for (size_type k = begin; k < begin + work.shares[s]; ++k) {
                const size_type local = out.m_handles[k].slot;
                out.m_items.push_back(part.buffer.item(local));
                out.m_handles[k].slot = s + count * local;
                work.values[k] = out.m_probabilities[k] * work.totals[s];
                out.m_probabilities[k] = work.values[k] / total;
            }
            begin += work.shares[s];
        }
        size_type items = 0;
        double least = std::numeric_limits<double>::infinity();
        for (size_type s = 0; s < count; ++s) {
            items += work.sizes[s];
            least = work.smallest[s] < least ? work.smallest[s] : least;
        }
        detail::importance_weights_from_values(work.values.data(), batch_size, total, items, beta,
                                               normalization, least, out.m_weights.data());
        return true;
    }

    template <class Priority>
    size_type update_shards(const replay_handle* handles, const Priority* priorities,
                            size_type count) {
        const size_type shards = m_shards.size();
        // A stable counting sort by shard (the last of repeated handles still wins), in this
        // thread's scratch storage, reused from call to call.
        thread_local std::vector<size_type> starts;
        thread_local std::vector<size_type> next;
        thread_local std::vector<replay_handle> local;
        thread_local std::vector<Priority> values;
        starts.assign(shards + 1, 0);
        for (size_type k = 0; k < count; ++k) {
            ++starts[handles[k].slot % shards + 1];
        }
        for (size_type s = 0; s < shards; ++s) {
            starts[s + 1] += starts[s];
        }
        local.resize(count);
        values.resize(count);
        next.assign(starts.begin(), starts.end() - 1);
        for (size_type k = 0; k < count; ++k) {
            const size_type s = handles[k].slot % shards;
            local[next[s]] = {handles[k].slot / shards, handles[k].generation};
            values[next[s]] = priorities[k];
            ++next[s];
        }
        // Validated above and alpha fixed by m_update_mutex: nothing below throws.
        size_type applied = 0;
        for (size_type s = 0; s < shards; ++s) {
            const size_type size = starts[s + 1] - starts[s];
            if (size == 0) {
                continue;
            }
            shard& part = *m_shards[s];
            const shard_lock lock(part);
            applied += part.buffer.update_priorities(local.data() + starts[s],
                                                     values.data() + starts[s], size);
            raise_max_priority(part.buffer.max_priority());
        }
        return applied;
    }

    static bool same_options(const replay_options& a, const replay_options& b) noexcept {
        return a.alpha() == b.alpha() && a.epsilon() == b.epsilon() &&
               a.initial_max_priority() == b.initial_max_priority() &&
               a.sampling() == b.sampling() && a.normalization() == b.normalization();
    }

    template <class LoadOne>
    void load_with(std::istream& in, LoadOne load_one) {
        const size_type count = m_shards.size();
        std::vector<buffer_type> loaded;
        loaded.reserve(count);
        for (size_type s = 0; s < count; ++s) {
            loaded.emplace_back(1);
            load_one(in, loaded.back());
        }
        size_type capacity = 0;
        for (const buffer_type& buffer : loaded) {
            capacity += buffer.capacity();
        }
        for (size_type s = 0; s < count; ++s) {
            if (loaded[s].capacity() != shard_capacity(capacity, count, s)) {
                throw checkpoint_error(
                    checkpoint_errc::invalid_value,
                    qualified("load") + ": shard " + std::to_string(s) + " has capacity " +
                        std::to_string(loaded[s].capacity()) + ", not " +
                        std::to_string(shard_capacity(capacity, count, s)) + " (" +
                        std::to_string(count) + " shards of " + std::to_string(capacity) +
                        " slots, as saved by a concurrent_replay with as many shards)");
            }
            if (!same_options(loaded[s].options(), loaded[0].options())) {
                throw checkpoint_error(checkpoint_errc::invalid_value,
                                       qualified("load") + ": shard " + std::to_string(s) +
                                           " has other options than shard 0");
            }
        }
        if (count > 1 && loaded[0].options().sampling() == sampling_mode::without_replacement) {
            // What the constructor refuses, a checkpoint cannot bring in (each shard was saved by
            // a one-shard buffer, say).
            throw checkpoint_error(
                checkpoint_errc::invalid_value,
                qualified("load") + ": sampling_mode::without_replacement with " +
                    std::to_string(count) + " shards (a sharded buffer samples with replacement)");
        }
        std::lock_guard<std::mutex> update_lock(m_update_mutex);
        size_type size = 0;
        {
            const all_shards_lock lock(*this);
            for (size_type s = 0; s < count; ++s) {
                m_shards[s]->buffer = std::move(loaded[s]);
                m_shards[s]->pushed.store(m_shards[s]->buffer.size(), std::memory_order_relaxed);
                size += m_shards[s]->buffer.size();
            }
            m_capacity.store(capacity, std::memory_order_relaxed);
            m_balance_slack.store(capacity / (16 * count) + 1, std::memory_order_relaxed);
            double maximum = 0.0;
            for (const auto& part : m_shards) {
                maximum = std::max(maximum, part->buffer.max_priority());
            }
            m_max_priority.store(maximum, std::memory_order_release);
            publish_settings(*m_shards.front());
            m_gate.restart(size);
        }
    }

    detail::rate_gate m_gate;
    std::vector<std::unique_ptr<shard>> m_shards;
    mutable std::mutex m_update_mutex; // update_priorities against set_alpha, clear, save, load
    std::atomic<size_type> m_capacity;
    std::atomic<double> m_max_priority{0.0};
    std::atomic<double> m_alpha{0.0};
    std::atomic<double> m_limit{0.0};
    std::atomic<size_type> m_balance_slack{1}; // shard push counts may differ by this + batch
};

} // namespace per

#endif // PER_CONCURRENT_REPLAY_HPP
