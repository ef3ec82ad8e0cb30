// Differential tests of rank-based prioritization: the O(log N) buffer
// (prioritized_replay<int, rank_based_sampler>) against the naive reference that argsorts on
// every draw, on random sequences of operations (valid and invalid), for several capacities,
// every sampling mode and every weight normalization. After each operation both must expose
// the same state (the same rank and probability for every slot), return the same values and
// throw the same exception types; sampling with identically seeded engines must draw the same
// slots (a prefix value within rounding of a boundary may land on the other side: allowed at
// most 1% of positions) with the same weights and probabilities.
#include <per/naive_rank_based.hpp>
#include <per/rank_based.hpp>

#include "per_catch.hpp"

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <random>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

namespace {

using per::replay_handle;
using per::replay_options;
using per::sampling_mode;
using per::weight_normalization;
using tree_buffer = per::rank_based_replay<int>;
using naive_buffer = per::naive_rank_based_replay<int>;

constexpr double not_a_number = std::numeric_limits<double>::quiet_NaN();
constexpr double infinite = std::numeric_limits<double>::infinity();

bool close(double a, double b, double relative) {
    if (a == b) {
        return true;
    }
    return std::fabs(a - b) <= relative * std::max(std::fabs(a), std::fabs(b));
}

// The exception type a call throws, or "ok".
template <class Function>
std::string outcome(Function&& f) {
    try {
        f();
        return "ok";
    } catch (const std::invalid_argument&) {
        return "invalid_argument";
    } catch (const std::out_of_range&) {
        return "out_of_range";
    } catch (const std::exception& e) {
        return std::string("other exception: ") + e.what();
    }
}

// The operation stream, from the library's own conversions so that it is the same with every
// standard library.
class chooser {
public:
    explicit chooser(std::uint64_t seed)
        : m_engine(seed) {}
    double unit() { return per::detail::uniform_unit(m_engine); }
    std::size_t below(std::size_t bound) {
        return static_cast<std::size_t>(per::detail::uniform_below(m_engine, bound));
    }
    bool chance(double probability) { return unit() < probability; }
    std::uint64_t seed() { return per::detail::random_bits<64>(m_engine); }

    // A valid raw priority: zeros (also -0.0), many ties, ordinary values, and a wide range of
    // magnitudes up to the largest double (ranks cannot overflow).
    double priority() {
        const double pick = unit();
        if (pick < 0.08) {
            return 0.0;
        }
        if (pick < 0.1) {
            return -0.0;
        }
        if (pick < 0.35) {
            return static_cast<double>(below(4)); // ties: 0, 1, 2, 3
        }
        if (pick < 0.8) {
            return 10.0 * unit();
        }
        if (pick < 0.82) {
            return std::numeric_limits<double>::max();
        }
        return std::pow(10.0, -300.0 + 600.0 * unit());
    }
    double invalid_priority() {
        const double values[] = {-1.0, -1e-30, not_a_number, infinite, -infinite}; // float too
        return values[below(5)];
    }

private:
    std::mt19937_64 m_engine;
};

struct counters {
    std::size_t positions = 0;
    std::size_t mismatches = 0;
    std::size_t without_positions = 0;
    std::size_t without_mismatches = 0;
    std::size_t samples = 0;
    std::size_t invalid = 0;
    std::size_t stale = 0;
    std::size_t ties = 0; // states checked in which two present items had equal priorities
};

void require_same_state(const tree_buffer& tree, const naive_buffer& naive, chooser& choose,
                        bool every_slot, counters& count) {
    REQUIRE(tree.size() == naive.size());
    REQUIRE(tree.empty() == naive.empty());
    REQUIRE(tree.capacity() == naive.capacity());
    REQUIRE(tree.next_slot() == naive.next_slot());
    REQUIRE(tree.max_priority() == naive.max_priority());
    REQUIRE(tree.alpha() == naive.alpha());
    REQUIRE(tree.sampler().size() == naive.size());
    const std::size_t size = naive.size();
    if (size == 0) {
        return;
    }
    // Every slot for small buffers or now and then; else a few random ones (the naive rank
    // is O(N) per call).
    const std::size_t checks = every_slot || size <= 16 ? size : 6;
    std::vector<double> seen;
    for (std::size_t c = 0; c < checks; ++c) {
        const std::size_t slot = checks == size ? c : choose.below(size);
        CAPTURE(slot);
        REQUIRE(tree.item(slot) == naive.item(slot));
        REQUIRE(tree.priority(slot) == naive.priority(slot));
        REQUIRE(std::signbit(tree.priority(slot)) == std::signbit(naive.priority(slot)));
        REQUIRE(tree.handle(slot) == naive.handle(slot));
        const std::size_t rank = naive.rank(slot);
        REQUIRE(tree.sampler().rank(slot) == rank);
        REQUIRE(tree.sampler().slot_of_rank(rank) == slot);
        const double p_tree = tree.probability(slot);
        const double p_naive = naive.probability(slot);
        CAPTURE(p_tree, p_naive);
        REQUIRE(close(p_tree, p_naive, 1e-12));
        seen.push_back(naive.priority(slot));
    }
    std::sort(seen.begin(), seen.end());
    count.ties += std::adjacent_find(seen.begin(), seen.end()) != seen.end();
    REQUIRE_THROWS_AS(tree.item(size), std::out_of_range);
    REQUIRE_THROWS_AS(naive.item(size), std::out_of_range);
}

// Sample from both with identically seeded engines and compare the batches.
void compare_samples(tree_buffer& tree, naive_buffer& naive, std::size_t batch_size, double beta,
                     std::uint64_t seed, bool into_caller_storage, counters& count) {
    std::mt19937_64 tree_engine(seed);
    std::mt19937_64 naive_engine(seed);
    std::vector<replay_handle> tree_handles(batch_size);
    std::vector<replay_handle> naive_handles(batch_size);
    std::vector<double> tree_weights(batch_size, -1.0);
    std::vector<double> naive_weights(batch_size, -1.0);
    std::vector<double> tree_probabilities(batch_size, -1.0);
    std::vector<double> naive_probabilities(batch_size, -1.0);
    std::string tree_outcome;
    std::string naive_outcome;
    if (into_caller_storage) {
        tree_outcome = outcome([&] {
            tree.sample_into(batch_size, beta, tree_engine, tree_handles.data(),
                             tree_weights.data(), tree_probabilities.data());
        });
        naive_outcome = outcome([&] {
            naive.sample_into(batch_size, beta, naive_engine, naive_handles.data(),
                              naive_weights.data(), naive_probabilities.data());
        });
    } else {
        per::replay_batch<int> tree_batch;
        per::replay_batch<int> naive_batch;
        tree_outcome = outcome([&] { tree.sample(batch_size, beta, tree_engine, tree_batch); });
        naive_outcome = outcome([&] { naive.sample(batch_size, beta, naive_engine, naive_batch); });
        if (tree_outcome == "ok" && naive_outcome == "ok") {
            REQUIRE(tree_batch.size() == batch_size);
            REQUIRE(naive_batch.size() == batch_size);
            for (std::size_t k = 0; k < batch_size; ++k) {
                REQUIRE(tree_batch.slots()[k] == tree_batch.handles()[k].slot);
                REQUIRE(&tree_batch[k] == &tree.item(tree_batch.slots()[k]));
                REQUIRE(&naive_batch[k] == &naive.item(naive_batch.slots()[k]));
            }
            tree_handles = tree_batch.handles();
            naive_handles = naive_batch.handles();
            tree_weights = tree_batch.weights();
            naive_weights = naive_batch.weights();
            tree_probabilities = tree_batch.probabilities();
            naive_probabilities = naive_batch.probabilities();
        }
    }
    REQUIRE(tree_outcome == naive_outcome);
    if (tree_outcome != "ok") {
        return;
    }
    ++count.samples;
    REQUIRE(tree_engine == naive_engine); // one uniform_unit per draw in both

    const bool batch_max = naive.options().normalization() == weight_normalization::batch_max;
    const bool without = naive.options().sampling() == sampling_mode::without_replacement;
    bool all_equal = true;
    std::size_t differing = 0;
    for (std::size_t k = 0; k < batch_size; ++k) {
        REQUIRE(naive_handles[k].slot < naive.size());
        REQUIRE(tree_handles[k].slot < tree.size());
        REQUIRE(naive_handles[k] == naive.handle(naive_handles[k].slot));
        REQUIRE(tree_handles[k] == tree.handle(tree_handles[k].slot));
        REQUIRE(tree_probabilities[k] > 0.0);
        if (tree_handles[k] != naive_handles[k]) {
            ++differing;
            all_equal = false;
            if (without) {
                differing += batch_size - k - 1; // the rest of the batch depends on it
                break;
            }
            continue;
        }
        CAPTURE(k, naive_handles[k].slot);
        REQUIRE(close(tree_probabilities[k], naive_probabilities[k], 1e-12));
        if (!batch_max) {
            REQUIRE(close(tree_weights[k], naive_weights[k], 1e-9));
        }
    }
    count.positions += batch_size;
    count.mismatches += differing;
    if (without) {
        count.without_positions += batch_size;
        count.without_mismatches += differing;
    }
    if (batch_max && all_equal) {
        for (std::size_t k = 0; k < batch_size; ++k) {
            REQUIRE(close(tree_weights[k], naive_weights[k], 1e-9));
        }
    }
    if (without && all_equal) {
        std::vector<std::size_t> slots;
        for (const replay_handle& handle : tree_handles) {
            slots.push_back(handle.slot);
        }
        std::sort(slots.begin(), slots.end());
        REQUIRE(std::adjacent_find(slots.begin(), slots.end()) == slots.end());
    }
}

struct configuration {
    std::size_t capacity;
    replay_options options;
};

std::string describe(const configuration& config) {
    std::ostringstream out;
    out << "capacity " << config.capacity << ", sampling "
        << static_cast<int>(config.options.sampling()) << ", normalization "
        << static_cast<int>(config.options.normalization()) << ", alpha " << config.options.alpha()
        << ", initial_max_priority " << config.options.initial_max_priority();
    return out.str();
}

void run_sequence(const configuration& config, std::uint64_t seed, std::size_t operations,
                  counters& count) {
    INFO(describe(config) << ", seed " << seed);
    chooser choose(seed);
    tree_buffer tree(config.capacity, config.options);
    naive_buffer naive(config.capacity, config.options);
    std::vector<replay_handle> pool; // handles seen so far: many go stale
    int next_item = 0;

    auto remember = [&pool, &choose](const replay_handle& handle) {
        if (pool.size() < 64) {
            pool.push_back(handle);
        } else {
            pool[choose.below(pool.size())] = handle;
        }
    };

    for (std::size_t op = 0; op < operations; ++op) {
        const double pick = choose.unit();
        std::ostringstream what;
        what << "operation " << op << ": ";
        bool invalid = false;

        if (pick < 0.25) {
            what << "push(" << next_item << ")";
            INFO(what.str());
            const replay_handle a = tree.push(next_item);
            const replay_handle b = naive.push(next_item);
            REQUIRE(a == b);
            REQUIRE(tree.sampler().rank(a.slot) == 1); // max priority, newest: rank 1
            remember(a);
            ++next_item;
        } else if (pick < 0.45) {
            invalid = choose.chance(0.08);
            const double priority = invalid ? choose.invalid_priority() : choose.priority();
            what << "push(" << next_item << ", " << priority << ")";
            INFO(what.str());
            replay_handle a{};
            replay_handle b{};
            const std::string tree_outcome = outcome([&] { a = tree.push(next_item, priority); });
            const std::string naive_outcome = outcome([&] { b = naive.push(next_item, priority); });
            REQUIRE(tree_outcome == naive_outcome);
            REQUIRE(tree_outcome == (invalid ? "invalid_argument" : "ok"));
            if (!invalid) {
                REQUIRE(a == b);
                remember(a);
                ++next_item;
            }
        } else if (pick < 0.70) {
            // update_priorities: pooled handles (often stale), current ones, duplicates.
            const std::size_t count_updates = 1 + choose.below(8);
            std::vector<replay_handle> handles;
            std::vector<double> priorities;
            for (std::size_t u = 0; u < count_updates; ++u) {
                const double kind = choose.unit();
                if (kind < 0.4 && !pool.empty()) {
                    handles.push_back(pool[choose.below(pool.size())]);
                } else if (kind < 0.8 && !naive.empty()) {
                    handles.push_back(naive.handle(choose.below(naive.size())));
                } else if (kind < 0.9 && !handles.empty()) {
                    handles.push_back(handles[choose.below(handles.size())]); // duplicate
                } else {
                    handles.push_back({choose.below(config.capacity),
                                       static_cast<std::uint32_t>(choose.below(4))});
                }
                priorities.push_back(choose.priority());
            }
            const double fault = choose.unit();
            if (fault < 0.04) {
                invalid = true;
                priorities[choose.below(priorities.size())] = choose.invalid_priority();
            } else if (fault < 0.07) {
                invalid = true;
                handles[choose.below(handles.size())].slot = config.capacity + choose.below(3);
            } else if (fault < 0.09) {
                invalid = true;
                priorities.push_back(1.0); // sizes differ
            }
            what << "update_priorities of " << handles.size() << " handles, " << priorities.size()
                 << " priorities";
            INFO(what.str());
            std::size_t applied_tree = 0;
            std::size_t applied_naive = 0;
            std::string tree_outcome;
            std::string naive_outcome;
            if (choose.chance(0.3)) {
                // As float: finite doubles beyond float's range are clamped first (converting
                // them would be undefined behaviour).
                std::vector<float> as_float;
                for (double value : priorities) {
                    const double largest = std::numeric_limits<float>::max();
                    as_float.push_back(static_cast<float>(
                        std::isfinite(value) ? std::max(-largest, std::min(value, largest))
                                             : value));
                }
                tree_outcome =
                    outcome([&] { applied_tree = tree.update_priorities(handles, as_float); });
                naive_outcome =
                    outcome([&] { applied_naive = naive.update_priorities(handles, as_float); });
            } else {
                tree_outcome =
                    outcome([&] { applied_tree = tree.update_priorities(handles, priorities); });
                naive_outcome =
                    outcome([&] { applied_naive = naive.update_priorities(handles, priorities); });
            }
            REQUIRE(tree_outcome == naive_outcome);
            REQUIRE((tree_outcome == "ok") == !invalid);
            REQUIRE(applied_tree == applied_naive);
            if (!invalid) {
                count.stale += handles.size() - applied_naive;
            }
        } else if (pick < 0.73) {
            const double alphas[] = {0.0, 0.25, 0.7, 1.0, 1.7};
            const double bad_alphas[] = {-0.5, not_a_number, infinite, 5000.0};
            invalid = choose.chance(0.2);
            const double alpha = invalid ? bad_alphas[choose.below(4)] : alphas[choose.below(5)];
            what << "set_alpha(" << alpha << ")";
            INFO(what.str());
            const std::string tree_outcome = outcome([&] { tree.set_alpha(alpha); });
            const std::string naive_outcome = outcome([&] { naive.set_alpha(alpha); });
            REQUIRE(tree_outcome == naive_outcome);
            // 5000 is too large for every capacity but 1 (where 1^-alpha = 1 always).
            const bool rejected = invalid && !(alpha == 5000.0 && config.capacity == 1);
            REQUIRE(tree_outcome == (rejected ? "invalid_argument" : "ok"));
            invalid = rejected;
        } else if (pick < 0.74) {
            what << "clear()";
            INFO(what.str());
            tree.clear();
            naive.clear();
        } else {
            std::size_t batch_size = 1 + choose.below(std::max<std::size_t>(naive.size(), 1) + 3);
            if (choose.chance(0.3)) {
                batch_size = 1 + choose.below(64);
            }
            double beta = choose.unit();
            if (choose.chance(0.1)) {
                beta = choose.chance(0.5) ? 0.0 : 1.0;
            }
            const double fault = choose.unit();
            if (fault < 0.03) {
                invalid = true;
                batch_size = 0;
            } else if (fault < 0.06) {
                invalid = true;
                const double bad_betas[] = {-0.1, 1.0000001, not_a_number, infinite};
                beta = bad_betas[choose.below(4)];
            }
            const bool into = choose.chance(0.2);
            what << (into ? "sample_into(" : "sample(") << batch_size << ", " << beta << ")";
            INFO(what.str());
            compare_samples(tree, naive, batch_size, beta, choose.seed(), into, count);
        }
        count.invalid += invalid;
        INFO(what.str());
        require_same_state(tree, naive, choose, op % 16 == 0, count);
    }
    require_same_state(tree, naive, choose, true, count);
}

} // namespace

TEST_CASE("rank differential: tree buffer and naive reference agree on random operations",
          "[rank_based][differential]") {
    const std::size_t capacities[] = {1, 2, 3, 7, 8, 9, 64, 100};
    const sampling_mode modes[] = {sampling_mode::stratified, sampling_mode::independent,
                                   sampling_mode::without_replacement};
    const weight_normalization normalizations[] = {weight_normalization::global_max,
                                                   weight_normalization::batch_max,
                                                   weight_normalization::none};
    const double alphas[] = {0.7, 1.0, 0.0, 0.4};
    const double initial_max_priorities[] = {1.0, 3.0, 0.5, 0.0};

    counters count;
    std::uint64_t seed = 27000;
    std::size_t index = 0;
    for (std::size_t capacity : capacities) {
        for (sampling_mode mode : modes) {
            for (weight_normalization normalization : normalizations) {
                const replay_options options =
                    replay_options{}
                        .sampling(mode)
                        .normalization(normalization)
                        .alpha(alphas[index % 4])
                        .initial_max_priority(initial_max_priorities[index % 4]);
                ++index;
                const std::size_t operations = capacity >= 64 ? 300 : 200;
                run_sequence({capacity, options}, ++seed, operations, count);
            }
        }
    }
    INFO("compared " << count.positions << " sampled positions in " << count.samples << " batches; "
                     << count.mismatches << " differ");
    REQUIRE(count.samples > 3000);
    REQUIRE(count.invalid > 500);
    REQUIRE(count.stale > 500);
    REQUIRE(count.ties > 1000);
    REQUIRE(count.mismatches * 100 <= count.positions);
    REQUIRE(count.without_positions > 2000);
    REQUIRE(count.without_mismatches * 100 <= count.without_positions);
}

TEST_CASE("rank differential: both throw alike for impossible samples",
          "[rank_based][differential]") {
    for (sampling_mode mode : {sampling_mode::stratified, sampling_mode::independent,
                               sampling_mode::without_replacement}) {
        CAPTURE(static_cast<int>(mode));
        const auto options = replay_options{}.sampling(mode);
        tree_buffer tree(4, options);
        naive_buffer naive(4, options);
        std::mt19937_64 a(1);
        std::mt19937_64 b(1);
        REQUIRE_THROWS_AS(tree.sample(1, 0.5, a), std::out_of_range);
        REQUIRE_THROWS_AS(naive.sample(1, 0.5, b), std::out_of_range);
        REQUIRE_THROWS_AS(tree.sample(0, 0.5, a), std::invalid_argument); // batch 0 first
        REQUIRE_THROWS_AS(naive.sample(0, 0.5, b), std::invalid_argument);
        // Priority 0 items are sampleable in rank-based replay.
        tree.push(1, 0.0);
        naive.push(1, 0.0);
        tree.push(2, 0.0);
        naive.push(2, 0.0);
        REQUIRE_NOTHROW(tree.sample(2, 0.5, a));
        REQUIRE_NOTHROW(naive.sample(2, 0.5, b));
        if (mode == sampling_mode::without_replacement) {
            REQUIRE_THROWS_AS(tree.sample(3, 0.5, a), std::out_of_range);
            REQUIRE_THROWS_AS(naive.sample(3, 0.5, b), std::out_of_range);
        } else {
            REQUIRE_NOTHROW(tree.sample(3, 0.5, a));
            REQUIRE_NOTHROW(naive.sample(3, 0.5, b));
        }
        REQUIRE(a == b);
        tree.clear();
        naive.clear();
        REQUIRE_THROWS_AS(tree.sample(1, 0.5, a), std::out_of_range);
        REQUIRE_THROWS_AS(naive.sample(1, 0.5, b), std::out_of_range);
    }
}

namespace {
struct constant_engine {
    using result_type = std::uint64_t;
    static constexpr result_type min() { return 0; }
    static constexpr result_type max() { return ~result_type{0}; }
    result_type value = 0;
    result_type operator()() const { return value; }
};
} // namespace

TEST_CASE("rank differential: both agree at the extreme uniforms 0 and 1 - 2^-53",
          "[rank_based][differential]") {
    const std::vector<double> priorities = {0.0, 0.0, 1.5, 0.0, 0.25, 3.0, 0.0, 0.0, 0.0};
    for (std::size_t capacity : {9, 16, 100}) {
        for (sampling_mode mode : {sampling_mode::stratified, sampling_mode::independent,
                                   sampling_mode::without_replacement}) {
            for (double alpha : {0.0, 0.7, 3.0}) {
                CAPTURE(capacity, static_cast<int>(mode), alpha);
                const auto options = replay_options{}.alpha(alpha).sampling(mode);
                tree_buffer tree(capacity, options);
                naive_buffer naive(capacity, options);
                for (double p : priorities) {
                    tree.push(0, p);
                    naive.push(0, p);
                }
                for (std::uint64_t value : {std::uint64_t{0}, ~std::uint64_t{0}}) {
                    for (std::size_t batch_size : {1, 2, 3, 7, 9, 33}) {
                        if (mode == sampling_mode::without_replacement && batch_size > 9) {
                            continue;
                        }
                        CAPTURE(value, batch_size);
                        constant_engine engine{value};
                        const auto a = tree.sample(batch_size, 0.5, engine);
                        const auto b = naive.sample(batch_size, 0.5, engine);
                        REQUIRE(a.slots() == b.slots());
                    }
                }
            }
        }
    }
}

TEST_CASE("rank differential: large buffers agree after heavy churn",
          "[rank_based][differential]") {
    // Fewer, larger sequences: a deep tree, many rotations, every slot compared at the end.
    counters count;
    for (sampling_mode mode : {sampling_mode::stratified, sampling_mode::without_replacement}) {
        const std::size_t capacity = 700;
        const replay_options options = replay_options{}.alpha(0.7).sampling(mode);
        tree_buffer tree(capacity, options);
        naive_buffer naive(capacity, options);
        chooser choose(static_cast<std::uint64_t>(mode) + 28000);
        std::vector<replay_handle> handles;
        for (std::size_t i = 0; i < 2000; ++i) {
            const double p = choose.priority();
            handles.push_back(tree.push(static_cast<int>(i), p));
            REQUIRE(naive.push(static_cast<int>(i), p) == handles.back());
            if (i % 3 == 0) {
                const replay_handle h = handles[choose.below(handles.size())];
                const double q = choose.priority();
                REQUIRE(tree.update_priority(h, q) == naive.update_priority(h, q));
            }
            if (i % 97 == 0) {
                compare_samples(tree, naive, 32, 0.5, choose.seed(), false, count);
            }
        }
        require_same_state(tree, naive, choose, true, count);
    }
    REQUIRE(count.mismatches * 100 <= count.positions);
}
