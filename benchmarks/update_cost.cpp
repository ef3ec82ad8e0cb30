// Where a priority update's time goes, counted rather than timed: run under callgrind with
// cache simulation (benchmarks/update_cost.sh does, for every configuration of its table), it
// collects only the measured loop (CALLGRIND_TOGGLE_COLLECT), after a warm-up loop of as many
// updates over other pool entries. The structures, priorities and slots are the update rows' of
// the suite (structures.hpp, workload.hpp), so the counts explain those rows.
//
//   per_update_cost <structure> <log2 N> <batch> <updates>
//
// structure: prioritized_replay (batch 1: update_priority; otherwise update_priorities with
// `batch` handles at a time) or binary_reference (one update_priority per update, as
// OpenAI baselines does). Instruction and cache-miss counts are the same on every run of the
// same binary, whatever else the machine does; they are not times.
#include "structures.hpp"
#include "workload.hpp"

#include <valgrind/callgrind.h>

#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

int main(int argc, char** argv) {
    using namespace per_bench;
    if (argc != 5) {
        std::fprintf(stderr,
                     "usage: %s prioritized_replay|binary_reference <log2 N> <batch> "
                     "<updates>\n",
                     argv[0]);
        return 2;
    }
    const std::string structure = argv[1];
    const std::size_t n = std::size_t{1} << std::strtoul(argv[2], nullptr, 10);
    const std::size_t batch = std::strtoul(argv[3], nullptr, 10);
    const std::size_t updates = std::strtoul(argv[4], nullptr, 10);
    if (batch == 0 || updates % batch != 0 || 2 * updates > pool_size) {
        std::fprintf(stderr, "batch must divide updates, and 2 * updates <= %zu\n", pool_size);
        return 2;
    }
    const update_pool pool = make_update_pool(n);
    std::size_t applied = 0;
    if (structure == "prioritized_replay") {
        library_buffer buffer = make_full_buffer<library_buffer>(n);
        std::vector<per::replay_handle> handles(pool_size);
        for (std::size_t j = 0; j < pool_size; ++j) {
            handles[j] = buffer.handle(pool.slots[j]);
        }
        const auto run = [&](std::size_t first) {
            for (std::size_t j = first; j < first + updates; j += batch) {
                applied += batch == 1 ? buffer.update_priority(handles[j], pool.priorities[j])
                                      : buffer.update_priorities(handles.data() + j,
                                                                 pool.priorities.data() + j, batch);
            }
        };
        run(0);
        CALLGRIND_TOGGLE_COLLECT;
        run(updates);
        CALLGRIND_TOGGLE_COLLECT;
    } else if (structure == "binary_reference") {
        binary_reference_buffer buffer = make_full_binary_reference(n);
        const auto run = [&](std::size_t first) {
            for (std::size_t j = first; j < first + updates; ++j) {
                buffer.update_priority(pool.slots[j], pool.priorities[j]);
                ++applied;
            }
        };
        run(0);
        CALLGRIND_TOGGLE_COLLECT;
        run(updates);
        CALLGRIND_TOGGLE_COLLECT;
    } else {
        std::fprintf(stderr, "unknown structure %s\n", structure.c_str());
        return 2;
    }
    std::printf("%zu updates applied\n", applied);
    return 0;
}
