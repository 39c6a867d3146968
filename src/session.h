/* session.h - internals of session.c exposed to tests. */
#ifndef LLV_SESSION_H
#define LLV_SESSION_H

#include "common.h"

/* The image bitmask of every row of the history (bit i = the session's i-th
 * placed image), parallel to llv_session_tokens. */
const uint64_t *llv_session_row_images(const llv_session *s, size_t *n);

/* llv_session_add_tokens that also accepts the image token (each consumes the
 * next queued image): lets tests feed HF's input_ids as they are. */
llv_status llv_session_add_tokens_with_images(llv_session *s, const int32_t *tokens, size_t n, llv_error *err);

#endif
