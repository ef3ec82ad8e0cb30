// per::concurrent_replay from one thread: with one shard it is prioritized_replay call for call
// (bit for bit); with S shards its handles, items, priorities, probabilities and weights follow
// the documented rules and its draws fit the proportional distribution; rate limits admit and
// refuse as rate_limit.hpp says; bad input throws, names the argument and changes nothing;
// checkpoints round-trip. The threads are in test_concurrent_stress.cpp.
#include <per/checkpoint.hpp>
#include <per/concurrent_replay.hpp>
#include <per/prioritized_replay.hpp>
#include <per/rank_based.hpp>

#include "bad_call.hpp"
#include "per_catch.hpp"
#include "stats.hpp"

#include <chrono>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <random>
#include <sstream>
#include <string>
#include <vector>

namespace {

struct item {
    std::uint64_t id = 0;
    double payload = 0.0;
};
bool operator==(const item& a, const item& b) {
    return a.id == b.id && a.payload == b.payload;
}

item make_item(std::uint64_t id) {
    return {id, 0.5 * static_cast<double>(id)};
}

using concurrent = per::concurrent_replay<item>;

per::concurrent_options with_shards(std::size_t shards) {
    return per::concurrent_options{}.shards(shards);
}

template <class Replay>
std::string checkpoint_of(const Replay& replay) {
    std::ostringstream out;
    replay.save(out);
    return out.str();
}

// The same calls on a prioritized_replay and a one-shard concurrent_replay: pushes of every
// kind, samples, updates with stale and repeated handles, set_alpha and clear. Every batch must
// be the same bit for bit, and so must every priority afterwards.
template <class Sampler>
void require_same_as_prioritized_replay(per::replay_options options) {
    constexpr std::size_t capacity = 100;
    per::prioritized_replay<item, Sampler> reference(capacity, options);
    per::concurrent_replay<item, Sampler> replay(capacity, options);
    std::mt19937_64 reference_rng(7);
    std::mt19937_64 rng(7);
    std::mt19937_64 workload(11);
    std::uniform_real_distribution<double> priority(0.0, 3.0);
    per::replay_batch<item> expected;
    per::concurrent_batch<item> actual;
    std::uint64_t next = 0;
    for (int round = 0; round < 60; ++round) {
        // Pushes: single with and without priority, a batch with and without priorities.
        const item first = make_item(next++);
        reference.push(first);
        REQUIRE(replay.push(first) == per::replay_status::ok);
        const double p = priority(workload);
        const item second = make_item(next++);
        reference.push(second, p);
        REQUIRE(replay.push(second, p) == per::replay_status::ok);
        std::vector<item> batch;
        std::vector<float> priorities;
        for (int k = 0; k < 7; ++k) {
            batch.push_back(make_item(next++));
            priorities.push_back(static_cast<float>(priority(workload)));
        }
        reference.push_batch(batch.data(), priorities.data(), batch.size());
        REQUIRE(replay.push_batch(batch.data(), priorities.data(), batch.size()) ==
                per::replay_status::ok);
        reference.push_batch(batch.data(), 3);
        REQUIRE(replay.push_batch(batch.data(), 3) == per::replay_status::ok);
        REQUIRE(replay.size() == reference.size());
        REQUIRE(replay.max_priority() == reference.max_priority());

        const std::size_t batch_size =
            options.sampling() == per::sampling_mode::without_replacement ? 8 : 32;
        reference.sample(batch_size, 0.4, reference_rng, expected);
        REQUIRE(replay.sample(batch_size, 0.4, rng, actual) == per::replay_status::ok);
        REQUIRE(actual.size() == batch_size);
        for (std::size_t k = 0; k < batch_size; ++k) {
            CAPTURE(round, k);
            REQUIRE(actual.handles()[k] == expected.handles()[k]);
            REQUIRE(actual.weights()[k] == expected.weights()[k]);
            REQUIRE(actual.probabilities()[k] == expected.probabilities()[k]);
            REQUIRE(actual[k] == expected[k]);
        }
        // New priorities for the batch, some of them stale by the next pushes.
        std::vector<double> updates(batch_size);
        for (double& u : updates) {
            u = priority(workload);
        }
        if (round % 3 == 0) {
            reference.push(make_item(next));
            REQUIRE(replay.push(make_item(next++)) == per::replay_status::ok);
        }
        REQUIRE(replay.update_priorities(actual.handles(), updates) ==
                reference.update_priorities(expected.handles(), updates));
        if (round == 20) {
            reference.set_alpha(0.9);
            replay.set_alpha(0.9);
        }
        if (round == 40) {
            reference.clear();
            replay.clear();
            reference.push(make_item(next));
            REQUIRE(replay.push(make_item(next++)) == per::replay_status::ok);
        }
        REQUIRE(replay.max_priority() == reference.max_priority());
        REQUIRE(replay.alpha() == reference.alpha());
    }
    REQUIRE(replay.size() == reference.size());
    for (std::size_t slot = 0; slot < reference.size(); ++slot) {
        REQUIRE(replay.priority(slot) == reference.priority(slot));
        REQUIRE(replay.handle(slot) == reference.handle(slot));
        REQUIRE(replay.item(slot) == reference.item(slot));
    }
    // Its checkpoint is the prioritized_replay's, byte for byte.
    REQUIRE(checkpoint_of(replay) == [&] {
        std::ostringstream out;
        per::save(out, reference);
        return out.str();
    }());
}

} // namespace

TEST_CASE("concurrent_replay with one shard is prioritized_replay call for call", "[concurrent]") {
    SECTION("stratified") {
        require_same_as_prioritized_replay<per::prioritized_sampler>(
            per::replay_options{}.alpha(0.6));
    }
    SECTION("independent, batch_max normalization") {
        require_same_as_prioritized_replay<per::prioritized_sampler>(
            per::replay_options{}
                .alpha(0.7)
                .sampling(per::sampling_mode::independent)
                .normalization(per::weight_normalization::batch_max));
    }
    SECTION("without replacement") {
        require_same_as_prioritized_replay<per::prioritized_sampler>(
            per::replay_options{}.alpha(0.5).sampling(per::sampling_mode::without_replacement));
    }
    SECTION("float sum tree") {
        require_same_as_prioritized_replay<per::basic_prioritized_sampler<per::sum_tree<float>>>(
            per::replay_options{}.alpha(0.6));
    }
    SECTION("rank-based") {
        require_same_as_prioritized_replay<per::rank_based_sampler>(
            per::replay_options{}.alpha(0.7));
    }
}

TEST_CASE("concurrent_replay refuses what it cannot do exactly", "[concurrent]") {
    using rank_replay = per::concurrent_replay<item, per::rank_based_sampler>;
    REQUIRE_THROWS_WITH(concurrent(10, {}, with_shards(0)), PER_CONTAINS("shards = 0 must be > 0"));
    REQUIRE_THROWS_WITH(concurrent(10, {}, with_shards(11)),
                        PER_CONTAINS("shards = 11 must be <= capacity = 10"));
    REQUIRE_THROWS_WITH(rank_replay(10, {}, with_shards(2)), PER_CONTAINS("rank-based"));
    REQUIRE_THROWS_WITH(
        concurrent(10, per::replay_options{}.sampling(per::sampling_mode::without_replacement),
                   with_shards(2)),
        PER_CONTAINS("without_replacement"));
    REQUIRE_THROWS_AS(concurrent(0), std::invalid_argument);
    REQUIRE_THROWS_AS(concurrent(10, per::replay_options{}.alpha(-1.0)), std::invalid_argument);
    REQUIRE(concurrent(10, {}, with_shards(10)).capacity() == 10);
}

TEST_CASE("concurrent_replay with shards: slots, handles, items and priorities", "[concurrent]") {
    constexpr std::size_t capacity = 10; // shards of 4, 3 and 3 slots
    concurrent replay(capacity, per::replay_options{}.alpha(0.6), with_shards(3));
    REQUIRE(replay.shards() == 3);
    for (std::uint64_t id = 0; id < 10; ++id) {
        REQUIRE(replay.push(make_item(id), 1.0 + static_cast<double>(id)) ==
                per::replay_status::ok);
    }
    REQUIRE(replay.size() == capacity);
    REQUIRE(replay.max_priority() == 10.0);
    // Every item is in exactly one slot, with its own priority; slot s + 3 j is shard s's j.
    std::vector<int> seen(10, 0);
    for (std::size_t slot = 0; slot < capacity; ++slot) {
        const item stored = replay.item(slot);
        ++seen.at(stored.id);
        REQUIRE(replay.priority(slot) == 1.0 + static_cast<double>(stored.id));
        REQUIRE(replay.handle(slot).slot == slot);
        const std::size_t local = slot / 3;
        REQUIRE(replay.inspect(slot % 3, [&](const concurrent::buffer_type& shard) {
            return shard.item(local) == stored;
        }));
    }
    REQUIRE(seen == std::vector<int>(10, 1));
    // Each shard got as many pushes as it has slots (the least pushed free shard first).
    for (std::size_t s = 0; s < 3; ++s) {
        REQUIRE(replay.inspect(s, [](const concurrent::buffer_type& shard) {
            return shard.size() == shard.capacity();
        }));
    }
    // Updates reach the item of the handle; stale handles are skipped; the max is buffer-wide.
    per::concurrent_batch<item> batch;
    std::mt19937_64 rng(3);
    REQUIRE(replay.sample(6, 0.5, rng, batch) == per::replay_status::ok);
    for (std::size_t k = 0; k < batch.size(); ++k) {
        REQUIRE(replay.item(batch.handles()[k].slot) == batch[k]);
    }
    const per::replay_handle kept = batch.handles()[0];
    const std::uint64_t kept_id = batch[0].id;
    std::vector<double> updates(batch.size(), 20.0);
    REQUIRE(replay.update_priorities(batch.handles(), updates) > 0);
    REQUIRE(replay.priority(kept.slot) == 20.0);
    REQUIRE(replay.max_priority() == 20.0);
    // A push without priority into any shard gets the buffer-wide max.
    REQUIRE(replay.push(make_item(100)) == per::replay_status::ok);
    bool found = false;
    for (std::size_t slot = 0; slot < capacity; ++slot) {
        if (replay.item(slot).id == 100) {
            found = true;
            REQUIRE(replay.priority(slot) == 20.0);
            if (slot == kept.slot) {
                REQUIRE(kept_id != 100);
                REQUIRE(replay.update_priorities(&kept, &updates[0], 1) == 0); // stale
            }
        }
    }
    REQUIRE(found);
    REQUIRE_THROWS_WITH(replay.inspect(3, [](const concurrent::buffer_type&) { return 0; }),
                        PER_CONTAINS("s = 3 must be < shards() = 3"));
}

TEST_CASE("concurrent_replay with shards: probabilities and weights from one thread",
          "[concurrent]") {
    // No writer runs during a sample here, so P(i) = w_i / T with T the sum of the shards'
    // totals, and the weights are (N P(i))^-beta over the largest possible one.
    constexpr std::size_t capacity = 257;
    const double alpha = 0.6;
    concurrent replay(capacity, per::replay_options{}.alpha(alpha), with_shards(4));
    std::mt19937_64 workload(5);
    std::exponential_distribution<double> priority(1.0);
    for (std::uint64_t id = 0; id < capacity; ++id) {
        REQUIRE(replay.push(make_item(id), priority(workload)) == per::replay_status::ok);
    }
    const double epsilon = replay.options().epsilon();
    double total = 0.0;
    double least = INFINITY;
    for (std::size_t slot = 0; slot < capacity; ++slot) {
        const double w = std::pow(replay.priority(slot) + epsilon, alpha);
        total += w;
        least = std::min(least, w);
    }
    std::mt19937_64 rng(9);
    per::concurrent_batch<item> batch;
    for (int round = 0; round < 20; ++round) {
        REQUIRE(replay.sample(64, 0.4, rng, batch) == per::replay_status::ok);
        for (std::size_t k = 0; k < batch.size(); ++k) {
            const double w = std::pow(replay.priority(batch.handles()[k].slot) + epsilon, alpha);
            REQUIRE(batch.probabilities()[k] == Approx(w / total).epsilon(1e-12));
            const double weight = std::pow(least / w, 0.4);
            REQUIRE(batch.weights()[k] == Approx(weight).epsilon(1e-12));
            REQUIRE(batch.weights()[k] <= 1.0);
        }
    }
}

TEST_CASE("concurrent_replay with shards draws the proportional distribution", "[concurrent]") {
    // 40 items over 3 shards; 4,000 batches of 16 (64,000 draws) per mode, chi-square at a
    // false-alarm rate of 1e-4 per check (fixed seeds: a failure is a real change). The power
    // check: the counts must not fit the uniform distribution.
    constexpr std::size_t capacity = 40;
    for (const per::sampling_mode mode :
         {per::sampling_mode::stratified, per::sampling_mode::independent}) {
        CAPTURE(static_cast<int>(mode));
        concurrent replay(capacity, per::replay_options{}.alpha(1.0).sampling(mode),
                          with_shards(3));
        for (std::uint64_t id = 0; id < capacity; ++id) {
            REQUIRE(replay.push(make_item(id), 1.0 + static_cast<double>(id % 8)) ==
                    per::replay_status::ok);
        }
        std::vector<double> expected(capacity);
        double total = 0.0;
        for (std::size_t slot = 0; slot < capacity; ++slot) {
            expected[slot] = replay.priority(slot) + replay.options().epsilon();
            total += expected[slot];
        }
        for (double& p : expected) {
            p /= total;
        }
        std::vector<double> counts(capacity, 0.0);
        std::mt19937_64 rng(21);
        per::concurrent_batch<item> batch;
        for (int b = 0; b < 4000; ++b) {
            REQUIRE(replay.sample(16, 0.5, rng, batch) == per::replay_status::ok);
            for (const per::replay_handle& handle : batch.handles()) {
                counts.at(handle.slot) += 1.0;
            }
        }
        const std::vector<double> uniform(capacity, 1.0 / capacity);
        per_test::require_right_not_wrong(counts, expected, uniform, 1e-4, 2.0);
    }
}

TEST_CASE("concurrent_replay: pushes stay balanced over the shards", "[concurrent]") {
    // From one thread every shard is free, so each push goes to the least pushed shard.
    concurrent replay(1000, {}, with_shards(4));
    for (std::uint64_t id = 0; id < 3001; ++id) {
        REQUIRE(replay.push(make_item(id), 1.0) == per::replay_status::ok);
    }
    std::vector<item> batch(7, make_item(5000));
    for (int k = 0; k < 9; ++k) {
        REQUIRE(replay.push_batch(batch.data(), batch.size()) == per::replay_status::ok);
    }
    REQUIRE(replay.size() == 1000);
    // 3001 + 63 = 3064 pushes: 766 per shard (each a whole batch at a time: 7 apart at most).
    for (std::size_t s = 0; s < 4; ++s) {
        REQUIRE(replay.inspect(
                    s, [](const concurrent::buffer_type& shard) { return shard.size(); }) == 250);
    }
}

TEST_CASE("concurrent_replay: bad input throws, names the argument and changes nothing",
          "[concurrent]") {
    for (const std::size_t shards : {std::size_t{1}, std::size_t{3}}) {
        CAPTURE(shards);
        concurrent replay(50, per::replay_options{}.alpha(2.0), // a finite priority_limit()
                          with_shards(shards).limit(per::rate_limit(1.0, 1, -100.0, 100.0)));
        for (std::uint64_t id = 0; id < 30; ++id) {
            REQUIRE(replay.push(make_item(id), 0.5) == per::replay_status::ok);
        }
        std::mt19937_64 rng(1);
        per::concurrent_batch<item> batch;
        REQUIRE(replay.sample(8, 0.4, rng, batch) == per::replay_status::ok);
        const std::string before = checkpoint_of(replay);
        const per::rate_counters counts = replay.rate_counts();
        const item one = make_item(99);
        std::vector<item> items(3, one);
        const std::vector<double> bad_priorities = {1.0, -2.0, 1.0};
        std::vector<per::replay_handle> handles = batch.handles();
        handles[2].slot = 50;
        const std::vector<double> fine(handles.size(), 1.0);
        std::vector<double> nan_priorities(handles.size(), 1.0);
        nan_priorities[3] = NAN;
        std::vector<item> too_many(201, one);
        const double above_limit = std::nextafter(replay.priority_limit(), INFINITY);
        REQUIRE(std::isfinite(above_limit));
        per_test::require_bad_calls(
            {
                {[&] { replay.push(one, -1.0); }, false,
                 "per::concurrent_replay::push: priority = -1 must be finite and >= 0"},
                {[&] { replay.push(one, INFINITY); }, false, "priority = inf"},
                {[&] { replay.push(one, above_limit); }, false, "priority_limit()"},
                {[&] { replay.push_batch(items.data(), bad_priorities.data(), 3); }, false,
                 "per::concurrent_replay::push_batch: priorities[1] = -2"},
                {[&] { replay.push_batch(items, std::vector<double>(2, 1.0)); }, false,
                 "priorities.size() = 2 must equal items.size() = 3"},
                {[&] { replay.push_batch(too_many.data(), too_many.size()); }, false,
                 "count = 201 can never be admitted"},
                {[&] { replay.push_batch(too_many); }, false,
                 "push_batch: items.size() = 201 can never be admitted in the steady state (see "
                 "rate_limit): items.size() * samples_per_insert must be <= max_diff - "
                 "min_diff = 200"},
                {[&] { replay.push_batch(too_many, std::vector<float>(201, 1.0f)); }, false,
                 "items.size() = 201 can never be admitted"},
                {[&] { replay.sample(0, 0.4, rng, batch); }, false,
                 "per::concurrent_replay::sample: batch_size = 0 must be > 0"},
                {[&] { replay.sample(8, 1.5, rng, batch); }, false, "beta = 1.5"},
                {[&] { replay.sample(8, NAN, rng, batch); }, false, "beta = nan"},
                {[&] { replay.sample(201, 0.4, rng, batch); }, false,
                 "batch_size = 201 can never be admitted"},
                {[&] { replay.update_priorities(handles, fine); }, true,
                 "per::concurrent_replay::update_priorities: handles[2].slot = 50 must be < "
                 "capacity() = 50"},
                {[&] { replay.update_priorities(batch.handles(), nan_priorities); }, false,
                 "priorities[3] = nan"},
                {[&] { replay.update_priorities(batch.handles(), std::vector<double>(3)); }, false,
                 "priorities.size() = 3 must equal handles.size() = 8"},
                {[&] { replay.item(50); }, true, "per::concurrent_replay::item: slot = 50"},
                {[&] { replay.priority(77); }, true, "slot = 77 must be < capacity() = 50"},
                {[&] { replay.set_alpha(-0.5); }, false, "alpha = -0.5"},
            },
            [&] {
                REQUIRE(checkpoint_of(replay) == before);
                const per::rate_counters now = replay.rate_counts();
                REQUIRE(now.inserts_admitted == counts.inserts_admitted);
                REQUIRE(now.inserts_completed == counts.inserts_completed);
                REQUIRE(now.samples_admitted == counts.samples_admitted);
                REQUIRE(now.samples_completed == counts.samples_completed);
            });
    }
    // A band narrower than one insert's samples: no push can ever be admitted past the fill-up,
    // and the error says it is the limit, not the call.
    concurrent narrow(10, per::replay_options{},
                      with_shards(1).limit(per::rate_limit(4.0, 1, -1.0, 2.0)));
    per_test::require_bad_calls(
        {{[&] { narrow.push(make_item(1)); }, false,
          "per::concurrent_replay::push: limit().samples_per_insert() = 4 must be <= max_diff - "
          "min_diff = 3: no insert can be admitted in the steady state (see rate_limit)"},
         {[&] { narrow.push(make_item(1), 1.0); }, false, "limit().samples_per_insert() = 4"}},
        [&] {
            REQUIRE(narrow.size() == 0);
            REQUIRE(narrow.rate_counts().inserts_admitted == 0);
        });
    // Nothing to sample: the buffer and the limiter's counts are as before.
    concurrent empty(10, per::replay_options{}.epsilon(0.0),
                     with_shards(2).limit(per::rate_limit::min_size(1)));
    REQUIRE(empty.push(make_item(1), 0.0) == per::replay_status::ok);
    std::mt19937_64 rng(2);
    per::concurrent_batch<item> batch;
    REQUIRE_THROWS_WITH(empty.sample(4, 0.5, rng, batch), PER_CONTAINS("nothing to sample"));
    REQUIRE(empty.rate_counts().samples_admitted == 0);
}

TEST_CASE("concurrent_replay: rate limits admit, refuse and time out as documented",
          "[concurrent]") {
    using namespace std::chrono_literals;
    std::mt19937_64 rng(4);
    per::concurrent_batch<item> batch;
    SECTION("min_size") {
        concurrent replay(100, {}, per::concurrent_options{}.limit(per::rate_limit::min_size(10)));
        for (std::uint64_t id = 0; id < 9; ++id) {
            REQUIRE(replay.push(make_item(id)) == per::replay_status::ok);
        }
        REQUIRE(replay.sample(4, 0.5, rng, batch, 0ns) == per::replay_status::timed_out);
        const auto start = std::chrono::steady_clock::now();
        REQUIRE(replay.sample(4, 0.5, rng, batch, 20ms) == per::replay_status::timed_out);
        REQUIRE(std::chrono::steady_clock::now() - start >= 20ms);
        REQUIRE(batch.empty()); // unchanged
        REQUIRE(replay.push(make_item(9)) == per::replay_status::ok);
        REQUIRE(replay.sample(4, 0.5, rng, batch, 0ns) == per::replay_status::ok);
        const per::rate_counters counts = replay.rate_counts();
        REQUIRE(counts.inserts_completed == 10);
        REQUIRE(counts.samples_completed == 4);
    }
    SECTION("samples per insert with a tolerance") {
        // 2 samples per insert after 4 inserts, diff within 8 +- 6: samples may run 6 ahead of
        // 2 per insert, inserts 6 ahead.
        const per::rate_limit limit = per::rate_limit::sample_to_insert_ratio(2.0, 4, 6.0);
        REQUIRE(limit.min_diff() == 2.0);
        REQUIRE(limit.max_diff() == 14.0);
        concurrent replay(100, {}, per::concurrent_options{}.limit(limit));
        for (std::uint64_t id = 0; id < 4; ++id) { // free below min size
            REQUIRE(replay.push(make_item(id), 0ns) == per::replay_status::ok);
        }
        // diff = 8: a sample of 6 leaves 2 (admitted), then 1 more would leave 1 (refused).
        REQUIRE(replay.sample(6, 0.5, rng, batch, 0ns) == per::replay_status::ok);
        REQUIRE(replay.sample(1, 0.5, rng, batch, 0ns) == per::replay_status::timed_out);
        // diff = 2: inserts up to diff 14, i.e. 6 more items; a 7th waits.
        std::vector<item> six(6, make_item(50));
        REQUIRE(replay.push_batch(six.data(), six.size(), 0ns) == per::replay_status::ok);
        REQUIRE(replay.push(make_item(60), 0ns) == per::replay_status::timed_out);
        REQUIRE(replay.size() == 10);
        REQUIRE(replay.sample(12, 0.5, rng, batch, 0ns) == per::replay_status::ok);
        REQUIRE(replay.push(make_item(60), 0ns) == per::replay_status::ok);
        const per::rate_counters counts = replay.rate_counts();
        REQUIRE(counts.inserts_admitted == 11);
        REQUIRE(counts.inserts_completed == 11);
        REQUIRE(counts.samples_admitted == 18);
        REQUIRE(counts.samples_completed == 18);
        // clear() restarts the counts: below min size again.
        replay.clear();
        REQUIRE(replay.rate_counts().inserts_admitted == 0);
        REQUIRE(replay.sample(1, 0.5, rng, batch, 0ns) == per::replay_status::timed_out);
    }
    SECTION("a ratio that is not a binary fraction means what it says") {
        // samples_per_insert = 1.0 / 3 (a little below 1/3 as a double) and samples never ahead
        // (min_diff 0): every third insert admits exactly one more sample, for 30,000 inserts.
        concurrent replay(64, {},
                          per::concurrent_options{}.limit(per::rate_limit(1.0 / 3, 1, 0.0, 2.0)));
        for (int round = 0; round < 10000; ++round) {
            for (int insert = 0; insert < 3; ++insert) {
                REQUIRE(replay.sample(1, 0.5, rng, batch, 0ns) == per::replay_status::timed_out);
                REQUIRE(replay.push(make_item(1), 0ns) == per::replay_status::ok);
            }
            REQUIRE(replay.sample(1, 0.5, rng, batch, 0ns) == per::replay_status::ok);
        }
        REQUIRE(replay.rate_counts().samples_completed == 10000);
    }
    SECTION("close") {
        concurrent replay(100, {}, per::concurrent_options{}.limit(per::rate_limit::min_size(5)));
        REQUIRE(replay.push(make_item(1)) == per::replay_status::ok);
        REQUIRE_FALSE(replay.closed());
        replay.close();
        REQUIRE(replay.closed());
        REQUIRE(replay.sample(1, 0.5, rng, batch) == per::replay_status::closed);
        REQUIRE(replay.push(make_item(2)) == per::replay_status::closed);
        REQUIRE(replay.size() == 1);
        // Updates, observers and checkpoints keep working.
        const per::replay_handle handle = replay.handle(0);
        REQUIRE(replay.update_priorities(&handle, std::vector<double>{3.0}.data(), 1) == 1);
        REQUIRE(replay.priority(0) == 3.0);
        REQUIRE_FALSE(checkpoint_of(replay).empty());
        // Without a limit too.
        concurrent unlimited(10);
        unlimited.close();
        REQUIRE(unlimited.push(make_item(1)) == per::replay_status::closed);
        REQUIRE(unlimited.empty());
    }
    SECTION("bad limits") {
        REQUIRE_THROWS_WITH(per::rate_limit::min_size(0),
                            PER_CONTAINS("min_size_to_sample = 0 must be > 0"));
        REQUIRE_THROWS_WITH(per::rate_limit::sample_to_insert_ratio(0.0, 1, 1.0),
                            PER_CONTAINS("samples_per_insert = 0"));
        REQUIRE_THROWS_WITH(per::rate_limit::sample_to_insert_ratio(1.0, 1, -1.0),
                            PER_CONTAINS("error_buffer = -1"));
        REQUIRE_THROWS_WITH(per::rate_limit(1.0, 1, 5.0, 4.0),
                            PER_CONTAINS("min_diff = 5 must be <= max_diff = 4"));
        REQUIRE_THROWS_WITH(per::rate_limit(1.0, 1, NAN, 4.0), PER_CONTAINS("min_diff = nan"));
        // A band with no width (max_diff - min_diff would be NaN or -inf): refused up front,
        // not on every later push (found by a review).
        const double inf = std::numeric_limits<double>::infinity();
        REQUIRE_THROWS_WITH(per::rate_limit(1.0, 1, inf, inf),
                            "per::rate_limit: min_diff = inf must be < infinity: no sample could "
                            "be admitted");
        REQUIRE_THROWS_WITH(per::rate_limit(1.0, 1, -inf, -inf),
                            PER_CONTAINS("max_diff = -inf must be > -infinity"));
        REQUIRE_NOTHROW(per::rate_limit(1.0, 1, -inf, inf));
        REQUIRE_FALSE(per::rate_limit::none().limited());
    }
}

TEST_CASE("concurrent_replay: checkpoints round-trip and refuse another layout", "[concurrent]") {
    for (const std::size_t shards : {std::size_t{1}, std::size_t{2}, std::size_t{3}}) {
        CAPTURE(shards);
        concurrent replay(31, per::replay_options{}.alpha(0.8), with_shards(shards));
        std::mt19937_64 workload(8);
        std::uniform_real_distribution<double> priority(0.0, 2.0);
        for (std::uint64_t id = 0; id < 45; ++id) {
            REQUIRE(replay.push(make_item(id), priority(workload)) == per::replay_status::ok);
        }
        const std::string saved = checkpoint_of(replay);
        concurrent copy(5, {}, with_shards(shards).limit(per::rate_limit::min_size(3)));
        std::istringstream in(saved);
        copy.load(in);
        REQUIRE(copy.capacity() == 31);
        REQUIRE(copy.size() == 31);
        REQUIRE(copy.alpha() == 0.8);
        REQUIRE(copy.max_priority() == replay.max_priority());
        REQUIRE(checkpoint_of(copy) == saved);
        REQUIRE(copy.rate_counts().inserts_completed == 31); // as if just inserted
        // The same draws from the same engine state.
        std::mt19937_64 a(3);
        std::mt19937_64 b(3);
        per::concurrent_batch<item> from_original;
        per::concurrent_batch<item> from_copy;
        REQUIRE(replay.sample(16, 0.5, a, from_original) == per::replay_status::ok);
        REQUIRE(copy.sample(16, 0.5, b, from_copy) == per::replay_status::ok);
        REQUIRE(from_original.handles() == from_copy.handles());
        REQUIRE(from_original.weights() == from_copy.weights());
        REQUIRE(from_original.items() == from_copy.items());
        // Another shard count: refused (too few checkpoints, or a split that does not match),
        // and nothing changes.
        concurrent other(7, {}, with_shards(shards + 1));
        const std::string other_before = checkpoint_of(other);
        std::istringstream again(saved);
        REQUIRE_THROWS_AS(other.load(again), per::checkpoint_error);
        REQUIRE(checkpoint_of(other) == other_before);
    }
    // One shard writes a plain prioritized_replay checkpoint.
    concurrent replay(20);
    for (std::uint64_t id = 0; id < 12; ++id) {
        REQUIRE(replay.push(make_item(id), 1.0 + static_cast<double>(id)) ==
                per::replay_status::ok);
    }
    std::istringstream in(checkpoint_of(replay));
    per::prioritized_replay<item> plain(1);
    per::load(in, plain);
    REQUIRE(plain.size() == 12);
    for (std::size_t slot = 0; slot < 12; ++slot) {
        REQUIRE(plain.item(slot) == replay.item(slot));
        REQUIRE(plain.priority(slot) == replay.priority(slot));
    }
}

TEST_CASE("concurrent_replay: what a review found, each fixed", "[concurrent]") {
    SECTION("a sharded buffer refuses a checkpoint that samples without replacement") {
        // Two one-shard checkpoints side by side are what two shards save: the constructor
        // refuses this mode with shards, and so must load.
        const auto options =
            per::replay_options{}.sampling(per::sampling_mode::without_replacement);
        std::string saved;
        for (int s = 0; s < 2; ++s) {
            concurrent part(4, options);
            for (std::uint64_t id = 0; id < 4; ++id) {
                REQUIRE(part.push(make_item(id)) == per::replay_status::ok);
            }
            saved += checkpoint_of(part);
        }
        concurrent target(8, {}, with_shards(2));
        REQUIRE(target.push(make_item(99)) == per::replay_status::ok);
        const std::string before = checkpoint_of(target);
        std::istringstream in(saved);
        REQUIRE_THROWS_AS(target.load(in), per::checkpoint_error);
        std::istringstream again(saved);
        REQUIRE_THROWS_WITH(target.load(again),
                            PER_CONTAINS("per::concurrent_replay::load: "
                                         "sampling_mode::without_replacement with 2 shards"));
        REQUIRE(checkpoint_of(target) == before);
        REQUIRE(target.options().sampling() == per::sampling_mode::stratified);
    }
    SECTION("one shard, without replacement: a batch above sampleable_size() names sample") {
        concurrent replay(4,
                          per::replay_options{}.sampling(per::sampling_mode::without_replacement));
        REQUIRE(replay.push(make_item(1)) == per::replay_status::ok);
        std::mt19937_64 engine(1);
        per::concurrent_batch<item> batch;
        REQUIRE_THROWS_WITH(replay.sample(2, 0.5, engine, batch),
                            "per::concurrent_replay::sample: batch_size = 2 must be <= "
                            "sampleable_size() = 1 when sampling without replacement");
        REQUIRE(replay.rate_counts().samples_admitted == 0);
    }
    SECTION("push_batch of a range takes any duration as its timeout") {
        concurrent replay(8);
        const std::vector<item> items{make_item(1), make_item(2)};
        REQUIRE(replay.push_batch(items, std::chrono::milliseconds(5)) == per::replay_status::ok);
        REQUIRE(replay.push_batch(items, std::chrono::seconds(1)) == per::replay_status::ok);
        REQUIRE(replay.size() == 4);
    }
    SECTION("a load restarts the counts without an undefined cast for huge ratios") {
        // samples implied = 1000 * 1e20 - target: far above 2^64, where the cast to an integer
        // is undefined (UBSan's float-cast-overflow); the count saturates at 2^63 instead.
        concurrent source(1000);
        for (std::uint64_t id = 0; id < 1000; ++id) {
            REQUIRE(source.push(make_item(id)) == per::replay_status::ok);
        }
        const auto limit = per::rate_limit::sample_to_insert_ratio(1e20, 1, 1e30);
        concurrent target(1000, {}, per::concurrent_options{}.limit(limit));
        std::istringstream in(checkpoint_of(source));
        target.load(in);
        REQUIRE(target.rate_counts().inserts_completed == 1000);
        REQUIRE(target.rate_counts().samples_completed == std::uint64_t{1} << 63);
        REQUIRE(target.rate_counts().samples_admitted == std::uint64_t{1} << 63);
    }
}
