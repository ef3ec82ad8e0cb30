#ifndef PER_TESTS_CHECKPOINT_BYTES_HPP
#define PER_TESTS_CHECKPOINT_BYTES_HPP

// Byte-level access to version-1 checkpoints for tests, written from docs/checkpoint-format.md
// rather than from checkpoint.hpp: field offsets, little-endian patching, and re-sealing the
// FNV-1a 64 checksum after a patch (so that a test reaches the value checks behind it).
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>

namespace per_test::checkpoint_bytes {

// Offsets of the fixed header fields.
inline constexpr std::size_t magic = 0;
inline constexpr std::size_t version = 8;
inline constexpr std::size_t kind = 12;
inline constexpr std::size_t value_size = 16;
inline constexpr std::size_t fanout = 20;
inline constexpr std::size_t capacity = 24;
inline constexpr std::size_t size = 32;
inline constexpr std::size_t alpha = 40;
inline constexpr std::size_t epsilon = 48;
inline constexpr std::size_t initial_max_priority = 56;
inline constexpr std::size_t sampling = 64;
inline constexpr std::size_t normalization = 68;
inline constexpr std::size_t max_priority = 72;
inline constexpr std::size_t filled = 80; // capacity bytes

inline std::size_t generations(std::size_t capacity_value) {
    return filled + capacity_value;
}
inline std::size_t priorities(std::size_t capacity_value) {
    return generations(capacity_value) + 4 * capacity_value;
}
inline std::size_t next_slot(std::size_t capacity_value, std::size_t size_value) {
    return priorities(capacity_value) + 8 * size_value;
}
inline std::size_t item_size(std::size_t capacity_value, std::size_t size_value) {
    return next_slot(capacity_value, size_value) + 8;
}
inline std::size_t items(std::size_t capacity_value, std::size_t size_value) {
    return item_size(capacity_value, size_value) + 8;
}

// The rank-based kinds (4 and 5) insert the fill count and the fill stamps after the priorities;
// a rank-based buffer's ring position, item size and items follow them.
namespace rank_based {
inline std::size_t fills(std::size_t capacity_value, std::size_t size_value) {
    return priorities(capacity_value) + 8 * size_value;
}
inline std::size_t stamps(std::size_t capacity_value, std::size_t size_value) {
    return fills(capacity_value, size_value) + 8;
}
inline std::size_t next_slot(std::size_t capacity_value, std::size_t size_value) {
    return stamps(capacity_value, size_value) + 8 * size_value;
}
inline std::size_t item_size(std::size_t capacity_value, std::size_t size_value) {
    return next_slot(capacity_value, size_value) + 8;
}
inline std::size_t items(std::size_t capacity_value, std::size_t size_value) {
    return item_size(capacity_value, size_value) + 8;
}
} // namespace rank_based

inline std::uint64_t read_u64(const std::string& bytes, std::size_t at) {
    std::uint64_t value = 0;
    for (int i = 0; i < 8; ++i) {
        value |= static_cast<std::uint64_t>(static_cast<unsigned char>(bytes[at + i])) << (8 * i);
    }
    return value;
}
inline std::uint32_t read_u32(const std::string& bytes, std::size_t at) {
    std::uint32_t value = 0;
    for (int i = 0; i < 4; ++i) {
        value |= static_cast<std::uint32_t>(static_cast<unsigned char>(bytes[at + i])) << (8 * i);
    }
    return value;
}
inline double read_f64(const std::string& bytes, std::size_t at) {
    const std::uint64_t bits = read_u64(bytes, at);
    double value;
    std::memcpy(&value, &bits, sizeof value);
    return value;
}

inline void write_u64(std::string& bytes, std::size_t at, std::uint64_t value) {
    for (int i = 0; i < 8; ++i) {
        bytes[at + i] = static_cast<char>(static_cast<unsigned char>(value >> (8 * i)));
    }
}
inline void write_u32(std::string& bytes, std::size_t at, std::uint32_t value) {
    for (int i = 0; i < 4; ++i) {
        bytes[at + i] = static_cast<char>(static_cast<unsigned char>(value >> (8 * i)));
    }
}
inline void write_f64(std::string& bytes, std::size_t at, double value) {
    std::uint64_t bits;
    std::memcpy(&bits, &value, sizeof bits);
    write_u64(bytes, at, bits);
}

inline std::uint64_t fnv1a64(const std::string& bytes, std::size_t count) {
    std::uint64_t hash = 0xcbf29ce484222325ULL;
    for (std::size_t i = 0; i < count; ++i) {
        hash ^= static_cast<unsigned char>(bytes[i]);
        hash *= 0x100000001b3ULL;
    }
    return hash;
}

// Recomputes the trailing checksum of a whole checkpoint after its bytes were patched.
inline void reseal(std::string& bytes) {
    write_u64(bytes, bytes.size() - 8, fnv1a64(bytes, bytes.size() - 8));
}

// One field of a checkpoint overwritten, for the tests that feed a loader invalid values
// behind a valid checksum.
struct field_patch {
    const char* what;
    std::size_t at;
    int width; // 1, 4 or 8 bytes; 0 for a double
    std::uint64_t value;
    double real;
    const char* message = ""; // part of what() the loader must give (rank-based checks)
};

// `checkpoint` with the patch applied and the checksum recomputed.
inline std::string patched(const std::string& checkpoint, const field_patch& patch) {
    std::string bytes = checkpoint;
    if (patch.width == 0) {
        write_f64(bytes, patch.at, patch.real);
    } else if (patch.width == 1) {
        bytes[patch.at] = static_cast<char>(patch.value);
    } else if (patch.width == 4) {
        write_u32(bytes, patch.at, static_cast<std::uint32_t>(patch.value));
    } else {
        write_u64(bytes, patch.at, patch.value);
    }
    reseal(bytes);
    return bytes;
}

} // namespace per_test::checkpoint_bytes

#endif // PER_TESTS_CHECKPOINT_BYTES_HPP
