/* ref-internal.h - the reference kernels, shared by the table in ref-table.c. */
#ifndef LLV_REF_INTERNAL_H
#define LLV_REF_INTERNAL_H

#include "../kernels.h"
#include "ref-quant.h"

/* matmul (ref-matmul.c) */
void llv_ref_matmul_f32(const void *w, size_t w_row_bytes, const float *x, int64_t ldx, int64_t M, int64_t K,
                        float *y, int64_t ldy, int64_t n0, int64_t n1);
void llv_ref_matmul_f16(const void *w, size_t w_row_bytes, const float *x, int64_t ldx, int64_t M, int64_t K,
                        float *y, int64_t ldy, int64_t n0, int64_t n1);
void llv_ref_matmul_bf16(const void *w, size_t w_row_bytes, const float *x, int64_t ldx, int64_t M, int64_t K,
                         float *y, int64_t ldy, int64_t n0, int64_t n1);

/* conversions (ref-convert.c) */
void llv_ref_f32_to_f32(const void *src, float *dst, int64_t n);
void llv_ref_f16_to_f32(const void *src, float *dst, int64_t n);
void llv_ref_bf16_to_f32(const void *src, float *dst, int64_t n);
void llv_ref_f32_from_f32(const float *src, void *dst, int64_t n);
void llv_ref_f16_from_f32(const float *src, void *dst, int64_t n);
void llv_ref_bf16_from_f32(const float *src, void *dst, int64_t n);

/* quantized types (ref-quant.c): ggml-compatible blocks, n / K multiples of the block size */
void llv_ref_q8_0_to_f32(const void *src, float *dst, int64_t n);
void llv_ref_q4_0_to_f32(const void *src, float *dst, int64_t n);
void llv_ref_q4_1_to_f32(const void *src, float *dst, int64_t n);
void llv_ref_q5_0_to_f32(const void *src, float *dst, int64_t n);
void llv_ref_q5_1_to_f32(const void *src, float *dst, int64_t n);
void llv_ref_q4_K_to_f32(const void *src, float *dst, int64_t n);
void llv_ref_q6_K_to_f32(const void *src, float *dst, int64_t n);
void llv_ref_q8_0_from_f32(const float *src, void *dst, int64_t n);
void llv_ref_q4_0_from_f32(const float *src, void *dst, int64_t n);
void llv_ref_q4_1_from_f32(const float *src, void *dst, int64_t n);
void llv_ref_q5_0_from_f32(const float *src, void *dst, int64_t n);
void llv_ref_q5_1_from_f32(const float *src, void *dst, int64_t n);
void llv_ref_q4_K_from_f32(const float *src, void *dst, int64_t n);
void llv_ref_q6_K_from_f32(const float *src, void *dst, int64_t n);
void llv_ref_matmul_q8_0(const void *w, size_t w_row_bytes, const float *x, int64_t ldx, int64_t M, int64_t K,
                         float *y, int64_t ldy, int64_t n0, int64_t n1);
void llv_ref_matmul_q4_0(const void *w, size_t w_row_bytes, const float *x, int64_t ldx, int64_t M, int64_t K,
                         float *y, int64_t ldy, int64_t n0, int64_t n1);
void llv_ref_matmul_q4_1(const void *w, size_t w_row_bytes, const float *x, int64_t ldx, int64_t M, int64_t K,
                         float *y, int64_t ldy, int64_t n0, int64_t n1);
void llv_ref_matmul_q5_0(const void *w, size_t w_row_bytes, const float *x, int64_t ldx, int64_t M, int64_t K,
                         float *y, int64_t ldy, int64_t n0, int64_t n1);
void llv_ref_matmul_q5_1(const void *w, size_t w_row_bytes, const float *x, int64_t ldx, int64_t M, int64_t K,
                         float *y, int64_t ldy, int64_t n0, int64_t n1);
void llv_ref_matmul_q4_K(const void *w, size_t w_row_bytes, const float *x, int64_t ldx, int64_t M, int64_t K,
                         float *y, int64_t ldy, int64_t n0, int64_t n1);
void llv_ref_matmul_q6_K(const void *w, size_t w_row_bytes, const float *x, int64_t ldx, int64_t M, int64_t K,
                         float *y, int64_t ldy, int64_t n0, int64_t n1);
void llv_ref_q2_K_to_f32(const void *src, float *dst, int64_t n);
void llv_ref_q3_K_to_f32(const void *src, float *dst, int64_t n);
void llv_ref_q5_K_to_f32(const void *src, float *dst, int64_t n);
void llv_ref_q2_K_from_f32(const float *src, void *dst, int64_t n);
void llv_ref_q3_K_from_f32(const float *src, void *dst, int64_t n);
void llv_ref_q5_K_from_f32(const float *src, void *dst, int64_t n);
void llv_ref_matmul_q2_K(const void *w, size_t w_row_bytes, const float *x, int64_t ldx, int64_t M, int64_t K,
                         float *y, int64_t ldy, int64_t n0, int64_t n1);
void llv_ref_matmul_q3_K(const void *w, size_t w_row_bytes, const float *x, int64_t ldx, int64_t M, int64_t K,
                         float *y, int64_t ldy, int64_t n0, int64_t n1);
void llv_ref_matmul_q5_K(const void *w, size_t w_row_bytes, const float *x, int64_t ldx, int64_t M, int64_t K,
                         float *y, int64_t ldy, int64_t n0, int64_t n1);

/* vector ops (ref-vec.c) */
float llv_ref_dot_f32(const float *a, const float *b, int64_t n);
void  llv_ref_axpy_f32(float a, const float *x, float *y, int64_t n);
void  llv_ref_attn_pv(const float *p, int64_t ldp, int32_t h, const float *v, int64_t n, int64_t hd, float *o);
void  llv_ref_rmsnorm(const float *x, const float *w, float *y, int64_t n, float eps);
void  llv_ref_layernorm(const float *x, const float *w, const float *b, float *y, int64_t n, float eps);
void  llv_ref_softmax(float *x, int64_t n);
void  llv_ref_silu_mul(float *g, const float *u, int64_t n);
void  llv_ref_gelu(float *x, int64_t n);
void  llv_ref_rope_pairs(float *x, const float *cos_t, const float *sin_t, int64_t hd);

#endif
