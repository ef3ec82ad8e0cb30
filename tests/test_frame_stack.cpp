// frame_stack_replay: the rebuilt stacks against a naive buffer that stores every transition's
// two stacks, which transitions stay sampleable as the frame ring wraps, sampling through the
// sampler, memory per transition against the naive layout, bad input and the strong guarantee.
#include <per/frame_stack.hpp>
#include <per/rank_based_sampler.hpp>

#include "per_catch.hpp"

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <deque>
#include <limits>
#include <random>
#include <stdexcept>
#include <utility>
#include <vector>

namespace {

using byte_replay = per::frame_stack_replay<>;
using float_rank_based_replay = per::frame_stack_replay<float, per::rank_based_sampler>;

template <class T>
bool same_bytes(const T* a, const T* b, std::size_t count) {
    return std::memcmp(a, b, count * sizeof(T)) == 0;
}

template <class T>
std::vector<T> random_frame(std::mt19937_64& rng, std::size_t frame_size) {
    std::vector<T> frame(frame_size);
    for (T& element : frame) {
        if constexpr (std::is_floating_point_v<T>) {
            element = std::uniform_real_distribution<T>(-1, 1)(rng);
        } else {
            element = static_cast<T>(std::uniform_int_distribution<int>(0, 255)(rng));
        }
    }
    return frame;
}

// One transition as a naive buffer stores it: both stacks in full, and the global index of the
// oldest frame either stack uses (to know when the frame ring has overwritten it).
template <class T>
struct naive_transition {
    std::vector<T> observation, next_observation;
    std::int32_t action = 0;
    float reward = 0.0f;
    bool terminated = false;
    bool truncated = false;
    std::uint64_t oldest_frame = 0;
};

// A FrameStack wrapper (a deque of the last k frames, k copies of the reset frame after a
// reset) feeding a ring of `capacity` naive transitions. live(slot) is the documented rule: the
// slot was pushed and every frame it uses is among the newest capacity + k frames.
template <class T>
class naive_buffer {
public:
    naive_buffer(std::size_t capacity, std::size_t k)
        : m_k(k)
        , m_slots(capacity) {}

    void start_episode(const std::vector<T>& frame) { m_stack.assign(m_k, {m_frames++, frame}); }
    void push(std::int32_t action, float reward, bool terminated, bool truncated,
              const std::vector<T>& next_frame) {
        naive_transition<T> t;
        t.observation = flatten();
        t.oldest_frame = m_stack.front().first;
        m_stack.pop_front();
        m_stack.emplace_back(m_frames++, next_frame);
        t.next_observation = flatten();
        t.action = action;
        t.reward = reward;
        t.terminated = terminated;
        t.truncated = truncated;
        m_slots[m_pushes++ % m_slots.size()] = {true, std::move(t)};
    }
    bool live(std::size_t slot) const {
        const std::size_t frames_kept = m_slots.size() + m_k;
        return m_slots[slot].first && m_slots[slot].second.oldest_frame + frames_kept >= m_frames;
    }
    std::size_t live_count() const {
        std::size_t count = 0;
        for (std::size_t slot = 0; slot < m_slots.size(); ++slot) {
            count += live(slot) ? 1 : 0;
        }
        return count;
    }
    const naive_transition<T>& at(std::size_t slot) const { return m_slots[slot].second; }

private:
    std::vector<T> flatten() const {
        std::vector<T> stack;
        for (const auto& frame : m_stack) {
            stack.insert(stack.end(), frame.second.begin(), frame.second.end());
        }
        return stack;
    }

    std::size_t m_k;
    std::deque<std::pair<std::uint64_t, std::vector<T>>> m_stack; // (global index, frame)
    std::vector<std::pair<bool, naive_transition<T>>> m_slots;
    std::uint64_t m_frames = 0;
    std::uint64_t m_pushes = 0;
};

// Every slot of the replay against the reference: the same live slots, and for each the same
// stacks, action, reward and flags.
template <class Replay, class T>
void check_every_slot(const Replay& replay, const naive_buffer<T>& naive) {
    const std::size_t stack_elements = replay.stack_size() * replay.frame_size();
    std::vector<T> observation(stack_elements), next_observation(stack_elements);
    REQUIRE(replay.size() == naive.live_count());
    for (std::size_t slot = 0; slot < replay.capacity(); ++slot) {
        INFO("slot " << slot);
        REQUIRE(replay.contains(slot) == naive.live(slot));
        if (naive.live(slot)) {
            const per::frame_stack_step step =
                replay.read(slot, observation.data(), next_observation.data());
            const naive_transition<T>& expected = naive.at(slot);
            REQUIRE(same_bytes(observation.data(), expected.observation.data(), stack_elements));
            REQUIRE(same_bytes(next_observation.data(), expected.next_observation.data(),
                               stack_elements));
            REQUIRE(step.action == expected.action);
            REQUIRE(step.reward == expected.reward);
            REQUIRE(step.terminated == expected.terminated);
            REQUIRE(step.truncated == expected.truncated);
        }
    }
}

// A sampled batch against the reference: every draw is a live slot, with its stacks.
template <class Replay, class T>
void check_batch(const Replay& replay, const per::frame_stack_batch<T>& batch,
                 const naive_buffer<T>& naive) {
    const std::size_t stack_elements = replay.stack_size() * replay.frame_size();
    REQUIRE(batch.observations().size() == batch.size() * stack_elements);
    REQUIRE(batch.next_observations().size() == batch.size() * stack_elements);
    for (std::size_t b = 0; b < batch.size(); ++b) {
        const std::size_t slot = batch.draws().slots()[b];
        INFO("draw " << b << ", slot " << slot);
        REQUIRE(naive.live(slot));
        REQUIRE(batch.handles()[b] == replay.sampler().handle(slot));
        const naive_transition<T>& expected = naive.at(slot);
        REQUIRE(same_bytes(&batch.observations()[b * stack_elements], expected.observation.data(),
                           stack_elements));
        REQUIRE(same_bytes(&batch.next_observations()[b * stack_elements],
                           expected.next_observation.data(), stack_elements));
        REQUIRE(batch.actions()[b] == expected.action);
        REQUIRE(batch.rewards()[b] == expected.reward);
        REQUIRE(batch.terminated()[b] == (expected.terminated ? 1 : 0));
    }
}

// An episode length: often 1 and shorter than k, sometimes several times the capacity.
std::size_t random_episode_length(std::mt19937_64& rng, std::size_t capacity, std::size_t k) {
    switch (std::uniform_int_distribution<int>(0, 3)(rng)) {
    case 0:
        return 1;
    case 1:
        return std::uniform_int_distribution<std::size_t>(1, k)(rng);
    case 2:
        return std::uniform_int_distribution<std::size_t>(k, 3 * k + 2)(rng);
    default:
        return std::uniform_int_distribution<std::size_t>(1, 3 * capacity + 5)(rng);
    }
}

} // namespace

TEMPLATE_TEST_CASE("rebuilt stacks equal a naive buffer's, and overwritten frames are never "
                   "sampled",
                   "[frame_stack]", byte_replay, float_rank_based_replay) {
    using T = typename TestType::value_type;
    const std::size_t frame_size = 5;
    for (const std::size_t k : {1, 2, 4}) {
        for (const std::size_t capacity : {1, 2, 3, 8, 37}) {
            INFO("k = " << k << ", capacity = " << capacity);
            std::mt19937_64 rng(1000 * k + capacity);
            std::mt19937_64 sample_rng(7);
            TestType replay(capacity, frame_size, k);
            naive_buffer<T> naive(capacity, k);
            per::frame_stack_batch<T> batch;
            const std::size_t steps = 25 * capacity + 60; // the transition ring wraps 25 times
            std::size_t step = 0;
            while (step < steps) {
                const std::vector<T> first = random_frame<T>(rng, frame_size);
                replay.start_episode(first);
                naive.start_episode(first);
                check_every_slot(replay, naive);
                const std::size_t length = random_episode_length(rng, capacity, k);
                // One episode in five is abandoned (neither flag) for the next start_episode.
                const int ending = std::uniform_int_distribution<int>(0, 4)(rng);
                for (std::size_t t = 1; t <= length && step < steps; ++t, ++step) {
                    const bool last = t == length;
                    const bool terminated = last && (ending == 0 || ending == 1 || ending == 3);
                    const bool truncated = last && (ending == 2 || ending == 3);
                    const auto action = static_cast<std::int32_t>(rng() % 18);
                    const float reward = std::uniform_real_distribution<float>(-1, 1)(rng);
                    const std::vector<T> next = random_frame<T>(rng, frame_size);
                    const per::replay_handle handle =
                        replay.push(action, reward, terminated, truncated, next);
                    naive.push(action, reward, terminated, truncated, next);
                    REQUIRE(handle.slot == step % capacity);
                    REQUIRE(replay.in_episode() == !(terminated || truncated));
                    check_every_slot(replay, naive);
                    if (step % 3 == 0) {
                        replay.sample(8, 0.5, sample_rng, batch);
                        check_batch(replay, batch, naive);
                    }
                }
            }
        }
    }
}

TEST_CASE("frame_stack_replay: sampleable transitions in long and in one-step episodes",
          "[frame_stack]") {
    const std::size_t capacity = 10, k = 4;
    byte_replay replay(capacity, 2, k);
    const std::vector<std::uint8_t> frame{1, 2};
    REQUIRE(replay.frame_capacity() == capacity + k);
    SECTION("one long episode keeps the newest `capacity` transitions") {
        replay.start_episode(frame);
        for (std::size_t t = 1; t <= 5 * capacity; ++t) {
            replay.push(0, 0.0f, false, false, frame);
            REQUIRE(replay.size() == std::min(t, capacity));
        }
    }
    SECTION("one-step episodes keep floor((capacity + k) / 2) after a push, one less after a "
            "start") {
        for (int episode = 0; episode < 50; ++episode) {
            replay.start_episode(frame);
            if (episode >= 10) {
                REQUIRE(replay.size() == (capacity + k - 1) / 2);
            }
            replay.push(0, 0.0f, true, false, frame);
            if (episode >= 10) {
                REQUIRE(replay.size() == (capacity + k) / 2);
            }
        }
    }
}

TEST_CASE("frame_stack_replay samples with the sampler's priorities", "[frame_stack]") {
    const auto options = per::replay_options{}.alpha(1.0).epsilon(0.0);
    byte_replay replay(16, 3, 2, options);
    std::mt19937_64 frames(3);
    replay.start_episode(random_frame<std::uint8_t>(frames, 3));
    std::vector<per::replay_handle> handles;
    for (int t = 0; t < 16; ++t) {
        handles.push_back(
            replay.push(t, 0.0f, false, false, random_frame<std::uint8_t>(frames, 3), t % 2));
    }
    for (std::size_t slot = 0; slot < 16; ++slot) {
        REQUIRE(replay.sampler().priority(slot) == static_cast<double>(slot % 2));
    }
    per::frame_stack_batch<std::uint8_t> batch;
    std::mt19937_64 rng(11);

    SECTION("a zero-priority transition with epsilon 0 is never drawn") {
        for (int round = 0; round < 200; ++round) {
            replay.sample(32, 0.4, rng, batch);
            for (std::size_t b = 0; b < batch.size(); ++b) {
                REQUIRE(batch.draws().slots()[b] % 2 == 1);
                REQUIRE(batch.actions()[b] == static_cast<std::int32_t>(batch.draws().slots()[b]));
            }
        }
    }
    SECTION("the same seed gives the same batch, in a copy too") {
        byte_replay copy = replay;
        per::frame_stack_batch<std::uint8_t> again;
        std::mt19937_64 rng_again(11);
        replay.sample(32, 0.4, rng, batch);
        copy.sample(32, 0.4, rng_again, again);
        REQUIRE(batch.handles() == again.handles());
        REQUIRE(batch.weights() == again.weights());
        REQUIRE(batch.draws().probabilities() == again.draws().probabilities());
        REQUIRE(batch.observations() == again.observations());
        REQUIRE(batch.next_observations() == again.next_observations());
        REQUIRE(batch.rewards() == again.rewards());
    }
    SECTION("update_priorities forwards to the sampler, skipping stale handles") {
        const std::vector<double> zero{0.0};
        REQUIRE(replay.update_priorities(std::vector<per::replay_handle>{handles[5]}, zero) == 1);
        for (int round = 0; round < 100; ++round) {
            replay.sample(32, 0.4, rng, batch);
            for (const std::size_t slot : batch.draws().slots()) {
                REQUIRE(slot != 5);
            }
        }
        replay.push(0, 0.0f, false, false, random_frame<std::uint8_t>(frames, 3)); // slot 0
        const double one = 1.0;
        REQUIRE(replay.update_priorities(&handles[0], &one, 1) == 0);
    }
    SECTION("a transition erased for its frames has stale handles") {
        const per::replay_handle lost = handles[4];
        for (int episode = 0; episode < 3; ++episode) { // each start costs one frame
            replay.push(0, 0.0f, true, false, random_frame<std::uint8_t>(frames, 3));
            replay.start_episode(random_frame<std::uint8_t>(frames, 3));
        }
        // 16 + 2 frames kept: slots 0..2 hold the three new pushes, and pushes 3..5 lost their
        // oldest frame to the three pushes and the three episode starts.
        for (std::size_t slot = 0; slot < 16; ++slot) {
            REQUIRE(replay.contains(slot) == (slot < 3 || slot > 5));
        }
        REQUIRE(replay.sampler().handle(6).generation == 1);
        const double one = 1.0;
        REQUIRE(replay.update_priorities(&lost, &one, 1) == 0);
    }
}

TEST_CASE("frame_stack_replay over a rank-based sampler ranks the priorities given at push",
          "[frame_stack]") {
    float_rank_based_replay replay(4, 2, 3);
    replay.start_episode(std::vector<float>{0.5f, 1.5f});
    for (const double priority : {1.0, 3.0, 2.0}) {
        replay.push(0, 1.0f, false, false, std::vector<float>{0.0f, 0.0f}, priority);
    }
    REQUIRE(replay.sampler().rank(1) == 1);
    REQUIRE(replay.sampler().rank(2) == 2);
    REQUIRE(replay.sampler().rank(0) == 3);
    REQUIRE_THROWS_WITH(replay.push(0, 1.0f, false, false, std::vector<float>{0.0f, 0.0f}, -2.0),
                        PER_CONTAINS("per::frame_stack_replay::push: priority = -2"));
}

TEST_CASE("memory per transition: 84x84 uint8 frames, k = 4, against a naive buffer",
          "[frame_stack][memory]") {
    const std::size_t capacity = 4096, frame_size = 84 * 84, k = 4;
    const byte_replay replay(capacity, frame_size, k);
    REQUIRE(byte_replay::record_bytes == 24);
    REQUIRE(replay.memory_bytes() ==
            (capacity + k) * frame_size + capacity * 24 + replay.sampler().memory_bytes());
    const double naive_bytes = 2.0 * k * frame_size; // the obs and next_obs stacks alone
    REQUIRE(naive_bytes == 56448.0);
    const double per_transition = static_cast<double>(replay.memory_bytes()) / capacity;
    INFO("bytes per transition: " << per_transition << ", naive: " << naive_bytes);
    // 7056 bytes of frame, k / capacity of a frame for the ring's extra frames, the 24-byte
    // record and the sampler's 23.4 bytes: 7,110.3 bytes at this capacity (7,103.5 at 10^6),
    // 7.94 times less than the naive stacks alone.
    const double sampler_bytes = static_cast<double>(replay.sampler().memory_bytes()) / capacity;
    REQUIRE(sampler_bytes < 23.5);
    REQUIRE(per_transition ==
            Approx(7056.0 + 7056.0 * k / capacity + static_cast<double>(byte_replay::record_bytes) +
                   sampler_bytes));
    REQUIRE(per_transition < 7111.0);
    REQUIRE(naive_bytes / per_transition > 7.9);
}

namespace {

// What a bad call must leave unchanged: the observers, and every slot's contents and priority.
struct snapshot {
    std::size_t size = 0, capacity = 0, memory = 0;
    std::uint64_t pushes = 0;
    bool in_episode = false;
    std::vector<std::uint8_t> contents;
    std::vector<double> priorities;

    explicit snapshot(const byte_replay& replay)
        : size(replay.size())
        , capacity(replay.capacity())
        , memory(replay.memory_bytes())
        , pushes(replay.pushes())
        , in_episode(replay.in_episode()) {
        std::vector<std::uint8_t> observation(replay.stack_size() * replay.frame_size());
        std::vector<std::uint8_t> next_observation(observation.size());
        for (std::size_t slot = 0; slot < replay.capacity(); ++slot) {
            if (replay.contains(slot)) {
                const per::frame_stack_step step =
                    replay.read(slot, observation.data(), next_observation.data());
                contents.insert(contents.end(), observation.begin(), observation.end());
                contents.insert(contents.end(), next_observation.begin(), next_observation.end());
                contents.push_back(static_cast<std::uint8_t>(step.action));
                priorities.push_back(replay.sampler().priority(slot));
            }
        }
    }
    bool operator==(const snapshot& other) const {
        return size == other.size && capacity == other.capacity && memory == other.memory &&
               pushes == other.pushes && in_episode == other.in_episode &&
               contents == other.contents && priorities == other.priorities;
    }
};

} // namespace

TEST_CASE("frame_stack_replay: bad construction arguments", "[frame_stack][bad_input]") {
    REQUIRE_THROWS_AS(byte_replay(0, 4, 4), std::invalid_argument);
    REQUIRE_THROWS_WITH(byte_replay(0, 4, 4), PER_CONTAINS("capacity = 0 must be > 0"));
    REQUIRE_THROWS_AS(byte_replay(4, 0, 4), std::invalid_argument);
    REQUIRE_THROWS_WITH(byte_replay(4, 0, 4), PER_CONTAINS("frame_size = 0 must be > 0"));
    REQUIRE_THROWS_AS(byte_replay(4, 4, 0), std::invalid_argument);
    REQUIRE_THROWS_WITH(byte_replay(4, 4, 0), PER_CONTAINS("k = 0 must be in [1, 1024]"));
    REQUIRE_THROWS_WITH(byte_replay(4, 4, 1025), PER_CONTAINS("k = 1025 must be in [1, 1024]"));
    REQUIRE_THROWS_WITH(byte_replay(4, 4, 4, per::replay_options{}.alpha(-1.0)),
                        PER_CONTAINS("alpha = -1"));
    const std::size_t huge = std::numeric_limits<std::size_t>::max() / 2;
    REQUIRE_THROWS_AS(byte_replay(4, huge, 4), std::length_error);
    REQUIRE_THROWS_WITH(byte_replay(4, huge, 4), PER_CONTAINS("capacity = 4 must be <= "));
    REQUIRE_THROWS_AS(byte_replay(huge, 1, 4), std::length_error);
}

TEST_CASE("frame_stack_replay: bad input throws, naming the argument, and changes nothing",
          "[frame_stack][bad_input]") {
    byte_replay replay(5, 3, 2);
    const std::vector<std::uint8_t> frame{1, 2, 3}, short_frame{1, 2};
    const std::uint8_t* null_frame = nullptr;

    SECTION("push before any start_episode") {
        const snapshot before(replay);
        REQUIRE_THROWS_AS(replay.push(0, 0.0f, false, false, frame), std::logic_error);
        REQUIRE_THROWS_WITH(replay.push(0, 0.0f, false, false, frame),
                            PER_CONTAINS("per::frame_stack_replay::push: no episode was started: "
                                         "call start_episode(first_frame) before push"));
        REQUIRE(snapshot(replay) == before);
    }

    replay.start_episode(frame);
    for (int t = 0; t < 7; ++t) {
        replay.push(t, 0.5f, false, false, std::vector<std::uint8_t>{std::uint8_t(t), 9, 9});
    }
    const snapshot before(replay);
    std::vector<std::uint8_t> out(6);

    SECTION("push after the episode ended") {
        replay.push(1, 0.0f, true, false, frame);
        const snapshot ended(replay);
        REQUIRE_THROWS_AS(replay.push(0, 0.0f, false, false, frame), std::logic_error);
        REQUIRE_THROWS_WITH(replay.push(0, 0.0f, false, false, frame),
                            PER_CONTAINS("the episode ended (terminated or truncated)"));
        REQUIRE(snapshot(replay) == ended);
    }
    SECTION("frames: null or of the wrong size") {
        REQUIRE_THROWS_AS(replay.start_episode(null_frame), std::invalid_argument);
        REQUIRE_THROWS_WITH(replay.start_episode(null_frame),
                            PER_CONTAINS("first_frame = nullptr must point to frame_size() = 3"));
        REQUIRE_THROWS_WITH(replay.start_episode(short_frame),
                            PER_CONTAINS("first_frame.size() = 2 must equal frame_size() = 3"));
        REQUIRE_THROWS_WITH(replay.push(0, 0.0f, false, false, null_frame),
                            PER_CONTAINS("next_frame = nullptr"));
        REQUIRE_THROWS_WITH(replay.push(0, 0.0f, false, false, null_frame, 1.0),
                            PER_CONTAINS("next_frame = nullptr"));
        REQUIRE_THROWS_WITH(replay.push(0, 0.0f, false, false, short_frame),
                            PER_CONTAINS("next_frame.size() = 2 must equal frame_size() = 3"));
        REQUIRE(snapshot(replay) == before);
    }
    SECTION("reward and priority") {
        const float nan_reward = std::numeric_limits<float>::quiet_NaN();
        REQUIRE_THROWS_AS(replay.push(0, nan_reward, false, false, frame), std::invalid_argument);
        REQUIRE_THROWS_WITH(replay.push(0, nan_reward, false, false, frame),
                            PER_CONTAINS("reward = nan must be finite"));
        REQUIRE_THROWS_WITH(
            replay.push(0, std::numeric_limits<float>::infinity(), false, false, frame),
            PER_CONTAINS("reward = inf must be finite"));
        REQUIRE_THROWS_AS(replay.push(0, 0.0f, false, false, frame, -1.0), std::invalid_argument);
        REQUIRE_THROWS_WITH(replay.push(0, 0.0f, false, false, frame, -1.0),
                            PER_CONTAINS("push: priority = -1 must be finite and >= 0"));
        REQUIRE_THROWS_WITH(
            replay.push(0, 0.0f, false, false, frame, std::numeric_limits<double>::infinity()),
            PER_CONTAINS("priority = inf must be finite and >= 0"));
        // With alpha 2 the weight of 1e200 would overflow: above the sampler's priority limit.
        byte_replay steep(5, 3, 2, per::replay_options{}.alpha(2.0));
        steep.start_episode(frame);
        const snapshot steep_before(steep);
        REQUIRE_THROWS_AS(steep.push(0, 0.0f, false, false, frame, 1e200), std::invalid_argument);
        REQUIRE_THROWS_WITH(steep.push(0, 0.0f, false, false, frame, 1e200),
                            PER_CONTAINS("push: priority = 1e+200 must be <= "));
        REQUIRE(snapshot(steep) == steep_before);
        REQUIRE(snapshot(replay) == before);
    }
    SECTION("read") {
        REQUIRE_THROWS_AS(replay.read(5, out.data(), out.data()), std::out_of_range);
        REQUIRE_THROWS_WITH(replay.read(5, out.data(), out.data()),
                            PER_CONTAINS("slot = 5 must be < capacity() = 5"));
        byte_replay fresh(5, 3, 2);
        REQUIRE_THROWS_WITH(fresh.read(0, out.data(), out.data()),
                            PER_CONTAINS("slot = 0 holds no sampleable transition"));
        REQUIRE_THROWS_WITH(replay.read(0, nullptr, out.data()),
                            PER_CONTAINS("observation = nullptr must point to k * frame_size() "
                                         "= 6 elements"));
        REQUIRE_THROWS_WITH(replay.read(0, out.data(), nullptr),
                            PER_CONTAINS("next_observation = nullptr"));
    }
    SECTION("sample and update_priorities: the sampler's checks, batch and replay unchanged") {
        std::mt19937_64 rng(5);
        per::frame_stack_batch<std::uint8_t> batch;
        replay.sample(4, 0.5, rng, batch);
        const std::vector<std::uint8_t> batch_before = batch.observations();
        REQUIRE_THROWS_WITH(replay.sample(0, 0.5, rng, batch), PER_CONTAINS("batch_size = 0"));
        REQUIRE_THROWS_WITH(replay.sample(4, 1.5, rng, batch), PER_CONTAINS("beta = 1.5"));
        byte_replay empty(5, 3, 2);
        REQUIRE_THROWS_AS(empty.sample(4, 0.5, rng, batch), std::out_of_range);
        REQUIRE(batch.size() == 4);
        REQUIRE(batch.observations() == batch_before);
        const std::vector<double> priorities{1.0, -1.0};
        REQUIRE_THROWS_WITH(replay.update_priorities(batch.handles(), priorities),
                            PER_CONTAINS("priorities.size() = 2 must equal handles.size() = 4"));
        const std::vector<double> negative{1.0, 1.0, -1.0, 1.0};
        REQUIRE_THROWS_WITH(replay.update_priorities(batch.handles(), negative),
                            PER_CONTAINS("priorities[2] = -1"));
        REQUIRE(snapshot(replay) == before);
    }
    SECTION("a moved-from replay refuses pushes until assigned to") {
        byte_replay taken = std::move(replay);
        REQUIRE(snapshot(taken) == before);
        REQUIRE(replay.capacity() == 0);
        REQUIRE(replay.size() == 0);
        REQUIRE_FALSE(replay.in_episode());
        REQUIRE_THROWS_AS(replay.start_episode(frame), std::logic_error);
        REQUIRE_THROWS_AS(replay.push(0, 0.0f, false, false, frame), std::logic_error);
        replay = taken;
        REQUIRE(snapshot(replay) == before);
    }
}
