/* fuzz-grammar.c - GBNF parsing, the JSON-schema converter and the matcher.
 *
 * Byte 0 = flags (bit 0: the text is a JSON schema, converted first; bits
 * 1-3: chunk size - 1 for feeding the matcher). The rest up to the first NUL
 * is the grammar (or schema) text; the bytes after it are fed to the matcher.
 * Oracles besides "no crash": a rejected chunk leaves the state unchanged;
 * llv_grammar_allowed_bytes agrees with accept_bytes; the vocabulary mask
 * over a small vocabulary (fixed pieces plus slices of the input) equals
 * per-token acceptance; the schema converter's output always parses. */
#include "fuzz.h"
#include "grammar.h"
#include "json-schema.h"

#include <stdbool.h>
#include <string.h>

static const char *const pieces[] = {"\"", "{", "}", "[", "]", ",", ":", " ", "\n", "a", "0", "1", "-", ".", "e",
                                     "true", "null", "\\", "\\u", "\xc3", "\xa9", "\xe2\x82\xac", "\xf0\x9f\x98",
                                     "ab", "\":", "{\"", "x", "\x80", "\xff"};
#define N_PIECES (sizeof pieces / sizeof pieces[0])
#define N_SLICES 16

static bool same_state(llv_grammar_state *a, llv_grammar_state *b) {
    bool x[256], y[256];
    if (llv_grammar_can_end(a) != llv_grammar_can_end(b)) return false;
    llv_grammar_allowed_bytes(a, x);
    llv_grammar_allowed_bytes(b, y);
    return memcmp(x, y, sizeof x) == 0;
}

LLV_FUZZ_TARGET(grammar) {
    if (size < 1) return 0;
    uint8_t flags = data[0];
    const uint8_t *text = data + 1, *end = data + size;
    const uint8_t *z = memchr(text, 0, (size_t)(end - text));
    size_t tn = z ? (size_t)(z - text) : (size_t)(end - text);
    const uint8_t *in = z ? z + 1 : end;
    size_t in_n = (size_t)(end - in);
    llv_error err;
    char *gbnf = NULL;
    if (flags & 1) {
        if (llv_json_schema_to_grammar((const char *)text, tn, &gbnf, &err) != LLV_OK) return 0;
        tn = strlen(gbnf);
    }
    llv_grammar *g = NULL;
    llv_status st = llv_grammar_parse(gbnf ? gbnf : (const char *)text, tn, &g, &err);
    LLV_FUZZ_ASSERT(!gbnf || st == LLV_OK); /* the converter checked its output */
    free(gbnf);
    if (st != LLV_OK) {
        LLV_FUZZ_ASSERT(g == NULL && err.message[0]);
        return 0;
    }
    /* a vocabulary: the pieces, then slices of the input */
    const char *toks[N_PIECES + N_SLICES + 1];
    size_t lens[N_PIECES + N_SLICES + 1];
    int32_t nv = 0;
    for (size_t i = 0; i < N_PIECES; i++) toks[nv] = pieces[i], lens[nv++] = strlen(pieces[i]);
    for (size_t i = 0; i < N_SLICES && in_n; i++) {
        size_t at = (i * 7919) % in_n, len = 1 + (i % 5);
        if (at + len > in_n) len = in_n - at;
        toks[nv] = (const char *)in + at, lens[nv++] = len;
    }
    int32_t eog = nv;
    toks[nv] = NULL, lens[nv++] = 0;
    llv_grammar_vocab *v = NULL;
    LLV_FUZZ_ASSERT(llv_grammar_vocab_new(toks, lens, nv, &eog, 1, &v, &err) == LLV_OK);
    llv_grammar_state *s = llv_grammar_state_new(g);
    LLV_FUZZ_ASSERT(s != NULL);
    size_t chunk = 1 + ((flags >> 1) & 7);
    uint64_t bits[1];
    for (size_t pos = 0, step = 0; pos < in_n; pos += chunk, step++) {
        size_t n = in_n - pos < chunk ? in_n - pos : chunk;
        if (step % 4 == 0) { /* mask == per-token acceptance */
            int32_t count = llv_grammar_mask_bits(s, v, bits), recount = 0;
            for (int32_t t = 0; t < nv && count >= 0; t++) { /* -1: over the mask budget */
                bool bit = (bits[0] >> t) & 1, want;
                if (t == eog) want = llv_grammar_can_end(s);
                else {
                    llv_grammar_state *c = llv_grammar_state_clone(s);
                    LLV_FUZZ_ASSERT(c != NULL);
                    want = llv_grammar_accept_bytes(c, toks[t], lens[t]);
                    llv_grammar_state_free(c);
                }
                LLV_FUZZ_ASSERT(bit == want);
                recount += bit;
            }
            LLV_FUZZ_ASSERT(count < 0 || count == recount);
        }
        bool allowed[256];
        llv_grammar_allowed_bytes(s, allowed);
        llv_grammar_state *before = llv_grammar_state_clone(s);
        LLV_FUZZ_ASSERT(before != NULL);
        bool ok = llv_grammar_accept_bytes(s, (const char *)in + pos, n);
        if (n == 1) LLV_FUZZ_ASSERT(ok == allowed[in[pos]]);
        if (!ok) LLV_FUZZ_ASSERT(same_state(s, before));
        llv_grammar_state_free(before);
    }
    llv_grammar_state_free(s);
    llv_grammar_vocab_free(v);
    llv_grammar_free(g);
    return 0;
}
