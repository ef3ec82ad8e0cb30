#ifndef PER_SAMPLE_BATCH_HPP
#define PER_SAMPLE_BATCH_HPP

/// @file
/// sample_batch: the handles, slots, IS weights and probabilities of one sample.

#include "detail/error.hpp"
#include "replay_handle.hpp"

#include <cstddef>
#include <limits>
#include <string>
#include <utility>
#include <vector>

namespace per {

/// The largest batch_size that sample and sample_into accept, in every sampler, replay buffer
/// and naive reference: the most replay_handle elements an array can hold (PTRDIFF_MAX /
/// sizeof(replay_handle), about 5.8e17 on 64-bit targets), so also no more than a
/// std::vector<replay_handle> can hold. With replacement any batch size is legal in principle;
/// this bound rejects only what no batch or caller array can hold, with std::invalid_argument
/// naming batch_size (rather than std::vector's std::length_error). A batch_size below it may
/// still throw std::bad_alloc where sample allocates the batch.
inline constexpr std::size_t max_batch_size =
    static_cast<std::size_t>(std::numeric_limits<std::ptrdiff_t>::max()) / sizeof(replay_handle);

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

// The checks every sample call adds after its own (batch_size > 0, beta, something to sample,
// without replacement at most the sampleable items): std::invalid_argument naming batch_size if
// it exceeds max_batch_size.
inline void check_batch_size_limit(const char* where, std::size_t batch_size) {
    if (batch_size > max_batch_size) {
        throw_invalid_argument(
            where, "batch_size", batch_size,
            "must be <= per::max_batch_size = " + std::to_string(max_batch_size) +
                ", the most handles an array can hold");
    }
}

// sample_into's output arrays: std::invalid_argument naming the first null one. batch_size is
// > 0 here (checked before), so every array must point to batch_size elements.
inline void check_sample_outputs(const char* where, std::size_t batch_size,
                                 const replay_handle* handles, const double* weights,
                                 const double* probabilities) {
    const auto check = [&](const char* argument, const void* pointer) {
        if (pointer == nullptr) {
            throw_invalid_argument(where, argument, "nullptr",
                                   "must point to batch_size = " + std::to_string(batch_size) +
                                       " elements");
        }
    };
    check("handles", handles);
    check("weights", weights);
    check("probabilities", probabilities);
}

/// As above for draws without weights (basic_sampler::draw_into).
inline void check_sample_outputs(const char* where, std::size_t batch_size,
                                 const replay_handle* handles, const double* probabilities) {
    const double unused = 0.0;
    check_sample_outputs(where, batch_size, handles, &unused, probabilities);
}

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
