/* test-lora.c - LoRA adapters: PEFT conversion (names, GGUF layout, q/k row
 * permutation), loading checks (shapes, ranks, architecture), unmerged apply
 * vs weights merged offline (llv_lora_merge) and merged in HF space before
 * conversion, scale 0 = base exactly, per-session selection and switching
 * (text and image prompts). Models: llv-synth's tiny presets, F32. */
#include "gguf.h"
#include "llv-tools.h"
#include "lora.h"
#include "model.h"
#include "safetensors.h"
#include "testing.h"
#include "text.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char *g_dir;

static char *P(const char *rel) { return llv_test_path(g_dir, rel); }

/* A 32x24 24-bit BMP with a gradient and a square. */
static uint8_t *make_bmp(size_t *n) {
    enum { W = 32, H = 24, ROW = W * 3, DATA = ROW * H, SIZE = 54 + DATA };
    uint8_t *b = calloc(1, SIZE);
    if (!b) return NULL;
    b[0] = 'B', b[1] = 'M';
#define PUT32(o, v) (b[o] = (uint8_t)(v), b[o + 1] = (uint8_t)((v) >> 8), b[o + 2] = (uint8_t)((v) >> 16), b[o + 3] = (uint8_t)((v) >> 24))
    PUT32(2, SIZE);
    PUT32(10, 54);
    PUT32(14, 40);
    PUT32(18, W);
    PUT32(22, H);
    b[26] = 1;
    b[28] = 24;
    PUT32(34, DATA);
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++) {
            uint8_t *p = b + 54 + y * ROW + x * 3;
            bool sq = x >= 8 && x < 20 && y >= 6 && y < 16;
            p[0] = sq ? 200 : (uint8_t)(x * 7), p[1] = (uint8_t)(y * 9), p[2] = sq ? 30 : (uint8_t)(255 - x * 5);
        }
#undef PUT32
    *n = SIZE;
    return b;
}

typedef struct prompt {
    const char *text;
    bool        image;
} prompt;

/* Logits of the last row of `text` (raw mode) on a fresh session, adapter `lora`. */
static bool eval_logits(const llv_model *m, const char *lora, const prompt *pr, float *out) {
    llv_session_params sp = llv_session_default_params();
    sp.n_ctx = 256;
    sp.n_threads = 2;
    sp.kv_type = LLV_KV_F32;
    llv_session *s = NULL;
    llv_error err = {0};
    const float *lg = NULL;
    bool ok = llv_session_create(m, &sp, &s, &err) == LLV_OK;
    if (ok) ok = llv_session_set_lora(s, lora, &err) == LLV_OK;
    if (ok && pr->image) {
        size_t n = 0;
        uint8_t *bmp = make_bmp(&n);
        ok = bmp && llv_session_add_image(s, bmp, n, &err) == LLV_OK;
        free(bmp);
    }
    if (ok) ok = llv_session_add_raw(s, pr->text, &err) == LLV_OK;
    if (ok) ok = llv_session_eval(s, &lg, &err) == LLV_OK;
    if (ok) {
        llv_model_info info;
        llv_model_get_info(m, &info);
        memcpy(out, lg, (size_t)info.n_vocab * sizeof *out);
    } else {
        CHECK_MSG(false, "eval (lora %s): %s", lora ? lora : "none", err.message);
    }
    llv_session_free(s);
    return ok;
}

static double max_abs_diff(const float *a, const float *b, int n) {
    double m = 0;
    for (int i = 0; i < n; i++) m = fmax(m, fabs((double)a[i] - (double)b[i]));
    return m;
}

static const prompt prompts[] = {
    {"<|begin_of_text|>The quick brown fox jumps over the lazy dog. What is in the picture?", false},
    {"<|image|>Describe this image in two sentences.", true},
};

/* ------------------------------------------------------------------------- */
/* Fixtures                                                                  */
/* ------------------------------------------------------------------------- */

/* preset -> HF dir, base GGUF, PEFT dir, adapter GGUF (all F32) */
static bool make_fixture(const char *preset, int32_t rank, uint64_t seed, char **hf, char **gguf, char **peft,
                         char **ad) {
    char b[128];
    llv_error err = {0};
    snprintf(b, sizeof b, "%s-hf", preset);
    *hf = P(b);
    snprintf(b, sizeof b, "%s.gguf", preset);
    *gguf = P(b);
    snprintf(b, sizeof b, "%s-peft-r%d-s%llu", preset, rank, (unsigned long long)seed);
    *peft = P(b);
    snprintf(b, sizeof b, "%s-lora-r%d-s%llu.gguf", preset, rank, (unsigned long long)seed);
    *ad = P(b);
    struct stat sb;
    llv_convert_params cp = llv_convert_default_params();
    cp.type = LLV_TYPE_F32;
    if (stat(*gguf, &sb) != 0) {
        llv_synth_params sp = llv_synth_default_params();
        sp.preset = preset;
        sp.hf_dir = true;
        sp.type = LLV_TYPE_F32;
        CHECK_OK(llv_synth(*hf, &sp, &err), &err);
        CHECK_OK(llv_convert(*hf, *gguf, &cp, &err), &err);
    }
    CHECK_OK(llv_synth_lora(*peft, preset, rank, seed, &err), &err);
    /* base = NULL: the synth adapter directory carries the base config.json */
    CHECK_OK(llv_convert_lora(*peft, NULL, *ad, &cp, &err), &err);
    return stat(*ad, &sb) == 0;
}

static void free4(char *a, char *b, char *c, char *d) {
    free(a), free(b), free(c), free(d);
}

/* ------------------------------------------------------------------------- */
/* Safetensors writer (F32 only) for the HF-space merge                      */
/* ------------------------------------------------------------------------- */

typedef struct wt {
    char    name[160];
    int64_t shape[4];
    int     nd;
    float  *data; /* owned */
} wt;

static bool write_safetensors(const char *path, const wt *t, int n) {
    cJSON *h = cJSON_CreateObject();
    uint64_t off = 0;
    for (int i = 0; i < n; i++) {
        cJSON *e = cJSON_AddObjectToObject(h, t[i].name);
        cJSON_AddStringToObject(e, "dtype", "F32");
        cJSON *s = cJSON_AddArrayToObject(e, "shape");
        uint64_t ne = 1;
        for (int d = 0; d < t[i].nd; d++) {
            cJSON_AddItemToArray(s, cJSON_CreateNumber((double)t[i].shape[d]));
            ne *= (uint64_t)t[i].shape[d];
        }
        cJSON *o = cJSON_AddArrayToObject(e, "data_offsets");
        cJSON_AddItemToArray(o, cJSON_CreateNumber((double)off));
        off += ne * 4;
        cJSON_AddItemToArray(o, cJSON_CreateNumber((double)off));
    }
    char *js = cJSON_PrintUnformatted(h);
    cJSON_Delete(h);
    FILE *f = fopen(path, "wb");
    if (!f || !js) {
        if (f) fclose(f);
        cJSON_free(js);
        return false;
    }
    uint64_t hl = strlen(js);
    bool ok = fwrite(&hl, 8, 1, f) == 1 && fwrite(js, 1, hl, f) == hl;
    cJSON_free(js);
    for (int i = 0; ok && i < n; i++) {
        size_t ne = 1;
        for (int d = 0; d < t[i].nd; d++) ne *= (size_t)t[i].shape[d];
        ok = fwrite(t[i].data, 4, ne, f) == ne;
    }
    return (fclose(f) == 0) && ok;
}

static bool copy_file(const char *from, const char *to) {
    size_t n = 0;
    char *d = llv_test_read_file(from, &n);
    if (!d) return false;
    FILE *f = fopen(to, "wb");
    bool ok = f && fwrite(d, 1, n, f) == n;
    if (f) ok = (fclose(f) == 0) && ok;
    free(d);
    return ok;
}

/* Writes hf_out: hf_in with W + (alpha/r) B A merged in HF space. */
static bool merge_in_hf_space(const char *hf_in, const char *peft, const char *hf_out, double alpha) {
    llv_error err = {0};
    llv_st *base = NULL, *ad = NULL;
    char *bp = llv_test_path(hf_in, "model.safetensors"), *ap = llv_test_path(peft, "adapter_model.safetensors");
    bool ok = llv_st_open(bp, &base, &err) == LLV_OK && llv_st_open(ap, &ad, &err) == LLV_OK;
    CHECK_MSG(ok, "open safetensors: %s", err.message);
    free(bp);
    free(ap);
    int64_t n = ok ? llv_st_n_tensors(base) : 0;
    wt *t = calloc((size_t)n + 1, sizeof *t);
    int n_merged = 0;
    for (int64_t i = 0; ok && i < n; i++) {
        const llv_st_tensor *bt = llv_st_tensor_at(base, i);
        CHECK(bt->dtype == LLV_ST_F32 && bt->n_dims <= 4);
        int64_t ne = llv_st_numel(bt);
        snprintf(t[i].name, sizeof t[i].name, "%s", bt->name);
        t[i].nd = bt->n_dims;
        for (int d = 0; d < bt->n_dims; d++) t[i].shape[d] = bt->shape[d];
        t[i].data = malloc((size_t)ne * 4);
        memcpy(t[i].data, bt->data, (size_t)ne * 4);
        size_t nl = strlen(bt->name);
        if (nl < 8 || strcmp(bt->name + nl - 7, ".weight")) continue;
        char an[256], bn[256];
        snprintf(an, sizeof an, "base_model.model.%.*s.lora_A.weight", (int)(nl - 7), bt->name);
        snprintf(bn, sizeof bn, "base_model.model.%.*s.lora_B.weight", (int)(nl - 7), bt->name);
        const llv_st_tensor *A = llv_st_find(ad, an), *B = llv_st_find(ad, bn);
        if (!A || !B) continue;
        int64_t r = A->shape[0], in = A->shape[1], out = B->shape[0];
        CHECK(bt->shape[0] == out && bt->shape[1] == in && B->shape[1] == r);
        const float *a = A->data, *b = B->data;
        for (int64_t o = 0; o < out; o++)
            for (int64_t k = 0; k < in; k++) {
                double acc = 0;
                for (int64_t j = 0; j < r; j++) acc += (double)b[o * r + j] * (double)a[j * in + k];
                t[i].data[o * in + k] = (float)((double)t[i].data[o * in + k] + alpha / (double)r * acc);
            }
        n_merged++;
    }
    CHECK_MSG(n_merged > 0 && n_merged * 2 == (int)llv_st_n_tensors(ad), "merged %d of %lld adapter pairs", n_merged,
              (long long)(ad ? llv_st_n_tensors(ad) / 2 : 0));
    mkdir(hf_out, 0777);
    static const char *const files[] = {"config.json", "tokenizer.json", "tokenizer_config.json",
                                        "generation_config.json", "preprocessor_config.json"};
    for (size_t i = 0; ok && i < sizeof files / sizeof files[0]; i++) {
        char *from = llv_test_path(hf_in, files[i]), *to = llv_test_path(hf_out, files[i]);
        struct stat sb;
        if (stat(from, &sb) == 0) ok = copy_file(from, to);
        free(from);
        free(to);
    }
    char *op = llv_test_path(hf_out, "model.safetensors");
    if (ok) ok = write_safetensors(op, t, (int)n);
    free(op);
    for (int64_t i = 0; i < n; i++) free(t[i].data);
    free(t);
    llv_st_close(base);
    llv_st_close(ad);
    return ok;
}

/* ------------------------------------------------------------------------- */
/* Cases                                                                     */
/* ------------------------------------------------------------------------- */

static void test_layout(void) {
    char *hf, *gguf, *peft, *ad;
    if (!make_fixture("tiny", 4, 7, &hf, &gguf, &peft, &ad)) goto done;
    llv_error err = {0};
    llv_gguf *g = NULL;
    CHECK_OK(llv_gguf_open(ad, &g, &err), &err);
    if (!g) goto done;
    llv_gguf_str s;
    CHECK(llv_gguf_get_str(g, "general.type", &s, NULL) == LLV_OK && s.len == 7 && !memcmp(s.ptr, "adapter", 7));
    CHECK(llv_gguf_get_str(g, "adapter.type", &s, NULL) == LLV_OK && s.len == 4 && !memcmp(s.ptr, "lora", 4));
    CHECK(llv_gguf_get_str(g, "general.architecture", &s, NULL) == LLV_OK && s.len == 6 &&
          !memcmp(s.ptr, "mllama", 6));
    float alpha = 0;
    CHECK(llv_gguf_get_f32(g, "adapter.lora.alpha", &alpha, NULL) == LLV_OK && alpha == 8.0f);
    /* tiny: 5 layers (cross at 1 and 3) x 7 projections x (a, b) */
    CHECK_EQ_I(llv_gguf_n_tensors(g), 5 * 7 * 2);
    const llv_tensor *qa = llv_gguf_find_tensor(g, "blk.0.attn_q.weight.lora_a");
    const llv_tensor *qb = llv_gguf_find_tensor(g, "blk.0.attn_q.weight.lora_b");
    const llv_tensor *kb = llv_gguf_find_tensor(g, "blk.2.attn_k.weight.lora_b");
    const llv_tensor *cqb = llv_gguf_find_tensor(g, "blk.1.cross_attn_q_proj.weight.lora_b");
    const llv_tensor *dn = llv_gguf_find_tensor(g, "blk.3.ffn_down.weight.lora_a");
    CHECK(qa && qb && kb && cqb && dn);
    CHECK(!llv_gguf_find_tensor(g, "blk.1.attn_q.weight.lora_a")); /* cross layer */
    if (qa && qb && kb && cqb && dn) {
        CHECK(qa->ne[0] == 64 && qa->ne[1] == 4 && qa->type == LLV_TYPE_F32);
        CHECK(qb->ne[0] == 4 && qb->ne[1] == 64);
        CHECK(kb->ne[0] == 4 && kb->ne[1] == 32);
        CHECK(dn->ne[0] == 128 && dn->ne[1] == 4);
        /* row permutation: self q/k lora_b rows as the base converter permutes W, cross rows unchanged */
        llv_st *st = NULL;
        char *ap = llv_test_path(peft, "adapter_model.safetensors");
        CHECK_OK(llv_st_open(ap, &st, &err), &err);
        free(ap);
        const llv_st_tensor *hq = st ? llv_st_find(st, "base_model.model.language_model.model.layers.0.self_attn.q_proj.lora_B.weight") : NULL;
        const llv_st_tensor *hk = st ? llv_st_find(st, "base_model.model.language_model.model.layers.2.self_attn.k_proj.lora_B.weight") : NULL;
        const llv_st_tensor *hc = st ? llv_st_find(st, "base_model.model.language_model.model.layers.1.cross_attn.q_proj.lora_B.weight") : NULL;
        CHECK(hq && hk && hc);
        if (hq && hk && hc) {
            int bad = 0;
            const int hd = 16;
            for (int pass = 0; pass < 2; pass++) {
                const llv_st_tensor *h = pass ? hk : hq;
                const llv_tensor *o = pass ? kb : qb;
                for (int64_t row = 0; row < o->ne[1]; row++) {
                    int64_t hh = row / hd, q = row % hd, i = q / 2, j = q % 2, src = hh * hd + j * (hd / 2) + i;
                    bad += memcmp((const float *)o->data + row * 4, (const float *)h->data + src * 4, 16) != 0;
                }
            }
            bad += memcmp(cqb->data, hc->data, 64 * 4 * 4) != 0;
            CHECK_MSG(bad == 0, "q/k lora_b row order: %d rows differ from the expected permutation", bad);
        }
        llv_st_close(st);
    }
    llv_gguf_close(g);
done:
    free4(hf, gguf, peft, ad);
}

/* unmerged (registry) vs llv_lora_merge, text and image prompts; scale 0 = base */
static void test_merge_equivalence(void) {
    char *hf, *gguf, *peft, *ad;
    if (!make_fixture("tiny", 4, 7, &hf, &gguf, &peft, &ad)) goto done;
    llv_error err = {0};
    char *merged = P("tiny-merged-0.7.gguf");
    CHECK_OK(llv_lora_merge(gguf, ad, 0.7f, merged, &err), &err);
    llv_model *m = NULL, *mm = NULL;
    CHECK_OK(llv_model_load(gguf, NULL, &m, &err), &err);
    CHECK_OK(llv_model_load(merged, NULL, &mm, &err), &err);
    if (m && mm) {
        CHECK_OK(llv_model_lora_add(m, "a", ad, 0.7f, &err), &err);
        CHECK_OK(llv_model_lora_add(m, "zero", ad, 0.0f, &err), &err);
        CHECK_STATUS(llv_model_lora_add(m, "a", ad, 1.0f, &err), LLV_ERR_INVALID_ARGUMENT, &err);
        CHECK_STATUS(llv_model_lora_add(m, "", ad, 1.0f, &err), LLV_ERR_INVALID_ARGUMENT, &err);
        CHECK_STATUS(llv_model_lora_add(m, "nan", ad, NAN, &err), LLV_ERR_INVALID_ARGUMENT, &err);
        CHECK(llv_model_lora_name(m, 0) && !strcmp(llv_model_lora_name(m, 0), "a"));
        CHECK(llv_model_lora_name(m, 1) && !strcmp(llv_model_lora_name(m, 1), "zero"));
        CHECK(llv_model_lora_name(m, 2) == NULL);
        llv_model_info info;
        llv_model_get_info(m, &info);
        int V = info.n_vocab;
        float *base = malloc((size_t)V * 4), *un = malloc((size_t)V * 4), *me = malloc((size_t)V * 4),
              *zero = malloc((size_t)V * 4);
        for (size_t p = 0; p < sizeof prompts / sizeof prompts[0]; p++) {
            if (!eval_logits(m, NULL, &prompts[p], base) || !eval_logits(m, "a", &prompts[p], un) ||
                !eval_logits(mm, NULL, &prompts[p], me) || !eval_logits(m, "zero", &prompts[p], zero))
                continue;
            char what[96];
            snprintf(what, sizeof what, "unmerged vs merged, %s prompt", prompts[p].image ? "image" : "text");
            llv_check_close_f32(what, un, me, V, 1e-4, 0);
            double effect = max_abs_diff(un, base, V);
            printf("  %s prompt: adapter effect on logits max |d| = %.4g\n", prompts[p].image ? "image" : "text",
                   effect);
            CHECK_MSG(effect > 1e-2, "the adapter changes the logits (max |d| %.3g)", effect);
            CHECK_MSG(memcmp(zero, base, (size_t)V * 4) == 0, "scale 0 gives exactly the base logits (%s prompt)",
                      prompts[p].image ? "image" : "text");
        }
        free(base), free(un), free(me), free(zero);
    }
    llv_model_free(m);
    llv_model_free(mm);
    free(merged);
done:
    free4(hf, gguf, peft, ad);
}

/* PEFT -> llv_convert_lora -> apply  vs  merge in HF space -> llv_convert */
static void hf_space_case(const char *preset) {
    char *hf, *gguf, *peft, *ad;
    if (!make_fixture(preset, 8, 11, &hf, &gguf, &peft, &ad)) goto done;
    llv_error err = {0};
    char b[128];
    snprintf(b, sizeof b, "%s-hf-merged", preset);
    char *hfm = P(b);
    snprintf(b, sizeof b, "%s-hf-merged.gguf", preset);
    char *gm = P(b);
    llv_convert_params cp = llv_convert_default_params();
    cp.type = LLV_TYPE_F32;
    bool ok = merge_in_hf_space(hf, peft, hfm, 16.0 /* lora_alpha = 2r */);
    CHECK(ok);
    if (ok) CHECK_OK(llv_convert(hfm, gm, &cp, &err), &err);
    llv_model *m = NULL, *mm = NULL;
    CHECK_OK(llv_model_load(gguf, NULL, &m, &err), &err);
    CHECK_OK(llv_model_load(gm, NULL, &mm, &err), &err);
    if (m && mm) {
        CHECK_OK(llv_model_lora_add(m, "one", ad, 1.0f, &err), &err);
        llv_model_info info;
        llv_model_get_info(m, &info);
        int V = info.n_vocab;
        float *un = malloc((size_t)V * 4), *me = malloc((size_t)V * 4);
        for (size_t p = 0; p < sizeof prompts / sizeof prompts[0]; p++) {
            if (prompts[p].image && !info.has_vision) continue;
            if (!eval_logits(m, "one", &prompts[p], un) || !eval_logits(mm, NULL, &prompts[p], me)) continue;
            char what[128];
            snprintf(what, sizeof what, "%s: converted adapter vs HF-space merge, %s prompt", preset,
                     prompts[p].image ? "image" : "text");
            llv_check_close_f32(what, un, me, V, 1e-4, 0);
        }
        free(un), free(me);
    }
    llv_model_free(m);
    llv_model_free(mm);
    free(hfm);
    free(gm);
done:
    free4(hf, gguf, peft, ad);
}

/* one session switching adapters: results equal fresh sessions; unknown names */
static void test_session_switch(void) {
    char *hf, *gguf, *peft, *ad;
    if (!make_fixture("tiny", 4, 7, &hf, &gguf, &peft, &ad)) goto done;
    llv_error err = {0};
    llv_model *m = NULL;
    CHECK_OK(llv_model_load(gguf, NULL, &m, &err), &err);
    if (!m) goto done;
    CHECK_OK(llv_model_lora_add(m, "a", ad, 1.0f, &err), &err);
    llv_model_info info;
    llv_model_get_info(m, &info);
    int V = info.n_vocab;
    float *fa = malloc((size_t)V * 4), *fb = malloc((size_t)V * 4);
    const prompt *pr = &prompts[1]; /* image: K/V recomputed on a switch */
    eval_logits(m, "a", pr, fa);
    eval_logits(m, NULL, pr, fb);
    llv_session_params sp = llv_session_default_params();
    sp.n_ctx = 256;
    sp.n_threads = 2;
    sp.kv_type = LLV_KV_F32;
    llv_session *s = NULL;
    CHECK_OK(llv_session_create(m, &sp, &s, &err), &err);
    if (s) {
        size_t n = 0;
        uint8_t *bmp = make_bmp(&n);
        const float *lg = NULL;
        CHECK_OK(llv_session_add_image(s, bmp, n, &err), &err);
        CHECK_OK(llv_session_add_raw(s, pr->text, &err), &err);
        free(bmp);
        CHECK_OK(llv_session_eval(s, &lg, &err), &err);
        CHECK_MSG(lg && memcmp(lg, fb, (size_t)V * 4) == 0, "no adapter: equals a fresh session");
        CHECK_OK(llv_session_set_lora(s, "a", &err), &err);
        CHECK_OK(llv_session_eval(s, &lg, &err), &err);
        CHECK_MSG(lg && memcmp(lg, fa, (size_t)V * 4) == 0, "switch to 'a': equals a fresh session with 'a'");
        CHECK_STATUS(llv_session_set_lora(s, "nope", &err), LLV_ERR_NOT_FOUND, &err);
        CHECK_MSG(strstr(err.message, "'nope'") != NULL, "message names the adapter: %s", err.message);
        CHECK_OK(llv_session_eval(s, &lg, &err), &err); /* selection unchanged */
        CHECK_MSG(lg && memcmp(lg, fa, (size_t)V * 4) == 0, "failed selection keeps 'a'");
        CHECK_OK(llv_session_set_lora(s, "", &err), &err);
        CHECK_OK(llv_session_eval(s, &lg, &err), &err);
        CHECK_MSG(lg && memcmp(lg, fb, (size_t)V * 4) == 0, "back to the base model");
        /* generate selects params.lora; unknown names fail before anything runs */
        llv_sampling_params gp = llv_sampling_default_params();
        gp.temperature = 0;
        gp.max_tokens = 3;
        gp.lora = "missing";
        llv_result r;
        CHECK_STATUS(llv_session_generate(s, &gp, NULL, NULL, &r, &err), LLV_ERR_NOT_FOUND, &err);
        CHECK_MSG(strstr(err.message, "'missing'") != NULL, "message names the adapter: %s", err.message);
        size_t nt = 0;
        llv_session_tokens(s, &nt);
        gp.lora = "a";
        CHECK_OK(llv_session_generate(s, &gp, NULL, NULL, &r, &err), &err);
        CHECK(r.completion_tokens >= 1);
        llv_result_free(&r);
        llv_session_free(s);
    }
    /* an image encoded before any adapter existed cannot be switched */
    llv_model *m2 = NULL;
    CHECK_OK(llv_model_load(gguf, NULL, &m2, &err), &err);
    if (m2) {
        CHECK_OK(llv_session_create(m2, &sp, &s, &err), &err);
        size_t n = 0;
        uint8_t *bmp = make_bmp(&n);
        const float *lg = NULL;
        CHECK_OK(llv_session_add_image(s, bmp, n, &err), &err);
        CHECK_OK(llv_session_add_raw(s, pr->text, &err), &err);
        free(bmp);
        CHECK_OK(llv_session_eval(s, &lg, &err), &err);
        CHECK_OK(llv_model_lora_add(m2, "late", ad, 1.0f, &err), &err);
        CHECK_OK(llv_session_set_lora(s, "late", &err), &err);
        CHECK_STATUS(llv_session_eval(s, &lg, &err), LLV_ERR_STATE, &err);
        llv_session_reset(s); /* a reset conversation works with the adapter */
        bmp = make_bmp(&n);
        CHECK_OK(llv_session_add_image(s, bmp, n, &err), &err);
        free(bmp);
        CHECK_OK(llv_session_add_raw(s, pr->text, &err), &err);
        CHECK_OK(llv_session_eval(s, &lg, &err), &err);
        CHECK_MSG(lg && memcmp(lg, fa, (size_t)V * 4) == 0, "after reset: equals a fresh session with the adapter");
        llv_session_free(s);
        llv_model_free(m2);
    }
    free(fa), free(fb);
    llv_model_free(m);
done:
    free4(hf, gguf, peft, ad);
}

/* Copies a PEFT dir with tensor names' prefix `from` replaced by `to`; extra:
 * one more (vision-tower) tensor. */
static bool rewrite_peft(const char *src, const char *dst, const char *from, const char *to, bool extra) {
    llv_error err = {0};
    llv_st *st = NULL;
    char *ap = llv_test_path(src, "adapter_model.safetensors");
    bool ok = llv_st_open(ap, &st, &err) == LLV_OK;
    free(ap);
    if (!ok) return false;
    int64_t n = llv_st_n_tensors(st);
    wt *t = calloc((size_t)n + 1, sizeof *t);
    for (int64_t i = 0; i < n; i++) {
        const llv_st_tensor *x = llv_st_tensor_at(st, i);
        size_t fl = strlen(from);
        ok &= !strncmp(x->name, from, fl);
        snprintf(t[i].name, sizeof t[i].name, "%s%s", to, x->name + fl);
        t[i].nd = 2;
        t[i].shape[0] = x->shape[0], t[i].shape[1] = x->shape[1];
        t[i].data = malloc(x->nbytes);
        memcpy(t[i].data, x->data, x->nbytes);
    }
    if (extra) {
        snprintf(t[n].name, sizeof t[n].name, "base_model.model.vision_model.transformer.layers.0.self_attn.q_proj.lora_A.weight");
        t[n].nd = 2;
        t[n].shape[0] = 4, t[n].shape[1] = 32;
        t[n].data = calloc(128, 4);
    }
    mkdir(dst, 0777);
    char *op = llv_test_path(dst, "adapter_model.safetensors");
    ok = ok && write_safetensors(op, t, (int)n + extra);
    free(op);
    for (int64_t i = 0; i <= n; i++) free(t[i].data);
    free(t);
    llv_st_close(st);
    static const char *const files[] = {"adapter_config.json", "config.json"};
    for (int i = 0; ok && i < 2; i++) {
        char *a = llv_test_path(src, files[i]), *b = llv_test_path(dst, files[i]);
        ok = copy_file(a, b);
        free(a), free(b);
    }
    return ok;
}

static bool same_gguf_tensors(const char *a, const char *b) {
    llv_gguf *ga = NULL, *gb = NULL;
    bool ok = llv_gguf_open(a, &ga, NULL) == LLV_OK && llv_gguf_open(b, &gb, NULL) == LLV_OK &&
              llv_gguf_n_tensors(ga) == llv_gguf_n_tensors(gb);
    for (int64_t i = 0; ok && i < llv_gguf_n_tensors(ga); i++) {
        const llv_tensor *x = llv_gguf_tensor(ga, i), *y = llv_gguf_find_tensor(gb, x->name);
        ok = y && x->nbytes == y->nbytes && !memcmp(x->data, y->data, x->nbytes);
    }
    llv_gguf_close(ga);
    llv_gguf_close(gb);
    return ok;
}

/* the other PEFT spellings convert to the same tensors; vision-tower tensors are refused */
static void test_spellings(void) {
    char *hf, *gguf, *peft, *ad;
    if (!make_fixture("tiny", 4, 7, &hf, &gguf, &peft, &ad)) goto done;
    llv_error err = {0};
    llv_convert_params cp = llv_convert_default_params();
    cp.type = LLV_TYPE_F32;
    static const char *const to[] = {"base_model.model.model.language_model.layers.", "model.language_model.layers.",
                                     "language_model.model.layers."};
    for (int i = 0; i < 3; i++) {
        char d[64], o[64];
        snprintf(d, sizeof d, "spell-%d", i);
        snprintf(o, sizeof o, "spell-%d.gguf", i);
        char *dp = P(d), *op = P(o);
        CHECK(rewrite_peft(peft, dp, "base_model.model.language_model.model.layers.", to[i], false));
        CHECK_OK(llv_convert_lora(dp, NULL, op, &cp, &err), &err);
        CHECK_MSG(same_gguf_tensors(ad, op), "spelling '%s' converts to the same adapter", to[i]);
        free(dp), free(op);
    }
    char *dp = P("spell-vision"), *op = P("spell-vision.gguf");
    CHECK(rewrite_peft(peft, dp, "base_model.model.", "base_model.model.", true));
    CHECK_STATUS(llv_convert_lora(dp, NULL, op, &cp, &err), LLV_ERR_UNSUPPORTED, &err);
    CHECK_MSG(strstr(err.message, "vision_model.transformer.layers.0.self_attn.q_proj.lora_A") != NULL,
              "names the tensor: %s", err.message);
    free(dp), free(op);
done:
    free4(hf, gguf, peft, ad);
}

/* F16/BF16 adapters and a quantized base: the adapter's contribution matches the F32 path */
static void test_types(void) {
    char *hf, *gguf, *peft, *ad;
    if (!make_fixture("tiny", 4, 7, &hf, &gguf, &peft, &ad)) goto done;
    llv_error err = {0};
    char *a16 = P("tiny-lora-f16.gguf"), *abf = P("tiny-lora-bf16.gguf"), *q8 = P("tiny-q8_0.gguf");
    llv_convert_params cp = llv_convert_default_params();
    cp.type = LLV_TYPE_F16;
    CHECK_OK(llv_convert_lora(peft, NULL, a16, &cp, &err), &err);
    cp.type = LLV_TYPE_BF16;
    CHECK_OK(llv_convert_lora(peft, NULL, abf, &cp, &err), &err);
    CHECK_OK(llv_quantize(gguf, q8, LLV_TYPE_Q8_0, NULL, &err), &err);
    llv_model *m = NULL, *mq = NULL;
    CHECK_OK(llv_model_load(gguf, NULL, &m, &err), &err);
    CHECK_OK(llv_model_load(q8, NULL, &mq, &err), &err);
    if (m && mq) {
        CHECK_OK(llv_model_lora_add(m, "f32", ad, 1.0f, &err), &err);
        CHECK_OK(llv_model_lora_add(m, "f16", a16, 1.0f, &err), &err);
        CHECK_OK(llv_model_lora_add(m, "bf16", abf, 1.0f, &err), &err);
        CHECK_OK(llv_model_lora_add(mq, "f32", ad, 1.0f, &err), &err);
        llv_model_info info;
        llv_model_get_info(m, &info);
        int V = info.n_vocab;
        float *x = malloc((size_t)V * 4), *y = malloc((size_t)V * 4), *qb = malloc((size_t)V * 4),
              *qa = malloc((size_t)V * 4), *b = malloc((size_t)V * 4);
        const prompt *pr = &prompts[1];
        if (eval_logits(m, "f32", pr, x) && eval_logits(m, "f16", pr, y))
            printf("  f16 adapter vs f32 adapter: max |d| = %.3g\n", max_abs_diff(x, y, V)),
                CHECK(max_abs_diff(x, y, V) < 0.05);
        if (eval_logits(m, "bf16", pr, y))
            printf("  bf16 adapter vs f32 adapter: max |d| = %.3g\n", max_abs_diff(x, y, V)),
                CHECK(max_abs_diff(x, y, V) < 0.5);
        /* q8_0 base: the adapter moves the logits as it moves the f32 model's */
        if (eval_logits(mq, NULL, pr, qb) && eval_logits(mq, "f32", pr, qa) && eval_logits(m, NULL, pr, b)) {
            double d = 0, e = 0;
            for (int i = 0; i < V; i++) {
                d = fmax(d, fabs((double)(qa[i] - qb[i]) - (double)(x[i] - b[i])));
                e = fmax(e, fabs((double)(x[i] - b[i])));
            }
            printf("  q8_0 base: adapter effect %.3g, differs from the f32 effect by %.3g\n", e, d);
            CHECK(d < 0.1 * e);
        }
        free(x), free(y), free(qb), free(qa), free(b);
        /* merging into a quantized base is refused, naming the tensor */
        char *o = P("q8-merged.gguf");
        CHECK_STATUS(llv_lora_merge(q8, ad, 1.0f, o, &err), LLV_ERR_UNSUPPORTED, &err);
        CHECK_MSG(strstr(err.message, "blk.") != NULL, "names the tensor: %s", err.message);
        free(o);
    }
    llv_model_free(m);
    llv_model_free(mq);
    free(a16), free(abf), free(q8);
done:
    free4(hf, gguf, peft, ad);
}

static bool write_text_file(const char *path, const char *text) {
    FILE *f = fopen(path, "wb");
    if (!f) return false;
    bool ok = fputs(text, f) >= 0;
    return (fclose(f) == 0) && ok;
}

/* adapter_config.json: rsLoRA folded into alpha, default alpha, refused options */
static void test_config(void) {
    char *hf, *gguf, *peft, *ad;
    if (!make_fixture("tiny", 4, 7, &hf, &gguf, &peft, &ad)) goto done;
    llv_error err = {0};
    llv_convert_params cp = llv_convert_default_params();
    cp.type = LLV_TYPE_F32;
    char *dp = P("cfg"), *op = P("cfg.gguf"), *cfg = NULL;
    CHECK(rewrite_peft(peft, dp, "base_model.model.", "base_model.model.", false));
    cfg = llv_test_path(dp, "adapter_config.json");
    static const struct {
        const char *json;
        llv_status  want;
        float       alpha;
        const char *says;
    } cases[] = {
        {"{\"peft_type\": \"LORA\", \"r\": 4, \"lora_alpha\": 8, \"use_rslora\": true}", LLV_OK, 16.0f, NULL},
        {"{\"peft_type\": \"LORA\", \"r\": 4}", LLV_OK, 8.0f, NULL},
        {"{\"peft_type\": \"LORA\", \"r\": 4, \"lora_alpha\": 8, \"use_dora\": true}", LLV_ERR_UNSUPPORTED, 0, "use_dora"},
        {"{\"peft_type\": \"LORA\", \"r\": 4, \"lora_alpha\": 8, \"bias\": \"all\"}", LLV_ERR_UNSUPPORTED, 0, "bias"},
        {"{\"peft_type\": \"LORA\", \"r\": 4, \"alpha_pattern\": {\"q_proj\": 3}}", LLV_ERR_UNSUPPORTED, 0, "alpha_pattern"},
        {"{\"peft_type\": \"IA3\", \"r\": 4}", LLV_ERR_UNSUPPORTED, 0, "IA3"},
        {"{\"peft_type\": \"LORA\", \"r\": 0}", LLV_ERR_FORMAT, 0, "'r'"},
        {"[1, 2]", LLV_ERR_FORMAT, 0, "adapter_config.json"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        CHECK(write_text_file(cfg, cases[i].json));
        CHECK_STATUS(llv_convert_lora(dp, NULL, op, &cp, &err), cases[i].want, &err);
        if (cases[i].says)
            CHECK_MSG(strstr(err.message, cases[i].says) != NULL, "case %zu names '%s': %s", i, cases[i].says,
                      err.message);
        if (cases[i].want == LLV_OK) {
            llv_gguf *g = NULL;
            float alpha = 0;
            CHECK_OK(llv_gguf_open(op, &g, &err), &err);
            CHECK(g && llv_gguf_get_f32(g, "adapter.lora.alpha", &alpha, NULL) == LLV_OK);
            CHECK_CLOSE(alpha, cases[i].alpha, 1e-5);
            llv_gguf_close(g);
        }
    }
    free(dp), free(op), free(cfg);
done:
    free4(hf, gguf, peft, ad);
}

/* hostile adapter files: byte mutations of the header and metadata never crash,
 * and a refused file leaves the registry unchanged */
static void test_mutations(void) {
    char *hf, *gguf, *peft, *ad;
    if (!make_fixture("tiny", 4, 7, &hf, &gguf, &peft, &ad)) goto done;
    llv_error err = {0};
    size_t n = 0;
    char *orig = llv_test_read_file(ad, &n);
    llv_model *m = NULL;
    CHECK_OK(llv_model_load(gguf, NULL, &m, &err), &err);
    char *mp = P("mutant.gguf");
    uint64_t rng = 0x1234567;
    int loaded = 0, refused = 0, unchanged = 1;
    size_t head = n < 6000 ? n : 6000; /* header, KVs and tensor infos */
    for (int it = 0; orig && m && it < 300; it++) {
        char *buf = malloc(n);
        memcpy(buf, orig, n);
        int k = 1 + it % 4;
        for (int j = 0; j < k; j++) {
            rng = rng * 6364136223846793005ull + 1442695040888963407ull;
            size_t pos = (size_t)(rng >> 33) % head;
            buf[pos] = (char)(rng >> 20);
        }
        FILE *f = fopen(mp, "wb");
        if (f) {
            fwrite(buf, 1, n, f);
            fclose(f);
        }
        free(buf);
        char name[32];
        snprintf(name, sizeof name, "m%d", it);
        size_t before = 0;
        while (llv_model_lora_name(m, before)) before++;
        if (llv_model_lora_add(m, name, mp, 1.0f, &err) == LLV_OK) {
            loaded++;
        } else {
            refused++;
            size_t after = 0;
            while (llv_model_lora_name(m, after)) after++;
            unchanged &= after == before && err.message[0] != 0;
        }
    }
    printf("  mutated adapters: %d loaded, %d refused\n", loaded, refused);
    CHECK(refused > 0 && unchanged);
    /* the loaded ones still run (their values may be garbage, the shapes are checked) */
    if (m && loaded) {
        llv_model_info info;
        llv_model_get_info(m, &info);
        float *x = malloc((size_t)info.n_vocab * 4);
        eval_logits(m, llv_model_lora_name(m, 0), &prompts[0], x);
        free(x);
    }
    llv_model_free(m);
    free(orig);
    free(mp);
done:
    free4(hf, gguf, peft, ad);
}

typedef struct thr_arg {
    const llv_model *m;
    const char      *lora;
    const prompt    *pr;
    float           *out;
    bool             ok;
} thr_arg;

static void *thr_main(void *p) {
    thr_arg *a = p;
    a->ok = true;
    for (int rep = 0; rep < 3 && a->ok; rep++) a->ok = eval_logits(a->m, a->lora, a->pr, a->out);
    return NULL;
}

/* two sessions on one model, different adapters, at the same time */
static void test_concurrent(void) {
    char *hf, *gguf, *peft, *ad;
    if (!make_fixture("tiny", 4, 7, &hf, &gguf, &peft, &ad)) goto done;
    llv_error err = {0};
    llv_model *m = NULL;
    CHECK_OK(llv_model_load(gguf, NULL, &m, &err), &err);
    if (m) {
        CHECK_OK(llv_model_lora_add(m, "a", ad, 1.0f, &err), &err);
        CHECK_OK(llv_model_lora_add(m, "b", ad, -0.5f, &err), &err);
        llv_model_info info;
        llv_model_get_info(m, &info);
        size_t V = (size_t)info.n_vocab;
        const char *names[3] = {"a", NULL, "b"};
        float *ser[3], *par[3];
        thr_arg args[3];
        pthread_t th[3];
        for (int i = 0; i < 3; i++) {
            ser[i] = malloc(V * 4), par[i] = malloc(V * 4);
            eval_logits(m, names[i], &prompts[1], ser[i]);
            args[i] = (thr_arg){.m = m, .lora = names[i], .pr = &prompts[1], .out = par[i]};
        }
        for (int i = 0; i < 3; i++) pthread_create(&th[i], NULL, thr_main, &args[i]);
        for (int i = 0; i < 3; i++) pthread_join(th[i], NULL);
        for (int i = 0; i < 3; i++) {
            CHECK(args[i].ok);
            CHECK_MSG(memcmp(ser[i], par[i], V * 4) == 0, "adapter %s: concurrent sessions equal a lone session",
                      names[i] ? names[i] : "none");
            free(ser[i]), free(par[i]);
        }
        llv_model_free(m);
    }
done:
    free4(hf, gguf, peft, ad);
}

/* shapes, ranks, architecture, names, missing partners, conversion checks */
static void test_errors(void) {
    char *hf, *gguf, *peft, *ad;
    char *hf2, *gguf2, *peft2, *ad2;
    char *hf3, *gguf3, *peft3, *ad3;
    if (!make_fixture("tiny", 4, 7, &hf, &gguf, &peft, &ad)) goto done;
    if (!make_fixture("demo", 4, 3, &hf2, &gguf2, &peft2, &ad2)) goto done2;
    if (!make_fixture("llama-tiny", 4, 5, &hf3, &gguf3, &peft3, &ad3)) goto done3;
    llv_error err = {0};
    llv_model *m = NULL;
    CHECK_OK(llv_model_load(gguf, NULL, &m, &err), &err);
    if (m) {
        /* demo adapter on tiny: shapes differ (n_embd 96 vs 64) */
        CHECK_STATUS(llv_model_lora_add(m, "demo", ad2, 1.0f, &err), LLV_ERR_FORMAT, &err);
        CHECK_MSG(strstr(err.message, ".lora_a") && strstr(err.message, "expected"), "names the tensor: %s",
                  err.message);
        /* llama adapter on mllama: refused */
        CHECK_STATUS(llv_model_lora_add(m, "llama", ad3, 1.0f, &err), LLV_ERR_UNSUPPORTED, &err);
        CHECK_MSG(strstr(err.message, "llama") != NULL, "names the architecture: %s", err.message);
        /* a model file is not an adapter */
        CHECK_STATUS(llv_model_lora_add(m, "base", gguf, 1.0f, &err), LLV_ERR_FORMAT, &err);
        CHECK_STATUS(llv_model_lora_add(m, "none", "/nonexistent/x.gguf", 1.0f, &err), LLV_ERR_IO, &err);
        CHECK(llv_model_lora_name(m, 0) == NULL); /* registry unchanged */
        /* text.c refuses an adapter bound to another model */
        llv_model *m2 = NULL;
        CHECK_OK(llv_model_load(gguf, NULL, &m2, &err), &err);
        CHECK_OK(m2 ? llv_model_lora_add(m2, "other", ad, 1.0f, &err) : LLV_ERR_INTERNAL, &err);
        llv_text_state *ts = NULL;
        CHECK_OK(llv_text_state_create(m, 16, 16, LLV_KV_F32, &ts, &err), &err);
        const llv_lora *foreign = llv_model_lora_find(m2, "other");
        if (ts && foreign) {
            int32_t tok = 5;
            llv_text_batch b = {.tokens = &tok, .n = 1, .lora = foreign};
            CHECK_STATUS(llv_text_forward(m, ts, NULL, &b, &err), LLV_ERR_INVALID_ARGUMENT, &err);
        }
        llv_text_state_free(ts);
        llv_model_free(m2);
        llv_model_free(m);
    }
    /* rank mismatch inside a pair / a missing partner: hand-made GGUF adapters from the good one */
    {
        llv_gguf *g = NULL;
        CHECK_OK(llv_gguf_open(ad, &g, &err), &err);
        for (int variant = 0; g && variant < 3; variant++) {
            llv_gguf_writer *w = NULL;
            char name[64];
            snprintf(name, sizeof name, "bad-%d.gguf", variant);
            char *bp = P(name);
            CHECK_OK(llv_gguf_writer_create(&w, &err), &err);
            CHECK_OK(llv_gguf_copy_kvs(w, g, &err), &err);
            const llv_tensor *skip = llv_gguf_find_tensor(g, "blk.4.ffn_up.weight.lora_b");
            for (int64_t i = 0; i < llv_gguf_n_tensors(g); i++) {
                const llv_tensor *t = llv_gguf_tensor(g, i);
                if (variant == 1 && t == skip) continue;
                int64_t ne[2] = {t->ne[0], t->ne[1]};
                char tn[128];
                snprintf(tn, sizeof tn, "%s", t->name);
                if (variant == 0 && t == skip) ne[0] = 2, ne[1] = t->ne[1] * 2; /* rank 2 vs lora_a's 4 */
                if (variant == 2 && t == skip) snprintf(tn, sizeof tn, "blk.4.ffn_up.weight.lora_c");
                CHECK_OK(llv_gguf_add_tensor(w, tn, t->type, 2, ne, &err), &err);
            }
            CHECK_OK(llv_gguf_writer_begin(w, bp, &err), &err);
            for (int64_t i = 0; i < llv_gguf_n_tensors(g); i++) {
                const llv_tensor *t = llv_gguf_tensor(g, i);
                if (variant == 1 && t == skip) continue;
                CHECK_OK(llv_gguf_writer_write(w, t->data, t->nbytes, &err), &err);
            }
            CHECK_OK(llv_gguf_writer_finish(w, &err), &err);
            llv_gguf_writer_free(w);
            llv_model *mm = NULL;
            CHECK_OK(llv_model_load(gguf, NULL, &mm, &err), &err);
            if (mm) {
                llv_status want = variant == 0 ? LLV_ERR_FORMAT : LLV_ERR_NOT_FOUND;
                CHECK_STATUS(llv_model_lora_add(mm, "bad", bp, 1.0f, &err), want, &err);
                CHECK_MSG(strstr(err.message, "blk.4.ffn_up.weight") != NULL, "variant %d names the tensor: %s",
                          variant, err.message);
                printf("  bad adapter %d: %s\n", variant, err.message);
                llv_model_free(mm);
            }
            free(bp);
        }
        llv_gguf_close(g);
    }
    /* conversion against the wrong base: shapes checked, tensor named */
    {
        char *o = P("wrong-base.gguf");
        llv_convert_params cp = llv_convert_default_params();
        CHECK_STATUS(llv_convert_lora(peft2, hf, o, &cp, &err), LLV_ERR_FORMAT, &err);
        CHECK_MSG(strstr(err.message, "lora_") && strstr(err.message, "expected"), "names the tensor: %s",
                  err.message);
        /* the llama adapter converted for an mllama base: names do not fit */
        CHECK_STATUS(llv_convert_lora(peft3, gguf, o, &cp, &err), LLV_ERR_UNSUPPORTED, &err);
        CHECK_MSG(strstr(err.message, "base_model.model.model.layers.") != NULL, "names the tensor: %s", err.message);
        /* no base anywhere */
        char *cfg = llv_test_path(peft, "config.json");
        unlink(cfg);
        CHECK_STATUS(llv_convert_lora(peft, NULL, o, &cp, &err), LLV_ERR_NOT_FOUND, &err);
        CHECK_OK(llv_convert_lora(peft, hf, o, &cp, &err), &err); /* explicit HF base */
        CHECK_OK(llv_convert_lora(peft, gguf, o, &cp, &err), &err); /* explicit GGUF base */
        free(cfg);
        free(o);
    }
    free4(hf3, gguf3, peft3, ad3);
done3:
    free4(hf2, gguf2, peft2, ad2);
done2:
done:
    free4(hf, gguf, peft, ad);
}

int main(int argc, char **argv) {
    llv_test_init(argc, argv);
    g_dir = llv_test_tmpdir();
    if (!g_dir) llv_test_skip("no temporary directory");
    if (llv_test_case("layout")) test_layout();
    if (llv_test_case("merge")) test_merge_equivalence();
    if (llv_test_case("hf-space")) {
        hf_space_case("tiny");
        hf_space_case("llama-tiny");
    }
    if (llv_test_case("session")) test_session_switch();
    if (llv_test_case("errors")) test_errors();
    if (llv_test_case("spellings")) test_spellings();
    if (llv_test_case("concurrent")) test_concurrent();
    if (llv_test_case("types")) test_types();
    if (llv_test_case("config")) test_config();
    if (llv_test_case("mutations")) test_mutations();
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_dir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", g_dir);
    free(g_dir);
    return llv_test_finish();
}
