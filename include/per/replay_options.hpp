#ifndef PER_REPLAY_OPTIONS_HPP
#define PER_REPLAY_OPTIONS_HPP

#include "detail/error.hpp"
#include "importance.hpp"

#include <cmath>

/// @file
/// per::replay_options and per::sampling_mode: what configures a sampler or a replay buffer.

namespace per {

/// How a batch of B items is drawn from the priority distribution P(i).
enum class sampling_mode {
    /// One draw in each of B equal slices of the total priority (the PER paper's method, and
    /// OpenAI baselines'): lower variance than independent draws, same marginal P(i) per draw
    /// when averaged over the slices. Items may repeat when one item's priority spans slices.
    stratified,
    /// B independent draws with replacement (tutorial 1: numpy.random.choice with p).
    independent,
    /// B distinct items, each draw proportional to the priorities of the items not drawn yet
    /// (successive sampling; tutorials 2 and 3). Needs B <= number of items with non-zero
    /// priority. The reported probability of an item is its single-draw P(i).
    without_replacement,
};

/// Everything that configures a prioritized sampler or replay buffer. Setters return *this, so
/// options read as one expression:
///
///     per::replay_options{}.alpha(0.7).sampling(per::sampling_mode::without_replacement)
///
/// Values are checked when the options are used (a sampler's constructor calls validate()), so
/// an invalid intermediate value while chaining is harmless.
class replay_options {
public:
    ///@{
    /// Priority exponent: P(i) = p_i^alpha / sum_k p_k^alpha. 0 is uniform sampling, 1 fully
    /// proportional. Must be finite and >= 0. Default 0.6 (the paper's proportional variant).
    double alpha() const noexcept { return m_alpha; }
    replay_options& alpha(double value) noexcept {
        m_alpha = value;
        return *this;
    }
    ///@}

    ///@{
    /// Added to every priority before the exponent, so that an item with zero TD error keeps a
    /// chance to be replayed: stored value (p + epsilon)^alpha. Must be finite and >= 0.
    /// Default 1e-6. With epsilon 0, priority 0 means "never sampled".
    double epsilon() const noexcept { return m_epsilon; }
    replay_options& epsilon(double value) noexcept {
        m_epsilon = value;
        return *this;
    }
    ///@}

    ///@{
    /// The running maximum priority before any priority was given: what the first items get.
    /// Must be finite and >= 0. Default 1.
    double initial_max_priority() const noexcept { return m_initial_max_priority; }
    replay_options& initial_max_priority(double value) noexcept {
        m_initial_max_priority = value;
        return *this;
    }
    ///@}

    ///@{
    /// How batches are drawn (see sampling_mode). Default stratified (the paper).
    per::sampling_mode sampling() const noexcept { return m_sampling; }
    replay_options& sampling(per::sampling_mode value) noexcept {
        m_sampling = value;
        return *this;
    }
    ///@}

    ///@{
    /// How importance-sampling weights are scaled (see weight_normalization). Default global_max
    /// (the paper, OpenAI baselines).
    per::weight_normalization normalization() const noexcept { return m_normalization; }
    replay_options& normalization(per::weight_normalization value) noexcept {
        m_normalization = value;
        return *this;
    }
    ///@}

    /// Throws std::invalid_argument naming the first invalid option and its value; `where` names
    /// the caller in the message.
    void validate(const char* where) const {
        check_non_negative(where, "alpha", m_alpha);
        check_non_negative(where, "epsilon", m_epsilon);
        check_non_negative(where, "initial_max_priority", m_initial_max_priority);
        if (m_sampling != sampling_mode::stratified && m_sampling != sampling_mode::independent &&
            m_sampling != sampling_mode::without_replacement) {
            detail::throw_invalid_argument(where, "sampling", static_cast<int>(m_sampling),
                                           "is not a per::sampling_mode");
        }
        if (m_normalization != weight_normalization::global_max &&
            m_normalization != weight_normalization::batch_max &&
            m_normalization != weight_normalization::none) {
            detail::throw_invalid_argument(where, "normalization",
                                           static_cast<int>(m_normalization),
                                           "is not a per::weight_normalization");
        }
    }

private:
    static void check_non_negative(const char* where, const char* name, double value) {
        if (!(std::isfinite(value) && value >= 0.0)) {
            detail::throw_invalid_argument(where, name, value, "must be finite and >= 0");
        }
    }

    double m_alpha = 0.6;
    double m_epsilon = 1e-6;
    double m_initial_max_priority = 1.0;
    per::sampling_mode m_sampling = sampling_mode::stratified;
    per::weight_normalization m_normalization = weight_normalization::global_max;
};

} // namespace per

#endif // PER_REPLAY_OPTIONS_HPP
