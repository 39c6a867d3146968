/* The reference kernel table. */
#include "ref-internal.h"

static const llv_kernels ref_table = {
    .name = "ref",
    .matmul = {[LLV_TYPE_F32] = llv_ref_matmul_f32,
               [LLV_TYPE_F16] = llv_ref_matmul_f16,
               [LLV_TYPE_BF16] = llv_ref_matmul_bf16,
               [LLV_TYPE_Q8_0] = llv_ref_matmul_q8_0,
               [LLV_TYPE_Q4_0] = llv_ref_matmul_q4_0,
               [LLV_TYPE_Q4_K] = llv_ref_matmul_q4_K,
               [LLV_TYPE_Q6_K] = llv_ref_matmul_q6_K},
    .to_f32 = {[LLV_TYPE_F32] = llv_ref_f32_to_f32,
               [LLV_TYPE_F16] = llv_ref_f16_to_f32,
               [LLV_TYPE_BF16] = llv_ref_bf16_to_f32,
               [LLV_TYPE_Q8_0] = llv_ref_q8_0_to_f32,
               [LLV_TYPE_Q4_0] = llv_ref_q4_0_to_f32,
               [LLV_TYPE_Q4_K] = llv_ref_q4_K_to_f32,
               [LLV_TYPE_Q6_K] = llv_ref_q6_K_to_f32},
    .from_f32 = {[LLV_TYPE_F32] = llv_ref_f32_from_f32,
                 [LLV_TYPE_F16] = llv_ref_f16_from_f32,
                 [LLV_TYPE_BF16] = llv_ref_bf16_from_f32,
                 [LLV_TYPE_Q8_0] = llv_ref_q8_0_from_f32,
                 [LLV_TYPE_Q4_0] = llv_ref_q4_0_from_f32,
                 [LLV_TYPE_Q4_K] = llv_ref_q4_K_from_f32,
                 [LLV_TYPE_Q6_K] = llv_ref_q6_K_from_f32},
    .dot_f32 = llv_ref_dot_f32,
    .axpy_f32 = llv_ref_axpy_f32,
    .attn_pv = llv_ref_attn_pv,
    .rmsnorm = llv_ref_rmsnorm,
    .layernorm = llv_ref_layernorm,
    .softmax = llv_ref_softmax,
    .silu_mul = llv_ref_silu_mul,
    .gelu = llv_ref_gelu,
    .rope_pairs = llv_ref_rope_pairs,
};

const llv_kernels *llv_kernels_ref(void) { return &ref_table; }
