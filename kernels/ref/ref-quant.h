/* ref-quant.h - ggml's quantized block layouts (ggml/src/ggml-common.h),
 * byte for byte, so GGUF files from llama.cpp and Ollama read as they are.
 * All fields are little-endian; fp16 fields are IEEE half bit patterns.
 * Blocks are packed (no padding) and are stored unaligned in files: SIMD
 * code must use unaligned loads. */
#ifndef LLV_REF_QUANT_H
#define LLV_REF_QUANT_H

#include <stdint.h>

#define LLV_QK4_0 32
#define LLV_QK4_1 32
#define LLV_QK5_0 32
#define LLV_QK5_1 32
#define LLV_QK8_0 32
#define LLV_QK_K  256
#define LLV_K_SCALE_SIZE 12

/* Q4_0: x[j] = d * ((qs[j] & 0xF) - 8), x[j + 16] = d * ((qs[j] >> 4) - 8) */
typedef struct llv_block_q4_0 {
    uint16_t d;
    uint8_t  qs[LLV_QK4_0 / 2];
} llv_block_q4_0;

/* Q4_1: x[j] = d * (qs[j] & 0xF) + m, x[j + 16] = d * (qs[j] >> 4) + m */
typedef struct llv_block_q4_1 {
    uint16_t d;
    uint16_t m;
    uint8_t  qs[LLV_QK4_1 / 2];
} llv_block_q4_1;

/* Q5_0: 5-bit q = the nibble as in Q4_0 | bit j of qh (little-endian uint32)
 * << 4 for value j (j < 32);  x = d * (q - 16) */
typedef struct llv_block_q5_0 {
    uint16_t d;
    uint8_t  qh[4];
    uint8_t  qs[LLV_QK5_0 / 2];
} llv_block_q5_0;

/* Q5_1: q as in Q5_0;  x = d * q + m */
typedef struct llv_block_q5_1 {
    uint16_t d;
    uint16_t m;
    uint8_t  qh[4];
    uint8_t  qs[LLV_QK5_1 / 2];
} llv_block_q5_1;

/* Q8_0: x[j] = d * qs[j] */
typedef struct llv_block_q8_0 {
    uint16_t d;
    int8_t   qs[LLV_QK8_0];
} llv_block_q8_0;

/* Q4_K: 8 sub-blocks of 32 with 6-bit scale sc and min m (packed in scales,
 * see llv_q4k_scale_min); per 64 values, 32 bytes of qs: the low nibbles are
 * sub-block 2i, the high nibbles sub-block 2i+1;  x = d*sc*q - dmin*m. */
typedef struct llv_block_q4_K {
    uint16_t d;
    uint16_t dmin;
    uint8_t  scales[LLV_K_SCALE_SIZE];
    uint8_t  qs[LLV_QK_K / 2];
} llv_block_q4_K;

/* Q6_K: 16 sub-blocks of 16 with int8 scales; 6-bit q = 4 low bits in ql,
 * 2 high bits in qh, offset 32;  x = d * scales[s] * (q - 32).
 * Per 128 values (ql += 64, qh += 32, scales += 8), for l < 32:
 *   x[l]    : ql[l]    & 0xF, (qh[l] >> 0) & 3, scale[l/16 + 0]
 *   x[l+32] : ql[l+32] & 0xF, (qh[l] >> 2) & 3, scale[l/16 + 2]
 *   x[l+64] : ql[l]    >> 4,  (qh[l] >> 4) & 3, scale[l/16 + 4]
 *   x[l+96] : ql[l+32] >> 4,  (qh[l] >> 6) & 3, scale[l/16 + 6] */
typedef struct llv_block_q6_K {
    uint8_t  ql[LLV_QK_K / 2];
    uint8_t  qh[LLV_QK_K / 4];
    int8_t   scales[LLV_QK_K / 16];
    uint16_t d;
} llv_block_q6_K;

/* Q2_K: 16 sub-blocks of 16 with 4-bit scale (scales[s] & 15) and min
 * (scales[s] >> 4); 2-bit q. Per 128 values (qs += 32), for l < 32 and
 * shift t = 0..3: x[32t + l] = (qs[l] >> 2t) & 3, sub-block 2t + l/16
 * (+ 8 in the second half);  x = d*sc*q - dmin*m. */
typedef struct llv_block_q2_K {
    uint8_t  scales[LLV_QK_K / 16];
    uint8_t  qs[LLV_QK_K / 4];
    uint16_t d;
    uint16_t dmin;
} llv_block_q2_K;

/* Q3_K: 16 sub-blocks of 16 with signed 6-bit scales (llv_q3k_scales);
 * 3-bit q: the 2 low bits in qs as Q2_K's, the high bit of value v in
 * hmask[v % 32] bit v / 32;  x = d * sc * (q - 4) with q in [0, 8). */
typedef struct llv_block_q3_K {
    uint8_t  hmask[LLV_QK_K / 8];
    uint8_t  qs[LLV_QK_K / 4];
    uint8_t  scales[LLV_K_SCALE_SIZE];
    uint16_t d;
} llv_block_q3_K;

/* Q5_K: Q4_K's scales, mins and nibbles, plus the fifth bit of value
 * 64i + l in qh[l] bit 2i, of value 64i + 32 + l in bit 2i+1 (l < 32). */
typedef struct llv_block_q5_K {
    uint16_t d;
    uint16_t dmin;
    uint8_t  scales[LLV_K_SCALE_SIZE];
    uint8_t  qh[LLV_QK_K / 8];
    uint8_t  qs[LLV_QK_K / 2];
} llv_block_q5_K;

_Static_assert(sizeof(llv_block_q4_0) == 18, "Q4_0 block size");
_Static_assert(sizeof(llv_block_q4_1) == 20, "Q4_1 block size");
_Static_assert(sizeof(llv_block_q5_0) == 22, "Q5_0 block size");
_Static_assert(sizeof(llv_block_q5_1) == 24, "Q5_1 block size");
_Static_assert(sizeof(llv_block_q8_0) == 34, "Q8_0 block size");
_Static_assert(sizeof(llv_block_q4_K) == 144, "Q4_K block size");
_Static_assert(sizeof(llv_block_q6_K) == 210, "Q6_K block size");
_Static_assert(sizeof(llv_block_q2_K) == 84, "Q2_K block size");
_Static_assert(sizeof(llv_block_q3_K) == 110, "Q3_K block size");
_Static_assert(sizeof(llv_block_q5_K) == 176, "Q5_K block size");

/* 6-bit scale and min of sub-block j (0..7) of a Q4_K block (ggml's get_scale_min_k4). */
static inline void llv_q4k_scale_min(int j, const uint8_t *q, uint8_t *sc, uint8_t *m) {
    if (j < 4) {
        *sc = q[j] & 63;
        *m = q[j + 4] & 63;
    } else {
        *sc = (uint8_t)((q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4));
        *m = (uint8_t)((q[j + 4] >> 4) | ((q[j] >> 6) << 4));
    }
}

/* The 16 signed scales (-32..31) of a Q3_K block: sub-block s has the low
 * nibble of q[s % 8] (the high one for s >= 8) and bits 2(s/4), +1 of
 * q[8 + s % 4] above it, minus 32 (ggml's kmask1/kmask2 unpacking). */
static inline void llv_q3k_scales(const uint8_t *q, int8_t *sc) {
    for (int s = 0; s < 16; s++) {
        const int lo = s < 8 ? q[s] & 0xF : q[s - 8] >> 4;
        const int hi = (q[8 + s % 4] >> (2 * (s / 4))) & 3;
        sc[s] = (int8_t)((lo | (hi << 4)) - 32);
    }
}

#endif
