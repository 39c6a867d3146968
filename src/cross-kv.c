/* cross-kv.c - an image's cross-attention K/V (HF MllamaTextCrossAttention's
 * k_proj/v_proj over cross_attention_states, k_norm on the keys, heads split
 * out), computed once per image and adapter and kept with the conversation. */
#include "cross-kv.h"

#include "lora.h"
#include "ops.h"

#include <stdlib.h>
#include <string.h>

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

/* Rows of states projected at a time: the other streams' passes may run
 * between blocks (at the 11B shapes a layer's K over 4 tiles is ~54 GFLOP). */
#define CROSS_KV_BLOCK 1024

/* Rows t0..t0+nb of [n_tok, H*hd] (src holds those nb rows) -> [H, n_tok, hd] of
 * type kt, optionally RMSNorm'ing each head vector (row: hd floats of scratch) */
static void split_heads(const llv_kernels *kern, const float *src, int32_t t0, int32_t nb, int32_t n_tok, int32_t H,
                        int32_t hd, const float *norm_w, float eps, llv_kv_type kt, float *row, unsigned char *dst) {
    for (int32_t t = t0; t < t0 + nb; t++)
        for (int32_t g = 0; g < H; g++) {
            const float *s = src + ((size_t)(t - t0) * H + g) * hd;
            const size_t off = ((size_t)g * n_tok + t) * hd;
            float *d = kt == LLV_KV_F32 ? (float *)(void *)dst + off : row;
            if (norm_w) kern->rmsnorm(s, norm_w, d, hd, eps);
            else memcpy(d, s, (size_t)hd * sizeof(float));
            if (kt == LLV_KV_F16) kern->from_f32[LLV_TYPE_F16](d, dst + off * 2, hd);
        }
}

static void yield(const llv_cross_kv_input *in) {
    if (in && in->yield) in->yield("cross K/V block", in->yield_user);
}

/* Fills kv->k/v (allocated) from `states` with the adapter `lora`, a block of
 * rows at a time: tmp is [block, n_head_kv * head_dim]; with an adapter, lt
 * [block, max rank] and lu [block, max out]. */
static llv_status fill(const llv_model *m, const llv_lora *lora, llv_threadpool *pool, const float *states,
                       const llv_cross_kv_input *in, llv_cross_kv *kv, llv_error *err) {
    const llv_hparams *hp = &m->hp;
    const int32_t Hkv = hp->n_head_kv, hd = hp->head_dim, n_tok = kv->n_tok;
    const size_t rows = (size_t)LLV_MIN(n_tok, CROSS_KV_BLOCK);
    size_t nt = 0, nu = 0, per;
    if (!llv_mul_size(rows, (size_t)Hkv * (size_t)hd * sizeof(float), &per) ||
        (lora && (!llv_mul_size(rows, (size_t)lora->max_rank * sizeof(float), &nt) ||
                  !llv_mul_size(rows, (size_t)lora->max_out * sizeof(float), &nu))))
        return llv_err(err, LLV_ERR_LIMIT, "cross K/V: scratch size overflow (n_tok %d)", n_tok);
    float *tmp = llv_alloc_aligned(per), *lt = lora ? llv_alloc_aligned(nt) : NULL,
          *lu = lora ? llv_alloc_aligned(nu) : NULL;
    if (!tmp || (lora && (!lt || !lu))) {
        llv_free_aligned(tmp);
        llv_free_aligned(lt);
        llv_free_aligned(lu);
        return llv_err(err, LLV_ERR_OUT_OF_MEMORY, "cross K/V: out of memory for %zu bytes of scratch", per + nt + nu);
    }
    float row[LLV_MAX_HEAD_DIM];
    for (int32_t c = 0; c < hp->n_cross; c++) {
        int32_t l = hp->cross_layers[c];
        const llv_text_layer *L = &m->text.layers[l];
        for (int which = 0; which < 2; which++) /* K, then V */
            for (int32_t t0 = 0; t0 < n_tok; t0 += CROSS_KV_BLOCK) {
                const int32_t nb = LLV_MIN(CROSS_KV_BLOCK, n_tok - t0);
                const float *x = states + (size_t)t0 * hp->n_embd;
                llv_op_linear(m->kern, pool, which ? L->wv : L->wk, NULL, x, nb, tmp);
                if (lora)
                    llv_lora_apply(m->kern, pool, which ? lora->layers[l].wv : lora->layers[l].wk, x, nb, lt, lu, tmp);
                split_heads(m->kern, tmp, t0, nb, n_tok, Hkv, hd, which ? NULL : L->k_norm, hp->rms_eps, kv->type, row,
                            which ? kv->v[c] : kv->k[c]);
                yield(in);
            }
    }
    kv->lora = lora;
    llv_free_aligned(tmp);
    llv_free_aligned(lt);
    llv_free_aligned(lu);
    return LLV_OK;
}

/* A new K/V of `in`'s shape with its buffers allocated (and the states copied
 * when the model has adapters); nothing computed yet. */
static llv_status alloc_kv(const llv_model *m, const llv_cross_kv_input *in, llv_kv_type type, llv_cross_kv **out,
                           llv_error *err) {
    const llv_hparams *hp = &m->hp;
    const int32_t n_tok = in->n_tok;
    const bool keep = m->n_loras > 0;
    size_t per_kv = 0, total = 0, states_bytes = 0;
    if (!llv_mul_size((size_t)n_tok, (size_t)hp->n_head_kv * (size_t)hp->head_dim * (type == LLV_KV_F32 ? 4u : 2u),
                      &per_kv) ||
        !llv_mul_size(per_kv, 2 * (size_t)hp->n_cross, &total) ||
        !llv_mul_size((size_t)n_tok, (size_t)hp->n_embd * sizeof(float), &states_bytes) ||
        (keep && !llv_add_size(total, states_bytes, &total)))
        return llv_err(err, LLV_ERR_LIMIT, "cross K/V: size overflow (n_tok %d)", n_tok);
    cross_kv_priv *p = calloc(1, sizeof *p);
    if (!p) return llv_err(err, LLV_ERR_OUT_OF_MEMORY, "cross K/V: out of memory");
    llv_cross_kv *kv = &p->pub;
    kv->n_tok = n_tok;
    kv->n_tiles = in->n_tiles;
    kv->tile_tokens = in->tile_tokens;
    kv->n_cross = hp->n_cross;
    kv->type = type;
    p->bytes = total;
    kv->k = calloc((size_t)hp->n_cross, sizeof *kv->k);
    kv->v = calloc((size_t)hp->n_cross, sizeof *kv->v);
    bool ok = kv->k && kv->v;
    for (int32_t c = 0; ok && c < hp->n_cross; c++) {
        kv->k[c] = llv_alloc_aligned(per_kv);
        kv->v[c] = llv_alloc_aligned(per_kv);
        ok = kv->k[c] && kv->v[c];
    }
    if (ok && keep) {
        ok = (kv->states = llv_alloc_aligned(states_bytes)) != NULL;
        if (ok) memcpy(kv->states, in->states, states_bytes);
    }
    if (!ok) {
        llv_cross_kv_free(kv);
        return llv_err(err, LLV_ERR_OUT_OF_MEMORY, "cross K/V: out of memory (%zu bytes for %d tokens)", total, n_tok);
    }
    *out = kv;
    return LLV_OK;
}

llv_status llv_cross_kv_compute(const llv_model *m, llv_threadpool *pool, const llv_lora *lora,
                                const llv_cross_kv_input *in, llv_kv_type type, llv_cross_kv **kv, llv_error *err) {
    if (!kv) return llv_err(err, LLV_ERR_INVALID_ARGUMENT, "cross K/V: kv is NULL");
    if (in) *kv = NULL;
    else if (!*kv) return llv_err(err, LLV_ERR_INVALID_ARGUMENT, "cross K/V: nothing to recompute (NULL)");
    const llv_hparams *hp = &m->hp;
    if (!m->has_weights || hp->n_cross <= 0)
        return llv_err(err, LLV_ERR_STATE, "cross K/V: the model has no cross-attention layers");
    if (lora && lora->model != m)
        return llv_err(err, LLV_ERR_INVALID_ARGUMENT, "cross K/V: the LoRA adapter belongs to another model");
    const float *states = in ? in->states : (*kv)->states;
    if (!states)
        return llv_err(err, LLV_ERR_STATE,
                       "cross K/V: the image was encoded before adapters were added to the model, so its K/V cannot "
                       "be recomputed for adapter '%s'; reset the session",
                       lora && lora->name ? lora->name : "(none)");
    if (!in) return (*kv)->lora == lora ? LLV_OK : fill(m, lora, pool, states, NULL, *kv, err);
    if (type != LLV_KV_F32 && type != LLV_KV_F16)
        return llv_err(err, LLV_ERR_INVALID_ARGUMENT, "cross K/V: type %d (expected LLV_KV_F32 or LLV_KV_F16)", (int)type);
    if (in->n_tok <= 0)
        return llv_err(err, LLV_ERR_INVALID_ARGUMENT, "cross K/V: empty cross states (n_tok %d)", in->n_tok);
    if (in->tile_tokens <= 0 || in->n_tiles <= 0 || (int64_t)in->n_tiles * in->tile_tokens > in->n_tok)
        return llv_err(err, LLV_ERR_INVALID_ARGUMENT,
                       "cross K/V: n_tiles %d x tile_tokens %d must be positive and fit in n_tok %d", in->n_tiles,
                       in->tile_tokens, in->n_tok);
    llv_cross_kv *nk = NULL;
    llv_status s = alloc_kv(m, in, type, &nk, err);
    if (s == LLV_OK && (s = fill(m, lora, pool, states, in, nk, err)) != LLV_OK) llv_cross_kv_free(nk);
    if (s == LLV_OK) *kv = nk;
    return s;
}
