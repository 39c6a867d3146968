/* neon-quant-impl.h - quantized matmul kernels, included once per ISA by
 * neon-quant.c (ARMv8.0: SMULL + SADALP) and neon-dotprod-quant.c (SDOT).
 *
 * The includer defines:
 *   PFX(name)          function name prefix
 *   DOT(acc, a, b)     acc + the products of int8x16 a and b, summed into the
 *                      4 int32 lanes (any grouping: only the lane total is used)
 *   QI8MM              (optional) tiles of 2 x rows x 2 weight rows on SMMLA
 *                      (neon-i8mm-quant.c), the same int32 per block
 *
 * Activations are quantized on the fly as on x86 (kernels/x86/quant-impl.h):
 * per 32 values (d = amax/127, rounded to nearest even, and each block's sum
 * of q for the min terms) for the 32-value weight types, per 256 with the
 * 16-value sums for the K-quants, into a stack buffer, no allocation. Each
 * weight block is unpacked once into signed int8 values (and, for the
 * K-quants, 16 per-16-value scales and mins) and then dotted with every x row
 * of the tile. Integer sums are exact and reduced to one int32 per block (per
 * sub-block scale group), so the neon and neon-dotprod tables give the same
 * bits; each block's sum is scaled and accumulated in one float in block
 * order: the order depends only on K, never on M, the row range or the
 * thread count. K above XQ_MAX_K falls back to the reference kernel. */
#include "arm-kernels.h"

#include "../ref/ref-quant.h"
#include "common.h"

#include <arm_neon.h>
#include <math.h>
#include <string.h>

#define XQ_MAX_K 32768
#define XQ_STACK (256u << 10)
#define QMT 8 /* x rows per tile: each unpacked weight block serves up to 8 rows */
#define QI static inline __attribute__((always_inline))

_Static_assert(2 * (XQ_MAX_K + XQ_MAX_K / 32 * 8 + XQ_MAX_K / 16 * 2) + 4 * 64 <= XQ_STACK, "XQ_STACK too small");

/* Quantized activation rows: per row qs[K]; per 32 values (32-value types) d
 * and the sum of q, or per 256 d and per 16 values the sums (K-quants). */
typedef struct xq_buf {
    int8_t  *qs;
    float   *d;
    int32_t *s32;
    int16_t *bs;
    int64_t  K;
} xq_buf;
#define XQ_QS(b, i) ((b)->qs + (i) * (b)->K)
#define XQ_D(b, i) ((b)->d + (i) * ((b)->K / 32))
#define XQ_S(b, i) ((b)->s32 + (i) * ((b)->K / 32))
#define XQ_BS(b, i) ((b)->bs + (i) * ((b)->K / 16))
#define XQ_ALIGN(n) (((n) + 63) & ~(size_t)63)

QI size_t xq_row_bytes(int64_t K) { return (size_t)K + (size_t)(K / 32) * 8 + (size_t)(K / 16) * 2; }

QI void xq_init(xq_buf *b, unsigned char *mem, int64_t rows, int64_t K) {
    size_t o = 0;
    b->K = K;
    b->qs = (int8_t *)(void *)mem;
    o = XQ_ALIGN((size_t)(rows * K));
    b->d = (float *)(void *)(mem + o);
    o = XQ_ALIGN(o + (size_t)(rows * (K / 32)) * 4);
    b->s32 = (int32_t *)(void *)(mem + o);
    o = XQ_ALIGN(o + (size_t)(rows * (K / 32)) * 4);
    b->bs = (int16_t *)(void *)(mem + o);
}

QI xq_buf xq_rows(const xq_buf *b, int64_t i) {
    xq_buf r = {XQ_QS(b, i), XQ_D(b, i), XQ_S(b, i), XQ_BS(b, i), b->K};
    return r;
}

QI float amax_n(const float *x, int n) {
    float32x4_t m = vdupq_n_f32(0.0f);
    for (int i = 0; i < n; i += 4) m = vmaxq_f32(m, vabsq_f32(vld1q_f32(x + i)));
    return vmaxvq_f32(m);
}

/* 16 floats * id -> 16 int8 (round to nearest even; |x * id| <= 127) */
QI int8x16_t quant16(const float *x, float id) {
    int32x4_t i0 = vcvtnq_s32_f32(vmulq_n_f32(vld1q_f32(x), id));
    int32x4_t i1 = vcvtnq_s32_f32(vmulq_n_f32(vld1q_f32(x + 4), id));
    int32x4_t i2 = vcvtnq_s32_f32(vmulq_n_f32(vld1q_f32(x + 8), id));
    int32x4_t i3 = vcvtnq_s32_f32(vmulq_n_f32(vld1q_f32(x + 12), id));
    int16x8_t h0 = vcombine_s16(vmovn_s32(i0), vmovn_s32(i1)), h1 = vcombine_s16(vmovn_s32(i2), vmovn_s32(i3));
    return vcombine_s8(vmovn_s16(h0), vmovn_s16(h1));
}

QI int32_t sum16(int8x16_t q) { return vaddlvq_s8(q); }

/* Q8_0-style: d per 32 and the sum of the 32 q */
static void quant_rows_32(const float *x, int64_t ldx, int mr, int64_t K, xq_buf *b) {
    for (int i = 0; i < mr; i++) {
        const float *xr = x + i * ldx;
        for (int64_t k = 0; k < K; k += 32) {
            const float amax = amax_n(xr + k, 32);
            const float id = amax > 0.0f ? 127.0f / amax : 0.0f;
            int8x16_t q0 = quant16(xr + k, id), q1 = quant16(xr + k + 16, id);
            vst1q_s8(XQ_QS(b, i) + k, q0);
            vst1q_s8(XQ_QS(b, i) + k + 16, q1);
            XQ_D(b, i)[k / 32] = amax / 127.0f;
            XQ_S(b, i)[k / 32] = sum16(q0) + sum16(q1);
        }
    }
}

/* Q8_K-style: d per 256 and the sum of every 16 q */
static void quant_rows_k(const float *x, int64_t ldx, int mr, int64_t K, xq_buf *b) {
    for (int i = 0; i < mr; i++) {
        const float *xr = x + i * ldx;
        for (int64_t k = 0; k < K; k += 256) {
            const float amax = amax_n(xr + k, 256);
            const float id = amax > 0.0f ? 127.0f / amax : 0.0f;
            for (int s = 0; s < 16; s++) {
                int8x16_t q = quant16(xr + k + 16 * s, id);
                vst1q_s8(XQ_QS(b, i) + k + 16 * s, q);
                XQ_BS(b, i)[(k + 16 * s) / 16] = (int16_t)sum16(q);
            }
            XQ_D(b, i)[k / 256] = amax / 127.0f;
        }
    }
}

/* ------------------------------------------------------------------------- */
/* weight unpacking                                                          */
/* ------------------------------------------------------------------------- */

QI float f16(uint16_t h) { return llv_f16_to_f32(h); }

/* 0x10 in byte j (j < 16) where bit j + 16*half of a Q5 block's qh is set */
QI uint8x16_t q5_hbits(const uint8_t *qh, int half) {
    uint32_t h;
    memcpy(&h, qh, 4);
    static const uint8_t sel[2][16] = {{0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1},
                                       {2, 2, 2, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3}};
    static const uint8_t bit[16] = {1, 2, 4, 8, 16, 32, 64, 128, 1, 2, 4, 8, 16, 32, 64, 128};
    uint8x16_t v = vqtbl1q_u8(vreinterpretq_u8_u32(vdupq_n_u32(h)), vld1q_u8(sel[half]));
    return vandq_u8(vtstq_u8(v, vld1q_u8(bit)), vdupq_n_u8(0x10));
}

/* A 32-value block as signed values w[0..31] (two vectors), its d and min. */
typedef struct w32 {
    int8x16_t lo, hi;
    float     d, m;
} w32;

QI w32 unpack32(const int t, const unsigned char *blk) {
    w32 r;
    uint16_t h[2];
    memcpy(h, blk, 4);
    r.d = f16(h[0]);
    r.m = 0.0f;
    if (t == LLV_TYPE_Q8_0) {
        r.lo = vld1q_s8((const int8_t *)(blk + 2));
        r.hi = vld1q_s8((const int8_t *)(blk + 18));
        return r;
    }
    const size_t qs = t == LLV_TYPE_Q4_0 ? 2 : t == LLV_TYPE_Q4_1 ? 4 : t == LLV_TYPE_Q5_0 ? 6 : 8;
    uint8x16_t v = vld1q_u8(blk + qs);
    uint8x16_t lo = vandq_u8(v, vdupq_n_u8(0x0f)), hi = vshrq_n_u8(v, 4);
    if (t == LLV_TYPE_Q5_0 || t == LLV_TYPE_Q5_1) {
        const uint8_t *qh = blk + (t == LLV_TYPE_Q5_0 ? 2 : 4);
        lo = vorrq_u8(lo, q5_hbits(qh, 0));
        hi = vorrq_u8(hi, q5_hbits(qh, 1));
    }
    if (t == LLV_TYPE_Q4_1 || t == LLV_TYPE_Q5_1) r.m = f16(h[1]);
    const int off = t == LLV_TYPE_Q4_0 ? 8 : t == LLV_TYPE_Q5_0 ? 16 : 0;
    r.lo = vsubq_s8(vreinterpretq_s8_u8(lo), vdupq_n_s8((int8_t)off));
    r.hi = vsubq_s8(vreinterpretq_s8_u8(hi), vdupq_n_s8((int8_t)off));
    return r;
}

/* A K-quant block: 256 signed values, 16 scales and mins (one per 16 values;
 * the 32-value sub-block types repeat theirs), d and dmin. */
typedef struct wk {
    _Alignas(16) int8_t q[256];
    int32_t sc[16];
    int16_t mn[16];
    float   d, dmin;
} wk;

QI void q4k_scales(const uint8_t *scales, wk *r) {
    for (int j = 0; j < 8; j++) {
        uint8_t sc, m;
        llv_q4k_scale_min(j, scales, &sc, &m);
        r->sc[2 * j] = r->sc[2 * j + 1] = sc;
        r->mn[2 * j] = r->mn[2 * j + 1] = (int16_t)m;
    }
}

QI void unpack_k(const int t, const unsigned char *blk, wk *r) {
    const uint8x16_t m4 = vdupq_n_u8(0x0f), m2 = vdupq_n_u8(0x03);
    if (t == LLV_TYPE_Q4_K || t == LLV_TYPE_Q5_K) {
        const llv_block_q4_K *b4 = (const void *)blk;
        const llv_block_q5_K *b5 = (const void *)blk;
        const uint8_t *qs = t == LLV_TYPE_Q4_K ? b4->qs : b5->qs;
        r->d = f16(t == LLV_TYPE_Q4_K ? b4->d : b5->d);
        r->dmin = f16(t == LLV_TYPE_Q4_K ? b4->dmin : b5->dmin);
        q4k_scales(t == LLV_TYPE_Q4_K ? b4->scales : b5->scales, r);
        uint8x16_t h0 = vdupq_n_u8(0), h1 = vdupq_n_u8(0);
        if (t == LLV_TYPE_Q5_K) {
            h0 = vld1q_u8(b5->qh);
            h1 = vld1q_u8(b5->qh + 16);
        }
        for (int p = 0; p < 4; p++) { /* 64 values: sub-block 2p the low nibbles, 2p+1 the high */
            uint8x16_t v0 = vld1q_u8(qs + 32 * p), v1 = vld1q_u8(qs + 32 * p + 16);
            uint8x16_t a = vandq_u8(v0, m4), b = vandq_u8(v1, m4), c = vshrq_n_u8(v0, 4), d = vshrq_n_u8(v1, 4);
            if (t == LLV_TYPE_Q5_K) { /* the fifth bit of value 32c + l is bit c of qh[l] */
                const uint8x16_t bl = vdupq_n_u8((uint8_t)(1u << (2 * p))), bh = vdupq_n_u8((uint8_t)(2u << (2 * p)));
                const uint8x16_t x10 = vdupq_n_u8(0x10);
                a = vorrq_u8(a, vandq_u8(vtstq_u8(h0, bl), x10));
                b = vorrq_u8(b, vandq_u8(vtstq_u8(h1, bl), x10));
                c = vorrq_u8(c, vandq_u8(vtstq_u8(h0, bh), x10));
                d = vorrq_u8(d, vandq_u8(vtstq_u8(h1, bh), x10));
            }
            vst1q_s8(r->q + 64 * p, vreinterpretq_s8_u8(a));
            vst1q_s8(r->q + 64 * p + 16, vreinterpretq_s8_u8(b));
            vst1q_s8(r->q + 64 * p + 32, vreinterpretq_s8_u8(c));
            vst1q_s8(r->q + 64 * p + 48, vreinterpretq_s8_u8(d));
        }
    } else if (t == LLV_TYPE_Q6_K) {
        const llv_block_q6_K *b = (const void *)blk;
        r->d = f16(b->d);
        r->dmin = 0.0f;
        for (int s = 0; s < 16; s++) {
            r->sc[s] = b->scales[s];
            r->mn[s] = 0;
        }
        const int8x16_t o32 = vdupq_n_s8(32);
        for (int h = 0; h < 2; h++) {
            const uint8_t *ql = b->ql + 64 * h, *qh = b->qh + 32 * h;
            int8_t *q = r->q + 128 * h;
            for (int l = 0; l < 32; l += 16) {
                uint8x16_t L0 = vld1q_u8(ql + l), L1 = vld1q_u8(ql + 32 + l), H = vld1q_u8(qh + l);
                uint8x16_t v0 = vorrq_u8(vandq_u8(L0, m4), vshlq_n_u8(vandq_u8(H, m2), 4));
                uint8x16_t v1 = vorrq_u8(vandq_u8(L1, m4), vshlq_n_u8(vandq_u8(vshrq_n_u8(H, 2), m2), 4));
                uint8x16_t v2 = vorrq_u8(vshrq_n_u8(L0, 4), vshlq_n_u8(vandq_u8(vshrq_n_u8(H, 4), m2), 4));
                uint8x16_t v3 = vorrq_u8(vshrq_n_u8(L1, 4), vshlq_n_u8(vshrq_n_u8(H, 6), 4));
                vst1q_s8(q + l, vsubq_s8(vreinterpretq_s8_u8(v0), o32));
                vst1q_s8(q + 32 + l, vsubq_s8(vreinterpretq_s8_u8(v1), o32));
                vst1q_s8(q + 64 + l, vsubq_s8(vreinterpretq_s8_u8(v2), o32));
                vst1q_s8(q + 96 + l, vsubq_s8(vreinterpretq_s8_u8(v3), o32));
            }
        }
    } else { /* Q2_K, Q3_K: 2 low bits of value 128h + 32t + l in bits 2t of qs[32h + l] */
        const llv_block_q2_K *b2 = (const void *)blk;
        const llv_block_q3_K *b3 = (const void *)blk;
        const uint8_t *qs = t == LLV_TYPE_Q2_K ? b2->qs : b3->qs;
        uint8x16_t hm0 = vdupq_n_u8(0), hm1 = vdupq_n_u8(0);
        if (t == LLV_TYPE_Q2_K) {
            r->d = f16(b2->d);
            r->dmin = f16(b2->dmin);
            for (int s = 0; s < 16; s++) {
                r->sc[s] = b2->scales[s] & 0xF;
                r->mn[s] = (int16_t)(b2->scales[s] >> 4);
            }
        } else {
            int8_t sc[16];
            llv_q3k_scales(b3->scales, sc);
            r->d = f16(b3->d);
            r->dmin = 0.0f;
            for (int s = 0; s < 16; s++) {
                r->sc[s] = sc[s];
                r->mn[s] = 0;
            }
            hm0 = vld1q_u8(b3->hmask);
            hm1 = vld1q_u8(b3->hmask + 16);
        }
        for (int h = 0; h < 2; h++) {
            uint8x16_t Q0 = vld1q_u8(qs + 32 * h), Q1 = vld1q_u8(qs + 32 * h + 16);
            for (int t2 = 0; t2 < 4; t2++) {
                const int8x16_t sh = vdupq_n_s8((int8_t)(-2 * t2));
                uint8x16_t a = vandq_u8(vshlq_u8(Q0, sh), m2), b = vandq_u8(vshlq_u8(Q1, sh), m2);
                if (t == LLV_TYPE_Q3_K) { /* value 32c + l: minus 4 unless bit c of hmask[l] is set */
                    const uint8x16_t bit = vdupq_n_u8((uint8_t)(1u << (4 * h + t2))), four = vdupq_n_u8(4);
                    a = vsubq_u8(a, vbicq_u8(four, vtstq_u8(hm0, bit)));
                    b = vsubq_u8(b, vbicq_u8(four, vtstq_u8(hm1, bit)));
                }
                vst1q_s8(r->q + 128 * h + 32 * t2, vreinterpretq_s8_u8(a));
                vst1q_s8(r->q + 128 * h + 32 * t2 + 16, vreinterpretq_s8_u8(b));
            }
        }
    }
}

/* sum of mn[j] * bs[j] over the 16 sub-blocks, exactly */
QI int32_t mins_dot(const int16_t *mn, const int16_t *bs) {
    const int16x8_t m0 = vld1q_s16(mn), m1 = vld1q_s16(mn + 8), b0 = vld1q_s16(bs), b1 = vld1q_s16(bs + 8);
    int32x4_t t = vmull_s16(vget_low_s16(m0), vget_low_s16(b0));
    t = vmlal_high_s16(t, m0, b0);
    t = vmlal_s16(t, vget_low_s16(m1), vget_low_s16(b1));
    return vaddvq_s32(vmlal_high_s16(t, m1, b1));
}

/* ------------------------------------------------------------------------- */
/* tiles: mr (<= QMT) x rows against one weight row                          */
/* ------------------------------------------------------------------------- */

#ifndef QI8MM
#define QNR 1
QI void tile32(const int t, int mr, const xq_buf *xb, const unsigned char *w, size_t rb, int nv, size_t bsz,
               int64_t K, float *y, int64_t ldy) {
    float acc[QMT];
    for (int i = 0; i < mr; i++) acc[i] = 0.0f;
    const bool has_m = t == LLV_TYPE_Q4_1 || t == LLV_TYPE_Q5_1;
    for (int64_t b = 0; b < K / 32; b++) {
        const w32 wb = unpack32(t, w + (size_t)b * bsz);
        for (int i = 0; i < mr; i++) {
            const int8_t *a = XQ_QS(xb, i) + 32 * b;
            int32x4_t s = DOT(DOT(vdupq_n_s32(0), wb.lo, vld1q_s8(a)), wb.hi, vld1q_s8(a + 16));
            const float dx = XQ_D(xb, i)[b];
            acc[i] = fmaf((float)vaddvq_s32(s), wb.d * dx, acc[i]);
            if (has_m) acc[i] = fmaf(wb.m, dx * (float)XQ_S(xb, i)[b], acc[i]);
        }
    }
    for (int i = 0; i < mr; i++) y[i * ldy] = acc[i];
}

QI void tilek(const int t, int mr, const xq_buf *xb, const unsigned char *w, size_t rb, int nv, size_t bsz,
              int64_t K, float *y, int64_t ldy) {
    float acc[QMT];
    for (int i = 0; i < mr; i++) acc[i] = 0.0f;
    const bool has_m = t == LLV_TYPE_Q4_K || t == LLV_TYPE_Q5_K || t == LLV_TYPE_Q2_K;
    wk wb;
    for (int64_t b = 0; b < K / 256; b++) {
        unpack_k(t, w + (size_t)b * bsz, &wb);
        for (int i = 0; i < mr; i++) {
            const int8_t *a = XQ_QS(xb, i) + 256 * b;
            int32x4_t s = vdupq_n_s32(0);
            if (t == LLV_TYPE_Q4_K || t == LLV_TYPE_Q5_K) /* one scale per 32 values */
                for (int j = 0; j < 16; j += 2) {
                    int32x4_t d = DOT(vdupq_n_s32(0), vld1q_s8(wb.q + 16 * j), vld1q_s8(a + 16 * j));
                    s = vmlaq_n_s32(s, DOT(d, vld1q_s8(wb.q + 16 * j + 16), vld1q_s8(a + 16 * j + 16)), wb.sc[j]);
                }
            else
                for (int j = 0; j < 16; j++)
                    s = vmlaq_n_s32(s, DOT(vdupq_n_s32(0), vld1q_s8(wb.q + 16 * j), vld1q_s8(a + 16 * j)), wb.sc[j]);
            const float dx = XQ_D(xb, i)[b];
            acc[i] = fmaf((float)vaddvq_s32(s), wb.d * dx, acc[i]);
            if (has_m) {
                const int32_t mt = mins_dot(wb.mn, XQ_BS(xb, i) + 16 * b);
                acc[i] = fmaf((float)mt, -(wb.dmin * dx), acc[i]);
            }
        }
    }
    for (int i = 0; i < mr; i++) y[i * ldy] = acc[i];
}
#else
/* SMMLA: one instruction takes 2 rows x 8 int8 of each operand and adds the
 * 2 x 2 dot products to int32 lanes [x0.w0, x0.w1, x1.w0, x1.w1]; x and w
 * vectors hold 8 values of two rows each (ZIP1/ZIP2 of 64-bit halves). A
 * missing second x row repeats the first (its outputs are not stored). Each
 * output gets the same int32 per block and the same float steps as tile32 /
 * tilek: the neon table's bits. */
#define QNR 2
QI int8x16_t zip_lo(int8x16_t a, int8x16_t b) {
    return vreinterpretq_s8_s64(vzip1q_s64(vreinterpretq_s64_s8(a), vreinterpretq_s64_s8(b)));
}
QI int8x16_t zip_hi(int8x16_t a, int8x16_t b) {
    return vreinterpretq_s8_s64(vzip2q_s64(vreinterpretq_s64_s8(a), vreinterpretq_s64_s8(b)));
}

QI void tile32(const int t, int mr, const xq_buf *xb, const unsigned char *w, size_t rb, int nv, size_t bsz,
               int64_t K, float *y, int64_t ldy) {
    float acc[QMT][2];
    for (int i = 0; i < mr; i++) acc[i][0] = acc[i][1] = 0.0f;
    const bool has_m = t == LLV_TYPE_Q4_1 || t == LLV_TYPE_Q5_1;
    const unsigned char *w1 = nv > 1 ? w + rb : w;
    for (int64_t b = 0; b < K / 32; b++) {
        const w32 wa = unpack32(t, w + (size_t)b * bsz), wc = unpack32(t, w1 + (size_t)b * bsz);
        const int8x16_t B0 = zip_lo(wa.lo, wc.lo), B1 = zip_hi(wa.lo, wc.lo), B2 = zip_lo(wa.hi, wc.hi),
                        B3 = zip_hi(wa.hi, wc.hi);
        for (int i = 0; i < mr; i += 2) {
            const int i1 = i + 1 < mr ? i + 1 : i;
            const int8_t *a0 = XQ_QS(xb, i) + 32 * b, *a1 = XQ_QS(xb, i1) + 32 * b;
            const int8x16_t x0l = vld1q_s8(a0), x0h = vld1q_s8(a0 + 16), x1l = vld1q_s8(a1), x1h = vld1q_s8(a1 + 16);
            int32x4_t s = vmmlaq_s32(vdupq_n_s32(0), zip_lo(x0l, x1l), B0);
            s = vmmlaq_s32(s, zip_hi(x0l, x1l), B1);
            s = vmmlaq_s32(s, zip_lo(x0h, x1h), B2);
            s = vmmlaq_s32(s, zip_hi(x0h, x1h), B3);
            int32_t l[4];
            vst1q_s32(l, s);
            for (int r = 0; r < 2 && i + r < mr; r++) {
                const float dx = XQ_D(xb, i + r)[b];
                for (int j = 0; j < 2; j++) {
                    const w32 *wj = j ? &wc : &wa;
                    acc[i + r][j] = fmaf((float)l[2 * r + j], wj->d * dx, acc[i + r][j]);
                    if (has_m) acc[i + r][j] = fmaf(wj->m, dx * (float)XQ_S(xb, i + r)[b], acc[i + r][j]);
                }
            }
        }
    }
    for (int i = 0; i < mr; i++)
        for (int j = 0; j < nv; j++) y[i * ldy + j] = acc[i][j];
}

QI void tilek(const int t, int mr, const xq_buf *xb, const unsigned char *w, size_t rb, int nv, size_t bsz,
              int64_t K, float *y, int64_t ldy) {
    float acc[QMT][2];
    for (int i = 0; i < mr; i++) acc[i][0] = acc[i][1] = 0.0f;
    const bool has_m = t == LLV_TYPE_Q4_K || t == LLV_TYPE_Q5_K || t == LLV_TYPE_Q2_K;
    const unsigned char *w1 = nv > 1 ? w + rb : w;
    wk wb[2];
    _Alignas(16) int8_t bq[16][2][16]; /* per 16 values: the two weight rows' halves, zipped */
    int32_t scv[16][4];
    for (int64_t b = 0; b < K / 256; b++) {
        unpack_k(t, w + (size_t)b * bsz, &wb[0]);
        unpack_k(t, w1 + (size_t)b * bsz, &wb[1]);
        for (int j = 0; j < 16; j++) {
            const int8x16_t p = vld1q_s8(wb[0].q + 16 * j), q = vld1q_s8(wb[1].q + 16 * j);
            vst1q_s8(bq[j][0], zip_lo(p, q));
            vst1q_s8(bq[j][1], zip_hi(p, q));
            scv[j][0] = scv[j][2] = wb[0].sc[j];
            scv[j][1] = scv[j][3] = wb[1].sc[j];
        }
        for (int i = 0; i < mr; i += 2) {
            const int i1 = i + 1 < mr ? i + 1 : i;
            const int8_t *a0 = XQ_QS(xb, i) + 256 * b, *a1 = XQ_QS(xb, i1) + 256 * b;
            int32x4_t s = vdupq_n_s32(0);
            for (int j = 0; j < 16; j++) {
                const int8x16_t x0 = vld1q_s8(a0 + 16 * j), x1 = vld1q_s8(a1 + 16 * j);
                int32x4_t d = vmmlaq_s32(vdupq_n_s32(0), zip_lo(x0, x1), vld1q_s8(bq[j][0]));
                d = vmmlaq_s32(d, zip_hi(x0, x1), vld1q_s8(bq[j][1]));
                s = vmlaq_s32(s, d, vld1q_s32(scv[j]));
            }
            int32_t l[4];
            vst1q_s32(l, s);
            for (int r = 0; r < 2 && i + r < mr; r++) {
                const float dx = XQ_D(xb, i + r)[b];
                const int16_t *bs = XQ_BS(xb, i + r) + 16 * b;
                for (int j = 0; j < 2; j++) {
                    acc[i + r][j] = fmaf((float)l[2 * r + j], wb[j].d * dx, acc[i + r][j]);
                    if (has_m) acc[i + r][j] = fmaf((float)mins_dot(wb[j].mn, bs), -(wb[j].dmin * dx), acc[i + r][j]);
                }
            }
        }
    }
    for (int i = 0; i < mr; i++)
        for (int j = 0; j < nv; j++) y[i * ldy + j] = acc[i][j];
}
#endif

typedef void (*qtile_fn)(int mr, const xq_buf *xb, const unsigned char *w, size_t rb, int nv, size_t bsz, int64_t K,
                         float *y, int64_t ldy);
typedef void (*quant_fn)(const float *x, int64_t ldx, int mr, int64_t K, xq_buf *b);

/* Quantizes as many x rows as the stack buffer holds (all of them for decode
 * and short prompts), then runs weight rows in L2-sized blocks with every
 * QMT-row tile of x passing over each block, QNR weight rows at a time, each
 * weight row's blocks in address order. */
static void qmatmul(int type, qtile_fn tile, quant_fn quant, int64_t bs, size_t bsz, LLV_NEON_MATMUL_ARGS) {
    if (M <= 0) return;
    if (K > XQ_MAX_K) {
        llv_kernels_ref()->matmul[type](w, w_row_bytes, x, ldx, M, K, y, ldy, n0, n1);
        return;
    }
    _Alignas(64) unsigned char mem[XQ_STACK];
    const unsigned char *wb = w;
    const size_t row = (size_t)(K / bs) * bsz;
    const int64_t cap = (int64_t)((XQ_STACK - 4 * 64) / xq_row_bytes(K)); /* >= 2 rows */
    int64_t nb = (int64_t)((512u << 10) / (row + 1)) / QNR * QNR;
    if (nb < QNR) nb = QNR;
    for (int64_t m0 = 0; m0 < M; m0 += cap) {
        const int64_t rows = M - m0 < cap ? M - m0 : cap;
        xq_buf xb;
        xq_init(&xb, mem, rows, K);
        quant(x + m0 * ldx, ldx, (int)rows, K, &xb);
        for (int64_t b0 = n0; b0 < n1; b0 += nb) {
            const int64_t b1 = b0 + nb < n1 ? b0 + nb : n1;
            for (int64_t m = 0; m < rows; m += QMT) {
                const int mr = (int)(rows - m < QMT ? rows - m : QMT);
                xq_buf v = xq_rows(&xb, m);
                for (int64_t n = b0; n < b1; n += QNR) {
                    const int nv = (int)(b1 - n < QNR ? b1 - n : QNR);
                    tile(mr, &v, wb + (size_t)n * w_row_bytes, w_row_bytes, nv, bsz, K, y + (m0 + m) * ldy + n, ldy);
                }
            }
        }
    }
}

#define QDEF(name, T, TILE, QUANT, BS, BLOCK)                                                                        \
    static void tile_##name(int mr, const xq_buf *xb, const unsigned char *w, size_t rb, int nv, size_t bsz,         \
                            int64_t K, float *y, int64_t ldy) {                                                      \
        TILE(T, mr, xb, w, rb, nv, bsz, K, y, ldy);                                                                  \
    }                                                                                                                \
    void PFX(matmul_##name)(LLV_NEON_MATMUL_ARGS) {                                                                  \
        qmatmul(T, tile_##name, QUANT, BS, sizeof(BLOCK), w, w_row_bytes, x, ldx, M, K, y, ldy, n0, n1);             \
    }

QDEF(q8_0, LLV_TYPE_Q8_0, tile32, quant_rows_32, 32, llv_block_q8_0)
QDEF(q4_0, LLV_TYPE_Q4_0, tile32, quant_rows_32, 32, llv_block_q4_0)
QDEF(q4_1, LLV_TYPE_Q4_1, tile32, quant_rows_32, 32, llv_block_q4_1)
QDEF(q5_0, LLV_TYPE_Q5_0, tile32, quant_rows_32, 32, llv_block_q5_0)
QDEF(q5_1, LLV_TYPE_Q5_1, tile32, quant_rows_32, 32, llv_block_q5_1)
QDEF(q2_K, LLV_TYPE_Q2_K, tilek, quant_rows_k, 256, llv_block_q2_K)
QDEF(q3_K, LLV_TYPE_Q3_K, tilek, quant_rows_k, 256, llv_block_q3_K)
QDEF(q4_K, LLV_TYPE_Q4_K, tilek, quant_rows_k, 256, llv_block_q4_K)
QDEF(q5_K, LLV_TYPE_Q5_K, tilek, quant_rows_k, 256, llv_block_q5_K)
QDEF(q6_K, LLV_TYPE_Q6_K, tilek, quant_rows_k, 256, llv_block_q6_K)
