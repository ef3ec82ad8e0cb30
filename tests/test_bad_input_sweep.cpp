// The bad-input contract, swept: every public entry point of the trees, the samplers and replay
// buffers (proportional and rank-based), the naive reference, the schedules, the importance
// weights and (lightly) the DQN loss, called with every class of bad input that applies to it —
// NaN, +-infinity, negative values, out-of-range indices, ranks and handles, ranges of different
// lengths, an empty buffer, zero or excessive capacity, a batch larger than allowed, invalid
// options (for rank-based objects: an alpha too large for the capacity). Each row asserts
// - the exception type (std::invalid_argument, std::out_of_range or std::length_error),
// - that the message starts with "per::" and holds "<argument> = <value> " as one piece, right
//   after "<where>: " (the shape of detail::describe: "<where>: <argument> = <value>
//   <requirement>"), with the row's own argument name and value, or says ": nothing to sample:";
//   rows whose message says more (a position, "every leaf is zero") check that too,
// - that the whole object is unchanged: tests/state_snapshot.hpp compares every observer, the
//   generation of every slot, and a probe batch drawn from a copy with a fixed engine;
//   output arguments (batches, caller arrays, importance weights) are unchanged as well.
// The objects are swept in several states: empty, partly filled with a zero-weight item, full
// after wrapping, and all-zero, in every sampling mode.
#include <per/dqn_loss.hpp>
#include <per/importance.hpp>
#include <per/min_tree.hpp>
#include <per/naive_rank_based.hpp>
#include <per/naive_replay.hpp>
#include <per/prioritized_replay.hpp>
#include <per/prioritized_sampler.hpp>
#include <per/rank_based.hpp>
#include <per/schedule.hpp>
#include <per/sum_tree.hpp>

#include "per_catch.hpp"
#include "state_snapshot.hpp"

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <random>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

namespace {

using per::replay_handle;
using per::replay_options;
using per::sampling_mode;
using per::weight_normalization;
using per_test::state;

constexpr double not_a_number = std::numeric_limits<double>::quiet_NaN();
constexpr double infinite = std::numeric_limits<double>::infinity();
constexpr std::size_t huge_index = std::numeric_limits<std::size_t>::max();

// The priorities no entry point may accept (besides those above a sampler's limit).
const double bad_priorities[] = {not_a_number, infinite, -infinite, -1.0, -1e-300};
const float bad_float_priorities[] = {std::numeric_limits<float>::quiet_NaN(),
                                      std::numeric_limits<float>::infinity(), -2.5f};
const double bad_betas[] = {not_a_number, -0.1, 1.0000001, infinite, -infinite};
const double bad_option_values[] = {not_a_number, infinite, -infinite, -1.0};

std::size_t rows = 0; // rows checked, reported at the end

struct rejection {
    std::string type = "none";
    std::string message;
};

template <class Call>
rejection rejected(Call&& call) {
    rejection result;
    try {
        call();
    } catch (const std::invalid_argument& error) {
        result = {"invalid_argument", error.what()};
    } catch (const std::out_of_range& error) {
        result = {"out_of_range", error.what()};
    } catch (const std::length_error& error) {
        result = {"length_error", error.what()};
    } catch (const std::exception& error) {
        result = {"other", error.what()};
    }
    return result;
}

// What a row's message must hold: "<argument> = <value> " right after "<where>: ", and
// `context` anywhere (if not empty). The argument "nothing to sample" stands for the message
// of an empty or all-zero object, which names no argument.
struct expected {
    std::string argument;
    std::string value;
    std::string context;
};

const std::string nothing_to_sample = "nothing to sample";

expected names(std::string argument, std::string value, std::string context = "") {
    return {std::move(argument), std::move(value), std::move(context)};
}

// A value as the library's messages print it (detail/error.hpp): integers in decimal;
// floating-point values in the shortest of digits10 or max_digits10 significant digits ("%g")
// that reads back as the value itself, "nan", "inf" and "-inf". Written here with the C
// formatter, not the library's stream.
template <class T>
std::string text(T value) {
    if constexpr (std::is_floating_point_v<T>) {
        // detail::format_value's rule, by other means: the fewest significant digits that read
        // back as the same T, written positionally for decimal exponents in [-4, digits10) (or
        // up to the digit count when that is larger), else in scientific form.
        char buffer[64];
        if (!std::isfinite(value)) {
            std::snprintf(buffer, sizeof buffer, "%g", static_cast<double>(value));
            return buffer;
        }
        const auto reads_back = [value](const char* written) {
            return std::is_same_v<T, float>
                       ? std::strtof(written, nullptr) == static_cast<float>(value)
                       : std::strtod(written, nullptr) == static_cast<double>(value);
        };
        int precision = 0;
        for (; precision < std::numeric_limits<T>::max_digits10; ++precision) {
            std::snprintf(buffer, sizeof buffer, "%.*e", precision, static_cast<double>(value));
            if (reads_back(buffer)) {
                break;
            }
        }
        const int significant = precision + 1;
        const int exponent = std::atoi(std::strchr(buffer, 'e') + 1);
        const int digits10 = std::numeric_limits<T>::digits10;
        if (exponent < -4 || exponent >= (significant <= digits10 ? digits10 : significant)) {
            return buffer;
        }
        const int decimals = significant - 1 - exponent > 0 ? significant - 1 - exponent : 0;
        std::snprintf(buffer, sizeof buffer, "%.*f", decimals, static_cast<double>(value));
        return buffer;
    } else {
        return std::to_string(value);
    }
}

void require_rejection(const rejection& result, const std::string& type, const expected& what) {
    CAPTURE(result.message);
    REQUIRE(result.type == type);
    REQUIRE(result.message.rfind("per::", 0) == 0);
    if (what.argument == nothing_to_sample) {
        REQUIRE_THAT(result.message, PER_CONTAINS(": nothing to sample: "));
    } else {
        // One piece: a name and a " = " found apart would let any message through whose text
        // happens to hold the letters of a short name ("u").
        REQUIRE_THAT(result.message, PER_CONTAINS(": " + what.argument + " = " + what.value + " "));
    }
    if (!what.context.empty()) {
        REQUIRE_THAT(result.message, PER_CONTAINS(what.context));
    }
    ++rows;
}

// One row: `call(object)` must throw `type` with a message holding `what`, and leave `object`
// unchanged.
template <class Object, class Call>
void require_rejected(Object& object, const std::string& label, Call&& call,
                      const std::string& type, const expected& what) {
    INFO(label);
    const std::string before = state(object);
    require_rejection(rejected([&] { call(object); }), type, what);
    REQUIRE(state(object) == before);
}

// A row without an object (constructors, free functions).
template <class Call>
void require_rejected(const std::string& label, Call&& call, const std::string& type,
                      const expected& what) {
    INFO(label);
    require_rejection(rejected(call), type, what);
}

std::string format(double value) {
    return per_test::hex(value);
}

// Whether an object rejects finite priorities whose weight would overflow its sums (the
// proportional ones). Rank-based objects accept every finite priority >= 0: ranks cannot
// overflow; their alpha has a limit instead (capacity^-alpha must be a normal double).
template <class Object>
constexpr bool limits_priorities = true;
template <>
constexpr bool limits_priorities<per::rank_based_sampler> = false;
template <>
constexpr bool limits_priorities<per::rank_based_replay<int>> = false;

// --- Objects in several states -------------------------------------------------------------

struct shape {
    std::string name;
    std::size_t capacity;
    std::vector<double> priorities; // pushed in order; NaN means "push without a priority"
    replay_options options;
};

std::vector<shape> shapes() {
    std::vector<shape> result;
    for (sampling_mode mode : {sampling_mode::stratified, sampling_mode::independent,
                               sampling_mode::without_replacement}) {
        const std::string suffix = " (mode " + std::to_string(static_cast<int>(mode)) + ")";
        const auto options = replay_options{}.sampling(mode).epsilon(0.0).alpha(1.0);
        result.push_back({"empty" + suffix, 6, {}, options});
        result.push_back({"partly filled, one zero weight" + suffix,
                          8,
                          {1.0, 0.0, 2.5, not_a_number},
                          replay_options(options).normalization(weight_normalization::batch_max)});
        result.push_back({"full after wrapping" + suffix,
                          5,
                          {0.5, 3.0, not_a_number, 0.25, 1.5, 4.0, not_a_number},
                          replay_options(options).normalization(weight_normalization::none)});
        result.push_back({"all zero" + suffix, 4, {0.0, 0.0}, options});
    }
    return result;
}

template <class Buffer>
Buffer make_buffer(const shape& s) {
    Buffer buffer(s.capacity, s.options);
    int item = 100;
    for (double priority : s.priorities) {
        if (std::isnan(priority)) {
            buffer.push(item++);
        } else {
            buffer.push(item++, priority);
        }
    }
    return buffer;
}

template <class Sampler>
Sampler make_sampler(const shape& s) {
    Sampler sampler(s.capacity, s.options);
    std::size_t slot = 1; // not 0, 1, 2...: leave holes between filled slots
    for (double priority : s.priorities) {
        if (std::isnan(priority)) {
            sampler.fill(slot % s.capacity);
        } else {
            sampler.fill(slot % s.capacity, priority);
        }
        slot += 2;
    }
    return sampler;
}

std::size_t sampleable(const per::prioritized_sampler& sampler) {
    return sampler.sampleable_size();
}
std::size_t sampleable(const per::rank_based_sampler& sampler) {
    return sampler.sampleable_size();
}
template <class Buffer>
std::size_t sampleable(const Buffer& buffer) {
    std::size_t count = 0;
    for (std::size_t slot = 0; slot < buffer.size(); ++slot) {
        count += buffer.probability(slot) > 0.0;
    }
    return count;
}

// A handle that is live if the object holds anything (to prove that a rejected batch of updates
// applies none of its valid entries), else some handle.
template <class Sampler>
replay_handle live_sampler_handle(const Sampler& sampler) {
    for (std::size_t slot = 0; slot < sampler.capacity(); ++slot) {
        if (sampler.contains(slot)) {
            return sampler.handle(slot);
        }
    }
    return {0, 0};
}
replay_handle live_handle(const per::prioritized_sampler& sampler) {
    return live_sampler_handle(sampler);
}
replay_handle live_handle(const per::rank_based_sampler& sampler) {
    return live_sampler_handle(sampler);
}
template <class Buffer>
replay_handle live_handle(const Buffer& buffer) {
    return buffer.empty() ? replay_handle{0, 0} : buffer.handle(buffer.size() - 1);
}

// --- Rows shared by the sampler, the replay buffer and the naive buffer ----------------------

template <class Object>
void sweep_sampling(Object& object) {
    using batch_type = decltype(object.sample(1, 0.5, std::declval<std::mt19937_64&>()));
    std::mt19937_64 engine(3);
    const std::size_t available = sampleable(object);
    const bool without = object.options().sampling() == sampling_mode::without_replacement;

    const auto sample = [&engine](std::size_t batch_size, double beta) {
        return [&engine, batch_size, beta](Object& o) { o.sample(batch_size, beta, engine); };
    };
    require_rejected(object, "sample(0, 0.5)", sample(0, 0.5), "invalid_argument",
                     names("batch_size", "0"));
    for (double beta : bad_betas) {
        require_rejected(object, "sample(1, " + format(beta) + ")", sample(1, beta),
                         "invalid_argument", names("beta", text(beta)));
    }
    if (available == 0) {
        require_rejected(object, "sample(1, 0.5) with nothing to sample", sample(1, 0.5),
                         "out_of_range", names(nothing_to_sample, ""));
    } else if (without) {
        require_rejected(object, "sample(sampleable + 1) without replacement",
                         sample(available + 1, 0.5), "out_of_range",
                         names("batch_size", text(available + 1)));
        require_rejected(object, "sample(huge) without replacement", sample(huge_index, 0.5),
                         "out_of_range", names("batch_size", text(huge_index)));
    }

    // Into an existing batch: the batch is unchanged too.
    batch_type out;
    if (available > 0) {
        object.sample(1, 0.5, engine, out);
    }
    const std::string out_before = per_test::batch_text(out);
    require_rejected(
        object, "sample(0, 0.5, engine, out)", [&](Object& o) { o.sample(0, 0.5, engine, out); },
        "invalid_argument", names("batch_size", "0"));
    require_rejected(
        object, "sample(2, NaN, engine, out)",
        [&](Object& o) { o.sample(2, not_a_number, engine, out); }, "invalid_argument",
        names("beta", "nan"));
    REQUIRE(per_test::batch_text(out) == out_before);

    // Into caller arrays: untouched.
    std::vector<replay_handle> handles(4, replay_handle{77, 77});
    std::vector<double> weights(4, -7.0);
    std::vector<double> probabilities(4, -8.0);
    const auto sample_into = [&](std::size_t batch_size, double beta) {
        return [&, batch_size, beta](Object& o) {
            o.sample_into(batch_size, beta, engine, handles.data(), weights.data(),
                          probabilities.data());
        };
    };
    require_rejected(object, "sample_into(0, 0.5)", sample_into(0, 0.5), "invalid_argument",
                     names("batch_size", "0"));
    require_rejected(object, "sample_into(3, 2.0)", sample_into(3, 2.0), "invalid_argument",
                     names("beta", "2"));
    if (available == 0) {
        require_rejected(object, "sample_into(1, 0.5) with nothing to sample", sample_into(1, 0.5),
                         "out_of_range", names(nothing_to_sample, ""));
    } else if (without && available < 4) {
        require_rejected(object, "sample_into(4) without replacement", sample_into(4, 0.5),
                         "out_of_range", names("batch_size", "4"));
    }
    for (std::size_t k = 0; k < 4; ++k) {
        REQUIRE(handles[k] == replay_handle{77, 77});
        REQUIRE(weights[k] == -7.0);
        REQUIRE(probabilities[k] == -8.0);
    }
}

template <class Object>
void sweep_updates(Object& object) {
    const replay_handle live = live_handle(object);
    const std::size_t capacity = object.capacity();

    // Ranges of different lengths.
    require_rejected(
        object, "update_priorities: 2 handles, 1 priority",
        [&](Object& o) {
            o.update_priorities(std::vector<replay_handle>{live, live}, std::vector<double>{1.0});
        },
        "invalid_argument", names("priorities.size()", "1", "handles.size() = 2"));
    require_rejected(
        object, "update_priorities: 0 handles, 1 priority",
        [&](Object& o) {
            o.update_priorities(std::vector<replay_handle>{}, std::vector<float>{1.0f});
        },
        "invalid_argument", names("priorities.size()", "1", "handles.size() = 0"));

    // Out-of-range handles, after a valid entry that must not be applied.
    for (std::size_t slot : {capacity, capacity + 1, huge_index}) {
        require_rejected(
            object, "update_priorities with handle slot " + std::to_string(slot),
            [&](Object& o) {
                o.update_priorities(std::vector<replay_handle>{live, {slot, 1}},
                                    std::vector<double>{9.0, 1.0});
            },
            "out_of_range", names("handles[k].slot", text(slot), "(k = 1)"));
        require_rejected(
            object, "update_priority with handle slot " + std::to_string(slot),
            [&](Object& o) {
                o.update_priority({slot, 0}, 1.0);
            },
            "out_of_range", names("handles[k].slot", text(slot), "(k = 0)"));
    }

    // Bad priorities, after a valid entry; double and float; range, pointer and single forms.
    for (double priority : bad_priorities) {
        const std::string label = "priority " + format(priority);
        require_rejected(
            object, "update_priorities, " + label,
            [&](Object& o) {
                o.update_priorities(std::vector<replay_handle>{live, live},
                                    std::vector<double>{9.0, priority});
            },
            "invalid_argument", names("priorities[1]", text(priority)));
        require_rejected(
            object, "update_priorities(pointer), " + label,
            [&](Object& o) {
                const replay_handle handles[3] = {live, live, live};
                const double priorities[3] = {9.0, 8.0, priority};
                o.update_priorities(handles, priorities, 3);
            },
            "invalid_argument", names("priorities[2]", text(priority)));
        require_rejected(
            object, "update_priority, " + label,
            [&](Object& o) { o.update_priority(live, priority); }, "invalid_argument",
            names("priorities[0]", text(priority)));
    }
    for (float priority : bad_float_priorities) {
        require_rejected(
            object, "update_priorities(float), priority " + format(priority),
            [&](Object& o) {
                o.update_priorities(std::vector<replay_handle>{live, live},
                                    std::vector<float>{9.0f, priority});
            },
            // Checked as a double (update_priorities converts each priority first).
            "invalid_argument", names("priorities[1]", text(static_cast<double>(priority))));
    }
    // Above the limit of what the sums can hold (alpha 1: about max double / (4 capacity)).
    if constexpr (limits_priorities<Object>) {
        require_rejected(
            object, "update_priority, priority max double",
            [&](Object& o) { o.update_priority(live, std::numeric_limits<double>::max()); },
            "invalid_argument", names("priorities[0]", text(std::numeric_limits<double>::max())));
    }
}

template <class Object>
void sweep_alpha(Object& object) {
    for (double alpha : bad_option_values) {
        require_rejected(
            object, "set_alpha(" + format(alpha) + ")", [&](Object& o) { o.set_alpha(alpha); },
            "invalid_argument", names("alpha", text(alpha)));
    }
    if constexpr (limits_priorities<Object>) {
        if (object.max_priority() >= 2.0) {
            // 2^2000 overflows the sums.
            require_rejected(
                object, "set_alpha(2000)", [&](Object& o) { o.set_alpha(2000.0); },
                "invalid_argument", names("alpha", "2000"));
        }
    } else {
        // capacity^-alpha, the weight of the last rank, underflows (every capacity here is >= 4;
        // the limit is about 1022 / log2(capacity)).
        const double limit = 1022.0 / std::log2(static_cast<double>(object.capacity()));
        for (double alpha : {limit * 1.05, 2000.0, 1e300}) {
            require_rejected(
                object, "set_alpha(" + format(alpha) + ")", [&](Object& o) { o.set_alpha(alpha); },
                "invalid_argument", names("alpha", text(alpha)));
        }
    }
}

template <class Buffer>
void sweep_buffer_observers(Buffer& buffer) {
    for (std::size_t slot : {buffer.size(), buffer.capacity(), huge_index}) {
        const std::string at = "(" + std::to_string(slot) + ")";
        require_rejected(
            buffer, "item" + at, [&](Buffer& b) { (void)b.item(slot); }, "out_of_range",
            names("slot", text(slot)));
        require_rejected(
            buffer, "priority" + at, [&](Buffer& b) { (void)b.priority(slot); }, "out_of_range",
            names("slot", text(slot)));
        require_rejected(
            buffer, "probability" + at, [&](Buffer& b) { (void)b.probability(slot); },
            "out_of_range", names("slot", text(slot)));
        require_rejected(
            buffer, "handle" + at, [&](Buffer& b) { (void)b.handle(slot); }, "out_of_range",
            names("slot", text(slot)));
    }
}

// The library buffers have push_batch; the naive references do not.
template <class Buffer, class = void>
constexpr bool has_push_batch = false;
template <class Buffer>
constexpr bool has_push_batch<Buffer, std::void_t<decltype(std::declval<Buffer&>().push_batch(
                                          std::declval<const int*>(), std::size_t{}))>> = true;

template <class Buffer>
void sweep_push_batch(Buffer& buffer) {
    for (double priority : bad_priorities) {
        require_rejected(
            buffer, "push_batch(items, priorities, 3), priority " + format(priority),
            [&](Buffer& b) {
                const int items[3] = {1, 2, 3};
                const double priorities[3] = {1.0, 2.0, priority};
                b.push_batch(items, priorities, 3);
            },
            "invalid_argument", names("priorities[2]", text(priority)));
    }
    for (float priority : bad_float_priorities) {
        require_rejected(
            buffer, "push_batch(range, float range), priority " + format(priority),
            [&](Buffer& b) {
                b.push_batch(std::vector<int>{1, 2}, std::vector<float>{priority, 1.0f});
            },
            "invalid_argument", names("priorities[0]", text(static_cast<double>(priority))));
    }
    require_rejected(
        buffer, "push_batch: 2 items, 1 priority",
        [&](Buffer& b) {
            b.push_batch(std::vector<int>{1, 2}, std::vector<double>{1.0});
        },
        "invalid_argument", names("priorities.size()", "1", "items.size() = 2"));
}

template <class Buffer>
void sweep_push(Buffer& buffer) {
    if constexpr (has_push_batch<Buffer>) {
        sweep_push_batch(buffer);
    }
    for (double priority : bad_priorities) {
        require_rejected(
            buffer, "push(item, " + format(priority) + ")", [&](Buffer& b) { b.push(1, priority); },
            "invalid_argument", names("priority", text(priority)));
        require_rejected(
            buffer, "push(const item&, " + format(priority) + ")",
            [&](Buffer& b) {
                const int item = 1;
                b.push(item, priority);
            },
            "invalid_argument", names("priority", text(priority)));
    }
    if constexpr (limits_priorities<Buffer>) {
        require_rejected(
            buffer, "push(item, max double)",
            [&](Buffer& b) { b.push(1, std::numeric_limits<double>::max()); }, "invalid_argument",
            names("priority", text(std::numeric_limits<double>::max())));
    }
}

template <class Buffer>
void sweep_constructor(const std::string& name) {
    require_rejected(
        name + "(0)", [] { Buffer buffer(0); }, "invalid_argument", names("capacity", "0"));
    for (double value : bad_option_values) {
        require_rejected(
            name + " with alpha " + format(value),
            [value] { Buffer buffer(4, replay_options{}.alpha(value)); }, "invalid_argument",
            names("alpha", text(value)));
        require_rejected(
            name + " with epsilon " + format(value),
            [value] { Buffer buffer(4, replay_options{}.epsilon(value)); }, "invalid_argument",
            names("epsilon", text(value)));
        require_rejected(
            name + " with initial_max_priority " + format(value),
            [value] { Buffer buffer(4, replay_options{}.initial_max_priority(value)); },
            "invalid_argument", names("initial_max_priority", text(value)));
    }
    if constexpr (limits_priorities<Buffer>) {
        require_rejected(
            name + " with an initial_max_priority whose weight overflows",
            [] { Buffer buffer(4, replay_options{}.alpha(2.0).initial_max_priority(1e200)); },
            "invalid_argument", names("initial_max_priority", "1e+200"));
    } else {
        // 1024^-103 = 2^-1030 is not a normal double.
        require_rejected(
            name + " with alpha too large for the capacity",
            [] { Buffer buffer(1024, replay_options{}.alpha(103.0)); }, "invalid_argument",
            names("alpha", "103"));
    }
    require_rejected(
        name + " with sampling 7",
        [] { Buffer buffer(4, replay_options{}.sampling(static_cast<sampling_mode>(7))); },
        "invalid_argument", names("sampling", "7"));
    require_rejected(
        name + " with normalization -1",
        [] {
            Buffer buffer(4, replay_options{}.normalization(static_cast<weight_normalization>(-1)));
        },
        "invalid_argument", names("normalization", "-1"));
}

} // namespace

TEST_CASE("bad input sweep: prioritized_replay", "[bad_input]") {
    using buffer_type = per::prioritized_replay<int>;
    sweep_constructor<buffer_type>("prioritized_replay");
    require_rejected(
        "prioritized_replay(max_capacity() + 1)",
        [] { buffer_type buffer(per::prioritized_sampler::weight_tree_type::max_capacity() + 1); },
        "length_error",
        names("capacity", text(per::prioritized_sampler::weight_tree_type::max_capacity() + 1)));
    for (const shape& s : shapes()) {
        INFO(s.name);
        buffer_type buffer = make_buffer<buffer_type>(s);
        sweep_push(buffer);
        sweep_sampling(buffer);
        sweep_updates(buffer);
        sweep_alpha(buffer);
        sweep_buffer_observers(buffer);
    }
}

TEST_CASE("bad input sweep: naive_prioritized_replay", "[bad_input]") {
    using buffer_type = per::naive_prioritized_replay<int>;
    sweep_constructor<buffer_type>("naive_prioritized_replay");
    require_rejected(
        "naive_prioritized_replay(huge)", [] { buffer_type buffer(huge_index); }, "length_error",
        names("capacity", text(huge_index)));
    for (const shape& s : shapes()) {
        INFO(s.name);
        buffer_type buffer = make_buffer<buffer_type>(s);
        sweep_push(buffer);
        sweep_sampling(buffer);
        sweep_updates(buffer);
        sweep_alpha(buffer);
        sweep_buffer_observers(buffer);
    }
}

// The members only samplers have (fill, erase, contains, the slot observers),
// and for rank-based samplers rank and slot_of_rank.
template <class Sampler>
void sweep_sampler_members(Sampler& sampler) {
    using sampler_type = Sampler;
    std::size_t empty_slot = 0;
    while (empty_slot < sampler.capacity() && sampler.contains(empty_slot)) {
        ++empty_slot;
    }
    for (std::size_t slot : {sampler.capacity(), huge_index}) {
        const std::string at = "(" + std::to_string(slot) + ")";
        require_rejected(
            sampler, "contains" + at, [&](sampler_type& o) { (void)o.contains(slot); },
            "out_of_range", names("slot", text(slot)));
        require_rejected(
            sampler, "fill" + at, [&](sampler_type& o) { o.fill(slot); }, "out_of_range",
            names("slot", text(slot)));
        require_rejected(
            sampler, "fill" + at + " with a bad priority too",
            [&](sampler_type& o) { o.fill(slot, not_a_number); }, "out_of_range",
            names("slot", text(slot)));
        require_rejected(
            sampler, "erase" + at, [&](sampler_type& o) { o.erase(slot); }, "out_of_range",
            names("slot", text(slot)));
    }
    std::vector<std::size_t> unreadable = {sampler.capacity(), huge_index};
    if (empty_slot < sampler.capacity()) {
        unreadable.push_back(empty_slot);
    }
    for (std::size_t slot : unreadable) {
        const std::string at = "(" + std::to_string(slot) + ")";
        require_rejected(
            sampler, "priority" + at, [&](sampler_type& o) { (void)o.priority(slot); },
            "out_of_range", names("slot", text(slot)));
        require_rejected(
            sampler, "probability" + at, [&](sampler_type& o) { (void)o.probability(slot); },
            "out_of_range", names("slot", text(slot)));
        require_rejected(
            sampler, "handle" + at, [&](sampler_type& o) { (void)o.handle(slot); }, "out_of_range",
            names("slot", text(slot)));
        if constexpr (std::is_same_v<Sampler, per::rank_based_sampler>) {
            require_rejected(
                sampler, "rank" + at, [&](sampler_type& o) { (void)o.rank(slot); }, "out_of_range",
                names("slot", text(slot)));
        }
    }
    if constexpr (std::is_same_v<Sampler, per::rank_based_sampler>) {
        for (std::size_t rank : {std::size_t{0}, sampler.size() + 1, huge_index}) {
            require_rejected(
                sampler, "slot_of_rank(" + std::to_string(rank) + ")",
                [&](sampler_type& o) { (void)o.slot_of_rank(rank); }, "out_of_range",
                names("rank", text(rank)));
        }
    }
    for (double priority : bad_priorities) {
        require_rejected(
            sampler, "fill(0, " + format(priority) + ")",
            [&](sampler_type& o) { o.fill(0, priority); }, "invalid_argument",
            names("priority", text(priority)));
        require_rejected(
            sampler, "fill_batch({0, 1}, {1, " + format(priority) + "})",
            [&](sampler_type& o) {
                const std::size_t slots[2] = {0, 1};
                const double priorities[2] = {1.0, priority};
                replay_handle handles[2];
                o.fill_batch(slots, priorities, 2, handles);
            },
            "invalid_argument", names("priorities[1]", text(priority)));
    }
    for (std::size_t slot : {sampler.capacity(), huge_index}) {
        require_rejected(
            sampler, "fill_batch({0, " + std::to_string(slot) + "})",
            [&](sampler_type& o) {
                const std::size_t slots[2] = {0, slot};
                o.fill_batch(slots, 2, nullptr);
            },
            "out_of_range", names("slots[k]", text(slot), "(k = 1)"));
        require_rejected(
            sampler, "fill_batch({" + std::to_string(slot) + "}, {NaN})",
            [&](sampler_type& o) {
                const std::size_t slots[1] = {slot};
                const double priorities[1] = {not_a_number};
                o.fill_batch(slots, priorities, 1, nullptr);
            },
            "out_of_range", names("slots[k]", text(slot), "(k = 0)"));
    }
}

TEST_CASE("bad input sweep: prioritized_sampler", "[bad_input]") {
    using sampler_type = per::prioritized_sampler;
    sweep_constructor<sampler_type>("prioritized_sampler");
    require_rejected(
        "prioritized_sampler(max_capacity() + 1)",
        [] { sampler_type sampler(sampler_type::weight_tree_type::max_capacity() + 1); },
        "length_error",
        names("capacity", text(sampler_type::weight_tree_type::max_capacity() + 1)));
    for (const shape& s : shapes()) {
        INFO(s.name);
        sampler_type sampler = make_sampler<sampler_type>(s);
        sweep_sampling(sampler);
        sweep_updates(sampler);
        sweep_alpha(sampler);
        sweep_sampler_members(sampler);
    }
}

TEST_CASE("bad input sweep: rank_based_replay", "[bad_input][rank_based]") {
    using buffer_type = per::rank_based_replay<int>;
    sweep_constructor<buffer_type>("rank_based_replay");
    require_rejected(
        "rank_based_replay(max_capacity() + 1)",
        [] { buffer_type buffer(per::rank_based_sampler::max_capacity() + 1); }, "length_error",
        names("capacity", text(per::rank_based_sampler::max_capacity() + 1)));
    for (const shape& s : shapes()) {
        INFO(s.name);
        buffer_type buffer = make_buffer<buffer_type>(s);
        sweep_push(buffer);
        sweep_sampling(buffer);
        sweep_updates(buffer);
        sweep_alpha(buffer);
        sweep_buffer_observers(buffer);
    }
}

TEST_CASE("bad input sweep: rank_based_sampler", "[bad_input][rank_based]") {
    using sampler_type = per::rank_based_sampler;
    sweep_constructor<sampler_type>("rank_based_sampler");
    require_rejected(
        "rank_based_sampler(max_capacity() + 1)",
        [] { sampler_type sampler(sampler_type::max_capacity() + 1); }, "length_error",
        names("capacity", text(sampler_type::max_capacity() + 1)));
    for (const shape& s : shapes()) {
        INFO(s.name);
        sampler_type sampler = make_sampler<sampler_type>(s);
        sweep_sampling(sampler);
        sweep_updates(sampler);
        sweep_alpha(sampler);
        sweep_sampler_members(sampler);
    }
}

namespace {

// Every sampler, replay buffer and naive reference, in every shape, handed to `visit`.
template <class Visit>
void for_every_sampling_object(Visit&& visit) {
    for (const shape& s : shapes()) {
        INFO(s.name);
        auto proportional = make_sampler<per::prioritized_sampler>(s);
        visit(proportional, "prioritized_sampler");
        auto ranked = make_sampler<per::rank_based_sampler>(s);
        visit(ranked, "rank_based_sampler");
        auto replay = make_buffer<per::prioritized_replay<int>>(s);
        visit(replay, "prioritized_replay");
        auto rank_replay = make_buffer<per::rank_based_replay<int>>(s);
        visit(rank_replay, "rank_based_replay");
        auto naive = make_buffer<per::naive_prioritized_replay<int>>(s);
        visit(naive, "naive_prioritized_replay");
        auto naive_ranked = make_buffer<per::naive_rank_based_replay<int>>(s);
        visit(naive_ranked, "naive_rank_based_replay");
    }
}

} // namespace

TEST_CASE("a batch_size no array can hold is rejected naming batch_size, not by std::vector",
          "[bad_input]") {
    STATIC_REQUIRE(per::max_batch_size ==
                   static_cast<std::size_t>(std::numeric_limits<std::ptrdiff_t>::max()) /
                       sizeof(replay_handle));
    REQUIRE(per::max_batch_size <= std::vector<replay_handle>().max_size());
    const std::string limit =
        "must be <= per::max_batch_size = " + std::to_string(per::max_batch_size) +
        ", the most handles an array can hold";
    for_every_sampling_object([&](auto& object, const char* kind) {
        using object_type = std::remove_reference_t<decltype(object)>;
        using batch_type = decltype(object.sample(1, 0.5, std::declval<std::mt19937_64&>()));
        INFO(kind);
        if (sampleable(object) == 0 ||
            object.options().sampling() == sampling_mode::without_replacement) {
            return; // those throw std::out_of_range first, as before (the sweeps above)
        }
        std::mt19937_64 engine(5);
        const std::mt19937_64 engine_before = engine;
        batch_type out;
        object.sample(1, 0.5, engine, out);
        const std::string out_before = per_test::batch_text(out);
        replay_handle handles[2] = {};
        double weights[2] = {};
        double probabilities[2] = {};
        for (std::size_t batch_size : {per::max_batch_size + 1, huge_index}) {
            engine = engine_before;
            require_rejected(
                object, "sample(" + std::to_string(batch_size) + ")",
                [&](object_type& o) { (void)o.sample(batch_size, 0.5, engine); },
                "invalid_argument", names("batch_size", text(batch_size), limit));
            require_rejected(
                object, "sample(" + std::to_string(batch_size) + ", out)",
                [&](object_type& o) { o.sample(batch_size, 0.5, engine, out); }, "invalid_argument",
                names("batch_size", text(batch_size), limit));
            require_rejected(
                object, "sample_into(" + std::to_string(batch_size) + ")",
                [&](object_type& o) {
                    o.sample_into(batch_size, 0.5, engine, handles, weights, probabilities);
                },
                "invalid_argument", names("batch_size", text(batch_size), limit));
            REQUIRE(engine == engine_before); // rejected before drawing
            REQUIRE(per_test::batch_text(out) == out_before);
        }
    });
}

TEST_CASE("sample_into rejects a null output array before drawing, naming it", "[bad_input]") {
    for_every_sampling_object([&](auto& object, const char* kind) {
        using object_type = std::remove_reference_t<decltype(object)>;
        INFO(kind);
        if (sampleable(object) == 0) {
            return; // "nothing to sample" comes first (the sweeps above)
        }
        std::mt19937_64 engine(9);
        const std::mt19937_64 engine_before = engine;
        std::vector<replay_handle> handles(1, replay_handle{77, 77});
        std::vector<double> weights(1, -7.0);
        std::vector<double> probabilities(1, -8.0);
        const auto sample_into = [&](replay_handle* h, double* w, double* p) {
            return [&engine, h, w, p](object_type& o) { o.sample_into(1, 0.5, engine, h, w, p); };
        };
        const std::string points = "must point to batch_size = 1 elements";
        require_rejected(object, "sample_into(handles = nullptr)",
                         sample_into(nullptr, weights.data(), probabilities.data()),
                         "invalid_argument", names("handles", "nullptr", points));
        require_rejected(object, "sample_into(weights = nullptr)",
                         sample_into(handles.data(), nullptr, probabilities.data()),
                         "invalid_argument", names("weights", "nullptr", points));
        require_rejected(object, "sample_into(probabilities = nullptr)",
                         sample_into(handles.data(), weights.data(), nullptr), "invalid_argument",
                         names("probabilities", "nullptr", points));
        require_rejected(object, "sample_into(all nullptr)", sample_into(nullptr, nullptr, nullptr),
                         "invalid_argument", names("handles", "nullptr", points));
        REQUIRE(engine == engine_before);
        REQUIRE(handles[0] == replay_handle{77, 77});
        REQUIRE(weights[0] == -7.0);
        REQUIRE(probabilities[0] == -8.0);
        // A batch of 0 is still the batch_size error, whatever the pointers.
        require_rejected(
            object, "sample_into(0, nullptr...)",
            [&](object_type& o) { o.sample_into(0, 0.5, engine, nullptr, nullptr, nullptr); },
            "invalid_argument", names("batch_size", "0"));
    });
}

TEMPLATE_TEST_CASE("bad input sweep: sum_tree", "[bad_input]", float, double) {
    using tree_type = per::sum_tree<TestType>;
    require_rejected(
        "sum_tree(0)", [] { tree_type tree(0); }, "invalid_argument", names("capacity", "0"));
    require_rejected(
        "sum_tree(max_capacity() + 1)", [] { tree_type tree(tree_type::max_capacity() + 1); },
        "length_error", names("capacity", text(tree_type::max_capacity() + 1)));
    const TestType nan_value = std::numeric_limits<TestType>::quiet_NaN();
    const TestType inf_value = std::numeric_limits<TestType>::infinity();
    for (int filled = 0; filled < 2; ++filled) {
        tree_type tree(11);
        if (filled) {
            for (std::size_t i = 0; i < 11; i += 2) {
                tree.set(i, static_cast<TestType>(i + 1));
            }
        }
        const TestType max_value = tree.max_value();
        for (std::size_t index : {std::size_t{11}, std::size_t{16}, huge_index}) {
            require_rejected(
                tree, "get(" + std::to_string(index) + ")",
                [&](tree_type& t) { (void)t.get(index); }, "out_of_range",
                names("index", text(index)));
            require_rejected(
                tree, "set(" + std::to_string(index) + ", 1)",
                [&](tree_type& t) { t.set(index, 1); }, "out_of_range",
                names("index", text(index)));
        }
        for (TestType value :
             {nan_value, inf_value, -inf_value, TestType(-1), max_value * TestType(1.5)}) {
            require_rejected(
                tree, "set(3, " + format(value) + ")", [&](tree_type& t) { t.set(3, value); },
                "invalid_argument", names("value", text(value)));
            require_rejected(
                tree, "assign with a bad value at position 2",
                [&](tree_type& t) {
                    const std::vector<TestType> values = {1, 2, value, 4};
                    t.assign(values.begin(), values.end());
                },
                "invalid_argument", names("value", text(value), "(at position 2)"));
        }
        require_rejected(
            tree, "assign 12 values",
            [&](tree_type& t) {
                const std::vector<double> values(12, 1.0);
                t.assign(values.begin(), values.end());
            },
            "invalid_argument", names("range size", "12"));
        const TestType total = tree.total();
        for (TestType u : {TestType(-1), total, total * 2, inf_value, -inf_value}) {
            require_rejected(
                tree, "find_prefix(" + format(u) + ")",
                [&](tree_type& t) { (void)t.find_prefix(u); }, "out_of_range", names("u", text(u)));
        }
        require_rejected(
            tree, "find_prefix(NaN)", [&](tree_type& t) { (void)t.find_prefix(nan_value); },
            "invalid_argument", names("u", "nan"));
        if (!filled) {
            require_rejected(
                tree, "find_prefix(0) on an all-zero tree",
                [&](tree_type& t) { (void)t.find_prefix(0); }, "out_of_range",
                names("u", "0", "every leaf is zero"));
        }
        // Batch form: the first bad u throws before any index is written (in the all-zero
        // tree the first u, 0, is already out of range).
        std::vector<std::size_t> indices(4, 99);
        const std::vector<TestType> us = {0, total / 2, -1, 0};
        require_rejected(
            tree, "find_prefix_batch with a bad u at position 2",
            [&](tree_type& t) { t.find_prefix_batch(us.data(), us.size(), indices.data()); },
            "out_of_range",
            filled ? names("u", "-1", "(at position 2)")
                   : names("u", "0", "every leaf is zero (at position 0)"));
        REQUIRE(indices == std::vector<std::size_t>(4, 99));
    }
}

TEMPLATE_TEST_CASE("bad input sweep: min_tree", "[bad_input]", float, double) {
    using tree_type = per::min_tree<TestType>;
    require_rejected(
        "min_tree(0)", [] { tree_type tree(0); }, "invalid_argument", names("capacity", "0"));
    require_rejected(
        "min_tree(max_capacity() + 1)", [] { tree_type tree(tree_type::max_capacity() + 1); },
        "length_error", names("capacity", text(tree_type::max_capacity() + 1)));
    tree_type tree(9);
    tree.set(2, 5);
    tree.set(7, -3); // a min tree accepts any number but NaN
    for (std::size_t index : {std::size_t{9}, huge_index}) {
        require_rejected(
            tree, "get", [&](tree_type& t) { (void)t.get(index); }, "out_of_range",
            names("index", text(index)));
        require_rejected(
            tree, "set", [&](tree_type& t) { t.set(index, 1); }, "out_of_range",
            names("index", text(index)));
        require_rejected(
            tree, "reset", [&](tree_type& t) { t.reset(index); }, "out_of_range",
            names("index", text(index)));
    }
    require_rejected(
        tree, "set(1, NaN)",
        [&](tree_type& t) { t.set(1, std::numeric_limits<TestType>::quiet_NaN()); },
        "invalid_argument", names("value", "nan"));
    require_rejected(
        tree, "assign with NaN at position 1",
        [&](tree_type& t) {
            const std::vector<double> values = {1.0, not_a_number};
            t.assign(values.begin(), values.end());
        },
        "invalid_argument", names("value", "nan", "(at position 1)"));
    require_rejected(
        tree, "assign 10 values",
        [&](tree_type& t) {
            const std::vector<double> values(10, 1.0);
            t.assign(values.begin(), values.end());
        },
        "invalid_argument", names("range size", "10"));
}

TEST_CASE("bad input sweep: schedules", "[bad_input]") {
    for (double value : {not_a_number, infinite, -infinite}) {
        const std::string v = format(value);
        require_rejected(
            "constant_schedule(" + v + ")", [value] { per::constant_schedule s(value); },
            "invalid_argument", names("value", text(value)));
        require_rejected(
            "linear_schedule start " + v, [value] { per::linear_schedule s(value, 1.0, 10); },
            "invalid_argument", names("start", text(value)));
        require_rejected(
            "linear_schedule end " + v, [value] { per::linear_schedule s(0.4, value, 10); },
            "invalid_argument", names("end", text(value)));
        require_rejected(
            "exponential_schedule start " + v,
            [value] { per::exponential_schedule s(value, 1.0, 10); }, "invalid_argument",
            names("start", text(value)));
        require_rejected(
            "exponential_schedule end " + v,
            [value] { per::exponential_schedule s(1.0, value, 10); }, "invalid_argument",
            names("end", text(value)));
        require_rejected(
            "piecewise_linear_schedule value " + v,
            [value] {
                per::piecewise_linear_schedule s({{0, 0.4}, {10, value}});
            },
            "invalid_argument", names("points[1].value", text(value)));
        require_rejected(
            "incremental_schedule start " + v, [value] { per::incremental_schedule s(value, 0.1); },
            "invalid_argument", names("start", text(value)));
        require_rejected(
            "incremental_schedule increment " + v,
            [value] { per::incremental_schedule s(0.4, value); }, "invalid_argument",
            names("increment", text(value)));
        require_rejected(
            "incremental_schedule limit " + v,
            [value] { per::incremental_schedule s(0.4, 0.1, value); }, "invalid_argument",
            names("limit", text(value)));
    }
    require_rejected(
        "linear_schedule steps 0", [] { per::linear_schedule s(0.4, 1.0, 0); }, "invalid_argument",
        names("steps", "0"));
    require_rejected(
        "exponential_schedule steps 0", [] { per::exponential_schedule s(1.0, 0.1, 0); },
        "invalid_argument", names("steps", "0"));
    for (double value : {0.0, -1.0}) {
        require_rejected(
            "exponential_schedule start " + format(value),
            [value] { per::exponential_schedule s(value, 1.0, 10); }, "invalid_argument",
            names("start", text(value)));
    }
    require_rejected(
        "piecewise_linear_schedule without points", [] { per::piecewise_linear_schedule s({}); },
        "invalid_argument", names("points.size()", "0"));
    require_rejected(
        "piecewise_linear_schedule with repeated steps",
        [] {
            per::piecewise_linear_schedule s({{0, 0.4}, {5, 0.5}, {5, 0.6}});
        },
        "invalid_argument", names("points[2].step", "5", "points[1].step = 5"));
    require_rejected(
        "incremental_schedule start past the limit",
        [] { per::incremental_schedule s(1.5, 0.1, 1.0); }, "invalid_argument",
        names("start", "1.5", "limit = 1"));
}

TEST_CASE("bad input sweep: importance weights", "[bad_input]") {
    for (double p : {0.0, -0.5, 1.5, not_a_number, infinite}) {
        require_rejected(
            "importance_weight(" + format(p) + ", 4, 0.5)",
            [p] { (void)per::importance_weight(p, 4, 0.5); }, "invalid_argument",
            names("probability", text(p)));
    }
    require_rejected(
        "importance_weight item_count 0", [] { (void)per::importance_weight(0.5, 0, 0.5); },
        "invalid_argument", names("item_count", "0"));
    for (double beta : bad_betas) {
        require_rejected(
            "importance_weight beta " + format(beta),
            [beta] { (void)per::importance_weight(0.5, 4, beta); }, "invalid_argument",
            names("beta", text(beta)));
    }

    const std::vector<double> probabilities = {0.5, 0.25, 0.125};
    std::vector<double> weights(3, -1.0);
    const auto weigh = [&](const double* p, std::size_t count, std::size_t item_count, double beta,
                           weight_normalization normalization, double min_probability,
                           double* out) {
        return [=] {
            per::importance_weights(p, count, item_count, beta, normalization, min_probability,
                                    out);
        };
    };
    const auto global = weight_normalization::global_max;
    const double* p = probabilities.data();
    double* w = weights.data();
    require_rejected("importance_weights null probabilities",
                     weigh(nullptr, 3, 4, 0.5, global, 0.1, w), "invalid_argument",
                     names("probabilities", "nullptr"));
    require_rejected("importance_weights null weights", weigh(p, 3, 4, 0.5, global, 0.1, nullptr),
                     "invalid_argument", names("weights", "nullptr"));
    require_rejected("importance_weights item_count 0", weigh(p, 3, 0, 0.5, global, 0.1, w),
                     "invalid_argument", names("item_count", "0"));
    for (double beta : bad_betas) {
        require_rejected("importance_weights beta " + format(beta),
                         weigh(p, 3, 4, beta, global, 0.1, w), "invalid_argument",
                         names("beta", text(beta)));
    }
    require_rejected("importance_weights normalization 5",
                     weigh(p, 3, 4, 0.5, static_cast<weight_normalization>(5), 0.1, w),
                     "invalid_argument", names("normalization", "5"));
    for (double bad : {0.0, -0.1, 1.5, not_a_number, infinite}) {
        std::vector<double> with_bad = probabilities;
        with_bad[2] = bad;
        require_rejected("importance_weights probabilities[2] = " + format(bad),
                         weigh(with_bad.data(), 3, 4, 0.5, weight_normalization::none, 0.1, w),
                         "invalid_argument", names("probabilities[2]", text(bad)));
        require_rejected("importance_weights min_probability = " + format(bad),
                         weigh(p, 3, 4, 0.5, global, bad, w), "invalid_argument",
                         names("min_probability", text(bad)));
    }
    require_rejected("importance_weights min_probability above the batch's",
                     weigh(p, 3, 4, 0.5, global, 0.2, w), "invalid_argument",
                     names("min_probability", "0.2", "probabilities[2] = 0.125"));
    REQUIRE(weights == std::vector<double>(3, -1.0));
    require_rejected(
        "importance_weights(vector) item_count 0",
        [&] { (void)per::importance_weights(probabilities, 0, 0.5, global, 0.1); },
        "invalid_argument", names("item_count", "0"));
}

TEST_CASE("bad input sweep: DQN loss (light)", "[bad_input]") {
    const std::vector<double> q_taken = {1.0, 2.0};
    const std::vector<double> q_next = {0.5, 1.5, 2.5, 3.5};
    const std::vector<double> rewards = {1.0, 0.0};
    const std::vector<double> dones = {0.0, 1.0};
    require_rejected(
        "td_loss rewards of another size",
        [&] { (void)per::dqn::td_loss(q_taken, q_next, std::vector<double>{1.0}, dones); },
        "invalid_argument", names("rewards.size()", "1", "q_taken.size() = 2"));
    require_rejected(
        "td_loss NaN Q-value",
        [&] {
            (void)per::dqn::td_loss(std::vector<double>{not_a_number, 1.0}, q_next, rewards, dones);
        },
        "invalid_argument", names("q_taken[0]", "nan"));
    require_rejected(
        "td_loss gamma 1.5",
        [&] {
            (void)per::dqn::td_loss(q_taken, q_next, rewards, dones, per::dqn::no_weights,
                                    per::dqn::td_loss_options{}.gamma(1.5));
        },
        "invalid_argument", names("gamma", "1.5"));
    require_rejected(
        "td_loss done flag 0.5",
        [&] {
            (void)per::dqn::td_loss(q_taken, q_next, rewards, std::vector<double>{0.0, 0.5});
        },
        "invalid_argument", names("dones[1]", "0.5"));
    require_rejected(
        "weighted_loss negative weight",
        [&] {
            (void)per::dqn::weighted_loss(q_taken, std::vector<double>{1.0, -1.0});
        },
        "invalid_argument", names("weights[1]", "-1"));
    std::vector<double> priorities = {-1.0, -1.0};
    require_rejected(
        "priorities_from_td_errors clip 0",
        [&] { per::dqn::priorities_from_td_errors(q_taken, priorities, 0.0); }, "invalid_argument",
        names("clip", "0"));
    require_rejected(
        "priorities_from_td_errors infinite TD error",
        [&] {
            per::dqn::priorities_from_td_errors(std::vector<double>{1.0, infinite}, priorities);
        },
        "invalid_argument", names("td_errors[1]", "inf"));
    REQUIRE(priorities == std::vector<double>{-1.0, -1.0});
}

TEST_CASE("bad input sweep: row count", "[bad_input]") {
    // Declared last, so in a full run (Catch's default declaration order) it reports the total.
    WARN("bad input sweep: " << rows << " rows checked");
}
