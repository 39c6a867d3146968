/* fetch.h - image URLs for --allow-image-urls, with libcurl: http and https
 * only (redirects too), bounded size, time and redirects. A server that
 * fetches URLs for its clients can be pointed at internal addresses (SSRF):
 * that is why it is off by default. */
#ifndef LLV_SERVER_FETCH_H
#define LLV_SERVER_FETCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct srv_fetch_config {
    int timeout_ms;    /* whole transfer (10000)            */
    int max_redirects; /* followed redirects (3)            */
} srv_fetch_config;

/* Once per process, before threads start. */
bool srv_fetch_global_init(void);
/* An srv_fetch_fn; user = srv_fetch_config *. */
bool srv_fetch_url(void *user, const char *url, size_t max_bytes, uint8_t **out, size_t *n, char *why,
                   size_t why_cap);

#endif
