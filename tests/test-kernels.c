/* Reference kernels against naive double computations at awkward sizes;
 * F16/BF16 conversions; table completeness; threadpool determinism. */
#include "testing.h"

#include "../kernels/kernels.h"
#include "common.h"
#include "ops.h"
#include "threadpool.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static const int64_t sizes[] = {1, 7, 31, 33, 257, 4097};
#define NSIZES ((int)(sizeof sizes / sizeof sizes[0]))

static uint64_t rng = 0x9e3779b97f4a7c15ull;
static float frand(void) { /* uniform in [-1, 1) */
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (float)((double)(rng >> 11) / 9007199254740992.0 * 2.0 - 1.0);
}
static void fill(float *x, int64_t n, float scale) {
    for (int64_t i = 0; i < n; i++) x[i] = frand() * scale;
}

static void test_table(void) {
    const llv_kernels *k = llv_kernels_ref();
    CHECK(k != NULL && strcmp(k->name, "ref") == 0);
    const int types[] = {LLV_TYPE_F32, LLV_TYPE_F16, LLV_TYPE_BF16};
    for (int i = 0; i < 3; i++) {
        CHECK_MSG(k->matmul[types[i]] && k->to_f32[types[i]] && k->from_f32[types[i]], "type %d entries", types[i]);
    }
    CHECK(k->dot_f32 && k->axpy_f32 && k->rmsnorm && k->layernorm && k->softmax && k->silu_mul && k->gelu &&
          k->rope_pairs);
    CHECK(llv_kernels_get(LLV_ISA_REF) == k);
    const llv_kernels *a = llv_kernels_get(LLV_ISA_AUTO);
    CHECK(a != NULL && a->name != NULL);
    CHECK(llv_kernels_get(LLV_ISA_AVX512) != NULL);
    CHECK(llv_kernels_isa_supported(LLV_ISA_REF));
    if (llv_kernels_isa_supported(LLV_ISA_AVX512)) CHECK(llv_kernels_isa_supported(LLV_ISA_AVX2));
    setenv("LLV_ISA", "ref", 1);
    CHECK(llv_kernels_get(LLV_ISA_AUTO) == k);
    unsetenv("LLV_ISA");
}

static void test_conversions(void) {
    /* every F16 bit pattern round-trips (NaNs stay NaN) */
    int bad = 0;
    for (uint32_t h = 0; h < 65536; h++) {
        float f = llv_f16_to_f32((uint16_t)h);
        uint16_t back = llv_f32_to_f16(f);
        if (isnan(f)) bad += !isnan(llv_f16_to_f32(back));
        else bad += back != h;
    }
    CHECK_EQ_I(bad, 0);
    bad = 0;
    for (uint32_t h = 0; h < 65536; h++) {
        float f = llv_bf16_to_f32((uint16_t)h);
        uint16_t back = llv_f32_to_bf16(f);
        if (isnan(f)) bad += !isnan(llv_bf16_to_f32(back));
        else bad += back != h;
    }
    CHECK_EQ_I(bad, 0);
    /* specific values: subnormals, overflow, rounding */
    CHECK(llv_f16_to_f32(0x0001) == ldexpf(1.0f, -24));
    CHECK(llv_f32_to_f16(ldexpf(1.0f, -25)) == 0x0000);           /* ties to even: 0 */
    CHECK(llv_f32_to_f16(ldexpf(1.5f, -25)) == 0x0001);
    CHECK(llv_f32_to_f16(65504.0f) == 0x7bff);
    CHECK(llv_f32_to_f16(65520.0f) == 0x7c00);
    CHECK(llv_f32_to_f16(-INFINITY) == 0xfc00);
    CHECK(isnan(llv_f16_to_f32(llv_f32_to_f16(NAN))));
    CHECK(llv_f32_to_bf16(1.00390625f) == 0x3f80);                /* 1 + 2^-8: tie to even */
    CHECK(llv_f32_to_bf16(INFINITY) == 0x7f80);
    CHECK(isnan(llv_bf16_to_f32(llv_f32_to_bf16(NAN))));
    CHECK(llv_bf16_to_f32(0x0001) > 0.0f);                        /* bf16 subnormal */
    /* the row kernels agree with the scalar ones */
    const llv_kernels *k = llv_kernels_ref();
    float src[257], back[257];
    uint16_t h[257];
    fill(src, 257, 100.0f);
    src[0] = 1e-6f;
    src[1] = -3e-8f;
    k->from_f32[LLV_TYPE_F16](src, h, 257);
    k->to_f32[LLV_TYPE_F16](h, back, 257);
    bad = 0;
    for (int i = 0; i < 257; i++) bad += h[i] != llv_f32_to_f16(src[i]) || back[i] != llv_f16_to_f32(h[i]);
    CHECK_EQ_I(bad, 0);
    k->from_f32[LLV_TYPE_BF16](src, h, 257);
    k->to_f32[LLV_TYPE_BF16](h, back, 257);
    bad = 0;
    for (int i = 0; i < 257; i++) bad += h[i] != llv_f32_to_bf16(src[i]) || back[i] != llv_bf16_to_f32(h[i]);
    CHECK_EQ_I(bad, 0);
    k->from_f32[LLV_TYPE_F32](src, back, 257);
    CHECK(memcmp(src, back, sizeof src) == 0);
}

static void test_vec(void) {
    const llv_kernels *k = llv_kernels_ref();
    for (int si = 0; si < NSIZES; si++) {
        int64_t n = sizes[si];
        float *a = malloc(n * 4), *b = malloc(n * 4), *w = malloc(n * 4), *bb = malloc(n * 4), *y = malloc(n * 4);
        double *r = malloc(n * 8);
        fill(a, n, 3.0f);
        fill(b, n, 1.0f);
        fill(w, n, 2.0f);
        fill(bb, n, 1.0f);
        char what[64];
        /* dot */
        double d = 0;
        for (int64_t i = 0; i < n; i++) d += (double)a[i] * b[i];
        float df = k->dot_f32(a, b, n);
        snprintf(what, sizeof what, "dot n=%lld", (long long)n);
        CHECK_MSG(fabs(df - d) <= 1e-5 * (double)n, "%s: %g vs %g", what, df, d);
        /* axpy */
        memcpy(y, b, n * 4);
        k->axpy_f32(0.5f, a, y, n);
        float *rf = malloc(n * 4);
        for (int64_t i = 0; i < n; i++) rf[i] = (float)(b[i] + 0.5 * a[i]);
        snprintf(what, sizeof what, "axpy n=%lld", (long long)n);
        llv_check_close_f32(what, y, rf, n, 1e-6, 1e-6);
        /* rmsnorm (with and without weight; in place) */
        double ss = 0;
        for (int64_t i = 0; i < n; i++) ss += (double)a[i] * a[i];
        double rs = 1.0 / sqrt(ss / n + 1e-5);
        for (int64_t i = 0; i < n; i++) rf[i] = (float)(a[i] * rs * w[i]);
        k->rmsnorm(a, w, y, n, 1e-5f);
        snprintf(what, sizeof what, "rmsnorm n=%lld", (long long)n);
        llv_check_close_f32(what, y, rf, n, 1e-5, 1e-5);
        memcpy(y, a, n * 4);
        k->rmsnorm(y, NULL, y, n, 1e-5f);
        for (int64_t i = 0; i < n; i++) rf[i] = (float)(a[i] * rs);
        snprintf(what, sizeof what, "rmsnorm inplace n=%lld", (long long)n);
        llv_check_close_f32(what, y, rf, n, 1e-5, 1e-5);
        /* layernorm, biased variance */
        double mu = 0, var = 0;
        for (int64_t i = 0; i < n; i++) mu += a[i];
        mu /= n;
        for (int64_t i = 0; i < n; i++) var += (a[i] - mu) * (a[i] - mu);
        var /= n;
        for (int64_t i = 0; i < n; i++) rf[i] = (float)((a[i] - mu) / sqrt(var + 1e-6) * w[i] + bb[i]);
        k->layernorm(a, w, bb, y, n, 1e-6f);
        snprintf(what, sizeof what, "layernorm n=%lld", (long long)n);
        llv_check_close_f32(what, y, rf, n, 2e-5, 1e-5);
        /* softmax */
        double mx = -1e300, s = 0;
        for (int64_t i = 0; i < n; i++) mx = fmax(mx, a[i] * 10.0);
        for (int64_t i = 0; i < n; i++) s += exp(a[i] * 10.0 - mx);
        for (int64_t i = 0; i < n; i++) {
            y[i] = a[i] * 10.0f;
            rf[i] = (float)(exp(a[i] * 10.0 - mx) / s);
        }
        k->softmax(y, n);
        snprintf(what, sizeof what, "softmax n=%lld", (long long)n);
        llv_check_close_f32(what, y, rf, n, 1e-7, 1e-5);
        /* silu_mul */
        for (int64_t i = 0; i < n; i++) {
            y[i] = a[i] * 3.0f;
            double g = y[i];
            rf[i] = (float)(g / (1.0 + exp(-g)) * b[i]);
        }
        k->silu_mul(y, b, n);
        snprintf(what, sizeof what, "silu_mul n=%lld", (long long)n);
        llv_check_close_f32(what, y, rf, n, 1e-6, 1e-5);
        /* gelu */
        for (int64_t i = 0; i < n; i++) {
            y[i] = a[i] * 2.0f;
            double g = y[i];
            rf[i] = (float)(0.5 * g * (1.0 + erf(g / sqrt(2.0))));
        }
        k->gelu(y, n);
        snprintf(what, sizeof what, "gelu n=%lld", (long long)n);
        llv_check_close_f32(what, y, rf, n, 1e-6, 1e-5);
        /* rope_pairs over an even length */
        int64_t hd = n & ~(int64_t)1;
        if (hd >= 2) {
            float *c = malloc(hd / 2 * 4), *sn = malloc(hd / 2 * 4);
            for (int64_t i = 0; i < hd / 2; i++) {
                c[i] = cosf((float)i * 0.37f);
                sn[i] = sinf((float)i * 0.37f);
            }
            for (int64_t i = 0; i < hd / 2; i++) {
                rf[2 * i] = (float)((double)a[2 * i] * c[i] - (double)a[2 * i + 1] * sn[i]);
                rf[2 * i + 1] = (float)((double)a[2 * i + 1] * c[i] + (double)a[2 * i] * sn[i]);
            }
            memcpy(y, a, hd * 4);
            k->rope_pairs(y, c, sn, hd);
            snprintf(what, sizeof what, "rope_pairs hd=%lld", (long long)hd);
            llv_check_close_f32(what, y, rf, hd, 1e-6, 1e-6);
            free(c);
            free(sn);
        }
        free(rf);
        free(a);
        free(b);
        free(w);
        free(bb);
        free(y);
        free(r);
    }
}

/* matmul of each type vs double, with strided x/y, a sub-range of rows, and
 * a check that results do not depend on M or the row range. */
static void test_matmul(void) {
    const llv_kernels *k = llv_kernels_ref();
    const int types[] = {LLV_TYPE_F32, LLV_TYPE_F16, LLV_TYPE_BF16};
    for (int ti = 0; ti < 3; ti++) {
        int type = types[ti];
        size_t esz = type == LLV_TYPE_F32 ? 4 : 2;
        for (int si = 0; si < NSIZES; si++) {
            int64_t K = sizes[si], N = 33, M = 3, ldx = K + 5, ldy = N + 3;
            float *wf = malloc(N * K * 4), *x = malloc(M * ldx * 4), *y = calloc(M * ldy, 4), *y1 = malloc(N * 4);
            void *w = malloc(N * K * esz);
            fill(wf, N * K, 1.0f);
            fill(x, M * ldx, 1.0f);
            for (int64_t n = 0; n < N; n++) k->from_f32[type](wf + n * K, (char *)w + n * K * esz, K);
            for (int64_t n = 0; n < N; n++) k->to_f32[type]((char *)w + n * K * esz, wf + n * K, K); /* exact values */
            k->matmul[type](w, K * esz, x, ldx, M, K, y, ldy, 0, 20);
            k->matmul[type](w, K * esz, x, ldx, M, K, y, ldy, 20, N);
            double maxerr = 0;
            int mismatch = 0;
            for (int64_t m = 0; m < M; m++)
                for (int64_t n = 0; n < N; n++) {
                    double d = 0;
                    for (int64_t kk = 0; kk < K; kk++) d += (double)x[m * ldx + kk] * wf[n * K + kk];
                    maxerr = fmax(maxerr, fabs(d - y[m * ldy + n]));
                }
            /* M = 1 on the last row gives the same bits */
            k->matmul[type](w, K * esz, x + 2 * ldx, ldx, 1, K, y1, N, 0, N);
            for (int64_t n = 0; n < N; n++) mismatch += memcmp(&y1[n], &y[2 * ldy + n], 4) != 0;
            CHECK_MSG(maxerr <= 2e-6 * (double)K + 1e-6, "matmul type %d K=%lld max err %g", type, (long long)K,
                      maxerr);
            CHECK_MSG(mismatch == 0, "matmul type %d K=%lld: M=1 differs from M=3 in %d outputs", type, (long long)K,
                      mismatch);
            free(wf);
            free(x);
            free(y);
            free(y1);
            free(w);
        }
    }
}

typedef struct cover {
    int *hits;
    int *owner;
} cover;
static void cover_task(void *ctx, int64_t i0, int64_t i1, int thread) {
    cover *c = ctx;
    for (int64_t i = i0; i < i1; i++) {
        c->hits[i]++;
        c->owner[i] = thread;
    }
}

static void test_threadpool(void) {
    llv_error err;
    llv_threadpool *p = NULL;
    CHECK_STATUS(llv_threadpool_create(0, &p, &err), LLV_ERR_INVALID_ARGUMENT, &err);
    CHECK_OK(llv_threadpool_create(3, &p, &err), &err);
    if (!p) return;
    CHECK_EQ_I(llv_threadpool_n_threads(p), 3);
    for (int64_t n = 1; n < 200; n += 13) {
        int hits[200] = {0}, owner[200];
        cover c = {hits, owner};
        llv_threadpool_parallel_for(p, n, 4, cover_task, &c);
        int bad = 0;
        for (int64_t i = 0; i < n; i++) bad += hits[i] != 1;
        CHECK_MSG(bad == 0, "parallel_for n=%lld covers each index once", (long long)n);
        /* ranges are multiples of the grain: owners change only at grain boundaries */
        for (int64_t i = 1; i < n; i++) bad += owner[i] != owner[i - 1] && i % 4 != 0;
        CHECK_MSG(bad == 0, "parallel_for n=%lld grain boundaries", (long long)n);
    }
    /* linear: 1 thread vs 3 threads bitwise equal */
    const llv_kernels *k = llv_kernels_ref();
    int64_t K = 257, N = 301, M = 5;
    float *w = malloc(K * N * 4), *x = malloc(M * K * 4), *b = malloc(N * 4), *y1 = malloc(M * N * 4),
          *y3 = malloc(M * N * 4);
    fill(w, K * N, 1.0f);
    fill(x, M * K, 1.0f);
    fill(b, N, 1.0f);
    llv_tensor W = {.name = "w", .type = LLV_TYPE_F32, .n_dims = 2, .ne = {K, N, 1, 1}, .data = w, .nbytes = K * N * 4};
    llv_op_linear(k, NULL, &W, b, x, M, y1);
    llv_op_linear(k, p, &W, b, x, M, y3);
    CHECK(memcmp(y1, y3, M * N * 4) == 0);
    double d = b[7];
    for (int64_t kk = 0; kk < K; kk++) d += (double)x[2 * K + kk] * w[7 * K + kk];
    CHECK_CLOSE(y1[2 * N + 7], d, 1e-4);
    float row[257];
    llv_op_get_row(k, &W, 9, row);
    CHECK(memcmp(row, w + 9 * K, K * 4) == 0);
    free(w);
    free(x);
    free(b);
    free(y1);
    free(y3);
    llv_threadpool_free(p);
    llv_threadpool_free(NULL);
}

int main(int argc, char **argv) {
    llv_test_init(argc, argv);
    if (llv_test_case("table")) test_table();
    if (llv_test_case("conversions")) test_conversions();
    if (llv_test_case("vec")) test_vec();
    if (llv_test_case("matmul")) test_matmul();
    if (llv_test_case("threadpool")) test_threadpool();
    return llv_test_finish();
}
