/* Thread-parallel building blocks over the kernel table. */
#include "ops.h"

#include "common.h"

typedef struct linear_job {
    const llv_kernels *k;
    const llv_tensor  *W;
    size_t             row_bytes;
    const float       *bias, *x;
    int64_t            M, K, N;
    float             *y;
} linear_job;

/* Weight rows [n0, n1) for all M rows of x. */
static void linear_task(void *ctx, int64_t n0, int64_t n1, int thread) {
    (void)thread;
    const linear_job *j = ctx;
    j->k->matmul[j->W->type](j->W->data, j->row_bytes, j->x, j->K, j->M, j->K, j->y, j->N, n0, n1);
    if (j->bias)
        for (int64_t m = 0; m < j->M; m++)
            for (int64_t n = n0; n < n1; n++) j->y[m * j->N + n] += j->bias[n];
}

/* Rows [m0, m1) of x against all weight rows: for few weight rows and many x
 * rows (vision attention: 80 rows of V^T against 1024 queries). */
static void linear_task_rows(void *ctx, int64_t m0, int64_t m1, int thread) {
    (void)thread;
    const linear_job *j = ctx;
    float *y = j->y + m0 * j->N;
    j->k->matmul[j->W->type](j->W->data, j->row_bytes, j->x + m0 * j->K, j->K, m1 - m0, j->K, y, j->N, 0, j->N);
    if (j->bias)
        for (int64_t m = 0; m < m1 - m0; m++)
            for (int64_t n = 0; n < j->N; n++) y[m * j->N + n] += j->bias[n];
}

/* Callers bind W at load time (type supported, row bytes valid), so no
 * checks can fail here; an unsupported type is a programming error.
 * Every kernel gives each output a summation order that depends only on K,
 * so splitting over weight rows or over x rows gives the same bits whatever
 * the thread count. */
void llv_op_linear(const llv_kernels *k, llv_threadpool *pool, const llv_tensor *W, const float *bias,
                   const float *x, int64_t M, float *y) {
    linear_job j = {.k = k, .W = W, .bias = bias, .x = x, .M = M, .K = W->ne[0], .N = llv_tensor_rows(W), .y = y};
    size_t rb = 0;
    llv_type_row_bytes(W->type, W->ne[0], &rb);
    j.row_bytes = rb;
    if (M <= 0 || j.N <= 0 || (unsigned)W->type >= LLV_KTYPE_COUNT || !k->matmul[W->type]) return;
    int nt = llv_threadpool_n_threads(pool);
    /* Split over x rows when the weight rows are too few to balance the
     * threads (a 16-row grain) and there are enough x rows to share. */
    if (nt > 1 && j.N < 64 * (int64_t)nt && M >= 48 * (int64_t)nt)
        llv_threadpool_parallel_for(pool, M, 24, linear_task_rows, &j);
    else
        llv_threadpool_parallel_for(pool, j.N, 16, linear_task, &j);
}

void llv_op_get_row(const llv_kernels *k, const llv_tensor *t, int64_t row, float *dst) {
    size_t rb = 0;
    if ((unsigned)t->type >= LLV_KTYPE_COUNT || !k->to_f32[t->type]) return;
    llv_type_row_bytes(t->type, t->ne[0], &rb);
    k->to_f32[t->type]((const unsigned char *)t->data + (size_t)row * rb, dst, t->ne[0]);
}
