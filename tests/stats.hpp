#ifndef PER_TESTS_STATS_HPP
#define PER_TESTS_STATS_HPP

// Chi-square goodness-of-fit for the statistical tests: observed counts of categories against
// their exact probabilities. The tail probability comes from the regularized upper incomplete
// gamma function Q(k/2, x/2) (series for x < a + 1, Lentz's continued fraction above; accurate
// to about 1e-12 relative, far finer than any threshold we use), not from the Wilson-Hilferty
// approximation, so that the stated false-alarm rate holds for small degrees of freedom too.

#include <cmath>
#include <cstddef>
#include <limits>
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

} // namespace per_test

#endif // PER_TESTS_STATS_HPP
