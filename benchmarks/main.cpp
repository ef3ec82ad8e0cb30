// The per benchmark suite's entry point: Google Benchmark's flags plus our own, the build
// facts the report needs (added to the JSON context), then every row.
#include "per_bench_build_info.hpp"
#include "workload.hpp"

#include <per/detail/cpu.hpp>
#include <per/version.hpp>

#include <benchmark/benchmark.h>

#include <chrono>
#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iostream>
#include <regex>
#include <string>
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
    const std::regex pattern(negative ? filter.substr(1) : filter, std::regex::extended);
    return std::regex_search(name, pattern) != negative;
}

} // namespace per_bench

namespace {

constexpr const char* huge_flag = "--per_huge";
constexpr const char* rows_flag = "--per_rows";

// The console of a run: one progress line (runs done of the total, elapsed, estimated time
// left), rewritten in place on a terminal and printed at every tenth of the runs otherwise,
// instead of Google Benchmark's table of ~2,000 raw rows (which --benchmark_out still writes
// in full, and --per_rows prints as before). Errors are printed as they happen.
class progress_reporter : public benchmark::BenchmarkReporter {
public:
    explicit progress_reporter(std::size_t total)
        : m_total(total)
        , m_terminal(isatty(fileno(stdout)) != 0) {}

    bool ReportContext(const Context& context) override {
        m_start = clock::now();
        std::printf("per benchmark suite: %zu runs on %d CPUs%s\n", m_total,
                    context.cpu_info.num_cpus,
                    m_terminal ? "" : " (progress every tenth of the runs)");
        return true;
    }

    void ReportRuns(const std::vector<Run>& runs) override {
        const std::size_t before = m_done;
        for (const Run& run : runs) {
            if (run.error_occurred) {
                std::printf("%s%s: error: %s\n", m_terminal ? "\n" : "",
                            run.benchmark_name().c_str(), run.error_message.c_str());
            }
            if (run.run_type == Run::RT_Iteration) {
                ++m_done;
            }
        }
        if (m_done > before) { // aggregates come as runs of their own
            show();
        }
    }

    void Finalize() override {
        if (m_terminal) {
            std::printf("\n");
        }
        std::fflush(stdout);
    }

private:
    using clock = std::chrono::steady_clock;

    static std::string minutes(double seconds) {
        const long whole = static_cast<long>(seconds + 0.5);
        char text[32];
        std::snprintf(text, sizeof text, "%ld:%02ld", whole / 60, whole % 60);
        return text;
    }

    void show() {
        const double elapsed = std::chrono::duration<double>(clock::now() - m_start).count();
        const std::size_t total = m_total > m_done ? m_total : m_done;
        const std::size_t tenth = total / 10 > 0 ? total / 10 : 1;
        if (!m_terminal && m_done % tenth != 0 && m_done != total) {
            return;
        }
        const double left =
            m_done > 0 ? elapsed * static_cast<double>(total - m_done) / static_cast<double>(m_done)
                       : 0.0;
        std::printf("%s[%zu/%zu runs] %s elapsed, about %s left   %s", m_terminal ? "\r" : "",
                    m_done, total, minutes(elapsed).c_str(), minutes(left).c_str(),
                    m_terminal ? "" : "\n");
        std::fflush(stdout);
    }

    std::size_t m_total;
    std::size_t m_done = 0;
    bool m_terminal;
    clock::time_point m_start = clock::now();
};

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
                "Rows are named <operation>/<structure>/<N>/<batch>, e.g.\n"
                "  --benchmark_filter='^sample/.*/1048576/256$'\n",
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

    per_bench::register_sampling_benchmarks(sizes);
    per_bench::register_update_benchmarks(sizes);
    per_bench::register_rank_based_benchmarks(sizes);
    if (raw_rows) {
        benchmark::RunSpecifiedBenchmarks();
    } else {
        progress_reporter progress(per_bench::plan().runs);
        benchmark::RunSpecifiedBenchmarks(&progress);
    }
    benchmark::Shutdown();
    return 0;
}
