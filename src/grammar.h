/* grammar.h - GBNF grammars (llama.cpp's syntax, docs/grammar.md) and a
 * pushdown matcher over Unicode code points fed with UTF-8 bytes, for
 * grammar-constrained sampling.
 *
 * Pieces and ownership:
 *   llv_grammar        immutable after llv_grammar_parse; may be shared by any
 *                      number of states and threads. Outlives its states.
 *   llv_grammar_state  a position in the language (the output so far). Owns a
 *                      lazily built DFA cache over the grammar (configurations
 *                      of parse stacks, their byte transitions, recent token
 *                      masks), bounded by LLV_GRAMMAR_CACHE_BYTES. Not
 *                      thread-safe: one state per generation (clone for more).
 *   llv_grammar_vocab  per vocabulary, independent of any grammar: the token
 *                      byte strings in a byte trie. Immutable; shareable.
 *
 * Use in a sampler (one generation):
 *   once per model:  llv_grammar_vocab_new(token byte strings, eog ids)
 *   once per request: llv_grammar_parse (GBNF, or llv_json_schema_to_grammar's
 *                    output, json-schema.h), llv_grammar_state_new
 *   every step:      n = llv_grammar_mask(state, vocab, logits, n_vocab) before
 *                    any other logits processing (penalties, temperature,
 *                    top-k/p see only allowed tokens); n <= 0: stop with an
 *                    error (nothing can follow); sample; then
 *                    llv_grammar_accept_token(state, vocab, id) (true for
 *                    every id the mask allowed); stop at an eog id.
 * Token byte strings are what the token adds to the output text (byte-level
 * BPE pieces decoded to raw bytes, possibly partial UTF-8).
 *
 * Bounded by the limits below (one place): parsing fails with
 * LLV_ERR_INVALID_ARGUMENT (message "line:col: ..."), and at match time a
 * step that would exceed a limit is rejected (the byte or token is not
 * allowed) instead of growing without bound. */
#ifndef LLV_GRAMMAR_H
#define LLV_GRAMMAR_H

#include "common.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ---- limits (the one place) ---- */
#define LLV_GRAMMAR_MAX_BYTES        (1u << 20) /* grammar text (JSON-schema output included)     */
#define LLV_GRAMMAR_MAX_RULES        65536      /* rules, generated ones (groups, repeats) too   */
#define LLV_GRAMMAR_MAX_ELEMENTS     (1u << 21) /* symbols after expanding repetitions           */
#define LLV_GRAMMAR_MAX_NESTING      256        /* ( ) nesting while parsing                     */
#define LLV_GRAMMAR_MAX_REPEAT       10000      /* m and n of x{m,n}                             */
#define LLV_GRAMMAR_MAX_STACKS       4096       /* live parse stacks in one configuration        */
#define LLV_GRAMMAR_MAX_STACK_DEPTH  2048       /* entries of one parse stack (output nesting)   */
#define LLV_GRAMMAR_MAX_CONFIG_WORDS (1u << 18) /* all stacks of one configuration, in entries   */
#define LLV_GRAMMAR_MAX_EXPAND       (1u << 20) /* expansion work per code point (steps + copies) */
#define LLV_GRAMMAR_MASK_BUDGET      (1ull << 27) /* expansion work of one mask (then it fails)   */
#define LLV_GRAMMAR_CACHE_BYTES      (48u << 20) /* a state's DFA cache; flushed when over        */
#define LLV_GRAMMAR_MASK_CACHE       64         /* token masks remembered per state              */
#define LLV_GRAMMAR_MAX_TOKEN_BYTES  1024       /* a vocabulary token's bytes                    */

typedef struct llv_grammar       llv_grammar;
typedef struct llv_grammar_state llv_grammar_state;
typedef struct llv_grammar_vocab llv_grammar_vocab;

/* Parses GBNF text[0..n) (need not be NUL-terminated); the start rule is
 * `root`. Rejects (LLV_ERR_INVALID_ARGUMENT, "line:col: what"): syntax
 * errors, invalid UTF-8, undefined or twice-defined rules, a missing root,
 * left recursion (direct, indirect, or through rules that match the empty
 * string, e.g. ("a"?)*), rules that can never match a finite string, and
 * anything over a limit above. On success *out is owned by the caller. */
llv_status llv_grammar_parse(const char *text, size_t n, llv_grammar **out, llv_error *err);
void       llv_grammar_free(llv_grammar *g);

/* A state at the start of the language; NULL when out of memory. */
llv_grammar_state *llv_grammar_state_new(const llv_grammar *g);
/* An independent copy (its own, fresh cache); NULL when out of memory. */
llv_grammar_state *llv_grammar_state_clone(const llv_grammar_state *s);
/* Back to the start (keeps the cache: it depends only on the grammar). */
void llv_grammar_state_reset(llv_grammar_state *s);
void llv_grammar_state_free(llv_grammar_state *s);

/* Advances over bytes[0..n) (a token may end or start inside a UTF-8
 * sequence). Returns false, leaving the state unchanged, when the bytes do not
 * keep the output a prefix of some sentence: a byte the grammar does not allow
 * there, invalid UTF-8, or a limit. A partial code point is accepted only if
 * some completion of it is allowed. n == 0 is accepted. */
bool llv_grammar_accept_bytes(llv_grammar_state *s, const char *bytes, size_t n);
/* The output so far is a complete sentence (and ends on a code point). */
bool llv_grammar_can_end(const llv_grammar_state *s);
/* allowed[b] = accept_bytes of the single byte b would succeed (for tests and
 * byte-level generation); does not change the state. */
void llv_grammar_allowed_bytes(llv_grammar_state *s, bool allowed[256]);

/* A vocabulary for masks: tokens[i] (len lens[i]) is token i's byte string
 * (the bytes it adds to the output), NULL for tokens never allowed (special
 * and control tokens); eog[0..n_eog) are the end-of-generation ids, allowed
 * exactly where the output can end. Arrays are copied. Tokens longer than
 * LLV_GRAMMAR_MAX_TOKEN_BYTES and empty ones are never allowed.
 * LLV_ERR_INVALID_ARGUMENT for n_vocab <= 0 or an eog id out of range. */
llv_status llv_grammar_vocab_new(const char *const *tokens, const size_t *lens, int32_t n_vocab,
                                 const int32_t *eog, size_t n_eog, llv_grammar_vocab **out, llv_error *err);
void       llv_grammar_vocab_free(llv_grammar_vocab *v);
int32_t    llv_grammar_vocab_size(const llv_grammar_vocab *v);

/* The allowed tokens in state s as a bitset: bits[i / 64] bit i % 64, for
 * (n_vocab + 63) / 64 words. One walk of the vocabulary trie, pruning a
 * subtree at its first rejected byte; remembered per configuration. Returns
 * the number of allowed tokens (0: a dead end, e.g. the vocabulary cannot
 * spell any continuation; the caller should stop with an error), or -1 when
 * the walk would cost more than LLV_GRAMMAR_MASK_BUDGET (a pathologically
 * ambiguous grammar; bits are all zero; stop with an error too). */
int32_t llv_grammar_mask_bits(llv_grammar_state *s, const llv_grammar_vocab *v, uint64_t *bits);
/* Sets logits[i] = -INFINITY for every token not allowed in s (n_vocab must
 * be the vocabulary's size, else nothing is done and -1 is returned).
 * Returns the number of allowed tokens, as llv_grammar_mask_bits (on -1 the
 * logits are left unchanged). */
int32_t llv_grammar_mask(llv_grammar_state *s, const llv_grammar_vocab *v, float *logits, int32_t n_vocab);
/* Advances over a sampled token: an eog id succeeds (state unchanged) iff
 * llv_grammar_can_end; a token without bytes fails; others as accept_bytes. */
bool llv_grammar_accept_token(llv_grammar_state *s, const llv_grammar_vocab *v, int32_t id);

#endif
