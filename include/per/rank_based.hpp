#ifndef PER_RANK_BASED_HPP
#define PER_RANK_BASED_HPP

/// @file
/// rank_based_replay<Item>: the replay buffer with rank-based prioritization.

#include "rank_based_sampler.hpp"
#include "replay_buffer.hpp"

namespace per {

/// The replay buffer with rank-based prioritization: replay_buffer with the rank-based
/// sampler (see rank_index in rank_based_sampler.hpp for the semantics). The same type as
/// prioritized_replay<Item, rank_based_sampler>.
template <class Item>
using rank_based_replay = replay_buffer<Item, rank_based_sampler>;

} // namespace per

#endif // PER_RANK_BASED_HPP
