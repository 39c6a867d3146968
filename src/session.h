/* session.h - internals of session.c exposed to tests. */
#ifndef LLV_SESSION_H
#define LLV_SESSION_H

#include "common.h"

/* The image bitmask of every row of the history (bit i = the session's i-th
 * placed image), parallel to llv_session_tokens. */
const uint64_t *llv_session_row_images(const llv_session *s, size_t *n);

#endif
