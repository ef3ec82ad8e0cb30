#ifndef PER_RANDOM_HPP
#define PER_RANDOM_HPP

#include <cstdint>
#include <limits>

/// @file
/// Uniform random numbers from any UniformRandomBitGenerator, computed by our own code rather
/// than std::uniform_real_distribution (whose algorithm differs between standard libraries), so
/// that the same engine state gives the same numbers on every platform. The samplers draw with
/// uniform_unit; programs that want their own randomness to be as reproducible (the examples'
/// environments and exploration) use the same two functions.

namespace per {

namespace detail {

/// Number of whole random bits one call of G yields: floor(log2(max - min + 1)).
template <class Generator>
constexpr int bits_per_call() noexcept {
    constexpr std::uint64_t range =
        static_cast<std::uint64_t>(Generator::max()) - static_cast<std::uint64_t>(Generator::min());
    if (range == std::numeric_limits<std::uint64_t>::max()) {
        return 64;
    }
    int bits = 0;
    while (bits < 63 && (std::uint64_t{1} << (bits + 1)) - 1 <= range) {
        ++bits;
    }
    return bits;
}

/// `Bits` (<= 64) uniformly random bits, taken from the top of each draw. When the generator's
/// range is not a power of two (std::minstd_rand, say), values above the largest power of two are
/// rejected and drawn again.
template <int Bits, class Generator>
std::uint64_t random_bits(Generator& generator) {
    static_assert(Bits > 0 && Bits <= 64, "Bits must be in [1, 64]");
    constexpr int per_call = bits_per_call<Generator>();
    static_assert(per_call >= 1, "the generator must produce at least one bit per call");
    std::uint64_t result = 0;
    int have = 0;
    while (have < Bits) {
        std::uint64_t draw =
            static_cast<std::uint64_t>(generator()) - static_cast<std::uint64_t>(Generator::min());
        if constexpr (per_call < 64) {
            if (draw >> per_call) {
                continue; // above the power-of-two range: reject
            }
        }
        // Keep the top bits of the draw: the better ones for linear congruential engines.
        const int take = Bits - have < per_call ? Bits - have : per_call;
        draw >>= per_call - take;
        result = have == 0 ? draw : (result << take) | draw;
        have += take;
    }
    return result;
}

} // namespace detail

/// A double uniform in [0, 1) with 53 random bits: k * 2^-53 for a uniform k < 2^53, from the
/// top bits of the generator's draws (for std::mt19937_64: (draw >> 11) * 2^-53, one draw).
/// `generator` is any UniformRandomBitGenerator. Same engine state, same value, everywhere.
template <class Generator>
double uniform_unit(Generator& generator) {
    return static_cast<double>(detail::random_bits<53>(generator)) * 0x1.0p-53;
}

/// An integer uniform in [0, bound), by rejection (no modulo bias). Precondition: bound > 0.
/// Same engine state, same value, everywhere.
template <class Generator>
std::uint64_t uniform_below(Generator& generator, std::uint64_t bound) {
    int bits = 1;
    while (bits < 64 && (std::uint64_t{1} << bits) < bound) {
        ++bits;
    }
    for (;;) {
        std::uint64_t draw = detail::random_bits<64>(generator);
        if (bits < 64) {
            draw >>= 64 - bits;
        }
        if (draw < bound) {
            return draw;
        }
    }
}

} // namespace per

#endif // PER_RANDOM_HPP
