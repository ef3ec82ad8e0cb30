// Differential fuzz target: decodes the input bytes into a buffer configuration and a sequence
// of operations (push with and without a priority, sample and sample_into in the configured
// mode, update_priorities with live, stale, duplicate, out-of-range handles and bad values in
// float or double, set_alpha, clear, observers, and checkpoint round trips, intact and
// corrupted), applies them to per::prioritized_replay<int> and per::naive_prioritized_replay<int>
// side by side, and aborts (a finding) unless after every operation
// - both threw the same exception type or both succeeded, with the same results;
// - sizes, ring positions, max priorities, items, raw priorities and handles are equal, and the
//   probability of every slot agrees within 1e-9 relative;
// - identically seeded engines draw the same slots, except where rounding puts a prefix value
//   within 1e-9 (relative to the total) of a boundary between two slots (the tolerance of
//   tests/test_differential.cpp, made exact per draw), with weights and probabilities within
//   1e-9, every drawn slot live with a non-zero probability, and the engines consumed alike;
// - a checkpoint round trip restores each buffer exactly (tests/state_snapshot.hpp), both
//   buffers' checkpoints hold the same fields, and a corrupted or truncated checkpoint throws
//   per::checkpoint_error and leaves the target exactly as it was.
// The only tolerated disagreement on acceptance is a priority or alpha whose weight lies within
// 1e-6 of the largest the sums accept, where the two formulations may round differently; the
// run then ends there (the buffers would no longer hold the same items).
//
// An input whose first byte is 0xfe (rank_based_selector) drives per::rank_based_replay<int>
// against per::naive_rank_based_replay<int> instead, with the rest of the input read the same
// way (configuration, then operations). There every acceptance must agree exactly (both take
// any finite priority >= 0 and the same alphas), the tree's rank of every slot must be the
// naive rule's (priority, then the more recent push), probabilities agree within 1e-9, draws
// are compared in rank positions with the same boundary tolerance, and a checkpoint round trip
// must restore the buffer exactly and save the same bytes again (the naive reference has no
// checkpoints: it stays, and checks the loaded buffer from then on); corrupted, truncated and
// other-kind checkpoints must throw and change nothing. Any other first byte keeps the
// original meaning of the input, so the saved corpus of the proportional pair still drives it.
//
// Built twice by tests/fuzz/CMakeLists.txt: with libFuzzer (the fuzz preset) and with a plain
// main that replays tests/fuzz/corpus and tests/fuzz/crashes in the normal test run.
#include <per/checkpoint.hpp>
#include <per/naive_rank_based.hpp>
#include <per/naive_replay.hpp>
#include <per/prioritized_replay.hpp>
#include <per/rank_based.hpp>

#include "../state_snapshot.hpp"

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
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
using tree_buffer = per::prioritized_replay<int>;
using naive_buffer = per::naive_prioritized_replay<int>;
using rank_buffer = per::rank_based_replay<int>;
using naive_rank_buffer = per::naive_rank_based_replay<int>;

// The first byte of an input that drives the rank-based pair; every other first byte (and the
// empty input) drives the proportional pair, which reads the input exactly as before the
// rank-based pair existed, so saved inputs keep their meaning.
constexpr std::uint8_t rank_based_selector = 0xfe;

constexpr double relative_tolerance = 1e-9;
constexpr double boundary_tolerance = 1e-9;
constexpr double limit_tolerance = 1e-6;
constexpr std::size_t max_operations = 256;

[[noreturn]] void finding(const std::string& what) {
    std::fprintf(stderr, "per fuzz finding: %s\n", what.c_str());
    std::fflush(stderr);
    std::abort();
}

#define PER_FUZZ_CHECK(condition, what)                                                            \
    do {                                                                                           \
        if (!(condition)) {                                                                        \
            finding(std::string(#condition) + ": " + (what));                                      \
        }                                                                                          \
    } while (false)

std::string text(double value) {
    return per_test::hex(value);
}

// The input, read front to back; reads past the end give zeros.
class input {
public:
    input(const std::uint8_t* data, std::size_t size)
        : m_data(data)
        , m_size(size) {}

    bool exhausted() const noexcept { return m_position >= m_size; }
    std::uint8_t byte() noexcept { return m_position < m_size ? m_data[m_position++] : 0; }
    std::uint64_t bits64() noexcept {
        std::uint64_t value = 0;
        for (int i = 0; i < 8; ++i) {
            value |= static_cast<std::uint64_t>(byte()) << (8 * i);
        }
        return value;
    }
    double raw_double() noexcept {
        const std::uint64_t bits = bits64();
        double value;
        std::memcpy(&value, &bits, sizeof value);
        return value;
    }
    std::size_t below(std::size_t bound) noexcept { return bound == 0 ? 0 : byte() % bound; }
    double unit() noexcept { return static_cast<double>(byte()) / 256.0; }

    // Priorities: mostly valid, with ties, zeros, extremes, and all kinds of bad values.
    double priority() noexcept {
        const std::uint8_t kind = byte();
        switch (kind % 20) {
        case 0:
            return 0.0;
        case 1:
            return -0.0;
        case 2:
        case 3:
            return static_cast<double>(byte() % 5);
        case 4:
        case 5:
        case 6:
            return 10.0 * unit() + unit() / 256.0;
        case 7:
            return std::pow(10.0, static_cast<int>(byte()) - 128);
        case 8:
            return std::ldexp(1.0 + unit(), static_cast<int>(byte()) * 8 - 1024);
        case 9:
            return raw_double();
        case 10:
            return std::numeric_limits<double>::quiet_NaN();
        case 11:
            return (kind & 0x80) ? -std::numeric_limits<double>::infinity()
                                 : std::numeric_limits<double>::infinity();
        case 12:
            return -1.0 - unit();
        case 13:
            return std::numeric_limits<double>::max();
        case 14:
            return std::numeric_limits<double>::denorm_min();
        case 15:
            return 1e-6 * unit();
        default:
            return 0.25 * (kind % 9);
        }
    }
    double alpha() noexcept {
        const double table[] = {0.6, 0.0,    0.4,  1.0,   0.5,  2.0,  0.01,
                                7.0, 1e-300, 1e17, 1e300, 60.0, -1.0, 1.5e-8};
        const std::uint8_t kind = byte();
        if (kind < 200) {
            return table[kind % 14];
        }
        return kind < 230 ? 3.0 * unit() : raw_double();
    }
    double epsilon() noexcept {
        const double table[] = {1e-6, 0.0, 0.01, 1.0, 1e-12, 0.1, 1e308, 1e-320, -1e-9, 0.5};
        const std::uint8_t kind = byte();
        return kind < 230 ? table[kind % 10] : raw_double();
    }
    double initial_max_priority() noexcept {
        const double table[] = {1.0, 0.0, 3.0, 0.5, 1e200, 1e-300, 2.0};
        const std::uint8_t kind = byte();
        return kind < 230 ? table[kind % 7] : raw_double();
    }
    double beta() noexcept {
        const std::uint8_t kind = byte();
        switch (kind % 12) {
        case 0:
            return 0.0;
        case 1:
            return 1.0;
        case 2:
            return std::numeric_limits<double>::quiet_NaN();
        case 3:
            return (kind & 0x80) ? -0.1 : 1.0000001;
        default:
            return unit();
        }
    }

private:
    const std::uint8_t* m_data;
    std::size_t m_size;
    std::size_t m_position = 0;
};

bool close(double a, double b) {
    if (a == b) {
        return true;
    }
    const double larger = std::max(std::fabs(a), std::fabs(b));
    // Below ~1e-290 the quotients behind probabilities lose precision to gradual underflow.
    return larger < 1e-290 || std::fabs(a - b) <= relative_tolerance * larger;
}

// The naive buffer's weight of a raw priority, recomputed here the way it computes it.
double weight_of(double priority, const replay_options& options) {
    const double base = priority + options.epsilon();
    return base > 0.0 ? std::pow(base, options.alpha()) : 0.0;
}

// Whether the weight of `priority` under `alpha` is within limit_tolerance of the largest
// weight the buffers accept (max double / (4 capacity)), computed in long double.
bool near_limit(double priority, double alpha, double epsilon, std::size_t capacity) {
    if (!std::isfinite(priority) || priority < 0.0 || !std::isfinite(alpha) || alpha < 0.0) {
        return false;
    }
    const long double largest = static_cast<long double>(std::numeric_limits<double>::max()) /
                                (4.0L * static_cast<long double>(capacity));
    const long double base = static_cast<long double>(priority) + epsilon;
    if (!(base > 0.0L)) {
        return false;
    }
    const long double weight = std::pow(base, static_cast<long double>(alpha));
    return std::fabs(weight / largest - 1.0L) <= limit_tolerance;
}

// The tolerance for a draw whose positions differ (slots for proportional buffers, ranks for
// rank-based ones): the prefix value u lies within boundary_tolerance * total of the boundary
// after the lower of the two positions, and the positions between them carry no more than that
// weight.
bool at_boundary(const std::vector<double>& weights, double u, std::size_t a, std::size_t b) {
    if (a > b) {
        std::swap(a, b);
    }
    long double total = 0;
    long double through_a = 0;
    long double before_b = 0;
    for (std::size_t i = 0; i < weights.size(); ++i) {
        total += weights[i];
        if (i <= a) {
            through_a += weights[i];
        }
        if (i < b) {
            before_b += weights[i];
        }
    }
    const long double slack = boundary_tolerance * total;
    return before_b - through_a <= slack && std::fabs(u - through_a) <= slack;
}

// The options and capacity of a run, from the front of the input (shared by both pairs).
struct configuration {
    std::size_t capacity;
    replay_options options;
};

configuration read_configuration(input& in) {
    std::size_t capacity = 1 + in.below(24);
    if (in.byte() % 8 == 0) {
        capacity = 1 + in.below(200);
    }
    const sampling_mode modes[] = {sampling_mode::stratified, sampling_mode::independent,
                                   sampling_mode::without_replacement,
                                   static_cast<sampling_mode>(7)};
    const weight_normalization normalizations[] = {
        weight_normalization::global_max, weight_normalization::batch_max,
        weight_normalization::none, static_cast<weight_normalization>(-1)};
    const std::uint8_t choice = in.byte();
    const replay_options options =
        replay_options{}
            .alpha(in.alpha())
            .epsilon(in.epsilon())
            .initial_max_priority(in.initial_max_priority())
            .sampling(modes[choice % 64 == 63 ? 3 : choice % 3])
            .normalization(normalizations[(choice >> 2) % 64 == 63 ? 3 : (choice >> 2) % 3]);
    return {capacity, options};
}

// A float priority as update_priorities(handles, std::vector<float>) receives it: finite
// doubles beyond float's range become infinities (which both buffers reject), as an IEEE
// conversion would give, without the undefined behaviour of converting them.
float to_float(double value) {
    const double largest = std::numeric_limits<float>::max();
    if (std::isfinite(value) && std::fabs(value) > largest) {
        return value > 0 ? std::numeric_limits<float>::infinity()
                         : -std::numeric_limits<float>::infinity();
    }
    return static_cast<float>(value);
}

// --- What both harnesses do alike ------------------------------------------------------------

void same_outcome(const std::string& what, const std::string& tree, const std::string& naive) {
    PER_FUZZ_CHECK(tree == naive, what + ": tree " + tree + ", naive " + naive);
}

// The slot observers of the tree buffer and its naive reference end alike (a value or the same
// exception) for any slot.
template <class Tree, class Naive>
void observe_both(const Tree& tree, const Naive& naive, std::size_t slot) {
    same_outcome("item", per_test::outcome([&] { (void)tree.item(slot); }),
                 per_test::outcome([&] { (void)naive.item(slot); }));
    same_outcome("priority", per_test::outcome([&] { (void)tree.priority(slot); }),
                 per_test::outcome([&] { (void)naive.priority(slot); }));
    same_outcome("probability", per_test::outcome([&] { (void)tree.probability(slot); }),
                 per_test::outcome([&] { (void)naive.probability(slot); }));
    same_outcome("handle", per_test::outcome([&] { (void)tree.handle(slot); }),
                 per_test::outcome([&] { (void)naive.handle(slot); }));
}

// One sample call on both buffers, with engines seeded alike.
struct paired_draws {
    std::string tree_outcome; // "ok" or the exception; equal to the naive one when returned
    std::vector<replay_handle> tree_handles, naive_handles;
    std::vector<double> tree_weights, naive_weights;
    std::vector<double> tree_probabilities, naive_probabilities;
};

// Draws batch_size items from both buffers through sample_into (into) or into a replay_batch,
// and checks what does not depend on the sampling rule: both calls end alike, a batch's slots,
// handles and items agree with the buffer, and both consumed the engine alike.
template <class Tree, class Naive>
paired_draws sample_both(Tree& tree, Naive& naive, std::size_t batch_size, double beta,
                         std::uint64_t seed, bool into) {
    std::mt19937_64 tree_engine(seed);
    std::mt19937_64 naive_engine(seed);
    paired_draws draws;
    draws.tree_handles.resize(batch_size);
    draws.naive_handles.resize(batch_size);
    draws.tree_weights.resize(batch_size);
    draws.naive_weights.resize(batch_size);
    draws.tree_probabilities.resize(batch_size);
    draws.naive_probabilities.resize(batch_size);
    std::string naive_outcome;
    if (into) {
        draws.tree_outcome = per_test::outcome([&] {
            tree.sample_into(batch_size, beta, tree_engine, draws.tree_handles.data(),
                             draws.tree_weights.data(), draws.tree_probabilities.data());
        });
        naive_outcome = per_test::outcome([&] {
            naive.sample_into(batch_size, beta, naive_engine, draws.naive_handles.data(),
                              draws.naive_weights.data(), draws.naive_probabilities.data());
        });
    } else {
        per::replay_batch<int> a;
        per::replay_batch<int> b;
        draws.tree_outcome =
            per_test::outcome([&] { tree.sample(batch_size, beta, tree_engine, a); });
        naive_outcome = per_test::outcome([&] { naive.sample(batch_size, beta, naive_engine, b); });
        if (draws.tree_outcome == "ok" && naive_outcome == "ok") {
            PER_FUZZ_CHECK(a.size() == batch_size && b.size() == batch_size, "batch sizes");
            for (std::size_t k = 0; k < batch_size; ++k) {
                PER_FUZZ_CHECK(a.slots()[k] == a.handles()[k].slot, "slots vs handles");
                PER_FUZZ_CHECK(&a[k] == &tree.item(a.slots()[k]), "batch item");
                PER_FUZZ_CHECK(&b[k] == &naive.item(b.slots()[k]), "naive batch item");
            }
            draws.tree_handles = a.handles();
            draws.naive_handles = b.handles();
            draws.tree_weights = a.weights();
            draws.naive_weights = b.weights();
            draws.tree_probabilities = a.probabilities();
            draws.naive_probabilities = b.probabilities();
        }
    }
    PER_FUZZ_CHECK(draws.tree_outcome == naive_outcome,
                   "sample(" + std::to_string(batch_size) + ", " + text(beta) + "): tree " +
                       draws.tree_outcome + ", naive " + naive_outcome);
    if (draws.tree_outcome == "ok") {
        PER_FUZZ_CHECK(tree_engine == naive_engine, "engines consumed differently");
    }
    return draws;
}

// The handles a harness has seen (many go stale as the ring turns over), and how a fuzz input
// picks the handle of an update: a seen one, a live one, a random slot and generation, or one
// out of range.
class handle_pool {
public:
    void add(const replay_handle& handle) { m_handles.push_back(handle); }

    // Keeps at most 32: past that a new handle replaces one the input chooses.
    void remember(const replay_handle& handle, input& in) {
        if (m_handles.size() < 32) {
            m_handles.push_back(handle);
        } else {
            m_handles[in.below(32)] = handle;
        }
    }

    template <class Naive>
    replay_handle pick(input& in, const Naive& naive, std::size_t capacity) const {
        const std::uint8_t kind = in.byte();
        if (kind < 100 && !m_handles.empty()) {
            return m_handles[kind % m_handles.size()];
        }
        if (kind < 200 && !naive.empty()) {
            return naive.handle(kind % naive.size());
        }
        if (kind < 250) {
            return {in.below(capacity), static_cast<std::uint32_t>(in.below(4))};
        }
        return {capacity + in.below(3), 1}; // out of range
    }

private:
    std::vector<replay_handle> m_handles;
};

// One update_priorities call on both buffers and how each ended.
struct paired_updates {
    std::string tree_outcome;
    std::string naive_outcome;
    std::size_t applied_tree = 0;
    std::size_t applied_naive = 0;
};

// Applies handles/priorities to both buffers in the form `form` chooses: float priorities
// (which `priorities` then holds as the buffers received them), pointer and count, or two
// ranges (whose lengths may differ).
template <class Tree, class Naive>
paired_updates update_both(Tree& tree, Naive& naive, const std::vector<replay_handle>& handles,
                           std::vector<double>& priorities, std::uint8_t form) {
    paired_updates result;
    if (form & 0x10) {
        std::vector<float> as_float;
        for (double priority : priorities) {
            as_float.push_back(to_float(priority));
        }
        result.tree_outcome = per_test::outcome(
            [&] { result.applied_tree = tree.update_priorities(handles, as_float); });
        result.naive_outcome = per_test::outcome(
            [&] { result.applied_naive = naive.update_priorities(handles, as_float); });
        priorities.assign(as_float.begin(), as_float.end());
    } else if (form & 0x20 && handles.size() == priorities.size()) {
        result.tree_outcome = per_test::outcome([&] {
            result.applied_tree =
                tree.update_priorities(handles.data(), priorities.data(), handles.size());
        });
        result.naive_outcome = per_test::outcome([&] {
            result.applied_naive =
                naive.update_priorities(handles.data(), priorities.data(), handles.size());
        });
    } else {
        result.tree_outcome = per_test::outcome(
            [&] { result.applied_tree = tree.update_priorities(handles, priorities); });
        result.naive_outcome = per_test::outcome(
            [&] { result.applied_naive = naive.update_priorities(handles, priorities); });
    }
    return result;
}

// --- prioritized_replay against naive_prioritized_replay ------------------------------------

class proportional_harness {
public:
    proportional_harness(input& in, std::size_t capacity, const replay_options& options)
        : m_in(in)
        , m_capacity(capacity)
        , m_tree(capacity, options)
        , m_naive(capacity, options) {}

    // Returns false when the run must stop (a tolerated divergence at a limit).
    bool step() {
        const std::uint8_t op = m_in.byte();
        switch (op % 16) {
        case 0:
        case 1:
        case 2:
            push_default();
            return true;
        case 3:
        case 4:
        case 5:
            return push_with_priority();
        case 6:
        case 7:
            sample();
            return true;
        case 8:
        case 9:
            return update_many();
        case 10:
            return update_one();
        case 11:
            return set_alpha();
        case 12:
            if (op & 0x30) {
                observe(m_in.below(m_capacity + 3));
            } else {
                m_tree.clear();
                m_naive.clear();
            }
            return true;
        case 13:
            checkpoint(op);
            return true;
        default:
            if (!m_naive.empty()) {
                m_pool.add(m_naive.handle(m_in.below(m_naive.size())));
            }
            push_default();
            return true;
        }
    }

    void require_same_state() {
        PER_FUZZ_CHECK(m_tree.size() == m_naive.size(), "sizes");
        PER_FUZZ_CHECK(m_tree.capacity() == m_naive.capacity(), "capacities");
        PER_FUZZ_CHECK(m_tree.empty() == m_naive.empty(), "empty()");
        PER_FUZZ_CHECK(m_tree.next_slot() == m_naive.next_slot(), "next_slot()");
        PER_FUZZ_CHECK(
            m_tree.max_priority() == m_naive.max_priority() ||
                (std::isnan(m_tree.max_priority()) && std::isnan(m_naive.max_priority())),
            text(m_tree.max_priority()) + " vs " + text(m_naive.max_priority()));
        PER_FUZZ_CHECK(std::isfinite(m_tree.max_priority()), "max priority not finite");
        PER_FUZZ_CHECK(m_tree.alpha() == m_naive.alpha(), "alpha");
        const double total = m_tree.sampler().total_weight();
        PER_FUZZ_CHECK(std::isfinite(total) && total >= 0.0, "total weight " + text(total));
        // P of every slot: the tree's against the naive formula (O(N) for all slots), and the
        // naive buffer's own probability() (O(N) each) for a few slots.
        const std::size_t size = m_naive.size();
        std::vector<double> weights(size);
        double naive_total = 0;
        for (std::size_t slot = 0; slot < size; ++slot) {
            weights[slot] = weight_of(m_naive.priority(slot), m_naive.options());
            naive_total += weights[slot];
        }
        for (std::size_t slot = 0; slot < size; ++slot) {
            const auto at = [slot] { return "slot " + std::to_string(slot); };
            PER_FUZZ_CHECK(m_tree.item(slot) == m_naive.item(slot), at());
            PER_FUZZ_CHECK(m_tree.handle(slot) == m_naive.handle(slot), at());
            const double p_tree = m_tree.priority(slot);
            const double p_naive = m_naive.priority(slot);
            PER_FUZZ_CHECK(p_tree == p_naive && std::signbit(p_tree) == std::signbit(p_naive),
                           at() + ": " + text(p_tree) + " vs " + text(p_naive));
            const double q_tree = m_tree.probability(slot);
            const double q_naive = weights[slot] > 0.0 ? weights[slot] / naive_total : 0.0;
            PER_FUZZ_CHECK(close(q_tree, q_naive),
                           at() + ": P = " + text(q_tree) + " vs " + text(q_naive));
            PER_FUZZ_CHECK((q_tree > 0.0) == (weights[slot] > 0.0) || q_naive == 0.0,
                           at() + ": sampleable differs");
            if (size <= 8 || slot % 16 == 0) {
                PER_FUZZ_CHECK(m_naive.probability(slot) == q_naive,
                               at() + ": naive probability()");
            }
        }
    }

private:
    void push_default() {
        const replay_handle a = m_tree.push(m_next_item);
        const replay_handle b = m_naive.push(m_next_item);
        PER_FUZZ_CHECK(a == b, "push handles");
        remember(a);
        ++m_next_item;
    }

    bool push_with_priority() {
        const double priority = m_in.priority();
        replay_handle a{};
        replay_handle b{};
        const std::string tree_outcome =
            per_test::outcome([&] { a = m_tree.push(m_next_item, priority); });
        const std::string naive_outcome =
            per_test::outcome([&] { b = m_naive.push(m_next_item, priority); });
        if (tree_outcome != naive_outcome) {
            PER_FUZZ_CHECK(
                near_limit(priority, m_naive.alpha(), m_naive.options().epsilon(), m_capacity),
                "push(item, " + text(priority) + "): tree " + tree_outcome + ", naive " +
                    naive_outcome);
            return false;
        }
        if (tree_outcome == "ok") {
            PER_FUZZ_CHECK(a == b, "push handles");
            remember(a);
            ++m_next_item;
        } else {
            PER_FUZZ_CHECK(tree_outcome == "invalid_argument", "push: " + tree_outcome);
        }
        return true;
    }

    void remember(const replay_handle& handle) { m_pool.remember(handle, m_in); }
    replay_handle some_handle() { return m_pool.pick(m_in, m_naive, m_capacity); }

    bool update_many() {
        const std::size_t count = m_in.below(9);
        std::vector<replay_handle> handles;
        std::vector<double> priorities;
        for (std::size_t k = 0; k < count; ++k) {
            handles.push_back(some_handle());
            priorities.push_back(m_in.priority());
        }
        const std::uint8_t form = m_in.byte();
        if (form % 16 == 0) {
            priorities.push_back(1.0); // lengths differ
        }
        const paired_updates result = update_both(m_tree, m_naive, handles, priorities, form);
        const std::string& tree_outcome = result.tree_outcome;
        const std::string& naive_outcome = result.naive_outcome;
        const std::size_t applied_tree = result.applied_tree;
        const std::size_t applied_naive = result.applied_naive;
        if (tree_outcome != naive_outcome) {
            bool any_near = false;
            for (double priority : priorities) {
                any_near = any_near || near_limit(priority, m_naive.alpha(),
                                                  m_naive.options().epsilon(), m_capacity);
            }
            std::string arguments;
            for (std::size_t k = 0; k < handles.size(); ++k) {
                arguments += " {" + std::to_string(handles[k].slot) + "," +
                             std::to_string(handles[k].generation) + "}";
            }
            arguments += " /";
            for (double priority : priorities) {
                arguments += " " + text(priority);
            }
            PER_FUZZ_CHECK(any_near, "update_priorities(" + arguments + "), form " +
                                         std::to_string(form) + ": tree " + tree_outcome +
                                         ", naive " + naive_outcome);
            return false;
        }
        PER_FUZZ_CHECK(applied_tree == applied_naive, "applied counts");
        return true;
    }

    bool update_one() {
        const replay_handle handle = some_handle();
        const double priority = m_in.priority();
        bool a = false;
        bool b = false;
        const std::string tree_outcome =
            per_test::outcome([&] { a = m_tree.update_priority(handle, priority); });
        const std::string naive_outcome =
            per_test::outcome([&] { b = m_naive.update_priority(handle, priority); });
        if (tree_outcome != naive_outcome) {
            PER_FUZZ_CHECK(
                near_limit(priority, m_naive.alpha(), m_naive.options().epsilon(), m_capacity),
                "update_priority(" + text(priority) + "): tree " + tree_outcome + ", naive " +
                    naive_outcome);
            return false;
        }
        PER_FUZZ_CHECK(a == b, "update_priority results");
        return true;
    }

    bool set_alpha() {
        const double alpha = m_in.alpha();
        const std::string tree_outcome = per_test::outcome([&] { m_tree.set_alpha(alpha); });
        const std::string naive_outcome = per_test::outcome([&] { m_naive.set_alpha(alpha); });
        if (tree_outcome != naive_outcome) {
            PER_FUZZ_CHECK(
                near_limit(m_naive.max_priority(), alpha, m_naive.options().epsilon(), m_capacity),
                "set_alpha(" + text(alpha) + ") with max priority " + text(m_naive.max_priority()) +
                    ": tree " + tree_outcome + ", naive " + naive_outcome);
            return false;
        }
        return true;
    }

    void observe(std::size_t slot) { observe_both(m_tree, m_naive, slot); }

    void sample() {
        std::size_t batch_size = 1 + m_in.below(12);
        const std::uint8_t kind = m_in.byte();
        if (kind % 8 == 0) {
            batch_size = m_in.below(80); // 0 sometimes, large sometimes
        }
        const double beta = m_in.beta();
        const std::uint64_t seed = m_in.bits64();
        const bool into = kind & 0x10;

        const paired_draws draws = sample_both(m_tree, m_naive, batch_size, beta, seed, into);
        if (draws.tree_outcome != "ok") {
            return;
        }
        const std::vector<replay_handle>& tree_handles = draws.tree_handles;
        const std::vector<replay_handle>& naive_handles = draws.naive_handles;
        const std::vector<double>& tree_weights = draws.tree_weights;
        const std::vector<double>& naive_weights = draws.naive_weights;
        const std::vector<double>& tree_probabilities = draws.tree_probabilities;
        const std::vector<double>& naive_probabilities = draws.naive_probabilities;

        // Replay the engine to know each draw's uniform.
        std::mt19937_64 replay(seed);
        std::vector<double> units(batch_size);
        for (double& unit : units) {
            unit = per::uniform_unit(replay);
        }
        const replay_options& options = m_naive.options();
        std::vector<double> weights(m_naive.size());
        double total = 0;
        for (std::size_t slot = 0; slot < weights.size(); ++slot) {
            weights[slot] = weight_of(m_naive.priority(slot), options);
            total += weights[slot];
        }
        const bool without = options.sampling() == sampling_mode::without_replacement;
        const bool stratified = options.sampling() == sampling_mode::stratified;
        const bool batch_max = options.normalization() == weight_normalization::batch_max;
        std::vector<double> remaining = weights; // without replacement: not drawn yet
        bool all_equal = true;
        for (std::size_t k = 0; k < batch_size; ++k) {
            const auto at = [k, batch_size] {
                return "draw " + std::to_string(k) + " of " + std::to_string(batch_size);
            };
            const replay_handle t = tree_handles[k];
            const replay_handle n = naive_handles[k];
            PER_FUZZ_CHECK(t.slot < m_tree.size() && n.slot < m_naive.size(), at() + ": slot");
            PER_FUZZ_CHECK(t == m_tree.handle(t.slot) && n == m_naive.handle(n.slot),
                           at() + ": handle not current");
            PER_FUZZ_CHECK(weights[t.slot] > 0.0 && weights[n.slot] > 0.0,
                           at() + ": drew a weight-0 slot");
            PER_FUZZ_CHECK(m_tree.probability(t.slot) > 0.0 || weights[t.slot] / total == 0.0,
                           at() + ": zero probability");
            if (without) {
                PER_FUZZ_CHECK(remaining[n.slot] > 0.0, at() + ": drew a slot twice");
            }
            if (t != n && all_equal) {
                double sum = 0;
                for (double w : remaining) {
                    sum += w;
                }
                const double u = stratified ? (static_cast<double>(k) + units[k]) * total /
                                                  static_cast<double>(batch_size)
                                            : units[k] * (without ? sum : total);
                PER_FUZZ_CHECK(at_boundary(without ? remaining : weights, u, t.slot, n.slot),
                               at() + ": tree drew slot " + std::to_string(t.slot) +
                                   ", naive slot " + std::to_string(n.slot) + ", u = " + text(u));
            }
            if (t != n) {
                all_equal = false;
                if (without) {
                    break; // the rest of the batch depends on what was drawn
                }
                continue;
            }
            if (without) {
                remaining[n.slot] = 0.0;
            }
            PER_FUZZ_CHECK(close(tree_probabilities[k], naive_probabilities[k]),
                           at() + ": P " + text(tree_probabilities[k]) + " vs " +
                               text(naive_probabilities[k]));
            const bool tiny = tree_probabilities[k] < 1e-280 || naive_probabilities[k] < 1e-280;
            if (!batch_max && !tiny) {
                PER_FUZZ_CHECK(close(tree_weights[k], naive_weights[k]),
                               at() + ": weight " + text(tree_weights[k]) + " vs " +
                                   text(naive_weights[k]));
            }
        }
        if (batch_max && all_equal) {
            for (std::size_t k = 0; k < batch_size; ++k) {
                PER_FUZZ_CHECK(close(tree_weights[k], naive_weights[k]) ||
                                   tree_probabilities[k] < 1e-280,
                               "batch_max weight " + std::to_string(k));
            }
        }
        if (without) {
            std::vector<std::size_t> slots;
            for (const replay_handle& handle : tree_handles) {
                slots.push_back(handle.slot);
            }
            std::sort(slots.begin(), slots.end());
            PER_FUZZ_CHECK(std::adjacent_find(slots.begin(), slots.end()) == slots.end(),
                           "tree drew a slot twice without replacement");
        }
    }

    // Round trip both buffers through their checkpoints; sometimes corrupt one first.
    void checkpoint(std::uint8_t op) {
        std::ostringstream tree_out;
        std::ostringstream naive_out;
        per::save(tree_out, m_tree);
        per::save(naive_out, m_naive);
        const std::string tree_bytes = tree_out.str();
        const std::string naive_bytes = naive_out.str();

        // The two checkpoints hold the same fields but kind (12..15), value size and fanout
        // (16..23) and the checksum.
        PER_FUZZ_CHECK(tree_bytes.size() == naive_bytes.size(), "checkpoint sizes");
        PER_FUZZ_CHECK(tree_bytes.compare(0, 12, naive_bytes, 0, 12) == 0, "checkpoint headers");
        PER_FUZZ_CHECK(tree_bytes.compare(24, tree_bytes.size() - 32, naive_bytes, 24,
                                          naive_bytes.size() - 32) == 0,
                       "checkpoint fields differ between the buffers");

        tree_buffer tree_target(1 + m_in.below(5));
        naive_buffer naive_target(1 + m_in.below(5));
        if (op & 0x40) {
            // Corrupt: flip a byte, or truncate. Both must throw and change nothing.
            std::string bad = tree_bytes;
            const std::size_t at =
                (static_cast<std::size_t>(m_in.byte()) << 8 | m_in.byte()) % bad.size();
            if (op & 0x80) {
                bad.resize(at);
            } else {
                bad[at] = static_cast<char>(bad[at] ^ (1 + m_in.below(255)));
            }
            tree_target = m_tree;
            const std::string before = per_test::state(tree_target);
            std::istringstream in(bad);
            bool thrown = false;
            try {
                per::load(in, tree_target);
            } catch (const per::checkpoint_error&) {
                thrown = true;
            }
            PER_FUZZ_CHECK(thrown, "a corrupted checkpoint loaded");
            PER_FUZZ_CHECK(per_test::state(tree_target) == before,
                           "a failed load changed the target");
        }
        std::istringstream tree_in(tree_bytes);
        std::istringstream naive_in(naive_bytes);
        per::load(tree_in, tree_target);
        per::load(naive_in, naive_target);
        PER_FUZZ_CHECK(per_test::state(tree_target) == per_test::state(m_tree), "tree round trip");
        PER_FUZZ_CHECK(per_test::state(naive_target) == per_test::state(m_naive),
                       "naive round trip");
        m_tree = std::move(tree_target);
        m_naive = std::move(naive_target);
    }

    input& m_in;
    std::size_t m_capacity;
    tree_buffer m_tree;
    naive_buffer m_naive;
    handle_pool m_pool;
    int m_next_item = 0;
};

void run_proportional(input& in) {
    const configuration config = read_configuration(in);
    const std::size_t capacity = config.capacity;
    const replay_options& options = config.options;
    const std::string tree_outcome = per_test::outcome([&] { tree_buffer b(capacity, options); });
    const std::string naive_outcome = per_test::outcome([&] { naive_buffer b(capacity, options); });
    if (tree_outcome != naive_outcome) {
        PER_FUZZ_CHECK(near_limit(options.initial_max_priority(), options.alpha(),
                                  options.epsilon(), capacity),
                       "constructor with alpha " + text(options.alpha()) + ", epsilon " +
                           text(options.epsilon()) + ", initial_max_priority " +
                           text(options.initial_max_priority()) + ": tree " + tree_outcome +
                           ", naive " + naive_outcome);
        return;
    }
    if (tree_outcome != "ok") {
        PER_FUZZ_CHECK(tree_outcome == "invalid_argument", "constructor: " + tree_outcome);
        return;
    }
    proportional_harness run(in, capacity, options);
    for (std::size_t op = 0; op < max_operations && !in.exhausted(); ++op) {
        if (!run.step()) {
            return;
        }
        run.require_same_state();
    }
}

// --- rank_based_replay against naive_rank_based_replay ------------------------------------

// The same operations on per::rank_based_replay<int> and per::naive_rank_based_replay<int>.
// Both accept any finite priority >= 0 and the same alphas, so every outcome must agree
// exactly. The harness keeps its own push counter per slot, to know the order the naive
// reference ranks by (priority, then the more recent push first) in O(N log N).
class rank_harness {
public:
    rank_harness(input& in, std::size_t capacity, const replay_options& options)
        : m_in(in)
        , m_capacity(capacity)
        , m_tree(capacity, options)
        , m_naive(capacity, options)
        , m_pushed(capacity, 0) {}

    void step() {
        const std::uint8_t op = m_in.byte();
        switch (op % 16) {
        case 0:
        case 1:
        case 2:
            push_default();
            return;
        case 3:
        case 4:
        case 5:
            push_with_priority();
            return;
        case 6:
        case 7:
            sample();
            return;
        case 8:
        case 9:
            update_many();
            return;
        case 10:
            update_one();
            return;
        case 11:
            set_alpha();
            return;
        case 12:
            if (op & 0x30) {
                observe(m_in.below(m_capacity + 3));
            } else {
                m_tree.clear();
                m_naive.clear();
            }
            return;
        case 13:
            checkpoint(op);
            return;
        default:
            if (!m_naive.empty()) {
                m_pool.add(m_naive.handle(m_in.below(m_naive.size())));
            }
            push_default();
            return;
        }
    }

    void require_same_state() {
        PER_FUZZ_CHECK(m_tree.size() == m_naive.size(), "sizes");
        PER_FUZZ_CHECK(m_tree.capacity() == m_naive.capacity(), "capacities");
        PER_FUZZ_CHECK(m_tree.empty() == m_naive.empty(), "empty()");
        PER_FUZZ_CHECK(m_tree.next_slot() == m_naive.next_slot(), "next_slot()");
        PER_FUZZ_CHECK(m_tree.max_priority() == m_naive.max_priority(),
                       text(m_tree.max_priority()) + " vs " + text(m_naive.max_priority()));
        PER_FUZZ_CHECK(std::isfinite(m_tree.max_priority()), "max priority not finite");
        PER_FUZZ_CHECK(m_tree.alpha() == m_naive.alpha(), "alpha");
        const std::size_t size = m_naive.size();
        for (std::size_t slot = 0; slot < size; ++slot) {
            const auto at = [slot] { return "slot " + std::to_string(slot); };
            PER_FUZZ_CHECK(m_tree.item(slot) == m_naive.item(slot), at());
            PER_FUZZ_CHECK(m_tree.handle(slot) == m_naive.handle(slot), at());
            const double p_tree = m_tree.priority(slot);
            const double p_naive = m_naive.priority(slot);
            PER_FUZZ_CHECK(p_tree == p_naive && std::signbit(p_tree) == std::signbit(p_naive),
                           at() + ": " + text(p_tree) + " vs " + text(p_naive));
        }
        // The ranks: the tree's order against the naive rule, every slot; the naive
        // reference's own rank() and probability() (O(N) each) for a few.
        order_by_rank();
        const per::rank_based_sampler& sampler = m_tree.sampler();
        const double total = sampler.total_weight();
        PER_FUZZ_CHECK(size == 0 || close(total, m_total),
                       "total weight " + text(total) + " vs " + text(m_total));
        for (std::size_t position = 0; position < size; ++position) {
            const std::size_t slot = m_order[position];
            const auto at = [slot, position] {
                return "slot " + std::to_string(slot) + " at rank " + std::to_string(position + 1);
            };
            PER_FUZZ_CHECK(sampler.slot_of_rank(position + 1) == slot, at());
            PER_FUZZ_CHECK(sampler.rank(slot) == position + 1, at());
            const double p = m_tree.probability(slot);
            const double expected = m_weights[position] / m_total;
            PER_FUZZ_CHECK(p > 0.0 && close(p, expected),
                           at() + ": P = " + text(p) + " vs " + text(expected));
            if (size <= 8 || slot % 16 == 0) {
                PER_FUZZ_CHECK(m_naive.rank(slot) == position + 1, at() + ": naive rank()");
                PER_FUZZ_CHECK(close(m_naive.probability(slot), expected),
                               at() + ": naive probability()");
            }
        }
    }

private:
    // m_order: the slots by rank, as the naive reference ranks them; m_rank_of its inverse;
    // m_weights the rank weights r^-alpha; m_total their sum in rank order.
    void order_by_rank() {
        const std::size_t size = m_naive.size();
        m_order.resize(size);
        for (std::size_t slot = 0; slot < size; ++slot) {
            m_order[slot] = slot;
        }
        std::sort(m_order.begin(), m_order.end(), [this](std::size_t a, std::size_t b) {
            const double p = m_naive.priority(a);
            const double q = m_naive.priority(b);
            return p > q || (p == q && m_pushed[a] > m_pushed[b]);
        });
        m_rank_of.assign(m_capacity, 0);
        m_weights.resize(size);
        m_total = 0;
        for (std::size_t position = 0; position < size; ++position) {
            m_rank_of[m_order[position]] = position;
            m_weights[position] = std::pow(static_cast<double>(position + 1), -m_naive.alpha());
            m_total += m_weights[position];
        }
    }

    void pushed(const replay_handle& handle) {
        m_pushed[handle.slot] = ++m_pushes;
        remember(handle);
        ++m_next_item;
    }

    void push_default() {
        const replay_handle a = m_tree.push(m_next_item);
        const replay_handle b = m_naive.push(m_next_item);
        PER_FUZZ_CHECK(a == b, "push handles");
        PER_FUZZ_CHECK(m_tree.sampler().rank(a.slot) == 1, "a push at the max priority: rank 1");
        pushed(a);
    }

    void push_with_priority() {
        const double priority = m_in.priority();
        replay_handle a{};
        replay_handle b{};
        const std::string tree_outcome =
            per_test::outcome([&] { a = m_tree.push(m_next_item, priority); });
        const std::string naive_outcome =
            per_test::outcome([&] { b = m_naive.push(m_next_item, priority); });
        PER_FUZZ_CHECK(tree_outcome == naive_outcome, "push(item, " + text(priority) + "): tree " +
                                                          tree_outcome + ", naive " +
                                                          naive_outcome);
        const bool valid = std::isfinite(priority) && priority >= 0.0;
        PER_FUZZ_CHECK(tree_outcome == (valid ? "ok" : "invalid_argument"),
                       "push(item, " + text(priority) + "): " + tree_outcome);
        if (valid) {
            PER_FUZZ_CHECK(a == b, "push handles");
            pushed(a);
        }
    }

    void remember(const replay_handle& handle) { m_pool.remember(handle, m_in); }
    replay_handle some_handle() { return m_pool.pick(m_in, m_naive, m_capacity); }

    void update_many() {
        const std::size_t count = m_in.below(9);
        std::vector<replay_handle> handles;
        std::vector<double> priorities;
        for (std::size_t k = 0; k < count; ++k) {
            handles.push_back(some_handle());
            priorities.push_back(m_in.priority());
        }
        const std::uint8_t form = m_in.byte();
        if (form % 16 == 0) {
            priorities.push_back(1.0); // lengths differ
        }
        const paired_updates result = update_both(m_tree, m_naive, handles, priorities, form);
        const std::string& tree_outcome = result.tree_outcome;
        const std::string& naive_outcome = result.naive_outcome;
        const std::size_t applied_tree = result.applied_tree;
        const std::size_t applied_naive = result.applied_naive;
        PER_FUZZ_CHECK(tree_outcome == naive_outcome,
                       "update_priorities of " + std::to_string(handles.size()) +
                           " handles, form " + std::to_string(form) + ": tree " + tree_outcome +
                           ", naive " + naive_outcome);
        PER_FUZZ_CHECK(applied_tree == applied_naive, "applied counts");
    }

    void update_one() {
        const replay_handle handle = some_handle();
        const double priority = m_in.priority();
        bool a = false;
        bool b = false;
        const std::string tree_outcome =
            per_test::outcome([&] { a = m_tree.update_priority(handle, priority); });
        const std::string naive_outcome =
            per_test::outcome([&] { b = m_naive.update_priority(handle, priority); });
        PER_FUZZ_CHECK(tree_outcome == naive_outcome, "update_priority(" + text(priority) +
                                                          "): tree " + tree_outcome + ", naive " +
                                                          naive_outcome);
        PER_FUZZ_CHECK(a == b, "update_priority results");
    }

    void set_alpha() {
        const double alpha = m_in.alpha();
        const std::string tree_outcome = per_test::outcome([&] { m_tree.set_alpha(alpha); });
        const std::string naive_outcome = per_test::outcome([&] { m_naive.set_alpha(alpha); });
        PER_FUZZ_CHECK(tree_outcome == naive_outcome, "set_alpha(" + text(alpha) + "): tree " +
                                                          tree_outcome + ", naive " +
                                                          naive_outcome);
    }

    void observe(std::size_t slot) {
        observe_both(m_tree, m_naive, slot);
        std::size_t tree_rank = 0;
        std::size_t naive_rank = 0;
        same_outcome("rank", per_test::outcome([&] { tree_rank = m_tree.sampler().rank(slot); }),
                     per_test::outcome([&] { naive_rank = m_naive.rank(slot); }));
        PER_FUZZ_CHECK(tree_rank == naive_rank, "rank of slot " + std::to_string(slot));
    }

    void sample() {
        std::size_t batch_size = 1 + m_in.below(12);
        const std::uint8_t kind = m_in.byte();
        if (kind % 8 == 0) {
            batch_size = m_in.below(80); // 0 sometimes, large sometimes
        }
        const double beta = m_in.beta();
        const std::uint64_t seed = m_in.bits64();
        const bool into = kind & 0x10;

        const paired_draws draws = sample_both(m_tree, m_naive, batch_size, beta, seed, into);
        if (draws.tree_outcome != "ok") {
            return;
        }
        const std::vector<replay_handle>& tree_handles = draws.tree_handles;
        const std::vector<replay_handle>& naive_handles = draws.naive_handles;
        const std::vector<double>& tree_weights = draws.tree_weights;
        const std::vector<double>& naive_weights = draws.naive_weights;
        const std::vector<double>& tree_probabilities = draws.tree_probabilities;
        const std::vector<double>& naive_probabilities = draws.naive_probabilities;

        // Replay the engine to know each draw's uniform; compare in rank positions.
        std::mt19937_64 replay(seed);
        std::vector<double> units(batch_size);
        for (double& unit : units) {
            unit = per::uniform_unit(replay);
        }
        order_by_rank();
        const replay_options& options = m_naive.options();
        const bool without = options.sampling() == sampling_mode::without_replacement;
        const bool stratified = options.sampling() == sampling_mode::stratified;
        const bool batch_max = options.normalization() == weight_normalization::batch_max;
        std::vector<double> remaining = m_weights; // without replacement: not drawn yet
        bool all_equal = true;
        for (std::size_t k = 0; k < batch_size; ++k) {
            const auto at = [k, batch_size] {
                return "draw " + std::to_string(k) + " of " + std::to_string(batch_size);
            };
            const replay_handle t = tree_handles[k];
            const replay_handle n = naive_handles[k];
            PER_FUZZ_CHECK(t.slot < m_tree.size() && n.slot < m_naive.size(), at() + ": slot");
            PER_FUZZ_CHECK(t == m_tree.handle(t.slot) && n == m_naive.handle(n.slot),
                           at() + ": handle not current");
            PER_FUZZ_CHECK(tree_probabilities[k] > 0.0, at() + ": zero probability");
            const std::size_t t_position = m_rank_of[t.slot];
            const std::size_t n_position = m_rank_of[n.slot];
            if (without) {
                PER_FUZZ_CHECK(remaining[n_position] > 0.0, at() + ": drew a rank twice");
            }
            if (t != n && all_equal) {
                double sum = 0;
                for (double w : remaining) {
                    sum += w;
                }
                const double u = stratified ? (static_cast<double>(k) + units[k]) * m_total /
                                                  static_cast<double>(batch_size)
                                            : units[k] * (without ? sum : m_total);
                PER_FUZZ_CHECK(
                    at_boundary(without ? remaining : m_weights, u, t_position, n_position),
                    at() + ": tree drew rank " + std::to_string(t_position + 1) + ", naive rank " +
                        std::to_string(n_position + 1) + ", u = " + text(u));
            }
            if (t != n) {
                all_equal = false;
                if (without) {
                    break; // the rest of the batch depends on what was drawn
                }
                continue;
            }
            if (without) {
                remaining[n_position] = 0.0;
            }
            PER_FUZZ_CHECK(close(tree_probabilities[k], naive_probabilities[k]) &&
                               close(tree_probabilities[k], m_weights[t_position] / m_total),
                           at() + ": P " + text(tree_probabilities[k]) + " vs " +
                               text(naive_probabilities[k]));
            const bool tiny = tree_probabilities[k] < 1e-280 || naive_probabilities[k] < 1e-280;
            if (!batch_max && !tiny) {
                PER_FUZZ_CHECK(close(tree_weights[k], naive_weights[k]),
                               at() + ": weight " + text(tree_weights[k]) + " vs " +
                                   text(naive_weights[k]));
            }
        }
        if (batch_max && all_equal) {
            for (std::size_t k = 0; k < batch_size; ++k) {
                PER_FUZZ_CHECK(close(tree_weights[k], naive_weights[k]) ||
                                   tree_probabilities[k] < 1e-280,
                               "batch_max weight " + std::to_string(k));
            }
        }
        if (without) {
            std::vector<std::size_t> slots;
            for (const replay_handle& handle : tree_handles) {
                slots.push_back(handle.slot);
            }
            std::sort(slots.begin(), slots.end());
            PER_FUZZ_CHECK(std::adjacent_find(slots.begin(), slots.end()) == slots.end(),
                           "tree drew a slot twice without replacement");
        }
    }

    // Round trip the tree buffer through its checkpoint (the naive reference has none):
    // sometimes corrupt or truncate it first, sometimes load it into a proportional buffer and
    // a proportional checkpoint into it. The naive reference stays as it is, so every later
    // operation checks the loaded buffer against it.
    void checkpoint(std::uint8_t op) {
        std::ostringstream out;
        per::save(out, m_tree);
        const std::string bytes = out.str();
        PER_FUZZ_CHECK(bytes.size() > 16 && static_cast<unsigned char>(bytes[12]) == 5,
                       "the checkpoint's kind");

        rank_buffer target(1 + m_in.below(5));
        if (op & 0x40) {
            // Corrupt: flip a byte, or truncate. It must throw and change nothing.
            std::string bad = bytes;
            const std::size_t at =
                (static_cast<std::size_t>(m_in.byte()) << 8 | m_in.byte()) % bad.size();
            if (op & 0x80) {
                bad.resize(at);
            } else {
                bad[at] = static_cast<char>(bad[at] ^ (1 + m_in.below(255)));
            }
            target = m_tree;
            const std::string before = per_test::state(target);
            std::istringstream in(bad);
            bool thrown = false;
            try {
                per::load(in, target);
            } catch (const per::checkpoint_error&) {
                thrown = true;
            }
            PER_FUZZ_CHECK(thrown, "a corrupted checkpoint loaded");
            PER_FUZZ_CHECK(per_test::state(target) == before, "a failed load changed the target");
        }
        if (op & 0x20) {
            // Proportional and rank-based checkpoints do not load into each other.
            tree_buffer proportional(1 + m_in.below(5));
            const std::string proportional_before = per_test::state(proportional);
            const std::string target_before = per_test::state(target);
            std::istringstream rank_in(bytes);
            std::ostringstream proportional_out;
            per::save(proportional_out, proportional);
            std::istringstream proportional_in(proportional_out.str());
            const auto code = [](auto&& load) {
                try {
                    load();
                } catch (const per::checkpoint_error& error) {
                    return error.code();
                }
                finding("a checkpoint of the other kind loaded");
            };
            PER_FUZZ_CHECK(code([&] { per::load(rank_in, proportional); }) ==
                               per::checkpoint_errc::wrong_kind,
                           "rank-based checkpoint into a proportional buffer");
            PER_FUZZ_CHECK(code([&] { per::load(proportional_in, target); }) ==
                               per::checkpoint_errc::wrong_kind,
                           "proportional checkpoint into a rank-based buffer");
            PER_FUZZ_CHECK(per_test::state(proportional) == proportional_before &&
                               per_test::state(target) == target_before,
                           "a wrong-kind load changed the target");
        }
        std::istringstream in(bytes);
        per::load(in, target);
        PER_FUZZ_CHECK(per_test::state(target) == per_test::state(m_tree), "rank round trip");
        std::ostringstream again;
        per::save(again, target);
        PER_FUZZ_CHECK(again.str() == bytes, "a loaded buffer saves other bytes");
        m_tree = std::move(target);
    }

    input& m_in;
    std::size_t m_capacity;
    rank_buffer m_tree;
    naive_rank_buffer m_naive;
    std::vector<std::uint64_t> m_pushed; // per slot: when it was last pushed (the tie order)
    std::uint64_t m_pushes = 0;
    handle_pool m_pool;
    int m_next_item = 0;
    std::vector<std::size_t> m_order;   // order_by_rank's results
    std::vector<std::size_t> m_rank_of; // 0-based
    std::vector<double> m_weights;
    double m_total = 0;
};

void run_rank_based(input& in) {
    const configuration config = read_configuration(in);
    const std::string tree_outcome =
        per_test::outcome([&] { rank_buffer b(config.capacity, config.options); });
    const std::string naive_outcome =
        per_test::outcome([&] { naive_rank_buffer b(config.capacity, config.options); });
    PER_FUZZ_CHECK(tree_outcome == naive_outcome, "constructor with capacity " +
                                                      std::to_string(config.capacity) + ", alpha " +
                                                      text(config.options.alpha()) + ": tree " +
                                                      tree_outcome + ", naive " + naive_outcome);
    if (tree_outcome != "ok") {
        PER_FUZZ_CHECK(tree_outcome == "invalid_argument", "constructor: " + tree_outcome);
        return;
    }
    rank_harness run(in, config.capacity, config.options);
    for (std::size_t op = 0; op < max_operations && !in.exhausted(); ++op) {
        run.step();
        run.require_same_state();
    }
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size > 0 && data[0] == rank_based_selector) {
        input in(data + 1, size - 1);
        run_rank_based(in);
    } else {
        input in(data, size);
        run_proportional(in);
    }
    return 0;
}
