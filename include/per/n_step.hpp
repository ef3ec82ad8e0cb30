#ifndef PER_N_STEP_HPP
#define PER_N_STEP_HPP

/// @file
/// n_step_writer<Obs, Act>: n-step transitions from E parallel environments, handed to any sink.
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

/// One n-step transition of one environment, as n_step_writer hands it to its sink. With
/// m = steps, the TD target is reward + discount * max_a Q(next_observation, a).
template <class Obs, class Act>
struct n_step_transition {
    Obs observation{};       ///< s_t, the observation the action was taken in.
    Act action{};            ///< a_t.
    double reward = 0.0;     ///< R = r_t + gamma (r_{t+1} + gamma (... + gamma r_{t+m-1})).
    Obs next_observation{};  ///< s_{t+m}, the observation after the m-th step.
    double discount = 0.0;   ///< gamma^m, or 0 if the m-th step terminated the episode.
    std::size_t steps = 0;   ///< m, the number of rewards summed: n, or 1..n-1 at an episode end.
    bool terminated = false; ///< The m-th step terminated the episode: no bootstrap.
    bool truncated = false;  ///< The m-th step was truncated (time limit or flush): bootstraps.
    std::size_t env = 0;     ///< The environment the transition comes from, < num_envs().
};

/// Turns the steps of E parallel environments (a vectorized env) into n-step transitions:
///
///     per::n_step_writer<Obs, Act> writer(num_envs, 3, 0.99);
///     auto sink = [&](const per::n_step_transition<Obs, Act>& t) { buffer.push(t); };
///     writer.step(observations, actions, rewards, terminated, truncated, next_observations, sink);
///     writer.flush_all(sink); // when collection stops
///
/// Each env has a window of its pending steps (at most n - 1 between calls). A step that makes
/// the window n long emits the oldest start's transition (m = n). A step that ends the episode
/// (terminated or truncated) emits every pending start with its shorter tail (m = steps to the
/// end) and empties the window: the env's next step begins a new episode, nothing crosses the
/// boundary. n = 1 gives plain transitions (s, a, r, s', gamma or 0), one per step.
/// Termination does not bootstrap (discount 0), truncation does (gamma^m). A step both
/// terminated and truncated (Gymnasium allows it) counts as terminated: discount 0, flags
/// terminated = true, truncated = false (at most one flag is ever set).
///
/// Emission order: calls in the order made; within a call env 0, 1, ..., E-1; within an env
/// the oldest start first (m decreasing). A transition comes out in the call of its m-th step
/// or of the flush; a batched step emits exactly what per-env steps for env 0..E-1 would.
///
/// Exactness: R is Horner's scheme from the last reward back, R = r_t + gamma * (r_{t+1} +
/// gamma * (... + gamma * r_{t+m-1})), the innermost term being r_{t+m-1} itself; gamma^m is
/// the product ((gamma * gamma) * gamma) ... of m factors. A brute-force sum in the same order
/// gives the same bits.
///
/// The sink is any callable as sink(const n_step_transition<Obs, Act>&): a lambda pushing into
/// a replay buffer, or converting to the user's own type. The reference is to the writer's
/// scratch transition, valid during the call only (its Obs are copy-assigned, so a vector-like
/// Obs keeps its storage across emissions). The sink must not call non-const members.
///
/// Obs and Act: default-constructible and copy-assignable (copy-constructible to copy the
/// writer). Storage: num_envs * n entries (observation, action, reward, next observation)
/// allocated at construction; steps allocate only what copying an Obs or Act allocates.
/// Copyable; a moved-from writer has num_envs() 0 until assigned to.
///
/// Exceptions: bad arguments throw std::invalid_argument / std::out_of_range naming the argument
/// and its value before anything changes, and so does (strong guarantee) a throwing Obs or Act
/// copy while the step is recorded. If the sink, or an Obs or Act copy into the transition for
/// it, throws, the exception propagates and the writer is exactly as after a successful call
/// (every window advanced or emptied as usual): the sink has had a prefix of the emission order,
/// the one it threw on included, and the call's other transitions are dropped.
template <class Obs, class Act>
class n_step_writer {
    static_assert(std::is_default_constructible_v<Obs> && std::is_copy_assignable_v<Obs> &&
                      std::is_default_constructible_v<Act> && std::is_copy_assignable_v<Act>,
                  "per::n_step_writer: Obs and Act must be default-constructible and "
                  "copy-assignable");

public:
    /// What the sink receives.
    using transition_type = n_step_transition<Obs, Act>;
    /// Env indices, counts and step numbers.
    using size_type = std::size_t;
    /// The largest n accepted: beyond it an n-step return is a Monte Carlo return in all but
    /// name, and the O(n) work per transition and num_envs * n entries only cost.
    static constexpr size_type max_n = 1024;

    /// O(num_envs * n). A writer for `num_envs` environments, n-step returns with discount
    /// `gamma` per step, every window empty. Throws std::invalid_argument if num_envs is 0, n is
    /// not in [1, max_n] or gamma is not in [0, 1] (NaN included), std::length_error if
    /// num_envs * n entries cannot be allocated, and what allocating or constructing them throws.
    n_step_writer(size_type num_envs, size_type n, double gamma)
        : m_n(checked_n(num_envs, n, gamma))
        , m_gamma(gamma)
        , m_windows(num_envs)
        , m_entries(num_envs * n)
        , m_powers(n + 1, 1.0) {
        for (size_type m = 1; m <= n; ++m) {
            m_powers[m] = m_powers[m - 1] * gamma;
        }
    }

    /// O(E n) for E = num_envs(), plus two Obs and an Act copy per env and per transition.
    /// Records one step of every env, then emits what became complete (class comment). Each
    /// argument is a range of num_envs() values with std::size and operator[] (std::vector,
    /// std::vector<bool>, std::array, C arrays, std::span); observations' elements are assigned
    /// to an Obs, actions' to an Act, rewards' converted to double, terminated's and
    /// truncated's to bool (so float and integer dones work, each exactly 0 or 1). Throws
    /// std::invalid_argument, before anything changes, if a size is not num_envs()
    /// ("rewards.size() = 2 must equal num_envs() = 3"), a numeric done flag is not 0 or 1
    /// ("terminated[1] = 0.5 must be 0 or 1": a mix-up of ranges, not a flag), or a reward is
    /// not finite ("rewards[1] = nan must be finite"): NaN or inf would poison every return of
    /// its window.
    /// Finite rewards whose discounted sum exceeds double's range (|r| near 1e308) still give
    /// a return of +-inf, which per::dqn::td_loss then rejects as a reward that is not finite.
    template <class Observations, class Actions, class Rewards, class Terminated, class Truncated,
              class NextObservations, class Sink>
    void step(const Observations& observations, const Actions& actions, const Rewards& rewards,
              const Terminated& terminated, const Truncated& truncated,
              const NextObservations& next_observations, Sink&& sink) {
        static constexpr const char* where = "per::n_step_writer::step";
        check_sink<Sink>();
        detail::check_env_count(where, "observations.size()", std::size(observations), num_envs());
        detail::check_env_count(where, "actions.size()", std::size(actions), num_envs());
        detail::check_env_count(where, "rewards.size()", std::size(rewards), num_envs());
        detail::check_env_count(where, "terminated.size()", std::size(terminated), num_envs());
        detail::check_env_count(where, "truncated.size()", std::size(truncated), num_envs());
        detail::check_env_count(where, "next_observations.size()", std::size(next_observations),
                                num_envs());
        detail::check_env_flags(where, "terminated", terminated, num_envs());
        detail::check_env_flags(where, "truncated", truncated, num_envs());
        for (size_type env = 0; env < num_envs(); ++env) {
            const double reward = static_cast<double>(rewards[env]);
            if (!std::isfinite(reward)) {
                detail::throw_invalid_argument(where,
                                               ("rewards[" + std::to_string(env) + "]").c_str(),
                                               reward, "must be finite");
            }
        }
        for (size_type env = 0; env < num_envs(); ++env) {
            record(env, observations[env], actions[env], static_cast<double>(rewards[env]),
                   next_observations[env]);
        }
        for (window& w : m_windows) {
            ++w.count; // commit: from here on, a throw leaves the state of a successful call
        }
        emit_ready(0, num_envs(), sink, [&](size_type env) {
            return outcome(static_cast<bool>(terminated[env]), static_cast<bool>(truncated[env]));
        });
    }

    /// O(n) plus the copies. The step of one env, for envs stepping at their own pace (async
    /// vector envs); semantics and guarantees as the batched step. Throws std::out_of_range if
    /// env >= num_envs(), std::invalid_argument if the reward is not finite ("reward = inf must
    /// be finite (env 2)").
    template <class Sink>
    void step(size_type env, const Obs& observation, const Act& action, double reward,
              bool terminated, bool truncated, const Obs& next_observation, Sink&& sink) {
        static constexpr const char* where = "per::n_step_writer::step";
        check_sink<Sink>();
        detail::check_env(where, env, num_envs());
        if (!std::isfinite(reward)) {
            detail::throw_invalid_argument(where, "reward", reward,
                                           "must be finite (env " + std::to_string(env) + ")");
        }
        record(env, observation, action, reward, next_observation);
        ++m_windows[env].count;
        emit_ready(env, env + 1, sink, [&](size_type) { return outcome(terminated, truncated); });
    }

    /// O(n) plus the copies. Emits env's pending starts, oldest first, as if its last step had
    /// been truncated (truncated = true, discount gamma^m, bootstrapping from the last next
    /// observation) and empties the window: for when collection stops mid-episode, so that no
    /// step is lost. If stepping goes on, later starts get full windows again. reset(env), in
    /// contrast, drops the pending steps. Throws std::out_of_range if env >= num_envs(); a
    /// throwing sink leaves the window empty.
    template <class Sink>
    void flush(size_type env, Sink&& sink) {
        check_sink<Sink>();
        detail::check_env("per::n_step_writer::flush", env, num_envs());
        emit_ready(env, env + 1, sink, [](size_type) { return outcome(false, true); });
    }

    /// flush(env, sink) for env 0, ..., num_envs() - 1; a throwing sink leaves all windows empty.
    template <class Sink>
    void flush_all(Sink&& sink) {
        check_sink<Sink>();
        emit_ready(0, num_envs(), sink, [](size_type) { return outcome(false, true); });
    }

    /// O(1). Drops env's pending steps unemitted; its next step starts a fresh window. For an
    /// abandoned episode (the env reset by hand, bad data); flush keeps them as truncated.
    /// Throws std::out_of_range if env >= num_envs().
    void reset(size_type env) {
        detail::check_env("per::n_step_writer::reset", env, num_envs());
        m_windows[env].count = 0;
    }

    /// O(E). reset(env) for every env.
    void reset_all() noexcept {
        for (window& w : m_windows) {
            w.count = 0;
        }
    }

    /// O(1). The number of env's steps whose transitions are not emitted yet, in [0, n - 1]
    /// between calls. Throws std::out_of_range if env >= num_envs().
    size_type pending(size_type env) const {
        detail::check_env("per::n_step_writer::pending", env, num_envs());
        return m_windows[env].count;
    }

    /// The number of environments E.
    size_type num_envs() const noexcept { return m_windows.size(); }
    /// The n of the n-step returns: the longest window.
    size_type n() const noexcept { return m_n; }
    /// The discount per step.
    double gamma() const noexcept { return m_gamma; }

private:
    /// One recorded step, plus (scratch of emit) the return from it to the window's end.
    struct entry {
        Obs observation{};
        Act action{};
        double reward = 0.0;
        Obs next_observation{};
        double tail_return = 0.0;
    };
    /// An env's window: entries head, head + 1, ... (mod n) of its ring, `count` of them.
    struct window {
        size_type head = 0;
        size_type count = 0;
    };
    struct ending {
        bool terminated, truncated;
    };
    /// How a step ended, normalized: terminated wins, at most one flag is set.
    static ending outcome(bool terminated, bool truncated) noexcept {
        return {terminated, truncated && !terminated};
    }

    /// Validates the constructor's arguments, in their order; returns n.
    static size_type checked_n(size_type num_envs, size_type n, double gamma) {
        static constexpr const char* where = "per::n_step_writer";
        if (num_envs == 0) {
            detail::throw_invalid_argument(where, "num_envs", num_envs, "must be >= 1");
        }
        if (n == 0 || n > max_n) {
            detail::throw_invalid_argument(where, "n", n,
                                           "must be in [1, " + std::to_string(max_n) + "]");
        }
        if (!(gamma >= 0.0 && gamma <= 1.0)) {
            detail::throw_invalid_argument(where, "gamma", gamma, "must be in [0, 1]");
        }
        const size_type max_envs = std::vector<entry>().max_size() / n;
        if (num_envs > max_envs) {
            throw std::length_error(detail::describe(where, "num_envs", num_envs,
                                                     "must be <= " + std::to_string(max_envs) +
                                                         " for n = " + std::to_string(n)));
        }
        return n;
    }

    template <class Sink>
    static constexpr void check_sink() noexcept {
        static_assert(std::is_invocable_v<Sink&, const transition_type&>,
                      "per::n_step_writer: the sink must be callable as "
                      "sink(const per::n_step_transition<Obs, Act>&)");
    }

    /// The k-th entry of env's window (k = count: the free slot after it).
    entry& at(size_type env, size_type k) noexcept {
        const size_type slot = m_windows[env].head + k;
        return m_entries[env * m_n + (slot < m_n ? slot : slot - m_n)];
    }

    /// Writes a step into env's free slot (count < n between calls). Only that slot changes,
    /// which no observer sees until count is incremented: a throwing copy changes nothing.
    template <class Observation, class Action, class NextObservation>
    void record(size_type env, const Observation& observation, const Action& action, double reward,
                const NextObservation& next_observation) {
        entry& e = at(env, m_windows[env].count);
        e.observation = observation;
        e.action = action;
        e.reward = reward;
        e.next_observation = next_observation;
    }

    /// How many starts of env are complete: all of them when the episode ended, the oldest
    /// when the window is n long, else none.
    size_type ready(size_type env, ending end) const noexcept {
        const size_type count = m_windows[env].count;
        return end.terminated || end.truncated ? count : (count == m_n ? 1 : 0);
    }

    /// Removes the how_many oldest entries of env's window.
    void drop(size_type env, size_type how_many) noexcept {
        window& w = m_windows[env];
        w.head = w.head + how_many < m_n ? w.head + how_many : w.head + how_many - m_n;
        w.count -= how_many;
    }

    /// Emits the ready starts of envs first..last-1 in order. If anything throws, the envs not
    /// done yet drop their ready starts unemitted, so the state is that of a successful call.
    template <class Sink, class EndOf>
    void emit_ready(size_type first, size_type last, Sink& sink, EndOf end_of) {
        size_type env = first;
        try {
            for (; env < last; ++env) {
                emit(env, end_of(env), sink);
            }
        } catch (...) {
            for (; env < last; ++env) {
                drop(env, ready(env, end_of(env)));
            }
            throw;
        }
    }

    /// O(count) plus the copies. Every start emitted in one call ends at the newest entry, so
    /// one backward pass gives all their returns, each in the documented Horner order.
    template <class Sink>
    void emit(size_type env, ending end, Sink& sink) {
        size_type how_many = ready(env, end);
        if (how_many == 0) {
            return;
        }
        const window& w = m_windows[env]; // w.count falls as drop goes
        entry& newest = at(env, w.count - 1);
        newest.tail_return = newest.reward;
        for (size_type k = w.count - 1; k-- > 0;) {
            entry& e = at(env, k);
            e.tail_return = e.reward + m_gamma * at(env, k + 1).tail_return;
        }
        m_scratch.next_observation = newest.next_observation;
        m_scratch.terminated = end.terminated;
        m_scratch.truncated = end.truncated;
        m_scratch.env = env;
        for (; how_many > 0; --how_many) {
            const entry& oldest = at(env, 0);
            m_scratch.observation = oldest.observation; // may throw: nothing dropped yet
            m_scratch.action = oldest.action;
            m_scratch.reward = oldest.tail_return;
            m_scratch.steps = w.count;
            m_scratch.discount = end.terminated ? 0.0 : m_powers[w.count];
            drop(env, 1);
            sink(std::as_const(m_scratch));
        }
    }

    size_type m_n;
    double m_gamma;
    std::vector<window> m_windows; // one per env
    std::vector<entry> m_entries;  // env e's ring is [e * n, (e + 1) * n)
    std::vector<double> m_powers;  // gamma^0 .. gamma^n
    transition_type m_scratch;     // what the sink receives
};

} // namespace per

#endif // PER_N_STEP_HPP
