// Differential fuzz target. The input's first byte picks a pair: 0xfe rank_based_replay<int>
// against naive_rank_based_replay<int>; 0xfd prioritized_replay<int> over a float sum tree
// (basic_prioritized_sampler<sum_tree<float>>) against naive_prioritized_replay<int>; any other
// byte (which then stays part of the input) prioritized_replay<int> over the default double tree
// against naive_prioritized_replay<int>. The rest decodes into a configuration (capacity: 1..24
// mostly, up to 200 for one input in 8, up to 1024 for one in 64; alpha, epsilon, initial max
// priority, sampling mode, normalization, valid or not) and up to 256 operations: push with and
// without a priority, sample and sample_into, update_priorities (float or double priorities,
// pointer or range forms, live, stale, duplicate and out-of-range handles, bad values),
// update_priority, set_alpha, clear, slot observers, checkpoints, and copies and moves between
// two pairs. Every operation goes to the tree buffer and its naive reference alike, and the run
// aborts (a finding) unless
// - both threw the same exception type or both succeeded, with the same results (handles,
//   applied counts);
// - after the operation, sizes, capacities, ring positions, options, max priorities, alpha and
//   the total weight agree, and for every slot the operation touched the items, handles, raw
//   priorities, probabilities (1e-9 relative; the naive rule's weights for the proportional
//   pairs, r^-alpha over the naive rank order for the rank-based one), and the tree's rank and
//   slot_of_rank agree. The same comparison of every slot (plus the naive reference's own O(N)
//   probability() and rank() for some) runs after operations that touch every slot (clear,
//   set_alpha, checkpoint loads, copies and moves), after every 32nd operation and at the end;
// - identically seeded engines draw the same slots, except where rounding puts a prefix value
//   within 1e-9 (relative to the total) of a boundary between two positions (slots, or ranks),
//   with weights and probabilities within 1e-9, every drawn slot live with a non-zero weight
//   (and probability, unless weight / total underflows), distinct without replacement, and the
//   engines consumed alike;
// - checkpoints: the tree buffer's (kind 2 or 5) and the naive one's (kind 3 or 6) hold the same
//   fields; each loads back into a fresh object that saves the same bytes again and draws the
//   same batches bit for bit; the sampler's own checkpoint (kind 1 or 4) likewise; a corrupted or
//   truncated checkpoint, and one of another kind or tree value type (wrong_kind, type_mismatch),
//   throws per::checkpoint_error and leaves the target's bytes and draws as they were;
// - copies and moves (copy and move construction and assignment, self-copy and self-move
//   assignment, switching the active pair): the target holds exactly the source's state
//   (exported state and draws), self-assignment changes nothing, a copy's next push does not move
//   its items, a moved-from object is what the README's "Copies and moves" says
//   (capacity 0, options, alpha and max priority kept, observers throw std::out_of_range, push
//   std::logic_error naming capacity() = 0, its checkpoint rejected as invalid), every later
//   operation on it agrees between the pair, and loading or assigning into it makes it usable;
//   copy assignment of buffers whose item copy throws after a countdown the input chooses either
//   makes an exact copy or throws and leaves the target exactly as before (strong guarantee). The
//   operations that need the special members of issue 14 are behind PER_FUZZ_SPECIAL_MEMBERS.
// Tolerated disagreements, each checked for its cause: for the double pair, a priority or alpha
// whose weight lies within 1e-6 of the largest the sums accept (the run then ends, as the
// buffers would no longer hold the same items); for the float tree, which accepts less, a
// priority, alpha or initial max priority beyond its own priority_limit() (the tree must refuse
// it and the naive reference does not get it), probabilities, weights and boundaries within
// 1e-5, and, while some weight lies below float's normal range, draws checked against each
// buffer's own contract instead of each other.
//
// Cost: every check after an operation is O(what it touched) plus O(N) additions; the O(N)
// comparison of every slot (O(N log N) rank-based: the order is sorted once) runs after the
// operations that touch every slot, every 32nd operation and at the end, and asks the naive
// reference's own O(N) observers for at most 8 slots. Probes draw with a splitmix64 engine.
// The strong-guarantee check of copy assignment (items whose copy throws) works on copies of
// the pairs' twins over such items, imported once per change of the pairs, and is made once per
// source, target and countdowns while the pairs stay as they are: repeating it would repeat the
// same deterministic copies, throws and probes (runs of 0xff bytes decode into such repeats).
//
// Built twice by tests/fuzz/CMakeLists.txt: with libFuzzer (the fuzz preset) and with a plain
// main that replays tests/fuzz/corpus and tests/fuzz/crashes in the normal test run;
// tests/fuzz/README.md has the measurements and the long campaign.
#include <per/checkpoint.hpp>
#include <per/naive_rank_based.hpp>
#include <per/naive_replay.hpp>
#include <per/prioritized_replay.hpp>
#include <per/prioritized_sampler.hpp>
#include <per/rank_based.hpp>
#include <per/sum_tree.hpp>

#include "../fragile_item.hpp"
#include "../state_snapshot.hpp"

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iterator>
#include <limits>
#include <optional>
#include <random>
#include <sstream>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

// The special members as the README's "Copies and moves" specifies them: moves,
// what moved-from objects hold, self-move-assignment, the strong guarantee of copy assignment
// (with an item whose copy throws) and the up-front reservation of a copy. 0 skips exactly those
// operations and checks (for a library without them); copies of intact objects and
// self-copy-assignment are fuzzed either way.
#ifndef PER_FUZZ_SPECIAL_MEMBERS
#define PER_FUZZ_SPECIAL_MEMBERS 1
#endif

namespace {

using per::replay_handle;
using per::replay_options;
using per::sampling_mode;
using per::weight_normalization;

constexpr bool fuzz_special_members = PER_FUZZ_SPECIAL_MEMBERS != 0;

// The first byte of an input that drives the rank-based pair, and of one that drives the
// proportional pair over a float sum tree; every other first byte (and the empty input) drives
// the proportional pair over the default double tree, reading the input from its first byte.
constexpr std::uint8_t rank_based_selector = 0xfe;
constexpr std::uint8_t float_tree_selector = 0xfd;

constexpr double relative_tolerance = 1e-9;
constexpr double boundary_tolerance = 1e-9;
// For a float sum tree: its sums round to 2^-24 at every level of the tree.
constexpr double float_tolerance = 1e-5;
constexpr double limit_tolerance = 1e-6;
constexpr std::size_t max_operations = 256;
// Besides after every operation that touches every slot and at the end of the input, the full
// O(N) comparison runs after every full_check_period-th operation.
constexpr std::size_t full_check_period = 32;

[[noreturn]] void finding(const std::string& what) {
    std::fprintf(stderr, "per fuzz finding: %s\n", what.c_str());
    std::fflush(stderr);
    std::abort();
}

// `what` is evaluated (and its strings built) only when the condition fails.
#define PER_FUZZ_CHECK(condition, what)                                                            \
    do {                                                                                           \
        if (!(condition)) {                                                                        \
            finding(std::string(#condition) + ": " + (what));                                      \
        }                                                                                          \
    } while (false)

std::string text(double value) {
    char buffer[64];
    std::snprintf(buffer, sizeof buffer, "%a", value);
    return buffer;
}

using per_test::outcome;

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

bool close(double a, double b, double tolerance = relative_tolerance) {
    if (a == b) {
        return true;
    }
    const double larger = std::max(std::fabs(a), std::fabs(b));
    // Below ~1e-290 the quotients behind probabilities lose precision to gradual underflow.
    return larger < 1e-290 || std::fabs(a - b) <= tolerance * larger;
}

// The naive buffer's weight of a raw priority, recomputed here the way it computes it.
double weight_of(double priority, double alpha, double epsilon) {
    const double base = priority + epsilon;
    return base > 0.0 ? std::pow(base, alpha) : 0.0;
}

// Whether the weight of `priority` under `alpha` is within limit_tolerance of the largest
// weight the buffers accept (max double / (4 capacity)), computed in long double.
bool near_limit(double priority, double alpha, double epsilon, std::size_t capacity) {
    if (!std::isfinite(priority) || priority < 0.0 || !std::isfinite(alpha) || alpha < 0.0 ||
        capacity == 0) {
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
// rank-based ones): the prefix value u lies within `tolerance` * total of the boundary after the
// lower of the two positions, and the positions between them carry no more than that weight.
bool at_boundary(const std::vector<double>& weights, double u, std::size_t a, std::size_t b,
                 double tolerance) {
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
    const long double slack = tolerance * total;
    return before_b - through_a <= slack && std::fabs(u - through_a) <= slack;
}

// The options and capacity of a run, from the front of the input (shared by every pair). Most
// capacities are small (1..24); one input in 8 takes up to 200, one in 64 up to 1024.
struct configuration {
    std::size_t capacity;
    replay_options options;
};

configuration read_configuration(input& in) {
    std::size_t capacity = 1 + in.below(24);
    const std::uint8_t size_class = in.byte();
    if (size_class % 8 == 0) {
        capacity = 1 + in.below(200);
        if (size_class % 64 == 0) {
            capacity = 1 + (static_cast<std::size_t>(in.byte()) << 2 | in.below(4));
        }
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

// --- An item whose copy throws on demand (the strong guarantee of copy assignment) -----------

using per_test::copies_until_failure;
using fuzz_item = per_test::fragile_item;

// --- Exact state comparison ------------------------------------------------------------------

bool same_options(const replay_options& a, const replay_options& b) {
    const auto same_double = [](double x, double y) { return std::memcmp(&x, &y, sizeof x) == 0; };
    return same_double(a.alpha(), b.alpha()) && same_double(a.epsilon(), b.epsilon()) &&
           same_double(a.initial_max_priority(), b.initial_max_priority()) &&
           a.sampling() == b.sampling() && a.normalization() == b.normalization();
}

bool same_sampler_state(const per::sampler_state& a, const per::sampler_state& b) {
    const auto same_doubles = [](const std::vector<double>& x, const std::vector<double>& y) {
        return x.size() == y.size() &&
               (x.empty() || std::memcmp(x.data(), y.data(), x.size() * sizeof(double)) == 0);
    };
    return same_options(a.options, b.options) &&
           std::memcmp(&a.max_priority, &b.max_priority, sizeof(double)) == 0 &&
           a.generations == b.generations && a.filled == b.filled &&
           same_doubles(a.priorities, b.priorities) && a.fill_count == b.fill_count &&
           a.fill_stamps == b.fill_stamps;
}

int item_value(int item) {
    return item;
}
[[maybe_unused]] int item_value(const fuzz_item& item) {
    return item.value;
}

template <class A, class B>
bool same_state(const per::replay_state<A>& a, const per::replay_state<B>& b) {
    if (!same_sampler_state(a.sampler, b.sampler) || a.next_slot != b.next_slot ||
        a.items.size() != b.items.size()) {
        return false;
    }
    for (std::size_t k = 0; k < a.items.size(); ++k) {
        if (item_value(a.items[k]) != item_value(b.items[k])) {
            return false;
        }
    }
    return true;
}

// A small, fast engine for probe (64 bits per call, splitmix64): probes are many, and seeding a
// std::mt19937_64 costs more than the two batches it would draw.
class probe_engine {
public:
    using result_type = std::uint64_t;
    static constexpr result_type min() noexcept { return 0; }
    static constexpr result_type max() noexcept { return ~result_type{0}; }
    result_type operator()() noexcept {
        std::uint64_t z = (m_state += 0x9e3779b97f4a7c15u);
        z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
        z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
        return z ^ (z >> 31);
    }

private:
    std::uint64_t m_state = 20240531;
};

// What an object draws from an engine with a fixed seed: the handles, weights and
// probabilities of two batches of probe_batch (or the exception), to compare two objects'
// trees bit for bit.
constexpr std::size_t probe_batch = 5;
struct probe_result {
    std::string outcome;
    replay_handle handles[2 * probe_batch]{};
    double weights[2 * probe_batch]{}, probabilities[2 * probe_batch]{};

    bool operator==(const probe_result& other) const {
        return outcome == other.outcome &&
               std::equal(std::begin(handles), std::end(handles), std::begin(other.handles)) &&
               std::memcmp(weights, other.weights, sizeof weights) == 0 &&
               std::memcmp(probabilities, other.probabilities, sizeof probabilities) == 0;
    }
};

template <class Object>
probe_result probe(Object& object) {
    probe_result result;
    probe_engine engine;
    result.outcome = outcome([&] {
        for (std::size_t round = 0; round < 2; ++round) {
            object.sample_into(probe_batch, 0.6, engine, result.handles + round * probe_batch,
                               result.weights + round * probe_batch,
                               result.probabilities + round * probe_batch);
        }
    });
    if (result.outcome != "ok") {
        result = probe_result{result.outcome};
    }
    return result;
}

template <class Object>
std::string checkpoint_of(const Object& object) {
    std::ostringstream out;
    per::save(out, object);
    return out.str();
}

// The code of the checkpoint_error a load throws; a load that succeeds is a finding.
template <class Object>
per::checkpoint_errc failed_load(const std::string& bytes, Object& target, const char* what) {
    std::istringstream in(bytes);
    try {
        per::load(in, target);
    } catch (const per::checkpoint_error& error) {
        return error.code();
    }
    finding(std::string("a checkpoint loaded that must not: ") + what);
}

// A load that must fail with `code` and leave the target exactly as it was (its checkpoint
// bytes and what it draws).
template <class Object>
void require_rejected(const std::string& bytes, Object& target,
                      std::optional<per::checkpoint_errc> code, const char* what) {
    const std::string before = checkpoint_of(target);
    const probe_result drawn = probe(target);
    const per::checkpoint_errc got = failed_load(bytes, target, what);
    PER_FUZZ_CHECK(!code || got == *code,
                   std::string(what) + ": error code " + std::to_string(static_cast<int>(got)));
    PER_FUZZ_CHECK(checkpoint_of(target) == before && probe(target) == drawn,
                   std::string("a failed load changed the target: ") + what);
}

// Flips a byte of a checkpoint or truncates it, as the input says.
std::string corrupted(const std::string& bytes, input& in, bool truncate) {
    std::string bad = bytes;
    const std::size_t at = (static_cast<std::size_t>(in.byte()) << 8 | in.byte()) % bad.size();
    if (truncate) {
        bad.resize(at);
    } else {
        bad[at] = static_cast<char>(bad[at] ^ (1 + in.below(255)));
    }
    return bad;
}

// --- The handles an input reuses ---------------------------------------------------------------

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

// --- The pairs -------------------------------------------------------------------------------

// The proportional pair over a sum tree type: exact (double tree) or not (float tree).
template <class SumTree>
struct proportional_kind {
    using sampler = per::basic_prioritized_sampler<SumTree>;
    template <class Item>
    using tree_of = per::prioritized_replay<Item, sampler>;
    template <class Item>
    using naive_of = per::naive_prioritized_replay<Item>;
    using value_type = typename SumTree::value_type;
    static constexpr bool ranked = false;
    static constexpr bool exact = std::is_same_v<value_type, double>;
    static constexpr unsigned tree_kind = 2;
    static constexpr unsigned naive_kind = 3;
};

struct rank_kind {
    using sampler = per::rank_based_sampler;
    template <class Item>
    using tree_of = per::rank_based_replay<Item>;
    template <class Item>
    using naive_of = per::naive_rank_based_replay<Item>;
    static constexpr bool ranked = true;
    static constexpr bool exact = true;
    static constexpr unsigned tree_kind = 5;
    static constexpr unsigned naive_kind = 6;
};

// One tree buffer and its naive reference, with what the harness remembers about them.
template <class Kind>
struct pair_of_buffers {
    using tree_buffer = typename Kind::template tree_of<int>;
    using naive_buffer = typename Kind::template naive_of<int>;

    pair_of_buffers(std::size_t capacity, const replay_options& options)
        : tree(capacity, options)
        , naive(capacity, options)
        , pushed(capacity, 0) {}

    tree_buffer tree;
    naive_buffer naive;
    handle_pool pool;
    std::vector<std::uint64_t> pushed; // rank-based: per slot, when it was last pushed
    std::uint64_t pushes = 0;
};

// The slot observers of the tree buffer and its naive reference end alike (a value or the same
// exception) for any slot.
template <class Tree, class Naive>
void observe_both(const Tree& tree, const Naive& naive, std::size_t slot) {
    const auto same = [](const char* what, const std::string& a, const std::string& b) {
        PER_FUZZ_CHECK(a == b, std::string(what) + ": tree " + a + ", naive " + b);
    };
    same("item", outcome([&] { (void)tree.item(slot); }), outcome([&] { (void)naive.item(slot); }));
    same("priority", outcome([&] { (void)tree.priority(slot); }),
         outcome([&] { (void)naive.priority(slot); }));
    same("probability", outcome([&] { (void)tree.probability(slot); }),
         outcome([&] { (void)naive.probability(slot); }));
    same("handle", outcome([&] { (void)tree.handle(slot); }),
         outcome([&] { (void)naive.handle(slot); }));
}

// One sample call on both buffers, with engines seeded alike.
struct paired_draws {
    std::string tree_outcome, naive_outcome;
    std::vector<replay_handle> tree_handles, naive_handles;
    std::vector<double> tree_weights, naive_weights;
    std::vector<double> tree_probabilities, naive_probabilities;
};

// Draws batch_size items from both buffers through sample_into (into) or into a replay_batch,
// and checks what does not depend on the sampling rule: a batch's slots, handles and items agree
// with the buffer; unless `lenient`, both calls end alike and consume the engine alike.
template <class Tree, class Naive>
paired_draws sample_both(Tree& tree, Naive& naive, std::size_t batch_size, double beta,
                         std::uint64_t seed, bool into, bool lenient) {
    std::mt19937_64 tree_engine(seed);
    std::mt19937_64 naive_engine(seed);
    paired_draws draws;
    draws.tree_handles.resize(batch_size);
    draws.naive_handles.resize(batch_size);
    draws.tree_weights.resize(batch_size);
    draws.naive_weights.resize(batch_size);
    draws.tree_probabilities.resize(batch_size);
    draws.naive_probabilities.resize(batch_size);
    if (into) {
        draws.tree_outcome = outcome([&] {
            tree.sample_into(batch_size, beta, tree_engine, draws.tree_handles.data(),
                             draws.tree_weights.data(), draws.tree_probabilities.data());
        });
        draws.naive_outcome = outcome([&] {
            naive.sample_into(batch_size, beta, naive_engine, draws.naive_handles.data(),
                              draws.naive_weights.data(), draws.naive_probabilities.data());
        });
    } else {
        per::replay_batch<int> a;
        per::replay_batch<int> b;
        draws.tree_outcome = outcome([&] { tree.sample(batch_size, beta, tree_engine, a); });
        draws.naive_outcome = outcome([&] { naive.sample(batch_size, beta, naive_engine, b); });
        if (draws.tree_outcome == "ok") {
            PER_FUZZ_CHECK(a.size() == batch_size, "batch size");
            for (std::size_t k = 0; k < batch_size; ++k) {
                PER_FUZZ_CHECK(a.slots()[k] == a.handles()[k].slot, "slots vs handles");
                PER_FUZZ_CHECK(&a[k] == &tree.item(a.slots()[k]), "batch item");
            }
            draws.tree_handles = a.handles();
            draws.tree_weights = a.weights();
            draws.tree_probabilities = a.probabilities();
        }
        if (draws.naive_outcome == "ok") {
            PER_FUZZ_CHECK(b.size() == batch_size, "naive batch size");
            for (std::size_t k = 0; k < batch_size; ++k) {
                PER_FUZZ_CHECK(&b[k] == &naive.item(b.slots()[k]), "naive batch item");
            }
            draws.naive_handles = b.handles();
            draws.naive_weights = b.weights();
            draws.naive_probabilities = b.probabilities();
        }
    }
    if (!lenient) {
        PER_FUZZ_CHECK(draws.tree_outcome == draws.naive_outcome,
                       "sample(" + std::to_string(batch_size) + ", " + text(beta) + "): tree " +
                           draws.tree_outcome + ", naive " + draws.naive_outcome);
        if (draws.tree_outcome == "ok") {
            PER_FUZZ_CHECK(tree_engine == naive_engine, "engines consumed differently");
        }
    }
    return draws;
}

// One update_priorities call on a buffer, in the form `form` chooses: float priorities (which
// `priorities` then holds as the buffer received them), pointer and count, or two ranges
// (whose lengths may differ). Returns how it ended.
template <class Buffer>
std::string update_with(Buffer& buffer, const std::vector<replay_handle>& handles,
                        std::vector<double>& priorities, std::uint8_t form, std::size_t& applied) {
    if (form & 0x10) {
        std::vector<float> as_float;
        for (double priority : priorities) {
            as_float.push_back(to_float(priority));
        }
        const std::string result =
            outcome([&] { applied = buffer.update_priorities(handles, as_float); });
        priorities.assign(as_float.begin(), as_float.end());
        return result;
    }
    if (form & 0x20 && handles.size() == priorities.size()) {
        return outcome([&] {
            applied = buffer.update_priorities(handles.data(), priorities.data(), handles.size());
        });
    }
    return outcome([&] { applied = buffer.update_priorities(handles, priorities); });
}

// What a moved-from buffer must hold (README, "Copies and moves"): nothing, capacity 0, the
// options, alpha and running max priority it had (and, rank-based, its fill count).
struct kept_values {
    replay_options options;
    double max_priority;
    std::uint64_t fill_count;
};

template <class Buffer>
kept_values kept_by(const Buffer& buffer) {
    return {buffer.options(), buffer.max_priority(), buffer.export_sampler_state().fill_count};
}

template <class Buffer>
void require_moved_from(Buffer& buffer, const kept_values& kept, const char* what) {
    const std::string where = std::string("moved-from ") + what;
    PER_FUZZ_CHECK(buffer.capacity() == 0 && buffer.size() == 0 && buffer.empty() &&
                       buffer.next_slot() == 0,
                   where + ": capacity " + std::to_string(buffer.capacity()) + ", size " +
                       std::to_string(buffer.size()));
    const double max_priority = buffer.max_priority();
    PER_FUZZ_CHECK(same_options(buffer.options(), kept.options) &&
                       buffer.alpha() == kept.options.alpha() &&
                       std::memcmp(&max_priority, &kept.max_priority, sizeof max_priority) == 0,
                   where + ": options, alpha or max_priority changed");
    const per::sampler_state state = buffer.export_sampler_state();
    PER_FUZZ_CHECK(state.generations.empty() && state.filled.empty() && state.priorities.empty() &&
                       state.fill_count == kept.fill_count,
                   where + ": export_state");
    PER_FUZZ_CHECK(outcome([&] { (void)buffer.item(0); }) == "out_of_range" &&
                       outcome([&] { (void)buffer.priority(0); }) == "out_of_range" &&
                       outcome([&] { (void)buffer.probability(0); }) == "out_of_range" &&
                       outcome([&] { (void)buffer.handle(0); }) == "out_of_range",
                   where + ": slot observers");
    const std::string pushed = outcome([&] { buffer.push(0); });
    PER_FUZZ_CHECK(pushed.rfind("logic_error: ", 0) == 0 &&
                       pushed.find("capacity() = 0") != std::string::npos,
                   where + ": push: " + pushed);
}

// --- The harness: a tree buffer against its naive reference ----------------------------------

// The same operations on a tree buffer and its naive reference (Kind: proportional over a
// double or float tree, or rank-based), compared after each. The harness holds up to two pairs
// (for copies and moves between them) and works on the active one. It keeps, for the active
// pair, the sampling weights of every slot as the naive rule gives them (proportional), or the
// rank weights r^-alpha and their prefix sums (rank-based), updated for the slots an operation
// touched: the comparison after an operation costs O(what changed) plus O(N) additions, and the
// full O(N) comparison of every slot runs after the operations that touch everything, every
// full_check_period operations and at the end.
template <class Kind>
class harness {
public:
    using pair_type = pair_of_buffers<Kind>;
    using tree_buffer = typename pair_type::tree_buffer;
    using naive_buffer = typename pair_type::naive_buffer;
    using sampler_type = typename Kind::sampler;
    static constexpr bool ranked = Kind::ranked;
    static constexpr bool exact = Kind::exact;
    static constexpr double tolerance = exact ? relative_tolerance : float_tolerance;
    static constexpr double slack = exact ? boundary_tolerance : float_tolerance;

    harness(input& in, std::size_t capacity, const replay_options& options)
        : m_in(in) {
        m_pairs[0].emplace(capacity, options);
        refresh();
    }

    // One operation and the comparison after it. Returns false when the run must stop (a
    // tolerated divergence at a limit).
    bool step(std::size_t index) {
        m_touched.clear();
        m_whole = false;
        m_unchanged = false;
        if (!operate()) {
            return false;
        }
        if (!m_unchanged) {
            ++m_generation;
        }
        if (m_whole || (index + 1) % full_check_period == 0) {
            refresh();
            full_check();
        } else {
            quick_check();
        }
        return true;
    }

    // Both pairs, every slot.
    void check_everything() {
        if (m_pairs[1 - m_active]) {
            m_active = 1 - m_active;
            refresh();
            full_check();
            m_active = 1 - m_active;
        }
        refresh();
        full_check();
    }

private:
    pair_type& active() { return *m_pairs[m_active]; }
    tree_buffer& tree() { return m_pairs[m_active]->tree; }
    naive_buffer& naive() { return m_pairs[m_active]->naive; }
    std::size_t capacity() { return tree().capacity(); }

    bool operate() {
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
                observe(m_in.below(capacity() + 3));
            } else {
                tree().clear();
                naive().clear();
                m_whole = true;
            }
            return true;
        case 13:
            checkpoint(op);
            return true;
        case 14:
            if (op & 0x80) {
                return push_batch();
            }
            [[fallthrough]];
        case 15:
            if ((op & 0x80) && op % 16 == 15) {
                special_members();
                return true;
            }
            [[fallthrough]];
        default:
            if (!naive().empty()) {
                active().pool.add(naive().handle(m_in.below(naive().size())));
            }
            push_default();
            return true;
        }
    }

    // --- The caches and the comparisons ------------------------------------------------------

    // The weight the tree stores for a raw priority (rounded to its value type), as a double.
    double tree_weight(double naive_weight) const {
        if constexpr (exact) {
            return naive_weight;
        } else {
            return static_cast<double>(static_cast<typename Kind::value_type>(naive_weight));
        }
    }

    void refresh_slot(std::size_t slot) {
        if constexpr (!ranked) {
            const replay_options& options = naive().options();
            m_naive_weights[slot] =
                weight_of(naive().priority(slot), options.alpha(), options.epsilon());
            m_tree_weights[slot] = tree_weight(m_naive_weights[slot]);
        } else {
            m_raw[slot] = naive().priority(slot);
        }
    }

    void refresh() {
        const std::size_t size = naive().size();
        if constexpr (!ranked) {
            m_naive_weights.resize(size);
            m_tree_weights.resize(size);
            for (std::size_t slot = 0; slot < size; ++slot) {
                refresh_slot(slot);
            }
        } else {
            if (!(naive().alpha() == m_rank_alpha)) {
                m_rank_alpha = naive().alpha();
                m_rank_weights.clear();
                m_rank_totals.assign(1, 0.0);
            }
            extend_rank_weights(size);
            m_raw.resize(size);
            for (std::size_t slot = 0; slot < size; ++slot) {
                refresh_slot(slot);
            }
        }
    }

    // Rank-based: r^-alpha and the prefix sums for r = 1..size, computed once per alpha.
    void extend_rank_weights(std::size_t size) {
        while (m_rank_weights.size() < size) {
            const std::size_t position = m_rank_weights.size();
            m_rank_weights.push_back(std::pow(static_cast<double>(position + 1), -m_rank_alpha));
            m_rank_totals.push_back(m_rank_totals[position] + m_rank_weights[position]);
        }
    }

    double tree_total() const {
        double total = 0;
        for (double weight : m_tree_weights) {
            total += weight;
        }
        return total;
    }
    double naive_total() const {
        double total = 0;
        for (double weight : m_naive_weights) {
            total += weight;
        }
        return total;
    }

    // What does not depend on a slot (and, proportional, the naive weights' total for
    // check_slot).
    void check_globals() {
        tree_buffer& t = tree();
        naive_buffer& n = naive();
        PER_FUZZ_CHECK(t.size() == n.size(), "sizes");
        PER_FUZZ_CHECK(t.capacity() == n.capacity(), "capacities");
        PER_FUZZ_CHECK(t.empty() == n.empty(), "empty()");
        PER_FUZZ_CHECK(t.next_slot() == n.next_slot(), "next_slot()");
        PER_FUZZ_CHECK(t.max_priority() == n.max_priority(),
                       text(t.max_priority()) + " vs " + text(n.max_priority()));
        PER_FUZZ_CHECK(std::isfinite(t.max_priority()), "max priority not finite");
        PER_FUZZ_CHECK(t.alpha() == n.alpha(), "alpha");
        PER_FUZZ_CHECK(same_options(t.options(), n.options()), "options");
        const double total = t.sampler().total_weight();
        PER_FUZZ_CHECK(std::isfinite(total) && total >= 0.0, "total weight " + text(total));
        if constexpr (!ranked) {
            m_naive_weight_total = naive_total();
            PER_FUZZ_CHECK(close(total, tree_total(), tolerance),
                           "total weight " + text(total) + " vs " + text(tree_total()));
        } else {
            const double expected = m_rank_totals[n.size()];
            PER_FUZZ_CHECK(n.size() == 0 || close(total, expected),
                           "total weight " + text(total) + " vs " + text(expected));
        }
    }

    // Everything about one slot (below size()); `own` also asks the naive reference's own O(N)
    // observers. Rank-based: `rank` is the slot's rank by the naive rule (1-based), or 0 to have
    // it computed here in O(N).
    void check_slot(std::size_t slot, bool own, std::size_t rank = 0) {
        tree_buffer& t = tree();
        naive_buffer& n = naive();
        const auto at = [slot] { return "slot " + std::to_string(slot); };
        PER_FUZZ_CHECK(t.item(slot) == n.item(slot), at());
        PER_FUZZ_CHECK(t.handle(slot) == n.handle(slot), at());
        const double p_tree = t.priority(slot);
        const double p_naive = n.priority(slot);
        PER_FUZZ_CHECK(p_tree == p_naive && std::signbit(p_tree) == std::signbit(p_naive),
                       at() + ": " + text(p_tree) + " vs " + text(p_naive));
        if constexpr (!ranked) {
            const double total = t.sampler().total_weight();
            const double q_tree = t.probability(slot);
            const double q_expected =
                m_tree_weights[slot] > 0.0 ? m_tree_weights[slot] / total : 0.0;
            PER_FUZZ_CHECK(close(q_tree, q_expected, tolerance),
                           at() + ": P = " + text(q_tree) + " vs " + text(q_expected));
            PER_FUZZ_CHECK((q_tree > 0.0) == (m_tree_weights[slot] > 0.0) || q_expected == 0.0,
                           at() + ": sampleable differs");
            if (own) {
                const double q_naive = m_naive_weights[slot] > 0.0
                                           ? m_naive_weights[slot] / m_naive_weight_total
                                           : 0.0;
                PER_FUZZ_CHECK(n.probability(slot) == q_naive, at() + ": naive probability()");
                if constexpr (exact) {
                    PER_FUZZ_CHECK(close(q_tree, q_naive), at() + ": P against the naive one");
                }
            }
        } else {
            if (rank == 0) {
                rank = expected_rank(slot);
            }
            const per::rank_based_sampler& sampler = t.sampler();
            PER_FUZZ_CHECK(sampler.rank(slot) == rank, at() + " at rank " + std::to_string(rank));
            PER_FUZZ_CHECK(sampler.slot_of_rank(rank) == slot, at() + ": slot_of_rank");
            const double p = t.probability(slot);
            const double expected = m_rank_weights[rank - 1] / m_rank_totals[n.size()];
            PER_FUZZ_CHECK(p > 0.0 && close(p, expected),
                           at() + ": P = " + text(p) + " vs " + text(expected));
            if (own) {
                PER_FUZZ_CHECK(n.rank(slot) == rank, at() + ": naive rank()");
                PER_FUZZ_CHECK(close(n.probability(slot), expected),
                               at() + ": naive probability()");
            }
        }
    }

    // Rank-based: the naive rule's rank of a slot (priority, then the more recent push), O(N).
    std::size_t expected_rank(std::size_t slot) {
        const std::vector<std::uint64_t>& pushed = active().pushed;
        const double p = m_raw[slot];
        std::size_t rank = 1;
        for (std::size_t other = 0; other < m_raw.size(); ++other) {
            const double q = m_raw[other];
            rank += q > p || (q == p && pushed[other] > pushed[slot]);
        }
        return rank;
    }

    // Whether check_slot asks the naive reference's own O(N) observers for this slot: every slot
    // of a small buffer, 8 slots spread over a larger one, so that a check stays O(N).
    static bool ask_naive_itself(std::size_t slot, std::size_t size) {
        return size <= 8 || slot % ((size + 7) / 8) == 0;
    }

    void quick_check() {
        const std::size_t size = naive().size();
        if constexpr (!ranked) {
            m_naive_weights.resize(size);
            m_tree_weights.resize(size);
            for (std::size_t slot : m_touched) {
                if (slot < size) {
                    refresh_slot(slot);
                }
            }
        } else {
            extend_rank_weights(size);
            m_raw.resize(size);
            for (std::size_t slot : m_touched) {
                if (slot < size) {
                    refresh_slot(slot);
                }
            }
        }
        check_globals();
        for (std::size_t slot : m_touched) {
            if (slot < size) {
                check_slot(slot, size <= 8);
            }
        }
    }

    // Every slot: O(N log N) (the rank-based order is sorted once).
    void full_check() {
        check_globals();
        const std::size_t size = naive().size();
        if constexpr (ranked) {
            order_by_rank();
        }
        for (std::size_t slot = 0; slot < size; ++slot) {
            check_slot(slot, ask_naive_itself(slot, size), ranked ? m_rank_of[slot] + 1 : 0);
        }
    }

    // Rank-based: m_order the slots by rank, as the naive reference ranks them; m_rank_of its
    // inverse (0-based).
    void order_by_rank() {
        const std::size_t size = naive().size();
        const std::vector<std::uint64_t>& pushed = active().pushed;
        m_order.resize(size);
        for (std::size_t slot = 0; slot < size; ++slot) {
            m_order[slot] = slot;
        }
        std::sort(m_order.begin(), m_order.end(), [&](std::size_t a, std::size_t b) {
            const double p = m_raw[a];
            const double q = m_raw[b];
            return p > q || (p == q && pushed[a] > pushed[b]);
        });
        m_rank_of.assign(capacity(), 0);
        for (std::size_t position = 0; position < size; ++position) {
            m_rank_of[m_order[position]] = position;
        }
    }

    // --- Operations --------------------------------------------------------------------------

    void remember(const replay_handle& handle) {
        pair_type& p = active();
        if constexpr (ranked) {
            p.pushed[handle.slot] = ++p.pushes;
        }
        p.pool.remember(handle, m_in);
        m_touched.push_back(handle.slot);
        ++m_next_item;
    }
    replay_handle some_handle() { return active().pool.pick(m_in, naive(), capacity()); }

    // A push into a moved-from pair: both throw std::logic_error naming capacity() = 0 (for
    // a valid priority; an invalid one may be named first).
    void push_into_nothing(bool valid) {
        const std::string a = outcome([&] { tree().push(m_next_item); });
        const std::string b = outcome([&] { naive().push(m_next_item); });
        const auto expected = [valid](const std::string& result) {
            return (result.rfind("logic_error: ", 0) == 0 &&
                    result.find("capacity() = 0") != std::string::npos) ||
                   (!valid && result == "invalid_argument");
        };
        PER_FUZZ_CHECK(expected(a) && expected(b),
                       "push into a moved-from buffer: tree " + a + ", naive " + b);
    }

    void push_default() {
        if (capacity() == 0) {
            push_into_nothing(true);
            return;
        }
        const replay_handle a = tree().push(m_next_item);
        const replay_handle b = naive().push(m_next_item);
        PER_FUZZ_CHECK(a == b, "push handles");
        if constexpr (ranked) {
            PER_FUZZ_CHECK(tree().sampler().rank(a.slot) == 1,
                           "a push at the max priority: rank 1");
        }
        remember(a);
    }

    // Float trees accept less than the naive reference: priorities whose weight the float sums
    // cannot hold. Such a call goes to the tree alone, which must refuse it.
    bool beyond_tree_limit(double priority) {
        return !exact && std::isfinite(priority) && priority >= 0.0 &&
               priority > tree().sampler().priority_limit();
    }

    bool push_with_priority() {
        const double priority = m_in.priority();
        const bool valid = std::isfinite(priority) && priority >= 0.0;
        if (capacity() == 0) {
            push_into_nothing(valid);
            return true;
        }
        replay_handle a{};
        replay_handle b{};
        const std::string tree_outcome = outcome([&] { a = tree().push(m_next_item, priority); });
        if (beyond_tree_limit(priority)) {
            PER_FUZZ_CHECK(tree_outcome == "invalid_argument",
                           "push beyond the float limit: " + tree_outcome);
            return true;
        }
        const std::string naive_outcome = outcome([&] { b = naive().push(m_next_item, priority); });
        if (tree_outcome != naive_outcome) {
            PER_FUZZ_CHECK(!ranked && near_limit(priority, naive().alpha(),
                                                 naive().options().epsilon(), capacity()),
                           "push(item, " + text(priority) + "): tree " + tree_outcome + ", naive " +
                               naive_outcome);
            return false;
        }
        if (ranked) {
            PER_FUZZ_CHECK(tree_outcome == (valid ? "ok" : "invalid_argument"),
                           "push(item, " + text(priority) + "): " + tree_outcome);
        }
        if (tree_outcome == "ok") {
            PER_FUZZ_CHECK(a == b, "push handles");
            remember(a);
        } else {
            PER_FUZZ_CHECK(tree_outcome == "invalid_argument", "push: " + tree_outcome);
        }
        return true;
    }

    // A batch of pushes with priorities (up to twice the capacity, so that a batch can
    // overwrite its own first items): push_batch on the tree buffer, one push per item on the
    // naive one, the same handles. A batch with an invalid priority must be refused whole.
    bool push_batch() {
        const std::size_t count = 1 + m_in.below(capacity() > 0 ? 2 * capacity() + 1 : 3);
        std::vector<int> items(count);
        std::vector<double> priorities(count);
        bool valid = true;
        bool unsure = false;
        for (std::size_t k = 0; k < count; ++k) {
            items[k] = m_next_item + static_cast<int>(k);
            priorities[k] = m_in.priority();
            const bool ok = std::isfinite(priorities[k]) && priorities[k] >= 0.0;
            valid = valid && ok && priorities[k] <= tree().sampler().priority_limit();
            unsure = unsure || (!ranked && ok &&
                                near_limit(priorities[k], naive().alpha(),
                                           naive().options().epsilon(), capacity()));
        }
        if (capacity() == 0) {
            const std::string a =
                outcome([&] { tree().push_batch(items.data(), priorities.data(), count); });
            PER_FUZZ_CHECK((a.rfind("logic_error: ", 0) == 0 &&
                            a.find("capacity() = 0") != std::string::npos) ||
                               (!valid && a == "invalid_argument"),
                           "push_batch into a moved-from buffer: " + a);
            return true;
        }
        if (unsure) { // the two may disagree on a priority at the limit: not a finding
            return false;
        }
        std::vector<replay_handle> handles(count);
        const std::string a = outcome(
            [&] { tree().push_batch(items.data(), priorities.data(), count, handles.data()); });
        if (!valid) { // a priority the tree refuses (the naive buffer refuses it too, unless it
                      // holds more than a float tree: beyond_tree_limit); nothing is pushed
            PER_FUZZ_CHECK(a == "invalid_argument", "push_batch with a bad priority: " + a);
            return true;
        }
        PER_FUZZ_CHECK(a == "ok", "push_batch: " + a);
        for (std::size_t k = 0; k < count; ++k) {
            const replay_handle b = naive().push(items[k], priorities[k]);
            PER_FUZZ_CHECK(handles[k] == b, "push_batch handles");
            remember(b);
        }
        return true;
    }

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
        bool beyond = false;
        for (double& priority : priorities) {
            if (form & 0x10) {
                priority = to_float(priority); // what the float form passes on
            }
            beyond = beyond || beyond_tree_limit(priority);
        }
        for (const replay_handle& handle : handles) {
            m_touched.push_back(handle.slot);
        }
        std::size_t applied_tree = 0;
        std::size_t applied_naive = 0;
        const std::string tree_outcome =
            update_with(tree(), handles, priorities, form, applied_tree);
        if (beyond) {
            PER_FUZZ_CHECK(tree_outcome != "ok" && tree_outcome.rfind("other", 0) != 0,
                           "update beyond the float limit: " + tree_outcome);
            return true;
        }
        const std::string naive_outcome =
            update_with(naive(), handles, priorities, form, applied_naive);
        if (tree_outcome != naive_outcome) {
            bool any_near = false;
            for (double priority : priorities) {
                any_near = any_near || near_limit(priority, naive().alpha(),
                                                  naive().options().epsilon(), capacity());
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
            PER_FUZZ_CHECK(!ranked && any_near, "update_priorities(" + arguments + "), form " +
                                                    std::to_string(form) + ": tree " +
                                                    tree_outcome + ", naive " + naive_outcome);
            return false;
        }
        PER_FUZZ_CHECK(applied_tree == applied_naive, "applied counts");
        return true;
    }

    bool update_one() {
        const replay_handle handle = some_handle();
        const double priority = m_in.priority();
        m_touched.push_back(handle.slot);
        bool a = false;
        bool b = false;
        const std::string tree_outcome =
            outcome([&] { a = tree().update_priority(handle, priority); });
        if (beyond_tree_limit(priority)) {
            PER_FUZZ_CHECK(tree_outcome == "invalid_argument" || tree_outcome == "out_of_range",
                           "update beyond the float limit: " + tree_outcome);
            return true;
        }
        const std::string naive_outcome =
            outcome([&] { b = naive().update_priority(handle, priority); });
        if (tree_outcome != naive_outcome) {
            PER_FUZZ_CHECK(!ranked && near_limit(priority, naive().alpha(),
                                                 naive().options().epsilon(), capacity()),
                           "update_priority(" + text(priority) + "): tree " + tree_outcome +
                               ", naive " + naive_outcome);
            return false;
        }
        PER_FUZZ_CHECK(a == b, "update_priority results");
        return true;
    }

    bool set_alpha() {
        const double alpha = m_in.alpha();
        const double old_alpha = naive().alpha();
        m_whole = true;
        const std::string tree_outcome = outcome([&] { tree().set_alpha(alpha); });
        const std::string naive_outcome = outcome([&] { naive().set_alpha(alpha); });
        if (tree_outcome == naive_outcome) {
            return true;
        }
        if constexpr (!exact) {
            // The float tree may refuse an alpha for which max_priority's weight does not fit
            // its sums: its priority limit under that alpha (a sampler of this capacity with that
            // alpha tells: the limit depends on both) is below max_priority. The naive reference
            // then goes back to its alpha.
            if (tree_outcome == "invalid_argument" && naive_outcome == "ok") {
                replay_options options = naive().options();
                options.alpha(alpha).initial_max_priority(0.0);
                double limit = -1.0;
                (void)outcome([&] { limit = sampler_type(capacity(), options).priority_limit(); });
                PER_FUZZ_CHECK(naive().max_priority() > limit,
                               "set_alpha(" + text(alpha) + ") refused by the float tree");
                naive().set_alpha(old_alpha);
                return true;
            }
        }
        PER_FUZZ_CHECK(!ranked && near_limit(naive().max_priority(), alpha,
                                             naive().options().epsilon(), capacity()),
                       "set_alpha(" + text(alpha) + ") with max priority " +
                           text(naive().max_priority()) + ": tree " + tree_outcome + ", naive " +
                           naive_outcome);
        return false;
    }

    void observe(std::size_t slot) {
        observe_both(tree(), naive(), slot);
        if constexpr (ranked) {
            std::size_t tree_rank = 0;
            std::size_t naive_rank = 0;
            const std::string a = outcome([&] { tree_rank = tree().sampler().rank(slot); });
            const std::string b = outcome([&] { naive_rank = naive().rank(slot); });
            PER_FUZZ_CHECK(a == b && tree_rank == naive_rank,
                           "rank of slot " + std::to_string(slot) + ": " + a + " vs " + b);
        }
        m_touched.push_back(slot);
    }

    // The contract of one buffer's draws alone: live, current, sampleable slots, distinct
    // without replacement.
    template <class Buffer>
    void check_draws_alone(const Buffer& buffer, const std::string& result,
                           const std::vector<replay_handle>& handles,
                           const std::vector<double>& probabilities,
                           const std::vector<double>& weights, bool without) {
        if (result != "ok") {
            return;
        }
        // A drawn slot has a non-zero weight w; its probability w / total is non-zero too,
        // unless the quotient underflows (a subnormal w beside weights of order 1: without
        // replacement the last draws may have to take it).
        double total = 0.0;
        for (double weight : weights) {
            total += weight;
        }
        std::vector<std::size_t> slots;
        for (std::size_t k = 0; k < handles.size(); ++k) {
            const replay_handle handle = handles[k];
            PER_FUZZ_CHECK(handle.slot < buffer.size() && handle == buffer.handle(handle.slot) &&
                               weights[handle.slot] > 0.0 &&
                               (probabilities[k] > 0.0 || weights[handle.slot] / total == 0.0),
                           "draw " + std::to_string(k) + ": slot " + std::to_string(handle.slot));
            slots.push_back(handle.slot);
        }
        std::sort(slots.begin(), slots.end());
        PER_FUZZ_CHECK(!without || std::adjacent_find(slots.begin(), slots.end()) == slots.end(),
                       "drew a slot twice without replacement");
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
        const replay_options& options = naive().options();
        const bool without = options.sampling() == sampling_mode::without_replacement;
        const bool stratified = options.sampling() == sampling_mode::stratified;
        const bool batch_max = options.normalization() == weight_normalization::batch_max;

        // A float tree rounds weights below float's normal range (to 0 below its smallest
        // subnormal): then what it may draw, and its weights, differ from the naive rule's, and
        // only each buffer's own contract is checked.
        bool lenient = false;
        if constexpr (!exact) {
            for (double weight : m_naive_weights) {
                lenient = lenient || (weight > 0.0 && weight < std::numeric_limits<float>::min());
            }
        }
        const paired_draws draws =
            sample_both(tree(), naive(), batch_size, beta, seed, into, lenient);
        if constexpr (!ranked) {
            if (lenient) {
                check_draws_alone(tree(), draws.tree_outcome, draws.tree_handles,
                                  draws.tree_probabilities, m_tree_weights, without);
                check_draws_alone(naive(), draws.naive_outcome, draws.naive_handles,
                                  draws.naive_probabilities, m_naive_weights, without);
                return;
            }
        }
        if (draws.tree_outcome != "ok") {
            return;
        }
        const std::size_t size = naive().size();
        std::vector<double> rank_weights;
        if constexpr (ranked) {
            order_by_rank();
            rank_weights.assign(m_rank_weights.begin(),
                                m_rank_weights.begin() + static_cast<std::ptrdiff_t>(size));
        }
        // Weights by position (slots, or ranks - 1), as the tree holds them.
        const std::vector<double>& weights = ranked ? rank_weights : m_tree_weights;
        const double total = ranked ? m_rank_totals[size] : tree_total();
        const auto position_of = [&](std::size_t slot) { return ranked ? m_rank_of[slot] : slot; };

        // Replay the engine to know each draw's uniform.
        std::mt19937_64 replay(seed);
        std::vector<double> units(batch_size);
        for (double& unit : units) {
            unit = per::uniform_unit(replay);
        }
        std::vector<double> remaining = weights; // without replacement: not drawn yet
        bool all_equal = true;
        for (std::size_t k = 0; k < batch_size; ++k) {
            const auto at = [k, batch_size] {
                return "draw " + std::to_string(k) + " of " + std::to_string(batch_size);
            };
            const replay_handle t = draws.tree_handles[k];
            const replay_handle n = draws.naive_handles[k];
            PER_FUZZ_CHECK(t.slot < tree().size() && n.slot < naive().size(), at() + ": slot");
            PER_FUZZ_CHECK(t == tree().handle(t.slot) && n == naive().handle(n.slot),
                           at() + ": handle not current");
            const std::size_t t_position = position_of(t.slot);
            const std::size_t n_position = position_of(n.slot);
            PER_FUZZ_CHECK(draws.tree_probabilities[k] > 0.0 ||
                               (!ranked && weights[t_position] / total == 0.0),
                           at() + ": zero probability");
            if constexpr (!ranked) {
                PER_FUZZ_CHECK(m_tree_weights[t.slot] > 0.0 && m_naive_weights[n.slot] > 0.0,
                               at() + ": drew a weight-0 slot");
            }
            if (without) {
                PER_FUZZ_CHECK(remaining[n_position] > 0.0, at() + ": drew a slot twice");
            }
            if (t != n && all_equal) {
                double sum = 0;
                for (double w : remaining) {
                    sum += w;
                }
                const double u = stratified ? (static_cast<double>(k) + units[k]) * total /
                                                  static_cast<double>(batch_size)
                                            : units[k] * (without ? sum : total);
                PER_FUZZ_CHECK(
                    at_boundary(without ? remaining : weights, u, t_position, n_position, slack),
                    at() + ": tree drew position " + std::to_string(t_position) +
                        ", naive position " + std::to_string(n_position) + ", u = " + text(u));
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
            const double p_tree = draws.tree_probabilities[k];
            PER_FUZZ_CHECK(close(p_tree, draws.naive_probabilities[k], tolerance) &&
                               close(p_tree, weights[t_position] / total, tolerance),
                           at() + ": P " + text(p_tree) + " vs " +
                               text(draws.naive_probabilities[k]));
            const bool tiny = p_tree < 1e-280 || draws.naive_probabilities[k] < 1e-280;
            if (!batch_max && !tiny) {
                PER_FUZZ_CHECK(close(draws.tree_weights[k], draws.naive_weights[k], tolerance),
                               at() + ": weight " + text(draws.tree_weights[k]) + " vs " +
                                   text(draws.naive_weights[k]));
            }
        }
        if (batch_max && all_equal) {
            for (std::size_t k = 0; k < batch_size; ++k) {
                PER_FUZZ_CHECK(close(draws.tree_weights[k], draws.naive_weights[k], tolerance) ||
                                   draws.tree_probabilities[k] < 1e-280,
                               "batch_max weight " + std::to_string(k));
            }
        }
        if (without) {
            std::vector<std::size_t> slots;
            for (const replay_handle& handle : draws.tree_handles) {
                slots.push_back(handle.slot);
            }
            std::sort(slots.begin(), slots.end());
            PER_FUZZ_CHECK(std::adjacent_find(slots.begin(), slots.end()) == slots.end(),
                           "tree drew a slot twice without replacement");
        }
    }

    // --- Checkpoints -------------------------------------------------------------------------

    // Checkpoints of the active pair (the tree buffer's kind 2 or 5, the naive one's 3 or 6)
    // hold the same fields, load back exactly (the same bytes again, the same draws), and a
    // corrupted, truncated or other-kind checkpoint throws and changes nothing. Sometimes the
    // sampler's own checkpoint (kind 1 or 4) too. A moved-from pair saves a capacity of 0, which
    // load rejects; the other pair's checkpoints then make it usable again.
    void checkpoint(std::uint8_t op) {
        m_whole = true;
        pair_type& p = active();
        const std::string tree_bytes = checkpoint_of(p.tree);
        const std::string naive_bytes = checkpoint_of(p.naive);
        PER_FUZZ_CHECK(tree_bytes.size() > 32 && naive_bytes.size() > 32 &&
                           static_cast<unsigned char>(tree_bytes[12]) == Kind::tree_kind &&
                           static_cast<unsigned char>(naive_bytes[12]) == Kind::naive_kind,
                       "the checkpoints' kinds");
        // The same fields but kind (12..15), value size and fanout (16..23) and the checksum.
        PER_FUZZ_CHECK(tree_bytes.size() == naive_bytes.size(), "checkpoint sizes");
        PER_FUZZ_CHECK(tree_bytes.compare(0, 12, naive_bytes, 0, 12) == 0, "checkpoint headers");
        PER_FUZZ_CHECK(tree_bytes.compare(24, tree_bytes.size() - 32, naive_bytes, 24,
                                          naive_bytes.size() - 32) == 0,
                       "checkpoint fields differ between the buffers");

        if (p.tree.capacity() == 0) {
            tree_buffer tree_target(1);
            naive_buffer naive_target(1);
            require_rejected(tree_bytes, tree_target, per::checkpoint_errc::invalid_value,
                             "a moved-from buffer's checkpoint");
            require_rejected(naive_bytes, naive_target, per::checkpoint_errc::invalid_value,
                             "a moved-from naive buffer's checkpoint");
            const std::size_t other = 1 - m_active;
            if (m_pairs[other] && m_pairs[other]->tree.capacity() > 0) {
                std::istringstream tree_in(checkpoint_of(m_pairs[other]->tree));
                std::istringstream naive_in(checkpoint_of(m_pairs[other]->naive));
                per::load(tree_in, p.tree);
                per::load(naive_in, p.naive);
                p.pool = m_pairs[other]->pool;
                p.pushed = m_pairs[other]->pushed;
                p.pushes = m_pairs[other]->pushes;
            }
            return;
        }

        tree_buffer tree_target(1 + m_in.below(5));
        naive_buffer naive_target(1 + m_in.below(5));
        if (op & 0x40) {
            // Corrupt: flip a byte, or truncate. It must throw and change nothing.
            if (m_in.byte() & 1) {
                naive_target = p.naive;
                require_rejected(corrupted(naive_bytes, m_in, op & 0x80), naive_target,
                                 std::nullopt, "a corrupted naive checkpoint");
            } else {
                tree_target = p.tree;
                require_rejected(corrupted(tree_bytes, m_in, op & 0x80), tree_target, std::nullopt,
                                 "a corrupted checkpoint");
            }
        }
        if (op & 0x20) {
            wrong_kinds(tree_bytes, naive_bytes, m_in.byte());
        }
        {
            std::istringstream tree_in(tree_bytes);
            std::istringstream naive_in(naive_bytes);
            per::load(tree_in, tree_target);
            per::load(naive_in, naive_target);
        }
        PER_FUZZ_CHECK(checkpoint_of(tree_target) == tree_bytes, "tree round trip: other bytes");
        PER_FUZZ_CHECK(checkpoint_of(naive_target) == naive_bytes, "naive round trip: other bytes");
        PER_FUZZ_CHECK(probe(tree_target) == probe(p.tree), "tree round trip: other draws");
        PER_FUZZ_CHECK(probe(naive_target) == probe(p.naive), "naive round trip: other draws");
        if (op & 0x10) {
            const std::string sampler_bytes = checkpoint_of(p.tree.sampler());
            sampler_type loaded(1);
            std::istringstream in(sampler_bytes);
            per::load(in, loaded);
            sampler_type copy = p.tree.sampler();
            PER_FUZZ_CHECK(checkpoint_of(loaded) == sampler_bytes && probe(loaded) == probe(copy),
                           "sampler round trip");
        }
        p.tree = std::move(tree_target);
        p.naive = std::move(naive_target);
    }

    // A checkpoint of one kind into an object of another: wrong_kind (or, for the same kind
    // with another tree value type, type_mismatch), the target unchanged.
    void wrong_kinds(const std::string& tree_bytes, const std::string& naive_bytes,
                     std::uint8_t choice) {
        using per::checkpoint_errc;
        const std::size_t capacity = 1 + choice / 8 % 4;
        switch (choice % 6) {
        case 0: {
            naive_buffer target(capacity);
            require_rejected(tree_bytes, target, checkpoint_errc::wrong_kind, "tree into naive");
            return;
        }
        case 1: {
            tree_buffer target(capacity);
            require_rejected(naive_bytes, target, checkpoint_errc::wrong_kind, "naive into tree");
            return;
        }
        case 2: {
            sampler_type target(capacity);
            require_rejected(tree_bytes, target, checkpoint_errc::wrong_kind,
                             "buffer into sampler");
            return;
        }
        case 3: {
            tree_buffer target(capacity);
            require_rejected(checkpoint_of(tree().sampler()), target, checkpoint_errc::wrong_kind,
                             "sampler into buffer");
            return;
        }
        case 4: {
            if constexpr (ranked) {
                per::prioritized_replay<int> target(capacity);
                require_rejected(tree_bytes, target, checkpoint_errc::wrong_kind,
                                 "rank-based into proportional");
                per::naive_prioritized_replay<int> naive_target(capacity);
                require_rejected(naive_bytes, naive_target, checkpoint_errc::wrong_kind,
                                 "naive rank-based into naive proportional");
            } else {
                per::rank_based_replay<int> target(capacity);
                require_rejected(tree_bytes, target, checkpoint_errc::wrong_kind,
                                 "proportional into rank-based");
                per::naive_rank_based_replay<int> naive_target(capacity);
                require_rejected(naive_bytes, naive_target, checkpoint_errc::wrong_kind,
                                 "naive proportional into naive rank-based");
            }
            return;
        }
        default: {
            if constexpr (ranked) {
                per::rank_based_sampler target(capacity);
                require_rejected(naive_bytes, target, checkpoint_errc::wrong_kind,
                                 "naive rank-based into rank-based sampler");
            } else {
                using other_value =
                    std::conditional_t<exact, float, double>; // the other tree value type
                per::prioritized_replay<int,
                                        per::basic_prioritized_sampler<per::sum_tree<other_value>>>
                    target(capacity);
                require_rejected(tree_bytes, target, checkpoint_errc::type_mismatch,
                                 "a float tree's checkpoint into a double tree or back");
            }
            return;
        }
        }
    }

    // --- Copies and moves --------------------------------------------------------------------

    // Copy construction, copy assignment, self-copy-assignment, switching the active pair and,
    // with fuzz_special_members, move construction, move assignment, self-move-assignment and
    // the strong guarantee of copy assignment with items whose copy throws. Afterwards the
    // harness goes on with the active pair (a copy, a moved-from object, or the other pair).
    void special_members() {
        m_whole = true;
        const std::uint8_t choice = m_in.byte();
        const std::size_t from = m_active;
        const std::size_t to = 1 - m_active;
        std::optional<pair_type>& source = m_pairs[from];
        std::optional<pair_type>& target = m_pairs[to];
        const std::size_t operation = fuzz_special_members ? choice % 8 : choice % 4;
        switch (operation) {
        case 0:
        case 1: {
            if (operation == 0 || !target) {
                target.reset();
                target.emplace(*source); // copy construction
            } else {
                *target = *source; // copy assignment
            }
            require_same(*target, *source, "copy");
            if constexpr (fuzz_special_members) {
                // A copy reserves capacity() items: its next push does not move its items.
                tree_buffer& copy = target->tree;
                if (copy.size() > 0 && copy.size() < copy.capacity()) {
                    const int* first = &copy.item(0);
                    const replay_handle a = copy.push(m_next_item);
                    const replay_handle b = target->naive.push(m_next_item);
                    PER_FUZZ_CHECK(a == b, "push handles");
                    PER_FUZZ_CHECK(&copy.item(0) == first, "a copy reallocated on its next push");
                    if constexpr (ranked) {
                        target->pushed[a.slot] = ++target->pushes;
                    }
                    ++m_next_item;
                }
            }
            break;
        }
        case 2: {
            const snapshot before = snapshot_of(*source);
            const tree_buffer& tree_alias = source->tree;
            const naive_buffer& naive_alias = source->naive;
            source->tree = tree_alias;
            source->naive = naive_alias;
            require_snapshot(*source, before, "self-copy-assignment");
            break;
        }
        case 3:
            break; // only the switch below
        case 4:
        case 5:
            if constexpr (fuzz_special_members) {
                static_assert(std::is_nothrow_move_constructible_v<tree_buffer> &&
                                  std::is_nothrow_move_assignable_v<tree_buffer> &&
                                  std::is_nothrow_move_constructible_v<naive_buffer> &&
                                  std::is_nothrow_move_assignable_v<naive_buffer>,
                              "moves are noexcept");
                const snapshot before = snapshot_of(*source);
                const kept_values tree_kept = kept_by(source->tree);
                const kept_values naive_kept = kept_by(source->naive);
                if (operation == 4 || !target) {
                    target.reset();
                    target.emplace(std::move(*source)); // move construction
                } else {
                    *target = std::move(*source); // move assignment
                }
                require_snapshot(*target, before, "move");
                require_moved_from(source->tree, tree_kept, "buffer");
                require_moved_from(source->naive, naive_kept, "naive buffer");
                source->pushed.clear();
            }
            break;
        case 6:
            if constexpr (fuzz_special_members) {
                const snapshot before = snapshot_of(*source);
                tree_buffer& tree_alias = source->tree;
                naive_buffer& naive_alias = source->naive;
                source->tree = std::move(tree_alias);
                source->naive = std::move(naive_alias);
                require_snapshot(*source, before, "self-move-assignment");
            }
            break;
        default:
            if constexpr (fuzz_special_members) {
                throwing_copy_assignments(from, target ? to : from);
                m_unchanged = true;
            }
            break;
        }
        if ((choice & 0x08 || operation == 3) && target) {
            m_active = to;
        }
        check_everything();
    }

    // Everything observable about a pair, exactly.
    struct snapshot {
        per::replay_state<int> tree, naive;
        probe_result tree_draws, naive_draws;
    };
    snapshot snapshot_of(pair_type& p) {
        return {p.tree.export_state(), p.naive.export_state(), probe(p.tree), probe(p.naive)};
    }
    void require_snapshot(pair_type& p, const snapshot& before, const char* what) {
        PER_FUZZ_CHECK(same_state(p.tree.export_state(), before.tree) &&
                           probe(p.tree) == before.tree_draws,
                       std::string(what) + ": the buffer is not what it was");
        PER_FUZZ_CHECK(same_state(p.naive.export_state(), before.naive) &&
                           probe(p.naive) == before.naive_draws,
                       std::string(what) + ": the naive buffer is not what it was");
    }
    void require_same(pair_type& a, pair_type& b, const char* what) {
        require_snapshot(a, snapshot_of(b), what);
    }

    using fragile_tree = typename Kind::template tree_of<fuzz_item>;
    using fragile_naive = typename Kind::template naive_of<fuzz_item>;

    // The pair's buffers with the same state over items whose copy can throw: imported once per
    // generation of the pairs, copied (without a throw) for each use.
    struct fragile_twins {
        std::uint64_t generation = 0;
        std::optional<fragile_tree> tree;
        std::optional<fragile_naive> naive;
    };

    template <class Buffer, class Source>
    static void import_twin(std::optional<Buffer>& twin, const Source& buffer) {
        per::replay_state<int> state = buffer.export_state();
        per::replay_state<fuzz_item> converted{std::move(state.sampler), state.next_slot, {}};
        converted.items.reserve(state.items.size());
        for (int item : state.items) {
            converted.items.emplace_back(item);
        }
        twin.emplace(1);
        twin->import_state(std::move(converted));
    }

    fragile_twins& twins_of(std::size_t pair) {
        fragile_twins& twins = m_twins[pair];
        if (!twins.tree || twins.generation != m_generation) {
            import_twin(twins.tree, m_pairs[pair]->tree);
            import_twin(twins.naive, m_pairs[pair]->naive);
            twins.generation = m_generation;
        }
        return twins;
    }

    // The strong guarantee of copy assignment, for the tree buffers and the naive ones of pairs
    // `from` and `to` (the same pair for a self-copy of the state): throwing_copy_assignment with
    // the countdowns the input chooses. The pairs themselves are not changed, so a check already
    // made at this generation of the pairs, with the same pairs and countdowns, is not made
    // again (it is deterministic: it would repeat the same copies, throws and probes; runs of
    // 0xff bytes, which libFuzzer's mutations insert often, decode into exactly such repeats).
    void throwing_copy_assignments(std::size_t from, std::size_t to) {
        pair_type& source = *m_pairs[from];
        pair_type& target = *m_pairs[to];
        // -1: the buffers have capacity 0 (moved from); the countdowns are read as before.
        const auto countdown = [&](const auto& a, const auto& b) {
            return a.capacity() == 0 || b.capacity() == 0
                       ? -1L
                       : static_cast<long>(m_in.below(a.size() + 2));
        };
        const long tree_countdown = countdown(source.tree, target.tree);
        const long naive_countdown = countdown(source.naive, target.naive);
        const fragile_check check{m_generation, from, to, tree_countdown, naive_countdown};
        if (std::find(m_fragile_checks.begin(), m_fragile_checks.end(), check) !=
            m_fragile_checks.end()) {
            return;
        }
        if (!m_fragile_checks.empty() && m_fragile_checks.front().generation != m_generation) {
            m_fragile_checks.clear();
        }
        m_fragile_checks.push_back(check);
        if (tree_countdown >= 0) {
            throwing_copy_assignment(*twins_of(from).tree, *twins_of(to).tree, tree_countdown);
        }
        if (naive_countdown >= 0) {
            throwing_copy_assignment(*twins_of(from).naive, *twins_of(to).naive, naive_countdown);
        }
    }
    struct fragile_check {
        std::uint64_t generation;
        std::size_t from, to;
        long tree_countdown, naive_countdown;
        bool operator==(const fragile_check& other) const {
            return generation == other.generation && from == other.from && to == other.to &&
                   tree_countdown == other.tree_countdown &&
                   naive_countdown == other.naive_countdown;
        }
    };

    // Copy assignment between copies of `from` and `to` (buffers of items whose copy throws)
    // with the item copies failing after `countdown` more: on success the target equals the
    // source, on throw it is exactly as before (the strong guarantee) and still works.
    template <class Buffer>
    void throwing_copy_assignment(const Buffer& from, const Buffer& to, long countdown) {
        Buffer source(from);
        Buffer target(to);
        const per::replay_state<fuzz_item> before = target.export_state();
        const probe_result drawn = probe(target);
        copies_until_failure = countdown;
        const std::string result = outcome([&] { target = source; });
        copies_until_failure = -1;
        if (result == "ok") {
            PER_FUZZ_CHECK(same_state(target.export_state(), source.export_state()) &&
                               probe(target) == probe(source),
                           "copy assignment: the target is not the source");
        } else {
            PER_FUZZ_CHECK(result == "other: fragile_item: copy failed on purpose",
                           "copy assignment threw " + result);
            PER_FUZZ_CHECK(same_state(target.export_state(), before) && probe(target) == drawn,
                           "a copy assignment that threw changed the target");
            target.push(fuzz_item(-1));
            PER_FUZZ_CHECK(
                target.item(target.next_slot() == 0 ? target.size() - 1 : target.next_slot() - 1)
                        .value == -1,
                "the target of a failed copy assignment does not work");
        }
    }

    input& m_in;
    std::optional<pair_type> m_pairs[2];
    std::size_t m_active = 0;
    int m_next_item = 0;
    std::vector<std::size_t> m_touched; // slots the current operation may have changed
    bool m_whole = false;               // the current operation may have changed every slot
    // Counts the operations that may have changed a pair; m_unchanged: the current one did not.
    std::uint64_t m_generation = 1;
    bool m_unchanged = false;
    fragile_twins m_twins[2];
    std::vector<fragile_check> m_fragile_checks; // made at generation m_generation
    // Proportional: the weight of each slot by the naive rule, and as the tree rounds it.
    std::vector<double> m_naive_weights, m_tree_weights;
    double m_naive_weight_total = 0.0; // of m_naive_weights, as of the last check_globals
    // Rank-based: r^-alpha for r = 1..capacity, their prefix sums, and sample's rank order.
    double m_rank_alpha = std::numeric_limits<double>::quiet_NaN();
    std::vector<double> m_rank_weights, m_rank_totals{0.0};
    std::vector<double> m_raw; // rank-based: the raw priority of each slot
    std::vector<std::size_t> m_order, m_rank_of;
};

// Whether the float tree's constructor may refuse what the naive reference accepts: an
// initial_max_priority above the float tree's priority limit (which depends on the capacity too).
template <class Kind>
bool float_tree_refuses(std::size_t capacity, const replay_options& options) {
    replay_options zero = options;
    zero.initial_max_priority(0.0);
    double limit = -1.0;
    (void)outcome([&] { limit = typename Kind::sampler(capacity, zero).priority_limit(); });
    return options.initial_max_priority() > limit;
}

template <class Kind>
void run(input& in) {
    using tree_buffer = typename pair_of_buffers<Kind>::tree_buffer;
    using naive_buffer = typename pair_of_buffers<Kind>::naive_buffer;
    const configuration config = read_configuration(in);
    const std::size_t capacity = config.capacity;
    const replay_options& options = config.options;
    const std::string tree_outcome = outcome([&] { tree_buffer b(capacity, options); });
    const std::string naive_outcome = outcome([&] { naive_buffer b(capacity, options); });
    if (tree_outcome != naive_outcome) {
        const bool tolerated =
            Kind::ranked ? false
            : Kind::exact
                ? near_limit(options.initial_max_priority(), options.alpha(), options.epsilon(),
                             capacity)
                : tree_outcome == "invalid_argument" && float_tree_refuses<Kind>(capacity, options);
        PER_FUZZ_CHECK(tolerated, "constructor with capacity " + std::to_string(capacity) +
                                      ", alpha " + text(options.alpha()) + ", epsilon " +
                                      text(options.epsilon()) + ", initial_max_priority " +
                                      text(options.initial_max_priority()) + ": tree " +
                                      tree_outcome + ", naive " + naive_outcome);
        return;
    }
    if (tree_outcome != "ok") {
        PER_FUZZ_CHECK(tree_outcome == "invalid_argument", "constructor: " + tree_outcome);
        return;
    }
    harness<Kind> run(in, capacity, options);
    for (std::size_t op = 0; op < max_operations && !in.exhausted(); ++op) {
        if (!run.step(op)) {
            return;
        }
    }
    run.check_everything();
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size > 0 && data[0] == rank_based_selector) {
        input in(data + 1, size - 1);
        run<rank_kind>(in);
    } else if (size > 0 && data[0] == float_tree_selector) {
        input in(data + 1, size - 1);
        run<proportional_kind<per::sum_tree<float>>>(in);
    } else {
        input in(data, size);
        run<proportional_kind<per::sum_tree<double>>>(in);
    }
    return 0;
}
