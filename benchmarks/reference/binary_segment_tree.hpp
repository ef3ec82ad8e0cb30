#ifndef PER_BENCH_REFERENCE_BINARY_SEGMENT_TREE_HPP
#define PER_BENCH_REFERENCE_BINARY_SEGMENT_TREE_HPP

#include <cstddef>
#include <limits>
#include <vector>

// The classic binary segment tree that most Python PER code uses (OpenAI baselines'
// SumSegmentTree and MinSegmentTree, and the many tutorials that copied them), rewritten in C++
// as the benchmarks' "binary_reference": what the library's cache-line k-ary tree is measured
// against. Not part of the library, and deliberately not optimized beyond the original design:
//   - the capacity is rounded up to a power of two and the tree lives in one array of
//     2 * capacity values: node 1 is the root, node k has children 2k and 2k + 1, and leaf i
//     is node capacity + i (slot 0 is unused);
//   - an update writes the leaf and walks up, recomputing each parent as left (+) right;
//   - a prefix search descends one binary level at a time, one query after another.

namespace per_bench::reference {

struct add_values {
    static constexpr double identity() noexcept { return 0.0; }
    static double combine(double left, double right) noexcept { return left + right; }
};

struct min_values {
    static constexpr double identity() noexcept { return std::numeric_limits<double>::infinity(); }
    static double combine(double left, double right) noexcept {
        return right < left ? right : left;
    }
};

template <class Combine>
class binary_segment_tree {
public:
    explicit binary_segment_tree(std::size_t capacity)
        : m_leaf_count(power_of_two_at_least(capacity))
        , m_nodes(2 * m_leaf_count, Combine::identity()) {}

    std::size_t leaf_count() const noexcept { return m_leaf_count; }

    // O(log2 N): the leaf, then every ancestor up to the root.
    void set(std::size_t index, double value) noexcept {
        std::size_t node = m_leaf_count + index;
        m_nodes[node] = value;
        for (node /= 2; node >= 1; node /= 2) {
            m_nodes[node] = Combine::combine(m_nodes[2 * node], m_nodes[2 * node + 1]);
        }
    }

    double get(std::size_t index) const noexcept { return m_nodes[m_leaf_count + index]; }

    // The reduction over every leaf: the root.
    double root() const noexcept { return m_nodes[1]; }

    std::size_t memory_bytes() const noexcept { return m_nodes.size() * sizeof(double); }

protected:
    static std::size_t power_of_two_at_least(std::size_t capacity) noexcept {
        std::size_t power = 1;
        while (power < capacity) {
            power *= 2;
        }
        return power;
    }

    std::size_t m_leaf_count;
    std::vector<double> m_nodes;
};

class binary_sum_tree : public binary_segment_tree<add_values> {
public:
    using binary_segment_tree::binary_segment_tree;

    double sum() const noexcept { return root(); }

    // The leaf i whose cumulative interval holds `prefix`: at each node, go left if the left
    // subtree's sum exceeds what is left of the prefix, else subtract that sum and go right.
    // One dependent cache miss per level for a large tree: this is the cost being measured.
    std::size_t find_prefix_sum_index(double prefix) const noexcept {
        std::size_t node = 1;
        while (node < m_leaf_count) {
            const std::size_t left = 2 * node;
            if (m_nodes[left] > prefix) {
                node = left;
            } else {
                prefix -= m_nodes[left];
                node = left + 1;
            }
        }
        return node - m_leaf_count;
    }
};

class binary_min_tree : public binary_segment_tree<min_values> {
public:
    using binary_segment_tree::binary_segment_tree;

    double min() const noexcept { return root(); }
};

} // namespace per_bench::reference

#endif // PER_BENCH_REFERENCE_BINARY_SEGMENT_TREE_HPP
