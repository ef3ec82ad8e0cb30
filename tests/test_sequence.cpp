// sequence_writer and sequence_priority: what the writer emits against a brute-force reference
// computed from whole recorded episodes, when it emits, the priority rule against hand values
// and its documented summation order, bad input and the exception guarantees, and a
// prioritized_replay of sequences as the sink's target.
#include <per/prioritized_replay.hpp>
#include <per/sequence.hpp>

#include "bad_call.hpp"
#include "fragile_item.hpp"
#include "per_catch.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <iterator>
#include <limits>
#include <random>
#include <stdexcept>
#include <string>
#include <tuple>
#include <vector>

namespace {

using seq = per::sequence<long>;
using writer = per::sequence_writer<long>;

const double nan_value = std::numeric_limits<double>::quiet_NaN();
const double inf_value = std::numeric_limits<double>::infinity();
const long pad = -1; // the padding of most writers here: step ids are >= 1

struct sink_failure : std::runtime_error {
    sink_failure()
        : std::runtime_error("sink failed on purpose") {}
};

auto collect(std::vector<seq>& out) {
    return [&out](const seq& s) { out.push_back(s); };
}
const auto ignore = [](const seq&) {};

auto fields(const seq& s) {
    return std::tie(s.env, s.start, s.valid_steps, s.valid_burn_in, s.episode_ended, s.steps,
                    s.burn_in);
}

void require_same(const std::vector<seq>& got, const std::vector<seq>& want) {
    REQUIRE(got.size() == want.size());
    for (std::size_t k = 0; k < got.size(); ++k) {
        CAPTURE(k, want[k].env, want[k].start);
        REQUIRE(fields(got[k]) == fields(want[k]));
    }
}

// The sequences of one whole episode, straight from the definition: starts 0, stride, ...
// until the first sequence that holds the last step.
std::vector<seq> expected_sequences(const std::vector<long>& episode, std::size_t env,
                                    std::size_t length, std::size_t overlap, std::size_t burn_in) {
    std::vector<seq> out;
    const long size = static_cast<long>(episode.size());
    const long stride = static_cast<long>(length - overlap);
    const long burn = static_cast<long>(burn_in);
    for (long start = 0; start < size; start += stride) {
        seq s;
        for (long k = start - burn; k < start; ++k) {
            s.burn_in.push_back(k >= 0 ? episode[static_cast<std::size_t>(k)] : pad);
            s.valid_burn_in += k >= 0 ? 1 : 0;
        }
        for (long k = start; k < start + static_cast<long>(length); ++k) {
            s.steps.push_back(k < size ? episode[static_cast<std::size_t>(k)] : pad);
            s.valid_steps += k < size ? 1 : 0;
        }
        s.episode_ended = start + static_cast<long>(length) >= size;
        s.env = env;
        s.start = static_cast<std::size_t>(start);
        out.push_back(s);
        if (s.episode_ended) {
            break;
        }
    }
    return out;
}

// Full sequences of a running episode of `steps` steps emitted so far: those with a step after.
std::size_t full_emitted(std::size_t steps, std::size_t length, std::size_t stride) {
    return steps <= length ? 0 : (steps - length - 1) / stride + 1;
}

struct config {
    std::size_t length, overlap, burn_in, num_envs;
};

const std::vector<config> configs = {
    {80, 40, 40, 3}, // R2D2
    {5, 0, 0, 2},    {5, 2, 3, 4}, {4, 3, 7, 1}, {1, 0, 0, 2},
    {1, 0, 2, 3},    {6, 3, 0, 2}, {7, 0, 3, 2}, {3, 1, 1, 5},
};

// An episode length: short, exactly aligned (length + k stride), one off, or anything up to
// a few sequences.
std::size_t random_episode_length(const config& c, std::mt19937_64& rng, bool allow_empty) {
    const std::size_t stride = c.length - c.overlap;
    std::uniform_int_distribution<int> kind(0, 4);
    std::uniform_int_distribution<std::size_t> k(0, 3);
    switch (kind(rng)) {
    case 0:
        return std::uniform_int_distribution<std::size_t>(allow_empty ? 0 : 1, c.length)(rng);
    case 1:
        return c.length + k(rng) * stride;
    case 2:
        return c.length + k(rng) * stride + 1;
    case 3:
        return c.length + k(rng) * stride - 1 + (c.length == 1 ? 1 : 0);
    default:
        return std::uniform_int_distribution<std::size_t>(1, 4 * c.length + 3)(rng);
    }
}

} // namespace

TEST_CASE("sequence_writer matches the brute-force reference, one env at a time", "[sequence]") {
    std::uint64_t seed = 1;
    for (const config& c : configs) {
        CAPTURE(c.length, c.overlap, c.burn_in, c.num_envs);
        std::mt19937_64 rng(seed++);
        writer w(c.num_envs, c.length, c.overlap, c.burn_in, pad);
        REQUIRE(w.stride() == c.length - c.overlap);
        std::vector<std::vector<seq>> got(c.num_envs), want(c.num_envs);
        std::vector<std::vector<long>> current(c.num_envs);
        std::vector<std::size_t> target(c.num_envs), episodes(c.num_envs, 0);
        for (std::size_t env = 0; env < c.num_envs; ++env) {
            target[env] = random_episode_length(c, rng, true);
        }
        long next_id = 1;
        std::uniform_int_distribution<std::size_t> pick(0, c.num_envs - 1);
        // Interleaved at random: each env adds its episode's steps, then ends it.
        while (*std::min_element(episodes.begin(), episodes.end()) < 12) {
            const std::size_t env = pick(rng);
            const std::size_t before = got[env].size();
            if (current[env].size() < target[env]) {
                current[env].push_back(next_id++);
                w.add(env, current[env].back(), collect(got[env]));
                REQUIRE(w.episode_steps(env) == current[env].size());
            } else {
                w.end_episode(env, collect(got[env]));
                const std::vector<seq> episode =
                    expected_sequences(current[env], env, c.length, c.overlap, c.burn_in);
                want[env].insert(want[env].end(), episode.begin(), episode.end());
                current[env].clear();
                target[env] = random_episode_length(c, rng, true);
                ++episodes[env];
                REQUIRE(got[env].size() == want[env].size());
                REQUIRE(w.episode_steps(env) == 0);
            }
            // Nothing of an env comes out while another steps, and a full sequence exactly
            // when the step after it arrives.
            REQUIRE(got[env].size() - before <= 2);
            REQUIRE(got[env].size() ==
                    want[env].size() + full_emitted(current[env].size(), c.length, w.stride()));
            REQUIRE(w.next_start(env) == w.stride() * (got[env].size() - want[env].size()));
        }
        for (std::size_t env = 0; env < c.num_envs; ++env) {
            CAPTURE(env);
            got[env].resize(want[env].size()); // drop the running episode's full sequences
            require_same(got[env], want[env]);
        }
    }
}

TEST_CASE("add_all matches the reference and add then end_episode, env by env", "[sequence]") {
    std::uint64_t seed = 100;
    for (const config& c : configs) {
        CAPTURE(c.length, c.overlap, c.burn_in, c.num_envs);
        std::mt19937_64 rng(seed++);
        writer batched(c.num_envs, c.length, c.overlap, c.burn_in, pad);
        writer one_by_one = batched;
        std::vector<seq> got, by_env_calls, want;
        std::vector<std::vector<long>> current(c.num_envs);
        std::vector<std::size_t> target(c.num_envs);
        for (std::size_t& t : target) {
            t = random_episode_length(c, rng, false);
        }
        long next_id = 1;
        for (int call = 0; call < 400; ++call) {
            std::vector<long> steps(c.num_envs);
            std::vector<bool> ends(c.num_envs);
            for (std::size_t env = 0; env < c.num_envs; ++env) {
                steps[env] = next_id++;
                current[env].push_back(steps[env]);
                ends[env] = current[env].size() == target[env];
                one_by_one.add(env, steps[env], collect(by_env_calls));
                if (ends[env]) {
                    one_by_one.end_episode(env, collect(by_env_calls));
                    const std::vector<seq> episode =
                        expected_sequences(current[env], env, c.length, c.overlap, c.burn_in);
                    want.insert(want.end(), episode.begin(), episode.end());
                    current[env].clear();
                    target[env] = random_episode_length(c, rng, false);
                }
            }
            batched.add_all(steps, ends, collect(got));
        }
        // End the running episodes so that every sequence is compared.
        for (std::size_t env = 0; env < c.num_envs; ++env) {
            batched.end_episode(env, collect(got));
            one_by_one.end_episode(env, collect(by_env_calls));
            const std::vector<seq> episode =
                expected_sequences(current[env], env, c.length, c.overlap, c.burn_in);
            want.insert(want.end(), episode.begin(), episode.end());
        }
        require_same(got, by_env_calls);
        for (std::size_t env = 0; env < c.num_envs; ++env) {
            CAPTURE(env);
            std::vector<seq> got_env, want_env;
            std::copy_if(got.begin(), got.end(), std::back_inserter(got_env),
                         [&](const seq& s) { return s.env == env; });
            std::copy_if(want.begin(), want.end(), std::back_inserter(want_env),
                         [&](const seq& s) { return s.env == env; });
            require_same(got_env, want_env);
        }
    }
}

TEST_CASE("R2D2's cut: 80 steps, overlap 40, burn-in 40", "[sequence]") {
    const auto cut = [](std::size_t steps) {
        writer w(1, 80, 40, 40, pad);
        std::vector<seq> got;
        for (std::size_t k = 0; k < steps; ++k) {
            w.add(0, static_cast<long>(k), collect(got));
        }
        w.end_episode(0, collect(got));
        std::vector<std::tuple<std::size_t, std::size_t, std::size_t, bool>> shape;
        for (const seq& s : got) {
            REQUIRE(s.steps.size() == 80);
            REQUIRE(s.burn_in.size() == 40);
            REQUIRE(s.steps[0] == static_cast<long>(s.start));
            shape.emplace_back(s.start, s.valid_steps, s.valid_burn_in, s.episode_ended);
        }
        return shape;
    };
    using shape = std::vector<std::tuple<std::size_t, std::size_t, std::size_t, bool>>;
    REQUIRE(cut(0).empty());
    REQUIRE(cut(1) == shape{{0, 1, 0, true}});
    REQUIRE(cut(50) == shape{{0, 50, 0, true}});
    REQUIRE(cut(80) == shape{{0, 80, 0, true}});
    REQUIRE(cut(81) == shape{{0, 80, 0, false}, {40, 41, 40, true}});
    REQUIRE(cut(120) == shape{{0, 80, 0, false}, {40, 80, 40, true}}); // aligned: ends full
    REQUIRE(cut(201) == shape{{0, 80, 0, false},
                              {40, 80, 40, false},
                              {80, 80, 40, false},
                              {120, 80, 40, false},
                              {160, 41, 40, true}});
}

TEST_CASE("a small cut by hand: contents, padding and when each sequence comes out", "[sequence]") {
    writer w(2, 3, 1, 2, pad); // stride 2
    std::vector<seq> got;
    for (long step = 1; step <= 3; ++step) {
        w.add(1, step, collect(got));
    }
    REQUIRE(got.empty()); // full, but the episode might end here
    w.add(1, 4, collect(got));
    require_same(got, {{{pad, pad}, {1, 2, 3}, 0, 3, false, 1, 0}});
    w.add(1, 5, collect(got));
    w.add(0, 100, collect(got)); // another env does not disturb env 1
    REQUIRE(got.size() == 1);
    w.add(1, 6, collect(got));
    require_same(
        got, {{{pad, pad}, {1, 2, 3}, 0, 3, false, 1, 0}, {{1, 2}, {3, 4, 5}, 2, 3, false, 1, 2}});
    w.add(1, 7, collect(got));
    w.end_episode(1, collect(got));
    require_same(std::vector<seq>(got.begin() + 2, got.end()),
                 {{{3, 4}, {5, 6, 7}, 2, 3, true, 1, 4}});
    // The next episode starts over: no burn-in from the one before.
    got.clear();
    w.add(1, 8, collect(got));
    w.end_episode(1, collect(got));
    require_same(got, {{{pad, pad}, {8, pad, pad}, 0, 1, true, 1, 0}});
    got.clear();
    w.end_episode(1, collect(got)); // an empty episode gives nothing
    REQUIRE(got.empty());
    w.end_episode(0, collect(got));
    require_same(got, {{{pad, pad}, {100, pad, pad}, 0, 1, true, 0, 0}});
}

TEST_CASE("the default padding is Step{}; vector steps keep their values", "[sequence]") {
    per::sequence_writer<std::vector<int>> w(1, 2, 1, 1);
    REQUIRE(w.padding().empty());
    std::vector<per::sequence<std::vector<int>>> got;
    const auto sink = [&](const per::sequence<std::vector<int>>& s) { got.push_back(s); };
    w.add(0, {1, 1}, sink);
    w.add(0, {2, 2}, sink);
    w.add(0, {3}, sink);
    w.end_episode(0, sink);
    REQUIRE(got.size() == 2);
    REQUIRE(got[0].burn_in == std::vector<std::vector<int>>(1)); // one padding entry
    REQUIRE(got[0].steps == std::vector<std::vector<int>>{{1, 1}, {2, 2}});
    REQUIRE(got[1].burn_in == std::vector<std::vector<int>>{{1, 1}});
    REQUIRE(got[1].steps == std::vector<std::vector<int>>{{2, 2}, {3}});

    per::sequence_writer<int> zeros(1, 3, 0, 2);
    std::vector<per::sequence<int>> short_one;
    zeros.add(0, 7, [&](const per::sequence<int>& s) { short_one.push_back(s); });
    zeros.end_episode(0, [&](const per::sequence<int>& s) { short_one.push_back(s); });
    REQUIRE(short_one.size() == 1);
    REQUIRE(short_one[0].steps == std::vector<int>{7, 0, 0});
    REQUIRE(short_one[0].burn_in == std::vector<int>{0, 0});
}

TEST_CASE("flush emits without episode_ended, reset drops, both start a new episode",
          "[sequence]") {
    writer w(3, 3, 0, 1, pad);
    for (long step = 1; step <= 4; ++step) {
        w.add(0, step, ignore);
        w.add(1, 10 + step, ignore);
        w.add(2, 20 + step, ignore);
    }
    std::vector<seq> got;
    w.flush(0, collect(got));
    require_same(got, {{{3}, {4, pad, pad}, 1, 1, false, 0, 3}});
    REQUIRE(w.episode_steps(0) == 0);
    w.reset(1);
    REQUIRE(w.episode_steps(1) == 0);
    REQUIRE(w.next_start(1) == 0);
    got.clear();
    w.flush_all(collect(got));
    require_same(got, {{{23}, {24, pad, pad}, 1, 1, false, 2, 3}});
    w.add(0, 5, ignore);
    w.add(1, 15, ignore);
    w.reset_all();
    got.clear();
    w.flush_all(collect(got));
    REQUIRE(got.empty());
}

TEST_CASE("the add_all ranges can be arrays and float dones", "[sequence]") {
    writer batched(2, 1, 0, 1, pad), one_by_one(2, 1, 0, 1, pad);
    std::vector<seq> got, want;
    const long steps[2] = {1, 11};
    const std::array<float, 2> dones = {0.0f, 1.0f};
    batched.add_all(steps, dones, collect(got));
    batched.add_all(std::array<long, 2>{2, 12}, std::vector<bool>{true, false}, collect(got));
    one_by_one.add(0, 1, collect(want));
    one_by_one.add(1, 11, collect(want));
    one_by_one.end_episode(1, collect(want));
    one_by_one.add(0, 2, collect(want));
    one_by_one.end_episode(0, collect(want));
    one_by_one.add(1, 12, collect(want));
    require_same(got, want);
    REQUIRE(got.size() == 3);
}

// --- The priority rule ---------------------------------------------------------------------

namespace {

// The documented order, written out.
double reference_priority(const std::vector<double>& deltas, double eta) {
    double sum = 0.0;
    double max = 0.0;
    for (const double delta : deltas) {
        sum = sum + std::fabs(delta);
        max = std::max(max, std::fabs(delta));
    }
    const double mean = sum / static_cast<double>(deltas.size());
    const double weighted_max = eta * max;
    const double weighted_mean = (1.0 - eta) * mean;
    return weighted_max + weighted_mean;
}

} // namespace

TEST_CASE("sequence_priority against hand values", "[sequence]") {
    const std::vector<double> deltas = {1.0, -3.0, 2.0}; // max 3, mean 2
    REQUIRE(per::sequence_priority(deltas, 0.0) == 2.0);
    REQUIRE(per::sequence_priority(deltas, 1.0) == 3.0);
    REQUIRE(per::sequence_priority(deltas, 0.5) == 2.5);
    REQUIRE(per::sequence_priority(deltas) == 0.9 * 3.0 + (1.0 - 0.9) * 2.0);
    REQUIRE(per::sequence_priority(deltas) == Approx(2.9));
    REQUIRE(per::sequence_priority(deltas.begin(), deltas.end()) == per::sequence_priority(deltas));

    const double one[1] = {-2.5};
    REQUIRE(per::sequence_priority(one, 0.0) == 2.5);
    REQUIRE(per::sequence_priority(one, 1.0) == 2.5);
    REQUIRE(per::sequence_priority(one) == 0.9 * 2.5 + (1.0 - 0.9) * 2.5);
    REQUIRE(per::sequence_priority(one) == Approx(2.5));

    const std::vector<double> negative = {-4.0, -2.0, -0.0, -2.0};
    REQUIRE(per::sequence_priority(negative, 1.0) == 4.0);
    REQUIRE(per::sequence_priority(negative, 0.0) == 2.0);
    const std::vector<double> zeros = {0.0, -0.0};
    REQUIRE(per::sequence_priority(zeros) == 0.0);
    REQUIRE_FALSE(std::signbit(per::sequence_priority(zeros)));

    // Floats and ints convert to double first; pointers are iterators.
    const std::array<float, 3> floats = {0.5f, -1.5f, 0.25f};
    REQUIRE(per::sequence_priority(floats, 0.0) == 0.75);
    REQUIRE(per::sequence_priority(floats.data(), floats.data() + 2, 1.0) == 1.5);
    const std::vector<int> ints = {-6, 3};
    REQUIRE(per::sequence_priority(ints, 0.0) == 4.5);
}

TEST_CASE("sequence_priority sums left to right, bit for bit", "[sequence]") {
    // 1e16 + 1 rounds back to 1e16 (the spacing there is 2): left to right loses both ones,
    // right to left keeps them. The documented order is left to right.
    const std::vector<double> order = {1e16, 1.0, 1.0};
    REQUIRE(per::sequence_priority(order, 0.0) == 1e16 / 3.0);
    REQUIRE(per::sequence_priority(order, 0.0) != (1e16 + 2.0) / 3.0);

    std::mt19937_64 rng(7);
    std::uniform_real_distribution<double> value(-5.0, 5.0);
    std::uniform_int_distribution<int> size(1, 100);
    std::uniform_int_distribution<int> exponent(-20, 20);
    for (int round = 0; round < 300; ++round) {
        std::vector<double> deltas(static_cast<std::size_t>(size(rng)));
        for (double& delta : deltas) {
            delta = std::ldexp(value(rng), exponent(rng));
        }
        for (const double eta : {0.0, 0.9, 1.0, 0.3}) {
            CAPTURE(round, eta);
            REQUIRE(per::sequence_priority(deltas, eta) == reference_priority(deltas, eta));
        }
    }
}

TEST_CASE("sequence_priority rejects bad input, naming it", "[sequence]") {
    const std::string where = "per::sequence_priority: ";
    const auto message = [&](const std::string& text) { return PER_CONTAINS(where + text); };
    const std::vector<double> empty, good = {1.0, 2.0};
    REQUIRE_THROWS_AS(per::sequence_priority(empty), std::invalid_argument);
    REQUIRE_THROWS_WITH(per::sequence_priority(empty), message("deltas.size() = 0 must be >= 1"));
    REQUIRE_THROWS_AS(per::sequence_priority(good.begin(), good.begin()), std::invalid_argument);
    REQUIRE_THROWS_WITH(per::sequence_priority(good.begin(), good.begin()),
                        message("std::distance(first, last) = 0 must be >= 1"));
    for (const double eta : {-0.1, 1.5, nan_value, inf_value, -inf_value}) {
        CAPTURE(eta);
        REQUIRE_THROWS_AS(per::sequence_priority(good, eta), std::invalid_argument);
        REQUIRE_THROWS_WITH(
            per::sequence_priority(good, eta),
            message("eta = " + per::detail::format_value(eta) + " must be in [0, 1]"));
    }
    const std::vector<double> with_nan = {1.0, -2.0, nan_value, 3.0};
    REQUIRE_THROWS_AS(per::sequence_priority(with_nan), std::invalid_argument);
    REQUIRE_THROWS_WITH(per::sequence_priority(with_nan),
                        message("deltas[2] = nan must be finite"));
    REQUIRE_THROWS_WITH(per::sequence_priority(with_nan.begin(), with_nan.end()),
                        message("first[2] = nan must be finite"));
    const std::array<float, 2> with_inf = {-std::numeric_limits<float>::infinity(), 1.0f};
    REQUIRE_THROWS_WITH(per::sequence_priority(with_inf),
                        message("deltas[0] = -inf must be finite"));
}

// --- Bad arguments and exception guarantees ------------------------------------------------

namespace {

// A writer with episodes under way: env 0 holds a full sequence back, env 1 is mid-sequence,
// env 2 has just emitted.
writer writer_under_way() {
    writer w(3, 4, 2, 2, pad);
    for (long step = 1; step <= 4; ++step) {
        w.add(0, step, ignore);
    }
    for (long step = 11; step <= 13; ++step) {
        w.add(1, step, ignore);
    }
    for (long step = 21; step <= 25; ++step) {
        w.add(2, step, ignore);
    }
    return w;
}

long value_of(long step) {
    return step;
}
long value_of(const per_test::fragile_item& step) {
    return step.value;
}

// Whether two writers are in the same state: the same observers, and the same sequences out of
// the same future (each env adds steps until it emits twice, then ends its episode).
template <class Step, class Make>
void require_same_future(per::sequence_writer<Step> a, per::sequence_writer<Step> b,
                         Make make_step) {
    REQUIRE(a.num_envs() == b.num_envs());
    REQUIRE(a.length() == b.length());
    REQUIRE(a.overlap() == b.overlap());
    REQUIRE(a.burn_in() == b.burn_in());
    std::vector<seq> from_a, from_b;
    const auto plain = [](std::vector<seq>& out) {
        return [&out](const per::sequence<Step>& s) {
            seq p{{}, {}, s.valid_burn_in, s.valid_steps, s.episode_ended, s.env, s.start};
            for (const Step& step : s.burn_in) {
                p.burn_in.push_back(value_of(step));
            }
            for (const Step& step : s.steps) {
                p.steps.push_back(value_of(step));
            }
            out.push_back(p);
        };
    };
    for (std::size_t env = 0; env < a.num_envs(); ++env) {
        REQUIRE(a.episode_steps(env) == b.episode_steps(env));
        REQUIRE(a.next_start(env) == b.next_start(env));
        for (long k = 0; k < 3 * static_cast<long>(a.length()); ++k) {
            a.add(env, make_step(1000 + k), plain(from_a));
            b.add(env, make_step(1000 + k), plain(from_b));
        }
        a.end_episode(env, plain(from_a));
        b.end_episode(env, plain(from_b));
    }
    require_same(from_a, from_b);
    REQUIRE(from_a.size() >= 3 * a.num_envs());
}

void require_same_state(const writer& a, const writer& b) {
    require_same_future(a, b, [](long k) { return k; });
}

} // namespace

TEST_CASE("the constructor rejects bad arguments, naming them", "[sequence]") {
    const std::string where = "per::sequence_writer: ";
    const auto message = [&](const std::string& text) { return PER_CONTAINS(where + text); };
    REQUIRE_THROWS_AS(writer(0, 80, 40, 40), std::invalid_argument);
    REQUIRE_THROWS_WITH(writer(0, 80, 40, 40), message("num_envs = 0 must be >= 1"));
    REQUIRE_THROWS_AS(writer(2, 0, 0, 0), std::invalid_argument);
    REQUIRE_THROWS_WITH(writer(2, 0, 0, 0), message("length = 0 must be in [1, 65536]"));
    REQUIRE_THROWS_WITH(writer(2, 65537, 0, 0), message("length = 65537 must be in [1, 65536]"));
    REQUIRE_THROWS_AS(writer(2, 80, 80, 40), std::invalid_argument);
    REQUIRE_THROWS_WITH(writer(2, 80, 80, 40), message("overlap = 80 must be < length = 80"));
    REQUIRE_THROWS_WITH(writer(2, 1, 5, 0), message("overlap = 5 must be < length = 1"));
    REQUIRE_THROWS_AS(writer(2, 80, 40, 65537), std::invalid_argument);
    REQUIRE_THROWS_WITH(writer(2, 80, 40, 65537), message("burn_in = 65537 must be <= 65536"));
    const std::size_t huge = std::numeric_limits<std::size_t>::max();
    REQUIRE_THROWS_AS(writer(huge, 80, 40, 40), std::length_error);
    REQUIRE_THROWS_WITH(writer(huge, 80, 40, 40), message("num_envs = " + std::to_string(huge)));
    REQUIRE_THROWS_WITH(writer(huge, 80, 40, 40), PER_CONTAINS("ring of 121 steps"));

    const writer biggest(1, writer::max_length, writer::max_length - 1, writer::max_burn_in);
    REQUIRE(biggest.stride() == 1);
    const writer smallest(1, 1, 0, 0);
    REQUIRE(smallest.length() == 1);
    REQUIRE(smallest.burn_in() == 0);
}

TEST_CASE("bad arguments throw, naming them, and leave the writer as before", "[sequence]") {
    const writer before = writer_under_way();
    writer w = before;
    std::vector<seq> got;
    const auto sink = collect(got);
    const std::vector<long> steps = {1, 2, 3}, steps2 = {1, 2};
    const std::vector<bool> ends = {false, true, false}, ends4 = {false, false, false, true};

    using per_test::bad_call;
    const std::string name = "per::sequence_writer::";
    const std::vector<bad_call> calls = {
        {[&] { w.add(3, 7L, sink); }, true, name + "add: env = 3 must be < num_envs() = 3"},
        {[&] { w.end_episode(3, sink); }, true,
         name + "end_episode: env = 3 must be < num_envs() = 3"},
        {[&] { w.flush(9, sink); }, true, name + "flush: env = 9 must be < num_envs() = 3"},
        {[&] { w.reset(3); }, true, name + "reset: env = 3 must be < num_envs() = 3"},
        {[&] { (void)w.episode_steps(3); }, true,
         name + "episode_steps: env = 3 must be < num_envs() = 3"},
        {[&] { (void)w.next_start(4); }, true,
         name + "next_start: env = 4 must be < num_envs() = 3"},
        {[&] { w.add_all(steps2, ends, sink); }, false,
         name + "add_all: steps.size() = 2 must equal num_envs() = 3"},
        {[&] { w.add_all(steps, ends4, sink); }, false,
         name + "add_all: episode_ends.size() = 4 must equal num_envs() = 3"},
        {[&] {
             const std::array<float, 3> dones = {0.0f, 0.5f, 0.0f};
             w.add_all(steps, dones, sink);
         },
         false, name + "add_all: episode_ends[1] = 0.5 must be 0 or 1"},
        {[&] {
             const std::vector<double> dones = {1.0, 0.0, -1.0};
             w.add_all(steps, dones, sink);
         },
         false, name + "add_all: episode_ends[2] = -1 must be 0 or 1"},
    };
    per_test::require_bad_calls(calls, [&] {
        REQUIRE(got.empty());
        require_same_state(w, before);
    });
}

TEST_CASE("a throwing sink leaves the writer as after a successful call", "[sequence]") {
    // Env 0 emits its held-back sequence (1); env 1 fills its first sequence and ends (1);
    // env 2, one sequence emitted before, ends (1).
    const std::vector<long> steps = {5, 14, 26};
    const std::vector<bool> ends = {false, true, true};
    writer after = writer_under_way();
    std::vector<seq> all;
    after.add_all(steps, ends, collect(all));
    REQUIRE(all.size() == 3);

    for (std::size_t throw_at = 0; throw_at < all.size(); ++throw_at) {
        CAPTURE(throw_at);
        writer w = writer_under_way();
        std::vector<seq> seen;
        const auto failing = [&](const seq& s) {
            seen.push_back(s);
            if (seen.size() == throw_at + 1) {
                throw sink_failure();
            }
        };
        REQUIRE_THROWS_AS(w.add_all(steps, ends, failing), sink_failure);
        REQUIRE(seen.size() == throw_at + 1);
        require_same(seen, std::vector<seq>(all.begin(), all.begin() + seen.size()));
        require_same_state(w, after);
    }

    const auto fail_at_once = [](const seq&) { throw sink_failure(); };
    writer w = writer_under_way();
    REQUIRE_THROWS_AS(w.add(0, 5, fail_at_once), sink_failure);
    writer w_after = writer_under_way();
    w_after.add(0, 5, ignore);
    require_same_state(w, w_after);

    w = writer_under_way();
    REQUIRE_THROWS_AS(w.end_episode(1, fail_at_once), sink_failure);
    w_after = writer_under_way();
    w_after.end_episode(1, ignore);
    require_same_state(w, w_after);

    w = writer_under_way();
    REQUIRE_THROWS_AS(w.flush_all(fail_at_once), sink_failure);
    require_same_state(w, writer(3, 4, 2, 2, pad)); // every env at a new episode
}

TEST_CASE("a throwing Step copy: strong while recording, as after success while emitting",
          "[sequence]") {
    using fragile = per_test::fragile_item;
    using fragile_writer = per::sequence_writer<fragile>;
    const auto make = [] {
        fragile_writer w(2, 3, 1, 1, fragile(-1));
        const auto skip = [](const per::sequence<fragile>&) {};
        for (int step = 1; step <= 3; ++step) {
            w.add(0, fragile(step), skip);
            w.add(1, fragile(10 + step), skip);
        }
        return w;
    };
    const auto make_step = [](long k) { return fragile(static_cast<int>(k)); };
    const std::vector<fragile> steps = {fragile(4), fragile(14)};
    const std::vector<bool> ends = {false, true};
    const fragile_writer before = make();
    fragile_writer after = make();
    std::size_t emitted = 0;
    after.add_all(steps, ends, [&](const per::sequence<fragile>&) { ++emitted; });
    REQUIRE(emitted == 3); // env 0's held-back sequence; env 1's and its final one

    // Recording copies 2 Steps; each emission copy-assigns 1 + 3 scratch entries (12): copies
    // 0..13 may fail, from 14 on none is made.
    for (long fail_at = 0; fail_at <= 14; ++fail_at) {
        CAPTURE(fail_at);
        fragile_writer w = make();
        std::size_t seen = 0;
        per_test::copies_until_failure = fail_at;
        bool threw = false;
        try {
            w.add_all(steps, ends, [&](const per::sequence<fragile>&) { ++seen; });
        } catch (const per_test::copy_failure&) {
            threw = true;
        }
        per_test::copies_until_failure = -1;
        REQUIRE(threw == (fail_at < 14));
        if (fail_at < 2) {
            REQUIRE(seen == 0);
            require_same_future(w, before, make_step);
        } else {
            require_same_future(w, after, make_step);
        }
    }
}

// --- Into a prioritized replay -------------------------------------------------------------

TEST_CASE("a prioritized_replay of sequences with R2D2 priorities", "[sequence]") {
    using item = per::sequence<int>;
    per::prioritized_replay<item> buffer(256, per::replay_options{}.alpha(0.9));
    per::sequence_writer<int> w(2, 8, 4, 4);
    // A stand-in for the learner's TD errors: a function of the step values, valid steps only.
    const auto td_errors = [](const item& s, double scale) {
        std::vector<double> deltas;
        for (std::size_t k = 0; k < s.valid_steps; ++k) {
            deltas.push_back(scale * (s.steps[k] % 7 - 3));
        }
        return deltas;
    };
    std::vector<item> pushed;
    const auto sink = [&](const item& s) {
        const double priority = per::sequence_priority(td_errors(s, 1.0));
        buffer.push(s, priority);
        pushed.push_back(s);
        REQUIRE(buffer.priority(buffer.size() - 1) == priority);
    };
    std::mt19937_64 rng(11);
    std::uniform_int_distribution<int> percent(0, 99);
    int value = 1;
    for (int call = 0; call < 100; ++call) {
        const std::vector<int> steps = {value, value + 1};
        value += 2;
        const std::vector<bool> ends = {percent(rng) < 4, percent(rng) < 4};
        w.add_all(steps, ends, sink);
    }
    w.flush_all(sink);
    REQUIRE(buffer.size() == pushed.size());
    REQUIRE(pushed.size() > 40);
    for (std::size_t slot = 0; slot < buffer.size(); ++slot) {
        const item& stored = buffer.item(slot);
        REQUIRE(stored.valid_steps >= 1);
        REQUIRE(stored.start % w.stride() == 0);
        REQUIRE(stored.steps == pushed[slot].steps);
        REQUIRE(stored.burn_in == pushed[slot].burn_in);
    }

    for (int round = 0; round < 5; ++round) {
        const auto batch = buffer.sample(8, 0.6, rng);
        REQUIRE(batch.size() == 8);
        std::vector<double> priorities;
        for (std::size_t k = 0; k < batch.size(); ++k) {
            const item& s = batch[k];
            REQUIRE(s.steps.size() == 8);
            REQUIRE(s.burn_in.size() == 4);
            priorities.push_back(per::sequence_priority(td_errors(s, 0.5 + round), 0.9));
        }
        const std::size_t applied = buffer.update_priorities(batch.handles(), priorities);
        REQUIRE(applied == batch.size());
        for (std::size_t k = 0; k < batch.size(); ++k) {
            // A slot drawn twice keeps its last update.
            std::size_t last = k;
            for (std::size_t later = k + 1; later < batch.size(); ++later) {
                last = batch.slots()[later] == batch.slots()[k] ? later : last;
            }
            REQUIRE(buffer.priority(batch.slots()[k]) == priorities[last]);
        }
    }
}
