/* ollama.c - Ollama's API over srv_request (see ollama.h). Field errors name
 * the field as the client wrote it ("messages[1].images[0]", "options.top_k");
 * Ollama's clients show the "error" text as it is. */
#include "ollama.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define API SRV_API_OLLAMA

/* ------------------------------------------------------------------------- */
/* Field helpers                                                             */
/* ------------------------------------------------------------------------- */

static const cJSON *field(const cJSON *o, const char *name) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
    return v && !cJSON_IsNull(v) ? v : NULL;
}

/* 0 absent, 1 read, -1 error. Integers must be whole numbers in [lo, hi]. */
static int opt_number(const cJSON *o, const char *name, bool integer, double lo, double hi, double *out,
                      srv_error *err) {
    const cJSON *v = field(o, name);
    if (!v) return 0;
    char p[64];
    snprintf(p, sizeof p, "options.%s", name);
    if (!cJSON_IsNumber(v) || !isfinite(v->valuedouble)) {
        srv_bad(err, API, p, "invalid option %s: expected a number, got %s", p, srv_json_type(v));
        return -1;
    }
    double d = v->valuedouble;
    if (integer && floor(d) != d) {
        srv_bad(err, API, p, "invalid option %s: expected an integer, got %g", p, d);
        return -1;
    }
    if (d < lo || d > hi) {
        srv_bad(err, API, p, "invalid option %s = %g: out of range (expected %g..%g)", p, d, lo, hi);
        return -1;
    }
    *out = d;
    return 1;
}

/* Options Ollama's runner takes that have no meaning here (GPU layers,
 * mirostat, NUMA, ...): accepted and ignored, as Ollama ignores options a
 * model does not use. Anything else unknown is ignored too (Ollama only
 * warns in its log). */
static bool parse_options(srv_request *r, const cJSON *opts, const srv_limits *lim, srv_error *err) {
    llv_sampling_params *sp = &r->sampling;
    if (!opts) return true;
    if (!cJSON_IsObject(opts))
        return srv_bad(err, API, "options", "invalid options: expected an object, got %s", srv_json_type(opts));
    double d;
    int rc;
    if ((rc = opt_number(opts, "temperature", false, 0, LLV_SAMPLING_TEMPERATURE_MAX, &d, err)) < 0) return false;
    if (rc) sp->temperature = (float)d;
    if ((rc = opt_number(opts, "top_p", false, 0, 1, &d, err)) < 0) return false;
    if (rc) sp->top_p = (float)d;
    /* top_k 0 (or less) = off, as in Ollama's runner */
    if ((rc = opt_number(opts, "top_k", true, -1e9, LLV_SAMPLING_TOP_K_MAX, &d, err)) < 0) return false;
    if (rc) sp->top_k = d > 0 ? (int32_t)d : 0;
    if ((rc = opt_number(opts, "min_p", false, 0, LLV_SAMPLING_MIN_P_MAX, &d, err)) < 0) return false;
    if (rc) sp->min_p = (float)d;
    if ((rc = opt_number(opts, "repeat_penalty", false, 0, LLV_SAMPLING_PENALTY_MAX, &d, err)) < 0) return false;
    if (rc) sp->repetition_penalty = d == 0 ? 1.0f : (float)d; /* 0 = off in llama.cpp's runner */
    if ((rc = opt_number(opts, "frequency_penalty", false, 0, LLV_SAMPLING_PENALTY_MAX, &d, err)) < 0) return false;
    if (rc) sp->frequency_penalty = (float)d;
    if ((rc = opt_number(opts, "presence_penalty", false, 0, LLV_SAMPLING_PENALTY_MAX, &d, err)) < 0) return false;
    if (rc) sp->presence_penalty = (float)d;
    /* seed -1 (Ollama's default) = random */
    if ((rc = opt_number(opts, "seed", true, -1, (double)LLV_SAMPLING_SEED_MAX, &d, err)) < 0) return false;
    if (rc) sp->seed = d < 0 ? 0 : (uint64_t)d;
    double cap = lim && lim->max_tokens_cap > 0 ? lim->max_tokens_cap : LLV_SAMPLING_MAX_TOKENS_MAX;
    /* -1 = no limit, -2 = until the context is full: both end at the context */
    if ((rc = opt_number(opts, "num_predict", true, -2, cap, &d, err)) < 0) return false;
    if (rc && d != 0) sp->max_tokens = d > 0 ? (int32_t)d : (int32_t)cap;
    if ((rc = opt_number(opts, "num_ctx", true, 1, 1 << 30, &d, err)) < 0) return false;
    if (rc) r->num_ctx = (int32_t)d;
    const cJSON *stop = field(opts, "stop");
    if (stop) {
        if (cJSON_IsString(stop)) {
            if (stop->valuestring[0]) r->stop[r->n_stop++] = stop->valuestring;
        } else if (cJSON_IsArray(stop)) {
            if (cJSON_GetArraySize(stop) > SRV_MAX_STOP)
                return srv_bad(err, API, "options.stop", "invalid option options.stop: at most %d stop strings",
                               SRV_MAX_STOP);
            const cJSON *s;
            cJSON_ArrayForEach(s, stop) {
                if (!cJSON_IsString(s))
                    return srv_bad(err, API, "options.stop", "invalid option options.stop: items must be strings");
                if (s->valuestring[0]) r->stop[r->n_stop++] = s->valuestring;
            }
        } else {
            return srv_bad(err, API, "options.stop", "invalid option options.stop: expected an array of strings");
        }
    }
    return true;
}

/* A base64 image (Ollama sends bare base64; a data URL is taken too). */
static bool image_string(srv_request *r, const cJSON *v, const char *p, const srv_limits *lim, srv_error *err) {
    if (!cJSON_IsString(v))
        return srv_bad(err, API, p, "invalid %s: expected a base64 string, got %s", p, srv_json_type(v));
    const char *s = v->valuestring;
    if (!strncmp(s, "data:", 5)) {
        const char *comma = strchr(s, ',');
        if (!comma) return srv_bad(err, API, p, "invalid %s: malformed data URL (no ',')", p);
        s = comma + 1;
    }
    if (!srv_request_add_base64_image(r, s, strlen(s), p, lim, err)) {
        if (err->code == SRV_CODE_BAD_BASE64) snprintf(err->message, sizeof err->message, "invalid %s: not valid base64", p);
        return false;
    }
    return true;
}

/* The images array of a message (chat) or of the request (generate). */
static bool images_of(srv_request *r, const cJSON *imgs, const char *p, const srv_limits *lim, srv_error *err) {
    if (!imgs) return true;
    if (!cJSON_IsArray(imgs))
        return srv_bad(err, API, p, "invalid %s: expected an array of base64 strings, got %s", p, srv_json_type(imgs));
    int i = 0;
    const cJSON *v;
    cJSON_ArrayForEach(v, imgs) {
        char q[96];
        snprintf(q, sizeof q, "%s[%d]", p, i++);
        if (!image_string(r, v, q, lim, err)) return false;
    }
    return true;
}

/* keep_alive: a duration ("5m", "0", "-1") or seconds. Accepted (the model
 * stays loaded for the server's life); 0 asks for an unload. */
static bool keep_alive_zero(const cJSON *ka, bool *zero, srv_error *err) {
    *zero = false;
    if (!ka) return true;
    if (cJSON_IsNumber(ka)) {
        *zero = ka->valuedouble == 0;
        return true;
    }
    if (!cJSON_IsString(ka)) return srv_bad(err, API, "keep_alive", "invalid keep_alive: expected a duration string or a number");
    const char *s = ka->valuestring;
    char *end;
    double v = strtod(s, &end);
    if (end == s) return srv_bad(err, API, "keep_alive", "invalid keep_alive '%.40s': expected a duration like 5m", s);
    *zero = v == 0;
    return true;
}

static bool refuse_unsupported(const cJSON *root, bool chat, srv_error *err) {
    const cJSON *t = field(root, "template");
    if (t && (!cJSON_IsString(t) || t->valuestring[0]))
        return srv_bad(err, API, "template",
                       "template is not supported: llv renders the model's own chat format (use raw: true with a "
                       "prompt you formatted yourself)");
    const cJSON *th = field(root, "think");
    if (th && !cJSON_IsFalse(th))
        return srv_bad(err, API, "think", "this model does not support thinking");
    if (!chat) {
        const cJSON *sx = field(root, "suffix");
        if (sx && (!cJSON_IsString(sx) || sx->valuestring[0]))
            return srv_bad(err, API, "suffix", "suffix (fill-in-the-middle) is not supported by this model");
        const cJSON *cx = field(root, "context");
        if (cx && (!cJSON_IsArray(cx) || cJSON_GetArraySize(cx) > 0))
            return srv_bad(err, API, "context",
                           "context (token ids of an earlier answer) is not supported: send the conversation to "
                           "/api/chat instead");
    }
    return true;
}

/* `format`: "json" or a JSON schema object, kept for the structured-output
 * constraint (srv_request.format). */
static bool parse_format(srv_request *r, const cJSON *root, srv_error *err) {
    const cJSON *f = field(root, "format");
    if (!f) return true;
    if (cJSON_IsString(f)) {
        if (!f->valuestring[0]) return true;
        if (strcmp(f->valuestring, "json"))
            return srv_bad(err, API, "format", "invalid format '%.40s': expected \"json\" or a JSON schema object",
                           f->valuestring);
        r->format = "json";
        r->sampling.json_object = true; /* as Ollama: any JSON object */
        return true;
    }
    if (!cJSON_IsObject(f))
        return srv_bad(err, API, "format", "invalid format: expected \"json\" or a JSON schema object, got %s",
                       srv_json_type(f));
    r->format = srv_request_keep(r, cJSON_PrintUnformatted(f));
    if (!r->format) {
        srv_error_set(err, 503, SRV_CODE_CAPACITY, "format", "out of memory for the format");
        return false;
    }
    r->sampling.json_schema = r->format;
    return srv_request_check_constraint(r, "format", err);
}

/* ------------------------------------------------------------------------- */
/* Messages                                                                  */
/* ------------------------------------------------------------------------- */

static bool parse_chat(srv_request *r, const cJSON *msgs, const srv_limits *lim, srv_error *err) {
    if (!cJSON_IsArray(msgs))
        return srv_bad(err, API, "messages", "invalid messages: expected an array, got %s", srv_json_type(msgs));
    int n = cJSON_GetArraySize(msgs);
    size_t total_parts = 0;
    const cJSON *m;
    cJSON_ArrayForEach(m, msgs) {
        const cJSON *im = cJSON_IsObject(m) ? field(m, "images") : NULL;
        total_parts += 1 + (cJSON_IsArray(im) ? (size_t)cJSON_GetArraySize(im) : 0);
    }
    r->msgs = calloc((size_t)n + 1, sizeof *r->msgs);
    r->parts = calloc(total_parts + 1, sizeof *r->parts);
    if (!r->msgs || !r->parts) {
        srv_error_set(err, 503, SRV_CODE_CAPACITY, "messages", "out of memory for the messages");
        return false;
    }
    int i = 0;
    cJSON_ArrayForEach(m, msgs) {
        char p[48], q[80];
        snprintf(p, sizeof p, "messages[%d]", i);
        if (!cJSON_IsObject(m)) return srv_bad(err, API, p, "invalid %s: expected an object, got %s", p, srv_json_type(m));
        llv_message *lm = &r->msgs[i++];
        const cJSON *role = field(m, "role");
        if (!cJSON_IsString(role)) return srv_bad(err, API, p, "invalid %s: 'role' is required and must be a string", p);
        const char *rs = role->valuestring;
        if (strcmp(rs, "system") && strcmp(rs, "user") && strcmp(rs, "assistant") && strcmp(rs, "tool"))
            return srv_bad(err, API, p, "invalid role '%.40s' in %s (expected system, user, assistant or tool)", rs, p);
        lm->role = rs;
        const cJSON *c = field(m, "content");
        snprintf(q, sizeof q, "%s.content", p);
        if (c && !cJSON_IsString(c))
            return srv_bad(err, API, q, "invalid %s: expected a string, got %s", q, srv_json_type(c));
        const char *content = c ? c->valuestring : "";
        const cJSON *tcs = field(m, "tool_calls");
        if (tcs) {
            snprintf(q, sizeof q, "%s.tool_calls", p);
            if (!cJSON_IsArray(tcs)) return srv_bad(err, API, q, "invalid %s: expected an array", q);
            const cJSON *tc0 = cJSON_GetArrayItem(tcs, 0);
            if (tc0) {
                const cJSON *fn = field(tc0, "function");
                const cJSON *nm = fn ? field(fn, "name") : NULL;
                if (!cJSON_IsString(nm)) return srv_bad(err, API, q, "invalid %s[0]: 'function.name' must be a string", q);
                const cJSON *args = field(fn, "arguments");
                lm->tool_call_name = nm->valuestring;
                if (cJSON_IsString(args)) lm->tool_call_arguments = args->valuestring;
                else if (cJSON_IsObject(args)) lm->tool_call_arguments = srv_request_keep(r, cJSON_PrintUnformatted(args));
                if (!lm->tool_call_arguments) lm->tool_call_arguments = "{}";
            }
        }
        size_t first_img = r->n_images;
        snprintf(q, sizeof q, "%s.images", p);
        if (!images_of(r, field(m, "images"), q, lim, err)) return false;
        if (r->n_images > first_img) {
            /* Ollama's template for this model puts the images before the text */
            lm->parts = &r->parts[r->n_parts];
            for (size_t k = first_img; k < r->n_images; k++)
                r->parts[r->n_parts++] = (llv_part){.type = LLV_PART_IMAGE, .image = r->images[k].bytes,
                                                    .image_bytes = r->images[k].n};
            r->parts[r->n_parts++] = (llv_part){.type = LLV_PART_TEXT, .text = content};
            lm->n_parts = (size_t)(&r->parts[r->n_parts] - lm->parts);
        } else {
            lm->content = content;
        }
    }
    r->n_msgs = (size_t)n;
    return true;
}

static bool parse_generate(srv_request *r, const cJSON *root, const cJSON *prompt, const srv_limits *lim,
                           srv_error *err) {
    if (prompt && !cJSON_IsString(prompt))
        return srv_bad(err, API, "prompt", "invalid prompt: expected a string, got %s", srv_json_type(prompt));
    r->prompt = prompt ? prompt->valuestring : ""; /* images without a question */
    if (!images_of(r, field(root, "images"), "images", lim, err)) return false;
    const cJSON *raw = field(root, "raw");
    if (raw && !cJSON_IsBool(raw)) return srv_bad(err, API, "raw", "invalid raw: expected a boolean");
    r->raw = raw && cJSON_IsTrue(raw);
    const cJSON *sys = field(root, "system");
    if (sys && !cJSON_IsString(sys)) return srv_bad(err, API, "system", "invalid system: expected a string");
    r->kind = SRV_KIND_PROMPT;
    if (r->raw) return srv_request_check_raw_images(r, "prompt", err);
    /* [system,] user(images..., prompt) */
    r->msgs = calloc(2, sizeof *r->msgs);
    r->parts = calloc(r->n_images + 1, sizeof *r->parts);
    if (!r->msgs || !r->parts) {
        srv_error_set(err, 503, SRV_CODE_CAPACITY, "prompt", "out of memory");
        return false;
    }
    if (sys && sys->valuestring[0]) r->msgs[r->n_msgs++] = (llv_message){.role = "system", .content = sys->valuestring};
    llv_message *u = &r->msgs[r->n_msgs++];
    u->role = "user";
    if (r->n_images) {
        for (size_t k = 0; k < r->n_images; k++)
            r->parts[r->n_parts++] = (llv_part){.type = LLV_PART_IMAGE, .image = r->images[k].bytes,
                                                .image_bytes = r->images[k].n};
        r->parts[r->n_parts++] = (llv_part){.type = LLV_PART_TEXT, .text = r->prompt};
        u->parts = r->parts;
        u->n_parts = r->n_parts;
    } else {
        u->content = r->prompt;
    }
    return true;
}

bool srv_ollama_parse(const char *body, size_t n, bool chat, const srv_limits *lim, srv_request *r,
                      srv_error *err) {
    memset(r, 0, sizeof *r);
    r->api = API;
    r->kind = chat ? SRV_KIND_MESSAGES : SRV_KIND_PROMPT;
    r->stream = true;
    r->root = srv_json_parse_body(body, n, API, err);
    if (!r->root) return false;
    const cJSON *root = r->root;
    if (!cJSON_IsObject(root)) return srv_bad(err, API, "", "invalid request: expected a JSON object, got %s", srv_json_type(root));
    const cJSON *model = field(root, "model");
    if (!model) model = field(root, "name");
    if (!cJSON_IsString(model) || !model->valuestring[0]) return srv_bad(err, API, "model", "model is required");
    r->model = model->valuestring;
    const cJSON *st = field(root, "stream");
    if (st && !cJSON_IsBool(st)) return srv_bad(err, API, "stream", "invalid stream: expected a boolean");
    if (st) r->stream = cJSON_IsTrue(st);
    if (!refuse_unsupported(root, chat, err)) return false;
    bool ka0;
    if (!keep_alive_zero(field(root, "keep_alive"), &ka0, err)) return false;

    /* Ollama's defaults for this model (its Modelfile): temperature 0.6,
     * top_p 0.9; no answer limit but the context */
    llv_sampling_params *sp = &r->sampling;
    *sp = llv_sampling_default_params();
    sp->temperature = 0.6f;
    sp->top_p = 0.9f;
    sp->max_tokens = lim && lim->max_tokens_cap > 0 ? lim->max_tokens_cap : LLV_SAMPLING_MAX_TOKENS_MAX;
    if (!parse_options(r, field(root, "options"), lim, err)) return false;
    /* top-level, as Ollama has them: top_logprobs counts only with logprobs */
    const cJSON *lp = field(root, "logprobs"), *tl = field(root, "top_logprobs");
    if (lp && !cJSON_IsBool(lp)) return srv_bad(err, API, "logprobs", "invalid logprobs: expected a boolean");
    if (tl && (!cJSON_IsNumber(tl) || floor(tl->valuedouble) != tl->valuedouble || tl->valuedouble < 0 ||
               tl->valuedouble > LLV_SAMPLING_TOP_LOGPROBS_MAX))
        return srv_bad(err, API, "top_logprobs", "top_logprobs must be between 0 and %d",
                       LLV_SAMPLING_TOP_LOGPROBS_MAX);
    sp->logprobs = lp && cJSON_IsTrue(lp);
    sp->top_logprobs = sp->logprobs && tl ? (int32_t)tl->valuedouble : 0;
    if (lim) sp->timeout_ms = lim->timeout_ms;
    llv_error e;
    if (llv_sampling_params_validate(sp, &e)) return srv_bad(err, API, "options", "invalid options: %s", e.message);
    if (!parse_format(r, root, err)) return false; /* on the sampling params above */

    r->images = calloc(SRV_MAX_IMAGES, sizeof *r->images);
    if (!r->images) {
        srv_error_set(err, 503, SRV_CODE_CAPACITY, "", "out of memory");
        return false;
    }
    if (chat) {
        if (!srv_request_set_tools(r, field(root, "tools"), NULL, err)) return false;
        const cJSON *msgs = field(root, "messages");
        if (!msgs || (cJSON_IsArray(msgs) && cJSON_GetArraySize(msgs) == 0)) {
            r->load_only = true;
            r->unload = ka0;
            return true;
        }
        return parse_chat(r, msgs, lim, err);
    }
    const cJSON *prompt = field(root, "prompt");
    const cJSON *imgs = field(root, "images");
    if ((!prompt || (cJSON_IsString(prompt) && !prompt->valuestring[0])) &&
        !(cJSON_IsArray(imgs) && cJSON_GetArraySize(imgs) > 0)) {
        r->load_only = true;
        r->unload = ka0;
        return true;
    }
    return parse_generate(r, root, prompt, lim, err);
}

bool srv_ollama_show_name(const char *body, size_t n, char *out, size_t cap, srv_error *err) {
    cJSON *root = srv_json_parse_body(body, n, API, err);
    if (!root) return false;
    const cJSON *m = cJSON_IsObject(root) ? field(root, "model") : NULL;
    if (!m && cJSON_IsObject(root)) m = field(root, "name");
    bool ok = cJSON_IsString(m) && m->valuestring[0];
    if (ok) snprintf(out, cap, "%s", m->valuestring);
    else srv_bad(err, API, "model", "model is required");
    cJSON_Delete(root);
    return ok;
}

/* "name" and "name:latest" are one model; names compare case-insensitively
 * as Ollama's do. */
static size_t base_len(const char *s) {
    const char *c = strrchr(s, ':');
    const char *slash = strrchr(s, '/');
    if (c && (!slash || c > slash) && !strcmp(c, ":latest")) return (size_t)(c - s);
    return strlen(s);
}

static bool same_name(const char *a, const char *b) {
    size_t na = base_len(a), nb = base_len(b);
    return na == nb && !strncasecmp(a, b, na);
}

bool srv_ollama_name_matches(const char *asked, const char *served, const char *alt) {
    return same_name(asked, served) || (alt && !strcmp(asked, alt));
}

/* ------------------------------------------------------------------------- */
/* Bodies                                                                    */
/* ------------------------------------------------------------------------- */

/* RFC 3339 in UTC with nanoseconds, as Go prints a time (Ollama's created_at). */
static void rfc3339(char *out, size_t cap, const struct timespec *ts) {
    struct tm tm;
    gmtime_r(&ts->tv_sec, &tm);
    char d[32];
    strftime(d, sizeof d, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(out, cap, "%s.%09ldZ", d, ts->tv_nsec);
}

static void add_now(cJSON *o, const char *name) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    char t[48];
    rfc3339(t, sizeof t, &ts);
    cJSON_AddStringToObject(o, name, t);
}

static void add_time(cJSON *o, const char *name, long unix_s) {
    struct timespec ts = {.tv_sec = unix_s, .tv_nsec = 0};
    char t[48];
    rfc3339(t, sizeof t, &ts);
    cJSON_AddStringToObject(o, name, t);
}

/* The JSON text + "\n" (one NDJSON line; also fine as a plain body). */
static char *line_and_free(cJSON *o) {
    char *j = o ? cJSON_PrintUnformatted(o) : NULL;
    cJSON_Delete(o);
    if (!j) return NULL;
    size_t n = strlen(j);
    char *s = realloc(j, n + 2);
    if (!s) {
        free(j);
        return NULL;
    }
    s[n] = '\n';
    s[n + 1] = 0;
    return s;
}

static cJSON *head(const char *model) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "model", model ? model : "");
    add_now(o, "created_at");
    return o;
}

/* Ollama's "logprobs": a top-level array, omitted when empty */
static void add_logprobs(cJSON *o, const srv_logprobs *lp) {
    if (lp && lp->n) cJSON_AddItemToObject(o, "logprobs", srv_json_logprobs(lp, true));
}

char *srv_ollama_piece(bool chat, const char *model, const char *piece, size_t n, const srv_logprobs *lp) {
    cJSON *o = head(model);
    if (chat) {
        cJSON *m = cJSON_AddObjectToObject(o, "message");
        cJSON_AddStringToObject(m, "role", "assistant");
        cJSON_AddItemToObject(m, "content", srv_json_string_n(piece, n));
    } else {
        cJSON_AddItemToObject(o, "response", srv_json_string_n(piece, n));
    }
    cJSON_AddFalseToObject(o, "done");
    add_logprobs(o, lp);
    return line_and_free(o);
}

const char *srv_ollama_done_reason(llv_stop_reason r) {
    switch (r) {
    case LLV_STOP_LENGTH:
    case LLV_STOP_CONTEXT: return "length";
    case LLV_STOP_TIMEOUT: return "timeout";
    default: return "stop";
    }
}

/* Ollama's tool calls: arguments as an object */
static cJSON *tool_calls(const llv_tool_call *tc, size_t n) {
    cJSON *arr = cJSON_CreateArray();
    for (size_t i = 0; i < n; i++) {
        cJSON *c = cJSON_CreateObject();
        cJSON *f = cJSON_AddObjectToObject(c, "function");
        cJSON_AddNumberToObject(f, "index", (double)i);
        cJSON_AddStringToObject(f, "name", tc[i].name ? tc[i].name : "");
        cJSON *a = tc[i].arguments ? cJSON_Parse(tc[i].arguments) : NULL;
        if (!cJSON_IsObject(a)) {
            cJSON_Delete(a);
            a = cJSON_CreateObject();
        }
        cJSON_AddItemToObject(f, "arguments", a);
        cJSON_AddItemToArray(arr, c);
    }
    return arr;
}

char *srv_ollama_final(bool chat, const char *model, const char *text, const llv_tool_call *tc, size_t n_tc,
                       const char *done_reason, const srv_ollama_timing *t, const srv_logprobs *lp) {
    cJSON *o = head(model);
    bool gen = t != NULL; /* load/unload answers carry no counts */
    if (chat) {
        cJSON *m = cJSON_AddObjectToObject(o, "message");
        cJSON_AddStringToObject(m, "role", "assistant");
        cJSON_AddStringToObject(m, "content", n_tc ? "" : text ? text : "");
        if (n_tc) cJSON_AddItemToObject(m, "tool_calls", tool_calls(tc, n_tc));
    } else {
        cJSON_AddStringToObject(o, "response", text ? text : "");
    }
    cJSON_AddTrueToObject(o, "done");
    cJSON_AddStringToObject(o, "done_reason", done_reason);
    if (gen) {
        cJSON_AddNumberToObject(o, "total_duration", (double)t->total_ns);
        cJSON_AddNumberToObject(o, "load_duration", (double)t->load_ns);
        cJSON_AddNumberToObject(o, "prompt_eval_count", t->prompt_tokens);
        cJSON_AddNumberToObject(o, "prompt_eval_duration", (double)t->prompt_ns);
        cJSON_AddNumberToObject(o, "eval_count", t->eval_tokens);
        cJSON_AddNumberToObject(o, "eval_duration", (double)t->eval_ns);
    }
    add_logprobs(o, lp);
    return line_and_free(o);
}

/* ------------------------------------------------------------------------- */
/* Model listing                                                             */
/* ------------------------------------------------------------------------- */

/* Not a content hash (hashing a many-GB file per listing is too slow): a
 * stable 64-hex id of the file's name, size and mtime, in Ollama's form. */
static void digest(const srv_ollama_model *m, char out[65]) {
    llv_model_info mi;
    llv_model_get_info(m->model, &mi);
    uint64_t h[4] = {0xcbf29ce484222325ull, 0x84222325cbf29ce4ull, 0x9e3779b97f4a7c15ull, 0xbf58476d1ce4e5b9ull};
    char key[512];
    snprintf(key, sizeof key, "%s|%llu|%ld", m->path ? m->path : "", (unsigned long long)mi.file_bytes, m->modified);
    for (int k = 0; k < 4; k++)
        for (const char *s = key; *s; s++) h[k] = (h[k] ^ (unsigned char)*s) * 0x100000001b3ull + (uint64_t)k;
    snprintf(out, 65, "%016llx%016llx%016llx%016llx", (unsigned long long)h[0], (unsigned long long)h[1],
             (unsigned long long)h[2], (unsigned long long)h[3]);
}

static void param_size(uint64_t n, char *out, size_t cap) {
    if (n >= 1000000000ull) snprintf(out, cap, "%.1fB", (double)n / 1e9);
    else if (n >= 1000000ull) snprintf(out, cap, "%.1fM", (double)n / 1e6);
    else snprintf(out, cap, "%lluK", (unsigned long long)(n / 1000));
}

static cJSON *details(const llv_model_info *mi) {
    cJSON *d = cJSON_CreateObject();
    cJSON_AddStringToObject(d, "parent_model", "");
    cJSON_AddStringToObject(d, "format", "gguf");
    cJSON_AddStringToObject(d, "family", mi->architecture);
    cJSON *fam = cJSON_AddArrayToObject(d, "families");
    cJSON_AddItemToArray(fam, cJSON_CreateString(mi->architecture));
    char ps[32];
    param_size(mi->n_params, ps, sizeof ps);
    cJSON_AddStringToObject(d, "parameter_size", ps);
    char tn[32] = "";
    const char *t = llv_type_name(mi->weight_type);
    for (size_t i = 0; t && t[i] && i + 1 < sizeof tn; i++) tn[i] = (char)(t[i] >= 'a' && t[i] <= 'z' ? t[i] - 32 : t[i]);
    cJSON_AddStringToObject(d, "quantization_level", tn);
    return d;
}

static cJSON *model_entry(const srv_ollama_model *m, bool running) {
    llv_model_info mi;
    llv_model_get_info(m->model, &mi);
    char dg[65];
    digest(m, dg);
    cJSON *e = cJSON_CreateObject();
    cJSON_AddStringToObject(e, "name", m->name);
    cJSON_AddStringToObject(e, "model", m->name);
    if (!running) add_time(e, "modified_at", m->modified);
    cJSON_AddNumberToObject(e, "size", (double)(mi.file_bytes + (running ? m->kv_bytes : 0)));
    cJSON_AddStringToObject(e, "digest", dg);
    cJSON_AddItemToObject(e, "details", details(&mi));
    if (running) {
        /* kept loaded for the server's life */
        add_time(e, "expires_at", m->started + 100L * 365 * 86400);
        cJSON_AddNumberToObject(e, "size_vram", 0);
        cJSON_AddNumberToObject(e, "context_length", m->n_ctx);
    }
    return e;
}

char *srv_ollama_tags(const srv_ollama_model *m) {
    cJSON *o = cJSON_CreateObject();
    cJSON *arr = cJSON_AddArrayToObject(o, "models");
    cJSON_AddItemToArray(arr, model_entry(m, false));
    return line_and_free(o);
}

char *srv_ollama_ps(const srv_ollama_model *m) {
    cJSON *o = cJSON_CreateObject();
    cJSON *arr = cJSON_AddArrayToObject(o, "models");
    cJSON_AddItemToArray(arr, model_entry(m, true));
    return line_and_free(o);
}

char *srv_ollama_show(const srv_ollama_model *m) {
    llv_model_info mi;
    llv_model_get_info(m->model, &mi);
    cJSON *o = cJSON_CreateObject();
    char mf[1200];
    snprintf(mf, sizeof mf,
             "# served by llv-server %s (a GGUF file loaded at start)\nFROM %s\nPARAMETER temperature 0.6\n"
             "PARAMETER top_p 0.9\n",
             llv_version(), m->path ? m->path : "");
    cJSON_AddStringToObject(o, "modelfile", mf);
    cJSON_AddStringToObject(o, "parameters", "temperature                    0.6\ntop_p                          0.9");
    cJSON_AddStringToObject(o, "template", mi.chat_template ? mi.chat_template : "");
    cJSON_AddItemToObject(o, "details", details(&mi));
    cJSON *info = cJSON_AddObjectToObject(o, "model_info");
    char k[96];
    cJSON_AddStringToObject(info, "general.architecture", mi.architecture);
    if (mi.name && mi.name[0]) cJSON_AddStringToObject(info, "general.name", mi.name);
    cJSON_AddNumberToObject(info, "general.parameter_count", (double)mi.n_params);
    snprintf(k, sizeof k, "%s.context_length", mi.architecture);
    cJSON_AddNumberToObject(info, k, mi.n_ctx_train);
    snprintf(k, sizeof k, "%s.embedding_length", mi.architecture);
    cJSON_AddNumberToObject(info, k, mi.n_embd);
    snprintf(k, sizeof k, "%s.block_count", mi.architecture);
    cJSON_AddNumberToObject(info, k, mi.n_layer);
    if (mi.has_vision) {
        snprintf(k, sizeof k, "%s.vision.image_size", mi.architecture);
        cJSON_AddNumberToObject(info, k, mi.image_size);
        snprintf(k, sizeof k, "%s.vision.max_num_tiles", mi.architecture);
        cJSON_AddNumberToObject(info, k, mi.max_tiles);
    }
    cJSON *caps = cJSON_AddArrayToObject(o, "capabilities");
    cJSON_AddItemToArray(caps, cJSON_CreateString("completion"));
    if (mi.has_vision) cJSON_AddItemToArray(caps, cJSON_CreateString("vision"));
    if (!strcmp(mi.chat_format, "llama3")) cJSON_AddItemToArray(caps, cJSON_CreateString("tools"));
    add_time(o, "modified_at", m->modified);
    return line_and_free(o);
}

char *srv_ollama_version(void) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "version", SRV_OLLAMA_API_VERSION);
    return line_and_free(o);
}
