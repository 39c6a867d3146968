/* fetch.c - see fetch.h. */
#include "fetch.h"

#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

bool srv_fetch_global_init(void) { return curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK; }

typedef struct sink {
    uint8_t *p;
    size_t   n, cap, max;
    bool     too_big;
} sink;

static size_t on_data(char *data, size_t size, size_t nmemb, void *user) {
    sink *k = user;
    size_t m = size * nmemb;
    if (k->n + m > k->max) {
        k->too_big = true;
        return 0; /* aborts the transfer */
    }
    if (k->n + m > k->cap) {
        size_t cap = k->cap ? k->cap : 65536;
        while (cap < k->n + m) cap *= 2;
        if (cap > k->max) cap = k->max;
        uint8_t *q = realloc(k->p, cap);
        if (!q) return 0;
        k->p = q;
        k->cap = cap;
    }
    memcpy(k->p + k->n, data, m);
    k->n += m;
    return m;
}

bool srv_fetch_url(void *user, const char *url, size_t max_bytes, uint8_t **out, size_t *n, char *why,
                   size_t why_cap) {
    const srv_fetch_config *cfg = user;
    *out = NULL;
    *n = 0;
    CURL *c = curl_easy_init();
    if (!c) {
        snprintf(why, why_cap, "out of memory");
        return false;
    }
    sink k = {.max = max_bytes};
    char cerr[CURL_ERROR_SIZE] = "";
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 1L);
    curl_easy_setopt(c, CURLOPT_MAXREDIRS, (long)cfg->max_redirects);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)cfg->timeout_ms);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, (long)(cfg->timeout_ms < 5000 ? cfg->timeout_ms : 5000));
    curl_easy_setopt(c, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)max_bytes);
    curl_easy_setopt(c, CURLOPT_FAILONERROR, 1L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_USERAGENT, "llv-server");
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &k);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, cerr);
    CURLcode rc = curl_easy_perform(c);
    long redirects = 0;
    curl_easy_getinfo(c, CURLINFO_REDIRECT_COUNT, &redirects);
    curl_easy_cleanup(c);
    if (rc != CURLE_OK) {
        free(k.p);
        if (k.too_big || rc == CURLE_FILESIZE_EXCEEDED)
            snprintf(why, why_cap, "the image is larger than %zu bytes", max_bytes);
        else if (rc == CURLE_OPERATION_TIMEDOUT)
            snprintf(why, why_cap, "timed out after %d ms", cfg->timeout_ms);
        else if (rc == CURLE_TOO_MANY_REDIRECTS)
            snprintf(why, why_cap, "more than %d redirects", cfg->max_redirects);
        else
            snprintf(why, why_cap, "%s", cerr[0] ? cerr : curl_easy_strerror(rc));
        return false;
    }
    if (k.n == 0) {
        free(k.p);
        snprintf(why, why_cap, "the response is empty");
        return false;
    }
    *out = k.p;
    *n = k.n;
    return true;
}
