#include <per/detail/simd.hpp>

#include "per_catch.hpp"

#include <cstddef>
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

TEST_CASE("count_less_equal skips +infinity padding for every finite key", "[simd]") {
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
}
