// Sampling from per::sum_tree: rows sample/sum_tree/<leaves>/<batch>.
#include <per/sum_tree.hpp>

#include <benchmark/benchmark.h>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <random>
#include <vector>

namespace {

// One stratified batch per iteration, as the PER paper samples: prefix b is drawn uniformly in
// the b-th of `batch` equal slices of total(), then all go through find_prefix_batch. Drawing
// the prefixes is timed too (a few ns each), so repeated iterations do not replay the same
// cached paths.
void sample_sum_tree(benchmark::State& state) {
    const auto leaves = static_cast<std::size_t>(state.range(0));
    const auto batch = static_cast<std::size_t>(state.range(1));

    std::mt19937_64 rng(42);
    std::uniform_real_distribution<double> priority(0.0, 1.0);
    std::vector<double> priorities(leaves);
    std::generate(priorities.begin(), priorities.end(), [&] { return priority(rng); });
    per::sum_tree<double> tree(leaves);
    tree.assign(priorities.begin(), priorities.end());

    const double total = tree.total();
    const double slice = total / static_cast<double>(batch);
    // Rounding in (b + U) * slice can reach total(), which find_prefix rejects.
    const double below_total = std::nextafter(total, 0.0);
    std::uniform_real_distribution<double> unit(0.0, 1.0);
    std::vector<double> prefixes(batch);
    std::vector<std::size_t> indices(batch);

    for (auto _ : state) {
        for (std::size_t b = 0; b < batch; ++b) {
            prefixes[b] = std::min((static_cast<double>(b) + unit(rng)) * slice, below_total);
        }
        tree.find_prefix_batch(prefixes.data(), batch, indices.data());
        benchmark::DoNotOptimize(indices.data());
        benchmark::ClobberMemory();
    }
    state.SetItemsProcessed(state.iterations() * static_cast<std::int64_t>(batch));
}

BENCHMARK(sample_sum_tree)
    ->Name("sample/sum_tree")
    ->ArgsProduct({benchmark::CreateRange(1 << 10, 1 << 20, /*multi=*/4), {32}});

} // namespace
