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

/* A run of rows of one batch inside a pass. */
typedef struct text_seg {
    struct llv_text_state *st;
    const llv_text_batch  *b;
    int32_t                r0;   /* first row of the segment in the pass      */
    int32_t                n;    /* rows                                      */
    int32_t                b0;   /* first row of the segment in its batch     */
    int32_t                pos0; /* position of the first row (st->n_past)    */
    bool                   cross; /* the batch has images                     */
} text_seg;

struct llv_text_work {
    const llv_model *m;
    int32_t          n_rows;
    float           *scratch; /* one allocation sized by n_rows */
    float           *h, *xn, *q, *k, *v, *att, *proj, *ff_g, *ff_u, *rope_cos, *rope_sin;
    size_t           scratch_bytes;
    /* per row of the pass: segment, position, image mask (0 for rows of a batch without images) */
    int32_t         *row_seg, *row_pos;
    uint64_t        *row_mask;
    text_seg        *segs; /* [n_rows] */
    /* per-thread attention scratch (scores, then a converted key/value row at
     * the end); grows only when a larger pool or a longer key range is first seen */
    float           *thr;
    size_t           thr_floats; /* per thread */
    int              thr_n;
    /* LoRA scratch (grown on the first forward with an adapter): lt [n_rows, max rank],
     * lu [n_rows, largest adapted output] */
    float           *lt, *lu;
    size_t           lt_floats, lu_floats;
    /* last-row logits of several batches of one pass [k, n_vocab] (grown when more are first seen) */
    float           *logits;
    size_t           logits_floats;
    const llv_lora  *lora; /* adapter of the forward in progress (NULL: none) */
};

struct llv_text_state {
    const llv_model *m;
    int32_t          n_ctx, n_batch, n_past, n_self;
    llv_kv_type      kv_type;
    size_t           kv_elem;              /* 4 (F32) or 2 (F16)                             */
    int32_t          slot[LLV_MAX_LAYERS]; /* layer -> self-attention cache slot, -1 = cross  */
    /* KV cache: per self layer a K block then a V block, each [n_head_kv, n_ctx, head_dim] */
    unsigned char   *kv;
    size_t           kv_bytes, kv_layer_bytes;
    llv_text_work   *w; /* scratch for n_batch rows (NULL for n_batch 0) */
};

/* ------------------------------------------------------------------------- */
/* Work (row scratch) and state                                              */
/* ------------------------------------------------------------------------- */

llv_status llv_text_work_create(const llv_model *m, int32_t n_rows, llv_text_work **out, llv_error *err) {
    *out = NULL;
    if (!m || !m->has_weights) return llv_err(err, LLV_ERR_STATE, "text work: the model has no weights");
    if (n_rows <= 0) return llv_err(err, LLV_ERR_INVALID_ARGUMENT, "text work: n_rows %d must be > 0", n_rows);
    const llv_hparams *hp = &m->hp;
    const size_t D = (size_t)hp->n_embd, hd = (size_t)hp->head_dim, Hq = (size_t)hp->n_head,
                 Hkv = (size_t)hp->n_head_kv, F = (size_t)hp->n_ff, nr = (size_t)n_rows;
    /* h, xn, proj [nr, D]; q, att [nr, Hq*hd]; k, v [nr, Hkv*hd]; ff_g, ff_u [nr, F]; cos, sin [nr, hd/2] */
    size_t per_row = 3 * D + 2 * Hq * hd + 2 * Hkv * hd + 2 * F + hd, floats, bytes;
    if (!llv_mul_size(per_row, nr, &floats) || !llv_mul_size(floats, sizeof(float), &bytes))
        return llv_err(err, LLV_ERR_LIMIT, "text work: size overflow (n_rows %d)", n_rows);
    llv_text_work *w = calloc(1, sizeof *w);
    if (!w) return llv_err(err, LLV_ERR_OUT_OF_MEMORY, "text work: out of memory");
    w->m = m;
    w->n_rows = n_rows;
    w->scratch_bytes = bytes;
    w->scratch = llv_alloc_aligned(bytes);
    w->row_seg = malloc(nr * sizeof *w->row_seg);
    w->row_pos = malloc(nr * sizeof *w->row_pos);
    w->row_mask = malloc(nr * sizeof *w->row_mask);
    w->segs = malloc(nr * sizeof *w->segs);
    if (!w->scratch || !w->row_seg || !w->row_pos || !w->row_mask || !w->segs) {
        llv_text_work_free(w);
        return llv_err(err, LLV_ERR_OUT_OF_MEMORY, "text work: out of memory for %zu bytes of scratch (%d rows)", bytes,
                       n_rows);
    }
    float *p = w->scratch;
    w->h = p, p += nr * D;
    w->xn = p, p += nr * D;
    w->proj = p, p += nr * D;
    w->q = p, p += nr * Hq * hd;
    w->att = p, p += nr * Hq * hd;
    w->k = p, p += nr * Hkv * hd;
    w->v = p, p += nr * Hkv * hd;
    w->ff_g = p, p += nr * F;
    w->ff_u = p, p += nr * F;
    w->rope_cos = p, p += nr * (hd / 2);
    w->rope_sin = p;
    *out = w;
    return LLV_OK;
}

void llv_text_work_free(llv_text_work *w) {
    if (!w) return;
    llv_free_aligned(w->scratch);
    free(w->row_seg);
    free(w->row_pos);
    free(w->row_mask);
    free(w->segs);
    free(w->thr);
    llv_free_aligned(w->lt);
    llv_free_aligned(w->lu);
    llv_free_aligned(w->logits);
    free(w);
}

size_t llv_text_work_bytes(const llv_text_work *w) {
    if (!w) return 0;
    size_t nr = (size_t)w->n_rows;
    return sizeof *w + w->scratch_bytes + nr * (2 * sizeof(int32_t) + sizeof(uint64_t) + sizeof(text_seg)) +
           ((size_t)w->thr_n * w->thr_floats + w->lt_floats + w->lu_floats + w->logits_floats) * sizeof(float);
}

int32_t llv_text_work_rows(const llv_text_work *w) { return w ? w->n_rows : 0; }

llv_status llv_text_state_create(const llv_model *m, int32_t n_ctx, int32_t n_batch, llv_kv_type kv_type,
                                 llv_text_state **out, llv_error *err) {
    *out = NULL;
    const llv_hparams *hp = &m->hp;
    if (!m->has_weights) return llv_err(err, LLV_ERR_STATE, "text state: the model has no weights");
    if (n_ctx <= 0 || (hp->n_ctx_train > 0 && n_ctx > hp->n_ctx_train))
        return llv_err(err, LLV_ERR_INVALID_ARGUMENT, "text state: n_ctx %d out of range [1, %d]", n_ctx,
                       hp->n_ctx_train);
    if (n_batch < 0) return llv_err(err, LLV_ERR_INVALID_ARGUMENT, "text state: n_batch %d must be >= 0", n_batch);
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

    const size_t hd = (size_t)hp->head_dim, Hkv = (size_t)hp->n_head_kv;
    size_t blk, ok = 1;
    ok &= llv_mul_size(Hkv * hd, (size_t)n_ctx, &blk);
    ok &= llv_mul_size(blk, st->kv_elem, &blk);
    ok &= llv_mul_size(blk, 2, &st->kv_layer_bytes);
    ok &= llv_mul_size(st->kv_layer_bytes, (size_t)st->n_self, &st->kv_bytes);
    if (!ok) {
        free(st);
        return llv_err(err, LLV_ERR_LIMIT, "text state: size overflow (n_ctx %d, n_batch %d)", n_ctx, n_batch);
    }
    llv_status s = n_batch > 0 ? llv_text_work_create(m, n_batch, &st->w, err) : LLV_OK;
    if (s != LLV_OK) {
        free(st);
        return s;
    }
    st->kv = st->kv_bytes ? llv_alloc_aligned(st->kv_bytes) : NULL;
    if (st->kv_bytes && !st->kv) {
        size_t want = st->kv_bytes;
        llv_text_state_free(st);
        return llv_err(err, LLV_ERR_OUT_OF_MEMORY, "text state: cannot allocate the KV cache (%zu bytes for n_ctx %d)",
                       want, n_ctx);
    }
    *out = st;
    return LLV_OK;
}

void llv_text_state_free(llv_text_state *st) {
    if (!st) return;
    llv_free_aligned(st->kv);
    llv_text_work_free(st->w);
    free(st);
}

size_t  llv_text_state_kv_bytes(const llv_text_state *st) { return st ? st->kv_bytes : 0; }
size_t  llv_text_state_bytes(const llv_text_state *st) {
    return st ? sizeof *st + st->kv_bytes + llv_text_work_bytes(st->w) : 0;
}
int32_t llv_text_state_n_ctx(const llv_text_state *st) { return st ? st->n_ctx : 0; }
int32_t llv_text_state_n_past(const llv_text_state *st) { return st ? st->n_past : 0; }
void    llv_text_state_truncate(llv_text_state *st, int32_t n_keep) {
    if (st && n_keep >= 0 && n_keep < st->n_past) st->n_past = n_keep;
}

/* Ensures per-thread scratch of `need` floats for `n_thr` threads. */
static llv_status ensure_thread_scratch(llv_text_work *w, int n_thr, size_t need, llv_error *err) {
    if (n_thr <= w->thr_n && need <= w->thr_floats) return LLV_OK;
    int n = LLV_MAX(n_thr, w->thr_n);
    size_t f = LLV_MAX(need, w->thr_floats), total;
    if (!llv_mul_size(f, (size_t)n * sizeof(float), &total))
        return llv_err(err, LLV_ERR_LIMIT, "text: attention scratch size overflow");
    float *p = malloc(total);
    if (!p) return llv_err(err, LLV_ERR_OUT_OF_MEMORY, "text: out of memory for attention scratch (%zu bytes)", total);
    free(w->thr);
    w->thr = p;
    w->thr_n = n;
    w->thr_floats = f;
    return LLV_OK;
}

/* Ensures LoRA scratch for n_rows rows of `lora`. */
static llv_status ensure_lora_scratch(llv_text_work *w, const llv_lora *lora, llv_error *err) {
    size_t nt, nu;
    if (!llv_mul_size((size_t)w->n_rows, (size_t)lora->max_rank, &nt) ||
        !llv_mul_size((size_t)w->n_rows, (size_t)lora->max_out, &nu) || nt > SIZE_MAX / 4 || nu > SIZE_MAX / 4)
        return llv_err(err, LLV_ERR_LIMIT, "text: LoRA scratch size overflow");
    if (nt > w->lt_floats) {
        float *p = llv_alloc_aligned(nt * sizeof(float));
        if (!p) return llv_err(err, LLV_ERR_OUT_OF_MEMORY, "text: out of memory for LoRA scratch (%zu floats)", nt);
        llv_free_aligned(w->lt);
        w->lt = p;
        w->lt_floats = nt;
    }
    if (nu > w->lu_floats) {
        float *p = llv_alloc_aligned(nu * sizeof(float));
        if (!p) return llv_err(err, LLV_ERR_OUT_OF_MEMORY, "text: out of memory for LoRA scratch (%zu floats)", nu);
        llv_free_aligned(w->lu);
        w->lu = p;
        w->lu_floats = nu;
    }
    return LLV_OK;
}

/* Ensures room for the last-row logits of k batches. */
static llv_status ensure_logits_scratch(llv_text_work *w, int32_t k, llv_error *err) {
    size_t f;
    if (!llv_mul_size((size_t)k, (size_t)w->m->hp.n_vocab, &f) || f > SIZE_MAX / 4)
        return llv_err(err, LLV_ERR_LIMIT, "text: logits scratch size overflow (%d rows)", k);
    if (f <= w->logits_floats) return LLV_OK;
    float *p = llv_alloc_aligned(f * sizeof(float));
    if (!p) return llv_err(err, LLV_ERR_OUT_OF_MEMORY, "text: out of memory for logits scratch (%zu floats)", f);
    llv_free_aligned(w->logits);
    w->logits = p;
    w->logits_floats = f;
    return LLV_OK;
}

/* y[n, out] = x W^T, plus the adapter's scale * (x A^T) B^T when the forward
 * in progress has one for this projection (pr selects it from the layer). */
static void proj_linear(llv_text_work *w, llv_threadpool *pool, const llv_tensor *W, const llv_lora_pair *pr,
                        const float *x, int32_t n, float *y) {
    llv_op_linear(w->m->kern, pool, W, NULL, x, n, y);
    if (pr) llv_lora_apply(w->m->kern, pool, pr, x, n, w->lt, w->lu, y);
}

#define LORA_OF(w, l, field) ((w)->lora ? (w)->lora->layers[l].field : NULL)

/* ------------------------------------------------------------------------- */
/* Attention                                                                 */
/* ------------------------------------------------------------------------- */

/* Rows of a pass may belong to several states (sessions): each row reads its
 * own state's cache and its own batch's images, so its arithmetic is the
 * same as in a pass of its own. */
typedef struct attn_job {
    const llv_kernels   *kern;
    const llv_text_work *w;
    int32_t              Hq, Hkv, hd;
    float                scale;     /* (float)sqrt(hd): scores are divided after the dot */
    int32_t              slot;      /* self attention: cache slot of the layer            */
    int32_t              cross_idx; /* cross attention: index of the cross layer          */
} attn_job;

/* One item per (row, KV head): the group of query heads sharing that KV head
 * (repeat_kv) is one matmul against the cached keys (the kernel's F16 or F32
 * path: one call, not a dot per key and head), then each head's softmax and
 * weighted sum of the values in key order, with value rows converted from F16
 * a block at a time. Every row's arithmetic depends only on its own keys, so
 * prefill and decode still agree bitwise. */
#define ATTN_VBLK 32 /* value rows converted per step (a scratch of ATTN_VBLK * head_dim floats) */

/* o[h] = sum_t p[h][t] * v[t] for the group's heads, t = 0..n-1 in order. */
static void attn_values(const attn_job *j, const float *p, size_t ldp, int32_t group, const unsigned char *v, bool f16,
                        int32_t n, float *tmp, float *o) {
    const int32_t hd = j->hd;
    for (int32_t t0 = 0; t0 < n; t0 += ATTN_VBLK) {
        const int32_t nb = n - t0 < ATTN_VBLK ? n - t0 : ATTN_VBLK;
        const float *vb = (const float *)(const void *)v + (size_t)t0 * hd;
        if (f16) {
            j->kern->to_f32[LLV_TYPE_F16](v + (size_t)t0 * hd * 2, tmp, (int64_t)nb * hd);
            vb = tmp;
        }
        j->kern->attn_pv(p + t0, (int64_t)ldp, group, vb, nb, hd, o);
    }
}

static void self_attn_task(void *ctx, int64_t i0, int64_t i1, int thread) {
    const attn_job *j = ctx;
    const llv_text_work *w = j->w;
    const int32_t group = j->Hq / j->Hkv, hd = j->hd;
    float *scores = w->thr + (size_t)thread * w->thr_floats; /* [group][n_keys] */
    float *tmp = scores + w->thr_floats - (size_t)ATTN_VBLK * hd;
    for (int64_t it = i0; it < i1; it++) {
        int32_t r = (int32_t)(it / j->Hkv), g = (int32_t)(it % j->Hkv);
        const llv_text_state *st = w->segs[w->row_seg[r]].st;
        const bool f16 = st->kv_type != LLV_KV_F32;
        const size_t es = f16 ? 2 : 4, goff = (size_t)g * (size_t)st->n_ctx * (size_t)hd * es;
        const unsigned char *ck = st->kv + (size_t)j->slot * st->kv_layer_bytes;
        const unsigned char *cv = ck + st->kv_layer_bytes / 2;
        const float *q = w->q + ((size_t)r * j->Hq + (size_t)g * group) * hd;
        float *o = w->att + ((size_t)r * j->Hq + (size_t)g * group) * hd;
        const int32_t n_keys = w->row_pos[r] + 1;
        j->kern->matmul[f16 ? LLV_TYPE_F16 : LLV_TYPE_F32](ck + goff, (size_t)hd * es, q, hd, group, hd, scores, n_keys,
                                                           0, n_keys);
        for (int32_t h = 0; h < group; h++) {
            float *sc = scores + (size_t)h * n_keys;
            for (int32_t t = 0; t < n_keys; t++) sc[t] = sc[t] / j->scale;
            j->kern->softmax(sc, n_keys);
        }
        memset(o, 0, (size_t)group * hd * sizeof(float));
        attn_values(j, scores, (size_t)n_keys, group, cv + goff, f16, n_keys, tmp, o);
    }
}

/* Keys a row sees: its images' real tiles, or (no image) every token of
 * every image, padding tiles included (HF's all-zero mask row). Masked keys
 * get exp(min32 - max) = 0 in HF, so leaving them out is exact. Rows of a
 * batch without images get zeros (their cross layers are skipped). Items are
 * (row, KV head) as in self_attn_task; cross K/V are F32 or F16 per image. */
static void cross_attn_task(void *ctx, int64_t i0, int64_t i1, int thread) {
    const attn_job *j = ctx;
    const llv_text_work *w = j->w;
    float *scores = w->thr + (size_t)thread * w->thr_floats; /* [group][keys seen] */
    const int32_t group = j->Hq / j->Hkv, hd = j->hd;
    float *tmp = scores + w->thr_floats - (size_t)ATTN_VBLK * hd;
    for (int64_t it = i0; it < i1; it++) {
        int32_t r = (int32_t)(it / j->Hkv), g = (int32_t)(it % j->Hkv);
        const text_seg *sg = &w->segs[w->row_seg[r]];
        const float *q = w->q + ((size_t)r * j->Hq + (size_t)g * group) * hd;
        float *o = w->att + ((size_t)r * j->Hq + (size_t)g * group) * hd;
        memset(o, 0, (size_t)group * hd * sizeof(float));
        if (!sg->cross) continue;
        const llv_cross_kv *const *images = sg->b->images;
        const int32_t n_images = sg->b->n_images;
        const uint64_t bits = w->row_mask[r];
        int32_t seen[LLV_MAX_IMAGES];
        size_t n = 0;
        for (int32_t i = 0; i < n_images; i++) {
            bool sees = (bits >> i) & 1;
            if (bits && !sees) seen[i] = 0;
            else seen[i] = sees ? images[i]->n_tiles * images[i]->tile_tokens : images[i]->n_tok;
            n += (size_t)seen[i];
        }
        if (n == 0) continue;
        size_t off = 0;
        for (int32_t i = 0; i < n_images; i++) {
            if (!seen[i]) continue;
            const bool f16 = images[i]->type == LLV_KV_F16;
            const size_t es = f16 ? 2 : 4;
            const unsigned char *K = images[i]->k[j->cross_idx] + (size_t)g * images[i]->n_tok * hd * es;
            j->kern->matmul[f16 ? LLV_TYPE_F16 : LLV_TYPE_F32](K, (size_t)hd * es, q, hd, group, hd, scores + off,
                                                               (int64_t)n, 0, seen[i]);
            off += (size_t)seen[i];
        }
        for (int32_t h = 0; h < group; h++) {
            float *sc = scores + (size_t)h * n;
            for (size_t t = 0; t < n; t++) sc[t] = sc[t] / j->scale;
            j->kern->softmax(sc, (int64_t)n);
        }
        off = 0;
        for (int32_t i = 0; i < n_images; i++) {
            if (!seen[i]) continue;
            const bool f16 = images[i]->type == LLV_KV_F16;
            const unsigned char *V = images[i]->v[j->cross_idx] + (size_t)g * images[i]->n_tok * hd * (f16 ? 2 : 4);
            attn_values(j, scores + off, n, group, V, f16, seen[i], tmp, o);
            off += (size_t)seen[i];
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

/* The SwiGLU MLP of layer L on the n rows of w->h; adds gate * f to h (gated:
 * rows with row_mask[r] == 0 are skipped: HF multiplies their branch by 0). */
static void mlp_block(llv_text_work *w, llv_threadpool *pool, int32_t l, int32_t n, bool gated, float gate) {
    const llv_model *m = w->m;
    const llv_text_layer *L = &m->text.layers[l];
    const llv_kernels *kern = m->kern;
    const int32_t D = m->hp.n_embd, F = m->hp.n_ff;
    for (int32_t r = 0; r < n; r++) kern->rmsnorm(w->h + (size_t)r * D, L->ffn_norm, w->xn + (size_t)r * D, D, m->hp.rms_eps);
    proj_linear(w, pool, L->ffn_gate, LORA_OF(w, l, ffn_gate), w->xn, n, w->ff_g);
    proj_linear(w, pool, L->ffn_up, LORA_OF(w, l, ffn_up), w->xn, n, w->ff_u);
    for (int32_t r = 0; r < n; r++) kern->silu_mul(w->ff_g + (size_t)r * F, w->ff_u + (size_t)r * F, F);
    proj_linear(w, pool, L->ffn_down, LORA_OF(w, l, ffn_down), w->ff_g, n, w->proj);
    for (int32_t r = 0; r < n; r++) {
        float *h = w->h + (size_t)r * D;
        const float *f = w->proj + (size_t)r * D;
        if (!gated) {
            for (int32_t d = 0; d < D; d++) h[d] = h[d] + f[d];
        } else if (w->row_mask[r]) {
            for (int32_t d = 0; d < D; d++) h[d] = h[d] + gate * f[d];
        }
    }
}

static void self_layer(llv_text_work *w, llv_threadpool *pool, int32_t l, int32_t n, int32_t nseg) {
    const llv_model *m = w->m;
    const llv_hparams *hp = &m->hp;
    const llv_kernels *kern = m->kern;
    const llv_text_layer *L = &m->text.layers[l];
    const int32_t D = hp->n_embd, hd = hp->head_dim, Hq = hp->n_head, Hkv = hp->n_head_kv;
    for (int32_t r = 0; r < n; r++) kern->rmsnorm(w->h + (size_t)r * D, L->attn_norm, w->xn + (size_t)r * D, D, hp->rms_eps);
    proj_linear(w, pool, L->wq, LORA_OF(w, l, wq), w->xn, n, w->q);
    proj_linear(w, pool, L->wk, LORA_OF(w, l, wk), w->xn, n, w->k);
    proj_linear(w, pool, L->wv, LORA_OF(w, l, wv), w->xn, n, w->v);
    for (int32_t r = 0; r < n; r++) {
        const float *c = w->rope_cos + (size_t)r * (hd / 2), *s = w->rope_sin + (size_t)r * (hd / 2);
        for (int32_t h = 0; h < Hq; h++) kern->rope_pairs(w->q + ((size_t)r * Hq + h) * hd, c, s, hd);
        for (int32_t g = 0; g < Hkv; g++) kern->rope_pairs(w->k + ((size_t)r * Hkv + g) * hd, c, s, hd);
    }
    int32_t slot = w->segs[0].st->slot[l]; /* the same for every state of the model */
    for (int32_t i = 0; i < nseg; i++) {
        const text_seg *sg = &w->segs[i];
        unsigned char *ck = sg->st->kv + (size_t)slot * sg->st->kv_layer_bytes;
        unsigned char *cv = ck + sg->st->kv_layer_bytes / 2;
        kv_store(sg->st, ck, w->k + (size_t)sg->r0 * Hkv * hd, sg->n, sg->pos0);
        kv_store(sg->st, cv, w->v + (size_t)sg->r0 * Hkv * hd, sg->n, sg->pos0);
    }
    attn_job j = {.kern = kern, .w = w, .Hq = Hq, .Hkv = Hkv, .hd = hd, .scale = (float)sqrt((double)hd),
                  .slot = slot};
    llv_threadpool_parallel_for(pool, (int64_t)n * Hkv, 1, self_attn_task, &j);
    proj_linear(w, pool, L->wo, LORA_OF(w, l, wo), w->att, n, w->proj);
    for (int32_t r = 0; r < n; r++) {
        float *h = w->h + (size_t)r * D;
        const float *a = w->proj + (size_t)r * D;
        for (int32_t d = 0; d < D; d++) h[d] = h[d] + a[d];
    }
    mlp_block(w, pool, l, n, false, 1.0f);
}

/* Rows of batches without images keep h unchanged: their batch alone would
 * skip the layer. */
static void cross_layer(llv_text_work *w, llv_threadpool *pool, int32_t l, int32_t c, int32_t n) {
    const llv_model *m = w->m;
    const llv_hparams *hp = &m->hp;
    const llv_kernels *kern = m->kern;
    const llv_text_layer *L = &m->text.layers[l];
    const int32_t D = hp->n_embd, hd = hp->head_dim, Hq = hp->n_head;
    for (int32_t r = 0; r < n; r++) kern->rmsnorm(w->h + (size_t)r * D, L->attn_norm, w->xn + (size_t)r * D, D, hp->rms_eps);
    proj_linear(w, pool, L->wq, LORA_OF(w, l, wq), w->xn, n, w->q);
    for (int32_t i = 0; i < n * Hq; i++) kern->rmsnorm(w->q + (size_t)i * hd, L->q_norm, w->q + (size_t)i * hd, hd, hp->rms_eps);
    attn_job j = {.kern = kern, .w = w, .Hq = Hq, .Hkv = hp->n_head_kv, .hd = hd, .scale = (float)sqrt((double)hd),
                  .cross_idx = c};
    llv_threadpool_parallel_for(pool, (int64_t)n * hp->n_head_kv, 1, cross_attn_task, &j);
    proj_linear(w, pool, L->wo, LORA_OF(w, l, wo), w->att, n, w->proj);
    /* HF adds the gated attention output to every row, even rows without an image */
    for (int32_t r = 0; r < n; r++) {
        if (!w->segs[w->row_seg[r]].cross) continue;
        float *h = w->h + (size_t)r * D;
        const float *a = w->proj + (size_t)r * D;
        for (int32_t d = 0; d < D; d++) h[d] = h[d] + L->attn_gate * a[d];
    }
    mlp_block(w, pool, l, n, true, L->mlp_gate); /* row_mask is 0 for rows of batches without images */
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
        }
        uint64_t allowed = b->n_images == 64 ? ~(uint64_t)0 : (((uint64_t)1 << b->n_images) - 1);
        for (int32_t r = 0; r < b->n; r++)
            if (b->row_images[r] & ~allowed)
                return llv_err(err, LLV_ERR_INVALID_ARGUMENT,
                               "text forward: row %d names an image >= n_images %d (mask 0x%llx)", r, b->n_images,
                               (unsigned long long)b->row_images[r]);
    }
    return LLV_OK;
}

llv_status llv_text_check(const llv_model *m, const llv_text_state *st, const llv_text_batch *b, llv_error *err) {
    if (!m || !st || st->m != m) return llv_err(err, LLV_ERR_INVALID_ARGUMENT, "text forward: state of another model");
    if (b && b->lora && b->lora->model != m)
        return llv_err(err, LLV_ERR_INVALID_ARGUMENT, "text forward: LoRA adapter '%s' belongs to another model",
                       b->lora->name ? b->lora->name : b->lora->path);
    return check_batch(m, st, b, err);
}

/* Runs the segments w->segs[0..nseg) (n rows in all, <= w->n_rows) through
 * the decoder: every linear once over all rows, attention per row with its
 * own state. Scratch must have been ensured. */
static void run_pass(llv_text_work *w, llv_threadpool *pool, int32_t nseg, int32_t n) {
    const llv_model *m = w->m;
    const llv_hparams *hp = &m->hp;
    const llv_kernels *kern = m->kern;
    const int32_t D = hp->n_embd, hd = hp->head_dim, V = hp->n_vocab, NL = hp->n_layer;
    bool any_cross = false;
    for (int32_t i = 0; i < nseg; i++) {
        const text_seg *sg = &w->segs[i];
        any_cross |= sg->cross;
        for (int32_t r = 0; r < sg->n; r++) {
            int32_t R = sg->r0 + r;
            llv_op_get_row(kern, m->text.tok_embd, sg->b->tokens[sg->b0 + r], w->h + (size_t)R * D);
            llv_rope_cos_sin(m->text.inv_freq, hd / 2, (int64_t)sg->pos0 + r, w->rope_cos + (size_t)R * (hd / 2),
                             w->rope_sin + (size_t)R * (hd / 2));
            w->row_seg[R] = i;
            w->row_pos[R] = sg->pos0 + r;
            w->row_mask[R] = sg->cross ? sg->b->row_images[sg->b0 + r] : 0;
        }
    }
    /* hidden states: only a pass of one segment (checked by the callers) */
    const llv_text_batch *hb = nseg == 1 && w->segs[0].b->hidden ? w->segs[0].b : NULL;
    const int32_t hb0 = w->segs[0].b0, hN = w->segs[0].b->n;
    if (hb)
        for (int32_t r = 0; r < n; r++)
            memcpy(hb->hidden + ((size_t)hb0 + r) * D, w->h + (size_t)r * D, (size_t)D * sizeof(float));
    int32_t c = 0;
    for (int32_t l = 0; l < NL; l++) {
        if (hp->is_cross[l]) {
            if (any_cross) cross_layer(w, pool, l, c, n);
            c++;
        } else {
            self_layer(w, pool, l, n, nseg);
        }
        if (hb && l + 1 < NL)
            for (int32_t r = 0; r < n; r++)
                memcpy(hb->hidden + ((size_t)(l + 1) * hN + hb0 + r) * D, w->h + (size_t)r * D,
                       (size_t)D * sizeof(float));
    }
    /* final norm and logits, per segment */
    int32_t k = 0;
    text_seg *one = NULL;
    for (int32_t i = 0; i < nseg; i++) {
        text_seg *sg = &w->segs[i];
        const llv_text_batch *b = sg->b;
        sg->st->n_past += sg->n;
        const bool last_chunk = sg->b0 + sg->n == b->n;
        int32_t nr0 = sg->r0, nr = 0; /* rows to normalize */
        if (b->hidden || (b->logits && b->logits_all)) nr = sg->n;
        else if (b->logits && last_chunk) nr0 = sg->r0 + sg->n - 1, nr = 1;
        for (int32_t r = nr0; r < nr0 + nr; r++)
            kern->rmsnorm(w->h + (size_t)r * D, m->text.output_norm, w->xn + (size_t)r * D, D, hp->rms_eps);
        if (b->hidden)
            for (int32_t r = 0; r < sg->n; r++)
                memcpy(b->hidden + ((size_t)NL * b->n + sg->b0 + r) * D, w->xn + (size_t)(sg->r0 + r) * D,
                       (size_t)D * sizeof(float));
        if (!b->logits) continue;
        if (b->logits_all)
            llv_op_linear(kern, pool, m->text.output, NULL, w->xn + (size_t)sg->r0 * D, sg->n,
                          b->logits + (size_t)sg->b0 * V);
        else if (last_chunk) k++, one = sg;
    }
    if (k == 1) {
        llv_op_linear(kern, pool, m->text.output, NULL, w->xn + (size_t)(one->r0 + one->n - 1) * D, 1, one->b->logits);
    } else if (k > 1) { /* one pass over lm_head for the last rows of all segments */
        int32_t j = 0;
        for (int32_t i = 0; i < nseg; i++) {
            const text_seg *sg = &w->segs[i];
            if (sg->b->logits && !sg->b->logits_all && sg->b0 + sg->n == sg->b->n)
                memcpy(w->proj + (size_t)j++ * D, w->xn + (size_t)(sg->r0 + sg->n - 1) * D, (size_t)D * sizeof(float));
        }
        llv_op_linear(kern, pool, m->text.output, NULL, w->proj, k, w->logits);
        j = 0;
        for (int32_t i = 0; i < nseg; i++) {
            const text_seg *sg = &w->segs[i];
            if (sg->b->logits && !sg->b->logits_all && sg->b0 + sg->n == sg->b->n)
                memcpy(sg->b->logits, w->logits + (size_t)j++ * V, (size_t)V * sizeof(float));
        }
    }
}

/* Grows the scratch of w for the batches (already checked). */
static llv_status prepare_work(llv_text_work *w, llv_threadpool *pool, llv_text_state *const *states,
                               const llv_text_batch *batches, int32_t n, llv_error *err) {
    const llv_hparams *hp = &w->m->hp;
    /* attention scratch: the scores of one KV head's query heads over the longest key range or the image tokens,
     * + ATTN_VBLK converted value rows */
    const size_t group = (size_t)(hp->n_head / hp->n_head_kv);
    size_t need = 0;
    int32_t k = 0;
    for (int32_t i = 0; i < n; i++) {
        const llv_text_batch *b = &batches[i];
        size_t tot = 0;
        for (int32_t j = 0; j < b->n_images; j++) tot += (size_t)b->images[j]->n_tok;
        need = LLV_MAX(need, group * ((size_t)states[i]->n_past + (size_t)b->n));
        need = LLV_MAX(need, group * tot);
        need = LLV_MAX(need, group * (size_t)states[i]->n_ctx);
        if (b->logits && !b->logits_all) k++;
    }
    need += (size_t)ATTN_VBLK * (size_t)hp->head_dim;
    llv_status s = ensure_thread_scratch(w, llv_threadpool_n_threads(pool), need, err);
    if (s == LLV_OK && batches[0].lora) s = ensure_lora_scratch(w, batches[0].lora, err);
    if (s == LLV_OK && k > 1) s = ensure_logits_scratch(w, k, err);
    if (s != LLV_OK) return s;
    w->lora = batches[0].lora;
    return LLV_OK;
}

/* One batch, split into chunks of w->n_rows. */
static llv_status forward_one(llv_text_work *w, llv_threadpool *pool, llv_text_state *st, const llv_text_batch *b,
                              llv_error *err) {
    llv_status s = prepare_work(w, pool, &st, b, 1, err);
    if (s != LLV_OK) return s;
    for (int32_t r0 = 0; r0 < b->n; r0 += w->n_rows) {
        const int32_t n = LLV_MIN(w->n_rows, b->n - r0);
        w->segs[0] = (text_seg){.st = st, .b = b, .r0 = 0, .n = n, .b0 = r0, .pos0 = st->n_past, .cross = b->n_images > 0};
        run_pass(w, pool, 1, n);
    }
    return LLV_OK;
}

llv_status llv_text_forward(const llv_model *m, llv_text_state *st, llv_threadpool *pool, const llv_text_batch *b,
                            llv_error *err) {
    llv_status s = llv_text_check(m, st, b, err);
    if (s != LLV_OK) return s;
    if (!st->w)
        return llv_err(err, LLV_ERR_STATE, "text forward: the state has no scratch of its own (n_batch 0): use "
                       "llv_text_forward_multi with a llv_text_work");
    return forward_one(st->w, pool, st, b, err);
}

llv_status llv_text_forward_multi(const llv_model *m, llv_threadpool *pool, llv_text_state *const *states,
                                  const llv_text_batch *batches, int32_t n, llv_text_work *w, llv_error *err) {
    if (!m || !w || w->m != m || !states || !batches || n <= 0)
        return llv_err(err, LLV_ERR_INVALID_ARGUMENT, "text forward: bad multi-batch arguments (n = %d)", n);
    int64_t total = 0;
    for (int32_t i = 0; i < n; i++) {
        llv_status s = llv_text_check(m, states[i], &batches[i], err);
        if (s != LLV_OK) {
            llv_err_prefix(err, "batch %d of %d", i, n);
            return s;
        }
        if (batches[i].lora != batches[0].lora)
            return llv_err(err, LLV_ERR_INVALID_ARGUMENT,
                           "text forward: batch %d uses another LoRA adapter than batch 0 (one adapter per pass)", i);
        if (n > 1 && batches[i].hidden)
            return llv_err(err, LLV_ERR_UNSUPPORTED, "text forward: hidden states of batch %d: only for a single batch",
                           i);
        for (int32_t j = 0; j < i; j++)
            if (states[j] == states[i])
                return llv_err(err, LLV_ERR_INVALID_ARGUMENT, "text forward: batches %d and %d share a state", j, i);
        total += batches[i].n;
    }
    if (n == 1) return forward_one(w, pool, states[0], &batches[0], err);
    if (total > w->n_rows)
        return llv_err(err, LLV_ERR_LIMIT, "text forward: %lld rows of %d batches exceed the %d rows of one pass",
                       (long long)total, n, w->n_rows);
    llv_status s = prepare_work(w, pool, states, batches, n, err);
    if (s != LLV_OK) return s;
    int32_t r0 = 0;
    for (int32_t i = 0; i < n; i++) {
        const llv_text_batch *b = &batches[i];
        w->segs[i] = (text_seg){.st = states[i], .b = b, .r0 = r0, .n = b->n, .b0 = 0, .pos0 = states[i]->n_past,
                                .cross = b->n_images > 0};
        r0 += b->n;
    }
    run_pass(w, pool, n, (int32_t)total);
    return LLV_OK;
}
