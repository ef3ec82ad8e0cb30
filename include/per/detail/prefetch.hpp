#ifndef PER_DETAIL_PREFETCH_HPP
#define PER_DETAIL_PREFETCH_HPP

namespace per::detail {

// Asks the CPU to start loading the cache line at `address` (a hint: no effect on results, and
// no fault for any address). Compilers without the builtin get a no-op.
inline void prefetch(const void* address) noexcept {
#if defined(__GNUC__) || defined(__clang__)
    __builtin_prefetch(address);
#else
    (void)address;
#endif
}

} // namespace per::detail

#endif // PER_DETAIL_PREFETCH_HPP
