#ifndef PER_SAMPLE_BATCH_HPP
#define PER_SAMPLE_BATCH_HPP

/// @file
/// sample_batch: the handles, slots, IS weights and probabilities of one sample.

#include "replay_handle.hpp"

#include <cstddef>
#include <utility>
#include <vector>

namespace per {

namespace detail {
struct sample_batch_access;
} // namespace detail

/// The result of sampling B items: for k in [0, size()), handles()[k] names the item (pass it
/// back to update_priorities), slots()[k] == handles()[k].slot, probabilities()[k] is the
/// item's P(i) at sampling time, and weights()[k] its importance-sampling weight under the
/// sampler's normalization. Reusing one batch object for many sample() calls reuses its
/// storage: no allocation once it has grown to the batch size.
class sample_batch {
public:
    /// The number of draws.
    std::size_t size() const noexcept { return m_handles.size(); }
    /// Whether the batch holds no draw (before the first sample()).
    bool empty() const noexcept { return m_handles.empty(); }

    /// The handle of each draw, for update_priorities.
    const std::vector<replay_handle>& handles() const& noexcept { return m_handles; }
    /// The slot of each draw: slots()[k] == handles()[k].slot.
    const std::vector<std::size_t>& slots() const& noexcept { return m_slots; }
    /// The importance-sampling weight of each draw.
    const std::vector<double>& weights() const& noexcept { return m_weights; }
    /// The probability P(i) of each draw's item at sampling time.
    const std::vector<double>& probabilities() const& noexcept { return m_probabilities; }

    /// On a temporary batch the accessors hand its vectors over by value, so that
    /// `for (auto slot : sampler.sample(...).slots())` does not read a destroyed batch.
    std::vector<replay_handle> handles() && noexcept { return std::move(m_handles); }
    /// As handles() &&.
    std::vector<std::size_t> slots() && noexcept { return std::move(m_slots); }
    /// As handles() &&.
    std::vector<double> weights() && noexcept { return std::move(m_weights); }
    /// As handles() &&.
    std::vector<double> probabilities() && noexcept { return std::move(m_probabilities); }

private:
    friend struct detail::sample_batch_access;

    std::vector<replay_handle> m_handles;
    std::vector<std::size_t> m_slots;
    std::vector<double> m_weights;
    std::vector<double> m_probabilities;
};

namespace detail {
// The samplers' write access to batches (users only read them).
struct sample_batch_access {
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
