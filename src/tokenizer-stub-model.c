/* tokenizer-stub-model.c - TEMP weak stubs until `convert` (src/model.c)
 * lands: enough of a vocabulary-only load for llv-tokenize (tokenizer, BOS,
 * end-of-generation). In a file of their own so that a static link pulls
 * this member only when nothing else defines llv_model_load/llv_model_free.
 * Delete this file when model.c is merged. */
#include "model.h"
#include "tokenizer.h"

#include <stdlib.h>
#include <string.h>

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
