#ifndef PER_DETAIL_ALIGNED_ALLOCATOR_HPP
#define PER_DETAIL_ALIGNED_ALLOCATOR_HPP

#include <cstddef>
#include <limits>
#include <new>

namespace per::detail {

/// The size of the cache line the trees lay their nodes out for. 64 bytes on every x86-64 and
/// on most ARM cores; a wrong guess costs speed, never correctness.
inline constexpr std::size_t cache_line_bytes = 64;

/// A std::allocator look-alike whose storage starts on an Alignment-byte boundary, so that a
/// tree node of cache_line_bytes never straddles two lines.
template <class T, std::size_t Alignment = cache_line_bytes>
class aligned_allocator {
    static_assert(Alignment >= alignof(T), "Alignment must not weaken the type's own alignment");
    static_assert((Alignment & (Alignment - 1)) == 0, "Alignment must be a power of two");

public:
    using value_type = T;

    template <class U>
    struct rebind {
        using other = aligned_allocator<U, Alignment>;
    };

    aligned_allocator() noexcept = default;
    template <class U>
    aligned_allocator(const aligned_allocator<U, Alignment>&) noexcept {}

    [[nodiscard]] T* allocate(std::size_t count) {
        if (count > std::numeric_limits<std::size_t>::max() / sizeof(T)) {
            throw std::bad_array_new_length();
        }
        return static_cast<T*>(::operator new(count * sizeof(T), std::align_val_t(Alignment)));
    }

    void deallocate(T* pointer, std::size_t) noexcept {
        ::operator delete(pointer, std::align_val_t(Alignment));
    }

    template <class U>
    friend bool operator==(const aligned_allocator&,
                           const aligned_allocator<U, Alignment>&) noexcept {
        return true;
    }
    template <class U>
    friend bool operator!=(const aligned_allocator&,
                           const aligned_allocator<U, Alignment>&) noexcept {
        return false;
    }
};

} // namespace per::detail

#endif // PER_DETAIL_ALIGNED_ALLOCATOR_HPP
