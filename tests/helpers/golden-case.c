/* golden-case.c - reading the manifest and "model_case" data, and the greedy
 * decode loop that the text and end-to-end golden checkers (golden-text.c,
 * golden-e2e.c) and the unit tests that run them share. */
#include "golden/golden.h"

#include "testing.h"

#include <stdlib.h>
#include <string.h>

cJSON *golden_manifest(const char *root) {
    char *path = llv_test_path(root, "manifest.jsonl");
    char *text = path ? llv_test_read_file(path, NULL) : NULL;
    free(path);
    if (!text) return NULL;
    cJSON *all = cJSON_CreateArray();
    for (char *line = strtok(text, "\n"); all && line; line = strtok(NULL, "\n")) {
        cJSON *e = cJSON_Parse(line);
        if (e) cJSON_AddItemToArray(all, e);
    }
    free(text);
    return all;
}

float *golden_tensor_f32(const llv_st_tensor *t) {
    int64_t n = llv_st_numel(t);
    float *p = malloc((size_t)(n > 0 ? n : 1) * sizeof(float));
    if (!p) return NULL;
    for (int64_t i = 0; i < n; i++) p[i] = (float)llv_st_get_f64(t, i);
    return p;
}

float *golden_read_f32(const llv_st *st, const char *name, int64_t *n) {
    const llv_st_tensor *t = llv_st_find(st, name);
    if (!t) return NULL;
    float *p = golden_tensor_f32(t);
    if (p && n) *n = llv_st_numel(t);
    return p;
}

int64_t *golden_read_i64(const llv_st *st, const char *name, int64_t *n) {
    const llv_st_tensor *t = llv_st_find(st, name);
    if (!t) return NULL;
    int64_t k = llv_st_numel(t);
    int64_t *p = malloc((size_t)(k ? k : 1) * sizeof(int64_t));
    if (!p) return NULL;
    for (int64_t i = 0; i < k; i++) p[i] = llv_st_get_i64(t, i);
    if (n) *n = k;
    return p;
}

void golden_mask_rows(const int64_t *mask, int64_t T, int64_t M, int64_t MT, uint64_t *rows) {
    for (int64_t r = 0; r < T; r++)
        for (int64_t i = 0; i < M; i++)
            for (int64_t t = 0; t < MT; t++)
                if (mask[(r * M + i) * MT + t]) rows[r] |= (uint64_t)1 << i;
}

static int32_t argmax(const float *x, int32_t n) {
    int32_t best = 0;
    for (int32_t i = 1; i < n; i++)
        if (x[i] > x[best]) best = i; /* first index on ties, as torch.argmax */
    return best;
}

llv_status golden_greedy(const llv_model *m, llv_text_state *ts, llv_threadpool *pool, llv_cross_kv *const *kvs,
                         int32_t M, uint64_t last_row, const float *first, int32_t max_new, int64_t *gen,
                         float *gen_logits, int32_t *n_gen, llv_error *err) {
    const int32_t V = m->hp.n_vocab;
    memcpy(gen_logits, first, sizeof(float) * (size_t)V);
    *n_gen = 0;
    for (;;) {
        int32_t t = argmax(gen_logits + (size_t)*n_gen * V, V);
        gen[(*n_gen)++] = t;
        if (llv_token_is_eog(m, t) || *n_gen >= max_new) return LLV_OK;
        uint64_t last = last_row;
        llv_text_batch d = {.tokens = &t, .n = 1, .images = (const llv_cross_kv *const *)kvs, .n_images = M,
                            .row_images = &last, .logits = gen_logits + (size_t)*n_gen * V};
        llv_status s = llv_text_forward(m, ts, pool, &d, err);
        if (s != LLV_OK) return s;
    }
}
