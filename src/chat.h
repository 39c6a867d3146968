/* chat.h - chat formats rendered natively exactly as the models' Jinja
 * templates do (Llama 3.2 Vision: shared/reference/chat-template/; ChatML),
 * and tool-call parsing of model output. */
#ifndef LLV_CHAT_H
#define LLV_CHAT_H

#include "common.h"

/* A model's chat format, recognised from its Jinja template. */
enum { LLV_CHAT_LLAMA3 = 0, LLV_CHAT_CHATML = 1, LLV_CHAT_UNSUPPORTED = 2 };
typedef struct llv_chat_format {
    int   kind;
    char *default_system; /* ChatML: the system turn the template adds when the first message is not one */
    char  why[96];        /* UNSUPPORTED: what was not recognised */
} llv_chat_format;

/* `name` ("llama3", "chatml"; NULL or "" = recognise `tmpl`) chooses the
 * format; a template without Llama 3 headers or ChatML's markers makes an
 * UNSUPPORTED format (rendering with it fails, loading does not). NULL tmpl =
 * Llama 3. Errors only for an unknown name. */
llv_status  llv_chat_format_init(llv_chat_format *f, const char *tmpl, const char *name, llv_error *err);
void        llv_chat_format_free(llv_chat_format *f);
const char *llv_chat_format_name(const llv_chat_format *f); /* "llama3", "chatml", "unsupported" */
/* Text that ends an answer cut off before its end token, and what follows a
 * finished answer's end token before the next turn. */
const char *llv_chat_format_close(const llv_chat_format *f);
const char *llv_chat_format_gap(const llv_chat_format *f);

/* Renders msgs in format f (NULL = Llama 3) to text (malloc'd, NUL-
 * terminated); image parts become "<|image|>". `continuation` = false
 * renders a whole conversation (BOS, system block, tools...); true renders
 * only the turns of msgs (no BOS / system block), for appending to a
 * conversation already in the KV cache. */
llv_status llv_chat_render_text(const llv_chat_format *f, const llv_message *msgs, size_t n_msgs,
                                const llv_chat_params *params, bool continuation, char **out, size_t *len,
                                llv_error *err);
/* The same, but image parts are not written: *images (malloc'd, or NULL for
 * none) receives their byte offsets in the text, in order, and *n_images
 * their count, so the caller places the image token there itself. */
llv_status llv_chat_render_images(const llv_chat_format *f, const llv_message *msgs, size_t n_msgs,
                                  const llv_chat_params *params, bool continuation, char **out, size_t *len,
                                  size_t **images, size_t *n_images, llv_error *err);

#endif
