/* x86-quant.h - ggml's quantized block layouts (ggml-common.h) as the x86
 * kernels read them: packed, little-endian, fp16 scales as IEEE half bits,
 * stored unaligned (unaligned loads only). Same bytes as kernels/ref. */
#ifndef LLV_X86_QUANT_H
#define LLV_X86_QUANT_H

#include "x86-kernels.h"

#include <stdbool.h>

typedef struct x86_block_q4_0 { /* x[j] = d*((qs[j] & 15) - 8), x[j+16] = d*((qs[j] >> 4) - 8) */
    uint16_t d;
    uint8_t  qs[16];
} x86_block_q4_0;

typedef struct x86_block_q8_0 { /* x[j] = d*qs[j] */
    uint16_t d;
    int8_t   qs[32];
} x86_block_q8_0;

typedef struct x86_block_q4_K { /* 8 sub-blocks of 32: x = d*sc*q - dmin*m (6-bit sc, m) */
    uint16_t d, dmin;
    uint8_t  scales[12];
    uint8_t  qs[128];
} x86_block_q4_K;

typedef struct x86_block_q6_K { /* 16 sub-blocks of 16: x = d*scales[s]*(q - 32), 6-bit q */
    uint8_t  ql[128];
    uint8_t  qh[64];
    int8_t   scales[16];
    uint16_t d;
} x86_block_q6_K;

_Static_assert(sizeof(x86_block_q4_0) == 18, "Q4_0 block size");
_Static_assert(sizeof(x86_block_q8_0) == 34, "Q8_0 block size");
_Static_assert(sizeof(x86_block_q4_K) == 144, "Q4_K block size");
_Static_assert(sizeof(x86_block_q6_K) == 210, "Q6_K block size");

#endif
