/* Model loading: hyperparameters and bindings of a converted synthetic model,
 * the Ollama fix-ups (cross-attention q/k un-permutation, rope_freqs), the
 * golden configs, vocabulary-only files, and clean errors for files whose
 * metadata, shapes, types, token ids or layout are wrong. Broken files are
 * made by rewriting a good one with one change. */
#include "gguf.h"
#include "llv-tools.h"
#include "model.h"
#include "testing.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char *tmp;
static char *good;   /* tiny mllama, f32, llv-converted */

static char *tpath(const char *rel) { return llv_test_path(tmp, rel); }

/* ------------------------------------------------------------------------- */
/* Rewriting a GGUF with one change                                          */
/* ------------------------------------------------------------------------- */

typedef struct rw {
    const char *const *drop_keys;   /* exact names, or prefixes ending in '*' */
    const char *drop_tensor;
    const char *f16_tensor;         /* store this F32 tensor as F16 */
    bool        ollama_cross;       /* permute cross q/k rows as Ollama does */
    void      (*extra)(llv_gguf_writer *w);
} rw;

static bool dropped(const rw *o, const char *key) {
    for (int i = 0; o->drop_keys && o->drop_keys[i]; i++) {
        size_t n = strlen(o->drop_keys[i]);
        if (n && o->drop_keys[i][n - 1] == '*' ? strncmp(key, o->drop_keys[i], n - 1) == 0
                                               : strcmp(key, o->drop_keys[i]) == 0)
            return true;
    }
    return false;
}

static llv_status copy_kv(llv_gguf_writer *w, const llv_gguf *g, int64_t i, llv_error *err) {
    const char *k = llv_gguf_key(g, i);
    switch (llv_gguf_kv_type(g, i)) {
    case LLV_GGUF_U32: { uint32_t v; llv_gguf_get_u32(g, k, &v, err); return llv_gguf_set_u32(w, k, v, err); }
    case LLV_GGUF_I32: { int64_t v; llv_gguf_get_i64(g, k, &v, err); return llv_gguf_set_i32(w, k, (int32_t)v, err); }
    case LLV_GGUF_U64: { int64_t v; llv_gguf_get_i64(g, k, &v, err); return llv_gguf_set_u64(w, k, (uint64_t)v, err); }
    case LLV_GGUF_F32: { float v; llv_gguf_get_f32(g, k, &v, err); return llv_gguf_set_f32(w, k, v, err); }
    case LLV_GGUF_BOOL: { bool v; llv_gguf_get_bool(g, k, &v, err); return llv_gguf_set_bool(w, k, v, err); }
    case LLV_GGUF_STRING: {
        llv_gguf_str s;
        llv_gguf_get_str(g, k, &s, err);
        char *c = malloc(s.len + 1);
        memcpy(c, s.ptr, s.len);
        c[s.len] = 0;
        llv_status st = llv_gguf_set_str(w, k, c, err);
        free(c);
        return st;
    }
    case LLV_GGUF_ARRAY: {
        uint64_t n = llv_gguf_arr_n(g, i);
        if (llv_gguf_arr_type(g, i) == LLV_GGUF_STRING) {
            const char **strs = malloc((n + 1) * sizeof *strs);
            size_t *lens = malloc((n + 1) * sizeof *lens);
            for (uint64_t j = 0; j < n; j++) {
                llv_gguf_str s = llv_gguf_arr_str(g, i, j);
                strs[j] = s.ptr;
                lens[j] = s.len;
            }
            llv_status st = llv_gguf_set_arr_str(w, k, strs, lens, n, err);
            free(strs);
            free(lens);
            return st;
        }
        return llv_gguf_set_arr(w, k, llv_gguf_arr_type(g, i), llv_gguf_arr_data(g, i), n, err);
    }
    default: return llv_err(err, LLV_ERR_UNSUPPORTED, "test rewrite: key %s of type %d", k, llv_gguf_kv_type(g, i));
    }
}

static bool is_cross_qk(const char *name) {
    return strstr(name, "cross_attn_q_proj.weight") || strstr(name, "cross_attn_k_proj.weight");
}

static char *rewrite(const char *name, const rw *o) {
    char *out = tpath(name);
    llv_gguf *g = NULL;
    llv_gguf_writer *w = NULL;
    llv_error err = {0};
    CHECK_OK(llv_gguf_open(good, &g, &err), &err);
    CHECK_OK(llv_gguf_writer_create(&w, &err), &err);
    if (!g || !w) goto done;
    for (int64_t i = 0; i < llv_gguf_n_kv(g); i++)
        if (!dropped(o, llv_gguf_key(g, i))) CHECK_OK(copy_kv(w, g, i, &err), &err);
    if (o->extra) o->extra(w);
    for (int64_t i = 0; i < llv_gguf_n_tensors(g); i++) {
        const llv_tensor *t = llv_gguf_tensor(g, i);
        if (o->drop_tensor && !strcmp(t->name, o->drop_tensor)) continue;
        int type = o->f16_tensor && !strcmp(t->name, o->f16_tensor) ? LLV_TYPE_F16 : t->type;
        CHECK_OK(llv_gguf_add_tensor(w, t->name, type, t->n_dims, t->ne, &err), &err);
    }
    CHECK_OK(llv_gguf_writer_begin(w, out, &err), &err);
    for (int64_t i = 0; i < llv_gguf_n_tensors(g); i++) {
        const llv_tensor *t = llv_gguf_tensor(g, i);
        if (o->drop_tensor && !strcmp(t->name, o->drop_tensor)) continue;
        if (o->f16_tensor && !strcmp(t->name, o->f16_tensor)) {
            size_t n = t->nbytes / 4;
            uint16_t *h = malloc(n * 2);
            for (size_t j = 0; j < n; j++) h[j] = llv_f32_to_f16(((const float *)t->data)[j]);
            CHECK_OK(llv_gguf_writer_write(w, h, n * 2, &err), &err);
            free(h);
        } else if (o->ollama_cross && is_cross_qk(t->name)) {
            /* Ollama's repack: row h*hd + 2i + j <- row h*hd + j*hd/2 + i (hd = 16) */
            const int64_t hd = 16, rb = t->ne[0] * 4, rows = t->ne[1];
            uint8_t *d = malloc(t->nbytes);
            for (int64_t r = 0; r < rows; r++) {
                int64_t h = r / hd, q = r % hd, sr = h * hd + (q % 2) * (hd / 2) + q / 2;
                memcpy(d + r * rb, (const uint8_t *)t->data + sr * rb, (size_t)rb);
            }
            CHECK_OK(llv_gguf_writer_write(w, d, t->nbytes, &err), &err);
            free(d);
        } else {
            CHECK_OK(llv_gguf_writer_write(w, t->data, t->nbytes, &err), &err);
        }
    }
    CHECK_OK(llv_gguf_writer_finish(w, &err), &err);
done:
    llv_gguf_writer_free(w);
    llv_gguf_close(g);
    return out;
}

static void expect_load_fail(const char *path, llv_status want, const char *must_contain) {
    llv_model *m = NULL;
    llv_error err = {0};
    llv_status s = llv_model_load(path, NULL, &m, &err);
    CHECK_MSG(s == want && m == NULL, "%s: got %s (%s), expected %s", path, llv_status_name(s), err.message,
              llv_status_name(want));
    if (must_contain)
        CHECK_MSG(strstr(err.message, must_contain) != NULL, "message '%s' lacks '%s'", err.message, must_contain);
    llv_model_free(m);
}

/* ------------------------------------------------------------------------- */

static void test_good(void) {
    if (!llv_test_case("good")) return;
    llv_model *m = NULL;
    llv_error err = {0};
    CHECK_OK(llv_model_load(good, NULL, &m, &err), &err);
    if (!m) return;
    llv_model_info info;
    llv_model_get_info(m, &info);
    CHECK(!strcmp(info.architecture, "mllama"));
    CHECK(!strcmp(info.name, "llv-synth-tiny"));
    CHECK(info.has_vision && info.has_weights);
    CHECK_EQ_I(info.n_vocab, 384);
    CHECK_EQ_I(info.n_embd, 64);
    CHECK_EQ_I(info.n_layer, 5);
    CHECK_EQ_I(info.n_cross_layers, 2);
    CHECK_EQ_I(info.image_size, 28);
    CHECK_EQ_I(info.max_tiles, 4);
    CHECK_EQ_I(info.bos_id, 368);
    CHECK_EQ_I(info.pad_id, 372);
    CHECK_EQ_I(info.image_token_id, 384);
    CHECK_EQ_I(info.n_eog, 3);
    CHECK(info.n_eog == 3 && info.eog_ids[0] == 369 && info.eog_ids[1] == 376 && info.eog_ids[2] == 377);
    CHECK_EQ_I(info.weight_type, LLV_TYPE_F32);
    CHECK(info.n_params > 200000 && info.n_params < 400000);
    CHECK(info.file_bytes > info.n_params * 4);
    CHECK(info.isa != NULL);

    const llv_hparams *hp = &m->hp;
    CHECK_EQ_I(hp->n_embd_rows, 392);
    CHECK_EQ_I(hp->head_dim, 16);
    CHECK_EQ_I(hp->n_head_kv, 2);
    CHECK(hp->rope_llama3 && hp->rope_factor == 8.0f && hp->rope_orig_ctx == 8192);
    CHECK(hp->is_cross[1] && hp->is_cross[3] && !hp->is_cross[0]);
    CHECK_EQ_I(hp->v_grid, 2);
    CHECK_EQ_I(hp->v_P, 5);
    CHECK_EQ_I(hp->v_Ppad, 8);
    CHECK_EQ_I(hp->v_output_dim, 96);
    CHECK_EQ_I(hp->v_n_global, 1);
    CHECK(hp->image_mean[1] == 0.4578275f && hp->image_std[0] == 0.26862954f);
    CHECK_CLOSE(m->default_temperature, 0.6, 1e-7);
    CHECK_CLOSE(m->default_top_p, 0.9, 1e-7);
    CHECK(m->text.inv_freq[0] == 1.0f && m->text.inv_freq[7] > 0 && m->text.inv_freq[7] < m->text.inv_freq[1]);

    /* gates: text cross gates tanh'ed at load, vision gates as stored */
    const llv_tensor *g = llv_gguf_find_tensor(m->gguf, "blk.1.cross_attn_attn_gate");
    CHECK(g && m->text.layers[1].attn_gate == tanhf(((const float *)g->data)[0]));
    g = llv_gguf_find_tensor(m->gguf, "v.position_embd.gate");
    CHECK(g && m->vision.pos_gate == ((const float *)g->data)[0]);
    CHECK(m->vision.layers[0].gate_attn == 1.0f && m->vision.layers[2].gate_ffn == 1.0f);
    g = llv_gguf_find_tensor(m->gguf, "v.global.blk.0.ffn_gate");
    CHECK(g && m->vision.global[0].gate_ffn == ((const float *)g->data)[0]);
    CHECK(m->text.layers[0].wq && !m->text.layers[0].is_cross && m->text.layers[1].is_cross);
    CHECK(m->text.layers[1].q_norm && m->vision.proj && m->vision.tile_pos_embd->ne[1] == 9);
    CHECK(m->text.output && m->text.output != m->text.tok_embd);
    CHECK(m->n_fixed == 0);
    llv_model_free(m);
}

static void progress_count(void);
static int n_progress;
static bool on_progress(const char *what, float f, void *user) {
    (void)what; (void)user; (void)f;
    n_progress++;
    return true;
}
static bool cancel_progress(const char *what, float f, void *user) {
    (void)what; (void)user; (void)f;
    return false;
}
static void progress_count(void) {
    if (!llv_test_case("progress")) return;
    llv_model_params p = llv_model_default_params();
    p.progress = on_progress;
    llv_model *m = NULL;
    llv_error err = {0};
    n_progress = 0;
    CHECK_OK(llv_model_load(good, &p, &m, &err), &err);
    CHECK(n_progress >= 3);
    llv_model_free(m);
    p.progress = cancel_progress;
    m = NULL;
    CHECK_STATUS(llv_model_load(good, &p, &m, &err), LLV_ERR_CANCELLED, &err);
    CHECK(m == NULL);
}

/* An Ollama-style file: no llv.* keys, llama3 only via rope_freqs, cross q/k
 * rows permuted. It must load to the same numbers. */
static void test_ollama(void) {
    if (!llv_test_case("ollama")) return;
    static const char *const drop[] = {"llv.*", "mllama.rope.scaling.*", "mllama.image_token_index",
                                       "mllama.vision.image_mean", "mllama.vision.image_std", NULL};
    rw o = {.drop_keys = drop, .ollama_cross = true};
    char *path = rewrite("ollama.gguf", &o);
    llv_model *a = NULL, *b = NULL;
    llv_error err = {0};
    CHECK_OK(llv_model_load(good, NULL, &a, &err), &err);
    CHECK_OK(llv_model_load(path, NULL, &b, &err), &err);
    if (a && b) {
        CHECK_EQ_I(b->n_fixed, 4);
        int diff = 0, same_as_file = 0;
        for (int c = 0; c < 2; c++) {
            int l = a->hp.cross_layers[c];
            const llv_tensor *ta[2] = {a->text.layers[l].wq, a->text.layers[l].wk};
            const llv_tensor *tb[2] = {b->text.layers[l].wq, b->text.layers[l].wk};
            for (int k = 0; k < 2; k++) {
                diff += ta[k]->nbytes != tb[k]->nbytes || memcmp(ta[k]->data, tb[k]->data, ta[k]->nbytes) != 0;
                char nm[64];
                snprintf(nm, sizeof nm, "blk.%d.cross_attn_%c_proj.weight", l, k ? 'k' : 'q');
                const llv_tensor *raw = llv_gguf_find_tensor(b->gguf, nm);
                same_as_file += raw && memcmp(raw->data, tb[k]->data, raw->nbytes) == 0;
            }
        }
        CHECK_EQ_I(diff, 0);
        CHECK_EQ_I(same_as_file, 0);
        /* self-attention q/k are used as stored in both */
        CHECK(!memcmp(a->text.layers[0].wq->data, b->text.layers[0].wq->data, a->text.layers[0].wq->nbytes));
        /* llama3 RoPE recognised from rope_freqs */
        CHECK(b->hp.rope_llama3);
        CHECK(!memcmp(a->text.inv_freq, b->text.inv_freq, sizeof a->text.inv_freq));
        CHECK_EQ_I(b->hp.image_token_id, 384);
        CHECK(b->hp.image_mean[0] == a->hp.image_mean[0]);
    }
    llv_model_free(a);
    llv_model_free(b);
    free(path);
}

static void extra_divisors_odd(llv_gguf_writer *w) { (void)w; }

/* rope_freqs with non-standard divisors: inv_freq = base frequency / divisor */
static void test_rope_freqs_custom(void) {
    if (!llv_test_case("rope_freqs_custom")) return;
    /* reuse the Ollama rewrite but with a tensor of all-2 divisors */
    static const char *const drop[] = {"llv.*", "mllama.rope.scaling.*", NULL};
    char *base = rewrite("ollama-rope.gguf", &(rw){.drop_keys = drop, .extra = extra_divisors_odd});
    llv_gguf *g = NULL;
    llv_error err = {0};
    CHECK_OK(llv_gguf_open(base, &g, &err), &err);
    if (g) {
        const llv_tensor *rf = llv_gguf_find_tensor(g, "rope_freqs.weight");
        CHECK(rf != NULL);
        if (rf) {
            /* patch the mapped copy: write a new file with divisors 2.0 */
            size_t n = 0;
            char *bytes = llv_test_read_file(base, &n);
            size_t off = (size_t)((const char *)rf->data - (const char *)llv_gguf_data_base(g));
            for (int i = 0; i < 8; i++) ((float *)(bytes + off))[i] = 2.0f;
            char *p2 = tpath("rope2.gguf");
            FILE *f = fopen(p2, "wb");
            fwrite(bytes, 1, n, f);
            fclose(f);
            llv_model *m = NULL;
            CHECK_OK(llv_model_load(p2, NULL, &m, &err), &err);
            if (m) {
                CHECK(!m->hp.rope_llama3);
                CHECK_CLOSE(m->text.inv_freq[0], 0.5, 0);
                CHECK_CLOSE(m->text.inv_freq[1], 0.5f / powf(500000.0f, 2.0f / 16.0f), 1e-9);
            }
            llv_model_free(m);
            free(p2);
            free(bytes);
        }
        llv_gguf_close(g);
    }
    free(base);
}

static void set_arch_gpt2(llv_gguf_writer *w) { llv_gguf_set_str(w, "general.architecture", "gpt2", NULL); }
static void set_ff_wrong(llv_gguf_writer *w) { llv_gguf_set_u32(w, "mllama.feed_forward_length", 100, NULL); }
static void set_bos_wrong(llv_gguf_writer *w) { llv_gguf_set_u32(w, "tokenizer.ggml.bos_token_id", 384, NULL); }
static void set_eos_wrong(llv_gguf_writer *w) {
    int32_t ids[2] = {369, 5000};
    llv_gguf_set_arr(w, "tokenizer.ggml.eos_token_ids", LLV_GGUF_I32, ids, 2, NULL);
}
static void set_cross_wrong(llv_gguf_writer *w) {
    int32_t ids[2] = {1, 2};
    llv_gguf_set_arr(w, "mllama.attention.cross_attention_layers", LLV_GGUF_I32, ids, 2, NULL);
}
static void set_format_v2(llv_gguf_writer *w) { llv_gguf_set_u32(w, "llv.format_version", 2, NULL); }
static void set_vision_interm_wrong(llv_gguf_writer *w) {
    int32_t ids[2] = {0, 7};
    llv_gguf_set_arr(w, "mllama.vision.intermediate_layers_indices", LLV_GGUF_I32, ids, 2, NULL);
}

static void test_errors(void) {
    if (!llv_test_case("errors")) return;
    char *p;
    static const char *const no_arch[] = {"general.architecture", NULL};
    p = rewrite("no-arch.gguf", &(rw){.drop_keys = no_arch});
    expect_load_fail(p, LLV_ERR_FORMAT, "general.architecture");
    free(p);
    p = rewrite("gpt2.gguf", &(rw){.extra = set_arch_gpt2});
    expect_load_fail(p, LLV_ERR_UNSUPPORTED, "gpt2");
    free(p);
    p = rewrite("ff.gguf", &(rw){.extra = set_ff_wrong});
    expect_load_fail(p, LLV_ERR_FORMAT, "blk.0.ffn_gate.weight");
    free(p);
    p = rewrite("bos.gguf", &(rw){.extra = set_bos_wrong});
    expect_load_fail(p, LLV_ERR_FORMAT, "bos_token_id");
    free(p);
    p = rewrite("eos.gguf", &(rw){.extra = set_eos_wrong});
    expect_load_fail(p, LLV_ERR_FORMAT, "eos_token_ids");
    free(p);
    p = rewrite("cross.gguf", &(rw){.extra = set_cross_wrong});
    expect_load_fail(p, LLV_ERR_NOT_FOUND, "blk.2.cross_attn_q_proj.weight");
    free(p);
    p = rewrite("missing.gguf", &(rw){.drop_tensor = "blk.4.ffn_up.weight"});
    expect_load_fail(p, LLV_ERR_NOT_FOUND, "blk.4.ffn_up.weight");
    free(p);
    p = rewrite("missing-v.gguf", &(rw){.drop_tensor = "v.global.blk.0.attn_gate"});
    expect_load_fail(p, LLV_ERR_NOT_FOUND, "v.global.blk.0.attn_gate");
    free(p);
    p = rewrite("norm-f16.gguf", &(rw){.f16_tensor = "blk.2.attn_norm.weight"});
    expect_load_fail(p, LLV_ERR_FORMAT, "expected f32");
    free(p);
    p = rewrite("ver.gguf", &(rw){.extra = set_format_v2});
    expect_load_fail(p, LLV_ERR_UNSUPPORTED, "llv.format_version");
    free(p);
    p = rewrite("interm.gguf", &(rw){.extra = set_vision_interm_wrong});
    expect_load_fail(p, LLV_ERR_FORMAT, "intermediate_layers_indices");
    free(p);
    static const char *const no_layers[] = {"mllama.block_count", NULL};
    p = rewrite("no-blocks.gguf", &(rw){.drop_keys = no_layers});
    expect_load_fail(p, LLV_ERR_FORMAT, "mllama.block_count");
    free(p);
    /* a 2-D weight stored as F16 is fine (any weight type) */
    p = rewrite("w-f16.gguf", &(rw){.f16_tensor = "blk.2.ffn_up.weight"});
    llv_model *m = NULL;
    llv_error err = {0};
    CHECK_OK(llv_model_load(p, NULL, &m, &err), &err);
    llv_model_free(m);
    free(p);

    /* the old split layout: text tensors only, or vision tensors only */
    const char *names[] = {"text-only.gguf", "proj-only.gguf"};
    for (int k = 0; k < 2; k++) {
        llv_gguf *g = NULL;
        llv_gguf_writer *w = NULL;
        CHECK_OK(llv_gguf_open(good, &g, &err), &err);
        CHECK_OK(llv_gguf_writer_create(&w, &err), &err);
        if (!g || !w) { llv_gguf_close(g); llv_gguf_writer_free(w); continue; }
        CHECK_OK(llv_gguf_copy_kvs(w, g, &err), &err);
        bool vis;
        for (int64_t i = 0; i < llv_gguf_n_tensors(g); i++) {
            const llv_tensor *t = llv_gguf_tensor(g, i);
            vis = !strncmp(t->name, "v.", 2) || !strncmp(t->name, "mm.", 3);
            if (vis == (k == 1)) llv_gguf_add_tensor(w, t->name, t->type, t->n_dims, t->ne, &err);
        }
        p = tpath(names[k]);
        CHECK_OK(llv_gguf_writer_begin(w, p, &err), &err);
        for (int64_t i = 0; i < llv_gguf_n_tensors(g); i++) {
            const llv_tensor *t = llv_gguf_tensor(g, i);
            vis = !strncmp(t->name, "v.", 2) || !strncmp(t->name, "mm.", 3);
            if (vis == (k == 1)) llv_gguf_writer_write(w, t->data, t->nbytes, &err);
        }
        CHECK_OK(llv_gguf_writer_finish(w, &err), &err);
        llv_gguf_writer_free(w);
        llv_gguf_close(g);
        expect_load_fail(p, LLV_ERR_UNSUPPORTED, "split");
        free(p);
    }

    /* not GGUF v3: the reader refuses */
    p = tpath("v2.gguf");
    FILE *f = fopen(p, "wb");
    const unsigned char hdr[24] = {'G', 'G', 'U', 'F', 2, 0, 0, 0};
    fwrite(hdr, 1, sizeof hdr, f);
    fclose(f);
    m = NULL;
    llv_status s = llv_model_load(p, NULL, &m, &err);
    CHECK_MSG(s != LLV_OK && m == NULL, "GGUF v2 must be refused (%s)", llv_status_name(s));
    free(p);
    p = tpath("nothing-here.gguf");
    CHECK_STATUS(llv_model_load(p, NULL, &m, &err), LLV_ERR_IO, &err);
    free(p);
    CHECK_STATUS(llv_model_load(NULL, NULL, &m, &err), LLV_ERR_INVALID_ARGUMENT, &err);
}

/* a vocabulary-only file (llv-convert --vocab-only) loads with has_weights = false */
static void test_vocab_only(void) {
    if (!llv_test_case("vocab_only")) return;
    llv_synth_params sp = llv_synth_default_params();
    sp.hf_dir = true;
    char *dir = tpath("tiny-hf"), *p = tpath("vocab.gguf");
    llv_error err = {0};
    CHECK_OK(llv_synth(dir, &sp, &err), &err);
    llv_convert_params cp = llv_convert_default_params();
    cp.vocab_only = true;
    CHECK_OK(llv_convert(dir, p, &cp, &err), &err);
    llv_model *m = NULL;
    CHECK_OK(llv_model_load(p, NULL, &m, &err), &err);
    if (m) {
        llv_model_info info;
        llv_model_get_info(m, &info);
        CHECK(!info.has_weights && !info.has_vision);
        CHECK(!strcmp(info.architecture, "llama"));
        CHECK_EQ_I(info.n_vocab, 385);
        CHECK_EQ_I(info.bos_id, 368);
        bool eot = false;
        for (int i = 0; i < info.n_eog; i++) eot |= info.eog_ids[i] == 377;
        CHECK(eot);
        CHECK(info.chat_template && strstr(info.chat_template, "<|start_header_id|>") != NULL);
        CHECK(m->tok != NULL);
    }
    llv_model_free(m);
    free(p);
    free(dir);
}

/* a llama text model with tied embeddings */
static void test_llama(void) {
    if (!llv_test_case("llama")) return;
    llv_synth_params sp = llv_synth_default_params();
    sp.preset = "llama-tiny";
    sp.type = LLV_TYPE_BF16;
    char *p = tpath("llama.gguf");
    llv_error err = {0};
    CHECK_OK(llv_synth(p, &sp, &err), &err);
    llv_model *m = NULL;
    CHECK_OK(llv_model_load(p, NULL, &m, &err), &err);
    if (m) {
        llv_model_info info;
        llv_model_get_info(m, &info);
        CHECK(!strcmp(info.architecture, "llama") && !info.has_vision && info.has_weights);
        CHECK_EQ_I(info.n_layer, 3);
        CHECK_EQ_I(info.weight_type, LLV_TYPE_BF16);
        CHECK_EQ_I(info.image_token_id, -1);
        CHECK(m->text.output == m->text.tok_embd);
        CHECK(m->hp.rope_llama3);
    }
    llv_model_free(m);
    free(p);
}

/* the golden configs load with the hyperparameters MANIFEST.md lists */
static void test_golden_configs(void) {
    if (!llv_test_case("golden_configs")) return;
    const char *shared = llv_test_shared_dir();
    if (!shared) {
        printf("  (no shared data: skipped)\n");
        return;
    }
    struct { const char *cfg; int P, Ppad, hd, v_out, vocab, bos, n_cross; } want[] = {
        {"tiny-a", 17, 24, 16, 192, 320, 64, 3}, {"tiny-c", 10, 16, 8, 96, 288, 32, 2}};
    for (int i = 0; i < 2; i++) {
        char rel[64];
        snprintf(rel, sizeof rel, "golden/models/%s", want[i].cfg);
        char *dir = llv_test_path(shared, rel), *out = tpath(want[i].cfg);
        llv_convert_params cp = llv_convert_default_params();
        cp.type = LLV_TYPE_F32;
        llv_error err = {0};
        CHECK_OK(llv_convert(dir, out, &cp, &err), &err);
        llv_model *m = NULL;
        CHECK_OK(llv_model_load(out, NULL, &m, &err), &err);
        if (m) {
            CHECK_EQ_I(m->hp.v_P, want[i].P);
            CHECK_EQ_I(m->hp.v_Ppad, want[i].Ppad);
            CHECK_EQ_I(m->hp.head_dim, want[i].hd);
            CHECK_EQ_I(m->hp.v_output_dim, want[i].v_out);
            CHECK_EQ_I(m->hp.n_vocab, want[i].vocab);
            CHECK_EQ_I(m->hp.n_embd_rows, want[i].vocab + 8);
            CHECK_EQ_I(m->hp.image_token_id, want[i].vocab);
            CHECK_EQ_I(m->bos_id, want[i].bos);
            CHECK_EQ_I(m->pad_id, want[i].bos + 4);
            CHECK(m->n_eog == 3 && m->eog[0] == want[i].bos + 1 && m->eog[2] == want[i].bos + 9);
            CHECK_EQ_I(m->hp.n_cross, want[i].n_cross);
            CHECK(m->hp.rope_llama3);
            CHECK(m->hp.rms_eps == 1e-5f && m->hp.v_eps == 1e-5f);
        }
        llv_model_free(m);
        free(dir);
        free(out);
    }
}

int main(int argc, char **argv) {
    llv_test_init(argc, argv);
    tmp = llv_test_tmpdir();
    if (!tmp) llv_test_skip("no temporary directory");
    good = tpath("good.gguf");
    llv_synth_params sp = llv_synth_default_params();
    sp.preset = "tiny";
    sp.seed = 3;
    llv_error err = {0};
    CHECK_OK(llv_synth(good, &sp, &err), &err);
    test_good();
    progress_count();
    test_ollama();
    test_rope_freqs_custom();
    test_errors();
    test_vocab_only();
    test_llama();
    test_golden_configs();
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmp);
    if (system(cmd) != 0) printf("  (could not remove %s)\n", tmp);
    free(good);
    free(tmp);
    return llv_test_finish();
}
