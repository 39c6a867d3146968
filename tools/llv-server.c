/* llv-server - the hosted model's HTTP API, locally: Workers AI routes
 * (/ai/run/<model>), OpenAI-compatible /v1/chat/completions, streaming,
 * a pool of sessions over one shared model. See README "## HTTP server". */
#include "llv.h"

#include "http.h"
#include "pool.h"

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void usage(FILE *f) {
    fprintf(f,
            "usage: llv-server -m MODEL [options]\n"
            "  -m, --model PATH       GGUF model to serve (required)\n"
            "  --host H               address to listen on (127.0.0.1)\n"
            "  --port P               port; 0 picks a free one (8080)\n"
            "  --model-name NAME      model name in routes and responses\n"
            "                         (@cf/meta/llama-3.2-11b-vision-instruct)\n"
            "  --api-key KEY          require 'Authorization: Bearer KEY' (also env LLV_API_KEY)\n"
            "  --parallel N           requests served at once; their decode steps are merged\n"
            "                         into one pass over the weights (1)\n"
            "  --queue N              requests that may wait for a session; more get 429 (16)\n"
            "  --timeout-ms N         generation time limit per request, 0 = none (0)\n"
            "  --max-body BYTES       request body limit, suffix k/m allowed (32m)\n"
            "  --conn-timeout S       close connections idle for S seconds (10)\n"
            "  --max-conns N          simultaneous connections (256)\n"
            "  --ctx N                context tokens per session, 0 = min(model, 4096) (0)\n"
            "  --threads N            compute threads, shared by all requests; 0 = all cores (0)\n"
            "  --max-tokens-cap N     largest accepted max_tokens, 0 = library limit (0)\n"
            "  --image-cache N        encoded images cached, shared by all requests (4)\n"
            "  --max-image-bytes N    encoded image size limit, suffix k/m allowed (20m)\n"
            "  --chat-template NAME   render chats as llama3 or chatml, not as recognised\n"
            "                         from the file's template\n"
            "  --lora NAME=PATH[:S]   load a LoRA adapter (GGUF) under NAME with scale S (1);\n"
            "                         repeatable; a request's \"lora\": \"NAME\" selects it\n"
            "  -h, --help             this text\n"
            "  --version              print the version\n");
}

static bool parse_size(const char *s, size_t *out) {
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || end == s || s[0] == '-') return false;
    unsigned long long mul = 1;
    if (*end == 'k' || *end == 'K') mul = 1024, end++;
    else if (*end == 'm' || *end == 'M') mul = 1024 * 1024, end++;
    else if (*end == 'g' || *end == 'G') mul = 1024ull * 1024 * 1024, end++;
    if (*end || v > SIZE_MAX / mul) return false;
    *out = (size_t)(v * mul);
    return true;
}

static bool parse_int(const char *s, long lo, long hi, int *out) {
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi) return false;
    *out = (int)v;
    return true;
}

int main(int argc, char **argv) {
    srv_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.host = "127.0.0.1";
    cfg.port = 8080;
    cfg.model_name = "@cf/meta/llama-3.2-11b-vision-instruct";
    cfg.api_key = getenv("LLV_API_KEY");
    if (cfg.api_key && !cfg.api_key[0]) cfg.api_key = NULL;
    cfg.max_body = 32u << 20;
    cfg.conn_timeout = 10;
    cfg.max_conns = 256;
    cfg.limits.max_image_bytes = 20u << 20;
    const char *model_path = NULL, *chat_template = NULL;
    char *loras[64];
    int n_loras = 0;
    int parallel = 1, queue = 16, ctx = 0, threads = 0, cache = 4;

    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        bool ok = true, takes = true;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            return 0;
        } else if (!strcmp(a, "--version")) {
            printf("llv-server %s\n", llv_version());
            return 0;
        } else if (!v) {
            fprintf(stderr, "llv-server: %s needs a value (or is unknown)\n", a);
            usage(stderr);
            return 2;
        } else if (!strcmp(a, "-m") || !strcmp(a, "--model")) model_path = v;
        else if (!strcmp(a, "--host")) cfg.host = v;
        else if (!strcmp(a, "--port")) ok = parse_int(v, 0, 65535, &cfg.port);
        else if (!strcmp(a, "--model-name")) { cfg.model_name = v; ok = v[0] != 0; }
        else if (!strcmp(a, "--api-key")) cfg.api_key = v[0] ? v : NULL;
        else if (!strcmp(a, "--parallel")) ok = parse_int(v, 1, 256, &parallel);
        else if (!strcmp(a, "--queue")) ok = parse_int(v, 0, 100000, &queue);
        else if (!strcmp(a, "--timeout-ms")) ok = parse_int(v, 0, INT_MAX, &cfg.limits.timeout_ms);
        else if (!strcmp(a, "--max-body")) ok = parse_size(v, &cfg.max_body) && cfg.max_body > 0;
        else if (!strcmp(a, "--conn-timeout")) ok = parse_int(v, 1, 86400, &cfg.conn_timeout);
        else if (!strcmp(a, "--max-conns")) ok = parse_int(v, 1, 100000, &cfg.max_conns);
        else if (!strcmp(a, "--ctx")) ok = parse_int(v, 0, INT_MAX, &ctx);
        else if (!strcmp(a, "--threads")) ok = parse_int(v, 0, 4096, &threads);
        else if (!strcmp(a, "--max-tokens-cap")) ok = parse_int(v, 0, INT_MAX, &cfg.limits.max_tokens_cap);
        else if (!strcmp(a, "--image-cache")) ok = parse_int(v, 0, 1024, &cache);
        else if (!strcmp(a, "--max-image-bytes")) ok = parse_size(v, &cfg.limits.max_image_bytes);
        else if (!strcmp(a, "--chat-template")) chat_template = v;
        else if (!strcmp(a, "--lora")) {
            ok = n_loras < 64 && strchr(v, '=') && v[0] != '=' && strchr(v, '=')[1];
            if (ok) loras[n_loras++] = (char *)v;
        }
        else {
            fprintf(stderr, "llv-server: unknown option %s\n", a);
            usage(stderr);
            return 2;
        }
        if (!ok) {
            fprintf(stderr, "llv-server: bad value for %s: '%s'\n", a, v);
            return 2;
        }
        if (takes) i++;
    }
    if (!model_path) {
        fprintf(stderr, "llv-server: -m MODEL is required\n");
        usage(stderr);
        return 2;
    }

    /* SIGINT/SIGTERM are taken by sigwait below; every thread inherits the mask */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);

    llv_error err = {0};
    llv_model *model = NULL;
    llv_model_params mp = llv_model_default_params();
    mp.n_threads = threads;
    mp.chat_template = chat_template;
    if (llv_model_load(model_path, &mp, &model, &err)) {
        fprintf(stderr, "llv-server: cannot load %s: %s\n", model_path, err.message);
        return 1;
    }
    for (int i = 0; i < n_loras; i++) { /* NAME=PATH[:SCALE]; a trailing ":number" is the scale */
        char *name = loras[i], *eq = strchr(name, '='), *colon = strrchr(eq + 1, ':'), *end = NULL;
        float scale = 1.0f;
        *eq = 0;
        if (colon && colon[1]) {
            float f = strtof(colon + 1, &end);
            if (!*end) scale = f, *colon = 0;
        }
        if (llv_model_lora_add(model, name, eq + 1, scale, &err)) {
            fprintf(stderr, "llv-server: --lora %s: %s\n", name, err.message);
            llv_model_free(model);
            return 1;
        }
    }
    cfg.limits.have_lora = n_loras > 0;
    cfg.limits.model = model;
    llv_session_params sp = llv_session_default_params();
    sp.n_ctx = ctx;
    if (cfg.limits.max_image_bytes) sp.max_image_bytes = cfg.limits.max_image_bytes;
    llv_engine_params ep = llv_engine_default_params();
    ep.n_threads = threads;
    ep.image_cache_entries = (size_t)cache;
    srv_pool *pool = NULL;
    if (srv_pool_create(model, parallel, queue, &ep, &sp, &pool, &err)) {
        fprintf(stderr, "llv-server: cannot create %d session(s): %s\n", parallel, err.message);
        llv_model_free(model);
        return 1;
    }
    srv_server *server = NULL;
    int port = 0;
    char why[256];
    if (!srv_server_start(&cfg, model, pool, &server, &port, why, sizeof why)) {
        fprintf(stderr, "llv-server: %s\n", why);
        srv_pool_free(pool);
        llv_model_free(model);
        return 1;
    }
    const char *h = cfg.host;
    bool v6 = strchr(h, ':') != NULL;
    fprintf(stderr, "llv-server: model %s as %s, %d session(s), queue %d\n", model_path, cfg.model_name, parallel,
            queue);
    fprintf(stderr, "listening on http://%s%s%s:%d\n", v6 ? "[" : "", h, v6 ? "]" : "", port);
    fflush(stderr);

    int sig = 0;
    sigwait(&set, &sig);
    fprintf(stderr, "llv-server: %s, shutting down\n", sig == SIGINT ? "SIGINT" : "SIGTERM");
    srv_server_stop(server);
    llv_engine_stats es;
    srv_pool_engine_stats(pool, &es);
    fprintf(stderr, "llv-server: %llu forward passes (%llu with several requests, up to %d), %llu rows, %llu image encodings\n",
            (unsigned long long)es.forwards, (unsigned long long)es.merged, (int)es.max_sessions_in_pass,
            (unsigned long long)es.rows, (unsigned long long)es.encoder_runs);
    srv_pool_free(pool);
    llv_model_free(model);
    fprintf(stderr, "llv-server: stopped\n");
    return 0;
}
