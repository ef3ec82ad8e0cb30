#ifndef PER_BENCH_REFERENCE_NAIVE_SAMPLERS_HPP
#define PER_BENCH_REFERENCE_NAIVE_SAMPLERS_HPP

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <numeric>
#include <utility>
#include <vector>

// The two O(N) designs of the "sample" rows, indices only: stratified prefix fractions in,
// slots out. (The "sample_full" rows of `naive` use per::naive_prioritized_replay itself.)

namespace per_bench::reference {

namespace detail {

// The first slot whose cumulative sum exceeds u; a u that rounding put at or past the end
// takes the last slot with a non-zero weight, so no zero-weight slot is ever returned.
inline std::size_t search_cumulative(const std::vector<double>& cumulative, double u) noexcept {
    const auto slot = static_cast<std::size_t>(
        std::upper_bound(cumulative.begin(), cumulative.end(), u) - cumulative.begin());
    if (slot < cumulative.size()) {
        return slot;
    }
    std::size_t last = cumulative.size() - 1;
    while (last > 0 && !(cumulative[last] > cumulative[last - 1])) {
        --last;
    }
    return last;
}

} // namespace detail

// Tutorial design 1, as Python tutorials write it with numpy:
//     probabilities = priorities ** alpha; probabilities /= probabilities.sum()
//     indices = np.random.choice(len(buffer), batch_size, p=probabilities)
// Every call raises each raw priority to alpha, normalizes, accumulates (what choice does
// inside) and binary-searches each prefix. The arrays are allocated per call, as numpy does.
class naive_sampler {
public:
    naive_sampler(std::vector<double> priorities, double alpha, double epsilon)
        : m_priorities(std::move(priorities))
        , m_alpha(alpha)
        , m_epsilon(epsilon) {}

    void set_priority(std::size_t slot, double priority) noexcept { m_priorities[slot] = priority; }

    // O(N + B log N) per call.
    void sample(const double* fractions, std::size_t batch, std::size_t* slots) const {
        std::vector<double> probabilities(m_priorities.size());
        double total = 0.0;
        for (std::size_t i = 0; i < m_priorities.size(); ++i) {
            probabilities[i] = std::pow(m_priorities[i] + m_epsilon, m_alpha);
            total += probabilities[i];
        }
        for (double& probability : probabilities) {
            probability /= total;
        }
        std::vector<double> cumulative(probabilities.size());
        std::partial_sum(probabilities.begin(), probabilities.end(), cumulative.begin());
        const double end = cumulative.back();
        for (std::size_t k = 0; k < batch; ++k) {
            slots[k] = detail::search_cumulative(cumulative, fractions[k] * end);
        }
    }

    // Kept between calls: the raw priorities. Each call allocates 16 more bytes per slot.
    std::size_t memory_bytes() const noexcept { return m_priorities.size() * sizeof(double); }

private:
    std::vector<double> m_priorities;
    double m_alpha;
    double m_epsilon;
};

// The tutorial buffer with its obvious fix: the weight (p + epsilon)^alpha is computed once,
// when a priority changes, and kept. Sampling still pays an O(N) cumulative sum per call (into
// a kept array), then one binary search per draw.
class naive_cached_sampler {
public:
    naive_cached_sampler(const std::vector<double>& priorities, double alpha, double epsilon)
        : m_weights(priorities.size())
        , m_cumulative(priorities.size())
        , m_alpha(alpha)
        , m_epsilon(epsilon) {
        for (std::size_t slot = 0; slot < priorities.size(); ++slot) {
            set_priority(slot, priorities[slot]);
        }
    }

    // O(1): one pow.
    void set_priority(std::size_t slot, double priority) noexcept {
        m_weights[slot] = std::pow(priority + m_epsilon, m_alpha);
    }

    // O(N + B log N) per call, with no pow and no allocation.
    void sample(const double* fractions, std::size_t batch, std::size_t* slots) {
        std::partial_sum(m_weights.begin(), m_weights.end(), m_cumulative.begin());
        const double total = m_cumulative.back();
        for (std::size_t k = 0; k < batch; ++k) {
            slots[k] = detail::search_cumulative(m_cumulative, fractions[k] * total);
        }
    }

    // The weights and the cumulative sums.
    std::size_t memory_bytes() const noexcept {
        return (m_weights.size() + m_cumulative.size()) * sizeof(double);
    }

private:
    std::vector<double> m_weights;
    std::vector<double> m_cumulative;
    double m_alpha;
    double m_epsilon;
};

} // namespace per_bench::reference

#endif // PER_BENCH_REFERENCE_NAIVE_SAMPLERS_HPP
