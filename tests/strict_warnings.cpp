// Every public header under the warnings a demanding user may turn on (-Wshadow, -Wconversion,
// -Wsign-conversion, -Wold-style-cast, -Wdouble-promotion, -Wcast-qual, ...; the list is in
// tests/CMakeLists.txt), with the README's snippets as the code that instantiates the templates.
// The headers come first, so their lines are compiled with every warning on, and so is each
// template instantiated below them (a warning points at the header's line). The snippets' own
// code then follows with two warnings off: snippets re-declare the context's names (`buffer`,
// `beta`) on purpose and declare values they only show. Built as part of the tests; the presets'
// -Werror turns any warning from a header into a failed build.
#include <per/basic_sampler.hpp>
#include <per/checkpoint.hpp>
#include <per/concurrent_replay.hpp>
#include <per/dqn_loss.hpp>
#include <per/frame_stack.hpp>
#include <per/importance.hpp>
#include <per/min_tree.hpp>
#include <per/n_step.hpp>
#include <per/naive_rank_based.hpp>
#include <per/naive_replay.hpp>
#include <per/per.hpp>
#include <per/prioritized_replay.hpp>
#include <per/prioritized_sampler.hpp>
#include <per/random.hpp>
#include <per/rank_based.hpp>
#include <per/rank_based_sampler.hpp>
#include <per/rate_limit.hpp>
#include <per/replay_batch.hpp>
#include <per/replay_buffer.hpp>
#include <per/replay_handle.hpp>
#include <per/replay_options.hpp>
#include <per/sample_batch.hpp>
#include <per/sampler_state.hpp>
#include <per/schedule.hpp>
#include <per/sequence.hpp>
#include <per/sum_tree.hpp>
#include <per/version.hpp>

#if defined(__GNUC__) || defined(__clang__)
#pragma GCC diagnostic ignored "-Wshadow"
#pragma GCC diagnostic ignored "-Wunused-variable"
#pragma GCC diagnostic ignored "-Wunused-but-set-variable"
#endif
#include "readme_snippets.cpp" // generated from README.md into the build tree
