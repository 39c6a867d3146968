/* text.h - the text decoder forward pass (self-attention layers with a KV
 * cache, gated cross-attention layers, final norm, lm_head). Numerics follow
 * HF transformers' Mllama (shared/notes/mllama-reference.md sections 6-7). */
#ifndef LLV_TEXT_H
#define LLV_TEXT_H

#include "cross-kv.h"
#include "model.h"
#include "threadpool.h"

struct llv_lora;

typedef struct llv_text_state llv_text_state; /* KV cache (+ scratch), per session */

/* Allocates everything a session's decoder needs, once (nothing per token):
 * - KV cache (self-attention layers only): (n_layer - n_cross) * 2 * n_head_kv * n_ctx * head_dim * e bytes,
 *   e = 4 (LLV_KV_F32) or 2 (LLV_KV_F16). 11B model (32 self layers, 8 kv heads, head_dim 128):
 *   256 KiB per token in F32, 128 KiB in F16; n_ctx 4096 = 1 GiB F32; n_ctx 131072 = 32 GiB F32 / 16 GiB F16.
 *   Reported by llv_text_state_kv_bytes.
 * - Scratch for n_batch rows: n_batch * (3*n_embd + 2*n_head*head_dim + 2*n_head_kv*head_dim + 2*n_ff + head_dim)
 *   floats, plus per pool thread the attention scores of one KV head's query heads, (n_head / n_head_kv) *
 *   max(n_ctx, image tokens) floats, and 32 converted value rows, 32 * head_dim floats (grown on the first
 *   forward that needs it), and with a LoRA adapter (first forward naming one) n_batch *
 *   (its largest rank + its largest adapted output) floats. llv_text_state_bytes reports the total.
 *   n_batch 0: no scratch of its own; the state is then only run by llv_text_forward_multi with the
 *   caller's llv_text_work (an engine's), and llv_text_forward fails with LLV_ERR_STATE.
 * n_ctx must be in [1, n_ctx_train]; forwards past n_ctx fail with LLV_ERR_LIMIT. */
llv_status llv_text_state_create(const llv_model *m, int32_t n_ctx, int32_t n_batch, llv_kv_type kv_type,
                                 llv_text_state **out, llv_error *err);
void       llv_text_state_free(llv_text_state *st);
size_t     llv_text_state_kv_bytes(const llv_text_state *st);
size_t     llv_text_state_bytes(const llv_text_state *st);
int32_t    llv_text_state_n_ctx(const llv_text_state *st);
/* Drops cached positions >= n_keep (n_keep = 0: empty). */
void       llv_text_state_truncate(llv_text_state *st, int32_t n_keep);
int32_t    llv_text_state_n_past(const llv_text_state *st);

typedef struct llv_text_batch {
    const int32_t *tokens;     /* n ids (< n_embd_rows; the image token included)        */
    int32_t        n;          /* rows; any n (split internally by n_batch)               */
    /* Cross attention. n_images == 0: cross layers are skipped entirely.
     * Otherwise row r attends the images whose bit is set in row_images[r]
     * (bit i = images[i]); a row with no bit set attends every token of every
     * image and gets its cross MLP branch zeroed (HF semantics). */
    const llv_cross_kv *const *images;
    int32_t        n_images;   /* <= 64                                                   */
    const uint64_t *row_images;
    /* Outputs (any may be NULL). */
    float         *logits;     /* logits_all ? [n, n_vocab] : [n_vocab] of the last row    */
    bool           logits_all;
    float         *hidden;     /* [n_layer + 1, n, n_embd]: embeddings, each layer's output,
                                  and at [n_layer] the final-norm output (HF hidden_states) */
    /* LoRA adapter applied unmerged to every adapted projection (NULL: none).
     * Images must have been computed with the same adapter (llv_cross_kv.lora). */
    const struct llv_lora *lora;
} llv_text_batch;

/* Runs the rows at positions n_past .. n_past+n-1, appending to the KV cache.
 * Fails with LLV_ERR_LIMIT when n_past + n > n_ctx, LLV_ERR_INVALID_ARGUMENT
 * for an out-of-range token id. Uses the state's own scratch (n_batch rows). */
llv_status llv_text_forward(const llv_model *m, llv_text_state *st, llv_threadpool *pool, const llv_text_batch *b,
                            llv_error *err);

/* The checks llv_text_forward makes before it runs anything (state of m,
 * adapter of m, tokens, n_ctx room, images): lets a caller that merges batches
 * of several states reject one bad batch without failing the others. */
llv_status llv_text_check(const llv_model *m, const llv_text_state *st, const llv_text_batch *b, llv_error *err);

/* Scratch for the rows of one forward pass (activations, per-row maps,
 * per-thread attention rows, LoRA and logits scratch), sized once by n_rows
 * (see llv_text_state_create for the per-row size); the attention, LoRA and
 * logits parts grow on the first pass that needs more. A state of n_batch > 0
 * owns one for its n_batch; llv_text_forward_multi takes one from the caller. */
typedef struct llv_text_work llv_text_work;
llv_status llv_text_work_create(const llv_model *m, int32_t n_rows, llv_text_work **out, llv_error *err);
void       llv_text_work_free(llv_text_work *w);
size_t     llv_text_work_bytes(const llv_text_work *w);
int32_t    llv_text_work_rows(const llv_text_work *w);

/* One forward pass over the rows of n batches of n different states (sessions)
 * of one model: rows are concatenated, every linear (q/k/v/o, MLP, lm_head)
 * runs once over all rows, while RoPE, the KV store and self-attention use
 * each row's own state (cache, position, n_ctx, KV type) and cross-attention
 * its own batch's images; rows of a batch without images pass the cross
 * layers unchanged, as that batch alone would. Each row's arithmetic is the
 * same as in llv_text_forward of its batch alone, so results are bitwise
 * identical. Each batch's logits go to its own buffer. Requirements (else an
 * error and nothing runs): every batch passes llv_text_check, all use the
 * same LoRA adapter, no state appears twice, the rows fit in w (n_rows; one
 * batch alone is split instead), and `hidden` is set only when n == 1
 * (LLV_ERR_UNSUPPORTED otherwise). A failed check is prefixed with the batch
 * index. */
llv_status llv_text_forward_multi(const llv_model *m, llv_threadpool *pool, llv_text_state *const *states,
                                  const llv_text_batch *batches, int32_t n, llv_text_work *w, llv_error *err);

#endif
