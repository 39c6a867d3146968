/* metrics.c - see metrics.h. */
#include "metrics.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const int status_codes[SRV_METRIC_STATUS] = {200, 204, 400, 401, 404, 405, 408, 413, 429, 499, 500, 503};
static const char *const route_names[SRV_METRIC_ROUTES] = {"workers", "openai", "ollama_chat", "ollama_generate",
                                                           "info", "health", "metrics", "other"};
/* seconds: from a tenth of a decode step to a large model's image */
static const double buckets[SRV_HISTO_BUCKETS] = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120};

void srv_metrics_init(srv_metrics *m) { memset(m, 0, sizeof *m); }

void srv_histo_observe(srv_histo *h, double s) {
    int b = 0;
    while (b < SRV_HISTO_BUCKETS && s > buckets[b]) b++;
    atomic_fetch_add(&h->count[b], 1);
    atomic_fetch_add(&h->n, 1);
    atomic_fetch_add(&h->sum_us, (uint_fast64_t)(s > 0 ? s * 1e6 : 0));
}

void srv_metrics_request(srv_metrics *m, srv_metric_route route, int status, double seconds) {
    int k = 0;
    while (k < SRV_METRIC_STATUS && status_codes[k] != status) k++;
    if (k == SRV_METRIC_STATUS) k = status >= 500 ? 10 : 2; /* others as 500 / 400 */
    if ((int)route < 0 || route >= SRV_METRIC_ROUTES) route = SRV_MR_OTHER;
    atomic_fetch_add(&m->requests[route][k], 1);
    if (route <= SRV_MR_OLLAMA_GENERATE) srv_histo_observe(&m->duration, seconds);
}

uint64_t srv_rss_bytes(void) {
    FILE *f = fopen("/proc/self/statm", "r");
    if (!f) return 0;
    unsigned long long size = 0, rss = 0;
    int n = fscanf(f, "%llu %llu", &size, &rss);
    fclose(f);
    long page = sysconf(_SC_PAGESIZE);
    return n == 2 && page > 0 ? (uint64_t)rss * (uint64_t)page : 0;
}

typedef struct out {
    char  *p;
    size_t len, cap;
    bool   oom;
} out;

__attribute__((format(printf, 2, 3))) static void put(out *o, const char *fmt, ...) {
    if (o->oom) return;
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(o->p ? o->p + o->len : NULL, o->p ? o->cap - o->len : 0, fmt, ap);
        va_end(ap);
        if (n < 0) {
            o->oom = true;
            return;
        }
        if (o->p && o->len + (size_t)n < o->cap) {
            o->len += (size_t)n;
            return;
        }
        size_t cap = o->cap ? o->cap * 2 : 8192;
        while (cap < o->len + (size_t)n + 1) cap *= 2;
        char *q = realloc(o->p, cap);
        if (!q) {
            o->oom = true;
            return;
        }
        o->p = q;
        o->cap = cap;
    }
}

static void histo(out *o, const char *name, const char *help, const srv_histo *h) {
    put(o, "# HELP %s %s\n# TYPE %s histogram\n", name, help, name);
    uint64_t cum = 0;
    for (int b = 0; b < SRV_HISTO_BUCKETS; b++) {
        cum += atomic_load(&h->count[b]);
        put(o, "%s_bucket{le=\"%g\"} %llu\n", name, buckets[b], (unsigned long long)cum);
    }
    cum += atomic_load(&h->count[SRV_HISTO_BUCKETS]);
    put(o, "%s_bucket{le=\"+Inf\"} %llu\n%s_sum %.6f\n%s_count %llu\n", name, (unsigned long long)cum, name,
        (double)atomic_load(&h->sum_us) / 1e6, name, (unsigned long long)atomic_load(&h->n));
}

static void counter(out *o, const char *name, const char *help, uint64_t v) {
    put(o, "# HELP %s %s\n# TYPE %s counter\n%s %llu\n", name, help, name, name, (unsigned long long)v);
}

static void gauge(out *o, const char *name, const char *help, double v) {
    put(o, "# HELP %s %s\n# TYPE %s gauge\n%s %.17g\n", name, help, name, name, v);
}

char *srv_metrics_render(const srv_metrics *m, const srv_metrics_live *l) {
    out o = {0};
    put(&o, "# HELP llv_requests_total HTTP requests answered, by route family and status.\n"
            "# TYPE llv_requests_total counter\n");
    for (int r = 0; r < SRV_METRIC_ROUTES; r++)
        for (int k = 0; k < SRV_METRIC_STATUS; k++) {
            uint64_t v = atomic_load(&m->requests[r][k]);
            if (v) put(&o, "llv_requests_total{route=\"%s\",status=\"%d\"} %llu\n", route_names[r], status_codes[k],
                       (unsigned long long)v);
        }
    counter(&o, "llv_prompt_tokens_total", "Prompt tokens of answered requests.", atomic_load(&m->prompt_tokens));
    counter(&o, "llv_completion_tokens_total", "Generated tokens.", atomic_load(&m->completion_tokens));
    counter(&o, "llv_images_total", "Images in requests.", atomic_load(&m->images));
    counter(&o, "llv_image_encodes_total", "Vision encoder runs (the rest were image-cache hits).", l->image_encodes);
    counter(&o, "llv_prefix_cache_hits_total", "Requests that reused KV rows of a kept conversation.", l->prefix_hits);
    counter(&o, "llv_prefix_cache_tokens_total", "Prompt tokens the prefix cache spared.", l->prefix_cached_tokens);
    counter(&o, "llv_rejected_queue_full_total", "Requests answered 429: the queue was full.", l->rejected_full);
    counter(&o, "llv_rejected_queue_timeout_total", "Requests answered 503 after --queue-timeout.", l->rejected_timeout);
    counter(&o, "llv_forward_passes_total", "Forward passes over the weights.", l->forward_passes);
    counter(&o, "llv_merged_passes_total", "Forward passes with rows of several requests.", l->merged_passes);
    gauge(&o, "llv_queue_length", "Requests waiting for a session.", l->waiting);
    gauge(&o, "llv_sessions_busy", "Sessions serving a request.", l->busy);
    gauge(&o, "llv_sessions_parallel", "Sessions that may serve at once (--parallel).", l->parallel);
    gauge(&o, "llv_sessions_kept", "Sessions kept with their conversations (prefix cache).", l->kept);
    gauge(&o, "llv_requests_in_flight", "Generation requests accepted and not finished.", l->inflight);
    gauge(&o, "llv_draining", "1 while draining after SIGTERM.", l->draining ? 1 : 0);
    gauge(&o, "llv_resident_memory_bytes", "Resident set size of the server.", (double)l->rss_bytes);
    histo(&o, "llv_time_to_first_token_seconds", "Request arrival to the answer's first piece.", &m->ttft);
    histo(&o, "llv_inter_token_seconds", "Time between two pieces of an answer.", &m->itl);
    histo(&o, "llv_request_duration_seconds", "Generation requests, arrival to the last byte.", &m->duration);
    if (o.oom) {
        free(o.p);
        return NULL;
    }
    return o.p;
}
