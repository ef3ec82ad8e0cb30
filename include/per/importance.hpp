#ifndef PER_IMPORTANCE_HPP
#define PER_IMPORTANCE_HPP

#include "detail/error.hpp"
#include "detail/fast_power.hpp"

#include <cmath>
#include <cstddef>
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

/// The computation behind importance_weights, on sampling weights rather than probabilities:
/// values[k] is the k-th draw's sampling weight (P_k times `total`, the sum over all present
/// items) and min_value the smallest non-zero sampling weight of any present item. The samplers
/// call it with their tree's values, whose ratios cannot underflow where a probability of a
/// tiny weight against a huge total could. No validation (callers checked their inputs);
/// `weights` may alias `values`. O(count).
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
    // The bases first, then one batched power (vectorized on x86-64: detail/fast_power.hpp).
    const double n = static_cast<double>(item_count);
    const bool unnormalized = normalization == weight_normalization::none;
    for (std::size_t k = 0; k < count; ++k) {
        const double value = values[k]; // read before the write: in-place use is fine
        weights[k] = unnormalized ? n * value / total : reference / value;
    }
    power_batch(weights, count, unnormalized ? -beta : beta, weights);
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
/// least likely draw is 1; with global_max and beta = 1 the weights are min_probability / P_i.
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
