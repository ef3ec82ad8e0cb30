#ifndef PER_DETAIL_ERROR_HPP
#define PER_DETAIL_ERROR_HPP

#include <charconv>
#include <cstddef>
#include <limits>
#include <stdexcept>
#include <string>
#include <type_traits>

// Floating-point std::to_chars (C++17) is what formats numbers; <charconv> defines
// __cpp_lib_to_chars where it is complete (libstdc++ 11 and later, MSVC). Elsewhere the same
// digits come from a stream in the classic locale, at the price of <sstream> and <locale>.
#if !defined(__cpp_lib_to_chars)
#include <locale>
#include <sstream>
#endif

namespace per::detail {

#if defined(__cpp_lib_to_chars)
/// The shortest decimal form of a floating-point value that reads back as the same value, laid
/// out like printf's %g with T's digits10 as the precision: positional from 1e-4 up to digits10
/// digits before the point, scientific outside, so 0.7 prints as "0.7", 100000 as "100000",
/// 1e-17 as "1e-17" and 1e200 as "1e+200". std::to_chars is locale-independent and needs no
/// stream: the decimal point is always '.'.
template <class T>
std::string format_floating_point(T value) {
    // Enough for the longest scientific form of any of float, double or long double.
    char scientific[64];
    const auto written = std::to_chars(scientific, scientific + sizeof scientific, value,
                                       std::chars_format::scientific);
    const std::string shortest(scientific, written.ptr);
    const std::size_t e = shortest.find('e');
    if (e == std::string::npos) {
        return shortest; // inf, -inf, nan, -nan
    }
    // shortest = [-]d[.ddd]e(+|-)XX: the significant digits and the decimal exponent.
    const bool negative = shortest[0] == '-';
    std::string digits;
    for (std::size_t k = negative ? 1 : 0; k < e; ++k) {
        if (shortest[k] != '.') {
            digits += shortest[k];
        }
    }
    int exponent = 0;
    for (std::size_t k = e + 2; k < shortest.size(); ++k) {
        exponent = exponent * 10 + (shortest[k] - '0');
    }
    if (shortest[e + 1] == '-') {
        exponent = -exponent;
    }
    const int significant = static_cast<int>(digits.size());
    // Positional up to digits10 digits before the point (zeros padded after fewer significant
    // digits are exact there), and for longer values only where no zero needs padding.
    const int digits10 = std::numeric_limits<T>::digits10;
    if (exponent < -4 || exponent >= (significant <= digits10 ? digits10 : significant)) {
        return shortest;
    }
    std::string result = negative ? "-" : "";
    if (exponent < 0) {
        result += "0.";
        result.append(static_cast<std::size_t>(-exponent - 1), '0');
        result += digits;
    } else if (exponent + 1 >= significant) {
        result += digits;
        result.append(static_cast<std::size_t>(exponent + 1 - significant), '0');
    } else {
        const std::size_t point = static_cast<std::size_t>(exponent) + 1;
        result += digits.substr(0, point);
        result += '.';
        result += digits.substr(point);
    }
    return result;
}
#endif

/// Formats a value for an error message: numbers, enumerations (as their underlying integer),
/// bool ("true", "false") and strings. Floating-point values get the fewest significant digits
/// that read back as the same value (see format_floating_point), so 0.7 prints as "0.7" and
/// 1e-17 is not lost as "0.000000"; the result is the same whatever the program's locale.
template <class T>
std::string format_value(const T& value) {
    if constexpr (std::is_same_v<T, bool>) {
        return value ? "true" : "false";
    } else if constexpr (std::is_enum_v<T>) {
        return format_value(static_cast<std::underlying_type_t<T>>(value));
    } else if constexpr (std::is_integral_v<T>) {
        return std::to_string(value);
    } else if constexpr (std::is_floating_point_v<T>) {
#if defined(__cpp_lib_to_chars)
        return format_floating_point(value);
#else
        // digits10 digits, or max_digits10 when those do not read back as the same value.
        std::ostringstream stream;
        stream.imbue(std::locale::classic());
        stream.precision(std::numeric_limits<T>::digits10);
        stream << value;
        std::istringstream back(stream.str());
        back.imbue(std::locale::classic());
        T parsed{};
        if (!(back >> parsed) || parsed != value) {
            stream.str(std::string());
            stream.precision(std::numeric_limits<T>::max_digits10);
            stream << value;
        }
        return stream.str();
#endif
    } else {
        static_assert(std::is_constructible_v<std::string, const T&>,
                      "format_value formats numbers, enumerations, bool and strings");
        return std::string(value);
    }
}

/// Builds "<where>: <argument> = <value> <requirement>", the shape of every message the library
/// throws for bad input, e.g. "per::sum_tree::set: value = -1 must be finite and >= 0".
template <class T>
std::string describe(const char* where, const char* argument, const T& value,
                     const std::string& requirement) {
    return std::string(where) + ": " + argument + " = " + format_value(value) + " " + requirement;
}

template <class T>
[[noreturn]] void throw_invalid_argument(const char* where, const char* argument, const T& value,
                                         const std::string& requirement) {
    throw std::invalid_argument(describe(where, argument, value, requirement));
}

template <class T>
[[noreturn]] void throw_out_of_range(const char* where, const char* argument, const T& value,
                                     const std::string& requirement) {
    throw std::out_of_range(describe(where, argument, value, requirement));
}

/// What a buffer's push throws once the buffer was moved from (capacity() 0).
[[noreturn]] inline void throw_moved_from(const char* where) {
    throw std::logic_error(std::string(where) +
                           ": capacity() = 0: the buffer was moved from; assign a buffer to it "
                           "or import_state before pushing");
}

/// The checks every container-like class repeats, with one wording.
inline void check_capacity(const char* where, std::size_t capacity, std::size_t max_capacity) {
    if (capacity == 0) {
        throw_invalid_argument(where, "capacity", capacity, "must be > 0");
    }
    if (capacity > max_capacity) {
        throw std::length_error(
            describe(where, "capacity", capacity, "must be <= " + std::to_string(max_capacity)));
    }
}

inline void check_index(const char* where, const char* argument, std::size_t index,
                        std::size_t capacity) {
    if (index >= capacity) {
        throw_out_of_range(where, argument, index,
                           "must be < capacity() = " + std::to_string(capacity));
    }
}

} // namespace per::detail

#endif // PER_DETAIL_ERROR_HPP
