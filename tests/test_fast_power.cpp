#include <per/detail/fast_power.hpp>

#include "per_catch.hpp"

#include <cmath>
#include <cstring>
#include <limits>
#include <random>
#include <vector>

// power_batch evaluates exp(y log x) on eight-lane vectors on x86-64 (SSE2 in the default
// presets, or AVX2 when the CPU has it; AVX2 and FMA in test-native) and calls std::pow
// elsewhere; every preset runs this file on its path, and tests/CMakeLists.txt builds it once
// more without the run-time choice. Bounds are those documented in detail/fast_power.hpp.

namespace {
double relative_error(double value, double reference) {
    if (reference == 0.0 || std::isinf(reference)) {
        return value == reference ? 0.0 : 1.0;
    }
    return std::fabs(value - reference) / reference;
}
} // namespace

TEST_CASE("power_batch matches std::pow to the documented bound", "[fast_power]") {
    std::mt19937_64 rng(31);
    std::uniform_real_distribution<double> log_base(-700.0, 700.0);
    std::vector<double> bases;
    for (int i = 0; i < 20000; ++i) {
        bases.push_back(std::exp(log_base(rng)));
    }
    for (double exponent : {0.4, -0.4, 0.7, -0.999, 0.123456, 1e-9, -1e-9, 0.9999999}) {
        CAPTURE(exponent);
        std::vector<double> out(bases.size());
        per::detail::power_batch(bases.data(), bases.size(), exponent, out.data());
        for (std::size_t k = 0; k < bases.size(); ++k) {
            const double reference = std::pow(bases[k], exponent);
            const double z = std::fabs(exponent * std::log(bases[k]));
            CAPTURE(bases[k]);
            REQUIRE(relative_error(out[k], reference) <= (z <= 40.0 ? 4e-15 : 1e-13));
        }
    }
}

TEST_CASE("power_batch is exact where std::pow is", "[fast_power]") {
    const std::vector<double> bases = {1.0, 0.5, 2.0, 1e-300, 3.0, 0.125, 7.0};
    for (double exponent : {0.0, 1.0, -1.0, 0.5}) {
        std::vector<double> out(bases.size());
        per::detail::power_batch(bases.data(), bases.size(), exponent, out.data());
        for (std::size_t k = 0; k < bases.size(); ++k) {
            REQUIRE(out[k] == std::pow(bases[k], exponent));
        }
    }
    // A base of exactly 1 gives exactly 1 for every exponent (the batch-max weight of the
    // least likely draw).
    for (double exponent : {0.4, 0.7, -0.3}) {
        const double one[] = {1.0, 1.0, 1.0, 1.0, 1.0};
        double out[5];
        per::detail::power_batch(one, 5, exponent, out);
        for (double value : out) {
            REQUIRE(value == 1.0);
        }
    }
}

TEST_CASE("power_batch handles every length, in place, and extreme results", "[fast_power]") {
    for (std::size_t count = 0; count < 11; ++count) {
        std::vector<double> values(count);
        for (std::size_t k = 0; k < count; ++k) {
            values[k] = 0.1 * static_cast<double>(k + 1);
        }
        const std::vector<double> bases = values;
        per::detail::power_batch(values.data(), count, 0.6, values.data());
        for (std::size_t k = 0; k < count; ++k) {
            REQUIRE(relative_error(values[k], std::pow(bases[k], 0.6)) <= 4e-15);
        }
    }
    // Subnormal bases and results that underflow or overflow.
    const double tiny = std::numeric_limits<double>::denorm_min();
    const double bases[] = {tiny, 1e-310, std::numeric_limits<double>::max(), 1e-200};
    double out[4];
    per::detail::power_batch(bases, 4, 0.999, out);
    REQUIRE(out[0] == Approx(std::pow(tiny, 0.999)).epsilon(1e-12));
    REQUIRE(out[1] == Approx(std::pow(1e-310, 0.999)).epsilon(1e-12));
    REQUIRE(out[2] == Approx(std::pow(std::numeric_limits<double>::max(), 0.999)).epsilon(1e-12));
    per::detail::power_batch(bases, 4, -1.0 + 1e-12, out);
    REQUIRE(std::isinf(out[0]) == std::isinf(std::pow(tiny, -1.0 + 1e-12)));
}

#if defined(PER_DETAIL_VECTOR_POWER)
// The run-time choice must not change a result: the AVX2 loop performs the SSE2 loop's
// operations in the same order (no fused multiply-add), so every output matches bit for bit.
TEST_CASE("the AVX2 power loop gives the SSE2 loop's bits", "[fast_power]") {
    if (!per::detail::cpu_has_avx2()) {
        WARN("this CPU has no AVX2: the AVX2 power loop is not run");
        return;
    }
    std::mt19937_64 rng(47);
    std::uniform_real_distribution<double> log_base(-745.0, 709.0);
    std::uniform_real_distribution<double> exponent(-1.0, 1.0);
    std::vector<double> bases = {std::numeric_limits<double>::denorm_min(), 1e-310, 1.0,
                                 std::numeric_limits<double>::max()};
    for (int i = 0; i < 4000; ++i) {
        bases.push_back(std::exp(log_base(rng)));
    }
    for (int trial = 0; trial < 50; ++trial) {
        const double y = exponent(rng);
        for (std::size_t count : {bases.size(), std::size_t{13}, std::size_t{1}}) {
            std::vector<double> portable(count);
            std::vector<double> avx2(count);
            per::detail::power_lanes_batch(bases.data(), count, y, portable.data());
            per::detail::power_lanes_batch_avx2(bases.data(), count, y, avx2.data());
            for (std::size_t k = 0; k < count; ++k) {
                CAPTURE(y, bases[k]);
                REQUIRE(std::memcmp(&portable[k], &avx2[k], sizeof(double)) == 0);
            }
        }
    }
}
#endif
