/* Kernel table selection: LLV_ISA_AUTO honours the LLV_ISA environment
 * variable, else picks the best ISA the CPU and OS support; an ISA without a
 * table or without CPU/OS support falls back to the best usable one. */
#include "kernels.h"

#include <stdlib.h>
#include <string.h>

#if defined(__x86_64__)
#include <cpuid.h>
#define LLV_X86 1
#include "x86/x86-kernels.h"
#elif defined(__aarch64__)
#define LLV_ARM 1
#include "arm/arm-kernels.h"
#define LLV_HWCAP_ASIMDDP (1UL << 20) /* <asm/hwcap.h>'s HWCAP_ASIMDDP */
#define LLV_HWCAP2_I8MM (1UL << 13)   /* HWCAP2_I8MM */
#ifdef __linux__
#include <sys/auxv.h>
static unsigned long hwcap(int second) { return getauxval(second ? AT_HWCAP2 : AT_HWCAP); }
#else
static unsigned long hwcap(int second) { return (void)second, 0UL; } /* no HWCAP: the ARMv8.0 table only */
#endif
#endif

#ifdef LLV_X86
static uint64_t xgetbv0(void) {
    uint32_t lo, hi;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    return ((uint64_t)hi << 32) | lo;
}

typedef struct cpu_feat {
    int avx2, avx512;
} cpu_feat;

static cpu_feat cpu_features(void) {
    cpu_feat f = {0, 0};
    unsigned a, b, c, d;
    if (!__get_cpuid(1, &a, &b, &c, &d)) return f;
    int osxsave = (c >> 27) & 1, avx = (c >> 28) & 1, fma = (c >> 12) & 1, f16c = (c >> 29) & 1;
    if (!osxsave || !avx) return f;
    uint64_t xcr0 = xgetbv0();
    int os_ymm = (xcr0 & 0x6) == 0x6;              /* SSE + AVX state saved by the OS  */
    int os_zmm = (xcr0 & 0xe6) == 0xe6;            /* + opmask, ZMM_Hi256, Hi16_ZMM    */
    unsigned max_leaf = __get_cpuid_max(0, NULL);
    if (max_leaf < 7) return f;
    unsigned a7, b7, c7, d7;
    __cpuid_count(7, 0, a7, b7, c7, d7);
    int avx2 = (b7 >> 5) & 1;
    f.avx2 = os_ymm && avx2 && fma && f16c;
    int avx512f = (b7 >> 16) & 1, avx512dq = (b7 >> 17) & 1, avx512bw = (b7 >> 30) & 1,
        avx512vl = (b7 >> 31) & 1, vnni = (c7 >> 11) & 1;
    unsigned a71 = 0, b71, c71, d71;
    if (a7 >= 1) __cpuid_count(7, 1, a71, b71, c71, d71);
    int bf16 = (a71 >> 5) & 1;
    f.avx512 = f.avx2 && os_zmm && avx512f && avx512dq && avx512bw && avx512vl && vnni && bf16;
    return f;
}
#endif

int llv_kernels_isa_supported(llv_isa isa) {
    switch (isa) {
    case LLV_ISA_AUTO:
    case LLV_ISA_REF: return 1;
#ifdef LLV_X86
    case LLV_ISA_AVX2: return cpu_features().avx2;
    case LLV_ISA_AVX512: return cpu_features().avx512;
#endif
#ifdef LLV_ARM
    /* Advanced SIMD is mandatory in ARMv8-A Linux userspace; the rest the kernel reports in HWCAP */
    case LLV_ISA_NEON: return 1;
    case LLV_ISA_NEON_DOTPROD: return (hwcap(0) & LLV_HWCAP_ASIMDDP) != 0;
    case LLV_ISA_NEON_I8MM: return (hwcap(0) & LLV_HWCAP_ASIMDDP) != 0 && (hwcap(1) & LLV_HWCAP2_I8MM) != 0;
#endif
    default: return 0;
    }
}

/* The table compiled for an ISA, or NULL if none exists. */
static const llv_kernels *isa_table(llv_isa isa) {
    switch (isa) {
    case LLV_ISA_REF: return llv_kernels_ref();
#ifdef LLV_X86
    case LLV_ISA_AVX2: return llv_kernels_avx2();
    case LLV_ISA_AVX512: return llv_kernels_avx512();
#endif
#ifdef LLV_ARM
    case LLV_ISA_NEON: return llv_kernels_neon();
    case LLV_ISA_NEON_DOTPROD: return llv_kernels_neon_dotprod();
    case LLV_ISA_NEON_I8MM: return llv_kernels_neon_i8mm();
#endif
    default: return NULL;
    }
}

static const llv_kernels *best_supported(void) {
    static const llv_isa order[] = {LLV_ISA_AVX512, LLV_ISA_AVX2, LLV_ISA_NEON_I8MM, LLV_ISA_NEON_DOTPROD,
                                    LLV_ISA_NEON, LLV_ISA_REF};
    for (size_t i = 0; i < sizeof order / sizeof order[0]; i++) {
        const llv_kernels *t = isa_table(order[i]);
        if (t && llv_kernels_isa_supported(order[i])) return t;
    }
    return llv_kernels_ref();
}

const llv_kernels *llv_kernels_get(llv_isa isa) {
    if (isa == LLV_ISA_AUTO) {
        const char *env = getenv("LLV_ISA");
        static const struct { const char *name; llv_isa isa; } names[] = {
            {"ref", LLV_ISA_REF},   {"avx2", LLV_ISA_AVX2},
            {"avx512", LLV_ISA_AVX512}, {"neon", LLV_ISA_NEON},
            {"neon-dotprod", LLV_ISA_NEON_DOTPROD}, {"neon-i8mm", LLV_ISA_NEON_I8MM}};
        for (size_t i = 0; env && i < sizeof names / sizeof names[0]; i++)
            if (!strcmp(env, names[i].name)) isa = names[i].isa;
    }
    if (isa == LLV_ISA_AUTO) return best_supported();
    const llv_kernels *t = isa_table(isa);
    /* an explicit ISA the machine cannot run, or without a table, degrades to the best usable one */
    if (!t || !llv_kernels_isa_supported(isa)) return best_supported();
    return t;
}

/* Static description of the CPU and the kernels AUTO selects (public API). */
const char *llv_system_info(void) {
    /* no BLAS: every matrix product runs on llv's own kernels */
#ifdef LLV_ARM
    static const char *const info[3][4] = {
        {"cpu: aarch64 neon | kernels: ref", "cpu: aarch64 neon | kernels: neon",
         "cpu: aarch64 neon | kernels: neon-dotprod", "cpu: aarch64 neon | kernels: neon-i8mm"},
        {"cpu: aarch64 neon+dotprod | kernels: ref", "cpu: aarch64 neon+dotprod | kernels: neon",
         "cpu: aarch64 neon+dotprod | kernels: neon-dotprod", "cpu: aarch64 neon+dotprod | kernels: neon-i8mm"},
        {"cpu: aarch64 neon+dotprod+i8mm | kernels: ref", "cpu: aarch64 neon+dotprod+i8mm | kernels: neon",
         "cpu: aarch64 neon+dotprod+i8mm | kernels: neon-dotprod",
         "cpu: aarch64 neon+dotprod+i8mm | kernels: neon-i8mm"},
    };
    int cpu = llv_kernels_isa_supported(LLV_ISA_NEON_I8MM) ? 2 : llv_kernels_isa_supported(LLV_ISA_NEON_DOTPROD) ? 1 : 0;
    const char *name = llv_kernels_get(LLV_ISA_AUTO)->name;
    int k = !strcmp(name, "neon-i8mm") ? 3 : !strcmp(name, "neon-dotprod") ? 2 : !strcmp(name, "neon") ? 1 : 0;
    return info[cpu][k];
#else
    static const char *const info[3][3] = {
        {"cpu: baseline x86-64 | kernels: ref", "cpu: baseline x86-64 | kernels: avx2",
         "cpu: baseline x86-64 | kernels: avx512"},
        {"cpu: avx2+fma+f16c | kernels: ref", "cpu: avx2+fma+f16c | kernels: avx2", "cpu: avx2+fma+f16c | kernels: avx512"},
        {"cpu: avx512 (vnni, bf16) | kernels: ref", "cpu: avx512 (vnni, bf16) | kernels: avx2",
         "cpu: avx512 (vnni, bf16) | kernels: avx512"},
    };
    int cpu = llv_kernels_isa_supported(LLV_ISA_AVX512) ? 2 : llv_kernels_isa_supported(LLV_ISA_AVX2) ? 1 : 0;
    const char *name = llv_kernels_get(LLV_ISA_AUTO)->name;
    int k = !strcmp(name, "avx512") ? 2 : !strcmp(name, "avx2") ? 1 : 0;
    return info[cpu][k];
#endif
}
