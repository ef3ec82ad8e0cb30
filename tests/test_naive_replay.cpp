// Unit tests of the O(N) reference buffer on its own, against hand computation. The
// differential tests then hold the O(log N) buffer to this one.
#include <per/naive_replay.hpp>

#include "per_catch.hpp"

#include <array>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <memory>
#include <random>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

#if __cplusplus >= 202002L
#include <span>
#endif

namespace {

using buffer_type = per::naive_prioritized_replay<int>;
using per::replay_options;
using per::sampling_mode;
using per::weight_normalization;

constexpr double not_a_number = std::numeric_limits<double>::quiet_NaN();
constexpr double infinite = std::numeric_limits<double>::infinity();

const sampling_mode all_modes[] = {sampling_mode::stratified, sampling_mode::independent,
                                   sampling_mode::without_replacement};

// Everything observable about a buffer, to compare before and after a call that throws.
struct snapshot {
    std::size_t size = 0;
    std::size_t capacity = 0;
    std::size_t next_slot = 0;
    double max_priority = 0.0;
    double alpha = 0.0;
    std::vector<int> items;
    std::vector<double> priorities;
    std::vector<double> probabilities;
    std::vector<per::replay_handle> handles;

    explicit snapshot(const buffer_type& buffer)
        : size(buffer.size())
        , capacity(buffer.capacity())
        , next_slot(buffer.next_slot())
        , max_priority(buffer.max_priority())
        , alpha(buffer.alpha()) {
        for (std::size_t slot = 0; slot < buffer.size(); ++slot) {
            items.push_back(buffer.item(slot));
            priorities.push_back(buffer.priority(slot));
            probabilities.push_back(buffer.probability(slot));
            handles.push_back(buffer.handle(slot));
        }
    }
};

void require_same(const snapshot& before, const snapshot& after) {
    REQUIRE(after.size == before.size);
    REQUIRE(after.capacity == before.capacity);
    REQUIRE(after.next_slot == before.next_slot);
    REQUIRE(after.max_priority == before.max_priority);
    REQUIRE(after.alpha == before.alpha);
    REQUIRE(after.items == before.items);
    REQUIRE(after.priorities == before.priorities);
    REQUIRE(after.probabilities == before.probabilities);
    REQUIRE(after.handles == before.handles);
}

// A buffer with raw priorities {1, 2, 3, 4}, epsilon 0 and alpha 1: P = {0.1, 0.2, 0.3, 0.4}.
buffer_type one_to_four(replay_options options = {}, std::size_t capacity = 8) {
    buffer_type buffer(capacity, options.alpha(1.0).epsilon(0.0));
    for (int i = 0; i < 4; ++i) {
        buffer.push(10 + i, i + 1.0);
    }
    return buffer;
}

// The slot the documented rule picks for prefix value u: the first whose running sum > u.
std::size_t first_above(const std::vector<double>& weights, double u) {
    double running = 0.0;
    for (std::size_t i = 0; i < weights.size(); ++i) {
        running += weights[i];
        if (running > u) {
            return i;
        }
    }
    std::size_t last = weights.size() - 1;
    while (weights[last] == 0.0) {
        --last;
    }
    return last;
}

} // namespace

TEST_CASE("naive: a new buffer is empty and keeps its options", "[naive]") {
    const buffer_type buffer(5, replay_options{}.alpha(0.7).epsilon(0.01).initial_max_priority(2));
    REQUIRE(buffer.empty());
    REQUIRE(buffer.size() == 0);
    REQUIRE(buffer.capacity() == 5);
    REQUIRE(buffer.next_slot() == 0);
    REQUIRE(buffer.alpha() == 0.7);
    REQUIRE(buffer.options().alpha() == 0.7);
    REQUIRE(buffer.options().epsilon() == 0.01);
    REQUIRE(buffer.max_priority() == 2.0);
    REQUIRE(buffer.options().sampling() == sampling_mode::stratified);
    REQUIRE(buffer.options().normalization() == weight_normalization::global_max);
}

TEST_CASE("naive: bad construction arguments throw naming them", "[naive][errors]") {
    REQUIRE_THROWS_AS(buffer_type(0), std::invalid_argument);
    REQUIRE_THROWS_WITH(buffer_type(0), PER_CONTAINS("capacity = 0"));
    REQUIRE_THROWS_WITH(buffer_type(4, replay_options{}.alpha(-1)), PER_CONTAINS("alpha = -1"));
    REQUIRE_THROWS_AS(buffer_type(4, replay_options{}.alpha(not_a_number)), std::invalid_argument);
    REQUIRE_THROWS_WITH(buffer_type(4, replay_options{}.epsilon(infinite)),
                        PER_CONTAINS("epsilon = inf"));
    REQUIRE_THROWS_WITH(buffer_type(4, replay_options{}.initial_max_priority(-0.5)),
                        PER_CONTAINS("initial_max_priority = -0.5"));
    // A weight that would overflow the sums.
    REQUIRE_THROWS_WITH(buffer_type(4, replay_options{}.alpha(2).initial_max_priority(1e200)),
                        PER_CONTAINS("initial_max_priority = 1e+200") && PER_CONTAINS("overflow"));
    REQUIRE_THROWS_AS(buffer_type(4, replay_options{}.sampling(static_cast<sampling_mode>(7))),
                      std::invalid_argument);
    REQUIRE_THROWS_AS(
        buffer_type(4, replay_options{}.normalization(static_cast<weight_normalization>(7))),
        std::invalid_argument);
}

TEST_CASE("naive: push fills a ring, wraps around and overwrites the oldest", "[naive]") {
    buffer_type buffer(3);
    std::vector<per::replay_handle> handles;
    for (int i = 0; i < 7; ++i) {
        handles.push_back(buffer.push(100 + i));
        REQUIRE(buffer.size() == std::min<std::size_t>(i + 1, 3));
        REQUIRE(buffer.next_slot() == static_cast<std::size_t>(i + 1) % 3);
    }
    // Slots 0, 1, 2, 0, 1, 2, 0 with generations 1, 1, 1, 2, 2, 2, 3.
    const std::size_t slots[] = {0, 1, 2, 0, 1, 2, 0};
    const std::uint32_t generations[] = {1, 1, 1, 2, 2, 2, 3};
    for (std::size_t i = 0; i < handles.size(); ++i) {
        REQUIRE(handles[i].slot == slots[i]);
        REQUIRE(handles[i].generation == generations[i]);
    }
    REQUIRE(buffer.item(0) == 106);
    REQUIRE(buffer.item(1) == 104);
    REQUIRE(buffer.item(2) == 105);
    REQUIRE(buffer.handle(0) == handles[6]);
    REQUIRE(buffer.handle(1) == handles[4]);
    REQUIRE(buffer.handle(2) == handles[5]);
    REQUIRE(buffer.capacity() == 3);
}

TEST_CASE("naive: push moves and copies items; move-only items work", "[naive]") {
    per::naive_prioritized_replay<std::unique_ptr<int>> buffer(2);
    buffer.push(std::make_unique<int>(1));
    buffer.push(std::make_unique<int>(2), 0.5);
    buffer.push(std::make_unique<int>(3)); // overwrites slot 0 by move assignment
    REQUIRE(*buffer.item(0) == 3);
    REQUIRE(*buffer.item(1) == 2);
    std::mt19937_64 rng(1);
    const auto batch = buffer.sample(4, 0.5, rng);
    for (std::size_t k = 0; k < batch.size(); ++k) {
        REQUIRE(&batch[k] == &buffer.item(batch.slots()[k]));
    }

    per::naive_prioritized_replay<std::string> strings(2);
    const std::string text = "kept";
    strings.push(text);
    REQUIRE(text == "kept");
    REQUIRE(strings.item(0) == "kept");
}

TEST_CASE("naive: the running max priority never decreases", "[naive]") {
    buffer_type buffer(2, replay_options{}.initial_max_priority(1.5));
    REQUIRE(buffer.max_priority() == 1.5);
    const auto a = buffer.push(1);
    REQUIRE(buffer.priority(0) == 1.5);
    buffer.push(2, 0.25); // below the max: the max stays
    REQUIRE(buffer.max_priority() == 1.5);
    REQUIRE(buffer.update_priority(a, 0.1)); // lowering a priority does not lower the max
    REQUIRE(buffer.max_priority() == 1.5);
    const auto c = buffer.push(3, 4.0);
    REQUIRE(buffer.max_priority() == 4.0);
    REQUIRE(buffer.update_priority(c, 6.0)); // an applied update raises it
    REQUIRE(buffer.max_priority() == 6.0);
    REQUIRE_FALSE(buffer.update_priority(a, 100.0)); // a stale update does not
    REQUIRE(buffer.max_priority() == 6.0);
    buffer.push(4); // new items get the max
    REQUIRE(buffer.priority(1) == 6.0);
    buffer.clear(); // clear keeps it
    REQUIRE(buffer.max_priority() == 6.0);
    buffer.push(5);
    REQUIRE(buffer.priority(0) == 6.0);
    buffer.set_alpha(0.2);
    REQUIRE(buffer.max_priority() == 6.0);
}

TEST_CASE("naive: probabilities by hand for alpha and epsilon", "[naive]") {
    SECTION("alpha 1, epsilon 0: proportional to the raw priorities") {
        const buffer_type buffer = one_to_four();
        REQUIRE(buffer.probability(0) == Approx(0.1));
        REQUIRE(buffer.probability(1) == Approx(0.2));
        REQUIRE(buffer.probability(2) == Approx(0.3));
        REQUIRE(buffer.probability(3) == Approx(0.4));
    }
    SECTION("alpha 0.5, epsilon 0.25: weights sqrt(p + 0.25)") {
        buffer_type buffer(4, replay_options{}.alpha(0.5).epsilon(0.25));
        buffer.push(1, 0.75); // weight 1
        buffer.push(2, 3.75); // weight 2
        REQUIRE(buffer.probability(0) == Approx(1.0 / 3.0));
        REQUIRE(buffer.probability(1) == Approx(2.0 / 3.0));
        REQUIRE(buffer.priority(0) == 0.75);
    }
    SECTION("alpha 0 is uniform, zero priorities included when epsilon > 0") {
        buffer_type buffer(8, replay_options{}.alpha(0.0).epsilon(1e-6));
        buffer.push(1, 0.0);
        buffer.push(2, 5.0);
        buffer.push(3, 1e6);
        for (std::size_t slot = 0; slot < 3; ++slot) {
            REQUIRE(buffer.probability(slot) == Approx(1.0 / 3.0));
        }
    }
    SECTION("zero priority with epsilon 0 has weight 0 for every alpha, alpha 0 included") {
        for (double alpha : {0.0, 0.6, 1.0}) {
            CAPTURE(alpha);
            buffer_type buffer(4, replay_options{}.alpha(alpha).epsilon(0.0));
            buffer.push(1, 0.0);
            buffer.push(2, 2.0);
            buffer.push(3, 0.0);
            REQUIRE(buffer.probability(0) == 0.0);
            REQUIRE(buffer.probability(1) == 1.0);
            REQUIRE(buffer.probability(2) == 0.0);
            for (sampling_mode mode : {sampling_mode::stratified, sampling_mode::independent}) {
                buffer_type copy(4, replay_options{}.alpha(alpha).epsilon(0.0).sampling(mode));
                copy.push(1, 0.0);
                copy.push(2, 2.0);
                copy.push(3, 0.0);
                std::mt19937_64 rng(11);
                for (int round = 0; round < 20; ++round) {
                    const auto batch = copy.sample(16, 1.0, rng);
                    for (std::size_t slot : batch.slots()) {
                        REQUIRE(slot == 1);
                    }
                }
            }
        }
    }
    SECTION("N is the number of items present, never the capacity") {
        buffer_type buffer(100, replay_options{}.alpha(1.0).epsilon(0.0));
        buffer.push(1, 1.0);
        buffer.push(2, 3.0);
        REQUIRE(buffer.probability(0) == Approx(0.25));
        REQUIRE(buffer.probability(1) == Approx(0.75));
    }
    SECTION("set_alpha recomputes from the stored raw priorities") {
        buffer_type buffer = one_to_four();
        buffer.set_alpha(2.0); // weights 1, 4, 9, 16: total 30
        REQUIRE(buffer.alpha() == 2.0);
        REQUIRE(buffer.options().alpha() == 2.0);
        REQUIRE(buffer.probability(0) == Approx(1.0 / 30.0));
        REQUIRE(buffer.probability(3) == Approx(16.0 / 30.0));
        REQUIRE(buffer.priority(3) == 4.0);
        buffer.set_alpha(0.0);
        REQUIRE(buffer.probability(2) == Approx(0.25));
    }
}

TEST_CASE("naive: importance weights by hand for each normalization", "[naive]") {
    // Raw priorities {1, 2, 3, 4}, alpha 1, epsilon 0 in a buffer of capacity 8: N = 4,
    // P = {0.1, 0.2, 0.3, 0.4}; beta = 0.5: (N P)^-beta = 1 / sqrt(0.4, 0.8, 1.2, 1.6).
    const double unnormalized[] = {1.5811388300841898, 1.1180339887498949, 0.9128709291752769,
                                   0.7905694150420949};
    const double probabilities[] = {0.1, 0.2, 0.3, 0.4};
    for (sampling_mode mode : all_modes) {
        for (weight_normalization normalization :
             {weight_normalization::none, weight_normalization::global_max,
              weight_normalization::batch_max}) {
            CAPTURE(static_cast<int>(mode), static_cast<int>(normalization));
            buffer_type buffer =
                one_to_four(replay_options{}.sampling(mode).normalization(normalization));
            std::mt19937_64 rng(3);
            const std::size_t batch_size = mode == sampling_mode::without_replacement ? 3 : 16;
            for (int round = 0; round < 10; ++round) {
                const auto batch = buffer.sample(batch_size, 0.5, rng);
                REQUIRE(batch.size() == batch_size);
                std::size_t smallest_slot = 3;
                for (std::size_t slot : batch.slots()) {
                    smallest_slot = std::min(smallest_slot, slot);
                }
                double largest = 0.0;
                for (std::size_t k = 0; k < batch.size(); ++k) {
                    const std::size_t slot = batch.slots()[k];
                    const double weight = batch.weights()[k];
                    largest = std::max(largest, weight);
                    REQUIRE(batch.probabilities()[k] == Approx(probabilities[slot]));
                    switch (normalization) {
                    case weight_normalization::none: // (N P)^-beta
                        REQUIRE(weight == Approx(unnormalized[slot]));
                        break;
                    case weight_normalization::global_max: // over the smallest P present
                        REQUIRE(weight == Approx(std::sqrt(0.1 / probabilities[slot])));
                        REQUIRE(weight == Approx(unnormalized[slot] / unnormalized[0]));
                        break;
                    case weight_normalization::batch_max: // over the batch's largest weight
                        REQUIRE(weight == Approx(unnormalized[slot] / unnormalized[smallest_slot]));
                        break;
                    }
                }
                if (normalization == weight_normalization::batch_max) {
                    REQUIRE(largest == Approx(1.0));
                }
            }
        }
    }
}

TEST_CASE("naive: beta 0 gives unit weights, beta 1 fully compensates", "[naive]") {
    buffer_type buffer = one_to_four(replay_options{}
                                         .sampling(sampling_mode::independent)
                                         .normalization(weight_normalization::none));
    std::mt19937_64 rng(5);
    auto batch = buffer.sample(32, 0.0, rng);
    for (double weight : batch.weights()) {
        REQUIRE(weight == 1.0);
    }
    buffer.sample(32, 1.0, rng, batch);
    for (std::size_t k = 0; k < batch.size(); ++k) {
        REQUIRE(batch.weights()[k] * 4.0 * batch.probabilities()[k] == Approx(1.0));
    }
}

TEST_CASE("naive: global_max ignores weight-0 items when finding the smallest P", "[naive]") {
    buffer_type buffer(8, replay_options{}.alpha(1.0).epsilon(0.0));
    buffer.push(1, 0.0); // never sampled, and not the minimum of the normalization
    buffer.push(2, 1.0);
    buffer.push(3, 3.0);
    std::mt19937_64 rng(9);
    const auto batch = buffer.sample(16, 1.0, rng);
    for (std::size_t k = 0; k < batch.size(); ++k) {
        REQUIRE(batch.slots()[k] != 0);
        // N = 3 items present; P_min = 0.25; w = (3 P)^-1 / (3 * 0.25)^-1 = 0.25 / P.
        REQUIRE(batch.weights()[k] == Approx(0.25 / batch.probabilities()[k]));
    }
}

TEST_CASE("naive: sampling consumes the engine as documented", "[naive][rng]") {
    const std::vector<double> weights = {1.0, 2.0, 0.0, 3.0, 4.0};
    const double total = 10.0;
    auto make = [](sampling_mode mode) {
        buffer_type buffer(6, replay_options{}.alpha(1.0).epsilon(0.0).sampling(mode));
        for (double p : {1.0, 2.0, 0.0, 3.0, 4.0}) {
            buffer.push(0, p);
        }
        return buffer;
    };
    SECTION("stratified: u_k = (k + U_k) * total / B") {
        buffer_type buffer = make(sampling_mode::stratified);
        std::mt19937_64 rng(21);
        std::mt19937_64 replica(21);
        const std::size_t batch_size = 7;
        const auto batch = buffer.sample(batch_size, 0.4, rng);
        for (std::size_t k = 0; k < batch_size; ++k) {
            const double u = (static_cast<double>(k) + per::uniform_unit(replica)) * (total / 7.0);
            REQUIRE(batch.slots()[k] == first_above(weights, u));
        }
        REQUIRE(rng == replica);
    }
    SECTION("independent: u_k = U_k * total") {
        buffer_type buffer = make(sampling_mode::independent);
        std::mt19937_64 rng(22);
        std::mt19937_64 replica(22);
        const auto batch = buffer.sample(50, 0.4, rng);
        for (std::size_t k = 0; k < 50; ++k) {
            const double u = per::uniform_unit(replica) * total;
            REQUIRE(batch.slots()[k] == first_above(weights, u));
        }
        REQUIRE(rng == replica);
    }
    SECTION("without replacement: u_k = U_k * the total not drawn yet") {
        buffer_type buffer = make(sampling_mode::without_replacement);
        std::mt19937_64 rng(23);
        std::mt19937_64 replica(23);
        for (int round = 0; round < 20; ++round) {
            const auto batch = buffer.sample(4, 0.4, rng);
            std::vector<double> remaining = weights;
            for (std::size_t k = 0; k < 4; ++k) {
                double remaining_total = 0.0;
                for (double w : remaining) {
                    remaining_total += w;
                }
                const double u = per::uniform_unit(replica) * remaining_total;
                const std::size_t slot = first_above(remaining, u);
                REQUIRE(batch.slots()[k] == slot);
                REQUIRE(batch.probabilities()[k] == weights[slot] / total);
                remaining[slot] = 0.0;
            }
            REQUIRE(rng == replica);
        }
    }
}

namespace {
// An engine that always returns the same value: uniform_unit is then 0 (for min) or
// 1 - 2^-53 (for max), the extremes a real engine can produce.
struct constant_engine {
    using result_type = std::uint64_t;
    static constexpr result_type min() { return 0; }
    static constexpr result_type max() { return ~result_type{0}; }
    result_type value = 0;
    result_type operator()() const { return value; }
};
} // namespace

TEST_CASE("naive: extreme uniforms still land on live items", "[naive][rng]") {
    // Weights {0, 0, 2, 0, 3, 0, 0}: running sums {0, 0, 2, 2, 5, 5, 5}.
    auto make = [](sampling_mode mode) {
        buffer_type buffer(8, replay_options{}.alpha(1.0).epsilon(0.0).sampling(mode));
        for (double p : {0.0, 0.0, 2.0, 0.0, 3.0, 0.0, 0.0}) {
            buffer.push(0, p);
        }
        return buffer;
    };
    constant_engine lowest{0};
    constant_engine highest{~std::uint64_t{0}};
    REQUIRE(per::uniform_unit(lowest) == 0.0);
    REQUIRE(per::uniform_unit(highest) == 1.0 - 0x1.0p-53);

    // u = 0 takes the first slot whose running sum exceeds 0: slot 2, not the weight-0 slot 0.
    buffer_type independent = make(sampling_mode::independent);
    const auto from_lowest = independent.sample(3, 0.5, lowest);
    for (std::size_t slot : from_lowest.slots()) {
        REQUIRE(slot == 2);
    }
    // u just below the total: slot 4, never the weight-0 slots 5 and 6.
    const auto from_highest = independent.sample(3, 0.5, highest);
    for (std::size_t slot : from_highest.slots()) {
        REQUIRE(slot == 4);
    }
    // Stratified, B = 5: u_k = k * 5 / 5 = 0, 1, 2, 3, 4 -> 2, 2, 4, 4, 4 (a u equal to a
    // running sum belongs to the next item).
    buffer_type stratified = make(sampling_mode::stratified);
    const auto low = stratified.sample(5, 0.5, lowest);
    REQUIRE(low.slots() == std::vector<std::size_t>{2, 2, 4, 4, 4});
    // With U = 1 - 2^-53 the last u may round to the total or beyond: still slot 4.
    for (std::size_t batch_size : {1, 3, 5, 7, 11, 49}) {
        const auto high = stratified.sample(batch_size, 0.5, highest);
        REQUIRE(high.slots().back() == 4);
        for (std::size_t slot : high.slots()) {
            REQUIRE((slot == 2 || slot == 4));
        }
    }
    // Without replacement: the first draw with u = 0 is slot 2, the second (over the weights
    // {0, 0, 0, 0, 3, 0, 0} left) slot 4.
    buffer_type without = make(sampling_mode::without_replacement);
    REQUIRE(without.sample(2, 0.5, lowest).slots() == std::vector<std::size_t>{2, 4});
    REQUIRE(without.sample(2, 0.5, highest).slots() == std::vector<std::size_t>{4, 2});
}

namespace {
// The bits of each value, so that batches compare bit for bit.
std::vector<std::uint64_t> bits_of(const std::vector<double>& values) {
    std::vector<std::uint64_t> bits(values.size());
    std::memcpy(bits.data(), values.data(), values.size() * sizeof(double));
    return bits;
}

// A buffer with a history: 11 pushes into 16 slots (slots 0, 4, 8 with priority 0: weight 0),
// updates of a sampled batch. Every buffer built by it has made the same calls, drawing from
// its own engine seeded alike.
buffer_type buffer_with_history(sampling_mode mode) {
    buffer_type buffer(16, replay_options{}.sampling(mode).epsilon(0.0));
    for (int i = 0; i < 11; ++i) {
        buffer.push(i, i % 4 == 0 ? 0.0 : 0.5 * i);
    }
    std::mt19937_64 engine(77);
    const auto batch = buffer.sample(3, 0.5, engine);
    buffer.update_priorities(batch.handles(), std::vector<double>{0.75, 1.25, 2.0});
    return buffer;
}
} // namespace

TEST_CASE("naive: same seed, same batch; every draw is live with P > 0", "[naive][rng]") {
    // Two buffers with identical histories and two engines seeded alike draw the same batches,
    // bit for bit, round after round; a third with the same history and another seed draws
    // other batches.
    for (sampling_mode mode : all_modes) {
        CAPTURE(static_cast<int>(mode));
        buffer_type buffer = buffer_with_history(mode);
        buffer_type twin = buffer_with_history(mode);
        buffer_type other_buffer = buffer_with_history(mode);
        std::mt19937_64 first(99);
        std::mt19937_64 second(99);
        std::mt19937_64 other(100);
        bool differs = false;
        for (int round = 0; round < 20; ++round) {
            const auto a = buffer.sample(6, 0.7, first);
            const auto b = twin.sample(6, 0.7, second);
            REQUIRE(a.handles() == b.handles());
            REQUIRE(a.slots() == b.slots());
            REQUIRE(bits_of(a.weights()) == bits_of(b.weights()));
            REQUIRE(bits_of(a.probabilities()) == bits_of(b.probabilities()));
            differs = differs || other_buffer.sample(6, 0.7, other).slots() != a.slots();
            for (std::size_t k = 0; k < a.size(); ++k) {
                REQUIRE(a.slots()[k] < buffer.size());
                REQUIRE(a.slots()[k] % 4 != 0);
                REQUIRE(a.probabilities()[k] > 0.0);
                REQUIRE(a.handles()[k] == buffer.handle(a.slots()[k]));
                REQUIRE(&a[k] == &buffer.item(a.slots()[k]));
            }
            if (mode == sampling_mode::without_replacement) {
                const std::set<std::size_t> distinct(a.slots().begin(), a.slots().end());
                REQUIRE(distinct.size() == a.size());
            }
        }
        REQUIRE(first == second);
        REQUIRE(differs);
    }
}

TEST_CASE("naive: sample_into and the reusing sample agree with sample", "[naive]") {
    buffer_type buffer = one_to_four();
    std::mt19937_64 a(7);
    std::mt19937_64 b(7);
    std::mt19937_64 c(7);
    const auto batch = buffer.sample(5, 0.5, a);
    per::replay_batch<int> reused = buffer.sample(9, 0.5, c);
    std::mt19937_64 c2(7);
    buffer.sample(5, 0.5, c2, reused);
    std::array<per::replay_handle, 5> handles{};
    std::array<double, 5> weights{};
    std::array<double, 5> probabilities{};
    buffer.sample_into(5, 0.5, b, handles.data(), weights.data(), probabilities.data());
    REQUIRE(reused.size() == 5);
    for (std::size_t k = 0; k < 5; ++k) {
        REQUIRE(handles[k] == batch.handles()[k]);
        REQUIRE(weights[k] == batch.weights()[k]);
        REQUIRE(probabilities[k] == batch.probabilities()[k]);
        REQUIRE(reused.handles()[k] == batch.handles()[k]);
        REQUIRE(reused.slots()[k] == batch.slots()[k]);
        REQUIRE(reused[k] == batch[k]);
    }
}

TEST_CASE("naive: without replacement draws distinct sampleable items", "[naive]") {
    buffer_type buffer(
        8, replay_options{}.sampling(sampling_mode::without_replacement).epsilon(0.0).alpha(1.0));
    buffer.push(0, 1.0);
    buffer.push(1, 0.0);
    buffer.push(2, 100.0);
    buffer.push(3, 0.001);
    std::mt19937_64 rng(4);
    for (int round = 0; round < 50; ++round) {
        auto batch = buffer.sample(3, 1.0, rng); // all three sampleable items
        std::set<std::size_t> slots(batch.slots().begin(), batch.slots().end());
        REQUIRE(slots == std::set<std::size_t>{0, 2, 3});
        for (std::size_t k = 0; k < 3; ++k) {
            REQUIRE(batch.probabilities()[k] == Approx(buffer.probability(batch.slots()[k])));
        }
    }
}

TEST_CASE("naive: every bad argument throws naming it", "[naive][errors]") {
    buffer_type buffer(4, replay_options{}.epsilon(0.0));
    std::mt19937_64 rng(1);

    SECTION("sampling an empty buffer") {
        REQUIRE_THROWS_AS(buffer.sample(1, 0.5, rng), std::out_of_range);
        REQUIRE_THROWS_WITH(buffer.sample(1, 0.5, rng), PER_CONTAINS("empty"));
    }
    buffer.push(1, 1.0);
    buffer.push(2, 2.0);
    buffer.push(3, 0.0);

    SECTION("push with a bad priority") {
        REQUIRE_THROWS_AS(buffer.push(9, -1.0), std::invalid_argument);
        REQUIRE_THROWS_WITH(buffer.push(9, -1.0), PER_CONTAINS("priority = -1"));
        REQUIRE_THROWS_WITH(buffer.push(9, not_a_number), PER_CONTAINS("priority = nan"));
        REQUIRE_THROWS_WITH(buffer.push(9, infinite), PER_CONTAINS("priority = inf"));
        REQUIRE_THROWS_WITH(buffer.push(9, -infinite), PER_CONTAINS("priority = -inf"));
        const int item = 9;
        REQUIRE_THROWS_WITH(buffer.push(item, -2.5), PER_CONTAINS("priority = -2.5"));
        // A weight that would overflow the sums: (1e200)^2 > max double.
        buffer_type squares(4, replay_options{}.alpha(2.0));
        REQUIRE_THROWS_AS(squares.push(9, 1e200), std::invalid_argument);
        REQUIRE_THROWS_WITH(squares.push(9, 1e200),
                            PER_CONTAINS("priority = 1e+200") && PER_CONTAINS("overflow"));
        REQUIRE_NOTHROW(squares.push(9, 1e100));
    }
    SECTION("sample with a bad batch size or beta") {
        REQUIRE_THROWS_AS(buffer.sample(0, 0.5, rng), std::invalid_argument);
        REQUIRE_THROWS_WITH(buffer.sample(0, 0.5, rng), PER_CONTAINS("batch_size = 0"));
        REQUIRE_THROWS_AS(buffer.sample(2, 1.5, rng), std::invalid_argument);
        REQUIRE_THROWS_WITH(buffer.sample(2, 1.5, rng), PER_CONTAINS("beta = 1.5"));
        REQUIRE_THROWS_WITH(buffer.sample(2, -0.25, rng), PER_CONTAINS("beta = -0.25"));
        REQUIRE_THROWS_WITH(buffer.sample(2, not_a_number, rng), PER_CONTAINS("beta = nan"));
        per::replay_handle handles[1];
        double weights[1];
        double probabilities[1];
        REQUIRE_THROWS_WITH(buffer.sample_into(1, 2.0, rng, handles, weights, probabilities),
                            PER_CONTAINS("beta = 2"));
    }
    SECTION("sample when no item has a non-zero weight") {
        buffer_type zeros(4, replay_options{}.epsilon(0.0));
        zeros.push(1, 0.0);
        zeros.push(2, 0.0);
        REQUIRE_THROWS_AS(zeros.sample(1, 0.5, rng), std::out_of_range);
        REQUIRE_THROWS_WITH(zeros.sample(1, 0.5, rng), PER_CONTAINS("non-zero"));
    }
    SECTION("without replacement, a batch larger than the sampleable items") {
        buffer_type without(
            4, replay_options{}.epsilon(0.0).sampling(sampling_mode::without_replacement));
        without.push(1, 1.0);
        without.push(2, 0.0);
        without.push(3, 2.0);
        REQUIRE_NOTHROW(without.sample(2, 0.5, rng));
        REQUIRE_THROWS_AS(without.sample(3, 0.5, rng), std::out_of_range);
        REQUIRE_THROWS_WITH(without.sample(3, 0.5, rng), PER_CONTAINS("batch_size = 3"));
        REQUIRE_THROWS_WITH(without.sample(3, 0.5, rng), PER_CONTAINS("<= 2"));
        // With replacement the same batch size is fine.
        REQUIRE_NOTHROW(buffer.sample(30, 0.5, rng));
    }
    SECTION("update_priorities with bad handles, priorities or sizes") {
        const std::vector<per::replay_handle> handles = {buffer.handle(0), buffer.handle(1),
                                                         buffer.handle(2)};
        REQUIRE_THROWS_AS(buffer.update_priorities(handles, std::vector<double>{1.0, 2.0}),
                          std::invalid_argument);
        REQUIRE_THROWS_WITH(buffer.update_priorities(handles, std::vector<double>{1.0, 2.0}),
                            PER_CONTAINS("priorities.size() = 2") &&
                                PER_CONTAINS("handles.size() = 3"));
        const std::vector<per::replay_handle> far = {buffer.handle(0), {9, 1}};
        REQUIRE_THROWS_AS(buffer.update_priorities(far, std::vector<double>{1.0, 2.0}),
                          std::out_of_range);
        REQUIRE_THROWS_WITH(buffer.update_priorities(far, std::vector<double>{1.0, 2.0}),
                            PER_CONTAINS("slot = 9"));
        REQUIRE_THROWS_AS(
            buffer.update_priorities(handles, std::vector<double>{1.0, not_a_number, 3.0}),
            std::invalid_argument);
        REQUIRE_THROWS_WITH(
            buffer.update_priorities(handles, std::vector<double>{1.0, not_a_number, 3.0}),
            PER_CONTAINS("priorities[1] = nan"));
        REQUIRE_THROWS_WITH(buffer.update_priorities(handles, std::vector<float>{1, 2, -3}),
                            PER_CONTAINS("priorities[2] = -3"));
        REQUIRE_THROWS_WITH(buffer.update_priority(buffer.handle(0), infinite),
                            PER_CONTAINS("priorities[0] = inf"));
        REQUIRE_THROWS_AS(buffer.update_priority({4, 1}, 1.0), std::out_of_range);
    }
    SECTION("slot accessors beyond size()") {
        REQUIRE_THROWS_AS(buffer.item(3), std::out_of_range);
        REQUIRE_THROWS_WITH(buffer.item(3), PER_CONTAINS("slot = 3"));
        REQUIRE_THROWS_WITH(buffer.priority(7), PER_CONTAINS("slot = 7"));
        REQUIRE_THROWS_WITH(buffer.probability(3), PER_CONTAINS("slot = 3"));
        REQUIRE_THROWS_WITH(buffer.handle(3), PER_CONTAINS("slot = 3"));
        REQUIRE_NOTHROW(buffer.item(2));
    }
    SECTION("set_alpha") {
        REQUIRE_THROWS_AS(buffer.set_alpha(-1.0), std::invalid_argument);
        REQUIRE_THROWS_WITH(buffer.set_alpha(-1.0), PER_CONTAINS("alpha = -1"));
        REQUIRE_THROWS_WITH(buffer.set_alpha(not_a_number), PER_CONTAINS("alpha = nan"));
        REQUIRE_THROWS_WITH(buffer.set_alpha(infinite), PER_CONTAINS("alpha = inf"));
        buffer.push(4, 1e100);
        // (1e100)^4 overflows.
        REQUIRE_THROWS_WITH(buffer.set_alpha(4.0), PER_CONTAINS("alpha = 4"));
        REQUIRE_NOTHROW(buffer.set_alpha(1.0));
    }
}

TEST_CASE("naive: a throwing call leaves the buffer exactly as before", "[naive][errors]") {
    for (sampling_mode mode : all_modes) {
        CAPTURE(static_cast<int>(mode));
        buffer_type buffer(5, replay_options{}.epsilon(0.0).alpha(0.8).sampling(mode));
        for (int i = 0; i < 7; ++i) { // wrapped: next_slot 2
            buffer.push(i, 0.5 * i);
        }
        const auto stale = per::replay_handle{0, 1};
        std::mt19937_64 rng(31);
        per::replay_batch<int> batch = buffer.sample(3, 0.5, rng);
        const auto old_handles = batch.handles();
        const auto old_weights = batch.weights();
        const auto old_probabilities = batch.probabilities();
        const int* old_first = &batch[0];
        const snapshot before(buffer);

        auto require_unchanged = [&] {
            require_same(before, snapshot(buffer));
            REQUIRE(batch.handles() == old_handles);
            REQUIRE(batch.weights() == old_weights);
            REQUIRE(batch.probabilities() == old_probabilities);
            REQUIRE(&batch[0] == old_first);
        };

        REQUIRE_THROWS(buffer.push(99, -1.0));
        require_unchanged();
        REQUIRE_THROWS(buffer.push(99, not_a_number));
        require_unchanged();
        REQUIRE_THROWS(buffer.sample(0, 0.5, rng, batch));
        require_unchanged();
        REQUIRE_THROWS(buffer.sample(4, 1.01, rng, batch));
        require_unchanged();
        if (mode == sampling_mode::without_replacement) {
            REQUIRE_THROWS_AS(buffer.sample(6, 0.5, rng, batch), std::out_of_range);
            require_unchanged();
        }
        // Valid updates (one raising the max) before the bad entry must not be applied.
        const std::vector<per::replay_handle> handles = {buffer.handle(1), buffer.handle(2), stale,
                                                         buffer.handle(3)};
        REQUIRE_THROWS(
            buffer.update_priorities(handles, std::vector<double>{50.0, 0.0, 1.0, not_a_number}));
        require_unchanged();
        REQUIRE_THROWS(
            buffer.update_priorities(std::vector<per::replay_handle>{buffer.handle(1), {5, 1}},
                                     std::vector<double>{50.0, 1.0}));
        require_unchanged();
        REQUIRE_THROWS(buffer.update_priorities(handles, std::vector<double>{50.0}));
        require_unchanged();
        REQUIRE_THROWS(buffer.set_alpha(-0.1));
        require_unchanged();
        REQUIRE_THROWS(buffer.item(5));
        require_unchanged();
    }
}

TEST_CASE("naive: a generator that throws half-way changes nothing", "[naive][errors]") {
    struct throwing_engine {
        using result_type = std::uint64_t;
        static constexpr result_type min() { return 0; }
        static constexpr result_type max() { return ~result_type{0}; }
        int left = 2;
        result_type operator()() {
            if (left-- == 0) {
                throw std::runtime_error("engine failure");
            }
            return 0x9e3779b97f4a7c15ULL * static_cast<result_type>(left + 3);
        }
    };
    for (sampling_mode mode : all_modes) {
        buffer_type buffer(4, replay_options{}.sampling(mode));
        buffer.push(1, 1.0);
        buffer.push(2, 2.0);
        buffer.push(3, 3.0);
        std::mt19937_64 rng(1);
        per::replay_batch<int> batch = buffer.sample(3, 0.5, rng);
        const auto old_handles = batch.handles();
        const auto old_weights = batch.weights();
        const snapshot before(buffer);
        throwing_engine engine;
        REQUIRE_THROWS_AS(buffer.sample(3, 0.5, engine, batch), std::runtime_error);
        require_same(before, snapshot(buffer));
        REQUIRE(batch.handles() == old_handles);
        REQUIRE(batch.weights() == old_weights);
    }
}

TEST_CASE("naive: stale handles are skipped and counted", "[naive]") {
    buffer_type buffer(2, replay_options{}.alpha(1.0).epsilon(0.0));
    const auto a = buffer.push(1, 1.0);
    const auto b = buffer.push(2, 1.0);
    const auto c = buffer.push(3, 1.0); // overwrites a's slot
    REQUIRE(c.slot == a.slot);
    const std::vector<per::replay_handle> handles = {a, b, c, b};
    REQUIRE(buffer.update_priorities(handles, std::vector<double>{7.0, 2.0, 3.0, 4.0}) == 3);
    REQUIRE(buffer.priority(0) == 3.0); // c's update, not a's
    REQUIRE(buffer.priority(1) == 4.0); // the last of b's two updates wins
    REQUIRE(buffer.max_priority() == 4.0);

    // After clear, old handles stay stale, even for slots filled again.
    buffer.clear();
    REQUIRE(buffer.empty());
    REQUIRE(buffer.next_slot() == 0);
    REQUIRE_FALSE(buffer.update_priority(b, 5.0)); // slot 1 is empty now
    const auto d = buffer.push(4);
    REQUIRE(d.slot == 0);
    REQUIRE(d.generation == 3);
    REQUIRE_FALSE(buffer.update_priority(c, 5.0));
    REQUIRE(buffer.update_priority(d, 0.5));
    REQUIRE(buffer.priority(0) == 0.5);
    REQUIRE(buffer.max_priority() == 4.0);
    // A handle with a future generation is stale too.
    REQUIRE_FALSE(buffer.update_priority({0, 9}, 1.0));
}

TEST_CASE("naive: update_priorities takes any contiguous range, float or double", "[naive]") {
    buffer_type buffer(4, replay_options{}.alpha(1.0).epsilon(0.0));
    for (int i = 0; i < 4; ++i) {
        buffer.push(i, 1.0);
    }
    const std::vector<per::replay_handle> vector_handles = {buffer.handle(0), buffer.handle(1)};
    REQUIRE(buffer.update_priorities(vector_handles, std::vector<float>{0.5f, 0.25f}) == 2);
    REQUIRE(buffer.priority(0) == 0.5);
    REQUIRE(buffer.priority(1) == 0.25);

    const std::array<per::replay_handle, 2> array_handles = {buffer.handle(2), buffer.handle(3)};
    const std::array<double, 2> array_priorities = {3.0, 4.0};
    REQUIRE(buffer.update_priorities(array_handles, array_priorities) == 2);
    REQUIRE(buffer.priority(3) == 4.0);

    const per::replay_handle c_handles[] = {buffer.handle(0)};
    const float c_priorities[] = {8.0f};
    REQUIRE(buffer.update_priorities(c_handles, c_priorities) == 1);
    REQUIRE(buffer.priority(0) == 8.0);

    const float pointer_priorities[] = {1.5f, 2.5f};
    REQUIRE(buffer.update_priorities(vector_handles.data(), pointer_priorities, 2) == 2);
    REQUIRE(buffer.priority(1) == 2.5);
    const double double_priorities[] = {0.125};
    REQUIRE(buffer.update_priorities(vector_handles.data(), double_priorities, 1) == 1);
    REQUIRE(buffer.priority(0) == 0.125);
    REQUIRE(buffer.update_priorities(vector_handles.data(), double_priorities, 0) == 0);

    // A sampled batch's handles go straight back.
    std::mt19937_64 rng(2);
    const auto batch = buffer.sample(3, 0.5, rng);
    REQUIRE(buffer.update_priorities(batch.handles(), std::vector<double>(3, 1.0)) == 3);

#if __cplusplus >= 202002L
    const std::span<const per::replay_handle> span_handles(vector_handles);
    const std::vector<float> values = {6.0f, 7.0f};
    REQUIRE(buffer.update_priorities(span_handles, std::span<const float>(values)) == 2);
    REQUIRE(buffer.priority(1) == 7.0);
#endif
    const std::array<per::replay_handle, 4> all = {buffer.handle(0), buffer.handle(1),
                                                   buffer.handle(2), buffer.handle(3)};
    REQUIRE(buffer.update_priorities(all, std::array<float, 4>{6, 7, 1, 1}) == 4);
    REQUIRE(buffer.probability(0) == Approx(6.0 / 15.0));
}
