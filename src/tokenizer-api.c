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
    llv_err_clear(err);
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
    llv_err_clear(err);
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
