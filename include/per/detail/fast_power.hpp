#ifndef PER_DETAIL_FAST_POWER_HPP
#define PER_DETAIL_FAST_POWER_HPP

#include "cpu.hpp"

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>

namespace per::detail {

/// @file
/// x^y for a batch: the inner loop of importance-sampling weights, w = (min / p)^beta or
/// (N P)^-beta, one power per sampled item. std::pow costs about as much as a whole tree
/// descent, and it cannot be vectorized (docs/implementation-notes.md has the figures).
///
/// power_batch takes exact shortcuts for the exponents 0, 1, -1 and 0.5 (what std::pow returns
/// for them). Otherwise, on x86-64 with GCC or Clang, it evaluates exp(y log x) with
/// branch-free code on explicit vectors of eight lanes, which the compiler maps to two AVX2
/// registers or four SSE2 registers per value. Eight lanes rather than one register's worth:
/// each evaluation is a long chain of dependent multiplies and adds (two Horner series), and
/// several independent chains side by side keep the arithmetic units busy. Every step is a
/// lane-wise double operation or a 64-bit add, shift or bit operation, which SSE2 has
/// (compares are done on doubles, since SSE2 has no 64-bit integer compare). Other targets and
/// compilers call std::pow. A build without AVX2 runs the AVX2 version of the loop on a CPU that
/// has it (detail/cpu.hpp): the same operations in the same order, so the same results, bit for
/// bit. Under -march=native GCC also fuses multiplies and adds (FMA), so results may differ from
/// the SSE2 and AVX2 paths in the last bits, within the accuracy below.
///
/// Accuracy, against std::pow over x in [1e-304, 1e304] and |y| <= 1: relative error below
/// 4e-15 while |y log x| <= 40, i.e. for every weight above 4e-18; below 8e-14 over the whole
/// range, where the error of y log x dominates. x == 1 gives exactly 1. Subnormal, zero and
/// infinite results follow gradual underflow and overflow (tests/test_fast_power.cpp checks
/// all of this in every build).
///
/// Preconditions (the callers validate): x > 0 and finite, |y| <= 1.

#if defined(PER_DETAIL_X86_KERNELS)
#define PER_DETAIL_VECTOR_POWER 1

// The vector-extension casts below reinterpret the bits of a vector as another of the same
// size; no C++ cast spells that before C++20's std::bit_cast, so they are C-style casts, and a
// user's -Wold-style-cast stays quiet about them.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wold-style-cast"

inline constexpr std::size_t power_lanes = 8;

/// out[0..power_lanes) = x[0..power_lanes)^y by exp(y log x), without branches or library
/// calls. The vectors (GCC and Clang vector extensions: element-wise arithmetic, comparisons
/// giving all-ones masks, casts between vectors of the same size reinterpreting the bits) live
/// only inside this function: passing them by value would depend on the target's vector ABI.
inline void power_lanes_of(const double* in, double y, double* out) noexcept {
    typedef double lanes __attribute__((vector_size(power_lanes * sizeof(double))));
    typedef std::uint64_t bits_lanes __attribute__((vector_size(power_lanes * sizeof(double))));
    constexpr std::uint64_t one_bits = 0x3FF0000000000000ull; // 1.0
    lanes x;
    std::memcpy(&x, in, sizeof x);

    // log x = e ln 2 + log m, with m in [sqrt(1/2), sqrt(2)). Subnormal x is scaled by 2^54
    // first, so that its exponent field is meaningful. Masks are all ones where a compare
    // holds; `mask & bits` selects a constant there and +0.0 elsewhere.
    const bits_lanes subnormal = (bits_lanes)(x < 0x1p-1022);
    const bits_lanes bits = (bits_lanes)(x * (lanes)(one_bits + (subnormal & (54ull << 52))));
    bits_lanes mantissa_bits = (bits & 0x000FFFFFFFFFFFFFull) | one_bits;
    const bits_lanes upper = (bits_lanes)((lanes)mantissa_bits > 0x1.6A09E667F3BCDp0);
    mantissa_bits -= upper & (1ull << 52); // m > sqrt 2: use m / 2 and one more in e
    const lanes mantissa = (lanes)mantissa_bits;
    // The exponent field as a double without an integer conversion (SSE2 and AVX2 have none
    // for 64-bit lanes): put it in the mantissa of 2^52 and subtract 2^52.
    const lanes field = (lanes)((bits >> 52) | 0x4330000000000000ull) - 0x1p52;
    const lanes exponent = field - 1023.0 + (lanes)(upper & one_bits) -
                           (lanes)(subnormal & 0x404B000000000000ull); // 54.0
    // log m = 2 atanh(s) = 2 (s + s^3/3 + s^5/5 + ...), s = (m - 1) / (m + 1), |s| < 0.1716:
    // the terms after s^23/23 are below 1e-19.
    const lanes s = (mantissa - 1.0) / (mantissa + 1.0);
    const lanes s2 = s * s;
    // Horner's scheme written out: a loop over a coefficient array stays a loop at -O2, and
    // then every step stores and reloads the eight-lane vector.
    lanes series = s2 * (1.0 / 23.0) + 1.0 / 21.0;
    series = series * s2 + 1.0 / 19.0;
    series = series * s2 + 1.0 / 17.0;
    series = series * s2 + 1.0 / 15.0;
    series = series * s2 + 1.0 / 13.0;
    series = series * s2 + 1.0 / 11.0;
    series = series * s2 + 1.0 / 9.0;
    series = series * s2 + 1.0 / 7.0;
    series = series * s2 + 1.0 / 5.0;
    series = series * s2 + 1.0 / 3.0;
    // ln 2 split so that exponent * ln2_high is exact (ln2_high has 43 significant bits).
    constexpr double ln2_high = 0x1.62e42fefa3800p-1;
    constexpr double ln2_low = 0x1.ef35793c76730p-45;
    const lanes log_x =
        exponent * ln2_high + (exponent * ln2_low + (2.0 * s + 2.0 * s * s2 * series));

    // e^z = 2^k e^t with k = round(z / ln 2), |t| <= ln(2) / 2; e^t by its Taylor series to
    // t^14 (truncation below 5e-18). Adding 1.5 * 2^52 rounds to an integer in the low bits.
    const lanes z = y * log_x;
    constexpr double shifter = 0x1.8p52;
    const lanes k_shifted = z * 0x1.71547652b82fep0 + shifter;
    const lanes k = k_shifted - shifter;
    const lanes t = (z - k * ln2_high) - k * ln2_low;
    lanes taylor = t * (1.0 / 87178291200.0) + 1.0 / 6227020800.0;
    taylor = taylor * t + 1.0 / 479001600.0;
    taylor = taylor * t + 1.0 / 39916800.0;
    taylor = taylor * t + 1.0 / 3628800.0;
    taylor = taylor * t + 1.0 / 362880.0;
    taylor = taylor * t + 1.0 / 40320.0;
    taylor = taylor * t + 1.0 / 5040.0;
    taylor = taylor * t + 1.0 / 720.0;
    taylor = taylor * t + 1.0 / 120.0;
    taylor = taylor * t + 1.0 / 24.0;
    taylor = taylor * t + 1.0 / 6.0;
    taylor = taylor * t + 1.0 / 2.0;
    taylor = taylor * t + 1.0;
    taylor = taylor * t + 1.0;
    // 2^k as 2^k1 * 2^k2 with k1 = round(k / 2): each factor is a normal double for
    // |k| <= 2044, so results that underflow or overflow do so gradually and correctly.
    const lanes k1_shifted = k * 0.5 + shifter;
    const lanes k2_shifted = (k - (k1_shifted - shifter)) + shifter;
    const lanes two_to_k1 = (lanes)(((bits_lanes)k1_shifted + 1023u) << 52);
    const lanes two_to_k2 = (lanes)(((bits_lanes)k2_shifted + 1023u) << 52);
    const lanes result = taylor * two_to_k1 * two_to_k2;
    std::memcpy(out, &result, sizeof result);
}

/// power_batch's vector loop: whole groups of lanes, then the last values padded with ones.
inline void power_lanes_batch(const double* base, std::size_t count, double exponent,
                              double* out) noexcept {
    std::size_t k = 0;
    for (; k + power_lanes <= count; k += power_lanes) {
        power_lanes_of(base + k, exponent, out + k);
    }
    if (k < count) {
        double last[power_lanes];
        for (std::size_t lane = 0; lane < power_lanes; ++lane) {
            last[lane] = k + lane < count ? base[k + lane] : 1.0;
        }
        power_lanes_of(last, exponent, last);
        // Lane by lane, bounded by power_lanes as well: with count known to be small (a caller's
        // chunk), GCC's -Wstringop-overread could not tell that count - k < power_lanes here.
        for (std::size_t lane = 0; lane < power_lanes && k + lane < count; ++lane) {
            out[k + lane] = last[lane];
        }
    }
}

/// The same loop compiled for AVX2 (`flatten` inlines power_lanes_of, whose eight-lane vectors
/// then take two AVX2 registers instead of four SSE2 ones). Only where cpu_has_avx2().
PER_DETAIL_AVX2_ENTRY inline void power_lanes_batch_avx2(const double* base, std::size_t count,
                                                         double exponent, double* out) noexcept {
    power_lanes_batch(base, count, exponent, out);
}
#pragma GCC diagnostic pop
#endif

/// out[k] = base[k]^exponent for k in [0, count). `out` may alias `base`.
inline void power_batch(const double* base, std::size_t count, double exponent,
                        double* out) noexcept {
    if (exponent == 0.0 || exponent == 1.0 || exponent == -1.0 || exponent == 0.5) {
        for (std::size_t k = 0; k < count; ++k) {
            const double x = base[k];
            out[k] = exponent == 0.0   ? 1.0
                     : exponent == 1.0 ? x
                     : exponent == 0.5 ? std::sqrt(x)
                                       : 1.0 / x;
        }
        return;
    }
#if defined(PER_DETAIL_VECTOR_POWER)
#if defined(PER_DETAIL_RUNTIME_AVX2)
    if (cpu_has_avx2()) {
        power_lanes_batch_avx2(base, count, exponent, out);
        return;
    }
#endif
    power_lanes_batch(base, count, exponent, out);
#else
    for (std::size_t k = 0; k < count; ++k) {
        out[k] = std::pow(base[k], exponent);
    }
#endif
}

} // namespace per::detail

#endif // PER_DETAIL_FAST_POWER_HPP
