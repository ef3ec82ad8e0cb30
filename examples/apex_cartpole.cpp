// Ape-X on one machine (Horgan et al. 2018, "Distributed Prioritized Experience Replay"): K actor
// threads play CartPole and push transitions, with priorities they compute themselves, into one
// per::concurrent_replay; one learner thread samples prioritized batches from it, trains a
// LibTorch Double DQN, writes the new priorities back and publishes its parameters, which the
// actors pick up every so often.
//
// The parts that touch per are marked "per:" below. The environment, the network and the
// learner's update are those of cartpole_dqn.cpp run with --n-step 1 (the shared parts are in
// examples/cartpole.hpp), with the transitions as structs rather than tensor rows: the same
// 4-64-64-2 network, Adam 1e-3, Huber loss, 1-step Double DQN targets, soft target
// updates (tau 0.01), batches of 64, proportional replay with alpha 0.6, beta annealed from 0.4
// to 1 over the run. What Ape-X changes:
//
// - Actors. Actor i of K has its own CartPole, its own random numbers (seed * 1000 + i + 1) and
//   a fixed epsilon, eps_i = 0.4^(1 + 7 i / (K - 1)) (the paper's; with one actor, 0.4^8): from
//   0.4 for actor 0 down to 0.00066 for actor K - 1. It acts with its own copies of the online
//   and target networks, refreshed from the learner's latest published parameters (a
//   versioned snapshot the learner writes after every 20 updates, 36 KB copied under a mutex)
//   every 32 of its steps. The paper refreshes every 400 frames, which with its hundreds of
//   actors is a few dozen learner updates of lag; here 400 steps of one of 3 actors would be
//   about 150 updates (600 at --replay-ratio 32), so the interval is scaled down to keep the
//   lag near the paper's (--refresh changes it).
// - Priorities. An actor collects 16 transitions, computes their |TD error| with its copies
//   of the networks (per::dqn::td_loss: the learner's own Double DQN target, one batched
//   forward pass per network) and pushes the 16 with these priorities in one push_batch, where
//   single-threaded PER gives a new transition the largest priority so far (--max-priority
//   does that here).
// - Pacing. The replay's rate limit is per::rate_limit::sample_to_insert_ratio(8, 1000, ...):
//   the learner's first sample waits for 1000 transitions, and from then on it draws 8 items
//   per inserted transition, a batch of 64 per 8 environment steps, give or take one push
//   batch per actor plus one sample batch; actors that run ahead wait in push_batch, a learner
//   that runs ahead waits in sample. The single-threaded run draws a batch per 2 steps (32 per
//   transition): Ape-X's point is that acting is cheap and parallel, so the learner gets more,
//   fresher data per update, here paid for by the second core, which the learner leaves idle.
//   --replay-ratio 32 runs the single-threaded ratio instead (the same data per update). A
//   fixed ratio is also what keeps an experiment the same on an idle and on a busy machine:
//   without a limit, how much data the learner sees per update would depend on scheduling.
// - Shards. The buffer has 2 shards (proportional sampler, stratified sampling), so that a push
//   can go to one shard while the learner draws from the other. Each lock is held for
//   microseconds against the learner's millisecond updates, so with a handful of threads it
//   changes little here; --shards 1 gives one lock and exactly prioritized_replay's draws.
// - Shutdown. After its last update the learner calls close(): every actor waiting in
//   push_batch, or pushing later, gets replay_status::closed and returns; a thread that throws
//   closes the buffer too, so that the others stop, and its exception is reported once all are
//   joined.
//
// Determinism: every thread's random numbers are seeded, and so are the networks' initial
// weights, and the rate limit fixes how many items the learner draws per inserted transition.
// But which actor's transitions are in the buffer when the learner samples, and which
// parameter version an actor acts with, depend on thread scheduling: two Ape-X runs with the
// same seed differ. The single-threaded baseline does not.
//
// "Solved" is cartpole_dqn.cpp's criterion: a mean return of at least 475 over the last 20
// episodes. There, those are its training episodes, played with epsilon 0.05 once exploration
// has decayed; here they are the episodes of the actors with epsilon <= 0.05 (the
// single-threaded run's final epsilon), in the order they ended, so that a 0.4-epsilon actor,
// which could hardly average 475, does not count. (These actors act more greedily, 0.016 and
// 0.00066 for K = 3, which favours Ape-X; their parameters lag the learner's, which does not.)
// Time to solve is wall-clock time from the start of the run (buffer empty, threads started)
// to the end of the episode that completes that window.
//
// The comparison (dqn-1t in the output, or --actors 0 alone) is cartpole_dqn.cpp's one-step
// PER run in one thread, in this binary and build, with the same learner code and the same
// criterion on its training episodes, each timestamped as it ends. Its buffer is a
// concurrent_replay with one shard and no rate limit, which draws exactly what
// prioritized_replay draws, so the run is `cartpole_dqn --n-step 1`'s PER run for the same seed
// bit for bit (same episodes, same "solved at step"), timed per episode. A full run alternates
// the two for each seed, so that the load of the machine weighs on both. Running
// cartpole_dqn's binary instead would compare builds and processes, and it does not time its
// episodes.
//
//   apex_cartpole              the single-threaded run and Ape-X with 3 actors, 3 seeds each
//                              (about 3.5 minutes on two cores): time to solve, learner
//                              updates per second, actor environment steps per second
//   apex_cartpole --actors K   K actor threads (0: the single-threaded run only)
//   apex_cartpole --steps S    learner updates per run, in both (default 19500, the number the
//                              single-threaded example makes in its 40,000 environment steps)
//   apex_cartpole --quick      the ctest: a short run of each, exits 1 unless every thread
//                              ended cleanly, the losses stay finite, the learner made all its
//                              updates and the buffer's counts and priorities are consistent
//
// What to expect on two cores (the test preset's Debug build, LibTorch 1.13 with the reference
// BLAS): an update costs about 1.5 ms and an actor step well under 0.1 ms, so the learner is
// the bottleneck whatever K, and the actors spend about 90% of the run waiting in push_batch.
// The single-threaded run spends under a tenth of its time acting, which is all that running
// the actors beside the learner can save at the same data per update, and the learner thread
// loses about as much to sampling through the rate limiter and to sharing the caches with the
// actors: in our runs its updates per second were those of the single-threaded run (which
// acts too), about 500 to 700 depending on the machine's load, while the actors brought 4
// times the data (about 5000 environment steps per second). Within 19,500 updates Ape-X
// solved 2 of 5 seeds (3 actors; 2 and 4 actors: 1 and 0 of 3), the single-threaded run 3 of
// 5, in about the same time when both did (25 to 30 s): on this machine and this small
// problem, Ape-X does not solve CartPole sooner, and DQN's seed-to-seed spread is larger than
// any difference 5 seeds can show. Its gains need a learner that is not the bottleneck (more
// cores, a GPU, an environment that costs more than a network update).

#include <per/concurrent_replay.hpp>
#include <per/dqn_loss.hpp>
#include <per/per.hpp>

#include <torch/torch.h>

#include "cartpole.hpp"

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <limits>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

namespace {

using clock_type = std::chrono::steady_clock;

double seconds_since(clock_type::time_point start) {
    return std::chrono::duration<double>(clock_type::now() - start).count();
}

// The environment, the transition and the network: examples/cartpole.hpp.
using per_examples::blend_parameters;
using per_examples::cart_pole;
using per_examples::greedy_action;
using per_examples::observation;
using per_examples::portable_random;
using per_examples::q_network;
using per_examples::transition;
using per_examples::values_of;

// --- Settings ------------------------------------------------------------------------------

// cartpole_dqn.cpp's settings, counted in learner updates.
struct dqn_settings {
    std::uint64_t updates = 19'500;        // learner updates per run (--steps)
    std::uint64_t learning_starts = 1'000; // transitions in the buffer before the first update
    // The single-threaded run: epsilon from 1 down to 0.05 over its first 5000 steps, one
    // update every 2 environment steps from step 1000 on (1000 + 2 * 19500 = 40,000 steps).
    std::uint64_t exploration_steps = 5'000;
    double final_epsilon = 0.05;
    std::uint64_t steps_per_update = 2;
    std::size_t replay_capacity = 50'000;
    std::size_t batch_size = 64;
    int hidden_units = 64;
    double learning_rate = 1e-3;
    double gamma = 0.99;
    double target_smoothing = 0.01; // tau: the target moves 1% of the way after every update
    double alpha = 0.6;
};

struct apex_settings {
    int actors = 3;
    std::size_t shards = 2;
    std::size_t push_batch = 16;         // transitions per push_batch, priorities computed
    std::uint64_t refresh_interval = 32; // actor steps between parameter refreshes
    std::uint64_t publish_interval = 20; // learner updates between publications
    bool actor_priorities = true;        // false: pushes get max_priority(), as single-threaded PER
    double samples_per_insert = 8.0;     // a batch of 64 per 8 transitions (single-threaded: per 2)
    double epsilon_base = 0.4;           // eps_i = 0.4^(1 + 7 i / (K - 1))
    double epsilon_exponent = 7.0;
};

double actor_epsilon(const apex_settings& apex, int actor) {
    const double fraction =
        apex.actors > 1 ? static_cast<double>(actor) / static_cast<double>(apex.actors - 1) : 1.0;
    return std::pow(apex.epsilon_base, 1.0 + apex.epsilon_exponent * fraction);
}

per::dqn::td_loss_options loss_options(const dqn_settings& settings) {
    return per::dqn::td_loss_options{}
        .gamma(settings.gamma)
        .double_dqn(true)
        .loss(per::dqn::loss_kind::huber);
}

// --- The learner (cartpole_dqn.cpp's update) -----------------------------------------------

// A batch of transitions as tensors, storage reused from batch to batch.
struct batch_tensors {
    explicit batch_tensors(std::size_t rows)
        : states(torch::empty({static_cast<std::int64_t>(rows), 4}))
        , next_states(torch::empty({static_cast<std::int64_t>(rows), 4}))
        , actions(torch::empty({static_cast<std::int64_t>(rows)}, torch::kLong))
        , rewards(rows)
        , dones(rows) {}

    // items[0, rows): exactly as many as the tensors have rows.
    void fill(const transition* items) {
        float* state_values = states.data_ptr<float>();
        float* next_state_values = next_states.data_ptr<float>();
        std::int64_t* action_values = actions.data_ptr<std::int64_t>();
        for (std::size_t k = 0; k < rewards.size(); ++k) {
            const transition& item = items[k];
            std::copy(item.state.begin(), item.state.end(), state_values + 4 * k);
            std::copy(item.next_state.begin(), item.next_state.end(), next_state_values + 4 * k);
            action_values[k] = item.action;
            rewards[k] = item.reward;
            dones[k] = item.terminal ? 1.0f : 0.0f;
        }
    }

    torch::Tensor states;
    torch::Tensor next_states;
    torch::Tensor actions;
    std::vector<float> rewards;
    std::vector<float> dones;
};

// The online and target networks, Adam, and one Double DQN update per sampled batch. The
// networks' initial weights come from torch's global generator (seed it first).
class dqn_learner {
public:
    explicit dqn_learner(const dqn_settings& settings)
        : online(4, settings.hidden_units, 2)
        , target(4, settings.hidden_units, 2)
        , m_settings(settings)
        , m_optimizer(online->parameters(), torch::optim::AdamOptions(settings.learning_rate))
        , m_loss_options(loss_options(settings))
        , m_batch(settings.batch_size) {
        blend_parameters(online, target, 1.0); // start equal
    }

    // One update on `items` (batch_size of them) with importance weights `weights`; returns the
    // loss. priorities() then holds their new |TD errors|.
    float update(const transition* items, const std::vector<double>& weights) {
        const auto start = clock_type::now();
        m_batch.fill(items);
        // Q(s, a) for the actions taken, through autograd; the next states' values without.
        const torch::Tensor q_taken =
            online->forward(m_batch.states).gather(1, m_batch.actions.unsqueeze(1)).squeeze(1);
        torch::Tensor q_next_online;
        torch::Tensor q_next_target;
        {
            torch::NoGradGuard no_grad;
            q_next_online = online->forward(m_batch.next_states);
            q_next_target = target->forward(m_batch.next_states);
        }
        // per: Double DQN targets, TD errors, the importance-weighted Huber loss, its gradient
        // with respect to each Q(s, a), and the new priorities |delta|, in one call.
        m_result = per::dqn::td_loss(values_of(q_taken.detach()), values_of(q_next_target),
                                     m_batch.rewards, m_batch.dones, weights, m_loss_options,
                                     values_of(q_next_online));
        optimizer_step(q_taken);
        blend_parameters(online, target, m_settings.target_smoothing);
        m_seconds += seconds_since(start);
        return m_result.loss;
    }

    const std::vector<float>& priorities() const noexcept { return m_result.priorities; }
    // The seconds spent in update() so far.
    double seconds() const noexcept { return m_seconds; }

    q_network online;
    q_network target;

private:
    // The gradient enters autograd at q_taken: backward() carries it into the weights.
    void optimizer_step(const torch::Tensor& q_taken) {
        m_optimizer.zero_grad();
        q_taken.backward(torch::from_blob(m_result.gradient.data(),
                                          {static_cast<std::int64_t>(m_result.gradient.size())}));
        m_optimizer.step();
    }

    dqn_settings m_settings;
    torch::optim::Adam m_optimizer;
    per::dqn::td_loss_options m_loss_options;
    batch_tensors m_batch;
    per::dqn::loss_result<float> m_result;
    double m_seconds = 0.0;
};

// The mean greedy return (epsilon 0) over 10 fresh episodes.
double greedy_evaluation(q_network& network, portable_random& random) {
    constexpr int episodes = 10;
    cart_pole environment;
    double sum = 0.0;
    for (int episode = 0; episode < episodes; ++episode) {
        observation state = environment.reset(random);
        for (;;) {
            const cart_pole::step_result outcome = environment.step(greedy_action(network, state));
            sum += outcome.reward;
            if (outcome.terminated || outcome.truncated) {
                break;
            }
            state = outcome.next;
        }
    }
    return sum / episodes;
}

// --- What a run records --------------------------------------------------------------------

struct episode_record {
    double seconds = 0.0;      // wall-clock time from the start of the run to the episode's end
    std::uint64_t updates = 0; // learner updates done by then
    float episode_return = 0.0f;
    bool counts = true; // played with epsilon <= 0.05: part of the "solved" window
};

struct run_log {
    std::vector<episode_record> episodes; // in the order they ended
    std::uint64_t updates = 0;
    std::uint64_t environment_steps = 0;
    double seconds = 0.0;         // the whole run, without the final greedy evaluation
    double learner_seconds = 0.0; // from the learner's first update to its last
    double sample_seconds = 0.0;  // in sample() after the first update, waiting included
    double update_seconds = 0.0;  // in the learner's updates (forward, backward, Adam)
    double final_loss = 0.0;      // mean over the last 500 updates
    bool losses_finite = true;
    double greedy_return = 0.0;
    std::vector<std::string> failures; // broken invariants (the --quick check)
    struct actor_summary {
        double epsilon;
        std::uint64_t steps;
        std::size_t episodes;
        double last_mean; // of its last 20 episodes
        std::uint64_t refreshes;
        double waiting; // seconds in push_batch
    };
    std::vector<actor_summary> actors; // Ape-X only
};

constexpr std::size_t solve_window = 20; // episodes in the moving average
constexpr double solve_threshold = 475.0;

// The first counting episode after which the last 20 counting episodes average >= 475; null if
// never.
const episode_record* solved_at(const run_log& log) {
    std::vector<float> window;
    double sum = 0.0;
    for (const episode_record& episode : log.episodes) {
        if (!episode.counts) {
            continue;
        }
        window.push_back(episode.episode_return);
        sum += episode.episode_return;
        if (window.size() > solve_window) {
            sum -= window[window.size() - 1 - solve_window];
        }
        if (window.size() >= solve_window && sum / solve_window >= solve_threshold) {
            return &episode;
        }
    }
    return nullptr;
}

// The mean return of the last (up to) 20 counting episodes; 0 if none.
double last_mean(const run_log& log) {
    double sum = 0.0;
    std::size_t count = 0;
    for (auto it = log.episodes.rbegin(); it != log.episodes.rend() && count < solve_window; ++it) {
        if (it->counts) {
            sum += it->episode_return;
            ++count;
        }
    }
    return count > 0 ? sum / static_cast<double>(count) : 0.0;
}

// Adds a failure to the log unless `condition` holds.
void require(run_log& log, bool condition, const std::string& what) {
    if (!condition) {
        log.failures.push_back(what);
    }
}

// per: what must hold for a buffer that every thread has stopped using: the rate limiter's
// counts balance (nothing admitted and not completed), they match what the actors pushed and
// the learner drew, the sample-to-insert difference stayed in the limit's band, the buffer
// holds what was pushed, and every stored priority is finite and >= 0.
void check_replay(run_log& log, const per::concurrent_replay<transition>& replay,
                  std::uint64_t pushed, std::uint64_t sampled) {
    require(log, replay.closed(), "the buffer is not closed");
    const std::size_t size = replay.size();
    const std::size_t capacity = replay.capacity();
    if (pushed <= capacity / 2) {
        require(log, size == pushed,
                "size() = " + std::to_string(size) + " != " + std::to_string(pushed) + " pushed");
    } else {
        require(log, size <= capacity && size >= capacity / 2,
                "size() = " + std::to_string(size) + " for capacity " + std::to_string(capacity));
    }
    if (replay.limit().limited()) {
        const per::rate_counters counts = replay.rate_counts();
        require(log, counts.inserts_admitted == counts.inserts_completed,
                "inserts admitted and never completed");
        require(log, counts.samples_admitted == counts.samples_completed,
                "samples admitted and never completed");
        require(log, counts.inserts_completed == pushed,
                "the limiter counted " + std::to_string(counts.inserts_completed) +
                    " inserts, the actors pushed " + std::to_string(pushed));
        require(log, counts.samples_completed == sampled,
                "the limiter counted " + std::to_string(counts.samples_completed) +
                    " samples, the learner drew " + std::to_string(sampled));
        const double diff =
            static_cast<double>(counts.inserts_completed) * replay.limit().samples_per_insert() -
            static_cast<double>(counts.samples_completed);
        require(log,
                sampled == 0 ||
                    (diff >= replay.limit().min_diff() && diff <= replay.limit().max_diff()),
                "inserts * samples_per_insert - samples = " + std::to_string(diff) +
                    " is outside the limit's band");
    }
    bool finite = std::isfinite(replay.max_priority());
    for (std::size_t s = 0; s < replay.shards(); ++s) {
        finite = finite && replay.inspect(s, [](const auto& shard) {
            for (std::size_t slot = 0; slot < shard.size(); ++slot) {
                const double priority = shard.priority(slot);
                if (!(std::isfinite(priority) && priority >= 0.0)) {
                    return false;
                }
            }
            return true;
        });
    }
    require(log, finite, "a stored priority is not finite");
}

// --- The single-threaded baseline (cartpole_dqn.cpp's one-step PER run) --------------------

run_log train_single_threaded(const dqn_settings& settings, std::uint64_t seed) {
    torch::manual_seed(seed); // the networks' initial weights
    portable_random environment_random(seed);
    std::mt19937_64 replay_engine(seed + 1'000'003); // per: the buffer's draws
    dqn_learner learner(settings);

    // per: one shard and no rate limit: prioritized_replay's draws, behind an uncontended lock.
    per::concurrent_replay<transition> buffer(settings.replay_capacity,
                                              per::replay_options{}.alpha(settings.alpha));
    const std::uint64_t steps =
        settings.learning_starts + settings.steps_per_update * settings.updates;
    const per::linear_schedule beta(0.4, 1.0, steps);
    const per::linear_schedule epsilon(1.0, settings.final_epsilon, settings.exploration_steps);
    per::concurrent_batch<transition> batch;

    run_log log;
    double final_loss_sum = 0.0;
    std::uint64_t final_updates = 0;
    cart_pole environment;
    observation state = environment.reset(environment_random);
    float episode_return = 0.0f;
    double first_update = 0.0;
    const auto start = clock_type::now();
    for (std::uint64_t step = 0; step < steps; ++step) {
        const int action = environment_random.uniform() < epsilon(step)
                               ? environment_random.coin()
                               : greedy_action(learner.online, state);
        const cart_pole::step_result outcome = environment.step(action);
        buffer.push({state, action, outcome.reward, outcome.next, outcome.terminated}); // per
        episode_return += outcome.reward;
        if (outcome.terminated || outcome.truncated) {
            log.episodes.push_back({seconds_since(start), log.updates, episode_return, true});
            episode_return = 0.0f;
            state = environment.reset(environment_random);
        } else {
            state = outcome.next;
        }
        if (step < settings.learning_starts || step % settings.steps_per_update != 0) {
            continue;
        }
        if (log.updates == 0) {
            first_update = seconds_since(start);
        }
        // per: a prioritized batch, trained on, and the new priorities written back.
        const auto sample_start = clock_type::now();
        buffer.sample(settings.batch_size, beta(step), replay_engine, batch);
        if (log.updates > 0) {
            log.sample_seconds += seconds_since(sample_start);
        }
        const float loss = learner.update(batch.items().data(), batch.weights());
        buffer.update_priorities(batch.handles(), learner.priorities());
        ++log.updates;
        log.losses_finite = log.losses_finite && std::isfinite(loss);
        if (settings.updates - log.updates < 500) {
            final_loss_sum += loss;
            ++final_updates;
        }
    }
    log.seconds = seconds_since(start);
    log.learner_seconds = log.seconds - first_update;
    log.update_seconds = learner.seconds();
    log.environment_steps = steps;
    log.final_loss = final_updates > 0 ? final_loss_sum / static_cast<double>(final_updates) : 0.0;
    buffer.close();
    check_replay(log, buffer, steps, 0);
    require(log, log.updates == settings.updates,
            std::to_string(log.updates) + " updates, not " + std::to_string(settings.updates));
    log.greedy_return = greedy_evaluation(learner.online, environment_random);
    return log;
}

// --- Ape-X ---------------------------------------------------------------------------------

// The learner's latest parameters for the actors: a versioned snapshot. The learner copies its
// networks' parameters in (publish), an actor copies them out into its own networks (fetch),
// both under one mutex held for the copy of about 9,000 floats; version() lets an actor see
// without locking whether there is anything new.
class parameter_store {
public:
    parameter_store(const q_network& online, const q_network& target) {
        torch::NoGradGuard no_grad;
        for (const torch::Tensor& parameter : online->parameters()) {
            m_online.push_back(parameter.detach().clone());
        }
        for (const torch::Tensor& parameter : target->parameters()) {
            m_target.push_back(parameter.detach().clone());
        }
    }

    void publish(const q_network& online, const q_network& target) {
        torch::NoGradGuard no_grad;
        const std::lock_guard<std::mutex> lock(m_mutex);
        copy(online->parameters(), m_online);
        copy(target->parameters(), m_target);
        m_version.store(m_version.load(std::memory_order_relaxed) + 1, std::memory_order_release);
    }

    std::uint64_t version() const noexcept { return m_version.load(std::memory_order_acquire); }

    // Copies the latest parameters into the given networks; returns their version.
    std::uint64_t fetch(q_network& online, q_network& target) const {
        torch::NoGradGuard no_grad;
        const std::lock_guard<std::mutex> lock(m_mutex);
        std::vector<torch::Tensor> online_parameters = online->parameters();
        std::vector<torch::Tensor> target_parameters = target->parameters();
        copy(m_online, online_parameters);
        copy(m_target, target_parameters);
        return m_version.load(std::memory_order_relaxed);
    }

private:
    static void copy(const std::vector<torch::Tensor>& from, std::vector<torch::Tensor>& to) {
        for (std::size_t i = 0; i < from.size(); ++i) {
            to[i].copy_(from[i]);
        }
    }

    mutable std::mutex m_mutex;
    std::vector<torch::Tensor> m_online;
    std::vector<torch::Tensor> m_target;
    std::atomic<std::uint64_t> m_version{0};
};

// What one thread reports; written by that thread only, read by the main thread after join().
struct thread_report {
    std::exception_ptr error;
    bool finished = false; // the thread function returned (normally or after an exception)
};

struct actor_report : thread_report {
    double epsilon = 0.0;
    std::uint64_t steps = 0;
    std::uint64_t pushed = 0; // transitions pushed with status ok
    std::uint64_t refreshes = 0;
    double waiting = 0.0; // seconds spent in push_batch
    std::vector<episode_record> episodes;
};

struct learner_report : thread_report {
    std::uint64_t updates = 0;
    double first_update = 0.0; // seconds since the start of the run
    double last_update = 0.0;
    double waiting = 0.0; // seconds spent in sample after the first update
    double final_loss_sum = 0.0;
    std::uint64_t final_updates = 0;
    bool losses_finite = true;
};

// Everything the threads of a run share: the buffer, the parameters, the learner's progress.
struct shared_state {
    per::concurrent_replay<transition>& replay;
    parameter_store& parameters;
    std::atomic<std::uint64_t> updates{0}; // learner updates done, for the episode records
    clock_type::time_point start;
};

// Runs body(); on an exception, keeps it in the report and closes the buffer, so that every
// other thread stops too.
template <class Body>
void run_thread(thread_report& report, shared_state& shared, Body body) {
    try {
        torch::set_num_threads(1); // this thread's LibTorch operations stay in this thread
        body();
    } catch (...) {
        report.error = std::current_exception();
        shared.replay.close();
    }
    report.finished = true;
}

// One actor: epsilon-greedy steps with its copies of the networks, pushes of push_batch
// transitions with priorities computed by those copies, a refresh of the copies every
// refresh_interval steps. Returns when the buffer is closed.
void act(const dqn_settings& settings, const apex_settings& apex, std::uint64_t seed,
         q_network online, q_network target, shared_state& shared, actor_report& report) {
    portable_random random(seed);
    const per::dqn::td_loss_options options = loss_options(settings);
    batch_tensors tensors(apex.push_batch);
    std::vector<transition> pending;
    pending.reserve(apex.push_batch);
    std::uint64_t version = shared.parameters.fetch(online, target);
    cart_pole environment;
    observation state = environment.reset(random);
    float episode_return = 0.0f;
    while (!shared.replay.closed()) {
        if (report.steps % apex.refresh_interval == 0 && shared.parameters.version() != version) {
            version = shared.parameters.fetch(online, target);
            ++report.refreshes;
        }
        const int action =
            random.uniform() < report.epsilon ? random.coin() : greedy_action(online, state);
        const cart_pole::step_result outcome = environment.step(action);
        ++report.steps;
        pending.push_back({state, action, outcome.reward, outcome.next, outcome.terminated});
        episode_return += outcome.reward;
        if (outcome.terminated || outcome.truncated) {
            report.episodes.push_back({seconds_since(shared.start),
                                       shared.updates.load(std::memory_order_relaxed),
                                       episode_return, report.epsilon <= settings.final_epsilon});
            episode_return = 0.0f;
            state = environment.reset(random);
        } else {
            state = outcome.next;
        }
        if (pending.size() < apex.push_batch) {
            continue;
        }
        // The transitions' |TD errors| by this actor's networks: the learner's Double DQN
        // target, one batched forward pass per network, no importance weights.
        tensors.fill(pending.data());
        per::dqn::loss_result<float> result;
        if (apex.actor_priorities) {
            torch::NoGradGuard no_grad;
            const torch::Tensor q_taken =
                online->forward(tensors.states).gather(1, tensors.actions.unsqueeze(1)).squeeze(1);
            const torch::Tensor q_next_online = online->forward(tensors.next_states);
            const torch::Tensor q_next_target = target->forward(tensors.next_states);
            result = per::dqn::td_loss(values_of(q_taken), values_of(q_next_target),
                                       tensors.rewards, tensors.dones, per::dqn::no_weights,
                                       options, values_of(q_next_online));
        }
        // per: the batch and its priorities, waiting while the learner is behind the ratio.
        const auto push_start = clock_type::now();
        const per::replay_status status =
            apex.actor_priorities
                ? shared.replay.push_batch(pending.data(), result.priorities.data(), pending.size())
                : shared.replay.push_batch(pending.data(), pending.size()); // max_priority()
        report.waiting += seconds_since(push_start);
        if (status != per::replay_status::ok) {
            break; // closed: the learner is done (the pending batch is dropped)
        }
        report.pushed += pending.size();
        pending.clear();
    }
}

// The learner: samples, updates, writes priorities back, publishes every publish_interval
// updates; after the last update, closes the buffer.
void learn(const dqn_settings& settings, const apex_settings& apex, std::uint64_t seed,
           dqn_learner& learner, shared_state& shared, learner_report& report) {
    std::mt19937_64 replay_engine(seed + 1'000'003); // per: the buffer's draws
    const per::linear_schedule beta(0.4, 1.0, settings.updates);
    per::concurrent_batch<transition> batch;
    for (std::uint64_t update = 0; update < settings.updates; ++update) {
        const auto sample_start = clock_type::now();
        // per: waits for the first 1000 transitions, then whenever the actors are behind.
        const per::replay_status status =
            shared.replay.sample(settings.batch_size, beta(update), replay_engine, batch);
        if (status != per::replay_status::ok) {
            break; // closed: an actor failed
        }
        if (update == 0) {
            report.first_update = seconds_since(shared.start);
        } else {
            report.waiting += seconds_since(sample_start);
        }
        const float loss = learner.update(batch.items().data(), batch.weights());
        shared.replay.update_priorities(batch.handles(), learner.priorities()); // per
        report.updates = update + 1;
        shared.updates.store(report.updates, std::memory_order_relaxed);
        report.losses_finite = report.losses_finite && std::isfinite(loss);
        if (settings.updates - report.updates < 500) {
            report.final_loss_sum += loss;
            ++report.final_updates;
        }
        if (report.updates % apex.publish_interval == 0) {
            shared.parameters.publish(learner.online, learner.target);
        }
    }
    report.last_update = seconds_since(shared.start);
    shared.replay.close(); // per: every actor's push returns closed from now on
}

run_log train_apex(const dqn_settings& settings, const apex_settings& apex, std::uint64_t seed) {
    torch::manual_seed(seed); // the learner's initial weights (the actors get copies)
    dqn_learner learner(settings);
    parameter_store parameters(learner.online, learner.target);
    std::vector<q_network> actor_networks;
    for (int i = 0; i < 2 * apex.actors; ++i) {
        actor_networks.emplace_back(4, settings.hidden_units, 2); // overwritten by fetch
    }

    // per: the buffer, paced at samples_per_insert items drawn per transition pushed once 1000
    // are in, give or take one push batch per actor plus one sample batch.
    const double error_buffer = static_cast<double>(apex.actors) *
                                    static_cast<double>(apex.push_batch) * apex.samples_per_insert +
                                static_cast<double>(settings.batch_size);
    per::concurrent_replay<transition> replay(
        settings.replay_capacity, per::replay_options{}.alpha(settings.alpha),
        per::concurrent_options{}
            .shards(apex.shards)
            .limit(per::rate_limit::sample_to_insert_ratio(
                apex.samples_per_insert, settings.learning_starts, error_buffer)));

    shared_state shared{replay, parameters, {}, clock_type::now()};
    learner_report learner_log;
    std::vector<actor_report> actor_logs(static_cast<std::size_t>(apex.actors));
    std::vector<std::thread> threads;
    try {
        threads.emplace_back([&] {
            run_thread(learner_log, shared,
                       [&] { learn(settings, apex, seed, learner, shared, learner_log); });
        });
        for (int i = 0; i < apex.actors; ++i) {
            actor_report& report = actor_logs[static_cast<std::size_t>(i)];
            report.epsilon = actor_epsilon(apex, i);
            const std::uint64_t actor_seed = seed * 1000 + static_cast<std::uint64_t>(i) + 1;
            q_network online = actor_networks[static_cast<std::size_t>(2 * i)];
            q_network target = actor_networks[static_cast<std::size_t>(2 * i + 1)];
            threads.emplace_back([&, online, target, actor_seed] {
                run_thread(report, shared, [&] {
                    act(settings, apex, actor_seed, online, target, shared, report);
                });
            });
        }
    } catch (...) {
        replay.close(); // a thread could not be started: stop those that were
        for (std::thread& thread : threads) {
            thread.join();
        }
        throw;
    }
    for (std::thread& thread : threads) {
        thread.join();
    }

    run_log log;
    log.seconds = seconds_since(shared.start);
    // A thread's exception is the run's: the first one, learner first, is rethrown.
    if (learner_log.error) {
        std::rethrow_exception(learner_log.error);
    }
    for (const actor_report& report : actor_logs) {
        if (report.error) {
            std::rethrow_exception(report.error);
        }
    }

    std::uint64_t pushed = 0;
    for (const actor_report& report : actor_logs) {
        log.environment_steps += report.steps;
        pushed += report.pushed;
        log.episodes.insert(log.episodes.end(), report.episodes.begin(), report.episodes.end());
        double sum = 0.0;
        const std::size_t last = std::min(report.episodes.size(), solve_window);
        for (std::size_t e = report.episodes.size() - last; e < report.episodes.size(); ++e) {
            sum += report.episodes[e].episode_return;
        }
        log.actors.push_back({report.epsilon, report.steps, report.episodes.size(),
                              last > 0 ? sum / static_cast<double>(last) : 0.0, report.refreshes,
                              report.waiting});
        require(log, report.finished, "an actor did not finish");
        require(log, report.pushed > 0, "an actor pushed nothing");
    }
    std::stable_sort(
        log.episodes.begin(), log.episodes.end(),
        [](const episode_record& a, const episode_record& b) { return a.seconds < b.seconds; });
    log.updates = learner_log.updates;
    log.learner_seconds = learner_log.last_update - learner_log.first_update;
    log.update_seconds = learner.seconds();
    log.sample_seconds = learner_log.waiting;
    log.losses_finite = learner_log.losses_finite;
    log.final_loss =
        learner_log.final_updates > 0
            ? learner_log.final_loss_sum / static_cast<double>(learner_log.final_updates)
            : 0.0;
    require(log, learner_log.finished, "the learner did not finish");
    require(log, log.updates == settings.updates,
            std::to_string(log.updates) + " updates, not " + std::to_string(settings.updates));
    check_replay(log, replay, pushed, log.updates * settings.batch_size);
    portable_random evaluation_random(seed);
    log.greedy_return = greedy_evaluation(learner.online, evaluation_random);
    return log;
}

// --- Reporting -----------------------------------------------------------------------------

struct options {
    dqn_settings settings;
    apex_settings apex;
    int seeds = 3;
    bool baseline = true; // also run the single-threaded baseline
    bool quick = false;
};

[[noreturn]] void usage(const char* program, const char* problem) {
    if (problem) {
        std::fprintf(stderr, "%s: %s\n", program, problem);
    }
    std::fprintf(stderr,
                 "usage: %s [--quick] [--actors K] [--steps S] [--seeds N] [--shards S]\n"
                 "          [--replay-ratio R] [--refresh N] [--max-priority] [--no-baseline]\n"
                 "  --actors        actor threads, default 3; 0: the single-threaded run only\n"
                 "  --steps         learner updates per run, default 19500\n"
                 "  --seeds         runs per method, default 3\n"
                 "  --shards        shards of the Ape-X buffer, default 2\n"
                 "  --replay-ratio  items sampled per transition inserted (Ape-X), default 8\n"
                 "  --refresh       actor steps between parameter refreshes, default 32\n"
                 "  --max-priority  actors push with the buffer's max priority, not their own\n"
                 "  --no-baseline   Ape-X only, without the single-threaded runs\n"
                 "  --quick         a short run of each: exit 1 unless every thread ended\n"
                 "                  cleanly, losses stay finite and the buffer is consistent\n",
                 program);
    std::exit(problem ? 2 : 0);
}

options parse_options(int argc, char** argv) {
    options result;
    auto number = [&](int& i, bool zero_allowed) {
        if (i + 1 >= argc) {
            usage(argv[0], (std::string(argv[i]) + " needs a value").c_str());
        }
        char* end = nullptr;
        const unsigned long long value = std::strtoull(argv[++i], &end, 10);
        if (end == argv[i] || *end != '\0' || (value == 0 && !zero_allowed) || value > 1'000'000) {
            usage(argv[0], (std::string("not a valid count: ") + argv[i]).c_str());
        }
        return value;
    };
    bool steps_given = false;
    for (int i = 1; i < argc; ++i) {
        const std::string argument = argv[i];
        if (argument == "--quick") {
            result.quick = true;
        } else if (argument == "--actors") {
            result.apex.actors = static_cast<int>(number(i, true));
        } else if (argument == "--steps") {
            result.settings.updates = number(i, false);
            steps_given = true;
        } else if (argument == "--seeds") {
            result.seeds = static_cast<int>(number(i, false));
        } else if (argument == "--shards") {
            result.apex.shards = static_cast<std::size_t>(number(i, false));
        } else if (argument == "--max-priority") {
            result.apex.actor_priorities = false;
        } else if (argument == "--no-baseline") {
            result.baseline = false;
        } else if (argument == "--refresh") {
            result.apex.refresh_interval = number(i, false);
        } else if (argument == "--replay-ratio") {
            result.apex.samples_per_insert = static_cast<double>(number(i, false));
        } else if (argument == "--help" || argument == "-h") {
            usage(argv[0], nullptr);
        } else {
            usage(argv[0], ("unknown argument: " + argument).c_str());
        }
    }
    if (result.quick) {
        result.seeds = 1;
        result.settings.learning_starts = 200;
        result.settings.exploration_steps = 1'000;
        result.settings.updates = steps_given ? result.settings.updates : 400;
    }
    if (result.apex.actors > 64) {
        usage(argv[0], "--actors must be at most 64");
    }
    return result;
}

void print_row(const char* method, int seed, const run_log& log) {
    const episode_record* solved = solved_at(log);
    char solved_seconds[32] = "-";
    char solved_updates[32] = "-";
    if (solved) {
        std::snprintf(solved_seconds, sizeof solved_seconds, "%.1f", solved->seconds);
        std::snprintf(solved_updates, sizeof solved_updates, "%llu",
                      static_cast<unsigned long long>(solved->updates));
    }
    const double learner_rate =
        log.learner_seconds > 0.0 ? static_cast<double>(log.updates) / log.learner_seconds : 0.0;
    const double milliseconds_per_update =
        log.updates > 0 ? 1000.0 * log.update_seconds / static_cast<double>(log.updates) : 0.0;
    std::printf(
        "%-10s %4d %8zu %9llu %8llu %10s %10s %8.1f %7.1f %9.4f %8.1f %9.0f %9.0f %7.2f %6.0f%%\n",
        method, seed, log.episodes.size(), static_cast<unsigned long long>(log.environment_steps),
        static_cast<unsigned long long>(log.updates), solved_seconds, solved_updates,
        last_mean(log), log.greedy_return, log.final_loss, log.seconds, learner_rate,
        static_cast<double>(log.environment_steps) / log.seconds, milliseconds_per_update,
        log.learner_seconds > 0.0 ? 100.0 * log.sample_seconds / log.learner_seconds : 0.0);
    std::fflush(stdout);
}

// Seconds from the start of the run to solving; infinity if it never solved.
double time_to_solve(const run_log& log) {
    const episode_record* solved = solved_at(log);
    return solved ? solved->seconds : std::numeric_limits<double>::infinity();
}

// The median (infinity counts as a value, larger than any other); 0 for none.
double median(std::vector<double> values) {
    if (values.empty()) {
        return 0.0;
    }
    std::sort(values.begin(), values.end());
    const std::size_t n = values.size();
    return n % 2 == 1 ? values[n / 2] : 0.5 * (values[n / 2 - 1] + values[n / 2]);
}

int run_experiment(const options& config) {
    const dqn_settings& settings = config.settings;
    const apex_settings& apex = config.apex;
    std::printf("CartPole-v1, Double DQN: 4-%d-%d-2 network, Adam %g, Huber loss, batch %zu, soft "
                "target updates tau %g,\nproportional replay alpha %g, beta 0.4 -> 1; %llu learner "
                "updates per run, %d seeds\n",
                settings.hidden_units, settings.hidden_units, settings.learning_rate,
                settings.batch_size, settings.target_smoothing, settings.alpha,
                static_cast<unsigned long long>(settings.updates), config.seeds);
    std::printf("dqn-1t: one thread, epsilon 1 -> %g over %llu steps, an update every %llu steps "
                "from step %llu\n",
                settings.final_epsilon, static_cast<unsigned long long>(settings.exploration_steps),
                static_cast<unsigned long long>(settings.steps_per_update),
                static_cast<unsigned long long>(settings.learning_starts));
    if (apex.actors > 0) {
        std::printf("apex-%d: %d actor threads (epsilon", apex.actors, apex.actors);
        for (int i = 0; i < apex.actors; ++i) {
            std::printf(" %.3g", actor_epsilon(apex, i));
        }
        std::printf("), a learner thread; %zu shards, %g samples per insert after %llu, pushes of "
                    "%zu,\nrefresh every %llu actor steps, publish every %llu updates\n",
                    apex.shards, apex.samples_per_insert,
                    static_cast<unsigned long long>(settings.learning_starts), apex.push_batch,
                    static_cast<unsigned long long>(apex.refresh_interval),
                    static_cast<unsigned long long>(apex.publish_interval));
    }
    std::printf("solved: the last %zu episodes with epsilon <= %g average >= %g; time from the "
                "run's start\n\n",
                solve_window, settings.final_epsilon, solve_threshold);
    std::printf("%-10s %4s %8s %9s %8s %10s %10s %8s %7s %9s %8s %9s %9s %7s %7s\n", "method",
                "seed", "episodes", "env steps", "updates", "solved (s)", "at update", "last-20",
                "greedy", "loss", "seconds", "updates/s", "steps/s", "ms/upd", "sample");

    char apex_name[32];
    std::snprintf(apex_name, sizeof apex_name, "apex-%d", apex.actors);
    std::vector<double> single_times;
    std::vector<double> apex_times;
    bool ok = true;
    auto check = [&](const char* method, int seed, const run_log& log) {
        if (!log.losses_finite) {
            std::printf("FAIL: %s seed %d: a non-finite loss\n", method, seed);
            ok = false;
        }
        for (const std::string& failure : log.failures) {
            std::printf("FAIL: %s seed %d: %s\n", method, seed, failure.c_str());
            ok = false;
        }
    };
    for (int seed = 1; seed <= config.seeds; ++seed) {
        const auto seed64 = static_cast<std::uint64_t>(seed);
        if (config.baseline || apex.actors == 0) {
            const run_log single = train_single_threaded(settings, seed64);
            print_row("dqn-1t", seed, single);
            check("dqn-1t", seed, single);
            single_times.push_back(time_to_solve(single));
        }
        if (apex.actors == 0) {
            continue;
        }
        const run_log parallel = train_apex(settings, apex, seed64);
        print_row(apex_name, seed, parallel);
        check(apex_name, seed, parallel);
        apex_times.push_back(time_to_solve(parallel));
        for (std::size_t i = 0; i < parallel.actors.size(); ++i) {
            const run_log::actor_summary& actor = parallel.actors[i];
            std::printf("  actor %zu: epsilon %.3g, %llu steps (%.0f/s), %zu episodes, last-20 "
                        "%.1f, %llu refreshes, %.0f%% of the run waiting in push_batch\n",
                        i, actor.epsilon, static_cast<unsigned long long>(actor.steps),
                        static_cast<double>(actor.steps) / parallel.seconds, actor.episodes,
                        actor.last_mean, static_cast<unsigned long long>(actor.refreshes),
                        100.0 * actor.waiting / parallel.seconds);
        }
    }

    // Medians over all seeds, a run that never solved counting as slower than any that did:
    // a median over the solved runs alone would flatter a method that solves less often.
    std::printf("\nwall-clock seconds to solve, per seed (-: not solved in the run), and the "
                "median over all seeds:\n");
    auto summary = [](const char* method, const std::vector<double>& times) {
        std::printf("  %-10s", method);
        for (const double time : times) {
            if (std::isfinite(time)) {
                std::printf(" %6.1f", time);
            } else {
                std::printf(" %6s", "-");
            }
        }
        const double middle = median(times);
        if (std::isfinite(middle)) {
            std::printf("   median %.1f\n", middle);
        } else {
            std::printf("   median: not solved\n");
        }
    };
    if (config.baseline || apex.actors == 0) {
        summary("dqn-1t", single_times);
    }
    if (apex.actors > 0) {
        summary(apex_name, apex_times);
        if (!single_times.empty() && std::isfinite(median(single_times)) &&
            std::isfinite(median(apex_times))) {
            std::printf("  speed-up of the medians: %.2fx\n",
                        median(single_times) / median(apex_times));
        }
    }
    if (config.quick) {
        std::printf(ok ? "quick check passed\n" : "quick check FAILED\n");
    }
    return ok ? 0 : 1;
}

} // namespace

int main(int argc, char** argv) {
    const options config = parse_options(argc, argv);
    // One intra-op thread: the parallelism is the actors' and the learner's threads, and small
    // batches gain nothing from more.
    torch::set_num_threads(1);
    try {
        return run_experiment(config);
    } catch (const std::exception& error) {
        // A thread's exception ends up here (per::dqn::td_loss rejects non-finite Q-values,
        // per::concurrent_replay bad arguments), after every thread was joined.
        std::fprintf(stderr, "error: %s\n", error.what());
        return 1;
    }
}
