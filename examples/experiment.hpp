// What the two DQN experiments (cartpole_dqn.cpp, cliffwalk_dqn.cpp) share to run and compare
// their runs: independent runs in parallel threads, and the statistics they report (means with
// Student-t confidence intervals, the Mann-Whitney U test, Fisher's exact test, a bootstrap
// interval of a difference of means). The statistics are written out (no statistics library)
// so that the examples need nothing beyond LibTorch and per; each function states its method.
// Examples only: not part of the library.
#ifndef PER_EXAMPLES_EXPERIMENT_HPP
#define PER_EXAMPLES_EXPERIMENT_HPP

#include <per/random.hpp>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdio>
#include <exception>
#include <mutex>
#include <numeric>
#include <random>
#include <thread>
#include <vector>

namespace per_examples {

// --- Runs in parallel ----------------------------------------------------------------------

// torch::manual_seed sets LibTorch's one global generator, which the networks' initializers
// draw from: runs in parallel threads lock this while they seed and build their networks.
inline std::mutex network_initialization;

// results[r] = run(r) for r = 0 .. runs - 1, `jobs` at a time, each in its own thread (the
// calling thread is one of them); a progress line on stderr. Results do not depend on `jobs`
// as long as each run depends only on its index. The first exception a run threw is rethrown
// after every thread has finished.
template <class Result, class Run>
std::vector<Result> run_in_parallel(std::size_t runs, int jobs, Run run) {
    std::vector<Result> results(runs);
    std::vector<std::exception_ptr> errors(runs);
    std::mutex progress;
    std::size_t next = 0;
    std::size_t done = 0;
    const auto worker = [&] {
        for (;;) {
            std::size_t r;
            {
                const std::lock_guard<std::mutex> lock(progress);
                if (next == runs) {
                    return;
                }
                r = next++;
            }
            try {
                results[r] = run(r);
            } catch (...) {
                errors[r] = std::current_exception();
            }
            const std::lock_guard<std::mutex> lock(progress);
            std::fprintf(stderr, "\r%zu of %zu runs done", ++done, runs);
        }
    };
    std::vector<std::thread> threads;
    for (int j = 1; j < std::min<int>(jobs, static_cast<int>(runs)); ++j) {
        threads.emplace_back(worker);
    }
    worker();
    for (std::thread& thread : threads) {
        thread.join();
    }
    std::fprintf(stderr, "\n");
    for (const std::exception_ptr& error : errors) {
        if (error) {
            std::rethrow_exception(error);
        }
    }
    return results;
}

// --- Statistics ----------------------------------------------------------------------------

inline double mean_of(const std::vector<double>& values) {
    return std::accumulate(values.begin(), values.end(), 0.0) / static_cast<double>(values.size());
}

// The median: the middle value, or the mean of the two middle ones.
inline double median_of(std::vector<double> values) {
    std::sort(values.begin(), values.end());
    const std::size_t middle = values.size() / 2;
    return values.size() % 2 == 1 ? values[middle] : (values[middle - 1] + values[middle]) / 2;
}

// The sample standard deviation (divisor k - 1); 0 for fewer than two values.
inline double standard_deviation(const std::vector<double>& values) {
    if (values.size() < 2) {
        return 0.0;
    }
    const double mean = mean_of(values);
    double squares = 0.0;
    for (double value : values) {
        squares += (value - mean) * (value - mean);
    }
    return std::sqrt(squares / static_cast<double>(values.size() - 1));
}

// The p-quantile (p in [0.5, 1)) of Student's t distribution with df degrees of freedom: its
// density integrated from 0 by Simpson's rule (2000 intervals), inverted by bisection. Accurate
// to about 1e-6 for the df and p used here, which is plenty for a confidence band.
inline double student_t_quantile(double p, double df) {
    const double scale = std::exp(std::lgamma((df + 1) / 2) - std::lgamma(df / 2)) /
                         std::sqrt(df * 3.14159265358979323846);
    const auto density = [&](double t) { return scale * std::pow(1 + t * t / df, -(df + 1) / 2); };
    const auto cdf = [&](double x) {
        constexpr int intervals = 2000;
        const double h = x / intervals;
        double sum = density(0) + density(x);
        for (int i = 1; i < intervals; ++i) {
            sum += (i % 2 == 1 ? 4 : 2) * density(i * h);
        }
        return 0.5 + sum * h / 3;
    };
    double low = 0.0;
    double high = 100.0; // beyond the 0.975 quantile of every df >= 1 (12.7 for df 1)
    for (int i = 0; i < 60; ++i) {
        const double middle = (low + high) / 2;
        (cdf(middle) < p ? low : high) = middle;
    }
    return (low + high) / 2;
}

struct interval {
    double low;
    double high;
};

// The 95% confidence interval of the mean, mean -+ t(0.975, k - 1) sd / sqrt(k).
inline interval mean_interval(const std::vector<double>& values) {
    const double mean = mean_of(values);
    if (values.size() < 2) {
        return {mean, mean};
    }
    const double k = static_cast<double>(values.size());
    const double half =
        student_t_quantile(0.975, k - 1) * standard_deviation(values) / std::sqrt(k);
    return {mean - half, mean + half};
}

// The two-sided Mann-Whitney U test (Wilcoxon rank-sum) of "a and b come from one
// distribution". U counts the pairs (x in a, y in b) with x > y, ties as 1/2; under the null
// hypothesis every assignment of the pooled values to the groups is equally likely. Without
// ties the p-value is exact: the number of assignments with each U is the coefficient of
// q^U in the Gaussian binomial coefficient [m + n choose m]_q = prod_{i=1..m} (1 - q^(n+i)) /
// (1 - q^i), integers that doubles hold exactly up to C(m + n, m) < 2^53. With ties it is the
// normal approximation with the tie-corrected variance and a continuity correction.
struct u_test {
    double u;
    double p;
    bool exact;
};

inline u_test mann_whitney(const std::vector<double>& a, const std::vector<double>& b) {
    const std::size_t m = a.size();
    const std::size_t n = b.size();
    double u = 0.0;
    for (double x : a) {
        for (double y : b) {
            u += x > y ? 1.0 : x == y ? 0.5 : 0.0;
        }
    }
    std::vector<double> pooled(a);
    pooled.insert(pooled.end(), b.begin(), b.end());
    std::sort(pooled.begin(), pooled.end());
    double tie_term = 0.0; // sum over groups of equal values of t^3 - t
    for (std::size_t i = 0; i < pooled.size();) {
        std::size_t j = i;
        while (j < pooled.size() && pooled[j] == pooled[i]) {
            ++j;
        }
        const double t = static_cast<double>(j - i);
        tie_term += t * t * t - t;
        i = j;
    }
    const double mean_u = static_cast<double>(m * n) / 2;
    if (tie_term == 0.0) {
        std::vector<double> count(m * n + 1, 0.0);
        count[0] = 1.0;
        for (std::size_t i = 1; i <= m; ++i) {
            for (std::size_t k = m * n; k >= n + i; --k) { // times (1 - q^(n+i))
                count[k] -= count[k - n - i];
            }
            for (std::size_t k = i; k <= m * n; ++k) { // divided by (1 - q^i)
                count[k] += count[k - i];
            }
        }
        const double total = std::accumulate(count.begin(), count.end(), 0.0);
        double at_most = 0.0;
        double at_least = 0.0;
        for (std::size_t k = 0; k <= m * n; ++k) {
            at_most += static_cast<double>(k) <= u ? count[k] : 0.0;
            at_least += static_cast<double>(k) >= u ? count[k] : 0.0;
        }
        return {u, std::min(1.0, 2 * std::min(at_most, at_least) / total), true};
    }
    const double total = static_cast<double>(m + n);
    const double variance =
        static_cast<double>(m * n) / 12 * (total + 1 - tie_term / (total * (total - 1)));
    const double z = (std::fabs(u - mean_u) - 0.5) / std::sqrt(variance);
    return {u, std::min(1.0, std::erfc(std::max(z, 0.0) / std::sqrt(2.0))), false};
}

// The two-sided Wilcoxon signed-rank test of "the paired differences are symmetric around 0":
// zero differences are dropped, the others ranked by |d| (ties get their mean rank), and W+ is
// the sum of the ranks of the positive ones. Without ties among the |d| the p-value is exact:
// under the null hypothesis each of the 2^m sign patterns is equally likely, and the number of
// subsets of the ranks 1..m with each sum is counted (integers, exact in double for m <= 50).
// With ties it is the normal approximation with the tie-corrected variance and a continuity
// correction. `nonzero` is m, the pairs that count.
struct signed_rank_test {
    double w_plus;
    double p;
    bool exact;
    std::size_t nonzero;
};

inline signed_rank_test wilcoxon_signed_rank(const std::vector<double>& differences) {
    std::vector<double> magnitudes;
    for (double d : differences) {
        if (d != 0.0) {
            magnitudes.push_back(std::fabs(d));
        }
    }
    const std::size_t m = magnitudes.size();
    if (m == 0) {
        return {0.0, 1.0, true, 0};
    }
    std::vector<double> sorted = magnitudes;
    std::sort(sorted.begin(), sorted.end());
    const auto rank_of = [&](double magnitude) { // the mean rank of the values equal to it
        const auto low = std::lower_bound(sorted.begin(), sorted.end(), magnitude);
        const auto high = std::upper_bound(sorted.begin(), sorted.end(), magnitude);
        return (static_cast<double>(low - sorted.begin()) +
                static_cast<double>(high - sorted.begin()) + 1.0) /
               2.0;
    };
    double w_plus = 0.0;
    for (double d : differences) {
        if (d > 0.0) {
            w_plus += rank_of(d);
        }
    }
    double tie_term = 0.0; // sum over groups of equal |d| of t^3 - t
    for (std::size_t i = 0; i < m;) {
        std::size_t j = i;
        while (j < m && sorted[j] == sorted[i]) {
            ++j;
        }
        const double t = static_cast<double>(j - i);
        tie_term += t * t * t - t;
        i = j;
    }
    const double total_rank = static_cast<double>(m * (m + 1)) / 2;
    if (tie_term == 0.0) {
        std::vector<double> count(m * (m + 1) / 2 + 1, 0.0);
        count[0] = 1.0;
        for (std::size_t rank = 1; rank <= m; ++rank) { // subsets of 1..rank, by their sum
            for (std::size_t k = count.size() - 1; k >= rank; --k) {
                count[k] += count[k - rank];
            }
        }
        const double patterns = std::ldexp(1.0, static_cast<int>(m));
        double at_most = 0.0;
        double at_least = 0.0;
        for (std::size_t k = 0; k < count.size(); ++k) {
            at_most += static_cast<double>(k) <= w_plus ? count[k] : 0.0;
            at_least += static_cast<double>(k) >= w_plus ? count[k] : 0.0;
        }
        return {w_plus, std::min(1.0, 2 * std::min(at_most, at_least) / patterns), true, m};
    }
    const double mm = static_cast<double>(m);
    const double variance = mm * (mm + 1) * (2 * mm + 1) / 24 - tie_term / 48;
    const double z = (std::fabs(w_plus - total_rank / 2) - 0.5) / std::sqrt(variance);
    return {w_plus, std::min(1.0, std::erfc(std::max(z, 0.0) / std::sqrt(2.0))), false, m};
}

// Fisher's exact test of a 2 x 2 table (successes of a out of a_n, of b out of b_n), two-sided:
// the probability, given the margins, of a table no more likely than the one observed.
inline double fisher_exact(int a_successes, int a_n, int b_successes, int b_n) {
    const int successes = a_successes + b_successes;
    const auto log_choose = [](int n, int k) {
        return std::lgamma(n + 1.0) - std::lgamma(k + 1.0) - std::lgamma(n - k + 1.0);
    };
    const auto probability = [&](int k) {
        return std::exp(log_choose(a_n, k) + log_choose(b_n, successes - k) -
                        log_choose(a_n + b_n, successes));
    };
    const double observed = probability(a_successes);
    double p = 0.0;
    for (int k = std::max(0, successes - b_n); k <= std::min(a_n, successes); ++k) {
        const double value = probability(k);
        p += value <= observed * (1 + 1e-9) ? value : 0.0;
    }
    return std::min(1.0, p);
}

// The 95% percentile bootstrap interval of mean(a) - mean(b): both groups resampled with
// replacement 10,000 times, with a fixed seed.
inline interval bootstrap_mean_difference(const std::vector<double>& a,
                                          const std::vector<double>& b) {
    constexpr int resamples = 10'000;
    std::mt19937_64 engine(20'160'502); // fixed: the interval is part of the published result
    const auto resampled_mean = [&](const std::vector<double>& values) {
        double sum = 0.0;
        for (std::size_t i = 0; i < values.size(); ++i) {
            sum += values[per::uniform_below(engine, values.size())];
        }
        return sum / static_cast<double>(values.size());
    };
    std::vector<double> differences(resamples);
    for (double& difference : differences) {
        difference = resampled_mean(a) - resampled_mean(b);
    }
    std::sort(differences.begin(), differences.end());
    return {differences[resamples * 25 / 1000], differences[resamples * 975 / 1000 - 1]};
}

} // namespace per_examples

#endif // PER_EXAMPLES_EXPERIMENT_HPP
