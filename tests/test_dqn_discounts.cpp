// per::dqn with a discount per transition (discounts_view): targets y_i = r_i + d_i * bootstrap,
// for n-step transitions of varying length such as per::n_step_writer's.
#include <per/dqn_loss.hpp>
#include <per/n_step.hpp>

#include "dqn_test_values.hpp"
#include "per_catch.hpp"

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <random>
#include <stdexcept>
#include <type_traits>
#include <vector>

namespace {

using per::dqn::array_view;
using per::dqn::discounts_view;
using per::dqn::td_loss_options;

using per_test::not_a_number;
using per_test::values;

} // namespace

// Discounts are built explicitly: a dones range is never taken for discounts, or the reverse.
// Float and double discounts are both accepted, whatever the scalar type of the call.
static_assert(std::is_constructible_v<discounts_view, const std::vector<float>&>);
static_assert(std::is_constructible_v<discounts_view, const std::vector<double>&>);
static_assert(!std::is_constructible_v<discounts_view, const std::vector<int>&>);
static_assert(!std::is_convertible_v<const std::vector<float>&, discounts_view>);
static_assert(!std::is_convertible_v<const std::vector<double>&, discounts_view>);
static_assert(!std::is_constructible_v<array_view<const float>, discounts_view>);

TEMPLATE_TEST_CASE("td_targets with discounts: y = r + d * bootstrap, d = 0 is terminal",
                   "[dqn_loss][discounts]", float, double) {
    using T = TestType;
    const auto rewards = values<T>({1.0, -1.0, 0.5, 2.0});
    const auto discounts = values<T>({0.5, 0.0, 0.25, 1.0});
    const auto q_next_target = values<T>({2.0, 4.0, /**/ 100.0, 200.0, /**/ -3.0, -1.0,
                                          /**/ 8.0, 0.0});
    std::vector<T> targets(4, T(-99));
    per::dqn::td_targets(rewards, discounts_view(discounts), q_next_target, targets);
    // 1 + 0.5 * 4; -1 (discount 0: 200 ignored); 0.5 + 0.25 * -1; 2 + 1 * 8.
    CHECK(targets == values<T>({3.0, -1.0, 0.25, 10.0}));

    // Double DQN: the online network picks (ties to the lowest index), the target values.
    const auto q_next_online = values<T>({5.0, 1.0, /**/ 0.0, 0.0, /**/ 7.0, 7.0, /**/ 0.0, 1.0});
    per::dqn::double_dqn_td_targets(rewards, discounts_view(discounts), q_next_online,
                                    q_next_target, targets);
    // 1 + 0.5 * 2; -1; 0.5 + 0.25 * -3; 2 + 1 * 0.
    CHECK(targets == values<T>({2.0, -1.0, -0.25, 2.0}));

    // In place, over the rewards.
    auto in_place = rewards;
    per::dqn::td_targets(in_place, discounts_view(discounts), q_next_target, in_place);
    CHECK(in_place == values<T>({3.0, -1.0, 0.25, 10.0}));
}

TEMPLATE_TEST_CASE("discounts gamma^n (1 - done) give the bits of the dones overloads",
                   "[dqn_loss][discounts]", float, double) {
    using T = TestType;
    std::mt19937_64 engine(20261203);
    std::uniform_real_distribution<double> value(-5.0, 5.0);
    constexpr std::size_t batch = 64;
    constexpr std::size_t actions = 3;
    // gamma^n is exact in float and double for all but 0.99; double discounts give the bits
    // of the dones overloads for every gamma, since both compute gamma^n (1 - done) in double.
    for (const double gamma : {0.5, 0.75, 1.0, 0.0, 0.99}) {
        for (const int n : {1, 2, 3}) {
            const bool exact_in_t = gamma != 0.99;
            std::vector<double> double_discounts(batch);
            std::vector<T> rewards(batch), dones(batch), discounts(batch), q_taken(batch);
            std::vector<T> q_next(batch * actions), q_online(batch * actions);
            std::vector<double> weights(batch);
            for (std::size_t i = 0; i < batch; ++i) {
                rewards[i] = static_cast<T>(value(engine));
                q_taken[i] = static_cast<T>(value(engine));
                dones[i] = (engine() % 4 == 0) ? T(1) : T(0);
                double_discounts[i] = std::pow(gamma, n) * (1.0 - static_cast<double>(dones[i]));
                discounts[i] = static_cast<T>(double_discounts[i]);
                weights[i] = 0.5 + 0.1 * static_cast<double>(i % 5);
            }
            for (std::size_t k = 0; k < q_next.size(); ++k) {
                q_next[k] = static_cast<T>(value(engine));
                q_online[k] = static_cast<T>(value(engine));
            }

            std::vector<T> with_dones(batch), with_discounts(batch);
            per::dqn::td_targets(rewards, dones, q_next, with_dones, gamma, n);
            per::dqn::td_targets(rewards, discounts_view(discounts), q_next, with_discounts);
            CHECK((with_dones == with_discounts || !exact_in_t));
            per::dqn::td_targets(rewards, discounts_view(double_discounts), q_next, with_discounts);
            CHECK(with_dones == with_discounts);
            per::dqn::double_dqn_td_targets(rewards, dones, q_online, q_next, with_dones, gamma, n);
            per::dqn::double_dqn_td_targets(rewards, discounts_view(double_discounts), q_online,
                                            q_next, with_discounts);
            CHECK(with_dones == with_discounts);

            for (const bool double_dqn : {false, true}) {
                const auto options = td_loss_options{}
                                         .gamma(gamma)
                                         .n_step(n)
                                         .double_dqn(double_dqn)
                                         .loss(per::dqn::loss_kind::huber);
                const array_view<const T> online =
                    double_dqn ? array_view<const T>(q_online) : array_view<const T>();
                const auto a =
                    per::dqn::td_loss(q_taken, q_next, rewards, dones, weights, options, online);
                // gamma and n_step are not used with discounts: other values change nothing.
                const auto b = per::dqn::td_loss(
                    q_taken, q_next, rewards, discounts_view(double_discounts), weights,
                    td_loss_options(options).gamma(0.3).n_step(7), online);
                CHECK(a.loss == b.loss);
                CHECK(a.targets == b.targets);
                CHECK(a.td_errors == b.td_errors);
                CHECK(a.gradient == b.gradient);
                CHECK(a.priorities == b.priorities);
            }
        }
    }
}

// The use the overloads exist for: n_step_writer's transitions, whose discount is gamma^m with
// m < n for the tails of truncated episodes, 0 after a termination and gamma^n otherwise. The
// targets equal a brute-force sum written from the raw stream.
TEST_CASE("td_loss with n_step_writer's discounts equals the brute-force n-step target",
          "[dqn_loss][discounts]") {
    constexpr std::size_t n = 3;
    constexpr double gamma = 0.9;
    constexpr std::size_t steps = 2000;
    std::mt19937_64 engine(7);
    std::uniform_real_distribution<double> reward(-1.0, 1.0);

    // One environment; the observation is the step index, so each transition says where it
    // starts and ends. Episodes end by termination (1 in 20) or truncation (1 in 20).
    std::vector<double> rewards(steps);
    std::vector<int> ending(steps); // 0 running, 1 terminated, 2 truncated
    for (std::size_t t = 0; t < steps; ++t) {
        rewards[t] = reward(engine);
        const std::uint64_t roll = engine() % 20;
        ending[t] = roll == 0 ? 1 : roll == 1 ? 2 : 0;
    }
    ending[steps - 1] = 2;

    using transition = per::n_step_transition<std::size_t, int>;
    std::vector<transition> emitted;
    per::n_step_writer<std::size_t, int> writer(1, n, gamma);
    for (std::size_t t = 0; t < steps; ++t) {
        writer.step(0, t, 0, rewards[t], ending[t] == 1, ending[t] == 2, t + 1,
                    [&](const transition& item) { emitted.push_back(item); });
    }
    REQUIRE(emitted.size() == steps);

    // A value of each "next observation" (the step index after the transition's last step).
    const auto bootstrap_value = [](std::size_t next) {
        return 0.25 * static_cast<double>(next % 17) - 2.0;
    };
    const std::size_t batch = emitted.size();
    std::vector<double> batch_rewards(batch), discounts(batch), q_next(batch), q_taken(batch);
    std::size_t short_truncated_tails = 0;
    for (std::size_t i = 0; i < batch; ++i) {
        batch_rewards[i] = emitted[i].reward;
        discounts[i] = emitted[i].discount;
        q_next[i] = bootstrap_value(emitted[i].next_observation); // one action
        q_taken[i] = 0.0;
        short_truncated_tails += emitted[i].truncated && emitted[i].steps < n;
    }
    REQUIRE(short_truncated_tails > 50); // the case one gamma^n gets wrong is well represented

    const auto result =
        per::dqn::td_loss(q_taken, q_next, batch_rewards, discounts_view(discounts),
                          per::dqn::no_weights, td_loss_options{}.gamma(gamma).n_step(int(n)));
    // Brute force from the raw stream: sum the rewards until n steps or the episode's end,
    // bootstrap unless it terminated, with gamma^m for the m steps summed.
    std::size_t mismatches = 0;
    for (std::size_t i = 0; i < batch; ++i) {
        const std::size_t start = emitted[i].observation;
        double sum = 0.0;
        double power = 1.0;
        std::size_t m = 0;
        bool terminated = false;
        while (m < n) {
            sum += power * rewards[start + m];
            power *= gamma;
            ++m;
            if (ending[start + m - 1] != 0) {
                terminated = ending[start + m - 1] == 1;
                break;
            }
        }
        const double expected = sum + (terminated ? 0.0 : power * bootstrap_value(start + m));
        mismatches += !(std::fabs(result.targets[i] - expected) <= 1e-12);
    }
    CHECK(mismatches == 0);
}

TEMPLATE_TEST_CASE("discounts are validated, naming the argument; outputs stay unchanged",
                   "[dqn_loss][discounts]", float, double) {
    using T = TestType;
    const auto rewards = values<T>({1.0, 2.0});
    const auto q_next = values<T>({1.0, 2.0, 3.0, 4.0});
    const auto q_taken = values<T>({0.5, 0.25});
    const T sentinel = T(-42);
    std::vector<T> out(2, sentinel);
    const auto unchanged = [&] { return out == std::vector<T>(2, sentinel); };

    const auto targets_with = [&](const std::vector<T>& discounts) {
        per::dqn::td_targets(rewards, discounts_view(discounts), q_next, out);
    };
    const auto loss_with = [&](const std::vector<T>& discounts) {
        return per::dqn::td_loss(q_taken, q_next, rewards, discounts_view(discounts));
    };
    REQUIRE_THROWS_WITH(targets_with(values<T>({0.5, 1.5})),
                        "per::dqn::td_targets: discounts[1] = 1.5 must be in [0, 1]");
    REQUIRE_THROWS_AS(targets_with(values<T>({-0.25, 0.5})), std::invalid_argument);
    REQUIRE_THROWS_WITH(targets_with(values<T>({-0.25, 0.5})),
                        PER_CONTAINS("discounts[0] = -0.25"));
    REQUIRE_THROWS_WITH(targets_with(values<T>({not_a_number, 0.5})),
                        PER_CONTAINS("discounts[0] = nan must be in [0, 1]"));
    REQUIRE_THROWS_WITH(targets_with(values<T>({0.5})),
                        "per::dqn::td_targets: discounts.size() = 1 must equal rewards.size() = 2");
    REQUIRE_THROWS_WITH(per::dqn::double_dqn_td_targets(
                            rewards, discounts_view(values<T>({1.0, 2.0})), q_next, q_next, out),
                        "per::dqn::double_dqn_td_targets: discounts[1] = 2 must be in [0, 1]");
    CHECK(unchanged());

    REQUIRE_THROWS_WITH(loss_with(values<T>({0.5, 1.5})),
                        "per::dqn::td_loss: discounts[1] = 1.5 must be in [0, 1]");
    REQUIRE_THROWS_WITH(loss_with(values<T>({0.5, 0.5, 0.5})),
                        "per::dqn::td_loss: discounts.size() = 3 must equal q_taken.size() = 2");
    // The options are still validated, although gamma and n_step are not used.
    REQUIRE_THROWS_WITH(per::dqn::td_loss(q_taken, q_next, rewards,
                                          discounts_view(values<T>({0.5, 0.5})),
                                          per::dqn::no_weights, td_loss_options{}.gamma(2.0)),
                        "per::dqn::td_loss: gamma = 2 must be in [0, 1]");
    // 0 and 1 are both allowed.
    REQUIRE_NOTHROW(loss_with(values<T>({0.0, 1.0})));
}
