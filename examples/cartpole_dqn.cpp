// DQN on CartPole with prioritized replay: a LibTorch network, a per::torch::tensor_replay
// buffer, per::n_step_writer and per::dqn::td_loss, put together as a LibTorch user would.
//
// The parts that touch per are marked "per:" below; the rest is a plain DQN (Mnih et al. 2015)
// with Double DQN targets (van Hasselt et al. 2016, the learner of the PER paper's
// Algorithm 1) and 3-step returns (as Rainbow and Ape-X use with PER): epsilon-greedy
// exploration, a target network that trails the online one (soft updates), Adam, the Huber
// loss. Uniform replay is the same program with alpha = 0: every priority weight is then 1, so
// sampling is uniform and every importance weight is 1.
//
//   cartpole_dqn               uniform vs PER, 3-step returns, 20 seeds each (about 10 minutes
//                              with --jobs 2 on two cores): per-run results, learning curves
//                              with 95% confidence intervals, and the tests described below
//   cartpole_dqn --seeds K     K seeds per method
//   cartpole_dqn --n-step N    N-step returns (1: the plain one-step transition, the learner of
//                              apex_cartpole.cpp's single-threaded run, bit for bit)
//   cartpole_dqn --reward failure   the sparse reward of Barto et al. (1983): -1 when the episode
//                              terminates, else 0 (see dqn_settings::failure_reward)
//   cartpole_dqn --jobs J      J runs at a time, each in its own thread (results do not change)
//   cartpole_dqn --csv FILE    ... and every episode's return as a CSV row (plot_cartpole_dqn.py)
//   cartpole_dqn --quick       the ctest: a short run of each, exits 1 unless the losses are
//                              finite and learning happened
//
// The environment is the classic cart-pole of Barto, Sutton and Anderson (1983) with the
// constants, Euler integration and limits of Gym's CartPole-v1 (examples/cartpole.hpp), so that
// the example needs nothing but LibTorch and per. "Solved" is CartPole-v1's threshold, a mean
// return of at least 475 (out of 500), here over the last 20 training episodes.
//
// The comparison, stated before the runs: the primary measure of a run is its mean return over
// training, the 20-episode moving average sampled every 1000 environment steps and averaged (the
// area under the learning curve, divided by its length); the methods are compared with a
// two-sided Mann-Whitney U test (Wilcoxon rank-sum) at the 5% level, exact when no two values
// tie. Reported beside it: the difference of the means with a 95% bootstrap interval (10,000
// resamples, fixed seed), and, for the seeds that solved the task and the final greedy
// evaluation, Fisher's exact test and the same U test. The measured comparison, on both reward
// functions, is docs/dqn-experiments.md.

#include <per/dqn_loss.hpp>
#include <per/n_step.hpp>
#include <per/per.hpp>
#include <per/torch/tensor_replay.hpp>

#include <torch/torch.h>

#include "cartpole.hpp"
#include "experiment.hpp"

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
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

namespace {

// The environment, the transition and the network: examples/cartpole.hpp.
using per_examples::blend_parameters;
using per_examples::cart_pole;
using per_examples::greedy_action;
using per_examples::learn_from;
using per_examples::observation;
using per_examples::portable_random;
using per_examples::q_network;
// Parallel runs and the tests that compare the methods: examples/experiment.hpp.
using per_examples::bootstrap_mean_difference;
using per_examples::fisher_exact;
using per_examples::interval;
using per_examples::mann_whitney;
using per_examples::mean_interval;
using per_examples::mean_of;
using per_examples::network_initialization;
using per_examples::run_in_parallel;
using per_examples::u_test;

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
    std::size_t n_step = 3;         // returns over 3 steps, as Rainbow and Ape-X use with PER
    // What the learner is rewarded with. Gym's +1 per step informs every transition; the
    // failure signal of Barto, Sutton and Anderson (1983), -1 when the pole falls or the cart
    // leaves the track and 0 otherwise, informs only the last transition of a failed episode:
    // a sparse reward, the case prioritized replay is meant for. Either way the return reported
    // (and "solved") counts the steps balanced, the task's measure of success.
    bool failure_reward = false;
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

// The columns the replay stores: one n-step transition per row (per::n_step_transition's
// fields that the learner needs). `discount` is gamma^m for the m rewards summed (m = n, or
// fewer when the episode ended sooner), 0 if the episode terminated within them; it is kept in
// double, as the writer computed it (with --n-step 1 the targets are then those of
// td_loss_options::gamma(0.99) with done flags, bit for bit).
std::vector<per::torch::column_spec> transition_columns() {
    return {{"state", {4}, torch::kFloat32},
            {"action", {}, torch::kInt64},
            {"reward", {}, torch::kFloat32},
            {"next_state", {4}, torch::kFloat32},
            {"discount", {}, torch::kFloat64}};
}

// One DQN run. alpha 0 is uniform replay, alpha 0.6 the PER paper's proportional variant.
training_log train(const dqn_settings& settings, double alpha, std::uint64_t seed) {
    const auto start = std::chrono::steady_clock::now();
    portable_random environment_random(seed);
    std::mt19937_64 replay_engine(seed + 1'000'003); // per: the buffer's draws

    q_network online{nullptr};
    q_network target{nullptr};
    {
        const std::lock_guard<std::mutex> lock(network_initialization);
        torch::manual_seed(seed); // the networks' initial weights
        online = q_network(4, settings.hidden_units, 2);
        target = q_network(4, settings.hidden_units, 2);
    }
    blend_parameters(online, target, 1.0); // start equal
    torch::optim::Adam optimizer(online->parameters(),
                                 torch::optim::AdamOptions(settings.learning_rate));

    // per: the buffer, its rows in preallocated tensors, and beta annealed from 0.4 to 1 over
    // the whole run (the paper's schedule; with alpha 0 every importance weight is 1).
    per::torch::tensor_replay<> buffer(settings.replay_capacity, transition_columns(),
                                       per::replay_options{}.alpha(alpha));
    // per: n-step transitions of the one environment, pushed as rows (running max priority).
    using step = per::n_step_transition<observation, int>;
    per::n_step_writer<observation, int> writer(1, settings.n_step, settings.gamma);
    const auto store = [&buffer](const step& t) {
        buffer.push({torch::from_blob(const_cast<float*>(t.observation.data()), {4}),
                     torch::scalar_tensor(static_cast<std::int64_t>(t.action), torch::kInt64),
                     torch::scalar_tensor(t.reward, torch::kFloat32),
                     torch::from_blob(const_cast<float*>(t.next_observation.data()), {4}),
                     torch::scalar_tensor(t.discount, torch::kFloat64)});
    };
    const per::linear_schedule beta(0.4, 1.0, settings.steps);
    const per::linear_schedule epsilon(1.0, settings.final_epsilon, settings.exploration_steps);
    // gamma and n_step are in each row's discount (per::dqn::discounts_view below).
    const auto loss_options =
        per::dqn::td_loss_options{}.double_dqn(true).loss(per::dqn::loss_kind::huber);

    training_log log;
    double final_loss_sum = 0.0;
    std::uint64_t final_updates = 0;
    cart_pole environment;
    observation state = environment.reset(environment_random);
    float episode_return = 0.0f;
    for (std::uint64_t t = 0; t < settings.steps; ++t) {
        const int action = environment_random.uniform() < epsilon(t) ? environment_random.coin()
                                                                     : greedy_action(online, state);
        const cart_pole::step_result outcome = environment.step(action);
        const float reward =
            settings.failure_reward ? (outcome.terminated ? -1.0f : 0.0f) : outcome.reward;
        writer.step(0, state, action, reward, outcome.terminated, outcome.truncated, outcome.next,
                    store); // per: emits the transition that is n steps old
        episode_return += outcome.reward;
        if (outcome.terminated || outcome.truncated) {
            log.episode_returns.push_back(episode_return);
            log.episode_end_steps.push_back(t + 1);
            episode_return = 0.0f;
            state = environment.reset(environment_random);
        } else {
            state = outcome.next;
        }
        if (t < settings.learning_starts || t % settings.steps_per_update != 0) {
            continue;
        }

        // per: a prioritized batch, the loss with each row's discount, the gradient into the
        // network, the new priorities back into the buffer (learn_from, examples/cartpole.hpp).
        const float loss = learn_from(buffer, settings.batch_size, beta(t), replay_engine, online,
                                      target, optimizer, loss_options);
        ++log.updates;
        log.losses_finite = log.losses_finite && std::isfinite(loss);
        if (settings.steps - t <= 1000) {
            final_loss_sum += loss;
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
constexpr std::uint64_t curve_spacing = 1000; // steps between the points of the primary measure

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

// The primary measure: the 20-episode moving average at every 1000th environment step,
// averaged over the run (the area under the learning curve divided by its length).
double mean_return_over_training(const training_log& log, std::uint64_t steps) {
    double sum = 0.0;
    std::uint64_t points = 0;
    for (std::uint64_t step = curve_spacing; step <= steps; step += curve_spacing) {
        sum += moving_average_at(log, step);
        ++points;
    }
    return points > 0 ? sum / static_cast<double>(points) : 0.0;
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
    int seeds = 20;
    int jobs = 1;
    std::string csv_path;
    bool quick = false;
};

[[noreturn]] void usage(const char* program, const char* problem) {
    if (problem) {
        std::fprintf(stderr, "%s: %s\n", program, problem);
    }
    std::fprintf(stderr,
                 "usage: %s [--quick] [--seeds K] [--steps S] [--n-step N] [--reward step|failure] "
                 "[--jobs J] [--csv FILE]\n"
                 "  --seeds   runs per method, default 20\n"
                 "  --steps   environment steps per run, default 40000\n"
                 "  --n-step  N-step returns, default 3 (1: one-step transitions)\n"
                 "  --reward  step: +1 per step (Gym, the default); failure: -1 when the episode\n"
                 "            terminates, else 0 (sparse)\n"
                 "  --jobs    runs at a time, default the number of cores (results unchanged)\n"
                 "  --csv     write every episode's return to FILE\n"
                 "  --quick   one short run per method: exit 1 unless losses stay finite\n",
                 program);
    std::exit(problem ? 2 : 0);
}

options parse_options(int argc, char** argv) {
    options result;
    result.jobs = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
    auto count = [&](int& i) {
        if (i + 1 >= argc) {
            usage(argv[0], (std::string(argv[i]) + " needs a value").c_str());
        }
        char* end = nullptr;
        const unsigned long long value = std::strtoull(argv[++i], &end, 10);
        if (end == argv[i] || *end != '\0' || value == 0 || value > 1'000'000'000) {
            usage(argv[0], (std::string("not a positive integer up to 10^9: ") + argv[i]).c_str());
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
        } else if (argument == "--n-step") {
            result.settings.n_step = static_cast<std::size_t>(count(i));
        } else if (argument == "--reward" && i + 1 < argc) {
            const std::string kind = argv[++i];
            if (kind != "step" && kind != "failure") {
                usage(argv[0], ("--reward is step or failure, not " + kind).c_str());
            }
            result.settings.failure_reward = kind == "failure";
        } else if (argument == "--jobs") {
            result.jobs = static_cast<int>(count(i));
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
                "%llu steps, soft target updates tau %g, %zu-step returns, gamma %g\n%llu "
                "environment steps per run, %d seeds; uniform = alpha 0, per = proportional alpha "
                "0.6, beta 0.4 -> 1\n\n",
                settings.hidden_units, settings.hidden_units, settings.learning_rate,
                settings.batch_size, static_cast<unsigned long long>(settings.steps_per_update),
                settings.target_smoothing, settings.n_step, settings.gamma,
                static_cast<unsigned long long>(settings.steps), config.seeds);
    if (settings.failure_reward) {
        std::printf("reward: -1 when the episode terminates, else 0 (the returns below count the "
                    "steps balanced)\n\n");
    }
    std::printf("%-8s %4s %9s %14s %14s %13s %12s %12s %10s %8s\n", "method", "seed", "episodes",
                "solved at ep.", "solved at step", "mean return", "last-20 mean", "greedy eval",
                "final loss", "seconds");

    const auto seeds = static_cast<std::size_t>(config.seeds);
    const std::vector<training_log> all =
        run_in_parallel<training_log>(methods.size() * seeds, config.jobs, [&](std::size_t run) {
            return train(settings, methods[run / seeds].alpha, run % seeds + 1);
        });
    std::vector<std::vector<training_log>> logs(methods.size());
    bool ok = true;
    for (std::size_t run = 0; run < all.size(); ++run) {
        const std::size_t m = run / static_cast<std::size_t>(config.seeds);
        const int seed = static_cast<int>(run % static_cast<std::size_t>(config.seeds)) + 1;
        const training_log& log = all[run];
        const std::size_t solved = episodes_to_solve(log);
        char solved_episode[32] = "-";
        char solved_step[32] = "-";
        if (solved > 0) {
            std::snprintf(solved_episode, sizeof solved_episode, "%zu", solved);
            std::snprintf(solved_step, sizeof solved_step, "%llu",
                          static_cast<unsigned long long>(log.episode_end_steps[solved - 1]));
        }
        std::printf("%-8s %4d %9zu %14s %14s %13.1f %12.1f %12.1f %10.4f %8.1f\n", methods[m].name,
                    seed, log.episode_returns.size(), solved_episode, solved_step,
                    mean_return_over_training(log, settings.steps),
                    moving_average_at(log, settings.steps), log.greedy_return, log.final_loss,
                    log.seconds);
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

    // The learning curve: the 20-episode mean return at every tenth of the run, the mean over
    // seeds with its 95% confidence interval.
    std::printf("\nlearning curve: mean return of the last %zu episodes; mean over seeds [95%% "
                "confidence interval]\n%8s",
                solve_window, "step");
    for (const method& m : methods) {
        std::printf("  %-24s", m.name);
    }
    std::printf("\n");
    for (int tenth = 1; tenth <= 10; ++tenth) {
        const std::uint64_t step = settings.steps * static_cast<std::uint64_t>(tenth) / 10;
        std::printf("%8llu", static_cast<unsigned long long>(step));
        for (std::size_t m = 0; m < methods.size(); ++m) {
            std::vector<double> values;
            for (const training_log& log : logs[m]) {
                values.push_back(moving_average_at(log, step));
            }
            const interval band = mean_interval(values);
            char cell[64];
            std::snprintf(cell, sizeof cell, "%.1f [%.1f, %.1f]", mean_of(values), band.low,
                          band.high);
            std::printf("  %-24s", cell);
        }
        std::printf("\n");
    }

    // The comparison of per (b) against uniform (a).
    const auto measure = [&](std::size_t m, auto of) {
        std::vector<double> values;
        for (const training_log& log : logs[m]) {
            values.push_back(of(log));
        }
        return values;
    };
    const auto report = [&](const char* name, const std::vector<double>& a,
                            const std::vector<double>& b) {
        const u_test test = mann_whitney(b, a);
        const interval difference = bootstrap_mean_difference(b, a);
        std::printf("%-26s %8.1f %8.1f %9.1f [%.1f, %.1f]   U = %.1f, p = %.3g (%s)\n", name,
                    mean_of(a), mean_of(b), mean_of(b) - mean_of(a), difference.low,
                    difference.high, test.u, test.p, test.exact ? "exact" : "normal, ties");
    };
    const auto over_training = [&](const training_log& log) {
        return mean_return_over_training(log, settings.steps);
    };
    const auto final_average = [&](const training_log& log) {
        return moving_average_at(log, settings.steps);
    };
    const auto greedy = [](const training_log& log) { return log.greedy_return; };
    std::printf("\nper against uniform, %d seeds each: means, per - uniform [95%% bootstrap "
                "interval], two-sided Mann-Whitney U of per over uniform\n",
                config.seeds);
    std::printf("%-26s %8s %8s %s\n", "measure", "uniform", "per", "difference");
    report("mean return over training", measure(0, over_training), measure(1, over_training));
    report("last-20 mean at the end", measure(0, final_average), measure(1, final_average));
    report("greedy evaluation", measure(0, greedy), measure(1, greedy));
    int solved_counts[2] = {0, 0};
    for (std::size_t m = 0; m < 2; ++m) {
        for (const training_log& log : logs[m]) {
            solved_counts[m] += episodes_to_solve(log) > 0;
        }
    }
    std::printf("%-26s %5d/%-2d %5d/%-2d   Fisher's exact test, p = %.3g\n",
                "solved (last-20 >= 475)", solved_counts[0], config.seeds, solved_counts[1],
                config.seeds,
                fisher_exact(solved_counts[1], config.seeds, solved_counts[0], config.seeds));
    const u_test primary = mann_whitney(measure(1, over_training), measure(0, over_training));
    std::printf("\nprimary test (mean return over training, 5%% level): %s\n",
                primary.p < 0.05
                    ? (mean_of(measure(1, over_training)) > mean_of(measure(0, over_training))
                           ? "per is better than uniform"
                           : "uniform is better than per")
                    : "no significant difference");

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
