#ifndef PER_BENCH_STRUCTURES_HPP
#define PER_BENCH_STRUCTURES_HPP

#include "reference/binary_reference_replay.hpp"
#include "reference/naive_samplers.hpp"
#include "workload.hpp"

#include <per/naive_replay.hpp>
#include <per/prioritized_replay.hpp>
#include <per/sum_tree.hpp>

#include <cstddef>
#include <cstdint>
#include <vector>

// The structures under test, built full: N items (for the buffers) with initial_priorities(N).
// A full ring is the steady state of a training run, and what every row measures.

namespace per_bench {

using naive_buffer = per::naive_prioritized_replay<transition>;
using library_buffer = per::prioritized_replay<transition>;
using binary_reference_buffer = reference::binary_reference_replay<transition>;

inline transition item_for(std::size_t index) {
    return transition{static_cast<std::uint32_t>(index), 1, 0.5f, 0};
}

inline per::replay_options library_options() {
    return per::replay_options{}.alpha(alpha).epsilon(epsilon);
}

// naive_buffer or library_buffer, default options but for alpha and epsilon (stratified
// sampling, global-max weight normalization).
template <class Buffer>
Buffer make_full_buffer(std::size_t n) {
    Buffer buffer(n, library_options());
    const std::vector<double> priorities = initial_priorities(n);
    for (std::size_t slot = 0; slot < n; ++slot) {
        buffer.push(item_for(slot), priorities[slot]);
    }
    return buffer;
}

// Baselines pushes with the max priority and then updates: the same here.
inline binary_reference_buffer make_full_binary_reference(std::size_t n) {
    binary_reference_buffer buffer(n, alpha, epsilon);
    const std::vector<double> priorities = initial_priorities(n);
    for (std::size_t slot = 0; slot < n; ++slot) {
        buffer.push(item_for(slot));
        buffer.update_priority(slot, priorities[slot]);
    }
    return buffer;
}

inline per::sum_tree<> make_full_sum_tree(std::size_t n) {
    std::vector<double> weights = initial_priorities(n);
    for (double& weight : weights) {
        weight = weight_of(weight);
    }
    per::sum_tree<> tree(n);
    tree.assign(weights.begin(), weights.end());
    return tree;
}

// Index overhead of naive_buffer, which has no memory_bytes(): its raw priority and
// generation arrays (each sample call allocates 16 more bytes per slot, then frees them).
inline std::size_t naive_buffer_index_bytes(std::size_t n) {
    return n * (sizeof(double) + sizeof(std::uint32_t));
}

} // namespace per_bench

#endif // PER_BENCH_STRUCTURES_HPP
