#ifndef PER_CHECKPOINT_HPP
#define PER_CHECKPOINT_HPP

#include "naive_replay.hpp"
#include "prioritized_replay.hpp"
#include "prioritized_sampler.hpp"
#include "rank_based.hpp"
#include "replay_options.hpp"

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <istream>
#include <limits>
#include <ostream>
#include <sstream>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

// Checkpoints: save a sampler or a replay buffer to a std::ostream and load it back, so that a
// training run can stop and resume with the same priorities, handles and ring position. It
// covers the proportional sampler and buffer (basic_prioritized_sampler<SumTree>,
// prioritized_replay<Item, basic_prioritized_sampler<SumTree>>), the rank-based ones
// (rank_based_sampler, rank_based_replay<Item>) and naive_prioritized_replay<Item>. A loaded
// object is indistinguishable from the saved one: same items, raw priorities, generations,
// options, running max priority, ring position and (rank-based) order among equal priorities,
// and it draws the same batches from the same engine state (bit for bit when the tree type is
// the same).
//
//     std::ofstream out("replay.ckpt", std::ios::binary);
//     per::save(out, buffer);                      // items trivially copyable
//     ...
//     std::ifstream in("replay.ckpt", std::ios::binary);
//     per::load(in, buffer);                       // throws per::checkpoint_error if bad
//
// Items that are not trivially copyable (or that should be portable across platforms) need an
// item serializer: save(out, buffer, write_item) with write_item(std::ostream&, const Item&),
// and load(in, buffer, read_item) with read_item(std::istream&) returning an Item.
//
// The format (version 1, docs/checkpoint-format.md has the full table): every integer and double
// is written byte by byte in little-endian order, whatever the host's endianness; doubles are
// their IEEE-754 binary64 bit patterns.
//
//     magic          8 bytes  89 50 45 52 0D 0A 1A 0A ("\x89PER\r\n\x1a\n")
//     version        u32      1
//     kind           u32      1 sampler, 2 prioritized_replay, 3 naive_prioritized_replay,
//                             4 rank_based_sampler, 5 rank_based_replay
//     value size     u32      sizeof of the sum tree's value type (8 for the naive buffer; for
//                             the rank-based kinds, the rank-weight tree's: 8)
//     fanout         u32      the sum tree's fanout (0 for the naive buffer); informational
//     capacity       u64
//     size           u64      filled slots
//     alpha, epsilon, initial_max_priority            f64 each
//     sampling       u32      0 stratified, 1 independent, 2 without_replacement
//     normalization  u32      0 global_max, 1 batch_max, 2 none
//     max priority   f64      the running max
//     filled         capacity x u8   1 if the slot holds an item, else 0
//     generations    capacity x u32
//     priorities     size x f64      raw priorities of the filled slots, in slot order
//   rank-based kinds only (4 and 5):
//     fills          u64      fills so far: the clock that orders equal priorities
//     stamps         size x u64      the fill stamp of each filled slot, in slot order
//   replay kinds only (2, 3 and 5):
//     next slot      u64      the ring position (where the next push goes)
//     item size      u64      sizeof(Item) for raw items, 0 for serialized items
//     items          size x (item size bytes), or size x (u64 length, length bytes)
//   always:
//     checksum       u64      FNV-1a 64 of every byte before it, from the magic on
//
// Raw items are the bytes of the object representation (memcpy), so they carry the host's
// endianness and padding: such checkpoints move only between builds with the same Item layout.
// Use an item serializer for portable files.
//
// Loading. load reads the whole checkpoint, verifies the checksum, validates every value (the
// same rules the object's own members enforce: options, raw priorities finite, >= 0 and within
// the sampler's limit, max priority >= initial_max_priority and >= every raw priority, filled
// count equal to size, ring invariants; for rank-based kinds distinct fill stamps in [1, fills],
// growing along the ring for a buffer, and fills agreeing with the generations), rebuilds the
// trees from the raw priorities in O(N) (O(N log N) for the rank order), and only then replaces
// the target with the result (a noexcept move). The loaded checkpoint
// replaces everything, capacity and options included: check capacity() afterwards if the
// target must keep its own (a sampler that indexes external storage, say).
// Errors: per::checkpoint_error (a std::runtime_error) with code() saying why, for truncated,
// corrupted (checksum), wrong-magic, wrong-version, wrong-kind, wrong-type (value size or item
// size) and invalid-value input, and for a stream that fails while saving; std::bad_alloc if
// memory runs out; whatever a user serializer throws. The target object is unchanged whenever
// load throws (strong guarantee); the stream's position and state are then unspecified.
// Memory: load grows its staging buffers with the bytes actually read, so a corrupted size field
// cannot make it allocate more than the stream holds; the staged object then needs about the
// size of the target again until it replaces it.
//
// Complexity: O(N + total item bytes) for both save and load (the checksum runs at about 1 byte
// per nanosecond); loading a rank-based kind adds O(N log N) to sort the ranks.
//
// Generations: a handle names (slot, 32-bit generation). A checkpoint keeps the generations, so
// handles taken before save are still valid (or still stale) after load.

namespace per {

// Why a checkpoint could not be saved or loaded.
enum class checkpoint_errc {
    stream_error,        // the stream failed while saving
    truncated,           // the input ended before the checkpoint did
    bad_magic,           // not a per checkpoint
    unsupported_version, // a format version this library does not read
    wrong_kind,          // e.g. a replay buffer's checkpoint loaded into a sampler
    type_mismatch,       // value type size or item size/encoding differ from the target's
    checksum_mismatch,   // the bytes were changed after they were written
    invalid_value,       // a field is outside what the object allows
};

// The exception save and load throw for a bad checkpoint or a failing stream; code() says why
// and what() describes it (e.g. "per::load: checksum mismatch: ...").
class checkpoint_error : public std::runtime_error {
public:
    checkpoint_error(checkpoint_errc code, const std::string& message)
        : std::runtime_error(message)
        , m_code(code) {}

    checkpoint_errc code() const noexcept { return m_code; }

private:
    checkpoint_errc m_code;
};

// The format version save writes and load reads.
inline constexpr std::uint32_t checkpoint_format_version = 1;

// The kind tag of a checkpoint: which object wrote it.
enum class checkpoint_kind : std::uint32_t {
    sampler = 1,            // basic_prioritized_sampler<SumTree>
    replay = 2,             // prioritized_replay<Item, basic_prioritized_sampler<SumTree>>
    naive_replay = 3,       // naive_prioritized_replay<Item>
    rank_based_sampler = 4, // rank_based_sampler
    rank_based_replay = 5,  // prioritized_replay<Item, rank_based_sampler>
};

namespace detail {

static_assert(std::numeric_limits<double>::is_iec559, "checkpoints store IEEE-754 doubles");

inline constexpr unsigned char checkpoint_magic[8] = {0x89, 'P', 'E', 'R', '\r', '\n', 0x1a, '\n'};

// FNV-1a, 64 bits.
class fnv1a64 {
public:
    void update(const unsigned char* bytes, std::size_t count) noexcept {
        std::uint64_t hash = m_hash;
        for (std::size_t i = 0; i < count; ++i) {
            hash ^= bytes[i];
            hash *= 0x100000001b3ULL;
        }
        m_hash = hash;
    }
    std::uint64_t value() const noexcept { return m_hash; }

private:
    std::uint64_t m_hash = 0xcbf29ce484222325ULL;
};

[[noreturn]] inline void checkpoint_fail(checkpoint_errc code, const char* where,
                                         const std::string& message) {
    throw checkpoint_error(code, std::string(where) + ": " + message);
}

// Buffered little-endian writer that hashes what it writes.
class checkpoint_writer {
public:
    explicit checkpoint_writer(std::ostream& out)
        : m_out(out) {}

    void bytes(const void* data, std::size_t count) {
        const auto* bytes = static_cast<const unsigned char*>(data);
        m_hash.update(bytes, count);
        while (count > 0) {
            const std::size_t take = std::min(count, buffer_size - m_used);
            std::memcpy(m_buffer + m_used, bytes, take);
            m_used += take;
            bytes += take;
            count -= take;
            if (m_used == buffer_size) {
                flush();
            }
        }
    }
    void u8(std::uint8_t value) { bytes(&value, 1); }
    void u32(std::uint32_t value) {
        unsigned char le[4];
        for (int i = 0; i < 4; ++i) {
            le[i] = static_cast<unsigned char>(value >> (8 * i));
        }
        bytes(le, 4);
    }
    void u64(std::uint64_t value) {
        unsigned char le[8];
        for (int i = 0; i < 8; ++i) {
            le[i] = static_cast<unsigned char>(value >> (8 * i));
        }
        bytes(le, 8);
    }
    void f64(double value) {
        std::uint64_t bits;
        std::memcpy(&bits, &value, sizeof bits);
        u64(bits);
    }

    // Writes the checksum of everything so far and flushes; throws if the stream failed.
    void finish() {
        u64(m_hash.value());
        flush();
        m_out.flush();
        if (!m_out) {
            checkpoint_fail(checkpoint_errc::stream_error, "per::save", "the output stream failed");
        }
    }

private:
    void flush() {
        if (m_used > 0) {
            m_out.write(reinterpret_cast<const char*>(m_buffer),
                        static_cast<std::streamsize>(m_used));
            m_used = 0;
        }
        if (!m_out) {
            checkpoint_fail(checkpoint_errc::stream_error, "per::save", "the output stream failed");
        }
    }

    static constexpr std::size_t buffer_size = 1 << 14;
    std::ostream& m_out;
    fnv1a64 m_hash;
    unsigned char m_buffer[buffer_size];
    std::size_t m_used = 0;
};

// Little-endian reader that hashes what it reads and reports a short read as truncation. It
// reads exactly the checkpoint's bytes: nothing after the checksum is consumed.
class checkpoint_reader {
public:
    explicit checkpoint_reader(std::istream& in)
        : m_in(in) {}

    void bytes(void* data, std::size_t count, const char* field) {
        auto* out = static_cast<unsigned char*>(data);
        std::size_t done = 0;
        while (done < count) {
            const std::size_t want = std::min<std::size_t>(count - done, 1 << 20);
            m_in.read(reinterpret_cast<char*>(out + done), static_cast<std::streamsize>(want));
            const std::size_t got = static_cast<std::size_t>(m_in.gcount());
            done += got;
            if (got < want) {
                checkpoint_fail(checkpoint_errc::truncated, "per::load",
                                std::string("truncated input: the stream ended in ") + field +
                                    " (" + std::to_string(m_offset + done) + " bytes read)");
            }
        }
        m_hash.update(out, count);
        m_offset += count;
    }
    std::uint8_t u8(const char* field) {
        std::uint8_t value;
        bytes(&value, 1, field);
        return value;
    }
    std::uint32_t u32(const char* field) {
        unsigned char le[4];
        bytes(le, 4, field);
        std::uint32_t value = 0;
        for (int i = 0; i < 4; ++i) {
            value |= static_cast<std::uint32_t>(le[i]) << (8 * i);
        }
        return value;
    }
    std::uint64_t u64(const char* field) {
        unsigned char le[8];
        bytes(le, 8, field);
        std::uint64_t value = 0;
        for (int i = 0; i < 8; ++i) {
            value |= static_cast<std::uint64_t>(le[i]) << (8 * i);
        }
        return value;
    }
    double f64(const char* field) {
        const std::uint64_t bits = u64(field);
        double value;
        std::memcpy(&value, &bits, sizeof value);
        return value;
    }

    // Reads `count` records of `record_bytes` each into `out` (appended), in chunks, so that a
    // huge count from a corrupted header fails as truncation instead of allocating it all.
    void chunked(std::vector<unsigned char>& out, std::uint64_t count, std::uint64_t record_bytes,
                 const char* field) {
        if (record_bytes != 0 && count > std::numeric_limits<std::uint64_t>::max() / record_bytes) {
            checkpoint_fail(checkpoint_errc::invalid_value, "per::load",
                            std::string(field) + ": size overflows");
        }
        std::uint64_t remaining = count * record_bytes;
        while (remaining > 0) {
            const std::size_t take =
                static_cast<std::size_t>(std::min<std::uint64_t>(remaining, 1 << 20));
            const std::size_t old = out.size();
            out.resize(old + take);
            bytes(out.data() + old, take, field);
            remaining -= take;
        }
    }

    // Reads the stored checksum and compares it with the hash of everything before it.
    void finish() {
        const std::uint64_t expected = m_hash.value();
        const std::uint64_t stored = u64("the checksum");
        if (stored != expected) {
            checkpoint_fail(checkpoint_errc::checksum_mismatch, "per::load",
                            "checksum mismatch: the checkpoint is corrupted (stored " +
                                std::to_string(stored) + ", computed " + std::to_string(expected) +
                                ")");
        }
    }

private:
    std::istream& m_in;
    fnv1a64 m_hash;
    std::uint64_t m_offset = 0;
};

inline std::uint32_t load_u32(const unsigned char* p) noexcept {
    std::uint32_t value = 0;
    for (int i = 0; i < 4; ++i) {
        value |= static_cast<std::uint32_t>(p[i]) << (8 * i);
    }
    return value;
}
inline std::uint64_t load_u64(const unsigned char* p) noexcept {
    std::uint64_t value = 0;
    for (int i = 0; i < 8; ++i) {
        value |= static_cast<std::uint64_t>(p[i]) << (8 * i);
    }
    return value;
}
inline double load_f64(const unsigned char* p) noexcept {
    const std::uint64_t bits = load_u64(p);
    double value;
    std::memcpy(&value, &bits, sizeof value);
    return value;
}

inline std::uint32_t sampling_code(sampling_mode mode) noexcept {
    switch (mode) {
    case sampling_mode::stratified:
        return 0;
    case sampling_mode::independent:
        return 1;
    case sampling_mode::without_replacement:
        return 2;
    }
    return 0xffffffffu;
}
inline std::uint32_t normalization_code(weight_normalization normalization) noexcept {
    switch (normalization) {
    case weight_normalization::global_max:
        return 0;
    case weight_normalization::batch_max:
        return 1;
    case weight_normalization::none:
        return 2;
    }
    return 0xffffffffu;
}

inline const char* kind_name(std::uint32_t kind) noexcept {
    switch (kind) {
    case static_cast<std::uint32_t>(checkpoint_kind::sampler):
        return "a prioritized_sampler";
    case static_cast<std::uint32_t>(checkpoint_kind::replay):
        return "a prioritized_replay";
    case static_cast<std::uint32_t>(checkpoint_kind::naive_replay):
        return "a naive_prioritized_replay";
    case static_cast<std::uint32_t>(checkpoint_kind::rank_based_sampler):
        return "a rank_based_sampler";
    case static_cast<std::uint32_t>(checkpoint_kind::rank_based_replay):
        return "a rank_based_replay";
    default:
        return "an unknown object";
    }
}

// Which kinds continue with a ring position and items, and which with fill stamps.
inline bool has_ring(checkpoint_kind kind) noexcept {
    return kind == checkpoint_kind::replay || kind == checkpoint_kind::naive_replay ||
           kind == checkpoint_kind::rank_based_replay;
}
inline bool has_stamps(checkpoint_kind kind) noexcept {
    return kind == checkpoint_kind::rank_based_sampler ||
           kind == checkpoint_kind::rank_based_replay;
}

// How items are encoded: raw bytes (item size = sizeof(Item)) or by a user serializer (0).
inline constexpr std::uint64_t serialized_items = 0;

// Everything a checkpoint holds, decoded, before it is validated against a target type.
struct checkpoint_image {
    std::uint32_t kind = 0;
    std::uint32_t value_size = 0;
    std::uint32_t fanout = 0;
    std::uint64_t capacity = 0;
    std::uint64_t size = 0;
    double alpha = 0;
    double epsilon = 0;
    double initial_max_priority = 0;
    std::uint32_t sampling = 0;
    std::uint32_t normalization = 0;
    double max_priority = 0;
    std::vector<unsigned char> filled;      // capacity bytes
    std::vector<unsigned char> generations; // capacity x u32, little-endian
    std::vector<unsigned char> priorities;  // size x f64, little-endian
    std::uint64_t fills = 0;                // rank-based kinds: fills so far
    std::vector<unsigned char> stamps;      // rank-based kinds: size x u64, little-endian
    std::uint64_t next = 0;
    std::uint64_t item_size = 0;
    std::vector<unsigned char> items; // raw items back to back, or length-prefixed records

    std::uint32_t generation(std::size_t slot) const noexcept {
        return load_u32(generations.data() + 4 * slot);
    }
    double priority(std::size_t k) const noexcept { return load_f64(priorities.data() + 8 * k); }
    std::uint64_t stamp(std::size_t k) const noexcept { return load_u64(stamps.data() + 8 * k); }
};

[[noreturn]] inline void invalid(const std::string& message) {
    checkpoint_fail(checkpoint_errc::invalid_value, "per::load", message);
}

// Reads a whole checkpoint of the expected kind (and item encoding, for buffers) and verifies
// its checksum. Checks the structure as it goes; values are validated by the caller.
inline checkpoint_image read_checkpoint(std::istream& in, checkpoint_kind expected_kind,
                                        std::uint32_t expected_value_size,
                                        std::uint64_t expected_item_size = 0) {
    const char* where = "per::load";
    checkpoint_reader reader(in);
    checkpoint_image image;
    unsigned char magic[8];
    reader.bytes(magic, 8, "the magic number");
    if (std::memcmp(magic, checkpoint_magic, 8) != 0) {
        checkpoint_fail(checkpoint_errc::bad_magic, where,
                        "not a per checkpoint (the magic number is wrong)");
    }
    const std::uint32_t version = reader.u32("the format version");
    if (version != checkpoint_format_version) {
        checkpoint_fail(checkpoint_errc::unsupported_version, where,
                        "format version " + std::to_string(version) +
                            " is not supported (this library reads version " +
                            std::to_string(checkpoint_format_version) + ")");
    }
    image.kind = reader.u32("the kind");
    if (image.kind != static_cast<std::uint32_t>(expected_kind)) {
        checkpoint_fail(checkpoint_errc::wrong_kind, where,
                        std::string("the checkpoint holds ") + kind_name(image.kind) + " (kind " +
                            std::to_string(image.kind) + "), not " +
                            kind_name(static_cast<std::uint32_t>(expected_kind)));
    }
    image.value_size = reader.u32("the value size");
    if (image.value_size != expected_value_size) {
        checkpoint_fail(checkpoint_errc::type_mismatch, where,
                        "the checkpoint's priority trees hold " + std::to_string(image.value_size) +
                            "-byte values, the target's hold " +
                            std::to_string(expected_value_size) + "-byte values");
    }
    image.fanout = reader.u32("the fanout");
    image.capacity = reader.u64("the capacity");
    image.size = reader.u64("the size");
    if (image.size > image.capacity) {
        invalid("size = " + std::to_string(image.size) +
                " must be <= capacity = " + std::to_string(image.capacity));
    }
    image.alpha = reader.f64("the options");
    image.epsilon = reader.f64("the options");
    image.initial_max_priority = reader.f64("the options");
    image.sampling = reader.u32("the options");
    image.normalization = reader.u32("the options");
    image.max_priority = reader.f64("the max priority");
    reader.chunked(image.filled, image.capacity, 1, "the filled flags");
    reader.chunked(image.generations, image.capacity, 4, "the generations");
    reader.chunked(image.priorities, image.size, 8, "the priorities");
    if (has_stamps(expected_kind)) {
        image.fills = reader.u64("the fill count");
        reader.chunked(image.stamps, image.size, 8, "the fill stamps");
    }
    if (has_ring(expected_kind)) {
        image.next = reader.u64("the ring position");
        image.item_size = reader.u64("the item size");
        if (image.item_size != expected_item_size) {
            const auto describe = [](std::uint64_t size) {
                return size == serialized_items ? std::string("written by an item serializer")
                                                : std::to_string(size) + "-byte raw items";
            };
            checkpoint_fail(checkpoint_errc::type_mismatch, where,
                            "the checkpoint holds " + describe(image.item_size) +
                                ", the target expects " + describe(expected_item_size));
        }
        if (image.item_size != serialized_items) {
            reader.chunked(image.items, image.size, image.item_size, "the items");
        } else {
            for (std::uint64_t k = 0; k < image.size; ++k) {
                const std::size_t at = image.items.size();
                image.items.resize(at + 8);
                reader.bytes(image.items.data() + at, 8, "the items");
                reader.chunked(image.items, load_u64(image.items.data() + at), 1, "the items");
            }
        }
    }
    reader.finish();
    return image;
}

// The options of a checkpoint, validated as a constructor would.
inline replay_options options_of(const checkpoint_image& image) {
    if (image.sampling > 2) {
        invalid("sampling = " + std::to_string(image.sampling) + " is not a per::sampling_mode");
    }
    if (image.normalization > 2) {
        invalid("normalization = " + std::to_string(image.normalization) +
                " is not a per::weight_normalization");
    }
    const sampling_mode modes[] = {sampling_mode::stratified, sampling_mode::independent,
                                   sampling_mode::without_replacement};
    const weight_normalization normalizations[] = {weight_normalization::global_max,
                                                   weight_normalization::batch_max,
                                                   weight_normalization::none};
    replay_options options = replay_options{}
                                 .alpha(image.alpha)
                                 .epsilon(image.epsilon)
                                 .initial_max_priority(image.initial_max_priority)
                                 .sampling(modes[image.sampling])
                                 .normalization(normalizations[image.normalization]);
    try {
        options.validate("the checkpoint's options");
    } catch (const std::invalid_argument& error) {
        invalid(error.what());
    }
    return options;
}

// The checks every kind shares: capacity within `max_capacity`, filled flags 0/1 summing to
// size, and (for buffers) filled slots exactly 0..size-1 with a consistent ring position.
inline std::size_t checked_layout(const checkpoint_image& image, std::size_t max_capacity,
                                  bool ring) {
    if (image.capacity == 0 || image.capacity > max_capacity) {
        invalid("capacity = " + std::to_string(image.capacity) + " must be in [1, " +
                std::to_string(max_capacity) + "]");
    }
    std::uint64_t filled = 0;
    for (std::size_t slot = 0; slot < image.filled.size(); ++slot) {
        const unsigned char flag = image.filled[slot];
        if (flag > 1) {
            invalid("filled[" + std::to_string(slot) + "] = " + std::to_string(flag) +
                    " must be 0 or 1");
        }
        if (ring && flag != (slot < image.size ? 1 : 0)) {
            invalid("filled[" + std::to_string(slot) + "] = " + std::to_string(flag) +
                    ": a replay buffer fills slots 0.." + std::to_string(image.size) + " - 1 only");
        }
        filled += flag;
    }
    if (filled != image.size) {
        invalid("size = " + std::to_string(image.size) + " but " + std::to_string(filled) +
                " slots are marked filled");
    }
    if (ring) {
        const bool full = image.size == image.capacity;
        if (full ? image.next >= image.capacity : image.next != image.size) {
            invalid("next slot = " + std::to_string(image.next) +
                    (full ? " must be < capacity = " + std::to_string(image.capacity)
                          : " must equal size = " + std::to_string(image.size) +
                                " while the buffer is not full"));
        }
    }
    return static_cast<std::size_t>(image.capacity);
}

// The max priority must be what the object could have reached: finite, at least the initial
// max priority and every stored raw priority (it is their running max); `accepts` checks the
// object's own limit.
template <class Accepts>
void check_max_priority(const checkpoint_image& image, Accepts&& accepts) {
    const double max_priority = image.max_priority;
    if (!(std::isfinite(max_priority) && max_priority >= image.initial_max_priority)) {
        invalid("max priority = " + format_value(max_priority) +
                " must be finite and >= initial_max_priority = " +
                format_value(image.initial_max_priority));
    }
    for (std::size_t k = 0; k < image.size; ++k) {
        if (image.priority(k) > max_priority) {
            invalid("max priority = " + format_value(max_priority) + " is below the raw priority " +
                    format_value(image.priority(k)) + " of a stored item");
        }
    }
    accepts("max priority", max_priority);
}

template <class Item, class Write>
void write_items(checkpoint_writer& writer, const std::vector<Item>& items, Write& write_item) {
    std::ostringstream buffer;
    for (std::size_t k = 0; k < items.size(); ++k) {
        buffer.str(std::string());
        buffer.clear();
        write_item(static_cast<std::ostream&>(buffer), items[k]);
        if (!buffer) {
            checkpoint_fail(checkpoint_errc::stream_error, "per::save",
                            "write_item failed for the item in slot " + std::to_string(k));
        }
        const std::string bytes = buffer.str();
        writer.u64(bytes.size());
        writer.bytes(bytes.data(), bytes.size());
    }
}

template <class Item>
void write_raw_items(checkpoint_writer& writer, const std::vector<Item>& items) {
    for (const Item& item : items) {
        writer.bytes(&item, sizeof(Item)); // the object representation, see the header comment
    }
}

// Appends the items of a checked image to `out` (reserved by the caller).
template <class Item>
void read_raw_items(const checkpoint_image& image, std::vector<Item>& out) {
    out.resize(static_cast<std::size_t>(image.size));
    if (!out.empty()) {
        std::memcpy(static_cast<void*>(out.data()), image.items.data(), out.size() * sizeof(Item));
    }
}

template <class Item, class Read>
void read_items(const checkpoint_image& image, std::vector<Item>& out, Read& read_item) {
    std::size_t at = 0;
    std::istringstream stream;
    for (std::uint64_t k = 0; k < image.size; ++k) {
        const std::size_t length = static_cast<std::size_t>(load_u64(image.items.data() + at));
        at += 8;
        stream.str(std::string(reinterpret_cast<const char*>(image.items.data() + at), length));
        stream.clear();
        at += length;
        Item item = read_item(static_cast<std::istream&>(stream));
        if (stream.fail() || stream.peek() != std::char_traits<char>::eof()) {
            invalid("read_item did not read exactly the " + std::to_string(length) +
                    " bytes written for the item in slot " + std::to_string(k));
        }
        out.push_back(std::move(item));
    }
}

template <class Item>
constexpr void require_raw_item() {
    static_assert(std::is_trivially_copyable_v<Item> && std::is_default_constructible_v<Item>,
                  "per::save / per::load without an item serializer need a trivially copyable, "
                  "default-constructible Item: pass write_item / read_item callables instead");
}

// The fixed fields every kind starts with, from the magic to the max priority (80 bytes).
inline void write_header(checkpoint_writer& writer, checkpoint_kind kind, std::size_t value_size,
                         std::size_t fanout, std::size_t capacity, std::size_t size,
                         const replay_options& options, double max_priority) {
    writer.bytes(checkpoint_magic, 8);
    writer.u32(checkpoint_format_version);
    writer.u32(static_cast<std::uint32_t>(kind));
    writer.u32(static_cast<std::uint32_t>(value_size));
    writer.u32(static_cast<std::uint32_t>(fanout));
    writer.u64(capacity);
    writer.u64(size);
    writer.f64(options.alpha());
    writer.f64(options.epsilon());
    writer.f64(options.initial_max_priority());
    writer.u32(sampling_code(options.sampling()));
    writer.u32(normalization_code(options.normalization()));
    writer.f64(max_priority);
}

// What a checkpoint records about each sampler type: its kinds (alone and in a buffer), the
// size of its tree's values and its largest capacity.
template <class Sampler>
struct sampler_traits;

template <class SumTree>
struct sampler_traits<basic_prioritized_sampler<SumTree>> {
    static constexpr checkpoint_kind sampler_kind = checkpoint_kind::sampler;
    static constexpr checkpoint_kind replay_kind = checkpoint_kind::replay;
    static constexpr std::uint32_t value_size = sizeof(typename SumTree::value_type);
    static constexpr std::size_t max_capacity() noexcept { return SumTree::max_capacity(); }
};

template <>
struct sampler_traits<rank_based_sampler> {
    static constexpr checkpoint_kind sampler_kind = checkpoint_kind::rank_based_sampler;
    static constexpr checkpoint_kind replay_kind = checkpoint_kind::rank_based_replay;
    static constexpr std::uint32_t value_size = sizeof(rank_based_sampler::tree_type::value_type);
    static constexpr std::size_t max_capacity() noexcept {
        return rank_based_sampler::max_capacity();
    }
};

// The friend of the samplers and buffers: reads their private state for save and fills a
// freshly constructed object for load.
struct checkpoint_access {
    template <class SumTree>
    static void write_sampler(checkpoint_writer& writer, checkpoint_kind kind,
                              const basic_prioritized_sampler<SumTree>& sampler) {
        using sampler_type = basic_prioritized_sampler<SumTree>;
        write_header(writer, kind, sizeof(typename sampler_type::value_type), SumTree::fanout,
                     sampler.capacity(), sampler.size(), sampler.m_options, sampler.m_max_priority);
        for (std::size_t slot = 0; slot < sampler.capacity(); ++slot) {
            writer.u8(sampler.m_raw[slot] != sampler_type::empty_slot ? 1 : 0);
        }
        for (std::size_t slot = 0; slot < sampler.capacity(); ++slot) {
            writer.u32(sampler.m_generations[slot]);
        }
        for (std::size_t slot = 0; slot < sampler.capacity(); ++slot) {
            if (sampler.m_raw[slot] != sampler_type::empty_slot) {
                writer.f64(sampler.m_raw[slot]);
            }
        }
    }

    // `sampler` was just constructed with options_of(image) and image.capacity. Validates the
    // raw priorities and the max priority against it, then installs the state and rebuilds the
    // trees from the raw priorities (O(N), the computation set_alpha does).
    template <class SumTree>
    static void fill_sampler(const checkpoint_image& image,
                             basic_prioritized_sampler<SumTree>& sampler) {
        const auto accepts = [&sampler](const std::string& name, double priority) {
            try {
                sampler.validate_priority("per::load", name.c_str(), priority);
            } catch (const std::invalid_argument& error) {
                invalid(error.what());
            }
        };
        const std::size_t capacity = sampler.capacity();
        std::size_t k = 0;
        for (std::size_t slot = 0; slot < capacity; ++slot) {
            if (image.filled[slot] == 0) {
                continue;
            }
            const double priority = image.priority(k++);
            accepts("priorities[" + std::to_string(slot) + "]", priority);
            sampler.m_raw[slot] = priority;
        }
        check_max_priority(image, accepts);
        for (std::size_t slot = 0; slot < capacity; ++slot) {
            sampler.m_generations[slot] = image.generation(slot);
        }
        // The trees and the sampleable count, from the raw priorities (as set_alpha does).
        sampler.install(sampler.rebuild_index(sampler.m_options.alpha()));
        sampler.m_size = static_cast<std::size_t>(image.size);
        sampler.m_max_priority = image.max_priority;
    }

    // The fields of a proportional sampler's checkpoint, then the fill count and the fill stamp
    // of every filled slot in slot order (the tie-breaking order). Value size and fanout are
    // those of the rank-weight tree.
    static void write_sampler(checkpoint_writer& writer, checkpoint_kind kind,
                              const rank_based_sampler& sampler) {
        using tree_type = rank_based_sampler::tree_type;
        const std::size_t capacity = sampler.capacity();
        const order_statistics_tree& index = sampler.m_index;
        write_header(writer, kind, sizeof(tree_type::value_type), tree_type::fanout, capacity,
                     sampler.size(), sampler.m_options, sampler.m_max_priority);
        for (std::size_t slot = 0; slot < capacity; ++slot) {
            writer.u8(index.contains(slot) ? 1 : 0);
        }
        for (std::size_t slot = 0; slot < capacity; ++slot) {
            writer.u32(sampler.m_generations[slot]);
        }
        for (std::size_t slot = 0; slot < capacity; ++slot) {
            if (index.contains(slot)) {
                writer.f64(index.priority(slot));
            }
        }
        writer.u64(sampler.m_fills);
        for (std::size_t slot = 0; slot < capacity; ++slot) {
            if (index.contains(slot)) {
                writer.u64(index.stamp(slot));
            }
        }
    }

    // `sampler` was just constructed with options_of(image) and image.capacity. Validates the
    // raw priorities, the fill stamps (each in [1, fills], all distinct, and for a buffer
    // growing along the ring from its oldest slot), the fill count against the generations
    // and the max priority; then installs them and rebuilds the order-statistics tree and the
    // rank weights (O(C + N log N)).
    static void fill_sampler(const checkpoint_image& image, rank_based_sampler& sampler) {
        const auto accepts = [&sampler](const std::string& name, double priority) {
            try {
                sampler.validate_priority("per::load", name.c_str(), priority);
            } catch (const std::invalid_argument& error) {
                invalid(error.what());
            }
        };
        const auto at = [](const char* field, std::size_t slot) {
            return std::string(field) + "[" + std::to_string(slot) + "]";
        };
        const std::size_t capacity = sampler.capacity();
        const std::size_t size = static_cast<std::size_t>(image.size);
        std::vector<double> priorities(capacity, -1.0); // negative: not in the tree
        std::vector<std::uint64_t> stamps(capacity, 0);
        std::vector<std::pair<std::uint64_t, std::size_t>> by_stamp; // (stamp, slot)
        by_stamp.reserve(size);
        std::size_t k = 0;
        for (std::size_t slot = 0; slot < capacity; ++slot) {
            if (image.filled[slot] == 0) {
                continue;
            }
            const double priority = image.priority(k);
            const std::uint64_t stamp = image.stamp(k);
            ++k;
            accepts(at("priorities", slot), priority);
            if (stamp == 0 || stamp > image.fills) {
                invalid(at("stamps", slot) + " = " + std::to_string(stamp) +
                        " must be in [1, fills = " + std::to_string(image.fills) + "]");
            }
            priorities[slot] = priority;
            stamps[slot] = stamp;
            by_stamp.emplace_back(stamp, slot);
        }
        check_max_priority(image, accepts);
        std::sort(by_stamp.begin(), by_stamp.end());
        for (std::size_t i = 1; i < by_stamp.size(); ++i) {
            if (by_stamp[i].first == by_stamp[i - 1].first) {
                invalid(at("stamps", by_stamp[i - 1].second) + " = " +
                        at("stamps", by_stamp[i].second) + " = " +
                        std::to_string(by_stamp[i].first) + ": every fill has its own stamp");
            }
        }
        if (has_ring(static_cast<checkpoint_kind>(image.kind)) && size > 1) {
            // A buffer fills its slots in ring order: the stamps grow from the oldest slot on
            // (the next slot once the ring is full, slot 0 before).
            const std::size_t oldest = size == capacity ? static_cast<std::size_t>(image.next) : 0;
            for (std::size_t i = 1; i < size; ++i) {
                const std::size_t slot = (oldest + i) % capacity;
                const std::size_t before = (oldest + i - 1) % capacity;
                if (!(stamps[slot] > stamps[before])) {
                    invalid(at("stamps", slot) + " = " + std::to_string(stamps[slot]) +
                            " must be > " + at("stamps", before) + " = " +
                            std::to_string(stamps[before]) +
                            ": a replay buffer fills its slots in ring order");
                }
            }
        }
        // Every fill increments one generation and the fill count: they agree modulo 2^32.
        std::uint32_t generations = 0;
        for (std::size_t slot = 0; slot < capacity; ++slot) {
            generations += image.generation(slot);
        }
        if (generations != static_cast<std::uint32_t>(image.fills)) {
            invalid("fills = " + std::to_string(image.fills) +
                    " disagrees with the generations, which add up to " +
                    std::to_string(generations) +
                    " modulo 2^32 (every fill increments one generation)");
        }

        // Install: the order-statistics tree from the keys, the rank weights as set_alpha
        // writes them. Either may throw std::bad_alloc; `sampler` is a staged copy.
        std::vector<double> weights(size);
        for (std::size_t rank = 1; rank <= size; ++rank) {
            weights[rank - 1] = rank_based_sampler::rank_weight(rank, sampler.alpha());
        }
        sampler.m_index.assign(priorities.data(), stamps.data());
        sampler.m_rank_weights.assign(weights.begin(), weights.end());
        for (std::size_t slot = 0; slot < capacity; ++slot) {
            sampler.m_generations[slot] = image.generation(slot);
        }
        sampler.m_fills = image.fills;
        sampler.m_max_priority = image.max_priority;
    }

    template <class Sampler>
    static void save_sampler(std::ostream& out, const Sampler& sampler) {
        checkpoint_writer writer(out);
        write_sampler(writer, sampler_traits<Sampler>::sampler_kind, sampler);
        writer.finish();
    }

    template <class Sampler>
    static void load_sampler(std::istream& in, Sampler& target) {
        using traits = sampler_traits<Sampler>;
        static_assert(std::is_nothrow_move_assignable_v<Sampler>,
                      "load replaces the target by a noexcept move (strong guarantee)");
        const checkpoint_image image =
            read_checkpoint(in, traits::sampler_kind, traits::value_size);
        const replay_options options = options_of(image);
        const std::size_t capacity = checked_layout(image, traits::max_capacity(), false);
        Sampler staged = construct<Sampler>(capacity, options);
        fill_sampler(image, staged);
        target = std::move(staged);
    }

    template <class Item, class Sampler, class ItemWriter>
    static void save_replay(std::ostream& out, const prioritized_replay<Item, Sampler>& buffer,
                            std::uint64_t item_size, ItemWriter&& write) {
        checkpoint_writer writer(out);
        write_sampler(writer, sampler_traits<Sampler>::replay_kind, buffer.m_sampler);
        writer.u64(buffer.m_next);
        writer.u64(item_size);
        write(writer, buffer.m_items);
        writer.finish();
    }

    template <class Item, class Sampler, class ItemReader>
    static void load_replay(std::istream& in, prioritized_replay<Item, Sampler>& target,
                            std::uint64_t item_size, ItemReader&& read) {
        using traits = sampler_traits<Sampler>;
        using buffer_type = prioritized_replay<Item, Sampler>;
        static_assert(std::is_nothrow_move_assignable_v<buffer_type>,
                      "load replaces the target by a noexcept move (strong guarantee)");
        const checkpoint_image image =
            read_checkpoint(in, traits::replay_kind, traits::value_size, item_size);
        const replay_options options = options_of(image);
        const std::size_t capacity = checked_layout(image, traits::max_capacity(), true);
        buffer_type staged = construct<buffer_type>(capacity, options);
        fill_sampler(image, staged.m_sampler);
        read(image, staged.m_items); // reserved for capacity by the constructor
        staged.m_next = static_cast<std::size_t>(image.next);
        target = std::move(staged);
    }

    template <class Item, class ItemWriter>
    static void save_naive(std::ostream& out, const naive_prioritized_replay<Item>& buffer,
                           std::uint64_t item_size, ItemWriter&& write) {
        const replay_options& options = buffer.m_options;
        const std::size_t capacity = buffer.m_capacity;
        const std::size_t size = buffer.m_items.size();
        checkpoint_writer writer(out);
        write_header(writer, checkpoint_kind::naive_replay, sizeof(double), 0, capacity, size,
                     options, buffer.m_max_priority);
        for (std::size_t slot = 0; slot < capacity; ++slot) {
            writer.u8(slot < size ? 1 : 0);
        }
        for (std::size_t slot = 0; slot < capacity; ++slot) {
            writer.u32(buffer.m_generations[slot]);
        }
        for (std::size_t slot = 0; slot < size; ++slot) {
            writer.f64(buffer.m_priorities[slot]);
        }
        writer.u64(buffer.m_next);
        writer.u64(item_size);
        write(writer, buffer.m_items);
        writer.finish();
    }

    template <class Item, class ItemReader>
    static void load_naive(std::istream& in, naive_prioritized_replay<Item>& target,
                           std::uint64_t item_size, ItemReader&& read) {
        using buffer_type = naive_prioritized_replay<Item>;
        static_assert(std::is_nothrow_move_assignable_v<buffer_type>,
                      "load replaces the target by a noexcept move (strong guarantee)");
        const checkpoint_image image =
            read_checkpoint(in, checkpoint_kind::naive_replay,
                            static_cast<std::uint32_t>(sizeof(double)), item_size);
        const replay_options options = options_of(image);
        const std::size_t capacity = checked_layout(
            image, std::numeric_limits<std::size_t>::max() / (4 * sizeof(double)), true);
        buffer_type staged = construct<buffer_type>(capacity, options);
        const auto accepts = [&staged](const std::string& name, double priority) {
            try {
                staged.check_priority("per::load", name.c_str(), priority);
            } catch (const std::invalid_argument& error) {
                invalid(error.what());
            }
        };
        for (std::size_t slot = 0; slot < image.size; ++slot) {
            const double priority = image.priority(slot);
            accepts("priorities[" + std::to_string(slot) + "]", priority);
            staged.m_priorities[slot] = priority;
        }
        check_max_priority(image, accepts);
        for (std::size_t slot = 0; slot < capacity; ++slot) {
            staged.m_generations[slot] = image.generation(slot);
        }
        staged.m_max_priority = image.max_priority;
        read(image, staged.m_items); // reserved for capacity by the constructor
        staged.m_next = static_cast<std::size_t>(image.next);
        target = std::move(staged);
    }

private:
    // The object a checkpoint describes, built by its public constructor (which validates the
    // options and initial_max_priority once more, against the capacity's limits).
    template <class Object>
    static Object construct(std::size_t capacity, const replay_options& options) {
        try {
            return Object(capacity, options);
        } catch (const std::invalid_argument& error) {
            invalid(error.what());
        } catch (const std::length_error& error) {
            invalid(error.what());
        }
    }
};

} // namespace detail

// --- Samplers ---------------------------------------------------------------------------------

// Writes `sampler` (options, raw priorities, generations, running max priority) to `out` as a
// version-1 checkpoint. O(N). Throws per::checkpoint_error (code stream_error) if the stream
// fails, or what the stream throws if its exceptions are enabled. The sampler is unchanged.
template <class SumTree>
void save(std::ostream& out, const basic_prioritized_sampler<SumTree>& sampler) {
    detail::checkpoint_access::save_sampler(out, sampler);
}

// Replaces `sampler` with the sampler saved in `in` (capacity and options included). O(N).
// Throws per::checkpoint_error for a checkpoint that is truncated, corrupted, of another kind or
// format version, saved from a sampler whose tree holds another value type (float vs double), or
// whose values the sampler would not accept; std::bad_alloc. Unchanged on throw.
template <class SumTree>
void load(std::istream& in, basic_prioritized_sampler<SumTree>& sampler) {
    detail::checkpoint_access::load_sampler(in, sampler);
}

// --- prioritized_replay -----------------------------------------------------------------------

// Writes `buffer` (its sampler's state, the ring position and the items as raw bytes) to `out`.
// Item must be trivially copyable (see the header comment on portability). O(N).
// Throws as save(sampler). The buffer is unchanged.
template <class Item, class SumTree>
void save(std::ostream& out,
          const prioritized_replay<Item, basic_prioritized_sampler<SumTree>>& buffer) {
    detail::require_raw_item<Item>();
    detail::checkpoint_access::save_replay(
        out, buffer, sizeof(Item),
        [](detail::checkpoint_writer& writer, const std::vector<Item>& items) {
            detail::write_raw_items(writer, items);
        });
}

// As above, with items written by write_item(std::ostream&, const Item&), which must leave the
// stream good. Throws per::checkpoint_error (stream_error) if it does not, and whatever
// write_item throws.
template <class Item, class SumTree, class WriteItem>
void save(std::ostream& out,
          const prioritized_replay<Item, basic_prioritized_sampler<SumTree>>& buffer,
          WriteItem write_item) {
    detail::checkpoint_access::save_replay(
        out, buffer, detail::serialized_items,
        [&write_item](detail::checkpoint_writer& writer, const std::vector<Item>& items) {
            detail::write_items(writer, items, write_item);
        });
}

// Replaces `buffer` with the buffer saved in `in` by save(out, buffer) with raw items of the
// same size. O(N). Throws as load(sampler), and per::checkpoint_error (type_mismatch) if the
// items were written with another size or by an item serializer. Unchanged on throw.
template <class Item, class SumTree>
void load(std::istream& in, prioritized_replay<Item, basic_prioritized_sampler<SumTree>>& buffer) {
    detail::require_raw_item<Item>();
    detail::checkpoint_access::load_replay(
        in, buffer, sizeof(Item),
        [](const detail::checkpoint_image& image, std::vector<Item>& out) {
            detail::read_raw_items(image, out);
        });
}

// As above, for a checkpoint written with an item serializer: read_item(std::istream&) returns
// the Item whose bytes write_item wrote, and must read exactly those bytes (else
// per::checkpoint_error, invalid_value). It runs only after the checksum and every other field
// were verified. Whatever read_item throws propagates; the buffer is unchanged then too.
template <class Item, class SumTree, class ReadItem>
void load(std::istream& in, prioritized_replay<Item, basic_prioritized_sampler<SumTree>>& buffer,
          ReadItem read_item) {
    detail::checkpoint_access::load_replay(
        in, buffer, detail::serialized_items,
        [&read_item](const detail::checkpoint_image& image, std::vector<Item>& out) {
            detail::read_items(image, out, read_item);
        });
}

// --- rank_based_sampler and rank_based_replay -------------------------------------------------

// Writes `sampler` (options, raw priorities, generations, running max priority, and the fill
// stamps that order equal priorities) to `out` as a checkpoint of kind 4. O(C). Throws
// per::checkpoint_error (code stream_error) if the stream fails, or what the stream throws if
// its exceptions are enabled. The sampler is unchanged.
inline void save(std::ostream& out, const rank_based_sampler& sampler) {
    detail::checkpoint_access::save_sampler(out, sampler);
}

// Replaces `sampler` with the rank-based sampler saved in `in` (capacity and options included):
// the same ranks, ties included, the same batches from the same engine state, and the same
// behaviour for later fills and updates. O(C + N log N). Throws per::checkpoint_error for a
// checkpoint that is truncated, corrupted, of another kind (a proportional sampler's, say) or
// format version, or whose values the sampler would not accept; std::bad_alloc. Unchanged on
// throw.
inline void load(std::istream& in, rank_based_sampler& sampler) {
    detail::checkpoint_access::load_sampler(in, sampler);
}

// Writes `buffer` (its sampler's state, the ring position and the items as raw bytes) to `out`
// as a checkpoint of kind 5. Item must be trivially copyable (see the header comment on
// portability). O(C + N). Throws as save(sampler). The buffer is unchanged.
template <class Item>
void save(std::ostream& out, const prioritized_replay<Item, rank_based_sampler>& buffer) {
    detail::require_raw_item<Item>();
    detail::checkpoint_access::save_replay(
        out, buffer, sizeof(Item),
        [](detail::checkpoint_writer& writer, const std::vector<Item>& items) {
            detail::write_raw_items(writer, items);
        });
}

// As above, with items written by write_item(std::ostream&, const Item&), which must leave the
// stream good. Throws per::checkpoint_error (stream_error) if it does not, and whatever
// write_item throws.
template <class Item, class WriteItem>
void save(std::ostream& out, const prioritized_replay<Item, rank_based_sampler>& buffer,
          WriteItem write_item) {
    detail::checkpoint_access::save_replay(
        out, buffer, detail::serialized_items,
        [&write_item](detail::checkpoint_writer& writer, const std::vector<Item>& items) {
            detail::write_items(writer, items, write_item);
        });
}

// Replaces `buffer` with the rank-based buffer saved in `in` by save(out, buffer) with raw items
// of the same size. O(C + N log N). Throws as load(rank_based_sampler&), and
// per::checkpoint_error (type_mismatch) if the items were written with another size or by an
// item serializer. Unchanged on throw.
template <class Item>
void load(std::istream& in, prioritized_replay<Item, rank_based_sampler>& buffer) {
    detail::require_raw_item<Item>();
    detail::checkpoint_access::load_replay(
        in, buffer, sizeof(Item),
        [](const detail::checkpoint_image& image, std::vector<Item>& out) {
            detail::read_raw_items(image, out);
        });
}

// As above, for a checkpoint written with an item serializer (see load(in, buffer, read_item)
// for prioritized_replay: the same contract). Unchanged on throw.
template <class Item, class ReadItem>
void load(std::istream& in, prioritized_replay<Item, rank_based_sampler>& buffer,
          ReadItem read_item) {
    detail::checkpoint_access::load_replay(
        in, buffer, detail::serialized_items,
        [&read_item](const detail::checkpoint_image& image, std::vector<Item>& out) {
            detail::read_items(image, out, read_item);
        });
}

// --- naive_prioritized_replay -----------------------------------------------------------------

// save and load for the O(N) reference buffer, with the same format (kind 3) and guarantees as
// for prioritized_replay.
template <class Item>
void save(std::ostream& out, const naive_prioritized_replay<Item>& buffer) {
    detail::require_raw_item<Item>();
    detail::checkpoint_access::save_naive(
        out, buffer, sizeof(Item),
        [](detail::checkpoint_writer& writer, const std::vector<Item>& items) {
            detail::write_raw_items(writer, items);
        });
}

template <class Item, class WriteItem>
void save(std::ostream& out, const naive_prioritized_replay<Item>& buffer, WriteItem write_item) {
    detail::checkpoint_access::save_naive(
        out, buffer, detail::serialized_items,
        [&write_item](detail::checkpoint_writer& writer, const std::vector<Item>& items) {
            detail::write_items(writer, items, write_item);
        });
}

template <class Item>
void load(std::istream& in, naive_prioritized_replay<Item>& buffer) {
    detail::require_raw_item<Item>();
    detail::checkpoint_access::load_naive(
        in, buffer, sizeof(Item),
        [](const detail::checkpoint_image& image, std::vector<Item>& out) {
            detail::read_raw_items(image, out);
        });
}

template <class Item, class ReadItem>
void load(std::istream& in, naive_prioritized_replay<Item>& buffer, ReadItem read_item) {
    detail::checkpoint_access::load_naive(
        in, buffer, detail::serialized_items,
        [&read_item](const detail::checkpoint_image& image, std::vector<Item>& out) {
            detail::read_items(image, out, read_item);
        });
}

} // namespace per

#endif // PER_CHECKPOINT_HPP
