/* model.h - hyperparameters and typed weight bindings for `mllama` and
 * `llama` GGUF files. Weights point into the read-only mapping; everything
 * here is immutable after llv_model_load. */
#ifndef LLV_MODEL_H
#define LLV_MODEL_H

#include "../kernels/kernels.h"
#include "chat.h"
#include "common.h"
#include "gguf.h"
#include "tensor.h"

#include <pthread.h>

#define LLV_MAX_LAYERS       256
#define LLV_MAX_CROSS        64
#define LLV_MAX_INTERMEDIATE 16
#define LLV_MAX_HEAD_DIM     256
#define LLV_MAX_EOG          16

typedef enum llv_arch { LLV_ARCH_MLLAMA = 0, LLV_ARCH_LLAMA = 1 } llv_arch;
/* general.architecture of a model of arch: "mllama" or "llama". */
static inline const char *llv_arch_name(llv_arch a) { return a == LLV_ARCH_MLLAMA ? "mllama" : "llama"; }

typedef struct llv_hparams {
    llv_arch arch;
    /* text */
    int32_t n_vocab;      /* lm_head rows                                  */
    int32_t n_embd_rows;  /* token embedding rows (n_vocab + 8 for mllama) */
    int32_t n_embd, n_head, n_head_kv, head_dim, n_ff, n_layer, n_ctx_train;
    float   rms_eps;
    float   rope_theta;
    bool    rope_llama3;  /* llama3 frequency scaling                       */
    float   rope_factor, rope_low_freq_factor, rope_high_freq_factor;
    int32_t rope_orig_ctx;
    int32_t n_cross;
    int32_t cross_layers[LLV_MAX_CROSS];
    bool    is_cross[LLV_MAX_LAYERS];
    int32_t image_token_id; /* -1 when the model has no vision             */
    /* vision (has_vision == false for llama and text-only files) */
    bool    has_vision;
    int32_t v_n_embd, v_n_head, v_head_dim, v_n_ff, v_n_layer, v_n_global;
    int32_t v_image_size, v_patch_size, v_max_tiles, v_n_channels;
    float   v_eps;            /* encoder-layer LayerNorm eps (pre/post LN use 1e-5) */
    int32_t v_n_interm;
    int32_t v_interm[LLV_MAX_INTERMEDIATE];
    int32_t v_output_dim;     /* v_n_embd * (v_n_interm + 1)                */
    int32_t v_grid;           /* image_size / patch_size                    */
    int32_t v_P;              /* grid^2 + 1 tokens per tile (class token)   */
    int32_t v_Ppad;           /* P rounded up to a multiple of 8            */
    float   image_mean[3], image_std[3];
} llv_hparams;

typedef struct llv_text_layer {
    bool              is_cross;
    const float      *attn_norm;         /* [n_embd]                                   */
    /* self layers: attn_q/k/v/output; cross layers: cross_attn_{q,k,v,o}_proj.
     * Self q/k rows are in adjacent-pair RoPE order (see src/tools/convert.c). */
    const llv_tensor *wq, *wk, *wv, *wo;
    const float      *q_norm, *k_norm;   /* cross only: [head_dim]                     */
    float             attn_gate;         /* cross only: tanh(cross_attn_attn_gate)     */
    float             mlp_gate;          /* cross only: tanh(cross_attn_mlp_gate)      */
    const float      *ffn_norm;          /* [n_embd]                                   */
    const llv_tensor *ffn_gate, *ffn_up, *ffn_down;
} llv_text_layer;

typedef struct llv_text_weights {
    const llv_tensor *tok_embd;          /* ne {n_embd, n_embd_rows}                   */
    const float      *output_norm;       /* [n_embd]                                   */
    const llv_tensor *output;            /* ne {n_embd, n_vocab}                       */
    llv_text_layer    layers[LLV_MAX_LAYERS];
    float             inv_freq[LLV_MAX_HEAD_DIM / 2]; /* RoPE inverse frequencies (HF float32 rule) */
} llv_text_weights;

typedef struct llv_vision_layer {
    const float      *attn_norm_w, *attn_norm_b;  /* input_layernorm                  */
    const llv_tensor *wq, *wk, *wv, *wo;          /* no biases                        */
    const float      *ffn_norm_w, *ffn_norm_b;    /* post_attention_layernorm         */
    const llv_tensor *fc1;                        /* ffn_up: ne {D, n_ff}             */
    const float      *fc1_b;
    const llv_tensor *fc2;                        /* ffn_down: ne {n_ff, D}           */
    const float      *fc2_b;
    float             gate_attn, gate_ffn;        /* tanh'ed; 1 for local layers      */
} llv_vision_layer;

typedef struct llv_vision_weights {
    const llv_tensor *patch_embd;      /* ne {patch, patch, 3, D} = Conv2d weight [D,3,p,p] */
    const float      *class_embd;      /* [D]                                                 */
    const llv_tensor *pos_embd;        /* ne {D, P}                                           */
    float             pos_gate;        /* 1 - tanh(g): weight of the position embedding       */
    const llv_tensor *tile_pos_embd;   /* ne {max_tiles*P*D, 9}                               */
    float             tile_pos_gate;   /* tanh(g)                                             */
    const llv_tensor *pre_tile_embd;   /* ne {max_tiles*D, 9}                                 */
    float             pre_tile_gate;   /* tanh(g)                                             */
    const llv_tensor *post_tile_embd;  /* ne {max_tiles*D, 9}                                 */
    float             post_tile_gate;  /* tanh(g)                                             */
    const float      *pre_ln_w, *pre_ln_b, *post_ln_w, *post_ln_b;
    llv_vision_layer  layers[LLV_MAX_LAYERS];   /* local (ungated)                          */
    llv_vision_layer  global[LLV_MAX_LAYERS];   /* global (gated)                           */
    const llv_tensor *proj;            /* mm.0.weight: ne {v_output_dim, n_embd}              */
    const float      *proj_b;          /* [n_embd]                                            */
} llv_vision_weights;

struct llv_tokenizer;
struct llv_lora;
struct llv_grammar_vocab;

struct llv_model {
    llv_gguf             *gguf;
    llv_model_params      params;
    const llv_kernels    *kern;
    llv_hparams           hp;
    bool                  has_weights;
    llv_text_weights      text;
    llv_vision_weights    vision;
    struct llv_tokenizer *tok;          /* NULL when the file has no tokenizer  */
    char                 *name;
    char                 *chat_template;
    llv_chat_format       chat;          /* how chats are rendered (chat_template or params) */
    int32_t               bos_id, pad_id;
    int32_t               eog[LLV_MAX_EOG];
    int32_t               n_eog;
    bool                  add_bos;
    double                load_s;
    llv_type              weight_type;
    uint64_t              n_params;
    /* generation defaults from the file (general.sampling.* / generation_config) */
    float                 default_temperature, default_top_p;
    /* tensors rewritten at load (e.g. Ollama's cross-attention q/k rows) */
    llv_tensor           *fixed;
    size_t                n_fixed;
    void                 *fixed_data;
    /* LoRA adapters (src/lora.c): added by llv_model_lora_add before sessions
     * use the model, read-only afterwards; freed with the model */
    struct llv_lora     **loras;
    size_t                n_loras;
    /* structured output (src/constraint.c): the vocabulary's byte trie, built
     * at the first constrained generate, under grammar_mu (the model stays
     * usable from any thread) */
    struct llv_grammar_vocab *grammar_vocab;
    pthread_mutex_t           grammar_mu;
};

/* Computes the RoPE inverse frequencies exactly as HF does in float32
 * (modeling_rope_utils._compute_llama3_parameters); out has head_dim/2 entries. */
void llv_rope_inv_freq(const llv_hparams *hp, float *out);
/* cos/sin of the float32 angle float(pos) * inv_freq[i] for i < n_freq (HF's
 * MllamaRotaryEmbedding table row; the second half of HF's row repeats it). */
void llv_rope_cos_sin(const float *inv_freq, int32_t n_freq, int64_t pos, float *cos_out, float *sin_out);

/* src/hparams.c: the structural rules shared by the converter and the loader
 * (head counts, cross-attention layers; vision heads, patch grid, intermediate
 * layers). Ranges of single values stay with whoever parses them. */
llv_status llv_hparams_check_text(const llv_hparams *hp, llv_error *err);
llv_status llv_hparams_check_vision(const llv_hparams *hp, llv_error *err);

#endif
