// Sampling rows:
//   sample/<structure>/<N>/<B>       indices only: B stratified prefix fractions in, B slots out
//   sample_full/<structure>/<N>/<B>  a full PER sample: slots, probabilities and IS weights
// plus sample/floor/<N>/<B>, the memory floor the sample rows are measured against.
#include "structures.hpp"
#include "workload.hpp"

#include <benchmark/benchmark.h>

#include <cstddef>
#include <string>
#include <vector>

namespace per_bench {
namespace {

// Runs `sample_batch(fractions, slots)` once per iteration on the next `batch` fractions of the
// pool. Writing the slots to memory and clobbering it keeps the compiler from dropping work.
template <class SampleBatch>
void run_indices(benchmark::State& state, std::size_t batch, SampleBatch&& sample_batch) {
    const std::vector<double>& fractions = stratified_fractions(batch);
    std::vector<std::size_t> slots(batch);
    std::size_t offset = 0;
    for (auto _ : state) {
        sample_batch(fractions.data() + offset, slots.data());
        benchmark::DoNotOptimize(slots.data());
        benchmark::ClobberMemory();
        offset = (offset + batch) & pool_mask;
    }
    report_items(state, batch);
}

void sample_naive(benchmark::State& state, const row_parameters& row) {
    const auto& sampler = row_fixture(
        row, [&] { return reference::naive_sampler(initial_priorities(row.n), alpha, epsilon); });
    run_indices(state, row.batch, [&](const double* fractions, std::size_t* slots) {
        sampler.sample(fractions, row.batch, slots);
    });
    report_index_bytes(state, sampler.memory_bytes(), row.n);
}

void sample_naive_cached(benchmark::State& state, const row_parameters& row) {
    auto& sampler = row_fixture(row, [&] {
        return reference::naive_cached_sampler(initial_priorities(row.n), alpha, epsilon);
    });
    run_indices(state, row.batch, [&](const double* fractions, std::size_t* slots) {
        sampler.sample(fractions, row.batch, slots);
    });
    report_index_bytes(state, sampler.memory_bytes(), row.n);
}

void sample_binary_reference(benchmark::State& state, const row_parameters& row) {
    const auto& buffer = row_fixture(row, [&] { return make_full_binary_reference(row.n); });
    run_indices(state, row.batch, [&](const double* fractions, std::size_t* slots) {
        buffer.sample_indices(fractions, row.batch, slots);
    });
    report_index_bytes(state, buffer.index_memory_bytes(), row.n);
}

// What prioritized_sampler does for a stratified batch: scale the fractions by the total, then
// one find_prefix_batch_unchecked for the whole batch.
void sample_sum_tree(benchmark::State& state, const row_parameters& row) {
    const auto& tree = row_fixture(row, [&] { return make_full_sum_tree(row.n); });
    const double total = tree.total();
    std::vector<double> prefixes(row.batch);
    run_indices(state, row.batch, [&](const double* fractions, std::size_t* slots) {
        for (std::size_t k = 0; k < row.batch; ++k) {
            prefixes[k] = fractions[k] * total;
        }
        tree.find_prefix_batch_unchecked(prefixes.data(), row.batch, slots);
    });
    report_index_bytes(state, tree.memory_bytes(), row.n);
}

// The memory floor: for each sampled item, one read of a random 64-byte line of an array as
// large as the sum tree's leaf array (N doubles: N / 8 lines), at the line the stratified
// fraction points to. The reads are independent, so the hardware overlaps their misses: no
// sampler that must look at one line per item can be faster.
struct alignas(64) cache_line {
    double values[8];
};

void sample_floor(benchmark::State& state, const row_parameters& row) {
    const auto& lines = row_fixture(row, [&] {
        return std::vector<cache_line>(row.n / 8 > 0 ? row.n / 8 : 1,
                                       cache_line{{1, 1, 1, 1, 1, 1, 1, 1}});
    });
    const double scale = static_cast<double>(lines.size());
    const std::vector<double>& fractions = stratified_fractions(row.batch);
    std::vector<double> values(row.batch);
    std::size_t offset = 0;
    for (auto _ : state) {
        const double* fraction = fractions.data() + offset;
        for (std::size_t k = 0; k < row.batch; ++k) {
            values[k] = lines[static_cast<std::size_t>(fraction[k] * scale)].values[0];
        }
        benchmark::DoNotOptimize(values.data());
        benchmark::ClobberMemory();
        offset = (offset + row.batch) & pool_mask;
    }
    report_items(state, row.batch);
}

// naive_buffer or library_buffer: sample() into a reused replay_batch.
template <class Buffer>
void sample_full_buffer(benchmark::State& state, const row_parameters& row, Buffer& buffer) {
    replayed_bits generator;
    per::replay_batch<transition> out;
    for (auto _ : state) {
        buffer.sample(row.batch, beta, generator, out);
        benchmark::DoNotOptimize(out.weights().data());
        benchmark::ClobberMemory();
    }
    report_items(state, row.batch);
}

void sample_full_naive(benchmark::State& state, const row_parameters& row) {
    auto& buffer = row_fixture(row, [&] { return make_full_buffer<naive_buffer>(row.n); });
    sample_full_buffer(state, row, buffer);
    report_index_bytes(state, naive_buffer_index_bytes(row.n), row.n);
}

void sample_full_prioritized_replay(benchmark::State& state, const row_parameters& row) {
    auto& buffer = row_fixture(row, [&] { return make_full_buffer<library_buffer>(row.n); });
    sample_full_buffer(state, row, buffer);
    report_index_bytes(state, buffer.sampler().memory_bytes(), row.n);
}

void sample_full_binary_reference(benchmark::State& state, const row_parameters& row) {
    const auto& buffer = row_fixture(row, [&] { return make_full_binary_reference(row.n); });
    replayed_bits generator;
    std::vector<std::size_t> slots(row.batch);
    std::vector<double> weights(row.batch);
    std::vector<double> probabilities(row.batch);
    for (auto _ : state) {
        buffer.sample(row.batch, beta, generator, slots.data(), weights.data(),
                      probabilities.data());
        benchmark::DoNotOptimize(weights.data());
        benchmark::ClobberMemory();
    }
    report_items(state, row.batch);
    report_index_bytes(state, buffer.index_memory_bytes(), row.n);
}

struct sampling_row {
    const char* operation;
    const char* structure;
    void (*run)(benchmark::State&, const row_parameters&);
};

// Structures of one operation are adjacent, so the console reads as a comparison.
constexpr sampling_row sampling_rows[] = {
    {"sample", "naive", sample_naive},
    {"sample", "naive_cached", sample_naive_cached},
    {"sample", "binary_reference", sample_binary_reference},
    {"sample", "sum_tree", sample_sum_tree},
    {"sample", "floor", sample_floor},
    {"sample_full", "naive", sample_full_naive},
    {"sample_full", "binary_reference", sample_full_binary_reference},
    {"sample_full", "prioritized_replay", sample_full_prioritized_replay},
};

} // namespace

void register_sampling_benchmarks(const suite_sizes& sizes) {
    for (const std::string operation : {"sample", "sample_full"}) {
        for (std::size_t batch : sizes.batches) {
            for (std::size_t n : sizes.slots) {
                for (const sampling_row& row : sampling_rows) {
                    if (row.operation == operation) {
                        const row_parameters parameters{
                            row_name(row.operation, row.structure, n, batch), n, batch};
                        register_row(parameters.name,
                                     repetitions_for(row.operation, row.structure, n), row.run,
                                     parameters);
                    }
                }
            }
        }
    }
}

} // namespace per_bench
