/* golden-sampler.c - checker of manifest kind "sampler": HF logits processors
 * on seeded logits (shared/golden/sampler/sampler.safetensors). Each
 * experiment's processor list becomes llv_sampling_params; llv_sampler_process
 * must give HF's processed scores (kept set exact, values within the
 * tolerance) and llv_softmax_kept HF's probabilities. Rows listed in
 * tie_split_rows (a top-p cut inside a group of equal logits, where torch's
 * unstable sort decides which tied ids survive) are compared as sorted rows:
 * same number kept, same values. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "golden.h"
#include "sampler.h"
#include "testing.h"

/* --- a minimal safetensors view (whole file in memory) ------------------- */

typedef struct gs_file {
    char  *data;
    size_t size;
    cJSON *header;
    size_t base; /* offset of the data section */
} gs_file;

static void gs_close(gs_file *f) {
    cJSON_Delete(f->header);
    free(f->data);
    memset(f, 0, sizeof *f);
}

static bool gs_open(gs_file *f, const char *path) {
    memset(f, 0, sizeof *f);
    f->data = llv_test_read_file(path, &f->size);
    if (!f->data || f->size < 8) return false;
    uint64_t n = 0;
    for (int i = 7; i >= 0; i--) n = (n << 8) | (uint8_t)f->data[i];
    if (n > f->size - 8) return false;
    f->header = cJSON_ParseWithLength(f->data + 8, (size_t)n);
    f->base = 8 + (size_t)n;
    return f->header != NULL;
}

/* Returns the tensor's bytes if it has `dtype` and `numel` elements. */
static const void *gs_tensor(const gs_file *f, const char *name, const char *dtype, int64_t numel) {
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(f->header, name);
    const cJSON *dt = cJSON_GetObjectItemCaseSensitive(t, "dtype");
    const cJSON *sh = cJSON_GetObjectItemCaseSensitive(t, "shape");
    const cJSON *off = cJSON_GetObjectItemCaseSensitive(t, "data_offsets");
    if (!cJSON_IsString(dt) || strcmp(dt->valuestring, dtype) != 0 || !cJSON_IsArray(sh) || !cJSON_IsArray(off))
        return NULL;
    int64_t count = 1;
    const cJSON *d;
    cJSON_ArrayForEach(d, sh) count *= (int64_t)d->valuedouble;
    if (count != numel) return NULL;
    double b = cJSON_GetArrayItem(off, 0)->valuedouble, e = cJSON_GetArrayItem(off, 1)->valuedouble;
    size_t esz = strcmp(dtype, "F32") == 0 ? 4 : 8;
    if (b < 0 || e < b || (size_t)(e - b) != (size_t)numel * esz || f->base + (size_t)e > f->size) return NULL;
    return f->data + f->base + (size_t)b;
}

/* --- experiment -> params ----------------------------------------------- */

static bool gs_params(const cJSON *exp, llv_sampling_params *p, bool *greedy) {
    *p = llv_sampling_default_params();
    p->temperature = 1.0f;
    p->seed = 1;
    *greedy = true;
    const cJSON *procs = cJSON_GetObjectItemCaseSensitive(exp, "processors"), *pr;
    if (!cJSON_IsArray(procs)) return false;
    cJSON_ArrayForEach(pr, procs) {
        const char *cls = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(pr, "class"));
        if (!cls) return false;
#define GS_NUM(key) cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(pr, key))
        if (strcmp(cls, "RepetitionPenaltyLogitsProcessor") == 0) p->repetition_penalty = (float)GS_NUM("penalty");
        else if (strcmp(cls, "TemperatureLogitsWarper") == 0) p->temperature = (float)GS_NUM("temperature"), *greedy = false;
        else if (strcmp(cls, "TopKLogitsWarper") == 0) p->top_k = (int32_t)GS_NUM("top_k"), *greedy = false;
        else if (strcmp(cls, "TopPLogitsWarper") == 0) p->top_p = (float)GS_NUM("top_p"), *greedy = false;
        else if (strcmp(cls, "MinPLogitsWarper") == 0) p->min_p = (float)GS_NUM("min_p"), *greedy = false;
        else return false;
#undef GS_NUM
    }
    /* only a repetition penalty: HF applies no warper, and neither do we at temperature 0 */
    if (*greedy) p->temperature = 0.0f;
    return true;
}

static int gs_cmp_desc(const void *a, const void *b) {
    float x = *(const float *)a, y = *(const float *)b;
    return (x < y) - (x > y);
}

static bool gs_is_tie_row(const cJSON *entry, const char *exp_name, int row) {
    const cJSON *list = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(entry, "tie_split_rows"),
                                                         exp_name), *it;
    cJSON_ArrayForEach(it, list) {
        if ((int)cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(it, "row")) == row) return true;
    }
    return false;
}

int golden_check_sampler(golden_ctx *ctx, const cJSON *entry) {
    const char *rel = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(entry, "path"));
    const char *cname = rel ? rel : "sampler";
    int fails_before = ctx->n_fail;
    char *path = golden_path(ctx, rel ? rel : "sampler/sampler.safetensors");
    gs_file f;
    if (!path || !gs_open(&f, path)) {
        golden_record(ctx, cname, "open", false, "cannot read %s", path ? path : "(null)");
        free(path);
        return 1;
    }
    free(path);
    const cJSON *lt = cJSON_GetObjectItemCaseSensitive(f.header, "logits");
    const cJSON *shape = cJSON_GetObjectItemCaseSensitive(lt, "shape");
    const int rows = (int)cJSON_GetNumberValue(cJSON_GetArrayItem(shape, 0));
    const int V = (int)cJSON_GetNumberValue(cJSON_GetArrayItem(shape, 1));
    const cJSON *it_shape = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(f.header, "input_ids"),
                                                             "shape");
    const int L = (int)cJSON_GetNumberValue(cJSON_GetArrayItem(it_shape, 1));
    const float *logits = rows > 0 && V > 0 ? gs_tensor(&f, "logits", "F32", (int64_t)rows * V) : NULL;
    const int64_t *ids64 = L > 0 ? gs_tensor(&f, "input_ids", "I64", (int64_t)rows * L) : NULL;
    if (!logits || !ids64) {
        golden_record(ctx, cname, "tensors", false, "logits / input_ids missing or malformed");
        gs_close(&f);
        return 1;
    }
    double atol = 1e-6, rtol = 1e-6;
    const cJSON *tv = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(entry, "tolerance"), "values");
    if (cJSON_IsObject(tv)) {
        atol = cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(tv, "atol"));
        rtol = cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(tv, "rtol"));
    }
    const size_t n = (size_t)rows * (size_t)V;
    float *got = malloc(n * sizeof *got), *gotp = malloc(n * sizeof *gotp);
    float *ref = malloc(n * sizeof *ref), *refp = malloc(n * sizeof *refp);
    int32_t *ids = malloc((size_t)L * sizeof *ids);
    int64_t *kept_got = malloc((size_t)rows * sizeof *kept_got), *kept_ref = malloc((size_t)rows * sizeof *kept_ref);
    const cJSON *exps = cJSON_GetObjectItemCaseSensitive(entry, "experiments"), *exp;
    cJSON_ArrayForEach(exp, exps) {
        const char *name = exp->string;
        char key[256], case_name[300];
        snprintf(case_name, sizeof case_name, "sampler/%s", name);
        llv_sampling_params p;
        bool greedy;
        if (!gs_params(exp, &p, &greedy)) {
            golden_record(ctx, case_name, "params", false, "unknown processor in experiment");
            continue;
        }
        snprintf(key, sizeof key, "out.%s", name);
        const float *out_ref = gs_tensor(&f, key, "F32", (int64_t)n);
        snprintf(key, sizeof key, "probs.%s", name);
        const float *probs_ref = gs_tensor(&f, key, "F32", (int64_t)n);
        if (!out_ref) {
            golden_record(ctx, case_name, "out", false, "tensor out.%s missing", name);
            continue;
        }
        bool ok_all = true;
        for (int r = 0; r < rows; r++) {
            float *g = got + (size_t)r * V;
            memcpy(g, logits + (size_t)r * V, (size_t)V * sizeof *g);
            for (int j = 0; j < L; j++) ids[j] = (int32_t)ids64[(size_t)r * L + j];
            llv_error err = {0};
            if (llv_sampler_process(&p, g, V, ids, (size_t)L, NULL, 0, &err) != LLV_OK) {
                golden_record(ctx, case_name, "process", false, "row %d: %s", r, err.message);
                ok_all = false;
                break;
            }
            llv_softmax_kept(g, V, gotp + (size_t)r * V);
            memcpy(ref + (size_t)r * V, out_ref + (size_t)r * V, (size_t)V * sizeof *ref);
            if (probs_ref) memcpy(refp + (size_t)r * V, probs_ref + (size_t)r * V, (size_t)V * sizeof *refp);
            kept_got[r] = kept_ref[r] = 0;
            for (int i = 0; i < V; i++) {
                kept_got[r] += g[i] > -INFINITY;
                kept_ref[r] += ref[(size_t)r * V + i] > -INFINITY;
            }
            if (gs_is_tie_row(entry, name, r)) { /* compare as sorted rows (see top) */
                qsort(g, (size_t)V, sizeof *g, gs_cmp_desc);
                qsort(ref + (size_t)r * V, (size_t)V, sizeof *ref, gs_cmp_desc);
                qsort(gotp + (size_t)r * V, (size_t)V, sizeof *gotp, gs_cmp_desc);
                if (probs_ref) qsort(refp + (size_t)r * V, (size_t)V, sizeof *refp, gs_cmp_desc);
            }
        }
        if (!ok_all) continue;
        golden_compare_i64(ctx, case_name, "kept_count", kept_got, kept_ref, rows);
        golden_compare(ctx, case_name, "out", got, ref, (int64_t)n, atol, rtol);
        if (probs_ref) golden_compare(ctx, case_name, "probs", gotp, refp, (int64_t)n, atol, rtol);
        snprintf(key, sizeof key, "argmax.%s", name);
        const int64_t *am = gs_tensor(&f, key, "I64", rows);
        if (am) {
            int64_t *ga = malloc((size_t)rows * sizeof *ga);
            for (int r = 0; r < rows; r++) ga[r] = llv_argmax_f32(got + (size_t)r * V, V);
            golden_compare_i64(ctx, case_name, "argmax", ga, am, rows);
            free(ga);
        }
    }
    free(got), free(gotp), free(ref), free(refp), free(ids), free(kept_got), free(kept_ref);
    gs_close(&f);
    return ctx->n_fail - fails_before;
}
