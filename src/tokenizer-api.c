/* tokenizer-api.c - the public token functions of llv.h over the model's
 * tokenizer (m->tok) and its BOS / end-of-generation settings. */
#include "model.h"
#include "tokenizer.h"

#include <stdlib.h>
#include <string.h>

static llv_status need_tok(const llv_model *m, llv_error *err) {
    if (!m) return llv_err(err, LLV_ERR_INVALID_ARGUMENT, "model is NULL");
    if (!m->tok) return llv_err(err, LLV_ERR_UNSUPPORTED, "the model file has no tokenizer (no tokenizer.ggml.* keys)");
    return LLV_OK;
}

llv_status llv_tokenize(const llv_model *model, const char *text, size_t n_bytes, uint32_t flags, int32_t *tokens,
                        size_t capacity, size_t *n_tokens, llv_error *err) {
    if (n_tokens) *n_tokens = 0;
    llv_status st = need_tok(model, err);
    if (st != LLV_OK) return st;
    if (!n_tokens) return llv_err(err, LLV_ERR_INVALID_ARGUMENT, "tokenize: n_tokens is NULL");
    if (!tokens && capacity) return llv_err(err, LLV_ERR_INVALID_ARGUMENT, "tokenize: tokens is NULL, capacity %zu",
                                            capacity);
    if (flags & ~(uint32_t)(LLV_TOKENIZE_ADD_BOS | LLV_TOKENIZE_PARSE_SPECIAL))
        return llv_err(err, LLV_ERR_INVALID_ARGUMENT, "tokenize: unknown flags 0x%x", (unsigned)flags);
    /* BOS comes from the model (model.c may override the tokenizer's metadata) */
    bool bos = (flags & LLV_TOKENIZE_ADD_BOS) && model->add_bos && model->bos_id >= 0;
    int32_t *ids;
    size_t n;
    st = llv_tokenizer_encode(model->tok, text, n_bytes, flags & ~(uint32_t)LLV_TOKENIZE_ADD_BOS, &ids, &n, err);
    if (st != LLV_OK) return st;
    size_t need = n + (bos ? 1 : 0);
    *n_tokens = need;
    if (need > capacity) {
        free(ids);
        return llv_err(err, LLV_ERR_BUFFER_TOO_SMALL, "tokenize: %zu tokens do not fit in a buffer of %zu", need,
                       capacity);
    }
    if (bos) tokens[0] = model->bos_id;
    if (n) memcpy(tokens + (bos ? 1 : 0), ids, n * sizeof *ids);
    free(ids);
    return LLV_OK;
}

const char *llv_token_bytes(const llv_model *model, int32_t token, size_t *n_bytes) {
    if (n_bytes) *n_bytes = 0;
    if (!model || !model->tok) return NULL;
    return llv_tokenizer_token_bytes(model->tok, token, n_bytes);
}

llv_status llv_detokenize(const llv_model *model, const int32_t *tokens, size_t n, bool skip_special, char *buf,
                          size_t capacity, size_t *n_bytes, llv_error *err) {
    if (n_bytes) *n_bytes = 0;
    llv_status st = need_tok(model, err);
    if (st != LLV_OK) return st;
    if (!n_bytes) return llv_err(err, LLV_ERR_INVALID_ARGUMENT, "detokenize: n_bytes is NULL");
    if (!tokens && n) return llv_err(err, LLV_ERR_INVALID_ARGUMENT, "detokenize: tokens is NULL, n %zu", n);
    if (!buf && capacity) return llv_err(err, LLV_ERR_INVALID_ARGUMENT, "detokenize: buf is NULL, capacity %zu",
                                         capacity);
    const llv_tokenizer *t = model->tok;
    size_t total = 0;
    for (size_t i = 0; i < n; i++) {
        size_t len;
        if (!llv_tokenizer_token_bytes(t, tokens[i], &len))
            return llv_err(err, LLV_ERR_INVALID_ARGUMENT, "detokenize: tokens[%zu] = %d is outside the vocabulary (0..%d)",
                           i, (int)tokens[i], (int)llv_tokenizer_n_tokens(t) - 1);
        if (skip_special && llv_tokenizer_is_special(t, tokens[i])) continue;
        total += len; /* token lengths are < 4 GiB in total: no overflow for sane n */
    }
    *n_bytes = total;
    if (total > capacity)
        return llv_err(err, LLV_ERR_BUFFER_TOO_SMALL, "detokenize: %zu bytes do not fit in a buffer of %zu", total,
                       capacity);
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        if (skip_special && llv_tokenizer_is_special(t, tokens[i])) continue;
        size_t len;
        const char *p = llv_tokenizer_token_bytes(t, tokens[i], &len);
        memcpy(buf + o, p, len);
        o += len;
    }
    return LLV_OK;
}

bool llv_token_is_eog(const llv_model *model, int32_t token) {
    if (!model) return false;
    for (int32_t i = 0; i < model->n_eog; i++)
        if (model->eog[i] == token) return true;
    return false;
}

/* ------------------------------------------------------------------------- */
/* TEMP weak stubs until `files` (src/gguf.c) lands: they only let the library
 * link; every call fails with LLV_ERR_UNSUPPORTED.                          */
/* ------------------------------------------------------------------------- */
#define TEMP_STUB(what) llv_err(err, LLV_ERR_UNSUPPORTED, "%s: TEMP stub, gguf.c not merged yet", what)

__attribute__((weak)) llv_status llv_gguf_open(const char *path, llv_gguf **out, llv_error *err) {
    *out = NULL;
    return TEMP_STUB("llv_gguf_open");
}
__attribute__((weak)) void llv_gguf_close(llv_gguf *g) { (void)g; }
__attribute__((weak)) int64_t llv_gguf_find_key(const llv_gguf *g, const char *key) { return -1; }
__attribute__((weak)) llv_gguf_vtype llv_gguf_kv_type(const llv_gguf *g, int64_t i) { return LLV_GGUF_U8; }
__attribute__((weak)) llv_gguf_vtype llv_gguf_arr_type(const llv_gguf *g, int64_t i) { return LLV_GGUF_U8; }
__attribute__((weak)) uint64_t llv_gguf_arr_n(const llv_gguf *g, int64_t i) { return 0; }
__attribute__((weak)) llv_gguf_str llv_gguf_arr_str(const llv_gguf *g, int64_t i, uint64_t j) {
    return (llv_gguf_str){NULL, 0};
}
__attribute__((weak)) llv_status llv_gguf_get_i64(const llv_gguf *g, const char *key, int64_t *out, llv_error *err) {
    return TEMP_STUB("llv_gguf_get_i64");
}
__attribute__((weak)) llv_status llv_gguf_get_bool(const llv_gguf *g, const char *key, bool *out, llv_error *err) {
    return TEMP_STUB("llv_gguf_get_bool");
}
__attribute__((weak)) llv_status llv_gguf_get_str(const llv_gguf *g, const char *key, llv_gguf_str *out,
                                                  llv_error *err) {
    return TEMP_STUB("llv_gguf_get_str");
}
__attribute__((weak)) llv_status llv_gguf_get_arr_i64(const llv_gguf *g, const char *key, int64_t *out, size_t cap,
                                                      size_t *n, llv_error *err) {
    return TEMP_STUB("llv_gguf_get_arr_i64");
}
__attribute__((weak)) llv_status llv_gguf_writer_create(llv_gguf_writer **out, llv_error *err) {
    *out = NULL;
    return TEMP_STUB("llv_gguf_writer_create");
}
__attribute__((weak)) void llv_gguf_writer_free(llv_gguf_writer *w) { (void)w; }
__attribute__((weak)) llv_status llv_gguf_set_u32(llv_gguf_writer *w, const char *key, uint32_t v, llv_error *err) {
    return TEMP_STUB("llv_gguf_set_u32");
}
__attribute__((weak)) llv_status llv_gguf_set_bool(llv_gguf_writer *w, const char *key, bool v, llv_error *err) {
    return TEMP_STUB("llv_gguf_set_bool");
}
__attribute__((weak)) llv_status llv_gguf_set_str(llv_gguf_writer *w, const char *key, const char *v, llv_error *err) {
    return TEMP_STUB("llv_gguf_set_str");
}
__attribute__((weak)) llv_status llv_gguf_set_arr(llv_gguf_writer *w, const char *key, llv_gguf_vtype type,
                                                  const void *data, size_t n, llv_error *err) {
    return TEMP_STUB("llv_gguf_set_arr");
}
__attribute__((weak)) llv_status llv_gguf_set_arr_str(llv_gguf_writer *w, const char *key, const char *const *strs,
                                                      const size_t *lens, size_t n, llv_error *err) {
    return TEMP_STUB("llv_gguf_set_arr_str");
}
__attribute__((weak)) llv_status llv_gguf_writer_begin(llv_gguf_writer *w, const char *path, llv_error *err) {
    return TEMP_STUB("llv_gguf_writer_begin");
}
__attribute__((weak)) llv_status llv_gguf_writer_finish(llv_gguf_writer *w, llv_error *err) {
    return TEMP_STUB("llv_gguf_writer_finish");
}

/* TEMP weak stubs until `convert` (src/model.c) lands: enough of a
 * vocabulary-only load for llv-tokenize (tokenizer, BOS, end-of-generation). */
__attribute__((weak)) void llv_model_free(llv_model *m) {
    if (!m) return;
    llv_tokenizer_free(m->tok);
    llv_gguf_close(m->gguf);
    free(m);
}
__attribute__((weak)) llv_status llv_model_load(const char *path, const llv_model_params *params, llv_model **out,
                                                llv_error *err) {
    *out = NULL;
    llv_model *m = calloc(1, sizeof *m);
    if (!m) return llv_err(err, LLV_ERR_OUT_OF_MEMORY, "out of memory");
    llv_status st = llv_gguf_open(path, &m->gguf, err);
    if (st == LLV_OK) st = llv_tokenizer_load(m->gguf, &m->tok, err);
    if (st != LLV_OK) {
        llv_model_free(m);
        return st;
    }
    m->bos_id = m->pad_id = -1;
    if (m->tok) {
        const int32_t *eog;
        int32_t n = llv_tokenizer_eog(m->tok, &eog);
        m->n_eog = LLV_MIN(n, LLV_MAX_EOG);
        memcpy(m->eog, eog, (size_t)m->n_eog * sizeof *eog);
        m->bos_id = llv_tokenizer_bos(m->tok);
        m->pad_id = llv_tokenizer_pad(m->tok);
        m->add_bos = llv_tokenizer_add_bos(m->tok);
    }
    *out = m;
    return LLV_OK;
}
