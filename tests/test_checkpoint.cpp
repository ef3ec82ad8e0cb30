// Checkpoints (per/checkpoint.hpp): round trips restore the whole state and the same batches;
// the format is the documented little-endian one, byte for byte; every kind of bad input
// (truncated, corrupted, wrong magic / version / kind / type, invalid values behind a valid
// checksum) throws per::checkpoint_error with the right code and leaves the target unchanged.
#include <per/checkpoint.hpp>

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

// A sampler with a history: fills, overwrites, erasures, updates (double and float), and an
// alpha change, so that generations, max priority and raw priorities are all non-trivial.
template <class Sampler>
std::vector<replay_handle> give_history(Sampler& sampler, std::uint64_t seed) {
    std::mt19937_64 engine(seed);
    std::vector<replay_handle> handles;
    const std::size_t capacity = sampler.capacity();
    for (int step = 0; step < 120; ++step) {
        const std::size_t slot = per::uniform_below(engine, capacity);
        const double pick = per::uniform_unit(engine);
        if (pick < 0.45) {
            handles.push_back(sampler.fill(slot, 3.0 * per::uniform_unit(engine)));
        } else if (pick < 0.6) {
            handles.push_back(sampler.fill(slot));
        } else if (pick < 0.7) {
            sampler.erase(slot);
        } else if (!handles.empty()) {
            const replay_handle handle = handles[per::uniform_below(engine, handles.size())];
            const float priority = static_cast<float>(5.0 * per::uniform_unit(engine));
            sampler.update_priorities(&handle, &priority, 1);
        }
    }
    sampler.fill(0, 0.0); // a zero priority
    sampler.set_alpha(0.8);
    return handles;
}

} // namespace

TEMPLATE_TEST_CASE("a sampler round trip restores the state and the batches", "[checkpoint]",
                   per::sum_tree<double>, per::sum_tree<float>) {
    using sampler_type = per::basic_prioritized_sampler<TestType>;
    for (sampling_mode mode : all_modes) {
        for (weight_normalization normalization : all_normalizations) {
            CAPTURE(static_cast<int>(mode), static_cast<int>(normalization));
            const auto options = replay_options{}
                                     .alpha(0.6)
                                     .epsilon(0.01)
                                     .initial_max_priority(1.5)
                                     .sampling(mode)
                                     .normalization(normalization);
            sampler_type original(37, options);
            const std::vector<replay_handle> handles = give_history(original, 11);
            sampler_type loaded(5); // other capacity and options: load replaces them
            load_from(saved(original), loaded);
            REQUIRE(state(loaded) == state(original));
            REQUIRE(loaded.capacity() == 37);
            REQUIRE(loaded.alpha() == 0.8);
            REQUIRE(loaded.options().sampling() == mode);
            REQUIRE(loaded.options().normalization() == normalization);
            REQUIRE(loaded.memory_bytes() == original.memory_bytes());
            require_same_batches(original, loaded, 8, 5);

            // Every old handle is exactly as stale or as current as before.
            for (const replay_handle& handle : handles) {
                REQUIRE(original.update_priority(handle, 0.5) ==
                        loaded.update_priority(handle, 0.5));
            }
            original.fill(36, 2.0);
            loaded.fill(36, 2.0);
            original.set_alpha(0.3);
            loaded.set_alpha(0.3);
            REQUIRE(state(loaded) == state(original));
            require_same_batches(original, loaded, 8, 6);
        }
    }
}

TEST_CASE("a replay round trip keeps items, ring position and handles across a wrap",
          "[checkpoint]") {
    struct transition {
        std::int32_t state;
        float reward;
        double value;
    };
    for (sampling_mode mode : all_modes) {
        CAPTURE(static_cast<int>(mode));
        per::prioritized_replay<transition> original(10, replay_options{}.sampling(mode));
        std::vector<replay_handle> handles;
        for (int i = 0; i < 27; ++i) { // wraps twice; next slot 7
            handles.push_back(original.push(transition{i, 0.5f * static_cast<float>(i), -i * 1.5},
                                            0.1 * (i % 7)));
        }
        const std::vector<float> priorities = {2.5f, 0.0f, 7.25f};
        original.update_priorities(std::vector<replay_handle>(handles.end() - 3, handles.end()),
                                   priorities);
        original.set_alpha(0.9);
        REQUIRE(original.next_slot() == 7);

        per::prioritized_replay<transition> loaded(3);
        load_from(saved(original), loaded);
        REQUIRE(state(loaded) == state(original));
        for (std::size_t slot = 0; slot < 10; ++slot) {
            REQUIRE(loaded.item(slot).state == original.item(slot).state);
            REQUIRE(loaded.item(slot).value == original.item(slot).value);
        }
        require_same_batches(original, loaded, 6, 9);
        for (const replay_handle& handle : handles) { // 17 stale, 10 current
            REQUIRE(original.update_priority(handle, 1.0) == loaded.update_priority(handle, 1.0));
        }
        REQUIRE(original.push(transition{99, 0, 0}) == loaded.push(transition{99, 0, 0}));
        REQUIRE(loaded.next_slot() == 8);
        REQUIRE(state(loaded) == state(original));
    }
}

TEST_CASE("items that are not trivially copyable use an item serializer", "[checkpoint]") {
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
    per::prioritized_replay<std::string> original(4);
    for (const char* text : {"", "a", "two words", "\n\0x", "last one, wraps"}) {
        original.push(text);
    }
    std::ostringstream out;
    per::save(out, original, write_item);
    per::prioritized_replay<std::string> loaded(1);
    std::istringstream in(out.str());
    per::load(in, loaded, read_item);
    REQUIRE(state(loaded) == state(original));
    REQUIRE(loaded.item(0) == "last one, wraps");

    SECTION("a serialized checkpoint needs a serializer, and a raw one none") {
        per::prioritized_replay<std::int64_t> raw_target(2);
        const std::string before = state(raw_target);
        per::prioritized_replay<std::int64_t> source(3);
        source.push(5);
        std::ostringstream serialized;
        per::save(serialized, source,
                  [](std::ostream& stream, std::int64_t item) { stream << item << ';'; });
        REQUIRE(load_error(serialized.str(), raw_target) == checkpoint_errc::type_mismatch);
        REQUIRE(state(raw_target) == before);
        REQUIRE(load_error(saved(source), loaded, read_item) == checkpoint_errc::type_mismatch);
        REQUIRE(state(loaded) == state(original));
    }
    SECTION("read_item must read exactly the bytes write_item wrote") {
        const std::string before = state(loaded);
        const auto read_too_little = [](std::istream& stream) {
            std::string item;
            stream >> item; // stops at the first space
            return item;
        };
        REQUIRE(load_error(out.str(), loaded, read_too_little) == checkpoint_errc::invalid_value);
        REQUIRE(state(loaded) == before);
        const auto read_and_throw = [](std::istream&) -> std::string {
            throw std::domain_error("user error");
        };
        std::istringstream again(out.str());
        REQUIRE_THROWS_AS(per::load(again, loaded, read_and_throw), std::domain_error);
        REQUIRE(state(loaded) == before);
    }
    SECTION("write_item must leave the stream good") {
        std::ostringstream failing;
        const auto write_badly = [](std::ostream& stream, const std::string&) {
            stream.setstate(std::ios::failbit);
        };
        try {
            per::save(failing, original, write_badly);
            FAIL("save did not throw");
        } catch (const per::checkpoint_error& error) {
            REQUIRE(error.code() == checkpoint_errc::stream_error);
        }
    }
}

TEST_CASE("the naive reference buffer round trips too", "[checkpoint]") {
    for (sampling_mode mode : all_modes) {
        CAPTURE(static_cast<int>(mode));
        per::naive_prioritized_replay<int> original(6, replay_options{}.sampling(mode));
        std::vector<replay_handle> handles;
        for (int i = 0; i < 9; ++i) {
            handles.push_back(i % 3 ? original.push(i) : original.push(i, 0.2 * i));
        }
        original.update_priority(handles.back(), 4.0);
        original.set_alpha(0.4);
        per::naive_prioritized_replay<int> loaded(2);
        load_from(saved(original), loaded);
        REQUIRE(state(loaded) == state(original));
        require_same_batches(original, loaded, 4, 3);
        for (const replay_handle& handle : handles) {
            REQUIRE(original.update_priority(handle, 1.0) == loaded.update_priority(handle, 1.0));
        }
        original.clear();
        loaded.clear();
        REQUIRE(original.push(1) == loaded.push(1)); // generations survived the clear
        REQUIRE(state(loaded) == state(original));
    }
}

TEST_CASE("an empty object and a cleared one round trip", "[checkpoint]") {
    per::prioritized_replay<int> fresh(4);
    per::prioritized_replay<int> loaded(9);
    load_from(saved(fresh), loaded);
    REQUIRE(state(loaded) == state(fresh));
    fresh.push(1);
    fresh.push(2, 8.0);
    fresh.clear(); // empty again, but max priority and generations remember
    load_from(saved(fresh), loaded);
    REQUIRE(state(loaded) == state(fresh));
    REQUIRE(loaded.max_priority() == 8.0);
    REQUIRE(loaded.push(3).generation == 2);
}

TEST_CASE("the format is the documented little-endian layout, byte for byte", "[checkpoint]") {
    per::prioritized_sampler sampler(3, replay_options{}
                                            .alpha(0.5)
                                            .epsilon(0.25)
                                            .initial_max_priority(2.0)
                                            .sampling(sampling_mode::independent)
                                            .normalization(weight_normalization::batch_max));
    sampler.fill(1, 3.0);
    sampler.fill(2);
    sampler.erase(2); // empty, generation 1

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
    put(1, 4);                                                  // version
    put(1, 4);                                                  // kind: sampler
    put(8, 4);                                                  // value size: double trees
    put(per::prioritized_sampler::weight_tree_type::fanout, 4); // fanout
    put(3, 8);                                                  // capacity
    put(1, 8);                                                  // size
    put_double(0.5);                                            // alpha
    put_double(0.25);                                           // epsilon
    put_double(2.0);                                            // initial_max_priority
    put(1, 4);                                                  // independent
    put(1, 4);                                                  // batch_max
    put_double(3.0);                                            // max priority
    expected += std::string("\0\1\0", 3);                       // filled
    put(0, 4);                                                  // generations
    put(1, 4);
    put(1, 4);
    put_double(3.0); // the one raw priority
    put(bytes::fnv1a64(expected, expected.size()), 8);
    const std::string written = saved(sampler);
    REQUIRE(written.size() == expected.size());
    REQUIRE(written == expected);
    REQUIRE(written.size() == bytes::next_slot(3, 1) + 8);
}

TEST_CASE("load reads exactly one checkpoint from a stream", "[checkpoint]") {
    per::prioritized_replay<int> a(3);
    a.push(1);
    per::prioritized_replay<int> b(5);
    b.push(2, 4.0);
    b.push(3);
    std::ostringstream out;
    per::save(out, a);
    out << "between";
    per::save(out, b);
    std::istringstream in(out.str());
    per::prioritized_replay<int> first(1);
    per::prioritized_replay<int> second(1);
    per::load(in, first);
    std::string between(7, ' ');
    in.read(&between[0], 7);
    REQUIRE(between == "between");
    per::load(in, second);
    REQUIRE(state(first) == state(a));
    REQUIRE(state(second) == state(b));
    REQUIRE(in.peek() == std::char_traits<char>::eof());
}

TEST_CASE("a failing output stream is reported", "[checkpoint]") {
    per::prioritized_sampler sampler(4);
    std::ostringstream out;
    out.setstate(std::ios::badbit);
    try {
        per::save(out, sampler);
        FAIL("save did not throw");
    } catch (const per::checkpoint_error& error) {
        REQUIRE(error.code() == checkpoint_errc::stream_error);
        REQUIRE_THAT(error.what(), PER_CONTAINS("per::save"));
    }
}

TEST_CASE("truncated input throws and changes nothing, at every length", "[checkpoint]") {
    per::prioritized_replay<std::uint16_t> source(5);
    for (std::uint16_t i = 0; i < 7; ++i) {
        source.push(i, 0.5 * i);
    }
    const std::string checkpoint = saved(source);
    per::prioritized_replay<std::uint16_t> target(3);
    target.push(42);
    const std::string before = state(target);
    for (std::size_t length = 0; length < checkpoint.size(); ++length) {
        CAPTURE(length);
        REQUIRE(load_error(checkpoint.substr(0, length), target) == checkpoint_errc::truncated);
    }
    REQUIRE(state(target) == before);
    load_from(checkpoint, target); // the whole of it still loads
    REQUIRE(state(target) == state(source));
}

TEST_CASE("any corrupted byte throws and changes nothing", "[checkpoint]") {
    per::prioritized_sampler source(6, replay_options{}.alpha(0.7));
    source.fill(0, 1.0);
    source.fill(3, 0.25);
    source.fill(5);
    const std::string checkpoint = saved(source);
    per::prioritized_sampler target(2);
    target.fill(1, 9.0);
    const std::string before = state(target);
    std::size_t checksum_errors = 0;
    for (std::size_t at = 0; at < checkpoint.size(); ++at) {
        for (unsigned char flip : {0x01, 0x80, 0xff}) {
            CAPTURE(at, static_cast<int>(flip));
            std::string corrupted = checkpoint;
            corrupted[at] = static_cast<char>(static_cast<unsigned char>(corrupted[at]) ^ flip);
            checksum_errors += load_error(corrupted, target) == checkpoint_errc::checksum_mismatch;
        }
    }
    REQUIRE(state(target) == before);
    REQUIRE(checksum_errors > 2 * checkpoint.size());
}

TEST_CASE("wrong magic, version, kind or type throw their own codes", "[checkpoint]") {
    per::prioritized_replay<std::int32_t> replay(4);
    replay.push(7);
    const std::string checkpoint = saved(replay);
    per::prioritized_replay<std::int32_t> target(2);
    target.push(1, 0.5);
    const std::string before = state(target);

    std::string wrong_magic = checkpoint;
    wrong_magic[1] = 'Q';
    REQUIRE(load_error(wrong_magic, target) == checkpoint_errc::bad_magic);
    REQUIRE(load_error(std::string("not a checkpoint at all, just text"), target) ==
            checkpoint_errc::bad_magic);

    std::string future = checkpoint;
    bytes::write_u32(future, bytes::version, 2);
    bytes::reseal(future);
    REQUIRE(load_error(future, target) == checkpoint_errc::unsupported_version);

    // A sampler's checkpoint into a buffer, a buffer's into a sampler or the naive buffer.
    per::prioritized_sampler sampler(4);
    REQUIRE(load_error(saved(sampler), target) == checkpoint_errc::wrong_kind);
    per::naive_prioritized_replay<std::int32_t> naive(4);
    REQUIRE(load_error(checkpoint, naive) == checkpoint_errc::wrong_kind);
    REQUIRE(load_error(saved(naive), target) == checkpoint_errc::wrong_kind);
    REQUIRE(load_error(checkpoint, sampler) == checkpoint_errc::wrong_kind);

    // Other item size; other tree value type.
    per::prioritized_replay<std::int64_t> wider(4);
    REQUIRE(load_error(checkpoint, wider) == checkpoint_errc::type_mismatch);
    per::prioritized_replay<std::int32_t, per::basic_prioritized_sampler<per::sum_tree<float>>>
        float_target(4);
    REQUIRE(load_error(checkpoint, float_target) == checkpoint_errc::type_mismatch);
    per::basic_prioritized_sampler<per::sum_tree<float>> float_sampler(4);
    REQUIRE(load_error(saved(sampler), float_sampler) == checkpoint_errc::type_mismatch);

    REQUIRE(state(target) == before);
}

TEST_CASE("invalid values behind a valid checksum throw and change nothing", "[checkpoint]") {
    // capacity 4, size 3 (slots 0..2), next slot 3, int items.
    per::prioritized_replay<std::int32_t> source(4, replay_options{}.alpha(1.0));
    source.push(10, 1.0);
    source.push(11, 2.0);
    source.push(12, 0.5);
    const std::string checkpoint = saved(source);
    const std::size_t capacity = 4;
    const std::size_t size = 3;

    using patch = bytes::field_patch;
    const patch patches[] = {
        {"alpha NaN", bytes::alpha, 0, 0, not_a_number},
        {"alpha negative", bytes::alpha, 0, 0, -0.5},
        {"epsilon infinite", bytes::epsilon, 0, 0, infinite},
        {"initial_max_priority negative", bytes::initial_max_priority, 0, 0, -1.0},
        {"sampling 3", bytes::sampling, 4, 3, 0},
        {"normalization 7", bytes::normalization, 4, 7, 0},
        {"max priority NaN", bytes::max_priority, 0, 0, not_a_number},
        {"max priority below an item's", bytes::max_priority, 0, 0, 1.5},
        {"max priority below the initial one", bytes::initial_max_priority, 0, 0, 2.5},
        {"max priority above the limit", bytes::max_priority, 0, 0, 1e308},
        {"size above capacity", bytes::size, 8, 5, 0},
        {"filled flag 2", bytes::filled + 1, 1, 2, 0},
        {"filled count differs from size", bytes::filled + 3, 1, 1, 0},
        {"a hole in the ring", bytes::filled + 1, 1, 0, 0},
        {"priority NaN", bytes::priorities(capacity) + 8, 0, 0, not_a_number},
        {"priority negative", bytes::priorities(capacity), 0, 0, -1.0},
        {"priority infinite", bytes::priorities(capacity) + 16, 0, 0, infinite},
        {"priority above the limit", bytes::priorities(capacity), 0, 0, 5e307},
        {"next slot not at size", bytes::next_slot(capacity, size), 8, 0, 0},
        {"capacity 0", bytes::capacity, 8, 0, 0},
    };
    per::prioritized_replay<std::int32_t> target(2);
    target.push(5, 3.0);
    const std::string before = state(target);
    for (const patch& p : patches) {
        CAPTURE(p.what);
        const std::string patched = bytes::patched(checkpoint, p);
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

    SECTION("a full ring accepts any next slot below capacity, and no other") {
        per::prioritized_replay<std::int32_t> full(2);
        full.push(1);
        full.push(2);
        full.push(3);
        std::string patched = saved(full);
        const std::size_t at = bytes::next_slot(2, 2);
        REQUIRE(bytes::read_u64(patched, at) == 1);
        bytes::write_u64(patched, at, 0);
        bytes::reseal(patched);
        load_from(patched, target);
        REQUIRE(target.next_slot() == 0);
        bytes::write_u64(patched, at, 2);
        bytes::reseal(patched);
        REQUIRE(load_error(patched, target) == checkpoint_errc::invalid_value);
    }
}

TEST_CASE("a huge size or capacity in a corrupted header fails without a huge allocation",
          "[checkpoint]") {
    per::prioritized_sampler source(3);
    source.fill(0);
    const std::string checkpoint = saved(source);
    per::prioritized_sampler target(3);
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

TEST_CASE("a truncated checkpoint on a stream with exceptions() set throws checkpoint_error",
          "[checkpoint]") {
    // Such a stream throws std::ios_base::failure from the short read; load reports it as
    // truncation like for any stream, leaves the target unchanged and the mask as it was.
    per::prioritized_replay<std::int32_t> source(4);
    for (std::int32_t i = 0; i < 6; ++i) {
        source.push(i, 0.5 * i);
    }
    per::prioritized_sampler sampler_source(3);
    sampler_source.fill(1, 2.0);
    const std::string replay_checkpoint = saved(source);
    const std::string sampler_checkpoint = saved(sampler_source);
    per::prioritized_replay<std::int32_t> target(2);
    target.push(9, 3.0);
    per::prioritized_sampler sampler_target(2);
    const std::string before = state(target);
    const std::string sampler_before = state(sampler_target);
    const std::ios_base::iostate masks[] = {std::ios_base::failbit | std::ios_base::badbit |
                                                std::ios_base::eofbit,
                                            std::ios_base::eofbit, std::ios_base::failbit};
    const auto require_truncated = [](const std::string& bytes, auto& object,
                                      std::ios_base::iostate mask) {
        std::istringstream in(bytes);
        in.exceptions(mask);
        try {
            per::load(in, object);
            FAIL("load did not throw");
        } catch (const per::checkpoint_error& error) {
            REQUIRE(error.code() == checkpoint_errc::truncated);
        }
        REQUIRE(in.exceptions() == mask);
    };
    for (std::ios_base::iostate mask : masks) {
        CAPTURE(static_cast<int>(mask));
        for (std::size_t length = 0; length < replay_checkpoint.size(); length += 3) {
            CAPTURE(length);
            require_truncated(replay_checkpoint.substr(0, length), target, mask);
            REQUIRE(state(target) == before);
        }
        for (std::size_t length = 0; length < sampler_checkpoint.size(); ++length) {
            CAPTURE(length);
            require_truncated(sampler_checkpoint.substr(0, length), sampler_target, mask);
            REQUIRE(state(sampler_target) == sampler_before);
        }
        // A whole checkpoint loads on such a stream as on any other.
        std::istringstream whole(replay_checkpoint);
        whole.exceptions(mask);
        per::prioritized_replay<std::int32_t> loaded(1);
        per::load(whole, loaded);
        REQUIRE(state(loaded) == state(source));
        REQUIRE(whole.exceptions() == mask);
    }
}

TEST_CASE("load_options max_capacity refuses a larger capacity before allocating for it",
          "[checkpoint]") {
    per::prioritized_replay<std::int32_t> source(1000);
    source.push(1, 2.0);
    per::prioritized_sampler sampler_source(1000);
    sampler_source.fill(7, 1.5);
    per::prioritized_replay<std::int32_t> target(3);
    target.push(4);
    per::prioritized_sampler sampler_target(3);
    const std::string before = state(target);
    const std::string sampler_before = state(sampler_target);
    const auto limit_error = [](const std::string& bytes, auto& object,
                                const per::load_options& options) {
        std::istringstream in(bytes);
        try {
            per::load(in, object, options);
        } catch (const per::checkpoint_error& error) {
            INFO(error.what());
            REQUIRE_THAT(error.what(), PER_CONTAINS("per::load: capacity = "));
            REQUIRE_THAT(error.what(), PER_CONTAINS("exceeds load_options max_capacity() = " +
                                                    std::to_string(options.max_capacity())));
            return error.code();
        }
        FAIL("load did not throw");
        return checkpoint_errc::stream_error;
    };

    REQUIRE(per::load_options{}.max_capacity() == std::numeric_limits<std::size_t>::max());
    const auto below = per::load_options{}.max_capacity(999);
    REQUIRE(limit_error(saved(source), target, below) == checkpoint_errc::limit_exceeded);
    REQUIRE(limit_error(saved(sampler_source), sampler_target, below) ==
            checkpoint_errc::limit_exceeded);
    REQUIRE(state(target) == before);
    REQUIRE(state(sampler_target) == sampler_before);

    // At the limit, and with the default options, it loads.
    std::istringstream in(saved(source));
    per::load(in, target, per::load_options{}.max_capacity(1000));
    REQUIRE(state(target) == state(source));
    std::istringstream sampler_in(saved(sampler_source));
    per::load(sampler_in, sampler_target, per::load_options{});
    REQUIRE(state(sampler_target) == state(sampler_source));

    SECTION("checked as the capacity is read: a forged 2^40 is refused, not read as truncated") {
        std::string forged = saved(sampler_source);
        bytes::write_u64(forged, bytes::capacity, std::uint64_t{1} << 40);
        per::prioritized_sampler untouched(2);
        const std::string untouched_before = state(untouched);
        REQUIRE(limit_error(forged, untouched, per::load_options{}.max_capacity(1 << 20)) ==
                checkpoint_errc::limit_exceeded);
        REQUIRE(load_error(forged, untouched) == checkpoint_errc::truncated); // no limit
        REQUIRE(state(untouched) == untouched_before);
    }
    SECTION("the item-serializer overload takes the options too") {
        per::prioritized_replay<std::string> text_source(50);
        text_source.push("one");
        std::ostringstream out;
        per::save(out, text_source,
                  [](std::ostream& stream, const std::string& item) { stream << item; });
        const auto read_item = [](std::istream& stream) {
            std::string item;
            stream >> item;
            return item;
        };
        per::prioritized_replay<std::string> text_target(2);
        const std::string text_before = state(text_target);
        std::istringstream refused(out.str());
        try {
            per::load(refused, text_target, read_item, per::load_options{}.max_capacity(49));
            FAIL("load did not throw");
        } catch (const per::checkpoint_error& error) {
            REQUIRE(error.code() == checkpoint_errc::limit_exceeded);
        }
        REQUIRE(state(text_target) == text_before);
        std::istringstream accepted(out.str());
        per::load(accepted, text_target, read_item, per::load_options{}.max_capacity(50));
        REQUIRE(text_target.item(0) == "one");
    }
}
