/* Test helper: an llv_model built straight from an HF golden directory. */
#include "hf-model.h"

#include "safetensors.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define HF_MAX_TENSORS 1024

typedef struct hf_holder {
    llv_model  m; /* first: the holder is freed through its llv_model pointer */
    llv_st    *st;
    llv_tensor tensors[HF_MAX_TENSORS];
    int        n_tensors;
    void      *owned[HF_MAX_TENSORS]; /* converted / permuted data */
    int        n_owned;
} hf_holder;

static char *read_text(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)n + 1);
    if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n) {
        free(buf);
        buf = NULL;
    }
    if (buf) buf[n] = 0;
    fclose(f);
    return buf;
}

static double jnum(const cJSON *o, const char *key, double dflt) {
    const cJSON *j = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsNumber(j) ? j->valuedouble : dflt;
}

static void *own(hf_holder *h, size_t n) {
    if (h->n_owned >= HF_MAX_TENSORS) return NULL;
    void *p = malloc(n ? n : 1);
    if (p) h->owned[h->n_owned++] = p;
    return p;
}

/* Binds a 2-D weight [out, in] as ne {in, out}; permute_heads > 0 reorders
 * rows per head from HF half-split to adjacent pairs (the converter's rule). */
static llv_status bind2(hf_holder *h, const char *name, llv_type wtype, int permute_heads, const llv_tensor **out,
                        llv_error *err) {
    const llv_st_tensor *t = llv_st_find(h->st, name);
    if (!t) return llv_err(err, LLV_ERR_NOT_FOUND, "hf-model: tensor '%s' missing", name);
    if (t->dtype != LLV_ST_F32 || t->n_dims != 2)
        return llv_err(err, LLV_ERR_FORMAT, "hf-model: tensor '%s' must be 2-D F32", name);
    if (h->n_tensors >= HF_MAX_TENSORS) return llv_err(err, LLV_ERR_LIMIT, "hf-model: too many tensors");
    int64_t rows = t->shape[0], cols = t->shape[1];
    const float *src = t->data;
    const float *data = src;
    if (permute_heads > 0) {
        int64_t hd = rows / permute_heads;
        float *p = own(h, (size_t)(rows * cols) * 4);
        if (!p) return llv_err(err, LLV_ERR_OUT_OF_MEMORY, "hf-model: out of memory");
        for (int64_t hh = 0; hh < permute_heads; hh++)
            for (int64_t i = 0; i < hd / 2; i++)
                for (int64_t j = 0; j < 2; j++)
                    memcpy(p + (hh * hd + 2 * i + j) * cols, src + (hh * hd + j * (hd / 2) + i) * cols,
                           (size_t)cols * 4);
        data = p;
    }
    llv_tensor *lt = &h->tensors[h->n_tensors++];
    lt->name = t->name;
    lt->n_dims = 2;
    lt->ne[0] = cols;
    lt->ne[1] = rows;
    lt->ne[2] = lt->ne[3] = 1;
    if (wtype == LLV_TYPE_F32) {
        lt->type = LLV_TYPE_F32;
        lt->data = data;
        lt->nbytes = (size_t)(rows * cols) * 4;
    } else {
        uint16_t *q = own(h, (size_t)(rows * cols) * 2);
        if (!q) return llv_err(err, LLV_ERR_OUT_OF_MEMORY, "hf-model: out of memory");
        const llv_kernels *k = llv_kernels_ref();
        k->from_f32[wtype](data, q, rows * cols);
        lt->type = wtype;
        lt->data = q;
        lt->nbytes = (size_t)(rows * cols) * 2;
    }
    *out = lt;
    return LLV_OK;
}

static llv_status bind1(hf_holder *h, const char *name, int64_t n, const float **out, llv_error *err) {
    const llv_st_tensor *t = llv_st_find(h->st, name);
    if (!t) return llv_err(err, LLV_ERR_NOT_FOUND, "hf-model: tensor '%s' missing", name);
    if (t->dtype != LLV_ST_F32 || llv_st_numel(t) != n)
        return llv_err(err, LLV_ERR_FORMAT, "hf-model: tensor '%s' must be F32 with %lld elements", name,
                       (long long)n);
    *out = t->data;
    return LLV_OK;
}

llv_status hf_model_load_typed(const char *dir, llv_type wtype, llv_model **out, llv_error *err) {
    *out = NULL;
    if (wtype != LLV_TYPE_F32 && wtype != LLV_TYPE_F16 && wtype != LLV_TYPE_BF16)
        return llv_err(err, LLV_ERR_INVALID_ARGUMENT, "hf-model: weight type %d unsupported", (int)wtype);
    hf_holder *h = calloc(1, sizeof *h);
    if (!h) return llv_err(err, LLV_ERR_OUT_OF_MEMORY, "hf-model: out of memory");
    llv_model *m = &h->m;
    llv_status s = LLV_OK;
    char path[4096];
    snprintf(path, sizeof path, "%s/config.json", dir);
    char *txt = read_text(path);
    cJSON *cfg = txt ? cJSON_Parse(txt) : NULL;
    free(txt);
    snprintf(path, sizeof path, "%s/generation_config.json", dir);
    txt = read_text(path);
    cJSON *gen = txt ? cJSON_Parse(txt) : NULL;
    free(txt);
    if (!cfg) {
        s = llv_err(err, LLV_ERR_IO, "hf-model: cannot read %s/config.json", dir);
        goto fail;
    }
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    if ((s = llv_st_open(path, &h->st, err)) != LLV_OK) goto fail;

    const cJSON *tc = cJSON_GetObjectItemCaseSensitive(cfg, "text_config");
    bool mllama = tc != NULL;
    if (!tc) tc = cfg;
    llv_hparams *hp = &m->hp;
    hp->arch = mllama ? LLV_ARCH_MLLAMA : LLV_ARCH_LLAMA;
    hp->n_vocab = (int32_t)jnum(tc, "vocab_size", 0);
    hp->n_embd = (int32_t)jnum(tc, "hidden_size", 0);
    hp->n_head = (int32_t)jnum(tc, "num_attention_heads", 0);
    hp->n_head_kv = (int32_t)jnum(tc, "num_key_value_heads", hp->n_head);
    hp->head_dim = hp->n_head ? hp->n_embd / hp->n_head : 0;
    hp->n_ff = (int32_t)jnum(tc, "intermediate_size", 0);
    hp->n_layer = (int32_t)jnum(tc, "num_hidden_layers", 0);
    hp->n_ctx_train = (int32_t)jnum(tc, "max_position_embeddings", 0);
    hp->rms_eps = (float)jnum(tc, "rms_norm_eps", 1e-5);
    hp->rope_theta = (float)jnum(tc, "rope_theta", 10000.0);
    const cJSON *rs = cJSON_GetObjectItemCaseSensitive(tc, "rope_scaling");
    const cJSON *rt = rs ? cJSON_GetObjectItemCaseSensitive(rs, "rope_type") : NULL;
    if (cJSON_IsString(rt) && !strcmp(rt->valuestring, "llama3")) {
        hp->rope_llama3 = true;
        hp->rope_factor = (float)jnum(rs, "factor", 8);
        hp->rope_low_freq_factor = (float)jnum(rs, "low_freq_factor", 1);
        hp->rope_high_freq_factor = (float)jnum(rs, "high_freq_factor", 4);
        hp->rope_orig_ctx = (int32_t)jnum(rs, "original_max_position_embeddings", 8192);
    }
    hp->image_token_id = mllama ? (int32_t)jnum(cfg, "image_token_index", -1) : -1;
    if (hp->n_layer <= 0 || hp->n_layer > LLV_MAX_LAYERS || hp->head_dim <= 0 || hp->head_dim > LLV_MAX_HEAD_DIM ||
        hp->n_head_kv <= 0 || hp->n_head % hp->n_head_kv) {
        s = llv_err(err, LLV_ERR_FORMAT, "hf-model: unsupported text config");
        goto fail;
    }
    const cJSON *cl = cJSON_GetObjectItemCaseSensitive(tc, "cross_attention_layers");
    const cJSON *it;
    cJSON_ArrayForEach(it, cl) {
        int li = it->valueint;
        if (li < 0 || li >= hp->n_layer || hp->n_cross >= LLV_MAX_CROSS) {
            s = llv_err(err, LLV_ERR_FORMAT, "hf-model: bad cross_attention_layers entry %d", li);
            goto fail;
        }
        hp->cross_layers[hp->n_cross++] = li;
        hp->is_cross[li] = true;
    }
    m->bos_id = (int32_t)jnum(gen ? gen : tc, "bos_token_id", -1);
    m->pad_id = (int32_t)jnum(gen ? gen : tc, "pad_token_id", -1);
    const cJSON *eos = cJSON_GetObjectItemCaseSensitive(gen ? gen : tc, "eos_token_id");
    if (cJSON_IsNumber(eos)) m->eog[m->n_eog++] = eos->valueint;
    cJSON_ArrayForEach(it, eos) if (m->n_eog < LLV_MAX_EOG) m->eog[m->n_eog++] = it->valueint;

    const char *pre = mllama ? "language_model." : "";
    char name[256];
    llv_text_weights *tw = &m->text;
    snprintf(name, sizeof name, "%smodel.embed_tokens.weight", pre);
    if ((s = bind2(h, name, wtype, 0, &tw->tok_embd, err))) goto fail;
    hp->n_embd_rows = (int32_t)tw->tok_embd->ne[1];
    snprintf(name, sizeof name, "%slm_head.weight", pre);
    if ((s = bind2(h, name, wtype, 0, &tw->output, err))) goto fail;
    snprintf(name, sizeof name, "%smodel.norm.weight", pre);
    if ((s = bind1(h, name, hp->n_embd, &tw->output_norm, err))) goto fail;
    for (int l = 0; l < hp->n_layer; l++) {
        llv_text_layer *L = &tw->layers[l];
        L->is_cross = hp->is_cross[l];
        const char *att = L->is_cross ? "cross_attn" : "self_attn";
        int pq = L->is_cross ? 0 : hp->n_head, pk = L->is_cross ? 0 : hp->n_head_kv;
#define B2(field, fmt, perm)                                                   \
    snprintf(name, sizeof name, "%smodel.layers.%d." fmt, pre, l, att);        \
    if ((s = bind2(h, name, wtype, perm, &L->field, err))) goto fail;
        B2(wq, "%s.q_proj.weight", pq);
        B2(wk, "%s.k_proj.weight", pk);
        B2(wv, "%s.v_proj.weight", 0);
        B2(wo, "%s.o_proj.weight", 0);
#undef B2
#define B2M(field, fmt)                                                        \
    snprintf(name, sizeof name, "%smodel.layers.%d." fmt, pre, l);             \
    if ((s = bind2(h, name, wtype, 0, &L->field, err))) goto fail;
        B2M(ffn_gate, "mlp.gate_proj.weight");
        B2M(ffn_up, "mlp.up_proj.weight");
        B2M(ffn_down, "mlp.down_proj.weight");
#undef B2M
        snprintf(name, sizeof name, "%smodel.layers.%d.input_layernorm.weight", pre, l);
        if ((s = bind1(h, name, hp->n_embd, &L->attn_norm, err))) goto fail;
        snprintf(name, sizeof name, "%smodel.layers.%d.post_attention_layernorm.weight", pre, l);
        if ((s = bind1(h, name, hp->n_embd, &L->ffn_norm, err))) goto fail;
        if (L->is_cross) {
            const float *g = NULL;
            snprintf(name, sizeof name, "%smodel.layers.%d.cross_attn.q_norm.weight", pre, l);
            if ((s = bind1(h, name, hp->head_dim, &L->q_norm, err))) goto fail;
            snprintf(name, sizeof name, "%smodel.layers.%d.cross_attn.k_norm.weight", pre, l);
            if ((s = bind1(h, name, hp->head_dim, &L->k_norm, err))) goto fail;
            snprintf(name, sizeof name, "%smodel.layers.%d.cross_attn_attn_gate", pre, l);
            if ((s = bind1(h, name, 1, &g, err))) goto fail;
            L->attn_gate = tanhf(g[0]);
            snprintf(name, sizeof name, "%smodel.layers.%d.cross_attn_mlp_gate", pre, l);
            if ((s = bind1(h, name, 1, &g, err))) goto fail;
            L->mlp_gate = tanhf(g[0]);
        }
    }
    llv_rope_inv_freq(hp, tw->inv_freq);
    m->kern = llv_kernels_get(LLV_ISA_AUTO); /* the kernels the library picks (LLV_ISA=ref forces ref) */
    m->has_weights = true;
    m->weight_type = wtype;
    cJSON_Delete(cfg);
    cJSON_Delete(gen);
    *out = m;
    return LLV_OK;
fail:
    cJSON_Delete(cfg);
    cJSON_Delete(gen);
    hf_model_free(m);
    return s;
}

llv_status hf_model_load(const char *dir, llv_model **out, llv_error *err) {
    return hf_model_load_typed(dir, LLV_TYPE_F32, out, err);
}

llv_status hf_model_make_llama(const llv_model *src, llv_model **out, llv_error *err) {
    *out = NULL;
    hf_holder *h = calloc(1, sizeof *h);
    if (!h) return llv_err(err, LLV_ERR_OUT_OF_MEMORY, "hf-model: out of memory");
    llv_model *m = &h->m;
    *m = *src;
    m->hp.arch = LLV_ARCH_LLAMA;
    m->hp.n_cross = 0;
    m->hp.image_token_id = -1;
    memset(m->hp.is_cross, 0, sizeof m->hp.is_cross);
    int n = 0;
    for (int l = 0; l < src->hp.n_layer; l++)
        if (!src->hp.is_cross[l]) m->text.layers[n++] = src->text.layers[l];
    m->hp.n_layer = n;
    *out = m;
    return LLV_OK;
}

void hf_model_free(llv_model *m) {
    if (!m) return;
    hf_holder *h = (hf_holder *)m;
    for (int i = 0; i < h->n_owned; i++) free(h->owned[i]);
    llv_st_close(h->st);
    free(h);
}
