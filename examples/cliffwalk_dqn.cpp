// The Blind Cliffwalk as an online task for a DQN: where prioritized replay is known to matter.
//
// The PER paper motivates prioritization with the Blind Cliffwalk (section 3.1; the replay
// experiment itself is examples/blind_cliffwalk.cpp): a chain of n states, two actions each,
// one moves on and the other ends the episode; which one is "right" alternates (action
// state % 2), and only the right action in the last state earns a reward, 1. A random policy
// reaches it with probability 2^-n per episode, so the memory holds about one rewarded
// transition per 2^(n+1) transitions, and uniform replay rarely draws it. Here the same chain
// is learnt online, by the DQN of cartpole_dqn.cpp, from transitions a random behaviour policy
// collects as it goes (the paper's memory is random episodes too; a fixed random behaviour keeps
// exploration out of the comparison, so only the replay order differs).
//
// The agent: Double DQN on one-step transitions from per::n_step_writer (n = 1), rows in a
// per::torch::tensor_replay, per::dqn::td_loss with each row's discount; an n-64-64-2 network
// on the one-hot state, Adam 1e-3, Huber loss, batch 32 and one update per environment step
// from step 200 on, soft target updates (tau 0.01), gamma = 1 - 1/n (the paper's). Uniform
// replay is alpha = 0; PER is proportional with alpha 0.6 and beta 0.4 -> 1 over the longest
// run, the settings of cartpole_dqn.cpp. Not cartpole_dqn's 3-step returns: an n-step return
// sums the rewards of the behaviour policy's own next actions, so learnt off-policy without a
// correction it estimates a mix of Q* and the random policy's values (tried: with 3-step
// returns Q(n - 2, right) settled near 0.4 instead of Q*'s 0.83, and no run got within the
// error). One-step Q-learning is off-policy: its fixed point is Q* whatever the behaviour.
//
// The measure, fixed after a pilot of 2 seeds and before the runs reported: the learning time,
// the environment steps from the end of the first rewarded episode until the network's
// Q-values are within a mean squared error of 1e-3 of Q* over all 2n state-action pairs (the
// paper's criterion; Q*(s, right) = gamma^(n - 1 - s), Q*(s, wrong) = 0), checked every 10
// steps. Before the first reward there is nothing to learn, and the behaviour policy's actions
// do not depend on the learner, so a seed finds the reward at the same step under both
// methods (the pilot: discovery took most of the time, identically): the runs are paired by
// seed, and compared with a two-sided Wilcoxon signed-rank test of the per-seed differences at
// the 5% level, 20 seeds. A run that does not get there within 30 000 steps is censored (its
// learning time counted as the rest of the run, a lower bound); a seed that never finds the
// reward is left out. Reported beside it: the Mann-Whitney U test of the same times unpaired,
// the steps until the greedy policy is right in every state, and the rewarded episodes the
// behaviour policy had completed by then.
//
//   cliffwalk_dqn               n = 10, uniform vs PER, 20 seeds each (about a minute with
//                               --jobs 2 on two cores); the result is in docs/dqn-experiments.md
//   cliffwalk_dqn --states N    a chain of N states (2..20)
//   cliffwalk_dqn --seeds K     K seeds per method
//   cliffwalk_dqn --jobs J      J runs at a time (results do not change)
//   cliffwalk_dqn --csv FILE    the error of every run at every check, as CSV rows
//   cliffwalk_dqn --quick       the ctest: n = 6, 3 seeds, a few seconds; exits 1 unless the
//                               losses stay finite and every PER run reaches the error

#include <per/dqn_loss.hpp>
#include <per/n_step.hpp>
#include <per/per.hpp>
#include <per/torch/tensor_replay.hpp>

#include <torch/torch.h>

#include "cartpole.hpp"
#include "experiment.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <fstream>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

namespace {

using per_examples::blend_parameters;
using per_examples::learn_from;
using per_examples::mann_whitney;
using per_examples::median_of;
using per_examples::network_initialization;
using per_examples::portable_random;
using per_examples::q_network;
using per_examples::run_in_parallel;
using per_examples::signed_rank_test;
using per_examples::u_test;
using per_examples::wilcoxon_signed_rank;

// --- The environment -----------------------------------------------------------------------

// The chain of examples/blind_cliffwalk.cpp, stepped online. States 0 .. n - 1, start in 0.
class blind_cliffwalk {
public:
    struct step_result {
        int next;
        float reward;
        bool terminated;
    };

    explicit blind_cliffwalk(int states)
        : m_states(states) {}

    int reset() {
        m_state = 0;
        return m_state;
    }

    step_result step(int action) {
        const int state = m_state;
        if (action != state % 2) {
            return {state, 0.0f, true}; // the wrong action: the episode ends, no reward
        }
        if (state == m_states - 1) {
            return {state, 1.0f, true}; // the right action at the end of the chain
        }
        m_state = state + 1;
        return {m_state, 0.0f, false};
    }

private:
    int m_states;
    int m_state = 0;
};

// --- Training ------------------------------------------------------------------------------

struct chain_settings {
    int states = 10;
    std::uint64_t max_steps = 30'000; // environment steps (and updates) at most per run
    std::uint64_t learning_starts = 200;
    std::uint64_t check_interval = 10; // steps between checks of the error to Q*
    double target_error = 1e-3;        // mean squared error to Q* over the 2n pairs
    std::size_t batch_size = 32;
    int hidden_units = 64;
    double learning_rate = 1e-3;
    double target_smoothing = 0.01;
    std::size_t n_step = 1; // one-step Q-learning: off-policy (see the comment at the top)
};

struct run_log {
    std::uint64_t first_reward = 0;      // the step that ended the first rewarded episode; 0: never
    std::uint64_t steps_to_error = 0;    // first check with the error below the target; 0: never
    std::uint64_t steps_to_policy = 0;   // first check with the greedy policy right everywhere
    std::uint64_t rewarded_episodes = 0; // completed by the behaviour, by steps_to_error or the end
    std::vector<double> errors;          // the error at every check
    bool losses_finite = true;
    double seconds = 0.0;
};

torch::Tensor one_hot(int states, int state) {
    torch::Tensor row = torch::zeros({states});
    row[state] = 1.0f;
    return row;
}

// The error to Q* and whether the greedy policy is right in every state, from one forward pass
// over the n one-hot states.
struct evaluation {
    double mean_squared_error;
    bool greedy_right;
};

evaluation evaluate(q_network& online, int states, double gamma) {
    torch::NoGradGuard no_grad;
    const torch::Tensor q = online->forward(torch::eye(states)).contiguous(); // [n, 2]
    const float* values = q.data_ptr<float>();
    double squared = 0.0;
    bool right = true;
    for (int s = 0; s < states; ++s) {
        for (int a = 0; a < 2; ++a) {
            const double optimal = a == s % 2 ? std::pow(gamma, states - 1 - s) : 0.0;
            const double error = values[2 * s + a] - optimal;
            squared += error * error;
        }
        const int greedy = values[2 * s + 1] > values[2 * s] ? 1 : 0;
        right = right && greedy == s % 2;
    }
    return {squared / (2.0 * states), right};
}

run_log train(const chain_settings& settings, double alpha, std::uint64_t seed) {
    const auto start = std::chrono::steady_clock::now();
    const int n = settings.states;
    const double gamma = 1.0 - 1.0 / n;
    portable_random behaviour(seed);                 // the random behaviour policy
    std::mt19937_64 replay_engine(seed + 1'000'003); // per: the buffer's draws

    q_network online{nullptr};
    q_network target{nullptr};
    {
        const std::lock_guard<std::mutex> lock(network_initialization);
        torch::manual_seed(seed);
        online = q_network(n, settings.hidden_units, 2);
        target = q_network(n, settings.hidden_units, 2);
    }
    blend_parameters(online, target, 1.0);
    torch::optim::Adam optimizer(online->parameters(),
                                 torch::optim::AdamOptions(settings.learning_rate));

    // per: rows of one-hot states, 3-step transitions, the discount in float64.
    per::torch::tensor_replay<> buffer(settings.max_steps,
                                       {{"state", {n}, torch::kFloat32},
                                        {"action", {}, torch::kInt64},
                                        {"reward", {}, torch::kFloat32},
                                        {"next_state", {n}, torch::kFloat32},
                                        {"discount", {}, torch::kFloat64}},
                                       per::replay_options{}.alpha(alpha));
    using step = per::n_step_transition<int, int>;
    per::n_step_writer<int, int> writer(1, settings.n_step, gamma);
    const auto store = [&](const step& t) {
        buffer.push({one_hot(n, t.observation),
                     torch::scalar_tensor(static_cast<std::int64_t>(t.action), torch::kInt64),
                     torch::scalar_tensor(t.reward, torch::kFloat32),
                     one_hot(n, t.next_observation),
                     torch::scalar_tensor(t.discount, torch::kFloat64)});
    };
    const per::linear_schedule beta(0.4, 1.0, settings.max_steps);
    const auto loss_options =
        per::dqn::td_loss_options{}.double_dqn(true).loss(per::dqn::loss_kind::huber);

    run_log log;
    blind_cliffwalk environment(n);
    int state = environment.reset();
    std::uint64_t rewarded_episodes = 0;
    for (std::uint64_t t = 1; t <= settings.max_steps; ++t) {
        const int action = behaviour.coin();
        const blind_cliffwalk::step_result outcome = environment.step(action);
        writer.step(0, state, action, outcome.reward, outcome.terminated, false, outcome.next,
                    store);
        rewarded_episodes += outcome.reward > 0.0f;
        if (log.first_reward == 0 && outcome.reward > 0.0f) {
            log.first_reward = t;
        }
        state = outcome.terminated ? environment.reset() : outcome.next;

        if (t >= settings.learning_starts && buffer.size() >= settings.batch_size) {
            const float loss = learn_from(buffer, settings.batch_size, beta(t), replay_engine,
                                          online, target, optimizer, loss_options); // per
            log.losses_finite = log.losses_finite && std::isfinite(loss);
            blend_parameters(online, target, settings.target_smoothing);
        }

        if (t % settings.check_interval == 0) {
            const evaluation check = evaluate(online, n, gamma);
            log.errors.push_back(check.mean_squared_error);
            if (log.steps_to_policy == 0 && check.greedy_right) {
                log.steps_to_policy = t;
            }
            if (log.steps_to_error == 0 && check.mean_squared_error < settings.target_error) {
                log.steps_to_error = t;
                log.rewarded_episodes = rewarded_episodes;
            }
            if (log.steps_to_error != 0 && log.steps_to_policy != 0) {
                break;
            }
        }
    }
    if (log.steps_to_error == 0) {
        log.rewarded_episodes = rewarded_episodes;
    }
    log.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    return log;
}

// --- Reporting -----------------------------------------------------------------------------

struct options {
    chain_settings settings;
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
                 "usage: %s [--quick] [--states N] [--seeds K] [--jobs J] [--csv FILE]\n"
                 "  --states  chain length, 2..20, default 10\n"
                 "  --seeds   runs per method, default 20\n"
                 "  --jobs    runs at a time, default the number of cores (results unchanged)\n"
                 "  --csv     write every run's error at every check to FILE\n"
                 "  --quick   n = 6, 3 seeds: exit 1 unless losses stay finite and every PER\n"
                 "            run reaches the error\n",
                 program);
    std::exit(problem ? 2 : 0);
}

options parse_options(int argc, char** argv) {
    options result;
    result.jobs = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
    auto count = [&](int& i, unsigned long long largest) {
        if (i + 1 >= argc) {
            usage(argv[0], (std::string(argv[i]) + " needs a value").c_str());
        }
        char* end = nullptr;
        const unsigned long long value = std::strtoull(argv[++i], &end, 10);
        if (end == argv[i] || *end != '\0' || value == 0 || value > largest) {
            usage(argv[0], (std::string("out of range: ") + argv[i]).c_str());
        }
        return value;
    };
    for (int i = 1; i < argc; ++i) {
        const std::string argument = argv[i];
        if (argument == "--quick") {
            result.quick = true;
            result.seeds = 3;
            result.settings.states = 6;
            result.settings.max_steps = 6'000;
        } else if (argument == "--states") {
            result.settings.states = static_cast<int>(count(i, 20));
            if (result.settings.states < 2) {
                usage(argv[0], "--states must be at least 2");
            }
        } else if (argument == "--seeds") {
            result.seeds = static_cast<int>(count(i, 1000));
        } else if (argument == "--jobs") {
            result.jobs = static_cast<int>(count(i, 256));
        } else if (argument == "--csv" && i + 1 < argc) {
            result.csv_path = argv[++i];
        } else if (argument == "--help" || argument == "-h") {
            usage(argv[0], nullptr);
        } else {
            usage(argv[0], ("unknown argument: " + argument).c_str());
        }
    }
    return result;
}

struct method {
    const char* name;
    double alpha;
};

// The learning time of a run that found the reward: steps from the first reward to the error
// target, or, censored, to the end of the run plus one check (a lower bound).
double learning_steps(const run_log& log, const chain_settings& settings) {
    const std::uint64_t end =
        log.steps_to_error != 0 ? log.steps_to_error : settings.max_steps + settings.check_interval;
    return static_cast<double>(end - log.first_reward);
}

std::string steps_text(std::uint64_t steps) {
    return steps == 0 ? std::string("-") : std::to_string(steps);
}

std::string median_and_range(const std::vector<double>& values) {
    char text[96];
    std::snprintf(text, sizeof text, "%.0f [%.0f, %.0f]", median_of(values),
                  *std::min_element(values.begin(), values.end()),
                  *std::max_element(values.begin(), values.end()));
    return text;
}

int run_experiment(const options& config) {
    const std::vector<method> methods = {{"uniform", 0.0}, {"per", 0.6}};
    const chain_settings& settings = config.settings;
    std::printf(
        "Blind Cliffwalk online, n = %d states, random behaviour policy; Double DQN, %zu-step "
        "returns, %d-%d-%d-2 network on the one-hot state, Adam %g, Huber loss, batch %zu "
        "per step from step %llu, tau %g, gamma %.4g\nuniform = alpha 0, per = proportional "
        "alpha 0.6, beta 0.4 -> 1; %d seeds each; at most %llu steps per run; error: mean "
        "squared error to Q* below %g, checked every %llu steps\n\n",
        settings.states, settings.n_step, settings.states, settings.hidden_units,
        settings.hidden_units, settings.learning_rate, settings.batch_size,
        static_cast<unsigned long long>(settings.learning_starts), settings.target_smoothing,
        1.0 - 1.0 / settings.states, config.seeds,
        static_cast<unsigned long long>(settings.max_steps), settings.target_error,
        static_cast<unsigned long long>(settings.check_interval));

    const auto seeds = static_cast<std::size_t>(config.seeds);
    const std::vector<run_log> all =
        run_in_parallel<run_log>(methods.size() * seeds, config.jobs, [&](std::size_t run) {
            return train(settings, methods[run / seeds].alpha, run % seeds + 1);
        });

    std::ofstream csv;
    if (!config.csv_path.empty()) {
        csv.open(config.csv_path);
        if (!csv) {
            std::fprintf(stderr, "cannot write %s\n", config.csv_path.c_str());
            return 2;
        }
        csv << "method,seed,step,mean_squared_error\n";
    }
    std::printf("%-8s %4s %13s %15s %15s %16s %18s %8s\n", "method", "seed", "first reward",
                "steps to error", "learning steps", "steps to policy", "rewarded episodes",
                "seconds");
    bool ok = true;
    for (std::size_t run = 0; run < all.size(); ++run) {
        const std::size_t m = run / seeds;
        const std::size_t seed = run % seeds + 1;
        const run_log& log = all[run];
        char learning[32] = "-";
        if (log.first_reward != 0) {
            std::snprintf(learning, sizeof learning, "%s%.0f", log.steps_to_error ? "" : ">",
                          learning_steps(log, settings));
        }
        std::printf("%-8s %4zu %13s %15s %15s %16s %18llu %8.1f\n", methods[m].name, seed,
                    steps_text(log.first_reward).c_str(), steps_text(log.steps_to_error).c_str(),
                    learning, steps_text(log.steps_to_policy).c_str(),
                    static_cast<unsigned long long>(log.rewarded_episodes), log.seconds);
        if (csv) {
            for (std::size_t k = 0; k < log.errors.size(); ++k) {
                csv << methods[m].name << ',' << seed << ',' << (k + 1) * settings.check_interval
                    << ',' << log.errors[k] << '\n';
            }
        }
        if (!log.losses_finite) {
            std::printf("FAIL: %s seed %zu: non-finite loss\n", methods[m].name, seed);
            ok = false;
        }
    }

    // The pairs: the seeds that found the reward, at the same step under both methods.
    std::vector<double> uniform_times;
    std::vector<double> per_times;
    std::vector<double> differences;
    std::size_t censored[2] = {0, 0};
    for (std::size_t seed = 0; seed < seeds; ++seed) {
        const run_log& a = all[seed];
        const run_log& b = all[seeds + seed];
        if (a.first_reward != b.first_reward) {
            std::printf("FAIL: seed %zu found the reward at steps %llu and %llu: the behaviour "
                        "depends on the learner\n",
                        seed + 1, static_cast<unsigned long long>(a.first_reward),
                        static_cast<unsigned long long>(b.first_reward));
            ok = false;
            continue;
        }
        if (a.first_reward == 0) {
            continue;
        }
        uniform_times.push_back(learning_steps(a, settings));
        per_times.push_back(learning_steps(b, settings));
        differences.push_back(per_times.back() - uniform_times.back());
        censored[0] += a.steps_to_error == 0;
        censored[1] += b.steps_to_error == 0;
    }
    std::printf("\nlearning steps (first reward to the error target), the %zu seeds that found "
                "the reward:\n",
                differences.size());
    if (differences.empty()) {
        std::printf("  none: no seed found the reward\n");
    } else {
        std::printf("  median [min, max]: uniform %s (%zu censored), per %s (%zu censored)\n",
                    median_and_range(uniform_times).c_str(), censored[0],
                    median_and_range(per_times).c_str(), censored[1]);
        const auto count = [&](bool faster) {
            return static_cast<std::size_t>(
                std::count_if(differences.begin(), differences.end(),
                              [&](double d) { return faster ? d < 0.0 : d > 0.0; }));
        };
        std::printf("  per - uniform, per seed: median %.0f; per faster in %zu seeds, slower in "
                    "%zu, equal in %zu\n",
                    median_of(differences), count(true), count(false),
                    differences.size() - count(true) - count(false));
        const signed_rank_test paired = wilcoxon_signed_rank(differences);
        std::printf("  paired, two-sided Wilcoxon signed-rank: W+ = %.1f over %zu non-zero "
                    "differences, p = %.3g (%s)\n",
                    paired.w_plus, paired.nonzero, paired.p,
                    paired.exact ? "exact" : "normal, ties");
        const u_test unpaired = mann_whitney(per_times, uniform_times);
        std::printf("  unpaired, two-sided Mann-Whitney U of per over uniform: U = %.1f, p = %.3g "
                    "(%s)\n",
                    unpaired.u, unpaired.p, unpaired.exact ? "exact" : "normal, ties");
        const char* verdict = paired.p >= 0.05               ? "no significant difference"
                              : median_of(differences) < 0.0 ? "per learns faster than uniform"
                                                             : "uniform learns faster than per";
        std::printf("\nprimary test (paired learning steps, 5%% level): %s\n", verdict);
    }

    if (config.quick) {
        for (std::size_t seed = 0; seed < seeds; ++seed) {
            ok = ok && all[seeds + seed].steps_to_error != 0; // every PER run got there
        }
        std::printf(ok ? "quick check passed\n" : "quick check FAILED\n");
    }
    return ok ? 0 : 1;
}

} // namespace

int main(int argc, char** argv) {
    const options config = parse_options(argc, argv);
    torch::set_num_threads(1); // one thread per run: runs are comparable and reproducible
    try {
        return run_experiment(config);
    } catch (const std::exception& error) {
        std::fprintf(stderr, "error: %s\n", error.what());
        return 1;
    }
}
