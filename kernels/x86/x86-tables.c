/* The x86 kernel tables. Entries an ISA does not specialise point to the
 * reference kernels. Compiled without ISA flags: only data lives here. */
#include "x86-kernels.h"

#include "../ref/ref-internal.h"

/* Row (de)quantization of the quantized types: not on a hot path (embedding
 * rows, conversion tools), so the reference versions serve every table. */
#define QUANT_REF_TO_F32                                                                                             \
    [LLV_TYPE_Q4_0] = llv_ref_q4_0_to_f32, [LLV_TYPE_Q4_1] = llv_ref_q4_1_to_f32,                                   \
    [LLV_TYPE_Q5_0] = llv_ref_q5_0_to_f32, [LLV_TYPE_Q5_1] = llv_ref_q5_1_to_f32,                                   \
    [LLV_TYPE_Q8_0] = llv_ref_q8_0_to_f32, [LLV_TYPE_Q4_K] = llv_ref_q4_K_to_f32,                                   \
    [LLV_TYPE_Q6_K] = llv_ref_q6_K_to_f32, [LLV_TYPE_Q2_K] = llv_ref_q2_K_to_f32,                                   \
    [LLV_TYPE_Q3_K] = llv_ref_q3_K_to_f32, [LLV_TYPE_Q5_K] = llv_ref_q5_K_to_f32
#define QUANT_REF_FROM_F32                                                                                           \
    [LLV_TYPE_Q4_0] = llv_ref_q4_0_from_f32, [LLV_TYPE_Q4_1] = llv_ref_q4_1_from_f32,                               \
    [LLV_TYPE_Q5_0] = llv_ref_q5_0_from_f32, [LLV_TYPE_Q5_1] = llv_ref_q5_1_from_f32,                               \
    [LLV_TYPE_Q8_0] = llv_ref_q8_0_from_f32, [LLV_TYPE_Q4_K] = llv_ref_q4_K_from_f32,                               \
    [LLV_TYPE_Q6_K] = llv_ref_q6_K_from_f32, [LLV_TYPE_Q2_K] = llv_ref_q2_K_from_f32,                               \
    [LLV_TYPE_Q3_K] = llv_ref_q3_K_from_f32, [LLV_TYPE_Q5_K] = llv_ref_q5_K_from_f32

static const llv_kernels avx512_table = {
    .name = "avx512",
    .matmul = {[LLV_TYPE_F32] = llv_avx512_matmul_f32,
               [LLV_TYPE_F16] = llv_avx512_matmul_f16,
               [LLV_TYPE_BF16] = llv_avx512_matmul_bf16,
               [LLV_TYPE_Q4_0] = llv_avx512_matmul_q4_0,
               [LLV_TYPE_Q4_1] = llv_avx512_matmul_q4_1,
               [LLV_TYPE_Q5_0] = llv_avx512_matmul_q5_0,
               [LLV_TYPE_Q5_1] = llv_avx512_matmul_q5_1,
               [LLV_TYPE_Q8_0] = llv_avx512_matmul_q8_0,
               [LLV_TYPE_Q4_K] = llv_avx512_matmul_q4_K,
               [LLV_TYPE_Q6_K] = llv_avx512_matmul_q6_K,
               [LLV_TYPE_Q2_K] = llv_avx512_matmul_q2_K,
               [LLV_TYPE_Q3_K] = llv_avx512_matmul_q3_K,
               [LLV_TYPE_Q5_K] = llv_avx512_matmul_q5_K},
    .to_f32 = {[LLV_TYPE_F32] = llv_ref_f32_to_f32,
               [LLV_TYPE_F16] = llv_avx512_f16_to_f32,
               [LLV_TYPE_BF16] = llv_avx512_bf16_to_f32,
               QUANT_REF_TO_F32},
    .from_f32 = {[LLV_TYPE_F32] = llv_ref_f32_from_f32,
                 [LLV_TYPE_F16] = llv_ref_f16_from_f32,
                 [LLV_TYPE_BF16] = llv_ref_bf16_from_f32,
                 QUANT_REF_FROM_F32},
    .dot_f32 = llv_avx512_dot_f32,
    .axpy_f32 = llv_avx512_axpy_f32,
    .attn_pv = llv_avx512_attn_pv,
    .rmsnorm = llv_avx512_rmsnorm,
    .layernorm = llv_avx512_layernorm,
    .softmax = llv_avx512_softmax,
    .silu_mul = llv_avx512_silu_mul,
    .gelu = llv_avx512_gelu,
    .rope_pairs = llv_avx512_rope_pairs,
};

static const llv_kernels avx2_table = {
    .name = "avx2",
    .matmul = {[LLV_TYPE_F32] = llv_avx2_matmul_f32,
               [LLV_TYPE_F16] = llv_avx2_matmul_f16,
               [LLV_TYPE_BF16] = llv_avx2_matmul_bf16,
               [LLV_TYPE_Q4_0] = llv_avx2_matmul_q4_0,
               [LLV_TYPE_Q4_1] = llv_avx2_matmul_q4_1,
               [LLV_TYPE_Q5_0] = llv_avx2_matmul_q5_0,
               [LLV_TYPE_Q5_1] = llv_avx2_matmul_q5_1,
               [LLV_TYPE_Q8_0] = llv_avx2_matmul_q8_0,
               [LLV_TYPE_Q4_K] = llv_avx2_matmul_q4_K,
               [LLV_TYPE_Q6_K] = llv_avx2_matmul_q6_K,
               [LLV_TYPE_Q2_K] = llv_avx2_matmul_q2_K,
               [LLV_TYPE_Q3_K] = llv_avx2_matmul_q3_K,
               [LLV_TYPE_Q5_K] = llv_avx2_matmul_q5_K},
    .to_f32 = {[LLV_TYPE_F32] = llv_ref_f32_to_f32,
               [LLV_TYPE_F16] = llv_avx2_f16_to_f32,
               [LLV_TYPE_BF16] = llv_avx2_bf16_to_f32,
               QUANT_REF_TO_F32},
    .from_f32 = {[LLV_TYPE_F32] = llv_ref_f32_from_f32,
                 [LLV_TYPE_F16] = llv_ref_f16_from_f32,
                 [LLV_TYPE_BF16] = llv_ref_bf16_from_f32,
                 QUANT_REF_FROM_F32},
    .dot_f32 = llv_avx2_dot_f32,
    .axpy_f32 = llv_avx2_axpy_f32,
    .attn_pv = llv_avx2_attn_pv,
    .rmsnorm = llv_avx2_rmsnorm,
    .layernorm = llv_avx2_layernorm,
    .softmax = llv_avx2_softmax,
    .silu_mul = llv_avx2_silu_mul,
    .gelu = llv_avx2_gelu,
    .rope_pairs = llv_avx2_rope_pairs,
};

const llv_kernels *llv_kernels_avx512(void) { return &avx512_table; }
const llv_kernels *llv_kernels_avx2(void) { return &avx2_table; }
