/* text.c - the text decoder forward pass (HF MllamaTextModel + lm_head, and
 * plain Llama when the model has no cross layers). All activations are
 * float32; weights go through the kernel table (llv_op_linear over every row
 * of a batch), and every row's arithmetic is independent of how rows are
 * batched or split over threads, so prefill and one-token decode agree
 * bitwise. Numerics: shared/notes/mllama-reference.md sections 6-7. */
#include "text.h"

#include "lora.h"
#include "ops.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define LLV_MAX_IMAGES 64

struct llv_text_state {
    const llv_model *m;
    int32_t          n_ctx, n_batch, n_past, n_self;
    llv_kv_type      kv_type;
    size_t           kv_elem;              /* 4 (F32) or 2 (F16)                             */
    int32_t          slot[LLV_MAX_LAYERS]; /* layer -> self-attention cache slot, -1 = cross  */
    /* KV cache: per self layer a K block then a V block, each [n_head_kv, n_ctx, head_dim] */
    unsigned char   *kv;
    size_t           kv_bytes, kv_layer_bytes;
    /* scratch sized by n_batch (one allocation) */
    float           *scratch;
    float           *h, *xn, *q, *k, *v, *att, *proj, *ff_g, *ff_u, *rope_cos, *rope_sin;
    size_t           scratch_bytes;
    /* per-thread attention scratch (scores + a converted key/value row); grows
     * only when a larger pool or a longer key range is first seen */
    float           *thr;
    size_t           thr_floats; /* per thread */
    int              thr_n;
    /* LoRA scratch (grown on the first forward with an adapter): lt [n_batch, max rank],
     * lu [n_batch, largest adapted output] */
    float           *lt, *lu;
    size_t           lt_floats, lu_floats;
    const llv_lora  *lora; /* adapter of the forward in progress (NULL: none) */
};

/* ------------------------------------------------------------------------- */
/* Cross-attention K/V                                                       */
/* ------------------------------------------------------------------------- */

typedef struct cross_kv_priv {
    llv_cross_kv pub; /* first: freed through the public pointer */
    size_t       bytes;
} cross_kv_priv;

void llv_cross_kv_free(llv_cross_kv *kv) {
    if (!kv) return;
    for (int32_t c = 0; c < kv->n_cross; c++) {
        if (kv->k) llv_free_aligned(kv->k[c]);
        if (kv->v) llv_free_aligned(kv->v[c]);
    }
    free(kv->k);
    free(kv->v);
    llv_free_aligned(kv->states);
    free(kv);
}

size_t llv_cross_kv_bytes(const llv_cross_kv *kv) { return kv ? ((const cross_kv_priv *)kv)->bytes : 0; }

/* [n_tok, H*hd] row-major -> [H, n_tok, hd], optionally RMSNorm'ing each head vector */
static void split_heads(const llv_kernels *kern, const float *src, int32_t n_tok, int32_t H, int32_t hd,
                        const float *norm_w, float eps, float *dst) {
    for (int32_t t = 0; t < n_tok; t++)
        for (int32_t g = 0; g < H; g++) {
            const float *s = src + ((size_t)t * H + g) * hd;
            float *d = dst + ((size_t)g * n_tok + t) * hd;
            if (norm_w) kern->rmsnorm(s, norm_w, d, hd, eps);
            else memcpy(d, s, (size_t)hd * sizeof(float));
        }
}

/* Scratch for the adapter on n_tok rows: t [n_tok, max rank], u [n_tok, max out]. */
static llv_status cross_lora_scratch(const llv_lora *lora, int32_t n_tok, float **t, float **u, llv_error *err) {
    *t = *u = NULL;
    if (!lora) return LLV_OK;
    size_t nt, nu;
    if (!llv_mul_size((size_t)n_tok, (size_t)lora->max_rank * sizeof(float), &nt) ||
        !llv_mul_size((size_t)n_tok, (size_t)lora->max_out * sizeof(float), &nu))
        return llv_err(err, LLV_ERR_LIMIT, "cross K/V: LoRA scratch size overflow (n_tok %d)", n_tok);
    *t = llv_alloc_aligned(nt);
    *u = llv_alloc_aligned(nu);
    if (!*t || !*u) {
        llv_free_aligned(*t);
        llv_free_aligned(*u);
        *t = *u = NULL;
        return llv_err(err, LLV_ERR_OUT_OF_MEMORY, "cross K/V: out of memory for LoRA scratch (%zu bytes)", nt + nu);
    }
    return LLV_OK;
}

/* Fills kv->k/v (allocated) from cross_states with the adapter `lora`. */
static void cross_kv_fill(const llv_model *m, const llv_lora *lora, llv_threadpool *pool, const float *cross_states,
                          llv_cross_kv *kv, float *tmp, float *lt, float *lu) {
    const llv_hparams *hp = &m->hp;
    const int32_t Hkv = hp->n_head_kv, hd = hp->head_dim, n_tok = kv->n_tok;
    for (int32_t c = 0; c < hp->n_cross; c++) {
        int32_t l = hp->cross_layers[c];
        const llv_text_layer *L = &m->text.layers[l];
        llv_op_linear(m->kern, pool, L->wk, NULL, cross_states, n_tok, tmp);
        if (lora) llv_lora_apply(m->kern, pool, lora->layers[l].wk, cross_states, n_tok, lt, lu, tmp);
        split_heads(m->kern, tmp, n_tok, Hkv, hd, L->k_norm, hp->rms_eps, kv->k[c]);
        llv_op_linear(m->kern, pool, L->wv, NULL, cross_states, n_tok, tmp);
        if (lora) llv_lora_apply(m->kern, pool, lora->layers[l].wv, cross_states, n_tok, lt, lu, tmp);
        split_heads(m->kern, tmp, n_tok, Hkv, hd, NULL, 0, kv->v[c]);
    }
    kv->lora = lora;
}

llv_status llv_text_cross_kv(const llv_model *m, llv_threadpool *pool, const float *cross_states, int32_t n_tok,
                             int32_t n_tiles, int32_t tile_tokens, llv_cross_kv **out, llv_error *err) {
    return llv_text_cross_kv_lora(m, NULL, pool, cross_states, n_tok, n_tiles, tile_tokens, out, err);
}

llv_status llv_text_cross_kv_lora(const llv_model *m, const llv_lora *lora, llv_threadpool *pool,
                                  const float *cross_states, int32_t n_tok, int32_t n_tiles, int32_t tile_tokens,
                                  llv_cross_kv **out, llv_error *err) {
    *out = NULL;
    const llv_hparams *hp = &m->hp;
    if (!m->has_weights || hp->n_cross <= 0)
        return llv_err(err, LLV_ERR_STATE, "cross K/V: the model has no cross-attention layers");
    if (!cross_states || n_tok <= 0)
        return llv_err(err, LLV_ERR_INVALID_ARGUMENT, "cross K/V: empty cross states (n_tok %d)", n_tok);
    if (lora && lora->model != m)
        return llv_err(err, LLV_ERR_INVALID_ARGUMENT, "cross K/V: the LoRA adapter belongs to another model");
    if (tile_tokens <= 0 || n_tiles <= 0 || (int64_t)n_tiles * tile_tokens > n_tok)
        return llv_err(err, LLV_ERR_INVALID_ARGUMENT,
                       "cross K/V: n_tiles %d x tile_tokens %d must be positive and fit in n_tok %d", n_tiles,
                       tile_tokens, n_tok);
    const int32_t Hkv = hp->n_head_kv, hd = hp->head_dim, kvd = Hkv * hd;
    const bool keep = m->n_loras > 0;
    size_t per = 0, tmp_bytes = 0, total = 0, states_bytes = 0;
    if (!llv_mul_size((size_t)n_tok, (size_t)kvd * sizeof(float), &per) || !llv_mul_size(per, 2, &tmp_bytes) ||
        !llv_mul_size(tmp_bytes, (size_t)hp->n_cross, &total) ||
        !llv_mul_size((size_t)n_tok, (size_t)hp->n_embd * sizeof(float), &states_bytes) ||
        (keep && !llv_add_size(total, states_bytes, &total)))
        return llv_err(err, LLV_ERR_LIMIT, "cross K/V: size overflow (n_tok %d)", n_tok);
    float *lt = NULL, *lu = NULL;
    llv_status s = cross_lora_scratch(lora, n_tok, &lt, &lu, err);
    if (s) return s;
    cross_kv_priv *p = calloc(1, sizeof *p);
    llv_cross_kv *kv = p ? &p->pub : NULL; /* no member access through NULL on OOM */
    float *tmp = llv_alloc_aligned(per);
    if (p) {
        kv->n_tok = n_tok;
        kv->n_tiles = n_tiles;
        kv->tile_tokens = tile_tokens;
        kv->n_cross = hp->n_cross;
        kv->k = calloc((size_t)hp->n_cross, sizeof *kv->k);
        kv->v = calloc((size_t)hp->n_cross, sizeof *kv->v);
        p->bytes = total;
    }
    if (!p || !tmp || !kv->k || !kv->v) goto oom;
    for (int32_t c = 0; c < hp->n_cross; c++) {
        kv->k[c] = llv_alloc_aligned(per);
        kv->v[c] = llv_alloc_aligned(per);
        if (!kv->k[c] || !kv->v[c]) goto oom;
    }
    if (keep) {
        if (!(kv->states = llv_alloc_aligned(states_bytes))) goto oom;
        memcpy(kv->states, cross_states, states_bytes);
    }
    cross_kv_fill(m, lora, pool, cross_states, kv, tmp, lt, lu);
    llv_free_aligned(tmp);
    llv_free_aligned(lt);
    llv_free_aligned(lu);
    *out = kv;
    return LLV_OK;
oom:
    llv_free_aligned(tmp);
    llv_free_aligned(lt);
    llv_free_aligned(lu);
    if (p) llv_cross_kv_free(kv);
    return llv_err(err, LLV_ERR_OUT_OF_MEMORY, "cross K/V: out of memory (%zu bytes for %d tokens)", total, n_tok);
}

llv_status llv_text_cross_kv_relora(const llv_model *m, const llv_lora *lora, llv_threadpool *pool,
                                    llv_cross_kv *kv, llv_error *err) {
    if (!kv) return llv_err(err, LLV_ERR_INVALID_ARGUMENT, "cross K/V: NULL");
    if (kv->lora == lora) return LLV_OK;
    if (lora && lora->model != m)
        return llv_err(err, LLV_ERR_INVALID_ARGUMENT, "cross K/V: the LoRA adapter belongs to another model");
    if (!kv->states)
        return llv_err(err, LLV_ERR_STATE,
                       "cross K/V: the image was encoded before adapters were added to the model, so its K/V cannot "
                       "be recomputed for adapter '%s'; reset the session",
                       lora && lora->name ? lora->name : "(none)");
    size_t per;
    if (!llv_mul_size((size_t)kv->n_tok, (size_t)m->hp.n_head_kv * (size_t)m->hp.head_dim * sizeof(float), &per))
        return llv_err(err, LLV_ERR_LIMIT, "cross K/V: size overflow");
    float *lt = NULL, *lu = NULL;
    llv_status s = cross_lora_scratch(lora, kv->n_tok, &lt, &lu, err);
    if (s) return s;
    float *tmp = llv_alloc_aligned(per);
    if (!tmp) {
        llv_free_aligned(lt);
        llv_free_aligned(lu);
        return llv_err(err, LLV_ERR_OUT_OF_MEMORY, "cross K/V: out of memory (%zu bytes)", per);
    }
    cross_kv_fill(m, lora, pool, kv->states, kv, tmp, lt, lu);
    llv_free_aligned(tmp);
    llv_free_aligned(lt);
    llv_free_aligned(lu);
    return LLV_OK;
}

/* ------------------------------------------------------------------------- */
/* State                                                                     */
/* ------------------------------------------------------------------------- */

llv_status llv_text_state_create(const llv_model *m, int32_t n_ctx, int32_t n_batch, llv_kv_type kv_type,
                                 llv_text_state **out, llv_error *err) {
    *out = NULL;
    const llv_hparams *hp = &m->hp;
    if (!m->has_weights) return llv_err(err, LLV_ERR_STATE, "text state: the model has no weights");
    if (n_ctx <= 0 || (hp->n_ctx_train > 0 && n_ctx > hp->n_ctx_train))
        return llv_err(err, LLV_ERR_INVALID_ARGUMENT, "text state: n_ctx %d out of range [1, %d]", n_ctx,
                       hp->n_ctx_train);
    if (n_batch <= 0) return llv_err(err, LLV_ERR_INVALID_ARGUMENT, "text state: n_batch %d must be > 0", n_batch);
    if (kv_type != LLV_KV_F32 && kv_type != LLV_KV_F16)
        return llv_err(err, LLV_ERR_INVALID_ARGUMENT, "text state: unknown KV type %d", (int)kv_type);
    llv_text_state *st = calloc(1, sizeof *st);
    if (!st) return llv_err(err, LLV_ERR_OUT_OF_MEMORY, "text state: out of memory");
    st->m = m;
    st->n_ctx = n_ctx;
    st->n_batch = n_batch;
    st->kv_type = kv_type;
    st->kv_elem = kv_type == LLV_KV_F16 ? 2 : 4;
    for (int32_t l = 0; l < hp->n_layer; l++) st->slot[l] = hp->is_cross[l] ? -1 : st->n_self++;

    const size_t D = (size_t)hp->n_embd, hd = (size_t)hp->head_dim, Hq = (size_t)hp->n_head,
                 Hkv = (size_t)hp->n_head_kv, F = (size_t)hp->n_ff, nb = (size_t)n_batch;
    size_t blk, ok = 1;
    ok &= llv_mul_size(Hkv * hd, (size_t)n_ctx, &blk);
    ok &= llv_mul_size(blk, st->kv_elem, &blk);
    ok &= llv_mul_size(blk, 2, &st->kv_layer_bytes);
    ok &= llv_mul_size(st->kv_layer_bytes, (size_t)st->n_self, &st->kv_bytes);
    /* scratch: h, xn, proj [nb, D]; q, att [nb, Hq*hd]; k, v [nb, Hkv*hd]; ff_g, ff_u [nb, F]; cos, sin [nb, hd/2] */
    size_t per_row = 3 * D + 2 * Hq * hd + 2 * Hkv * hd + 2 * F + hd, floats;
    ok &= llv_mul_size(per_row, nb, &floats);
    ok &= llv_mul_size(floats, sizeof(float), &st->scratch_bytes);
    if (!ok) {
        free(st);
        return llv_err(err, LLV_ERR_LIMIT, "text state: size overflow (n_ctx %d, n_batch %d)", n_ctx, n_batch);
    }
    st->kv = st->kv_bytes ? llv_alloc_aligned(st->kv_bytes) : NULL;
    st->scratch = llv_alloc_aligned(st->scratch_bytes);
    if ((st->kv_bytes && !st->kv) || !st->scratch) {
        size_t want = st->kv_bytes;
        llv_text_state_free(st);
        return llv_err(err, LLV_ERR_OUT_OF_MEMORY, "text state: cannot allocate the KV cache (%zu bytes for n_ctx %d)",
                       want, n_ctx);
    }
    float *p = st->scratch;
    st->h = p, p += nb * D;
    st->xn = p, p += nb * D;
    st->proj = p, p += nb * D;
    st->q = p, p += nb * Hq * hd;
    st->att = p, p += nb * Hq * hd;
    st->k = p, p += nb * Hkv * hd;
    st->v = p, p += nb * Hkv * hd;
    st->ff_g = p, p += nb * F;
    st->ff_u = p, p += nb * F;
    st->rope_cos = p, p += nb * (hd / 2);
    st->rope_sin = p;
    *out = st;
    return LLV_OK;
}

void llv_text_state_free(llv_text_state *st) {
    if (!st) return;
    llv_free_aligned(st->kv);
    llv_free_aligned(st->scratch);
    free(st->thr);
    llv_free_aligned(st->lt);
    llv_free_aligned(st->lu);
    free(st);
}

size_t  llv_text_state_kv_bytes(const llv_text_state *st) { return st ? st->kv_bytes : 0; }
size_t  llv_text_state_bytes(const llv_text_state *st) {
    return st ? sizeof *st + st->kv_bytes + st->scratch_bytes + (size_t)st->thr_n * st->thr_floats * sizeof(float) +
                    (st->lt_floats + st->lu_floats) * sizeof(float)
              : 0;
}
int32_t llv_text_state_n_ctx(const llv_text_state *st) { return st ? st->n_ctx : 0; }
int32_t llv_text_state_n_past(const llv_text_state *st) { return st ? st->n_past : 0; }
void    llv_text_state_truncate(llv_text_state *st, int32_t n_keep) {
    if (st && n_keep >= 0 && n_keep < st->n_past) st->n_past = n_keep;
}

/* Ensures per-thread scratch of `need` floats for `n_thr` threads. */
static llv_status ensure_thread_scratch(llv_text_state *st, int n_thr, size_t need, llv_error *err) {
    if (n_thr <= st->thr_n && need <= st->thr_floats) return LLV_OK;
    int n = LLV_MAX(n_thr, st->thr_n);
    size_t f = LLV_MAX(need, st->thr_floats), total;
    if (!llv_mul_size(f, (size_t)n * sizeof(float), &total))
        return llv_err(err, LLV_ERR_LIMIT, "text: attention scratch size overflow");
    float *p = malloc(total);
    if (!p) return llv_err(err, LLV_ERR_OUT_OF_MEMORY, "text: out of memory for attention scratch (%zu bytes)", total);
    free(st->thr);
    st->thr = p;
    st->thr_n = n;
    st->thr_floats = f;
    return LLV_OK;
}

/* Ensures LoRA scratch for n_batch rows of `lora`. */
static llv_status ensure_lora_scratch(llv_text_state *st, const llv_lora *lora, llv_error *err) {
    size_t nt, nu;
    if (!llv_mul_size((size_t)st->n_batch, (size_t)lora->max_rank, &nt) ||
        !llv_mul_size((size_t)st->n_batch, (size_t)lora->max_out, &nu) || nt > SIZE_MAX / 4 || nu > SIZE_MAX / 4)
        return llv_err(err, LLV_ERR_LIMIT, "text: LoRA scratch size overflow");
    if (nt > st->lt_floats) {
        float *p = llv_alloc_aligned(nt * sizeof(float));
        if (!p) return llv_err(err, LLV_ERR_OUT_OF_MEMORY, "text: out of memory for LoRA scratch (%zu floats)", nt);
        llv_free_aligned(st->lt);
        st->lt = p;
        st->lt_floats = nt;
    }
    if (nu > st->lu_floats) {
        float *p = llv_alloc_aligned(nu * sizeof(float));
        if (!p) return llv_err(err, LLV_ERR_OUT_OF_MEMORY, "text: out of memory for LoRA scratch (%zu floats)", nu);
        llv_free_aligned(st->lu);
        st->lu = p;
        st->lu_floats = nu;
    }
    return LLV_OK;
}

/* y[n, out] = x W^T, plus the adapter's scale * (x A^T) B^T when the forward
 * in progress has one for this projection (pr selects it from the layer). */
static void proj_linear(llv_text_state *st, llv_threadpool *pool, const llv_tensor *W, const llv_lora_pair *pr,
                        const float *x, int32_t n, float *y) {
    llv_op_linear(st->m->kern, pool, W, NULL, x, n, y);
    if (pr) llv_lora_apply(st->m->kern, pool, pr, x, n, st->lt, st->lu, y);
}

#define LORA_OF(st, l, field) ((st)->lora ? (st)->lora->layers[l].field : NULL)

/* ------------------------------------------------------------------------- */
/* Attention                                                                 */
/* ------------------------------------------------------------------------- */

typedef struct attn_job {
    const llv_kernels *kern;
    llv_text_state    *st;
    int32_t            n_rows, Hq, Hkv, hd;
    float              scale;   /* (float)sqrt(hd): scores are divided after the dot */
    const float       *q;       /* [n_rows, Hq*hd]                                    */
    float             *out;     /* [n_rows, Hq*hd]                                    */
    /* self attention: cache of one layer; row r sees positions 0 .. pos0 + r */
    const unsigned char *ck, *cv;
    int32_t            pos0;
    /* cross attention */
    const llv_cross_kv *const *images;
    int32_t            n_images, cross_idx;
    const uint64_t    *row_images;
} attn_job;

static const float *kv_row(const attn_job *j, const unsigned char *base, int32_t g, int32_t pos, float *tmp) {
    const llv_text_state *st = j->st;
    size_t off = ((size_t)g * (size_t)st->n_ctx + (size_t)pos) * (size_t)j->hd;
    if (st->kv_type == LLV_KV_F32) return (const float *)(const void *)base + off;
    j->kern->to_f32[LLV_TYPE_F16](base + off * 2, tmp, j->hd);
    return tmp;
}

static void self_attn_task(void *ctx, int64_t i0, int64_t i1, int thread) {
    const attn_job *j = ctx;
    float *scores = j->st->thr + (size_t)thread * j->st->thr_floats;
    float *tmp = scores + j->st->n_ctx;
    const int32_t group = j->Hq / j->Hkv, hd = j->hd;
    for (int64_t it = i0; it < i1; it++) {
        int32_t r = (int32_t)(it / j->Hq), h = (int32_t)(it % j->Hq), g = h / group; /* repeat_kv: j // (Hq/Hkv) */
        const float *q = j->q + ((size_t)r * j->Hq + h) * hd;
        float *o = j->out + ((size_t)r * j->Hq + h) * hd;
        int32_t n_keys = j->pos0 + r + 1;
        for (int32_t t = 0; t < n_keys; t++) scores[t] = j->kern->dot_f32(q, kv_row(j, j->ck, g, t, tmp), hd) / j->scale;
        j->kern->softmax(scores, n_keys);
        memset(o, 0, (size_t)hd * sizeof(float));
        for (int32_t t = 0; t < n_keys; t++) j->kern->axpy_f32(scores[t], kv_row(j, j->cv, g, t, tmp), o, hd);
    }
}

/* Keys a row sees: its images' real tiles, or (no image) every token of
 * every image, padding tiles included (HF's all-zero mask row). Masked keys
 * get exp(min32 - max) = 0 in HF, so leaving them out is exact. */
static void cross_attn_task(void *ctx, int64_t i0, int64_t i1, int thread) {
    const attn_job *j = ctx;
    float *scores = j->st->thr + (size_t)thread * j->st->thr_floats;
    const int32_t group = j->Hq / j->Hkv, hd = j->hd;
    for (int64_t it = i0; it < i1; it++) {
        int32_t r = (int32_t)(it / j->Hq), h = (int32_t)(it % j->Hq), g = h / group;
        const float *q = j->q + ((size_t)r * j->Hq + h) * hd;
        float *o = j->out + ((size_t)r * j->Hq + h) * hd;
        uint64_t bits = j->row_images[r];
        size_t n = 0;
        for (int32_t i = 0; i < j->n_images; i++) {
            const llv_cross_kv *im = j->images[i];
            bool sees = (bits >> i) & 1;
            if (bits && !sees) continue;
            int32_t nt = sees ? im->n_tiles * im->tile_tokens : im->n_tok;
            const float *K = im->k[j->cross_idx] + (size_t)g * im->n_tok * hd;
            for (int32_t t = 0; t < nt; t++) scores[n++] = j->kern->dot_f32(q, K + (size_t)t * hd, hd) / j->scale;
        }
        j->kern->softmax(scores, (int64_t)n);
        memset(o, 0, (size_t)hd * sizeof(float));
        n = 0;
        for (int32_t i = 0; i < j->n_images; i++) {
            const llv_cross_kv *im = j->images[i];
            bool sees = (bits >> i) & 1;
            if (bits && !sees) continue;
            int32_t nt = sees ? im->n_tiles * im->tile_tokens : im->n_tok;
            const float *V = im->v[j->cross_idx] + (size_t)g * im->n_tok * hd;
            for (int32_t t = 0; t < nt; t++) j->kern->axpy_f32(scores[n++], V + (size_t)t * hd, o, hd);
        }
    }
}

/* ------------------------------------------------------------------------- */
/* Forward                                                                   */
/* ------------------------------------------------------------------------- */

static void kv_store(llv_text_state *st, unsigned char *base, const float *src, int32_t n_rows, int32_t pos0) {
    const llv_hparams *hp = &st->m->hp;
    const int32_t Hkv = hp->n_head_kv, hd = hp->head_dim;
    for (int32_t r = 0; r < n_rows; r++)
        for (int32_t g = 0; g < Hkv; g++) {
            size_t off = ((size_t)g * (size_t)st->n_ctx + (size_t)(pos0 + r)) * (size_t)hd;
            const float *s = src + ((size_t)r * Hkv + g) * hd;
            if (st->kv_type == LLV_KV_F32) memcpy((float *)(void *)base + off, s, (size_t)hd * sizeof(float));
            else st->m->kern->from_f32[LLV_TYPE_F16](s, base + off * 2, hd);
        }
}

/* The SwiGLU MLP of layer L on st->h rows; adds gate * f to h (rows with
 * row_on[r] == 0 are skipped: HF multiplies their branch by 0). */
static void mlp_block(llv_text_state *st, llv_threadpool *pool, int32_t l, int32_t n, bool gated, float gate,
                      const uint64_t *row_on) {
    const llv_text_layer *L = &st->m->text.layers[l];
    const llv_model *m = st->m;
    const llv_kernels *kern = m->kern;
    const int32_t D = m->hp.n_embd, F = m->hp.n_ff;
    for (int32_t r = 0; r < n; r++) kern->rmsnorm(st->h + (size_t)r * D, L->ffn_norm, st->xn + (size_t)r * D, D, m->hp.rms_eps);
    proj_linear(st, pool, L->ffn_gate, LORA_OF(st, l, ffn_gate), st->xn, n, st->ff_g);
    proj_linear(st, pool, L->ffn_up, LORA_OF(st, l, ffn_up), st->xn, n, st->ff_u);
    for (int32_t r = 0; r < n; r++) kern->silu_mul(st->ff_g + (size_t)r * F, st->ff_u + (size_t)r * F, F);
    proj_linear(st, pool, L->ffn_down, LORA_OF(st, l, ffn_down), st->ff_g, n, st->proj);
    for (int32_t r = 0; r < n; r++) {
        float *h = st->h + (size_t)r * D;
        const float *f = st->proj + (size_t)r * D;
        if (!gated) {
            for (int32_t d = 0; d < D; d++) h[d] = h[d] + f[d];
        } else if (row_on[r]) {
            for (int32_t d = 0; d < D; d++) h[d] = h[d] + gate * f[d];
        }
    }
}

static void self_layer(llv_text_state *st, llv_threadpool *pool, int32_t l, int32_t n, int32_t pos0) {
    const llv_model *m = st->m;
    const llv_hparams *hp = &m->hp;
    const llv_kernels *kern = m->kern;
    const llv_text_layer *L = &m->text.layers[l];
    const int32_t D = hp->n_embd, hd = hp->head_dim, Hq = hp->n_head, Hkv = hp->n_head_kv;
    for (int32_t r = 0; r < n; r++) kern->rmsnorm(st->h + (size_t)r * D, L->attn_norm, st->xn + (size_t)r * D, D, hp->rms_eps);
    proj_linear(st, pool, L->wq, LORA_OF(st, l, wq), st->xn, n, st->q);
    proj_linear(st, pool, L->wk, LORA_OF(st, l, wk), st->xn, n, st->k);
    proj_linear(st, pool, L->wv, LORA_OF(st, l, wv), st->xn, n, st->v);
    for (int32_t r = 0; r < n; r++) {
        const float *c = st->rope_cos + (size_t)r * (hd / 2), *s = st->rope_sin + (size_t)r * (hd / 2);
        for (int32_t h = 0; h < Hq; h++) kern->rope_pairs(st->q + ((size_t)r * Hq + h) * hd, c, s, hd);
        for (int32_t g = 0; g < Hkv; g++) kern->rope_pairs(st->k + ((size_t)r * Hkv + g) * hd, c, s, hd);
    }
    unsigned char *ck = st->kv + (size_t)st->slot[l] * st->kv_layer_bytes;
    unsigned char *cv = ck + st->kv_layer_bytes / 2;
    kv_store(st, ck, st->k, n, pos0);
    kv_store(st, cv, st->v, n, pos0);
    attn_job j = {.kern = kern, .st = st, .n_rows = n, .Hq = Hq, .Hkv = Hkv, .hd = hd,
                  .scale = (float)sqrt((double)hd), .q = st->q, .out = st->att, .ck = ck, .cv = cv, .pos0 = pos0};
    llv_threadpool_parallel_for(pool, (int64_t)n * Hq, 1, self_attn_task, &j);
    proj_linear(st, pool, L->wo, LORA_OF(st, l, wo), st->att, n, st->proj);
    for (int32_t r = 0; r < n; r++) {
        float *h = st->h + (size_t)r * D;
        const float *a = st->proj + (size_t)r * D;
        for (int32_t d = 0; d < D; d++) h[d] = h[d] + a[d];
    }
    mlp_block(st, pool, l, n, false, 1.0f, NULL);
}

static void cross_layer(llv_text_state *st, llv_threadpool *pool, int32_t l, int32_t c, int32_t n,
                        const llv_text_batch *b, const uint64_t *row_images) {
    const llv_model *m = st->m;
    const llv_hparams *hp = &m->hp;
    const llv_kernels *kern = m->kern;
    const llv_text_layer *L = &m->text.layers[l];
    const int32_t D = hp->n_embd, hd = hp->head_dim, Hq = hp->n_head;
    for (int32_t r = 0; r < n; r++) kern->rmsnorm(st->h + (size_t)r * D, L->attn_norm, st->xn + (size_t)r * D, D, hp->rms_eps);
    proj_linear(st, pool, L->wq, LORA_OF(st, l, wq), st->xn, n, st->q);
    for (int32_t i = 0; i < n * Hq; i++) kern->rmsnorm(st->q + (size_t)i * hd, L->q_norm, st->q + (size_t)i * hd, hd, hp->rms_eps);
    attn_job j = {.kern = kern, .st = st, .n_rows = n, .Hq = Hq, .Hkv = hp->n_head_kv, .hd = hd,
                  .scale = (float)sqrt((double)hd), .q = st->q, .out = st->att, .images = b->images,
                  .n_images = b->n_images, .cross_idx = c, .row_images = row_images};
    llv_threadpool_parallel_for(pool, (int64_t)n * Hq, 1, cross_attn_task, &j);
    proj_linear(st, pool, L->wo, LORA_OF(st, l, wo), st->att, n, st->proj);
    /* HF adds the gated attention output to every row, even rows without an image */
    for (int32_t r = 0; r < n; r++) {
        float *h = st->h + (size_t)r * D;
        const float *a = st->proj + (size_t)r * D;
        for (int32_t d = 0; d < D; d++) h[d] = h[d] + L->attn_gate * a[d];
    }
    mlp_block(st, pool, l, n, true, L->mlp_gate, row_images);
}

static llv_status check_batch(const llv_model *m, const llv_text_state *st, const llv_text_batch *b, llv_error *err) {
    const llv_hparams *hp = &m->hp;
    if (!b || !b->tokens || b->n <= 0)
        return llv_err(err, LLV_ERR_INVALID_ARGUMENT, "text forward: empty batch (n = %d)", b ? b->n : 0);
    if ((int64_t)st->n_past + b->n > st->n_ctx)
        return llv_err(err, LLV_ERR_LIMIT, "text forward: context full: %d cached + %d new tokens > n_ctx %d",
                       st->n_past, b->n, st->n_ctx);
    for (int32_t i = 0; i < b->n; i++)
        if (b->tokens[i] < 0 || b->tokens[i] >= hp->n_embd_rows)
            return llv_err(err, LLV_ERR_INVALID_ARGUMENT, "text forward: token %d at row %d out of range [0, %d)",
                           b->tokens[i], i, hp->n_embd_rows);
    if (b->n_images < 0 || b->n_images > LLV_MAX_IMAGES)
        return llv_err(err, LLV_ERR_INVALID_ARGUMENT, "text forward: n_images %d out of range [0, %d]", b->n_images,
                       LLV_MAX_IMAGES);
    if (b->n_images > 0) {
        if (hp->n_cross == 0)
            return llv_err(err, LLV_ERR_INVALID_ARGUMENT, "text forward: images given but the model has no cross layers");
        if (!b->images || !b->row_images)
            return llv_err(err, LLV_ERR_INVALID_ARGUMENT, "text forward: n_images %d but images/row_images is NULL",
                           b->n_images);
        size_t total = 0;
        for (int32_t i = 0; i < b->n_images; i++) {
            const llv_cross_kv *im = b->images[i];
            if (!im || im->n_cross != hp->n_cross || !im->k || !im->v)
                return llv_err(err, LLV_ERR_INVALID_ARGUMENT,
                               "text forward: image %d has no cross K/V for %d layers", i, hp->n_cross);
            if (im->lora != b->lora)
                return llv_err(err, LLV_ERR_INVALID_ARGUMENT,
                               "text forward: image %d's cross K/V was computed with adapter '%s', the batch uses '%s'",
                               i, im->lora && im->lora->name ? im->lora->name : "(none)",
                               b->lora && b->lora->name ? b->lora->name : "(none)");
            total += (size_t)im->n_tok;
        }
        (void)total;
        uint64_t allowed = b->n_images == 64 ? ~(uint64_t)0 : (((uint64_t)1 << b->n_images) - 1);
        for (int32_t r = 0; r < b->n; r++)
            if (b->row_images[r] & ~allowed)
                return llv_err(err, LLV_ERR_INVALID_ARGUMENT,
                               "text forward: row %d names an image >= n_images %d (mask 0x%llx)", r, b->n_images,
                               (unsigned long long)b->row_images[r]);
    }
    return LLV_OK;
}

llv_status llv_text_forward(const llv_model *m, llv_text_state *st, llv_threadpool *pool, const llv_text_batch *b,
                            llv_error *err) {
    if (!m || !st || st->m != m) return llv_err(err, LLV_ERR_INVALID_ARGUMENT, "text forward: state of another model");
    if (b && b->lora && b->lora->model != m)
        return llv_err(err, LLV_ERR_INVALID_ARGUMENT, "text forward: LoRA adapter '%s' belongs to another model",
                       b->lora->name ? b->lora->name : b->lora->path);
    llv_status s = check_batch(m, st, b, err);
    if (s != LLV_OK) return s;
    const llv_hparams *hp = &m->hp;
    const llv_kernels *kern = m->kern;
    const int32_t D = hp->n_embd, hd = hp->head_dim, V = hp->n_vocab, NL = hp->n_layer, N = b->n;
    const bool use_cross = b->n_images > 0;

    /* attention scratch: longest key range of this batch (+ a converted row) */
    size_t need = (size_t)st->n_past + (size_t)N;
    if (use_cross) {
        size_t tot = 0;
        for (int32_t i = 0; i < b->n_images; i++) tot += (size_t)b->images[i]->n_tok;
        need = LLV_MAX(need, tot);
    }
    need = LLV_MAX(need, (size_t)st->n_ctx) + (size_t)hd;
    s = ensure_thread_scratch(st, llv_threadpool_n_threads(pool), need, err);
    if (s != LLV_OK) return s;
    if (b->lora && (s = ensure_lora_scratch(st, b->lora, err)) != LLV_OK) return s;
    st->lora = b->lora;

    for (int32_t r0 = 0; r0 < N; r0 += st->n_batch) {
        const int32_t n = LLV_MIN(st->n_batch, N - r0), pos0 = st->n_past;
        const bool last_chunk = r0 + n == N;
        for (int32_t r = 0; r < n; r++) {
            llv_op_get_row(kern, m->text.tok_embd, b->tokens[r0 + r], st->h + (size_t)r * D);
            llv_rope_cos_sin(m->text.inv_freq, hd / 2, (int64_t)pos0 + r, st->rope_cos + (size_t)r * (hd / 2),
                             st->rope_sin + (size_t)r * (hd / 2));
        }
        if (b->hidden)
            for (int32_t r = 0; r < n; r++)
                memcpy(b->hidden + ((size_t)r0 + r) * D, st->h + (size_t)r * D, (size_t)D * sizeof(float));
        int32_t c = 0;
        for (int32_t l = 0; l < NL; l++) {
            if (hp->is_cross[l]) {
                if (use_cross) cross_layer(st, pool, l, c, n, b, b->row_images + r0);
                c++;
            } else {
                self_layer(st, pool, l, n, pos0);
            }
            if (b->hidden && l + 1 < NL)
                for (int32_t r = 0; r < n; r++)
                    memcpy(b->hidden + ((size_t)(l + 1) * N + r0 + r) * D, st->h + (size_t)r * D,
                           (size_t)D * sizeof(float));
        }
        st->n_past += n;
        bool need_norm = b->hidden || (b->logits && (b->logits_all || last_chunk));
        if (need_norm)
            for (int32_t r = 0; r < n; r++)
                kern->rmsnorm(st->h + (size_t)r * D, m->text.output_norm, st->xn + (size_t)r * D, D, hp->rms_eps);
        if (b->hidden)
            for (int32_t r = 0; r < n; r++)
                memcpy(b->hidden + ((size_t)NL * N + r0 + r) * D, st->xn + (size_t)r * D, (size_t)D * sizeof(float));
        if (b->logits) {
            if (b->logits_all) llv_op_linear(kern, pool, m->text.output, NULL, st->xn, n, b->logits + (size_t)r0 * V);
            else if (last_chunk) llv_op_linear(kern, pool, m->text.output, NULL, st->xn + (size_t)(n - 1) * D, 1, b->logits);
        }
    }
    return LLV_OK;
}
