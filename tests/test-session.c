/* test-session.c - session internals: the image cache (hash, LRU, reference
 * counts), the per-row image bitmask (HF get_cross_attention_token_mask
 * semantics, incl. consecutive image tokens and generated rows), cancelling
 * inside prefill and the vision encoder, raw RGB input, image parts
 * placed as the image token, and the prefix cache (bitwise a fresh prefill). */
#include "chat.h"
#include "llv-tools.h"
#include "golden/golden.h"
#include "image-cache.h"
#include "image.h"
#include "safetensors.h"
#include "session.h"
#include "testing.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static llv_kv_ref *fake_ref(void) { return llv_kv_ref_new(calloc(1, sizeof(llv_cross_kv))); }

static void test_hash(void) {
    if (!llv_test_case("hash")) return;
    const char a[] = "abcdef", b[] = "abcdeg";
    int32_t s1[2] = {560, 4}, s2[2] = {560, 2};
    uint64_t h = llv_image_hash(a, 6, s1, 2);
    CHECK(h == llv_image_hash(a, 6, s1, 2));
    CHECK(h != llv_image_hash(b, 6, s1, 2));
    CHECK(h != llv_image_hash(a, 6, s2, 2));
    CHECK(h != llv_image_hash(a, 5, s1, 2));
}

static void test_lru(void) {
    if (!llv_test_case("lru")) return;
    llv_image_cache c;
    llv_error err;
    CHECK_OK(llv_image_cache_init(&c, 2, &err), &err);
    llv_kv_ref *a = fake_ref(), *b = fake_ref(), *d = fake_ref();
    llv_image_cache_put(&c, 1, a);
    llv_image_cache_put(&c, 2, b);
    CHECK_EQ_I(a->refs, 2);
    llv_kv_ref *g = llv_image_cache_get(&c, 1); /* 1 is now the most recent */
    CHECK(g == a);
    CHECK_EQ_I(a->refs, 3);
    llv_kv_ref_release(g);
    llv_image_cache_put(&c, 3, d); /* evicts 2 */
    CHECK(llv_image_cache_get(&c, 2) == NULL);
    CHECK_EQ_I(b->refs, 1); /* only ours now */
    g = llv_image_cache_get(&c, 3);
    CHECK(g == d);
    llv_kv_ref_release(g);
    llv_kv_ref_release(a);
    llv_kv_ref_release(b);
    llv_kv_ref_release(d);
    llv_image_cache_free(&c);
    /* disabled cache keeps nothing */
    CHECK_OK(llv_image_cache_init(&c, 0, &err), &err);
    a = fake_ref();
    llv_image_cache_put(&c, 1, a);
    CHECK(llv_image_cache_get(&c, 1) == NULL);
    CHECK_EQ_I(a->refs, 1);
    llv_kv_ref_release(a);
    llv_image_cache_free(&c);
}

static void test_masks(llv_model *m) {
    if (!llv_test_case("masks")) return;
    llv_model_info info;
    llv_model_get_info(m, &info);
    if (!info.has_vision) {
        printf("masks: model has no vision, skipped\n");
        return;
    }
    llv_session *s = NULL;
    llv_error err;
    CHECK_OK(llv_session_create(m, NULL, &s, &err), &err);
    if (!s) return;
    size_t ni;
    uint8_t *img = llv_test_ppm(20, 20, 1, &ni);
    const int32_t IMG = info.image_token_id;

    /* text before the first image has no bit; consecutive images share the rows after them */
    for (int i = 0; i < 3; i++) CHECK_OK(llv_session_add_image(s, img, ni, &err), &err);
    CHECK_OK(llv_session_add_raw(s, "hi <|image|><|image|>ab<|image|>cd", &err), &err);
    size_t n = 0, nm = 0;
    const int32_t *t = llv_session_tokens(s, &n);
    const uint64_t *mk = llv_session_row_images(s, &nm);
    CHECK(n == nm && n > 5);
    CHECK(t[0] == info.bos_id);
    int seen = 0;
    for (size_t i = 0; i < n; i++) {
        uint64_t want = seen == 0 ? 0 : seen == 1 ? 1 : seen == 2 ? 3 : 4;
        if (t[i] == IMG) {
            seen++;
            want = seen == 1 ? 1 : seen == 2 ? 3 : 4;
        }
        CHECK_MSG(mk[i] == want, "row %zu (token %d): mask %llx, expected %llx", i, t[i], (unsigned long long)mk[i],
                  (unsigned long long)want);
    }
    CHECK_EQ_I(seen, 3);
    /* generated rows copy the last row's mask */
    llv_sampling_params sp = llv_sampling_default_params();
    sp.temperature = 0;
    sp.max_tokens = 3;
    CHECK_OK(llv_session_generate(s, &sp, NULL, NULL, NULL, &err), &err);
    t = llv_session_tokens(s, &n);
    mk = llv_session_row_images(s, &nm);
    for (size_t i = nm - 1; i > 0 && t[i] != IMG; i--) CHECK(mk[i] == 4);
    CHECK_EQ_I(llv_session_encoder_runs(s), 1); /* the same image three times */

    /* a templated turn with two images: both cover the text; a later turn keeps the mask */
    llv_session_reset(s);
    CHECK_OK(llv_session_add_image(s, img, ni, &err), &err);
    CHECK_OK(llv_session_add_image(s, img, ni, &err), &err);
    CHECK_OK(llv_session_add_text(s, "Compare these.", &err), &err);
    CHECK_OK(llv_session_generate(s, &sp, NULL, NULL, NULL, &err), &err);
    CHECK_OK(llv_session_add_text(s, "And now?", &err), &err);
    t = llv_session_tokens(s, &n);
    mk = llv_session_row_images(s, &nm);
    size_t first = n;
    for (size_t i = 0; i < n; i++)
        if (t[i] == IMG) {
            first = i;
            break;
        }
    CHECK(first < n && t[first + 1] == IMG);
    for (size_t i = 0; i < first; i++) CHECK(mk[i] == 0);
    CHECK(mk[first] == 1);
    for (size_t i = first + 1; i < n; i++) CHECK(mk[i] == 3);
    free(img);
    llv_session_free(s);
}

/* One golden model case end to end through the session: image files decoded
 * and encoded by the session, HF's input_ids (image tokens included), then
 * greedy generation must give HF's tokens exactly, and the prefill logits must
 * match HF's step-0 logits. */
static void golden_case(const char *root, const cJSON *e, const char *gguf) {
    const char *cfg = cJSON_GetStringValue(cJSON_GetObjectItem(e, "config"));
    const char *name = cJSON_GetStringValue(cJSON_GetObjectItem(e, "case"));
    char *rel = llv_test_path(root, cJSON_GetStringValue(cJSON_GetObjectItem(e, "path")));
    llv_error err;
    llv_st *st = NULL;
    llv_model *m = NULL;
    llv_session *s = NULL;
    int32_t *ids = NULL;
    CHECK_OK(llv_st_open(rel, &st, &err), &err);
    CHECK_OK(llv_model_load(gguf, NULL, &m, &err), &err);
    if (!st || !m) goto done;
    llv_session_params sp = llv_session_default_params();
    sp.n_threads = 1;
    sp.n_ctx = 1024;
    sp.kv_type = LLV_KV_F32; /* the reference is float32 throughout */
    CHECK_OK(llv_session_create(m, &sp, &s, &err), &err);
    if (!s) goto done;
    const cJSON *imgs = cJSON_GetObjectItem(e, "images"), *im;
    cJSON_ArrayForEach(im, imgs) {
        char dir[1024];
        snprintf(dir, sizeof dir, "%s/models/%s/%s", root, cfg, cJSON_GetStringValue(cJSON_GetObjectItem(im, "file")));
        CHECK_OK(llv_session_add_image_file(s, dir, &err), &err);
    }
    const llv_st_tensor *t_ids = llv_st_find(st, "input_ids"), *t_new = llv_st_find(st, "gen.new_tokens"),
                        *t_lg = llv_st_find(st, "gen.logits");
    CHECK(t_ids && t_new && t_lg);
    if (!t_ids || !t_new || !t_lg) goto done;
    int64_t T = llv_st_numel(t_ids), n_new = llv_st_numel(t_new);
    ids = malloc((size_t)T * sizeof *ids);
    for (int64_t i = 0; i < T; i++) ids[i] = (int32_t)llv_st_get_i64(t_ids, i);
    CHECK_OK(llv_session_add_tokens_with_images(s, ids, (size_t)T, &err), &err);
    const float *lg = NULL;
    CHECK_OK(llv_session_eval(s, &lg, &err), &err);
    int32_t V = m->hp.n_vocab;
    char what[160];
    snprintf(what, sizeof what, "%s/%s prefill logits vs HF", cfg, name);
    if (lg) llv_check_close_f32(what, lg, (const float *)t_lg->data, V, 1e-4, 1e-5);
    llv_sampling_params gp = llv_sampling_default_params();
    gp.temperature = 0;
    gp.max_tokens = (int32_t)n_new;
    llv_result r;
    CHECK_OK(llv_session_generate(s, &gp, NULL, NULL, &r, &err), &err);
    size_t n = 0;
    const int32_t *toks = llv_session_tokens(s, &n);
    bool same = n == (size_t)(T + n_new);
    for (int64_t i = 0; same && i < n_new; i++) same = toks[T + i] == (int32_t)llv_st_get_i64(t_new, i);
    CHECK_MSG(same, "%s/%s: greedy tokens equal HF's (%zu vs %lld tokens)", cfg, name, n, (long long)(T + n_new));
    printf("  %s/%s: %lld prompt tokens, %d images, greedy %s\n", cfg, name, (long long)T, cJSON_GetArraySize(imgs),
           same ? "equal" : "DIFFERENT");
    CHECK_EQ_I(r.prompt_tokens, T);
    llv_result_free(&r);
    /* the same prompt added in two pieces with a prefill between (KV reuse,
     * row masks continued across calls): the same greedy tokens */
    for (int split = 1; split < 3; split++) {
        llv_session_reset(s);
        cJSON_ArrayForEach(im, imgs) {
            char dir[1024];
            snprintf(dir, sizeof dir, "%s/models/%s/%s", root, cfg,
                     cJSON_GetStringValue(cJSON_GetObjectItem(im, "file")));
            CHECK_OK(llv_session_add_image_file(s, dir, &err), &err);
        }
        size_t cut = (size_t)(T * split / 3);
        /* rows prefilled before the first image skip cross attention, while HF
         * lets them attend every image (documented deviation): split after it */
        for (int64_t i = 0; i < T; i++)
            if (ids[i] == m->hp.image_token_id) {
                if (cut <= (size_t)i) cut = (size_t)i + 1;
                break;
            }
        CHECK_OK(llv_session_add_tokens_with_images(s, ids, cut, &err), &err);
        CHECK_OK(llv_session_eval(s, &lg, &err), &err);
        CHECK_OK(llv_session_add_tokens_with_images(s, ids + cut, (size_t)T - cut, &err), &err);
        CHECK_OK(llv_session_generate(s, &gp, NULL, NULL, NULL, &err), &err);
        toks = llv_session_tokens(s, &n);
        bool same2 = n == (size_t)(T + n_new);
        for (int64_t i = 0; same2 && i < n_new; i++) same2 = toks[T + i] == (int32_t)llv_st_get_i64(t_new, i);
        CHECK_MSG(same2, "%s/%s: prompt split at %zu: greedy tokens equal HF's", cfg, name, cut);
    }
done:
    free(ids);
    llv_session_free(s);
    llv_model_free(m);
    llv_st_close(st);
    free(rel);
}

static void test_golden(void) {
    if (!llv_test_case("golden")) return;
    const char *shared = llv_test_shared_dir();
    if (!shared) {
        printf("golden: no shared dir, skipped\n");
        return;
    }
    char *root = llv_test_path(shared, "golden");
    cJSON *man = golden_manifest(root);
    char *tmp = llv_test_tmpdir();
    if (!man) {
        printf("golden: no manifest, skipped\n");
        goto out;
    }
    const char *configs[] = {"tiny-a", "tiny-c"};
    for (int c = 0; c < 2; c++) {
        char *src = llv_test_path(root, "models");
        char *dir = llv_test_path(src, configs[c]);
        char *gguf = llv_test_path(tmp, "m.gguf");
        llv_convert_params cp = llv_convert_default_params();
        cp.type = LLV_TYPE_F32;
        llv_error err;
        llv_status st = llv_convert(dir, gguf, &cp, &err);
        CHECK_MSG(st == LLV_OK, "convert %s: %s", configs[c], llv_test_errmsg(&err));
        const cJSON *e;
        if (st == LLV_OK)
            cJSON_ArrayForEach(e, man) {
                const char *kind = cJSON_GetStringValue(cJSON_GetObjectItem(e, "kind"));
                const char *cfg = cJSON_GetStringValue(cJSON_GetObjectItem(e, "config"));
                if (kind && cfg && strcmp(kind, "model_case") == 0 && strcmp(cfg, configs[c]) == 0)
                    golden_case(root, e, gguf);
            }
        remove(gguf);
        free(gguf);
        free(dir);
        free(src);
    }
out:
    rmdir(tmp);
    free(tmp);
    cJSON_Delete(man);
    free(root);
}

/* ------------------------------------------------------------------------- */
/* logprobs: log-softmax of the raw logits, on the golden tiny model         */
/* ------------------------------------------------------------------------- */

typedef struct lp_watch {
    llv_session *s;
    int          calls;
    int          first_bad;  /* call where the reported token's entry was not the last (0 = none) */
    bool         ok;         /* the reported token has an entry, the entries only grow */
    size_t       k;
} lp_watch;

/* inside the piece callback the entry of the reported token is there: the
 * last one, except in the final piece (bytes held back, after the end token) */
static bool lp_on_piece(const char *piece, size_t n, int32_t token, void *user) {
    (void)piece;
    (void)n;
    lp_watch *w = user;
    size_t k = 0;
    const llv_logprob_entry *e = llv_session_logprobs(w->s, &k);
    w->calls++;
    bool found = false;
    for (size_t j = 0; e && j < k; j++) found |= e[j].chosen.token == token;
    w->ok = w->ok && found && k >= w->k;
    w->k = k;
    if (!w->first_bad && !(e && k >= 1 && e[k - 1].chosen.token == token)) w->first_bad = w->calls;
    return true;
}

/* e against log_softmax(lg) computed here in double: values, order, the k largest */
static void lp_check_entry(const char *what, const llv_logprob_entry *e, const float *lg, int32_t V, int32_t k) {
    double mx = -INFINITY, sum = 0;
    for (int32_t i = 0; i < V; i++) mx = lg[i] > mx ? lg[i] : mx;
    for (int32_t i = 0; i < V; i++) sum += exp((double)lg[i] - mx);
    const double lse = mx + log(sum);
    double p = 0;
    for (int32_t i = 0; i < V; i++) p += exp((double)lg[i] - lse);
    CHECK_CLOSE(p, 1.0, 1e-9);
    CHECK_MSG(fabs(e->chosen.logprob - ((double)lg[e->chosen.token] - lse)) < 1e-5, "%s: chosen %d: %g vs %g", what,
              (int)e->chosen.token, (double)e->chosen.logprob, (double)lg[e->chosen.token] - lse);
    CHECK_MSG(e->n_top == k, "%s: %d top entries (expected %d)", what, (int)e->n_top, (int)k);
    bool ok = true;
    for (int32_t j = 0; j < e->n_top && j < k; j++) {
        const llv_token_logprob *t = &e->top[j];
        ok &= t->token >= 0 && t->token < V && fabs(t->logprob - ((double)lg[t->token] - lse)) < 1e-5;
        if (j) ok &= e->top[j - 1].logprob > t->logprob || (e->top[j - 1].logprob == t->logprob && e->top[j - 1].token < t->token);
        int32_t above = 0; /* ids ranked before t: exactly j */
        for (int32_t i = 0; i < V; i++) above += lg[i] > lg[t->token] || (lg[i] == lg[t->token] && i < t->token);
        ok &= above == j;
    }
    CHECK_MSG(ok, "%s: the top list is the %d best of log_softmax(logits), in order", what, (int)k);
}

/* entries[i] against the logits llv_session_eval gives for the prompt plus
 * the first i generated tokens */
static void lp_check_run(const char *what, llv_session *b, const int32_t *toks, size_t n_prompt,
                         const llv_logprob_entry *lp, size_t n_lp, int32_t V, int32_t k) {
    llv_error err;
    for (size_t i = 0; i < n_lp; i++) {
        llv_session_reset(b);
        const float *lg = NULL;
        CHECK_OK(llv_session_add_tokens(b, toks, n_prompt + i, &err), &err);
        CHECK_OK(llv_session_eval(b, &lg, &err), &err);
        CHECK(lp[i].chosen.token == toks[n_prompt + i]);
        char w[96];
        snprintf(w, sizeof w, "%s, token %zu", what, i);
        if (lg) lp_check_entry(w, &lp[i], lg, V, k);
    }
}

/* with a tokenizer: the piece callback sees its token's entry; the same
 * answer with and without logprobs */
static void test_logprobs_pieces(llv_model *m) {
    if (!llv_test_case("logprobs")) return;
    llv_error err;
    llv_session *s = NULL;
    CHECK_OK(llv_session_create(m, NULL, &s, &err), &err);
    if (!s) return;
    llv_sampling_params p = llv_sampling_default_params();
    p.max_tokens = 24;
    p.seed = 5;
    p.temperature = 0.9f;
    llv_result r1, r2;
    CHECK_OK(llv_session_add_text(s, "Tell me about foxes.", &err), &err);
    CHECK_OK(llv_session_generate(s, &p, NULL, NULL, &r1, &err), &err);
    llv_session_reset(s);
    CHECK_OK(llv_session_add_text(s, "Tell me about foxes.", &err), &err);
    p.logprobs = true;
    p.top_logprobs = 3;
    lp_watch w = {s, 0, 0, true, 0};
    CHECK_OK(llv_session_generate(s, &p, lp_on_piece, &w, &r2, &err), &err);
    CHECK_MSG(w.ok && w.calls > 0 && (!w.first_bad || w.first_bad == w.calls),
              "piece callback: the reported token's entry is the last (%d calls, first other at %d)", w.calls,
              w.first_bad);
    CHECK_MSG(r1.text && r2.text && !strcmp(r1.text, r2.text), "same seed with and without logprobs: the same text");
    size_t n = 0;
    CHECK(llv_session_logprobs(s, &n) != NULL && n == (size_t)r2.completion_tokens);
    llv_result_free(&r1);
    llv_result_free(&r2);
    llv_session_free(s);
}

static void test_logprobs(void) {
    if (!llv_test_case("logprobs")) return;
    const char *shared = llv_test_shared_dir();
    if (!shared) {
        printf("logprobs: no shared dir, skipped\n");
        return;
    }
    char *root = llv_test_path(shared, "golden");
    char *models = llv_test_path(root, "models");
    char *dir = llv_test_path(models, "tiny-a");
    char *tmp = llv_test_tmpdir();
    char *gguf = llv_test_path(tmp, "m.gguf");
    llv_convert_params cp = llv_convert_default_params();
    cp.type = LLV_TYPE_F32;
    llv_error err;
    llv_model *m = NULL;
    llv_session *a = NULL, *b = NULL;
    CHECK_OK(llv_convert(dir, gguf, &cp, &err), &err);
    CHECK_OK(llv_model_load(gguf, NULL, &m, &err), &err);
    if (!m) goto out;
    llv_session_params sp = llv_session_default_params();
    sp.n_threads = 1;
    sp.n_ctx = 256;
    sp.kv_type = LLV_KV_F32;
    CHECK_OK(llv_session_create(m, &sp, &a, &err), &err);
    CHECK_OK(llv_session_create(m, &sp, &b, &err), &err);
    if (!a || !b) goto out;
    const int32_t V = m->hp.n_vocab;
    /* the golden models have no tokenizer: a prompt of ids (none the image token) */
    int32_t prompt[12] = {1, 17, 42, 99, 5, 230, 12, 77, 64, 3, 150, 201};
    for (int i = 0; i < 12; i++)
        if (prompt[i] == m->hp.image_token_id) prompt[i] = 2;
#define ADD_PROMPT(s) CHECK_OK(llv_session_add_tokens(s, prompt, 12, &err), &err)

    /* greedy, top 5: every step equals log_softmax of eval's logits, chosen = top[0] */
    ADD_PROMPT(a);
    size_t n_prompt = 0;
    llv_session_tokens(a, &n_prompt);
    llv_sampling_params gp = llv_sampling_default_params();
    gp.temperature = 0;
    gp.max_tokens = 6;
    gp.logprobs = true;
    gp.top_logprobs = 5;
    llv_result r;
    CHECK_OK(llv_session_generate(a, &gp, NULL, NULL, &r, &err), &err);
    size_t n_lp = 0, n_tok = 0;
    const llv_logprob_entry *lp = llv_session_logprobs(a, &n_lp);
    const int32_t *toks = llv_session_tokens(a, &n_tok);
    CHECK(lp != NULL);
    CHECK_EQ_I(n_lp, r.completion_tokens);
    CHECK_EQ_I(n_tok, n_prompt + n_lp);
    bool top1 = true;
    for (size_t i = 0; i < n_lp; i++) top1 &= lp[i].n_top == 5 && lp[i].top[0].token == lp[i].chosen.token &&
                                              lp[i].top[0].logprob == lp[i].chosen.logprob;
    CHECK_MSG(top1, "greedy: the chosen token is the top-1 entry");
    int32_t *greedy = malloc(n_tok * sizeof *greedy);
    memcpy(greedy, toks, n_tok * sizeof *greedy);
    llv_logprob_entry *saved = malloc((n_lp ? n_lp : 1) * sizeof *saved);
    memcpy(saved, lp, n_lp * sizeof *saved);
    lp_check_run("greedy top 5", b, greedy, n_prompt, saved, n_lp, V, 5);
    llv_result_free(&r);

    /* top_logprobs 0: the chosen token's entry only, the same tokens */
    llv_session_reset(a);
    ADD_PROMPT(a);
    gp.top_logprobs = 0;
    CHECK_OK(llv_session_generate(a, &gp, NULL, NULL, NULL, &err), &err);
    size_t n0 = 0;
    lp = llv_session_logprobs(a, &n0);
    toks = llv_session_tokens(a, &n_tok);
    CHECK_EQ_I(n0, n_lp);
    bool same0 = lp && n_tok == n_prompt + n_lp && !memcmp(toks, greedy, n_tok * sizeof *toks);
    for (size_t i = 0; same0 && i < n0; i++)
        same0 = lp[i].n_top == 0 && lp[i].chosen.token == saved[i].chosen.token &&
                lp[i].chosen.logprob == saved[i].chosen.logprob;
    CHECK_MSG(same0, "top_logprobs 0: only the chosen entries, equal to top 5's");
    /* logprobs off: none, and the reset forgets the last ones */
    llv_session_reset(a);
    CHECK(llv_session_logprobs(a, &n0) == NULL && n0 == 0);
    ADD_PROMPT(a);
    gp.logprobs = false;
    CHECK_OK(llv_session_generate(a, &gp, NULL, NULL, NULL, &err), &err);
    CHECK(llv_session_logprobs(a, &n0) == NULL && n0 == 0);

    /* sampled with penalties and cuts: the same text with and without logprobs,
     * and the entries are still the raw distribution's */
    llv_sampling_params sp2 = llv_sampling_default_params();
    sp2.temperature = 1.3f;
    sp2.top_k = 20;
    sp2.top_p = 0.95f;
    sp2.repetition_penalty = 1.3f;
    sp2.frequency_penalty = 0.5f;
    sp2.seed = 77;
    sp2.max_tokens = 8;
    llv_result r1, r2;
    llv_session_reset(a);
    ADD_PROMPT(a);
    CHECK_OK(llv_session_generate(a, &sp2, NULL, NULL, &r1, &err), &err);
    int32_t sampled[64] = {0};
    toks = llv_session_tokens(a, &n_tok);
    memcpy(sampled, toks, (n_tok < 64 ? n_tok : 64) * sizeof *toks);
    llv_session_reset(a);
    ADD_PROMPT(a);
    sp2.logprobs = true;
    sp2.top_logprobs = 20;
    CHECK_OK(llv_session_generate(a, &sp2, NULL, NULL, &r2, &err), &err);
    lp = llv_session_logprobs(a, &n_lp);
    toks = llv_session_tokens(a, &n_tok);
    CHECK_MSG(n_tok == n_prompt + (size_t)r1.completion_tokens && !memcmp(toks, sampled, n_tok * sizeof *toks) &&
                  r1.completion_tokens == r2.completion_tokens && n_lp == (size_t)r2.completion_tokens,
              "same seed with and without logprobs: the same tokens");
    if (lp && n_lp) {
        int32_t *t2 = malloc(n_tok * sizeof *t2);
        llv_logprob_entry *s2 = malloc(n_lp * sizeof *s2);
        memcpy(t2, toks, n_tok * sizeof *t2);
        memcpy(s2, lp, n_lp * sizeof *s2);
        lp_check_run("sampled top 20", b, t2, n_prompt, s2, n_lp, V, 20);
        free(t2);
        free(s2);
    }
    llv_result_free(&r1);
    llv_result_free(&r2);
    free(greedy);
    free(saved);
#undef ADD_PROMPT
out:
    llv_session_free(a);
    llv_session_free(b);
    llv_model_free(m);
    remove(gguf);
    rmdir(tmp);
    free(gguf);
    free(tmp);
    free(dir);
    free(models);
    free(root);
}

/* ------------------------------------------------------------------------- */
/* cancellation inside prefill and the vision encoder                        */
/* ------------------------------------------------------------------------- */

typedef struct cancel_rec {
    const char *what;   /* cancel at the stop_at-th report of this kind */
    int         stop_at;
    int         n_prefill, n_image;
    float       last;
} cancel_rec;

static bool on_cancel(const char *what, float f, void *user) {
    cancel_rec *c = user;
    int n = strcmp(what, "prefill") == 0 ? ++c->n_prefill : ++c->n_image;
    CHECK_MSG(f >= 0.0f && f <= 1.0f, "%s: fraction %g", what, f);
    c->last = f;
    return !(c->what && strcmp(what, c->what) == 0 && n == c->stop_at);
}

static const char *LONG_PROMPT = "Count the things in the picture, then tell me what colour each of them is, one by "
                                 "one, in a long and careful answer.";

/* A session of n_batch 4 with the image and the long prompt, progress to rec. */
static llv_session *cancel_session(llv_model *m, llv_engine *e, cancel_rec *rec, const uint8_t *img, size_t ni) {
    llv_error err;
    llv_session_params p = llv_session_default_params();
    p.n_ctx = 256;
    p.n_batch = 4;
    p.n_threads = 1;
    p.engine = e;
    p.progress = on_cancel;
    p.progress_user = rec;
    llv_session *s = NULL;
    CHECK_OK(llv_session_create(m, &p, &s, &err), &err);
    if (!s) return NULL;
    if (img) CHECK_OK(llv_session_add_image(s, img, ni, &err), &err);
    CHECK_OK(llv_session_add_text(s, LONG_PROMPT, &err), &err);
    return s;
}

static bool same_logits(llv_model *m, const float *a, const float *b) {
    llv_model_info info;
    llv_model_get_info(m, &info);
    return a && b && memcmp(a, b, (size_t)info.n_vocab * sizeof *a) == 0;
}

static void cancel_case(llv_model *m, llv_engine *e, const uint8_t *img, size_t ni) {
    llv_error err;
    const float *lg = NULL;
    /* the reference: no cancellation */
    cancel_rec r0 = {0};
    llv_session *ref = cancel_session(m, e, &r0, img, ni);
    if (!ref) return;
    size_t n_tok = 0;
    llv_session_tokens(ref, &n_tok);
    CHECK_OK(llv_session_eval(ref, &lg, &err), &err);
    int chunks = (int)(n_tok + 3) / 4;
    CHECK_EQ_I(r0.n_prefill, chunks);
    CHECK(r0.last == 1.0f);
    CHECK(chunks >= 4);
    llv_model_info info;
    llv_model_get_info(m, &info);
    float *want = malloc((size_t)info.n_vocab * sizeof *want);
    memcpy(want, lg, (size_t)info.n_vocab * sizeof *want);
    llv_sampling_params sp = llv_sampling_default_params();
    sp.temperature = 0;
    sp.max_tokens = 6;
    llv_result rr;
    CHECK_OK(llv_session_generate(ref, &sp, NULL, NULL, &rr, &err), &err);

    /* cancelled after the second chunk: LLV_ERR_CANCELLED, the conversation unchanged, and the next eval computes
     * only the rows after those two chunks, to the same logits */
    cancel_rec r1 = {.what = "prefill", .stop_at = 2};
    llv_session *s = cancel_session(m, e, &r1, img, ni);
    if (!s) goto out;
    CHECK_STATUS(llv_session_eval(s, &lg, &err), LLV_ERR_CANCELLED, &err);
    CHECK_MSG(strstr(err.message, "cancelled") != NULL, "message: %s", err.message);
    CHECK(lg == NULL);
    CHECK_EQ_I(r1.n_prefill, 2);
    size_t n_after = 0;
    llv_session_tokens(s, &n_after);
    CHECK_EQ_I(n_after, n_tok);
    r1 = (cancel_rec){0};
    CHECK_OK(llv_session_eval(s, &lg, &err), &err);
    CHECK_EQ_I(r1.n_prefill, chunks - 2); /* continued, not restarted */
    CHECK_EQ_I(r1.n_image, 0);            /* the image was encoded by the cancelled call */
    CHECK_MSG(same_logits(m, lg, want), "logits after a cancelled prefill differ");
    llv_result r;
    CHECK_OK(llv_session_generate(s, &sp, NULL, NULL, &r, &err), &err);
    CHECK_MSG(r.text && rr.text && strcmp(r.text, rr.text) == 0, "answer after a cancel: '%s' vs '%s'",
              r.text ? r.text : "", rr.text ? rr.text : "");
    llv_result_free(&r);
    llv_session_free(s);

    /* cancelled at the last report: done but cancelled; nothing is computed again */
    cancel_rec r2 = {.what = "prefill", .stop_at = chunks};
    s = cancel_session(m, e, &r2, img, ni);
    if (!s) goto out;
    CHECK_STATUS(llv_session_generate(s, &sp, NULL, NULL, &r, &err), LLV_ERR_CANCELLED, &err);
    CHECK(r.text == NULL && r.completion_tokens == 0);
    llv_session_tokens(s, &n_after);
    CHECK_EQ_I(n_after, n_tok); /* nothing generated */
    r2 = (cancel_rec){0};
    CHECK_OK(llv_session_eval(s, &lg, &err), &err);
    CHECK_EQ_I(r2.n_prefill, 0);
    CHECK_MSG(same_logits(m, lg, want), "logits after a cancel at the end differ");
    llv_session_free(s);

    if (img) { /* cancelled inside the vision encoder: not encoded; the next call encodes it */
        cancel_rec r3 = {.what = "image", .stop_at = 2};
        s = cancel_session(m, e, &r3, img, ni);
        if (!s) goto out;
        int32_t runs = llv_session_encoder_runs(s);
        CHECK_STATUS(llv_session_eval(s, &lg, &err), LLV_ERR_CANCELLED, &err);
        CHECK_EQ_I(r3.n_image, 2);
        CHECK_EQ_I(r3.n_prefill, 0);
        CHECK_EQ_I(llv_session_encoder_runs(s), runs);
        r3 = (cancel_rec){0};
        CHECK_OK(llv_session_generate(s, &sp, NULL, NULL, &r, &err), &err);
        CHECK(r3.n_image >= 2 && r3.n_prefill == chunks);
        CHECK_MSG(r.text && rr.text && strcmp(r.text, rr.text) == 0, "answer after a cancelled encode: '%s' vs '%s'",
                  r.text ? r.text : "", rr.text ? rr.text : "");
        llv_result_free(&r);
        llv_session_free(s);
    }
out:
    llv_result_free(&rr);
    free(want);
    llv_session_free(ref);
}

static void test_cancel(llv_model *m) {
    if (!llv_test_case("cancel")) return;
    llv_model_info info;
    llv_model_get_info(m, &info);
    size_t ni = 0;
    uint8_t *img = info.has_vision ? llv_test_ppm(40, 30, 3, &ni) : NULL;
    cancel_case(m, NULL, img, ni); /* standalone */
    llv_error err;
    llv_engine_params ep = llv_engine_default_params();
    ep.n_threads = 1;
    ep.image_cache_entries = 0; /* each session encodes its image: the encoder can be cancelled */
    llv_engine *e = NULL;
    CHECK_OK(llv_engine_create(m, &ep, &e, &err), &err);
    if (e) {
        cancel_case(m, e, img, ni); /* attached: the same through the engine */
        llv_engine_free(e);
    }
    free(img);
}

/* ------------------------------------------------------------------------- */
/* raw RGB input                                                             */
/* ------------------------------------------------------------------------- */

static void eval_logits(llv_session *s, float *out, int32_t n_vocab) {
    llv_error err;
    const float *lg = NULL;
    CHECK_OK(llv_session_add_text(s, "What is in the picture?", &err), &err);
    CHECK_OK(llv_session_eval(s, &lg, &err), &err);
    if (lg) memcpy(out, lg, (size_t)n_vocab * sizeof *out);
}

static void test_rgb(llv_model *m) {
    if (!llv_test_case("rgb")) return;
    llv_model_info info;
    llv_model_get_info(m, &info);
    if (!info.has_vision) {
        printf("rgb: model has no vision, skipped\n");
        return;
    }
    llv_error err;
    size_t ni = 0;
    uint8_t *ppm = llv_test_ppm(37, 23, 5, &ni);
    llv_rgb_image img;
    CHECK_OK(llv_image_decode(ppm, ni, NULL, &img, &err), &err);
    const int32_t W = img.width, H = img.height;
    const size_t row = (size_t)W * 3, pad = row + 7;
    uint8_t *padded = malloc(pad * (size_t)H);
    memset(padded, 0xAB, pad * (size_t)H);
    for (int32_t y = 0; y < H; y++) memcpy(padded + (size_t)y * pad, img.rgb + (size_t)y * row, row);
    const int32_t V = info.n_vocab;
    float *a = calloc((size_t)V, sizeof *a), *b = calloc((size_t)V, sizeof *b), *c = calloc((size_t)V, sizeof *c);

    llv_session_params p = llv_session_default_params();
    p.n_ctx = 128;
    p.n_threads = 1;
    llv_session *s = NULL;
    CHECK_OK(llv_session_create(m, &p, &s, &err), &err);
    if (!s) goto out;
    /* the file, its pixels packed, its pixels with padded rows: the same logits */
    CHECK_OK(llv_session_add_image(s, ppm, ni, &err), &err);
    eval_logits(s, a, V);
    llv_session_reset(s);
    CHECK_OK(llv_session_add_image_rgb(s, W, H, row, img.rgb, &err), &err);
    eval_logits(s, b, V);
    CHECK_EQ_I(llv_session_encoder_runs(s), 2); /* pixels and file are cached apart */
    llv_session_reset(s);
    CHECK_OK(llv_session_add_image_rgb(s, W, H, pad, padded, &err), &err);
    eval_logits(s, c, V);
    CHECK_EQ_I(llv_session_encoder_runs(s), 2); /* the same pixels: the padding is not part of the image */
    CHECK_MSG(memcmp(a, b, (size_t)V * sizeof *a) == 0, "RGB input differs from the file's decode");
    CHECK_MSG(memcmp(a, c, (size_t)V * sizeof *a) == 0, "RGB input with a stride differs from the file's decode");
    llv_session_reset(s);
    padded[pad * (size_t)(H / 2) + 5] ^= 0x40; /* another pixel: another image */
    CHECK_OK(llv_session_add_image_rgb(s, W, H, pad, padded, &err), &err);
    eval_logits(s, c, V);
    CHECK_EQ_I(llv_session_encoder_runs(s), 3);

    /* bad input: nothing queued */
    llv_session_reset(s);
    CHECK_STATUS(llv_session_add_image_rgb(s, 0, H, row, img.rgb, &err), LLV_ERR_INVALID_ARGUMENT, &err);
    CHECK_STATUS(llv_session_add_image_rgb(s, W, -1, row, img.rgb, &err), LLV_ERR_INVALID_ARGUMENT, &err);
    CHECK_STATUS(llv_session_add_image_rgb(s, W, H, row - 1, img.rgb, &err), LLV_ERR_INVALID_ARGUMENT, &err);
    CHECK_MSG(strstr(err.message, "stride") != NULL, "message names the stride: %s", err.message);
    CHECK_STATUS(llv_session_add_image_rgb(s, W, H, row, NULL, &err), LLV_ERR_INVALID_ARGUMENT, &err);
    CHECK_STATUS(llv_session_add_image_rgb(NULL, W, H, row, img.rgb, &err), LLV_ERR_INVALID_ARGUMENT, &err);
    CHECK_STATUS(llv_session_add_raw(s, "<|image|>", &err), LLV_ERR_STATE, &err); /* none queued */
    llv_session_free(s);
    s = NULL;
    /* the pixel limit of decoded images applies: one pixel less than the image fails, as the file does */
    p.max_image_pixels = (uint64_t)W * (uint64_t)H - 1;
    p.max_images = 2;
    CHECK_OK(llv_session_create(m, &p, &s, &err), &err);
    if (!s) goto out;
    CHECK_STATUS(llv_session_add_image_rgb(s, W, H, row, img.rgb, &err), LLV_ERR_LIMIT, &err);
    CHECK_MSG(strstr(err.message, "max_image_pixels") != NULL, "message names max_image_pixels: %s", err.message);
    CHECK_STATUS(llv_session_add_image(s, ppm, ni, &err), LLV_ERR_LIMIT, &err);
    CHECK_OK(llv_session_add_image_rgb(s, W - 1, H, row, img.rgb, &err), &err); /* within it */
    CHECK_OK(llv_session_add_image_rgb(s, W - 1, H, row, img.rgb, &err), &err);
    CHECK_STATUS(llv_session_add_image_rgb(s, W - 1, H, row, img.rgb, &err), LLV_ERR_LIMIT, &err); /* max_images */
    llv_session_free(s);
out:
    free(a);
    free(b);
    free(c);
    free(padded);
    llv_rgb_image_free(&img);
    free(ppm);
}

/* ------------------------------------------------------------------------- */
/* image parts become the image token itself                                 */
/* ------------------------------------------------------------------------- */

/* llv_chat_render_images' text with "<|image|>" put at its offsets is
 * llv_chat_render_text's, also where content is trimmed (tools). */
static void render_same(const llv_message *msgs, size_t n, const llv_chat_params *cp, size_t want_images) {
    llv_error err;
    char *t1 = NULL, *t2 = NULL;
    size_t l1 = 0, l2 = 0, *at = NULL, n_at = 0;
    CHECK_OK(llv_chat_render_text(NULL, msgs, n, cp, false, &t1, &l1, &err), &err);
    CHECK_OK(llv_chat_render_images(NULL, msgs, n, cp, false, &t2, &l2, &at, &n_at, &err), &err);
    CHECK_EQ_I(n_at, want_images);
    if (t1 && t2) {
        char *joined = malloc(l2 + 9 * n_at + 1);
        size_t o = 0, pos = 0;
        for (size_t k = 0; k <= n_at; k++) {
            size_t end = k < n_at ? at[k] : l2;
            CHECK(end >= pos && end <= l2);
            if (end < pos || end > l2) break;
            memcpy(joined + o, t2 + pos, end - pos);
            o += end - pos;
            if (k < n_at) memcpy(joined + o, "<|image|>", 9), o += 9;
            pos = end;
        }
        joined[o] = 0;
        CHECK_MSG(o == l1 && strcmp(joined, t1) == 0, "offsets do not place the images of\n%s\n(got\n%s)", t1, joined);
        CHECK(strstr(t2, "<|image|>") == NULL);
        free(joined);
    }
    free(t1);
    free(t2);
    free(at);
}

static void test_image_tokens(llv_model *m) {
    if (!llv_test_case("image_tokens")) return;
    static const uint8_t px = 0;
    llv_part u1[] = {{.type = LLV_PART_IMAGE, .image = &px, .image_bytes = 1},
                     {.type = LLV_PART_TEXT, .text = "x and "},
                     {.type = LLV_PART_IMAGE, .image = &px, .image_bytes = 1},
                     {.type = LLV_PART_TEXT, .text = "  y"}};
    llv_part u2[] = {{.type = LLV_PART_TEXT, .text = "  \n "},
                     {.type = LLV_PART_IMAGE, .image = &px, .image_bytes = 1},
                     {.type = LLV_PART_TEXT, .text = " \t "},
                     {.type = LLV_PART_IMAGE, .image = &px, .image_bytes = 1},
                     {.type = LLV_PART_TEXT, .text = "  "}};
    llv_part u3[] = {{.type = LLV_PART_TEXT, .text = "  look: "},
                     {.type = LLV_PART_IMAGE, .image = &px, .image_bytes = 1},
                     {.type = LLV_PART_TEXT, .text = "\n"}};
    llv_message msgs[] = {{.role = "user", .parts = u1, .n_parts = 4},
                          {.role = "assistant", .content = "ok"},
                          {.role = "user", .parts = u2, .n_parts = 5}};
    llv_chat_params cp = llv_chat_default_params();
    cp.date_string = "26 Jul 2024";
    render_same(msgs, 3, &cp, 4);
    cp.tools_json = "[{\"name\": \"f\"}]"; /* the first user message is trimmed into the tools turn */
    render_same(msgs, 3, &cp, 4);
    llv_message one = {.role = "user", .parts = u2, .n_parts = 5};
    render_same(&one, 1, &cp, 2); /* all whitespace around the images */
    one.parts = u3;
    one.n_parts = 3;
    render_same(&one, 1, &cp, 1);

    /* through the session: the same tokens as the rendered text with "<|image|>" tokenized */
    llv_model_info info;
    llv_model_get_info(m, &info);
    if (!info.has_vision) return;
    llv_error err;
    size_t ni = 0;
    uint8_t *img = llv_test_ppm(8, 8, 1, &ni);
    llv_part parts[] = {{.type = LLV_PART_IMAGE, .image = img, .image_bytes = ni},
                        {.type = LLV_PART_TEXT, .text = "What is this?"}};
    llv_message um = {.role = "user", .parts = parts, .n_parts = 2};
    cp = llv_chat_default_params();
    cp.date_string = "26 Jul 2024";
    char buf[4096];
    size_t nb = 0;
    CHECK_OK(llv_chat_render(m, &um, 1, &cp, buf, sizeof buf, &nb, &err), &err);
    llv_session *a = NULL, *b = NULL;
    CHECK_OK(llv_session_create(m, NULL, &a, &err), &err);
    CHECK_OK(llv_session_create(m, NULL, &b, &err), &err);
    if (a && b) {
        CHECK_OK(llv_session_add_messages(a, &um, 1, &cp, &err), &err);
        CHECK_OK(llv_session_add_image(b, img, ni, &err), &err);
        CHECK_OK(llv_session_add_raw(b, buf, &err), &err);
        size_t na = 0, nb2 = 0;
        const int32_t *ta = llv_session_tokens(a, &na), *tb = llv_session_tokens(b, &nb2);
        CHECK_MSG(na == nb2 && memcmp(ta, tb, na * sizeof *ta) == 0, "%zu vs %zu tokens", na, nb2);
        int images = 0;
        for (size_t i = 0; i < na; i++) images += ta[i] == info.image_token_id;
        CHECK_EQ_I(images, 1);
    }
    llv_session_free(a);
    llv_session_free(b);
    free(img);
}

/* ------------------------------------------------------------------------- */
/* prefix cache (llv_session_reset_keep_prefix)                              */
/* ------------------------------------------------------------------------- */

/* A conversation: image `img` (NULL = none), then either the first turn,
 * the model's answer to it when `answer`, and the second turn; or, with
 * `replay`, those tokens as given (a client resending the conversation so
 * far) and the second turn. */
typedef struct conv {
    const uint8_t *img;
    size_t         ni;
    const char    *first;
    bool           answer;
    const char    *second;
    const int32_t *replay;
    size_t         n_replay;
} conv;

static void build(llv_session *s, const conv *c) {
    llv_error err;
    if (c->img) CHECK_OK(llv_session_add_image(s, c->img, c->ni, &err), &err);
    if (c->replay) {
        CHECK_OK(llv_session_add_tokens_with_images(s, c->replay, c->n_replay, &err), &err);
    } else {
        CHECK_OK(llv_session_add_text(s, c->first, &err), &err);
        if (c->answer) {
            llv_sampling_params sp = llv_sampling_default_params();
            sp.temperature = 0;
            sp.max_tokens = 6;
            CHECK_OK(llv_session_generate(s, &sp, NULL, NULL, NULL, &err), &err);
        }
    }
    if (c->second) CHECK_OK(llv_session_add_text(s, c->second, &err), &err);
}

/* Logits of the conversation's last row, and the answer, from `s`; and the
 * same from a fresh session: they must be equal bitwise. Returns the rows s
 * reused. */
static int32_t check_like_fresh(llv_model *m, llv_session *s, const conv *c, const char *what) {
    llv_error err;
    llv_model_info info;
    llv_model_get_info(m, &info);
    llv_session *f = NULL;
    CHECK_OK(llv_session_create(m, NULL, &f, &err), &err);
    if (!f) return -1;
    build(f, c);
    size_t nf = 0, ns = 0;
    const int32_t *tf = llv_session_tokens(f, &nf), *ts = llv_session_tokens(s, &ns);
    CHECK_MSG(nf == ns && !memcmp(tf, ts, nf * sizeof *tf), "%s: the conversations differ", what);
    const float *lf = NULL, *ls = NULL;
    float *copy = malloc((size_t)info.n_vocab * sizeof *copy);
    CHECK_OK(llv_session_eval(f, &lf, &err), &err);
    if (lf && copy) memcpy(copy, lf, (size_t)info.n_vocab * sizeof *copy);
    CHECK_OK(llv_session_eval(s, &ls, &err), &err);
    CHECK_MSG(ls && copy && !memcmp(ls, copy, (size_t)info.n_vocab * sizeof *copy),
              "%s: logits after the kept prefix differ from a fresh prefill's", what);
    int32_t cached = llv_session_cached_tokens(s);
    llv_sampling_params sp = llv_sampling_default_params();
    sp.temperature = 0;
    sp.max_tokens = 8;
    llv_result a, b;
    CHECK_OK(llv_session_generate(f, &sp, NULL, NULL, &a, &err), &err);
    CHECK_OK(llv_session_generate(s, &sp, NULL, NULL, &b, &err), &err);
    CHECK_MSG(a.text && b.text && !strcmp(a.text, b.text), "%s: answers differ", what);
    llv_result_free(&a);
    llv_result_free(&b);
    free(copy);
    llv_session_free(f);
    return cached;
}

static void test_prefix_cache(llv_model *m) {
    if (!llv_test_case("prefix")) return;
    llv_model_info info;
    llv_model_get_info(m, &info);
    llv_error err;
    llv_session *s = NULL;
    CHECK_OK(llv_session_create(m, NULL, &s, &err), &err);
    if (!s) return;
    size_t ni = 0, nj = 0;
    uint8_t *img = info.has_vision ? llv_test_ppm(40, 30, 1, &ni) : NULL;
    uint8_t *other = info.has_vision ? llv_test_ppm(40, 30, 2, &nj) : NULL;
    const char *q1 = "Describe the picture in detail.", *q2 = "And what colour is it?";

    /* a chat client resending the conversation with one more turn: all of it is reused */
    conv first = {img, ni, q1, true, NULL, NULL, 0};
    build(s, &first);
    size_t n_first = 0;
    const int32_t *t = llv_session_tokens(s, &n_first);
    int32_t *sent = malloc(n_first * sizeof *sent);
    if (sent) memcpy(sent, t, n_first * sizeof *sent);
    llv_session_reset_keep_prefix(s);
    CHECK_EQ_I(llv_session_cached_tokens(s), 0);
    conv next = {img, ni, NULL, false, q2, sent, n_first};
    build(s, &next);
    int32_t c = check_like_fresh(m, s, &next, "next turn");
    /* the answer's end token had no KV row yet */
    CHECK_MSG(c == (int32_t)n_first - 1, "next turn: reused %d rows of the first turn's %zu", c, n_first);
    CHECK_EQ_I(llv_session_encoder_runs(s), info.has_vision ? 1 : 0); /* the cached image is not encoded again */

    /* the same conversation built the same way: the rows up to the first answer's prefill */
    llv_session_reset_keep_prefix(s);
    conv both = {img, ni, q1, true, q2, NULL, 0};
    build(s, &both);
    c = check_like_fresh(m, s, &both, "same turns");
    CHECK(c > 0);

    if (info.has_vision) {
        /* another image at the same place: rows before it saw the old image, so nothing is reused */
        llv_session_reset_keep_prefix(s);
        conv alt = {other, nj, q1, false, NULL, NULL, 0};
        build(s, &alt);
        c = check_like_fresh(m, s, &alt, "other image");
        CHECK_EQ_I(c, 0);
    }
    /* without the image: the rows before the difference were computed with an image: nothing */
    llv_session_reset_keep_prefix(s);
    conv text = {NULL, 0, "Hello there", false, NULL, NULL, 0};
    build(s, &text);
    c = check_like_fresh(m, s, &text, "text only after an image");
    CHECK_EQ_I(c, 0);
    /* text after text: the template's shared start (BOS, the system block) */
    llv_session_reset_keep_prefix(s);
    conv text2 = {NULL, 0, "Hello you", false, NULL, NULL, 0};
    build(s, &text2);
    c = check_like_fresh(m, s, &text2, "another text");
    CHECK_MSG(c > 5, "another text: reused %d rows", c);
    /* a plain reset keeps nothing */
    llv_session_reset(s);
    build(s, &text2);
    c = check_like_fresh(m, s, &text2, "after reset");
    CHECK_EQ_I(c, 0);
    free(sent);
    free(img);
    free(other);
    llv_session_free(s);
}

/* timeout_ms covers the prompt and the image encode: a limit already passed
 * stops a generate before its first token, with LLV_STOP_TIMEOUT, and the
 * next generate (no limit) goes on from the rows computed. */
static bool slow_progress(const char *what, float f, void *user) {
    struct timespec d = {0, 2 * 1000 * 1000}; /* each step outlasts the 1 ms limit */
    nanosleep(&d, NULL);
    return true;
}

static void test_timeout_prefill(llv_model *m) {
    if (!llv_test_case("timeout")) return;
    llv_error err;
    llv_session *s = NULL;
    llv_session_params sp = llv_session_default_params();
    sp.n_batch = 4;
    sp.progress = slow_progress;
    CHECK_OK(llv_session_create(m, &sp, &s, &err), &err);
    if (!s) return;
    llv_model_info info;
    llv_model_get_info(m, &info);
    size_t ni = 0;
    uint8_t *img = info.has_vision ? llv_test_ppm(40, 30, 4, &ni) : NULL;
    if (img) CHECK_OK(llv_session_add_image(s, img, ni, &err), &err);
    CHECK_OK(llv_session_add_text(s, "Count the things in the picture, then tell me what colour each of them is.",
                                  &err), &err);
    llv_sampling_params p = llv_sampling_default_params();
    p.temperature = 0;
    p.max_tokens = 4;
    p.timeout_ms = 1;
    llv_result r;
    CHECK_OK(llv_session_generate(s, &p, NULL, NULL, &r, &err), &err);
    CHECK_MSG(r.stop_reason == LLV_STOP_TIMEOUT && r.completion_tokens == 0,
              "a 1 ms limit did not stop the prompt (stop %d, %d tokens)", r.stop_reason, r.completion_tokens);
    CHECK(r.text && r.text[0] == 0);
    llv_result_free(&r);
    p.timeout_ms = 0;
    CHECK_OK(llv_session_generate(s, &p, NULL, NULL, &r, &err), &err);
    CHECK(r.stop_reason != LLV_STOP_TIMEOUT && r.completion_tokens > 0);
    llv_result_free(&r);
    free(img);
    llv_session_free(s);
}

int main(int argc, char **argv) {
    llv_test_init(argc, argv);
    printf("system: %s\n", llv_system_info());
    test_hash();
    test_lru();
    test_golden();
    test_logprobs();
    llv_error err;
    const char *src = getenv("LLV_SOURCE_DIR");
    char *demo = src ? llv_test_path(src, "models/demo.gguf") : NULL;
    llv_model *m = NULL;
    if (demo && llv_model_load(demo, NULL, &m, &err) == LLV_OK) {
        printf("model: %s\n", demo);
    } else {
        /* no demo model yet: make a tiny one */
        char *dir = llv_test_tmpdir();
        char *path = llv_test_path(dir, "tiny.gguf");
        free(dir);
        llv_synth_params sp = llv_synth_default_params();
        sp.preset = "tiny";
        if (llv_synth(path, &sp, &err) != LLV_OK || llv_model_load(path, NULL, &m, &err) != LLV_OK) {
            printf("no synthetic model (%s): mask tests skipped\n", err.message);
            m = NULL;
        }
        remove(path);
        char *slash = strrchr(path, '/');
        if (slash) *slash = 0;
        rmdir(path);
        free(path);
    }
    free(demo);
    if (m) {
        test_masks(m);
        test_cancel(m);
        test_rgb(m);
        test_image_tokens(m);
        test_prefix_cache(m);
        test_timeout_prefill(m);
        test_logprobs_pieces(m);
        llv_model_free(m);
    }
    return llv_test_finish();
}
