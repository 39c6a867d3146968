/* convert.h - what the converters share (src/tools/): the base model shapes
 * a PEFT conversion needs, read by the HF converter (which knows
 * transformers' defaults), and the self-attention q/k row order. */
#ifndef LLV_CONVERT_H
#define LLV_CONVERT_H

#include "llv-tools.h"
#include "model.h"

/* Base model shapes that a PEFT conversion needs, from an HF config.json or
 * a GGUF model. */
typedef struct llv_lora_base {
    llv_arch arch;
    int64_t  hidden, n_head, n_kv, head_dim, ff, n_layer;
    bool     is_cross[LLV_MAX_LAYERS];
} llv_lora_base;

llv_status llv_convert_read_base(const char *hf_dir, llv_lora_base *out, llv_error *err);

/* Self-attention q/k rows are stored with each head's rotary pairs adjacent
 * (convert.c, transform 1): output row h*hd + 2i + j comes from HF's row
 * h*hd + j*hd/2 + i, hd = head_dim. Returns the source row of output row r. */
static inline int64_t llv_convert_rope_src_row(int64_t r, int64_t hd) {
    int64_t h = r / hd, q = r % hd, i = q / 2, j = q % 2;
    return h * hd + j * (hd / 2) + i;
}

#endif
