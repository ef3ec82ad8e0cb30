#ifndef PER_FRAME_STACK_HPP
#define PER_FRAME_STACK_HPP

/// @file
/// frame_stack_replay<T, Sampler>: prioritized replay of pixel transitions that stores each frame
/// once and rebuilds the stacked observations when a batch is read. Opt-in: per.hpp does not
/// include this header.

#include "detail/error.hpp"
#include "detail/special_members.hpp"
#include "detail/update_validation.hpp"
#include "prioritized_sampler.hpp"
#include "replay_handle.hpp"
#include "replay_options.hpp"
#include "sample_batch.hpp"

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <iterator>
#include <limits>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

namespace per {

template <class T = std::uint8_t, class Sampler = prioritized_sampler>
class frame_stack_replay;

/// What frame_stack_replay stores of a transition besides its frames (read returns it).
struct frame_stack_step {
    std::int32_t action = 0; ///< a_t (discrete actions, as in Atari).
    float reward = 0.0f;     ///< r_t.
    bool terminated = false; ///< The step terminated the episode: no bootstrap.
    bool truncated = false;  ///< The step was truncated (time limit): bootstraps.
};

/// A reusable batch of B transitions read from a frame_stack_replay<T>. The draws (handles,
/// slots, importance-sampling weights, probabilities) are the sampler's sample_batch; the
/// stacks are contiguous row-major arrays, observations()[((b * k) + j) * frame_size + e]
/// for draw b, stack position j (0 the oldest frame, k - 1 the transition's own) and element e:
/// shape [B][k][frame_size], channels first (NCHW for a [k][84][84] network input).
/// next_observations() has the same layout for s_{t+1}. Reused across sample() calls, the
/// batch allocates nothing once it has grown to the batch size.
template <class T>
class frame_stack_batch {
public:
    /// The number of draws B.
    std::size_t size() const noexcept { return m_draws.size(); }
    /// The sampler's part: handles (for update_priorities), slots, weights, probabilities.
    const sample_batch& draws() const noexcept { return m_draws; }
    /// The handle of each draw, for update_priorities.
    const std::vector<replay_handle>& handles() const noexcept { return m_draws.handles(); }
    /// The importance-sampling weight of each draw.
    const std::vector<double>& weights() const noexcept { return m_draws.weights(); }
    /// s_t of each draw: [B][k][frame_size].
    const std::vector<T>& observations() const noexcept { return m_observations; }
    /// s_{t+1} of each draw: [B][k][frame_size].
    const std::vector<T>& next_observations() const noexcept { return m_next_observations; }
    /// a_t of each draw.
    const std::vector<std::int32_t>& actions() const noexcept { return m_actions; }
    /// r_t of each draw.
    const std::vector<float>& rewards() const noexcept { return m_rewards; }
    /// 1 if the draw's step terminated its episode (mask the bootstrap), else 0.
    const std::vector<std::uint8_t>& terminated() const noexcept { return m_terminated; }

private:
    template <class, class>
    friend class frame_stack_replay;

    sample_batch m_draws;
    std::vector<T> m_observations;
    std::vector<T> m_next_observations;
    std::vector<std::int32_t> m_actions;
    std::vector<float> m_rewards;
    std::vector<std::uint8_t> m_terminated;
};

/// Prioritized replay for pixel observations (Atari-style frame stacks). A naive buffer stores
/// both stacks of every transition, 2 k frames; this one stores each frame once, in a ring,
/// and rebuilds the stacks of a sampled transition from it:
///
///     per::frame_stack_replay<> replay(1'000'000, 84 * 84, 4, per::replay_options{});
///     replay.start_episode(reset_frame);                   // 84*84 uint8, after env.reset()
///     replay.push(action, reward, terminated, truncated, next_frame); // each env.step()
///     // after terminated or truncated: start_episode(the reset frame) again
///     per::frame_stack_batch<std::uint8_t> batch;          // reused
///     replay.sample(32, beta, rng, batch);                 // observations(), actions(), ...
///     replay.update_priorities(batch.handles(), td_errors);
///
/// Transitions: the t-th push (t = 0, 1, ...) goes to slot t mod capacity of the sampler and
/// is (s_t, a_t, r_t, s_{t+1}, terminated): s_t is the stack of the k frames ending at the
/// frame before the push, s_{t+1} the stack ending at the pushed next_frame. A stack never
/// crosses an episode start: positions before the episode's first frame repeat that frame, as
/// the Atari FrameStack wrappers do at reset (the first transition of an episode has s_t = k
/// copies of the reset frame). A step both terminated and truncated is stored with both flags.
///
/// Ring sizing: frames live in a ring of frame_capacity() = capacity + k frames, the newest
/// ones: what the newest `capacity` transitions of one long episode need (the oldest one's
/// stack reaches k - 1 frames back, the newest one's next frame is the newest frame). A
/// transition is sampleable while every frame of both its stacks is in the ring; when a
/// start_episode or push overwrites one, the transition is erased from the sampler in that
/// call (its handles go stale), never padded with another frame. Each episode start stores a
/// frame no transition begins at, so size() is capacity in long episodes, about capacity *
/// L / (L + 1) with episodes of L steps (Atari episodes are thousands of frames: well under 1%
/// lost), and at least min(capacity, (capacity + k) / 2 - 1) when every episode is one step
/// long.
///
/// Memory: memory_bytes() = (capacity + k) * frame_size * sizeof(T) for the frames, plus
/// capacity * record_bytes (frame index, action, reward, flags: 24 bytes on 64-bit targets),
/// plus the sampler's memory_bytes() (prioritized_sampler: 23.4 bytes per slot). For 84x84
/// uint8 frames, k = 4 and 10^6 transitions that is 7,103.5 bytes per transition against 56,448
/// for the two stacks alone in a naive buffer (2 * 4 * 7056): 7.9 times less
/// (tests/test_frame_stack.cpp checks 7,110.3 bytes at capacity 4096, where the k extra frames
/// weigh more).
///
/// Sampling is the sampler's: priorities given at push, or its running max priority when
/// none is given; P(i), importance weights, sampling modes and handle generations as in
/// basic_sampler. Sampler is a basic_sampler (prioritized_sampler, rank_based_sampler,
/// basic_prioritized_sampler<sum_tree<float>>). T is any trivially copyable element type
/// (std::uint8_t for pixels, float for preprocessed frames).
///
/// Complexity: start_episode and push O(frame_size + log C) plus O(log C) per transition they
/// invalidate; sample O(B (log C + k frame_size)); read O(k frame_size).
///
/// Exceptions: every member validates its input before anything changes and throws
/// std::invalid_argument or std::out_of_range naming the argument and its value, or
/// std::logic_error for a push without an episode in progress; the replay is then unchanged
/// (strong guarantee). Copyable (copy assignment with the strong guarantee); moves are noexcept
/// and leave the source with capacity() 0, on which start_episode and push throw
/// std::logic_error until a replay is assigned to it (their range overloads check the range's
/// size first: a range of another size than frame_size() gets std::invalid_argument).
template <class T, class Sampler>
class frame_stack_replay {
    static_assert(std::is_trivially_copyable_v<T>,
                  "per::frame_stack_replay: frame elements must be trivially copyable");

public:
    /// A frame element.
    using value_type = T;
    /// The sampler over the transition slots.
    using sampler_type = Sampler;
    /// Slots, counts and element counts.
    using size_type = std::size_t;
    /// What sample() fills.
    using batch_type = frame_stack_batch<T>;
    /// The largest k accepted: far beyond the stacks in use (4 for DQN on Atari), and small
    /// enough for a record's 16-bit history count.
    static constexpr size_type max_stack_size = 1024;

private:
    // One transition slot. `frame` is the global index of s_t's newest frame; s_{t+1}'s is
    // frame + 1. `history` is how many frames of the same episode precede it, capped at k - 1.
    struct record {
        std::uint64_t frame = 0;
        float reward = 0.0f;
        std::int32_t action = 0;
        std::uint16_t history = 0;
        bool terminated = false;
        bool truncated = false;
    };

public:
    /// Bytes of a transition's record (see memory_bytes()).
    static constexpr size_type record_bytes = sizeof(record);

    /// O(capacity * frame_size). A replay of `capacity` transitions whose frames are
    /// `frame_size` elements of T, stacked `k` deep, with the sampler's options. Throws
    /// std::invalid_argument if capacity, frame_size or k is 0, k > max_stack_size, or the
    /// options are invalid (as the sampler checks them); std::length_error if capacity exceeds
    /// the sampler's max_capacity() or (capacity + k) * frame_size elements cannot be held.
    frame_stack_replay(size_type capacity, size_type frame_size, size_type k,
                       replay_options options = {})
        : m_frame_size(checked_frame_size(capacity, frame_size, k))
        , m_stack(k)
        , m_frames((capacity + k) * frame_size)
        , m_records(capacity)
        , m_sampler(capacity, options) {}

    /// A deep copy. Throws std::bad_alloc.
    frame_stack_replay(const frame_stack_replay&) = default;
    /// Takes the other replay's storage; the other is left with capacity() 0.
    frame_stack_replay(frame_stack_replay&& other) noexcept
        : m_frame_size(other.m_frame_size)
        , m_stack(other.m_stack)
        , m_frames(std::move(other.m_frames))
        , m_records(std::move(other.m_records))
        , m_sampler(std::move(other.m_sampler))
        , m_pushes(std::exchange(other.m_pushes, 0))
        , m_frame_count(std::exchange(other.m_frame_count, 0))
        , m_first_live(std::exchange(other.m_first_live, 0))
        , m_history(std::exchange(other.m_history, 0))
        , m_in_episode(std::exchange(other.m_in_episode, false)) {}
    /// Strong guarantee: on std::bad_alloc the replay is unchanged.
    frame_stack_replay& operator=(const frame_stack_replay& other) {
        return detail::assign_copy(*this, other);
    }
    /// As the move constructor. Self-move: no-op.
    frame_stack_replay& operator=(frame_stack_replay&& other) noexcept {
        if (this != &other) {
            m_frame_size = other.m_frame_size;
            m_stack = other.m_stack;
            detail::move_and_empty(m_frames, other.m_frames);
            detail::move_and_empty(m_records, other.m_records);
            m_sampler = std::move(other.m_sampler);
            m_pushes = std::exchange(other.m_pushes, 0);
            m_frame_count = std::exchange(other.m_frame_count, 0);
            m_first_live = std::exchange(other.m_first_live, 0);
            m_history = std::exchange(other.m_history, 0);
            m_in_episode = std::exchange(other.m_in_episode, false);
        }
        return *this;
    }
    ~frame_stack_replay() = default;

    // --- Observers, O(1) ----------------------------------------------------------------------

    /// Transition slots.
    size_type capacity() const noexcept { return m_sampler.capacity(); }
    /// Elements of T per frame.
    size_type frame_size() const noexcept { return m_frame_size; }
    /// k, the frames per stacked observation.
    size_type stack_size() const noexcept { return m_stack; }
    /// Frames the ring holds: capacity() + k (0 when moved from).
    size_type frame_capacity() const noexcept { return m_frames.size() / m_frame_size; }
    /// Sampleable transitions: pushed, not overwritten, all their frames in the ring.
    size_type size() const noexcept { return m_sampler.size(); }
    /// Whether `slot` holds a sampleable transition. Throws std::out_of_range if slot >=
    /// capacity().
    bool contains(size_type slot) const { return m_sampler.contains(slot); }
    /// Whether an episode is in progress: push is allowed.
    bool in_episode() const noexcept { return m_in_episode; }
    /// The number of push calls that succeeded.
    std::uint64_t pushes() const noexcept { return m_pushes; }
    /// The sampler, read-only: priorities, probabilities, handles by slot.
    const Sampler& sampler() const noexcept { return m_sampler; }
    /// Heap bytes: the frame ring, the records and the sampler (see the class comment).
    size_type memory_bytes() const noexcept {
        return m_frames.capacity() * sizeof(T) + m_records.capacity() * sizeof(record) +
               m_sampler.memory_bytes();
    }

    // --- The episode stream -------------------------------------------------------------------

    /// O(frame_size + log C), plus O(log C) per transition whose frame it overwrites (those
    /// are erased: class comment). Starts an episode at `first_frame` (frame_size() elements,
    /// copied): the observation env.reset() returned. An episode in progress simply ends (its
    /// transitions stay as pushed). Throws std::logic_error on a moved-from replay,
    /// std::invalid_argument if first_frame is null.
    void start_episode(const T* first_frame) {
        static constexpr const char* where = "per::frame_stack_replay::start_episode";
        check_not_moved_from(where);
        check_pointer(where, "first_frame", first_frame, "frame_size()", 1);
        write_frame(first_frame);
        m_history = 0;
        m_in_episode = true;
    }
    /// As above for a contiguous range (std::vector, std::array, std::span). Also throws
    /// std::invalid_argument if its size is not frame_size().
    template <class Frame, class = decltype(std::data(std::declval<const Frame&>()))>
    void start_episode(const Frame& first_frame) {
        check_frame_size("per::frame_stack_replay::start_episode", "first_frame.size()",
                         std::size(first_frame));
        start_episode(static_cast<const T*>(std::data(first_frame)));
    }

    /// O(frame_size + log C). Records the step env.step(action) gave: reward, the two flags and
    /// next_frame (frame_size() elements, copied); the transition gets the sampler's
    /// max_priority(). Returns its handle. After terminated or truncated the episode is over:
    /// the next push needs start_episode first. Throws std::logic_error if no episode is in
    /// progress (none started, or the last one ended) or the replay was moved from;
    /// std::invalid_argument if reward is not finite or next_frame is null.
    replay_handle push(std::int32_t action, float reward, bool terminated, bool truncated,
                       const T* next_frame) {
        check_push(reward, next_frame);
        return record_step(m_sampler.fill(next_slot()), action, reward, terminated, truncated,
                           next_frame);
    }
    /// As above, with the transition's raw priority. Also throws std::invalid_argument if the
    /// priority is negative, not finite or above the sampler's priority_limit().
    replay_handle push(std::int32_t action, float reward, bool terminated, bool truncated,
                       const T* next_frame, double priority) {
        check_push(reward, next_frame);
        if (!(std::isfinite(priority) && priority >= 0.0 &&
              priority <= m_sampler.priority_limit())) {
            detail::reject_priority("per::frame_stack_replay::push", "priority", priority,
                                    m_sampler.index().priority_limit_requirement());
        }
        return record_step(m_sampler.fill(next_slot(), priority), action, reward, terminated,
                           truncated, next_frame);
    }
    /// As push above for a contiguous range; also throws std::invalid_argument if its size is
    /// not frame_size(). `priority...` is none or one double.
    template <class Frame, class... Priority,
              class = decltype(std::data(std::declval<const Frame&>()))>
    replay_handle push(std::int32_t action, float reward, bool terminated, bool truncated,
                       const Frame& next_frame, Priority... priority) {
        static_assert(sizeof...(Priority) <= 1, "push takes at most one priority");
        check_frame_size("per::frame_stack_replay::push", "next_frame.size()",
                         std::size(next_frame));
        return push(action, reward, terminated, truncated,
                    static_cast<const T*>(std::data(next_frame)), static_cast<double>(priority)...);
    }

    // --- Reading, sampling, updating ----------------------------------------------------------

    /// O(k frame_size). Copies the stacks of the transition in `slot` into `observation` and
    /// `next_observation` (k * frame_size() elements each, layout [k][frame_size]) and returns
    /// its action, reward and flags. Throws std::out_of_range if slot >= capacity() or holds
    /// no sampleable transition, std::invalid_argument if an output pointer is null.
    frame_stack_step read(size_type slot, T* observation, T* next_observation) const {
        static constexpr const char* where = "per::frame_stack_replay::read";
        detail::check_index(where, "slot", slot, capacity());
        if (!m_sampler.contains(slot)) {
            detail::throw_out_of_range(where, "slot", slot, "holds no sampleable transition");
        }
        check_pointer(where, "observation", observation, "k * frame_size()", m_stack);
        check_pointer(where, "next_observation", next_observation, "k * frame_size()", m_stack);
        return copy_transition(slot, observation, next_observation);
    }

    /// O(B (log C + k frame_size)). Draws batch_size transitions with the sampler (its
    /// semantics and its exceptions: batch_size 0, beta outside [0, 1], nothing sampleable,
    /// named in the sampler's messages) and fills `out` with their stacks, actions, rewards and
    /// flags. The same generator state gives the same batch. If the sampler throws, the
    /// replay and `out` are unchanged; if growing `out` throws std::bad_alloc, `out`'s contents
    /// are unspecified (the replay is unchanged).
    template <class Generator>
    void sample(size_type batch_size, double beta, Generator& generator, batch_type& out) {
        m_sampler.sample(batch_size, beta, generator, out.m_draws);
        const size_type stack_elements = m_stack * m_frame_size;
        out.m_observations.resize(batch_size * stack_elements);
        out.m_next_observations.resize(batch_size * stack_elements);
        out.m_actions.resize(batch_size);
        out.m_rewards.resize(batch_size);
        out.m_terminated.resize(batch_size);
        for (size_type b = 0; b < batch_size; ++b) {
            const frame_stack_step step =
                copy_transition(out.m_draws.slots()[b], &out.m_observations[b * stack_elements],
                                &out.m_next_observations[b * stack_elements]);
            out.m_actions[b] = step.action;
            out.m_rewards[b] = step.reward;
            out.m_terminated[b] = step.terminated ? 1 : 0;
        }
    }

    /// The sampler's update_priorities (validation, stale handles skipped, the number applied
    /// returned). A transition erased because its frames were overwritten is stale.
    template <class Priority>
    size_type update_priorities(const replay_handle* handles, const Priority* priorities,
                                size_type count) {
        return m_sampler.update_priorities(handles, priorities, count);
    }
    /// As above for two contiguous ranges of equal size.
    template <class Handles, class Priorities>
    size_type update_priorities(const Handles& handles, const Priorities& priorities) {
        return m_sampler.update_priorities(handles, priorities);
    }
    /// The sampler's set_alpha (O(C); unchanged on throw).
    void set_alpha(double alpha) { m_sampler.set_alpha(alpha); }

private:
    static constexpr const char* name = "per::frame_stack_replay";

    /// Validates the constructor's arguments, in their order; returns frame_size.
    static size_type checked_frame_size(size_type capacity, size_type frame_size, size_type k) {
        detail::check_capacity(name, capacity, Sampler::max_capacity());
        if (frame_size == 0) {
            detail::throw_invalid_argument(name, "frame_size", frame_size, "must be > 0");
        }
        if (k == 0 || k > max_stack_size) {
            detail::throw_invalid_argument(
                name, "k", k, "must be in [1, " + std::to_string(max_stack_size) + "]");
        }
        const size_type max_frames = std::vector<T>().max_size() / frame_size;
        if (max_frames < k || capacity > max_frames - k) {
            throw std::length_error(detail::describe(
                name, "capacity", capacity,
                "must be <= " + std::to_string(max_frames - std::min(k, max_frames)) +
                    " for frame_size = " + std::to_string(frame_size) +
                    " and k = " + std::to_string(k)));
        }
        return frame_size;
    }

    void check_not_moved_from(const char* where) const {
        if (capacity() == 0) {
            detail::throw_moved_from(where);
        }
    }
    /// A null `pointer` throws, naming the elements it must point to: frames * frame_size().
    void check_pointer(const char* where, const char* argument, const T* pointer,
                       const char* elements, size_type frames) const {
        if (pointer == nullptr) {
            detail::throw_invalid_argument(where, argument, "nullptr",
                                           std::string("must point to ") + elements + " = " +
                                               std::to_string(frames * m_frame_size) + " elements");
        }
    }
    void check_frame_size(const char* where, const char* argument, size_type size) const {
        if (size != m_frame_size) {
            detail::throw_invalid_argument(
                where, argument, size, "must equal frame_size() = " + std::to_string(m_frame_size));
        }
    }
    void check_push(float reward, const T* next_frame) const {
        static constexpr const char* where = "per::frame_stack_replay::push";
        check_not_moved_from(where);
        if (!m_in_episode) {
            throw std::logic_error(std::string(where) +
                                   (m_frame_count == 0 ? ": no episode was started"
                                                       : ": the episode ended (terminated or "
                                                         "truncated)") +
                                   ": call start_episode(first_frame) before push");
        }
        if (!std::isfinite(reward)) {
            detail::throw_invalid_argument(where, "reward", reward, "must be finite");
        }
        check_pointer(where, "next_frame", next_frame, "frame_size()", 1);
    }

    size_type next_slot() const noexcept { return static_cast<size_type>(m_pushes % capacity()); }

    /// Where global frame `frame` is in the ring.
    size_type frame_offset(std::uint64_t frame) const noexcept {
        return static_cast<size_type>(frame % frame_capacity()) * m_frame_size;
    }

    /// After validation and the sampler's fill (the last call that could throw): nothing below
    /// throws.
    replay_handle record_step(replay_handle handle, std::int32_t action, float reward,
                              bool terminated, bool truncated, const T* next_frame) noexcept {
        record& r = m_records[handle.slot];
        r.frame = m_frame_count - 1; // s_t's newest frame, the one before next_frame
        r.reward = reward;
        r.action = action;
        r.history = static_cast<std::uint16_t>(m_history);
        r.terminated = terminated;
        r.truncated = truncated;
        ++m_pushes;
        m_history = std::min(m_history + 1, m_stack - 1);
        m_in_episode = !(terminated || truncated);
        write_frame(next_frame);
        return handle;
    }

    /// Writes the next global frame into the ring, over the oldest one, and erases from the
    /// sampler the transitions that needed it. The frames a transition needs start at
    /// frame - history, which never decreases from one push to the next, so the transitions to
    /// erase are always the oldest live ones: m_first_live moves forward only.
    void write_frame(const T* frame) noexcept {
        std::copy_n(frame, m_frame_size, m_frames.data() + frame_offset(m_frame_count));
        ++m_frame_count;
        const std::uint64_t oldest_frame =
            m_frame_count > frame_capacity() ? m_frame_count - frame_capacity() : 0;
        // Slots of pushes before m_pushes - capacity were refilled: nothing to erase there.
        m_first_live = std::max<std::uint64_t>(m_first_live,
                                               m_pushes > capacity() ? m_pushes - capacity() : 0);
        for (; m_first_live < m_pushes; ++m_first_live) {
            const size_type slot = static_cast<size_type>(m_first_live % capacity());
            const record& r = m_records[slot];
            if (r.frame - r.history >= oldest_frame) {
                break;
            }
            m_sampler.erase(slot);
        }
    }

    /// Copies the two stacks of a live slot (layout [k][frame_size], oldest frame first).
    frame_stack_step copy_transition(size_type slot, T* observation,
                                     T* next_observation) const noexcept {
        const record& r = m_records[slot];
        const std::uint64_t first = r.frame - r.history; // the oldest frame s_t may use
        for (size_type j = 0; j < m_stack; ++j) {
            const std::uint64_t back = m_stack - 1 - j; // frames before the newest
            const std::uint64_t frame = r.frame - std::min<std::uint64_t>(back, r.history);
            const std::uint64_t next = std::max(r.frame + 1 - std::min(back, r.frame + 1), first);
            std::copy_n(&m_frames[frame_offset(frame)], m_frame_size,
                        observation + j * m_frame_size);
            std::copy_n(&m_frames[frame_offset(next)], m_frame_size,
                        next_observation + j * m_frame_size);
        }
        return {r.action, r.reward, r.terminated, r.truncated};
    }

    size_type m_frame_size;
    size_type m_stack;
    std::vector<T> m_frames;       // frame_capacity() frames; global frame f at f mod that
    std::vector<record> m_records; // by slot
    Sampler m_sampler;
    std::uint64_t m_pushes = 0;      // transitions pushed: the next one goes to m_pushes mod C
    std::uint64_t m_frame_count = 0; // frames written; the newest is m_frame_count - 1
    std::uint64_t m_first_live = 0;  // pushes before it are overwritten or erased
    size_type m_history = 0;         // frames of the episode before the newest, capped at k - 1
    bool m_in_episode = false;
};

} // namespace per

#endif // PER_FRAME_STACK_HPP
