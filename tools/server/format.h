/* format.h - response bodies: the Workers AI envelope, OpenAI objects, SSE
 * events and error bodies. Every function returns a malloc'd string. */
#ifndef LLV_SERVER_FORMAT_H
#define LLV_SERVER_FORMAT_H

#include "api.h"

typedef struct srv_usage {
    int32_t prompt_tokens;
    int32_t completion_tokens;
    int32_t cached_tokens; /* of prompt_tokens, reused from the prefix cache (OpenAI's details) */
} srv_usage;

/* Error body for a route family (envelope or OpenAI error object). */
char *srv_fmt_error(srv_api api, const srv_error *err);

/* The error inside a stream whose status line is sent: an SSE event, or an
 * NDJSON line on Ollama's routes. */
char *srv_fmt_error_event(srv_api api, const srv_error *err);

/* A JSON string of n bytes (pieces are not NUL-terminated). */
cJSON *srv_json_string_n(const char *p, size_t n);

/* The log-probabilities a response carries (srv_run's); a NULL pointer
 * means none were asked for ("logprobs": null). */
typedef struct srv_logprobs {
    const llv_model   *model; /* token bytes */
    const srv_logprob *v;
    size_t             n;
} srv_logprobs;

/* [{"token", "logprob", "bytes", "top_logprobs": [{"token", "logprob",
 * "bytes"}...]}...]: OpenAI's logprobs.content (and Ollama's logprobs).
 * "token" is the token's text; a token whose bytes are not valid UTF-8 on
 * their own (a piece of a character) or hold a NUL is named by its bytes,
 * "bytes:\xe2\x80", as OpenAI does; "bytes" is always the exact bytes. A
 * logprob of -inf (a token ruled out) is -9999, OpenAI's "very unlikely". */
cJSON *srv_json_logprobs(const srv_logprobs *lp, bool omit_empty);
/* omit_empty (Ollama's): no "top_logprobs" / "bytes" when empty */

/* finish_reason for a stop reason ("stop", "length", "tool_calls"). */
const char *srv_finish_reason(llv_stop_reason r, size_t n_tool_calls);

/* Workers AI: {"result":{"response","tool_calls","usage"},"success":true,...} */
char *srv_fmt_workers_result(const char *text, const llv_tool_call *tc, size_t n_tc, srv_usage u);
/* "data: {...}\n\n" for one piece / the last event with usage (+ tool_calls). */
char *srv_fmt_workers_piece(const char *piece, size_t n);
char *srv_fmt_workers_final(const llv_tool_call *tc, size_t n_tc, srv_usage u);

/* OpenAI chat.completion / chat.completion.chunk. */
/* lp: choices[0].logprobs = {"content": [...], "refusal": null}; NULL = null */
char *srv_fmt_openai_result(const char *id, long created, const char *model, const char *text,
                            const llv_tool_call *tc, size_t n_tc, const char *finish, srv_usage u,
                            const srv_logprobs *lp);
char *srv_fmt_openai_chunk(const char *id, long created, const char *model, const char *role, const char *piece,
                           size_t n, const char *finish, const llv_tool_call *tc, size_t n_tc,
                           const srv_logprobs *lp);
char *srv_fmt_openai_usage_chunk(const char *id, long created, const char *model, srv_usage u);
char *srv_fmt_openai_models(const char *model, long created);
/* GET /v1/models/{id}: the one model object. */
char *srv_fmt_openai_model(const char *model, long created);

/* A new id: prefix + 24 random hex characters. */
void srv_new_id(char *out, size_t cap, const char *prefix);

#endif
