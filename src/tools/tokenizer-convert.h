/* tokenizer-convert.h - the converter's side of the tokenizer: Hugging Face
 * tokenizer files read into an llv_tokenizer_desc (tokenizer.h) and written
 * as GGUF tokenizer.ggml.* keys. */
#ifndef LLV_TOKENIZER_CONVERT_H
#define LLV_TOKENIZER_CONVERT_H

#include "gguf.h"
#include "tokenizer.h"

/* HF side of the converter: tokenizer.json (+ optional tokenizer_config.json,
 * generation_config.json, chat_template.jinja/.json) parsed into a desc. */
typedef struct llv_tokenizer_hf llv_tokenizer_hf;
/* *found = false (and OK) when hf_dir has no tokenizer.json. */
llv_status llv_tokenizer_hf_read(const char *hf_dir, llv_tokenizer_hf **out, bool *found, llv_error *err);
const llv_tokenizer_desc *llv_tokenizer_hf_desc(const llv_tokenizer_hf *h);
const char *llv_tokenizer_hf_chat_template(const llv_tokenizer_hf *h); /* NULL if none */
void        llv_tokenizer_hf_free(llv_tokenizer_hf *h);

/* Converter side: reads hf_dir/tokenizer.json (+ tokenizer_config.json) and
 * writes the tokenizer.ggml.* keys (and tokenizer.chat_template) to w. Sets
 * *found = false (and returns OK) when the directory has no tokenizer.json. */
llv_status llv_convert_tokenizer(const char *hf_dir, llv_gguf_writer *w, bool *found, llv_error *err);

#endif
