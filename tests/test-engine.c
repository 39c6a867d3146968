/* test-engine.c - llv_engine: sessions attached to one engine, each in its own
 * thread, generate concurrently with their decode steps merged into shared
 * forward passes, and every token and logit is bitwise identical to the same
 * request on a session of its own. Also: llv_text_forward_multi against
 * llv_text_forward per state, the shared image cache (one encoder run for the
 * same image asked by two sessions), invalid requests failing alone, LoRA
 * adapters of different sessions, an image encode that lets decoding
 * sessions go on between its layers (no stalls), parameter checks. Model: llv-synth's tiny
 * preset (F32), made in a temporary directory. */
#include "engine.h"
#include "llv-tools.h"
#include "model.h"
#include "testing.h"
#include "text.h"

#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char *g_dir;

/* ------------------------------------------------------------------------- */
/* One request: a session, a prompt, sampling; its outcome                    */
/* ------------------------------------------------------------------------- */

typedef struct req {
    const char *text;
    int         image;   /* 0: none; else the seed of a PPM image */
    int32_t     max_tokens;
    float       temperature, top_p, min_p, rep;
    int32_t     top_k;
    uint64_t    seed;
    const char *lora;
    int32_t     n_batch; /* 0 = default */
    llv_kv_type kv;
    int32_t     logprobs; /* 0: off; else 1 + top_logprobs */
} req;

typedef struct outcome {
    llv_status st;
    char       msg[LLV_ERROR_MESSAGE_SIZE];
    int32_t   *tokens;
    size_t     n_tokens;
    char      *text;
    float     *logits; /* llv_session_eval after the answer: the last row recomputed */
    int32_t    n_vocab;
    llv_logprob_entry *lp; /* with req.logprobs */
    size_t     n_lp;
} outcome;

static void outcome_free(outcome *o) {
    free(o->tokens);
    free(o->text);
    free(o->logits);
    free(o->lp);
    memset(o, 0, sizeof *o);
}

static void run_req(const llv_model *m, llv_engine *e, const req *r, outcome *o) {
    memset(o, 0, sizeof *o);
    llv_model_info info;
    llv_model_get_info(m, &info);
    o->n_vocab = info.n_vocab;
    llv_session_params sp = llv_session_default_params();
    sp.n_ctx = 256;
    sp.n_threads = 2;
    sp.kv_type = r->kv;
    if (r->n_batch) sp.n_batch = r->n_batch;
    sp.engine = e;
    llv_session *s = NULL;
    llv_error err = {0};
    llv_result res;
    memset(&res, 0, sizeof res);
    llv_status st = llv_session_create(m, &sp, &s, &err);
    if (st == LLV_OK && r->image) {
        size_t n = 0;
        uint8_t *img = llv_test_ppm(40, 30, r->image, &n);
        st = img ? llv_session_add_image(s, img, n, &err) : LLV_ERR_OUT_OF_MEMORY;
        free(img);
    }
    if (st == LLV_OK) st = llv_session_add_text(s, r->text, &err);
    if (st == LLV_OK) {
        llv_sampling_params p = llv_sampling_default_params();
        p.max_tokens = r->max_tokens;
        p.temperature = r->temperature;
        p.top_p = r->top_p ? r->top_p : 1.0f;
        p.top_k = r->top_k;
        p.min_p = r->min_p;
        p.repetition_penalty = r->rep ? r->rep : 1.0f;
        p.seed = r->seed;
        p.lora = r->lora;
        p.logprobs = r->logprobs > 0;
        p.top_logprobs = r->logprobs > 0 ? r->logprobs - 1 : 0;
        st = llv_session_generate(s, &p, NULL, NULL, &res, &err);
        size_t n_lp = 0;
        const llv_logprob_entry *lp = llv_session_logprobs(s, &n_lp);
        if (st == LLV_OK && lp && n_lp && (o->lp = malloc(n_lp * sizeof *lp))) {
            memcpy(o->lp, lp, n_lp * sizeof *lp);
            o->n_lp = n_lp;
        }
    }
    const float *lg = NULL;
    if (st == LLV_OK) st = llv_session_eval(s, &lg, &err);
    if (st == LLV_OK) {
        size_t n = 0;
        const int32_t *t = llv_session_tokens(s, &n);
        o->tokens = malloc((n ? n : 1) * sizeof *o->tokens);
        o->logits = malloc((size_t)info.n_vocab * sizeof *o->logits);
        if (o->tokens && o->logits) {
            memcpy(o->tokens, t, n * sizeof *t);
            memcpy(o->logits, lg, (size_t)info.n_vocab * sizeof *lg);
            o->n_tokens = n;
            o->text = res.text;
            res.text = NULL;
        } else {
            st = LLV_ERR_OUT_OF_MEMORY;
        }
    }
    o->st = st;
    if (st != LLV_OK) snprintf(o->msg, sizeof o->msg, "%s", err.message);
    llv_result_free(&res);
    llv_session_free(s);
}

/* Bitwise: tokens, text and logits. */
static void check_same(const char *what, const outcome *got, const outcome *ref) {
    CHECK_MSG(got->st == LLV_OK && ref->st == LLV_OK, "%s: status %s / solo %s (%s%s)", what,
              llv_status_name(got->st), llv_status_name(ref->st), got->msg, ref->msg);
    if (got->st != LLV_OK || ref->st != LLV_OK) return;
    CHECK_MSG(got->n_tokens == ref->n_tokens && !memcmp(got->tokens, ref->tokens, ref->n_tokens * sizeof(int32_t)),
              "%s: tokens differ (%zu vs %zu solo)", what, got->n_tokens, ref->n_tokens);
    CHECK_MSG(got->text && ref->text && !strcmp(got->text, ref->text), "%s: text differs", what);
    CHECK_MSG(!memcmp(got->logits, ref->logits, (size_t)ref->n_vocab * sizeof(float)),
              "%s: final logits differ from the solo run (not bitwise)", what);
    CHECK_MSG(got->n_lp == ref->n_lp && (!ref->n_lp || !memcmp(got->lp, ref->lp, ref->n_lp * sizeof *ref->lp)),
              "%s: logprobs differ from the solo run (%zu vs %zu entries)", what, got->n_lp, ref->n_lp);
}

typedef struct job {
    const llv_model   *m;
    llv_engine        *e;
    const req         *r;
    outcome           *o;
    pthread_barrier_t *bar;
} job;

static void *job_main(void *arg) {
    job *j = arg;
    pthread_barrier_wait(j->bar);
    run_req(j->m, j->e, j->r, j->o);
    return NULL;
}

/* Runs reqs[0..n) concurrently on e, one thread each. */
static void run_concurrent(const llv_model *m, llv_engine *e, const req *reqs, int n, outcome *outs) {
    pthread_t th[8];
    job jobs[8];
    pthread_barrier_t bar;
    pthread_barrier_init(&bar, NULL, (unsigned)n);
    for (int i = 0; i < n; i++) {
        jobs[i] = (job){m, e, &reqs[i], &outs[i], &bar};
        pthread_create(&th[i], NULL, job_main, &jobs[i]);
    }
    for (int i = 0; i < n; i++) pthread_join(th[i], NULL);
    pthread_barrier_destroy(&bar);
}

static llv_engine *make_engine_rows(const llv_model *m, int32_t gather_us, int32_t max_rows) {
    llv_engine_params ep = llv_engine_default_params();
    ep.n_threads = 2;
    ep.gather_us = gather_us;
    ep.max_rows = max_rows;
    llv_engine *e = NULL;
    llv_error err = {0};
    CHECK_OK(llv_engine_create(m, &ep, &e, &err), &err);
    return e;
}

static llv_engine *make_engine(const llv_model *m, int32_t gather_us) { return make_engine_rows(m, gather_us, 0); }

static const req g_reqs[] = {
    {.text = "Tell me a story about a fox.", .max_tokens = 12, .temperature = 0, .seed = 1, .kv = LLV_KV_F32,
     .logprobs = 1 + 5},
    {.text = "What is in this image?", .image = 1, .max_tokens = 10, .temperature = 0.8f, .top_p = 0.9f, .seed = 7,
     .kv = LLV_KV_F16},
    {.text = "Count to ten, please.", .max_tokens = 5, .temperature = 1.0f, .top_k = 20, .seed = 3, .n_batch = 4,
     .kv = LLV_KV_F16, .logprobs = 1 + 20},
    {.text = "Describe the colours.", .image = 2, .max_tokens = 9, .temperature = 0.6f, .min_p = 0.05f, .rep = 1.1f,
     .seed = 11, .kv = LLV_KV_F32},
};

/* ------------------------------------------------------------------------- */
/* Cases                                                                     */
/* ------------------------------------------------------------------------- */

/* N sessions generating at once: each bitwise equal to its solo run, and the
 * passes were merged (the first pass holds until all N submitted; a long
 * gather_us keeps the later steps together). */
static void test_merged(const llv_model *m, bool vision) {
    outcome solo[4], got[4];
    req reqs[4];
    for (int i = 0; i < 4; i++) {
        reqs[i] = g_reqs[i];
        if (!vision) reqs[i].image = 0;
        run_req(m, NULL, &reqs[i], &solo[i]);
        CHECK_MSG(solo[i].st == LLV_OK, "solo %d: %s", i, solo[i].msg);
        CHECK_MSG(!reqs[i].logprobs || (solo[i].n_lp > 0 && solo[i].lp[0].n_top == reqs[i].logprobs - 1),
                  "solo %d: %zu logprobs entries", i, solo[i].n_lp);
    }
    const int ns[] = {1, 2, 4};
    for (int k = 0; k < 3; k++) {
        int n = ns[k];
        llv_engine *e = make_engine(m, 2000000);
        if (!e) return;
        llv_engine_hold(e, n);
        run_concurrent(m, e, reqs, n, got);
        for (int i = 0; i < n; i++) {
            char what[64];
            snprintf(what, sizeof what, "%d streams, session %d", n, i);
            check_same(what, &got[i], &solo[i]);
            outcome_free(&got[i]);
        }
        llv_engine_stats es;
        llv_engine_get_stats(e, &es);
        printf("  %d streams: %llu passes, %llu rows, %llu merged, max %d sessions in a pass, %llu encoder runs\n", n,
               (unsigned long long)es.forwards, (unsigned long long)es.rows, (unsigned long long)es.merged,
               es.max_sessions_in_pass, (unsigned long long)es.encoder_runs);
        CHECK(es.forwards > 0);
        if (n > 1) {
            CHECK(es.merged > 0);
            CHECK_EQ_I(es.max_sessions_in_pass, n);
        } else {
            CHECK_EQ_I(es.merged, 0);
        }
        llv_engine_free(e);
    }
    /* passes of 8 rows: prompts go in chunks of 8 (or n_batch 4), decode steps still merge */
    llv_engine *e = make_engine_rows(m, 2000000, 8);
    if (e) {
        llv_engine_hold(e, 4);
        run_concurrent(m, e, reqs, 4, got);
        for (int i = 0; i < 4; i++) {
            char what[64];
            snprintf(what, sizeof what, "max_rows 8, session %d", i);
            check_same(what, &got[i], &solo[i]);
            outcome_free(&got[i]);
        }
        llv_engine_stats es;
        llv_engine_get_stats(e, &es);
        printf("  max_rows 8: %llu passes, %llu rows, %llu merged, max %d sessions in a pass\n",
               (unsigned long long)es.forwards, (unsigned long long)es.rows, (unsigned long long)es.merged,
               es.max_sessions_in_pass);
        CHECK(es.merged > 0);
        CHECK(es.rows <= es.forwards * 8);
        llv_engine_free(e);
    }
    /* a batch larger than max_rows sent straight to the engine runs alone, split */
    e = make_engine_rows(m, 1000, 4);
    llv_text_state *ta = NULL, *tb = NULL;
    llv_error err = {0};
    if (e && llv_text_state_create(m, 32, 16, LLV_KV_F32, &ta, &err) == LLV_OK &&
        llv_text_state_create(m, 32, 16, LLV_KV_F32, &tb, &err) == LLV_OK) {
        int32_t toks[10] = {5, 9, 2, 7, 30, 31, 8, 1, 4, 6};
        const int32_t V = m->hp.n_vocab;
        float *la = malloc((size_t)V * sizeof *la), *lb = malloc((size_t)V * sizeof *lb);
        llv_text_batch b;
        memset(&b, 0, sizeof b);
        b.tokens = toks;
        b.n = 10;
        b.logits = la;
        CHECK_OK(llv_engine_forward(e, ta, &b, false, &err), &err);
        b.logits = lb;
        CHECK_OK(llv_text_forward(m, tb, NULL, &b, &err), &err);
        CHECK_EQ_I(llv_text_state_n_past(ta), 10);
        CHECK(la && lb && !memcmp(la, lb, (size_t)V * sizeof *la));
        free(la);
        free(lb);
    }
    llv_text_state_free(ta);
    llv_text_state_free(tb);
    llv_engine_free(e);
    for (int i = 0; i < 4; i++) outcome_free(&solo[i]);
}

/* The same image asked by two sessions at once: one encoder run; a third
 * session later: still one. */
static void test_shared_cache(const llv_model *m) {
    req reqs[2] = {g_reqs[1], g_reqs[1]};
    reqs[1].text = "Is there a square?";
    reqs[1].seed = 5;
    outcome solo[2], got[2];
    for (int i = 0; i < 2; i++) run_req(m, NULL, &reqs[i], &solo[i]);
    llv_engine *e = make_engine(m, 1000);
    if (!e) return;
    run_concurrent(m, e, reqs, 2, got);
    check_same("shared image, session 0", &got[0], &solo[0]);
    check_same("shared image, session 1", &got[1], &solo[1]);
    outcome third;
    run_req(m, e, &reqs[0], &third);
    check_same("shared image, later session", &third, &solo[0]);
    llv_engine_stats es;
    llv_engine_get_stats(e, &es);
    CHECK_EQ_I(es.encoder_runs, 1);
    /* cross K/V are stored in the session's KV type (g_reqs[1] is F16): a float32 session encodes the image again
     * rather than use the F16 K/V, and gets its solo answer; the next F16 session encodes it again too (the cache
     * keeps one entry per image), and gets its own */
    req r32 = reqs[0];
    r32.kv = LLV_KV_F32;
    outcome solo32, got32, again;
    run_req(m, NULL, &r32, &solo32);
    run_req(m, e, &r32, &got32);
    check_same("shared image, float32 session", &got32, &solo32);
    run_req(m, e, &reqs[0], &again);
    check_same("shared image, F16 session after it", &again, &solo[0]);
    llv_engine_get_stats(e, &es);
    CHECK_EQ_I(es.encoder_runs, 3);
    outcome_free(&solo32), outcome_free(&got32), outcome_free(&again);
    outcome_free(&third);
    for (int i = 0; i < 2; i++) outcome_free(&got[i]), outcome_free(&solo[i]);
    llv_engine_free(e);
}

/* A thread whose requests are invalid (unknown adapter inside generate,
 * out-of-range token and full context straight to the engine) while two
 * sessions generate: theirs stay bitwise equal to solo. */
typedef struct bad_job {
    const llv_model   *m;
    llv_engine        *e;
    pthread_barrier_t *bar;
    int                n_ok;
} bad_job;

static void *bad_main(void *arg) {
    bad_job *j = arg;
    pthread_barrier_wait(j->bar);
    llv_error err = {0};
    llv_session_params sp = llv_session_default_params();
    sp.n_ctx = 256;
    sp.engine = j->e;
    llv_session *s = NULL;
    if (llv_session_create(j->m, &sp, &s, &err) == LLV_OK) {
        llv_sampling_params p = llv_sampling_default_params();
        p.lora = "no-such-adapter";
        if (llv_session_add_text(s, "hello", &err) == LLV_OK &&
            llv_session_generate(s, &p, NULL, NULL, NULL, &err) == LLV_ERR_NOT_FOUND)
            j->n_ok++;
        llv_session_free(s);
    }
    llv_text_state *ts = NULL;
    if (llv_text_state_create(j->m, 8, 4, LLV_KV_F32, &ts, &err) == LLV_OK) {
        int32_t toks[10] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10};
        llv_text_batch b;
        memset(&b, 0, sizeof b);
        b.tokens = toks;
        b.n = 10; /* > n_ctx 8 */
        if (llv_engine_forward(j->e, ts, &b, false, &err) == LLV_ERR_LIMIT) j->n_ok++;
        toks[0] = -5;
        b.n = 2;
        if (llv_engine_forward(j->e, ts, &b, false, &err) == LLV_ERR_INVALID_ARGUMENT) j->n_ok++;
        toks[0] = 1;
        float *lg = malloc((size_t)j->m->hp.n_vocab * sizeof *lg);
        b.logits = lg;
        if (lg && llv_engine_forward(j->e, ts, &b, false, &err) == LLV_OK && llv_text_state_n_past(ts) == 2) j->n_ok++;
        free(lg);
        llv_text_state_free(ts);
    }
    return NULL;
}

static void test_invalid(const llv_model *m, bool vision) {
    req reqs[2] = {g_reqs[0], g_reqs[3]};
    if (!vision) reqs[1].image = 0;
    outcome solo[2], got[2];
    for (int i = 0; i < 2; i++) run_req(m, NULL, &reqs[i], &solo[i]);
    llv_engine *e = make_engine(m, 1000);
    if (!e) return;
    pthread_barrier_t bar;
    pthread_barrier_init(&bar, NULL, 3);
    pthread_t th[3];
    job jobs[2];
    bad_job bj = {m, e, &bar, 0};
    for (int i = 0; i < 2; i++) {
        jobs[i] = (job){m, e, &reqs[i], &got[i], &bar};
        pthread_create(&th[i], NULL, job_main, &jobs[i]);
    }
    pthread_create(&th[2], NULL, bad_main, &bj);
    for (int i = 0; i < 3; i++) pthread_join(th[i], NULL);
    pthread_barrier_destroy(&bar);
    CHECK_EQ_I(bj.n_ok, 4);
    check_same("beside invalid requests, session 0", &got[0], &solo[0]);
    check_same("beside invalid requests, session 1", &got[1], &solo[1]);
    for (int i = 0; i < 2; i++) outcome_free(&got[i]), outcome_free(&solo[i]);
    llv_engine_free(e);
}

/* Sessions with different adapters (and the base) on one engine; two of them
 * share an image encoded under another adapter. */
static void test_lora(const char *gguf, bool vision) {
    llv_error err = {0};
    char *peft = llv_test_path(g_dir, "peft"), *ad1 = llv_test_path(g_dir, "a1.gguf"),
         *ad2 = llv_test_path(g_dir, "a2.gguf");
    llv_convert_params cp = llv_convert_default_params();
    cp.type = LLV_TYPE_F32;
    llv_model *m = NULL;
    bool ok = llv_synth_lora(peft, "tiny", 4, 3, &err) == LLV_OK && llv_convert_lora(peft, NULL, ad1, &cp, &err) == LLV_OK &&
              llv_synth_lora(peft, "tiny", 8, 9, &err) == LLV_OK && llv_convert_lora(peft, NULL, ad2, &cp, &err) == LLV_OK &&
              llv_model_load(gguf, NULL, &m, &err) == LLV_OK && llv_model_lora_add(m, "one", ad1, 1.0f, &err) == LLV_OK &&
              llv_model_lora_add(m, "two", ad2, 0.8f, &err) == LLV_OK;
    CHECK_MSG(ok, "LoRA fixture: %s", err.message);
    if (ok) {
        req reqs[4] = {g_reqs[0], g_reqs[1], g_reqs[2], g_reqs[1]};
        reqs[0].lora = "one";
        reqs[1].lora = "two";
        reqs[2].lora = NULL;
        reqs[3].lora = "one";
        reqs[3].text = "Where is the square?";
        for (int i = 0; i < 4; i++)
            if (!vision) reqs[i].image = 0;
        outcome solo[4], got[4];
        for (int i = 0; i < 4; i++) run_req(m, NULL, &reqs[i], &solo[i]);
        /* the adapters change the answer, so equal results are not trivial */
        CHECK_MSG(solo[0].st == LLV_OK && memcmp(solo[0].logits, solo[2].logits, sizeof(float)) != 0,
                  "adapter changes logits");
        llv_engine *e = make_engine(m, 2000000);
        if (e) {
            run_concurrent(m, e, reqs, 4, got);
            for (int i = 0; i < 4; i++) {
                char what[64];
                snprintf(what, sizeof what, "LoRA session %d (%s)", i, reqs[i].lora ? reqs[i].lora : "base");
                check_same(what, &got[i], &solo[i]);
                outcome_free(&got[i]);
            }
            llv_engine_stats es;
            llv_engine_get_stats(e, &es);
            if (vision) CHECK_EQ_I(es.encoder_runs, 1);
            llv_engine_free(e);
        }
        for (int i = 0; i < 4; i++) outcome_free(&solo[i]);
    }
    llv_model_free(m);
    remove(ad1);
    remove(ad2);
    free(peft), free(ad1), free(ad2);
}

static void count_yield(const char *what, void *user) {
    (void)what;
    ++*(int *)user;
}

/* The cross K/V of 2500 rows (three blocks of rows, with a yield after each)
 * equals each row's K/V computed alone. */
static void test_cross_kv_blocks(const llv_model *m) {
    const llv_hparams *hp = &m->hp;
    const int32_t n_tok = 2500, E = hp->n_embd, H = hp->n_head_kv, hd = hp->head_dim;
    float *cs = malloc((size_t)n_tok * E * sizeof *cs);
    CHECK_MSG(cs != NULL, "out of memory");
    if (!cs) return;
    for (size_t i = 0; i < (size_t)n_tok * E; i++) cs[i] = (float)((i * 2654435761u) % 1000) / 500.0f - 1.0f;
    llv_error err = {0};
    llv_cross_kv *all = NULL;
    int yields = 0;
    CHECK_OK(llv_cross_kv_compute(m, NULL, NULL,
                                  &(llv_cross_kv_input){.states = cs, .n_tok = n_tok, .n_tiles = 1,
                                                        .tile_tokens = n_tok, .yield = count_yield,
                                                        .yield_user = &yields},
                                  LLV_KV_F32, &all, &err),
             &err);
    CHECK_MSG(yields == 2 * hp->n_cross * 3, "%d yields for %d layers of 3 blocks", yields, hp->n_cross);
    const int32_t rows[] = {0, 1023, 1024, 2047, 2048, 2499};
    for (size_t i = 0; all && i < sizeof rows / sizeof *rows; i++) {
        const int32_t t = rows[i];
        llv_cross_kv *one = NULL;
        CHECK_OK(llv_cross_kv_compute(m, NULL, NULL,
                                      &(llv_cross_kv_input){.states = cs + (size_t)t * E, .n_tok = 1, .n_tiles = 1,
                                                            .tile_tokens = 1},
                                      LLV_KV_F32, &one, &err),
                 &err);
        /* a row's kernel may sum in another order than a block's: equal within rounding */
        double worst = 0;
        for (int32_t c = 0; one && c < hp->n_cross; c++)
            for (int32_t g = 0; g < H; g++)
                for (int32_t d = 0; d < hd; d++) {
                    const size_t off = ((size_t)g * n_tok + t) * hd + d, o1 = (size_t)g * hd + d;
                    const float *ka = (const float *)(const void *)all->k[c], *k1 = (const float *)(const void *)one->k[c];
                    const float *va = (const float *)(const void *)all->v[c], *v1 = (const float *)(const void *)one->v[c];
                    worst = fmax(worst, fabs(ka[off] - k1[o1]) / (1 + fabs(k1[o1])));
                    worst = fmax(worst, fabs(va[off] - v1[o1]) / (1 + fabs(v1[o1])));
                }
        CHECK_MSG(one && worst < 1e-4, "cross K/V row %d differs from the row alone by %g", t, worst);
        llv_cross_kv_free(one);
    }
    llv_cross_kv_free(all);
    free(cs);
}

/* llv_text_forward_multi over states of different KV types, lengths and
 * images (one batch with, one without, one with logits_all) == each alone. */
static void test_text_multi(const llv_model *m, bool vision) {
    const llv_hparams *hp = &m->hp;
    const int32_t V = hp->n_vocab;
    llv_error err = {0};
    llv_text_state *a[3] = {0}, *b[3] = {0};
    llv_text_work *w = NULL;
    llv_threadpool *pool = NULL;
    llv_cross_kv *img = NULL;
    const llv_kv_type kt[3] = {LLV_KV_F32, LLV_KV_F16, LLV_KV_F32};
    const int32_t nctx[3] = {64, 40, 50};
    bool ok = llv_threadpool_create(2, &pool, &err) == LLV_OK && llv_text_work_create(m, 32, &w, &err) == LLV_OK;
    for (int i = 0; ok && i < 3; i++)
        ok = llv_text_state_create(m, nctx[i], 7, kt[i], &a[i], &err) == LLV_OK &&
             llv_text_state_create(m, nctx[i], 7, kt[i], &b[i], &err) == LLV_OK;
    if (ok && vision && hp->n_cross > 0) {
        int32_t n_tok = 8;
        float *cs = malloc((size_t)n_tok * hp->n_embd * sizeof *cs);
        for (size_t i = 0; cs && i < (size_t)n_tok * hp->n_embd; i++) cs[i] = (float)((i * 2654435761u) % 1000) / 500.0f - 1.0f;
        int yields = 0;
        ok = cs && llv_cross_kv_compute(m, pool, NULL,
                                        &(llv_cross_kv_input){.states = cs, .n_tok = n_tok, .n_tiles = 1,
                                                              .tile_tokens = 4, .yield = count_yield,
                                                              .yield_user = &yields},
                                        LLV_KV_F32, &img, &err) == LLV_OK;
        /* a server's other streams may run between the K and the V of every layer */
        CHECK_MSG(!ok || yields == 2 * hp->n_cross, "cross K/V yielded %d times for %d layers", yields, hp->n_cross);
        free(cs);
    }
    CHECK_MSG(ok, "text multi fixture: %s", err.message);
    if (ok) {
        int32_t toks[3][12];
        uint64_t masks[12];
        for (int i = 0; i < 3; i++)
            for (int r = 0; r < 12; r++) toks[i][r] = (int32_t)((r * 7 + i * 13 + 5) % V);
        for (int r = 0; r < 12; r++) masks[r] = r < 3 ? 0 : 1;
        const llv_cross_kv *imgs[1] = {img};
        float *la = calloc((size_t)V * 12 * 3, sizeof(float)), *lb = calloc((size_t)V * 12 * 3, sizeof(float));
        /* three steps: prompts of 5/3/9 rows, then one row each, then 2/1/1 */
        const int32_t rows[3][3] = {{5, 3, 9}, {1, 1, 1}, {2, 1, 1}};
        int32_t done[3] = {0, 0, 0};
        for (int step = 0; step < 3 && la && lb; step++) {
            llv_text_batch bb[3];
            for (int i = 0; i < 3; i++) {
                memset(&bb[i], 0, sizeof bb[i]);
                bb[i].tokens = toks[i] + done[i];
                bb[i].n = rows[step][i];
                if (i == 1 && img) {
                    bb[i].images = imgs;
                    bb[i].n_images = 1;
                    bb[i].row_images = masks + done[i];
                }
                bb[i].logits_all = i == 2;
                bb[i].logits = (i == 2 ? la + (size_t)V * 12 * 2 + (size_t)done[i] * V : la + (size_t)V * 12 * i);
            }
            for (int i = 0; i < 3; i++) { /* alone */
                llv_text_batch one = bb[i];
                one.logits = (i == 2 ? lb + (size_t)V * 12 * 2 + (size_t)done[i] * V : lb + (size_t)V * 12 * i);
                CHECK_OK(llv_text_forward(m, b[i], pool, &one, &err), &err);
            }
            CHECK_OK(llv_text_forward_multi(m, pool, a, bb, 3, w, &err), &err);
            for (int i = 0; i < 3; i++) done[i] += rows[step][i];
            CHECK(!memcmp(la, lb, (size_t)V * 12 * 3 * sizeof(float)));
        }
        for (int i = 0; i < 3; i++) CHECK_EQ_I(llv_text_state_n_past(a[i]), done[i]);
        /* rejected: a shared state, too many rows, hidden with several batches; nothing runs */
        llv_text_batch bb[2];
        memset(bb, 0, sizeof bb);
        bb[0].tokens = bb[1].tokens = toks[0];
        bb[0].n = bb[1].n = 1;
        llv_text_state *same[2] = {a[0], a[0]};
        CHECK_STATUS(llv_text_forward_multi(m, pool, same, bb, 2, w, &err), LLV_ERR_INVALID_ARGUMENT, &err);
        bb[0].n = 12, bb[1].n = 30;
        CHECK_STATUS(llv_text_forward_multi(m, pool, a, bb, 2, w, &err), LLV_ERR_LIMIT, &err);
        bb[0].n = bb[1].n = 1;
        float hid[1];
        bb[1].hidden = hid;
        CHECK_STATUS(llv_text_forward_multi(m, pool, a, bb, 2, w, &err), LLV_ERR_UNSUPPORTED, &err);
        bb[1].hidden = NULL;
        toks[2][0] = V + 1000;
        bb[1].tokens = toks[2];
        CHECK_STATUS(llv_text_forward_multi(m, pool, a, bb, 2, w, &err), LLV_ERR_INVALID_ARGUMENT, &err);
        CHECK_MSG(strstr(err.message, "batch 1 of 2") != NULL, "error names the batch: %s", err.message);
        for (int i = 0; i < 3; i++) CHECK_EQ_I(llv_text_state_n_past(a[i]), done[i]);
        free(la);
        free(lb);
    }
    llv_cross_kv_free(img);
    for (int i = 0; i < 3; i++) llv_text_state_free(a[i]), llv_text_state_free(b[i]);
    llv_text_work_free(w);
    llv_threadpool_free(pool);
}

/* ------------------------------------------------------------------------- */
/* No stalls: an image encode lets the decoding sessions' passes run         */
/* ------------------------------------------------------------------------- */

typedef struct stall_rec {
    atomic_int tokens;     /* A's pieces so far */
    atomic_bool b_started; /* B is about to encode */
    llv_engine *e;
    uint64_t   pass_first, pass_last; /* the engine's passes at B's first/last "image" progress */
    uint64_t   pass_prev;  /* ... and at the one before the last (after the last encoder layer) */
    int        images;     /* B's "image" progress calls */
} stall_rec;

static bool count_piece(const char *piece, size_t n, int32_t token, void *user) {
    stall_rec *r = user;
    atomic_fetch_add(&r->tokens, 1);
    while (!atomic_load(&r->b_started)) usleep(100); /* A goes on decoding once B's encode begins */
    return true;
}

static bool image_progress(const char *what, float f, void *user) {
    stall_rec *r = user;
    if (strcmp(what, "image") != 0) return true;
    llv_engine_stats st;
    llv_engine_get_stats(r->e, &st);
    if (r->images++ == 0) r->pass_first = st.forwards;
    r->pass_prev = r->pass_last;
    r->pass_last = st.forwards;
    usleep(3000); /* an encoder layer as slow as a large model's, against slice_ms = 1 */
    return true;
}

/* llv_engine_set_trace: what held the compute lock */
typedef struct hold_rec {
    llv_engine_trace_hold h[4096];
    int                   n;
} hold_rec;

static void record_hold(const llv_engine_trace_hold *h, void *user) {
    hold_rec *r = user;
    if (r->n < 4096) r->h[r->n++] = *h;
}

typedef struct gen_job {
    llv_session *s;
    stall_rec   *rec;
    uint64_t     seed;
    llv_status   st;
    char        *text;
} gen_job;

static llv_sampling_params long_answer(uint64_t seed) {
    llv_sampling_params p = llv_sampling_default_params();
    p.max_tokens = 120;
    p.temperature = 3.0f;
    p.seed = seed;
    return p;
}

/* A seed with which the tiny random model answers A's prompt with all 120
 * tokens (no early end token), so A is still decoding while B encodes. */
static uint64_t long_seed(const llv_model *m, const char *prompt) {
    for (uint64_t seed = 1; seed < 200; seed++) {
        llv_session *s = NULL;
        llv_error err = {0};
        llv_session_params sp = llv_session_default_params();
        sp.n_ctx = 256;
        if (llv_session_create(m, &sp, &s, &err) != LLV_OK) return 0;
        llv_sampling_params p = long_answer(seed);
        llv_result r;
        bool ok = llv_session_add_text(s, prompt, &err) == LLV_OK &&
                  llv_session_generate(s, &p, NULL, NULL, &r, &err) == LLV_OK;
        bool full = ok && r.stop_reason == LLV_STOP_LENGTH;
        if (ok) llv_result_free(&r);
        llv_session_free(s);
        if (full) return seed;
    }
    return 0;
}

static void *gen_main(void *arg) {
    gen_job *j = arg;
    llv_sampling_params p = long_answer(j->seed);
    llv_result res;
    llv_error err = {0};
    j->st = llv_session_generate(j->s, &p, count_piece, j->rec, &res, &err);
    if (j->st == LLV_OK) {
        j->text = res.text;
        res.text = NULL;
        llv_result_free(&res);
    }
    return NULL;
}

static void test_no_stalls(const llv_model *m) {
    llv_engine_params ep = llv_engine_default_params();
    ep.n_threads = 2;
    ep.gather_us = 200000; /* generating sessions get up to 200 ms to submit: deterministic */
    ep.slice_ms = 1;
    llv_engine *e = NULL;
    llv_error err0 = {0};
    CHECK_OK(llv_engine_create(m, &ep, &e, &err0), &err0);
    if (!e) return;
    const char *prompt = "Tell me a long story about a fox.";
    const uint64_t seed = long_seed(m, prompt);
    CHECK_MSG(seed > 0, "no seed gives a long answer");
    stall_rec rec = {.e = e};
    static hold_rec holds;
    holds.n = 0;
    llv_engine_set_trace(e, record_hold, &holds);
    llv_error err = {0};
    llv_session_params sp = llv_session_default_params();
    sp.n_ctx = 256;
    sp.engine = e;
    llv_session *a = NULL, *b = NULL;
    CHECK_OK(llv_session_create(m, &sp, &a, &err), &err);
    sp.progress = image_progress;
    sp.progress_user = &rec;
    CHECK_OK(llv_session_create(m, &sp, &b, &err), &err);
    if (!a || !b) goto done;
    CHECK_OK(llv_session_add_text(a, prompt, &err), &err);
    gen_job j = {a, &rec, seed, LLV_OK, NULL};
    pthread_t th;
    pthread_create(&th, NULL, gen_main, &j);
    while (atomic_load(&rec.tokens) < 1) usleep(1000); /* A is decoding (and waits in its callback) */
    size_t n = 0;
    uint8_t *img = llv_test_ppm(40, 30, 9, &n);
    CHECK_OK(llv_session_add_image(b, img, n, &err), &err);
    CHECK_OK(llv_session_add_text(b, "What is in this image?", &err), &err);
    const float *lg = NULL;
    atomic_store(&rec.b_started, true);
    CHECK_OK(llv_session_eval(b, &lg, &err), &err);
    pthread_join(th, NULL);
    int during = (int)(rec.pass_last - rec.pass_first);
    printf("no-stalls: %d encoder steps, %d of session A's decode passes ran during the encode\n", rec.images,
           during);
    /* after each slow step, the next piece of the encode lets one pass run */
    CHECK_MSG(rec.images >= 3 && during >= rec.images - 2,
              "%d passes of A ran during B's %d encoder steps: the encode stalled it", during, rec.images);
    /* the last step (the projector, after the last layer's 3 ms) lets a pass in too */
    CHECK_MSG(rec.pass_last > rec.pass_prev, "no pass of A ran during the projector");
    /* the trace: the holds of the lock never overlap, the encode's pieces
     * alternate with passes of A's decode step, the last piece is the encode's end */
    int pieces = 0, decode_passes = 0, last_piece = -1;
    for (int i = 0; i < holds.n; i++) {
        const llv_engine_trace_hold *h = &holds.h[i];
        CHECK_MSG(h->t1 >= h->t0 && (i == 0 || h->t0 >= holds.h[i - 1].t1 - 1e-6),
                  "hold %d (%s) overlaps the one before it", i, h->what);
        if (strcmp(h->what, "pass") == 0) {
            decode_passes += h->gen_requests == 1;
            CHECK_MSG(h->rows >= h->requests && h->requests >= 1, "pass %d: %d rows, %d requests", i, h->rows,
                      h->requests);
        } else {
            pieces++;
            last_piece = i;
        }
    }
    printf("no-stalls: trace of %d holds: %d encode pieces, %d passes with A's decode step\n", holds.n, pieces,
           decode_passes);
    CHECK_MSG(pieces >= rec.images - 1 && decode_passes >= pieces - 1, "%d encode pieces, %d decode passes", pieces,
              decode_passes);
    CHECK_MSG(last_piece >= 0 && strcmp(holds.h[last_piece].what, "encode end") == 0, "the encode's last piece is %s",
              last_piece >= 0 ? holds.h[last_piece].what : "missing");
    CHECK_OK(j.st, &err);
    free(j.text);
    free(img);
done:
    llv_session_free(a);
    llv_session_free(b);
    llv_engine_free(e);
}

/* The prompt-chunk rule with the pass times of a tiny model and of the 11B
 * shapes on 2 cores. */
static void test_chunk_rule(void) {
    CHECK_EQ_I(llv_chunk_rows_fit(512, 0.25, 0.002, 0.0005, 1), 495); /* fits the slice */
    CHECK_EQ_I(llv_chunk_rows_fit(8, 0.25, 0.002, 0.0005, 1), 8);
    CHECK_EQ_I(llv_chunk_rows_fit(512, 0.25, 0, 0, 1), 1);            /* not measured yet */
    CHECK_EQ_I(llv_chunk_rows_fit(512, 0.25, 0.5, 0.0625, 1), 4);     /* 1.5 x the decode pass: 0.28 s more */
    CHECK_EQ_I(llv_chunk_rows_fit(512, 0.25, 0.5, 0.0625, 3), 5);     /* three decoders: their pass 0.6875 s */
    /* 11B on 2 AVX2 cores: a decode pass 0.44 s, each further row 0.33 s */
    CHECK_EQ_I(llv_chunk_rows_fit(512, 0.25, 0.11, 0.33, 1), 1);
    CHECK_EQ_I(llv_chunk_rows_fit(512, 0.25, 0.6, 0.9, 1), 1);        /* never fewer than one */
    CHECK_EQ_I(llv_chunk_rows_fit(3, 0.25, 0.002, 0.0005, 1), 3);
    /* the fit: passes of one size say nothing of a row's cost; two sizes do */
    llv_pass_fit f = {0};
    double c0 = 0, c1 = 0;
    for (int i = 0; i < 5; i++) llv_pass_fit_add(&f, 1, 0.44);
    CHECK(!llv_pass_fit_get(&f, &c0, &c1));
    llv_pass_fit_add(&f, 2, 0.77);
    CHECK(llv_pass_fit_get(&f, &c0, &c1));
    CHECK_MSG(fabs(c1 - 0.33) < 1e-9 && fabs(c0 - 0.11) < 1e-9, "c0 %g c1 %g", c0, c1);
    /* and follow the machine: after many passes at a new speed the old ones weigh little */
    for (int i = 0; i < 60; i++) llv_pass_fit_add(&f, 1 + i % 3, 0.2 + 0.1 * (1 + i % 3));
    CHECK(llv_pass_fit_get(&f, &c0, &c1));
    CHECK_MSG(fabs(c1 - 0.1) < 0.01 && fabs(c0 - 0.2) < 0.02, "c0 %g c1 %g", c0, c1);
    /* a long prompt's pass (rows cheaper there) does not move it */
    const double c1_small = c1;
    llv_pass_fit_add(&f, 512, 0.2 + 0.04 * 512);
    CHECK(llv_pass_fit_get(&f, &c0, &c1) && c1 == c1_small);
    /* rows that cost nothing measurable are free: the whole chunk fits */
    llv_pass_fit g = {0};
    llv_pass_fit_add(&g, 1, 0.002);
    llv_pass_fit_add(&g, 4, 0.0019);
    CHECK(llv_pass_fit_get(&g, &c0, &c1) && c1 > 0 && c1 < 1e-9);
    CHECK_EQ_I(llv_chunk_rows_fit(512, 0.25, c0, c1, 1), 512);
}

static void test_params(const llv_model *m, const char *gguf) {
    llv_error err = {0};
    llv_engine *e = NULL;
    llv_engine_params ep = llv_engine_default_params();
    CHECK_EQ_I(ep.max_rows, 512);
    CHECK_EQ_I(ep.image_cache_entries, 4);
    CHECK_EQ_I(ep.gather_us, 1000);
    CHECK_EQ_I(ep.slice_ms, 250);
    ep.slice_ms = 60001;
    CHECK_STATUS(llv_engine_create(m, &ep, &e, &err), LLV_ERR_INVALID_ARGUMENT, &err);
    CHECK(strstr(err.message, "slice_ms") != NULL);
    ep = llv_engine_default_params();
    ep.gather_us = -1;
    CHECK_STATUS(llv_engine_create(m, &ep, &e, &err), LLV_ERR_INVALID_ARGUMENT, &err);
    CHECK(strstr(err.message, "gather_us") != NULL);
    ep = llv_engine_default_params();
    ep.max_rows = -3;
    CHECK_STATUS(llv_engine_create(m, &ep, &e, &err), LLV_ERR_INVALID_ARGUMENT, &err);
    CHECK_STATUS(llv_engine_create(NULL, NULL, &e, &err), LLV_ERR_INVALID_ARGUMENT, &err);
    CHECK(e == NULL);
    llv_engine_free(NULL);
    llv_engine_get_stats(NULL, NULL);
    /* an engine of another model is refused */
    llv_model *m2 = NULL;
    CHECK_OK(llv_model_load(gguf, NULL, &m2, &err), &err);
    CHECK_OK(llv_engine_create(m2, NULL, &e, &err), &err);
    llv_session_params sp = llv_session_default_params();
    sp.n_ctx = 256;
    sp.engine = e;
    llv_session *s = NULL;
    CHECK_STATUS(llv_session_create(m, &sp, &s, &err), LLV_ERR_INVALID_ARGUMENT, &err);
    CHECK(s == NULL);
    /* freeing an engine with an attached session does nothing: the session still works */
    CHECK_OK(llv_session_create(m2, &sp, &s, &err), &err);
    llv_engine_free(e);
    llv_sampling_params p = llv_sampling_default_params();
    p.max_tokens = 3;
    p.temperature = 0;
    CHECK_OK(llv_session_add_text(s, "hi", &err), &err);
    CHECK_OK(llv_session_generate(s, &p, NULL, NULL, NULL, &err), &err);
    llv_session_free(s);
    llv_engine_free(e);
    llv_model_free(m2);
}

int main(int argc, char **argv) {
    llv_test_init(argc, argv);
    g_dir = llv_test_tmpdir();
    char *gguf = llv_test_path(g_dir, "tiny.gguf");
    llv_error err = {0};
    llv_synth_params sp = llv_synth_default_params();
    sp.preset = "tiny";
    llv_model *m = NULL;
    CHECK_OK(llv_synth(gguf, &sp, &err), &err);
    CHECK_OK(llv_model_load(gguf, NULL, &m, &err), &err);
    if (m) {
        llv_model_info info;
        llv_model_get_info(m, &info);
        bool vision = info.has_vision;
        printf("model: tiny, vision %d, %d cross layers\n", vision, info.n_cross_layers);
        if (llv_test_case("text-multi")) test_text_multi(m, vision);
        if (vision && llv_test_case("cross-kv-blocks")) test_cross_kv_blocks(m);
        if (llv_test_case("merged")) test_merged(m, vision);
        if (vision && llv_test_case("shared-cache")) test_shared_cache(m);
        if (llv_test_case("invalid")) test_invalid(m, vision);
        if (vision && llv_test_case("no-stalls")) test_no_stalls(m);
        if (llv_test_case("params")) test_params(m, gguf);
        if (llv_test_case("chunk-rule")) test_chunk_rule();
        if (llv_test_case("lora")) test_lora(gguf, vision);
        llv_model_free(m);
    }
    remove(gguf);
    char *peft = llv_test_path(g_dir, "peft");
    char cmd[1200];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", peft);
    if (system(cmd) != 0) printf("could not remove %s\n", peft);
    free(peft);
    rmdir(g_dir);
    free(gguf);
    free(g_dir);
    return llv_test_finish();
}
