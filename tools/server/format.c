/* format.c - response bodies (see format.h), built with cJSON so every
 * string is escaped correctly. */
#include "format.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

static char *print_and_free(cJSON *o) {
    char *s = o ? cJSON_PrintUnformatted(o) : NULL;
    cJSON_Delete(o);
    return s;
}

/* "data: <json>\n\n" */
static char *sse(cJSON *o) {
    char *j = print_and_free(o);
    if (!j) return NULL;
    size_t n = strlen(j);
    char *s = malloc(n + 9);
    if (s) {
        memcpy(s, "data: ", 6);
        memcpy(s + 6, j, n);
        memcpy(s + 6 + n, "\n\n", 3);
    }
    free(j);
    return s;
}

cJSON *srv_json_string_n(const char *p, size_t n) {
    char *t = malloc(n + 1);
    if (!t) return NULL;
    memcpy(t, p, n);
    t[n] = 0;
    cJSON *s = cJSON_CreateString(t);
    free(t);
    return s;
}

static const char *openai_type(int http) {
    switch (http) {
    case 401: return "authentication_error";
    case 404: return "not_found_error";
    case 429: return "rate_limit_error";
    case 408: return "timeout_error";
    default: return http >= 500 ? "server_error" : "invalid_request_error";
    }
}

static const char *openai_code(int code) {
    switch (code) {
    case SRV_CODE_BAD_INPUT: return "invalid_value";
    case SRV_CODE_BAD_BASE64: return "invalid_base64";
    case SRV_CODE_NO_SUCH_MODEL: return "model_not_found";
    case SRV_CODE_TOO_LARGE: return "request_too_large";
    case SRV_CODE_TIMEOUT: return "timeout";
    case SRV_CODE_CAPACITY: return "rate_limit_exceeded";
    case SRV_CODE_NOT_FOUND: return "not_found";
    case SRV_CODE_METHOD: return "method_not_allowed";
    case SRV_CODE_AUTH: return "invalid_api_key";
    default: return "server_error";
    }
}

char *srv_fmt_error(srv_api api, const srv_error *err) {
    cJSON *o = cJSON_CreateObject();
    if (api == SRV_API_OPENAI) {
        cJSON *e = cJSON_AddObjectToObject(o, "error");
        cJSON_AddStringToObject(e, "message", err->message);
        cJSON_AddStringToObject(e, "type", openai_type(err->http));
        if (err->param[0]) cJSON_AddStringToObject(e, "param", err->param);
        else cJSON_AddNullToObject(e, "param");
        cJSON_AddStringToObject(e, "code", err->oai_code ? err->oai_code : openai_code(err->code));
        return print_and_free(o);
    }
    if (api == SRV_API_OLLAMA) {
        cJSON_AddStringToObject(o, "error", err->message);
        return print_and_free(o);
    }
    cJSON_AddNullToObject(o, "result");
    cJSON_AddFalseToObject(o, "success");
    cJSON *errs = cJSON_AddArrayToObject(o, "errors");
    cJSON *e = cJSON_CreateObject();
    cJSON_AddNumberToObject(e, "code", err->code);
    cJSON_AddStringToObject(e, "message", err->message);
    cJSON_AddItemToArray(errs, e);
    cJSON_AddArrayToObject(o, "messages");
    return print_and_free(o);
}

char *srv_fmt_error_event(srv_api api, const srv_error *err) {
    char *body = srv_fmt_error(api, err);
    if (!body) return NULL;
    size_t n = strlen(body);
    char *ev = malloc(n + 9);
    if (ev) {
        if (api == SRV_API_OLLAMA) snprintf(ev, n + 9, "%s\n", body);
        else snprintf(ev, n + 9, "data: %s\n\n", body);
    }
    free(body);
    return ev;
}

/* Well-formed UTF-8 (no overlong forms, surrogates or code points past U+10FFFF). */
static bool utf8_valid(const unsigned char *p, size_t n) {
    size_t i = 0;
    while (i < n) {
        unsigned c = p[i];
        size_t len = c < 0x80 ? 1 : (c & 0xE0) == 0xC0 ? 2 : (c & 0xF0) == 0xE0 ? 3 : (c & 0xF8) == 0xF0 ? 4 : 0;
        if (!len || i + len > n) return false;
        unsigned cp = len == 1 ? c : len == 2 ? c & 0x1F : len == 3 ? c & 0x0F : c & 0x07;
        for (size_t k = 1; k < len; k++) {
            if ((p[i + k] & 0xC0) != 0x80) return false;
            cp = cp << 6 | (p[i + k] & 0x3F);
        }
        static const unsigned min_cp[5] = {0, 0, 0x80, 0x800, 0x10000};
        if (cp < min_cp[len] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return false;
        i += len;
    }
    return true;
}

static void add_token_logprob(cJSON *o, const llv_model *m, const llv_token_logprob *t, bool omit_empty) {
    size_t nb = 0;
    const unsigned char *b = (const unsigned char *)llv_token_bytes(m, t->token, &nb);
    if (!b) nb = 0;
    if (utf8_valid(b, nb) && !memchr(b, 0, nb)) {
        cJSON_AddItemToObject(o, "token", srv_json_string_n((const char *)b, nb));
    } else {
        char *s = malloc(6 + 4 * nb + 1);
        if (s) {
            size_t w = (size_t)sprintf(s, "bytes:");
            for (size_t i = 0; i < nb; i++) w += (size_t)sprintf(s + w, "\\x%02x", b[i]);
            cJSON_AddStringToObject(o, "token", s);
            free(s);
        }
    }
    cJSON_AddNumberToObject(o, "logprob", isfinite(t->logprob) ? (double)t->logprob : -9999.0);
    if (nb || !omit_empty) {
        cJSON *bytes = cJSON_AddArrayToObject(o, "bytes");
        for (size_t i = 0; i < nb; i++) cJSON_AddItemToArray(bytes, cJSON_CreateNumber(b[i]));
    }
}

cJSON *srv_json_logprobs(const srv_logprobs *lp, bool omit_empty) {
    cJSON *arr = cJSON_CreateArray();
    for (size_t i = 0; lp && i < lp->n; i++) {
        const llv_logprob_entry *e = &lp->v[i].e;
        cJSON *o = cJSON_CreateObject();
        add_token_logprob(o, lp->model, &e->chosen, omit_empty);
        cJSON *top = e->n_top || !omit_empty ? cJSON_AddArrayToObject(o, "top_logprobs") : NULL;
        for (int32_t j = 0; j < e->n_top; j++) {
            cJSON *t = cJSON_CreateObject();
            add_token_logprob(t, lp->model, &e->top[j], omit_empty);
            cJSON_AddItemToArray(top, t);
        }
        cJSON_AddItemToArray(arr, o);
    }
    return arr;
}

static void add_openai_logprobs(cJSON *choice, const srv_logprobs *lp) {
    if (!lp) {
        cJSON_AddNullToObject(choice, "logprobs");
        return;
    }
    cJSON *o = cJSON_AddObjectToObject(choice, "logprobs");
    cJSON_AddItemToObject(o, "content", srv_json_logprobs(lp, false));
    cJSON_AddNullToObject(o, "refusal");
}

const char *srv_finish_reason(llv_stop_reason r, size_t n_tool_calls) {
    if (n_tool_calls) return "tool_calls";
    /* a timeout is not "length": the routes answer it as an error (408, or
     * an error event in a stream) */
    return r == LLV_STOP_LENGTH || r == LLV_STOP_CONTEXT ? "length" : "stop";
}

static cJSON *add_usage(cJSON *o, srv_usage u) {
    cJSON *us = cJSON_AddObjectToObject(o, "usage");
    cJSON_AddNumberToObject(us, "prompt_tokens", u.prompt_tokens);
    cJSON_AddNumberToObject(us, "completion_tokens", u.completion_tokens);
    cJSON_AddNumberToObject(us, "total_tokens", (double)u.prompt_tokens + u.completion_tokens);
    return us;
}

/* OpenAI's usage: the prompt tokens the prefix cache spared are in the details */
static void add_openai_usage(cJSON *o, srv_usage u) {
    cJSON *us = add_usage(o, u);
    cJSON *d = cJSON_AddObjectToObject(us, "prompt_tokens_details");
    cJSON_AddNumberToObject(d, "cached_tokens", u.cached_tokens);
}

/* arguments as an object (Workers) when they parse, else as the text */
static cJSON *args_object(const char *a) {
    cJSON *v = a ? cJSON_Parse(a) : NULL;
    if (v && cJSON_IsObject(v)) return v;
    cJSON_Delete(v);
    return a ? cJSON_CreateString(a) : cJSON_CreateObject();
}

static void add_workers_tool_calls(cJSON *o, const llv_tool_call *tc, size_t n) {
    cJSON *arr = cJSON_AddArrayToObject(o, "tool_calls");
    for (size_t i = 0; i < n; i++) {
        cJSON *c = cJSON_CreateObject();
        cJSON_AddItemToObject(c, "arguments", args_object(tc[i].arguments));
        cJSON_AddStringToObject(c, "name", tc[i].name ? tc[i].name : "");
        cJSON_AddItemToArray(arr, c);
    }
}

char *srv_fmt_workers_result(const char *text, const llv_tool_call *tc, size_t n_tc, srv_usage u) {
    cJSON *o = cJSON_CreateObject();
    cJSON *r = cJSON_AddObjectToObject(o, "result");
    cJSON_AddStringToObject(r, "response", text ? text : "");
    add_workers_tool_calls(r, tc, n_tc);
    add_usage(r, u);
    cJSON_AddTrueToObject(o, "success");
    cJSON_AddArrayToObject(o, "errors");
    cJSON_AddArrayToObject(o, "messages");
    return print_and_free(o);
}

char *srv_fmt_workers_piece(const char *piece, size_t n) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddItemToObject(o, "response", srv_json_string_n(piece, n));
    return sse(o);
}

char *srv_fmt_workers_final(const llv_tool_call *tc, size_t n_tc, srv_usage u) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "response", "");
    if (n_tc) add_workers_tool_calls(o, tc, n_tc);
    add_usage(o, u);
    return sse(o);
}

static cJSON *openai_tool_calls(const llv_tool_call *tc, size_t n, bool with_index) {
    cJSON *arr = cJSON_CreateArray();
    for (size_t i = 0; i < n; i++) {
        cJSON *c = cJSON_CreateObject();
        char id[40];
        srv_new_id(id, sizeof id, "call_");
        if (with_index) cJSON_AddNumberToObject(c, "index", (double)i);
        cJSON_AddStringToObject(c, "id", id);
        cJSON_AddStringToObject(c, "type", "function");
        cJSON *f = cJSON_AddObjectToObject(c, "function");
        cJSON_AddStringToObject(f, "name", tc[i].name ? tc[i].name : "");
        cJSON_AddStringToObject(f, "arguments", tc[i].arguments ? tc[i].arguments : "{}");
        cJSON_AddItemToArray(arr, c);
    }
    return arr;
}

static cJSON *openai_head(const char *id, long created, const char *model, const char *object) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "id", id);
    cJSON_AddStringToObject(o, "object", object);
    cJSON_AddNumberToObject(o, "created", (double)created);
    cJSON_AddStringToObject(o, "model", model);
    cJSON_AddStringToObject(o, "system_fingerprint", "llv");
    return o;
}

char *srv_fmt_openai_result(const char *id, long created, const char *model, const char *text,
                            const llv_tool_call *tc, size_t n_tc, const char *finish, srv_usage u,
                            const srv_logprobs *lp) {
    cJSON *o = openai_head(id, created, model, "chat.completion");
    cJSON *choices = cJSON_AddArrayToObject(o, "choices");
    cJSON *c = cJSON_CreateObject();
    cJSON_AddNumberToObject(c, "index", 0);
    cJSON *m = cJSON_AddObjectToObject(c, "message");
    cJSON_AddStringToObject(m, "role", "assistant");
    if (n_tc) {
        cJSON_AddNullToObject(m, "content");
        cJSON_AddItemToObject(m, "tool_calls", openai_tool_calls(tc, n_tc, false));
    } else {
        cJSON_AddStringToObject(m, "content", text ? text : "");
    }
    add_openai_logprobs(c, lp);
    cJSON_AddStringToObject(c, "finish_reason", finish);
    cJSON_AddItemToArray(choices, c);
    add_openai_usage(o, u);
    return print_and_free(o);
}

char *srv_fmt_openai_chunk(const char *id, long created, const char *model, const char *role, const char *piece,
                           size_t n, const char *finish, const llv_tool_call *tc, size_t n_tc,
                           const srv_logprobs *lp) {
    cJSON *o = openai_head(id, created, model, "chat.completion.chunk");
    cJSON *choices = cJSON_AddArrayToObject(o, "choices");
    cJSON *c = cJSON_CreateObject();
    cJSON_AddNumberToObject(c, "index", 0);
    cJSON *d = cJSON_AddObjectToObject(c, "delta");
    if (role) cJSON_AddStringToObject(d, "role", role);
    if (piece) cJSON_AddItemToObject(d, "content", srv_json_string_n(piece, n));
    if (n_tc) cJSON_AddItemToObject(d, "tool_calls", openai_tool_calls(tc, n_tc, true));
    add_openai_logprobs(c, lp);
    if (finish) cJSON_AddStringToObject(c, "finish_reason", finish);
    else cJSON_AddNullToObject(c, "finish_reason");
    cJSON_AddItemToArray(choices, c);
    return sse(o);
}

char *srv_fmt_openai_usage_chunk(const char *id, long created, const char *model, srv_usage u) {
    cJSON *o = openai_head(id, created, model, "chat.completion.chunk");
    cJSON_AddArrayToObject(o, "choices");
    add_openai_usage(o, u);
    return sse(o);
}

static cJSON *openai_model(const char *model, long created) {
    cJSON *m = cJSON_CreateObject();
    cJSON_AddStringToObject(m, "id", model);
    cJSON_AddStringToObject(m, "object", "model");
    cJSON_AddNumberToObject(m, "created", (double)created);
    cJSON_AddStringToObject(m, "owned_by", "llv");
    return m;
}

char *srv_fmt_openai_models(const char *model, long created) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "object", "list");
    cJSON *data = cJSON_AddArrayToObject(o, "data");
    cJSON_AddItemToArray(data, openai_model(model, created));
    return print_and_free(o);
}

char *srv_fmt_openai_model(const char *model, long created) { return print_and_free(openai_model(model, created)); }

void srv_new_id(char *out, size_t cap, const char *prefix) {
    unsigned char r[12] = {0};
    if (getrandom(r, sizeof r, 0) != (ssize_t)sizeof r) {
        /* fall back to a counter mixed with the address: ids need only be unique */
        static _Atomic unsigned long ctr; /* not model state: just id uniqueness */
        unsigned long v = ++ctr ^ (unsigned long)(uintptr_t)out;
        memcpy(r, &v, sizeof v < sizeof r ? sizeof v : sizeof r);
    }
    size_t o = (size_t)snprintf(out, cap, "%s", prefix);
    for (size_t i = 0; i < sizeof r && o + 2 < cap; i++) o += (size_t)snprintf(out + o, cap - o, "%02x", r[i]);
}
