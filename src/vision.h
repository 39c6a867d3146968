/* vision.h - the Mllama vision encoder and multi-modal projector
 * (shared/notes/mllama-reference.md section 5 and 6.1). */
#ifndef LLV_VISION_H
#define LLV_VISION_H

#include "model.h"
#include "threadpool.h"

/* Optional capture of intermediate quantities, for the golden runner. Every
 * non-NULL pointer must have room for the shape given (one image; D = v_n_embd,
 * T = max_tiles, g2 = grid^2, P, Ppad from the hparams). */
typedef struct llv_vision_capture {
    float *patch_embeds;            /* [T, g2, D]                     */
    float *after_pre_tile;          /* [T, g2, D]                     */
    float *after_position;          /* [T, P, D]                      */
    float *after_layernorm_pre;     /* [T, P, D]                      */
    float *local_hidden_states;     /* [v_n_layer + 1, T*Ppad, D]     */
    float *after_layernorm_post;    /* [T*Ppad, D]                    */
    float *after_post_tile;         /* [T, Ppad, D]                   */
    float *global_hidden_states;    /* [v_n_global, T*Ppad, D]        */
    float *output;                  /* [T, P, v_output_dim]           */
} llv_vision_capture;

typedef struct llv_vision_state llv_vision_state; /* scratch, per session */

llv_status llv_vision_state_create(const llv_model *m, llv_vision_state **out, llv_error *err);
void       llv_vision_state_free(llv_vision_state *vs);
size_t     llv_vision_state_bytes(const llv_vision_state *vs);
/* fn(what, user) is called between pieces of an encode (each step of the
 * front, each block of rows of a projection or MLP, each query block of an
 * attention head; `what` names the piece that just ended) so
 * other work can be let in (llv_engine_yield); NULL = none. The pieces run in
 * the same order whatever fn does. */
void       llv_vision_set_yield(llv_vision_state *vs, void (*fn)(const char *what, void *user), void *user);

/* Encodes one image. pixels: float32 [max_tiles, 3, S, S] as the HF processor
 * makes them (tiles >= n_tiles are exact zeros). Writes the projector output
 * [max_tiles * P, n_embd] to cross_states (HF's cross_attention_states for
 * this image). progress (may be NULL) is called per layer; returning false
 * cancels with LLV_ERR_CANCELLED. */
llv_status llv_vision_encode(const llv_model *m, llv_vision_state *vs, llv_threadpool *pool, const float *pixels,
                             int32_t aspect_ratio_id, int32_t n_tiles, float *cross_states,
                             llv_vision_capture *capture, llv_progress_fn progress, void *progress_user,
                             llv_error *err);

#endif
