#ifndef PER_SUM_TREE_HPP
#define PER_SUM_TREE_HPP

#include "detail/assert.hpp"
#include "detail/error.hpp"
#include "detail/kary_tree.hpp"
#include "detail/prefetch.hpp"
#include "detail/simd.hpp"

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <iterator>
#include <limits>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <vector>

/// @file
/// per::sum_tree, the data structure under proportional prioritized replay.

namespace per {

/// A sum tree ("segment tree of sums") over `capacity` non-negative leaves: set a leaf in
/// O(log N), read the total in O(1), and find the leaf whose cumulative interval contains a
/// prefix value u in O(log N). Sampling a leaf with probability value / total() is
/// find_prefix(total() * U) with U uniform in [0, 1): the core of prioritized replay.
///
/// T is float or double. Each node holds Fanout children in one cache line by default
/// (8 doubles or 16 floats), so a search touches log_Fanout(N) + 1 lines instead of log2(N):
/// 7 instead of 20 at N = 2^20. Inner nodes keep, beside the children's sums, a second line of
/// their exclusive running sums (the sum of the children before each child), so that choosing
/// a child is a few SIMD compares and a count (see detail/simd.hpp: SSE2 on every x86-64, AVX2
/// when the build enables it, a portable loop elsewhere), and making u relative to that child
/// is one subtraction of a value from the same line. find_prefix_batch descends many queries
/// level by level and prefetches each query's next node, so the cache misses of a batch
/// overlap; a build without AVX2 runs it as AVX2 code on a CPU that has it (detail/cpu.hpp),
/// with the same results. docs/sum-tree-layout.md draws the layout. Memory: about
/// sizeof(T) * N * (1 + 2 / (Fanout - 1)) bytes: 10.3 bytes per leaf for doubles.
///
/// float trees are half the size, but their sums carry float rounding, which moves the
/// boundaries between leaves: at large N a small but clearly measurable share of float-tree
/// draws lands on a different leaf than exact prefix sums give, where double trees agree
/// (docs/sum-tree-layout.md, "float or double", has the measurement). The default is double.
///
/// Exactness: inner sums are recomputed from their children on every update, never adjusted by
/// deltas, so total() does not drift over any number of updates: it equals the sum of the leaves
/// up to the rounding of one summation (relative error below depth * Fanout * epsilon(T)), and
/// it is bit-identical to the total of a tree freshly built from the same leaves.
///
/// Search contract: leaf i owns the half-open interval [S(i-1), S(i)) of prefix values, where
/// S(i) is the sum of leaves 0..i as the tree's nodes compute it. find_prefix never returns an
/// index >= capacity() nor a leaf whose value is zero, even when rounding in the inner sums
/// puts u past the last non-empty child of a node: the search then ends on the last non-empty
/// leaf at or before the end of the leaf node it reached, the leaf whose interval ends where u
/// was heading.
///
/// Exceptions: every member that takes user input validates it first and throws
/// std::invalid_argument or std::out_of_range naming the argument and its value; the tree is
/// then unchanged (strong guarantee). Construction may throw std::bad_alloc.
/// Copies and moves: copy assignment is unchanged on std::bad_alloc; moves are noexcept and
/// leave the source with capacity() 0 and total() 0, on which get, set and find_prefix throw
/// std::out_of_range and assign accepts only an empty range; self-assignment does nothing.
/// Thread safety: const members may run concurrently; set/assign/clear need exclusive access.
template <class T = double, std::size_t Fanout = detail::cache_line_fanout<T>>
class sum_tree {
    using core = detail::kary_tree<T, Fanout, detail::sum_reduce<T>, true>;

public:
    /// The type of the leaves and sums.
    using value_type = T;
    /// The type of indices and sizes.
    using size_type = std::size_t;

    /// The number of children per node.
    static constexpr size_type fanout = Fanout;

    /// O(N). A tree of `capacity` leaves, all zero.
    /// Throws std::invalid_argument if capacity is 0, std::length_error if it exceeds
    /// max_capacity(), std::bad_alloc if memory runs out.
    explicit sum_tree(size_type capacity)
        : m_tree(checked_capacity(capacity)) {}

    /// The largest capacity the index arithmetic supports (memory runs out long before).
    static constexpr size_type max_capacity() noexcept { return core::max_capacity(); }

    /// The number of leaves, fixed at construction.
    size_type capacity() const noexcept { return m_tree.capacity(); }

    /// The largest value a leaf accepts: max finite T / (2 * capacity), so that no total of
    /// accepted leaves can overflow to infinity.
    T max_value() const noexcept {
        return std::numeric_limits<T>::max() / (T(2) * static_cast<T>(capacity()));
    }

    /// O(1). The sum of all leaves (see "Exactness" above).
    T total() const noexcept { return m_tree.root(); }

    /// O(1). The value of leaf `index`. Throws std::out_of_range if index >= capacity().
    T get(size_type index) const {
        check_index("per::sum_tree::get", index);
        return m_tree.leaf(index);
    }

    /// get without the bounds check, for callers that know the index is in range (the samplers).
    /// Precondition: index < capacity() (checked by PER_ASSERT).
    T get_unchecked(size_type index) const noexcept {
        PER_ASSERT(index < capacity());
        return m_tree.leaf(index);
    }

    /// O(Fanout * log_Fanout N). Sets leaf `index` to `value` and updates the sums above it.
    /// Throws std::out_of_range if index >= capacity(); std::invalid_argument if value is NaN,
    /// infinite, negative or above max_value(). The tree is unchanged when it throws.
    void set(size_type index, T value) {
        check_index("per::sum_tree::set", index);
        check_value("per::sum_tree::set", "value", value);
        m_tree.set(index, value);
    }

    /// set without validation, for callers that validated the value already (the samplers).
    /// Precondition: index < capacity(), 0 <= value <= max_value() (checked by PER_ASSERT).
    void set_unchecked(size_type index, T value) noexcept {
        PER_ASSERT(index < capacity() && value >= T(0) && value <= max_value());
        m_tree.set(index, value);
    }

    /// O(B Fanout log_Fanout N) at worst, usually much less: equivalent to set(indices[k],
    /// values[k]) for k = 0, ..., count - 1 in this order (a repeated index keeps its last
    /// value), with the same sums bit for bit, but every sum on the union of the B paths is
    /// recomputed once per batch, level by level, with the independent nodes of a level
    /// overlapping their work and cache misses (for 256 random leaves of 2^20, about 950
    /// node recomputes instead of 1,792). Throws std::out_of_range if an index >= capacity(),
    /// std::invalid_argument if a value is NaN, infinite, negative or above max_value() (the
    /// messages give its position k); the tree is unchanged when it throws. Null pointers are
    /// accepted with count 0.
    void set_batch(const size_type* indices, const T* values, size_type count) {
        for (size_type k = 0; k < count; ++k) {
            if (indices[k] >= capacity()) {
                detail::throw_out_of_range("per::sum_tree::set_batch", "indices[k]", indices[k],
                                           "must be < capacity() = " + std::to_string(capacity()) +
                                               at_position(k));
            }
            check_value("per::sum_tree::set_batch", "values[k]", values[k], k);
        }
        set_batch_unchecked(indices, values, count);
    }

    /// set_batch without validation, for callers that validated the input (the samplers).
    /// Calls on_write(k, old value of leaf indices[k]) just before leaf indices[k] takes
    /// values[k] (a repeated index sees the value an earlier k wrote). Precondition: every
    /// index < capacity(), every value in [0, max_value()] (checked by PER_ASSERT).
    template <class OnWrite>
    void set_batch_unchecked(const size_type* indices, const T* values, size_type count,
                             OnWrite&& on_write) noexcept {
        set_batch_unchecked(indices, values, count, on_write, [](size_type) {});
    }
    /// As above, and once all leaves of a pass of batch_chunk indices are written, calls
    /// on_block(b) for each leaf block b (leaves b * Fanout .. b * Fanout + Fanout - 1) they
    /// are in: once per block, or in rare cases twice (at most once per repeat of the block in
    /// the pass), before the sums above are recomputed.
    template <class OnWrite, class OnBlock>
    void set_batch_unchecked(const size_type* indices, const T* values, size_type count,
                             OnWrite&& on_write, OnBlock&& on_block) noexcept {
        m_tree.set_batch(
            indices, values, count,
            [&](size_type k, T old) {
                PER_ASSERT(values[k] >= T(0) && values[k] <= max_value());
                on_write(k, old);
            },
            on_block);
    }
    /// As above, without callbacks.
    void set_batch_unchecked(const size_type* indices, const T* values, size_type count) noexcept {
        set_batch_unchecked(indices, values, count, [](size_type, T) {});
    }

    /// The Fanout leaves of leaf block `block` (leaves block * Fanout and on; past capacity()
    /// the block is padded with zeros), contiguous and aligned to a cache line. Precondition:
    /// block * Fanout < capacity().
    const T* leaf_block(size_type block) const noexcept {
        PER_ASSERT(block * Fanout < capacity());
        return m_tree.leaf_node(block);
    }

    /// O(log_Fanout N). A performance hint with no effect on the tree: starts loading the cache
    /// lines that set(index) will touch, so that a caller with other work to do first (a pow,
    /// validation, the previous update) overlaps their misses with it. Does nothing if
    /// index >= capacity().
    void prefetch_path(size_type index) const noexcept {
        if (index < capacity()) {
            m_tree.prefetch_path(index);
        }
    }

    /// O(1). A hint like prefetch_path for what set_batch touches per leaf of a batch of
    /// random leaves: the leaf's line and the lowest sums above it (the sums further up are
    /// shared with the rest of the batch). Does nothing if index >= capacity().
    void prefetch_leaf(size_type index) const noexcept {
        if (index < capacity()) {
            m_tree.prefetch_leaf_and_parent(index);
        }
    }

    /// The leaves set_batch processes per pass (its scratch lives on the stack).
    static constexpr size_type batch_chunk = core::batch_chunk;

    /// O(N). Leaves 0..count-1 take the values of [first, last) (converted to T), the rest zero.
    /// Throws std::invalid_argument if the range holds more than capacity() values or any value
    /// set() would reject (the message gives its position). The tree is unchanged when it throws.
    template <class InputIterator>
    void assign(InputIterator first, InputIterator last) {
        std::vector<T> values;
        if constexpr (std::is_base_of_v<
                          std::forward_iterator_tag,
                          typename std::iterator_traits<InputIterator>::iterator_category>) {
            values.reserve(
                std::min(static_cast<size_type>(std::distance(first, last)), capacity()));
        }
        for (; first != last; ++first) {
            if (values.size() == capacity()) {
                detail::throw_invalid_argument(
                    "per::sum_tree::assign", "range size", values.size() + 1,
                    "(or more) must be <= capacity() = " + std::to_string(capacity()));
            }
            const T value = static_cast<T>(*first);
            check_value("per::sum_tree::assign", "value", value, values.size());
            values.push_back(value);
        }
        core staged(capacity());
        staged.assign(values.begin(), values.size());
        m_tree.swap(staged);
    }

    /// O(N). All leaves back to zero.
    void clear() noexcept { m_tree.clear(); }

    /// O(Fanout * log_Fanout N). The leaf i with S(i-1) <= u < S(i): the result is < capacity()
    /// and get(result) > 0. Throws std::invalid_argument if u is NaN, std::out_of_range if u is
    /// not in [0, total()) — which includes every u when all leaves are zero.
    size_type find_prefix(T u) const {
        check_prefix("per::sum_tree::find_prefix", u);
        return find_prefix_unchecked(u);
    }

    /// O(count * Fanout * log_Fanout N). find_prefix for `count` prefix values at once, writing
    /// the leaves to indices[0..count). Faster than one call per value: the queries descend the
    /// tree level by level together, so their memory accesses overlap. Sorted u (as stratified
    /// sampling produces) are fastest: they share the upper levels' lines, and there a walk along
    /// each node replaces the per-query count. Throws as find_prefix for the first invalid u,
    /// before writing any index.
    void find_prefix_batch(const T* u, size_type count, size_type* indices) const {
        for (size_type i = 0; i < count; ++i) {
            check_prefix("per::sum_tree::find_prefix_batch", u[i], i);
        }
        find_prefix_batch_unchecked(u, count, indices);
    }

    /// find_prefix without validation, for samplers that generate u themselves.
    /// Precondition: total() > 0 and u >= 0 (not NaN), checked by PER_ASSERT. A u >= total(),
    /// which rounding in total() * U can produce, yields the last leaf with a non-zero value.
    size_type find_prefix_unchecked(T u) const noexcept {
        PER_ASSERT(total() > T(0) && u >= T(0));
        u = past_total_to_largest(u);
        size_type first = 0; // the current node's first entry on its level
        for (size_type level = 0; level < m_tree.depth(); ++level) {
            first = (first + descend_inner<detail::build_kernels>(
                                 m_tree.prefix_node(level, 0) + first, u)) *
                    Fanout;
        }
        return descend_leaf<detail::build_kernels>(first, u);
    }

    /// find_prefix_batch without validation; same precondition as find_prefix_unchecked.
    /// On an x86-64 build that does not target AVX2 itself, the descent runs as AVX2 code when
    /// the CPU has it (detail/cpu.hpp; same results, bit for bit).
    void find_prefix_batch_unchecked(const T* u, size_type count,
                                     size_type* indices) const noexcept {
#if defined(PER_DETAIL_RUNTIME_AVX2)
        if (detail::cpu_has_avx2()) {
            descend_batch_avx2(u, count, indices);
            return;
        }
#endif
        descend_batch<detail::build_kernels>(u, count, indices);
    }

    /// Bytes of heap storage the tree uses (leaves, inner sums, padding): about
    /// sizeof(T) * N * Fanout / (Fanout - 1).
    size_type memory_bytes() const noexcept {
        return m_tree.memory_bytes();
    }

private:
#if defined(PER_DETAIL_RUNTIME_AVX2)
    PER_DETAIL_AVX2_ENTRY void descend_batch_avx2(const T* u, size_type count,
                                                  size_type* indices) const noexcept {
        descend_batch<detail::avx2_kernels>(u, count, indices);
    }
#endif

    /// The batched descent with the node kernels of one instruction set (detail/simd.hpp).
    template <class Kernels>
    void descend_batch(const T* u, size_type count, size_type* indices) const noexcept {
        // Queries go down in chunks that fit on the stack: within a chunk all queries finish
        // one level before any starts the next, and each query prefetches the node it needs on
        // the next level as soon as it knows it. By the time the chunk comes back to it, the
        // line has arrived: the cache misses of the whole chunk overlap instead of queueing.
        // The state lives in local arrays, so the compiler knows that no store to it can change
        // the tree's level pointers. first[q] is the first entry of query q's node on the
        // current level, remaining[q] its prefix value relative to that node.
        constexpr size_type chunk = 64;
        T remaining[chunk];
        size_type first[chunk];
        const size_type depth = m_tree.depth();
        for (size_type begin = 0; begin < count; begin += chunk) {
            const size_type size = count - begin < chunk ? count - begin : chunk;
            bool sorted = true;
            for (size_type q = 0; q < size; ++q) {
                PER_ASSERT(u[begin + q] >= T(0));
                remaining[q] = past_total_to_largest(u[begin + q]);
                first[q] = 0;
                sorted &= q == 0 || !(u[begin + q] < u[begin + q - 1]);
            }
            for (size_type level = 0; level < depth; ++level) {
                const T* nodes = m_tree.prefix_node(level, 0);
                const T* below =
                    level + 1 < depth ? m_tree.prefix_node(level + 1, 0) : m_tree.leaf_node(0);
                if (sorted && m_tree.level_size(level) <= size) {
                    descend_level_sorted(nodes, below, size, remaining, first);
                    continue;
                }
                for (size_type q = 0; q < size; ++q) {
                    const size_type child_first =
                        (first[q] + descend_inner<Kernels>(nodes + first[q], remaining[q])) *
                        Fanout;
                    first[q] = child_first;
                    detail::prefetch(below + child_first);
                }
            }
            for (size_type q = 0; q < size; ++q) {
                indices[begin + q] = descend_leaf<Kernels>(first[q], remaining[q]);
            }
        }
    }

    /// A u at or past total() (which the unchecked interface accepts) becomes the largest
    /// finite T: every level then takes its last stored child (whose exclusive prefix is
    /// finite, unlike the +infinity of padding entries), u stays above every sum on the way
    /// down, and the leaf level takes the last non-empty leaf.
    T past_total_to_largest(T u) const noexcept {
        return u < total() ? u : std::numeric_limits<T>::max();
    }

    /// Picks the child of an inner node whose prefix interval holds u, and makes u relative to
    /// it. before[k] is the sum of the node's entries 0..k-1 (before[0] = 0), the same left fold
    /// that produced the parent's entry for this node, so the child c with before[c] <= u <
    /// before[c + 1] is non-empty. No test of u against the node's own sum happens here: when
    /// rounding puts u at or past it (the entries on the way down were summed in a different
    /// order than u was reduced), the search takes the last child, and the leaf level repairs
    /// the result (see descend_leaf). Keeping that rare case out of the loop keeps the common
    /// step to a count, one subtraction and an index computation.
    template <class Kernels>
    static size_type descend_inner(const T* before, T& u) noexcept {
        const T key = u;
        const size_type count = Kernels::template count_less_equal<T, Fanout>(before, key); // >= 1
        u = key - before[count - 1];
        return count - 1;
    }

    /// One level of the batched descent for sorted queries on a level with few entries (the top
    /// of the tree, where many queries share a node and many share a child): consecutive queries
    /// in the same node have non-decreasing relative keys, so the queries of a node are taken
    /// child by child. The walk finds a query's child (the last with before[child] <= key;
    /// +infinity padding stops it), then every following query of the node whose key stays below
    /// the next boundary takes the same child with one compare, a subtraction and two stores,
    /// and the child's line is prefetched once. Children and subtractions are those descend_inner
    /// gives each query.
    static void descend_level_sorted(const T* nodes, const T* below, size_type size, T* remaining,
                                     size_type* first) noexcept {
        size_type q = 0;
        while (q < size) {
            const size_type node_first = first[q];
            const T* before = nodes + node_first;
            size_type child = 0;
            do {
                while (child + 1 < Fanout && !(remaining[q] < before[child + 1])) {
                    ++child;
                }
                const T bound =
                    child + 1 < Fanout ? before[child + 1] : std::numeric_limits<T>::infinity();
                const T base = before[child];
                const size_type child_first = (node_first + child) * Fanout;
                detail::prefetch(below + child_first);
                do {
                    remaining[q] -= base;
                    first[q] = child_first;
                    ++q;
                } while (q < size && first[q] == node_first && remaining[q] < bound);
            } while (q < size && first[q] == node_first);
        }
    }

    /// The leaf under the prefix value u in the leaf node whose first leaf is `first`. The
    /// exclusive running sums are formed here from the leaf values, by the same left fold as
    /// the parent's entry. If u is at or past the node's sum (rounding on the way down, a u
    /// past total(), or an empty leaf node reached that way), the result is the last non-empty
    /// leaf at or before the end of this node: the leaf that ends the prefix interval u was
    /// heading for.
    template <class Kernels>
    size_type descend_leaf(size_type first, T u) const noexcept {
        T node_total;
        const size_type child = Kernels::template count_running_sums_less_equal<T, Fanout>(
                                    m_tree.leaf_node(0) + first, u, node_total) -
                                1;
        return u < node_total ? first + child : last_nonempty_leaf_up_to(first + Fanout - 1);
    }

    /// The largest leaf index <= `leaf` whose value is non-zero. O(Fanout * depth): scan the
    /// leaf node backwards, then climb until a node has a non-zero entry before the path, and
    /// descend through the last non-zero entries. Precondition: such a leaf exists (every
    /// caller reaches `leaf` past a non-zero prefix, so it does).
    size_type last_nonempty_leaf_up_to(size_type leaf) const noexcept {
        for (size_type index = leaf;; --index) {
            if (m_tree.leaf(index) > T(0)) {
                return index;
            }
            if (index % Fanout == 0) {
                break;
            }
        }
        // Climb: `entry` indexes the inner level `level`, whose entry e holds the sum of node e
        // one level below (a leaf node below the last inner level).
        size_type level = m_tree.depth() - 1;
        size_type entry = leaf / Fanout;
        for (;;) {
            const T* entries = m_tree.inner_node(level, 0);
            while (entry % Fanout != 0) {
                --entry;
                if (entries[entry] > T(0)) {
                    return last_nonempty_leaf_below(level, entry);
                }
            }
            if (level == 0) {
                PER_ASSERT(false && "no non-empty leaf before the search path");
                return leaf;
            }
            --level;
            entry /= Fanout;
        }
    }

    /// The last non-empty leaf under the non-zero entry `entry` of inner level `level`.
    size_type last_nonempty_leaf_below(size_type level, size_type entry) const noexcept {
        for (++level; level < m_tree.depth(); ++level) {
            const T* node = m_tree.inner_node(level, entry);
            size_type child = Fanout - 1;
            while (child > 0 && !(node[child] > T(0))) {
                --child;
            }
            entry = entry * Fanout + child;
        }
        const T* node = m_tree.leaf_node(entry);
        size_type child = Fanout - 1;
        while (child > 0 && !(node[child] > T(0))) {
            --child;
        }
        return entry * Fanout + child;
    }

    static size_type checked_capacity(size_type capacity) {
        detail::check_capacity("per::sum_tree", capacity, max_capacity());
        return capacity;
    }

    void check_index(const char* where, size_type index) const {
        detail::check_index(where, "index", index, capacity());
    }

    void check_value(const char* where, const char* argument, T value,
                     size_type position = npos) const {
        if (!(value >= T(0)) || !(value <= max_value())) {
            const std::string requirement =
                std::isfinite(value) && value > T(0)
                    ? "must be <= max_value() = " + detail::format_value(max_value())
                    : std::string("must be finite and >= 0");
            detail::throw_invalid_argument(where, argument, value,
                                           requirement + at_position(position));
        }
    }

    void check_prefix(const char* where, T u, size_type position = npos) const {
        if (std::isnan(u)) {
            detail::throw_invalid_argument(where, "u", u,
                                           "must be a number" + at_position(position));
        }
        if (!(u >= T(0) && u < total())) {
            detail::throw_out_of_range(
                where, "u", u,
                "must be in [0, total()) = [0, " + detail::format_value(total()) + ")" +
                    (total() > T(0) ? std::string() : std::string(": every leaf is zero")) +
                    at_position(position));
        }
    }

    static constexpr size_type npos = static_cast<size_type>(-1);
    static std::string at_position(size_type position) {
        return position == npos ? std::string() : " (at position " + std::to_string(position) + ")";
    }

    core m_tree;
};

} // namespace per

#endif // PER_SUM_TREE_HPP
