#include <per/sum_tree.hpp>

#include "per_catch.hpp"

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <limits>
#include <random>
#include <stdexcept>
#include <vector>

namespace {

// The oracle: inclusive prefix sums of the leaves in long double.
template <class T>
std::vector<long double> prefix_sums(const std::vector<T>& leaves) {
    std::vector<long double> sums(leaves.size());
    long double running = 0;
    for (std::size_t i = 0; i < leaves.size(); ++i) {
        running += leaves[i];
        sums[i] = running;
    }
    return sums;
}

// Leaves with a mix of zeros (about a third), tiny and ordinary values.
template <class T>
std::vector<T> random_leaves(std::size_t size, std::mt19937_64& rng) {
    std::uniform_real_distribution<double> unit(0.0, 1.0);
    std::vector<T> leaves(size);
    for (auto& leaf : leaves) {
        const double kind = unit(rng);
        leaf = kind < 0.33  ? T(0)
               : kind < 0.4 ? static_cast<T>(unit(rng) * 1e-6)
                            : static_cast<T>(unit(rng) * 10);
    }
    return leaves;
}

template <class Tree>
std::vector<typename Tree::value_type> leaves_of(const Tree& tree) {
    std::vector<typename Tree::value_type> leaves(tree.capacity());
    for (std::size_t i = 0; i < tree.capacity(); ++i) {
        leaves[i] = tree.get(i);
    }
    return leaves;
}

// Relative tolerance of the tree's sums against the exact sums: the bound of one summation
// (depth * Fanout roundings), with a generous margin.
template <class T>
long double tolerance() {
    return std::is_same_v<T, float> ? 1e-4L : 1e-12L;
}

} // namespace

#define PER_TREE_TYPES                                                                             \
    (per::sum_tree<double>), (per::sum_tree<float>), (per::sum_tree<double, 2>),                   \
        (per::sum_tree<double, 4>), (per::sum_tree<float, 4>)

TEMPLATE_TEST_CASE("sum_tree matches a long double prefix-sum oracle", "[sum_tree]",
                   PER_TREE_TYPES) {
    using T = typename TestType::value_type;
    std::mt19937_64 rng(20260101);
    std::uniform_real_distribution<long double> unit(0.0L, 1.0L);
    const std::size_t sizes[] = {1,  2,  3,  5,   7,   8,   9,   15,   16,   17,
                                 63, 64, 65, 100, 255, 256, 257, 1000, 4096, 4097};
    for (std::size_t size : sizes) {
        CAPTURE(size);
        TestType tree(size);
        auto leaves = random_leaves<T>(size, rng);
        leaves[rng() % size] = T(1); // at least one positive leaf
        for (std::size_t i = 0; i < size; ++i) {
            tree.set(i, leaves[i]);
        }
        const auto sums = prefix_sums(leaves);
        const long double exact_total = sums.back();
        REQUIRE(std::fabs(tree.total() - exact_total) <= tolerance<T>() * exact_total);
        REQUIRE(leaves_of(tree) == leaves);

        // Random prefixes: the tree's leaf owns u up to the rounding of the sums, is never
        // empty, and is the oracle's answer whenever u is not within rounding of a boundary.
        const long double slack = tolerance<T>() * exact_total;
        std::vector<T> us;
        for (int draw = 0; draw < 400; ++draw) {
            T u = static_cast<T>(unit(rng) * tree.total());
            if (!(u < tree.total())) {
                continue;
            }
            us.push_back(u);
            const std::size_t found = tree.find_prefix(u);
            REQUIRE(found < size);
            REQUIRE(leaves[found] > T(0));
            const long double below = found == 0 ? 0.0L : sums[found - 1];
            REQUIRE(below - slack <= u);
            REQUIRE(u < sums[found] + slack);
            const auto first_above = static_cast<std::size_t>(
                std::upper_bound(sums.begin(), sums.end(), static_cast<long double>(u)) -
                sums.begin());
            const bool near_boundary =
                std::fabs(u - (first_above == 0 ? 0.0L : sums[first_above - 1])) <= slack ||
                std::fabs(u - sums[std::min(first_above, size - 1)]) <= slack;
            if (!near_boundary) {
                REQUIRE(found == first_above);
            }
        }
        // The batch form gives the same answers as one call per value.
        std::vector<std::size_t> batch(us.size());
        tree.find_prefix_batch(us.data(), us.size(), batch.data());
        for (std::size_t q = 0; q < us.size(); ++q) {
            REQUIRE(batch[q] == tree.find_prefix(us[q]));
        }
        // Sorted batches (stratified sampling's) take the walk along the upper nodes: the same
        // answers again, with repeated values, every exact boundary and the ends included, in
        // batches of several lengths (so that chunks of 64 split them in different places).
        std::vector<T> sorted_us = us;
        for (std::size_t i = 0; i + 1 < size; i += 1 + size / 50) {
            const T boundary = static_cast<T>(sums[i]);
            if (boundary < tree.total()) {
                sorted_us.push_back(boundary);
                sorted_us.push_back(boundary);
            }
        }
        sorted_us.push_back(T(0));
        sorted_us.push_back(std::nextafter(tree.total(), T(0)));
        std::sort(sorted_us.begin(), sorted_us.end());
        for (std::size_t length :
             {std::size_t{1}, std::size_t{7}, std::size_t{64}, std::size_t{65}, sorted_us.size()}) {
            CAPTURE(length);
            const std::size_t count = std::min(length, sorted_us.size());
            std::vector<std::size_t> sorted_batch(count);
            tree.find_prefix_batch(sorted_us.data(), count, sorted_batch.data());
            for (std::size_t q = 0; q < count; ++q) {
                REQUIRE(sorted_batch[q] == tree.find_prefix(sorted_us[q]));
            }
        }
        // Unchecked, u at or past the total at the end of a sorted batch: the last non-empty leaf.
        std::vector<T> tail = {T(0), tree.total(), tree.total() * T(2)};
        std::vector<std::size_t> tail_found(tail.size());
        tree.find_prefix_batch_unchecked(tail.data(), tail.size(), tail_found.data());
        for (std::size_t q = 0; q < tail.size(); ++q) {
            REQUIRE(tail_found[q] == tree.find_prefix_unchecked(tail[q]));
        }
    }
}

TEMPLATE_TEST_CASE("sum_tree boundaries: exact boundaries, 0, and just below the total",
                   "[sum_tree]", PER_TREE_TYPES) {
    using T = typename TestType::value_type;
    // Integer leaves make every prefix sum exact, so boundaries can be hit exactly.
    const std::size_t size = 37;
    TestType tree(size);
    std::vector<T> leaves(size, T(0));
    for (std::size_t i = 0; i < size; i += 3) {
        leaves[i] = static_cast<T>(1 + i % 5);
    }
    tree.assign(leaves.begin(), leaves.end());
    const auto sums = prefix_sums(leaves);

    REQUIRE(tree.find_prefix(T(0)) == 0);
    for (std::size_t i = 0; i + 1 < size; ++i) {
        if (leaves[i] == T(0) || sums[i] == sums.back()) {
            continue;
        }
        // u == S(i) belongs to the next non-empty leaf: intervals are half-open.
        std::size_t next = i + 1;
        while (leaves[next] == T(0)) {
            ++next;
        }
        REQUIRE(tree.find_prefix(static_cast<T>(sums[i])) == next);
    }
    std::size_t last_nonzero = size - 1;
    while (leaves[last_nonzero] == T(0)) {
        --last_nonzero;
    }
    const T just_below = std::nextafter(tree.total(), T(0));
    REQUIRE(tree.find_prefix(just_below) == last_nonzero);
    // The unchecked form treats u >= total() (what rounding in total() * U can give) as the top.
    REQUIRE(tree.find_prefix_unchecked(tree.total()) == last_nonzero);
    REQUIRE(tree.find_prefix_unchecked(tree.total() * 2) == last_nonzero);
}

TEMPLATE_TEST_CASE("sum_tree never returns an empty leaf when most leaves are zero", "[sum_tree]",
                   PER_TREE_TYPES) {
    using T = typename TestType::value_type;
    std::mt19937_64 rng(7);
    std::uniform_real_distribution<double> unit(0.0, 1.0);
    for (std::size_t size : {1u, 2u, 9u, 64u, 65u, 1000u, 5000u}) {
        CAPTURE(size);
        for (int trial = 0; trial < 20; ++trial) {
            TestType tree(size);
            std::vector<T> leaves(size, T(0));
            const std::size_t live = 1 + rng() % 3;
            for (std::size_t k = 0; k < live; ++k) {
                const std::size_t i = rng() % size;
                leaves[i] = static_cast<T>(0.1 + unit(rng));
                tree.set(i, leaves[i]);
            }
            std::vector<T> us = {T(0), std::nextafter(tree.total(), T(0))};
            for (int draw = 0; draw < 50; ++draw) {
                const T u = static_cast<T>(unit(rng)) * tree.total();
                if (u < tree.total()) {
                    us.push_back(u);
                }
            }
            for (T u : us) {
                const std::size_t found = tree.find_prefix(u);
                REQUIRE(found < size);
                REQUIRE(leaves[found] > T(0));
                REQUIRE(tree.find_prefix_unchecked(u) == found);
            }
            // Rounding stress: u at and past the total on the unchecked path.
            for (T u :
                 {tree.total(), std::nextafter(tree.total(), std::numeric_limits<T>::max())}) {
                const std::size_t found = tree.find_prefix_unchecked(u);
                REQUIRE(found < size);
                REQUIRE(leaves[found] > T(0));
            }
        }
    }
}

TEMPLATE_TEST_CASE("sum_tree: u at or past the total ends on the last non-empty leaf", "[sum_tree]",
                   PER_TREE_TYPES) {
    using T = typename TestType::value_type;
    // Sparse trees whose last non-empty leaf sits nodes or levels before the end, so the search
    // has to climb back up from where u = total() takes it. Sizes with partial nodes on every
    // level check that no descent steps into a child the tree does not store.
    std::mt19937_64 rng(5);
    for (std::size_t size : {1u, 3u, 8u, 9u, 63u, 64u, 65u, 513u, 4097u, 40000u}) {
        CAPTURE(size);
        for (int trial = 0; trial < 10; ++trial) {
            TestType tree(size);
            std::vector<std::size_t> live = {static_cast<std::size_t>(rng() % size)};
            if (trial % 2 == 1) {
                live.push_back(static_cast<std::size_t>(rng() % (live[0] + 1)));
            }
            for (std::size_t i : live) {
                tree.set(i, T(1));
            }
            const std::size_t last = *std::max_element(live.begin(), live.end());
            for (T u : {tree.total(), std::nextafter(tree.total(), std::numeric_limits<T>::max()),
                        tree.total() * T(1e30), std::numeric_limits<T>::max(),
                        std::numeric_limits<T>::infinity()}) {
                CAPTURE(u);
                REQUIRE(tree.find_prefix_unchecked(u) == last);
                std::size_t batch[2] = {0, 0};
                const T us[2] = {T(0), u};
                tree.find_prefix_batch_unchecked(us, 2, batch);
                REQUIRE(batch[1] == last);
            }
            tree.clear(); // clearing keeps the tree searchable once leaves come back
            tree.set(live[0], T(2));
            REQUIRE(tree.find_prefix_unchecked(tree.total()) == live[0]);
        }
    }
}

TEMPLATE_TEST_CASE("sum_tree: sums whose rounding disagrees with the leaves stay safe",
                   "[sum_tree]", PER_TREE_TYPES) {
    using T = typename TestType::value_type;
    // Values whose partial sums round (0.1 is not representable), followed by empty leaves and
    // a huge/tiny mix, so a node's entry and the running sum of a search differ from exact.
    std::mt19937_64 rng(99);
    for (int trial = 0; trial < 200; ++trial) {
        const std::size_t size = 2 + rng() % 300;
        TestType tree(size);
        std::vector<T> leaves(size, T(0));
        const std::size_t live = 1 + rng() % size;
        for (std::size_t i = 0; i < live; ++i) {
            leaves[i] = (rng() % 2) ? static_cast<T>(0.1) : static_cast<T>(1e-7 * (1 + rng() % 9));
        }
        tree.assign(leaves.begin(), leaves.end());
        T u = tree.total();
        for (int step = 0; step < 64; ++step) { // walk down from the top in ulps
            u = std::nextafter(u, T(0));
            const std::size_t found = tree.find_prefix(u);
            REQUIRE(found < live);
            REQUIRE(leaves[found] > T(0));
        }
    }
}

TEMPLATE_TEST_CASE("sum_tree rejects bad input and stays unchanged", "[sum_tree][errors]",
                   PER_TREE_TYPES) {
    using T = typename TestType::value_type;
    REQUIRE_THROWS_AS(TestType(0), std::invalid_argument);
    REQUIRE_THROWS_WITH(TestType(0), PER_CONTAINS("capacity = 0"));

    TestType tree(10);
    for (std::size_t i = 0; i < 10; ++i) {
        tree.set(i, static_cast<T>(i));
    }
    const auto leaves = leaves_of(tree);
    const T total = tree.total();
    auto unchanged = [&] {
        REQUIRE(leaves_of(tree) == leaves);
        REQUIRE(tree.total() == total);
    };

    REQUIRE_THROWS_AS(tree.set(10, T(1)), std::out_of_range);
    REQUIRE_THROWS_WITH(tree.set(10, T(1)), PER_CONTAINS("index = 10"));
    REQUIRE_THROWS_AS(tree.get(10), std::out_of_range);
    REQUIRE_THROWS_AS(tree.set(3, std::numeric_limits<T>::quiet_NaN()), std::invalid_argument);
    REQUIRE_THROWS_WITH(tree.set(3, std::numeric_limits<T>::quiet_NaN()),
                        PER_CONTAINS("value = nan"));
    REQUIRE_THROWS_AS(tree.set(3, std::numeric_limits<T>::infinity()), std::invalid_argument);
    REQUIRE_THROWS_AS(tree.set(3, -std::numeric_limits<T>::infinity()), std::invalid_argument);
    REQUIRE_THROWS_WITH(tree.set(3, T(-1)), PER_CONTAINS("value = -1"));
    REQUIRE_THROWS_WITH(tree.set(3, std::numeric_limits<T>::max()), PER_CONTAINS("max_value()"));
    unchanged();

    // A leaf of exactly max_value() is accepted, and a full tree of them cannot overflow.
    TestType big(10);
    for (std::size_t i = 0; i < 10; ++i) {
        big.set(i, big.max_value());
    }
    REQUIRE(std::isfinite(big.total()));

    const std::vector<T> too_many(11, T(1));
    REQUIRE_THROWS_AS(tree.assign(too_many.begin(), too_many.end()), std::invalid_argument);
    const std::vector<T> with_nan = {T(1), T(2), std::numeric_limits<T>::quiet_NaN()};
    REQUIRE_THROWS_WITH(tree.assign(with_nan.begin(), with_nan.end()), PER_CONTAINS("position 2"));
    unchanged();

    REQUIRE_THROWS_AS(tree.find_prefix(T(-1)), std::out_of_range);
    REQUIRE_THROWS_AS(tree.find_prefix(total), std::out_of_range);
    REQUIRE_THROWS_AS(tree.find_prefix(std::numeric_limits<T>::quiet_NaN()), std::invalid_argument);
    REQUIRE_THROWS_AS(tree.find_prefix(std::numeric_limits<T>::infinity()), std::out_of_range);
    const T batch[] = {T(1), T(2), total};
    std::size_t indices[] = {99, 99, 99};
    REQUIRE_THROWS_WITH(tree.find_prefix_batch(batch, 3, indices), PER_CONTAINS("position 2"));
    REQUIRE(indices[0] == 99); // nothing written before the throw

    TestType empty(5);
    REQUIRE_THROWS_AS(empty.find_prefix(T(0)), std::out_of_range);
    REQUIRE_THROWS_WITH(empty.find_prefix(T(0)), PER_CONTAINS("every leaf is zero"));
    unchanged();
}

TEMPLATE_TEST_CASE("sum_tree assign and clear", "[sum_tree]", PER_TREE_TYPES) {
    using T = typename TestType::value_type;
    TestType tree(20);
    const std::vector<double> values = {1, 2, 3, 0, 5};
    tree.assign(values.begin(), values.end());
    REQUIRE(tree.total() == T(11));
    REQUIRE(tree.get(4) == T(5));
    REQUIRE(tree.get(5) == T(0));
    tree.set(19, T(4));
    REQUIRE(tree.total() == T(15));
    tree.clear();
    REQUIRE(tree.total() == T(0));
    REQUIRE(tree.get(19) == T(0));
}

TEST_CASE("sum_tree root stays the sum of the leaves after 10^6 random updates",
          "[sum_tree][drift]") {
    std::mt19937_64 rng(12345);
    std::uniform_real_distribution<double> unit(0.0, 1.0);
    const std::size_t size = 4099;
    per::sum_tree<double> tree(size);
    for (int update = 0; update < 1'000'000; ++update) {
        // Values spanning 12 orders of magnitude, decaying as priorities do in training.
        const double scale = std::pow(10.0, -6.0 * update / 1'000'000.0);
        tree.set(rng() % size,
                 unit(rng) < 0.05 ? 0.0 : unit(rng) * scale * std::pow(10.0, 6 * unit(rng)));
    }
    const auto leaves = leaves_of(tree);
    long double exact = 0;
    for (double leaf : leaves) {
        exact += leaf;
    }
    REQUIRE(std::fabs(tree.total() - exact) <= 1e-12L * exact);
    // No drift at all: bit-identical to a tree built from scratch on the same leaves.
    per::sum_tree<double> fresh(size);
    fresh.assign(leaves.begin(), leaves.end());
    REQUIRE(fresh.total() == tree.total());
}
