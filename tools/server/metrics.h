/* metrics.h - the server's counters and histograms, rendered as Prometheus
 * text (GET /metrics). Lock-free: atomics, updated from any thread. */
#ifndef LLV_SERVER_METRICS_H
#define LLV_SERVER_METRICS_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SRV_METRIC_ROUTES 8  /* route families, see srv_metrics_route_name */
#define SRV_METRIC_STATUS 12 /* status codes tracked, see metrics.c         */
#define SRV_HISTO_BUCKETS 14

typedef struct srv_histo {
    atomic_uint_fast64_t count[SRV_HISTO_BUCKETS + 1]; /* per bucket; the last is +Inf */
    atomic_uint_fast64_t n;
    atomic_uint_fast64_t sum_us;
} srv_histo;

typedef struct srv_metrics {
    atomic_uint_fast64_t requests[SRV_METRIC_ROUTES][SRV_METRIC_STATUS];
    atomic_uint_fast64_t prompt_tokens, completion_tokens, cached_tokens, images;
    srv_histo            ttft;      /* request arrival to the answer's first piece */
    srv_histo            itl;       /* between two pieces of an answer             */
    srv_histo            duration;  /* whole requests                               */
} srv_metrics;

typedef enum srv_metric_route {
    SRV_MR_WORKERS = 0, SRV_MR_OPENAI, SRV_MR_OLLAMA_CHAT, SRV_MR_OLLAMA_GENERATE, SRV_MR_INFO, SRV_MR_HEALTH,
    SRV_MR_METRICS, SRV_MR_OTHER
} srv_metric_route;

void srv_metrics_init(srv_metrics *m);
void srv_metrics_request(srv_metrics *m, srv_metric_route route, int status, double seconds);
void srv_histo_observe(srv_histo *h, double seconds);

/* The live figures /metrics shows besides the counters. */
typedef struct srv_metrics_live {
    int      busy, waiting, kept, parallel, inflight;
    bool     draining;
    uint64_t prefix_hits, prefix_cached_tokens, rejected_full, rejected_timeout;
    uint64_t forward_passes, merged_passes, image_encodes;
    uint64_t rss_bytes;
} srv_metrics_live;

/* Prometheus text exposition format 0.0.4 (malloc'd). */
char *srv_metrics_render(const srv_metrics *m, const srv_metrics_live *live);
/* This process's resident set (/proc/self/statm), 0 if unknown. */
uint64_t srv_rss_bytes(void);

#endif
