/* llv-server - the hosted model's HTTP API, locally: Workers AI routes
 * (/ai/run/<model>), OpenAI-compatible /v1/chat/completions, streaming,
 * a pool of sessions over one shared model. See README "## HTTP server". */
#include "llv.h"
#include "options.h"

#include "http.h"
#include "fetch.h"
#include "pool.h"

#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const synopsis = "llv-server -m MODEL [options]";
static const char *const about =
    "Serves the model over HTTP: Workers AI routes (/ai/run/<model>), the\n"
    "OpenAI-compatible /v1/chat/completions and Ollama's /api/chat, /api/generate,\n"
    "streaming; a pool of sessions over one\n"
    "shared model. See README \"HTTP server\".\n";
static const char *const epilog =
    "SIGTERM drains (no new requests, /ready answers 503, running ones finish within --drain-timeout); SIGINT "
    "stops at once.\nexit status: 0 after SIGINT/SIGTERM, 1 failure, 2 usage error\n";

int main(int argc, char **argv) {
    srv_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.host = "127.0.0.1";
    cfg.port = 8080;
    cfg.model_name = "@cf/meta/llama-3.2-11b-vision-instruct";
    cfg.api_key = getenv("LLV_API_KEY");
    cfg.max_body = 32u << 20;
    cfg.conn_timeout = 10;
    cfg.max_conns = 256;
    cfg.queue_timeout_ms = 30000;
    cfg.max_body_total = (size_t)256 << 20;
    cfg.limits.max_image_bytes = 20u << 20;
    const char *model_path = NULL, *chat_template = NULL;
    llv_opt_list loras = {.max = LLV_OPT_LIST_MAX};
    bool allow_urls = false;
    srv_fetch_config fetch = {.timeout_ms = 10000, .max_redirects = 3};
    int parallel = 1, queue = 16, ctx = 0, threads = 0, cache = 4;
    size_t cache_mem = 0;
    int drain_ms = 30000;
    bool no_prefix = false;
    const llv_opt table[] = {
        {'m', "model", "PATH", LLV_OPT_STR, {.str = &model_path}, .help = "GGUF model to serve", .required = true},
        {0, "host", "H", LLV_OPT_STR, {.str = &cfg.host}, .help = "address to listen on"},
        {0, "port", "P", LLV_OPT_INT, {.i = &cfg.port}, 0, 65535, .help = "port; 0 picks a free one"},
        {0, "model-name", "NAME", LLV_OPT_STR, {.str = &cfg.model_name}, .help = "model name in routes and responses"},
        {0, "ollama-name", "NAME", LLV_OPT_STR, {.str = &cfg.ollama_name},
         .def = "llama3.2-vision:latest; a text model: its file name",
         .help = "the model's name on Ollama's routes (/api/tags lists it; requests must name it or --model-name)"},
        {0, "api-key", "KEY", LLV_OPT_STR, {.str = &cfg.api_key}, .def = "none; env LLV_API_KEY",
         .help = "require 'Authorization: Bearer KEY'"},
        {0, "cors", "ORIGIN", LLV_OPT_STR, {.str = &cfg.cors}, .def = "off",
         .help = "allow browsers on ORIGIN (or *) to call the API: CORS headers and OPTIONS preflights"},
        {0, "parallel", "N", LLV_OPT_INT, {.i = &parallel}, 1, 256,
         .help = "requests served at once; their decode steps are merged into one pass over the weights"},
        {0, "queue", "N", LLV_OPT_INT, {.i = &queue}, 0, 100000,
         .help = "requests that may wait for a session; more get 429"},
        {0, "queue-timeout", "MS", LLV_OPT_INT, {.i = &cfg.queue_timeout_ms}, 0, INT_MAX, .def = "30000",
         .help = "longest wait for a session; then 503 with Retry-After (0 = no limit)"},
        {0, "cache-mem", "BYTES", LLV_OPT_SIZE, {.size = &cache_mem}, 0, (double)SIZE_MAX, .def = "0",
         .help = "memory for conversations kept beyond the --parallel sessions (prefix cache; LRU): a request "
                 "continuing one reuses its KV cache"},
        {0, "timeout-ms", "N", LLV_OPT_INT, {.i = &cfg.limits.timeout_ms}, 0, INT_MAX,
         .help = "generation time limit per request, 0 = none"},
        {0, "max-body", "BYTES", LLV_OPT_SIZE, {.size = &cfg.max_body}, 1, (double)SIZE_MAX,
         .help = "request body limit"},
        {0, "conn-timeout", "S", LLV_OPT_INT, {.i = &cfg.conn_timeout}, 1, 86400,
         .help = "close connections idle for S seconds"},
        {0, "max-conns", "N", LLV_OPT_INT, {.i = &cfg.max_conns}, 1, 100000, .help = "simultaneous connections"},
        {0, "max-body-total", "BYTES", LLV_OPT_SIZE, {.size = &cfg.max_body_total}, 1, (double)SIZE_MAX,
         .def = "256m", .help = "request bodies held at once, all connections together; over it: 503"},
        {0, "no-prefix-cache", NULL, LLV_OPT_FLAG, {.flag = &no_prefix},
         .help = "start every request from an empty session (for comparisons: the prefix cache is on by default)"},
        {0, "drain-timeout", "MS", LLV_OPT_INT, {.i = &drain_ms}, 0, INT_MAX, .def = "30000",
         .help = "on SIGTERM, how long running requests may take to finish (0 = no limit)"},
        {0, "ctx", "N", LLV_OPT_INT, {.i = &ctx}, 0, INT_MAX,
         .help = "context tokens per session, 0 = min(model, 4096)"},
        {0, "threads", "N", LLV_OPT_INT, {.i = &threads}, 0, 4096,
         .help = "compute threads, shared by all requests; 0 = all cores"},
        {0, "max-tokens-cap", "N", LLV_OPT_INT, {.i = &cfg.limits.max_tokens_cap}, 0, LLV_SAMPLING_MAX_TOKENS_MAX,
         .help = "largest accepted max_tokens, 0 = the library's limit"},
        {0, "image-cache", "N", LLV_OPT_INT, {.i = &cache}, 0, 1024,
         .help = "encoded images cached, shared by all requests"},
        {0, "allow-image-urls", NULL, LLV_OPT_FLAG, {.flag = &allow_urls},
         .help = "fetch http(s) image URLs in requests (off: a server fetching URLs is an SSRF risk)"},
        {0, "image-url-timeout-ms", "N", LLV_OPT_INT, {.i = &fetch.timeout_ms}, 1, 600000,
         .help = "time limit of one image URL fetch (at most 3 redirects; size within --max-image-bytes)"},
        {0, "max-image-bytes", "N", LLV_OPT_SIZE, {.size = &cfg.limits.max_image_bytes}, 0, (double)SIZE_MAX,
         .help = "encoded image size limit"},
        {0, "chat-template", "NAME", LLV_OPT_STR, {.str = &chat_template},
         .help = "render chats as llama3 or chatml, not as recognised from the file's template"},
        {0, "lora", "NAME=PATH[:S]", LLV_OPT_CALL, {.ctx = &loras}, .fn = llv_opt_lora_add,
         .help = "load a LoRA adapter (GGUF) under NAME with scale S (1); repeatable; a request's \"lora\": "
                 "\"NAME\" selects it"},
    };
    const llv_cli cli = {"llv-server", synopsis, about, epilog, LLV_CLI_OPTS(table), 2, NULL, 0, 0};
    int rc = llv_cli_parse(&cli, argc, argv, NULL);
    if (rc >= 0) return rc;
    if (!cfg.model_name[0]) return llv_cli_usage_error(&cli, "--model-name must not be empty");
    if (cfg.api_key && !cfg.api_key[0]) cfg.api_key = NULL;

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
    if (!llv_opt_loras_load("llv-server", model, &loras)) {
        llv_model_free(model);
        return 1;
    }
    cfg.limits.have_lora = loras.n > 0;
    if (allow_urls) {
        if (!srv_fetch_global_init()) {
            fprintf(stderr, "llv-server: cannot initialise libcurl for --allow-image-urls\n");
            llv_model_free(model);
            return 1;
        }
        cfg.limits.fetch = srv_fetch_url;
        cfg.limits.fetch_user = &fetch;
    }
    cfg.limits.model = model;
    llv_session_params sp = llv_session_default_params();
    sp.n_ctx = ctx;
    if (cfg.limits.max_image_bytes) sp.max_image_bytes = cfg.limits.max_image_bytes;
    cfg.model_path = model_path;
    char ollama_name[256];
    if (!cfg.ollama_name) {
        llv_model_info mi;
        llv_model_get_info(model, &mi);
        const char *base = strrchr(model_path, '/') ? strrchr(model_path, '/') + 1 : model_path;
        size_t n = strlen(base);
        if (n > 5 && !strcmp(base + n - 5, ".gguf")) n -= 5;
        if (mi.has_vision) snprintf(ollama_name, sizeof ollama_name, "llama3.2-vision:latest");
        else snprintf(ollama_name, sizeof ollama_name, "%.*s:latest", (int)(n < 200 ? n : 200), base);
        cfg.ollama_name = ollama_name;
    }
    llv_memory_plan plan;
    if (llv_memory_plan_get(model, &sp, &plan, &err) == LLV_OK) cfg.kv_bytes = plan.session;
    {
        llv_model_info mi;
        llv_model_get_info(model, &mi);
        cfg.n_ctx = ctx ? ctx : mi.n_ctx_train < 4096 ? mi.n_ctx_train : 4096;
    }
    llv_engine_params ep = llv_engine_default_params();
    ep.n_threads = threads;
    ep.image_cache_entries = (size_t)cache;
    /* --cache-mem: more sessions kept with their conversations (each costs its KV cache and scratch) */
    int n_keep = parallel;
    if (cache_mem > 0 && cfg.kv_bytes > 0) {
        uint64_t more = cache_mem / cfg.kv_bytes;
        n_keep += more > 4096 ? 4096 : (int)more;
    }
    srv_pool *pool = NULL;
    if (srv_pool_create(model, n_keep, parallel, queue, !no_prefix, &ep, &sp, &pool, &err)) {
        fprintf(stderr, "llv-server: cannot create %d session(s): %s\n", n_keep, err.message);
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
    fprintf(stderr, "llv-server: model %s as %s, %d session(s) at once, %d kept (prefix cache), queue %d\n",
            model_path, cfg.model_name, parallel, n_keep, queue);
    fprintf(stderr, "listening on http://%s%s%s:%d\n", v6 ? "[" : "", h, v6 ? "]" : "", port);
    fflush(stderr);

    int sig = 0;
    sigwait(&set, &sig);
    if (sig == SIGTERM) {
        fprintf(stderr, "llv-server: SIGTERM, draining (%d request(s) running, up to %d ms)\n",
                srv_server_inflight(server), drain_ms);
        fflush(stderr);
        if (!srv_server_drain(server, drain_ms))
            fprintf(stderr, "llv-server: %d request(s) still running after --drain-timeout: cancelled\n",
                    srv_server_inflight(server));
    }
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
