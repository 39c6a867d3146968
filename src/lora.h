/* lora.h - LoRA adapters for the text decoder.
 *
 * File format: llama.cpp's GGUF adapter layout. general.type = "adapter",
 * general.architecture = the base architecture, adapter.type = "lora",
 * adapter.lora.alpha (float); for each adapted base tensor NAME two tensors
 * NAME.lora_a (ne {n_in, r}) and NAME.lora_b (ne {r, n_out}), so that the
 * adapted projection is  y = W x + scale * B (A x),  scale = user_scale *
 * alpha / r (user_scale when alpha is 0, as llama.cpp does). Self-attention
 * q/k lora_b rows are in the same adjacent-pair order as the base weights
 * (src/tools/convert.c transform 1); cross-attention rows are as HF stores them.
 *
 * Adapted base tensors: blk.N.{attn_q,attn_k,attn_v,attn_output}.weight
 * (self layers), blk.N.cross_attn_{q,k,v,o}_proj.weight (cross layers),
 * blk.N.ffn_{gate,up,down}.weight (all layers).
 *
 * Adapters live in a registry inside the model (llv_model_lora_add); they are
 * applied unmerged by text.c when a batch names one (llv_text_batch.lora).
 * Offline merging and PEFT conversion (the tools library): src/tools/lora-convert.c. */
#ifndef LLV_LORA_H
#define LLV_LORA_H

#include "model.h"
#include "threadpool.h"

#define LLV_LORA_MAX_RANK 65536

/* The adaptable projections of a text layer. */
typedef enum llv_lora_proj {
    LLV_LORA_Q, LLV_LORA_K, LLV_LORA_V, LLV_LORA_O, LLV_LORA_GATE, LLV_LORA_UP, LLV_LORA_DOWN, LLV_LORA_PROJ_COUNT
} llv_lora_proj;

/* GGUF name part of a projection's base weight (blk.N.<part>.weight) in a
 * self-attention (cross = false) or cross-attention layer; NULL if out of range. */
const char *llv_lora_proj_suffix(bool cross, llv_lora_proj p);

typedef struct llv_lora_pair {
    const llv_tensor *base; /* the model's bound weight (W, ne {n_in, n_out}) */
    const llv_tensor *a;    /* ne {n_in, r}                                   */
    const llv_tensor *b;    /* ne {r, n_out}                                  */
    int32_t           rank;
    float             scale; /* user_scale * alpha / r; 0 = skip             */
} llv_lora_pair;

/* Per text layer: which projections are adapted (NULL = not adapted). */
typedef struct llv_lora_layer {
    const llv_lora_pair *wq, *wk, *wv, *wo, *ffn_gate, *ffn_up, *ffn_down;
} llv_lora_layer;

typedef struct llv_lora {
    const llv_model *model;   /* the model the adapter was bound to       */
    char          *name;
    char          *path;
    float          user_scale, alpha;
    int32_t        max_rank;
    int64_t        max_out;   /* largest n_out of an adapted tensor       */
    llv_gguf      *gguf;      /* the adapter file (tensors used in place) */
    llv_lora_pair *pairs;
    size_t         n_pairs;
    llv_lora_layer layers[LLV_MAX_LAYERS];
} llv_lora;

/* Opens an adapter file and binds it to `m` (architecture, names, ranks and
 * shapes checked against the model; errors name the tensor, expected vs
 * found). `name` may be NULL (merge tool). */
llv_status llv_lora_load(const llv_model *m, const char *name, const char *path, float user_scale, llv_lora **out,
                         llv_error *err);
void       llv_lora_free(llv_lora *l);

/* The registry: lookup by name (NULL when absent or name is NULL/empty). */
const llv_lora *llv_model_lora_find(const llv_model *m, const char *name);
/* Frees every adapter of the model's registry (called by llv_model_free). */
void            llv_model_loras_free(llv_model *m);

/* Adds scale * B (A x) to y for n rows. t holds n * rank floats, u holds
 * n * n_out floats (scratch). No-op for p == NULL or scale 0. */
void llv_lora_apply(const llv_kernels *k, llv_threadpool *pool, const llv_lora_pair *p, const float *x, int64_t n,
                    float *t, float *u, float *y);

#endif
