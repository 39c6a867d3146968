/* hf-vision.c - test-only HF checkpoint binder for the vision encoder and the
 * shared golden comparison of vision quantities (see hf-vision.h). */
#include "hf-vision.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "image.h"
#include "safetensors.h"
#include "testing.h"
#include "vision.h"

typedef struct hfv_model {
    llv_model   m; /* first: hfv_model_free casts back */
    llv_st     *st;
    llv_tensor *tensors;
    int64_t     n_tensors, cap;
} hfv_model;

static llv_status bind_tensor(hfv_model *hm, const char *name, const llv_tensor **out, llv_error *err) {
    const llv_st_tensor *t = llv_st_find(hm->st, name);
    if (!t) return llv_err(err, LLV_ERR_NOT_FOUND, "hf-vision: tensor '%s' not found", name);
    if (hm->n_tensors >= hm->cap) return llv_err(err, LLV_ERR_INTERNAL, "hf-vision: tensor table full");
    llv_tensor *d = &hm->tensors[hm->n_tensors++];
    memset(d, 0, sizeof *d);
    d->name = t->name;
    switch (t->dtype) {
    case LLV_ST_F32: d->type = LLV_TYPE_F32; break;
    case LLV_ST_F16: d->type = LLV_TYPE_F16; break;
    case LLV_ST_BF16: d->type = LLV_TYPE_BF16; break;
    default: return llv_err(err, LLV_ERR_UNSUPPORTED, "hf-vision: tensor '%s' has dtype %s", name,
                            llv_st_dtype_name(t->dtype));
    }
    if (t->n_dims < 1 || t->n_dims > LLV_MAX_DIMS)
        return llv_err(err, LLV_ERR_UNSUPPORTED, "hf-vision: tensor '%s' has %d dims", name, t->n_dims);
    d->n_dims = t->n_dims;
    for (int i = 0; i < LLV_MAX_DIMS; i++) d->ne[i] = 1;
    for (int i = 0; i < t->n_dims; i++) d->ne[i] = t->shape[t->n_dims - 1 - i]; /* ggml order */
    d->data = t->data;
    d->nbytes = t->nbytes;
    *out = d;
    return LLV_OK;
}

static llv_status bind_vec(hfv_model *hm, const char *name, int64_t n, const float **out, llv_error *err) {
    const llv_st_tensor *t = llv_st_find(hm->st, name);
    if (!t) return llv_err(err, LLV_ERR_NOT_FOUND, "hf-vision: tensor '%s' not found", name);
    if (t->dtype != LLV_ST_F32 || llv_st_numel(t) != n || ((uintptr_t)t->data & 3u))
        return llv_err(err, LLV_ERR_FORMAT, "hf-vision: tensor '%s': expected %lld aligned F32 values", name,
                       (long long)n);
    *out = t->data;
    return LLV_OK;
}

static llv_status read_scalar(hfv_model *hm, const char *name, float *out, llv_error *err) {
    const llv_st_tensor *t = llv_st_find(hm->st, name);
    if (!t || llv_st_numel(t) != 1) return llv_err(err, LLV_ERR_NOT_FOUND, "hf-vision: scalar '%s' not found", name);
    *out = (float)llv_st_get_f64(t, 0);
    return LLV_OK;
}

static int json_int(const cJSON *o, const char *key, int def) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsNumber(v) ? v->valueint : def;
}

void hfv_model_free(llv_model *m) {
    if (!m) return;
    hfv_model *hm = (hfv_model *)m;
    llv_st_close(hm->st);
    free(hm->tensors);
    free(hm);
}

#define TRY(call)                                                                                    \
    do {                                                                                             \
        if ((st = (call)) != LLV_OK) goto fail;                                                      \
    } while (0)

static llv_status bind_layer(hfv_model *hm, const char *prefix, int i, int64_t D, int64_t F, bool gated,
                             llv_vision_layer *l, llv_error *err) {
    char n[256];
    llv_status st;
#define NM(suffix) (snprintf(n, sizeof n, "%s.layers.%d.%s", prefix, i, suffix), n)
    TRY(bind_vec(hm, NM("input_layernorm.weight"), D, &l->attn_norm_w, err));
    TRY(bind_vec(hm, NM("input_layernorm.bias"), D, &l->attn_norm_b, err));
    TRY(bind_vec(hm, NM("post_attention_layernorm.weight"), D, &l->ffn_norm_w, err));
    TRY(bind_vec(hm, NM("post_attention_layernorm.bias"), D, &l->ffn_norm_b, err));
    TRY(bind_tensor(hm, NM("self_attn.q_proj.weight"), &l->wq, err));
    TRY(bind_tensor(hm, NM("self_attn.k_proj.weight"), &l->wk, err));
    TRY(bind_tensor(hm, NM("self_attn.v_proj.weight"), &l->wv, err));
    TRY(bind_tensor(hm, NM("self_attn.o_proj.weight"), &l->wo, err));
    TRY(bind_tensor(hm, NM("mlp.fc1.weight"), &l->fc1, err));
    TRY(bind_vec(hm, NM("mlp.fc1.bias"), F, &l->fc1_b, err));
    TRY(bind_tensor(hm, NM("mlp.fc2.weight"), &l->fc2, err));
    TRY(bind_vec(hm, NM("mlp.fc2.bias"), D, &l->fc2_b, err));
    l->gate_attn = l->gate_ffn = 1.0f;
    if (gated) {
        float g;
        TRY(read_scalar(hm, NM("gate_attn"), &g, err));
        l->gate_attn = tanhf(g);
        TRY(read_scalar(hm, NM("gate_ffn"), &g, err));
        l->gate_ffn = tanhf(g);
    }
#undef NM
    return LLV_OK;
fail:
    return st;
}

llv_status hfv_model_load(const char *model_dir, llv_isa isa, llv_model **out, llv_error *err) {
    *out = NULL;
    llv_status st = LLV_OK;
    cJSON *cfg = NULL;
    char *path = llv_test_path(model_dir, "config.json");
    char *text = llv_test_read_file(path, NULL);
    free(path);
    if (!text) return llv_err(err, LLV_ERR_IO, "hf-vision: cannot read %s/config.json", model_dir);
    cfg = cJSON_Parse(text);
    free(text);
    const cJSON *vc = cJSON_GetObjectItemCaseSensitive(cfg, "vision_config");
    const cJSON *tc = cJSON_GetObjectItemCaseSensitive(cfg, "text_config");
    if (!cJSON_IsObject(vc) || !cJSON_IsObject(tc)) {
        cJSON_Delete(cfg);
        return llv_err(err, LLV_ERR_FORMAT, "hf-vision: %s/config.json lacks vision_config/text_config", model_dir);
    }
    hfv_model *hm = calloc(1, sizeof *hm);
    if (!hm) {
        cJSON_Delete(cfg);
        return llv_err(err, LLV_ERR_OUT_OF_MEMORY, "hf-vision: out of memory");
    }
    llv_model *m = &hm->m;
    llv_hparams *hp = &m->hp;
    hp->arch = LLV_ARCH_MLLAMA;
    hp->has_vision = true;
    hp->n_embd = json_int(tc, "hidden_size", 0);
    hp->v_n_embd = json_int(vc, "hidden_size", 0);
    hp->v_n_head = json_int(vc, "attention_heads", 0);
    hp->v_head_dim = hp->v_n_head > 0 ? hp->v_n_embd / hp->v_n_head : 0;
    hp->v_n_ff = json_int(vc, "intermediate_size", 0);
    hp->v_n_layer = json_int(vc, "num_hidden_layers", 0);
    hp->v_n_global = json_int(vc, "num_global_layers", 0);
    hp->v_image_size = json_int(vc, "image_size", 0);
    hp->v_patch_size = json_int(vc, "patch_size", 0);
    hp->v_max_tiles = json_int(vc, "max_num_tiles", 0);
    hp->v_n_channels = json_int(vc, "num_channels", 3);
    const cJSON *eps = cJSON_GetObjectItemCaseSensitive(vc, "norm_eps");
    hp->v_eps = cJSON_IsNumber(eps) ? (float)eps->valuedouble : 1e-5f;
    const cJSON *ii = cJSON_GetObjectItemCaseSensitive(vc, "intermediate_layers_indices");
    hp->v_n_interm = cJSON_GetArraySize(ii);
    if (hp->v_n_interm > LLV_MAX_INTERMEDIATE) hp->v_n_interm = LLV_MAX_INTERMEDIATE;
    for (int k = 0; k < hp->v_n_interm; k++) hp->v_interm[k] = cJSON_GetArrayItem(ii, k)->valueint;
    hp->v_output_dim = json_int(vc, "vision_output_dim", 0);
    hp->v_grid = hp->v_patch_size > 0 ? hp->v_image_size / hp->v_patch_size : 0;
    hp->v_P = hp->v_grid * hp->v_grid + 1;
    hp->v_Ppad = (hp->v_P + 7) / 8 * 8;
    hp->image_token_id = json_int(cfg, "image_token_index", -1);
    cJSON_Delete(cfg);
    if (hp->v_n_layer < 1 || hp->v_n_layer > LLV_MAX_LAYERS || hp->v_n_global < 0 ||
        hp->v_n_global > LLV_MAX_LAYERS || hp->v_n_embd <= 0) {
        st = llv_err(err, LLV_ERR_FORMAT, "hf-vision: bad vision_config in %s", model_dir);
        goto fail;
    }
    /* the image processor's normalisation (CLIP constants when absent) */
    static const float def_mean[3] = {0.48145466f, 0.4578275f, 0.40821073f},
                       def_std[3] = {0.26862954f, 0.26130258f, 0.27577711f};
    memcpy(hp->image_mean, def_mean, sizeof def_mean);
    memcpy(hp->image_std, def_std, sizeof def_std);
    path = llv_test_path(model_dir, "preprocessor_config.json");
    text = llv_test_read_file(path, NULL);
    free(path);
    cJSON *pc = text ? cJSON_Parse(text) : NULL;
    free(text);
    const cJSON *jm = cJSON_GetObjectItemCaseSensitive(pc, "image_mean");
    const cJSON *js = cJSON_GetObjectItemCaseSensitive(pc, "image_std");
    if (cJSON_GetArraySize(jm) == 3 && cJSON_GetArraySize(js) == 3)
        for (int c = 0; c < 3; c++) {
            hp->image_mean[c] = (float)cJSON_GetArrayItem(jm, c)->valuedouble;
            hp->image_std[c] = (float)cJSON_GetArrayItem(js, c)->valuedouble;
        }
    cJSON_Delete(pc);
    m->kern = llv_kernels_get(isa);
    m->params.isa = isa;
    m->params.n_threads = 1;
    TRY(llv_st_open(model_dir, &hm->st, err));
    hm->cap = llv_st_n_tensors(hm->st);
    hm->tensors = calloc((size_t)hm->cap + 1, sizeof *hm->tensors);
    if (!hm->tensors) {
        st = llv_err(err, LLV_ERR_OUT_OF_MEMORY, "hf-vision: out of memory");
        goto fail;
    }
    const int64_t D = hp->v_n_embd, F = hp->v_n_ff;
    llv_vision_weights *w = &m->vision;
    float g;
    TRY(bind_tensor(hm, "vision_model.patch_embedding.weight", &w->patch_embd, err));
    TRY(bind_vec(hm, "vision_model.class_embedding", D, &w->class_embd, err));
    TRY(bind_tensor(hm, "vision_model.gated_positional_embedding.embedding", &w->pos_embd, err));
    TRY(bind_tensor(hm, "vision_model.gated_positional_embedding.tile_embedding.weight", &w->tile_pos_embd, err));
    TRY(read_scalar(hm, "vision_model.gated_positional_embedding.gate", &g, err));
    w->pos_gate = 1.0f - tanhf(g);
    w->tile_pos_gate = tanhf(g);
    TRY(bind_tensor(hm, "vision_model.pre_tile_positional_embedding.embedding.weight", &w->pre_tile_embd, err));
    TRY(read_scalar(hm, "vision_model.pre_tile_positional_embedding.gate", &g, err));
    w->pre_tile_gate = tanhf(g);
    TRY(bind_tensor(hm, "vision_model.post_tile_positional_embedding.embedding.weight", &w->post_tile_embd, err));
    TRY(read_scalar(hm, "vision_model.post_tile_positional_embedding.gate", &g, err));
    w->post_tile_gate = tanhf(g);
    TRY(bind_vec(hm, "vision_model.layernorm_pre.weight", D, &w->pre_ln_w, err));
    TRY(bind_vec(hm, "vision_model.layernorm_pre.bias", D, &w->pre_ln_b, err));
    TRY(bind_vec(hm, "vision_model.layernorm_post.weight", D, &w->post_ln_w, err));
    TRY(bind_vec(hm, "vision_model.layernorm_post.bias", D, &w->post_ln_b, err));
    for (int i = 0; i < hp->v_n_layer; i++)
        TRY(bind_layer(hm, "vision_model.transformer", i, D, F, false, &w->layers[i], err));
    for (int i = 0; i < hp->v_n_global; i++)
        TRY(bind_layer(hm, "vision_model.global_transformer", i, D, F, true, &w->global[i], err));
    TRY(bind_tensor(hm, "multi_modal_projector.weight", &w->proj, err));
    TRY(bind_vec(hm, "multi_modal_projector.bias", hp->n_embd, &w->proj_b, err));
    m->has_weights = true;
    *out = m;
    return LLV_OK;
fail:
    hfv_model_free(m);
    return st;
}

/* ------------------------------------------------------------------------- */
/* golden comparison                                                         */
/* ------------------------------------------------------------------------- */

static void tolerance(const cJSON *entry, const char *q, double *atol, double *rtol) {
    *atol = 1e-4;
    *rtol = 1e-5;
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(entry, "tolerance"), q);
    const cJSON *a = cJSON_GetObjectItemCaseSensitive(t, "atol"), *r = cJSON_GetObjectItemCaseSensitive(t, "rtol");
    if (cJSON_IsNumber(a)) *atol = a->valuedouble;
    if (cJSON_IsNumber(r)) *rtol = r->valuedouble;
}

/* A malloc'd float32 copy of a case tensor (safetensors data need not be
 * aligned), checked against the expected element count. */
static float *load_f32(const llv_st *st, const char *name, int64_t numel, char *msg, size_t msz) {
    const llv_st_tensor *t = llv_st_find(st, name);
    if (!t) {
        snprintf(msg, msz, "tensor %s missing", name);
        return NULL;
    }
    if (t->dtype != LLV_ST_F32 || llv_st_numel(t) != numel) {
        snprintf(msg, msz, "tensor %s: %s with %lld elements, expected F32 with %lld", name,
                 llv_st_dtype_name(t->dtype), (long long)llv_st_numel(t), (long long)numel);
        return NULL;
    }
    float *p = malloc((size_t)numel * sizeof(float));
    if (p) memcpy(p, t->data, (size_t)numel * sizeof(float));
    else snprintf(msg, msz, "out of memory for %s", name);
    return p;
}

int hfv_check_case(const char *golden_root, const cJSON *entry, const llv_model *m, llv_threadpool *pool,
                   hfv_compare_fn cmp, hfv_fail_fn fail, void *user, int *n_images) {
    *n_images = 0;
    const cJSON *imgs = cJSON_GetObjectItemCaseSensitive(entry, "images");
    if (!cJSON_IsArray(imgs) || cJSON_GetArraySize(imgs) == 0) return 0;
    const cJSON *jp = cJSON_GetObjectItemCaseSensitive(entry, "path");
    const cJSON *jc = cJSON_GetObjectItemCaseSensitive(entry, "case");
    const cJSON *jg = cJSON_GetObjectItemCaseSensitive(entry, "config");
    char base[256], name[300], msg[600];
    snprintf(base, sizeof base, "%s/%s", cJSON_IsString(jg) ? jg->valuestring : "?",
             cJSON_IsString(jc) ? jc->valuestring : "?");
    if (!cJSON_IsString(jp)) {
        fail(user, base, "entry", "no path");
        return 1;
    }
    const llv_hparams *hp = &m->hp;
    const int64_t M = cJSON_GetArraySize(imgs), T = hp->v_max_tiles, C = hp->v_n_channels, S = hp->v_image_size,
                  D = hp->v_n_embd, g2 = (int64_t)hp->v_grid * hp->v_grid, P = hp->v_P, Ppad = hp->v_Ppad,
                  N = T * Ppad, L = hp->v_n_layer, G = hp->v_n_global, OD = hp->v_output_dim, E = hp->n_embd;
    double atol, rtol, catol, crtol;
    tolerance(entry, "vision", &atol, &rtol);
    tolerance(entry, "cross_attention_states", &catol, &crtol);

    int failed = 0;
    llv_error err = {0};
    llv_st *st = NULL;
    llv_vision_state *vs = NULL;
    char *path = llv_test_path(golden_root, jp->valuestring);
    enum { Q_PATCH, Q_PRE, Q_POS, Q_LNPRE, Q_LOCAL, Q_LNPOST, Q_POST, Q_GLOBAL, Q_OUT, Q_CROSS, Q_N };
    static const char *qname[Q_N] = {"vision.patch_embeds", "vision.after_pre_tile_embedding",
                                     "vision.after_position_embedding", "vision.after_layernorm_pre",
                                     "vision.local_hidden_states", "vision.after_layernorm_post",
                                     "vision.after_post_tile_embedding", "vision.global_hidden_states",
                                     "vision.output", "cross_attention_states"};
    /* per image sizes; the references of all images */
    const int64_t per[Q_N] = {T * g2 * D, T * g2 * D, T * P * D, T * P * D, (L + 1) * N * D,
                              N * D,      N * D,      G * N * D, T * P * OD, T * P * E};
    float *ref[Q_N] = {0}, *got[Q_N] = {0}, *pix = NULL, *refi = NULL;
    if (llv_st_open(path, &st, &err) != LLV_OK) {
        fail(user, base, "open", err.message);
        failed++;
        goto done;
    }
    const llv_st_tensor *tar = llv_st_find(st, "aspect_ratio_ids"), *tnt = llv_st_find(st, "num_tiles");
    if (!tar || !tnt || llv_st_numel(tar) != M || llv_st_numel(tnt) != M) {
        fail(user, base, "inputs", "aspect_ratio_ids / num_tiles missing or not one per image");
        failed++;
        goto done;
    }
    if (!(pix = load_f32(st, "pixel_values", M * T * C * S * S, msg, sizeof msg))) {
        fail(user, base, "pixel_values", msg);
        failed++;
        goto done;
    }
    for (int q = 0; q < Q_N; q++) {
        if (!(ref[q] = load_f32(st, qname[q], M * per[q], msg, sizeof msg)) ||
            !(got[q] = malloc((size_t)per[q] * sizeof(float)))) {
            fail(user, base, qname[q], msg);
            failed++;
            goto done;
        }
    }
    int64_t maxper = 0;
    for (int q = 0; q < Q_N; q++) maxper = per[q] > maxper ? per[q] : maxper;
    refi = malloc((size_t)maxper * sizeof(float));
    if (!refi || llv_vision_state_create(m, &vs, &err) != LLV_OK) {
        fail(user, base, "vision_state_create", refi ? err.message : "out of memory");
        failed++;
        goto done;
    }
    for (int64_t i = 0; i < M; i++) {
        snprintf(name, sizeof name, "%s/img%lld", base, (long long)i);
        llv_vision_capture cap = {got[Q_PATCH], got[Q_PRE],    got[Q_POS],    got[Q_LNPRE], got[Q_LOCAL],
                                  got[Q_LNPOST], got[Q_POST], got[Q_GLOBAL], got[Q_OUT]};
        int32_t ar = (int32_t)llv_st_get_i64(tar, i), nt = (int32_t)llv_st_get_i64(tnt, i);
        if (llv_vision_encode(m, vs, pool, pix + i * T * C * S * S, ar, nt, got[Q_CROSS], &cap, NULL, NULL, &err) !=
            LLV_OK) {
            fail(user, name, "llv_vision_encode", err.message);
            failed++;
            continue;
        }
        (*n_images)++;
        for (int q = 0; q < Q_N; q++) {
            /* layer-stacked quantities are [layers, M, N, D]: gather image i */
            int64_t layers = q == Q_LOCAL ? L + 1 : q == Q_GLOBAL ? G : 1;
            int64_t chunk = per[q] / layers;
            for (int64_t l = 0; l < layers; l++)
                memcpy(refi + l * chunk, ref[q] + (l * M + i) * chunk, (size_t)chunk * sizeof(float));
            bool cross = q == Q_CROSS;
            if (!cmp(user, name, qname[q], got[q], refi, per[q], cross ? catol : atol, cross ? crtol : rtol))
                failed++;
        }
    }
done:
    llv_vision_state_free(vs);
    for (int q = 0; q < Q_N; q++) {
        free(ref[q]);
        free(got[q]);
    }
    free(refi);
    free(pix);
    llv_st_close(st);
    free(path);
    return failed;
}

/* ------------------------------------------------------------------------- */
/* end to end: image file -> llv preprocessing -> encoder -> projector        */
/* ------------------------------------------------------------------------- */

int hfv_check_case_e2e(const char *golden_root, const cJSON *entry, const llv_model *m, llv_threadpool *pool,
                       hfv_compare_fn cmp, hfv_fail_fn fail, void *user, int *n_images) {
    *n_images = 0;
    const cJSON *imgs = cJSON_GetObjectItemCaseSensitive(entry, "images");
    if (!cJSON_IsArray(imgs) || cJSON_GetArraySize(imgs) == 0) return 0;
    const cJSON *jp = cJSON_GetObjectItemCaseSensitive(entry, "path");
    const cJSON *jc = cJSON_GetObjectItemCaseSensitive(entry, "case");
    const cJSON *jg = cJSON_GetObjectItemCaseSensitive(entry, "config");
    char base[256], name[300], msg[600];
    snprintf(base, sizeof base, "%s/%s", cJSON_IsString(jg) ? jg->valuestring : "?",
             cJSON_IsString(jc) ? jc->valuestring : "?");
    if (!cJSON_IsString(jp) || !cJSON_IsString(jg)) {
        fail(user, base, "entry", "no path or config");
        return 1;
    }
    const llv_hparams *hp = &m->hp;
    const int64_t M = cJSON_GetArraySize(imgs), T = hp->v_max_tiles, C = hp->v_n_channels, S = hp->v_image_size,
                  P = hp->v_P, E = hp->n_embd, npix = T * C * S * S;
    double atol, rtol;
    tolerance(entry, "cross_attention_states", &atol, &rtol);
    int failed = 0;
    llv_error err = {0};
    llv_st *st = NULL;
    llv_vision_state *vs = NULL;
    float *pix = NULL, *xref = NULL, *xgot = NULL;
    char *path = llv_test_path(golden_root, jp->valuestring);
    if (llv_st_open(path, &st, &err) != LLV_OK) {
        fail(user, base, "open", err.message);
        failed++;
        goto done;
    }
    const llv_st_tensor *tar = llv_st_find(st, "aspect_ratio_ids"), *tnt = llv_st_find(st, "num_tiles");
    if (!tar || !tnt || llv_st_numel(tar) != M || llv_st_numel(tnt) != M || !(pix = load_f32(st, "pixel_values", M * npix, msg, sizeof msg)) ||
        !(xref = load_f32(st, "cross_attention_states", M * T * P * E, msg, sizeof msg)) ||
        !(xgot = malloc((size_t)(T * P * E) * sizeof(float)))) {
        fail(user, base, "inputs", "pixel_values, aspect_ratio_ids, num_tiles or cross_attention_states unusable");
        failed++;
        goto done;
    }
    if (llv_vision_state_create(m, &vs, &err) != LLV_OK) {
        fail(user, base, "vision_state_create", err.message);
        failed++;
        goto done;
    }
    for (int64_t i = 0; i < M; i++) {
        snprintf(name, sizeof name, "%s/img%lld", base, (long long)i);
        const cJSON *file = cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(imgs, (int)i), "file");
        if (!cJSON_IsString(file)) {
            fail(user, name, "image", "no file");
            failed++;
            continue;
        }
        char rel[512];
        snprintf(rel, sizeof rel, "models/%s/%s", jg->valuestring, file->valuestring);
        char *ipath = llv_test_path(golden_root, rel);
        size_t nbytes = 0;
        char *bytes = llv_test_read_file(ipath, &nbytes);
        free(ipath);
        llv_rgb_image img = {0};
        llv_image_tiles tiles = {0};
        bool ok = bytes && llv_image_decode(bytes, nbytes, NULL, &img, &err) == LLV_OK &&
                  llv_image_preprocess(&img, (int32_t)S, (int32_t)T, hp->image_mean, hp->image_std, &tiles, NULL,
                                       &err) == LLV_OK;
        free(bytes);
        llv_rgb_image_free(&img);
        if (!ok) {
            fail(user, name, "image preprocessing", bytes ? err.message : "cannot read the image file");
            failed++;
            llv_image_tiles_free(&tiles);
            continue;
        }
        int32_t ar = (int32_t)llv_st_get_i64(tar, i), nt = (int32_t)llv_st_get_i64(tnt, i);
        if (tiles.aspect_ratio_id != ar || tiles.n_tiles != nt) {
            snprintf(msg, sizeof msg, "aspect_ratio_id %d / n_tiles %d, HF %d / %d", tiles.aspect_ratio_id,
                     tiles.n_tiles, ar, nt);
            fail(user, name, "e2e.tiles", msg);
            failed++;
        }
        if (!cmp(user, name, "e2e.pixel_values", tiles.pixels, pix + i * npix, npix, 0.0, 0.0)) failed++;
        if (llv_vision_encode(m, vs, pool, tiles.pixels, tiles.aspect_ratio_id, tiles.n_tiles, xgot, NULL, NULL,
                              NULL, &err) != LLV_OK) {
            fail(user, name, "llv_vision_encode", err.message);
            failed++;
        } else {
            (*n_images)++;
            if (!cmp(user, name, "e2e.cross_attention_states", xgot, xref + i * T * P * E, T * P * E, atol, rtol))
                failed++;
        }
        llv_image_tiles_free(&tiles);
    }
done:
    llv_vision_state_free(vs);
    free(pix);
    free(xref);
    free(xgot);
    llv_st_close(st);
    free(path);
    return failed;
}
