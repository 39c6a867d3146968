/* Reference quantize / dequantize / matmul for Q8_0, Q4_0, Q4_1, Q5_0, Q5_1,
 * Q2_K, Q3_K, Q4_K, Q5_K and Q6_K, byte-compatible with ggml (layouts in
 * ref-quant.h). Quantizers follow ggml's quantize_row_*_ref (ggml-quants.c):
 * round to nearest for the 32-value types (Q8_0, Q4_0, Q5_0: scale from the
 * value of largest magnitude; Q4_1, Q5_1: min and max), the make_qkx2_quants
 * (Q2_K, Q4_K, Q5_K), make_q3_quants (Q3_K) and make_qx_quants (Q6_K) scale
 * searches.
 * matmul dequantizes 512-element chunks and uses the same chunked dot product
 * as llv_ref_matmul_f32, so it equals dequantize-then-F32-matmul bit for bit. */
#include "ref-internal.h"

#include "common.h"

#include <float.h>
#include <math.h>
#include <stdbool.h>
#include <string.h>

#define CHUNK 512 /* multiple of every block size; same chunking as ref-matmul.c */
#define GROUP_MAX_EPS 1e-15f

/* ggml's nearest_int: round half to even via the 1.5*2^23 trick (no libm
 * call); exact for |v| <= 2^22, which the callers' clamped ranges satisfy
 * except for NaN/huge inputs, where the result is merely unspecified. */
static inline int nearest_int(float v) {
    float f = v + 12582912.f;
    int32_t i;
    memcpy(&i, &f, sizeof i);
    return (i & 0x007fffff) - 0x00400000;
}

/* The value of largest magnitude, sign kept (the first of equal magnitudes);
 * *amax (if not NULL) = its magnitude. ggml's quantizers scale from it. */
static float max_signed(const float *x, int n, float *amax) {
    float m = 0.0f, a = 0.0f;
    for (int i = 0; i < n; i++)
        if (fabsf(x[i]) > a) {
            a = fabsf(x[i]);
            m = x[i];
        }
    if (amax) *amax = a;
    return m;
}

/* ------------------------------------------------------------------------- */
/* Q8_0                                                                      */
/* ------------------------------------------------------------------------- */

void llv_ref_q8_0_from_f32(const float *x, void *dst, int64_t n) {
    llv_block_q8_0 *y = dst;
    for (int64_t i = 0; i < n / LLV_QK8_0; i++, x += LLV_QK8_0) {
        float amax = 0.0f;
        for (int j = 0; j < LLV_QK8_0; j++) amax = fmaxf(amax, fabsf(x[j]));
        const float d = amax / 127.0f;
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        y[i].d = llv_f32_to_f16(d);
        for (int j = 0; j < LLV_QK8_0; j++) y[i].qs[j] = (int8_t)roundf(x[j] * id);
    }
}

void llv_ref_q8_0_to_f32(const void *src, float *y, int64_t n) {
    const llv_block_q8_0 *x = src;
    for (int64_t i = 0; i < n / LLV_QK8_0; i++, y += LLV_QK8_0) {
        const float d = llv_f16_to_f32(x[i].d);
        for (int j = 0; j < LLV_QK8_0; j++) y[j] = (float)x[i].qs[j] * d;
    }
}

/* ------------------------------------------------------------------------- */
/* Q4_0                                                                      */
/* ------------------------------------------------------------------------- */

void llv_ref_q4_0_from_f32(const float *x, void *dst, int64_t n) {
    llv_block_q4_0 *y = dst;
    for (int64_t i = 0; i < n / LLV_QK4_0; i++, x += LLV_QK4_0) {
        /* the value of largest magnitude maps to -8, keeping its sign */
        const float max = max_signed(x, LLV_QK4_0, NULL);
        const float d = max / -8.0f;
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        y[i].d = llv_f32_to_f16(d);
        for (int j = 0; j < LLV_QK4_0 / 2; j++) {
            const float x0 = x[j] * id, x1 = x[LLV_QK4_0 / 2 + j] * id;
            const int q0 = LLV_MIN(15, (int)(int8_t)(x0 + 8.5f));
            const int q1 = LLV_MIN(15, (int)(int8_t)(x1 + 8.5f));
            y[i].qs[j] = (uint8_t)(q0 | (q1 << 4));
        }
    }
}

void llv_ref_q4_0_to_f32(const void *src, float *y, int64_t n) {
    const llv_block_q4_0 *x = src;
    for (int64_t i = 0; i < n / LLV_QK4_0; i++, y += LLV_QK4_0) {
        const float d = llv_f16_to_f32(x[i].d);
        for (int j = 0; j < LLV_QK4_0 / 2; j++) {
            const int x0 = (x[i].qs[j] & 0x0F) - 8;
            const int x1 = (x[i].qs[j] >> 4) - 8;
            y[j] = (float)x0 * d;
            y[j + LLV_QK4_0 / 2] = (float)x1 * d;
        }
    }
}

/* ------------------------------------------------------------------------- */
/* Q4_1, Q5_0, Q5_1                                                          */
/* ------------------------------------------------------------------------- */

/* The 32 values' min and max (ggml starts them at FLT_MAX, -FLT_MAX). */
static void min_max32(const float *x, float *min, float *max) {
    float lo = FLT_MAX, hi = -FLT_MAX;
    for (int j = 0; j < 32; j++) {
        if (x[j] < lo) lo = x[j];
        if (x[j] > hi) hi = x[j];
    }
    *min = lo;
    *max = hi;
}

static void put_qh(uint8_t *qh, uint32_t v) {
    for (int k = 0; k < 4; k++) qh[k] = (uint8_t)(v >> (8 * k));
}

static uint32_t get_qh(const uint8_t *qh) {
    return (uint32_t)qh[0] | (uint32_t)qh[1] << 8 | (uint32_t)qh[2] << 16 | (uint32_t)qh[3] << 24;
}

void llv_ref_q4_1_from_f32(const float *x, void *dst, int64_t n) {
    llv_block_q4_1 *y = dst;
    for (int64_t i = 0; i < n / LLV_QK4_1; i++, x += LLV_QK4_1) {
        float min, max;
        min_max32(x, &min, &max);
        const float d = (max - min) / 15.0f;
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        y[i].d = llv_f32_to_f16(d);
        y[i].m = llv_f32_to_f16(min);
        for (int j = 0; j < LLV_QK4_1 / 2; j++) {
            const float x0 = (x[j] - min) * id, x1 = (x[LLV_QK4_1 / 2 + j] - min) * id;
            const int q0 = LLV_MIN(15, (int)(int8_t)(x0 + 0.5f));
            const int q1 = LLV_MIN(15, (int)(int8_t)(x1 + 0.5f));
            y[i].qs[j] = (uint8_t)(q0 | (q1 << 4));
        }
    }
}

void llv_ref_q4_1_to_f32(const void *src, float *y, int64_t n) {
    const llv_block_q4_1 *x = src;
    for (int64_t i = 0; i < n / LLV_QK4_1; i++, y += LLV_QK4_1) {
        const float d = llv_f16_to_f32(x[i].d), m = llv_f16_to_f32(x[i].m);
        for (int j = 0; j < LLV_QK4_1 / 2; j++) {
            y[j] = (float)(x[i].qs[j] & 0x0F) * d + m;
            y[j + LLV_QK4_1 / 2] = (float)(x[i].qs[j] >> 4) * d + m;
        }
    }
}

void llv_ref_q5_0_from_f32(const float *x, void *dst, int64_t n) {
    llv_block_q5_0 *y = dst;
    for (int64_t i = 0; i < n / LLV_QK5_0; i++, x += LLV_QK5_0) {
        /* as Q4_0: the value of largest magnitude maps to -16 */
        const float max = max_signed(x, LLV_QK5_0, NULL);
        const float d = max / -16.0f;
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        y[i].d = llv_f32_to_f16(d);
        uint32_t qh = 0;
        for (int j = 0; j < LLV_QK5_0 / 2; j++) {
            const float x0 = x[j] * id, x1 = x[LLV_QK5_0 / 2 + j] * id;
            const int q0 = LLV_MIN(31, (int)(int8_t)(x0 + 16.5f));
            const int q1 = LLV_MIN(31, (int)(int8_t)(x1 + 16.5f));
            y[i].qs[j] = (uint8_t)((q0 & 0x0F) | ((q1 & 0x0F) << 4));
            qh |= (uint32_t)(q0 >> 4 & 1) << j | (uint32_t)(q1 >> 4 & 1) << (j + LLV_QK5_0 / 2);
        }
        put_qh(y[i].qh, qh);
    }
}

void llv_ref_q5_0_to_f32(const void *src, float *y, int64_t n) {
    const llv_block_q5_0 *x = src;
    for (int64_t i = 0; i < n / LLV_QK5_0; i++, y += LLV_QK5_0) {
        const float d = llv_f16_to_f32(x[i].d);
        const uint32_t qh = get_qh(x[i].qh);
        for (int j = 0; j < LLV_QK5_0 / 2; j++) {
            const int x0 = ((x[i].qs[j] & 0x0F) | (int)(qh >> j << 4 & 0x10)) - 16;
            const int x1 = ((x[i].qs[j] >> 4) | (int)(qh >> (j + 12) & 0x10)) - 16;
            y[j] = (float)x0 * d;
            y[j + LLV_QK5_0 / 2] = (float)x1 * d;
        }
    }
}

void llv_ref_q5_1_from_f32(const float *x, void *dst, int64_t n) {
    llv_block_q5_1 *y = dst;
    for (int64_t i = 0; i < n / LLV_QK5_1; i++, x += LLV_QK5_1) {
        float min, max;
        min_max32(x, &min, &max);
        const float d = (max - min) / 31.0f;
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        y[i].d = llv_f32_to_f16(d);
        y[i].m = llv_f32_to_f16(min);
        uint32_t qh = 0;
        for (int j = 0; j < LLV_QK5_1 / 2; j++) {
            const float x0 = (x[j] - min) * id, x1 = (x[LLV_QK5_1 / 2 + j] - min) * id;
            /* no clamp, as in ggml: (x - min) * id stays below 31.5 */
            const int q0 = (uint8_t)(x0 + 0.5f), q1 = (uint8_t)(x1 + 0.5f);
            y[i].qs[j] = (uint8_t)((q0 & 0x0F) | ((q1 & 0x0F) << 4));
            qh |= (uint32_t)(q0 >> 4 & 1) << j | (uint32_t)(q1 >> 4 & 1) << (j + LLV_QK5_1 / 2);
        }
        put_qh(y[i].qh, qh);
    }
}

void llv_ref_q5_1_to_f32(const void *src, float *y, int64_t n) {
    const llv_block_q5_1 *x = src;
    for (int64_t i = 0; i < n / LLV_QK5_1; i++, y += LLV_QK5_1) {
        const float d = llv_f16_to_f32(x[i].d), m = llv_f16_to_f32(x[i].m);
        const uint32_t qh = get_qh(x[i].qh);
        for (int j = 0; j < LLV_QK5_1 / 2; j++) {
            const int x0 = (x[i].qs[j] & 0x0F) | (int)(qh >> j << 4 & 0x10);
            const int x1 = (x[i].qs[j] >> 4) | (int)(qh >> (j + 12) & 0x10);
            y[j] = (float)x0 * d + m;
            y[j + LLV_QK5_1 / 2] = (float)x1 * d + m;
        }
    }
}

/* ------------------------------------------------------------------------- */
/* Q4_K                                                                      */
/* ------------------------------------------------------------------------- */

/* Weighted least-squares fit of x ~ scale*L + min with L in [0, nmax] and
 * min <= 0, trying nstep+1 candidate inverse scales, each judged by its
 * weighted squared (use_mad: absolute) error (ggml's make_qkx2_quants).
 * Returns scale; *the_min = -min. */
static float make_qkx2_quants(int n, int nmax, const float *x, const float *weights, uint8_t *L, float *the_min,
                              uint8_t *Laux, float rmin, float rdelta, int nstep, bool use_mad) {
    float min = x[0], max = x[0];
    float sum_w = weights[0], sum_x = sum_w * x[0];
    for (int i = 1; i < n; i++) {
        if (x[i] < min) min = x[i];
        if (x[i] > max) max = x[i];
        float w = weights[i];
        sum_w += w;
        sum_x += w * x[i];
    }
    if (min > 0) min = 0;
    if (max == min) {
        for (int i = 0; i < n; i++) L[i] = 0;
        *the_min = -min;
        return 0.0f;
    }
    float iscale = nmax / (max - min);
    float scale = 1 / iscale;
    float best_error = 0;
    for (int i = 0; i < n; i++) {
        int l = nearest_int(iscale * (x[i] - min));
        L[i] = (uint8_t)LLV_MAX(0, LLV_MIN(nmax, l));
        float diff = scale * L[i] + min - x[i];
        diff = use_mad ? fabsf(diff) : diff * diff; /* w * (diff * diff): ggml's rounding */
        best_error += weights[i] * diff;
    }
    for (int is = 0; is <= nstep; is++) {
        iscale = (rmin + rdelta * is + nmax) / (max - min);
        float sum_l = 0, sum_l2 = 0, sum_xl = 0;
        for (int i = 0; i < n; i++) {
            int l = nearest_int(iscale * (x[i] - min));
            l = LLV_MAX(0, LLV_MIN(nmax, l));
            Laux[i] = (uint8_t)l;
            float w = weights[i];
            sum_l += w * l;
            sum_l2 += w * l * l;
            sum_xl += w * l * x[i];
        }
        float D = sum_w * sum_l2 - sum_l * sum_l;
        if (D > 0) {
            float this_scale = (sum_w * sum_xl - sum_x * sum_l) / D;
            float this_min = (sum_l2 * sum_x - sum_l * sum_xl) / D;
            if (this_min > 0) {
                this_min = 0;
                this_scale = sum_xl / sum_l2;
            }
            float cur_error = 0;
            for (int i = 0; i < n; i++) {
                float diff = this_scale * Laux[i] + this_min - x[i];
                diff = use_mad ? fabsf(diff) : diff * diff;
                cur_error += weights[i] * diff;
            }
            if (cur_error < best_error) {
                memcpy(L, Laux, (size_t)n);
                best_error = cur_error;
                scale = this_scale;
                min = this_min;
            }
        }
    }
    *the_min = -min;
    return scale;
}

/* Q4_K and Q5_K: the 8 sub-block scales and mins as 6-bit values against the
 * block's d and dmin (packed as llv_q4k_scale_min reads them), then x
 * requantized to 0..nmax against the rounded scales actually stored (ggml's
 * quantize_row_q{4,5}_K_ref: uint8 conversion first, then min(63, .)). */
static void pack_scales_mins(const float *x, const float *scales, const float *mins, float max_scale, float max_min,
                             int nmax, uint16_t *d_out, uint16_t *dmin_out, uint8_t packed[LLV_K_SCALE_SIZE],
                             uint8_t *L) {
    float inv_scale = max_scale > 0 ? 63.f / max_scale : 0.f;
    float inv_min = max_min > 0 ? 63.f / max_min : 0.f;
    memset(packed, 0, LLV_K_SCALE_SIZE);
    for (int j = 0; j < LLV_QK_K / 32; j++) {
        uint8_t ls = (uint8_t)LLV_MIN(63, (uint8_t)nearest_int(inv_scale * scales[j]));
        uint8_t lm = (uint8_t)LLV_MIN(63, (uint8_t)nearest_int(inv_min * mins[j]));
        if (j < 4) {
            packed[j] = ls;
            packed[j + 4] = lm;
        } else {
            packed[j + 4] = (uint8_t)((ls & 0xF) | ((lm & 0xF) << 4));
            packed[j - 4] |= (uint8_t)((ls >> 4) << 6);
            packed[j] |= (uint8_t)((lm >> 4) << 6);
        }
    }
    *d_out = llv_f32_to_f16(max_scale / 63.f);
    *dmin_out = llv_f32_to_f16(max_min / 63.f);
    for (int j = 0; j < LLV_QK_K / 32; j++) {
        uint8_t sc, m;
        llv_q4k_scale_min(j, packed, &sc, &m);
        const float d = llv_f16_to_f32(*d_out) * sc;
        if (d == 0.0f) continue;
        const float dm = llv_f16_to_f32(*dmin_out) * m;
        for (int ii = 0; ii < 32; ii++) {
            int l = nearest_int((x[32 * j + ii] + dm) / d);
            L[32 * j + ii] = (uint8_t)LLV_MAX(0, LLV_MIN(nmax, l));
        }
    }
}

void llv_ref_q4_K_from_f32(const float *x, void *dst, int64_t n) {
    llv_block_q4_K *y = dst;
    uint8_t L[LLV_QK_K], Laux[32];
    float weights[32], mins[LLV_QK_K / 32], scales[LLV_QK_K / 32];
    for (int64_t i = 0; i < n / LLV_QK_K; i++, x += LLV_QK_K) {
        float max_scale = 0, max_min = 0;
        for (int j = 0; j < LLV_QK_K / 32; j++) {
            float sum_x2 = 0;
            for (int l = 0; l < 32; l++) sum_x2 += x[32 * j + l] * x[32 * j + l];
            float av_x = sqrtf(sum_x2 / 32);
            for (int l = 0; l < 32; l++) weights[l] = av_x + fabsf(x[32 * j + l]);
            scales[j] = make_qkx2_quants(32, 15, x + 32 * j, weights, L + 32 * j, &mins[j], Laux, -1.f, 0.1f, 20, false);
            if (scales[j] > max_scale) max_scale = scales[j];
            if (mins[j] > max_min) max_min = mins[j];
        }
        pack_scales_mins(x, scales, mins, max_scale, max_min, 15, &y[i].d, &y[i].dmin, y[i].scales, L);
        uint8_t *q = y[i].qs;
        for (int j = 0; j < LLV_QK_K; j += 64, q += 32)
            for (int l = 0; l < 32; l++) q[l] = (uint8_t)(L[j + l] | (L[j + l + 32] << 4));
    }
}

void llv_ref_q4_K_to_f32(const void *src, float *y, int64_t n) {
    const llv_block_q4_K *x = src;
    for (int64_t i = 0; i < n / LLV_QK_K; i++) {
        const uint8_t *q = x[i].qs;
        const float d = llv_f16_to_f32(x[i].d);
        const float min = llv_f16_to_f32(x[i].dmin);
        for (int j = 0, is = 0; j < LLV_QK_K; j += 64, is += 2, q += 32) {
            uint8_t sc, m;
            llv_q4k_scale_min(is, x[i].scales, &sc, &m);
            const float d1 = d * sc, m1 = min * m;
            llv_q4k_scale_min(is + 1, x[i].scales, &sc, &m);
            const float d2 = d * sc, m2 = min * m;
            for (int l = 0; l < 32; l++) *y++ = d1 * (q[l] & 0xF) - m1;
            for (int l = 0; l < 32; l++) *y++ = d2 * (q[l] >> 4) - m2;
        }
    }
}

/* ------------------------------------------------------------------------- */
/* Q6_K                                                                      */
/* ------------------------------------------------------------------------- */

/* Symmetric quantization to L in [0, 2*nmax) (offset nmax) with an x^2
 * weighted search over 19 candidate scales (ggml's make_qx_quants with
 * rmse_type 1, no importance weights). Returns the scale. */
static float make_qx_quants(int n, int nmax, const float *x, int8_t *L) {
    float amax;
    const float max = max_signed(x, n, &amax);
    if (amax < GROUP_MAX_EPS) {
        for (int i = 0; i < n; i++) L[i] = 0;
        return 0.f;
    }
    float iscale = -nmax / max;
    float sumlx = 0, suml2 = 0;
    for (int i = 0; i < n; i++) {
        int l = nearest_int(iscale * x[i]);
        l = LLV_MAX(-nmax, LLV_MIN(nmax - 1, l));
        L[i] = (int8_t)(l + nmax);
        float w = x[i] * x[i];
        sumlx += w * x[i] * l;
        suml2 += w * l * l;
    }
    float scale = suml2 != 0 ? sumlx / suml2 : 0.0f;
    float best = scale * sumlx;
    for (int is = -9; is <= 9; ++is) {
        if (is == 0) continue;
        iscale = -(nmax + 0.1f * is) / max;
        sumlx = suml2 = 0;
        for (int i = 0; i < n; i++) {
            int l = nearest_int(iscale * x[i]);
            l = LLV_MAX(-nmax, LLV_MIN(nmax - 1, l));
            float w = x[i] * x[i];
            sumlx += w * x[i] * l;
            suml2 += w * l * l;
        }
        if (suml2 > 0 && sumlx * sumlx > best * suml2) {
            for (int i = 0; i < n; i++) {
                int l = nearest_int(iscale * x[i]);
                L[i] = (int8_t)(nmax + LLV_MAX(-nmax, LLV_MIN(nmax - 1, l)));
            }
            scale = sumlx / suml2;
            best = scale * sumlx;
        }
    }
    return scale;
}

void llv_ref_q6_K_from_f32(const float *x, void *dst, int64_t n) {
    llv_block_q6_K *y = dst;
    int8_t L[LLV_QK_K];
    float scales[LLV_QK_K / 16];
    for (int64_t i = 0; i < n / LLV_QK_K; i++, x += LLV_QK_K) {
        float max_scale = 0, max_abs_scale = 0;
        for (int ib = 0; ib < LLV_QK_K / 16; ib++) {
            const float scale = make_qx_quants(16, 32, x + 16 * ib, L + 16 * ib);
            scales[ib] = scale;
            const float abs_scale = fabsf(scale);
            if (abs_scale > max_abs_scale) {
                max_abs_scale = abs_scale;
                max_scale = scale;
            }
        }
        if (max_abs_scale < GROUP_MAX_EPS) {
            memset(&y[i], 0, sizeof y[i]);
            y[i].d = llv_f32_to_f16(0.f);
            continue;
        }
        float iscale = -128.f / max_scale;
        y[i].d = llv_f32_to_f16(1 / iscale);
        for (int ib = 0; ib < LLV_QK_K / 16; ib++)
            y[i].scales[ib] = (int8_t)LLV_MIN(127, nearest_int(iscale * scales[ib]));
        for (int j = 0; j < LLV_QK_K / 16; j++) {
            const float d = llv_f16_to_f32(y[i].d) * y[i].scales[j];
            if (d == 0.0f) continue;
            for (int ii = 0; ii < 16; ii++) {
                int l = nearest_int(x[16 * j + ii] / d);
                l = LLV_MAX(-32, LLV_MIN(31, l));
                L[16 * j + ii] = (int8_t)(l + 32);
            }
        }
        uint8_t *ql = y[i].ql, *qh = y[i].qh;
        for (int j = 0; j < LLV_QK_K; j += 128, ql += 64, qh += 32) {
            for (int l = 0; l < 32; l++) {
                const uint8_t q1 = L[j + l + 0] & 0xF, q2 = L[j + l + 32] & 0xF;
                const uint8_t q3 = L[j + l + 64] & 0xF, q4 = L[j + l + 96] & 0xF;
                ql[l + 0] = (uint8_t)(q1 | (q3 << 4));
                ql[l + 32] = (uint8_t)(q2 | (q4 << 4));
                qh[l] = (uint8_t)((L[j + l] >> 4) | ((L[j + l + 32] >> 4) << 2) | ((L[j + l + 64] >> 4) << 4) |
                                  ((L[j + l + 96] >> 4) << 6));
            }
        }
    }
}

void llv_ref_q6_K_to_f32(const void *src, float *y, int64_t n) {
    const llv_block_q6_K *x = src;
    for (int64_t i = 0; i < n / LLV_QK_K; i++) {
        const float d = llv_f16_to_f32(x[i].d);
        const uint8_t *ql = x[i].ql, *qh = x[i].qh;
        const int8_t *sc = x[i].scales;
        for (int k = 0; k < LLV_QK_K; k += 128, y += 128, ql += 64, qh += 32, sc += 8) {
            for (int l = 0; l < 32; l++) {
                const int is = l / 16;
                const int q1 = (int8_t)((ql[l + 0] & 0xF) | (((qh[l] >> 0) & 3) << 4)) - 32;
                const int q2 = (int8_t)((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4)) - 32;
                const int q3 = (int8_t)((ql[l + 0] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
                const int q4 = (int8_t)((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;
                y[l + 0] = d * sc[is + 0] * q1;
                y[l + 32] = d * sc[is + 2] * q2;
                y[l + 64] = d * sc[is + 4] * q3;
                y[l + 96] = d * sc[is + 6] * q4;
            }
        }
    }
}

/* ------------------------------------------------------------------------- */
/* Q2_K                                                                      */
/* ------------------------------------------------------------------------- */

/* Q2_K / Q3_K: 2 low bits of values j + l, +32, +64, +96 (l < 32) per qs byte. */
static void pack_2bit(const uint8_t *L, uint8_t *qs) {
    for (int j = 0; j < LLV_QK_K; j += 128)
        for (int l = 0; l < 32; l++)
            qs[j / 4 + l] = (uint8_t)(L[j + l] | (L[j + l + 32] << 2) | (L[j + l + 64] << 4) | (L[j + l + 96] << 6));
}

void llv_ref_q2_K_from_f32(const float *x, void *dst, int64_t n) {
    llv_block_q2_K *y = dst;
    uint8_t L[LLV_QK_K], Laux[16];
    float weights[16], mins[LLV_QK_K / 16], scales[LLV_QK_K / 16];
    for (int64_t i = 0; i < n / LLV_QK_K; i++, x += LLV_QK_K) {
        float max_scale = 0, max_min = 0;
        for (int j = 0; j < LLV_QK_K / 16; j++) {
            for (int l = 0; l < 16; l++) weights[l] = fabsf(x[16 * j + l]);
            scales[j] = make_qkx2_quants(16, 3, x + 16 * j, weights, L + 16 * j, &mins[j], Laux, -0.5f, 0.1f, 15, true);
            if (scales[j] > max_scale) max_scale = scales[j];
            if (mins[j] > max_min) max_min = mins[j];
        }
        /* 4-bit scales and mins; the uint8 wrap of an out-of-range value is ggml's */
        if (max_scale > 0) {
            const float iscale = 15.f / max_scale;
            for (int j = 0; j < LLV_QK_K / 16; j++) y[i].scales[j] = (uint8_t)nearest_int(iscale * scales[j]);
            y[i].d = llv_f32_to_f16(max_scale / 15.f);
        } else {
            memset(y[i].scales, 0, sizeof y[i].scales);
            y[i].d = llv_f32_to_f16(0.f);
        }
        if (max_min > 0) {
            const float iscale = 15.f / max_min;
            for (int j = 0; j < LLV_QK_K / 16; j++)
                y[i].scales[j] |= (uint8_t)((unsigned)nearest_int(iscale * mins[j]) << 4);
            y[i].dmin = llv_f32_to_f16(max_min / 15.f);
        } else {
            y[i].dmin = llv_f32_to_f16(0.f);
        }
        /* requantize against the rounded scales actually stored */
        for (int j = 0; j < LLV_QK_K / 16; j++) {
            const float d = llv_f16_to_f32(y[i].d) * (y[i].scales[j] & 0xF);
            if (d == 0.0f) continue;
            const float dm = llv_f16_to_f32(y[i].dmin) * (y[i].scales[j] >> 4);
            for (int ii = 0; ii < 16; ii++) {
                int l = nearest_int((x[16 * j + ii] + dm) / d);
                L[16 * j + ii] = (uint8_t)LLV_MAX(0, LLV_MIN(3, l));
            }
        }
        pack_2bit(L, y[i].qs);
    }
}

void llv_ref_q2_K_to_f32(const void *src, float *y, int64_t n) {
    const llv_block_q2_K *x = src;
    for (int64_t i = 0; i < n / LLV_QK_K; i++) {
        const float d = llv_f16_to_f32(x[i].d);
        const float min = llv_f16_to_f32(x[i].dmin);
        const uint8_t *q = x[i].qs, *sc = x[i].scales;
        for (int h = 0; h < 2; h++, q += 32) {
            for (int shift = 0; shift < 8; shift += 2) {
                for (int k = 0; k < 2; k++, sc++) { /* sub-blocks: q[0..15], then q[16..31] */
                    const float dl = d * (*sc & 0xF), ml = min * (*sc >> 4);
                    for (int l = 0; l < 16; l++) *y++ = dl * ((q[16 * k + l] >> shift) & 3) - ml;
                }
            }
        }
    }
}

/* ------------------------------------------------------------------------- */
/* Q3_K                                                                      */
/* ------------------------------------------------------------------------- */

/* Symmetric fit of x ~ scale * L with L in [-nmax, nmax), starting from the
 * value of largest magnitude at -nmax, then up to 5 rounds of moving single
 * values to the level that most improves the x^2-weighted fit (ggml's
 * make_q3_quants with do_rmse). L is returned offset by nmax. */
static float make_q3_quants(int n, int nmax, const float *x, int8_t *L) {
    float amax;
    const float max = max_signed(x, n, &amax);
    if (amax < GROUP_MAX_EPS) {
        for (int i = 0; i < n; i++) L[i] = 0;
        return 0.f;
    }
    float iscale = -nmax / max;
    float sumlx = 0, suml2 = 0;
    for (int i = 0; i < n; i++) {
        int l = nearest_int(iscale * x[i]);
        l = LLV_MAX(-nmax, LLV_MIN(nmax - 1, l));
        L[i] = (int8_t)l;
        float w = x[i] * x[i];
        sumlx += w * x[i] * l;
        suml2 += w * l * l;
    }
    for (int itry = 0; itry < 5; itry++) {
        int n_changed = 0;
        for (int i = 0; i < n; i++) {
            float w = x[i] * x[i];
            float slx = sumlx - w * x[i] * L[i];
            if (slx > 0) {
                float sl2 = suml2 - w * L[i] * L[i];
                int new_l = nearest_int(x[i] * sl2 / slx);
                new_l = LLV_MAX(-nmax, LLV_MIN(nmax - 1, new_l));
                if (new_l != L[i]) {
                    slx += w * x[i] * new_l;
                    sl2 += w * new_l * new_l;
                    if (sl2 > 0 && slx * slx * suml2 > sumlx * sumlx * sl2) {
                        L[i] = (int8_t)new_l;
                        sumlx = slx;
                        suml2 = sl2;
                        n_changed++;
                    }
                }
            }
        }
        if (!n_changed) break;
    }
    for (int i = 0; i < n; i++) L[i] = (int8_t)(L[i] + nmax);
    return suml2 > 0.0f ? sumlx / suml2 : 0.0f;
}

void llv_ref_q3_K_from_f32(const float *x, void *dst, int64_t n) {
    llv_block_q3_K *y = dst;
    int8_t L[LLV_QK_K], sc[LLV_QK_K / 16];
    float scales[LLV_QK_K / 16];
    for (int64_t i = 0; i < n / LLV_QK_K; i++, x += LLV_QK_K) {
        for (int j = 0; j < LLV_QK_K / 16; j++) scales[j] = make_q3_quants(16, 4, x + 16 * j, L + 16 * j);
        const float max_scale = max_signed(scales, LLV_QK_K / 16, NULL);
        memset(y[i].scales, 0, sizeof y[i].scales);
        if (max_scale != 0.0f) {
            /* signed 6-bit scales: low nibbles in bytes 0-7, the 2 high bits in 8-11 */
            const float iscale = -32.f / max_scale;
            for (int j = 0; j < LLV_QK_K / 16; j++) {
                int l = (int8_t)nearest_int(iscale * scales[j]);
                l = LLV_MAX(-32, LLV_MIN(31, l)) + 32;
                if (j < 8) y[i].scales[j] = (uint8_t)(l & 0xF);
                else y[i].scales[j - 8] |= (uint8_t)((l & 0xF) << 4);
                y[i].scales[j % 4 + 8] |= (uint8_t)((l >> 4) << (2 * (j / 4)));
            }
            y[i].d = llv_f32_to_f16(1 / iscale);
        } else {
            y[i].d = llv_f32_to_f16(0.f);
        }
        llv_q3k_scales(y[i].scales, sc);
        for (int j = 0; j < LLV_QK_K / 16; j++) {
            const float d = llv_f16_to_f32(y[i].d) * sc[j];
            if (d == 0.0f) continue;
            for (int ii = 0; ii < 16; ii++) {
                int l = nearest_int(x[16 * j + ii] / d);
                L[16 * j + ii] = (int8_t)(LLV_MAX(-4, LLV_MIN(3, l)) + 4);
            }
        }
        /* the high bit of value j goes to hmask[j % 32] bit j / 32 */
        memset(y[i].hmask, 0, sizeof y[i].hmask);
        uint8_t low[LLV_QK_K];
        for (int j = 0; j < LLV_QK_K; j++) {
            if (L[j] > 3) y[i].hmask[j % 32] |= (uint8_t)(1u << (j / 32));
            low[j] = (uint8_t)(L[j] & 3);
        }
        pack_2bit(low, y[i].qs);
    }
}

void llv_ref_q3_K_to_f32(const void *src, float *y, int64_t n) {
    const llv_block_q3_K *x = src;
    int8_t sc[LLV_QK_K / 16];
    for (int64_t i = 0; i < n / LLV_QK_K; i++) {
        const float d_all = llv_f16_to_f32(x[i].d);
        const uint8_t *q = x[i].qs, *hm = x[i].hmask;
        llv_q3k_scales(x[i].scales, sc);
        int is = 0;
        uint8_t m = 1;
        for (int h = 0; h < 2; h++, q += 32) {
            for (int shift = 0; shift < 8; shift += 2, m = (uint8_t)(m << 1)) {
                for (int k = 0; k < 2; k++) {
                    const float dl = d_all * sc[is++];
                    for (int l = 16 * k; l < 16 * k + 16; l++)
                        *y++ = dl * (((q[l] >> shift) & 3) - ((hm[l] & m) ? 0 : 4));
                }
            }
        }
    }
}

/* ------------------------------------------------------------------------- */
/* Q5_K                                                                      */
/* ------------------------------------------------------------------------- */

void llv_ref_q5_K_from_f32(const float *x, void *dst, int64_t n) {
    llv_block_q5_K *y = dst;
    uint8_t L[LLV_QK_K], Laux[32];
    float weights[32], mins[LLV_QK_K / 32], scales[LLV_QK_K / 32];
    for (int64_t i = 0; i < n / LLV_QK_K; i++, x += LLV_QK_K) {
        float max_scale = 0, max_min = 0;
        for (int j = 0; j < LLV_QK_K / 32; j++) {
            float sum_x2 = 0;
            for (int l = 0; l < 32; l++) sum_x2 += x[32 * j + l] * x[32 * j + l];
            float av_x = sqrtf(sum_x2 / 32);
            for (int l = 0; l < 32; l++) weights[l] = av_x + fabsf(x[32 * j + l]);
            scales[j] = make_qkx2_quants(32, 31, x + 32 * j, weights, L + 32 * j, &mins[j], Laux, -0.5f, 0.1f, 15, false);
            if (scales[j] > max_scale) max_scale = scales[j];
            if (mins[j] > max_min) max_min = mins[j];
        }
        pack_scales_mins(x, scales, mins, max_scale, max_min, 31, &y[i].d, &y[i].dmin, y[i].scales, L);
        uint8_t *qh = y[i].qh, *ql = y[i].qs;
        memset(qh, 0, sizeof y[i].qh);
        for (int j = 0, b = 0; j < LLV_QK_K; j += 64, b += 2, ql += 32) {
            for (int l = 0; l < 32; l++) {
                const int l1 = L[j + l], l2 = L[j + l + 32];
                qh[l] |= (uint8_t)(((l1 >> 4) << b) | ((l2 >> 4) << (b + 1)));
                ql[l] = (uint8_t)((l1 & 0xF) | ((l2 & 0xF) << 4));
            }
        }
    }
}

void llv_ref_q5_K_to_f32(const void *src, float *y, int64_t n) {
    const llv_block_q5_K *x = src;
    for (int64_t i = 0; i < n / LLV_QK_K; i++) {
        const uint8_t *ql = x[i].qs, *qh = x[i].qh;
        const float d = llv_f16_to_f32(x[i].d);
        const float min = llv_f16_to_f32(x[i].dmin);
        for (int j = 0, is = 0; j < LLV_QK_K; j += 64, is += 2, ql += 32) {
            uint8_t sc, m;
            llv_q4k_scale_min(is, x[i].scales, &sc, &m);
            const float d1 = d * sc, m1 = min * m;
            llv_q4k_scale_min(is + 1, x[i].scales, &sc, &m);
            const float d2 = d * sc, m2 = min * m;
            for (int l = 0; l < 32; l++) *y++ = d1 * ((ql[l] & 0xF) + (((qh[l] >> is) & 1) << 4)) - m1;
            for (int l = 0; l < 32; l++) *y++ = d2 * ((ql[l] >> 4) + (((qh[l] >> (is + 1)) & 1) << 4)) - m2;
        }
    }
}

/* ------------------------------------------------------------------------- */
/* matmul: dequantize CHUNK weights at a time, then float dot products       */
/* ------------------------------------------------------------------------- */

/* Same 8-lane fixed-order dot as ref-matmul.c (kept identical on purpose). */
static float dot_chunk(const float *a, const float *b, int64_t n) {
    float acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        for (int j = 0; j < 8; j++) acc[j] += a[i + j] * b[i + j];
    for (int j = 0; i < n; i++, j++) acc[j] += a[i] * b[i];
    return ((acc[0] + acc[4]) + (acc[2] + acc[6])) + ((acc[1] + acc[5]) + (acc[3] + acc[7]));
}

static void matmul_quant(void (*conv)(const void *, float *, int64_t), int64_t bs, size_t bb, const void *w,
                         size_t w_row_bytes, const float *x, int64_t ldx, int64_t M, int64_t K, float *y,
                         int64_t ldy, int64_t n0, int64_t n1) {
    float buf[CHUNK];
    for (int64_t n = n0; n < n1; n++) {
        const unsigned char *wr = (const unsigned char *)w + (size_t)n * w_row_bytes;
        for (int64_t m = 0; m < M; m++) y[m * ldy + n] = 0.0f;
        for (int64_t k0 = 0; k0 < K; k0 += CHUNK) {
            const int64_t len = LLV_MIN(CHUNK, K - k0);
            conv(wr + (size_t)(k0 / bs) * bb, buf, len);
            for (int64_t m = 0; m < M; m++) y[m * ldy + n] += dot_chunk(x + m * ldx + k0, buf, len);
        }
    }
}

#define DEF_MATMUL(name, conv, bs, block)                                                                      \
    void name(const void *w, size_t w_row_bytes, const float *x, int64_t ldx, int64_t M, int64_t K, float *y,  \
              int64_t ldy, int64_t n0, int64_t n1) {                                                           \
        matmul_quant(conv, bs, sizeof(block), w, w_row_bytes, x, ldx, M, K, y, ldy, n0, n1);                  \
    }

DEF_MATMUL(llv_ref_matmul_q8_0, llv_ref_q8_0_to_f32, LLV_QK8_0, llv_block_q8_0)
DEF_MATMUL(llv_ref_matmul_q4_0, llv_ref_q4_0_to_f32, LLV_QK4_0, llv_block_q4_0)
DEF_MATMUL(llv_ref_matmul_q4_1, llv_ref_q4_1_to_f32, LLV_QK4_1, llv_block_q4_1)
DEF_MATMUL(llv_ref_matmul_q5_0, llv_ref_q5_0_to_f32, LLV_QK5_0, llv_block_q5_0)
DEF_MATMUL(llv_ref_matmul_q5_1, llv_ref_q5_1_to_f32, LLV_QK5_1, llv_block_q5_1)
DEF_MATMUL(llv_ref_matmul_q4_K, llv_ref_q4_K_to_f32, LLV_QK_K, llv_block_q4_K)
DEF_MATMUL(llv_ref_matmul_q6_K, llv_ref_q6_K_to_f32, LLV_QK_K, llv_block_q6_K)
DEF_MATMUL(llv_ref_matmul_q2_K, llv_ref_q2_K_to_f32, LLV_QK_K, llv_block_q2_K)
DEF_MATMUL(llv_ref_matmul_q3_K, llv_ref_q3_K_to_f32, LLV_QK_K, llv_block_q3_K)
DEF_MATMUL(llv_ref_matmul_q5_K, llv_ref_q5_K_to_f32, LLV_QK_K, llv_block_q5_K)
