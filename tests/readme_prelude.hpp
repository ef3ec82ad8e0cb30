// The context the README's code snippets assume; tests/readme_snippets.cmake puts this before
// them, and each snippet runs in a block after PER_README_CONTEXT (so that a snippet may
// declare a name of its own, such as `buffer`, over the context's).
#include <per/per.hpp>

#include <cstddef>
#include <fstream>
#include <random>
#include <vector>

// A replay item as the README's examples use it: trivially copyable, so checkpoints store it
// as bytes.
struct Transition {
    float state[4];
    int action;
    float reward;
    float next_state[4];
    bool done;
};

#define PER_README_CONTEXT                                                                         \
    [[maybe_unused]] std::mt19937_64 rng(1);                                                       \
    [[maybe_unused]] double beta = 0.4;                                                            \
    [[maybe_unused]] std::size_t slot = 0;                                                         \
    [[maybe_unused]] double priority = 1.0;                                                        \
    [[maybe_unused]] std::size_t capacity = 1024;                                                  \
    [[maybe_unused]] std::ifstream in;                                                             \
    [[maybe_unused]] std::vector<double> new_priorities;                                           \
    [[maybe_unused]] std::vector<std::size_t> slots;                                               \
    [[maybe_unused]] std::vector<double> priorities;                                               \
    [[maybe_unused]] std::vector<per::replay_handle> handles;                                      \
    [[maybe_unused]] per::prioritized_replay<Transition> buffer(capacity);
