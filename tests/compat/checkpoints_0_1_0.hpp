#ifndef PER_TESTS_COMPAT_CHECKPOINTS_0_1_0_HPP
#define PER_TESTS_COMPAT_CHECKPOINTS_0_1_0_HPP

// What the checkpoint files of tests/data/checkpoints-0.1.0/ and their readers share: the item
// types and the item serializer they were written with, the list of cases, and the description
// of an object that the .expected files hold. Those files were written by per 0.1.0
// (make_checkpoints_0_1_0.cpp) and are never regenerated, so everything here is frozen with
// them: the layout of compat_transition, the bytes the serializer writes, the continuation
// below and (through per_test::state) the output of tests/state_snapshot.hpp. Changing any of
// them breaks test_checkpoint_compat without any change in the library.
#include "../state_snapshot.hpp"

#include <per/naive_replay.hpp>
#include <per/prioritized_replay.hpp>
#include <per/prioritized_sampler.hpp>
#include <per/rank_based.hpp>
#include <per/sample_batch.hpp>

#include <cstddef>
#include <cstdint>
#include <istream>
#include <ostream>
#include <string>
#include <type_traits>

namespace per_compat {

// The raw (memcpy) item of the replay cases: no padding, so every byte of the file is a value.
struct compat_transition {
    std::int32_t state;
    std::int32_t action;
    float reward;
    float done;
    double value;
};
static_assert(sizeof(compat_transition) == 24 && std::is_trivially_copyable_v<compat_transition>,
              "the 0.1.0 checkpoints hold 24-byte transitions without padding");

// The item serializer of the std::string cases: the length in decimal, a space, the bytes.
inline void write_string(std::ostream& out, const std::string& item) {
    out << item.size() << ' ' << item;
}
inline std::string read_string(std::istream& in) {
    std::size_t length = 0;
    in >> length;
    in.get(); // the space
    std::string item(length, '\0');
    if (length > 0) {
        in.read(&item[0], static_cast<std::streamsize>(length));
    }
    return item;
}

// Every case: <name>.ckpt and <name>.expected in the data directory.
inline constexpr const char* case_names[] = {
    "sampler_double",  "sampler_float",        "sampler_cleared",      "sampler_empty",
    "replay_raw",      "replay_float_cleared", "replay_strings",       "naive_raw",
    "naive_strings",   "rank_sampler_ties",    "rank_sampler_cleared", "rank_sampler_equal",
    "rank_replay_raw", "rank_replay_strings",
};

// The k-th item of a continuation.
template <class Item>
Item continuation_item(int k) {
    if constexpr (std::is_same_v<Item, std::string>) {
        return "continued " + std::to_string(k);
    } else {
        return compat_transition{1000 + k, k, 0.5f * static_cast<float>(k), 0.0f, -1.0 * k};
    }
}

inline std::string handle_text(const per::replay_handle& handle) {
    return "(" + std::to_string(handle.slot) + "," + std::to_string(handle.generation) + ")";
}

// A fixed sequence of calls on a sampler: a fill at max_priority() in the first empty slot (slot
// 0 if none), a fill of the last other slot tying the priority of the lowest other filled slot,
// an update that raises max_priority(), an update with a stale handle and an alpha change. What
// they return is logged; the object's state after them shows what the loaded counters (fill
// count, max priority, generations) do next.
template <class Sampler>
std::string continue_sampler(Sampler& sampler) {
    const std::size_t capacity = sampler.capacity();
    std::string log = "continuation:";
    std::size_t first_slot = 0;
    while (first_slot < capacity && sampler.contains(first_slot)) {
        ++first_slot;
    }
    if (first_slot == capacity) {
        first_slot = 0;
    }
    const per::replay_handle first = sampler.fill(first_slot);
    log += " fill " + handle_text(first);
    const std::size_t last_slot = first_slot == capacity - 1 ? capacity - 2 : capacity - 1;
    double tie = 0.25;
    for (std::size_t slot = 0; slot < capacity; ++slot) {
        if (slot != first_slot && sampler.contains(slot)) {
            tie = sampler.priority(slot);
            break;
        }
    }
    log += " fill " + handle_text(sampler.fill(last_slot, tie));
    for (std::size_t slot = 0; slot < capacity; ++slot) {
        if (slot != first_slot && slot != last_slot && sampler.contains(slot)) {
            log += " raise " + std::to_string(sampler.update_priority(
                                   sampler.handle(slot), 2.0 * sampler.max_priority() + 1.0));
            break;
        }
    }
    const per::replay_handle stale{first.slot, first.generation - 1};
    log += " stale " + std::to_string(sampler.update_priority(stale, 0.0));
    sampler.set_alpha(sampler.alpha() / 2.0 + 0.1);
    return log;
}

// The same for a buffer: a push at max_priority(), a push tying the item in slot 0, an update
// of slot 0 that raises max_priority(), a stale update and an alpha change.
template <class Buffer>
std::string continue_buffer(Buffer& buffer) {
    using item_type = typename Buffer::item_type;
    std::string log = "continuation:";
    const per::replay_handle first = buffer.push(continuation_item<item_type>(1));
    log += " push " + handle_text(first);
    log += " push " + handle_text(buffer.push(continuation_item<item_type>(2), buffer.priority(0)));
    log += " raise " + std::to_string(buffer.update_priority(buffer.handle(0),
                                                             2.0 * buffer.max_priority() + 1));
    const per::replay_handle stale{first.slot, first.generation - 1};
    log += " stale " + std::to_string(buffer.update_priority(stale, 0.0));
    buffer.set_alpha(buffer.alpha() / 2.0 + 0.1);
    return log;
}

template <class SumTree>
std::string continuation(per::basic_prioritized_sampler<SumTree>& sampler) {
    return continue_sampler(sampler);
}
inline std::string continuation(per::rank_based_sampler& sampler) {
    return continue_sampler(sampler);
}
template <class Item, class Sampler>
std::string continuation(per::prioritized_replay<Item, Sampler>& buffer) {
    return continue_buffer(buffer);
}
template <class Item>
std::string continuation(per::naive_prioritized_replay<Item>& buffer) {
    return continue_buffer(buffer);
}

// The text of a .expected file: the object's state (per_test::state: every observer, the
// generations of all slots, a probe batch, ranks and age order), then the continuation's log
// and the state of a copy after it.
template <class Object>
std::string describe(const Object& object) {
    Object continued = object;
    const std::string log = continuation(continued);
    return per_test::state(object) + "\n" + log + "\n" + per_test::state(continued) + "\n";
}

} // namespace per_compat

#endif // PER_TESTS_COMPAT_CHECKPOINTS_0_1_0_HPP
