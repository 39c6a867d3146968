/* http.h - the HTTP front end on libmicrohttpd: routes, body limits, auth,
 * request logging, JSON and SSE responses. */
#ifndef LLV_SERVER_HTTP_H
#define LLV_SERVER_HTTP_H

#include "api.h"
#include "pool.h"

#include <stdatomic.h>

typedef struct srv_config {
    const char *host;        /* "127.0.0.1"                                  */
    int         port;        /* 0 = pick a free one                          */
    const char *model_name;  /* "@cf/meta/llama-3.2-11b-vision-instruct"     */
    const char *api_key;     /* NULL = no auth                               */
    const char *cors;        /* Access-Control-Allow-Origin value, or NULL   */
    size_t      max_body;    /* bytes                                        */
    size_t      max_body_total; /* bodies held at once, all connections      */
    int         conn_timeout;/* seconds of idle before a connection is closed */
    int         max_conns;
    int         queue_timeout_ms; /* longest wait for a session, 0 = none   */
    srv_limits  limits;
    /* Ollama's API (ollama.h) */
    const char *ollama_name; /* the name /api/tags lists ("llama3.2-vision:latest") */
    const char *model_path;  /* the GGUF file (tags, show)                   */
    int32_t     n_ctx;       /* session context (ps)                         */
    uint64_t    kv_bytes;    /* memory per session beyond the weights (ps)   */
} srv_config;

typedef struct srv_server srv_server;

/* Starts listening; *port_out gets the bound port. */
bool srv_server_start(const srv_config *cfg, const llv_model *model, srv_pool *pool, srv_server **out,
                      int *port_out, char *why, size_t why_cap);
/* Draining (SIGTERM): new generation requests get 503 and /ready 503, the
 * listening socket is closed (a load balancer sends new connections
 * elsewhere); waits until the generations in flight have finished, at most
 * timeout_ms (0 = no limit). True when none is left. */
bool srv_server_drain(srv_server *s, int timeout_ms);
int  srv_server_inflight(const srv_server *s);
/* Stops accepting, cancels running generations, waits for connections. */
void srv_server_stop(srv_server *s);

#endif
