/* chat.h - the Llama 3.2 Vision chat format, rendered natively exactly as the
 * model's Jinja template (shared/reference/chat-template/), and tool-call
 * parsing of model output. */
#ifndef LLV_CHAT_H
#define LLV_CHAT_H

#include "common.h"

/* Renders msgs to text (malloc'd, NUL-terminated). `continuation` = false
 * renders a whole conversation (BOS, system block, tools...); true renders
 * only the turns of msgs (no BOS / system block), for appending to a
 * conversation already in the KV cache. */
llv_status llv_chat_render_text(const llv_message *msgs, size_t n_msgs, const llv_chat_params *params,
                                bool continuation, char **out, size_t *len, llv_error *err);

#endif
