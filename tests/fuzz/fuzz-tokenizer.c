/* fuzz-tokenizer.c - tokenizer encode/decode through the public API.
 *
 * The model is built once: $LLV_FUZZ_MODEL, else models/demo.gguf (from the
 * repository root or $LLV_SOURCE_DIR), else a "tiny" model written by
 * llv_synth into a temporary file. Input: byte 0 = flags (bit 0 add BOS,
 * bit 1 parse special tokens, bits 2-7 a chunk size for the streaming
 * detokenizer), the rest = text. Oracles: decode(encode(text)) == text
 * (byte-level BPE loses nothing); the streaming detokenizer emits valid
 * UTF-8, equal to the text when the text is valid UTF-8; arbitrary ids are
 * rejected cleanly by llv_detokenize. */
#include "fuzz.h"
#include "llv.h"
#include "llv-tools.h"
#include "tokenizer.h"

#include <string.h>
#include <unistd.h>

static llv_model *fuzz_tok_model;

static void fuzz_tok_free(void) { llv_model_free(fuzz_tok_model); }

static llv_model *fuzz_tok_get_model(void) {
    if (fuzz_tok_model) return fuzz_tok_model;
    llv_error err;
    char path[4096];
    const char *env = getenv("LLV_FUZZ_MODEL"), *src = getenv("LLV_SOURCE_DIR");
    if (env && llv_model_load(env, NULL, &fuzz_tok_model, &err) == LLV_OK) goto done;
    snprintf(path, sizeof path, "%s/models/demo.gguf", src ? src : ".");
    if (access(path, R_OK) == 0 && llv_model_load(path, NULL, &fuzz_tok_model, &err) == LLV_OK) goto done;
    char tmp[] = "/tmp/llv-fuzz-tok-XXXXXX";
    int fd = mkstemp(tmp);
    LLV_FUZZ_ASSERT(fd >= 0);
    close(fd);
    llv_synth_params sp = llv_synth_default_params();
    sp.preset = "tiny";
    llv_status st = llv_synth(tmp, &sp, &err);
    if (st == LLV_OK) st = llv_model_load(tmp, NULL, &fuzz_tok_model, &err);
    unlink(tmp);
    if (st != LLV_OK) {
        fprintf(stderr, "fuzz-tokenizer: no model: %s\n", err.message);
        abort();
    }
done:
    atexit(fuzz_tok_free);
    return fuzz_tok_model;
}

/* Length of the valid UTF-8 sequence at s (1..4), or 0 if invalid/incomplete. */
static size_t utf8_seq(const unsigned char *s, size_t n) {
    unsigned c = s[0];
    size_t len;
    unsigned lo = 0x80, hi = 0xBF;
    if (c < 0x80) return 1;
    if (c >= 0xC2 && c <= 0xDF) len = 2;
    else if (c >= 0xE0 && c <= 0xEF) {
        len = 3;
        if (c == 0xE0) lo = 0xA0;
        if (c == 0xED) hi = 0x9F;
    } else if (c >= 0xF0 && c <= 0xF4) {
        len = 4;
        if (c == 0xF0) lo = 0x90;
        if (c == 0xF4) hi = 0x8F;
    } else return 0;
    if (n < len || s[1] < lo || s[1] > hi) return 0;
    for (size_t i = 2; i < len; i++)
        if (s[i] < 0x80 || s[i] > 0xBF) return 0;
    return len;
}

static int utf8_valid(const unsigned char *s, size_t n) {
    for (size_t i = 0; i < n;) {
        size_t k = utf8_seq(s + i, n - i);
        if (!k) return 0;
        i += k;
    }
    return 1;
}

LLV_FUZZ_TARGET(tokenizer) {
    if (size < 1) return 0;
    const llv_model *m = fuzz_tok_get_model();
    uint32_t flags = data[0] & 3u;
    size_t chunk = (size_t)(data[0] >> 2) + 1;
    const char *text = (const char *)data + 1;
    size_t n = size - 1;
    llv_error err;

    size_t cap = n + 2, nt = 0;
    int32_t *ids = malloc(cap * sizeof *ids), *bos_ids = malloc(cap * sizeof *ids);
    LLV_FUZZ_ASSERT(ids != NULL && bos_ids != NULL);
    llv_status st = llv_tokenize(m, text, n, flags & LLV_TOKENIZE_PARSE_SPECIAL, ids, cap, &nt, &err);
    if (st != LLV_OK) fprintf(stderr, "llv_tokenize: %s: %s\n", llv_status_name(st), err.message);
    LLV_FUZZ_ASSERT(st == LLV_OK);
    LLV_FUZZ_ASSERT(nt <= n);
    /* capacity semantics: one too small reports the count needed */
    if (nt > 0) {
        size_t need = 0;
        st = llv_tokenize(m, text, n, flags & LLV_TOKENIZE_PARSE_SPECIAL, ids, nt - 1, &need, &err);
        LLV_FUZZ_ASSERT(st == LLV_ERR_BUFFER_TOO_SMALL && need == nt);
        LLV_FUZZ_ASSERT(llv_tokenize(m, text, n, flags & LLV_TOKENIZE_PARSE_SPECIAL, ids, cap, &nt, &err) == LLV_OK);
    }
    if (flags & LLV_TOKENIZE_ADD_BOS) { /* the same ids, maybe after one BOS */
        llv_model_info info;
        llv_model_get_info(m, &info);
        size_t nb2 = 0;
        LLV_FUZZ_ASSERT(llv_tokenize(m, text, n, flags, bos_ids, cap, &nb2, &err) == LLV_OK);
        size_t off = nb2 - nt;
        LLV_FUZZ_ASSERT(nb2 >= nt && off <= 1);
        if (off) LLV_FUZZ_ASSERT(bos_ids[0] == info.bos_id);
        LLV_FUZZ_ASSERT(nt == 0 || memcmp(bos_ids + off, ids, nt * sizeof *ids) == 0);
    }
    free(bos_ids);
    const size_t skip = 0;

    size_t nb = 0;
    st = llv_detokenize(m, ids + skip, nt - skip, false, NULL, 0, &nb, &err);
    LLV_FUZZ_ASSERT(st == LLV_OK || st == LLV_ERR_BUFFER_TOO_SMALL);
    char *back = malloc(nb + 1);
    LLV_FUZZ_ASSERT(back != NULL);
    LLV_FUZZ_ASSERT(llv_detokenize(m, ids + skip, nt - skip, false, back, nb, &nb, &err) == LLV_OK);
    if (!(nb == n && memcmp(back, text, n) == 0)) {
        fprintf(stderr, "round trip: %zu bytes in, %zu bytes back (flags %u)\n", n, nb, (unsigned)flags);
        LLV_FUZZ_ASSERT(!"decode(encode(text)) == text");
    }

    /* streaming detokenizer over the token bytes, pushed in chunks */
    llv_detok d;
    memset(&d, 0, sizeof d);
    size_t ocap = LLV_DETOK_MAX_OUT(nb) + 16, o = 0;
    char *out = malloc(ocap);
    LLV_FUZZ_ASSERT(out != NULL);
    for (size_t i = 0; i < nb; i += chunk) {
        size_t k = nb - i < chunk ? nb - i : chunk;
        size_t w = llv_detok_push(&d, back + i, k, out + o, LLV_DETOK_MAX_OUT(k));
        LLV_FUZZ_ASSERT(w <= LLV_DETOK_MAX_OUT(k));
        LLV_FUZZ_ASSERT(utf8_valid((const unsigned char *)out + o, w));
        o += w;
    }
    o += llv_detok_flush(&d, out + o, 12);
    LLV_FUZZ_ASSERT(o <= ocap && utf8_valid((const unsigned char *)out, o));
    if (utf8_valid((const unsigned char *)text, n)) LLV_FUZZ_ASSERT(o == n && memcmp(out, text, n) == 0);
    free(out);
    free(back);
    free(ids);

    /* the input as raw ids: out-of-range ids are an error, never a crash */
    size_t nid = n / 4;
    if (nid) {
        int32_t *raw = malloc(nid * sizeof *raw);
        LLV_FUZZ_ASSERT(raw != NULL);
        memcpy(raw, text, nid * sizeof *raw);
        for (size_t i = 0; i < nid; i++) {
            size_t len;
            const char *p = llv_token_bytes(m, raw[i], &len);
            if (p) llv_fuzz_touch(p, len);
            (void)llv_token_is_eog(m, raw[i]);
        }
        char buf[256];
        st = llv_detokenize(m, raw, nid, (flags & 1) != 0, buf, sizeof buf, &nb, &err);
        LLV_FUZZ_ASSERT(st == LLV_OK || st == LLV_ERR_BUFFER_TOO_SMALL || st == LLV_ERR_INVALID_ARGUMENT);
        free(raw);
    }
    return 0;
}
