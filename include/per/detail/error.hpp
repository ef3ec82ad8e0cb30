#ifndef PER_DETAIL_ERROR_HPP
#define PER_DETAIL_ERROR_HPP

#include <cstddef>
#include <limits>
#include <locale>
#include <sstream>
#include <stdexcept>
#include <string>
#include <type_traits>

namespace per::detail {

// Formats a value for an error message. Floating-point values get the shorter of digits10 or
// max_digits10 significant digits that reads back as the same value, so 0.7 prints as "0.7"
// and 1e-17 is not lost as "0.000000".
template <class T>
std::string format_value(const T& value) {
    std::ostringstream stream;
    stream.imbue(std::locale::classic()); // "0.5", whatever the program's global locale
    if constexpr (std::is_floating_point_v<T>) {
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
    } else {
        stream << value;
    }
    return stream.str();
}

// Builds "<where>: <argument> = <value> <requirement>", the shape of every message the library
// throws for bad input, e.g. "per::sum_tree::set: value = -1 must be finite and >= 0".
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

// The checks every container-like class repeats, with one wording.
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
