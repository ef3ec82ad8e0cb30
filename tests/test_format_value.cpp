// per::detail::format_value, the formatting of the values named in every error message: the
// shortest digits that read back as the same value, the same text whatever the locale.
#include "per/detail/error.hpp"

#include "per_catch.hpp"

#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <locale>
#include <random>
#include <sstream>
#include <stdexcept>
#include <string>

namespace {

using per::detail::format_value;

template <class T>
T read_back(const std::string& text) {
    std::istringstream in(text);
    in.imbue(std::locale::classic());
    T value{};
    in >> value;
    REQUIRE(in);
    return value;
}

// Significant digits of a decimal text: its digits without the sign, the point, leading zeros
// and the exponent.
std::size_t significant_digits(const std::string& text) {
    const std::string mantissa = text.substr(0, text.find('e'));
    std::string digits;
    for (char c : mantissa) {
        if (c >= '0' && c <= '9' && !(digits.empty() && c == '0')) {
            digits += c;
        }
    }
    while (mantissa.find('.') != std::string::npos && !digits.empty() && digits.back() == '0') {
        digits.pop_back();
    }
    return digits.size();
}

// A numpunct facet with a decimal comma, as some locales have.
struct comma_numpunct : std::numpunct<char> {
    char do_decimal_point() const override { return ','; }
};

} // namespace

TEST_CASE("format_value prints doubles in their shortest exact form", "[error]") {
    CHECK(format_value(0.7) == "0.7");
    CHECK(format_value(0.5) == "0.5");
    CHECK(format_value(-1.0) == "-1");
    CHECK(format_value(0.0) == "0");
    CHECK(format_value(-0.0) == "-0");
    CHECK(format_value(1e-17) == "1e-17");
    CHECK(format_value(0.1 + 0.2) == "0.30000000000000004");
    CHECK(format_value(1.0 / 3.0) == "0.3333333333333333");
    CHECK(format_value(0.0001) == "0.0001");
    CHECK(format_value(0.00001) == "1e-05");
    CHECK(format_value(100000.0) == "100000");
    CHECK(format_value(123456789012345.0) == "123456789012345");
    CHECK(format_value(1e15) == "1e+15");
    CHECK(format_value(1e200) == "1e+200");
    CHECK(format_value(std::numeric_limits<double>::max()) == "1.7976931348623157e+308");
    CHECK(format_value(std::numeric_limits<double>::denorm_min()) == "5e-324");
    // A value that needs 17 digits stays positional only where no zero has to be padded.
    CHECK(format_value(33018196743159808.0) == "3.301819674315981e+16");
}

TEST_CASE("format_value prints infinities and NaN", "[error]") {
    CHECK(format_value(std::numeric_limits<double>::infinity()) == "inf");
    CHECK(format_value(-std::numeric_limits<double>::infinity()) == "-inf");
    CHECK(format_value(std::numeric_limits<double>::quiet_NaN()) == "nan");
    CHECK(format_value(std::numeric_limits<float>::infinity()) == "inf");
}

TEST_CASE("format_value prints float and long double with their own digits", "[error]") {
    CHECK(format_value(0.7f) == "0.7");
    CHECK(format_value(1e-17f) == "1e-17");
    CHECK(format_value(1.0f / 3.0f) == "0.33333334");
    CHECK(format_value(100000.0f) == "100000");
    CHECK(format_value(1e6f) == "1e+06");
    CHECK(format_value(16777216.0f) == "16777216");
    CHECK(format_value(0.7L) == "0.7");
    CHECK(format_value(1e-17L) == "1e-17");
}

TEST_CASE("format_value of random doubles reads back exactly, in at most 17 digits", "[error]") {
    std::mt19937_64 rng(2026);
    for (int trial = 0; trial < 20000; ++trial) {
        // Random bit patterns cover every exponent; random decimals the common short values.
        double value;
        const std::uint64_t bits = rng();
        std::memcpy(&value, &bits, sizeof value);
        if (trial % 2 == 1) {
            value = static_cast<double>(rng() % 100000) /
                    std::pow(10.0, static_cast<double>(rng() % 12));
        }
        if (!std::isfinite(value)) {
            continue;
        }
        const std::string text = format_value(value);
        CAPTURE(bits, text);
        REQUIRE(read_back<double>(text) == value);
        REQUIRE(significant_digits(text) <= 17);
        if (trial % 2 == 1) {
            REQUIRE(significant_digits(text) <= 5); // a value with 5 digits prints 5 at most
        }
    }
}

TEST_CASE("format_value ignores the global locale", "[error]") {
    const std::locale previous =
        std::locale::global(std::locale(std::locale::classic(), new comma_numpunct));
    std::ostringstream stream; // a stream that takes the global locale writes "0,5"
    stream << 0.5;
    const std::string with_locale = stream.str();
    const std::string formatted = format_value(0.5);
    const std::string message = per::detail::describe("where", "value", 2.25, "must be < 1");
    std::locale::global(previous);
    CHECK(with_locale == "0,5");
    CHECK(formatted == "0.5");
    CHECK(message == "where: value = 2.25 must be < 1");
}

TEST_CASE("format_value prints integers, bool, enumerations and strings", "[error]") {
    enum class colour : int { red = 3 };
    CHECK(format_value(std::size_t{18446744073709551615u}) == "18446744073709551615");
    CHECK(format_value(-7) == "-7");
    CHECK(format_value(std::int64_t{-9223372036854775807} - 1) == "-9223372036854775808");
    CHECK(format_value(true) == "true");
    CHECK(format_value(colour::red) == "3");
    CHECK(format_value("nullptr") == "nullptr");
    CHECK(format_value(std::string("text")) == "text");
}

TEST_CASE("error messages name where, the argument and its value", "[error]") {
    try {
        per::detail::throw_invalid_argument("per::sum_tree::set", "value", -1.0,
                                            "must be finite and >= 0");
        FAIL("no exception");
    } catch (const std::invalid_argument& error) {
        CHECK(std::string(error.what()) ==
              "per::sum_tree::set: value = -1 must be finite and >= 0");
    }
    REQUIRE_THROWS_AS(per::detail::check_capacity("per::min_tree", 0, 10), std::invalid_argument);
    REQUIRE_THROWS_WITH(per::detail::check_capacity("per::min_tree", 11, 10),
                        "per::min_tree: capacity = 11 must be <= 10");
    REQUIRE_THROWS_AS(per::detail::check_capacity("per::min_tree", 11, 10), std::length_error);
    REQUIRE_THROWS_WITH(per::detail::check_index("per::min_tree::get", "index", 4, 4),
                        "per::min_tree::get: index = 4 must be < capacity() = 4");
}
