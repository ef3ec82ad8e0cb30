#ifndef PER_BENCH_REFERENCE_BINARY_REFERENCE_REPLAY_HPP
#define PER_BENCH_REFERENCE_BINARY_REFERENCE_REPLAY_HPP

#include "binary_segment_tree.hpp"

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <vector>

namespace per_bench::reference {

// The prioritized replay buffer of OpenAI baselines (PrioritizedReplayBuffer) in C++, for the
// "binary_reference" rows: a ring of items, a binary sum tree and a binary min tree of the
// sampling weights (priority + epsilon)^alpha, and the running max priority for new items.
// Sampling is stratified, one query descending the tree at a time; importance-sampling
// weights are normalized by the largest weight any stored item could get (from the min tree),
// with one pow per sampled item. No generations: baselines has no stale-update protection, so
// its index overhead is the two trees alone.
template <class Item>
class binary_reference_replay {
public:
    binary_reference_replay(std::size_t capacity, double alpha, double epsilon)
        : m_items(capacity)
        , m_sums(capacity)
        , m_mins(capacity)
        , m_alpha(alpha)
        , m_epsilon(epsilon) {}

    std::size_t size() const noexcept { return m_size; }
    std::size_t capacity() const noexcept { return m_items.size(); }
    // The slot the next push writes.
    std::size_t next_slot() const noexcept { return m_next; }

    // O(log2 N). The item overwrites the oldest once the ring is full, with the max priority.
    void push(const Item& item) {
        m_items[m_next] = item;
        const double weight = weight_of(m_max_priority);
        m_sums.set(m_next, weight);
        m_mins.set(m_next, weight);
        m_next = m_next + 1 == capacity() ? 0 : m_next + 1;
        if (m_size < capacity()) {
            ++m_size;
        }
    }

    // O(log2 N). Both trees take the new weight; the max priority only grows.
    void update_priority(std::size_t slot, double priority) noexcept {
        const double weight = weight_of(priority);
        m_sums.set(slot, weight);
        m_mins.set(slot, weight);
        if (priority > m_max_priority) {
            m_max_priority = priority;
        }
    }

    // Indices only: prefix k is fractions[k] * total, searched on its own.
    void sample_indices(const double* fractions, std::size_t batch,
                        std::size_t* slots) const noexcept {
        const double total = m_sums.sum();
        for (std::size_t k = 0; k < batch; ++k) {
            slots[k] = m_sums.find_prefix_sum_index(fractions[k] * total);
        }
    }

    // The full baselines sample: stratified draws (k + U_k) * total / B, then for each draw
    // its probability and the weight (N P)^-beta / (N P_min)^-beta. Generator yields 64
    // random bits per call; U_k takes the top 53 of them, as the library does.
    template <class Generator>
    void sample(std::size_t batch, double beta, Generator& generator, std::size_t* slots,
                double* weights, double* probabilities) const {
        static_assert(Generator::min() == 0 &&
                          Generator::max() == std::numeric_limits<std::uint64_t>::max(),
                      "the reference sampler takes 64 random bits per call");
        const double total = m_sums.sum();
        const double slice = total / static_cast<double>(batch);
        for (std::size_t k = 0; k < batch; ++k) {
            const double unit = static_cast<double>(generator() >> 11) * 0x1.0p-53;
            slots[k] = m_sums.find_prefix_sum_index((static_cast<double>(k) + unit) * slice);
        }
        const double items = static_cast<double>(m_size);
        const double max_weight = std::pow(m_mins.min() / total * items, -beta);
        for (std::size_t k = 0; k < batch; ++k) {
            const double probability = m_sums.get(slots[k]) / total;
            probabilities[k] = probability;
            weights[k] = std::pow(probability * items, -beta) / max_weight;
        }
    }

    // Everything but the items: the sum tree and the min tree.
    std::size_t index_memory_bytes() const noexcept {
        return m_sums.memory_bytes() + m_mins.memory_bytes();
    }

private:
    double weight_of(double priority) const noexcept {
        return std::pow(priority + m_epsilon, m_alpha);
    }

    std::vector<Item> m_items;
    binary_sum_tree m_sums;
    binary_min_tree m_mins;
    double m_alpha;
    double m_epsilon;
    double m_max_priority = 1.0;
    std::size_t m_next = 0;
    std::size_t m_size = 0;
};

} // namespace per_bench::reference

#endif // PER_BENCH_REFERENCE_BINARY_REFERENCE_REPLAY_HPP
