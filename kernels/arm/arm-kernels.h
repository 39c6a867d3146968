/* arm-kernels.h - the aarch64 Advanced SIMD (NEON) kernel tables: "neon"
 * (ARMv8.0-A, every aarch64 CPU), "neon-dotprod" (+ SDOT, ARMv8.2-A, entered
 * only when HWCAP_ASIMDDP says the CPU has it) and "neon-i8mm" (+ SMMLA,
 * HWCAP2_I8MM as well), and the functions
 * they share across files. As on x86, every matmul gives each output a
 * summation order that depends only on K (not on M, the row range or the
 * tile), so results are independent of the thread split and prefill equals
 * decode bitwise. */
#ifndef LLV_ARM_KERNELS_H
#define LLV_ARM_KERNELS_H

#include "../kernels.h"

const llv_kernels *llv_kernels_neon(void);
const llv_kernels *llv_kernels_neon_dotprod(void);
const llv_kernels *llv_kernels_neon_i8mm(void);

#define LLV_NEON_MATMUL_ARGS                                                                                         \
    const void *w, size_t w_row_bytes, const float *x, int64_t ldx, int64_t M, int64_t K, float *y, int64_t ldy,   \
        int64_t n0, int64_t n1

/* neon-float.c: float weight types, conversions, vector ops */
void  llv_neon_matmul_f32(LLV_NEON_MATMUL_ARGS);
void  llv_neon_matmul_f16(LLV_NEON_MATMUL_ARGS);
void  llv_neon_matmul_bf16(LLV_NEON_MATMUL_ARGS);
void  llv_neon_f16_to_f32(const void *src, float *dst, int64_t n);
void  llv_neon_bf16_to_f32(const void *src, float *dst, int64_t n);
void  llv_neon_f16_from_f32(const float *src, void *dst, int64_t n);
void  llv_neon_bf16_from_f32(const float *src, void *dst, int64_t n);
float llv_neon_dot_f32(const float *a, const float *b, int64_t n);
void  llv_neon_axpy_f32(float a, const float *x, float *y, int64_t n);
void  llv_neon_attn_pv(const float *p, int64_t ldp, int32_t h, const float *v, int64_t n, int64_t hd, float *o);
void  llv_neon_rmsnorm(const float *x, const float *w, float *y, int64_t n, float eps);
void  llv_neon_layernorm(const float *x, const float *w, const float *b, float *y, int64_t n, float eps);
void  llv_neon_softmax(float *x, int64_t n);
void  llv_neon_silu_mul(float *g, const float *u, int64_t n);
void  llv_neon_gelu(float *x, int64_t n);
void  llv_neon_rope_pairs(float *x, const float *cos_t, const float *sin_t, int64_t hd);

/* neon-quant.c (ARMv8.0 widening multiplies), neon-dotprod-quant.c (SDOT) and
 * neon-i8mm-quant.c (SMMLA): the same kernels (neon-quant-impl.h), bitwise
 * equal results; plus the
 * quantized types' row dequantization, bitwise equal to ref's (neon-quant.c). */
#define LLV_NEON_QUANT_DECL(PFX)                                                                                     \
    void PFX##matmul_q8_0(LLV_NEON_MATMUL_ARGS);                                                                     \
    void PFX##matmul_q4_0(LLV_NEON_MATMUL_ARGS);                                                                     \
    void PFX##matmul_q4_1(LLV_NEON_MATMUL_ARGS);                                                                     \
    void PFX##matmul_q5_0(LLV_NEON_MATMUL_ARGS);                                                                     \
    void PFX##matmul_q5_1(LLV_NEON_MATMUL_ARGS);                                                                     \
    void PFX##matmul_q2_K(LLV_NEON_MATMUL_ARGS);                                                                     \
    void PFX##matmul_q3_K(LLV_NEON_MATMUL_ARGS);                                                                     \
    void PFX##matmul_q4_K(LLV_NEON_MATMUL_ARGS);                                                                     \
    void PFX##matmul_q5_K(LLV_NEON_MATMUL_ARGS);                                                                     \
    void PFX##matmul_q6_K(LLV_NEON_MATMUL_ARGS);
LLV_NEON_QUANT_DECL(llv_neon_)
LLV_NEON_QUANT_DECL(llv_neon_dotprod_)
LLV_NEON_QUANT_DECL(llv_neon_i8mm_)
void llv_neon_q8_0_to_f32(const void *src, float *dst, int64_t n);
void llv_neon_q4_0_to_f32(const void *src, float *dst, int64_t n);
void llv_neon_q4_K_to_f32(const void *src, float *dst, int64_t n);
void llv_neon_q6_K_to_f32(const void *src, float *dst, int64_t n);

#endif
