/* ollama.h - Ollama's API (/api/chat, /api/generate, /api/tags, /api/show,
 * /api/ps, /api/version): request mapping onto srv_request and the NDJSON /
 * JSON bodies Ollama's clients parse. No HTTP and no generation here. */
#ifndef LLV_SERVER_OLLAMA_H
#define LLV_SERVER_OLLAMA_H

#include "api.h"
#include "format.h"

/* The Ollama API level llv answers like (GET /api/version); clients compare
 * it to enable features. */
#define SRV_OLLAMA_API_VERSION "0.12.0"

/* Parses an /api/chat (chat = true) or /api/generate body. Ollama's rules:
 * `stream` defaults to true; `options` holds the sampling fields
 * (temperature, top_k, top_p, min_p, repeat_penalty, frequency_penalty,
 * presence_penalty, seed, num_predict, num_ctx, stop; the runner-only ones
 * like num_gpu are accepted and ignored); num_predict absent or -1 = up to
 * the context. No prompt / no messages = a load (or, with keep_alive 0, an
 * unload) request. `template`, `suffix`, `context` and `think` are refused
 * with a clear error: llv renders the model's own chat format. */
bool srv_ollama_parse(const char *body, size_t n, bool chat, const srv_limits *lim, srv_request *req,
                      srv_error *err);

/* Reads "model" (or the older "name") from an /api/show body. */
bool srv_ollama_show_name(const char *body, size_t n, char *out, size_t cap, srv_error *err);

/* Ollama names: "llama3.2-vision" means "llama3.2-vision:latest". True when
 * `asked` names the served model (its Ollama name or `alt`, the name of the
 * other routes). */
bool srv_ollama_name_matches(const char *asked, const char *served, const char *alt);

/* What the served model is, for tags/show/ps. */
typedef struct srv_ollama_model {
    const char *name;        /* "llama3.2-vision:latest"                 */
    const char *path;        /* GGUF file                                */
    long        modified;    /* file mtime (unix seconds)                */
    long        started;     /* server start (unix seconds)              */
    int32_t     n_ctx;       /* session context                          */
    uint64_t    kv_bytes;    /* memory per session beyond the weights    */
    const llv_model *model;
} srv_ollama_model;

/* Durations of one answer, nanoseconds as Ollama reports them. */
typedef struct srv_ollama_timing {
    int64_t total_ns, load_ns, prompt_ns, eval_ns;
    int32_t prompt_tokens, eval_tokens;
} srv_ollama_timing;

/* One streamed piece: a JSON line ending in "\n". lp: its tokens' "logprobs"
 * (Ollama's top-level array, left out when empty or NULL). */
char *srv_ollama_piece(bool chat, const char *model, const char *piece, size_t n, const srv_logprobs *lp);
/* The last object (stream) or the whole answer (text = the answer; NULL in a
 * stream, whose pieces carried it). done_reason: "stop", "length", "load",
 * "unload". A JSON line ending in "\n". */
char *srv_ollama_final(bool chat, const char *model, const char *text, const llv_tool_call *tc, size_t n_tc,
                       const char *done_reason, const srv_ollama_timing *t, const srv_logprobs *lp);
/* done_reason for a stop reason. */
const char *srv_ollama_done_reason(llv_stop_reason r);

char *srv_ollama_tags(const srv_ollama_model *m);
char *srv_ollama_ps(const srv_ollama_model *m);
char *srv_ollama_show(const srv_ollama_model *m);
char *srv_ollama_version(void);

#endif
