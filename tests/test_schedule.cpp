#include "per/schedule.hpp"

#include "per_catch.hpp"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <stdexcept>
#include <vector>

namespace {

constexpr std::uint64_t max_step = std::numeric_limits<std::uint64_t>::max();
const double inf_value = std::numeric_limits<double>::infinity();
const double nan_value = std::numeric_limits<double>::quiet_NaN();

// Checks value(step) for step = 0..steps+2 (and a few huge steps): monotone in the direction
// of start -> end and never outside [min(start, end), max(start, end)].
template <class Schedule>
void require_monotone_and_bounded(const Schedule& schedule, double start, double end,
                                  std::uint64_t steps) {
    const double low = std::min(start, end);
    const double high = std::max(start, end);
    double previous = schedule(0);
    for (std::uint64_t step = 0; step <= steps + 2; ++step) {
        const double value = schedule(step);
        if (value < low || value > high || (end >= start ? value < previous : value > previous)) {
            FAIL("step " << step << ": value " << value << " after " << previous);
        }
        previous = value;
    }
    REQUIRE(schedule(max_step / 2) == end);
    REQUIRE(schedule(max_step) == end);
}

} // namespace

TEST_CASE("constant_schedule returns its value at every step", "[schedule]") {
    constexpr per::constant_schedule schedule(0.6);
    static_assert(schedule(0) == 0.6, "constexpr");
    static_assert(schedule.value() == 0.6, "constexpr");
    REQUIRE(schedule(12345) == 0.6);
    REQUIRE(schedule(max_step) == 0.6);

    REQUIRE_THROWS_AS(per::constant_schedule(nan_value), std::invalid_argument);
    REQUIRE_THROWS_WITH(per::constant_schedule(inf_value),
                        PER_CONTAINS("per::constant_schedule: value = inf must be finite"));
}

TEST_CASE("linear_schedule: the tutorials' beta 0.4 -> 1.0 over 100k frames", "[schedule]") {
    constexpr per::linear_schedule beta(0.4, 1.0, 100'000);
    static_assert(beta(0) == 0.4, "exact start, at compile time");
    static_assert(beta(100'000) == 1.0, "exact end, at compile time");
    static_assert(beta.steps() == 100'000, "constexpr accessors");

    REQUIRE(beta.start() == 0.4);
    REQUIRE(beta.end() == 1.0);
    REQUIRE(beta(0) == 0.4);
    REQUIRE(beta(50'000) == Approx(0.7).epsilon(1e-15));
    REQUIRE(beta(25'000) == Approx(0.55).epsilon(1e-15));
    REQUIRE(beta(99'999) < 1.0);
    REQUIRE(beta(99'999) == Approx(1.0 - 0.6 / 100'000).epsilon(1e-15));
    REQUIRE(beta(100'000) == 1.0);
    REQUIRE(beta(100'001) == 1.0); // clamped after the last step
    REQUIRE(beta.value(7) == beta(7));
    require_monotone_and_bounded(beta, 0.4, 1.0, 100'000);
}

TEST_CASE("linear_schedule endpoints are exact for awkward values", "[schedule]") {
    // Cases where start + (end - start) misses end by an ulp in double arithmetic.
    const double starts[] = {0.1, 0.3, 0.7, 1e-9, -0.3, 1e300, -1e300, 0.0, 5.0};
    const double ends[] = {0.3, 0.1, 1.1, 1.0, 0.9, -1e300, 1e300, 0.0, 5.0};
    for (double start : starts) {
        for (double end : ends) {
            for (std::uint64_t steps : {std::uint64_t(1), std::uint64_t(3), std::uint64_t(1000)}) {
                CAPTURE(start, end, steps);
                const per::linear_schedule schedule(start, end, steps);
                REQUIRE(schedule(0) == start);
                REQUIRE(schedule(steps) == end);
                require_monotone_and_bounded(schedule, start, end, steps);
            }
        }
    }
}

TEST_CASE("linear_schedule decreasing", "[schedule]") {
    const per::linear_schedule epsilon(1.0, 0.05, 10'000);
    REQUIRE(epsilon(0) == 1.0);
    REQUIRE(epsilon(5'000) == Approx(0.525).epsilon(1e-15));
    REQUIRE(epsilon(10'000) == 0.05);
    REQUIRE(epsilon(20'000) == 0.05);
    require_monotone_and_bounded(epsilon, 1.0, 0.05, 10'000);
}

TEST_CASE("linear_schedule over 2^64 - 1 steps", "[schedule]") {
    const per::linear_schedule schedule(0.0, 1.0, max_step);
    REQUIRE(schedule(0) == 0.0);
    REQUIRE(schedule(max_step / 2) == Approx(0.5).epsilon(1e-15));
    REQUIRE(schedule(max_step - 1) <= 1.0);
    REQUIRE(schedule(max_step) == 1.0);
    double previous = 0.0;
    for (std::uint64_t step = max_step - 5000; step != 0; ++step) { // wraps to 0 after the max
        REQUIRE(schedule(step) >= previous);
        previous = schedule(step);
    }
}

TEST_CASE("linear_schedule validates its arguments", "[schedule]") {
    REQUIRE_THROWS_AS(per::linear_schedule(0.4, 1.0, 0), std::invalid_argument);
    REQUIRE_THROWS_WITH(per::linear_schedule(0.4, 1.0, 0),
                        PER_CONTAINS("per::linear_schedule: steps = 0 must be > 0"));
    REQUIRE_THROWS_AS(per::linear_schedule(nan_value, 1.0, 10), std::invalid_argument);
    REQUIRE_THROWS_WITH(per::linear_schedule(nan_value, 1.0, 10), PER_CONTAINS("start = nan"));
    REQUIRE_THROWS_AS(per::linear_schedule(0.4, -inf_value, 10), std::invalid_argument);
    REQUIRE_THROWS_WITH(per::linear_schedule(0.4, -inf_value, 10),
                        PER_CONTAINS("end = -inf must be finite"));
}

TEST_CASE("exponential_schedule interpolates geometrically", "[schedule]") {
    const per::exponential_schedule schedule(1.0, 0.01, 1000);
    REQUIRE(schedule.start() == 1.0);
    REQUIRE(schedule.end() == 0.01);
    REQUIRE(schedule.steps() == 1000);
    REQUIRE(schedule(0) == 1.0);
    REQUIRE(schedule(500) == Approx(0.1).epsilon(1e-13)); // sqrt(start * end)
    REQUIRE(schedule(250) == Approx(std::pow(0.01, 0.25)).epsilon(1e-13));
    REQUIRE(schedule(1000) == 0.01);
    REQUIRE(schedule(5000) == 0.01);
    require_monotone_and_bounded(schedule, 1.0, 0.01, 1000);
    // A constant ratio per step.
    REQUIRE(schedule(11) / schedule(10) == Approx(schedule(801) / schedule(800)).epsilon(1e-12));

    const per::exponential_schedule increasing(0.4, 1.0, 100'000);
    REQUIRE(increasing(0) == 0.4);
    REQUIRE(increasing(50'000) == Approx(std::sqrt(0.4)).epsilon(1e-13));
    REQUIRE(increasing(100'000) == 1.0);
    require_monotone_and_bounded(increasing, 0.4, 1.0, 100'000);
}

TEST_CASE("exponential_schedule endpoints are exact and extreme ranges do not overflow",
          "[schedule]") {
    const double values[] = {0.1, 0.3,    0.7,   1.0,
                             3.0, 1e-300, 1e300, std::numeric_limits<double>::denorm_min()};
    for (double start : values) {
        for (double end : values) {
            CAPTURE(start, end);
            const per::exponential_schedule schedule(start, end, 997);
            REQUIRE(schedule(0) == start);
            REQUIRE(schedule(997) == end);
            require_monotone_and_bounded(schedule, start, end, 997);
        }
    }
    const per::exponential_schedule wide(1e-300, 1e300, 2);
    REQUIRE(wide(1) == Approx(1.0).epsilon(1e-12));
}

TEST_CASE("exponential_schedule validates its arguments", "[schedule]") {
    REQUIRE_THROWS_AS(per::exponential_schedule(1.0, 0.01, 0), std::invalid_argument);
    REQUIRE_THROWS_WITH(per::exponential_schedule(1.0, 0.01, 0),
                        PER_CONTAINS("per::exponential_schedule: steps = 0 must be > 0"));
    REQUIRE_THROWS_AS(per::exponential_schedule(0.0, 1.0, 10), std::invalid_argument);
    REQUIRE_THROWS_WITH(per::exponential_schedule(0.0, 1.0, 10),
                        PER_CONTAINS("start = 0 must be finite and > 0"));
    REQUIRE_THROWS_WITH(per::exponential_schedule(1.0, -0.5, 10),
                        PER_CONTAINS("end = -0.5 must be finite and > 0"));
    REQUIRE_THROWS_WITH(per::exponential_schedule(-1.0, -0.5, 10), PER_CONTAINS("start = -1"));
    REQUIRE_THROWS_WITH(per::exponential_schedule(1.0, inf_value, 10), PER_CONTAINS("end = inf"));
    REQUIRE_THROWS_WITH(per::exponential_schedule(nan_value, 1.0, 10), PER_CONTAINS("start = nan"));
}

TEST_CASE("piecewise_linear_schedule follows baselines' PiecewiseSchedule", "[schedule]") {
    const per::piecewise_linear_schedule schedule({{100, 0.4}, {1100, 0.9}, {2100, 0.6}});
    REQUIRE(schedule.points().size() == 3);
    REQUIRE(schedule(0) == 0.4); // before the first point: the first value
    REQUIRE(schedule(100) == 0.4);
    REQUIRE(schedule(600) == Approx(0.65).epsilon(1e-15));
    REQUIRE(schedule(1100) == 0.9); // every point is hit exactly
    REQUIRE(schedule(1600) == Approx(0.75).epsilon(1e-15));
    REQUIRE(schedule(2100) == 0.6);
    REQUIRE(schedule(2101) == 0.6); // after the last point: the last value
    REQUIRE(schedule(max_step) == 0.6);

    double previous = schedule(0);
    for (std::uint64_t step = 1; step <= 2200; ++step) {
        const double value = schedule(step);
        const bool rising = step <= 1100;
        if (rising ? value < previous : value > previous) {
            FAIL("step " << step << ": value " << value << " after " << previous);
        }
        previous = value;
    }
}

TEST_CASE("piecewise_linear_schedule edge cases", "[schedule]") {
    const per::piecewise_linear_schedule single({{5, 0.3}});
    REQUIRE(single(0) == 0.3);
    REQUIRE(single(max_step) == 0.3);

    // Matches linear_schedule when given its two endpoints.
    const per::piecewise_linear_schedule two({{0, 0.4}, {100'000, 1.0}});
    const per::linear_schedule linear(0.4, 1.0, 100'000);
    for (std::uint64_t step = 0; step <= 100'010; step += 7) {
        REQUIRE(two(step) == linear(step));
    }

    // Points at both ends of the step range.
    const per::piecewise_linear_schedule wide({{0, 1.0}, {max_step, 0.0}});
    REQUIRE(wide(0) == 1.0);
    REQUIRE(wide(max_step / 2) == Approx(0.5).epsilon(1e-15));
    REQUIRE(wide(max_step) == 0.0);
}

TEST_CASE("piecewise_linear_schedule validates its points", "[schedule]") {
    using points = std::vector<per::schedule_point>;
    REQUIRE_THROWS_AS(per::piecewise_linear_schedule(points{}), std::invalid_argument);
    REQUIRE_THROWS_WITH(
        per::piecewise_linear_schedule(points{}),
        PER_CONTAINS("per::piecewise_linear_schedule: points.size() = 0 must be > 0"));
    REQUIRE_THROWS_AS(per::piecewise_linear_schedule({{0, 0.4}, {10, 0.5}, {10, 0.6}}),
                      std::invalid_argument);
    REQUIRE_THROWS_WITH(per::piecewise_linear_schedule({{0, 0.4}, {10, 0.5}, {10, 0.6}}),
                        PER_CONTAINS("points[2].step = 10 must be > points[1].step = 10"));
    REQUIRE_THROWS_WITH(per::piecewise_linear_schedule({{20, 0.4}, {10, 0.5}}),
                        PER_CONTAINS("points[1].step = 10 must be > points[0].step = 20"));
    REQUIRE_THROWS_WITH(per::piecewise_linear_schedule({{0, 0.4}, {10, nan_value}}),
                        PER_CONTAINS("points[1].value = nan must be finite"));
    REQUIRE_THROWS_WITH(per::piecewise_linear_schedule({{0, -inf_value}}),
                        PER_CONTAINS("points[0].value = -inf must be finite"));
}

TEST_CASE("incremental_schedule matches the tutorial's per-draw increment", "[schedule]") {
    per::incremental_schedule beta(0.4, 0.001); // limit 1.0
    REQUIRE(beta.value() == 0.4);
    REQUIRE(beta.increment() == 0.001);
    REQUIRE(beta.limit() == 1.0);
    double reference = 0.4; // beta = min(1.0, beta + increment), as the tutorial writes it
    for (int draw = 0; draw < 1000; ++draw) {
        reference = std::min(1.0, reference + 0.001);
        REQUIRE(beta.advance() == reference);
        REQUIRE(beta.value() == reference);
    }
    REQUIRE(beta.value() == 1.0); // the limit is reached exactly, then held
    REQUIRE(beta.advance() == 1.0);

    per::incremental_schedule down(1.0, -0.3, 0.05);
    REQUIRE(down.advance() == Approx(0.7));
    REQUIRE(down.advance() == Approx(0.4));
    REQUIRE(down.advance() == Approx(0.1));
    REQUIRE(down.advance() == 0.05);
    REQUIRE(down.advance() == 0.05);

    per::incremental_schedule still(0.5, 0.0);
    REQUIRE(still.advance() == 0.5);

    per::incremental_schedule huge(1e308, 1e308, 1.7e308); // the sum overflows: held at limit
    REQUIRE(huge.advance() == 1.7e308);
}

TEST_CASE("incremental_schedule validates its arguments", "[schedule]") {
    REQUIRE_THROWS_AS(per::incremental_schedule(nan_value, 0.001), std::invalid_argument);
    REQUIRE_THROWS_WITH(per::incremental_schedule(nan_value, 0.001),
                        PER_CONTAINS("per::incremental_schedule: start = nan must be finite"));
    REQUIRE_THROWS_WITH(per::incremental_schedule(0.4, inf_value),
                        PER_CONTAINS("increment = inf must be finite"));
    REQUIRE_THROWS_WITH(per::incremental_schedule(0.4, 0.001, nan_value),
                        PER_CONTAINS("limit = nan must be finite"));
    REQUIRE_THROWS_AS(per::incremental_schedule(1.5, 0.001), std::invalid_argument);
    REQUIRE_THROWS_WITH(per::incremental_schedule(1.5, 0.25),
                        PER_CONTAINS("start = 1.5 must be <= limit = 1 when increment = 0.25"));
    REQUIRE_THROWS_WITH(
        per::incremental_schedule(0.5, -0.125, 0.75),
        PER_CONTAINS("start = 0.5 must be >= limit = 0.75 when increment = -0.125"));
}
