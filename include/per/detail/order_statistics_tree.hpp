#ifndef PER_DETAIL_ORDER_STATISTICS_TREE_HPP
#define PER_DETAIL_ORDER_STATISTICS_TREE_HPP

#include "aligned_allocator.hpp"
#include "assert.hpp"
#include "prefetch.hpp"
#include "special_members.hpp"

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <utility>
#include <vector>

namespace per::detail {

/// The index behind rank_based_sampler: the filled slots of a buffer, kept sorted by rank, with
/// both directions of the rank <-> slot mapping in O(log N).
///
/// Keys. Slot s has the key (priority(s), stamp(s)); s precedes t (has the better, i.e. smaller,
/// rank) if priority(s) > priority(t), or if the priorities compare equal and
/// stamp(s) > stamp(t). The owner gives every insertion a distinct stamp (rank_based_sampler:
/// the number of fills so far), so the order is total and ties between equal priorities go to
/// the more recent stamp. Priorities are compared with > and ==, so 0.0 and -0.0 tie.
///
/// Structure. A B+ tree counted for order statistics: leaves hold up to LeafCapacity entries
/// (key and slot) in rank order, inner nodes up to Fanout children with, per child, the number
/// of entries below it and a separator key (a lower bound of the child's keys). Every leaf is at
/// the same depth and every node but the root is at least half full, so the height is at most
/// 1 + log_{Fanout/2}(N / (LeafCapacity/2)): 5 levels for 4 million entries with the default
/// 31 / 31. The point of wide nodes is memory latency: a descent touches a handful of nodes
/// (each a few adjacent cache lines in one page) where a binary tree would take ~22 dependent
/// cache and TLB misses (docs/implementation-notes.md compares the two). Nodes live in two pools
/// allocated at construction for the worst case, so no operation allocates, and every operation is
/// deterministic. Besides the tree, each slot's key is kept in an array indexed by slot, to find
/// the slot's entry by descending on its key.
///
/// Complexity: insert, erase, position (slot -> rank) and select (rank -> slot) are
/// O(log N) node visits, each O(Fanout); select_batch does B selects level by level, so that
/// their memory accesses overlap. clear is O(capacity), assign O(capacity + N log N).
///
/// Nothing here validates input: preconditions are checked by PER_ASSERT, and the public
/// classes that use the tree validate their arguments first. No member throws except the
/// constructor and assign (std::bad_alloc).
template <std::size_t LeafCapacity, std::size_t Fanout>
class basic_order_statistics_tree {
    static_assert(LeafCapacity >= 3, "a leaf must split into two non-empty halves");
    static_assert(Fanout >= 4, "inner nodes need at least two children after a split");

public:
    using size_type = std::size_t;
    using index_type = std::uint32_t;

    static constexpr size_type leaf_capacity = LeafCapacity;
    static constexpr size_type fanout = Fanout;
    static constexpr index_type nil = std::numeric_limits<index_type>::max();

    /// Slots are 0..max_capacity()-1 (32-bit indices, one value kept for nil).
    static constexpr size_type max_capacity() noexcept { return nil; }

    /// O(capacity). A tree of `capacity` slots, none of them in the tree.
    /// Precondition: 0 < capacity <= max_capacity(). Throws std::bad_alloc.
    explicit basic_order_statistics_tree(size_type capacity)
        : m_keys(capacity)
        , m_leaves(max_leaves(capacity))
        , m_inner(max_inner(capacity)) {
        PER_ASSERT(capacity > 0 && capacity <= max_capacity());
        m_free_leaves.reserve(m_leaves.size());
        m_free_inner.reserve(m_inner.size());
        reset_pools();
    }

    /// Copies (std::bad_alloc), with the node pools' free stacks reserved to their full size
    /// as the constructor reserves them (a plain vector copy would reserve only the entries
    /// present, and erasing a node would then allocate).
    basic_order_statistics_tree(const basic_order_statistics_tree& other)
        : m_keys(other.m_keys)
        , m_leaves(other.m_leaves)
        , m_inner(other.m_inner)
        , m_root(other.m_root)
        , m_height(other.m_height)
        , m_size(other.m_size) {
        m_free_leaves.reserve(m_leaves.size());
        m_free_leaves.assign(other.m_free_leaves.begin(), other.m_free_leaves.end());
        m_free_inner.reserve(m_inner.size());
        m_free_inner.assign(other.m_free_inner.begin(), other.m_free_inner.end());
    }
    /// Takes the other tree's storage; the other tree is left with capacity 0 and no pools.
    basic_order_statistics_tree(basic_order_statistics_tree&& other) noexcept { swap(other); }
    /// Strong guarantee: on std::bad_alloc the tree is unchanged.
    basic_order_statistics_tree& operator=(const basic_order_statistics_tree& other) {
        return assign_copy(*this, other);
    }
    /// As the move constructor. Self-move: no-op.
    basic_order_statistics_tree& operator=(basic_order_statistics_tree&& other) noexcept {
        if (this != &other) {
            basic_order_statistics_tree taken(std::move(other));
            swap(taken);
        }
        return *this;
    }
    ~basic_order_statistics_tree() = default;

    void swap(basic_order_statistics_tree& other) noexcept {
        m_keys.swap(other.m_keys);
        m_leaves.swap(other.m_leaves);
        m_inner.swap(other.m_inner);
        m_free_leaves.swap(other.m_free_leaves);
        m_free_inner.swap(other.m_free_inner);
        std::swap(m_root, other.m_root);
        std::swap(m_height, other.m_height);
        std::swap(m_size, other.m_size);
    }

    size_type capacity() const noexcept { return m_keys.size(); }
    /// Number of slots in the tree.
    size_type size() const noexcept { return m_size; }
    bool contains(size_type slot) const noexcept { return m_keys[slot].priority >= 0.0; }
    /// The key parts of a slot in the tree.
    double priority(size_type slot) const noexcept { return m_keys[slot].priority; }
    std::uint64_t stamp(size_type slot) const noexcept { return m_keys[slot].stamp; }
    /// A hint: starts loading the key of `slot` (contains, priority and stamp read it, and so
    /// does every insert or erase of the slot). Precondition: slot < capacity().
    void prefetch_key(size_type slot) const noexcept { prefetch(m_keys.data() + slot); }

    /// O(log N). Adds `slot` with the given key. Precondition: slot < capacity(), not in the
    /// tree, priority >= 0 (not NaN), and the stamp differs from every stamp in the tree.
    void insert(size_type slot, double priority, std::uint64_t stamp) noexcept {
        PER_ASSERT(slot < capacity() && !contains(slot) && priority >= 0.0);
        m_keys[slot] = {priority, stamp};
        const key k{priority, stamp};
        const index_type s = static_cast<index_type>(slot);
        if (m_root == nil) {
            m_root = allocate_leaf();
            m_height = 1;
            leaf_node& leaf = m_leaves[m_root];
            leaf.count = 1;
            leaf.priority[0] = priority;
            leaf.stamp[0] = stamp;
            leaf.slot[0] = s;
        } else {
            const split_result split = insert_below(m_root, 0, k, s);
            if (split.right != nil) {
                // The root split: a new root above the two halves.
                const index_type root = allocate_inner();
                inner_node& n = m_inner[root];
                n.count = 2;
                n.child[0] = m_root;
                n.size[0] = static_cast<index_type>(m_size + 1 - split.right_size);
                n.priority[0] = split.separator.priority; // unused: the root has no lower bound
                n.stamp[0] = split.separator.stamp;
                n.child[1] = split.right;
                n.size[1] = static_cast<index_type>(split.right_size);
                n.priority[1] = split.separator.priority;
                n.stamp[1] = split.separator.stamp;
                m_root = root;
                ++m_height;
            }
        }
        ++m_size;
    }

    /// O(log N). Removes `slot`. Precondition: slot is in the tree.
    void erase(size_type slot) noexcept {
        PER_ASSERT(slot < capacity() && contains(slot));
        const key k{m_keys[slot].priority, m_keys[slot].stamp};
        erase_below(m_root, 0, k, static_cast<index_type>(slot));
        m_keys[slot].priority = absent;
        --m_size;
        if (m_height == 1) {
            if (m_leaves[m_root].count == 0) {
                free_leaf(m_root);
                m_root = nil;
                m_height = 0;
            }
        } else if (m_inner[m_root].count == 1) {
            const index_type old = m_root;
            m_root = m_inner[old].child[0];
            free_inner(old);
            --m_height;
        }
    }

    /// O(log N). The 0-based rank of `slot`: how many slots precede it. Precondition: slot is
    /// in the tree.
    size_type position(size_type slot) const noexcept {
        PER_ASSERT(slot < capacity() && contains(slot));
        const key k{m_keys[slot].priority, m_keys[slot].stamp};
        size_type before = 0;
        index_type node = m_root;
        for (size_type level = 0; level + 1 < m_height; ++level) {
            const inner_node& n = m_inner[node];
            const size_type j = child_index(n, k);
            for (size_type c = 0; c < j; ++c) {
                before += n.size[c];
            }
            node = n.child[j];
        }
        const size_type i = find_in_leaf(m_leaves[node], k);
        PER_ASSERT(m_leaves[node].slot[i] == slot);
        return before + i;
    }

    /// O(log N). The slot with 0-based rank `position`. Precondition: position < size().
    size_type select(size_type position) const noexcept {
        PER_ASSERT(position < m_size);
        index_type node = m_root;
        for (size_type level = 0; level + 1 < m_height; ++level) {
            const inner_node& n = m_inner[node];
            size_type j = 0;
            while (position >= n.size[j]) {
                position -= n.size[j];
                ++j;
            }
            node = n.child[j];
        }
        return m_leaves[node].slot[position];
    }

    /// O(count log N). Replaces each positions[k] (a 0-based rank < size()) by the slot holding
    /// it. Every leaf is at the same depth, so the descents of a chunk go down together, one
    /// level per round, and their cache misses overlap instead of waiting for each other.
    void select_batch(size_type* positions, size_type count) const noexcept {
        constexpr size_type chunk = 32;
        index_type at[chunk];
        for (size_type begin = 0; begin < count; begin += chunk) {
            const size_type size = count - begin < chunk ? count - begin : chunk;
            size_type* position = positions + begin;
            for (size_type q = 0; q < size; ++q) {
                PER_ASSERT(position[q] < m_size);
                at[q] = m_root;
            }
            for (size_type level = 0; level + 1 < m_height; ++level) {
                for (size_type q = 0; q < size; ++q) {
                    const inner_node& n = m_inner[at[q]];
                    size_type j = 0;
                    while (position[q] >= n.size[j]) {
                        position[q] -= n.size[j];
                        ++j;
                    }
                    at[q] = n.child[j];
                }
            }
            for (size_type q = 0; q < size; ++q) {
                position[q] = m_leaves[at[q]].slot[position[q]];
            }
        }
    }

    /// O(capacity). Removes every slot.
    void clear() noexcept {
        for (slot_key& k : m_keys) {
            k.priority = absent;
        }
        reset_pools();
    }

    /// O(capacity + N log N). Replaces the contents: slot s is in the tree with key
    /// (priorities[s], stamps[s]) if priorities[s] >= 0, and absent otherwise (arrays of
    /// capacity() values), as if the present slots had been inserted (for restoring a saved
    /// state). Precondition: no NaN priority; distinct stamps among the present slots. Throws
    /// std::bad_alloc (for a staging array) before changing anything.
    void assign(const double* priorities, const std::uint64_t* stamps) {
        std::vector<index_type> order;
        for (size_type slot = 0; slot < capacity(); ++slot) {
            PER_ASSERT(!(priorities[slot] != priorities[slot]));
            if (priorities[slot] >= 0.0) {
                order.push_back(static_cast<index_type>(slot));
            }
        }
        std::sort(order.begin(), order.end(), [&](index_type a, index_type b) {
            return precedes(key{priorities[a], stamps[a]}, key{priorities[b], stamps[b]});
        });
        // Nothing below throws. Inserting in rank order always appends to the last leaf.
        clear();
        for (index_type slot : order) {
            insert(slot, priorities[slot], stamps[slot]);
        }
    }

    /// The number of levels (0 when empty, 1 for a lone leaf).
    size_type height() const noexcept { return m_height; }

    /// Bytes of heap storage: the keys per slot plus both node pools (sized for the worst
    /// case, every node half full).
    size_type memory_bytes() const noexcept {
        return m_keys.size() * sizeof(slot_key) + m_leaves.size() * sizeof(leaf_node) +
               m_inner.size() * sizeof(inner_node) +
               (m_free_leaves.capacity() + m_free_inner.capacity()) * sizeof(index_type);
    }

    /// O(capacity). Whether every invariant holds: rank order and separators, subtree sizes,
    /// node fill, equal leaf depth, the per-slot keys, the count of present slots, and the
    /// node pools. For tests.
    bool valid() const {
        size_type present = 0;
        for (size_type slot = 0; slot < capacity(); ++slot) {
            present += contains(slot);
        }
        if (present != m_size) {
            return false;
        }
        if (m_root == nil) {
            return m_height == 0 && m_size == 0 && m_free_leaves.size() == m_leaves.size() &&
                   m_free_inner.size() == m_inner.size();
        }
        walk state;
        if (!check(m_root, 0, nullptr, nullptr, state)) {
            return false;
        }
        const size_type entries = state.entries;
        const size_type leaves = state.leaves;
        const size_type inner = state.inner;
        return entries == m_size && leaves + m_free_leaves.size() == m_leaves.size() &&
               inner + m_free_inner.size() == m_inner.size();
    }

private:
    static constexpr double absent = -1.0; ///< the priority of a slot outside the tree
    static constexpr size_type min_leaf = LeafCapacity / 2;
    static constexpr size_type min_inner = Fanout / 2;

    struct key {
        double priority;
        std::uint64_t stamp;
    };
    struct slot_key {
        double priority = absent;
        std::uint64_t stamp = 0;
    };

    /// Structure of arrays, so that a search reads consecutive priorities.
    struct alignas(cache_line_bytes) leaf_node {
        double priority[LeafCapacity];
        std::uint64_t stamp[LeafCapacity];
        index_type slot[LeafCapacity];
        index_type count;
    };
    struct alignas(cache_line_bytes) inner_node {
        double priority[Fanout]; ///< separator of child j: a lower bound of its keys (j >= 1)
        std::uint64_t stamp[Fanout];
        index_type child[Fanout];
        index_type size[Fanout]; ///< entries below child j
        index_type count;        ///< children
    };

    /// A node split below: the new right sibling (nil if none), its separator and its size.
    struct split_result {
        index_type right = nil;
        key separator{};
        size_type right_size = 0;
    };

    static bool precedes(const key& a, const key& b) noexcept {
        return a.priority > b.priority || (a.priority == b.priority && a.stamp > b.stamp);
    }
    static key leaf_key(const leaf_node& leaf, size_type i) noexcept {
        return {leaf.priority[i], leaf.stamp[i]};
    }
    static key separator(const inner_node& n, size_type j) noexcept {
        return {n.priority[j], n.stamp[j]};
    }

    /// The worst-case pool sizes: every node but the root half full.
    static size_type max_leaves(size_type capacity) noexcept {
        return std::max<size_type>(1, capacity / min_leaf);
    }
    static size_type max_inner(size_type capacity) noexcept {
        size_type total = 1;
        for (size_type nodes = max_leaves(capacity); nodes > 1;) {
            nodes = std::max<size_type>(1, nodes / min_inner);
            total += nodes;
        }
        return total;
    }

    void reset_pools() noexcept {
        // Pools are handed out from low indices first: a young tree stays compact.
        m_free_leaves.clear();
        for (size_type i = m_leaves.size(); i-- > 0;) {
            m_free_leaves.push_back(static_cast<index_type>(i));
        }
        m_free_inner.clear();
        for (size_type i = m_inner.size(); i-- > 0;) {
            m_free_inner.push_back(static_cast<index_type>(i));
        }
        m_root = nil;
        m_height = 0;
        m_size = 0;
    }
    index_type allocate_leaf() noexcept {
        PER_ASSERT(!m_free_leaves.empty());
        const index_type leaf = m_free_leaves.back();
        m_free_leaves.pop_back(); // never reallocates: capacity reserved
        m_leaves[leaf].count = 0;
        return leaf;
    }
    index_type allocate_inner() noexcept {
        PER_ASSERT(!m_free_inner.empty());
        const index_type node = m_free_inner.back();
        m_free_inner.pop_back();
        m_inner[node].count = 0;
        return node;
    }
    void free_leaf(index_type leaf) noexcept { m_free_leaves.push_back(leaf); }
    void free_inner(index_type node) noexcept { m_free_inner.push_back(node); }

    /// How many of the `count` keys (sorted in rank order) precede k, or precede or equal it
    /// when `or_equal`. Counting the larger priorities is branch-free, which beats a binary
    /// search whose every comparison is a coin flip for the branch predictor; then the run of
    /// equal priorities, usually empty, is walked by stamp.
    static size_type count_preceding(const double* priorities, const std::uint64_t* stamps,
                                     size_type count, const key& k, bool or_equal) noexcept {
        size_type i = 0;
        for (size_type e = 0; e < count; ++e) {
            i += priorities[e] > k.priority;
        }
        while (i < count && priorities[i] == k.priority &&
               (stamps[i] > k.stamp || (or_equal && stamps[i] == k.stamp))) {
            ++i;
        }
        return i;
    }
    /// The child of n whose key range holds k: the last j whose separator does not follow k
    /// (child 0 when k precedes every separator; separator 0 is not a bound).
    static size_type child_index(const inner_node& n, const key& k) noexcept {
        return count_preceding(n.priority + 1, n.stamp + 1, n.count - 1u, k, true);
    }
    /// Where k goes in the leaf, or where it is if present: the number of entries preceding it.
    static size_type leaf_position(const leaf_node& leaf, const key& k) noexcept {
        return count_preceding(leaf.priority, leaf.stamp, leaf.count, k, false);
    }
    /// The entry of the leaf equal to k, which must be there.
    static size_type find_in_leaf(const leaf_node& leaf, const key& k) noexcept {
        const size_type i = leaf_position(leaf, k);
        PER_ASSERT(i < leaf.count && leaf.priority[i] == k.priority && leaf.stamp[i] == k.stamp);
        return i;
    }

    static void leaf_insert_at(leaf_node& leaf, size_type i, const key& k,
                               index_type slot) noexcept {
        PER_ASSERT(leaf.count < LeafCapacity && i <= leaf.count);
        for (size_type e = leaf.count; e > i; --e) {
            leaf.priority[e] = leaf.priority[e - 1];
            leaf.stamp[e] = leaf.stamp[e - 1];
            leaf.slot[e] = leaf.slot[e - 1];
        }
        leaf.priority[i] = k.priority;
        leaf.stamp[i] = k.stamp;
        leaf.slot[i] = slot;
        ++leaf.count;
    }
    static void leaf_remove_at(leaf_node& leaf, size_type i) noexcept {
        for (size_type e = i + 1; e < leaf.count; ++e) {
            leaf.priority[e - 1] = leaf.priority[e];
            leaf.stamp[e - 1] = leaf.stamp[e];
            leaf.slot[e - 1] = leaf.slot[e];
        }
        --leaf.count;
    }
    /// Moves entries [from, from + count) of `source` to the end of `target`.
    static void leaf_append(leaf_node& target, const leaf_node& source, size_type from,
                            size_type count) noexcept {
        for (size_type e = 0; e < count; ++e) {
            target.priority[target.count + e] = source.priority[from + e];
            target.stamp[target.count + e] = source.stamp[from + e];
            target.slot[target.count + e] = source.slot[from + e];
        }
        target.count += static_cast<index_type>(count);
    }

    static void inner_insert_at(inner_node& n, size_type j, index_type child, size_type size,
                                const key& sep) noexcept {
        PER_ASSERT(n.count < Fanout && j <= n.count);
        for (size_type c = n.count; c > j; --c) {
            n.priority[c] = n.priority[c - 1];
            n.stamp[c] = n.stamp[c - 1];
            n.child[c] = n.child[c - 1];
            n.size[c] = n.size[c - 1];
        }
        n.priority[j] = sep.priority;
        n.stamp[j] = sep.stamp;
        n.child[j] = child;
        n.size[j] = static_cast<index_type>(size);
        ++n.count;
    }
    static void inner_remove_at(inner_node& n, size_type j) noexcept {
        for (size_type c = j + 1; c < n.count; ++c) {
            n.priority[c - 1] = n.priority[c];
            n.stamp[c - 1] = n.stamp[c];
            n.child[c - 1] = n.child[c];
            n.size[c - 1] = n.size[c];
        }
        --n.count;
    }
    /// Moves children [from, from + count) of `source` (with sizes and separators) to the end
    /// of `target`.
    static void inner_append(inner_node& target, const inner_node& source, size_type from,
                             size_type count) noexcept {
        for (size_type c = 0; c < count; ++c) {
            target.priority[target.count + c] = source.priority[from + c];
            target.stamp[target.count + c] = source.stamp[from + c];
            target.child[target.count + c] = source.child[from + c];
            target.size[target.count + c] = source.size[from + c];
        }
        target.count += static_cast<index_type>(count);
    }
    static size_type total_size(const inner_node& n) noexcept {
        size_type total = 0;
        for (size_type c = 0; c < n.count; ++c) {
            total += n.size[c];
        }
        return total;
    }

    bool is_leaf_level(size_type level) const noexcept { return level + 1 == m_height; }

    /// Inserts (k, slot) below `node`; a full node splits, and the split is reported upwards.
    split_result insert_below(index_type node, size_type level, const key& k,
                              index_type slot) noexcept {
        if (is_leaf_level(level)) {
            leaf_node& leaf = m_leaves[node];
            const size_type i = leaf_position(leaf, k);
            if (leaf.count < LeafCapacity) {
                leaf_insert_at(leaf, i, k, slot);
                return {};
            }
            const index_type right = allocate_leaf();
            leaf_node& other = m_leaves[right];
            leaf_append(other, leaf, min_leaf, LeafCapacity - min_leaf);
            leaf.count = static_cast<index_type>(min_leaf);
            if (i <= min_leaf) {
                leaf_insert_at(leaf, i, k, slot);
            } else {
                leaf_insert_at(other, i - min_leaf, k, slot);
            }
            return {right, leaf_key(other, 0), other.count};
        }
        inner_node& n = m_inner[node];
        const size_type j = child_index(n, k);
        const split_result below = insert_below(n.child[j], level + 1, k, slot);
        ++n.size[j];
        if (below.right == nil) {
            return {};
        }
        n.size[j] -= static_cast<index_type>(below.right_size);
        if (n.count < Fanout) {
            inner_insert_at(n, j + 1, below.right, below.right_size, below.separator);
            return {};
        }
        const index_type right = allocate_inner();
        inner_node& other = m_inner[right];
        inner_append(other, n, min_inner, Fanout - min_inner);
        n.count = static_cast<index_type>(min_inner);
        if (j + 1 <= min_inner) {
            inner_insert_at(n, j + 1, below.right, below.right_size, below.separator);
        } else {
            inner_insert_at(other, j + 1 - min_inner, below.right, below.right_size,
                            below.separator);
        }
        // The right node's first separator is its lower bound, which the parent takes over.
        return {right, separator(other, 0), total_size(other)};
    }

    size_type node_count(index_type node, size_type level) const noexcept {
        return is_leaf_level(level) ? m_leaves[node].count : m_inner[node].count;
    }

    /// Removes (k, slot) below `node`; returns whether the node is now below its minimum fill.
    bool erase_below(index_type node, size_type level, const key& k, index_type slot) noexcept {
        if (is_leaf_level(level)) {
            leaf_node& leaf = m_leaves[node];
            const size_type i = find_in_leaf(leaf, k);
            PER_ASSERT(leaf.slot[i] == slot);
            (void)slot;
            leaf_remove_at(leaf, i);
            return leaf.count < min_leaf;
        }
        inner_node& n = m_inner[node];
        const size_type j = child_index(n, k);
        const bool underfull = erase_below(n.child[j], level + 1, k, slot);
        --n.size[j];
        if (underfull) {
            refill_child(n, j, level + 1);
        }
        return n.count < min_inner;
    }

    /// Child j of n (on `level`) is one below its minimum: borrow from a sibling that can
    /// spare one, else merge with a sibling.
    void refill_child(inner_node& n, size_type j, size_type level) noexcept {
        PER_ASSERT(n.count >= 2);
        const size_type minimum = is_leaf_level(level) ? min_leaf : min_inner;
        if (j > 0 && node_count(n.child[j - 1], level) > minimum) {
            borrow_from_left(n, j, level);
        } else if (j + 1 < n.count && node_count(n.child[j + 1], level) > minimum) {
            borrow_from_right(n, j, level);
        } else if (j > 0) {
            merge_children(n, j - 1, level);
        } else {
            merge_children(n, j, level);
        }
    }

    /// Child j takes the last entry (or child) of child j - 1.
    void borrow_from_left(inner_node& n, size_type j, size_type level) noexcept {
        size_type moved = 1;
        if (is_leaf_level(level)) {
            leaf_node& left = m_leaves[n.child[j - 1]];
            leaf_node& leaf = m_leaves[n.child[j]];
            const size_type last = left.count - 1u;
            leaf_insert_at(leaf, 0, leaf_key(left, last), left.slot[last]);
            left.count = static_cast<index_type>(last);
            // The leaf's new lower bound is its new first key.
            n.priority[j] = leaf.priority[0];
            n.stamp[j] = leaf.stamp[0];
        } else {
            inner_node& left = m_inner[n.child[j - 1]];
            inner_node& node = m_inner[n.child[j]];
            const size_type last = left.count - 1u;
            moved = left.size[last];
            // The old first child's lower bound was n's separator j; the node's new lower
            // bound is the moved child's.
            node.priority[0] = n.priority[j];
            node.stamp[0] = n.stamp[j];
            inner_insert_at(node, 0, left.child[last], moved, separator(left, last));
            n.priority[j] = left.priority[last];
            n.stamp[j] = left.stamp[last];
            left.count = static_cast<index_type>(last);
        }
        n.size[j] += static_cast<index_type>(moved);
        n.size[j - 1] -= static_cast<index_type>(moved);
    }

    /// Child j takes the first entry (or child) of child j + 1.
    void borrow_from_right(inner_node& n, size_type j, size_type level) noexcept {
        if (is_leaf_level(level)) {
            leaf_node& leaf = m_leaves[n.child[j]];
            leaf_node& right = m_leaves[n.child[j + 1]];
            leaf_append(leaf, right, 0, 1);
            leaf_remove_at(right, 0);
            n.priority[j + 1] = right.priority[0];
            n.stamp[j + 1] = right.stamp[0];
            ++n.size[j];
            --n.size[j + 1];
        } else {
            inner_node& node = m_inner[n.child[j]];
            inner_node& right = m_inner[n.child[j + 1]];
            const size_type moved = right.size[0];
            // The moved child's lower bound is the right node's, n's separator j + 1.
            inner_insert_at(node, node.count, right.child[0], moved, separator(n, j + 1));
            n.priority[j + 1] = right.priority[1];
            n.stamp[j + 1] = right.stamp[1];
            inner_remove_at(right, 0);
            n.size[j] += static_cast<index_type>(moved);
            n.size[j + 1] -= static_cast<index_type>(moved);
        }
    }

    /// Child j + 1 is appended to child j and removed from n.
    void merge_children(inner_node& n, size_type j, size_type level) noexcept {
        const index_type left = n.child[j];
        const index_type right = n.child[j + 1];
        if (is_leaf_level(level)) {
            leaf_append(m_leaves[left], m_leaves[right], 0, m_leaves[right].count);
            free_leaf(right);
        } else {
            inner_node& target = m_inner[left];
            inner_node& source = m_inner[right];
            const size_type first = target.count;
            inner_append(target, source, 0, source.count);
            target.priority[first] = n.priority[j + 1]; // the right node's lower bound
            target.stamp[first] = n.stamp[j + 1];
            free_inner(right);
        }
        n.size[j] += n.size[j + 1];
        inner_remove_at(n, j + 1);
    }

    /// What valid() accumulates over its walk.
    struct walk {
        size_type entries = 0;
        size_type leaves = 0;
        size_type inner = 0;
        bool has_last = false;
        key last{}; ///< the last entry seen, in rank order
    };

    /// Checks the subtree at `node` on `level`, whose keys must not precede *lower and must
    /// precede *upper (null: unbounded), and that its entries follow state.last in rank order.
    bool check(index_type node, size_type level, const key* lower, const key* upper,
               walk& state) const {
        const bool root = level == 0;
        if (is_leaf_level(level)) {
            if (node >= m_leaves.size()) {
                return false;
            }
            ++state.leaves;
            const leaf_node& leaf = m_leaves[node];
            if (leaf.count > LeafCapacity || leaf.count < (root ? 1 : min_leaf)) {
                return false;
            }
            for (size_type i = 0; i < leaf.count; ++i) {
                const key k = leaf_key(leaf, i);
                const index_type slot = leaf.slot[i];
                if (slot >= capacity() || !contains(slot) || m_keys[slot].priority != k.priority ||
                    m_keys[slot].stamp != k.stamp) {
                    return false;
                }
                if ((lower != nullptr && precedes(k, *lower)) ||
                    (upper != nullptr && !precedes(k, *upper)) ||
                    (state.has_last && !precedes(state.last, k))) {
                    return false;
                }
                state.has_last = true;
                state.last = k;
            }
            state.entries += leaf.count;
            return true;
        }
        if (node >= m_inner.size()) {
            return false;
        }
        ++state.inner;
        const inner_node& n = m_inner[node];
        if (n.count > Fanout || n.count < (root ? 2 : min_inner)) {
            return false;
        }
        for (size_type j = 0; j < n.count; ++j) {
            const key low = separator(n, j);
            const key high = j + 1 < n.count ? separator(n, j + 1) : key{};
            if (j > 0 && ((lower != nullptr && precedes(low, *lower)) ||
                          (upper != nullptr && !precedes(low, *upper)))) {
                return false;
            }
            const size_type before = state.entries;
            if (!check(n.child[j], level + 1, j > 0 ? &low : lower, j + 1 < n.count ? &high : upper,
                       state)) {
                return false;
            }
            if (state.entries - before != n.size[j]) {
                return false;
            }
        }
        return true;
    }

    std::vector<slot_key> m_keys; ///< per slot; priority absent when the slot is not in the tree
    std::vector<leaf_node, aligned_allocator<leaf_node>> m_leaves;
    std::vector<inner_node, aligned_allocator<inner_node>> m_inner;
    std::vector<index_type> m_free_leaves; // stacks of unused nodes
    std::vector<index_type> m_free_inner;
    index_type m_root = nil;
    size_type m_height = 0; ///< levels; the leaves are on level m_height - 1
    size_type m_size = 0;
};

/// The tree rank_based_sampler uses: 31 entries per leaf (640-byte leaves), 31 children per
/// inner node (768-byte nodes).
using order_statistics_tree = basic_order_statistics_tree<31, 31>;

} // namespace per::detail

#endif // PER_DETAIL_ORDER_STATISTICS_TREE_HPP
