/* Text decoder: golden cases (tiny-a, tiny-c) through the golden checker,
 * llama-export equivalence, prefill/decode and thread-count invariance,
 * F16 KV cache and F16/BF16 weights, limits and bad input. The model is
 * built from the HF golden directory by tests/helpers/hf-model.c. */
#include "testing.h"

#include "golden/golden-text.c" /* the checker itself (reporting: tests/helpers/golden-report.c) */
#include "helpers/hf-model.h"
#include "text.h"

static const char *g_shared;

static char *model_dir(const char *config) {
    char rel[128];
    snprintf(rel, sizeof rel, "golden/models/%s", config);
    return llv_test_path(g_shared, rel);
}

/* Reads a case's input ids / per-row image bits / per-image cross K/V. */
typedef struct tcase {
    int32_t       T, M;
    int32_t      *tokens;
    uint64_t     *rows;
    llv_cross_kv *kv[64];
} tcase;

/* cross K/V stored as kvt */
static bool load_case_kv(const llv_model *m, const char *config, const char *name, llv_kv_type kvt, tcase *c) {
    memset(c, 0, sizeof *c);
    char rel[256];
    snprintf(rel, sizeof rel, "golden/models/%s/cases/%s.safetensors", config, name);
    char *path = llv_test_path(g_shared, rel);
    llv_st *st = NULL;
    llv_error err;
    bool ok = llv_st_open(path, &st, &err) == LLV_OK;
    free(path);
    CHECK_MSG(ok, "open case %s/%s: %s", config, name, err.message);
    if (!ok) return false;
    int64_t T = 0, nm = 0, nt = 0, ncs = 0;
    int64_t *ids = golden_read_i64(st, "input_ids", &T);
    int64_t *mask = golden_read_i64(st, "cross_attention_mask", &nm);
    int64_t *tiles = golden_read_i64(st, "num_tiles", &nt);
    float *cs = golden_read_f32(st, "cross_attention_states", &ncs);
    c->T = (int32_t)T;
    c->tokens = malloc(sizeof(int32_t) * (size_t)T);
    c->rows = calloc((size_t)T, sizeof(uint64_t));
    for (int64_t i = 0; i < T; i++) c->tokens[i] = (int32_t)ids[i];
    if (mask && tiles && cs) {
        const llv_st_tensor *t = llv_st_find(st, "cross_attention_states");
        int64_t P = t->shape[1];
        c->M = (int32_t)nt;
        for (int32_t i = 0; i < c->M; i++)
            CHECK_OK(llv_cross_kv_compute(m, NULL, NULL,
                                          &(llv_cross_kv_input){.states = cs + (size_t)i * 4 * P * m->hp.n_embd, .n_tok = (int32_t)(4 * P), .n_tiles = (int32_t)tiles[i], .tile_tokens = (int32_t)P},
                                          kvt, &c->kv[i], &err),
                     &err);
        golden_mask_rows(mask, T, c->M, 4, c->rows);
    }
    free(ids);
    free(mask);
    free(tiles);
    free(cs);
    llv_st_close(st);
    return true;
}

static bool load_case(const llv_model *m, const char *config, const char *name, tcase *c) {
    return load_case_kv(m, config, name, LLV_KV_F32, c);
}

static void free_case(tcase *c) {
    free(c->tokens);
    free(c->rows);
    for (int i = 0; i < 64; i++) llv_cross_kv_free(c->kv[i]);
}

/* Full-prompt logits (all rows) */
static bool run_all(const llv_model *m, llv_threadpool *pool, const tcase *c, llv_kv_type kvt, int32_t n_batch,
                    float *logits) {
    llv_text_state *st = NULL;
    llv_error err;
    CHECK_OK(llv_text_state_create(m, c->T + 4, n_batch, kvt, &st, &err), &err);
    if (!st) return false;
    llv_text_batch b = {.tokens = c->tokens, .n = c->T, .images = (const llv_cross_kv *const *)c->kv,
                        .n_images = c->M, .row_images = c->rows, .logits = logits, .logits_all = true};
    llv_status s = llv_text_forward(m, st, pool, &b, &err);
    CHECK_OK(s, &err);
    llv_text_state_free(st);
    return s == LLV_OK;
}

static void test_golden(void) {
    char *root = llv_test_path(g_shared, "golden");
    cJSON *man = golden_manifest(root);
    CHECK(man != NULL);
    if (!man) {
        free(root);
        return;
    }
    golden_ctx ctx = {.root = root};
    llv_model *models[2] = {0};
    const char *names[2] = {"tiny-a", "tiny-c"};
    const cJSON *e;
    cJSON_ArrayForEach(e, man) {
        const cJSON *kind = cJSON_GetObjectItemCaseSensitive(e, "kind");
        if (cJSON_IsString(kind) && !strcmp(kind->valuestring, "rope")) {
            CHECK_EQ_I(golden_check_rope(&ctx, e), 0);
        } else if (cJSON_IsString(kind) && !strcmp(kind->valuestring, "model_case")) {
            const char *cfg = cJSON_GetObjectItemCaseSensitive(e, "config")->valuestring;
            int mi = !strcmp(cfg, "tiny-a") ? 0 : !strcmp(cfg, "tiny-c") ? 1 : -1;
            if (mi >= 0 && llv_test_case(cJSON_GetObjectItemCaseSensitive(e, "case")->valuestring)) {
                if (!models[mi]) {
                    llv_error err;
                    char *dir = model_dir(names[mi]);
                    CHECK_OK(hf_model_load(dir, &models[mi], &err), &err);
                    free(dir);
                }
                if (models[mi]) {
                    int f = golden_check_text_case(&ctx, e, models[mi]);
                    CHECK_MSG(f == 0, "golden %s/%s: %d failed quantities", cfg,
                              cJSON_GetObjectItemCaseSensitive(e, "case")->valuestring, f);
                }
            }
        }
    }
    printf("golden text: %d passed, %d failed, %d skipped\n", ctx.n_pass, ctx.n_fail, ctx.n_skip);
    CHECK(ctx.n_pass > 0);
    hf_model_free(models[0]);
    hf_model_free(models[1]);
    free(root);
    cJSON_Delete(man);
}

static void test_llama_equivalence(const llv_model *m) {
    llv_model *lm = NULL;
    llv_error err;
    CHECK_OK(hf_model_make_llama(m, &lm, &err), &err);
    if (!lm) return;
    CHECK_EQ_I(lm->hp.n_layer, m->hp.n_layer - m->hp.n_cross);
    tcase c;
    if (load_case(m, "tiny-a", "text_only", &c)) {
        size_t n = (size_t)c.T * m->hp.n_vocab;
        float *a = malloc(n * 4), *b = malloc(n * 4);
        if (run_all(m, NULL, &c, LLV_KV_F32, 64, a) && run_all(lm, NULL, &c, LLV_KV_F32, 64, b))
            CHECK_MSG(memcmp(a, b, n * 4) == 0, "llama export gives the mllama text-only logits bitwise");
        /* a llama model refuses images */
        llv_text_state *st = NULL;
        CHECK_OK(llv_text_state_create(lm, 16, 8, LLV_KV_F32, &st, &err), &err);
        uint64_t row = 1;
        const llv_cross_kv *fake = NULL;
        llv_text_batch bb = {.tokens = c.tokens, .n = 1, .images = &fake, .n_images = 1, .row_images = &row};
        CHECK_STATUS(llv_text_forward(lm, st, NULL, &bb, &err), LLV_ERR_INVALID_ARGUMENT, &err);
        llv_text_state_free(st);
        free(a);
        free(b);
        free_case(&c);
    }
    hf_model_free(lm);
}

/* prefill of T-k rows then k single-token decodes == one prefill; 1 vs 2 threads */
static void test_decode_and_threads(const llv_model *m, const char *config, const char *name, llv_kv_type kvt) {
    tcase c;
    if (!load_case(m, config, name, &c)) return;
    const int32_t V = m->hp.n_vocab, T = c.T, k = 3;
    float *full = malloc(sizeof(float) * (size_t)T * V), *full2 = malloc(sizeof(float) * (size_t)T * V),
          *step = malloc(sizeof(float) * (size_t)V);
    llv_threadpool *pool = NULL;
    llv_error err;
    CHECK_OK(llv_threadpool_create(2, &pool, &err), &err);
    bool ok = run_all(m, NULL, &c, kvt, 512, full) && run_all(m, pool, &c, kvt, 5, full2);
    if (ok)
        CHECK_MSG(memcmp(full, full2, sizeof(float) * (size_t)T * V) == 0,
                  "%s/%s kv%d: 1 thread one batch == 2 threads batches of 5 (bitwise)", config, name, (int)kvt);
    llv_text_state *st = NULL;
    CHECK_OK(llv_text_state_create(m, T, 512, kvt, &st, &err), &err);
    if (st && ok) {
        llv_text_batch b = {.tokens = c.tokens, .n = T - k, .images = (const llv_cross_kv *const *)c.kv,
                            .n_images = c.M, .row_images = c.rows, .logits = step};
        CHECK_OK(llv_text_forward(m, st, NULL, &b, &err), &err);
        CHECK(memcmp(step, full + (size_t)(T - k - 1) * V, sizeof(float) * V) == 0);
        int bad = 0;
        for (int32_t i = T - k; i < T; i++) {
            llv_text_batch d = {.tokens = c.tokens + i, .n = 1, .images = (const llv_cross_kv *const *)c.kv,
                                .n_images = c.M, .row_images = c.rows + i, .logits = step};
            CHECK_OK(llv_text_forward(m, st, pool, &d, &err), &err);
            bad += memcmp(step, full + (size_t)i * V, sizeof(float) * V) != 0;
        }
        CHECK_MSG(bad == 0, "%s/%s kv%d: prefill + decode == full prefill (bitwise), %d rows differ", config, name,
                  (int)kvt, bad);
        CHECK_EQ_I(llv_text_state_n_past(st), T);
        /* the context is full now */
        llv_text_batch d = {.tokens = c.tokens, .n = 1, .images = (const llv_cross_kv *const *)c.kv,
                            .n_images = c.M, .row_images = c.rows, .logits = step};
        CHECK_STATUS(llv_text_forward(m, st, NULL, &d, &err), LLV_ERR_LIMIT, &err);
        /* truncate and redo the last row */
        llv_text_state_truncate(st, T - 1);
        d.tokens = c.tokens + T - 1;
        d.row_images = c.rows + T - 1;
        CHECK_OK(llv_text_forward(m, st, NULL, &d, &err), &err);
        CHECK(memcmp(step, full + (size_t)(T - 1) * V, sizeof(float) * V) == 0);
    }
    llv_text_state_free(st);
    llv_threadpool_free(pool);
    free(full);
    free(full2);
    free(step);
    free_case(&c);
}

static void test_kv_f16_and_weight_types(const llv_model *m) {
    tcase c;
    if (!load_case(m, "tiny-a", "two_images", &c)) return;
    size_t n = (size_t)c.T * m->hp.n_vocab;
    float *ref = malloc(n * 4), *got = malloc(n * 4);
    if (run_all(m, NULL, &c, LLV_KV_F32, 64, ref) && run_all(m, NULL, &c, LLV_KV_F16, 64, got))
        llv_check_close_f32("two_images logits, F16 KV vs F32 KV", got, ref, (int64_t)n, 2e-2, 1e-2);
    /* cross K/V in F16 too (what a session with the default F16 KV cache stores): half the bytes, close logits */
    tcase c16;
    if (load_case_kv(m, "tiny-a", "two_images", LLV_KV_F16, &c16)) {
        CHECK(c16.M == c.M && c.M > 0);
        for (int32_t i = 0; i < c.M && i < c16.M; i++) {
            CHECK(c16.kv[i]->type == LLV_KV_F16 && c.kv[i]->type == LLV_KV_F32);
            CHECK(2 * llv_cross_kv_bytes(c16.kv[i]) == llv_cross_kv_bytes(c.kv[i]));
        }
        float *g16 = malloc(n * 4);
        if (g16 && run_all(m, NULL, &c16, LLV_KV_F16, 64, g16)) {
            llv_check_close_f32("two_images logits, F16 KV and cross K/V vs F32", g16, ref, (int64_t)n, 2e-2, 1e-2);
            CHECK_MSG(memcmp(g16, got, n * 4) != 0, "F16 cross K/V changed nothing: not used?");
        }
        free(g16);
        free_case(&c16);
    }
    char *dir = model_dir("tiny-a");
    const llv_type types[2] = {LLV_TYPE_F16, LLV_TYPE_BF16};
    const double tol[2] = {2e-2, 2.5e-1};
    for (int i = 0; i < 2; i++) {
        llv_model *tm = NULL;
        llv_error err;
        CHECK_OK(hf_model_load_typed(dir, types[i], &tm, &err), &err);
        if (!tm) continue;
        CHECK(tm->text.output->type == (llv_type)types[i]);
        tcase tc;
        if (load_case(tm, "tiny-a", "two_images", &tc)) {
            if (run_all(tm, NULL, &tc, LLV_KV_F32, 64, got))
                llv_check_close_f32(i == 0 ? "two_images logits, F16 weights vs F32" :
                                             "two_images logits, BF16 weights vs F32",
                                    got, ref, (int64_t)n, tol[i], 0);
            free_case(&tc);
        }
        hf_model_free(tm);
    }
    free(dir);
    free(ref);
    free(got);
    free_case(&c);
}

static void test_limits(const llv_model *m) {
    llv_error err;
    llv_text_state *st = NULL;
    const llv_hparams *hp = &m->hp;
    CHECK_STATUS(llv_text_state_create(m, hp->n_ctx_train + 1, 8, LLV_KV_F32, &st, &err), LLV_ERR_INVALID_ARGUMENT,
                 &err);
    CHECK_STATUS(llv_text_state_create(m, 0, 8, LLV_KV_F32, &st, &err), LLV_ERR_INVALID_ARGUMENT, &err);
    CHECK_STATUS(llv_text_state_create(m, 8, -1, LLV_KV_F32, &st, &err), LLV_ERR_INVALID_ARGUMENT, &err);
    /* n_batch 0: the KV cache only; it runs on a caller's work (an engine's), not on its own */
    CHECK_OK(llv_text_state_create(m, 8, 0, LLV_KV_F32, &st, &err), &err);
    if (st) {
        const int32_t tk[2] = {1, 2};
        llv_text_batch b0 = {.tokens = tk, .n = 2};
        CHECK_STATUS(llv_text_forward(m, st, NULL, &b0, &err), LLV_ERR_STATE, &err);
        llv_text_work *w = NULL;
        llv_text_state *st2 = NULL;
        CHECK_OK(llv_text_work_create(m, 2, &w, &err), &err);
        CHECK_OK(llv_text_state_create(m, 8, 2, LLV_KV_F32, &st2, &err), &err);
        if (w && st2) /* no scratch: a state of n_batch 2 is one of 2 rows more */
            CHECK_EQ_I(llv_text_state_bytes(st2) - llv_text_state_bytes(st), llv_text_work_bytes(w));
        if (w) CHECK_OK(llv_text_forward_multi(m, NULL, &st, &b0, 1, w, &err), &err);
        CHECK_EQ_I(llv_text_state_n_past(st), 2);
        llv_text_state_free(st2);
        llv_text_work_free(w);
        llv_text_state_free(st);
        st = NULL;
    }
    /* the full context: allocated once, bytes as documented */
    CHECK_OK(llv_text_state_create(m, hp->n_ctx_train, 4, LLV_KV_F16, &st, &err), &err);
    if (st) {
        size_t n_self = (size_t)(hp->n_layer - hp->n_cross);
        CHECK(llv_text_state_kv_bytes(st) == n_self * 2 * hp->n_head_kv * (size_t)hp->n_ctx_train * hp->head_dim * 2);
        CHECK(llv_text_state_bytes(st) > llv_text_state_kv_bytes(st));
        CHECK_EQ_I(llv_text_state_n_ctx(st), hp->n_ctx_train);
        int32_t toks[3] = {m->bos_id, 5, 6};
        float *lg = malloc(sizeof(float) * hp->n_vocab);
        llv_text_batch b = {.tokens = toks, .n = 3, .logits = lg};
        CHECK_OK(llv_text_forward(m, st, NULL, &b, &err), &err);
        free(lg);
        llv_text_state_free(st);
        st = NULL;
    }
    CHECK_OK(llv_text_state_create(m, 8, 4, LLV_KV_F32, &st, &err), &err);
    if (!st) return;
    int32_t toks[9] = {m->bos_id, 1, 2, 3, 4, 5, 6, 7, 8};
    llv_text_batch b = {.tokens = toks, .n = 9};
    CHECK_STATUS(llv_text_forward(m, st, NULL, &b, &err), LLV_ERR_LIMIT, &err);
    CHECK(strstr(err.message, "n_ctx") != NULL);
    CHECK_EQ_I(llv_text_state_n_past(st), 0);
    b.n = 0;
    CHECK_STATUS(llv_text_forward(m, st, NULL, &b, &err), LLV_ERR_INVALID_ARGUMENT, &err);
    int32_t bad[2] = {1, hp->n_embd_rows};
    b.tokens = bad;
    b.n = 2;
    CHECK_STATUS(llv_text_forward(m, st, NULL, &b, &err), LLV_ERR_INVALID_ARGUMENT, &err);
    bad[1] = -1;
    CHECK_STATUS(llv_text_forward(m, st, NULL, &b, &err), LLV_ERR_INVALID_ARGUMENT, &err);
    CHECK_EQ_I(llv_text_state_n_past(st), 0);
    /* the image token itself is a valid input */
    bad[1] = hp->image_token_id;
    CHECK_OK(llv_text_forward(m, st, NULL, &b, &err), &err);
    b.tokens = toks;
    b.n = 6;
    CHECK_OK(llv_text_forward(m, st, NULL, &b, &err), &err);
    b.n = 1;
    CHECK_STATUS(llv_text_forward(m, st, NULL, &b, &err), LLV_ERR_LIMIT, &err);
    /* a row naming an image that is not there */
    llv_text_state_truncate(st, 0);
    uint64_t row = 2;
    llv_cross_kv *kv = NULL;
    float *cs = calloc((size_t)4 * 3 * hp->n_embd, sizeof(float));
    CHECK_OK(llv_cross_kv_compute(m, NULL, NULL, &(llv_cross_kv_input){.states = cs, .n_tok = 12, .n_tiles = 2, .tile_tokens = 3}, LLV_KV_F32, &kv, &err), &err);
    CHECK(llv_cross_kv_bytes(kv) == (size_t)hp->n_cross * 2 * 12 * hp->n_head_kv * hp->head_dim * 4);
    llv_cross_kv *kv2 = NULL;
    CHECK_STATUS(llv_cross_kv_compute(m, NULL, NULL, &(llv_cross_kv_input){.states = cs, .n_tok = 12, .n_tiles = 5, .tile_tokens = 3}, LLV_KV_F32, &kv2, &err), LLV_ERR_INVALID_ARGUMENT, &err);
    CHECK(kv2 == NULL);
    const llv_cross_kv *ims[1] = {kv};
    llv_text_batch bi = {.tokens = toks, .n = 1, .images = ims, .n_images = 1, .row_images = &row};
    CHECK_STATUS(llv_text_forward(m, st, NULL, &bi, &err), LLV_ERR_INVALID_ARGUMENT, &err);
    row = 1;
    CHECK_OK(llv_text_forward(m, st, NULL, &bi, &err), &err);
    llv_cross_kv_free(kv);
    free(cs);
    llv_text_state_free(st);
}

int main(int argc, char **argv) {
    llv_test_init(argc, argv);
    g_shared = llv_test_shared_dir();
    if (!g_shared) llv_test_skip("shared dir not found (golden models)");
    llv_model *m = NULL;
    llv_error err;
    char *dir = model_dir("tiny-a");
    CHECK_OK(hf_model_load(dir, &m, &err), &err);
    free(dir);
    if (!m) return llv_test_finish();
    if (llv_test_case("limits")) test_limits(m);
    if (llv_test_case("llama")) test_llama_equivalence(m);
    if (llv_test_case("decode")) {
        test_decode_and_threads(m, "tiny-a", "text_only", LLV_KV_F32);
        test_decode_and_threads(m, "tiny-a", "two_images", LLV_KV_F32);
        test_decode_and_threads(m, "tiny-a", "text_before_image", LLV_KV_F16);
    }
    if (llv_test_case("types")) test_kv_f16_and_weight_types(m);
    hf_model_free(m);
    test_golden();
    return llv_test_finish();
}
