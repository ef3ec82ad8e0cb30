// Concurrent rows: one learner thread and A actor threads on one buffer, for a fixed wall time:
//   concurrent/<design>/<N>/<A>        the learner loops over training steps (a sample of 256
//                                      with IS weights and probabilities, the 256 items copied
//                                      out, then update_priorities of 256 at the sampled
//                                      handles); each of the A actors loops over push_batch of
//                                      32 items with their priorities, as fast as it can
//   concurrent/solo_learner/<N>/0      the learner loop alone on a prioritized_replay, no lock
//   concurrent/solo_actor/<N>/1        one actor loop alone on a prioritized_replay, no lock
//   concurrent/<design>_paced/<N>/1   the same with one actor held to paced_rate items per
//                                      second (an environment-bound actor): the learner's
//                                      share there is the first target
// Designs: mutex (one std::mutex around a per::prioritized_replay: the learner locks, samples
// into a replay_batch, copies the 256 items into its own vector and unlocks, then locks again
// for update_priorities; an actor locks for each push_batch) and shards_<S> (a
// per::concurrent_replay with S shards; its sample copies the items into a concurrent_batch).
// N is 2^20 and A runs over 0 (the learner alone on the design), 1, 2, 4 and 8.
//
// These rows measure rates, not the time of one call: each run starts the threads, lets them
// loop for a fixed wall time (10 x --benchmark_min_time: 0.5 s in the bench preset, 0.01 s in
// bench-smoke), stops them and reports learner steps per second and actor items per second
// (manual counters, one iteration, real time), with the CPU time the learner and the actors
// used, the learner's waits and preemptions, and the CPU time the machine's other processes took
// meanwhile (on a shared 2-core machine, one busy neighbour leaves the threads one core). The
// solo rows measure the same loops in the same run, so that the report can express a concurrent
// row as cores' worth of work: learner rate / solo learner rate + actor rate / solo actor rate.
//
// Workload as in the other rows (workload.hpp): buffers are filled to capacity with
// initial_priorities(N) before timing; the learner's new priorities and the actors' push
// priorities come from the update pool, the pushed items from item_for. The learner draws with
// replayed_bits (one generator, its own, replaying sampling_words(); per::uniform_unit takes
// the top 53 bits of a draw, as unit_interval does); actors draw nothing. A buffer is built
// once per design and shared by its rows: pushes and updates keep it full with priorities from
// the same distribution.
#include "structures.hpp"
#include "workload.hpp"

#include <per/concurrent_replay.hpp>
#include <per/prioritized_replay.hpp>

#include <benchmark/benchmark.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <fstream>
#include <functional>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <sys/resource.h>
#include <unistd.h>

namespace per_bench {
namespace {

constexpr std::size_t concurrent_n = std::size_t{1} << 20;
constexpr std::size_t learner_batch = 256;
constexpr std::size_t actor_batch = 32;
// 0: the learner alone on the design (what its locks and shards cost without contention).
constexpr std::size_t actor_counts[] = {0, 1, 2, 4, 8};
constexpr std::size_t shard_counts[] = {1, 2, 4};
// Actor a pushes from pool entry a * actor_stride on, so that actors push different items.
constexpr std::size_t actor_stride = pool_size / 8;

constexpr const char* operation = "concurrent";

// The paced rows' actor rate: the issue's "while the actor pushes at least 1 million items per
// second".
constexpr double paced_rate = 1e6;

// The wall time of one run of a row (set by register_concurrent_benchmarks).
double row_seconds = 0.5;

using concurrent_buffer = per::concurrent_replay<transition>;

// The read-only input every thread shares: the priority pool and the items to push.
struct push_input {
    update_pool pool;
    std::vector<transition> items;
};
push_input make_push_input(std::size_t n) {
    push_input input{make_update_pool(n), std::vector<transition>(pool_size)};
    for (std::size_t j = 0; j < pool_size; ++j) {
        input.items[j] = item_for(j);
    }
    return input;
}

// A full prioritized_replay (solo and mutex rows).
struct plain_fixture {
    library_buffer buffer;
    push_input input;
    std::mutex mutex; // the mutex design's lock
};

// A full concurrent_replay of S shards, filled 32 items at a time as the actors push (one
// push_batch goes to one shard, so the shards fill evenly).
struct concurrent_fixture {
    std::unique_ptr<concurrent_buffer> replay;
    push_input input;
};
std::unique_ptr<concurrent_buffer> make_full_concurrent(std::size_t n, std::size_t shards) {
    auto replay = std::make_unique<concurrent_buffer>(n, library_options(),
                                                      per::concurrent_options{}.shards(shards));
    const std::vector<double> priorities = initial_priorities(n);
    std::vector<transition> items(actor_batch);
    for (std::size_t first = 0; first < n; first += actor_batch) {
        const std::size_t count = std::min(actor_batch, n - first);
        for (std::size_t k = 0; k < count; ++k) {
            items[k] = item_for(first + k);
        }
        replay->push_batch(items.data(), priorities.data() + first, count);
    }
    return replay;
}

// The fixture of a design, shared by its rows (row_fixture keys it by this name).
row_parameters fixture_key(const std::string& structure, std::size_t n) {
    return row_parameters{std::string(operation) + "/" + structure + "/" + std::to_string(n), n, 0};
}
plain_fixture& plain_buffer(std::size_t n) {
    // Held through a pointer: the mutex makes the fixture immovable.
    return *row_fixture(fixture_key("prioritized_replay", n), [n] {
        return std::unique_ptr<plain_fixture>(
            new plain_fixture{make_full_buffer<library_buffer>(n), make_push_input(n), {}});
    });
}

// A thread's CPU time and context switches so far: voluntary ones are waits (a lock held by
// another thread), involuntary ones preemptions. Linux's RUSAGE_THREAD; zeros elsewhere.
struct thread_usage {
    double cpu_seconds = 0.0;
    double waits = 0.0;
    double preemptions = 0.0;

    static thread_usage now() noexcept {
        thread_usage usage;
#if defined(RUSAGE_THREAD)
        rusage self{};
        if (getrusage(RUSAGE_THREAD, &self) == 0) {
            const auto seconds = [](const timeval& time) {
                return static_cast<double>(time.tv_sec) + 1e-6 * static_cast<double>(time.tv_usec);
            };
            usage.cpu_seconds = seconds(self.ru_utime) + seconds(self.ru_stime);
            usage.waits = static_cast<double>(self.ru_nvcsw);
            usage.preemptions = static_cast<double>(self.ru_nivcsw);
        }
#endif
        return usage;
    }
    thread_usage since(const thread_usage& start) const noexcept {
        return {cpu_seconds - start.cpu_seconds, waits - start.waits,
                preemptions - start.preemptions};
    }
};

// The CPU time every process of the machine has used so far (Linux's /proc/stat, steal time
// included; 0 elsewhere): with the threads' own, it tells how much of the machine other work
// took during a window (the suite runs on shared machines).
double machine_busy_seconds() {
    std::ifstream stat("/proc/stat");
    std::string cpu;
    double user = 0.0, nice = 0.0, system = 0.0, idle = 0.0, iowait = 0.0, irq = 0.0;
    double softirq = 0.0, steal = 0.0;
    if (!(stat >> cpu >> user >> nice >> system >> idle >> iowait >> irq >> softirq >> steal) ||
        cpu != "cpu") {
        return 0.0;
    }
    const long ticks = sysconf(_SC_CLK_TCK);
    return ticks > 0 ? (user + nice + system + irq + softirq + steal) / static_cast<double>(ticks)
                     : 0.0;
}

// What the threads of one run did within its window.
struct window_counts {
    std::uint64_t learner_steps = 0;
    std::uint64_t actor_items = 0;
    thread_usage learner;             // the learner thread's, over its loop
    double actor_cpu_seconds = 0.0;   // the actors' together
    double machine_cpu_seconds = 0.0; // every process's, over the window
    double seconds = 0.0;
    std::string error; // the first exception a thread caught (the run then stops)
};

// Starts the learner thread (if `learner`) and `actors` actor threads, releases them at once,
// lets them loop for `seconds` of wall time and stops them. learn(k) is the learner's k-th step,
// act(a, k) actor a's k-th push of actor_batch items; both run until the stop flag is seen, so
// the step in flight at the end counts (microseconds against a window of milliseconds at least).
// `on_stop` runs right after the stop flag is set (the rate-limited rows close their buffer
// there, so that no thread waits for the limit past the window).
template <class Learn, class Act>
window_counts run_window(double seconds, bool learner, std::size_t actors, Learn& learn, Act& act,
                         const std::function<void()>& on_stop) {
    std::atomic<bool> go{false};
    std::atomic<bool> stop{false};
    std::mutex error_mutex;
    window_counts counts;
    std::vector<std::uint64_t> pushes(actors, 0); // per actor, written once at its end
    std::vector<thread_usage> actor_usage(actors);
    // Runs step(0), step(1), ... until the stop flag and returns the count; `usage` receives
    // the thread's CPU time and switches over the loop.
    const auto loop = [&](auto&& step, thread_usage& usage) -> std::uint64_t {
        while (!go.load(std::memory_order_acquire)) {
            std::this_thread::yield();
        }
        const thread_usage start = thread_usage::now();
        std::uint64_t done = 0;
        try {
            while (!stop.load(std::memory_order_relaxed)) {
                step(done);
                ++done;
            }
        } catch (const std::exception& error) {
            const std::lock_guard<std::mutex> lock(error_mutex);
            if (counts.error.empty()) {
                counts.error = error.what();
            }
            stop.store(true, std::memory_order_relaxed);
        }
        usage = thread_usage::now().since(start);
        return done;
    };
    std::vector<std::thread> threads;
    threads.reserve(actors + 1);
    if (learner) {
        threads.emplace_back([&] { counts.learner_steps = loop(learn, counts.learner); });
    }
    for (std::size_t a = 0; a < actors; ++a) {
        threads.emplace_back([&, a] {
            pushes[a] = loop([&](std::uint64_t k) { act(a, k); }, actor_usage[a]) * actor_batch;
        });
    }
    using clock = std::chrono::steady_clock;
    const double busy_before = machine_busy_seconds();
    const clock::time_point start = clock::now();
    go.store(true, std::memory_order_release);
    std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
    stop.store(true, std::memory_order_relaxed);
    const clock::time_point end = clock::now();
    if (on_stop) {
        on_stop();
    }
    counts.machine_cpu_seconds = machine_busy_seconds() - busy_before;
    for (std::thread& thread : threads) {
        thread.join();
    }
    for (std::size_t a = 0; a < actors; ++a) {
        counts.actor_items += pushes[a];
        counts.actor_cpu_seconds += actor_usage[a].cpu_seconds;
    }
    counts.seconds = std::chrono::duration<double>(end - start).count();
    return counts;
}

// One iteration (Iterations(1), real time: main registers these rows so): the window, then
// its rates as counters.
// `on_stop` as in run_window; `recount(counts)` may replace the loop counts by what the buffer
// itself counted (the rate-limited rows: a call that the limit or close() turned away is no
// step and no push).
template <class Learn, class Act>
void run_row(benchmark::State& state, bool learner, std::size_t actors, Learn& learn, Act& act,
             const std::function<void()>& on_stop = {},
             const std::function<void(window_counts&)>& recount = {}) {
    window_counts counts;
    for (auto _ : state) {
        counts = run_window(row_seconds, learner, actors, learn, act, on_stop);
    }
    if (recount) {
        recount(counts);
    }
    if (!counts.error.empty()) {
        state.SkipWithError(counts.error.c_str());
        return;
    }
    state.counters["learner_steps_per_second"] =
        static_cast<double>(counts.learner_steps) / counts.seconds;
    state.counters["actor_items_per_second"] =
        static_cast<double>(counts.actor_items) / counts.seconds;
    state.counters["learner_steps"] = static_cast<double>(counts.learner_steps);
    state.counters["actor_items"] = static_cast<double>(counts.actor_items);
    state.counters["window_seconds"] = counts.seconds;
    state.counters["actors"] = static_cast<double>(actors);
    // Where the time went: the cores' worth of CPU each side used, and how often the learner
    // waited (mostly for a lock) or was preempted.
    state.counters["learner_cpu_share"] = counts.learner.cpu_seconds / counts.seconds;
    state.counters["actor_cpu_share"] = counts.actor_cpu_seconds / counts.seconds;
    // The other processes' share of the machine meanwhile (/proc/stat's granularity is 10 ms).
    const double own = counts.learner.cpu_seconds + counts.actor_cpu_seconds;
    state.counters["others_cpu_share"] =
        counts.machine_cpu_seconds > 0.0
            ? std::max(0.0, counts.machine_cpu_seconds - own) / counts.seconds
            : 0.0;
    state.counters["learner_waits"] = counts.learner.waits;
    state.counters["learner_preemptions"] = counts.learner.preemptions;
}

std::size_t learner_first(std::uint64_t step) {
    return static_cast<std::size_t>(step * learner_batch) & pool_mask;
}
std::size_t actor_first(std::size_t actor, std::uint64_t push) {
    return (actor * actor_stride + static_cast<std::size_t>(push * actor_batch)) & pool_mask;
}

// Wraps an actor step so that the actors together push at most `rate` items per second (0: no
// limit): before its k-th batch an actor sleeps while it is more than 100 us ahead of its
// schedule of rate / actors items per second from its first batch on. The rate then holds on
// average over the window, whatever the sleeps' granularity.
template <class Act>
auto paced_actor(Act& act, std::size_t actors, double rate) {
    using clock = std::chrono::steady_clock;
    auto starts = std::make_shared<std::vector<clock::time_point>>(actors);
    return [&act, starts, actors, rate](std::size_t actor, std::uint64_t push) {
        if (rate > 0.0) {
            if (push == 0) {
                (*starts)[actor] = clock::now();
            }
            const double due = static_cast<double>(push * actor_batch) *
                               static_cast<double>(actors) / rate; // seconds from the start
            const auto at = (*starts)[actor] + std::chrono::duration_cast<clock::duration>(
                                                   std::chrono::duration<double>(due));
            while (clock::now() + std::chrono::microseconds(100) < at) {
                std::this_thread::sleep_for(std::chrono::microseconds(50));
            }
        }
        act(actor, push);
    };
}

// The learner and actor loops on a prioritized_replay, with the fixture's mutex taken around
// each call when Locked (the mutex design) and without it for the solo rows. The learner
// copies the sampled items out under the lock, so that it owns them as a concurrent_batch
// does.
template <bool Locked>
void plain_row(benchmark::State& state, bool learner, std::size_t actors, double rate = 0.0) {
    plain_fixture& fixture = plain_buffer(concurrent_n);
    library_buffer& buffer = fixture.buffer;
    const push_input& input = fixture.input;
    const auto guard = [&fixture] {
        std::unique_lock<std::mutex> lock(fixture.mutex, std::defer_lock);
        if constexpr (Locked) {
            lock.lock();
        }
        return lock;
    };
    replayed_bits generator;
    per::replay_batch<transition> batch;
    std::vector<transition> items;
    items.reserve(learner_batch);
    auto learn = [&](std::uint64_t step) {
        {
            const auto lock = guard();
            buffer.sample(learner_batch, beta, generator, batch);
            items.clear();
            for (std::size_t k = 0; k < learner_batch; ++k) {
                items.push_back(batch[k]);
            }
        }
        benchmark::DoNotOptimize(items.data());
        const auto lock = guard();
        benchmark::DoNotOptimize(buffer.update_priorities(
            batch.handles().data(), input.pool.priorities.data() + learner_first(step),
            learner_batch));
    };
    auto act = [&](std::size_t actor, std::uint64_t push) {
        const std::size_t first = actor_first(actor, push);
        const auto lock = guard();
        buffer.push_batch(input.items.data() + first, input.pool.priorities.data() + first,
                          actor_batch);
    };
    auto paced = paced_actor(act, actors, rate);
    run_row(state, learner, actors, learn, paced);
}

void solo_learner_row(benchmark::State& state) {
    plain_row<false>(state, true, 0);
}
void solo_actor_row(benchmark::State& state) {
    plain_row<false>(state, false, 1);
}
void mutex_row(benchmark::State& state, std::size_t actors, double rate) {
    plain_row<true>(state, true, actors, rate);
}

// The same loops on a concurrent_replay of S shards (no rate limit: every call returns ok).
void shards_row(benchmark::State& state, std::size_t shards, std::size_t actors, double rate) {
    concurrent_fixture& fixture =
        row_fixture(fixture_key("shards_" + std::to_string(shards), concurrent_n), [shards] {
            return concurrent_fixture{make_full_concurrent(concurrent_n, shards),
                                      make_push_input(concurrent_n)};
        });
    concurrent_buffer& replay = *fixture.replay;
    const push_input& input = fixture.input;
    replayed_bits generator;
    per::concurrent_batch<transition> batch;
    auto learn = [&](std::uint64_t step) {
        if (replay.sample(learner_batch, beta, generator, batch) != per::replay_status::ok) {
            throw std::logic_error("concurrent_replay::sample did not return ok");
        }
        benchmark::DoNotOptimize(batch.items().data());
        benchmark::DoNotOptimize(replay.update_priorities(
            batch.handles().data(), input.pool.priorities.data() + learner_first(step),
            learner_batch));
    };
    auto act = [&](std::size_t actor, std::uint64_t push) {
        const std::size_t first = actor_first(actor, push);
        replay.push_batch(input.items.data() + first, input.pool.priorities.data() + first,
                          actor_batch);
    };
    auto paced = paced_actor(act, actors, rate);
    run_row(state, true, actors, learn, paced);
}

// The same loops on a new concurrent_replay of 2 shards with a rate limit of one sample per
// insert (Reverb's SampleToInsertRatio, error buffer 2^16 items, counted from a full buffer):
// actors that get ahead wait, asleep, for the learner, instead of taking the cores from it.
// Each row builds its own buffer (close() at the end of the window ends the waits); steps and
// pushes are what the limiter counted as completed.
constexpr double limited_samples_per_insert = 1.0;
constexpr double limited_error_buffer = 65536.0;
void limited_row(benchmark::State& state, std::size_t actors) {
    const per::rate_limit limit = per::rate_limit::sample_to_insert_ratio(
        limited_samples_per_insert, concurrent_n, limited_error_buffer);
    auto replay = std::make_unique<concurrent_buffer>(
        concurrent_n, library_options(), per::concurrent_options{}.shards(2).limit(limit));
    {
        const std::vector<double> priorities = initial_priorities(concurrent_n);
        std::vector<transition> items(actor_batch);
        for (std::size_t first = 0; first < concurrent_n; first += actor_batch) {
            for (std::size_t k = 0; k < actor_batch; ++k) {
                items[k] = item_for(first + k);
            }
            replay->push_batch(items.data(), priorities.data() + first, actor_batch);
        }
    }
    const push_input& input =
        row_fixture(fixture_key("limited_input", concurrent_n),
                    [] { return std::make_unique<push_input>(make_push_input(concurrent_n)); })
            .
            operator*();
    replayed_bits generator;
    per::concurrent_batch<transition> batch;
    auto learn = [&](std::uint64_t step) {
        if (replay->sample(learner_batch, beta, generator, batch) == per::replay_status::ok) {
            benchmark::DoNotOptimize(batch.items().data());
            benchmark::DoNotOptimize(replay->update_priorities(
                batch.handles().data(), input.pool.priorities.data() + learner_first(step),
                learner_batch));
        }
    };
    auto act = [&](std::size_t actor, std::uint64_t push) {
        const std::size_t first = actor_first(actor, push);
        replay->push_batch(input.items.data() + first, input.pool.priorities.data() + first,
                           actor_batch);
    };
    const per::rate_counters before = replay->rate_counts();
    run_row(
        state, true, actors, learn, act, [&] { replay->close(); },
        [&](window_counts& counts) {
            const per::rate_counters after = replay->rate_counts();
            counts.learner_steps =
                (after.samples_completed - before.samples_completed) / learner_batch;
            counts.actor_items = after.inserts_completed - before.inserts_completed;
        });
}

std::string concurrent_row_name(const std::string& design, std::size_t actors) {
    return std::string(operation) + "/" + design + "/" + std::to_string(concurrent_n) + "/" +
           std::to_string(actors);
}

} // namespace

void register_concurrent_benchmarks(double seconds) {
    row_seconds = seconds;
    // The references first, then each design (its rows share its buffer).
    register_row(concurrent_row_name("solo_learner", 0), 0, solo_learner_row);
    register_row(concurrent_row_name("solo_actor", 1), 0, solo_actor_row);
    for (std::size_t actors : actor_counts) {
        register_row(concurrent_row_name("mutex", actors), 0, mutex_row, actors, 0.0);
    }
    register_row(concurrent_row_name("mutex_paced", 1), 0, mutex_row, std::size_t{1}, paced_rate);
    for (std::size_t shards : shard_counts) {
        const std::string design = "shards_" + std::to_string(shards);
        for (std::size_t actors : actor_counts) {
            register_row(concurrent_row_name(design, actors), 0, shards_row, shards, actors, 0.0);
        }
        register_row(concurrent_row_name(design + "_paced", 1), 0, shards_row, shards,
                     std::size_t{1}, paced_rate);
    }
    for (std::size_t actors : actor_counts) {
        if (actors > 0) { // alone, the learner would wait for inserts once 2^16 samples ahead
            register_row(concurrent_row_name("shards_2_ratio", actors), 0, limited_row, actors);
        }
    }
}

double concurrent_row_seconds(const std::string& name) {
    return name.rfind(std::string(operation) + "/", 0) == 0 ? row_seconds : 0.0;
}

} // namespace per_bench
