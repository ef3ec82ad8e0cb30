// Plain state (per/sampler_state.hpp): every sampler and buffer exports its complete state with
// export_state() and imports one with import_state(), which rebuilds an indistinguishable object
// (tests/state_snapshot.hpp: every observer, generations, ranks, the age order, probe batches)
// or, for a state it could not hold, throws std::invalid_argument naming the field and its
// value and leaves the object exactly as it was. The naive rank-based buffer's checkpoints
// (kind 6) go through the same state.
#include <per/checkpoint.hpp>
#include <per/detail/state_validation.hpp>
#include <per/naive_rank_based.hpp>
#include <per/naive_replay.hpp>
#include <per/prioritized_replay.hpp>
#include <per/prioritized_sampler.hpp>
#include <per/rank_based.hpp>
#include <per/sampler_state.hpp>

#include "checkpoint_bytes.hpp"
#include "checkpoint_round_trip.hpp"
#include "per_catch.hpp"
#include "state_snapshot.hpp"

#include <cstddef>
#include <cstdint>
#include <functional>
#include <limits>
#include <memory>
#include <random>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

namespace {

namespace bytes = per_test::checkpoint_bytes;
using per::checkpoint_errc;
using per::rank_based_sampler;
using per::replay_handle;
using per::replay_options;
using per::replay_state;
using per::sampler_state;
using per::sampling_mode;
using per::weight_normalization;
using per_test::hex;
using per_test::load_error;
using per_test::load_from;
using per_test::require_same_batches;
using per_test::saved;
using per_test::state;

constexpr double not_a_number = std::numeric_limits<double>::quiet_NaN();
constexpr double infinite = std::numeric_limits<double>::infinity();

// Every field of a sampler_state, exactly (doubles as hex floats).
std::string text_of(const sampler_state& state) {
    std::string text = per_test::options_text(state.options) + " max_priority " +
                       hex(state.max_priority) + " fill_count " + std::to_string(state.fill_count) +
                       "\ngenerations:";
    for (std::uint32_t generation : state.generations) {
        text += " " + std::to_string(generation);
    }
    text += "\nfilled:";
    for (unsigned char flag : state.filled) {
        text += " " + std::to_string(flag);
    }
    text += "\npriorities:";
    for (double priority : state.priorities) {
        text += " " + hex(priority);
    }
    text += "\nfill_stamps:";
    for (std::uint64_t stamp : state.fill_stamps) {
        text += " " + std::to_string(stamp);
    }
    return text;
}

template <class Item>
std::string text_of(const replay_state<Item>& state) {
    std::string text =
        text_of(state.sampler) + "\nnext_slot " + std::to_string(state.next_slot) + "\nitems:";
    for (const Item& item : state.items) {
        text += " " + per_test::item_text(item);
    }
    return text;
}

// A priority with ties: 0, 1, 2 or 3, sometimes something in between.
double tied_priority(std::mt19937_64& engine) {
    const std::size_t pick = per::uniform_below(engine, 6);
    return pick == 5 ? 3.0 * per::uniform_unit(engine) : static_cast<double>(pick % 4);
}

// A sampler with a history: fills with and without a priority, overwrites, erasures, updates
// through current and stale handles, and an alpha change.
template <class Sampler>
void give_history(Sampler& sampler, std::uint64_t seed) {
    std::mt19937_64 engine(seed);
    std::vector<replay_handle> handles;
    for (int step = 0; step < 150; ++step) {
        const std::size_t slot = per::uniform_below(engine, sampler.capacity());
        const double pick = per::uniform_unit(engine);
        if (pick < 0.45) {
            handles.push_back(sampler.fill(slot, tied_priority(engine)));
        } else if (pick < 0.6) {
            handles.push_back(sampler.fill(slot));
        } else if (pick < 0.7) {
            sampler.erase(slot);
        } else if (!handles.empty()) {
            sampler.update_priority(handles[per::uniform_below(engine, handles.size())],
                                    tied_priority(engine));
        }
    }
    sampler.set_alpha(0.8);
}

// A buffer with a history: pushes with and without a priority (wrapping the ring), updates
// through current and stale handles, and an alpha change.
template <class Buffer>
void give_pushes(Buffer& buffer, int pushes, std::uint64_t seed) {
    std::mt19937_64 engine(seed);
    std::vector<replay_handle> handles;
    for (int i = 0; i < pushes; ++i) {
        handles.push_back(i % 4 == 0 ? buffer.push(10 * i) : buffer.push(10 * i, i % 3));
        if (i % 3 == 0) {
            buffer.update_priority(handles[per::uniform_below(engine, handles.size())],
                                   tied_priority(engine));
        }
    }
    buffer.set_alpha(0.5);
}

// `import` of `bad` must throw std::invalid_argument whose message contains `message`, and
// leave `target` as it was (state snapshot and exported state).
template <class Object, class State>
void require_rejected(Object& target, State bad, const std::string& message) {
    CAPTURE(message);
    const std::string before = state(target);
    const std::string exported_before = text_of(target.export_state());
    try {
        target.import_state(std::move(bad));
        FAIL("import_state accepted an invalid state");
    } catch (const std::invalid_argument& error) {
        CAPTURE(error.what());
        REQUIRE_THAT(error.what(), PER_CONTAINS(message));
    }
    REQUIRE(state(target) == before);
    REQUIRE(text_of(target.export_state()) == exported_before);
}

// One invalid variant of a valid state: what to change, and part of the message it must give.
template <class State>
struct mutation {
    const char* message;
    std::function<void(State&)> apply;
};

} // namespace

// --- Round trips --------------------------------------------------------------------------

TEMPLATE_TEST_CASE("a proportional sampler round trips through its plain state", "[state]",
                   per::sum_tree<double>, per::sum_tree<float>) {
    using sampler_type = per::basic_prioritized_sampler<TestType>;
    for (sampling_mode mode : {sampling_mode::stratified, sampling_mode::without_replacement}) {
        CAPTURE(static_cast<int>(mode));
        sampler_type original(
            29, replay_options{}.epsilon(0.01).initial_max_priority(1.5).sampling(mode));
        give_history(original, 3);
        const sampler_state exported = original.export_state();
        REQUIRE(exported.generations.size() == 29);
        REQUIRE(exported.priorities.size() == original.size());
        REQUIRE(exported.fill_count == 0);
        REQUIRE(exported.fill_stamps.empty());

        sampler_type imported(4, replay_options{}.alpha(0.1)); // replaced entirely
        imported.import_state(exported);
        REQUIRE(state(imported) == state(original));
        REQUIRE(text_of(imported.export_state()) == text_of(exported));
        REQUIRE(imported.memory_bytes() == original.memory_bytes());
        require_same_batches(original, imported, 7, 11);
        original.fill(28, 2.5);
        imported.fill(28, 2.5);
        REQUIRE(state(imported) == state(original));
    }
}

TEST_CASE("export_state describes the slots as documented", "[state]") {
    per::prioritized_sampler proportional(4, replay_options{}.initial_max_priority(2.0));
    proportional.fill(3, 0.5);
    proportional.fill(1);
    proportional.fill(2, 7.0);
    proportional.erase(2);
    const sampler_state a = proportional.export_state();
    REQUIRE(a.generations == std::vector<std::uint32_t>{0, 1, 1, 1});
    REQUIRE(a.filled == std::vector<unsigned char>{0, 1, 0, 1});
    REQUIRE(a.priorities == std::vector<double>{2.0, 0.5}); // slot order
    REQUIRE(a.max_priority == 7.0);
    REQUIRE(a.fill_count == 0);
    REQUIRE(a.fill_stamps.empty());

    rank_based_sampler ranked(4);
    ranked.fill(3, 1.0);
    ranked.fill(0, 1.0);
    ranked.fill(3, 2.0); // refilled: stamp 3
    const sampler_state b = ranked.export_state();
    REQUIRE(b.generations == std::vector<std::uint32_t>{1, 0, 0, 2});
    REQUIRE(b.filled == std::vector<unsigned char>{1, 0, 0, 1});
    REQUIRE(b.priorities == std::vector<double>{1.0, 2.0});
    REQUIRE(b.fill_count == 3);
    REQUIRE(b.fill_stamps == std::vector<std::uint64_t>{2, 3});

    per::naive_rank_based_replay<int> naive(3);
    for (int i = 0; i < 4; ++i) {
        naive.push(i, 1.0); // slot 0 pushed again: stamp 4
    }
    const replay_state<int> c = naive.export_state();
    REQUIRE(c.sampler.fill_count == 4);
    REQUIRE(c.sampler.fill_stamps == std::vector<std::uint64_t>{4, 2, 3});
    REQUIRE(c.sampler.filled == std::vector<unsigned char>{1, 1, 1});
    REQUIRE(c.next_slot == 1);
    REQUIRE(c.items == std::vector<int>{3, 1, 2});
    REQUIRE(text_of(naive.export_sampler_state()) == text_of(c.sampler));
}

TEST_CASE("a rank-based sampler round trips with its ranks and ties", "[state][rank_based]") {
    rank_based_sampler original(31, replay_options{}.alpha(0.7).epsilon(0.01));
    give_history(original, 5);
    REQUIRE(original.size() > 10);
    const sampler_state exported = original.export_state();
    REQUIRE(exported.fill_stamps.size() == original.size());

    rank_based_sampler imported(2, replay_options{}.alpha(4.0));
    imported.import_state(exported);
    REQUIRE(state(imported) == state(original));
    REQUIRE(text_of(imported.export_state()) == text_of(exported));
    require_same_batches(original, imported, 9, 2);

    SECTION("a state written by hand: stamps decide the ties") {
        sampler_state by_hand;
        by_hand.options = replay_options{}.alpha(1.0);
        by_hand.max_priority = 5.0;
        by_hand.generations = {1, 0, 2, 1};
        by_hand.filled = {1, 0, 1, 1};
        by_hand.priorities = {5.0, 5.0, 0.0};
        by_hand.fill_count = 4; // = the sum of the generations
        by_hand.fill_stamps = {2, 4, 1};
        imported.import_state(by_hand);
        REQUIRE(imported.capacity() == 4);
        REQUIRE(imported.slot_of_rank(1) == 2); // stamp 4 beats stamp 2 at priority 5
        REQUIRE(imported.slot_of_rank(2) == 0);
        REQUIRE(imported.slot_of_rank(3) == 3);
        REQUIRE(imported.fill(1).generation == 1);
        REQUIRE(imported.rank(1) == 1); // max priority 5 and the newest stamp
        REQUIRE(imported.export_state().fill_count == 5);
    }
}

TEST_CASE("replay buffers round trip through their plain state", "[state]") {
    SECTION("prioritized_replay") {
        per::prioritized_replay<int> original(8);
        give_pushes(original, 19, 1);
        per::prioritized_replay<int> imported(2);
        imported.import_state(original.export_state());
        REQUIRE(state(imported) == state(original));
        REQUIRE(text_of(imported.export_state()) == text_of(original.export_state()));
        REQUIRE(text_of(original.export_sampler_state()) ==
                text_of(original.sampler().export_state()));
        require_same_batches(original, imported, 5, 3);
        REQUIRE(original.push(1) == imported.push(1));
        REQUIRE(state(imported) == state(original));
    }
    SECTION("rank_based_replay") {
        per::rank_based_replay<int> original(8, replay_options{}.alpha(0.7));
        give_pushes(original, 21, 2);
        per::rank_based_replay<int> imported(2);
        imported.import_state(original.export_state());
        REQUIRE(state(imported) == state(original));
        REQUIRE(text_of(imported.export_state()) == text_of(original.export_state()));
        require_same_batches(original, imported, 5, 3);
        REQUIRE(original.push(1) == imported.push(1));
        REQUIRE(state(imported) == state(original));
    }
    SECTION("naive_prioritized_replay") {
        per::naive_prioritized_replay<int> original(8);
        give_pushes(original, 5, 3); // not full
        per::naive_prioritized_replay<int> imported(2);
        imported.import_state(original.export_state());
        REQUIRE(state(imported) == state(original));
        REQUIRE(text_of(imported.export_state()) == text_of(original.export_state()));
        require_same_batches(original, imported, 5, 3);
        REQUIRE(original.push(1) == imported.push(1));
        REQUIRE(state(imported) == state(original));
    }
    SECTION("naive_rank_based_replay") {
        per::naive_rank_based_replay<int> original(8, replay_options{}.alpha(0.7));
        give_pushes(original, 21, 4);
        per::naive_rank_based_replay<int> imported(2);
        imported.import_state(original.export_state());
        REQUIRE(state(imported) == state(original));
        REQUIRE(text_of(imported.export_state()) == text_of(original.export_state()));
        require_same_batches(original, imported, 5, 3);
        REQUIRE(original.push(1, 0.0) == imported.push(1, 0.0));
        REQUIRE(state(imported) == state(original));
    }
    SECTION("the tree and naive buffers export the same state for the same history") {
        per::rank_based_replay<int> tree(6);
        per::naive_rank_based_replay<int> naive(6);
        give_pushes(tree, 15, 5);
        give_pushes(naive, 15, 5);
        REQUIRE(text_of(tree.export_state()) == text_of(naive.export_state()));
        per::prioritized_replay<int> proportional(6);
        per::naive_prioritized_replay<int> naive_proportional(6);
        give_pushes(proportional, 4, 6);
        give_pushes(naive_proportional, 4, 6);
        REQUIRE(text_of(proportional.export_state()) == text_of(naive_proportional.export_state()));
    }
}

TEST_CASE("import_state takes the items by move", "[state]") {
    const auto state_of = [](std::vector<std::unique_ptr<int>> items) {
        replay_state<std::unique_ptr<int>> state;
        state.sampler.generations.assign(4, 1);
        state.sampler.generations[3] = 0;
        state.sampler.filled = {1, 1, 1, 0};
        state.sampler.priorities = {1.0, 0.5, 2.0};
        state.sampler.max_priority = 2.0;
        state.next_slot = 3;
        state.items = std::move(items);
        return state;
    };
    std::vector<std::unique_ptr<int>> items;
    for (int i = 0; i < 3; ++i) {
        items.push_back(std::make_unique<int>(i));
    }
    const int* middle = items[1].get();
    per::prioritized_replay<std::unique_ptr<int>> buffer(2);
    buffer.import_state(state_of(std::move(items)));
    REQUIRE(buffer.size() == 3);
    REQUIRE(buffer.item(1).get() == middle);
    REQUIRE(buffer.priority(2) == 2.0);
    REQUIRE(buffer.push(std::make_unique<int>(9)) == replay_handle{3, 1});

    per::naive_rank_based_replay<std::unique_ptr<int>> naive(2);
    std::vector<std::unique_ptr<int>> more;
    for (int i = 0; i < 3; ++i) {
        more.push_back(std::make_unique<int>(i));
    }
    const int* first = more[0].get();
    replay_state<std::unique_ptr<int>> ranked = state_of(std::move(more));
    ranked.sampler.fill_count = 3;
    ranked.sampler.fill_stamps = {1, 2, 3};
    naive.import_state(std::move(ranked));
    REQUIRE(naive.item(0).get() == first);
    REQUIRE(naive.rank(2) == 1);
}

// --- Invalid states -----------------------------------------------------------------------

TEMPLATE_TEST_CASE("a proportional sampler rejects every invalid field and stays as it was",
                   "[state]", per::sum_tree<double>, per::sum_tree<float>) {
    using sampler_type = per::basic_prioritized_sampler<TestType>;
    sampler_type source(5, replay_options{}.alpha(1.0).initial_max_priority(0.5));
    source.fill(0, 1.0);
    source.fill(2, 2.0);
    source.fill(4, 0.25);
    const sampler_state valid = source.export_state();
    sampler_type target(3, replay_options{}.alpha(0.3));
    target.fill(1, 4.0);
    const std::string where = "per::prioritized_sampler::import_state: ";
    using m = mutation<sampler_state>;
    const std::vector<m> mutations = {
        {"state.options: alpha = nan must be finite and >= 0",
         [](sampler_state& s) { s.options.alpha(not_a_number); }},
        {"state.options: epsilon = -1 must be finite and >= 0",
         [](sampler_state& s) { s.options.epsilon(-1.0); }},
        {"state.options: initial_max_priority = inf",
         [](sampler_state& s) { s.options.initial_max_priority(infinite); }},
        {"state.options: sampling = 7 is not a per::sampling_mode",
         [](sampler_state& s) { s.options.sampling(static_cast<sampling_mode>(7)); }},
        {"state.options: normalization = 9 is not a per::weight_normalization",
         [](sampler_state& s) { s.options.normalization(static_cast<weight_normalization>(9)); }},
        {"state.options do not suit the capacity 5: per::prioritized_sampler: "
         "initial_max_priority = 1e+300",
         [](sampler_state& s) {
             s.options.initial_max_priority(1e300).alpha(2.0);
             s.max_priority = 1e300;
         }},
        {"state.generations.size() = 0 must be > 0 (it is the capacity)",
         [](sampler_state& s) {
             s.generations.clear();
             s.filled.clear();
             s.priorities.clear();
         }},
        {"state.filled.size() = 4 must equal state.generations.size() = 5",
         [](sampler_state& s) { s.filled.pop_back(); }},
        {"state.filled[1] = 2 must be 0 or 1", [](sampler_state& s) { s.filled[1] = 2; }},
        {"state.priorities.size() = 3 must equal the number of filled slots, 4",
         [](sampler_state& s) { s.filled[1] = 1; }},
        {"state.priorities.size() = 2 must equal the number of filled slots, 3",
         [](sampler_state& s) { s.priorities.pop_back(); }},
        {"state.priorities[1] = -1 must be finite and >= 0",
         [](sampler_state& s) { s.priorities[1] = -1.0; }},
        {"state.priorities[0] = nan must be finite and >= 0",
         [](sampler_state& s) { s.priorities[0] = not_a_number; }},
        {"state.priorities[2] = inf must be finite and >= 0",
         [](sampler_state& s) { s.priorities[2] = infinite; }},
        {"state.priorities[2] = 1e+308 must be <= ",
         [](sampler_state& s) {
             s.priorities[2] = 1e308;
             s.max_priority = 1e308;
         }},
        {"state.max_priority = nan must be finite and >= state.options.initial_max_priority() = "
         "0.5",
         [](sampler_state& s) { s.max_priority = not_a_number; }},
        {"state.max_priority = 2 must be finite and >= state.options.initial_max_priority() = 3",
         [](sampler_state& s) { s.options.initial_max_priority(3.0); }},
        {"state.max_priority = 1.5 must be >= state.priorities[1] = 2 (it is the running maximum)",
         [](sampler_state& s) { s.max_priority = 1.5; }},
        {"state.max_priority = 1e+308 must be <= ",
         [](sampler_state& s) { s.max_priority = 1e308; }},
        {"state.fill_count = 3 must be 0: only rank-based samplers keep fill stamps",
         [](sampler_state& s) { s.fill_count = 3; }},
        {"state.fill_stamps.size() = 3 must be 0: only rank-based samplers keep fill stamps",
         [](sampler_state& s) {
             s.fill_stamps = {1, 2, 3};
         }},
    };
    for (const m& each : mutations) {
        sampler_state bad = valid;
        each.apply(bad);
        require_rejected(target, std::move(bad), where + each.message);
    }
    target.import_state(valid); // and the valid state itself is accepted
    REQUIRE(state(target) == state(source));
}

TEST_CASE("the capacity must be one the object can hold", "[state]") {
    // The largest capacities need more memory than a test should take: the shared check with a
    // small limit.
    sampler_state four;
    four.generations.assign(4, 0);
    four.filled.assign(4, 0);
    REQUIRE(per::detail::check_state_layout("where", "state.", four, 4,
                                            per::detail::stamp_rule::none) == 0);
    REQUIRE_THROWS_WITH(
        per::detail::check_state_layout("where", "state.", four, 3, per::detail::stamp_rule::none),
        "where: state.generations.size() = 4 must be <= 3, the largest capacity");
}

TEST_CASE("a rank-based sampler rejects every invalid field and stays as it was",
          "[state][rank_based]") {
    rank_based_sampler source(5, replay_options{}.alpha(1.0));
    source.fill(3, 1.0);
    source.fill(0, 2.0);
    source.fill(1, 1.0);
    source.fill(0, 0.5); // fills 4; stamps: slot 0 -> 4, slot 1 -> 3, slot 3 -> 1
    const sampler_state valid = source.export_state();
    REQUIRE(valid.fill_stamps == std::vector<std::uint64_t>{4, 3, 1});
    rank_based_sampler target(2);
    target.fill(1, 9.0);
    const std::string where = "per::rank_based_sampler::import_state: ";
    using m = mutation<sampler_state>;
    const std::vector<m> mutations = {
        {"state.options: alpha = -0.5 must be finite and >= 0",
         [](sampler_state& s) { s.options.alpha(-0.5); }},
        {"state.options do not suit the capacity 5: per::rank_based_sampler: alpha = 2000 is too "
         "large",
         [](sampler_state& s) { s.options.alpha(2000.0); }},
        {"state.filled[4] = 7 must be 0 or 1", [](sampler_state& s) { s.filled[4] = 7; }},
        {"state.priorities[2] = -1 must be finite and >= 0",
         [](sampler_state& s) { s.priorities[2] = -1.0; }},
        {"state.max_priority = inf must be finite",
         [](sampler_state& s) { s.max_priority = infinite; }},
        {"state.max_priority = 1 must be >= state.priorities[2] = 1.5",
         [](sampler_state& s) {
             s.max_priority = 1.0;
             s.priorities[2] = 1.5;
         }},
        {"state.fill_stamps.size() = 2 must equal the number of filled slots, 3",
         [](sampler_state& s) { s.fill_stamps.pop_back(); }},
        {"state.fill_stamps[2] = 0 must be in [1, fills = 4] (state.fill_count, the fills so far)",
         [](sampler_state& s) { s.fill_stamps[2] = 0; }},
        {"state.fill_stamps[0] = 5 must be in [1, fills = 4]",
         [](sampler_state& s) { s.fill_stamps[0] = 5; }},
        {"state.fill_stamps[1] = state.fill_stamps[2] = 1: every fill has its own stamp",
         [](sampler_state& s) { s.fill_stamps[1] = 1; }},
        {"state.fill_count = 5 disagrees with the generations, which add up to 4 modulo 2^32",
         [](sampler_state& s) { s.fill_count = 5; }},
        {"state.fill_count = 4 disagrees with the generations, which add up to 5 modulo 2^32",
         [](sampler_state& s) { s.generations[2] = 1; }},
    };
    for (const m& each : mutations) {
        sampler_state bad = valid;
        each.apply(bad);
        require_rejected(target, std::move(bad), where + each.message);
    }
    SECTION("what a proportional sampler would refuse, a rank-based one accepts") {
        sampler_state large = valid;
        large.priorities[1] = std::numeric_limits<double>::max();
        large.max_priority = std::numeric_limits<double>::max();
        target.import_state(large);
        REQUIRE(target.rank(1) == 1);
        sampler_state wrapped = valid; // the fill count agrees with the generations mod 2^32
        wrapped.fill_count += std::uint64_t{1} << 32;
        wrapped.fill_stamps[0] = wrapped.fill_count;
        target.import_state(wrapped);
        REQUIRE(target.export_state().fill_count == wrapped.fill_count);
    }
}

TEST_CASE("replay buffers reject invalid rings and samplers, and stay as they were", "[state]") {
    // capacity 5, size 3 (slots 0..2), next slot 3.
    const auto fill = [](auto& buffer) {
        buffer.push(10, 1.0);
        buffer.push(11, 2.0);
        buffer.push(12, 0.5);
    };
    using r = replay_state<int>;
    using m = mutation<r>;
    // The ring rules every buffer enforces, with the message after "<where>: ".
    const std::vector<m> ring_rules = {
        {"state.items.size() = 2 must equal the number of filled slots, 3",
         [](r& s) { s.items.pop_back(); }},
        {"state.sampler.filled[1] = 0: a replay buffer fills slots 0..3 - 1 only",
         [](r& s) {
             s.sampler.filled[1] = 0;
             s.sampler.filled[4] = 1;
         }},
        {"state.next_slot = 0 must equal the size 3 while the buffer is not full",
         [](r& s) { s.next_slot = 0; }},
    };

    SECTION("prioritized_replay") {
        per::prioritized_replay<int> source(5, replay_options{}.alpha(1.0));
        fill(source);
        per::prioritized_replay<int> target(2);
        target.push(7, 3.0);
        const r valid = source.export_state();
        for (const m& rule : ring_rules) {
            r bad = valid;
            rule.apply(bad);
            require_rejected(target, std::move(bad),
                             std::string("per::prioritized_replay::import_state: ") + rule.message);
        }
        r bad = valid;
        bad.sampler.priorities[0] = -1.0;
        require_rejected(target, bad,
                         "per::prioritized_sampler::import_state: state.priorities[0] = -1 must be "
                         "finite and >= 0");
        bad = valid;
        bad.sampler.fill_count = 3;
        require_rejected(target, bad, "state.fill_count = 3 must be 0");
    }
    SECTION("rank_based_replay") {
        per::rank_based_replay<int> source(5, replay_options{}.alpha(1.0));
        fill(source);
        per::rank_based_replay<int> target(2);
        target.push(7, 3.0);
        const r valid = source.export_state();
        REQUIRE(valid.sampler.fill_stamps == std::vector<std::uint64_t>{1, 2, 3});
        for (const m& rule : ring_rules) {
            r bad = valid;
            rule.apply(bad);
            require_rejected(target, std::move(bad),
                             std::string("per::prioritized_replay::import_state: ") + rule.message);
        }
        r bad = valid;
        bad.sampler.fill_stamps = {2, 1, 3};
        require_rejected(
            target, bad,
            "per::prioritized_replay::import_state: state.sampler.fill_stamps: "
            "stamps[1] = 1 must be > stamps[0] = 2: a replay buffer fills its slots in "
            "ring order");
        bad = valid;
        bad.sampler.fill_stamps = {1, 1, 3};
        require_rejected(target, bad,
                         "per::rank_based_sampler::import_state: state.fill_stamps[0] = "
                         "state.fill_stamps[1] = 1: every fill has its own stamp");
    }
    SECTION("naive_prioritized_replay") {
        per::naive_prioritized_replay<int> source(5, replay_options{}.alpha(1.0));
        fill(source);
        per::naive_prioritized_replay<int> target(2);
        target.push(7, 3.0);
        const r valid = source.export_state();
        const std::string where = "per::naive_prioritized_replay::import_state: ";
        for (const m& rule : ring_rules) {
            r bad = valid;
            rule.apply(bad);
            require_rejected(target, std::move(bad), where + rule.message);
        }
        const std::vector<m> sampler_rules = {
            {"state.sampler.options: alpha = nan",
             [](r& s) { s.sampler.options.alpha(not_a_number); }},
            {"state.sampler.options do not suit the capacity 5: per::naive_prioritized_replay: "
             "initial_max_priority = 1e+300",
             [](r& s) {
                 s.sampler.options.initial_max_priority(1e300).alpha(2.0);
                 s.sampler.max_priority = 1e300;
             }},
            {"state.sampler.filled.size() = 5 must equal state.sampler.generations.size() = 4",
             [](r& s) { s.sampler.generations.pop_back(); }},
            {"state.sampler.priorities[2] = -0.5 must be finite and >= 0",
             [](r& s) { s.sampler.priorities[2] = -0.5; }},
            {"state.sampler.priorities[1] = 1e+308 must keep (priority + epsilon)^alpha <= max "
             "double / (4 capacity())",
             [](r& s) {
                 s.sampler.priorities[1] = 1e308;
                 s.sampler.max_priority = 1e308;
             }},
            {"state.sampler.max_priority = 1.5 must be >= state.sampler.priorities[1] = 2",
             [](r& s) { s.sampler.max_priority = 1.5; }},
            {"state.sampler.fill_stamps.size() = 3 must be 0",
             [](r& s) {
                 s.sampler.fill_stamps = {1, 2, 3};
             }},
        };
        for (const m& rule : sampler_rules) {
            r bad = valid;
            rule.apply(bad);
            require_rejected(target, std::move(bad), where + rule.message);
        }
    }
    SECTION("naive_rank_based_replay") {
        per::naive_rank_based_replay<int> source(5, replay_options{}.alpha(1.0));
        fill(source);
        per::naive_rank_based_replay<int> target(2);
        target.push(7, 3.0);
        const r valid = source.export_state();
        const std::string where = "per::naive_rank_based_replay::import_state: ";
        for (const m& rule : ring_rules) {
            r bad = valid;
            rule.apply(bad);
            require_rejected(target, std::move(bad), where + rule.message);
        }
        const std::vector<m> sampler_rules = {
            {"state.sampler.options do not suit the capacity 5: per::naive_rank_based_replay: "
             "alpha = 2000 is too large",
             [](r& s) { s.sampler.options.alpha(2000.0); }},
            {"state.sampler.priorities[0] = inf must be finite and >= 0",
             [](r& s) { s.sampler.priorities[0] = infinite; }},
            {"state.sampler.fill_stamps.size() = 0 must equal the number of filled slots, 3",
             [](r& s) { s.sampler.fill_stamps.clear(); }},
            {"state.sampler.fill_stamps[1] = 9 must be in [1, fills = 3]",
             [](r& s) { s.sampler.fill_stamps[1] = 9; }},
            {"state.sampler.fill_count = 4 disagrees with the generations",
             [](r& s) { s.sampler.fill_count = 4; }},
            {"state.sampler.fill_stamps: stamps[2] = 2 must be > stamps[1] = 3: a replay buffer "
             "fills its slots in ring order",
             [](r& s) {
                 s.sampler.fill_stamps = {1, 3, 2};
             }},
        };
        for (const m& rule : sampler_rules) {
            r bad = valid;
            rule.apply(bad);
            require_rejected(target, std::move(bad), where + rule.message);
        }
        SECTION("a full ring's stamps grow from the next slot on") {
            per::naive_rank_based_replay<int> full(3);
            for (int i = 0; i < 4; ++i) {
                full.push(i, 1.0); // stamps 4, 2, 3; next slot 1
            }
            r ring = full.export_state();
            ring.next_slot = 2; // the oldest would be slot 2: stamps 3, 4, 2
            require_rejected(target, ring, where + "state.sampler.fill_stamps: stamps[1] = 2");
            ring.next_slot = 3;
            require_rejected(target, ring, where + "state.next_slot = 3 must be < the capacity 3");
        }
    }
}

// --- The naive rank-based buffer's checkpoints (kind 6) -------------------------------------

TEST_CASE("the naive rank-based buffer round trips through a checkpoint of kind 6",
          "[state][checkpoint]") {
    for (sampling_mode mode : {sampling_mode::stratified, sampling_mode::independent,
                               sampling_mode::without_replacement}) {
        CAPTURE(static_cast<int>(mode));
        per::naive_rank_based_replay<std::int32_t> original(
            7, replay_options{}.alpha(0.7).sampling(mode));
        give_pushes(original, 17, 7); // wraps twice, ties
        const std::string checkpoint = saved(original);
        REQUIRE(bytes::read_u32(checkpoint, bytes::kind) == 6);
        REQUIRE(bytes::read_u32(checkpoint, bytes::value_size) == 8);
        REQUIRE(bytes::read_u32(checkpoint, bytes::fanout) == 0);
        REQUIRE(bytes::read_u64(checkpoint, bytes::rank_based::fills(7, 7)) == 17);
        REQUIRE(checkpoint.size() == bytes::rank_based::items(7, 7) + 7 * 4 + 8);

        per::naive_rank_based_replay<std::int32_t> loaded(2);
        load_from(checkpoint, loaded);
        REQUIRE(state(loaded) == state(original));
        REQUIRE(saved(loaded) == checkpoint);
        require_same_batches(original, loaded, 4, 8);
        REQUIRE(original.push(5) == loaded.push(5));
        REQUIRE(state(loaded) == state(original));
    }
}

TEST_CASE("kinds 5 and 6 hold the same fields for the same history", "[state][checkpoint]") {
    per::rank_based_replay<std::int32_t> tree(6, replay_options{}.alpha(0.9));
    per::naive_rank_based_replay<std::int32_t> naive(6, replay_options{}.alpha(0.9));
    give_pushes(tree, 14, 9);
    give_pushes(naive, 14, 9);
    const std::string tree_bytes = saved(tree);
    const std::string naive_bytes = saved(naive);
    // Equal but for kind (12..15), value size and fanout (16..23) and the checksum.
    REQUIRE(tree_bytes.size() == naive_bytes.size());
    REQUIRE(tree_bytes.compare(0, 12, naive_bytes, 0, 12) == 0);
    REQUIRE(tree_bytes.compare(16, 4, naive_bytes, 16, 4) == 0);
    REQUIRE(tree_bytes.compare(24, tree_bytes.size() - 32, naive_bytes, 24,
                               naive_bytes.size() - 32) == 0);

    // And neither loads into the other.
    per::rank_based_replay<std::int32_t> tree_target(3);
    per::naive_rank_based_replay<std::int32_t> naive_target(3);
    const std::string tree_before = state(tree_target);
    const std::string naive_before = state(naive_target);
    REQUIRE(load_error(tree_bytes, naive_target) == checkpoint_errc::wrong_kind);
    REQUIRE(load_error(naive_bytes, tree_target) == checkpoint_errc::wrong_kind);
    per::naive_prioritized_replay<std::int32_t> proportional(3);
    REQUIRE(load_error(naive_bytes, proportional) == checkpoint_errc::wrong_kind);
    REQUIRE(load_error(saved(proportional), naive_target) == checkpoint_errc::wrong_kind);
    REQUIRE(state(tree_target) == tree_before);
    REQUIRE(state(naive_target) == naive_before);
}

TEST_CASE("kind 6: serialized items, truncation, corruption and invalid values",
          "[state][checkpoint]") {
    const auto write_item = [](std::ostream& out, const std::string& item) {
        out << item.size() << ' ' << item;
    };
    const auto read_item = [](std::istream& in) {
        std::size_t length = 0;
        in >> length;
        in.get();
        std::string item(length, '\0');
        in.read(&item[0], static_cast<std::streamsize>(length));
        return item;
    };
    per::naive_rank_based_replay<std::string> strings(3);
    for (const char* text : {"a", "", "two words", "wraps"}) {
        strings.push(text, 1.0);
    }
    std::ostringstream out;
    per::save(out, strings, write_item);
    per::naive_rank_based_replay<std::string> strings_loaded(1);
    std::istringstream in(out.str());
    per::load(in, strings_loaded, read_item);
    REQUIRE(state(strings_loaded) == state(strings));
    REQUIRE(strings_loaded.rank(0) == 1); // "wraps", the newest of equal priorities

    per::naive_rank_based_replay<std::uint16_t> source(4);
    for (std::uint16_t i = 0; i < 6; ++i) {
        source.push(i, 0.5 * (i % 2));
    }
    const std::string checkpoint = saved(source);
    per::naive_rank_based_replay<std::uint16_t> target(2);
    target.push(9);
    const std::string before = state(target);
    for (std::size_t length = 0; length < checkpoint.size(); ++length) {
        CAPTURE(length);
        REQUIRE(load_error(checkpoint.substr(0, length), target) == checkpoint_errc::truncated);
    }
    std::size_t checksum_errors = 0;
    for (std::size_t at = 0; at < checkpoint.size(); ++at) {
        std::string corrupted = checkpoint;
        corrupted[at] = static_cast<char>(corrupted[at] ^ 0x10);
        checksum_errors += load_error(corrupted, target) == checkpoint_errc::checksum_mismatch;
    }
    REQUIRE(checksum_errors > checkpoint.size() / 2);

    using patch = bytes::field_patch;
    const std::size_t stamps = bytes::rank_based::stamps(4, 4);
    const patch patches[] = {
        {"a stamp above the fill count", stamps, 8, 7, 0, "fill_stamps[0] = 7 must be in [1, "},
        {"stamps out of ring order", stamps + 8, 8, 1, 0, "stamps[1] = 1 must be > stamps[0] = 5"},
        {"fanout of a tree", bytes::fanout, 4, 8, 0,
         "fanout = 8 must be 0: a naive_rank_based_replay has no tree"},
        {"sampling 5", bytes::sampling, 4, 5, 0, "sampling = 5 is not a per::sampling_mode"},
    };
    for (const patch& p : patches) {
        CAPTURE(p.what);
        const std::string patched = bytes::patched(checkpoint, p);
        REQUIRE(load_error(patched, target) == checkpoint_errc::invalid_value);
        std::istringstream patched_in(patched);
        REQUIRE_THROWS_WITH(per::load(patched_in, target), PER_CONTAINS(p.message));
    }
    REQUIRE(state(target) == before);
    load_from(checkpoint, target);
    REQUIRE(state(target) == state(source));
}

TEST_CASE("the fanout field is checked, and any tree's fanout loads", "[state][checkpoint]") {
    per::basic_prioritized_sampler<per::sum_tree<double, 4>> four(9, replay_options{}.alpha(0.5));
    four.fill(2, 1.0);
    four.fill(7, 3.0);
    const std::string checkpoint = saved(four);
    REQUIRE(bytes::read_u32(checkpoint, bytes::fanout) == 4);

    // Into the default tree (fanout 8): the same state and distribution.
    per::prioritized_sampler eight(1);
    load_from(checkpoint, eight);
    REQUIRE(text_of(eight.export_state()) == text_of(four.export_state()));
    REQUIRE(eight.probability(7) == four.probability(7));

    per::prioritized_sampler target(2);
    const std::string before = state(target);
    for (std::uint32_t fanout : {0u, 1u}) {
        CAPTURE(fanout);
        const std::string patched =
            bytes::patched(checkpoint, {"fanout", bytes::fanout, 4, fanout, 0});
        std::istringstream in(patched);
        REQUIRE_THROWS_WITH(per::load(in, target), "per::load: fanout = " + std::to_string(fanout) +
                                                       " must be >= 2, the fanout of a tree");
        REQUIRE(load_error(patched, target) == checkpoint_errc::invalid_value);
    }
    per::naive_prioritized_replay<int> naive(3);
    naive.push(1);
    const std::string naive_patched =
        bytes::patched(saved(naive), {"fanout", bytes::fanout, 4, 8, 0});
    per::naive_prioritized_replay<int> naive_target(1);
    REQUIRE(load_error(naive_patched, naive_target) == checkpoint_errc::invalid_value);
    REQUIRE(state(target) == before);
}

TEST_CASE("load reports import_state's message as an invalid value", "[state][checkpoint]") {
    per::prioritized_replay<std::int32_t> source(4);
    source.push(1, 1.0);
    source.push(2, 2.0);
    const std::string patched =
        bytes::patched(saved(source), {"priority", bytes::priorities(4) + 8, 0, 0, -3.0});
    per::prioritized_replay<std::int32_t> target(1);
    std::istringstream in(patched);
    try {
        per::load(in, target);
        FAIL("load accepted a negative priority");
    } catch (const per::checkpoint_error& error) {
        REQUIRE(error.code() == checkpoint_errc::invalid_value);
        REQUIRE(std::string(error.what()) ==
                "per::load: per::prioritized_sampler::import_state: state.priorities[1] = -3 must "
                "be finite and >= 0");
    }
}
