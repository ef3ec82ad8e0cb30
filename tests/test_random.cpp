#include <per/random.hpp>

#include "per_catch.hpp"

#include <cstdint>
#include <random>
#include <vector>

namespace {
// A generator with an odd range [3, 12]: 10 values, so only 3 bits per call survive rejection.
struct tiny_generator {
    using result_type = unsigned;
    static constexpr result_type min() { return 3; }
    static constexpr result_type max() { return 12; }
    std::mt19937 engine{5};
    result_type operator()() { return 3 + engine() % 10; }
};

template <class Generator>
void check_unit_interval(Generator generator) {
    double sum = 0;
    const int draws = 20000;
    for (int i = 0; i < draws; ++i) {
        const double u = per::uniform_unit(generator);
        REQUIRE(u >= 0.0);
        REQUIRE(u < 1.0);
        sum += u;
    }
    // Mean of 20000 uniforms: standard deviation 0.002; 0.01 is five of them.
    REQUIRE(sum / draws == Approx(0.5).margin(0.01));
}
} // namespace

TEST_CASE("bits per call of common generators", "[random]") {
    STATIC_REQUIRE(per::detail::bits_per_call<std::mt19937_64>() == 64);
    STATIC_REQUIRE(per::detail::bits_per_call<std::mt19937>() == 32);
    STATIC_REQUIRE(per::detail::bits_per_call<std::minstd_rand>() == 30);
    STATIC_REQUIRE(per::detail::bits_per_call<std::ranlux24_base>() == 24);
    STATIC_REQUIRE(per::detail::bits_per_call<tiny_generator>() == 3);
}

TEST_CASE("uniform_unit is in [0, 1) and centred for any generator", "[random]") {
    check_unit_interval(std::mt19937_64(1));
    check_unit_interval(std::mt19937(1));
    check_unit_interval(std::minstd_rand(1));
    check_unit_interval(std::ranlux24_base(1));
    check_unit_interval(tiny_generator{});
}

TEST_CASE("uniform_unit takes the top 53 bits of one 64-bit draw", "[random]") {
    // Derived by hand from the engine, whose output the C++ standard fixes.
    std::mt19937_64 reference(42);
    std::mt19937_64 generator(42);
    for (int i = 0; i < 100; ++i) {
        const double expected = static_cast<double>(reference() >> 11) * 0x1.0p-53;
        REQUIRE(per::uniform_unit(generator) == expected);
    }
}

TEST_CASE("uniform_below is unbiased", "[random]") {
    std::mt19937_64 generator(3);
    std::vector<int> counts(6, 0);
    const int draws = 60000;
    for (int i = 0; i < draws; ++i) {
        const auto value = per::uniform_below(generator, 6);
        REQUIRE(value < 6);
        ++counts[value];
    }
    // Chi-square with 5 degrees of freedom; 20.5 is its 0.999 quantile (false alarm 1e-3,
    // fixed seed, so the outcome is deterministic).
    double chi_square = 0;
    for (int count : counts) {
        chi_square += (count - draws / 6.0) * (count - draws / 6.0) / (draws / 6.0);
    }
    REQUIRE(chi_square < 20.5);
    REQUIRE(per::uniform_below(generator, 1) == 0);
}
