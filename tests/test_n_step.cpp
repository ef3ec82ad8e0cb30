// n_step_writer: what it emits against a brute-force reference computed from the recorded
// episodes, the episode-boundary rules, flush versus reset, bad input and the exception
// guarantees, and a prioritized_replay as the sink's target.
#include <per/n_step.hpp>
#include <per/prioritized_replay.hpp>

#include "bad_call.hpp"
#include "fragile_item.hpp"
#include "per_catch.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <limits>
#include <map>
#include <random>
#include <stdexcept>
#include <tuple>
#include <vector>

namespace {

using transition = per::n_step_transition<long, int>;
using writer = per::n_step_writer<long, int>;
using fragile_writer = per::n_step_writer<per_test::fragile_item, int>;

const double nan_value = std::numeric_limits<double>::quiet_NaN();
const double inf_value = std::numeric_limits<double>::infinity();

// One step of one env as the test feeds it.
struct recorded_step {
    long observation = 0;
    int action = 0;
    double reward = 0.0;
    long next_observation = 0;
    bool terminated = false;
    bool truncated = false;
};

// The steps of every env, steps[call][env]. Observations are unique ids; within an episode the
// next step's observation is this step's next observation, after an episode end a fresh id
// (the reset observation), as a Gymnasium vector env with autoreset gives them.
using stream = std::vector<std::vector<recorded_step>>;

stream random_stream(std::size_t num_envs, std::size_t calls, std::uint64_t seed) {
    std::mt19937_64 rng(seed);
    std::uniform_real_distribution<double> reward(-10.0, 10.0);
    std::uniform_int_distribution<int> action(0, 5);
    std::uniform_int_distribution<int> percent(0, 99);
    long next_id = 1;
    std::vector<long> current(num_envs);
    for (long& observation : current) {
        observation = next_id++;
    }
    stream steps(calls, std::vector<recorded_step>(num_envs));
    for (auto& call : steps) {
        for (std::size_t env = 0; env < num_envs; ++env) {
            recorded_step& s = call[env];
            s.observation = current[env];
            s.action = action(rng);
            s.reward = percent(rng) < 5 ? 0.0 : reward(rng);
            s.next_observation = next_id++;
            const int event = percent(rng); // 0-7 terminated, 8-9 both, 10-14 truncated
            s.terminated = event < 10;
            s.truncated = event >= 8 && event < 15;
            current[env] = s.terminated || s.truncated ? next_id++ : s.next_observation;
        }
    }
    return steps;
}

// Feeds one call of the stream to the batched step, with two kinds of flag ranges.
template <class Obs, class Sink>
void step_all(per::n_step_writer<Obs, int>& w, const std::vector<recorded_step>& call,
              Sink&& sink) {
    std::vector<Obs> observations, next_observations;
    std::vector<int> actions;
    std::vector<double> rewards;
    std::vector<std::uint8_t> terminated;
    std::vector<bool> truncated;
    for (const recorded_step& s : call) {
        observations.push_back(static_cast<Obs>(s.observation));
        actions.push_back(s.action);
        rewards.push_back(s.reward);
        terminated.push_back(s.terminated ? 1 : 0);
        truncated.push_back(s.truncated);
        next_observations.push_back(static_cast<Obs>(s.next_observation));
    }
    w.step(observations, actions, rewards, terminated, truncated, next_observations, sink);
}

auto collect(std::vector<transition>& out) {
    return [&out](const transition& t) { out.push_back(t); };
}

long value_of(long observation) {
    return observation;
}
long value_of(const per_test::fragile_item& observation) {
    return observation.value;
}

template <class Obs>
transition plain(const per::n_step_transition<Obs, int>& t) {
    return {value_of(t.observation),
            t.action,
            t.reward,
            value_of(t.next_observation),
            t.discount,
            t.steps,
            t.terminated,
            t.truncated,
            t.env};
}

auto fields(const transition& t) {
    return std::make_tuple(t.env, t.observation, t.action, t.reward, t.next_observation, t.discount,
                           t.steps, t.terminated, t.truncated);
}

void require_same(const std::vector<transition>& got, const std::vector<transition>& want) {
    REQUIRE(got.size() == want.size());
    for (std::size_t k = 0; k < got.size(); ++k) {
        INFO("transition " << k << " (env " << want[k].env << ", s " << want[k].observation << ")");
        REQUIRE(got[k].env == want[k].env);
        REQUIRE(got[k].observation == want[k].observation);
        REQUIRE(got[k].action == want[k].action);
        REQUIRE(got[k].reward == want[k].reward);
        REQUIRE(got[k].next_observation == want[k].next_observation);
        REQUIRE(got[k].discount == want[k].discount);
        REQUIRE(got[k].steps == want[k].steps);
        REQUIRE(got[k].terminated == want[k].terminated);
        REQUIRE(got[k].truncated == want[k].truncated);
    }
}

// The brute-force reference: split each env's steps into episodes and write down every start's
// transition directly, in the documented order: by the call that completes it (the stream's
// final flush_all last), then env, then start. R is the documented Horner sum; `forward` gets
// the forward sum with powers of gamma and `scale` the sum of |terms|, for the order check.
struct reference {
    std::vector<transition> transitions;
    std::vector<double> forward;
    std::vector<double> scale;
    std::map<long, std::size_t> episode_of; // observation id -> episode number
};

reference brute_force(const stream& steps, std::size_t n, double gamma) {
    struct keyed {
        std::size_t call, env, start;
        transition t;
        double forward, scale;
    };
    std::vector<keyed> all;
    reference result;
    std::size_t episodes = 0;
    const std::size_t num_envs = steps.empty() ? 0 : steps[0].size();
    for (std::size_t env = 0; env < num_envs; ++env) {
        std::size_t begin = 0; // the call of the episode's first step
        for (std::size_t call = 0; call < steps.size(); ++call) {
            const recorded_step& last_step = steps[call][env];
            const bool ended = last_step.terminated || last_step.truncated;
            if (!ended && call + 1 < steps.size()) {
                continue;
            }
            ++episodes;
            for (std::size_t start = begin; start <= call; ++start) {
                const recorded_step& first = steps[start][env];
                result.episode_of[first.observation] = episodes;
                result.episode_of[first.next_observation] = episodes;
                const std::size_t m = std::min(n, call + 1 - start);
                const std::size_t last = start + m - 1;
                double horner = steps[last][env].reward;
                for (std::size_t k = last; k-- > start;) {
                    horner = steps[k][env].reward + gamma * horner;
                }
                double power = 1.0, forward = 0.0, scale = 0.0;
                for (std::size_t k = 0; k < m; ++k) {
                    forward += power * steps[start + k][env].reward;
                    scale += power * std::abs(steps[start + k][env].reward);
                    power *= gamma;
                }
                keyed x{last, env, start, {}, forward, scale};
                x.t.observation = first.observation;
                x.t.action = first.action;
                x.t.reward = horner;
                x.t.next_observation = steps[last][env].next_observation;
                x.t.steps = m;
                x.t.env = env;
                if (last == call && ended) { // the episode's end: its flags, both = terminated
                    x.t.terminated = steps[last][env].terminated;
                    x.t.truncated = steps[last][env].truncated && !x.t.terminated;
                } else if (m < n) { // a tail of the unfinished episode: the final flush_all
                    x.call = steps.size();
                    x.t.truncated = true;
                }
                x.t.discount = x.t.terminated ? 0.0 : power;
                all.push_back(x);
            }
            begin = call + 1;
        }
    }
    std::sort(all.begin(), all.end(), [](const keyed& a, const keyed& b) {
        return std::tie(a.call, a.env, a.start) < std::tie(b.call, b.env, b.start);
    });
    for (const keyed& x : all) {
        result.transitions.push_back(x.t);
        result.forward.push_back(x.forward);
        result.scale.push_back(x.scale);
    }
    return result;
}

// What a writer emits for one more step of every env (nothing ends) and a flush_all: with
// pending() this shows all of its state.
template <class Obs>
std::vector<transition> probe(per::n_step_writer<Obs, int> w) {
    std::vector<recorded_step> call(w.num_envs());
    for (std::size_t env = 0; env < call.size(); ++env) {
        call[env] = {long(900 + env), int(env), 0.25 * double(env + 1), long(950 + env)};
    }
    std::vector<transition> out;
    const auto sink = [&out](const per::n_step_transition<Obs, int>& t) {
        out.push_back(plain(t));
    };
    step_all(w, call, sink);
    w.flush_all(sink);
    return out;
}

template <class Obs>
void require_same_state(const per::n_step_writer<Obs, int>& got,
                        const per::n_step_writer<Obs, int>& want) {
    REQUIRE(got.num_envs() == want.num_envs());
    for (std::size_t env = 0; env < got.num_envs(); ++env) {
        REQUIRE(got.pending(env) == want.pending(env));
    }
    require_same(probe(got), probe(want));
}

// A writer of 3 envs, n = 3, gamma 0.5, with 2, 1 and 2 steps pending.
writer writer_with_pending() {
    writer w(3, 3, 0.5);
    const auto ignore = [](const transition&) {};
    step_all(w, {{1, 0, 1.0, 2}, {11, 1, 2.0, 12}, {21, 2, 3.0, 22}}, ignore);
    step_all(w, {{2, 3, 4.0, 3}, {12, 4, 5.0, 13, true}, {22, 5, 6.0, 23}}, ignore);
    step_all(w, {{3, 6, 7.0, 4, true}, {13, 7, 8.0, 14}, {23, 8, 9.0, 24}}, ignore);
    step_all(w, {{4, 0, 1.5, 5}, {14, 1, 2.5, 15}, {24, 2, 3.5, 25}}, ignore);
    step_all(w, {{5, 3, 4.5, 6}, {15, 4, 5.5, 16, false, true}, {25, 5, 6.5, 26}}, ignore);
    step_all(w, {{6, 0, 0.5, 7}, {16, 1, 0.5, 17}, {26, 2, 0.5, 27}}, ignore);
    return w;
}

struct sink_failure : std::runtime_error {
    sink_failure()
        : std::runtime_error("sink failed on purpose") {}
};

} // namespace

TEST_CASE("n_step_writer matches the brute-force reference", "[n_step]") {
    std::uint64_t seed = 20240;
    for (std::size_t num_envs : {1, 3, 8}) {
        for (std::size_t n : {1, 2, 3, 5}) {
            for (double gamma : {0.0, 0.5, 0.99, 1.0}) {
                CAPTURE(num_envs, n, gamma, ++seed);
                const stream steps = random_stream(num_envs, 150, seed);
                const reference want = brute_force(steps, n, gamma);

                writer w(num_envs, n, gamma);
                std::vector<transition> got;
                std::vector<std::size_t> episode_length(num_envs, 0);
                for (const auto& call : steps) {
                    step_all(w, call, collect(got));
                    for (std::size_t env = 0; env < num_envs; ++env) {
                        const bool ended = call[env].terminated || call[env].truncated;
                        episode_length[env] = ended ? 0 : episode_length[env] + 1;
                        REQUIRE(w.pending(env) == std::min(episode_length[env], n - 1));
                    }
                }
                w.flush_all(collect(got));

                // The same multiset of transitions...
                auto sorted_got = got, sorted_want = want.transitions;
                const auto by_fields = [](const transition& a, const transition& b) {
                    return fields(a) < fields(b);
                };
                std::sort(sorted_got.begin(), sorted_got.end(), by_fields);
                std::sort(sorted_want.begin(), sorted_want.end(), by_fields);
                require_same(sorted_got, sorted_want);
                // ... in the documented order, with R bit for bit the Horner sum.
                require_same(got, want.transitions);

                for (std::size_t k = 0; k < got.size(); ++k) {
                    // The forward sum agrees within 1e-12 relative to the sum of |terms|.
                    REQUIRE(std::abs(got[k].reward - want.forward[k]) <= 1e-12 * want.scale[k]);
                    if (got[k].terminated) {
                        REQUIRE(got[k].discount == 0.0);
                    } else {
                        REQUIRE(got[k].discount ==
                                Approx(std::pow(gamma, double(got[k].steps))).epsilon(1e-12));
                    }
                    // Nothing crosses an episode boundary.
                    REQUIRE(want.episode_of.at(got[k].observation) ==
                            want.episode_of.at(got[k].next_observation));
                }
                for (std::size_t env = 0; env < num_envs; ++env) {
                    REQUIRE(w.pending(env) == 0);
                }

                // The per-env step, env 0..E-1 in each call, emits the same in the same order.
                writer one_by_one(num_envs, n, gamma);
                std::vector<transition> got_one_by_one;
                for (const auto& call : steps) {
                    for (std::size_t env = 0; env < num_envs; ++env) {
                        const recorded_step& s = call[env];
                        one_by_one.step(env, s.observation, s.action, s.reward, s.terminated,
                                        s.truncated, s.next_observation, collect(got_one_by_one));
                    }
                }
                one_by_one.flush_all(collect(got_one_by_one));
                require_same(got_one_by_one, got);
            }
        }
    }
}

TEST_CASE("n = 1 gives plain transitions, one per step", "[n_step]") {
    const stream steps = random_stream(3, 100, 7);
    writer w(3, 1, 0.9);
    for (const auto& call : steps) {
        std::vector<transition> got;
        step_all(w, call, collect(got));
        REQUIRE(got.size() == 3);
        for (std::size_t env = 0; env < 3; ++env) {
            const recorded_step& s = call[env];
            REQUIRE(got[env].env == env);
            REQUIRE(got[env].observation == s.observation);
            REQUIRE(got[env].action == s.action);
            REQUIRE(got[env].reward == s.reward);
            REQUIRE(got[env].next_observation == s.next_observation);
            REQUIRE(got[env].discount == (s.terminated ? 0.0 : 0.9));
            REQUIRE(got[env].steps == 1);
            REQUIRE(got[env].terminated == s.terminated);
            REQUIRE(got[env].truncated == (s.truncated && !s.terminated));
            REQUIRE(w.pending(env) == 0);
        }
    }
    std::vector<transition> flushed;
    w.flush_all(collect(flushed));
    REQUIRE(flushed.empty());
}

TEST_CASE("an episode end flushes the shorter tails; terminated does not bootstrap", "[n_step]") {
    struct ending {
        bool terminated, truncated;
    };
    for (ending end : {ending{false, true}, ending{true, false}, ending{true, true}}) {
        CAPTURE(end.terminated, end.truncated);
        writer w(1, 5, 0.5);
        std::vector<transition> got;
        w.step(0, 10L, 0, 1.0, false, false, 11L, collect(got));
        w.step(0, 11L, 1, 2.0, false, false, 12L, collect(got));
        REQUIRE(got.empty());
        REQUIRE(w.pending(0) == 2);
        w.step(0, 12L, 2, 4.0, end.terminated, end.truncated, 13L, collect(got));
        REQUIRE(w.pending(0) == 0);
        // 1 + 0.5 (2 + 0.5 * 4) = 3, 2 + 0.5 * 4 = 4, 4; all bootstrap (or not) from s = 13.
        const bool terminated = end.terminated; // both set counts as terminated
        const double d = terminated ? 0.0 : 1.0;
        require_same(got, {{10, 0, 3.0, 13, d * 0.125, 3, terminated, !terminated, 0},
                           {11, 1, 4.0, 13, d * 0.25, 2, terminated, !terminated, 0},
                           {12, 2, 4.0, 13, d * 0.5, 1, terminated, !terminated, 0}});
    }
}

TEST_CASE("a window that fills at the terminal step carries its flags", "[n_step]") {
    writer w(1, 2, 0.5);
    std::vector<transition> got;
    w.step(0, 1L, 0, 1.0, false, false, 2L, collect(got));
    w.step(0, 2L, 1, 2.0, true, false, 3L, collect(got));
    require_same(got,
                 {{1, 0, 2.0, 3, 0.0, 2, true, false, 0}, {2, 1, 2.0, 3, 0.0, 1, true, false, 0}});
}

TEST_CASE("nothing crosses an episode boundary", "[n_step]") {
    writer w(1, 3, 1.0);
    std::vector<transition> got;
    w.step(0, 1L, 0, 100.0, false, true, 2L, collect(got)); // an episode of one step
    w.step(0, 5L, 1, 1.0, false, false, 6L, collect(got));  // a new episode from s = 5
    w.step(0, 6L, 2, 2.0, false, false, 7L, collect(got));
    w.step(0, 7L, 3, 3.0, false, false, 8L, collect(got));
    require_same(
        got, {{1, 0, 100.0, 2, 1.0, 1, false, true, 0}, {5, 1, 6.0, 8, 1.0, 3, false, false, 0}});
}

TEST_CASE("reset drops the pending steps, flush emits them as truncated", "[n_step]") {
    writer w = writer_with_pending();
    REQUIRE(w.pending(0) == 2);
    REQUIRE(w.pending(1) == 1);
    REQUIRE(w.pending(2) == 2);

    writer flushed = w;
    std::vector<transition> got;
    w.reset(0);
    REQUIRE(w.pending(0) == 0);
    REQUIRE(w.pending(2) == 2); // the other envs keep theirs

    flushed.flush(0, collect(got));
    REQUIRE(flushed.pending(0) == 0);
    // Env 0 has s = 4 (r 1.5) and s = 5 (r 4.5) pending after 5 -> 6, then 6 -> 7 with r 0.5
    // completed the window 4, 5, 6. Left: starts 5 and 6, bootstrapping from s = 7.
    require_same(got, {{5, 3, 4.5 + 0.5 * 0.5, 7, 0.25, 2, false, true, 0},
                       {6, 0, 0.5, 7, 0.5, 1, false, true, 0}});
    got.clear();
    flushed.flush(0, collect(got)); // nothing left to flush
    REQUIRE(got.empty());

    // After the reset, env 0 starts clean: its next window holds only the new steps.
    for (writer* x : {&w, &flushed}) {
        x->step(0, 40L, 1, 1.0, false, false, 41L, collect(got));
        x->step(0, 41L, 2, 1.0, false, false, 42L, collect(got));
        REQUIRE(got.empty());
        x->step(0, 42L, 3, 1.0, false, false, 43L, collect(got));
        require_same(got, {{40, 1, 1.75, 43, 0.125, 3, false, false, 0}});
        got.clear();
    }
    w.reset_all();
    for (std::size_t env = 0; env < 3; ++env) {
        REQUIRE(w.pending(env) == 0);
    }
    w.flush_all(collect(got));
    REQUIRE(got.empty());
}

TEST_CASE("flush_all emits env 0, ..., E-1, each oldest start first", "[n_step]") {
    writer w = writer_with_pending();
    std::vector<transition> got;
    w.flush_all(collect(got));
    require_same(got, {{5, 3, 4.75, 7, 0.25, 2, false, true, 0},
                       {6, 0, 0.5, 7, 0.5, 1, false, true, 0},
                       {16, 1, 0.5, 17, 0.5, 1, false, true, 1},
                       {25, 5, 6.75, 27, 0.25, 2, false, true, 2},
                       {26, 2, 0.5, 27, 0.5, 1, false, true, 2}});
    for (std::size_t env = 0; env < 3; ++env) {
        REQUIRE(w.pending(env) == 0);
    }
}

TEST_CASE("the constructor rejects bad arguments, naming them", "[n_step]") {
    const std::string where = "per::n_step_writer: ";
    const auto message = [&](const std::string& text) { return PER_CONTAINS(where + text); };
    REQUIRE_THROWS_AS(writer(0, 3, 0.9), std::invalid_argument);
    REQUIRE_THROWS_WITH(writer(0, 3, 0.9), message("num_envs = 0 must be >= 1"));
    REQUIRE_THROWS_WITH(writer(2, 0, 0.9), message("n = 0 must be in [1, 1024]"));
    REQUIRE_THROWS_WITH(writer(2, 1025, 0.9), message("n = 1025 must be in [1, 1024]"));
    REQUIRE_THROWS_AS(writer(2, 1025, 0.9), std::invalid_argument);
    REQUIRE_THROWS_WITH(writer(2, 3, -0.5), message("gamma = -0.5 must be in [0, 1]"));
    REQUIRE_THROWS_WITH(writer(2, 3, 1.5), message("gamma = 1.5 must be in [0, 1]"));
    REQUIRE_THROWS_WITH(writer(2, 3, nan_value), message("gamma = nan must be in [0, 1]"));
    REQUIRE_THROWS_WITH(writer(2, 3, inf_value), message("gamma = inf must be in [0, 1]"));
    REQUIRE_THROWS_AS(writer(2, 3, inf_value), std::invalid_argument);
    const std::size_t huge = std::numeric_limits<std::size_t>::max();
    REQUIRE_THROWS_AS(writer(huge, 2, 0.9), std::length_error);
    REQUIRE_THROWS_WITH(writer(huge, 2, 0.9), message("num_envs = " + std::to_string(huge)));

    const writer w(4, writer::max_n, 1.0);
    REQUIRE(w.num_envs() == 4);
    REQUIRE(w.n() == writer::max_n);
    REQUIRE(w.gamma() == 1.0);
}

TEST_CASE("bad arguments throw, naming them, and leave the writer as before", "[n_step]") {
    const writer before = writer_with_pending();
    writer w = before;
    std::vector<transition> got;
    const auto sink = collect(got);

    std::vector<long> obs{1, 2, 3}, next{4, 5, 6};
    std::vector<int> actions{0, 1, 2};
    std::vector<double> rewards{0.5, 0.5, 0.5};
    std::vector<bool> flags{false, true, false};
    const std::vector<long> obs2{1, 2};
    const std::vector<int> actions4{0, 1, 2, 3};
    const std::vector<double> rewards2{0.5, 0.5};
    const std::vector<bool> flags0{};

    using per_test::bad_call;
    const std::string step = "per::n_step_writer::step: ";
    const std::vector<bad_call> calls = {
        {[&] { w.step(obs2, actions, rewards, flags, flags, next, sink); }, false,
         step + "observations.size() = 2 must equal num_envs() = 3"},
        {[&] { w.step(obs, actions4, rewards, flags, flags, next, sink); }, false,
         step + "actions.size() = 4 must equal num_envs() = 3"},
        {[&] { w.step(obs, actions, rewards2, flags, flags, next, sink); }, false,
         step + "rewards.size() = 2 must equal num_envs() = 3"},
        {[&] { w.step(obs, actions, rewards, flags0, flags, next, sink); }, false,
         step + "terminated.size() = 0 must equal num_envs() = 3"},
        {[&] { w.step(obs, actions, rewards, flags, flags0, next, sink); }, false,
         step + "truncated.size() = 0 must equal num_envs() = 3"},
        {[&] { w.step(obs, actions, rewards, flags, flags, obs2, sink); }, false,
         step + "next_observations.size() = 2 must equal num_envs() = 3"},
        {[&] {
             const std::vector<double> r{0.5, nan_value, 0.5};
             w.step(obs, actions, r, flags, flags, next, sink);
         },
         false, step + "rewards[1] = nan must be finite"},
        {[&] {
             const std::vector<float> r{0.5f, 0.5f, -std::numeric_limits<float>::infinity()};
             w.step(obs, actions, r, flags, flags, next, sink);
         },
         false, step + "rewards[2] = -inf must be finite"},
        {[&] {
             const std::vector<float> dones{0.0f, 0.5f, 1.0f}; // a reward range passed as dones
             w.step(obs, actions, rewards, dones, flags, next, sink);
         },
         false, step + "terminated[1] = 0.5 must be 0 or 1"},
        {[&] {
             const double dones[3] = {0.0, 0.0, nan_value};
             w.step(obs, actions, rewards, flags, dones, next, sink);
         },
         false, step + "truncated[2] = nan must be 0 or 1"},
        {[&] {
             const std::array<int, 3> dones = {1, 2, 0};
             w.step(obs, actions, rewards, flags, dones, next, sink);
         },
         false, step + "truncated[1] = 2 must be 0 or 1"},
        {[&] { w.step(2, 1L, 0, inf_value, false, false, 2L, sink); }, false,
         step + "reward = inf must be finite (env 2)"},
        {[&] { w.step(0, 1L, 0, nan_value, true, false, 2L, sink); }, false,
         step + "reward = nan must be finite (env 0)"},
        {[&] { w.step(3, 1L, 0, 1.0, false, false, 2L, sink); }, true,
         step + "env = 3 must be < num_envs() = 3"},
        {[&] { w.flush(3, sink); }, true,
         "per::n_step_writer::flush: env = 3 must be < num_envs() = 3"},
        {[&] { w.reset(7); }, true, "per::n_step_writer::reset: env = 7 must be < num_envs() = 3"},
        {[&] { (void)w.pending(3); }, true,
         "per::n_step_writer::pending: env = 3 must be < num_envs() = 3"},
    };
    per_test::require_bad_calls(calls, [&] {
        REQUIRE(got.empty());
        require_same_state(w, before);
    });
}

TEST_CASE("a throwing sink leaves the writer as after a successful call", "[n_step]") {
    // Env 0 completes a window (1 transition), env 1 terminates (2), env 2 is truncated (3).
    const std::vector<recorded_step> call = {
        {7, 1, 1.0, 8}, {17, 2, 2.0, 18, true}, {27, 3, 3.0, 28, false, true}};
    writer after = writer_with_pending();
    std::vector<transition> all;
    step_all(after, call, collect(all));
    REQUIRE(all.size() == 6);

    for (std::size_t throw_at = 0; throw_at < all.size(); ++throw_at) {
        CAPTURE(throw_at);
        writer w = writer_with_pending();
        std::vector<transition> seen;
        const auto failing = [&](const transition& t) {
            seen.push_back(t);
            if (seen.size() == throw_at + 1) {
                throw sink_failure();
            }
        };
        REQUIRE_THROWS_AS(step_all(w, call, failing), sink_failure);
        require_same(seen, std::vector<transition>(all.begin(), all.begin() + seen.size()));
        REQUIRE(seen.size() == throw_at + 1);
        require_same_state(w, after);
    }

    writer w = writer_with_pending();
    const auto fail_at_once = [](const transition&) { throw sink_failure(); };
    REQUIRE_THROWS_AS(w.flush_all(fail_at_once), sink_failure);
    require_same_state(w, writer(3, 3, 0.5)); // every window empty, as after flush_all
    REQUIRE_THROWS_AS(writer_with_pending().flush(2, fail_at_once), sink_failure);
}

TEST_CASE("a throwing Obs copy: strong while recording, as after success while emitting",
          "[n_step]") {
    const std::vector<recorded_step> call = {
        {7, 1, 1.0, 8}, {17, 2, 2.0, 18, true}, {27, 3, 3.0, 28, false, true}};
    const auto make = [] {
        fragile_writer w(3, 3, 0.5);
        const auto ignore = [](const per::n_step_transition<per_test::fragile_item, int>&) {};
        step_all(w, {{1, 0, 1.0, 2}, {11, 1, 2.0, 12}, {21, 2, 3.0, 22}}, ignore);
        step_all(w, {{2, 3, 4.0, 3}, {12, 4, 5.0, 13}, {22, 5, 6.0, 23}}, ignore);
        return w;
    };
    const fragile_writer before = make();
    fragile_writer after = make();
    std::size_t emitted = 0;
    step_all(after, call, [&](const auto&) { ++emitted; });
    REQUIRE(emitted == 7); // a full window in env 0, every start (3 each) in envs 1 and 2

    // Recording copies 2 Obs per env (6); emitting copies one per transition and one next
    // observation per emitting env (10): copies 0..15 may fail, from 16 on none is made.
    for (long fail_at = 0; fail_at <= 16; ++fail_at) {
        CAPTURE(fail_at);
        fragile_writer w = make();
        std::vector<transition> seen;
        per_test::copies_until_failure = fail_at;
        bool threw = false;
        try {
            step_all(w, call, [&](const auto& t) { seen.push_back(plain(t)); });
        } catch (const per_test::copy_failure&) {
            threw = true;
        }
        per_test::copies_until_failure = -1;
        REQUIRE(threw == (fail_at < 16));
        if (fail_at < 6) {
            REQUIRE(seen.empty());
            require_same_state(w, before);
        } else {
            require_same_state(w, after);
        }
    }
}

TEST_CASE("the ranges can be arrays, float rewards and bool vectors", "[n_step]") {
    writer batched(2, 2, 0.5), one_by_one(2, 2, 0.5);
    std::vector<transition> got, want;
    const long obs[2] = {1, 11};
    const std::array<int, 2> actions = {3, 4};
    const std::array<float, 2> rewards = {0.25f, -1.5f};
    const std::vector<bool> terminated = {false, true};
    const float truncated[2] = {1.0f, 0.0f}; // float dones: 1 is true, 0 false
    const std::vector<long> next = {2, 12};
    batched.step(obs, actions, rewards, terminated, truncated, next, collect(got));
    one_by_one.step(0, 1L, 3, 0.25, false, true, 2L, collect(want));
    one_by_one.step(1, 11L, 4, -1.5, true, false, 12L, collect(want));
    require_same(got, want);
    REQUIRE(got.size() == 2);
}

TEST_CASE("a prioritized_replay of n-step transitions as the sink's target", "[n_step]") {
    using observation = std::vector<float>;
    using item = per::n_step_transition<observation, int>;
    per::prioritized_replay<item> buffer(1000);
    per::n_step_writer<observation, int> w(3, 3, 0.99);
    std::vector<item> pushed;
    const auto sink = [&](const item& t) {
        buffer.push(t);
        pushed.push_back(t);
    };
    const stream steps = random_stream(3, 60, 99);
    for (const auto& call : steps) {
        std::vector<observation> obs, next;
        std::vector<int> actions;
        std::vector<double> rewards;
        std::vector<bool> terminated, truncated;
        for (const recorded_step& s : call) {
            obs.push_back({float(s.observation), 0.5f});
            next.push_back({float(s.next_observation), 0.5f});
            actions.push_back(s.action);
            rewards.push_back(s.reward);
            terminated.push_back(s.terminated);
            truncated.push_back(s.truncated);
        }
        w.step(obs, actions, rewards, terminated, truncated, next, sink);
    }
    w.flush_all(sink);
    REQUIRE(pushed.size() == 3 * 60); // one transition per start
    REQUIRE(buffer.size() == pushed.size());
    for (std::size_t slot = 0; slot < buffer.size(); ++slot) {
        const item& stored = buffer.item(slot);
        REQUIRE(stored.observation == pushed[slot].observation);
        REQUIRE(stored.next_observation == pushed[slot].next_observation);
        REQUIRE(stored.reward == pushed[slot].reward);
        REQUIRE(stored.discount == pushed[slot].discount);
        REQUIRE(stored.env == pushed[slot].env);
    }
    std::mt19937_64 rng(5);
    const auto batch = buffer.sample(16, 0.4, rng);
    REQUIRE(batch.size() == 16);
}
