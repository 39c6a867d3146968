/* test-vision.c - the vision encoder: argument checks, thread-count
 * independence and cancellation on a small random model, then every vision
 * quantity against HF's golden tensors (models bound from the HF checkpoints
 * by tests/helpers/hf-vision.c). */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "helpers/hf-vision.h"
#include "testing.h"
#include "vision.h"

/* ------------------------------------------------------------------------- */
/* a small random model                                                      */
/* ------------------------------------------------------------------------- */

#define SYN_MAX_TENSORS 64

typedef struct syn_model {
    llv_model  m;
    llv_tensor t[SYN_MAX_TENSORS];
    int        n_t;
    float     *bufs[256];
    int        n_bufs;
    uint64_t   rng;
} syn_model;

static float syn_rand(syn_model *s) { /* uniform in [-1, 1) */
    s->rng = s->rng * 6364136223846793005ull + 1442695040888963407ull;
    return (float)((s->rng >> 40) & 0xffffff) / 8388608.0f - 1.0f;
}

static float *syn_buf(syn_model *s, int64_t n, float scale, float offset) {
    float *p = malloc((size_t)n * sizeof(float));
    for (int64_t i = 0; i < n; i++) p[i] = offset + scale * syn_rand(s);
    s->bufs[s->n_bufs++] = p;
    return p;
}

static const llv_tensor *syn_tensor(syn_model *s, int64_t ne0, int64_t ne1, float scale) {
    llv_tensor *t = &s->t[s->n_t++];
    memset(t, 0, sizeof *t);
    t->name = "syn";
    t->type = LLV_TYPE_F32;
    t->n_dims = 2;
    t->ne[0] = ne0;
    t->ne[1] = ne1;
    t->ne[2] = t->ne[3] = 1;
    t->data = syn_buf(s, ne0 * ne1, scale, 0);
    t->nbytes = (size_t)(ne0 * ne1) * sizeof(float);
    return t;
}

static void syn_layer(syn_model *s, llv_vision_layer *l, int64_t D, int64_t F, bool gated) {
    l->attn_norm_w = syn_buf(s, D, 0.25f, 1.0f);
    l->attn_norm_b = syn_buf(s, D, 0.1f, 0);
    l->ffn_norm_w = syn_buf(s, D, 0.25f, 1.0f);
    l->ffn_norm_b = syn_buf(s, D, 0.1f, 0);
    float sd = 1.7f / sqrtf((float)D);
    l->wq = syn_tensor(s, D, D, sd);
    l->wk = syn_tensor(s, D, D, sd);
    l->wv = syn_tensor(s, D, D, sd);
    l->wo = syn_tensor(s, D, D, sd);
    l->fc1 = syn_tensor(s, D, F, sd);
    l->fc1_b = syn_buf(s, F, 0.1f, 0);
    l->fc2 = syn_tensor(s, F, D, 1.7f / sqrtf((float)F));
    l->fc2_b = syn_buf(s, D, 0.1f, 0);
    l->gate_attn = gated ? tanhf(0.7f) : 1.0f;
    l->gate_ffn = gated ? tanhf(-0.4f) : 1.0f;
}

static syn_model *syn_create(int grid) {
    syn_model *s = calloc(1, sizeof *s);
    s->rng = 12345;
    llv_hparams *hp = &s->m.hp;
    hp->arch = LLV_ARCH_MLLAMA;
    hp->has_vision = true;
    hp->n_embd = 24;
    hp->v_n_embd = 16;
    hp->v_n_head = 2;
    hp->v_head_dim = 8;
    hp->v_n_ff = 32;
    hp->v_n_layer = 3;
    hp->v_n_global = 1;
    hp->v_image_size = 14 * grid;
    hp->v_patch_size = 14;
    hp->v_max_tiles = 4;
    hp->v_n_channels = 3;
    hp->v_eps = 1e-5f;
    hp->v_n_interm = 2;
    hp->v_interm[0] = 1;
    hp->v_interm[1] = 3;
    hp->v_output_dim = 48;
    hp->v_grid = grid;
    hp->v_P = grid * grid + 1;
    hp->v_Ppad = (hp->v_P + 7) / 8 * 8;
    const int64_t D = 16, F = 32, P = hp->v_P, T = 4;
    llv_vision_weights *w = &s->m.vision;
    w->patch_embd = syn_tensor(s, 3 * 14 * 14, D, 1.0f / 24);
    w->class_embd = syn_buf(s, D, 1.0f, 0);
    w->pos_embd = syn_tensor(s, D, P, 0.5f);
    w->pos_gate = 1.0f - tanhf(0.3f);
    w->tile_pos_embd = syn_tensor(s, T * P * D, 9, 0.5f);
    w->tile_pos_gate = tanhf(0.3f);
    w->pre_tile_embd = syn_tensor(s, T * D, 9, 0.5f);
    w->pre_tile_gate = tanhf(-0.6f);
    w->post_tile_embd = syn_tensor(s, T * D, 9, 0.5f);
    w->post_tile_gate = tanhf(0.5f);
    w->pre_ln_w = syn_buf(s, D, 0.25f, 1.0f);
    w->pre_ln_b = syn_buf(s, D, 0.1f, 0);
    w->post_ln_w = syn_buf(s, D, 0.25f, 1.0f);
    w->post_ln_b = syn_buf(s, D, 0.1f, 0);
    for (int i = 0; i < 3; i++) syn_layer(s, &w->layers[i], D, F, false);
    syn_layer(s, &w->global[0], D, F, true);
    w->proj = syn_tensor(s, 48, 24, 1.0f / 7);
    w->proj_b = syn_buf(s, 24, 0.1f, 0);
    s->m.kern = llv_kernels_get(LLV_ISA_AUTO);
    s->m.has_weights = true;
    return s;
}

static void syn_free(syn_model *s) {
    for (int i = 0; i < s->n_bufs; i++) free(s->bufs[i]);
    free(s);
}

typedef struct progress_rec {
    int   calls, cancel_at;
    float last;
    bool  monotone;
} progress_rec;

static bool on_progress(const char *what, float fraction, void *user) {
    progress_rec *r = user;
    if (fraction < r->last || strcmp(what, "image") != 0) r->monotone = false;
    r->last = fraction;
    r->calls++;
    return r->cancel_at <= 0 || r->calls < r->cancel_at;
}

static void test_synthetic(void) {
    if (!llv_test_case("synthetic")) return;
    syn_model *s = syn_create(2);
    const llv_model *m = &s->m;
    llv_error err = {0};
    llv_vision_state *vs = NULL;
    CHECK_OK(llv_vision_state_create(m, &vs, &err), &err);
    if (!vs) {
        syn_free(s);
        return;
    }
    CHECK(llv_vision_state_bytes(vs) > 0);
    const int64_t T = 4, S = 28, np = T * 3 * S * S, E = 24, P = 5, D = 16, N = 32;
    float *pix = calloc((size_t)np, sizeof(float));
    for (int64_t i = 0; i < 3 * 3 * S * S; i++) pix[i] = 2.0f * syn_rand(s); /* 3 real tiles, 1 zero */
    float *out1 = malloc((size_t)(T * P * E) * sizeof(float)), *out2 = malloc((size_t)(T * P * E) * sizeof(float));
    float *loc1 = malloc((size_t)(4 * N * D) * sizeof(float)), *loc2 = malloc((size_t)(4 * N * D) * sizeof(float));
    float *pe = malloc((size_t)(T * 4 * D) * sizeof(float));

    /* 1 vs 2 threads: bitwise identical */
    llv_threadpool *p1 = NULL, *p2 = NULL;
    CHECK_OK(llv_threadpool_create(1, &p1, &err), &err);
    CHECK_OK(llv_threadpool_create(2, &p2, &err), &err);
    llv_vision_capture c1 = {0}, c2 = {0};
    c1.local_hidden_states = loc1;
    c1.patch_embeds = pe;
    c2.local_hidden_states = loc2;
    progress_rec pr = {0, 0, 0.0f, true};
    CHECK_OK(llv_vision_encode(m, vs, p1, pix, 7, 3, out1, &c1, on_progress, &pr, &err), &err);
    CHECK_EQ_I(pr.calls, 3 + 1 + 1);
    CHECK(pr.monotone);
    CHECK_CLOSE(pr.last, 1.0, 0);
    CHECK_OK(llv_vision_encode(m, vs, p2, pix, 7, 3, out2, &c2, NULL, NULL, &err), &err);
    CHECK(memcmp(out1, out2, (size_t)(T * P * E) * sizeof(float)) == 0);
    CHECK(memcmp(loc1, loc2, (size_t)(4 * N * D) * sizeof(float)) == 0);
    /* the padding tile's patches are exact zeros; the output is finite */
    bool zero = true, finite = true;
    for (int64_t i = 3 * 4 * D; i < T * 4 * D; i++) zero = zero && pe[i] == 0.0f;
    for (int64_t i = 0; i < T * P * E; i++) finite = finite && isfinite(out1[i]);
    CHECK(zero);
    CHECK(finite);
    /* a state is reusable: the same image again gives the same bits */
    CHECK_OK(llv_vision_encode(m, vs, p2, pix, 7, 3, out2, NULL, NULL, NULL, &err), &err);
    CHECK(memcmp(out1, out2, (size_t)(T * P * E) * sizeof(float)) == 0);
    /* another aspect ratio changes the result */
    CHECK_OK(llv_vision_encode(m, vs, p2, pix, 6, 4, out2, NULL, NULL, NULL, &err), &err);
    CHECK(memcmp(out1, out2, (size_t)(T * P * E) * sizeof(float)) != 0);

    /* cancellation: false from the 2nd call stops with LLV_ERR_CANCELLED */
    progress_rec cr = {0, 2, 0.0f, true};
    CHECK_STATUS(llv_vision_encode(m, vs, p2, pix, 7, 3, out2, NULL, on_progress, &cr, &err), LLV_ERR_CANCELLED,
                 &err);
    CHECK_EQ_I(cr.calls, 2);
    progress_rec cl = {0, 5, 0.0f, true}; /* cancel at the very last report */
    CHECK_STATUS(llv_vision_encode(m, vs, p2, pix, 7, 3, out2, NULL, on_progress, &cl, &err), LLV_ERR_CANCELLED,
                 &err);

    /* bad aspect ratio ids and tile counts */
    CHECK_STATUS(llv_vision_encode(m, vs, p1, pix, 0, 1, out2, NULL, NULL, NULL, &err), LLV_ERR_INVALID_ARGUMENT,
                 &err);
    CHECK_STATUS(llv_vision_encode(m, vs, p1, pix, 9, 1, out2, NULL, NULL, NULL, &err), LLV_ERR_INVALID_ARGUMENT,
                 &err);
    CHECK_STATUS(llv_vision_encode(m, vs, p1, pix, -3, 1, out2, NULL, NULL, NULL, &err), LLV_ERR_INVALID_ARGUMENT,
                 &err);
    CHECK_STATUS(llv_vision_encode(m, vs, p1, pix, 1, 0, out2, NULL, NULL, NULL, &err), LLV_ERR_INVALID_ARGUMENT,
                 &err);
    CHECK_STATUS(llv_vision_encode(m, vs, p1, pix, 6, 5, out2, NULL, NULL, NULL, &err), LLV_ERR_INVALID_ARGUMENT,
                 &err);
    /* id 7 is (3, 1): 3 tiles, not 2 */
    CHECK_STATUS(llv_vision_encode(m, vs, p1, pix, 7, 2, out2, NULL, NULL, NULL, &err), LLV_ERR_INVALID_ARGUMENT,
                 &err);
    CHECK(strstr(err.message, "3 tiles") != NULL);
    CHECK_STATUS(llv_vision_encode(m, vs, p1, NULL, 1, 1, out2, NULL, NULL, NULL, &err), LLV_ERR_INVALID_ARGUMENT,
                 &err);

    /* a model without vision, or with inconsistent hparams, is refused */
    llv_vision_state *bad = NULL;
    s->m.hp.has_vision = false;
    CHECK_STATUS(llv_vision_state_create(m, &bad, &err), LLV_ERR_STATE, &err);
    s->m.hp.has_vision = true;
    s->m.hp.v_output_dim = 40;
    CHECK_STATUS(llv_vision_state_create(m, &bad, &err), LLV_ERR_FORMAT, &err);
    s->m.hp.v_output_dim = 48;
    const llv_tensor *keep = s->m.vision.global[0].fc2;
    s->m.vision.global[0].fc2 = s->m.vision.global[0].fc1; /* wrong shape */
    CHECK_STATUS(llv_vision_state_create(m, &bad, &err), LLV_ERR_FORMAT, &err);
    CHECK(strstr(err.message, "global layer 0") != NULL);
    s->m.vision.global[0].fc2 = keep;
    CHECK(bad == NULL);

    llv_threadpool_free(p1);
    llv_threadpool_free(p2);
    llv_vision_state_free(vs);
    free(pix);
    free(out1);
    free(out2);
    free(loc1);
    free(loc2);
    free(pe);
    syn_free(s);
}


/* ------------------------------------------------------------------------- */
/* a float64 reference of the whole encoder, written from the HF code          */
/* ------------------------------------------------------------------------- */

static const float *W(const llv_tensor *t) { return t->data; }

static void ref_ln(const double *x, const float *w, const float *b, double *y, int64_t n, double eps) {
    double mean = 0, var = 0;
    for (int64_t i = 0; i < n; i++) mean += x[i];
    mean /= (double)n;
    for (int64_t i = 0; i < n; i++) var += (x[i] - mean) * (x[i] - mean);
    var /= (double)n;
    for (int64_t i = 0; i < n; i++) y[i] = (x[i] - mean) / sqrt(var + eps) * w[i] + b[i];
}

/* y[M, out] = x[M, in] . W^T + b */
static void ref_linear(const llv_tensor *t, const float *b, const double *x, int64_t M, double *y) {
    const int64_t in = t->ne[0], out = t->ne[1];
    for (int64_t m = 0; m < M; m++)
        for (int64_t o = 0; o < out; o++) {
            double acc = b ? b[o] : 0;
            for (int64_t i = 0; i < in; i++) acc += x[m * in + i] * W(t)[o * in + i];
            y[m * out + o] = acc;
        }
}

static void ref_layer(const llv_vision_layer *l, const llv_hparams *hp, double *h, const unsigned char *pad,
                      int64_t N) {
    const int64_t D = hp->v_n_embd, H = hp->v_n_head, hd = hp->v_head_dim, F = hp->v_n_ff;
    double *x = malloc(sizeof(double) * N * D), *q = malloc(sizeof(double) * N * D),
           *k = malloc(sizeof(double) * N * D), *v = malloc(sizeof(double) * N * D),
           *o = malloc(sizeof(double) * N * D), *sc = malloc(sizeof(double) * N),
           *f = malloc(sizeof(double) * N * F);
    for (int64_t r = 0; r < N; r++) ref_ln(h + r * D, l->attn_norm_w, l->attn_norm_b, x + r * D, D, hp->v_eps);
    ref_linear(l->wq, NULL, x, N, q);
    ref_linear(l->wk, NULL, x, N, k);
    ref_linear(l->wv, NULL, x, N, v);
    for (int64_t hh = 0; hh < H; hh++)
        for (int64_t r = 0; r < N; r++) {
            double mx = -1e300, sum = 0;
            for (int64_t c = 0; c < N; c++) {
                double d = 0;
                for (int64_t j = 0; j < hd; j++) d += q[r * D + hh * hd + j] * k[c * D + hh * hd + j];
                sc[c] = (pad[r] && pad[c]) ? -1e300 : d / sqrt((double)hd);
                if (sc[c] > mx) mx = sc[c];
            }
            for (int64_t c = 0; c < N; c++) sum += (sc[c] = exp(sc[c] - mx));
            for (int64_t j = 0; j < hd; j++) {
                double acc = 0;
                for (int64_t c = 0; c < N; c++) acc += sc[c] / sum * v[c * D + hh * hd + j];
                o[r * D + hh * hd + j] = acc;
            }
        }
    ref_linear(l->wo, NULL, o, N, x);
    for (int64_t i = 0; i < N * D; i++) h[i] += l->gate_attn * x[i];
    for (int64_t r = 0; r < N; r++) ref_ln(h + r * D, l->ffn_norm_w, l->ffn_norm_b, x + r * D, D, hp->v_eps);
    ref_linear(l->fc1, l->fc1_b, x, N, f);
    for (int64_t i = 0; i < N * F; i++) f[i] = 0.5 * f[i] * (1.0 + erf(f[i] / sqrt(2.0)));
    ref_linear(l->fc2, l->fc2_b, f, N, x);
    for (int64_t i = 0; i < N * D; i++) h[i] += l->gate_ffn * x[i];
    free(x), free(q), free(k), free(v), free(o), free(sc), free(f);
}

static void ref_encode(const llv_model *m, const float *pix, int ar, int nt, float *cross) {
    const llv_hparams *hp = &m->hp;
    const llv_vision_weights *w = &m->vision;
    const int64_t D = hp->v_n_embd, T = hp->v_max_tiles, g = hp->v_grid, p = hp->v_patch_size, S = hp->v_image_size,
                  P = hp->v_P, Ppad = hp->v_Ppad, N = T * Ppad, K = hp->v_n_interm, OD = hp->v_output_dim,
                  E = hp->n_embd;
    double *e = calloc((size_t)(T * P * D), sizeof(double)), *h = calloc((size_t)(N * D), sizeof(double)),
           *out = calloc((size_t)(T * P * OD), sizeof(double));
    unsigned char *pad = malloc((size_t)N);
    const float *pre = W(w->pre_tile_embd) + ar * T * D, *tpe = W(w->tile_pos_embd) + ar * T * P * D,
                *post = W(w->post_tile_embd) + ar * T * D;
    for (int64_t t = 0; t < T; t++)
        for (int64_t i = 0; i < P; i++)
            for (int64_t d = 0; d < D; d++) {
                double v;
                if (i == 0) {
                    v = w->class_embd[d];
                } else {
                    int64_t py = (i - 1) / g, px = (i - 1) % g;
                    v = 0;
                    for (int64_t c = 0; c < 3; c++)
                        for (int64_t ky = 0; ky < p; ky++)
                            for (int64_t kx = 0; kx < p; kx++)
                                v += (double)pix[((t * 3 + c) * S + py * p + ky) * S + px * p + kx] *
                                     W(w->patch_embd)[d * 3 * p * p + (c * p + ky) * p + kx];
                    v += w->pre_tile_gate * pre[t * D + d];
                }
                v += w->pos_gate * W(w->pos_embd)[i * D + d] + w->tile_pos_gate * tpe[(t * P + i) * D + d];
                e[(t * P + i) * D + d] = v;
            }
    for (int64_t t = 0; t < T; t++)
        for (int64_t i = 0; i < Ppad; i++) {
            pad[t * Ppad + i] = t >= nt || i >= P;
            if (i < P) ref_ln(e + (t * P + i) * D, w->pre_ln_w, w->pre_ln_b, h + (t * Ppad + i) * D, D, 1e-5);
        }
    for (int64_t li = 0; li <= hp->v_n_layer; li++) {
        if (li > 0) ref_layer(&w->layers[li - 1], hp, h, pad, N);
        for (int64_t kk = 0; kk < K; kk++)
            if (hp->v_interm[kk] == li)
                for (int64_t t = 0; t < T; t++)
                    for (int64_t i = 0; i < P; i++)
                        for (int64_t d = 0; d < D; d++)
                            out[(t * P + i) * OD + D + d * K + kk] = h[(t * Ppad + i) * D + d];
    }
    for (int64_t r = 0; r < N; r++) ref_ln(h + r * D, w->post_ln_w, w->post_ln_b, h + r * D, D, 1e-5);
    for (int64_t r = 0; r < N; r++)
        for (int64_t d = 0; d < D; d++) h[r * D + d] += w->post_tile_gate * post[(r / Ppad) * D + d];
    for (int64_t gi = 0; gi < hp->v_n_global; gi++) ref_layer(&w->global[gi], hp, h, pad, N);
    for (int64_t t = 0; t < T; t++)
        for (int64_t i = 0; i < P; i++)
            for (int64_t d = 0; d < D; d++) out[(t * P + i) * OD + d] = h[(t * Ppad + i) * D + d];
    double *y = malloc(sizeof(double) * T * P * E);
    ref_linear(w->proj, w->proj_b, out, T * P, y);
    for (int64_t i = 0; i < T * P * E; i++) cross[i] = (float)y[i];
    free(y), free(e), free(h), free(out), free(pad);
}

/* grid 8: P = 65, Ppad = 72, 288 tokens, so attention and the MLP run in
 * several row blocks; checked against the float64 reference. */
static void test_reference(void) {
    if (!llv_test_case("reference")) return;
    syn_model *s = syn_create(8);
    const llv_model *m = &s->m;
    const int64_t T = 4, S = 112, P = 65, E = 24;
    llv_error err = {0};
    llv_vision_state *vs = NULL;
    llv_threadpool *pool = NULL;
    CHECK_OK(llv_vision_state_create(m, &vs, &err), &err);
    CHECK_OK(llv_threadpool_create(2, &pool, &err), &err);
    float *pix = calloc((size_t)(T * 3 * S * S), sizeof(float));
    for (int64_t i = 0; i < 2 * 3 * S * S; i++) pix[i] = 2.0f * syn_rand(s); /* 2 real tiles */
    float *got = malloc((size_t)(T * P * E) * sizeof(float)), *want = malloc((size_t)(T * P * E) * sizeof(float));
    if (vs) {
        CHECK_OK(llv_vision_encode(m, vs, pool, pix, 2, 2, got, NULL, NULL, NULL, &err), &err); /* id 2 = (1, 2) */
        ref_encode(m, pix, 2, 2, want);
        llv_check_close_f32("synthetic grid 8 vs float64 reference", got, want, T * P * E, 1e-4, 1e-5);
    }
    free(pix), free(got), free(want);
    llv_threadpool_free(pool);
    llv_vision_state_free(vs);
    syn_free(s);
}

/* ------------------------------------------------------------------------- */
/* golden                                                                    */
/* ------------------------------------------------------------------------- */

static bool cmp_cb(void *user, const char *case_name, const char *quantity, const float *got, const float *ref,
                   int64_t n, double atol, double rtol) {
    (void)user;
    char what[256];
    snprintf(what, sizeof what, "%s %s", case_name, quantity);
    return llv_check_close_f32(what, got, ref, n, atol, rtol);
}

static void fail_cb(void *user, const char *case_name, const char *what, const char *msg) {
    (void)user;
    llv_test_check(false, __FILE__, __LINE__, "%s %s: %s", case_name, what, msg);
}

static void test_golden(const char *shared) {
    char *golden = llv_test_path(shared, "golden");
    char *mpath = llv_test_path(golden, "manifest.jsonl");
    char *text = llv_test_read_file(mpath, NULL);
    CHECK_MSG(text != NULL, "read %s", mpath);
    llv_threadpool *pool = NULL;
    llv_error err = {0};
    CHECK_OK(llv_threadpool_create(2, &pool, &err), &err);
    int n_cases = 0;
    for (char *line = text, *next; line && *line; line = next) {
        next = strchr(line, '\n');
        if (next) *next++ = 0;
        cJSON *e = cJSON_Parse(line);
        const cJSON *kind = cJSON_GetObjectItemCaseSensitive(e, "kind");
        const cJSON *cfg = cJSON_GetObjectItemCaseSensitive(e, "config");
        const cJSON *cs = cJSON_GetObjectItemCaseSensitive(e, "case");
        if (cJSON_IsString(kind) && strcmp(kind->valuestring, "model_case") == 0 && cJSON_IsString(cfg) &&
            cJSON_IsString(cs) && cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(e, "images")) > 0) {
            char cname[200];
            snprintf(cname, sizeof cname, "golden/%s/%s", cfg->valuestring, cs->valuestring);
            if (llv_test_case(cname)) {
                char rel[200];
                snprintf(rel, sizeof rel, "models/%s", cfg->valuestring);
                char *mdir = llv_test_path(golden, rel);
                llv_model *m = NULL;
                CHECK_OK(hfv_model_load(mdir, LLV_ISA_AUTO, &m, &err), &err);
                if (m) {
                    printf("%s\n", cname);
                    int n_img = 0;
                    int failed = hfv_check_case(golden, e, m, pool, cmp_cb, fail_cb, NULL, &n_img);
                    CHECK_EQ_I(failed, 0);
                    CHECK(n_img > 0);
                    /* the same images from their files through llv's preprocessing */
                    failed = hfv_check_case_e2e(golden, e, m, pool, cmp_cb, fail_cb, NULL, &n_img);
                    CHECK_EQ_I(failed, 0);
                    CHECK(n_img > 0);
                    n_cases++;
                }
                hfv_model_free(m);
                free(mdir);
            }
        }
        cJSON_Delete(e);
    }
    CHECK(n_cases > 0 || llv_t.filter != NULL);
    llv_threadpool_free(pool);
    free(text);
    free(mpath);
    free(golden);
}

int main(int argc, char **argv) {
    llv_test_init(argc, argv);
    test_synthetic();
    test_reference();
    const char *shared = llv_test_shared_dir();
    if (shared)
        test_golden(shared);
    else
        printf("SKIP golden vision checks: no shared data (set LLV_SHARED_DIR)\n");
    return llv_test_finish();
}
