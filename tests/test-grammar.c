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
        (void)all;
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

/* SCHEMA_TESTS */

int main(int argc, char **argv) {
    llv_test_init(argc, argv);
    test_syntax();
    test_hostile();
    test_regex_reference();
    test_tokens();
    test_mask_time();
    /* SCHEMA_MAIN */
    return llv_test_finish();
}
