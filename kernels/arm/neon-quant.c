/* NEON (ARMv8.0-A) quantized matmul: SMULL/SMULL2 + SADALP in place of SDOT
 * (no saturation: |int8 * int8| <= 128 * 127 fits int16); the kernels are in
 * neon-quant-impl.h. Also the row dequantization of Q8_0, Q4_0, Q4_K and
 * Q6_K, bitwise equal to the reference (the same float operations in the same
 * order; no fused multiply-adds). */
#include "arm-kernels.h"

#include <arm_neon.h>

static inline __attribute__((always_inline)) int32x4_t dot_s8(int32x4_t acc, int8x16_t a, int8x16_t b) {
    acc = vpadalq_s16(acc, vmull_s8(vget_low_s8(a), vget_low_s8(b)));
    return vpadalq_s16(acc, vmull_high_s8(a, b));
}

#define PFX(name) llv_neon_##name
#define DOT(acc, a, b) dot_s8((acc), (a), (b))

#include "neon-quant-impl.h"

/* ------------------------------------------------------------------------- */
/* dequantization                                                            */
/* ------------------------------------------------------------------------- */

/* 16 int8 -> float, each times d (one rounding, as (float)q * d) */
static inline __attribute__((always_inline)) void store16(float *y, int8x16_t q, float32x4_t d) {
    int16x8_t lo = vmovl_s8(vget_low_s8(q)), hi = vmovl_high_s8(q);
    vst1q_f32(y, vmulq_f32(vcvtq_f32_s32(vmovl_s16(vget_low_s16(lo))), d));
    vst1q_f32(y + 4, vmulq_f32(vcvtq_f32_s32(vmovl_high_s16(lo)), d));
    vst1q_f32(y + 8, vmulq_f32(vcvtq_f32_s32(vmovl_s16(vget_low_s16(hi))), d));
    vst1q_f32(y + 12, vmulq_f32(vcvtq_f32_s32(vmovl_high_s16(hi)), d));
}

void llv_neon_q8_0_to_f32(const void *src, float *y, int64_t n) {
    const unsigned char *b = src;
    for (int64_t i = 0; i < n / 32; i++, y += 32, b += sizeof(llv_block_q8_0)) {
        const w32 w = unpack32(LLV_TYPE_Q8_0, b);
        store16(y, w.lo, vdupq_n_f32(w.d));
        store16(y + 16, w.hi, vdupq_n_f32(w.d));
    }
}

void llv_neon_q4_0_to_f32(const void *src, float *y, int64_t n) {
    const unsigned char *b = src;
    for (int64_t i = 0; i < n / 32; i++, y += 32, b += sizeof(llv_block_q4_0)) {
        const w32 w = unpack32(LLV_TYPE_Q4_0, b);
        store16(y, w.lo, vdupq_n_f32(w.d));
        store16(y + 16, w.hi, vdupq_n_f32(w.d));
    }
}

/* Q4_K: d1 * q - m1 with d1 = d * sc, m1 = dmin * m (ref's order) */
void llv_neon_q4_K_to_f32(const void *src, float *y, int64_t n) {
    const unsigned char *b = src;
    wk w;
    for (int64_t i = 0; i < n / 256; i++, b += sizeof(llv_block_q4_K)) {
        unpack_k(LLV_TYPE_Q4_K, b, &w);
        for (int s = 0; s < 16; s++, y += 16) {
            const float32x4_t d1 = vdupq_n_f32(w.d * (float)w.sc[s]), m1 = vdupq_n_f32(w.dmin * (float)w.mn[s]);
            uint8x16_t q = vreinterpretq_u8_s8(vld1q_s8(w.q + 16 * s));
            uint16x8_t lo = vmovl_u8(vget_low_u8(q)), hi = vmovl_high_u8(q);
            vst1q_f32(y, vsubq_f32(vmulq_f32(d1, vcvtq_f32_u32(vmovl_u16(vget_low_u16(lo)))), m1));
            vst1q_f32(y + 4, vsubq_f32(vmulq_f32(d1, vcvtq_f32_u32(vmovl_high_u16(lo))), m1));
            vst1q_f32(y + 8, vsubq_f32(vmulq_f32(d1, vcvtq_f32_u32(vmovl_u16(vget_low_u16(hi)))), m1));
            vst1q_f32(y + 12, vsubq_f32(vmulq_f32(d1, vcvtq_f32_u32(vmovl_high_u16(hi))), m1));
        }
    }
}

/* Q6_K: (d * sc) * (q - 32) */
void llv_neon_q6_K_to_f32(const void *src, float *y, int64_t n) {
    const unsigned char *b = src;
    wk w;
    for (int64_t i = 0; i < n / 256; i++, b += sizeof(llv_block_q6_K)) {
        unpack_k(LLV_TYPE_Q6_K, b, &w);
        for (int s = 0; s < 16; s++, y += 16) store16(y, vld1q_s8(w.q + 16 * s), vdupq_n_f32(w.d * (float)w.sc[s]));
    }
}
