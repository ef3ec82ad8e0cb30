// Priority update, push and training-step rows:
//   update/<structure>/<N>/1          one priority update per iteration
//   update_batch/<structure>/<N>/<B>  B updates per iteration, through the batch API if any
//   push/<structure>/<N>/1            one push into a full ring (it overwrites the oldest)
//   push_batch/<structure>/<N>/<B>    B pushes with their priorities per iteration (an actor's
//                                     batch, Ape-X style), through the batch API if any
//   step/<structure>/<N>/<B>          one learner step: B/8 pushes (max priority), a full
//                                     sample of B (slots, IS weights, probabilities) and an
//                                     update of B priorities at the sampled handles; items = B
// Each structure turns a raw priority into what it stores ((p + epsilon)^alpha for all but
// naive, which stores p and pays the pows when it samples; its validation computes one), so
// rows compare like with like. The rank-based rows use the rank-based family's alpha and beta
// (bench_rank_based.cpp).
#include "structures.hpp"
#include "workload.hpp"

#include <per/rank_based.hpp>

#include <benchmark/benchmark.h>

#include <cstddef>
#include <vector>

namespace per_bench {
namespace {

// Calls apply(first) once per iteration, `first` stepping through the pool `batch` at a time;
// apply performs the updates first .. first + batch - 1 of the pool.
template <class Apply>
void run_updates(benchmark::State& state, std::size_t batch, Apply&& apply) {
    std::size_t first = 0;
    for (auto _ : state) {
        apply(first);
        benchmark::ClobberMemory();
        first = (first + batch) & pool_mask;
    }
    report_items(state, batch);
}

// A full library buffer with the update pool as handles, as a sampled batch would carry them.
template <class Buffer>
struct buffer_with_updates {
    Buffer buffer;
    update_pool pool;
    std::vector<per::replay_handle> handles;
};

template <class Buffer>
buffer_with_updates<Buffer> make_buffer_with_updates(std::size_t n) {
    buffer_with_updates<Buffer> fixture{make_full_buffer<Buffer>(n), make_update_pool(n), {}};
    fixture.handles.resize(pool_size);
    for (std::size_t j = 0; j < pool_size; ++j) {
        fixture.handles[j] = fixture.buffer.handle(fixture.pool.slots[j]);
    }
    return fixture;
}

// Batch 1 is the single-update API; larger batches the batch API.
template <class Buffer>
Buffer& update_library_buffer(benchmark::State& state, const row_parameters& row) {
    auto& fixture = row_fixture(row, [&] { return make_buffer_with_updates<Buffer>(row.n); });
    Buffer& buffer = fixture.buffer;
    const std::vector<per::replay_handle>& handles = fixture.handles;
    const std::vector<double>& priorities = fixture.pool.priorities;
    if (row.batch == 1) {
        run_updates(state, 1, [&](std::size_t j) {
            benchmark::DoNotOptimize(buffer.update_priority(handles[j], priorities[j]));
        });
    } else {
        run_updates(state, row.batch, [&](std::size_t first) {
            benchmark::DoNotOptimize(buffer.update_priorities(
                handles.data() + first, priorities.data() + first, row.batch));
        });
    }
    return buffer;
}

// Structures without a batch API update in a loop (OpenAI baselines does the same).
template <class Structure>
struct structure_with_updates {
    Structure structure;
    update_pool pool;
};

template <class Structure, class UpdateOne>
void update_in_loop(benchmark::State& state, std::size_t batch,
                    structure_with_updates<Structure>& fixture, UpdateOne&& update_one) {
    const update_pool& pool = fixture.pool;
    run_updates(state, batch, [&](std::size_t first) {
        for (std::size_t j = first; j < first + batch; ++j) {
            update_one(fixture.structure, pool.slots[j], pool.priorities[j]);
        }
    });
}

void update_naive(benchmark::State& state, const row_parameters& row) {
    update_library_buffer<naive_buffer>(state, row);
    report_index_bytes(state, naive_buffer_index_bytes(row.n), row.n);
}

void update_prioritized_replay(benchmark::State& state, const row_parameters& row) {
    const library_buffer& buffer = update_library_buffer<library_buffer>(state, row);
    report_index_bytes(state, buffer.sampler().memory_bytes(), row.n);
}

void update_naive_cached(benchmark::State& state, const row_parameters& row) {
    auto& fixture = row_fixture(row, [&] {
        return structure_with_updates<reference::naive_cached_sampler>{
            reference::naive_cached_sampler(initial_priorities(row.n), alpha, epsilon),
            make_update_pool(row.n)};
    });
    update_in_loop(state, row.batch, fixture,
                   [](reference::naive_cached_sampler& sampler, std::size_t slot, double priority) {
                       sampler.set_priority(slot, priority);
                   });
    report_index_bytes(state, fixture.structure.memory_bytes(), row.n);
}

void update_binary_reference(benchmark::State& state, const row_parameters& row) {
    auto& fixture = row_fixture(row, [&] {
        return structure_with_updates<binary_reference_buffer>{make_full_binary_reference(row.n),
                                                               make_update_pool(row.n)};
    });
    update_in_loop(state, row.batch, fixture,
                   [](binary_reference_buffer& buffer, std::size_t slot, double priority) {
                       buffer.update_priority(slot, priority);
                   });
    report_index_bytes(state, fixture.structure.index_memory_bytes(), row.n);
}

// The data-structure layer alone: the pow and one sum tree (no min tree, no generations).
void update_sum_tree(benchmark::State& state, const row_parameters& row) {
    auto& fixture = row_fixture(row, [&] {
        return structure_with_updates<per::sum_tree<>>{make_full_sum_tree(row.n),
                                                       make_update_pool(row.n)};
    });
    update_in_loop(state, row.batch, fixture,
                   [](per::sum_tree<>& tree, std::size_t slot, double priority) {
                       tree.set(slot, weight_of(priority));
                   });
    report_index_bytes(state, fixture.structure.memory_bytes(), row.n);
}

template <class Buffer>
void run_pushes(benchmark::State& state, Buffer& buffer) {
    std::size_t count = 0;
    for (auto _ : state) {
        buffer.push(item_for(count++));
        benchmark::ClobberMemory();
    }
    report_items(state, 1);
}

void push_naive(benchmark::State& state, const row_parameters& row) {
    auto& buffer = row_fixture(row, [&] { return make_full_buffer<naive_buffer>(row.n); });
    run_pushes(state, buffer);
    report_index_bytes(state, naive_buffer_index_bytes(row.n), row.n);
}

void push_binary_reference(benchmark::State& state, const row_parameters& row) {
    auto& buffer = row_fixture(row, [&] { return make_full_binary_reference(row.n); });
    run_pushes(state, buffer);
    report_index_bytes(state, buffer.index_memory_bytes(), row.n);
}

void push_prioritized_replay(benchmark::State& state, const row_parameters& row) {
    auto& buffer = row_fixture(row, [&] { return make_full_buffer<library_buffer>(row.n); });
    run_pushes(state, buffer);
    report_index_bytes(state, buffer.sampler().memory_bytes(), row.n);
}

// --- push_batch and step ---------------------------------------------------------------------

// The rank-based family's settings (bench_rank_based.cpp): the PER paper's alpha 0.7, beta 0.5.
constexpr double rank_alpha = 0.7;
constexpr double rank_beta = 0.5;
using rank_buffer = per::rank_based_replay<transition>;

rank_buffer make_full_rank_buffer(std::size_t n) {
    rank_buffer buffer(n, per::replay_options{}.alpha(rank_alpha));
    const std::vector<double> priorities = initial_priorities(n);
    for (std::size_t slot = 0; slot < n; ++slot) {
        buffer.push(item_for(slot), priorities[slot]);
    }
    return buffer;
}

// A full structure, the items of the next pushes and the priority pool.
template <class Structure>
struct structure_with_pushes {
    Structure structure;
    update_pool pool;
    std::vector<transition> items;
};
template <class Structure, class Build>
structure_with_pushes<Structure>& push_fixture(const row_parameters& row, Build&& build) {
    return row_fixture(row, [&] {
        structure_with_pushes<Structure> fixture{build(row.n), make_update_pool(row.n), {}};
        fixture.items.resize(pool_size);
        for (std::size_t j = 0; j < pool_size; ++j) {
            fixture.items[j] = item_for(j);
        }
        return fixture;
    });
}

// Library buffers: one push_batch of B items with B priorities per iteration.
template <class Buffer>
void run_push_batches(benchmark::State& state, std::size_t batch,
                      structure_with_pushes<Buffer>& fixture) {
    std::size_t first = 0;
    for (auto _ : state) {
        fixture.structure.push_batch(fixture.items.data() + first,
                                     fixture.pool.priorities.data() + first, batch);
        benchmark::ClobberMemory();
        first = (first + batch) & pool_mask;
    }
    report_items(state, batch);
}

void push_batch_prioritized_replay(benchmark::State& state, const row_parameters& row) {
    auto& fixture = push_fixture<library_buffer>(row, make_full_buffer<library_buffer>);
    run_push_batches(state, row.batch, fixture);
    report_index_bytes(state, fixture.structure.sampler().memory_bytes(), row.n);
}

void push_batch_rank_based(benchmark::State& state, const row_parameters& row) {
    auto& fixture = push_fixture<rank_buffer>(row, make_full_rank_buffer);
    run_push_batches(state, row.batch, fixture);
    report_index_bytes(state, fixture.structure.sampler().memory_bytes(), row.n);
}

// Baselines has no push with a priority: a push (max priority), then the update, per item.
void push_batch_binary_reference(benchmark::State& state, const row_parameters& row) {
    auto& fixture = push_fixture<binary_reference_buffer>(
        row, [](std::size_t n) { return make_full_binary_reference(n); });
    binary_reference_buffer& buffer = fixture.structure;
    std::size_t first = 0;
    for (auto _ : state) {
        for (std::size_t j = first; j < first + row.batch; ++j) {
            const std::size_t slot = buffer.next_slot();
            buffer.push(fixture.items[j]);
            buffer.update_priority(slot, fixture.pool.priorities[j]);
        }
        benchmark::ClobberMemory();
        first = (first + row.batch) & pool_mask;
    }
    report_items(state, row.batch);
    report_index_bytes(state, buffer.index_memory_bytes(), row.n);
}

// One learner step on a library buffer: B/8 pushes, a full sample of B, B new priorities at
// the sampled handles (the pool's priorities stand for the TD errors).
template <class Buffer>
void run_library_steps(benchmark::State& state, std::size_t batch, double step_beta,
                       structure_with_pushes<Buffer>& fixture) {
    Buffer& buffer = fixture.structure;
    replayed_bits generator;
    per::replay_batch<transition> out;
    const std::size_t pushes = batch / 8;
    std::size_t first = 0;
    for (auto _ : state) {
        for (std::size_t p = 0; p < pushes; ++p) {
            buffer.push(fixture.items[first + p]);
        }
        buffer.sample(batch, step_beta, generator, out);
        benchmark::DoNotOptimize(buffer.update_priorities(
            out.handles().data(), fixture.pool.priorities.data() + first, batch));
        benchmark::ClobberMemory();
        first = (first + batch) & pool_mask;
    }
    report_items(state, batch);
}

void step_prioritized_replay(benchmark::State& state, const row_parameters& row) {
    auto& fixture = push_fixture<library_buffer>(row, make_full_buffer<library_buffer>);
    run_library_steps(state, row.batch, beta, fixture);
    report_index_bytes(state, fixture.structure.sampler().memory_bytes(), row.n);
}

void step_rank_based(benchmark::State& state, const row_parameters& row) {
    auto& fixture = push_fixture<rank_buffer>(row, make_full_rank_buffer);
    run_library_steps(state, row.batch, rank_beta, fixture);
    report_index_bytes(state, fixture.structure.sampler().memory_bytes(), row.n);
}

// The same step on baselines' design: pushes, its full sample, one update per item.
void step_binary_reference(benchmark::State& state, const row_parameters& row) {
    auto& fixture = push_fixture<binary_reference_buffer>(
        row, [](std::size_t n) { return make_full_binary_reference(n); });
    binary_reference_buffer& buffer = fixture.structure;
    replayed_bits generator;
    std::vector<std::size_t> slots(row.batch);
    std::vector<double> weights(row.batch);
    std::vector<double> probabilities(row.batch);
    const std::size_t pushes = row.batch / 8;
    std::size_t first = 0;
    for (auto _ : state) {
        for (std::size_t p = 0; p < pushes; ++p) {
            buffer.push(fixture.items[first + p]);
        }
        buffer.sample(row.batch, beta, generator, slots.data(), weights.data(),
                      probabilities.data());
        for (std::size_t k = 0; k < row.batch; ++k) {
            buffer.update_priority(slots[k], fixture.pool.priorities[first + k]);
        }
        benchmark::ClobberMemory();
        first = (first + row.batch) & pool_mask;
    }
    report_items(state, row.batch);
    report_index_bytes(state, buffer.index_memory_bytes(), row.n);
}

struct update_row {
    const char* structure;
    void (*run)(benchmark::State&, const row_parameters&);
};

constexpr update_row update_rows[] = {
    {"naive", update_naive},
    {"naive_cached", update_naive_cached},
    {"binary_reference", update_binary_reference},
    {"sum_tree", update_sum_tree},
    {"prioritized_replay", update_prioritized_replay},
};

// naive_cached and sum_tree are not buffers: they have no push.
constexpr update_row push_rows[] = {
    {"naive", push_naive},
    {"binary_reference", push_binary_reference},
    {"prioritized_replay", push_prioritized_replay},
};

constexpr update_row push_batch_rows[] = {
    {"binary_reference", push_batch_binary_reference},
    {"prioritized_replay", push_batch_prioritized_replay},
    {"rank_based", push_batch_rank_based},
};

constexpr update_row step_rows[] = {
    {"binary_reference", step_binary_reference},
    {"prioritized_replay", step_prioritized_replay},
    {"rank_based", step_rank_based},
};

template <std::size_t Count>
void register_rows(const char* operation, const update_row (&rows)[Count], std::size_t n,
                   std::size_t batch) {
    for (const update_row& row : rows) {
        const row_parameters parameters{row_name(operation, row.structure, n, batch), n, batch};
        register_row(parameters.name, repetitions_for(operation, row.structure, n), row.run,
                     parameters);
    }
}

} // namespace

void register_update_benchmarks(const suite_sizes& sizes) {
    for (std::size_t n : sizes.slots) {
        register_rows("update", update_rows, n, 1);
    }
    for (std::size_t batch : sizes.batches) {
        for (std::size_t n : sizes.slots) {
            register_rows("update_batch", update_rows, n, batch);
        }
    }
    for (std::size_t n : sizes.slots) {
        register_rows("push", push_rows, n, 1);
    }
    for (std::size_t batch : sizes.batches) {
        for (std::size_t n : sizes.slots) {
            register_rows("push_batch", push_batch_rows, n, batch);
        }
    }
    for (std::size_t batch : sizes.batches) {
        for (std::size_t n : sizes.slots) {
            register_rows("step", step_rows, n, batch);
        }
    }
}

} // namespace per_bench
