#ifndef PER_DETAIL_KARY_TREE_HPP
#define PER_DETAIL_KARY_TREE_HPP

#include "aligned_allocator.hpp"
#include "assert.hpp"
#include "prefetch.hpp"
#include "simd.hpp"
#include "special_members.hpp"

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <type_traits>
#include <utility>
#include <vector>

namespace per::detail {

/// The fan-out that makes one node of T exactly one cache line (8 doubles, 16 floats).
template <class T>
inline constexpr std::size_t cache_line_fanout = cache_line_bytes / sizeof(T);

/// Reduce policies for kary_tree. A policy is a stateless type with
///   static T identity() noexcept        the value of an empty slot,
///   static T combine(T a, T b) noexcept associative (up to rounding) and commutative.
template <class T>
struct sum_reduce {
    static constexpr T identity() noexcept { return T(0); }
    static constexpr T combine(T a, T b) noexcept { return a + b; }
};

template <class T>
struct min_reduce {
    static constexpr T identity() noexcept { return std::numeric_limits<T>::infinity(); }
    static constexpr T combine(T a, T b) noexcept { return b < a ? b : a; }
};

/// The storage and update logic shared by sum_tree and min_tree: a complete Fanout-ary tree over
/// `capacity` leaves.
///
/// Layout. Leaves are stored in their own array, grouped in "leaf nodes" of Fanout consecutive
/// slots (padded with identity()). Above them, inner levels are stored top-down in one array:
/// level 0 is the root node, and entry j of node n on level l holds the reduction of child node
/// n * Fanout + j one level below (a leaf node below the last inner level). Hence the entry for
/// child node c on level l sits at offset(l) + c, and walking up from a leaf is a division by
/// Fanout per level. With Fanout * sizeof(T) == 64 and 64-byte aligned storage, every node is one
/// cache line, and a root-to-leaf walk touches log_Fanout(capacity) + 1 lines.
///
/// Prefixes. With KeepPrefixes (the sum tree), every inner node also has a second line holding
/// the exclusive running reductions of its entries, B(0) = identity(), B(k) = e(0) (+) ... (+)
/// e(k - 1), computed by the same left fold that produces the node's reduction. A search then
/// compares against B with no arithmetic in its dependency chain, and the child it picks reads
/// the reduction of the children before it from the same line, while the entries e stay the
/// exact source of truth for updates. Entries that stand for no node (the padding at the
/// right edge of a level: every level is stored only as far as it has nodes) get B = +infinity,
/// so that no search with a finite u can step into a child that is not stored. The second line
/// costs sizeof(T) * N / (Fanout - 1) bytes: one byte per slot for doubles.
///
/// Exactness. An entry is never adjusted by a delta: after a leaf changes, each entry on the path
/// is recomputed as the left-to-right reduction of its child node's Fanout values. Every entry
/// is therefore a fixed function of the current leaves (no drift over any number of updates),
/// and the root of a tree equals the root of a tree freshly built from the same leaves, bit for
/// bit.
/// The number of inner levels a kary_tree of `fanout` builds over `capacity` leaves (at least
/// one): levels of nodes are added until one node holds the level below.
constexpr std::size_t kary_depth(std::size_t capacity, std::size_t fanout) noexcept {
    std::size_t children = capacity / fanout + (capacity % fanout != 0); // the leaf nodes
    std::size_t depth = 0;
    do {
        children = children / fanout + (children % fanout != 0);
        ++depth;
    } while (children > 1);
    return depth;
}

template <class T, std::size_t Fanout, class Reduce, bool KeepPrefixes = false>
class kary_tree {
    static_assert(std::is_floating_point_v<T>, "kary_tree holds float, double or long double");
    static_assert(Fanout >= 2, "a tree node needs at least two children");

public:
    using value_type = T;
    using size_type = std::size_t;
    using storage = std::vector<T, aligned_allocator<T>>;

    static constexpr size_type fanout = Fanout;
    /// The depth of a tree of max_capacity() leaves: deep enough for any tree (18 levels for
    /// fanout 8 and double, 13 for fanout 16 and float). The per-level arrays have this size, so
    /// a tree object (and what a move swaps) stays small.
    static constexpr size_type max_depth =
        kary_depth(std::numeric_limits<size_type>::max() / (4 * sizeof(T) * Fanout), Fanout);

    /// Precondition: capacity <= max_capacity() (the public wrappers also refuse 0). Capacity 0
    /// gives the empty tree that a moved-from tree is: no storage, depth 0, root identity().
    explicit kary_tree(size_type capacity)
        : m_capacity(capacity) {
        PER_ASSERT(capacity <= max_capacity());
        if (capacity == 0) {
            return;
        }
        const size_type leaf_nodes = ceil_div(capacity, Fanout);
        // Entries per inner level, bottom-up first, then reversed into top-down offsets.
        std::array<size_type, max_depth> entries_bottom_up{};
        size_type children = leaf_nodes;
        do {
            const size_type nodes = ceil_div(children, Fanout);
            entries_bottom_up[m_depth++] = nodes * Fanout;
            children = nodes;
        } while (children > 1);
        size_type offset = 0;
        for (size_type level = 0; level < m_depth; ++level) {
            m_offsets[level] = offset;
            offset += entries_bottom_up[m_depth - 1 - level];
            m_nodes_below[level] =
                level + 1 < m_depth ? entries_bottom_up[m_depth - 2 - level] / Fanout : leaf_nodes;
            m_full_nodes[level] = m_nodes_below[level] / Fanout;
        }
        m_leaves.assign(leaf_nodes * Fanout, Reduce::identity());
        m_inner.assign(offset, Reduce::identity());
        if constexpr (KeepPrefixes) {
            // Zero leaves have all-zero prefixes, except the padding's +infinity, which no
            // later write touches.
            m_prefix.assign(offset, Reduce::identity());
            for (size_type level = 0; level < m_depth; ++level) {
                const size_type stored = m_nodes_below[level];
                std::fill(m_prefix.begin() + static_cast<std::ptrdiff_t>(m_offsets[level] + stored),
                          m_prefix.begin() +
                              static_cast<std::ptrdiff_t>(m_offsets[level] + level_entries(level)),
                          std::numeric_limits<T>::infinity());
            }
        }
        m_root = Reduce::identity();
    }

    /// Copies (std::bad_alloc).
    kary_tree(const kary_tree&) = default;
    /// Takes the other tree's storage; the other tree becomes kary_tree(0).
    kary_tree(kary_tree&& other) noexcept { swap(other); }
    /// Strong guarantee: on std::bad_alloc the tree is unchanged.
    kary_tree& operator=(const kary_tree& other) { return assign_copy(*this, other); }
    /// Takes the other tree's storage; the other tree becomes kary_tree(0). Self-move: no-op.
    kary_tree& operator=(kary_tree&& other) noexcept {
        if (this != &other) {
            kary_tree taken(std::move(other));
            swap(taken);
        }
        return *this;
    }
    ~kary_tree() = default;

    /// The largest capacity whose storage sizes cannot overflow size_type.
    static constexpr size_type max_capacity() noexcept {
        return std::numeric_limits<size_type>::max() / (4 * sizeof(T) * Fanout);
    }
    static_assert(kary_depth(std::numeric_limits<size_type>::max() / (4 * sizeof(T) * Fanout),
                             Fanout) <= max_depth,
                  "max_depth holds a tree of max_capacity() leaves");

    size_type capacity() const noexcept { return m_capacity; }
    /// The entries (stored nodes times Fanout, padding included) of inner level `level`.
    size_type level_size(size_type level) const noexcept { return level_entries(level); }
    size_type depth() const noexcept { return m_depth; }
    T root() const noexcept { return m_root; }
    T leaf(size_type index) const noexcept { return m_leaves[index]; }

    const T* leaf_node(size_type node) const noexcept { return m_leaves.data() + node * Fanout; }
    const T* inner_node(size_type level, size_type node) const noexcept {
        return m_inner.data() + m_offsets[level] + node * Fanout;
    }

    /// The exclusive running reductions of inner_node(level, node) (KeepPrefixes only).
    const T* prefix_node(size_type level, size_type node) const noexcept {
        static_assert(KeepPrefixes, "this tree keeps no prefixes");
        return m_prefix.data() + m_offsets[level] + node * Fanout;
    }

    /// Bytes of heap storage: leaves plus inner levels (padding included).
    size_type memory_bytes() const noexcept {
        return (m_leaves.size() + m_inner.size() + m_prefix.size()) * sizeof(T);
    }

    /// O(Fanout * depth). Sets a leaf and recomputes the entries on its path to the root.
    void set(size_type index, T value) noexcept {
        PER_ASSERT(index < m_capacity);
        m_leaves[index] = value;
        size_type child = index / Fanout;
        T reduced = reduce_node(leaf_node(child));
        for (size_type level = m_depth; level-- > 0;) {
            m_inner[m_offsets[level] + child] = reduced;
            child /= Fanout;
            reduced = refresh_node(level, child);
        }
        m_root = reduced;
    }

    /// The leaves set_batch handles per pass: its scratch (one node index per leaf) lives on
    /// the stack.
    static constexpr size_type batch_chunk = 256;

    /// Equivalent to set(indices[k], values[k]) for k = 0, 1, ..., count - 1 in this order
    /// (for a repeated index the last value stays), bit for bit, but each entry on the union
    /// of the paths is recomputed once per pass of batch_chunk leaves instead of once per leaf,
    /// level by level: the nodes of one level are independent of each other, so their
    /// dependency chains (a node's left fold) and cache misses overlap. O(count * Fanout *
    /// depth) at worst; for a batch of B random leaves, about B * Fanout per level while the
    /// level has more than B nodes, and the whole level above that. Before writing leaf
    /// indices[k] it calls on_write(k, old value of that leaf); once all leaves of a pass are
    /// written, it calls on_leaf_node(n) for each leaf node n they are in, once each (twice at
    /// most, rarely, on levels too wide for exact deduplication), before the entries above are
    /// recomputed. Precondition: every index < capacity().
    template <class OnWrite, class OnLeafNode>
    void set_batch(const size_type* indices, const T* values, size_type count, OnWrite&& on_write,
                   OnLeafNode&& on_leaf_node) noexcept {
        constexpr size_type lookahead = 8;
        for (size_type begin = 0; begin < count; begin += batch_chunk) {
            const size_type size = count - begin < batch_chunk ? count - begin : batch_chunk;
            size_type nodes[batch_chunk];
            for (size_type q = 0; q < size; ++q) {
                if (q + lookahead < size) {
                    prefetch(m_leaves.data() + indices[begin + q + lookahead]);
                }
                const size_type index = indices[begin + q];
                PER_ASSERT(index < m_capacity);
                on_write(begin + q, m_leaves[index]);
                m_leaves[index] = values[begin + q];
                nodes[q] = index / Fanout;
            }
            refresh_leaf_nodes(nodes, size, on_leaf_node);
        }
    }

    /// O(1). A hint without effect on the contents: starts loading the leaf's line and, on
    /// the lowest inner level, the entry line (and prefix line) of its leaf node: the lines of a
    /// set_batch that the rest of a batch of random leaves is unlikely to share. Precondition:
    /// index < capacity().
    void prefetch_leaf_and_parent(size_type index) const noexcept {
        PER_ASSERT(index < m_capacity);
        prefetch(m_leaves.data() + index);
        const size_type entry = m_offsets[m_depth - 1] + index / Fanout;
        prefetch(m_inner.data() + entry);
        if constexpr (KeepPrefixes) {
            prefetch(m_prefix.data() + entry);
        }
    }

    /// O(depth). A hint without effect on the contents: starts loading the lines that
    /// set(index) reads and writes (the leaf line and, per inner level, the entry line and the
    /// prefix line of the node on the path), so that their cache misses overlap each other and
    /// whatever the caller does before set(). Precondition: index < capacity().
    void prefetch_path(size_type index) const noexcept {
        PER_ASSERT(index < m_capacity);
        prefetch(m_leaves.data() + index);
        size_type child = index / Fanout;
        for (size_type level = m_depth; level-- > 0;) {
            prefetch(m_inner.data() + m_offsets[level] + child);
            if constexpr (KeepPrefixes) {
                prefetch(m_prefix.data() + m_offsets[level] + child);
            }
            child /= Fanout;
        }
    }

    /// O(capacity). Every leaf back to identity().
    void clear() noexcept {
        std::fill(m_leaves.begin(), m_leaves.end(), Reduce::identity());
        std::fill(m_inner.begin(), m_inner.end(), Reduce::identity());
        if constexpr (KeepPrefixes) {
            rebuild();
        }
        m_root = Reduce::identity();
    }

    /// O(capacity). Replaces the leaves with [first, first + count) followed by identity(), and
    /// recomputes every inner entry bottom-up with the same reductions set() uses.
    template <class Iterator>
    void assign(Iterator first, size_type count) {
        PER_ASSERT(count <= m_capacity);
        auto out = m_leaves.begin();
        for (size_type i = 0; i < count; ++i, ++first, ++out) {
            *out = static_cast<T>(*first);
        }
        std::fill(out, m_leaves.end(), Reduce::identity());
        rebuild();
    }

    /// O(capacity). Recomputes all inner entries from the leaves.
    void rebuild() noexcept {
        if (m_depth == 0) { // capacity 0
            m_root = Reduce::identity();
            return;
        }
        size_type level = m_depth - 1;
        for (size_type child = 0; child * Fanout < m_leaves.size(); ++child) {
            m_inner[m_offsets[level] + child] = reduce_node(leaf_node(child));
        }
        for (;;) {
            const size_type nodes = level_entries(level) / Fanout;
            for (size_type node = 0; node < nodes; ++node) {
                const T reduced = refresh_node(level, node);
                if (level > 0) {
                    m_inner[m_offsets[level - 1] + node] = reduced;
                } else {
                    m_root = reduced;
                }
            }
            if (level-- == 0) {
                break;
            }
        }
    }

    void swap(kary_tree& other) noexcept {
        std::swap(m_capacity, other.m_capacity);
        std::swap(m_depth, other.m_depth);
        // Whole-array copies rather than std::swap's element by element: three block moves
        // (what every move of a tree costs, and instrumented builds check each element).
        const auto swap_levels = [](level_array& a, level_array& b) noexcept {
            const level_array kept = a;
            a = b;
            b = kept;
        };
        swap_levels(m_offsets, other.m_offsets);
        swap_levels(m_nodes_below, other.m_nodes_below);
        swap_levels(m_full_nodes, other.m_full_nodes);
        m_leaves.swap(other.m_leaves);
        m_inner.swap(other.m_inner);
        m_prefix.swap(other.m_prefix);
        std::swap(m_root, other.m_root);
    }

    /// The left fold of one node's Fanout values: the only way entries are ever computed, so
    /// that a search that accumulates a node's values left to right reproduces them exactly.
    static T reduce_node(const T* node) noexcept {
        T result = node[0];
        for (size_type k = 1; k < Fanout; ++k) {
            result = Reduce::combine(result, node[k]);
        }
        return result;
    }

private:
    // Levels with at most this many nodes are deduplicated exactly (a bit per node on the
    // stack); on wider levels only repeats next to each other are dropped, and the rare other
    // repeat recomputes a node twice, which gives the same value again.
    static constexpr size_type exact_dedup_nodes = 4096;

    // Keeps one copy of each of nodes[0..count) (each < universe), in order of first
    // appearance, and returns how many remain.
    static size_type drop_repeats(size_type* nodes, size_type count, size_type universe) noexcept {
        size_type kept = 0;
        if (universe <= exact_dedup_nodes) {
            std::uint64_t seen[exact_dedup_nodes / 64];
            std::fill_n(seen, (universe + 63) / 64, std::uint64_t{0});
            for (size_type q = 0; q < count; ++q) {
                const size_type node = nodes[q];
                const std::uint64_t bit = std::uint64_t{1} << (node % 64);
                if ((seen[node / 64] & bit) == 0) {
                    seen[node / 64] |= bit;
                    nodes[kept++] = node;
                }
            }
        } else {
            for (size_type q = 0; q < count; ++q) {
                if (kept == 0 || nodes[kept - 1] != nodes[q]) {
                    nodes[kept++] = nodes[q];
                }
            }
        }
        return kept;
    }

    // Recomputes every entry above the leaf nodes nodes[0..count) (whose leaves were written),
    // one level at a time, each node once. Overwrites nodes[].
    template <class OnLeafNode>
    void refresh_leaf_nodes(size_type* nodes, size_type count, OnLeafNode& on_leaf_node) noexcept {
        if (m_depth == 0) {
            return;
        }
        size_type level = m_depth - 1;
        count = drop_repeats(nodes, count, m_nodes_below[level]);
        for (size_type q = 0; q < count; ++q) {
            on_leaf_node(nodes[q]);
        }
        T* entries = m_inner.data() + m_offsets[level];
        for (size_type q = 0; q < count; ++q) {
            const size_type child = nodes[q];
            if constexpr (KeepPrefixes) { // read by the refresh of its node, below
                prefetch(m_prefix.data() + m_offsets[level] + child);
            }
            entries[child] = reduce_node(leaf_node(child));
        }
        for (;;) {
            for (size_type q = 0; q < count; ++q) {
                nodes[q] /= Fanout;
            }
            count = drop_repeats(nodes, count, level_entries(level) / Fanout);
            if (level == 0) {
                PER_ASSERT(count == 1 && nodes[0] == 0);
                m_root = refresh_node(0, 0);
                return;
            }
            T* above = m_inner.data() + m_offsets[level - 1];
            for (size_type q = 0; q < count; ++q) {
                const size_type node = nodes[q];
                if constexpr (KeepPrefixes) {
                    prefetch(m_prefix.data() + m_offsets[level - 1] + node);
                }
                above[node] = refresh_node(level, node);
            }
            --level;
        }
    }

    /// Recomputes the exclusive running reductions of an inner node (KeepPrefixes) and returns
    /// the node's reduction, which is the same left fold as reduce_node.
    T refresh_node(size_type level, size_type node) noexcept {
        const T* entries = inner_node(level, node);
        if constexpr (KeepPrefixes) {
            static_assert(std::is_same_v<Reduce, sum_reduce<T>>, "prefixes are running sums");
            T* prefix = m_prefix.data() + m_offsets[level] + node * Fanout;
            if (node < m_full_nodes[level]) {
                return exclusive_running_sums<T, Fanout>(entries, prefix);
            }
            // The last node of its level, with padding entries (always zero, so leaving them
            // out of the sum changes nothing): their prefixes keep the +infinity set by the
            // constructor.
            const size_type stored = m_nodes_below[level] - node * Fanout;
            T running = entries[0];
            for (size_type k = 1; k < stored; ++k) {
                prefix[k] = running;
                running += entries[k];
            }
            return running;
        } else {
            return reduce_node(entries);
        }
    }

    static constexpr size_type ceil_div(size_type a, size_type b) noexcept {
        return a / b + (a % b != 0);
    }

    size_type level_entries(size_type level) const noexcept {
        const size_type end = level + 1 < m_depth ? m_offsets[level + 1] : m_inner.size();
        return end - m_offsets[level];
    }

    size_type m_capacity = 0;
    size_type m_depth = 0; ///< number of inner levels, >= 1 unless the capacity is 0
    using level_array = std::array<size_type, max_depth>;
    level_array m_offsets{};
    level_array m_nodes_below{}; ///< stored nodes on the level below
    level_array m_full_nodes{};  ///< nodes with no padding entries
    storage m_leaves;
    storage m_inner;
    storage m_prefix; ///< empty unless KeepPrefixes
    T m_root = Reduce::identity();
};

} // namespace per::detail

#endif // PER_DETAIL_KARY_TREE_HPP
