/* x86-kernels.h - the x86 SIMD kernel tables (AVX2 + FMA + F16C, and
 * AVX-512 F/BW/VL/DQ/VNNI/BF16) and the functions they share across files.
 * Every matmul here gives each output a summation order that depends only
 * on K (not on M, the row range or the tile an output lands in), so results
 * are independent of the thread split and prefill equals decode bitwise. */
#ifndef LLV_X86_KERNELS_H
#define LLV_X86_KERNELS_H

#include "../kernels.h"

const llv_kernels *llv_kernels_avx2(void);
const llv_kernels *llv_kernels_avx512(void);

#define LLV_MATMUL_ARGS                                                                                              \
    const void *w, size_t w_row_bytes, const float *x, int64_t ldx, int64_t M, int64_t K, float *y, int64_t ldy,   \
        int64_t n0, int64_t n1

/* Decode (M = 1) reads each thread's weight rows one at a time, strictly in
 * address order, with a software prefetch this many bytes ahead. Zen 5's
 * hardware prefetchers follow one sequential stream at the read kernel's
 * bandwidth but 2 or 4 interleaved row streams (a batched tile's pattern) at
 * about half of it, and software prefetch brought those back only to
 * 0.76-0.85 of it. One row at a time 8 KiB ahead reads at 0.96-1.1 of the
 * read kernel for every quantized type (AVX-512, 1 GiB matrices, 2 threads;
 * 2-24 KiB ahead measured alike, no prefetch 0.85-0.93). */
#define LLV_X86_DEC_PF 8192
#define LLV_X86_DEC_MR 4 /* the float kernels' decode tiles: up to 4 x rows (streams) per weight row */

/* A register tile: rows x[0..mr) times nv (<= NR) weight rows, written to y.
 * The kernel files provide one per row count 1..MR, and one-weight-row decode
 * tiles (mr = 1..LLV_X86_DEC_MR, nv = 1, prefetching LLV_X86_DEC_PF ahead)
 * with the same arithmetic per output. */
typedef void (*llv_x86_tile_fn)(const float *x, int64_t ldx, const unsigned char *w, size_t rb, int64_t K, float *y,
                                int64_t ldy, int nv);
/* The ISA-independent blocking loop shared by the float matmuls: weight rows
 * in blocks that stay in L2 (~256 KiB) while every x row tile passes over them;
 * M <= LLV_X86_DEC_MR runs dec[M - 1] over the weight rows one by one (kernels/x86/x86-tiles.c, built
 * without ISA flags). */
void llv_x86_matmul_tiles(const llv_x86_tile_fn *tiles, const llv_x86_tile_fn *dec, int mr_max, int nr, size_t esz,
                          LLV_MATMUL_ARGS);

/* avx512-float.c */
void  llv_avx512_matmul_f32(LLV_MATMUL_ARGS);
void  llv_avx512_matmul_f16(LLV_MATMUL_ARGS);
void  llv_avx512_matmul_bf16(LLV_MATMUL_ARGS);
void  llv_avx512_f16_to_f32(const void *src, float *dst, int64_t n);
void  llv_avx512_bf16_to_f32(const void *src, float *dst, int64_t n);
float llv_avx512_dot_f32(const float *a, const float *b, int64_t n);
void  llv_avx512_axpy_f32(float a, const float *x, float *y, int64_t n);
void  llv_avx512_attn_pv(const float *p, int64_t ldp, int32_t h, const float *v, int64_t n, int64_t hd, float *o);
void  llv_avx512_rmsnorm(const float *x, const float *w, float *y, int64_t n, float eps);
void  llv_avx512_layernorm(const float *x, const float *w, const float *b, float *y, int64_t n, float eps);
void  llv_avx512_softmax(float *x, int64_t n);
void  llv_avx512_silu_mul(float *g, const float *u, int64_t n);
void  llv_avx512_gelu(float *x, int64_t n);
void  llv_avx512_rope_pairs(float *x, const float *cos_t, const float *sin_t, int64_t hd);

/* avx512-quant.c, avx2-quant.c (quant-impl.h) */
void llv_avx512_matmul_q4_0(LLV_MATMUL_ARGS);
void llv_avx512_matmul_q4_1(LLV_MATMUL_ARGS);
void llv_avx512_matmul_q5_0(LLV_MATMUL_ARGS);
void llv_avx512_matmul_q5_1(LLV_MATMUL_ARGS);
void llv_avx512_matmul_q8_0(LLV_MATMUL_ARGS);
void llv_avx512_matmul_q4_K(LLV_MATMUL_ARGS);
void llv_avx512_matmul_q6_K(LLV_MATMUL_ARGS);
void llv_avx2_matmul_q4_0(LLV_MATMUL_ARGS);
void llv_avx2_matmul_q4_1(LLV_MATMUL_ARGS);
void llv_avx2_matmul_q5_0(LLV_MATMUL_ARGS);
void llv_avx2_matmul_q5_1(LLV_MATMUL_ARGS);
void llv_avx2_matmul_q8_0(LLV_MATMUL_ARGS);
void llv_avx2_matmul_q4_K(LLV_MATMUL_ARGS);
void llv_avx2_matmul_q6_K(LLV_MATMUL_ARGS);
void llv_avx512_matmul_q2_K(LLV_MATMUL_ARGS);
void llv_avx512_matmul_q3_K(LLV_MATMUL_ARGS);
void llv_avx512_matmul_q5_K(LLV_MATMUL_ARGS);
void llv_avx2_matmul_q2_K(LLV_MATMUL_ARGS);
void llv_avx2_matmul_q3_K(LLV_MATMUL_ARGS);
void llv_avx2_matmul_q5_K(LLV_MATMUL_ARGS);

/* avx2-float.c */
void  llv_avx2_matmul_f32(LLV_MATMUL_ARGS);
void  llv_avx2_matmul_f16(LLV_MATMUL_ARGS);
void  llv_avx2_matmul_bf16(LLV_MATMUL_ARGS);
void  llv_avx2_f16_to_f32(const void *src, float *dst, int64_t n);
void  llv_avx2_bf16_to_f32(const void *src, float *dst, int64_t n);
float llv_avx2_dot_f32(const float *a, const float *b, int64_t n);
void  llv_avx2_axpy_f32(float a, const float *x, float *y, int64_t n);
void  llv_avx2_attn_pv(const float *p, int64_t ldp, int32_t h, const float *v, int64_t n, int64_t hd, float *o);
void  llv_avx2_rmsnorm(const float *x, const float *w, float *y, int64_t n, float eps);
void  llv_avx2_layernorm(const float *x, const float *w, const float *b, float *y, int64_t n, float eps);
void  llv_avx2_softmax(float *x, int64_t n);
void  llv_avx2_silu_mul(float *g, const float *u, int64_t n);
void  llv_avx2_gelu(float *x, int64_t n);
void  llv_avx2_rope_pairs(float *x, const float *cos_t, const float *sin_t, int64_t hd);

#endif
