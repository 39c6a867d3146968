/* http.c - libmicrohttpd front end (see http.h). One thread per connection:
 * a non-streamed request generates in its connection thread; a streamed one
 * generates in a worker thread that feeds SSE events to the connection
 * through a buffer. Bodies over the limit are read and discarded, then
 * answered 413, so clients get a complete response. */
#include "http.h"

#include "format.h"
#include "metrics.h"
#include "ollama.h"
#include "run.h"

#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <netdb.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

struct srv_server {
    srv_config         cfg;
    const llv_model   *model;
    srv_pool          *pool;
    struct MHD_Daemon *d;
    atomic_bool        shutdown;
    atomic_bool        draining;  /* SIGTERM: new generations get 503, /ready 503   */
    atomic_int         inflight;  /* generation requests accepted and not finished */
    atomic_size_t      body_bytes; /* request bodies held now (--max-body-total)      */
    long               created;
    srv_metrics        metrics;
};

typedef enum route {
    ROUTE_NONE = 0,
    ROUTE_HEALTH,
    ROUTE_READY,            /* GET /ready: 200 while serving, 503 while draining */
    ROUTE_METRICS,          /* GET /metrics: Prometheus text                   */
    ROUTE_MODELS,
    ROUTE_CHAT,
    ROUTE_RUN,
    ROUTE_RUN_OTHER_MODEL,
    ROUTE_MODEL_ONE,        /* GET /v1/models/{id}                   */
    ROUTE_ROOT,             /* GET / (Ollama clients probe it)       */
    ROUTE_OLLAMA_CHAT,
    ROUTE_OLLAMA_GENERATE,
    ROUTE_OLLAMA_TAGS,
    ROUTE_OLLAMA_SHOW,
    ROUTE_OLLAMA_PS,
    ROUTE_OLLAMA_VERSION,
    ROUTE_OLLAMA_UNSUPPORTED /* pull, push, create, copy, delete, blobs, embed */
} route;

typedef struct conn {
    char            method[16];
    char            url[160];
    route           rt;
    srv_api         api;      /* error form */
    char           *body;
    size_t          len, cap;
    bool            too_large;
    bool            over_budget; /* the bodies held at once would exceed --max-body-total */
    size_t          charged;     /* bytes of this body counted in body_bytes */
    bool            streaming; /* the stream job logs this request */
    int             status;
    int32_t         pt, ct, cached;
    struct timespec t0;
    const char     *cors;      /* --cors ORIGIN, or NULL */
} conn;

/* Headers every response carries: CORS when --cors is set. */
static void common_headers(struct MHD_Response *r, const char *cors) {
    if (!cors) return;
    MHD_add_response_header(r, "Access-Control-Allow-Origin", cors);
    if (strcmp(cors, "*")) MHD_add_response_header(r, "Vary", "Origin");
}

static double ms_since(const struct timespec *t0) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)(t.tv_sec - t0->tv_sec) * 1e3 + (double)(t.tv_nsec - t0->tv_nsec) / 1e6;
}

static void log_line(const char *method, const char *url, int status, int32_t pt, int32_t ct, double ms) {
    fprintf(stderr, "%s %s %d prompt_tokens=%d completion_tokens=%d ms=%.0f\n", method, url, status, (int)pt, (int)ct,
            ms);
}

/* ------------------------------------------------------------------------- */
/* Routing                                                                   */
/* ------------------------------------------------------------------------- */

/* "/client/v4/accounts/<id>/ai/..." -> "/ai/..." (NULL when not that form) */
static const char *strip_account(const char *url) {
    static const char pre[] = "/client/v4/accounts/";
    if (strncmp(url, pre, sizeof pre - 1)) return NULL;
    const char *id = url + sizeof pre - 1;
    const char *slash = strchr(id, '/');
    if (!slash || slash == id) return NULL;
    return slash;
}

static route ollama_route(const char *p) {
    static const struct { const char *path; route r; } tab[] = {
        {"/chat", ROUTE_OLLAMA_CHAT},       {"/generate", ROUTE_OLLAMA_GENERATE}, {"/tags", ROUTE_OLLAMA_TAGS},
        {"/show", ROUTE_OLLAMA_SHOW},       {"/ps", ROUTE_OLLAMA_PS},             {"/version", ROUTE_OLLAMA_VERSION},
        {"/pull", ROUTE_OLLAMA_UNSUPPORTED}, {"/push", ROUTE_OLLAMA_UNSUPPORTED}, {"/create", ROUTE_OLLAMA_UNSUPPORTED},
        {"/copy", ROUTE_OLLAMA_UNSUPPORTED}, {"/delete", ROUTE_OLLAMA_UNSUPPORTED},
        {"/embed", ROUTE_OLLAMA_UNSUPPORTED}, {"/embeddings", ROUTE_OLLAMA_UNSUPPORTED},
    };
    for (size_t i = 0; i < sizeof tab / sizeof tab[0]; i++)
        if (!strcmp(p, tab[i].path)) return tab[i].r;
    if (!strncmp(p, "/blobs/", 7)) return ROUTE_OLLAMA_UNSUPPORTED;
    return ROUTE_NONE;
}

static route route_of(const char *url, const char *model_name, srv_api *api) {
    *api = SRV_API_WORKERS;
    if (!strcmp(url, "/health")) return ROUTE_HEALTH;
    if (!strcmp(url, "/ready")) return ROUTE_READY;
    if (!strcmp(url, "/metrics")) return ROUTE_METRICS;
    if (!strcmp(url, "/")) return ROUTE_ROOT;
    if (!strncmp(url, "/api/", 4) && url[4] == '/') {
        *api = SRV_API_OLLAMA;
        return ollama_route(url + 4);
    }
    const char *rest = strip_account(url);
    const char *v1 = NULL;
    if (!strncmp(url, "/v1/", 4)) v1 = url + 3;
    else if (rest && !strncmp(rest, "/ai/v1/", 7)) v1 = rest + 6;
    if (v1) {
        *api = SRV_API_OPENAI;
        if (!strcmp(v1, "/chat/completions")) return ROUTE_CHAT;
        if (!strcmp(v1, "/models")) return ROUTE_MODELS;
        if (!strncmp(v1, "/models/", 8) && v1[8]) return ROUTE_MODEL_ONE;
        return ROUTE_NONE;
    }
    const char *run = NULL;
    if (!strncmp(url, "/ai/run/", 8)) run = url + 8;
    else if (rest && !strncmp(rest, "/ai/run/", 8)) run = rest + 8;
    if (run) return strcmp(run, model_name) ? ROUTE_RUN_OTHER_MODEL : ROUTE_RUN;
    return ROUTE_NONE;
}

/* NULL = any method */
static const char *route_method(route r) {
    switch (r) {
    case ROUTE_HEALTH:
    case ROUTE_READY:
    case ROUTE_METRICS:
    case ROUTE_MODELS:
    case ROUTE_MODEL_ONE:
    case ROUTE_ROOT:
    case ROUTE_OLLAMA_TAGS:
    case ROUTE_OLLAMA_PS:
    case ROUTE_OLLAMA_VERSION: return "GET";
    case ROUTE_OLLAMA_UNSUPPORTED: return NULL;
    default: return "POST";
    }
}

/* Routes whose body is read (the others' bodies are discarded). */
static bool route_reads_body(route r) {
    return r == ROUTE_CHAT || r == ROUTE_RUN || r == ROUTE_OLLAMA_CHAT || r == ROUTE_OLLAMA_GENERATE ||
           r == ROUTE_OLLAMA_SHOW;
}

static bool route_generates(route r) {
    return r == ROUTE_CHAT || r == ROUTE_RUN || r == ROUTE_RUN_OTHER_MODEL || r == ROUTE_OLLAMA_CHAT ||
           r == ROUTE_OLLAMA_GENERATE;
}

/* The route's family in /metrics. */
static srv_metric_route metric_route(route r) {
    switch (r) {
    case ROUTE_RUN:
    case ROUTE_RUN_OTHER_MODEL: return SRV_MR_WORKERS;
    case ROUTE_CHAT: return SRV_MR_OPENAI;
    case ROUTE_OLLAMA_CHAT: return SRV_MR_OLLAMA_CHAT;
    case ROUTE_OLLAMA_GENERATE: return SRV_MR_OLLAMA_GENERATE;
    case ROUTE_HEALTH:
    case ROUTE_READY: return SRV_MR_HEALTH;
    case ROUTE_METRICS: return SRV_MR_METRICS;
    case ROUTE_NONE: return SRV_MR_OTHER;
    default: return SRV_MR_INFO;
    }
}

/* A finished request in the metrics (called once per request). */
static void count_request(srv_server *s, route rt, int status, int32_t pt, int32_t ct, int32_t cached, double ms) {
    srv_metrics_request(&s->metrics, metric_route(rt), status, ms / 1e3);
    if (pt > 0) atomic_fetch_add(&s->metrics.prompt_tokens, (uint_fast64_t)pt);
    if (ct > 0) atomic_fetch_add(&s->metrics.completion_tokens, (uint_fast64_t)ct);
    if (cached > 0) atomic_fetch_add(&s->metrics.cached_tokens, (uint_fast64_t)cached);
}

/* ------------------------------------------------------------------------- */
/* Responses                                                                 */
/* ------------------------------------------------------------------------- */

static enum MHD_Result respond(struct MHD_Connection *c, conn *k, int status, char *body, const char *allow) {
    if (!body) {
        status = 500;
        body = strdup("{\"result\":null,\"success\":false,\"errors\":[{\"code\":3043,\"message\":\"Internal error: "
                      "out of memory\"}],\"messages\":[]}");
        if (!body) return MHD_NO;
    }
    struct MHD_Response *r = MHD_create_response_from_buffer(strlen(body), body, MHD_RESPMEM_MUST_FREE);
    if (!r) {
        free(body);
        return MHD_NO;
    }
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
    if (allow) MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, allow);
    /* busy (429) or shutting down / out of memory (503): when to come back */
    if (status == 429) MHD_add_response_header(r, MHD_HTTP_HEADER_RETRY_AFTER, "1");
    if (status == 503) MHD_add_response_header(r, MHD_HTTP_HEADER_RETRY_AFTER, "5");
    common_headers(r, k->cors);
    k->status = status;
    enum MHD_Result ret = MHD_queue_response(c, (unsigned)status, r);
    MHD_destroy_response(r);
    return ret;
}

/* A 200 plain-text answer (the body is freed by MHD when mode says so). */
static enum MHD_Result respond_text(struct MHD_Connection *c, conn *k, const char *type, char *body, size_t n,
                                    enum MHD_ResponseMemoryMode mode) {
    struct MHD_Response *r = MHD_create_response_from_buffer(n, body, mode);
    if (!r) {
        if (mode == MHD_RESPMEM_MUST_FREE) free(body);
        return MHD_NO;
    }
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type);
    common_headers(r, k->cors);
    k->status = 200;
    enum MHD_Result ret = MHD_queue_response(c, MHD_HTTP_OK, r);
    MHD_destroy_response(r);
    return ret;
}

static enum MHD_Result respond_error(struct MHD_Connection *c, conn *k, srv_api api, const srv_error *e,
                                     const char *allow) {
    return respond(c, k, e->http, srv_fmt_error(api, e), allow);
}

__attribute__((format(printf, 6, 7))) static enum MHD_Result fail(struct MHD_Connection *c, conn *k, int http,
                                                                  int code, const char *allow, const char *fmt, ...) {
    srv_error e;
    memset(&e, 0, sizeof e);
    e.http = http;
    e.code = code;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e.message, sizeof e.message, fmt, ap);
    va_end(ap);
    return respond_error(c, k, k->api, &e, allow);
}

static int client_fd(struct MHD_Connection *c) {
    const union MHD_ConnectionInfo *ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
    return ci ? (int)ci->connect_fd : -1;
}

/* ------------------------------------------------------------------------- */
/* Streaming                                                                 */
/* ------------------------------------------------------------------------- */

typedef struct job {
    srv_server     *srv;
    srv_request     req;
    llv_session    *session;
    srv_run         run;
    pthread_t       th;
    bool            started;
    pthread_mutex_t mu;
    pthread_cond_t  cv;
    char           *buf;
    size_t          len, off, cap;
    bool            done;
    bool            oom;
    atomic_bool     cancel;
    char            id[48];
    long            created;
    const char     *model_name;
    bool            ollama_chat;  /* Ollama: /api/chat (else /api/generate) */
    int64_t         load_ns;      /* Ollama: waiting for a session          */
    int             keepalive_ms; /* SSE comment when idle this long (keeps MHD's idle timeout off) */
    /* with tools, an answer that starts like a call is held back: it goes out as a tool call (or, if it does
     * not parse as one, as text) at the end, never as text deltas of JSON */
    int             hold;         /* -1 undecided, 0 streaming, 1 holding */
    char           *held;
    size_t          held_n;
    srv_logprob    *held_lp;
    size_t          held_lp_n;
    /* for the log line and the metrics */
    char            method[16], url[160];
    route           rt;
    struct timespec t0;
} job;

/* Appends an event (owned) to the buffer and wakes the reader. */
static bool job_push(job *j, char *ev) {
    if (!ev) {
        j->oom = true;
        return false;
    }
    size_t n = strlen(ev);
    pthread_mutex_lock(&j->mu);
    if (j->len + n > j->cap) {
        size_t cap = j->cap ? j->cap : 4096;
        while (cap < j->len + n) cap *= 2;
        char *b = realloc(j->buf, cap);
        if (!b) {
            pthread_mutex_unlock(&j->mu);
            free(ev);
            j->oom = true;
            return false;
        }
        j->buf = b;
        j->cap = cap;
    }
    memcpy(j->buf + j->len, ev, n);
    j->len += n;
    pthread_cond_signal(&j->cv);
    pthread_mutex_unlock(&j->mu);
    free(ev);
    return true;
}

static bool job_emit_now(job *j, const char *piece, size_t n, const srv_logprob *lp, size_t n_lp);

/* Keeps a held piece (and its logprobs entries). */
static bool job_hold(job *j, const char *piece, size_t n, const srv_logprob *lp, size_t n_lp) {
    char *h = realloc(j->held, j->held_n + n + 1);
    srv_logprob *l = n_lp ? realloc(j->held_lp, (j->held_lp_n + n_lp) * sizeof *l) : j->held_lp;
    if (!h || (n_lp && !l)) {
        if (h) j->held = h;
        if (l) j->held_lp = l;
        j->oom = true;
        return false;
    }
    memcpy(h + j->held_n, piece, n);
    j->held = h;
    j->held_n += n;
    h[j->held_n] = 0;
    if (n_lp) memcpy(l + j->held_lp_n, lp, n_lp * sizeof *l);
    j->held_lp = l;
    j->held_lp_n += n_lp;
    return true;
}

static bool job_emit(const char *piece, size_t n, const srv_logprob *lp, size_t n_lp, void *user) {
    job *j = user;
    if (atomic_load(&j->cancel)) return false;
    if (j->hold < 0) { /* decided at the first non-blank byte of the answer */
        size_t i = 0;
        while (i < n && (piece[i] == ' ' || piece[i] == '\n' || piece[i] == '\t' || piece[i] == '\r')) i++;
        if (i < n) j->hold = piece[i] == '{' ? 1 : 0;
        else return job_hold(j, piece, n, lp, n_lp); /* blanks only: undecided yet */
        if (!j->hold && j->held_n) { /* the blanks before: as text */
            bool ok = job_emit_now(j, j->held, j->held_n, j->held_lp, j->held_lp_n);
            j->held_n = j->held_lp_n = 0;
            if (!ok) return false;
        }
    }
    if (j->hold > 0) return job_hold(j, piece, n, lp, n_lp);
    return job_emit_now(j, piece, n, lp, n_lp);
}

static bool job_emit_now(job *j, const char *piece, size_t n, const srv_logprob *lp, size_t n_lp) {
    srv_logprobs l = {j->srv->model, lp, n_lp};
    const srv_logprobs *lpp = j->req.sampling.logprobs ? &l : NULL;
    char *ev = j->req.api == SRV_API_OPENAI   ? srv_fmt_openai_chunk(j->id, j->created, j->model_name, NULL, piece, n,
                                                                      NULL, NULL, 0, lpp)
               : j->req.api == SRV_API_OLLAMA ? srv_ollama_piece(j->ollama_chat, j->model_name, piece, n, lpp)
                                              : srv_fmt_workers_piece(piece, n);
    return job_push(j, ev);
}

/* Ollama's counts and durations of a finished run. */
static srv_ollama_timing ollama_timing(const srv_run *r, const struct timespec *t0, int64_t load_ns) {
    srv_ollama_timing t;
    t.total_ns = (int64_t)(ms_since(t0) * 1e6);
    t.load_ns = load_ns;
    t.prompt_ns = (int64_t)((r->timings.image_s + r->timings.prefill_s) * 1e9);
    t.eval_ns = (int64_t)(r->timings.decode_s * 1e9);
    t.prompt_tokens = r->prompt_tokens - r->cached_tokens; /* Ollama counts the prompt tokens it evaluated */
    t.eval_tokens = r->completion_tokens;
    return t;
}

/* Gives the session back; after a whole answer, the pool learns that the
 * session's conversation now ends with it (the next turn's request starts so). */
static void release_run(srv_server *s, llv_session *sess, const srv_run *run, bool ok) {
    bool whole = ok && run && !run->cancelled && run->stop != LLV_STOP_TIMEOUT && run->text;
    uint64_t answer = whole ? srv_key_answer(run->text, run->len) : 0;
    srv_pool_release(s->pool, sess, answer, answer ? run->cached_tokens : 0);
}

static void *job_main(void *arg) {
    job *j = arg;
    srv_error e;
    memset(&e, 0, sizeof e);
    bool openai = j->req.api == SRV_API_OPENAI;
    if (openai)
        job_push(j, srv_fmt_openai_chunk(j->id, j->created, j->model_name, "assistant", "", 0, NULL, NULL, 0, NULL));
    bool ok = srv_run_generate(&j->run, &e);
    release_run(j->srv, j->session, &j->run, ok);
    j->session = NULL;
    if (ok && !j->run.cancelled && j->held_n && j->run.n_tool_calls == 0) /* held, but not a call: text after all */
        job_emit_now(j, j->held, j->held_n, j->held_lp, j->held_lp_n);
    bool ollama = j->req.api == SRV_API_OLLAMA;
    if (!ok) {
        /* the status line is gone already: report in the stream (Ollama's
         * clients and OpenAI's SDKs raise it) */
        job_push(j, srv_fmt_error_event(j->req.api, &e));
    } else if (!j->run.cancelled) {
        srv_usage u = {j->run.prompt_tokens, j->run.completion_tokens, j->run.cached_tokens};
        if (ollama) {
            srv_ollama_timing t = ollama_timing(&j->run, &j->t0, j->load_ns);
            job_push(j, srv_ollama_final(j->ollama_chat, j->model_name, NULL, j->run.tool_calls, j->run.n_tool_calls,
                                         srv_ollama_done_reason(j->run.stop), &t, NULL));
        } else if (openai && j->run.stop == LLV_STOP_TIMEOUT) {
            /* OpenAI has no finish_reason for it: an error event, which the SDKs raise */
            srv_error te;
            srv_error_set(&te, 408, SRV_CODE_TIMEOUT, "", "Request timeout: generation exceeded %d ms",
                          (int)j->req.sampling.timeout_ms);
            job_push(j, srv_fmt_error_event(SRV_API_OPENAI, &te));
        } else if (openai) {
            job_push(j, srv_fmt_openai_chunk(j->id, j->created, j->model_name, NULL, NULL, 0,
                                             srv_finish_reason(j->run.stop, j->run.n_tool_calls), j->run.tool_calls,
                                             j->run.n_tool_calls, NULL));
            if (j->req.include_usage) job_push(j, srv_fmt_openai_usage_chunk(j->id, j->created, j->model_name, u));
        } else {
            job_push(j, srv_fmt_workers_final(j->run.tool_calls, j->run.n_tool_calls, u));
        }
    }
    if (!j->run.cancelled && !ollama) job_push(j, strdup("data: [DONE]\n\n"));
    pthread_mutex_lock(&j->mu);
    j->done = true;
    pthread_cond_signal(&j->cv);
    pthread_mutex_unlock(&j->mu);
    return NULL;
}

static ssize_t job_read(void *cls, uint64_t pos, char *out, size_t max) {
    (void)pos;
    job *j = cls;
    pthread_mutex_lock(&j->mu);
    struct timespec dl;
    clock_gettime(CLOCK_REALTIME, &dl);
    long ns = dl.tv_nsec + (long)(j->keepalive_ms % 1000) * 1000000L;
    dl.tv_sec += j->keepalive_ms / 1000 + ns / 1000000000L;
    dl.tv_nsec = ns % 1000000000L;
    while (j->off == j->len && !j->done)
        if (pthread_cond_timedwait(&j->cv, &j->mu, &dl) == ETIMEDOUT) break;
    if (j->off == j->len && !j->done) {
        /* a long prefill: an SSE comment (ignored by clients) keeps the
         * connection from timing out as idle and shows a hang-up early; in
         * NDJSON a space, which the next line's JSON parse skips */
        static const char sse_ka[] = ": keep-alive\n\n";
        const char *ka = j->req.api == SRV_API_OLLAMA ? " " : sse_ka;
        size_t ka_n = j->req.api == SRV_API_OLLAMA ? 1 : sizeof sse_ka - 1;
        pthread_mutex_unlock(&j->mu);
        size_t n = ka_n < max ? ka_n : max;
        memcpy(out, ka, n);
        return (ssize_t)n;
    }
    if (j->off == j->len) {
        pthread_mutex_unlock(&j->mu);
        return j->oom || j->run.cancelled ? MHD_CONTENT_READER_END_WITH_ERROR : MHD_CONTENT_READER_END_OF_STREAM;
    }
    size_t n = j->len - j->off;
    if (n > max) n = max;
    memcpy(out, j->buf + j->off, n);
    j->off += n;
    if (j->off == j->len) j->off = j->len = 0;
    pthread_mutex_unlock(&j->mu);
    return (ssize_t)n;
}

static void job_free(void *cls) {
    job *j = cls;
    atomic_store(&j->cancel, true);
    if (j->started) pthread_join(j->th, NULL);
    if (j->session) srv_pool_release(j->srv->pool, j->session, 0, 0);
    int status = j->run.cancelled ? 499 : 200;
    double ms = ms_since(&j->t0);
    log_line(j->method, j->url, status, j->run.prompt_tokens, j->run.completion_tokens, ms);
    count_request(j->srv, j->rt, status, j->run.prompt_tokens, j->run.completion_tokens, j->run.cached_tokens, ms);
    atomic_fetch_sub(&j->srv->inflight, 1);
    srv_run_free(&j->run);
    srv_request_free(&j->req);
    free(j->held);
    free(j->held_lp);
    pthread_mutex_destroy(&j->mu);
    pthread_cond_destroy(&j->cv);
    free(j->buf);
    free(j);
}

/* Takes ownership of *req (zeroed) and of the session. */
static enum MHD_Result start_stream(srv_server *s, struct MHD_Connection *c, conn *k, srv_request *req,
                                    llv_session *sess, int64_t load_ns) {
    job *j = calloc(1, sizeof *j);
    if (!j) {
        srv_pool_release(s->pool, sess, 0, 0);
        srv_request_free(req);
        return fail(c, k, 503, SRV_CODE_CAPACITY, NULL, "Out of capacity: out of memory");
    }
    j->srv = s;
    j->req = *req;
    memset(req, 0, sizeof *req);
    j->session = sess;
    pthread_mutex_init(&j->mu, NULL);
    pthread_cond_init(&j->cv, NULL);
    atomic_init(&j->cancel, false);
    srv_new_id(j->id, sizeof j->id, "chatcmpl-");
    j->created = (long)time(NULL);
    j->model_name = s->cfg.model_name;
    if (j->req.api == SRV_API_OLLAMA) {
        j->model_name = s->cfg.ollama_name;
        j->ollama_chat = k->rt == ROUTE_OLLAMA_CHAT;
    }
    j->load_ns = load_ns;
    j->hold = j->req.forced_tool ? 1 : j->req.has_tools ? -1 : 0;
    j->keepalive_ms = s->cfg.conn_timeout * 1000 / 3;
    if (j->keepalive_ms > 5000) j->keepalive_ms = 5000;
    snprintf(j->method, sizeof j->method, "%s", k->method);
    snprintf(j->url, sizeof j->url, "%s", k->url);
    j->rt = k->rt;
    j->t0 = k->t0;
    j->run.req = &j->req;
    j->run.session = sess;
    j->run.model = s->model;
    j->run.metrics = &s->metrics;
    j->run.t0 = k->t0;
    j->run.emit = job_emit;
    j->run.emit_user = j;
    j->run.cancel = &j->cancel;
    j->run.shutdown = &s->shutdown;
    j->run.client_fd = client_fd(c);
    struct MHD_Response *r = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 16 * 1024, job_read, j, job_free);
    if (!r) {
        job_free(j);
        return MHD_NO;
    }
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE,
                            j->req.api == SRV_API_OLLAMA ? "application/x-ndjson" : "text/event-stream");
    MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-cache");
    common_headers(r, k->cors);
    if (pthread_create(&j->th, NULL, job_main, j) != 0) {
        MHD_destroy_response(r); /* frees j through job_free */
        return fail(c, k, 503, SRV_CODE_CAPACITY, NULL, "Out of capacity: cannot start a thread");
    }
    j->started = true;
    k->streaming = true;
    k->status = 200;
    enum MHD_Result ret = MHD_queue_response(c, MHD_HTTP_OK, r);
    MHD_destroy_response(r);
    return ret;
}

/* ------------------------------------------------------------------------- */
/* Generation routes                                                         */
/* ------------------------------------------------------------------------- */

static int64_t ns_since(const struct timespec *t0) { return (int64_t)(ms_since(t0) * 1e6); }

static enum MHD_Result generate_one(srv_server *s, struct MHD_Connection *c, conn *k);

/* A generation request: refused while draining; counted in flight until it
 * is answered (a stream: until its job ends). */
static enum MHD_Result generate(srv_server *s, struct MHD_Connection *c, conn *k) {
    if (atomic_load(&s->draining))
        return fail(c, k, 503, SRV_CODE_CAPACITY, NULL, "Out of capacity: this server is draining (shutting down)");
    atomic_fetch_add(&s->inflight, 1);
    enum MHD_Result ret = generate_one(s, c, k);
    if (!k->streaming) atomic_fetch_sub(&s->inflight, 1);
    return ret;
}

static enum MHD_Result generate_one(srv_server *s, struct MHD_Connection *c, conn *k) {
    srv_request req;
    srv_error e;
    memset(&e, 0, sizeof e);
    srv_api api = k->api;
    bool ollama = api == SRV_API_OLLAMA;
    bool ok = ollama ? srv_ollama_parse(k->body, k->len, k->rt == ROUTE_OLLAMA_CHAT, &s->cfg.limits, &req, &e)
                     : srv_request_parse(k->body, k->len, api, &s->cfg.limits, &req, &e);
    if (!ok) {
        srv_request_free(&req);
        return respond_error(c, k, api, &e, NULL);
    }
    if (ollama && !srv_ollama_name_matches(req.model, s->cfg.ollama_name, s->cfg.model_name)) {
        enum MHD_Result ret = fail(c, k, 404, SRV_CODE_NOT_FOUND, NULL,
                                   "model '%.100s' not found (this server runs %s; pulling models is not supported)",
                                   req.model, s->cfg.ollama_name);
        srv_request_free(&req);
        return ret;
    }
    if (ollama && req.load_only) {
        /* the model is loaded at start and stays: nothing to do */
        bool chat = k->rt == ROUTE_OLLAMA_CHAT;
        const char *why = req.unload ? "unload" : "load";
        srv_request_free(&req);
        return respond(c, k, 200, srv_ollama_final(chat, s->cfg.ollama_name, "", NULL, 0, why, NULL, NULL), NULL);
    }
    llv_session *sess = NULL;
    struct timespec tq;
    clock_gettime(CLOCK_MONOTONIC, &tq);
    uint64_t key[SRV_KEY_MAX];
    size_t n_key = srv_request_key(&req, key, SRV_KEY_MAX);
    atomic_fetch_add(&s->metrics.images, (uint_fast64_t)req.n_images);
    srv_pool_rc rc = srv_pool_acquire(s->pool, key, n_key, s->cfg.queue_timeout_ms, &sess);
    int64_t load_ns = ns_since(&tq);
    if (rc != SRV_POOL_OK) {
        srv_request_free(&req);
        if (rc == SRV_POOL_FULL)
            return fail(c, k, 429, SRV_CODE_CAPACITY, NULL,
                        "Out of capacity: all sessions are busy and the queue is full; retry later");
        if (rc == SRV_POOL_TIMEOUT)
            return fail(c, k, 503, SRV_CODE_CAPACITY, NULL,
                        "Out of capacity: waited %d ms for a free session (--queue-timeout); retry later",
                        s->cfg.queue_timeout_ms);
        return fail(c, k, 503, SRV_CODE_CAPACITY, NULL, "Out of capacity: the server is shutting down");
    }
    if (!srv_run_input(&req, sess, &e)) {
        srv_pool_release(s->pool, sess, 0, 0);
        srv_request_free(&req);
        return respond_error(c, k, api, &e, NULL);
    }
    if (req.stream) return start_stream(s, c, k, &req, sess, load_ns);

    srv_run run;
    memset(&run, 0, sizeof run);
    run.req = &req;
    run.session = sess;
    run.model = s->model;
    run.metrics = &s->metrics;
    run.t0 = k->t0;
    run.shutdown = &s->shutdown;
    run.client_fd = client_fd(c);
    ok = srv_run_generate(&run, &e);
    release_run(s, sess, &run, ok);
    k->pt = run.prompt_tokens;
    k->ct = run.completion_tokens;
    k->cached = run.cached_tokens;
    enum MHD_Result ret;
    if (!ok) {
        ret = respond_error(c, k, api, &e, NULL);
    } else if (run.cancelled) {
        k->status = 499; /* client gone (or shutdown): nothing to answer */
        ret = atomic_load(&s->shutdown)
                  ? fail(c, k, 503, SRV_CODE_CAPACITY, NULL, "Out of capacity: the server is shutting down")
                  : MHD_NO;
    } else if (run.stop == LLV_STOP_TIMEOUT) {
        ret = fail(c, k, 408, SRV_CODE_TIMEOUT, NULL, "Request timeout: generation exceeded %d ms",
                   (int)req.sampling.timeout_ms);
    } else {
        srv_usage u = {run.prompt_tokens, run.completion_tokens, run.cached_tokens};
        srv_logprobs lp = {s->model, run.lp, run.n_lp};
        char *body;
        if (ollama) {
            srv_ollama_timing t = ollama_timing(&run, &k->t0, load_ns);
            body = srv_ollama_final(k->rt == ROUTE_OLLAMA_CHAT, s->cfg.ollama_name, run.text, run.tool_calls,
                                    run.n_tool_calls, srv_ollama_done_reason(run.stop), &t,
                                    req.sampling.logprobs ? &lp : NULL);
        } else if (api == SRV_API_OPENAI) {
            char id[48];
            srv_new_id(id, sizeof id, "chatcmpl-");
            body = srv_fmt_openai_result(id, (long)time(NULL), s->cfg.model_name, run.text, run.tool_calls,
                                         run.n_tool_calls, srv_finish_reason(run.stop, run.n_tool_calls), u,
                                         req.sampling.logprobs ? &lp : NULL);
        } else {
            body = srv_fmt_workers_result(run.text, run.tool_calls, run.n_tool_calls, u);
        }
        ret = respond(c, k, 200, body, NULL);
    }
    srv_run_free(&run);
    srv_request_free(&req);
    return ret;
}

/* The served model as Ollama's listing routes describe it. */
static srv_ollama_model ollama_model(const srv_server *s) {
    srv_ollama_model m = {.name = s->cfg.ollama_name, .path = s->cfg.model_path, .started = s->created,
                          .n_ctx = s->cfg.n_ctx, .kv_bytes = s->cfg.kv_bytes, .model = s->model};
    struct stat st;
    m.modified = s->cfg.model_path && stat(s->cfg.model_path, &st) == 0 ? (long)st.st_mtime : s->created;
    return m;
}

static enum MHD_Result ollama_info(srv_server *s, struct MHD_Connection *c, conn *k) {
    srv_ollama_model m = ollama_model(s);
    switch (k->rt) {
    case ROUTE_OLLAMA_TAGS: return respond(c, k, 200, srv_ollama_tags(&m), NULL);
    case ROUTE_OLLAMA_PS: return respond(c, k, 200, srv_ollama_ps(&m), NULL);
    case ROUTE_OLLAMA_VERSION: return respond(c, k, 200, srv_ollama_version(), NULL);
    case ROUTE_OLLAMA_SHOW: {
        char name[256];
        srv_error e;
        memset(&e, 0, sizeof e);
        if (!srv_ollama_show_name(k->body, k->len, name, sizeof name, &e)) return respond_error(c, k, k->api, &e, NULL);
        if (!srv_ollama_name_matches(name, s->cfg.ollama_name, s->cfg.model_name))
            return fail(c, k, 404, SRV_CODE_NOT_FOUND, NULL, "model '%.100s' not found (this server runs %s)", name,
                        s->cfg.ollama_name);
        return respond(c, k, 200, srv_ollama_show(&m), NULL);
    }
    default:
        return fail(c, k, 501, SRV_CODE_NOT_FOUND, NULL,
                    "%s is not supported: llv-server serves the one model it loaded at start (%s); manage models "
                    "as files and restart with -m FILE",
                    k->url, s->cfg.ollama_name);
    }
}

/* ------------------------------------------------------------------------- */
/* MHD callbacks                                                             */
/* ------------------------------------------------------------------------- */

static bool authorized(srv_server *s, struct MHD_Connection *c) {
    if (!s->cfg.api_key) return true;
    const char *h = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
    if (!h || strncasecmp(h, "Bearer ", 7)) return false;
    h += 7;
    while (*h == ' ') h++;
    /* compare without an early exit, so timing doesn't leak the key */
    size_t a = strlen(h), b = strlen(s->cfg.api_key);
    unsigned diff = (unsigned)(a ^ b);
    for (size_t i = 0; i < a; i++) diff |= (unsigned char)h[i] ^ (unsigned char)s->cfg.api_key[i % (b ? b : 1)];
    return diff == 0;
}

static enum MHD_Result dispatch(srv_server *s, struct MHD_Connection *c, conn *k) {
    if (!strcmp(k->method, "OPTIONS") && s->cfg.cors && k->rt != ROUTE_NONE) {
        /* a browser's CORS preflight: no auth, no body */
        struct MHD_Response *r = MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
        if (!r) return MHD_NO;
        common_headers(r, s->cfg.cors);
        const char *m = route_method(k->rt);
        char allow[32];
        snprintf(allow, sizeof allow, "%s, OPTIONS", m ? m : "GET, POST");
        MHD_add_response_header(r, "Access-Control-Allow-Methods", allow);
        MHD_add_response_header(r, "Access-Control-Allow-Headers", "Authorization, Content-Type");
        MHD_add_response_header(r, "Access-Control-Max-Age", "600");
        k->status = 204;
        enum MHD_Result ret = MHD_queue_response(c, MHD_HTTP_NO_CONTENT, r);
        MHD_destroy_response(r);
        return ret;
    }
    if (k->rt != ROUTE_HEALTH && k->rt != ROUTE_READY && !authorized(s, c))
        return fail(c, k, 401, SRV_CODE_AUTH, NULL, "Authentication error: missing or invalid Authorization: Bearer token");
    if (k->rt == ROUTE_NONE) {
        return fail(c, k, 404, SRV_CODE_NOT_FOUND, NULL, "Could not route to %s, perhaps your object identifier is invalid?",
                    k->url);
    }
    const char *want = route_method(k->rt);
    if (want && strcmp(k->method, want) && !(!route_generates(k->rt) && !strcmp(want, "GET") && !strcmp(k->method, "HEAD")))
        return fail(c, k, 405, SRV_CODE_METHOD, want, "Method not allowed: %s %s (use %s)", k->method, k->url, want);
    if (k->too_large)
        return fail(c, k, 413, SRV_CODE_TOO_LARGE, NULL, "Request too large: the body exceeds %zu bytes",
                    s->cfg.max_body);
    if (k->over_budget)
        return fail(c, k, 503, SRV_CODE_CAPACITY, NULL,
                    "Out of capacity: the request bodies held at once exceed --max-body-total (%zu bytes); retry later",
                    s->cfg.max_body_total);
    switch (k->rt) {
    case ROUTE_HEALTH:
        if (atomic_load(&s->shutdown))
            return fail(c, k, 503, SRV_CODE_CAPACITY, NULL, "Out of capacity: the server is shutting down");
        {
            cJSON *o = cJSON_CreateObject();
            cJSON_AddStringToObject(o, "status", "ok");
            cJSON_AddStringToObject(o, "model", s->cfg.model_name);
            int busy = 0, waiting = 0;
            srv_pool_stats(s->pool, &busy, &waiting);
            llv_engine_stats es;
            srv_pool_engine_stats(s->pool, &es);
            cJSON_AddNumberToObject(o, "busy", busy);
            cJSON_AddNumberToObject(o, "waiting", waiting);
            cJSON_AddBoolToObject(o, "draining", atomic_load(&s->draining));
            srv_pool_counters pc;
            int kept = 0, parallel = 0;
            srv_pool_counters_get(s->pool, &pc, &kept, &parallel);
            cJSON *pcj = cJSON_AddObjectToObject(o, "prefix_cache");
            if (pcj) {
                cJSON_AddNumberToObject(pcj, "sessions_kept", kept);
                cJSON_AddNumberToObject(pcj, "hits", (double)pc.prefix_hits);
                cJSON_AddNumberToObject(pcj, "cached_tokens", (double)pc.cached_tokens);
            }
            cJSON *e = cJSON_AddObjectToObject(o, "engine");
            if (e) {
                cJSON_AddNumberToObject(e, "forward_passes", (double)es.forwards);
                cJSON_AddNumberToObject(e, "merged_passes", (double)es.merged);
                cJSON_AddNumberToObject(e, "max_requests_in_pass", es.max_sessions_in_pass);
                cJSON_AddNumberToObject(e, "rows", (double)es.rows);
                cJSON_AddNumberToObject(e, "image_encodings", (double)es.encoder_runs);
            }
            char *b = cJSON_PrintUnformatted(o);
            cJSON_Delete(o);
            return respond(c, k, 200, b, NULL);
        }
    case ROUTE_READY: {
        /* readiness: the model is loaded (it is, once we listen) and we are not draining */
        bool ready = !atomic_load(&s->draining) && !atomic_load(&s->shutdown);
        if (!ready) return fail(c, k, 503, SRV_CODE_CAPACITY, NULL, "Not ready: the server is draining");
        return respond(c, k, 200, strdup("{\"status\":\"ready\"}"), NULL);
    }
    case ROUTE_METRICS: {
        srv_metrics_live l;
        memset(&l, 0, sizeof l);
        srv_pool_stats(s->pool, &l.busy, &l.waiting);
        srv_pool_counters pc;
        srv_pool_counters_get(s->pool, &pc, &l.kept, &l.parallel);
        llv_engine_stats es;
        srv_pool_engine_stats(s->pool, &es);
        l.inflight = atomic_load(&s->inflight);
        l.draining = atomic_load(&s->draining);
        l.prefix_hits = pc.prefix_hits;
        l.prefix_cached_tokens = pc.cached_tokens;
        l.rejected_full = pc.rejected_full;
        l.rejected_timeout = pc.rejected_timeout;
        l.forward_passes = es.forwards;
        l.merged_passes = es.merged;
        l.image_encodes = es.encoder_runs;
        l.rss_bytes = srv_rss_bytes();
        char *body = srv_metrics_render(&s->metrics, &l);
        if (!body) return fail(c, k, 500, SRV_CODE_INTERNAL, NULL, "Internal error: out of memory");
        return respond_text(c, k, "text/plain; version=0.0.4; charset=utf-8", body, strlen(body),
                            MHD_RESPMEM_MUST_FREE);
    }
    case ROUTE_MODELS:
        return respond(c, k, 200, srv_fmt_openai_models(s->cfg.model_name, s->created), NULL);
    case ROUTE_MODEL_ONE: {
        const char *id = strstr(k->url, "/models/") + 8;
        if (strcmp(id, s->cfg.model_name))
            return fail(c, k, 404, SRV_CODE_NO_SUCH_MODEL, NULL, "The model '%.100s' does not exist (this server runs %s)",
                        id, s->cfg.model_name);
        return respond(c, k, 200, srv_fmt_openai_model(s->cfg.model_name, s->created), NULL);
    }
    case ROUTE_ROOT: {
        /* Ollama's clients probe GET / for a 200 */
        static const char text[] = "llv is running (Workers AI, OpenAI and Ollama APIs)";
        return respond_text(c, k, "text/plain; charset=utf-8", (char *)text, sizeof text - 1, MHD_RESPMEM_PERSISTENT);
    }
    case ROUTE_OLLAMA_TAGS:
    case ROUTE_OLLAMA_PS:
    case ROUTE_OLLAMA_VERSION:
    case ROUTE_OLLAMA_SHOW:
    case ROUTE_OLLAMA_UNSUPPORTED:
        return ollama_info(s, c, k);
    case ROUTE_RUN_OTHER_MODEL:
        return fail(c, k, 400, SRV_CODE_NO_SUCH_MODEL, NULL, "No such model %s (this server runs %s)",
                    k->url, s->cfg.model_name);
    default:
        return generate(s, c, k);
    }
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url, const char *method,
                                  const char *version, const char *upload_data, size_t *upload_data_size,
                                  void **con_cls) {
    (void)version;
    srv_server *s = cls;
    conn *k = *con_cls;
    if (!k) {
        k = calloc(1, sizeof *k);
        if (!k) return MHD_NO;
        clock_gettime(CLOCK_MONOTONIC, &k->t0);
        snprintf(k->method, sizeof k->method, "%s", method);
        snprintf(k->url, sizeof k->url, "%s", url);
        k->rt = route_of(url, s->cfg.model_name, &k->api);
        k->cors = s->cfg.cors;
        const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
        if (cl && strtoull(cl, NULL, 10) > s->cfg.max_body) k->too_large = true;
        *con_cls = k;
        return MHD_YES;
    }
    if (*upload_data_size) {
        size_t n = *upload_data_size;
        *upload_data_size = 0;
        /* bodies are only kept for the generation routes; others are discarded */
        if (k->too_large || !route_reads_body(k->rt)) return MHD_YES;
        if (k->len + n > s->cfg.max_body) {
            k->too_large = true;
            free(k->body);
            k->body = NULL;
            atomic_fetch_sub(&s->body_bytes, k->charged);
            k->charged = k->len = k->cap = 0;
            return MHD_YES;
        }
        if (k->over_budget) return MHD_YES;
        if (k->len + n > k->cap) {
            size_t cap = k->cap ? k->cap : 4096;
            while (cap < k->len + n) cap *= 2;
            if (cap > s->cfg.max_body) cap = s->cfg.max_body;
            /* one budget for every body held: memory stays bounded whatever the connection count */
            size_t more = cap - k->charged;
            if (atomic_fetch_add(&s->body_bytes, more) + more > s->cfg.max_body_total) {
                atomic_fetch_sub(&s->body_bytes, more);
                k->over_budget = true;
                free(k->body);
                k->body = NULL;
                atomic_fetch_sub(&s->body_bytes, k->charged);
                k->charged = k->len = k->cap = 0;
                return MHD_YES;
            }
            k->charged = cap;
            char *b = realloc(k->body, cap);
            if (!b) return MHD_NO; /* on_completed gives the charge back */
            k->body = b;
            k->cap = cap;
        }
        memcpy(k->body + k->len, upload_data, n);
        k->len += n;
        return MHD_YES;
    }
    return dispatch(s, c, k);
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls, enum MHD_RequestTerminationCode toe) {
    (void)c;
    conn *k = *con_cls;
    if (!k) return;
    if (!k->streaming) {
        int status = k->status ? k->status : 499;
        if (toe != MHD_REQUEST_TERMINATED_COMPLETED_OK && status == 200) status = 499;
        double ms = ms_since(&k->t0);
        log_line(k->method, k->url, status, k->pt, k->ct, ms);
        count_request(cls, k->rt, status, k->pt, k->ct, k->cached, ms);
    }
    srv_server *s = cls;
    atomic_fetch_sub(&s->body_bytes, k->charged);
    free(k->body);
    free(k);
    *con_cls = NULL;
}

bool srv_server_start(const srv_config *cfg, const llv_model *model, srv_pool *pool, srv_server **out,
                      int *port_out, char *why, size_t why_cap) {
    *out = NULL;
    struct addrinfo hints, *ai = NULL;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE;
    char port[16];
    snprintf(port, sizeof port, "%d", cfg->port);
    int gai = getaddrinfo(cfg->host, port, &hints, &ai);
    if (gai || !ai) {
        snprintf(why, why_cap, "cannot resolve --host %s: %s", cfg->host, gai_strerror(gai));
        return false;
    }
    srv_server *s = calloc(1, sizeof *s);
    if (!s) {
        freeaddrinfo(ai);
        snprintf(why, why_cap, "out of memory");
        return false;
    }
    s->cfg = *cfg;
    s->model = model;
    s->pool = pool;
    s->created = (long)time(NULL);
    atomic_init(&s->shutdown, false);
    atomic_init(&s->draining, false);
    atomic_init(&s->inflight, 0);
    atomic_init(&s->body_bytes, 0);
    srv_metrics_init(&s->metrics);
    /* ITC: MHD_quiesce_daemon (draining) needs it with internal threads */
    unsigned flags = MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_POLL | MHD_USE_ITC;
    if (ai->ai_family == AF_INET6) flags |= MHD_USE_IPv6;
    s->d = MHD_start_daemon(flags, (uint16_t)cfg->port, NULL, NULL, on_request, s,
                            MHD_OPTION_SOCK_ADDR, ai->ai_addr,
                            MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)cfg->conn_timeout,
                            MHD_OPTION_CONNECTION_LIMIT, (unsigned int)cfg->max_conns,
                            MHD_OPTION_NOTIFY_COMPLETED, on_completed, s,
                            MHD_OPTION_END);
    freeaddrinfo(ai);
    if (!s->d) {
        snprintf(why, why_cap, "cannot listen on %s:%d (address in use or not permitted?)", cfg->host, cfg->port);
        free(s);
        return false;
    }
    const union MHD_DaemonInfo *di = MHD_get_daemon_info(s->d, MHD_DAEMON_INFO_BIND_PORT);
    *port_out = di ? (int)di->port : cfg->port;
    *out = s;
    return true;
}

bool srv_server_drain(srv_server *s, int timeout_ms) {
    atomic_store(&s->draining, true);
    /* stop accepting: a load balancer's new connections go to the other backends */
    MHD_socket fd = MHD_quiesce_daemon(s->d);
    if (fd != MHD_INVALID_SOCKET) close(fd);
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    while (atomic_load(&s->inflight) > 0) {
        if (timeout_ms > 0 && ms_since(&t0) >= timeout_ms) return false;
        struct timespec d = {0, 20 * 1000 * 1000};
        nanosleep(&d, NULL);
    }
    return true;
}

int srv_server_inflight(const srv_server *s) { return atomic_load(&s->inflight); }

void srv_server_stop(srv_server *s) {
    if (!s) return;
    atomic_store(&s->shutdown, true);
    srv_pool_close(s->pool);
    MHD_stop_daemon(s->d);
    free(s);
}
