/* vision.c - the Mllama vision encoder and multi-modal projector, exactly as
 * HF's MllamaVisionModel + multi_modal_projector (shared/notes/mllama-reference.md
 * sections 5 and 6.1). All matrix work goes through llv_op_linear, so the
 * kernel layer decides speed; this file only lays out data. Every buffer is
 * allocated once in llv_vision_state_create. */
#include "vision.h"

#include "ops.h"

#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* layernorm_pre / layernorm_post are nn.LayerNorm(D) with the default eps. */
#define VISION_LN_PREPOST_EPS 1e-5f
/* Query rows per attention block and rows per MLP block: bounds the score
 * matrix and the fc1 activations independently of the image size. */
#define VISION_ATTN_BLOCK 256
#define VISION_MLP_BLOCK  256

struct llv_vision_state {
    /* shapes, copied from the hparams at create and checked at encode */
    int64_t D, H, hd, F, L, G, S, p, T, C, g, g2, P, Ppad, N, K, OD, E, R, CPP;
    int64_t bq, bm;
    float  *h;       /* [N, D] residual stream                                */
    float  *x;       /* [N, D] normalised input / projection output           */
    float  *tmp;     /* [N, D] q/k/v projection, concatenated heads, MLP out  */
    float  *heads;   /* [3, N, D]: q and k head-major [H,N,hd], v as [H,hd,N];
                        im2col [T*g2, C*p*p] before the first layer            */
    float  *scores;  /* [bq, N]                                               */
    float  *oh;      /* [bq, hd]                                              */
    float  *ff;      /* [bm, F]                                               */
    float  *out;     /* [T*P, OD] vision output (global + interleaved states) */
    float  *vecD;    /* [D] one embedding row                                 */
    unsigned char *pad; /* [N] 1 for padding tokens (rows >= P, padding tiles) */
    size_t  bytes;
    void  (*yield)(const char *what, void *user); /* between pieces of work (llv_vision_set_yield) */
    void   *yield_user;
};

void llv_vision_set_yield(llv_vision_state *vs, void (*fn)(const char *what, void *user), void *user) {
    vs->yield = fn;
    vs->yield_user = user;
}

static void yield_point(const llv_vision_state *vs, const char *what) {
    if (vs->yield) vs->yield(what, vs->yield_user);
}

/* ------------------------------------------------------------------------- */
/* validation                                                                */
/* ------------------------------------------------------------------------- */

static llv_status check_tensor2(const llv_tensor *t, const char *what, int64_t ne0, int64_t ne1, llv_error *err) {
    if (!t) return llv_err(err, LLV_ERR_FORMAT, "vision: tensor %s is missing", what);
    if (t->ne[0] != ne0 || t->ne[1] != ne1 || t->ne[2] != 1 || t->ne[3] != 1)
        return llv_err(err, LLV_ERR_FORMAT,
                       "vision: tensor %s has ne {%lld, %lld, %lld, %lld}, expected {%lld, %lld}", what,
                       (long long)t->ne[0], (long long)t->ne[1], (long long)t->ne[2], (long long)t->ne[3],
                       (long long)ne0, (long long)ne1);
    size_t rb;
    if (!llv_type_row_bytes(t->type, ne0, &rb))
        return llv_err(err, LLV_ERR_UNSUPPORTED, "vision: tensor %s: type %d cannot hold rows of %lld elements",
                       what, (int)t->type, (long long)ne0);
    size_t need;
    if (!llv_mul_size(rb, (size_t)ne1, &need) || t->nbytes < need || !t->data)
        return llv_err(err, LLV_ERR_FORMAT, "vision: tensor %s has %zu bytes of data, expected %zu", what,
                       t->nbytes, need);
    return LLV_OK;
}

static llv_status check_vec(const float *v, const char *what, llv_error *err) {
    if (!v) return llv_err(err, LLV_ERR_FORMAT, "vision: vector %s is missing", what);
    return LLV_OK;
}

static llv_status check_layer(const llv_vision_layer *l, const char *kind, int i, int64_t D, int64_t F,
                              llv_error *err) {
    llv_status st;
#define CHK(expr)                                                                                     \
    do {                                                                                              \
        if ((st = (expr)) != LLV_OK) {                                                                \
            llv_err_prefix(err, "%s layer %d", kind, i);                                              \
            return st;                                                                                \
        }                                                                                             \
    } while (0)
    CHK(check_vec(l->attn_norm_w, "input_layernorm.weight", err));
    CHK(check_vec(l->attn_norm_b, "input_layernorm.bias", err));
    CHK(check_vec(l->ffn_norm_w, "post_attention_layernorm.weight", err));
    CHK(check_vec(l->ffn_norm_b, "post_attention_layernorm.bias", err));
    CHK(check_tensor2(l->wq, "q_proj", D, D, err));
    CHK(check_tensor2(l->wk, "k_proj", D, D, err));
    CHK(check_tensor2(l->wv, "v_proj", D, D, err));
    CHK(check_tensor2(l->wo, "o_proj", D, D, err));
    CHK(check_tensor2(l->fc1, "mlp.fc1", D, F, err));
    CHK(check_vec(l->fc1_b, "mlp.fc1.bias", err));
    CHK(check_tensor2(l->fc2, "mlp.fc2", F, D, err));
    CHK(check_vec(l->fc2_b, "mlp.fc2.bias", err));
#undef CHK
    return LLV_OK;
}

static llv_status check_weights(const llv_model *m, const llv_vision_state *vs, llv_error *err) {
    const llv_vision_weights *w = &m->vision;
    llv_status st;
    const llv_tensor *pe = w->patch_embd;
    if (!pe) return llv_err(err, LLV_ERR_FORMAT, "vision: tensor patch_embd is missing");
    /* Conv2d weight [D, C, p, p]: ggml ne {p, p, C, D}, or already flat {C*p*p, D}. */
    bool four = pe->ne[0] == vs->p && pe->ne[1] == vs->p && pe->ne[2] == vs->C && pe->ne[3] == vs->D;
    bool flat = pe->ne[0] == vs->CPP && pe->ne[1] == vs->D && pe->ne[2] == 1 && pe->ne[3] == 1;
    if (!four && !flat)
        return llv_err(err, LLV_ERR_FORMAT,
                       "vision: patch_embd has ne {%lld, %lld, %lld, %lld}, expected {%lld, %lld, %lld, %lld}",
                       (long long)pe->ne[0], (long long)pe->ne[1], (long long)pe->ne[2], (long long)pe->ne[3],
                       (long long)vs->p, (long long)vs->p, (long long)vs->C, (long long)vs->D);
    llv_tensor flatv = *pe;
    flatv.n_dims = 2;
    flatv.ne[0] = vs->CPP;
    flatv.ne[1] = vs->D;
    flatv.ne[2] = flatv.ne[3] = 1;
    if ((st = check_tensor2(&flatv, "patch_embd", vs->CPP, vs->D, err)) != LLV_OK) return st;
    if ((st = check_vec(w->class_embd, "class_embd", err)) != LLV_OK) return st;
    if ((st = check_tensor2(w->pos_embd, "pos_embd", vs->D, vs->P, err)) != LLV_OK) return st;
    if (!w->tile_pos_embd || !w->pre_tile_embd || !w->post_tile_embd)
        return llv_err(err, LLV_ERR_FORMAT, "vision: a tile embedding table is missing");
    int64_t R = w->tile_pos_embd->ne[1];
    if (R < 2) return llv_err(err, LLV_ERR_FORMAT, "vision: tile_pos_embd has %lld rows, expected >= 2", (long long)R);
    if ((st = check_tensor2(w->tile_pos_embd, "tile_pos_embd", vs->T * vs->P * vs->D, R, err)) != LLV_OK) return st;
    if ((st = check_tensor2(w->pre_tile_embd, "pre_tile_embd", vs->T * vs->D, R, err)) != LLV_OK) return st;
    if ((st = check_tensor2(w->post_tile_embd, "post_tile_embd", vs->T * vs->D, R, err)) != LLV_OK) return st;
    /* embedding rows are read in pieces of D elements (sub-views) */
    size_t rb;
    const llv_tensor *row_tabs[4] = {w->pos_embd, w->tile_pos_embd, w->pre_tile_embd, w->post_tile_embd};
    for (int i = 0; i < 4; i++)
        if (!llv_type_row_bytes(row_tabs[i]->type, vs->D, &rb))
            return llv_err(err, LLV_ERR_UNSUPPORTED,
                           "vision: embedding table '%s' of type %d cannot be split in rows of %lld",
                           row_tabs[i]->name ? row_tabs[i]->name : "?", (int)row_tabs[i]->type, (long long)vs->D);
    if ((st = check_vec(w->pre_ln_w, "layernorm_pre.weight", err)) != LLV_OK) return st;
    if ((st = check_vec(w->pre_ln_b, "layernorm_pre.bias", err)) != LLV_OK) return st;
    if ((st = check_vec(w->post_ln_w, "layernorm_post.weight", err)) != LLV_OK) return st;
    if ((st = check_vec(w->post_ln_b, "layernorm_post.bias", err)) != LLV_OK) return st;
    for (int i = 0; i < (int)vs->L; i++)
        if ((st = check_layer(&w->layers[i], "local", i, vs->D, vs->F, err)) != LLV_OK) return st;
    for (int i = 0; i < (int)vs->G; i++)
        if ((st = check_layer(&w->global[i], "global", i, vs->D, vs->F, err)) != LLV_OK) return st;
    if ((st = check_tensor2(w->proj, "mm.0.weight", vs->OD, vs->E, err)) != LLV_OK) return st;
    if ((st = check_vec(w->proj_b, "mm.0.bias", err)) != LLV_OK) return st;
    /* the kernel table must multiply every matrix and read every table row */
    const llv_kernels *k = m->kern ? m->kern : llv_kernels_ref();
    for (int i = 0; i < 4; i++)
        if ((unsigned)row_tabs[i]->type >= LLV_KTYPE_COUNT || !k->to_f32[row_tabs[i]->type])
            return llv_err(err, LLV_ERR_UNSUPPORTED, "vision: kernels '%s' cannot read type %d (table '%s')",
                           k->name, (int)row_tabs[i]->type, row_tabs[i]->name ? row_tabs[i]->name : "?");
    const int64_t nmat = 1 + 6 * (vs->L + vs->G) + 1;
    for (int64_t i = 0; i < nmat; i++) {
        const llv_tensor *t;
        if (i == 0) t = pe;
        else if (i == nmat - 1) t = w->proj;
        else {
            int64_t li = (i - 1) / 6, which = (i - 1) % 6;
            const llv_vision_layer *l = li < vs->L ? &w->layers[li] : &w->global[li - vs->L];
            const llv_tensor *ts[6] = {l->wq, l->wk, l->wv, l->wo, l->fc1, l->fc2};
            t = ts[which];
        }
        if ((unsigned)t->type >= LLV_KTYPE_COUNT || !k->matmul[t->type])
            return llv_err(err, LLV_ERR_UNSUPPORTED, "vision: kernels '%s' have no matmul for type %d (tensor '%s')",
                           k->name, (int)t->type, t->name ? t->name : "?");
    }
    if (!k->matmul[LLV_TYPE_F32])
        return llv_err(err, LLV_ERR_UNSUPPORTED, "vision: kernels '%s' have no F32 matmul", k->name);
    return LLV_OK;
}

static llv_status check_hparams(const llv_hparams *hp, llv_error *err) {
    if (!hp->has_vision) return llv_err(err, LLV_ERR_STATE, "vision: the model has no vision encoder");
    if (hp->v_n_embd <= 0 || hp->v_n_head <= 0 || hp->v_head_dim <= 0 ||
        (int64_t)hp->v_n_head * hp->v_head_dim != hp->v_n_embd)
        return llv_err(err, LLV_ERR_FORMAT, "vision: n_embd %d != n_head %d * head_dim %d", hp->v_n_embd,
                       hp->v_n_head, hp->v_head_dim);
    if (hp->v_n_ff <= 0) return llv_err(err, LLV_ERR_FORMAT, "vision: n_ff %d must be > 0", hp->v_n_ff);
    if (hp->v_n_layer < 1 || hp->v_n_layer > LLV_MAX_LAYERS || hp->v_n_global < 0 || hp->v_n_global > LLV_MAX_LAYERS)
        return llv_err(err, LLV_ERR_FORMAT, "vision: layer counts %d local / %d global out of range [1, %d]",
                       hp->v_n_layer, hp->v_n_global, LLV_MAX_LAYERS);
    if (hp->v_patch_size <= 0 || hp->v_image_size <= 0 || hp->v_image_size % hp->v_patch_size != 0 ||
        hp->v_grid != hp->v_image_size / hp->v_patch_size)
        return llv_err(err, LLV_ERR_FORMAT, "vision: image_size %d, patch_size %d and grid %d disagree",
                       hp->v_image_size, hp->v_patch_size, hp->v_grid);
    if (hp->v_grid > 4096)
        return llv_err(err, LLV_ERR_LIMIT, "vision: grid %d too large (max 4096)", hp->v_grid);
    int64_t P = (int64_t)hp->v_grid * hp->v_grid + 1;
    if (hp->v_P != P || hp->v_Ppad != (P + 7) / 8 * 8)
        return llv_err(err, LLV_ERR_FORMAT, "vision: P %d / Ppad %d, expected %lld / %lld", hp->v_P, hp->v_Ppad,
                       (long long)P, (long long)((P + 7) / 8 * 8));
    if (hp->v_max_tiles < 1 || hp->v_max_tiles > 64 || hp->v_n_channels < 1 || hp->v_n_channels > 16)
        return llv_err(err, LLV_ERR_FORMAT, "vision: max_tiles %d (1..64) or channels %d (1..16) out of range",
                       hp->v_max_tiles, hp->v_n_channels);
    llv_status st = llv_hparams_check_vision(hp, err);
    if (st) return st;
    if ((int64_t)hp->v_output_dim != (int64_t)hp->v_n_embd * (hp->v_n_interm + 1))
        return llv_err(err, LLV_ERR_FORMAT, "vision: output_dim %d, expected n_embd %d * (%d + 1)", hp->v_output_dim,
                       hp->v_n_embd, hp->v_n_interm);
    if (hp->n_embd <= 0) return llv_err(err, LLV_ERR_FORMAT, "vision: text n_embd %d must be > 0", hp->n_embd);
    return LLV_OK;
}

/* ------------------------------------------------------------------------- */
/* state                                                                     */
/* ------------------------------------------------------------------------- */

static float *take(char **cur, size_t nfloats) {
    float *p = (float *)*cur;
    *cur += (nfloats * sizeof(float) + 63) & ~(size_t)63;
    return p;
}

llv_status llv_vision_state_create(const llv_model *m, llv_vision_state **out, llv_error *err) {
    if (!m || !out) return llv_err(err, LLV_ERR_INVALID_ARGUMENT, "vision_state_create: NULL argument");
    *out = NULL;
    const llv_hparams *hp = &m->hp;
    llv_status st = check_hparams(hp, err);
    if (st != LLV_OK) return st;

    llv_vision_state tmpl;
    memset(&tmpl, 0, sizeof tmpl);
    llv_vision_state *v = &tmpl;
    v->D = hp->v_n_embd;
    v->H = hp->v_n_head;
    v->hd = hp->v_head_dim;
    v->F = hp->v_n_ff;
    v->L = hp->v_n_layer;
    v->G = hp->v_n_global;
    v->S = hp->v_image_size;
    v->p = hp->v_patch_size;
    v->T = hp->v_max_tiles;
    v->C = hp->v_n_channels;
    v->g = hp->v_grid;
    v->g2 = v->g * v->g;
    v->P = hp->v_P;
    v->Ppad = hp->v_Ppad;
    v->N = v->T * v->Ppad;
    v->K = hp->v_n_interm;
    v->OD = hp->v_output_dim;
    v->E = hp->n_embd;
    v->CPP = v->C * v->p * v->p;
    v->bq = LLV_MIN(v->N, VISION_ATTN_BLOCK);
    v->bm = LLV_MIN(v->N, VISION_MLP_BLOCK);
    if (!m->has_weights) return llv_err(err, LLV_ERR_STATE, "vision: the model was loaded without weights");
    if ((st = check_weights(m, v, err)) != LLV_OK) return st;
    v->R = m->vision.pre_tile_embd->ne[1];

    /* sizes in floats, each checked for overflow */
    size_t ND, heads, im2col, scores, oh, ff, outsz, TP;
    bool ok = llv_mul_size((size_t)v->N, (size_t)v->D, &ND) && llv_mul_size(ND, 3, &heads) &&
              llv_mul_size((size_t)(v->T * v->g2), (size_t)v->CPP, &im2col) &&
              llv_mul_size((size_t)v->bq, (size_t)v->N, &scores) &&
              llv_mul_size((size_t)v->bq, (size_t)v->hd, &oh) && llv_mul_size((size_t)v->bm, (size_t)v->F, &ff) &&
              llv_mul_size((size_t)v->T, (size_t)v->P, &TP) && llv_mul_size(TP, (size_t)v->OD, &outsz);
    if (!ok) return llv_err(err, LLV_ERR_LIMIT, "vision: scratch size overflows");
    if (im2col > heads) heads = im2col;
    size_t sizes[] = {ND, ND, ND, heads, scores, oh, ff, outsz, (size_t)v->D, ((size_t)v->N + 3) / 4};
    size_t total = 0;
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        size_t b;
        if (!llv_mul_size(sizes[i], sizeof(float), &b) || !llv_add_size(b, 63, &b) ||
            !llv_add_size(total, b & ~(size_t)63, &total))
            return llv_err(err, LLV_ERR_LIMIT, "vision: scratch size overflows");
    }
    llv_vision_state *vs = calloc(1, sizeof *vs);
    char *mem = vs ? llv_alloc_aligned(total) : NULL;
    if (!mem) {
        free(vs);
        return llv_err(err, LLV_ERR_OUT_OF_MEMORY, "vision: cannot allocate %zu bytes of scratch", total);
    }
    *vs = tmpl;
    char *cur = mem;
    vs->h = take(&cur, ND);
    vs->x = take(&cur, ND);
    vs->tmp = take(&cur, ND);
    vs->heads = take(&cur, heads);
    vs->scores = take(&cur, scores);
    vs->oh = take(&cur, oh);
    vs->ff = take(&cur, ff);
    vs->out = take(&cur, outsz);
    vs->vecD = take(&cur, (size_t)v->D);
    vs->pad = (unsigned char *)take(&cur, ((size_t)v->N + 3) / 4);
    vs->bytes = total + sizeof *vs;
    *out = vs;
    return LLV_OK;
}

void llv_vision_state_free(llv_vision_state *vs) {
    if (!vs) return;
    llv_free_aligned(vs->h); /* the arena starts at h */
    free(vs);
}

size_t llv_vision_state_bytes(const llv_vision_state *vs) { return vs ? vs->bytes : 0; }

/* ------------------------------------------------------------------------- */
/* helpers                                                                   */
/* ------------------------------------------------------------------------- */

/* Row `row` of a table with ne {ne0, rows}, seen as a table of D-element rows. */
static llv_tensor row_view(const llv_tensor *t, int64_t row, int64_t D) {
    size_t rb = 0;
    llv_type_row_bytes(t->type, t->ne[0], &rb); /* checked at create */
    llv_tensor v = *t;
    v.n_dims = 2;
    v.ne[0] = D;
    v.ne[1] = t->ne[0] / D;
    v.ne[2] = v.ne[3] = 1;
    v.data = (const char *)t->data + rb * (size_t)row;
    v.nbytes = rb;
    return v;
}

static llv_tensor f32_matrix(const float *data, int64_t ne0, int64_t ne1) {
    llv_tensor t;
    memset(&t, 0, sizeof t);
    t.name = "vision.scratch";
    t.type = LLV_TYPE_F32;
    t.n_dims = 2;
    t.ne[0] = ne0;
    t.ne[1] = ne1;
    t.ne[2] = t.ne[3] = 1;
    t.data = data;
    t.nbytes = (size_t)ne0 * (size_t)ne1 * sizeof(float);
    return t;
}

typedef struct ln_ctx {
    const llv_kernels *k;
    const float *x, *w, *b;
    float *y;
    int64_t n;
    float eps;
} ln_ctx;

static void ln_task(void *ctx, int64_t i0, int64_t i1, int thread) {
    (void)thread;
    const ln_ctx *c = ctx;
    for (int64_t i = i0; i < i1; i++) c->k->layernorm(c->x + i * c->n, c->w, c->b, c->y + i * c->n, c->n, c->eps);
}

static void layernorm_rows(const llv_kernels *k, llv_threadpool *pool, const float *x, const float *w,
                           const float *b, float *y, int64_t rows, int64_t n, float eps) {
    ln_ctx c = {k, x, w, b, y, n, eps};
    llv_threadpool_parallel_for(pool, rows, 1, ln_task, &c);
}

typedef struct gelu_ctx {
    const llv_kernels *k;
    float *x;
    int64_t n;
} gelu_ctx;

static void gelu_task(void *ctx, int64_t i0, int64_t i1, int thread) {
    (void)thread;
    const gelu_ctx *c = ctx;
    c->k->gelu(c->x + i0 * c->n, (i1 - i0) * c->n);
}

/* scores (already q.k) -> softmax(s / sqrt(hd) + M) rows, M from the padding vector */
typedef struct softmax_ctx {
    const llv_kernels *k;
    float *s;
    int64_t N, q0;
    const unsigned char *pad;
    float scale;
} softmax_ctx;

static void softmax_task(void *ctx, int64_t i0, int64_t i1, int thread) {
    (void)thread;
    const softmax_ctx *c = ctx;
    const float minf = -FLT_MAX; /* torch.finfo(float32).min, as HF adds it */
    /* locals and branch-free bodies, so the compiler vectorises the divisions (with c->scale read through the
     * struct on every element, the loop was one scalar divss per score: 10 % of an image's encode) */
    const float scale = c->scale;
    const unsigned char *pad = c->pad;
    const int64_t N = c->N;
    for (int64_t i = i0; i < i1; i++) {
        float *restrict s = c->s + i * N;
        if (pad[c->q0 + i]) {
            for (int64_t j = 0; j < N; j++) {
                const float v = s[j] / scale;
                s[j] = pad[j] ? v + minf : v;
            }
        } else {
            for (int64_t j = 0; j < N; j++) s[j] = s[j] / scale;
        }
        c->k->softmax(s, N);
    }
}

/* ------------------------------------------------------------------------- */
/* encoder layer                                                             */
/* ------------------------------------------------------------------------- */

/* y = W x over N rows in blocks of bm, a yield point after each: a projection
 * of all 6432 rows at the 11B shapes is 21 GFLOP, a third of a second on 2
 * AVX2 cores, which a decoding session would wait for whole. */
static void linear_blocks(const llv_kernels *k, llv_threadpool *pool, const llv_vision_state *vs,
                          const llv_tensor *w, const float *b, const float *x, int64_t ldx, int64_t N, float *y,
                          int64_t ldy, int64_t bm, const char *what) {
    for (int64_t r0 = 0; r0 < N; r0 += bm) {
        llv_op_linear(k, pool, w, b, x + r0 * ldx, LLV_MIN(bm, N - r0), y + r0 * ldy);
        yield_point(vs, what);
    }
}

static void attention(const llv_kernels *k, llv_threadpool *pool, llv_vision_state *vs, const llv_vision_layer *l) {
    const int64_t N = vs->N, D = vs->D, H = vs->H, hd = vs->hd;
    float *qh = vs->heads, *kh = vs->heads + N * D, *vt = vs->heads + 2 * N * D;
    const llv_tensor *w[3] = {l->wq, l->wk, l->wv};
    for (int which = 0; which < 3; which++) {
        linear_blocks(k, pool, vs, w[which], NULL, vs->x, D, N, vs->tmp, D, vs->bm, "vision q/k/v projection");
        if (which < 2) {
            float *dst = which == 0 ? qh : kh; /* [H, N, hd] */
            for (int64_t n = 0; n < N; n++)
                for (int64_t hh = 0; hh < H; hh++)
                    memcpy(dst + (hh * N + n) * hd, vs->tmp + n * D + hh * hd, (size_t)hd * sizeof(float));
        } else {
            for (int64_t n = 0; n < N; n++) /* [H, hd, N] */
                for (int64_t c = 0; c < D; c++) vt[c * N + n] = vs->tmp[n * D + c];
        }
    }
    /* tmp now receives the concatenated head outputs [N, H*hd] */
    const float scale = (float)sqrt((double)hd);
    for (int64_t hh = 0; hh < H; hh++) {
        llv_tensor Wk = f32_matrix(kh + hh * N * hd, hd, N);
        llv_tensor Wv = f32_matrix(vt + hh * hd * N, N, hd);
        for (int64_t q0 = 0; q0 < N; q0 += vs->bq) {
            int64_t nb = LLV_MIN(vs->bq, N - q0);
            llv_op_linear(k, pool, &Wk, NULL, qh + (hh * N + q0) * hd, nb, vs->scores);
            softmax_ctx sc = {k, vs->scores, N, q0, vs->pad, scale};
            llv_threadpool_parallel_for(pool, nb, 1, softmax_task, &sc);
            llv_op_linear(k, pool, &Wv, NULL, vs->scores, nb, vs->oh);
            for (int64_t i = 0; i < nb; i++)
                memcpy(vs->tmp + (q0 + i) * D + hh * hd, vs->oh + i * hd, (size_t)hd * sizeof(float));
            yield_point(vs, "vision attention block"); /* a head over 6432 rows: 13 GFLOP at the 11B shapes */
        }
    }
    linear_blocks(k, pool, vs, l->wo, NULL, vs->tmp, D, N, vs->x, D, vs->bm, "vision output projection");
}

static void residual_add(float *h, const float *x, float gate, int64_t n) {
    for (int64_t i = 0; i < n; i++) h[i] = h[i] + gate * x[i];
}

static void encoder_layer(const llv_kernels *k, llv_threadpool *pool, llv_vision_state *vs, const llv_vision_layer *l,
                          float eps, bool gated) {
    const int64_t N = vs->N, D = vs->D, F = vs->F;
    layernorm_rows(k, pool, vs->h, l->attn_norm_w, l->attn_norm_b, vs->x, N, D, eps);
    attention(k, pool, vs, l);
    if (gated)
        residual_add(vs->h, vs->x, l->gate_attn, N * D);
    else
        for (int64_t i = 0; i < N * D; i++) vs->h[i] = vs->h[i] + vs->x[i];
    layernorm_rows(k, pool, vs->h, l->ffn_norm_w, l->ffn_norm_b, vs->x, N, D, eps);
    for (int64_t r0 = 0; r0 < N; r0 += vs->bm) {
        int64_t nb = LLV_MIN(vs->bm, N - r0);
        llv_op_linear(k, pool, l->fc1, l->fc1_b, vs->x + r0 * D, nb, vs->ff);
        gelu_ctx gc = {k, vs->ff, F};
        llv_threadpool_parallel_for(pool, nb, 1, gelu_task, &gc);
        llv_op_linear(k, pool, l->fc2, l->fc2_b, vs->ff, nb, vs->tmp + r0 * D);
        yield_point(vs, "vision MLP block");
    }
    if (gated)
        residual_add(vs->h, vs->tmp, l->gate_ffn, N * D);
    else
        for (int64_t i = 0; i < N * D; i++) vs->h[i] = vs->h[i] + vs->tmp[i];
}

/* Copies encoder state `idx` (HF encoder_states[idx]) into the interleaved
 * feature slots of the output: out[r, D + d*K + k] = state[r][d]. */
static void store_intermediate(llv_vision_state *vs, const llv_hparams *hp, int idx) {
    const int64_t D = vs->D, K = vs->K, OD = vs->OD;
    for (int64_t kk = 0; kk < K; kk++) {
        if (hp->v_interm[kk] != idx) continue;
        for (int64_t t = 0; t < vs->T; t++)
            for (int64_t p = 0; p < vs->P; p++) {
                const float *src = vs->h + (t * vs->Ppad + p) * D;
                float *dst = vs->out + (t * vs->P + p) * OD + D + kk;
                for (int64_t d = 0; d < D; d++) dst[d * K] = src[d];
            }
    }
}

/* ------------------------------------------------------------------------- */
/* encode                                                                    */
/* ------------------------------------------------------------------------- */

/* HF get_all_supported_aspect_ratios: (width, height) pairs with w*h <= T, w outer. */
static int64_t aspect_tiles(int64_t T, int64_t id, int64_t *count) {
    int64_t n = 0, tiles = -1;
    for (int64_t w = 1; w <= T; w++)
        for (int64_t h = 1; h <= T; h++)
            if (w * h <= T) {
                n++;
                if (n == id) tiles = w * h;
            }
    *count = n;
    return tiles;
}

static bool report(llv_progress_fn progress, void *user, int64_t done, int64_t total) {
    if (!progress) return true;
    return progress("image", (float)done / (float)total, user);
}

llv_status llv_vision_encode(const llv_model *m, llv_vision_state *vs, llv_threadpool *pool, const float *pixels,
                             int32_t aspect_ratio_id, int32_t n_tiles, float *cross_states,
                             llv_vision_capture *capture, llv_progress_fn progress, void *progress_user,
                             llv_error *err) {
    if (!m || !vs || !pixels || !cross_states)
        return llv_err(err, LLV_ERR_INVALID_ARGUMENT, "vision_encode: NULL model, state, pixels or output");
    const llv_hparams *hp = &m->hp;
    const llv_vision_weights *w = &m->vision;
    if (!hp->has_vision || !m->has_weights || hp->v_n_embd != vs->D || hp->v_P != vs->P ||
        hp->v_max_tiles != vs->T || hp->n_embd != vs->E || hp->v_n_layer != vs->L || hp->v_n_global != vs->G ||
        hp->v_output_dim != vs->OD || !w->pre_tile_embd || w->pre_tile_embd->ne[1] != vs->R)
        return llv_err(err, LLV_ERR_STATE, "vision_encode: the state was created for another model");
    const llv_kernels *k = m->kern ? m->kern : llv_kernels_ref();
    const int64_t D = vs->D, T = vs->T, P = vs->P, Ppad = vs->Ppad, N = vs->N, g = vs->g, g2 = vs->g2,
                  p = vs->p, S = vs->S, C = vs->C, CPP = vs->CPP;

    if (aspect_ratio_id < 1 || aspect_ratio_id >= vs->R)
        return llv_err(err, LLV_ERR_INVALID_ARGUMENT, "vision_encode: aspect_ratio_id %d out of range [1, %lld]",
                       aspect_ratio_id, (long long)(vs->R - 1));
    if (n_tiles < 1 || n_tiles > T)
        return llv_err(err, LLV_ERR_INVALID_ARGUMENT, "vision_encode: n_tiles %d out of range [1, %lld]", n_tiles,
                       (long long)T);
    int64_t n_ratios, want = aspect_tiles(T, aspect_ratio_id, &n_ratios);
    if (n_ratios == vs->R - 1 && want != n_tiles)
        return llv_err(err, LLV_ERR_INVALID_ARGUMENT,
                       "vision_encode: aspect_ratio_id %d means %lld tiles, but n_tiles is %d", aspect_ratio_id,
                       (long long)want, n_tiles);
    const int64_t total_steps = vs->L + vs->G + 1;

    /* 1. patch convolution as im2col [T*g2, C*p*p] x W[D, C*p*p]^T */
    float *col = vs->heads;
    for (int64_t t = 0; t < T; t++)
        for (int64_t py = 0; py < g; py++)
            for (int64_t px = 0; px < g; px++) {
                float *dst = col + ((t * g2) + py * g + px) * CPP;
                for (int64_t c = 0; c < C; c++)
                    for (int64_t ky = 0; ky < p; ky++) {
                        const float *src = pixels + ((t * C + c) * S + py * p + ky) * S + px * p;
                        memcpy(dst + (c * p + ky) * p, src, (size_t)p * sizeof(float));
                    }
            }
    /* the front's loops run on one thread, and the first encode of an engine also
     * maps its buffers (48 000 page faults at the 11B shapes): pieces of their own */
    yield_point(vs, "vision im2col");
    llv_tensor pe = *w->patch_embd;
    pe.n_dims = 2;
    pe.ne[0] = CPP;
    pe.ne[1] = D;
    pe.ne[2] = pe.ne[3] = 1;
    float *patches = vs->tmp; /* [T, g2, D] */
    linear_blocks(k, pool, vs, &pe, NULL, col, CPP, T * g2, patches, D, vs->bm, "vision patch embedding");
    if (capture && capture->patch_embeds) memcpy(capture->patch_embeds, patches, (size_t)(T * g2 * D) * sizeof(float));

    /* 2. pre-tile embedding: h += tanh(gate) * e[aspect_ratio_id][t] */
    llv_tensor pre = row_view(w->pre_tile_embd, aspect_ratio_id, D);
    for (int64_t t = 0; t < T; t++) {
        llv_op_get_row(k, &pre, t, vs->vecD);
        for (int64_t i = 0; i < g2; i++) {
            float *r = patches + (t * g2 + i) * D;
            for (int64_t d = 0; d < D; d++) r[d] = r[d] + w->pre_tile_gate * vs->vecD[d];
        }
    }
    if (capture && capture->after_pre_tile)
        memcpy(capture->after_pre_tile, patches, (size_t)(T * g2 * D) * sizeof(float));
    yield_point(vs, "vision pre-tile embedding");

    /* 3-4. class token, gated position embedding, gated tile position embedding -> x [T, P, D] */
    llv_tensor tpe = row_view(w->tile_pos_embd, aspect_ratio_id, D);
    for (int64_t t = 0; t < T; t++)
        for (int64_t i = 0; i < P; i++) {
            float *r = vs->x + (t * P + i) * D;
            if (i == 0)
                memcpy(r, w->class_embd, (size_t)D * sizeof(float));
            else
                memcpy(r, patches + (t * g2 + i - 1) * D, (size_t)D * sizeof(float));
            llv_op_get_row(k, w->pos_embd, i, vs->vecD);
            for (int64_t d = 0; d < D; d++) r[d] = r[d] + w->pos_gate * vs->vecD[d];
            llv_op_get_row(k, &tpe, t * P + i, vs->vecD);
            for (int64_t d = 0; d < D; d++) r[d] = r[d] + w->tile_pos_gate * vs->vecD[d];
        }
    if (capture && capture->after_position)
        memcpy(capture->after_position, vs->x, (size_t)(T * P * D) * sizeof(float));
    yield_point(vs, "vision position embedding");

    /* 5-6. layernorm_pre, then zero rows up to Ppad per tile: h [T*Ppad, D] */
    memset(vs->h, 0, (size_t)(N * D) * sizeof(float));
    for (int64_t t = 0; t < T; t++)
        layernorm_rows(k, pool, vs->x + t * P * D, w->pre_ln_w, w->pre_ln_b, vs->h + t * Ppad * D, P, D,
                       VISION_LN_PREPOST_EPS);
    if (capture && capture->after_layernorm_pre)
        for (int64_t t = 0; t < T; t++)
            memcpy(capture->after_layernorm_pre + t * P * D, vs->h + t * Ppad * D, (size_t)(P * D) * sizeof(float));
    yield_point(vs, "vision pre-layernorm");

    /* 7. padding vector of the outer-product mask */
    for (int64_t t = 0; t < T; t++)
        for (int64_t i = 0; i < Ppad; i++) vs->pad[t * Ppad + i] = (unsigned char)(t >= n_tiles || i >= P);

    /* 8. local transformer over all tiles as one sequence, recording states */
    for (int64_t li = 0; li <= vs->L; li++) {
        if (li > 0) {
            encoder_layer(k, pool, vs, &w->layers[li - 1], hp->v_eps, false);
            if (!report(progress, progress_user, li, total_steps))
                return llv_err(err, LLV_ERR_CANCELLED, "vision_encode: cancelled after local layer %lld",
                               (long long)(li - 1));
        }
        if (capture && capture->local_hidden_states)
            memcpy(capture->local_hidden_states + li * N * D, vs->h, (size_t)(N * D) * sizeof(float));
        store_intermediate(vs, hp, (int)li);
        yield_point(vs, "vision intermediate states"); /* strided over 200 MB of output at the 11B shapes */
    }

    /* 9. layernorm_post (padding rows included) */
    layernorm_rows(k, pool, vs->h, w->post_ln_w, w->post_ln_b, vs->h, N, D, VISION_LN_PREPOST_EPS);
    if (capture && capture->after_layernorm_post)
        memcpy(capture->after_layernorm_post, vs->h, (size_t)(N * D) * sizeof(float));

    /* 10. post-tile embedding, added to padding rows too */
    llv_tensor post = row_view(w->post_tile_embd, aspect_ratio_id, D);
    for (int64_t t = 0; t < T; t++) {
        llv_op_get_row(k, &post, t, vs->vecD);
        for (int64_t i = 0; i < Ppad; i++) {
            float *r = vs->h + (t * Ppad + i) * D;
            for (int64_t d = 0; d < D; d++) r[d] = r[d] + w->post_tile_gate * vs->vecD[d];
        }
    }
    if (capture && capture->after_post_tile) memcpy(capture->after_post_tile, vs->h, (size_t)(N * D) * sizeof(float));
    yield_point(vs, "vision post-tile embedding");

    /* 11. global transformer (gated) */
    for (int64_t gi = 0; gi < vs->G; gi++) {
        encoder_layer(k, pool, vs, &w->global[gi], hp->v_eps, true);
        if (capture && capture->global_hidden_states)
            memcpy(capture->global_hidden_states + gi * N * D, vs->h, (size_t)(N * D) * sizeof(float));
        if (!report(progress, progress_user, vs->L + gi + 1, total_steps))
            return llv_err(err, LLV_ERR_CANCELLED, "vision_encode: cancelled after global layer %lld",
                           (long long)gi);
    }

    /* 12. output = [global | interleaved intermediate states], padding rows dropped */
    for (int64_t t = 0; t < T; t++)
        for (int64_t i = 0; i < P; i++)
            memcpy(vs->out + (t * P + i) * vs->OD, vs->h + (t * Ppad + i) * D, (size_t)D * sizeof(float));
    if (capture && capture->output) memcpy(capture->output, vs->out, (size_t)(T * P * vs->OD) * sizeof(float));
    yield_point(vs, "vision output");

    /* projector: cross_attention_states [T*P, n_embd], in blocks of half the MLP's
     * (7680 x 4096 at the 11B shapes: 256 rows are 16 GFLOP) */
    linear_blocks(k, pool, vs, w->proj, w->proj_b, vs->out, vs->OD, T * P, cross_states, vs->E,
                  LLV_MAX(1, vs->bm / 2), "projector block");
    if (!report(progress, progress_user, total_steps, total_steps))
        return llv_err(err, LLV_ERR_CANCELLED, "vision_encode: cancelled after the projector");
    return LLV_OK;
}
