/* tokenizer.c - Llama 3 byte-level BPE with tiktoken/HF semantics:
 *   1. (optional) cut the text at special-token strings (leftmost-longest),
 *   2. split each segment into valid UTF-8 runs and single invalid bytes,
 *   3. run the pre-tokenizer regexes of tokenizer.ggml.pre (PCRE2, UTF+UCP,
 *      JIT) over each run: each one splits every piece of the previous one
 *      into its matches and the gaps between them (llama.cpp's
 *      unicode_regex_split; HF's Sequence of Split/Digits/ByteLevel),
 *   4. encode each piece: whole-piece vocabulary lookup first (ignore_merges),
 *      else BPE by merge rank (leftmost lowest rank first),
 *   5. (optional) prepend BOS.
 * Invalid UTF-8 (which HF/tiktoken cannot receive: they take Unicode strings,
 * and llama.cpp turns each bad byte into U+FFFD) is kept byte-exact: every
 * invalid byte is its own piece and becomes its single-byte token, so decode
 * gives the input back. PCRE2 only ever sees validated UTF-8 (NO_UTF_CHECK). */
#define PCRE2_CODE_UNIT_WIDTH 8
#include "tokenizer.h"
#include "utf8.h"

#include <pcre2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TOK_MAX_TOKENS (1u << 24)  /* sanity limit on vocabulary size */
#define TOK_MAX_EOG    16
#define BPE_SMALL      64          /* pieces up to this many bytes use the O(n^2) array merge */
#define PRE_MAX_REGEX  4

typedef struct piece_slot { uint32_t tag; int32_t id; } piece_slot;          /* id -1: empty */
typedef struct merge_slot { uint64_t key; int32_t rank, result; } merge_slot; /* key ~0: empty */

struct llv_tokenizer {
    int32_t   n_tokens;
    char     *blob;          /* raw bytes of every token, concatenated */
    uint32_t *off;           /* n_tokens + 1 offsets into blob */
    uint8_t  *type;
    /* raw bytes -> id for NORMAL tokens (whole-piece lookup, merge results) */
    piece_slot *pieces;
    size_t      piece_mask;
    /* (left id, right id) -> merge rank and merged id */
    merge_slot *merges;
    size_t      merge_mask;
    int32_t     byte_id[256];  /* -1: no token for this byte */
    bool        missing_bytes;
    /* special/added tokens matched in the text */
    piece_slot *specials;
    size_t      special_mask;
    size_t      n_spec_lens;
    uint32_t   *spec_lens;      /* distinct lengths, descending */
    uint64_t  (*spec_last)[4];  /* per length: bitmap of last bytes */
    uint8_t     spec_first[256]; /* bit 0: some USER_DEFINED starts so; bit 1: some CONTROL */
    bool        has_user_defined;
    bool        ignore_merges;
    pcre2_code *re[PRE_MAX_REGEX]; /* applied in order */
    bool        jit[PRE_MAX_REGEX];
    int         n_re;
    int32_t     bos, eos, pad;
    bool        add_bos;
    int32_t     eog[TOK_MAX_EOG];
    int32_t     n_eog;
};

/* ------------------------------------------------------------------------- */
/* hashing                                                                   */
/* ------------------------------------------------------------------------- */

static inline uint64_t mix64(uint64_t h) {
    h ^= h >> 31;
    h *= 0xbf58476d1ce4e5b9ull;
    h ^= h >> 29;
    h *= 0x94d049bb133111ebull;
    h ^= h >> 32;
    return h;
}

static inline uint64_t hash_bytes(const unsigned char *p, size_t n) {
    uint64_t h = 0x9e3779b97f4a7c15ull ^ ((uint64_t)n * 0xff51afd7ed558ccdull);
    while (n >= 8) {
        uint64_t v;
        memcpy(&v, p, 8);
        h = (h ^ v) * 0xbf58476d1ce4e5b9ull;
        h ^= h >> 29;
        p += 8;
        n -= 8;
    }
    uint64_t v = 0;
    if (n) memcpy(&v, p, n);
    return mix64(h ^ v ^ ((uint64_t)n << 56));
}

static size_t table_size(size_t n) {
    size_t s = 16;
    while (s < 2 * n) s <<= 1;
    return s;
}

static inline const char *tok_ptr(const llv_tokenizer *t, int32_t id, size_t *n) {
    *n = t->off[id + 1] - t->off[id];
    return t->blob + t->off[id];
}

/* Returns the id in table `tab` whose bytes equal p[0..n), or -1. */
static inline int32_t slot_find(const llv_tokenizer *t, const piece_slot *tab, size_t mask, const unsigned char *p,
                                size_t n) {
    uint64_t h = hash_bytes(p, n);
    uint32_t tag = (uint32_t)(h >> 32);
    for (size_t i = h & mask;; i = (i + 1) & mask) {
        const piece_slot *s = &tab[i];
        if (s->id < 0) return -1;
        if (s->tag == tag) {
            size_t m;
            const char *q = tok_ptr(t, s->id, &m);
            if (m == n && memcmp(q, p, n) == 0) return s->id;
        }
    }
}

/* Inserts id unless its bytes are already present (first id wins). */
static void slot_insert(const llv_tokenizer *t, piece_slot *tab, size_t mask, int32_t id) {
    size_t n;
    const unsigned char *p = (const unsigned char *)tok_ptr(t, id, &n);
    uint64_t h = hash_bytes(p, n);
    uint32_t tag = (uint32_t)(h >> 32);
    for (size_t i = h & mask;; i = (i + 1) & mask) {
        piece_slot *s = &tab[i];
        if (s->id < 0) {
            s->id = id;
            s->tag = tag;
            return;
        }
        if (s->tag == tag) {
            size_t m;
            const char *q = tok_ptr(t, s->id, &m);
            if (m == n && memcmp(q, p, n) == 0) return;
        }
    }
}

static inline uint64_t pair_key(int32_t a, int32_t b) { return ((uint64_t)(uint32_t)a << 32) | (uint32_t)b; }

static inline const merge_slot *merge_find(const llv_tokenizer *t, int32_t a, int32_t b) {
    uint64_t key = pair_key(a, b);
    for (size_t i = mix64(key) & t->merge_mask;; i = (i + 1) & t->merge_mask) {
        const merge_slot *s = &t->merges[i];
        if (s->key == key) return s;
        if (s->key == UINT64_MAX) return NULL;
    }
}

/* ------------------------------------------------------------------------- */
/* The byte-level alphabet (UTF-8 itself: utf8.c)                            */
/* ------------------------------------------------------------------------- */

/* GPT-2 bytes_to_unicode inverse: code point (< 324) -> byte, or -1. */
static void byte_level_inverse(int16_t inv[324]) {
    for (int i = 0; i < 324; i++) inv[i] = -1;
    int n = 0;
    for (int b = 0; b < 256; b++) {
        bool printable = (b >= '!' && b <= '~') || (b >= 0xa1 && b <= 0xac) || (b >= 0xae && b <= 0xff);
        if (printable) inv[b] = (int16_t)b;
        else inv[256 + n++] = (int16_t)b;
    }
}

/* Decodes byte-level text into raw bytes (out has room for n); returns the
 * byte count, or -1 (with *bad_cp) on a character outside the alphabet. */
static long byte_level_decode(const int16_t inv[324], const unsigned char *p, size_t n, unsigned char *out,
                              uint32_t *bad_cp) {
    size_t o = 0;
    for (size_t i = 0; i < n;) {
        uint32_t cp = 0;
        size_t l = llv_utf8_decode(p + i, n - i, &cp);
        if (l == 0) {
            *bad_cp = 0xfffd;
            return -1;
        }
        if (cp >= 324 || inv[cp] < 0) {
            *bad_cp = cp;
            return -1;
        }
        out[o++] = (unsigned char)inv[cp];
        i += l;
    }
    return (long)o;
}

/* ------------------------------------------------------------------------- */
/* construction                                                              */
/* ------------------------------------------------------------------------- */

void llv_tokenizer_free(llv_tokenizer *t) {
    if (!t) return;
    free(t->blob);
    free(t->off);
    free(t->type);
    free(t->pieces);
    free(t->merges);
    free(t->specials);
    free(t->spec_lens);
    free(t->spec_last);
    for (int i = 0; i < t->n_re; i++) pcre2_code_free(t->re[i]);
    free(t);
}

#define GPT2_REGEX "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+"
/* Qwen2's: Llama 3's with single digits */
#define QWEN2_REGEX                                                                                               \
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|"           \
    "\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"

/* The pre-tokenizers of tokenizer.ggml.pre, as llama.cpp's llama-vocab.cpp
 * maps the names to regex sequences (the HF tokenizer.json each name stands
 * for splits alike). Llama 3 alone looks whole pieces up before merging
 * (ignore_merges) and adds BOS by default. */
typedef struct pre_kind {
    const char *names[8];
    const char *regex[PRE_MAX_REGEX];
    bool        llama3;
} pre_kind;
static const pre_kind PRE_KINDS[] = {
    {{"llama-bpe", "llama3", "llama-v3", "smaug-bpe", "falcon3"}, {LLV_LLAMA3_REGEX}, true},
    /* HF: Sequence[Digits(individual_digits), ByteLevel] */
    {{"smollm", "starcoder", "refact", "command-r", "codeshell", "exaone", "minerva"}, {"\\p{N}", GPT2_REGEX}, false},
    {{"gpt-2", "gpt2", "phi-2", "mpt", "olmo", "jais", "roberta-bpe"}, {GPT2_REGEX}, false},
    {{"qwen2", "stablelm2"}, {QWEN2_REGEX}, false},
    /* llama.cpp's fallback for BPE vocabularies it does not recognise */
    {{"default"}, {"[\\p{P}\\$\\+<=>\\^~\\|]+", GPT2_REGEX, "\\p{N}+", "[0-9][0-9][0-9]"}, false},
};

static const pre_kind *find_pre(const char *pre) {
    for (size_t k = 0; k < sizeof PRE_KINDS / sizeof PRE_KINDS[0]; k++)
        for (size_t i = 0; i < 8 && PRE_KINDS[k].names[i]; i++)
            if (strcmp(pre, PRE_KINDS[k].names[i]) == 0) return &PRE_KINDS[k];
    return NULL;
}

static llv_status build_tokens(llv_tokenizer *t, const llv_tokenizer_desc *d, llv_error *err) {
    size_t n = d->n_tokens, total = 0;
    for (size_t i = 0; i < n; i++) {
        if (!d->tokens[i]) return llv_err(err, LLV_ERR_FORMAT, "tokenizer: token %zu is missing", i);
        if (!llv_add_size(total, d->token_lens[i], &total) || total > UINT32_MAX)
            return llv_err(err, LLV_ERR_LIMIT, "tokenizer: token texts exceed 4 GiB in total");
    }
    t->blob = malloc(total ? total : 1);
    t->off = malloc((n + 1) * sizeof *t->off);
    t->type = malloc(n);
    if (!t->blob || !t->off || !t->type) return llv_err(err, LLV_ERR_OUT_OF_MEMORY, "tokenizer: out of memory");
    int16_t inv[324];
    byte_level_inverse(inv);
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        int32_t ty = d->token_types ? d->token_types[i] : LLV_TOKEN_NORMAL;
        if (ty < 1 || ty > 6)
            return llv_err(err, LLV_ERR_FORMAT, "tokenizer: token %zu has type %d (expected 1..6)", i, (int)ty);
        t->type[i] = (uint8_t)ty;
        t->off[i] = (uint32_t)o;
        const unsigned char *p = (const unsigned char *)d->tokens[i];
        size_t len = d->token_lens[i];
        if (ty == LLV_TOKEN_NORMAL || ty == LLV_TOKEN_BYTE) {
            uint32_t bad = 0;
            long m = byte_level_decode(inv, p, len, (unsigned char *)t->blob + o, &bad);
            if (m < 0)
                return llv_err(err, LLV_ERR_FORMAT,
                               "tokenizer: token %zu ('%.*s') has character U+%04X outside the byte-level alphabet", i,
                               (int)LLV_MIN(len, 64), (const char *)p, (unsigned)bad);
            o += (size_t)m;
        } else {
            memcpy(t->blob + o, p, len); /* control / user-defined / unused: plain text */
            o += len;
        }
    }
    t->off[n] = (uint32_t)o;
    return LLV_OK;
}

static llv_status build_maps(llv_tokenizer *t, const llv_tokenizer_desc *d, llv_error *err) {
    size_t n = d->n_tokens;
    t->piece_mask = table_size(n) - 1;
    t->pieces = malloc((t->piece_mask + 1) * sizeof *t->pieces);
    if (!t->pieces) return llv_err(err, LLV_ERR_OUT_OF_MEMORY, "tokenizer: out of memory");
    memset(t->pieces, 0xff, (t->piece_mask + 1) * sizeof *t->pieces);
    size_t n_spec = 0;
    for (size_t i = 0; i < n; i++) {
        size_t len = t->off[i + 1] - t->off[i];
        if (t->type[i] == LLV_TOKEN_NORMAL || t->type[i] == LLV_TOKEN_BYTE) {
            if (len) slot_insert(t, t->pieces, t->piece_mask, (int32_t)i);
        } else if ((t->type[i] == LLV_TOKEN_CONTROL || t->type[i] == LLV_TOKEN_USER_DEFINED) && len)
            n_spec++;
    }
    for (int b = 0; b < 256; b++) {
        unsigned char c = (unsigned char)b;
        /* -1: a byte the vocabulary never saw (SmolLM2 lacks 21: some control
         * characters and bytes UTF-8 never uses); such bytes are dropped from
         * the text, as HF's BPE (no unk token) and llama.cpp do */
        t->byte_id[b] = slot_find(t, t->pieces, t->piece_mask, &c, 1);
        t->missing_bytes |= t->byte_id[b] < 0;
    }
    /* specials: hash table, distinct lengths (descending), first/last byte filters */
    t->special_mask = table_size(n_spec) - 1;
    t->specials = malloc((t->special_mask + 1) * sizeof *t->specials);
    t->spec_lens = malloc((n_spec ? n_spec : 1) * sizeof *t->spec_lens);
    t->spec_last = calloc(n_spec ? n_spec : 1, sizeof *t->spec_last);
    if (!t->specials || !t->spec_lens || !t->spec_last)
        return llv_err(err, LLV_ERR_OUT_OF_MEMORY, "tokenizer: out of memory");
    memset(t->specials, 0xff, (t->special_mask + 1) * sizeof *t->specials);
    for (size_t i = 0; i < n; i++) {
        if (t->type[i] != LLV_TOKEN_CONTROL && t->type[i] != LLV_TOKEN_USER_DEFINED) continue;
        size_t len;
        const unsigned char *p = (const unsigned char *)tok_ptr(t, (int32_t)i, &len);
        if (!len) continue;
        slot_insert(t, t->specials, t->special_mask, (int32_t)i);
        bool ud = t->type[i] == LLV_TOKEN_USER_DEFINED;
        t->spec_first[p[0]] |= ud ? 1 : 2;
        if (ud) t->has_user_defined = true;
        size_t k = 0;
        while (k < t->n_spec_lens && t->spec_lens[k] != len) k++;
        if (k == t->n_spec_lens) {
            size_t j = t->n_spec_lens++; /* insert keeping descending order */
            while (j > 0 && t->spec_lens[j - 1] < len) {
                t->spec_lens[j] = t->spec_lens[j - 1];
                memcpy(t->spec_last[j], t->spec_last[j - 1], sizeof t->spec_last[j]);
                j--;
            }
            t->spec_lens[j] = (uint32_t)len;
            memset(t->spec_last[j], 0, sizeof t->spec_last[j]);
            k = j;
        }
        unsigned char last = p[len - 1];
        t->spec_last[k][last >> 6] |= 1ull << (last & 63);
    }
    return LLV_OK;
}

static llv_status build_merges(llv_tokenizer *t, const llv_tokenizer_desc *d, llv_error *err) {
    size_t nm = d->n_merges;
    if (nm > INT32_MAX) return llv_err(err, LLV_ERR_LIMIT, "tokenizer: %zu merges (at most 2^31-1)", nm);
    t->merge_mask = table_size(nm) - 1;
    t->merges = malloc((t->merge_mask + 1) * sizeof *t->merges);
    if (!t->merges) return llv_err(err, LLV_ERR_OUT_OF_MEMORY, "tokenizer: out of memory");
    for (size_t i = 0; i <= t->merge_mask; i++) t->merges[i].key = UINT64_MAX;
    int16_t inv[324];
    byte_level_inverse(inv);
    size_t cap = 256;
    unsigned char *buf = malloc(cap);
    if (!buf) return llv_err(err, LLV_ERR_OUT_OF_MEMORY, "tokenizer: out of memory");
    llv_status st = LLV_OK;
    for (size_t i = 0; i < nm && st == LLV_OK; i++) {
        const char *s = d->merges[i];
        size_t len = d->merge_lens[i];
        const char *sp = len > 1 ? memchr(s + 1, ' ', len - 1) : NULL; /* as llama.cpp: find(' ', 1) */
        if (!s || !sp) {
            st = llv_err(err, LLV_ERR_FORMAT, "tokenizer: merge %zu ('%.*s') is not 'left right'", i,
                         (int)LLV_MIN(len, 64), s ? s : "");
            break;
        }
        if (len > cap) {
            unsigned char *nb = realloc(buf, len);
            if (!nb) {
                st = llv_err(err, LLV_ERR_OUT_OF_MEMORY, "tokenizer: out of memory");
                break;
            }
            buf = nb;
            cap = len;
        }
        size_t la = (size_t)(sp - s), lb = len - la - 1;
        uint32_t bad = 0;
        long na = byte_level_decode(inv, (const unsigned char *)s, la, buf, &bad);
        long nb = na < 0 ? -1 : byte_level_decode(inv, (const unsigned char *)sp + 1, lb, buf + na, &bad);
        if (na <= 0 || nb <= 0) {
            st = llv_err(err, LLV_ERR_FORMAT, "tokenizer: merge %zu ('%.*s') is not two byte-level tokens", i,
                         (int)LLV_MIN(len, 64), s);
            break;
        }
        int32_t a = slot_find(t, t->pieces, t->piece_mask, buf, (size_t)na);
        int32_t b = slot_find(t, t->pieces, t->piece_mask, buf + na, (size_t)nb);
        int32_t r = slot_find(t, t->pieces, t->piece_mask, buf, (size_t)(na + nb));
        if (a < 0 || b < 0 || r < 0) {
            st = llv_err(err, LLV_ERR_FORMAT, "tokenizer: merge %zu ('%.*s'): %s is not in the vocabulary", i,
                         (int)LLV_MIN(len, 64), s, a < 0 ? "left part" : b < 0 ? "right part" : "merged token");
            break;
        }
        uint64_t key = pair_key(a, b);
        for (size_t j = mix64(key) & t->merge_mask;; j = (j + 1) & t->merge_mask) {
            merge_slot *m = &t->merges[j];
            if (m->key == key) break; /* duplicate pair: the first (lowest rank) wins */
            if (m->key == UINT64_MAX) {
                m->key = key;
                m->rank = (int32_t)i;
                m->result = r;
                break;
            }
        }
    }
    free(buf);
    return st;
}

static bool eog_add(llv_tokenizer *t, int32_t id) {
    if (id < 0) return true;
    for (int32_t i = 0; i < t->n_eog; i++)
        if (t->eog[i] == id) return true;
    if (t->n_eog >= TOK_MAX_EOG) return false;
    t->eog[t->n_eog++] = id;
    return true;
}

llv_status llv_tokenizer_create(const llv_tokenizer_desc *d, llv_tokenizer **out, llv_error *err) {
    *out = NULL;
    if (!d->model || strcmp(d->model, "gpt2") != 0)
        return llv_err(err, LLV_ERR_UNSUPPORTED, "tokenizer: model '%s' is not supported (expected 'gpt2', byte-level BPE)",
                       d->model ? d->model : "(none)");
    const char *pre = d->pre ? d->pre : "default";
    const pre_kind *pk = find_pre(pre);
    if (!pk)
        return llv_err(err, LLV_ERR_UNSUPPORTED,
                       "tokenizer: pre-tokenizer '%.64s' (tokenizer.ggml.pre) is not supported; llv knows llama-bpe, "
                       "smollm, gpt-2, qwen2, default and their aliases", pre);
    bool llama3 = pk->llama3;
    if (d->n_tokens == 0 || d->n_tokens > TOK_MAX_TOKENS)
        return llv_err(err, LLV_ERR_FORMAT, "tokenizer: %zu tokens (expected 1..%u)", d->n_tokens, TOK_MAX_TOKENS);
    llv_tokenizer *t = calloc(1, sizeof *t);
    if (!t) return llv_err(err, LLV_ERR_OUT_OF_MEMORY, "tokenizer: out of memory");
    t->n_tokens = (int32_t)d->n_tokens;
    t->ignore_merges = llama3;
    llv_status st = build_tokens(t, d, err);
    if (st == LLV_OK) st = build_maps(t, d, err);
    if (st == LLV_OK) st = build_merges(t, d, err);
    if (st != LLV_OK) {
        llv_tokenizer_free(t);
        return st;
    }
    const struct { const char *what; int32_t v; } ids[] = {
        {"bos", d->bos_id}, {"eos", d->eos_id}, {"padding", d->pad_id}, {"eot", d->eot_id}, {"eom", d->eom_id}};
    for (size_t i = 0; i < sizeof ids / sizeof ids[0]; i++)
        if (ids[i].v < -1 || ids[i].v >= t->n_tokens) {
            int32_t nt = t->n_tokens;
            llv_tokenizer_free(t);
            return llv_err(err, LLV_ERR_FORMAT, "tokenizer: %s token id %d is outside the vocabulary (0..%d)",
                           ids[i].what, (int)ids[i].v, (int)nt - 1);
        }
    t->bos = d->bos_id;
    t->eos = d->eos_id;
    t->pad = d->pad_id;
    t->add_bos = d->add_bos < 0 ? llama3 : d->add_bos != 0;
    bool ok = true;
    if (d->eog_ids && d->n_eog) {
        for (size_t i = 0; i < d->n_eog; i++) {
            if (d->eog_ids[i] < 0 || d->eog_ids[i] >= t->n_tokens) {
                llv_tokenizer_free(t);
                return llv_err(err, LLV_ERR_FORMAT, "tokenizer: eos_token_ids[%zu] = %d is outside the vocabulary", i,
                               (int)d->eog_ids[i]);
            }
            ok = ok && eog_add(t, d->eog_ids[i]);
        }
    } else {
        /* llama.cpp's rule (llama-vocab.cpp): eos, eot, eom, and the control tokens of
         * these names (end-of-turn texts, and the fill-in-the-middle pad/repo/separator
         * tokens, which it also stops on); Llama 3 Instruct stops on all of its three */
        static const char *const names[] = {"<|eot_id|>", "<|eom_id|>", "<|end_of_text|>", "<|im_end|>",
                                            "<|endoftext|>", "<|end|>", "<end_of_turn>", "<EOT>", "_<EOT>",
                                            "<end_of_utterance>", "<|fim_pad|>", "<fim-pad>", "<PAD>",
                                            "<|fim_repo|>", "<|repo_name|>", "<fim-repo>", "<REPO>", "<reponame>",
                                            "<|file_sep|>"};
        ok = eog_add(t, d->eos_id) && eog_add(t, d->eot_id) && eog_add(t, d->eom_id);
        for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
            int32_t id = llv_tokenizer_find(t, names[i]);
            if (id >= 0 && t->type[id] == LLV_TOKEN_CONTROL) ok = ok && eog_add(t, id);
        }
    }
    if (!ok) {
        llv_tokenizer_free(t);
        return llv_err(err, LLV_ERR_LIMIT, "tokenizer: more than %d end-of-generation tokens", TOK_MAX_EOG);
    }
    for (int i = 0; i < PRE_MAX_REGEX && pk->regex[i]; i++) {
        int ec = 0;
        PCRE2_SIZE eo = 0;
        t->re[i] = pcre2_compile((PCRE2_SPTR)pk->regex[i], PCRE2_ZERO_TERMINATED, PCRE2_UTF | PCRE2_UCP, &ec, &eo, NULL);
        if (!t->re[i]) {
            PCRE2_UCHAR msg[256];
            pcre2_get_error_message(ec, msg, sizeof msg);
            llv_tokenizer_free(t);
            return llv_err(err, LLV_ERR_INTERNAL, "tokenizer: PCRE2 rejected pre-tokenizer regex %d at %zu: %s", i,
                           (size_t)eo, (const char *)msg);
        }
        t->n_re = i + 1;
        t->jit[i] = pcre2_jit_compile(t->re[i], PCRE2_JIT_COMPLETE) == 0; /* else the interpreter still works */
    }
    *out = t;
    return LLV_OK;
}

/* ------------------------------------------------------------------------- */
/* loading from GGUF                                                         */
/* ------------------------------------------------------------------------- */

/* Optional integer key: *v stays -1 when absent. */
static llv_status opt_id(const llv_gguf *g, const char *key, int32_t *v, llv_error *err) {
    *v = -1;
    if (llv_gguf_find_key(g, key) < 0) return LLV_OK;
    int64_t x;
    llv_status st = llv_gguf_get_i64(g, key, &x, err);
    if (st != LLV_OK) return st;
    if (x < 0 || x > INT32_MAX) return llv_err(err, LLV_ERR_FORMAT, "%s = %lld is not a token id", key, (long long)x);
    *v = (int32_t)x;
    return LLV_OK;
}

/* String array key into pointer/length arrays (malloc'd). */
static llv_status str_array(const llv_gguf *g, const char *key, bool required, const char ***strs, size_t **lens,
                            size_t *n, llv_error *err) {
    *strs = NULL;
    *lens = NULL;
    *n = 0;
    int64_t k = llv_gguf_find_key(g, key);
    if (k < 0) return required ? llv_err(err, LLV_ERR_FORMAT, "tokenizer: key %s is missing", key) : LLV_OK;
    if (llv_gguf_kv_type(g, k) != LLV_GGUF_ARRAY || llv_gguf_arr_type(g, k) != LLV_GGUF_STRING)
        return llv_err(err, LLV_ERR_FORMAT, "tokenizer: key %s must be an array of strings", key);
    uint64_t m = llv_gguf_arr_n(g, k);
    if (m > (uint64_t)INT32_MAX) return llv_err(err, LLV_ERR_LIMIT, "tokenizer: %s has %llu entries", key,
                                                (unsigned long long)m);
    *strs = malloc((m ? m : 1) * sizeof **strs);
    *lens = malloc((m ? m : 1) * sizeof **lens);
    if (!*strs || !*lens) return llv_err(err, LLV_ERR_OUT_OF_MEMORY, "tokenizer: out of memory");
    for (uint64_t j = 0; j < m; j++) {
        llv_gguf_str s = llv_gguf_arr_str(g, k, j);
        if (!s.ptr && s.len) return llv_err(err, LLV_ERR_FORMAT, "tokenizer: %s[%llu] is unreadable", key,
                                            (unsigned long long)j);
        (*strs)[j] = s.ptr ? s.ptr : "";
        (*lens)[j] = (size_t)s.len;
    }
    *n = (size_t)m;
    return LLV_OK;
}

llv_status llv_tokenizer_load(const llv_gguf *g, llv_tokenizer **out, llv_error *err) {
    *out = NULL;
    if (llv_gguf_find_key(g, "tokenizer.ggml.model") < 0) return LLV_OK;
    llv_tokenizer_desc d;
    memset(&d, 0, sizeof d);
    char model[64] = "", pre[64] = "";
    const char **toks = NULL, **merges = NULL;
    size_t *tlens = NULL, *mlens = NULL;
    int32_t *types = NULL;
    int64_t *tmp = NULL;
    int32_t eog[TOK_MAX_EOG];
    llv_gguf_str s;
    llv_status st = llv_gguf_get_str(g, "tokenizer.ggml.model", &s, err);
    if (st != LLV_OK) goto done;
    snprintf(model, sizeof model, "%.*s", (int)LLV_MIN(s.len, 63), s.ptr);
    d.model = model;
    if (llv_gguf_find_key(g, "tokenizer.ggml.pre") >= 0) {
        if ((st = llv_gguf_get_str(g, "tokenizer.ggml.pre", &s, err)) != LLV_OK) goto done;
        snprintf(pre, sizeof pre, "%.*s", (int)LLV_MIN(s.len, 63), s.ptr);
        d.pre = pre;
    }
    if (strcmp(model, "gpt2") != 0) {
        st = llv_err(err, LLV_ERR_UNSUPPORTED, "tokenizer: tokenizer.ggml.model '%s' is not supported (expected 'gpt2')",
                     model);
        goto done;
    }
    if ((st = str_array(g, "tokenizer.ggml.tokens", true, &toks, &tlens, &d.n_tokens, err)) != LLV_OK) goto done;
    if ((st = str_array(g, "tokenizer.ggml.merges", true, &merges, &mlens, &d.n_merges, err)) != LLV_OK) goto done;
    d.tokens = toks;
    d.token_lens = tlens;
    d.merges = merges;
    d.merge_lens = mlens;
    int64_t k = llv_gguf_find_key(g, "tokenizer.ggml.token_type");
    if (k >= 0) {
        if (llv_gguf_kv_type(g, k) != LLV_GGUF_ARRAY || llv_gguf_arr_n(g, k) != d.n_tokens) {
            st = llv_err(err, LLV_ERR_FORMAT, "tokenizer: tokenizer.ggml.token_type must be an array of %zu integers",
                         d.n_tokens);
            goto done;
        }
        size_t n = 0;
        tmp = malloc((d.n_tokens ? d.n_tokens : 1) * sizeof *tmp);
        types = malloc((d.n_tokens ? d.n_tokens : 1) * sizeof *types);
        if (!tmp || !types) {
            st = llv_err(err, LLV_ERR_OUT_OF_MEMORY, "tokenizer: out of memory");
            goto done;
        }
        st = llv_gguf_get_arr_i64(g, "tokenizer.ggml.token_type", tmp, d.n_tokens, &n, err);
        if (st != LLV_OK) goto done;
        for (size_t i = 0; i < d.n_tokens; i++) {
            if (tmp[i] < 1 || tmp[i] > 6) {
                st = llv_err(err, LLV_ERR_FORMAT, "tokenizer: token_type[%zu] = %lld (expected 1..6)", i,
                             (long long)tmp[i]);
                goto done;
            }
            types[i] = (int32_t)tmp[i];
        }
        d.token_types = types;
    }
    if ((st = opt_id(g, "tokenizer.ggml.bos_token_id", &d.bos_id, err)) != LLV_OK) goto done;
    if ((st = opt_id(g, "tokenizer.ggml.eos_token_id", &d.eos_id, err)) != LLV_OK) goto done;
    if ((st = opt_id(g, "tokenizer.ggml.padding_token_id", &d.pad_id, err)) != LLV_OK) goto done;
    if ((st = opt_id(g, "tokenizer.ggml.eot_token_id", &d.eot_id, err)) != LLV_OK) goto done;
    if ((st = opt_id(g, "tokenizer.ggml.eom_token_id", &d.eom_id, err)) != LLV_OK) goto done;
    k = llv_gguf_find_key(g, "tokenizer.ggml.eos_token_ids");
    if (k >= 0) {
        int64_t v[TOK_MAX_EOG];
        size_t n = 0;
        if (llv_gguf_kv_type(g, k) != LLV_GGUF_ARRAY || llv_gguf_arr_n(g, k) > TOK_MAX_EOG) {
            st = llv_err(err, LLV_ERR_FORMAT, "tokenizer: tokenizer.ggml.eos_token_ids must be an array of at most %d ids",
                         TOK_MAX_EOG);
            goto done;
        }
        if ((st = llv_gguf_get_arr_i64(g, "tokenizer.ggml.eos_token_ids", v, TOK_MAX_EOG, &n, err)) != LLV_OK)
            goto done;
        for (size_t i = 0; i < n; i++) {
            if (v[i] < 0 || v[i] > INT32_MAX) {
                st = llv_err(err, LLV_ERR_FORMAT, "tokenizer: eos_token_ids[%zu] = %lld", i, (long long)v[i]);
                goto done;
            }
            eog[i] = (int32_t)v[i];
        }
        d.eog_ids = eog;
        d.n_eog = n;
    }
    d.add_bos = -1;
    if (llv_gguf_find_key(g, "tokenizer.ggml.add_bos_token") >= 0) {
        bool b;
        if ((st = llv_gguf_get_bool(g, "tokenizer.ggml.add_bos_token", &b, err)) != LLV_OK) goto done;
        d.add_bos = b;
    }
    st = llv_tokenizer_create(&d, out, err);
done:
    free(toks);
    free(tlens);
    free(merges);
    free(mlens);
    free(types);
    free(tmp);
    return st;
}

/* ------------------------------------------------------------------------- */
/* accessors                                                                 */
/* ------------------------------------------------------------------------- */

int32_t llv_tokenizer_n_tokens(const llv_tokenizer *t) { return t->n_tokens; }
int32_t llv_tokenizer_bos(const llv_tokenizer *t) { return t->bos; }
int32_t llv_tokenizer_eos(const llv_tokenizer *t) { return t->eos; }
int32_t llv_tokenizer_pad(const llv_tokenizer *t) { return t->pad; }
bool    llv_tokenizer_add_bos(const llv_tokenizer *t) { return t->add_bos; }

int32_t llv_tokenizer_eog(const llv_tokenizer *t, const int32_t **ids) {
    *ids = t->eog;
    return t->n_eog;
}

bool llv_tokenizer_is_special(const llv_tokenizer *t, int32_t id) {
    return id >= 0 && id < t->n_tokens && t->type[id] == LLV_TOKEN_CONTROL;
}

int32_t llv_tokenizer_find(const llv_tokenizer *t, const char *text) {
    size_t n = strlen(text);
    int32_t id = slot_find(t, t->specials, t->special_mask, (const unsigned char *)text, n);
    if (id >= 0) return id;
    return slot_find(t, t->pieces, t->piece_mask, (const unsigned char *)text, n);
}

const char *llv_tokenizer_token_bytes(const llv_tokenizer *t, int32_t id, size_t *n) {
    if (id < 0 || id >= t->n_tokens) {
        if (n) *n = 0;
        return NULL;
    }
    size_t m;
    const char *p = tok_ptr(t, id, &m);
    if (n) *n = m;
    return p;
}

/* ------------------------------------------------------------------------- */
/* encoding                                                                  */
/* ------------------------------------------------------------------------- */

typedef struct enc_state {
    const llv_tokenizer *t;
    int32_t             *ids;
    size_t               n, cap;
    pcre2_match_data    *md;
    pcre2_match_context *mctx;
    pcre2_jit_stack     *jstack;
    /* heap BPE scratch for long pieces */
    void  *scratch;
    size_t scratch_cap;
} enc_state;

static inline void emit(enc_state *e, int32_t id) { e->ids[e->n++] = id; } /* cap >= bytes + 1 */

/* BPE for short pieces: array of parts, rescanned for the lowest rank. */
static void bpe_small(enc_state *e, const unsigned char *p, size_t n) {
    const llv_tokenizer *t = e->t;
    int32_t ids[BPE_SMALL], rk[BPE_SMALL], res[BPE_SMALL];
    size_t m = n;
    for (size_t i = 0; i < m; i++) ids[i] = t->byte_id[p[i]];
    for (size_t i = 0; i + 1 < m; i++) {
        const merge_slot *s = merge_find(t, ids[i], ids[i + 1]);
        rk[i] = s ? s->rank : INT32_MAX;
        res[i] = s ? s->result : -1;
    }
    while (m > 1) {
        int32_t best = INT32_MAX;
        size_t bi = 0;
        for (size_t i = 0; i + 1 < m; i++)
            if (rk[i] < best) {
                best = rk[i];
                bi = i;
            }
        if (best == INT32_MAX) break;
        ids[bi] = res[bi];
        size_t tail = m - bi - 2;
        memmove(&ids[bi + 1], &ids[bi + 2], tail * sizeof ids[0]);
        memmove(&rk[bi + 1], &rk[bi + 2], (tail > 0 ? tail - 1 : 0) * sizeof rk[0]);
        memmove(&res[bi + 1], &res[bi + 2], (tail > 0 ? tail - 1 : 0) * sizeof res[0]);
        m--;
        for (size_t i = bi > 0 ? bi - 1 : 0; i <= bi && i + 1 < m; i++) {
            const merge_slot *s = merge_find(t, ids[i], ids[i + 1]);
            rk[i] = s ? s->rank : INT32_MAX;
            res[i] = s ? s->result : -1;
        }
    }
    for (size_t i = 0; i < m; i++) emit(e, ids[i]);
}

typedef struct bpe_node { int32_t id, prev, next; } bpe_node;

/* Heap entries pack (rank, position) into one integer: the order is by rank,
 * then leftmost position, exactly HF's tie-break. */
static void heap_push(uint64_t *h, size_t *n, uint64_t x) {
    size_t i = (*n)++;
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (x >= h[p]) break;
        h[i] = h[p];
        i = p;
    }
    h[i] = x;
}

static uint64_t heap_pop(uint64_t *h, size_t *n) {
    uint64_t top = h[0], x = h[--*n];
    size_t i = 0;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= *n) break;
        if (c + 1 < *n && h[c + 1] < h[c]) c++;
        if (h[c] >= x) break;
        h[i] = h[c];
        i = c;
    }
    if (*n) h[i] = x;
    return top;
}

static void heap_pair(const llv_tokenizer *t, uint64_t *h, size_t *nh, const bpe_node *nodes, int32_t i) {
    int32_t j = nodes[i].next;
    if (j < 0) return;
    const merge_slot *s = merge_find(t, nodes[i].id, nodes[j].id);
    if (s) heap_push(h, nh, ((uint64_t)(uint32_t)s->rank << 32) | (uint32_t)i);
}

/* BPE for long pieces: linked list of parts + min-heap of candidate merges.
 * An entry is stale when the pair now at its position has another rank (a
 * merge's rank identifies its pair; dead nodes have id -1). Each merge pops
 * one entry and pushes at most two, so the heap never exceeds 2n entries. */
static llv_status bpe_large(enc_state *e, const unsigned char *p, size_t n, llv_error *err) {
    const llv_tokenizer *t = e->t;
    if (n > INT32_MAX) return llv_err(err, LLV_ERR_LIMIT, "tokenize: a single pre-token of %zu bytes is too long", n);
    size_t need = n * (sizeof(bpe_node) + 2 * sizeof(uint64_t)); /* n < 2^31: no overflow on 64-bit */
    if (need > e->scratch_cap) {
        void *s = realloc(e->scratch, need);
        if (!s) return llv_err(err, LLV_ERR_OUT_OF_MEMORY, "tokenize: out of memory for a %zu-byte pre-token", n);
        e->scratch = s;
        e->scratch_cap = need;
    }
    uint64_t *h = e->scratch;
    bpe_node *nodes = (bpe_node *)(h + 2 * n);
    size_t nh = 0;
    for (size_t i = 0; i < n; i++)
        nodes[i] = (bpe_node){t->byte_id[p[i]], (int32_t)i - 1, i + 1 < n ? (int32_t)i + 1 : -1};
    for (size_t i = 0; i + 1 < n; i++) heap_pair(t, h, &nh, nodes, (int32_t)i);
    while (nh) {
        uint64_t x = heap_pop(h, &nh);
        int32_t rank = (int32_t)(x >> 32), i = (int32_t)(uint32_t)x, j = nodes[i].next;
        if (nodes[i].id < 0 || j < 0) continue;
        const merge_slot *s = merge_find(t, nodes[i].id, nodes[j].id);
        if (!s || s->rank != rank) continue; /* stale */
        nodes[i].id = s->result;
        nodes[i].next = nodes[j].next;
        if (nodes[j].next >= 0) nodes[nodes[j].next].prev = i;
        nodes[j].id = -1;
        if (nodes[i].prev >= 0) heap_pair(t, h, &nh, nodes, nodes[i].prev);
        heap_pair(t, h, &nh, nodes, i);
    }
    for (int32_t i = 0; i >= 0; i = nodes[i].next) emit(e, nodes[i].id);
    return LLV_OK;
}

static llv_status encode_piece(enc_state *e, const unsigned char *p, size_t n, llv_error *err);

/* A piece with bytes the vocabulary lacks: BPE on the rest, the neighbours of a
 * dropped byte adjacent (HF's BPE skips a character without a token). */
static llv_status encode_piece_dropping(enc_state *e, const unsigned char *p, size_t n, llv_error *err) {
    unsigned char small[256], *buf = n <= sizeof small ? small : malloc(n);
    if (!buf) return llv_err(err, LLV_ERR_OUT_OF_MEMORY, "tokenize: out of memory for a %zu-byte pre-token", n);
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (e->t->byte_id[p[i]] >= 0) buf[k++] = p[i];
    llv_status st = k ? encode_piece(e, buf, k, err) : LLV_OK;
    if (buf != small) free(buf);
    return st;
}

static llv_status encode_piece(enc_state *e, const unsigned char *p, size_t n, llv_error *err) {
    const llv_tokenizer *t = e->t;
    if (t->missing_bytes)
        for (size_t i = 0; i < n; i++)
            if (t->byte_id[p[i]] < 0) return encode_piece_dropping(e, p, n, err);
    if (n == 1) {
        emit(e, t->byte_id[p[0]]);
        return LLV_OK;
    }
    if (t->ignore_merges) {
        int32_t id = slot_find(t, t->pieces, t->piece_mask, p, n);
        if (id >= 0) {
            emit(e, id);
            return LLV_OK;
        }
    }
    if (n <= BPE_SMALL) {
        bpe_small(e, p, n);
        return LLV_OK;
    }
    return bpe_large(e, p, n, err);
}

/* Regex pre-tokenization of a valid UTF-8 run by regex `level` and those
 * after it: matches and the gaps between them are pieces of their own. */
static llv_status split_run(enc_state *e, const unsigned char *s, size_t n, int level, llv_error *err);

static llv_status next_level(enc_state *e, const unsigned char *s, size_t n, int level, llv_error *err) {
    return level + 1 < e->t->n_re ? split_run(e, s, n, level + 1, err) : encode_piece(e, s, n, err);
}

static llv_status split_run(enc_state *e, const unsigned char *s, size_t n, int level, llv_error *err) {
    const llv_tokenizer *t = e->t;
    const pcre2_code *re = t->re[level];
    size_t off = 0;
    while (off < n) {
        int rc = t->jit[level] ? pcre2_jit_match(re, s, n, off, PCRE2_NO_UTF_CHECK, e->md, e->mctx)
                               : pcre2_match(re, s, n, off, PCRE2_NO_UTF_CHECK, e->md, e->mctx);
        if (rc == PCRE2_ERROR_JIT_STACKLIMIT && !e->jstack) {
            /* deep backtracking: give JIT a bigger stack, once per call */
            e->jstack = pcre2_jit_stack_create(32 * 1024, 64 * 1024 * 1024, NULL);
            if (!e->jstack) return llv_err(err, LLV_ERR_OUT_OF_MEMORY, "tokenize: cannot allocate a PCRE2 JIT stack");
            pcre2_jit_stack_assign(e->mctx, NULL, e->jstack);
            continue;
        }
        if (rc == PCRE2_ERROR_NOMATCH) return next_level(e, s + off, n - off, level, err); /* unmatched tail */
        if (rc < 0) {
            PCRE2_UCHAR msg[256];
            pcre2_get_error_message(rc, msg, sizeof msg);
            return llv_err(err, LLV_ERR_INTERNAL, "tokenize: PCRE2 match failed at byte %zu: %s", off,
                           (const char *)msg);
        }
        PCRE2_SIZE *ov = pcre2_get_ovector_pointer(e->md);
        size_t a = ov[0], b = ov[1];
        llv_status st;
        if (a > off && (st = next_level(e, s + off, a - off, level, err)) != LLV_OK) return st; /* the gap */
        if (b == a) { /* empty match (not possible with our patterns): take one character */
            uint32_t cp;
            size_t l = llv_utf8_decode(s + a, n - a, &cp);
            b = a + (l ? l : 1);
        }
        if ((st = next_level(e, s + a, b - a, level, err)) != LLV_OK) return st;
        off = b;
    }
    return LLV_OK;
}

/* A segment without special tokens: valid UTF-8 runs go through the regex,
 * each invalid byte is a piece of its own. */
static llv_status encode_segment(enc_state *e, const unsigned char *s, size_t n, llv_error *err) {
    while (n) {
        size_t v = llv_utf8_valid_prefix(s, n);
        if (v) {
            llv_status st = split_run(e, s, v, 0, err);
            if (st != LLV_OK) return st;
            s += v;
            n -= v;
        }
        if (n) {
            if (e->t->byte_id[s[0]] >= 0) emit(e, e->t->byte_id[s[0]]);
            s++;
            n--;
        }
    }
    return LLV_OK;
}

/* Leftmost-longest special token at or after `from`; returns its start (or n)
 * and sets *id and *len. mask: 1 = USER_DEFINED only, 3 = CONTROL too. */
static size_t find_special(const llv_tokenizer *t, const unsigned char *s, size_t n, size_t from, unsigned mask,
                           int32_t *id, size_t *len) {
    for (size_t i = from; i < n; i++) {
        if (!(t->spec_first[s[i]] & mask)) continue;
        for (size_t k = 0; k < t->n_spec_lens; k++) {
            size_t L = t->spec_lens[k];
            if (L > n - i) continue;
            unsigned char last = s[i + L - 1];
            if (!(t->spec_last[k][last >> 6] & (1ull << (last & 63)))) continue;
            int32_t x = slot_find(t, t->specials, t->special_mask, s + i, L);
            if (x < 0) continue;
            if (t->type[x] == LLV_TOKEN_CONTROL && !(mask & 2)) continue;
            *id = x;
            *len = L;
            return i;
        }
    }
    return n;
}

llv_status llv_tokenizer_encode(const llv_tokenizer *t, const char *text, size_t n, uint32_t flags, int32_t **out,
                                size_t *n_out, llv_error *err) {
    *out = NULL;
    *n_out = 0;
    if (!text && n) return llv_err(err, LLV_ERR_INVALID_ARGUMENT, "tokenize: text is NULL but n_bytes is %zu", n);
    /* every token covers >= 1 byte, so n + 1 ids always suffice */
    size_t cap, bytes;
    if (!llv_add_size(n, 1, &cap) || !llv_mul_size(cap, sizeof(int32_t), &bytes))
        return llv_err(err, LLV_ERR_LIMIT, "tokenize: input of %zu bytes is too large", n);
    enc_state e;
    memset(&e, 0, sizeof e);
    e.t = t;
    e.cap = cap;
    e.ids = malloc(bytes);
    e.md = pcre2_match_data_create(16, NULL); /* only the whole match is read */
    e.mctx = pcre2_match_context_create(NULL);
    if (e.mctx) pcre2_set_match_limit(e.mctx, UINT32_MAX); /* a 10 MB whitespace run backtracks 10M steps once */
    llv_status st = LLV_OK;
    if (!e.ids || !e.md || !e.mctx) {
        st = llv_err(err, LLV_ERR_OUT_OF_MEMORY, "tokenize: out of memory for %zu bytes of text", n);
        goto done;
    }
    if ((flags & LLV_TOKENIZE_ADD_BOS) && t->add_bos && t->bos >= 0) emit(&e, t->bos);
    const unsigned char *s = (const unsigned char *)text;
    unsigned mask = (flags & LLV_TOKENIZE_PARSE_SPECIAL) ? 3u : (t->has_user_defined ? 1u : 0u);
    size_t pos = 0;
    while (pos < n && st == LLV_OK) {
        int32_t id = -1;
        size_t len = 0;
        size_t at = mask ? find_special(t, s, n, pos, mask, &id, &len) : n;
        st = encode_segment(&e, s + pos, at - pos, err);
        if (at < n && st == LLV_OK) emit(&e, id);
        pos = at + len;
    }
    if (st == LLV_OK && e.n < e.cap / 2 && e.n > 4096) { /* give back the worst-case reservation */
        int32_t *shrunk = realloc(e.ids, e.n * sizeof *e.ids);
        if (shrunk) e.ids = shrunk;
    }
done:
    if (e.md) pcre2_match_data_free(e.md);
    if (e.mctx) pcre2_match_context_free(e.mctx);
    if (e.jstack) pcre2_jit_stack_free(e.jstack);
    free(e.scratch);
    if (st != LLV_OK) {
        free(e.ids);
        return st;
    }
    if (e.n == 0) { /* malloc(0) may return NULL: keep a valid pointer */
        free(e.ids);
        e.ids = malloc(sizeof(int32_t));
        if (!e.ids) return llv_err(err, LLV_ERR_OUT_OF_MEMORY, "tokenize: out of memory");
    }
    *out = e.ids;
    *n_out = e.n;
    return LLV_OK;
}

/* ------------------------------------------------------------------------- */
/* streaming UTF-8 detokenizer (WHATWG decoder: maximal-subpart U+FFFD)      */
/* ------------------------------------------------------------------------- */

static inline void put(char *out, size_t cap, size_t *o, const void *p, size_t n) {
    if (*o + n > cap) n = *o < cap ? cap - *o : 0;
    memcpy(out + *o, p, n);
    *o += n;
}

static const char FFFD[3] = {(char)0xef, (char)0xbf, (char)0xbd};

size_t llv_detok_push(llv_detok *d, const char *bytes, size_t n, char *out, size_t cap) {
    size_t o = 0;
    const unsigned char *p = (const unsigned char *)bytes;
    for (size_t i = 0; i < n;) {
        unsigned char c = p[i];
        if (d->n_pending == 0) {
            if (c < 0x80) { /* ASCII run */
                size_t j = i + 1;
                while (j < n && p[j] < 0x80) j++;
                put(out, cap, &o, p + i, j - i);
                i = j;
                continue;
            }
            size_t need = llv_utf8_seq_len(c);
            if (need == 0) put(out, cap, &o, FFFD, 3);
            else {
                d->pending[0] = c;
                d->n_pending = 1;
            }
            i++;
            continue;
        }
        if (llv_utf8_cont_ok(d->pending[0], d->n_pending, c)) {
            d->pending[d->n_pending++] = c;
            if (d->n_pending == llv_utf8_seq_len(d->pending[0])) {
                put(out, cap, &o, d->pending, d->n_pending);
                d->n_pending = 0;
            }
            i++;
        } else {
            put(out, cap, &o, FFFD, 3); /* the incomplete sequence; c is looked at again */
            d->n_pending = 0;
        }
    }
    return o;
}

size_t llv_detok_flush(llv_detok *d, char *out, size_t cap) {
    size_t o = 0;
    if (d->n_pending) put(out, cap, &o, FFFD, 3);
    d->n_pending = 0;
    return o;
}
