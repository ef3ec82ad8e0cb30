#ifndef PER_PER_HPP
#define PER_PER_HPP

// The whole public library in one include. Each header below also works on its own, for code
// that wants only a part (e.g. <per/sum_tree.hpp> for the data structure alone).
#include "checkpoint.hpp"
#include "dqn_loss.hpp"
#include "importance.hpp"
#include "min_tree.hpp"
#include "naive_rank_based.hpp"
#include "naive_replay.hpp"
#include "prioritized_replay.hpp"
#include "prioritized_sampler.hpp"
#include "rank_based.hpp"
#include "replay_batch.hpp"
#include "replay_options.hpp"
#include "sample_batch.hpp"
#include "schedule.hpp"
#include "sum_tree.hpp"
#include "version.hpp"

#endif // PER_PER_HPP
