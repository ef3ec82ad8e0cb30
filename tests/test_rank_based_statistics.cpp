// Statistical tests of rank-based prioritization: the frequencies with which both rank-based
// buffers (the O(N log N) reference and the O(log N) one) draw their items match the exact
// rank distribution P(i) = rank(i)^-alpha / sum_{r=1..N} r^-alpha, with ranks computed here
// from the priorities and the push order (ties: the later push ranks first).
//
// Method: Pearson's chi-square goodness-of-fit (tests/stats.hpp), categories with an expected
// count below 5 merged, with the threshold at the 1 - 1e-4 quantile of the chi-square
// distribution (exact incomplete gamma function). Every test uses a fixed seed, so it is
// deterministic; the false-alarm rate says how likely a correct implementation is to fail for
// a seed picked at random: at most 1e-4 per check (less for stratified sampling, whose counts
// vary less than multinomial ones). The power tests at the end show that the same checks fail,
// by far, when the expected distribution is wrong.
#include <per/naive_rank_based.hpp>
#include <per/rank_based.hpp>

#include "per_catch.hpp"
#include "stats.hpp"

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <numeric>
#include <random>
#include <vector>

namespace {

constexpr double false_alarm_rate = 1e-4;

using per::replay_options;
using per::sampling_mode;
using per_test::count_draws;
using per_test::successive_probability;

// What the test knows about a buffer's contents: per slot the priority and when it was pushed.
struct contents {
    std::vector<double> priority;
    std::vector<std::uint64_t> pushed;
    std::uint64_t pushes = 0;
    std::size_t next = 0;

    explicit contents(std::size_t capacity)
        : priority(capacity, -1.0)
        , pushed(capacity, 0) {}

    // Mirrors a push into a ring of this capacity.
    void push(double p) {
        priority[next] = p;
        pushed[next] = ++pushes;
        next = (next + 1) % priority.size();
    }

    // The exact P per slot (0 for empty slots): ranks by priority, later push first on ties.
    std::vector<double> probabilities(double alpha) const {
        std::vector<std::size_t> present;
        for (std::size_t slot = 0; slot < priority.size(); ++slot) {
            if (priority[slot] >= 0.0) {
                present.push_back(slot);
            }
        }
        std::sort(present.begin(), present.end(), [this](std::size_t a, std::size_t b) {
            return priority[a] > priority[b] ||
                   (priority[a] == priority[b] && pushed[a] > pushed[b]);
        });
        std::vector<double> result(priority.size(), 0.0);
        double total = 0.0;
        for (std::size_t r = 1; r <= present.size(); ++r) {
            total += std::pow(static_cast<double>(r), -alpha);
        }
        for (std::size_t r = 1; r <= present.size(); ++r) {
            result[present[r - 1]] = std::pow(static_cast<double>(r), -alpha) / total;
        }
        return result;
    }
};

void require_fit(const std::vector<double>& observed, const std::vector<double>& expected) {
    per_test::require_fit(observed, expected, false_alarm_rate);
}

template <class Buffer>
void require_probabilities(const Buffer& buffer, const std::vector<double>& expected) {
    for (std::size_t slot = 0; slot < buffer.size(); ++slot) {
        CAPTURE(slot);
        REQUIRE(buffer.probability(slot) == Approx(expected[slot]).epsilon(1e-12));
    }
}

// Every ordered sequence of batch_size slots, drawn without replacement, fits successive
// sampling from p.
template <class Buffer>
void require_sequences_fit(Buffer& buffer, const std::vector<double>& p, std::size_t batch_size,
                           std::size_t batches, std::mt19937_64& rng) {
    const auto table = per_test::ordered_sequences(buffer, p, batch_size, batches, rng);
    require_fit(table.observed, table.expected);
}

// Twelve distinct priorities in a scrambled order.
const std::vector<double> twelve_priorities = {0.5, 9.0, 0.05, 3.0, 12.0, 1.0,
                                               7.0, 0.2, 4.0,  1.5, 5.0,  2.0};
// Ten priorities with ties (and zeros): ranks then depend on the push order.
const std::vector<double> tied_priorities = {1.0, 2.0, 1.0, 0.0, 2.0, 1.0, 3.0, 0.0, 1.0, 2.0};

} // namespace

TEMPLATE_TEST_CASE("rank statistics: frequencies match the rank distribution for alpha 0, 0.7, "
                   "1 with replacement",
                   "[rank_based][statistics]", per::rank_based_replay<int>,
                   per::naive_rank_based_replay<int>) {
    std::uint64_t seed = 11000;
    for (sampling_mode mode : {sampling_mode::stratified, sampling_mode::independent}) {
        for (double alpha : {0.0, 0.7, 1.0}) {
            CAPTURE(static_cast<int>(mode), alpha);
            TestType buffer(12, replay_options{}.alpha(alpha).sampling(mode));
            contents known(12);
            for (std::size_t i = 0; i < twelve_priorities.size(); ++i) {
                buffer.push(static_cast<int>(i), twelve_priorities[i]);
                known.push(twelve_priorities[i]);
            }
            const auto expected = known.probabilities(alpha);
            require_probabilities(buffer, expected);
            std::mt19937_64 rng(++seed);
            require_fit(count_draws(buffer, 32, 800, rng), expected);
            // An odd batch size: the slices of stratified sampling align with nothing.
            require_fit(count_draws(buffer, 7, 3000, rng), expected);
        }
    }
}

TEMPLATE_TEST_CASE("rank statistics: ties are ranked by push order and sampled accordingly",
                   "[rank_based][statistics]", per::rank_based_replay<int>,
                   per::naive_rank_based_replay<int>) {
    std::uint64_t seed = 12000;
    for (sampling_mode mode : {sampling_mode::stratified, sampling_mode::independent}) {
        for (double alpha : {0.7, 1.0}) {
            CAPTURE(static_cast<int>(mode), alpha);
            TestType buffer(16, replay_options{}.alpha(alpha).sampling(mode));
            contents known(16);
            for (double p : tied_priorities) {
                buffer.push(0, p);
                known.push(p);
            }
            // Two pushes without a priority: max priority 3 ties with slot 6, and they are
            // newer, so they take ranks 1 and 2.
            buffer.push(0);
            known.push(3.0);
            buffer.push(0);
            known.push(3.0);
            const auto expected = known.probabilities(alpha);
            require_probabilities(buffer, expected);
            std::mt19937_64 rng(++seed);
            require_fit(count_draws(buffer, 16, 1500, rng), expected);
        }
    }
}

TEMPLATE_TEST_CASE("rank statistics: after wrap-around and many updates",
                   "[rank_based][statistics]", per::rank_based_replay<int>,
                   per::naive_rank_based_replay<int>) {
    std::uint64_t seed = 13000;
    for (sampling_mode mode : {sampling_mode::stratified, sampling_mode::independent}) {
        for (double alpha : {0.0, 0.7, 1.0}) {
            CAPTURE(static_cast<int>(mode), alpha);
            TestType buffer(20, replay_options{}.alpha(alpha).sampling(mode));
            contents known(20);
            std::vector<per::replay_handle> handles;
            std::mt19937_64 script(++seed);
            // 47 pushes into 20 slots (wraps twice), interleaved with 600 updates, some of
            // them through stale handles, on a coarse grid of values (ties).
            for (int step = 0; step < 47; ++step) {
                const double p = static_cast<double>(script() % 8) * 0.5;
                handles.push_back(buffer.push(step, p));
                known.push(p);
                for (int u = 0; u < 13; ++u) {
                    const std::size_t which = script() % handles.size();
                    const double value = static_cast<double>(script() % 8) * 0.5;
                    const bool stale = handles.size() - which > 20;
                    REQUIRE(buffer.update_priority(handles[which], value) == !stale);
                    if (!stale) {
                        known.priority[handles[which].slot] = value;
                    }
                }
            }
            REQUIRE(buffer.size() == 20);
            const auto expected = known.probabilities(alpha);
            require_probabilities(buffer, expected);
            std::mt19937_64 rng(seed + 500);
            require_fit(count_draws(buffer, 32, 1000, rng), expected);
        }
    }
}

TEMPLATE_TEST_CASE("rank statistics: the k-th stratified draw follows P within the k-th slice",
                   "[rank_based][statistics]", per::rank_based_replay<int>,
                   per::naive_rank_based_replay<int>) {
    // Stratified sampling over ranks: the k-th draw picks rank r with probability
    // B * |[C(r-1), C(r)) intersected with [k, k + 1) / B|, C the cumulative rank
    // distribution. Each position is an exact multinomial test (at rate 1e-4 / B each).
    const std::size_t batch_size = 4;
    const std::size_t n = 9;
    const double alpha = 0.7;
    TestType buffer(n, replay_options{}.alpha(alpha));
    contents known(n);
    for (std::size_t i = 0; i < n; ++i) {
        const double p = static_cast<double>((i * 4) % 9);
        buffer.push(0, p);
        known.push(p);
    }
    const auto p = known.probabilities(alpha);
    // Slots in rank order, to walk the cumulative distribution over ranks.
    std::vector<std::size_t> by_rank(n);
    std::iota(by_rank.begin(), by_rank.end(), std::size_t{0});
    std::sort(by_rank.begin(), by_rank.end(),
              [&](std::size_t a, std::size_t b) { return p[a] > p[b]; });
    std::vector<double> p_by_rank(n);
    for (std::size_t r = 0; r < n; ++r) {
        p_by_rank[r] = p[by_rank[r]];
    }
    std::mt19937_64 rng(14000);
    const auto counts = per_test::count_draws_by_position(buffer, batch_size, 6000, rng);
    for (std::size_t k = 0; k < batch_size; ++k) {
        CAPTURE(k);
        std::vector<double> observed(n);
        for (std::size_t r = 0; r < n; ++r) {
            observed[r] = counts[k][by_rank[r]];
        }
        const auto expected = per_test::stratified_slice_probabilities(p_by_rank, k, batch_size);
        const auto result =
            per_test::chi_square_test(observed, expected, false_alarm_rate / batch_size);
        INFO(result.describe());
        REQUIRE(result.passed);
    }
}

TEMPLATE_TEST_CASE("rank statistics: without replacement, ordered pairs and triples follow "
                   "successive sampling",
                   "[rank_based][statistics]", per::rank_based_replay<int>,
                   per::naive_rank_based_replay<int>) {
    const auto options = replay_options{}.sampling(sampling_mode::without_replacement);
    SECTION("N = 5, B = 2, for alpha 0, 0.7, 1, with a tie") {
        std::uint64_t seed = 15000;
        const std::vector<double> priorities = {1.0, 4.0, 2.0, 4.0, 0.0};
        for (double alpha : {0.0, 0.7, 1.0}) {
            CAPTURE(alpha);
            TestType buffer(5, replay_options(options).alpha(alpha));
            contents known(5);
            for (double p : priorities) {
                buffer.push(0, p);
                known.push(p);
            }
            const auto p = known.probabilities(alpha);
            std::mt19937_64 rng(++seed);
            require_sequences_fit(buffer, p, 2, 20000, rng);
        }
    }
    SECTION("after wrap-around (capacity 6, 10 pushes) and updates, B = 3") {
        TestType buffer(6, replay_options(options).alpha(0.7));
        contents known(6);
        std::vector<per::replay_handle> handles;
        for (int i = 0; i < 10; ++i) {
            const double p = static_cast<double>((i * 3) % 5);
            handles.push_back(buffer.push(i, p));
            known.push(p);
        }
        REQUIRE(buffer.update_priority(handles[9], 0.5));         // slot 3
        REQUIRE(buffer.update_priority(handles[5], 4.0));         // slot 5
        REQUIRE_FALSE(buffer.update_priority(handles[2], 100.0)); // stale
        known.priority[3] = 0.5;
        known.priority[5] = 4.0;
        const auto p = known.probabilities(0.7);
        require_probabilities(buffer, p);
        std::mt19937_64 rng(15100);
        require_sequences_fit(buffer, p, 3, 40000, rng);
    }
}

TEST_CASE("rank statistics: a large buffer (N = 3000, deep tree) samples the exact power law",
          "[rank_based][statistics]") {
    // Only the O(log N) buffer: the reference would sort 3000 items per batch. Items are
    // pushed with random priorities and then updated, so the tree is reshaped many times.
    std::uint64_t seed = 16000;
    for (sampling_mode mode : {sampling_mode::stratified, sampling_mode::independent}) {
        CAPTURE(static_cast<int>(mode));
        const std::size_t n = 3000;
        per::rank_based_replay<int> buffer(n, replay_options{}.alpha(0.7).sampling(mode));
        contents known(n);
        std::mt19937_64 script(++seed);
        std::vector<per::replay_handle> handles;
        for (std::size_t i = 0; i < n + 500; ++i) {
            const double p = static_cast<double>(script() % 100000) / 1000.0;
            handles.push_back(buffer.push(static_cast<int>(i), p));
            known.push(p);
        }
        for (int u = 0; u < 5000; ++u) {
            const per::replay_handle h = handles[handles.size() - 1 - script() % n];
            const double value = static_cast<double>(script() % 100000) / 1000.0;
            REQUIRE(buffer.update_priority(h, value));
            known.priority[h.slot] = value;
        }
        const auto expected = known.probabilities(0.7);
        for (std::size_t slot = 0; slot < n; slot += 97) {
            REQUIRE(buffer.probability(slot) == Approx(expected[slot]).epsilon(1e-12));
        }
        std::mt19937_64 rng(seed + 1);
        require_fit(count_draws(buffer, 64, 4000, rng), expected);
    }
}

TEMPLATE_TEST_CASE("rank statistics: the checks fail when the expected distribution is wrong",
                   "[rank_based][statistics][power]", per::rank_based_replay<int>,
                   per::naive_rank_based_replay<int>) {
    SECTION("alpha 1 tested against alpha 0.7") {
        for (sampling_mode mode : {sampling_mode::stratified, sampling_mode::independent}) {
            CAPTURE(static_cast<int>(mode));
            TestType buffer(12, replay_options{}.alpha(1.0).sampling(mode));
            contents known(12);
            for (std::size_t i = 0; i < twelve_priorities.size(); ++i) {
                buffer.push(static_cast<int>(i), twelve_priorities[i]);
                known.push(twelve_priorities[i]);
            }
            std::mt19937_64 rng(17000);
            const auto counts = count_draws(buffer, 32, 800, rng);
            per_test::require_right_not_wrong(counts, known.probabilities(1.0),
                                              known.probabilities(0.7), false_alarm_rate, 10.0);
        }
    }
    SECTION("ties broken the other way (earlier push first)") {
        TestType buffer(10, replay_options{}.alpha(1.0).sampling(sampling_mode::independent));
        contents known(10);
        contents reversed(10); // the same items, but the earlier push ranks first on ties
        for (std::size_t i = 0; i < tied_priorities.size(); ++i) {
            buffer.push(0, tied_priorities[i]);
            known.push(tied_priorities[i]);
            reversed.priority[i] = tied_priorities[i];
            reversed.pushed[i] = tied_priorities.size() - i;
        }
        std::mt19937_64 rng(17100);
        const auto counts = count_draws(buffer, 32, 800, rng);
        per_test::require_right_not_wrong(counts, known.probabilities(1.0),
                                          reversed.probabilities(1.0), false_alarm_rate, 0.0);
    }
    SECTION("without replacement against independent draws") {
        TestType buffer(5,
                        replay_options{}.alpha(1.0).sampling(sampling_mode::without_replacement));
        contents known(5);
        for (double p : {1.0, 2.0, 3.0, 4.0, 5.0}) {
            buffer.push(0, p);
            known.push(p);
        }
        const auto p = known.probabilities(1.0);
        std::vector<double> observed(25, 0.0);
        std::vector<double> right(25);
        std::vector<double> wrong(25); // pairs drawn with replacement
        for (std::size_t a = 0; a < 5; ++a) {
            for (std::size_t b = 0; b < 5; ++b) {
                right[a * 5 + b] = successive_probability(p, {a, b});
                wrong[a * 5 + b] = p[a] * p[b];
            }
        }
        std::mt19937_64 rng(17200);
        per::replay_batch<int> batch;
        for (int i = 0; i < 20000; ++i) {
            buffer.sample(2, 0.5, rng, batch);
            observed[batch.slots()[0] * 5 + batch.slots()[1]] += 1.0;
        }
        per_test::require_right_not_wrong(observed, right, wrong, false_alarm_rate, 0.0);
    }
}
