#ifndef PER_PRIORITIZED_REPLAY_HPP
#define PER_PRIORITIZED_REPLAY_HPP

/// @file
/// prioritized_replay<Item, Sampler>: the replay buffer, proportional by default.

#include "prioritized_sampler.hpp"
#include "replay_buffer.hpp"

namespace per {

/// The prioritized replay buffer, proportional by default: replay_buffer (replay_buffer.hpp)
/// over a Sampler. What the PER tutorials' users want, in O(log N):
///
///     per::prioritized_replay<Transition> buffer(100'000, per::replay_options{}.alpha(0.6));
///     buffer.push(transition);                             // gets max_priority()
///     auto batch = buffer.sample(64, beta, rng);          // items, handles, weights, P(i)
///     buffer.update_priorities(batch.handles(), td_errors); // |delta|; epsilon added here
///
/// P(i) = (p_i + epsilon)^alpha / sum over the items present (proportional_index in
/// prioritized_sampler.hpp); prioritized_replay<Item, rank_based_sampler> is rank-based.
template <class Item, class Sampler = prioritized_sampler>
using prioritized_replay = replay_buffer<Item, Sampler>;

} // namespace per

#endif // PER_PRIORITIZED_REPLAY_HPP
