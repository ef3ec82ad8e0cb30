#ifndef PER_SAMPLE_BATCH_HPP
#define PER_SAMPLE_BATCH_HPP

#include <cstddef>
#include <cstdint>
#include <utility>
#include <vector>

namespace per {

// Names one occupancy of a slot: the slot index and how many times the slot had been filled
// when the handle was made. A sampler applies a priority update only if the slot still holds
// that occupancy, so an update computed for an item that was overwritten since it was sampled
// never lands on the new occupant. The generation is 32 bits: a handle kept while the same slot
// is refilled 2^32 times would alias (a ring of 10^6 slots refilled once per step: ~4 * 10^15
// steps).
struct replay_handle {
    std::size_t slot = 0;
    std::uint32_t generation = 0;

    friend bool operator==(const replay_handle& a, const replay_handle& b) noexcept {
        return a.slot == b.slot && a.generation == b.generation;
    }
    friend bool operator!=(const replay_handle& a, const replay_handle& b) noexcept {
        return !(a == b);
    }
};

template <class Item>
class replay_batch;

namespace detail {
struct batch_writer;
} // namespace detail

// The result of sampling B items: for k in [0, size()), handles()[k] names the item (pass it
// back to update_priorities), slots()[k] == handles()[k].slot, probabilities()[k] is the
// item's P(i) = p_i^alpha / sum_j p_j^alpha at sampling time, and weights()[k] its
// importance-sampling weight under the sampler's normalization. Reusing one batch object for
// many sample() calls reuses its storage: no allocation once it has grown to the batch size.
class sample_batch {
public:
    std::size_t size() const noexcept { return m_handles.size(); }
    bool empty() const noexcept { return m_handles.empty(); }

    const std::vector<replay_handle>& handles() const& noexcept { return m_handles; }
    const std::vector<std::size_t>& slots() const& noexcept { return m_slots; }
    const std::vector<double>& weights() const& noexcept { return m_weights; }
    const std::vector<double>& probabilities() const& noexcept { return m_probabilities; }

    // On a temporary batch the accessors hand its vectors over by value, so that
    // `for (auto slot : sampler.sample(...).slots())` does not read a destroyed batch.
    std::vector<replay_handle> handles() && noexcept { return std::move(m_handles); }
    std::vector<std::size_t> slots() && noexcept { return std::move(m_slots); }
    std::vector<double> weights() && noexcept { return std::move(m_weights); }
    std::vector<double> probabilities() && noexcept { return std::move(m_probabilities); }

private:
    friend struct detail::batch_writer;

    std::vector<replay_handle> m_handles;
    std::vector<std::size_t> m_slots;
    std::vector<double> m_weights;
    std::vector<double> m_probabilities;
};

namespace detail {
// The samplers' and buffers' write access to batches (users only read them).
struct batch_writer {
    template <class Item>
    static sample_batch& batch(replay_batch<Item>& batch) noexcept {
        return batch.m_batch;
    }
    template <class Item>
    static void set_items(replay_batch<Item>& batch, const Item* items) noexcept {
        batch.m_items = items;
    }
    static void resize(sample_batch& batch, std::size_t size) {
        batch.m_handles.resize(size);
        batch.m_slots.resize(size);
        batch.m_weights.resize(size);
        batch.m_probabilities.resize(size);
    }
    static replay_handle* handles(sample_batch& batch) noexcept { return batch.m_handles.data(); }
    static std::size_t* slots(sample_batch& batch) noexcept { return batch.m_slots.data(); }
    static double* weights(sample_batch& batch) noexcept { return batch.m_weights.data(); }
    static double* probabilities(sample_batch& batch) noexcept {
        return batch.m_probabilities.data();
    }
    // slots()[k] = handles()[k].slot for every k, after a sampler wrote the handles.
    static void copy_slots_from_handles(sample_batch& batch) noexcept {
        for (std::size_t k = 0; k < batch.m_handles.size(); ++k) {
            batch.m_slots[k] = batch.m_handles[k].slot;
        }
    }
};
} // namespace detail

} // namespace per

#endif // PER_SAMPLE_BATCH_HPP
