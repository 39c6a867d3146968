/* kernels.h - the compute kernel dispatch table. One table per ISA; entries
 * an ISA does not specialise point to the portable reference (kernels/ref),
 * which every test compares against. Kernels are pure functions over row
 * ranges: threading lives in src/threadpool.c, allocation in the callers. */
#ifndef LLV_KERNELS_H
#define LLV_KERNELS_H

#include "llv.h"

#include <stddef.h>
#include <stdint.h>

#define LLV_KTYPE_COUNT 40 /* per-type tables are indexed by ggml type id */

typedef struct llv_kernels {
    const char *name; /* "ref", "avx2", "avx512", "neon", "neon-dotprod", "neon-i8mm" */

    /* y[m*ldy + n] = sum_k x[m*ldx + k] * W[n][k]  for m in [0,M), n in [n0,n1).
     * W is a row-major matrix of `type` rows (K elements, w_row_bytes bytes each).
     * K is a multiple of the type's block size. Accumulation in float32.
     * NULL entry = type unsupported by this table. */
    void (*matmul[LLV_KTYPE_COUNT])(const void *w, size_t w_row_bytes, const float *x, int64_t ldx, int64_t M,
                                    int64_t K, float *y, int64_t ldy, int64_t n0, int64_t n1);

    /* Row conversion to/from float32 (n a multiple of the block size). */
    void (*to_f32[LLV_KTYPE_COUNT])(const void *src, float *dst, int64_t n);
    void (*from_f32[LLV_KTYPE_COUNT])(const float *src, void *dst, int64_t n);

    float (*dot_f32)(const float *a, const float *b, int64_t n);
    /* y += a * x */
    void (*axpy_f32)(float a, const float *x, float *y, int64_t n);
    /* Attention's weighted sum over n value rows for h heads sharing them:
     * o[i*hd + d] += sum_t p[i*ldp + t] * v[t*hd + d], i < h, one multiply-add
     * per (t, d) in increasing t (each ISA: its own rounding of a*b+c). */
    void (*attn_pv)(const float *p, int64_t ldp, int32_t h, const float *v, int64_t n, int64_t hd, float *o);

    /* y = x * rsqrt(mean(x^2) + eps) * w   (w may be NULL = ones); y may alias x */
    void (*rmsnorm)(const float *x, const float *w, float *y, int64_t n, float eps);
    /* y = (x - mean) * rsqrt(var + eps) * w + b  (biased variance); y may alias x */
    void (*layernorm)(const float *x, const float *w, const float *b, float *y, int64_t n, float eps);
    /* in place, max-subtracted, float32 */
    void (*softmax)(float *x, int64_t n);
    /* g[i] = silu(g[i]) * u[i] */
    void (*silu_mul)(float *g, const float *u, int64_t n);
    /* exact erf GELU in place */
    void (*gelu)(float *x, int64_t n);
    /* adjacent-pair RoPE on one head: x[2i], x[2i+1] rotated by cos/sin[i], i < hd/2 */
    void (*rope_pairs)(float *x, const float *cos_t, const float *sin_t, int64_t hd);
} llv_kernels;

/* The table for an ISA; LLV_ISA_AUTO picks the best one the CPU and OS support
 * (honouring the LLV_ISA environment variable). Never NULL: falls back to ref.
 * Tables are static const: no global mutable state. */
const llv_kernels *llv_kernels_get(llv_isa isa);
/* The reference table. */
const llv_kernels *llv_kernels_ref(void);
/* Whether an ISA is usable on this machine (CPUID + OS register state). */
int llv_kernels_isa_supported(llv_isa isa);

#endif
