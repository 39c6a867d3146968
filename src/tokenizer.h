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

/* End-of-generation ids (eos_token_ids, else eos + eot/eom/end_of_text);
 * returns the count and sets *ids (valid while t lives). */
int32_t llv_tokenizer_eog(const llv_tokenizer *t, const int32_t **ids);
int32_t llv_tokenizer_eos(const llv_tokenizer *t);   /* -1 if none */
int32_t llv_tokenizer_pad(const llv_tokenizer *t);   /* -1 if none */

/* Streaming detokenizer: holds back an incomplete UTF-8 sequence at the end
 * until it completes; bytes that can never form valid UTF-8 are emitted as
 * U+FFFD (as HF's decode does: one per maximal invalid subsequence). Zero-
 * initialise before use. */
typedef struct llv_detok {
    unsigned char pending[4];
    size_t        n_pending;
} llv_detok;
/* Output bytes one push of n input bytes can produce (each invalid byte may
 * become a 3-byte U+FFFD, plus the held-back bytes). */
#define LLV_DETOK_MAX_OUT(n) (3 * (size_t)(n) + 12)
/* Appends the complete UTF-8 produced by `bytes` to out and returns the count
 * written. cap must be >= LLV_DETOK_MAX_OUT(n); output never exceeds cap (it
 * is truncated if cap is smaller). */
size_t llv_detok_push(llv_detok *d, const char *bytes, size_t n, char *out, size_t cap);
/* Flushes what is held back (as U+FFFD) at the end of a stream. */
size_t llv_detok_flush(llv_detok *d, char *out, size_t cap);

/* The Llama 3 pre-tokenizer regex (tokenizer.ggml.pre = "llama-bpe"). */
#define LLV_LLAMA3_REGEX                                                                                          \
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|"     \
    "\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"

/* Token types (llama.cpp's tokenizer.ggml.token_type values). */
enum { LLV_TOKEN_NORMAL = 1, LLV_TOKEN_UNKNOWN = 2, LLV_TOKEN_CONTROL = 3, LLV_TOKEN_USER_DEFINED = 4,
       LLV_TOKEN_UNUSED = 5, LLV_TOKEN_BYTE = 6 };

/* In-memory form of the tokenizer.ggml.* keys: what llv_tokenizer_load reads
 * from a GGUF and what the converter writes. Token and merge strings are in
 * the GPT-2 byte-level alphabet ("\u0120" for space) except CONTROL and
 * USER_DEFINED tokens, which hold their plain text. */
typedef struct llv_tokenizer_desc {
    const char         *model;        /* "gpt2"                                  */
    const char         *pre;          /* "llama-bpe", ...; NULL = "default"      */
    size_t              n_tokens;
    const char *const  *tokens;
    const size_t       *token_lens;
    const int32_t      *token_types;  /* NULL = all NORMAL                       */
    size_t              n_merges;
    const char *const  *merges;       /* "left right"                            */
    const size_t       *merge_lens;
    int32_t             bos_id, eos_id, pad_id, eot_id, eom_id; /* -1 = none     */
    const int32_t      *eog_ids;      /* tokenizer.ggml.eos_token_ids; NULL = derive */
    size_t              n_eog;
    int                 add_bos;      /* 1, 0, or -1 = default of the pre type  */
} llv_tokenizer_desc;

/* Builds a tokenizer from a description (everything is copied). */
llv_status llv_tokenizer_create(const llv_tokenizer_desc *d, llv_tokenizer **out, llv_error *err);

#endif
