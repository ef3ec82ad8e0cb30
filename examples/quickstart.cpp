#include <per/per.hpp>

#include <cstdio>
#include <random>
#include <vector>

struct transition {
    int state = 0;
    int action = 0;
    float reward = 0;
};

int main() {
    per::prioritized_replay<transition> buffer(100'000, per::replay_options{}.alpha(0.6));
    per::linear_schedule beta(0.4, 1.0, 10'000); // importance-sampling exponent, annealed to 1
    std::mt19937_64 rng(42);                     // you pass the engine: same seed, same batches

    for (int step = 0; step < 10'000; ++step) {
        buffer.push(transition{step, step % 4, 0.0f}); // new items get the running max priority
        if (buffer.size() < 256) {
            continue;
        }
        auto batch = buffer.sample(32, beta(step), rng); // O(32 log N): items, handles, weights
        std::vector<double> td_errors(batch.size());
        for (std::size_t k = 0; k < batch.size(); ++k) {
            // Your learner goes here: scale each loss by batch.weights()[k], measure |TD error|.
            td_errors[k] = 0.001 * (batch[k].state % 100);
        }
        buffer.update_priorities(batch.handles(), td_errors); // epsilon is added for you
    }
    std::printf("%zu items, max priority %.3f, P(slot 0) = %.2e\n", buffer.size(),
                buffer.max_priority(), buffer.probability(0));
}
