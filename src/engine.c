/* engine.c - the sessions of one model served together: one thread pool,
 * one compute lock, one image cache, the vision buffers, and forward passes
 * that merge the pending requests of all attached sessions
 * (llv_text_forward_multi). A standalone session owns an engine of one. No
 * scheduler thread: the thread that finds the engine idle leads the next pass. */
#include "engine.h"

#include <limits.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

typedef struct eng_req {
    llv_text_state       *st;
    const llv_text_batch *b;
    bool                  gen;  /* the submitter is inside llv_session_generate */
    bool                  done;
    llv_status            status;
    llv_error             err;
    struct eng_req       *next;
} eng_req;

struct llv_engine {
    const llv_model  *m;
    llv_engine_params p;
    int               max_sessions; /* attached at most (INT_MAX: any)              */
    int               max_sel;      /* requests in one pass: min(max_rows, max_sessions) */
    llv_threadpool   *pool;
    llv_text_work    *work;  /* rows of a merged pass (max_rows) */
    llv_vision_state *vs;    /* shared: encodes run one at a time */
    float            *cross_states;
    size_t            cross_states_n;
    /* a pass: selected requests, their states and batches ([max_sel]) */
    eng_req         **sel;
    llv_text_state  **sel_st;
    llv_text_batch   *sel_b;

    pthread_mutex_t mu;
    pthread_cond_t  cv;      /* any change: request queued/done, lock released, generating count */
    bool            busy;    /* the compute lock is held (a pass, an encode)  */
    bool            leading; /* a thread is gathering the next pass           */
    eng_req        *head, *tail;
    int             n_pending, n_pending_gen;
    int64_t         pending_rows;
    int             n_attached, n_generating, hold;
    uint64_t        passes;       /* passes run, failed ones included                  */
    /* no stalls (slice_ms): an image encode runs under vision_busy and, between
     * encoder layers, lets one pass of the waiting requests run (yielding: no
     * other compute user meanwhile); pass times, fitted as c0 + c1 * rows,
     * size the prompt chunks of a session while others generate */
    bool            vision_busy, yielding;
    uint64_t        yield_passes; /* passes when the encode yielded                    */
    double          vision_run_s; /* when the encode last (re)started computing: the
                                     encoding thread's alone, under vision_busy        */
    llv_pass_fit    fit;
    llv_engine_trace_fn trace; /* what held the compute lock (llv-bench --stalls) */
    void               *trace_user;
    double              encode_hold_s; /* the encode last took the lock: its piece's start */
    llv_image_cache cache;
    llv_engine_stats stats;
};

void llv_engine_params_init(llv_engine_params *out, size_t size) {
    llv_engine_params p;
    memset(&p, 0, sizeof p);
    p.n_threads = 0;
    p.max_rows = 512;
    p.image_cache_entries = 4;
    p.gather_us = 1000;
    p.slice_ms = 250;
    llv_params_out(out, size, &p, sizeof p);
}

static int default_threads(const llv_model *m) {
    if (m->params.n_threads > 0) return m->params.n_threads;
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (int)LLV_MIN(n, 256) : 1;
}

static void engine_destroy(llv_engine *e) {
    llv_text_work_free(e->work);
    llv_vision_state_free(e->vs);
    llv_threadpool_free(e->pool);
    llv_free_aligned(e->cross_states);
    llv_image_cache_free(&e->cache);
    free(e->sel);
    free(e->sel_st);
    free(e->sel_b);
    free(e);
}

llv_status llv_engine_check_params(const char *what, int32_t n_threads, size_t image_cache_entries, llv_error *err) {
    if (n_threads < 0 || n_threads > 1024)
        return llv_err(err, LLV_ERR_INVALID_ARGUMENT, "%s: n_threads = %d out of range (0..1024)", what, n_threads);
    if (image_cache_entries > 1024)
        return llv_err(err, LLV_ERR_INVALID_ARGUMENT, "%s: image_cache_entries = %zu out of range (0..1024)", what,
                       image_cache_entries);
    return LLV_OK;
}

llv_status llv_engine_create(const llv_model *model, const llv_engine_params *params, llv_engine **out,
                             llv_error *err) {
    llv_err_clear(err);
    if (!out) return llv_err(err, LLV_ERR_INVALID_ARGUMENT, "llv_engine_create: out is NULL");
    *out = NULL;
    LLV_PARAMS_IN(llv_engine_params, params, err);
    if (!model) return llv_err(err, LLV_ERR_INVALID_ARGUMENT, "llv_engine_create: model is NULL");
    if (!model->has_weights)
        return llv_err(err, LLV_ERR_UNSUPPORTED, "llv_engine_create: the model file has no weights (vocabulary-only)");
    llv_engine_params p = params ? *params : llv_engine_default_params();
    llv_status st = llv_engine_check_params("engine params", p.n_threads, p.image_cache_entries, err);
    if (st != LLV_OK) return st;
    if (p.max_rows < 0 || p.max_rows > 65536)
        return llv_err(err, LLV_ERR_INVALID_ARGUMENT, "engine params: max_rows = %d out of range (0 = 512, 1..65536)",
                       p.max_rows);
    if (p.gather_us < 0 || p.gather_us > 10000000)
        return llv_err(err, LLV_ERR_INVALID_ARGUMENT, "engine params: gather_us = %d out of range (0..10000000)",
                       p.gather_us);
    if (p.slice_ms < 0 || p.slice_ms > 60000)
        return llv_err(err, LLV_ERR_INVALID_ARGUMENT, "engine params: slice_ms = %d out of range (0..60000)",
                       p.slice_ms);
    if (p.max_rows == 0) p.max_rows = 512;
    st = llv_engine_new(model, &p, INT_MAX, out, err);
    if (st != LLV_OK) llv_err_prefix(err, "llv_engine_create");
    return st;
}

llv_status llv_engine_new(const llv_model *model, const llv_engine_params *params, int max_sessions,
                          llv_engine **out, llv_error *err) {
    *out = NULL;
    llv_engine_params p = *params;
    if (p.n_threads == 0) p.n_threads = default_threads(model);
    llv_engine *e = calloc(1, sizeof *e);
    if (!e) return llv_err(err, LLV_ERR_OUT_OF_MEMORY, "out of memory");
    e->m = model;
    e->p = p;
    e->max_sessions = max_sessions;
    e->max_sel = LLV_MIN(p.max_rows, max_sessions);
    llv_status st;
    if ((st = llv_image_cache_init(&e->cache, p.image_cache_entries, err)) != LLV_OK) goto fail;
    if ((st = llv_threadpool_create(p.n_threads, &e->pool, err)) != LLV_OK) goto fail;
    if ((st = llv_text_work_create(model, p.max_rows, &e->work, err)) != LLV_OK) goto fail;
    if (model->hp.has_vision && (st = llv_vision_state_create(model, &e->vs, err)) != LLV_OK) goto fail;
    e->sel = malloc((size_t)e->max_sel * sizeof *e->sel);
    e->sel_st = malloc((size_t)e->max_sel * sizeof *e->sel_st);
    e->sel_b = malloc((size_t)e->max_sel * sizeof *e->sel_b);
    if (!e->sel || !e->sel_st || !e->sel_b) {
        st = llv_err(err, LLV_ERR_OUT_OF_MEMORY, "out of memory");
        goto fail;
    }
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC); /* gather deadlines ignore wall-clock jumps */
    int rc = pthread_mutex_init(&e->mu, NULL);
    int rc2 = rc ? 0 : pthread_cond_init(&e->cv, &ca);
    pthread_condattr_destroy(&ca);
    if (rc || rc2) {
        if (!rc) pthread_mutex_destroy(&e->mu);
        st = llv_err(err, LLV_ERR_INTERNAL, "cannot create the engine's mutex/condition variable");
        goto fail;
    }
    *out = e;
    return LLV_OK;
fail:
    engine_destroy(e);
    return st;
}

void llv_engine_free(llv_engine *e) {
    if (!e) return;
    pthread_mutex_lock(&e->mu);
    int attached = e->n_attached;
    pthread_mutex_unlock(&e->mu);
    if (attached > 0) return; /* programming error: documented as a no-op */
    pthread_cond_destroy(&e->cv);
    pthread_mutex_destroy(&e->mu);
    engine_destroy(e);
}

void llv_engine_get_stats(const llv_engine *ce, llv_engine_stats *out) {
    if (!out) return;
    memset(out, 0, sizeof *out);
    if (!ce) return;
    llv_engine *e = (llv_engine *)ce; /* the mutex is not part of the observable state */
    pthread_mutex_lock(&e->mu);
    *out = e->stats;
    pthread_mutex_unlock(&e->mu);
}

/* ------------------------------------------------------------------------- */
/* attach, pool, compute lock                                                */
/* ------------------------------------------------------------------------- */

llv_status llv_engine_attach(llv_engine *e, const llv_model *m, llv_error *err) {
    if (e->m != m)
        return llv_err(err, LLV_ERR_INVALID_ARGUMENT, "session params: the engine was created for another model");
    pthread_mutex_lock(&e->mu);
    bool full = e->n_attached >= e->max_sessions;
    if (!full) e->n_attached++;
    pthread_mutex_unlock(&e->mu);
    if (full) return llv_err(err, LLV_ERR_STATE, "the engine serves %d session(s) already", e->max_sessions);
    return LLV_OK;
}

void llv_engine_detach(llv_engine *e) {
    pthread_mutex_lock(&e->mu);
    e->n_attached--;
    pthread_mutex_unlock(&e->mu);
}

llv_threadpool *llv_engine_pool(llv_engine *e) { return e->pool; }
int32_t         llv_engine_max_rows(const llv_engine *e) { return e->p.max_rows; }

void llv_engine_generating(llv_engine *e, int delta) {
    pthread_mutex_lock(&e->mu);
    e->n_generating += delta;
    pthread_cond_broadcast(&e->cv); /* a gathering leader may stop waiting */
    pthread_mutex_unlock(&e->mu);
}

void llv_engine_hold(llv_engine *e, int n) {
    pthread_mutex_lock(&e->mu);
    e->hold = n;
    pthread_mutex_unlock(&e->mu);
}

void llv_engine_compute_begin(llv_engine *e) {
    pthread_mutex_lock(&e->mu);
    while (e->busy || e->vision_busy) pthread_cond_wait(&e->cv, &e->mu);
    e->busy = true;
    pthread_mutex_unlock(&e->mu);
}

void llv_engine_compute_end(llv_engine *e) {
    pthread_mutex_lock(&e->mu);
    e->busy = false;
    pthread_cond_broadcast(&e->cv);
    pthread_mutex_unlock(&e->mu);
}

static struct timespec deadline_after_us(int32_t us);

void llv_engine_vision_begin(llv_engine *e) {
    pthread_mutex_lock(&e->mu);
    while (e->busy || e->vision_busy) pthread_cond_wait(&e->cv, &e->mu);
    e->busy = e->vision_busy = true;
    e->vision_run_s = e->encode_hold_s = llv_time_s();
    pthread_mutex_unlock(&e->mu);
}

void llv_engine_set_trace(llv_engine *e, llv_engine_trace_fn fn, void *user) {
    pthread_mutex_lock(&e->mu);
    e->trace = fn;
    e->trace_user = user;
    pthread_mutex_unlock(&e->mu);
}

/* with the mutex held: the piece of the encode that ends now */
static void trace_encode_piece(llv_engine *e, const char *what) {
    if (!e->trace) return;
    const llv_engine_trace_hold h = {e->encode_hold_s, llv_time_s(), what, 0, 0, 0};
    e->trace(&h, e->trace_user);
}

void llv_engine_vision_end(llv_engine *e) {
    pthread_mutex_lock(&e->mu);
    trace_encode_piece(e, "encode end");
    e->busy = e->vision_busy = false;
    pthread_cond_broadcast(&e->cv);
    pthread_mutex_unlock(&e->mu);
}

void llv_engine_yield(llv_engine *e, bool self_generating, const char *what) {
    /* at most once per slice of encoding, so the encode is not slowed by a pass per piece */
    if (e->p.slice_ms <= 0 || llv_time_s() - e->vision_run_s < e->p.slice_ms / 1000.0) return;
    pthread_mutex_lock(&e->mu);
    if (e->hold > 0) { /* a test's held pass waits for this session's request too: no pass can run now */
        pthread_mutex_unlock(&e->mu);
        return;
    }
    const int others = e->n_generating - (self_generating ? 1 : 0);
    if (e->p.slice_ms > 0 && others > 0 && e->p.gather_us > 0) { /* as a leader gathers: let them submit */
        struct timespec dl = deadline_after_us(e->p.gather_us);
        while (e->n_pending_gen < others)
            if (pthread_cond_timedwait(&e->cv, &e->mu, &dl) != 0) break;
    }
    if (e->p.slice_ms > 0 && e->n_pending > 0) {
        trace_encode_piece(e, what);
        e->yielding = true;
        e->yield_passes = e->passes;
        e->busy = false;
        pthread_cond_broadcast(&e->cv);
        /* one pass of what waits, then the encode goes on before any later pass */
        while (e->busy || (e->passes == e->yield_passes && (e->n_pending > 0 || e->leading)))
            pthread_cond_wait(&e->cv, &e->mu);
        e->yielding = false;
        e->busy = true;
        e->encode_hold_s = llv_time_s();
    }
    pthread_mutex_unlock(&e->mu);
    e->vision_run_s = llv_time_s();
}

void llv_pass_fit_add(llv_pass_fit *f, double rows, double s) {
    /* the fit sizes chunks beside decoding sessions, passes of a few rows where a
     * row costs most (on 2 AVX2 cores at the 11B shapes 3/4 of a decode pass, in
     * a pass of hundreds 0.4 of it): a long prompt's passes would make chunks too long */
    if (rows > LLV_PASS_FIT_MAX_ROWS) return;
    const double keep = 0.9; /* recent passes count most: the machine's speed moves */
    f->n = keep * f->n + 1;
    f->x = keep * f->x + rows;
    f->y = keep * f->y + s;
    f->xx = keep * f->xx + rows * rows;
    f->xy = keep * f->xy + rows * s;
}

bool llv_pass_fit_get(const llv_pass_fit *f, double *c0, double *c1) {
    const double var = f->n * f->xx - f->x * f->x;
    if (f->n <= 0 || var <= 1e-9 * f->n * f->xx) return false; /* passes of one size only */
    *c1 = (f->n * f->xy - f->x * f->y) / var;
    /* rows that cost nothing measurable (a tiny model, where a pass is its
     * overhead): as good as free, not unmeasured, or chunks would stay 1 row */
    if (*c1 <= 0) *c1 = 1e-12;
    *c0 = (f->y - *c1 * f->x) / f->n;
    return true;
}

int32_t llv_chunk_rows_fit(int32_t want, double slice_s, double c0, double c1, int decoders) {
    /* the decoders wait for the whole pass: their own pass costs c0 + c1 * decoders,
     * each row of the chunk c1 more. Keep the pass within slice_s or, where the
     * decoders' pass alone takes longer (a big model on few cores), within 1.5 x
     * that: their gap grows by half at most (at the 11B shapes on 2 AVX2 cores,
     * 0.44 s passes became 0.94 s with twice) */
    const double alone = c0 + c1 * decoders, limit = LLV_MAX(slice_s, 1.5 * alone);
    /* unmeasured: one row, the smallest chunk, whose pass measures it (4 rows at
     * the 11B shapes on 2 AVX2 cores were a pass of 3 s: a row there costs 3/4 of
     * a decode pass) */
    const double fit = c1 > 0 ? (limit - alone) / c1 : 1;
    return fit >= want ? want : LLV_MAX(1, (int32_t)fit);
}

int32_t llv_engine_chunk_rows(llv_engine *e, int32_t want, bool self_generating) {
    pthread_mutex_lock(&e->mu);
    int others = e->n_generating - (self_generating ? 1 : 0);
    int32_t rows = want;
    double c0 = 0, c1 = 0;
    if (e->p.slice_ms > 0 && others > 0) {
        if (!llv_pass_fit_get(&e->fit, &c0, &c1)) c0 = c1 = 0;
        rows = llv_chunk_rows_fit(want, e->p.slice_ms / 1000.0, c0, c1, others);
    }
    pthread_mutex_unlock(&e->mu);
    return rows;
}

llv_vision_state *llv_engine_vision(llv_engine *e) { return e->vs; }

llv_status llv_engine_cross_states(llv_engine *e, size_t n, float **out, llv_error *err) {
    *out = NULL;
    if (n > e->cross_states_n) {
        size_t bytes;
        float *p;
        if (!llv_mul_size(n, sizeof(float), &bytes) || !(p = llv_alloc_aligned(bytes)))
            return llv_err(err, LLV_ERR_OUT_OF_MEMORY, "image encode: out of memory for %zu projector floats", n);
        llv_free_aligned(e->cross_states);
        e->cross_states = p;
        e->cross_states_n = n;
    }
    *out = e->cross_states;
    return LLV_OK;
}

void llv_engine_count_encode(llv_engine *e) {
    pthread_mutex_lock(&e->mu);
    e->stats.encoder_runs++;
    pthread_mutex_unlock(&e->mu);
}

/* ------------------------------------------------------------------------- */
/* shared image cache                                                        */
/* ------------------------------------------------------------------------- */

llv_kv_ref *llv_engine_cache_get(llv_engine *e, uint64_t hash) {
    pthread_mutex_lock(&e->mu);
    llv_kv_ref *r = llv_image_cache_get(&e->cache, hash);
    pthread_mutex_unlock(&e->mu);
    return r;
}

void llv_engine_cache_put(llv_engine *e, uint64_t hash, llv_kv_ref *r) {
    pthread_mutex_lock(&e->mu);
    llv_image_cache_put(&e->cache, hash, r);
    pthread_mutex_unlock(&e->mu);
}

size_t llv_engine_cache_bytes(llv_engine *e) {
    pthread_mutex_lock(&e->mu);
    size_t n = llv_image_cache_bytes(&e->cache);
    pthread_mutex_unlock(&e->mu);
    return n;
}

bool llv_engine_cache_holds(llv_engine *e, const llv_kv_ref *r) {
    bool found = false;
    pthread_mutex_lock(&e->mu);
    for (size_t j = 0; r && j < e->cache.n; j++) found |= e->cache.e[j].ref == r;
    pthread_mutex_unlock(&e->mu);
    return found;
}

size_t llv_engine_bytes(llv_engine *e) {
    size_t total = sizeof *e + llv_text_work_bytes(e->work) + llv_engine_cache_bytes(e) +
                   (size_t)e->max_sel * (sizeof *e->sel + sizeof *e->sel_st + sizeof *e->sel_b);
    llv_engine_compute_begin(e); /* the scratch below grows under the compute lock */
    if (e->vs) total += llv_vision_state_bytes(e->vs);
    total += e->cross_states_n * sizeof(float);
    llv_engine_compute_end(e);
    return total;
}

/* ------------------------------------------------------------------------- */
/* merged forward passes                                                     */
/* ------------------------------------------------------------------------- */

static struct timespec deadline_after_us(int32_t us) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    int64_t ns = (int64_t)t.tv_nsec + (int64_t)us * 1000;
    t.tv_sec += (time_t)(ns / 1000000000);
    t.tv_nsec = (long)(ns % 1000000000);
    return t;
}

/* Takes from the queue the requests of the next pass: the oldest, then, in
 * order, every other one with the same adapter while the rows fit. */
static int select_pass(llv_engine *e, int64_t *rows) {
    int n = 0;
    int64_t total = 0;
    eng_req **pp = &e->head, *prev = NULL;
    const struct llv_lora *lora = e->head->b->lora;
    while (*pp && n < e->max_sel) {
        eng_req *r = *pp;
        bool take = n == 0 || (r->b->lora == lora && total + r->b->n <= e->p.max_rows);
        if (!take) {
            prev = r;
            pp = &r->next;
            continue;
        }
        *pp = r->next;
        if (e->tail == r) e->tail = prev;
        r->next = NULL;
        e->sel[n++] = r;
        total += r->b->n;
        e->n_pending--;
        e->pending_rows -= r->b->n;
        if (r->gen) e->n_pending_gen--;
    }
    *rows = total;
    return n;
}

/* Called with the mutex held by the leader: gathers, runs one pass, wakes. */
static void lead_pass(llv_engine *e) {
    e->leading = true;
    if (e->hold > 0) { /* tests: wait for a known number of requests */
        while (e->n_pending < e->hold) pthread_cond_wait(&e->cv, &e->mu);
        e->hold = 0;
    }
    if (e->p.gather_us > 0) {
        struct timespec dl = deadline_after_us(e->p.gather_us);
        while (e->n_pending_gen < e->n_generating && e->pending_rows < e->p.max_rows)
            if (pthread_cond_timedwait(&e->cv, &e->mu, &dl) != 0) break; /* ETIMEDOUT */
    }
    /* after the one pass a yielding image encode allowed, the encode goes first */
    while (e->busy || (e->yielding && e->passes != e->yield_passes)) pthread_cond_wait(&e->cv, &e->mu);
    e->busy = true;
    e->leading = false; /* the next leader may gather while this pass runs */
    int64_t rows = 0;
    int n = select_pass(e, &rows), n_gen = 0;
    for (int i = 0; i < n; i++) n_gen += e->sel[i]->gen;
    pthread_mutex_unlock(&e->mu);

    for (int i = 0; i < n; i++) {
        e->sel_st[i] = e->sel[i]->st;
        e->sel_b[i] = *e->sel[i]->b;
    }
    llv_error perr = {0};
    const double t0 = llv_time_s();
    llv_status s = llv_text_forward_multi(e->m, e->pool, e->sel_st, e->sel_b, n, e->work, &perr);
    const double dt = llv_time_s() - t0;

    pthread_mutex_lock(&e->mu);
    if (e->trace) {
        const llv_engine_trace_hold h = {t0, t0 + dt, "pass", (int32_t)rows, n, n_gen};
        e->trace(&h, e->trace_user);
    }
    e->passes++;
    if (s == LLV_OK) llv_pass_fit_add(&e->fit, (double)rows, dt);
    for (int i = 0; i < n; i++) {
        e->sel[i]->status = s;
        if (s != LLV_OK) e->sel[i]->err = perr;
        e->sel[i]->done = true;
    }
    if (s == LLV_OK) {
        e->stats.forwards++;
        e->stats.rows += (uint64_t)rows;
        if (n > 1) e->stats.merged++;
        if (n > e->stats.max_sessions_in_pass) e->stats.max_sessions_in_pass = n;
    }
    e->busy = false;
    pthread_cond_broadcast(&e->cv);
}

llv_status llv_engine_forward(llv_engine *e, llv_text_state *st, const llv_text_batch *b, bool generating,
                              llv_error *err) {
    llv_status s = llv_text_check(e->m, st, b, err); /* a bad request fails alone, before it is queued */
    if (s != LLV_OK) return s;
    eng_req req;
    memset(&req, 0, sizeof req);
    req.st = st;
    req.b = b;
    req.gen = generating;
    pthread_mutex_lock(&e->mu);
    if (e->tail) e->tail->next = &req;
    else e->head = &req;
    e->tail = &req;
    e->n_pending++;
    e->pending_rows += b->n;
    if (generating) e->n_pending_gen++;
    pthread_cond_broadcast(&e->cv);
    while (!req.done) {
        if (!e->leading && !e->busy) lead_pass(e);
        else pthread_cond_wait(&e->cv, &e->mu);
    }
    pthread_mutex_unlock(&e->mu);
    if (req.status != LLV_OK && err) *err = req.err;
    return req.status;
}
