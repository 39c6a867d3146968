/* hf-model.h - test helper: builds a struct llv_model (text part) directly from
 * a Hugging Face golden directory (config.json + model.safetensors), applying
 * the converter's transforms (self-attention q/k rows to adjacent-pair RoPE
 * order, gates tanh'ed). Used by the text tests until the GGUF loader lands. */
#ifndef LLV_HF_MODEL_H
#define LLV_HF_MODEL_H

#include "model.h"

/* F32 weights as stored (views into the safetensors mapping where possible). */
llv_status hf_model_load(const char *hf_dir, llv_model **out, llv_error *err);
/* Same, with every 2-D text weight (embeddings, projections, lm_head)
 * converted to `wtype` (F32, F16 or BF16) in owned memory. */
llv_status hf_model_load_typed(const char *hf_dir, llv_type wtype, llv_model **out, llv_error *err);
/* A `llama` model sharing src's weights with the cross-attention layers
 * removed and the rest renumbered (free with hf_model_free; src must outlive it). */
llv_status hf_model_make_llama(const llv_model *src, llv_model **out, llv_error *err);
void       hf_model_free(llv_model *m);

#endif
