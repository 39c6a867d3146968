/* AVX-512 kernels for the float weight types (F32, F16, BF16) and the
 * vector ops. Matmul is "dot style": output (m, n) owns one 16-lane
 * accumulator, lane j sums x[k]*w[k] for k = j mod 16 in increasing k, the
 * tail is a masked step, and the 16 lanes are reduced by one fixed tree. That
 * order depends only on K, so every tile shape (decode M = 1, prefill MR x NR
 * register tiles, partial edge tiles) and every thread split gives the same
 * bits. F16/BF16 weights are widened exactly to float32 in registers. */
#include "x86-kernels.h"

#include <immintrin.h>
#include <math.h>
#include <stdbool.h>

#define MR 6 /* x rows per register tile */
#define NR 4 /* weight rows per register tile: 24 accumulators + 4 weights + 1 x (hsum16x4_store needs 4) */
#define ALWAYS_INLINE static inline __attribute__((always_inline))

typedef enum { W_F32, W_F16, W_BF16 } wkind;

ALWAYS_INLINE __m512 wload(const unsigned char *row, int64_t k, wkind t) {
    if (t == W_F32) return _mm512_loadu_ps((const float *)(const void *)row + k);
    __m256i h = _mm256_loadu_si256((const __m256i *)(const void *)(row + 2 * k));
    if (t == W_F16) return _mm512_cvtph_ps(h);
    return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
}

ALWAYS_INLINE __m512 wload_mask(const unsigned char *row, int64_t k, __mmask16 m, wkind t) {
    if (t == W_F32) return _mm512_maskz_loadu_ps(m, (const float *)(const void *)row + k);
    __m256i h = _mm256_maskz_loadu_epi16(m, row + 2 * k);
    if (t == W_F16) return _mm512_cvtph_ps(h);
    return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
}

/* The one fixed reduction tree: (i, i+8), then (i, i+4), (i, i+2), (0, 1). */
ALWAYS_INLINE float hsum16(__m512 v) {
    __m256 a = _mm256_add_ps(_mm512_castps512_ps256(v), _mm512_extractf32x8_ps(v, 1));
    __m128 b = _mm_add_ps(_mm256_castps256_ps128(a), _mm256_extractf128_ps(a, 1));
    __m128 c = _mm_add_ps(b, _mm_movehl_ps(b, b));
    __m128 d = _mm_add_ss(c, _mm_movehdup_ps(c));
    return _mm_cvtss_f32(d);
}

/* hsum16 of four accumulators at once, with exactly the same pairings (so
 * the same bits); the four sums are stored to y[0..nv). */
ALWAYS_INLINE void hsum16x4_store(__m512 v0, __m512 v1, __m512 v2, __m512 v3, float *y, int nv) {
    __m512 s01 = _mm512_add_ps(_mm512_shuffle_f32x4(v0, v1, 0x44), _mm512_shuffle_f32x4(v0, v1, 0xee));
    __m512 s23 = _mm512_add_ps(_mm512_shuffle_f32x4(v2, v3, 0x44), _mm512_shuffle_f32x4(v2, v3, 0xee));
    __m512 b = _mm512_add_ps(_mm512_shuffle_f32x4(s01, s23, 0x88), _mm512_shuffle_f32x4(s01, s23, 0xdd));
    __m512 c = _mm512_add_ps(b, _mm512_permute_ps(b, 0x4e));
    __m512 d = _mm512_add_ps(c, _mm512_permute_ps(c, 0xb1));
    __m512 r = _mm512_permutexvar_ps(_mm512_setr_epi32(0, 4, 8, 12, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0), d);
    _mm_mask_storeu_ps(y, (__mmask8)((1u << nv) - 1), _mm512_castps512_ps128(r));
}

/* One register tile: mr x rows (compile-time) against NR weight rows, of which
 * nv are real (the others repeat the last real row and are not stored). */
/* nrc (compile-time) is NR, or 1 for the decode tile, which reads its one
 * row with a prefetch LLV_X86_DEC_PF ahead and reduces it with hsum16. */
ALWAYS_INLINE void tile_n(int mr, int nrc, wkind t, const float *x, int64_t ldx, const unsigned char *w, size_t rb,
                          int64_t K, float *y, int64_t ldy, int nv) {
    __m512 acc[MR][NR];
    const unsigned char *wr[NR];
    for (int j = 0; j < nrc; j++) wr[j] = w + (size_t)(j < nv ? j : nv - 1) * rb;
    for (int i = 0; i < mr; i++)
        for (int j = 0; j < nrc; j++) acc[i][j] = _mm512_setzero_ps();
    int64_t k = 0;
    /* 2-row batches (two decode streams): prefetch the next tile's rows */
    const size_t es = t == W_F32 ? 4 : 2, pf = nrc == 1 ? LLV_X86_DEC_PF : NR * rb;
    for (; k + 16 <= K; k += 16) {
        __m512 wv[NR];
        for (int j = 0; j < nrc; j++) {
            if (mr <= 2 || nrc == 1) _mm_prefetch((const char *)wr[j] + pf + (size_t)k * es, _MM_HINT_T0);
            wv[j] = wload(wr[j], k, t);
        }
        for (int i = 0; i < mr; i++) {
            __m512 xv = _mm512_loadu_ps(x + i * ldx + k);
            for (int j = 0; j < nrc; j++) acc[i][j] = _mm512_fmadd_ps(xv, wv[j], acc[i][j]);
        }
    }
    if (k < K) {
        __mmask16 m = (__mmask16)((1u << (K - k)) - 1);
        __m512 wv[NR];
        for (int j = 0; j < nrc; j++) wv[j] = wload_mask(wr[j], k, m, t);
        for (int i = 0; i < mr; i++) {
            __m512 xv = _mm512_maskz_loadu_ps(m, x + i * ldx + k);
            for (int j = 0; j < nrc; j++) acc[i][j] = _mm512_fmadd_ps(xv, wv[j], acc[i][j]);
        }
    }
    if (nrc == 1)
        for (int i = 0; i < mr; i++) y[i * ldy] = hsum16(acc[i][0]);
    else
        for (int i = 0; i < mr; i++) hsum16x4_store(acc[i][0], acc[i][1], acc[i][2], acc[i][3], y + i * ldy, nv);
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
    static void tile5_##SUF(const float *x, int64_t ldx, const unsigned char *w, size_t rb, int64_t K, float *y,     \
                            int64_t ldy, int nv) { tile_n(5, NR, T, x, ldx, w, rb, K, y, ldy, nv); }                    \
    static void tile6_##SUF(const float *x, int64_t ldx, const unsigned char *w, size_t rb, int64_t K, float *y,     \
                            int64_t ldy, int nv) { tile_n(6, NR, T, x, ldx, w, rb, K, y, ldy, nv); }                    \
    static void dec1_##SUF(const float *x, int64_t ldx, const unsigned char *w, size_t rb, int64_t K, float *y,      \
                           int64_t ldy, int nv) { tile_n(1, 1, T, x, ldx, w, rb, K, y, ldy, nv); }                 \
    static void dec2_##SUF(const float *x, int64_t ldx, const unsigned char *w, size_t rb, int64_t K, float *y,      \
                           int64_t ldy, int nv) { tile_n(2, 1, T, x, ldx, w, rb, K, y, ldy, nv); }                 \
    static void dec3_##SUF(const float *x, int64_t ldx, const unsigned char *w, size_t rb, int64_t K, float *y,      \
                           int64_t ldy, int nv) { tile_n(3, 1, T, x, ldx, w, rb, K, y, ldy, nv); }                 \
    static void dec4_##SUF(const float *x, int64_t ldx, const unsigned char *w, size_t rb, int64_t K, float *y,      \
                           int64_t ldy, int nv) { tile_n(4, 1, T, x, ldx, w, rb, K, y, ldy, nv); }                 \
    static const tile_fn decs_##SUF[LLV_X86_DEC_MR] = {dec1_##SUF, dec2_##SUF, dec3_##SUF, dec4_##SUF};           \
    static const tile_fn tiles_##SUF[MR] = {tile1_##SUF, tile2_##SUF, tile3_##SUF,                                \
                                            tile4_##SUF, tile5_##SUF, tile6_##SUF};

DEF_TILES(W_F32, f32)
DEF_TILES(W_F16, f16)
DEF_TILES(W_BF16, bf16)

static void matmul_tiles(const tile_fn *tiles, const tile_fn *dec, size_t esz, LLV_MATMUL_ARGS) {
    llv_x86_matmul_tiles(tiles, dec, MR, NR, esz, w, w_row_bytes, x, ldx, M, K, y, ldy, n0, n1);
}

/* Short K (vision attention scores: K = head_dim = 80): the per-output lane
 * reduction would cost as much as the products, so outputs are computed
 * outer-product style instead: 32 weight rows are packed transposed on the
 * stack and each output is one float32 FMA chain over k = 0..K-1 in order.
 * The choice depends only on K, so M and the row range still never change
 * the bits. */
#define SK_MAX 128
#define OMR 8  /* x rows per micro tile */
#define ONC 32 /* weight rows (output columns) per packed panel: 2 zmm */

ALWAYS_INLINE void tile_outer(int mr, const float *x, int64_t ldx, const float *pk, int64_t K, float *y, int64_t ldy,
                              int nc) {
    __m512 acc[OMR][2];
    for (int i = 0; i < mr; i++) acc[i][0] = acc[i][1] = _mm512_setzero_ps();
    for (int64_t k = 0; k < K; k++) {
        __m512 w0 = _mm512_load_ps(pk + k * ONC), w1 = _mm512_load_ps(pk + k * ONC + 16);
        for (int i = 0; i < mr; i++) {
            __m512 xb = _mm512_set1_ps(x[i * ldx + k]);
            acc[i][0] = _mm512_fmadd_ps(xb, w0, acc[i][0]);
            acc[i][1] = _mm512_fmadd_ps(xb, w1, acc[i][1]);
        }
    }
    __mmask16 m0 = nc >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << nc) - 1);
    __mmask16 m1 = nc >= 32 ? (__mmask16)0xffff : nc > 16 ? (__mmask16)((1u << (nc - 16)) - 1) : 0;
    for (int i = 0; i < mr; i++) {
        _mm512_mask_storeu_ps(y + i * ldy, m0, acc[i][0]);
        _mm512_mask_storeu_ps(y + i * ldy + 16, m1, acc[i][1]);
    }
}

typedef void (*tile_outer_fn)(const float *x, int64_t ldx, const float *pk, int64_t K, float *y, int64_t ldy, int nc);
#define DEF_OUTER(MRV)                                                                                               \
    static void tile_outer##MRV(const float *x, int64_t ldx, const float *pk, int64_t K, float *y, int64_t ldy,      \
                                int nc) { tile_outer(MRV, x, ldx, pk, K, y, ldy, nc); }
DEF_OUTER(1)
DEF_OUTER(2)
DEF_OUTER(3)
DEF_OUTER(4)
DEF_OUTER(5)
DEF_OUTER(6)
DEF_OUTER(7)
DEF_OUTER(8)
static const tile_outer_fn tiles_outer[OMR] = {tile_outer1, tile_outer2, tile_outer3, tile_outer4,
                                               tile_outer5, tile_outer6, tile_outer7, tile_outer8};

static void matmul_f32_short_k(LLV_MATMUL_ARGS) {
    float pk[SK_MAX * ONC] __attribute__((aligned(64)));
    const unsigned char *wb = w;
    for (int64_t n = n0; n < n1; n += ONC) {
        int nc = (int)(n1 - n < ONC ? n1 - n : ONC);
        for (int c = 0; c < ONC; c++) {
            const float *wr = (const float *)(const void *)(wb + (size_t)(n + (c < nc ? c : 0)) * w_row_bytes);
            if (c < nc)
                for (int64_t k = 0; k < K; k++) pk[k * ONC + c] = wr[k];
            else
                for (int64_t k = 0; k < K; k++) pk[k * ONC + c] = 0.0f;
        }
        for (int64_t m = 0; m < M; m += OMR) {
            int mr = (int)(M - m < OMR ? M - m : OMR);
            tiles_outer[mr - 1](x + m * ldx, ldx, pk, K, y + m * ldy + n, ldy, nc);
        }
    }
}

void llv_avx512_matmul_f32(LLV_MATMUL_ARGS) {
    if (K <= SK_MAX) matmul_f32_short_k(w, w_row_bytes, x, ldx, M, K, y, ldy, n0, n1);
    else matmul_tiles(tiles_f32, decs_f32, 4, w, w_row_bytes, x, ldx, M, K, y, ldy, n0, n1);
}
void llv_avx512_matmul_f16(LLV_MATMUL_ARGS) { matmul_tiles(tiles_f16, decs_f16, 2, w, w_row_bytes, x, ldx, M, K, y, ldy, n0, n1); }
/* ------------------------------------------------------------------------- */
/* BF16 weights: vdpbf16ps on activations rounded to bf16 (RNE)              */
/* ------------------------------------------------------------------------- */

/* Twice the products per instruction of the F32 FMA path, at the price of
 * rounding the activations to bf16 (relative error <= 2^-8 per product; the
 * weights are bf16 already). Lane j of output (m, n) sums the pairs
 * k = 2j, 2j+1 (mod 32) in increasing k; the tail is a masked step: the order
 * depends only on K. K above XB_MAX_K uses the exact F32 path for all M. */
#define XB_MAX_K 16384

static void x_to_bf16(const float *x, int64_t K, uint16_t *dst) {
    for (int64_t k = 0; k < K; k += 32) {
        int64_t r = K - k;
        __mmask16 m0 = r >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << r) - 1);
        __mmask16 m1 = r >= 32 ? (__mmask16)0xffff : r > 16 ? (__mmask16)((1u << (r - 16)) - 1) : 0;
        __m512 a = _mm512_maskz_loadu_ps(m0, x + k), b = _mm512_maskz_loadu_ps(m1, x + k + 16);
        _mm512_store_si512((void *)(dst + k), (__m512i)_mm512_cvtne2ps_pbh(b, a));
    }
}

typedef uint16_t xbf_rows[MR][XB_MAX_K];

ALWAYS_INLINE void tile_dp_n(int mr, int nrc, const xbf_rows *xb, const unsigned char *w, size_t rb, int64_t K, float *y,
                           int64_t ldy, int nv) {
    __m512 acc[MR][NR];
    const unsigned char *wr[NR];
    for (int j = 0; j < nrc; j++) wr[j] = w + (size_t)(j < nv ? j : nv - 1) * rb;
    for (int i = 0; i < mr; i++)
        for (int j = 0; j < nrc; j++) acc[i][j] = _mm512_setzero_ps();
    int64_t k = 0;
    for (; k + 32 <= K; k += 32) {
        __m512bh wv[NR];
        for (int j = 0; j < nrc; j++) {
            if (mr <= 2 || nrc == 1) _mm_prefetch((const char *)wr[j] + (nrc == 1 ? LLV_X86_DEC_PF : NR * rb) + 2 * k, _MM_HINT_T0);
            wv[j] = (__m512bh)_mm512_loadu_si512((const void *)(wr[j] + 2 * k));
        }
        for (int i = 0; i < mr; i++) {
            __m512bh xv = (__m512bh)_mm512_load_si512((const void *)((*xb)[i] + k));
            for (int j = 0; j < nrc; j++) acc[i][j] = _mm512_dpbf16_ps(acc[i][j], xv, wv[j]);
        }
    }
    if (k < K) {
        __mmask32 m = (__mmask32)((1u << (K - k)) - 1);
        __m512bh wv[NR];
        for (int j = 0; j < nrc; j++) wv[j] = (__m512bh)_mm512_maskz_loadu_epi16(m, wr[j] + 2 * k);
        for (int i = 0; i < mr; i++) {
            __m512bh xv = (__m512bh)_mm512_maskz_loadu_epi16(m, (*xb)[i] + k);
            for (int j = 0; j < nrc; j++) acc[i][j] = _mm512_dpbf16_ps(acc[i][j], xv, wv[j]);
        }
    }
    if (nrc == 1)
        for (int i = 0; i < mr; i++) y[i * ldy] = hsum16(acc[i][0]);
    else
        for (int i = 0; i < mr; i++) hsum16x4_store(acc[i][0], acc[i][1], acc[i][2], acc[i][3], y + i * ldy, nv);
}

typedef void (*tile_dp_fn)(const xbf_rows *xb, const unsigned char *w, size_t rb, int64_t K, float *y, int64_t ldy,
                           int nv);
#define DEF_DP(MRV)                                                                                                  \
    static void tile_dp##MRV(const xbf_rows *xb, const unsigned char *w, size_t rb, int64_t K, float *y,             \
                             int64_t ldy, int nv) { tile_dp_n(MRV, NR, xb, w, rb, K, y, ldy, nv); }
DEF_DP(1)
DEF_DP(2)
DEF_DP(3)
DEF_DP(4)
DEF_DP(5)
DEF_DP(6)
static const tile_dp_fn tiles_dp[MR] = {tile_dp1, tile_dp2, tile_dp3, tile_dp4, tile_dp5, tile_dp6};
#define DEF_DP1(MRV)                                                                                                 \
    static void tile_dp1_##MRV(const xbf_rows *xb, const unsigned char *w, size_t rb, int64_t K, float *y,           \
                               int64_t ldy, int nv) { tile_dp_n(MRV, 1, xb, w, rb, K, y, ldy, nv); }
DEF_DP1(1)
DEF_DP1(2)
DEF_DP1(3)
DEF_DP1(4)
static const tile_dp_fn tiles_dp1[LLV_X86_DEC_MR] = {tile_dp1_1, tile_dp1_2, tile_dp1_3, tile_dp1_4};

void llv_avx512_matmul_bf16(LLV_MATMUL_ARGS) {
    if (K > XB_MAX_K) {
        matmul_tiles(tiles_bf16, decs_bf16, 2, w, w_row_bytes, x, ldx, M, K, y, ldy, n0, n1);
        return;
    }
    xbf_rows xb __attribute__((aligned(64)));
    const unsigned char *wb = w;
    int64_t nb = (int64_t)((256u << 10) / ((size_t)K * 2 + 1)) / NR * NR;
    if (nb < NR) nb = NR;
    bool single = M <= MR; /* decode: convert x once */
    if (single)
        for (int64_t i = 0; i < M; i++) x_to_bf16(x + i * ldx, K, xb[i]);
    if (M >= 1 && M <= LLV_X86_DEC_MR) { /* decode: one weight row at a time (x86-kernels.h) */
        for (int64_t n = n0; n < n1; n++) tiles_dp1[M - 1](&xb, wb + (size_t)n * w_row_bytes, w_row_bytes, K, y + n, ldy, 1);
        return;
    }
    for (int64_t b0 = n0; b0 < n1; b0 += nb) {
        int64_t b1 = b0 + nb < n1 ? b0 + nb : n1;
        for (int64_t m = 0; m < M; m += MR) {
            int mr = (int)(M - m < MR ? M - m : MR);
            if (!single)
                for (int i = 0; i < mr; i++) x_to_bf16(x + (m + i) * ldx, K, xb[i]);
            for (int64_t n = b0; n < b1; n += NR) {
                int nv = (int)(b1 - n < NR ? b1 - n : NR);
                tiles_dp[mr - 1](&xb, wb + (size_t)n * w_row_bytes, w_row_bytes, K, y + m * ldy + n, ldy, nv);
            }
        }
    }
}

/* ------------------------------------------------------------------------- */
/* conversions                                                               */
/* ------------------------------------------------------------------------- */

void llv_avx512_f16_to_f32(const void *src, float *dst, int64_t n) {
    const unsigned char *s = src;
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) _mm512_storeu_ps(dst + i, wload(s, i, W_F16));
    if (i < n) {
        __mmask16 m = (__mmask16)((1u << (n - i)) - 1);
        _mm512_mask_storeu_ps(dst + i, m, wload_mask(s, i, m, W_F16));
    }
}

void llv_avx512_bf16_to_f32(const void *src, float *dst, int64_t n) {
    const unsigned char *s = src;
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) _mm512_storeu_ps(dst + i, wload(s, i, W_BF16));
    if (i < n) {
        __mmask16 m = (__mmask16)((1u << (n - i)) - 1);
        _mm512_mask_storeu_ps(dst + i, m, wload_mask(s, i, m, W_BF16));
    }
}

/* ------------------------------------------------------------------------- */
/* vector ops                                                                */
/* ------------------------------------------------------------------------- */

ALWAYS_INLINE __mmask16 tail_mask(int64_t r) { return (__mmask16)((1u << r) - 1); }

float llv_avx512_dot_f32(const float *a, const float *b, int64_t n) {
    __m512 s0 = _mm512_setzero_ps(), s1 = _mm512_setzero_ps();
    int64_t i = 0;
    for (; i + 32 <= n; i += 32) {
        s0 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i), _mm512_loadu_ps(b + i), s0);
        s1 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i + 16), _mm512_loadu_ps(b + i + 16), s1);
    }
    for (; i < n; i += 16) {
        __mmask16 m = n - i >= 16 ? (__mmask16)0xffff : tail_mask(n - i);
        s0 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, a + i), _mm512_maskz_loadu_ps(m, b + i), s0);
    }
    return hsum16(_mm512_add_ps(s0, s1));
}

void llv_avx512_axpy_f32(float a, const float *x, float *y, int64_t n) {
    __m512 av = _mm512_set1_ps(a);
    int64_t i = 0;
    for (; i + 16 <= n; i += 16)
        _mm512_storeu_ps(y + i, _mm512_fmadd_ps(av, _mm512_loadu_ps(x + i), _mm512_loadu_ps(y + i)));
    if (i < n) {
        __mmask16 m = tail_mask(n - i);
        _mm512_mask_storeu_ps(y + i, m,
                              _mm512_fmadd_ps(av, _mm512_maskz_loadu_ps(m, x + i), _mm512_maskz_loadu_ps(m, y + i)));
    }
}

/* Up to 4 heads x 64 output floats (16 accumulators) per pass over the value
 * rows: each value vector is loaded once for the heads; per element the
 * same fmadd sequence in t order as axpy. */
void llv_avx512_attn_pv(const float *p, int64_t ldp, int32_t h, const float *v, int64_t n, int64_t hd, float *o) {
    for (int64_t d0 = 0; d0 < hd; d0 += 64) {
        const int64_t nd = hd - d0 < 64 ? hd - d0 : 64;
        const int nc = (int)((nd + 15) / 16);
        __mmask16 m[4];
        for (int c = 0; c < 4; c++) m[c] = nd >= 16 * (c + 1) ? (__mmask16)0xffff : nd > 16 * c ? tail_mask(nd - 16 * c) : 0;
        for (int32_t i0 = 0; i0 < h; i0 += 4) {
            const int nh = h - i0 < 4 ? (int)(h - i0) : 4;
            __m512 acc[4][4];
            for (int i = 0; i < nh; i++)
                for (int c = 0; c < nc; c++) acc[i][c] = _mm512_maskz_loadu_ps(m[c], o + (i0 + i) * hd + d0 + 16 * c);
            for (int64_t t = 0; t < n; t++) {
                __m512 vt[4];
                for (int c = 0; c < nc; c++) vt[c] = _mm512_maskz_loadu_ps(m[c], v + t * hd + d0 + 16 * c);
                for (int i = 0; i < nh; i++) {
                    const __m512 pb = _mm512_set1_ps(p[(i0 + i) * ldp + t]);
                    for (int c = 0; c < nc; c++) acc[i][c] = _mm512_fmadd_ps(pb, vt[c], acc[i][c]);
                }
            }
            for (int i = 0; i < nh; i++)
                for (int c = 0; c < nc; c++) _mm512_mask_storeu_ps(o + (i0 + i) * hd + d0 + 16 * c, m[c], acc[i][c]);
        }
    }
}

ALWAYS_INLINE double hsum_pd(__m512d v) {
    __m256d a = _mm256_add_pd(_mm512_castpd512_pd256(v), _mm512_extractf64x4_pd(v, 1));
    __m128d b = _mm_add_pd(_mm256_castpd256_pd128(a), _mm256_extractf128_pd(a, 1));
    return _mm_cvtsd_f64(_mm_add_sd(b, _mm_unpackhi_pd(b, b)));
}

/* Sum of squares (of x - mean when mean != 0) in double, like the reference. */
static double sumsq_pd(const float *x, int64_t n, double mean) {
    __m512d s0 = _mm512_setzero_pd(), s1 = _mm512_setzero_pd(), mv = _mm512_set1_pd(mean);
    for (int64_t i = 0; i < n; i += 16) {
        __mmask16 m = n - i >= 16 ? (__mmask16)0xffff : tail_mask(n - i);
        __m512 v = _mm512_maskz_loadu_ps(m, x + i);
        __m512d lo = _mm512_cvtps_pd(_mm512_castps512_ps256(v)), hi = _mm512_cvtps_pd(_mm512_extractf32x8_ps(v, 1));
        lo = _mm512_maskz_sub_pd((__mmask8)m, lo, mv);
        hi = _mm512_maskz_sub_pd((__mmask8)(m >> 8), hi, mv);
        s0 = _mm512_fmadd_pd(lo, lo, s0);
        s1 = _mm512_fmadd_pd(hi, hi, s1);
    }
    return hsum_pd(_mm512_add_pd(s0, s1));
}

static double sum_pd(const float *x, int64_t n) {
    __m512d s0 = _mm512_setzero_pd(), s1 = _mm512_setzero_pd();
    for (int64_t i = 0; i < n; i += 16) {
        __mmask16 m = n - i >= 16 ? (__mmask16)0xffff : tail_mask(n - i);
        __m512 v = _mm512_maskz_loadu_ps(m, x + i);
        s0 = _mm512_add_pd(s0, _mm512_cvtps_pd(_mm512_castps512_ps256(v)));
        s1 = _mm512_add_pd(s1, _mm512_cvtps_pd(_mm512_extractf32x8_ps(v, 1)));
    }
    return hsum_pd(_mm512_add_pd(s0, s1));
}

void llv_avx512_rmsnorm(const float *x, const float *w, float *y, int64_t n, float eps) {
    float var = (float)(sumsq_pd(x, n, 0.0) / (double)n);
    __m512 r = _mm512_set1_ps(1.0f / sqrtf(var + eps));
    for (int64_t i = 0; i < n; i += 16) {
        __mmask16 m = n - i >= 16 ? (__mmask16)0xffff : tail_mask(n - i);
        __m512 v = _mm512_mul_ps(_mm512_maskz_loadu_ps(m, x + i), r);
        if (w) v = _mm512_mul_ps(_mm512_maskz_loadu_ps(m, w + i), v);
        _mm512_mask_storeu_ps(y + i, m, v);
    }
}

void llv_avx512_layernorm(const float *x, const float *w, const float *b, float *y, int64_t n, float eps) {
    double mean = sum_pd(x, n) / (double)n;
    float var = (float)(sumsq_pd(x, n, mean) / (double)n);
    __m512 r = _mm512_set1_ps(1.0f / sqrtf(var + eps)), mf = _mm512_set1_ps((float)mean);
    for (int64_t i = 0; i < n; i += 16) {
        __mmask16 m = n - i >= 16 ? (__mmask16)0xffff : tail_mask(n - i);
        __m512 v = _mm512_mul_ps(_mm512_sub_ps(_mm512_maskz_loadu_ps(m, x + i), mf), r);
        if (w) v = _mm512_mul_ps(v, _mm512_maskz_loadu_ps(m, w + i));
        if (b) v = _mm512_add_ps(v, _mm512_maskz_loadu_ps(m, b + i));
        _mm512_mask_storeu_ps(y + i, m, v);
    }
}

/* expf to ~1 ulp: Cephes' polynomial on [-ln2/2, ln2/2], scalef for 2^n
 * (gives inf / 0 / subnormals correctly). */
ALWAYS_INLINE __m512 exp16(__m512 x) {
    x = _mm512_min_ps(_mm512_max_ps(x, _mm512_set1_ps(-104.0f)), _mm512_set1_ps(89.0f));
    __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(1.44269504088896341f)),
                                    _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693359375f), x);
    r = _mm512_fnmadd_ps(n, _mm512_set1_ps(-2.12194440e-4f), r);
    __m512 p = _mm512_set1_ps(1.9875691500e-4f);
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.3981999507e-3f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(8.3334519073e-3f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(4.1665795894e-2f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.6666665459e-1f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(5.0000001201e-1f));
    __m512 e = _mm512_add_ps(_mm512_fmadd_ps(_mm512_mul_ps(p, r), r, r), _mm512_set1_ps(1.0f));
    return _mm512_scalef_ps(e, n);
}

void llv_avx512_softmax(float *x, int64_t n) {
    if (n <= 0) return;
    __m512 mx = _mm512_set1_ps(-INFINITY);
    for (int64_t i = 0; i < n; i += 16) {
        __mmask16 m = n - i >= 16 ? (__mmask16)0xffff : tail_mask(n - i);
        mx = _mm512_max_ps(mx, _mm512_mask_loadu_ps(_mm512_set1_ps(-INFINITY), m, x + i));
    }
    __m512 mv = _mm512_set1_ps(_mm512_reduce_max_ps(mx));
    __m512d s0 = _mm512_setzero_pd(), s1 = _mm512_setzero_pd();
    for (int64_t i = 0; i < n; i += 16) {
        __mmask16 m = n - i >= 16 ? (__mmask16)0xffff : tail_mask(n - i);
        __m512 e = _mm512_maskz_mov_ps(m, exp16(_mm512_sub_ps(_mm512_maskz_loadu_ps(m, x + i), mv)));
        _mm512_mask_storeu_ps(x + i, m, e);
        s0 = _mm512_add_pd(s0, _mm512_cvtps_pd(_mm512_castps512_ps256(e)));
        s1 = _mm512_add_pd(s1, _mm512_cvtps_pd(_mm512_extractf32x8_ps(e, 1)));
    }
    __m512 inv = _mm512_set1_ps((float)hsum_pd(_mm512_add_pd(s0, s1)));
    for (int64_t i = 0; i < n; i += 16) {
        __mmask16 m = n - i >= 16 ? (__mmask16)0xffff : tail_mask(n - i);
        _mm512_mask_storeu_ps(x + i, m, _mm512_div_ps(_mm512_maskz_loadu_ps(m, x + i), inv));
    }
}

void llv_avx512_silu_mul(float *g, const float *u, int64_t n) {
    const __m512 one = _mm512_set1_ps(1.0f);
    for (int64_t i = 0; i < n; i += 16) {
        __mmask16 m = n - i >= 16 ? (__mmask16)0xffff : tail_mask(n - i);
        __m512 v = _mm512_maskz_loadu_ps(m, g + i);
        __m512 s = _mm512_div_ps(v, _mm512_add_ps(one, exp16(_mm512_sub_ps(_mm512_setzero_ps(), v))));
        _mm512_mask_storeu_ps(g + i, m, _mm512_mul_ps(s, _mm512_maskz_loadu_ps(m, u + i)));
    }
}

/* erf by Abramowitz & Stegun 7.1.26 (|error| < 1.5e-7), the formula PyTorch's
 * vectorised CPU erf uses. */
ALWAYS_INLINE __m512 erf16(__m512 x) {
    const __m512 sign = _mm512_set1_ps(-0.0f);
    __m512 ax = _mm512_andnot_ps(sign, x);
    __m512 t = _mm512_div_ps(_mm512_set1_ps(1.0f), _mm512_fmadd_ps(_mm512_set1_ps(0.3275911f), ax, _mm512_set1_ps(1.0f)));
    __m512 r = _mm512_fmadd_ps(_mm512_set1_ps(1.061405429f), t, _mm512_set1_ps(-1.453152027f));
    r = _mm512_fmadd_ps(r, t, _mm512_set1_ps(1.421413741f));
    r = _mm512_fmadd_ps(r, t, _mm512_set1_ps(-0.284496736f));
    r = _mm512_fmadd_ps(r, t, _mm512_set1_ps(0.254829592f));
    r = _mm512_mul_ps(r, t);
    __m512 e = exp16(_mm512_xor_ps(_mm512_mul_ps(x, x), sign));
    __m512 res = _mm512_fnmadd_ps(r, e, _mm512_set1_ps(1.0f));
    return _mm512_or_ps(res, _mm512_and_ps(x, sign));
}

void llv_avx512_gelu(float *x, int64_t n) {
    const __m512 half = _mm512_set1_ps(0.5f), one = _mm512_set1_ps(1.0f), rs2 = _mm512_set1_ps((float)M_SQRT1_2);
    for (int64_t i = 0; i < n; i += 16) {
        __mmask16 m = n - i >= 16 ? (__mmask16)0xffff : tail_mask(n - i);
        __m512 v = _mm512_maskz_loadu_ps(m, x + i);
        __m512 e = erf16(_mm512_mul_ps(v, rs2));
        _mm512_mask_storeu_ps(x + i, m, _mm512_mul_ps(_mm512_mul_ps(v, half), _mm512_add_ps(one, e)));
    }
}

/* Same float operations as the reference (products rounded, then add/sub), so
 * the result is bitwise equal to it. */
void llv_avx512_rope_pairs(float *x, const float *cos_t, const float *sin_t, int64_t hd) {
    const __m512i dup = _mm512_set_epi32(7, 7, 6, 6, 5, 5, 4, 4, 3, 3, 2, 2, 1, 1, 0, 0);
    const __mmask16 even = 0x5555;
    int64_t half = hd / 2;
    for (int64_t i = 0; i < half; i += 8) {
        int64_t r = half - i >= 8 ? 8 : half - i;
        __mmask8 mc = (__mmask8)((1u << r) - 1);
        __mmask16 mx = (__mmask16)((1u << (2 * r)) - 1);
        __m512 c = _mm512_permutexvar_ps(dup, _mm512_castps256_ps512(_mm256_maskz_loadu_ps(mc, cos_t + i)));
        __m512 s = _mm512_permutexvar_ps(dup, _mm512_castps256_ps512(_mm256_maskz_loadu_ps(mc, sin_t + i)));
        __m512 v = _mm512_maskz_loadu_ps(mx, x + 2 * i);
        __m512 sw = _mm512_permute_ps(v, 0xB1); /* (b, a) per pair */
        __m512 p = _mm512_mul_ps(v, c), q = _mm512_mul_ps(sw, s);
        __m512 o = _mm512_mask_sub_ps(_mm512_add_ps(p, q), even, p, q);
        _mm512_mask_storeu_ps(x + 2 * i, mx, o);
    }
}
