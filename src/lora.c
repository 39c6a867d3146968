/* lora.c - LoRA adapters at run time: loading GGUF adapters into a model's
 * registry and applying them unmerged (y = W x + scale * B (A x)). Offline
 * merging and PEFT conversion: src/tools/lora-convert.c. Format and
 * conventions: lora.h. */
#include "lora.h"

#include "gguf.h"
#include "mmap.h"
#include "ops.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LORA_MAX_NAME 64

static const char *type_name(int t) {
    const char *n = llv_type_name((llv_type)t);
    return n ? n : "unknown";
}

/* ------------------------------------------------------------------------- */
/* Base tensor names                                                         */
/* ------------------------------------------------------------------------- */

/* GGUF suffixes per projection: self layers, cross layers */
static const char *const self_sfx[LLV_LORA_PROJ_COUNT] = {"attn_q", "attn_k", "attn_v", "attn_output",
                                              "ffn_gate", "ffn_up", "ffn_down"};
static const char *const cross_sfx[LLV_LORA_PROJ_COUNT] = {"cross_attn_q_proj", "cross_attn_k_proj", "cross_attn_v_proj",
                                               "cross_attn_o_proj", "ffn_gate", "ffn_up", "ffn_down"};

const char *llv_lora_proj_suffix(bool cross, llv_lora_proj p) {
    return p >= 0 && p < LLV_LORA_PROJ_COUNT ? (cross ? cross_sfx : self_sfx)[p] : NULL;
}

static const llv_tensor *layer_weight(const llv_text_layer *L, llv_lora_proj p) {
    switch (p) {
    case LLV_LORA_Q: return L->wq;
    case LLV_LORA_K: return L->wk;
    case LLV_LORA_V: return L->wv;
    case LLV_LORA_O: return L->wo;
    case LLV_LORA_GATE: return L->ffn_gate;
    case LLV_LORA_UP: return L->ffn_up;
    case LLV_LORA_DOWN: return L->ffn_down;
    default: return NULL;
    }
}

static const llv_lora_pair **layer_slot(llv_lora_layer *L, llv_lora_proj p) {
    switch (p) {
    case LLV_LORA_Q: return &L->wq;
    case LLV_LORA_K: return &L->wk;
    case LLV_LORA_V: return &L->wv;
    case LLV_LORA_O: return &L->wo;
    case LLV_LORA_GATE: return &L->ffn_gate;
    case LLV_LORA_UP: return &L->ffn_up;
    case LLV_LORA_DOWN: return &L->ffn_down;
    default: return NULL;
    }
}

/* Parses "blk.N.<sfx>.weight" into layer and projection for model m. */
static bool parse_base(const llv_model *m, const char *base, int *layer, llv_lora_proj *p) {
    int l = -1, off = 0;
    if (sscanf(base, "blk.%d.%n", &l, &off) != 1 || off == 0 || l < 0 || l >= m->hp.n_layer) return false;
    const char *rest = base + off;
    const char *const *sfx = m->hp.is_cross[l] ? cross_sfx : self_sfx;
    for (int i = 0; i < LLV_LORA_PROJ_COUNT; i++) {
        size_t n = strlen(sfx[i]);
        if (!strncmp(rest, sfx[i], n) && !strcmp(rest + n, ".weight")) {
            *layer = l;
            *p = (llv_lora_proj)i;
            return true;
        }
    }
    return false;
}

/* ------------------------------------------------------------------------- */
/* Loading                                                                   */
/* ------------------------------------------------------------------------- */

void llv_lora_free(llv_lora *l) {
    if (!l) return;
    llv_gguf_close(l->gguf);
    free(l->pairs);
    free(l->name);
    free(l->path);
    free(l);
}

static char *dup_cstr(const char *s) {
    size_t n = strlen(s);
    char *d = malloc(n + 1);
    if (d) memcpy(d, s, n + 1);
    return d;
}

static bool gstr_eq(llv_gguf_str s, const char *lit) { return s.len == strlen(lit) && !memcmp(s.ptr, lit, s.len); }

static llv_status check_factor(const llv_model *m, const llv_tensor *t, llv_error *err) {
    size_t rb;
    if (t->n_dims != 2 || t->ne[2] != 1 || t->ne[3] != 1)
        return llv_err(err, LLV_ERR_FORMAT, "adapter tensor '%s': %d dimensions, expected 2", t->name, t->n_dims);
    if (!llv_type_is_weight(t->type) || (unsigned)t->type >= LLV_KTYPE_COUNT || !m->kern->matmul[t->type] ||
        !llv_type_row_bytes(t->type, t->ne[0], &rb))
        return llv_err(err, LLV_ERR_FORMAT,
                       "adapter tensor '%s': type %s with rows of %lld elements is not usable (expected f32, f16, "
                       "bf16 or a quantized type with rows of whole blocks)",
                       t->name, type_name(t->type), (long long)t->ne[0]);
    return LLV_OK;
}

llv_status llv_lora_load(const llv_model *m, const char *name, const char *path, float user_scale, llv_lora **out,
                         llv_error *err) {
    *out = NULL;
    if (!m || !path) return llv_err(err, LLV_ERR_INVALID_ARGUMENT, "LoRA adapter: NULL model or path");
    if (!m->has_weights)
        return llv_err(err, LLV_ERR_UNSUPPORTED, "LoRA adapter '%s': the model has no weights (vocabulary-only)",
                       path);
    if (!isfinite(user_scale))
        return llv_err(err, LLV_ERR_INVALID_ARGUMENT, "LoRA adapter '%s': scale %g is not finite", path,
                       (double)user_scale);
    llv_lora *l = calloc(1, sizeof *l);
    if (!l) return llv_err(err, LLV_ERR_OUT_OF_MEMORY, "out of memory");
    l->model = m;
    l->user_scale = user_scale;
    l->name = name ? dup_cstr(name) : NULL;
    l->path = dup_cstr(path);
    llv_status s;
    if ((name && !l->name) || !l->path) {
        s = llv_err(err, LLV_ERR_OUT_OF_MEMORY, "out of memory");
        goto fail;
    }
    if ((s = llv_gguf_open(path, &l->gguf, err))) goto fail;
    const llv_gguf *g = l->gguf;
    llv_gguf_str v;
    if (llv_gguf_get_str(g, "general.type", &v, NULL) != LLV_OK || !gstr_eq(v, "adapter")) {
        bool has = llv_gguf_find_key(g, "general.type") >= 0 && llv_gguf_get_str(g, "general.type", &v, NULL) == LLV_OK;
        s = llv_err(err, LLV_ERR_FORMAT, "not an adapter file: general.type is '%.*s', expected 'adapter'",
                    has ? (int)LLV_MIN(v.len, 64) : 8, has ? v.ptr : "(absent)");
        goto fail;
    }
    if (llv_gguf_get_str(g, "adapter.type", &v, NULL) != LLV_OK || !gstr_eq(v, "lora")) {
        s = llv_err(err, LLV_ERR_UNSUPPORTED, "adapter.type is not \"lora\" (only LoRA adapters are supported)");
        goto fail;
    }
    const char *want = llv_arch_name(m->hp.arch);
    if ((s = llv_gguf_get_str(g, "general.architecture", &v, err))) goto fail;
    if (!gstr_eq(v, want)) {
        s = llv_err(err, LLV_ERR_UNSUPPORTED,
                    "adapter for architecture '%.*s' cannot be applied to a '%s' model", (int)LLV_MIN(v.len, 64),
                    v.ptr, want);
        goto fail;
    }
    l->alpha = 0;
    if (llv_gguf_find_key(g, "adapter.lora.alpha") >= 0 &&
        (s = llv_gguf_get_f32(g, "adapter.lora.alpha", &l->alpha, err)))
        goto fail;
    if (!isfinite(l->alpha)) {
        s = llv_err(err, LLV_ERR_FORMAT, "adapter.lora.alpha is not finite");
        goto fail;
    }

    int64_t nt = llv_gguf_n_tensors(g);
    l->pairs = calloc((size_t)nt + 1, sizeof *l->pairs);
    if (!l->pairs) {
        s = llv_err(err, LLV_ERR_OUT_OF_MEMORY, "out of memory");
        goto fail;
    }
    for (int64_t i = 0; i < nt; i++) {
        const llv_tensor *t = llv_gguf_tensor(g, i);
        size_t n = strlen(t->name);
        bool is_a = n > 7 && !strcmp(t->name + n - 7, ".lora_a");
        bool is_b = n > 7 && !strcmp(t->name + n - 7, ".lora_b");
        if (!is_a && !is_b) {
            s = llv_err(err, LLV_ERR_FORMAT, "adapter tensor '%s': name must end in .lora_a or .lora_b", t->name);
            goto fail;
        }
        if (is_b) continue; /* found through its lora_a */
        char base[256], bname[264];
        if (n - 7 >= sizeof base) {
            s = llv_err(err, LLV_ERR_FORMAT, "adapter tensor '%.64s...': name too long", t->name);
            goto fail;
        }
        memcpy(base, t->name, n - 7);
        base[n - 7] = 0;
        int layer;
        llv_lora_proj p;
        if (!parse_base(m, base, &layer, &p)) {
            s = llv_err(err, LLV_ERR_UNSUPPORTED,
                        "adapter tensor '%s': '%s' is not an adaptable weight of this %s model (q/k/v/o of self- "
                        "and cross-attention layers and ffn_gate/up/down of blk.0..%d)",
                        t->name, base, want, m->hp.n_layer - 1);
            goto fail;
        }
        snprintf(bname, sizeof bname, "%s.lora_b", base);
        const llv_tensor *b = llv_gguf_find_tensor(g, bname);
        if (!b) {
            s = llv_err(err, LLV_ERR_NOT_FOUND, "adapter tensor '%s' has no partner '%s'", t->name, bname);
            goto fail;
        }
        if ((s = check_factor(m, t, err)) || (s = check_factor(m, b, err))) goto fail;
        const llv_tensor *W = layer_weight(&m->text.layers[layer], p);
        int64_t n_in = W->ne[0], n_out = llv_tensor_rows(W), r = t->ne[1];
        char got[64];
        if (t->ne[0] != n_in || r < 1 || r > LLV_LORA_MAX_RANK) {
            llv_tensor_fmt_ne(got, sizeof got, t->n_dims, t->ne);
            s = llv_err(err, LLV_ERR_FORMAT,
                        "adapter tensor '%s': shape %s, expected {%lld, r} with 1 <= r <= %d (base '%s' has ne "
                        "{%lld, %lld})",
                        t->name, got, (long long)n_in, LLV_LORA_MAX_RANK, base, (long long)n_in, (long long)n_out);
            goto fail;
        }
        if (b->ne[0] != r || b->ne[1] != n_out) {
            llv_tensor_fmt_ne(got, sizeof got, b->n_dims, b->ne);
            s = llv_err(err, LLV_ERR_FORMAT,
                        "adapter tensor '%s': shape %s, expected {%lld, %lld} (rank %lld from '%s', base '%s' has "
                        "%lld output rows)",
                        b->name, got, (long long)r, (long long)n_out, (long long)r, t->name, base, (long long)n_out);
            goto fail;
        }
        llv_lora_layer *LL = &l->layers[layer];
        const llv_lora_pair **slot = layer_slot(LL, p);
        if (*slot) {
            s = llv_err(err, LLV_ERR_FORMAT, "adapter tensor '%s' appears twice", t->name);
            goto fail;
        }
        llv_lora_pair *pr = &l->pairs[l->n_pairs++];
        pr->base = W;
        pr->a = t;
        pr->b = b;
        pr->rank = (int32_t)r;
        pr->scale = l->alpha != 0 ? user_scale * l->alpha / (float)r : user_scale;
        *slot = pr;
        l->max_rank = LLV_MAX(l->max_rank, (int32_t)r);
        l->max_out = LLV_MAX(l->max_out, n_out);
    }
    /* every lora_b must have been paired */
    for (int64_t i = 0; i < nt; i++) {
        const llv_tensor *t = llv_gguf_tensor(g, i);
        size_t n = strlen(t->name);
        if (n <= 7 || strcmp(t->name + n - 7, ".lora_b")) continue;
        bool found = false;
        for (size_t k = 0; k < l->n_pairs && !found; k++) found = l->pairs[k].b == t;
        if (!found) {
            s = llv_err(err, LLV_ERR_NOT_FOUND, "adapter tensor '%s' has no partner '%.*s.lora_a'", t->name,
                        (int)(n - 7), t->name);
            goto fail;
        }
    }
    if (l->n_pairs == 0) {
        s = llv_err(err, LLV_ERR_FORMAT, "the adapter has no tensors");
        goto fail;
    }
    *out = l;
    return LLV_OK;
fail:
    llv_err_prefix(err, "LoRA adapter '%s'", path);
    llv_lora_free(l);
    return s;
}

/* ------------------------------------------------------------------------- */
/* Registry                                                                  */
/* ------------------------------------------------------------------------- */

const llv_lora *llv_model_lora_find(const llv_model *m, const char *name) {
    if (!m || !name || !name[0]) return NULL;
    for (size_t i = 0; i < m->n_loras; i++)
        if (!strcmp(m->loras[i]->name, name)) return m->loras[i];
    return NULL;
}

void llv_model_loras_free(llv_model *m) {
    if (!m) return;
    for (size_t i = 0; i < m->n_loras; i++) llv_lora_free(m->loras[i]);
    free(m->loras);
    m->loras = NULL;
    m->n_loras = 0;
}

llv_status llv_model_lora_add(llv_model *model, const char *name, const char *path, float scale, llv_error *err) {
    llv_err_clear(err);
    if (!model || !name || !path)
        return llv_err(err, LLV_ERR_INVALID_ARGUMENT, "llv_model_lora_add: NULL %s",
                       !model ? "model" : !name ? "name" : "path");
    size_t n = strlen(name);
    if (n == 0 || n > LORA_MAX_NAME)
        return llv_err(err, LLV_ERR_INVALID_ARGUMENT, "llv_model_lora_add: name length %zu, expected 1..%d", n,
                       LORA_MAX_NAME);
    if (llv_model_lora_find(model, name))
        return llv_err(err, LLV_ERR_INVALID_ARGUMENT, "llv_model_lora_add: an adapter named '%s' is already loaded",
                       name);
    llv_lora *l = NULL;
    llv_status s = llv_lora_load(model, name, path, scale, &l, err);
    if (s) return s;
    llv_lora **nl = realloc(model->loras, (model->n_loras + 1) * sizeof *nl);
    if (!nl) {
        llv_lora_free(l);
        return llv_err(err, LLV_ERR_OUT_OF_MEMORY, "llv_model_lora_add: out of memory");
    }
    model->loras = nl;
    model->loras[model->n_loras++] = l;
    llv_log(model->params.log, model->params.log_user, LLV_LOG_INFO,
            "LoRA adapter '%s' from %s: %zu tensors, max rank %d, alpha %g, scale %g", name, path, l->n_pairs,
            l->max_rank, (double)l->alpha, (double)scale);
    return LLV_OK;
}

const char *llv_model_lora_name(const llv_model *model, size_t i) {
    if (!model || i >= model->n_loras) return NULL;
    return model->loras[i]->name;
}

/* ------------------------------------------------------------------------- */
/* Apply                                                                     */
/* ------------------------------------------------------------------------- */

typedef struct axpy_job {
    float        sc;
    const float *u;
    float       *y;
} axpy_job;

static void axpy_task(void *ctx, int64_t i0, int64_t i1, int thread) {
    (void)thread;
    const axpy_job *j = ctx;
    for (int64_t i = i0; i < i1; i++) j->y[i] += j->sc * j->u[i];
}

/* y[M, N] = x W^T; small products (one decode row) run on the calling thread:
 * waking the pool would cost more than the work. Rows are independent, so
 * the result is the same either way. */
static void low_rank_linear(const llv_kernels *k, llv_threadpool *pool, const llv_tensor *W, const float *x,
                            int64_t M, float *y) {
    const int64_t K = W->ne[0], N = llv_tensor_rows(W);
    if ((double)M * (double)N * (double)K > (double)(1 << 20)) {
        llv_op_linear(k, pool, W, NULL, x, M, y);
        return;
    }
    size_t rb = 0;
    llv_type_row_bytes(W->type, K, &rb);
    k->matmul[W->type](W->data, rb, x, K, M, K, y, N, 0, N);
}

void llv_lora_apply(const llv_kernels *k, llv_threadpool *pool, const llv_lora_pair *p, const float *x, int64_t n,
                    float *t, float *u, float *y) {
    if (!p || p->scale == 0.0f || n <= 0) return;
    const int64_t n_out = p->b->ne[1];
    low_rank_linear(k, pool, p->a, x, n, t); /* t[n, r] = x A^T       */
    low_rank_linear(k, pool, p->b, t, n, u); /* u[n, n_out] = t B^T   */
    /* y += scale * u; each element is written once, so the split does not change results */
    axpy_job j = {.sc = p->scale, .u = u, .y = y};
    llv_threadpool_parallel_for(pool, n * n_out, 16384, axpy_task, &j);
}
