/* model.c - loads a GGUF (llv-converted, Ollama single-file mllama, llama.cpp
 * llama, or vocabulary-only) into struct llv_model: hyperparameters from the
 * metadata, every tensor bound by name with its shape and type checked
 * against them, fix-ups for files of other writers, tokenizer and ids. */
#include "model.h"

#include "grammar.h"
#include "lora.h"

#include "tokenizer.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void llv_model_params_init(llv_model_params *out, size_t size) {
    llv_model_params p;
    memset(&p, 0, sizeof p);
    p.isa = LLV_ISA_AUTO;
    p.use_mmap = true;
    llv_params_out(out, size, &p, sizeof p);
}

/* ------------------------------------------------------------------------- */
/* Metadata helpers                                                          */
/* ------------------------------------------------------------------------- */

typedef struct loader {
    llv_model  *m;
    const char *arch; /* key prefix */
    char        key[160];
} loader;

static const char *K(loader *L, const char *suffix) {
    snprintf(L->key, sizeof L->key, "%s.%s", L->arch, suffix);
    return L->key;
}

/* Required integer key within [lo, hi]. */
static llv_status req_i32(const llv_gguf *g, const char *key, int64_t lo, int64_t hi, int32_t *out, llv_error *err) {
    int64_t v = 0;
    llv_status s = llv_gguf_get_i64(g, key, &v, err);
    if (s == LLV_ERR_NOT_FOUND) return llv_err(err, LLV_ERR_FORMAT, "missing key '%s'", key);
    if (s) return s;
    if (v < lo || v > hi)
        return llv_err(err, LLV_ERR_FORMAT, "key '%s' = %lld outside [%lld, %lld]", key, (long long)v, (long long)lo,
                       (long long)hi);
    *out = (int32_t)v;
    return LLV_OK;
}

static llv_status opt_i32(const llv_gguf *g, const char *key, int32_t def, int64_t lo, int64_t hi, int32_t *out,
                          llv_error *err) {
    if (llv_gguf_find_key(g, key) < 0) {
        *out = def;
        return LLV_OK;
    }
    return req_i32(g, key, lo, hi, out, err);
}

static llv_status opt_f32(const llv_gguf *g, const char *key, float def, float *out, llv_error *err) {
    if (llv_gguf_find_key(g, key) < 0) {
        *out = def;
        return LLV_OK;
    }
    llv_status s = llv_gguf_get_f32(g, key, out, err);
    if (!s && !isfinite(*out)) return llv_err(err, LLV_ERR_FORMAT, "key '%s' is not finite", key);
    return s;
}

static char *dup_str(llv_gguf_str s) {
    char *p = malloc(s.len + 1);
    if (!p) return NULL;
    memcpy(p, s.ptr, s.len);
    p[s.len] = 0;
    return p;
}

/* ------------------------------------------------------------------------- */
/* Tensor binding                                                            */
/* ------------------------------------------------------------------------- */

typedef enum bind_kind { B_F32, B_WEIGHT } bind_kind;

/* Binds `name` with shape ne[0..nd) (ggml order). B_F32: must be F32;
 * B_WEIGHT: any weight type whose rows are whole blocks. */
static llv_status bind(llv_model *m, const char *name, int nd, const int64_t *ne, bind_kind kind,
                       const llv_tensor **out, llv_error *err) {
    const llv_tensor *t = llv_gguf_find_tensor(m->gguf, name);
    if (!t) return llv_err(err, LLV_ERR_NOT_FOUND, "missing tensor '%s'", name);
    bool ok = true;
    for (int i = 0; i < LLV_MAX_DIMS; i++) ok = ok && t->ne[i] == (i < nd ? ne[i] : 1);
    if (!ok) {
        char want[96], got[96];
        llv_tensor_fmt_ne(want, sizeof want, nd, ne);
        llv_tensor_fmt_ne(got, sizeof got, t->n_dims, t->ne);
        return llv_err(err, LLV_ERR_FORMAT, "tensor '%s': shape %s, expected %s", name, got, want);
    }
    if (kind == B_F32 && t->type != LLV_TYPE_F32)
        return llv_err(err, LLV_ERR_FORMAT, "tensor '%s': type %s, expected f32", name,
                       llv_type_name(t->type) ? llv_type_name(t->type) : "unknown");
    size_t rb;
    if (kind == B_WEIGHT && (!llv_type_is_weight(t->type) || !llv_type_row_bytes(t->type, t->ne[0], &rb)))
        return llv_err(err, LLV_ERR_FORMAT, "tensor '%s': type %s, expected a weight type (f32, f16, bf16, q8_0, "
                       "q4_0, q4_1, q5_0, q5_1, q2_k..q6_k) with rows of whole blocks", name,
                       llv_type_name(t->type) ? llv_type_name(t->type) : "unknown");
    *out = t;
    return LLV_OK;
}

static llv_status bind_f(llv_model *m, const char *name, int64_t n, const float **out, llv_error *err) {
    const llv_tensor *t = NULL;
    llv_status s = bind(m, name, 1, (const int64_t[]){n}, B_F32, &t, err);
    if (!s) *out = (const float *)t->data;
    return s;
}

static llv_status bind_scalar(llv_model *m, const char *name, float *out, llv_error *err) {
    const float *p;
    llv_status s = bind_f(m, name, 1, &p, err);
    if (s) return s;
    if (!isfinite(p[0])) return llv_err(err, LLV_ERR_FORMAT, "tensor '%s': value is not finite", name);
    *out = p[0];
    return LLV_OK;
}

#define NE2(a, b) ((const int64_t[]){a, b})

static llv_status bind_text(llv_model *m, llv_error *err) {
    llv_hparams *hp = &m->hp;
    llv_text_weights *tw = &m->text;
    int64_t H = hp->n_embd, hd = hp->head_dim, F = hp->n_ff, qd = (int64_t)hp->n_head * hd,
            kd = (int64_t)hp->n_head_kv * hd;
    llv_status s;
    const llv_tensor *emb = llv_gguf_find_tensor(m->gguf, "token_embd.weight");
    if (!emb) return llv_err(err, LLV_ERR_NOT_FOUND, "missing tensor 'token_embd.weight'");
    int64_t min_rows = hp->arch == LLV_ARCH_MLLAMA ? (int64_t)hp->n_vocab + 1 : hp->n_vocab;
    if (emb->ne[1] < min_rows || emb->ne[1] > INT32_MAX)
        return llv_err(err, LLV_ERR_FORMAT, "tensor 'token_embd.weight': %lld rows, expected at least %lld",
                       (long long)emb->ne[1], (long long)min_rows);
    hp->n_embd_rows = (int32_t)emb->ne[1];
    if ((s = bind(m, "token_embd.weight", 2, NE2(H, hp->n_embd_rows), B_WEIGHT, &tw->tok_embd, err)) ||
        (s = bind_f(m, "output_norm.weight", H, &tw->output_norm, err)))
        return s;
    if (llv_gguf_find_tensor(m->gguf, "output.weight")) {
        if ((s = bind(m, "output.weight", 2, NE2(H, hp->n_vocab), B_WEIGHT, &tw->output, err))) return s;
    } else if (hp->n_embd_rows == hp->n_vocab) {
        tw->output = tw->tok_embd; /* tied embeddings */
    } else {
        return llv_err(err, LLV_ERR_NOT_FOUND, "missing tensor 'output.weight'");
    }
    char n[128];
    for (int l = 0; l < hp->n_layer; l++) {
        llv_text_layer *L = &tw->layers[l];
        L->is_cross = hp->is_cross[l];
#define NM(sfx) (snprintf(n, sizeof n, "blk.%d.%s", l, sfx), n)
        if ((s = bind_f(m, NM("attn_norm.weight"), H, &L->attn_norm, err)) ||
            (s = bind_f(m, NM("ffn_norm.weight"), H, &L->ffn_norm, err)) ||
            (s = bind(m, NM("ffn_gate.weight"), 2, NE2(H, F), B_WEIGHT, &L->ffn_gate, err)) ||
            (s = bind(m, NM("ffn_up.weight"), 2, NE2(H, F), B_WEIGHT, &L->ffn_up, err)) ||
            (s = bind(m, NM("ffn_down.weight"), 2, NE2(F, H), B_WEIGHT, &L->ffn_down, err)))
            return s;
        if (L->is_cross) {
            float ag = 0, mg = 0;
            if ((s = bind(m, NM("cross_attn_q_proj.weight"), 2, NE2(H, qd), B_WEIGHT, &L->wq, err)) ||
                (s = bind(m, NM("cross_attn_k_proj.weight"), 2, NE2(H, kd), B_WEIGHT, &L->wk, err)) ||
                (s = bind(m, NM("cross_attn_v_proj.weight"), 2, NE2(H, kd), B_WEIGHT, &L->wv, err)) ||
                (s = bind(m, NM("cross_attn_o_proj.weight"), 2, NE2(qd, H), B_WEIGHT, &L->wo, err)) ||
                (s = bind_f(m, NM("cross_attn_q_norm.weight"), hd, &L->q_norm, err)) ||
                (s = bind_f(m, NM("cross_attn_k_norm.weight"), hd, &L->k_norm, err)) ||
                (s = bind_scalar(m, NM("cross_attn_attn_gate"), &ag, err)) ||
                (s = bind_scalar(m, NM("cross_attn_mlp_gate"), &mg, err)))
                return s;
            L->attn_gate = tanhf(ag); /* stored raw by every writer */
            L->mlp_gate = tanhf(mg);
        } else {
            if ((s = bind(m, NM("attn_q.weight"), 2, NE2(H, qd), B_WEIGHT, &L->wq, err)) ||
                (s = bind(m, NM("attn_k.weight"), 2, NE2(H, kd), B_WEIGHT, &L->wk, err)) ||
                (s = bind(m, NM("attn_v.weight"), 2, NE2(H, kd), B_WEIGHT, &L->wv, err)) ||
                (s = bind(m, NM("attn_output.weight"), 2, NE2(qd, H), B_WEIGHT, &L->wo, err)))
                return s;
        }
#undef NM
        if (m->params.progress &&
            !m->params.progress("load", 0.5f * (float)(l + 1) / (float)hp->n_layer, m->params.progress_user))
            return llv_err(err, LLV_ERR_CANCELLED, "load cancelled");
    }
    return LLV_OK;
}

static llv_status bind_vision_layer(llv_model *m, const char *pfx, int l, bool global, llv_vision_layer *L,
                                    llv_error *err) {
    const llv_hparams *hp = &m->hp;
    int64_t D = hp->v_n_embd, F = hp->v_n_ff;
    char n[128];
    llv_status s;
#define NM(sfx) (snprintf(n, sizeof n, "%s%d.%s", pfx, l, sfx), n)
    if ((s = bind_f(m, NM("attn_norm.weight"), D, &L->attn_norm_w, err)) ||
        (s = bind_f(m, NM("attn_norm.bias"), D, &L->attn_norm_b, err)) ||
        (s = bind(m, NM("attn_q.weight"), 2, NE2(D, D), B_WEIGHT, &L->wq, err)) ||
        (s = bind(m, NM("attn_k.weight"), 2, NE2(D, D), B_WEIGHT, &L->wk, err)) ||
        (s = bind(m, NM("attn_v.weight"), 2, NE2(D, D), B_WEIGHT, &L->wv, err)) ||
        (s = bind(m, NM("attn_output.weight"), 2, NE2(D, D), B_WEIGHT, &L->wo, err)) ||
        (s = bind_f(m, NM("ffn_norm.weight"), D, &L->ffn_norm_w, err)) ||
        (s = bind_f(m, NM("ffn_norm.bias"), D, &L->ffn_norm_b, err)) ||
        (s = bind(m, NM("ffn_up.weight"), 2, NE2(D, F), B_WEIGHT, &L->fc1, err)) ||
        (s = bind_f(m, NM("ffn_up.bias"), F, &L->fc1_b, err)) ||
        (s = bind(m, NM("ffn_down.weight"), 2, NE2(F, D), B_WEIGHT, &L->fc2, err)) ||
        (s = bind_f(m, NM("ffn_down.bias"), D, &L->fc2_b, err)))
        return s;
    L->gate_attn = L->gate_ffn = 1.0f;
    if (global) { /* stored already tanh'ed (Ollama's convention, ours too) */
        if ((s = bind_scalar(m, NM("attn_gate"), &L->gate_attn, err)) ||
            (s = bind_scalar(m, NM("ffn_gate"), &L->gate_ffn, err)))
            return s;
    }
#undef NM
    return LLV_OK;
}

static llv_status bind_vision(llv_model *m, llv_error *err) {
    const llv_hparams *hp = &m->hp;
    llv_vision_weights *vw = &m->vision;
    int64_t D = hp->v_n_embd, P = hp->v_P, T = hp->v_max_tiles, pz = hp->v_patch_size;
    llv_status s;
    const llv_tensor *tile = llv_gguf_find_tensor(m->gguf, "v.tile_position_embd.weight");
    int64_t A = tile ? tile->ne[1] : 9; /* aspect-ratio ids 0..max */
    if (A < 2 || A > 64) return llv_err(err, LLV_ERR_FORMAT, "tensor 'v.tile_position_embd.weight': %lld aspect rows", (long long)A);
    if ((s = bind(m, "v.patch_embd.weight", 4, (const int64_t[]){pz, pz, hp->v_n_channels, D}, B_WEIGHT,
                  &vw->patch_embd, err)) ||
        (s = bind_f(m, "v.class_embd", D, &vw->class_embd, err)) ||
        (s = bind(m, "v.position_embd.weight", 2, NE2(D, P), B_WEIGHT, &vw->pos_embd, err)) ||
        (s = bind_scalar(m, "v.position_embd.gate", &vw->pos_gate, err)) ||
        (s = bind(m, "v.tile_position_embd.weight", 2, NE2(T * P * D, A), B_WEIGHT, &vw->tile_pos_embd, err)) ||
        (s = bind_scalar(m, "v.tile_position_embd.gate", &vw->tile_pos_gate, err)) ||
        (s = bind(m, "v.pre_tile_position_embd.weight", 2, NE2(T * D, A), B_WEIGHT, &vw->pre_tile_embd, err)) ||
        (s = bind_scalar(m, "v.pre_tile_position_embd.gate", &vw->pre_tile_gate, err)) ||
        (s = bind(m, "v.post_tile_position_embd.weight", 2, NE2(T * D, A), B_WEIGHT, &vw->post_tile_embd, err)) ||
        (s = bind_scalar(m, "v.post_tile_position_embd.gate", &vw->post_tile_gate, err)) ||
        (s = bind_f(m, "v.pre_ln.weight", D, &vw->pre_ln_w, err)) ||
        (s = bind_f(m, "v.pre_ln.bias", D, &vw->pre_ln_b, err)) ||
        (s = bind_f(m, "v.post_ln.weight", D, &vw->post_ln_w, err)) ||
        (s = bind_f(m, "v.post_ln.bias", D, &vw->post_ln_b, err)) ||
        (s = bind(m, "mm.0.weight", 2, NE2(hp->v_output_dim, hp->n_embd), B_WEIGHT, &vw->proj, err)) ||
        (s = bind_f(m, "mm.0.bias", hp->n_embd, &vw->proj_b, err)))
        return s;
    for (int l = 0; l < hp->v_n_layer; l++)
        if ((s = bind_vision_layer(m, "v.blk.", l, false, &vw->layers[l], err))) return s;
    for (int l = 0; l < hp->v_n_global; l++)
        if ((s = bind_vision_layer(m, "v.global.blk.", l, true, &vw->global[l], err))) return s;
    if (m->params.progress && !m->params.progress("load", 0.9f, m->params.progress_user))
        return llv_err(err, LLV_ERR_CANCELLED, "load cancelled");
    return LLV_OK;
}

/* Ollama's converter permutes the cross-attention q/k projection rows like
 * the self-attention ones (gguf-mllama.md section 4); HF does not. Restore
 * HF's order in model-owned copies: HF row h*hd + j*hd/2 + i = stored row
 * h*hd + 2i + j. Whole rows move, so any row type works. */
static llv_status unpermute_cross(llv_model *m, llv_error *err) {
    const llv_hparams *hp = &m->hp;
    if (hp->n_cross == 0) return LLV_OK;
    size_t total = 0;
    for (int c = 0; c < hp->n_cross; c++) {
        const llv_text_layer *L = &m->text.layers[hp->cross_layers[c]];
        total += L->wq->nbytes + L->wk->nbytes;
    }
    m->fixed = calloc((size_t)hp->n_cross * 2, sizeof *m->fixed);
    m->fixed_data = llv_alloc_aligned(total);
    if (!m->fixed || !m->fixed_data)
        return llv_err(err, LLV_ERR_OUT_OF_MEMORY, "out of memory (%zu bytes for Ollama cross-attention fix-up)",
                       total);
    uint8_t *dst = m->fixed_data;
    int64_t hd = hp->head_dim;
    for (int c = 0; c < hp->n_cross; c++) {
        llv_text_layer *L = &m->text.layers[hp->cross_layers[c]];
        const llv_tensor *src[2] = {L->wq, L->wk};
        for (int k = 0; k < 2; k++) {
            const llv_tensor *t = src[k];
            llv_tensor *f = &m->fixed[m->n_fixed++];
            *f = *t;
            f->data = dst;
            size_t rb;
            if (!llv_type_row_bytes(t->type, t->ne[0], &rb))
                return llv_err(err, LLV_ERR_FORMAT, "tensor '%s': bad row size", t->name);
            int64_t rows = t->ne[1];
            for (int64_t r = 0; r < rows; r++) {
                int64_t h = r / hd, q = r % hd, j = q / (hd / 2), i = q % (hd / 2);
                int64_t sr = h * hd + 2 * i + j;
                memcpy(dst + (size_t)r * rb, (const uint8_t *)t->data + (size_t)sr * rb, rb);
            }
            dst += t->nbytes;
            if (k == 0) L->wq = f; else L->wk = f;
        }
    }
    return LLV_OK;
}

/* ------------------------------------------------------------------------- */
/* Hyperparameters                                                           */
/* ------------------------------------------------------------------------- */

static llv_status read_hparams(loader *Ld, llv_error *err) {
    llv_model *m = Ld->m;
    const llv_gguf *g = m->gguf;
    llv_hparams *hp = &m->hp;
    bool ml = hp->arch == LLV_ARCH_MLLAMA;
    llv_status s;
    if ((s = req_i32(g, K(Ld, "embedding_length"), 1, 1 << 20, &hp->n_embd, err)) ||
        (s = req_i32(g, K(Ld, "block_count"), 1, LLV_MAX_LAYERS, &hp->n_layer, err)) ||
        (s = req_i32(g, K(Ld, "attention.head_count"), 1, 4096, &hp->n_head, err)) ||
        (s = opt_i32(g, K(Ld, "attention.head_count_kv"), hp->n_head, 1, 4096, &hp->n_head_kv, err)) ||
        (s = req_i32(g, K(Ld, "feed_forward_length"), 1, 1 << 24, &hp->n_ff, err)) ||
        (s = opt_i32(g, K(Ld, "context_length"), ml ? 131072 : 2048, 1, INT32_MAX, &hp->n_ctx_train, err)) ||
        (s = opt_f32(g, K(Ld, "attention.layer_norm_rms_epsilon"), 1e-5f, &hp->rms_eps, err)) ||
        (s = opt_f32(g, K(Ld, "rope.freq_base"), ml ? 500000.0f : 10000.0f, &hp->rope_theta, err)))
        return s;
    if ((s = opt_i32(g, K(Ld, "attention.key_length"), hp->n_embd / hp->n_head, 2, LLV_MAX_HEAD_DIM, &hp->head_dim,
                     err)))
        return s;
    if (llv_gguf_find_key(g, K(Ld, "attention.key_length")) < 0 && hp->n_embd % hp->n_head != 0)
        return llv_err(err, LLV_ERR_FORMAT, "embedding_length %d not a multiple of head_count %d", hp->n_embd,
                       hp->n_head);
    int32_t rdim = 0;
    if ((s = opt_i32(g, K(Ld, "rope.dimension_count"), hp->head_dim, 1, LLV_MAX_HEAD_DIM, &rdim, err))) return s;
    if (rdim != hp->head_dim || hp->head_dim % 2)
        return llv_err(err, LLV_ERR_UNSUPPORTED, "rope.dimension_count %d != head dim %d (partial RoPE unsupported)",
                       rdim, hp->head_dim);
    /* vocabulary: <arch>.vocab_size, else lm_head rows, else the tokenizer's token count */
    const llv_tensor *out = llv_gguf_find_tensor(g, "output.weight");
    const llv_tensor *emb = llv_gguf_find_tensor(g, "token_embd.weight");
    int32_t defv = out ? (int32_t)LLV_MIN(out->ne[1], INT32_MAX) : emb ? (int32_t)LLV_MIN(emb->ne[1], INT32_MAX) : 0;
    if ((s = opt_i32(g, K(Ld, "vocab_size"), defv, 1, INT32_MAX - 16, &hp->n_vocab, err))) return s;
    if (hp->n_vocab <= 0) return llv_err(err, LLV_ERR_FORMAT, "cannot tell the vocabulary size");

    /* RoPE: our llama3 keys, else Ollama's/llama.cpp's rope_freqs divisors */
    hp->rope_llama3 = false;
    bool from_divisors = false;
    if (llv_gguf_find_key(g, K(Ld, "rope.scaling.type")) >= 0) {
        llv_gguf_str t;
        if ((s = llv_gguf_get_str(g, K(Ld, "rope.scaling.type"), &t, err))) return s;
        if (t.len == 6 && memcmp(t.ptr, "llama3", 6) == 0) {
            hp->rope_llama3 = true;
            if ((s = opt_f32(g, K(Ld, "rope.scaling.factor"), 8.0f, &hp->rope_factor, err)) ||
                (s = opt_f32(g, K(Ld, "rope.scaling.low_freq_factor"), 1.0f, &hp->rope_low_freq_factor, err)) ||
                (s = opt_f32(g, K(Ld, "rope.scaling.high_freq_factor"), 4.0f, &hp->rope_high_freq_factor, err)) ||
                (s = opt_i32(g, K(Ld, "rope.scaling.original_context_length"), 8192, 1, INT32_MAX,
                             &hp->rope_orig_ctx, err)))
                return s;
            if (!(hp->rope_factor > 0) || !(hp->rope_high_freq_factor > hp->rope_low_freq_factor) ||
                !(hp->rope_low_freq_factor > 0))
                return llv_err(err, LLV_ERR_FORMAT, "rope.scaling factors out of range");
        } else if (!(t.len == 4 && memcmp(t.ptr, "none", 4) == 0)) {
            return llv_err(err, LLV_ERR_UNSUPPORTED, "rope.scaling.type '%.*s' not supported", (int)LLV_MIN(t.len, 64),
                           t.ptr);
        }
    } else if (llv_gguf_find_tensor(g, "rope_freqs.weight")) {
        const llv_tensor *rf;
        if ((s = bind(m, "rope_freqs.weight", 1, (const int64_t[]){hp->head_dim / 2}, B_F32, &rf, err))) return s;
        /* Recognise the standard llama3 parameters so the HF float32 rule applies
         * exactly; otherwise divide by the stored factors. */
        llv_hparams t = *hp;
        t.rope_llama3 = true;
        t.rope_factor = 8.0f; t.rope_low_freq_factor = 1.0f; t.rope_high_freq_factor = 4.0f; t.rope_orig_ctx = 8192;
        float plain[LLV_MAX_HEAD_DIM / 2], scaled[LLV_MAX_HEAD_DIM / 2];
        t.rope_llama3 = false;
        llv_rope_inv_freq(&t, plain);
        t.rope_llama3 = true;
        llv_rope_inv_freq(&t, scaled);
        const float *div = rf->data;
        bool match = true;
        for (int i = 0; i < hp->head_dim / 2; i++) {
            if (!(div[i] > 0)) return llv_err(err, LLV_ERR_FORMAT, "rope_freqs.weight[%d] is not positive", i);
            if (fabsf(plain[i] / div[i] - scaled[i]) > 1e-5f * scaled[i]) match = false;
        }
        if (match) {
            *hp = t;
        } else {
            for (int i = 0; i < hp->head_dim / 2; i++) m->text.inv_freq[i] = plain[i] / div[i];
            from_divisors = true;
        }
    }
    if (!from_divisors) llv_rope_inv_freq(hp, m->text.inv_freq);

    /* cross-attention layers */
    hp->n_cross = 0;
    memset(hp->is_cross, 0, sizeof hp->is_cross);
    if (ml) {
        int64_t cl[LLV_MAX_CROSS];
        size_t n = 0;
        s = llv_gguf_get_arr_i64(g, "mllama.attention.cross_attention_layers", cl, LLV_MAX_CROSS, &n, err);
        if (s == LLV_ERR_NOT_FOUND) return llv_err(err, LLV_ERR_FORMAT, "missing key 'mllama.attention.cross_attention_layers'");
        if (s) return s;
        for (size_t i = 0; i < n; i++) {
            if (cl[i] < 0 || cl[i] >= hp->n_layer)
                return llv_err(err, LLV_ERR_FORMAT, "cross_attention_layers[%zu] = %lld invalid for %d layers", i,
                               (long long)cl[i], hp->n_layer);
            hp->cross_layers[hp->n_cross++] = (int32_t)cl[i];
            hp->is_cross[cl[i]] = true;
        }
    }
    return llv_hparams_check_text(hp, err);
}

static llv_status read_vision_hparams(llv_model *m, llv_error *err) {
    const llv_gguf *g = m->gguf;
    llv_hparams *hp = &m->hp;
    llv_status s;
    if ((s = req_i32(g, "mllama.vision.embedding_length", 1, 1 << 20, &hp->v_n_embd, err)) ||
        (s = req_i32(g, "mllama.vision.attention.head_count", 1, 4096, &hp->v_n_head, err)) ||
        (s = req_i32(g, "mllama.vision.feed_forward_length", 1, 1 << 24, &hp->v_n_ff, err)) ||
        (s = req_i32(g, "mllama.vision.block_count", 1, LLV_MAX_LAYERS, &hp->v_n_layer, err)) ||
        (s = opt_i32(g, "mllama.vision.global.block_count", 8, 0, LLV_MAX_LAYERS, &hp->v_n_global, err)) ||
        (s = opt_i32(g, "mllama.vision.image_size", 560, 1, 1 << 14, &hp->v_image_size, err)) ||
        (s = opt_i32(g, "mllama.vision.patch_size", 14, 1, 1 << 14, &hp->v_patch_size, err)) ||
        (s = opt_i32(g, "mllama.vision.max_num_tiles", 4, 1, 64, &hp->v_max_tiles, err)) ||
        (s = opt_i32(g, "mllama.vision.num_channels", 3, 3, 3, &hp->v_n_channels, err)) ||
        (s = opt_f32(g, "mllama.vision.attention.layer_norm_epsilon", 1e-5f, &hp->v_eps, err)))
        return s;
    hp->v_head_dim = hp->v_n_embd / hp->v_n_head;
    int64_t il[LLV_MAX_INTERMEDIATE];
    size_t n = 0;
    s = llv_gguf_get_arr_i64(g, "mllama.vision.intermediate_layers_indices", il, LLV_MAX_INTERMEDIATE, &n, err);
    if (s == LLV_ERR_NOT_FOUND)
        return llv_err(err, LLV_ERR_FORMAT, "missing key 'mllama.vision.intermediate_layers_indices'");
    if (s) return s;
    hp->v_n_interm = (int32_t)n;
    for (size_t i = 0; i < n; i++) {
        if (il[i] < INT32_MIN || il[i] > INT32_MAX)
            return llv_err(err, LLV_ERR_FORMAT, "intermediate_layers_indices[%zu] = %lld", i, (long long)il[i]);
        hp->v_interm[i] = (int32_t)il[i];
    }
    if ((s = llv_hparams_check_vision(hp, err))) return s;
    hp->v_output_dim = hp->v_n_embd * (hp->v_n_interm + 1);
    hp->v_grid = hp->v_image_size / hp->v_patch_size;
    hp->v_P = hp->v_grid * hp->v_grid + 1;
    hp->v_Ppad = (hp->v_P + 7) / 8 * 8;
    static const float clip_mean[3] = {0.48145466f, 0.4578275f, 0.40821073f};
    static const float clip_std[3] = {0.26862954f, 0.26130258f, 0.27577711f};
    memcpy(hp->image_mean, clip_mean, sizeof clip_mean);
    memcpy(hp->image_std, clip_std, sizeof clip_std);
    size_t k;
    if (llv_gguf_find_key(g, "mllama.vision.image_mean") >= 0) {
        if ((s = llv_gguf_get_arr_f32(g, "mllama.vision.image_mean", hp->image_mean, 3, &k, err))) return s;
        if (k != 3) return llv_err(err, LLV_ERR_FORMAT, "mllama.vision.image_mean has %zu entries, expected 3", k);
    }
    if (llv_gguf_find_key(g, "mllama.vision.image_std") >= 0) {
        if ((s = llv_gguf_get_arr_f32(g, "mllama.vision.image_std", hp->image_std, 3, &k, err))) return s;
        if (k != 3) return llv_err(err, LLV_ERR_FORMAT, "mllama.vision.image_std has %zu entries, expected 3", k);
        for (int i = 0; i < 3; i++)
            if (!(hp->image_std[i] > 0)) return llv_err(err, LLV_ERR_FORMAT, "mllama.vision.image_std[%d] <= 0", i);
    }
    hp->has_vision = true;
    return LLV_OK;
}

/* ------------------------------------------------------------------------- */
/* Token ids                                                                 */
/* ------------------------------------------------------------------------- */

static llv_status read_id(const llv_gguf *g, const char *key, int32_t n_vocab, int32_t *out, llv_error *err) {
    *out = -1;
    if (llv_gguf_find_key(g, key) < 0) return LLV_OK;
    int64_t v;
    llv_status s = llv_gguf_get_i64(g, key, &v, err);
    if (s) return s;
    if (v < 0 || v >= n_vocab)
        return llv_err(err, LLV_ERR_FORMAT, "%s = %lld outside the vocabulary of %d tokens", key, (long long)v,
                       n_vocab);
    *out = (int32_t)v;
    return LLV_OK;
}

static void add_eog(llv_model *m, int32_t id) {
    if (id < 0 || m->n_eog >= LLV_MAX_EOG) return;
    for (int i = 0; i < m->n_eog; i++)
        if (m->eog[i] == id) return;
    m->eog[m->n_eog++] = id;
}

static llv_status read_ids(llv_model *m, int32_t n_vocab, llv_error *err) {
    const llv_gguf *g = m->gguf;
    llv_status s;
    int32_t eos, eot, eom;
    if ((s = read_id(g, "tokenizer.ggml.bos_token_id", n_vocab, &m->bos_id, err)) ||
        (s = read_id(g, "tokenizer.ggml.padding_token_id", n_vocab, &m->pad_id, err)) ||
        (s = read_id(g, "tokenizer.ggml.eos_token_id", n_vocab, &eos, err)) ||
        (s = read_id(g, "tokenizer.ggml.eot_token_id", n_vocab, &eot, err)) ||
        (s = read_id(g, "tokenizer.ggml.eom_token_id", n_vocab, &eom, err)))
        return s;
    m->n_eog = 0;
    if (llv_gguf_find_key(g, "tokenizer.ggml.eos_token_ids") >= 0) {
        int64_t ids[LLV_MAX_EOG];
        size_t n = 0;
        if ((s = llv_gguf_get_arr_i64(g, "tokenizer.ggml.eos_token_ids", ids, LLV_MAX_EOG, &n, err))) return s;
        for (size_t i = 0; i < n; i++) {
            if (ids[i] < 0 || ids[i] >= n_vocab)
                return llv_err(err, LLV_ERR_FORMAT, "tokenizer.ggml.eos_token_ids[%zu] = %lld outside the vocabulary "
                               "of %d tokens", i, (long long)ids[i], n_vocab);
            add_eog(m, (int32_t)ids[i]);
        }
    } else if (m->tok) { /* the tokenizer's set: eos, eot, eom and llama.cpp's end-of-generation names */
        const int32_t *ids;
        int32_t n = llv_tokenizer_eog(m->tok, &ids);
        for (int32_t i = 0; i < n; i++)
            if (ids[i] < n_vocab) add_eog(m, ids[i]);
    } else {
        add_eog(m, eos);
        add_eog(m, eot);
        add_eog(m, eom);
    }
    return LLV_OK;
}

/* ------------------------------------------------------------------------- */
/* Load                                                                      */
/* ------------------------------------------------------------------------- */

static void count_params(llv_model *m) {
    uint64_t by_type[LLV_TYPE_COUNT] = {0};
    m->n_params = 0;
    for (int64_t i = 0; i < llv_gguf_n_tensors(m->gguf); i++) {
        const llv_tensor *t = llv_gguf_tensor(m->gguf, i);
        int64_t n = 1;
        llv_tensor_nelements(t->ne, LLV_MAX_DIMS, &n);
        m->n_params += (uint64_t)n;
        if (t->n_dims >= 2 && strncmp(t->name, "v.", 2) != 0 && strncmp(t->name, "mm.", 3) != 0 &&
            (int)t->type >= 0 && (int)t->type < LLV_TYPE_COUNT)
            by_type[t->type] += (uint64_t)n;
    }
    m->weight_type = LLV_TYPE_F32;
    uint64_t best = 0;
    for (int t = 0; t < LLV_TYPE_COUNT; t++)
        if (by_type[t] > best) {
            best = by_type[t];
            m->weight_type = (llv_type)t;
        }
}

static llv_status load(llv_model *m, const char *path, llv_error *err) {
    const llv_gguf *g = m->gguf;
    llv_status s;
    llv_gguf_str a;
    s = llv_gguf_get_str(g, "general.architecture", &a, err);
    if (s == LLV_ERR_NOT_FOUND) return llv_err(err, LLV_ERR_FORMAT, "missing key 'general.architecture'");
    if (s) return s;
    loader Ld = {.m = m};
    if (a.len == 6 && memcmp(a.ptr, "mllama", 6) == 0) {
        m->hp.arch = LLV_ARCH_MLLAMA;
        Ld.arch = "mllama";
    } else if (a.len == 5 && memcmp(a.ptr, "llama", 5) == 0) {
        m->hp.arch = LLV_ARCH_LLAMA;
        Ld.arch = "llama";
    } else {
        return llv_err(err, LLV_ERR_UNSUPPORTED, "architecture '%.*s' not supported (mllama, llama)",
                       (int)LLV_MIN(a.len, 64), a.ptr);
    }
    llv_gguf_str sv;
    if (llv_gguf_find_key(g, "general.name") >= 0 && llv_gguf_get_str(g, "general.name", &sv, NULL) == LLV_OK)
        m->name = dup_str(sv);
    else
        m->name = dup_str((llv_gguf_str){"", 0});
    if (llv_gguf_find_key(g, "tokenizer.chat_template") >= 0) {
        if ((s = llv_gguf_get_str(g, "tokenizer.chat_template", &sv, err))) return s;
        m->chat_template = dup_str(sv);
        if (!m->chat_template) return llv_err(err, LLV_ERR_OUT_OF_MEMORY, "out of memory");
    }
    if (!m->name) return llv_err(err, LLV_ERR_OUT_OF_MEMORY, "out of memory");
    if ((s = llv_chat_format_init(&m->chat, m->chat_template, m->params.chat_template, err))) return s;
    if (m->chat.kind == LLV_CHAT_UNSUPPORTED)
        llv_log(m->params.log, m->params.log_user, LLV_LOG_WARN,
                "the file's chat template cannot be rendered (%s): chats need a chat_template override, raw prompts "
                "work", m->chat.why);

    bool ours = llv_gguf_find_key(g, "llv.format_version") >= 0;
    if (ours) {
        uint32_t ver;
        if ((s = llv_gguf_get_u32(g, "llv.format_version", &ver, err))) return s;
        if (ver != 1) return llv_err(err, LLV_ERR_UNSUPPORTED, "llv.format_version %u not supported (1)", ver);
        if (llv_gguf_find_key(g, "llv.rope.layout") >= 0) {
            llv_gguf_str rl;
            if ((s = llv_gguf_get_str(g, "llv.rope.layout", &rl, err))) return s;
            if (!(rl.len == 14 && memcmp(rl.ptr, "adjacent_pairs", 14) == 0))
                return llv_err(err, LLV_ERR_UNSUPPORTED, "llv.rope.layout '%.*s' not supported (adjacent_pairs)",
                               (int)LLV_MIN(rl.len, 64), rl.ptr);
        }
    }

    /* tokenizer (may be absent) */
    if ((s = llv_tokenizer_load(g, &m->tok, err))) return s;
    int32_t n_tok = 0;
    int64_t ti = llv_gguf_find_key(g, "tokenizer.ggml.tokens");
    if (ti >= 0) n_tok = (int32_t)LLV_MIN(llv_gguf_arr_n(g, ti), (uint64_t)INT32_MAX);

    m->has_weights = llv_gguf_n_tensors(g) > 0;
    if (!m->has_weights) {
        if (n_tok <= 0) return llv_err(err, LLV_ERR_FORMAT, "file has neither tensors nor a vocabulary");
        m->hp.n_vocab = n_tok;
        m->hp.image_token_id = -1;
        if ((s = read_ids(m, n_tok, err))) return s;
        m->add_bos = m->tok ? llv_tokenizer_add_bos(m->tok) : true;
        llv_log(m->params.log, m->params.log_user, LLV_LOG_INFO, "%s: vocabulary only, %d tokens", path, n_tok);
        return LLV_OK;
    }

    bool ml = m->hp.arch == LLV_ARCH_MLLAMA;
    bool has_v = llv_gguf_find_tensor(g, "v.patch_embd.weight") != NULL;
    bool has_t = llv_gguf_find_tensor(g, "token_embd.weight") != NULL;
    if (ml && (!has_v || !has_t))
        return llv_err(err, LLV_ERR_UNSUPPORTED,
                       "%s: old Ollama split mllama layout (text model and vision projector in two files, Ollama "
                       "< 0.7) is not supported: use a single-file GGUF (ollama pull llama3.2-vision with a current "
                       "Ollama) or convert the Hugging Face checkpoint with llv-convert",
                       has_t ? "no vision tensors" : "no text tensors");

    if ((s = read_hparams(&Ld, err))) return s;
    if (ml) {
        if ((s = read_vision_hparams(m, err))) return s;
        int32_t img = 0;
        if ((s = opt_i32(g, "mllama.image_token_index", m->hp.n_vocab, 0, INT32_MAX, &img, err))) return s;
        m->hp.image_token_id = img;
    } else {
        m->hp.image_token_id = -1;
    }
    if ((s = bind_text(m, err))) return s;
    if (ml) {
        if (m->hp.image_token_id >= m->hp.n_embd_rows)
            return llv_err(err, LLV_ERR_FORMAT, "image token %d outside the %d embedding rows", m->hp.image_token_id,
                           m->hp.n_embd_rows);
        if ((s = bind_vision(m, err))) return s;
        if (!ours && (s = unpermute_cross(m, err))) return s;
    }
    if ((s = read_ids(m, m->hp.n_vocab, err))) return s;
    m->add_bos = m->tok ? llv_tokenizer_add_bos(m->tok) : true;
    if (llv_gguf_find_key(g, "tokenizer.ggml.add_bos_token") >= 0) {
        bool b;
        if (llv_gguf_get_bool(g, "tokenizer.ggml.add_bos_token", &b, NULL) == LLV_OK) m->add_bos = b;
    }
    count_params(m);
    return LLV_OK;
}

/* A table lacking a kernel for a weight type of the file (e.g. a quantized
 * type its ISA does not cover yet) would leave outputs unwritten: the
 * reference table, which has every type, is used instead. */
static const llv_kernels *kernels_for_file(const llv_kernels *k, const llv_gguf *g, const llv_model_params *p) {
    for (int64_t i = 0; i < llv_gguf_n_tensors(g); i++) {
        int t = (int)llv_gguf_tensor(g, i)->type;
        if (llv_type_is_weight(t) && t < LLV_KTYPE_COUNT && (!k->matmul[t] || !k->to_f32[t])) {
            llv_log(p->log, p->log_user, LLV_LOG_WARN, "kernels '%s' lack type %s: using the reference kernels",
                    k->name, llv_type_name((llv_type)t) ? llv_type_name((llv_type)t) : "?");
            return llv_kernels_ref();
        }
    }
    return k;
}

llv_status llv_model_load(const char *path, const llv_model_params *params, llv_model **out, llv_error *err) {
    llv_err_clear(err);
    if (!path || !out) return llv_err(err, LLV_ERR_INVALID_ARGUMENT, "llv_model_load: NULL argument");
    *out = NULL;
    LLV_PARAMS_IN(llv_model_params, params, err);
    double t0 = llv_time_s();
    llv_model *m = calloc(1, sizeof *m);
    if (!m) return llv_err(err, LLV_ERR_OUT_OF_MEMORY, "out of memory");
    pthread_mutex_init(&m->grammar_mu, NULL);
    m->params = params ? *params : llv_model_default_params();
    m->bos_id = m->pad_id = -1;
    m->default_temperature = 0.6f;
    m->default_top_p = 1.0f;
    m->kern = llv_kernels_get(m->params.isa);
    llv_status s = llv_gguf_open(path, &m->gguf, err);
    if (!s) {
        s = load(m, path, err);
        if (!s) {
            const llv_gguf *g = m->gguf;
            m->kern = kernels_for_file(m->kern, g, &m->params);
            if ((s = opt_f32(g, "general.sampling.temp", m->default_temperature, &m->default_temperature, err)) == LLV_OK)
                s = opt_f32(g, "general.sampling.top_p", m->default_top_p, &m->default_top_p, err);
        }
    }
    if (s) {
        /* lower layers already name the file in most messages */
        if (err && strncmp(err->message, path, strlen(path)) != 0) llv_err_prefix(err, "%s", path);
        llv_model_free(m);
        return s;
    }
    uint64_t need = m->has_weights ? llv_gguf_file_size(m->gguf) : 0, avail = llv_mem_available();
    if (!m->params.no_memory_check && avail && need > avail) {
        llv_model_free(m);
        char a[32], b[32];
        return llv_err(err, LLV_ERR_OUT_OF_MEMORY,
                       "%s: the weights need %s but this machine has %s of memory available: it would swap or be "
                       "killed. Use a smaller quantization (llv-quantize) or free memory; no_memory_check "
                       "(--no-memory-check) skips this check", path, llv_fmt_bytes(need, a), llv_fmt_bytes(avail, b));
    }
    m->load_s = llv_time_s() - t0;
    if (m->params.progress && !m->params.progress("load", 1.0f, m->params.progress_user)) {
        llv_model_free(m);
        return llv_err(err, LLV_ERR_CANCELLED, "load cancelled");
    }
    if (m->has_weights)
        llv_log(m->params.log, m->params.log_user, LLV_LOG_INFO,
                "%s: %s, %d layers (%d cross), n_embd %d, vocab %d, %s%s, %.2f B params, %s, kernels %s, %.3f s", path,
                llv_arch_name(m->hp.arch), m->hp.n_layer, m->hp.n_cross, m->hp.n_embd,
                m->hp.n_vocab, m->hp.has_vision ? "vision, " : "",
                llv_gguf_find_key(m->gguf, "llv.format_version") >= 0 ? "llv file" : "foreign file",
                (double)m->n_params * 1e-9, llv_type_name(m->weight_type) ? llv_type_name(m->weight_type) : "?",
                m->kern && m->kern->name ? m->kern->name : "?", m->load_s);
    *out = m;
    return LLV_OK;
}

void llv_model_free(llv_model *model) {
    if (!model) return;
    llv_grammar_vocab_free(model->grammar_vocab);
    pthread_mutex_destroy(&model->grammar_mu);
    llv_model_loras_free(model);
    llv_tokenizer_free(model->tok);
    llv_gguf_close(model->gguf);
    free(model->name);
    free(model->chat_template);
    llv_chat_format_free(&model->chat);
    free(model->fixed);
    llv_free_aligned(model->fixed_data);
    free(model);
}

void llv_model_get_info(const llv_model *m, llv_model_info *info) {
    if (!info) return;
    memset(info, 0, sizeof *info);
    if (!m) return;
    const llv_hparams *hp = &m->hp;
    info->architecture = llv_arch_name(hp->arch);
    info->name = m->name ? m->name : "";
    info->has_vision = hp->has_vision;
    info->has_weights = m->has_weights;
    info->n_vocab = hp->n_vocab;
    info->n_ctx_train = hp->n_ctx_train;
    info->n_embd = hp->n_embd;
    info->n_layer = hp->n_layer;
    info->n_cross_layers = hp->n_cross;
    info->image_size = hp->has_vision ? hp->v_image_size : 0;
    info->max_tiles = hp->has_vision ? hp->v_max_tiles : 0;
    info->bos_id = m->bos_id;
    info->pad_id = m->pad_id;
    info->image_token_id = hp->image_token_id;
    info->n_eog = m->n_eog;
    info->eog_ids = m->eog;
    info->weight_type = m->weight_type;
    info->n_params = m->n_params;
    info->file_bytes = m->gguf ? llv_gguf_file_size(m->gguf) : 0;
    info->isa = m->kern && m->kern->name ? m->kern->name : "ref";
    info->chat_template = m->chat_template;
    info->chat_format = llv_chat_format_name(&m->chat);
}
