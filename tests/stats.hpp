#ifndef PER_TESTS_STATS_HPP
#define PER_TESTS_STATS_HPP

// Chi-square goodness-of-fit for the statistical tests: observed counts of categories against
// their exact probabilities. The tail probability comes from the regularized upper incomplete
// gamma function Q(k/2, x/2) (series for x < a + 1, Lentz's continued fraction above; accurate
// to about 1e-12 relative, far finer than any threshold we use), not from the Wilson-Hilferty
// approximation, so that the stated false-alarm rate holds for small degrees of freedom too.
// Below it, the set-up the statistical tests of every buffer share: draw counts per slot, per
// batch position and per ordered sequence, the expected distributions of stratified and
// successive sampling, and the checks on a fit.

#include <per/replay_batch.hpp>

#include "per_catch.hpp"

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <limits>
#include <random>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

namespace per_test {

// Q(a, x) = Gamma(a, x) / Gamma(a), for a > 0, x >= 0.
inline double regularized_gamma_q(double a, double x) {
    if (!(a > 0.0) || !(x >= 0.0)) {
        throw std::invalid_argument("regularized_gamma_q: need a > 0 and x >= 0");
    }
    if (x == 0.0) {
        return 1.0;
    }
    const double log_prefactor = -x + a * std::log(x) - std::lgamma(a);
    constexpr double precision = 1e-15;
    constexpr int max_iterations = 100000;
    if (x < a + 1.0) {
        // P(a, x) = e^-x x^a / Gamma(a + 1) * sum_n x^n / ((a + 1) ... (a + n)).
        double term = 1.0 / a;
        double sum = term;
        for (int n = 1; n < max_iterations; ++n) {
            term *= x / (a + n);
            sum += term;
            if (std::fabs(term) < std::fabs(sum) * precision) {
                break;
            }
        }
        return 1.0 - sum * std::exp(log_prefactor);
    }
    // Continued fraction for Q (modified Lentz).
    constexpr double tiny = 1e-300;
    double b = x + 1.0 - a;
    double c = 1.0 / tiny;
    double d = 1.0 / b;
    double h = d;
    for (int i = 1; i < max_iterations; ++i) {
        const double an = -i * (i - a);
        b += 2.0;
        d = an * d + b;
        if (std::fabs(d) < tiny) {
            d = tiny;
        }
        c = b + an / c;
        if (std::fabs(c) < tiny) {
            c = tiny;
        }
        d = 1.0 / d;
        const double delta = d * c;
        h *= delta;
        if (std::fabs(delta - 1.0) < precision) {
            break;
        }
    }
    return std::exp(log_prefactor) * h;
}

// P(X >= statistic) for X chi-square distributed with `degrees` degrees of freedom.
inline double chi_square_survival(double statistic, double degrees) {
    return regularized_gamma_q(0.5 * degrees, 0.5 * statistic);
}

// The x with P(X >= x) = upper_tail, by bisection on chi_square_survival (decreasing in x).
inline double chi_square_quantile(double upper_tail, double degrees) {
    double low = 0.0;
    double high = degrees + 10.0;
    while (chi_square_survival(high, degrees) > upper_tail) {
        high *= 2.0;
    }
    for (int i = 0; i < 200; ++i) {
        const double middle = 0.5 * (low + high);
        (chi_square_survival(middle, degrees) > upper_tail ? low : high) = middle;
    }
    return 0.5 * (low + high);
}

struct chi_square_result {
    double statistic = 0.0;
    std::size_t bins = 0;    // after merging
    double degrees = 0.0;    // bins - 1
    double threshold = 0.0;  // chi-square quantile at 1 - false_alarm_rate
    double p_value = 1.0;    // P(X >= statistic)
    double impossible = 0.0; // observations in categories of probability 0: must be 0
    bool passed = false;     // statistic <= threshold and impossible == 0

    std::string describe() const {
        std::ostringstream out;
        out << "chi-square = " << statistic << " with " << degrees << " degrees of freedom ("
            << bins << " bins), threshold " << threshold << ", p-value " << p_value
            << ", observations in impossible categories " << impossible;
        return out.str();
    }
};

// Pearson's chi-square test of `observed` counts (one per category) against the category
// probabilities `expected` (summing to 1). Categories of probability 0 are left out of the
// statistic, and any observation in them is reported in `impossible`. The rest are walked in
// the given order and merged with their successors until each bin expects at least
// `min_expected` observations (a last bin that falls short joins the one before), the usual
// condition for the chi-square approximation. The test fails with probability about
// `false_alarm_rate` when the counts really come from `expected` as a multinomial sample;
// draws that are negatively correlated (stratified sampling) make it fail less often.
inline chi_square_result chi_square_test(const std::vector<double>& observed,
                                         const std::vector<double>& expected,
                                         double false_alarm_rate, double min_expected = 5.0) {
    if (observed.size() != expected.size()) {
        throw std::invalid_argument("chi_square_test: observed and expected differ in size");
    }
    double draws = 0.0;
    for (double count : observed) {
        draws += count;
    }
    chi_square_result result;
    std::vector<double> bin_observed;
    std::vector<double> bin_expected;
    double pending_observed = 0.0;
    double pending_expected = 0.0;
    for (std::size_t i = 0; i < observed.size(); ++i) {
        if (expected[i] == 0.0) {
            result.impossible += observed[i];
            continue;
        }
        pending_observed += observed[i];
        pending_expected += expected[i] * draws;
        if (pending_expected >= min_expected) {
            bin_observed.push_back(pending_observed);
            bin_expected.push_back(pending_expected);
            pending_observed = 0.0;
            pending_expected = 0.0;
        }
    }
    if (pending_expected > 0.0 || pending_observed > 0.0) {
        if (bin_observed.empty()) {
            bin_observed.push_back(0.0);
            bin_expected.push_back(0.0);
        }
        bin_observed.back() += pending_observed;
        bin_expected.back() += pending_expected;
    }
    result.bins = bin_observed.size();
    for (std::size_t b = 0; b < bin_observed.size(); ++b) {
        const double difference = bin_observed[b] - bin_expected[b];
        result.statistic += difference * difference / bin_expected[b];
    }
    if (result.bins < 2) {
        // One bin: every observation is where it must be; nothing to test.
        result.passed = result.impossible == 0.0;
        return result;
    }
    result.degrees = static_cast<double>(result.bins - 1);
    result.threshold = chi_square_quantile(false_alarm_rate, result.degrees);
    result.p_value = chi_square_survival(result.statistic, result.degrees);
    result.passed = result.statistic <= result.threshold && result.impossible == 0.0;
    return result;
}

// Requires that `observed` fits `expected` (chi_square_test at false_alarm_rate): no
// observation where P = 0, at least two bins after merging, and a statistic within the
// threshold. O(categories + the quantile's bisection).
inline void require_fit(const std::vector<double>& observed, const std::vector<double>& expected,
                        double false_alarm_rate) {
    const chi_square_result result = chi_square_test(observed, expected, false_alarm_rate);
    INFO(result.describe());
    REQUIRE(result.impossible == 0.0);
    REQUIRE(result.bins >= 2);
    REQUIRE(result.statistic <= result.threshold);
}

// The power check of a test: `observed` fits `right` and not `wrong` (both at
// false_alarm_rate) and, if margin > 0, misses `wrong` by far: its statistic above margin times
// its threshold. O(categories + the quantiles' bisection).
inline void require_right_not_wrong(const std::vector<double>& observed,
                                    const std::vector<double>& right,
                                    const std::vector<double>& wrong, double false_alarm_rate,
                                    double margin) {
    const chi_square_result right_result = chi_square_test(observed, right, false_alarm_rate);
    const chi_square_result wrong_result = chi_square_test(observed, wrong, false_alarm_rate);
    INFO("right: " << right_result.describe() << "; wrong: " << wrong_result.describe());
    REQUIRE(right_result.passed);
    REQUIRE_FALSE(wrong_result.passed);
    if (margin > 0.0) {
        REQUIRE(wrong_result.statistic > margin * wrong_result.threshold);
    }
}

// Draw counts per slot (0..capacity-1) of `batches` batches of batch_size drawn from `buffer`
// (any buffer of int items) with beta 0.5. O(batches x the sample's cost). Throws
// std::out_of_range for a slot >= capacity, and what the buffer throws.
template <class Buffer>
std::vector<double> count_draws(Buffer& buffer, std::size_t batch_size, std::size_t batches,
                                std::mt19937_64& rng) {
    std::vector<double> counts(buffer.capacity(), 0.0);
    per::replay_batch<int> batch;
    for (std::size_t b = 0; b < batches; ++b) {
        buffer.sample(batch_size, 0.5, rng, batch);
        for (std::size_t slot : batch.slots()) {
            counts.at(slot) += 1.0;
        }
    }
    return counts;
}

// Draw counts per batch position and slot: result[k][slot] counts the k-th draws of `batches`
// batches of batch_size (beta 0.5). O(batches x the sample's cost). Throws std::out_of_range for
// a slot >= capacity, and what the buffer throws.
template <class Buffer>
std::vector<std::vector<double>> count_draws_by_position(Buffer& buffer, std::size_t batch_size,
                                                         std::size_t batches,
                                                         std::mt19937_64& rng) {
    std::vector<std::vector<double>> counts(batch_size,
                                            std::vector<double>(buffer.capacity(), 0.0));
    per::replay_batch<int> batch;
    for (std::size_t b = 0; b < batches; ++b) {
        buffer.sample(batch_size, 0.5, rng, batch);
        for (std::size_t k = 0; k < batch_size; ++k) {
            counts[k].at(batch.slots()[k]) += 1.0;
        }
    }
    return counts;
}

// Stratified sampling draws its k-th prefix value uniformly in [k, k + 1) * total / B: the k-th
// draw picks the category at position i with probability B * |[C(i-1), C(i)) intersected with
// [k, k + 1) / B|, where C is the cumulative distribution of `p`, the probabilities in the order
// the sampler walks them. Returns those probabilities, in the same order. O(p.size()).
inline std::vector<double> stratified_slice_probabilities(const std::vector<double>& p,
                                                          std::size_t k, std::size_t batch_size) {
    const double low = static_cast<double>(k) / batch_size;
    const double high = static_cast<double>(k + 1) / batch_size;
    std::vector<double> expected(p.size(), 0.0);
    double cumulative = 0.0;
    for (std::size_t i = 0; i < p.size(); ++i) {
        const double overlap = std::min(high, cumulative + p[i]) - std::max(low, cumulative);
        expected[i] = overlap > 0.0 ? overlap * batch_size : 0.0;
        cumulative += p[i];
    }
    return expected;
}

// The exact probability of drawing the ordered sequence `slots` without replacement
// (successive sampling) from the single-draw probabilities p: P(a) * P(b) / (1 - P(a)) *
// P(c) / (1 - P(a) - P(b)) * ...; 0 if a slot repeats or has P = 0. O(slots^2).
inline double successive_probability(const std::vector<double>& p,
                                     const std::vector<std::size_t>& slots) {
    double result = 1.0;
    double remaining = 1.0;
    for (std::size_t k = 0; k < slots.size(); ++k) {
        for (std::size_t j = 0; j < k; ++j) {
            if (slots[j] == slots[k]) {
                return 0.0;
            }
        }
        if (p[slots[k]] == 0.0) {
            return 0.0;
        }
        result *= p[slots[k]] / remaining;
        remaining -= p[slots[k]];
    }
    return result;
}

// Expected probabilities and observed counts of every ordered sequence of batch_size slots out
// of n (category index: the slots as digits in base n).
struct sequence_table {
    std::vector<double> expected;
    std::vector<double> observed;
};

// Fills a sequence_table for `buffer` (any buffer of int items, n = its size()) from the
// single-draw probabilities p of its slots and `batches` batches of batch_size (beta 0.5),
// requiring every drawn slot < n. O(n^batch_size x batch_size^2 + batches x the sample's cost).
template <class Buffer>
sequence_table ordered_sequences(Buffer& buffer, const std::vector<double>& p,
                                 std::size_t batch_size, std::size_t batches,
                                 std::mt19937_64& rng) {
    const std::size_t n = buffer.size();
    std::size_t categories = 1;
    for (std::size_t k = 0; k < batch_size; ++k) {
        categories *= n;
    }
    sequence_table table;
    table.expected.resize(categories);
    table.observed.assign(categories, 0.0);
    std::vector<std::size_t> slots(batch_size);
    for (std::size_t index = 0; index < categories; ++index) {
        std::size_t rest = index;
        for (std::size_t k = batch_size; k-- > 0;) {
            slots[k] = rest % n;
            rest /= n;
        }
        table.expected[index] = successive_probability(p, slots);
    }
    per::replay_batch<int> batch;
    for (std::size_t b = 0; b < batches; ++b) {
        buffer.sample(batch_size, 0.5, rng, batch);
        std::size_t index = 0;
        for (std::size_t slot : batch.slots()) {
            REQUIRE(slot < n);
            index = index * n + slot;
        }
        table.observed[index] += 1.0;
    }
    return table;
}

} // namespace per_test

#endif // PER_TESTS_STATS_HPP
