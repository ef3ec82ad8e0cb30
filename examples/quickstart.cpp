#include <per/sum_tree.hpp>

#include <cstdio>
#include <random>

int main() {
    per::sum_tree<> priorities(4); // four leaves, all zero
    priorities.set(0, 1.0);
    priorities.set(1, 3.0);
    priorities.set(3, 6.0); // leaf 2 stays zero: it is never drawn

    // Draw leaf i with probability priority(i) / total(): 0.1, 0.3, 0 and 0.6.
    std::mt19937_64 rng(42);
    std::uniform_real_distribution<double> uniform(0.0, priorities.total());
    for (int draw = 0; draw < 5; ++draw) {
        const std::size_t leaf = priorities.find_prefix(uniform(rng));
        std::printf("drew leaf %zu (priority %.0f)\n", leaf, priorities.get(leaf));
    }
}
