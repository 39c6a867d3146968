/* run.h - one generation on a pooled session: feeds the mapped request into
 * the session and generates, passing the answer on in pieces whose
 * concatenation is exactly the final text (stop strings held back until
 * they can no longer match). With logprobs, each piece comes with the entries
 * of the tokens whose text starts in it, so the pieces' entries together are
 * the final list: the tokens of the answer text (special tokens such as the
 * end token have none; a token cut off by a stop string is kept when some of
 * its text is in the answer). */
#ifndef LLV_SERVER_RUN_H
#define LLV_SERVER_RUN_H

#include "api.h"
#include "metrics.h"

#include <stdatomic.h>
#include <time.h>

/* Receives answer pieces (with their tokens' logprobs, n_lp = 0 without);
 * return false to cancel generation. */
typedef bool (*srv_emit_fn)(const char *piece, size_t n, const srv_logprob *lp, size_t n_lp, void *user);

typedef struct srv_run {
    /* in */
    const srv_request *req;
    llv_session       *session;
    const llv_model   *model;     /* the session's (token bytes for logprobs) */
    srv_emit_fn        emit;      /* may be NULL */
    void              *emit_user;
    atomic_bool       *cancel;    /* set by others to stop (disconnect, shutdown); may be NULL */
    atomic_bool       *shutdown;  /* server shutting down; may be NULL */
    int                client_fd; /* polled for a hang-up while generating; -1 = don't */
    srv_metrics       *metrics;   /* time to first piece and between pieces; may be NULL */
    struct timespec    t0;        /* the request's arrival (CLOCK_MONOTONIC)          */
    /* out */
    char            *text;        /* final answer (stop strings cut), owned */
    size_t           len;
    llv_tool_call   *tool_calls;  /* parsed when the request offered tools, owned */
    size_t           n_tool_calls;
    llv_stop_reason  stop;
    int32_t          prompt_tokens, completion_tokens;
    int32_t          cached_tokens; /* prompt rows reused from the session's kept conversation */
    llv_timings      timings;
    bool             cancelled;   /* stopped by a hang-up or shutdown */
    srv_logprob     *lp;          /* req->sampling.logprobs: the answer's tokens, owned */
    size_t           n_lp;
    /* internal */
    size_t cap, emitted;
    size_t pieces;
    struct timespec last_piece;
    bool   stop_hit;
    size_t cap_lp, lp_seen, lp_sent; /* library entries looked at; entries emitted */
    bool   oom;
} srv_run;

/* Adds the request's input to the (reset) session; fails when the prompt
 * leaves no room within the request's num_ctx (Ollama). */
bool srv_run_input(const srv_request *req, llv_session *s, srv_error *err);
/* Generates; on success fills the outputs. Free with srv_run_free. */
bool srv_run_generate(srv_run *r, srv_error *err);
void srv_run_free(srv_run *r);

#endif
