#ifndef PER_MIN_TREE_HPP
#define PER_MIN_TREE_HPP

#include "detail/assert.hpp"
#include "detail/error.hpp"
#include "detail/kary_tree.hpp"

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
/// per::min_tree, the minimum over a fixed set of slots.

namespace per {

/// A min tree over `capacity` slots: set a slot in O(log N), read the minimum over all slots in
/// O(1). An empty slot holds +infinity, so min() is the minimum over the slots in use, and
/// +infinity when none is. Prioritized replay keeps the smallest non-zero priority here to
/// normalize importance-sampling weights by the largest weight any stored item could get.
///
/// Same layout as sum_tree (Fanout children per cache-line node, levels top-down); the minimum
/// is exact (no rounding is involved in taking a minimum).
///
/// Exceptions: members that take user input validate it first and throw std::invalid_argument or
/// std::out_of_range naming the argument and its value; the tree is then unchanged.
/// Copies and moves as sum_tree's: copy assignment unchanged on std::bad_alloc, noexcept moves
/// that leave the source with capacity() 0 and min() +infinity, self-assignment a no-op.
template <class T = double, std::size_t Fanout = detail::cache_line_fanout<T>>
class min_tree {
    using core = detail::kary_tree<T, Fanout, detail::min_reduce<T>>;

public:
    /// The type of the slot values.
    using value_type = T;
    /// The type of indices and sizes.
    using size_type = std::size_t;

    /// The number of children per node.
    static constexpr size_type fanout = Fanout;

    /// O(N). A tree of `capacity` empty slots. Throws std::invalid_argument if capacity is 0,
    /// std::length_error if it exceeds max_capacity(), std::bad_alloc if memory runs out.
    explicit min_tree(size_type capacity)
        : m_tree(checked_capacity(capacity)) {}

    /// The largest capacity the index arithmetic supports (memory runs out long before).
    static constexpr size_type max_capacity() noexcept { return core::max_capacity(); }

    /// The number of slots, fixed at construction.
    size_type capacity() const noexcept { return m_tree.capacity(); }

    /// O(1). The smallest value over all slots; +infinity if every slot is empty.
    T min() const noexcept { return m_tree.root(); }

    /// O(1). The value in slot `index` (+infinity if empty). Throws std::out_of_range if
    /// index >= capacity().
    T get(size_type index) const {
        check_index("per::min_tree::get", index);
        return m_tree.leaf(index);
    }

    /// get without the bounds check, for callers that know the index is in range (the samplers).
    /// Precondition: index < capacity() (checked by PER_ASSERT).
    T get_unchecked(size_type index) const noexcept {
        PER_ASSERT(index < capacity());
        return m_tree.leaf(index);
    }

    /// O(Fanout * log_Fanout N). Throws std::out_of_range if index >= capacity(),
    /// std::invalid_argument if value is NaN. Setting +infinity empties the slot.
    void set(size_type index, T value) {
        check_index("per::min_tree::set", index);
        if (std::isnan(value)) {
            detail::throw_invalid_argument("per::min_tree::set", "value", value, "must not be NaN");
        }
        m_tree.set(index, value);
    }

    /// O(log_Fanout N). A performance hint with no effect on the tree: starts loading the cache
    /// lines that set(index) will touch. Does nothing if index >= capacity().
    void prefetch_path(size_type index) const noexcept {
        if (index < capacity()) {
            m_tree.prefetch_path(index);
        }
    }

    /// O(1). A hint for set_batch_unchecked: starts loading slot `index`'s line and the lowest
    /// minima above it. Does nothing if index >= capacity().
    void prefetch_leaf(size_type index) const noexcept {
        if (index < capacity()) {
            m_tree.prefetch_leaf_and_parent(index);
        }
    }

    /// O(Fanout * log_Fanout N). Empties slot `index`. Throws std::out_of_range if
    /// index >= capacity().
    void reset(size_type index) {
        check_index("per::min_tree::reset", index);
        m_tree.set(index, std::numeric_limits<T>::infinity());
    }

    /// set without validation. Precondition: index < capacity(), value not NaN (PER_ASSERT).
    void set_unchecked(size_type index, T value) noexcept {
        PER_ASSERT(index < capacity() && !std::isnan(value));
        m_tree.set(index, value);
    }

    /// Equivalent to set_unchecked(indices[k], values[k]) for k = 0, ..., count - 1 in this
    /// order (a repeated index keeps its last value), with every minimum on the union of the
    /// paths recomputed once per batch, level by level (see sum_tree::set_batch). Precondition:
    /// every index < capacity(), no value NaN (PER_ASSERT).
    void set_batch_unchecked(const size_type* indices, const T* values, size_type count) noexcept {
        m_tree.set_batch(
            indices, values, count,
            [&](size_type k, T) {
                PER_ASSERT(!std::isnan(values[k]));
                static_cast<void>(k);
            },
            [](size_type) {});
    }

    /// O(N). Slots 0..count-1 take the values of [first, last) (converted to T), the rest are
    /// emptied. Throws std::invalid_argument if the range holds more than capacity() values or a
    /// NaN (the message gives its position); the tree is then unchanged.
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
                    "per::min_tree::assign", "range size", values.size() + 1,
                    "(or more) must be <= capacity() = " + std::to_string(capacity()));
            }
            const T value = static_cast<T>(*first);
            if (std::isnan(value)) {
                detail::throw_invalid_argument("per::min_tree::assign", "value", value,
                                               "must not be NaN (at position " +
                                                   std::to_string(values.size()) + ")");
            }
            values.push_back(value);
        }
        core staged(capacity());
        staged.assign(values.begin(), values.size());
        m_tree.swap(staged);
    }

    /// O(N). Empties every slot.
    void clear() noexcept { m_tree.clear(); }

    /// Bytes of heap storage the tree uses.
    size_type memory_bytes() const noexcept { return m_tree.memory_bytes(); }

private:
    static size_type checked_capacity(size_type capacity) {
        detail::check_capacity("per::min_tree", capacity, max_capacity());
        return capacity;
    }

    void check_index(const char* where, size_type index) const {
        detail::check_index(where, "index", index, capacity());
    }

    core m_tree;
};

} // namespace per

#endif // PER_MIN_TREE_HPP
