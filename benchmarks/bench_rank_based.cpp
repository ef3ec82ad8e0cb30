// Rank-based prioritization rows:
//   sample/rank_based/<N>/<B>             indices only: B stratified fractions in, B slots out,
//                                         through the rank-weight sum tree and the order-
//                                         statistics tree (the data-structure layer)
//   sample/naive_rank_based/<N>/<B>       the tutorial's way: argsort, rank weights, cumulative
//                                         sum and search on every call
//   sample_full/rank_based/<N>/<B>        a full sample of per::rank_based_replay: slots,
//                                         probabilities and IS weights
//   sample_full/naive_rank_based/<N>/<B>  the same with per::naive_rank_based_replay
//   update/<structure>/<N>/1              one priority update (erase + reinsert in rank order)
//   update_batch/<structure>/<N>/<B>      B updates through the batch API
//   push/<structure>/<N>/1                one push into a full ring (overwrites the oldest)
//
// The naive rows sort the whole buffer per sample: O(N log N), about 0.1 s at N = 2^20. To keep
// the suite's run time in bounds, its sample rows stop at N = 2^20 (naive_sample_limit); its
// update and push rows are O(1) and run at every N.
//
// Filling a rank-based buffer of 4M items takes seconds (4M ordered insertions), and Google
// Benchmark calls a row's function more than once (to size the run, then for it), so the
// filled buffer of the current N is built once and shared by that N's rows: sampling leaves
// it unchanged, updates draw new priorities from the same distribution as the initial ones,
// and the push row, which changes it most, runs last for each N. The indices-only row's
// structures are shared the same way; only one of the two is held at a time (at N = 2^22 the
// buffer takes about 390 MB).
#include "workload.hpp"

#include <per/detail/order_statistics_tree.hpp>
#include <per/naive_rank_based.hpp>
#include <per/rank_based.hpp>
#include <per/sum_tree.hpp>

#include <benchmark/benchmark.h>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <numeric>
#include <string>
#include <vector>

namespace per_bench {
namespace {

// The PER paper's rank-based variant: alpha 0.7, beta from 0.5.
constexpr double rank_alpha = 0.7;
constexpr double rank_beta = 0.5;

// The largest N of the naive sample rows (see the file comment).
constexpr std::size_t naive_sample_limit = std::size_t{1} << 20;

per::replay_options rank_options() {
    return per::replay_options{}.alpha(rank_alpha);
}

transition item_for(std::size_t slot) {
    return transition{static_cast<std::uint32_t>(slot), 1, 0.5f, 0};
}

template <class Buffer>
void fill_buffer(Buffer& buffer, std::size_t n) {
    const std::vector<double> priorities = initial_priorities(n);
    for (std::size_t slot = 0; slot < n; ++slot) {
        buffer.push(item_for(slot), priorities[slot]);
    }
}

// The two structures of the indices-only row, holding initial_priorities(n) (stamps: slot
// order) and the rank weights of n items.
struct rank_index {
    per::detail::order_statistics_tree order;
    per::sum_tree<> weights;

    explicit rank_index(std::size_t n)
        : order(n)
        , weights(n) {
        const std::vector<double> priorities = initial_priorities(n);
        std::vector<std::uint64_t> stamps(n);
        std::iota(stamps.begin(), stamps.end(), std::uint64_t{1});
        order.assign(priorities.data(), stamps.data());
        std::vector<double> rank_weights(n);
        for (std::size_t r = 0; r < n; ++r) {
            rank_weights[r] = std::pow(static_cast<double>(r + 1), -rank_alpha);
        }
        weights.assign(rank_weights.begin(), rank_weights.end());
    }
};

// The shared structures (see the file comment): one at a time, for one N, so that the largest
// N needs the memory of one of them only.
struct shared_fixture {
    std::unique_ptr<per::rank_based_replay<transition>> buffer;
    std::unique_ptr<rank_index> index;

    void reset() {
        buffer.reset();
        index.reset();
    }
};

shared_fixture& fixture() {
    static shared_fixture shared;
    return shared;
}

// The filled rank-based buffer of N items.
per::rank_based_replay<transition>& shared_buffer(std::size_t n) {
    shared_fixture& shared = fixture();
    if (!shared.buffer || shared.buffer->capacity() != n) {
        shared.reset(); // free the previous structure first
        shared.buffer = std::make_unique<per::rank_based_replay<transition>>(n, rank_options());
        fill_buffer(*shared.buffer, n);
    }
    return *shared.buffer;
}

// The index structures of N items.
const rank_index& shared_index(std::size_t n) {
    shared_fixture& shared = fixture();
    if (!shared.index || shared.index->order.capacity() != n) {
        shared.reset();
        shared.index = std::make_unique<rank_index>(n);
    }
    return *shared.index;
}

// The tutorial's rank-based sampler, indices only, as numpy code writes it:
//     order = np.argsort(-priorities)
//     p = (1 / np.arange(1, N + 1)) ** alpha; p /= p.sum()
//     slots = order[np.searchsorted(np.cumsum(p), fractions * total, side='right')]
// Every array is allocated per call.
class naive_rank_sampler {
public:
    explicit naive_rank_sampler(std::vector<double> priorities)
        : m_priorities(std::move(priorities)) {}

    void sample(const double* fractions, std::size_t batch, std::size_t* slots) const {
        const std::size_t n = m_priorities.size();
        std::vector<std::size_t> order(n);
        std::iota(order.begin(), order.end(), std::size_t{0});
        std::stable_sort(order.begin(), order.end(), [this](std::size_t a, std::size_t b) {
            return m_priorities[a] > m_priorities[b];
        });
        std::vector<double> cumulative(n);
        double total = 0.0;
        for (std::size_t r = 0; r < n; ++r) {
            total += std::pow(static_cast<double>(r + 1), -rank_alpha);
            cumulative[r] = total;
        }
        for (std::size_t k = 0; k < batch; ++k) {
            const std::size_t position = static_cast<std::size_t>(
                std::upper_bound(cumulative.begin(), cumulative.end(), fractions[k] * total) -
                cumulative.begin());
            slots[k] = order[std::min(position, n - 1)];
        }
    }

    std::size_t memory_bytes() const noexcept { return m_priorities.size() * sizeof(double); }

private:
    std::vector<double> m_priorities;
};

// Runs `sample_batch(fractions, slots)` once per iteration on the next `batch` fractions of the
// pool, as bench_sample.cpp does.
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

// What rank_based_sampler does for a stratified batch: fractions times the total rank weight,
// one batched prefix search for the ranks, one batched select for the slots.
void sample_rank_based(benchmark::State& state, std::size_t n, std::size_t batch) {
    const rank_index& index = shared_index(n);
    const double total = index.weights.total();
    std::vector<double> prefixes(batch);
    run_indices(state, batch, [&](const double* fractions, std::size_t* slots) {
        for (std::size_t k = 0; k < batch; ++k) {
            prefixes[k] = fractions[k] * total;
        }
        index.weights.find_prefix_batch_unchecked(prefixes.data(), batch, slots);
        index.order.select_batch(slots, batch);
    });
    report_index_bytes(state, index.order.memory_bytes() + index.weights.memory_bytes(), n);
}

void sample_naive_rank_based(benchmark::State& state, std::size_t n, std::size_t batch) {
    const naive_rank_sampler sampler(initial_priorities(n));
    run_indices(state, batch, [&](const double* fractions, std::size_t* slots) {
        sampler.sample(fractions, batch, slots);
    });
    report_index_bytes(state, sampler.memory_bytes(), n);
}

template <class Buffer>
void run_full_samples(benchmark::State& state, Buffer& buffer, std::size_t batch) {
    replayed_bits generator;
    per::replay_batch<transition> out;
    for (auto _ : state) {
        buffer.sample(batch, rank_beta, generator, out);
        benchmark::DoNotOptimize(out.weights().data());
        benchmark::ClobberMemory();
    }
    report_items(state, batch);
}

void sample_full_rank_based(benchmark::State& state, std::size_t n, std::size_t batch) {
    auto& buffer = shared_buffer(n);
    run_full_samples(state, buffer, batch);
    report_index_bytes(state, buffer.sampler().memory_bytes(), n);
}

// Raw priorities, push order and generations.
std::size_t naive_index_bytes(std::size_t n) {
    return n * (sizeof(double) + sizeof(std::uint64_t) + sizeof(std::uint32_t));
}

void sample_full_naive_rank_based(benchmark::State& state, std::size_t n, std::size_t batch) {
    per::naive_rank_based_replay<transition> buffer(n, rank_options());
    fill_buffer(buffer, n);
    run_full_samples(state, buffer, batch);
    report_index_bytes(state, naive_index_bytes(n), n);
}

// Batch 1 is the single-update API; larger batches the batch API. The handles are those of
// the pool's slots now (what a sampled batch carries), the slots rotated by `rotation`.
template <class Buffer>
void run_library_updates(benchmark::State& state, Buffer& buffer, std::size_t batch,
                         std::size_t rotation) {
    const std::size_t n = buffer.capacity();
    const update_pool pool = make_update_pool(n);
    std::vector<per::replay_handle> handles(pool.slots.size());
    for (std::size_t j = 0; j < handles.size(); ++j) {
        handles[j] = buffer.handle((pool.slots[j] + rotation) % n);
    }
    std::size_t first = 0;
    for (auto _ : state) {
        if (batch == 1) {
            benchmark::DoNotOptimize(
                buffer.update_priority(handles[first], pool.priorities[first]));
        } else {
            benchmark::DoNotOptimize(buffer.update_priorities(
                handles.data() + first, pool.priorities.data() + first, batch));
        }
        benchmark::ClobberMemory();
        first = (first + batch) & pool_mask;
    }
    report_items(state, batch);
}

// The shared buffer sees many runs of the update rows, which all start at the head of the
// same pool: replayed as is, a run would mostly set priorities the buffer already holds, and
// rank_based_sampler skips those (the rank cannot change). So each run rotates the pool's
// slots by a new offset: still uniform slots and the same priorities, but new pairs.
void update_rank_based(benchmark::State& state, std::size_t n, std::size_t batch) {
    static std::size_t runs = 0;
    auto& buffer = shared_buffer(n);
    run_library_updates(state, buffer, batch, (++runs * 7919) % n);
    report_index_bytes(state, buffer.sampler().memory_bytes(), n);
}

void update_naive_rank_based(benchmark::State& state, std::size_t n, std::size_t batch) {
    per::naive_rank_based_replay<transition> buffer(n, rank_options());
    fill_buffer(buffer, n);
    run_library_updates(state, buffer, batch, 0);
    report_index_bytes(state, naive_index_bytes(n), n);
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

void push_rank_based(benchmark::State& state, std::size_t n, std::size_t) {
    auto& buffer = shared_buffer(n);
    run_pushes(state, buffer);
    report_index_bytes(state, buffer.sampler().memory_bytes(), n);
}

void push_naive_rank_based(benchmark::State& state, std::size_t n, std::size_t) {
    per::naive_rank_based_replay<transition> buffer(n, rank_options());
    fill_buffer(buffer, n);
    run_pushes(state, buffer);
    report_index_bytes(state, naive_index_bytes(n), n);
}

using rank_benchmark = void (*)(benchmark::State&, std::size_t, std::size_t);

void add_row(const char* operation, const char* structure, std::size_t n, std::size_t batch,
             rank_benchmark run) {
    register_row(row_name(operation, structure, n, batch), repetitions_for(operation, structure, n),
                 run, n, batch);
}

} // namespace

// Rows are registered N by N (so that the shared buffer is built once per N), and within an N
// operation by operation, the naive row beside the rank_based one; pushes come last.
void register_rank_based_benchmarks(const suite_sizes& sizes) {
    for (std::size_t n : sizes.slots) {
        const bool naive_samples = n <= naive_sample_limit;
        for (std::size_t batch : sizes.batches) {
            add_row("sample", "rank_based", n, batch, sample_rank_based);
            if (naive_samples) {
                add_row("sample", "naive_rank_based", n, batch, sample_naive_rank_based);
            }
        }
        for (std::size_t batch : sizes.batches) {
            add_row("sample_full", "rank_based", n, batch, sample_full_rank_based);
            if (naive_samples) {
                add_row("sample_full", "naive_rank_based", n, batch, sample_full_naive_rank_based);
            }
        }
        add_row("update", "rank_based", n, 1, update_rank_based);
        add_row("update", "naive_rank_based", n, 1, update_naive_rank_based);
        for (std::size_t batch : sizes.batches) {
            add_row("update_batch", "rank_based", n, batch, update_rank_based);
            add_row("update_batch", "naive_rank_based", n, batch, update_naive_rank_based);
        }
        add_row("push", "rank_based", n, 1, push_rank_based);
        add_row("push", "naive_rank_based", n, 1, push_naive_rank_based);
    }
}

} // namespace per_bench
