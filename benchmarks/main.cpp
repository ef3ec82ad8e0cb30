// The per benchmark suite's entry point: Google Benchmark's flags plus our own, the build
// facts the report needs (added to the JSON context), then every row.
#include "per_bench_build_info.hpp"
#include "workload.hpp"

#include <per/detail/cpu.hpp>
#include <per/version.hpp>

#include <benchmark/benchmark.h>

#include <cstddef>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iostream>
#include <string>

namespace {

constexpr const char* huge_flag = "--per_huge";

void print_help() {
    benchmark::PrintDefaultHelp();
    std::printf("per benchmark suite options:\n"
                "          [%s]  also run N = 2^24 (about 1 GB of memory, 2 minutes more)\n"
                "Rows are named <operation>/<structure>/<N>/<batch>, e.g.\n"
                "  --benchmark_filter='^sample/.*/1048576/256$'\n",
                huge_flag);
}

// Removes our flags from argv (Google Benchmark rejects what it does not know) and returns
// whether --per_huge was given.
bool take_huge_flag(int& argc, char** argv) {
    bool huge = false;
    int kept = 1;
    for (int i = 1; i < argc; ++i) {
        if (std::strcmp(argv[i], huge_flag) == 0) {
            huge = true;
        } else {
            argv[kept++] = argv[i];
        }
    }
    argc = kept;
    return huge;
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

    benchmark::Initialize(&argc, argv, print_help);
    const bool huge = take_huge_flag(argc, argv);
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
    benchmark::AddCustomContext("per_largest_n", std::to_string(largest));

    per_bench::register_sampling_benchmarks(sizes);
    per_bench::register_update_benchmarks(sizes);
    per_bench::register_rank_based_benchmarks(sizes);
    benchmark::RunSpecifiedBenchmarks();
    benchmark::Shutdown();
    return 0;
}
