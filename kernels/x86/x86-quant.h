/* x86-quant.h - ggml's quantized block layouts as the x86 kernels read them
 * (kernels/ref/ref-quant.h): packed, little-endian, fp16 scales as IEEE half
 * bits, stored unaligned in files (unaligned loads only). */
#ifndef LLV_X86_QUANT_H
#define LLV_X86_QUANT_H

#include "x86-kernels.h"

#include "../ref/ref-quant.h"

#include <stdbool.h>

typedef llv_block_q4_0 x86_block_q4_0;
typedef llv_block_q4_1 x86_block_q4_1;
typedef llv_block_q5_0 x86_block_q5_0;
typedef llv_block_q5_1 x86_block_q5_1;
typedef llv_block_q8_0 x86_block_q8_0;
typedef llv_block_q4_K x86_block_q4_K;
typedef llv_block_q6_K x86_block_q6_K;
typedef llv_block_q2_K x86_block_q2_K;
typedef llv_block_q3_K x86_block_q3_K;
typedef llv_block_q5_K x86_block_q5_K;

#endif
