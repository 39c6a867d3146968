/* constraint.c - see constraint.h. */
#include "constraint.h"

#include "grammar.h"
#include "json-schema.h"
#include "tokenizer.h"

#include <stdlib.h>
#include <string.h>

struct llv_constraint {
    llv_grammar             *g;
    llv_grammar_state       *st;
    const llv_grammar_vocab *v;
    int32_t                  steps;
};

/* The model's token byte strings in a trie, once (under the model's mutex). */
static llv_status model_vocab(const llv_model *cm, const llv_grammar_vocab **out, llv_error *err) {
    llv_model *m = (llv_model *)cm; /* the lazily built trie is the model's only mutable part, locked */
    pthread_mutex_lock(&m->grammar_mu);
    llv_status st = LLV_OK;
    if (!m->grammar_vocab) {
        const int32_t n = m->hp.n_vocab;
        const char **toks = calloc((size_t)n, sizeof *toks);
        size_t *lens = calloc((size_t)n, sizeof *lens);
        if (!toks || !lens) st = llv_err(err, LLV_ERR_OUT_OF_MEMORY, "structured output: out of memory");
        for (int32_t i = 0; st == LLV_OK && i < n; i++) {
            if (llv_tokenizer_is_special(m->tok, i)) continue; /* control tokens are never part of the text */
            toks[i] = llv_tokenizer_token_bytes(m->tok, i, &lens[i]);
        }
        if (st == LLV_OK) {
            const int32_t *eog = NULL;
            int32_t n_eog = llv_tokenizer_eog(m->tok, &eog);
            int32_t in[LLV_MAX_EOG];
            size_t k = 0;
            for (int32_t i = 0; i < n_eog && k < LLV_MAX_EOG; i++)
                if (eog[i] >= 0 && eog[i] < n) in[k++] = eog[i];
            st = llv_grammar_vocab_new(toks, lens, n, in, k, &m->grammar_vocab, err);
        }
        free(toks);
        free(lens);
    }
    *out = m->grammar_vocab;
    pthread_mutex_unlock(&m->grammar_mu);
    return st;
}

/* The constraint's grammar: parsed GBNF, or the schema (or object) converted first. */
static llv_status compile(const llv_sampling_params *p, llv_grammar **g, llv_error *err) {
    *g = NULL;
    char *gbnf = NULL;
    llv_status st = LLV_OK;
    const char *what = p->grammar ? "grammar" : p->json_schema ? "json_schema" : "json_object";
    if (p->json_schema) st = llv_json_schema_to_grammar(p->json_schema, strlen(p->json_schema), &gbnf, err);
    else if (p->json_object) st = llv_json_object_grammar(&gbnf, err);
    if (st == LLV_OK) {
        const char *text = gbnf ? gbnf : p->grammar;
        st = llv_grammar_parse(text, strlen(text), g, err);
    }
    free(gbnf);
    if (st != LLV_OK) llv_err_prefix(err, "%s", what);
    return st;
}

llv_status llv_constraint_check(const llv_sampling_params *p, llv_error *err) {
    if (!p->grammar && !p->json_schema && !p->json_object) return LLV_OK;
    llv_grammar *g = NULL;
    llv_status st = compile(p, &g, err);
    llv_grammar_free(g);
    return st;
}

llv_status llv_constraint_create(const llv_model *m, const llv_sampling_params *p, llv_constraint **out,
                                 llv_error *err) {
    *out = NULL;
    /* exclusive: llv_sampling_params_validate */
    if (!p->grammar && !p->json_schema && !p->json_object) return LLV_OK;
    if (!m->tok) return llv_err(err, LLV_ERR_UNSUPPORTED, "structured output: the model file has no tokenizer");
    const llv_grammar_vocab *v = NULL;
    llv_grammar *g = NULL;
    llv_status st = compile(p, &g, err);
    if (st == LLV_OK) st = model_vocab(m, &v, err);
    if (st != LLV_OK) {
        llv_grammar_free(g);
        return st;
    }
    llv_constraint *c = calloc(1, sizeof *c);
    if (!c || !(c->st = llv_grammar_state_new(g))) {
        free(c);
        llv_grammar_free(g);
        return llv_err(err, LLV_ERR_OUT_OF_MEMORY, "structured output: out of memory");
    }
    c->g = g;
    c->v = v;
    *out = c;
    return LLV_OK;
}

void llv_constraint_free(llv_constraint *c) {
    if (!c) return;
    llv_grammar_state_free(c->st);
    llv_grammar_free(c->g);
    free(c);
}

llv_status llv_constraint_mask(llv_constraint *c, float *logits, int32_t n_vocab, llv_error *err) {
    int32_t n = llv_grammar_mask(c->st, c->v, logits, n_vocab);
    if (n > 0) return LLV_OK;
    return llv_err(err, LLV_ERR_STATE,
                   n == 0 ? "structured output: after %d tokens no token of the vocabulary can continue the output"
                          : "structured output: after %d tokens the grammar is too ambiguous to mask within its budget",
                   c->steps);
}

llv_status llv_constraint_accept(llv_constraint *c, int32_t token, llv_error *err) {
    if (!llv_grammar_accept_token(c->st, c->v, token))
        return llv_err(err, LLV_ERR_INTERNAL, "structured output: token %d, allowed by the mask, was refused", token);
    c->steps++;
    return LLV_OK;
}
