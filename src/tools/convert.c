/* convert.c - Hugging Face checkpoint directory -> one GGUF file.
 *
 * Input: config.json (MllamaForConditionalGeneration or LlamaForCausalLM),
 * safetensors shard(s), and optionally tokenizer.json / tokenizer_config.json
 * (via llv_convert_tokenizer), generation_config.json, preprocessor_config.json.
 * Output: Ollama's single-file mllama layout (shared/notes/gguf-mllama.md
 * sections 2-3) plus our own keys (llv.format_version = 1, llv.rope.layout,
 * mllama.rope.scaling.*, mllama.vision.image_mean/std, mllama.image_token_index,
 * general.sampling.*), or `llama.*` keys with the same text tensor names.
 *
 * Transforms applied (everything else is copied value for value):
 *  1. Self-attention q/k projection rows (text only) are permuted from HF's
 *     rotate-half order to adjacent-pair order, as Ollama/llama.cpp do: the
 *     rows of each head, viewed [heads, 2, hd/2], are stored [heads, hd/2, 2],
 *     i.e. out row h*hd + 2*i + j = in row h*hd + j*hd/2 + i. RoPE on adjacent
 *     pairs then equals HF's rotate-half RoPE. Recorded as
 *     llv.rope.layout = "adjacent_pairs".
 *  2. Cross-attention q/k projections and q_norm/k_norm are kept exactly as HF
 *     stores them (Ollama permutes the projections; see model.c for the
 *     un-permutation of Ollama files).
 *  3. Vision gates are stored as Ollama stores them, computed in float32 like
 *     torch: v.position_embd.gate = 1 - tanh(g), v.tile_position_embd.gate =
 *     tanh(g) (both from gated_positional_embedding.gate), pre/post tile gates
 *     tanh(g), global layers' attn_gate / ffn_gate tanh(g).
 *  4. Text cross-attention gates (cross_attn_attn_gate, cross_attn_mlp_gate)
 *     are stored raw; the loader applies tanh.
 *  5. rope_freqs.weight (llama3 scaling only) holds Ollama's per-frequency
 *     divisors so other readers see the scaling; our loader prefers the
 *     mllama.rope.scaling.* keys.
 *  6. 1-D tensors (norms, biases, gates, class embedding) are always F32;
 *     tensors of 2+ dims are converted to the requested type with
 *     round-to-nearest-even (same-type copies are bit-exact). Quantized
 *     targets (q8_0 ... q4_k_m) follow llv_quant_tensor_type (quantize.h):
 *     vision F16, Q4_K_M's Q6_K layers, Q8_0/F16 fallbacks for short rows.
 *
 * Memory: tensors stream row chunk by row chunk from the mmapped shards to
 * the writer (a 16 MiB chunk buffer and a 16 MiB float piece); source pages
 * already converted are dropped from our mapping with MADV_DONTNEED as the
 * stream advances (they stay in the page cache), so the resident set stays
 * small even for the 21 GB 11B checkpoint and its 1 GB embedding matrix.
 *
 * config.json written by save_pretrained omits keys equal to the class
 * defaults; the defaults applied here are transformers' MllamaTextConfig /
 * MllamaVisionConfig / LlamaConfig ones (mllama: the 11B values, vision
 * image_size 448, rope_scaling None).
 */
#include "convert.h"

#include "common.h"
#include "gguf.h"
#include "json-file.h"
#include "mmap.h"
#include "model.h"
#include "quantize.h"
#include "safetensors.h"
#include "tokenizer-convert.h"
#include "../../kernels/kernels.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

void llv_convert_params_init(llv_convert_params *out, size_t size) {
    llv_convert_params p;
    memset(&p, 0, sizeof p);
    p.type = LLV_TYPE_BF16;
    llv_params_out(out, size, &p, sizeof p);
}

/* ------------------------------------------------------------------------- */
/* JSON helpers                                                              */
/* ------------------------------------------------------------------------- */

/* Integer value of o[key] (absent or null: def). */
static llv_status jint(const cJSON *o, const char *where, const char *key, int64_t def, int64_t lo, int64_t hi,
                       int64_t *out, llv_error *err) {
    const cJSON *v = o ? cJSON_GetObjectItemCaseSensitive(o, key) : NULL;
    if (!v || cJSON_IsNull(v)) {
        *out = def;
        return LLV_OK;
    }
    if (!cJSON_IsNumber(v) || v->valuedouble != floor(v->valuedouble) || v->valuedouble < (double)lo ||
        v->valuedouble > (double)hi)
        return llv_err(err, LLV_ERR_FORMAT, "%s: '%s' must be an integer in [%lld, %lld]", where, key,
                       (long long)lo, (long long)hi);
    *out = (int64_t)v->valuedouble;
    return LLV_OK;
}

static llv_status jflt(const cJSON *o, const char *where, const char *key, double def, double *out,
                       llv_error *err) {
    const cJSON *v = o ? cJSON_GetObjectItemCaseSensitive(o, key) : NULL;
    if (!v || cJSON_IsNull(v)) {
        *out = def;
        return LLV_OK;
    }
    if (!cJSON_IsNumber(v) || !isfinite(v->valuedouble))
        return llv_err(err, LLV_ERR_FORMAT, "%s: '%s' must be a finite number", where, key);
    *out = v->valuedouble;
    return LLV_OK;
}

/* Integer list (or a single integer) into out[cap]; absent: *n = 0 and *present = false. */
static llv_status jints(const cJSON *o, const char *where, const char *key, int32_t *out, int cap, int *n,
                        bool *present, llv_error *err) {
    const cJSON *v = o ? cJSON_GetObjectItemCaseSensitive(o, key) : NULL;
    *n = 0;
    *present = false;
    if (!v || cJSON_IsNull(v)) return LLV_OK;
    *present = true;
    if (cJSON_IsNumber(v)) {
        if (v->valuedouble != floor(v->valuedouble) || v->valuedouble < 0 || v->valuedouble > INT32_MAX)
            return llv_err(err, LLV_ERR_FORMAT, "%s: '%s' must be a non-negative integer", where, key);
        out[0] = (int32_t)v->valuedouble;
        *n = 1;
        return LLV_OK;
    }
    if (!cJSON_IsArray(v)) return llv_err(err, LLV_ERR_FORMAT, "%s: '%s' must be an integer list", where, key);
    const cJSON *e;
    cJSON_ArrayForEach(e, v) {
        if (*n >= cap) return llv_err(err, LLV_ERR_LIMIT, "%s: '%s' has more than %d entries", where, key, cap);
        if (!cJSON_IsNumber(e) || e->valuedouble != floor(e->valuedouble) || e->valuedouble < 0 ||
            e->valuedouble > INT32_MAX)
            return llv_err(err, LLV_ERR_FORMAT, "%s: '%s' must hold non-negative integers", where, key);
        out[(*n)++] = (int32_t)e->valuedouble;
    }
    return LLV_OK;
}

/* ------------------------------------------------------------------------- */
/* Configuration                                                             */
/* ------------------------------------------------------------------------- */

typedef struct hf_config {
    llv_arch arch;
    char     name[256];
    /* text */
    int64_t vocab, hidden, n_head, n_kv, head_dim, ff, n_layer, max_pos;
    bool    explicit_head_dim;
    double  rms_eps, rope_theta;
    bool    rope_llama3;
    double  rope_factor, rope_low, rope_high;
    int64_t rope_orig;
    int     n_cross;
    int32_t cross[LLV_MAX_CROSS];
    bool    tie;
    int64_t bos, pad;
    int     n_eos;
    int32_t eos[LLV_MAX_EOG];
    int64_t image_token;
    /* vision */
    int64_t v_hidden, v_heads, v_ff, v_layers, v_global, v_image, v_patch, v_tiles, v_channels, v_out;
    int64_t n_aspect; /* rows of the aspect-ratio embeddings: supported ratios + 1 */
    int     n_interm;
    int32_t interm[LLV_MAX_INTERMEDIATE];
    double  v_eps;
    float   mean[3], std[3];
    /* generation defaults */
    bool    has_temp, has_top_p;
    double  temp, top_p;
} hf_config;

/* The structural fields of c as an llv_hparams, for the rules the loader applies
 * too (llv_hparams_check_*); every value was range-checked to fit an int32. */
static void hf_hparams(const hf_config *c, llv_hparams *hp) {
    memset(hp, 0, sizeof *hp);
    hp->n_layer = (int32_t)c->n_layer;
    hp->n_head = (int32_t)c->n_head;
    hp->n_head_kv = (int32_t)c->n_kv;
    hp->n_cross = c->n_cross;
    memcpy(hp->cross_layers, c->cross, sizeof hp->cross_layers);
    hp->v_n_embd = (int32_t)c->v_hidden;
    hp->v_n_head = (int32_t)c->v_heads;
    hp->v_n_layer = (int32_t)c->v_layers;
    hp->v_image_size = (int32_t)c->v_image;
    hp->v_patch_size = (int32_t)c->v_patch;
    hp->v_n_interm = c->n_interm;
    memcpy(hp->v_interm, c->interm, sizeof hp->v_interm);
}

/* Prefixes a failure's message with the config.json section it came from. */
static llv_status in_section(llv_status s, const char *where, llv_error *err) {
    if (s) llv_err_prefix(err, "%s", where);
    return s;
}

static llv_status parse_rope_scaling(const cJSON *tc, hf_config *c, llv_error *err) {
    const cJSON *rs = cJSON_GetObjectItemCaseSensitive(tc, "rope_scaling");
    c->rope_llama3 = false;
    if (!rs || cJSON_IsNull(rs)) return LLV_OK;
    if (!cJSON_IsObject(rs)) return llv_err(err, LLV_ERR_FORMAT, "config.json: 'rope_scaling' must be an object");
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(rs, "rope_type");
    if (!t) t = cJSON_GetObjectItemCaseSensitive(rs, "type");
    if (!cJSON_IsString(t)) return llv_err(err, LLV_ERR_FORMAT, "config.json: rope_scaling has no rope_type");
    if (strcmp(t->valuestring, "default") == 0) return LLV_OK;
    if (strcmp(t->valuestring, "llama3") != 0)
        return llv_err(err, LLV_ERR_UNSUPPORTED, "config.json: rope_scaling type '%s' is not supported (llama3 only)",
                       t->valuestring);
    c->rope_llama3 = true;
    llv_status s;
    if ((s = jflt(rs, "rope_scaling", "factor", 8.0, &c->rope_factor, err)) ||
        (s = jflt(rs, "rope_scaling", "low_freq_factor", 1.0, &c->rope_low, err)) ||
        (s = jflt(rs, "rope_scaling", "high_freq_factor", 4.0, &c->rope_high, err)) ||
        (s = jint(rs, "rope_scaling", "original_max_position_embeddings", 8192, 1, INT32_MAX, &c->rope_orig, err)))
        return s;
    if (!(c->rope_factor > 0) || !(c->rope_high > c->rope_low) || !(c->rope_low > 0))
        return llv_err(err, LLV_ERR_FORMAT, "config.json: rope_scaling factors out of range");
    return LLV_OK;
}

static llv_status parse_text_config(const cJSON *tc, bool mllama, hf_config *c, llv_error *err) {
    const char *w = mllama ? "config.json text_config" : "config.json";
    llv_status s;
    /* class defaults: MllamaTextConfig (11B) or LlamaConfig */
    if ((s = jint(tc, w, "vocab_size", mllama ? 128256 : 32000, 1, INT32_MAX - 16, &c->vocab, err)) ||
        (s = jint(tc, w, "hidden_size", 4096, 1, 1 << 20, &c->hidden, err)) ||
        (s = jint(tc, w, "num_attention_heads", 32, 1, 4096, &c->n_head, err)) ||
        (s = jint(tc, w, "num_key_value_heads", mllama ? 8 : c->n_head, 1, 4096, &c->n_kv, err)) ||
        (s = jint(tc, w, "intermediate_size", mllama ? 14336 : 11008, 1, 1 << 24, &c->ff, err)) ||
        (s = jint(tc, w, "num_hidden_layers", mllama ? 40 : 32, 1, LLV_MAX_LAYERS, &c->n_layer, err)) ||
        (s = jint(tc, w, "max_position_embeddings", mllama ? 131072 : 2048, 1, INT32_MAX, &c->max_pos, err)) ||
        (s = jflt(tc, w, "rms_norm_eps", mllama ? 1e-5 : 1e-6, &c->rms_eps, err)) ||
        (s = jflt(tc, w, "rope_theta", mllama ? 500000.0 : 10000.0, &c->rope_theta, err)))
        return s;
    const cJSON *hd = cJSON_GetObjectItemCaseSensitive(tc, "head_dim");
    c->explicit_head_dim = hd && !cJSON_IsNull(hd);
    if ((s = jint(tc, w, "head_dim", c->hidden / c->n_head, 1, LLV_MAX_HEAD_DIM, &c->head_dim, err))) return s;
    if (!c->explicit_head_dim && c->hidden % c->n_head != 0)
        return llv_err(err, LLV_ERR_FORMAT, "%s: hidden_size %lld not a multiple of num_attention_heads %lld", w,
                       (long long)c->hidden, (long long)c->n_head);
    if (c->head_dim % 2 != 0 || c->head_dim > LLV_MAX_HEAD_DIM)
        return llv_err(err, LLV_ERR_FORMAT, "%s: head_dim %lld must be even and <= %d", w, (long long)c->head_dim,
                       LLV_MAX_HEAD_DIM);
    if ((s = parse_rope_scaling(tc, c, err))) return s;
    const cJSON *tie = cJSON_GetObjectItemCaseSensitive(tc, "tie_word_embeddings");
    c->tie = mllama ? false : (tie ? cJSON_IsTrue(tie) : false);
    if (mllama && tie && cJSON_IsTrue(tie))
        return llv_err(err, LLV_ERR_UNSUPPORTED, "%s: tie_word_embeddings = true is not supported for mllama", w);

    int64_t v = 0;
    if ((s = jint(tc, w, "bos_token_id", mllama ? 128000 : 1, -1, INT32_MAX, &v, err))) return s;
    c->bos = v;
    if ((s = jint(tc, w, "pad_token_id", mllama ? 128004 : -1, -1, INT32_MAX, &v, err))) return s;
    c->pad = v;
    bool present;
    if ((s = jints(tc, w, "eos_token_id", c->eos, LLV_MAX_EOG, &c->n_eos, &present, err))) return s;
    if (!present) {
        c->eos[0] = mllama ? 128001 : 2;
        c->n_eos = 1;
    }

    c->n_cross = 0;
    if (mllama) {
        static const int32_t def_cross[] = {3, 8, 13, 18, 23, 28, 33, 38};
        if ((s = jints(tc, w, "cross_attention_layers", c->cross, LLV_MAX_CROSS, &c->n_cross, &present, err)))
            return s;
        if (!present) {
            memcpy(c->cross, def_cross, sizeof def_cross);
            c->n_cross = 8;
        }
    }
    llv_hparams hp;
    hf_hparams(c, &hp);
    return in_section(llv_hparams_check_text(&hp, err), w, err);
}

static llv_status parse_vision_config(const cJSON *vc, hf_config *c, llv_error *err) {
    const char *w = "config.json vision_config";
    llv_status s;
    if ((s = jint(vc, w, "hidden_size", 1280, 1, 1 << 20, &c->v_hidden, err)) ||
        (s = jint(vc, w, "attention_heads", 16, 1, 4096, &c->v_heads, err)) ||
        (s = jint(vc, w, "intermediate_size", 5120, 1, 1 << 24, &c->v_ff, err)) ||
        (s = jint(vc, w, "num_hidden_layers", 32, 1, LLV_MAX_LAYERS, &c->v_layers, err)) ||
        (s = jint(vc, w, "num_global_layers", 8, 0, LLV_MAX_LAYERS, &c->v_global, err)) ||
        (s = jint(vc, w, "image_size", 448, 1, 1 << 16, &c->v_image, err)) ||
        (s = jint(vc, w, "patch_size", 14, 1, 1 << 16, &c->v_patch, err)) ||
        (s = jint(vc, w, "max_num_tiles", 4, 1, 64, &c->v_tiles, err)) ||
        (s = jint(vc, w, "num_channels", 3, 3, 3, &c->v_channels, err)) ||
        (s = jflt(vc, w, "norm_eps", 1e-5, &c->v_eps, err)))
        return s;
    bool present;
    if ((s = jints(vc, w, "intermediate_layers_indices", c->interm, LLV_MAX_INTERMEDIATE, &c->n_interm, &present,
                   err)))
        return s;
    if (!present) {
        static const int32_t def[] = {3, 7, 15, 23, 30};
        memcpy(c->interm, def, sizeof def);
        c->n_interm = 5;
    }
    llv_hparams hp;
    hf_hparams(c, &hp);
    if ((s = in_section(llv_hparams_check_vision(&hp, err), w, err))) return s;
    if ((s = jint(vc, w, "vision_output_dim", 7680, 1, 1 << 24, &c->v_out, err))) return s;
    if (c->v_out != c->v_hidden * (c->n_interm + 1))
        return llv_err(err, LLV_ERR_FORMAT, "%s: vision_output_dim %lld != hidden_size %lld * (%d intermediate + 1)", w,
                       (long long)c->v_out, (long long)c->v_hidden, c->n_interm);
    const cJSON *ar = cJSON_GetObjectItemCaseSensitive(vc, "supported_aspect_ratios");
    c->n_aspect = 9;
    if (ar && cJSON_IsArray(ar)) c->n_aspect = cJSON_GetArraySize(ar) + 1;
    return LLV_OK;
}

static llv_status parse_config(const char *dir, hf_config *c, llv_log_fn log, void *log_user, llv_error *err) {
    memset(c, 0, sizeof *c);
    cJSON *cfg = NULL, *gen = NULL, *pre = NULL;
    llv_status s = llv_json_read_object(dir, "config.json", true, &cfg, err);
    if (s) return s;
    const char *arch = NULL;
    const cJSON *archs = cJSON_GetObjectItemCaseSensitive(cfg, "architectures");
    if (cJSON_IsArray(archs) && cJSON_IsString(cJSON_GetArrayItem(archs, 0)))
        arch = cJSON_GetArrayItem(archs, 0)->valuestring;
    const cJSON *mt = cJSON_GetObjectItemCaseSensitive(cfg, "model_type");
    const char *model_type = cJSON_IsString(mt) ? mt->valuestring : "";
    if (arch ? strcmp(arch, "MllamaForConditionalGeneration") == 0 : strcmp(model_type, "mllama") == 0) {
        c->arch = LLV_ARCH_MLLAMA;
    } else if (arch ? strcmp(arch, "LlamaForCausalLM") == 0 : strcmp(model_type, "llama") == 0) {
        c->arch = LLV_ARCH_LLAMA;
    } else {
        s = llv_err(err, LLV_ERR_UNSUPPORTED,
                    "%s/config.json: unsupported architecture '%s' (model_type '%s'); supported: "
                    "MllamaForConditionalGeneration, LlamaForCausalLM",
                    dir, arch ? arch : "(none)", model_type);
        goto done;
    }
    bool mllama = c->arch == LLV_ARCH_MLLAMA;

    /* name: config's _name_or_path, else the directory's base name */
    const cJSON *nm = cJSON_GetObjectItemCaseSensitive(cfg, "_name_or_path");
    const char *name = cJSON_IsString(nm) ? nm->valuestring : "";
    if (!*name) {
        size_t n = strlen(dir);
        while (n > 1 && dir[n - 1] == '/') n--;
        size_t b = n;
        while (b > 0 && dir[b - 1] != '/') b--;
        snprintf(c->name, sizeof c->name, "%.*s", (int)(n - b), dir + b);
    } else {
        const char *slash = strrchr(name, '/');
        snprintf(c->name, sizeof c->name, "%s", slash && slash[1] ? slash + 1 : name);
    }

    if (mllama) {
        const cJSON *tc = cJSON_GetObjectItemCaseSensitive(cfg, "text_config");
        const cJSON *vc = cJSON_GetObjectItemCaseSensitive(cfg, "vision_config");
        if ((tc && !cJSON_IsObject(tc)) || (vc && !cJSON_IsObject(vc))) {
            s = llv_err(err, LLV_ERR_FORMAT, "config.json: text_config / vision_config must be objects");
            goto done;
        }
        if ((s = parse_text_config(tc, true, c, err)) || (s = parse_vision_config(vc, c, err))) goto done;
        if ((s = jint(cfg, "config.json", "image_token_index", 128256, 0, INT32_MAX, &c->image_token, err)))
            goto done;
        if (c->image_token >= c->vocab + 8) {
            s = llv_err(err, LLV_ERR_FORMAT, "config.json: image_token_index %lld outside the %lld embedding rows",
                        (long long)c->image_token, (long long)(c->vocab + 8));
            goto done;
        }
    } else {
        if ((s = parse_text_config(cfg, false, c, err))) goto done;
        c->image_token = -1;
    }

    /* generation defaults and ids: generation_config.json overrides config.json */
    if ((s = llv_json_read_object(dir, "generation_config.json", false, &gen, err))) goto done;
    if (gen) {
        int64_t v = 0;
        bool present;
        int n;
        int32_t eos[LLV_MAX_EOG];
        if ((s = jint(gen, "generation_config.json", "bos_token_id", c->bos, -1, INT32_MAX, &v, err))) goto done;
        c->bos = v;
        if ((s = jint(gen, "generation_config.json", "pad_token_id", c->pad, -1, INT32_MAX, &v, err))) goto done;
        c->pad = v;
        if ((s = jints(gen, "generation_config.json", "eos_token_id", eos, LLV_MAX_EOG, &n, &present, err)))
            goto done;
        if (present && n > 0) {
            memcpy(c->eos, eos, sizeof eos);
            c->n_eos = n;
        }
        const cJSON *t = cJSON_GetObjectItemCaseSensitive(gen, "temperature");
        const cJSON *p = cJSON_GetObjectItemCaseSensitive(gen, "top_p");
        if (cJSON_IsNumber(t)) { c->has_temp = true; c->temp = t->valuedouble; }
        if (cJSON_IsNumber(p)) { c->has_top_p = true; c->top_p = p->valuedouble; }
    } else {
        llv_log(log, log_user, LLV_LOG_WARN, "no generation_config.json: ids from config.json");
    }

    if (mllama) {
        static const float clip_mean[3] = {0.48145466f, 0.4578275f, 0.40821073f};
        static const float clip_std[3] = {0.26862954f, 0.26130258f, 0.27577711f};
        memcpy(c->mean, clip_mean, sizeof clip_mean);
        memcpy(c->std, clip_std, sizeof clip_std);
        if ((s = llv_json_read_object(dir, "preprocessor_config.json", false, &pre, err))) goto done;
        if (!pre) {
            llv_log(log, log_user, LLV_LOG_WARN, "no preprocessor_config.json: CLIP mean/std assumed");
        } else {
            const char *keys[2] = {"image_mean", "image_std"};
            float *dst[2] = {c->mean, c->std};
            for (int k = 0; k < 2; k++) {
                const cJSON *a = cJSON_GetObjectItemCaseSensitive(pre, keys[k]);
                if (!a) continue;
                if (!cJSON_IsArray(a) || cJSON_GetArraySize(a) != 3) {
                    s = llv_err(err, LLV_ERR_FORMAT, "preprocessor_config.json: '%s' must be a list of 3 numbers",
                                keys[k]);
                    goto done;
                }
                for (int i = 0; i < 3; i++) {
                    const cJSON *e = cJSON_GetArrayItem(a, i);
                    if (!cJSON_IsNumber(e) || (k == 1 && !(e->valuedouble > 0))) {
                        s = llv_err(err, LLV_ERR_FORMAT, "preprocessor_config.json: bad '%s'[%d]", keys[k], i);
                        goto done;
                    }
                    dst[k][i] = (float)e->valuedouble;
                }
            }
            int64_t tiles = 0, h = c->v_image, wd = c->v_image;
            if ((s = jint(pre, "preprocessor_config.json", "max_image_tiles", c->v_tiles, 1, 64, &tiles, err)))
                goto done;
            if (tiles != c->v_tiles) {
                s = llv_err(err, LLV_ERR_FORMAT,
                            "preprocessor_config.json: max_image_tiles %lld != vision_config max_num_tiles %lld",
                            (long long)tiles, (long long)c->v_tiles);
                goto done;
            }
            const cJSON *size = cJSON_GetObjectItemCaseSensitive(pre, "size");
            if (cJSON_IsObject(size)) {
                if ((s = jint(size, "preprocessor_config.json size", "height", c->v_image, 1, 1 << 16, &h, err)) ||
                    (s = jint(size, "preprocessor_config.json size", "width", c->v_image, 1, 1 << 16, &wd, err)))
                    goto done;
            }
            if (h != c->v_image || wd != c->v_image) {
                s = llv_err(err, LLV_ERR_FORMAT,
                            "preprocessor_config.json: size %lldx%lld != vision_config image_size %lld",
                            (long long)h, (long long)wd, (long long)c->v_image);
                goto done;
            }
        }
    }
    if (c->bos >= c->vocab || c->pad >= c->vocab) {
        s = llv_err(err, LLV_ERR_FORMAT, "bos %lld / pad %lld outside the vocabulary of %lld", (long long)c->bos,
                    (long long)c->pad, (long long)c->vocab);
        goto done;
    }
    for (int i = 0; i < c->n_eos; i++)
        if (c->eos[i] >= c->vocab) {
            s = llv_err(err, LLV_ERR_FORMAT, "eos id %d outside the vocabulary of %lld", c->eos[i],
                        (long long)c->vocab);
            goto done;
        }
done:
    cJSON_Delete(cfg);
    cJSON_Delete(gen);
    cJSON_Delete(pre);
    return s;
}

/* ------------------------------------------------------------------------- */
/* Tensor plan                                                               */
/* ------------------------------------------------------------------------- */

typedef enum xform { X_NONE, X_PERMUTE, X_GATE_ONE_MINUS_TANH, X_GATE_TANH } xform;

typedef struct plan_item {
    char                 name[96];
    const llv_st_tensor *src;       /* NULL: computed (rope_freqs) */
    xform                x;
    int64_t              heads;     /* X_PERMUTE */
    int                  type;
    int                  n_dims;
    int64_t              ne[LLV_MAX_DIMS];
} plan_item;

typedef struct plan {
    plan_item *items;
    size_t     n, cap;
    const llv_st *st;
    const char *const *prefixes;    /* candidate prefixes for the current group */
    int         type;               /* target type of 2-D+ tensors */
    float       rope_freqs[LLV_MAX_HEAD_DIM / 2];
    int64_t     n_rope_freqs;
} plan;

/* Adds one tensor: HF name = one of prefixes + suffix; shape in PyTorch order. */
static llv_status plan_add(plan *p, const char *gguf_name, const char *suffix, int n_dims, const int64_t *shape,
                           xform x, int64_t heads, llv_error *err) {
    const llv_st_tensor *t = NULL;
    char hf[256], first[256] = "";
    for (int i = 0; p->prefixes[i] && !t; i++) {
        snprintf(hf, sizeof hf, "%s%s", p->prefixes[i], suffix);
        if (i == 0) snprintf(first, sizeof first, "%s", hf);
        t = llv_st_find(p->st, hf);
    }
    if (!t) {
        if (p->prefixes[1]) {
            snprintf(hf, sizeof hf, "%s%s", p->prefixes[1], suffix);
            return llv_err(err, LLV_ERR_NOT_FOUND, "missing tensor '%s' (also tried '%s') for '%s'", first, hf,
                           gguf_name);
        }
        return llv_err(err, LLV_ERR_NOT_FOUND, "missing tensor '%s' for '%s'", first, gguf_name);
    }
    bool ok = t->n_dims == n_dims;
    for (int i = 0; ok && i < n_dims; i++) ok = t->shape[i] == shape[i];
    if (!ok) {
        char want[128] = "", got[128] = "";
        size_t a = 0, b = 0;
        for (int i = 0; i < n_dims; i++)
            a += (size_t)snprintf(want + a, sizeof want - a, "%s%lld", i ? ", " : "", (long long)shape[i]);
        for (int i = 0; i < t->n_dims && b < sizeof got - 24; i++)
            b += (size_t)snprintf(got + b, sizeof got - b, "%s%lld", i ? ", " : "", (long long)t->shape[i]);
        return llv_err(err, LLV_ERR_FORMAT, "tensor '%s': shape [%s], expected [%s] from config.json", t->name, got,
                       want);
    }
    if (t->dtype != LLV_ST_F32 && t->dtype != LLV_ST_F16 && t->dtype != LLV_ST_BF16)
        return llv_err(err, LLV_ERR_UNSUPPORTED, "tensor '%s': dtype %s not supported (F32, F16, BF16)", t->name,
                       llv_st_dtype_name(t->dtype));
    if (p->n == p->cap) {
        size_t nc = p->cap ? p->cap * 2 : 256;
        plan_item *ni = realloc(p->items, nc * sizeof *ni);
        if (!ni) return llv_err(err, LLV_ERR_OUT_OF_MEMORY, "out of memory");
        p->items = ni;
        p->cap = nc;
    }
    plan_item *it = &p->items[p->n++];
    memset(it, 0, sizeof *it);
    snprintf(it->name, sizeof it->name, "%s", gguf_name);
    it->src = t;
    it->x = x;
    it->heads = heads;
    it->n_dims = n_dims;
    for (int i = 0; i < LLV_MAX_DIMS; i++) it->ne[i] = i < n_dims ? shape[n_dims - 1 - i] : 1;
    it->type = n_dims >= 2 ? p->type : LLV_TYPE_F32;
    return LLV_OK;
}

#define S1(a) ((const int64_t[]){a})
#define S2(a, b) ((const int64_t[]){a, b})
#define S4(a, b, c, d) ((const int64_t[]){a, b, c, d})

static llv_status plan_text(plan *p, const hf_config *c, llv_error *err) {
    static const char *const mllama_pfx[] = {"language_model.model.", "model.language_model.", NULL};
    static const char *const llama_pfx[] = {"model.", NULL};
    static const char *const mllama_head[] = {"language_model.", "", NULL};
    static const char *const llama_head[] = {"", NULL};
    bool ml = c->arch == LLV_ARCH_MLLAMA;
    int64_t H = c->hidden, hd = c->head_dim, F = c->ff, qd = c->n_head * hd, kd = c->n_kv * hd;
    int64_t rows = ml ? c->vocab + 8 : c->vocab;
    llv_status s;
    p->prefixes = ml ? mllama_pfx : llama_pfx;
    if ((s = plan_add(p, "token_embd.weight", "embed_tokens.weight", 2, S2(rows, H), X_NONE, 0, err))) return s;
    if ((s = plan_add(p, "output_norm.weight", "norm.weight", 1, S1(H), X_NONE, 0, err))) return s;
    p->prefixes = ml ? mllama_head : llama_head;
    if (!c->tie) {
        if ((s = plan_add(p, "output.weight", "lm_head.weight", 2, S2(c->vocab, H), X_NONE, 0, err))) return s;
    }
    p->prefixes = ml ? mllama_pfx : llama_pfx;
    int ci = 0;
    for (int64_t l = 0; l < c->n_layer; l++) {
        bool cross = ci < c->n_cross && c->cross[ci] == l;
        if (cross) ci++;
        char g[96], h[160];
#define ADD(gs, hs, nd, shape, x, heads)                                                 \
    do {                                                                                 \
        snprintf(g, sizeof g, "blk.%lld.%s", (long long)l, gs);                          \
        snprintf(h, sizeof h, "layers.%lld.%s", (long long)l, hs);                       \
        if ((s = plan_add(p, g, h, nd, shape, x, heads, err))) return s;                 \
    } while (0)
        ADD("attn_norm.weight", "input_layernorm.weight", 1, S1(H), X_NONE, 0);
        if (cross) {
            ADD("cross_attn_q_proj.weight", "cross_attn.q_proj.weight", 2, S2(qd, H), X_NONE, 0);
            ADD("cross_attn_k_proj.weight", "cross_attn.k_proj.weight", 2, S2(kd, H), X_NONE, 0);
            ADD("cross_attn_v_proj.weight", "cross_attn.v_proj.weight", 2, S2(kd, H), X_NONE, 0);
            ADD("cross_attn_o_proj.weight", "cross_attn.o_proj.weight", 2, S2(H, qd), X_NONE, 0);
            ADD("cross_attn_q_norm.weight", "cross_attn.q_norm.weight", 1, S1(hd), X_NONE, 0);
            ADD("cross_attn_k_norm.weight", "cross_attn.k_norm.weight", 1, S1(hd), X_NONE, 0);
            ADD("cross_attn_attn_gate", "cross_attn_attn_gate", 1, S1(1), X_NONE, 0);
            ADD("cross_attn_mlp_gate", "cross_attn_mlp_gate", 1, S1(1), X_NONE, 0);
        } else {
            ADD("attn_q.weight", "self_attn.q_proj.weight", 2, S2(qd, H), X_PERMUTE, c->n_head);
            ADD("attn_k.weight", "self_attn.k_proj.weight", 2, S2(kd, H), X_PERMUTE, c->n_kv);
            ADD("attn_v.weight", "self_attn.v_proj.weight", 2, S2(kd, H), X_NONE, 0);
            ADD("attn_output.weight", "self_attn.o_proj.weight", 2, S2(H, qd), X_NONE, 0);
        }
        ADD("ffn_norm.weight", "post_attention_layernorm.weight", 1, S1(H), X_NONE, 0);
        ADD("ffn_gate.weight", "mlp.gate_proj.weight", 2, S2(F, H), X_NONE, 0);
        ADD("ffn_up.weight", "mlp.up_proj.weight", 2, S2(F, H), X_NONE, 0);
        ADD("ffn_down.weight", "mlp.down_proj.weight", 2, S2(H, F), X_NONE, 0);
#undef ADD
    }
    return LLV_OK;
}

static llv_status plan_vision(plan *p, const hf_config *c, llv_error *err) {
    static const char *const vpfx[] = {"vision_model.", "model.vision_model.", NULL};
    static const char *const mpfx[] = {"multi_modal_projector.", "model.multi_modal_projector.", NULL};
    int64_t D = c->v_hidden, F = c->v_ff, T = c->v_tiles, A = c->n_aspect, pz = c->v_patch;
    int64_t grid = c->v_image / pz, P = grid * grid + 1;
    llv_status s;
    p->prefixes = vpfx;
    if ((s = plan_add(p, "v.patch_embd.weight", "patch_embedding.weight", 4, S4(D, c->v_channels, pz, pz), X_NONE,
                      0, err)) ||
        (s = plan_add(p, "v.class_embd", "class_embedding", 1, S1(D), X_NONE, 0, err)) ||
        (s = plan_add(p, "v.position_embd.weight", "gated_positional_embedding.embedding", 2, S2(P, D), X_NONE, 0,
                      err)) ||
        (s = plan_add(p, "v.position_embd.gate", "gated_positional_embedding.gate", 1, S1(1), X_GATE_ONE_MINUS_TANH,
                      0, err)) ||
        (s = plan_add(p, "v.tile_position_embd.weight", "gated_positional_embedding.tile_embedding.weight", 2,
                      S2(A, T * P * D), X_NONE, 0, err)) ||
        (s = plan_add(p, "v.tile_position_embd.gate", "gated_positional_embedding.gate", 1, S1(1), X_GATE_TANH, 0,
                      err)) ||
        (s = plan_add(p, "v.pre_tile_position_embd.weight", "pre_tile_positional_embedding.embedding.weight", 2,
                      S2(A, T * D), X_NONE, 0, err)) ||
        (s = plan_add(p, "v.pre_tile_position_embd.gate", "pre_tile_positional_embedding.gate", 1, S1(1),
                      X_GATE_TANH, 0, err)) ||
        (s = plan_add(p, "v.post_tile_position_embd.weight", "post_tile_positional_embedding.embedding.weight", 2,
                      S2(A, T * D), X_NONE, 0, err)) ||
        (s = plan_add(p, "v.post_tile_position_embd.gate", "post_tile_positional_embedding.gate", 1, S1(1),
                      X_GATE_TANH, 0, err)) ||
        (s = plan_add(p, "v.pre_ln.weight", "layernorm_pre.weight", 1, S1(D), X_NONE, 0, err)) ||
        (s = plan_add(p, "v.pre_ln.bias", "layernorm_pre.bias", 1, S1(D), X_NONE, 0, err)) ||
        (s = plan_add(p, "v.post_ln.weight", "layernorm_post.weight", 1, S1(D), X_NONE, 0, err)) ||
        (s = plan_add(p, "v.post_ln.bias", "layernorm_post.bias", 1, S1(D), X_NONE, 0, err)))
        return s;
    for (int glob = 0; glob < 2; glob++) {
        int64_t n = glob ? c->v_global : c->v_layers;
        for (int64_t l = 0; l < n; l++) {
            char g[96], h[160];
#define ADD(gs, hs, nd, shape, x)                                                                       \
    do {                                                                                                \
        snprintf(g, sizeof g, "v.%sblk.%lld.%s", glob ? "global." : "", (long long)l, gs);              \
        snprintf(h, sizeof h, "%s.layers.%lld.%s", glob ? "global_transformer" : "transformer",         \
                 (long long)l, hs);                                                                     \
        if ((s = plan_add(p, g, h, nd, shape, x, 0, err))) return s;                                    \
    } while (0)
            ADD("attn_q.weight", "self_attn.q_proj.weight", 2, S2(D, D), X_NONE);
            ADD("attn_k.weight", "self_attn.k_proj.weight", 2, S2(D, D), X_NONE);
            ADD("attn_v.weight", "self_attn.v_proj.weight", 2, S2(D, D), X_NONE);
            ADD("attn_output.weight", "self_attn.o_proj.weight", 2, S2(D, D), X_NONE);
            ADD("attn_norm.weight", "input_layernorm.weight", 1, S1(D), X_NONE);
            ADD("attn_norm.bias", "input_layernorm.bias", 1, S1(D), X_NONE);
            ADD("ffn_norm.weight", "post_attention_layernorm.weight", 1, S1(D), X_NONE);
            ADD("ffn_norm.bias", "post_attention_layernorm.bias", 1, S1(D), X_NONE);
            ADD("ffn_up.weight", "mlp.fc1.weight", 2, S2(F, D), X_NONE);
            ADD("ffn_up.bias", "mlp.fc1.bias", 1, S1(F), X_NONE);
            ADD("ffn_down.weight", "mlp.fc2.weight", 2, S2(D, F), X_NONE);
            ADD("ffn_down.bias", "mlp.fc2.bias", 1, S1(D), X_NONE);
            if (glob) {
                ADD("attn_gate", "gate_attn", 1, S1(1), X_GATE_TANH);
                ADD("ffn_gate", "gate_ffn", 1, S1(1), X_GATE_TANH);
            }
#undef ADD
        }
    }
    p->prefixes = mpfx;
    if ((s = plan_add(p, "mm.0.weight", "weight", 2, S2(c->hidden, c->v_out), X_NONE, 0, err)) ||
        (s = plan_add(p, "mm.0.bias", "bias", 1, S1(c->hidden), X_NONE, 0, err)))
        return s;
    return LLV_OK;
}

/* Ollama's llama3 divisors per frequency (convert_llama.go ropeFactors). */
static void rope_divisors(const hf_config *c, float *out) {
    int64_t half = c->head_dim / 2;
    double low_wl = (double)c->rope_orig / c->rope_low, high_wl = (double)c->rope_orig / c->rope_high;
    for (int64_t i = 0; i < half; i++) {
        double freq = 1.0 / pow(c->rope_theta, (double)(2 * i) / (double)c->head_dim);
        double wl = 2.0 * M_PI / freq;
        double f;
        if (wl < high_wl) f = 1.0;
        else if (wl > low_wl) f = c->rope_factor;
        else {
            double smooth = ((double)c->rope_orig / wl - c->rope_low) / (c->rope_high - c->rope_low);
            f = 1.0 / ((1.0 - smooth) / c->rope_factor + smooth);
        }
        out[i] = (float)f;
    }
}

/* ------------------------------------------------------------------------- */
/* Metadata                                                                  */
/* ------------------------------------------------------------------------- */

static llv_status write_kvs(llv_gguf_writer *w, const hf_config *c, int type, bool tok_found, llv_error *err) {
    bool ml = c->arch == LLV_ARCH_MLLAMA;
    const char *a = llv_arch_name(c->arch);
    char k[128];
    llv_status s;
#define KEY(suffix) (snprintf(k, sizeof k, "%s.%s", a, suffix), k)
    uint32_t ftype = llv_quant_file_type((llv_type)type);
    if ((s = llv_gguf_set_str(w, "general.architecture", a, err)) ||
        (s = llv_gguf_set_str(w, "general.name", c->name, err)) ||
        (s = llv_gguf_set_u32(w, "general.file_type", ftype, err)) ||
        (s = llv_gguf_set_u32(w, "general.quantization_version", 2, err)) ||
        (s = llv_gguf_set_u32(w, "llv.format_version", 1, err)) ||
        (s = llv_gguf_set_str(w, "llv.rope.layout", "adjacent_pairs", err)) ||
        (s = llv_gguf_set_u32(w, KEY("vocab_size"), (uint32_t)c->vocab, err)) ||
        (s = llv_gguf_set_u32(w, KEY("block_count"), (uint32_t)c->n_layer, err)) ||
        (s = llv_gguf_set_u32(w, KEY("context_length"), (uint32_t)c->max_pos, err)) ||
        (s = llv_gguf_set_u32(w, KEY("embedding_length"), (uint32_t)c->hidden, err)) ||
        (s = llv_gguf_set_u32(w, KEY("feed_forward_length"), (uint32_t)c->ff, err)) ||
        (s = llv_gguf_set_u32(w, KEY("attention.head_count"), (uint32_t)c->n_head, err)) ||
        (s = llv_gguf_set_u32(w, KEY("attention.head_count_kv"), (uint32_t)c->n_kv, err)) ||
        (s = llv_gguf_set_u32(w, KEY("rope.dimension_count"), (uint32_t)c->head_dim, err)) ||
        (s = llv_gguf_set_f32(w, KEY("rope.freq_base"), (float)c->rope_theta, err)) ||
        (s = llv_gguf_set_f32(w, KEY("attention.layer_norm_rms_epsilon"), (float)c->rms_eps, err)))
        return s;
    if (c->explicit_head_dim && c->head_dim * c->n_head != c->hidden) {
        if ((s = llv_gguf_set_u32(w, KEY("attention.key_length"), (uint32_t)c->head_dim, err)) ||
            (s = llv_gguf_set_u32(w, KEY("attention.value_length"), (uint32_t)c->head_dim, err)))
            return s;
    }
    if (c->rope_llama3) {
        if ((s = llv_gguf_set_str(w, KEY("rope.scaling.type"), "llama3", err)) ||
            (s = llv_gguf_set_f32(w, KEY("rope.scaling.factor"), (float)c->rope_factor, err)) ||
            (s = llv_gguf_set_f32(w, KEY("rope.scaling.low_freq_factor"), (float)c->rope_low, err)) ||
            (s = llv_gguf_set_f32(w, KEY("rope.scaling.high_freq_factor"), (float)c->rope_high, err)) ||
            (s = llv_gguf_set_u32(w, KEY("rope.scaling.original_context_length"), (uint32_t)c->rope_orig, err)))
            return s;
    }
    if (ml) {
        if ((s = llv_gguf_set_arr(w, "mllama.attention.cross_attention_layers", LLV_GGUF_I32, c->cross,
                                  (size_t)c->n_cross, err)) ||
            (s = llv_gguf_set_u32(w, "mllama.image_token_index", (uint32_t)c->image_token, err)) ||
            (s = llv_gguf_set_u32(w, "mllama.vision.block_count", (uint32_t)c->v_layers, err)) ||
            (s = llv_gguf_set_u32(w, "mllama.vision.global.block_count", (uint32_t)c->v_global, err)) ||
            (s = llv_gguf_set_arr(w, "mllama.vision.intermediate_layers_indices", LLV_GGUF_I32, c->interm,
                                  (size_t)c->n_interm, err)) ||
            (s = llv_gguf_set_u32(w, "mllama.vision.embedding_length", (uint32_t)c->v_hidden, err)) ||
            (s = llv_gguf_set_u32(w, "mllama.vision.feed_forward_length", (uint32_t)c->v_ff, err)) ||
            (s = llv_gguf_set_u32(w, "mllama.vision.attention.head_count", (uint32_t)c->v_heads, err)) ||
            (s = llv_gguf_set_f32(w, "mllama.vision.attention.layer_norm_epsilon", (float)c->v_eps, err)) ||
            (s = llv_gguf_set_u32(w, "mllama.vision.image_size", (uint32_t)c->v_image, err)) ||
            (s = llv_gguf_set_u32(w, "mllama.vision.patch_size", (uint32_t)c->v_patch, err)) ||
            (s = llv_gguf_set_u32(w, "mllama.vision.max_num_tiles", (uint32_t)c->v_tiles, err)) ||
            (s = llv_gguf_set_u32(w, "mllama.vision.num_channels", (uint32_t)c->v_channels, err)) ||
            (s = llv_gguf_set_arr(w, "mllama.vision.image_mean", LLV_GGUF_F32, c->mean, 3, err)) ||
            (s = llv_gguf_set_arr(w, "mllama.vision.image_std", LLV_GGUF_F32, c->std, 3, err)))
            return s;
    }
    if (c->has_temp && (s = llv_gguf_set_f32(w, "general.sampling.temp", (float)c->temp, err))) return s;
    if (c->has_top_p && (s = llv_gguf_set_f32(w, "general.sampling.top_p", (float)c->top_p, err))) return s;
    /* ids from generation_config/config win over the tokenizer's guesses */
    if (c->bos >= 0 && (s = llv_gguf_set_u32(w, "tokenizer.ggml.bos_token_id", (uint32_t)c->bos, err))) return s;
    if (c->pad >= 0 && (s = llv_gguf_set_u32(w, "tokenizer.ggml.padding_token_id", (uint32_t)c->pad, err)))
        return s;
    if (c->n_eos > 0) {
        if (!tok_found && (s = llv_gguf_set_u32(w, "tokenizer.ggml.eos_token_id", (uint32_t)c->eos[0], err)))
            return s;
        if ((s = llv_gguf_set_arr(w, "tokenizer.ggml.eos_token_ids", LLV_GGUF_I32, c->eos, (size_t)c->n_eos, err)))
            return s;
    }
#undef KEY
    return LLV_OK;
}

/* ------------------------------------------------------------------------- */
/* Streaming                                                                 */
/* ------------------------------------------------------------------------- */

static bool same_type(llv_st_dtype d, int t) {
    return (d == LLV_ST_F32 && t == LLV_TYPE_F32) || (d == LLV_ST_F16 && t == LLV_TYPE_F16) ||
           (d == LLV_ST_BF16 && t == LLV_TYPE_BF16);
}

#define CHUNK_BYTES (16u << 20)
#define PIECE_ELEMS (CHUNK_BYTES / 4)

/* Streams one tensor through `chunk` (CHUNK_BYTES) in pieces of at most
 * PIECE_ELEMS elements; rowf holds PIECE_ELEMS floats. */
static llv_status stream_item(llv_gguf_writer *w, const plan_item *it, const float *computed, float *rowf,
                              uint8_t *chunk, llv_threadpool *pool, llv_error *err) {
    if (!it->src) return llv_gguf_writer_write(w, computed, (size_t)it->ne[0] * 4, err);
    const llv_st_tensor *t = it->src;
    if (it->x == X_GATE_ONE_MINUS_TANH || it->x == X_GATE_TANH) {
        float g;
        llv_st_row_to_f32(t, t->data, 1, &g);
        float th = tanhf(g); /* float32, as torch computes it */
        float v = it->x == X_GATE_TANH ? th : 1.0f - th;
        return llv_gguf_writer_write(w, &v, 4, err);
    }
    int64_t ne0 = it->ne[0], rows = it->ne[1] * it->ne[2] * it->ne[3];
    size_t ssz = llv_st_dtype_size(t->dtype), dsz = llv_type_block_bytes(it->type);
    int64_t bs = llv_type_block_size(it->type);
    bool copy = same_type(t->dtype, it->type), quant = llv_quant_type_is_quantized(it->type);
    /* quantized: float pieces are staged in rowf ([0, nf) -> chunk + q0) and
     * encoded in parallel when rowf is full or the chunk is written */
    size_t q0 = 0;
    int64_t nf = 0;
#define QFLUSH()                                                               \
    do {                                                                       \
        if (nf) llv_quant_from_f32(pool, it->type, rowf, chunk + q0, nf);      \
        nf = 0;                                                                \
    } while (0)
    int64_t hd = it->x == X_PERMUTE ? rows / it->heads : 0;
    size_t fill = 0, dropped = 0;
    llv_status s = LLV_OK;
    for (int64_t r = 0; r < rows; r++) {
        int64_t sr = r;
        if (hd) sr = llv_convert_rope_src_row(r, hd);
        const uint8_t *src = (const uint8_t *)t->data + (size_t)sr * (size_t)ne0 * ssz;
        for (int64_t e0 = 0; e0 < ne0; e0 += PIECE_ELEMS) {
            int64_t m = LLV_MIN((int64_t)PIECE_ELEMS, ne0 - e0);
            size_t nb = (size_t)(m / bs) * dsz;
            if (fill + nb > CHUNK_BYTES) {
                QFLUSH();
                if ((s = llv_gguf_writer_write(w, chunk, fill, err))) return s;
                fill = 0;
                /* source rows below this one (whole heads when permuting) are done */
                size_t used = (size_t)(hd ? r / hd * hd : r) * (size_t)ne0 * ssz;
                if (used > dropped + CHUNK_BYTES) {
                    llv_drop_pages((const uint8_t *)t->data + dropped, used - dropped);
                    dropped = used;
                }
            }
            if (copy) {
                memcpy(chunk + fill, src + (size_t)e0 * ssz, nb);
            } else if (quant) {
                if (nf + m > (int64_t)PIECE_ELEMS) QFLUSH();
                if (nf == 0) q0 = fill;
                llv_st_row_to_f32(t, src + (size_t)e0 * ssz, m, rowf + nf);
                nf += m;
            } else {
                llv_st_row_to_f32(t, src + (size_t)e0 * ssz, m, rowf);
                llv_kernels_ref()->from_f32[it->type](rowf, chunk + fill, m);
            }
            fill += nb;
        }
    }
    QFLUSH();
#undef QFLUSH
    if (fill) s = llv_gguf_writer_write(w, chunk, fill, err);
    llv_drop_pages(t->data, t->nbytes);
    return s;
}

/* ------------------------------------------------------------------------- */
/* Entry point                                                               */
/* ------------------------------------------------------------------------- */

llv_status llv_convert(const char *hf_dir, const char *out_path, const llv_convert_params *params, llv_error *err) {
    llv_err_clear(err);
    LLV_PARAMS_IN(llv_convert_params, params, err);
    llv_convert_params p = params ? *params : llv_convert_default_params();
    if (!hf_dir || !out_path) return llv_err(err, LLV_ERR_INVALID_ARGUMENT, "llv_convert: NULL path");
    if (!llv_quant_target_valid(p.type))
        return llv_err(err, LLV_ERR_UNSUPPORTED,
                       "llv_convert: type %s not supported (f32, f16, bf16, q8_0, q4_0, q4_1, q5_0, q5_1, "
                       "q2_k..q6_k, q4_k_m)", llv_type_name(p.type) ? llv_type_name(p.type) : "?");
    double t0 = llv_time_s();
    llv_gguf_writer *w = NULL;
    llv_st *st = NULL;
    plan pl;
    memset(&pl, 0, sizeof pl);
    float *rowf = NULL;
    uint8_t *chunk = NULL;
    llv_threadpool *pool = NULL;
    hf_config c;
    llv_status s;

    if ((s = llv_gguf_writer_create(&w, err))) return s;
    bool tok_found = false;
    if (p.vocab_only) {
        if ((s = llv_convert_tokenizer(hf_dir, w, &tok_found, err))) goto fail;
        if (!tok_found) {
            s = llv_err(err, LLV_ERR_NOT_FOUND, "%s: no tokenizer.json (needed for --vocab-only)", hf_dir);
            goto fail;
        }
        /* llama.cpp's vocabulary files use the llama architecture and no tensors */
        if ((s = llv_gguf_set_str(w, "general.architecture", "llama", err)) ||
            (s = llv_gguf_set_u32(w, "llv.format_version", 1, err)))
            goto fail;
        if ((s = llv_gguf_writer_begin(w, out_path, err)) || (s = llv_gguf_writer_finish(w, err))) goto fail;
        llv_gguf_writer_free(w);
        llv_log(p.log, p.log_user, LLV_LOG_INFO, "wrote vocabulary-only %s", out_path);
        return LLV_OK;
    }

    if ((s = parse_config(hf_dir, &c, p.log, p.log_user, err))) goto fail;
    llv_log(p.log, p.log_user, LLV_LOG_INFO, "%s: %s, %lld layers, hidden %lld, vocab %lld",
            hf_dir, llv_arch_name(c.arch), (long long)c.n_layer, (long long)c.hidden,
            (long long)c.vocab);
    if ((s = llv_st_open(hf_dir, &st, err))) {
        llv_err_prefix(err, "%s", hf_dir);
        goto fail;
    }
    pl.st = st;
    pl.type = p.type;
    if ((s = plan_text(&pl, &c, err))) goto fail;
    if (c.rope_llama3) {
        rope_divisors(&c, pl.rope_freqs);
        pl.n_rope_freqs = c.head_dim / 2;
        if (pl.n == pl.cap) { /* room for one computed item */
            plan_item *ni = realloc(pl.items, (pl.cap + 1) * sizeof *ni);
            if (!ni) { s = llv_err(err, LLV_ERR_OUT_OF_MEMORY, "out of memory"); goto fail; }
            pl.items = ni;
            pl.cap++;
        }
        plan_item *it = &pl.items[pl.n++];
        memset(it, 0, sizeof *it);
        snprintf(it->name, sizeof it->name, "rope_freqs.weight");
        it->type = LLV_TYPE_F32;
        it->n_dims = 1;
        it->ne[0] = pl.n_rope_freqs;
        it->ne[1] = it->ne[2] = it->ne[3] = 1;
    }
    if (c.arch == LLV_ARCH_MLLAMA && (s = plan_vision(&pl, &c, err))) goto fail;
    {
        /* per-tensor types of the target (quantized: the llama.cpp-style mix) */
        llv_quant_policy pol = {.target = p.type, .n_layer = c.n_layer};
        bool quantized = false;
        for (size_t i = 0; i < pl.n; i++) {
            pol.has_output |= strcmp(pl.items[i].name, "output.weight") == 0;
            llv_quant_policy_note(&pol, pl.items[i].name);
        }
        for (size_t i = 0; i < pl.n; i++) {
            plan_item *it = &pl.items[i];
            if (it->n_dims >= 2) it->type = llv_quant_tensor_type(&pol, it->name, it->n_dims, it->ne);
            quantized |= llv_quant_type_is_quantized(it->type);
        }
        long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
        if (quantized && (s = llv_threadpool_create((int)LLV_MAX(1, LLV_MIN(16, ncpu)), &pool, err))) goto fail;
    }
    {
        size_t used = 0;
        for (size_t i = 0; i < pl.n; i++) used += pl.items[i].src != NULL;
        int64_t n_src = llv_st_n_tensors(st);
        /* the shared position gate is used twice */
        if (c.arch == LLV_ARCH_MLLAMA) used--;
        if ((int64_t)used < n_src)
            llv_log(p.log, p.log_user, LLV_LOG_WARN, "%lld source tensors not converted (unknown names)",
                    (long long)(n_src - (int64_t)used));
    }

    if ((s = llv_convert_tokenizer(hf_dir, w, &tok_found, err))) goto fail;
    if (!tok_found) llv_log(p.log, p.log_user, LLV_LOG_WARN, "no tokenizer.json: the file has no vocabulary");
    if ((s = write_kvs(w, &c, p.type, tok_found, err))) goto fail;

    uint64_t total = 0, done = 0;
    for (size_t i = 0; i < pl.n; i++) {
        plan_item *it = &pl.items[i];
        if ((s = llv_gguf_add_tensor(w, it->name, it->type, it->n_dims, it->ne, err))) goto fail;
        total += it->src ? it->src->nbytes : 4;
    }
    rowf = malloc((size_t)PIECE_ELEMS * sizeof(float));
    chunk = malloc(CHUNK_BYTES);
    if (!rowf || !chunk) {
        s = llv_err(err, LLV_ERR_OUT_OF_MEMORY, "out of memory");
        goto fail;
    }
    if ((s = llv_gguf_writer_begin(w, out_path, err))) goto fail;
    for (size_t i = 0; i < pl.n; i++) {
        if ((s = stream_item(w, &pl.items[i], pl.rope_freqs, rowf, chunk, pool, err))) {
            llv_err_prefix(err, "writing '%s'", pl.items[i].name);
            goto fail;
        }
        done += pl.items[i].src ? pl.items[i].src->nbytes : 4;
        if (p.progress && !p.progress("convert", total ? (float)((double)done / (double)total) : 1.0f,
                                      p.progress_user)) {
            s = llv_err(err, LLV_ERR_CANCELLED, "conversion cancelled");
            goto fail;
        }
    }
    if ((s = llv_gguf_writer_finish(w, err))) goto fail;
    llv_log(p.log, p.log_user, LLV_LOG_INFO, "wrote %s: %zu tensors, %s, %.1f s", out_path, pl.n,
            llv_type_name(p.type), llv_time_s() - t0);
    s = LLV_OK;
fail:
    llv_gguf_writer_free(w);
    llv_st_close(st);
    free(pl.items);
    free(rowf);
    free(chunk);
    llv_threadpool_free(pool);
    return s;
}

/* ------------------------------------------------------------------------- */
/* Base shapes for LoRA conversion (lora-convert.c)                          */
/* ------------------------------------------------------------------------- */

llv_status llv_convert_read_base(const char *hf_dir, llv_lora_base *out, llv_error *err) {
    hf_config c;
    llv_status s = parse_config(hf_dir, &c, NULL, NULL, err);
    if (s) return s;
    memset(out, 0, sizeof *out);
    out->arch = c.arch;
    out->hidden = c.hidden;
    out->n_head = c.n_head;
    out->n_kv = c.n_kv;
    out->head_dim = c.head_dim;
    out->ff = c.ff;
    out->n_layer = c.n_layer;
    for (int i = 0; i < c.n_cross; i++) out->is_cross[c.cross[i]] = true;
    return LLV_OK;
}
