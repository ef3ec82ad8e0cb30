#ifndef PER_TESTS_DIFFERENTIAL_SUPPORT_HPP
#define PER_TESTS_DIFFERENTIAL_SUPPORT_HPP

// What the differential tests share (test_differential.cpp: prioritized_replay against
// naive_prioritized_replay; test_rank_based_differential.cpp: rank_based_replay against
// naive_rank_based_replay): the random stream of operations; the operations of a sequence,
// applied to both buffers alike (push, push with a priority, update_priorities, clear, sample);
// and the comparison of two batches drawn with engines seeded alike, where a draw may differ
// only if its prefix value lies within rounding of a boundary of the running sums (see
// boundary_bound: each such case is checked and counted, any other difference fails). Each test
// keeps its own mix of operations, its priority distribution, set_alpha (whose limits differ)
// and its checks of the state.

#include <per/random.hpp>
#include <per/replay_batch.hpp>
#include <per/replay_options.hpp>
#include <per/sample_batch.hpp>

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
#include <type_traits>
#include <utility>
#include <vector>

namespace per_test::differential {

inline constexpr double not_a_number = std::numeric_limits<double>::quiet_NaN();
inline constexpr double infinite = std::numeric_limits<double>::infinity();

// Whether a and b agree to `relative` (equal values, infinities included, always do). O(1).
inline bool close(double a, double b, double relative) {
    if (a == b) {
        return true;
    }
    return std::fabs(a - b) <= relative * std::max(std::fabs(a), std::fabs(b));
}

// The exception type a call throws ("invalid_argument", "out_of_range", or "other exception: "
// and its message), or "ok"; the result, if any, goes through `f` itself. Throws nothing but
// what `f` throws outside std::exception.
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

// How a test draws valid raw priorities from a uniform U in [0, 1): 0.0 below 0.08, -0.0 below
// 0.1, ties (0, 1, 2 or 3) below ties_below, ordinary values 10 U' below 0.8, the largest double
// below largest_below (0.8: never), and above it magnitudes 10^(smallest_exponent +
// exponent_span U') over a wide range (U' a second uniform).
struct priority_mix {
    double ties_below;
    double largest_below;
    double smallest_exponent;
    double exponent_span;
};

// The operation stream: our own random numbers (per::uniform_unit / uniform_below), so the
// sequence is the same with every standard library. Every member is O(1) and throws nothing.
class chooser {
public:
    chooser(std::uint64_t seed, const priority_mix& mix)
        : m_engine(seed)
        , m_mix(mix) {}

    double unit() { return per::uniform_unit(m_engine); }
    std::size_t below(std::size_t bound) {
        return static_cast<std::size_t>(per::uniform_below(m_engine, bound));
    }
    bool chance(double probability) { return unit() < probability; }
    std::uint64_t seed() { return per::detail::random_bits<64>(m_engine); }

    // A valid raw priority, drawn as the test's priority_mix says.
    double priority() {
        const double pick = unit();
        if (pick < 0.08) {
            return 0.0;
        }
        if (pick < 0.1) {
            return -0.0;
        }
        if (pick < m_mix.ties_below) {
            return static_cast<double>(below(4)); // ties: 0, 1, 2, 3
        }
        if (pick < 0.8) {
            return 10.0 * unit();
        }
        if (pick < m_mix.largest_below) {
            return std::numeric_limits<double>::max();
        }
        return std::pow(10.0, m_mix.smallest_exponent + m_mix.exponent_span * unit());
    }
    // A priority every buffer rejects; each converts to float as itself.
    double invalid_priority() {
        const double values[] = {-1.0, -1e-30, not_a_number, infinite, -infinite};
        return values[below(5)];
    }

private:
    std::mt19937_64 m_engine;
    priority_mix m_mix;
};

// What the differential tests count over a run, to show that the run exercised what it should.
struct counters {
    std::size_t positions = 0;         // sampled positions compared
    std::size_t mismatches = 0;        // positions whose slots differ
    std::size_t without_positions = 0; // of those, without replacement
    std::size_t without_mismatches = 0;
    std::size_t draws_checked = 0;  // draws whose prefix value was recomputed here (see walk)
    std::size_t boundary_cases = 0; // draws that differ, each within rounding of a boundary
    std::size_t samples = 0;        // successful sample calls
    std::size_t invalid = 0;        // invalid operations injected
    std::size_t stale = 0;          // updates skipped as stale
};

// Handles seen so far, at most 64 (a new one then replaces a random one): many go stale. O(1)
// per call; remember may throw std::bad_alloc.
class handle_pool {
public:
    void remember(const per::replay_handle& handle, chooser& choose) {
        if (m_handles.size() < 64) {
            m_handles.push_back(handle);
        } else {
            m_handles[choose.below(m_handles.size())] = handle;
        }
    }
    const std::vector<per::replay_handle>& handles() const noexcept { return m_handles; }

private:
    std::vector<per::replay_handle> m_handles;
};

// A random update_priorities call: 1 to 8 handles, each a pooled one (often stale), a current
// one of `naive`, a duplicate or any slot inside `capacity` with a small generation, each with
// a valid priority; then, sometimes, one fault: an invalid priority, a slot >= capacity or one
// priority more than handles (`invalid` says so). O(1); draws from `choose` only.
struct update_request {
    std::vector<per::replay_handle> handles;
    std::vector<double> priorities;
    bool invalid = false;
};

template <class Naive>
update_request random_update(chooser& choose, const handle_pool& pool, const Naive& naive,
                             std::size_t capacity) {
    const std::vector<per::replay_handle>& pooled = pool.handles();
    update_request request;
    const std::size_t count_updates = 1 + choose.below(8);
    for (std::size_t u = 0; u < count_updates; ++u) {
        const double kind = choose.unit();
        if (kind < 0.4 && !pooled.empty()) {
            request.handles.push_back(pooled[choose.below(pooled.size())]);
        } else if (kind < 0.8 && !naive.empty()) {
            request.handles.push_back(naive.handle(choose.below(naive.size())));
        } else if (kind < 0.9 && !request.handles.empty()) {
            // A duplicate.
            request.handles.push_back(request.handles[choose.below(request.handles.size())]);
        } else {
            // A slot inside the capacity, possibly empty, with some generation.
            request.handles.push_back(
                {choose.below(capacity), static_cast<std::uint32_t>(choose.below(4))});
        }
        request.priorities.push_back(choose.priority());
    }
    const double fault = choose.unit();
    if (fault < 0.04) {
        request.invalid = true;
        request.priorities[choose.below(request.priorities.size())] = choose.invalid_priority();
    } else if (fault < 0.07) {
        request.invalid = true;
        request.handles[choose.below(request.handles.size())].slot = capacity + choose.below(3);
    } else if (fault < 0.09) {
        request.invalid = true;
        request.priorities.push_back(1.0); // sizes differ
    }
    return request;
}

// Applies `request` to both buffers, as doubles or, if as_float, as floats (finite doubles
// beyond float's range are clamped first: converting them would be undefined behaviour), and
// requires the same outcome, success exactly for a valid request, and the same number applied;
// counts the stale handles of a valid request. O(request size).
template <class Tree, class Naive>
void compare_updates(Tree& tree, Naive& naive, const update_request& request, bool as_float,
                     counters& count) {
    std::size_t applied_tree = 0;
    std::size_t applied_naive = 0;
    std::string tree_outcome;
    std::string naive_outcome;
    if (as_float) {
        std::vector<float> floats;
        for (double value : request.priorities) {
            const double largest = std::numeric_limits<float>::max();
            floats.push_back(static_cast<float>(
                std::isfinite(value) ? std::max(-largest, std::min(value, largest)) : value));
        }
        tree_outcome =
            outcome([&] { applied_tree = tree.update_priorities(request.handles, floats); });
        naive_outcome =
            outcome([&] { applied_naive = naive.update_priorities(request.handles, floats); });
    } else {
        tree_outcome = outcome(
            [&] { applied_tree = tree.update_priorities(request.handles, request.priorities); });
        naive_outcome = outcome(
            [&] { applied_naive = naive.update_priorities(request.handles, request.priorities); });
    }
    REQUIRE(tree_outcome == naive_outcome);
    REQUIRE((tree_outcome == "ok") == !request.invalid);
    REQUIRE(applied_tree == applied_naive);
    if (!request.invalid) {
        count.stale += request.handles.size() - applied_naive;
    }
}

// A random sample call: a batch size up to a few more than `size` (or up to 64), a beta in [0,
// 1] (now and then exactly 0 or 1), sometimes a fault (batch 0, or beta outside [0, 1] or NaN:
// `invalid` says so), the form (into caller storage or not) and the engines' seed. Batches
// larger than the sampleable items arise by themselves without replacement, as does sampling
// an empty or all-zero buffer. O(1); draws from `choose` only.
struct sample_request {
    std::size_t batch_size = 0;
    double beta = 0.0;
    bool invalid = false;
    bool into_caller_storage = false;
    std::uint64_t seed = 0;
};

inline sample_request random_sample(chooser& choose, std::size_t size) {
    sample_request request;
    request.batch_size = 1 + choose.below(std::max<std::size_t>(size, 1) + 3);
    if (choose.chance(0.3)) {
        request.batch_size = 1 + choose.below(64);
    }
    request.beta = choose.unit();
    if (choose.chance(0.1)) {
        request.beta = choose.chance(0.5) ? 0.0 : 1.0;
    }
    const double fault = choose.unit();
    if (fault < 0.03) {
        request.invalid = true;
        request.batch_size = 0;
    } else if (fault < 0.06) {
        request.invalid = true;
        const double bad_betas[] = {-0.1, 1.0000001, not_a_number, infinite};
        request.beta = bad_betas[choose.below(4)];
    }
    request.into_caller_storage = choose.chance(0.2);
    request.seed = choose.seed();
    return request;
}

// The distribution a naive buffer's sample walks: the single-draw probability of each position
// in the order of its running sums (slot order for the proportional reference, rank order for
// the rank-based one), and the position of each slot. Built from the public observers
// (probability, rank). O(N^2).
struct walk {
    std::vector<double> probabilities; // by position
    std::vector<std::size_t> position; // by slot
};

template <class Naive, class = void>
struct walks_by_rank : std::false_type {};
template <class Naive>
struct walks_by_rank<Naive, std::void_t<decltype(std::declval<const Naive&>().rank(0))>>
    : std::true_type {};

template <class Naive>
walk walk_of(const Naive& naive) {
    walk result;
    result.probabilities.assign(naive.size(), 0.0);
    result.position.assign(naive.size(), 0);
    for (std::size_t slot = 0; slot < naive.size(); ++slot) {
        std::size_t position = slot;
        if constexpr (walks_by_rank<Naive>::value) {
            position = naive.rank(slot) - 1;
        }
        result.position[slot] = position;
        result.probabilities[position] = naive.probability(slot);
    }
    return result;
}

// How far (in units of the total weight) rounding can move a prefix value relative to the
// running sums it is compared with, for n positions: (4 n + 32) * 2^-52.
//
// Why. Both buffers draw from the same weights: the same std::pow of the same priorities (or
// ranks), so the weights agree bit for bit, and in exact arithmetic the two would pick the same
// position for every uniform U. They differ only in how they add: the naive buffer's running
// sums are a left fold, the tree's node sums a fold per node, its descent subtracts the sums
// passed, and each forms its prefix value from its own total. Every sum of at most n
// non-negative terms, in any order, lies within (n - 1) u T of the exact one (u = 2^-53, T the
// total); the descent adds at most one rounding of at most u T per level, and the prefix value
// (k + U) T / B or U T two more. This test recomputes the running sums from probabilities
// w_i / T (one more rounding each) and adds them up again: another n u. In all, under
// (3 n + 16) u T; the bound, (8 n + 64) u T, leaves more than a factor of two. A uniform U falls
// within it of one of the n + 1 boundaries with probability below 2 (n + 1) (4 n + 32) 2^-52,
// about 2e-11 per draw for n = 100: over the ~10^5 draws of a test a genuine boundary case is
// not expected at all (about 2e-6 of them), so in practice the two buffers must agree on every
// draw, and a draw that differs away from a boundary is a bug.
inline double boundary_bound(std::size_t positions) {
    return (4.0 * static_cast<double>(positions) + 32.0) * std::numeric_limits<double>::epsilon();
}

// How far the prefix value v (in units of the total) lies from the interval of running sums
// that `position` owns, [C_position, C_position + p_position), where C sums the probabilities
// of the positions before it that are not `drawn` (without replacement, the positions drawn
// earlier in the batch weigh nothing). 0 if v lies inside it. O(N).
inline double distance_to_interval(const walk& w, const std::vector<char>& drawn,
                                   std::size_t position, double v) {
    double before = 0.0;
    for (std::size_t i = 0; i < position; ++i) {
        before += drawn[i] ? 0.0 : w.probabilities[i];
    }
    const double after = before + w.probabilities[position];
    return std::max({0.0, before - v, v - after});
}

// Samples from both buffers with engines seeded alike and compares the batches: the same
// outcome; the same engine state after (one uniform per draw in both); every position a live
// item with a current handle and a non-zero probability; a batch's slots and items consistent
// with its handles; at each position whose slots agree, probabilities within
// probability_tolerance and weights within 1e-9 (under batch_max normalization only if the
// whole batch agrees, since the batch's max weight then differs); without replacement, no slot
// twice. Each draw is also checked against its definition: the k-th uniform U_k of an engine
// seeded alike gives the prefix value v = (k + U_k) / B (stratified), U_k (independent) or U_k
// times the probability not drawn yet (without replacement), in units of the total, and the
// naive buffer's position must own v (up to boundary_bound). A position whose slots differ is
// allowed only if the tree's position owns v up to that bound as well: two positions that both
// do are neighbours at a boundary within rounding of v (counted in boundary_cases); any other
// difference fails. Without replacement one difference changes the rest of the batch, which
// then counts as differing too and is not compared. O(B N + N^2) (the naive observers).
template <class Tree, class Naive>
void compare_samples(Tree& tree, Naive& naive, std::size_t batch_size, double beta,
                     std::uint64_t seed, bool into_caller_storage, double probability_tolerance,
                     counters& count) {
    using per::replay_handle;
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
                REQUIRE(naive_batch.slots()[k] == naive_batch.handles()[k].slot);
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
    // Both consumed the engine identically: one uniform_unit per draw.
    REQUIRE(tree_engine == naive_engine);

    const bool batch_max = naive.options().normalization() == per::weight_normalization::batch_max;
    const bool without = naive.options().sampling() == per::sampling_mode::without_replacement;
    const bool stratified = naive.options().sampling() == per::sampling_mode::stratified;
    const walk w = walk_of(naive);
    const double bound = boundary_bound(naive.size());
    std::vector<char> drawn(naive.size(), 0); // positions drawn so far, without replacement
    std::mt19937_64 replay(seed);             // the uniforms both buffers used
    bool all_equal = true;
    std::size_t differing = 0; // positions of this batch whose slots differ
    for (std::size_t k = 0; k < batch_size; ++k) {
        const std::size_t slot = naive_handles[k].slot;
        REQUIRE(slot < naive.size());
        REQUIRE(tree_handles[k].slot < tree.size());
        REQUIRE(naive.probability(slot) > 0.0);
        REQUIRE(tree_probabilities[k] > 0.0);
        REQUIRE(naive_handles[k] == naive.handle(slot));
        REQUIRE(tree_handles[k] == tree.handle(tree_handles[k].slot));

        const double unit = per::uniform_unit(replay);
        double v = unit;
        if (stratified) {
            v = (static_cast<double>(k) + unit) / static_cast<double>(batch_size);
        } else if (without) {
            double remaining = 0.0;
            for (std::size_t i = 0; i < drawn.size(); ++i) {
                remaining += drawn[i] ? 0.0 : w.probabilities[i];
            }
            v = unit * remaining;
        }
        const std::size_t naive_position = w.position[slot];
        CAPTURE(k, v, naive_position);
        INFO("bound " << bound);
        REQUIRE(distance_to_interval(w, drawn, naive_position, v) <= bound);
        ++count.draws_checked;
        if (tree_handles[k] != naive_handles[k]) {
            // Allowed only at a boundary within rounding of v: the tree's position must own v
            // up to the same bound.
            const std::size_t tree_position = w.position[tree_handles[k].slot];
            CAPTURE(tree_position);
            REQUIRE(distance_to_interval(w, drawn, tree_position, v) <= bound);
            ++count.boundary_cases;
            ++differing;
            all_equal = false;
            if (without) {
                // The rest of a batch without replacement depends on what was drawn: count
                // every remaining position as differing.
                differing += batch_size - k - 1;
                break;
            }
            continue;
        }
        if (without) {
            drawn[naive_position] = 1;
        }
        CAPTURE(slot);
        REQUIRE(close(tree_probabilities[k], naive_probabilities[k], probability_tolerance));
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
        for (const replay_handle& handle : naive_handles) {
            slots.push_back(handle.slot);
        }
        std::sort(slots.begin(), slots.end());
        REQUIRE(std::adjacent_find(slots.begin(), slots.end()) == slots.end());
    }
}

// The operations of a random sequence, applied to both buffers alike. Each describes itself in
// `what` (for the failure messages), requires that both buffers return the same and throw alike,
// draws from `choose` in a fixed order (so a seed fixes the sequence), and returns whether it
// was an invalid operation on purpose. The tests choose among them and check the state after
// each.

// push(next_item) into both: the same handle, which joins the pool. Returns the handle.
template <class Tree, class Naive>
per::replay_handle push_both(Tree& tree, Naive& naive, int& next_item, handle_pool& pool,
                             chooser& choose, std::ostringstream& what) {
    what << "push(" << next_item << ")";
    INFO(what.str());
    const per::replay_handle a = tree.push(next_item);
    const per::replay_handle b = naive.push(next_item);
    REQUIRE(a == b);
    pool.remember(a, choose);
    ++next_item;
    return a;
}

// push(next_item, priority) into both, with an invalid priority 8% of the time: the same
// outcome (invalid_argument exactly for those) and, if valid, the same handle.
template <class Tree, class Naive>
bool push_both_with_priority(Tree& tree, Naive& naive, int& next_item, handle_pool& pool,
                             chooser& choose, std::ostringstream& what) {
    const bool invalid = choose.chance(0.08);
    const double priority = invalid ? choose.invalid_priority() : choose.priority();
    what << "push(" << next_item << ", " << priority << ")";
    INFO(what.str());
    per::replay_handle a{};
    per::replay_handle b{};
    const std::string tree_outcome = outcome([&] { a = tree.push(next_item, priority); });
    const std::string naive_outcome = outcome([&] { b = naive.push(next_item, priority); });
    REQUIRE(tree_outcome == naive_outcome);
    REQUIRE(tree_outcome == (invalid ? "invalid_argument" : "ok"));
    if (!invalid) {
        REQUIRE(a == b);
        pool.remember(a, choose);
        ++next_item;
    }
    return invalid;
}

// A random_update applied to both by compare_updates, as floats 30% of the time.
template <class Tree, class Naive>
bool update_both(Tree& tree, Naive& naive, const handle_pool& pool, chooser& choose,
                 std::size_t capacity, counters& count, std::ostringstream& what) {
    const update_request request = random_update(choose, pool, naive, capacity);
    what << "update_priorities of " << request.handles.size() << " handles, "
         << request.priorities.size() << " priorities";
    INFO(what.str());
    compare_updates(tree, naive, request, choose.chance(0.3), count);
    return request.invalid;
}

// clear() both.
template <class Tree, class Naive>
void clear_both(Tree& tree, Naive& naive, std::ostringstream& what) {
    what << "clear()";
    tree.clear();
    naive.clear();
}

// A random_sample drawn from both and compared by compare_samples.
template <class Tree, class Naive>
bool sample_both(Tree& tree, Naive& naive, chooser& choose, double probability_tolerance,
                 counters& count, std::ostringstream& what) {
    const sample_request request = random_sample(choose, naive.size());
    what << (request.into_caller_storage ? "sample_into(" : "sample(") << request.batch_size << ", "
         << request.beta << ")";
    INFO(what.str());
    compare_samples(tree, naive, request.batch_size, request.beta, request.seed,
                    request.into_caller_storage, probability_tolerance, count);
    return request.invalid;
}

// An engine that always returns `value`: value 0 makes every uniform 0, the largest value
// makes it 1 - 2^-53, the extremes a sampler must survive.
struct constant_engine {
    using result_type = std::uint64_t;
    static constexpr result_type min() { return 0; }
    static constexpr result_type max() { return ~result_type{0}; }
    result_type value = 0;
    result_type operator()() const { return value; }
};

} // namespace per_test::differential

#endif // PER_TESTS_DIFFERENTIAL_SUPPORT_HPP
