/* pool.c - session pool (see pool.h): a mutex, a condition and a stack of
 * free sessions. Waiters are bounded so overload answers 429 at once
 * instead of piling up threads and memory. */
#include "pool.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>

struct srv_pool {
    pthread_mutex_t mu;
    pthread_cond_t  cv;
    llv_engine     *engine;
    llv_session   **all;
    llv_session   **free_list;
    int             n, n_free, waiting, queue_max;
    bool            closed;
};

llv_status srv_pool_create(const llv_model *model, int n, int queue_max, const llv_engine_params *ep,
                           const llv_session_params *sp, srv_pool **out, llv_error *err) {
    *out = NULL;
    srv_pool *p = calloc(1, sizeof *p);
    if (!p) goto oom;
    p->all = calloc((size_t)n, sizeof *p->all);
    p->free_list = calloc((size_t)n, sizeof *p->free_list);
    if (!p->all || !p->free_list) goto oom;
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->cv, NULL);
    p->queue_max = queue_max;
    llv_status st = llv_engine_create(model, ep, &p->engine, err);
    if (st) {
        srv_pool_free(p);
        return st;
    }
    llv_session_params attached = *sp;
    attached.engine = p->engine;
    for (int i = 0; i < n; i++) {
        st = llv_session_create(model, &attached, &p->all[i], err);
        if (st) {
            srv_pool_free(p);
            return st;
        }
        p->n++;
        p->free_list[p->n_free++] = p->all[i];
    }
    *out = p;
    return LLV_OK;
oom:
    if (p) {
        free(p->all);
        free(p->free_list);
        free(p);
    }
    if (err) {
        err->status = LLV_ERR_OUT_OF_MEMORY;
        snprintf(err->message, sizeof err->message, "session pool: out of memory");
    }
    return LLV_ERR_OUT_OF_MEMORY;
}

srv_pool_rc srv_pool_acquire(srv_pool *p, llv_session **s) {
    pthread_mutex_lock(&p->mu);
    if (!p->closed && p->n_free == 0) {
        if (p->waiting >= p->queue_max) {
            pthread_mutex_unlock(&p->mu);
            return SRV_POOL_FULL;
        }
        p->waiting++;
        while (!p->closed && p->n_free == 0) pthread_cond_wait(&p->cv, &p->mu);
        p->waiting--;
    }
    if (p->closed) {
        pthread_mutex_unlock(&p->mu);
        return SRV_POOL_CLOSED;
    }
    *s = p->free_list[--p->n_free];
    pthread_mutex_unlock(&p->mu);
    llv_session_reset(*s);
    return SRV_POOL_OK;
}

void srv_pool_release(srv_pool *p, llv_session *s) {
    if (!s) return;
    pthread_mutex_lock(&p->mu);
    p->free_list[p->n_free++] = s;
    pthread_cond_signal(&p->cv);
    pthread_mutex_unlock(&p->mu);
}

void srv_pool_close(srv_pool *p) {
    if (!p) return;
    pthread_mutex_lock(&p->mu);
    p->closed = true;
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
}

void srv_pool_stats(srv_pool *p, int *busy, int *waiting) {
    pthread_mutex_lock(&p->mu);
    if (busy) *busy = p->n - p->n_free;
    if (waiting) *waiting = p->waiting;
    pthread_mutex_unlock(&p->mu);
}

void srv_pool_engine_stats(srv_pool *p, llv_engine_stats *out) { llv_engine_get_stats(p->engine, out); }

void srv_pool_free(srv_pool *p) {
    if (!p) return;
    for (int i = 0; i < p->n; i++) llv_session_free(p->all[i]);
    llv_engine_free(p->engine); /* after its sessions */
    pthread_mutex_destroy(&p->mu);
    pthread_cond_destroy(&p->cv);
    free(p->all);
    free(p->free_list);
    free(p);
}
