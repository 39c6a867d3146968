/* Converter (llv_convert) and synthetic models (llv_synth): keys and tensor
 * transforms of a converted file against its safetensors source, weight
 * types, class defaults of save_pretrained configs, Llama text models,
 * reproducibility of the committed demo model, and clean errors for broken
 * checkpoint directories. */
#include "gguf.h"
#include "llv-tools.h"
#include "safetensors.h"
#include "tokenizer-convert.h"
#include "testing.h"
#include "tokenizer.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char *tmp;

static char *tpath(const char *rel) { return llv_test_path(tmp, rel); }

static void write_file(const char *path, const char *text) {
    FILE *f = fopen(path, "wb");
    CHECK_MSG(f != NULL, "cannot write %s", path);
    if (!f) return;
    fputs(text, f);
    fclose(f);
}

static void copy_file(const char *from, const char *to) {
    size_t n = 0;
    char *d = llv_test_read_file(from, &n);
    CHECK_MSG(d != NULL, "cannot read %s", from);
    if (!d) return;
    FILE *f = fopen(to, "wb");
    if (f) {
        fwrite(d, 1, n, f);
        fclose(f);
    }
    free(d);
}

static bool files_equal(const char *a, const char *b) {
    size_t na = 0, nb = 0;
    char *x = llv_test_read_file(a, &na), *y = llv_test_read_file(b, &nb);
    bool eq = x && y && na == nb && memcmp(x, y, na) == 0;
    free(x);
    free(y);
    return eq;
}

/* Synthesises an HF directory for a preset (once per name). */
static char *synth_hf(const char *preset, llv_type type, const char *name) {
    char *dir = tpath(name);
    struct stat sb;
    if (stat(dir, &sb) == 0) return dir;
    llv_synth_params sp = llv_synth_default_params();
    sp.preset = preset;
    sp.type = type;
    sp.hf_dir = true;
    sp.seed = 7;
    llv_error err = {0};
    CHECK_OK(llv_synth(dir, &sp, &err), &err);
    return dir;
}

static llv_status convert(const char *dir, const char *out, llv_type type, llv_error *err) {
    llv_convert_params cp = llv_convert_default_params();
    cp.type = type;
    return llv_convert(dir, out, &cp, err);
}

static int64_t key_i64(const llv_gguf *g, const char *key) {
    int64_t v = -999;
    llv_error err;
    if (llv_gguf_get_i64(g, key, &v, &err) != LLV_OK) return -999;
    return v;
}

static float key_f32(const llv_gguf *g, const char *key) {
    float v = NAN;
    llv_error err;
    if (llv_gguf_get_f32(g, key, &v, &err) != LLV_OK) return NAN;
    return v;
}

static bool key_str_is(const llv_gguf *g, const char *key, const char *want) {
    llv_gguf_str s;
    llv_error err;
    if (llv_gguf_get_str(g, key, &s, &err) != LLV_OK) return false;
    return s.len == strlen(want) && memcmp(s.ptr, want, s.len) == 0;
}

static float st_val(const llv_st_tensor *t, int64_t i) { return (float)llv_st_get_f64(t, i); }

static float gguf_val(const llv_tensor *t, int64_t i) {
    const uint16_t *h = t->data;
    if (t->type == LLV_TYPE_F32) return ((const float *)t->data)[i];
    if (t->type == LLV_TYPE_F16) return llv_f16_to_f32(h[i]);
    return llv_bf16_to_f32(h[i]);
}

static float round_to(llv_type type, float v) {
    if (type == LLV_TYPE_F16) return llv_f16_to_f32(llv_f32_to_f16(v));
    if (type == LLV_TYPE_BF16) return llv_bf16_to_f32(llv_f32_to_bf16(v));
    return v;
}

/* Keys and transforms of the tiny preset converted to `type`. */
static void check_converted(llv_type type) {
    char *dir = synth_hf("tiny", LLV_TYPE_F32, "tiny-f32");
    char name[64];
    snprintf(name, sizeof name, "tiny-%s.gguf", llv_type_name(type));
    char *out = tpath(name);
    llv_error err = {0};
    CHECK_OK(convert(dir, out, type, &err), &err);
    llv_gguf *g = NULL;
    llv_st *st = NULL;
    CHECK_OK(llv_gguf_open(out, &g, &err), &err);
    CHECK_OK(llv_st_open(dir, &st, &err), &err);
    if (!g || !st) goto done;

    CHECK(key_str_is(g, "general.architecture", "mllama"));
    CHECK(key_str_is(g, "general.name", "llv-synth-tiny"));
    CHECK_EQ_I(key_i64(g, "llv.format_version"), 1);
    CHECK(key_str_is(g, "llv.rope.layout", "adjacent_pairs"));
    CHECK(key_str_is(g, "mllama.rope.scaling.type", "llama3"));
    CHECK_CLOSE(key_f32(g, "mllama.rope.scaling.factor"), 8.0, 0);
    CHECK_CLOSE(key_f32(g, "mllama.rope.scaling.low_freq_factor"), 1.0, 0);
    CHECK_CLOSE(key_f32(g, "mllama.rope.scaling.high_freq_factor"), 4.0, 0);
    CHECK_EQ_I(key_i64(g, "mllama.rope.scaling.original_context_length"), 8192);
    CHECK_CLOSE(key_f32(g, "mllama.rope.freq_base"), 500000.0, 0);
    CHECK_EQ_I(key_i64(g, "mllama.vocab_size"), 384);
    CHECK_EQ_I(key_i64(g, "mllama.block_count"), 5);
    CHECK_EQ_I(key_i64(g, "mllama.embedding_length"), 64);
    CHECK_EQ_I(key_i64(g, "mllama.attention.head_count"), 4);
    CHECK_EQ_I(key_i64(g, "mllama.attention.head_count_kv"), 2);
    CHECK_EQ_I(key_i64(g, "mllama.image_token_index"), 384);
    CHECK_EQ_I(key_i64(g, "mllama.vision.image_size"), 28);
    CHECK_EQ_I(key_i64(g, "mllama.vision.max_num_tiles"), 4);
    CHECK_EQ_I(key_i64(g, "mllama.vision.block_count"), 3);
    CHECK_EQ_I(key_i64(g, "mllama.vision.global.block_count"), 1);
    CHECK_EQ_I(key_i64(g, "tokenizer.ggml.bos_token_id"), 368);
    CHECK_EQ_I(key_i64(g, "tokenizer.ggml.padding_token_id"), 372);
    CHECK_CLOSE(key_f32(g, "general.sampling.temp"), 0.6, 1e-7);
    CHECK_CLOSE(key_f32(g, "general.sampling.top_p"), 0.9, 1e-7);
    int64_t arr[16];
    size_t n = 0;
    CHECK_OK(llv_gguf_get_arr_i64(g, "mllama.attention.cross_attention_layers", arr, 16, &n, &err), &err);
    CHECK(n == 2 && arr[0] == 1 && arr[1] == 3);
    CHECK_OK(llv_gguf_get_arr_i64(g, "tokenizer.ggml.eos_token_ids", arr, 16, &n, &err), &err);
    CHECK(n == 3 && arr[0] == 369 && arr[1] == 376 && arr[2] == 377);
    float mean[3] = {0}, sd[3] = {0};
    CHECK_OK(llv_gguf_get_arr_f32(g, "mllama.vision.image_mean", mean, 3, &n, &err), &err);
    CHECK_OK(llv_gguf_get_arr_f32(g, "mllama.vision.image_std", sd, 3, &n, &err), &err);
    CHECK(mean[0] == 0.48145466f && sd[2] == 0.27577711f);

    /* every tensor: 1-D F32, 2-D+ `type` */
    int bad_types = 0;
    for (int64_t i = 0; i < llv_gguf_n_tensors(g); i++) {
        const llv_tensor *t = llv_gguf_tensor(g, i);
        llv_type want = t->n_dims == 1 ? LLV_TYPE_F32 : type;
        if (t->type != want) {
            bad_types++;
            printf("  %s: type %d, expected %d\n", t->name, t->type, want);
        }
    }
    CHECK_EQ_I(bad_types, 0);
    CHECK(llv_gguf_find_tensor(g, "rope_freqs.weight") != NULL);

    /* self-attention q: GGUF row h*hd + 2i + j = HF row h*hd + j*hd/2 + i (hd 16) */
    const llv_st_tensor *sq = llv_st_find(st, "language_model.model.layers.0.self_attn.q_proj.weight");
    const llv_tensor *gq = llv_gguf_find_tensor(g, "blk.0.attn_q.weight");
    CHECK(sq && gq);
    if (sq && gq) {
        int mism = 0;
        for (int64_t r = 0; r < 64; r++) {
            int64_t h = r / 16, q = r % 16, sr = h * 16 + (q % 2) * 8 + q / 2;
            for (int64_t e = 0; e < 64; e++)
                if (gguf_val(gq, r * 64 + e) != round_to(type, st_val(sq, sr * 64 + e))) mism++;
        }
        CHECK_EQ_I(mism, 0);
        /* and it really moved rows */
        CHECK(gguf_val(gq, 1 * 64) == round_to(type, st_val(sq, 8 * 64)));
    }
    /* k: 2 kv heads */
    const llv_st_tensor *sk = llv_st_find(st, "language_model.model.layers.0.self_attn.k_proj.weight");
    const llv_tensor *gk = llv_gguf_find_tensor(g, "blk.0.attn_k.weight");
    if (sk && gk) CHECK(gguf_val(gk, 17 * 64 + 3) == round_to(type, st_val(sk, (16 + 8) * 64 + 3)));
    /* cross q/k kept as HF */
    const llv_st_tensor *cq = llv_st_find(st, "language_model.model.layers.1.cross_attn.q_proj.weight");
    const llv_tensor *gcq = llv_gguf_find_tensor(g, "blk.1.cross_attn_q_proj.weight");
    CHECK(cq && gcq);
    if (cq && gcq) CHECK(gguf_val(gcq, 1 * 64 + 5) == round_to(type, st_val(cq, 1 * 64 + 5)));
    /* gates */
    struct { const char *hf, *gg; int how; } gates[] = {
        {"vision_model.gated_positional_embedding.gate", "v.position_embd.gate", 1},
        {"vision_model.gated_positional_embedding.gate", "v.tile_position_embd.gate", 2},
        {"vision_model.pre_tile_positional_embedding.gate", "v.pre_tile_position_embd.gate", 2},
        {"vision_model.post_tile_positional_embedding.gate", "v.post_tile_position_embd.gate", 2},
        {"vision_model.global_transformer.layers.0.gate_attn", "v.global.blk.0.attn_gate", 2},
        {"vision_model.global_transformer.layers.0.gate_ffn", "v.global.blk.0.ffn_gate", 2},
        {"language_model.model.layers.3.cross_attn_attn_gate", "blk.3.cross_attn_attn_gate", 0},
        {"language_model.model.layers.3.cross_attn_mlp_gate", "blk.3.cross_attn_mlp_gate", 0},
    };
    for (size_t i = 0; i < sizeof gates / sizeof gates[0]; i++) {
        const llv_st_tensor *s = llv_st_find(st, gates[i].hf);
        const llv_tensor *t = llv_gguf_find_tensor(g, gates[i].gg);
        CHECK_MSG(s && t, "gate %s", gates[i].gg);
        if (!s || !t) continue;
        float raw = st_val(s, 0);
        float want = gates[i].how == 0 ? raw : gates[i].how == 1 ? 1.0f - tanhf(raw) : tanhf(raw);
        CHECK_MSG(gguf_val(t, 0) == want, "%s: %g vs %g", gates[i].gg, gguf_val(t, 0), want);
        CHECK(fabsf(raw) >= 0.35f && fabsf(raw) <= 1.1f);
    }
    /* a plain copy: patch embedding ne = {14, 14, 3, 32} */
    const llv_tensor *pe = llv_gguf_find_tensor(g, "v.patch_embd.weight");
    CHECK(pe && pe->n_dims == 4 && pe->ne[0] == 14 && pe->ne[2] == 3 && pe->ne[3] == 32);
done:
    llv_st_close(st);
    llv_gguf_close(g);
    free(out);
    free(dir);
}

static void test_types(void) {
    if (!llv_test_case("types")) return;
    check_converted(LLV_TYPE_F32);
    check_converted(LLV_TYPE_F16);
    check_converted(LLV_TYPE_BF16);
    llv_error err = {0};
    char *dir = synth_hf("tiny", LLV_TYPE_F32, "tiny-f32"), *out = tpath("q8.gguf");
    /* quantized targets are converted (tests/test-quant.c); Q8_1 (9) is not a target */
    CHECK_STATUS(convert(dir, out, (llv_type)9, &err), LLV_ERR_UNSUPPORTED, &err);
    free(out);
    free(dir);
}

/* bf16 source -> bf16: bit-exact copy (also f16 -> f32 widening) */
static void test_bf16_source(void) {
    if (!llv_test_case("bf16_source")) return;
    char *dir = synth_hf("tiny", LLV_TYPE_BF16, "tiny-bf16");
    char *out = tpath("tiny-bf16-bf16.gguf");
    llv_error err = {0};
    CHECK_OK(convert(dir, out, LLV_TYPE_BF16, &err), &err);
    llv_gguf *g = NULL;
    llv_st *st = NULL;
    CHECK_OK(llv_gguf_open(out, &g, &err), &err);
    CHECK_OK(llv_st_open(dir, &st, &err), &err);
    if (g && st) {
        const llv_st_tensor *s = llv_st_find(st, "language_model.model.layers.0.mlp.up_proj.weight");
        const llv_tensor *t = llv_gguf_find_tensor(g, "blk.0.ffn_up.weight");
        CHECK(s && t && s->dtype == LLV_ST_BF16 && t->type == LLV_TYPE_BF16 && s->nbytes == t->nbytes &&
              memcmp(s->data, t->data, s->nbytes) == 0);
        const llv_tensor *nrm = llv_gguf_find_tensor(g, "blk.0.ffn_norm.weight");
        const llv_st_tensor *sn = llv_st_find(st, "language_model.model.layers.0.post_attention_layernorm.weight");
        CHECK(nrm && sn && nrm->type == LLV_TYPE_F32 && gguf_val(nrm, 5) == st_val(sn, 5));
    }
    llv_st_close(st);
    llv_gguf_close(g);
    free(out);
    free(dir);
}

/* config.json as save_pretrained writes it (defaults omitted) converts to
 * the same file as the full config. */
static void test_save_pretrained_defaults(void) {
    if (!llv_test_case("save_pretrained_defaults")) return;
    const char *shared = llv_test_shared_dir();
    if (!shared) {
        printf("  (no shared data: skipped)\n");
        return;
    }
    char *src = llv_test_path(shared, "golden/models/tiny-a");
    char *a = tpath("full"), *b = tpath("diff");
    mkdir(a, 0777);
    mkdir(b, 0777);
    char *da = llv_test_path(a, "tiny-a"), *db = llv_test_path(b, "tiny-a");
    mkdir(da, 0777);
    mkdir(db, 0777);
    const char *files[] = {"model.safetensors", "generation_config.json", "preprocessor_config.json"};
    for (int i = 0; i < 3; i++) {
        char *from = llv_test_path(src, files[i]), *ta = llv_test_path(da, files[i]), *tb = llv_test_path(db, files[i]);
        CHECK(symlink(from, ta) == 0 && symlink(from, tb) == 0);
        free(from);
        free(ta);
        free(tb);
    }
    char *cfull = llv_test_path(src, "config.json"), *cdiff = llv_test_path(src, "config.save_pretrained.json");
    char *ca = llv_test_path(da, "config.json"), *cb = llv_test_path(db, "config.json");
    copy_file(cfull, ca);
    copy_file(cdiff, cb);
    char *oa = tpath("full.gguf"), *ob = tpath("diff.gguf");
    llv_error err = {0};
    CHECK_OK(convert(da, oa, LLV_TYPE_F32, &err), &err);
    CHECK_OK(convert(db, ob, LLV_TYPE_F32, &err), &err);
    CHECK_MSG(files_equal(oa, ob), "save_pretrained config.json must convert to the same file as the full one");
    free(oa); free(ob); free(ca); free(cb); free(cfull); free(cdiff); free(da); free(db); free(a); free(b); free(src);
}

static void test_llama(void) {
    if (!llv_test_case("llama")) return;
    char *dir = synth_hf("llama-tiny", LLV_TYPE_F32, "llama-tiny");
    char *out = tpath("llama.gguf");
    llv_error err = {0};
    CHECK_OK(convert(dir, out, LLV_TYPE_F16, &err), &err);
    llv_gguf *g = NULL;
    CHECK_OK(llv_gguf_open(out, &g, &err), &err);
    if (g) {
        CHECK(key_str_is(g, "general.architecture", "llama"));
        CHECK_EQ_I(key_i64(g, "llama.block_count"), 3);
        CHECK(llv_gguf_find_key(g, "mllama.vocab_size") < 0);
        CHECK(llv_gguf_find_tensor(g, "output.weight") == NULL); /* tied */
        CHECK(llv_gguf_find_tensor(g, "blk.2.attn_q.weight") != NULL);
        CHECK(llv_gguf_find_tensor(g, "v.patch_embd.weight") == NULL);
        llv_gguf_close(g);
    }
    free(out);
    free(dir);
}

/* model.language_model.* / model.vision_model.* / lm_head.* spellings */
static void test_new_spelling(void) {
    if (!llv_test_case("new_spelling")) return;
    char *dir = synth_hf("tiny", LLV_TYPE_F32, "tiny-f32");
    char *nd = tpath("tiny-new");
    mkdir(nd, 0777);
    llv_st *st = NULL;
    llv_error err = {0};
    CHECK_OK(llv_st_open(dir, &st, &err), &err);
    if (!st) goto done;
    /* rewrite model.safetensors with renamed tensors (same data) */
    {
        int64_t n = llv_st_n_tensors(st);
        size_t hcap = 1 << 20, hl = 0;
        char *h = malloc(hcap);
        uint64_t off = 0;
        hl += (size_t)snprintf(h + hl, hcap - hl, "{");
        for (int64_t i = 0; i < n; i++) {
            const llv_st_tensor *t = llv_st_tensor_at(st, i);
            char nm[256];
            if (!strncmp(t->name, "language_model.model.", 21)) snprintf(nm, sizeof nm, "model.language_model.%s", t->name + 21);
            else if (!strncmp(t->name, "language_model.lm_head.", 23)) snprintf(nm, sizeof nm, "lm_head.%s", t->name + 23);
            else if (!strncmp(t->name, "vision_model.", 13)) snprintf(nm, sizeof nm, "model.vision_model.%s", t->name + 13);
            else snprintf(nm, sizeof nm, "model.%s", t->name);
            hl += (size_t)snprintf(h + hl, hcap - hl, "%s\"%s\":{\"dtype\":\"F32\",\"shape\":[", i ? "," : "", nm);
            for (int d = 0; d < t->n_dims; d++)
                hl += (size_t)snprintf(h + hl, hcap - hl, "%s%lld", d ? "," : "", (long long)t->shape[d]);
            hl += (size_t)snprintf(h + hl, hcap - hl, "],\"data_offsets\":[%llu,%llu]}", (unsigned long long)off,
                                   (unsigned long long)(off + t->nbytes));
            off += t->nbytes;
        }
        hl += (size_t)snprintf(h + hl, hcap - hl, "}");
        while (hl % 8) h[hl++] = ' ';
        char *p = llv_test_path(nd, "model.safetensors");
        FILE *f = fopen(p, "wb");
        uint64_t len = hl;
        if (f) {
            fwrite(&len, 8, 1, f);
            fwrite(h, 1, hl, f);
            for (int64_t i = 0; i < n; i++) fwrite(llv_st_tensor_at(st, i)->data, 1, llv_st_tensor_at(st, i)->nbytes, f);
            fclose(f);
        }
        free(p);
        free(h);
        const char *files[] = {"config.json", "generation_config.json", "preprocessor_config.json",
                               "tokenizer.json", "tokenizer_config.json"};
        for (int i = 0; i < 5; i++) {
            char *a = llv_test_path(dir, files[i]), *b = llv_test_path(nd, files[i]);
            copy_file(a, b);
            free(a);
            free(b);
        }
    }
    char *o1 = tpath("old-names.gguf"), *o2 = tpath("new-names.gguf");
    CHECK_OK(convert(dir, o1, LLV_TYPE_F32, &err), &err);
    CHECK_OK(convert(nd, o2, LLV_TYPE_F32, &err), &err);
    CHECK_MSG(files_equal(o1, o2), "both spellings give the same GGUF");
    free(o1);
    free(o2);
done:
    llv_st_close(st);
    free(nd);
    free(dir);
}

/* broken directories: clean errors that name the problem */
static void expect_fail(const char *dir, llv_status want, const char *must_contain) {
    char *out = tpath("broken.gguf");
    llv_error err = {0};
    llv_status s = convert(dir, out, LLV_TYPE_F32, &err);
    CHECK_MSG(s == want, "%s: got %s (%s), expected %s", dir, llv_status_name(s), err.message, llv_status_name(want));
    if (must_contain)
        CHECK_MSG(strstr(err.message, must_contain) != NULL, "message '%s' lacks '%s'", err.message, must_contain);
    CHECK_MSG(access(out, F_OK) != 0, "no output file after a failure");
    free(out);
}

/* a copy of the tiny HF dir whose config.json has `from` replaced by `to` */
static char *tiny_variant(const char *name, const char *from, const char *to) {
    char *dir = synth_hf("tiny", LLV_TYPE_F32, "tiny-f32");
    char *nd = tpath(name);
    mkdir(nd, 0777);
    const char *files[] = {"model.safetensors", "generation_config.json", "preprocessor_config.json"};
    for (int i = 0; i < 3; i++) {
        char *a = llv_test_path(dir, files[i]), *b = llv_test_path(nd, files[i]);
        CHECK(symlink(a, b) == 0);
        free(a);
        free(b);
    }
    char *cp = llv_test_path(dir, "config.json");
    char *cfg = llv_test_read_file(cp, NULL);
    free(cp);
    char *hit = cfg ? strstr(cfg, from) : NULL;
    CHECK_MSG(hit != NULL, "config.json has no '%s'", from);
    if (hit) {
        size_t a = (size_t)(hit - cfg), fl = strlen(from), tl = strlen(to), n = strlen(cfg);
        char *nc = malloc(n - fl + tl + 1);
        memcpy(nc, cfg, a);
        memcpy(nc + a, to, tl);
        memcpy(nc + a + tl, hit + fl, n - a - fl + 1);
        char *np = llv_test_path(nd, "config.json");
        write_file(np, nc);
        free(np);
        free(nc);
    }
    free(cfg);
    free(dir);
    return nd;
}

static void test_errors(void) {
    if (!llv_test_case("errors")) return;
    char *empty = tpath("empty");
    mkdir(empty, 0777);
    expect_fail(empty, LLV_ERR_NOT_FOUND, "config.json");
    char *missing = tpath("does-not-exist");
    expect_fail(missing, LLV_ERR_NOT_FOUND, "config.json");
    free(missing);

    char *cfg = llv_test_path(empty, "config.json");
    write_file(cfg, "{\"architectures\": [\"GPT2LMHeadModel\"], \"model_type\": \"gpt2\"}");
    expect_fail(empty, LLV_ERR_UNSUPPORTED, "GPT2LMHeadModel");
    write_file(cfg, "[1, 2]");
    expect_fail(empty, LLV_ERR_FORMAT, "config.json");
    write_file(cfg, "{\"architectures\": [\"LlamaForCausalLM\"]}");
    expect_fail(empty, LLV_ERR_NOT_FOUND, "safetensors");
    free(cfg);
    free(empty);

    char *d;
    d = tiny_variant("more-layers", "\"num_hidden_layers\":\t5", "\"num_hidden_layers\":\t6");
    expect_fail(d, LLV_ERR_NOT_FOUND, "language_model.model.layers.5.input_layernorm.weight");
    free(d);
    d = tiny_variant("wrong-ff", "\"intermediate_size\":\t128", "\"intermediate_size\":\t130");
    expect_fail(d, LLV_ERR_FORMAT, "shape [128, 64], expected [130, 64]");
    free(d);
    d = tiny_variant("wrong-cross", "\"cross_attention_layers\":\t[1, 3]", "\"cross_attention_layers\":\t[1, 2]");
    expect_fail(d, LLV_ERR_NOT_FOUND, "layers.2.cross_attn");
    free(d);
    d = tiny_variant("bad-cross", "\"cross_attention_layers\":\t[1, 3]", "\"cross_attention_layers\":\t[1, 9]");
    expect_fail(d, LLV_ERR_FORMAT, "cross_attention_layers");
    free(d);
    d = tiny_variant("bad-vision-dim", "\"vision_output_dim\":\t96", "\"vision_output_dim\":\t95");
    expect_fail(d, LLV_ERR_FORMAT, "vision_output_dim");
    free(d);
    d = tiny_variant("bad-bos", "\"bos_token_id\":\t368", "\"bos_token_id\":\t9999");
    /* generation_config.json still says 368: it wins, so this converts */
    char *out = tpath("bos.gguf");
    llv_error err = {0};
    CHECK_OK(convert(d, out, LLV_TYPE_F32, &err), &err);
    free(out);
    free(d);
    d = tiny_variant("bad-type", "\"hidden_size\":\t64", "\"hidden_size\":\t\"big\"");
    expect_fail(d, LLV_ERR_FORMAT, "hidden_size");
    free(d);

    /* vocab-only needs a tokenizer.json */
    char *nodir = tpath("empty");
    llv_convert_params cp = llv_convert_default_params();
    cp.vocab_only = true;
    char *vo = tpath("vocab.gguf");
    CHECK_STATUS(llv_convert(nodir, vo, &cp, &err), LLV_ERR_NOT_FOUND, &err);
    free(vo);
    free(nodir);
}

/* --vocab-only with the synthetic tokenizer (needs the tokenizer converter) */
static void test_vocab_only(void) {
    if (!llv_test_case("vocab_only")) return;
    char *dir = synth_hf("tiny", LLV_TYPE_F32, "tiny-f32");
    llv_gguf_writer *w = NULL;
    llv_error err = {0};
    bool found = false;
    CHECK_OK(llv_gguf_writer_create(&w, &err), &err);
    llv_status s = llv_convert_tokenizer(dir, w, &found, &err);
    llv_gguf_writer_free(w);
    if (s != LLV_OK || !found) {
        printf("  (tokenizer converter not available: %s; vocab-only check skipped)\n", err.message);
        free(dir);
        return;
    }
    char *out = tpath("vocab-only.gguf");
    llv_convert_params cp = llv_convert_default_params();
    cp.vocab_only = true;
    CHECK_OK(llv_convert(dir, out, &cp, &err), &err);
    llv_gguf *g = NULL;
    CHECK_OK(llv_gguf_open(out, &g, &err), &err);
    if (g) {
        CHECK(key_str_is(g, "general.architecture", "llama"));
        CHECK_EQ_I(llv_gguf_n_tensors(g), 0);
        int64_t k = llv_gguf_find_key(g, "tokenizer.ggml.tokens");
        CHECK(k >= 0 && llv_gguf_arr_n(g, k) == 385);
        llv_gguf_close(g);
    }
    free(out);
    free(dir);
}

/* the synthesiser is reproducible; the committed demo model is what it makes
 * (the random demo), or, once a trained demo is committed with its Hugging Face
 * checkpoint (models/demo-hf), what the converter makes of that checkpoint */
static void test_demo_reproducible(void) {
    if (!llv_test_case("demo")) return;
    llv_synth_params sp = llv_synth_default_params();
    sp.preset = "demo";
    sp.seed = 1;
    sp.type = LLV_TYPE_F16;
    char *a = tpath("demo-a.gguf"), *b = tpath("demo-b.gguf");
    llv_error err = {0};
    CHECK_OK(llv_synth(a, &sp, &err), &err);
    CHECK_OK(llv_synth(b, &sp, &err), &err);
    CHECK_MSG(files_equal(a, b), "two runs give the same file");
    sp.seed = 2;
    char *c = tpath("demo-c.gguf");
    CHECK_OK(llv_synth(c, &sp, &err), &err);
    CHECK_MSG(!files_equal(a, c), "another seed gives another file");
    struct stat sb;
    CHECK(stat(a, &sb) == 0 && sb.st_size < 1500000);
    /* its own tokenizer: merges shorten English, specials at the declared ids, exact round trip */
    llv_model *m = NULL;
    CHECK_OK(llv_model_load(a, NULL, &m, &err), &err);
    if (m) {
        const char *text = "The cat is sitting on the chair next to the window.";
        int32_t ids[128];
        size_t n = 0, nb = 0;
        CHECK_OK(llv_tokenize(m, text, strlen(text), 0, ids, 128, &n, &err), &err);
        CHECK_MSG(n > 0 && n < strlen(text) / 2, "%zu tokens for %zu bytes", n, strlen(text));
        char back[256];
        CHECK_OK(llv_detokenize(m, ids, n, false, back, sizeof back, &nb, &err), &err);
        CHECK(nb == strlen(text) && memcmp(back, text, nb) == 0);
        const char *spec = "<|begin_of_text|><|eot_id|><|image|>";
        CHECK_OK(llv_tokenize(m, spec, strlen(spec), LLV_TOKENIZE_PARSE_SPECIAL, ids, 128, &n, &err), &err);
        CHECK(n == 3 && ids[0] == 496 && ids[1] == 505 && ids[2] == 512);
        llv_model_info info;
        llv_model_get_info(m, &info);
        CHECK(info.bos_id == 496 && info.image_token_id == 512 && info.chat_template != NULL);
        CHECK(llv_token_is_eog(m, 505) && llv_token_is_eog(m, 497) && !llv_token_is_eog(m, 496));
    }
    llv_model_free(m);
    const char *src = getenv("LLV_SOURCE_DIR");
    char *committed = llv_test_path(src && *src ? src : ".", "models/demo.gguf");
    char *hf = llv_test_path(src && *src ? src : ".", "models/demo-hf");
    char *conv = tpath("demo-converted.gguf");
    if (access(committed, F_OK) != 0) {
        printf("  (no %s)\n", committed);
    } else if (access(hf, F_OK) == 0) { /* a trained demo: the converter's output of its checkpoint */
        CHECK_OK(convert(hf, conv, LLV_TYPE_F32, &err), &err);
        CHECK_MSG(files_equal(conv, committed),
                  "models/demo.gguf differs from `llv-convert models/demo-hf models/demo.gguf --type f32`");
    } else { /* the random demo */
        CHECK_MSG(files_equal(a, committed),
                  "models/demo.gguf differs from `llv-synth models/demo.gguf --preset demo --seed 1 --type f16`");
    }
    free(conv);
    free(hf);
    free(committed);
    free(a);
    free(b);
    free(c);
}

static void rm_rf(const char *dir) {
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0) printf("  (could not remove %s)\n", dir);
}

int main(int argc, char **argv) {
    llv_test_init(argc, argv);
    tmp = llv_test_tmpdir();
    if (!tmp) llv_test_skip("no temporary directory");
    test_types();
    test_bf16_source();
    test_save_pretrained_defaults();
    test_llama();
    test_new_spelling();
    test_errors();
    test_vocab_only();
    test_demo_reproducible();
    rm_rf(tmp);
    free(tmp);
    return llv_test_finish();
}
