#ifndef PER_DETAIL_SIMD_HPP
#define PER_DETAIL_SIMD_HPP

#include "cpu.hpp"

#include <cstddef>
#include <cstring>
#include <type_traits>

#if defined(PER_DETAIL_X86_KERNELS)
#include <emmintrin.h> // SSE2 only: the AVX2 kernels need no intrinsics header
#endif

namespace per::detail {

/// The index of the lowest clear bit of a compare mask: with sorted values, the compares that
/// hold form a run of low bits, so this is their count. A single native instruction (bsf/tzcnt)
/// on GCC and Clang for every x86-64, unlike a population count, which is a library call unless
/// the build targets POPCNT.
inline unsigned lowest_clear_bit(unsigned mask) noexcept {
#if defined(__GNUC__) || defined(__clang__)
    return static_cast<unsigned>(__builtin_ctz(~mask));
#else
    unsigned index = 0;
    while (mask & 1u) {
        mask >>= 1;
        ++index;
    }
    return index;
#endif
}

/// The number of values[k] <= u for k in [0, Count), where values is sorted ascending (a
/// node's exclusive prefix sums): the child a search descends to. The portable code is a
/// branch-free binary search; on x86-64 (GCC, Clang) the common node shapes (one cache line: 8
/// doubles or 16 floats) use the SIMD kernels below that the build targets: AVX2 with -mavx2 or
/// -march=native, SSE2 otherwise. All paths give the same result for sorted, NaN-free input (the
/// trees hold no NaN).
template <class T, std::size_t Count>
inline std::size_t count_less_equal(const T* values, T u) noexcept {
    if constexpr ((Count & (Count - 1)) == 0) {
        // Branch-free binary search: log2(Count) + 1 compare-and-add steps on the sorted
        // values, fewer instructions than Count compares.
        std::size_t count = 0;
        for (std::size_t step = Count / 2; step > 0; step /= 2) {
            count += static_cast<std::size_t>(values[count + step - 1] <= u) * step;
        }
        return count + static_cast<std::size_t>(values[count] <= u);
    } else {
        std::size_t count = 0;
        for (std::size_t k = 0; k < Count; ++k) {
            count += values[k] <= u;
        }
        return count;
    }
}

/// The number of exclusive running sums of values[0..Count) that are <= u, where the running
/// sums are 0, v0, v0 + v1, ..., v0 + ... + v(Count - 2), each the left fold of the values
/// before it; `total` receives the fold of all Count values. For non-negative values the sums
/// are sorted, so with 0 <= u < total the result c (>= 1) names the value v(c - 1) whose
/// interval holds u. This is the leaf level of a sum-tree search, where no running sums are
/// stored; the SIMD versions build the sums in registers (a store of single values followed by
/// a vector load of them would stall on store forwarding).
template <class T, std::size_t Count>
inline std::size_t count_running_sums_less_equal(const T* values, T u, T& total) noexcept {
    alignas(64) T before[Count];
    before[0] = T(0);
    T running = values[0];
    for (std::size_t k = 1; k < Count; ++k) {
        before[k] = running;
        running += values[k];
    }
    total = running;
    return count_less_equal<T, Count>(before, u);
}

/// Writes the exclusive running sums of values[0..Count) to out: out[0] = 0, out[k] = v0 + ... +
/// v(k - 1), each the left fold of the values before it, and returns the fold of all Count
/// values: the prefix line of a sum-tree node.
template <class T, std::size_t Count>
inline T exclusive_running_sums(const T* values, T* out) noexcept {
    out[0] = T(0);
    T running = values[0];
    for (std::size_t k = 1; k < Count; ++k) {
        out[k] = running;
        running += values[k];
    }
    return running;
}

/// The exclusive running sums b1 = v0, b2 = v0 + v1, ..., b7 = v0 + ... + v6 of eight doubles
/// (b0 = 0) and their total, by the left fold, as named values: the SIMD versions of
/// count_running_sums_less_equal pack them into registers.
struct running_sums_of_eight {
    explicit running_sums_of_eight(const double* values) noexcept
        : b1(values[0])
        , b2(b1 + values[1])
        , b3(b2 + values[2])
        , b4(b3 + values[3])
        , b5(b4 + values[4])
        , b6(b5 + values[5])
        , b7(b6 + values[6])
        , total(b7 + values[7]) {}
    double b1, b2, b3, b4, b5, b6, b7, total;
};

#if defined(PER_DETAIL_X86_KERNELS)

/// SSE2 (every x86-64): a true compare is an all-ones lane, -1 as an integer, so adding the
/// compare results as integers counts them, negated, without a mask or a bit scan. A line is a
/// tree node or a local array aligned like one (64 bytes), so the loads are aligned.
namespace sse2 {

/// count_less_equal for one line of 8 doubles.
inline std::size_t count_less_equal(const double* line, double u) noexcept {
    const __m128d key = _mm_set1_pd(u);
    __m128i negated = _mm_castpd_si128(_mm_cmple_pd(_mm_load_pd(line), key));
    for (int part = 1; part < 4; ++part) {
        const __m128d holds = _mm_cmple_pd(_mm_load_pd(line + 2 * part), key);
        negated = _mm_add_epi64(negated, _mm_castpd_si128(holds));
    }
    negated = _mm_add_epi64(negated, _mm_shuffle_epi32(negated, 0xEE)); // + the high lane
    return static_cast<std::size_t>(-_mm_cvtsi128_si64(negated));
}

/// count_less_equal for one line of 16 floats.
inline std::size_t count_less_equal(const float* line, float u) noexcept {
    const __m128 key = _mm_set1_ps(u);
    __m128i count = _mm_setzero_si128();
    for (int part = 0; part < 4; ++part) {
        const __m128 holds = _mm_cmple_ps(_mm_load_ps(line + 4 * part), key);
        count = _mm_sub_epi32(count, _mm_castps_si128(holds));
    }
    count = _mm_add_epi32(count, _mm_shuffle_epi32(count, 0x4E)); // + lanes (2, 3, 0, 1)
    count = _mm_add_epi32(count, _mm_shuffle_epi32(count, 0xB1)); // + lanes (1, 0, 3, 2)
    return static_cast<std::size_t>(_mm_cvtsi128_si32(count));
}

/// count_running_sums_less_equal for 8 doubles.
inline std::size_t count_running_sums_less_equal(const double* values, double u,
                                                 double& total) noexcept {
    const running_sums_of_eight sums(values);
    total = sums.total;
    const __m128d key = _mm_set1_pd(u);
    __m128i count = _mm_castpd_si128(_mm_cmple_pd(_mm_set_pd(sums.b1, 0.0), key));
    count = _mm_add_epi64(count, _mm_castpd_si128(_mm_cmple_pd(_mm_set_pd(sums.b3, sums.b2), key)));
    count = _mm_add_epi64(count, _mm_castpd_si128(_mm_cmple_pd(_mm_set_pd(sums.b5, sums.b4), key)));
    count = _mm_add_epi64(count, _mm_castpd_si128(_mm_cmple_pd(_mm_set_pd(sums.b7, sums.b6), key)));
    count = _mm_add_epi64(count, _mm_unpackhi_epi64(count, count));
    return static_cast<std::size_t>(-_mm_cvtsi128_si64(count));
}

} // namespace sse2

/// AVX2: compares into a bit mask and a bit scan. Compiled with the target attribute, so they
/// exist in every x86-64 build; call them only where the build targets AVX2 or cpu_has_avx2().
/// Written with GCC and Clang vector extensions (a comparison gives all-ones lanes where it
/// holds) and GCC's movemask built-ins (which Clang provides too), rather than the intrinsics of
/// <immintrin.h>: that header alone costs a translation unit more compile time than the rest of
/// the library, and the instructions are the same (vcmppd or vcmpps, vmovmskpd or vmovmskps).
// The vector-extension casts below reinterpret the bits of a vector as another of the same
// size; no C++ cast spells that before C++20's std::bit_cast, so they are C-style casts, and a
// user's -Wold-style-cast stays quiet about them.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wold-style-cast"
namespace avx2 {

typedef double double_lanes __attribute__((vector_size(32)));
typedef float float_lanes __attribute__((vector_size(32)));

// The vectors stay inside each function, never passed by value: that would depend on the
// target's vector ABI (as in fast_power.hpp).

PER_DETAIL_TARGET_AVX2 inline std::size_t count_less_equal(const double* line, double u) noexcept {
    double_lanes low;
    double_lanes high;
    std::memcpy(&low, line, sizeof low);
    std::memcpy(&high, line + 4, sizeof high);
    const unsigned mask =
        static_cast<unsigned>(__builtin_ia32_movmskpd256((double_lanes)(low <= u))) |
        (static_cast<unsigned>(__builtin_ia32_movmskpd256((double_lanes)(high <= u))) << 4);
    return lowest_clear_bit(mask);
}

PER_DETAIL_TARGET_AVX2 inline std::size_t count_less_equal(const float* line, float u) noexcept {
    float_lanes low;
    float_lanes high;
    std::memcpy(&low, line, sizeof low);
    std::memcpy(&high, line + 8, sizeof high);
    const unsigned mask =
        static_cast<unsigned>(__builtin_ia32_movmskps256((float_lanes)(low <= u))) |
        (static_cast<unsigned>(__builtin_ia32_movmskps256((float_lanes)(high <= u))) << 8);
    return lowest_clear_bit(mask);
}

PER_DETAIL_TARGET_AVX2 inline std::size_t
count_running_sums_less_equal(const double* values, double u, double& total) noexcept {
    const running_sums_of_eight sums(values);
    total = sums.total;
    const double_lanes low = {0.0, sums.b1, sums.b2, sums.b3};
    const double_lanes high = {sums.b4, sums.b5, sums.b6, sums.b7};
    const unsigned mask =
        static_cast<unsigned>(__builtin_ia32_movmskpd256((double_lanes)(low <= u))) |
        (static_cast<unsigned>(__builtin_ia32_movmskpd256((double_lanes)(high <= u))) << 4);
    return lowest_clear_bit(mask);
}

} // namespace avx2
#pragma GCC diagnostic pop

/// The build's kernels for the node shapes that have them.
#if defined(__AVX2__)
namespace build_isa = avx2;
#else
namespace build_isa = sse2;
#endif

template <>
inline std::size_t count_less_equal<double, 8>(const double* values, double u) noexcept {
    return build_isa::count_less_equal(values, u);
}

template <>
inline std::size_t count_less_equal<float, 16>(const float* values, float u) noexcept {
    return build_isa::count_less_equal(values, u);
}

template <>
inline std::size_t count_running_sums_less_equal<double, 8>(const double* values, double u,
                                                            double& total) noexcept {
    return build_isa::count_running_sums_less_equal(values, u, total);
}

#endif // PER_DETAIL_X86_KERNELS

/// Node kernels as a type, so that a search loop written once as a template over it compiles to
/// one loop per instruction set. build_kernels are the ones above (what the build targets);
/// avx2_kernels use the AVX2 versions for the shapes that have them, and are meant for loops
/// whose entry point is compiled for AVX2 (PER_DETAIL_AVX2_ENTRY) and runs only where
/// cpu_has_avx2().
struct build_kernels {
    template <class T, std::size_t Count>
    static std::size_t count_less_equal(const T* values, T u) noexcept {
        return detail::count_less_equal<T, Count>(values, u);
    }
    template <class T, std::size_t Count>
    static std::size_t count_running_sums_less_equal(const T* values, T u, T& total) noexcept {
        return detail::count_running_sums_less_equal<T, Count>(values, u, total);
    }
};

#if defined(PER_DETAIL_X86_KERNELS)
struct avx2_kernels {
    template <class T, std::size_t Count>
    PER_DETAIL_TARGET_AVX2 static std::size_t count_less_equal(const T* values, T u) noexcept {
        if constexpr ((std::is_same_v<T, double> && Count == 8) ||
                      (std::is_same_v<T, float> && Count == 16)) {
            return avx2::count_less_equal(values, u);
        } else {
            return detail::count_less_equal<T, Count>(values, u);
        }
    }
    template <class T, std::size_t Count>
    PER_DETAIL_TARGET_AVX2 static std::size_t count_running_sums_less_equal(const T* values, T u,
                                                                            T& total) noexcept {
        if constexpr (std::is_same_v<T, double> && Count == 8) {
            return avx2::count_running_sums_less_equal(values, u, total);
        } else {
            return detail::count_running_sums_less_equal<T, Count>(values, u, total);
        }
    }
};
#endif

} // namespace per::detail

#endif // PER_DETAIL_SIMD_HPP
