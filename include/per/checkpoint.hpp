#ifndef PER_CHECKPOINT_HPP
#define PER_CHECKPOINT_HPP

/// @file
/// Checkpoints: save a sampler or a replay buffer to a std::ostream and load it back (opt-in: not
/// in per.hpp).

#include "naive_rank_based.hpp"
#include "naive_replay.hpp"
#include "prioritized_replay.hpp"
#include "prioritized_sampler.hpp"
#include "rank_based.hpp"
#include "replay_options.hpp"
#include "sampler_state.hpp"

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <ios>
#include <istream>
#include <iterator>
#include <limits>
#include <ostream>
#include <sstream>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

/// Checkpoints: save a sampler or a replay buffer to a std::ostream and load it back, so that a
/// training run can stop and resume with the same priorities, handles and ring position. It
/// covers every sampler and buffer of the library: the proportional sampler and buffer
/// (basic_prioritized_sampler<SumTree>, prioritized_replay<Item,
/// basic_prioritized_sampler<SumTree>>), the rank-based ones (rank_based_sampler,
/// rank_based_replay<Item>) and the two naive references (naive_prioritized_replay<Item>,
/// naive_rank_based_replay<Item>). A loaded object is indistinguishable from the saved one: same
/// items, raw priorities, generations, options, running max priority, ring position and
/// (rank-based) order among equal priorities, and it draws the same batches from the same engine
/// state (bit for bit when the tree type is the same).
//
///     std::ofstream out("replay.ckpt", std::ios::binary);
///     per::save(out, buffer);                      // items trivially copyable
///     ...
///     std::ifstream in("replay.ckpt", std::ios::binary);
///     per::load(in, buffer);                       // throws per::checkpoint_error if bad
//
/// Items that are not trivially copyable (or that should be portable across platforms) need an
/// item serializer: save(out, buffer, write_item) with write_item(std::ostream&, const Item&),
/// and load(in, buffer, read_item) with read_item(std::istream&) returning an Item.
//
/// What is written is each object's plain state (sampler_state.hpp): save writes
/// export_state() of a sampler, or export_sampler_state(), next_slot() and item(0..size()-1) of
/// a buffer; load reads it back and hands it to import_state, which validates it and rebuilds
/// the object. This header adds the framing, the byte codec and the checksum.
//
/// The format (version 1, docs/checkpoint-format.md has the full table): every integer and double
/// is written byte by byte in little-endian order, whatever the host's endianness; doubles are
/// their IEEE-754 binary64 bit patterns.
//
///     magic          8 bytes  89 50 45 52 0D 0A 1A 0A ("\x89PER\r\n\x1a\n")
///     version        u32      1
///     kind           u32      1 sampler, 2 prioritized_replay, 3 naive_prioritized_replay,
///                             4 rank_based_sampler, 5 rank_based_replay,
///                             6 naive_rank_based_replay
///     value size     u32      sizeof of the sum tree's value type (8 for the naive buffers; for
///                             the rank-based kinds, the rank-weight tree's: 8)
///     fanout         u32      the sum tree's fanout (0 for the naive buffers, which have none)
///     capacity       u64
///     size           u64      filled slots
///     alpha, epsilon, initial_max_priority            f64 each
///     sampling       u32      0 stratified, 1 independent, 2 without_replacement
///     normalization  u32      0 global_max, 1 batch_max, 2 none
///     max priority   f64      the running max
///     filled         capacity x u8   1 if the slot holds an item, else 0
///     generations    capacity x u32
///     priorities     size x f64      raw priorities of the filled slots, in slot order
///   rank-based kinds only (4, 5 and 6):
///     fills          u64      fills so far: the clock that orders equal priorities
///     stamps         size x u64      the fill stamp of each filled slot, in slot order
///   replay kinds only (2, 3, 5 and 6):
///     next slot      u64      the ring position (where the next push goes)
///     item size      u64      sizeof(Item) for raw items, 0 for serialized items
///     items          size x (item size bytes), or size x (u64 length, length bytes)
///   always:
///     checksum       u64      FNV-1a 64 of every byte before it, from the magic on
//
/// Raw items are the bytes of the object representation (memcpy), so they carry the host's
/// endianness and padding: such checkpoints move only between builds with the same Item layout.
/// Use an item serializer for portable files.
//
/// Loading. load reads the whole checkpoint, verifies the checksum, checks the framing (the
/// fanout one a tree can have, option codes that name an option) and passes the state to the
/// target's import_state, which validates every value (the rules the object's own members
/// enforce: options, raw priorities finite, >= 0 and within the sampler's limit, max priority
/// >= initial_max_priority and >= every raw priority, filled count equal to size, ring
/// invariants; for rank-based kinds fills <= 2^63 - 1 (so that the fill clock cannot wrap in
/// the next 2^63 fills), distinct fill stamps in [1, fills], growing along the ring for a
/// buffer, and fills agreeing with the generations), rebuilds the trees from the raw
/// priorities in O(N) (O(N log N) for the rank order), and only then replaces the target with
/// the result (a noexcept move). The loaded checkpoint replaces everything, capacity and options
/// included: check capacity() afterwards if the target must keep its own (a sampler that indexes
/// external storage, say).
/// Errors: per::checkpoint_error (a std::runtime_error) with code() saying why, for truncated,
/// corrupted (checksum), wrong-magic, wrong-version, wrong-kind, wrong-type (value size or item
/// size) and invalid-value input (import_state's std::invalid_argument, rethrown with its
/// message), for a capacity above load_options::max_capacity() (limit_exceeded), and for a
/// stream that fails while saving; std::bad_alloc if memory runs out;
/// whatever a user serializer throws. A truncated checkpoint is checkpoint_error truncated also
/// on an input stream whose exceptions() are set: load catches the std::ios_base::failure of the
/// short read (it does not change the exception mask). The target object is unchanged whenever
/// load throws (strong guarantee); the stream's position and state are then unspecified.
/// Memory: load grows its staging vectors with the bytes actually read, so a corrupted size field
/// cannot make it allocate more than the stream holds. It then builds the object the checkpoint
/// describes, which it may allocate in full whatever the file's length: for capacity C, the
/// sampler's index (memory_bytes() of a sampler of capacity C: about 24 bytes per slot for the
/// proportional sampler, 77 for the rank-based one) and, for a buffer, storage for C items
/// reserved up front (C * sizeof(Item)), while the target still holds its own. A checkpoint
/// needs only 5 bytes per slot (a filled flag and a generation) for the empty slots, so by
/// default a file of F bytes can make load allocate about F / 5 * (index bytes per slot +
/// sizeof(Item)): 320 KB can ask for 4 GiB with 64 KB items. To bound it, pass
/// load_options{}.max_capacity(n): a larger capacity is refused (limit_exceeded) before
/// anything that depends on it is allocated. save exports the sampler state (about 13 bytes
/// per slot) but writes the items from the buffer, without copying them.
//
/// Complexity: O(N + total item bytes) for both save and load (the checksum runs at about 1 byte
/// per nanosecond); loading a rank-based kind adds O(N log N) to sort the ranks.
//
// Generations: a handle names (slot, 32-bit generation). A checkpoint keeps the generations, so
// handles taken before save are still valid (or still stale) after load.

namespace per {

/// Why a checkpoint could not be saved or loaded.
enum class checkpoint_errc {
    stream_error,        // the stream failed while saving
    truncated,           // the input ended before the checkpoint did
    bad_magic,           // not a per checkpoint
    unsupported_version, // a format version this library does not read
    wrong_kind,          // e.g. a replay buffer's checkpoint loaded into a sampler
    type_mismatch,       // value type size or item size/encoding differ from the target's
    checksum_mismatch,   // the bytes were changed after they were written
    invalid_value,       // a field is outside what the object allows
    limit_exceeded,      // the capacity is above load_options::max_capacity()
};

/// Bounds on what load may allocate, for checkpoints from sources that are not fully trusted.
/// Options read as one expression, like replay_options:
///
///     per::load(in, buffer, per::load_options{}.max_capacity(1'000'000));
///
/// Without options (or with the defaults) load accepts any capacity the target type supports,
/// and so may allocate what a checkpoint of that capacity needs (see the Memory paragraph of
/// this header): a small file can describe a large capacity.
class load_options {
public:
    ///@{
    /// The largest capacity load accepts. A checkpoint whose capacity field is larger is
    /// refused with checkpoint_error code limit_exceeded as soon as that field is read: before
    /// anything that depends on the capacity is allocated, and before the checksum is verified.
    /// Default: no limit (std::numeric_limits<std::size_t>::max()).
    std::size_t max_capacity() const noexcept { return m_max_capacity; }
    load_options& max_capacity(std::size_t value) noexcept {
        m_max_capacity = value;
        return *this;
    }
    ///@}

private:
    std::size_t m_max_capacity = std::numeric_limits<std::size_t>::max();
};

/// The exception save and load throw for a bad checkpoint or a failing stream; code() says why
/// and what() describes it (e.g. "per::load: checksum mismatch: ...").
class checkpoint_error : public std::runtime_error {
public:
    /// An error of kind `code` with the message what() returns.
    checkpoint_error(checkpoint_errc code, const std::string& message)
        : std::runtime_error(message)
        , m_code(code) {}

    /// Why the checkpoint could not be saved or loaded.
    checkpoint_errc code() const noexcept { return m_code; }

private:
    checkpoint_errc m_code;
};

/// The format version save writes and load reads.
inline constexpr std::uint32_t checkpoint_format_version = 1;

// The enumerators name the classes that write each kind; GCC's -Wshadow would warn that
// rank_based_sampler shadows the class of that name (a scoped enumerator cannot clash with it).
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wshadow"
#endif
/// The kind tag of a checkpoint: which object wrote it.
enum class checkpoint_kind : std::uint32_t {
    sampler = 1,                 // basic_prioritized_sampler<SumTree>
    replay = 2,                  // prioritized_replay<Item, basic_prioritized_sampler<SumTree>>
    naive_replay = 3,            // naive_prioritized_replay<Item>
    rank_based_sampler = 4,      // rank_based_sampler
    rank_based_replay = 5,       // prioritized_replay<Item, rank_based_sampler>
    naive_rank_based_replay = 6, // naive_rank_based_replay<Item>
};
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif

namespace detail {

static_assert(std::numeric_limits<double>::is_iec559, "checkpoints store IEEE-754 doubles");

inline constexpr unsigned char checkpoint_magic[8] = {0x89, 'P', 'E', 'R', '\r', '\n', 0x1a, '\n'};

// --- What a checkpoint records about each type --------------------------------------------

/// Which kinds continue with fill stamps, and which with a ring position and items.
constexpr bool kind_has_stamps(checkpoint_kind kind) noexcept {
    return kind == checkpoint_kind::rank_based_sampler ||
           kind == checkpoint_kind::rank_based_replay ||
           kind == checkpoint_kind::naive_rank_based_replay;
}
constexpr bool kind_has_ring(checkpoint_kind kind) noexcept {
    return kind == checkpoint_kind::replay || kind == checkpoint_kind::naive_replay ||
           kind == checkpoint_kind::rank_based_replay ||
           kind == checkpoint_kind::naive_rank_based_replay;
}

/// checkpoint_traits<T>: for every type save and load accept, its kind, the size of its tree's
/// values and its tree's fanout (0: no tree), and whether its checkpoints carry fill stamps and
/// a ring. Such a type exports and imports its plain state with the members
///   sampler:  sampler_state export_state() const,  import_state(const sampler_state&);
///   buffer:   sampler_state export_sampler_state() const, next_slot(), size(), item(slot),
///             import_state(replay_state<item_type>).
/// Types without a specialization have known == false, and save / load do not take them.
template <class T>
struct checkpoint_traits {
    static constexpr bool known = false;
};

template <checkpoint_kind Kind, std::size_t ValueSize, std::size_t Fanout>
struct checkpoint_traits_of_kind {
    static constexpr bool known = true;
    static constexpr checkpoint_kind kind = Kind;
    static constexpr std::uint32_t value_size = static_cast<std::uint32_t>(ValueSize);
    static constexpr std::uint32_t fanout = static_cast<std::uint32_t>(Fanout);
    static constexpr bool has_stamps = kind_has_stamps(Kind);
    static constexpr bool has_ring = kind_has_ring(Kind);
};

template <class SumTree>
struct checkpoint_traits<basic_prioritized_sampler<SumTree>>
    : checkpoint_traits_of_kind<checkpoint_kind::sampler, sizeof(typename SumTree::value_type),
                                SumTree::fanout> {
    static constexpr checkpoint_kind replay_kind = checkpoint_kind::replay;
};

template <>
struct checkpoint_traits<rank_based_sampler>
    : checkpoint_traits_of_kind<checkpoint_kind::rank_based_sampler,
                                sizeof(rank_based_sampler::weight_tree_type::value_type),
                                rank_based_sampler::weight_tree_type::fanout> {
    static constexpr checkpoint_kind replay_kind = checkpoint_kind::rank_based_replay;
};

/// A prioritized_replay's checkpoint is its sampler's with the ring after it.
template <class Sampler, bool Known = checkpoint_traits<Sampler>::known>
struct replay_checkpoint_traits : checkpoint_traits_of_kind<checkpoint_traits<Sampler>::replay_kind,
                                                            checkpoint_traits<Sampler>::value_size,
                                                            checkpoint_traits<Sampler>::fanout> {};

template <class Sampler>
struct replay_checkpoint_traits<Sampler, false> {
    static_assert(checkpoint_traits<Sampler>::known,
                  "per::save / per::load: prioritized_replay<Item, Sampler> has a checkpoint kind "
                  "only for Sampler = basic_prioritized_sampler<SumTree> or rank_based_sampler");
    static constexpr bool known = false;
};

template <class Item, class Sampler>
struct checkpoint_traits<prioritized_replay<Item, Sampler>> : replay_checkpoint_traits<Sampler> {};

template <class Item>
struct checkpoint_traits<naive_prioritized_replay<Item>>
    : checkpoint_traits_of_kind<checkpoint_kind::naive_replay, sizeof(double), 0> {};

template <class Item>
struct checkpoint_traits<naive_rank_based_replay<Item>>
    : checkpoint_traits_of_kind<checkpoint_kind::naive_rank_based_replay, sizeof(double), 0> {};

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
    case static_cast<std::uint32_t>(checkpoint_kind::naive_rank_based_replay):
        return "a naive_rank_based_replay";
    default:
        return "an unknown object";
    }
}

// --- The byte codec -----------------------------------------------------------------------

/// The one little-endian encoding of the format's values: T is unsigned char, std::uint32_t,
/// std::uint64_t, or double (the bits of its IEEE-754 binary64 pattern, as a std::uint64_t).
template <class T>
void encode_value(T value, unsigned char* out) noexcept {
    if constexpr (std::is_same_v<T, double>) {
        std::uint64_t bits;
        std::memcpy(&bits, &value, sizeof bits);
        encode_value(bits, out);
    } else {
        static_assert(std::is_unsigned_v<T>, "the format stores unsigned integers and doubles");
        for (std::size_t i = 0; i < sizeof(T); ++i) {
            out[i] = static_cast<unsigned char>(value >> (8 * i));
        }
    }
}
template <class T>
T decode_value(const unsigned char* in) noexcept {
    if constexpr (std::is_same_v<T, double>) {
        const std::uint64_t bits = decode_value<std::uint64_t>(in);
        double value;
        std::memcpy(&value, &bits, sizeof value);
        return value;
    } else {
        static_assert(std::is_unsigned_v<T>, "the format stores unsigned integers and doubles");
        T value = 0;
        for (std::size_t i = 0; i < sizeof(T); ++i) {
            value = static_cast<T>(value | static_cast<T>(static_cast<T>(in[i]) << (8 * i)));
        }
        return value;
    }
}

/// FNV-1a, 64 bits.
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
[[noreturn]] inline void invalid(const std::string& message) {
    checkpoint_fail(checkpoint_errc::invalid_value, "per::load", message);
}

/// Buffered little-endian writer that hashes what it writes.
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
    template <class T>
    void value(T value) {
        unsigned char encoded[sizeof(T)];
        encode_value(value, encoded);
        bytes(encoded, sizeof encoded);
    }
    template <class T>
    void values(const std::vector<T>& values) {
        for (const T& value : values) {
            this->value(value);
        }
    }

    /// Writes the checksum of everything so far and flushes; throws if the stream failed.
    void finish() {
        value(m_hash.value());
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

/// Little-endian reader that hashes what it reads and reports a short read as truncation. It
/// reads exactly the checkpoint's bytes: nothing after the checksum is consumed. The array
/// readers append in chunks, so that a huge count from a corrupted header fails as truncation
/// once the stream ends, having allocated about what the stream held.
class checkpoint_reader {
public:
    explicit checkpoint_reader(std::istream& in)
        : m_in(in) {}

    void bytes(void* data, std::size_t count, const char* field) {
        auto* out = static_cast<unsigned char*>(data);
        try {
            m_in.read(reinterpret_cast<char*>(out), static_cast<std::streamsize>(count));
        } catch (const std::ios_base::failure&) {
            // A stream whose exceptions() include the bits a short read sets throws here
            // instead of returning: the same short read, reported below as for any stream. The
            // exception mask is the caller's and stays as it is.
        }
        const std::size_t got = static_cast<std::size_t>(m_in.gcount());
        if (got < count) {
            checkpoint_fail(checkpoint_errc::truncated, "per::load",
                            std::string("truncated input: the stream ended in ") + field + " (" +
                                std::to_string(m_offset + got) + " bytes read)");
        }
        m_hash.update(out, count);
        m_offset += count;
    }
    template <class T>
    T value(const char* field) {
        unsigned char encoded[sizeof(T)];
        bytes(encoded, sizeof encoded, field);
        return decode_value<T>(encoded);
    }
    /// Appends `count` encoded values to `out`.
    template <class T>
    void values(std::vector<T>& out, std::uint64_t count, const char* field) {
        unsigned char chunk[1 << 12];
        constexpr std::size_t per_chunk = sizeof chunk / sizeof(T);
        while (count > 0) {
            const auto take = static_cast<std::size_t>(std::min<std::uint64_t>(count, per_chunk));
            bytes(chunk, take * sizeof(T), field);
            for (std::size_t i = 0; i < take; ++i) {
                out.push_back(decode_value<T>(chunk + i * sizeof(T)));
            }
            count -= take;
        }
    }
    /// Appends `count` objects whose bytes (object representations) the stream holds.
    template <class T>
    void objects(std::vector<T>& out, std::uint64_t count, const char* field) {
        static_assert(std::is_trivially_copyable_v<T>, "raw objects are trivially copyable");
        constexpr std::size_t per_chunk = sizeof(T) < (1 << 16) ? (1 << 16) / sizeof(T) : 1;
        while (count > 0) {
            const auto take = static_cast<std::size_t>(std::min<std::uint64_t>(count, per_chunk));
            const std::size_t old = out.size();
            out.resize(old + take);
            bytes(static_cast<void*>(out.data() + old), take * sizeof(T), field);
            count -= take;
        }
    }

    /// Reads the stored checksum and compares it with the hash of everything before it.
    void finish() {
        const std::uint64_t expected = m_hash.value();
        const auto stored = value<std::uint64_t>("the checksum");
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

// --- The sampler state, framed ------------------------------------------------------------

/// The option codes of the format.
inline constexpr sampling_mode sampling_codes[] = {
    sampling_mode::stratified, sampling_mode::independent, sampling_mode::without_replacement};
inline constexpr weight_normalization normalization_codes[] = {
    weight_normalization::global_max, weight_normalization::batch_max, weight_normalization::none};

template <class Enum, std::size_t Count>
std::uint32_t code_of(Enum value, const Enum (&codes)[Count]) noexcept {
    return static_cast<std::uint32_t>(std::find(codes, codes + Count, value) - codes);
}

/// The fixed fields from the magic to the max priority (80 bytes), then the filled flags,
/// generations, raw priorities and, for the kinds that have them, the fill count and stamps.
template <class Traits>
void write_state(checkpoint_writer& writer, const sampler_state& state) {
    writer.bytes(checkpoint_magic, 8);
    writer.value(checkpoint_format_version);
    writer.value(static_cast<std::uint32_t>(Traits::kind));
    writer.value(Traits::value_size);
    writer.value(Traits::fanout);
    writer.value(static_cast<std::uint64_t>(state.generations.size()));
    writer.value(static_cast<std::uint64_t>(state.priorities.size()));
    writer.value(state.options.alpha());
    writer.value(state.options.epsilon());
    writer.value(state.options.initial_max_priority());
    writer.value(code_of(state.options.sampling(), sampling_codes));
    writer.value(code_of(state.options.normalization(), normalization_codes));
    writer.value(state.max_priority);
    writer.values(state.filled);
    writer.values(state.generations);
    writer.values(state.priorities);
    if constexpr (Traits::has_stamps) {
        writer.value(state.fill_count);
        writer.values(state.fill_stamps);
    }
}

/// What read_state decodes beside the sampler_state, checked once the checksum is.
struct checkpoint_framing {
    std::uint32_t fanout = 0;
    std::uint32_t sampling = 0;
    std::uint32_t normalization = 0;
};

/// Reads what write_state wrote, checking the structure as it goes: the magic, the version, the
/// kind and value size against Traits, size <= capacity. The options are set from their codes
/// by check_framing, after the checksum.
template <class Traits>
checkpoint_framing read_state(checkpoint_reader& reader, sampler_state& state,
                              const load_options& options) {
    const char* where = "per::load";
    unsigned char magic[8];
    reader.bytes(magic, 8, "the magic number");
    if (std::memcmp(magic, checkpoint_magic, 8) != 0) {
        checkpoint_fail(checkpoint_errc::bad_magic, where,
                        "not a per checkpoint (the magic number is wrong)");
    }
    const auto version = reader.value<std::uint32_t>("the format version");
    if (version != checkpoint_format_version) {
        checkpoint_fail(checkpoint_errc::unsupported_version, where,
                        "format version " + std::to_string(version) +
                            " is not supported (this library reads version " +
                            std::to_string(checkpoint_format_version) + ")");
    }
    const auto kind = reader.value<std::uint32_t>("the kind");
    const auto expected_kind = static_cast<std::uint32_t>(Traits::kind);
    if (kind != expected_kind) {
        checkpoint_fail(checkpoint_errc::wrong_kind, where,
                        std::string("the checkpoint holds ") + kind_name(kind) + " (kind " +
                            std::to_string(kind) + "), not " + kind_name(expected_kind));
    }
    const auto value_size = reader.value<std::uint32_t>("the value size");
    if (value_size != Traits::value_size) {
        checkpoint_fail(checkpoint_errc::type_mismatch, where,
                        "the checkpoint's priority trees hold " + std::to_string(value_size) +
                            "-byte values, the target's hold " +
                            std::to_string(Traits::value_size) + "-byte values");
    }
    checkpoint_framing framing;
    framing.fanout = reader.value<std::uint32_t>("the fanout");
    const auto capacity = reader.value<std::uint64_t>("the capacity");
    if (capacity > options.max_capacity()) {
        checkpoint_fail(
            checkpoint_errc::limit_exceeded, where,
            "capacity = " + std::to_string(capacity) +
                " exceeds load_options max_capacity() = " + std::to_string(options.max_capacity()));
    }
    const auto size = reader.value<std::uint64_t>("the size");
    if (size > capacity) {
        invalid("size = " + std::to_string(size) +
                " must be <= capacity = " + std::to_string(capacity));
    }
    const auto alpha = reader.value<double>("the options");
    const auto epsilon = reader.value<double>("the options");
    const auto initial_max_priority = reader.value<double>("the options");
    state.options.alpha(alpha).epsilon(epsilon).initial_max_priority(initial_max_priority);
    framing.sampling = reader.value<std::uint32_t>("the options");
    framing.normalization = reader.value<std::uint32_t>("the options");
    state.max_priority = reader.value<double>("the max priority");
    reader.values(state.filled, capacity, "the filled flags");
    reader.values(state.generations, capacity, "the generations");
    reader.values(state.priorities, size, "the priorities");
    if constexpr (Traits::has_stamps) {
        state.fill_count = reader.value<std::uint64_t>("the fill count");
        reader.values(state.fill_stamps, size, "the fill stamps");
    }
    return framing;
}

/// The framing's values, once the checksum is verified: the option codes (into state.options)
/// and the fanout. The fanout is the saving tree's and is not compared with the target's: a
/// checkpoint loads into a sampler whose tree has another fanout, with the same distribution and
/// that tree's own rounding. It must still be one the saving object could have written: >= 2 (a
/// tree node has at least two children) for the kinds with a tree, 0 for the naive buffers.
template <class Traits>
void check_framing(const checkpoint_framing& framing, sampler_state& state) {
    if (Traits::fanout == 0 ? framing.fanout != 0 : framing.fanout < 2) {
        invalid("fanout = " + std::to_string(framing.fanout) +
                (Traits::fanout == 0
                     ? " must be 0: " +
                           std::string(kind_name(static_cast<std::uint32_t>(Traits::kind))) +
                           " has no tree"
                     : " must be >= 2, the fanout of a tree"));
    }
    if (framing.sampling >= std::size(sampling_codes)) {
        invalid("sampling = " + std::to_string(framing.sampling) + " is not a per::sampling_mode");
    }
    if (framing.normalization >= std::size(normalization_codes)) {
        invalid("normalization = " + std::to_string(framing.normalization) +
                " is not a per::weight_normalization");
    }
    state.options.sampling(sampling_codes[framing.sampling])
        .normalization(normalization_codes[framing.normalization]);
}

/// target.import_state(state), its std::invalid_argument / std::out_of_range as invalid_value.
template <class Object, class State>
void import_checkpoint(Object& target, State&& state) {
    try {
        target.import_state(std::forward<State>(state));
    } catch (const std::invalid_argument& error) {
        invalid(error.what());
    } catch (const std::out_of_range& error) {
        invalid(error.what());
    }
}

// --- Items ----------------------------------------------------------------------------------

template <class Item>
constexpr void require_raw_item() {
    static_assert(std::is_trivially_copyable_v<Item> && std::is_default_constructible_v<Item>,
                  "per::save / per::load without an item serializer need a trivially copyable, "
                  "default-constructible Item: pass write_item / read_item callables instead");
}

/// How items are encoded: raw bytes (item size = sizeof(Item)) or by a user serializer (0).
inline constexpr std::uint64_t serialized_items = 0;

/// The item codecs save and load use: item_size (the field's value), write(writer, buffer) the
/// buffer's items in slot order, read(reader, count) them from the stream into a staging area
/// and, after the checksum, decode() the items.
template <class Item>
struct raw_items {
    static constexpr std::uint64_t item_size = sizeof(Item);
    std::vector<Item> staged;

    template <class Buffer>
    void write(checkpoint_writer& writer, const Buffer& buffer) const {
        for (std::size_t slot = 0; slot < buffer.size(); ++slot) {
            writer.bytes(&buffer.item(slot), sizeof(Item)); // the object representation
        }
    }
    void read(checkpoint_reader& reader, std::uint64_t count) {
        reader.objects(staged, count, "the items");
    }
    std::vector<Item> decode() { return std::move(staged); }
};

template <class Item, class Serializer>
struct serialized_items_with {
    static constexpr std::uint64_t item_size = serialized_items;
    Serializer& serializer; // write_item or read_item
    std::vector<std::uint64_t> lengths;
    std::vector<unsigned char> bytes; // the records back to back

    template <class Buffer>
    void write(checkpoint_writer& writer, const Buffer& buffer) const {
        std::ostringstream record;
        for (std::size_t slot = 0; slot < buffer.size(); ++slot) {
            record.str(std::string());
            record.clear();
            serializer(static_cast<std::ostream&>(record), buffer.item(slot));
            if (!record) {
                checkpoint_fail(checkpoint_errc::stream_error, "per::save",
                                "write_item failed for the item in slot " + std::to_string(slot));
            }
            const std::string text = record.str();
            writer.value(static_cast<std::uint64_t>(text.size()));
            writer.bytes(text.data(), text.size());
        }
    }
    void read(checkpoint_reader& reader, std::uint64_t count) {
        for (std::uint64_t k = 0; k < count; ++k) {
            lengths.push_back(reader.value<std::uint64_t>("the items"));
            reader.objects(bytes, lengths.back(), "the items");
        }
    }
    std::vector<Item> decode() {
        std::vector<Item> items;
        items.reserve(lengths.size());
        std::istringstream record;
        std::size_t at = 0;
        for (std::size_t k = 0; k < lengths.size(); ++k) {
            const auto length = static_cast<std::size_t>(lengths[k]);
            record.str(std::string(reinterpret_cast<const char*>(bytes.data() + at), length));
            record.clear();
            at += length;
            Item item = serializer(static_cast<std::istream&>(record));
            if (record.fail() || record.peek() != std::char_traits<char>::eof()) {
                invalid("read_item did not read exactly the " + std::to_string(length) +
                        " bytes written for the item in slot " + std::to_string(k));
            }
            items.push_back(std::move(item));
        }
        return items;
    }
};

// --- The one save and the one load ----------------------------------------------------------

struct no_items {};

template <class Object, class Items>
void save_checkpoint(std::ostream& out, const Object& object, const Items& items) {
    using traits = checkpoint_traits<Object>;
    checkpoint_writer writer(out);
    if constexpr (traits::has_ring) {
        write_state<traits>(writer, object.export_sampler_state());
        writer.value(static_cast<std::uint64_t>(object.next_slot()));
        writer.value(items.item_size);
        items.write(writer, object);
    } else {
        write_state<traits>(writer, object.export_state());
    }
    writer.finish();
}

template <class Object, class Items>
void load_checkpoint(std::istream& in, Object& target, Items&& items, const load_options& options) {
    using traits = checkpoint_traits<Object>;
    checkpoint_reader reader(in);
    sampler_state state;
    const checkpoint_framing framing = read_state<traits>(reader, state, options);
    std::uint64_t next_slot = 0;
    if constexpr (traits::has_ring) {
        next_slot = reader.value<std::uint64_t>("the ring position");
        const auto item_size = reader.value<std::uint64_t>("the item size");
        if (item_size != items.item_size) {
            const auto describe = [](std::uint64_t size) {
                return size == serialized_items ? std::string("written by an item serializer")
                                                : std::to_string(size) + "-byte raw items";
            };
            checkpoint_fail(checkpoint_errc::type_mismatch, "per::load",
                            "the checkpoint holds " + describe(item_size) +
                                ", the target expects " + describe(items.item_size));
        }
        items.read(reader, state.priorities.size());
    }
    reader.finish();
    check_framing<traits>(framing, state);
    if constexpr (traits::has_ring) {
        if (static_cast<std::uint64_t>(static_cast<std::size_t>(next_slot)) != next_slot) {
            invalid("next slot = " + std::to_string(next_slot) + " does not fit a std::size_t");
        }
        using item_type = typename Object::item_type;
        import_checkpoint(target, replay_state<item_type>{std::move(state),
                                                          static_cast<std::size_t>(next_slot),
                                                          items.decode()});
    } else {
        import_checkpoint(target, state);
    }
}

template <class Object>
using if_checkpointable = std::enable_if_t<checkpoint_traits<Object>::known, int>;

} // namespace detail

/// Writes `object` as a version-1 checkpoint to `out`: a sampler (basic_prioritized_sampler,
/// rank_based_sampler: kinds 1 and 4) with its options, raw priorities, generations, running
/// max priority and (rank-based) fill stamps; or a replay buffer (prioritized_replay,
/// rank_based_replay, naive_prioritized_replay, naive_rank_based_replay: kinds 2, 5, 3 and 6)
/// with its sampler's state, the ring position and its items as raw bytes, which needs a
/// trivially copyable Item (see the header comment on portability). O(N + item bytes).
/// Throws per::checkpoint_error (code stream_error) if the stream fails, or what the stream
/// throws if its exceptions are enabled; std::bad_alloc. The object is unchanged.
template <class Object, detail::if_checkpointable<Object> = 0>
void save(std::ostream& out, const Object& object) {
    if constexpr (detail::checkpoint_traits<Object>::has_ring) {
        using item_type = typename Object::item_type;
        detail::require_raw_item<item_type>();
        detail::save_checkpoint(out, object, detail::raw_items<item_type>{});
    } else {
        detail::save_checkpoint(out, object, detail::no_items{});
    }
}

/// As above for a replay buffer, with items written by write_item(std::ostream&, const Item&),
/// which must leave the stream good. Throws per::checkpoint_error (stream_error) if it does not,
/// and whatever write_item throws.
template <class Buffer, class WriteItem, detail::if_checkpointable<Buffer> = 0>
void save(std::ostream& out, const Buffer& buffer, WriteItem write_item) {
    static_assert(detail::checkpoint_traits<Buffer>::has_ring,
                  "per::save(out, object, write_item): only replay buffers hold items; save a "
                  "sampler with per::save(out, sampler)");
    if constexpr (detail::checkpoint_traits<Buffer>::has_ring) {
        using item_type = typename Buffer::item_type;
        detail::save_checkpoint(
            out, buffer, detail::serialized_items_with<item_type, WriteItem>{write_item, {}, {}});
    }
}

/// Replaces `object` with the object saved in `in` by save(out, object) (capacity and options
/// included): the same ranks, ties, handles and batches. O(N + item bytes), plus O(N log N) for
/// the rank-based kinds. Throws per::checkpoint_error for a checkpoint that is truncated (also
/// on a stream whose exceptions() are set: its std::ios_base::failure is not propagated),
/// corrupted, of another kind (another type: a rank-based sampler's into a proportional one, a
/// buffer's into a sampler) or format version, saved from a sampler whose tree holds another
/// value type (float vs double), with items of another size or written by an item serializer
/// (type_mismatch), whose values the object would not accept (invalid_value: what its
/// import_state rejects), or whose capacity exceeds options.max_capacity() (limit_exceeded);
/// std::bad_alloc. Unchanged on throw.
template <class Object, detail::if_checkpointable<Object> = 0>
void load(std::istream& in, Object& object, const load_options& options) {
    if constexpr (detail::checkpoint_traits<Object>::has_ring) {
        using item_type = typename Object::item_type;
        detail::require_raw_item<item_type>();
        detail::load_checkpoint(in, object, detail::raw_items<item_type>{}, options);
    } else {
        detail::load_checkpoint(in, object, detail::no_items{}, options);
    }
}

/// As above with the default load_options: any capacity the object's type supports.
template <class Object, detail::if_checkpointable<Object> = 0>
void load(std::istream& in, Object& object) {
    load(in, object, load_options{});
}

/// As above for a replay buffer saved with an item serializer: read_item(std::istream&) returns
/// the Item whose bytes write_item wrote, and must read exactly those bytes (else
/// per::checkpoint_error, invalid_value). It runs after the checksum and the framing were
/// verified, before import_state validates the values (so it may run on items whose checkpoint
/// is then refused). Whatever read_item throws propagates; the buffer is unchanged then too.
template <class Buffer, class ReadItem, detail::if_checkpointable<Buffer> = 0>
void load(std::istream& in, Buffer& buffer, ReadItem read_item, const load_options& options) {
    static_assert(detail::checkpoint_traits<Buffer>::has_ring,
                  "per::load(in, object, read_item): only replay buffers hold items; load a "
                  "sampler with per::load(in, sampler)");
    if constexpr (detail::checkpoint_traits<Buffer>::has_ring) {
        using item_type = typename Buffer::item_type;
        detail::load_checkpoint(
            in, buffer, detail::serialized_items_with<item_type, ReadItem>{read_item, {}, {}},
            options);
    }
}

/// As above with the default load_options. (A load_options as the third argument selects the
/// load(in, object, options) overload, not this one.)
template <class Buffer, class ReadItem, detail::if_checkpointable<Buffer> = 0,
          std::enable_if_t<!std::is_same_v<std::decay_t<ReadItem>, load_options>, int> = 0>
void load(std::istream& in, Buffer& buffer, ReadItem read_item) {
    load(in, buffer, std::move(read_item), load_options{});
}

} // namespace per

#endif // PER_CHECKPOINT_HPP
