/* ops.h - thread-parallel building blocks over the kernel table, used by the
 * text decoder and the vision encoder. No allocation. */
#ifndef LLV_OPS_H
#define LLV_OPS_H

#include "../kernels/kernels.h"
#include "tensor.h"
#include "threadpool.h"

/* y[M, N] = x[M, K] . W^T (+ bias[N] if not NULL); W has ne = {K, N}.
 * Rows of W are split over threads. */
void llv_op_linear(const llv_kernels *k, llv_threadpool *pool, const llv_tensor *W, const float *bias,
                   const float *x, int64_t M, float *y);

/* Copies row `row` of a 2-D tensor (any type) as float32 into dst (ne[0] floats). */
void llv_op_get_row(const llv_kernels *k, const llv_tensor *t, int64_t row, float *dst);

#endif
