/* test-tokenizer.c - Llama 3 tokenizer against the reference vectors in
 * ../shared/reference/tokenizer, through the real data path (tokenizer.json ->
 * llv_convert_tokenizer -> GGUF file -> llv_gguf_open -> llv_tokenizer_load),
 * plus the streaming detokenizer, bad input and the public API. */
#include "gguf.h"
#include "model.h"
#include "testing.h"
#include "tokenizer-convert.h"

#include <cjson/cJSON.h>
#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define SEP "\n__ggml_vocab_test__\n"

/* ---- helpers ---- */

static unsigned char *from_hex(const char *h, size_t *n) {
    size_t len = strlen(h) / 2;
    unsigned char *b = malloc(len + 1);
    for (size_t i = 0; i < len; i++) {
        unsigned v;
        sscanf(h + 2 * i, "%2x", &v);
        b[i] = (unsigned char)v;
    }
    *n = len;
    return b;
}

static int32_t *json_ids(const cJSON *a, size_t *n) {
    *n = (size_t)cJSON_GetArraySize(a);
    int32_t *v = malloc((*n + 1) * sizeof *v);
    size_t i = 0;
    const cJSON *e;
    cJSON_ArrayForEach(e, a) v[i++] = (int32_t)e->valueint;
    return v;
}

static bool ids_equal(const int32_t *a, size_t na, const int32_t *b, size_t nb, size_t *first_diff) {
    size_t i = 0;
    while (i < na && i < nb && a[i] == b[i]) i++;
    *first_diff = i;
    return na == nb && i == na;
}

/* Encodes and compares; prints the first difference on a mismatch. */
static bool encode_matches(const llv_tokenizer *t, const char *name, const unsigned char *text, size_t n,
                           uint32_t flags, const cJSON *expect, bool verbose) {
    int32_t *ids = NULL;
    size_t nid = 0, ne, d = 0;
    llv_error err = {0};
    llv_status st = llv_tokenizer_encode(t, (const char *)text, n, flags, &ids, &nid, &err);
    int32_t *exp = json_ids(expect, &ne);
    bool ok = st == LLV_OK && ids_equal(ids, nid, exp, ne, &d);
    if (!ok && verbose)
        printf("  MISMATCH %s flags=%u: %s; got %zu ids, expected %zu; first difference at %zu (got %d, expected %d)\n",
               name, (unsigned)flags, st == LLV_OK ? "ok" : err.message, nid, ne, d, d < nid ? ids[d] : -1,
               d < ne ? exp[d] : -1);
    free(ids);
    free(exp);
    return ok;
}

static cJSON **read_jsonl(const char *path, size_t *n) {
    size_t len;
    char *text = llv_test_read_file(path, &len);
    *n = 0;
    if (!text) return NULL;
    size_t cap = 64;
    cJSON **v = malloc(cap * sizeof *v);
    for (char *line = text; *line;) {
        char *nl = strchr(line, '\n');
        if (nl) *nl = 0;
        if (*line) {
            if (*n == cap) v = realloc(v, (cap *= 2) * sizeof *v);
            v[(*n)++] = cJSON_Parse(line);
        }
        if (!nl) break;
        line = nl + 1;
    }
    free(text);
    return v;
}

static void free_jsonl(cJSON **v, size_t n) {
    for (size_t i = 0; i < n; i++) cJSON_Delete(v[i]);
    free(v);
}

/* ---- streaming detokenizer (no data needed) ---- */

static size_t detok_all(const unsigned char *in, size_t n, size_t chunk, char *out) {
    llv_detok d = {0};
    size_t o = 0;
    for (size_t i = 0; i < n; i += chunk) {
        size_t m = LLV_MIN(chunk, n - i);
        o += llv_detok_push(&d, (const char *)in + i, m, out + o, LLV_DETOK_MAX_OUT(m));
    }
    o += llv_detok_flush(&d, out + o, 8);
    return o;
}

static void test_detok(void) {
    if (!llv_test_case("detok")) return;
    static const struct { const char *in, *out; } cases[] = {
        {"hello", "hello"},
        {"\xe2\x82\xac", "\xe2\x82\xac"},               /* euro */
        {"\xf0\x9f\xa6\x99", "\xf0\x9f\xa6\x99"},       /* llama emoji */
        {"\xf0\x9f", "\xef\xbf\xbd"},                   /* truncated: one U+FFFD */
        {"\xc0\xaf", "\xef\xbf\xbd\xef\xbf\xbd"},       /* never valid: two */
        {"\x80", "\xef\xbf\xbd"},
        {"a\xffz", "a\xef\xbf\xbdz"},
        {"\xe2\x82x", "\xef\xbf\xbdx"},                 /* broken then ASCII */
        {"\xed\xa0\x80", "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd"}, /* surrogate: 3 */
        {"\xf4\x90\x80\x80", "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd"},
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        size_t n = strlen(cases[c].in);
        for (size_t chunk = 1; chunk <= n; chunk++) {
            char out[64];
            size_t o = detok_all((const unsigned char *)cases[c].in, n, chunk, out);
            CHECK_MSG(o == strlen(cases[c].out) && memcmp(out, cases[c].out, o) == 0, "detok case %zu chunk %zu", c,
                      chunk);
        }
    }
    /* held back until complete: nothing is emitted for a partial character */
    llv_detok d = {0};
    char out[32];
    CHECK_EQ_I(llv_detok_push(&d, "\xf0\x9f", 2, out, sizeof out), 0);
    CHECK_EQ_I(llv_detok_push(&d, "\xa6", 1, out, sizeof out), 0);
    CHECK_EQ_I(llv_detok_push(&d, "\x99!", 2, out, sizeof out), 5);
    CHECK(memcmp(out, "\xf0\x9f\xa6\x99!", 5) == 0);
    CHECK_EQ_I(llv_detok_flush(&d, out, sizeof out), 0);
    /* a too-small cap truncates instead of overflowing */
    llv_detok d2 = {0};
    CHECK_EQ_I(llv_detok_push(&d2, "\xff\xff\xff", 3, out, 4), 4);
}

/* ---- the GGUF data path ---- */

/* Converts ref_dir with llv_convert_tokenizer into a vocab-only GGUF (as
 * llama.cpp's vocab files: general.architecture = "llama") and loads it back. */
static llv_tokenizer *load_via_gguf(const char *ref_dir, const char *path, llv_gguf **gout) {
    llv_error err = {0};
    llv_gguf_writer *w = NULL;
    *gout = NULL;
    llv_status st = llv_gguf_writer_create(&w, &err);
    CHECK_OK(st, &err);
    if (st != LLV_OK) return NULL;
    bool found = false;
    CHECK_OK(llv_gguf_set_str(w, "general.architecture", "llama", &err), &err);
    double t0 = llv_time_s();
    CHECK_OK(st = llv_convert_tokenizer(ref_dir, w, &found, &err), &err);
    CHECK(found);
    if (st == LLV_OK) CHECK_OK(st = llv_gguf_writer_begin(w, path, &err), &err);
    if (st == LLV_OK) CHECK_OK(st = llv_gguf_writer_finish(w, &err), &err);
    llv_gguf_writer_free(w);
    if (st != LLV_OK) return NULL;
    double t1 = llv_time_s();
    llv_gguf *g = NULL;
    llv_tokenizer *t = NULL;
    CHECK_OK(st = llv_gguf_open(path, &g, &err), &err);
    if (st == LLV_OK) CHECK_OK(st = llv_tokenizer_load(g, &t, &err), &err);
    printf("vocab-only GGUF: convert %.2f s, load %.2f s\n", t1 - t0, llv_time_s() - t1);
    CHECK(t != NULL);
    *gout = g;
    return t;
}

/* ---- vector files ---- */

static void check_encode_file(const llv_tokenizer *t, const char *dir, const char *file) {
    if (!llv_test_case(file)) return;
    char *path = llv_test_path(dir, file);
    size_t n;
    cJSON **v = read_jsonl(path, &n);
    CHECK_MSG(v && n > 0, "reading %s", path);
    int pass[3] = {0, 0, 0}, all = 0;
    for (size_t i = 0; v && i < n; i++) {
        const char *name = cJSON_GetObjectItem(v[i], "name")->valuestring;
        size_t len;
        unsigned char *text = from_hex(cJSON_GetObjectItem(v[i], "hex")->valuestring, &len);
        bool a = encode_matches(t, name, text, len, LLV_TOKENIZE_PARSE_SPECIAL, cJSON_GetObjectItem(v[i], "ids"), true);
        bool b = encode_matches(t, name, text, len, 0, cJSON_GetObjectItem(v[i], "ids_plain"), true);
        bool c = encode_matches(t, name, text, len, LLV_TOKENIZE_PARSE_SPECIAL | LLV_TOKENIZE_ADD_BOS,
                                cJSON_GetObjectItem(v[i], "ids_bos"), true);
        pass[0] += a;
        pass[1] += b;
        pass[2] += c;
        all += a && b && c;
        CHECK_MSG(a && b && c, "%s: case %s (ids %d, ids_plain %d, ids_bos %d)", file, name, a, b, c);
        free(text);
    }
    printf("%s: %d/%zu cases match in all modes (ids %d, ids_plain %d, ids_bos %d)\n", file, all, n, pass[0], pass[1],
           pass[2]);
    free_jsonl(v, n);
    free(path);
}

static void check_decode_file(const llv_tokenizer *t, const char *dir) {
    if (!llv_test_case("decode")) return;
    char *path = llv_test_path(dir, "decode_vectors.jsonl");
    size_t n;
    cJSON **v = read_jsonl(path, &n);
    CHECK_MSG(v && n > 0, "reading %s", path);
    int pass = 0, pass_text = 0;
    for (size_t i = 0; v && i < n; i++) {
        const char *name = cJSON_GetObjectItem(v[i], "name")->valuestring;
        size_t nid, nexp;
        int32_t *ids = json_ids(cJSON_GetObjectItem(v[i], "ids"), &nid);
        unsigned char *exp = from_hex(cJSON_GetObjectItem(v[i], "bytes_hex")->valuestring, &nexp);
        size_t cap = 16;
        for (size_t k = 0; k < nid; k++) cap += 256;
        char *raw = malloc(cap), *txt = malloc(3 * cap + 16), *skip = malloc(3 * cap + 16);
        size_t o = 0, ot = 0, os = 0;
        llv_detok d1 = {0}, d2 = {0};
        for (size_t k = 0; k < nid; k++) {
            size_t len;
            const char *p = llv_tokenizer_token_bytes(t, ids[k], &len);
            if (!p) break;
            memcpy(raw + o, p, len);
            o += len;
            ot += llv_detok_push(&d1, p, len, txt + ot, LLV_DETOK_MAX_OUT(len));
            if (!llv_tokenizer_is_special(t, ids[k]))
                os += llv_detok_push(&d2, p, len, skip + os, LLV_DETOK_MAX_OUT(len));
        }
        ot += llv_detok_flush(&d1, txt + ot, 8);
        os += llv_detok_flush(&d2, skip + os, 8);
        bool ok = o == nexp && memcmp(raw, exp, o) == 0;
        const char *ht = cJSON_GetObjectItem(v[i], "hf_text")->valuestring;
        const char *hs = cJSON_GetObjectItem(v[i], "hf_text_skip_special")->valuestring;
        size_t lt = strlen(ht), ls = strlen(hs);
        if (memchr(exp, 0, nexp)) { /* cJSON strings stop at U+0000: this case is ASCII, text == bytes */
            ht = hs = (const char *)exp;
            lt = ls = nexp;
        }
        bool okt = ot == lt && memcmp(txt, ht, ot) == 0 && os == ls && memcmp(skip, hs, os) == 0;
        pass += ok;
        pass_text += okt;
        CHECK_MSG(ok, "decode %s: bytes", name);
        CHECK_MSG(okt, "decode %s: streamed text vs HF decode (with and without specials)", name);
        free(ids);
        free(exp);
        free(raw);
        free(txt);
        free(skip);
    }
    printf("decode_vectors.jsonl: %d/%zu exact bytes, %d/%zu streamed text == HF decode\n", pass, n, pass_text, n);
    free_jsonl(v, n);
    free(path);
}

static void check_llamacpp_inp(const llv_tokenizer *t, const char *dir) {
    if (!llv_test_case("llamacpp")) return;
    char *pi = llv_test_path(dir, "ggml-vocab-llama-bpe.gguf.inp"), *po = llv_test_path(dir, "ggml-vocab-llama-bpe.gguf.out");
    size_t ni, no;
    char *inp = llv_test_read_file(pi, &ni), *out = llv_test_read_file(po, &no);
    CHECK(inp && out);
    int n = 0, pass = 0;
    char *s = inp, *line = out;
    while (inp && out && *s) {
        char *e = strstr(s, SEP);
        if (!e) break;
        char *nl = strchr(line, '\n');
        if (nl) *nl = 0;
        int32_t exp[4096];
        size_t ne = 0;
        for (char *p = line; *p && ne < 4096;) {
            char *q;
            long v = strtol(p, &q, 10);
            if (q == p) break;
            exp[ne++] = (int32_t)v;
            p = q;
        }
        int32_t *ids;
        size_t nid, d;
        llv_error err = {0};
        bool ok = llv_tokenizer_encode(t, s, (size_t)(e - s), LLV_TOKENIZE_PARSE_SPECIAL, &ids, &nid, &err) == LLV_OK &&
                  ids_equal(ids, nid, exp, ne, &d);
        CHECK_MSG(ok, "llama.cpp case %d", n);
        if (ok) free(ids);
        pass += ok;
        n++;
        s = e + strlen(SEP);
        line = nl ? nl + 1 : line + strlen(line);
    }
    printf("ggml-vocab-llama-bpe.gguf.inp/.out: %d/%d\n", pass, n);
    CHECK_EQ_I(n, 46);
    free(inp);
    free(out);
    free(pi);
    free(po);
}

static void check_upstream(const llv_tokenizer *t, const char *dir) {
    if (!llv_test_case("upstream")) return;
    char *path = llv_test_path(dir, "upstream_expected_ids.jsonl");
    size_t n;
    cJSON **v = read_jsonl(path, &n);
    CHECK(v && n > 0);
    int pass = 0;
    for (size_t i = 0; v && i < n; i++) {
        const char *how = cJSON_GetObjectItem(v[i], "how")->valuestring;
        size_t len;
        unsigned char *text = from_hex(cJSON_GetObjectItem(v[i], "hex")->valuestring, &len);
        size_t ne, nid = 0, d;
        int32_t *exp = json_ids(cJSON_GetObjectItem(v[i], "expected_ids"), &ne), *ids = NULL;
        llv_error err = {0};
        bool ok;
        if (strstr(how, "[128000] + encode(text) + [128001]")) { /* Meta: BOS + plain encode + EOS */
            ok = llv_tokenizer_encode(t, (char *)text, len, LLV_TOKENIZE_ADD_BOS, &ids, &nid, &err) == LLV_OK;
            ids = realloc(ids, (nid + 1) * sizeof *ids);
            ids[nid++] = 128001;
        } else {
            uint32_t fl = strstr(how, "NOT parsed") ? 0 : LLV_TOKENIZE_PARSE_SPECIAL;
            ok = llv_tokenizer_encode(t, (char *)text, len, fl, &ids, &nid, &err) == LLV_OK;
        }
        ok = ok && ids_equal(ids, nid, exp, ne, &d);
        CHECK_MSG(ok, "upstream case %zu (%s)", i, how);
        pass += ok;
        free(ids);
        free(exp);
        free(text);
    }
    printf("upstream_expected_ids.jsonl: %d/%zu\n", pass, n);
    free_jsonl(v, n);
    free(path);
}

/* Unicode-version-sensitive cases: reported, never failed. */
static void report_unicode_sensitive(const llv_tokenizer *t, const char *dir) {
    if (!llv_test_case("unicode")) return;
    char *path = llv_test_path(dir, "unicode_version_sensitive_fuzz.jsonl");
    size_t n;
    cJSON **v = read_jsonl(path, &n);
    int both = 0, ids_ok = 0, plain_ok = 0;
    for (size_t i = 0; v && i < n; i++) {
        size_t len;
        unsigned char *text = from_hex(cJSON_GetObjectItem(v[i], "hex")->valuestring, &len);
        bool a = encode_matches(t, "", text, len, LLV_TOKENIZE_PARSE_SPECIAL, cJSON_GetObjectItem(v[i], "ids"), false);
        bool b = encode_matches(t, "", text, len, 0, cJSON_GetObjectItem(v[i], "ids_plain"), false);
        ids_ok += a;
        plain_ok += b;
        both += a && b;
        free(text);
    }
    printf("unicode_version_sensitive_fuzz.jsonl (PCRE2 %d.%d, expected ~49/80): %d/%zu match in both modes "
           "(ids %d, ids_plain %d)\n", PCRE2_MAJOR, PCRE2_MINOR, both, n, ids_ok, plain_ok);
    free_jsonl(v, n);
    free(path);
    path = llv_test_path(dir, "unicode_version_sensitive.jsonl");
    v = read_jsonl(path, &n);
    static const char *const impls[] = {"tiktoken", "hf", "llamacpp", "py"};
    for (size_t i = 0; v && i < n; i++) {
        const char *name = cJSON_GetObjectItem(v[i], "name")->valuestring;
        size_t len;
        unsigned char *text = from_hex(cJSON_GetObjectItem(v[i], "hex")->valuestring, &len);
        const cJSON *by = cJSON_GetObjectItem(v[i], "by_impl");
        printf("  %-28s agrees with:", name);
        if (!by) { /* all implementations agreed */
            bool a = encode_matches(t, name, text, len, LLV_TOKENIZE_PARSE_SPECIAL, cJSON_GetObjectItem(v[i], "ids"), false);
            bool b = encode_matches(t, name, text, len, 0, cJSON_GetObjectItem(v[i], "ids_plain"), false);
            printf(" %s\n", a && b ? "all (tiktoken hf llamacpp py)" : "none (all four agree on other ids)");
            free(text);
            continue;
        }
        for (size_t k = 0; k < 4; k++) {
            const cJSON *im = cJSON_GetObjectItem(by, impls[k]);
            if (!im) continue;
            bool a = encode_matches(t, name, text, len, LLV_TOKENIZE_PARSE_SPECIAL, cJSON_GetObjectItem(im, "ids"), false);
            bool b = encode_matches(t, name, text, len, 0, cJSON_GetObjectItem(im, "ids_plain"), false);
            if (a && b) printf(" %s", impls[k]);
        }
        printf("\n");
        free(text);
    }
    free_jsonl(v, n);
    free(path);
}

/* ---- bad input, round trips, specials, size ---- */

static bool encode_ok(const llv_tokenizer *t, const void *s, size_t n, uint32_t fl, int32_t **ids, size_t *nid) {
    llv_error err = {0};
    llv_status st = llv_tokenizer_encode(t, s, n, fl, ids, nid, &err);
    if (st != LLV_OK) printf("  encode failed: %s\n", err.message);
    return st == LLV_OK;
}

/* decode(encode(x)) == x, byte for byte. */
static bool round_trips(const llv_tokenizer *t, const unsigned char *s, size_t n, uint32_t fl) {
    int32_t *ids;
    size_t nid;
    if (!encode_ok(t, s, n, fl, &ids, &nid)) return false;
    size_t o = 0;
    bool ok = true;
    for (size_t i = 0; i < nid && ok; i++) {
        size_t len;
        const char *p = llv_tokenizer_token_bytes(t, ids[i], &len);
        ok = p && o + len <= n && memcmp(s + o, p, len) == 0;
        o += len;
    }
    free(ids);
    return ok && o == n;
}

static uint64_t rng_next(uint64_t *s) {
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

static void test_bad_input(const llv_tokenizer *t) {
    if (!llv_test_case("bad_input")) return;
    int32_t *ids;
    size_t n;
    /* empty */
    CHECK(encode_ok(t, "", 0, LLV_TOKENIZE_PARSE_SPECIAL, &ids, &n) && n == 0);
    free(ids);
    CHECK(encode_ok(t, NULL, 0, 0, &ids, &n) && n == 0);
    free(ids);
    CHECK(encode_ok(t, "", 0, LLV_TOKENIZE_ADD_BOS, &ids, &n) && n == 1 && ids[0] == 128000);
    free(ids);
    llv_error err = {0};
    CHECK_STATUS(llv_tokenizer_encode(t, NULL, 5, 0, &ids, &n, &err), LLV_ERR_INVALID_ARGUMENT, &err);
    /* invalid UTF-8: every bad byte is its own byte token (ids from byte_to_id.json) */
    CHECK(encode_ok(t, "\xff", 1, 0, &ids, &n) && n == 1 && ids[0] == 187);
    free(ids);
    CHECK(encode_ok(t, "a\xc0\xafz", 4, 0, &ids, &n) && n == 4 && ids[0] == 64 && ids[1] == 124 && ids[2] == 107 &&
          ids[3] == 89);
    free(ids);
    /* a truncated character at the end, and a surrogate (invalid for PCRE2) */
    CHECK(round_trips(t, (const unsigned char *)"caf\xc3", 4, 0));
    CHECK(round_trips(t, (const unsigned char *)"x\xed\xa0\x80y  ", 7, LLV_TOKENIZE_PARSE_SPECIAL));
    /* random bytes (mostly invalid) and random mixes of specials, text and bad bytes: never fail, round-trip */
    static const char *const frags[] = {"<|eot_id|>", "<|image|>", " hello", "\xe2\x82", "\xac", "  \n", "'s", "\xff",
                                        "123456", "\xf0\x9f\xa6\x99", "<|", "|>", "\t", "\xc3\xa9", "DON'T", " "};
    uint64_t seed = 0x1234567;
    int bad = 0;
    unsigned char buf[512];
    for (int it = 0; it < 3000; it++) {
        size_t len = 0;
        if (it % 2) {
            len = rng_next(&seed) % sizeof buf;
            for (size_t i = 0; i < len; i++) buf[i] = (unsigned char)rng_next(&seed);
        } else {
            while (len < 400) {
                const char *f = frags[rng_next(&seed) % 16];
                memcpy(buf + len, f, strlen(f));
                len += strlen(f);
            }
        }
        bad += !round_trips(t, buf, len, 0) || !round_trips(t, buf, len, LLV_TOKENIZE_PARSE_SPECIAL);
    }
    CHECK_MSG(bad == 0, "%d of 3000 random inputs did not round-trip", bad);
    /* specials on and off */
    CHECK(encode_ok(t, "<|eot_id|>", 10, LLV_TOKENIZE_PARSE_SPECIAL, &ids, &n) && n == 1 && ids[0] == 128009);
    free(ids);
    CHECK(encode_ok(t, "<|image|>", 9, 0, &ids, &n) && n == 5 && ids[0] == 27 && ids[1] == 91 && ids[2] == 1843);
    free(ids);
    CHECK(encode_ok(t, " Test sentence   <|image|>", 26, LLV_TOKENIZE_PARSE_SPECIAL, &ids, &n) && n == 4 &&
          ids[2] == 262 && ids[3] == 128256);
    free(ids);
    /* special-token text cut in the middle by a bad byte stays text */
    CHECK(encode_ok(t, "<|eot\xff_id|>", 11, LLV_TOKENIZE_PARSE_SPECIAL, &ids, &n) && n > 1);
    free(ids);
    /* token ids, lookups */
    CHECK_EQ_I(llv_tokenizer_find(t, "<|image|>"), 128256);
    CHECK_EQ_I(llv_tokenizer_find(t, " hello"), 24748);
    CHECK(llv_tokenizer_is_special(t, 128009) && !llv_tokenizer_is_special(t, 220));
    CHECK(llv_tokenizer_token_bytes(t, -1, &n) == NULL && llv_tokenizer_token_bytes(t, 128257, &n) == NULL);
    CHECK_EQ_I(llv_tokenizer_n_tokens(t), 128257);
    CHECK_EQ_I(llv_tokenizer_bos(t), 128000);
    CHECK(llv_tokenizer_add_bos(t));
    const int32_t *eog;
    int32_t ne = llv_tokenizer_eog(t, &eog);
    bool e1 = false, e8 = false, e9 = false;
    for (int32_t i = 0; i < ne; i++) {
        e1 |= eog[i] == 128001;
        e8 |= eog[i] == 128008;
        e9 |= eog[i] == 128009;
    }
    CHECK_MSG(e1 && e8 && e9 && ne == 3, "end-of-generation set is {128001, 128008, 128009} (n = %d)", ne);
}

/* A 10 MB prompt: works, round-trips, and gives the speed (reported only). */
static void test_big(const llv_tokenizer *t, const char *dir) {
    if (!llv_test_case("big")) return;
    char *path = llv_test_path(dir, "encode_vectors_fuzz.jsonl");
    size_t n;
    cJSON **v = read_jsonl(path, &n);
    char *path2 = llv_test_path(dir, "encode_vectors.jsonl");
    size_t n2;
    cJSON **v2 = read_jsonl(path2, &n2);
    size_t target = 10u << 20, len = 0, elen = 0;
    unsigned char *big = malloc(target + 65536), *eng = malloc(target + 65536);
    /* English-like text from the hand-made cases (prose/code), and the multilingual fuzz strings */
    for (size_t k = 0; v2 && elen < target; k++) {
        const char *name = cJSON_GetObjectItem(v2[k % n2], "name")->valuestring;
        if (strncmp(name, "prose", 5) && strncmp(name, "code", 4) && strncmp(name, "markdown", 8)) continue;
        size_t l;
        unsigned char *s = from_hex(cJSON_GetObjectItem(v2[k % n2], "hex")->valuestring, &l);
        memcpy(eng + elen, s, l);
        elen += l;
        eng[elen++] = '\n';
        free(s);
    }
    for (size_t k = 0; v && len < target; k++) {
        size_t l;
        unsigned char *s = from_hex(cJSON_GetObjectItem(v[k % n], "hex")->valuestring, &l);
        memcpy(big + len, s, l);
        len += l;
        free(s);
    }
    const struct { const char *what; unsigned char *s; size_t n; } runs[] = {{"English prose/code", eng, elen},
                                                                                {"multilingual fuzz", big, len}};
    for (int r = 0; r < 2; r++) {
        int32_t *ids;
        size_t nid;
        double t0 = llv_time_s();
        bool ok = encode_ok(t, runs[r].s, runs[r].n, LLV_TOKENIZE_PARSE_SPECIAL, &ids, &nid);
        double dt = llv_time_s() - t0;
        CHECK(ok);
        if (ok) {
            printf("encode %.1f MB of %s: %zu tokens in %.3f s = %.1f MB/s (one thread)\n", runs[r].n / 1e6,
                   runs[r].what, nid, dt, runs[r].n / 1e6 / dt);
            free(ids);
        }
        CHECK(round_trips(t, runs[r].s, runs[r].n, 0));
    }
    /* degenerate 10 MB inputs: one letter run, one space run, one digit run */
    static const char fill[] = {'a', ' ', '7', '\n'};
    for (int k = 0; k < 4; k++) {
        memset(big, fill[k], target);
        int32_t *ids;
        size_t nid;
        double t0 = llv_time_s();
        bool ok = encode_ok(t, big, target, 0, &ids, &nid);
        CHECK_MSG(ok, "10 MB of 0x%02x", fill[k]);
        if (ok) {
            printf("encode 10 MB of 0x%02x: %zu tokens in %.3f s\n", fill[k], nid, llv_time_s() - t0);
            free(ids);
        }
    }
    free(big);
    free(eng);
    free_jsonl(v, n);
    free_jsonl(v2, n2);
    free(path);
    free(path2);
}

/* The public API over a model holding this tokenizer. */
static void test_api(llv_tokenizer *t) {
    if (!llv_test_case("api")) return;
    llv_model *m = calloc(1, sizeof *m);
    m->tok = t;
    m->bos_id = llv_tokenizer_bos(t);
    m->add_bos = true;
    const int32_t *eog;
    m->n_eog = llv_tokenizer_eog(t, &eog);
    memcpy(m->eog, eog, (size_t)m->n_eog * sizeof *eog);
    llv_error err = {0};
    int32_t ids[16];
    size_t n = 0;
    CHECK_OK(llv_tokenize(m, "Hello world", 11, LLV_TOKENIZE_ADD_BOS, ids, 16, &n, &err), &err);
    CHECK(n == 3 && ids[0] == 128000 && ids[1] == 9906 && ids[2] == 1917);
    CHECK_STATUS(llv_tokenize(m, "Hello world", 11, LLV_TOKENIZE_ADD_BOS, ids, 2, &n, &err), LLV_ERR_BUFFER_TOO_SMALL,
                 &err);
    CHECK_EQ_I(n, 3);
    CHECK_STATUS(llv_tokenize(m, "x", 1, 0, NULL, 0, &n, &err), LLV_ERR_BUFFER_TOO_SMALL, &err);
    CHECK_EQ_I(n, 1);
    CHECK_STATUS(llv_tokenize(m, "x", 1, 1u << 7, ids, 16, &n, &err), LLV_ERR_INVALID_ARGUMENT, &err);
    m->add_bos = false; /* the model says no BOS: the flag then adds none */
    CHECK_OK(llv_tokenize(m, "Hello world", 11, LLV_TOKENIZE_ADD_BOS, ids, 16, &n, &err), &err);
    CHECK(n == 2);
    int32_t toks[] = {128000, 9906, 1917, 128009};
    char buf[64];
    CHECK_OK(llv_detokenize(m, toks, 4, false, buf, sizeof buf, &n, &err), &err);
    CHECK(n == 38 && memcmp(buf, "<|begin_of_text|>Hello world<|eot_id|>", 38) == 0);
    CHECK_OK(llv_detokenize(m, toks, 4, true, buf, sizeof buf, &n, &err), &err);
    CHECK(n == 11 && memcmp(buf, "Hello world", 11) == 0);
    CHECK_STATUS(llv_detokenize(m, toks, 4, false, buf, 10, &n, &err), LLV_ERR_BUFFER_TOO_SMALL, &err);
    CHECK_EQ_I(n, 38);
    int32_t badtok[] = {5, 128257};
    CHECK_STATUS(llv_detokenize(m, badtok, 2, false, buf, sizeof buf, &n, &err), LLV_ERR_INVALID_ARGUMENT, &err);
    size_t len;
    const char *p = llv_token_bytes(m, 220, &len);
    CHECK(p && len == 1 && p[0] == ' ');
    CHECK(llv_token_bytes(m, 1 << 20, &len) == NULL);
    CHECK(llv_token_is_eog(m, 128009) && llv_token_is_eog(m, 128001) && llv_token_is_eog(m, 128008));
    CHECK(!llv_token_is_eog(m, 128000));
    m->tok = NULL;
    CHECK_STATUS(llv_tokenize(m, "x", 1, 0, ids, 16, &n, &err), LLV_ERR_UNSUPPORTED, &err);
    free(m);
}

/* A file written the way llama.cpp writes vocab GGUFs (no eos_token_ids,
 * no add_bos_token, eos = eot), and broken tokenizer metadata: clear errors. */
static void test_gguf_variants(const char *dir, const char *tmp) {
    if (!llv_test_case("gguf_variants")) return;
    llv_error err = {0};
    llv_tokenizer_hf *hf = NULL;
    bool found;
    CHECK_OK(llv_tokenizer_hf_read(dir, &hf, &found, &err), &err);
    if (!hf) return;
    const llv_tokenizer_desc *d = llv_tokenizer_hf_desc(hf);
    char *path = llv_test_path(tmp, "variant.gguf");
    enum { LLAMACPP, NO_MERGES, BAD_TYPE, BAD_BOS, BAD_PRE, BAD_MODEL, TYPES_SHORT, N_VARIANTS };
    for (int v = 0; v < N_VARIANTS; v++) {
        llv_gguf_writer *w = NULL;
        CHECK_OK(llv_gguf_writer_create(&w, &err), &err);
        if (!w) break;
        int32_t *types = malloc(d->n_tokens * sizeof *types);
        memcpy(types, d->token_types, d->n_tokens * sizeof *types);
        if (v == BAD_TYPE) types[5] = 9;
        llv_gguf_set_str(w, "general.architecture", "llama", &err);
        llv_gguf_set_str(w, "tokenizer.ggml.model", v == BAD_MODEL ? "llama" : "gpt2", &err);
        llv_gguf_set_str(w, "tokenizer.ggml.pre", v == BAD_PRE ? "no-such-pre" : "llama-bpe", &err);
        llv_gguf_set_arr_str(w, "tokenizer.ggml.tokens", d->tokens, d->token_lens, d->n_tokens, &err);
        llv_gguf_set_arr(w, "tokenizer.ggml.token_type", LLV_GGUF_I32, types, v == TYPES_SHORT ? 10 : d->n_tokens,
                         &err);
        if (v != NO_MERGES) llv_gguf_set_arr_str(w, "tokenizer.ggml.merges", d->merges, d->merge_lens, d->n_merges, &err);
        llv_gguf_set_u32(w, "tokenizer.ggml.bos_token_id", v == BAD_BOS ? 200000 : 128000, &err);
        llv_gguf_set_u32(w, "tokenizer.ggml.eos_token_id", 128009, &err);
        CHECK_OK(llv_gguf_writer_begin(w, path, &err), &err);
        CHECK_OK(llv_gguf_writer_finish(w, &err), &err);
        llv_gguf_writer_free(w);
        free(types);
        llv_gguf *g = NULL;
        llv_tokenizer *t = NULL;
        CHECK_OK(llv_gguf_open(path, &g, &err), &err);
        llv_status st = g ? llv_tokenizer_load(g, &t, &err) : LLV_ERR_IO;
        static const llv_status want[] = {LLV_OK, LLV_ERR_FORMAT, LLV_ERR_FORMAT, LLV_ERR_FORMAT,
                                          LLV_ERR_UNSUPPORTED, LLV_ERR_UNSUPPORTED, LLV_ERR_FORMAT};
        CHECK_MSG(st == want[v], "variant %d: %s (%s), expected %s", v, llv_status_name(st),
                  st ? err.message : "", llv_status_name(want[v]));
        if (st != LLV_OK) printf("  variant %d: %s\n", v, err.message);
        if (v == LLAMACPP && t) {
            const int32_t *eog;
            int32_t ne = llv_tokenizer_eog(t, &eog);
            CHECK_MSG(ne == 3 && eog[0] == 128009, "llama.cpp-style file: eog from eos + names (n %d)", ne);
            CHECK(llv_tokenizer_add_bos(t)); /* llama-bpe default */
            int32_t *ids;
            size_t n;
            CHECK_OK(llv_tokenizer_encode(t, "Hello world", 11, LLV_TOKENIZE_ADD_BOS, &ids, &n, &err), &err);
            CHECK(n == 3 && ids[0] == 128000 && ids[1] == 9906);
            free(ids);
        }
        llv_tokenizer_free(t);
        llv_gguf_close(g);
    }
    /* a file without tokenizer keys: no tokenizer, no error */
    llv_gguf_writer *w = NULL;
    CHECK_OK(llv_gguf_writer_create(&w, &err), &err);
    llv_gguf_set_str(w, "general.architecture", "llama", &err);
    CHECK_OK(llv_gguf_writer_begin(w, path, &err), &err);
    CHECK_OK(llv_gguf_writer_finish(w, &err), &err);
    llv_gguf_writer_free(w);
    llv_gguf *g = NULL;
    llv_tokenizer *t = (llv_tokenizer *)1;
    CHECK_OK(llv_gguf_open(path, &g, &err), &err);
    if (g) CHECK_OK(llv_tokenizer_load(g, &t, &err), &err);
    CHECK(t == NULL);
    llv_gguf_close(g);
    remove(path);
    free(path);
    llv_tokenizer_hf_free(hf);
}

/* tokenizer_config.json / generation_config.json / chat_template.jinja beside
 * tokenizer.json (a temporary directory with a symlink to the reference). */
static void test_hf_config(const char *dir, const char *tmp) {
    if (!llv_test_case("hf_config")) return;
    char *hd = llv_test_path(tmp, "hf"), *link = llv_test_path(hd, "tokenizer.json");
    char *rel = llv_test_path(dir, "tokenizer.json"), *tj = realpath(rel, NULL); /* the link needs an absolute target */
    free(rel);
    char *cfg = llv_test_path(hd, "tokenizer_config.json"), *gen = llv_test_path(hd, "generation_config.json");
    char *jin = llv_test_path(hd, "chat_template.jinja");
    CHECK(mkdir(hd, 0700) == 0 && symlink(tj, link) == 0);
    FILE *f = fopen(cfg, "w");
    fputs("{\"bos_token\": \"<|begin_of_text|>\", \"eos_token\": {\"content\": \"<|eot_id|>\"},"
          " \"pad_token\": null, \"add_bos_token\": false,"
          " \"chat_template\": [{\"name\": \"tool_use\", \"template\": \"T\"}, {\"name\": \"default\", \"template\": \"{{ bos_token }}\"}]}", f);
    fclose(f);
    f = fopen(gen, "w");
    fputs("{\"eos_token_id\": [128001, 128008, 128009, 5]}", f);
    fclose(f);
    llv_error err = {0};
    llv_tokenizer_hf *hf = NULL;
    bool found = false;
    CHECK_OK(llv_tokenizer_hf_read(hd, &hf, &found, &err), &err);
    CHECK(found && hf);
    if (hf) {
        const llv_tokenizer_desc *d = llv_tokenizer_hf_desc(hf);
        CHECK_EQ_I(d->bos_id, 128000);
        CHECK_EQ_I(d->eos_id, 128009);
        CHECK_EQ_I(d->pad_id, 128004);
        CHECK_EQ_I(d->add_bos, 0);
        CHECK_EQ_I(d->n_eog, 4); /* 128009, 128001, 128008, 5 */
        CHECK(d->n_eog == 4 && d->eog_ids[0] == 128009 && d->eog_ids[3] == 5);
        CHECK(llv_tokenizer_hf_chat_template(hf) && !strcmp(llv_tokenizer_hf_chat_template(hf), "{{ bos_token }}"));
        CHECK(!strcmp(d->pre, "llama-bpe") && d->n_tokens == 128257 && d->n_merges == 280147);
        llv_tokenizer_hf_free(hf);
    }
    /* template in chat_template.jinja when the config has none; broken JSON is a clear FORMAT error */
    f = fopen(cfg, "w");
    fputs("{\"add_bos_token\": true}", f);
    fclose(f);
    f = fopen(jin, "w");
    fputs("JINJA", f);
    fclose(f);
    CHECK_OK(llv_tokenizer_hf_read(hd, &hf, &found, &err), &err);
    CHECK(hf && llv_tokenizer_hf_chat_template(hf) && !strcmp(llv_tokenizer_hf_chat_template(hf), "JINJA"));
    llv_tokenizer_hf_free(hf);
    f = fopen(gen, "w");
    fputs("{\"eos_token_id\": [1, 2", f);
    fclose(f);
    CHECK_STATUS(llv_tokenizer_hf_read(hd, &hf, &found, &err), LLV_ERR_FORMAT, &err);
    printf("  broken generation_config.json: %s\n", err.message);
    CHECK(hf == NULL);
    remove(jin);
    remove(gen);
    remove(cfg);
    remove(link);
    remove(hd);
    free(jin);
    free(gen);
    free(cfg);
    free(link);
    free(tj);
    free(hd);
}

/* Runs a command, returns its exit status and (first 64 KiB of) stdout. */
static int run_cmd(const char *cmd, char *out, size_t cap) {
    FILE *f = popen(cmd, "r");
    if (!f) return -1;
    size_t n = fread(out, 1, cap - 1, f);
    out[n] = 0;
    int st = pclose(f);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* llv-tokenize on the converted vocab-only GGUF. */
static void test_cli(const llv_tokenizer *t, const char *gguf_path, const char *tmp) {
    if (!llv_test_case("cli")) return;
    char *bin = llv_test_bin("llv-tokenize");
    static char cmd[8192], out[65536];
    snprintf(cmd, sizeof cmd, "'%s' -m '%s' -p 'Hello world<|eot_id|>' --ids", bin, gguf_path);
    CHECK_EQ_I(run_cmd(cmd, out, sizeof out), 0);
    CHECK_MSG(strcmp(out, "[128000, 9906, 1917, 128009]\n") == 0, "--ids output: %s", out);
    /* plain mode, no BOS, from a file with invalid UTF-8: same ids as the library */
    static const char text[] = "caf\xc3\xa9 <|eot_id|> \xff\xfe end\n";
    char *fpath = llv_test_path(tmp, "in.txt");
    FILE *f = fopen(fpath, "wb");
    fwrite(text, 1, sizeof text - 1, f);
    fclose(f);
    int32_t *ids;
    size_t n;
    llv_error err = {0};
    CHECK_OK(llv_tokenizer_encode(t, text, sizeof text - 1, 0, &ids, &n, &err), &err);
    char want[4096] = "[";
    for (size_t i = 0; i < n; i++)
        snprintf(want + strlen(want), sizeof want - strlen(want), i ? ", %d" : "%d", (int)ids[i]);
    strcat(want, "]\n");
    free(ids);
    snprintf(cmd, sizeof cmd, "'%s' -m '%s' -f '%s' --no-bos --no-parse-special --ids", bin, gguf_path, fpath);
    CHECK_EQ_I(run_cmd(cmd, out, sizeof out), 0);
    CHECK_MSG(strcmp(out, want) == 0, "--no-bos --no-parse-special: got %s expected %s", out, want);
    /* --json is valid JSON with the ids */
    snprintf(cmd, sizeof cmd, "'%s' -m '%s' -f '%s' --json", bin, gguf_path, fpath);
    CHECK_EQ_I(run_cmd(cmd, out, sizeof out), 0);
    cJSON *j = cJSON_Parse(out);
    CHECK_MSG(j && cJSON_GetArraySize(cJSON_GetObjectItem(j, "ids")) == cJSON_GetObjectItem(j, "n_tokens")->valueint &&
                  cJSON_GetArrayItem(cJSON_GetObjectItem(j, "ids"), 0)->valueint == 128000,
              "--json output: %s", out);
    cJSON_Delete(j);
    /* default pieces view */
    snprintf(cmd, sizeof cmd, "'%s' -m '%s' -p 'a\tb' --no-bos", bin, gguf_path);
    CHECK_EQ_I(run_cmd(cmd, out, sizeof out), 0);
    CHECK_MSG(strstr(out, "-> 'a'") && strstr(out, "-> '\\tb'"), "pieces output: %s", out);
    /* exit codes */
    snprintf(cmd, sizeof cmd, "'%s' 2>/dev/null", bin);
    CHECK_EQ_I(run_cmd(cmd, out, sizeof out), 1);
    snprintf(cmd, sizeof cmd, "'%s' -m '%s' -p x --bogus 2>/dev/null", bin, gguf_path);
    CHECK_EQ_I(run_cmd(cmd, out, sizeof out), 1);
    snprintf(cmd, sizeof cmd, "'%s' -m '%s/none.gguf' -p x 2>/dev/null", bin, tmp);
    CHECK_EQ_I(run_cmd(cmd, out, sizeof out), 2);
    snprintf(cmd, sizeof cmd, "'%s' -m '%s' -f '%s/none.txt' 2>/dev/null", bin, gguf_path, tmp);
    CHECK_EQ_I(run_cmd(cmd, out, sizeof out), 3);
    snprintf(cmd, sizeof cmd, "'%s' --help", bin);
    CHECK_EQ_I(run_cmd(cmd, out, sizeof out), 0);
    remove(fpath);
    free(fpath);
    free(bin);
}

/* GPT-2's byte-to-unicode alphabet: the token text of byte b, UTF-8, in out (<= 3 bytes + NUL). */
static void byte_text(int b, char out[4]) {
    int cp = b;
    if (!((b >= '!' && b <= '~') || (b >= 0xa1 && b <= 0xac) || (b >= 0xae && b <= 0xff))) {
        int n = 0;
        for (int c = 0; c < b; c++)
            if (!((c >= '!' && c <= '~') || (c >= 0xa1 && c <= 0xac) || (c >= 0xae && c <= 0xff))) n++;
        cp = 256 + n;
    }
    if (cp < 0x80) out[0] = (char)cp, out[1] = 0;
    else out[0] = (char)(0xc0 | (cp >> 6)), out[1] = (char)(0x80 | (cp & 0x3f)), out[2] = 0;
}

/* A 258-token vocabulary (the bytes, "12", "34") under each pre-tokenizer name:
 * the regex sequences of llama.cpp split "1234" differently; an unknown name
 * is an error naming it; a vocabulary without a byte drops that byte. */
static void test_pre_kinds(void) {
    if (!llv_test_case("pre_kinds")) return;
    char bt[256][4];
    const char *toks[258];
    size_t lens[258];
    for (int b = 0; b < 256; b++) {
        byte_text(b, bt[b]);
        toks[b] = bt[b];
        lens[b] = strlen(bt[b]);
    }
    toks[256] = "12", toks[257] = "34";
    lens[256] = lens[257] = 2;
    const char *merges[] = {"1 2", "3 4"};
    size_t mlens[] = {3, 3};
    static const struct { const char *pre; int n; int32_t ids[4]; } cases[] = {
        {"gpt-2", 2, {256, 257}},           /* " ?\p{N}+": one piece */
        {"smollm", 4, {'1', '2', '3', '4'}}, /* digits isolated first */
        {"qwen2", 4, {'1', '2', '3', '4'}},
        {"llama-bpe", 3, {256, '3', '4'}}, /* "\p{N}{1,3}": "123" "4" */
        {"default", 3, {256, '3', '4'}},   /* ... then "[0-9][0-9][0-9]" */
    };
    llv_error err = {0};
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        llv_tokenizer_desc d = {.model = "gpt2", .pre = cases[c].pre, .n_tokens = 258, .tokens = toks,
                                .token_lens = lens, .n_merges = 2, .merges = merges, .merge_lens = mlens,
                                .bos_id = -1, .eos_id = -1, .pad_id = -1, .eot_id = -1, .eom_id = -1, .add_bos = 0};
        llv_tokenizer *t = NULL;
        CHECK_OK(llv_tokenizer_create(&d, &t, &err), &err);
        if (!t) continue;
        int32_t *ids;
        size_t n;
        CHECK_OK(llv_tokenizer_encode(t, "1234", 4, 0, &ids, &n, &err), &err);
        bool same = n == (size_t)cases[c].n && !memcmp(ids, cases[c].ids, n * sizeof *ids);
        CHECK_MSG(same, "pre '%s': \"1234\" -> %zu tokens (first %d)", cases[c].pre, n, n ? ids[0] : -1);
        free(ids);
        llv_tokenizer_free(t);
    }
    llv_tokenizer_desc d = {.model = "gpt2", .pre = "no-such-pre", .n_tokens = 258, .tokens = toks,
                            .token_lens = lens, .bos_id = -1, .eos_id = -1, .pad_id = -1, .eot_id = -1, .eom_id = -1};
    llv_tokenizer *t = NULL;
    CHECK_STATUS(llv_tokenizer_create(&d, &t, &err), LLV_ERR_UNSUPPORTED, &err);
    CHECK(strstr(err.message, "no-such-pre") != NULL);
    /* no token for byte 0x04: dropped, the rest encodes and decodes */
    d.pre = "smollm";
    toks[4] = "12";
    lens[4] = 2; /* a duplicate text: the byte has no token of its own */
    d.n_merges = 0;
    toks[256] = "x1", toks[257] = "x2";
    CHECK_OK(llv_tokenizer_create(&d, &t, &err), &err);
    if (t) {
        int32_t *ids;
        size_t n;
        CHECK_OK(llv_tokenizer_encode(t, "a\x04" "b\x04", 4, 0, &ids, &n, &err), &err);
        CHECK_MSG(n == 2 && ids[0] == 'a' && ids[1] == 'b', "a missing byte is dropped (%zu tokens: %d %d %d)", n, ids[0], n > 1 ? ids[1] : -1, n > 2 ? ids[2] : -1);
        free(ids);
        llv_tokenizer_free(t);
    }
}

int main(int argc, char **argv) {
    llv_test_init(argc, argv);
    test_detok();
    test_pre_kinds();
    const char *shared = llv_test_shared_dir();
    if (!shared) {
        llv_test_finish();
        llv_test_skip("../shared is absent: only the detokenizer was tested");
    }
    char *dir = llv_test_path(shared, "reference/tokenizer");
    /* direct path (tokenizer.json -> desc -> tokenizer) */
    llv_tokenizer_hf *hf = NULL;
    llv_tokenizer *direct = NULL, *viagguf = NULL;
    llv_error err = {0};
    bool found = false;
    double t0 = llv_time_s();
    CHECK_OK(llv_tokenizer_hf_read(dir, &hf, &found, &err), &err);
    CHECK(found);
    if (hf) CHECK_OK(llv_tokenizer_create(llv_tokenizer_hf_desc(hf), &direct, &err), &err);
    printf("tokenizer.json parsed and built in %.2f s\n", llv_time_s() - t0);
    llv_tokenizer_hf_free(hf);
    /* a directory without tokenizer.json: found = false, OK */
    char *tmp = llv_test_tmpdir();
    CHECK_OK(llv_tokenizer_hf_read(tmp, &hf, &found, &err), &err);
    CHECK(!found && !hf);
    /* the real data path */
    char *gpath = llv_test_path(tmp, "vocab.gguf");
    llv_gguf *g = NULL;
    viagguf = load_via_gguf(dir, gpath, &g);
    CHECK_MSG(viagguf != NULL, "the GGUF path must work");
    llv_tokenizer *t = viagguf ? viagguf : direct;
    if (viagguf && direct) { /* both paths give the same tokenizer */
        static const char s[] = "Hello <|eot_id|> w\xc3\xb6rld 12345 \xff  \n";
        int32_t *a, *b;
        size_t na, nb;
        llv_error e2 = {0};
        CHECK_OK(llv_tokenizer_encode(direct, s, sizeof s - 1, 3, &a, &na, &e2), &e2);
        CHECK_OK(llv_tokenizer_encode(viagguf, s, sizeof s - 1, 3, &b, &nb, &e2), &e2);
        CHECK(na == nb && memcmp(a, b, na * sizeof *a) == 0);
        free(a);
        free(b);
    }
    if (t) {
        check_encode_file(t, dir, "encode_vectors.jsonl");
        check_encode_file(t, dir, "encode_vectors_fuzz.jsonl");
        check_decode_file(t, dir);
        check_llamacpp_inp(t, dir);
        check_upstream(t, dir);
        report_unicode_sensitive(t, dir);
        test_bad_input(t);
        test_big(t, dir);
        test_api(t);
        if (viagguf) test_cli(t, gpath, tmp);
        test_gguf_variants(dir, tmp);
        test_hf_config(dir, tmp);
    }
    llv_tokenizer_free(direct);
    llv_tokenizer_free(viagguf);
    llv_gguf_close(g);
    remove(gpath);
    remove(tmp);
    free(gpath);
    free(tmp);
    free(dir);
    return llv_test_finish();
}
