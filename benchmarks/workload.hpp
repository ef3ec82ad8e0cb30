#ifndef PER_BENCH_WORKLOAD_HPP
#define PER_BENCH_WORKLOAD_HPP

#include <benchmark/benchmark.h>

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <functional>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

// What every row of the suite shares: the parameters of the PER setting, the sizes, and the
// random numbers. All random input is generated once, outside the timed loops, and every
// structure sees the same numbers, so rows differ only by the structure under test.

namespace per_bench {

// The PER paper's proportional variant (alpha 0.6), beta at the start of its annealing, and
// the library's default epsilon.
inline constexpr double alpha = 0.6;
inline constexpr double beta = 0.4;
inline constexpr double epsilon = 1e-6;

// Entries in each random pool (8 MB of doubles). A pass over a pool at the largest N touches
// far more distinct cache lines than a last-level cache holds, so cycling through it never
// turns into replaying queries whose paths are still cached; the cost is one sequential
// (prefetched) read per query.
inline constexpr std::size_t pool_size = std::size_t{1} << 20;
inline constexpr std::size_t pool_mask = pool_size - 1;

// A replay item of realistic size for the push rows: Atari-style buffers store frame
// indices, not frames.
struct transition {
    std::uint32_t observation = 0;
    std::int32_t action = 0;
    float reward = 0.0f;
    std::uint32_t done = 0;
};

// A double uniform in [0, 1) from the top 53 bits of a word: the conversion the library's
// samplers apply to their generator, so fractions and generators agree.
inline double unit_interval(std::uint64_t word) noexcept {
    return static_cast<double>(word >> 11) * 0x1.0p-53;
}

inline std::vector<std::uint64_t> make_words(std::uint64_t seed, std::size_t count) {
    std::mt19937_64 engine(seed);
    std::vector<std::uint64_t> words(count);
    for (std::uint64_t& word : words) {
        word = engine();
    }
    return words;
}

// The sampling randomness: pool_size 64-bit words.
inline const std::vector<std::uint64_t>& sampling_words() {
    static const std::vector<std::uint64_t> words = make_words(42, pool_size);
    return words;
}

// Stratified prefix fractions for batches of `batch` (a power of two <= pool_size): entry j
// is (k + U_j) / batch with k = j mod batch, the j-th word as U_j. A structure searches
// fraction * its total. Same words as replayed_bits: indices-only and full samples draw alike.
inline std::vector<double> make_stratified_fractions(std::size_t batch) {
    const std::vector<std::uint64_t>& words = sampling_words();
    std::vector<double> fractions(pool_size);
    for (std::size_t j = 0; j < pool_size; ++j) {
        fractions[j] =
            (static_cast<double>(j % batch) + unit_interval(words[j])) / static_cast<double>(batch);
    }
    return fractions;
}
inline const std::vector<double>& stratified_fractions(std::size_t batch) {
    // Built on first use per batch size; map nodes keep returned references valid.
    static std::map<std::size_t, std::vector<double>> by_batch;
    auto found = by_batch.find(batch);
    if (found == by_batch.end()) {
        found = by_batch.emplace(batch, make_stratified_fractions(batch)).first;
    }
    return found->second;
}

// A UniformRandomBitGenerator that replays sampling_words() in a cycle, for the rows that
// call a sampler with a generator: all of them consume the same numbers, and a draw costs one
// load rather than a Mersenne Twister step that would blur the comparison.
class replayed_bits {
public:
    using result_type = std::uint64_t;
    static constexpr result_type min() noexcept { return 0; }
    static constexpr result_type max() noexcept { return ~result_type{0}; }
    result_type operator()() noexcept {
        const result_type word = m_words[m_next];
        m_next = (m_next + 1) & pool_mask;
        return word;
    }

private:
    const std::uint64_t* m_words = sampling_words().data();
    std::size_t m_next = 0;
};

// Raw priorities like |TD errors|: exponential with mean 1 (a long right tail).
inline double priority_from(std::uint64_t word) noexcept {
    return -std::log1p(-unit_interval(word));
}

// The priorities a structure of n slots starts with (the same for every structure).
inline std::vector<double> initial_priorities(std::size_t n) {
    std::mt19937_64 engine(7);
    std::vector<double> priorities(n);
    for (double& priority : priorities) {
        priority = priority_from(engine());
    }
    return priorities;
}

// Priority updates: pool_size (slot, priority) pairs, slots uniform in [0, n).
struct update_pool {
    std::vector<std::size_t> slots;
    std::vector<double> priorities;
};
inline update_pool make_update_pool(std::size_t n) {
    static const std::vector<std::uint64_t> slot_words = make_words(43, pool_size);
    static const std::vector<std::uint64_t> priority_words = make_words(44, pool_size);
    update_pool pool;
    pool.slots.resize(pool_size);
    pool.priorities.resize(pool_size);
    for (std::size_t j = 0; j < pool_size; ++j) {
        pool.slots[j] =
            static_cast<std::size_t>(unit_interval(slot_words[j]) * static_cast<double>(n));
        pool.priorities[j] = priority_from(priority_words[j]);
    }
    return pool;
}

// The sampling weight every structure stores for a raw priority.
inline double weight_of(double priority) noexcept {
    return std::pow(priority + epsilon, alpha);
}

// Row names: <operation>/<structure>/<N>/<batch>; operations without a batch use batch 1.
inline std::string row_name(const char* operation, const char* structure, std::size_t n,
                            std::size_t batch) {
    return std::string(operation) + "/" + structure + "/" + std::to_string(n) + "/" +
           std::to_string(batch);
}

// Every row reports items per second (sampled items or updates or pushes) and, except the
// floor, the structure's index overhead: the bytes it keeps per slot besides the items.
inline void report_items(benchmark::State& state, std::size_t items_per_iteration) {
    state.SetItemsProcessed(state.iterations() * static_cast<std::int64_t>(items_per_iteration));
}
inline void report_index_bytes(benchmark::State& state, std::size_t bytes, std::size_t n) {
    state.counters["index_bytes_per_slot"] = static_cast<double>(bytes) / static_cast<double>(n);
}

// What a row's function gets: its name and parameters.
struct row_parameters {
    std::string name;
    std::size_t n;
    std::size_t batch;
};

// Google Benchmark calls a row's function several times (it grows the iteration count until
// the row runs for the minimum time), so building the structure inside the function would pay
// for 2^22 inserts on every call and dominate the run. row_fixture builds once per row and
// hands the same object to the later calls of that row. One fixture lives at a time: the
// previous row's is freed before the next is built, so memory peaks at one structure.
struct fixture_holder {
    std::string row;
    std::shared_ptr<void> fixture;
};
inline fixture_holder& current_fixture() {
    static fixture_holder holder;
    return holder;
}
template <class Build>
auto& row_fixture(const row_parameters& row, Build&& build) {
    using fixture_type = std::decay_t<decltype(build())>;
    fixture_holder& holder = current_fixture();
    if (holder.row != row.name) {
        holder.fixture.reset();
        holder.row.clear();
        holder.fixture = std::make_shared<fixture_type>(build());
        holder.row = row.name;
    }
    return *static_cast<fixture_type*>(holder.fixture.get());
}

// Every row is registered through register_row, which records it; main then hands the rows
// to Google Benchmark sorted by N (register_planned_rows), so that the run goes from the
// smallest buffers to the largest: the progress line's estimate of the time left can then
// scale what each family of rows took at the sizes done so far. A row's repetitions follow one
// another, and its fixture (row_fixture) is built once for all of them.
struct planned_row {
    std::string name;    // as registered: <operation>/<structure>/<N>/<batch>
    std::size_t n = 0;   // N, from the name
    int repetitions = 0; // > 0: this row's own count (Google Benchmark then appends
                         // "/repeats:<n>" to its name); 0: --benchmark_repetitions
    std::function<void(benchmark::State&)> run;
};
struct run_plan {
    std::string filter;  // --benchmark_filter, as Google Benchmark reads it
    int repetitions = 1; // --benchmark_repetitions
    std::vector<planned_row> rows;
    // Whether the filter selects a row of this name (the name Google Benchmark matches, with
    // its "/repeats:<n>" suffix).
    bool selects(const std::string& name) const;
};
run_plan& plan();

// N, the third component of a row's name (0 if it has none).
inline std::size_t row_size(const std::string& name) {
    const std::size_t first = name.find('/');
    const std::size_t second = first == std::string::npos ? first : name.find('/', first + 1);
    if (second == std::string::npos) {
        return 0;
    }
    return static_cast<std::size_t>(std::strtoull(name.c_str() + second + 1, nullptr, 10));
}

// Records one row, with `repetitions` runs instead of the default when it is positive (the
// slowest rows, whose runs scatter least, run fewer times; the report says which). Google
// Benchmark calls function(state, args...).
template <class Function, class... Args>
void register_row(const std::string& name, int repetitions, Function function, Args... args) {
    plan().rows.push_back(planned_row{
        name, row_size(name), repetitions,
        [function, arguments = std::make_tuple(args...)](benchmark::State& state) {
            std::apply([&](const auto&... values) { function(state, values...); }, arguments);
        }});
}

// The repetitions of the rows whose single iterations take milliseconds to seconds (the O(N)
// samples at N >= 2^18): 2 instead of the default, since they dominate the run's time and
// scatter least. 0 (the default) for every other row. The report names these rows.
inline constexpr int slow_row_repetitions = 2;
inline int repetitions_for(const std::string& operation, const std::string& structure,
                           std::size_t n) {
    const bool sample = operation == "sample" || operation == "sample_full";
    const bool naive = structure.rfind("naive", 0) == 0;
    return sample && naive && n >= (std::size_t{1} << 18) ? slow_row_repetitions : 0;
}

// The sizes and batches of a run (set from the command line by main).
struct suite_sizes {
    std::vector<std::size_t> slots;
    std::vector<std::size_t> batches;
};

// Registers every row of one family, named <operation>/<structure>/<N>/<batch>.
void register_sampling_benchmarks(const suite_sizes& sizes);
void register_update_benchmarks(const suite_sizes& sizes);
void register_rank_based_benchmarks(const suite_sizes& sizes);

} // namespace per_bench

#endif // PER_BENCH_WORKLOAD_HPP
