/* grammar.c - GBNF parsing, grammar checks, and the pushdown matcher with
 * its lazily built DFA cache and the vocabulary-trie mask (grammar.h).
 *
 * Representation: every rule is a list of alternatives, each a sequence of
 * symbols (a character set or a rule reference) ended by END; all rules live
 * in one symbol array, so a position is an index. Groups and repetitions
 * become generated rules (x* is r ::= x r | ""), as llama.cpp does.
 *
 * Matching follows llama.cpp: a configuration is a set of parse stacks; the
 * top of each is a character set to match next, the entries below are the
 * positions to continue at when the rule above ends (a continuation that is
 * END is not pushed, so right recursion stays flat). Configurations are
 * interned in a per-state cache with their byte transitions (a lazy DFA over
 * bytes; pending bytes of a partial code point are part of the key), so the
 * vocabulary walk mostly does table lookups. */
#include "grammar.h"

#include "utf8.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { SYM_END = 0, SYM_CHAR = 1, SYM_RULE = 2 };
#define CP_MAX 0x10FFFFu

typedef struct gsym {
    uint32_t type : 2;
    uint32_t v : 30; /* charset id or rule id */
} gsym;

struct llv_grammar {
    gsym     *syms;      /* all rules' alternatives, each ended by END */
    uint32_t  n_syms;
    uint32_t *alt;       /* alternative start positions */
    uint32_t *rule_alt;  /* rule r's alternatives: alt[rule_alt[r] .. rule_alt[r+1]) */
    uint32_t  n_rules;
    uint32_t *ranges;    /* charset c: pairs ranges[2*cs_off[c] ..  2*cs_off[c+1]) */
    uint32_t *cs_off;
    uint64_t *cs_ascii;  /* 2 words per charset: bitmap of its code points < 128 */
    uint32_t  n_cs;
    uint32_t *start;     /* the start configuration's stacks (encoded, see cfg) */
    uint32_t  n_start;
};

/* ------------------------------------------------------------------ */
/* growable arrays                                                      */

typedef struct u32vec {
    uint32_t *v;
    size_t    n, cap;
} u32vec;

static bool u32_reserve(u32vec *a, size_t extra) {
    if (a->n + extra <= a->cap) return true;
    size_t cap = a->cap ? a->cap : 16;
    while (cap < a->n + extra) cap *= 2;
    uint32_t *p = realloc(a->v, cap * sizeof *p);
    if (!p) return false;
    a->v = p;
    a->cap = cap;
    return true;
}
static bool u32_push(u32vec *a, uint32_t x) {
    if (!u32_reserve(a, 1)) return false;
    a->v[a->n++] = x;
    return true;
}

/* ------------------------------------------------------------------ */
/* charsets                                                             */

static int cmp_range(const void *a, const void *b) {
    const uint32_t *x = a, *y = b;
    return x[0] < y[0] ? -1 : x[0] > y[0] ? 1 : 0;
}

/* Sorts and merges pairs in r[0..2n), complements them when negated and
 * removes the surrogates (no UTF-8 encodes them); returns the new pair count
 * (at most n + 2; r has room for 2n + 4 entries); SIZE_MAX on OOM. */
static size_t cs_normalize(uint32_t *r, size_t n, bool negated) {
    if (n) qsort(r, n, 2 * sizeof *r, cmp_range);
    size_t m = 0;
    for (size_t i = 0; i < n; i++) {
        uint32_t lo = r[2 * i], hi = r[2 * i + 1];
        if (m && lo <= r[2 * m - 1] + 1) {
            if (hi > r[2 * m - 1]) r[2 * m - 1] = hi;
        } else {
            r[2 * m] = lo;
            r[2 * m + 1] = hi;
            m++;
        }
    }
    uint32_t *t = malloc((2 * m + 4) * sizeof *t);
    if (!t) return SIZE_MAX;
    size_t k = 0;
    if (negated) {
        uint32_t next = 0;
        for (size_t i = 0; i < m; i++) {
            if (r[2 * i] > next) t[2 * k] = next, t[2 * k + 1] = r[2 * i] - 1, k++;
            next = r[2 * i + 1] + 1;
        }
        if (next <= CP_MAX) t[2 * k] = next, t[2 * k + 1] = CP_MAX, k++;
    } else {
        memcpy(t, r, 2 * m * sizeof *t);
        k = m;
    }
    /* cut out D800-DFFF */
    size_t o = 0;
    for (size_t i = 0; i < k; i++) {
        uint32_t lo = t[2 * i], hi = t[2 * i + 1];
        if (hi < 0xD800 || lo > 0xDFFF) {
            r[2 * o] = lo, r[2 * o + 1] = hi, o++;
            continue;
        }
        if (lo < 0xD800) r[2 * o] = lo, r[2 * o + 1] = 0xD7FF, o++;
        if (hi > 0xDFFF) r[2 * o] = 0xE000, r[2 * o + 1] = hi, o++;
    }
    free(t);
    return o;
}

static inline bool cs_match(const llv_grammar *g, uint32_t c, uint32_t cp) {
    if (cp < 128) return (g->cs_ascii[2 * c + (cp >> 6)] >> (cp & 63)) & 1;
    const uint32_t *r = g->ranges + 2 * g->cs_off[c];
    size_t n = g->cs_off[c + 1] - g->cs_off[c];
    for (size_t i = 0; i < n; i++) {
        if (cp < r[2 * i]) return false;
        if (cp <= r[2 * i + 1]) return true;
    }
    return false;
}

static bool cs_intersects(const llv_grammar *g, uint32_t c, uint32_t lo, uint32_t hi) {
    const uint32_t *r = g->ranges + 2 * g->cs_off[c];
    size_t n = g->cs_off[c + 1] - g->cs_off[c];
    for (size_t i = 0; i < n; i++)
        if (r[2 * i] <= hi && r[2 * i + 1] >= lo) return true;
    return false;
}

/* ------------------------------------------------------------------ */
/* parser                                                               */

typedef struct prule {
    char   *name;
    size_t  def_off, ref_off; /* where defined / first referenced */
    bool    defined, referenced;
    int32_t parent;           /* generated rules: the rule they came from */
    u32vec  body;             /* symbols (type << 30 | v), alternatives ended by END */
} prule;

typedef struct parser {
    const char *s;
    size_t      n, pos;
    llv_error  *err;
    bool        failed;
    prule      *rules;
    size_t      n_rules, cap_rules;
    int32_t    *htab; /* named rules: open addressing, -1 empty */
    size_t      hcap;
    u32vec      ranges, cs_off;
    size_t      n_syms;
} parser;

#define PSYM(t, v) (((uint32_t)(t) << 30) | (uint32_t)(v))
#define PSYM_T(x)  ((x) >> 30)
#define PSYM_V(x)  ((x) & 0x3FFFFFFFu)

static void line_col(const char *s, size_t n, size_t off, int *line, int *col) {
    int l = 1, c = 1;
    for (size_t i = 0; i < off && i < n; i++) {
        if (s[i] == '\n') l++, c = 1;
        else if (((unsigned char)s[i] & 0xC0) != 0x80) c++;
    }
    *line = l;
    *col = c;
}

static bool perr_at(parser *p, size_t off, const char *fmt, ...) LLV_PRINTF(3, 4);
static bool perr_at(parser *p, size_t off, const char *fmt, ...) {
    if (p->failed) return false;
    p->failed = true;
    char msg[LLV_ERROR_MESSAGE_SIZE];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    int line, col;
    line_col(p->s, p->n, off, &line, &col);
    llv_err(p->err, LLV_ERR_INVALID_ARGUMENT, "grammar %d:%d: %s", line, col, msg);
    return false;
}
#define PERR(...) perr_at(p, p->pos, __VA_ARGS__)

static bool oom(parser *p) {
    if (!p->failed) llv_err(p->err, LLV_ERR_OUT_OF_MEMORY, "grammar: out of memory");
    p->failed = true;
    return false;
}

static uint64_t hash_bytes(const void *d, size_t n, uint64_t h) {
    const unsigned char *b = d;
    for (size_t i = 0; i < n; i++) h = (h ^ b[i]) * 0x100000001b3ull;
    return h;
}

static int32_t new_rule(parser *p, const char *name, size_t name_len, int32_t parent) {
    if (p->n_rules >= LLV_GRAMMAR_MAX_RULES) {
        PERR("more than %d rules (generated ones for groups and repetitions included)", LLV_GRAMMAR_MAX_RULES);
        return -1;
    }
    if (p->n_rules == p->cap_rules) {
        size_t cap = p->cap_rules ? p->cap_rules * 2 : 64;
        prule *r = realloc(p->rules, cap * sizeof *r);
        if (!r) return oom(p), -1;
        p->rules = r;
        p->cap_rules = cap;
    }
    prule *r = &p->rules[p->n_rules];
    memset(r, 0, sizeof *r);
    r->parent = parent;
    if (name) {
        r->name = malloc(name_len + 1);
        if (!r->name) return oom(p), -1;
        memcpy(r->name, name, name_len);
        r->name[name_len] = 0;
    } else {
        const char *pn = p->rules[parent].name;
        size_t l = strlen(pn) + 16;
        r->name = malloc(l);
        if (!r->name) return oom(p), -1;
        snprintf(r->name, l, "%s-%zu", pn, p->n_rules);
        r->defined = true;
        r->def_off = p->pos;
    }
    return (int32_t)p->n_rules++;
}

/* The rule named s[0..len) (created, undefined, when new); -1 on error. */
static int32_t rule_by_name(parser *p, const char *s, size_t len) {
    if (p->n_rules * 2 + 2 > p->hcap) {
        size_t cap = p->hcap ? p->hcap * 2 : 256;
        int32_t *t = malloc(cap * sizeof *t);
        if (!t) return oom(p), -1;
        for (size_t i = 0; i < cap; i++) t[i] = -1;
        for (size_t i = 0; i < p->hcap; i++) {
            int32_t id = p->htab[i];
            if (id < 0) continue;
            size_t h = hash_bytes(p->rules[id].name, strlen(p->rules[id].name), 0xcbf29ce484222325ull) & (cap - 1);
            while (t[h] >= 0) h = (h + 1) & (cap - 1);
            t[h] = id;
        }
        free(p->htab);
        p->htab = t;
        p->hcap = cap;
    }
    size_t h = hash_bytes(s, len, 0xcbf29ce484222325ull) & (p->hcap - 1);
    while (p->htab[h] >= 0) {
        const char *nm = p->rules[p->htab[h]].name;
        if (strlen(nm) == len && memcmp(nm, s, len) == 0) return p->htab[h];
        h = (h + 1) & (p->hcap - 1);
    }
    int32_t id = new_rule(p, s, len, -1);
    if (id >= 0) p->htab[h] = id;
    return id;
}

static bool emit(parser *p, int32_t rule, uint32_t sym) {
    if (PSYM_T(sym) != SYM_END && ++p->n_syms > LLV_GRAMMAR_MAX_ELEMENTS)
        return PERR("more than %u symbols after expanding repetitions", LLV_GRAMMAR_MAX_ELEMENTS);
    if (!u32_push(&p->rules[rule].body, sym)) return oom(p);
    return true;
}

/* A new charset from pairs (lo, hi); returns its id or -1. */
static int32_t add_charset(parser *p, const uint32_t *pairs, size_t n, bool negated) {
    if (!u32_reserve(&p->ranges, 2 * n + 4)) return oom(p), -1;
    uint32_t *r = p->ranges.v + p->ranges.n;
    if (n) memcpy(r, pairs, 2 * n * sizeof *r);
    size_t m = cs_normalize(r, n, negated);
    if (m == SIZE_MAX) return oom(p), -1;
    if (p->cs_off.n == 0 && !u32_push(&p->cs_off, 0)) return oom(p), -1;
    p->ranges.n += 2 * m;
    if (!u32_push(&p->cs_off, (uint32_t)(p->ranges.n / 2))) return oom(p), -1;
    return (int32_t)(p->cs_off.n - 2);
}

static bool is_name_char(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_';
}

static void skip_space(parser *p, bool newline_ok) {
    while (p->pos < p->n) {
        char c = p->s[p->pos];
        if (c == ' ' || c == '\t') p->pos++;
        else if (c == '#') {
            while (p->pos < p->n && p->s[p->pos] != '\n') p->pos++;
        } else if (newline_ok && (c == '\n' || c == '\r')) p->pos++;
        else break;
    }
}

static int hexval(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* One (possibly escaped) character of a literal or class. */
static bool parse_char(parser *p, uint32_t *cp) {
    if (p->pos >= p->n) return PERR("unexpected end of grammar");
    unsigned char c = (unsigned char)p->s[p->pos];
    if (c == '\\') {
        if (p->pos + 1 >= p->n) return PERR("unexpected end after '\\'");
        char e = p->s[p->pos + 1];
        int digits = e == 'x' ? 2 : e == 'u' ? 4 : e == 'U' ? 8 : 0;
        if (digits) {
            uint32_t v = 0;
            for (int i = 0; i < digits; i++) {
                int h = p->pos + 2 + i < p->n ? hexval(p->s[p->pos + 2 + i]) : -1;
                if (h < 0) return PERR("'\\%c' needs %d hex digits", e, digits);
                v = v * 16 + (uint32_t)h;
            }
            if (v > CP_MAX || (v >= 0xD800 && v <= 0xDFFF))
                return PERR("\\%c escape U+%X is not a Unicode scalar value", e, v);
            p->pos += 2 + digits;
            *cp = v;
            return true;
        }
        switch (e) {
        case 'n': *cp = '\n'; break;
        case 't': *cp = '\t'; break;
        case 'r': *cp = '\r'; break;
        case '\\': case '"': case '[': case ']': case '-': case '^': case '\'': case '/': *cp = (uint32_t)e; break;
        default: return PERR("unknown escape '\\%c'", e);
        }
        p->pos += 2;
        return true;
    }
    size_t l = llv_utf8_decode((const unsigned char *)p->s + p->pos, p->n - p->pos, cp);
    if (!l) return PERR("invalid UTF-8");
    p->pos += l;
    return true;
}

static bool parse_alternatives(parser *p, int32_t rule, int depth);

static bool parse_int(parser *p, uint32_t *v) {
    size_t start = p->pos;
    uint64_t x = 0;
    while (p->pos < p->n && p->s[p->pos] >= '0' && p->s[p->pos] <= '9') {
        x = x * 10 + (uint64_t)(p->s[p->pos] - '0');
        if (x > LLV_GRAMMAR_MAX_REPEAT) return perr_at(p, start, "repetition count over %d", LLV_GRAMMAR_MAX_REPEAT);
        p->pos++;
    }
    *v = (uint32_t)x;
    return p->pos > start;
}

/* Replaces body[last..) (one symbol or a literal) by its repetition min..max
 * (max UINT32_MAX: unbounded). */
static bool repeat(parser *p, int32_t rule, size_t last, uint32_t min, uint32_t max) {
    u32vec *b = &p->rules[rule].body;
    uint32_t x;
    if (b->n - last == 1) {
        x = b->v[last];
    } else { /* a literal of several characters: its own rule */
        int32_t w = new_rule(p, NULL, 0, rule);
        if (w < 0) return false;
        b = &p->rules[rule].body;
        for (size_t i = last; i < b->n; i++)
            if (!u32_push(&p->rules[w].body, b->v[i])) return oom(p);
        if (!u32_push(&p->rules[w].body, PSYM(SYM_END, 0))) return oom(p);
        x = PSYM(SYM_RULE, w);
    }
    p->n_syms -= b->n - last;
    b->n = last;
    for (uint32_t i = 0; i < min; i++)
        if (!emit(p, rule, x)) return false;
    if (max == UINT32_MAX) { /* r ::= x r | "" */
        int32_t r = new_rule(p, NULL, 0, rule);
        if (r < 0) return false;
        if (!emit(p, r, x) || !emit(p, r, PSYM(SYM_RULE, r)) || !emit(p, r, PSYM(SYM_END, 0)) ||
            !emit(p, r, PSYM(SYM_END, 0)))
            return false;
        return emit(p, rule, PSYM(SYM_RULE, r));
    }
    if (max == min) return true;
    /* opt_1 ::= x opt_2 | "" ... opt_k ::= x | "": created last first */
    int32_t next = -1;
    for (uint32_t i = 0; i < max - min; i++) {
        int32_t r = new_rule(p, NULL, 0, rule);
        if (r < 0) return false;
        if (!emit(p, r, x)) return false;
        if (next >= 0 && !emit(p, r, PSYM(SYM_RULE, next))) return false;
        if (!emit(p, r, PSYM(SYM_END, 0)) || !emit(p, r, PSYM(SYM_END, 0))) return false;
        next = r;
    }
    return emit(p, rule, PSYM(SYM_RULE, next));
}

static bool parse_sequence(parser *p, int32_t rule, bool nested, int depth) {
    size_t last = SIZE_MAX; /* start of the last symbol, for a postfix operator */
    for (;;) {
        if (p->pos >= p->n) break;
        char c = p->s[p->pos];
        size_t here = p->rules[rule].body.n;
        if (c == '"') {
            p->pos++;
            last = here;
            while (p->pos < p->n && p->s[p->pos] != '"') {
                uint32_t cp;
                if (!parse_char(p, &cp)) return false;
                uint32_t pair[2] = {cp, cp};
                int32_t cs = add_charset(p, pair, 1, false);
                if (cs < 0 || !emit(p, rule, PSYM(SYM_CHAR, cs))) return false;
            }
            if (p->pos >= p->n) return PERR("unterminated string literal");
            p->pos++;
            if (p->rules[rule].body.n == here) last = SIZE_MAX; /* "" matches nothing to repeat */
        } else if (c == '[') {
            size_t start = p->pos++;
            bool neg = p->pos < p->n && p->s[p->pos] == '^';
            if (neg) p->pos++;
            u32vec pairs = {0};
            while (p->pos < p->n && p->s[p->pos] != ']') {
                uint32_t lo, hi;
                if (!parse_char(p, &lo)) return free(pairs.v), false;
                hi = lo;
                if (p->pos + 1 < p->n && p->s[p->pos] == '-' && p->s[p->pos + 1] != ']') {
                    p->pos++;
                    if (!parse_char(p, &hi)) return free(pairs.v), false;
                    if (hi < lo) return free(pairs.v), PERR("character range end U+%X before its start U+%X", hi, lo);
                }
                if (!u32_push(&pairs, lo) || !u32_push(&pairs, hi)) return free(pairs.v), oom(p);
            }
            if (p->pos >= p->n) return free(pairs.v), perr_at(p, start, "unterminated character class");
            p->pos++;
            int32_t cs = add_charset(p, pairs.v, pairs.n / 2, neg);
            free(pairs.v);
            if (cs < 0 || !emit(p, rule, PSYM(SYM_CHAR, cs))) return false;
            last = here;
        } else if (c == '.') {
            p->pos++;
            uint32_t pair[2] = {0, CP_MAX};
            int32_t cs = add_charset(p, pair, 1, false);
            if (cs < 0 || !emit(p, rule, PSYM(SYM_CHAR, cs))) return false;
            last = here;
        } else if (is_name_char(c)) {
            size_t start = p->pos;
            while (p->pos < p->n && is_name_char(p->s[p->pos])) p->pos++;
            int32_t r = rule_by_name(p, p->s + start, p->pos - start);
            if (r < 0) return false;
            if (!p->rules[r].referenced) p->rules[r].referenced = true, p->rules[r].ref_off = start;
            size_t save = p->pos;
            skip_space(p, true);
            if (p->pos + 2 < p->n && memcmp(p->s + p->pos, "::=", 3) == 0)
                return perr_at(p, start, "'%s ::=' inside a rule (missing newline before it?)", p->rules[r].name);
            p->pos = save;
            if (!emit(p, rule, PSYM(SYM_RULE, r))) return false;
            last = here;
        } else if (c == '(') {
            if (depth + 1 > LLV_GRAMMAR_MAX_NESTING) return PERR("groups nested deeper than %d", LLV_GRAMMAR_MAX_NESTING);
            size_t start = p->pos++;
            int32_t sub = new_rule(p, NULL, 0, rule);
            if (sub < 0) return false;
            skip_space(p, true);
            if (!parse_alternatives(p, sub, depth + 1)) return false;
            if (p->pos >= p->n || p->s[p->pos] != ')') return perr_at(p, start, "unclosed '('");
            p->pos++;
            if (!emit(p, rule, PSYM(SYM_RULE, sub))) return false;
            last = here;
        } else if (c == '*' || c == '+' || c == '?' || c == '{') {
            if (last == SIZE_MAX) return PERR("'%c' without a symbol before it", c);
            uint32_t min = 0, max = UINT32_MAX;
            if (c == '+') min = 1;
            else if (c == '?') max = 1;
            p->pos++;
            if (c == '{') {
                skip_space(p, true);
                bool has_min = parse_int(p, &min);
                if (p->failed) return false;
                skip_space(p, true);
                if (p->pos < p->n && p->s[p->pos] == ',') {
                    p->pos++;
                    skip_space(p, true);
                    if (!parse_int(p, &max)) {
                        if (p->failed) return false;
                        max = UINT32_MAX;
                    }
                    skip_space(p, true);
                } else if (has_min) {
                    max = min;
                } else {
                    return PERR("expected a count in '{ }'");
                }
                if (p->pos >= p->n || p->s[p->pos] != '}') return PERR("expected '}'");
                p->pos++;
                if (max != UINT32_MAX && max < min) return PERR("repetition {%u,%u}: max below min", min, max);
            }
            if (!repeat(p, rule, last, min, max)) return false;
            last = SIZE_MAX; /* x** is not GBNF */
        } else {
            break;
        }
        skip_space(p, nested);
    }
    return emit(p, rule, PSYM(SYM_END, 0));
}

static bool parse_alternatives(parser *p, int32_t rule, int depth) {
    for (;;) {
        if (!parse_sequence(p, rule, depth > 0, depth)) return false;
        size_t save = p->pos;
        if (depth == 0) skip_space(p, true); /* a '|' may also start the next line */
        if (p->pos < p->n && p->s[p->pos] == '|') {
            p->pos++;
            skip_space(p, true);
            continue;
        }
        p->pos = save;
        return true;
    }
}

static bool parse_rules(parser *p) {
    skip_space(p, true);
    while (p->pos < p->n) {
        size_t start = p->pos;
        while (p->pos < p->n && is_name_char(p->s[p->pos])) p->pos++;
        if (p->pos == start) return PERR("expected a rule name");
        int32_t r = rule_by_name(p, p->s + start, p->pos - start);
        if (r < 0) return false;
        if (p->rules[r].defined) return perr_at(p, start, "rule '%s' defined twice", p->rules[r].name);
        p->rules[r].defined = true;
        p->rules[r].def_off = start;
        skip_space(p, false);
        if (p->pos + 2 >= p->n || memcmp(p->s + p->pos, "::=", 3) != 0) return PERR("expected '::=' after rule name");
        p->pos += 3;
        skip_space(p, true);
        if (!parse_alternatives(p, r, 0)) return false;
        if (p->pos < p->n && p->s[p->pos] != '\n' && p->s[p->pos] != '\r') {
            char c = p->s[p->pos];
            if (c == ')') return PERR("unmatched ')'");
            if (c == '<' || c == '!') return PERR("token references are not supported");
            return PERR("unexpected character '%c'", (unsigned char)c >= 0x20 && (unsigned char)c < 0x7F ? c : '?');
        }
        skip_space(p, true);
    }
    return true;
}

/* ------------------------------------------------------------------ */
/* checks on the compiled grammar                                       */

/* Fixpoint over rules: a rule has the property when one of its alternatives
 * has it for every symbol (a charset counts as `chars_have`). Worklist, so
 * long chains stay linear. */
static bool rule_fixpoint(const llv_grammar *g, bool chars_have, bool *have) {
    uint32_t n_alt = g->rule_alt[g->n_rules];
    uint32_t *need = calloc(n_alt ? n_alt : 1, sizeof *need), *alt_rule = malloc((n_alt + 1) * sizeof *alt_rule);
    uint32_t *occ_off = calloc(g->n_rules + 1, sizeof *occ_off), *occ = NULL, *work = NULL;
    bool ok = need && alt_rule && occ_off;
    if (ok) {
        for (uint32_t r = 0; r < g->n_rules; r++)
            for (uint32_t a = g->rule_alt[r]; a < g->rule_alt[r + 1]; a++) {
                alt_rule[a] = r;
                for (uint32_t i = g->alt[a]; g->syms[i].type != SYM_END; i++) {
                    if (g->syms[i].type == SYM_RULE) need[a]++, occ_off[g->syms[i].v + 1]++;
                    else if (!chars_have || g->cs_off[g->syms[i].v] == g->cs_off[g->syms[i].v + 1])
                        need[a] = UINT32_MAX / 2; /* never */
                }
            }
        for (uint32_t r = 0; r < g->n_rules; r++) occ_off[r + 1] += occ_off[r];
        occ = malloc((occ_off[g->n_rules] + 1) * sizeof *occ);
        work = malloc((g->n_rules + 1) * sizeof *work);
        ok = occ && work;
    }
    if (ok) {
        uint32_t *fill = calloc(g->n_rules + 1, sizeof *fill);
        ok = fill != NULL;
        if (ok) {
            for (uint32_t a = 0; a < n_alt; a++)
                for (uint32_t i = g->alt[a]; g->syms[i].type != SYM_END; i++)
                    if (g->syms[i].type == SYM_RULE) {
                        uint32_t t = g->syms[i].v;
                        occ[occ_off[t] + fill[t]++] = a;
                    }
            free(fill);
            size_t nw = 0;
            memset(have, 0, g->n_rules * sizeof *have);
            for (uint32_t a = 0; a < n_alt; a++)
                if (need[a] == 0 && !have[alt_rule[a]]) have[alt_rule[a]] = true, work[nw++] = alt_rule[a];
            while (nw) {
                uint32_t r = work[--nw];
                for (uint32_t k = occ_off[r]; k < occ_off[r + 1]; k++) {
                    uint32_t a = occ[k];
                    if (--need[a] == 0 && !have[alt_rule[a]]) have[alt_rule[a]] = true, work[nw++] = alt_rule[a];
                }
            }
        }
    }
    free(need);
    free(alt_rule);
    free(occ_off);
    free(occ);
    free(work);
    return ok;
}

/* Left recursion: rule A calls B at a position reached without consuming
 * input. Iterative DFS for a cycle; returns false (error set) on one. */
static bool check_left_recursion(parser *p, const llv_grammar *g, const bool *nullable) {
    uint32_t n = g->n_rules;
    uint8_t *color = calloc(n, 1);
    /* DFS frame: rule, alternative, symbol index */
    uint32_t *fr = malloc((size_t)n * 3 * sizeof *fr);
    if (!color || !fr) return free(color), free(fr), oom(p);
    bool ok = true;
    for (uint32_t root = 0; root < n && ok; root++) {
        if (color[root]) continue;
        size_t sp = 0;
        fr[0] = root, fr[1] = g->rule_alt[root], fr[2] = g->alt[g->rule_alt[root]];
        color[root] = 1;
        sp = 1;
        while (sp && ok) {
            uint32_t *f = fr + 3 * (sp - 1);
            uint32_t r = f[0];
            if (f[1] >= g->rule_alt[r + 1]) {
                color[r] = 2;
                sp--;
                continue;
            }
            gsym s = g->syms[f[2]];
            if (s.type == SYM_END || (s.type == SYM_CHAR)) { /* next alternative */
                f[1]++;
                if (f[1] < g->rule_alt[r + 1]) f[2] = g->alt[f[1]];
                continue;
            }
            /* a rule reference reached without consuming: an edge */
            uint32_t t = s.v;
            if (nullable[t]) f[2]++;
            else { /* the rest of the alternative is not reachable without input */
                f[1]++;
                if (f[1] < g->rule_alt[r + 1]) f[2] = g->alt[f[1]];
            }
            if (color[t] == 1) {
                char path[256];
                size_t k = 0, start = 0;
                while (start < sp && fr[3 * start] != t) start++;
                for (size_t i = start; i < sp && k < sizeof path - 40; i++)
                    k += (size_t)snprintf(path + k, sizeof path - k, "%s -> ", p->rules[fr[3 * i]].name);
                snprintf(path + (k < sizeof path ? k : sizeof path - 1), sizeof path - (k < sizeof path ? k : sizeof path - 1),
                         "%s", p->rules[t].name);
                prule *pr = &p->rules[t];
                ok = perr_at(p, pr->def_off, "left recursion: %s%s", path,
                             pr->parent >= 0 ? " (a group or repetition that can match the empty string?)" : "");
            } else if (color[t] == 0) {
                color[t] = 1;
                uint32_t *nf = fr + 3 * sp++;
                nf[0] = t, nf[1] = g->rule_alt[t], nf[2] = g->alt[g->rule_alt[t]];
            }
        }
    }
    free(color);
    free(fr);
    return ok;
}

/* ------------------------------------------------------------------ */
/* expansion of parse stacks                                            */

/* A stack set in canonical form: for each stack (sorted, distinct) its
 * length then its entries, bottom first. */
typedef struct expander {
    u32vec work;  /* pending items: entries..., length */
    u32vec cur;
    u32vec out;   /* emitted stacks: length, entries... */
    u32vec canon;
    struct sref { const uint32_t *p; uint32_t n; } *refs;
    size_t n_refs, cap_refs;
    uint64_t cost;  /* steps + stack entries copied, this code point */
    uint64_t total; /* cost since the caller last cleared it (mask budget) */
} expander;

static void expander_free(expander *e) {
    free(e->work.v);
    free(e->cur.v);
    free(e->out.v);
    free(e->canon.v);
    free(e->refs);
}

static bool push_item(expander *e, const uint32_t *st, uint32_t n, uint32_t extra) {
    if (n + 1 > LLV_GRAMMAR_MAX_STACK_DEPTH) return false;
    if ((e->cost += n + 1) > LLV_GRAMMAR_MAX_EXPAND) return false;
    if (!u32_reserve(&e->work, n + 2)) return false;
    if (n) memcpy(e->work.v + e->work.n, st, n * sizeof *st);
    e->work.v[e->work.n + n] = extra;
    e->work.v[e->work.n + n + 1] = n + 1;
    e->work.n += n + 2;
    return true;
}

/* Expands every pending item until its top is a charset (or it is empty),
 * appending results to e->out. false on a limit or out of memory. */
static bool expand(const llv_grammar *g, expander *e) {
    while (e->work.n) {
        uint32_t n = e->work.v[e->work.n - 1];
        e->work.n -= n + 1;
        if ((e->cost += n) > LLV_GRAMMAR_MAX_EXPAND) return false;
        e->cur.n = 0;
        if (!u32_reserve(&e->cur, n + 1)) return false;
        if (n) memcpy(e->cur.v, e->work.v + e->work.n, n * sizeof(uint32_t));
        uint32_t *c = e->cur.v;
        for (;;) {
            if (++e->cost > LLV_GRAMMAR_MAX_EXPAND) return false;
            if (n == 0) break;
            uint32_t top = c[n - 1];
            gsym s = g->syms[top];
            if (s.type == SYM_CHAR) break;
            n--;
            if (s.type == SYM_END) continue;
            if (g->syms[top + 1].type != SYM_END) c[n++] = top + 1;
            uint32_t a0 = g->rule_alt[s.v], a1 = g->rule_alt[s.v + 1];
            for (uint32_t a = a0 + 1; a < a1; a++) {
                if (!push_item(e, c, n, g->alt[a])) return false;
                c = e->cur.v; /* (cur is not reallocated by push_item) */
            }
            if (n + 1 > LLV_GRAMMAR_MAX_STACK_DEPTH) return false;
            if (!u32_reserve(&e->cur, n + 1)) return false;
            c = e->cur.v;
            c[n++] = g->alt[a0];
        }
        if (!u32_reserve(&e->out, n + 1)) return false;
        e->out.v[e->out.n++] = n;
        if (n) memcpy(e->out.v + e->out.n, c, n * sizeof *c);
        e->out.n += n;
        if (e->out.n > LLV_GRAMMAR_MAX_CONFIG_WORDS * 2u) return false;
    }
    return true;
}

static int cmp_sref(const void *a, const void *b) {
    const struct sref *x = a, *y = b;
    if (x->n != y->n) return x->n < y->n ? -1 : 1;
    for (uint32_t i = 0; i < x->n; i++)
        if (x->p[i] != y->p[i]) return x->p[i] < y->p[i] ? -1 : 1;
    return 0;
}

/* e->out -> e->canon (sorted, distinct); false when over a limit or empty. */
static bool canonicalize(expander *e) {
    e->n_refs = 0;
    for (size_t i = 0; i < e->out.n;) {
        uint32_t n = e->out.v[i];
        if (e->n_refs == e->cap_refs) {
            size_t cap = e->cap_refs ? e->cap_refs * 2 : 64;
            struct sref *r = realloc(e->refs, cap * sizeof *r);
            if (!r) return false;
            e->refs = r;
            e->cap_refs = cap;
        }
        e->refs[e->n_refs].p = e->out.v + i + 1;
        e->refs[e->n_refs].n = n;
        e->n_refs++;
        i += n + 1;
    }
    if (e->n_refs == 0) return false;
    if (e->n_refs > 1) qsort(e->refs, e->n_refs, sizeof *e->refs, cmp_sref);
    e->canon.n = 0;
    size_t kept = 0;
    for (size_t i = 0; i < e->n_refs; i++) {
        if (i && cmp_sref(&e->refs[i], &e->refs[i - 1]) == 0) continue;
        if (++kept > LLV_GRAMMAR_MAX_STACKS) return false;
        if (!u32_reserve(&e->canon, e->refs[i].n + 1)) return false;
        e->canon.v[e->canon.n++] = e->refs[i].n;
        if (e->refs[i].n) memcpy(e->canon.v + e->canon.n, e->refs[i].p, e->refs[i].n * sizeof(uint32_t));
        e->canon.n += e->refs[i].n;
    }
    return e->canon.n <= LLV_GRAMMAR_MAX_CONFIG_WORDS;
}

/* ------------------------------------------------------------------ */
/* parse entry                                                          */

void llv_grammar_free(llv_grammar *g) {
    if (!g) return;
    free(g->syms);
    free(g->alt);
    free(g->rule_alt);
    free(g->ranges);
    free(g->cs_off);
    free(g->cs_ascii);
    free(g->start);
    free(g);
}

static bool compile(parser *p, llv_grammar *g) {
    size_t n_syms = 0, n_alt = 0;
    for (size_t r = 0; r < p->n_rules; r++) {
        n_syms += p->rules[r].body.n;
        for (size_t i = 0; i < p->rules[r].body.n; i++) n_alt += PSYM_T(p->rules[r].body.v[i]) == SYM_END;
    }
    g->n_rules = (uint32_t)p->n_rules;
    g->syms = malloc((n_syms + 1) * sizeof *g->syms);
    g->alt = malloc((n_alt + 1) * sizeof *g->alt);
    g->rule_alt = malloc((p->n_rules + 1) * sizeof *g->rule_alt);
    g->n_cs = p->cs_off.n ? (uint32_t)p->cs_off.n - 1 : 0;
    g->cs_off = malloc((g->n_cs + 1) * sizeof *g->cs_off);
    g->ranges = malloc((p->ranges.n + 1) * sizeof *g->ranges);
    g->cs_ascii = calloc(2 * (size_t)g->n_cs + 1, sizeof *g->cs_ascii);
    if (!g->syms || !g->alt || !g->rule_alt || !g->cs_off || !g->ranges || !g->cs_ascii) return oom(p);
    if (p->cs_off.n) memcpy(g->cs_off, p->cs_off.v, p->cs_off.n * sizeof *g->cs_off);
    else g->cs_off[0] = 0;
    if (p->ranges.n) memcpy(g->ranges, p->ranges.v, p->ranges.n * sizeof *g->ranges);
    for (uint32_t c = 0; c < g->n_cs; c++)
        for (uint32_t k = g->cs_off[c]; k < g->cs_off[c + 1]; k++)
            for (uint32_t cp = g->ranges[2 * k]; cp <= g->ranges[2 * k + 1] && cp < 128; cp++)
                g->cs_ascii[2 * c + (cp >> 6)] |= 1ull << (cp & 63);
    size_t s = 0, a = 0;
    for (size_t r = 0; r < p->n_rules; r++) {
        g->rule_alt[r] = (uint32_t)a;
        bool at_start = true;
        for (size_t i = 0; i < p->rules[r].body.n; i++) {
            uint32_t x = p->rules[r].body.v[i];
            if (at_start) g->alt[a++] = (uint32_t)s;
            g->syms[s].type = PSYM_T(x);
            g->syms[s].v = PSYM_V(x);
            s++;
            at_start = PSYM_T(x) == SYM_END;
        }
    }
    g->rule_alt[p->n_rules] = (uint32_t)a;
    g->syms[s].type = SYM_END; /* sentinel: top + 1 is always readable */
    g->syms[s].v = 0;
    g->n_syms = (uint32_t)s;
    return true;
}

llv_status llv_grammar_parse(const char *text, size_t n, llv_grammar **out, llv_error *err) {
    llv_err_clear(err);
    if (!out) return llv_err(err, LLV_ERR_INVALID_ARGUMENT, "grammar: out is NULL");
    *out = NULL;
    if (!text && n) return llv_err(err, LLV_ERR_INVALID_ARGUMENT, "grammar: text is NULL");
    if (n > LLV_GRAMMAR_MAX_BYTES)
        return llv_err(err, LLV_ERR_INVALID_ARGUMENT, "grammar: %zu bytes, more than the limit of %u", n,
                       LLV_GRAMMAR_MAX_BYTES);
    parser P = {.s = text ? text : "", .n = n, .err = err}, *p = &P;
    llv_grammar *g = calloc(1, sizeof *g);
    bool *nullable = NULL, *productive = NULL, *reach = NULL;
    uint32_t *queue = NULL;
    if (!g) {
        oom(p);
        goto done;
    }
    if (!parse_rules(p)) goto done;
    int32_t root = -1;
    for (size_t r = 0; r < p->n_rules; r++) {
        if (!p->rules[r].defined)
            perr_at(p, p->rules[r].ref_off, "undefined rule '%s'", p->rules[r].name);
        else if (p->rules[r].parent < 0 && strcmp(p->rules[r].name, "root") == 0)
            root = (int32_t)r;
        if (p->failed) goto done;
    }
    if (root < 0) {
        perr_at(p, 0, "no 'root' rule");
        goto done;
    }
    if (!compile(p, g)) goto done;
    nullable = malloc(g->n_rules * sizeof *nullable);
    productive = malloc(g->n_rules * sizeof *productive);
    reach = calloc(g->n_rules, sizeof *reach);
    queue = malloc(g->n_rules * sizeof *queue);
    if (!nullable || !productive || !reach || !queue || !rule_fixpoint(g, false, nullable) ||
        !rule_fixpoint(g, true, productive)) {
        oom(p);
        goto done;
    }
    if (!check_left_recursion(p, g, nullable)) goto done;
    /* rules reachable from root must be able to finish */
    size_t qn = 0;
    reach[root] = true;
    queue[qn++] = (uint32_t)root;
    while (qn) {
        uint32_t r = queue[--qn];
        if (!productive[r]) {
            prule *pr = &p->rules[r];
            while (pr->parent >= 0) pr = &p->rules[pr->parent];
            perr_at(p, p->rules[r].def_off, "rule '%s' can never match a finite string (endless recursion or an empty character class)",
                    pr->name);
            goto done;
        }
        for (uint32_t a = g->rule_alt[r]; a < g->rule_alt[r + 1]; a++)
            for (uint32_t i = g->alt[a]; g->syms[i].type != SYM_END; i++)
                if (g->syms[i].type == SYM_RULE && !reach[g->syms[i].v])
                    reach[g->syms[i].v] = true, queue[qn++] = g->syms[i].v;
    }
    /* the start configuration: every alternative of root */
    {
    expander e = {0};
    bool ok = true;
    for (uint32_t a = g->rule_alt[root]; a < g->rule_alt[root + 1] && ok; a++) ok = push_item(&e, NULL, 0, g->alt[a]);
    ok = ok && expand(g, &e) && canonicalize(&e);
    if (ok) {
        g->start = malloc(e.canon.n * sizeof *g->start);
        if (g->start) memcpy(g->start, e.canon.v, e.canon.n * sizeof *g->start);
        g->n_start = (uint32_t)e.canon.n;
        if (!g->start) oom(p);
    } else {
        perr_at(p, p->rules[root].def_off, "the start of 'root' is too ambiguous (over the parse-stack limits)");
    }
    expander_free(&e);
    }
done:
    for (size_t r = 0; r < p->n_rules; r++) {
        free(p->rules[r].name);
        free(p->rules[r].body.v);
    }
    free(p->rules);
    free(p->htab);
    free(p->ranges.v);
    free(p->cs_off.v);
    free(nullable);
    free(productive);
    free(reach);
    free(queue);
    if (p->failed) {
        llv_grammar_free(g);
        return err ? err->status : LLV_ERR_INVALID_ARGUMENT;
    }
    *out = g;
    return LLV_OK;
}

/* ------------------------------------------------------------------ */
/* the DFA cache                                                        */

#define NEXT_UNKNOWN (-2)
#define NEXT_REJECT  (-1)

typedef struct cfg {
    uint32_t off, n;   /* stacks: words[off .. off+n) */
    uint32_t partial;  /* pending bytes of a code point: count | b0 << 8 | b1 << 16 | b2 << 24 */
    uint32_t hash;
    int32_t  next;     /* offset of its 256 transitions in cache.next, or -1 */
    int32_t  mask;     /* its mask slot, or -1 */
    bool     can_end;
} cfg;

typedef struct cache {
    const llv_grammar *g;
    cfg     *cfgs;
    size_t   n_cfgs, cap_cfgs;
    u32vec   words;
    int32_t *next;
    size_t   n_next, cap_next;
    int32_t *table; /* open addressing over cfgs, -1 empty */
    size_t   tcap;
    /* completed code points: (stacks offset, which stacks match) -> result,
     * so code points that match the same stacks (and the configurations of
     * partial code points over the same stacks) share one expansion. Keys
     * are pairs: (off + 1, match bits) with bit 63 set in the first when the
     * configuration has <= 64 stacks, else (off + 1, code point); 0 empty. */
    uint64_t *cp_keys;
    int32_t  *cp_vals;
    size_t    cp_n, cp_cap;
    uint32_t  epoch; /* flushes so far */
    expander ex;
    /* ids the caller holds across a flush (remapped in place) */
    int32_t *pin;
    size_t   npin;
    /* token masks of recent configurations, for one vocabulary */
    const llv_grammar_vocab *mask_vocab;
    uint64_t mask_vocab_sum;
    uint64_t *mask_bits; /* LLV_GRAMMAR_MASK_CACHE slots of mask_words each */
    size_t    mask_words;
    int32_t   mask_owner[LLV_GRAMMAR_MASK_CACHE], mask_count[LLV_GRAMMAR_MASK_CACHE];
    int       mask_clock;
} cache;

struct llv_grammar_state {
    cache   c;
    int32_t cur;
};

static size_t cache_bytes(const cache *c) {
    return c->cap_cfgs * sizeof(cfg) + c->words.cap * 4 + c->cap_next * 4 + c->tcap * 4 + c->cp_cap * 20;
}

static uint32_t hash_cfg(const uint32_t *w, size_t n, uint32_t partial) {
    uint64_t h = 0x9E3779B97F4A7C15ull ^ partial;
    for (size_t i = 0; i < n; i++) h = (h ^ w[i]) * 0xff51afd7ed558ccdull, h ^= h >> 29;
    return (uint32_t)(h ^ (h >> 32));
}

static void cache_clear_masks(cache *c) {
    for (int i = 0; i < LLV_GRAMMAR_MASK_CACHE; i++) c->mask_owner[i] = -1;
}

static bool table_rebuild(cache *c, size_t cap) {
    int32_t *t = malloc(cap * sizeof *t);
    if (!t) return false;
    for (size_t i = 0; i < cap; i++) t[i] = -1;
    for (size_t i = 0; i < c->n_cfgs; i++) {
        size_t h = c->cfgs[i].hash & (cap - 1);
        while (t[h] >= 0) h = (h + 1) & (cap - 1);
        t[h] = (int32_t)i;
    }
    free(c->table);
    c->table = t;
    c->tcap = cap;
    return true;
}

/* The id of configuration (w[0..n), partial), added when new; -1 on OOM.
 * share >= 0: w is words.v + share already (a partial code point's
 * configuration has its stacks unchanged), so it is not copied. */
static int32_t cache_intern_raw(cache *c, const uint32_t *w, size_t n, uint32_t partial, int64_t share) {
    uint32_t h = hash_cfg(w, n, partial);
    if ((c->n_cfgs + 1) * 2 > c->tcap && !table_rebuild(c, c->tcap ? c->tcap * 2 : 256)) return -1;
    size_t i = h & (c->tcap - 1);
    while (c->table[i] >= 0) {
        cfg *f = &c->cfgs[c->table[i]];
        if (f->hash == h && f->partial == partial && f->n == n && memcmp(c->words.v + f->off, w, n * 4) == 0)
            return c->table[i];
        i = (i + 1) & (c->tcap - 1);
    }
    if (c->n_cfgs == c->cap_cfgs) {
        size_t cap = c->cap_cfgs ? c->cap_cfgs * 2 : 64;
        cfg *f = realloc(c->cfgs, cap * sizeof *f);
        if (!f) return -1;
        c->cfgs = f;
        c->cap_cfgs = cap;
    }
    size_t off;
    if (share >= 0) {
        off = (size_t)share;
    } else {
        off = c->words.n;
        if (!u32_reserve(&c->words, n)) return -1;
        memcpy(c->words.v + off, w, n * 4);
        c->words.n += n;
    }
    cfg *f = &c->cfgs[c->n_cfgs];
    f->off = (uint32_t)off;
    f->n = (uint32_t)n;
    f->partial = partial;
    f->hash = h;
    f->next = -1;
    f->mask = -1;
    f->can_end = n > 0 && w[0] == 0; /* sorted by length: an empty stack comes first */
    c->table[i] = (int32_t)c->n_cfgs;
    return (int32_t)c->n_cfgs++;
}

/* Drops everything but the pinned configurations (remapped in place). */
static bool cache_flush(cache *c) {
    cache old = *c;
    c->cfgs = NULL, c->n_cfgs = c->cap_cfgs = 0;
    c->words = (u32vec){0};
    c->next = NULL, c->n_next = c->cap_next = 0;
    c->table = NULL, c->tcap = 0;
    c->cp_keys = NULL, c->cp_vals = NULL, c->cp_n = c->cp_cap = 0;
    c->epoch++;
    cache_clear_masks(c);
    bool ok = true;
    for (size_t i = 0; i < c->npin && ok; i++) {
        int32_t id = c->pin[i];
        if (id < 0) continue;
        const cfg *f = &old.cfgs[id];
        c->pin[i] = cache_intern_raw(c, old.words.v + f->off, f->n, f->partial, -1);
        ok = c->pin[i] >= 0;
    }
    free(old.cfgs);
    free(old.words.v);
    free(old.next);
    free(old.table);
    free(old.cp_keys);
    free(old.cp_vals);
    return ok;
}

static int32_t cache_intern(cache *c, const uint32_t *w, size_t n, uint32_t partial, int64_t share) {
    if (cache_bytes(c) > LLV_GRAMMAR_CACHE_BYTES) {
        /* w may point into the old pool: copy it first */
        uint32_t *tmp = malloc((n ? n : 1) * 4);
        if (!tmp) return -1;
        memcpy(tmp, w, n * 4);
        int32_t id = cache_flush(c) ? cache_intern_raw(c, tmp, n, partial, -1) : -1;
        free(tmp);
        return id;
    }
    return cache_intern_raw(c, w, n, partial, share);
}

/* UTF-8 prefix b[0..k): false if no valid sequence starts so; else the code
 * point range its completions cover (lo == hi when complete), *len its length. */
static bool utf8_prefix(const uint8_t *b, int k, uint32_t *lo, uint32_t *hi, int *len) {
    uint8_t c = b[0];
    uint32_t v, min, max;
    int L;
    if (c < 0x80) L = 1, v = c, min = 0, max = 0x7F;
    else if (c >= 0xC2 && c <= 0xDF) L = 2, v = c & 0x1F, min = 0x80, max = 0x7FF;
    else if (c >= 0xE0 && c <= 0xEF) L = 3, v = c & 0x0F, min = 0x800, max = 0xFFFF;
    else if (c >= 0xF0 && c <= 0xF4) L = 4, v = c & 0x07, min = 0x10000, max = CP_MAX;
    else return false;
    if (k > L) return false;
    for (int i = 1; i < k; i++) {
        if ((b[i] & 0xC0) != 0x80) return false;
        v = (v << 6) | (b[i] & 0x3F);
    }
    int rest = 6 * (L - k);
    uint32_t l = v << rest, h = l | ((1u << rest) - 1);
    if (l < min) l = min;
    if (h > max) h = max;
    if (l > h) return false;
    if (l >= 0xD800 && h <= 0xDFFF) return false;
    *lo = l, *hi = h, *len = L;
    return true;
}

static size_t cp_slot(const cache *c, uint64_t a, uint64_t b) {
    uint64_t h = (a * 0x9E3779B97F4A7C15ull) ^ (b * 0xC2B2AE3D27D4EB4Full);
    h ^= h >> 31;
    size_t i = (size_t)h & (c->cp_cap - 1);
    while (c->cp_keys[2 * i] && (c->cp_keys[2 * i] != a || c->cp_keys[2 * i + 1] != b)) i = (i + 1) & (c->cp_cap - 1);
    return i;
}

static void cp_put(cache *c, uint64_t a, uint64_t b, int32_t v) {
    if ((c->cp_n + 1) * 2 > c->cp_cap) {
        size_t cap = c->cp_cap ? c->cp_cap * 2 : 1024;
        uint64_t *k = calloc(2 * cap, sizeof *k);
        int32_t *vals = malloc(cap * sizeof *vals);
        if (!k || !vals) {
            free(k);
            free(vals);
            return; /* not remembered */
        }
        uint64_t *ok = c->cp_keys;
        int32_t *ov = c->cp_vals;
        size_t ocap = c->cp_cap;
        c->cp_keys = k, c->cp_vals = vals, c->cp_cap = cap;
        for (size_t i = 0; i < ocap; i++)
            if (ok[2 * i]) {
                size_t j = cp_slot(c, ok[2 * i], ok[2 * i + 1]);
                c->cp_keys[2 * j] = ok[2 * i], c->cp_keys[2 * j + 1] = ok[2 * i + 1], c->cp_vals[j] = ov[i];
            }
        free(ok);
        free(ov);
    }
    size_t i = cp_slot(c, a, b);
    if (!c->cp_keys[2 * i]) c->cp_n++;
    c->cp_keys[2 * i] = a;
    c->cp_keys[2 * i + 1] = b;
    c->cp_vals[i] = v;
}

/* Computes the transition of configuration id on byte b (not cached). */
static int32_t transition(cache *c, int32_t id, uint8_t b) {
    const llv_grammar *g = c->g;
    cfg f = c->cfgs[id];
    uint8_t bytes[4];
    int k = (int)(f.partial & 3); /* at most 3 pending bytes */
    for (int i = 0; i < k; i++) bytes[i] = (uint8_t)(f.partial >> (8 * (i + 1)));
    bytes[k++] = b;
    uint32_t lo, hi;
    int L;
    if (!utf8_prefix(bytes, k, &lo, &hi, &L)) return NEXT_REJECT;
    const uint32_t *w = c->words.v + f.off;
    if (k < L) { /* partial: some stack must accept some completion */
        bool any = false;
        for (uint32_t i = 0; i < f.n && !any; i += w[i] + 1)
            if (w[i] && cs_intersects(g, g->syms[w[i + w[i]]].v, lo, hi)) any = true;
        c->ex.total += f.n;
        if (!any) return NEXT_REJECT;
        uint32_t partial = (uint32_t)k;
        for (int i = 0; i < k; i++) partial |= (uint32_t)bytes[i] << (8 * (i + 1));
        return cache_intern(c, w, f.n, partial, f.off);
    }
    uint32_t cp = lo;
    uint64_t match = 0;
    uint32_t ns = 0;
    for (uint32_t i = 0; i < f.n && ns <= 64; i += w[i] + 1)
        if (w[i]) {
            if (ns < 64 && cs_match(g, g->syms[w[i + w[i]]].v, cp)) match |= 1ull << ns;
            ns++;
        }
    if (ns <= 64 && !match) return NEXT_REJECT;
    uint64_t ka = ((uint64_t)f.off + 1) | (ns <= 64 ? 1ull << 63 : 0), kb = ns <= 64 ? match : cp;
    if (c->cp_cap) {
        size_t i = cp_slot(c, ka, kb);
        if (c->cp_keys[2 * i]) return c->cp_vals[i];
    }
    expander *e = &c->ex;
    e->work.n = e->out.n = 0;
    e->cost = f.n;
    bool ok = true;
    for (uint32_t i = 0; i < f.n && ok; i += w[i] + 1) {
        uint32_t n = w[i];
        if (!n) continue;
        uint32_t top = w[i + n];
        if (!cs_match(g, g->syms[top].v, cp)) continue;
        ok = push_item(e, w + i + 1, n - 1, top + 1) && expand(g, e);
    }
    if (ok) e->cost += e->out.n, ok = canonicalize(e);
    e->total += e->cost;
    int32_t r = NEXT_REJECT;
    if (ok) {
        uint32_t epoch = c->epoch;
        r = cache_intern(c, e->canon.v, e->canon.n, 0, -1);
        if (r < 0) return NEXT_REJECT;
        if (c->epoch != epoch) return r; /* flushed: offsets renumbered, the key is stale */
    }
    cp_put(c, ka, kb, r);
    return r;
}

/* The configuration after byte b from *srcp (a pinned slot, remapped if the
 * cache is flushed); NEXT_REJECT when b is not allowed. */
static inline int32_t step(cache *c, int32_t *srcp, uint8_t b) {
    int32_t nx = c->cfgs[*srcp].next;
    if (nx >= 0 && c->next[nx + b] != NEXT_UNKNOWN) return c->next[nx + b];
    int32_t r = transition(c, *srcp, b);
    if (c->cfgs[*srcp].next < 0) {
        if (c->n_next + 256 > c->cap_next) {
            size_t cap = c->cap_next ? c->cap_next * 2 : 256 * 8;
            int32_t *t = realloc(c->next, cap * sizeof *t);
            if (!t) return r;
            c->next = t;
            c->cap_next = cap;
        }
        c->cfgs[*srcp].next = (int32_t)c->n_next;
        for (int i = 0; i < 256; i++) c->next[c->n_next + i] = NEXT_UNKNOWN;
        c->n_next += 256;
    }
    c->next[c->cfgs[*srcp].next + b] = r;
    return r;
}

static bool cache_init(cache *c, const llv_grammar *g, const uint32_t *w, size_t n, uint32_t partial, int32_t *id) {
    memset(c, 0, sizeof *c);
    c->g = g;
    cache_clear_masks(c);
    *id = cache_intern_raw(c, w, n, partial, -1);
    return *id >= 0;
}

static void cache_free(cache *c) {
    free(c->cfgs);
    free(c->words.v);
    free(c->next);
    free(c->table);
    free(c->cp_keys);
    free(c->cp_vals);
    free(c->mask_bits);
    expander_free(&c->ex);
}

/* ------------------------------------------------------------------ */
/* states                                                               */

llv_grammar_state *llv_grammar_state_new(const llv_grammar *g) {
    if (!g) return NULL;
    llv_grammar_state *s = malloc(sizeof *s);
    if (!s) return NULL;
    if (!cache_init(&s->c, g, g->start, g->n_start, 0, &s->cur)) {
        cache_free(&s->c);
        free(s);
        return NULL;
    }
    return s;
}

llv_grammar_state *llv_grammar_state_clone(const llv_grammar_state *s) {
    if (!s) return NULL;
    llv_grammar_state *t = malloc(sizeof *t);
    if (!t) return NULL;
    const cfg *f = &s->c.cfgs[s->cur];
    if (!cache_init(&t->c, s->c.g, s->c.words.v + f->off, f->n, f->partial, &t->cur)) {
        cache_free(&t->c);
        free(t);
        return NULL;
    }
    return t;
}

void llv_grammar_state_reset(llv_grammar_state *s) {
    if (!s) return;
    int32_t id = cache_intern(&s->c, s->c.g->start, s->c.g->n_start, 0, -1);
    if (id >= 0) {
        s->cur = id;
        return;
    }
    /* out of memory: start over with a fresh cache */
    const llv_grammar *g = s->c.g;
    cache_free(&s->c);
    if (!cache_init(&s->c, g, g->start, g->n_start, 0, &s->cur)) s->cur = -1;
}

void llv_grammar_state_free(llv_grammar_state *s) {
    if (!s) return;
    cache_free(&s->c);
    free(s);
}

bool llv_grammar_accept_bytes(llv_grammar_state *s, const char *bytes, size_t n) {
    if (!s || s->cur < 0) return false;
    if (n == 0) return true;
    if (!bytes) return false;
    int32_t pin[2] = {s->cur, s->cur}; /* [0]: where we started, [1]: where we are */
    s->c.pin = pin;
    s->c.npin = 2;
    bool ok = true;
    for (size_t i = 0; i < n && ok; i++) {
        int32_t nx = step(&s->c, &pin[1], (uint8_t)bytes[i]);
        if (nx < 0) ok = false;
        else pin[1] = nx;
    }
    s->c.pin = NULL;
    s->c.npin = 0;
    s->cur = ok ? pin[1] : pin[0];
    return ok;
}

bool llv_grammar_can_end(const llv_grammar_state *s) {
    if (!s || s->cur < 0) return false;
    const cfg *f = &s->c.cfgs[s->cur];
    return f->partial == 0 && f->can_end;
}

void llv_grammar_allowed_bytes(llv_grammar_state *s, bool allowed[256]) {
    if (!s || s->cur < 0) {
        memset(allowed, 0, 256);
        return;
    }
    int32_t pin[1] = {s->cur};
    s->c.pin = pin;
    s->c.npin = 1;
    for (int b = 0; b < 256; b++) allowed[b] = step(&s->c, &pin[0], (uint8_t)b) >= 0;
    s->c.pin = NULL;
    s->c.npin = 0;
    s->cur = pin[0];
}

/* ------------------------------------------------------------------ */
/* vocabulary trie and masks                                            */

typedef struct tnode {
    uint32_t skip;     /* the next node outside this subtree */
    uint32_t tok;      /* first of its tokens in order[] */
    uint16_t n_tok;    /* tokens whose bytes end here */
    uint16_t depth;    /* bytes from the root, 1.. */
    uint8_t  byte;
} tnode;

struct llv_grammar_vocab {
    int32_t  n_vocab;
    tnode   *nodes;
    size_t   n_nodes;
    int32_t *order;    /* token ids sorted by bytes */
    int32_t *eog;
    size_t   n_eog;
    uint16_t max_depth;
    uint64_t sum;      /* checksum of the contents, to key the mask cache */
    struct tokb { const uint8_t *p; uint32_t n; } *tok; /* token bytes (into blob) */
    uint8_t *blob;
};

/* sort helper without qsort_r: tokens are sorted through an index array */
typedef struct tsort { const uint8_t *p; uint32_t n; int32_t id; } tsort;
static int cmp_tsort(const void *a, const void *b) {
    const tsort *x = a, *y = b;
    uint32_t m = x->n < y->n ? x->n : y->n;
    int c = memcmp(x->p, y->p, m);
    if (c) return c;
    if (x->n != y->n) return x->n < y->n ? -1 : 1;
    return x->id < y->id ? -1 : x->id > y->id;
}

void llv_grammar_vocab_free(llv_grammar_vocab *v) {
    if (!v) return;
    free(v->nodes);
    free(v->order);
    free(v->eog);
    free(v->tok);
    free(v->blob);
    free(v);
}

int32_t llv_grammar_vocab_size(const llv_grammar_vocab *v) { return v ? v->n_vocab : 0; }

llv_status llv_grammar_vocab_new(const char *const *tokens, const size_t *lens, int32_t n_vocab, const int32_t *eog,
                                 size_t n_eog, llv_grammar_vocab **out, llv_error *err) {
    llv_err_clear(err);
    if (!out) return llv_err(err, LLV_ERR_INVALID_ARGUMENT, "grammar vocab: out is NULL");
    *out = NULL;
    if (n_vocab <= 0 || !tokens || !lens)
        return llv_err(err, LLV_ERR_INVALID_ARGUMENT, "grammar vocab: n_vocab %d or arrays missing", n_vocab);
    for (size_t i = 0; i < n_eog; i++)
        if (eog[i] < 0 || eog[i] >= n_vocab)
            return llv_err(err, LLV_ERR_INVALID_ARGUMENT, "grammar vocab: eog id %d out of range", eog[i]);
    llv_grammar_vocab *v = calloc(1, sizeof *v);
    tsort *ts = NULL;
    bool *is_eog = NULL;
    if (!v) goto nomem;
    v->n_vocab = n_vocab;
    size_t total = 0, n_ok = 0;
    /* eog ids stay out of the trie: allowed only by can_end */
    is_eog = calloc((size_t)n_vocab, sizeof *is_eog);
    if (!is_eog) goto nomem;
    for (size_t i = 0; i < n_eog; i++) is_eog[eog[i]] = true;
#define TOKEN_OK(i) (tokens[i] && lens[i] > 0 && lens[i] <= LLV_GRAMMAR_MAX_TOKEN_BYTES && !is_eog[i])
    for (int32_t i = 0; i < n_vocab; i++)
        if (TOKEN_OK(i)) total += lens[i], n_ok++;
    v->blob = malloc(total ? total : 1);
    v->tok = calloc((size_t)n_vocab, sizeof *v->tok);
    v->order = malloc((n_ok ? n_ok : 1) * sizeof *v->order);
    ts = malloc((n_ok ? n_ok : 1) * sizeof *ts);
    v->eog = malloc((n_eog ? n_eog : 1) * sizeof *v->eog);
    /* nodes: at most one per byte */
    v->nodes = malloc((total ? total : 1) * sizeof *v->nodes);
    if (!v->blob || !v->tok || !v->order || !ts || !v->eog || !v->nodes) goto nomem;
    if (n_eog) memcpy(v->eog, eog, n_eog * sizeof *eog);
    v->n_eog = n_eog;
    uint64_t sum = 0xcbf29ce484222325ull ^ (uint64_t)n_vocab;
    size_t off = 0, k = 0;
    for (int32_t i = 0; i < n_vocab; i++) {
        if (!TOKEN_OK(i)) {
            sum = (sum ^ 0xFFFF) * 0x100000001b3ull;
            continue;
        }
        memcpy(v->blob + off, tokens[i], lens[i]);
        v->tok[i].p = v->blob + off;
        v->tok[i].n = (uint32_t)lens[i];
        sum = hash_bytes(tokens[i], lens[i], (sum ^ lens[i]) * 0x100000001b3ull);
        ts[k].p = v->blob + off, ts[k].n = (uint32_t)lens[i], ts[k].id = i, k++;
        off += lens[i];
    }
    for (size_t i = 0; i < n_eog; i++) sum = (sum ^ (uint64_t)eog[i]) * 0x100000001b3ull;
    v->sum = sum;
    qsort(ts, k, sizeof *ts, cmp_tsort);
    /* preorder trie from the sorted strings */
    uint32_t path[LLV_GRAMMAR_MAX_TOKEN_BYTES + 1];
    size_t depth = 0, nn = 0;
    const uint8_t *prev = NULL;
    uint32_t prev_n = 0;
    for (size_t t = 0; t < k; t++) {
        v->order[t] = ts[t].id;
        uint32_t lcp = 0;
        if (prev)
            while (lcp < prev_n && lcp < ts[t].n && prev[lcp] == ts[t].p[lcp]) lcp++;
        while (depth > lcp) v->nodes[path[--depth]].skip = (uint32_t)nn;
        while (depth < ts[t].n) {
            tnode *nd = &v->nodes[nn];
            nd->byte = ts[t].p[depth];
            nd->depth = (uint16_t)(depth + 1);
            nd->n_tok = 0;
            nd->tok = 0;
            nd->skip = 0;
            path[depth++] = (uint32_t)nn++;
        }
        tnode *end = &v->nodes[path[depth - 1]];
        if (end->n_tok == 0) end->tok = (uint32_t)t;
        if (end->n_tok < UINT16_MAX) end->n_tok++;
        if (depth > v->max_depth) v->max_depth = (uint16_t)depth;
        prev = ts[t].p;
        prev_n = ts[t].n;
    }
    while (depth > 0) v->nodes[path[--depth]].skip = (uint32_t)nn;
    v->n_nodes = nn;
    free(ts);
    free(is_eog);
    *out = v;
    return LLV_OK;
#undef TOKEN_OK
nomem:
    free(ts);
    free(is_eog);
    llv_grammar_vocab_free(v);
    return llv_err(err, LLV_ERR_OUT_OF_MEMORY, "grammar vocab: out of memory");
}

/* One walk of the trie from the current configuration. */
static int32_t walk_mask(llv_grammar_state *s, const llv_grammar_vocab *v, uint64_t *bits) {
    cache *c = &s->c;
    size_t words = ((size_t)v->n_vocab + 63) / 64;
    memset(bits, 0, words * sizeof *bits);
    int32_t path[LLV_GRAMMAR_MAX_TOKEN_BYTES + 1];
    path[0] = s->cur;
    c->pin = path;
    c->ex.total = 0;
    int32_t count = 0;
    const tnode *nodes = v->nodes;
    for (size_t i = 0; i < v->n_nodes;) {
        const tnode *nd = &nodes[i];
        uint32_t d = nd->depth;
        int32_t src = path[d - 1];
        int32_t nx;
        int32_t t = c->cfgs[src].next;
        if (t >= 0 && (nx = c->next[t + nd->byte]) != NEXT_UNKNOWN) {
        } else {
            c->npin = d; /* path[0..d) are live */
            nx = step(c, &path[d - 1], nd->byte);
            if (c->ex.total > LLV_GRAMMAR_MASK_BUDGET) { /* a grammar too costly to mask */
                s->cur = path[0];
                c->pin = NULL;
                c->npin = 0;
                memset(bits, 0, words * sizeof *bits);
                return -1;
            }
        }
        if (nx < 0) {
            i = nd->skip;
            continue;
        }
        path[d] = nx;
        for (uint32_t k = 0; k < nd->n_tok; k++) {
            int32_t id = v->order[nd->tok + k];
            bits[id >> 6] |= 1ull << (id & 63);
        }
        count += nd->n_tok;
        i++;
    }
    s->cur = path[0];
    c->pin = NULL;
    c->npin = 0;
    if (llv_grammar_can_end(s))
        for (size_t e = 0; e < v->n_eog; e++) {
            int32_t id = v->eog[e];
            if (!((bits[id >> 6] >> (id & 63)) & 1)) bits[id >> 6] |= 1ull << (id & 63), count++;
        }
    return count;
}

int32_t llv_grammar_mask_bits(llv_grammar_state *s, const llv_grammar_vocab *v, uint64_t *bits) {
    if (!s || !v || !bits) return 0;
    size_t words = ((size_t)v->n_vocab + 63) / 64;
    if (s->cur < 0) {
        memset(bits, 0, words * sizeof *bits);
        return 0;
    }
    cache *c = &s->c;
    if (c->mask_vocab != v || c->mask_vocab_sum != v->sum || c->mask_words != words) {
        free(c->mask_bits);
        c->mask_bits = NULL;
        cache_clear_masks(c);
        for (size_t i = 0; i < c->n_cfgs; i++) c->cfgs[i].mask = -1;
        c->mask_vocab = v;
        c->mask_vocab_sum = v->sum;
        c->mask_words = words;
    }
    int slot = c->cfgs[s->cur].mask;
    if (slot >= 0 && c->mask_owner[slot] == s->cur) {
        memcpy(bits, c->mask_bits + (size_t)slot * words, words * sizeof *bits);
        return c->mask_count[slot];
    }
    int32_t count = walk_mask(s, v, bits);
    if (count < 0) return -1;
    if (!c->mask_bits) c->mask_bits = malloc((size_t)LLV_GRAMMAR_MASK_CACHE * words * sizeof *bits);
    if (c->mask_bits) {
        slot = c->mask_clock;
        c->mask_clock = (c->mask_clock + 1) % LLV_GRAMMAR_MASK_CACHE;
        if (c->mask_owner[slot] >= 0 && (size_t)c->mask_owner[slot] < c->n_cfgs) c->cfgs[c->mask_owner[slot]].mask = -1;
        c->mask_owner[slot] = s->cur;
        c->mask_count[slot] = count;
        c->cfgs[s->cur].mask = slot;
        memcpy(c->mask_bits + (size_t)slot * words, bits, words * sizeof *bits);
    }
    return count;
}

int32_t llv_grammar_mask(llv_grammar_state *s, const llv_grammar_vocab *v, float *logits, int32_t n_vocab) {
    if (!s || !v || !logits || n_vocab != v->n_vocab) return -1;
    size_t words = ((size_t)n_vocab + 63) / 64;
    uint64_t stackbits[64], *bits = words <= 64 ? stackbits : malloc(words * sizeof *bits);
    if (!bits) return -1;
    int32_t count = llv_grammar_mask_bits(s, v, bits);
    for (size_t w = 0; count >= 0 && w < words; w++) {
        uint64_t m = bits[w];
        if (m == ~0ull) continue;
        size_t base = w * 64, end = base + 64 < (size_t)n_vocab ? base + 64 : (size_t)n_vocab;
        for (size_t i = base; i < end; i++)
            if (!((m >> (i - base)) & 1)) logits[i] = -INFINITY;
    }
    if (bits != stackbits) free(bits);
    return count;
}

bool llv_grammar_accept_token(llv_grammar_state *s, const llv_grammar_vocab *v, int32_t id) {
    if (!s || !v || id < 0 || id >= v->n_vocab) return false;
    for (size_t e = 0; e < v->n_eog; e++)
        if (v->eog[e] == id) return llv_grammar_can_end(s);
    if (!v->tok[id].p) return false;
    return llv_grammar_accept_bytes(s, (const char *)v->tok[id].p, v->tok[id].n);
}
