#ifndef PER_TESTS_STATE_SNAPSHOT_HPP
#define PER_TESTS_STATE_SNAPSHOT_HPP

// A complete, exact description of an object's observable state as a string, for tests that
// prove "nothing changed" (a throwing call, a failed load) or "everything was restored" (a
// checkpoint round trip): compare the strings before and after. Doubles are printed as hex
// floats (exact). Besides every observer, the description includes
// - the generation of every slot, empty ones too (read by filling each empty slot of a copy),
// - a probe batch: what a copy draws with a fixed engine (or the exception it throws), so that
//   the trees behind the observers are compared too;
// - for rank-based samplers and buffers, the rank of every slot and the age order: how a copy
//   whose items all get one common priority ranks them (by fill or push stamps alone), which
//   decides every later tie.
#include <per/min_tree.hpp>
#include <per/naive_rank_based.hpp>
#include <per/naive_replay.hpp>
#include <per/prioritized_replay.hpp>
#include <per/prioritized_sampler.hpp>
#include <per/rank_based.hpp>
#include <per/sum_tree.hpp>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <exception>
#include <random>
#include <stdexcept>
#include <string>
#include <type_traits>

namespace per_test {

inline std::string hex(double value) {
    char text[64];
    std::snprintf(text, sizeof text, "%a", value);
    return text;
}

template <class Item>
std::string item_text(const Item& item) {
    if constexpr (std::is_arithmetic_v<Item>) {
        return std::to_string(item);
    } else if constexpr (std::is_same_v<Item, std::string>) {
        return "\"" + item + "\"";
    } else {
        static_assert(std::is_trivially_copyable_v<Item>, "describe the item type");
        unsigned char bytes[sizeof(Item)];
        std::memcpy(bytes, &item, sizeof(Item));
        std::string text;
        for (unsigned char byte : bytes) {
            char two[3];
            std::snprintf(two, sizeof two, "%02x", byte);
            text += two;
        }
        return text;
    }
}

// The exception type of a call, or "ok".
template <class Function>
std::string outcome(Function&& function) {
    try {
        function();
        return "ok";
    } catch (const std::invalid_argument&) {
        return "invalid_argument";
    } catch (const std::out_of_range&) {
        return "out_of_range";
    } catch (const std::length_error&) {
        return "length_error";
    } catch (const std::logic_error& error) {
        return std::string("logic_error: ") + error.what();
    } catch (const std::exception& error) {
        return std::string("other: ") + error.what();
    }
}

inline std::string options_text(const per::replay_options& options) {
    return "alpha " + hex(options.alpha()) + " epsilon " + hex(options.epsilon()) +
           " initial_max_priority " + hex(options.initial_max_priority()) + " sampling " +
           std::to_string(static_cast<int>(options.sampling())) + " normalization " +
           std::to_string(static_cast<int>(options.normalization()));
}

template <class Batch>
std::string batch_text(const Batch& batch) {
    std::string text;
    for (std::size_t k = 0; k < batch.size(); ++k) {
        text += " (" + std::to_string(batch.handles()[k].slot) + "," +
                std::to_string(batch.handles()[k].generation) + "," + hex(batch.weights()[k]) +
                "," + hex(batch.probabilities()[k]) + ")";
    }
    return text;
}

// What a copy of `object` draws with a fixed engine: two batches (the second after the first,
// to see that sampling left the trees as they were).
template <class Object>
std::string probe_text(const Object& object, std::size_t batch_size) {
    Object copy = object;
    std::mt19937_64 engine(20240531);
    std::string text = "probe:";
    for (int round = 0; round < 2; ++round) {
        std::string batch;
        const std::string result =
            outcome([&] { batch = batch_text(copy.sample(batch_size, 0.6, engine)); });
        text += " [" + result + batch + "]";
    }
    return text;
}

// The generation of every slot of a sampler, empty ones included.
template <class Sampler>
std::string generations_text(const Sampler& sampler) {
    Sampler copy = sampler;
    std::string text = "generations:";
    for (std::size_t slot = 0; slot < sampler.capacity(); ++slot) {
        const std::uint32_t generation = sampler.contains(slot) ? sampler.handle(slot).generation
                                                                : copy.fill(slot).generation - 1;
        text += " " + std::to_string(generation);
    }
    return text;
}

template <class SumTree>
std::string state(const per::basic_prioritized_sampler<SumTree>& sampler,
                  std::size_t probe_batch = 5) {
    std::string text = "sampler capacity " + std::to_string(sampler.capacity()) + " size " +
                       std::to_string(sampler.size()) + " sampleable " +
                       std::to_string(sampler.sampleable_size()) + " empty " +
                       std::to_string(sampler.empty()) + " max_priority " +
                       hex(sampler.max_priority()) + " alpha " + hex(sampler.alpha()) + " total " +
                       hex(sampler.total_weight()) + " " + options_text(sampler.options()) +
                       "\nslots:";
    for (std::size_t slot = 0; slot < sampler.capacity(); ++slot) {
        if (sampler.contains(slot)) {
            text += " " + std::to_string(slot) + ":" + hex(sampler.priority(slot)) + "/" +
                    hex(sampler.probability(slot));
        }
    }
    text += "\n" + generations_text(sampler) + "\n" + probe_text(sampler, probe_batch);
    return text;
}

inline std::string state(const per::rank_based_sampler& sampler, std::size_t probe_batch = 5) {
    std::string text =
        "rank_based_sampler capacity " + std::to_string(sampler.capacity()) + " size " +
        std::to_string(sampler.size()) + " sampleable " +
        std::to_string(sampler.sampleable_size()) + " empty " + std::to_string(sampler.empty()) +
        " max_priority " + hex(sampler.max_priority()) + " alpha " + hex(sampler.alpha()) +
        " total " + hex(sampler.total_weight()) + " memory " +
        std::to_string(sampler.memory_bytes()) + " " + options_text(sampler.options()) + "\nslots:";
    for (std::size_t slot = 0; slot < sampler.capacity(); ++slot) {
        if (sampler.contains(slot)) {
            text += " " + std::to_string(slot) + ":" + hex(sampler.priority(slot)) + "#" +
                    std::to_string(sampler.rank(slot)) + "/" + hex(sampler.probability(slot));
        }
    }
    text += "\nby rank:";
    for (std::size_t rank = 1; rank <= sampler.size(); ++rank) {
        text += " " + std::to_string(sampler.slot_of_rank(rank));
    }
    // Updates keep an item's fill stamp: with one priority for all, the ranks are the age order.
    per::rank_based_sampler same_priority = sampler;
    for (std::size_t slot = 0; slot < sampler.capacity(); ++slot) {
        if (sampler.contains(slot)) {
            same_priority.update_priority(sampler.handle(slot), 0.0);
        }
    }
    text += "\nage order:";
    for (std::size_t rank = 1; rank <= same_priority.size(); ++rank) {
        text += " " + std::to_string(same_priority.slot_of_rank(rank));
    }
    text += "\n" + generations_text(sampler) + "\n" + probe_text(sampler, probe_batch);
    return text;
}

template <class Item, class Sampler>
std::string state(const per::prioritized_replay<Item, Sampler>& buffer,
                  std::size_t probe_batch = 5) {
    std::string text =
        "replay size " + std::to_string(buffer.size()) + " capacity " +
        std::to_string(buffer.capacity()) + " empty " + std::to_string(buffer.empty()) + " next " +
        std::to_string(buffer.next_slot()) + " max_priority " + hex(buffer.max_priority()) +
        " alpha " + hex(buffer.alpha()) + " " + options_text(buffer.options()) + "\nitems:";
    for (std::size_t slot = 0; slot < buffer.size(); ++slot) {
        const per::replay_handle handle = buffer.handle(slot);
        text += " " + item_text(buffer.item(slot)) + "@" + std::to_string(handle.generation) + ":" +
                hex(buffer.priority(slot)) + "/" + hex(buffer.probability(slot));
    }
    text +=
        "\n" + state(buffer.sampler(), probe_batch) + "\nreplay " + probe_text(buffer, probe_batch);
    return text;
}

// The naive buffer exposes no generations of empty slots; a copy filled to capacity shows them.
template <class Item>
std::string state(const per::naive_prioritized_replay<Item>& buffer, std::size_t probe_batch = 5) {
    std::string text =
        "naive size " + std::to_string(buffer.size()) + " capacity " +
        std::to_string(buffer.capacity()) + " empty " + std::to_string(buffer.empty()) + " next " +
        std::to_string(buffer.next_slot()) + " max_priority " + hex(buffer.max_priority()) +
        " alpha " + hex(buffer.alpha()) + " " + options_text(buffer.options()) + "\nitems:";
    for (std::size_t slot = 0; slot < buffer.size(); ++slot) {
        const per::replay_handle handle = buffer.handle(slot);
        text += " " + item_text(buffer.item(slot)) + "@" + std::to_string(handle.generation) + ":" +
                hex(buffer.priority(slot)) + "/" + hex(buffer.probability(slot));
    }
    if (buffer.size() < buffer.capacity()) {
        per::naive_prioritized_replay<Item> copy = buffer;
        text += "\nlater generations:";
        for (std::size_t slot = buffer.size(); slot < buffer.capacity(); ++slot) {
            text += " " + std::to_string(copy.push(Item{}).generation - 1);
        }
    }
    text += "\n" + probe_text(buffer, probe_batch);
    return text;
}

// As for the naive proportional buffer, with the ranks and the age order (push order) too.
template <class Item>
std::string state(const per::naive_rank_based_replay<Item>& buffer, std::size_t probe_batch = 5) {
    std::string text =
        "naive_rank_based size " + std::to_string(buffer.size()) + " capacity " +
        std::to_string(buffer.capacity()) + " empty " + std::to_string(buffer.empty()) + " next " +
        std::to_string(buffer.next_slot()) + " max_priority " + hex(buffer.max_priority()) +
        " alpha " + hex(buffer.alpha()) + " " + options_text(buffer.options()) + "\nitems:";
    for (std::size_t slot = 0; slot < buffer.size(); ++slot) {
        const per::replay_handle handle = buffer.handle(slot);
        text += " " + item_text(buffer.item(slot)) + "@" + std::to_string(handle.generation) + ":" +
                hex(buffer.priority(slot)) + "#" + std::to_string(buffer.rank(slot)) + "/" +
                hex(buffer.probability(slot));
    }
    per::naive_rank_based_replay<Item> same_priority = buffer;
    for (std::size_t slot = 0; slot < buffer.size(); ++slot) {
        same_priority.update_priority(buffer.handle(slot), 0.0);
    }
    text += "\nage order (ranks by slot):";
    for (std::size_t slot = 0; slot < buffer.size(); ++slot) {
        text += " " + std::to_string(same_priority.rank(slot));
    }
    if (buffer.size() < buffer.capacity()) {
        per::naive_rank_based_replay<Item> copy = buffer;
        text += "\nlater generations:";
        for (std::size_t slot = buffer.size(); slot < buffer.capacity(); ++slot) {
            text += " " + std::to_string(copy.push(Item{}).generation - 1);
        }
    }
    text += "\n" + probe_text(buffer, probe_batch);
    return text;
}

template <class T, std::size_t Fanout>
std::string state(const per::sum_tree<T, Fanout>& tree) {
    std::string text = "sum_tree capacity " + std::to_string(tree.capacity()) + " total " +
                       hex(static_cast<double>(tree.total())) + " leaves:";
    for (std::size_t i = 0; i < tree.capacity(); ++i) {
        text += " " + hex(static_cast<double>(tree.get(i)));
    }
    if (tree.total() > T(0)) {
        text += " prefixes:";
        for (int k = 0; k < 16; ++k) {
            const T u = tree.total() * static_cast<T>(k) / T(16);
            text += " " + std::to_string(tree.find_prefix(u));
        }
    }
    return text;
}

template <class T, std::size_t Fanout>
std::string state(const per::min_tree<T, Fanout>& tree) {
    std::string text = "min_tree capacity " + std::to_string(tree.capacity()) + " min " +
                       hex(static_cast<double>(tree.min())) + " slots:";
    for (std::size_t i = 0; i < tree.capacity(); ++i) {
        text += " " + hex(static_cast<double>(tree.get(i)));
    }
    return text;
}

} // namespace per_test

#endif // PER_TESTS_STATE_SNAPSHOT_HPP
