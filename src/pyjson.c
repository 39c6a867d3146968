/* pyjson.c - JSON as Python's json module reads and writes it (see pyjson.h). */
#include "pyjson.h"

#include "utf8.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>


void llv_pj_free(llv_pj *v) {
    if (!v) return;
    free(v->s);
    for (size_t i = 0; i < v->count; i++) {
        llv_pj_free(&v->items[i]);
        if (v->keys) llv_pj_free(&v->keys[i]);
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

static bool pj_string(pj_parser *p, llv_pj *out) {
    /* at the opening quote */
    p->i++;
    llv_buf b = {0};
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
            llv_buf_put(&b, p->s + p->i, j - p->i);
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
        case '"': llv_buf_chr(&b, '"'); break;
        case '\\': llv_buf_chr(&b, '\\'); break;
        case '/': llv_buf_chr(&b, '/'); break;
        case 'b': llv_buf_chr(&b, '\b'); break;
        case 'f': llv_buf_chr(&b, '\f'); break;
        case 'n': llv_buf_chr(&b, '\n'); break;
        case 'r': llv_buf_chr(&b, '\r'); break;
        case 't': llv_buf_chr(&b, '\t'); break;
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
            llv_buf_put(&b, u, llv_utf8_encode(cp, u));
            break;
        }
        default: free(b.p); return pj_fail(p, LLV_ERR_INVALID_ARGUMENT, "unknown escape");
        }
    }
    if (b.oom) {
        free(b.p);
        return pj_fail(p, LLV_ERR_OUT_OF_MEMORY, "out of memory");
    }
    out->t = LLV_PJ_STR;
    out->s = b.p ? b.p : calloc(1, 1);
    out->n = b.len;
    if (!out->s) return pj_fail(p, LLV_ERR_OUT_OF_MEMORY, "out of memory");
    return true;
}

static bool pj_number(pj_parser *p, llv_pj *out) {
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
    out->t = is_float ? LLV_PJ_FLOAT : LLV_PJ_INT;
    out->n = i - a;
    out->s = malloc(out->n + 1);
    if (!out->s) return pj_fail(p, LLV_ERR_OUT_OF_MEMORY, "out of memory");
    memcpy(out->s, p->s + a, out->n);
    out->s[out->n] = '\0';
    p->i = i;
    return true;
}

static bool pj_value(pj_parser *p, llv_pj *out, int depth);

typedef struct { const llv_pj *key; size_t pos; } pj_keyref;
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
static bool pj_dedupe(pj_parser *p, llv_pj *o) {
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
            llv_pj tmp = o->items[first];
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
                llv_pj_free(&o->items[i]);
                llv_pj_free(&o->keys[i]);
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

static bool pj_push(pj_parser *p, llv_pj *c, size_t *cap, bool with_keys) {
    if (c->count < *cap) return true;
    size_t nc = *cap ? *cap * 2 : 4, bytes;
    if (!llv_mul_size(nc, sizeof(llv_pj), &bytes)) return pj_fail(p, LLV_ERR_OUT_OF_MEMORY, "too many items");
    llv_pj *it = realloc(c->items, bytes);
    if (!it) return pj_fail(p, LLV_ERR_OUT_OF_MEMORY, "out of memory");
    c->items = it;
    if (with_keys) {
        llv_pj *k = realloc(c->keys, bytes);
        if (!k) return pj_fail(p, LLV_ERR_OUT_OF_MEMORY, "out of memory");
        c->keys = k;
    }
    *cap = nc;
    return true;
}

static bool pj_container(pj_parser *p, llv_pj *out, int depth, bool obj) {
    p->i++; /* [ or { */
    out->t = obj ? LLV_PJ_OBJ : LLV_PJ_ARR;
    size_t cap = 0;
    const char close = obj ? '}' : ']';
    pj_ws(p);
    if (p->i < p->n && p->s[p->i] == close) {
        p->i++;
        return true;
    }
    for (;;) {
        if (!pj_push(p, out, &cap, obj)) return false;
        llv_pj *key = obj ? &out->keys[out->count] : NULL, *val = &out->items[out->count];
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

static bool pj_value(pj_parser *p, llv_pj *out, int depth) {
    memset(out, 0, sizeof *out);
    if (depth > LLV_PJ_MAX_DEPTH) return pj_fail(p, LLV_ERR_LIMIT, "nesting deeper than " LLV_PJ_MAX_DEPTH_STR);
    pj_ws(p);
    if (p->i >= p->n) return pj_fail(p, LLV_ERR_INVALID_ARGUMENT, "unexpected end");
    char c = p->s[p->i];
    if (c == '{' || c == '[') return pj_container(p, out, depth, c == '{');
    if (c == '"') return pj_string(p, out);
    if (pj_lit(p, "null")) return out->t = LLV_PJ_NULL, true;
    if (pj_lit(p, "true")) return out->t = LLV_PJ_TRUE, true;
    if (pj_lit(p, "false")) return out->t = LLV_PJ_FALSE, true;
    /* json.loads also accepts these three */
    const char *special[] = {"NaN", "Infinity", "-Infinity"};
    for (int k = 0; k < 3; k++)
        if (pj_lit(p, special[k])) {
            out->t = LLV_PJ_FLOAT;
            out->s = strdup(special[k]);
            out->n = strlen(special[k]);
            return out->s ? true : pj_fail(p, LLV_ERR_OUT_OF_MEMORY, "out of memory");
        }
    if (c == '-' || (c >= '0' && c <= '9')) return pj_number(p, out);
    return pj_fail(p, LLV_ERR_INVALID_ARGUMENT, "unexpected character");
}

/* Parses a whole text holding one JSON value. */
llv_status llv_pj_parse(const char *s, size_t n, const char *what, llv_pj *out, llv_error *err) {
    pj_parser p = {s, n, 0, what, err, LLV_OK};
    memset(out, 0, sizeof *out);
    size_t bad = llv_utf8_valid_prefix((const unsigned char *)s, n);
    if (bad != n) return llv_err(err, LLV_ERR_INVALID_ARGUMENT, "%s: invalid UTF-8 at byte %zu", what, bad);
    if (pj_value(&p, out, 0)) {
        pj_ws(&p);
        if (p.i == p.n) return LLV_OK;
        pj_fail(&p, LLV_ERR_INVALID_ARGUMENT, "extra data after the value");
    }
    llv_pj_free(out);
    return p.st ? p.st : LLV_ERR_INVALID_ARGUMENT;
}

/* repr(float) of Python: shortest round-trip digits, exponent form outside
 * 1e-4 <= |x| < 1e16, ".0" added to integral values. */
static void py_float_repr(double x, llv_buf *b) {
    if (x != x) return llv_buf_str(b, "NaN");
    if (isinf(x)) return llv_buf_str(b, x < 0 ? "-Infinity" : "Infinity");
    if (x == 0) return llv_buf_str(b, signbit(x) ? "-0.0" : "0.0");
    char e[40];
    for (int prec = 1; prec <= 17; prec++) {
        snprintf(e, sizeof e, "%.*e", prec - 1, x);
        if (strtod(e, NULL) == x) break;
    }
    /* e = [-]d[.ddd]e[+-]XX */
    const char *q = e;
    if (*q == '-') llv_buf_chr(b, '-'), q++;
    char digits[24];
    size_t nd = 0;
    for (; *q && *q != 'e'; q++)
        if (*q != '.') digits[nd++] = *q;
    while (nd > 1 && digits[nd - 1] == '0') nd--;
    int exp10 = atoi(q + 1);
    int decpt = exp10 + 1; /* x = 0.d1d2... * 10^decpt */
    char tmp[64];
    if (decpt <= -4 || decpt > 16) {
        llv_buf_chr(b, digits[0]);
        if (nd > 1) {
            llv_buf_chr(b, '.');
            llv_buf_put(b, digits + 1, nd - 1);
        }
        snprintf(tmp, sizeof tmp, "e%c%02d", exp10 < 0 ? '-' : '+', exp10 < 0 ? -exp10 : exp10);
        llv_buf_str(b, tmp);
    } else if (decpt <= 0) {
        llv_buf_str(b, "0.");
        for (int k = 0; k < -decpt; k++) llv_buf_chr(b, '0');
        llv_buf_put(b, digits, nd);
    } else if ((size_t)decpt < nd) {
        llv_buf_put(b, digits, (size_t)decpt);
        llv_buf_chr(b, '.');
        llv_buf_put(b, digits + decpt, nd - (size_t)decpt);
    } else {
        llv_buf_put(b, digits, nd);
        for (size_t k = nd; k < (size_t)decpt; k++) llv_buf_chr(b, '0');
        llv_buf_str(b, ".0");
    }
}

/* json.dumps string with ensure_ascii=False */
void llv_pj_string(const char *s, size_t n, llv_buf *b) {
    llv_buf_chr(b, '"');
    size_t run = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 0x20 && c != '"' && c != '\\') continue;
        llv_buf_put(b, s + run, i - run);
        run = i + 1;
        char esc[8];
        switch (c) {
        case '"': llv_buf_str(b, "\\\""); break;
        case '\\': llv_buf_str(b, "\\\\"); break;
        case '\n': llv_buf_str(b, "\\n"); break;
        case '\r': llv_buf_str(b, "\\r"); break;
        case '\t': llv_buf_str(b, "\\t"); break;
        case '\b': llv_buf_str(b, "\\b"); break;
        case '\f': llv_buf_str(b, "\\f"); break;
        default: snprintf(esc, sizeof esc, "\\u%04x", c); llv_buf_str(b, esc);
        }
    }
    llv_buf_put(b, s + run, n - run);
    llv_buf_chr(b, '"');
}

static void py_newline_indent(llv_buf *b, int indent, int level) {
    llv_buf_chr(b, '\n');
    for (int k = 0; k < indent * level; k++) llv_buf_chr(b, ' ');
}

/* json.dumps(v, ensure_ascii=False, indent=indent or None) */
static void dump(const llv_pj *v, llv_buf *b, int indent, int level) {
    switch (v->t) {
    case LLV_PJ_NULL: llv_buf_str(b, "null"); return;
    case LLV_PJ_TRUE: llv_buf_str(b, "true"); return;
    case LLV_PJ_FALSE: llv_buf_str(b, "false"); return;
    case LLV_PJ_INT:
        /* a Python int prints its digits; JSON allows no leading zeros, so only -0 changes */
        if (strcmp(v->s, "-0") == 0) llv_buf_chr(b, '0');
        else llv_buf_put(b, v->s, v->n);
        return;
    case LLV_PJ_FLOAT:
        if (strcmp(v->s, "NaN") == 0) llv_buf_str(b, "NaN");
        else if (strcmp(v->s, "Infinity") == 0) llv_buf_str(b, "Infinity");
        else if (strcmp(v->s, "-Infinity") == 0) llv_buf_str(b, "-Infinity");
        else py_float_repr(strtod(v->s, NULL), b);
        return;
    case LLV_PJ_STR: llv_pj_string(v->s, v->n, b); return;
    case LLV_PJ_ARR:
    case LLV_PJ_OBJ: {
        const bool obj = v->t == LLV_PJ_OBJ;
        if (v->count == 0) {
            llv_buf_str(b, obj ? "{}" : "[]");
            return;
        }
        llv_buf_chr(b, obj ? '{' : '[');
        for (size_t i = 0; i < v->count; i++) {
            if (i) llv_buf_str(b, indent ? "," : ", ");
            if (indent) py_newline_indent(b, indent, level + 1);
            if (obj) {
                llv_pj_string(v->keys[i].s, v->keys[i].n, b);
                llv_buf_str(b, ": ");
            }
            dump(&v->items[i], b, indent, level + 1);
        }
        if (indent) py_newline_indent(b, indent, level);
        llv_buf_chr(b, obj ? '}' : ']');
        return;
    }
    }
}

void llv_pj_dump(const llv_pj *v, llv_buf *b, int indent) { dump(v, b, indent, 0); }
