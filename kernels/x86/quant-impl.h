/* quant-impl.h - quantized matmul kernels, included once per ISA by
 * avx2-quant.c and avx512-quant.c: activation quantization, the drivers and
 * 256-bit register tiles (one 32-value block per register); AVX-512 swaps in
 * the 512-bit tiles of quant-zmm.h (measured 15-55% faster on this machine).
 *
 * The includer defines:
 *   PFX(name)         function name prefix
 *   QMR, QNR          register tile: x rows x weight rows
 *   DPBUSD(acc, u, s) acc + sum of 4 adjacent u8*s8 products per int32 lane
 *   DPWSSD(acc, a, b) acc + sum of 2 adjacent s16*s16 products per int32 lane
 *   QZMM              (optional) use the 512-bit tiles of quant-zmm.h
 *   QMRK              (optional) x rows per tile for the K-quants; default QMR
 *   QNR32             (optional) weight rows per tile of the 32-value types
 *                     (Q4_0, Q4_1, Q5_0, Q5_1, Q8_0); default QNR
 *
 * Activations are quantized on the fly as llama.cpp does: per 32 values
 * (Q8_0-style, for the 32-value weight types, with each block's sum of q
 * for the offsets and mins) or per 256 with 16-value sums (Q8_K-style, for
 * the K-quants), into a stack buffer, no allocation: a batch
 * of x rows is quantized once per call (as many rows as the buffer holds),
 * then every tile of it passes over L2-sized blocks of weight rows. Products
 * are exact in int32; each block's int32 lanes are scaled and accumulated in
 * float lanes in block order, then reduced by one fixed tree: the order
 * depends only on K, so M, the row range and the thread count never change
 * the bits (decode and batched tiles share one function per type, with the
 * tile height and width as constants). K above XQ_MAX_K falls back to the
 * reference kernel. */
#include "x86-quant.h"

#include <immintrin.h>
#include <string.h>

#define XQ_MAX_K 32768
#ifndef QNR32
#define QNR32 QNR /* weight rows per tile of the 32-block types */
#endif
#ifndef QMRK
#define QMRK QMR /* x rows per tile of the K-quants */
#endif
/* Decode (M <= DEC_MR x rows): one weight row at a time, DEC_PF bytes of
 * software prefetch ahead (see x86-kernels.h). Batched tiles prefetch the same blocks
 * one tile (AVX2) or about 16 KiB (AVX-512 K-quants) ahead. Prefetches never
 * fault, so those past the range are harmless. */
#define DEC_PF LLV_X86_DEC_PF
#define DEC_MR QMR /* most x rows that decode one weight row at a time */
/* Q4_0/Q4_K: at 3-4 x rows the one-row path is compute-bound (its per-block
 * work is not shared across weight rows), and the batched tiles read as fast:
 * measured 42 vs 44-46 GB/s at M = 4, 47-48 vs 40-42 at M = 2. */
#define DEC_MR_4BIT 2
#define QI static inline __attribute__((always_inline))

QI float f16(uint16_t h) { return _cvtsh_ss(h); }

QI float hsum8q(__m256 v) {
    __m128 b = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    __m128 c = _mm_add_ps(b, _mm_movehl_ps(b, b));
    return _mm_cvtss_f32(_mm_add_ss(c, _mm_movehdup_ps(c)));
}

QI int32_t hsum8i(__m256i v) {
    __m128i b = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
    b = _mm_add_epi32(b, _mm_shuffle_epi32(b, 0x4e));
    b = _mm_add_epi32(b, _mm_shuffle_epi32(b, 0xb1));
    return _mm_cvtsi128_si32(b);
}

/* ------------------------------------------------------------------------- */
/* activation quantization                                                   */
/* ------------------------------------------------------------------------- */

/* Quantized activation rows, in a caller's buffer: per row qs[K], and per
 * 32-block d and the offset term -8*sum(q) (Q4_0; -16*sum(q) for Q5_0) or
 * d*sum(q) (xm, for Q4_1/Q5_1's min), or per 16 values the sums (bs, the
 * K-quants). Rows are K bytes (K/32, K/16 entries) apart. */
typedef struct xq_buf {
    int8_t  *qs;
    float   *d;
    int32_t *s8;
    int16_t *bs;
    float   *xm; /* per 32 values d * (their sum), for the weights' min terms */
    int64_t  K;
} xq_buf;
#define XQ_QS(b, i) ((b)->qs + (i) * (b)->K)
#define XQ_D(b, i) ((b)->d + (i) * ((b)->K / 32))
#define XQ_S8(b, i) ((b)->s8 + (i) * ((b)->K / 32))
#define XQ_BS(b, i) ((b)->bs + (i) * ((b)->K / 16))
#define XQ_XM(b, i) ((b)->xm + (i) * ((b)->K / 32))

/* The stack buffer for quantized rows: at least QMR rows of XQ_MAX_K, and as
 * many rows of smaller K as fit, so a batch is quantized once per call (not
 * once per cache block of weight rows). */
#define XQ_STACK (256u << 10)
#define XQ_ALIGN(n) (((n) + 63) & ~(size_t)63)
QI size_t xq_row_bytes(int64_t K) { return (size_t)K + (size_t)(K / 32) * 12 + (size_t)(K / 16) * 2; }
_Static_assert(QMR * (XQ_MAX_K + XQ_MAX_K / 32 * 12 + XQ_MAX_K / 16 * 2) + 5 * 64 <= XQ_STACK, "XQ_STACK too small");

/* Lays out rows rows of K in mem (XQ_STACK bytes, 64-aligned). */
QI void xq_init(xq_buf *b, unsigned char *mem, int64_t rows, int64_t K) {
    size_t o = 0;
    b->K = K;
    b->qs = (int8_t *)(void *)(mem + o);
    o = XQ_ALIGN(o + (size_t)(rows * K));
    b->d = (float *)(void *)(mem + o);
    o = XQ_ALIGN(o + (size_t)(rows * (K / 32)) * 4);
    b->s8 = (int32_t *)(void *)(mem + o);
    o = XQ_ALIGN(o + (size_t)(rows * (K / 32)) * 4);
    b->bs = (int16_t *)(void *)(mem + o);
    o = XQ_ALIGN(o + (size_t)(rows * (K / 16)) * 2);
    b->xm = (float *)(void *)(mem + o);
}

/* The view of rows i.. of b. */
QI xq_buf xq_rows(const xq_buf *b, int64_t i) {
    xq_buf r = {XQ_QS(b, i), XQ_D(b, i), XQ_S8(b, i), XQ_BS(b, i), XQ_XM(b, i), b->K};
    return r;
}

/* 32 floats -> 32 int8 with scale amax/127 (rounded to nearest even); returns
 * the int32 partial sums of q (8 lanes) in *sum. */
QI void quant32(const float *x, float id, int8_t *q, __m256i *sum) {
    __m256 s = _mm256_set1_ps(id);
    __m256i i0 = _mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(x), s));
    __m256i i1 = _mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(x + 8), s));
    __m256i i2 = _mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(x + 16), s));
    __m256i i3 = _mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(x + 24), s));
    *sum = _mm256_add_epi32(_mm256_add_epi32(i0, i1), _mm256_add_epi32(i2, i3));
    __m256i p = _mm256_packs_epi16(_mm256_packs_epi32(i0, i1), _mm256_packs_epi32(i2, i3));
    p = _mm256_permutevar8x32_epi32(p, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
    _mm256_storeu_si256((__m256i *)(void *)q, p);
}

QI float amax32(const float *x) {
    const __m256 sign = _mm256_set1_ps(-0.0f);
    __m256 m = _mm256_max_ps(_mm256_max_ps(_mm256_andnot_ps(sign, _mm256_loadu_ps(x)),
                                           _mm256_andnot_ps(sign, _mm256_loadu_ps(x + 8))),
                             _mm256_max_ps(_mm256_andnot_ps(sign, _mm256_loadu_ps(x + 16)),
                                           _mm256_andnot_ps(sign, _mm256_loadu_ps(x + 24))));
    __m128 b = _mm_max_ps(_mm256_castps256_ps128(m), _mm256_extractf128_ps(m, 1));
    b = _mm_max_ps(b, _mm_movehl_ps(b, b));
    b = _mm_max_ss(b, _mm_movehdup_ps(b));
    return _mm_cvtss_f32(b);
}

/* Q8_0-style: d per 32, and off * sum(q) (the offset term: off = -8 for
 * Q4_0, -16 for Q5_0), or with xm, d * sum(q) (Q4_1, Q5_1). */
QI void quant_rows_32_impl(const float *x, int64_t ldx, int mr, int64_t K, xq_buf *b, int off, bool xm) {
    for (int i = 0; i < mr; i++) {
        const float *xr = x + i * ldx;
        for (int64_t k = 0; k < K; k += 32) {
            float amax = amax32(xr + k);
            float d = amax / 127.0f, id = amax > 0.0f ? 127.0f / amax : 0.0f;
            __m256i sum;
            quant32(xr + k, id, XQ_QS(b, i) + k, &sum);
            const int32_t s = hsum8i(sum);
            XQ_D(b, i)[k / 32] = d;
            if (xm) XQ_XM(b, i)[k / 32] = d * (float)s;
            else XQ_S8(b, i)[k / 32] = off * s;
        }
    }
}

static void quant_rows_32(const float *x, int64_t ldx, int mr, int64_t K, xq_buf *b) {
    quant_rows_32_impl(x, ldx, mr, K, b, -8, false);
}

/* Q8_K-style: d per 256, and the sum of every 16 values. */
/* perm 1: store each 128 values' 32-value sub-blocks in the order 0, 2, 1, 3
 * (the Q4_K tile's nibble layout: one 64-byte load pairs sub-blocks 0 and 2,
 * the next 1 and 3); perm 2: the 32-value chunks of the two 128-value halves
 * interleaved, 0 4 1 5 2 6 3 7 (the Q2_K/Q3_K tiles: one 64-byte load of qs
 * holds chunk t of each half); the 16-value sums and xm stay in value order. */
QI void quant_rows_k_impl(const float *x, int64_t ldx, int mr, int64_t K, xq_buf *b, int perm) {
    for (int i = 0; i < mr; i++) {
        const float *xr = x + i * ldx;
        for (int64_t k = 0; k < K; k += 256) {
            float amax = 0.0f;
            for (int j = 0; j < 8; j++) {
                float a = amax32(xr + k + 32 * j);
                amax = a > amax ? a : amax;
            }
            float d = amax / 127.0f, id = amax > 0.0f ? 127.0f / amax : 0.0f;
            for (int j = 0; j < 8; j++) {
                __m256i sum; /* lane l sums values l, l+8, l+16, l+24: not the 16-sums, which follow */
                const int slot = perm == 1 ? (j & 4) | ((j & 1) << 1) | ((j >> 1) & 1) : perm == 2 ? 2 * (j & 3) + (j >> 2) : j;
                int8_t *dst = XQ_QS(b, i) + k + 32 * slot;
                quant32(xr + k + 32 * j, id, dst, &sum);
                for (int h = 0; h < 2; h++) {
                    const int8_t *q = dst + 16 * h;
                    __m128i v = _mm_loadu_si128((const __m128i *)(const void *)q);
                    __m128i w = _mm_madd_epi16(_mm_cvtepi8_epi16(v), _mm_set1_epi16(1));
                    w = _mm_add_epi32(w, _mm_madd_epi16(_mm_cvtepi8_epi16(_mm_srli_si128(v, 8)), _mm_set1_epi16(1)));
                    w = _mm_add_epi32(w, _mm_shuffle_epi32(w, 0x4e));
                    w = _mm_add_epi32(w, _mm_shuffle_epi32(w, 0xb1));
                    XQ_BS(b, i)[(k + 32 * j) / 16 + h] = (int16_t)_mm_cvtsi128_si32(w);
                }
            }
            XQ_D(b, i)[k / 256] = d;
            for (int j = 0; j < 8; j++)
                XQ_XM(b, i)[k / 32 + j] = d * (float)(XQ_BS(b, i)[k / 16 + 2 * j] + XQ_BS(b, i)[k / 16 + 2 * j + 1]);
        }
    }
}

static void quant_rows_k(const float *x, int64_t ldx, int mr, int64_t K, xq_buf *b) {
    quant_rows_k_impl(x, ldx, mr, K, b, 0);
}

/* ------------------------------------------------------------------------- */
/* register tiles                                                            */
/* ------------------------------------------------------------------------- */

typedef void (*qtile_fn)(const xq_buf *xb, const unsigned char *w, size_t rb, int64_t K, float *y, int64_t ldy,
                         int nv);

QI void wrows(const unsigned char **wr, const unsigned char *w, size_t rb, int nv) {
    for (int j = 0; j < QNR; j++) wr[j] = w + (size_t)(j < nv ? j : nv - 1) * rb;
}

QI void store_tile(int mr, int nrc, __m256 acc[QMR][QNR], float *y, int64_t ldy, int nv) {
    for (int i = 0; i < mr; i++)
        for (int j = 0; j < nrc; j++)
            if (j < nv) y[i * ldy + j] = hsum8q(acc[i][j]);
}

/* Byte offsets in the blocks of Q4_1, Q5_0, Q5_1 (d at 0; m at 2 for Q4_1/Q5_1). */
#define Q32_BYTES(t) ((t) == LLV_TYPE_Q4_1 ? (size_t)20 : (t) == LLV_TYPE_Q5_0 ? (size_t)22 : (size_t)24)
#define Q32_QS(t) ((t) == LLV_TYPE_Q4_1 ? 4 : (t) == LLV_TYPE_Q5_0 ? 6 : 8)
#define Q32_QH(t) ((t) == LLV_TYPE_Q5_0 ? 2 : 4)
_Static_assert(sizeof(x86_block_q4_1) == 20 && sizeof(x86_block_q5_0) == 22 && sizeof(x86_block_q5_1) == 24,
               "Q32_BYTES");
/* tile_q4_1_n etc.: tile_q32_n of that type */
#define Q32_TILE_N(T, ID)                                                                                            \
    QI void tile_##T##_n(int mr, int nrc, size_t pfd, const xq_buf *xb, const unsigned char *w, size_t rb,          \
                         int64_t K, float *y, int64_t ldy, int nv) {                                                 \
        tile_q32_n(ID, mr, nrc, pfd, xb, w, rb, K, y, ldy, nv);                                                      \
    }
#define Q32_TILES_N Q32_TILE_N(q4_1, LLV_TYPE_Q4_1) Q32_TILE_N(q5_0, LLV_TYPE_Q5_0) Q32_TILE_N(q5_1, LLV_TYPE_Q5_1)

#ifndef QZMM
QI void tile_q4_0_n(int mr, int nrc, size_t pfd, const xq_buf *xb, const unsigned char *w, size_t rb, int64_t K,
                    float *y, int64_t ldy, int nv) {
    const unsigned char *wr[QNR];
    wrows(wr, w, rb, nv);
    __m256 acc[QMR][QNR];
    for (int i = 0; i < mr; i++)
        for (int j = 0; j < nrc; j++) acc[i][j] = _mm256_setzero_ps();
    const __m128i lo4 = _mm_set1_epi8(0x0f);
    for (int64_t b = 0; b < K / 32; b++) {
        __m256i wq[QNR];
        __m256 dw[QNR];
        for (int j = 0; j < nrc; j++) {
            const x86_block_q4_0 *blk = (const x86_block_q4_0 *)(const void *)wr[j] + b;
            _mm_prefetch((const char *)blk + pfd, _MM_HINT_T0);
            __m128i v = _mm_loadu_si128((const __m128i *)(const void *)blk->qs);
            wq[j] = _mm256_set_m128i(_mm_and_si128(_mm_srli_epi16(v, 4), lo4), _mm_and_si128(v, lo4));
            dw[j] = _mm256_set1_ps(f16(blk->d));
        }
        for (int i = 0; i < mr; i++) {
            __m256i a = _mm256_load_si256((const __m256i *)(const void *)(XQ_QS(xb, i) + 32 * b));
            __m256i off = _mm256_zextsi128_si256(_mm_cvtsi32_si128(XQ_S8(xb, i)[b]));
            __m256 da = _mm256_set1_ps(XQ_D(xb, i)[b]);
            for (int j = 0; j < nrc; j++) {
                __m256i s = DPBUSD(off, wq[j], a); /* sum (q - 8) * a, exactly */
                acc[i][j] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(s), _mm256_mul_ps(dw[j], da), acc[i][j]);
            }
        }
    }
    store_tile(mr, nrc, acc, y, ldy, nv);
}

QI void tile_q8_0_n(int mr, int nrc, size_t pfd, const xq_buf *xb, const unsigned char *w, size_t rb, int64_t K,
                    float *y, int64_t ldy, int nv) {
    const unsigned char *wr[QNR];
    wrows(wr, w, rb, nv);
    __m256 acc[QMR][QNR];
    for (int i = 0; i < mr; i++)
        for (int j = 0; j < nrc; j++) acc[i][j] = _mm256_setzero_ps();
    for (int64_t b = 0; b < K / 32; b++) {
        __m256i wq[QNR], wa[QNR];
        __m256 dw[QNR];
        for (int j = 0; j < nrc; j++) {
            const x86_block_q8_0 *blk = (const x86_block_q8_0 *)(const void *)wr[j] + b;
            _mm_prefetch((const char *)blk + pfd, _MM_HINT_T0);
            wq[j] = _mm256_loadu_si256((const __m256i *)(const void *)blk->qs);
            wa[j] = _mm256_sign_epi8(wq[j], wq[j]); /* |w| as u8, the sign moves to a */
            dw[j] = _mm256_set1_ps(f16(blk->d));
        }
        for (int i = 0; i < mr; i++) {
            __m256i a = _mm256_load_si256((const __m256i *)(const void *)(XQ_QS(xb, i) + 32 * b));
            __m256 da = _mm256_set1_ps(XQ_D(xb, i)[b]);
            for (int j = 0; j < nrc; j++) {
                __m256i s = DPBUSD(_mm256_setzero_si256(), wa[j], _mm256_sign_epi8(a, wq[j]));
                acc[i][j] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(s), _mm256_mul_ps(dw[j], da), acc[i][j]);
            }
        }
    }
    store_tile(mr, nrc, acc, y, ldy, nv);
}

static void quant_rows_32h(const float *x, int64_t ldx, int mr, int64_t K, xq_buf *b) {
    quant_rows_32_impl(x, ldx, mr, K, b, -16, false);
}
static void quant_rows_32m(const float *x, int64_t ldx, int mr, int64_t K, xq_buf *b) {
    quant_rows_32_impl(x, ldx, mr, K, b, 0, true);
}

/* 0x10 in byte j of 32 where bit j of a Q5 block's qh (little-endian) is set. */
QI __m256i q5_hbits(const uint8_t *qh) {
    uint32_t h;
    memcpy(&h, qh, 4);
    /* byte j takes qh byte j / 8 (within each 128-bit half: bytes 0-1 low, 2-3 high) and tests bit j % 8 */
    const __m256i sel = _mm256_setr_epi64x(0, 0x0101010101010101ll, 0x0202020202020202ll, 0x0303030303030303ll);
    const __m256i bit = _mm256_set1_epi64x((long long)0x8040201008040201ull);
    __m256i v = _mm256_and_si256(_mm256_shuffle_epi8(_mm256_set1_epi32((int)h), sel), bit);
    return _mm256_and_si256(_mm256_cmpeq_epi8(v, bit), _mm256_set1_epi8(0x10));
}

/* Q4_1, Q5_0, Q5_1 (t) as tile_q4_0_n: Q5's 5th bits join the nibbles as
 * 0x10, Q5_0's offset -16*sum(q) starts the int32 sum, and Q4_1/Q5_1's min
 * term m * d*sum(q) is added to float lane 0 (the other lanes get 0 * x). */
QI void tile_q32_n(const int t, int mr, int nrc, size_t pfd, const xq_buf *xb, const unsigned char *w, size_t rb,
                   int64_t K, float *y, int64_t ldy, int nv) {
    const size_t bsz = Q32_BYTES(t);
    const bool has_m = t != LLV_TYPE_Q5_0, has_h = t != LLV_TYPE_Q4_1;
    const unsigned char *wr[QNR];
    wrows(wr, w, rb, nv);
    __m256 acc[QMR][QNR];
    for (int i = 0; i < mr; i++)
        for (int j = 0; j < nrc; j++) acc[i][j] = _mm256_setzero_ps();
    const __m128i lo4 = _mm_set1_epi8(0x0f);
    for (int64_t b = 0; b < K / 32; b++) {
        __m256i wq[QNR];
        __m256 dw[QNR], mw[QNR];
        for (int j = 0; j < nrc; j++) {
            const unsigned char *blk = wr[j] + (size_t)b * bsz;
            _mm_prefetch((const char *)blk + pfd, _MM_HINT_T0);
            __m128i v = _mm_loadu_si128((const __m128i *)(const void *)(blk + Q32_QS(t)));
            wq[j] = _mm256_set_m128i(_mm_and_si128(_mm_srli_epi16(v, 4), lo4), _mm_and_si128(v, lo4));
            if (has_h) wq[j] = _mm256_or_si256(wq[j], q5_hbits(blk + Q32_QH(t)));
            uint16_t h[2];
            memcpy(h, blk, 4);
            dw[j] = _mm256_set1_ps(f16(h[0]));
            mw[j] = has_m ? _mm256_zextps128_ps256(_mm_set_ss(f16(h[1]))) : _mm256_setzero_ps();
        }
        for (int i = 0; i < mr; i++) {
            __m256i a = _mm256_load_si256((const __m256i *)(const void *)(XQ_QS(xb, i) + 32 * b));
            __m256i off = t == LLV_TYPE_Q5_0 ? _mm256_zextsi128_si256(_mm_cvtsi32_si128(XQ_S8(xb, i)[b]))
                                             : _mm256_setzero_si256();
            __m256 da = _mm256_set1_ps(XQ_D(xb, i)[b]);
            __m256 xm = has_m ? _mm256_set1_ps(XQ_XM(xb, i)[b]) : _mm256_setzero_ps();
            for (int j = 0; j < nrc; j++) {
                __m256i s = DPBUSD(off, wq[j], a); /* sum q * a (Q5_0: (q - 16) * a), exactly */
                acc[i][j] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(s), _mm256_mul_ps(dw[j], da), acc[i][j]);
                if (has_m) acc[i][j] = _mm256_fmadd_ps(mw[j], xm, acc[i][j]);
            }
        }
    }
    store_tile(mr, nrc, acc, y, ldy, nv);
}

/* The 8 six-bit scales and mins of a Q4_K block as 16 int16 lanes
 * [sc0..sc7, m0..m7] (ggml's get_scale_min_k4 on all sub-blocks at once). */
QI __m256i q4k_scales_mins(const uint8_t *q) {
    uint32_t u[4];
    memcpy(u, q, 12);
    const uint32_t k1 = 0x3f3f3f3f, k2 = 0x0f0f0f0f, k3 = 0x03030303;
    u[3] = ((u[2] >> 4) & k2) | (((u[1] >> 6) & k3) << 4);
    uint32_t m03 = u[1] & k1;
    u[1] = (u[2] & k2) | (((u[0] >> 6) & k3) << 4);
    u[2] = m03;
    u[0] &= k1;
    /* bytes: sc0-3 | sc4-7 | m0-3 | m4-7 */
    return _mm256_cvtepu8_epi16(_mm_set_epi32((int)u[3], (int)u[2], (int)u[1], (int)u[0]));
}

QI void tile_q4_K_n(int mr, int nrc, size_t pfd, const xq_buf *xb, const unsigned char *w, size_t rb, int64_t K,
                    float *y, int64_t ldy, int nv) {
    const unsigned char *wr[QNR];
    wrows(wr, w, rb, nv);
    __m256 acc[QMR][QNR];
    for (int i = 0; i < mr; i++)
        for (int j = 0; j < nrc; j++) acc[i][j] = _mm256_setzero_ps();
    const __m256i lo4 = _mm256_set1_epi8(0x0f);
    for (int64_t b = 0; b < K / 256; b++) {
        const x86_block_q4_K *blk[QNR];
        __m256i scl[QNR], mins[QNR];
        __m256 dd[QNR], dm[QNR];
        for (int j = 0; j < nrc; j++) {
            blk[j] = (const x86_block_q4_K *)(const void *)wr[j] + b;
            for (int l = 0; l < 3; l++) _mm_prefetch((const char *)blk[j] + pfd + 64 * l, _MM_HINT_T0);
            __m256i sm = q4k_scales_mins(blk[j]->scales);
            __m128i sc = _mm256_castsi256_si128(sm), mn = _mm256_extracti128_si256(sm, 1);
            scl[j] = _mm256_broadcastsi128_si256(sc);                                   /* sc0..sc7 twice */
            mins[j] = _mm256_set_m128i(_mm_unpackhi_epi16(mn, mn), _mm_unpacklo_epi16(mn, mn)); /* m0 m0 m1 m1 .. */
            dd[j] = _mm256_set1_ps(f16(blk[j]->d));
            dm[j] = _mm256_set1_ps(f16(blk[j]->dmin));
        }
        __m256i isum[QMR][QNR];
        for (int i = 0; i < mr; i++)
            for (int j = 0; j < nrc; j++) isum[i][j] = _mm256_setzero_si256();
        for (int p = 0; p < 4; p++) { /* 64 values: sub-blocks 2p (low nibbles), 2p+1 (high) */
            /* pshufb indices broadcasting int16 lane 2p (resp. 2p+1) of each 128-bit half */
            const __m256i bl = _mm256_set1_epi16((short)(0x0100 + 0x0202 * (2 * p)));
            const __m256i bh = _mm256_set1_epi16((short)(0x0100 + 0x0202 * (2 * p + 1)));
            __m256i ql[QNR], qh[QNR], sl[QNR], sh[QNR];
            for (int j = 0; j < nrc; j++) {
                __m256i v = _mm256_loadu_si256((const __m256i *)(const void *)(blk[j]->qs + 32 * p));
                ql[j] = _mm256_and_si256(v, lo4);
                qh[j] = _mm256_and_si256(_mm256_srli_epi16(v, 4), lo4);
                sl[j] = _mm256_shuffle_epi8(scl[j], bl);
                sh[j] = _mm256_shuffle_epi8(scl[j], bh);
            }
            for (int i = 0; i < mr; i++) {
                const int8_t *q8 = XQ_QS(xb, i) + 256 * b + 64 * p;
                __m256i a0 = _mm256_load_si256((const __m256i *)(const void *)q8);
                __m256i a1 = _mm256_load_si256((const __m256i *)(const void *)(q8 + 32));
                for (int j = 0; j < nrc; j++) {
                    isum[i][j] = DPWSSD(isum[i][j], _mm256_maddubs_epi16(ql[j], a0), sl[j]);
                    isum[i][j] = DPWSSD(isum[i][j], _mm256_maddubs_epi16(qh[j], a1), sh[j]);
                }
            }
        }
        for (int i = 0; i < mr; i++) {
            __m256i bs = _mm256_load_si256((const __m256i *)(const void *)(XQ_BS(xb, i) + 16 * b));
            __m256 da = _mm256_set1_ps(XQ_D(xb, i)[b]);
            for (int j = 0; j < nrc; j++) {
                __m256i mt = _mm256_madd_epi16(bs, mins[j]);
                acc[i][j] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(isum[i][j]), _mm256_mul_ps(dd[j], da), acc[i][j]);
                acc[i][j] = _mm256_fnmadd_ps(_mm256_cvtepi32_ps(mt), _mm256_mul_ps(dm[j], da), acc[i][j]);
            }
        }
    }
    store_tile(mr, nrc, acc, y, ldy, nv);
}

QI void tile_q6_K_n(int mr, int nrc, size_t pfd, const xq_buf *xb, const unsigned char *w, size_t rb, int64_t K,
                    float *y, int64_t ldy, int nv) {
    const unsigned char *wr[QNR];
    wrows(wr, w, rb, nv);
    __m256 acc[QMR][QNR];
    for (int i = 0; i < mr; i++)
        for (int j = 0; j < nrc; j++) acc[i][j] = _mm256_setzero_ps();
    const __m256i m4 = _mm256_set1_epi8(0x0f), m2 = _mm256_set1_epi8(0x03), m2b = _mm256_set1_epi8(0x0c),
                  m2c = _mm256_set1_epi8(0x30), m2d = _mm256_set1_epi8((char)0xc0);
    for (int64_t b = 0; b < K / 256; b++) {
        const x86_block_q6_K *blk[QNR];
        __m256i scv[QNR];
        for (int j = 0; j < nrc; j++) {
            blk[j] = (const x86_block_q6_K *)(const void *)wr[j] + b;
            for (int l = 0; l < 4; l++) _mm_prefetch((const char *)blk[j] + pfd + 64 * l, _MM_HINT_T0);
            scv[j] = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(const void *)blk[j]->scales));
        }
        __m256i isum[QMR][QNR];
        for (int i = 0; i < mr; i++) {
            __m256i bs = _mm256_load_si256((const __m256i *)(const void *)(XQ_BS(xb, i) + 16 * b));
            for (int j = 0; j < nrc; j++) /* the -32 offset: -32 * sum_s sc_s * sum16_s */
                isum[i][j] = _mm256_sub_epi32(_mm256_setzero_si256(), _mm256_slli_epi32(_mm256_madd_epi16(bs, scv[j]), 5));
        }
        for (int h = 0; h < 2; h++) {
            for (int c = 0; c < 4; c++) {
                __m256i q[QNR], s16[QNR];
                for (int j = 0; j < nrc; j++) {
                    const uint8_t *ql = blk[j]->ql + 64 * h, *qh = blk[j]->qh + 32 * h;
                    __m256i l = _mm256_loadu_si256((const __m256i *)(const void *)(ql + 32 * (c & 1)));
                    __m256i hb = _mm256_loadu_si256((const __m256i *)(const void *)qh);
                    __m256i lo = c < 2 ? _mm256_and_si256(l, m4) : _mm256_and_si256(_mm256_srli_epi16(l, 4), m4);
                    __m256i hi;
                    if (c == 0) hi = _mm256_slli_epi16(_mm256_and_si256(hb, m2), 4);
                    else if (c == 1) hi = _mm256_slli_epi16(_mm256_and_si256(hb, m2b), 2);
                    else if (c == 2) hi = _mm256_and_si256(hb, m2c);
                    else hi = _mm256_srli_epi16(_mm256_and_si256(hb, m2d), 2);
                    q[j] = _mm256_or_si256(lo, hi);
                    const int8_t *sc = blk[j]->scales + 8 * h + 2 * c;
                    s16[j] = _mm256_set_m128i(_mm_set1_epi16(sc[1]), _mm_set1_epi16(sc[0]));
                }
                for (int i = 0; i < mr; i++) {
                    __m256i a = _mm256_load_si256((const __m256i *)(const void *)(XQ_QS(xb, i) + 256 * b + 128 * h + 32 * c));
                    for (int j = 0; j < nrc; j++)
                        isum[i][j] = DPWSSD(isum[i][j], _mm256_maddubs_epi16(q[j], a), s16[j]);
                }
            }
        }
        for (int i = 0; i < mr; i++) {
            float da = XQ_D(xb, i)[b];
            for (int j = 0; j < nrc; j++)
                acc[i][j] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(isum[i][j]), _mm256_set1_ps(f16(blk[j]->d) * da),
                                            acc[i][j]);
        }
    }
    store_tile(mr, nrc, acc, y, ldy, nv);
}


/* QNR-row tiles for batches; decode one weight row at a time (see DEC_PF),
 * with the same arithmetic per output. */
#define QTILE_WRAP(T)                                                                                                \
    QI void tile_##T(int mr, const xq_buf *xb, const unsigned char *w, size_t rb, int64_t K, float *y, int64_t ldy, \
                     int nv) {                                                                                       \
        tile_##T##_n(mr, QNR, QNR * rb, xb, w, rb, K, y, ldy, nv);                                                  \
    }
Q32_TILES_N
QTILE_WRAP(q4_0)
QTILE_WRAP(q4_1)
QTILE_WRAP(q5_0)
QTILE_WRAP(q5_1)
QTILE_WRAP(q8_0)
QTILE_WRAP(q4_K)
QTILE_WRAP(q6_K)
#define QROW_q4_0(mr, xb, w, rb, K, y, ldy) tile_q4_0_n(mr, 1, DEC_PF, xb, w, rb, K, y, ldy, 1)
#define QROW_q4_1(mr, xb, w, rb, K, y, ldy) tile_q4_1_n(mr, 1, DEC_PF, xb, w, rb, K, y, ldy, 1)
#define QROW_q5_0(mr, xb, w, rb, K, y, ldy) tile_q5_0_n(mr, 1, DEC_PF, xb, w, rb, K, y, ldy, 1)
#define QROW_q5_1(mr, xb, w, rb, K, y, ldy) tile_q5_1_n(mr, 1, DEC_PF, xb, w, rb, K, y, ldy, 1)
#define QROW_q8_0(mr, xb, w, rb, K, y, ldy) tile_q8_0_n(mr, 1, DEC_PF, xb, w, rb, K, y, ldy, 1)
#define QROW_q4_K(mr, xb, w, rb, K, y, ldy) tile_q4_K_n(mr, 1, DEC_PF, xb, w, rb, K, y, ldy, 1)
#define QROW_q6_K(mr, xb, w, rb, K, y, ldy) tile_q6_K_n(mr, 1, DEC_PF, xb, w, rb, K, y, ldy, 1)
#define Q40_QUANT quant_rows_32, 32
#define Q50_QUANT quant_rows_32h, 32
#define QMIN_QUANT quant_rows_32m, 32
#define Q80_QUANT quant_rows_32
#define Q4K_QUANT quant_rows_k
#else
#include "quant-zmm.h"
#endif
#include "quant-kq.h" /* Q2_K, Q3_K, Q5_K */

/* ------------------------------------------------------------------------- */
/* drivers                                                                   */
/* ------------------------------------------------------------------------- */

#define QTILE_FNS(NAME, MRV)                                                                                         \
    static void NAME##_##MRV(const xq_buf *xb, const unsigned char *w, size_t rb, int64_t K, float *y, int64_t ldy,  \
                             int nv) { tile_##NAME(MRV, xb, w, rb, K, y, ldy, nv); }

#define QTILES2(NAME) QTILE_FNS(NAME, 1) QTILE_FNS(NAME, 2)
#define QTILES4(NAME) QTILES2(NAME) QTILE_FNS(NAME, 3) QTILE_FNS(NAME, 4)
#define QTILES8(NAME) QTILES4(NAME) QTILE_FNS(NAME, 5) QTILE_FNS(NAME, 6) QTILE_FNS(NAME, 7) QTILE_FNS(NAME, 8)
#define QLIST2(NAME) NAME##_1, NAME##_2
#define QLIST4(NAME) QLIST2(NAME), NAME##_3, NAME##_4
#define QLIST8(NAME) QLIST4(NAME), NAME##_5, NAME##_6, NAME##_7, NAME##_8
#define QCAT(a, b) a##b
#define QX(a, b) QCAT(a, b)
/* tiles_NAME[mr - 1] for mr = 1..ROWS (ROWS a literal 2, 4 or 8) */
#define QTILES(NAME, ROWS)                                                                                           \
    QX(QTILES, ROWS)(NAME) static const qtile_fn tiles_##NAME[ROWS] = {QX(QLIST, ROWS)(NAME)};

#if QMR == 4
QTILES(q4_0, 4)
QTILES(q4_1, 4)
QTILES(q5_0, 4)
QTILES(q5_1, 4)
QTILES(q8_0, 4)
#elif QMR == 2
QTILES(q4_0, 2)
QTILES(q4_1, 2)
QTILES(q5_0, 2)
QTILES(q5_1, 2)
QTILES(q8_0, 2)
#else
#error "QMR must be 2 or 4"
#endif
#if QMRK == 8
QTILES(q4_K, 8)
QTILES(q6_K, 8)
QTILES(q2_K, 8)
QTILES(q3_K, 8)
QTILES(q5_K, 8)
#elif QMRK == 4
QTILES(q4_K, 4)
QTILES(q6_K, 4)
QTILES(q2_K, 4)
QTILES(q3_K, 4)
QTILES(q5_K, 4)
#elif QMRK == 2
QTILES(q4_K, 2)
QTILES(q6_K, 2)
QTILES(q2_K, 2)
QTILES(q3_K, 2)
QTILES(q5_K, 2)
#else
#error "QMRK must be 2, 4 or 8"
#endif

typedef void (*quant_rows_fn)(const float *x, int64_t ldx, int mr, int64_t K, xq_buf *b);

/* Decode: M = mr <= DEC_MR x rows (one per stream) against weight rows n0..n1
 * one at a time, in address order. */
typedef void (*qrows_fn)(const xq_buf *xb, const unsigned char *w, size_t rb, int64_t K, float *y, int64_t ldy,
                         int64_t n0, int64_t n1);
#define QROWS_FN(NAME, MRV)                                                                                          \
    static void NAME##_rows_##MRV(const xq_buf *xb, const unsigned char *w, size_t rb, int64_t K, float *y,         \
                                  int64_t ldy, int64_t n0, int64_t n1) {                                             \
        for (int64_t n = n0; n < n1; n++) QROW_##NAME(MRV, xb, w + (size_t)n * rb, rb, K, y + n, ldy);             \
    }
#if DEC_MR == 4
#define QROWS(NAME)                                                                                                  \
    QROWS_FN(NAME, 1) QROWS_FN(NAME, 2) QROWS_FN(NAME, 3) QROWS_FN(NAME, 4) static const qrows_fn rows_##NAME[4] = { \
        NAME##_rows_1, NAME##_rows_2, NAME##_rows_3, NAME##_rows_4};
#elif DEC_MR == 2
#define QROWS(NAME)                                                                                                  \
    QROWS_FN(NAME, 1) QROWS_FN(NAME, 2) static const qrows_fn rows_##NAME[2] = {NAME##_rows_1, NAME##_rows_2};
#else
#error "DEC_MR must be 2 or 4"
#endif
QROWS(q4_0)
QROWS(q4_1)
QROWS(q5_0)
QROWS(q5_1)
QROWS(q8_0)
QROWS(q4_K)
QROWS(q6_K)
QROWS(q2_K)
QROWS(q3_K)
QROWS(q5_K)

/* Quantizes as many x rows as the stack buffer holds (all of them for
 * decode and short prompts), then runs weight rows in L2-sized blocks with
 * every quantized x row tile passing over each block. */
/* quant writes rows of K rounded up to kpad values (its layout's group). */
static void qmatmul(int type, const qtile_fn *tiles, int mrt, int nr, const qrows_fn *dec, int dec_mr, quant_rows_fn quant,
                    int64_t kpad, size_t blk_bytes, int64_t bs, LLV_MATMUL_ARGS) {
    if (K > XQ_MAX_K) {
        llv_kernels_ref()->matmul[type](w, w_row_bytes, x, ldx, M, K, y, ldy, n0, n1);
        return;
    }
    _Alignas(64) unsigned char mem[XQ_STACK];
    const unsigned char *wb = w;
    size_t row = (size_t)(K / bs) * blk_bytes;
    const int64_t kp = (K + kpad - 1) / kpad * kpad; /* <= XQ_MAX_K, a multiple of every kpad */
    int64_t cap = (int64_t)((XQ_STACK - 5 * 64) / xq_row_bytes(kp)) / QMR * QMR; /* >= QMR >= DEC_MR */
    if (M >= 1 && M <= dec_mr) { /* decode */
        xq_buf xb;
        xq_init(&xb, mem, M, kp);
        quant(x, ldx, (int)M, K, &xb);
        dec[M - 1](&xb, wb, w_row_bytes, K, y, ldy, n0, n1);
        return;
    }
    int64_t nb = (int64_t)((512u << 10) / (row + 1)) / nr * nr;
    if (nb < nr) nb = nr;
    for (int64_t m0 = 0; m0 < M; m0 += cap) {
        int64_t rows = M - m0 < cap ? M - m0 : cap;
        xq_buf xb;
        xq_init(&xb, mem, rows, kp);
        quant(x + m0 * ldx, ldx, (int)rows, K, &xb);
        for (int64_t b0 = n0; b0 < n1; b0 += nb) {
            int64_t b1 = b0 + nb < n1 ? b0 + nb : n1;
            for (int64_t m = 0; m < rows; m += mrt) {
                int mr = (int)(rows - m < mrt ? rows - m : mrt);
                xq_buf v = xq_rows(&xb, m);
                qtile_fn f = tiles[mr - 1];
                for (int64_t n = b0; n < b1; n += nr) {
                    int nv = (int)(b1 - n < nr ? b1 - n : nr);
                    f(&v, wb + (size_t)n * w_row_bytes, w_row_bytes, K, y + (m0 + m) * ldy + n, ldy, nv);
                }
            }
        }
    }
}

void PFX(matmul_q4_0)(LLV_MATMUL_ARGS) {
    qmatmul(LLV_TYPE_Q4_0, tiles_q4_0, QMR, QNR32, rows_q4_0, DEC_MR_4BIT, Q40_QUANT, sizeof(x86_block_q4_0), 32, w, w_row_bytes, x, ldx, M, K, y,
            ldy, n0, n1);
}
/* Q4_1/Q5_0/Q5_1 decode like Q4_0 (one weight row at a time up to DEC_MR_4BIT x rows). */
void PFX(matmul_q4_1)(LLV_MATMUL_ARGS) {
    qmatmul(LLV_TYPE_Q4_1, tiles_q4_1, QMR, QNR32, rows_q4_1, DEC_MR_4BIT, QMIN_QUANT, sizeof(x86_block_q4_1), 32, w,
            w_row_bytes, x, ldx, M, K, y, ldy, n0, n1);
}
void PFX(matmul_q5_0)(LLV_MATMUL_ARGS) {
    qmatmul(LLV_TYPE_Q5_0, tiles_q5_0, QMR, QNR32, rows_q5_0, DEC_MR_4BIT, Q50_QUANT, sizeof(x86_block_q5_0), 32, w,
            w_row_bytes, x, ldx, M, K, y, ldy, n0, n1);
}
void PFX(matmul_q5_1)(LLV_MATMUL_ARGS) {
    qmatmul(LLV_TYPE_Q5_1, tiles_q5_1, QMR, QNR32, rows_q5_1, DEC_MR_4BIT, QMIN_QUANT, sizeof(x86_block_q5_1), 32, w,
            w_row_bytes, x, ldx, M, K, y, ldy, n0, n1);
}
void PFX(matmul_q8_0)(LLV_MATMUL_ARGS) {
    qmatmul(LLV_TYPE_Q8_0, tiles_q8_0, QMR, QNR32, rows_q8_0, DEC_MR, Q80_QUANT, 32, sizeof(x86_block_q8_0), 32, w, w_row_bytes, x, ldx, M, K, y,
            ldy, n0, n1);
}
void PFX(matmul_q4_K)(LLV_MATMUL_ARGS) {
    qmatmul(LLV_TYPE_Q4_K, tiles_q4_K, QMRK, QNR, rows_q4_K, DEC_MR_4BIT, Q4K_QUANT, 256, sizeof(x86_block_q4_K), 256, w, w_row_bytes, x, ldx, M, K, y,
            ldy, n0, n1);
}
void PFX(matmul_q6_K)(LLV_MATMUL_ARGS) {
    qmatmul(LLV_TYPE_Q6_K, tiles_q6_K, QMRK, QNR, rows_q6_K, DEC_MR, quant_rows_k, 256, sizeof(x86_block_q6_K), 256, w, w_row_bytes, x, ldx, M, K, y,
            ldy, n0, n1);
}
/* Q2_K, Q3_K, Q5_K (quant-kq.h): one-row decode for up to 2 x rows, like Q4_K */
void PFX(matmul_q2_K)(LLV_MATMUL_ARGS) {
    qmatmul(LLV_TYPE_Q2_K, tiles_q2_K, QMRK, QNR, rows_q2_K, DEC_MR_4BIT, Q2K_QUANT, 256, sizeof(x86_block_q2_K), 256, w,
            w_row_bytes, x, ldx, M, K, y, ldy, n0, n1);
}
void PFX(matmul_q3_K)(LLV_MATMUL_ARGS) {
    qmatmul(LLV_TYPE_Q3_K, tiles_q3_K, QMRK, QNR, rows_q3_K, DEC_MR_4BIT, Q2K_QUANT, 256, sizeof(x86_block_q3_K), 256, w,
            w_row_bytes, x, ldx, M, K, y, ldy, n0, n1);
}
void PFX(matmul_q5_K)(LLV_MATMUL_ARGS) {
    qmatmul(LLV_TYPE_Q5_K, tiles_q5_K, QMRK, QNR, rows_q5_K, DEC_MR_4BIT, Q5K_QUANT, 256, sizeof(x86_block_q5_K), 256, w,
            w_row_bytes, x, ldx, M, K, y, ldy, n0, n1);
}
