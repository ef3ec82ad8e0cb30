#ifndef PER_DQN_LOSS_HPP
#define PER_DQN_LOSS_HPP

#include "detail/error.hpp"

#include <cmath>
#include <cstddef>
#include <iterator>
#include <limits>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

/// @file
/// The learner's side of DQN with prioritized replay, on plain arrays (no neural-network
/// library): TD targets, TD errors, the importance-weighted loss, its gradient with respect to
/// Q(s, a), and the new priorities. For a batch of B transitions (s_i, a_i, r_i, done_i, s'_i)
/// and A actions:
///
///     q_taken[i]                  = Q_online(s_i, a_i)                        B values
///     q_next_target[i * A + a]    = Q_target(s'_i, a)                         B x A, row-major
///     q_next_online[i * A + a]    = Q_online(s'_i, a)                         B x A, Double DQN
///
///     y_i        = r_i + gamma^n (1 - done_i) max_a Q_target(s'_i, a)                     DQN
///     y_i        = r_i + gamma^n (1 - done_i) Q_target(s'_i, argmax_a Q_online(s'_i, a))   Double
///     y_i        = r_i + d_i ...            with per-transition discounts d_i (discounts_view)
///     delta_i    = y_i - q_taken_i                                            TD error
///     loss       = (1 / B) sum_i w_i L(delta_i)                               w: IS weights
///     gradient_i = d loss / d q_taken_i = -(w_i / B) L'(delta_i)              y held constant
///     priority_i = min(|delta_i|, clip)                                       for the buffer
///
/// One call does it all (float or double; the weights may be the buffer's double weights).
/// With LibTorch and float tensors of B rows, autograd then carries the gradient into the
/// network:
///
///     auto result = per::dqn::td_loss(q_taken, q_next_target, rewards, dones, batch.weights(),
///                                     per::dqn::td_loss_options{}.gamma(0.99));
///     q_taken_tensor.backward(torch::from_blob(result.gradient.data(), {B}));
///     buffer.update_priorities(batch.handles(), result.priorities); // epsilon added there
///
/// The lower-level functions below write into caller storage and never allocate, for hot loops.
/// Every function validates all of its input before writing anything, and throws
/// std::invalid_argument naming the argument and its value, e.g.
/// "per::dqn::td_targets: gamma = 1.5 must be in [0, 1]"; outputs are then unchanged. That
/// includes a view of one or more values whose data() is null (weights and discounts too):
/// "rewards.data() = nullptr must point to rewards.size() = 32 values".
///
/// Every function comes in a float and a double overload: the Q-values, rewards, dones and
/// outputs of one call share one scalar type (weights may be float or double). Computation is
/// in double; float results are rounded once, when stored. Batch size B >= 1. Inputs are
/// checked finite, results are not: finite values whose target, error or loss exceeds the
/// scalar's range (float Q-values near 3e38, say) give +-inf, as the same arithmetic would
/// anywhere else.

namespace per::dqn {

namespace detail {

template <class Container>
using data_pointer_t = decltype(std::data(std::declval<Container&>()));

template <class Container, class T, class = void>
struct is_viewable_as : std::false_type {};

/// A container can be viewed as T values if std::data gives a pointer convertible to T* (so
/// float* fits const float*, but double* never fits float*) and std::size works.
template <class Container, class T>
struct is_viewable_as<
    Container, T,
    std::void_t<data_pointer_t<Container>, decltype(std::size(std::declval<Container&>()))>>
    : std::is_convertible<data_pointer_t<Container>, T*> {};

} // namespace detail

/// A non-owning view of `size` contiguous values, the C++17 stand-in for std::span<T>: inputs
/// are array_view<const T>, outputs array_view<T>. Built from a pointer and a size (e.g. a
/// LibTorch tensor's data_ptr<float>() and numel()) or implicitly from any contiguous container
/// with std::data and std::size: std::vector, std::array, C arrays, std::span, array_view.
/// The viewed storage must outlive the view. All members are O(1) and never throw;
/// operator[] does not check the index.
template <class T>
class array_view {
public:
    /// The type of the viewed values: const for inputs.
    using element_type = T;
    /// The type of sizes and indices.
    using size_type = std::size_t;

    /// An empty view: data() is null, size() is 0.
    constexpr array_view() noexcept = default;
    /// Views the `size` values that start at `data`.
    constexpr array_view(T* data, size_type size) noexcept
        : m_data(data)
        , m_size(size) {}
    /// Views all of `container`: std::data(container) and std::size(container).
    template <class Container,
              class = std::enable_if_t<detail::is_viewable_as<Container, T>::value>>
    constexpr array_view(Container&& container) noexcept
        : m_data(std::data(container))
        , m_size(std::size(container)) {}

    /// The first viewed value (null for an empty default view).
    constexpr T* data() const noexcept { return m_data; }
    /// The number of viewed values.
    constexpr size_type size() const noexcept { return m_size; }
    /// True if size() is 0.
    constexpr bool empty() const noexcept { return m_size == 0; }
    /// Value `index`; the index is not checked (index < size() is the caller's to ensure).
    constexpr T& operator[](size_type index) const noexcept { return m_data[index]; }
    ///@{
    /// The first value and one past the last, for range-for and the standard algorithms.
    constexpr T* begin() const noexcept { return m_data; }
    constexpr T* end() const noexcept { return m_data + m_size; }
    ///@}

private:
    T* m_data = nullptr;
    size_type m_size = 0;
};

/// `array_view view(container);` views the container's values as array_view<T>, or
/// array_view<const T> for a const container.
template <class Container>
array_view(Container&) -> array_view<std::remove_pointer_t<detail::data_pointer_t<Container>>>;

/// The importance-sampling weights of a batch: float or double values, or none at all (every
/// weight is 1: uniform replay, or PER without the correction). Float and double are both
/// accepted so that a float network can pass the buffer's double weights (batch.weights()) as
/// they are. Built from a pointer and a size or implicitly from any contiguous container of
/// float or double; a default-constructed view (or no_weights) means "no weights", which is not
/// the same as an empty range (that one has size 0 and must match the batch like any other).
/// Non-owning; all members are O(1) and never throw; operator[] does not check the index.
class weights_view {
public:
    /// No weights: every weight is 1, as with no_weights.
    constexpr weights_view() noexcept = default;
    ///@{
    /// Views the `size` weights that start at `data`.
    constexpr weights_view(const float* data, std::size_t size) noexcept
        : m_floats(data)
        , m_size(size)
        , m_has_weights(true) {}
    constexpr weights_view(const double* data, std::size_t size) noexcept
        : m_doubles(data)
        , m_size(size)
        , m_has_weights(true) {}
    ///@}
    /// Views all of a contiguous container of float or double.
    template <class Container, class = std::enable_if_t<
                                   detail::is_viewable_as<const Container&, const float>::value ||
                                   detail::is_viewable_as<const Container&, const double>::value>>
    constexpr weights_view(const Container& container) noexcept
        : weights_view(std::data(container), std::size(container)) {}

    /// False for "no weights" (every weight is 1).
    constexpr bool has_weights() const noexcept { return m_has_weights; }
    /// The address of the viewed weights (float or double); null for "no weights".
    constexpr const void* data() const noexcept {
        return m_doubles ? static_cast<const void*>(m_doubles) : m_floats;
    }
    /// The number of weights; 0 for "no weights".
    constexpr std::size_t size() const noexcept { return m_size; }
    /// Weight i as a double; 1 for "no weights", whatever i.
    constexpr double operator[](std::size_t index) const noexcept {
        return m_doubles ? m_doubles[index] : m_floats ? static_cast<double>(m_floats[index]) : 1.0;
    }

private:
    const float* m_floats = nullptr;
    const double* m_doubles = nullptr;
    std::size_t m_size = 0;
    bool m_has_weights = false;
};

/// "No importance-sampling weights": every weight is 1.
inline constexpr weights_view no_weights{};

/// Per-transition discounts d_i in [0, 1], given in place of the dones: each target is then
/// y_i = r_i + d_i * bootstrap_i, and gamma and n_step are not used (d_i already is gamma^m,
/// or 0 when the episode terminated). This is what per::n_step_writer emits as `discount`,
/// including the shorter tails of truncated episodes (gamma^m with m < n: a time limit within
/// the last n steps), which one gamma^n for the whole batch cannot express. Float or double
/// values, whatever the scalar type of the call (the writer's discounts are double; stored as
/// double, a discount of gamma gives the bits of the dones overloads with n_step 1). Every
/// constructor is explicit, so that a dones range is never taken for discounts:
///
///     per::dqn::td_loss(q_taken, q_next_target, rewards, per::dqn::discounts_view(discounts),
///                       weights, options);
///
/// Non-owning (the values must outlive the call); all members are O(1) and never throw;
/// operator[] does not check the index.
class discounts_view {
public:
    ///@{
    /// Views the `size` discounts that start at `data`.
    constexpr explicit discounts_view(const float* data, std::size_t size) noexcept
        : m_floats(data)
        , m_size(size) {}
    constexpr explicit discounts_view(const double* data, std::size_t size) noexcept
        : m_doubles(data)
        , m_size(size) {}
    ///@}
    /// Views all of a contiguous container of float or double.
    template <class Container, class = std::enable_if_t<
                                   detail::is_viewable_as<const Container&, const float>::value ||
                                   detail::is_viewable_as<const Container&, const double>::value>>
    constexpr explicit discounts_view(const Container& container) noexcept
        : discounts_view(std::data(container), std::size(container)) {}

    /// The address of the viewed discounts (float or double).
    constexpr const void* data() const noexcept {
        return m_doubles ? static_cast<const void*>(m_doubles) : m_floats;
    }
    /// The number of discounts.
    constexpr std::size_t size() const noexcept { return m_size; }
    /// Discount i as a double.
    constexpr double operator[](std::size_t index) const noexcept {
        return m_doubles ? m_doubles[index] : static_cast<double>(m_floats[index]);
    }

private:
    const float* m_floats = nullptr;
    const double* m_doubles = nullptr;
    std::size_t m_size = 0;
};

/// The per-sample loss L(delta) applied to each TD error.
enum class loss_kind {
    /// L(delta) = delta^2 / 2, L'(delta) = delta. With IS weights its gradient is the
    /// w_i delta_i of the PER paper's Algorithm 1.
    squared,
    /// Huber with threshold kappa: L(delta) = delta^2 / 2 for |delta| <= kappa, else
    /// kappa (|delta| - kappa / 2); L'(delta) = delta clamped to [-kappa, kappa]. Quadratic near
    /// 0, linear beyond kappa, continuous with its derivative at |delta| = kappa. With kappa = 1
    /// this is DQN's "TD error clipped to [-1, 1]" (the gradient is clipped, not the error), and
    /// PyTorch's HuberLoss(delta = kappa), which for kappa = 1 is also SmoothL1Loss().
    huber,
};

/// The settings of td_loss. Setters return *this, so options read as one expression:
///
///     per::dqn::td_loss_options{}.gamma(0.99).n_step(3).loss(per::dqn::loss_kind::huber)
///
/// Values are checked when td_loss uses them (through validate), so an invalid intermediate
/// value while chaining is harmless.
class td_loss_options {
public:
    ///@{
    /// Discount factor per step, in [0, 1]. Default 0.99.
    double gamma() const noexcept { return m_gamma; }
    td_loss_options& gamma(double value) noexcept {
        m_gamma = value;
        return *this;
    }
    ///@}

    ///@{
    /// Steps n of an n-step return, >= 1: the bootstrap is discounted by gamma^n, and the caller
    /// passes as rewards the discounted n-step sums r_t + gamma r_{t+1} + ... +
    /// gamma^(n-1) r_{t+n-1}, and as next Q-values those of the state n steps later (an episode
    /// that ends sooner: its shorter sum and done = 1). Default 1.
    int n_step() const noexcept { return m_n_step; }
    td_loss_options& n_step(int value) noexcept {
        m_n_step = value;
        return *this;
    }
    ///@}

    ///@{
    /// The per-sample loss L (see loss_kind). Default squared (0.5 delta^2).
    per::dqn::loss_kind loss() const noexcept { return m_loss; }
    td_loss_options& loss(per::dqn::loss_kind value) noexcept {
        m_loss = value;
        return *this;
    }
    ///@}

    ///@{
    /// kappa of the Huber loss, > 0 (infinity makes it the squared loss). Default 1. Unused by
    /// the squared loss.
    double huber_threshold() const noexcept { return m_huber_threshold; }
    td_loss_options& huber_threshold(double value) noexcept {
        m_huber_threshold = value;
        return *this;
    }
    ///@}

    ///@{
    /// Double DQN targets (the PER paper's Algorithm 1): the online network picks the next
    /// action, the target network values it. td_loss then needs q_next_online. Default false.
    bool double_dqn() const noexcept { return m_double_dqn; }
    td_loss_options& double_dqn(bool value) noexcept {
        m_double_dqn = value;
        return *this;
    }
    ///@}

    ///@{
    /// Priorities are |delta| clipped to [0, priority_clip], > 0; the PER paper's Atari runs
    /// clip TD errors to [-1, 1], i.e. priority_clip 1. Default infinity: no clipping.
    double priority_clip() const noexcept { return m_priority_clip; }
    td_loss_options& priority_clip(double value) noexcept {
        m_priority_clip = value;
        return *this;
    }
    ///@}

    /// O(1). Throws std::invalid_argument naming the first invalid option and its value; `where`
    /// names the caller in the message.
    void validate(const char* where) const;

private:
    double m_gamma = 0.99;
    int m_n_step = 1;
    per::dqn::loss_kind m_loss = loss_kind::squared;
    double m_huber_threshold = 1.0;
    bool m_double_dqn = false;
    double m_priority_clip = std::numeric_limits<double>::infinity();
};

/// Everything td_loss computes for a batch of B transitions; each vector has B values.
template <class T>
struct loss_result {
    T loss = 0;                ///< (1 / B) sum_i w_i L(delta_i)
    std::vector<T> targets;    ///< y_i
    std::vector<T> td_errors;  ///< delta_i = y_i - q_taken_i
    std::vector<T> gradient;   ///< d loss / d q_taken_i = -(w_i / B) L'(delta_i)
    std::vector<T> priorities; ///< min(|delta_i|, priority_clip): pass to update_priorities
};

namespace detail {

using per::detail::throw_invalid_argument;

inline std::string element_name(const char* range, std::size_t index) {
    return std::string(range) + "[" + std::to_string(index) + "]";
}

inline std::string size_name(const char* range) {
    return std::string(range) + ".size()";
}

inline void check_gamma(const char* where, double gamma) {
    if (!(gamma >= 0.0 && gamma <= 1.0)) {
        throw_invalid_argument(where, "gamma", gamma, "must be in [0, 1]");
    }
}

inline void check_n_step(const char* where, int n_step) {
    if (n_step < 1) {
        throw_invalid_argument(where, "n_step", n_step, "must be >= 1");
    }
}

inline void check_loss(const char* where, loss_kind kind, double huber_threshold) {
    if (kind != loss_kind::squared && kind != loss_kind::huber) {
        throw_invalid_argument(where, "loss", static_cast<int>(kind),
                               "is not a per::dqn::loss_kind");
    }
    if (kind == loss_kind::huber && !(huber_threshold > 0.0)) {
        throw_invalid_argument(where, "huber_threshold", huber_threshold, "must be > 0");
    }
}

inline void check_clip(const char* where, const char* name, double clip) {
    if (!(clip > 0.0)) {
        throw_invalid_argument(where, name, clip, "must be > 0");
    }
}

/// The batch size B is the size of the first per-sample range; a batch needs one sample.
/// A view of `size` > 0 values at a null address (a pointer-and-size view built from an
/// unallocated tensor, say) is rejected before anything reads or writes through it.
inline void check_data(const char* where, const char* name, const void* data, std::size_t size) {
    if (data == nullptr && size > 0) {
        throw_invalid_argument(where, (std::string(name) + ".data()").c_str(), "nullptr",
                               "must point to " + size_name(name) + " = " + std::to_string(size) +
                                   " values");
    }
}

inline std::size_t check_batch(const char* where, const char* name, const void* data,
                               std::size_t size) {
    if (size == 0) {
        throw_invalid_argument(where, size_name(name).c_str(), size, "must be > 0 (empty batch)");
    }
    check_data(where, name, data, size);
    return size;
}

inline void check_size(const char* where, const char* name, const void* data, std::size_t size,
                       const char* batch_name, std::size_t batch) {
    if (size != batch) {
        throw_invalid_argument(where, size_name(name).c_str(), size,
                               "must equal " + size_name(batch_name) + " = " +
                                   std::to_string(batch));
    }
    check_data(where, name, data, size);
}

/// A row-major B x A matrix of Q-values; returns A, the number of actions.
inline std::size_t check_q_matrix(const char* where, const char* name, const void* data,
                                  std::size_t size, const char* batch_name, std::size_t batch) {
    if (size == 0 || size % batch != 0) {
        throw_invalid_argument(where, size_name(name).c_str(), size,
                               "must be batch x num_actions with num_actions >= 1: a non-zero "
                               "multiple of " +
                                   size_name(batch_name) + " = " + std::to_string(batch));
    }
    check_data(where, name, data, size);
    return size / batch;
}

template <class T>
void check_finite(const char* where, const char* name, array_view<const T> values) {
    for (std::size_t i = 0; i < values.size(); ++i) {
        if (!std::isfinite(values[i])) {
            throw_invalid_argument(where, element_name(name, i).c_str(), values[i],
                                   "must be finite");
        }
    }
}

template <class T>
void check_dones(const char* where, array_view<const T> dones) {
    for (std::size_t i = 0; i < dones.size(); ++i) {
        if (!(dones[i] == T(0) || dones[i] == T(1))) {
            throw_invalid_argument(where, element_name("dones", i).c_str(), dones[i],
                                   "must be 0 or 1");
        }
    }
}

inline void check_discounts(const char* where, discounts_view discounts) {
    for (std::size_t i = 0; i < discounts.size(); ++i) {
        if (!(discounts[i] >= 0.0 && discounts[i] <= 1.0)) {
            throw_invalid_argument(where, element_name("discounts", i).c_str(), discounts[i],
                                   "must be in [0, 1]");
        }
    }
}

inline void check_weights(const char* where, weights_view weights, std::size_t batch,
                          const char* batch_name) {
    if (!weights.has_weights()) {
        return;
    }
    check_size(where, "weights", weights.data(), weights.size(), batch_name, batch);
    for (std::size_t i = 0; i < weights.size(); ++i) {
        if (!(std::isfinite(weights[i]) && weights[i] >= 0.0)) {
            throw_invalid_argument(where, element_name("weights", i).c_str(), weights[i],
                                   "must be finite and >= 0");
        }
    }
}

// --- The arithmetic, on validated input. Intermediates are double, so float inputs are rounded
// --- once, when the result is stored.

/// The first index of the largest value: ties go to the lowest action index.
template <class T>
std::size_t argmax(const T* row, std::size_t num_actions) {
    std::size_t best = 0;
    for (std::size_t a = 1; a < num_actions; ++a) {
        if (row[a] > row[best]) {
            best = a;
        }
    }
    return best;
}

/// How a target discounts its bootstrap: gamma^n (1 - done_i), or a given d_i.
template <class T>
struct bootstrap_discount {
    const T* dones = nullptr;                  // with gamma^n, unless discounts are given
    const discounts_view* discounts = nullptr; // d_i, per transition
    double gamma_n = 1.0;

    double operator()(std::size_t i) const noexcept {
        return discounts ? (*discounts)[i] : gamma_n * (1.0 - static_cast<double>(dones[i]));
    }
};

/// q_next_online is null for vanilla DQN: the target network then both picks and values the
/// next action.
template <class T>
void write_targets(array_view<const T> rewards, bootstrap_discount<T> discount,
                   array_view<const T> q_next_target, const T* q_next_online,
                   array_view<T> targets) {
    const std::size_t num_actions = q_next_target.size() / rewards.size();
    for (std::size_t i = 0; i < rewards.size(); ++i) {
        const T* target_row = q_next_target.data() + i * num_actions;
        const T* chooser_row = q_next_online ? q_next_online + i * num_actions : target_row;
        const double bootstrap = static_cast<double>(target_row[argmax(chooser_row, num_actions)]);
        targets[i] = static_cast<T>(static_cast<double>(rewards[i]) + discount(i) * bootstrap);
    }
}

template <class T>
void write_td_errors(array_view<const T> targets, array_view<const T> q_taken,
                     array_view<T> td_errors) {
    for (std::size_t i = 0; i < targets.size(); ++i) {
        td_errors[i] =
            static_cast<T>(static_cast<double>(targets[i]) - static_cast<double>(q_taken[i]));
    }
}

inline double element_loss(double delta, loss_kind kind, double huber_threshold) {
    const double magnitude = std::fabs(delta);
    if (kind == loss_kind::squared || magnitude <= huber_threshold) {
        return 0.5 * delta * delta;
    }
    return huber_threshold * (magnitude - 0.5 * huber_threshold);
}

/// dL / d delta.
inline double element_loss_derivative(double delta, loss_kind kind, double huber_threshold) {
    if (kind == loss_kind::squared || std::fabs(delta) <= huber_threshold) {
        return delta;
    }
    return delta > 0.0 ? huber_threshold : -huber_threshold;
}

template <class T>
double mean_weighted_loss(array_view<const T> td_errors, weights_view weights, loss_kind kind,
                          double huber_threshold) {
    double sum = 0.0;
    for (std::size_t i = 0; i < td_errors.size(); ++i) {
        sum += weights[i] * element_loss(static_cast<double>(td_errors[i]), kind, huber_threshold);
    }
    return sum / static_cast<double>(td_errors.size());
}

/// delta = y - q, so d loss / d q = -(w / B) dL / d delta.
template <class T>
void write_gradient(array_view<const T> td_errors, weights_view weights, loss_kind kind,
                    double huber_threshold, array_view<T> gradient) {
    const double batch = static_cast<double>(td_errors.size());
    for (std::size_t i = 0; i < td_errors.size(); ++i) {
        const double derivative =
            element_loss_derivative(static_cast<double>(td_errors[i]), kind, huber_threshold);
        gradient[i] = static_cast<T>(-weights[i] * derivative / batch);
    }
}

template <class T>
void write_priorities(array_view<const T> td_errors, double clip, array_view<T> priorities) {
    for (std::size_t i = 0; i < td_errors.size(); ++i) {
        const double magnitude = std::fabs(static_cast<double>(td_errors[i]));
        priorities[i] = static_cast<T>(magnitude < clip ? magnitude : clip);
    }
}

// --- Validation plus arithmetic: the bodies of the public float and double overloads.

/// The size of the dones or, when `discounts` is given, of the discounts, against the batch.
template <class T>
void check_discount_size(const char* where, array_view<const T> dones,
                         const discounts_view* discounts, const char* batch_name,
                         std::size_t batch) {
    if (discounts) {
        check_size(where, "discounts", discounts->data(), discounts->size(), batch_name, batch);
    } else {
        check_size(where, "dones", dones.data(), dones.size(), batch_name, batch);
    }
}

/// The values of the dones (0 or 1) or of the discounts (in [0, 1]), sizes already checked.
template <class T>
bootstrap_discount<T> checked_discount(const char* where, array_view<const T> dones,
                                       const discounts_view* discounts, double gamma, int n_step) {
    if (discounts) {
        check_discounts(where, *discounts);
        return {nullptr, discounts, 1.0};
    }
    check_dones(where, dones);
    return {dones.data(), nullptr, std::pow(gamma, n_step)};
}

template <class T>
void td_targets(const char* where, array_view<const T> rewards, array_view<const T> dones,
                const discounts_view* discounts, array_view<const T> q_next_target,
                const array_view<const T>* q_next_online, array_view<T> targets, double gamma,
                int n_step) {
    if (!discounts) {
        check_gamma(where, gamma);
        check_n_step(where, n_step);
    }
    const std::size_t batch = check_batch(where, "rewards", rewards.data(), rewards.size());
    check_discount_size(where, dones, discounts, "rewards", batch);
    check_q_matrix(where, "q_next_target", q_next_target.data(), q_next_target.size(), "rewards",
                   batch);
    if (q_next_online) {
        check_size(where, "q_next_online", q_next_online->data(), q_next_online->size(),
                   "q_next_target", q_next_target.size());
    }
    check_size(where, "targets", targets.data(), targets.size(), "rewards", batch);
    check_finite(where, "rewards", rewards);
    const bootstrap_discount<T> discount = checked_discount(where, dones, discounts, gamma, n_step);
    check_finite(where, "q_next_target", q_next_target);
    if (q_next_online) {
        check_finite(where, "q_next_online", *q_next_online);
    }
    write_targets(rewards, discount, q_next_target, q_next_online ? q_next_online->data() : nullptr,
                  targets);
}

template <class T>
void td_errors(array_view<const T> targets, array_view<const T> q_taken, array_view<T> td_errors) {
    const char* where = "per::dqn::td_errors";
    const std::size_t batch = check_batch(where, "targets", targets.data(), targets.size());
    check_size(where, "q_taken", q_taken.data(), q_taken.size(), "targets", batch);
    check_size(where, "td_errors", td_errors.data(), td_errors.size(), "targets", batch);
    check_finite(where, "targets", targets);
    check_finite(where, "q_taken", q_taken);
    write_td_errors(targets, q_taken, td_errors);
}

template <class T>
void check_loss_inputs(const char* where, array_view<const T> td_errors, weights_view weights,
                       loss_kind kind, double huber_threshold) {
    check_loss(where, kind, huber_threshold);
    const std::size_t batch = check_batch(where, "td_errors", td_errors.data(), td_errors.size());
    check_weights(where, weights, batch, "td_errors");
    check_finite(where, "td_errors", td_errors);
}

template <class T>
T weighted_loss(array_view<const T> td_errors, weights_view weights, loss_kind kind,
                double huber_threshold) {
    check_loss_inputs("per::dqn::weighted_loss", td_errors, weights, kind, huber_threshold);
    return static_cast<T>(mean_weighted_loss(td_errors, weights, kind, huber_threshold));
}

template <class T>
void loss_gradient(array_view<const T> td_errors, weights_view weights, array_view<T> gradient,
                   loss_kind kind, double huber_threshold) {
    const char* where = "per::dqn::loss_gradient";
    check_loss_inputs(where, td_errors, weights, kind, huber_threshold);
    check_size(where, "gradient", gradient.data(), gradient.size(), "td_errors", td_errors.size());
    write_gradient(td_errors, weights, kind, huber_threshold, gradient);
}

template <class T>
void priorities_from_td_errors(array_view<const T> td_errors, array_view<T> priorities,
                               double clip) {
    const char* where = "per::dqn::priorities_from_td_errors";
    check_clip(where, "clip", clip);
    const std::size_t batch = check_batch(where, "td_errors", td_errors.data(), td_errors.size());
    check_size(where, "priorities", priorities.data(), priorities.size(), "td_errors", batch);
    check_finite(where, "td_errors", td_errors);
    write_priorities(td_errors, clip, priorities);
}

template <class T>
loss_result<T> td_loss(array_view<const T> q_taken, array_view<const T> q_next_target,
                       array_view<const T> rewards, array_view<const T> dones,
                       const discounts_view* discounts, weights_view weights,
                       const td_loss_options& options, array_view<const T> q_next_online) {
    const char* where = "per::dqn::td_loss";
    options.validate(where);
    const std::size_t batch = check_batch(where, "q_taken", q_taken.data(), q_taken.size());
    check_size(where, "rewards", rewards.data(), rewards.size(), "q_taken", batch);
    check_discount_size(where, dones, discounts, "q_taken", batch);
    check_q_matrix(where, "q_next_target", q_next_target.data(), q_next_target.size(), "q_taken",
                   batch);
    if (options.double_dqn()) {
        check_size(where, "q_next_online", q_next_online.data(), q_next_online.size(),
                   "q_next_target", q_next_target.size());
    } else if (!q_next_online.empty()) {
        throw_invalid_argument(where, "q_next_online.size()", q_next_online.size(),
                               "must be 0 unless options.double_dqn() is set");
    }
    check_weights(where, weights, batch, "q_taken");
    check_finite(where, "q_taken", q_taken);
    check_finite(where, "rewards", rewards);
    const bootstrap_discount<T> discount =
        checked_discount(where, dones, discounts, options.gamma(), options.n_step());
    check_finite(where, "q_next_target", q_next_target);
    check_finite(where, "q_next_online", q_next_online);

    loss_result<T> result;
    result.targets.resize(batch);
    result.td_errors.resize(batch);
    result.gradient.resize(batch);
    result.priorities.resize(batch);
    const T* chooser = options.double_dqn() ? q_next_online.data() : nullptr;
    write_targets(rewards, discount, q_next_target, chooser, array_view<T>(result.targets));
    write_td_errors(array_view<const T>(result.targets), q_taken, array_view<T>(result.td_errors));
    const array_view<const T> td_errors(result.td_errors);
    result.loss = static_cast<T>(
        mean_weighted_loss(td_errors, weights, options.loss(), options.huber_threshold()));
    write_gradient(td_errors, weights, options.loss(), options.huber_threshold(),
                   array_view<T>(result.gradient));
    write_priorities(td_errors, options.priority_clip(), array_view<T>(result.priorities));
    return result;
}

} // namespace detail

inline void td_loss_options::validate(const char* where) const {
    detail::check_gamma(where, m_gamma);
    detail::check_n_step(where, m_n_step);
    detail::check_loss(where, m_loss, m_huber_threshold);
    detail::check_clip(where, "priority_clip", m_priority_clip);
}

///@{
/// O(B A). Vanilla DQN targets y_i = r_i + gamma^n (1 - done_i) max_a q_next_target[i * A + a],
/// written to targets. A = q_next_target.size() / B. dones are 0 or 1: a terminal transition
/// (1) does not bootstrap; an episode cut by a time limit is not terminal (pass 0). For n-step
/// returns see td_loss_options::n_step. targets may be the rewards or dones range itself.
/// Throws std::invalid_argument if gamma is outside [0, 1], n_step < 1, rewards is empty,
/// dones or targets differ in size from rewards, q_next_target.size() is not a non-zero
/// multiple of B, a reward or Q-value is not finite, or a done flag is not 0 or 1.
/// targets is unchanged on throw.
inline void td_targets(array_view<const float> rewards, array_view<const float> dones,
                       array_view<const float> q_next_target, array_view<float> targets,
                       double gamma, int n_step = 1) {
    detail::td_targets<float>("per::dqn::td_targets", rewards, dones, nullptr, q_next_target,
                              nullptr, targets, gamma, n_step);
}
inline void td_targets(array_view<const double> rewards, array_view<const double> dones,
                       array_view<const double> q_next_target, array_view<double> targets,
                       double gamma, int n_step = 1) {
    detail::td_targets<double>("per::dqn::td_targets", rewards, dones, nullptr, q_next_target,
                               nullptr, targets, gamma, n_step);
}
///@}

///@{
/// O(B A). Double DQN targets y_i = r_i + gamma^n (1 - done_i) q_next_target[i * A + a*], where
/// a* = argmax_a q_next_online[i * A + a] is chosen by the online network; among equal values
/// the lowest action index wins (as torch.argmax and numpy.argmax do). Otherwise as
/// td_targets, and throws as td_targets does, also if q_next_online differs in size from
/// q_next_target or holds a value that is not finite. targets is unchanged on throw.
inline void double_dqn_td_targets(array_view<const float> rewards, array_view<const float> dones,
                                  array_view<const float> q_next_online,
                                  array_view<const float> q_next_target, array_view<float> targets,
                                  double gamma, int n_step = 1) {
    detail::td_targets<float>("per::dqn::double_dqn_td_targets", rewards, dones, nullptr,
                              q_next_target, &q_next_online, targets, gamma, n_step);
}
inline void double_dqn_td_targets(array_view<const double> rewards, array_view<const double> dones,
                                  array_view<const double> q_next_online,
                                  array_view<const double> q_next_target,
                                  array_view<double> targets, double gamma, int n_step = 1) {
    detail::td_targets<double>("per::dqn::double_dqn_td_targets", rewards, dones, nullptr,
                               q_next_target, &q_next_online, targets, gamma, n_step);
}
///@}

///@{
/// O(B A). Targets with a discount per transition, y_i = r_i + d_i max_a q_next_target[i * A + a]
/// (td_targets) or y_i = r_i + d_i q_next_target[i * A + a*] with a* chosen by q_next_online
/// (double_dqn_td_targets): the d_i of `discounts` replace gamma^n (1 - done_i), for n-step
/// transitions of varying length such as per::n_step_writer's (see discounts_view). A d_i of 0
/// is a terminal transition. Otherwise as the overloads with dones, and throws as they do,
/// with "discounts" in place of "dones": also if a discount is outside [0, 1] or not a number.
/// targets is unchanged on throw.
inline void td_targets(array_view<const float> rewards, discounts_view discounts,
                       array_view<const float> q_next_target, array_view<float> targets) {
    detail::td_targets<float>("per::dqn::td_targets", rewards, {}, &discounts, q_next_target,
                              nullptr, targets, 1.0, 1);
}
inline void td_targets(array_view<const double> rewards, discounts_view discounts,
                       array_view<const double> q_next_target, array_view<double> targets) {
    detail::td_targets<double>("per::dqn::td_targets", rewards, {}, &discounts, q_next_target,
                               nullptr, targets, 1.0, 1);
}
inline void double_dqn_td_targets(array_view<const float> rewards, discounts_view discounts,
                                  array_view<const float> q_next_online,
                                  array_view<const float> q_next_target,
                                  array_view<float> targets) {
    detail::td_targets<float>("per::dqn::double_dqn_td_targets", rewards, {}, &discounts,
                              q_next_target, &q_next_online, targets, 1.0, 1);
}
inline void double_dqn_td_targets(array_view<const double> rewards, discounts_view discounts,
                                  array_view<const double> q_next_online,
                                  array_view<const double> q_next_target,
                                  array_view<double> targets) {
    detail::td_targets<double>("per::dqn::double_dqn_td_targets", rewards, {}, &discounts,
                               q_next_target, &q_next_online, targets, 1.0, 1);
}
///@}

///@{
/// O(B). TD errors delta_i = targets[i] - q_taken[i], written to td_errors (which may be the
/// targets or q_taken range itself). Throws std::invalid_argument if targets is empty, q_taken
/// or td_errors differ in size from it, or a value is not finite. td_errors is unchanged on
/// throw.
inline void td_errors(array_view<const float> targets, array_view<const float> q_taken,
                      array_view<float> td_errors) {
    detail::td_errors<float>(targets, q_taken, td_errors);
}
inline void td_errors(array_view<const double> targets, array_view<const double> q_taken,
                      array_view<double> td_errors) {
    detail::td_errors<double>(targets, q_taken, td_errors);
}
///@}

///@{
/// O(B). The importance-weighted mean loss (1 / B) sum_i w_i L(delta_i), with L chosen by kind
/// (huber_threshold is kappa, used by the Huber loss only). Pass no_weights (or {}) for
/// weights of 1. Throws std::invalid_argument if kind is not a loss_kind, the Huber threshold is
/// not > 0, td_errors is empty, weights are given and differ in size from it, a TD error is not
/// finite, or a weight is negative or not finite.
inline float weighted_loss(array_view<const float> td_errors, weights_view weights = no_weights,
                           loss_kind kind = loss_kind::squared, double huber_threshold = 1.0) {
    return detail::weighted_loss<float>(td_errors, weights, kind, huber_threshold);
}
inline double weighted_loss(array_view<const double> td_errors, weights_view weights = no_weights,
                            loss_kind kind = loss_kind::squared, double huber_threshold = 1.0) {
    return detail::weighted_loss<double>(td_errors, weights, kind, huber_threshold);
}
///@}

///@{
/// O(B). The gradient of weighted_loss with respect to each q_taken_i, with the targets held
/// constant: since delta_i = y_i - q_taken_i, gradient[i] = -(w_i / B) L'(delta_i). This is
/// what autograd would back-propagate from the loss into Q(s_i, a_i): in LibTorch,
/// q_taken.backward(gradient) then gives the network's parameter gradients. (-B gradient[i] is
/// the w_i delta_i that the PER paper's Algorithm 1 accumulates, for the squared loss.)
/// gradient may be the td_errors range itself. Throws as weighted_loss does, also if gradient
/// differs in size from td_errors. gradient is unchanged on throw.
inline void loss_gradient(array_view<const float> td_errors, weights_view weights,
                          array_view<float> gradient, loss_kind kind = loss_kind::squared,
                          double huber_threshold = 1.0) {
    detail::loss_gradient<float>(td_errors, weights, gradient, kind, huber_threshold);
}
inline void loss_gradient(array_view<const double> td_errors, weights_view weights,
                          array_view<double> gradient, loss_kind kind = loss_kind::squared,
                          double huber_threshold = 1.0) {
    detail::loss_gradient<double>(td_errors, weights, gradient, kind, huber_threshold);
}
///@}

///@{
/// O(B). New priorities min(|delta_i|, clip) for the buffer's update_priorities (which adds
/// its epsilon). Default clip: infinity, i.e. none. priorities may be the td_errors range
/// itself. Throws std::invalid_argument if clip is not > 0, td_errors is empty, priorities
/// differs in size from it, or a TD error is not finite. priorities is unchanged on throw.
inline void priorities_from_td_errors(array_view<const float> td_errors,
                                      array_view<float> priorities,
                                      double clip = std::numeric_limits<double>::infinity()) {
    detail::priorities_from_td_errors<float>(td_errors, priorities, clip);
}
inline void priorities_from_td_errors(array_view<const double> td_errors,
                                      array_view<double> priorities,
                                      double clip = std::numeric_limits<double>::infinity()) {
    detail::priorities_from_td_errors<double>(td_errors, priorities, clip);
}
///@}

///@{
/// O(B A) time, O(B) memory. The whole learner step of one batch: targets (DQN, or Double DQN
/// when options.double_dqn() is set, which then needs q_next_online of the same size as
/// q_next_target), TD errors, the weighted loss, its gradient with respect to q_taken, and the
/// priorities; see the functions above for each formula and loss_result for the fields. The
/// batch size B is q_taken.size(). Results equal those of the lower-level functions composed.
/// Throws std::invalid_argument, naming the argument and its value, if an option is invalid
/// (td_loss_options::validate), q_taken is empty, rewards or dones differ in size from it,
/// q_next_target.size() is not a non-zero multiple of B, q_next_online is missing or of the
/// wrong size with double_dqn, or given without it, weights are given and differ in size from
/// B, any input value is not finite, a done flag is not 0 or 1, a weight is negative, or a view
/// of one or more values has a null data(); and std::bad_alloc if memory runs out. Inputs are
/// never modified.
inline loss_result<float> td_loss(array_view<const float> q_taken,
                                  array_view<const float> q_next_target,
                                  array_view<const float> rewards, array_view<const float> dones,
                                  weights_view weights = no_weights,
                                  const td_loss_options& options = {},
                                  array_view<const float> q_next_online = {}) {
    return detail::td_loss<float>(q_taken, q_next_target, rewards, dones, nullptr, weights, options,
                                  q_next_online);
}
inline loss_result<double> td_loss(array_view<const double> q_taken,
                                   array_view<const double> q_next_target,
                                   array_view<const double> rewards, array_view<const double> dones,
                                   weights_view weights = no_weights,
                                   const td_loss_options& options = {},
                                   array_view<const double> q_next_online = {}) {
    return detail::td_loss<double>(q_taken, q_next_target, rewards, dones, nullptr, weights,
                                   options, q_next_online);
}
///@}

///@{
/// O(B A) time, O(B) memory. td_loss with a discount per transition: the d_i of `discounts`
/// replace gamma^n (1 - done_i) in the targets (see discounts_view), and options.gamma() and
/// options.n_step() are not used (still validated). For per::n_step_writer's transitions:
///
///     per::dqn::td_loss(q_taken, q_next_target, rewards, per::dqn::discounts_view(discounts),
///                       batch.weights(), options, q_next_online);
///
/// Otherwise as td_loss with dones; throws as it does, with "discounts" in place of "dones":
/// also if a discount is outside [0, 1] or not a number.
inline loss_result<float> td_loss(array_view<const float> q_taken,
                                  array_view<const float> q_next_target,
                                  array_view<const float> rewards, discounts_view discounts,
                                  weights_view weights = no_weights,
                                  const td_loss_options& options = {},
                                  array_view<const float> q_next_online = {}) {
    return detail::td_loss<float>(q_taken, q_next_target, rewards, {}, &discounts, weights, options,
                                  q_next_online);
}
inline loss_result<double> td_loss(array_view<const double> q_taken,
                                   array_view<const double> q_next_target,
                                   array_view<const double> rewards, discounts_view discounts,
                                   weights_view weights = no_weights,
                                   const td_loss_options& options = {},
                                   array_view<const double> q_next_online = {}) {
    return detail::td_loss<double>(q_taken, q_next_target, rewards, {}, &discounts, weights,
                                   options, q_next_online);
}
///@}

} // namespace per::dqn

#endif // PER_DQN_LOSS_HPP
