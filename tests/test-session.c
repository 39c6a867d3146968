/* test-session.c - session internals: the image cache (hash, LRU, reference
 * counts) and the per-row image bitmask (HF get_cross_attention_token_mask
 * semantics, incl. consecutive image tokens and generated rows). */
#include "image-cache.h"
#include "session.h"
#include "testing.h"

#include <stdlib.h>
#include <string.h>

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

int main(int argc, char **argv) {
    llv_test_init(argc, argv);
    test_hash();
    test_lru();
    llv_error err;
    char *dir = llv_test_tmpdir();
    char *path = llv_test_path(dir, "tiny.gguf");
    free(dir);
    llv_synth_params sp = llv_synth_default_params();
    sp.preset = "tiny";
    llv_model *m = NULL;
    if (llv_synth(path, &sp, &err) == LLV_OK && llv_model_load(path, NULL, &m, &err) == LLV_OK) {
        test_masks(m);
        llv_model_free(m);
    } else {
        printf("no synthetic model (%s): mask tests skipped\n", err.message);
    }
    remove(path);
    free(path);
    return llv_test_finish();
}
