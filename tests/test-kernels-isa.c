/* Every ISA kernel table this CPU can run against the reference table:
 * completeness, every matmul type at awkward sizes (with per-type
 * tolerances; to float rounding where the activations quantize exactly),
 * bitwise independence of M, row range and thread count, the
 * vector ops, every type's row conversions, and LLV_ISA forcing.
 * An ISA the CPU has (asked of the compiler's own CPUID code, not of
 * dispatch.c) whose table is not exercised by every section that ran is a
 * failure, not a skip: on an AVX-512 machine both x86 tables must be tested,
 * on aarch64 neon always, neon-dotprod and neon-i8mm where HWCAP has them.
 * LLV_TEST_REQUIRE_ISA=avx2,avx512 (neon,neon-dotprod,neon-i8mm) demands them even where
 * the CPU lacks them (a CI runner of the wrong kind then fails instead of passing). */
#include "testing.h"

#include "../kernels/kernels.h"
#include "common.h"
#include "ops.h"
#include "tensor.h"
#include "threadpool.h"

#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

static uint64_t rng = 0x2545f4914f6cdd1dull;
static float frand(void) { /* uniform in [-1, 1) */
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (float)((double)(rng >> 11) / 9007199254740992.0 * 2.0 - 1.0);
}
static void fill(float *x, int64_t n, float scale) {
    for (int64_t i = 0; i < n; i++) x[i] = frand() * scale;
}

#if defined(__aarch64__)
#ifdef __linux__
#include <sys/auxv.h>
#else
#define getauxval(what) 0UL /* no HWCAP off Linux: dispatch.c runs the ARMv8.0 table only */
#endif
static const llv_isa isas[] = {LLV_ISA_NEON, LLV_ISA_NEON_DOTPROD, LLV_ISA_NEON_I8MM};
static const char *const isa_names[] = {"neon", "neon-dotprod", "neon-i8mm"};
#define NISAS 3
#else
static const llv_isa isas[] = {LLV_ISA_AVX2, LLV_ISA_AVX512};
static const char *const isa_names[] = {"avx2", "avx512"};
#define NISAS 2
#endif

/* The table for an ISA if this machine runs it and a table exists, else NULL. */
static const llv_kernels *table_for(int i) {
    if (!llv_kernels_isa_supported(isas[i])) return NULL;
    const llv_kernels *t = llv_kernels_get(isas[i]);
    return t && strcmp(t->name, isa_names[i]) == 0 ? t : NULL;
}

/* Whether the CPU has ISA i, by the compiler's CPUID code (independent of
 * dispatch.c): the features the avx2 and avx512 kernel files are built for;
 * on aarch64 by this test's own read of the kernel's HWCAP bits (Advanced
 * SIMD is bit 1, dotprod bit 20, i8mm HWCAP2 bit 13, as in <asm/hwcap.h>). */
static bool cpu_has(int i) {
#if defined(__aarch64__)
    unsigned long hw = getauxval(AT_HWCAP), hw2 = getauxval(AT_HWCAP2);
    bool neon = (hw >> 1) & 1 || !hw, dotprod = neon && ((hw >> 20) & 1);
    if (isas[i] == LLV_ISA_NEON) return neon;
    if (isas[i] == LLV_ISA_NEON_DOTPROD) return dotprod;
    return dotprod && ((hw2 >> 13) & 1); /* i8mm: HWCAP2 bit 13 */
#else
    __builtin_cpu_init();
    bool avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    if (isas[i] == LLV_ISA_AVX2) return avx2;
    return avx2 && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
           __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq") &&
           __builtin_cpu_supports("avx512vnni") && __builtin_cpu_supports("avx512bf16");
#endif
}

/* ISA i must be tested: the CPU has it, or LLV_TEST_REQUIRE_ISA names it. */
static bool isa_required(int i) {
    const char *req = getenv("LLV_TEST_REQUIRE_ISA");
    if (req) {
        size_t n = strlen(isa_names[i]);
        for (const char *p = req; (p = strstr(p, isa_names[i])) != NULL; p += n)
            if ((p == req || p[-1] == ',') && (p[n] == 0 || p[n] == ',')) return true;
    }
    return cpu_has(i);
}

/* Sections (test cases) that exercised each ISA's table; checked at the end. */
enum { SEC_TABLES, SEC_CONVERSIONS, SEC_VEC, SEC_MATMUL, SEC_EXACT, NSEC };
static const char *const sec_names[NSEC] = {"tables", "conversions", "vec", "matmul", "matmul exact"};
static bool sec_ran[NSEC];
static int  exercised[NISAS][NSEC];

/* The tables a section tests: those available, each counted as exercised. */
static const llv_kernels *section_table(int sec, int i) {
    sec_ran[sec] = true;
    const llv_kernels *t = table_for(i);
    if (t) exercised[i][sec]++;
    return t;
}

/* Fails loudly for every required ISA that a section which ran left untested. */
static void test_coverage(void) {
    for (int i = 0; i < NISAS; i++) {
        bool req = isa_required(i), has = cpu_has(i);
        CHECK_MSG(!has || llv_kernels_isa_supported(isas[i]),
                  "the CPU has %s but dispatch.c's llv_kernels_isa_supported says no", isa_names[i]);
        for (int sec = 0; sec < NSEC; sec++) {
            if (!sec_ran[sec] || exercised[i][sec]) continue;
            if (req)
                CHECK_MSG(false, "*** %s table NOT TESTED by '%s' although %s ***", isa_names[i], sec_names[sec],
                          has ? "this CPU has it" : "LLV_TEST_REQUIRE_ISA names it");
            else
                printf("  *** %s NOT TESTED by '%s': this CPU lacks it (set LLV_TEST_REQUIRE_ISA to make it a "
                       "failure) ***\n", isa_names[i], sec_names[sec]);
        }
    }
}

static void test_tables(void) {
    const llv_kernels *ref = llv_kernels_ref();
    int found = 0;
    for (int i = 0; i < NISAS; i++) {
        const llv_kernels *t = section_table(SEC_TABLES, i);
        if (!t) {
            printf("  %s: no usable table on this machine\n", isa_names[i]);
            continue;
        }
        found++;
        int missing = 0;
        for (int ty = 0; ty < LLV_KTYPE_COUNT; ty++) {
            missing += ref->matmul[ty] && !t->matmul[ty];
            missing += ref->to_f32[ty] && !t->to_f32[ty];
            missing += ref->from_f32[ty] && !t->from_f32[ty];
        }
        CHECK_MSG(missing == 0, "%s: %d per-type entries NULL where ref has one", t->name, missing);
        /* every type has its own matmul here, not the reference one */
        for (int ty = 0; ty < LLV_KTYPE_COUNT; ty++)
            if (ref->matmul[ty])
                CHECK_MSG(t->matmul[ty] && t->matmul[ty] != ref->matmul[ty], "%s: own matmul for %s", t->name,
                          llv_type_name((llv_type)ty));
        CHECK_MSG(t->dot_f32 && t->axpy_f32 && t->attn_pv && t->rmsnorm && t->layernorm && t->softmax && t->silu_mul && t->gelu &&
                      t->rope_pairs,
                  "%s: vector entries", t->name);
    }
    /* AUTO picks the best table the CPU runs (the AVX-512 machines the project runs on: avx512) */
    unsetenv("LLV_ISA");
    const llv_kernels *a = llv_kernels_get(LLV_ISA_AUTO);
    for (int i = NISAS - 1; i >= 0; i--) /* isas[] runs from the least to the most capable */
        if (table_for(i)) {
            CHECK_MSG(strcmp(a->name, isa_names[i]) == 0, "AUTO = %s, not %s", a->name, isa_names[i]);
            break;
        }
    /* LLV_ISA forcing */
    setenv("LLV_ISA", "ref", 1);
    CHECK(llv_kernels_get(LLV_ISA_AUTO) == ref);
    if (table_for(0)) {
        setenv("LLV_ISA", isa_names[0], 1);
        CHECK(strcmp(llv_kernels_get(LLV_ISA_AUTO)->name, isa_names[0]) == 0);
    }
    /* an ISA of the other architecture (or one without a table) degrades to the best usable table */
#if defined(__aarch64__)
    setenv("LLV_ISA", "avx512", 1);
#else
    setenv("LLV_ISA", "neon-dotprod", 1);
#endif
    CHECK(llv_kernels_get(LLV_ISA_AUTO) == a);
    unsetenv("LLV_ISA");
    CHECK(llv_kernels_get(LLV_ISA_AUTO) == a);
    printf("  %d ISA tables tested; AUTO = %s\n", found, a->name);
}

/* Tolerance relative to sum |x w|: F32/F16 (and BF16 on AVX2) are exact
 * products in float32, only the summation order differs (1e-5); AVX-512 BF16
 * rounds the activations to bf16 for vdpbf16ps (<= 2^-8 per product); the
 * quantized types quantize the activations to int8 (~1/254 per block). */
static double matmul_tol(const llv_kernels *t, int ty) {
    if (ty == LLV_TYPE_F32 || ty == LLV_TYPE_F16) return 1e-5;
    if (ty == LLV_TYPE_BF16) return strcmp(t->name, "avx512") == 0 ? 5e-3 : 1e-5;
    return 1e-2;
}

/* Returns the worst error relative to sum |x w|. */
static double check_matmul(const llv_kernels *t, int ty, int64_t K, int64_t M, int64_t N, llv_threadpool *pool) {
    const llv_kernels *ref = llv_kernels_ref();
    size_t rb = 0;
    if (!llv_type_row_bytes(ty, K, &rb)) return 0;
    int64_t ldx = K + 3, ldy = N + 2;
    float *wf = malloc((size_t)(N * K) * 4), *x = malloc((size_t)(M * ldx) * 4);
    float *yr = calloc((size_t)(M * ldy), 4), *yi = calloc((size_t)(M * ldy), 4), *ys = calloc((size_t)(M * ldy), 4);
    float *y1 = malloc((size_t)N * 4);
    unsigned char *w = malloc(rb * (size_t)N);
    fill(wf, N * K, 1.0f);
    fill(x, M * ldx, 2.0f);
    for (int64_t n = 0; n < N; n++) ref->from_f32[ty](wf + n * K, w + (size_t)n * rb, K);
    for (int64_t n = 0; n < N; n++) ref->to_f32[ty](w + (size_t)n * rb, wf + n * K, K); /* the exact values */
    ref->matmul[ty](w, rb, x, ldx, M, K, yr, ldy, 0, N);
    t->matmul[ty](w, rb, x, ldx, M, K, yi, ldy, 0, N);
    /* error relative to sum |x w|: the scale of rounding (and of activation quantization) */
    double tol = matmul_tol(t, ty), worst = 0;
    int bad = 0;
    for (int64_t m = 0; m < M; m++)
        for (int64_t n = 0; n < N; n++) {
            double s = 0;
            for (int64_t k = 0; k < K; k++) s += fabs((double)x[m * ldx + k] * wf[n * K + k]);
            double e = fabs((double)yi[m * ldy + n] - yr[m * ldy + n]) / (s + 1e-30);
            if (e > worst) worst = e;
            bad += !(e <= tol);
        }
    CHECK_MSG(bad == 0, "%s matmul type %d K=%lld M=%lld N=%lld: %d outputs off, worst rel %.3g (tol %g)", t->name,
              ty, (long long)K, (long long)M, (long long)N, bad, worst, tol);
    /* split row ranges give the same bits */
    int64_t a = N / 3;
    t->matmul[ty](w, rb, x, ldx, M, K, ys, ldy, 0, a);
    t->matmul[ty](w, rb, x, ldx, M, K, ys, ldy, a, N);
    int diff = 0;
    for (int64_t m = 0; m < M; m++) diff += memcmp(ys + m * ldy, yi + m * ldy, (size_t)N * 4) != 0;
    /* each x row alone (decode) gives the same bits as the batch (prefill) */
    for (int64_t m = 0; m < M; m++) {
        t->matmul[ty](w, rb, x + m * ldx, ldx, 1, K, y1, N, 0, N);
        diff += memcmp(y1, yi + m * ldy, (size_t)N * 4) != 0;
    }
    CHECK_MSG(diff == 0, "%s matmul type %d K=%lld M=%lld N=%lld: %d rows differ across M / ranges", t->name, ty,
              (long long)K, (long long)M, (long long)N, diff);
    /* no x rows: nothing is written (and nothing is read past the arguments) */
    for (int64_t n = 0; n < N; n++) y1[n] = -7.0f;
    t->matmul[ty](w, rb, x, ldx, 0, K, y1, N, 0, N);
    int touched = 0;
    for (int64_t n = 0; n < N; n++) touched += y1[n] != -7.0f;
    CHECK_MSG(touched == 0, "%s matmul type %d K=%lld N=%lld: M = 0 wrote %d outputs", t->name, ty, (long long)K,
              (long long)N, touched);
    /* llv_op_linear: 1 thread vs the pool, bitwise */
    if (pool && ldx == K + 3) {
        float *xc = malloc((size_t)(M * K) * 4), *l1 = malloc((size_t)(M * N) * 4), *l2 = malloc((size_t)(M * N) * 4);
        for (int64_t m = 0; m < M; m++) memcpy(xc + m * K, x + m * ldx, (size_t)K * 4);
        llv_tensor W = {.name = "w", .type = (llv_type)ty, .n_dims = 2, .ne = {K, N, 1, 1}, .data = w,
                        .nbytes = rb * (size_t)N};
        llv_op_linear(t, NULL, &W, NULL, xc, M, l1);
        llv_op_linear(t, pool, &W, NULL, xc, M, l2);
        CHECK_MSG(memcmp(l1, l2, (size_t)(M * N) * 4) == 0, "%s linear type %d K=%lld M=%lld N=%lld: threads differ",
                  t->name, ty, (long long)K, (long long)M, (long long)N);
        free(xc);
        free(l1);
        free(l2);
    }
    free(wf);
    free(x);
    free(yr);
    free(yi);
    free(ys);
    free(y1);
    free(w);
    return worst;
}

static void test_matmul(void) {
    const llv_kernels *ref = llv_kernels_ref();
    llv_error err;
    llv_threadpool *pool = NULL;
    CHECK_OK(llv_threadpool_create(2, &pool, &err), &err);
    static const int64_t fk[] = {1, 7, 31, 33, 257, 4097};
    static const int64_t odd[] = {1, 3, 9, 17};
    static const int64_t Ms[] = {1, 2, 5, 17}, Ns[] = {1, 3, 33}; /* more M below */
    for (int i = 0; i < NISAS; i++) {
        const llv_kernels *t = section_table(SEC_MATMUL, i);
        if (!t) continue;
        int types = 0, want = 0;
        for (int ty = 0; ty < LLV_KTYPE_COUNT; ty++) {
            want += ref->matmul[ty] != NULL;
            if (!ref->matmul[ty] || !t->matmul[ty] || !ref->from_f32[ty] || !ref->to_f32[ty]) continue;
            types++;
            int64_t bs = llv_type_block_size(ty);
            int nk = bs == 1 ? 6 : 4;
            double worst = 0;
            for (int ki = 0; ki < nk; ki++) {
                int64_t K = bs == 1 ? fk[ki] : bs * odd[ki];
                for (int mi = 0; mi < 4; mi++)
                    for (int ni = 0; ni < 3; ni++) {
                        if (K * Ms[mi] * Ns[ni] > 4097 * 17 * 3 && !(ni == 2 && mi == 1)) continue; /* keep it short */
                        worst = fmax(worst, check_matmul(t, ty, K, Ms[mi], Ns[ni], pool));
                    }
            }
            /* bigger shapes across the tile and cache-block edges */
            worst = fmax(worst, check_matmul(t, ty, bs == 1 ? 1040 : bs * 5, 13, 67, pool));
            /* few weight rows, many x rows: llv_op_linear splits over x rows */
            worst = fmax(worst, check_matmul(t, ty, bs == 1 ? 100 : bs * 3, 101, 5, pool));
            /* batches around the register tile heights (1..8 x rows) and, at K = 4096, past the rows
             * the quantized kernels' activation buffer holds at once (each row also checked alone) */
            static const int64_t bm[] = {3, 4, 37, 64};
            for (int b = 0; b < 4; b++) worst = fmax(worst, check_matmul(t, ty, bs == 1 ? 72 : bs * 2, bm[b], 19, pool));
            if (bs > 1) worst = fmax(worst, check_matmul(t, ty, 4096, 64, 37, NULL));
            printf("  %s matmul type %d: worst error %.3g of sum |x w| (tolerance %g)\n", t->name, ty, worst,
                   matmul_tol(t, ty));
        }
        printf("  %s: matmul checked for %d types\n", t->name, types);
        CHECK_MSG(types == want, "%s: matmul checked for %d of the %d types ref has", t->name, types, want);
    }
    llv_threadpool_free(pool);
}

/* Activations on the int8 grid (integers, 127 in every 32 values) quantize
 * exactly, so the quantized kernels must then agree with the reference to
 * float rounding: a wrong scale, min or bit of any one sub-block shows. */
static void test_matmul_exact(void) {
    const llv_kernels *ref = llv_kernels_ref();
    const int64_t K = 768, M = 3, N = 5;
    float *wf = malloc((size_t)(N * K) * 4), *x = malloc((size_t)(M * K) * 4);
    float *yr = malloc((size_t)(M * N) * 4), *yi = malloc((size_t)(M * N) * 4);
    unsigned char *w = malloc((size_t)(N * K) * 2);
    for (int64_t i = 0; i < M * K; i++) x[i] = i % 32 == 0 ? 127.0f : (float)(int)(frand() * 127.0f);
    for (int i = 0; i < NISAS; i++) {
        const llv_kernels *t = section_table(SEC_EXACT, i);
        if (!t) continue;
        int tested = 0, want = 0;
        for (int ty = 0; ty < LLV_KTYPE_COUNT; ty++) {
            size_t rb;
            want += llv_type_block_size(ty) > 1 && ref->matmul[ty];
            if (llv_type_block_size(ty) <= 1 || !ref->matmul[ty] || !t->matmul[ty] || !llv_type_row_bytes(ty, K, &rb)) continue;
            tested++;
            fill(wf, N * K, 1.0f);
            for (int64_t n = 0; n < N; n++) ref->from_f32[ty](wf + n * K, w + (size_t)n * rb, K);
            for (int64_t n = 0; n < N; n++) ref->to_f32[ty](w + (size_t)n * rb, wf + n * K, K);
            ref->matmul[ty](w, rb, x, K, M, K, yr, N, 0, N);
            t->matmul[ty](w, rb, x, K, M, K, yi, N, 0, N);
            double worst = 0;
            for (int64_t m = 0; m < M; m++)
                for (int64_t n = 0; n < N; n++) {
                    double s = 0;
                    for (int64_t k = 0; k < K; k++) s += fabs((double)x[m * K + k] * wf[n * K + k]);
                    worst = fmax(worst, fabs((double)yi[m * N + n] - yr[m * N + n]) / (s + 1e-30));
                }
            CHECK_MSG(worst <= 1e-5, "%s matmul type %d, exact activations: worst rel %.3g", t->name, ty, worst);
        }
        CHECK_MSG(tested == want && tested > 0, "%s: exact activations checked for %d of %d quantized types", t->name,
                  tested, want);
    }
#if defined(__aarch64__)
    /* the NEON tables sum the same exact int32 per block: equal bits on any activations */
    const llv_kernels *t0 = table_for(0);
    for (int i = 1; i < NISAS && t0; i++) {
        const llv_kernels *t1 = table_for(i);
        if (!t1) continue;
        int types = 0;
        fill(x, M * K, 3.0f);
        for (int ty = 0; ty < LLV_KTYPE_COUNT; ty++) {
            size_t rb;
            if (llv_type_block_size(ty) <= 1 || !ref->matmul[ty] || !llv_type_row_bytes(ty, K, &rb)) continue;
            fill(wf, N * K, 1.0f);
            for (int64_t n = 0; n < N; n++) ref->from_f32[ty](wf + n * K, w + (size_t)n * rb, K);
            t0->matmul[ty](w, rb, x, K, M, K, yr, N, 0, N);
            t1->matmul[ty](w, rb, x, K, M, K, yi, N, 0, N);
            types++;
            CHECK_MSG(memcmp(yr, yi, (size_t)(M * N) * 4) == 0, "%s and %s matmul type %d differ", t0->name, t1->name, ty);
        }
        printf("  %s and %s: quantized matmuls bitwise equal for %d types\n", t0->name, t1->name, types);
    }
#endif
    free(wf);
    free(x);
    free(yr);
    free(yi);
    free(w);
}

/* Bitwise equality of two float arrays (any NaN matches any NaN). */
static int64_t f32_diffs(const float *a, const float *b, int64_t n) {
    int64_t bad = 0;
    for (int64_t k = 0; k < n; k++) bad += isnan(a[k]) ? !isnan(b[k]) : memcmp(&a[k], &b[k], 4) != 0;
    return bad;
}

/* to_f32 of one type: the ISA's kernel against ref, bitwise. F16/BF16: every
 * 16-bit pattern at tail-exercising lengths; other types: rows of blocks that
 * ref quantized from random floats, and rows of random bytes (every scale and
 * quant bit pattern, NaN/Inf scales included). */
static int64_t compare_to_f32(const llv_kernels *t, int ty) {
    const llv_kernels *ref = llv_kernels_ref();
    int64_t bs = llv_type_block_size(ty), bad = 0;
    if (ty == LLV_TYPE_F16 || ty == LLV_TYPE_BF16) {
        uint16_t *h = malloc(65536 * 2);
        float *a = malloc(65536 * 4), *b = malloc(65536 * 4);
        for (uint32_t i = 0; i < 65536; i++) h[i] = (uint16_t)i;
        for (int64_t n = 1; n <= 65536; n = n * 3 + 1) { /* odd lengths exercise the tails */
            int64_t off = 65536 - n;
            memset(a, 0, 65536 * 4);
            memset(b, 0, 65536 * 4);
            ref->to_f32[ty](h + off, a, n);
            t->to_f32[ty](h + off, b, n);
            bad += f32_diffs(a, b, 65536);
        }
        ref->to_f32[ty](h, a, 65536);
        t->to_f32[ty](h, b, 65536);
        bad += f32_diffs(a, b, 65536);
        free(h), free(a), free(b);
        return bad;
    }
    static const int64_t nblocks[] = {1, 2, 3, 7, 16, 33};
    for (size_t j = 0; j < sizeof nblocks / sizeof nblocks[0]; j++) {
        int64_t n = bs * nblocks[j];
        size_t rb = 0;
        if (!llv_type_row_bytes(ty, n, &rb)) return -1;
        float *src = malloc((size_t)n * 4), *a = malloc((size_t)n * 4), *b = malloc((size_t)n * 4);
        unsigned char *q = malloc(rb);
        fill(src, n, 4.0f);
        ref->from_f32[ty](src, q, n);
        ref->to_f32[ty](q, a, n);
        t->to_f32[ty](q, b, n);
        bad += f32_diffs(a, b, n);
        for (size_t k = 0; k < rb; k++) q[k] = (unsigned char)(frand() * 128.0f + 128.0f);
        ref->to_f32[ty](q, a, n);
        t->to_f32[ty](q, b, n);
        bad += f32_diffs(a, b, n);
        free(src), free(a), free(b), free(q);
    }
    return bad;
}

/* from_f32 of one type: the ISA's bytes against ref's, over random values of
 * several magnitudes, an all-zero row, equal values and signed extremes. */
static int64_t compare_from_f32(const llv_kernels *t, int ty) {
    const llv_kernels *ref = llv_kernels_ref();
    int64_t bs = llv_type_block_size(ty), bad = 0;
    static const int64_t nblocks[] = {1, 3, 16, 129};
    static const float scales[] = {1e-3f, 1.0f, 300.0f, 60000.0f};
    for (size_t j = 0; j < sizeof nblocks / sizeof nblocks[0]; j++) {
        int64_t n = bs * nblocks[j];
        size_t rb = 0;
        if (!llv_type_row_bytes(ty, n, &rb)) return -1;
        float *src = malloc((size_t)n * 4);
        unsigned char *qa = malloc(rb), *qb = malloc(rb);
        for (int v = 0; v < 7; v++) {
            if (v < 4) fill(src, n, scales[v]);
            else
                for (int64_t k = 0; k < n; k++)
                    src[k] = v == 4 ? 0.0f : v == 5 ? 0.75f : (k % 3 == 0 ? -8.0f : k % 3 == 1 ? 7.0f : 0.5f);
            memset(qa, 0, rb);
            memset(qb, 0, rb);
            ref->from_f32[ty](src, qa, n);
            t->from_f32[ty](src, qb, n);
            bad += memcmp(qa, qb, rb) != 0;
        }
        free(src), free(qa), free(qb);
    }
    return bad;
}

/* Every type's row conversions. An entry that is ref's own function is
 * reported as shared (comparing it with itself would prove nothing); every
 * ISA-specific one is compared with ref bitwise. */
static void test_conversions(void) {
    const llv_kernels *ref = llv_kernels_ref();
    for (int i = 0; i < NISAS; i++) {
        const llv_kernels *t = section_table(SEC_CONVERSIONS, i);
        if (!t) continue;
        char own[512] = "", shared[512] = "";
        int n_own = 0, n_shared = 0;
        for (int ty = 0; ty < LLV_KTYPE_COUNT; ty++)
            for (int dir = 0; dir < 2; dir++) {
                bool has_ref = dir == 0 ? ref->to_f32[ty] != NULL : ref->from_f32[ty] != NULL;
                if (!has_ref) continue;
                const char *what = dir == 0 ? "to_f32" : "from_f32";
                bool same = dir == 0 ? t->to_f32[ty] == ref->to_f32[ty] : t->from_f32[ty] == ref->from_f32[ty];
                bool null = dir == 0 ? !t->to_f32[ty] : !t->from_f32[ty];
                char *list = same ? shared : own;
                size_t at = strlen(list);
                snprintf(list + at, 512 - at, "%s%s %s", at ? ", " : "", what, llv_type_name((llv_type)ty));
                CHECK_MSG(!null, "%s %s %s: NULL where ref has one", t->name, what, llv_type_name((llv_type)ty));
                if (same || null) {
                    n_shared += same;
                    continue;
                }
                n_own++;
                int64_t bad = dir == 0 ? compare_to_f32(t, ty) : compare_from_f32(t, ty);
                CHECK_MSG(bad == 0, "%s %s %s: %lld outputs differ from ref", t->name, what,
                          llv_type_name((llv_type)ty), (long long)bad);
            }
        printf("  %s conversions compared with ref (own code): %s\n", t->name, n_own ? own : "none");
        printf("  %s conversions that ARE ref's functions (shared pointer, nothing ISA-specific to compare): %s\n",
               t->name, n_shared ? shared : "none");
        CHECK_MSG(n_own > 0, "%s: no conversion of its own was compared", t->name);
    }
}

/* |got - ref| <= atol + rtol * |ref| element-wise */
static void close_vec(const char *what, const float *got, const float *ref, int64_t n, double atol, double rtol) {
    llv_check_close_f32(what, got, ref, n, atol, rtol);
}

static void test_vec(void) {
    const llv_kernels *ref = llv_kernels_ref();
    static const int64_t sizes[] = {1, 7, 31, 33, 257, 4097};
    for (int i = 0; i < NISAS; i++) {
        const llv_kernels *t = section_table(SEC_VEC, i);
        if (!t) continue;
        for (int si = 0; si < 6; si++) {
            int64_t n = sizes[si];
            float *a = malloc(n * 4), *b = malloc(n * 4), *w = malloc(n * 4), *bb = malloc(n * 4);
            float *y1 = malloc(n * 4), *y2 = malloc(n * 4);
            fill(a, n, 3.0f);
            fill(b, n, 1.0f);
            fill(w, n, 2.0f);
            fill(bb, n, 1.0f);
            a[0] += 5.0f; /* a non-zero mean for layernorm */
            char what[96];
#define WHAT(op) snprintf(what, sizeof what, "%s %s n=%lld", t->name, op, (long long)n)
            /* dot: relative to sum |a b| */
            double s = 0;
            for (int64_t k = 0; k < n; k++) s += fabs((double)a[k] * b[k]);
            float d1 = ref->dot_f32(a, b, n), d2 = t->dot_f32(a, b, n);
            CHECK_MSG(fabs((double)d1 - d2) <= 1e-6 * s, "%s dot n=%lld: %g vs %g", t->name, (long long)n, d2, d1);
            /* axpy */
            memcpy(y1, b, n * 4);
            memcpy(y2, b, n * 4);
            ref->axpy_f32(0.7f, a, y1, n);
            t->axpy_f32(0.7f, a, y2, n);
            WHAT("axpy");
            close_vec(what, y2, y1, n, 1e-6, 1e-6);
            /* attn_pv: h heads over r value rows of n floats, scores with a row stride past r */
            for (int32_t h = 1; h <= 5; h += 2) {
                const int64_t r = 1 + n % 37, ldp = r + 3;
                float *pp = malloc((size_t)(h * ldp) * 4), *vv = malloc((size_t)(r * n) * 4);
                float *o1 = malloc((size_t)(h * n) * 4), *o2 = malloc((size_t)(h * n) * 4);
                fill(pp, h * ldp, 0.5f);
                fill(vv, r * n, 2.0f);
                fill(o1, h * n, 1.0f);
                memcpy(o2, o1, (size_t)(h * n) * 4);
                ref->attn_pv(pp, ldp, h, vv, r, n, o1);
                t->attn_pv(pp, ldp, h, vv, r, n, o2);
                snprintf(what, sizeof what, "%s attn_pv h=%d rows=%lld hd=%lld", t->name, h, (long long)r, (long long)n);
                close_vec(what, o2, o1, h * n, 1e-5, 1e-5);
                free(pp), free(vv), free(o1), free(o2);
            }
            /* rmsnorm with weight, and without weight in place */
            ref->rmsnorm(a, w, y1, n, 1e-5f);
            t->rmsnorm(a, w, y2, n, 1e-5f);
            WHAT("rmsnorm");
            close_vec(what, y2, y1, n, 1e-6, 1e-6);
            memcpy(y1, a, n * 4);
            memcpy(y2, a, n * 4);
            ref->rmsnorm(y1, NULL, y1, n, 1e-6f);
            t->rmsnorm(y2, NULL, y2, n, 1e-6f);
            WHAT("rmsnorm inplace");
            close_vec(what, y2, y1, n, 1e-6, 1e-6);
            /* layernorm: with w and b, and without */
            ref->layernorm(a, w, bb, y1, n, 1e-6f);
            t->layernorm(a, w, bb, y2, n, 1e-6f);
            WHAT("layernorm");
            close_vec(what, y2, y1, n, 1e-6, 1e-6);
            ref->layernorm(a, NULL, NULL, y1, n, 1e-5f);
            t->layernorm(a, NULL, NULL, y2, n, 1e-5f);
            WHAT("layernorm no affine");
            close_vec(what, y2, y1, n, 1e-6, 1e-6);
            /* softmax: wide range, masked (-FLT_MAX added) and -inf entries */
            for (int64_t k = 0; k < n; k++) y1[k] = a[k] * 10.0f;
            if (n > 3) {
                y1[1] += -FLT_MAX;
                y1[n - 1] = -INFINITY;
            }
            memcpy(y2, y1, n * 4);
            ref->softmax(y1, n);
            t->softmax(y2, n);
            WHAT("softmax");
            close_vec(what, y2, y1, n, 1e-7, 1e-6);
            /* all masked: uniform */
            for (int64_t k = 0; k < n; k++) y1[k] = y2[k] = a[k] - FLT_MAX;
            ref->softmax(y1, n);
            t->softmax(y2, n);
            WHAT("softmax masked");
            close_vec(what, y2, y1, n, 1e-7, 1e-6);
            /* silu_mul over [-30, 30] */
            for (int64_t k = 0; k < n; k++) y1[k] = y2[k] = a[k] * 10.0f;
            if (n > 2) y1[2] = y2[2] = -95.0f;
            ref->silu_mul(y1, b, n);
            t->silu_mul(y2, b, n);
            WHAT("silu_mul");
            close_vec(what, y2, y1, n, 1e-6, 1e-6);
            /* gelu over [-9, 9]: |error| <= 1e-6 max(1, |x|) */
            for (int64_t k = 0; k < n; k++) y1[k] = y2[k] = a[k] * 3.0f;
            ref->gelu(y1, n);
            t->gelu(y2, n);
            int gbad = 0;
            double gworst = 0;
            for (int64_t k = 0; k < n; k++) {
                double e = fabs((double)y2[k] - y1[k]) / fmax(1.0, fabs(a[k] * 3.0));
                gworst = fmax(gworst, e);
                gbad += !(e <= 1e-6);
            }
            CHECK_MSG(gbad == 0, "%s gelu n=%lld: %d off, worst %.3g", t->name, (long long)n, gbad, gworst);
            /* rope: bitwise equal to ref (same float operations) */
            int64_t hd = n & ~(int64_t)1;
            if (hd >= 2) {
                float *c = malloc(hd / 2 * 4), *sn = malloc(hd / 2 * 4);
                for (int64_t k = 0; k < hd / 2; k++) {
                    c[k] = cosf((float)k * 0.37f);
                    sn[k] = sinf((float)k * 0.37f);
                }
                memcpy(y1, a, hd * 4);
                memcpy(y2, a, hd * 4);
                ref->rope_pairs(y1, c, sn, hd);
                t->rope_pairs(y2, c, sn, hd);
                CHECK_MSG(memcmp(y1, y2, hd * 4) == 0, "%s rope_pairs hd=%lld bitwise", t->name, (long long)hd);
                free(c);
                free(sn);
            }
            free(a);
            free(b);
            free(w);
            free(bb);
            free(y1);
            free(y2);
        }
        /* gelu on a dense grid against the double formula, incl. erf's tails */
        int64_t n = 20001;
        float *g = malloc(n * 4);
        for (int64_t k = 0; k < n; k++) g[k] = -10.0f + 20.0f * (float)k / (float)(n - 1);
        t->gelu(g, n);
        double worst = 0;
        for (int64_t k = 0; k < n; k++) {
            double v = (double)(-10.0f + 20.0f * (float)k / (float)(n - 1));
            double r = 0.5 * v * (1.0 + erf(v / sqrt(2.0)));
            worst = fmax(worst, fabs(g[k] - r) / fmax(1.0, fabs(v)));
        }
        CHECK_MSG(worst <= 1e-6, "%s gelu grid [-10, 10]: worst scaled error %.3g", t->name, worst);
        printf("  %s gelu grid worst scaled error %.3g\n", t->name, worst);
        free(g);
    }
}

int main(int argc, char **argv) {
    llv_test_init(argc, argv);
    if (llv_test_case("tables")) test_tables();
    if (llv_test_case("conversions")) test_conversions();
    if (llv_test_case("vec")) test_vec();
    if (llv_test_case("matmul")) test_matmul();
    if (llv_test_case("matmul exact")) test_matmul_exact();
    test_coverage();
    return llv_test_finish();
}
