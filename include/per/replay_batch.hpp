#ifndef PER_REPLAY_BATCH_HPP
#define PER_REPLAY_BATCH_HPP

/// @file
/// replay_batch<Item>: a buffer's sampled batch, with the items by reference.

#include "sample_batch.hpp"

#include <cstddef>
#include <iterator>
#include <utility>
#include <vector>

namespace per {

template <class Item>
class replay_batch;

namespace detail {
/// The buffers' write access to their batches (users only read them).
struct replay_batch_access {
    template <class Item>
    static sample_batch& indices(replay_batch<Item>& batch) noexcept {
        return batch.m_batch;
    }
    template <class Item>
    static void set_items(replay_batch<Item>& batch, const Item* items) noexcept {
        batch.m_items = items;
    }
};
} // namespace detail

/// A sampled batch of a replay buffer: the sample_batch (handles, slots, weights,
/// probabilities) plus read access to the sampled items themselves, by reference (nothing is
/// copied). batch[k] is the item of the k-th draw; `for (const Item& item : batch.items())`
/// walks them in draw order.
//
/// The item references point into the buffer's storage: they stay valid until the buffer is
/// next modified (push, clear) or destroyed. Reusing one batch object across sample() calls
/// reuses its storage.
template <class Item>
class replay_batch {
public:
    /// The buffer's item type.
    using item_type = Item;

    /// A forward iterator over the sampled items, in draw order.
    class item_iterator {
    public:
        ///@{
        /// The iterator's standard member types: a forward iterator over const Item.
        using iterator_category = std::forward_iterator_tag;
        using value_type = Item;
        using difference_type = std::ptrdiff_t;
        using pointer = const Item*;
        using reference = const Item&;
        ///@}

        /// A singular iterator (compare or assign it only).
        item_iterator() = default;
        ///@{
        /// The item of the current draw.
        reference operator*() const noexcept { return m_items[*m_slot]; }
        pointer operator->() const noexcept { return m_items + *m_slot; }
        ///@}
        ///@{
        /// The next draw.
        item_iterator& operator++() noexcept {
            ++m_slot;
            return *this;
        }
        item_iterator operator++(int) noexcept {
            item_iterator before = *this;
            ++m_slot;
            return before;
        }
        ///@}
        /// Whether two iterators point at the same draw.
        friend bool operator==(const item_iterator& a, const item_iterator& b) noexcept {
            return a.m_slot == b.m_slot;
        }
        /// Whether two iterators point at different draws.
        friend bool operator!=(const item_iterator& a, const item_iterator& b) noexcept {
            return a.m_slot != b.m_slot;
        }

    private:
        friend class replay_batch;
        item_iterator(const Item* items, const std::size_t* slot) noexcept
            : m_items(items)
            , m_slot(slot) {}
        const Item* m_items = nullptr;
        const std::size_t* m_slot = nullptr;
    };

    /// The sampled items as a range for range-for.
    struct item_range {
        item_iterator first; ///< the first draw's item
        item_iterator last;  ///< past the last draw
        /// first.
        item_iterator begin() const noexcept { return first; }
        /// last.
        item_iterator end() const noexcept { return last; }
    };

    /// The number of draws.
    std::size_t size() const noexcept { return m_batch.size(); }
    /// Whether the batch holds no draw.
    bool empty() const noexcept { return m_batch.empty(); }

    /// The item of the k-th draw. Precondition: k < size() (unchecked, like std::vector).
    const Item& operator[](std::size_t k) const noexcept { return m_items[m_batch.slots()[k]]; }

    /// The range iterates over this batch's slots: not available on a temporary batch.
    item_range items() const& noexcept {
        const std::size_t* slots = m_batch.slots().data();
        return {item_iterator(m_items, slots), item_iterator(m_items, slots + size())};
    }
    item_range items() && = delete;

    ///@{
    /// As sample_batch's: the handles, slots, IS weights and probabilities of the draws.
    const std::vector<replay_handle>& handles() const& noexcept { return m_batch.handles(); }
    const std::vector<std::size_t>& slots() const& noexcept { return m_batch.slots(); }
    const std::vector<double>& weights() const& noexcept { return m_batch.weights(); }
    const std::vector<double>& probabilities() const& noexcept { return m_batch.probabilities(); }
    ///@}

    ///@{
    /// On a temporary batch the accessors hand its vectors over by value (see sample_batch).
    std::vector<replay_handle> handles() && noexcept { return std::move(m_batch).handles(); }
    std::vector<std::size_t> slots() && noexcept { return std::move(m_batch).slots(); }
    std::vector<double> weights() && noexcept { return std::move(m_batch).weights(); }
    std::vector<double> probabilities() && noexcept { return std::move(m_batch).probabilities(); }
    ///@}

    ///@{
    /// The batch without the items.
    const sample_batch& indices() const& noexcept { return m_batch; }
    sample_batch indices() && noexcept { return std::move(m_batch); }
    ///@}

private:
    friend struct detail::replay_batch_access;

    sample_batch m_batch;
    const Item* m_items = nullptr;
};

} // namespace per

#endif // PER_REPLAY_BATCH_HPP
