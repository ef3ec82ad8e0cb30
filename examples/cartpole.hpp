// What the LibTorch examples share (cartpole_dqn.cpp and cliffwalk_dqn.cpp, one thread per
// run; apex_cartpole.cpp, actor threads and a learner): portable random numbers, the cart-pole
// itself, the transition the replay stores, the Q-network and its helpers, and the DQN update
// from a tensor_replay. Examples only: not part of the library.
#ifndef PER_EXAMPLES_CARTPOLE_HPP
#define PER_EXAMPLES_CARTPOLE_HPP

#include <per/dqn_loss.hpp>
#include <per/random.hpp>
#include <per/torch/tensor_replay.hpp>

#include <torch/torch.h>

#include <array>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <random>
#include <vector>

namespace per_examples {

// --- Random numbers that are the same everywhere -------------------------------------------

// std::mt19937_64's output is fixed by the C++ standard; the standard distributions are not
// (each standard library has its own algorithms). Turning the bits into numbers ourselves keeps
// the environment's randomness identical on every platform.
class portable_random {
public:
    explicit portable_random(std::uint64_t seed)
        : m_engine(seed) {}

    // Uniform in [0, 1), from the top 53 bits of one draw (per::uniform_unit, random.hpp).
    double uniform() { return per::uniform_unit(m_engine); }
    double uniform(double low, double high) { return low + (high - low) * uniform(); }
    // 0 or 1, each with probability 1/2.
    int coin() { return static_cast<int>(per::uniform_below(m_engine, 2)); }

private:
    std::mt19937_64 m_engine;
};

// --- The environment -----------------------------------------------------------------------

using observation = std::array<float, 4>; // cart position, cart velocity, pole angle, pole rate

// The cart-pole of Barto, Sutton and Anderson (1983) with Gym's CartPole-v1 constants: a pole
// hinged on a cart that is pushed left (action 0) or right (action 1) with a fixed force. The
// reward is 1 per step; the episode terminates when the cart leaves |x| <= 2.4 or the pole
// leans past 12 degrees, and is truncated (not terminated: the pole was still up) after 500
// steps.
class cart_pole {
public:
    static constexpr int max_steps = 500;

    struct step_result {
        observation next;
        float reward;
        bool terminated; // fell or left the track: the true end, no value beyond
        bool truncated;  // the time limit: the state still has a value, so DQN bootstraps
    };

    // The start state: each variable uniform in [-0.05, 0.05].
    observation reset(portable_random& random) {
        for (double& value : m_state) {
            value = random.uniform(-0.05, 0.05);
        }
        m_steps = 0;
        return current();
    }

    step_result step(int action) {
        constexpr double gravity = 9.8;
        constexpr double cart_mass = 1.0;
        constexpr double pole_mass = 0.1;
        constexpr double total_mass = cart_mass + pole_mass;
        constexpr double half_pole_length = 0.5;
        constexpr double pole_mass_length = pole_mass * half_pole_length;
        constexpr double force_magnitude = 10.0;
        constexpr double seconds_per_step = 0.02;
        constexpr double x_limit = 2.4;
        const double angle_limit = 12.0 * 2.0 * 3.14159265358979323846 / 360.0;

        auto& [x, x_velocity, angle, angular_velocity] = m_state;
        const double force = action == 1 ? force_magnitude : -force_magnitude;
        const double cos_angle = std::cos(angle);
        const double sin_angle = std::sin(angle);
        // The equations of motion of the 1983 paper, without friction (as Gym).
        const double temp =
            (force + pole_mass_length * angular_velocity * angular_velocity * sin_angle) /
            total_mass;
        const double angular_acceleration =
            (gravity * sin_angle - cos_angle * temp) /
            (half_pole_length * (4.0 / 3.0 - pole_mass * cos_angle * cos_angle / total_mass));
        const double x_acceleration =
            temp - pole_mass_length * angular_acceleration * cos_angle / total_mass;
        // Explicit Euler, positions first from the old velocities (Gym's "euler").
        x += seconds_per_step * x_velocity;
        x_velocity += seconds_per_step * x_acceleration;
        angle += seconds_per_step * angular_velocity;
        angular_velocity += seconds_per_step * angular_acceleration;
        ++m_steps;

        const bool terminated =
            x < -x_limit || x > x_limit || angle < -angle_limit || angle > angle_limit;
        return {current(), 1.0f, terminated, !terminated && m_steps >= max_steps};
    }

private:
    observation current() const {
        return {static_cast<float>(m_state[0]), static_cast<float>(m_state[1]),
                static_cast<float>(m_state[2]), static_cast<float>(m_state[3])};
    }

    std::array<double, 4> m_state{};
    int m_steps = 0;
};

// What the replay buffer stores. `terminal` is set only when the episode truly ended, not when
// it was cut by the time limit: the TD target bootstraps from next_state unless terminal.
struct transition {
    observation state{};
    int action = 0;
    float reward = 0.0f;
    observation next_state{};
    bool terminal = false;
};

// --- The network ---------------------------------------------------------------------------

// Q(s, .) for the two actions: a perceptron with two hidden ReLU layers (inputs, hidden,
// actions given to the constructor).
struct q_network_impl : torch::nn::Module {
    q_network_impl(int inputs, int hidden, int actions)
        : first(register_module("first", torch::nn::Linear(inputs, hidden)))
        , second(register_module("second", torch::nn::Linear(hidden, hidden)))
        , output(register_module("output", torch::nn::Linear(hidden, actions))) {}

    torch::Tensor forward(torch::Tensor x) {
        x = torch::relu(first(x));
        x = torch::relu(second(x));
        return output(x);
    }

    torch::nn::Linear first;
    torch::nn::Linear second;
    torch::nn::Linear output;
};
// q_network: LibTorch's shared handle to a q_network_impl (its "pimpl" module idiom).
TORCH_MODULE_IMPL(q_network, q_network_impl);

// to <- to + weight (from - to) for every parameter: weight 1 copies, a small weight makes the
// target network trail the online one smoothly (Polyak averaging, "soft" target updates).
inline void blend_parameters(const q_network& from, q_network& to, double weight) {
    torch::NoGradGuard no_grad;
    const std::vector<torch::Tensor> source = from->parameters();
    std::vector<torch::Tensor> destination = to->parameters();
    for (std::size_t i = 0; i < source.size(); ++i) {
        destination[i].lerp_(source[i], weight);
    }
}

inline int greedy_action(q_network& network, observation state) {
    torch::NoGradGuard no_grad;
    const torch::Tensor input = torch::from_blob(state.data(), {1, 4}); // no copy
    return static_cast<int>(network->forward(input).argmax(1).item<std::int64_t>());
}

// A view of a contiguous float tensor's values for per::dqn, which works on plain arrays. The
// tensor's storage must outlive the view (a temporary tensor lives to the end of the call that
// uses the view, which is enough).
inline per::dqn::array_view<const float> values_of(const torch::Tensor& tensor) {
    TORCH_CHECK(tensor.is_contiguous() && tensor.scalar_type() == torch::kFloat,
                "values_of needs a contiguous float tensor");
    return {tensor.data_ptr<float>(), static_cast<std::size_t>(tensor.numel())};
}

// --- The learner's update ------------------------------------------------------------------

// One Double DQN update from a per::torch::tensor_replay whose columns are state, action
// (int64), reward (float32), next_state and discount (float64: gamma^m, or 0 after a
// termination, as per::n_step_writer computes it); returns the batch's loss. The optimizer
// updates `online`; the caller moves `target` (blend_parameters).
template <class Generator>
float learn_from(per::torch::tensor_replay<>& buffer, std::size_t batch_size, double beta,
                 Generator& engine, q_network& online, q_network& target,
                 torch::optim::Optimizer& optimizer, const per::dqn::td_loss_options& options) {
    // per: a prioritized batch, gathered into tensors: one index_select per column.
    const per::torch::tensor_batch batch = buffer.sample(batch_size, beta, engine);
    const auto rows = static_cast<std::int64_t>(batch.size());

    // Q(s, a) for the actions taken, through autograd; the next states' values without.
    const torch::Tensor q_taken =
        online->forward(batch["state"]).gather(1, batch["action"].unsqueeze(1)).squeeze(1);
    torch::Tensor q_next_online;
    torch::Tensor q_next_target;
    {
        torch::NoGradGuard no_grad;
        q_next_online = online->forward(batch["next_state"]);
        q_next_target = target->forward(batch["next_state"]);
    }

    // per: Double DQN targets R + discount * Q_target(s', argmax Q_online(s')), TD errors, the
    // importance-weighted loss, its gradient with respect to each Q(s, a), and the new
    // priorities |delta|, in one call. The importance weights are the sampler's, in double
    // (batch.weights() holds them as a float32 tensor, for losses built in LibTorch).
    const torch::Tensor& discounts = batch["discount"]; // float64, contiguous
    per::dqn::loss_result<float> result = per::dqn::td_loss(
        values_of(q_taken.detach()), values_of(q_next_target), values_of(batch["reward"]),
        per::dqn::discounts_view(discounts.data_ptr<double>(), batch.size()),
        batch.draws().weights(), options, values_of(q_next_online));

    // The gradient enters autograd at q_taken: backward() carries it into the weights, as
    // loss.backward() would for a loss built from tensor operations.
    optimizer.zero_grad();
    q_taken.backward(torch::from_blob(result.gradient.data(), {rows}));
    optimizer.step();

    // per: the new priorities (the buffer adds its epsilon).
    buffer.update_priorities(batch.handles(), torch::from_blob(result.priorities.data(), {rows}));
    return result.loss;
}

} // namespace per_examples

#endif // PER_EXAMPLES_CARTPOLE_HPP
