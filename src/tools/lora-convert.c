/* lora-convert.c - LoRA adapters offline: merging a GGUF adapter into its
 * base GGUF (llv_lora_merge) and converting a PEFT adapter directory to the
 * GGUF adapter layout (llv_convert_lora). Format: src/lora.h. */
#include "convert.h"
#include "gguf.h"
#include "json-file.h"
#include "mmap.h"
#include "lora.h"
#include "safetensors.h"
#include "../../kernels/kernels.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static const char *type_name(int t) {
    const char *n = llv_type_name((llv_type)t);
    return n ? n : "unknown";
}

/* ------------------------------------------------------------------------- */
/* Merge                                                                     */
/* ------------------------------------------------------------------------- */

/* Writes W + scale * B A for one tensor, row by row, in W's type. */
static llv_status merge_tensor(const llv_model *m, llv_gguf_writer *w, const llv_lora_pair *p, float *Af,
                               float *row, float *brow, void *orow, llv_error *err) {
    const llv_kernels *k = m->kern;
    const llv_tensor *W = p->base;
    const int64_t n_in = W->ne[0], n_out = llv_tensor_rows(W), r = p->rank;
    size_t wrb = 0, arb = 0, brb = 0;
    llv_type_row_bytes(W->type, n_in, &wrb);
    llv_type_row_bytes(p->a->type, n_in, &arb);
    llv_type_row_bytes(p->b->type, r, &brb);
    for (int64_t j = 0; j < r; j++)
        k->to_f32[p->a->type]((const unsigned char *)p->a->data + (size_t)j * arb, Af + (size_t)j * n_in, n_in);
    for (int64_t o = 0; o < n_out; o++) {
        k->to_f32[W->type]((const unsigned char *)W->data + (size_t)o * wrb, row, n_in);
        k->to_f32[p->b->type]((const unsigned char *)p->b->data + (size_t)o * brb, brow, r);
        for (int64_t i = 0; i < n_in; i++) {
            double acc = 0;
            for (int64_t j = 0; j < r; j++) acc += (double)brow[j] * (double)Af[(size_t)j * n_in + i];
            row[i] = (float)((double)row[i] + (double)p->scale * acc);
        }
        k->from_f32[W->type](row, orow, n_in);
        llv_status s = llv_gguf_writer_write(w, orow, wrb, err);
        if (s) return s;
    }
    return LLV_OK;
}

llv_status llv_lora_merge(const char *base_path, const char *adapter_path, float scale, const char *out_path,
                          llv_error *err) {
    llv_err_clear(err);
    if (!base_path || !adapter_path || !out_path)
        return llv_err(err, LLV_ERR_INVALID_ARGUMENT, "llv_lora_merge: NULL path");
    llv_model *m = NULL;
    llv_lora *l = NULL;
    llv_gguf_writer *w = NULL;
    float *Af = NULL, *row = NULL, *brow = NULL;
    void *orow = NULL;
    llv_status s = llv_model_load(base_path, NULL, &m, err);
    if (s) return s;
    if (m->n_fixed > 0) {
        s = llv_err(err, LLV_ERR_UNSUPPORTED,
                    "llv_lora_merge: %s stores tensors in a layout llv rewrites at load (an Ollama file); convert "
                    "the model with llv-convert first",
                    base_path);
        goto done;
    }
    if ((s = llv_lora_load(m, NULL, adapter_path, scale, &l, err))) goto done;
    int64_t max_in = 0;
    for (size_t i = 0; i < l->n_pairs; i++) {
        const llv_tensor *W = l->pairs[i].base;
        int t = W->type;
        if (t != LLV_TYPE_F32 && t != LLV_TYPE_F16 && t != LLV_TYPE_BF16) {
            s = llv_err(err, LLV_ERR_UNSUPPORTED, "llv_lora_merge: base tensor '%s' has type %s (f32, f16, bf16 only)",
                        W->name, type_name(t));
            goto done;
        }
        max_in = LLV_MAX(max_in, W->ne[0]);
    }
    size_t af_n;
    if (!llv_mul_size((size_t)l->max_rank, (size_t)max_in, &af_n)) {
        s = llv_err(err, LLV_ERR_LIMIT, "llv_lora_merge: size overflow");
        goto done;
    }
    Af = malloc(af_n * sizeof *Af);
    row = malloc((size_t)max_in * sizeof *row);
    brow = malloc((size_t)l->max_rank * sizeof *brow);
    orow = malloc((size_t)max_in * sizeof(float));
    if (!Af || !row || !brow || !orow) {
        s = llv_err(err, LLV_ERR_OUT_OF_MEMORY, "llv_lora_merge: out of memory");
        goto done;
    }
    const llv_gguf *g = m->gguf;
    if ((s = llv_gguf_writer_create(&w, err)) || (s = llv_gguf_copy_kvs(w, g, err))) goto done;
    int64_t nt = llv_gguf_n_tensors(g);
    for (int64_t i = 0; i < nt; i++) {
        const llv_tensor *t = llv_gguf_tensor(g, i);
        if ((s = llv_gguf_add_tensor(w, t->name, t->type, t->n_dims, t->ne, err))) goto done;
    }
    if ((s = llv_gguf_writer_begin(w, out_path, err))) goto done;
    for (int64_t i = 0; i < nt; i++) {
        const llv_tensor *t = llv_gguf_tensor(g, i);
        const llv_lora_pair *p = NULL;
        for (size_t k = 0; k < l->n_pairs && !p; k++)
            if (l->pairs[k].base == t) p = &l->pairs[k];
        if (p) s = merge_tensor(m, w, p, Af, row, brow, orow, err);
        else s = llv_gguf_writer_write(w, t->data, t->nbytes, err);
        if (s) {
            llv_err_prefix(err, "llv_lora_merge: writing '%s'", t->name);
            goto done;
        }
    }
    s = llv_gguf_writer_finish(w, err);
done:
    llv_gguf_writer_free(w);
    llv_lora_free(l);
    llv_model_free(m);
    free(Af);
    free(row);
    free(brow);
    free(orow);
    return s;
}

/* ------------------------------------------------------------------------- */
/* PEFT -> GGUF                                                              */
/* ------------------------------------------------------------------------- */

static bool is_dir(const char *p) {
    struct stat sb;
    return p && stat(p, &sb) == 0 && S_ISDIR(sb.st_mode);
}
static bool is_file(const char *p) {
    struct stat sb;
    return p && stat(p, &sb) == 0 && S_ISREG(sb.st_mode);
}

/* Base shapes from a GGUF model file. */
static llv_status base_from_gguf(const char *path, llv_lora_base *b, llv_error *err) {
    llv_model *m = NULL;
    llv_status s = llv_model_load(path, NULL, &m, err);
    if (s) return s;
    if (!m->has_weights) {
        llv_model_free(m);
        return llv_err(err, LLV_ERR_UNSUPPORTED, "%s: a vocabulary-only file cannot be a base model", path);
    }
    memset(b, 0, sizeof *b);
    b->arch = m->hp.arch;
    b->hidden = m->hp.n_embd;
    b->n_head = m->hp.n_head;
    b->n_kv = m->hp.n_head_kv;
    b->head_dim = m->hp.head_dim;
    b->ff = m->hp.n_ff;
    b->n_layer = m->hp.n_layer;
    memcpy(b->is_cross, m->hp.is_cross, sizeof b->is_cross);
    llv_model_free(m);
    return LLV_OK;
}

static llv_status resolve_base(const char *adapter_dir, const char *base, const cJSON *acfg, llv_lora_base *b,
                               llv_error *err) {
    if (base) {
        if (is_dir(base)) return llv_convert_read_base(base, b, err);
        if (is_file(base)) return base_from_gguf(base, b, err);
        return llv_err(err, LLV_ERR_NOT_FOUND, "base model '%s' is neither a directory nor a file", base);
    }
    const cJSON *bn = cJSON_GetObjectItemCaseSensitive(acfg, "base_model_name_or_path");
    if (cJSON_IsString(bn) && bn->valuestring[0]) {
        char *cfg = llv_path_join(bn->valuestring, "config.json");
        bool ok = is_dir(bn->valuestring) && is_file(cfg);
        free(cfg);
        if (ok) return llv_convert_read_base(bn->valuestring, b, err);
        if (is_file(bn->valuestring)) return base_from_gguf(bn->valuestring, b, err);
    }
    char *cfg = llv_path_join(adapter_dir, "config.json");
    bool here = is_file(cfg);
    free(cfg);
    if (here) return llv_convert_read_base(adapter_dir, b, err);
    return llv_err(err, LLV_ERR_NOT_FOUND,
                   "%s: the base model's shapes are needed (self-attention q/k rows are permuted per head): pass the "
                   "base model (an HF directory with config.json, or a GGUF file); base_model_name_or_path '%s' is "
                   "not a local path and the adapter directory has no config.json",
                   adapter_dir, cJSON_IsString(bn) ? bn->valuestring : "");
}

typedef struct peft_item {
    const llv_st_tensor *a, *b;
    int                  layer;
    llv_lora_proj                 p;
    char                 name[96]; /* GGUF base name */
} peft_item;

/* Maps a PEFT tensor name to (layer, projection, A or B). Returns 1 on
 * success, 0 for a name outside the text decoder's adaptable projections,
 * -1 for a layer index beyond the base, -2 for self_attn names on a cross
 * layer of the base or the reverse (*layer set). */
static int parse_peft(const char *name, const llv_lora_base *b, int *layer, llv_lora_proj *p, bool *is_a) {
    static const char *const wrap[] = {"base_model.model.", ""};
    static const char *const ml_pfx[] = {"language_model.model.layers.", "model.language_model.layers.",
                                         "language_model.layers.", NULL};
    static const char *const ll_pfx[] = {"model.layers.", NULL};
    static const char *const mods[LLV_LORA_PROJ_COUNT] = {"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj",
                                              "down_proj"};
    for (int w = 0; w < 2; w++) {
        size_t wl = strlen(wrap[w]);
        if (strncmp(name, wrap[w], wl)) continue;
        const char *const *pf = b->arch == LLV_ARCH_MLLAMA ? ml_pfx : ll_pfx;
        for (int i = 0; pf[i]; i++) {
            size_t pl = strlen(pf[i]);
            if (strncmp(name + wl, pf[i], pl)) continue;
            const char *r = name + wl + pl;
            char *end;
            errno = 0;
            long l = strtol(r, &end, 10);
            if (end == r || *end != '.' || errno || l < 0) return 0;
            if (l >= b->n_layer) return -1;
            r = end + 1;
            bool cross = b->is_cross[l];
            const char *grp = NULL;
            if (!strncmp(r, "self_attn.", 10)) grp = "self_attn.";
            else if (!strncmp(r, "cross_attn.", 11)) grp = "cross_attn.";
            else if (!strncmp(r, "mlp.", 4)) grp = "mlp.";
            if (!grp) return 0;
            r += strlen(grp);
            for (int k = 0; k < LLV_LORA_PROJ_COUNT; k++) {
                size_t ml = strlen(mods[k]);
                if (strncmp(r, mods[k], ml) || r[ml] != '.') continue;
                bool attn = k <= LLV_LORA_O;
                if (attn != (grp[0] != 'm')) return 0;
                if (attn && (grp[0] == 'c') != cross) {
                    *layer = (int)l;
                    return -2;
                }
                const char *t = r + ml + 1;
                if (!strcmp(t, "lora_A.weight")) *is_a = true;
                else if (!strcmp(t, "lora_B.weight")) *is_a = false;
                else return 0;
                *layer = (int)l;
                *p = (llv_lora_proj)k;
                return 1;
            }
            return 0;
        }
    }
    return 0;
}

/* Streams a 2-D safetensors tensor [rows, cols] to the writer, converting
 * to `type`; heads > 0 permutes rows per head as the base converter does. */
static llv_status write_rows(llv_gguf_writer *w, const llv_st_tensor *t, int type, int64_t heads, float *rowf,
                             void *rowo, llv_error *err) {
    int64_t rows = t->shape[0], cols = t->shape[1];
    int64_t hd = heads > 0 ? rows / heads : 0;
    size_t ssz = llv_st_dtype_size(t->dtype), osz = type == LLV_TYPE_F32 ? 4 : 2;
    for (int64_t r = 0; r < rows; r++) {
        int64_t sr = r;
        if (hd) sr = llv_convert_rope_src_row(r, hd);
        llv_st_row_to_f32(t, (const uint8_t *)t->data + (size_t)sr * (size_t)cols * ssz, cols, rowf);
        llv_kernels_ref()->from_f32[type](rowf, rowo, cols);
        llv_status s = llv_gguf_writer_write(w, rowo, (size_t)cols * osz, err);
        if (s) return s;
    }
    return LLV_OK;
}

llv_status llv_convert_lora(const char *adapter_dir, const char *base, const char *out_path,
                            const llv_convert_params *params, llv_error *err) {
    llv_err_clear(err);
    LLV_PARAMS_IN(llv_convert_params, params, err);
    llv_convert_params p = params ? *params : llv_convert_default_params();
    if (!adapter_dir || !out_path) return llv_err(err, LLV_ERR_INVALID_ARGUMENT, "llv_convert_lora: NULL path");
    if (p.type != LLV_TYPE_F32 && p.type != LLV_TYPE_F16 && p.type != LLV_TYPE_BF16)
        return llv_err(err, LLV_ERR_UNSUPPORTED, "llv_convert_lora: type %s not supported (f32, f16, bf16)",
                       type_name(p.type));
    cJSON *acfg = NULL;
    llv_st *st = NULL;
    llv_gguf_writer *w = NULL;
    peft_item *items = NULL;
    float *rowf = NULL;
    void *rowo = NULL;
    llv_lora_base b;
    char *path = NULL;
    llv_status s = llv_json_read_object(adapter_dir, "adapter_config.json", true, &acfg, err);
    if (s) goto done;

    /* adapter_config.json: what this converter can represent */
    const cJSON *pt = cJSON_GetObjectItemCaseSensitive(acfg, "peft_type");
    if (pt && (!cJSON_IsString(pt) || strcmp(pt->valuestring, "LORA"))) {
        s = llv_err(err, LLV_ERR_UNSUPPORTED, "adapter_config.json: peft_type '%s', only LORA is supported",
                    cJSON_IsString(pt) ? pt->valuestring : "?");
        goto done;
    }
    const cJSON *ra = cJSON_GetObjectItemCaseSensitive(acfg, "r");
    const cJSON *al = cJSON_GetObjectItemCaseSensitive(acfg, "lora_alpha");
    if (!cJSON_IsNumber(ra) || ra->valuedouble < 1 || ra->valuedouble > LLV_LORA_MAX_RANK ||
        ra->valuedouble != floor(ra->valuedouble)) {
        s = llv_err(err, LLV_ERR_FORMAT, "adapter_config.json: 'r' must be an integer in [1, %d]", LLV_LORA_MAX_RANK);
        goto done;
    }
    double alpha = cJSON_IsNumber(al) ? al->valuedouble : 8.0; /* PEFT's LoraConfig default */
    if (!isfinite(alpha)) {
        s = llv_err(err, LLV_ERR_FORMAT, "adapter_config.json: 'lora_alpha' is not finite");
        goto done;
    }
    const char *unsup[] = {"use_dora", "alpha_pattern", "modules_to_save", "layer_replication"};
    for (size_t i = 0; i < sizeof unsup / sizeof unsup[0]; i++) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(acfg, unsup[i]);
        bool set = v && !cJSON_IsNull(v) && !cJSON_IsFalse(v) &&
                   !((cJSON_IsObject(v) || cJSON_IsArray(v)) && cJSON_GetArraySize(v) == 0);
        if (set) {
            s = llv_err(err, LLV_ERR_UNSUPPORTED, "adapter_config.json: '%s' is set; not supported by GGUF LoRA adapters",
                        unsup[i]);
            goto done;
        }
    }
    const cJSON *bias = cJSON_GetObjectItemCaseSensitive(acfg, "bias");
    if (cJSON_IsString(bias) && strcmp(bias->valuestring, "none")) {
        s = llv_err(err, LLV_ERR_UNSUPPORTED, "adapter_config.json: bias '%s' is not supported (only \"none\")",
                    bias->valuestring);
        goto done;
    }
    const cJSON *rs = cJSON_GetObjectItemCaseSensitive(acfg, "use_rslora");
    const cJSON *rp = cJSON_GetObjectItemCaseSensitive(acfg, "rank_pattern");
    bool rank_pattern = cJSON_IsObject(rp) && cJSON_GetArraySize(rp) > 0;
    if (cJSON_IsTrue(rs)) {
        if (rank_pattern) {
            s = llv_err(err, LLV_ERR_UNSUPPORTED, "adapter_config.json: use_rslora with a rank_pattern is not supported");
            goto done;
        }
        /* rsLoRA scales by alpha / sqrt(r); the file's alpha is divided by r at run time */
        alpha *= sqrt(ra->valuedouble);
    }

    if ((s = resolve_base(adapter_dir, base, acfg, &b, err))) goto done;
    path = llv_path_join(adapter_dir, "adapter_model.safetensors");
    if (!path) {
        s = llv_err(err, LLV_ERR_OUT_OF_MEMORY, "out of memory");
        goto done;
    }
    if (!is_file(path)) {
        s = llv_err(err, LLV_ERR_NOT_FOUND, "%s: not found (adapter_model.bin is not supported: save with "
                    "safe_serialization)", path);
        free(path);
        goto done;
    }
    s = llv_st_open(path, &st, err);
    free(path);
    if (s) goto done;

    int64_t nt = llv_st_n_tensors(st);
    items = calloc((size_t)nt + 1, sizeof *items);
    if (!items) {
        s = llv_err(err, LLV_ERR_OUT_OF_MEMORY, "out of memory");
        goto done;
    }
    size_t n_items = 0;
    int64_t max_cols = 1;
    const int64_t H = b.hidden, qd = b.n_head * b.head_dim, kd = b.n_kv * b.head_dim, F = b.ff;
    for (int64_t i = 0; i < nt; i++) {
        const llv_st_tensor *t = llv_st_tensor_at(st, i);
        int layer;
        llv_lora_proj pj;
        bool is_a = false;
        int pr = parse_peft(t->name, &b, &layer, &pj, &is_a);
        if (pr == -1) {
            s = llv_err(err, LLV_ERR_FORMAT, "adapter tensor '%s' does not fit the base: layer index out of range (the "
                        "base has %lld layers)", t->name, (long long)b.n_layer);
            goto done;
        }
        if (pr == -2) {
            s = llv_err(err, LLV_ERR_FORMAT,
                        "adapter tensor '%s' does not fit the base: layer %d of the base is a %s layer, expected "
                        "%s names",
                        t->name, layer, b.is_cross[layer] ? "cross-attention" : "self-attention",
                        b.is_cross[layer] ? "cross_attn.*" : "self_attn.*");
            goto done;
        }
        if (pr != 1) {
            s = llv_err(err, LLV_ERR_UNSUPPORTED,
                        "adapter tensor '%s' is not supported (supported: lora_A/lora_B of the text decoder's "
                        "self_attn/cross_attn q/k/v/o_proj and mlp gate/up/down_proj for a %s base)",
                        t->name, llv_arch_name(b.arch));
            goto done;
        }
        if (t->n_dims != 2 || (t->dtype != LLV_ST_F32 && t->dtype != LLV_ST_F16 && t->dtype != LLV_ST_BF16)) {
            s = llv_err(err, LLV_ERR_FORMAT, "adapter tensor '%s': %d-D %s, expected a 2-D F32/F16/BF16 tensor",
                        t->name, t->n_dims, llv_st_dtype_name(t->dtype));
            goto done;
        }
        size_t k = 0;
        while (k < n_items && !(items[k].layer == layer && items[k].p == pj)) k++;
        if (k == n_items) {
            n_items++;
            items[k].layer = layer;
            items[k].p = pj;
            snprintf(items[k].name, sizeof items[k].name, "blk.%d.%s.weight", layer,
                     llv_lora_proj_suffix(b.is_cross[layer], pj));
        }
        if (is_a) items[k].a = t;
        else items[k].b = t;
        max_cols = LLV_MAX(max_cols, t->shape[1]);
    }
    if (n_items == 0) {
        s = llv_err(err, LLV_ERR_FORMAT, "%s: the adapter has no tensors", adapter_dir);
        goto done;
    }
    for (size_t k = 0; k < n_items; k++) {
        peft_item *it = &items[k];
        if (!it->a || !it->b) {
            s = llv_err(err, LLV_ERR_NOT_FOUND, "adapter tensor '%s' has no lora_%s partner",
                        (it->a ? it->a : it->b)->name, it->a ? "B" : "A");
            goto done;
        }
        int64_t n_in = it->p == LLV_LORA_O ? qd : it->p == LLV_LORA_DOWN ? F : H;
        int64_t n_out = it->p == LLV_LORA_Q ? qd : (it->p == LLV_LORA_K || it->p == LLV_LORA_V) ? kd : (it->p == LLV_LORA_O || it->p == LLV_LORA_DOWN) ? H : F;
        int64_t r = it->a->shape[0];
        if (it->a->shape[1] != n_in || r < 1 || r > LLV_LORA_MAX_RANK) {
            s = llv_err(err, LLV_ERR_FORMAT, "adapter tensor '%s': shape [%lld, %lld], expected [r, %lld] for '%s'",
                        it->a->name, (long long)it->a->shape[0], (long long)it->a->shape[1], (long long)n_in,
                        it->name);
            goto done;
        }
        if (it->b->shape[0] != n_out || it->b->shape[1] != r) {
            s = llv_err(err, LLV_ERR_FORMAT, "adapter tensor '%s': shape [%lld, %lld], expected [%lld, %lld] for '%s'",
                        it->b->name, (long long)it->b->shape[0], (long long)it->b->shape[1], (long long)n_out,
                        (long long)r, it->name);
            goto done;
        }
    }

    if ((s = llv_gguf_writer_create(&w, err))) goto done;
    const cJSON *bn = cJSON_GetObjectItemCaseSensitive(acfg, "base_model_name_or_path");
    size_t dl = strlen(adapter_dir);
    while (dl > 1 && adapter_dir[dl - 1] == '/') dl--;
    size_t db = dl;
    while (db > 0 && adapter_dir[db - 1] != '/') db--;
    char gname[256];
    snprintf(gname, sizeof gname, "%.*s", (int)(dl - db), adapter_dir + db);
    if ((s = llv_gguf_set_str(w, "general.architecture", llv_arch_name(b.arch), err)) ||
        (s = llv_gguf_set_str(w, "general.type", "adapter", err)) ||
        (s = llv_gguf_set_str(w, "general.name", gname, err)) ||
        (s = llv_gguf_set_str(w, "adapter.type", "lora", err)) ||
        (s = llv_gguf_set_f32(w, "adapter.lora.alpha", (float)alpha, err)) ||
        (s = llv_gguf_set_u32(w, "llv.format_version", 1, err)) ||
        (s = llv_gguf_set_str(w, "llv.rope.layout", "adjacent_pairs", err)))
        goto done;
    if (cJSON_IsString(bn) && (s = llv_gguf_set_str(w, "adapter.base_model", bn->valuestring, err))) goto done;
    for (size_t k = 0; k < n_items; k++) {
        char nm[112];
        const peft_item *it = &items[k];
        int64_t ne_a[2] = {it->a->shape[1], it->a->shape[0]}, ne_b[2] = {it->b->shape[1], it->b->shape[0]};
        snprintf(nm, sizeof nm, "%s.lora_a", it->name);
        if ((s = llv_gguf_add_tensor(w, nm, p.type, 2, ne_a, err))) goto done;
        snprintf(nm, sizeof nm, "%s.lora_b", it->name);
        if ((s = llv_gguf_add_tensor(w, nm, p.type, 2, ne_b, err))) goto done;
    }
    rowf = malloc((size_t)max_cols * sizeof(float));
    rowo = malloc((size_t)max_cols * sizeof(float));
    if (!rowf || !rowo) {
        s = llv_err(err, LLV_ERR_OUT_OF_MEMORY, "out of memory");
        goto done;
    }
    if ((s = llv_gguf_writer_begin(w, out_path, err))) goto done;
    for (size_t k = 0; k < n_items; k++) {
        const peft_item *it = &items[k];
        /* self-attention q/k: lora_b rows follow the base weight's row permutation */
        bool self_qk = !b.is_cross[it->layer] && (it->p == LLV_LORA_Q || it->p == LLV_LORA_K);
        int64_t heads = self_qk ? (it->p == LLV_LORA_Q ? b.n_head : b.n_kv) : 0;
        if ((s = write_rows(w, it->a, p.type, 0, rowf, rowo, err)) ||
            (s = write_rows(w, it->b, p.type, heads, rowf, rowo, err))) {
            llv_err_prefix(err, "writing '%s'", it->name);
            goto done;
        }
        if (p.progress && !p.progress("convert", (float)(k + 1) / (float)n_items, p.progress_user)) {
            s = llv_err(err, LLV_ERR_CANCELLED, "conversion cancelled");
            goto done;
        }
    }
    if ((s = llv_gguf_writer_finish(w, err))) goto done;
    llv_log(p.log, p.log_user, LLV_LOG_INFO, "wrote LoRA adapter %s: %zu adapted tensors, alpha %g, %s", out_path,
            n_items, alpha, type_name(p.type));
done:
    if (s) llv_err_prefix(err, "llv_convert_lora");
    cJSON_Delete(acfg);
    llv_st_close(st);
    llv_gguf_writer_free(w);
    free(items);
    free(rowf);
    free(rowo);
    return s;
}
