#ifndef PER_DETAIL_CPU_HPP
#define PER_DETAIL_CPU_HPP

/// @file
/// Which x86-64 instruction sets the hot loops may use, decided at compile time and at run time.
///
/// Every x86-64 has SSE2, so a portable build (no -m flags) runs SSE2 code everywhere. AVX2 code
/// is compiled as well, function by function (GCC and Clang's target attribute: the rest of the
/// translation unit stays portable), and chosen at run time when the CPU and the OS support it:
/// the sum tree's batched descent and the importance-sampling power take that path. A build that
/// enables AVX2 itself (-mavx2, -march=native on an AVX2 machine) uses AVX2 directly and asks
/// nothing at run time. The AVX2 paths perform the same comparisons and the same additions,
/// multiplications and divisions in the same order as the SSE2 paths (no fused multiply-add), so
/// both give the same results, bit for bit; tests/CMakeLists.txt builds the affected tests twice,
/// with and without the run-time choice, to hold them to that.
///
/// Define PER_NO_RUNTIME_DISPATCH before including any per header to stay on what the build
/// targets (for instance, to measure the baseline code on an AVX2 machine).

#if (defined(__GNUC__) || defined(__clang__)) && defined(__x86_64__)
#define PER_DETAIL_X86_KERNELS 1
/// For functions compiled for AVX2 inside a translation unit that may not target it.
#define PER_DETAIL_TARGET_AVX2 __attribute__((target("avx2")))
/// For the entry point of a loop compiled for AVX2: `flatten` inlines every call inside it,
/// so the loop's helpers (written once, without the attribute) are compiled for AVX2 too.
#define PER_DETAIL_AVX2_ENTRY __attribute__((target("avx2"), flatten))
#if !defined(__AVX2__) && !defined(PER_NO_RUNTIME_DISPATCH)
#define PER_DETAIL_RUNTIME_AVX2 1
#endif
#endif

namespace per::detail {

/// A spin-wait hint (x86 `pause`, AArch64 `yield`): tells the core that the loop around it waits
/// for another thread, which saves power and frees the pipeline for a sibling hyper-thread.
/// Does nothing on other targets.
inline void cpu_relax() noexcept {
#if (defined(__GNUC__) || defined(__clang__)) && (defined(__x86_64__) || defined(__i386__))
    __builtin_ia32_pause();
#elif (defined(__GNUC__) || defined(__clang__)) && defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
}

/// True if this CPU runs AVX2 code (the CPU has it and the OS saves its registers). Asked once
/// per process, then a load of a static flag. False where no AVX2 kernels are compiled.
inline bool cpu_has_avx2() noexcept {
#if defined(PER_DETAIL_X86_KERNELS)
    static const bool has_avx2 = [] {
        __builtin_cpu_init();
        return __builtin_cpu_supports("avx2") != 0;
    }();
    return has_avx2;
#else
    return false;
#endif
}

/// True if the run-time choice is compiled in and picks the AVX2 paths on this CPU.
inline bool runtime_avx2_selected() noexcept {
#if defined(PER_DETAIL_RUNTIME_AVX2)
    return cpu_has_avx2();
#else
    return false;
#endif
}

} // namespace per::detail

#endif // PER_DETAIL_CPU_HPP
