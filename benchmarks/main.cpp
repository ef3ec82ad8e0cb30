// The per benchmark suite's entry point: Google Benchmark's flags plus our own, the build
// facts the report needs (added to the JSON context), then every row.
#include "per_bench_build_info.hpp"
#include "workload.hpp"

#include <per/detail/cpu.hpp>
#include <per/version.hpp>

#include <benchmark/benchmark.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iostream>
#include <map>
#include <regex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <unistd.h>

namespace per_bench {

run_plan& plan() {
    static run_plan the_plan;
    return the_plan;
}

// Google Benchmark's filter rule: empty or "all" selects every row, a leading '-' negates, and
// otherwise the row's name must contain a match of the (extended) regular expression.
bool run_plan::selects(const std::string& name) const {
    if (filter.empty() || filter == "all") {
        return true;
    }
    const bool negative = filter[0] == '-';
    try {
        const std::regex pattern(negative ? filter.substr(1) : filter, std::regex::extended);
        return std::regex_search(name, pattern) != negative;
    } catch (const std::regex_error&) {
        return false; // Google Benchmark reports the bad expression and runs nothing
    }
}

// bench_concurrent.cpp. Declared here rather than in workload.hpp because only main uses
// them: the concurrent rows run threads for a fixed wall time, so they are handed to Google
// Benchmark with one iteration in real time, and the progress line knows their length.
void register_concurrent_benchmarks(double seconds);
// The wall time of one run of the row `name` if it is a concurrent row, else 0.
double concurrent_row_seconds(const std::string& name);

} // namespace per_bench

namespace {

constexpr const char* huge_flag = "--per_huge";
constexpr const char* rows_flag = "--per_rows";

// What the progress line knows of a row before it runs: its family (operation, structure and
// batch: the rows one estimate carries over from N to N), N, its runs, and the wall time of a
// run for the rows that run for a fixed time (the concurrent rows; 0 for the others).
struct progress_row {
    std::string family;
    std::size_t n;
    std::size_t runs;
    double fixed_seconds;
};

// The console of a run: one progress line (runs done of the total, elapsed, estimated time
// left), rewritten in place on a terminal and printed at every tenth of the runs otherwise,
// instead of Google Benchmark's table of ~2,000 raw rows (which --benchmark_out still writes
// in full, and --per_rows prints as before). Errors are printed as they happen.
class progress_reporter : public benchmark::BenchmarkReporter {
public:
    explicit progress_reporter(std::vector<progress_row> rows)
        : m_rows(std::move(rows))
        , m_seconds(m_rows.size(), -1.0)
        , m_terminal(isatty(fileno(stdout)) != 0) {
        for (const progress_row& row : m_rows) {
            m_total += row.runs;
        }
    }

    bool ReportContext(const Context& context) override {
        m_start = m_last = clock::now();
        std::printf("per benchmark suite: %zu runs of %zu rows on %d CPUs, from the smallest N "
                    "to the largest%s\n",
                    m_total, m_rows.size(), context.cpu_info.num_cpus,
                    m_terminal ? "" : " (progress every tenth of the runs)");
        return true;
    }

    // Called once with a row's runs (all its repetitions), then once with its aggregates.
    void ReportRuns(const std::vector<Run>& runs) override {
        std::size_t iterations = 0;
        for (const Run& run : runs) {
            if (run.error_occurred) {
                std::printf("%s%s: error: %s\n", m_terminal ? "\n" : "",
                            run.benchmark_name().c_str(), run.error_message.c_str());
            }
            if (run.run_type == Run::RT_Iteration) {
                ++iterations;
            }
        }
        if (iterations == 0) {
            return;
        }
        const clock::time_point now = clock::now();
        // Rows are registered in the order of m_rows, and Google Benchmark numbers the rows
        // its filter selects in that order.
        const std::size_t row = static_cast<std::size_t>(runs.front().family_index);
        if (row < m_rows.size() && m_seconds[row] < 0.0) {
            m_seconds[row] = seconds(now - m_last);
        }
        m_last = now;
        m_done += iterations;
        show(now);
    }

    void Finalize() override {
        if (m_terminal) {
            std::printf("\n");
        }
        std::fflush(stdout);
    }

private:
    using clock = std::chrono::steady_clock;

    static double seconds(clock::duration duration) {
        return std::chrono::duration<double>(duration).count();
    }

    static std::string minutes(double seconds) {
        const long whole = static_cast<long>(seconds + 0.5);
        char text[32];
        std::snprintf(text, sizeof text, "%ld:%02ld", whole / 60, whole % 60);
        return text;
    }

    // How the time of a run grows with N besides what a family shows: building the row's
    // structure and its cache misses. Fitted, with the rest of seconds_left, to the times of
    // the rows of two runs of the suite on a 2-core machine; in two later runs the estimate was
    // within 25% of the time then left at 17 of the 18 tenths it was printed at (59% over at
    // the other).
    static double size_model(std::size_t n) {
        return 1.0 + 4.0 * static_cast<double>(n) / static_cast<double>(std::size_t{1} << 22);
    }

    // The time the rows not done yet will take. A row whose family ran at a smaller N takes the
    // family's last time per run, scaled to its N by the larger of size_model's growth and the
    // growth the family showed between its last two sizes (at most 4 times, and for one step of
    // 4 in N only: a row that happened to run during a burst of load must not be extrapolated
    // to every larger N); a row of a family not seen yet takes the mean time per run of the
    // rows done, scaled by size_model. A row of fixed wall time takes that time per run plus
    // the mean overhead (building its buffer, starting its threads) of the fixed-time rows done,
    // and stays out of the other rows' estimates.
    double seconds_left(clock::time_point now) const {
        struct family_times {
            std::size_t n = 0;
            double per_run = 0.0;
            double growth = 1.0;
        };
        std::map<std::string, family_times> families;
        double model_seconds = 0.0;
        std::size_t rows_done = 0;
        double fixed_overhead = 0.0;
        std::size_t fixed_runs_done = 0;
        for (std::size_t row = 0; row < m_rows.size(); ++row) {
            if (m_seconds[row] < 0.0) {
                continue;
            }
            const progress_row& done = m_rows[row];
            const double per_run =
                m_seconds[row] / static_cast<double>(std::max<std::size_t>(1, done.runs));
            if (done.fixed_seconds > 0.0) {
                fixed_overhead +=
                    m_seconds[row] - done.fixed_seconds * static_cast<double>(done.runs);
                fixed_runs_done += done.runs;
                continue;
            }
            family_times& family = families[done.family];
            if (family.n != 0 && done.n > family.n && family.per_run > 0.0) {
                family.growth = std::min(4.0, std::max(1.0, per_run / family.per_run));
            }
            if (done.n >= family.n) {
                family.n = done.n;
                family.per_run = per_run;
            }
            model_seconds += per_run / size_model(done.n);
            ++rows_done;
        }
        if (rows_done + fixed_runs_done == 0) {
            return 0.0;
        }
        const double mean_model_seconds =
            rows_done > 0 ? model_seconds / static_cast<double>(rows_done) : 0.0;
        const double fixed_overhead_per_run =
            fixed_runs_done > 0
                ? std::max(0.0, fixed_overhead) / static_cast<double>(fixed_runs_done)
                : 0.0;
        double left = 0.0;
        for (std::size_t row = 0; row < m_rows.size(); ++row) {
            if (m_seconds[row] >= 0.0) {
                continue;
            }
            const progress_row& todo = m_rows[row];
            if (todo.fixed_seconds > 0.0) {
                left +=
                    (todo.fixed_seconds + fixed_overhead_per_run) * static_cast<double>(todo.runs);
                continue;
            }
            const auto found = families.find(todo.family);
            double per_run = mean_model_seconds * size_model(todo.n);
            if (found != families.end()) {
                const family_times& family = found->second;
                const double steps =
                    todo.n > family.n
                        ? std::log(static_cast<double>(todo.n) / static_cast<double>(family.n)) /
                              std::log(4.0)
                        : 0.0;
                per_run = family.per_run * std::max(std::pow(family.growth, std::min(steps, 1.0)),
                                                    size_model(todo.n) / size_model(family.n));
            }
            left += per_run * static_cast<double>(todo.runs);
        }
        // The row running now has been at it since the last report.
        return std::max(0.0, left - seconds(now - m_last));
    }

    void show(clock::time_point now) {
        const std::size_t total = m_total > m_done ? m_total : m_done;
        // Off a terminal, a line each time the runs done pass another tenth of the total (a row
        // reports all its repetitions at once, so the count moves by 2, 3 or more at a time).
        const std::size_t tenths = m_done * 10 / total;
        if (!m_terminal) {
            if (tenths <= m_tenths_shown && m_done != total) {
                return;
            }
            m_tenths_shown = tenths;
        }
        std::printf("%s[%zu/%zu runs] %s elapsed, about %s left   %s", m_terminal ? "\r" : "",
                    m_done, total, minutes(seconds(now - m_start)).c_str(),
                    minutes(m_done < total ? seconds_left(now) : 0.0).c_str(),
                    m_terminal ? "" : "\n");
        std::fflush(stdout);
    }

    std::vector<progress_row> m_rows;
    std::vector<double>
        m_seconds; // per row: its time, from the end of the row before (< 0: not done)
    std::size_t m_total = 0;
    std::size_t m_done = 0;
    std::size_t m_tenths_shown = 0;
    bool m_terminal;
    clock::time_point m_start = clock::now();
    clock::time_point m_last = m_start;
};

// Hands the recorded rows to Google Benchmark sorted by N (stable: within one N, in the order
// the families registered them) and returns the rows the filter selects, for the progress line.
std::vector<progress_row> register_planned_rows() {
    std::vector<per_bench::planned_row>& rows = per_bench::plan().rows;
    std::stable_sort(
        rows.begin(), rows.end(),
        [](const per_bench::planned_row& a, const per_bench::planned_row& b) { return a.n < b.n; });
    std::vector<progress_row> selected;
    for (const per_bench::planned_row& row : rows) {
        benchmark::internal::Benchmark* registered =
            benchmark::RegisterBenchmark(row.name.c_str(), row.run);
        // The name Google Benchmark matches: the row's, then /iterations:1, /repeats:<n> and
        // /real_time where set.
        std::string matched = row.name;
        const double fixed_seconds = per_bench::concurrent_row_seconds(row.name);
        if (fixed_seconds > 0.0) {
            registered->Iterations(1)->UseRealTime();
            matched += "/iterations:1";
        }
        int runs = per_bench::plan().repetitions;
        if (row.repetitions > 0) {
            registered->Repetitions(row.repetitions);
            matched += "/repeats:" + std::to_string(row.repetitions);
            runs = row.repetitions;
        }
        if (fixed_seconds > 0.0) {
            matched += "/real_time";
        }
        if (per_bench::plan().selects(matched)) {
            // The family: the name without its N.
            const std::size_t first = row.name.find('/');
            const std::size_t second = row.name.find('/', first + 1);
            const std::size_t third = row.name.find('/', second + 1);
            std::string family = row.name;
            if (third != std::string::npos) {
                family = row.name.substr(0, second) + row.name.substr(third);
            }
            selected.push_back(progress_row{
                family, row.n, static_cast<std::size_t>(runs > 0 ? runs : 1), fixed_seconds});
        }
    }
    return selected;
}

// The value of --<name>=<value> among the arguments ("" if absent): read before Google
// Benchmark consumes its flags, for the run count of the progress line.
std::string flag_value(int argc, char** argv, const char* name) {
    const std::string prefix = std::string("--") + name + "=";
    std::string value;
    for (int i = 1; i < argc; ++i) {
        if (std::strncmp(argv[i], prefix.c_str(), prefix.size()) == 0) {
            value = argv[i] + prefix.size();
        }
    }
    return value;
}

void print_help() {
    benchmark::PrintDefaultHelp();
    std::printf("per benchmark suite options:\n"
                "          [%s]  also run N = 2^24 (about 1 GB of memory, 2 minutes more)\n"
                "          [%s]  print Google Benchmark's table of raw rows instead of the\n"
                "                     progress line\n"
                "Rows are named <operation>/<structure>/<N>/<batch>[/repeats:2], e.g.\n"
                "  --benchmark_filter='^sample/.*/1048576/256'\n"
                "The concurrent rows, concurrent/<design>/<N>/<actors>/iterations:1/real_time,\n"
                "run for 10 x --benchmark_min_time of wall time each (0.5 s without it).\n",
                huge_flag, rows_flag);
}

// Removes our flag `flag` from argv (Google Benchmark rejects what it does not know) and
// returns whether it was given.
bool take_flag(int& argc, char** argv, const char* flag) {
    bool given = false;
    int kept = 1;
    for (int i = 1; i < argc; ++i) {
        if (std::strcmp(argv[i], flag) == 0) {
            given = true;
        } else {
            argv[kept++] = argv[i];
        }
    }
    argc = kept;
    return given;
}

// Google Benchmark's context has the CPU count and caches but not the model.
std::string cpu_model() {
    std::ifstream cpuinfo("/proc/cpuinfo");
    std::string line;
    while (std::getline(cpuinfo, line)) {
        if (line.rfind("model name", 0) == 0) {
            const std::size_t colon = line.find(':');
            if (colon != std::string::npos) {
                return line.substr(line.find_first_not_of(" \t", colon + 1));
            }
        }
    }
    return "unknown";
}

// Which instruction set the library's hot loops (batched descent, IS-weight power) run here.
std::string kernel_instruction_set() {
#if defined(__AVX2__)
    return "AVX2 (the build targets it)";
#elif defined(PER_DETAIL_X86_KERNELS)
    return per::detail::runtime_avx2_selected()
               ? "AVX2, chosen at run time (the build targets SSE2)"
               : "SSE2";
#else
    return "portable C++ (no x86-64 kernels)";
#endif
}

} // namespace

int main(int argc, char** argv) {
    // Line-buffered even into a pipe or a log file: each row shows up as soon as it finishes.
    std::setvbuf(stdout, nullptr, _IOLBF, BUFSIZ);

    per_bench::plan().filter = flag_value(argc, argv, "benchmark_filter");
    const std::string repetitions = flag_value(argc, argv, "benchmark_repetitions");
    per_bench::plan().repetitions = repetitions.empty() ? 1 : std::atoi(repetitions.c_str());
    const std::string interleaved = flag_value(argc, argv, "benchmark_enable_random_interleaving");
    // The concurrent rows' wall time per run: 10 x the minimum time of the other rows (0.5 s in
    // the bench preset, 0.01 s in bench-smoke), 0.5 s without the flag or with an iteration
    // count ("100x") for it.
    const std::string min_time = flag_value(argc, argv, "benchmark_min_time");
    double concurrent_seconds = 0.5;
    if (!min_time.empty() && min_time.back() != 'x') {
        const double seconds = std::strtod(min_time.c_str(), nullptr);
        concurrent_seconds = seconds > 0.0 ? 10.0 * seconds : concurrent_seconds;
    }
    benchmark::Initialize(&argc, argv, print_help);
    const bool huge = take_flag(argc, argv, huge_flag);
    const bool raw_rows = take_flag(argc, argv, rows_flag);
    if (benchmark::ReportUnrecognizedArguments(argc, argv)) {
        return 1;
    }

    per_bench::suite_sizes sizes;
    const std::size_t largest = std::size_t{1} << (huge ? 24 : 22);
    for (std::size_t n = std::size_t{1} << 10; n <= largest; n *= 4) {
        sizes.slots.push_back(n);
    }
    sizes.batches = {256, 32};

    benchmark::AddCustomContext("per_version", PER_VERSION_STRING);
    benchmark::AddCustomContext("per_cpu_model", cpu_model());
    benchmark::AddCustomContext("per_compiler", PER_BENCH_COMPILER);
    benchmark::AddCustomContext("per_cxx_flags", PER_BENCH_CXX_FLAGS);
    benchmark::AddCustomContext("per_build_type", PER_BENCH_BUILD_TYPE);
    benchmark::AddCustomContext("per_native", PER_BENCH_NATIVE);
    benchmark::AddCustomContext("per_kernels", kernel_instruction_set());
    benchmark::AddCustomContext("per_reproduce", PER_BENCH_REPRODUCE);
    benchmark::AddCustomContext("per_repetitions", PER_BENCH_REPETITIONS);
    benchmark::AddCustomContext("per_interleaved", interleaved == "true" ? "true" : "false");
    benchmark::AddCustomContext("per_slow_rows", std::to_string(per_bench::slow_row_repetitions));
    benchmark::AddCustomContext("per_largest_n", std::to_string(largest));
    benchmark::AddCustomContext("per_concurrent_seconds", std::to_string(concurrent_seconds));
    benchmark::AddCustomContext("per_hardware_threads",
                                std::to_string(std::thread::hardware_concurrency()));

    per_bench::register_sampling_benchmarks(sizes);
    per_bench::register_update_benchmarks(sizes);
    per_bench::register_rank_based_benchmarks(sizes);
    per_bench::register_concurrent_benchmarks(concurrent_seconds);
    std::vector<progress_row> rows = register_planned_rows();
    if (raw_rows) {
        benchmark::RunSpecifiedBenchmarks();
    } else {
        progress_reporter progress(std::move(rows));
        benchmark::RunSpecifiedBenchmarks(&progress);
    }
    benchmark::Shutdown();
    return 0;
}
