// DQN on CartPole with prioritized replay: a LibTorch network, a per::prioritized_replay buffer
// and per::dqn::td_loss, put together as a LibTorch user would.
//
// The parts that touch per are marked "per:" below; the rest is a plain DQN (Mnih et al. 2015)
// with Double DQN targets (van Hasselt et al. 2016, the learner of the PER paper's
// Algorithm 1): epsilon-greedy exploration, a target network that trails the online one
// (soft updates), Adam, the Huber loss. Uniform replay is the same program with alpha = 0: every
// priority weight is then 1, so sampling is uniform and every importance weight is 1.
//
//   cartpole_dqn               uniform vs PER, 5 seeds each (about 4 minutes): episodes to
//                              solve, learning curves
//   cartpole_dqn --csv FILE    ... and every episode's return as a CSV row (plot_cartpole_dqn.py)
//   cartpole_dqn --quick       the ctest: a short run of each, exits 1 unless the losses are
//                              finite and learning happened
//
// The environment is the classic cart-pole of Barto, Sutton and Anderson (1983) with the
// constants, Euler integration and limits of Gym's CartPole-v1, written out below so that the
// example needs nothing but LibTorch and per. "Solved" is CartPole-v1's threshold, a mean
// return of at least 475 (out of 500), here over the last 20 training episodes.

#include <per/dqn_loss.hpp>
#include <per/per.hpp>

#include <torch/torch.h>

#include "cartpole.hpp"

#include <algorithm>
#include <array>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <fstream>
#include <limits>
#include <random>
#include <string>
#include <vector>

namespace {

// The environment, the transition and the network: examples/cartpole.hpp.
using per_examples::blend_parameters;
using per_examples::cart_pole;
using per_examples::greedy_action;
using per_examples::observation;
using per_examples::portable_random;
using per_examples::q_network;
using per_examples::transition;
using per_examples::values_of;

// --- Training ------------------------------------------------------------------------------

struct dqn_settings {
    std::uint64_t steps = 40'000;            // environment steps per run
    std::uint64_t learning_starts = 1'000;   // random actions, no updates, until then
    std::uint64_t exploration_steps = 5'000; // epsilon from 1 down to its final value
    double final_epsilon = 0.05;
    // One update (of batch_size transitions) every 2 environment steps halves the cost of
    // training; DQN's usual ratio is lower still (the PER paper's Atari agents: one per 4).
    std::uint64_t steps_per_update = 2;
    std::size_t replay_capacity = 50'000;
    std::size_t batch_size = 64;
    // 4-64-64-2: wide enough for CartPole, and cheap with the reference BLAS that Debian's
    // LibTorch uses by default (4-128-128-2 costs about 4 times as much per update there).
    int hidden_units = 64;
    double learning_rate = 1e-3;
    double gamma = 0.99;
    double target_smoothing = 0.01; // tau: the target moves 1% of the way after every update
};

struct training_log {
    std::vector<float> episode_returns;
    std::vector<std::uint64_t> episode_end_steps; // environment steps when each episode ended
    std::uint64_t updates = 0;
    double final_loss = 0.0; // mean over the updates of the last 1000 environment steps
    bool losses_finite = true;
    double greedy_return = 0.0; // mean over evaluation episodes after training, epsilon 0
    double seconds = 0.0;
};

// One DQN run. alpha 0 is uniform replay, alpha 0.6 the PER paper's proportional variant.
training_log train(const dqn_settings& settings, double alpha, std::uint64_t seed) {
    const auto start = std::chrono::steady_clock::now();
    torch::manual_seed(seed); // the networks' initial weights
    portable_random environment_random(seed);
    std::mt19937_64 replay_engine(seed + 1'000'003); // per: the buffer's draws

    q_network online(4, settings.hidden_units, 2);
    q_network target(4, settings.hidden_units, 2);
    blend_parameters(online, target, 1.0); // start equal
    torch::optim::Adam optimizer(online->parameters(),
                                 torch::optim::AdamOptions(settings.learning_rate));

    // per: the buffer, and beta annealed from 0.4 to 1 over the whole run (the paper's
    // schedule; with alpha 0 every importance weight is 1 whatever beta).
    per::prioritized_replay<transition> buffer(settings.replay_capacity,
                                               per::replay_options{}.alpha(alpha));
    const per::linear_schedule beta(0.4, 1.0, settings.steps);
    const per::linear_schedule epsilon(1.0, settings.final_epsilon, settings.exploration_steps);
    const auto loss_options = per::dqn::td_loss_options{}
                                  .gamma(settings.gamma)
                                  .double_dqn(true)
                                  .loss(per::dqn::loss_kind::huber);

    const auto rows = static_cast<std::int64_t>(settings.batch_size);
    per::replay_batch<transition> batch; // reused: no allocation per step
    torch::Tensor states = torch::empty({rows, 4});
    torch::Tensor next_states = torch::empty({rows, 4});
    torch::Tensor actions = torch::empty({rows}, torch::kLong);
    std::vector<float> rewards(settings.batch_size);
    std::vector<float> dones(settings.batch_size);

    training_log log;
    double final_loss_sum = 0.0;
    std::uint64_t final_updates = 0;
    cart_pole environment;
    observation state = environment.reset(environment_random);
    float episode_return = 0.0f;
    for (std::uint64_t step = 0; step < settings.steps; ++step) {
        const int action = environment_random.uniform() < epsilon(step)
                               ? environment_random.coin()
                               : greedy_action(online, state);
        const cart_pole::step_result outcome = environment.step(action);
        buffer.push({state, action, outcome.reward, outcome.next, outcome.terminated}); // per
        episode_return += outcome.reward;
        if (outcome.terminated || outcome.truncated) {
            log.episode_returns.push_back(episode_return);
            log.episode_end_steps.push_back(step + 1);
            episode_return = 0.0f;
            state = environment.reset(environment_random);
        } else {
            state = outcome.next;
        }
        if (step < settings.learning_starts || step % settings.steps_per_update != 0) {
            continue;
        }

        // per: a prioritized batch (items, handles, importance weights), copied into tensors.
        buffer.sample(settings.batch_size, beta(step), replay_engine, batch);
        float* state_values = states.data_ptr<float>();
        float* next_state_values = next_states.data_ptr<float>();
        std::int64_t* action_values = actions.data_ptr<std::int64_t>();
        for (std::size_t k = 0; k < batch.size(); ++k) {
            const transition& item = batch[k];
            std::copy(item.state.begin(), item.state.end(), state_values + 4 * k);
            std::copy(item.next_state.begin(), item.next_state.end(), next_state_values + 4 * k);
            action_values[k] = item.action;
            rewards[k] = item.reward;
            dones[k] = item.terminal ? 1.0f : 0.0f;
        }

        // Q(s, a) for the actions taken, through autograd; the next states' values without.
        const torch::Tensor q_taken =
            online->forward(states).gather(1, actions.unsqueeze(1)).squeeze(1);
        torch::Tensor q_next_online;
        torch::Tensor q_next_target;
        {
            torch::NoGradGuard no_grad;
            q_next_online = online->forward(next_states);
            q_next_target = target->forward(next_states);
        }

        // per: Double DQN targets, TD errors, the importance-weighted Huber loss, its gradient
        // with respect to each Q(s, a), and the new priorities |delta|, in one call.
        per::dqn::loss_result<float> result =
            per::dqn::td_loss(values_of(q_taken.detach()), values_of(q_next_target), rewards, dones,
                              batch.weights(), loss_options, values_of(q_next_online));

        // The gradient enters autograd at q_taken: backward() carries it into the weights, as
        // loss.backward() would for a loss built from tensor operations.
        optimizer.zero_grad();
        q_taken.backward(torch::from_blob(result.gradient.data(), {rows}));
        optimizer.step();

        // per: the new priorities (the buffer adds its epsilon).
        buffer.update_priorities(batch.handles(), result.priorities);

        ++log.updates;
        log.losses_finite = log.losses_finite && std::isfinite(result.loss);
        if (settings.steps - step <= 1000) {
            final_loss_sum += result.loss;
            ++final_updates;
        }
        blend_parameters(online, target, settings.target_smoothing);
    }
    log.final_loss = final_updates > 0 ? final_loss_sum / static_cast<double>(final_updates) : 0.0;

    // The greedy policy, without exploration, on fresh episodes.
    constexpr int evaluation_episodes = 10;
    double evaluation_sum = 0.0;
    for (int episode = 0; episode < evaluation_episodes; ++episode) {
        observation s = environment.reset(environment_random);
        for (;;) {
            const cart_pole::step_result outcome = environment.step(greedy_action(online, s));
            evaluation_sum += outcome.reward;
            if (outcome.terminated || outcome.truncated) {
                break;
            }
            s = outcome.next;
        }
    }
    log.greedy_return = evaluation_sum / evaluation_episodes;
    log.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    return log;
}

// --- Reporting -----------------------------------------------------------------------------

constexpr std::size_t solve_window = 20; // episodes in the moving average
constexpr double solve_threshold = 475.0;

// The mean return of the (up to) 20 episodes that ended by environment step `step`; 0 before
// the first one.
double moving_average_at(const training_log& log, std::uint64_t step) {
    std::size_t ended = 0;
    while (ended < log.episode_end_steps.size() && log.episode_end_steps[ended] <= step) {
        ++ended;
    }
    if (ended == 0) {
        return 0.0;
    }
    const std::size_t first = ended > solve_window ? ended - solve_window : 0;
    double sum = 0.0;
    for (std::size_t i = first; i < ended; ++i) {
        sum += log.episode_returns[i];
    }
    return sum / static_cast<double>(ended - first);
}

// The first episode (1-based) after which the last 20 returns average >= 475; 0 if never.
std::size_t episodes_to_solve(const training_log& log) {
    double sum = 0.0;
    for (std::size_t i = 0; i < log.episode_returns.size(); ++i) {
        sum += log.episode_returns[i];
        if (i >= solve_window) {
            sum -= log.episode_returns[i - solve_window];
        }
        if (i + 1 >= solve_window && sum / solve_window >= solve_threshold) {
            return i + 1;
        }
    }
    return 0;
}

struct method {
    const char* name;
    double alpha;
};

struct options {
    dqn_settings settings;
    int seeds = 5;
    std::string csv_path;
    bool quick = false;
};

[[noreturn]] void usage(const char* program, const char* problem) {
    if (problem) {
        std::fprintf(stderr, "%s: %s\n", program, problem);
    }
    std::fprintf(stderr,
                 "usage: %s [--quick] [--seeds K] [--steps S] [--csv FILE]\n"
                 "  --seeds  runs per method, default 5\n"
                 "  --steps  environment steps per run, default 40000\n"
                 "  --csv    write every episode's return to FILE\n"
                 "  --quick  one short run per method: exit 1 unless losses stay finite\n",
                 program);
    std::exit(problem ? 2 : 0);
}

options parse_options(int argc, char** argv) {
    options result;
    auto count = [&](int& i) {
        if (i + 1 >= argc) {
            usage(argv[0], (std::string(argv[i]) + " needs a value").c_str());
        }
        char* end = nullptr;
        const unsigned long long value = std::strtoull(argv[++i], &end, 10);
        if (end == argv[i] || *end != '\0' || value == 0) {
            usage(argv[0], (std::string("not a positive integer: ") + argv[i]).c_str());
        }
        return value;
    };
    for (int i = 1; i < argc; ++i) {
        const std::string argument = argv[i];
        if (argument == "--quick") {
            result.quick = true;
            result.seeds = 1;
            result.settings.steps = 1'500;
            result.settings.learning_starts = 200;
            result.settings.exploration_steps = 1'000;
        } else if (argument == "--seeds") {
            result.seeds = static_cast<int>(count(i));
        } else if (argument == "--steps") {
            result.settings.steps = count(i);
        } else if (argument == "--csv" && i + 1 < argc) {
            result.csv_path = argv[++i];
        } else if (argument == "--help" || argument == "-h") {
            usage(argv[0], nullptr);
        } else {
            usage(argv[0], ("unknown argument: " + argument).c_str());
        }
    }
    if (result.settings.steps <= result.settings.learning_starts) {
        usage(argv[0], "--steps must exceed the 1000 steps of random play before learning");
    }
    return result;
}

int run_experiment(const options& config) {
    const std::vector<method> methods = {{"uniform", 0.0}, {"per", 0.6}};
    std::ofstream csv;
    if (!config.csv_path.empty()) {
        csv.open(config.csv_path);
        if (!csv) {
            std::fprintf(stderr, "cannot write %s\n", config.csv_path.c_str());
            return 2;
        }
        csv << "method,seed,episode,end_step,return\n";
    }

    const dqn_settings& settings = config.settings;
    std::printf("CartPole-v1, Double DQN: 4-%d-%d-2 network, Adam %g, Huber loss, batch %zu every "
                "%llu steps, soft target updates tau %g\n%llu environment steps per run, %d "
                "seeds; uniform = alpha 0, per = proportional alpha 0.6, beta 0.4 -> 1\n\n",
                settings.hidden_units, settings.hidden_units, settings.learning_rate,
                settings.batch_size, static_cast<unsigned long long>(settings.steps_per_update),
                settings.target_smoothing, static_cast<unsigned long long>(settings.steps),
                config.seeds);
    std::printf("%-8s %4s %9s %14s %14s %13s %12s %10s %8s\n", "method", "seed", "episodes",
                "solved at ep.", "solved at step", "last-20 mean", "greedy eval", "final loss",
                "seconds");

    std::vector<std::vector<training_log>> logs(methods.size());
    bool ok = true;
    for (std::size_t m = 0; m < methods.size(); ++m) {
        for (int seed = 1; seed <= config.seeds; ++seed) {
            const training_log log =
                train(settings, methods[m].alpha, static_cast<std::uint64_t>(seed));
            const std::size_t solved = episodes_to_solve(log);
            char solved_episode[32] = "-";
            char solved_step[32] = "-";
            if (solved > 0) {
                std::snprintf(solved_episode, sizeof solved_episode, "%zu", solved);
                std::snprintf(solved_step, sizeof solved_step, "%llu",
                              static_cast<unsigned long long>(log.episode_end_steps[solved - 1]));
            }
            std::printf("%-8s %4d %9zu %14s %14s %13.1f %12.1f %10.4f %8.1f\n", methods[m].name,
                        seed, log.episode_returns.size(), solved_episode, solved_step,
                        moving_average_at(log, settings.steps), log.greedy_return, log.final_loss,
                        log.seconds);
            std::fflush(stdout);
            if (csv) {
                for (std::size_t e = 0; e < log.episode_returns.size(); ++e) {
                    csv << methods[m].name << ',' << seed << ',' << e + 1 << ','
                        << log.episode_end_steps[e] << ',' << log.episode_returns[e] << '\n';
                }
            }
            if (!log.losses_finite || log.updates == 0 || log.episode_returns.empty()) {
                std::printf("FAIL: %s seed %d: %s\n", methods[m].name, seed,
                            log.losses_finite ? "no update or no episode" : "non-finite loss");
                ok = false;
            }
            logs[m].push_back(log);
        }
    }

    // The learning curve: the 20-episode mean return at every tenth of the run, mean [min, max]
    // over the seeds.
    std::printf("\nlearning curve: mean return of the last %zu episodes, mean [min, max] over "
                "seeds\n%8s",
                solve_window, "step");
    for (const method& m : methods) {
        std::printf("  %-24s", m.name);
    }
    std::printf("\n");
    for (int tenth = 1; tenth <= 10; ++tenth) {
        const std::uint64_t step = settings.steps * static_cast<std::uint64_t>(tenth) / 10;
        std::printf("%8llu", static_cast<unsigned long long>(step));
        for (std::size_t m = 0; m < methods.size(); ++m) {
            double sum = 0.0;
            double low = std::numeric_limits<double>::infinity();
            double high = -low;
            for (const training_log& log : logs[m]) {
                const double value = moving_average_at(log, step);
                sum += value;
                low = std::min(low, value);
                high = std::max(high, value);
            }
            char cell[64];
            std::snprintf(cell, sizeof cell, "%.1f [%.1f, %.1f]", sum / logs[m].size(), low, high);
            std::printf("  %-24s", cell);
        }
        std::printf("\n");
    }

    if (config.quick) {
        std::printf(ok ? "quick check passed\n" : "quick check FAILED\n");
    }
    return ok ? 0 : 1;
}

} // namespace

int main(int argc, char** argv) {
    const options config = parse_options(argc, argv);
    // One thread: runs are comparable and reproducible, and small batches gain nothing from more.
    torch::set_num_threads(1);
    try {
        return run_experiment(config);
    } catch (const std::exception& error) {
        // per::dqn::td_loss rejects non-finite Q-values, naming the first: a network that
        // diverged ends here rather than training on NaN.
        std::fprintf(stderr, "error: %s\n", error.what());
        return 1;
    }
}
