/* NEON (ARMv8.0-A Advanced SIMD) kernels for the float weight types, their
 * conversions and the vector ops. The AVX2 scheme (kernels/x86/avx2-float.c)
 * on 4-lane registers: output (m, n) owns two float32x4 accumulators, lane j
 * of the pair summing k = j mod 8 in increasing k with fused multiply-adds
 * (the tail is one zero-padded step), reduced by one fixed tree, so the
 * order depends only on K. */
#include "arm-kernels.h"

#include <arm_neon.h>
#include <math.h>
#include <string.h>

#define MR 4 /* 4 x 2 outputs x 2 accumulators + 4 weights + 1 x = 21 of 32 registers */
#define NR 2
#define DEC_MR 4 /* decode: up to 4 x rows against one weight row at a time */
#define ALWAYS_INLINE static inline __attribute__((always_inline))

typedef enum { W_F32, W_F16, W_BF16 } wkind;

/* 4 weights from element k of a row */
ALWAYS_INLINE float32x4_t wload4(const unsigned char *row, int64_t k, wkind t) {
    if (t == W_F32) return vld1q_f32((const float *)(const void *)row + k);
    uint16x4_t h = vld1_u16((const uint16_t *)(const void *)(row + 2 * k));
    if (t == W_F16) return vcvt_f32_f16(vreinterpret_f16_u16(h));
    return vreinterpretq_f32_u32(vshll_n_u16(h, 16));
}

/* fixed tree: (i, i+4) then FADDP pairs */
ALWAYS_INLINE float hsum8(float32x4_t a, float32x4_t b) { return vaddvq_f32(vaddq_f32(a, b)); }

/* nrc (compile-time) is NR, or 1 for the decode tile */
ALWAYS_INLINE void tile_n(int mr, int nrc, wkind t, const float *x, int64_t ldx, const unsigned char *w, size_t rb,
                          int64_t K, float *y, int64_t ldy, int nv) {
    float32x4_t acc[MR][NR][2];
    const unsigned char *wr[NR];
    const size_t es = t == W_F32 ? 4 : 2;
    for (int j = 0; j < nrc; j++) wr[j] = w + (size_t)(j < nv ? j : nv - 1) * rb;
    for (int i = 0; i < mr; i++)
        for (int j = 0; j < nrc; j++) acc[i][j][0] = acc[i][j][1] = vdupq_n_f32(0.0f);
    int64_t k = 0;
    for (; k + 8 <= K; k += 8) {
        float32x4_t w0[NR], w1[NR];
        for (int j = 0; j < nrc; j++) {
            w0[j] = wload4(wr[j], k, t);
            w1[j] = wload4(wr[j], k + 4, t);
        }
        for (int i = 0; i < mr; i++) {
            float32x4_t x0 = vld1q_f32(x + i * ldx + k), x1 = vld1q_f32(x + i * ldx + k + 4);
            for (int j = 0; j < nrc; j++) {
                acc[i][j][0] = vfmaq_f32(acc[i][j][0], x0, w0[j]);
                acc[i][j][1] = vfmaq_f32(acc[i][j][1], x1, w1[j]);
            }
        }
    }
    if (k < K) { /* zero-padded last step */
        const int64_t r = K - k;
        float32x4_t w0[NR], w1[NR];
        for (int j = 0; j < nrc; j++) {
            unsigned char buf[32] = {0};
            memcpy(buf, wr[j] + (size_t)k * es, (size_t)r * es);
            w0[j] = wload4(buf, 0, t);
            w1[j] = wload4(buf, 4, t);
        }
        for (int i = 0; i < mr; i++) {
            float xb[8] = {0};
            memcpy(xb, x + i * ldx + k, (size_t)r * sizeof(float));
            float32x4_t x0 = vld1q_f32(xb), x1 = vld1q_f32(xb + 4);
            for (int j = 0; j < nrc; j++) {
                acc[i][j][0] = vfmaq_f32(acc[i][j][0], x0, w0[j]);
                acc[i][j][1] = vfmaq_f32(acc[i][j][1], x1, w1[j]);
            }
        }
    }
    for (int i = 0; i < mr; i++)
        for (int j = 0; j < nrc; j++)
            if (j < nv) y[i * ldy + j] = hsum8(acc[i][j][0], acc[i][j][1]);
}

typedef void (*tile_fn)(const float *x, int64_t ldx, const unsigned char *w, size_t rb, int64_t K, float *y,
                        int64_t ldy, int nv);

#define DEF_TILE(NAME, MRV, NRC, T)                                                                                  \
    static void NAME(const float *x, int64_t ldx, const unsigned char *w, size_t rb, int64_t K, float *y,            \
                     int64_t ldy, int nv) {                                                                          \
        tile_n(MRV, NRC, T, x, ldx, w, rb, K, y, ldy, nv);                                                           \
    }
#define DEF_TILES(T, SUF)                                                                                            \
    DEF_TILE(tile1_##SUF, 1, NR, T) DEF_TILE(tile2_##SUF, 2, NR, T) DEF_TILE(tile3_##SUF, 3, NR, T)                  \
    DEF_TILE(tile4_##SUF, 4, NR, T) DEF_TILE(dec1_##SUF, 1, 1, T) DEF_TILE(dec2_##SUF, 2, 1, T)                      \
    DEF_TILE(dec3_##SUF, 3, 1, T) DEF_TILE(dec4_##SUF, 4, 1, T)                                                      \
    static const tile_fn tiles_##SUF[MR] = {tile1_##SUF, tile2_##SUF, tile3_##SUF, tile4_##SUF};                     \
    static const tile_fn decs_##SUF[DEC_MR] = {dec1_##SUF, dec2_##SUF, dec3_##SUF, dec4_##SUF};

DEF_TILES(W_F32, f32)
DEF_TILES(W_F16, f16)
DEF_TILES(W_BF16, bf16)

/* Decode (M <= DEC_MR) reads the weight rows one by one in address order;
 * batches run weight rows in L2-sized blocks with every x row tile passing
 * over each block. */
static void matmul_tiles(const tile_fn *tiles, const tile_fn *dec, size_t esz, LLV_NEON_MATMUL_ARGS) {
    const unsigned char *wb = w;
    if (M <= 0) return;
    if (M <= DEC_MR) {
        for (int64_t n = n0; n < n1; n++) dec[M - 1](x, ldx, wb + (size_t)n * w_row_bytes, w_row_bytes, K, y + n, ldy, 1);
        return;
    }
    int64_t nb = (int64_t)((256u << 10) / ((size_t)K * esz + 1)) / NR * NR;
    if (nb < NR) nb = NR;
    for (int64_t b0 = n0; b0 < n1; b0 += nb) {
        int64_t b1 = b0 + nb < n1 ? b0 + nb : n1;
        for (int64_t m = 0; m < M; m += MR) {
            int mr = (int)(M - m < MR ? M - m : MR);
            for (int64_t n = b0; n < b1; n += NR) {
                int nv = (int)(b1 - n < NR ? b1 - n : NR);
                tiles[mr - 1](x + m * ldx, ldx, wb + (size_t)n * w_row_bytes, w_row_bytes, K, y + m * ldy + n, ldy, nv);
            }
        }
    }
}

void llv_neon_matmul_f32(LLV_NEON_MATMUL_ARGS) {
    matmul_tiles(tiles_f32, decs_f32, 4, w, w_row_bytes, x, ldx, M, K, y, ldy, n0, n1);
}
void llv_neon_matmul_f16(LLV_NEON_MATMUL_ARGS) {
    matmul_tiles(tiles_f16, decs_f16, 2, w, w_row_bytes, x, ldx, M, K, y, ldy, n0, n1);
}
void llv_neon_matmul_bf16(LLV_NEON_MATMUL_ARGS) {
    matmul_tiles(tiles_bf16, decs_bf16, 2, w, w_row_bytes, x, ldx, M, K, y, ldy, n0, n1);
}

/* ------------------------------------------------------------------------- */
/* conversions: bitwise equal to the reference (llv_f16_to_f32 etc.)         */
/* ------------------------------------------------------------------------- */

static void conv_row(const void *src, float *dst, int64_t n, wkind t) {
    const unsigned char *s = src;
    int64_t i = 0;
    for (; i + 4 <= n; i += 4) vst1q_f32(dst + i, wload4(s, i, t));
    if (i < n) {
        unsigned char buf[8] = {0};
        float out[4];
        memcpy(buf, s + 2 * i, (size_t)(n - i) * 2);
        vst1q_f32(out, wload4(buf, 0, t));
        memcpy(dst + i, out, (size_t)(n - i) * sizeof(float));
    }
}

void llv_neon_f16_to_f32(const void *src, float *dst, int64_t n) { conv_row(src, dst, n, W_F16); }
void llv_neon_bf16_to_f32(const void *src, float *dst, int64_t n) { conv_row(src, dst, n, W_BF16); }

/* FCVTN rounds to nearest even like llv_f32_to_f16; a NaN becomes the
 * reference's quiet NaN (sign | 0x7e00) rather than keeping its payload. */
ALWAYS_INLINE uint16x4_t f16_from4(float32x4_t v) {
    uint16x4_t h = vreinterpret_u16_f16(vcvt_f16_f32(v));
    uint16x4_t nan = vmovn_u32(vmvnq_u32(vceqq_f32(v, v)));
    uint16x4_t qnan = vorr_u16(vand_u16(h, vdup_n_u16(0x8000)), vdup_n_u16(0x7e00));
    return vbsl_u16(nan, qnan, h);
}

/* round to nearest even on the upper 16 bits; NaN: the top half | 0x40 (quiet) */
ALWAYS_INLINE uint16x4_t bf16_from4(float32x4_t v) {
    uint32x4_t x = vreinterpretq_u32_f32(v);
    uint32x4_t r = vaddq_u32(x, vaddq_u32(vdupq_n_u32(0x7fff), vandq_u32(vshrq_n_u32(x, 16), vdupq_n_u32(1))));
    uint16x4_t h = vshrn_n_u32(r, 16);
    uint16x4_t q = vorr_u16(vshrn_n_u32(x, 16), vdup_n_u16(0x40));
    uint16x4_t nan = vmovn_u32(vcgtq_u32(vandq_u32(x, vdupq_n_u32(0x7fffffffu)), vdupq_n_u32(0x7f800000u)));
    return vbsl_u16(nan, q, h);
}

static void from_row(const float *src, uint16_t *d, int64_t n, bool bf) {
    int64_t i = 0;
    for (; i + 4 <= n; i += 4) {
        float32x4_t v = vld1q_f32(src + i);
        vst1_u16(d + i, bf ? bf16_from4(v) : f16_from4(v));
    }
    if (i < n) {
        float buf[4] = {0};
        uint16_t out[4];
        memcpy(buf, src + i, (size_t)(n - i) * sizeof(float));
        float32x4_t v = vld1q_f32(buf);
        vst1_u16(out, bf ? bf16_from4(v) : f16_from4(v));
        memcpy(d + i, out, (size_t)(n - i) * 2);
    }
}

void llv_neon_f16_from_f32(const float *src, void *dst, int64_t n) { from_row(src, dst, n, false); }
void llv_neon_bf16_from_f32(const float *src, void *dst, int64_t n) { from_row(src, dst, n, true); }

/* ------------------------------------------------------------------------- */
/* vector ops: 4-wide main loops, scalar or zero-padded tails                */
/* ------------------------------------------------------------------------- */

float llv_neon_dot_f32(const float *a, const float *b, int64_t n) {
    float32x4_t s0 = vdupq_n_f32(0), s1 = vdupq_n_f32(0), s2 = vdupq_n_f32(0), s3 = vdupq_n_f32(0);
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        s0 = vfmaq_f32(s0, vld1q_f32(a + i), vld1q_f32(b + i));
        s1 = vfmaq_f32(s1, vld1q_f32(a + i + 4), vld1q_f32(b + i + 4));
        s2 = vfmaq_f32(s2, vld1q_f32(a + i + 8), vld1q_f32(b + i + 8));
        s3 = vfmaq_f32(s3, vld1q_f32(a + i + 12), vld1q_f32(b + i + 12));
    }
    for (; i + 4 <= n; i += 4) s0 = vfmaq_f32(s0, vld1q_f32(a + i), vld1q_f32(b + i));
    float s = vaddvq_f32(vaddq_f32(vaddq_f32(s0, s1), vaddq_f32(s2, s3)));
    for (; i < n; i++) s = fmaf(a[i], b[i], s);
    return s;
}

void llv_neon_axpy_f32(float a, const float *x, float *y, int64_t n) {
    int64_t i = 0;
    for (; i + 4 <= n; i += 4) vst1q_f32(y + i, vfmaq_n_f32(vld1q_f32(y + i), vld1q_f32(x + i), a));
    for (; i < n; i++) y[i] = fmaf(a, x[i], y[i]);
}

/* Up to 4 heads x 16 output floats (16 accumulators) per pass over the value
 * rows; per element the same fused multiply-add sequence in t order as axpy. */
void llv_neon_attn_pv(const float *p, int64_t ldp, int32_t h, const float *v, int64_t n, int64_t hd, float *o) {
    int64_t d0 = 0;
    while (hd - d0 >= 4) {
        const int nc = hd - d0 >= 16 ? 4 : (int)((hd - d0) / 4);
        for (int32_t i0 = 0; i0 < h; i0 += 4) {
            const int nh = h - i0 < 4 ? (int)(h - i0) : 4;
            float32x4_t acc[4][4];
            for (int i = 0; i < nh; i++)
                for (int c = 0; c < nc; c++) acc[i][c] = vld1q_f32(o + (i0 + i) * hd + d0 + 4 * c);
            for (int64_t t = 0; t < n; t++) {
                float32x4_t vt[4];
                for (int c = 0; c < nc; c++) vt[c] = vld1q_f32(v + t * hd + d0 + 4 * c);
                for (int i = 0; i < nh; i++) {
                    const float pb = p[(i0 + i) * ldp + t];
                    for (int c = 0; c < nc; c++) acc[i][c] = vfmaq_n_f32(acc[i][c], vt[c], pb);
                }
            }
            for (int i = 0; i < nh; i++)
                for (int c = 0; c < nc; c++) vst1q_f32(o + (i0 + i) * hd + d0 + 4 * c, acc[i][c]);
        }
        d0 += 4 * nc;
    }
    for (int32_t i = 0; i < h; i++)
        for (int64_t t = 0; t < n; t++)
            for (int64_t d = d0; d < hd; d++) o[i * hd + d] = fmaf(p[i * ldp + t], v[t * hd + d], o[i * hd + d]);
}

/* sum of (x - mean)^2 and of x in double, as the reference */
static double sumsq_pd(const float *x, int64_t n, double mean) {
    float64x2_t s0 = vdupq_n_f64(0), s1 = vdupq_n_f64(0), mv = vdupq_n_f64(mean);
    int64_t i = 0;
    for (; i + 4 <= n; i += 4) {
        float32x4_t v = vld1q_f32(x + i);
        float64x2_t lo = vsubq_f64(vcvt_f64_f32(vget_low_f32(v)), mv), hi = vsubq_f64(vcvt_high_f64_f32(v), mv);
        s0 = vfmaq_f64(s0, lo, lo);
        s1 = vfmaq_f64(s1, hi, hi);
    }
    double s = vaddvq_f64(vaddq_f64(s0, s1));
    for (; i < n; i++) {
        double d = (double)x[i] - mean;
        s += d * d;
    }
    return s;
}

static double sum_pd(const float *x, int64_t n) {
    float64x2_t s0 = vdupq_n_f64(0), s1 = vdupq_n_f64(0);
    int64_t i = 0;
    for (; i + 4 <= n; i += 4) {
        float32x4_t v = vld1q_f32(x + i);
        s0 = vaddq_f64(s0, vcvt_f64_f32(vget_low_f32(v)));
        s1 = vaddq_f64(s1, vcvt_high_f64_f32(v));
    }
    double s = vaddvq_f64(vaddq_f64(s0, s1));
    for (; i < n; i++) s += x[i];
    return s;
}

void llv_neon_rmsnorm(const float *x, const float *w, float *y, int64_t n, float eps) {
    float var = (float)(sumsq_pd(x, n, 0.0) / (double)n);
    float rs = 1.0f / sqrtf(var + eps);
    int64_t i = 0;
    for (; i + 4 <= n; i += 4) {
        float32x4_t v = vmulq_n_f32(vld1q_f32(x + i), rs);
        if (w) v = vmulq_f32(vld1q_f32(w + i), v);
        vst1q_f32(y + i, v);
    }
    for (; i < n; i++) {
        float v = x[i] * rs;
        y[i] = w ? w[i] * v : v;
    }
}

void llv_neon_layernorm(const float *x, const float *w, const float *b, float *y, int64_t n, float eps) {
    double mean = sum_pd(x, n) / (double)n;
    float var = (float)(sumsq_pd(x, n, mean) / (double)n);
    float rs = 1.0f / sqrtf(var + eps), mf = (float)mean;
    int64_t i = 0;
    for (; i + 4 <= n; i += 4) {
        float32x4_t v = vmulq_n_f32(vsubq_f32(vld1q_f32(x + i), vdupq_n_f32(mf)), rs);
        if (w) v = vmulq_f32(v, vld1q_f32(w + i));
        if (b) v = vaddq_f32(v, vld1q_f32(b + i));
        vst1q_f32(y + i, v);
    }
    for (; i < n; i++) {
        float v = (x[i] - mf) * rs;
        if (w) v = v * w[i];
        if (b) v = v + b[i];
        y[i] = v;
    }
}

/* expf (~1 ulp, the Cephes polynomial of avx2-float.c's exp8); inputs
 * clamped to the normal range. */
ALWAYS_INLINE float32x4_t exp4(float32x4_t x) {
    x = vminq_f32(vmaxq_f32(x, vdupq_n_f32(-87.33654f)), vdupq_n_f32(88.72283f));
    float32x4_t n = vrndnq_f32(vmulq_n_f32(x, 1.44269504088896341f));
    float32x4_t r = vfmsq_f32(x, n, vdupq_n_f32(0.693359375f));
    r = vfmsq_f32(r, n, vdupq_n_f32(-2.12194440e-4f));
    float32x4_t p = vdupq_n_f32(1.9875691500e-4f);
    p = vfmaq_f32(vdupq_n_f32(1.3981999507e-3f), p, r);
    p = vfmaq_f32(vdupq_n_f32(8.3334519073e-3f), p, r);
    p = vfmaq_f32(vdupq_n_f32(4.1665795894e-2f), p, r);
    p = vfmaq_f32(vdupq_n_f32(1.6666665459e-1f), p, r);
    p = vfmaq_f32(vdupq_n_f32(5.0000001201e-1f), p, r);
    float32x4_t e = vaddq_f32(vfmaq_f32(r, vmulq_f32(p, r), r), vdupq_n_f32(1.0f));
    /* 2^n split in two factors so n = 128 (x near 88.7) does not overflow the exponent */
    int32x4_t ni = vcvtq_s32_f32(n);
    int32x4_t h1 = vshrq_n_s32(ni, 1), h2 = vsubq_s32(ni, h1);
    float32x4_t f1 = vreinterpretq_f32_s32(vshlq_n_s32(vaddq_s32(h1, vdupq_n_s32(127)), 23));
    float32x4_t f2 = vreinterpretq_f32_s32(vshlq_n_s32(vaddq_s32(h2, vdupq_n_s32(127)), 23));
    return vmulq_f32(vmulq_f32(e, f1), f2);
}

void llv_neon_softmax(float *x, int64_t n) {
    if (n <= 0) return;
    float mx = x[0];
    for (int64_t i = 1; i < n; i++)
        if (x[i] > mx) mx = x[i];
    const float32x4_t mv = vdupq_n_f32(mx);
    float64x2_t s0 = vdupq_n_f64(0), s1 = vdupq_n_f64(0);
    int64_t i = 0;
    for (; i + 4 <= n; i += 4) {
        float32x4_t e = exp4(vsubq_f32(vld1q_f32(x + i), mv));
        vst1q_f32(x + i, e);
        s0 = vaddq_f64(s0, vcvt_f64_f32(vget_low_f32(e)));
        s1 = vaddq_f64(s1, vcvt_high_f64_f32(e));
    }
    double s = vaddvq_f64(vaddq_f64(s0, s1));
    if (i < n) { /* the tail through a padded buffer; the padding lanes are not summed */
        float b[4] = {0};
        memcpy(b, x + i, (size_t)(n - i) * sizeof(float));
        vst1q_f32(b, exp4(vsubq_f32(vld1q_f32(b), mv)));
        for (int64_t k = 0; k < n - i; k++) {
            x[i + k] = b[k];
            s += b[k];
        }
    }
    const float inv = (float)s;
    for (i = 0; i + 4 <= n; i += 4) vst1q_f32(x + i, vdivq_f32(vld1q_f32(x + i), vdupq_n_f32(inv)));
    for (; i < n; i++) x[i] = x[i] / inv;
}

void llv_neon_silu_mul(float *g, const float *u, int64_t n) {
    const float32x4_t one = vdupq_n_f32(1.0f);
    int64_t i = 0;
    for (; i + 4 <= n; i += 4) {
        float32x4_t v = vld1q_f32(g + i);
        float32x4_t s = vdivq_f32(v, vaddq_f32(one, exp4(vnegq_f32(v))));
        vst1q_f32(g + i, vmulq_f32(s, vld1q_f32(u + i)));
    }
    for (; i < n; i++) {
        float v = g[i];
        g[i] = (v / (1.0f + expf(-v))) * u[i];
    }
}

/* Abramowitz & Stegun 7.1.26, as PyTorch's vectorised erf (and avx2-float.c) */
ALWAYS_INLINE float32x4_t erf4(float32x4_t x) {
    const float32x4_t one = vdupq_n_f32(1.0f);
    float32x4_t ax = vabsq_f32(x);
    float32x4_t t = vdivq_f32(one, vfmaq_f32(one, vdupq_n_f32(0.3275911f), ax));
    float32x4_t r = vfmaq_f32(vdupq_n_f32(-1.453152027f), vdupq_n_f32(1.061405429f), t);
    r = vfmaq_f32(vdupq_n_f32(1.421413741f), r, t);
    r = vfmaq_f32(vdupq_n_f32(-0.284496736f), r, t);
    r = vfmaq_f32(vdupq_n_f32(0.254829592f), r, t);
    r = vmulq_f32(r, t);
    float32x4_t e = exp4(vnegq_f32(vmulq_f32(x, x)));
    float32x4_t res = vfmsq_f32(one, r, e);
    /* copy x's sign onto res (res >= 0) */
    uint32x4_t sign = vandq_u32(vreinterpretq_u32_f32(x), vdupq_n_u32(0x80000000u));
    return vreinterpretq_f32_u32(vorrq_u32(vreinterpretq_u32_f32(res), sign));
}

ALWAYS_INLINE float32x4_t gelu4(float32x4_t v) {
    float32x4_t e = erf4(vmulq_n_f32(v, (float)M_SQRT1_2));
    return vmulq_f32(vmulq_n_f32(v, 0.5f), vaddq_f32(vdupq_n_f32(1.0f), e));
}

void llv_neon_gelu(float *x, int64_t n) {
    int64_t i = 0;
    for (; i + 4 <= n; i += 4) vst1q_f32(x + i, gelu4(vld1q_f32(x + i)));
    if (i < n) {
        float b[4] = {0};
        memcpy(b, x + i, (size_t)(n - i) * sizeof(float));
        vst1q_f32(b, gelu4(vld1q_f32(b)));
        memcpy(x + i, b, (size_t)(n - i) * sizeof(float));
    }
}

/* Bitwise the reference's a*c - b*s, b*c + a*s: products rounded, then one
 * add (x - y == x + (-y) exactly). */
void llv_neon_rope_pairs(float *x, const float *cos_t, const float *sin_t, int64_t hd) {
    const float32x4_t sgn = {-1.0f, 1.0f, -1.0f, 1.0f};
    int64_t half = hd / 2, i = 0;
    for (; i + 2 <= half; i += 2) {
        float32x2_t c2 = vld1_f32(cos_t + i), s2 = vld1_f32(sin_t + i);
        float32x4_t c = vcombine_f32(vdup_lane_f32(c2, 0), vdup_lane_f32(c2, 1));
        float32x4_t s = vcombine_f32(vdup_lane_f32(s2, 0), vdup_lane_f32(s2, 1));
        float32x4_t v = vld1q_f32(x + 2 * i);
        float32x4_t sw = vrev64q_f32(v); /* b, a, d, c */
        float32x4_t p = vmulq_f32(v, c), q = vmulq_f32(vmulq_f32(sw, s), sgn);
        vst1q_f32(x + 2 * i, vaddq_f32(p, q));
    }
    for (; i < half; i++) {
        float a = x[2 * i], b = x[2 * i + 1], c = cos_t[i], s = sin_t[i];
        x[2 * i] = a * c - b * s;
        x[2 * i + 1] = b * c + a * s;
    }
}
