/* quantize.h - the weight type policy (which ggml type each tensor gets for a
 * target such as Q4_K_M) and GGUF -> GGUF re-quantization (llv_quantize in
 * llv.h), tensor by tensor with bounded memory. */
#ifndef LLV_QUANTIZE_H
#define LLV_QUANTIZE_H

#include "common.h"
#include "llv-tools.h"
#include "threadpool.h"

#include <stdbool.h>
#include <stdint.h>

#define LLV_QUANT_MAX_BLOCKS 256 /* blocks the attn_v rule tracks (the loader allows no more) */

typedef struct llv_quant_policy {
    llv_type target;     /* F32, F16, BF16, Q8_0, Q4_0, Q4_1, Q5_0, Q5_1,
                          * Q2_K..Q6_K or Q4_K_M                               */
    int64_t  n_layer;    /* text blocks (blk.N), for Q4_K_M's use_more_bits rule */
    bool     has_output; /* output.weight exists (else token_embd is the output) */
    /* blocks that have blk.N.attn_v.weight (mllama's cross-attention blocks do
     * not), set by llv_quant_policy_note; none noted: every block has one */
    uint64_t attn_v[LLV_QUANT_MAX_BLOCKS / 64];
    int64_t  n_attn_v;
} llv_quant_policy;

/* Notes one tensor name of the file being written (call it for every name). */
void llv_quant_policy_note(llv_quant_policy *policy, const char *name);

/* true for the targets above. */
bool llv_quant_target_valid(llv_type target);
/* true for the block-quantized ggml types llv has (Q8_0, Q4_0, Q4_1, Q5_0,
 * Q5_1, Q2_K..Q6_K). */
bool llv_quant_type_is_quantized(int type);

/* ggml type of tensor `name` (n_dims dims, ne in ggml order) in a file written
 * as policy->target. Rules (llama.cpp's llama_tensor_get_type, Ollama's
 * vision rule):
 *   - 1-D tensors (norms, biases, gates, rope_freqs): F32;
 *   - F32/F16/BF16 targets: that type for every 2-D+ tensor;
 *   - quantized targets: v.* and mm.* (vision tower, projector) F16;
 *     output.weight (token_embd.weight when there is no output.weight) Q6_K,
 *     or Q8_0 for a Q8_0 target; Q4_K_M: blk.N.ffn_down Q6_K when
 *     use_more_bits(N, n_layer), blk.N.attn_v Q6_K when use_more_bits(i,
 *     n_attn_v) for its index i among the blocks that have attn_v (llama.cpp
 *     counts attn_v tensors, so mllama's 8 cross blocks are not counted), the
 *     rest Q4_K;
 *   - a row length (ne[0]) that is not a multiple of the chosen block size
 *     falls back to Q8_0 (multiple of 32) else F16, as llama.cpp does. */
int llv_quant_tensor_type(const llv_quant_policy *policy, const char *name, int n_dims, const int64_t *ne);

/* dst = `type` encoding of src[0, n) (n a multiple of the type's block
 * size), split over the pool's threads (pool may be NULL). */
void llv_quant_from_f32(llv_threadpool *pool, int type, const float *src, void *dst, int64_t n);

/* llama.cpp's use_more_bits: i < n/8 || i >= 7n/8 || (i - n/8) % 3 == 2 */
bool llv_quant_use_more_bits(int64_t i, int64_t n);

/* general.file_type (llama_ftype) of a target: F32 0, F16 1, Q4_0 2, Q4_1 3,
 * Q8_0 7, Q5_0 8, Q5_1 9, Q2_K 10, Q3_K (= Q3_K_S) 11, Q4_K (= Q4_K_S) 14,
 * Q4_K_M 15, Q5_K (= Q5_K_S) 16, Q6_K 18, BF16 32. */
uint32_t llv_quant_file_type(llv_type target);

#endif
