/* golden-image.c - checkers of the manifest kinds "image_processor_case"
 * (decode + MllamaImageProcessor of one image against HF/Pillow) and
 * "image_processor_canvas_table" (canvas / resize-size / tile choice), plus
 * golden_check_model_case_images (the images of a "model_case" entry
 * against its pixel_values; called by tests/test-image.c). */
#include "golden.h"

#include "image.h"
#include "safetensors.h"
#include "testing.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int golden_check_model_case_images(golden_ctx *ctx, const cJSON *entry);

/* ------------------------------------------------------------------------- */
/* Helpers                                                                   */
/* ------------------------------------------------------------------------- */

static const char *jstr(const cJSON *o, const char *key) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* Preprocessor settings of a preprocessor_config.json. */
typedef struct pp_config {
    int32_t size, max_tiles;
    float   mean[3], std[3];
} pp_config;

static bool read_pp_config(golden_ctx *ctx, const char *rel, pp_config *pc, const char *case_name) {
    char  *path = golden_path(ctx, rel);
    size_t n    = 0;
    char  *text = path ? llv_test_read_file(path, &n) : NULL;
    free(path);
    cJSON *j = text ? cJSON_Parse(text) : NULL;
    free(text);
    bool         ok   = false;
    const cJSON *size = cJSON_GetObjectItemCaseSensitive(j, "size");
    const cJSON *h    = cJSON_GetObjectItemCaseSensitive(size, "height");
    const cJSON *mt   = cJSON_GetObjectItemCaseSensitive(j, "max_image_tiles");
    const cJSON *mean = cJSON_GetObjectItemCaseSensitive(j, "image_mean");
    const cJSON *std  = cJSON_GetObjectItemCaseSensitive(j, "image_std");
    if (cJSON_IsNumber(h) && cJSON_IsNumber(mt) && cJSON_GetArraySize(mean) == 3 && cJSON_GetArraySize(std) == 3) {
        pc->size      = h->valueint;
        pc->max_tiles = mt->valueint;
        for (int c = 0; c < 3; c++) {
            pc->mean[c] = (float)cJSON_GetArrayItem(mean, c)->valuedouble; /* float32(mean), as HF */
            pc->std[c]  = (float)cJSON_GetArrayItem(std, c)->valuedouble;
        }
        ok = true;
    }
    cJSON_Delete(j);
    if (!ok) golden_record(ctx, case_name, "preprocessor_config", false, "cannot read %s", rel);
    return ok;
}

/* Decodes ROOT/rel. */
static bool decode_file(golden_ctx *ctx, const char *rel, llv_rgb_image *img, const char *case_name) {
    char  *path = golden_path(ctx, rel);
    size_t n    = 0;
    char  *data = path ? llv_test_read_file(path, &n) : NULL;
    free(path);
    if (!data) {
        golden_record(ctx, case_name, "decode", false, "cannot read %s", rel);
        return false;
    }
    llv_error  err = {0};
    llv_status st  = llv_image_decode(data, n, NULL, img, &err);
    free(data);
    if (st != LLV_OK) {
        golden_record(ctx, case_name, "decode", false, "%s: %s", rel, err.message);
        return false;
    }
    return true;
}

static float *tensor_f32(const llv_st_tensor *t) {
    int64_t n = llv_st_numel(t);
    float  *f = malloc((size_t)(n > 0 ? n : 1) * sizeof(float));
    if (!f) return NULL;
    for (int64_t i = 0; i < n; i++) f[i] = (float)llv_st_get_f64(t, i);
    return f;
}

static bool compare_u8(golden_ctx *ctx, const char *case_name, const char *q, const uint8_t *got, int64_t gh,
                       int64_t gw, const llv_st_tensor *ref) {
    if (ref->n_dims != 3 || ref->shape[0] != gh || ref->shape[1] != gw || ref->shape[2] != 3) {
        golden_record(ctx, case_name, q, false, "shape: got [%lld, %lld, 3], reference [%lld, %lld, %lld]",
                      (long long)gh, (long long)gw, (long long)ref->shape[0],
                      (long long)(ref->n_dims > 1 ? ref->shape[1] : 0), (long long)(ref->n_dims > 2 ? ref->shape[2] : 0));
        return false;
    }
    int64_t n = gh * gw * 3;
    float  *a = malloc((size_t)n * sizeof(float)), *b = tensor_f32(ref);
    bool    ok = false;
    if (a && b) {
        for (int64_t i = 0; i < n; i++) a[i] = got[i];
        ok = golden_compare(ctx, case_name, q, a, b, n, 0, 0);
    }
    free(a);
    free(b);
    return ok;
}

static void cmp_i64_tensor(golden_ctx *ctx, const char *case_name, const char *q, llv_st *st, const int64_t *got,
                           int64_t n) {
    const llv_st_tensor *t = llv_st_find(st, q);
    if (!t) return;
    if (llv_st_numel(t) != n) {
        golden_record(ctx, case_name, q, false, "%lld values, reference has %lld", (long long)n,
                      (long long)llv_st_numel(t));
        return;
    }
    int64_t ref[16];
    for (int64_t i = 0; i < n && i < 16; i++) ref[i] = llv_st_get_i64(t, i);
    golden_compare_i64(ctx, case_name, q, got, ref, n);
}

/* ------------------------------------------------------------------------- */
/* image_processor_case                                                      */
/* ------------------------------------------------------------------------- */

int golden_check_image_case(golden_ctx *ctx, const cJSON *entry) {
    int         fail0 = ctx->n_fail;
    const char *rel = jstr(entry, "path"), *img_rel = jstr(entry, "image");
    char        name[256];
    snprintf(name, sizeof name, "%s", rel ? rel : "?");
    if (!rel || !img_rel) {
        golden_record(ctx, name, "manifest", false, "image_processor_case without path/image");
        return 1;
    }
    /* preprocessor_config.json lives beside the case file */
    char cfg_rel[512];
    snprintf(cfg_rel, sizeof cfg_rel, "%s", rel);
    char *slash = strrchr(cfg_rel, '/');
    snprintf(slash ? slash + 1 : cfg_rel, sizeof cfg_rel - (size_t)(slash ? slash + 1 - cfg_rel : 0),
             "preprocessor_config.json");
    pp_config pc;
    if (!read_pp_config(ctx, cfg_rel, &pc, name)) return 1;

    char   *path = golden_path(ctx, rel);
    llv_st *st   = NULL;
    llv_error err = {0};
    if (llv_st_open(path, &st, &err) != LLV_OK) {
        free(path);
        golden_record(ctx, name, "open", false, "%s", err.message);
        return 1;
    }
    free(path);
    llv_rgb_image img = {0};
    if (!decode_file(ctx, img_rel, &img, name)) {
        llv_st_close(st);
        return ctx->n_fail - fail0;
    }
    int64_t in_hw[2] = {img.height, img.width};
    cmp_i64_tensor(ctx, name, "input_hw", st, in_hw, 2);
    const llv_st_tensor *rgb = llv_st_find(st, "rgb_hwc_u8");
    if (rgb) compare_u8(ctx, name, "rgb_hwc_u8", img.rgb, img.height, img.width, rgb);

    llv_image_tiles t;
    uint8_t        *resized = NULL;
    if (llv_image_preprocess(&img, pc.size, pc.max_tiles, pc.mean, pc.std, &t, &resized, &err) != LLV_OK) {
        golden_record(ctx, name, "preprocess", false, "%s", err.message);
        llv_rgb_image_free(&img);
        llv_st_close(st);
        return ctx->n_fail - fail0;
    }
    int64_t v2[2];
    v2[0] = t.resized_h, v2[1] = t.resized_w;
    cmp_i64_tensor(ctx, name, "resized_hw", st, v2, 2);
    v2[0] = t.canvas_h, v2[1] = t.canvas_w;
    cmp_i64_tensor(ctx, name, "canvas_hw", st, v2, 2);
    v2[0] = t.tiles_h, v2[1] = t.tiles_w;
    cmp_i64_tensor(ctx, name, "tiles_hw", st, v2, 2);
    int64_t v1 = t.aspect_ratio_id;
    cmp_i64_tensor(ctx, name, "aspect_ratio_ids", st, &v1, 1);
    v1 = t.n_tiles;
    cmp_i64_tensor(ctx, name, "num_tiles", st, &v1, 1);
    int64_t mask[16] = {0};
    for (int i = 0; i < t.max_tiles && i < 16; i++) mask[i] = i < t.n_tiles;
    cmp_i64_tensor(ctx, name, "aspect_ratio_mask", st, mask, t.max_tiles);

    const llv_st_tensor *rs = llv_st_find(st, "resized_hwc_u8");
    if (rs) compare_u8(ctx, name, "resized_hwc_u8", resized, t.resized_h, t.resized_w, rs);

    size_t tile_n = (size_t)3 * t.tile_size * t.tile_size;
    /* tiles >= n_tiles must be exact zeros */
    bool zero = true;
    for (size_t i = (size_t)t.n_tiles * tile_n; i < (size_t)t.max_tiles * tile_n; i++)
        if (t.pixels[i] != 0.0f || signbit(t.pixels[i])) zero = false;
    golden_record(ctx, name, "padding_tiles_zero", zero, NULL);

    const char *pv_names[2] = {"pixel_values_f32", "pixel_values_f16"};
    for (int k = 0; k < 2; k++) {
        const llv_st_tensor *pv = llv_st_find(st, pv_names[k]);
        if (!pv) continue;
        int64_t n = (int64_t)t.n_tiles * (int64_t)tile_n;
        if (llv_st_numel(pv) != n) {
            golden_record(ctx, name, pv_names[k], false, "%lld values, reference has %lld", (long long)n,
                          (long long)llv_st_numel(pv));
            continue;
        }
        float *ref = tensor_f32(pv);
        if (ref) golden_compare(ctx, name, pv_names[k], t.pixels, ref, n, k == 0 ? 0.0 : 1e-3, 0.0);
        if (ref && k == 1) {
            /* stronger: our float32 values rounded to float16 equal the stored ones */
            float *r16 = malloc((size_t)n * sizeof(float));
            if (r16) {
                for (int64_t i = 0; i < n; i++) r16[i] = llv_f16_to_f32(llv_f32_to_f16(t.pixels[i]));
                golden_compare(ctx, name, "pixel_values_f16(rounded)", r16, ref, n, 0.0, 0.0);
            }
            free(r16);
        }
        free(ref);
    }
    free(resized);
    llv_image_tiles_free(&t);
    llv_rgb_image_free(&img);
    llv_st_close(st);
    return ctx->n_fail - fail0;
}

/* ------------------------------------------------------------------------- */
/* image_processor_canvas_table                                              */
/* ------------------------------------------------------------------------- */

int golden_check_canvas_table(golden_ctx *ctx, const cJSON *entry) {
    const char *rel  = jstr(entry, "path");
    const char *name = rel ? rel : "canvas_table";
    const cJSON *ts = cJSON_GetObjectItemCaseSensitive(entry, "tile_size");
    const cJSON *mt = cJSON_GetObjectItemCaseSensitive(entry, "max_image_tiles");
    if (!rel || !cJSON_IsNumber(ts) || !cJSON_IsNumber(mt)) {
        golden_record(ctx, name, "manifest", false, "canvas table entry without path/tile_size/max_image_tiles");
        return 1;
    }
    char     *path = golden_path(ctx, rel);
    llv_st   *st   = NULL;
    llv_error err  = {0};
    if (llv_st_open(path, &st, &err) != LLV_OK) {
        free(path);
        golden_record(ctx, name, "open", false, "%s", err.message);
        return 1;
    }
    free(path);
    const llv_st_tensor *t = llv_st_find(st, "table");
    if (!t || t->n_dims != 2 || t->shape[1] != 9) {
        golden_record(ctx, name, "table", false, "missing or not [rows, 9]");
        llv_st_close(st);
        return 1;
    }
    int64_t  rows = t->shape[0], n = rows * 9;
    int64_t *ref = calloc((size_t)n + 1, sizeof(int64_t)), *got = calloc((size_t)n + 1, sizeof(int64_t));
    int      fail0 = ctx->n_fail;
    if (ref && got) {
        for (int64_t i = 0; i < n; i++) ref[i] = llv_st_get_i64(t, i);
        for (int64_t r = 0; r < rows; r++) {
            int32_t v[9];
            v[0] = (int32_t)ref[r * 9 + 0];
            v[1] = (int32_t)ref[r * 9 + 1];
            llv_image_plan(v[0], v[1], ts->valueint, mt->valueint, &v[2], &v[3], &v[4], &v[5], &v[6], &v[7], &v[8]);
            for (int c = 0; c < 9; c++) got[r * 9 + c] = v[c];
        }
        golden_compare_i64(ctx, name, "table", got, ref, n);
        if (ctx->n_fail != fail0)
            for (int64_t r = 0; r < rows; r++)
                for (int c = 0; c < 9; c++)
                    if (got[r * 9 + c] != ref[r * 9 + c]) {
                        printf("  row %lld: input %lldx%lld got canvas %lldx%lld resized %lldx%lld tiles %lldx%lld id %lld; "
                               "ref %lldx%lld %lldx%lld %lldx%lld %lld\n",
                               (long long)r, (long long)got[r * 9], (long long)got[r * 9 + 1], (long long)got[r * 9 + 2],
                               (long long)got[r * 9 + 3], (long long)got[r * 9 + 4], (long long)got[r * 9 + 5],
                               (long long)got[r * 9 + 6], (long long)got[r * 9 + 7], (long long)got[r * 9 + 8],
                               (long long)ref[r * 9 + 2], (long long)ref[r * 9 + 3], (long long)ref[r * 9 + 4],
                               (long long)ref[r * 9 + 5], (long long)ref[r * 9 + 6], (long long)ref[r * 9 + 7],
                               (long long)ref[r * 9 + 8]);
                        break;
                    }
    } else {
        golden_record(ctx, name, "table", false, "out of memory");
    }
    free(ref);
    free(got);
    llv_st_close(st);
    return ctx->n_fail - fail0;
}

/* ------------------------------------------------------------------------- */
/* images of a model_case: preprocess models/<config>/images/<file> with the */
/* config's preprocessor_config.json and compare with pixel_values exactly   */
/* ------------------------------------------------------------------------- */

int golden_check_model_case_images(golden_ctx *ctx, const cJSON *entry) {
    const char  *config = jstr(entry, "config"), *cs = jstr(entry, "case"), *rel = jstr(entry, "path");
    const cJSON *images = cJSON_GetObjectItemCaseSensitive(entry, "images");
    int          n_img  = cJSON_GetArraySize(images);
    if (!config || !cs || !rel || n_img == 0) return 0;
    char name[256], buf[512];
    snprintf(name, sizeof name, "%s/%s", config, cs);
    int fail0 = ctx->n_fail;
    snprintf(buf, sizeof buf, "models/%s/preprocessor_config.json", config);
    pp_config pc;
    if (!read_pp_config(ctx, buf, &pc, name)) return 1;

    char     *path = golden_path(ctx, rel);
    llv_st   *st   = NULL;
    llv_error err  = {0};
    if (llv_st_open(path, &st, &err) != LLV_OK) {
        free(path);
        golden_record(ctx, name, "open", false, "%s", err.message);
        return 1;
    }
    free(path);
    const llv_st_tensor *pv  = llv_st_find(st, "pixel_values");
    const llv_st_tensor *ids = llv_st_find(st, "aspect_ratio_ids");
    size_t               per_image = (size_t)pc.max_tiles * 3 * pc.size * pc.size;
    if (!pv || (size_t)llv_st_numel(pv) != per_image * (size_t)n_img) {
        golden_record(ctx, name, "pixel_values", false, "missing or not [1, %d, %d, 3, %d, %d]", n_img, pc.max_tiles,
                      pc.size, pc.size);
        llv_st_close(st);
        return 1;
    }
    float *ref = tensor_f32(pv);
    for (int i = 0; i < n_img && ref; i++) {
        const char *file = jstr(cJSON_GetArrayItem(images, i), "file");
        char        q[300];
        snprintf(q, sizeof q, "pixel_values[%d]:%s", i, file ? file : "?");
        snprintf(buf, sizeof buf, "models/%s/%s", config, file ? file : "");
        llv_rgb_image img = {0};
        if (!file || !decode_file(ctx, buf, &img, name)) continue;
        llv_image_tiles t;
        if (llv_image_preprocess(&img, pc.size, pc.max_tiles, pc.mean, pc.std, &t, NULL, &err) != LLV_OK) {
            golden_record(ctx, name, q, false, "%s", err.message);
        } else {
            golden_compare(ctx, name, q, t.pixels, ref + per_image * (size_t)i, (int64_t)per_image, 0, 0);
            if (ids && llv_st_numel(ids) == n_img) {
                int64_t got = t.aspect_ratio_id, want = llv_st_get_i64(ids, i);
                snprintf(q, sizeof q, "aspect_ratio_ids[%d]", i);
                golden_compare_i64(ctx, name, q, &got, &want, 1);
            }
            llv_image_tiles_free(&t);
        }
        llv_rgb_image_free(&img);
    }
    free(ref);
    llv_st_close(st);
    return ctx->n_fail - fail0;
}
