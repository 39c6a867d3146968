/* golden-e2e.c - end to end checks of "model_case" entries: from the case's
 * image files (models/<config>/<images[i].file>) through llv's own decoding,
 * preprocessing, vision encoder, projector and cross K/V, with the
 * cross-attention rows derived from the case's input_ids exactly as HF's
 * MllamaProcessor does (mllama-reference.md section 4), to the logits of every
 * row, greedy generation with the KV cache and its logits. Nothing of HF's
 * intermediate tensors is fed in: only input_ids and the image files.
 *
 * Then the same prompt through the PUBLIC session API (llv.h): images queued
 * with llv_session_add_image, tokens with llv_session_add_tokens, the last
 * row's logits from llv_session_eval and greedy tokens from
 * llv_session_generate (temperature 0). Text-only cases run only that part.
 *
 * Quantities: e2e.cross_attention_mask, e2e.gen.cross_attention_mask,
 * e2e.logits, e2e.gen.logits, e2e.gen.new_tokens, e2e.session.row_images,
 * e2e.session.last_logits, e2e.session.gen.new_tokens. */
#include "golden.h"

#include "image.h"
#include "model.h"
#include "safetensors.h"
#include "session.h"
#include "testing.h"
#include "text.h"
#include "threadpool.h"
#include "vision.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define E2E_MAX_IMAGES 64 /* the text decoder's row bitmask is 64 bits */

int golden_check_e2e_case(golden_ctx *ctx, const cJSON *entry, llv_model *m);

/* ------------------------------------------------------------------------- */
/* HF's processor: get_cross_attention_token_mask +                          */
/* convert_sparse_cross_attention_mask_to_dense                              */
/* ------------------------------------------------------------------------- */

/* [start, end) rows of each image token of ids (end exclusive, already
 * resolved: HF's -1 = to the end becomes T). Returns the number of image
 * tokens (which may exceed cap; only cap ranges are written). */
static int64_t cross_token_ranges(const int32_t *ids, int64_t T, int32_t image_id, int64_t (*rng)[2], int64_t cap) {
    int64_t n = 0;
    for (int64_t i = 0; i < T; i++)
        if (ids[i] == image_id) {
            if (n < cap) rng[n][0] = i;
            n++;
        }
    if (n == 0 || n > cap) return n;
    if (n == 1) { /* [[p, -1]] */
        rng[0][1] = T;
        return 1;
    }
    for (int64_t i = 0; i + 1 < n; i++) rng[i][1] = rng[i + 1][0];
    rng[n - 1][1] = T;
    /* scanning backwards, an image immediately followed by another image
     * token takes the end of the next range: consecutive images all attend to
     * the text after the run */
    int64_t last_end = rng[n - 1][1];
    for (int64_t i = n - 1; i >= 0; i--) {
        if (rng[i][0] == rng[i][1] - 1) rng[i][1] = last_end;
        last_end = rng[i][1];
    }
    return n;
}

/* Dense int64 mask [T, M, max_tiles]: mask[start:end, i, :num_tiles[i]] = 1. */
static void dense_cross_mask(const int64_t (*rng)[2], int64_t M, const int32_t *num_tiles, int64_t T,
                             int64_t max_tiles, int64_t *mask) {
    memset(mask, 0, sizeof(int64_t) * (size_t)(T * M * max_tiles));
    for (int64_t i = 0; i < M; i++) {
        int64_t start = rng[i][0], end = rng[i][1] < T ? rng[i][1] : T;
        int64_t nt = num_tiles[i] < max_tiles ? num_tiles[i] : max_tiles;
        for (int64_t r = start; r < end; r++)
            for (int64_t t = 0; t < nt; t++) mask[(r * M + i) * max_tiles + t] = 1;
    }
}

/* ------------------------------------------------------------------------- */
/* small helpers                                                             */
/* ------------------------------------------------------------------------- */

/* generation_config.json's max_new_tokens of the case's model (8 when absent). */
static int32_t max_new_tokens(const golden_ctx *ctx, const char *config) {
    char rel[512];
    snprintf(rel, sizeof rel, "models/%s/generation_config.json", config);
    char *path = golden_path(ctx, rel);
    char *text = path ? llv_test_read_file(path, NULL) : NULL;
    free(path);
    int32_t n = 8;
    cJSON *j = text ? cJSON_Parse(text) : NULL;
    const cJSON *v = j ? cJSON_GetObjectItemCaseSensitive(j, "max_new_tokens") : NULL;
    if (cJSON_IsNumber(v) && v->valueint > 0 && v->valueint <= 4096) n = v->valueint;
    cJSON_Delete(j);
    free(text);
    return n;
}

/* Bytes of the case's i-th image file (malloc'd), or NULL. */
static char *image_bytes(const golden_ctx *ctx, const char *config, const cJSON *imgs, int i, size_t *n) {
    const cJSON *file = cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(imgs, i), "file");
    if (!cJSON_IsString(file)) return NULL;
    char rel[1024];
    snprintf(rel, sizeof rel, "models/%s/%s", config, file->valuestring);
    char *path = golden_path(ctx, rel);
    char *b = path ? llv_test_read_file(path, n) : NULL;
    free(path);
    return b;
}

/* ------------------------------------------------------------------------- */
/* the public session path                                                   */
/* ------------------------------------------------------------------------- */

/* Queues the case's images, adds input_ids (image tokens included) and
 * compares the last row's logits, the row masks and the greedy tokens. */
static void check_session(golden_ctx *ctx, const char *name, const cJSON *imgs, const char *config,
                          const llv_model *m, const int32_t *ids, int64_t T, const uint64_t *rows,
                          const float *ref_last, const int64_t *ref_new, int64_t n_ref_new, int32_t max_new,
                          double atol, double rtol) {
    const int M = cJSON_IsArray(imgs) ? cJSON_GetArraySize(imgs) : 0;
    llv_session_params sp = llv_session_default_params();
    sp.kv_type = LLV_KV_F32; /* the golden tolerances are float32's */
    sp.n_ctx = (int32_t)(T + max_new + 1);
    sp.max_images = M > 8 ? M : 8;
    sp.n_threads = m->params.n_threads > 0 ? m->params.n_threads : 1;
    llv_session *s = NULL;
    llv_error err = {0};
    llv_result res = {0};
    if (llv_session_create(m, &sp, &s, &err) != LLV_OK) {
        golden_record(ctx, name, "e2e.session", false, "llv_session_create: %s", err.message);
        return;
    }
    for (int i = 0; i < M; i++) {
        size_t nb = 0;
        char *b = image_bytes(ctx, config, imgs, i, &nb);
        llv_status st = b ? llv_session_add_image(s, b, nb, &err) : LLV_ERR_IO;
        free(b);
        if (st != LLV_OK) {
            golden_record(ctx, name, "e2e.session", false, "llv_session_add_image %d: %s", i,
                          b ? err.message : "cannot read the image file");
            goto done;
        }
    }
    llv_status st = llv_session_add_tokens(s, ids, (size_t)T, &err);
    if (st != LLV_OK) {
        if (M > 0 && st == LLV_ERR_INVALID_ARGUMENT && m->tok == NULL) {
            /* The public API has no way to place an image at a token position
             * without a tokenizer: add_tokens rejects the image token id even
             * with images queued, and add_raw/add_text/add_messages need one. */
            golden_skip(ctx, name, "e2e.session.last_logits",
                        "API gap: llv_session_add_tokens rejects the image token id even with images queued, and "
                        "the model has no tokenizer for llv_session_add_raw");
        } else {
            golden_record(ctx, name, "e2e.session", false, "llv_session_add_tokens: %s: %s", llv_status_name(st),
                          err.message);
        }
        goto done;
    }
    const float *logits = NULL;
    if (llv_session_eval(s, &logits, &err) != LLV_OK) {
        golden_record(ctx, name, "e2e.session", false, "llv_session_eval: %s", err.message);
        goto done;
    }
    size_t n_rows = 0;
    const uint64_t *srows = llv_session_row_images(s, &n_rows);
    if (M > 0) {
        int64_t *a = malloc(sizeof(int64_t) * (size_t)(2 * T));
        if (a && n_rows == (size_t)T) {
            for (int64_t r = 0; r < T; r++) {
                a[r] = (int64_t)srows[r];
                a[T + r] = (int64_t)rows[r];
            }
            golden_compare_i64(ctx, name, "e2e.session.row_images", a, a + T, T);
        } else {
            golden_record(ctx, name, "e2e.session.row_images", false, "session has %zu rows, expected %lld", n_rows,
                          (long long)T);
        }
        free(a);
    }
    golden_compare(ctx, name, "e2e.session.last_logits", logits, ref_last, m->hp.n_vocab, atol, rtol);
    llv_sampling_params gp = llv_sampling_default_params();
    gp.temperature = 0; /* greedy, as HF's do_sample=False */
    gp.max_tokens = max_new;
    if (llv_session_generate(s, &gp, NULL, NULL, &res, &err) != LLV_OK) {
        golden_record(ctx, name, "e2e.session.gen.new_tokens", false, "llv_session_generate: %s", err.message);
        goto done;
    }
    size_t n_all = 0;
    const int32_t *all = llv_session_tokens(s, &n_all);
    int64_t n_gen = (int64_t)n_all - T;
    if (n_gen != n_ref_new || res.completion_tokens != n_gen) {
        golden_record(ctx, name, "e2e.session.gen.new_tokens", false,
                      "generated %lld tokens (completion_tokens %d), reference %lld", (long long)n_gen,
                      res.completion_tokens, (long long)n_ref_new);
    } else {
        int64_t got[4096];
        for (int64_t i = 0; i < n_gen && i < 4096; i++) got[i] = all[T + i];
        golden_compare_i64(ctx, name, "e2e.session.gen.new_tokens", got, ref_new, n_gen);
    }
done:
    llv_result_free(&res);
    llv_session_free(s);
}

/* ------------------------------------------------------------------------- */
/* the checker                                                               */
/* ------------------------------------------------------------------------- */

int golden_check_e2e_case(golden_ctx *ctx, const cJSON *entry, llv_model *m) {
    const cJSON *jpath = cJSON_GetObjectItemCaseSensitive(entry, "path");
    const cJSON *jcfg = cJSON_GetObjectItemCaseSensitive(entry, "config");
    const cJSON *jcase = cJSON_GetObjectItemCaseSensitive(entry, "case");
    const cJSON *imgs = cJSON_GetObjectItemCaseSensitive(entry, "images");
    const int64_t M = cJSON_IsArray(imgs) ? cJSON_GetArraySize(imgs) : 0;
    char name[256];
    snprintf(name, sizeof name, "%s/%s", cJSON_IsString(jcfg) ? jcfg->valuestring : "?",
             cJSON_IsString(jcase) ? jcase->valuestring : "?");
    const int fail0 = ctx->n_fail;
    if (!cJSON_IsString(jpath) || !cJSON_IsString(jcfg)) {
        golden_record(ctx, name, "e2e", false, "manifest entry has no path or config");
        return 1;
    }
    if (!m || !m->has_weights) {
        golden_record(ctx, name, "e2e", false, "the model has no weights");
        return 1;
    }
    const llv_hparams *hp = &m->hp;
    if (M > 0 && !hp->has_vision) {
        golden_record(ctx, name, "e2e", false, "a case with images but the model has no vision weights");
        return 1;
    }
    if (M > E2E_MAX_IMAGES) {
        golden_record(ctx, name, "e2e", false, "%lld images, at most %d supported", (long long)M, E2E_MAX_IMAGES);
        return 1;
    }
    const int32_t V = hp->n_vocab, D = hp->n_embd;
    const int64_t S = hp->v_image_size, MT = hp->v_max_tiles, P = hp->v_P;
    const int32_t max_new = max_new_tokens(ctx, jcfg->valuestring);
    double atol, rtol;
    golden_tolerance(entry, "logits", &atol, &rtol);

    llv_error err = {0};
    llv_st *st = golden_open(ctx, name, "e2e", jpath->valuestring);
    if (!st) return 1;

    int64_t T = 0, n_ref_new = 0, n_ref_logits = 0, n_ref_gen = 0, n_case_mask = 0, n_case_gmask = 0;
    int64_t *ids64 = golden_read_i64(st, "input_ids", &T);
    int64_t *ref_new = golden_read_i64(st, "gen.new_tokens", &n_ref_new);
    float *ref_logits = golden_read_f32(st, "logits", &n_ref_logits);
    float *ref_gen_logits = golden_read_f32(st, "gen.logits", &n_ref_gen);
    int64_t *case_mask = M > 0 ? golden_read_i64(st, "cross_attention_mask", &n_case_mask) : NULL;
    int64_t *case_gmask = M > 0 ? golden_read_i64(st, "gen.cross_attention_mask", &n_case_gmask) : NULL;
    int32_t *ids = NULL, num_tiles[E2E_MAX_IMAGES] = {0};
    int64_t (*rng)[2] = NULL, *mask = NULL, *gmask = NULL, gen[4096];
    uint64_t *rows = NULL;
    float *logits = NULL, *gen_logits = NULL, *xstates = NULL;
    llv_cross_kv *kvs[E2E_MAX_IMAGES] = {0};
    llv_threadpool *pool = NULL;
    llv_vision_state *vs = NULL;
    llv_text_state *ts = NULL;
    if (!ids64 || T <= 0 || !ref_new || !ref_logits || n_ref_logits != T * V || !ref_gen_logits ||
        n_ref_gen < n_ref_new * V || n_ref_new > 4096 || (M > 0 && !case_mask)) {
        golden_record(ctx, name, "e2e", false,
                      "case file lacks input_ids, logits [T, %d], gen.new_tokens, gen.logits%s or has other shapes",
                      V, M > 0 ? " or cross_attention_mask" : "");
        goto done;
    }
    ids = malloc(sizeof(int32_t) * (size_t)T);
    rows = calloc((size_t)T, sizeof(uint64_t));
    if (!ids || !rows) {
        golden_record(ctx, name, "e2e", false, "out of memory");
        goto done;
    }
    for (int64_t i = 0; i < T; i++) ids[i] = (int32_t)ids64[i];

    if (M > 0) {
        /* images: file -> decode -> preprocess -> encoder + projector -> cross K/V */
        int n_threads = m->params.n_threads > 0 ? m->params.n_threads : 1;
        if (llv_threadpool_create(n_threads, &pool, &err) != LLV_OK ||
            llv_vision_state_create(m, &vs, &err) != LLV_OK) {
            golden_record(ctx, name, "e2e", false, "%s", err.message);
            goto done;
        }
        if (!(xstates = malloc(sizeof(float) * (size_t)(MT * P * D)))) {
            golden_record(ctx, name, "e2e", false, "out of memory");
            goto done;
        }
        for (int i = 0; i < (int)M; i++) {
            size_t nb = 0;
            char *b = image_bytes(ctx, jcfg->valuestring, imgs, i, &nb);
            llv_rgb_image img = {0};
            llv_image_tiles tiles = {0};
            llv_status s = b ? llv_image_decode(b, nb, NULL, &img, &err) : LLV_ERR_IO;
            if (s == LLV_OK)
                s = llv_image_preprocess(&img, (int32_t)S, (int32_t)MT, hp->image_mean, hp->image_std, &tiles, NULL,
                                         &err);
            if (s == LLV_OK)
                s = llv_vision_encode(m, vs, pool, tiles.pixels, tiles.aspect_ratio_id, tiles.n_tiles, xstates,
                                      NULL, NULL, NULL, &err);
            if (s == LLV_OK)
                s = llv_cross_kv_compute(m, pool, NULL,
                                         &(llv_cross_kv_input){.states = xstates, .n_tok = (int32_t)(MT * P), .n_tiles = tiles.n_tiles, .tile_tokens = (int32_t)P},
                                         LLV_KV_F32, &kvs[i], &err);
            num_tiles[i] = tiles.n_tiles;
            llv_image_tiles_free(&tiles);
            llv_rgb_image_free(&img);
            if (s != LLV_OK) {
                golden_record(ctx, name, "e2e", false, "image %d: %s", i,
                              b ? err.message : "cannot read the image file");
                free(b);
                goto done;
            }
            free(b);
        }

        /* rows -> images from input_ids, as MllamaProcessor */
        rng = malloc(sizeof *rng * (size_t)M);
        mask = malloc(sizeof(int64_t) * (size_t)(T * M * MT));
        if (!rng || !mask) {
            golden_record(ctx, name, "e2e", false, "out of memory");
            goto done;
        }
        int64_t n_img_tok = cross_token_ranges(ids, T, hp->image_token_id, rng, M);
        if (n_img_tok != M) {
            golden_record(ctx, name, "e2e.cross_attention_mask", false,
                          "input_ids hold %lld image tokens (id %d) for %lld images", (long long)n_img_tok,
                          hp->image_token_id, (long long)M);
            goto done;
        }
        dense_cross_mask((const int64_t(*)[2])rng, M, num_tiles, T, MT, mask);
        golden_mask_rows(mask, T, M, MT, rows);
        const llv_st_tensor *tm = llv_st_find(st, "cross_attention_mask");
        if (n_case_mask != T * M * MT || tm->shape[tm->n_dims - 1] != MT)
            golden_record(ctx, name, "e2e.cross_attention_mask", false, "case tensor has %lld values, expected %lld",
                          (long long)n_case_mask, (long long)(T * M * MT));
        else
            golden_compare_i64(ctx, name, "e2e.cross_attention_mask", mask, case_mask, T * M * MT);
    }

    /* prefill: every row's logits */
    logits = malloc(sizeof(float) * (size_t)(T * V));
    gen_logits = malloc(sizeof(float) * (size_t)((max_new > n_ref_new ? max_new : n_ref_new) + 1) * (size_t)V);
    if (!logits || !gen_logits) {
        golden_record(ctx, name, "e2e", false, "out of memory");
        goto done;
    }
    if (M > 0) {
        if (llv_text_state_create(m, (int32_t)(T + max_new + 1), 128, LLV_KV_F32, &ts, &err) != LLV_OK) {
            golden_record(ctx, name, "e2e", false, "text state: %s", err.message);
            goto done;
        }
        llv_text_batch b = {.tokens = ids, .n = (int32_t)T, .images = (const llv_cross_kv *const *)kvs,
                            .n_images = (int32_t)M, .row_images = rows, .logits = logits, .logits_all = true};
        if (llv_text_forward(m, ts, pool, &b, &err) != LLV_OK) {
            golden_record(ctx, name, "e2e.logits", false, "llv_text_forward: %s", err.message);
            goto done;
        }
        golden_compare(ctx, name, "e2e.logits", logits, ref_logits, T * V, atol, rtol);

        /* greedy generation with the KV cache; generated rows copy the last
         * row's images (HF appends a copy of the last mask row) */
        int32_t n_gen = 0;
        if (golden_greedy(m, ts, pool, kvs, (int32_t)M, rows[T - 1], logits + (size_t)(T - 1) * V, max_new, gen,
                          gen_logits, &n_gen, &err) != LLV_OK) {
            golden_record(ctx, name, "e2e.gen", false, "decode step %d: %s", n_gen, err.message);
            goto done;
        }
        int64_t n_cmp = n_gen < n_ref_new ? n_gen : n_ref_new;
        golden_compare(ctx, name, "e2e.gen.logits", gen_logits, ref_gen_logits, n_cmp * V, atol, rtol);
        if (n_gen != n_ref_new)
            golden_record(ctx, name, "e2e.gen.new_tokens", false, "generated %d tokens, reference %lld", n_gen,
                          (long long)n_ref_new);
        else
            golden_compare_i64(ctx, name, "e2e.gen.new_tokens", gen, ref_new, n_gen);

        /* the mask rows HF's generate used: prompt rows + a copy of the last
         * row per generated token but the last (it is never fed back) */
        int64_t GT = T + n_gen - 1, row = M * MT;
        if (case_gmask && n_case_gmask == GT * row && (gmask = malloc(sizeof(int64_t) * (size_t)(GT * row)))) {
            memcpy(gmask, mask, sizeof(int64_t) * (size_t)(T * row));
            for (int64_t r = T; r < GT; r++) memcpy(gmask + r * row, mask + (T - 1) * row, sizeof(int64_t) * (size_t)row);
            golden_compare_i64(ctx, name, "e2e.gen.cross_attention_mask", gmask, case_gmask, GT * row);
        } else if (case_gmask) {
            golden_record(ctx, name, "e2e.gen.cross_attention_mask", false,
                          "case tensor has %lld values, expected %lld", (long long)n_case_gmask,
                          (long long)(GT * row));
        }
    }

    /* the user's path: the public session API */
    check_session(ctx, name, imgs, jcfg->valuestring, m, ids, T, rows, ref_logits + (size_t)(T - 1) * V, ref_new,
                  n_ref_new, max_new, atol, rtol);
done:
    for (int i = 0; i < E2E_MAX_IMAGES; i++) llv_cross_kv_free(kvs[i]);
    llv_text_state_free(ts);
    llv_vision_state_free(vs);
    llv_threadpool_free(pool);
    free(ids64);
    free(ref_new);
    free(ref_logits);
    free(ref_gen_logits);
    free(case_mask);
    free(case_gmask);
    free(ids);
    free(rng);
    free(mask);
    free(gmask);
    free(rows);
    free(logits);
    free(gen_logits);
    free(xstates);
    llv_st_close(st);
    return ctx->n_fail - fail0;
}
