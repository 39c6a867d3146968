/* chat.c - chat formats: the Llama 3.2 Vision chat template
 * (shared/reference/chat-template/llama-3.2-11b-vision-instruct.jinja, the
 * current hub version) implemented natively, byte for byte, as rendered by
 * transformers' apply_chat_template (jinja2 with trim_blocks/lstrip_blocks,
 * transformers' tojson = json.dumps(ensure_ascii=False)).
 *
 * What the template does, in order:
 *   BOS; a first "system" message is taken out (content |trim);
 *   the system block ("Environment: ipython" when tools are given, the
 *   knowledge/today dates, the system text) is emitted if the user supplied a
 *   system message or no remaining message has an image part;
 *   with tools, the first remaining message is taken out and its (trimmed)
 *   content follows the tool JSON schemas (json.dumps(indent=4)) in a user turn;
 *   every remaining message becomes a turn: assistant tool calls as
 *   {"name": "...", "parameters": <json.dumps(arguments)>}, tool/ipython
 *   results under the "ipython" header as json.dumps(content) (a string is
 *   JSON-quoted: jinja's `iterable` test is true for strings), others as
 *   header + content (image parts -> "<|image|>");
 *   the generation prompt.
 *
 * Deliberate differences where the template would produce garbage: a system
 * message or a tools-first-user message given as parts is rendered from its
 * parts (the template would print Python's repr of the list); image parts are
 * rejected in system and tool messages (no place for them).
 *
 * Every image part becomes exactly one "<|image|>", in message and part
 * order (images are accepted only where the template prints them); for the
 * session it becomes its offset in the text instead, where the session puts
 * the image token itself.
 *
 * Tool JSON is parsed by a small parser that keeps what json.loads would see
 * (number lexemes: int vs float; duplicate keys: first position, last value),
 * so the output equals Python's json.dumps.
 *
 * ChatML (SmolLM2, Qwen2 without tools) is the second format; a model's
 * format is recognised from its tokenizer.chat_template (llv_chat_format_init)
 * or named by the user. */
#include "chat.h"

#include "model.h"
#include "utf8.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define JSON_MAX_DEPTH 512

/* ------------------------------------------------------------------------- */
/* Growable output buffer                                                    */
/* ------------------------------------------------------------------------- */

typedef struct sbuf {
    char  *p;
    size_t len, cap;
    bool   oom;
    /* want_marks: image parts are not written but their offsets recorded */
    bool    want_marks;
    size_t *marks, n_marks, cap_marks;
} sbuf;

static void sb_put(sbuf *b, const char *s, size_t n) {
    if (b->oom || n == 0) return;
    size_t need;
    if (!llv_add_size(b->len, n, &need) || !llv_add_size(need, 1, &need)) {
        b->oom = true;
        return;
    }
    if (need > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < need) {
            if (!llv_mul_size(cap, 2, &cap)) {
                cap = need;
                break;
            }
        }
        char *q = realloc(b->p, cap);
        if (!q) {
            b->oom = true;
            return;
        }
        b->p = q;
        b->cap = cap;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}
static void sb_str(sbuf *b, const char *s) { sb_put(b, s, strlen(s)); }
static void sb_chr(sbuf *b, char c) { sb_put(b, &c, 1); }

/* ------------------------------------------------------------------------- */
/* UTF-8                                                                     */
/* ------------------------------------------------------------------------- */

/* Returns SIZE_MAX if valid, else the offset of the first invalid byte. */
static size_t utf8_invalid_at(const char *s, size_t n) {
    size_t v = llv_utf8_valid_prefix((const unsigned char *)s, n);
    return v == n ? SIZE_MAX : v;
}

static size_t utf8_encode(uint32_t cp, char out[4]) {
    if (cp < 0x80) {
        out[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (char)(0xC0 | (cp >> 6));
        out[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (char)(0xE0 | (cp >> 12));
        out[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        out[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    out[0] = (char)(0xF0 | (cp >> 18));
    out[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    out[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
    out[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

/* Python's str.isspace() (what jinja's |trim strips). */
static bool py_isspace(uint32_t c) {
    return (c >= 0x09 && c <= 0x0D) || (c >= 0x1C && c <= 0x20) || c == 0x85 || c == 0xA0 || c == 0x1680 ||
           (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 || c == 0x202F || c == 0x205F ||
           c == 0x3000;
}

/* Python str.strip() on valid UTF-8: [*start, *end). */
static void py_strip(const char *s, size_t n, size_t *start, size_t *end) {
    const unsigned char *u = (const unsigned char *)s;
    size_t a = 0, b = n;
    while (a < b) {
        uint32_t cp;
        size_t l = llv_utf8_decode(u + a, b - a, &cp);
        if (!l || !py_isspace(cp)) break;
        a += l;
    }
    while (b > a) {
        size_t k = b - 1;
        while (k > a && (u[k] & 0xC0) == 0x80) k--;
        uint32_t cp;
        size_t l = llv_utf8_decode(u + k, b - k, &cp);
        if (!l || !py_isspace(cp)) break;
        b = k;
    }
    *start = a;
    *end = b;
}

/* ------------------------------------------------------------------------- */
/* JSON as Python's json module sees it                                      */
/* ------------------------------------------------------------------------- */

typedef enum { PJ_NULL, PJ_FALSE, PJ_TRUE, PJ_INT, PJ_FLOAT, PJ_STR, PJ_ARR, PJ_OBJ } pj_type;

typedef struct pj {
    pj_type    t;
    char      *s;      /* STR: decoded bytes; INT/FLOAT: the lexeme (or NaN/Infinity) */
    size_t     n;
    struct pj *items;  /* ARR / OBJ values */
    struct pj *keys;   /* OBJ keys (PJ_STR) */
    size_t     count;
} pj;

static void pj_free(pj *v) {
    if (!v) return;
    free(v->s);
    for (size_t i = 0; i < v->count; i++) {
        pj_free(&v->items[i]);
        if (v->keys) pj_free(&v->keys[i]);
    }
    free(v->items);
    free(v->keys);
    memset(v, 0, sizeof *v);
}

typedef struct pj_parser {
    const char *s;
    size_t      n, i;
    const char *what; /* for messages: "tools_json", "message 3: tool_call_arguments" */
    llv_error  *err;
    llv_status  st;
} pj_parser;

static bool pj_fail(pj_parser *p, llv_status st, const char *why) {
    if (p->st == LLV_OK) {
        p->st = st;
        llv_err(p->err, st, "%s: invalid JSON at byte %zu: %s", p->what, p->i, why);
    }
    return false;
}

static void pj_ws(pj_parser *p) {
    while (p->i < p->n && (p->s[p->i] == ' ' || p->s[p->i] == '\t' || p->s[p->i] == '\n' || p->s[p->i] == '\r'))
        p->i++;
}

static bool pj_lit(pj_parser *p, const char *lit) {
    size_t l = strlen(lit);
    if (p->n - p->i >= l && memcmp(p->s + p->i, lit, l) == 0) {
        p->i += l;
        return true;
    }
    return false;
}

static int hexval(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

static bool pj_hex4(pj_parser *p, uint32_t *v) {
    if (p->n - p->i < 4) return pj_fail(p, LLV_ERR_INVALID_ARGUMENT, "truncated \\u escape");
    *v = 0;
    for (int k = 0; k < 4; k++) {
        int h = hexval(p->s[p->i + k]);
        if (h < 0) return pj_fail(p, LLV_ERR_INVALID_ARGUMENT, "bad hex digit in \\u escape");
        *v = (*v << 4) | (uint32_t)h;
    }
    p->i += 4;
    return true;
}

static bool pj_string(pj_parser *p, pj *out) {
    /* at the opening quote */
    p->i++;
    sbuf b = {0};
    for (;;) {
        if (p->i >= p->n) {
            free(b.p);
            return pj_fail(p, LLV_ERR_INVALID_ARGUMENT, "unterminated string");
        }
        unsigned char c = (unsigned char)p->s[p->i];
        if (c == '"') {
            p->i++;
            break;
        }
        if (c < 0x20) {
            free(b.p);
            return pj_fail(p, LLV_ERR_INVALID_ARGUMENT, "control character in string");
        }
        if (c != '\\') {
            size_t j = p->i;
            while (j < p->n && p->s[j] != '"' && p->s[j] != '\\' && (unsigned char)p->s[j] >= 0x20) j++;
            sb_put(&b, p->s + p->i, j - p->i);
            p->i = j;
            continue;
        }
        p->i++;
        if (p->i >= p->n) {
            free(b.p);
            return pj_fail(p, LLV_ERR_INVALID_ARGUMENT, "unterminated escape");
        }
        char e = p->s[p->i++];
        switch (e) {
        case '"': sb_chr(&b, '"'); break;
        case '\\': sb_chr(&b, '\\'); break;
        case '/': sb_chr(&b, '/'); break;
        case 'b': sb_chr(&b, '\b'); break;
        case 'f': sb_chr(&b, '\f'); break;
        case 'n': sb_chr(&b, '\n'); break;
        case 'r': sb_chr(&b, '\r'); break;
        case 't': sb_chr(&b, '\t'); break;
        case 'u': {
            uint32_t cp;
            if (!pj_hex4(p, &cp)) {
                free(b.p);
                return false;
            }
            if (cp >= 0xD800 && cp <= 0xDBFF && p->n - p->i >= 6 && p->s[p->i] == '\\' && p->s[p->i + 1] == 'u') {
                size_t save = p->i;
                p->i += 2;
                uint32_t lo;
                if (!pj_hex4(p, &lo)) {
                    free(b.p);
                    return false;
                }
                if (lo >= 0xDC00 && lo <= 0xDFFF) cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                else p->i = save;
            }
            if (cp >= 0xD800 && cp <= 0xDFFF) {
                free(b.p);
                return pj_fail(p, LLV_ERR_INVALID_ARGUMENT, "lone UTF-16 surrogate in \\u escape");
            }
            char u[4];
            sb_put(&b, u, utf8_encode(cp, u));
            break;
        }
        default: free(b.p); return pj_fail(p, LLV_ERR_INVALID_ARGUMENT, "unknown escape");
        }
    }
    if (b.oom) {
        free(b.p);
        return pj_fail(p, LLV_ERR_OUT_OF_MEMORY, "out of memory");
    }
    out->t = PJ_STR;
    out->s = b.p ? b.p : calloc(1, 1);
    out->n = b.len;
    if (!out->s) return pj_fail(p, LLV_ERR_OUT_OF_MEMORY, "out of memory");
    return true;
}

static bool pj_number(pj_parser *p, pj *out) {
    size_t a = p->i, i = p->i;
    bool is_float = false;
    if (i < p->n && p->s[i] == '-') i++;
    if (i < p->n && p->s[i] == '0') i++;
    else if (i < p->n && p->s[i] >= '1' && p->s[i] <= '9')
        while (i < p->n && p->s[i] >= '0' && p->s[i] <= '9') i++;
    else return pj_fail(p, LLV_ERR_INVALID_ARGUMENT, "bad number");
    if (i < p->n && p->s[i] == '.') {
        is_float = true;
        i++;
        size_t d = i;
        while (i < p->n && p->s[i] >= '0' && p->s[i] <= '9') i++;
        if (i == d) return pj_fail(p, LLV_ERR_INVALID_ARGUMENT, "bad number fraction");
    }
    if (i < p->n && (p->s[i] == 'e' || p->s[i] == 'E')) {
        is_float = true;
        i++;
        if (i < p->n && (p->s[i] == '+' || p->s[i] == '-')) i++;
        size_t d = i;
        while (i < p->n && p->s[i] >= '0' && p->s[i] <= '9') i++;
        if (i == d) return pj_fail(p, LLV_ERR_INVALID_ARGUMENT, "bad number exponent");
    }
    out->t = is_float ? PJ_FLOAT : PJ_INT;
    out->n = i - a;
    out->s = malloc(out->n + 1);
    if (!out->s) return pj_fail(p, LLV_ERR_OUT_OF_MEMORY, "out of memory");
    memcpy(out->s, p->s + a, out->n);
    out->s[out->n] = '\0';
    p->i = i;
    return true;
}

static bool pj_value(pj_parser *p, pj *out, int depth);

typedef struct { const pj *key; size_t pos; } pj_keyref;
static int pj_keyref_cmp(const void *a, const void *b) {
    const pj_keyref *x = a, *y = b;
    size_t m = x->key->n < y->key->n ? x->key->n : y->key->n;
    int c = memcmp(x->key->s, y->key->s, m);
    if (c) return c;
    if (x->key->n != y->key->n) return x->key->n < y->key->n ? -1 : 1;
    return (x->pos > y->pos) - (x->pos < y->pos);
}

/* Python dict semantics for duplicate keys: the first occurrence keeps its
 * position and takes the last occurrence's value. */
static bool pj_dedupe(pj_parser *p, pj *o) {
    if (o->count < 2) return true;
    pj_keyref *r = malloc(o->count * sizeof *r);
    bool *drop = calloc(o->count, sizeof *drop);
    if (!r || !drop) {
        free(r), free(drop);
        return pj_fail(p, LLV_ERR_OUT_OF_MEMORY, "out of memory");
    }
    for (size_t i = 0; i < o->count; i++) r[i] = (pj_keyref){&o->keys[i], i};
    qsort(r, o->count, sizeof *r, pj_keyref_cmp);
    bool any = false;
    for (size_t i = 0; i < o->count;) {
        size_t j = i + 1;
        while (j < o->count && pj_keyref_cmp(&(pj_keyref){r[i].key, 0}, &(pj_keyref){r[j].key, 0}) == 0) j++;
        if (j - i > 1) {
            any = true;
            size_t first = r[i].pos, last = r[j - 1].pos;
            pj tmp = o->items[first];
            o->items[first] = o->items[last];
            o->items[last] = tmp;
            for (size_t k = i + 1; k < j; k++) drop[r[k].pos] = true;
        }
        i = j;
    }
    if (any) {
        size_t w = 0;
        for (size_t i = 0; i < o->count; i++) {
            if (drop[i]) {
                pj_free(&o->items[i]);
                pj_free(&o->keys[i]);
                continue;
            }
            o->items[w] = o->items[i];
            o->keys[w] = o->keys[i];
            w++;
        }
        o->count = w;
    }
    free(r);
    free(drop);
    return true;
}

static bool pj_push(pj_parser *p, pj *c, size_t *cap, bool with_keys) {
    if (c->count < *cap) return true;
    size_t nc = *cap ? *cap * 2 : 4, bytes;
    if (!llv_mul_size(nc, sizeof(pj), &bytes)) return pj_fail(p, LLV_ERR_OUT_OF_MEMORY, "too many items");
    pj *it = realloc(c->items, bytes);
    if (!it) return pj_fail(p, LLV_ERR_OUT_OF_MEMORY, "out of memory");
    c->items = it;
    if (with_keys) {
        pj *k = realloc(c->keys, bytes);
        if (!k) return pj_fail(p, LLV_ERR_OUT_OF_MEMORY, "out of memory");
        c->keys = k;
    }
    *cap = nc;
    return true;
}

static bool pj_container(pj_parser *p, pj *out, int depth, bool obj) {
    p->i++; /* [ or { */
    out->t = obj ? PJ_OBJ : PJ_ARR;
    size_t cap = 0;
    const char close = obj ? '}' : ']';
    pj_ws(p);
    if (p->i < p->n && p->s[p->i] == close) {
        p->i++;
        return true;
    }
    for (;;) {
        if (!pj_push(p, out, &cap, obj)) return false;
        pj *key = obj ? &out->keys[out->count] : NULL, *val = &out->items[out->count];
        memset(val, 0, sizeof *val);
        if (obj) {
            memset(key, 0, sizeof *key);
            pj_ws(p);
            if (p->i >= p->n || p->s[p->i] != '"') return pj_fail(p, LLV_ERR_INVALID_ARGUMENT, "expected a key string");
            if (!pj_string(p, key)) return false;
            out->count++; /* owned from here on, freed with out */
            pj_ws(p);
            if (p->i >= p->n || p->s[p->i] != ':') return pj_fail(p, LLV_ERR_INVALID_ARGUMENT, "expected ':'");
            p->i++;
            if (!pj_value(p, val, depth + 1)) return false;
        } else {
            out->count++; /* zeroed; owned (and freed) with out even if parsing fails */
            if (!pj_value(p, val, depth + 1)) return false;
        }
        pj_ws(p);
        if (p->i < p->n && p->s[p->i] == ',') {
            p->i++;
            continue;
        }
        if (p->i < p->n && p->s[p->i] == close) {
            p->i++;
            break;
        }
        return pj_fail(p, LLV_ERR_INVALID_ARGUMENT, obj ? "expected ',' or '}'" : "expected ',' or ']'");
    }
    return obj ? pj_dedupe(p, out) : true;
}

static bool pj_value(pj_parser *p, pj *out, int depth) {
    memset(out, 0, sizeof *out);
    if (depth > JSON_MAX_DEPTH) return pj_fail(p, LLV_ERR_LIMIT, "nesting deeper than 512");
    pj_ws(p);
    if (p->i >= p->n) return pj_fail(p, LLV_ERR_INVALID_ARGUMENT, "unexpected end");
    char c = p->s[p->i];
    if (c == '{' || c == '[') return pj_container(p, out, depth, c == '{');
    if (c == '"') return pj_string(p, out);
    if (pj_lit(p, "null")) return out->t = PJ_NULL, true;
    if (pj_lit(p, "true")) return out->t = PJ_TRUE, true;
    if (pj_lit(p, "false")) return out->t = PJ_FALSE, true;
    /* json.loads also accepts these three */
    const char *special[] = {"NaN", "Infinity", "-Infinity"};
    for (int k = 0; k < 3; k++)
        if (pj_lit(p, special[k])) {
            out->t = PJ_FLOAT;
            out->s = strdup(special[k]);
            out->n = strlen(special[k]);
            return out->s ? true : pj_fail(p, LLV_ERR_OUT_OF_MEMORY, "out of memory");
        }
    if (c == '-' || (c >= '0' && c <= '9')) return pj_number(p, out);
    return pj_fail(p, LLV_ERR_INVALID_ARGUMENT, "unexpected character");
}

/* Parses a whole text holding one JSON value. */
static llv_status pj_parse(const char *s, size_t n, const char *what, pj *out, llv_error *err) {
    pj_parser p = {s, n, 0, what, err, LLV_OK};
    memset(out, 0, sizeof *out);
    size_t bad = utf8_invalid_at(s, n);
    if (bad != SIZE_MAX) return llv_err(err, LLV_ERR_INVALID_ARGUMENT, "%s: invalid UTF-8 at byte %zu", what, bad);
    if (pj_value(&p, out, 0)) {
        pj_ws(&p);
        if (p.i == p.n) return LLV_OK;
        pj_fail(&p, LLV_ERR_INVALID_ARGUMENT, "extra data after the value");
    }
    pj_free(out);
    return p.st ? p.st : LLV_ERR_INVALID_ARGUMENT;
}

/* repr(float) of Python: shortest round-trip digits, exponent form outside
 * 1e-4 <= |x| < 1e16, ".0" added to integral values. */
static void py_float_repr(double x, sbuf *b) {
    if (x != x) return sb_str(b, "NaN");
    if (isinf(x)) return sb_str(b, x < 0 ? "-Infinity" : "Infinity");
    if (x == 0) return sb_str(b, signbit(x) ? "-0.0" : "0.0");
    char e[40];
    for (int prec = 1; prec <= 17; prec++) {
        snprintf(e, sizeof e, "%.*e", prec - 1, x);
        if (strtod(e, NULL) == x) break;
    }
    /* e = [-]d[.ddd]e[+-]XX */
    const char *q = e;
    if (*q == '-') sb_chr(b, '-'), q++;
    char digits[24];
    size_t nd = 0;
    for (; *q && *q != 'e'; q++)
        if (*q != '.') digits[nd++] = *q;
    while (nd > 1 && digits[nd - 1] == '0') nd--;
    int exp10 = atoi(q + 1);
    int decpt = exp10 + 1; /* x = 0.d1d2... * 10^decpt */
    char tmp[64];
    if (decpt <= -4 || decpt > 16) {
        sb_chr(b, digits[0]);
        if (nd > 1) {
            sb_chr(b, '.');
            sb_put(b, digits + 1, nd - 1);
        }
        snprintf(tmp, sizeof tmp, "e%c%02d", exp10 < 0 ? '-' : '+', exp10 < 0 ? -exp10 : exp10);
        sb_str(b, tmp);
    } else if (decpt <= 0) {
        sb_str(b, "0.");
        for (int k = 0; k < -decpt; k++) sb_chr(b, '0');
        sb_put(b, digits, nd);
    } else if ((size_t)decpt < nd) {
        sb_put(b, digits, (size_t)decpt);
        sb_chr(b, '.');
        sb_put(b, digits + decpt, nd - (size_t)decpt);
    } else {
        sb_put(b, digits, nd);
        for (size_t k = nd; k < (size_t)decpt; k++) sb_chr(b, '0');
        sb_str(b, ".0");
    }
}

/* json.dumps string with ensure_ascii=False */
static void py_json_string(const char *s, size_t n, sbuf *b) {
    sb_chr(b, '"');
    size_t run = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 0x20 && c != '"' && c != '\\') continue;
        sb_put(b, s + run, i - run);
        run = i + 1;
        char esc[8];
        switch (c) {
        case '"': sb_str(b, "\\\""); break;
        case '\\': sb_str(b, "\\\\"); break;
        case '\n': sb_str(b, "\\n"); break;
        case '\r': sb_str(b, "\\r"); break;
        case '\t': sb_str(b, "\\t"); break;
        case '\b': sb_str(b, "\\b"); break;
        case '\f': sb_str(b, "\\f"); break;
        default: snprintf(esc, sizeof esc, "\\u%04x", c); sb_str(b, esc);
        }
    }
    sb_put(b, s + run, n - run);
    sb_chr(b, '"');
}

static void py_newline_indent(sbuf *b, int indent, int level) {
    sb_chr(b, '\n');
    for (int k = 0; k < indent * level; k++) sb_chr(b, ' ');
}

/* json.dumps(v, ensure_ascii=False, indent=indent or None) */
static void py_json_dump(const pj *v, sbuf *b, int indent, int level) {
    switch (v->t) {
    case PJ_NULL: sb_str(b, "null"); return;
    case PJ_TRUE: sb_str(b, "true"); return;
    case PJ_FALSE: sb_str(b, "false"); return;
    case PJ_INT:
        /* a Python int prints its digits; JSON allows no leading zeros, so only -0 changes */
        if (strcmp(v->s, "-0") == 0) sb_chr(b, '0');
        else sb_put(b, v->s, v->n);
        return;
    case PJ_FLOAT:
        if (strcmp(v->s, "NaN") == 0) sb_str(b, "NaN");
        else if (strcmp(v->s, "Infinity") == 0) sb_str(b, "Infinity");
        else if (strcmp(v->s, "-Infinity") == 0) sb_str(b, "-Infinity");
        else py_float_repr(strtod(v->s, NULL), b);
        return;
    case PJ_STR: py_json_string(v->s, v->n, b); return;
    case PJ_ARR:
    case PJ_OBJ: {
        const bool obj = v->t == PJ_OBJ;
        if (v->count == 0) {
            sb_str(b, obj ? "{}" : "[]");
            return;
        }
        sb_chr(b, obj ? '{' : '[');
        for (size_t i = 0; i < v->count; i++) {
            if (i) sb_str(b, indent ? "," : ", ");
            if (indent) py_newline_indent(b, indent, level + 1);
            if (obj) {
                py_json_string(v->keys[i].s, v->keys[i].n, b);
                sb_str(b, ": ");
            }
            py_json_dump(&v->items[i], b, indent, level + 1);
        }
        if (indent) py_newline_indent(b, indent, level);
        sb_chr(b, obj ? '}' : ']');
        return;
    }
    }
}

/* ------------------------------------------------------------------------- */
/* Messages                                                                  */
/* ------------------------------------------------------------------------- */

typedef enum { ROLE_SYSTEM, ROLE_USER, ROLE_ASSISTANT, ROLE_TOOL } role_kind;

static bool has_text(const llv_message *m) { return m->content != NULL || m->n_parts > 0; }

static llv_status check_utf8(const char *s, size_t idx, const char *field, llv_error *err) {
    size_t n = strlen(s), bad = utf8_invalid_at(s, n);
    if (bad != SIZE_MAX)
        return llv_err(err, LLV_ERR_INVALID_ARGUMENT, "message %zu: %s is not valid UTF-8 (byte %zu of %zu)", idx,
                       field, bad, n);
    return LLV_OK;
}

static llv_status check_message(const llv_message *m, size_t idx, role_kind *role, llv_error *err) {
    if (!m->role) return llv_err(err, LLV_ERR_INVALID_ARGUMENT, "message %zu: role is NULL", idx);
    if (strcmp(m->role, "system") == 0) *role = ROLE_SYSTEM;
    else if (strcmp(m->role, "user") == 0) *role = ROLE_USER;
    else if (strcmp(m->role, "assistant") == 0) *role = ROLE_ASSISTANT;
    else if (strcmp(m->role, "tool") == 0 || strcmp(m->role, "ipython") == 0) *role = ROLE_TOOL;
    else {
        char shown[40];
        snprintf(shown, sizeof shown, "%s", m->role);
        return llv_err(err, LLV_ERR_INVALID_ARGUMENT,
                       "message %zu: unknown role '%s' (expected system, user, assistant, tool or ipython)", idx,
                       shown);
    }
    if (m->content && m->n_parts > 0)
        return llv_err(err, LLV_ERR_INVALID_ARGUMENT,
                       "message %zu: both content and %zu parts given (use one or the other)", idx, m->n_parts);
    if (m->n_parts > 0 && !m->parts)
        return llv_err(err, LLV_ERR_INVALID_ARGUMENT, "message %zu: parts is NULL but n_parts = %zu", idx,
                       m->n_parts);
    if (m->content) {
        llv_status st = check_utf8(m->content, idx, "content", err);
        if (st) return st;
    }
    for (size_t j = 0; j < m->n_parts; j++) {
        const llv_part *pt = &m->parts[j];
        if (pt->type == LLV_PART_TEXT) {
            if (!pt->text)
                return llv_err(err, LLV_ERR_INVALID_ARGUMENT, "message %zu: part %zu: text part with NULL text", idx, j);
            size_t n = strlen(pt->text), bad = utf8_invalid_at(pt->text, n);
            if (bad != SIZE_MAX)
                return llv_err(err, LLV_ERR_INVALID_ARGUMENT,
                               "message %zu: part %zu: text is not valid UTF-8 (byte %zu of %zu)", idx, j, bad, n);
        } else if (pt->type == LLV_PART_IMAGE) {
            if (!pt->image || pt->image_bytes == 0)
                return llv_err(err, LLV_ERR_INVALID_ARGUMENT, "message %zu: part %zu: image part without bytes", idx,
                               j);
            if (*role == ROLE_SYSTEM || *role == ROLE_TOOL)
                return llv_err(err, LLV_ERR_INVALID_ARGUMENT,
                               "message %zu: part %zu: image parts are only allowed in user and assistant messages "
                               "(role '%s')", idx, j, m->role);
        } else {
            return llv_err(err, LLV_ERR_INVALID_ARGUMENT, "message %zu: part %zu: unknown part type %d", idx, j,
                           (int)pt->type);
        }
    }
    if (m->tool_call_arguments && !m->tool_call_name)
        return llv_err(err, LLV_ERR_INVALID_ARGUMENT, "message %zu: tool_call_arguments without tool_call_name", idx);
    if (m->tool_call_name) {
        if (*role != ROLE_ASSISTANT)
            return llv_err(err, LLV_ERR_INVALID_ARGUMENT,
                           "message %zu: tool_call_name is only valid in an assistant message (role '%s')", idx,
                           m->role);
        llv_status st = check_utf8(m->tool_call_name, idx, "tool_call_name", err);
        if (st) return st;
        if (!m->tool_call_name[0])
            return llv_err(err, LLV_ERR_INVALID_ARGUMENT, "message %zu: tool_call_name is empty", idx);
    } else if (!has_text(m)) {
        return llv_err(err, LLV_ERR_INVALID_ARGUMENT, "message %zu: no content (content is NULL and no parts)", idx);
    }
    return LLV_OK;
}

/* An image part: "<|image|>" as the template prints it, or its offset. */
static void put_image(sbuf *b, size_t at) {
    if (!b->want_marks) {
        sb_str(b, "<|image|>");
        return;
    }
    if (b->oom) return;
    if (b->n_marks == b->cap_marks) {
        size_t cap = b->cap_marks ? 2 * b->cap_marks : 8;
        size_t *q = cap < SIZE_MAX / sizeof *q ? realloc(b->marks, cap * sizeof *q) : NULL;
        if (!q) {
            b->oom = true;
            return;
        }
        b->marks = q;
        b->cap_marks = cap;
    }
    b->marks[b->n_marks++] = at;
}

/* The content as the template prints a string content or iterates parts. */
static void put_content(sbuf *b, const llv_message *m) {
    if (m->content) {
        sb_str(b, m->content);
        return;
    }
    for (size_t j = 0; j < m->n_parts; j++) {
        if (m->parts[j].type == LLV_PART_IMAGE) put_image(b, b->len);
        else sb_str(b, m->parts[j].text);
    }
}

/* content | trim; an image's offset is not stripped across (as its
 * "<|image|>" would not be) */
static bool put_content_trimmed(sbuf *b, const llv_message *m) {
    sbuf t = {0};
    t.want_marks = b->want_marks;
    put_content(&t, m);
    if (t.oom) {
        free(t.p);
        free(t.marks);
        return false;
    }
    size_t a = 0, e = 0;
    if (t.p) /* NULL for empty content: no pointer arithmetic on it */
        py_strip(t.p, t.len, &a, &e);
    if (t.n_marks) {
        size_t lo = t.marks[0], hi = t.marks[t.n_marks - 1];
        bool blank = a >= e; /* only white space around the images */
        a = blank ? lo : LLV_MIN(a, lo);
        e = blank ? hi : LLV_MAX(e, hi);
    }
    size_t base = b->len;
    if (t.p) sb_put(b, t.p + a, e - a);
    for (size_t k = 0; k < t.n_marks; k++) put_image(b, base + t.marks[k] - a);
    free(t.p);
    free(t.marks);
    return true;
}

static llv_status render_turn(sbuf *b, const llv_message *m, role_kind role, size_t idx, llv_error *err) {
    if (m->tool_call_name) {
        pj args;
        const char *a = m->tool_call_arguments ? m->tool_call_arguments : "{}";
        char what[64];
        snprintf(what, sizeof what, "message %zu: tool_call_arguments", idx);
        llv_status st = pj_parse(a, strlen(a), what, &args, err);
        if (st) return st;
        sb_str(b, "<|start_header_id|>assistant<|end_header_id|>\n\n{\"name\": \"");
        sb_str(b, m->tool_call_name);
        sb_str(b, "\", \"parameters\": ");
        py_json_dump(&args, b, 0, 0);
        sb_str(b, "}<|eot_id|>");
        pj_free(&args);
        return LLV_OK;
    }
    if (role == ROLE_TOOL) {
        sb_str(b, "<|start_header_id|>ipython<|end_header_id|>\n\n");
        if (m->content) {
            py_json_string(m->content, strlen(m->content), b);
        } else { /* a list of parts: json.dumps of [{"type": "text", "text": ...}] */
            sb_chr(b, '[');
            for (size_t j = 0; j < m->n_parts; j++) {
                if (j) sb_str(b, ", ");
                sb_str(b, "{\"type\": \"text\", \"text\": ");
                py_json_string(m->parts[j].text, strlen(m->parts[j].text), b);
                sb_chr(b, '}');
            }
            sb_chr(b, ']');
        }
        sb_str(b, "<|eot_id|>");
        return LLV_OK;
    }
    sb_str(b, "<|start_header_id|>");
    sb_str(b, m->role);
    sb_str(b, "<|end_header_id|>\n\n");
    put_content(b, m);
    sb_str(b, "<|eot_id|>");
    return LLV_OK;
}

static void today_string(char out[32]) {
    static const char *const months[12] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                           "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    time_t now = time(NULL);
    struct tm tm;
    if (!localtime_r(&now, &tm)) {
        snprintf(out, 32, "26 Jul 2024"); /* the template's own fallback */
        return;
    }
    /* strftime("%d %b %Y") in the C locale, independent of the process locale */
    snprintf(out, 32, "%02d %s %d", tm.tm_mday, months[tm.tm_mon % 12], tm.tm_year + 1900);
}

void llv_chat_params_init(llv_chat_params *out, size_t size) {
    llv_chat_params p;
    memset(&p, 0, sizeof p);
    p.tools_json = NULL;
    p.date_string = NULL;
    p.add_generation_prompt = true;
    llv_params_out(out, size, &p, sizeof p);
}

static const char TOOLS_PREAMBLE[] =
    "<|start_header_id|>user<|end_header_id|>\n\n"
    "Given the following functions, please respond with a JSON for a function call "
    "with its proper arguments that best answers the given prompt.\n\n"
    "Respond in the format {\"name\": function name, \"parameters\": dictionary of argument name and its value}."
    "Do not use variables.\n\n";

static llv_status render_llama3(const llv_message *msgs, size_t n_msgs, const llv_chat_params *p, bool continuation,
                                char **out, size_t *len, size_t **images, size_t *n_images, llv_error *err) {
    role_kind *roles = malloc(n_msgs * sizeof *roles);
    if (!roles) return llv_err(err, LLV_ERR_OUT_OF_MEMORY, "chat render: out of memory");
    llv_status st = LLV_OK;
    for (size_t i = 0; i < n_msgs && !st; i++) st = check_message(&msgs[i], i, &roles[i], err);
    pj tools = {0};
    bool have_tools = false;
    if (!st && p->tools_json && !continuation) {
        st = pj_parse(p->tools_json, strlen(p->tools_json), "tools_json", &tools, err);
        if (!st && tools.t != PJ_ARR) {
            pj_free(&tools);
            st = llv_err(err, LLV_ERR_INVALID_ARGUMENT, "tools_json: expected a JSON array of tool definitions");
        }
        have_tools = !st;
    }
    if (!st && p->date_string && utf8_invalid_at(p->date_string, strlen(p->date_string)) != SIZE_MAX)
        st = llv_err(err, LLV_ERR_INVALID_ARGUMENT, "date_string is not valid UTF-8");
    if (st) {
        free(roles);
        pj_free(&tools);
        return st;
    }

    sbuf b = {0};
    b.want_marks = images != NULL;
    size_t i = 0;
    if (!continuation) {
        sb_str(&b, "<|begin_of_text|>");
        bool user_system = roles[0] == ROLE_SYSTEM;
        if (user_system) i = 1;
        bool has_images = false;
        for (size_t k = i; k < n_msgs; k++)
            for (size_t j = 0; j < msgs[k].n_parts; j++)
                if (msgs[k].parts[j].type == LLV_PART_IMAGE) has_images = true;
        if (user_system || !has_images) {
            sb_str(&b, "<|start_header_id|>system<|end_header_id|>\n\n");
            if (have_tools) sb_str(&b, "Environment: ipython\n");
            char today[32];
            if (!p->date_string) today_string(today);
            sb_str(&b, "Cutting Knowledge Date: December 2023\nToday Date: ");
            sb_str(&b, p->date_string ? p->date_string : today);
            sb_str(&b, "\n\n");
            if (user_system && !put_content_trimmed(&b, &msgs[0])) b.oom = true;
            sb_str(&b, "<|eot_id|>");
        }
        if (have_tools) {
            if (i >= n_msgs) {
                st = llv_err(err, LLV_ERR_INVALID_ARGUMENT,
                             "chat render: tools need a first user message to go into, but there is none");
            } else {
                sb_str(&b, TOOLS_PREAMBLE);
                for (size_t t = 0; t < tools.count; t++) {
                    py_json_dump(&tools.items[t], &b, 4, 0);
                    sb_str(&b, "\n\n");
                }
                if (!put_content_trimmed(&b, &msgs[i])) b.oom = true;
                sb_str(&b, "<|eot_id|>");
                i++;
            }
        }
    }
    for (; i < n_msgs && !st; i++) st = render_turn(&b, &msgs[i], roles[i], i, err);
    if (!st && p->add_generation_prompt) sb_str(&b, "<|start_header_id|>assistant<|end_header_id|>\n\n");
    free(roles);
    pj_free(&tools);
    if (!st && b.oom) st = llv_err(err, LLV_ERR_OUT_OF_MEMORY, "chat render: out of memory (rendered %zu bytes)", b.len);
    if (st) {
        free(b.p);
        free(b.marks);
        return st;
    }
    if (!b.p) { /* cannot happen (BOS or a header is always written), but keep the contract */
        b.p = calloc(1, 1);
        if (!b.p) {
            free(b.marks);
            return llv_err(err, LLV_ERR_OUT_OF_MEMORY, "chat render: out of memory");
        }
    }
    *out = b.p;
    if (len) *len = b.len;
    if (images) {
        *images = b.marks;
        *n_images = b.n_marks;
    }
    return LLV_OK;
}

/* ------------------------------------------------------------------------- */
/* ChatML                                                                    */
/* ------------------------------------------------------------------------- */

/* The ChatML templates of SmolLM2, Qwen2 and friends without tools:
 *   {% for message in messages %}
 *     {% if loop.first and messages[0]['role'] != 'system' %}{{ DEFAULT }}{% endif %}
 *     {{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n' }}
 *   {% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}
 * DEFAULT is the template's own default system turn (may be absent). Text
 * parts are joined (the template would fail on a list); images and tools have
 * no place in this format and are refused. */
static llv_status render_chatml(const llv_chat_format *f, const llv_message *msgs, size_t n_msgs,
                                const llv_chat_params *p, bool continuation, char **out, size_t *len, llv_error *err) {
    role_kind role;
    for (size_t i = 0; i < n_msgs; i++) {
        llv_status st = check_message(&msgs[i], i, &role, err);
        if (st) return st;
        if (msgs[i].tool_call_name)
            return llv_err(err, LLV_ERR_UNSUPPORTED, "message %zu: this model's chat template (ChatML) has no tool "
                           "calls", i);
        for (size_t j = 0; j < msgs[i].n_parts; j++)
            if (msgs[i].parts[j].type == LLV_PART_IMAGE)
                return llv_err(err, LLV_ERR_UNSUPPORTED, "message %zu: part %zu: this model takes no images", i, j);
    }
    if (p->tools_json && !continuation)
        return llv_err(err, LLV_ERR_UNSUPPORTED, "tools: this model's chat template (ChatML) has no tools");
    sbuf b = {0};
    for (size_t i = 0; i < n_msgs; i++) {
        if (i == 0 && !continuation && f->default_system && strcmp(msgs[0].role, "system") != 0)
            sb_str(&b, f->default_system);
        sb_str(&b, "<|im_start|>");
        sb_str(&b, msgs[i].role);
        sb_chr(&b, '\n');
        put_content(&b, &msgs[i]);
        sb_str(&b, "<|im_end|>\n");
    }
    if (p->add_generation_prompt) sb_str(&b, "<|im_start|>assistant\n");
    if (b.oom) {
        free(b.p);
        return llv_err(err, LLV_ERR_OUT_OF_MEMORY, "chat render: out of memory (rendered %zu bytes)", b.len);
    }
    *out = b.p;
    if (len) *len = b.len;
    return LLV_OK;
}

/* ------------------------------------------------------------------------- */
/* Formats                                                                   */
/* ------------------------------------------------------------------------- */

/* A Jinja string literal starting at s[0] (the quote): its decoded text,
 * malloc'd, or NULL if unterminated. Python escapes \n \t \\ \' \". */
static char *jinja_literal(const char *s) {
    char q = s[0];
    sbuf b = {0};
    for (const char *c = s + 1; *c; c++) {
        if (*c == q) {
            if (!b.p && !b.oom) b.p = calloc(1, 1);
            if (b.oom) free(b.p);
            return b.oom ? NULL : b.p;
        }
        if (*c == '\\' && c[1]) {
            c++;
            char e = *c == 'n' ? '\n' : *c == 't' ? '\t' : *c;
            if (*c != 'n' && *c != 't' && *c != '\\' && *c != '\'' && *c != '"') break; /* unknown escape */
            sb_chr(&b, e);
        } else {
            sb_chr(&b, *c);
        }
    }
    free(b.p);
    return NULL;
}

const char *llv_chat_format_name(const llv_chat_format *f) {
    switch (f->kind) {
    case LLV_CHAT_LLAMA3: return "llama3";
    case LLV_CHAT_CHATML: return "chatml";
    default: return "unsupported";
    }
}

llv_status llv_chat_format_init(llv_chat_format *f, const char *tmpl, const char *name, llv_error *err) {
    memset(f, 0, sizeof *f);
    if (name && *name) {
        if (strcmp(name, "llama3") == 0 || strcmp(name, "llama-3") == 0) f->kind = LLV_CHAT_LLAMA3;
        else if (strcmp(name, "chatml") == 0) f->kind = LLV_CHAT_CHATML;
        else
            return llv_err(err, LLV_ERR_INVALID_ARGUMENT, "chat template '%.64s' is not one llv has (llama3, chatml)",
                           name);
        return LLV_OK;
    }
    if (!tmpl || strstr(tmpl, "<|start_header_id|>")) { /* no template: the Llama 3 family is llv's own */
        f->kind = LLV_CHAT_LLAMA3;
        return LLV_OK;
    }
    if (strstr(tmpl, "<|im_start|>") && strstr(tmpl, "message['role'] + '\n' + message['content'] + '<|im_end|>'") &&
        strstr(tmpl, "add_generation_prompt") && !strstr(tmpl, "tool")) {
        f->kind = LLV_CHAT_CHATML;
        const char *d = strstr(tmpl, "<|im_start|>system\n");
        if (d && d > tmpl && (d[-1] == '\'' || d[-1] == '"') && strstr(tmpl, "messages[0]['role'] != 'system'")) {
            f->default_system = jinja_literal(d - 1);
            if (!f->default_system) {
                f->kind = LLV_CHAT_UNSUPPORTED;
                snprintf(f->why, sizeof f->why, "its default system message is not a plain string literal");
            }
        }
        return LLV_OK;
    }
    f->kind = LLV_CHAT_UNSUPPORTED;
    snprintf(f->why, sizeof f->why, "it is neither a Llama 3 nor a ChatML template");
    return LLV_OK;
}

void llv_chat_format_free(llv_chat_format *f) {
    free(f->default_system);
    f->default_system = NULL;
}

const char *llv_chat_format_close(const llv_chat_format *f) {
    return f->kind == LLV_CHAT_CHATML ? "<|im_end|>\n" : "<|eot_id|>";
}

const char *llv_chat_format_gap(const llv_chat_format *f) { return f->kind == LLV_CHAT_CHATML ? "\n" : ""; }

llv_status llv_chat_render_images(const llv_chat_format *f, const llv_message *msgs, size_t n_msgs,
                                  const llv_chat_params *params, bool continuation, char **out, size_t *len,
                                  size_t **images, size_t *n_images, llv_error *err) {
    if (!out) return llv_err(err, LLV_ERR_INVALID_ARGUMENT, "chat render: out is NULL");
    *out = NULL;
    if (len) *len = 0;
    if (images) *images = NULL;
    if (n_images) *n_images = 0;
    if (images && !n_images) return llv_err(err, LLV_ERR_INVALID_ARGUMENT, "chat render: n_images is NULL");
    if (n_msgs == 0) return llv_err(err, LLV_ERR_INVALID_ARGUMENT, "chat render: no messages");
    if (!msgs) return llv_err(err, LLV_ERR_INVALID_ARGUMENT, "chat render: messages is NULL (n_msgs = %zu)", n_msgs);
    llv_chat_params def = llv_chat_default_params();
    const llv_chat_params *p = params ? params : &def;
    static const llv_chat_format llama3 = {LLV_CHAT_LLAMA3, NULL, ""};
    if (!f) f = &llama3;
    switch (f->kind) {
    case LLV_CHAT_LLAMA3: return render_llama3(msgs, n_msgs, p, continuation, out, len, images, n_images, err);
    case LLV_CHAT_CHATML: return render_chatml(f, msgs, n_msgs, p, continuation, out, len, err); /* no images */
    default:
        return llv_err(err, LLV_ERR_UNSUPPORTED,
                       "the model's chat template cannot be rendered (%s); choose one with --chat-template "
                       "llama3|chatml (llv_model_params.chat_template) or send a raw prompt", f->why);
    }
}

llv_status llv_chat_render_text(const llv_chat_format *f, const llv_message *msgs, size_t n_msgs,
                                const llv_chat_params *params, bool continuation, char **out, size_t *len,
                                llv_error *err) {
    return llv_chat_render_images(f, msgs, n_msgs, params, continuation, out, len, NULL, NULL, err);
}

llv_status llv_chat_render(const llv_model *model, const llv_message *msgs, size_t n_msgs,
                           const llv_chat_params *params, char *buf, size_t capacity, size_t *n_bytes,
                           llv_error *err) {
    llv_err_clear(err);
    LLV_PARAMS_IN(llv_chat_params, params, err);
    if (capacity > 0 && !buf)
        return llv_err(err, LLV_ERR_INVALID_ARGUMENT, "llv_chat_render: buf is NULL but capacity = %zu", capacity);
    char *text;
    size_t len;
    llv_status st = llv_chat_render_text(model ? &model->chat : NULL, msgs, n_msgs, params, false, &text, &len, err);
    if (st) return st;
    if (n_bytes) *n_bytes = len;
    if (len >= capacity) {
        free(text);
        return llv_err(err, LLV_ERR_BUFFER_TOO_SMALL, "llv_chat_render: %zu bytes needed (plus NUL), capacity %zu",
                       len, capacity);
    }
    memcpy(buf, text, len + 1);
    free(text);
    return LLV_OK;
}
