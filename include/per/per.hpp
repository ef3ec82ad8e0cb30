#ifndef PER_PER_HPP
#define PER_PER_HPP

/// @file
/// The umbrella header: the library's core in one include.

// The library's core in one include: the data structures, the samplers, the replay buffers,
// importance sampling and the schedules. Each header below also works on its own, for code that
// wants only a part (e.g. <per/sum_tree.hpp> for the data structure alone).
//
// Not included, so that the umbrella stays cheap to compile (no iostreams, no test oracles):
// - <per/checkpoint.hpp>       save / load to std::ostream / std::istream;
// - <per/dqn_loss.hpp>         the learner's TD targets and weighted loss;
// - <per/naive_replay.hpp>, <per/naive_rank_based.hpp>  the O(N) reference buffers (test
//                              oracles and benchmark baselines, not for real use).
#include "basic_sampler.hpp"
#include "importance.hpp"
#include "min_tree.hpp"
#include "prioritized_replay.hpp"
#include "prioritized_sampler.hpp"
#include "random.hpp"
#include "rank_based.hpp"
#include "rank_based_sampler.hpp"
#include "replay_batch.hpp"
#include "replay_buffer.hpp"
#include "replay_handle.hpp"
#include "replay_options.hpp"
#include "sample_batch.hpp"
#include "schedule.hpp"
#include "sum_tree.hpp"
#include "version.hpp"

#endif // PER_PER_HPP
