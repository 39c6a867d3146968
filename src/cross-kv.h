/* cross-kv.h - an image's cross-attention keys/values for every cross layer
 * of the text decoder: the one place they are computed (with or without a
 * LoRA adapter, new or again for another adapter). */
#ifndef LLV_CROSS_KV_H
#define LLV_CROSS_KV_H

#include "model.h"
#include "threadpool.h"

/* Images one batch (and so one session) can name: a row's image set is a
 * 64-bit mask. */
#define LLV_MAX_IMAGES 64

struct llv_lora;

/* For cross layer c: k[c], v[c] are [n_head_kv, n_tok, head_dim] of `type`
 * (float32, or float16 like the session's KV cache: half the memory and
 * bandwidth, 210 MB per image at 11B); k is already k_norm'ed. */
typedef struct llv_cross_kv {
    int32_t n_tok;       /* max_tiles * P (padding tiles included)              */
    int32_t n_tiles;     /* real tiles; tokens of tiles >= n_tiles are masked   */
    int32_t tile_tokens; /* P                                                   */
    int32_t n_cross;
    llv_kv_type type;    /* LLV_KV_F32 or LLV_KV_F16                            */
    unsigned char **k, **v;
    const struct llv_lora *lora; /* adapter the k/v projections used (NULL: none) */
    float  *states;      /* copy of the projector output [n_tok, n_embd], kept when
                            the model has adapters so K/V can be computed again for
                            another adapter; or NULL */
} llv_cross_kv;

/* One image's projector output (HF's cross_attention_states for it). */
typedef struct llv_cross_kv_input {
    const float *states; /* [n_tok, n_embd]; NULL: not kept (LLV_ERR_STATE)     */
    int32_t      n_tok, n_tiles, tile_tokens;
    /* optional: called between the projections (an engine lets other sessions'
     * passes run there, as between the pieces of an image encode); `what`
     * names the piece that ended */
    void       (*yield)(const char *what, void *user);
    void        *yield_user;
} llv_cross_kv_input;

/* Computes the cross K/V of an image with the cross-attention k/v projections
 * adapted by `lora` (NULL: none).
 * - in != NULL: *kv receives a new K/V of `in` stored as `type`; it keeps a
 *   copy of the states when the model has adapters.
 * - in == NULL: *kv is recomputed in place for `lora` from the states it kept
 *   (its type stays; a no-op when (*kv)->lora == lora already).
 * Either way LLV_ERR_STATE when the states are not there (an image encoded
 * before adapters were added to the model). */
llv_status llv_cross_kv_compute(const llv_model *m, llv_threadpool *pool, const struct llv_lora *lora,
                                const llv_cross_kv_input *in, llv_kv_type type, llv_cross_kv **kv, llv_error *err);
void       llv_cross_kv_free(llv_cross_kv *kv);
/* Bytes of its buffers (K/V and kept states). */
size_t     llv_cross_kv_bytes(const llv_cross_kv *kv);

#endif
