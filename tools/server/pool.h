/* pool.h - the sessions of the server on one shared model: at most
 * `parallel` serve requests at once, and `n_keep` (>= parallel) are kept with
 * the conversation each served last, so a request that continues one (a
 * chat client resending the conversation with a new turn) goes to the
 * session holding it and reuses its KV cache (llv_session_reset_keep_prefix:
 * only the new turn is computed). The least recently used session is
 * evicted for a new conversation. The sessions are attached to one
 * llv_engine, so the decode steps of concurrent requests run as one pass over
 * the weights and encoded images are cached for every request. Waiters are
 * bounded (queue) and wait at most a deadline. */
#ifndef LLV_SERVER_POOL_H
#define LLV_SERVER_POOL_H

#include "api.h"
#include "llv.h"

typedef struct srv_pool srv_pool;

typedef enum srv_pool_rc {
    SRV_POOL_OK = 0,
    SRV_POOL_FULL = 1,    /* the queue is full: answer 429            */
    SRV_POOL_CLOSED = 2,  /* shutting down: answer 503                */
    SRV_POOL_TIMEOUT = 3  /* waited queue_timeout_ms: answer 503      */
} srv_pool_rc;

typedef struct srv_pool_counters {
    uint64_t prefix_hits;      /* requests that reused rows of a kept conversation */
    uint64_t cached_tokens;    /* prompt tokens they did not compute again          */
    uint64_t picked_by_prefix; /* requests sent to the session holding their start  */
    uint64_t rejected_full, rejected_timeout;
} srv_pool_counters;

/* Creates an engine (ep) and n_keep sessions attached to it (sp; its engine
 * field is set here), `parallel` of which may be busy at once; at most
 * queue_max requests wait for one. prefix = false: every request starts from
 * an empty session (llv_session_reset), for comparisons. */
llv_status srv_pool_create(const llv_model *model, int n_keep, int parallel, int queue_max, bool prefix,
                           const llv_engine_params *ep, const llv_session_params *sp, srv_pool **out, llv_error *err);
/* Takes the free session whose kept conversation shares the longest start
 * with key (srv_request_key), waiting in the queue (at most
 * queue_timeout_ms, 0 = no limit) while `parallel` are busy. The session
 * is reset keeping its prefix (llv_session_reset_keep_prefix). */
srv_pool_rc srv_pool_acquire(srv_pool *p, const uint64_t *key, size_t n_key, int queue_timeout_ms,
                             llv_session **s);
/* Gives a session back: answer_key (srv_key_answer of the answer; 0 when the
 * request failed or was cancelled) completes the key of what it holds;
 * cached_tokens (llv_session_cached_tokens) is counted. */
void srv_pool_release(srv_pool *p, llv_session *s, uint64_t answer_key, int32_t cached_tokens);
/* Wakes every waiter with SRV_POOL_CLOSED; later acquires fail too. */
void srv_pool_close(srv_pool *p);
void srv_pool_free(srv_pool *p);
/* Sessions busy, requests waiting (for logs, /health and tests). */
void srv_pool_stats(srv_pool *p, int *busy, int *waiting);
/* The prefix cache's and the queue's counters; sessions kept, parallel. */
void srv_pool_counters_get(srv_pool *p, srv_pool_counters *out, int *kept, int *parallel);
/* The engine's counters (passes, merged passes, encoder runs). */
void srv_pool_engine_stats(srv_pool *p, llv_engine_stats *out);

#endif
