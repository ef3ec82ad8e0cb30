#ifndef PER_SEQUENCE_HPP
#define PER_SEQUENCE_HPP

/// @file
/// Prioritized sequence replay as R2D2 uses it (Kapturowski et al. 2019): sequence_writer<Step>
/// cuts the episodes of E parallel environments into overlapping fixed-length sequences with a
/// burn-in prefix; sequence_priority mixes a sequence's TD errors into its priority.
/// Opt-in: per.hpp does not include this header.

#include "detail/env_checks.hpp"
#include "detail/error.hpp"

#include <cmath>
#include <cstddef>
#include <iterator>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

namespace per {

/// One sequence of one environment's episode, as sequence_writer hands it to its sink. Its shape
/// is fixed whatever the episode (burn_in has the writer's burn_in() entries, steps its length()
/// entries), so a batch of sequences stacks into tensors. Entries that are no real step hold the
/// writer's padding (Step{} unless given: zeros for arithmetic and aggregate steps); mask them:
///   - steps[0 .. valid_steps) are the episode's steps start, start + 1, ...; the padding is at
///     the back. valid_steps < length() happens only in the last sequence of an episode.
///   - burn_in[burn_in.size() - valid_burn_in ..) are the valid_burn_in steps right before
///     steps[0] (steps start - valid_burn_in .. start - 1, oldest first); the padding is at the
///     front, so the burn-in always ends next to the sequence. valid_burn_in =
///     min(burn_in(), start): 0 in an episode's first sequence, fewer than burn_in() near its
///     start, never steps of another episode.
template <class Step>
struct sequence {
    std::vector<Step> burn_in;     ///< burn_in() entries: padding, then the valid burn-in steps.
    std::vector<Step> steps;       ///< length() entries: the valid steps, then padding.
    std::size_t valid_burn_in = 0; ///< The real steps at the back of burn_in.
    std::size_t valid_steps = 0;   ///< The real steps at the front of steps, in [1, length()].
    bool episode_ended = false;    ///< steps[valid_steps - 1] is the last step of its episode.
    std::size_t env = 0;           ///< The environment the sequence comes from, < num_envs().
    std::size_t start = 0;         ///< Episode-relative index of steps[0], a multiple of stride().
};

/// Cuts the episodes of E parallel environments (a vectorized env) into R2D2's sequences:
///
///     per::sequence_writer<Step> writer(num_envs, 80, 40, 40); // length, overlap, burn-in
///     auto sink = [&](const per::sequence<Step>& s) { buffer.push(s, priority_of(s)); };
///     writer.add(env, step, sink);         // one step of one env
///     writer.end_episode(env, sink);       // after the last step of env's episode
///     writer.add_all(steps, dones, sink);  // or one step of every env, ending where done
///
/// Cutting: with stride = length - overlap (>= 1), an episode of T steps 0 .. T-1 gives the
/// sequences starting at 0, stride, 2 stride, ..., K stride, K the smallest k with
/// k stride + length >= T: the first start whose sequence holds the last step. All but the last
/// are full (length steps; consecutive ones share overlap steps, none for overlap 0); the last
/// one holds steps K stride .. T-1 (valid_steps = T - K stride, padded up to length) and is the
/// only one with episode_ended. So every step is in at least one sequence and nothing crosses
/// an episode: an episode shorter than length gives one short sequence; one of length
/// k stride + length ends on a full sequence; otherwise the last stride does not align and the
/// final sequence, a stride after the one before, is shorter (it is not shifted back to end at
/// T, which would count already emitted steps as real again and leave the start grid). An
/// empty episode (end_episode with no step since the last) gives nothing.
///
/// When sequences come out: a full one when the next step of its episode is added (only then is
/// it known not to be the episode's last), the last one at end_episode (or flush). Order: calls
/// in the order made, within an env by start; add_all emits what add(env, steps[env]) and, if
/// episode_ends[env], end_episode(env) emit, for env = 0, 1, ..., E-1 in turn.
///
/// The sink is any callable as sink(const sequence<Step>&). The reference is to the writer's
/// scratch sequence, valid during the call only (its Steps are copy-assigned, so vector-like
/// Steps keep their storage across emissions); the sink must not call non-const members.
///
/// Step: copy-constructible and copy-assignable. Storage, allocated at construction: one ring of
/// burn_in + length + 1 Steps per env (the extra slot takes the step that shows a full sequence
/// is not the episode's last before that sequence is emitted) and the scratch sequence. add
/// copies its step once and an emission copy-assigns the scratch's burn_in + length entries;
/// nothing else allocates. Copyable; a moved-from writer has num_envs() 0 until assigned to.
///
/// Exceptions: bad arguments throw std::invalid_argument / std::out_of_range naming the argument
/// and its value before anything changes, and so does (strong guarantee) a throwing Step copy
/// while a step is recorded. If the sink, or a Step copy into the scratch for it, throws, the
/// exception propagates and the writer is exactly as after a successful call (every env's
/// episode advanced, ended or reset as usual): the sink has had a prefix of the emission order,
/// the sequence it threw on included, and the call's other sequences are dropped.
template <class Step>
class sequence_writer {
    static_assert(std::is_copy_constructible_v<Step> && std::is_copy_assignable_v<Step>,
                  "per::sequence_writer: Step must be copy-constructible and copy-assignable");

public:
    /// What the sink receives.
    using sequence_type = sequence<Step>;
    /// Env indices, counts and step numbers.
    using size_type = std::size_t;
    /// The longest sequence accepted (R2D2: 80). Beyond it a sequence is an episode in all but
    /// name, and the O(burn_in + length) copies per emission only cost.
    static constexpr size_type max_length = 65536;
    /// The longest burn-in accepted (R2D2: 40), for the same reason.
    static constexpr size_type max_burn_in = 65536;

    /// O(num_envs * (burn_in + length)). A writer for `num_envs` environments cutting sequences
    /// of `length` steps, consecutive ones sharing `overlap` steps, each with `burn_in` steps
    /// before it; `padding` fills the entries that are no real step. Throws
    /// std::invalid_argument if num_envs is 0, length is not in [1, max_length], overlap is not
    /// < length or burn_in is > max_burn_in, std::length_error if the rings cannot be
    /// allocated, and what allocating or copying the Steps throws.
    sequence_writer(size_type num_envs, size_type length, size_type overlap, size_type burn_in,
                    const Step& padding = Step{})
        : m_length(checked_length(num_envs, length, overlap, burn_in))
        , m_overlap(overlap)
        , m_burn_in(burn_in)
        , m_ring(burn_in + length + 1)
        , m_episodes(num_envs)
        , m_steps(num_envs * m_ring, padding)
        , m_padding(padding) {
        m_scratch.burn_in.assign(burn_in, padding);
        m_scratch.steps.assign(length, padding);
    }

    /// O(1) plus one Step copy; O(burn_in + length) copies when it emits. Appends a step to
    /// env's episode and emits the full sequence it shows not to be the episode's last, if any
    /// (at most one). Throws std::out_of_range if env >= num_envs().
    template <class Sink>
    void add(size_type env, const Step& step, Sink&& sink) {
        check_sink<Sink>();
        detail::check_env("per::sequence_writer::add", env, num_envs());
        record(env, step);
        ++m_episodes[env].steps;
        emit_full(env, sink);
    }

    /// O(E) plus the copies. One step of every env: steps and episode_ends are ranges of
    /// num_envs() values with std::size and operator[] (std::vector, std::vector<bool>,
    /// std::array, C arrays, std::span); steps' elements are assigned to a Step, episode_ends'
    /// converted to bool (float and integer dones work, each exactly 0 or 1). A true
    /// episode_ends[env] means steps[env] is the last of its episode: as add then end_episode
    /// (class comment for the order). Throws std::invalid_argument, before anything changes, if
    /// a size is not num_envs() ("steps.size() = 2 must equal num_envs() = 3") or a numeric
    /// flag is not 0 or 1 ("episode_ends[0] = 0.5 must be 0 or 1"). A throwing Step copy while
    /// recording changes nothing.
    template <class Steps, class EpisodeEnds, class Sink>
    void add_all(const Steps& steps, const EpisodeEnds& episode_ends, Sink&& sink) {
        static constexpr const char* where = "per::sequence_writer::add_all";
        check_sink<Sink>();
        detail::check_env_count(where, "steps.size()", std::size(steps), num_envs());
        detail::check_env_count(where, "episode_ends.size()", std::size(episode_ends), num_envs());
        detail::check_env_flags(where, "episode_ends", episode_ends, num_envs());
        for (size_type env = 0; env < num_envs(); ++env) {
            record(env, steps[env]);
        }
        for (episode& e : m_episodes) {
            ++e.steps; // commit: from here on, a throw leaves the state of a successful call
        }
        size_type env = 0;
        try {
            for (; env < num_envs(); ++env) {
                emit_full(env, sink);
                if (static_cast<bool>(episode_ends[env])) {
                    finish(env, true, sink);
                }
            }
        } catch (...) {
            for (; env < num_envs(); ++env) {
                if (m_episodes[env].steps == m_episodes[env].start + m_length + 1) {
                    m_episodes[env].start += stride();
                }
                if (static_cast<bool>(episode_ends[env])) {
                    m_episodes[env] = episode{};
                }
            }
            throw;
        }
    }

    /// O(burn_in + length) copies. The last added step of env was the last of its episode:
    /// emits the episode's last sequence (episode_ended = true; nothing if no step was added
    /// since the episode began) and starts a new episode, whose first step has index 0 and no
    /// burn-in. Throws std::out_of_range if env >= num_envs(); a throwing sink leaves the new
    /// episode begun.
    template <class Sink>
    void end_episode(size_type env, Sink&& sink) {
        check_sink<Sink>();
        detail::check_env("per::sequence_writer::end_episode", env, num_envs());
        finish(env, true, sink);
    }

    /// As end_episode, but the sequence has episode_ended = false: for when collection stops
    /// mid-episode (or the episode was truncated and the caller wants it marked so), so that no
    /// step is lost. reset(env), in contrast, drops the steps not emitted yet.
    template <class Sink>
    void flush(size_type env, Sink&& sink) {
        check_sink<Sink>();
        detail::check_env("per::sequence_writer::flush", env, num_envs());
        finish(env, false, sink);
    }

    /// flush(env, sink) for env 0, ..., num_envs() - 1; a throwing sink leaves every env at the
    /// start of a new episode.
    template <class Sink>
    void flush_all(Sink&& sink) {
        check_sink<Sink>();
        size_type env = 0;
        try {
            for (; env < num_envs(); ++env) {
                finish(env, false, sink);
            }
        } catch (...) {
            for (; env < num_envs(); ++env) {
                m_episodes[env] = episode{};
            }
            throw;
        }
    }

    /// O(1). Drops env's current episode unemitted (the full sequence held back included); its
    /// next step begins a new episode. Throws std::out_of_range if env >= num_envs().
    void reset(size_type env) {
        detail::check_env("per::sequence_writer::reset", env, num_envs());
        m_episodes[env] = episode{};
    }

    /// O(E). reset(env) for every env.
    void reset_all() noexcept {
        for (episode& e : m_episodes) {
            e = episode{};
        }
    }

    /// O(1). The number of steps of env's current episode added so far (the episode-relative
    /// index of its next step). Throws std::out_of_range if env >= num_envs().
    size_type episode_steps(size_type env) const {
        detail::check_env("per::sequence_writer::episode_steps", env, num_envs());
        return m_episodes[env].steps;
    }
    /// O(1). The start of env's next sequence (a multiple of stride()); the steps from it on
    /// are not emitted yet, at most length() of them between calls. Throws std::out_of_range if
    /// env >= num_envs().
    size_type next_start(size_type env) const {
        detail::check_env("per::sequence_writer::next_start", env, num_envs());
        return m_episodes[env].start;
    }

    /// The number of environments E.
    size_type num_envs() const noexcept { return m_episodes.size(); }
    /// The steps of a sequence.
    size_type length() const noexcept { return m_length; }
    /// The steps consecutive sequences of an episode share.
    size_type overlap() const noexcept { return m_overlap; }
    /// length() - overlap(): the distance between consecutive starts, >= 1.
    size_type stride() const noexcept { return m_length - m_overlap; }
    /// The burn-in steps before each sequence (fewer valid near an episode's start).
    size_type burn_in() const noexcept { return m_burn_in; }
    /// What fills the entries that are no real step.
    const Step& padding() const noexcept { return m_padding; }

private:
    /// An env's current episode: `steps` added; the steps from max(start - burn_in, 0) on are in
    /// the ring, step i at slot i mod ring. Between calls steps <= start + length.
    struct episode {
        size_type steps = 0;
        size_type start = 0;
    };

    /// Validates the constructor's arguments, in their order; returns length.
    static size_type checked_length(size_type num_envs, size_type length, size_type overlap,
                                    size_type burn_in) {
        static constexpr const char* where = "per::sequence_writer";
        if (num_envs == 0) {
            detail::throw_invalid_argument(where, "num_envs", num_envs, "must be >= 1");
        }
        if (length == 0 || length > max_length) {
            detail::throw_invalid_argument(where, "length", length,
                                           "must be in [1, " + std::to_string(max_length) + "]");
        }
        if (overlap >= length) {
            detail::throw_invalid_argument(where, "overlap", overlap,
                                           "must be < length = " + std::to_string(length));
        }
        if (burn_in > max_burn_in) {
            detail::throw_invalid_argument(where, "burn_in", burn_in,
                                           "must be <= " + std::to_string(max_burn_in));
        }
        const size_type ring = burn_in + length + 1;
        const size_type max_envs = std::vector<Step>().max_size() / ring;
        if (num_envs > max_envs) {
            throw std::length_error(detail::describe(where, "num_envs", num_envs,
                                                     "must be <= " + std::to_string(max_envs) +
                                                         " for a ring of " + std::to_string(ring) +
                                                         " steps (burn_in + length + 1)"));
        }
        return length;
    }

    template <class Sink>
    static constexpr void check_sink() noexcept {
        static_assert(std::is_invocable_v<Sink&, const sequence_type&>,
                      "per::sequence_writer: the sink must be callable as "
                      "sink(const per::sequence<Step>&)");
    }

    Step& at(size_type env, size_type index) noexcept {
        return m_steps[env * m_ring + index % m_ring];
    }

    /// Writes env's next step into its free slot (the ring holds at most burn_in + length steps
    /// between calls), which no observer sees until steps is incremented: a throwing copy
    /// changes nothing.
    template <class Value>
    void record(size_type env, const Value& step) {
        at(env, m_episodes[env].steps) = step;
    }

    /// Emits env's next sequence if it is full and not the episode's last (a step follows it).
    template <class Sink>
    void emit_full(size_type env, Sink& sink) {
        episode& e = m_episodes[env];
        if (e.steps == e.start + m_length + 1) {
            const size_type start = e.start;
            e.start += stride(); // commit first; the ring keeps the steps until the next record
            emit(env, start, m_length, false, sink);
        }
    }

    /// Emits env's last sequence, if it has steps, and begins a new episode.
    template <class Sink>
    void finish(size_type env, bool ended, Sink& sink) {
        const episode e = m_episodes[env];
        m_episodes[env] = episode{}; // commit first; the ring keeps the steps
        if (e.steps > e.start) {
            emit(env, e.start, e.steps - e.start, ended, sink);
        }
    }

    /// Fills the scratch with env's sequence at `start` and hands it to the sink.
    template <class Sink>
    void emit(size_type env, size_type start, size_type valid_steps, bool ended, Sink& sink) {
        const size_type valid_burn_in = start < m_burn_in ? start : m_burn_in;
        const size_type padded = m_burn_in - valid_burn_in;
        for (size_type k = 0; k < m_burn_in; ++k) {
            m_scratch.burn_in[k] = k < padded ? m_padding : at(env, start + k - m_burn_in);
        }
        for (size_type k = 0; k < m_length; ++k) {
            m_scratch.steps[k] = k < valid_steps ? at(env, start + k) : m_padding;
        }
        m_scratch.valid_burn_in = valid_burn_in;
        m_scratch.valid_steps = valid_steps;
        m_scratch.episode_ended = ended;
        m_scratch.env = env;
        m_scratch.start = start;
        sink(std::as_const(m_scratch));
    }

    size_type m_length;
    size_type m_overlap;
    size_type m_burn_in;
    size_type m_ring;                // steps per env ring: burn_in + length + 1
    std::vector<episode> m_episodes; // one per env
    std::vector<Step> m_steps;       // env e's ring is [e * m_ring, (e + 1) * m_ring)
    Step m_padding;
    sequence_type m_scratch; // what the sink receives
};

namespace detail {

/// sequence_priority over [first, last); `name` names the k-th element in messages.
template <class InputIt>
double sequence_priority(InputIt first, InputIt last, double eta, const char* name,
                         const char* size_name) {
    static constexpr const char* where = "per::sequence_priority";
    if (!(eta >= 0.0 && eta <= 1.0)) {
        throw_invalid_argument(where, "eta", eta, "must be in [0, 1]");
    }
    if (first == last) {
        throw_invalid_argument(where, size_name, 0, "must be >= 1 (a sequence's TD errors)");
    }
    double max = 0.0;
    double sum = 0.0;
    std::size_t count = 0;
    for (; first != last; ++first, ++count) {
        const double delta = static_cast<double>(*first);
        if (!std::isfinite(delta)) {
            throw_invalid_argument(where,
                                   (std::string(name) + "[" + std::to_string(count) + "]").c_str(),
                                   delta, "must be finite");
        }
        const double magnitude = std::fabs(delta);
        sum += magnitude;
        max = magnitude > max ? magnitude : max;
    }
    const double mean = sum / static_cast<double>(count);
    return eta * max + (1.0 - eta) * mean;
}

} // namespace detail

/// O(n). R2D2's priority of a sequence from its n TD errors delta_0 .. delta_{n-1}, in order:
///     p = eta * max_i |delta_i| + (1 - eta) * mean_i |delta_i|
/// (R2D2: eta = 0.9; eta = 1 gives the max, eta = 0 the mean). Pass the errors of the valid
/// steps only (the first valid_steps of a sequence): padding would pull the mean down.
///
/// Exact order, in double: each delta is converted to double, a_i = |delta_i|; sum = ((a_0 +
/// a_1) + a_2) + ... left to right; max the largest a_i; mean = sum / double(n); p = (eta *
/// max) + ((1.0 - eta) * mean), the products rounded separately (no fused multiply-add, as
/// under -std=c++17 by default). A loop in the same order gives the same bits. For |delta| near
/// DBL_MAX the sum can overflow to inf, and so does p.
///
/// Throws std::invalid_argument if eta is not in [0, 1] (NaN included), the range is empty, or
/// a delta is not finite after conversion ("first[3] = nan must be finite"; its position from
/// the start). One pass: [first, last) may be an input range. Nothing else to change.
template <class InputIt>
double sequence_priority(InputIt first, InputIt last, double eta = 0.9) {
    return detail::sequence_priority(first, last, eta, "first", "std::distance(first, last)");
}

/// As above for a range with std::begin and std::end (std::vector, std::array, C arrays,
/// std::span); the messages name deltas[k] and deltas.size().
template <class Range,
          std::enable_if_t<!std::is_pointer_v<Range> && !std::is_arithmetic_v<Range>, int> = 0>
double sequence_priority(const Range& deltas, double eta = 0.9) {
    return detail::sequence_priority(std::begin(deltas), std::end(deltas), eta, "deltas",
                                     "deltas.size()");
}

} // namespace per

#endif // PER_SEQUENCE_HPP
