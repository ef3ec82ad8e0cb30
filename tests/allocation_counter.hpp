#ifndef PER_TESTS_ALLOCATION_COUNTER_HPP
#define PER_TESTS_ALLOCATION_COUNTER_HPP

// Replaces the global operator new and delete (every form: plain, array, aligned, nothrow,
// sized) with versions that count the bytes requested and still held, so that a test can
// measure what an object really allocates. Each block carries a small header that records its
// size; that header and malloc's own bookkeeping are not counted, only the bytes asked for.
//
// Include in exactly one translation unit of an executable: the replacements are ordinary
// (non-inline) definitions, as the standard requires of replacement allocation functions.

#include <atomic>
#include <cstddef>
#include <cstdlib>
#include <new>

namespace per_test::allocations {

inline std::atomic<std::size_t> live_bytes{0};  // requested and not yet freed
inline std::atomic<std::size_t> total_bytes{0}; // requested since the start
inline std::atomic<std::size_t> count{0};       // allocations since the start

// Bytes allocated and not freed now.
inline std::size_t live() noexcept {
    return live_bytes.load(std::memory_order_relaxed);
}

// The header before each block: its size, in the last 8 bytes of `header` bytes (16 for the
// default alignment, the alignment itself for an over-aligned block).
inline constexpr std::size_t default_header = 16; // keeps alignof(std::max_align_t) = 16

inline void* allocate(std::size_t size, std::size_t alignment) noexcept {
    const std::size_t header = alignment > default_header ? alignment : default_header;
    if (size > static_cast<std::size_t>(-1) - 2 * header) {
        return nullptr;
    }
    void* base = nullptr;
    if (alignment > default_header) {
        const std::size_t rounded = (size + header + alignment - 1) / alignment * alignment;
        base = std::aligned_alloc(alignment, rounded);
    } else {
        base = std::malloc(size + header);
    }
    if (base == nullptr) {
        return nullptr;
    }
    char* block = static_cast<char*>(base) + header;
    *reinterpret_cast<std::size_t*>(block - sizeof(std::size_t)) = size;
    live_bytes.fetch_add(size, std::memory_order_relaxed);
    total_bytes.fetch_add(size, std::memory_order_relaxed);
    count.fetch_add(1, std::memory_order_relaxed);
    return block;
}

inline void release(void* pointer, std::size_t alignment) noexcept {
    if (pointer == nullptr) {
        return;
    }
    const std::size_t header = alignment > default_header ? alignment : default_header;
    char* block = static_cast<char*>(pointer);
    live_bytes.fetch_sub(*reinterpret_cast<std::size_t*>(block - sizeof(std::size_t)),
                         std::memory_order_relaxed);
    std::free(block - header);
}

inline void* allocate_or_throw(std::size_t size, std::size_t alignment) {
    void* pointer = allocate(size == 0 ? 1 : size, alignment);
    if (pointer == nullptr) {
        throw std::bad_alloc();
    }
    return pointer;
}

} // namespace per_test::allocations

void* operator new(std::size_t size) {
    return per_test::allocations::allocate_or_throw(size, 0);
}
void* operator new[](std::size_t size) {
    return per_test::allocations::allocate_or_throw(size, 0);
}
void* operator new(std::size_t size, const std::nothrow_t&) noexcept {
    return per_test::allocations::allocate(size == 0 ? 1 : size, 0);
}
void* operator new[](std::size_t size, const std::nothrow_t&) noexcept {
    return per_test::allocations::allocate(size == 0 ? 1 : size, 0);
}
void* operator new(std::size_t size, std::align_val_t alignment) {
    return per_test::allocations::allocate_or_throw(size, static_cast<std::size_t>(alignment));
}
void* operator new[](std::size_t size, std::align_val_t alignment) {
    return per_test::allocations::allocate_or_throw(size, static_cast<std::size_t>(alignment));
}
void* operator new(std::size_t size, std::align_val_t alignment, const std::nothrow_t&) noexcept {
    return per_test::allocations::allocate(size == 0 ? 1 : size,
                                           static_cast<std::size_t>(alignment));
}
void* operator new[](std::size_t size, std::align_val_t alignment, const std::nothrow_t&) noexcept {
    return per_test::allocations::allocate(size == 0 ? 1 : size,
                                           static_cast<std::size_t>(alignment));
}

void operator delete(void* pointer) noexcept {
    per_test::allocations::release(pointer, 0);
}
void operator delete[](void* pointer) noexcept {
    per_test::allocations::release(pointer, 0);
}
void operator delete(void* pointer, std::size_t) noexcept {
    per_test::allocations::release(pointer, 0);
}
void operator delete[](void* pointer, std::size_t) noexcept {
    per_test::allocations::release(pointer, 0);
}
void operator delete(void* pointer, const std::nothrow_t&) noexcept {
    per_test::allocations::release(pointer, 0);
}
void operator delete[](void* pointer, const std::nothrow_t&) noexcept {
    per_test::allocations::release(pointer, 0);
}
void operator delete(void* pointer, std::align_val_t alignment) noexcept {
    per_test::allocations::release(pointer, static_cast<std::size_t>(alignment));
}
void operator delete[](void* pointer, std::align_val_t alignment) noexcept {
    per_test::allocations::release(pointer, static_cast<std::size_t>(alignment));
}
void operator delete(void* pointer, std::size_t, std::align_val_t alignment) noexcept {
    per_test::allocations::release(pointer, static_cast<std::size_t>(alignment));
}
void operator delete[](void* pointer, std::size_t, std::align_val_t alignment) noexcept {
    per_test::allocations::release(pointer, static_cast<std::size_t>(alignment));
}
void operator delete(void* pointer, std::align_val_t alignment, const std::nothrow_t&) noexcept {
    per_test::allocations::release(pointer, static_cast<std::size_t>(alignment));
}
void operator delete[](void* pointer, std::align_val_t alignment, const std::nothrow_t&) noexcept {
    per_test::allocations::release(pointer, static_cast<std::size_t>(alignment));
}

#endif // PER_TESTS_ALLOCATION_COUNTER_HPP
