/* llv-tools.h - the offline tools library (libllv-tools): converting Hugging
 * Face checkpoints and PEFT LoRA adapters to GGUF, quantizing GGUF files,
 * merging an adapter into its base, and writing synthetic models. These are
 * what llv-convert, llv-quantize and llv-synth are built on; the runtime
 * (libllv, llv.h) neither contains nor needs them.
 *
 * Link: -lllv-tools -lllv (both static; the tools use the runtime's
 * internals: GGUF reading/writing, kernels, the model loader). */
#ifndef LLV_TOOLS_H
#define LLV_TOOLS_H

#include "llv.h"

#ifdef __cplusplus
extern "C" {
#endif


typedef struct llv_convert_params {
    size_t          size;        /* sizeof (llv_convert_default_params sets it)   */
    llv_type        type;        /* F32, F16, BF16, Q8_0, Q4_0, Q4_1, Q5_0, Q5_1,
                                  * Q2_K..Q6_K, Q4_K_M                               */
    bool            vocab_only;  /* only the tokenizer                            */
    llv_log_fn      log;
    void           *log_user;
    llv_progress_fn progress;
    void           *progress_user;
} llv_convert_params;

LLV_API void llv_convert_params_init(llv_convert_params *p, size_t size);
static inline llv_convert_params llv_convert_default_params(void) {
    llv_convert_params p;
    llv_convert_params_init(&p, sizeof p);
    return p;
}

/* Converts a Hugging Face checkpoint directory (MllamaForConditionalGeneration
 * or LlamaForCausalLM) into one GGUF file, tensor by tensor (bounded memory). */
LLV_API llv_status llv_convert(const char *hf_dir, const char *out_path, const llv_convert_params *params,
                               llv_error *err);

/* Rewrites a GGUF file (normally F32/F16/BF16) with weights of `type`: f32,
 * f16, bf16, q8_0, q4_0, q4_1, q5_0, q5_1, q2_k, q3_k, q4_k, q5_k, q6_k or
 * q4_k_m (the Q4_K_M mix: Q6_K for output.weight and for attn_v/ffn_down of
 * some layers, Q4_K for the other text weights). The vision tower (v.*) and
 * projector (mm.*) stay F16, 1-D tensors F32, and rows that are not whole
 * blocks fall back to Q8_0 or F16.
 * Copies every KV, sets general.file_type (llama.cpp's ftype) and
 * general.quantization_version = 2. Streams tensor by tensor (bounded
 * memory). params: log/progress only (params->type is ignored; NULL ok). */
LLV_API llv_status llv_quantize(const char *in_gguf, const char *out_gguf, llv_type type,
                                const llv_convert_params *params, llv_error *err);

/* Converts a PEFT LoRA directory (adapter_config.json +
 * adapter_model.safetensors) for a text decoder (MllamaForConditionalGeneration
 * or LlamaForCausalLM base; tensors named like
 * "base_model.model.language_model.model.layers.N.self_attn.q_proj.lora_A.weight",
 * "...model.language_model.layers.N...", or "base_model.model.model.layers.N..."
 * for Llama) into a GGUF adapter for llv_model_lora_add (layout above;
 * adapter.lora.alpha = lora_alpha, times sqrt(r) for use_rslora).
 * Self-attention q/k lora_B rows are permuted per head as llv_convert permutes
 * the base weights; cross-attention ones are kept. `base` gives the base
 * model's shapes: an HF checkpoint directory (config.json) or a GGUF model;
 * NULL = adapter_config.json's base_model_name_or_path when it is a local
 * path, else a config.json in the adapter directory, else LLV_ERR_NOT_FOUND.
 * params->type: F32, F16 or BF16 (default BF16); params may be NULL.
 * Refused (LLV_ERR_UNSUPPORTED, naming what): DoRA, alpha_pattern, bias other
 * than "none", modules_to_save, vision-tower / projector / embedding / lm_head
 * tensors. Shapes are checked against the base (LLV_ERR_FORMAT naming the
 * tensor, expected vs found). */
LLV_API llv_status llv_convert_lora(const char *adapter_dir, const char *base, const char *out_path,
                                    const llv_convert_params *params, llv_error *err);

/* Writes a copy of the GGUF model `base_path` to `out_path` with the adapter
 * merged into the weights: W' = W + scale * alpha / r * B A (accumulated in
 * double, rounded once to W's type), every other tensor and key copied. The
 * adapted base tensors must be F32, F16 or BF16 (LLV_ERR_UNSUPPORTED
 * otherwise), and the base must be a file llv does not rewrite at load (an
 * llv-converted or llama.cpp file; Ollama mllama files: LLV_ERR_UNSUPPORTED).
 * Used by llv-convert --merge-lora and to prove the unmerged path. */
LLV_API llv_status llv_lora_merge(const char *base_path, const char *adapter_path, float scale, const char *out_path,
                                  llv_error *err);

typedef struct llv_synth_params {
    size_t      size;         /* sizeof (llv_synth_default_params sets it)    */
    const char *preset;       /* "tiny", "demo", "11b", "90b", "llama-tiny"   */
    int32_t     layers;       /* 0 = the preset's; N = its first N text layers */
    uint64_t    seed;         /* 1                                             */
    llv_type    type;         /* LLV_TYPE_F32                                  */
    bool        hf_dir;       /* true: write an HF checkpoint directory        */
    /* vision intermediate_layers_indices: n_v_interm = 0 keeps the preset's;
     * else the first n_v_interm (at most 16) of v_interm, each 0..vision layers */
    int32_t     n_v_interm;
    int32_t     v_interm[16];
    llv_log_fn      log;
    void           *log_user;
    llv_progress_fn progress;
    void           *progress_user;
} llv_synth_params;

LLV_API void llv_synth_params_init(llv_synth_params *p, size_t size);
static inline llv_synth_params llv_synth_default_params(void) {
    llv_synth_params p;
    llv_synth_params_init(&p, sizeof p);
    return p;
}

/* Writes a random model of the preset's shapes with its own small byte-level
 * BPE tokenizer: a GGUF file at `out`, or an HF directory when hf_dir. */
LLV_API llv_status llv_synth(const char *out, const llv_synth_params *params, llv_error *err);

/* Writes a random PEFT LoRA directory for a synth preset into out_dir
 * (created if absent): adapter_config.json (r = rank, lora_alpha = 2 * rank,
 * every text projection targeted), adapter_model.safetensors (F32; lora_A and
 * lora_B both random, so the adapter changes the output), and the base
 * preset's config.json so llv_convert_lora needs no base argument. rank in
 * 1..1024 (0 = 8); seed 0 = 1. Deterministic for a given seed. */
LLV_API llv_status llv_synth_lora(const char *out_dir, const char *preset, int32_t rank, uint64_t seed,
                                  llv_error *err);

#ifdef __cplusplus
}
#endif

#endif /* LLV_TOOLS_H */
