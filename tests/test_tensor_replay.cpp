// per::torch::tensor_replay against per::prioritized_replay<Row> holding the same rows as plain
// structs: the same slots, weights and probabilities from the same engine, every gathered
// tensor row equal to the pushed row; updates from a tensor equal updates from a vector; the
// ring wrapping; push_batch equal to single pushes; bad input throwing and changing nothing.
#include <per/prioritized_replay.hpp>
#include <per/rank_based.hpp>
#include <per/rank_based_sampler.hpp>
#include <per/torch/tensor_replay.hpp>

#include "per_catch.hpp"
#include "state_snapshot.hpp"

#include <array>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

namespace {

// The plain row the reference buffer stores: an observation [2][3], an action, a reward.
struct Row {
    std::array<float, 6> observation{};
    std::int64_t action = 0;
    float reward = 0.0f;
};

std::vector<per::torch::column_spec> row_columns() {
    return {{"observation", {2, 3}, ::torch::kFloat32},
            {"action", {}, ::torch::kInt64},
            {"reward", {}, ::torch::kFloat32}};
}

Row random_row(std::mt19937_64& rng) {
    Row row;
    std::uniform_real_distribution<float> value(-1.0f, 1.0f);
    for (float& element : row.observation) {
        element = value(rng);
    }
    row.action = std::uniform_int_distribution<std::int64_t>(0, 5)(rng);
    row.reward = value(rng);
    return row;
}

per::torch::tensor_row as_tensors(const Row& row) {
    return {::torch::tensor(std::vector<float>(row.observation.begin(), row.observation.end()))
                .reshape({2, 3}),
            ::torch::tensor(row.action, ::torch::kInt64),
            ::torch::tensor(row.reward, ::torch::kFloat32)};
}

// B rows as one tensor per column, [B, shape...].
per::torch::tensor_row as_batch(const std::vector<Row>& rows) {
    std::vector<::torch::Tensor> observations, actions, rewards;
    for (const Row& row : rows) {
        const per::torch::tensor_row tensors = as_tensors(row);
        observations.push_back(tensors[0]);
        actions.push_back(tensors[1]);
        rewards.push_back(tensors[2]);
    }
    return {::torch::stack(observations), ::torch::stack(actions), ::torch::stack(rewards)};
}

// Whether the b-th row of each gathered column equals `row`, exactly.
bool row_equals(const per::torch::tensor_batch& batch, std::size_t b, const Row& row) {
    const per::torch::tensor_row expected = as_tensors(row);
    const auto k = static_cast<std::int64_t>(b);
    return ::torch::equal(batch["observation"][k], expected[0]) &&
           ::torch::equal(batch["action"][k], expected[1]) &&
           ::torch::equal(batch["reward"][k], expected[2]);
}

template <class Sampler>
std::vector<::torch::Tensor> storage_copy(const per::torch::tensor_replay<Sampler>& replay) {
    std::vector<::torch::Tensor> copy;
    for (const ::torch::Tensor& column : replay.storage()) {
        copy.push_back(column.clone());
    }
    return copy;
}

template <class Sampler>
bool same_storage(const per::torch::tensor_replay<Sampler>& replay,
                  const std::vector<::torch::Tensor>& storage) {
    for (std::size_t c = 0; c < storage.size(); ++c) {
        if (!::torch::equal(replay.storage()[c], storage[c])) {
            return false;
        }
    }
    return true;
}

bool same_state(const per::sampler_state& a, const per::sampler_state& b) {
    return a.max_priority == b.max_priority && a.generations == b.generations &&
           a.filled == b.filled && a.priorities == b.priorities && a.fill_count == b.fill_count &&
           a.fill_stamps == b.fill_stamps;
}

// Draws from both with engines of the same seed and checks slots, weights, probabilities and
// every gathered row against the reference's item.
void check_same_batches(per::torch::tensor_replay<>& replay, per::prioritized_replay<Row>& ref,
                        std::size_t batch_size, double beta, std::uint64_t seed) {
    std::mt19937_64 a(seed), b(seed);
    const per::torch::tensor_batch batch = replay.sample(batch_size, beta, a);
    const per::replay_batch<Row> expected = ref.sample(batch_size, beta, b);
    REQUIRE(batch.size() == batch_size);
    REQUIRE(batch.slots() == expected.slots());
    REQUIRE((batch.handles() == expected.handles()));
    REQUIRE(batch.probabilities() == expected.probabilities());
    REQUIRE(batch.draws().weights() == expected.weights());
    REQUIRE(batch.weights().scalar_type() == ::torch::kFloat32);
    REQUIRE(batch.weights().sizes() == ::torch::IntArrayRef{static_cast<std::int64_t>(batch_size)});
    const ::torch::Tensor weights =
        ::torch::tensor(expected.weights(), ::torch::kFloat64).to(::torch::kFloat32);
    REQUIRE(::torch::equal(batch.weights(), weights));
    REQUIRE(batch.indices().scalar_type() == ::torch::kInt64);
    REQUIRE(batch["observation"].sizes() ==
            ::torch::IntArrayRef{static_cast<std::int64_t>(batch_size), 2, 3});
    REQUIRE(batch["action"].scalar_type() == ::torch::kInt64);
    for (std::size_t k = 0; k < batch_size; ++k) {
        REQUIRE(batch.indices()[static_cast<std::int64_t>(k)].item<std::int64_t>() ==
                static_cast<std::int64_t>(batch.slots()[k]));
        REQUIRE(row_equals(batch, k, expected[k]));
    }
}

} // namespace

TEST_CASE("tensor_replay: construction, observers and memory", "[tensor_replay]") {
    per::torch::tensor_replay<> replay(10, row_columns());
    CHECK(replay.capacity() == 10);
    CHECK(replay.size() == 0);
    CHECK(replay.empty());
    CHECK(replay.columns().size() == 3);
    CHECK(replay.columns()[0].name == "observation");
    CHECK(replay.device() == ::torch::Device(::torch::kCPU));
    CHECK(replay.storage("observation").sizes() == ::torch::IntArrayRef{10, 2, 3});
    CHECK(replay.storage("action").sizes() == ::torch::IntArrayRef{10});
    CHECK(replay.storage("action").scalar_type() == ::torch::kInt64);
    CHECK(replay.memory_bytes() == 10 * (6 * 4 + 8 + 4) + replay.sampler().memory_bytes());

    REQUIRE_THROWS_WITH(per::torch::tensor_replay<>(0, row_columns()),
                        PER_CONTAINS("capacity = 0 must be > 0"));
    REQUIRE_THROWS_WITH(per::torch::tensor_replay<>(4, {}), PER_CONTAINS("columns.size() = 0"));
    REQUIRE_THROWS_WITH(
        per::torch::tensor_replay<>(4, {{"a", {}, ::torch::kFloat32}, {"a", {2}, ::torch::kInt64}}),
        PER_CONTAINS("columns[1].name = 'a' must be unique"));
    REQUIRE_THROWS_WITH(per::torch::tensor_replay<>(4, {{"", {}, ::torch::kFloat32}}),
                        PER_CONTAINS("columns[0].name = '' must not be empty"));
    REQUIRE_THROWS_WITH(per::torch::tensor_replay<>(4, {{"a", {2, -1}, ::torch::kFloat32}}),
                        PER_CONTAINS("columns[0].shape = [2, -1]"));
    REQUIRE_THROWS_AS(
        per::torch::tensor_replay<>(4, row_columns(), per::replay_options{}.alpha(-1.0)),
        std::invalid_argument);
    if (!::torch::cuda::is_available()) {
        REQUIRE_THROWS_WITH(
            per::torch::tensor_replay<>(4, row_columns(), {}, ::torch::Device(::torch::kCUDA, 0)),
            PER_CONTAINS("device = cuda:0 is a CUDA device"));
    }
}

TEST_CASE("tensor_replay: same batches as prioritized_replay with the same rows",
          "[tensor_replay]") {
    for (const per::sampling_mode mode :
         {per::sampling_mode::stratified, per::sampling_mode::independent,
          per::sampling_mode::without_replacement}) {
        const per::replay_options options = per::replay_options{}.alpha(0.6).sampling(mode);
        per::torch::tensor_replay<> replay(64, row_columns(), options);
        per::prioritized_replay<Row> ref(64, options);
        std::mt19937_64 rng(7);
        std::uniform_real_distribution<double> priority(0.0, 3.0);
        for (int t = 0; t < 40; ++t) {
            const Row row = random_row(rng);
            if (t % 3 == 0) {
                REQUIRE(replay.push(as_tensors(row)) == ref.push(row));
            } else {
                const double p = priority(rng);
                REQUIRE(replay.push(as_tensors(row), p) == ref.push(row, p));
            }
        }
        REQUIRE(replay.size() == ref.size());
        REQUIRE(replay.max_priority() == ref.max_priority());
        for (std::uint64_t seed = 0; seed < 5; ++seed) {
            check_same_batches(replay, ref, 16, 0.4 + 0.1 * static_cast<double>(seed), seed);
        }

        // Updates from a tensor equal updates from a vector.
        std::mt19937_64 engine(11);
        const per::torch::tensor_batch batch = replay.sample(16, 0.5, engine);
        std::vector<double> td(16);
        for (double& value : td) {
            value = priority(rng);
        }
        ::torch::Tensor td_tensor = ::torch::tensor(td, ::torch::kFloat64);
        per::torch::tensor_replay<> by_vector = replay;
        REQUIRE(replay.update_priorities(batch.handles(), td_tensor) ==
                by_vector.update_priorities(batch.handles(), td));
        REQUIRE(ref.update_priorities(batch.handles(), td) > 0);
        REQUIRE(same_state(replay.sampler().export_state(), by_vector.sampler().export_state()));
        REQUIRE(per_test::state(replay.sampler()) == per_test::state(by_vector.sampler()));
        check_same_batches(replay, ref, 16, 1.0, 99);
    }
}

TEST_CASE("tensor_replay: update_priorities from float, requires_grad and strided tensors",
          "[tensor_replay]") {
    per::torch::tensor_replay<> replay(8, row_columns());
    std::mt19937_64 rng(3);
    for (int t = 0; t < 8; ++t) {
        replay.push(as_tensors(random_row(rng)));
    }
    const per::torch::tensor_batch batch = replay.sample(4, 0.5, rng);
    // A float32 tensor that requires grad, read through a stride-2 view.
    ::torch::Tensor wide =
        ::torch::tensor({0.5f, 9.0f, 1.25f, 9.0f, 2.0f, 9.0f, 0.75f, 9.0f}).requires_grad_(true);
    ::torch::Tensor td = wide.slice(0, 0, 8, 2);
    per::torch::tensor_replay<> by_vector = replay;
    replay.update_priorities(batch.handles(), td);
    by_vector.update_priorities(batch.handles(), std::vector<double>{0.5, 1.25, 2.0, 0.75});
    REQUIRE(same_state(replay.sampler().export_state(), by_vector.sampler().export_state()));
}

TEST_CASE("tensor_replay: the ring wraps as prioritized_replay's", "[tensor_replay]") {
    const std::size_t capacity = 16;
    per::torch::tensor_replay<> replay(capacity, row_columns(), per::replay_options{}.alpha(0.7));
    per::prioritized_replay<Row> ref(capacity, per::replay_options{}.alpha(0.7));
    std::mt19937_64 rng(5);
    std::vector<Row> pushed;
    for (std::size_t t = 0; t < 3 * capacity; ++t) {
        const Row row = random_row(rng);
        pushed.push_back(row);
        const double p = 0.1 + static_cast<double>(t % 5);
        REQUIRE(replay.push(as_tensors(row), p) == ref.push(row, p));
        REQUIRE(replay.next_slot() == ref.next_slot());
        REQUIRE(replay.size() == std::min(t + 1, capacity));
    }
    // Slot s holds the last row pushed there: push number 2 * capacity + s.
    for (std::size_t slot = 0; slot < capacity; ++slot) {
        const per::torch::tensor_row expected = as_tensors(pushed[2 * capacity + slot]);
        const auto s = static_cast<std::int64_t>(slot);
        REQUIRE(::torch::equal(replay.storage("observation")[s], expected[0]));
        REQUIRE(::torch::equal(replay.storage("action")[s], expected[1]));
        REQUIRE(::torch::equal(replay.storage("reward")[s], expected[2]));
    }
    for (std::uint64_t seed = 0; seed < 5; ++seed) {
        check_same_batches(replay, ref, 32, 0.5, seed);
    }
}

TEST_CASE("tensor_replay: push_batch equals single pushes", "[tensor_replay]") {
    const std::size_t capacity = 10;
    std::mt19937_64 rng(9);
    // Batch sizes that fit, that wrap around the ring, and that exceed the capacity.
    for (const std::size_t count :
         {std::size_t{0}, std::size_t{3}, std::size_t{7}, std::size_t{10}, std::size_t{23}}) {
        for (const bool with_priorities : {false, true}) {
            per::torch::tensor_replay<> batched(capacity, row_columns());
            per::torch::tensor_replay<> single(capacity, row_columns());
            // Start mid-ring so that a batch wraps.
            for (int t = 0; t < 6; ++t) {
                const Row row = random_row(rng);
                batched.push(as_tensors(row));
                single.push(as_tensors(row));
            }
            std::vector<Row> rows;
            std::vector<double> priorities;
            for (std::size_t b = 0; b < count; ++b) {
                rows.push_back(random_row(rng));
                priorities.push_back(0.25 * static_cast<double>(b % 7));
            }
            std::vector<per::replay_handle> handles, expected;
            if (with_priorities) {
                handles = count == 0 ? batched.push_batch({::torch::zeros({0, 2, 3}),
                                                           ::torch::zeros({0}, ::torch::kInt64),
                                                           ::torch::zeros({0})},
                                                          priorities)
                                     : batched.push_batch(as_batch(rows), priorities);
            } else {
                handles = count == 0 ? batched.push_batch({::torch::zeros({0, 2, 3}),
                                                           ::torch::zeros({0}, ::torch::kInt64),
                                                           ::torch::zeros({0})})
                                     : batched.push_batch(as_batch(rows));
            }
            for (std::size_t b = 0; b < count; ++b) {
                expected.push_back(with_priorities ? single.push(as_tensors(rows[b]), priorities[b])
                                                   : single.push(as_tensors(rows[b])));
            }
            REQUIRE((handles == expected));
            REQUIRE(batched.next_slot() == single.next_slot());
            REQUIRE(same_storage(batched, single.storage()));
            REQUIRE(same_state(batched.sampler().export_state(), single.sampler().export_state()));
            REQUIRE(per_test::state(batched.sampler()) == per_test::state(single.sampler()));
        }
    }
}

TEST_CASE("tensor_replay: named rows, dtype conversion and the braced forms", "[tensor_replay]") {
    per::torch::tensor_replay<> named(4, row_columns());
    per::torch::tensor_replay<> ordered(4, row_columns());
    std::mt19937_64 rng(1);
    const Row row = random_row(rng);
    const per::torch::tensor_row tensors = as_tensors(row);
    REQUIRE(named.push(per::torch::named_tensor_row{
                {"reward", tensors[2]}, {"observation", tensors[0]}, {"action", tensors[1]}}) ==
            ordered.push({tensors[0], tensors[1], tensors[2]}));
    // float64 -> float32 and int32 -> int64 are converted (c10::canCast).
    REQUIRE(named.push({tensors[0].to(::torch::kFloat64), tensors[1].to(::torch::kInt32),
                        tensors[2].to(::torch::kFloat64)},
                       0.5) == ordered.push(tensors, 0.5));
    REQUIRE(same_storage(named, ordered.storage()));
    // Two columns: a braced two-tensor list is an ordered row, not a named one.
    per::torch::tensor_replay<> two(4,
                                    {{"x", {}, ::torch::kFloat32}, {"y", {}, ::torch::kFloat32}});
    two.push({::torch::tensor(1.0f), ::torch::tensor(2.0f)});
    REQUIRE(two.storage("y")[0].item<float>() == 2.0f);
    two.push(
        per::torch::named_tensor_row{{"x", ::torch::tensor(3.0f)}, {"y", ::torch::tensor(4.0f)}});
    REQUIRE(two.storage("x")[1].item<float>() == 3.0f);
}

TEST_CASE("tensor_replay: bad input throws and changes nothing", "[tensor_replay]") {
    per::torch::tensor_replay<> replay(8, row_columns());
    std::mt19937_64 rng(2);
    for (int t = 0; t < 5; ++t) {
        replay.push(as_tensors(random_row(rng)), 0.5 + t);
    }
    const std::vector<::torch::Tensor> storage = storage_copy(replay);
    const per::sampler_state state = replay.sampler().export_state();
    const std::string snapshot = per_test::state(replay.sampler());
    const std::size_t next = replay.next_slot();
    const auto unchanged = [&] {
        REQUIRE(same_storage(replay, storage));
        REQUIRE(same_state(replay.sampler().export_state(), state));
        REQUIRE(per_test::state(replay.sampler()) == snapshot);
        REQUIRE(replay.next_slot() == next);
    };
    const per::torch::tensor_row good = as_tensors(random_row(rng));

    SECTION("push") {
        REQUIRE_THROWS_WITH(replay.push({good[0], good[1]}),
                            PER_CONTAINS("row.size() = 2 must equal columns().size() = 3"));
        REQUIRE_THROWS_WITH(replay.push({good[0], good[1], ::torch::zeros({1})}),
                            PER_CONTAINS("row[2].sizes() = [1] must equal [] (column 'reward')"));
        REQUIRE_THROWS_WITH(replay.push({good[0].reshape({3, 2}), good[1], good[2]}),
                            PER_CONTAINS("row[0].sizes() = [3, 2] must equal [2, 3]"));
        REQUIRE_THROWS_WITH(replay.push({good[0], ::torch::tensor(1.5), good[2]}),
                            PER_CONTAINS("row[1].dtype() = Float cannot be cast to Long, the dtype "
                                         "of column 'action'"));
        REQUIRE_THROWS_WITH(replay.push({good[0], ::torch::Tensor(), good[2]}),
                            PER_CONTAINS("row[1] = undefined must be a tensor"));
        REQUIRE_THROWS_WITH(replay.push(good, -1.0), PER_CONTAINS("priority = -1"));
        REQUIRE_THROWS_WITH(replay.push(good, std::numeric_limits<double>::infinity()),
                            PER_CONTAINS("priority = inf"));
        REQUIRE_THROWS_WITH(replay.push(per::torch::named_tensor_row{{"observation", good[0]},
                                                                     {"action", good[1]},
                                                                     {"rewards", good[2]}}),
                            PER_CONTAINS("row name = 'rewards' is not a column name"));
        REQUIRE_THROWS_WITH(replay.push(per::torch::named_tensor_row{{"observation", good[0]},
                                                                     {"action", good[1]}}),
                            PER_CONTAINS("misses column 'reward'"));
        unchanged();
    }
    SECTION("push_batch") {
        std::vector<Row> rows{random_row(rng), random_row(rng), random_row(rng)};
        per::torch::tensor_row batch = as_batch(rows);
        REQUIRE_THROWS_WITH(replay.push_batch({batch[0], batch[1].slice(0, 0, 2), batch[2]}),
                            PER_CONTAINS("rows[1].size(0) = 2 must equal rows[0].size(0) = 3"));
        REQUIRE_THROWS_WITH(replay.push_batch({batch[0], batch[1], good[2]}),
                            PER_CONTAINS("rows[2] = a 0-d tensor"));
        REQUIRE_THROWS_WITH(replay.push_batch({batch[0], batch[1].to(::torch::kFloat32), batch[2]},
                                              std::vector<double>{1.0, 1.0, 1.0}),
                            PER_CONTAINS("rows[1].dtype() = Float cannot be cast"));
        REQUIRE_THROWS_WITH(replay.push_batch(batch, std::vector<double>{1.0, 1.0}),
                            PER_CONTAINS("priorities.size() = 2 must equal the batch size B = 3"));
        REQUIRE_THROWS_WITH(replay.push_batch(batch, std::vector<double>{1.0, -2.0, 1.0}),
                            PER_CONTAINS("priorities[1] = -2"));
        REQUIRE_THROWS_WITH(replay.push_batch({batch[0].reshape({3, 6}), batch[1], batch[2]}),
                            PER_CONTAINS("rows[0].sizes() = [3, 6] must equal [3, 2, 3]"));
        unchanged();
    }
    SECTION("sample and update_priorities") {
        REQUIRE_THROWS_WITH(replay.sample(0, 0.5, rng), PER_CONTAINS("batch_size = 0"));
        REQUIRE_THROWS_AS(replay.sample(2, 1.5, rng), std::invalid_argument);
        per::torch::tensor_replay<> without(
            8, row_columns(),
            per::replay_options{}.sampling(per::sampling_mode::without_replacement));
        without.push(good);
        REQUIRE_THROWS_AS(without.sample(2, 0.5, rng), std::out_of_range);

        const per::torch::tensor_batch batch = replay.sample(3, 0.5, rng);
        REQUIRE_THROWS_WITH(replay.update_priorities(batch.handles(), ::torch::ones({2})),
                            PER_CONTAINS("priorities.size(0) = 2 must equal handles.size() = 3"));
        REQUIRE_THROWS_WITH(replay.update_priorities(batch.handles(), ::torch::ones({3, 1})),
                            PER_CONTAINS("priorities.sizes() = [3, 1] must be 1-D"));
        REQUIRE_THROWS_WITH(replay.update_priorities(batch.handles(), ::torch::ones({}) * 2),
                            PER_CONTAINS("priorities.sizes() = [] must be 1-D"));
        REQUIRE_THROWS_WITH(replay.update_priorities(batch.handles(), ::torch::Tensor()),
                            PER_CONTAINS("priorities = undefined"));
        REQUIRE_THROWS_WITH(
            replay.update_priorities(batch.handles(), ::torch::ones({3}, ::torch::kBool)),
            PER_CONTAINS("priorities.dtype() = Bool"));
        REQUIRE_THROWS_WITH(
            replay.update_priorities(batch.handles(), ::torch::tensor({1.0, -1.0, 1.0})),
            PER_CONTAINS("priorities[1] = -1"));
        REQUIRE_THROWS_WITH(replay.update_priorities(batch.handles(), std::vector<double>{1.0}),
                            PER_CONTAINS("priorities.size() = 1"));
        REQUIRE_THROWS_WITH(replay.storage("rewards"), PER_CONTAINS("name = 'rewards'"));
        unchanged();
    }
}

TEST_CASE("tensor_replay: rows read from the replay's own storage", "[tensor_replay]") {
    per::torch::tensor_replay<> replay(8, row_columns());
    std::mt19937_64 rng(8);
    for (int t = 0; t < 5; ++t) {
        replay.push(as_tensors(random_row(rng)));
    }
    per::torch::tensor_replay<> expected = replay;
    // Slots 4, 5, 6 into slots 5, 6, 7: source and destination overlap.
    per::torch::tensor_row overlapping, cloned;
    for (const ::torch::Tensor& column : replay.storage()) {
        overlapping.push_back(column.slice(0, 4, 7));
        cloned.push_back(column.slice(0, 4, 7).clone());
    }
    REQUIRE((replay.push_batch(overlapping) == expected.push_batch(cloned)));
    REQUIRE(replay.push({replay.storage()[0][5], replay.storage()[1][5], replay.storage()[2][5]}) ==
            expected.push({expected.storage()[0][5].clone(), expected.storage()[1][5].clone(),
                           expected.storage()[2][5].clone()}));
    REQUIRE(same_storage(replay, expected.storage()));
    std::mt19937_64 engine(1);
    const per::torch::tensor_batch batch = replay.sample(2, 0.5, engine);
    REQUIRE_THROWS_WITH(batch["nope"], PER_CONTAINS("name = 'nope' is not a column name"));
    REQUIRE(::torch::equal(batch.column(1), batch["action"]));
    REQUIRE_THROWS_AS(batch.column(3), std::out_of_range);
}

TEST_CASE("tensor_replay: copies are deep, moves empty the source", "[tensor_replay]") {
    per::torch::tensor_replay<> replay(4, row_columns());
    std::mt19937_64 rng(4);
    replay.push(as_tensors(random_row(rng)));
    per::torch::tensor_replay<> copy = replay;
    copy.push(as_tensors(random_row(rng)));
    REQUIRE(replay.size() == 1);
    REQUIRE_FALSE(::torch::equal(copy.storage("observation"), replay.storage("observation")));
    per::torch::tensor_replay<> moved = std::move(copy);
    REQUIRE(moved.size() == 2);
    REQUIRE(copy.capacity() == 0); // NOLINT(bugprone-use-after-move): the documented state
    REQUIRE_THROWS_AS(copy.push(as_tensors(random_row(rng))), std::logic_error);
    copy = replay;
    REQUIRE(copy.size() == 1);
}

TEST_CASE("tensor_replay: a rank-based sampler", "[tensor_replay]") {
    per::torch::tensor_replay<per::rank_based_sampler> replay(8, row_columns());
    per::rank_based_replay<Row> ref(8);
    std::mt19937_64 rng(6);
    for (int t = 0; t < 12; ++t) {
        const Row row = random_row(rng);
        REQUIRE(replay.push(as_tensors(row), 0.1 * t) == ref.push(row, 0.1 * t));
    }
    std::mt19937_64 a(1), b(1);
    const per::torch::tensor_batch batch = replay.sample(5, 0.5, a);
    const per::replay_batch<Row> expected = ref.sample(5, 0.5, b);
    REQUIRE(batch.slots() == expected.slots());
    for (std::size_t k = 0; k < 5; ++k) {
        REQUIRE(row_equals(batch, k, expected[k]));
    }
}
