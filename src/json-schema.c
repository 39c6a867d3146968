/* json-schema.c - JSON Schema -> GBNF (json-schema.h). Every subschema
 * becomes a rule; primitives (string, number, value, ...) are shared rules
 * emitted once; $ref targets are memoized, so recursion goes through rules.
 * The result is checked with llv_grammar_parse before it is returned, so a
 * $ref cycle that consumes nothing comes back as an error here. */
#include "json-schema.h"

#include "grammar.h"
#include "utf8.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct jbuf {
    char  *p;
    size_t n, cap;
    bool   oom;
} jbuf;

static void jb_putn(jbuf *b, const char *s, size_t n) {
    if (b->oom) return;
    if (b->n + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->n + n + 1) cap *= 2;
        char *p = realloc(b->p, cap);
        if (!p) {
            b->oom = true;
            return;
        }
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->n, s, n);
    b->n += n;
    b->p[b->n] = 0;
}
static void jb_puts(jbuf *b, const char *s) { jb_putn(b, s, strlen(s)); }
static void jb_printf(jbuf *b, const char *fmt, ...) LLV_PRINTF(2, 3);
static void jb_printf(jbuf *b, const char *fmt, ...) {
    char tmp[256];
    va_list ap;
    va_start(ap, fmt);
    int k = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (k < 0) return;
    if ((size_t)k < sizeof tmp) {
        jb_putn(b, tmp, (size_t)k);
        return;
    }
    char *big = malloc((size_t)k + 1);
    if (!big) {
        b->oom = true;
        return;
    }
    va_start(ap, fmt);
    vsnprintf(big, (size_t)k + 1, fmt, ap);
    va_end(ap);
    jb_putn(b, big, (size_t)k);
    free(big);
}

/* shared rules, emitted on first use */
enum {
    P_SPACE, P_VALUE, P_OBJECT, P_ARRAY, P_STRING, P_CHAR, P_NUMBER, P_INTEGER, P_INTEGRAL, P_DECIMAL, P_BOOLEAN,
    P_NULL, P_HEX, P_UESC, P_DATE, P_TIME, P_DATETIME, P_UUID, P_DATE_S, P_TIME_S, P_DATETIME_S, P_UUID_S,
    P_PCHAR, P_KEYCHAR, P_COUNT
};
static const struct {
    const char *name, *body;
    unsigned    deps; /* bit mask of P_* it uses */
} prims[P_COUNT] = {
    [P_SPACE] = {"space", "| \" \" | \"\\n\"{1,2} [ \\t]{0,20}", 0},
    [P_VALUE] = {"value", "object | array | string | number | boolean | null",
                 1u << P_OBJECT | 1u << P_ARRAY | 1u << P_STRING | 1u << P_NUMBER | 1u << P_BOOLEAN | 1u << P_NULL},
    [P_OBJECT] = {"object",
                  "\"{\" space ( string \":\" space value (\",\" space string \":\" space value)* )? \"}\" space",
                  1u << P_SPACE | 1u << P_STRING | 1u << P_VALUE},
    [P_ARRAY] = {"array", "\"[\" space ( value (\",\" space value)* )? \"]\" space", 1u << P_SPACE | 1u << P_VALUE},
    [P_STRING] = {"string", "\"\\\"\" char* \"\\\"\" space", 1u << P_CHAR | 1u << P_SPACE},
    /* an escape never encodes NUL or a lone surrogate: common parsers reject them */
    [P_CHAR] = {"char", "[^\"\\\\\\x7F\\x00-\\x1F] | \"\\\\\" ([\"\\\\/bfnrt] | \"u\" u-esc)", 1u << P_UESC},
    [P_HEX] = {"hex", "[0-9a-fA-F]", 0},
    [P_UESC] = {"u-esc",
                "[1-9a-cA-CeEfF] hex{3} | \"0\" ([1-9a-fA-F] hex{2} | \"0\" ([1-9a-fA-F] hex | \"0\" [1-9a-fA-F])) | "
                "[dD] [0-7] hex{2} | [dD] [89abAB] hex{2} \"\\\\u\" [dD] [c-fC-F] hex{2}",
                1u << P_HEX},
    [P_NUMBER] = {"number", "(\"-\"? integral-part) (\".\" decimal-part)? ([eE] [-+]? integral-part)? space",
                  1u << P_INTEGRAL | 1u << P_DECIMAL | 1u << P_SPACE},
    [P_INTEGER] = {"integer", "(\"-\"? integral-part) space", 1u << P_INTEGRAL | 1u << P_SPACE},
    [P_INTEGRAL] = {"integral-part", "[0] | [1-9] [0-9]{0,14}", 0},
    [P_DECIMAL] = {"decimal-part", "[0-9]{1,15}", 0},
    [P_BOOLEAN] = {"boolean", "(\"true\" | \"false\") space", 1u << P_SPACE},
    [P_NULL] = {"null", "\"null\" space", 1u << P_SPACE},
    [P_DATE] = {"date", "[0-9]{4} \"-\" ( \"0\" [1-9] | \"1\" [0-2] ) \"-\" ( \"0\" [1-9] | [1-2] [0-9] | \"3\" [0-1] )", 0},
    [P_TIME] = {"time",
                "([01] [0-9] | \"2\" [0-3]) \":\" [0-5] [0-9] \":\" [0-5] [0-9] ( \".\" [0-9]{3} )? "
                "( \"Z\" | ( \"+\" | \"-\" ) ( [01] [0-9] | \"2\" [0-3] ) \":\" [0-5] [0-9] )",
                0},
    [P_DATETIME] = {"date-time", "date \"T\" time", 1u << P_DATE | 1u << P_TIME},
    [P_UUID] = {"uuid", "hex{8} \"-\" hex{4} \"-\" hex{4} \"-\" hex{4} \"-\" hex{12}", 1u << P_HEX},
    [P_DATE_S] = {"date-string", "\"\\\"\" date \"\\\"\" space", 1u << P_DATE | 1u << P_SPACE},
    [P_TIME_S] = {"time-string", "\"\\\"\" time \"\\\"\" space", 1u << P_TIME | 1u << P_SPACE},
    [P_DATETIME_S] = {"date-time-string", "\"\\\"\" date-time \"\\\"\" space", 1u << P_DATETIME | 1u << P_SPACE},
    [P_UUID_S] = {"uuid-string", "\"\\\"\" uuid \"\\\"\" space", 1u << P_UUID | 1u << P_SPACE},
    /* a regex '.': any character but line terminators, written without escapes but \" and \\ */
    [P_PCHAR] = {"pattern-char", "[^\"\\\\\\x7F\\x00-\\x1F\\u2028\\u2029] | \"\\\\\\\"\" | \"\\\\\\\\\"", 0},
    /* a character of an additional property's name (no escapes: names compare as written) */
    [P_KEYCHAR] = {"key-char", "[^\"\\\\\\x7F\\x00-\\x1F]", 0},
};

typedef struct conv {
    const cJSON *doc;
    jbuf         out;
    llv_error   *err;
    llv_status   st;
    bool         failed;
    unsigned     prim;
    int          nodes, counter, depth;
    struct cref { const cJSON *s; char name[64]; } *refs;
    size_t       n_refs, cap_refs;
    char         path[2048];
    size_t       path_n;
} conv;

static bool fail(conv *c, llv_status st, const char *fmt, ...) LLV_PRINTF(3, 4);
static bool fail(conv *c, llv_status st, const char *fmt, ...) {
    if (c->failed) return false;
    c->failed = true;
    c->st = st;
    char msg[LLV_ERROR_MESSAGE_SIZE];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    llv_err(c->err, st, "json schema at '%s': %s", c->path_n ? c->path : "/", msg);
    return false;
}

/* JSON pointer segments of the current location (for messages) */
static size_t path_push(conv *c, const char *seg) {
    size_t old = c->path_n;
    if (c->path_n + 2 >= sizeof c->path) return old;
    c->path[c->path_n++] = '/';
    for (const char *s = seg; *s && c->path_n + 3 < sizeof c->path; s++) {
        if (*s == '~') c->path[c->path_n++] = '~', c->path[c->path_n++] = '0';
        else if (*s == '/') c->path[c->path_n++] = '~', c->path[c->path_n++] = '1';
        else c->path[c->path_n++] = *s;
    }
    c->path[c->path_n] = 0;
    return old;
}
static size_t path_push_i(conv *c, int i) {
    char b[16];
    snprintf(b, sizeof b, "%d", i);
    return path_push(c, b);
}
static void path_pop(conv *c, size_t old) {
    c->path_n = old;
    c->path[old] = 0;
}

static void use(conv *c, int p) { c->prim |= 1u << p; }

/* A GBNF string literal of bytes s[0..n) (UTF-8 kept, the rest escaped). */
static void gbnf_literal(jbuf *b, const char *s, size_t n) {
    jb_puts(b, "\"");
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (ch == '"') jb_puts(b, "\\\"");
        else if (ch == '\\') jb_puts(b, "\\\\");
        else if (ch < 0x20 || ch == 0x7F) jb_printf(b, "\\x%02X", ch);
        else jb_putn(b, (const char *)&ch, 1);
    }
    jb_puts(b, "\"");
}

/* The JSON text of value v as a GBNF literal (cJSON's compact form). */
static bool json_literal(conv *c, const cJSON *v, jbuf *b) {
    char *txt = cJSON_PrintUnformatted(v);
    if (!txt) return fail(c, LLV_ERR_OUT_OF_MEMORY, "out of memory");
    gbnf_literal(b, txt, strlen(txt));
    free(txt);
    return true;
}

/* A new rule name from a hint (letters, digits, '-'), unique by a counter. */
static void rule_name(conv *c, const char *hint, char name[64]) {
    char h[40];
    size_t k = 0;
    for (const char *s = hint; *s && k < sizeof h - 1; s++) {
        char ch = *s;
        if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9')) h[k++] = ch;
        else if (k && h[k - 1] != '-') h[k++] = '-';
    }
    h[k] = 0;
    snprintf(name, 64, "%s-%d", k ? h : "r", c->counter++);
}

static void add_rule(conv *c, const char *name, const char *body) {
    jb_puts(&c->out, name);
    jb_puts(&c->out, " ::= ");
    jb_puts(&c->out, body);
    jb_puts(&c->out, "\n");
    if (c->out.n > LLV_GRAMMAR_MAX_BYTES)
        fail(c, LLV_ERR_INVALID_ARGUMENT, "the grammar grows over %u bytes", LLV_GRAMMAR_MAX_BYTES);
}

static bool visit(conv *c, const cJSON *s, const char *hint, char name[64]);
static const cJSON *schema_resolve(const cJSON *doc, const char *ref);

/* ---- keywords ------------------------------------------------------------ */

static const char *const annotations[] = {"title", "description", "$schema", "$id", "default", "examples", "$comment",
                                          "readOnly", "writeOnly", "deprecated", "$anchor", "$defs", "definitions",
                                          NULL};
static const char *const handled[] = {"type", "properties", "required", "additionalProperties", "items", "prefixItems",
                                      "minItems", "maxItems", "enum", "const", "pattern", "minLength", "maxLength",
                                      "format", "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "anyOf",
                                      "oneOf", "allOf", "$ref", "uniqueItems", NULL};

static bool in_list(const char *k, const char *const *l) {
    for (; *l; l++)
        if (strcmp(k, *l) == 0) return true;
    return false;
}

/* Every keyword must be handled or an annotation; also checks types of the
 * simple ones. */
static bool check_keywords(conv *c, const cJSON *s) {
    for (const cJSON *k = s->child; k; k = k->next) {
        if (in_list(k->string, annotations)) continue;
        if (!in_list(k->string, handled)) {
            size_t o = path_push(c, k->string);
            fail(c, LLV_ERR_UNSUPPORTED, "keyword '%s' is not supported", k->string);
            path_pop(c, o);
            return false;
        }
        if (strcmp(k->string, "uniqueItems") == 0 && !cJSON_IsFalse(k))
            return fail(c, LLV_ERR_UNSUPPORTED, "keyword 'uniqueItems' (true) is not supported");
        if ((strcmp(k->string, "exclusiveMinimum") == 0 || strcmp(k->string, "exclusiveMaximum") == 0) &&
            !cJSON_IsNumber(k))
            return fail(c, LLV_ERR_UNSUPPORTED, "keyword '%s' must be a number (draft-4 booleans are not supported)",
                        k->string);
    }
    return true;
}

static bool get_count(conv *c, const cJSON *s, const char *key, long def, long *out) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(s, key);
    *out = def;
    if (!v) return true;
    if (!cJSON_IsNumber(v) || v->valuedouble < 0 || v->valuedouble != floor(v->valuedouble))
        return fail(c, LLV_ERR_INVALID_ARGUMENT, "'%s' must be a non-negative integer", key);
    if (v->valuedouble > LLV_SCHEMA_MAX_ITEMS)
        return fail(c, LLV_ERR_INVALID_ARGUMENT, "'%s' %.0f is over the limit of %d", key, v->valuedouble,
                    LLV_SCHEMA_MAX_ITEMS);
    *out = (long)v->valuedouble;
    return true;
}

/* x{min,max} for a GBNF expression x (max -1: unbounded). */
static void repeat_expr(jbuf *b, const char *x, long min, long max) {
    if (min == 0 && max == -1) jb_printf(b, "(%s)*", x);
    else if (min == 1 && max == -1) jb_printf(b, "(%s)+", x);
    else if (max == -1) jb_printf(b, "(%s){%ld,}", x, min);
    else if (min == max) jb_printf(b, "(%s){%ld}", x, min);
    else jb_printf(b, "(%s){%ld,%ld}", x, min, max);
}

/* ---- integers and numbers -------------------------------------------------- */

/* Equal-length decimal strings a <= b (length n): alternatives for every
 * digit string between them. */
static void digits_range(jbuf *b, const char *a, const char *z, int n) {
    if (n == 0) return;
    if (memcmp(a, z, (size_t)n) == 0) {
        jb_printf(b, "\"%.*s\"", n, a);
        return;
    }
    if (a[0] == z[0]) {
        jb_printf(b, "\"%c\" (", a[0]);
        digits_range(b, a + 1, z + 1, n - 1);
        jb_puts(b, ")");
        return;
    }
    bool a_zero = true, z_nine = true;
    for (int i = 1; i < n; i++) a_zero &= a[i] == '0', z_nine &= z[i] == '9';
    char lo = a_zero ? a[0] : (char)(a[0] + 1), hi = z_nine ? z[0] : (char)(z[0] - 1);
    bool first = true;
    jb_puts(b, "(");
    if (!a_zero) {
        char nines[32];
        memset(nines, '9', sizeof nines);
        jb_printf(b, "\"%c\" (", a[0]);
        digits_range(b, a + 1, nines, n - 1);
        jb_puts(b, ")");
        first = false;
    }
    if (lo <= hi) {
        if (!first) jb_puts(b, " | ");
        jb_printf(b, "[%c-%c]", lo, hi);
        if (n > 1) jb_printf(b, " [0-9]{%d}", n - 1);
        first = false;
    }
    if (!z_nine) {
        char zeros[32];
        memset(zeros, '0', sizeof zeros);
        if (!first) jb_puts(b, " | ");
        jb_printf(b, "\"%c\" (", z[0]);
        digits_range(b, zeros, z + 1, n - 1);
        jb_puts(b, ")");
    }
    jb_puts(b, ")");
}

#define INT_DIGITS_MAX 999999999999999LL /* LLV_SCHEMA_MAX_DIGITS nines */

/* Decimal integers (no sign, no leading zeros) in [lo, hi], 0 <= lo <= hi. */
static void int_range(jbuf *b, long long lo, long long hi) {
    char sl[32], sh[32];
    int nl = snprintf(sl, sizeof sl, "%lld", lo), nh = snprintf(sh, sizeof sh, "%lld", hi);
    jb_puts(b, "(");
    for (int L = nl; L <= nh; L++) {
        char a[32], z[32];
        if (L == nl) memcpy(a, sl, (size_t)L);
        else a[0] = '1', memset(a + 1, '0', (size_t)L - 1);
        if (L == nh) memcpy(z, sh, (size_t)L);
        else memset(z, '9', (size_t)L);
        if (L > nl) jb_puts(b, " | ");
        digits_range(b, a, z, L);
    }
    jb_puts(b, ")");
}

/* A bound of the schema as an integer: the value, whether present; a
 * non-integer one is unsupported for numbers and rounded inward for integers. */
typedef struct bound {
    bool      has, excl;
    long long v;
} bound;

static bool read_bounds(conv *c, const cJSON *s, bool integer, bound *lo, bound *hi) {
    const char *keys[4] = {"minimum", "exclusiveMinimum", "maximum", "exclusiveMaximum"};
    *lo = *hi = (bound){0};
    for (int i = 0; i < 4; i++) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(s, keys[i]);
        if (!v) continue;
        if (!cJSON_IsNumber(v)) return fail(c, LLV_ERR_INVALID_ARGUMENT, "'%s' must be a number", keys[i]);
        double d = v->valuedouble;
        if (!(fabs(d) <= (double)INT_DIGITS_MAX))
            return fail(c, LLV_ERR_UNSUPPORTED, "'%s' %g: bounds beyond %d digits are not supported", keys[i], d,
                        LLV_SCHEMA_MAX_DIGITS);
        bool excl = i == 1 || i == 3, is_lo = i < 2;
        bool whole = d == floor(d);
        if (!whole && !integer)
            return fail(c, LLV_ERR_UNSUPPORTED, "'%s' %g: only whole-number bounds are supported for numbers", keys[i],
                        d);
        long long x;
        if (integer) { /* the tightest inclusive integer bound */
            if (is_lo) x = (long long)ceil(d) + (excl && whole);
            else x = (long long)floor(d) - (excl && whole);
            excl = false;
        } else {
            x = (long long)d;
        }
        bound *bd = is_lo ? lo : hi;
        /* two bounds on one side: keep the tighter */
        if (bd->has) {
            bool tighter = is_lo ? (x > bd->v || (x == bd->v && excl)) : (x < bd->v || (x == bd->v && excl));
            if (!tighter) continue;
        }
        *bd = (bound){true, excl, x};
    }
    return true;
}

/* Non-negative values m with lo <= m <= hi (hi < 0: unbounded), whole
 * numbers only when integer, else decimals without exponent; exclusivity
 * per side. Appends alternatives (no trailing space); false when empty. */
static bool magnitude(conv *c, jbuf *b, long long lo, bool lo_excl, long long hi, bool hi_excl, bool integer) {
    if (hi < 0) hi = INT_DIGITS_MAX, hi_excl = false;
    if (integer) {
        if (lo > hi) return false;
        int_range(b, lo, hi);
        return true;
    }
    use(c, P_DECIMAL);
    const char *any_frac = "(\".\" decimal-part)?";
    const char *zero_frac = "(\".\" \"0\"{1,15})?";
    const char *pos_frac = "\".\" \"0\"{0,14} [1-9] [0-9]{0,14}";
    bool first = true;
#define ALT() (first ? (void)(first = false) : jb_puts(b, " | "))
    if (lo == hi) {
        if (lo_excl || hi_excl) return false;
        ALT();
        int_range(b, lo, lo);
        jb_printf(b, " %s", zero_frac);
        return true;
    }
    if (lo > hi) return false;
    jb_puts(b, "(");
    ALT(); /* integer part lo */
    int_range(b, lo, lo);
    jb_printf(b, " %s", lo_excl ? pos_frac : any_frac);
    if (lo + 1 <= hi - 1) {
        ALT();
        int_range(b, lo + 1, hi - 1);
        jb_printf(b, " %s", any_frac);
    }
    if (!hi_excl) {
        ALT();
        int_range(b, hi, hi);
        jb_printf(b, " %s", zero_frac);
    }
    jb_puts(b, ")");
#undef ALT
    return true;
}

static bool number_rule(conv *c, const cJSON *s, bool integer, jbuf *b) {
    bound lo, hi;
    if (!read_bounds(c, s, integer, &lo, &hi)) return false;
    if (!lo.has && !hi.has) {
        use(c, integer ? P_INTEGER : P_NUMBER);
        jb_puts(b, integer ? "integer" : "number");
        return true;
    }
    use(c, P_SPACE);
    bool any = false;
    jb_puts(b, "(");
    /* x >= 0 */
    if (!hi.has || hi.v >= 0) {
        long long l = lo.has && lo.v >= 0 ? lo.v : 0;
        bool le = lo.has && lo.v >= 0 ? lo.excl : false;
        size_t mark = b->n;
        if (magnitude(c, b, l, le, hi.has ? hi.v : -1, hi.excl, integer)) any = true;
        else b->n = mark, b->p[mark] = 0;
    }
    /* x < 0: "-" m, m in (max(0, -hi), -lo] */
    if (!lo.has || lo.v < 0) {
        /* m > 0 always: zero belongs to the other side */
        long long l = hi.has && hi.v < 0 ? -hi.v : 0;
        bool le = hi.has && hi.v < 0 ? hi.excl : true;
        if (integer && l == 0) l = 1, le = false;
        size_t mark = b->n;
        if (any) jb_puts(b, " | ");
        jb_puts(b, "\"-\" ");
        if (magnitude(c, b, l, integer ? false : le, lo.has ? -lo.v : -1, lo.excl, integer)) any = true;
        else b->n = mark, b->p[mark] = 0;
    }
    jb_puts(b, ") space");
    if (!any) return fail(c, LLV_ERR_INVALID_ARGUMENT, "the range of '%s' is empty", integer ? "integer" : "number");
    return true;
}

/* ---- strings and patterns -------------------------------------------------- */

/* A code point in a GBNF character class. */
static void class_cp(jbuf *b, uint32_t cp) {
    if ((cp >= 'a' && cp <= 'z') || (cp >= 'A' && cp <= 'Z') || (cp >= '0' && cp <= '9')) jb_printf(b, "%c", (char)cp);
    else if (cp < 0x100) jb_printf(b, "\\x%02X", cp);
    else if (cp < 0x10000) jb_printf(b, "\\u%04X", cp);
    else jb_printf(b, "\\U%08X", cp);
}

/* A literal character of a pattern as the JSON text that encodes it. */
static void json_char(jbuf *b, uint32_t cp) {
    char u[8];
    if (cp == '"') jb_puts(b, "\"\\\\\\\"\"");
    else if (cp == '\\') jb_puts(b, "\"\\\\\\\\\"");
    else if (cp == '\n') jb_puts(b, "\"\\\\n\"");
    else if (cp == '\t') jb_puts(b, "\"\\\\t\"");
    else if (cp == '\r') jb_puts(b, "\"\\\\r\"");
    else if (cp < 0x20 || cp == 0x7F) jb_printf(b, "\"\\\\u%04x\"", cp);
    else {
        size_t n;
        if (cp < 0x80) u[0] = (char)cp, n = 1;
        else if (cp < 0x800) u[0] = (char)(0xC0 | (cp >> 6)), u[1] = (char)(0x80 | (cp & 0x3F)), n = 2;
        else if (cp < 0x10000)
            u[0] = (char)(0xE0 | (cp >> 12)), u[1] = (char)(0x80 | ((cp >> 6) & 0x3F)), u[2] = (char)(0x80 | (cp & 0x3F)),
            n = 3;
        else
            u[0] = (char)(0xF0 | (cp >> 18)), u[1] = (char)(0x80 | ((cp >> 12) & 0x3F)),
            u[2] = (char)(0x80 | ((cp >> 6) & 0x3F)), u[3] = (char)(0x80 | (cp & 0x3F)), n = 4;
        gbnf_literal(b, u, n);
    }
}

typedef struct rx {
    conv          *c;
    const uint8_t *s;
    size_t         n, pos;
    int            depth;
} rx;

static bool rx_fail(rx *r, const char *what) {
    return fail(r->c, LLV_ERR_UNSUPPORTED, "pattern: %s at offset %zu is not supported", what, r->pos);
}

static bool rx_cp(rx *r, uint32_t *cp) {
    size_t l = llv_utf8_decode(r->s + r->pos, r->n - r->pos, cp);
    if (!l) return fail(r->c, LLV_ERR_INVALID_ARGUMENT, "pattern: invalid UTF-8");
    r->pos += l;
    return true;
}

/* Ranges of a class escape (\d \w \s); 0 if c is not one. */
static int class_escape(char e, uint32_t *pairs, bool *neg) {
    *neg = e == 'D' || e == 'W' || e == 'S';
    switch (e) {
    case 'd': case 'D': pairs[0] = '0', pairs[1] = '9'; return 1;
    case 'w': case 'W':
        pairs[0] = '0', pairs[1] = '9', pairs[2] = 'A', pairs[3] = 'Z', pairs[4] = 'a', pairs[5] = 'z', pairs[6] = '_',
        pairs[7] = '_';
        return 4;
    case 's': case 'S': pairs[0] = ' ', pairs[1] = ' ', pairs[2] = '\t', pairs[3] = '\r', pairs[4] = '\n', pairs[5] = '\n';
        return 3;
    default: return 0;
    }
}

/* A simple escaped character (\n, \., \uXXXX ...); false (error set) if unsupported. */
static bool rx_escape_char(rx *r, uint32_t *cp) {
    if (r->pos >= r->n) return rx_fail(r, "a trailing '\\'");
    char e = (char)r->s[r->pos++];
    switch (e) {
    case 'n': *cp = '\n'; return true;
    case 't': *cp = '\t'; return true;
    case 'r': *cp = '\r'; return true;
    case 'f': *cp = '\f'; return true;
    case 'v': *cp = '\v'; return true;
    case '0': *cp = 0; return true;
    case 'x': case 'u': {
        int nd = e == 'x' ? 2 : 4;
        uint32_t v = 0;
        for (int i = 0; i < nd; i++) {
            char h = r->pos < r->n ? (char)r->s[r->pos] : 0;
            int d = h >= '0' && h <= '9' ? h - '0' : h >= 'a' && h <= 'f' ? h - 'a' + 10 : h >= 'A' && h <= 'F' ? h - 'A' + 10 : -1;
            if (d < 0) return rx_fail(r, "a malformed \\x or \\u escape");
            v = v * 16 + (uint32_t)d;
            r->pos++;
        }
        if (v >= 0xD800 && v <= 0xDFFF) return rx_fail(r, "a surrogate escape");
        *cp = v;
        return true;
    }
    default:
        if ((e >= 'a' && e <= 'z') || (e >= 'A' && e <= 'Z') || (e >= '0' && e <= '9')) {
            r->pos--;
            return rx_fail(r, e == 'b' || e == 'B' ? "a word boundary" : "this escape");
        }
        *cp = (uint32_t)(unsigned char)e;
        return true;
    }
}

/* Appends a class (pairs, negated) as JSON text: raw characters, plus the
 * escapes \" and \\ when the class has those characters (other controls
 * are not generated: a subset of the class). */
static void rx_class_out(jbuf *b, const uint32_t *pairs, size_t n, bool neg) {
    bool has_q = false, has_bs = false;
    for (size_t i = 0; i < n; i++) {
        has_q |= pairs[2 * i] <= '"' && pairs[2 * i + 1] >= '"';
        has_bs |= pairs[2 * i] <= '\\' && pairs[2 * i + 1] >= '\\';
    }
    bool want_q = neg ? !has_q : has_q, want_bs = neg ? !has_bs : has_bs;
    jbuf raw = {0};
    if (neg) {
        jb_puts(&raw, "[^\\x22\\x5C\\x7F\\x00-\\x1F");
        for (size_t i = 0; i < n; i++) {
            class_cp(&raw, pairs[2 * i]);
            if (pairs[2 * i + 1] != pairs[2 * i]) jb_puts(&raw, "-"), class_cp(&raw, pairs[2 * i + 1]);
        }
        jb_puts(&raw, "]");
    } else { /* the ranges without controls, '"', '\\' and DEL */
        static const uint32_t cut[][2] = {{0, 0x1F}, {'"', '"'}, {'\\', '\\'}, {0x7F, 0x7F}};
        for (size_t i = 0; i < n; i++) {
            uint32_t cur = pairs[2 * i], hi = pairs[2 * i + 1];
            for (size_t k = 0; k <= 4 && cur <= hi; k++) {
                uint32_t end = k < 4 ? (cut[k][0] > 0 ? cut[k][0] - 1 : 0) : hi;
                bool before = k == 4 || cut[k][0] > cur;
                if (k < 4 && (cut[k][1] < cur || cut[k][0] > hi)) continue;
                if (before) {
                    if (end > hi) end = hi;
                    if (!raw.n) jb_puts(&raw, "[");
                    class_cp(&raw, cur);
                    if (end != cur) jb_puts(&raw, "-"), class_cp(&raw, end);
                }
                if (k < 4) cur = cut[k][1] + 1;
                else cur = hi + 1;
            }
        }
        if (raw.n) jb_puts(&raw, "]");
    }
    jb_puts(b, "(");
    bool first = true;
    if (raw.n) jb_puts(b, raw.p), first = false;
    if (want_q) jb_puts(b, first ? "\"\\\\\\\"\"" : " | \"\\\\\\\"\""), first = false;
    if (want_bs) jb_puts(b, first ? "\"\\\\\\\\\"" : " | \"\\\\\\\\\""), first = false;
    if (first) jb_puts(b, "[^\\x00-\\U0010FFFF]"); /* nothing: the grammar check reports it */
    jb_puts(b, ")");
    free(raw.p);
}

static bool rx_alt(rx *r, jbuf *b);

static bool rx_class(rx *r, jbuf *b) {
    bool neg = r->pos < r->n && r->s[r->pos] == '^';
    if (neg) r->pos++;
    uint32_t pairs[2 * 256];
    size_t n = 0;
    bool first = true;
    while (r->pos < r->n && (r->s[r->pos] != ']' || first)) {
        first = false;
        if (n + 8 > 256) return rx_fail(r, "a character class this long");
        uint32_t lo;
        if (r->s[r->pos] == '\\') {
            r->pos++;
            bool eneg;
            uint32_t ep[8];
            int k = r->pos < r->n ? class_escape((char)r->s[r->pos], ep, &eneg) : 0;
            if (k) {
                if (eneg) return rx_fail(r, "a negated class escape inside [ ]");
                r->pos++;
                memcpy(pairs + 2 * n, ep, 2 * (size_t)k * sizeof *ep);
                n += (size_t)k;
                continue;
            }
            if (r->pos < r->n && r->s[r->pos] == 'b') lo = 8, r->pos++;
            else if (!rx_escape_char(r, &lo)) return false;
        } else if (!rx_cp(r, &lo)) {
            return false;
        }
        uint32_t hi = lo;
        if (r->pos + 1 < r->n && r->s[r->pos] == '-' && r->s[r->pos + 1] != ']') {
            r->pos++;
            if (r->s[r->pos] == '\\') {
                r->pos++;
                if (!rx_escape_char(r, &hi)) return false;
            } else if (!rx_cp(r, &hi)) {
                return false;
            }
            if (hi < lo) return fail(r->c, LLV_ERR_INVALID_ARGUMENT, "pattern: a range out of order");
        }
        pairs[2 * n] = lo, pairs[2 * n + 1] = hi, n++;
    }
    if (r->pos >= r->n) return fail(r->c, LLV_ERR_INVALID_ARGUMENT, "pattern: unterminated '['");
    r->pos++;
    rx_class_out(b, pairs, n, neg);
    return true;
}

static bool rx_atom(rx *r, jbuf *b) {
    uint8_t ch = r->s[r->pos];
    if (ch == '(') {
        r->pos++;
        if (r->pos < r->n && r->s[r->pos] == '?') {
            if (r->pos + 1 < r->n && r->s[r->pos + 1] == ':') r->pos += 2;
            else return rx_fail(r, "a lookaround, named group or flag group");
        }
        if (++r->depth > LLV_SCHEMA_MAX_DEPTH) return fail(r->c, LLV_ERR_INVALID_ARGUMENT, "pattern: groups nested too deep");
        jb_puts(b, "(");
        if (!rx_alt(r, b)) return false;
        r->depth--;
        if (r->pos >= r->n || r->s[r->pos] != ')') return fail(r->c, LLV_ERR_INVALID_ARGUMENT, "pattern: unclosed '('");
        r->pos++;
        jb_puts(b, ")");
        return true;
    }
    if (ch == '[') {
        r->pos++;
        return rx_class(r, b);
    }
    if (ch == '.') {
        r->pos++;
        use(r->c, P_PCHAR);
        jb_puts(b, "pattern-char");
        return true;
    }
    if (ch == '\\') {
        r->pos++;
        bool neg;
        uint32_t ep[8];
        int k = r->pos < r->n ? class_escape((char)r->s[r->pos], ep, &neg) : 0;
        if (k) {
            r->pos++;
            rx_class_out(b, ep, (size_t)k, neg);
            return true;
        }
        uint32_t cp;
        if (!rx_escape_char(r, &cp)) return false;
        json_char(b, cp);
        return true;
    }
    if (ch == '^' || ch == '$') return rx_fail(r, "an anchor inside the pattern");
    if (ch == '*' || ch == '+' || ch == '?' || ch == '{') return rx_fail(r, "a quantifier without an atom");
    uint32_t cp;
    if (!rx_cp(r, &cp)) return false;
    json_char(b, cp);
    return true;
}

static bool rx_seq(rx *r, jbuf *b) {
    bool any = false;
    while (r->pos < r->n && r->s[r->pos] != '|' && r->s[r->pos] != ')') {
        if (r->s[r->pos] == '$' && r->pos + 1 == r->n) break; /* the end anchor */
        jbuf atom = {0};
        if (!rx_atom(r, &atom)) return free(atom.p), false;
        if (atom.oom) return free(atom.p), fail(r->c, LLV_ERR_OUT_OF_MEMORY, "out of memory");
        long min = 1, max = 1;
        if (r->pos < r->n) {
            uint8_t q = r->s[r->pos];
            if (q == '*') min = 0, max = -1, r->pos++;
            else if (q == '+') min = 1, max = -1, r->pos++;
            else if (q == '?') min = 0, max = 1, r->pos++;
            else if (q == '{') {
                size_t save = r->pos++;
                long a = -1, z = -1;
                bool comma = false;
                while (r->pos < r->n && r->s[r->pos] >= '0' && r->s[r->pos] <= '9' && a < 100000)
                    a = (a < 0 ? 0 : a * 10) + (r->s[r->pos++] - '0');
                if (r->pos < r->n && r->s[r->pos] == ',') {
                    comma = true;
                    r->pos++;
                    while (r->pos < r->n && r->s[r->pos] >= '0' && r->s[r->pos] <= '9' && z < 100000)
                        z = (z < 0 ? 0 : z * 10) + (r->s[r->pos++] - '0');
                }
                if (r->pos >= r->n || r->s[r->pos] != '}' || a < 0) {
                    r->pos = save;
                    free(atom.p);
                    return rx_fail(r, "this '{'");
                }
                r->pos++;
                min = a;
                max = comma ? z : a;
                if (min > LLV_SCHEMA_MAX_ITEMS || max > LLV_SCHEMA_MAX_ITEMS) {
                    free(atom.p);
                    return fail(r->c, LLV_ERR_INVALID_ARGUMENT, "pattern: a count over %d", LLV_SCHEMA_MAX_ITEMS);
                }
                if (max >= 0 && max < min) {
                    free(atom.p);
                    return fail(r->c, LLV_ERR_INVALID_ARGUMENT, "pattern: {%ld,%ld} out of order", min, max);
                }
            }
            if (min != 1 || max != 1) {
                if (r->pos < r->n && r->s[r->pos] == '?') r->pos++; /* lazy: the same language */
                else if (r->pos < r->n && r->s[r->pos] == '+') {
                    free(atom.p);
                    return rx_fail(r, "a possessive quantifier");
                }
            }
        }
        if (any) jb_puts(b, " ");
        if (min == 1 && max == 1) jb_puts(b, atom.p);
        else repeat_expr(b, atom.p, min, max);
        free(atom.p);
        any = true;
    }
    if (!any) jb_puts(b, "\"\"");
    return true;
}

static bool rx_alt(rx *r, jbuf *b) {
    jb_puts(b, "(");
    if (!rx_seq(r, b)) return false;
    while (r->pos < r->n && r->s[r->pos] == '|') {
        r->pos++;
        jb_puts(b, " | ");
        if (!rx_seq(r, b)) return false;
    }
    jb_puts(b, ")");
    return true;
}

static bool pattern_rule(conv *c, const char *pat, jbuf *b) {
    rx r = {c, (const uint8_t *)pat, strlen(pat), 0, 0};
    /* a match anywhere would do; generating whole matches is a subset of that */
    if (r.n && r.s[0] == '^') r.pos = 1;
    jb_puts(b, "\"\\\"\" ");
    if (!rx_alt(&r, b)) return false;
    if (r.pos < r.n && r.s[r.pos] == '$' && r.pos + 1 == r.n) r.pos++;
    if (r.pos < r.n) return r.s[r.pos] == ')' ? fail(c, LLV_ERR_INVALID_ARGUMENT, "pattern: unmatched ')'") : rx_fail(&r, "this character");
    jb_puts(b, " \"\\\"\" space");
    use(c, P_SPACE);
    return true;
}

static bool string_rule(conv *c, const cJSON *s, jbuf *b) {
    const cJSON *pat = cJSON_GetObjectItemCaseSensitive(s, "pattern");
    const cJSON *fmt = cJSON_GetObjectItemCaseSensitive(s, "format");
    long mn, mx;
    if (!get_count(c, s, "minLength", 0, &mn) || !get_count(c, s, "maxLength", -1, &mx)) return false;
    if (mx >= 0 && mx < mn) return fail(c, LLV_ERR_INVALID_ARGUMENT, "maxLength below minLength");
    bool lengths = mn > 0 || mx >= 0;
    if ((pat != NULL) + (fmt != NULL) + lengths > 1)
        return fail(c, LLV_ERR_UNSUPPORTED, "combining pattern, format and minLength/maxLength is not supported");
    if (pat) {
        if (!cJSON_IsString(pat)) return fail(c, LLV_ERR_INVALID_ARGUMENT, "'pattern' must be a string");
        size_t o = path_push(c, "pattern");
        bool ok = pattern_rule(c, pat->valuestring, b);
        path_pop(c, o);
        return ok;
    }
    if (fmt) {
        if (!cJSON_IsString(fmt)) return fail(c, LLV_ERR_INVALID_ARGUMENT, "'format' must be a string");
        static const struct { const char *name; int prim; } fmts[] = {
            {"date", P_DATE_S}, {"time", P_TIME_S}, {"date-time", P_DATETIME_S}, {"uuid", P_UUID_S}};
        for (size_t i = 0; i < sizeof fmts / sizeof fmts[0]; i++)
            if (strcmp(fmt->valuestring, fmts[i].name) == 0) {
                use(c, fmts[i].prim);
                jb_puts(b, prims[fmts[i].prim].name);
                return true;
            }
        size_t o = path_push(c, "format");
        fail(c, LLV_ERR_UNSUPPORTED, "format '%s' is not supported (date, time, date-time, uuid are)", fmt->valuestring);
        path_pop(c, o);
        return false;
    }
    if (!lengths) {
        use(c, P_STRING);
        jb_puts(b, "string");
        return true;
    }
    use(c, P_CHAR);
    use(c, P_SPACE);
    jb_puts(b, "\"\\\"\" ");
    if (mx == 0) jb_puts(b, "\"\"");
    else repeat_expr(b, "char", mn, mx);
    jb_puts(b, " \"\\\"\" space");
    return true;
}

/* ---- objects and arrays ------------------------------------------------------ */

/* JSON string contents (no escapes) other than any of names[i] + depth
 * (all sharing their first depth bytes): a trie walk by code points. */
static void not_names(conv *c, jbuf *b, const char **names, size_t n, size_t depth) {
    bool end_here = false, any = false;
    jbuf alts = {0}, excl = {0};
    const char **sub = malloc((n ? n : 1) * sizeof *sub);
    if (!sub) {
        c->out.oom = true;
        return;
    }
    for (size_t i = 0; i < n; i++) {
        size_t L = strlen(names[i]);
        if (L == depth) {
            end_here = true;
            continue;
        }
        uint32_t cp;
        size_t l = llv_utf8_decode((const unsigned char *)names[i] + depth, L - depth, &cp);
        if (!l || cp < 0x20 || cp == '"' || cp == '\\' || cp == 0x7F) continue; /* key-char never writes it */
        bool seen = false;
        for (size_t j = 0; j < i && !seen; j++)
            seen = strlen(names[j]) >= depth + l && memcmp(names[j] + depth, names[i] + depth, l) == 0;
        if (seen) continue;
        size_t ns = 0;
        for (size_t j = 0; j < n; j++)
            if (strlen(names[j]) >= depth + l && memcmp(names[j] + depth, names[i] + depth, l) == 0) sub[ns++] = names[j];
        if (any) jb_puts(&alts, " | ");
        gbnf_literal(&alts, names[i] + depth, l);
        jb_puts(&alts, " (");
        /* sub is reused by the recursion: copy it */
        const char **copy = malloc(ns * sizeof *copy);
        if (!copy) {
            c->out.oom = true;
            break;
        }
        memcpy(copy, sub, ns * sizeof *copy);
        not_names(c, &alts, copy, ns, depth + l);
        free(copy);
        jb_puts(&alts, ")");
        class_cp(&excl, cp);
        any = true;
    }
    free(sub);
    use(c, P_KEYCHAR);
    /* a character none of the names has here, then anything; or a name's next
     * character, then not the rest of it; or the end where no name ends */
    jb_puts(b, "(");
    if (excl.n) jb_printf(b, "[^\\x22\\x5C\\x7F\\x00-\\x1F%s] key-char*", excl.p);
    else jb_puts(b, "key-char+");
    if (any) jb_printf(b, " | %s", alts.p);
    if (!end_here) jb_puts(b, " | \"\"");
    jb_puts(b, ")");
    if (alts.oom || excl.oom) c->out.oom = true;
    free(alts.p);
    free(excl.p);
}

typedef struct prop {
    const char  *name;
    const cJSON *schema; /* NULL: any value */
    bool         required;
} prop;

#define FAILRET(...) do { ok = fail(__VA_ARGS__); goto done; } while (0)
static bool object_rule(conv *c, const cJSON *s, jbuf *b, const char *hint) {
    const cJSON *props = cJSON_GetObjectItemCaseSensitive(s, "properties");
    const cJSON *req = cJSON_GetObjectItemCaseSensitive(s, "required");
    const cJSON *addl = cJSON_GetObjectItemCaseSensitive(s, "additionalProperties");
    const cJSON *allof = cJSON_GetObjectItemCaseSensitive(s, "allOf");
    if (props && !cJSON_IsObject(props)) return fail(c, LLV_ERR_INVALID_ARGUMENT, "'properties' must be an object");
    if (req && !cJSON_IsArray(req)) return fail(c, LLV_ERR_INVALID_ARGUMENT, "'required' must be an array");
    if (addl && !cJSON_IsBool(addl) && !cJSON_IsObject(addl))
        return fail(c, LLV_ERR_INVALID_ARGUMENT, "'additionalProperties' must be a boolean or a schema");
    /* no properties and nothing else said: any object */
    if (!props && !req && !addl && !allof) {
        use(c, P_OBJECT);
        jb_puts(b, "object");
        return true;
    }
    prop *list = malloc(LLV_SCHEMA_MAX_PROPS * sizeof *list);
    char (*kv)[64] = malloc(LLV_SCHEMA_MAX_PROPS * sizeof *kv);
    bool ok = true;
    size_t n = 0;
    if (!list || !kv) {
        ok = fail(c, LLV_ERR_OUT_OF_MEMORY, "out of memory");
        goto done;
    }
    /* own properties, then those of allOf's object schemas */
    const cJSON *srcs[65];
    size_t n_src = 0;
    srcs[n_src++] = s;
    if (allof) {
        if (!cJSON_IsArray(allof)) FAILRET(c, LLV_ERR_INVALID_ARGUMENT, "'allOf' must be an array");
        int i = 0;
        for (const cJSON *a = allof->child; a; a = a->next, i++) {
            size_t o = path_push(c, "allOf");
            path_push_i(c, i);
            const cJSON *t = a;
            /* a $ref to an object schema: its properties */
            const cJSON *ref = cJSON_GetObjectItemCaseSensitive(a, "$ref");
            if (ref && cJSON_IsString(ref)) {
                t = schema_resolve(c->doc, ref->valuestring);
                if (!t) {
                    fail(c, LLV_ERR_INVALID_ARGUMENT, "$ref '%s' does not resolve", ref->valuestring);
                    path_pop(c, o);
                    { ok = false; goto done; }
                }
            }
            ok = cJSON_IsObject(t) && check_keywords(c, t);
            if (ok)
                for (const cJSON *k = t->child; k && ok; k = k->next)
                    if (!in_list(k->string, annotations) && strcmp(k->string, "properties") != 0 &&
                        strcmp(k->string, "required") != 0 && strcmp(k->string, "type") != 0 &&
                        strcmp(k->string, "additionalProperties") != 0)
                        ok = fail(c, LLV_ERR_UNSUPPORTED,
                                  "allOf: only object schemas (type, properties, required) are supported, not '%s'",
                                  k->string);
            if (ok && cJSON_GetObjectItemCaseSensitive(t, "additionalProperties"))
                ok = fail(c, LLV_ERR_UNSUPPORTED, "allOf: additionalProperties inside allOf is not supported");
            const cJSON *ty = cJSON_GetObjectItemCaseSensitive(t, "type");
            if (ok && ty && !(cJSON_IsString(ty) && strcmp(ty->valuestring, "object") == 0))
                ok = fail(c, LLV_ERR_UNSUPPORTED, "allOf: only object schemas are supported");
            if (!ok && !c->failed) fail(c, LLV_ERR_UNSUPPORTED, "allOf: only object schemas are supported");
            path_pop(c, o);
            if (!ok) { ok = false; goto done; }
            if (n_src >= sizeof srcs / sizeof srcs[0]) FAILRET(c, LLV_ERR_INVALID_ARGUMENT, "allOf: too many schemas");
            srcs[n_src++] = t;
        }
    }
    for (size_t si = 0; si < n_src; si++) {
        const cJSON *ps = cJSON_GetObjectItemCaseSensitive(srcs[si], "properties");
        for (const cJSON *p = ps ? ps->child : NULL; p; p = p->next) {
            size_t j = 0;
            while (j < n && strcmp(list[j].name, p->string) != 0) j++;
            if (j < n) {
                if (list[j].schema && !cJSON_Compare(list[j].schema, p, true))
                    FAILRET(c, LLV_ERR_UNSUPPORTED, "property '%s' defined differently twice (allOf)", p->string);
                continue;
            }
            if (n >= LLV_SCHEMA_MAX_PROPS)
                FAILRET(c, LLV_ERR_INVALID_ARGUMENT, "more than %d properties", LLV_SCHEMA_MAX_PROPS);
            list[n++] = (prop){p->string, p, false};
        }
    }
    for (size_t si = 0; si < n_src; si++) {
        const cJSON *rq = cJSON_GetObjectItemCaseSensitive(srcs[si], "required");
        for (const cJSON *r = rq ? rq->child : NULL; r; r = r->next) {
            if (!cJSON_IsString(r)) FAILRET(c, LLV_ERR_INVALID_ARGUMENT, "'required' must list strings");
            size_t j = 0;
            while (j < n && strcmp(list[j].name, r->valuestring) != 0) j++;
            if (j == n) {
                if (cJSON_IsFalse(addl))
                    FAILRET(c, LLV_ERR_INVALID_ARGUMENT,
                                "required property '%s' is not in properties and additionalProperties is false",
                                r->valuestring);
                if (n >= LLV_SCHEMA_MAX_PROPS)
                    FAILRET(c, LLV_ERR_INVALID_ARGUMENT, "more than %d properties", LLV_SCHEMA_MAX_PROPS);
                list[n++] = (prop){r->valuestring, NULL, true};
            }
            list[j].required = true;
        }
    }
    /* kv rules */
    for (size_t i = 0; i < n; i++) {
        char vname[64];
        if (list[i].schema) {
            size_t o = path_push(c, "properties");
            path_push(c, list[i].name);
            ok = visit(c, list[i].schema, list[i].name, vname);
            path_pop(c, o);
            if (!ok) { ok = false; goto done; }
        } else {
            use(c, P_VALUE);
            snprintf(vname, sizeof vname, "value");
        }
        jbuf body = {0};
        cJSON *key = cJSON_CreateString(list[i].name);
        if (!key) FAILRET(c, LLV_ERR_OUT_OF_MEMORY, "out of memory");
        json_literal(c, key, &body);
        cJSON_Delete(key);
        jb_printf(&body, " space \":\" space %s", vname);
        rule_name(c, list[i].name, kv[i]);
        size_t nl = strlen(kv[i]);
        if (nl + 3 < sizeof kv[i]) memcpy(kv[i] + nl, "-kv", 4);
        add_rule(c, kv[i], body.oom ? "" : body.p);
        free(body.p);
        use(c, P_SPACE);
    }
    /* additional properties */
    char extra[64] = "";
    if (addl && !cJSON_IsFalse(addl)) {
        char vname[64];
        if (cJSON_IsTrue(addl)) {
            use(c, P_VALUE);
            snprintf(vname, sizeof vname, "value");
        } else {
            size_t o = path_push(c, "additionalProperties");
            ok = visit(c, addl, "additional", vname);
            path_pop(c, o);
            if (!ok) { ok = false; goto done; }
        }
        const char *names[LLV_SCHEMA_MAX_PROPS];
        for (size_t i = 0; i < n; i++) {
            names[i] = list[i].name;
            if (strlen(names[i]) > 128) /* the exclusion nests one group per character */
                FAILRET(c, LLV_ERR_UNSUPPORTED, "property names over 128 bytes with additionalProperties are not supported");
        }
        jbuf body = {0};
        jb_puts(&body, "\"\\\"\" ");
        if (n) not_names(c, &body, names, n, 0);
        else use(c, P_KEYCHAR), jb_puts(&body, "key-char*");
        jb_printf(&body, " \"\\\"\" space \":\" space %s", vname);
        rule_name(c, hint, extra);
        size_t nl = strlen(extra);
        if (nl + 9 < sizeof extra) memcpy(extra + nl, "-extra-kv", 10);
        add_rule(c, extra, body.oom ? "" : body.p);
        free(body.p);
        use(c, P_SPACE);
    }
    /* F_i: nothing written yet; C_i: something written (commas before items) */
    char fname[64];
    rule_name(c, hint, fname);
    for (size_t i = 0; i <= n; i++) {
        jbuf fb = {0}, cb = {0};
        if (i == n) {
            if (extra[0]) {
                jb_printf(&fb, "(%s (\",\" space %s)*)?", extra, extra);
                jb_printf(&cb, "(\",\" space %s)*", extra);
            } else {
                jb_puts(&fb, "\"\"");
                jb_puts(&cb, "\"\"");
            }
        } else {
            jb_printf(&fb, "%s %s-c%zu", kv[i], fname, i + 1);
            jb_printf(&cb, "\",\" space %s %s-c%zu", kv[i], fname, i + 1);
            if (!list[i].required) {
                jb_printf(&fb, " | %s-f%zu", fname, i + 1);
                jb_printf(&cb, " | %s-c%zu", fname, i + 1);
            }
        }
        char fn[96], cn[96];
        snprintf(fn, sizeof fn, "%s-f%zu", fname, i);
        snprintf(cn, sizeof cn, "%s-c%zu", fname, i);
        add_rule(c, fn, fb.oom ? "" : fb.p);
        add_rule(c, cn, cb.oom ? "" : cb.p);
        free(fb.p);
        free(cb.p);
    }
    jb_printf(b, "\"{\" space %s-f0 \"}\" space", fname);
    ok = !c->failed;
done:
    free(list);
    free(kv);
    return ok;
}

#undef FAILRET

static bool array_rule(conv *c, const cJSON *s, jbuf *b) {
    const cJSON *items = cJSON_GetObjectItemCaseSensitive(s, "items");
    const cJSON *prefix = cJSON_GetObjectItemCaseSensitive(s, "prefixItems");
    long mn, mx;
    if (!get_count(c, s, "minItems", 0, &mn) || !get_count(c, s, "maxItems", -1, &mx)) return false;
    if (mx >= 0 && mx < mn) return fail(c, LLV_ERR_INVALID_ARGUMENT, "maxItems below minItems");
    if (cJSON_IsArray(items) && !prefix) prefix = items, items = NULL; /* draft-7 tuples */
    if (items && !cJSON_IsObject(items) && !cJSON_IsBool(items))
        return fail(c, LLV_ERR_INVALID_ARGUMENT, "'items' must be a schema");
    if (prefix && !cJSON_IsArray(prefix)) return fail(c, LLV_ERR_INVALID_ARGUMENT, "'prefixItems' must be an array");
    use(c, P_SPACE);
    char iname[64] = "value";
    bool more = true; /* items after the prefix */
    if (cJSON_IsFalse(items)) more = false;
    else if (items && !cJSON_IsTrue(items)) {
        size_t o = path_push(c, "items");
        bool ok = visit(c, items, "item", iname);
        path_pop(c, o);
        if (!ok) return false;
    } else {
        use(c, P_VALUE);
    }
    long k = 0;
    jb_puts(b, "\"[\" space ");
    if (prefix) {
        int i = 0;
        for (const cJSON *p = prefix->child; p; p = p->next, i++) {
            char pn[64];
            size_t o = path_push(c, "prefixItems");
            path_push_i(c, i);
            bool ok = visit(c, p, "prefix", pn);
            path_pop(c, o);
            if (!ok) return false;
            jb_printf(b, "%s%s ", i ? "\",\" space " : "", pn);
        }
        k = i;
        if (mx >= 0 && k > mx) return fail(c, LLV_ERR_UNSUPPORTED, "prefixItems longer than maxItems");
    }
    long emin = mn > k ? mn - k : 0, emax = mx < 0 ? -1 : mx - k;
    if (!more) emax = 0;
    else if (prefix && !items) emax = emin; /* a subset: the tuple, then only what minItems needs */
    if (emax >= 0 && emin > emax) return fail(c, LLV_ERR_INVALID_ARGUMENT, "minItems cannot be met");
    if (emax != 0) {
        char one[96];
        if (k) { /* every extra item follows a comma */
            snprintf(one, sizeof one, "\",\" space %s", iname);
            repeat_expr(b, one, emin, emax);
        } else {
            snprintf(one, sizeof one, "\",\" space %s", iname);
            jbuf rest = {0};
            if (emin <= 1 && emax == -1) jb_printf(&rest, "(%s)*", one);
            else repeat_expr(&rest, one, emin > 0 ? emin - 1 : 0, emax < 0 ? -1 : emax - 1);
            if (emin == 0) jb_printf(b, "(%s %s)?", iname, rest.oom ? "" : rest.p);
            else jb_printf(b, "%s %s", iname, rest.oom ? "" : rest.p);
            free(rest.p);
        }
    }
    jb_puts(b, " \"]\" space");
    return true;
}

/* ---- enum / const / types ---------------------------------------------------- */

static bool enum_rule(conv *c, const cJSON *s, jbuf *b) {
    const cJSON *en = cJSON_GetObjectItemCaseSensitive(s, "enum"), *cn = cJSON_GetObjectItemCaseSensitive(s, "const");
    if (en && cn) return fail(c, LLV_ERR_UNSUPPORTED, "'enum' with 'const' is not supported");
    use(c, P_SPACE);
    if (cn) {
        jb_puts(b, "(");
        if (!json_literal(c, cn, b)) return false;
        jb_puts(b, ") space");
        return true;
    }
    if (!cJSON_IsArray(en) || !en->child) return fail(c, LLV_ERR_INVALID_ARGUMENT, "'enum' must be a non-empty array");
    if (cJSON_GetArraySize(en) > LLV_SCHEMA_MAX_ENUM)
        return fail(c, LLV_ERR_INVALID_ARGUMENT, "'enum' has more than %d values", LLV_SCHEMA_MAX_ENUM);
    jb_puts(b, "(");
    for (const cJSON *v = en->child; v; v = v->next) {
        if (v != en->child) jb_puts(b, " | ");
        if (!json_literal(c, v, b)) return false;
        if (b->n > LLV_GRAMMAR_MAX_BYTES) return fail(c, LLV_ERR_INVALID_ARGUMENT, "'enum' is too large");
    }
    jb_puts(b, ") space");
    return true;
}

/* The body for one type name. */
static bool type_rule(conv *c, const cJSON *s, const char *type, jbuf *b, const char *hint) {
    if (strcmp(type, "string") == 0) return string_rule(c, s, b);
    if (strcmp(type, "integer") == 0) return number_rule(c, s, true, b);
    if (strcmp(type, "number") == 0) return number_rule(c, s, false, b);
    if (strcmp(type, "boolean") == 0) return use(c, P_BOOLEAN), jb_puts(b, "boolean"), true;
    if (strcmp(type, "null") == 0) return use(c, P_NULL), jb_puts(b, "null"), true;
    if (strcmp(type, "object") == 0) return object_rule(c, s, b, hint);
    if (strcmp(type, "array") == 0) return array_rule(c, s, b);
    size_t o = path_push(c, "type");
    fail(c, LLV_ERR_INVALID_ARGUMENT, "unknown type '%s'", type);
    path_pop(c, o);
    return false;
}

/* "#", "#/$defs/x", "#/definitions/x/properties/y" ...: a JSON pointer into doc. */
static const cJSON *schema_resolve(const cJSON *doc, const char *ref) {
    if (ref[0] != '#') return NULL;
    const char *p = ref + 1;
    const cJSON *cur = doc;
    while (*p) {
        if (*p != '/') return NULL;
        p++;
        char seg[256];
        size_t k = 0;
        while (*p && *p != '/') {
            char ch = *p++;
            if (ch == '~') {
                if (*p == '0') ch = '~';
                else if (*p == '1') ch = '/';
                else return NULL;
                p++;
            } else if (ch == '%') {
                return NULL; /* percent-encoding: not handled */
            }
            if (k + 1 >= sizeof seg) return NULL;
            seg[k++] = ch;
        }
        seg[k] = 0;
        if (cJSON_IsArray(cur)) {
            char *end;
            long i = strtol(seg, &end, 10);
            if (*end || end == seg || i < 0) return NULL;
            cur = cJSON_GetArrayItem(cur, (int)i);
        } else if (cJSON_IsObject(cur)) {
            cur = cJSON_GetObjectItemCaseSensitive(cur, seg);
        } else {
            return NULL;
        }
        if (!cur) return NULL;
    }
    return cur;
}

static bool visit(conv *c, const cJSON *s, const char *hint, char name[64]) {
    if (c->failed) return false;
    if (++c->nodes > LLV_SCHEMA_MAX_NODES)
        return fail(c, LLV_ERR_INVALID_ARGUMENT, "more than %d subschemas", LLV_SCHEMA_MAX_NODES);
    if (c->depth >= LLV_SCHEMA_MAX_DEPTH)
        return fail(c, LLV_ERR_INVALID_ARGUMENT, "subschemas nested deeper than %d", LLV_SCHEMA_MAX_DEPTH);
    if (cJSON_IsTrue(s)) {
        use(c, P_VALUE);
        snprintf(name, 64, "value");
        return true;
    }
    if (cJSON_IsFalse(s)) return fail(c, LLV_ERR_UNSUPPORTED, "the schema 'false' matches nothing");
    if (!cJSON_IsObject(s)) return fail(c, LLV_ERR_INVALID_ARGUMENT, "a schema must be an object or a boolean");
    if (!check_keywords(c, s)) return false;
    /* $ref: memoized by target, so recursion goes through the rule */
    const cJSON *ref = cJSON_GetObjectItemCaseSensitive(s, "$ref");
    if (ref) {
        if (!cJSON_IsString(ref)) return fail(c, LLV_ERR_INVALID_ARGUMENT, "'$ref' must be a string");
        for (const cJSON *k = s->child; k; k = k->next)
            if (!in_list(k->string, annotations) && strcmp(k->string, "$ref") != 0)
                return fail(c, LLV_ERR_UNSUPPORTED, "keyword '%s' beside '$ref' is not supported", k->string);
        const cJSON *t = schema_resolve(c->doc, ref->valuestring);
        if (!t)
            return fail(c, LLV_ERR_INVALID_ARGUMENT, "$ref '%s' does not resolve (only local '#/...' pointers are)",
                        ref->valuestring);
        for (size_t i = 0; i < c->n_refs; i++)
            if (c->refs[i].s == t) {
                memcpy(name, c->refs[i].name, 64);
                return true;
            }
        if (c->n_refs == c->cap_refs) {
            size_t cap = c->cap_refs ? c->cap_refs * 2 : 16;
            if (cap > LLV_SCHEMA_MAX_NODES) return fail(c, LLV_ERR_INVALID_ARGUMENT, "too many $ref targets");
            struct cref *r = realloc(c->refs, cap * sizeof *r);
            if (!r) return fail(c, LLV_ERR_OUT_OF_MEMORY, "out of memory");
            c->refs = r;
            c->cap_refs = cap;
        }
        const char *last = strrchr(ref->valuestring, '/');
        char hint2[64];
        snprintf(hint2, sizeof hint2, "ref-%s", last ? last + 1 : "root");
        struct cref *r = &c->refs[c->n_refs++];
        r->s = t;
        rule_name(c, hint2, r->name);
        memcpy(name, r->name, 64);
        char inner[64];
        size_t o = c->path_n;
        char saved[sizeof c->path];
        memcpy(saved, c->path, o + 1);
        snprintf(c->path, sizeof c->path, "%s", ref->valuestring + 1);
        c->path_n = strlen(c->path);
        c->depth++;
        bool ok = visit(c, t, hint2, inner);
        c->depth--;
        memcpy(c->path, saved, o + 1);
        c->path_n = o;
        if (!ok) return false;
        add_rule(c, name, inner);
        return !c->failed;
    }
    c->depth++;
    jbuf body = {0};
    bool ok = true;
    const cJSON *type = cJSON_GetObjectItemCaseSensitive(s, "type");
    const cJSON *any = cJSON_GetObjectItemCaseSensitive(s, "anyOf");
    const cJSON *one = cJSON_GetObjectItemCaseSensitive(s, "oneOf");
    const cJSON *allof = cJSON_GetObjectItemCaseSensitive(s, "allOf");
    if (any || one) {
        if (any && one) ok = fail(c, LLV_ERR_UNSUPPORTED, "'anyOf' with 'oneOf' is not supported");
        const cJSON *l = any ? any : one;
        const char *kw = any ? "anyOf" : "oneOf";
        if (ok && (!cJSON_IsArray(l) || !l->child)) ok = fail(c, LLV_ERR_INVALID_ARGUMENT, "'%s' must be a non-empty array", kw);
        for (const cJSON *k = s->child; k && ok; k = k->next)
            if (!in_list(k->string, annotations) && strcmp(k->string, kw) != 0)
                ok = fail(c, LLV_ERR_UNSUPPORTED, "keyword '%s' beside '%s' is not supported", k->string, kw);
        int i = 0;
        for (const cJSON *a = ok ? l->child : NULL; a && ok; a = a->next, i++) {
            char sub[64];
            size_t o = path_push(c, kw);
            path_push_i(c, i);
            ok = visit(c, a, hint, sub);
            path_pop(c, o);
            if (ok) jb_printf(&body, "%s%s", i ? " | " : "", sub);
        }
    } else if (cJSON_GetObjectItemCaseSensitive(s, "enum") || cJSON_GetObjectItemCaseSensitive(s, "const")) {
        /* values are checked against nothing else: other keywords would only narrow them */
        for (const cJSON *k = s->child; k && ok; k = k->next)
            if (!in_list(k->string, annotations) && strcmp(k->string, "enum") != 0 && strcmp(k->string, "const") != 0 &&
                strcmp(k->string, "type") != 0)
                ok = fail(c, LLV_ERR_UNSUPPORTED, "keyword '%s' beside 'enum'/'const' is not supported", k->string);
        if (ok && type) { /* every value must have the type */
            const cJSON *en = cJSON_GetObjectItemCaseSensitive(s, "enum"), *cn = cJSON_GetObjectItemCaseSensitive(s, "const");
            for (const cJSON *v = cn ? cn : en ? en->child : NULL; v && ok; v = cn ? NULL : v->next) {
                const char *vt = cJSON_IsString(v) ? "string" : cJSON_IsBool(v) ? "boolean" : cJSON_IsNull(v) ? "null"
                                 : cJSON_IsArray(v) ? "array" : cJSON_IsObject(v) ? "object" : "number";
                bool match = false;
                for (const cJSON *t = cJSON_IsArray(type) ? type->child : type; t && !match;
                     t = cJSON_IsArray(type) ? t->next : NULL)
                    match = cJSON_IsString(t) && (strcmp(t->valuestring, vt) == 0 ||
                                                 (strcmp(t->valuestring, "number") == 0 && cJSON_IsNumber(v)) ||
                                                 (strcmp(t->valuestring, "integer") == 0 && cJSON_IsNumber(v) &&
                                                  v->valuedouble == floor(v->valuedouble)));
                if (!match) ok = fail(c, LLV_ERR_UNSUPPORTED, "an 'enum'/'const' value of another type than 'type'");
            }
        }
        if (ok) ok = enum_rule(c, s, &body);
    } else if (type) {
        if (cJSON_IsString(type)) {
            ok = type_rule(c, s, type->valuestring, &body, hint);
        } else if (cJSON_IsArray(type) && type->child) {
            int i = 0;
            for (const cJSON *t = type->child; t && ok; t = t->next, i++) {
                if (!cJSON_IsString(t)) {
                    ok = fail(c, LLV_ERR_INVALID_ARGUMENT, "'type' must list strings");
                    break;
                }
                if (i) jb_puts(&body, " | ");
                jb_puts(&body, "(");
                ok = type_rule(c, s, t->valuestring, &body, hint);
                jb_puts(&body, ")");
            }
        } else {
            ok = fail(c, LLV_ERR_INVALID_ARGUMENT, "'type' must be a string or a non-empty array");
        }
    } else if (cJSON_GetObjectItemCaseSensitive(s, "properties") || allof ||
               cJSON_GetObjectItemCaseSensitive(s, "required") ||
               cJSON_GetObjectItemCaseSensitive(s, "additionalProperties")) {
        ok = object_rule(c, s, &body, hint);
    } else if (cJSON_GetObjectItemCaseSensitive(s, "items") || cJSON_GetObjectItemCaseSensitive(s, "prefixItems") ||
               cJSON_GetObjectItemCaseSensitive(s, "minItems") || cJSON_GetObjectItemCaseSensitive(s, "maxItems")) {
        ok = array_rule(c, s, &body);
    } else if (cJSON_GetObjectItemCaseSensitive(s, "pattern") || cJSON_GetObjectItemCaseSensitive(s, "format") ||
               cJSON_GetObjectItemCaseSensitive(s, "minLength") || cJSON_GetObjectItemCaseSensitive(s, "maxLength")) {
        ok = string_rule(c, s, &body);
    } else if (cJSON_GetObjectItemCaseSensitive(s, "minimum") || cJSON_GetObjectItemCaseSensitive(s, "maximum") ||
               cJSON_GetObjectItemCaseSensitive(s, "exclusiveMinimum") ||
               cJSON_GetObjectItemCaseSensitive(s, "exclusiveMaximum")) {
        ok = number_rule(c, s, false, &body);
    } else {
        use(c, P_VALUE);
        jb_puts(&body, "value");
    }
    /* allOf is merged by object_rule; elsewhere it is not supported */
    if (ok && allof && !(type && cJSON_IsString(type) && strcmp(type->valuestring, "object") == 0) &&
        (type || cJSON_GetObjectItemCaseSensitive(s, "anyOf") || cJSON_GetObjectItemCaseSensitive(s, "oneOf")))
        ok = fail(c, LLV_ERR_UNSUPPORTED, "'allOf' is supported for object schemas only");
    c->depth--;
    if (ok && body.oom) ok = fail(c, LLV_ERR_OUT_OF_MEMORY, "out of memory");
    if (ok) {
        rule_name(c, hint, name);
        add_rule(c, name, body.p);
    }
    free(body.p);
    return ok && !c->failed;
}

/* ---- entry ------------------------------------------------------------------- */

static void emit_prims(conv *c) {
    /* close over dependencies */
    unsigned m = c->prim, prev = 0;
    while (m != prev) {
        prev = m;
        for (int p = 0; p < P_COUNT; p++)
            if (m & (1u << p)) m |= prims[p].deps;
    }
    for (int p = 0; p < P_COUNT; p++)
        if (m & (1u << p)) add_rule(c, prims[p].name, prims[p].body);
}

llv_status llv_json_schema_to_grammar(const char *schema_json, size_t n, char **gbnf_out, llv_error *err) {
    llv_err_clear(err);
    if (!gbnf_out) return llv_err(err, LLV_ERR_INVALID_ARGUMENT, "json schema: out is NULL");
    *gbnf_out = NULL;
    if (!schema_json) return llv_err(err, LLV_ERR_INVALID_ARGUMENT, "json schema: text is NULL");
    if (n > LLV_SCHEMA_MAX_BYTES)
        return llv_err(err, LLV_ERR_INVALID_ARGUMENT, "json schema: %zu bytes, more than the limit of %u", n,
                       LLV_SCHEMA_MAX_BYTES);
    const char *end = NULL;
    cJSON *doc = cJSON_ParseWithLengthOpts(schema_json, n, &end, false);
    if (!doc) {
        size_t off = end && end >= schema_json ? (size_t)(end - schema_json) : 0;
        return llv_err(err, LLV_ERR_FORMAT, "json schema: not valid JSON (near byte %zu)", off);
    }
    /* only whitespace after the value */
    for (const char *p = end; p && p < schema_json + n; p++)
        if (*p != ' ' && *p != '\t' && *p != '\n' && *p != '\r') {
            cJSON_Delete(doc);
            return llv_err(err, LLV_ERR_FORMAT, "json schema: trailing data after the JSON value");
        }
    conv C = {.doc = doc, .err = err}, *c = &C;
    char root[64];
    if (visit(c, doc, "root", root)) {
        char body[80];
        snprintf(body, sizeof body, "%s", root);
        add_rule(c, "root", body);
        emit_prims(c);
    }
    if (!c->failed && c->out.oom) fail(c, LLV_ERR_OUT_OF_MEMORY, "out of memory");
    free(c->refs);
    cJSON_Delete(doc);
    if (c->failed) {
        free(c->out.p);
        return c->st;
    }
    /* the result must be a valid grammar: $ref cycles without progress are left recursion */
    llv_grammar *g = NULL;
    llv_status st = llv_grammar_parse(c->out.p, c->out.n, &g, err);
    llv_grammar_free(g);
    if (st != LLV_OK) {
        free(c->out.p);
        llv_err_prefix(err, "json schema: the grammar it gives is not usable ($ref cycle without progress?)");
        return st;
    }
    *gbnf_out = c->out.p;
    return LLV_OK;
}

llv_status llv_json_object_grammar(char **gbnf_out, llv_error *err) {
    static const char any_object[] = "{\"type\":\"object\"}";
    return llv_json_schema_to_grammar(any_object, sizeof any_object - 1, gbnf_out, err);
}
