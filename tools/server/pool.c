/* pool.c - session pool (see pool.h): a mutex, a condition, the kept
 * sessions with the key of the conversation each holds, and a bounded
 * queue of waiters, so overload answers 429 at once instead of piling up
 * threads and memory. */
#include "pool.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct slot {
    llv_session *s;
    bool         busy;
    uint64_t     used;              /* LRU stamp */
    uint64_t     key[SRV_KEY_MAX + 1]; /* the conversation it holds (+ the answer) */
    size_t       n_key;
} slot;

struct srv_pool {
    pthread_mutex_t mu;
    pthread_cond_t  cv;
    llv_engine     *engine;
    slot           *slots;
    int             n, parallel, busy, waiting, queue_max;
    uint64_t        clock;
    bool            closed;
    bool            prefix;   /* keep conversations (else every request starts empty) */
    srv_pool_counters c;
};

static void set_err(llv_error *err, const char *msg) {
    if (!err) return;
    err->status = LLV_ERR_OUT_OF_MEMORY;
    snprintf(err->message, sizeof err->message, "%s", msg);
}

llv_status srv_pool_create(const llv_model *model, int n_keep, int parallel, int queue_max, bool prefix,
                           const llv_engine_params *ep, const llv_session_params *sp, srv_pool **out, llv_error *err) {
    *out = NULL;
    if (n_keep < parallel) n_keep = parallel;
    srv_pool *p = calloc(1, sizeof *p);
    if (!p || !(p->slots = calloc((size_t)n_keep, sizeof *p->slots))) {
        free(p);
        set_err(err, "session pool: out of memory");
        return LLV_ERR_OUT_OF_MEMORY;
    }
    pthread_mutex_init(&p->mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC); /* queue deadlines */
    pthread_cond_init(&p->cv, &ca);
    pthread_condattr_destroy(&ca);
    p->queue_max = queue_max;
    p->parallel = parallel;
    p->prefix = prefix;
    llv_status st = llv_engine_create(model, ep, &p->engine, err);
    if (st) {
        srv_pool_free(p);
        return st;
    }
    llv_session_params attached = *sp;
    attached.engine = p->engine;
    for (int i = 0; i < n_keep; i++) {
        st = llv_session_create(model, &attached, &p->slots[i].s, err);
        if (st) {
            srv_pool_free(p);
            return st;
        }
        p->n++;
    }
    *out = p;
    return LLV_OK;
}

static size_t common_prefix(const uint64_t *a, size_t na, const uint64_t *b, size_t nb) {
    size_t i = 0;
    while (i < na && i < nb && a[i] == b[i]) i++;
    return i;
}

/* The free slot holding the longest equal start of key; among equals (and
 * when nothing matches) the least recently used one, which is evicted. */
static slot *pick(srv_pool *p, const uint64_t *key, size_t n_key, size_t *matched) {
    slot *best = NULL;
    size_t best_len = 0;
    for (int i = 0; i < p->n; i++) {
        slot *sl = &p->slots[i];
        if (sl->busy) continue;
        size_t m = common_prefix(sl->key, sl->n_key, key, n_key);
        if (!best || m > best_len || (m == best_len && sl->used < best->used)) {
            best = sl;
            best_len = m;
        }
    }
    *matched = best_len;
    return best;
}

static struct timespec deadline_ms(int ms) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    int64_t ns = (int64_t)t.tv_nsec + (int64_t)ms * 1000000;
    t.tv_sec += (time_t)(ns / 1000000000);
    t.tv_nsec = (long)(ns % 1000000000);
    return t;
}

srv_pool_rc srv_pool_acquire(srv_pool *p, const uint64_t *key, size_t n_key, int queue_timeout_ms,
                             llv_session **s) {
    pthread_mutex_lock(&p->mu);
    if (!p->closed && p->busy >= p->parallel) {
        if (p->waiting >= p->queue_max) {
            p->c.rejected_full++;
            pthread_mutex_unlock(&p->mu);
            return SRV_POOL_FULL;
        }
        p->waiting++;
        struct timespec dl = deadline_ms(queue_timeout_ms);
        bool timed_out = false;
        while (!p->closed && p->busy >= p->parallel && !timed_out)
            timed_out = queue_timeout_ms > 0 ? pthread_cond_timedwait(&p->cv, &p->mu, &dl) != 0
                                             : (pthread_cond_wait(&p->cv, &p->mu), false);
        p->waiting--;
        if (timed_out && p->busy >= p->parallel && !p->closed) {
            p->c.rejected_timeout++;
            pthread_mutex_unlock(&p->mu);
            return SRV_POOL_TIMEOUT;
        }
    }
    if (p->closed) {
        pthread_mutex_unlock(&p->mu);
        return SRV_POOL_CLOSED;
    }
    if (n_key > SRV_KEY_MAX) n_key = SRV_KEY_MAX;
    size_t matched = 0;
    slot *sl = pick(p, key, n_key, &matched);
    sl->busy = true;
    p->busy++;
    sl->used = ++p->clock;
    memcpy(sl->key, key, n_key * sizeof *key);
    sl->n_key = n_key;
    if (matched > 0) p->c.picked_by_prefix++;
    *s = sl->s;
    pthread_mutex_unlock(&p->mu);
    /* the session keeps the rows the new conversation shares with its last one */
    if (p->prefix) llv_session_reset_keep_prefix(*s);
    else llv_session_reset(*s);
    return SRV_POOL_OK;
}

void srv_pool_release(srv_pool *p, llv_session *s, uint64_t answer_key, int32_t cached_tokens) {
    if (!s) return;
    pthread_mutex_lock(&p->mu);
    for (int i = 0; i < p->n; i++) {
        slot *sl = &p->slots[i];
        if (sl->s != s) continue;
        sl->busy = false;
        p->busy--;
        if (answer_key && sl->n_key < SRV_KEY_MAX + 1) sl->key[sl->n_key++] = answer_key;
        else if (!answer_key) sl->n_key = 0; /* failed or cancelled: what it holds is not a whole turn */
        break;
    }
    if (cached_tokens > 0) {
        p->c.prefix_hits++;
        p->c.cached_tokens += (uint64_t)cached_tokens;
    }
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
    if (busy) *busy = p->busy;
    if (waiting) *waiting = p->waiting;
    pthread_mutex_unlock(&p->mu);
}

void srv_pool_counters_get(srv_pool *p, srv_pool_counters *out, int *kept, int *parallel) {
    pthread_mutex_lock(&p->mu);
    *out = p->c;
    if (kept) *kept = p->n;
    if (parallel) *parallel = p->parallel;
    pthread_mutex_unlock(&p->mu);
}

void srv_pool_engine_stats(srv_pool *p, llv_engine_stats *out) { llv_engine_get_stats(p->engine, out); }

void srv_pool_free(srv_pool *p) {
    if (!p) return;
    for (int i = 0; i < p->n; i++) llv_session_free(p->slots[i].s);
    llv_engine_free(p->engine); /* after its sessions */
    pthread_mutex_destroy(&p->mu);
    pthread_cond_destroy(&p->cv);
    free(p->slots);
    free(p);
}
