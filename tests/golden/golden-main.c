/* golden-main.c - llv-golden driver: reads DIR/manifest.jsonl, converts each
 * model directory with llv_convert (as a user would) into a scratch
 * directory, loads it, and dispatches every manifest entry to its area's
 * checker. Also the checker of kind "weights": every tensor of the converted
 * GGUF equals its safetensors source after the converter's documented
 * transforms (exactly, the conversion being F32 -> F32).
 *
 * usage: llv-golden DIR [-v] [--filter TEXT] [--keep]
 * Last output line: "N passed, N failed, N skipped"; exit 1 on any failure. */
#include "golden.h"
#include "llv-tools.h"

#include "model.h"
#include "safetensors.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ------------------------------------------------------------------------- */
/* Models: converted once per config per run                                 */
/* ------------------------------------------------------------------------- */

#define MAX_MODELS 32
typedef struct model_slot {
    char       config[128];
    char      *gguf;
    llv_model *m;
    bool       failed;
} model_slot;

/* The runner's only mutable state beyond golden_ctx (test program, not library). */
static model_slot g_models[MAX_MODELS];
static int        g_n_models;

llv_model *golden_model(golden_ctx *ctx, const char *config) {
    for (int i = 0; i < g_n_models; i++)
        if (strcmp(g_models[i].config, config) == 0) return g_models[i].failed ? NULL : g_models[i].m;
    if (g_n_models == MAX_MODELS) {
        golden_record(ctx, config, "convert", false, "too many model configs");
        return NULL;
    }
    model_slot *s = &g_models[g_n_models++];
    snprintf(s->config, sizeof s->config, "%s", config);
    char rel[256];
    snprintf(rel, sizeof rel, "models/%s", config);
    char *dir = golden_path(ctx, rel);
    size_t n = strlen(ctx->workdir) + strlen(config) + 16;
    s->gguf = malloc(n);
    snprintf(s->gguf, n, "%s/%s.gguf", ctx->workdir, config);
    llv_convert_params cp = llv_convert_default_params();
    cp.type = LLV_TYPE_F32;
    llv_error err = {0};
    double t0 = llv_time_s();
    llv_status st = llv_convert(dir, s->gguf, &cp, &err);
    free(dir);
    if (st) {
        golden_record(ctx, config, "convert", false, "%s: %s", llv_status_name(st), err.message);
        s->failed = true;
        return NULL;
    }
    double t1 = llv_time_s();
    st = llv_model_load(s->gguf, NULL, &s->m, &err);
    if (st) {
        golden_record(ctx, config, "load", false, "%s: %s", llv_status_name(st), err.message);
        s->failed = true;
        return NULL;
    }
    if (ctx->verbose)
        printf("# %s: converted in %.3f s, loaded in %.3f s\n", config, t1 - t0, llv_time_s() - t1);
    return s->m;
}

static void free_models(const golden_ctx *ctx, bool keep) {
    for (int i = 0; i < g_n_models; i++) {
        llv_model_free(g_models[i].m);
        if (!keep && g_models[i].gguf) unlink(g_models[i].gguf);
        free(g_models[i].gguf);
    }
    g_n_models = 0;
    if (!keep) rmdir(ctx->workdir);
}

/* ------------------------------------------------------------------------- */
/* Kind "weights"                                                            */
/* ------------------------------------------------------------------------- */

typedef enum gx { GX_COPY, GX_PERM_Q, GX_PERM_K, GX_ONE_MINUS_TANH, GX_TANH } gx;

typedef struct gmap {
    const char *hf;   /* suffix after the group prefix and layer index */
    const char *gguf;
    gx          x;
} gmap;

static const gmap text_layer_map[] = {
    {"input_layernorm.weight", "attn_norm.weight", GX_COPY},
    {"self_attn.q_proj.weight", "attn_q.weight", GX_PERM_Q},
    {"self_attn.k_proj.weight", "attn_k.weight", GX_PERM_K},
    {"self_attn.v_proj.weight", "attn_v.weight", GX_COPY},
    {"self_attn.o_proj.weight", "attn_output.weight", GX_COPY},
    {"post_attention_layernorm.weight", "ffn_norm.weight", GX_COPY},
    {"mlp.gate_proj.weight", "ffn_gate.weight", GX_COPY},
    {"mlp.up_proj.weight", "ffn_up.weight", GX_COPY},
    {"mlp.down_proj.weight", "ffn_down.weight", GX_COPY},
    {"cross_attn.q_proj.weight", "cross_attn_q_proj.weight", GX_COPY},
    {"cross_attn.k_proj.weight", "cross_attn_k_proj.weight", GX_COPY},
    {"cross_attn.v_proj.weight", "cross_attn_v_proj.weight", GX_COPY},
    {"cross_attn.o_proj.weight", "cross_attn_o_proj.weight", GX_COPY},
    {"cross_attn.q_norm.weight", "cross_attn_q_norm.weight", GX_COPY},
    {"cross_attn.k_norm.weight", "cross_attn_k_norm.weight", GX_COPY},
    {"cross_attn_attn_gate", "cross_attn_attn_gate", GX_COPY},
    {"cross_attn_mlp_gate", "cross_attn_mlp_gate", GX_COPY},
    {NULL, NULL, GX_COPY}};

static const gmap vision_layer_map[] = {
    {"self_attn.q_proj.weight", "attn_q.weight", GX_COPY},
    {"self_attn.k_proj.weight", "attn_k.weight", GX_COPY},
    {"self_attn.v_proj.weight", "attn_v.weight", GX_COPY},
    {"self_attn.o_proj.weight", "attn_output.weight", GX_COPY},
    {"input_layernorm.weight", "attn_norm.weight", GX_COPY},
    {"input_layernorm.bias", "attn_norm.bias", GX_COPY},
    {"post_attention_layernorm.weight", "ffn_norm.weight", GX_COPY},
    {"post_attention_layernorm.bias", "ffn_norm.bias", GX_COPY},
    {"mlp.fc1.weight", "ffn_up.weight", GX_COPY},
    {"mlp.fc1.bias", "ffn_up.bias", GX_COPY},
    {"mlp.fc2.weight", "ffn_down.weight", GX_COPY},
    {"mlp.fc2.bias", "ffn_down.bias", GX_COPY},
    {"gate_attn", "attn_gate", GX_TANH},
    {"gate_ffn", "ffn_gate", GX_TANH},
    {NULL, NULL, GX_COPY}};

static const gmap vision_map[] = {
    {"patch_embedding.weight", "v.patch_embd.weight", GX_COPY},
    {"class_embedding", "v.class_embd", GX_COPY},
    {"gated_positional_embedding.embedding", "v.position_embd.weight", GX_COPY},
    {"gated_positional_embedding.gate", "v.position_embd.gate", GX_ONE_MINUS_TANH},
    {"gated_positional_embedding.gate", "v.tile_position_embd.gate", GX_TANH},
    {"gated_positional_embedding.tile_embedding.weight", "v.tile_position_embd.weight", GX_COPY},
    {"pre_tile_positional_embedding.embedding.weight", "v.pre_tile_position_embd.weight", GX_COPY},
    {"pre_tile_positional_embedding.gate", "v.pre_tile_position_embd.gate", GX_TANH},
    {"post_tile_positional_embedding.embedding.weight", "v.post_tile_position_embd.weight", GX_COPY},
    {"post_tile_positional_embedding.gate", "v.post_tile_position_embd.gate", GX_TANH},
    {"layernorm_pre.weight", "v.pre_ln.weight", GX_COPY},
    {"layernorm_pre.bias", "v.pre_ln.bias", GX_COPY},
    {"layernorm_post.weight", "v.post_ln.weight", GX_COPY},
    {"layernorm_post.bias", "v.post_ln.bias", GX_COPY},
    {NULL, NULL, GX_COPY}};

static const char *strip(const char *s, const char *const *prefixes) {
    for (int i = 0; prefixes[i]; i++) {
        size_t n = strlen(prefixes[i]);
        if (strncmp(s, prefixes[i], n) == 0) return s + n;
    }
    return NULL;
}

/* HF name -> up to 2 (GGUF name, transform) pairs; returns the count. */
static int map_name(const char *hf, char out[2][128], gx xs[2]) {
    static const char *const tp[] = {"language_model.model.", "model.language_model.", NULL};
    static const char *const hp[] = {"language_model.lm_head.", "lm_head.", NULL};
    static const char *const vp[] = {"vision_model.", "model.vision_model.", NULL};
    static const char *const mp[] = {"multi_modal_projector.", "model.multi_modal_projector.", NULL};
    const char *r;
    int l, off = 0;
    if ((r = strip(hf, hp))) {
        if (strcmp(r, "weight")) return 0;
        snprintf(out[0], 128, "output.weight");
        xs[0] = GX_COPY;
        return 1;
    }
    if ((r = strip(hf, tp))) {
        if (!strcmp(r, "embed_tokens.weight")) { snprintf(out[0], 128, "token_embd.weight"); xs[0] = GX_COPY; return 1; }
        if (!strcmp(r, "norm.weight")) { snprintf(out[0], 128, "output_norm.weight"); xs[0] = GX_COPY; return 1; }
        if (sscanf(r, "layers.%d.%n", &l, &off) != 1 || off == 0) return 0;
        for (const gmap *g = text_layer_map; g->hf; g++)
            if (!strcmp(r + off, g->hf)) {
                snprintf(out[0], 128, "blk.%d.%s", l, g->gguf);
                xs[0] = g->x;
                return 1;
            }
        return 0;
    }
    if ((r = strip(hf, vp))) {
        int n = 0;
        for (const gmap *g = vision_map; g->hf; g++)
            if (!strcmp(r, g->hf) && n < 2) {
                snprintf(out[n], 128, "%s", g->gguf);
                xs[n++] = g->x;
            }
        if (n) return n;
        bool glob = false;
        if (sscanf(r, "transformer.layers.%d.%n", &l, &off) == 1 && off) glob = false;
        else if ((off = 0, sscanf(r, "global_transformer.layers.%d.%n", &l, &off) == 1) && off) glob = true;
        else return 0;
        for (const gmap *g = vision_layer_map; g->hf; g++)
            if (!strcmp(r + off, g->hf)) {
                snprintf(out[0], 128, "v.%sblk.%d.%s", glob ? "global." : "", l, g->gguf);
                xs[0] = g->x;
                return 1;
            }
        return 0;
    }
    if ((r = strip(hf, mp))) {
        snprintf(out[0], 128, "mm.0.%s", r);
        xs[0] = GX_COPY;
        return 1;
    }
    return 0;
}

int golden_check_weights(golden_ctx *ctx, const cJSON *entry) {
    const cJSON *cfg = cJSON_GetObjectItemCaseSensitive(entry, "config");
    const cJSON *path = cJSON_GetObjectItemCaseSensitive(entry, "path");
    if (!cJSON_IsString(cfg) || !cJSON_IsString(path)) {
        golden_record(ctx, "weights", "manifest", false, "entry without config/path");
        return 1;
    }
    char cname[160];
    snprintf(cname, sizeof cname, "%s/weights", cfg->valuestring);
    llv_model *m = golden_model(ctx, cfg->valuestring);
    if (!m) return 1;
    llv_st *st = golden_open(ctx, cname, "open", path->valuestring);
    if (!st) return 1;
    const llv_gguf *g = m->gguf;
    int64_t n_g = llv_gguf_n_tensors(g);
    bool *seen = calloc((size_t)n_g + 1, 1);
    int fails = 0;
    int64_t n_tensors = 0, n_values = 0, n_bad_tensors = 0;
    double max_abs = 0;
    char bad[512] = "";
    size_t bad_len = 0;
    for (int64_t i = 0; i < llv_st_n_tensors(st); i++) {
        const llv_st_tensor *t = llv_st_tensor_at(st, i);
        char names[2][128];
        gx xs[2];
        int nm = map_name(t->name, names, xs);
        if (nm == 0) {
            golden_record(ctx, cname, t->name, false, "no GGUF name for this HF tensor");
            fails++;
            continue;
        }
        for (int k = 0; k < nm; k++) {
            const llv_tensor *gt = llv_gguf_find_tensor(g, names[k]);
            bool ok = gt != NULL && gt->type == LLV_TYPE_F32 && gt->n_dims == t->n_dims;
            for (int d = 0; ok && d < t->n_dims; d++) ok = gt->ne[d] == t->shape[t->n_dims - 1 - d];
            if (!ok) {
                golden_record(ctx, cname, names[k], false, "%s in the GGUF (from '%s')",
                              gt ? "wrong type or shape" : "missing", t->name);
                fails++;
                continue;
            }
            for (int64_t j = 0; j < n_g; j++)
                if (llv_gguf_tensor(g, j) == gt) seen[j] = true;
            n_tensors++;
            int64_t n = llv_st_numel(t), ne0 = t->shape[t->n_dims - 1], rows = n / ne0;
            const float *got = gt->data;
            int heads = xs[k] == GX_PERM_Q ? m->hp.n_head : xs[k] == GX_PERM_K ? m->hp.n_head_kv : 0;
            int64_t hd = heads ? rows / heads : 0;
            double tmax = 0;
            for (int64_t r = 0; r < rows; r++) {
                int64_t sr = r;
                if (hd) { /* GGUF row h*hd + 2i + j holds HF row h*hd + j*hd/2 + i */
                    int64_t h = r / hd, q = r % hd;
                    sr = h * hd + (q % 2) * (hd / 2) + q / 2;
                }
                for (int64_t e = 0; e < ne0; e++) {
                    float ref = (float)llv_st_get_f64(t, sr * ne0 + e);
                    if (xs[k] == GX_TANH) ref = tanhf(ref);
                    else if (xs[k] == GX_ONE_MINUS_TANH) ref = 1.0f - tanhf(ref);
                    float v = got[r * ne0 + e];
                    double d = v == ref ? 0.0 : (isnan(v) && isnan(ref)) ? 0.0 : fabs((double)v - (double)ref);
                    if (isnan(d)) d = INFINITY;
                    if (d > tmax) tmax = d;
                }
            }
            n_values += n;
            if (tmax > max_abs) max_abs = tmax;
            if (tmax != 0) {
                n_bad_tensors++;
                if (bad_len < sizeof bad - 64)
                    bad_len += (size_t)snprintf(bad + bad_len, sizeof bad - bad_len, " %s(%.3g)", names[k], tmax);
            }
            if (ctx->verbose) printf("#   %s <- %s max_abs=%.3g\n", names[k], t->name, tmax);
        }
    }
    bool all_ok = n_bad_tensors == 0;
    printf("%s all_tensors n=%lld tensors=%lld max_abs=%.3g tol=exact %s%s\n", cname, (long long)n_values,
           (long long)n_tensors, max_abs, all_ok ? "ok" : "FAIL", bad);
    if (all_ok) ctx->n_pass++;
    else { ctx->n_fail++; fails++; }
    /* every GGUF tensor must come from the checkpoint (rope_freqs is computed) */
    int64_t extra = 0;
    char ex[256] = "";
    size_t exl = 0;
    for (int64_t j = 0; j < n_g; j++) {
        const llv_tensor *gt = llv_gguf_tensor(g, j);
        if (seen[j] || strcmp(gt->name, "rope_freqs.weight") == 0) continue;
        extra++;
        if (exl < sizeof ex - 64) exl += (size_t)snprintf(ex + exl, sizeof ex - exl, " %s", gt->name);
    }
    golden_record(ctx, cname, "tensor_set", extra == 0, "%lld GGUF tensors, %lld without a source%s",
                  (long long)n_g, (long long)extra, ex);
    if (extra) fails++;
    free(seen);
    llv_st_close(st);
    return fails;
}

/* ------------------------------------------------------------------------- */
/* Driver                                                                    */
/* ------------------------------------------------------------------------- */

static const char *entry_name(const cJSON *e, char *buf, size_t n) {
    const cJSON *c = cJSON_GetObjectItemCaseSensitive(e, "config");
    const cJSON *k = cJSON_GetObjectItemCaseSensitive(e, "case");
    const cJSON *p = cJSON_GetObjectItemCaseSensitive(e, "path");
    if (cJSON_IsString(c) && cJSON_IsString(k)) snprintf(buf, n, "%s/%s", c->valuestring, k->valuestring);
    else snprintf(buf, n, "%s", cJSON_IsString(p) ? p->valuestring : "?");
    return buf;
}

int main(int argc, char **argv) {
    const char *dir = NULL, *filter = NULL;
    bool verbose = false, keep = false;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-v") || !strcmp(argv[i], "--verbose")) verbose = true;
        else if (!strcmp(argv[i], "--keep")) keep = true;
        else if (!strcmp(argv[i], "--filter") && i + 1 < argc) filter = argv[++i];
        else if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            printf("usage: llv-golden DIR [-v] [--filter TEXT] [--keep]\n"
                   "Runs the conformance checks of DIR/manifest.jsonl (a directory laid out like shared/golden).\n");
            return 0;
        } else if (!dir) dir = argv[i];
        else {
            fprintf(stderr, "llv-golden: unexpected argument '%s'\n", argv[i]);
            return 2;
        }
    }
    if (!dir) {
        fprintf(stderr, "usage: llv-golden DIR [-v] [--filter TEXT] [--keep]\n");
        return 2;
    }
    char manifest[4096];
    snprintf(manifest, sizeof manifest, "%s/manifest.jsonl", dir);
    FILE *f = fopen(manifest, "r");
    if (!f) {
        fprintf(stderr, "llv-golden: cannot open %s\n", manifest);
        return 2;
    }
    const char *tmp = getenv("TMPDIR");
    char workdir[4096];
    snprintf(workdir, sizeof workdir, "%s/llv-golden-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(workdir)) {
        fprintf(stderr, "llv-golden: cannot create a scratch directory in %s\n", tmp && *tmp ? tmp : "/tmp");
        fclose(f);
        return 2;
    }
    golden_ctx ctx = {.root = dir, .workdir = workdir, .verbose = verbose};
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    int lineno = 0;
    while ((len = getline(&line, &cap, f)) > 0) {
        lineno++;
        if (len <= 1) continue;
        cJSON *e = cJSON_Parse(line);
        const cJSON *kind = e ? cJSON_GetObjectItemCaseSensitive(e, "kind") : NULL;
        if (!cJSON_IsString(kind)) {
            char where[64];
            snprintf(where, sizeof where, "manifest:%d", lineno);
            golden_record(&ctx, where, "parse", false, "not a JSON object with a \"kind\"");
            cJSON_Delete(e);
            continue;
        }
        char name[256];
        entry_name(e, name, sizeof name);
        const char *k = kind->valuestring;
        if (filter && !strstr(name, filter) && !strstr(k, filter)) {
            cJSON_Delete(e);
            continue;
        }
        const cJSON *cfg = cJSON_GetObjectItemCaseSensitive(e, "config");
        if (!strcmp(k, "weights")) golden_check_weights(&ctx, e);
        else if (!strcmp(k, "rope")) golden_check_rope(&ctx, e);
        else if (!strcmp(k, "model_case")) {
            llv_model *m = cJSON_IsString(cfg) ? golden_model(&ctx, cfg->valuestring) : NULL;
            if (m) {
                golden_check_text_case(&ctx, e, m);
                golden_check_vision_case(&ctx, e, m);
            } else if (!cJSON_IsString(cfg)) {
                golden_record(&ctx, name, "manifest", false, "model_case without config");
            }
        } else if (!strcmp(k, "image_processor_case")) golden_check_image_case(&ctx, e);
        else if (!strcmp(k, "image_processor_canvas_table")) golden_check_canvas_table(&ctx, e);
        else if (!strcmp(k, "sampler")) golden_check_sampler(&ctx, e);
        fflush(stdout);
        cJSON_Delete(e);
    }
    free(line);
    fclose(f);
    free_models(&ctx, keep);
    if (keep) printf("# scratch kept in %s\n", workdir);
    printf("%d passed, %d failed, %d skipped\n", ctx.n_pass, ctx.n_fail, ctx.n_skip);
    return ctx.n_fail ? 1 : 0;
}
