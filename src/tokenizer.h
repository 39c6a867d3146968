/* tokenizer.h - Llama 3 byte-level BPE (tiktoken semantics) with the PCRE2
 * pre-tokenizer, special tokens, and a streaming UTF-8-safe detokenizer. Data
 * comes from the GGUF keys llama.cpp writes (tokenizer.ggml.*). */
#ifndef LLV_TOKENIZER_H
#define LLV_TOKENIZER_H

#include "common.h"
#include "gguf.h"

#include <stdbool.h>

typedef struct llv_tokenizer llv_tokenizer;

/* Builds the tokenizer from a GGUF's tokenizer.ggml.* keys. Sets *out = NULL
 * and returns LLV_OK when the file has no tokenizer.ggml.model key. */
llv_status llv_tokenizer_load(const llv_gguf *g, llv_tokenizer **out, llv_error *err);
void       llv_tokenizer_free(llv_tokenizer *t);

int32_t llv_tokenizer_n_tokens(const llv_tokenizer *t);
/* Id of a token given its exact text (e.g. "<|image|>"), or -1. */
int32_t llv_tokenizer_find(const llv_tokenizer *t, const char *text);
/* true for control/special tokens (token_type CONTROL). */
bool    llv_tokenizer_is_special(const llv_tokenizer *t, int32_t id);
int32_t llv_tokenizer_bos(const llv_tokenizer *t);   /* -1 if none */
bool    llv_tokenizer_add_bos(const llv_tokenizer *t); /* tokenizer.ggml.add_bos_token */

/* Encodes n bytes of text; flags are LLV_TOKENIZE_* of llv.h. *out is
 * malloc'd (free with free()). Invalid UTF-8 is encoded byte-wise. */
llv_status llv_tokenizer_encode(const llv_tokenizer *t, const char *text, size_t n, uint32_t flags, int32_t **out,
                                size_t *n_out, llv_error *err);
/* Raw bytes of a token (specials: their text); NULL if out of range. */
const char *llv_tokenizer_token_bytes(const llv_tokenizer *t, int32_t id, size_t *n);

/* Streaming detokenizer: holds back an incomplete UTF-8 sequence at the end
 * until it completes; bytes that can never form valid UTF-8 are emitted as
 * U+FFFD (as HF's decode does). */
typedef struct llv_detok {
    unsigned char pending[4];
    size_t        n_pending;
} llv_detok;
/* Appends the complete UTF-8 produced by `bytes` to out (cap bytes; needs at
 * most n + 8 bytes) and returns the count written. */
size_t llv_detok_push(llv_detok *d, const char *bytes, size_t n, char *out, size_t cap);
/* Flushes what is held back (as U+FFFD) at the end of a stream. */
size_t llv_detok_flush(llv_detok *d, char *out, size_t cap);

/* Converter side: reads hf_dir/tokenizer.json (+ tokenizer_config.json) and
 * writes the tokenizer.ggml.* keys (and tokenizer.chat_template) to w. Sets
 * *found = false (and returns OK) when the directory has no tokenizer.json. */
struct llv_gguf_writer;
llv_status llv_convert_tokenizer(const char *hf_dir, struct llv_gguf_writer *w, bool *found, llv_error *err);

#endif
