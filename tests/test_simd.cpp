#include <per/detail/simd.hpp>

#include "per_catch.hpp"

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <limits>
#include <random>
#include <type_traits>
#include <vector>

// The node kernels of the sum tree against plain loops: the ones the build selects
// (count_less_equal<T, Count>: SSE2 in the default presets, AVX2 in test-native, the portable
// loops for node shapes without a SIMD version), and on x86-64 the SSE2 and AVX2 kernels by
// name, the AVX2 ones when this CPU runs them (they are what the run-time choice calls).

namespace {

template <class T>
std::size_t reference_count(const std::vector<T>& values, T u) {
    std::size_t count = 0;
    for (T value : values) {
        count += value <= u;
    }
    return count;
}

// Non-negative values with zeros (runs of equal running sums), tiny and ordinary values.
template <class T>
std::vector<T> random_values(std::size_t count, std::mt19937_64& rng) {
    std::uniform_real_distribution<double> unit(0.0, 1.0);
    std::vector<T> values(count);
    for (T& value : values) {
        const double kind = unit(rng);
        value = kind < 0.3   ? T(0)
                : kind < 0.4 ? static_cast<T>(1e-30 * unit(rng))
                             : static_cast<T>(unit(rng));
    }
    return values;
}

// Keys that hit every boundary exactly, fall between boundaries, and lie outside the range.
template <class T>
std::vector<T> keys_around(const std::vector<T>& sorted) {
    std::vector<T> keys = {T(0), std::numeric_limits<T>::max(), std::numeric_limits<T>::infinity()};
    for (T value : sorted) {
        keys.push_back(value);
        keys.push_back(std::nextafter(value, T(0)));
        keys.push_back(std::nextafter(value, std::numeric_limits<T>::infinity()));
    }
    return keys;
}

// Runs `check(line, values, before, running)` on random nodes: `line` holds the exclusive running
// sums (64-byte aligned, as tree nodes are), `before` the same sums computed here, `running`
// the node's total.
template <class T, std::size_t Count, class Check>
void on_random_nodes(std::mt19937_64& rng, Check&& check) {
    for (int trial = 0; trial < 300; ++trial) {
        const std::vector<T> values = random_values<T>(Count, rng);
        // The exclusive running sums by the left fold, as the tree defines them.
        std::vector<T> before(Count);
        T running = T(0);
        for (std::size_t k = 0; k < Count; ++k) {
            before[k] = k == 0 ? T(0) : running;
            running = k == 0 ? values[0] : running + values[k];
        }

        alignas(64) T line[Count];
        REQUIRE(per::detail::exclusive_running_sums<T, Count>(values.data(), line) == running);
        for (std::size_t k = 0; k < Count; ++k) {
            REQUIRE(line[k] == before[k]); // bit for bit: the same additions in the same order
        }
        CAPTURE(trial);
        check(line, values, before, running);
    }
}

// The kernels of one set (per::detail::build_kernels or avx2_kernels) for one node shape.
template <class Kernels, class T, std::size_t Count>
void check_kernels(std::mt19937_64& rng) {
    on_random_nodes<T, Count>(rng, [](const T* line, const std::vector<T>& values,
                                      const std::vector<T>& before, T running) {
        for (T u : keys_around(before)) {
            CAPTURE(u);
            REQUIRE(Kernels::template count_less_equal<T, Count>(line, u) ==
                    reference_count(before, u));
            T total = T(-1);
            REQUIRE(Kernels::template count_running_sums_less_equal<T, Count>(
                        values.data(), u, total) == reference_count(before, u));
            REQUIRE(total == running);
        }
    });
}

template <class Kernels>
void check_kernel_set(std::mt19937_64& rng) {
    check_kernels<Kernels, double, 8>(rng); // SSE2 / AVX2 versions on x86-64
    check_kernels<Kernels, float, 16>(rng); // SSE2 / AVX2 count; portable running sums
    check_kernels<Kernels, double, 2>(rng); // portable versions
    check_kernels<Kernels, double, 4>(rng);
    check_kernels<Kernels, float, 4>(rng);
    check_kernels<Kernels, double, 6>(rng); // not a power of two: the plain counting loop
}

} // namespace

TEST_CASE("node kernels match plain loops for every node shape", "[simd]") {
    std::mt19937_64 rng(2026);
    check_kernel_set<per::detail::build_kernels>(rng);
}

#if defined(PER_DETAIL_X86_KERNELS)
namespace {
// The SSE2 kernels as a kernel set, like per::detail::avx2_kernels: in a build that targets
// AVX2, build_kernels does not reach them.
struct sse2_kernels {
    template <class T, std::size_t Count>
    static std::size_t count_less_equal(const T* values, T u) {
        if constexpr ((std::is_same_v<T, double> && Count == 8) ||
                      (std::is_same_v<T, float> && Count == 16)) {
            return per::detail::sse2::count_less_equal(values, u);
        } else {
            return per::detail::count_less_equal<T, Count>(values, u);
        }
    }
    template <class T, std::size_t Count>
    static std::size_t count_running_sums_less_equal(const T* values, T u, T& total) {
        if constexpr (std::is_same_v<T, double> && Count == 8) {
            return per::detail::sse2::count_running_sums_less_equal(values, u, total);
        } else {
            return per::detail::count_running_sums_less_equal<T, Count>(values, u, total);
        }
    }
};
} // namespace

TEST_CASE("the SSE2 and AVX2 kernels match plain loops", "[simd]") {
    std::mt19937_64 rng(2027);
    check_kernel_set<sse2_kernels>(rng);
    if (!per::detail::cpu_has_avx2()) {
        WARN("this CPU has no AVX2: the AVX2 kernels are not run");
        return;
    }
    check_kernel_set<per::detail::avx2_kernels>(rng);
}
#endif

namespace {

// A finite T from random bits (either sign, every exponent, subnormals included): redrawn
// while the bits spell an infinity or a NaN.
template <class T>
T random_finite(std::mt19937_64& rng) {
    using bits_type = std::conditional_t<sizeof(T) == 8, std::uint64_t, std::uint32_t>;
    for (;;) {
        const bits_type bits = static_cast<bits_type>(rng());
        T value;
        std::memcpy(&value, &bits, sizeof value);
        if (std::isfinite(value)) {
            return value;
        }
    }
}

// The finite values where comparisons go wrong if anything does: both zeros, the subnormal
// range's ends, the smallest normal, the neighbours of 1, the largest finite, and their
// negatives.
template <class T>
std::vector<T> extreme_finite() {
    using limits = std::numeric_limits<T>;
    const std::vector<T> positive = {T(0),
                                     limits::denorm_min(),
                                     std::nextafter(limits::min(), T(0)), // largest subnormal
                                     limits::min(),
                                     std::nextafter(T(1), T(0)), // largest below 1
                                     T(1),
                                     std::nextafter(T(1), T(2)),
                                     std::nextafter(limits::max(), T(0)),
                                     limits::max()};
    std::vector<T> values = positive;
    for (T value : positive) {
        values.push_back(-value); // -0.0 among them
    }
    return values;
}

// Prefix lines padded with +infinity (the tree's layout when a node has fewer than Count
// children): 1..Count finite sorted non-negative entries (random bits, zeros, repeats and the
// extremes), the rest +infinity. Every key of the sweep is finite: random bit patterns of
// either sign, the extremes, every entry and its neighbours. The count must be the number of
// finite entries <= key: padding is never counted.
template <class Kernels, class T, std::size_t Count>
void check_infinity_padding(std::mt19937_64& rng) {
    const std::vector<T> extremes = extreme_finite<T>();
    for (int trial = 0; trial < 200; ++trial) {
        const std::size_t finite = 1 + trial % Count;
        std::vector<T> entries;
        for (std::size_t k = 0; k < finite; ++k) {
            const int kind = static_cast<int>(rng() % 4);
            T value = std::fabs(random_finite<T>(rng));
            if (kind == 0) {
                value = T(0);
            } else if (kind == 1) {
                value = std::fabs(extremes[rng() % extremes.size()]);
            } else if (kind == 2 && !entries.empty()) {
                value = entries.back(); // a repeat
            }
            entries.push_back(value);
        }
        std::sort(entries.begin(), entries.end());
        alignas(64) T line[Count];
        for (std::size_t k = 0; k < Count; ++k) {
            line[k] = k < finite ? entries[k] : std::numeric_limits<T>::infinity();
        }
        std::vector<T> keys = extremes;
        for (T entry : entries) {
            keys.push_back(entry);
            keys.push_back(std::nextafter(entry, -std::numeric_limits<T>::max()));
            keys.push_back(std::nextafter(entry, std::numeric_limits<T>::max()));
        }
        for (int k = 0; k < 200; ++k) {
            keys.push_back(random_finite<T>(rng));
        }
        for (T key : keys) {
            REQUIRE(std::isfinite(key));
            std::size_t expected = 0;
            for (T entry : entries) {
                expected += entry <= key;
            }
            const std::size_t counted = Kernels::template count_less_equal<T, Count>(line, key);
            if (counted != expected) {
                char key_text[48];
                std::snprintf(key_text, sizeof key_text, "%a", static_cast<double>(key));
                CAPTURE(trial, finite, key_text, expected, counted);
                FAIL("count_less_equal counted " << counted << " instead of " << expected);
            }
        }
    }
}

template <class Kernels>
void check_infinity_padding_set(std::mt19937_64& rng) {
    check_infinity_padding<Kernels, double, 8>(rng); // SSE2 / AVX2 versions on x86-64
    check_infinity_padding<Kernels, float, 16>(rng);
    check_infinity_padding<Kernels, double, 4>(rng); // portable versions
    check_infinity_padding<Kernels, double, 6>(rng);
}

} // namespace

TEST_CASE("count_less_equal skips +infinity padding for every finite key", "[simd]") {
    // A line with a fixed shape first: the cases named in the tree's layout.
    alignas(64) double line[8] = {0.0,
                                  1.0,
                                  2.5,
                                  2.5,
                                  std::numeric_limits<double>::infinity(),
                                  std::numeric_limits<double>::infinity(),
                                  std::numeric_limits<double>::infinity(),
                                  std::numeric_limits<double>::infinity()};
    REQUIRE(per::detail::count_less_equal<double, 8>(line, 0.0) == 1);
    REQUIRE(per::detail::count_less_equal<double, 8>(line, 2.5) == 4);
    REQUIRE(per::detail::count_less_equal<double, 8>(line, std::numeric_limits<double>::max()) ==
            4);
    // Then the sweep, for the kernels this build selects and, on x86-64, the SSE2 and AVX2 ones.
    std::mt19937_64 rng(2028);
    check_infinity_padding_set<per::detail::build_kernels>(rng);
#if defined(PER_DETAIL_X86_KERNELS)
    check_infinity_padding_set<sse2_kernels>(rng);
    if (per::detail::cpu_has_avx2()) {
        check_infinity_padding_set<per::detail::avx2_kernels>(rng);
    }
#endif
}
