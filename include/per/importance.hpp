#ifndef PER_IMPORTANCE_HPP
#define PER_IMPORTANCE_HPP

#include "detail/error.hpp"
#include "detail/fast_power.hpp"

#include <cmath>
#include <cstddef>
#include <limits>
#include <string>
#include <vector>

/// @file
/// Importance-sampling weights on their own, for samplers of any kind: an item drawn with
/// probability P(i) out of N items gets w_i = (N P(i))^-beta, which undoes the bias of the
/// non-uniform sampling fully at beta = 1 and not at all at beta = 0.

namespace per {

/// How importance-sampling weights are scaled. The paper scales by 1 / max w so that weights
/// only ever shrink updates, without saying over which set the max is taken.
enum class weight_normalization {
    /// Divide by the largest weight any present item could get, i.e. the weight of the item
    /// with the smallest non-zero probability (OpenAI baselines; needs the minimum probability,
    /// which prioritized_sampler keeps in a min tree). Weights are in (0, 1] and a given item's
    /// weight does not depend on what else was drawn with it.
    global_max,
    /// Divide by the largest weight in the batch (tutorials 1 and 3). The largest weight of
    /// every batch is exactly 1.
    batch_max,
    /// (N P(i))^-beta as is (tutorial 2); weights can exceed 1.
    none,
};

namespace detail {

inline void check_beta(const char* where, double beta) {
    if (!(beta >= 0.0 && beta <= 1.0)) { // also rejects NaN
        throw_invalid_argument(where, "beta", beta, "must be in [0, 1]");
    }
}

inline void check_probability(const char* where, const char* argument, double probability) {
    if (!(probability > 0.0 && probability <= 1.0)) {
        throw_invalid_argument(where, argument, probability, "must be in (0, 1]");
    }
}

inline std::string indexed(const char* name, std::size_t index) {
    return std::string(name) + "[" + std::to_string(index) + "]";
}

/// (a b / c)^y for positive finite a, b, c and |y| <= 1, without forming a b / c, which can
/// underflow or overflow where its power is a normal double: (2.2e-167 = (5e-324 / 1e10)^0.5,
/// whose base 5e-334 is not a double). With a = ma 2^ea, b = mb 2^eb, c = mc 2^ec (frexp,
/// exact), a b / c = m 2^e with m = ma mb / mc in (1/4, 2) and e an integer, so the power is
/// m^y 2^(e y); e y is split into an integer k and a remainder f in [-1/2, 1/2] exactly (the
/// rounding error of e y is recovered by fma), and the result is m^y 2^f scaled by 2^k. A few
/// ulps of accuracy (std::pow, std::exp2), one rounding into the subnormal range at the end.
/// The slow path of importance_weights_from_values, for the rare bases outside the normal range.
inline double power_of_quotient(double a, double b, double c, double y) noexcept {
    int exponent_a = 0;
    int exponent_b = 0;
    int exponent_c = 0;
    const double mantissa_a = std::frexp(a, &exponent_a);
    const double mantissa_b = std::frexp(b, &exponent_b);
    const double mantissa_c = std::frexp(c, &exponent_c);
    const double mantissa = mantissa_a * mantissa_b / mantissa_c;
    const double exponent = static_cast<double>(exponent_a + exponent_b - exponent_c); // exact
    const double scaled = exponent * y;
    const double scaled_error = std::fma(exponent, y, -scaled); // exactly e y - scaled
    const double k = std::round(scaled);
    const double f = (scaled - k) + scaled_error; // scaled - k is exact: |scaled - k| <= 1/2
    return std::ldexp(std::pow(mantissa, y) * std::exp2(f), static_cast<int>(k));
}

/// The computation behind importance_weights, on sampling weights rather than probabilities:
/// values[k] is the k-th draw's sampling weight (P_k times `total`, the sum over all present
/// items) and min_value the smallest non-zero sampling weight of any present item. The samplers
/// call it with their tree's values, whose ratios cannot underflow where a probability of a
/// tiny weight against a huge total could. No validation (callers checked their inputs);
/// `weights` may alias `values`. O(count).
///
/// Each weight is base^y: base = reference / value with y = beta (normalized), or
/// base = N value / total with y = -beta (none). Where the base is a normal double, which is
/// every base unless the weights span more than about 300 decades, it goes to one batched power
/// (vectorized on x86-64: detail/fast_power.hpp), bit for bit as in earlier versions. A base that
/// underflows (below DBL_MIN, where it has lost precision or is 0) or overflows is not formed:
/// power_of_quotient computes that weight from the factors instead. Normalized weights are
/// then clamped to [DBL_TRUE_MIN, 1]: a weight whose exact value is below the smallest positive
/// double (beta near 1 and values more than 1e308 apart) is given as that smallest double, so
/// that weights stay in (0, 1].
inline void importance_weights_from_values(const double* values, std::size_t count, double total,
                                           std::size_t item_count, double beta,
                                           weight_normalization normalization, double min_value,
                                           double* weights) noexcept {
    double reference = min_value;
    if (normalization == weight_normalization::batch_max) {
        reference = count > 0 ? values[0] : 1.0;
        for (std::size_t k = 1; k < count; ++k) {
            reference = values[k] < reference ? values[k] : reference;
        }
    }
    const double n = static_cast<double>(item_count);
    const bool unnormalized = normalization == weight_normalization::none;
    const double exponent = unnormalized ? -beta : beta;
    const auto base_of = [&](double value) {
        return unnormalized ? n * value / total : reference / value;
    };
    const auto in_range = [](double base) {
        return base >= std::numeric_limits<double>::min() &&
               base <= std::numeric_limits<double>::max();
    };
    // The common case, decided without a division per weight: both base formulas are monotonic
    // in the value (correctly rounded products and quotients are), so every base lies between
    // those of the smallest and the largest value. All in range: the bases in place and one
    // batched power over the whole batch, as before the slow path below existed.
    if (count == 0) {
        return;
    }
    double smallest = values[0];
    double largest = values[0];
    for (std::size_t k = 1; k < count; ++k) {
        smallest = values[k] < smallest ? values[k] : smallest;
        largest = values[k] > largest ? values[k] : largest;
    }
    const bool all_in_range = in_range(base_of(smallest)) && in_range(base_of(largest));
    if (all_in_range) {
        for (std::size_t k = 0; k < count; ++k) {
            weights[k] = base_of(values[k]); // read before the write: in-place use is fine
        }
        power_batch(weights, count, exponent, weights);
        return;
    }
    // Chunks of the batch: the bases of a chunk are computed (and checked) before any of its
    // weights is written, so that `weights` may alias `values`. A multiple of the power's lanes,
    // so that the lanes are grouped as in one call over the whole batch.
    constexpr std::size_t chunk = 64;
    double bases[chunk];
    for (std::size_t begin = 0; begin < count; begin += chunk) {
        const std::size_t size = count - begin < chunk ? count - begin : chunk;
        bool chunk_in_range = true;
        for (std::size_t q = 0; q < size; ++q) {
            bases[q] = base_of(values[begin + q]);
            chunk_in_range &= in_range(bases[q]);
        }
        if (chunk_in_range) { // the common case: no branch per weight
            power_batch(bases, size, exponent, weights + begin);
            continue;
        }
        double outside[chunk]; // the weights of the bases out of range
        bool is_outside[chunk];
        for (std::size_t q = 0; q < size; ++q) {
            is_outside[q] = !in_range(bases[q]);
            if (is_outside[q]) {
                const double value = values[begin + q];
                double weight = 0.0;
                if (unnormalized) {
                    weight = power_of_quotient(n, value, total, exponent);
                } else {
                    // At beta = 1 the weight is the ratio itself, correctly rounded.
                    weight = exponent == 1.0 ? bases[q]
                                             : power_of_quotient(1.0, reference, value, exponent);
                    weight = weight < std::numeric_limits<double>::denorm_min()
                                 ? std::numeric_limits<double>::denorm_min()
                                 : (weight > 1.0 ? 1.0 : weight);
                }
                outside[q] = weight;
                bases[q] = 1.0; // within the power's precondition; replaced below
            }
        }
        power_batch(bases, size, exponent, bases);
        for (std::size_t q = 0; q < size; ++q) {
            weights[begin + q] = is_outside[q] ? outside[q] : bases[q];
        }
    }
}

} // namespace detail

/// The unnormalized weight (N P)^-beta of an item drawn with probability `probability` out of
/// `item_count` items. O(1). It overflows to +infinity only if N P < 1 / DBL_MAX (about
/// 5.6e-309); the normalized weights of importance_weights never overflow.
/// Throws std::invalid_argument if probability is not in (0, 1], item_count is 0, or beta is
/// not in [0, 1].
inline double importance_weight(double probability, std::size_t item_count, double beta) {
    static constexpr const char* where = "per::importance_weight";
    detail::check_probability(where, "probability", probability);
    if (item_count == 0) {
        detail::throw_invalid_argument(where, "item_count", item_count, "must be > 0");
    }
    detail::check_beta(where, beta);
    return std::pow(static_cast<double>(item_count) * probability, -beta);
}

/// Writes the importance-sampling weights of `count` draws, given the probabilities with which
/// they were drawn out of `item_count` items, normalized as `normalization` says:
/// - global_max: (min_probability / P_i)^beta, where min_probability is the smallest non-zero
///   probability of any present item (not only of this batch). This equals
///   (N P_i)^-beta / (N P_min)^-beta, needs one pow per weight and does not depend on N.
/// - batch_max: (P_min_batch / P_i)^beta, with P_min_batch the smallest probability in the batch.
/// - none: (N P_i)^-beta.
///
/// Identities that hold exactly: beta = 0 gives all ones; with batch_max the weight of the
/// least likely draw is 1; with global_max and beta = 1 the weights are min_probability / P_i
/// (or the smallest positive double where that quotient underflows to 0).
/// Extremes: normalized weights are always in (0, 1], also when the probabilities span more
/// than the about 600 decades of double: a ratio such as min_probability / P_i that would
/// underflow is never formed, the weight (min_probability / P_i)^beta is computed from the two
/// probabilities (accurate to a few ulps), and a weight whose exact value is below the smallest
/// positive double (4.9e-324) is given as that double. Unnormalized weights are computed in the
/// same way where N P_i is not a normal double; they overflow to +infinity only where the exact
/// (N P_i)^-beta exceeds DBL_MAX.
/// `weights` may be the same array as `probabilities` (in place). count = 0 writes nothing.
/// O(count).
/// min_probability is only read for global_max; it must then be in (0, 1] and <= every
/// probability of the batch.
/// Throws std::invalid_argument, naming the argument and value, if count > 0 and a pointer is
/// null, a probability is not in (0, 1], item_count is 0, beta is not in [0, 1], normalization
/// is not an enumerator, or min_probability is invalid. Every input is checked before the first
/// write: `weights` is untouched when this throws.
inline void importance_weights(const double* probabilities, std::size_t count,
                               std::size_t item_count, double beta,
                               weight_normalization normalization, double min_probability,
                               double* weights) {
    static constexpr const char* where = "per::importance_weights";
    if (count > 0 && probabilities == nullptr) {
        detail::throw_invalid_argument(where, "probabilities", "nullptr",
                                       "must point to count = " + std::to_string(count) +
                                           " values");
    }
    if (count > 0 && weights == nullptr) {
        detail::throw_invalid_argument(where, "weights", "nullptr",
                                       "must point to count = " + std::to_string(count) +
                                           " values");
    }
    if (item_count == 0) {
        detail::throw_invalid_argument(where, "item_count", item_count, "must be > 0");
    }
    detail::check_beta(where, beta);
    if (normalization != weight_normalization::global_max &&
        normalization != weight_normalization::batch_max &&
        normalization != weight_normalization::none) {
        detail::throw_invalid_argument(where, "normalization", static_cast<int>(normalization),
                                       "is not a per::weight_normalization");
    }
    std::size_t min_index = 0; // of the least likely draw of the batch
    for (std::size_t k = 0; k < count; ++k) {
        if (!(probabilities[k] > 0.0 && probabilities[k] <= 1.0)) { // names the index lazily
            detail::check_probability(where, detail::indexed("probabilities", k).c_str(),
                                      probabilities[k]);
        }
        if (probabilities[k] < probabilities[min_index]) {
            min_index = k;
        }
    }
    const double min_batch_probability = count > 0 ? probabilities[min_index] : 1.0;
    if (normalization == weight_normalization::global_max) {
        detail::check_probability(where, "min_probability", min_probability);
        if (min_probability > min_batch_probability) {
            detail::throw_invalid_argument(
                where, "min_probability", min_probability,
                "must be <= " + detail::indexed("probabilities", min_index) + " = " +
                    detail::format_value(min_batch_probability));
        }
    }

    // Validated: nothing below throws. Probabilities are sampling weights with total 1.
    detail::importance_weights_from_values(probabilities, count, 1.0, item_count, beta,
                                           normalization, min_probability, weights);
}

/// As the pointer overload above, returning the weights of all of `probabilities` in a new vector.
/// Also throws std::bad_alloc if memory runs out.
inline std::vector<double> importance_weights(const std::vector<double>& probabilities,
                                              std::size_t item_count, double beta,
                                              weight_normalization normalization,
                                              double min_probability) {
    std::vector<double> weights(probabilities.size());
    importance_weights(probabilities.data(), probabilities.size(), item_count, beta, normalization,
                       min_probability, weights.data());
    return weights;
}

} // namespace per

#endif // PER_IMPORTANCE_HPP
