/* A fixed pool of pthreads. parallel_for splits [0, n) into grains and gives
 * thread t the grains [G*t/T, G*(t+1)/T): a rule that depends only on
 * (n, grain, T), so each output is computed by one thread in a fixed order. */
#include "threadpool.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>

#define LLV_MAX_THREADS 512
/* Before sleeping on a condition variable, a thread waiting for the job
 * counters spins briefly (pause only, a few microseconds): decode runs
 * hundreds of short parallel_for calls per token, and a futex wake-up per
 * call costs more than the spin. No sched_yield loop: on oversubscribed cores
 * (the server's load test) yielding spinners starve the threads doing work. */
#define LLV_SPIN_PAUSE 1024

static inline void cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
}

/* Waits a bounded time for *v != old; returns whether it happened. */
static bool spin_wait_u64(_Atomic uint64_t *v, uint64_t old) {
    for (int i = 0; i < LLV_SPIN_PAUSE; i++) {
        if (atomic_load_explicit(v, memory_order_acquire) != old) return true;
        cpu_relax();
    }
    return atomic_load_explicit(v, memory_order_acquire) != old;
}

/* Waits a bounded time for *v == 0; returns whether it happened. */
static bool spin_wait_zero(atomic_int *v) {
    for (int i = 0; i < LLV_SPIN_PAUSE; i++) {
        if (atomic_load_explicit(v, memory_order_acquire) == 0) return true;
        cpu_relax();
    }
    return atomic_load_explicit(v, memory_order_acquire) == 0;
}

typedef struct worker {
    struct llv_threadpool *pool;
    int                    index;
    pthread_t              tid;
} worker;

struct llv_threadpool {
    int             n_threads;
    worker         *workers; /* n_threads - 1 */
    int             n_started;
    pthread_mutex_t mu;
    pthread_cond_t  cv_start, cv_done;
    _Atomic uint64_t generation; /* written under mu, read without it while spinning */
    atomic_int       pending;
    atomic_bool      quit;
    /* the current job */
    llv_task_fn     fn;
    void           *ctx;
    int64_t         n, grain;
};

static void run_part(llv_threadpool *p, int t) {
    int64_t grains = (p->n + p->grain - 1) / p->grain;
    int64_t g0 = grains * t / p->n_threads, g1 = grains * (t + 1) / p->n_threads;
    if (g0 >= g1) return;
    int64_t i0 = g0 * p->grain, i1 = LLV_MIN(g1 * p->grain, p->n);
    p->fn(p->ctx, i0, i1, t);
}

static void *worker_main(void *arg) {
    worker *w = arg;
    llv_threadpool *p = w->pool;
    uint64_t seen = 0;
    for (;;) {
        if (!spin_wait_u64(&p->generation, seen)) {
            pthread_mutex_lock(&p->mu);
            while (!atomic_load(&p->quit) && atomic_load(&p->generation) == seen) pthread_cond_wait(&p->cv_start, &p->mu);
            pthread_mutex_unlock(&p->mu);
        }
        if (atomic_load(&p->quit)) break;
        seen = atomic_load_explicit(&p->generation, memory_order_acquire);
        run_part(p, w->index);
        if (atomic_fetch_sub_explicit(&p->pending, 1, memory_order_acq_rel) == 1) {
            pthread_mutex_lock(&p->mu);
            pthread_cond_signal(&p->cv_done);
            pthread_mutex_unlock(&p->mu);
        }
    }
    return NULL;
}

llv_status llv_threadpool_create(int n_threads, llv_threadpool **out, llv_error *err) {
    *out = NULL;
    if (n_threads < 1 || n_threads > LLV_MAX_THREADS)
        return llv_err(err, LLV_ERR_INVALID_ARGUMENT, "threadpool: n_threads %d out of range [1, %d]", n_threads,
                       LLV_MAX_THREADS);
    llv_threadpool *p = calloc(1, sizeof *p);
    if (!p) return llv_err(err, LLV_ERR_OUT_OF_MEMORY, "threadpool: out of memory");
    p->n_threads = n_threads;
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->cv_start, NULL);
    pthread_cond_init(&p->cv_done, NULL);
    if (n_threads > 1) {
        p->workers = calloc((size_t)n_threads - 1, sizeof *p->workers);
        if (!p->workers) {
            llv_threadpool_free(p);
            return llv_err(err, LLV_ERR_OUT_OF_MEMORY, "threadpool: out of memory");
        }
        for (int i = 0; i < n_threads - 1; i++) {
            p->workers[i].pool = p;
            p->workers[i].index = i + 1;
            if (pthread_create(&p->workers[i].tid, NULL, worker_main, &p->workers[i]) != 0) {
                llv_threadpool_free(p);
                return llv_err(err, LLV_ERR_INTERNAL, "threadpool: pthread_create failed for thread %d of %d", i + 1,
                               n_threads);
            }
            p->n_started++;
        }
    }
    *out = p;
    return LLV_OK;
}

void llv_threadpool_free(llv_threadpool *p) {
    if (!p) return;
    pthread_mutex_lock(&p->mu);
    atomic_store(&p->quit, true);
    pthread_cond_broadcast(&p->cv_start);
    pthread_mutex_unlock(&p->mu);
    for (int i = 0; i < p->n_started; i++) pthread_join(p->workers[i].tid, NULL);
    pthread_cond_destroy(&p->cv_start);
    pthread_cond_destroy(&p->cv_done);
    pthread_mutex_destroy(&p->mu);
    free(p->workers);
    free(p);
}

int llv_threadpool_n_threads(const llv_threadpool *p) { return p ? p->n_threads : 1; }

void llv_threadpool_parallel_for(llv_threadpool *p, int64_t n, int64_t grain, llv_task_fn fn, void *ctx) {
    if (n <= 0) return;
    if (grain < 1) grain = 1;
    if (!p || p->n_threads == 1 || n <= grain) {
        fn(ctx, 0, n, 0);
        return;
    }
    pthread_mutex_lock(&p->mu);
    p->fn = fn;
    p->ctx = ctx;
    p->n = n;
    p->grain = grain;
    atomic_store_explicit(&p->pending, p->n_threads - 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&p->generation, 1, memory_order_release); /* publishes the job */
    pthread_cond_broadcast(&p->cv_start);
    pthread_mutex_unlock(&p->mu);
    run_part(p, 0);
    if (!spin_wait_zero(&p->pending)) {
        pthread_mutex_lock(&p->mu);
        while (atomic_load(&p->pending) > 0) pthread_cond_wait(&p->cv_done, &p->mu);
        pthread_mutex_unlock(&p->mu);
    }
}
