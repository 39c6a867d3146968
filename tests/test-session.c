/* test-session.c - session internals: the image cache (hash, LRU, reference
 * counts) and the per-row image bitmask (HF get_cross_attention_token_mask
 * semantics, incl. consecutive image tokens and generated rows). */
#include "image-cache.h"
#include "safetensors.h"
#include "session.h"
#include "testing.h"

#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>
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

static uint8_t *make_ppm(int w, int h, int seed, size_t *n) {
    char head[64];
    int hn = snprintf(head, sizeof head, "P6\n%d %d\n255\n", w, h);
    size_t total = (size_t)hn + (size_t)w * h * 3;
    uint8_t *b = malloc(total);
    memcpy(b, head, (size_t)hn);
    for (int i = 0; i < w * h * 3; i++) b[hn + i] = (uint8_t)(i * 13 + seed * 71);
    *n = total;
    return b;
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
    uint8_t *img = make_ppm(20, 20, 1, &ni);
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
    char *man = llv_test_path(root, "manifest.jsonl");
    char *text = llv_test_read_file(man, NULL);
    char *tmp = llv_test_tmpdir();
    if (!text) {
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
        for (char *line = text; st == LLV_OK && line && *line;) {
            char *nl = strchr(line, '\n');
            if (nl) *nl = 0;
            cJSON *e = cJSON_Parse(line);
            const char *kind = cJSON_GetStringValue(cJSON_GetObjectItem(e, "kind"));
            const char *cfg = cJSON_GetStringValue(cJSON_GetObjectItem(e, "config"));
            if (kind && cfg && strcmp(kind, "model_case") == 0 && strcmp(cfg, configs[c]) == 0)
                golden_case(root, e, gguf);
            cJSON_Delete(e);
            if (nl) *nl = '\n';
            line = nl ? nl + 1 : NULL;
        }
        remove(gguf);
        free(gguf);
        free(dir);
        free(src);
    }
out:
    rmdir(tmp);
    free(tmp);
    free(text);
    free(man);
    free(root);
}

int main(int argc, char **argv) {
    llv_test_init(argc, argv);
    printf("system: %s\n", llv_system_info());
    test_hash();
    test_lru();
    test_golden();
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
        llv_model_free(m);
    }
    return llv_test_finish();
}
