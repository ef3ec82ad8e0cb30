// Numerical drift over a long run: 10^7 random updates on 2^20 leaves, with values decaying
// 1000x over the run as TD errors do in training, some of them zero.
//
// The bound. A sum tree never adjusts a sum by a delta: every inner entry is recomputed from its
// children after each update, so the root is a fixed function of the current leaves, equal bit
// for bit to the root of a tree built from scratch from them (checked). Its distance from the
// exact sum (computed here in long double) is that of one summation: each level adds Fanout
// non-negative values left to right, so with L levels (leaf nodes included) the relative error
// is at most (Fanout - 1) * L * u / (1 - (Fanout - 1) * L * u), u = 2^-53 for double:
// about 5.4e-15 for 2^20 leaves (Fanout 8, L = 7), whatever the number of updates. The test
// asserts that bound and prints the largest error seen (in practice ~1e-16).
//
// Sampling: thousands of prefix searches during the run and at the end, including the ones
// rounding makes hardest (u just below the total, u at or above it), must land on a leaf that
// is < capacity and non-zero (for the sampler: a filled slot with a non-zero weight).
//
// Labelled slow. tests/CMakeLists.txt compiles this file with -O2 (asserts stay on), so that it
// takes seconds in Debug builds and stays well under a minute under ASan.
#include <per/prioritized_sampler.hpp>
#include <per/sum_tree.hpp>

#include "per_catch.hpp"

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <random>
#include <vector>

namespace {

constexpr std::size_t leaves = std::size_t{1} << 20;
constexpr std::size_t updates = 10'000'000;
constexpr std::size_t checks = 10; // exact-sum checks during the run

// The decay of the typical value: 1 at the start, 1/1000 at the end.
double scale_at(std::size_t step, std::size_t steps) {
    return std::pow(1000.0, -static_cast<double>(step) / static_cast<double>(steps));
}

// Summation levels from the leaves to the root of a Fanout-ary tree over `count` leaves.
std::size_t levels(std::size_t count, std::size_t fanout) {
    std::size_t nodes = (count + fanout - 1) / fanout; // leaf nodes
    std::size_t result = 1;
    while (nodes > 1) {
        nodes = (nodes + fanout - 1) / fanout;
        ++result;
    }
    return result;
}

template <class T>
double relative_bound(std::size_t count, std::size_t fanout) {
    const double n = static_cast<double>((fanout - 1) * levels(count, fanout));
    const double u = std::numeric_limits<T>::epsilon() / 2;
    return n * u / (1 - n * u);
}

template <class T, std::size_t Fanout>
long double exact_sum(const per::sum_tree<T, Fanout>& tree) {
    long double sum = 0;
    for (std::size_t i = 0; i < tree.capacity(); ++i) {
        sum += tree.get(i);
    }
    return sum;
}

// Random prefix searches, plus the hardest ones, land on non-zero leaves below capacity.
template <class T, std::size_t Fanout, class Engine>
void require_sound_searches(const per::sum_tree<T, Fanout>& tree, Engine& engine,
                            std::size_t count) {
    const T total = tree.total();
    REQUIRE(total > T(0));
    std::vector<T> us;
    for (std::size_t k = 0; k < count; ++k) {
        us.push_back(static_cast<T>(per::uniform_unit(engine) * total));
        if (us.back() >= total) {
            us.back() = std::nextafter(total, T(0));
        }
    }
    us.push_back(T(0));
    us.push_back(std::nextafter(total, T(0)));
    std::vector<std::size_t> indices(us.size());
    tree.find_prefix_batch(us.data(), us.size(), indices.data());
    for (std::size_t k = 0; k < us.size(); ++k) {
        REQUIRE(indices[k] < tree.capacity());
        REQUIRE(tree.get(indices[k]) > T(0));
        REQUIRE(tree.find_prefix(us[k]) == indices[k]);
    }
    // What rounding in total * U can produce: u at or above the total.
    for (T u : {total, std::nextafter(total, std::numeric_limits<T>::infinity()), total * 2}) {
        const std::size_t index = tree.find_prefix_unchecked(u);
        REQUIRE(index < tree.capacity());
        REQUIRE(tree.get(index) > T(0));
    }
}

template <class T>
void run_tree_drift(std::size_t steps, std::uint64_t seed) {
    using tree_type = per::sum_tree<T>;
    const double bound = relative_bound<T>(leaves, tree_type::fanout);
    std::mt19937_64 engine(seed);
    tree_type tree(leaves);
    {
        std::vector<T> initial(leaves);
        for (T& value : initial) {
            value = per::uniform_below(engine, 16) == 0 ? T(0)
                                                        : static_cast<T>(per::uniform_unit(engine));
        }
        tree.assign(initial.begin(), initial.end());
    }
    double worst = 0;
    for (std::size_t check = 0; check < checks; ++check) {
        const std::size_t end = steps * (check + 1) / checks;
        for (std::size_t step = steps * check / checks; step < end; ++step) {
            const std::size_t index = per::uniform_below(engine, leaves);
            const double draw = per::uniform_unit(engine);
            // One update in 16 zeroes its leaf.
            const T value = draw < 1.0 / 16 ? T(0) : static_cast<T>(scale_at(step, steps) * draw);
            tree.set(index, value);
        }
        const long double exact = exact_sum(tree);
        const double error =
            static_cast<double>(std::fabs(static_cast<long double>(tree.total()) - exact) / exact);
        CAPTURE(check, error, bound);
        REQUIRE(error <= bound);
        worst = std::max(worst, error);
        require_sound_searches(tree, engine, 1000);
    }
    // No drift at all: a tree built from scratch from the same leaves has the same root.
    std::vector<T> values(leaves);
    for (std::size_t i = 0; i < leaves; ++i) {
        values[i] = tree.get(i);
    }
    tree_type fresh(leaves);
    fresh.assign(values.begin(), values.end());
    REQUIRE(fresh.total() == tree.total());
    require_sound_searches(tree, engine, 4096);
    WARN("sum_tree<" << (sizeof(T) == 8 ? "double" : "float") << ">: " << steps
                     << " updates on 2^20 leaves; largest relative error of the root " << worst
                     << " (bound " << bound << ")");
}

} // namespace

TEST_CASE("drift: 10^7 decaying updates on a 2^20 double sum tree", "[drift][slow]") {
    run_tree_drift<double>(updates, 1);
}

TEST_CASE("drift: 10^6 decaying updates on a 2^20 float sum tree", "[drift][slow]") {
    run_tree_drift<float>(updates / 10, 2);
}

TEST_CASE("drift: 10^7 priority updates on a 2^20 sampler, sampling all along", "[drift][slow]") {
    using per::sampling_mode;
    constexpr double alpha = 0.6;
    per::prioritized_sampler sampler(leaves, per::replay_options{}.alpha(alpha).epsilon(0.0));
    std::mt19937_64 engine(3);
    // 7/8 of the slots filled; priority 0 (weight 0) for one item in 16.
    for (std::size_t slot = 0; slot < leaves; ++slot) {
        if (slot % 8 != 5) {
            sampler.fill(slot,
                         per::uniform_below(engine, 16) == 0 ? 0.0 : per::uniform_unit(engine));
        }
    }
    const double bound =
        relative_bound<double>(leaves, per::prioritized_sampler::weight_tree_type::fanout);
    const auto exact_total = [&sampler] {
        long double sum = 0;
        for (std::size_t slot = 0; slot < sampler.capacity(); ++slot) {
            if (sampler.contains(slot)) {
                const double priority = sampler.priority(slot);
                sum += priority > 0.0 ? std::pow(priority, alpha) : 0.0;
            }
        }
        return sum;
    };

    constexpr std::size_t batch_size = 64;
    per::sample_batch batch;
    std::vector<double> priorities(batch_size);
    double worst = 0;
    std::size_t done = 0;
    std::size_t refills = 0;
    for (std::size_t check = 0; check < checks; ++check) {
        const std::size_t end = updates * (check + 1) / checks;
        while (done < end) {
            // The training loop: sample, check what was drawn, update the drawn priorities.
            sampler.sample(batch_size, 0.4, engine, batch);
            bool sound = true; // one REQUIRE per batch: Catch's per-assertion cost adds up
            for (std::size_t k = 0; k < batch_size; ++k) {
                const std::size_t slot = batch.slots()[k];
                sound = sound && sampler.contains(slot) && sampler.priority(slot) > 0.0;
                const double draw = per::uniform_unit(engine);
                priorities[k] = draw < 1.0 / 16 ? 0.0 : scale_at(done + k, updates) * draw;
            }
            REQUIRE(sound);
            sampler.update_priorities(batch.handles(), priorities);
            done += batch_size;
            // New experience now and then: a refill with the max priority (handles go stale).
            if (done % 1024 == 0) {
                const std::size_t slot = per::uniform_below(engine, leaves);
                if (sampler.contains(slot)) {
                    sampler.fill(slot);
                    ++refills;
                }
            }
        }
        const long double exact = exact_total();
        const double error = static_cast<double>(
            std::fabs(static_cast<long double>(sampler.total_weight()) - exact) / exact);
        CAPTURE(check, error, bound);
        REQUIRE(error <= bound);
        worst = std::max(worst, error);
    }
    REQUIRE(refills > 1000);

    // At the end, a few thousand draws in every mode, from the same state: a sampler built
    // with each mode and filled with the same raw priorities in the same slots. Its weights,
    // hence its tree, are the same function of those priorities, so the total must agree bit
    // for bit; in the run's own mode (stratified) it must also draw what the run's sampler
    // draws with an engine seeded alike. (No checkpoint is patched: the mode is an option of
    // the sampler built here.)
    for (sampling_mode mode : {sampling_mode::stratified, sampling_mode::independent,
                               sampling_mode::without_replacement}) {
        CAPTURE(static_cast<int>(mode));
        per::prioritized_sampler copy(
            leaves, per::replay_options{}.alpha(alpha).epsilon(0.0).sampling(mode));
        for (std::size_t slot = 0; slot < leaves; ++slot) {
            if (sampler.contains(slot)) {
                copy.fill(slot, sampler.priority(slot));
            }
        }
        REQUIRE(copy.size() == sampler.size());
        REQUIRE(copy.options().sampling() == mode);
        REQUIRE(copy.total_weight() == sampler.total_weight());
        if (mode == sampler.options().sampling()) {
            std::mt19937_64 a(11), b(11);
            const per::sample_batch from_copy = copy.sample(512, 1.0, a);
            const per::sample_batch from_run = sampler.sample(512, 1.0, b);
            REQUIRE(from_copy.slots() == from_run.slots());
            REQUIRE(from_copy.weights() == from_run.weights());
            REQUIRE(from_copy.probabilities() == from_run.probabilities());
        }
        for (int round = 0; round < 8; ++round) {
            copy.sample(512, 1.0, engine, batch);
            for (std::size_t k = 0; k < batch.size(); ++k) {
                REQUIRE(copy.contains(batch.slots()[k]));
                REQUIRE(copy.priority(batch.slots()[k]) > 0.0);
                REQUIRE(batch.probabilities()[k] > 0.0);
                REQUIRE(batch.weights()[k] > 0.0);
                REQUIRE(batch.weights()[k] <= 1.0); // global max normalization
            }
            if (mode == sampling_mode::without_replacement) {
                std::vector<std::size_t> slots(batch.slots().begin(), batch.slots().end());
                std::sort(slots.begin(), slots.end());
                REQUIRE(std::adjacent_find(slots.begin(), slots.end()) == slots.end());
            }
        }
    }
    WARN("prioritized_sampler: " << updates << " priority updates on 2^20 slots; largest "
                                 << "relative error of the total " << worst << " (bound " << bound
                                 << ")");
}
