// Statistical tests: the frequencies with which both buffers (the O(N) reference and the
// O(log N) one) draw their items match the exact P(i) computed by hand from the priorities.
//
// Method: Pearson's chi-square goodness-of-fit (tests/stats.hpp), categories with an expected
// count below 5 merged, with the threshold at the 1 - 1e-4 quantile of the chi-square
// distribution computed from the regularized incomplete gamma function. Every test uses a
// fixed seed, so it is deterministic; the false-alarm rate says how likely a correct
// implementation is to fail for a seed picked at random: at most 1e-4 per test (less for
// stratified sampling, whose counts vary less than multinomial ones). The power tests at the
// end show that the same tests fail, by far, when the expected distribution is wrong.
#include <per/naive_replay.hpp>
#include <per/prioritized_replay.hpp>

#include "per_catch.hpp"
#include "stats.hpp"

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <random>
#include <vector>

namespace {

constexpr double false_alarm_rate = 1e-4;

using per::replay_options;
using per::sampling_mode;
using per_test::count_draws;
using per_test::ordered_sequences;
using per_test::successive_probability;

// P(i) by hand: (p_i + epsilon)^alpha over the sum, 0 when p_i + epsilon == 0; slots beyond the
// given priorities (empty ones) get 0.
std::vector<double> expected_probabilities(const std::vector<double>& priorities, double alpha,
                                           double epsilon, std::size_t slots) {
    std::vector<double> result(slots, 0.0);
    double total = 0.0;
    for (std::size_t i = 0; i < priorities.size(); ++i) {
        const double base = priorities[i] + epsilon;
        result[i] = base > 0.0 ? std::pow(base, alpha) : 0.0;
        total += result[i];
    }
    for (double& p : result) {
        p /= total;
    }
    return result;
}

void require_fit(const std::vector<double>& observed, const std::vector<double>& expected) {
    per_test::require_fit(observed, expected, false_alarm_rate);
}

const std::vector<double> twelve_priorities = {0.05, 0.2, 0.5, 1.0, 1.5, 2.0,
                                               3.0,  4.0, 5.0, 7.0, 9.0, 12.0};

} // namespace

TEST_CASE("statistics: the chi-square helper matches closed forms", "[statistics][helper]") {
    // Closed forms of the chi-square survival function for 1 to 4 degrees of freedom.
    const double pi = 3.14159265358979323846;
    for (double x : {0.01, 0.5, 1.0, 3.841458820694124, 10.0, 25.0, 50.0}) {
        CAPTURE(x);
        const double one = std::erfc(std::sqrt(x / 2.0));
        const double two = std::exp(-x / 2.0);
        const double three = one + std::sqrt(2.0 * x / pi) * std::exp(-x / 2.0);
        const double four = std::exp(-x / 2.0) * (1.0 + x / 2.0);
        REQUIRE(per_test::chi_square_survival(x, 1) == Approx(one).epsilon(1e-10));
        REQUIRE(per_test::chi_square_survival(x, 2) == Approx(two).epsilon(1e-10));
        REQUIRE(per_test::chi_square_survival(x, 3) == Approx(three).epsilon(1e-10));
        REQUIRE(per_test::chi_square_survival(x, 4) == Approx(four).epsilon(1e-10));
    }
    // Table values: the 0.95 quantiles for 1 and 10 degrees of freedom, 0.999 for 5.
    REQUIRE(per_test::chi_square_quantile(0.05, 1) == Approx(3.841458820694124).epsilon(1e-9));
    REQUIRE(per_test::chi_square_quantile(0.05, 10) == Approx(18.307038053275146).epsilon(1e-9));
    REQUIRE(per_test::chi_square_quantile(0.001, 5) == Approx(20.515005652432873).epsilon(1e-9));
    // df 2: the quantile is -2 ln(tail) exactly.
    REQUIRE(per_test::chi_square_quantile(1e-4, 2) == Approx(-2.0 * std::log(1e-4)));
    for (double degrees : {1.0, 7.0, 19.0, 119.0, 500.0}) {
        const double x = per_test::chi_square_quantile(false_alarm_rate, degrees);
        REQUIRE(per_test::chi_square_survival(x, degrees) ==
                Approx(false_alarm_rate).epsilon(1e-8));
    }
}

TEST_CASE("statistics: the chi-square test rejects at its stated rate", "[statistics][helper]") {
    // 2000 multinomial samples of 200 draws from a known distribution, tested at a 5% level:
    // the number of rejections is Binomial(2000, 0.05), mean 100, sd 9.7. Bins with few
    // expected draws are merged, which keeps the rate close to nominal.
    const std::vector<double> p = {0.02, 0.08, 0.1, 0.3, 0.5};
    std::mt19937_64 rng(2024);
    std::discrete_distribution<std::size_t> distribution(p.begin(), p.end());
    int rejections = 0;
    for (int test = 0; test < 2000; ++test) {
        std::vector<double> counts(p.size(), 0.0);
        for (int draw = 0; draw < 200; ++draw) {
            counts[distribution(rng)] += 1.0;
        }
        rejections += !per_test::chi_square_test(counts, p, 0.05).passed;
    }
    REQUIRE(rejections > 60);
    REQUIRE(rejections < 140);

    // Merging: a bin expecting fewer than 5 joins the next; observations where P = 0 are
    // counted apart.
    const auto result = per_test::chi_square_test({1, 0, 10, 89, 3}, {0.01, 0.02, 0.1, 0.87, 0.0},
                                                  false_alarm_rate);
    REQUIRE(result.bins == 2); // {0.01, 0.02, 0.1} then {0.87}
    REQUIRE(result.impossible == 3.0);
    REQUIRE_FALSE(result.passed);
}

TEMPLATE_TEST_CASE("statistics: frequencies match P(i) for alpha 0, 0.6, 1 with replacement",
                   "[statistics]", per::naive_prioritized_replay<int>,
                   per::prioritized_replay<int>) {
    std::uint64_t seed = 1000;
    for (sampling_mode mode : {sampling_mode::stratified, sampling_mode::independent}) {
        for (double alpha : {0.0, 0.6, 1.0}) {
            CAPTURE(static_cast<int>(mode), alpha);
            TestType buffer(12, replay_options{}.alpha(alpha).epsilon(0.01).sampling(mode));
            for (std::size_t i = 0; i < twelve_priorities.size(); ++i) {
                buffer.push(static_cast<int>(i), twelve_priorities[i]);
            }
            const auto expected = expected_probabilities(twelve_priorities, alpha, 0.01, 12);
            for (std::size_t slot = 0; slot < 12; ++slot) {
                REQUIRE(buffer.probability(slot) == Approx(expected[slot]).epsilon(1e-12));
            }
            std::mt19937_64 rng(++seed);
            require_fit(count_draws(buffer, 32, 800, rng), expected);
            // Odd batch sizes too: the slices of stratified sampling then do not align with
            // anything.
            require_fit(count_draws(buffer, 7, 3000, rng), expected);
        }
    }
}

TEMPLATE_TEST_CASE("statistics: the k-th stratified draw follows P within the k-th slice",
                   "[statistics]", per::naive_prioritized_replay<int>,
                   per::prioritized_replay<int>) {
    // Stratified sampling draws u_k uniformly in [k, k + 1) * total / B: the k-th draw picks
    // slot i with probability B * |[C(i-1), C(i)) intersected with [k, k + 1) / B|, where C is
    // the cumulative distribution of P in slot order. Draws at one position are independent
    // across batches, so each position is an exact multinomial test (at rate 1e-4 / B each).
    const std::size_t batch_size = 4;
    const std::vector<double> priorities = {1.0, 5.0, 0.5, 2.0, 0.0, 3.0, 0.25, 4.0};
    TestType buffer(8, replay_options{}.alpha(1.0).epsilon(0.0));
    for (double p : priorities) {
        buffer.push(0, p);
    }
    const auto p = expected_probabilities(priorities, 1.0, 0.0, 8);
    std::mt19937_64 rng(1500);
    const auto counts = per_test::count_draws_by_position(buffer, batch_size, 6000, rng);
    for (std::size_t k = 0; k < batch_size; ++k) {
        CAPTURE(k);
        const auto expected = per_test::stratified_slice_probabilities(p, k, batch_size);
        const auto result =
            per_test::chi_square_test(counts[k], expected, false_alarm_rate / batch_size);
        INFO(result.describe());
        REQUIRE(result.passed);
    }
}

TEMPLATE_TEST_CASE("statistics: a partly filled buffer samples only the items present",
                   "[statistics]", per::naive_prioritized_replay<int>,
                   per::prioritized_replay<int>) {
    std::uint64_t seed = 2000;
    const std::vector<double> priorities = {3.0, 0.1, 1.0, 2.0, 0.5, 6.0, 1.0, 0.25, 4.0, 2.5};
    for (sampling_mode mode : {sampling_mode::stratified, sampling_mode::independent}) {
        CAPTURE(static_cast<int>(mode));
        TestType buffer(64, replay_options{}.alpha(0.6).sampling(mode));
        for (std::size_t i = 0; i < priorities.size(); ++i) {
            buffer.push(static_cast<int>(i), priorities[i]);
        }
        // Slots 10..63 expect 0: a draw there counts as "impossible" and fails the test.
        const auto expected = expected_probabilities(priorities, 0.6, 1e-6, 64);
        std::mt19937_64 rng(++seed);
        require_fit(count_draws(buffer, 16, 1500, rng), expected);
    }
}

TEMPLATE_TEST_CASE("statistics: after wrap-around the newest items are sampled", "[statistics]",
                   per::naive_prioritized_replay<int>, per::prioritized_replay<int>) {
    std::uint64_t seed = 3000;
    for (sampling_mode mode : {sampling_mode::stratified, sampling_mode::independent}) {
        CAPTURE(static_cast<int>(mode));
        TestType buffer(8, replay_options{}.alpha(1.0).epsilon(0.0).sampling(mode));
        std::vector<double> priorities(8, 0.0);
        for (int i = 0; i < 13; ++i) { // slots 0..4 hold items 8..12, slots 5..7 items 5..7
            buffer.push(i, i + 1.0);
            priorities[static_cast<std::size_t>(i) % 8] = i + 1.0;
        }
        REQUIRE(buffer.size() == 8);
        REQUIRE(buffer.item(0) == 8);
        REQUIRE(buffer.item(4) == 12);
        REQUIRE(buffer.item(5) == 5);
        const auto expected = expected_probabilities(priorities, 1.0, 0.0, 8);
        std::mt19937_64 rng(++seed);
        require_fit(count_draws(buffer, 16, 1500, rng), expected);
    }
}

TEMPLATE_TEST_CASE("statistics: updated priorities take effect, stale ones do not", "[statistics]",
                   per::naive_prioritized_replay<int>, per::prioritized_replay<int>) {
    std::uint64_t seed = 4000;
    for (sampling_mode mode : {sampling_mode::stratified, sampling_mode::independent}) {
        CAPTURE(static_cast<int>(mode));
        TestType buffer(10, replay_options{}.alpha(0.6).epsilon(0.0).sampling(mode));
        std::vector<per::replay_handle> handles;
        for (int i = 0; i < 11; ++i) { // slot 0 refilled: handles[0] is stale
            handles.push_back(buffer.push(i));
        }
        std::vector<double> priorities(10, 1.0); // all got the initial max priority 1
        const std::vector<per::replay_handle> updated = {handles[1], handles[3], handles[5],
                                                         handles[7], handles[0], handles[3]};
        const std::vector<double> values = {4.0, 0.25, 9.0, 0.0, 50.0, 0.5};
        REQUIRE(buffer.update_priorities(updated, values) == 5);
        priorities[1] = 4.0;
        priorities[3] = 0.5; // the later of two updates
        priorities[5] = 9.0;
        priorities[7] = 0.0; // epsilon 0: never sampled
        const auto expected = expected_probabilities(priorities, 0.6, 0.0, 10);
        REQUIRE(buffer.probability(7) == 0.0);
        REQUIRE(buffer.probability(0) == Approx(expected[0]).epsilon(1e-12));
        std::mt19937_64 rng(++seed);
        require_fit(count_draws(buffer, 20, 1500, rng), expected);
    }
}

TEMPLATE_TEST_CASE("statistics: without replacement, ordered pairs and triples follow "
                   "successive sampling",
                   "[statistics]", per::naive_prioritized_replay<int>,
                   per::prioritized_replay<int>) {
    const auto options = replay_options{}.sampling(sampling_mode::without_replacement);
    SECTION("N = 5, B = 2, for alpha 0, 0.6, 1") {
        std::uint64_t seed = 5000;
        const std::vector<double> priorities = {1.0, 2.0, 3.0, 4.0, 5.0};
        for (double alpha : {0.0, 0.6, 1.0}) {
            CAPTURE(alpha);
            TestType buffer(5, replay_options(options).alpha(alpha).epsilon(0.0));
            for (double p : priorities) {
                buffer.push(0, p);
            }
            const auto p = expected_probabilities(priorities, alpha, 0.0, 5);
            // By hand for alpha 1: P = i/15; P(4 then 3) = 5/15 * 4/10 = 2/15.
            if (alpha == 1.0) {
                REQUIRE(successive_probability(p, {4, 3}) == Approx(2.0 / 15.0));
            }
            std::mt19937_64 rng(++seed);
            const auto table = ordered_sequences(buffer, p, 2, 20000, rng);
            require_fit(table.observed, table.expected);
        }
    }
    SECTION("a partly filled buffer (6 of 8), B = 3, with a weight-0 item") {
        TestType buffer(8, replay_options(options).alpha(0.6).epsilon(0.0));
        const std::vector<double> priorities = {1.0, 0.0, 2.0, 3.0, 0.5, 6.0};
        for (double p : priorities) {
            buffer.push(0, p);
        }
        const auto p = expected_probabilities(priorities, 0.6, 0.0, 6);
        std::mt19937_64 rng(5100);
        const auto table = ordered_sequences(buffer, p, 3, 30000, rng);
        require_fit(table.observed, table.expected);
    }
    SECTION("after wrap-around (capacity 6, 9 pushes) and an update, B = 2") {
        TestType buffer(6, replay_options(options).alpha(1.0).epsilon(0.0));
        std::vector<double> priorities(6, 0.0);
        std::vector<per::replay_handle> handles;
        for (int i = 0; i < 9; ++i) {
            handles.push_back(buffer.push(i, i + 1.0));
            priorities[static_cast<std::size_t>(i) % 6] = i + 1.0;
        }
        REQUIRE(buffer.update_priority(handles[4], 0.5));         // slot 4
        REQUIRE_FALSE(buffer.update_priority(handles[1], 100.0)); // stale
        priorities[4] = 0.5;
        const auto p = expected_probabilities(priorities, 1.0, 0.0, 6);
        std::mt19937_64 rng(5200);
        const auto table = ordered_sequences(buffer, p, 2, 20000, rng);
        require_fit(table.observed, table.expected);
    }
}

TEMPLATE_TEST_CASE("statistics: the tests fail when the expected distribution is wrong",
                   "[statistics][power]", per::naive_prioritized_replay<int>,
                   per::prioritized_replay<int>) {
    // A buffer with alpha 1, tested against the P(i) of alpha 0.6.
    SECTION("with replacement") {
        for (sampling_mode mode : {sampling_mode::stratified, sampling_mode::independent}) {
            CAPTURE(static_cast<int>(mode));
            TestType buffer(12, replay_options{}.alpha(1.0).epsilon(0.01).sampling(mode));
            for (std::size_t i = 0; i < twelve_priorities.size(); ++i) {
                buffer.push(static_cast<int>(i), twelve_priorities[i]);
            }
            std::mt19937_64 rng(6000);
            const auto counts = count_draws(buffer, 32, 800, rng);
            per_test::require_right_not_wrong(
                counts, expected_probabilities(twelve_priorities, 1.0, 0.01, 12),
                expected_probabilities(twelve_priorities, 0.6, 0.01, 12), false_alarm_rate, 10.0);
        }
    }
    SECTION("without replacement") {
        TestType buffer(5, replay_options{}.alpha(1.0).epsilon(0.0).sampling(
                               sampling_mode::without_replacement));
        const std::vector<double> priorities = {1.0, 2.0, 3.0, 4.0, 5.0};
        for (double p : priorities) {
            buffer.push(0, p);
        }
        std::mt19937_64 rng(6100);
        const auto p_right = expected_probabilities(priorities, 1.0, 0.0, 5);
        const auto table = ordered_sequences(buffer, p_right, 2, 20000, rng);
        const auto p_wrong = expected_probabilities(priorities, 0.6, 0.0, 5);
        std::vector<double> expected_wrong(table.expected.size());
        for (std::size_t a = 0; a < 5; ++a) {
            for (std::size_t b = 0; b < 5; ++b) {
                expected_wrong[a * 5 + b] = successive_probability(p_wrong, {a, b});
            }
        }
        per_test::require_right_not_wrong(table.observed, table.expected, expected_wrong,
                                          false_alarm_rate, 10.0);
    }
}
