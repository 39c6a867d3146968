/* The aarch64 kernel tables. Entries a table does not specialise point to
 * the reference kernels. Compiled without ISA flags beyond ARMv8.0: only
 * data lives here. */
#include "arm-kernels.h"

#include "../ref/ref-internal.h"

/* Row conversions: F16/BF16 and the dequantization of the types the models
 * use most are NEON; the quantizers (ggml's scale searches: conversion tools,
 * not a hot path) and the other types' dequantization are the reference's. */
#define NEON_TO_F32                                                                                                  \
    {[LLV_TYPE_F32] = llv_ref_f32_to_f32,     [LLV_TYPE_F16] = llv_neon_f16_to_f32,                                 \
     [LLV_TYPE_BF16] = llv_neon_bf16_to_f32,  [LLV_TYPE_Q8_0] = llv_neon_q8_0_to_f32,                               \
     [LLV_TYPE_Q4_0] = llv_neon_q4_0_to_f32,  [LLV_TYPE_Q4_1] = llv_ref_q4_1_to_f32,                                \
     [LLV_TYPE_Q5_0] = llv_ref_q5_0_to_f32,   [LLV_TYPE_Q5_1] = llv_ref_q5_1_to_f32,                                \
     [LLV_TYPE_Q4_K] = llv_neon_q4_K_to_f32,  [LLV_TYPE_Q6_K] = llv_neon_q6_K_to_f32,                               \
     [LLV_TYPE_Q2_K] = llv_ref_q2_K_to_f32,   [LLV_TYPE_Q3_K] = llv_ref_q3_K_to_f32,                                \
     [LLV_TYPE_Q5_K] = llv_ref_q5_K_to_f32}
#define NEON_FROM_F32                                                                                                \
    {[LLV_TYPE_F32] = llv_ref_f32_from_f32,    [LLV_TYPE_F16] = llv_neon_f16_from_f32,                              \
     [LLV_TYPE_BF16] = llv_neon_bf16_from_f32, [LLV_TYPE_Q8_0] = llv_ref_q8_0_from_f32,                             \
     [LLV_TYPE_Q4_0] = llv_ref_q4_0_from_f32,  [LLV_TYPE_Q4_1] = llv_ref_q4_1_from_f32,                             \
     [LLV_TYPE_Q5_0] = llv_ref_q5_0_from_f32,  [LLV_TYPE_Q5_1] = llv_ref_q5_1_from_f32,                             \
     [LLV_TYPE_Q4_K] = llv_ref_q4_K_from_f32,  [LLV_TYPE_Q6_K] = llv_ref_q6_K_from_f32,                             \
     [LLV_TYPE_Q2_K] = llv_ref_q2_K_from_f32,  [LLV_TYPE_Q3_K] = llv_ref_q3_K_from_f32,                             \
     [LLV_TYPE_Q5_K] = llv_ref_q5_K_from_f32}
#define NEON_VEC                                                                                                     \
    .dot_f32 = llv_neon_dot_f32, .axpy_f32 = llv_neon_axpy_f32, .attn_pv = llv_neon_attn_pv,                        \
    .rmsnorm = llv_neon_rmsnorm, .layernorm = llv_neon_layernorm, .softmax = llv_neon_softmax,                      \
    .silu_mul = llv_neon_silu_mul, .gelu = llv_neon_gelu, .rope_pairs = llv_neon_rope_pairs
#define NEON_MATMUL(PFX)                                                                                             \
    {[LLV_TYPE_F32] = llv_neon_matmul_f32,  [LLV_TYPE_F16] = llv_neon_matmul_f16,                                   \
     [LLV_TYPE_BF16] = llv_neon_matmul_bf16, [LLV_TYPE_Q8_0] = PFX##matmul_q8_0,                                    \
     [LLV_TYPE_Q4_0] = PFX##matmul_q4_0,    [LLV_TYPE_Q4_1] = PFX##matmul_q4_1,                                     \
     [LLV_TYPE_Q5_0] = PFX##matmul_q5_0,    [LLV_TYPE_Q5_1] = PFX##matmul_q5_1,                                     \
     [LLV_TYPE_Q4_K] = PFX##matmul_q4_K,    [LLV_TYPE_Q6_K] = PFX##matmul_q6_K,                                     \
     [LLV_TYPE_Q2_K] = PFX##matmul_q2_K,    [LLV_TYPE_Q3_K] = PFX##matmul_q3_K,                                     \
     [LLV_TYPE_Q5_K] = PFX##matmul_q5_K}

static const llv_kernels neon_table = {
    .name = "neon",
    .matmul = NEON_MATMUL(llv_neon_),
    .to_f32 = NEON_TO_F32,
    .from_f32 = NEON_FROM_F32,
    NEON_VEC,
};

/* dotprod changes only the quantized matmuls (the float ops are ARMv8.0's) */
static const llv_kernels neon_dotprod_table = {
    .name = "neon-dotprod",
    .matmul = NEON_MATMUL(llv_neon_dotprod_),
    .to_f32 = NEON_TO_F32,
    .from_f32 = NEON_FROM_F32,
    NEON_VEC,
};

/* i8mm: the quantized matmuls on SMMLA 2 x 2 tiles */
static const llv_kernels neon_i8mm_table = {
    .name = "neon-i8mm",
    .matmul = NEON_MATMUL(llv_neon_i8mm_),
    .to_f32 = NEON_TO_F32,
    .from_f32 = NEON_FROM_F32,
    NEON_VEC,
};

const llv_kernels *llv_kernels_neon(void) { return &neon_table; }
const llv_kernels *llv_kernels_neon_dotprod(void) { return &neon_dotprod_table; }
const llv_kernels *llv_kernels_neon_i8mm(void) { return &neon_i8mm_table; }
