#include <per/min_tree.hpp>

#include "per_catch.hpp"

#include <algorithm>
#include <limits>
#include <random>
#include <stdexcept>
#include <vector>

TEMPLATE_TEST_CASE("min_tree matches a linear scan under random updates", "[min_tree]",
                   (per::min_tree<double>), (per::min_tree<float>), (per::min_tree<double, 2>),
                   (per::min_tree<float, 4>)) {
    using T = typename TestType::value_type;
    const T empty = std::numeric_limits<T>::infinity();
    std::mt19937_64 rng(4242);
    std::uniform_real_distribution<double> unit(0.0, 1.0);
    for (std::size_t size : {1u, 2u, 3u, 8u, 9u, 16u, 17u, 100u, 1025u}) {
        CAPTURE(size);
        TestType tree(size);
        std::vector<T> slots(size, empty);
        REQUIRE(tree.min() == empty);
        for (int step = 0; step < 2000; ++step) {
            const std::size_t i = rng() % size;
            const double kind = unit(rng);
            if (kind < 0.2) {
                tree.reset(i);
                slots[i] = empty;
            } else {
                slots[i] = static_cast<T>(kind < 0.3 ? -unit(rng) : unit(rng) * 100);
                tree.set(i, slots[i]);
            }
            REQUIRE(tree.min() == *std::min_element(slots.begin(), slots.end()));
            REQUIRE(tree.get(i) == slots[i]);
        }
        tree.clear();
        REQUIRE(tree.min() == empty);
    }
}

TEST_CASE("min_tree rejects bad input and stays unchanged", "[min_tree][errors]") {
    REQUIRE_THROWS_AS(per::min_tree<double>(0), std::invalid_argument);
    per::min_tree<double> tree(4);
    tree.set(1, 2.5);
    REQUIRE_THROWS_AS(tree.set(4, 1.0), std::out_of_range);
    REQUIRE_THROWS_WITH(tree.set(4, 1.0), PER_CONTAINS("index = 4"));
    REQUIRE_THROWS_AS(tree.reset(7), std::out_of_range);
    REQUIRE_THROWS_AS(tree.get(4), std::out_of_range);
    REQUIRE_THROWS_AS(tree.set(0, std::numeric_limits<double>::quiet_NaN()), std::invalid_argument);
    REQUIRE_THROWS_WITH(tree.set(0, std::numeric_limits<double>::quiet_NaN()),
                        PER_CONTAINS("value = nan"));
    REQUIRE(tree.min() == 2.5);
    REQUIRE(tree.get(0) == std::numeric_limits<double>::infinity());
}

TEST_CASE("min_tree assign replaces every slot", "[min_tree]") {
    per::min_tree<double> tree(6);
    tree.set(5, -3.0);
    const std::vector<double> values = {4.0, 2.0, 7.0};
    tree.assign(values.begin(), values.end());
    REQUIRE(tree.min() == 2.0);
    REQUIRE(tree.get(5) == std::numeric_limits<double>::infinity());
    const std::vector<double> bad = {1.0, std::numeric_limits<double>::quiet_NaN()};
    REQUIRE_THROWS_WITH(tree.assign(bad.begin(), bad.end()), PER_CONTAINS("position 1"));
    const std::vector<double> too_many(7, 1.0);
    REQUIRE_THROWS_AS(tree.assign(too_many.begin(), too_many.end()), std::invalid_argument);
    REQUIRE(tree.min() == 2.0);
    REQUIRE(tree.get(0) == 4.0);
}
