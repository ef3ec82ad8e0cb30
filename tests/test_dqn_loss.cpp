#include <per/dqn_loss.hpp>

#include "dqn_test_values.hpp"
#include "per_catch.hpp"

#include <array>
#include <cmath>
#include <cstddef>
#include <limits>
#include <random>
#include <stdexcept>
#include <type_traits>
#include <vector>

#if __cplusplus >= 202002L && __has_include(<span>)
#include <span>
#endif

namespace {

using per::dqn::array_view;
using per::dqn::loss_kind;
using per::dqn::td_loss_options;
using per::dqn::weights_view;

// Every hand-computed value below is exact in float and double (small dyadic fractions), so
// results are compared with ==, except where a value like 0.81 is not representable.
using per_test::not_a_number;
using per_test::values;
constexpr double inf = std::numeric_limits<double>::infinity();

} // namespace

// --- Views ---------------------------------------------------------------------------------

static_assert(std::is_constructible_v<array_view<const float>, std::vector<float>&>);
static_assert(std::is_constructible_v<array_view<const float>, const std::vector<float>&>);
static_assert(std::is_constructible_v<array_view<const float>, std::vector<float>&&>);
static_assert(std::is_constructible_v<array_view<float>, std::vector<float>&>);
static_assert(!std::is_constructible_v<array_view<float>, const std::vector<float>&>);
static_assert(!std::is_constructible_v<array_view<const float>, std::vector<double>&>);
static_assert(!std::is_constructible_v<array_view<const double>, std::vector<float>&>);
static_assert(!std::is_constructible_v<array_view<const double>, std::vector<int>&>);
static_assert(std::is_constructible_v<array_view<const double>, std::array<double, 3>&>);
static_assert(std::is_constructible_v<array_view<const double>, array_view<double>>);
static_assert(std::is_constructible_v<weights_view, std::vector<double>&>);
static_assert(std::is_constructible_v<weights_view, std::vector<float>&>);
static_assert(!std::is_constructible_v<weights_view, std::vector<int>&>);

TEST_CASE("array_view and weights_view see contiguous containers", "[dqn_loss]") {
    std::vector<double> vector{1.0, 2.0, 3.0};
    const array_view<const double> from_vector = vector;
    CHECK(from_vector.data() == vector.data());
    CHECK(from_vector.size() == 3);
    CHECK(from_vector[2] == 3.0);

    float c_array[2] = {4.0f, 5.0f};
    const array_view<const float> from_c_array = c_array;
    CHECK(from_c_array.size() == 2);
    CHECK(from_c_array[1] == 5.0f);

    const array_view deduced(vector); // deduction guides: array_view<double>
    static_assert(std::is_same_v<decltype(deduced), const array_view<double>>);
    const array_view from_pointer(c_array, 2);
    static_assert(std::is_same_v<decltype(from_pointer), const array_view<float>>);

    const weights_view none;
    CHECK_FALSE(none.has_weights());
    CHECK(none.size() == 0);
    CHECK(none[17] == 1.0);
    CHECK_FALSE(per::dqn::no_weights.has_weights());

    const std::vector<float> float_weights{0.5f, 0.25f};
    const weights_view from_floats = float_weights;
    CHECK(from_floats.has_weights());
    CHECK(from_floats.size() == 2);
    CHECK(from_floats[1] == 0.25);

    const std::vector<double> empty;
    const weights_view from_empty = empty; // present, size 0: not "no weights"
    CHECK(from_empty.has_weights());
    CHECK(from_empty.size() == 0);
}

// --- Targets -------------------------------------------------------------------------------

TEMPLATE_TEST_CASE("td_targets: max over the target network; done flags zero the bootstrap",
                   "[dqn_loss]", float, double) {
    using T = TestType;
    const auto rewards = values<T>({1.0, -1.0, 0.5});
    const auto dones = values<T>({0.0, 1.0, 0.0});
    const auto q_next_target = values<T>({2.0, 4.0, /**/ 100.0, 200.0, /**/ -3.0, -1.0});
    std::vector<T> targets(3, T(-99));
    per::dqn::td_targets(rewards, dones, q_next_target, targets, 0.5);
    // 1 + 0.5 * 4; -1 (done: 200 is ignored); 0.5 + 0.5 * -1.
    CHECK(targets == values<T>({3.0, -1.0, 0.0}));

    // gamma = 0 and gamma = 1 are both allowed.
    per::dqn::td_targets(rewards, dones, q_next_target, targets, 0.0);
    CHECK(targets == rewards);
    per::dqn::td_targets(rewards, dones, q_next_target, targets, 1.0);
    CHECK(targets == values<T>({5.0, -1.0, -0.5}));

    // In place, over the rewards.
    auto in_place = rewards;
    per::dqn::td_targets(in_place, dones, q_next_target, in_place, 0.5);
    CHECK(in_place == values<T>({3.0, -1.0, 0.0}));
}

TEMPLATE_TEST_CASE("td_targets: n-step returns discount the bootstrap by gamma^n", "[dqn_loss]",
                   float, double) {
    using T = TestType;
    const auto rewards = values<T>({1.0, 0.0});
    const auto dones = values<T>({0.0, 0.0});
    const auto q_next_target = values<T>({8.0, 0.0, /**/ 10.0, 2.0});
    std::vector<T> targets(2);

    per::dqn::td_targets(rewards, dones, q_next_target, targets, 0.5, 1);
    CHECK(targets == values<T>({5.0, 5.0}));
    per::dqn::td_targets(rewards, dones, q_next_target, targets, 0.5, 3); // 0.5^3 = 0.125
    CHECK(targets == values<T>({2.0, 1.25}));
    per::dqn::td_targets(rewards, dones, q_next_target, targets, 0.9, 2); // 0.9^2 = 0.81
    CHECK(targets[0] == Approx(1.0 + 0.81 * 8.0).epsilon(1e-6));
    CHECK(targets[1] == Approx(0.81 * 10.0).epsilon(1e-6));
}

TEMPLATE_TEST_CASE("double_dqn_td_targets: the online network picks, ties go to the lowest index",
                   "[dqn_loss]", float, double) {
    using T = TestType;
    const auto rewards = values<T>({0.0, 1.0, 0.0, 2.0});
    const auto dones = values<T>({0.0, 0.0, 0.0, 1.0});
    const auto q_next_online = values<T>({5.0, 5.0, 1.0,    // tie between actions 0 and 1: 0
                                          1.0, 7.0, 7.0,    // tie between actions 1 and 2: 1
                                          0.0, 0.0, 0.0,    // all equal: 0
                                          0.0, 0.0, 9.0});  // done: no bootstrap
    const auto q_next_target = values<T>({10.0, 20.0, 30.0, //
                                          -1.0, 2.0, 3.0,   //
                                          -4.0, 8.0, 6.0,   //
                                          50.0, 50.0, 50.0});
    std::vector<T> targets(4);
    per::dqn::double_dqn_td_targets(rewards, dones, q_next_online, q_next_target, targets, 0.5);
    CHECK(targets == values<T>({5.0, 2.0, -2.0, 2.0}));

    // Vanilla DQN on the same data takes the target network's own max.
    per::dqn::td_targets(rewards, dones, q_next_target, targets, 0.5);
    CHECK(targets == values<T>({15.0, 2.5, 4.0, 2.0}));

    // One action: both are the same.
    const auto one_action = values<T>({3.0, -3.0, 1.0, 0.0});
    per::dqn::double_dqn_td_targets(rewards, dones, one_action, one_action, targets, 1.0);
    CHECK(targets == values<T>({3.0, -2.0, 1.0, 2.0}));
}

// --- Errors, loss, gradient, priorities ------------------------------------------------------

TEMPLATE_TEST_CASE("td_errors are targets minus q_taken", "[dqn_loss]", float, double) {
    using T = TestType;
    const auto targets = values<T>({4.0, 0.0, -1.5});
    const auto q_taken = values<T>({1.0, 2.0, -1.5});
    std::vector<T> errors(3);
    per::dqn::td_errors(targets, q_taken, errors);
    CHECK(errors == values<T>({3.0, -2.0, 0.0}));

    auto in_place = targets;
    per::dqn::td_errors(in_place, q_taken, in_place);
    CHECK(in_place == errors);
}

TEMPLATE_TEST_CASE("weighted_loss and loss_gradient, squared", "[dqn_loss]", float, double) {
    using T = TestType;
    const auto errors = values<T>({1.0, -2.0, 0.5, 3.0});
    const auto weights = values<T>({1.0, 0.5, 0.0, 2.0});
    // L = {0.5, 2, 0.125, 4.5}; w L = {0.5, 1, 0, 9}; mean 10.5 / 4.
    CHECK(per::dqn::weighted_loss(errors, weights) == T(2.625));
    CHECK(per::dqn::weighted_loss(errors) == T(7.125 / 4)); // no weights: all ones
    CHECK(per::dqn::weighted_loss(errors, per::dqn::no_weights, loss_kind::squared) ==
          T(7.125 / 4));

    // -(w delta) / B.
    std::vector<T> gradient(4);
    per::dqn::loss_gradient(errors, weights, gradient);
    CHECK(gradient == values<T>({-0.25, 0.25, 0.0, -1.5}));
    per::dqn::loss_gradient(errors, {}, gradient);
    CHECK(gradient == values<T>({-0.25, 0.5, -0.125, -0.75}));
}

TEMPLATE_TEST_CASE("weighted_loss and loss_gradient, Huber on both sides of the threshold",
                   "[dqn_loss]", float, double) {
    using T = TestType;
    const auto errors = values<T>({1.0, -2.0, 0.5, 3.0});
    const auto weights = values<T>({1.0, 0.5, 0.0, 2.0});
    // kappa = 1: L = {0.5 (exactly at the threshold), 1.5, 0.125, 2.5}; w L sums to 6.25.
    CHECK(per::dqn::weighted_loss(errors, weights, loss_kind::huber, 1.0) == T(1.5625));
    std::vector<T> gradient(4);
    per::dqn::loss_gradient(errors, weights, gradient, loss_kind::huber, 1.0);
    // L' = {1, -1, 0.5, 1}; -(w L') / 4.
    CHECK(gradient == values<T>({-0.25, 0.125, 0.0, -0.5}));

    // A single TD error at, just inside and just outside kappa = 2; and negative.
    const auto loss_of = [](double delta, double kappa) {
        const std::vector<T> one{static_cast<T>(delta)};
        return static_cast<double>(per::dqn::weighted_loss(one, {}, loss_kind::huber, kappa));
    };
    const auto slope_of = [](double delta, double kappa) {
        const std::vector<T> one{static_cast<T>(delta)};
        std::vector<T> out(1);
        per::dqn::loss_gradient(one, {}, out, loss_kind::huber, kappa);
        return static_cast<double>(out[0]);
    };
    CHECK(loss_of(2.0, 2.0) == 2.0); // 0.5 * 2^2 = 2 * (2 - 1): both formulas agree
    CHECK(slope_of(2.0, 2.0) == -2.0);
    CHECK(loss_of(1.75, 2.0) == 0.5 * 1.75 * 1.75);
    CHECK(slope_of(1.75, 2.0) == -1.75);
    CHECK(loss_of(3.0, 2.0) == 4.0); // 2 * (3 - 1)
    CHECK(slope_of(3.0, 2.0) == -2.0);
    CHECK(loss_of(-3.0, 2.0) == 4.0);
    CHECK(slope_of(-3.0, 2.0) == 2.0);
    CHECK(loss_of(-2.0, 2.0) == 2.0);
    CHECK(slope_of(-2.0, 2.0) == 2.0);
    // An infinite threshold is the squared loss.
    CHECK(loss_of(100.0, inf) == 5000.0);
}

TEMPLATE_TEST_CASE("priorities_from_td_errors: |delta|, optionally clipped", "[dqn_loss]", float,
                   double) {
    using T = TestType;
    const auto errors = values<T>({1.0, -2.0, 0.5, -0.0, -0.25});
    std::vector<T> priorities(5);
    per::dqn::priorities_from_td_errors(errors, priorities);
    CHECK(priorities == values<T>({1.0, 2.0, 0.5, 0.0, 0.25}));
    CHECK_FALSE(std::signbit(priorities[3]));
    per::dqn::priorities_from_td_errors(errors, priorities, 1.0);
    CHECK(priorities == values<T>({1.0, 1.0, 0.5, 0.0, 0.25}));
}

// --- The one-call API ------------------------------------------------------------------------

TEMPLATE_TEST_CASE("td_loss by hand: DQN, Double DQN, Huber, priority clip", "[dqn_loss]", float,
                   double) {
    using T = TestType;
    const auto q_taken = values<T>({1.0, 2.0});
    const auto rewards = values<T>({1.0, 0.0});
    const auto dones = values<T>({0.0, 1.0});
    const auto q_next_target = values<T>({2.0, 6.0, /**/ 5.0, 5.0});
    const std::vector<double> weights{1.0, 0.5}; // the buffer's weights are double
    const auto options = td_loss_options{}.gamma(0.5);

    const auto result = per::dqn::td_loss(q_taken, q_next_target, rewards, dones, weights, options);
    static_assert(std::is_same_v<decltype(result), const per::dqn::loss_result<T>>);
    CHECK(result.targets == values<T>({4.0, 0.0}));
    CHECK(result.td_errors == values<T>({3.0, -2.0}));
    CHECK(result.loss == T(2.75)); // (1 * 4.5 + 0.5 * 2) / 2
    CHECK(result.gradient == values<T>({-1.5, 0.5}));
    CHECK(result.priorities == values<T>({3.0, 2.0}));

    const auto huber = per::dqn::td_loss(
        q_taken, q_next_target, rewards, dones, weights,
        td_loss_options{options}.loss(loss_kind::huber).huber_threshold(1.0).priority_clip(1.0));
    CHECK(huber.td_errors == values<T>({3.0, -2.0}));
    CHECK(huber.loss == T(1.625)); // (1 * 2.5 + 0.5 * 1.5) / 2
    CHECK(huber.gradient == values<T>({-0.5, 0.25}));
    CHECK(huber.priorities == values<T>({1.0, 1.0}));

    const auto q_next_online = values<T>({9.0, 1.0, /**/ 0.0, 0.0});
    const auto double_dqn =
        per::dqn::td_loss(q_taken, q_next_target, rewards, dones, weights,
                          td_loss_options{options}.double_dqn(true), q_next_online);
    CHECK(double_dqn.targets == values<T>({2.0, 0.0})); // online picks action 0: Q_target 2
    CHECK(double_dqn.td_errors == values<T>({1.0, -2.0}));

    const auto unweighted = per::dqn::td_loss(q_taken, q_next_target, rewards, dones, {}, options);
    CHECK(unweighted.loss == T(3.25)); // (4.5 + 2) / 2
    const auto defaults = per::dqn::td_loss(q_taken, q_next_target, rewards, dones);
    CHECK(defaults.targets[0] == Approx(1.0 + 0.99 * 6.0).epsilon(1e-6)); // gamma 0.99
}

TEMPLATE_TEST_CASE("td_loss equals the lower-level functions composed", "[dqn_loss]", float,
                   double) {
    using T = TestType;
    std::mt19937_64 rng(5);
    std::uniform_real_distribution<double> unit(-3.0, 3.0);
    const std::size_t batch = 32;
    const std::size_t actions = 4;
    const auto random_values = [&](std::size_t size) {
        std::vector<T> out(size);
        for (auto& value : out) {
            value = static_cast<T>(unit(rng));
        }
        return out;
    };
    const auto q_taken = random_values(batch);
    const auto rewards = random_values(batch);
    const auto q_next_target = random_values(batch * actions);
    const auto q_next_online = random_values(batch * actions);
    std::vector<T> dones(batch);
    std::vector<float> weights(batch);
    for (std::size_t i = 0; i < batch; ++i) {
        dones[i] = static_cast<T>(i % 5 == 0);
        weights[i] = static_cast<float>(std::fabs(unit(rng)) / 3.0);
    }

    for (const bool double_dqn : {false, true}) {
        for (const loss_kind kind : {loss_kind::squared, loss_kind::huber}) {
            CAPTURE(double_dqn, static_cast<int>(kind));
            const auto options = td_loss_options{}
                                     .gamma(0.9)
                                     .n_step(3)
                                     .loss(kind)
                                     .huber_threshold(0.75)
                                     .double_dqn(double_dqn)
                                     .priority_clip(2.0);
            const auto result = per::dqn::td_loss(
                q_taken, q_next_target, rewards, dones, weights, options,
                double_dqn ? array_view<const T>(q_next_online) : array_view<const T>());

            std::vector<T> targets(batch), errors(batch), gradient(batch), priorities(batch);
            if (double_dqn) {
                per::dqn::double_dqn_td_targets(rewards, dones, q_next_online, q_next_target,
                                                targets, 0.9, 3);
            } else {
                per::dqn::td_targets(rewards, dones, q_next_target, targets, 0.9, 3);
            }
            per::dqn::td_errors(targets, q_taken, errors);
            const T loss = per::dqn::weighted_loss(errors, weights, kind, 0.75);
            per::dqn::loss_gradient(errors, weights, gradient, kind, 0.75);
            per::dqn::priorities_from_td_errors(errors, priorities, 2.0);

            CHECK(result.targets == targets);
            CHECK(result.td_errors == errors);
            CHECK(result.loss == loss);
            CHECK(result.gradient == gradient);
            CHECK(result.priorities == priorities);
        }
    }
}

TEST_CASE("td_loss gradient matches central finite differences of the loss", "[dqn_loss]") {
    std::mt19937_64 rng(20160101);
    std::uniform_real_distribution<double> unit(-1.0, 1.0);
    const std::size_t batch = 16;
    const std::size_t actions = 3;
    const double kappa = 0.5;

    std::vector<double> rewards(batch), dones(batch), weights(batch), q_taken(batch);
    std::vector<double> q_next_target(batch * actions);
    for (auto& value : q_next_target) {
        value = 2.0 * unit(rng);
    }
    for (std::size_t i = 0; i < batch; ++i) {
        rewards[i] = unit(rng);
        dones[i] = i % 4 == 3 ? 1.0 : 0.0;
        weights[i] = 0.1 + 0.9 * std::fabs(unit(rng));
        q_taken[i] = 3.0 * unit(rng);
    }

    for (const loss_kind kind : {loss_kind::squared, loss_kind::huber}) {
        CAPTURE(static_cast<int>(kind));
        const auto options = td_loss_options{}.gamma(0.9).loss(kind).huber_threshold(kappa);
        const auto loss_at = [&](const std::vector<double>& q) {
            return per::dqn::td_loss(q, q_next_target, rewards, dones, weights, options).loss;
        };
        const auto result =
            per::dqn::td_loss(q_taken, q_next_target, rewards, dones, weights, options);
        std::size_t huber_linear = 0;
        for (std::size_t i = 0; i < batch; ++i) {
            CAPTURE(i, result.td_errors[i]);
            const double h = 1e-5;
            // Stay off the Huber kink, where the loss has no second derivative.
            REQUIRE(std::fabs(std::fabs(result.td_errors[i]) - kappa) > 10 * h);
            huber_linear += std::fabs(result.td_errors[i]) > kappa;
            auto plus = q_taken;
            auto minus = q_taken;
            plus[i] += h;
            minus[i] -= h;
            const double finite_difference = (loss_at(plus) - loss_at(minus)) / (2 * h);
            CHECK(finite_difference == Approx(result.gradient[i]).epsilon(1e-6));
        }
        if (kind == loss_kind::huber) {
            CHECK(huber_linear > 0); // both branches of the Huber loss are exercised
            CHECK(huber_linear < batch);
        }
    }
}

TEST_CASE("td_loss takes any contiguous range, and float Q-values with double weights",
          "[dqn_loss]") {
    const std::array<float, 2> q_taken{1.0f, 2.0f};
    float rewards[2] = {1.0f, 0.0f};
    const std::vector<float> dones{0.0f, 1.0f};
    std::vector<float> q_next_target{2.0f, 6.0f, 5.0f, 5.0f};
    const std::vector<double> weights{1.0, 0.5};
    const auto options = td_loss_options{}.gamma(0.5);

    const auto from_containers =
        per::dqn::td_loss(q_taken, q_next_target, rewards, dones, weights, options);
    // As a LibTorch user would: raw pointers (data_ptr<float>()) and sizes (numel()).
    const auto from_pointers = per::dqn::td_loss(
        array_view(q_taken.data(), 2), array_view(q_next_target.data(), 4), array_view(rewards, 2),
        array_view(dones.data(), 2), weights_view(weights.data(), 2), options);
    CHECK(from_containers.gradient == std::vector<float>{-1.5f, 0.5f});
    CHECK(from_pointers.gradient == from_containers.gradient);
    CHECK(from_pointers.loss == from_containers.loss);

#if __cplusplus >= 202002L && __has_include(<span>)
    const std::span<const float> q_span(q_taken);
    const std::span<float> next_span(q_next_target);
    const std::span<const double> weights_span(weights);
    const auto from_spans =
        per::dqn::td_loss(q_span, next_span, rewards, dones, weights_span, options);
    CHECK(from_spans.gradient == from_containers.gradient);
    std::vector<float> out(2);
    per::dqn::td_errors(std::span<const float>(from_spans.targets), q_span, std::span(out));
    CHECK(out == from_containers.td_errors);
#endif
}

// --- Validation ------------------------------------------------------------------------------

TEST_CASE("td_loss validates every input, naming the argument", "[dqn_loss]") {
    std::vector<double> q_taken{1.0, 2.0, 3.0, 4.0};
    std::vector<double> rewards{0.0, 0.0, 0.0, 0.0};
    std::vector<double> dones{0.0, 1.0, 0.0, 0.0};
    std::vector<double> q_next(8, 1.0);
    std::vector<double> q_online(8, 1.0);
    std::vector<double> weights{1.0, 1.0, 1.0, 1.0};
    td_loss_options options;
    const auto call = [&] {
        return per::dqn::td_loss(q_taken, q_next, rewards, dones, weights, options,
                                 options.double_dqn() ? array_view<const double>(q_online)
                                                      : array_view<const double>());
    };
    REQUIRE_NOTHROW(call());

    SECTION("options") {
        options.gamma(1.5);
        REQUIRE_THROWS_AS(call(), std::invalid_argument);
        REQUIRE_THROWS_WITH(call(), "per::dqn::td_loss: gamma = 1.5 must be in [0, 1]");
        options.gamma(-0.25);
        REQUIRE_THROWS_WITH(call(), PER_CONTAINS("gamma = -0.25"));
        options.gamma(not_a_number);
        REQUIRE_THROWS_WITH(call(), PER_CONTAINS("gamma = nan"));
        options.gamma(0.99).n_step(0);
        REQUIRE_THROWS_WITH(call(), "per::dqn::td_loss: n_step = 0 must be >= 1");
        options.n_step(-2);
        REQUIRE_THROWS_WITH(call(), PER_CONTAINS("n_step = -2"));
        options.n_step(1).loss(loss_kind::huber).huber_threshold(0.0);
        REQUIRE_THROWS_WITH(call(), "per::dqn::td_loss: huber_threshold = 0 must be > 0");
        options.huber_threshold(-1.0);
        REQUIRE_THROWS_WITH(call(), PER_CONTAINS("huber_threshold = -1"));
        options.loss(loss_kind::squared); // the threshold is unused by the squared loss
        REQUIRE_NOTHROW(call());
        options.huber_threshold(1.0).loss(static_cast<loss_kind>(7));
        REQUIRE_THROWS_WITH(call(), PER_CONTAINS("loss = 7 is not a per::dqn::loss_kind"));
        options.loss(loss_kind::squared).priority_clip(0.0);
        REQUIRE_THROWS_WITH(call(), PER_CONTAINS("priority_clip = 0 must be > 0"));
        options.priority_clip(not_a_number);
        REQUIRE_THROWS_WITH(call(), PER_CONTAINS("priority_clip = nan"));
    }
    SECTION("sizes") {
        q_taken.clear();
        REQUIRE_THROWS_WITH(call(), PER_CONTAINS("q_taken.size() = 0 must be > 0 (empty batch)"));
        q_taken = {1.0, 2.0, 3.0, 4.0};
        rewards.pop_back();
        REQUIRE_THROWS_WITH(call(), "per::dqn::td_loss: rewards.size() = 3 must equal "
                                    "q_taken.size() = 4");
        rewards.push_back(0.0);
        dones.push_back(0.0);
        REQUIRE_THROWS_WITH(call(), PER_CONTAINS("dones.size() = 5 must equal q_taken.size() = 4"));
        dones.pop_back();
        q_next.pop_back();
        REQUIRE_THROWS_WITH(call(), PER_CONTAINS("q_next_target.size() = 7"));
        REQUIRE_THROWS_WITH(call(), PER_CONTAINS("q_taken.size() = 4"));
        q_next.clear(); // zero actions
        REQUIRE_THROWS_WITH(call(), PER_CONTAINS("q_next_target.size() = 0"));
        REQUIRE_THROWS_WITH(call(), PER_CONTAINS("num_actions >= 1"));
        q_next.assign(8, 1.0);
        weights.pop_back();
        REQUIRE_THROWS_WITH(call(),
                            PER_CONTAINS("weights.size() = 3 must equal q_taken.size() = 4"));
        weights.clear(); // an empty range is not "no weights"
        REQUIRE_THROWS_WITH(call(), PER_CONTAINS("weights.size() = 0"));
    }
    SECTION("double_dqn needs q_next_online, and only then") {
        options.double_dqn(true);
        REQUIRE_NOTHROW(call());
        q_online.resize(6);
        REQUIRE_THROWS_WITH(call(), PER_CONTAINS("q_next_online.size() = 6 must equal "
                                                 "q_next_target.size() = 8"));
        REQUIRE_THROWS_WITH(per::dqn::td_loss(q_taken, q_next, rewards, dones, weights, options),
                            PER_CONTAINS("q_next_online.size() = 0"));
        REQUIRE_THROWS_WITH(
            per::dqn::td_loss(q_taken, q_next, rewards, dones, weights, td_loss_options{}, q_next),
            PER_CONTAINS("q_next_online.size() = 8 must be 0 unless "
                         "options.double_dqn() is set"));
    }
    SECTION("values") {
        q_taken[1] = not_a_number;
        REQUIRE_THROWS_WITH(call(), "per::dqn::td_loss: q_taken[1] = nan must be finite");
        q_taken[1] = 2.0;
        rewards[0] = inf;
        REQUIRE_THROWS_WITH(call(), PER_CONTAINS("rewards[0] = inf must be finite"));
        rewards[0] = 0.0;
        dones[2] = 0.5;
        REQUIRE_THROWS_WITH(call(), PER_CONTAINS("dones[2] = 0.5 must be 0 or 1"));
        dones[2] = not_a_number;
        REQUIRE_THROWS_WITH(call(), PER_CONTAINS("dones[2] = nan"));
        dones[2] = 0.0;
        q_next[5] = -inf;
        REQUIRE_THROWS_WITH(call(), PER_CONTAINS("q_next_target[5] = -inf must be finite"));
        q_next[5] = 1.0;
        options.double_dqn(true);
        q_online[7] = not_a_number;
        REQUIRE_THROWS_WITH(call(), PER_CONTAINS("q_next_online[7] = nan must be finite"));
        q_online[7] = 1.0;
        weights[1] = -0.5;
        REQUIRE_THROWS_WITH(call(), PER_CONTAINS("weights[1] = -0.5 must be finite and >= 0"));
        weights[1] = not_a_number;
        REQUIRE_THROWS_WITH(call(), PER_CONTAINS("weights[1] = nan"));
        weights[1] = 0.0; // a zero weight is fine
        REQUIRE_NOTHROW(call());
    }
}

TEMPLATE_TEST_CASE("the lower-level functions validate, and leave the output unchanged",
                   "[dqn_loss]", float, double) {
    using T = TestType;
    const auto rewards = values<T>({1.0, 2.0});
    const auto dones = values<T>({0.0, 1.0});
    const auto q_next = values<T>({1.0, 2.0, 3.0, 4.0});
    const auto q_taken = values<T>({0.5, 0.25});
    const auto errors = values<T>({0.5, -3.0});
    const std::vector<double> weights{1.0, 0.5};
    const T sentinel = T(-42);
    std::vector<T> out(2, sentinel);
    const auto unchanged = [&] { return out == std::vector<T>(2, sentinel); };

    SECTION("td_targets") {
        REQUIRE_THROWS_WITH(per::dqn::td_targets(rewards, dones, q_next, out, 1.5),
                            "per::dqn::td_targets: gamma = 1.5 must be in [0, 1]");
        REQUIRE_THROWS_WITH(per::dqn::td_targets(rewards, dones, q_next, out, 0.5, 0),
                            PER_CONTAINS("n_step = 0"));
        REQUIRE_THROWS_WITH(per::dqn::td_targets(std::vector<T>{}, dones, q_next, out, 0.5),
                            PER_CONTAINS("rewards.size() = 0 must be > 0"));
        REQUIRE_THROWS_WITH(per::dqn::td_targets(rewards, values<T>({0.0}), q_next, out, 0.5),
                            PER_CONTAINS("dones.size() = 1 must equal rewards.size() = 2"));
        REQUIRE_THROWS_WITH(
            per::dqn::td_targets(rewards, dones, values<T>({1.0, 2.0, 3.0}), out, 0.5),
            PER_CONTAINS("q_next_target.size() = 3"));
        std::vector<T> short_out(1, sentinel);
        REQUIRE_THROWS_WITH(per::dqn::td_targets(rewards, dones, q_next, short_out, 0.5),
                            PER_CONTAINS("targets.size() = 1 must equal rewards.size() = 2"));
        auto bad = q_next;
        bad[3] = static_cast<T>(not_a_number);
        REQUIRE_THROWS_WITH(per::dqn::td_targets(rewards, dones, bad, out, 0.5),
                            "per::dqn::td_targets: q_next_target[3] = nan must be finite");
        REQUIRE_THROWS_WITH(per::dqn::td_targets(rewards, values<T>({0.0, 2.0}), q_next, out, 0.5),
                            PER_CONTAINS("dones[1] = 2 must be 0 or 1"));
        REQUIRE_THROWS_WITH(per::dqn::td_targets(values<T>({1.0, -inf}), dones, q_next, out, 0.5),
                            PER_CONTAINS("rewards[1] = -inf must be finite"));
        CHECK(unchanged());
        CHECK(short_out == std::vector<T>(1, sentinel));
    }
    SECTION("double_dqn_td_targets") {
        REQUIRE_THROWS_WITH(per::dqn::double_dqn_td_targets(rewards, dones, values<T>({1.0, 2.0}),
                                                            q_next, out, 0.5),
                            "per::dqn::double_dqn_td_targets: q_next_online.size() = 2 must "
                            "equal q_next_target.size() = 4");
        auto bad = q_next;
        bad[0] = static_cast<T>(inf);
        REQUIRE_THROWS_WITH(per::dqn::double_dqn_td_targets(rewards, dones, bad, q_next, out, 0.5),
                            PER_CONTAINS("q_next_online[0] = inf must be finite"));
        REQUIRE_THROWS_WITH(
            per::dqn::double_dqn_td_targets(rewards, dones, q_next, q_next, out, not_a_number),
            PER_CONTAINS("gamma = nan"));
        CHECK(unchanged());
    }
    SECTION("td_errors") {
        REQUIRE_THROWS_WITH(per::dqn::td_errors(std::vector<T>{}, q_taken, out),
                            PER_CONTAINS("targets.size() = 0"));
        REQUIRE_THROWS_WITH(per::dqn::td_errors(rewards, values<T>({1.0}), out),
                            "per::dqn::td_errors: q_taken.size() = 1 must equal "
                            "targets.size() = 2");
        std::vector<T> long_out(3, sentinel);
        REQUIRE_THROWS_WITH(per::dqn::td_errors(rewards, q_taken, long_out),
                            PER_CONTAINS("td_errors.size() = 3"));
        REQUIRE_THROWS_WITH(per::dqn::td_errors(values<T>({not_a_number, 0.0}), q_taken, out),
                            PER_CONTAINS("targets[0] = nan"));
        REQUIRE_THROWS_WITH(per::dqn::td_errors(rewards, values<T>({0.0, inf}), out),
                            PER_CONTAINS("q_taken[1] = inf"));
        CHECK(unchanged());
    }
    SECTION("weighted_loss and loss_gradient") {
        REQUIRE_THROWS_WITH(per::dqn::weighted_loss(std::vector<T>{}),
                            "per::dqn::weighted_loss: td_errors.size() = 0 must be > 0 (empty "
                            "batch)");
        REQUIRE_THROWS_WITH(per::dqn::weighted_loss(errors, std::vector<double>{1.0}),
                            PER_CONTAINS("weights.size() = 1 must equal td_errors.size() = 2"));
        REQUIRE_THROWS_WITH(per::dqn::weighted_loss(errors, std::vector<float>{1.0f, -1.0f}),
                            PER_CONTAINS("weights[1] = -1 must be finite and >= 0"));
        REQUIRE_THROWS_WITH(per::dqn::weighted_loss(errors, weights, loss_kind::huber, 0.0),
                            PER_CONTAINS("huber_threshold = 0 must be > 0"));
        REQUIRE_THROWS_WITH(per::dqn::weighted_loss(values<T>({0.0, not_a_number}), weights),
                            PER_CONTAINS("td_errors[1] = nan must be finite"));

        REQUIRE_THROWS_WITH(
            per::dqn::loss_gradient(errors, weights, out, loss_kind::huber, not_a_number),
            "per::dqn::loss_gradient: huber_threshold = nan must be > 0");
        REQUIRE_THROWS_WITH(per::dqn::loss_gradient(errors, std::vector<double>{1.0, inf}, out),
                            PER_CONTAINS("weights[1] = inf"));
        std::vector<T> short_out(1, sentinel);
        REQUIRE_THROWS_WITH(per::dqn::loss_gradient(errors, weights, short_out),
                            PER_CONTAINS("gradient.size() = 1 must equal td_errors.size() = 2"));
        REQUIRE_THROWS_WITH(per::dqn::loss_gradient(values<T>({inf, 0.0}), {}, out),
                            PER_CONTAINS("td_errors[0] = inf"));
        CHECK(unchanged());
    }
    SECTION("priorities_from_td_errors") {
        REQUIRE_THROWS_WITH(per::dqn::priorities_from_td_errors(errors, out, 0.0),
                            "per::dqn::priorities_from_td_errors: clip = 0 must be > 0");
        REQUIRE_THROWS_WITH(per::dqn::priorities_from_td_errors(errors, out, -1.0),
                            PER_CONTAINS("clip = -1"));
        REQUIRE_THROWS_WITH(per::dqn::priorities_from_td_errors(std::vector<T>{}, out),
                            PER_CONTAINS("td_errors.size() = 0"));
        std::vector<T> short_out(1, sentinel);
        REQUIRE_THROWS_WITH(per::dqn::priorities_from_td_errors(errors, short_out),
                            PER_CONTAINS("priorities.size() = 1 must equal td_errors.size() = 2"));
        REQUIRE_THROWS_WITH(per::dqn::priorities_from_td_errors(values<T>({1.0, -inf}), out),
                            PER_CONTAINS("td_errors[1] = -inf"));
        CHECK(unchanged());
    }
}

TEMPLATE_TEST_CASE("a view of values at a null address is rejected, not read", "[dqn_loss]", float,
                   double) {
    // A pointer-and-size view of a tensor that was never allocated, say. Before this check,
    // weights_view(null, n) counted as "every weight is 1" and the other views were read or
    // written through the null pointer.
    using T = TestType;
    const auto rewards = values<T>({1.0, 2.0});
    const auto dones = values<T>({0.0, 1.0});
    const auto q_next = values<T>({1.0, 2.0, 3.0, 4.0});
    const auto q_taken = values<T>({0.5, 0.25});
    const std::vector<double> discounts{0.5, 0.0};
    const T sentinel = T(-42);
    std::vector<T> out(2, sentinel);
    const array_view<const T> null_input(nullptr, 2);
    const array_view<T> null_output(nullptr, 2);
    const weights_view null_weights(static_cast<const double*>(nullptr), 2);
    const weights_view null_float_weights(static_cast<const float*>(nullptr), 2);
    const per::dqn::discounts_view null_discounts(static_cast<const float*>(nullptr), 2);
    const td_loss_options options = td_loss_options{}.gamma(0.5);

    CHECK_FALSE(null_weights.data());
    CHECK(weights_view(discounts).data() == discounts.data());
    CHECK(per::dqn::discounts_view(discounts).data() == discounts.data());

    REQUIRE_THROWS_AS(per::dqn::td_targets(null_input, dones, q_next, out, 0.5),
                      std::invalid_argument);
    REQUIRE_THROWS_WITH(per::dqn::td_targets(null_input, dones, q_next, out, 0.5),
                        "per::dqn::td_targets: rewards.data() = nullptr must point to "
                        "rewards.size() = 2 values");
    REQUIRE_THROWS_WITH(per::dqn::td_targets(rewards, null_input, q_next, out, 0.5),
                        PER_CONTAINS("dones.data() = nullptr"));
    REQUIRE_THROWS_WITH(
        per::dqn::td_targets(rewards, dones, array_view<const T>(nullptr, 4), out, 0.5),
        PER_CONTAINS("q_next_target.data() = nullptr must point to "
                     "q_next_target.size() = 4 values"));
    REQUIRE_THROWS_WITH(per::dqn::td_targets(rewards, dones, q_next, null_output, 0.5),
                        PER_CONTAINS("targets.data() = nullptr"));
    REQUIRE_THROWS_WITH(per::dqn::td_targets(rewards, null_discounts, q_next, out),
                        PER_CONTAINS("discounts.data() = nullptr"));
    REQUIRE_THROWS_WITH(per::dqn::double_dqn_td_targets(
                            rewards, dones, array_view<const T>(nullptr, 4), q_next, out, 0.5),
                        PER_CONTAINS("q_next_online.data() = nullptr"));
    REQUIRE_THROWS_WITH(per::dqn::td_errors(rewards, null_input, out),
                        PER_CONTAINS("q_taken.data() = nullptr"));
    REQUIRE_THROWS_WITH(per::dqn::td_errors(rewards, q_taken, null_output),
                        PER_CONTAINS("td_errors.data() = nullptr"));
    REQUIRE_THROWS_WITH(per::dqn::weighted_loss(null_input),
                        PER_CONTAINS("td_errors.data() = nullptr"));
    REQUIRE_THROWS_WITH(per::dqn::weighted_loss(q_taken, null_weights),
                        "per::dqn::weighted_loss: weights.data() = nullptr must point to "
                        "weights.size() = 2 values");
    REQUIRE_THROWS_WITH(per::dqn::weighted_loss(q_taken, null_float_weights),
                        PER_CONTAINS("weights.data() = nullptr"));
    REQUIRE_THROWS_WITH(per::dqn::loss_gradient(q_taken, {}, null_output),
                        PER_CONTAINS("gradient.data() = nullptr"));
    REQUIRE_THROWS_WITH(per::dqn::priorities_from_td_errors(q_taken, null_output),
                        PER_CONTAINS("priorities.data() = nullptr"));
    REQUIRE_THROWS_WITH(per::dqn::td_loss(q_taken, q_next, rewards, dones, null_weights, options),
                        "per::dqn::td_loss: weights.data() = nullptr must point to "
                        "weights.size() = 2 values");
    REQUIRE_THROWS_WITH(per::dqn::td_loss(null_input, q_next, rewards, dones, {}, options),
                        PER_CONTAINS("q_taken.data() = nullptr"));
    REQUIRE_THROWS_WITH(per::dqn::td_loss(q_taken, q_next, rewards, null_discounts, {}, options),
                        PER_CONTAINS("discounts.data() = nullptr"));
    CHECK(out == std::vector<T>(2, sentinel));
    // An empty view may be null: it is the default "no values" (q_next_online without
    // double DQN, say).
    CHECK_NOTHROW(
        per::dqn::td_loss(q_taken, q_next, rewards, dones, {}, options, array_view<const T>()));
}
