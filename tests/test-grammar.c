/* test-grammar.c - GBNF grammars and the JSON-schema converter:
 *   regex:   random regex-equivalent grammars against PCRE2 on random strings
 *            (full matches, and viable prefixes via PCRE2's hard partial match)
 *   syntax:  escapes, classes, repetitions, comments, error positions
 *   tokens:  the vocabulary mask equals per-token byte acceptance, partial
 *            UTF-8 tokens, eog only at an end; mask time on a 128k vocabulary
 *   hostile: left recursion, undefined rules, deep nesting, huge counts
 *   schema:  >= 200 seeded random schemas -> grammar -> random documents that
 *            cJSON parses and a small validator accepts; invalid ones rejected;
 *            unsupported keywords named. */
#define PCRE2_CODE_UNIT_WIDTH 8
#include <cjson/cJSON.h>
#include <math.h>
#include <pcre2.h>
#include <stdlib.h>
#include <string.h>

#include "grammar.h"
#include "json-schema.h"
#include "testing.h"

/* ---- helpers ---------------------------------------------------------- */

static uint64_t rng_next(uint64_t *s) { /* splitmix64 */
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}
static uint32_t rnd(uint64_t *s, uint32_t n) { return n ? (uint32_t)(rng_next(s) % n) : 0; }

typedef struct sbuf {
    char  *p;
    size_t n, cap;
} sbuf;
static void sb_putn(sbuf *b, const char *s, size_t n) {
    if (b->n + n + 1 > b->cap) {
        b->cap = (b->n + n + 1) * 2;
        b->p = realloc(b->p, b->cap);
    }
    memcpy(b->p + b->n, s, n);
    b->n += n;
    b->p[b->n] = 0;
}
static void sb_puts(sbuf *b, const char *s) { sb_putn(b, s, strlen(s)); }
static void sb_printf(sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sb_printf(sbuf *b, const char *fmt, ...) {
    char tmp[512];
    va_list ap;
    va_start(ap, fmt);
    int k = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    sb_putn(b, tmp, (size_t)k);
}

static llv_grammar *parse_ok(const char *text) {
    llv_grammar *g = NULL;
    llv_error err;
    llv_status st = llv_grammar_parse(text, strlen(text), &g, &err);
    CHECK_MSG(st == LLV_OK, "parse ok: %s\n---\n%s\n---", llv_test_errmsg(&err), text);
    return g;
}

/* Whole-string match: every byte accepted and the end reachable. */
static bool matches(const llv_grammar *g, const char *s, size_t n) {
    llv_grammar_state *st = llv_grammar_state_new(g);
    bool ok = llv_grammar_accept_bytes(st, s, n) && llv_grammar_can_end(st);
    llv_grammar_state_free(st);
    return ok;
}
static bool matches_z(const llv_grammar *g, const char *s) { return matches(g, s, strlen(s)); }

/* Random walk over allowed next bytes until an end: printable ASCII
 * preferred, and after `soft` bytes closers and the end. Returns the length,
 * or -1 when no end was reached within cap bytes. */
static long random_walk(const llv_grammar *g, uint64_t *rng, size_t soft, size_t cap, sbuf *out) {
    llv_grammar_state *st = llv_grammar_state_new(g);
    out->n = 0;
    sb_putn(out, "", 0);
    long result = -1;
    for (size_t len = 0; len <= cap; len++) {
        bool can_end = llv_grammar_can_end(st);
        if (can_end && (len >= soft || rnd(rng, 8) == 0)) {
            result = (long)len;
            break;
        }
        bool allowed[256];
        llv_grammar_allowed_bytes(st, allowed);
        int all[256], ascii[256], close[256], na = 0, nas = 0, nc = 0;
        for (int b = 0; b < 256; b++) {
            if (!allowed[b]) continue;
            all[na++] = b;
            if (b >= 0x20 && b < 0x7F) ascii[nas++] = b;
            if (b == '"' || b == ']' || b == '}') close[nc++] = b;
        }
        if (na == 0) {
            if (can_end) result = (long)len;
            break;
        }
        int b;
        if (len >= soft && nc) b = close[rnd(rng, (uint32_t)nc)];
        else if (nas && (len >= soft || rnd(rng, 10) < 7)) b = ascii[rnd(rng, (uint32_t)nas)];
        else b = all[rnd(rng, (uint32_t)na)];
        char c = (char)b;
        CHECK(llv_grammar_accept_bytes(st, &c, 1));
        sb_putn(out, &c, 1);
    }
    llv_grammar_state_free(st);
    return result;
}

/* ---- (a) regex-equivalent grammars against PCRE2 ------------------------ */

typedef struct rgen {
    uint64_t rng;
    sbuf     gbnf; /* extra rules */
    int      n_rules;
} rgen;

/* An atom for both syntaxes, appended to re and gb; returns whether it can
 * match the empty string. */
static bool gen_regex(rgen *r, int depth, sbuf *re, sbuf *gb) {
    static const char *lits[][2] = {{"a", "a"}, {"b", "b"}, {"c", "c"}, {"\xc3\xa9", "\xc3\xa9"},
                                    {"ab", "ab"}, {"\\n", "\\n"}, {"\xe2\x82\xac", "\\u20AC"}};
    uint32_t k = depth >= 4 ? rnd(&r->rng, 4) : rnd(&r->rng, 9);
    switch (k) {
    case 0: case 1: { /* literal */
        uint32_t i = rnd(&r->rng, sizeof lits / sizeof lits[0]);
        sb_printf(re, "(?:%s)", lits[i][0][0] == '\\' ? "\\n" : lits[i][0]);
        sb_printf(gb, "\"%s\"", lits[i][1]);
        return false;
    }
    case 2: { /* class */
        static const char *cls[][2] = {{"[ab]", "[ab]"}, {"[^a]", "[^a]"}, {"[a-c]", "[a-c]"},
                                       {"[^\\x{e9}b]", "[^\\u00e9b]"}, {"[\\x{e9}-\\x{20ac}]", "[\\xe9-\\u20ac]"}};
        uint32_t i = rnd(&r->rng, sizeof cls / sizeof cls[0]);
        sb_puts(re, cls[i][0]);
        sb_puts(gb, cls[i][1]);
        return false;
    }
    case 3:
        sb_puts(re, ".");
        sb_puts(gb, ".");
        return false;
    case 4: case 5: { /* concatenation */
        sb_puts(re, "(?:");
        sb_puts(gb, "(");
        bool a = gen_regex(r, depth + 1, re, gb);
        sb_puts(gb, " ");
        bool b = gen_regex(r, depth + 1, re, gb);
        sb_puts(re, ")");
        sb_puts(gb, ")");
        return a && b;
    }
    case 6: { /* alternation */
        sb_puts(re, "(?:");
        sb_puts(gb, "(");
        bool a = gen_regex(r, depth + 1, re, gb);
        sb_puts(re, "|");
        sb_puts(gb, " | ");
        bool b = gen_regex(r, depth + 1, re, gb);
        sb_puts(re, ")");
        sb_puts(gb, ")");
        return a || b;
    }
    default: { /* repetition (unbounded ones only of non-empty atoms) */
        sbuf sre = {0}, sgb = {0};
        bool nul = gen_regex(r, depth + 1, &sre, &sgb);
        uint32_t op = rnd(&r->rng, nul ? 3 : 6);
        uint32_t m = rnd(&r->rng, 3), n = m + rnd(&r->rng, 3);
        sb_printf(re, "(?:%s)", sre.p);
        sb_printf(gb, "(%s)", sgb.p);
        bool res = nul;
        switch (op) {
        case 0: sb_puts(re, "?"), sb_puts(gb, "?"), res = true; break;
        case 1: sb_printf(re, "{%u,%u}", m, n), sb_printf(gb, "{%u,%u}", m, n), res = nul || m == 0; break;
        case 2: sb_printf(re, "{%u}", m), sb_printf(gb, "{%u}", m), res = nul || m == 0; break;
        case 3: sb_puts(re, "*"), sb_puts(gb, "*"), res = true; break;
        case 4: sb_puts(re, "+"), sb_puts(gb, "+"); break;
        default: sb_printf(re, "{%u,}", m), sb_printf(gb, "{%u,}", m), res = m == 0; break;
        }
        free(sre.p);
        free(sgb.p);
        return res;
    }
    }
}

static void random_subject(uint64_t *rng, sbuf *s) {
    static const char *alpha[] = {"a", "b", "c", "\xc3\xa9", "\n", "\xe2\x82\xac", "z"};
    s->n = 0;
    sb_putn(s, "", 0);
    uint32_t len = rnd(rng, 9);
    for (uint32_t i = 0; i < len; i++) sb_puts(s, alpha[rnd(rng, sizeof alpha / sizeof alpha[0])]);
}

static void test_regex_reference(void) {
    if (!llv_test_case("regex")) return;
    rgen r = {.rng = 12345};
    sbuf re = {0}, gb = {0}, subj = {0}, pat = {0};
    pcre2_match_data *md = pcre2_match_data_create(4, NULL);
    int n_grammars = 0, n_checks = 0, n_match = 0, mismatches = 0;
    for (int gi = 0; gi < 300; gi++) {
        re.n = gb.n = 0;
        sb_putn(&re, "", 0);
        sb_puts(&gb, "root ::= ");
        gen_regex(&r, 0, &re, &gb);
        sb_puts(&gb, "\n");
        pat.n = 0;
        sb_printf(&pat, "^(?:%s)\\z", re.p);
        int ec;
        PCRE2_SIZE eo;
        pcre2_code *code = pcre2_compile((PCRE2_SPTR)pat.p, pat.n, PCRE2_UTF | PCRE2_DOTALL, &ec, &eo, NULL);
        CHECK_MSG(code != NULL, "pcre2 compiles %s", pat.p);
        llv_grammar *g = parse_ok(gb.p);
        if (!code || !g) {
            pcre2_code_free(code);
            llv_grammar_free(g);
            continue;
        }
        n_grammars++;
        for (int si = 0; si < 60; si++) {
            random_subject(&r.rng, &subj);
            int rc = pcre2_match(code, (PCRE2_SPTR)subj.p, subj.n, 0, 0, md, NULL);
            bool want = rc >= 0, got = matches(g, subj.p, subj.n);
            n_checks++;
            n_match += want;
            if (want != got && mismatches++ < 10)
                CHECK_MSG(false, "regex %s, grammar %s: subject '%s' pcre2 %d grammar %d", pat.p, gb.p, subj.p, want, got);
            /* prefixes: viable iff pcre2 sees a (hard) partial or full match */
            if (subj.n) {
                int pr = pcre2_match(code, (PCRE2_SPTR)subj.p, subj.n, 0, PCRE2_PARTIAL_HARD, md, NULL);
                bool pwant = pr >= 0 || pr == PCRE2_ERROR_PARTIAL;
                llv_grammar_state *st = llv_grammar_state_new(g);
                bool pgot = llv_grammar_accept_bytes(st, subj.p, subj.n);
                llv_grammar_state_free(st);
                n_checks++;
                if (pwant != pgot && mismatches++ < 10)
                    CHECK_MSG(false, "regex %s: prefix '%s' pcre2 %d grammar %d", pat.p, subj.p, pwant, pgot);
            }
        }
        /* strings the grammar generates match the regex */
        for (int wi = 0; wi < 5; wi++) {
            long len = random_walk(g, &r.rng, 6, 200, &subj);
            if (len < 0) continue;
            int rc = pcre2_match(code, (PCRE2_SPTR)subj.p, subj.n, 0, 0, md, NULL);
            n_checks++;
            if (rc < 0 && mismatches++ < 10) CHECK_MSG(false, "generated '%s' does not match %s", subj.p, pat.p);
        }
        pcre2_code_free(code);
        llv_grammar_free(g);
    }
    CHECK_EQ_I(mismatches, 0);
    CHECK(n_grammars == 300);
    CHECK_MSG(n_match > n_checks / 50, "enough positive cases (%d of %d)", n_match, n_checks);
    printf("regex: %d grammars, %d checks, %d full matches\n", n_grammars, n_checks, n_match);
    pcre2_match_data_free(md);
    free(re.p);
    free(gb.p);
    free(subj.p);
    free(pat.p);
}

/* ---- syntax ------------------------------------------------------------- */

static void test_syntax(void) {
    if (!llv_test_case("syntax")) return;
    llv_grammar *g = parse_ok("# comment\nroot ::= \"a\\n\\t\\r\\\\\\\"\\x41\\u00e9\\U0001F600\" tail # trailing\n"
                              "tail ::= [^a-c\\]] | \"\"\n");
    if (g) {
        CHECK(matches_z(g, "a\n\t\r\\\"A\xc3\xa9\xf0\x9f\x98\x80"));
        CHECK(matches_z(g, "a\n\t\r\\\"A\xc3\xa9\xf0\x9f\x98\x80z"));
        CHECK(matches_z(g, "a\n\t\r\\\"A\xc3\xa9\xf0\x9f\x98\x80]") == false);
        CHECK(matches_z(g, "a\n\t\r\\\"A\xc3\xa9\xf0\x9f\x98\x80" "b") == false);
        CHECK(!matches_z(g, "a"));
    }
    llv_grammar_free(g);
    /* repetition forms */
    g = parse_ok("root ::= x{2} y{1,3} z{2,} w{,2}\nx ::= \"x\"\ny ::= \"y\"\nz ::= \"z\"\nw ::= \"w\"\n");
    if (g) {
        CHECK(matches_z(g, "xxyzz"));
        CHECK(matches_z(g, "xxyyyzzzzzww"));
        CHECK(!matches_z(g, "xyzz"));
        CHECK(!matches_z(g, "xxyyyyzz"));
        CHECK(!matches_z(g, "xxyz"));
        CHECK(!matches_z(g, "xxyzzwww"));
    }
    llv_grammar_free(g);
    /* multi-line rules, groups over newlines, literal repetition, '.' */
    g = parse_ok("root ::=\n  \"ab\"+ (\n   \"c\"\n | \"d\" )\n  | . \"!\"\n");
    if (g) {
        CHECK(matches_z(g, "ababc"));
        CHECK(matches_z(g, "abd"));
        CHECK(matches_z(g, "\xe2\x82\xac!"));
        CHECK(!matches_z(g, "abab"));
        CHECK(!matches_z(g, "aba"));
    }
    llv_grammar_free(g);
    /* the JSON grammar of llama.cpp (grammars/json.gbnf) */
    static const char *json_gbnf =
        "root   ::= object\n"
        "value  ::= object | array | string | number | (\"true\" | \"false\" | \"null\") ws\n"
        "object ::=\n  \"{\" ws (\n            string \":\" ws value\n    (\",\" ws string \":\" ws value)*\n  )? \"}\" ws\n"
        "array  ::=\n  \"[\" ws (\n            value\n    (\",\" ws value)*\n  )? \"]\" ws\n"
        "string ::=\n  \"\\\"\" (\n    [^\"\\\\\\x7F\\x00-\\x1F] |\n    \"\\\\\" ([\"\\\\bfnrt] | \"u\" [0-9a-fA-F]{4})\n  )* \"\\\"\" ws\n"
        "number ::= (\"-\"? ([0-9] | [1-9] [0-9]{0,15})) (\".\" [0-9]+)? ([eE] [-+]? [0-9] [1-9]{0,15})? ws\n"
        "ws ::= | \" \" | \"\\n\" [ \\t]{0,20}\n";
    g = parse_ok(json_gbnf);
    if (g) {
        CHECK(matches_z(g, "{\"a\": [1, 2.5, -3e4, \"x\\u00e9\\n\", true, null, {}]}"));
        CHECK(matches_z(g, "{}"));
        CHECK(!matches_z(g, "{\"a\" 1}"));
        CHECK(!matches_z(g, "[1]"));
        CHECK(!matches_z(g, "{\"a\":01}"));
        /* byte by byte with a token boundary inside a code point */
        llv_grammar_state *st = llv_grammar_state_new(g);
        CHECK(llv_grammar_accept_bytes(st, "{\"k\":\"\xe2", 7));
        CHECK(!llv_grammar_can_end(st));
        CHECK(llv_grammar_accept_bytes(st, "\x82", 1));
        CHECK(!llv_grammar_accept_bytes(st, "\x41", 1)); /* not a continuation byte: rejected */
        CHECK(llv_grammar_accept_bytes(st, "\xac\"}", 3));
        CHECK(llv_grammar_can_end(st));
        CHECK(!llv_grammar_accept_bytes(st, "x", 1));
        CHECK(llv_grammar_can_end(st)); /* unchanged by the rejected byte */
        llv_grammar_state *cl = llv_grammar_state_clone(st);
        CHECK(cl && llv_grammar_can_end(cl));
        llv_grammar_state_reset(st);
        CHECK(!llv_grammar_can_end(st));
        CHECK(llv_grammar_accept_bytes(st, "{}", 2) && llv_grammar_can_end(st));
        /* a control character inside a string, invalid UTF-8, a lone surrogate */
        llv_grammar_state_reset(st);
        CHECK(llv_grammar_accept_bytes(st, "{\"", 2));
        CHECK(!llv_grammar_accept_bytes(st, "\x01", 1));
        CHECK(!llv_grammar_accept_bytes(st, "\xc0", 1));
        CHECK(!llv_grammar_accept_bytes(st, "\xed\xa0", 2));
        CHECK(!llv_grammar_accept_bytes(st, "\xff", 1));
        CHECK(llv_grammar_accept_bytes(st, "\xed\x9f", 2));
        llv_grammar_state_free(cl);
        llv_grammar_state_free(st);
    }
    llv_grammar_free(g);
}

/* ---- errors and hostile input ------------------------------------------- */

static void expect_error(const char *text, size_t n, const char *needle) {
    llv_grammar *g = NULL;
    llv_error err;
    double t0 = llv_time_s();
    llv_status st = llv_grammar_parse(text, n, &g, &err);
    double dt = llv_time_s() - t0;
    CHECK_MSG(st == LLV_ERR_INVALID_ARGUMENT && g == NULL, "error expected (%s) for %.60s", llv_status_name(st), text);
    if (st != LLV_OK)
        CHECK_MSG(strstr(err.message, needle) != NULL, "message '%s' contains '%s'", err.message, needle);
    CHECK_MSG(dt < 2.0, "rejected quickly (%.2f s)", dt);
    llv_grammar_free(g);
}
#define EXPECT_ERROR(text, needle) expect_error(text, strlen(text), needle)

static void test_hostile(void) {
    if (!llv_test_case("hostile")) return;
    EXPECT_ERROR("root ::= a\na ::= a \"x\" | \"y\"\n", "left recursion: a -> a");
    EXPECT_ERROR("root ::= a\na ::= b \"x\"\nb ::= c? a | \"y\"\nc ::= \"c\"\n", "left recursion");
    EXPECT_ERROR("root ::= (\"a\"?)*\n", "left recursion");
    EXPECT_ERROR("root ::= x\n", "1:10: undefined rule 'x'");
    EXPECT_ERROR("a ::= \"x\"\n", "no 'root' rule");
    EXPECT_ERROR("root ::= \"x\"\nroot ::= \"y\"\n", "2:1: rule 'root' defined twice");
    EXPECT_ERROR("root ::= \"abc\n", "unterminated string");
    EXPECT_ERROR("root ::= [abc\n", "unterminated character class");
    EXPECT_ERROR("root ::= (\"a\"\n", "unclosed '('");
    EXPECT_ERROR("root ::= \"a\" )\n", "unmatched ')'");
    EXPECT_ERROR("root ::= *\n", "without a symbol");
    EXPECT_ERROR("root ::= \"\\q\"\n", "unknown escape");
    EXPECT_ERROR("root ::= \"\\xZZ\"\n", "hex digits");
    EXPECT_ERROR("root ::= \"\\uD800\"\n", "not a Unicode scalar value");
    EXPECT_ERROR("root ::= [z-a]\n", "before its start");
    EXPECT_ERROR("root ::= \"a\"{3,2}\n", "max below min");
    EXPECT_ERROR("root ::= \"a\"{99999}\n", "repetition count over");
    EXPECT_ERROR("root ::= \"x\" root\n", "can never match a finite string");
    EXPECT_ERROR("root ::= [^\\x00-\\U0010FFFF]\n", "can never match");
    EXPECT_ERROR("root \"x\"\n", "expected '::='");
    EXPECT_ERROR("root ::= \"a\" b ::= \"c\"\n", "inside a rule");
    EXPECT_ERROR("root ::= \"\xff\"\n", "invalid UTF-8");
    EXPECT_ERROR("", "no 'root' rule");
    /* 100k-deep nesting */
    size_t depth = 100000;
    char *deep = malloc(2 * depth + 32);
    size_t k = (size_t)sprintf(deep, "root ::= ");
    for (size_t i = 0; i < depth; i++) deep[k++] = '(';
    deep[k++] = '"';
    deep[k++] = 'a';
    deep[k++] = '"';
    for (size_t i = 0; i < depth; i++) deep[k++] = ')';
    deep[k++] = '\n';
    expect_error(deep, k, "nested deeper than");
    free(deep);
    /* too big */
    size_t big = LLV_GRAMMAR_MAX_BYTES + 10;
    char *huge = malloc(big);
    memset(huge, ' ', big);
    expect_error(huge, big, "more than the limit");
    free(huge);
    /* many expanding repetitions: symbol limit */
    sbuf b = {0};
    sb_puts(&b, "root ::=");
    for (int i = 0; i < 300; i++) sb_puts(&b, " [a]{10000}");
    sb_puts(&b, "\n");
    expect_error(b.p, b.n, "symbols after expanding");
    b.n = 0;
    sb_puts(&b, "root ::=");
    for (int i = 0; i < 7; i++) sb_puts(&b, " [a]{0,10000}");
    sb_puts(&b, "\n");
    expect_error(b.p, b.n, "more than 65536 rules");
    free(b.p);
    /* an ambiguous grammar: accepted, but matching stays bounded */
    b = (sbuf){0};
    sb_puts(&b, "root ::= (a | b | c | d)*\na ::= \"x\" | \"x\" \"x\"\nb ::= \"x\"+\nc ::= \"x\"* \"y\"\nd ::= [x-y]+\n");
    llv_grammar *g = parse_ok(b.p);
    if (g) {
        llv_grammar_state *st = llv_grammar_state_new(g);
        double t0 = llv_time_s();
        bool all = true;
        for (int i = 0; i < 2000; i++) all = llv_grammar_accept_bytes(st, "x", 1) && all;
        CHECK(llv_time_s() - t0 < 5.0);
        CHECK(all && llv_grammar_can_end(st)); /* every x* is a sentence: no limit was hit */
        llv_grammar_state_free(st);
    }
    llv_grammar_free(g);
    free(b.p);
    /* deep output nesting: bounded by the stack depth limit, then rejected */
    g = parse_ok("root ::= \"[\" root? \"]\"\n");
    if (g) {
        llv_grammar_state *st = llv_grammar_state_new(g);
        int accepted = 0;
        for (int i = 0; i < 3 * LLV_GRAMMAR_MAX_STACK_DEPTH; i++) accepted += llv_grammar_accept_bytes(st, "[", 1);
        CHECK(accepted < 3 * LLV_GRAMMAR_MAX_STACK_DEPTH && accepted > 100);
        llv_grammar_state_free(st);
    }
    llv_grammar_free(g);
}

/* ---- (c) tokens: mask == per-token acceptance --------------------------- */

typedef struct tvocab {
    char  **tok;
    size_t *len;
    int32_t n;
} tvocab;

static void tvocab_free(tvocab *v) {
    for (int32_t i = 0; i < v->n; i++) free(v->tok[i]);
    free(v->tok);
    free(v->len);
}

/* All 256 single bytes, then n random strings shaped like BPE tokens: words
 * with an optional leading space, punctuation and digit runs, JSON pieces,
 * UTF-8 text (some cut inside a code point), raw bytes; a few NULL (special). */
static tvocab make_vocab(uint64_t seed, int32_t n_random) {
    static const char *pieces[] = {"\"", "{", "}", "[", "]", ",", ":", "\":", "\",", "{\"", "\"}", " \"", "\\n",
                                   "\\", "\\u", "true", "false", "null", "0", "1", "-", ".", "e", "E", "+",
                                   "12", "00", "\n", " ", "  ", "\xc3", "\xa9", "\xe2\x82", "\xac", "\xf0\x9f"};
    uint64_t rng = seed;
    tvocab v = {0};
    v.n = 256 + n_random;
    v.tok = calloc((size_t)v.n, sizeof *v.tok);
    v.len = calloc((size_t)v.n, sizeof *v.len);
    for (int i = 0; i < 256; i++) {
        v.tok[i] = malloc(1);
        v.tok[i][0] = (char)i;
        v.len[i] = 1;
    }
    char buf[64];
    for (int32_t i = 256; i < v.n; i++) {
        size_t n = 0;
        uint32_t kind = rnd(&rng, 20);
        if (kind == 0 && i % 7 == 0) continue; /* special: NULL */
        if (kind < 10) {
            if (rnd(&rng, 2)) buf[n++] = ' ';
            uint32_t L = 1 + rnd(&rng, 9);
            for (uint32_t j = 0; j < L; j++) buf[n++] = (char)(rnd(&rng, 4) ? 'a' + rnd(&rng, 26) : 'A' + rnd(&rng, 26));
        } else if (kind < 14) {
            uint32_t L = 1 + rnd(&rng, 4);
            for (uint32_t j = 0; j < L; j++) {
                const char *p = pieces[rnd(&rng, sizeof pieces / sizeof pieces[0])];
                size_t l = strlen(p);
                if (n + l < sizeof buf) memcpy(buf + n, p, l), n += l;
            }
        } else if (kind < 16) {
            uint32_t L = 1 + rnd(&rng, 6);
            for (uint32_t j = 0; j < L; j++) buf[n++] = (char)('0' + rnd(&rng, 10));
        } else if (kind < 19) {
            uint32_t L = 1 + rnd(&rng, 4);
            for (uint32_t j = 0; j < L; j++) {
                uint32_t cp = rnd(&rng, 3) == 0 ? 0x80 + rnd(&rng, 0x780) : rnd(&rng, 2) ? 0x800 + rnd(&rng, 0xD000) : 0x10000 + rnd(&rng, 0xFFFF);
                if (cp >= 0xD800 && cp <= 0xDFFF) cp = 0xE000;
                if (cp < 0x800) buf[n++] = (char)(0xC0 | (cp >> 6)), buf[n++] = (char)(0x80 | (cp & 0x3F));
                else if (cp < 0x10000)
                    buf[n++] = (char)(0xE0 | (cp >> 12)), buf[n++] = (char)(0x80 | ((cp >> 6) & 0x3F)),
                    buf[n++] = (char)(0x80 | (cp & 0x3F));
                else
                    buf[n++] = (char)(0xF0 | (cp >> 18)), buf[n++] = (char)(0x80 | ((cp >> 12) & 0x3F)),
                    buf[n++] = (char)(0x80 | ((cp >> 6) & 0x3F)), buf[n++] = (char)(0x80 | (cp & 0x3F));
            }
            if (rnd(&rng, 3) == 0 && n > 1) n -= 1 + rnd(&rng, (uint32_t)(n > 2 ? 2 : 1)); /* cut inside */
        } else {
            uint32_t L = 1 + rnd(&rng, 5);
            for (uint32_t j = 0; j < L; j++) buf[n++] = (char)rnd(&rng, 256);
        }
        v.tok[i] = malloc(n ? n : 1);
        memcpy(v.tok[i], buf, n);
        v.len[i] = n;
    }
    return v;
}

static llv_grammar_vocab *build_vocab(const tvocab *tv, const int32_t *eog, size_t n_eog) {
    llv_grammar_vocab *v = NULL;
    llv_error err;
    CHECK_OK(llv_grammar_vocab_new((const char *const *)tv->tok, tv->len, tv->n, eog, n_eog, &v, &err), &err);
    return v;
}

/* For states along random walks: mask bit i == accept_bytes(token i). */
static void check_mask_consistency(const llv_grammar *g, const tvocab *tv, const llv_grammar_vocab *v,
                                   int32_t eog, uint64_t seed, int n_states) {
    uint64_t rng = seed;
    size_t words = ((size_t)tv->n + 63) / 64;
    uint64_t *bits = malloc(words * sizeof *bits);
    float *logits = malloc((size_t)tv->n * sizeof *logits);
    llv_grammar_state *st = llv_grammar_state_new(g);
    int bad = 0, checked = 0;
    for (int s = 0; s < n_states; s++) {
        int32_t count = llv_grammar_mask_bits(st, v, bits);
        int32_t recount = 0;
        for (int32_t i = 0; i < tv->n; i++) {
            bool bit = (bits[i >> 6] >> (i & 63)) & 1;
            recount += bit;
            bool want;
            if (i == eog) want = llv_grammar_can_end(st);
            else if (!tv->tok[i] || tv->len[i] == 0) want = false;
            else {
                llv_grammar_state *cl = llv_grammar_state_clone(st);
                want = llv_grammar_accept_bytes(cl, tv->tok[i], tv->len[i]);
                llv_grammar_state_free(cl);
            }
            checked++;
            if (bit != want && bad++ < 5) CHECK_MSG(false, "state %d token %d: mask %d, accept %d", s, i, bit, want);
        }
        CHECK_EQ_I(count, recount);
        /* the float mask agrees with the bits, and a second call is cached */
        for (int32_t i = 0; i < tv->n; i++) logits[i] = 1.0f;
        CHECK_EQ_I(llv_grammar_mask(st, v, logits, tv->n), count);
        int32_t fb = 0;
        for (int32_t i = 0; i < tv->n; i++) fb += logits[i] == 1.0f && ((bits[i >> 6] >> (i & 63)) & 1);
        CHECK_EQ_I(fb, count);
        if (count == 0) break;
        /* advance by a random allowed token (not eog) */
        int32_t pick = -1;
        for (int tries = 0; tries < 1000 && pick < 0; tries++) {
            int32_t i = (int32_t)rnd(&rng, (uint32_t)tv->n);
            if (i != eog && ((bits[i >> 6] >> (i & 63)) & 1)) pick = i;
        }
        if (pick < 0) {
            if (llv_grammar_can_end(st)) llv_grammar_state_reset(st);
            continue;
        }
        CHECK(llv_grammar_accept_token(st, v, pick));
        if (llv_grammar_can_end(st) && rnd(&rng, 4) == 0) {
            CHECK(llv_grammar_accept_token(st, v, eog));
            llv_grammar_state_reset(st);
        }
    }
    CHECK_EQ_I(bad, 0);
    printf("tokens: %d (state, token) pairs checked\n", checked);
    llv_grammar_state_free(st);
    free(bits);
    free(logits);
}

static const char *JSON_GBNF =
    "root   ::= object\n"
    "value  ::= object | array | string | number | (\"true\" | \"false\" | \"null\") ws\n"
    "object ::= \"{\" ws ( string \":\" ws value (\",\" ws string \":\" ws value)* )? \"}\" ws\n"
    "array  ::= \"[\" ws ( value (\",\" ws value)* )? \"]\" ws\n"
    "string ::= \"\\\"\" ( [^\"\\\\\\x7F\\x00-\\x1F] | \"\\\\\" ([\"\\\\bfnrt] | \"u\" [0-9a-fA-F]{4}) )* \"\\\"\" ws\n"
    "number ::= (\"-\"? ([0-9] | [1-9] [0-9]{0,15})) (\".\" [0-9]+)? ([eE] [-+]? [0-9] [1-9]{0,15})? ws\n"
    "ws ::= | \" \" | \"\\n\" [ \\t]{0,20}\n";

static void test_tokens(void) {
    if (!llv_test_case("tokens")) return;
    tvocab tv = make_vocab(7, 3000);
    int32_t eog = 300; /* a random string token doubles as eog: it must follow can_end only */
    llv_grammar_vocab *v = build_vocab(&tv, &eog, 1);
    static const char *grammars[] = {
        NULL, /* JSON */
        "root ::= [\\u00e0-\\u00ff\\u20ac]+ \"!\" | \"\\U0001F600\"{2,3}\n",
        "root ::= (\"ab\" | \"a\" [^b] | [0-9]{1,3} \",\")* \"end\"\n",
        "root ::= \"{\" ws \"\\\"k\\\"\" ws \":\" ws [1-9] [0-9]* ws \"}\"\nws ::= [ \\n]{0,3}\n",
    };
    for (size_t i = 0; i < sizeof grammars / sizeof grammars[0] && v; i++) {
        llv_grammar *g = parse_ok(grammars[i] ? grammars[i] : JSON_GBNF);
        if (g) check_mask_consistency(g, &tv, v, eog, 100 + i, 40);
        llv_grammar_free(g);
    }
    /* partial UTF-8: a token ending inside a code point, the next completing it */
    llv_grammar *g = parse_ok("root ::= \"\\u20AC\" \"x\"\n");
    if (g && v) {
        llv_grammar_state *st = llv_grammar_state_new(g);
        /* find tokens "\xe2\x82" and "\xac" of the pieces */
        int32_t t1 = -1, t2 = -1;
        for (int32_t i = 0; i < tv.n; i++) {
            if (tv.tok[i] && tv.len[i] == 2 && memcmp(tv.tok[i], "\xe2\x82", 2) == 0) t1 = i;
            if (tv.tok[i] && tv.len[i] == 1 && (unsigned char)tv.tok[i][0] == 0xAC) t2 = i;
        }
        CHECK(t1 >= 0 && t2 >= 0);
        size_t words = ((size_t)tv.n + 63) / 64;
        uint64_t *bits = calloc(words, sizeof *bits);
        llv_grammar_mask_bits(st, v, bits);
        CHECK(t1 >= 0 && ((bits[t1 >> 6] >> (t1 & 63)) & 1));
        CHECK(((bits[0xE2 >> 6] >> (0xE2 & 63)) & 1));  /* the lead byte alone */
        CHECK(!((bits[0xE3 >> 6] >> (0xE3 & 63)) & 1)); /* a lead byte no allowed code point has */
        CHECK(!((bits[eog >> 6] >> (eog & 63)) & 1));
        CHECK(llv_grammar_accept_token(st, v, t1));
        CHECK(!llv_grammar_can_end(st));
        llv_grammar_mask_bits(st, v, bits);
        CHECK((bits[t2 >> 6] >> (t2 & 63)) & 1);
        CHECK(!((bits['x' >> 6] >> ('x' & 63)) & 1));
        CHECK(llv_grammar_accept_token(st, v, t2));
        CHECK(llv_grammar_accept_token(st, v, 'x'));
        llv_grammar_mask_bits(st, v, bits);
        CHECK((bits[eog >> 6] >> (eog & 63)) & 1);
        CHECK(llv_grammar_accept_token(st, v, eog));
        free(bits);
        llv_grammar_state_free(st);
    }
    llv_grammar_free(g);
    /* bad vocab arguments */
    llv_grammar_vocab *bad = NULL;
    llv_error err;
    int32_t far = 1 << 20;
    CHECK_STATUS(llv_grammar_vocab_new((const char *const *)tv.tok, tv.len, tv.n, &far, 1, &bad, &err),
                 LLV_ERR_INVALID_ARGUMENT, &err);
    CHECK_STATUS(llv_grammar_vocab_new((const char *const *)tv.tok, tv.len, 0, NULL, 0, &bad, &err),
                 LLV_ERR_INVALID_ARGUMENT, &err);
    CHECK(bad == NULL);
    llv_grammar_vocab_free(v);
    tvocab_free(&tv);
}

/* The mask over a 128k synthetic vocabulary (reported, not asserted). */
static void test_mask_time(void) {
    if (!llv_test_case("masktime")) return;
    tvocab tv = make_vocab(99, 128256 - 256);
    int32_t eog = 128001;
    double t0 = llv_time_s();
    llv_grammar_vocab *v = build_vocab(&tv, &eog, 1);
    double t_vocab = llv_time_s() - t0;
    llv_grammar *g = parse_ok(JSON_GBNF);
    if (!g || !v) goto out;
    float *logits = malloc((size_t)tv.n * sizeof *logits);
    static const char *prefixes[] = {"", "{", "{\"", "{\"name\": \"Al", "{\"n\": 12", "{\"a\": [", "{\"a\": [1, {\"b\": tr"};
    printf("mask over %d tokens (vocab trie built in %.1f ms):\n", tv.n, 1e3 * t_vocab);
    double worst_cold = 0, sum_cold = 0;
    for (size_t i = 0; i < sizeof prefixes / sizeof prefixes[0]; i++) {
        llv_grammar_state *st = llv_grammar_state_new(g);
        CHECK(llv_grammar_accept_bytes(st, prefixes[i], strlen(prefixes[i])));
        for (int32_t k = 0; k < tv.n; k++) logits[k] = 0;
        double a = llv_time_s();
        int32_t n1 = llv_grammar_mask(st, v, logits, tv.n);
        double cold = llv_time_s() - a;
        a = llv_time_s();
        int32_t n2 = llv_grammar_mask(st, v, logits, tv.n);
        double warm = llv_time_s() - a;
        /* another state whose configurations are already cached (transitions), mask not */
        llv_grammar_state_reset(st);
        CHECK(llv_grammar_accept_bytes(st, prefixes[i], strlen(prefixes[i])));
        CHECK_EQ_I(n1, n2);
        printf("  after %-26s %6d allowed  first %.2f ms, cached %.3f ms\n", prefixes[i], n1, 1e3 * cold, 1e3 * warm);
        if (cold > worst_cold) worst_cold = cold;
        sum_cold += cold;
        llv_grammar_state_free(st);
    }
    /* steady state: a generation walking through a JSON document byte-token by token */
    {
        llv_grammar_state *st = llv_grammar_state_new(g);
        const char *doc = "{\"name\": \"Alice Wonder\", \"age\": 31, \"tags\": [\"x\", \"y\"], \"ok\": true}";
        double a = llv_time_s();
        size_t nd = strlen(doc);
        for (size_t k = 0; k < nd; k++) {
            llv_grammar_mask(st, v, logits, tv.n);
            CHECK(llv_grammar_accept_bytes(st, doc + k, 1));
        }
        double per = (llv_time_s() - a) / (double)nd;
        printf("  generation of a %zu-byte document: %.3f ms per mask on average\n", nd, 1e3 * per);
        llv_grammar_state_free(st);
    }
    printf("  first-time mask: worst %.2f ms, mean %.2f ms\n", 1e3 * worst_cold,
           1e3 * sum_cold / (double)(sizeof prefixes / sizeof prefixes[0]));
    free(logits);
out:
    llv_grammar_free(g);
    llv_grammar_vocab_free(v);
    tvocab_free(&tv);
}

/* ---- (b) JSON schema -> grammar -> documents ----------------------------- */

static pcre2_code *re_compile(const char *pat) {
    int ec;
    PCRE2_SIZE eo;
    return pcre2_compile((PCRE2_SPTR)pat, PCRE2_ZERO_TERMINATED, PCRE2_UTF | PCRE2_ALT_BSUX, &ec, &eo, NULL);
}
static bool re_search(const char *pat, const char *s) {
    pcre2_code *code = re_compile(pat);
    if (!code) return false;
    pcre2_match_data *md = pcre2_match_data_create(4, NULL);
    int rc = pcre2_match(code, (PCRE2_SPTR)s, strlen(s), 0, 0, md, NULL);
    pcre2_match_data_free(md);
    pcre2_code_free(code);
    return rc >= 0;
}

static size_t utf8_len(const char *s) {
    size_t n = 0;
    for (; *s; s++) n += ((unsigned char)*s & 0xC0) != 0x80;
    return n;
}

static const cJSON *resolve_ref(const cJSON *root, const char *ref) {
    if (strcmp(ref, "#") == 0) return root;
    const char *pre[] = {"#/$defs/", "#/definitions/"};
    for (int i = 0; i < 2; i++)
        if (strncmp(ref, pre[i], strlen(pre[i])) == 0)
            return cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(root, i ? "definitions" : "$defs"),
                                                    ref + strlen(pre[i]));
    return NULL;
}

static bool has_type(const cJSON *v, const char *t) {
    if (strcmp(t, "string") == 0) return cJSON_IsString(v);
    if (strcmp(t, "number") == 0) return cJSON_IsNumber(v);
    if (strcmp(t, "integer") == 0) return cJSON_IsNumber(v) && v->valuedouble == floor(v->valuedouble);
    if (strcmp(t, "boolean") == 0) return cJSON_IsBool(v);
    if (strcmp(t, "null") == 0) return cJSON_IsNull(v);
    if (strcmp(t, "object") == 0) return cJSON_IsObject(v);
    if (strcmp(t, "array") == 0) return cJSON_IsArray(v);
    return false;
}

/* An independent validator for the subset the tests generate (JSON Schema
 * semantics: keywords of other types do not apply; pattern searches). */
static bool validate(const cJSON *v, const cJSON *s, const cJSON *root, int depth) {
    if (depth > 100) return false;
    if (cJSON_IsTrue(s)) return true;
    if (!cJSON_IsObject(s)) return false;
    const cJSON *k;
    if ((k = cJSON_GetObjectItemCaseSensitive(s, "$ref"))) {
        const cJSON *t = resolve_ref(root, k->valuestring);
        if (!t || !validate(v, t, root, depth + 1)) return false;
    }
    if ((k = cJSON_GetObjectItemCaseSensitive(s, "type"))) {
        bool ok = false;
        if (cJSON_IsString(k)) ok = has_type(v, k->valuestring);
        else
            for (const cJSON *t = k->child; t && !ok; t = t->next) ok = has_type(v, t->valuestring);
        if (!ok) return false;
    }
    if ((k = cJSON_GetObjectItemCaseSensitive(s, "enum"))) {
        bool ok = false;
        for (const cJSON *e = k->child; e && !ok; e = e->next) ok = cJSON_Compare(v, e, true);
        if (!ok) return false;
    }
    if ((k = cJSON_GetObjectItemCaseSensitive(s, "const")) && !cJSON_Compare(v, k, true)) return false;
    if ((k = cJSON_GetObjectItemCaseSensitive(s, "anyOf"))) {
        bool ok = false;
        for (const cJSON *e = k->child; e && !ok; e = e->next) ok = validate(v, e, root, depth + 1);
        if (!ok) return false;
    }
    if ((k = cJSON_GetObjectItemCaseSensitive(s, "oneOf"))) {
        int n = 0;
        for (const cJSON *e = k->child; e; e = e->next) n += validate(v, e, root, depth + 1);
        if (n != 1) return false;
    }
    if ((k = cJSON_GetObjectItemCaseSensitive(s, "allOf")))
        for (const cJSON *e = k->child; e; e = e->next)
            if (!validate(v, e, root, depth + 1)) return false;
    if (cJSON_IsNumber(v)) {
        double x = v->valuedouble;
        if ((k = cJSON_GetObjectItemCaseSensitive(s, "minimum")) && !(x >= k->valuedouble)) return false;
        if ((k = cJSON_GetObjectItemCaseSensitive(s, "maximum")) && !(x <= k->valuedouble)) return false;
        if ((k = cJSON_GetObjectItemCaseSensitive(s, "exclusiveMinimum")) && !(x > k->valuedouble)) return false;
        if ((k = cJSON_GetObjectItemCaseSensitive(s, "exclusiveMaximum")) && !(x < k->valuedouble)) return false;
    }
    if (cJSON_IsString(v)) {
        size_t L = utf8_len(v->valuestring);
        if ((k = cJSON_GetObjectItemCaseSensitive(s, "minLength")) && L < (size_t)k->valuedouble) return false;
        if ((k = cJSON_GetObjectItemCaseSensitive(s, "maxLength")) && L > (size_t)k->valuedouble) return false;
        if ((k = cJSON_GetObjectItemCaseSensitive(s, "pattern")) && !re_search(k->valuestring, v->valuestring))
            return false;
        if ((k = cJSON_GetObjectItemCaseSensitive(s, "format"))) {
            static const char *d = "[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])";
            static const char *t = "([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](\\.[0-9]+)?(Z|[+-]([01][0-9]|2[0-3]):[0-5][0-9])";
            char pat[512];
            const char *f = k->valuestring;
            if (strcmp(f, "date") == 0) snprintf(pat, sizeof pat, "^%s$", d);
            else if (strcmp(f, "time") == 0) snprintf(pat, sizeof pat, "^%s$", t);
            else if (strcmp(f, "date-time") == 0) snprintf(pat, sizeof pat, "^%sT%s$", d, t);
            else snprintf(pat, sizeof pat, "^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$");
            if (!re_search(pat, v->valuestring)) return false;
        }
    }
    if (cJSON_IsObject(v)) {
        const cJSON *props = cJSON_GetObjectItemCaseSensitive(s, "properties");
        const cJSON *addl = cJSON_GetObjectItemCaseSensitive(s, "additionalProperties");
        for (const cJSON *m = v->child; m; m = m->next) {
            const cJSON *ps = props ? cJSON_GetObjectItemCaseSensitive(props, m->string) : NULL;
            if (ps) {
                if (!validate(m, ps, root, depth + 1)) return false;
            } else if (addl) {
                if (!validate(m, addl, root, depth + 1)) return false;
            }
        }
        if ((k = cJSON_GetObjectItemCaseSensitive(s, "required")))
            for (const cJSON *r = k->child; r; r = r->next)
                if (!cJSON_GetObjectItemCaseSensitive(v, r->valuestring)) return false;
    }
    if (cJSON_IsArray(v)) {
        int n = cJSON_GetArraySize(v), np = 0;
        if ((k = cJSON_GetObjectItemCaseSensitive(s, "minItems")) && n < (int)k->valuedouble) return false;
        if ((k = cJSON_GetObjectItemCaseSensitive(s, "maxItems")) && n > (int)k->valuedouble) return false;
        const cJSON *pre = cJSON_GetObjectItemCaseSensitive(s, "prefixItems");
        const cJSON *items = cJSON_GetObjectItemCaseSensitive(s, "items");
        int i = 0;
        for (const cJSON *e = v->child; e; e = e->next, i++) {
            const cJSON *ps = pre ? cJSON_GetArrayItem(pre, i) : NULL;
            if (pre) np = cJSON_GetArraySize(pre);
            if (ps) {
                if (!validate(e, ps, root, depth + 1)) return false;
            } else if (items && i >= np && !validate(e, items, root, depth + 1)) {
                return false;
            }
        }
    }
    return true;
}

static const char *prop_names[] = {"name", "age", "id", "tags", "a\"b", "caf\xc3\xa9", "x-y", "value", "nested",
                                   "list", "k", "ok", "n", "when", "a\\b"};
static const char *patterns[] = {"^[a-z]{2,5}$", "^\\d{3}-\\d{4}$", "^(foo|bar)+$", "^[A-Z][a-z]*( [A-Z][a-z]*)?$",
                                 "^a.c$", "^[^\"\\\\]{1,3}$", "^x\\.y\\\\z$", "[0-9a-f]+", "^[\"\\\\a]{2}$",
                                 "^(ab|c)?d{0,2}\\w\\s?$", "^\\u00e9+\\.$"};
static const char *formats[] = {"date", "time", "date-time", "uuid"};

static cJSON *gen_value(uint64_t *rng, int depth) {
    switch (rnd(rng, depth > 1 ? 5 : 7)) {
    case 0: return cJSON_CreateNumber((double)((int)rnd(rng, 2001) - 1000));
    case 1: return cJSON_CreateNumber(((int)rnd(rng, 2001) - 1000) / 8.0);
    case 2: {
        static const char *ss[] = {"red", "green", "blue \"quoted\"", "tab\there", "\xe2\x82\xac", "", "back\\slash"};
        return cJSON_CreateString(ss[rnd(rng, 7)]);
    }
    case 3: return cJSON_CreateBool(rnd(rng, 2));
    case 4: return cJSON_CreateNull();
    case 5: {
        cJSON *a = cJSON_CreateArray();
        for (uint32_t i = rnd(rng, 3); i > 0; i--) cJSON_AddItemToArray(a, gen_value(rng, depth + 1));
        return a;
    }
    default: {
        cJSON *o = cJSON_CreateObject();
        for (uint32_t i = rnd(rng, 3); i > 0; i--) {
            const char *nm = prop_names[rnd(rng, 4)];
            if (!cJSON_GetObjectItemCaseSensitive(o, nm)) cJSON_AddItemToObject(o, nm, gen_value(rng, depth + 1));
        }
        return o;
    }
    }
}

static cJSON *gen_schema(uint64_t *rng, int depth, bool *uses_defs) {
    cJSON *s = cJSON_CreateObject();
    uint32_t k = rnd(rng, depth >= 3 ? 9 : 14);
    switch (k) {
    case 0: case 1: { /* string */
        cJSON_AddStringToObject(s, "type", "string");
        uint32_t f = rnd(rng, 6);
        if (f == 0) {
            uint32_t mn = rnd(rng, 4);
            cJSON_AddNumberToObject(s, "minLength", mn);
            if (rnd(rng, 2)) cJSON_AddNumberToObject(s, "maxLength", mn + rnd(rng, 5));
        } else if (f == 1) {
            cJSON_AddStringToObject(s, "pattern", patterns[rnd(rng, sizeof patterns / sizeof patterns[0])]);
        } else if (f == 2) {
            cJSON_AddStringToObject(s, "format", formats[rnd(rng, 4)]);
        } else if (f == 3) {
            cJSON *e = cJSON_AddArrayToObject(s, "enum");
            static const char *ss[] = {"alpha", "beta", "gamma \"g\"", "\xc3\xa9t\xc3\xa9", "a\\b", "new\nline"};
            for (uint32_t i = 1 + rnd(rng, 4); i > 0; i--) cJSON_AddItemToArray(e, cJSON_CreateString(ss[rnd(rng, 6)]));
        }
        break;
    }
    case 2: case 3: { /* integer */
        cJSON_AddStringToObject(s, "type", "integer");
        long long scale = rnd(rng, 4) == 0 ? 1000000000000LL : rnd(rng, 2) ? 1000 : 20;
        long long a = (long long)(rng_next(rng) % (uint64_t)(2 * scale + 1)) - scale;
        long long b = a + (long long)(rng_next(rng) % (uint64_t)(scale + 1));
        uint32_t m = rnd(rng, 16);
        if (m & 1) cJSON_AddNumberToObject(s, (m & 4) ? "exclusiveMinimum" : "minimum", (double)a);
        if (m & 2) cJSON_AddNumberToObject(s, (m & 8) ? "exclusiveMaximum" : "maximum", (double)(b + ((m & 12) == 12 ? 2 : 0)));
        break;
    }
    case 4: { /* number */
        cJSON_AddStringToObject(s, "type", "number");
        uint32_t m = rnd(rng, 8);
        long long a = (long long)rnd(rng, 41) - 20, b = a + 1 + (long long)rnd(rng, 20);
        if (m & 1) cJSON_AddNumberToObject(s, (m & 4) ? "exclusiveMinimum" : "minimum", (double)a);
        if (m & 2) cJSON_AddNumberToObject(s, (m & 4) ? "exclusiveMaximum" : "maximum", (double)b);
        break;
    }
    case 5: cJSON_AddStringToObject(s, "type", rnd(rng, 2) ? "boolean" : "null"); break;
    case 6: { /* enum / const of any values */
        if (rnd(rng, 3) == 0) {
            cJSON_AddItemToObject(s, "const", gen_value(rng, 0));
        } else {
            cJSON *e = cJSON_AddArrayToObject(s, "enum");
            for (uint32_t i = 1 + rnd(rng, 5); i > 0; i--) cJSON_AddItemToArray(e, gen_value(rng, 0));
        }
        break;
    }
    case 7: { /* nullable via a type array */
        cJSON *t = cJSON_AddArrayToObject(s, "type");
        cJSON_AddItemToArray(t, cJSON_CreateString(rnd(rng, 2) ? "string" : "integer"));
        cJSON_AddItemToArray(t, cJSON_CreateString("null"));
        if (rnd(rng, 2)) cJSON_AddNumberToObject(s, "maxLength", 4);
        if (rnd(rng, 2)) cJSON_AddNumberToObject(s, "minimum", 3);
        break;
    }
    case 8:
        if (rnd(rng, 3) == 0) {
            cJSON_Delete(s);
            return rnd(rng, 2) ? cJSON_CreateTrue() : cJSON_CreateObject(); /* any value */
        }
        cJSON_AddStringToObject(s, "type", "boolean");
        break;
    case 9: case 10: case 11: { /* object */
        cJSON_AddStringToObject(s, "type", "object");
        cJSON *props = cJSON_AddObjectToObject(s, "properties");
        cJSON *req = cJSON_CreateArray();
        uint32_t np = 1 + rnd(rng, 4);
        for (uint32_t i = 0; i < np; i++) {
            const char *nm = prop_names[rnd(rng, sizeof prop_names / sizeof prop_names[0])];
            if (cJSON_GetObjectItemCaseSensitive(props, nm)) continue;
            cJSON_AddItemToObject(props, nm, gen_schema(rng, depth + 1, uses_defs));
            if (rnd(rng, 3)) cJSON_AddItemToArray(req, cJSON_CreateString(nm));
        }
        cJSON_AddItemToObject(s, "required", req);
        uint32_t ap = rnd(rng, 5);
        if (ap == 0) cJSON_AddFalseToObject(s, "additionalProperties");
        else if (ap == 1) cJSON_AddTrueToObject(s, "additionalProperties");
        else if (ap == 2) cJSON_AddItemToObject(s, "additionalProperties", gen_schema(rng, depth + 2, uses_defs));
        break;
    }
    case 12: { /* array */
        cJSON_AddStringToObject(s, "type", "array");
        if (rnd(rng, 4) == 0) {
            cJSON *pre = cJSON_AddArrayToObject(s, "prefixItems");
            for (uint32_t i = 1 + rnd(rng, 2); i > 0; i--) cJSON_AddItemToArray(pre, gen_schema(rng, depth + 1, uses_defs));
        }
        if (rnd(rng, 4)) cJSON_AddItemToObject(s, "items", gen_schema(rng, depth + 1, uses_defs));
        uint32_t mn = rnd(rng, 3);
        if (rnd(rng, 2)) cJSON_AddNumberToObject(s, "minItems", mn);
        if (rnd(rng, 2)) cJSON_AddNumberToObject(s, "maxItems", mn + 2 + rnd(rng, 3));
        break;
    }
    default: { /* anyOf, or oneOf of disjoint types, or a $ref */
        uint32_t w = rnd(rng, 3);
        if (w == 2 && depth > 0) {
            cJSON_AddStringToObject(s, "$ref", "#/$defs/item");
            *uses_defs = true;
            break;
        }
        cJSON *l = cJSON_AddArrayToObject(s, w ? "oneOf" : "anyOf");
        if (w) {
            cJSON *a = cJSON_CreateObject(), *b = cJSON_CreateObject();
            cJSON_AddStringToObject(a, "type", "string");
            cJSON_AddNumberToObject(a, "maxLength", 3);
            cJSON_AddStringToObject(b, "type", "integer");
            cJSON_AddNumberToObject(b, "minimum", 0);
            cJSON_AddItemToArray(l, a);
            cJSON_AddItemToArray(l, b);
        } else {
            cJSON_AddItemToArray(l, gen_schema(rng, depth + 1, uses_defs));
            cJSON_AddItemToArray(l, gen_schema(rng, depth + 1, uses_defs));
        }
        break;
    }
    }
    if (rnd(rng, 6) == 0) cJSON_AddStringToObject(s, "description", "an annotation");
    return s;
}

static llv_grammar *schema_grammar(const char *schema, llv_status want, const char *needle) {
    char *gbnf = NULL;
    llv_error err;
    double t0 = llv_time_s();
    llv_status st = llv_json_schema_to_grammar(schema, strlen(schema), &gbnf, &err);
    CHECK_MSG(llv_time_s() - t0 < 2.0, "converted quickly: %.80s", schema);
    CHECK_MSG(st == want, "schema %.200s -> %s (%s), expected %s", schema, llv_status_name(st), llv_test_errmsg(&err),
              llv_status_name(want));
    if (st != LLV_OK) {
        if (needle) CHECK_MSG(strstr(err.message, needle) != NULL, "message '%s' names '%s'", err.message, needle);
        CHECK(gbnf == NULL);
        return NULL;
    }
    llv_grammar *g = NULL;
    CHECK_OK(llv_grammar_parse(gbnf, strlen(gbnf), &g, &err), &err);
    free(gbnf);
    return g;
}

/* doc accepted by the grammar <=> (for these cases) it validates */
static void expect_doc(const llv_grammar *g, const char *doc, bool want) {
    if (!g) return;
    CHECK_MSG(matches_z(g, doc) == want, "document %s: expected %s", doc, want ? "accepted" : "rejected");
}

static void test_schema_cases(void) {
    if (!llv_test_case("schema-cases")) return;
    llv_grammar *g = schema_grammar("{\"type\":\"integer\",\"minimum\":-15,\"exclusiveMaximum\":120}", LLV_OK, NULL);
    if (g) {
        for (int x = -300; x <= 300; x++) {
            char b[32];
            snprintf(b, sizeof b, "%d", x);
            bool want = x >= -15 && x < 120;
            if (matches_z(g, b) != want) CHECK_MSG(false, "integer %d: want %d", x, want);
        }
        expect_doc(g, "5.5", false);
        expect_doc(g, "-0", false);
        expect_doc(g, "007", false);
        expect_doc(g, " 5", false);
        expect_doc(g, "5 ", true);
    }
    llv_grammar_free(g);
    /* random integer ranges, exact */
    uint64_t rng = 77;
    for (int t = 0; t < 40; t++) {
        long long a = (long long)rnd(&rng, 20001) - 10000, b = a + (long long)rnd(&rng, 3000);
        char sc[160];
        snprintf(sc, sizeof sc, "{\"type\":\"integer\",\"minimum\":%lld,\"maximum\":%lld}", a, b);
        g = schema_grammar(sc, LLV_OK, NULL);
        int bad = 0;
        for (int i = 0; g && i < 400; i++) {
            long long x = i < 200 ? a - 100 + (long long)rnd(&rng, (uint32_t)(b - a + 201)) : (long long)rnd(&rng, 40001) - 20000;
            char d[32];
            snprintf(d, sizeof d, "%lld", x);
            bool want = x >= a && x <= b;
            if (matches_z(g, d) != want && bad++ < 3) CHECK_MSG(false, "%s: %lld want %d", sc, x, want);
        }
        llv_grammar_free(g);
    }
    /* numbers with whole bounds, exact on decimals */
    g = schema_grammar("{\"type\":\"number\",\"exclusiveMinimum\":-2,\"maximum\":3}", LLV_OK, NULL);
    if (g) {
        const char *yes[] = {"-1.999", "-1", "0", "0.5", "2.99", "3", "3.000", "-0.5", "1.25"};
        const char *no[] = {"-2", "-2.0", "-2.5", "3.01", "4", "1e2", "-3", "03"};
        for (size_t i = 0; i < sizeof yes / sizeof yes[0]; i++) expect_doc(g, yes[i], true);
        for (size_t i = 0; i < sizeof no / sizeof no[0]; i++) expect_doc(g, no[i], false);
    }
    llv_grammar_free(g);
    /* objects: order, required, optional, additionalProperties */
    g = schema_grammar("{\"type\":\"object\",\"properties\":{\"a\":{\"type\":\"integer\"},\"b\":{\"type\":\"string\"},"
                       "\"c\":{\"type\":\"boolean\"}},\"required\":[\"b\"],\"additionalProperties\":false}",
                       LLV_OK, NULL);
    expect_doc(g, "{\"b\":\"x\"}", true);
    expect_doc(g, "{\"a\":1,\"b\":\"x\",\"c\":true}", true);
    expect_doc(g, "{ \"a\": 1, \"b\": \"x\" }", true);
    expect_doc(g, "{\"a\":1}", false);
    expect_doc(g, "{\"b\":\"x\",\"d\":1}", false);
    expect_doc(g, "{\"b\":1}", false);
    expect_doc(g, "{\"b\":\"x\",}", false);
    expect_doc(g, "{,\"b\":\"x\"}", false);
    expect_doc(g, "{\"b\":\"x\"\n\n\n\n}", false); /* whitespace is bounded */
    llv_grammar_free(g);
    g = schema_grammar("{\"properties\":{\"a\":{\"type\":\"integer\"}},\"additionalProperties\":{\"type\":\"string\"}}",
                       LLV_OK, NULL);
    expect_doc(g, "{\"a\":1,\"ab\":\"x\",\"b\":\"y\"}", true);
    expect_doc(g, "{\"a\":\"x\"}", false); /* a is declared: an extra 'a' must not slip in */
    expect_doc(g, "{\"ab\":1}", false);
    expect_doc(g, "{}", true);
    llv_grammar_free(g);
    g = schema_grammar("{\"properties\":{\"caf\xc3\xa9\":{\"type\":\"integer\"},\"\xe2\x82\xac\":{\"type\":\"integer\"},"
                       "\"ab\":{\"type\":\"integer\"}},\"additionalProperties\":{\"type\":\"string\"}}", LLV_OK, NULL);
    expect_doc(g, "{\"caf\xc3\xa9\":1,\"\xe2\x82\xac\":2}", true);
    expect_doc(g, "{\"caf\xc3\xa9\":\"x\"}", false);
    expect_doc(g, "{\"\xe2\x82\xac\":\"x\"}", false);
    expect_doc(g, "{\"ab\":\"x\"}", false);
    expect_doc(g, "{\"caf\":\"x\",\"caf\xc3\xa9s\":\"y\",\"\xe2\x82\xac\xe2\x82\xac\":\"z\",\"a\":\"w\",\"\":\"v\"}", true);
    llv_grammar_free(g);
    /* arrays */
    g = schema_grammar("{\"type\":\"array\",\"items\":{\"enum\":[1,\"two\",null,[3],{\"four\":4}]},\"minItems\":2,\"maxItems\":3}",
                       LLV_OK, NULL);
    expect_doc(g, "[1,\"two\"]", true);
    expect_doc(g, "[null,[3],{\"four\":4}]", true);
    expect_doc(g, "[1]", false);
    expect_doc(g, "[1,1,1,1]", false);
    expect_doc(g, "[1,2]", false);
    llv_grammar_free(g);
    g = schema_grammar("{\"prefixItems\":[{\"type\":\"string\"},{\"type\":\"integer\"}],\"items\":{\"type\":\"boolean\"}}", LLV_OK, NULL);
    expect_doc(g, "[\"a\",1]", true);
    expect_doc(g, "[\"a\",1,true,false]", true);
    expect_doc(g, "[\"a\"]", false);
    expect_doc(g, "[1,\"a\"]", false);
    llv_grammar_free(g);
    /* strings */
    g = schema_grammar("{\"type\":\"string\",\"pattern\":\"^\\\\d{3}-[a-c]+(x|yz)?$\"}", LLV_OK, NULL);
    expect_doc(g, "\"123-abca\"", true);
    expect_doc(g, "\"123-ayz\"", true);
    expect_doc(g, "\"12-a\"", false);
    expect_doc(g, "\"123-\"", false);
    llv_grammar_free(g);
    g = schema_grammar("{\"type\":\"string\",\"minLength\":2,\"maxLength\":3}", LLV_OK, NULL);
    expect_doc(g, "\"ab\"", true);
    expect_doc(g, "\"\\u00e9\\\"x\"", true);
    expect_doc(g, "\"\\ud83d\\ude00x\"", true); /* a surrogate pair is one character */
    expect_doc(g, "\"a\"", false);
    expect_doc(g, "\"abcd\"", false);
    expect_doc(g, "\"a\\ud83d\"", false); /* a lone surrogate */
    expect_doc(g, "\"a\\u0000\"", false);
    llv_grammar_free(g);
    g = schema_grammar("{\"type\":\"string\",\"format\":\"date-time\"}", LLV_OK, NULL);
    expect_doc(g, "\"2024-02-29T13:45:00Z\"", true);
    expect_doc(g, "\"2024-02-29T13:45:00.123+02:00\"", true);
    expect_doc(g, "\"2024-13-29T13:45:00Z\"", false);
    llv_grammar_free(g);
    g = schema_grammar("{\"format\":\"uuid\"}", LLV_OK, NULL);
    expect_doc(g, "\"123e4567-e89b-12d3-a456-426614174000\"", true);
    expect_doc(g, "\"123e4567-e89b-12d3-a456-42661417400\"", false);
    llv_grammar_free(g);
    /* type arrays, anyOf, const, $ref recursion, allOf */
    g = schema_grammar("{\"type\":[\"string\",\"null\"],\"maxLength\":2}", LLV_OK, NULL);
    expect_doc(g, "null", true);
    expect_doc(g, "\"ab\"", true);
    expect_doc(g, "\"abc\"", false);
    expect_doc(g, "1", false);
    llv_grammar_free(g);
    g = schema_grammar("{\"$defs\":{\"node\":{\"type\":\"object\",\"properties\":{\"v\":{\"const\":1},\"kids\":{\"type\":\"array\","
                       "\"items\":{\"$ref\":\"#/$defs/node\"}}},\"required\":[\"v\"]}},\"$ref\":\"#/$defs/node\"}",
                       LLV_OK, NULL);
    expect_doc(g, "{\"v\":1,\"kids\":[{\"v\":1},{\"v\":1,\"kids\":[]}]}", true);
    expect_doc(g, "{\"v\":1,\"kids\":[{\"v\":2}]}", false);
    llv_grammar_free(g);
    g = schema_grammar("{\"allOf\":[{\"properties\":{\"a\":{\"type\":\"integer\"}},\"required\":[\"a\"]},"
                       "{\"properties\":{\"b\":{\"type\":\"integer\"}}}],\"type\":\"object\"}",
                       LLV_OK, NULL);
    expect_doc(g, "{\"a\":1,\"b\":2}", true);
    expect_doc(g, "{\"b\":2}", false);
    llv_grammar_free(g);
    /* any value; json_object mode */
    g = schema_grammar("{}", LLV_OK, NULL);
    expect_doc(g, "[1,{\"a\":null}]", true);
    llv_grammar_free(g);
    char *obj = NULL;
    llv_error err;
    CHECK_OK(llv_json_object_grammar(&obj, &err), &err);
    g = obj ? parse_ok(obj) : NULL;
    free(obj);
    expect_doc(g, "{\"a\":[1,2,{\"b\":\"c\"}]}", true);
    expect_doc(g, "{ }", true);
    expect_doc(g, "[1]", false);
    expect_doc(g, "\"x\"", false);
    llv_grammar_free(g);
    g = schema_grammar("{\"prefixItems\":[{\"type\":\"string\"}],\"minItems\":3}", LLV_OK, NULL);
    expect_doc(g, "[\"a\",1,null]", true);
    expect_doc(g, "[\"a\",1]", false);
    llv_grammar_free(g);
}

static void test_schema_errors(void) {
    if (!llv_test_case("schema-errors")) return;
    static const struct { const char *schema, *needle; } unsup[] = {
        {"{\"not\":{\"type\":\"string\"}}", "'not'"},
        {"{\"if\":{},\"then\":{}}", "'if'"},
        {"{\"type\":\"object\",\"patternProperties\":{\"^a\":{}}}", "patternProperties"},
        {"{\"type\":\"array\",\"uniqueItems\":true}", "uniqueItems"},
        {"{\"type\":\"object\",\"dependentRequired\":{}}", "dependentRequired"},
        {"{\"type\":\"object\",\"minProperties\":1}", "minProperties"},
        {"{\"type\":\"array\",\"contains\":{}}", "contains"},
        {"{\"type\":\"object\",\"properties\":{\"a\":{\"type\":\"string\",\"strict\":true}}}", "/properties/a/strict"},
        {"{\"type\":\"string\",\"format\":\"email\"}", "email"},
        {"{\"type\":\"string\",\"pattern\":\"^(?=a)b$\"}", "lookaround"},
        {"{\"type\":\"string\",\"pattern\":\"^a\\\\bc$\"}", "word boundary"},
        {"{\"type\":\"string\",\"pattern\":\"(a)\\\\1\"}", "escape"},
        {"{\"type\":\"number\",\"minimum\":0.5}", "whole-number"},
        {"{\"type\":\"integer\",\"maximum\":1e300}", "digits"},
        {"{\"anyOf\":[{\"type\":\"string\"}],\"type\":\"string\"}", "beside 'anyOf'"},
        {"{\"items\":{\"type\":\"string\",\"multipleOf\":2}}", "/items/multipleOf"},
    };
    for (size_t i = 0; i < sizeof unsup / sizeof unsup[0]; i++) schema_grammar(unsup[i].schema, LLV_ERR_UNSUPPORTED, unsup[i].needle);
    static const struct { const char *schema, *needle; llv_status st; } bad[] = {
        {"{\"type\":", "not valid JSON", LLV_ERR_FORMAT},
        {"{\"type\":\"string\"} x", "trailing", LLV_ERR_FORMAT},
        {"", "not valid JSON", LLV_ERR_FORMAT},
        {"{\"type\":\"strng\"}", "unknown type", LLV_ERR_INVALID_ARGUMENT},
        {"{\"$ref\":\"#/$defs/missing\"}", "does not resolve", LLV_ERR_INVALID_ARGUMENT},
        {"{\"$ref\":\"http://example.com/s.json\"}", "does not resolve", LLV_ERR_INVALID_ARGUMENT},
        {"{\"type\":\"integer\",\"minimum\":5,\"maximum\":4}", "empty", LLV_ERR_INVALID_ARGUMENT},
        {"{\"type\":\"array\",\"minItems\":3,\"maxItems\":2}", "below", LLV_ERR_INVALID_ARGUMENT},
        {"{\"type\":\"array\",\"maxItems\":100000}", "limit", LLV_ERR_INVALID_ARGUMENT},
        {"{\"enum\":[]}", "non-empty", LLV_ERR_INVALID_ARGUMENT},
        /* $ref cycles that make no progress */
        {"{\"$ref\":\"#/$defs/a\",\"$defs\":{\"a\":{\"$ref\":\"#/$defs/a\"}}}", "left recursion", LLV_ERR_INVALID_ARGUMENT},
        {"{\"$ref\":\"#/$defs/a\",\"$defs\":{\"a\":{\"anyOf\":[{\"$ref\":\"#/$defs/b\"},{\"type\":\"null\"}]},"
         "\"b\":{\"$ref\":\"#/$defs/a\"}}}", "left recursion", LLV_ERR_INVALID_ARGUMENT},
        {"{\"$ref\":\"#\"}", "left recursion", LLV_ERR_INVALID_ARGUMENT},
        /* recursion that can never end */
        {"{\"type\":\"object\",\"properties\":{\"a\":{\"$ref\":\"#\"}},\"required\":[\"a\"]}", "can never match",
         LLV_ERR_INVALID_ARGUMENT},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) schema_grammar(bad[i].schema, bad[i].st, bad[i].needle);
    /* hostile: 100k-deep nesting, moderately deep nesting, a huge enum, a huge schema */
    sbuf b = {0};
    for (int i = 0; i < 100000; i++) sb_puts(&b, "{\"items\":");
    sb_puts(&b, "{}");
    for (int i = 0; i < 100000; i++) sb_puts(&b, "}");
    if (b.n <= LLV_SCHEMA_MAX_BYTES) schema_grammar(b.p, LLV_ERR_FORMAT, NULL);
    else schema_grammar(b.p, LLV_ERR_INVALID_ARGUMENT, "limit");
    b.n = 0;
    for (int i = 0; i < 200; i++) sb_puts(&b, "{\"items\":");
    sb_puts(&b, "{}");
    for (int i = 0; i < 200; i++) sb_puts(&b, "}");
    schema_grammar(b.p, LLV_ERR_INVALID_ARGUMENT, "deeper than");
    b.n = 0;
    sb_puts(&b, "{\"enum\":[");
    for (int i = 0; i < 10000; i++) sb_printf(&b, "%s%d", i ? "," : "", i);
    sb_puts(&b, "]}");
    schema_grammar(b.p, LLV_ERR_INVALID_ARGUMENT, "more than");
    b.n = 0;
    sb_puts(&b, "{\"enum\":[");
    for (int i = 0; i < 4000; i++) sb_printf(&b, "%s\"%0300d\"", i ? "," : "", i);
    sb_puts(&b, "]}");
    schema_grammar(b.p, LLV_ERR_INVALID_ARGUMENT, "");
    /* wide: many $defs referencing each other in a chain, breadth of anyOf */
    b.n = 0;
    sb_puts(&b, "{\"$ref\":\"#/$defs/d0\",\"$defs\":{");
    for (int i = 0; i < 3000; i++)
        sb_printf(&b, "%s\"d%d\":{\"type\":\"array\",\"items\":{\"$ref\":\"#/$defs/d%d\"},\"maxItems\":1}", i ? "," : "", i,
                  (i + 1) % 3000);
    sb_puts(&b, "}}");
    schema_grammar(b.p, LLV_ERR_INVALID_ARGUMENT, "deeper than");
    free(b.p);
}

/* Mutations of a valid document: the grammar may accept one only if it validates. */
static void mutate(uint64_t *rng, const char *src, sbuf *out) {
    static const char ins[] = "\"{}[],:0123456789-.eE \\atrufnl";
    out->n = 0;
    sb_puts(out, src);
    size_t n = out->n;
    if (!n) return;
    size_t at = rnd(rng, (uint32_t)n);
    switch (rnd(rng, 3)) {
    case 0: memmove(out->p + at, out->p + at + 1, n - at), out->n--; break;
    case 1: out->p[at] = ins[rnd(rng, sizeof ins - 1)]; break;
    default: {
        char c = ins[rnd(rng, sizeof ins - 1)];
        sb_putn(out, "x", 1);
        memmove(out->p + at + 1, out->p + at, n - at);
        out->p[at] = c;
        break;
    }
    }
}

/* Generation as a sampler would do it: a random allowed token of the mask
 * each step (eog once allowed, more likely as the text grows) until eog.
 * Returns false when no eog came within max_tokens. */
static bool token_walk(const llv_grammar *g, const tvocab *tv, const llv_grammar_vocab *v, int32_t eog, uint64_t *rng,
                       int max_tokens, sbuf *out) {
    llv_grammar_state *st = llv_grammar_state_new(g);
    size_t words = ((size_t)tv->n + 63) / 64;
    uint64_t *bits = malloc(words * sizeof *bits);
    int32_t *allowed = malloc((size_t)tv->n * sizeof *allowed);
    out->n = 0;
    sb_putn(out, "", 0);
    bool done = false;
    for (int t = 0; t < max_tokens && !done; t++) {
        int32_t count = llv_grammar_mask_bits(st, v, bits), k = 0;
        CHECK(count > 0);
        if (count <= 0) break;
        for (int32_t i = 0; i < tv->n; i++)
            if ((bits[i >> 6] >> (i & 63)) & 1) allowed[k++] = i;
        CHECK_EQ_I(k, count);
        bool can_end = (bits[eog >> 6] >> (eog & 63)) & 1;
        CHECK(can_end == llv_grammar_can_end(st));
        int32_t pick = can_end && (out->n > 30 || rnd(rng, 4) == 0) ? eog : allowed[rnd(rng, (uint32_t)k)];
        if (out->n > 60) { /* prefer closing tokens: short ones with a quote or bracket */
            for (int tries = 0; tries < 64 && pick != eog; tries++) {
                int32_t c = allowed[rnd(rng, (uint32_t)k)];
                if (c != eog && tv->len[c] <= 2 && memchr(tv->tok[c], '"', tv->len[c])) pick = c;
                if (c != eog && tv->len[c] == 1 && (tv->tok[c][0] == ']' || tv->tok[c][0] == '}')) pick = c;
            }
        }
        CHECK(llv_grammar_accept_token(st, v, pick));
        if (pick == eog) done = true;
        else sb_putn(out, tv->tok[pick], tv->len[pick]);
    }
    free(bits);
    free(allowed);
    llv_grammar_state_free(st);
    return done;
}

static void test_schema_random(void) {
    if (!llv_test_case("schema-random")) return;
    uint64_t rng = 2024;
    tvocab tv = make_vocab(5, 4000);
    int32_t eog = 257;
    llv_grammar_vocab *voc = build_vocab(&tv, &eog, 1);
    int n_token_docs = 0, n_token_unfinished = 0;
    int n_schemas = 0, n_docs = 0, n_unfinished = 0, n_mut_accepted = 0, bad = 0;
    sbuf doc = {0}, mut = {0};
    for (int i = 0; i < 240; i++) {
        bool uses_defs = false;
        cJSON *s = gen_schema(&rng, 0, &uses_defs);
        if (uses_defs || rnd(&rng, 5) == 0) {
            cJSON *defs = cJSON_AddObjectToObject(s, "$defs");
            bool dummy = false;
            cJSON *item = gen_schema(&rng, 3, &dummy);
            if (cJSON_IsObject(item) && !cJSON_GetObjectItemCaseSensitive(item, "$ref")) cJSON_AddItemToObject(defs, "item", item);
            else cJSON_Delete(item), cJSON_AddItemToObject(defs, "item", cJSON_CreateObject());
        }
        if (!cJSON_IsObject(s)) { /* true: any value */
            cJSON_Delete(s);
            s = cJSON_CreateObject();
        }
        char *text = cJSON_PrintUnformatted(s);
        char *gbnf = NULL;
        llv_error err;
        llv_status st = llv_json_schema_to_grammar(text, strlen(text), &gbnf, &err);
        CHECK_MSG(st == LLV_OK, "schema %d %s: %s", i, text, llv_test_errmsg(&err));
        llv_grammar *g = NULL;
        if (st == LLV_OK) CHECK_OK(llv_grammar_parse(gbnf, strlen(gbnf), &g, &err), &err);
        if (g) n_schemas++;
        for (int w = 0; g && w < 6; w++) {
            long len = random_walk(g, &rng, 40 + 40 * (size_t)rnd(&rng, 4), 20000, &doc);
            if (len < 0) {
                n_unfinished++;
                continue;
            }
            n_docs++;
            if (getenv("LLV_TEST_SHOW") && w == 0) printf("%s\n  -> %s\n", text, doc.p);
            cJSON *v = cJSON_ParseWithOpts(doc.p, NULL, true);
            bool ok = v && validate(v, s, s, 0);
            if (!ok && bad++ < 8)
                CHECK_MSG(false, "schema %s\ndocument %s: %s\ngrammar:\n%s", text, doc.p, v ? "does not validate" : "does not parse",
                          gbnf);
            cJSON_Delete(v);
            for (int m = 0; m < 4 && ok; m++) {
                mutate(&rng, doc.p, &mut);
                if (!matches(g, mut.p, mut.n)) continue;
                n_mut_accepted++;
                cJSON *mv = cJSON_ParseWithOpts(mut.p, NULL, true);
                bool mok = mv && validate(mv, s, s, 0);
                if (!mok && bad++ < 8)
                    CHECK_MSG(false, "schema %s\nmutated document %s accepted but %s", text, mut.p,
                              mv ? "does not validate" : "does not parse");
                cJSON_Delete(mv);
            }
        }
        /* token-level generation through the mask */
        for (int w = 0; g && voc && w < 2; w++) {
            if (!token_walk(g, &tv, voc, eog, &rng, 400, &doc)) {
                n_token_unfinished++;
                continue;
            }
            n_token_docs++;
            cJSON *v = cJSON_ParseWithOpts(doc.p, NULL, true);
            bool ok = v && validate(v, s, s, 0);
            if (!ok && bad++ < 8)
                CHECK_MSG(false, "schema %s\ntoken-generated document %s: %s", text, doc.p,
                          v ? "does not validate" : "does not parse");
            cJSON_Delete(v);
        }
        if (g && voc && i % 40 == 0) check_mask_consistency(g, &tv, voc, eog, 300 + (uint64_t)i, 6);
        llv_grammar_free(g);
        free(gbnf);
        free(text);
        cJSON_Delete(s);
    }
    llv_grammar_vocab_free(voc);
    tvocab_free(&tv);
    printf("schema: %d token-level documents validated, %d unfinished\n", n_token_docs, n_token_unfinished);
    CHECK_MSG(n_token_unfinished * 20 <= n_token_docs, "token walks end (%d unfinished)", n_token_unfinished);
    CHECK_EQ_I(bad, 0);
    CHECK(n_schemas >= 200);
    CHECK_MSG(n_unfinished * 50 <= n_docs, "random walks end (%d unfinished of %d)", n_unfinished, n_docs + n_unfinished);
    printf("schema: %d schemas, %d documents validated, %d accepted mutations validated, %d walks unfinished\n", n_schemas,
           n_docs, n_mut_accepted, n_unfinished);
    free(doc.p);
    free(mut.p);
}

int main(int argc, char **argv) {
    llv_test_init(argc, argv);
    test_syntax();
    test_hostile();
    test_regex_reference();
    test_tokens();
    test_mask_time();
    test_schema_cases();
    test_schema_errors();
    test_schema_random();
    return llv_test_finish();
}
