/* api.c - request mapping JSON -> generation request (see api.h). Field
 * errors name the field the way the client wrote it ("messages[0].content"),
 * so a client can tell what to fix. */
#include "api.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Total JSON values a body may hold: a byte-array image costs one cJSON node
 * (~64 bytes) per byte, so this bounds parse memory (~256 MB). */
#define SRV_MAX_JSON_VALUES (4u << 20)

void srv_error_set(srv_error *err, int http, int code, const char *param, const char *fmt, ...) {
    if (!err) return;
    err->http = http;
    err->code = code;
    err->oai_code = NULL;
    snprintf(err->param, sizeof err->param, "%s", param ? param : "");
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->message, sizeof err->message, fmt, ap);
    va_end(ap);
}

/* A schema error: 400, code 5006, "AiError: Bad input: ..." on the Workers
 * routes (the hosted API's wording), the bare text on the OpenAI routes. */
bool srv_bad(srv_error *err, srv_api api, const char *param, const char *fmt, ...) {
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (api == SRV_API_WORKERS)
        srv_error_set(err, 400, SRV_CODE_BAD_INPUT, param, "AiError: Bad input: %s", msg);
    else
        srv_error_set(err, 400, SRV_CODE_BAD_INPUT, param, "%s", msg);
    return false;
}

void srv_error_from_llv(srv_error *err, srv_api api, const llv_error *e, const char *what) {
    const char *msg = e ? e->message : "unknown error";
    llv_status st = e ? e->status : LLV_ERR_INTERNAL;
    switch (st) {
    case LLV_ERR_INVALID_ARGUMENT:
    case LLV_ERR_FORMAT:
    case LLV_ERR_LIMIT:
    case LLV_ERR_UNSUPPORTED:
    case LLV_ERR_NOT_FOUND:
    case LLV_ERR_STATE:
    case LLV_ERR_CONTEXT:
        srv_bad(err, api, what, "%s: %s", what, msg);
        if (st == LLV_ERR_CONTEXT) err->oai_code = "context_length_exceeded";
        break;
    case LLV_ERR_OUT_OF_MEMORY:
        srv_error_set(err, 503, SRV_CODE_CAPACITY, what, "Out of capacity: %s: %s", what, msg);
        break;
    default:
        srv_error_set(err, 500, SRV_CODE_INTERNAL, what, "Internal error: %s: %s", what, msg);
        break;
    }
}

/* ------------------------------------------------------------------------- */
/* JSON pre-scan and base64                                                  */
/* ------------------------------------------------------------------------- */

int srv_json_depth(const char *s, size_t n, int limit) {
    int depth = 0, max = 0;
    bool in_str = false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (in_str) {
            if (c == '\\') i++;
            else if (c == '"') in_str = false;
            continue;
        }
        if (c == '"') in_str = true;
        else if (c == '[' || c == '{') {
            if (++depth > max) max = depth;
            if (max > limit) return limit + 1;
        } else if (c == ']' || c == '}') {
            if (depth > 0) depth--;
        }
    }
    return max;
}

/* Values in the text (commas + 1 per container, roughly): bounds cJSON nodes. */
static size_t json_value_estimate(const char *s, size_t n) {
    size_t count = 1;
    bool in_str = false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (in_str) {
            if (c == '\\') i++;
            else if (c == '"') in_str = false;
            continue;
        }
        if (c == '"') in_str = true;
        else if (c == ',' || c == '[' || c == '{') count++;
    }
    return count;
}

static int b64_value(unsigned char c) {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+' || c == '-') return 62;
    if (c == '/' || c == '_') return 63;
    return -1;
}

bool srv_base64_decode(const char *s, size_t n, uint8_t **out, size_t *out_n) {
    *out = NULL;
    *out_n = 0;
    uint8_t *buf = malloc(n / 4 * 3 + 4);
    if (!buf) return false;
    size_t o = 0, pad = 0;
    uint32_t acc = 0;
    int bits = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == ' ' || c == '\n' || c == '\r' || c == '\t') continue;
        if (c == '=') {
            pad++;
            continue;
        }
        int v = b64_value(c);
        if (v < 0 || pad) { /* bad character, or data after padding */
            free(buf);
            return false;
        }
        acc = (acc << 6) | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            buf[o++] = (uint8_t)(acc >> bits);
        }
    }
    /* 6 leftover bits can't come from whole bytes; too much padding is wrong */
    if (bits >= 6 || pad > 2) {
        free(buf);
        return false;
    }
    *out = buf;
    *out_n = o;
    return true;
}

char *srv_base64_encode(const uint8_t *p, size_t n) {
    static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    char *out = malloc((n + 2) / 3 * 4 + 1);
    if (!out) return NULL;
    size_t o = 0;
    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)p[i] << 16;
        if (i + 1 < n) v |= (uint32_t)p[i + 1] << 8;
        if (i + 2 < n) v |= p[i + 2];
        out[o++] = tab[(v >> 18) & 63];
        out[o++] = tab[(v >> 12) & 63];
        out[o++] = i + 1 < n ? tab[(v >> 6) & 63] : '=';
        out[o++] = i + 2 < n ? tab[v & 63] : '=';
    }
    out[o] = 0;
    return out;
}

/* ------------------------------------------------------------------------- */
/* Field helpers                                                             */
/* ------------------------------------------------------------------------- */

const char *srv_json_type(const cJSON *v) {
    if (cJSON_IsNull(v)) return "null";
    if (cJSON_IsBool(v)) return "boolean";
    if (cJSON_IsNumber(v)) return "number";
    if (cJSON_IsString(v)) return "string";
    if (cJSON_IsArray(v)) return "array";
    if (cJSON_IsObject(v)) return "object";
    return "invalid";
}

/* 0 absent (or null), 1 present and valid, -1 error (err filled). */
static int get_bool(const cJSON *o, const char *name, bool *out, srv_api api, srv_error *err) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
    if (!v || cJSON_IsNull(v)) return 0;
    if (!cJSON_IsBool(v)) {
        srv_bad(err, api, name, "Type mismatch of '%s': expected boolean, got %s", name, srv_json_type(v));
        return -1;
    }
    *out = cJSON_IsTrue(v);
    return 1;
}

static int get_number(const cJSON *o, const char *name, double lo, double hi, double *out, srv_api api,
                      srv_error *err) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
    if (!v || cJSON_IsNull(v)) return 0;
    if (!cJSON_IsNumber(v)) {
        srv_bad(err, api, name, "Type mismatch of '%s': expected number, got %s", name, srv_json_type(v));
        return -1;
    }
    double d = v->valuedouble;
    if (!isfinite(d) || d < lo || d > hi) {
        srv_bad(err, api, name, "'%s' = %g is out of range (expected %g..%g)", name, d, lo, hi);
        return -1;
    }
    *out = d;
    return 1;
}

static int get_integer(const cJSON *o, const char *name, double lo, double hi, double *out, srv_api api,
                       srv_error *err) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
    if (!v || cJSON_IsNull(v)) return 0;
    if (!cJSON_IsNumber(v) || !isfinite(v->valuedouble) || floor(v->valuedouble) != v->valuedouble) {
        if (cJSON_IsNumber(v))
            srv_bad(err, api, name, "Type mismatch of '%s': expected integer, got %g", name, v->valuedouble);
        else
            srv_bad(err, api, name, "Type mismatch of '%s': expected integer, got %s", name, srv_json_type(v));
        return -1;
    }
    double d = v->valuedouble;
    if (d < lo || d > hi) {
        srv_bad(err, api, name, "'%s' = %.0f is out of range (expected %.0f..%.0f)", name, d, lo, hi);
        return -1;
    }
    *out = d;
    return 1;
}

static size_t utf8_chars(const char *s) {
    size_t n = 0;
    for (; *s; s++)
        if (((unsigned char)*s & 0xC0) != 0x80) n++;
    return n;
}

static bool add_image(srv_request *r, uint8_t *bytes, size_t n, const char *param, const srv_limits *lim,
                      srv_error *err) {
    if (r->n_images >= SRV_MAX_IMAGES) {
        free(bytes);
        return srv_bad(err, r->api, param, "too many images (at most %d per request)", SRV_MAX_IMAGES);
    }
    if (n == 0) {
        free(bytes);
        return srv_bad(err, r->api, param, "'%s': the image is empty", param);
    }
    if (lim && lim->max_image_bytes && n > lim->max_image_bytes) {
        free(bytes);
        return srv_bad(err, r->api, param, "'%s': image of %zu bytes exceeds the limit of %zu bytes", param, n,
                   lim->max_image_bytes);
    }
    r->images[r->n_images].bytes = bytes;
    r->images[r->n_images].n = n;
    r->n_images++;
    return true;
}

bool srv_request_add_base64_image(srv_request *r, const char *s, size_t n, const char *param, const srv_limits *lim,
                                  srv_error *err) {
    uint8_t *bytes;
    size_t nb;
    if (!srv_base64_decode(s, n, &bytes, &nb)) {
        srv_error_set(err, 400, SRV_CODE_BAD_BASE64, param,
                      r->api == SRV_API_WORKERS ? "AiError: Invalid data type for base64 input: '%s' is not valid base64"
                                                : "Invalid base64 data in '%s'",
                      param);
        return false;
    }
    return add_image(r, bytes, nb, param, lim, err);
}

/* "data:[mediatype][;base64],DATA"; anything else (http URLs) is refused. */
static bool data_url_image(srv_request *r, const char *url, const char *param, const srv_limits *lim,
                           srv_error *err) {
    if (!strncmp(url, "http://", 7) || !strncmp(url, "https://", 8)) {
        if (!lim || !lim->fetch)
            return srv_bad(err, r->api, param,
                           "'%s': image URLs are not fetched by this server (it was started without "
                           "--allow-image-urls); send a data URL (data:image/png;base64,...)",
                           param);
        uint8_t *bytes = NULL;
        size_t nb = 0;
        char why[256];
        size_t cap = lim->max_image_bytes ? lim->max_image_bytes : (size_t)64 << 20;
        if (!lim->fetch(lim->fetch_user, url, cap, &bytes, &nb, why, sizeof why))
            return srv_bad(err, r->api, param, "'%s': cannot fetch the image: %s", param, why);
        return add_image(r, bytes, nb, param, lim, err);
    }
    if (strncmp(url, "data:", 5) != 0)
        return srv_bad(err, r->api, param,
                   "'%s': only data URLs (data:image/png;base64,...) and, with --allow-image-urls, http(s) URLs "
                   "are accepted",
                   param);
    const char *comma = strchr(url, ',');
    if (!comma) return srv_bad(err, r->api, param, "'%s': malformed data URL (no ',')", param);
    size_t head = (size_t)(comma - url);
    if (head < 12 || memcmp(comma - 7, ";base64", 7) != 0)
        return srv_bad(err, r->api, param, "'%s': only base64 data URLs are accepted (data:<type>;base64,...)", param);
    return srv_request_add_base64_image(r, comma + 1, strlen(comma + 1), param, lim, err);
}

/* Top-level `image`: an array of byte values or a base64 string. */
static bool top_image(srv_request *r, const cJSON *v, const srv_limits *lim, srv_error *err) {
    if (cJSON_IsString(v)) {
        const char *s = v->valuestring;
        if (!strncmp(s, "data:", 5) || !strncmp(s, "http://", 7) || !strncmp(s, "https://", 8))
            return data_url_image(r, s, "image", lim, err);
        return srv_request_add_base64_image(r, s, strlen(s), "image", lim, err);
    }
    if (!cJSON_IsArray(v))
        return srv_bad(err, r->api, "image", "Type mismatch of 'image': expected array of bytes or base64 string, got %s",
                   srv_json_type(v));
    int n = cJSON_GetArraySize(v);
    uint8_t *bytes = malloc(n > 0 ? (size_t)n : 1);
    if (!bytes) {
        srv_error_set(err, 503, SRV_CODE_CAPACITY, "image", "Out of memory for the image");
        return false;
    }
    int i = 0;
    const cJSON *it;
    cJSON_ArrayForEach(it, v) {
        if (!cJSON_IsNumber(it) || floor(it->valuedouble) != it->valuedouble || it->valuedouble < 0 ||
            it->valuedouble > 255) {
            free(bytes);
            char p[48];
            snprintf(p, sizeof p, "image[%d]", i);
            if (!cJSON_IsNumber(it))
                return srv_bad(err, r->api, p, "Type mismatch of '%s': expected an integer 0..255, got %s", p,
                           srv_json_type(it));
            return srv_bad(err, r->api, p, "'%s' = %g is not a byte value (expected an integer 0..255)", p,
                       it->valuedouble);
        }
        bytes[i++] = (uint8_t)it->valuedouble;
    }
    return add_image(r, bytes, (size_t)n, "image", lim, err);
}

bool srv_request_check_raw_images(const srv_request *r, const char *param, srv_error *err) {
    size_t tags = 0;
    for (const char *s = r->prompt; s && (s = strstr(s, "<|image|>")); s += 9) tags++;
    if (tags == r->n_images) return true;
    return srv_bad(err, r->api, param,
                   "raw '%s' has %zu <|image|> tag(s) but %zu image(s) were given; with raw, each image goes where "
                   "<|image|> appears",
                   param, tags, r->n_images);
}

char *srv_request_keep(srv_request *r, char *s) {
    if (!s) return NULL;
    if (r->n_scratch >= (int)(sizeof r->scratch / sizeof r->scratch[0])) {
        free(s);
        return NULL;
    }
    r->scratch[r->n_scratch++] = s;
    return s;
}

/* ------------------------------------------------------------------------- */
/* Sampling fields (shared by all variants)                                  */
/* ------------------------------------------------------------------------- */

static bool parse_sampling(srv_request *r, const cJSON *root, const srv_limits *lim, srv_error *err) {
    srv_api api = r->api;
    llv_sampling_params *sp = &r->sampling;
    *sp = llv_sampling_default_params();
    double d;
    int rc;
    double max_cap = lim && lim->max_tokens_cap > 0 ? lim->max_tokens_cap : LLV_SAMPLING_MAX_TOKENS_MAX;
    /* absent: the hosted API's 256; OpenAI's "up to the context" */
    sp->max_tokens = api == SRV_API_OPENAI ? (int32_t)max_cap : 256;
    sp->temperature = 0.6f;
    const char *mt_name = "max_tokens";
    if (api == SRV_API_OPENAI && cJSON_GetObjectItemCaseSensitive(root, "max_completion_tokens") &&
        !cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(root, "max_completion_tokens")))
        mt_name = "max_completion_tokens";
    if ((rc = get_integer(root, mt_name, 1, max_cap, &d, api, err)) < 0) return false;
    if (rc) sp->max_tokens = (int32_t)d;
    if ((rc = get_number(root, "temperature", 0, LLV_SAMPLING_TEMPERATURE_MAX, &d, api, err)) < 0) return false;
    if (rc) sp->temperature = (float)d;
    if ((rc = get_number(root, "top_p", 0, LLV_SAMPLING_TOP_P_MAX, &d, api, err)) < 0) return false;
    if (rc) sp->top_p = (float)d;
    if ((rc = get_integer(root, "top_k", 1, LLV_SAMPLING_TOP_K_MAX, &d, api, err)) < 0) return false;
    if (rc) sp->top_k = (int32_t)d;
    if ((rc = get_integer(root, "seed", api == SRV_API_OPENAI ? 0 : 1, (double)LLV_SAMPLING_SEED_MAX, &d, api, err)) < 0) return false;
    if (rc) sp->seed = (uint64_t)d;
    if ((rc = get_number(root, "repetition_penalty", 0, LLV_SAMPLING_PENALTY_MAX, &d, api, err)) < 0) return false;
    if (rc) sp->repetition_penalty = (float)d;
    if ((rc = get_number(root, "frequency_penalty", 0, LLV_SAMPLING_PENALTY_MAX, &d, api, err)) < 0) return false;
    if (rc) sp->frequency_penalty = (float)d;
    if ((rc = get_number(root, "presence_penalty", 0, LLV_SAMPLING_PENALTY_MAX, &d, api, err)) < 0) return false;
    if (rc) sp->presence_penalty = (float)d;
    const cJSON *lora = cJSON_GetObjectItemCaseSensitive(root, "lora");
    if (lora && !cJSON_IsNull(lora)) {
        if (!cJSON_IsString(lora))
            return srv_bad(err, api, "lora", "Type mismatch of 'lora': expected string, got %s", srv_json_type(lora));
        if (lora->valuestring[0]) {
            if (!lim || !lim->have_lora)
                return srv_bad(err, api, "lora", "'lora': unknown adapter '%.100s' (this server has no LoRA adapters loaded)",
                           lora->valuestring);
            bool known = false;
            for (size_t i = 0; lim->model && llv_model_lora_name(lim->model, i); i++)
                known |= !strcmp(llv_model_lora_name(lim->model, i), lora->valuestring);
            if (!known) {
                char list[256] = "";
                size_t n = 0;
                for (size_t i = 0; llv_model_lora_name(lim->model, i) && n + 8 < sizeof list; i++)
                    n += (size_t)snprintf(list + n, sizeof list - n, "%s%s", i ? ", " : "",
                                          llv_model_lora_name(lim->model, i));
                return srv_bad(err, api, "lora", "'lora': unknown adapter '%.100s' (loaded: %.200s)", lora->valuestring,
                           list);
            }
            sp->lora = lora->valuestring;
        }
    }
    if (lim) sp->timeout_ms = lim->timeout_ms;
    llv_error e;
    if (llv_sampling_params_validate(sp, &e)) return srv_bad(err, api, "", "%s", e.message);
    return true;
}

/* ------------------------------------------------------------------------- */
/* Messages                                                                  */
/* ------------------------------------------------------------------------- */

static bool check_tools(srv_request *r, const cJSON *tools, const char *name, srv_error *err) {
    if (!cJSON_IsArray(tools))
        return srv_bad(err, r->api, name, "Type mismatch of '%s': expected array, got %s", name, srv_json_type(tools));
    int i = 0;
    const cJSON *t;
    cJSON_ArrayForEach(t, tools) {
        char p[64];
        snprintf(p, sizeof p, "%s[%d]", name, i);
        if (!cJSON_IsObject(t)) return srv_bad(err, r->api, p, "Type mismatch of '%s': expected object, got %s", p, srv_json_type(t));
        const cJSON *fn = cJSON_GetObjectItemCaseSensitive(t, "function");
        const cJSON *nm;
        if (fn) {
            if (!cJSON_IsObject(fn))
                return srv_bad(err, r->api, p, "Type mismatch of '%s.function': expected object, got %s", p, srv_json_type(fn));
            nm = cJSON_GetObjectItemCaseSensitive(fn, "name");
            if (!cJSON_IsString(nm)) return srv_bad(err, r->api, p, "'%s.function.name' is required and must be a string", p);
        } else {
            nm = cJSON_GetObjectItemCaseSensitive(t, "name");
            if (!cJSON_IsString(nm)) return srv_bad(err, r->api, p, "'%s.name' is required and must be a string", p);
            if (!strcmp(name, "functions") && !cJSON_IsString(cJSON_GetObjectItemCaseSensitive(t, "code")))
                return srv_bad(err, r->api, p, "'%s.code' is required and must be a string", p);
        }
        i++;
    }
    return true;
}

bool srv_request_set_tools(srv_request *r, const cJSON *tools, const cJSON *funcs, srv_error *err) {
    if (tools && cJSON_IsNull(tools)) tools = NULL;
    if (funcs && cJSON_IsNull(funcs)) funcs = NULL;
    if (tools && !check_tools(r, tools, "tools", err)) return false;
    if (funcs && !check_tools(r, funcs, "functions", err)) return false;
    if (!tools && !funcs) return true;
    cJSON *all = cJSON_CreateArray();
    const cJSON *t;
    if (tools) cJSON_ArrayForEach(t, tools) cJSON_AddItemToArray(all, cJSON_Duplicate(t, true));
    if (funcs) {
        /* legacy {name, code}: offered as a function whose description is the code */
        cJSON_ArrayForEach(t, funcs) {
            cJSON *d = cJSON_CreateObject();
            cJSON_AddStringToObject(d, "name", cJSON_GetObjectItemCaseSensitive(t, "name")->valuestring);
            cJSON_AddStringToObject(d, "description", cJSON_GetObjectItemCaseSensitive(t, "code")->valuestring);
            cJSON_AddItemToArray(all, d);
        }
    }
    if (cJSON_GetArraySize(all) > 0) {
        free(r->tools_json);
        r->tools_json = cJSON_PrintUnformatted(all);
        r->has_tools = r->tools_json != NULL;
    }
    cJSON_Delete(all);
    return true;
}

/* tool_choice "required" or {"type": "function", "function": {"name": ...}}:
 * the answer is forced to be a call in the Llama 3.1 JSON format,
 * {"name": ..., "parameters": {...}}, of any offered tool or the named one,
 * through the structured-output constraint (a JSON schema); "auto" (and
 * absent) leaves it to the model; "none" is handled by the caller. */
static bool apply_tool_choice(srv_request *r, const cJSON *choice, srv_error *err) {
    const char *want = NULL;
    if (cJSON_IsNull(choice)) return true;
    if (cJSON_IsString(choice)) {
        if (!strcmp(choice->valuestring, "auto")) return true;
        if (strcmp(choice->valuestring, "required"))
            return srv_bad(err, r->api, "tool_choice", "'tool_choice' must be 'none', 'auto', 'required' or "
                           "{\"type\": \"function\", \"function\": {\"name\": ...}}, got '%.40s'",
                           choice->valuestring);
    } else if (cJSON_IsObject(choice)) {
        const cJSON *fn = cJSON_GetObjectItemCaseSensitive(choice, "function");
        const cJSON *name = cJSON_IsObject(fn) ? cJSON_GetObjectItemCaseSensitive(fn, "name") : NULL;
        if (!cJSON_IsString(name))
            return srv_bad(err, r->api, "tool_choice.function.name", "'tool_choice.function.name' must be a string");
        want = name->valuestring;
    } else {
        return srv_bad(err, r->api, "tool_choice", "Type mismatch of 'tool_choice': expected string or object, got %s",
                       srv_json_type(choice));
    }
    if (!r->tools_json) return srv_bad(err, r->api, "tool_choice", "'tool_choice' needs 'tools'");
    if (r->sampling.json_schema || r->sampling.json_object)
        return srv_bad(err, r->api, "tool_choice", "a forced 'tool_choice' cannot be combined with 'response_format'");
    cJSON *tools = cJSON_Parse(r->tools_json), *any = cJSON_CreateArray();
    const cJSON *t;
    int found = 0;
    cJSON_ArrayForEach(t, tools) {
        const cJSON *f = cJSON_GetObjectItemCaseSensitive(t, "function");
        if (!cJSON_IsObject(f)) f = t; /* {name, parameters} as given */
        const cJSON *name = cJSON_GetObjectItemCaseSensitive(f, "name");
        if (!cJSON_IsString(name) || (want && strcmp(want, name->valuestring))) continue;
        const cJSON *params = cJSON_GetObjectItemCaseSensitive(f, "parameters");
        cJSON *call = cJSON_CreateObject(), *props = cJSON_AddObjectToObject(call, "properties");
        cJSON_AddStringToObject(call, "type", "object");
        cJSON_AddStringToObject(cJSON_AddObjectToObject(props, "name"), "const", name->valuestring);
        cJSON_AddItemToObject(props, "parameters", cJSON_IsObject(params) ? cJSON_Duplicate(params, true)
                                                                          : cJSON_CreateObject());
        cJSON *req = cJSON_AddArrayToObject(call, "required");
        cJSON_AddItemToArray(req, cJSON_CreateString("name"));
        cJSON_AddItemToArray(req, cJSON_CreateString("parameters"));
        cJSON_AddItemToArray(any, call);
        found++;
    }
    cJSON_Delete(tools);
    if (!found) {
        cJSON_Delete(any);
        return srv_bad(err, r->api, "tool_choice.function.name", "'tool_choice' names '%.60s', which is not in 'tools'",
                       want ? want : "");
    }
    cJSON *schema = cJSON_CreateObject();
    cJSON_AddItemToObject(schema, "anyOf", any);
    r->sampling.json_schema = srv_request_keep(r, cJSON_PrintUnformatted(schema));
    cJSON_Delete(schema);
    if (!r->sampling.json_schema) {
        srv_error_set(err, 503, SRV_CODE_CAPACITY, "tool_choice", "out of memory");
        return false;
    }
    r->forced_tool = true;
    return true;
}

bool srv_request_check_constraint(srv_request *r, const char *param, srv_error *err) {
    llv_error e = {0};
    if (llv_sampling_params_validate(&r->sampling, &e) == LLV_OK) return true;
    return srv_bad(err, r->api, param, "%s: %s", param, e.message);
}

static int count_parts(const cJSON *content) {
    if (cJSON_IsArray(content)) return cJSON_GetArraySize(content);
    if (cJSON_IsObject(content)) return 1;
    return 0;
}

/* One content part (object) into *part. */
static bool parse_part(srv_request *r, const cJSON *o, const char *p, llv_part *part, const srv_limits *lim,
                       srv_error *err) {
    if (!cJSON_IsObject(o)) return srv_bad(err, r->api, p, "Type mismatch of '%s': expected object, got %s", p, srv_json_type(o));
    const cJSON *type = cJSON_GetObjectItemCaseSensitive(o, "type");
    const cJSON *text = cJSON_GetObjectItemCaseSensitive(o, "text");
    const cJSON *iu = cJSON_GetObjectItemCaseSensitive(o, "image_url");
    const char *t = cJSON_IsString(type) ? type->valuestring : NULL;
    if (type && !t) return srv_bad(err, r->api, p, "Type mismatch of '%s.type': expected string, got %s", p, srv_json_type(type));
    if (!t) t = iu ? "image_url" : "text";
    char q[128];
    if (!strcmp(t, "text")) {
        snprintf(q, sizeof q, "%s.text", p);
        if (!cJSON_IsString(text))
            return srv_bad(err, r->api, q, "'%s' is required for a text part and must be a string (got %s)", q,
                       text ? srv_json_type(text) : "nothing");
        part->type = LLV_PART_TEXT;
        part->text = text->valuestring;
        return true;
    }
    if (!strcmp(t, "image_url")) {
        snprintf(q, sizeof q, "%s.image_url", p);
        const char *url = NULL;
        if (cJSON_IsString(iu)) url = iu->valuestring; /* some clients send the URL directly */
        else if (cJSON_IsObject(iu)) {
            const cJSON *u = cJSON_GetObjectItemCaseSensitive(iu, "url");
            snprintf(q, sizeof q, "%s.image_url.url", p);
            if (!cJSON_IsString(u)) return srv_bad(err, r->api, q, "'%s' is required and must be a string", q);
            url = u->valuestring;
        } else
            return srv_bad(err, r->api, q, "'%s' is required for an image_url part and must be an object with 'url'", q);
        if (!data_url_image(r, url, q, lim, err)) return false;
        part->type = LLV_PART_IMAGE;
        part->image = r->images[r->n_images - 1].bytes;
        part->image_bytes = r->images[r->n_images - 1].n;
        return true;
    }
    snprintf(q, sizeof q, "%s.type", p);
    return srv_bad(err, r->api, q, "'%s' = '%.40s' is not supported (expected 'text' or 'image_url')", q, t);
}

static bool parse_messages(srv_request *r, const cJSON *root, const cJSON *top_img, const srv_limits *lim,
                           srv_error *err) {
    const cJSON *msgs = cJSON_GetObjectItemCaseSensitive(root, "messages");
    if (!cJSON_IsArray(msgs))
        return srv_bad(err, r->api, "messages", "Type mismatch of 'messages': expected array, got %s", srv_json_type(msgs));
    int n = cJSON_GetArraySize(msgs);
    if (n == 0) return srv_bad(err, r->api, "messages", "'messages' must not be empty");
    size_t total_parts = top_img ? 2 : 0;
    const cJSON *m;
    cJSON_ArrayForEach(m, msgs) {
        const cJSON *c = cJSON_IsObject(m) ? cJSON_GetObjectItemCaseSensitive(m, "content") : NULL;
        total_parts += (size_t)count_parts(c);
    }
    r->msgs = calloc((size_t)n, sizeof *r->msgs);
    r->parts = calloc(total_parts + 1, sizeof *r->parts);
    if (!r->msgs || !r->parts) {
        srv_error_set(err, 503, SRV_CODE_CAPACITY, "messages", "Out of memory for the messages");
        return false;
    }
    r->n_msgs = (size_t)n;
    int first_user = -1;
    int i = 0;
    cJSON_ArrayForEach(m, msgs) {
        char p[64], q[96];
        snprintf(p, sizeof p, "messages[%d]", i);
        llv_message *lm = &r->msgs[i];
        if (!cJSON_IsObject(m)) return srv_bad(err, r->api, p, "Type mismatch of '%s': expected object, got %s", p, srv_json_type(m));
        const cJSON *role = cJSON_GetObjectItemCaseSensitive(m, "role");
        snprintf(q, sizeof q, "%s.role", p);
        if (!cJSON_IsString(role))
            return srv_bad(err, r->api, q, "'%s' is required and must be a string (got %s)", q,
                       role ? srv_json_type(role) : "nothing");
        const char *rs = role->valuestring;
        if (!strcmp(rs, "developer")) rs = "system";
        if (strcmp(rs, "system") && strcmp(rs, "user") && strcmp(rs, "assistant") && strcmp(rs, "tool") &&
            strcmp(rs, "ipython"))
            return srv_bad(err, r->api, q, "'%s' = '%.40s' is not a role (expected system, user, assistant or tool)", q,
                       rs);
        lm->role = rs;
        if (first_user < 0 && !strcmp(rs, "user")) first_user = i;
        const cJSON *c = cJSON_GetObjectItemCaseSensitive(m, "content");
        snprintf(q, sizeof q, "%s.content", p);
        /* an assistant turn that called tools (OpenAI form) */
        const cJSON *tcs = cJSON_GetObjectItemCaseSensitive(m, "tool_calls");
        if (tcs && !cJSON_IsNull(tcs)) {
            char tq[96];
            snprintf(tq, sizeof tq, "%s.tool_calls", p);
            if (!cJSON_IsArray(tcs)) return srv_bad(err, r->api, tq, "Type mismatch of '%s': expected array", tq);
            const cJSON *tc0 = cJSON_GetArrayItem(tcs, 0);
            if (tc0) {
                const cJSON *fn = cJSON_GetObjectItemCaseSensitive(tc0, "function");
                if (!fn) fn = tc0;
                const cJSON *nm = cJSON_GetObjectItemCaseSensitive(fn, "name");
                const cJSON *args = cJSON_GetObjectItemCaseSensitive(fn, "arguments");
                if (!cJSON_IsString(nm)) return srv_bad(err, r->api, tq, "'%s[0].function.name' must be a string", tq);
                lm->tool_call_name = nm->valuestring;
                if (cJSON_IsString(args)) lm->tool_call_arguments = args->valuestring;
                else if (cJSON_IsObject(args)) lm->tool_call_arguments = srv_request_keep(r, cJSON_PrintUnformatted(args));
                else lm->tool_call_arguments = "{}";
            }
        }
        if (!c || cJSON_IsNull(c)) {
            if (!lm->tool_call_name) return srv_bad(err, r->api, q, "'%s' is required", q);
            lm->content = "";
        } else if (cJSON_IsString(c)) {
            lm->content = c->valuestring;
        } else if (cJSON_IsArray(c) || cJSON_IsObject(c)) {
            lm->parts = &r->parts[r->n_parts];
            if (cJSON_IsObject(c)) {
                if (!parse_part(r, c, q, &r->parts[r->n_parts], lim, err)) return false;
                r->n_parts++;
            } else {
                int j = 0;
                const cJSON *it;
                cJSON_ArrayForEach(it, c) {
                    char pq[128];
                    snprintf(pq, sizeof pq, "%s[%d]", q, j++);
                    if (!parse_part(r, it, pq, &r->parts[r->n_parts], lim, err)) return false;
                    r->n_parts++;
                }
            }
            lm->n_parts = (size_t)(&r->parts[r->n_parts] - lm->parts);
            if (lm->n_parts == 0) {
                lm->parts = NULL;
                lm->content = "";
            }
        } else {
            return srv_bad(err, r->api, q, "Type mismatch of '%s': expected string, array or object, got %s", q,
                       srv_json_type(c));
        }
        i++;
    }
    if (top_img) {
        /* deprecated top-level image: goes first into the first user turn */
        if (first_user < 0) return srv_bad(err, r->api, "image", "'image' needs a user message to go into");
        if (!top_image(r, top_img, lim, err)) return false;
        llv_message *u = &r->msgs[first_user];
        llv_part img = {.type = LLV_PART_IMAGE,
                        .image = r->images[r->n_images - 1].bytes,
                        .image_bytes = r->images[r->n_images - 1].n};
        if (u->parts) {
            /* shift this message's parts right by one inside the shared array */
            size_t start = (size_t)(u->parts - r->parts);
            memmove(&r->parts[start + 1], &r->parts[start], (r->n_parts - start) * sizeof *r->parts);
            r->parts[start] = img;
            r->n_parts++;
            for (size_t k = 0; k < r->n_msgs; k++)
                if (r->msgs[k].parts && (size_t)(r->msgs[k].parts - r->parts) > start) r->msgs[k].parts++;
            u->n_parts++;
        } else {
            size_t start = r->n_parts;
            r->parts[start] = img;
            r->parts[start + 1] = (llv_part){.type = LLV_PART_TEXT, .text = u->content ? u->content : ""};
            r->n_parts += 2;
            u->parts = &r->parts[start];
            u->n_parts = 2;
            u->content = NULL;
        }
    }
    /* tools */
    const cJSON *tools = cJSON_GetObjectItemCaseSensitive(root, "tools");
    const cJSON *funcs = r->api == SRV_API_WORKERS ? cJSON_GetObjectItemCaseSensitive(root, "functions") : NULL;
    const cJSON *choice = r->api == SRV_API_OPENAI ? cJSON_GetObjectItemCaseSensitive(root, "tool_choice") : NULL;
    bool none = cJSON_IsString(choice) && !strcmp(choice->valuestring, "none");
    if (none) {
        /* still checked, not offered */
        if (tools && !cJSON_IsNull(tools) && !check_tools(r, tools, "tools", err)) return false;
        return true;
    }
    if (!srv_request_set_tools(r, tools, funcs, err)) return false;
    return choice ? apply_tool_choice(r, choice, err) : true;
}

/* ------------------------------------------------------------------------- */
/* Entry                                                                     */
/* ------------------------------------------------------------------------- */

/* response_format: {"type": "text"} | {"type": "json_object"} |
 * {"type": "json_schema", "json_schema": {"name", "schema", "strict"}} */
static bool parse_response_format(srv_request *r, const cJSON *root, srv_error *err) {
    const cJSON *rf = cJSON_GetObjectItemCaseSensitive(root, "response_format");
    if (!rf || cJSON_IsNull(rf)) return true;
    if (!cJSON_IsObject(rf))
        return srv_bad(err, r->api, "response_format", "Type mismatch of 'response_format': expected object, got %s",
                       srv_json_type(rf));
    const cJSON *type = cJSON_GetObjectItemCaseSensitive(rf, "type");
    const char *t = cJSON_IsString(type) ? type->valuestring : "";
    if (!strcmp(t, "text")) return true;
    if (!strcmp(t, "json_object")) {
        r->sampling.json_object = true;
        return true;
    }
    if (strcmp(t, "json_schema"))
        return srv_bad(err, r->api, "response_format.type",
                       "'response_format.type' must be 'text', 'json_object' or 'json_schema', got '%.40s'", t);
    const cJSON *js = cJSON_GetObjectItemCaseSensitive(rf, "json_schema");
    const cJSON *schema = cJSON_IsObject(js) ? cJSON_GetObjectItemCaseSensitive(js, "schema") : NULL;
    const cJSON *strict = cJSON_IsObject(js) ? cJSON_GetObjectItemCaseSensitive(js, "strict") : NULL;
    if (!cJSON_IsObject(js))
        return srv_bad(err, r->api, "response_format.json_schema", "'response_format.json_schema' must be an object");
    if (strict && !cJSON_IsBool(strict) && !cJSON_IsNull(strict))
        return srv_bad(err, r->api, "response_format.json_schema.strict", "'strict' must be a boolean");
    /* the answer always follows the schema (strict or not: the constraint is exact) */
    if (!schema) r->sampling.json_schema = "{}";
    else if (!cJSON_IsObject(schema) && !cJSON_IsBool(schema))
        return srv_bad(err, r->api, "response_format.json_schema.schema",
                       "Type mismatch of 'response_format.json_schema.schema': expected object, got %s",
                       srv_json_type(schema));
    else if (!(r->sampling.json_schema = srv_request_keep(r, cJSON_PrintUnformatted(schema)))) {
        srv_error_set(err, 503, SRV_CODE_CAPACITY, "response_format", "out of memory");
        return false;
    }
    return srv_request_check_constraint(r, "response_format.json_schema.schema", err);
}

static bool parse_openai_extras(srv_request *r, const cJSON *root, srv_error *err) {
    if (!parse_response_format(r, root, err)) return false;
    const cJSON *model = cJSON_GetObjectItemCaseSensitive(root, "model");
    if (model && !cJSON_IsNull(model)) {
        if (!cJSON_IsString(model))
            return srv_bad(err, r->api, "model", "Type mismatch of 'model': expected string, got %s", srv_json_type(model));
        r->model = model->valuestring;
    }
    const cJSON *so = cJSON_GetObjectItemCaseSensitive(root, "stream_options");
    if (so && !cJSON_IsNull(so)) {
        if (!cJSON_IsObject(so))
            return srv_bad(err, r->api, "stream_options", "Type mismatch of 'stream_options': expected object, got %s",
                       srv_json_type(so));
        if (get_bool(so, "include_usage", &r->include_usage, r->api, err) < 0) {
            snprintf(err->param, sizeof err->param, "stream_options.include_usage");
            return false;
        }
    }
    double d;
    if (get_integer(root, "n", 1, 1, &d, r->api, err) < 0) return false;
    /* logprobs (bool) and top_logprobs (0..20, only with logprobs true) */
    bool lp = false;
    if (get_bool(root, "logprobs", &lp, r->api, err) < 0) return false;
    int rc = get_integer(root, "top_logprobs", 0, LLV_SAMPLING_TOP_LOGPROBS_MAX, &d, r->api, err);
    if (rc < 0) return false;
    if (rc && !lp) return srv_bad(err, r->api, "top_logprobs", "'top_logprobs' requires 'logprobs' to be true");
    r->sampling.logprobs = lp;
    r->sampling.top_logprobs = rc ? (int32_t)d : 0;
    const cJSON *stop = cJSON_GetObjectItemCaseSensitive(root, "stop");
    if (stop && !cJSON_IsNull(stop)) {
        if (cJSON_IsString(stop)) {
            if (stop->valuestring[0]) r->stop[r->n_stop++] = stop->valuestring;
        } else if (cJSON_IsArray(stop) && cJSON_GetArraySize(stop) <= 4) {
            const cJSON *s;
            cJSON_ArrayForEach(s, stop) {
                if (!cJSON_IsString(s)) return srv_bad(err, r->api, "stop", "'stop' items must be strings");
                if (s->valuestring[0]) r->stop[r->n_stop++] = s->valuestring;
            }
        } else
            return srv_bad(err, r->api, "stop", "'stop' must be a string or an array of at most 4 strings");
    }
    return true;
}

cJSON *srv_json_parse_body(const char *body, size_t n, srv_api api, srv_error *err) {
    if (n == 0 || !body) {
        srv_bad(err, api, "", "the request body is empty (expected a JSON object)");
        return NULL;
    }
    if (memchr(body, 0, n)) {
        srv_bad(err, api, "", "malformed JSON: the body contains a NUL byte");
        return NULL;
    }
    if (srv_json_depth(body, n, SRV_MAX_JSON_DEPTH) > SRV_MAX_JSON_DEPTH) {
        srv_bad(err, api, "", "JSON nested deeper than %d levels", SRV_MAX_JSON_DEPTH);
        return NULL;
    }
    if (json_value_estimate(body, n) > SRV_MAX_JSON_VALUES) {
        srv_error_set(err, 413, SRV_CODE_TOO_LARGE, "",
                      "Request too large: more than %u JSON values (send images as base64)", SRV_MAX_JSON_VALUES);
        return NULL;
    }
    char *text = malloc(n + 1);
    if (!text) {
        srv_error_set(err, 503, SRV_CODE_CAPACITY, "", "Out of memory for the request body");
        return NULL;
    }
    memcpy(text, body, n);
    text[n] = 0;
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithOpts(text, &end, true);
    if (!root) {
        size_t at = end && end >= text ? (size_t)(end - text) : 0;
        srv_bad(err, api, "", "malformed JSON at byte %zu", at);
    }
    free(text);
    return root;
}

bool srv_request_parse(const char *body, size_t n, srv_api api, const srv_limits *lim, srv_request *r,
                       srv_error *err) {
    memset(r, 0, sizeof *r);
    r->api = api;
    r->sampling = llv_sampling_default_params();
    r->root = srv_json_parse_body(body, n, api, err);
    if (!r->root) return false;
    cJSON *root = r->root;
    if (!cJSON_IsObject(root))
        return srv_bad(err, api, "", "Type mismatch of '/': expected object, got %s", srv_json_type(root));

    if (get_bool(root, "stream", &r->stream, api, err) < 0) return false;
    if (!parse_sampling(r, root, lim, err)) return false;
    if (api == SRV_API_OPENAI && !parse_openai_extras(r, root, err)) return false;

    const cJSON *prompt = cJSON_GetObjectItemCaseSensitive(root, "prompt");
    const cJSON *msgs = cJSON_GetObjectItemCaseSensitive(root, "messages");
    if (prompt && cJSON_IsNull(prompt)) prompt = NULL;
    if (msgs && cJSON_IsNull(msgs)) msgs = NULL;
    if (api == SRV_API_OPENAI) prompt = NULL;
    if (prompt && msgs) return srv_bad(err, api, "", "oneOf at '/' not met: give either 'prompt' or 'messages', not both");
    if (!prompt && !msgs)
        return srv_bad(err, api, api == SRV_API_OPENAI ? "messages" : "",
                   api == SRV_API_OPENAI ? "'messages' is required"
                                         : "oneOf at '/' not met, 0 matches: required properties at '/' are 'prompt', "
                                           "required properties at '/' are 'messages'");
    const cJSON *img = cJSON_GetObjectItemCaseSensitive(root, "image");
    if (img && cJSON_IsNull(img)) img = NULL;
    if (api == SRV_API_OPENAI) img = NULL;
    r->images = calloc(SRV_MAX_IMAGES, sizeof *r->images);
    if (!r->images) {
        srv_error_set(err, 503, SRV_CODE_CAPACITY, "", "Out of memory");
        return false;
    }

    if (prompt) {
        r->kind = SRV_KIND_PROMPT;
        if (!cJSON_IsString(prompt))
            return srv_bad(err, api, "prompt", "Type mismatch of 'prompt': expected string, got %s", srv_json_type(prompt));
        size_t chars = utf8_chars(prompt->valuestring);
        if (chars < 1) return srv_bad(err, api, "prompt", "'prompt' must not be empty (minLength 1)");
        if (chars > SRV_MAX_PROMPT_CHARS)
            return srv_bad(err, api, "prompt", "'prompt' has %zu characters (maxLength %d)", chars, SRV_MAX_PROMPT_CHARS);
        r->prompt = prompt->valuestring;
        if (get_bool(root, "raw", &r->raw, api, err) < 0) return false;
        if (img && !top_image(r, img, lim, err)) return false;
        if (r->raw) {
            if (!srv_request_check_raw_images(r, "prompt", err)) return false;
        } else {
            /* one user turn: the image first, then the text */
            r->msgs = calloc(1, sizeof *r->msgs);
            r->parts = calloc(2, sizeof *r->parts);
            if (!r->msgs || !r->parts) {
                srv_error_set(err, 503, SRV_CODE_CAPACITY, "", "Out of memory");
                return false;
            }
            r->n_msgs = 1;
            r->msgs[0].role = "user";
            if (r->n_images) {
                r->parts[0] = (llv_part){.type = LLV_PART_IMAGE, .image = r->images[0].bytes,
                                         .image_bytes = r->images[0].n};
                r->parts[1] = (llv_part){.type = LLV_PART_TEXT, .text = r->prompt};
                r->n_parts = 2;
                r->msgs[0].parts = r->parts;
                r->msgs[0].n_parts = 2;
            } else {
                r->msgs[0].content = r->prompt;
            }
        }
        return true;
    }
    r->kind = SRV_KIND_MESSAGES;
    if (!parse_messages(r, root, img, lim, err)) return false;
    return r->forced_tool ? srv_request_check_constraint(r, "tools", err) : true;
}

void srv_request_free(srv_request *r) {
    if (!r) return;
    if (r->images)
        for (size_t i = 0; i < r->n_images; i++) free(r->images[i].bytes);
    free(r->images);
    free(r->msgs);
    free(r->parts);
    free(r->tools_json);
    for (int i = 0; i < r->n_scratch; i++) free(r->scratch[i]);
    cJSON_Delete(r->root);
    memset(r, 0, sizeof *r);
}

/* ------------------------------------------------------------------------- */
/* Conversation keys (prefix cache)                                          */
/* ------------------------------------------------------------------------- */

/* FNV-1a: enough to tell conversations apart; the session checks the tokens */
static uint64_t fnv(uint64_t h, const void *p, size_t n) {
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++) h = (h ^ b[i]) * 0x100000001b3ull;
    return h;
}
static uint64_t fnv_str(uint64_t h, const char *s) { return s ? fnv(fnv(h, s, strlen(s)), "", 1) : fnv(h, "\1", 1); }

/* text parts and content strings hash alike, so a resent message matches however it is written */
static uint64_t message_hash(const llv_message *m) {
    uint64_t h = fnv_str(0xcbf29ce484222325ull, m->role);
    if (m->content) h = fnv_str(fnv(h, "t", 1), m->content);
    for (size_t i = 0; i < m->n_parts; i++) {
        const llv_part *p = &m->parts[i];
        if (p->type == LLV_PART_TEXT) h = fnv_str(fnv(h, "t", 1), p->text);
        else h = fnv(fnv(h, "i", 1), p->image, p->image_bytes);
    }
    if (m->tool_call_name) h = fnv_str(fnv_str(fnv(h, "c", 1), m->tool_call_name), m->tool_call_arguments);
    return h;
}

size_t srv_request_key(const srv_request *r, uint64_t *key, size_t cap) {
    if (cap == 0) return 0;
    if (r->kind == SRV_KIND_PROMPT && r->raw) {
        uint64_t h = fnv_str(0x84222325cbf29ce4ull, r->prompt);
        for (size_t i = 0; i < r->n_images; i++) h = fnv(h, r->images[i].bytes, r->images[i].n);
        key[0] = h;
        return 1;
    }
    size_t n = 0;
    for (size_t i = 0; i < r->n_msgs && n < cap; i++) key[n++] = message_hash(&r->msgs[i]);
    return n;
}

uint64_t srv_key_answer(const char *text, size_t n) {
    llv_message m;
    memset(&m, 0, sizeof m);
    m.role = "assistant";
    char *t = malloc(n + 1);
    if (!t) return 0;
    memcpy(t, text, n);
    t[n] = 0;
    m.content = t;
    uint64_t h = message_hash(&m);
    free(t);
    return h;
}

