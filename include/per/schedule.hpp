#ifndef PER_SCHEDULE_HPP
#define PER_SCHEDULE_HPP

#include "detail/error.hpp"

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <string>
#include <utility>
#include <vector>

/// @file
/// Annealing schedules for beta (and alpha, or anything else annealed over training).
///
/// Every schedule except incremental_schedule is a small immutable value type: a pure function
/// of the training step, callable as `schedule(step)` (same as `schedule.value(step)`), O(1)
/// (piecewise: O(log K) in its K points), noexcept, thread-safe for concurrent calls. What
/// "step" counts (frames, updates, sampled batches) is up to the caller.
///
/// Exactness contract, tested for each schedule:
/// - value(0) is exactly `start` and value(step) for step >= steps is exactly `end` (no
///   0.99999999 where 1.0 was asked for);
/// - values are monotone in step (non-decreasing when end > start, non-increasing when
///   end < start) and never leave the closed range between start and end;
/// - every step up to 2^64 - 1 is valid: nothing overflows or wraps.
///
/// Construction validates the arguments and throws std::invalid_argument naming the argument
/// and its value (e.g. "per::linear_schedule: steps = 0 must be > 0").

namespace per {

namespace detail {

/// std::isfinite is not constexpr before C++23.
constexpr bool is_finite(double value) noexcept {
    return value == value && value != std::numeric_limits<double>::infinity() &&
           value != -std::numeric_limits<double>::infinity();
}

inline void check_finite(const char* where, const char* argument, double value) {
    if (!is_finite(value)) {
        throw_invalid_argument(where, argument, value, "must be finite");
    }
}

/// a + t (b - a) for t in [0, 1], with the guarantees of C++20 std::lerp (P0811): exactly a at
/// t = 0 and exactly b at t = 1, monotone in t, never outside [min(a, b), max(a, b)], and no
/// overflow for finite a, b. The naive formula can miss b by an ulp and step backwards there.
constexpr double lerp(double a, double b, double t) noexcept {
    if ((a <= 0.0 && b >= 0.0) || (a >= 0.0 && b <= 0.0)) {
        return t * b + (1.0 - t) * a; // exact at both ends; no overflow in b - a
    }
    if (t == 1.0) {
        return b;
    }
    const double x = a + t * (b - a);
    return b > a ? (x < b ? x : b) : (x > b ? x : b); // rounding may overshoot b: clamp
}

/// step / steps in [0, 1] for step < steps; monotone in step (both conversions are).
constexpr double fraction(std::uint64_t step, std::uint64_t steps) noexcept {
    return static_cast<double>(step) / static_cast<double>(steps);
}

} // namespace detail

/// The same value at every step: for a fixed alpha or beta where a schedule is expected.
/// Throws std::invalid_argument if value is not finite. constexpr.
class constant_schedule {
public:
    /// A schedule that is `value` at every step.
    constexpr explicit constant_schedule(double value)
        : m_value(checked(value)) {}

    ///@{
    /// The value, whatever the step.
    constexpr double value(std::uint64_t /*step*/ = 0) const noexcept { return m_value; }
    constexpr double operator()(std::uint64_t step) const noexcept { return value(step); }
    ///@}

private:
    static constexpr double checked(double value) {
        if (!detail::is_finite(value)) {
            detail::throw_invalid_argument("per::constant_schedule", "value", value,
                                           "must be finite");
        }
        return value;
    }

    double m_value;
};

/// Linear annealing from `start` at step 0 to `end` at step `steps`, then `end` forever: the
/// paper's beta schedule and the tutorials' "beta from 0.4 to 1.0 over 100k frames",
///
///     per::linear_schedule beta(0.4, 1.0, 100'000);   buffer.sample(64, beta(frame), rng);
///
/// Decreasing schedules (end < start) work the same way. Values in between are
/// lerp(start, end, step / steps) with the guarantees listed at the top of this file.
/// Throws std::invalid_argument if start or end is not finite, or if steps is 0 (an annealing
/// over no steps is more likely a bug, e.g. an integer division that rounded to 0, than a wish:
/// use constant_schedule(end) to mean "end from the start"). constexpr.
class linear_schedule {
public:
    /// `start` at step 0, `end` from step `steps` on.
    constexpr linear_schedule(double start, double end, std::uint64_t steps)
        : m_start(checked("start", start))
        , m_end(checked("end", end))
        , m_steps(checked_steps(steps)) {}

    ///@{
    /// The value at `step`: lerp(start, end, step / steps), and end from step `steps` on.
    constexpr double value(std::uint64_t step) const noexcept {
        if (step >= m_steps) {
            return m_end;
        }
        return detail::lerp(m_start, m_end, detail::fraction(step, m_steps));
    }
    constexpr double operator()(std::uint64_t step) const noexcept { return value(step); }
    ///@}

    /// The value at step 0.
    constexpr double start() const noexcept { return m_start; }
    /// The value from step steps() on.
    constexpr double end() const noexcept { return m_end; }
    /// The number of steps from start() to end().
    constexpr std::uint64_t steps() const noexcept { return m_steps; }

private:
    static constexpr double checked(const char* argument, double value) {
        if (!detail::is_finite(value)) {
            detail::throw_invalid_argument("per::linear_schedule", argument, value,
                                           "must be finite");
        }
        return value;
    }
    static constexpr std::uint64_t checked_steps(std::uint64_t steps) {
        if (steps == 0) {
            detail::throw_invalid_argument("per::linear_schedule", "steps", steps, "must be > 0");
        }
        return steps;
    }

    double m_start;
    double m_end;
    std::uint64_t m_steps;
};

/// Geometric annealing from `start` at step 0 to `end` at step `steps`, then `end` forever:
/// value(t) = start * (end / start)^(t / steps), i.e. a constant ratio per step. Suits values
/// that span orders of magnitude (a learning rate or an epsilon from 1 to 0.01).
/// Computed as exp(lerp(log start, log end, t / steps)) clamped to the range between start and
/// end, which cannot overflow even for start = 1e-300, end = 1e300; the endpoints are exact
/// and the values monotone (as far as std::exp is monotone, as it is in glibc, libc++ on
/// glibc and MSVC's CRT).
/// Throws std::invalid_argument if start or end is not finite and > 0 (a geometric path needs
/// both on the same side of zero and never reaches zero), or if steps is 0.
class exponential_schedule {
public:
    /// `start` at step 0, `end` from step `steps` on.
    exponential_schedule(double start, double end, std::uint64_t steps)
        : m_start(checked("start", start))
        , m_end(checked("end", end))
        , m_steps(checked_steps(steps))
        , m_log_start(std::log(start))
        , m_log_end(std::log(end)) {}

    ///@{
    /// The value at `step`: start * (end / start)^(step / steps), and end from step `steps` on.
    double value(std::uint64_t step) const noexcept {
        if (step == 0) {
            return m_start; // exp(log(start)) may be an ulp off
        }
        if (step >= m_steps) {
            return m_end;
        }
        const double x =
            std::exp(detail::lerp(m_log_start, m_log_end, detail::fraction(step, m_steps)));
        return std::min(std::max(x, std::min(m_start, m_end)), std::max(m_start, m_end));
    }
    double operator()(std::uint64_t step) const noexcept { return value(step); }
    ///@}

    /// The value at step 0.
    double start() const noexcept { return m_start; }
    /// The value from step steps() on.
    double end() const noexcept { return m_end; }
    /// The number of steps from start() to end().
    std::uint64_t steps() const noexcept { return m_steps; }

private:
    static double checked(const char* argument, double value) {
        if (!(detail::is_finite(value) && value > 0.0)) {
            detail::throw_invalid_argument("per::exponential_schedule", argument, value,
                                           "must be finite and > 0");
        }
        return value;
    }
    static std::uint64_t checked_steps(std::uint64_t steps) {
        if (steps == 0) {
            detail::throw_invalid_argument("per::exponential_schedule", "steps", steps,
                                           "must be > 0");
        }
        return steps;
    }

    double m_start;
    double m_end;
    std::uint64_t m_steps;
    double m_log_start;
    double m_log_end;
};

/// One point of a piecewise_linear_schedule: the schedule is exactly `value` at `step`.
struct schedule_point {
    std::uint64_t step; ///< The training step of the point.
    double value;       ///< The schedule's value at that step.
};

/// Linear interpolation between points given by strictly increasing steps; before the first
/// point the first value, after the last point the last value (OpenAI baselines'
/// PiecewiseSchedule with the end values as outside values):
///
///     per::piecewise_linear_schedule beta({{0, 0.4}, {50'000, 0.7}, {200'000, 1.0}});
///
/// Each point's value is hit exactly at its step; between two points the values are monotone
/// and stay between the two values. A single point gives a constant schedule.
/// value(step) is O(log K) for K points (binary search); construction O(K).
/// Throws std::invalid_argument if points is empty, a value is not finite, or the steps are not
/// strictly increasing (the message names the offending point, e.g. "points[2].step = 10 must
/// be > points[1].step = 10"); may throw std::bad_alloc.
class piecewise_linear_schedule {
public:
    /// The schedule through `points`, which must have strictly increasing steps.
    explicit piecewise_linear_schedule(std::vector<schedule_point> points)
        : m_points(checked(std::move(points))) {}

    ///@{
    /// The value at `step`: interpolated between the points around it, the first or last
    /// point's value outside them.
    double value(std::uint64_t step) const noexcept {
        // The first point whose step is > step; the segment is [before, after).
        const auto after =
            std::upper_bound(m_points.begin(), m_points.end(), step,
                             [](std::uint64_t s, const schedule_point& p) { return s < p.step; });
        if (after == m_points.begin()) {
            return m_points.front().value;
        }
        if (after == m_points.end()) {
            return m_points.back().value;
        }
        const schedule_point& before = *(after - 1);
        // Unsigned differences are exact: 0 <= step - before.step < after->step - before.step.
        return detail::lerp(before.value, after->value,
                            detail::fraction(step - before.step, after->step - before.step));
    }
    double operator()(std::uint64_t step) const noexcept { return value(step); }
    ///@}

    /// The points given at construction.
    const std::vector<schedule_point>& points() const noexcept { return m_points; }

private:
    static std::vector<schedule_point> checked(std::vector<schedule_point> points) {
        static constexpr const char* where = "per::piecewise_linear_schedule";
        if (points.empty()) {
            detail::throw_invalid_argument(where, "points.size()", points.size(), "must be > 0");
        }
        for (std::size_t i = 0; i < points.size(); ++i) {
            const std::string name = "points[" + std::to_string(i) + "]";
            if (!detail::is_finite(points[i].value)) {
                detail::throw_invalid_argument(where, (name + ".value").c_str(), points[i].value,
                                               "must be finite");
            }
            if (i > 0 && points[i].step <= points[i - 1].step) {
                detail::throw_invalid_argument(
                    where, (name + ".step").c_str(), points[i].step,
                    "must be > points[" + std::to_string(i - 1) +
                        "].step = " + std::to_string(points[i - 1].step) +
                        " (steps must be strictly increasing)");
            }
        }
        return points;
    }

    std::vector<schedule_point> m_points;
};

/// A stateful schedule moved by a fixed increment per call, as in the tutorials that write
/// `beta = min(1.0, beta + beta_increment_per_sampling)` at every draw:
///
///     per::incremental_schedule beta(0.4, 0.001);        // limit 1.0
///     auto batch = buffer.sample(64, beta.advance(), rng);
///
/// advance() adds `increment` to the value, stops at `limit`, and returns the new value. The
/// additions are the tutorials' own, bit for bit (the value is a running sum, so after k calls
/// it is start + k * increment up to k roundings); the limit is reached exactly.
/// A negative increment moves down towards a lower limit the same way; increment 0 stays at
/// start. Prefer linear_schedule when the step count is at hand: it is a pure function of the
/// step, with no state to save and restore with checkpoints.
/// O(1); value() and advance() are noexcept.
/// Throws std::invalid_argument if an argument is not finite, or if start is past the limit
/// (start > limit with increment >= 0, start < limit with increment < 0).
class incremental_schedule {
public:
    /// A schedule at `start` that moves by `increment` per advance() until it reaches `limit`.
    incremental_schedule(double start, double increment, double limit = 1.0)
        : m_value(start)
        , m_increment(increment)
        , m_limit(limit) {
        static constexpr const char* where = "per::incremental_schedule";
        detail::check_finite(where, "start", start);
        detail::check_finite(where, "increment", increment);
        detail::check_finite(where, "limit", limit);
        if (increment >= 0.0 ? start > limit : start < limit) {
            detail::throw_invalid_argument(
                where, "start", start,
                std::string(increment >= 0.0 ? "must be <= " : "must be >= ") +
                    "limit = " + detail::format_value(limit) +
                    " when increment = " + detail::format_value(increment));
        }
    }

    /// The current value: start until the first advance().
    double value() const noexcept { return m_value; }

    /// Moves the value by one increment, not past the limit, and returns the new value.
    double advance() noexcept {
        const double next = m_value + m_increment; // an overflow to +-inf stops at the limit too
        m_value = m_increment >= 0.0 ? std::min(next, m_limit) : std::max(next, m_limit);
        return m_value;
    }

    /// The change per advance().
    double increment() const noexcept { return m_increment; }
    /// The value the schedule stops at.
    double limit() const noexcept { return m_limit; }

private:
    double m_value;
    double m_increment;
    double m_limit;
};

} // namespace per

#endif // PER_SCHEDULE_HPP
