/* api.h - maps a request body (Workers AI prompt/messages variants, OpenAI
 * chat completions) to a generation request, with the hosted API's
 * validation. No HTTP and no model here, so it is unit-testable. */
#ifndef LLV_SERVER_API_H
#define LLV_SERVER_API_H

#include "llv.h"

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SRV_MAX_JSON_DEPTH 64
#define SRV_MAX_PROMPT_CHARS 131072
#define SRV_MAX_STOP 8   /* stop strings per request (OpenAI allows 4) */
#define SRV_MAX_IMAGES 8 /* images per request                           */

/* Error codes of the hosted API (Workers AI errors table) and our additions. */
enum {
    SRV_CODE_BAD_INPUT = 5006,      /* 400: schema validation                   */
    SRV_CODE_BAD_BASE64 = 5004,     /* 400: invalid base64 input                */
    SRV_CODE_NO_SUCH_MODEL = 5007,  /* 400: model name not served               */
    SRV_CODE_TOO_LARGE = 3006,      /* 413: request too large                   */
    SRV_CODE_TIMEOUT = 3007,        /* 408: request timed out                   */
    SRV_CODE_CAPACITY = 3040,       /* 429/503: out of capacity / not ready     */
    SRV_CODE_NOT_FOUND = 7003,      /* 404: could not route                     */
    SRV_CODE_METHOD = 7001,         /* 405: method not allowed                  */
    SRV_CODE_AUTH = 10000,          /* 401: authentication error                */
    SRV_CODE_INTERNAL = 3043        /* 500: internal error                      */
};

typedef enum srv_api {
    SRV_API_WORKERS = 0, /* /ai/run/<model>: envelope, {response, tool_calls, usage} */
    SRV_API_OPENAI = 1,  /* /v1/chat/completions                                      */
    SRV_API_OLLAMA = 2   /* /api/chat, /api/generate (ollama.c): NDJSON, {"error": ...}  */
} srv_api;

typedef struct srv_error {
    int  http;          /* HTTP status                                  */
    int  code;          /* envelope error code (SRV_CODE_*)             */
    char param[96];     /* offending field ("max_tokens", "messages[0].content"), or "" */
    char message[600];  /* human-readable, names the field               */
    const char *oai_code; /* OpenAI `code` when more specific than `code`'s
                             ("context_length_exceeded"), or NULL         */
} srv_error;

typedef struct srv_image {
    uint8_t *bytes;
    size_t   n;
} srv_image;

typedef enum srv_kind { SRV_KIND_PROMPT = 0, SRV_KIND_MESSAGES = 1 } srv_kind;

/* One answer token's log-probabilities (llv_session_logprobs) and the byte
 * offset in the answer text where the token's text starts. */
typedef struct srv_logprob {
    llv_logprob_entry e;
    size_t            start;
} srv_logprob;

typedef struct srv_request {
    srv_api  api;
    srv_kind kind;
    bool     stream;
    bool     raw;           /* prompt variant: no chat template           */
    bool     include_usage; /* OpenAI stream_options.include_usage       */
    bool     has_tools;
    bool     forced_tool;   /* OpenAI tool_choice required / named: the answer must be a call */
    const char *prompt;     /* prompt variant (points into root)          */
    const char *model;      /* OpenAI "model" or NULL                     */

    srv_image *images;      /* decoded images in order of appearance      */
    size_t     n_images;

    llv_message *msgs;      /* messages variant (or the prompt as one user turn) */
    size_t       n_msgs;
    llv_part    *parts;     /* storage for all parts of all messages      */
    size_t       n_parts;

    char *tools_json;       /* JSON array or NULL                         */
    llv_sampling_params sampling; /* .logprobs/.top_logprobs: OpenAI's logprobs, top_logprobs */
    int   n_stop;
    const char *stop[SRV_MAX_STOP]; /* stop strings (point into root)     */
    const char *format;     /* Ollama `format`: "json", a JSON schema's text, or NULL */
    int32_t num_ctx;        /* Ollama options.num_ctx: prompt + answer tokens (0 = the session's) */
    bool    load_only;      /* Ollama: no prompt/messages: answer done_reason "load"/"unload" */
    bool    unload;         /* ... with keep_alive 0                      */

    cJSON *root;            /* keeps the strings alive                    */
    char  *scratch[8];      /* other owned strings                        */
    int    n_scratch;
} srv_request;

/* Fetches an http(s) image URL into *out (malloc'd; at most max_bytes).
 * False with `why` filled on any failure. */
typedef bool (*srv_fetch_fn)(void *user, const char *url, size_t max_bytes, uint8_t **out, size_t *n, char *why,
                             size_t why_cap);

typedef struct srv_limits {
    int32_t max_tokens_cap;  /* upper bound for max_tokens (0 = library's)  */
    int32_t timeout_ms;      /* per-request generation limit (0 = none)     */
    size_t  max_image_bytes; /* decoded image bytes per image (0 = none)    */
    bool    have_lora;       /* adapters are loaded (--lora)                */
    const llv_model *model;  /* for the adapter names (llv_model_lora_name) */
    srv_fetch_fn fetch;      /* image URLs (--allow-image-urls), or NULL: refused */
    void        *fetch_user;
} srv_limits;

/* Returns the maximum nesting depth of [ and { in the JSON text (strings
 * skipped), stopping early once `limit` is exceeded (returns limit + 1). */
int srv_json_depth(const char *s, size_t n, int limit);

/* Decodes standard or URL-safe base64 (padding optional, whitespace
 * ignored). Returns false on an invalid character or length. *out is
 * malloc'd (may be NULL when *n == 0 with a non-NULL dummy). */
bool srv_base64_decode(const char *s, size_t n, uint8_t **out, size_t *out_n);
/* Encodes to a malloc'd NUL-terminated string. */
char *srv_base64_encode(const uint8_t *p, size_t n);

/* Parses and validates `body` (need not be NUL-terminated) for `api`. On
 * success fills *req (free with srv_request_free) and returns true; on
 * failure fills *err (HTTP status, code, field) and returns false. */
bool srv_request_parse(const char *body, size_t n, srv_api api, const srv_limits *lim, srv_request *req,
                       srv_error *err);
void srv_request_free(srv_request *req);

/* --- shared by the request mappers (api.c, ollama.c) --- */

/* Checks a body (size, NUL bytes, nesting, value count) and parses it: the
 * root, or NULL with err filled (400, or 413 for too many values). */
cJSON *srv_json_parse_body(const char *body, size_t n, srv_api api, srv_error *err);
/* "null", "boolean", "number", "string", "array", "object". */
const char *srv_json_type(const cJSON *v);
/* A 400 schema error (the Workers routes' "AiError: Bad input: " wording);
 * returns false. */
bool srv_bad(srv_error *err, srv_api api, const char *param, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* Decodes base64 image bytes into r->images (count and size limits). */
bool srv_request_add_base64_image(srv_request *r, const char *s, size_t n, const char *param, const srv_limits *lim,
                                  srv_error *err);
/* Checks an OpenAI-style `tools` array (and the Workers `functions`, either
 * may be NULL) and keeps their definitions in r->tools_json. */
bool srv_request_set_tools(srv_request *r, const cJSON *tools, const cJSON *funcs, srv_error *err);
/* The structured-output constraint in r->sampling compiles (else a 400 on
 * `param` naming the library's message, e.g. an unsupported schema keyword). */
bool srv_request_check_constraint(srv_request *r, const char *param, srv_error *err);
/* A raw prompt's rule: exactly one <|image|> per image given (else a 400 on
 * `param`, false). */
bool srv_request_check_raw_images(const srv_request *r, const char *param, srv_error *err);
/* Keeps a malloc'd string until srv_request_free (NULL when full). */
char *srv_request_keep(srv_request *r, char *s);

/* The request's conversation as a list of hashes, one per message (role,
 * text, images, tool call) or one for a raw prompt (with its images), so the
 * pool can pick the kept session that holds the longest equal start
 * (prefix cache). At most cap entries; returns the count. */
#define SRV_KEY_MAX 64
size_t   srv_request_key(const srv_request *r, uint64_t *key, size_t cap);
/* The hash of an assistant message whose content is text[0..n): what a
 * client resending the conversation sends for this answer. */
uint64_t srv_key_answer(const char *text, size_t n);

/* Fills err; formats message printf-style. */
void srv_error_set(srv_error *err, int http, int code, const char *param, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

/* Maps a library failure (during session input or generation) to an HTTP
 * error in the wording of `api`: bad images/limits are 400 (a full context
 * with OpenAI's code context_length_exceeded), out of memory 503, others 500. */
void srv_error_from_llv(srv_error *err, srv_api api, const llv_error *e, const char *what);

#endif
