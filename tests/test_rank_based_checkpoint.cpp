// Checkpoints of rank-based objects (per/checkpoint.hpp, kinds 4 and 5): rank_based_sampler and
// rank_based_replay<Item> round trip with their ranks, the order among equal priorities, the
// generations and the ring, draw the same batches afterwards and behave the same under later
// fills, pushes and updates; the format is the documented one, byte for byte; a proportional
// checkpoint does not load into a rank-based object nor the reverse; truncated, corrupted and
// invalid input throws per::checkpoint_error with the right code and leaves the target as it
// was (tests/state_snapshot.hpp: every observer, the age order, generations, a probe batch).
#include <per/checkpoint.hpp>
#include <per/rank_based.hpp>

#include "checkpoint_bytes.hpp"
#include "checkpoint_round_trip.hpp"
#include "per_catch.hpp"
#include "state_snapshot.hpp"

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <limits>
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
using per::sampling_mode;
using per::weight_normalization;
using per_test::load_error;
using per_test::load_from;
using per_test::require_same_batches;
using per_test::saved;
using per_test::state;

constexpr double not_a_number = std::numeric_limits<double>::quiet_NaN();
constexpr double infinite = std::numeric_limits<double>::infinity();

const sampling_mode all_modes[] = {sampling_mode::stratified, sampling_mode::independent,
                                   sampling_mode::without_replacement};
const weight_normalization all_normalizations[] = {
    weight_normalization::global_max, weight_normalization::batch_max, weight_normalization::none};

// A priority with many ties: 0, -0.0, 1, 2 or 3, and sometimes something in between.
double tied_priority(std::mt19937_64& engine) {
    const std::size_t pick = per::uniform_below(engine, 8);
    if (pick == 0) {
        return -0.0;
    }
    if (pick == 7) {
        return 3.0 * per::uniform_unit(engine);
    }
    return static_cast<double>(pick % 4);
}

// One random operation on a rank-based sampler: fill (with a tied priority or max_priority()),
// erase, or update through a handle from `handles` (often stale), as double or float.
void random_operation(rank_based_sampler& sampler, std::vector<replay_handle>& handles,
                      std::mt19937_64& engine) {
    const std::size_t slot = per::uniform_below(engine, sampler.capacity());
    const double pick = per::uniform_unit(engine);
    if (pick < 0.4) {
        handles.push_back(sampler.fill(slot, tied_priority(engine)));
    } else if (pick < 0.55) {
        handles.push_back(sampler.fill(slot));
    } else if (pick < 0.65) {
        sampler.erase(slot);
    } else if (!handles.empty()) {
        const replay_handle handle = handles[per::uniform_below(engine, handles.size())];
        if (pick < 0.85) {
            sampler.update_priority(handle, tied_priority(engine));
        } else {
            const float priority = static_cast<float>(tied_priority(engine));
            sampler.update_priorities(&handle, &priority, 1);
        }
    }
}

// A sampler with a history: ties, overwrites, erasures, stale and current updates, an alpha
// change. Returns every handle it gave out.
std::vector<replay_handle> give_history(rank_based_sampler& sampler, std::uint64_t seed) {
    std::mt19937_64 engine(seed);
    std::vector<replay_handle> handles;
    for (int step = 0; step < 150; ++step) {
        random_operation(sampler, handles, engine);
    }
    sampler.set_alpha(0.9);
    return handles;
}

} // namespace

TEST_CASE("rank-based sampler: a round trip restores ranks, ties, generations and batches",
          "[checkpoint][rank_based]") {
    for (sampling_mode mode : all_modes) {
        for (weight_normalization normalization : all_normalizations) {
            CAPTURE(static_cast<int>(mode), static_cast<int>(normalization));
            const auto options = replay_options{}
                                     .alpha(0.7)
                                     .epsilon(0.01)
                                     .initial_max_priority(1.5)
                                     .sampling(mode)
                                     .normalization(normalization);
            rank_based_sampler original(41, options);
            std::vector<replay_handle> handles = give_history(original, 17);
            REQUIRE(original.size() > 15);

            rank_based_sampler loaded(5, replay_options{}.alpha(3.0)); // replaced entirely
            const std::string checkpoint = saved(original);
            load_from(checkpoint, loaded);
            REQUIRE(state(loaded) == state(original));
            REQUIRE(loaded.capacity() == 41);
            REQUIRE(loaded.alpha() == 0.9);
            REQUIRE(loaded.options().epsilon() == 0.01);
            REQUIRE(loaded.options().sampling() == mode);
            REQUIRE(loaded.options().normalization() == normalization);
            REQUIRE(saved(loaded) == checkpoint); // nothing saved was lost, the fill count neither
            require_same_batches(original, loaded, 9, 5);

            // The same later operations have the same effects, ties and stale handles included.
            std::vector<replay_handle> loaded_handles = handles;
            std::mt19937_64 engine_original(99);
            std::mt19937_64 engine_loaded(99);
            for (int step = 0; step < 200; ++step) {
                random_operation(original, handles, engine_original);
                random_operation(loaded, loaded_handles, engine_loaded);
                REQUIRE(handles == loaded_handles);
                if (step % 25 == 0) {
                    REQUIRE(state(loaded) == state(original));
                }
            }
            original.set_alpha(0.3);
            loaded.set_alpha(0.3);
            REQUIRE(state(loaded) == state(original));
            require_same_batches(original, loaded, 9, 6);
        }
    }
}

TEST_CASE("rank-based sampler: a round trip keeps the order among equal priorities",
          "[checkpoint][rank_based]") {
    // Ranks follow the priorities here, the age order is the reverse: only the fill stamps
    // say which of two items that later tie ranks first.
    rank_based_sampler original(6, replay_options{}.alpha(1.0));
    const replay_handle oldest = original.fill(4, 3.0);
    const replay_handle middle = original.fill(0, 2.0);
    const replay_handle newest = original.fill(2, 1.0);
    rank_based_sampler loaded(6);
    load_from(saved(original), loaded);
    for (rank_based_sampler* sampler : {&original, &loaded}) {
        REQUIRE(sampler->slot_of_rank(1) == 4);
        sampler->update_priority(oldest, 5.0);
        sampler->update_priority(middle, 5.0);
        sampler->update_priority(newest, 5.0);
        REQUIRE(sampler->slot_of_rank(1) == 2); // the newest fill first among equals
        REQUIRE(sampler->slot_of_rank(2) == 0);
        REQUIRE(sampler->slot_of_rank(3) == 4);
        sampler->fill(5, 5.0); // and a fill after the load is newer than all of them
        REQUIRE(sampler->rank(5) == 1);
    }
    REQUIRE(state(loaded) == state(original));
}

TEST_CASE("rank-based replay: a round trip keeps items, ring, ties and handles across a wrap",
          "[checkpoint][rank_based]") {
    struct transition {
        std::int32_t state;
        float reward;
        double value;
    };
    for (sampling_mode mode : all_modes) {
        CAPTURE(static_cast<int>(mode));
        per::rank_based_replay<transition> original(10, replay_options{}.alpha(0.7).sampling(mode));
        std::vector<replay_handle> handles;
        for (int i = 0; i < 27; ++i) { // wraps twice; next slot 7
            const transition item{i, 0.5f * static_cast<float>(i), -i * 1.5};
            handles.push_back(i % 4 == 0 ? original.push(item) : original.push(item, i % 3));
        }
        const std::vector<float> priorities = {2.0f, 0.0f, 1.0f};
        REQUIRE(original.update_priorities(
                    std::vector<replay_handle>(handles.end() - 3, handles.end()), priorities) == 3);
        original.set_alpha(0.5);
        REQUIRE(original.next_slot() == 7);

        per::rank_based_replay<transition> loaded(3);
        load_from(saved(original), loaded);
        REQUIRE(state(loaded) == state(original));
        REQUIRE(saved(loaded) == saved(original));
        for (std::size_t slot = 0; slot < 10; ++slot) {
            REQUIRE(loaded.item(slot).state == original.item(slot).state);
            REQUIRE(loaded.item(slot).value == original.item(slot).value);
        }
        require_same_batches(original, loaded, 6, 9);
        std::size_t applied = 0;
        for (const replay_handle& handle : handles) { // 17 stale, 10 current
            const bool applied_original = original.update_priority(handle, 1.0);
            REQUIRE(loaded.update_priority(handle, 1.0) == applied_original);
            applied += applied_original;
        }
        REQUIRE(applied == 10);
        // All at priority 1 now: the ranks are the push order, newest first.
        REQUIRE(loaded.sampler().slot_of_rank(1) == 6);
        REQUIRE(loaded.sampler().slot_of_rank(10) == 7);
        REQUIRE(original.push(transition{99, 0, 0}, 1.0) == loaded.push(transition{99, 0, 0}, 1.0));
        REQUIRE(loaded.sampler().rank(7) == 1);
        REQUIRE(loaded.next_slot() == 8);
        REQUIRE(state(loaded) == state(original));
        require_same_batches(original, loaded, 6, 10);
    }
}

TEST_CASE("rank-based replay: a loaded buffer keeps stale-handle detection",
          "[checkpoint][rank_based]") {
    per::rank_based_replay<int> original(4);
    std::vector<replay_handle> handles;
    for (int i = 0; i < 6; ++i) {
        handles.push_back(original.push(i, 0.5 * i)); // slots 0 and 1 are overwritten once
    }
    per::rank_based_replay<int> loaded(1);
    load_from(saved(original), loaded);

    REQUIRE_FALSE(loaded.update_priority(handles[0], 9.0)); // slot 0 holds item 4 now
    REQUIRE_FALSE(loaded.update_priority(handles[1], 9.0));
    REQUIRE(loaded.priority(0) == 2.0);
    REQUIRE(loaded.priority(1) == 2.5);
    const replay_handle future{2, handles[2].generation + 1};
    REQUIRE_FALSE(loaded.update_priority(future, 9.0));
    for (std::size_t k = 2; k < 6; ++k) {
        REQUIRE(loaded.update_priority(handles[k], 10.0 + static_cast<double>(k)));
    }
    REQUIRE(loaded.priority(2) == 12.0);
    REQUIRE(loaded.sampler().rank(1) == 1); // handles[5]: priority 15
    REQUIRE(loaded.max_priority() == 15.0);

    // A push after the load overwrites slot 2 with the next generation: its old handle is stale.
    const replay_handle pushed = loaded.push(7);
    REQUIRE(pushed == replay_handle{2, handles[2].generation + 1});
    REQUIRE_FALSE(loaded.update_priority(handles[2], 1.0));
    REQUIRE(loaded.update_priority(future, 1.0)); // the generation it named exists now
    REQUIRE(loaded.priority(2) == 1.0);
}

TEST_CASE("rank-based replay: items that are not trivially copyable use an item serializer",
          "[checkpoint][rank_based]") {
    const auto write_item = [](std::ostream& out, const std::string& item) {
        out << item.size() << ' ' << item;
    };
    const auto read_item = [](std::istream& in) {
        std::size_t length = 0;
        in >> length;
        in.get(); // the space
        std::string item(length, '\0');
        in.read(&item[0], static_cast<std::streamsize>(length));
        return item;
    };
    per::rank_based_replay<std::string> original(4);
    for (const char* text : {"", "a", "two words", "\n\0x", "last one, wraps"}) {
        original.push(text, 1.0);
    }
    std::ostringstream out;
    per::save(out, original, write_item);
    per::rank_based_replay<std::string> loaded(1);
    std::istringstream in(out.str());
    per::load(in, loaded, read_item);
    REQUIRE(state(loaded) == state(original));
    REQUIRE(loaded.item(0) == "last one, wraps");
    REQUIRE(loaded.sampler().rank(0) == 1); // the newest of four equal priorities

    // A serialized checkpoint needs a serializer, a raw one none; both leave the target as it
    // was.
    per::rank_based_replay<std::int64_t> raw_target(2);
    raw_target.push(3);
    const std::string raw_before = state(raw_target);
    per::rank_based_replay<std::int64_t> source(3);
    source.push(5);
    std::ostringstream serialized;
    per::save(serialized, source,
              [](std::ostream& stream, std::int64_t item) { stream << item << ';'; });
    REQUIRE(load_error(serialized.str(), raw_target) == checkpoint_errc::type_mismatch);
    REQUIRE(state(raw_target) == raw_before);
    const std::string before = state(loaded);
    REQUIRE(load_error(saved(source), loaded, read_item) == checkpoint_errc::type_mismatch);
    const auto read_too_little = [](std::istream& stream) {
        std::string item;
        stream >> item; // stops at the first space
        return item;
    };
    REQUIRE(load_error(out.str(), loaded, read_too_little) == checkpoint_errc::invalid_value);
    REQUIRE(state(loaded) == before);
}

TEST_CASE("rank-based objects round trip empty and after clear", "[checkpoint][rank_based]") {
    per::rank_based_replay<int> fresh(4, replay_options{}.initial_max_priority(0.5));
    per::rank_based_replay<int> loaded(9);
    load_from(saved(fresh), loaded);
    REQUIRE(state(loaded) == state(fresh));
    fresh.push(1);
    fresh.push(2, 8.0);
    fresh.clear(); // empty again, but max priority, generations and the fill count remember
    load_from(saved(fresh), loaded);
    REQUIRE(state(loaded) == state(fresh));
    REQUIRE(loaded.max_priority() == 8.0);
    REQUIRE(loaded.push(3).generation == 2);
    REQUIRE(fresh.push(3).generation == 2);
    REQUIRE(saved(loaded) == saved(fresh));

    rank_based_sampler sampler(3);
    sampler.fill(2, 4.0);
    sampler.clear();
    rank_based_sampler sampler_loaded(1);
    load_from(saved(sampler), sampler_loaded);
    REQUIRE(state(sampler_loaded) == state(sampler));
    REQUIRE(saved(sampler_loaded) == saved(sampler));
}

TEST_CASE("rank-based objects keep priorities a proportional sampler would reject",
          "[checkpoint][rank_based]") {
    // Ranks cannot overflow: any finite priority is valid, and a checkpoint must say so too.
    const double largest = std::numeric_limits<double>::max();
    rank_based_sampler original(3, replay_options{}.alpha(2.0).initial_max_priority(1e300));
    original.fill(0, largest);
    original.fill(1);
    original.fill(2, std::numeric_limits<double>::denorm_min());
    rank_based_sampler loaded(1);
    load_from(saved(original), loaded);
    REQUIRE(state(loaded) == state(original));
    REQUIRE(loaded.max_priority() == largest);
}

TEST_CASE("rank-based checkpoints are the documented little-endian layout, byte for byte",
          "[checkpoint][rank_based]") {
    rank_based_sampler sampler(3, replay_options{}
                                      .alpha(0.5)
                                      .epsilon(0.25)
                                      .initial_max_priority(2.0)
                                      .sampling(sampling_mode::independent)
                                      .normalization(weight_normalization::batch_max));
    sampler.fill(1, 3.0); // fill 1
    sampler.fill(2);      // fill 2, priority 3 (the max)
    sampler.fill(0, 3.0); // fill 3
    sampler.erase(2);     // empty, generation 1

    std::string expected;
    const auto put = [&expected](std::uint64_t value, int count) {
        for (int i = 0; i < count; ++i) {
            expected.push_back(static_cast<char>(static_cast<unsigned char>(value >> (8 * i))));
        }
    };
    const auto put_double = [&put](double value) {
        std::uint64_t bits;
        std::memcpy(&bits, &value, sizeof bits);
        put(bits, 8);
    };
    expected += std::string("\x89PER\r\n\x1a\n", 8);
    put(1, 4); // version
    put(4, 4); // kind: rank_based_sampler
    put(8, 4); // value size: the rank weights are doubles
    put(rank_based_sampler::weight_tree_type::fanout, 4); // fanout of the rank-weight tree
    put(3, 8);                                            // capacity
    put(2, 8);                                            // size
    put_double(0.5);                                      // alpha
    put_double(0.25);                                     // epsilon
    put_double(2.0);                                      // initial_max_priority
    put(1, 4);                                            // independent
    put(1, 4);                                            // batch_max
    put_double(3.0);                                      // max priority
    expected += std::string("\1\1\0", 3);                 // filled
    put(1, 4);                                            // generations
    put(1, 4);
    put(1, 4);
    put_double(3.0); // raw priorities, slot order
    put_double(3.0);
    put(3, 8); // fills
    put(3, 8); // fill stamps, slot order: slot 0 was filled third, slot 1 first
    put(1, 8);
    put(bytes::fnv1a64(expected, expected.size()), 8);
    const std::string written = saved(sampler);
    REQUIRE(written.size() == expected.size());
    REQUIRE(written == expected);
    REQUIRE(written.size() == bytes::rank_based::next_slot(3, 2) + 8);

    // A buffer: kind 5, then the ring position, the item size and the items after the stamps.
    per::rank_based_replay<std::uint16_t> buffer(4);
    for (std::uint16_t i = 0; i < 6; ++i) {
        buffer.push(static_cast<std::uint16_t>(0x100 + i), 0.5);
    }
    const std::string replay = saved(buffer);
    REQUIRE(bytes::read_u32(replay, bytes::kind) == 5);
    REQUIRE(bytes::read_u64(replay, bytes::rank_based::fills(4, 4)) == 6);
    for (std::size_t slot = 0; slot < 4; ++slot) {
        const std::uint64_t stamp =
            bytes::read_u64(replay, bytes::rank_based::stamps(4, 4) + 8 * slot);
        REQUIRE(stamp == (slot < 2 ? slot + 5 : slot + 1));
    }
    REQUIRE(bytes::read_u64(replay, bytes::rank_based::next_slot(4, 4)) == 2);
    REQUIRE(bytes::read_u64(replay, bytes::rank_based::item_size(4, 4)) == 2);
    const std::size_t items = bytes::rank_based::items(4, 4);
    std::uint16_t first_item = 0;
    std::memcpy(&first_item, replay.data() + items, sizeof first_item); // raw: host byte order
    REQUIRE(first_item == 0x104);
    REQUIRE(replay.size() == items + 4 * 2 + 8);
}

TEST_CASE("proportional and rank-based checkpoints do not load into each other",
          "[checkpoint][rank_based]") {
    rank_based_sampler rank_sampler(4);
    rank_sampler.fill(1, 2.0);
    per::prioritized_sampler proportional_sampler(4);
    proportional_sampler.fill(1, 2.0);
    per::rank_based_replay<std::int32_t> rank_replay(4);
    rank_replay.push(7, 2.0);
    per::prioritized_replay<std::int32_t> proportional_replay(4);
    proportional_replay.push(7, 2.0);
    per::naive_prioritized_replay<std::int32_t> naive(4);
    naive.push(7, 2.0);

    const std::string rank_sampler_before = state(rank_sampler);
    const std::string proportional_sampler_before = state(proportional_sampler);
    const std::string rank_replay_before = state(rank_replay);
    const std::string proportional_replay_before = state(proportional_replay);
    const std::string naive_before = state(naive);

    const auto requires_wrong_kind = [](const std::string& checkpoint, auto& target,
                                        const char* holds) {
        std::istringstream in(checkpoint);
        try {
            per::load(in, target);
            FAIL("load did not throw");
        } catch (const per::checkpoint_error& error) {
            CAPTURE(error.what());
            REQUIRE(error.code() == checkpoint_errc::wrong_kind);
            REQUIRE_THAT(error.what(), PER_CONTAINS(holds));
        }
    };
    requires_wrong_kind(saved(proportional_sampler), rank_sampler, "holds a prioritized_sampler");
    requires_wrong_kind(saved(rank_sampler), proportional_sampler, "holds a rank_based_sampler");
    requires_wrong_kind(saved(proportional_replay), rank_replay, "holds a prioritized_replay");
    requires_wrong_kind(saved(rank_replay), proportional_replay, "holds a rank_based_replay");
    requires_wrong_kind(saved(rank_replay), rank_sampler, "not a rank_based_sampler");
    requires_wrong_kind(saved(rank_sampler), rank_replay, "not a rank_based_replay");
    requires_wrong_kind(saved(naive), rank_replay, "holds a naive_prioritized_replay");
    requires_wrong_kind(saved(rank_replay), naive, "holds a rank_based_replay");
    requires_wrong_kind(saved(rank_sampler), proportional_replay, "(kind 4)");

    // The same kind with another item size.
    per::rank_based_replay<std::int64_t> wider(4);
    const std::string wider_before = state(wider);
    REQUIRE(load_error(saved(rank_replay), wider) == checkpoint_errc::type_mismatch);
    REQUIRE(state(wider) == wider_before);

    REQUIRE(state(rank_sampler) == rank_sampler_before);
    REQUIRE(state(proportional_sampler) == proportional_sampler_before);
    REQUIRE(state(rank_replay) == rank_replay_before);
    REQUIRE(state(proportional_replay) == proportional_replay_before);
    REQUIRE(state(naive) == naive_before);
}

TEST_CASE("truncated rank-based input throws and changes nothing, at every length",
          "[checkpoint][rank_based]") {
    per::rank_based_replay<std::uint16_t> source(5, replay_options{}.alpha(0.7));
    for (std::uint16_t i = 0; i < 7; ++i) {
        source.push(i, 0.5 * (i % 3));
    }
    rank_based_sampler sampler_source(6);
    sampler_source.fill(4, 1.0);
    sampler_source.fill(1, 1.0);
    sampler_source.fill(2);

    per::rank_based_replay<std::uint16_t> target(3);
    target.push(42);
    rank_based_sampler sampler_target(2);
    sampler_target.fill(1, 9.0);
    const std::string before = state(target);
    const std::string sampler_before = state(sampler_target);

    const std::string checkpoint = saved(source);
    for (std::size_t length = 0; length < checkpoint.size(); ++length) {
        CAPTURE(length);
        REQUIRE(load_error(checkpoint.substr(0, length), target) == checkpoint_errc::truncated);
    }
    REQUIRE(state(target) == before);
    const std::string sampler_checkpoint = saved(sampler_source);
    for (std::size_t length = 0; length < sampler_checkpoint.size(); ++length) {
        CAPTURE(length);
        REQUIRE(load_error(sampler_checkpoint.substr(0, length), sampler_target) ==
                checkpoint_errc::truncated);
    }
    REQUIRE(state(sampler_target) == sampler_before);

    load_from(checkpoint, target); // the whole of them still loads
    REQUIRE(state(target) == state(source));
    load_from(sampler_checkpoint, sampler_target);
    REQUIRE(state(sampler_target) == state(sampler_source));
}

TEST_CASE("any corrupted byte of a rank-based checkpoint throws and changes nothing",
          "[checkpoint][rank_based]") {
    rank_based_sampler sampler_source(6, replay_options{}.alpha(0.7));
    sampler_source.fill(0, 1.0);
    sampler_source.fill(3, 1.0);
    sampler_source.fill(5);
    per::rank_based_replay<std::int32_t> replay_source(4);
    for (std::int32_t i = 0; i < 6; ++i) {
        replay_source.push(i * 1000, i % 2);
    }
    rank_based_sampler sampler_target(2);
    sampler_target.fill(1, 9.0);
    per::rank_based_replay<std::int32_t> replay_target(3);
    replay_target.push(-1, 0.25);

    const auto corrupt_everywhere = [](const std::string& checkpoint, auto& target) {
        const std::string before = state(target);
        std::size_t checksum_errors = 0;
        for (std::size_t at = 0; at < checkpoint.size(); ++at) {
            for (unsigned char flip : {0x01, 0x80, 0xff}) {
                CAPTURE(at, static_cast<int>(flip));
                std::string corrupted = checkpoint;
                corrupted[at] = static_cast<char>(static_cast<unsigned char>(corrupted[at]) ^ flip);
                checksum_errors +=
                    load_error(corrupted, target) == checkpoint_errc::checksum_mismatch;
            }
        }
        REQUIRE(state(target) == before);
        // Flips in the magic, version, kind, value size, size or capacity are reported as such
        // (or as truncation); every other one as a checksum mismatch.
        REQUIRE(checksum_errors > 2 * checkpoint.size());
    };
    corrupt_everywhere(saved(sampler_source), sampler_target);
    corrupt_everywhere(saved(replay_source), replay_target);
}

TEST_CASE("invalid rank-based values behind a valid checksum throw and change nothing",
          "[checkpoint][rank_based]") {
    // capacity 5, size 4 (slots 0..3, stamps 1..4), next slot 4, fills 4, int items.
    per::rank_based_replay<std::int32_t> source(5, replay_options{}.alpha(1.0));
    source.push(10, 1.0);
    source.push(11, 2.0);
    source.push(12, 0.5);
    source.push(13, 2.0);
    const std::string checkpoint = saved(source);
    const std::size_t capacity = 5;
    const std::size_t size = 4;
    const std::size_t stamps = bytes::rank_based::stamps(capacity, size);
    const std::size_t fills = bytes::rank_based::fills(capacity, size);
    REQUIRE(bytes::read_u64(checkpoint, fills) == 4);
    REQUIRE(bytes::read_u64(checkpoint, stamps + 8) == 2);

    using patch = bytes::field_patch;
    const patch patches[] = {
        {"alpha NaN", bytes::alpha, 0, 0, not_a_number},
        {"alpha negative", bytes::alpha, 0, 0, -0.5},
        {"alpha too large for the capacity", bytes::alpha, 0, 0, 2000.0},
        {"epsilon infinite", bytes::epsilon, 0, 0, infinite},
        {"initial_max_priority NaN", bytes::initial_max_priority, 0, 0, not_a_number},
        {"sampling 3", bytes::sampling, 4, 3, 0},
        {"normalization 7", bytes::normalization, 4, 7, 0},
        {"max priority infinite", bytes::max_priority, 0, 0, infinite},
        {"max priority below an item's", bytes::max_priority, 0, 0, 1.5},
        {"max priority below the initial one", bytes::initial_max_priority, 0, 0, 2.5},
        {"filled flag 2", bytes::filled + 1, 1, 2, 0},
        {"a hole in the ring", bytes::filled + 1, 1, 0, 0},
        {"filled count differs from size", bytes::filled + 4, 1, 1, 0},
        {"priority NaN", bytes::priorities(capacity) + 8, 0, 0, not_a_number},
        {"priority negative", bytes::priorities(capacity), 0, 0, -1.0},
        {"priority infinite", bytes::priorities(capacity) + 24, 0, 0, infinite},
        {"stamp 0", stamps, 8, 0, 0, "stamps[0] = 0 must be in [1, fills = 4]"},
        {"stamp above the fill count", stamps + 24, 8, 5, 0, "stamps[3] = 5 must be in"},
        {"two equal stamps", stamps + 16, 8, 2, 0, "every fill has its own stamp"},
        {"fill count below a stamp", fills, 8, 3, 0, "stamps[3] = 4 must be in [1, fills = 3]"},
        {"fill count disagreeing with the generations", fills, 8, 5, 0,
         "disagrees with the generations"},
        {"next slot not at size", bytes::rank_based::next_slot(capacity, size), 8, 0, 0},
        {"capacity 0", bytes::capacity, 8, 0, 0},
        {"size above capacity", bytes::size, 8, 6, 0},
    };
    per::rank_based_replay<std::int32_t> target(2);
    target.push(5, 3.0);
    const std::string before = state(target);
    for (const patch& p : patches) {
        CAPTURE(p.what);
        const std::string patched = bytes::patched(checkpoint, p);
        std::istringstream in(patched);
        try {
            per::load(in, target);
        } catch (const per::checkpoint_error& error) {
            REQUIRE_THAT(error.what(), PER_CONTAINS(p.message));
        }
        const checkpoint_errc code = load_error(patched, target);
        // A changed capacity or size moves every later field: the checkpoint then no longer
        // parses (truncated) or fails a value check, both fine.
        if (p.at == bytes::capacity || p.at == bytes::size) {
            REQUIRE((code == checkpoint_errc::invalid_value || code == checkpoint_errc::truncated));
        } else {
            REQUIRE(code == checkpoint_errc::invalid_value);
        }
        REQUIRE(state(target) == before);
    }

    SECTION("a buffer's stamps grow along the ring") {
        std::string patched = checkpoint;
        bytes::write_u64(patched, stamps, 2); // slots 0 and 1 swap their stamps
        bytes::write_u64(patched, stamps + 8, 1);
        bytes::reseal(patched);
        std::istringstream in(patched);
        REQUIRE_THROWS_WITH(per::load(in, target),
                            PER_CONTAINS("stamps[1] = 1 must be > stamps[0] = 2: a replay buffer "
                                         "fills its slots in ring order"));
        REQUIRE(load_error(patched, target) == checkpoint_errc::invalid_value);
        REQUIRE(state(target) == before);
    }
    SECTION("a sampler's stamps need not follow the slots, but must be distinct") {
        rank_based_sampler sampler(4);
        sampler.fill(3, 1.0);
        sampler.fill(0, 1.0);
        sampler.fill(1, 1.0);
        sampler.erase(1); // fills 3, stamps: slot 0 -> 2, slot 3 -> 1
        const std::string sampler_checkpoint = saved(sampler);
        const std::size_t at = bytes::rank_based::stamps(4, 2);
        REQUIRE(bytes::read_u64(sampler_checkpoint, at) == 2);
        REQUIRE(bytes::read_u64(sampler_checkpoint, at + 8) == 1);
        rank_based_sampler sampler_target(2);
        const std::string sampler_before = state(sampler_target);

        std::string patched = sampler_checkpoint;
        bytes::write_u64(patched, at, 3); // a stamp the erased item had: valid, slot 0 still first
        bytes::reseal(patched);
        load_from(patched, sampler_target);
        REQUIRE(sampler_target.slot_of_rank(1) == 0);
        REQUIRE(state(sampler_target) == state(sampler));

        sampler_target = rank_based_sampler(2);
        bytes::write_u64(patched, at, 1); // slot 3's stamp too
        bytes::reseal(patched);
        REQUIRE(load_error(patched, sampler_target) == checkpoint_errc::invalid_value);
        REQUIRE(state(sampler_target) == sampler_before);
    }
    SECTION("a full ring's stamps grow from the next slot on") {
        per::rank_based_replay<std::int32_t> full(3);
        for (std::int32_t i = 0; i < 4; ++i) {
            full.push(i, 1.0); // slot 0 refilled: stamps 4, 2, 3; next slot 1
        }
        std::string patched = saved(full);
        const std::size_t next = bytes::rank_based::next_slot(3, 3);
        REQUIRE(bytes::read_u64(patched, next) == 1);
        bytes::write_u64(patched, next, 2); // the oldest would be slot 2: stamps 3, 4, 2
        bytes::reseal(patched);
        REQUIRE(load_error(patched, target) == checkpoint_errc::invalid_value);
        REQUIRE(state(target) == before);
    }
}

TEST_CASE("a huge size or capacity in a corrupted rank-based header fails without a huge "
          "allocation",
          "[checkpoint][rank_based]") {
    per::rank_based_replay<int> source(3);
    source.push(1);
    const std::string checkpoint = saved(source);
    per::rank_based_replay<int> target(3);
    const std::string before = state(target);
    for (std::uint64_t huge : {std::uint64_t{1} << 40, std::uint64_t{1} << 62,
                               std::numeric_limits<std::uint64_t>::max()}) {
        CAPTURE(huge);
        std::string patched = checkpoint;
        bytes::write_u64(patched, bytes::capacity, huge);
        bytes::reseal(patched);
        const checkpoint_errc code = load_error(patched, target);
        REQUIRE((code == checkpoint_errc::truncated || code == checkpoint_errc::invalid_value));
        patched = checkpoint;
        bytes::write_u64(patched, bytes::size, huge);
        REQUIRE(load_error(patched, target) == checkpoint_errc::invalid_value); // size > capacity
    }
    REQUIRE(state(target) == before);
}

TEST_CASE("a fill count that could wrap within 2^63 fills is rejected; 2^63 - 1 is accepted",
          "[checkpoint][rank_based]") {
    // The rule: fill_count <= 2^63 - 1 = 2^64 - 1 - 2^63. A forged count near 2^64 passed every
    // other check (its stamps in range, the generations adding up to it modulo 2^32), and the
    // next fills wrapped to stamps 0 and 1, equal to or below the stamps present.
    constexpr std::uint64_t limit = per::sampler_state::max_fill_count;
    STATIC_REQUIRE(limit == (std::uint64_t{1} << 63) - 1);
    const std::uint64_t too_large[] = {limit + 1, std::numeric_limits<std::uint64_t>::max() - 1,
                                       std::numeric_limits<std::uint64_t>::max()};
    const auto message = [](std::uint64_t count) {
        return "fill_count = " + std::to_string(count) +
               " must be <= 9223372036854775807 = 2^63 - 1";
    };

    SECTION("rank_based_sampler::import_state") {
        rank_based_sampler source(2);
        source.fill(0, 1.0); // fills 1, stamp 1, generations {1, 0}
        per::sampler_state forged = source.export_state();
        rank_based_sampler target(3);
        target.fill(2, 4.0);
        const std::string before = state(target);
        for (std::uint64_t count : too_large) {
            CAPTURE(count);
            forged.fill_count = count;
            forged.generations[0] = static_cast<std::uint32_t>(count); // agree modulo 2^32
            REQUIRE_THROWS_AS(target.import_state(forged), std::invalid_argument);
            REQUIRE_THROWS_WITH(
                target.import_state(forged),
                PER_CONTAINS("per::rank_based_sampler::import_state: state." + message(count)));
            REQUIRE(state(target) == before);
        }
        forged.fill_count = limit;
        forged.generations[0] = static_cast<std::uint32_t>(limit);
        target.import_state(forged);
        REQUIRE(target.index().fill_count() == limit);
        // The next fills take stamps 2^63 and 2^63 + 1: the newest item of a tie ranks first.
        target.fill(1, 1.0);
        REQUIRE(target.index().stamp(1) == limit + 1);
        REQUIRE(target.slot_of_rank(1) == 1);
        target.fill(0, 1.0);
        REQUIRE(target.index().stamp(0) == limit + 2);
        REQUIRE(target.slot_of_rank(1) == 0);
        REQUIRE(target.rank(1) == 2);
    }

    // Checkpoints of the three rank-based kinds, the fill count and slot 0's generation patched
    // together and the checksum recomputed.
    const auto forge = [](const std::string& checkpoint, std::size_t capacity, std::size_t size,
                          std::uint64_t count) {
        std::string patched = checkpoint;
        bytes::write_u64(patched, bytes::rank_based::fills(capacity, size), count);
        bytes::write_u32(patched, bytes::generations(capacity), static_cast<std::uint32_t>(count));
        bytes::reseal(patched);
        return patched;
    };
    const auto require_rejected_and_limit_accepted = [&](const auto& source, auto& target,
                                                         auto&& fill_count_of) {
        const std::string checkpoint = saved(source);
        const std::size_t capacity = source.capacity();
        const std::size_t size = source.size();
        REQUIRE(bytes::read_u64(checkpoint, bytes::rank_based::fills(capacity, size)) == 1);
        const std::string before = state(target);
        for (std::uint64_t count : too_large) {
            CAPTURE(count);
            const std::string patched = forge(checkpoint, capacity, size, count);
            REQUIRE(load_error(patched, target) == checkpoint_errc::invalid_value);
            std::istringstream in(patched);
            REQUIRE_THROWS_WITH(per::load(in, target), PER_CONTAINS(message(count)));
            REQUIRE(state(target) == before);
        }
        load_from(forge(checkpoint, capacity, size, limit), target);
        REQUIRE(fill_count_of(target) == limit);
    };

    SECTION("a rank_based_sampler checkpoint") {
        rank_based_sampler source(2);
        source.fill(0, 1.0);
        rank_based_sampler target(3);
        require_rejected_and_limit_accepted(
            source, target, [](const rank_based_sampler& s) { return s.index().fill_count(); });
    }
    SECTION("a rank_based_replay checkpoint") {
        per::rank_based_replay<std::int32_t> source(2);
        source.push(7, 1.0);
        per::rank_based_replay<std::int32_t> target(3);
        require_rejected_and_limit_accepted(source, target,
                                            [](const per::rank_based_replay<std::int32_t>& buffer) {
                                                return buffer.sampler().index().fill_count();
                                            });
        target.push(8, 1.0); // stamp 2^63: ranks before the loaded item of the same priority
        REQUIRE(target.sampler().rank(1) == 1);
        REQUIRE(target.sampler().rank(0) == 2);
    }
    SECTION("a naive_rank_based_replay checkpoint") {
        per::naive_rank_based_replay<std::int32_t> source(2);
        source.push(7, 1.0);
        per::naive_rank_based_replay<std::int32_t> target(3);
        require_rejected_and_limit_accepted(
            source, target, [](const per::naive_rank_based_replay<std::int32_t>& buffer) {
                return buffer.export_sampler_state().fill_count;
            });
        target.push(8, 1.0);
        REQUIRE(target.rank(1) == 1);
        REQUIRE(target.rank(0) == 2);
    }
}
