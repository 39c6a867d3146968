/* format.h - response bodies: the Workers AI envelope, OpenAI objects, SSE
 * events and error bodies. Every function returns a malloc'd string. */
#ifndef LLV_SERVER_FORMAT_H
#define LLV_SERVER_FORMAT_H

#include "api.h"

typedef struct srv_usage {
    int32_t prompt_tokens;
    int32_t completion_tokens;
} srv_usage;

/* Error body for a route family (envelope or OpenAI error object). */
char *srv_fmt_error(srv_api api, const srv_error *err);

/* The error inside a stream whose status line is sent: an SSE event, or an
 * NDJSON line on Ollama's routes. */
char *srv_fmt_error_event(srv_api api, const srv_error *err);

/* A JSON string of n bytes (pieces are not NUL-terminated). */
cJSON *srv_json_string_n(const char *p, size_t n);

/* finish_reason for a stop reason ("stop", "length", "tool_calls"). */
const char *srv_finish_reason(llv_stop_reason r, size_t n_tool_calls);

/* Workers AI: {"result":{"response","tool_calls","usage"},"success":true,...} */
char *srv_fmt_workers_result(const char *text, const llv_tool_call *tc, size_t n_tc, srv_usage u);
/* "data: {...}\n\n" for one piece / the last event with usage (+ tool_calls). */
char *srv_fmt_workers_piece(const char *piece, size_t n);
char *srv_fmt_workers_final(const llv_tool_call *tc, size_t n_tc, srv_usage u);

/* OpenAI chat.completion / chat.completion.chunk. */
char *srv_fmt_openai_result(const char *id, long created, const char *model, const char *text,
                            const llv_tool_call *tc, size_t n_tc, const char *finish, srv_usage u);
char *srv_fmt_openai_chunk(const char *id, long created, const char *model, const char *role, const char *piece,
                           size_t n, const char *finish, const llv_tool_call *tc, size_t n_tc);
char *srv_fmt_openai_usage_chunk(const char *id, long created, const char *model, srv_usage u);
char *srv_fmt_openai_models(const char *model, long created);
/* GET /v1/models/{id}: the one model object. */
char *srv_fmt_openai_model(const char *model, long created);

/* A new id: prefix + 24 random hex characters. */
void srv_new_id(char *out, size_t cap, const char *prefix);

#endif
