#ifndef PER_RATE_LIMIT_HPP
#define PER_RATE_LIMIT_HPP

/// @file
/// per::rate_limit and per::replay_status: how a concurrent replay paces its inserts and samples
/// (Reverb's rate limiters), and what a blocking call returns.

#include "detail/error.hpp"

#include <atomic>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <mutex>
#include <string>

namespace per {

/// What a blocking call of concurrent_replay (push, push_batch, sample) returns.
enum class replay_status {
    ok,        ///< done
    timed_out, ///< the rate limit did not admit the call before its timeout; nothing changed
    closed     ///< close() was called before the call was admitted; nothing changed
};

/// The timeout meaning "wait as long as it takes" (the default of every blocking call).
inline constexpr std::chrono::nanoseconds wait_forever = std::chrono::nanoseconds::max();

/// A rate limit in the manner of DeepMind Reverb's: it makes inserts (items pushed) and samples
/// (items drawn, batch_size per sample call) wait for each other, so that a learner does not
/// sample a nearly empty buffer and the ratio of samples to inserts stays where the experiment
/// wants it, however fast the actors and the learner run. Counting items, with
/// diff = inserts * samples_per_insert - samples:
///
/// - a sample of n items is admitted once min_size_to_sample items have been inserted and
///   diff - n >= min_diff (it would not run more than -min_diff samples ahead);
/// - an insert of n items is admitted while inserts + n <= min_size_to_sample (filling up is
///   free), or if (inserts + n) * samples_per_insert - samples <= max_diff.
///
/// A call that cannot be admitted now waits (up to its timeout). In the steady state (diff
/// within [min_diff, max_diff], where samples and inserts keep it once the buffer has filled
/// up) a sample of n can never be admitted if n > max_diff - min_diff, nor an insert of n if
/// n * samples_per_insert > max_diff - min_diff. Such calls throw std::invalid_argument
/// up front, even where the fill-up alone would have admitted them once or a few times (an
/// insert of 100 into an empty buffer with min_size_to_sample 1000, say): otherwise the same
/// call, repeated, works until the buffer fills and then waits forever. Choose
/// max_diff - min_diff >= sample batch + insert batch * samples_per_insert, or a sampler and an
/// inserter can each wait for the other (their timeouts, or close(), then end the wait).
///
/// The counts are 64-bit integers; the tests above compute diff in double (the product, then
/// the difference, each rounded), which keeps a ratio such as 1.0 / 3 meaning what it says:
/// three inserts admit one sample, although the double nearest 1/3 is a little below it
/// (tests/test_concurrent_replay.cpp checks 10,000 rounds; an fma, exact to that double, would
/// refuse the sample until a fourth insert). The counts convert to double exactly below 2^53
/// items (9e15: 285 years at a million items per second); beyond that admission may be off by
/// a few items in 10^16.
///
///     per::rate_limit::none()                          // no waiting (the default)
///     per::rate_limit::min_size(1000)                  // sample once 1000 items were inserted
///     per::rate_limit::sample_to_insert_ratio(8.0, 1000, 4096.0) // 8 samples per insert, +-4096
class rate_limit {
public:
    /// No limit: nothing ever waits (calls still end with replay_status::closed after close()).
    static rate_limit none() noexcept { return rate_limit(); }

    /// Samples wait until `min_size_to_sample` items have been inserted; nothing else waits.
    /// Throws std::invalid_argument if min_size_to_sample is 0.
    static rate_limit min_size(std::size_t min_size_to_sample) {
        check_min_size("per::rate_limit::min_size", min_size_to_sample);
        const double infinity = std::numeric_limits<double>::infinity();
        return rate_limit(1.0, min_size_to_sample, -infinity, infinity);
    }

    /// Reverb's SampleToInsertRatio: after min_size_to_sample inserts, diff is kept within
    /// error_buffer of its value at that point, samples_per_insert * min_size_to_sample. Throws
    /// std::invalid_argument if samples_per_insert is not positive and finite, min_size_to_sample
    /// is 0, or error_buffer is negative or not finite.
    static rate_limit sample_to_insert_ratio(double samples_per_insert,
                                             std::size_t min_size_to_sample, double error_buffer) {
        const char* where = "per::rate_limit::sample_to_insert_ratio";
        check_min_size(where, min_size_to_sample);
        if (!(std::isfinite(error_buffer) && error_buffer >= 0.0)) {
            detail::throw_invalid_argument(where, "error_buffer", error_buffer,
                                           "must be finite and >= 0");
        }
        check_ratio(where, samples_per_insert);
        const double offset = samples_per_insert * static_cast<double>(min_size_to_sample);
        return rate_limit(samples_per_insert, min_size_to_sample, offset - error_buffer,
                          offset + error_buffer);
    }

    /// The general form (Reverb's RateLimiter). Throws std::invalid_argument naming the argument
    /// if samples_per_insert is not positive and finite, a bound is NaN, min_diff > max_diff,
    /// min_diff is +infinity (no sample could ever be admitted) or max_diff is -infinity (no
    /// insert past the fill-up could).
    rate_limit(double samples_per_insert, std::size_t min_size_to_sample, double min_diff,
               double max_diff)
        : m_samples_per_insert(samples_per_insert)
        , m_min_size(min_size_to_sample)
        , m_min_diff(min_diff)
        , m_max_diff(max_diff)
        , m_limited(true) {
        const char* where = "per::rate_limit";
        check_ratio(where, samples_per_insert);
        if (std::isnan(min_diff)) {
            detail::throw_invalid_argument(where, "min_diff", min_diff, "must not be NaN");
        }
        if (std::isnan(max_diff)) {
            detail::throw_invalid_argument(where, "max_diff", max_diff, "must not be NaN");
        }
        if (min_diff == std::numeric_limits<double>::infinity()) {
            detail::throw_invalid_argument(where, "min_diff", min_diff,
                                           "must be < infinity: no sample could be admitted");
        }
        if (max_diff == -std::numeric_limits<double>::infinity()) {
            detail::throw_invalid_argument(where, "max_diff", max_diff,
                                           "must be > -infinity: no insert past the fill-up "
                                           "could be admitted");
        }
        if (min_diff > max_diff) {
            detail::throw_invalid_argument(where, "min_diff", min_diff,
                                           "must be <= max_diff = " +
                                               detail::format_value(max_diff));
        }
    }

    /// Whether anything can wait (false only for none()).
    bool limited() const noexcept { return m_limited; }
    /// Samples per inserted item the limit aims at (1 for none() and min_size).
    double samples_per_insert() const noexcept { return m_samples_per_insert; }
    /// Inserts before the first sample is admitted.
    std::size_t min_size_to_sample() const noexcept { return m_min_size; }
    /// The lowest diff a sample may leave.
    double min_diff() const noexcept { return m_min_diff; }
    /// The highest diff an insert past min_size_to_sample may leave.
    double max_diff() const noexcept { return m_max_diff; }

private:
    rate_limit() noexcept = default;

    static void check_min_size(const char* where, std::size_t min_size) {
        if (min_size == 0) {
            detail::throw_invalid_argument(where, "min_size_to_sample", min_size, "must be > 0");
        }
    }
    static void check_ratio(const char* where, double samples_per_insert) {
        if (!(std::isfinite(samples_per_insert) && samples_per_insert > 0.0)) {
            detail::throw_invalid_argument(where, "samples_per_insert", samples_per_insert,
                                           "must be finite and > 0");
        }
    }

    double m_samples_per_insert = 1.0;
    std::size_t m_min_size = 0;
    double m_min_diff = -std::numeric_limits<double>::infinity();
    double m_max_diff = std::numeric_limits<double>::infinity();
    bool m_limited = false;
};

/// A consistent snapshot of a rate limiter's counters (concurrent_replay::rate_counts()).
/// Inserts and samples are counted in items, from construction or the last clear() or load().
/// An insert or sample is "admitted" when its wait ends and "completed" when its items are in
/// the buffer or drawn; the limit admits samples against completed inserts and inserts against
/// completed samples, so a call that fails after admission (and is taken back) never lets the
/// other side past the limit. A clear() or load() racing with other calls: a push whose items
/// it removes was counted before it, one whose items land after it is counted after it (inserts
/// complete under their shard's lock, which clear and load take), and a sample in flight is
/// left out of the restarted counts (it drew, at least in part, from what they replaced).
struct rate_counters {
    std::uint64_t inserts_admitted = 0;  ///< items whose insert was admitted
    std::uint64_t inserts_completed = 0; ///< items now stored (or overwritten since)
    std::uint64_t samples_admitted = 0;  ///< items whose sample was admitted
    std::uint64_t samples_completed = 0; ///< items drawn
};

namespace detail {

// The waiting room of a rate_limit: one mutex and two condition variables. Unlimited gates
// take no lock at all (close() still ends every later call).
class rate_gate {
public:
    explicit rate_gate(const rate_limit& limit)
        : m_limit(limit) {}

    const rate_limit& limit() const noexcept { return m_limit; }

    // Whether an insert of n items can ever be admitted (concurrent_replay throws if not).
    bool insert_admissible(std::size_t n) const noexcept {
        return !m_limit.limited() || static_cast<double>(n) * m_limit.samples_per_insert() <=
                                         m_limit.max_diff() - m_limit.min_diff();
    }
    // Whether a sample of n items can ever be admitted.
    bool sample_admissible(std::size_t n) const noexcept {
        return !m_limit.limited() ||
               static_cast<double>(n) <= m_limit.max_diff() - m_limit.min_diff();
    }

    replay_status admit_insert(std::size_t n, std::chrono::nanoseconds timeout) {
        if (!m_limit.limited()) {
            return closed_flag() ? replay_status::closed : replay_status::ok;
        }
        std::unique_lock<std::mutex> lock(m_mutex);
        const replay_status status =
            wait(lock, m_inserters, m_waiting_inserts, n, timeout, [&] { return can_insert(n); });
        if (status == replay_status::ok) {
            m_counts.inserts_admitted += n;
        }
        return status;
    }
    void complete_insert(std::size_t n) {
        if (m_limit.limited()) {
            bool wake = false;
            {
                std::lock_guard<std::mutex> lock(m_mutex);
                m_counts.inserts_completed += n;
                wake = m_waiting_samples.count > 0 && can_sample(m_waiting_samples.least);
            }
            if (wake) {
                m_samplers.notify_all();
            }
        }
    }
    void cancel_insert(std::size_t n) noexcept {
        if (m_limit.limited()) {
            bool wake = false;
            {
                std::lock_guard<std::mutex> lock(m_mutex);
                m_counts.inserts_admitted -= n;
                wake = m_waiting_inserts.count > 0 && can_insert(m_waiting_inserts.least);
            }
            if (wake) {
                m_inserters.notify_all();
            }
        }
    }

    // A sample admitted in one epoch (the counts between two restarts) completes or is
    // cancelled into that epoch only: a restart drops the samples in flight, as if they had
    // finished before it (they drew, at least in part, from what the clear or load replaced).
    replay_status admit_sample(std::size_t n, std::chrono::nanoseconds timeout,
                               std::uint64_t& epoch) {
        if (!m_limit.limited()) {
            return closed_flag() ? replay_status::closed : replay_status::ok;
        }
        std::unique_lock<std::mutex> lock(m_mutex);
        const replay_status status =
            wait(lock, m_samplers, m_waiting_samples, n, timeout, [&] { return can_sample(n); });
        if (status == replay_status::ok) {
            m_counts.samples_admitted += n;
            epoch = m_epoch;
        }
        return status;
    }
    void complete_sample(std::size_t n, std::uint64_t epoch) {
        if (m_limit.limited()) {
            bool wake = false;
            {
                std::lock_guard<std::mutex> lock(m_mutex);
                if (epoch != m_epoch) {
                    return;
                }
                m_counts.samples_completed += n;
                wake = m_waiting_inserts.count > 0 && can_insert(m_waiting_inserts.least);
            }
            if (wake) {
                m_inserters.notify_all();
            }
        }
    }
    void cancel_sample(std::size_t n, std::uint64_t epoch) noexcept {
        if (m_limit.limited()) {
            bool wake = false;
            {
                std::lock_guard<std::mutex> lock(m_mutex);
                if (epoch != m_epoch) {
                    return;
                }
                m_counts.samples_admitted -= n;
                wake = m_waiting_samples.count > 0 && can_sample(m_waiting_samples.least);
            }
            if (wake) {
                m_samplers.notify_all();
            }
        }
    }

    void close() {
        {
            std::lock_guard<std::mutex> lock(m_mutex); // a waiter checks it under the lock
            m_closed.store(true, std::memory_order_release);
        }
        m_inserters.notify_all();
        m_samplers.notify_all();
    }
    bool closed() const noexcept { return closed_flag(); }

    // Counts as if `size` items had just been inserted into an empty buffer and the samples had
    // kept diff at min_size_to_sample * samples_per_insert (clamped to the band): what clear()
    // (size 0) and a checkpoint load set. The caller holds every shard's lock, and inserts
    // complete under their shard's lock: an insert in flight has not stored its items yet, so
    // it stays admitted on top of these counts, and its completion (the items then present) or
    // cancellation balances. Samples in flight are dropped (a new epoch; see admit_sample).
    void restart(std::size_t size) {
        {
            std::lock_guard<std::mutex> lock(m_mutex);
            const std::uint64_t inserting = m_counts.inserts_admitted - m_counts.inserts_completed;
            std::uint64_t samples = 0;
            if (m_limit.limited() && size > m_limit.min_size_to_sample()) {
                double target = static_cast<double>(m_limit.min_size_to_sample()) *
                                m_limit.samples_per_insert();
                target = target < m_limit.min_diff() ? m_limit.min_diff() : target;
                target = target > m_limit.max_diff() ? m_limit.max_diff() : target;
                const double implied =
                    std::floor(static_cast<double>(size) * m_limit.samples_per_insert() - target);
                // From 2^63 on (a huge samples_per_insert) the count saturates: a cast beyond
                // 2^64 is undefined, and 2^63 leaves room to add a batch without wrapping.
                constexpr std::uint64_t most = std::uint64_t{1} << 63;
                samples = !(implied > 0.0) ? 0
                          : implied < static_cast<double>(most)
                              ? static_cast<std::uint64_t>(implied)
                              : most;
            }
            m_counts.inserts_completed = size;
            m_counts.inserts_admitted = size + inserting;
            m_counts.samples_completed = samples;
            m_counts.samples_admitted = samples;
            ++m_epoch;
        }
        m_inserters.notify_all();
        m_samplers.notify_all();
    }

    rate_counters counters() const {
        std::lock_guard<std::mutex> lock(m_mutex);
        return m_counts;
    }

private:
    bool closed_flag() const noexcept { return m_closed.load(std::memory_order_acquire); }

    bool can_insert(std::size_t n) const noexcept {
        const std::uint64_t after = m_counts.inserts_admitted + n;
        return after <= m_limit.min_size_to_sample() ||
               static_cast<double>(after) * m_limit.samples_per_insert() -
                       static_cast<double>(m_counts.samples_completed) <=
                   m_limit.max_diff();
    }
    bool can_sample(std::size_t n) const noexcept {
        return m_counts.inserts_completed >= m_limit.min_size_to_sample() &&
               static_cast<double>(m_counts.inserts_completed) * m_limit.samples_per_insert() -
                       static_cast<double>(m_counts.samples_admitted + n) >=
                   m_limit.min_diff();
    }

    // Who waits in one room: how many, and at most the smallest count any of them asks for (a
    // waiter that leaves does not raise it until the room is empty). A completion wakes the
    // room only if that count can now be admitted: otherwise no waiter can be (admission only
    // gets easier as the count shrinks), and waking them all on every completion would cost
    // each a futex round trip for nothing.
    struct waiting_room {
        std::size_t count = 0;
        std::size_t least = static_cast<std::size_t>(-1);
    };

    template <class Ready>
    replay_status wait(std::unique_lock<std::mutex>& lock, std::condition_variable& room,
                       waiting_room& waiting, std::size_t n, std::chrono::nanoseconds timeout,
                       Ready ready) {
        ++waiting.count;
        waiting.least = n < waiting.least ? n : waiting.least;
        const replay_status status = wait_in(lock, room, timeout, ready);
        if (--waiting.count == 0) {
            waiting.least = static_cast<std::size_t>(-1);
        }
        return status;
    }
    template <class Ready>
    replay_status wait_in(std::unique_lock<std::mutex>& lock, std::condition_variable& room,
                          std::chrono::nanoseconds timeout, Ready ready) {
        const auto done = [&] { return closed_flag() || ready(); };
        if (timeout == wait_forever) {
            room.wait(lock, done);
        } else if (timeout <= std::chrono::nanoseconds::zero()) {
            // no wait: answer now
        } else if (timeout >= std::chrono::hours(24 * 365 * 100)) {
            room.wait(lock, done); // beyond any steady_clock deadline: as good as forever
        } else {
            room.wait_until(lock, std::chrono::steady_clock::now() + timeout, done);
        }
        if (closed_flag()) {
            return replay_status::closed;
        }
        return ready() ? replay_status::ok : replay_status::timed_out;
    }

    rate_limit m_limit;
    mutable std::mutex m_mutex;
    std::condition_variable m_inserters;
    std::condition_variable m_samplers;
    rate_counters m_counts;
    std::uint64_t m_epoch = 0; // restarts so far (samples complete into their own epoch)
    waiting_room m_waiting_inserts;
    waiting_room m_waiting_samples;
    std::atomic<bool> m_closed{false};
};

} // namespace detail
} // namespace per

#endif // PER_RATE_LIMIT_HPP
