/* run.h - one generation on a pooled session: feeds the mapped request into
 * the session and generates, passing the answer on in pieces whose
 * concatenation is exactly the final text (stop strings held back until
 * they can no longer match). */
#ifndef LLV_SERVER_RUN_H
#define LLV_SERVER_RUN_H

#include "api.h"

#include <stdatomic.h>

/* Receives answer pieces; return false to cancel generation. */
typedef bool (*srv_emit_fn)(const char *piece, size_t n, void *user);

typedef struct srv_run {
    /* in */
    const srv_request *req;
    llv_session       *session;
    srv_emit_fn        emit;      /* may be NULL */
    void              *emit_user;
    atomic_bool       *cancel;    /* set by others to stop (disconnect, shutdown); may be NULL */
    atomic_bool       *shutdown;  /* server shutting down; may be NULL */
    int                client_fd; /* polled for a hang-up while generating; -1 = don't */
    /* out */
    char            *text;        /* final answer (stop strings cut), owned */
    size_t           len;
    llv_tool_call   *tool_calls;  /* parsed when the request offered tools, owned */
    size_t           n_tool_calls;
    llv_stop_reason  stop;
    int32_t          prompt_tokens, completion_tokens;
    llv_timings      timings;
    bool             cancelled;   /* stopped by a hang-up or shutdown */
    /* internal */
    size_t cap, emitted;
    size_t pieces;
    bool   stop_hit;
} srv_run;

/* Adds the request's input to the (reset) session; fails when the prompt
 * leaves no room within the request's num_ctx (Ollama). */
bool srv_run_input(const srv_request *req, llv_session *s, srv_error *err);
/* Generates; on success fills the outputs. Free with srv_run_free. */
bool srv_run_generate(srv_run *r, srv_error *err);
void srv_run_free(srv_run *r);

#endif
