/* pool.h - a fixed pool of sessions on one shared model, with a bounded
 * queue of waiting requests. The sessions are attached to one llv_engine, so
 * the decode steps of concurrent requests run as one pass over the weights
 * and encoded images are cached for every request. */
#ifndef LLV_SERVER_POOL_H
#define LLV_SERVER_POOL_H

#include "llv.h"

typedef struct srv_pool srv_pool;

typedef enum srv_pool_rc {
    SRV_POOL_OK = 0,
    SRV_POOL_FULL = 1,   /* the queue is full: answer 429           */
    SRV_POOL_CLOSED = 2  /* shutting down: answer 503               */
} srv_pool_rc;

/* Creates an engine (ep) and n sessions attached to it (sp; its engine field
 * is set here); at most queue_max requests wait for a session. */
llv_status srv_pool_create(const llv_model *model, int n, int queue_max, const llv_engine_params *ep,
                           const llv_session_params *sp, srv_pool **out, llv_error *err);
/* Takes a free session (reset), waiting in the queue if none is free. */
srv_pool_rc srv_pool_acquire(srv_pool *p, llv_session **s);
/* Gives a session back (it is reset on the next acquire). */
void srv_pool_release(srv_pool *p, llv_session *s);
/* Wakes every waiter with SRV_POOL_CLOSED; later acquires fail too. */
void srv_pool_close(srv_pool *p);
void srv_pool_free(srv_pool *p);
/* Sessions busy, requests waiting (for logs and tests). */
void srv_pool_stats(srv_pool *p, int *busy, int *waiting);
/* The engine's counters (passes, merged passes, encoder runs). */
void srv_pool_engine_stats(srv_pool *p, llv_engine_stats *out);

#endif
