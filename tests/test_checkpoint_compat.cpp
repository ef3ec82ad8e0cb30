// Checkpoint compatibility: the files of tests/data/checkpoints-0.1.0/ were written by per 0.1.0
// (tests/compat/make_checkpoints_0_1_0.cpp, see the README there) and every later version must
// load them with every observable equal. For each case, the description of the loaded object
// (per_compat::describe: per_test::state of tests/state_snapshot.hpp, then a fixed continuation)
// must equal the case's .expected text, which 0.1.0 wrote, character for character; and saving
// the loaded object again must give the file's bytes (format version 1 as save writes it).
// One observable changed on purpose, the heap a rank-based sampler holds (a bug fix: see
// with_memory_of_new_samplers).
//
// The .expected texts come from 0.1.0: the output format of state_snapshot.hpp (for the objects
// these cases describe) and everything in compat/checkpoints_0_1_0.hpp must stay exactly as they
// are. Extend them only with output these cases do not print. Never regenerate the files.
#include <per/checkpoint.hpp>

#include "checkpoint_bytes.hpp"
#include "compat/checkpoints_0_1_0.hpp"
#include "per_catch.hpp"

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <set>
#include <sstream>
#include <string>
#include <utility>

#ifndef PER_COMPAT_DATA_DIR
#error "PER_COMPAT_DATA_DIR must name tests/data/checkpoints-0.1.0 (see tests/CMakeLists.txt)"
#endif

namespace {

namespace bytes = per_test::checkpoint_bytes;
using per::replay_options;
using per::sampling_mode;
using per::weight_normalization;
using per_compat::compat_transition;

std::string file_contents(const std::string& file) {
    const std::string path = std::string(PER_COMPAT_DATA_DIR) + "/" + file;
    std::ifstream in(path, std::ios::binary);
    INFO(path);
    REQUIRE(in.is_open());
    return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

// "" if the texts are equal, else the first line where they differ, numbered from 1 (so that a
// failure shows that line, not two texts of some kilobytes).
std::string first_difference(const std::string& actual, const std::string& expected) {
    if (actual == expected) {
        return "";
    }
    std::istringstream a(actual);
    std::istringstream e(expected);
    std::string line_a;
    std::string line_e;
    for (int line = 1;; ++line) {
        const bool more_a = static_cast<bool>(std::getline(a, line_a));
        const bool more_e = static_cast<bool>(std::getline(e, line_e));
        if (!more_a && !more_e) {
            return "the texts differ in their line ends";
        }
        if (!more_a || !more_e || line_a != line_e) {
            return "line " + std::to_string(line) +
                   ":\n  loaded:   " + (more_a ? line_a : "(end)") +
                   "\n  expected: " + (more_e ? line_e : "(end)");
        }
    }
}

// How a case's items are stored: raw (memcpy) bytes, or by the std::string serializer.
struct raw_items {
    template <class Object>
    static void load(std::istream& in, Object& object) {
        per::load(in, object);
    }
    template <class Object>
    static void save(std::ostream& out, const Object& object) {
        per::save(out, object);
    }
};
struct string_items {
    template <class Object>
    static void load(std::istream& in, Object& object) {
        per::load(in, object, per_compat::read_string);
    }
    template <class Object>
    static void save(std::ostream& out, const Object& object) {
        per::save(out, object, per_compat::write_string);
    }
};

// The load targets differ from every case in capacity, options and content, so that a check
// passes only if load replaces all of them.
const replay_options other_options = replay_options{}
                                         .alpha(0.25)
                                         .epsilon(0.125)
                                         .initial_max_priority(8.0)
                                         .sampling(sampling_mode::without_replacement)
                                         .normalization(weight_normalization::none);

template <class SumTree>
void give_content(per::basic_prioritized_sampler<SumTree>& sampler) {
    sampler.fill(1, 8.5);
}
void give_content(per::rank_based_sampler& sampler) {
    sampler.fill(1, 8.5);
    sampler.fill(2, 8.5);
}
template <class Buffer>
void give_content(Buffer& buffer) {
    buffer.push(per_compat::continuation_item<typename Buffer::item_type>(99), 8.5);
}

template <class Object>
Object other_target() {
    Object object(3, other_options);
    give_content(object);
    return object;
}

template <class Encoding, class Object>
std::string description_after_load(const std::string& checkpoint, Object& target) {
    std::istringstream in(checkpoint);
    Encoding::load(in, target);
    // load reads the whole checkpoint and nothing after it: the file holds nothing else.
    REQUIRE(in.peek() == std::char_traits<char>::eof());
    return per_compat::describe(target);
}

// The first stored raw priority of `checkpoint` changed to another valid value, with the
// checksum resealed: still a valid checkpoint, of a different object.
std::string with_first_priority_changed(const std::string& checkpoint) {
    const std::size_t capacity =
        static_cast<std::size_t>(bytes::read_u64(checkpoint, bytes::capacity));
    const std::size_t at = bytes::priorities(capacity);
    const double priority = bytes::read_f64(checkpoint, at);
    const double max_priority = bytes::read_f64(checkpoint, bytes::max_priority);
    return bytes::patched(checkpoint,
                          {"priorities[0]", at, 0, 0, priority > 0.0 ? 0.0 : max_priority});
}

// The one observable that changed on purpose since 0.1.0: the heap a rank-based sampler holds.
// Its order-statistics tree keeps stacks of free nodes reserved to their full size, so that no
// operation allocates; 0.1.0 copied those stacks without that reservation (the object its
// descriptions print had been copied, and held 4 bytes less per node in use, which a later
// erase would have allocated). Since 0.2 a copy reserves like a new sampler, so the memory
// expected now is that of a new sampler of the same capacity, never less than 0.1.0 printed.
std::string with_memory_of_new_samplers(const std::string& expected) {
    const std::string head = "rank_based_sampler capacity ";
    const std::string field = " memory ";
    std::string text = expected;
    for (std::size_t at = text.find(head); at != std::string::npos;
         at = text.find(head, at + head.size())) {
        const std::size_t capacity = std::stoul(text.substr(at + head.size()));
        const std::size_t value_at = text.find(field, at) + field.size();
        const std::size_t value_end = text.find(' ', value_at);
        const std::size_t printed = std::stoul(text.substr(value_at, value_end - value_at));
        const std::size_t now = per::rank_based_sampler(capacity).memory_bytes();
        REQUIRE(now >= printed);
        text.replace(value_at, value_end - value_at, std::to_string(now));
    }
    return text;
}

template <class Encoding, class Object>
void check_case(const std::string& name, const Object& target) {
    const std::string checkpoint = file_contents(name + ".ckpt");
    const std::string expected = with_memory_of_new_samplers(file_contents(name + ".expected"));
    REQUIRE(per_compat::describe(target) != expected);

    SECTION("loads with every observable as 0.1.0 described it") {
        Object loaded = target;
        const std::string difference =
            first_difference(description_after_load<Encoding>(checkpoint, loaded), expected);
        REQUIRE(difference == "");
    }
    SECTION("saves again to the same bytes") {
        Object loaded = target;
        description_after_load<Encoding>(checkpoint, loaded);
        std::ostringstream out;
        Encoding::save(out, loaded);
        REQUIRE(out.str().size() == checkpoint.size());
        REQUIRE(out.str() == checkpoint);
    }
    SECTION("a checkpoint with one priority changed is told apart") {
        const std::size_t size = static_cast<std::size_t>(bytes::read_u64(checkpoint, bytes::size));
        if (size > 0) {
            Object loaded = target;
            const std::string changed = with_first_priority_changed(checkpoint);
            REQUIRE(changed != checkpoint);
            REQUIRE(description_after_load<Encoding>(changed, loaded) != expected);
        }
    }
}

using double_sampler = per::basic_prioritized_sampler<per::sum_tree<double>>;
using float_sampler = per::basic_prioritized_sampler<per::sum_tree<float>>;

} // namespace

TEST_CASE("the 0.1.0 checkpoint directory holds the listed cases and nothing else",
          "[checkpoint][compat]") {
    std::set<std::string> expected_files = {"README.md"};
    for (const char* name : per_compat::case_names) {
        expected_files.insert(std::string(name) + ".ckpt");
        expected_files.insert(std::string(name) + ".expected");
    }
    std::set<std::string> files;
    for (const auto& entry : std::filesystem::directory_iterator(PER_COMPAT_DATA_DIR)) {
        files.insert(entry.path().filename().string());
    }
    REQUIRE(files == expected_files);
}

TEST_CASE("0.1.0 checkpoint sampler_double", "[checkpoint][compat]") {
    check_case<raw_items>("sampler_double", other_target<double_sampler>());
}

TEST_CASE("0.1.0 checkpoint sampler_float", "[checkpoint][compat]") {
    check_case<raw_items>("sampler_float", other_target<float_sampler>());
}

TEST_CASE("0.1.0 checkpoint sampler_cleared", "[checkpoint][compat]") {
    check_case<raw_items>("sampler_cleared", other_target<double_sampler>());
}

TEST_CASE("0.1.0 checkpoint sampler_empty", "[checkpoint][compat]") {
    check_case<raw_items>("sampler_empty", other_target<double_sampler>());
}

TEST_CASE("0.1.0 checkpoint replay_raw", "[checkpoint][compat]") {
    check_case<raw_items>("replay_raw", other_target<per::prioritized_replay<compat_transition>>());
}

TEST_CASE("0.1.0 checkpoint replay_float_cleared", "[checkpoint][compat]") {
    check_case<raw_items>(
        "replay_float_cleared",
        other_target<per::prioritized_replay<compat_transition, float_sampler>>());
}

TEST_CASE("0.1.0 checkpoint replay_strings", "[checkpoint][compat]") {
    check_case<string_items>("replay_strings",
                             other_target<per::prioritized_replay<std::string>>());
}

TEST_CASE("0.1.0 checkpoint naive_raw", "[checkpoint][compat]") {
    check_case<raw_items>("naive_raw",
                          other_target<per::naive_prioritized_replay<compat_transition>>());
}

TEST_CASE("0.1.0 checkpoint naive_strings", "[checkpoint][compat]") {
    check_case<string_items>("naive_strings",
                             other_target<per::naive_prioritized_replay<std::string>>());
}

TEST_CASE("0.1.0 checkpoint rank_sampler_ties", "[checkpoint][compat]") {
    check_case<raw_items>("rank_sampler_ties", other_target<per::rank_based_sampler>());
}

TEST_CASE("0.1.0 checkpoint rank_sampler_cleared", "[checkpoint][compat]") {
    check_case<raw_items>("rank_sampler_cleared", other_target<per::rank_based_sampler>());
}

TEST_CASE("0.1.0 checkpoint rank_sampler_equal", "[checkpoint][compat]") {
    check_case<raw_items>("rank_sampler_equal", other_target<per::rank_based_sampler>());
}

TEST_CASE("0.1.0 checkpoint rank_replay_raw", "[checkpoint][compat]") {
    check_case<raw_items>("rank_replay_raw",
                          other_target<per::rank_based_replay<compat_transition>>());
}

TEST_CASE("0.1.0 checkpoint rank_replay_strings", "[checkpoint][compat]") {
    check_case<string_items>("rank_replay_strings",
                             other_target<per::rank_based_replay<std::string>>());
}

// The order among equal priorities is part of what the oracle pins: two tied items of
// rank_sampler_ties with their fill stamps swapped make a valid checkpoint of another object.
TEST_CASE("0.1.0 checkpoint rank_sampler_ties: swapped fill stamps of a tie are told apart",
          "[checkpoint][compat]") {
    const std::string checkpoint = file_contents("rank_sampler_ties.ckpt");
    const std::string expected = file_contents("rank_sampler_ties.expected");
    const std::size_t capacity =
        static_cast<std::size_t>(bytes::read_u64(checkpoint, bytes::capacity));
    const std::size_t size = static_cast<std::size_t>(bytes::read_u64(checkpoint, bytes::size));
    const std::size_t priorities = bytes::priorities(capacity);
    const std::size_t stamps = bytes::rank_based::stamps(capacity, size);
    // The first two stored items with equal priorities (k-th stored item, in slot order).
    std::size_t first = size;
    std::size_t second = size;
    for (std::size_t i = 0; i < size && second == size; ++i) {
        for (std::size_t j = i + 1; j < size; ++j) {
            if (bytes::read_f64(checkpoint, priorities + 8 * i) ==
                bytes::read_f64(checkpoint, priorities + 8 * j)) {
                first = i;
                second = j;
                break;
            }
        }
    }
    REQUIRE(second < size);
    std::string swapped = checkpoint;
    bytes::write_u64(swapped, stamps + 8 * first, bytes::read_u64(checkpoint, stamps + 8 * second));
    bytes::write_u64(swapped, stamps + 8 * second, bytes::read_u64(checkpoint, stamps + 8 * first));
    bytes::reseal(swapped);
    REQUIRE(swapped != checkpoint);

    per::rank_based_sampler loaded = other_target<per::rank_based_sampler>();
    const std::string description = description_after_load<raw_items>(swapped, loaded);
    REQUIRE(description != expected);
    // Only the order among the ties differs: the priorities are the saved ones.
    per::rank_based_sampler original = other_target<per::rank_based_sampler>();
    description_after_load<raw_items>(checkpoint, original);
    for (std::size_t slot = 0; slot < capacity; ++slot) {
        REQUIRE(loaded.contains(slot) == original.contains(slot));
        if (original.contains(slot)) {
            REQUIRE(loaded.priority(slot) == original.priority(slot));
        }
    }
}
