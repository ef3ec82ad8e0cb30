#ifndef PER_TESTS_DQN_TEST_VALUES_HPP
#define PER_TESTS_DQN_TEST_VALUES_HPP

// What the per::dqn tests share: one list of numbers for the float and the double
// instantiation of a test (values<T>({1.0, 0.5}) is a std::vector<T>), and NaN.

#include <initializer_list>
#include <limits>
#include <vector>

namespace per_test {

template <class T>
std::vector<T> values(std::initializer_list<double> list) {
    std::vector<T> out;
    for (double value : list) {
        out.push_back(static_cast<T>(value));
    }
    return out;
}

inline constexpr double not_a_number = std::numeric_limits<double>::quiet_NaN();

} // namespace per_test

#endif // PER_TESTS_DQN_TEST_VALUES_HPP
