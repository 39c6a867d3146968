/* threadpool.h - a fixed pool of worker threads created once per session.
 * Work is split into contiguous index ranges by a fixed rule that depends only
 * on (n, n_threads), and each output element is computed by exactly one thread
 * in a fixed order, so results do not depend on the thread count. */
#ifndef LLV_THREADPOOL_H
#define LLV_THREADPOOL_H

#include "common.h"

typedef struct llv_threadpool llv_threadpool;

/* n_threads >= 1 (the calling thread counts as one). */
llv_status llv_threadpool_create(int n_threads, llv_threadpool **out, llv_error *err);
void       llv_threadpool_free(llv_threadpool *pool);
int        llv_threadpool_n_threads(const llv_threadpool *pool);

/* fn(ctx, i0, i1, thread) over disjoint ranges covering [0, n); ranges are
 * multiples of `grain` except the last. Blocks until all are done. pool may
 * be NULL (runs on the calling thread). */
typedef void (*llv_task_fn)(void *ctx, int64_t i0, int64_t i1, int thread);
void llv_threadpool_parallel_for(llv_threadpool *pool, int64_t n, int64_t grain, llv_task_fn fn, void *ctx);

#endif
