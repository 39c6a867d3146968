/* AVX2 + FMA + F16C kernels for the float weight types and the vector ops.
 * Same scheme as avx512-float.c with 8 lanes: output (m, n) owns one 8-lane
 * accumulator (lane j sums k = j mod 8 in increasing k, the tail is a
 * zero-padded step), reduced by one fixed tree, so the order depends only on K. */
#include "x86-kernels.h"

#include <immintrin.h>
#include <math.h>
#include <string.h>

#define MR 4 /* 4 x 3 accumulators + 3 weights + 1 x = 16 ymm registers */
#define NR 3
#define ALWAYS_INLINE static inline __attribute__((always_inline))

typedef enum { W_F32, W_F16, W_BF16 } wkind;

ALWAYS_INLINE __m256 wload(const unsigned char *row, int64_t k, wkind t) {
    if (t == W_F32) return _mm256_loadu_ps((const float *)(const void *)row + k);
    __m128i h = _mm_loadu_si128((const __m128i *)(const void *)(row + 2 * k));
    if (t == W_F16) return _mm256_cvtph_ps(h);
    return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16));
}

/* r < 8 trailing elements, zero padded */
ALWAYS_INLINE __m256 wload_tail(const unsigned char *row, int64_t k, int64_t r, wkind t) {
    size_t es = t == W_F32 ? 4 : 2;
    unsigned char buf[32] = {0};
    memcpy(buf, row + (size_t)k * es, (size_t)r * es);
    return wload(buf, 0, t);
}

ALWAYS_INLINE __m256 xload_tail(const float *x, int64_t r) {
    float buf[8] = {0};
    memcpy(buf, x, (size_t)r * sizeof(float));
    return _mm256_loadu_ps(buf);
}

/* fixed tree: (i, i+4), (i, i+2), (0, 1) */
ALWAYS_INLINE float hsum8(__m256 v) {
    __m128 b = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    __m128 c = _mm_add_ps(b, _mm_movehl_ps(b, b));
    return _mm_cvtss_f32(_mm_add_ss(c, _mm_movehdup_ps(c)));
}

/* nrc (compile-time) is NR, or 1 for the decode tile (x86-kernels.h) */
ALWAYS_INLINE void tile_n(int mr, int nrc, wkind t, const float *x, int64_t ldx, const unsigned char *w, size_t rb,
                          int64_t K, float *y, int64_t ldy, int nv) {
    __m256 acc[MR][NR];
    const unsigned char *wr[NR];
    for (int j = 0; j < nrc; j++) wr[j] = w + (size_t)(j < nv ? j : nv - 1) * rb;
    for (int i = 0; i < mr; i++)
        for (int j = 0; j < nrc; j++) acc[i][j] = _mm256_setzero_ps();
    int64_t k = 0;
    for (; k + 8 <= K; k += 8) {
        __m256 wv[NR];
        if (nrc == 1) _mm_prefetch((const char *)wr[0] + LLV_X86_DEC_PF + (size_t)k * (t == W_F32 ? 4 : 2), _MM_HINT_T0);
        for (int j = 0; j < nrc; j++) wv[j] = wload(wr[j], k, t);
        for (int i = 0; i < mr; i++) {
            __m256 xv = _mm256_loadu_ps(x + i * ldx + k);
            for (int j = 0; j < nrc; j++) acc[i][j] = _mm256_fmadd_ps(xv, wv[j], acc[i][j]);
        }
    }
    if (k < K) {
        __m256 wv[NR];
        for (int j = 0; j < nrc; j++) wv[j] = wload_tail(wr[j], k, K - k, t);
        for (int i = 0; i < mr; i++) {
            __m256 xv = xload_tail(x + i * ldx + k, K - k);
            for (int j = 0; j < nrc; j++) acc[i][j] = _mm256_fmadd_ps(xv, wv[j], acc[i][j]);
        }
    }
    for (int i = 0; i < mr; i++)
        for (int j = 0; j < nrc; j++)
            if (j < nv) y[i * ldy + j] = hsum8(acc[i][j]);
}

typedef llv_x86_tile_fn tile_fn;

#define DEF_TILES(T, SUF)                                                                                            \
    static void tile1_##SUF(const float *x, int64_t ldx, const unsigned char *w, size_t rb, int64_t K, float *y,     \
                            int64_t ldy, int nv) { tile_n(1, NR, T, x, ldx, w, rb, K, y, ldy, nv); }                    \
    static void tile2_##SUF(const float *x, int64_t ldx, const unsigned char *w, size_t rb, int64_t K, float *y,     \
                            int64_t ldy, int nv) { tile_n(2, NR, T, x, ldx, w, rb, K, y, ldy, nv); }                    \
    static void tile3_##SUF(const float *x, int64_t ldx, const unsigned char *w, size_t rb, int64_t K, float *y,     \
                            int64_t ldy, int nv) { tile_n(3, NR, T, x, ldx, w, rb, K, y, ldy, nv); }                    \
    static void tile4_##SUF(const float *x, int64_t ldx, const unsigned char *w, size_t rb, int64_t K, float *y,     \
                            int64_t ldy, int nv) { tile_n(4, NR, T, x, ldx, w, rb, K, y, ldy, nv); }                    \
    static void dec1_##SUF(const float *x, int64_t ldx, const unsigned char *w, size_t rb, int64_t K, float *y,      \
                           int64_t ldy, int nv) { tile_n(1, 1, T, x, ldx, w, rb, K, y, ldy, nv); }                 \
    static void dec2_##SUF(const float *x, int64_t ldx, const unsigned char *w, size_t rb, int64_t K, float *y,      \
                           int64_t ldy, int nv) { tile_n(2, 1, T, x, ldx, w, rb, K, y, ldy, nv); }                 \
    static void dec3_##SUF(const float *x, int64_t ldx, const unsigned char *w, size_t rb, int64_t K, float *y,      \
                           int64_t ldy, int nv) { tile_n(3, 1, T, x, ldx, w, rb, K, y, ldy, nv); }                 \
    static void dec4_##SUF(const float *x, int64_t ldx, const unsigned char *w, size_t rb, int64_t K, float *y,      \
                           int64_t ldy, int nv) { tile_n(4, 1, T, x, ldx, w, rb, K, y, ldy, nv); }                 \
    static const tile_fn decs_##SUF[LLV_X86_DEC_MR] = {dec1_##SUF, dec2_##SUF, dec3_##SUF, dec4_##SUF};           \
    static const tile_fn tiles_##SUF[MR] = {tile1_##SUF, tile2_##SUF, tile3_##SUF, tile4_##SUF};

DEF_TILES(W_F32, f32)
DEF_TILES(W_F16, f16)
DEF_TILES(W_BF16, bf16)

static void matmul_tiles(const tile_fn *tiles, const tile_fn *dec, size_t esz, LLV_MATMUL_ARGS) {
    llv_x86_matmul_tiles(tiles, dec, MR, NR, esz, w, w_row_bytes, x, ldx, M, K, y, ldy, n0, n1);
}

void llv_avx2_matmul_f32(LLV_MATMUL_ARGS) { matmul_tiles(tiles_f32, decs_f32, 4, w, w_row_bytes, x, ldx, M, K, y, ldy, n0, n1); }
void llv_avx2_matmul_f16(LLV_MATMUL_ARGS) { matmul_tiles(tiles_f16, decs_f16, 2, w, w_row_bytes, x, ldx, M, K, y, ldy, n0, n1); }
void llv_avx2_matmul_bf16(LLV_MATMUL_ARGS) { matmul_tiles(tiles_bf16, decs_bf16, 2, w, w_row_bytes, x, ldx, M, K, y, ldy, n0, n1); }

/* ------------------------------------------------------------------------- */
/* conversions                                                               */
/* ------------------------------------------------------------------------- */

static void conv_row(const void *src, float *dst, int64_t n, wkind t) {
    const unsigned char *s = src;
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) _mm256_storeu_ps(dst + i, wload(s, i, t));
    if (i < n) {
        float buf[8];
        _mm256_storeu_ps(buf, wload_tail(s, i, n - i, t));
        memcpy(dst + i, buf, (size_t)(n - i) * sizeof(float));
    }
}

void llv_avx2_f16_to_f32(const void *src, float *dst, int64_t n) { conv_row(src, dst, n, W_F16); }
void llv_avx2_bf16_to_f32(const void *src, float *dst, int64_t n) { conv_row(src, dst, n, W_BF16); }

/* ------------------------------------------------------------------------- */
/* vector ops: 8-wide main loops, the tail through a zero-padded buffer      */
/* ------------------------------------------------------------------------- */

float llv_avx2_dot_f32(const float *a, const float *b, int64_t n) {
    __m256 s0 = _mm256_setzero_ps(), s1 = _mm256_setzero_ps();
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), s0);
        s1 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 8), _mm256_loadu_ps(b + i + 8), s1);
    }
    for (; i + 8 <= n; i += 8) s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), s0);
    if (i < n) s1 = _mm256_fmadd_ps(xload_tail(a + i, n - i), xload_tail(b + i, n - i), s1);
    return hsum8(_mm256_add_ps(s0, s1));
}

void llv_avx2_axpy_f32(float a, const float *x, float *y, int64_t n) {
    __m256 av = _mm256_set1_ps(a);
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(y + i, _mm256_fmadd_ps(av, _mm256_loadu_ps(x + i), _mm256_loadu_ps(y + i)));
    for (; i < n; i++) y[i] = fmaf(a, x[i], y[i]);
}

/* Up to 4 heads x 24 output floats (12 accumulators) per pass over the value
 * rows; per element the same fmadd sequence in t order as axpy (scalar
 * fmaf for a tail of fewer than 8). */
void llv_avx2_attn_pv(const float *p, int64_t ldp, int32_t h, const float *v, int64_t n, int64_t hd, float *o) {
    int64_t d0 = 0;
    while (hd - d0 >= 8) {
        const int nc = hd - d0 >= 24 ? 3 : (int)((hd - d0) / 8);
        for (int32_t i0 = 0; i0 < h; i0 += 4) {
            const int nh = h - i0 < 4 ? (int)(h - i0) : 4;
            __m256 acc[4][3];
            for (int i = 0; i < nh; i++)
                for (int c = 0; c < nc; c++) acc[i][c] = _mm256_loadu_ps(o + (i0 + i) * hd + d0 + 8 * c);
            for (int64_t t = 0; t < n; t++) {
                __m256 vt[3];
                for (int c = 0; c < nc; c++) vt[c] = _mm256_loadu_ps(v + t * hd + d0 + 8 * c);
                for (int i = 0; i < nh; i++) {
                    const __m256 pb = _mm256_set1_ps(p[(i0 + i) * ldp + t]);
                    for (int c = 0; c < nc; c++) acc[i][c] = _mm256_fmadd_ps(pb, vt[c], acc[i][c]);
                }
            }
            for (int i = 0; i < nh; i++)
                for (int c = 0; c < nc; c++) _mm256_storeu_ps(o + (i0 + i) * hd + d0 + 8 * c, acc[i][c]);
        }
        d0 += 8 * nc;
    }
    for (int32_t i = 0; i < h; i++)
        for (int64_t t = 0; t < n; t++)
            for (int64_t d = d0; d < hd; d++) o[i * hd + d] = fmaf(p[i * ldp + t], v[t * hd + d], o[i * hd + d]);
}

ALWAYS_INLINE double hsum4d(__m256d v) {
    __m128d b = _mm_add_pd(_mm256_castpd256_pd128(v), _mm256_extractf128_pd(v, 1));
    return _mm_cvtsd_f64(_mm_add_sd(b, _mm_unpackhi_pd(b, b)));
}

static double sumsq_pd(const float *x, int64_t n, double mean) {
    __m256d s0 = _mm256_setzero_pd(), s1 = _mm256_setzero_pd(), mv = _mm256_set1_pd(mean);
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256 v = _mm256_loadu_ps(x + i);
        __m256d lo = _mm256_sub_pd(_mm256_cvtps_pd(_mm256_castps256_ps128(v)), mv);
        __m256d hi = _mm256_sub_pd(_mm256_cvtps_pd(_mm256_extractf128_ps(v, 1)), mv);
        s0 = _mm256_fmadd_pd(lo, lo, s0);
        s1 = _mm256_fmadd_pd(hi, hi, s1);
    }
    double s = hsum4d(_mm256_add_pd(s0, s1));
    for (; i < n; i++) {
        double d = (double)x[i] - mean;
        s += d * d;
    }
    return s;
}

static double sum_pd(const float *x, int64_t n) {
    __m256d s0 = _mm256_setzero_pd(), s1 = _mm256_setzero_pd();
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256 v = _mm256_loadu_ps(x + i);
        s0 = _mm256_add_pd(s0, _mm256_cvtps_pd(_mm256_castps256_ps128(v)));
        s1 = _mm256_add_pd(s1, _mm256_cvtps_pd(_mm256_extractf128_ps(v, 1)));
    }
    double s = hsum4d(_mm256_add_pd(s0, s1));
    for (; i < n; i++) s += x[i];
    return s;
}

void llv_avx2_rmsnorm(const float *x, const float *w, float *y, int64_t n, float eps) {
    float var = (float)(sumsq_pd(x, n, 0.0) / (double)n);
    float rs = 1.0f / sqrtf(var + eps);
    __m256 r = _mm256_set1_ps(rs);
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256 v = _mm256_mul_ps(_mm256_loadu_ps(x + i), r);
        if (w) v = _mm256_mul_ps(_mm256_loadu_ps(w + i), v);
        _mm256_storeu_ps(y + i, v);
    }
    for (; i < n; i++) {
        float v = x[i] * rs;
        y[i] = w ? w[i] * v : v;
    }
}

void llv_avx2_layernorm(const float *x, const float *w, const float *b, float *y, int64_t n, float eps) {
    double mean = sum_pd(x, n) / (double)n;
    float var = (float)(sumsq_pd(x, n, mean) / (double)n);
    float rs = 1.0f / sqrtf(var + eps), mf = (float)mean;
    __m256 r = _mm256_set1_ps(rs), mv = _mm256_set1_ps(mf);
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256 v = _mm256_mul_ps(_mm256_sub_ps(_mm256_loadu_ps(x + i), mv), r);
        if (w) v = _mm256_mul_ps(v, _mm256_loadu_ps(w + i));
        if (b) v = _mm256_add_ps(v, _mm256_loadu_ps(b + i));
        _mm256_storeu_ps(y + i, v);
    }
    for (; i < n; i++) {
        float v = (x[i] - mf) * rs;
        if (w) v = v * w[i];
        if (b) v = v + b[i];
        y[i] = v;
    }
}

/* expf (~1 ulp, Cephes polynomial); inputs clamped to the normal range. */
ALWAYS_INLINE __m256 exp8(__m256 x) {
    x = _mm256_min_ps(_mm256_max_ps(x, _mm256_set1_ps(-87.33654f)), _mm256_set1_ps(88.72283f));
    __m256 n = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(1.44269504088896341f)),
                               _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693359375f), x);
    r = _mm256_fnmadd_ps(n, _mm256_set1_ps(-2.12194440e-4f), r);
    __m256 p = _mm256_set1_ps(1.9875691500e-4f);
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.3981999507e-3f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(8.3334519073e-3f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(4.1665795894e-2f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.6666665459e-1f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(5.0000001201e-1f));
    __m256 e = _mm256_add_ps(_mm256_fmadd_ps(_mm256_mul_ps(p, r), r, r), _mm256_set1_ps(1.0f));
    /* 2^n split in two factors so n = 128 (x near 88.7) does not overflow the exponent */
    __m256i ni = _mm256_cvtps_epi32(n);
    __m256i n1 = _mm256_srai_epi32(ni, 1), n2 = _mm256_sub_epi32(ni, n1);
    __m256 f1 = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(n1, _mm256_set1_epi32(127)), 23));
    __m256 f2 = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(n2, _mm256_set1_epi32(127)), 23));
    return _mm256_mul_ps(_mm256_mul_ps(e, f1), f2);
}

/* Applies f to 8-lane chunks of x in place, the tail through a padded buffer. */
#define FOR_CHUNKS(ptr, n, BODY)                                                                                     \
    do {                                                                                                             \
        int64_t i_ = 0;                                                                                              \
        for (; i_ + 8 <= (n); i_ += 8) {                                                                             \
            float *p_ = (ptr) + i_;                                                                                  \
            int64_t cnt_ = 8;                                                                                        \
            (void)cnt_;                                                                                              \
            BODY                                                                                                     \
        }                                                                                                            \
        if (i_ < (n)) {                                                                                              \
            float tb_[8] = {0};                                                                                      \
            int64_t cnt_ = (n) - i_;                                                                                 \
            memcpy(tb_, (ptr) + i_, (size_t)cnt_ * sizeof(float));                                                   \
            float *p_ = tb_;                                                                                         \
            BODY                                                                                                     \
            memcpy((ptr) + i_, tb_, (size_t)cnt_ * sizeof(float));                                                   \
        }                                                                                                            \
    } while (0)

void llv_avx2_softmax(float *x, int64_t n) {
    if (n <= 0) return;
    float mx = x[0];
    for (int64_t i = 1; i < n; i++)
        if (x[i] > mx) mx = x[i];
    const __m256 mv = _mm256_set1_ps(mx);
    __m256d s0 = _mm256_setzero_pd(), s1 = _mm256_setzero_pd();
    FOR_CHUNKS(x, n, {
        __m256 e = exp8(_mm256_sub_ps(_mm256_loadu_ps(p_), mv));
        if (cnt_ < 8) { /* zero the padding lanes before summing */
            float eb[8];
            _mm256_storeu_ps(eb, e);
            for (int64_t z = cnt_; z < 8; z++) eb[z] = 0.0f;
            e = _mm256_loadu_ps(eb);
        }
        _mm256_storeu_ps(p_, e);
        s0 = _mm256_add_pd(s0, _mm256_cvtps_pd(_mm256_castps256_ps128(e)));
        s1 = _mm256_add_pd(s1, _mm256_cvtps_pd(_mm256_extractf128_ps(e, 1)));
    });
    const __m256 inv = _mm256_set1_ps((float)hsum4d(_mm256_add_pd(s0, s1)));
    FOR_CHUNKS(x, n, { _mm256_storeu_ps(p_, _mm256_div_ps(_mm256_loadu_ps(p_), inv)); });
}

void llv_avx2_silu_mul(float *g, const float *u, int64_t n) {
    const __m256 one = _mm256_set1_ps(1.0f);
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256 v = _mm256_loadu_ps(g + i);
        __m256 s = _mm256_div_ps(v, _mm256_add_ps(one, exp8(_mm256_sub_ps(_mm256_setzero_ps(), v))));
        _mm256_storeu_ps(g + i, _mm256_mul_ps(s, _mm256_loadu_ps(u + i)));
    }
    for (; i < n; i++) {
        float v = g[i];
        g[i] = (v / (1.0f + expf(-v))) * u[i];
    }
}

/* Abramowitz & Stegun 7.1.26, as PyTorch's vectorised erf */
ALWAYS_INLINE __m256 erf8(__m256 x) {
    const __m256 sign = _mm256_set1_ps(-0.0f), one = _mm256_set1_ps(1.0f);
    __m256 ax = _mm256_andnot_ps(sign, x);
    __m256 t = _mm256_div_ps(one, _mm256_fmadd_ps(_mm256_set1_ps(0.3275911f), ax, one));
    __m256 r = _mm256_fmadd_ps(_mm256_set1_ps(1.061405429f), t, _mm256_set1_ps(-1.453152027f));
    r = _mm256_fmadd_ps(r, t, _mm256_set1_ps(1.421413741f));
    r = _mm256_fmadd_ps(r, t, _mm256_set1_ps(-0.284496736f));
    r = _mm256_fmadd_ps(r, t, _mm256_set1_ps(0.254829592f));
    r = _mm256_mul_ps(r, t);
    __m256 e = exp8(_mm256_xor_ps(_mm256_mul_ps(x, x), sign));
    __m256 res = _mm256_fnmadd_ps(r, e, one);
    return _mm256_or_ps(res, _mm256_and_ps(x, sign));
}

void llv_avx2_gelu(float *x, int64_t n) {
    const __m256 half = _mm256_set1_ps(0.5f), one = _mm256_set1_ps(1.0f), rs2 = _mm256_set1_ps((float)M_SQRT1_2);
    FOR_CHUNKS(x, n, {
        __m256 v = _mm256_loadu_ps(p_);
        __m256 e = erf8(_mm256_mul_ps(v, rs2));
        _mm256_storeu_ps(p_, _mm256_mul_ps(_mm256_mul_ps(v, half), _mm256_add_ps(one, e)));
    });
}

void llv_avx2_rope_pairs(float *x, const float *cos_t, const float *sin_t, int64_t hd) {
    const __m256i dup = _mm256_set_epi32(3, 3, 2, 2, 1, 1, 0, 0);
    int64_t half = hd / 2, i = 0;
    for (; i + 4 <= half; i += 4) {
        __m256 c = _mm256_permutevar8x32_ps(_mm256_castps128_ps256(_mm_loadu_ps(cos_t + i)), dup);
        __m256 s = _mm256_permutevar8x32_ps(_mm256_castps128_ps256(_mm_loadu_ps(sin_t + i)), dup);
        __m256 v = _mm256_loadu_ps(x + 2 * i);
        __m256 sw = _mm256_permute_ps(v, 0xB1);
        __m256 p = _mm256_mul_ps(v, c), q = _mm256_mul_ps(sw, s);
        /* addsub: even lanes p - q, odd lanes p + q */
        _mm256_storeu_ps(x + 2 * i, _mm256_addsub_ps(p, q));
    }
    for (; i < half; i++) {
        float a = x[2 * i], b = x[2 * i + 1], c = cos_t[i], s = sin_t[i];
        x[2 * i] = a * c - b * s;
        x[2 * i + 1] = b * c + a * s;
    }
}
