#include "per/importance.hpp"

#include "per_catch.hpp"

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <limits>
#include <stdexcept>
#include <string>
#include <vector>

namespace {

using per::weight_normalization;

const double nan_value = std::numeric_limits<double>::quiet_NaN();
const double inf_value = std::numeric_limits<double>::infinity();

const weight_normalization all_normalizations[] = {
    weight_normalization::global_max, weight_normalization::batch_max, weight_normalization::none};

// Four items with P = 1/2, 1/4, 1/8, 1/8 (N = 4), drawn once each: N P = 2, 1, 1/2, 1/2.
const std::vector<double> probabilities = {0.5, 0.25, 0.125, 0.125};

std::vector<double> weights_of(const std::vector<double>& p, std::size_t item_count, double beta,
                               weight_normalization normalization, double min_probability) {
    return per::importance_weights(p, item_count, beta, normalization, min_probability);
}

} // namespace

TEST_CASE("importance_weight is (N P)^-beta", "[importance]") {
    REQUIRE(per::importance_weight(0.5, 4, 1.0) == 0.5);
    REQUIRE(per::importance_weight(0.125, 4, 1.0) == 2.0);
    REQUIRE(per::importance_weight(0.25, 4, 0.4) == 1.0);
    REQUIRE(per::importance_weight(0.5, 4, 0.4) == Approx(0.757858283255199).epsilon(1e-14));
    REQUIRE(per::importance_weight(0.125, 4, 0.4) == Approx(1.319507910772894).epsilon(1e-14));
    REQUIRE(per::importance_weight(0.001, 1000, 0.7) == 1.0); // uniform: N P = 1
    REQUIRE(per::importance_weight(0.3, 7, 0.0) == 1.0);
    REQUIRE(per::importance_weight(1.0, 1, 1.0) == 1.0);
}

TEST_CASE("importance_weight validates every argument", "[importance]") {
    const char* where = "per::importance_weight: ";
    REQUIRE_THROWS_AS(per::importance_weight(0.0, 4, 0.4), std::invalid_argument);
    REQUIRE_THROWS_WITH(per::importance_weight(0.0, 4, 0.4),
                        PER_CONTAINS(std::string(where) + "probability = 0 must be in (0, 1]"));
    REQUIRE_THROWS_WITH(per::importance_weight(1.5, 4, 0.4), PER_CONTAINS("probability = 1.5"));
    REQUIRE_THROWS_WITH(per::importance_weight(-0.25, 4, 0.4), PER_CONTAINS("probability = -0.25"));
    REQUIRE_THROWS_WITH(per::importance_weight(nan_value, 4, 0.4),
                        PER_CONTAINS("probability = nan"));
    REQUIRE_THROWS_AS(per::importance_weight(0.5, 0, 0.4), std::invalid_argument);
    REQUIRE_THROWS_WITH(per::importance_weight(0.5, 0, 0.4),
                        PER_CONTAINS(std::string(where) + "item_count = 0 must be > 0"));
    REQUIRE_THROWS_AS(per::importance_weight(0.5, 4, -0.25), std::invalid_argument);
    REQUIRE_THROWS_WITH(per::importance_weight(0.5, 4, -0.25),
                        PER_CONTAINS(std::string(where) + "beta = -0.25 must be in [0, 1]"));
    REQUIRE_THROWS_WITH(per::importance_weight(0.5, 4, 1.5), PER_CONTAINS("beta = 1.5"));
    REQUIRE_THROWS_WITH(per::importance_weight(0.5, 4, nan_value), PER_CONTAINS("beta = nan"));
    REQUIRE_THROWS_WITH(per::importance_weight(0.5, 4, inf_value), PER_CONTAINS("beta = inf"));
}

TEST_CASE("importance_weights: hand-computed values for each normalization", "[importance]") {
    // The memory's least likely item also has P = 1/8 in this batch.
    SECTION("beta = 1") {
        // (N P)^-1 = 1/2, 1, 2, 2; the largest possible weight is 2 (P_min = 1/8).
        const std::vector<double> global = {0.25, 0.5, 1.0, 1.0};
        REQUIRE(weights_of(probabilities, 4, 1.0, weight_normalization::global_max, 0.125) ==
                global);
        REQUIRE(weights_of(probabilities, 4, 1.0, weight_normalization::batch_max, 0.0) == global);
        REQUIRE(weights_of(probabilities, 4, 1.0, weight_normalization::none, 0.0) ==
                std::vector<double>{0.5, 1.0, 2.0, 2.0});
    }
    SECTION("beta = 0.4") {
        const double a = std::pow(0.25, 0.4); // 2^-0.8
        const double b = std::pow(0.5, 0.4);  // 2^-0.4
        const auto global =
            weights_of(probabilities, 4, 0.4, weight_normalization::global_max, 0.125);
        REQUIRE(global[0] == Approx(a).epsilon(1e-15));
        REQUIRE(global[0] == Approx(0.574349177498517).epsilon(1e-14));
        REQUIRE(global[1] == Approx(b).epsilon(1e-15));
        REQUIRE(global[1] == Approx(0.757858283255199).epsilon(1e-14));
        REQUIRE(global[2] == 1.0);
        REQUIRE(global[3] == 1.0);
        REQUIRE(weights_of(probabilities, 4, 0.4, weight_normalization::batch_max, 0.0) == global);
        const auto none = weights_of(probabilities, 4, 0.4, weight_normalization::none, 0.0);
        REQUIRE(none[0] == Approx(std::pow(2.0, -0.4)).epsilon(1e-15));
        REQUIRE(none[1] == 1.0);
        REQUIRE(none[2] == Approx(std::pow(0.5, -0.4)).epsilon(1e-15));
        REQUIRE(none[2] == Approx(1.319507910772894).epsilon(1e-14));
        REQUIRE(none[3] == none[2]);
    }
}

TEST_CASE("importance_weights: global_max uses the memory's minimum, batch_max the batch's",
          "[importance]") {
    // A batch without the memory's least likely item (P_min = 1/16, N = 8).
    const std::vector<double> batch = {0.5, 0.25, 0.25};
    const double beta = 0.6;
    const auto global = weights_of(batch, 8, beta, weight_normalization::global_max, 0.0625);
    const auto local = weights_of(batch, 8, beta, weight_normalization::batch_max, 0.0);
    const auto none = weights_of(batch, 8, beta, weight_normalization::none, 0.0);
    const double global_max_weight = std::pow(8 * 0.0625, -beta);
    for (std::size_t k = 0; k < batch.size(); ++k) {
        CAPTURE(k);
        // The cheap forms equal the textbook ratios.
        REQUIRE(global[k] == Approx(none[k] / global_max_weight).epsilon(1e-14));
        REQUIRE(local[k] == Approx(none[k] / std::pow(8 * 0.25, -beta)).epsilon(1e-14));
        REQUIRE(none[k] == Approx(per::importance_weight(batch[k], 8, beta)).epsilon(1e-15));
        REQUIRE(global[k] < 1.0);
    }
    REQUIRE(local[1] == 1.0);
    REQUIRE(local[2] == 1.0);
    REQUIRE(global[1] == Approx(std::pow(0.25, beta)).epsilon(1e-15));
}

TEST_CASE("importance_weights identities hold exactly", "[importance]") {
    const std::vector<double> batch = {0.3, 0.01, 0.07, 0.3, 0.001, 0.2};
    const double p_min = 0.0005;

    // beta = 0: all ones, whatever the normalization.
    for (auto normalization : all_normalizations) {
        CAPTURE(static_cast<int>(normalization));
        for (double weight : weights_of(batch, 1000, 0.0, normalization, p_min)) {
            REQUIRE(weight == 1.0);
        }
    }

    // beta = 1 with global_max: P_min / P_i.
    const auto global = weights_of(batch, 1000, 1.0, weight_normalization::global_max, p_min);
    for (std::size_t k = 0; k < batch.size(); ++k) {
        REQUIRE(global[k] == p_min / batch[k]);
    }

    // batch_max: the largest weight is exactly 1, and belongs to the least likely draw.
    for (double beta : {0.1, 0.4, 0.5, 0.7, 1.0}) {
        CAPTURE(beta);
        const auto weights = weights_of(batch, 1000, beta, weight_normalization::batch_max, 0.0);
        REQUIRE(*std::max_element(weights.begin(), weights.end()) == 1.0);
        REQUIRE(weights[4] == 1.0);
        for (double weight : weights) {
            REQUIRE(weight > 0.0);
            REQUIRE(weight <= 1.0);
        }
    }

    // global_max with min_probability = the batch's minimum equals batch_max.
    REQUIRE(weights_of(batch, 1000, 0.4, weight_normalization::global_max, 0.001) ==
            weights_of(batch, 1000, 0.4, weight_normalization::batch_max, 0.0));
}

TEST_CASE("importance_weights: pointer form, empty batches and in-place use", "[importance]") {
    double weights[4] = {-1, -1, -1, -1};
    per::importance_weights(probabilities.data(), 4, 4, 1.0, weight_normalization::none, 0.0,
                            weights);
    REQUIRE(weights[0] == 0.5);
    REQUIRE(weights[3] == 2.0);

    // count = 0 writes nothing; null pointers are fine then.
    per::importance_weights(probabilities.data(), 0, 4, 1.0, weight_normalization::batch_max, 0.0,
                            weights);
    REQUIRE(weights[0] == 0.5);
    per::importance_weights(nullptr, 0, 4, 1.0, weight_normalization::global_max, 0.125, nullptr);
    REQUIRE(weights_of({}, 4, 0.4, weight_normalization::batch_max, 0.0).empty());

    // In place: the probabilities are overwritten by their weights.
    for (auto normalization : all_normalizations) {
        CAPTURE(static_cast<int>(normalization));
        std::vector<double> buffer = {0.125, 0.5, 0.25, 0.125};
        const auto expected = weights_of(buffer, 4, 0.7, normalization, 0.125);
        per::importance_weights(buffer.data(), buffer.size(), 4, 0.7, normalization, 0.125,
                                buffer.data());
        REQUIRE(buffer == expected);
    }
}

TEST_CASE("importance_weights: min_probability is read only for global_max", "[importance]") {
    for (double ignored : {0.0, -1.0, 2.0, nan_value, 0.5}) {
        CAPTURE(ignored);
        REQUIRE_NOTHROW(
            weights_of(probabilities, 4, 0.4, weight_normalization::batch_max, ignored));
        REQUIRE_NOTHROW(weights_of(probabilities, 4, 0.4, weight_normalization::none, ignored));
    }
}

TEST_CASE("importance_weights validates every argument and leaves the output untouched",
          "[importance]") {
    const double sentinel = -7.0;
    std::vector<double> weights(4, sentinel);
    auto call = [&](const double* p, std::size_t count, std::size_t item_count, double beta,
                    weight_normalization normalization, double min_probability, double* out) {
        per::importance_weights(p, count, item_count, beta, normalization, min_probability, out);
    };
    const double* p = probabilities.data();
    const auto global = weight_normalization::global_max;
    const auto batch = weight_normalization::batch_max;

    auto require_rejected = [&](auto&& invoke, const std::string& message) {
        CAPTURE(message);
        REQUIRE_THROWS_AS(invoke(), std::invalid_argument);
        REQUIRE_THROWS_WITH(invoke(), PER_CONTAINS("per::importance_weights: " + message));
        REQUIRE(weights == std::vector<double>(4, sentinel));
    };

    require_rejected([&] { call(nullptr, 4, 4, 0.4, batch, 0.0, weights.data()); },
                     "probabilities = nullptr must point to count = 4 values");
    require_rejected([&] { call(p, 4, 4, 0.4, batch, 0.0, nullptr); },
                     "weights = nullptr must point to count = 4 values");
    require_rejected([&] { call(p, 4, 0, 0.4, batch, 0.0, weights.data()); },
                     "item_count = 0 must be > 0");
    require_rejected([&] { call(p, 4, 4, -0.5, batch, 0.0, weights.data()); },
                     "beta = -0.5 must be in [0, 1]");
    require_rejected([&] { call(p, 4, 4, 1.25, global, 0.125, weights.data()); },
                     "beta = 1.25 must be in [0, 1]");
    require_rejected([&] { call(p, 4, 4, nan_value, batch, 0.0, weights.data()); },
                     "beta = nan must be in [0, 1]");
    require_rejected(
        [&] { call(p, 4, 4, 0.4, static_cast<weight_normalization>(7), 0.0, weights.data()); },
        "normalization = 7 is not a per::weight_normalization");

    // Each bad probability is named by its index, even after valid ones.
    const double bad_values[] = {0.0, -0.5, 1.5, nan_value, inf_value};
    for (auto normalization : all_normalizations) {
        for (double bad : bad_values) {
            std::vector<double> input = probabilities;
            input[2] = bad;
            require_rejected(
                [&] { call(input.data(), 4, 4, 0.4, normalization, 0.125, weights.data()); },
                "probabilities[2] = " + per::detail::format_value(bad) + " must be in (0, 1]");
        }
    }

    // min_probability, for global_max.
    for (double bad : {0.0, -0.125, 1.5, nan_value, inf_value}) {
        require_rejected([&] { call(p, 4, 4, 0.4, global, bad, weights.data()); },
                         "min_probability = " + per::detail::format_value(bad) +
                             " must be in (0, 1]");
    }
    require_rejected([&] { call(p, 4, 4, 0.4, global, 0.25, weights.data()); },
                     "min_probability = 0.25 must be <= probabilities[2] = 0.125");
    require_rejected([&] { call(p, 0, 4, 0.4, global, 0.0, weights.data()); },
                     "min_probability = 0 must be in (0, 1]");

    // The vector form reports the same errors.
    REQUIRE_THROWS_WITH(weights_of(probabilities, 4, 2.0, batch, 0.0),
                        PER_CONTAINS("per::importance_weights: beta = 2 must be in [0, 1]"));
}

namespace {

// (numerator / denominator)^beta from logarithms, for the extremes below: accurate to about
// 1e-13 relative (the error of beta times a log of about 800), good enough to tell a right
// weight from one computed through an underflowed ratio.
double power_of_ratio(double numerator, double denominator, double beta) {
    return std::exp(beta * (std::log(numerator) - std::log(denominator)));
}

} // namespace

TEST_CASE("importance weights stay in (0, 1] and accurate when weights span more than 308 decades",
          "[importance]") {
    const double tiny = std::numeric_limits<double>::denorm_min(); // 4.9e-324
    const double smallest = std::numeric_limits<double>::denorm_min();
    const double huge = 1e10;
    const double betas[] = {0.0, 0.5, 0.7, 1.0};

    SECTION("global_max over sampling weights 5e-324 and 1e10 (the samplers' path)") {
        // The ratio 5e-324 / 1e10 = 4.9e-334 is not a double; its square root 2.2e-167 is.
        const std::vector<double> values(70, huge); // more than one chunk of 64
        for (double beta : betas) {
            CAPTURE(beta);
            std::vector<double> weights(values.size(), -1.0);
            per::detail::importance_weights_from_values(values.data(), values.size(), huge, 2, beta,
                                                        weight_normalization::global_max, tiny,
                                                        weights.data());
            // beta = 1: the exact weight 4.9e-334 is below every positive double.
            const double expected = beta == 1.0 ? smallest : power_of_ratio(tiny, huge, beta);
            for (double weight : weights) {
                REQUIRE(weight > 0.0);
                REQUIRE(weight <= 1.0);
                REQUIRE(weight == Approx(expected).epsilon(1e-12));
            }
            if (beta == 0.5) {
                REQUIRE(weights[0] == Approx(2.2227587494850775e-167).epsilon(1e-12));
            }
        }
    }

    SECTION("the public importance_weights, every normalization, a subnormal probability") {
        // Three draws out of 3 items: P = 0.75, 1 (never both in one real memory, but valid
        // input) and the smallest double. min_probability / 0.75 rounds to a subnormal with
        // almost no significant bits; 3 * 5e-324 is subnormal too.
        const std::vector<double> batch = {0.75, 1.0, tiny};
        for (double beta : betas) {
            CAPTURE(beta);
            for (auto normalization : all_normalizations) {
                CAPTURE(static_cast<int>(normalization));
                const auto weights = weights_of(batch, 3, beta, normalization, tiny);
                for (std::size_t k = 0; k < batch.size(); ++k) {
                    CAPTURE(k);
                    double expected = 0.0;
                    if (normalization == weight_normalization::none) {
                        expected = std::exp(-beta * (std::log(3.0) + std::log(batch[k])));
                    } else {
                        expected = power_of_ratio(tiny, batch[k], beta);
                        REQUIRE(weights[k] > 0.0);
                        REQUIRE(weights[k] <= 1.0);
                    }
                    if (beta == 1.0 && normalization != weight_normalization::none) {
                        // The ratio itself, correctly rounded to the subnormal it is.
                        REQUIRE(weights[k] == tiny / batch[k]);
                    } else if (beta == 1.0 && k == 2) {
                        REQUIRE(weights[k] == inf_value); // 1 / 1.5e-323 exceeds DBL_MAX
                    } else {
                        REQUIRE(std::isfinite(weights[k]));
                        REQUIRE(weights[k] == Approx(expected).epsilon(1e-12));
                    }
                }
                if (normalization != weight_normalization::none) {
                    REQUIRE(weights[2] == 1.0); // the least likely draw
                }
            }
        }
    }

    SECTION("unnormalized weights whose base N w / total overflows or underflows") {
        // N w = 3e308 is not a double, (N w / total)^-beta = 2^-beta is.
        const double big[] = {1e308};
        for (double beta : betas) {
            CAPTURE(beta);
            double weight = -1.0;
            per::detail::importance_weights_from_values(big, 1, 1.5e308, 3, beta,
                                                        weight_normalization::none, 0.0, &weight);
            REQUIRE(weight == Approx(std::pow(2.0, -beta)).epsilon(1e-14));
            // 2 * 1e-300 / 1e10 = 2e-310 is subnormal: computed from the factors instead.
            const double small[] = {1e-300};
            per::detail::importance_weights_from_values(small, 1, 1e10, 2, beta,
                                                        weight_normalization::none, 0.0, &weight);
            REQUIRE(weight ==
                    Approx(std::exp(-beta * (std::log(2e-300) - std::log(1e10)))).epsilon(1e-12));
        }
    }

    SECTION("weights of normal bases keep their bits, also beside extreme ones, in place") {
        std::vector<double> values;
        for (int k = 0; k < 200; ++k) {
            values.push_back(k % 37 == 5 ? 1e20 : 1.0 + 0.37 * k); // 1e20: base 1e-320, subnormal
        }
        const double min_value = 1e-300;
        for (double beta : {0.4, 0.7, 1.0}) {
            CAPTURE(beta);
            std::vector<double> weights = values;
            per::detail::importance_weights_from_values(
                weights.data(), weights.size(), 1e303, values.size(), beta,
                weight_normalization::global_max, min_value, weights.data());
            for (std::size_t k = 0; k < values.size(); ++k) {
                CAPTURE(k);
                const double base = min_value / values[k];
                if (base >= std::numeric_limits<double>::min()) {
                    double alone = 0.0; // the power as earlier versions computed it
                    per::detail::power_batch(&base, 1, beta, &alone);
                    REQUIRE(weights[k] == alone);
                } else if (beta == 1.0) { // the subnormal ratio itself, correctly rounded
                    REQUIRE(weights[k] == base);
                    REQUIRE(weights[k] > 0.0);
                } else {
                    REQUIRE(weights[k] ==
                            Approx(power_of_ratio(min_value, values[k], beta)).epsilon(1e-12));
                }
            }
        }
    }
}
