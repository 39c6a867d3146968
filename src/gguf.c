/* gguf.c - GGUF v3 reader (mmap, zero-copy) and streaming writer.
 *
 * Reader: every count, length, offset and shape read from the file is checked
 * against the bytes that remain and for overflow before it is used; counts
 * are also bounded by the minimum encoded size of an entry, so a hostile
 * count cannot force a large allocation. String arrays get an offset index
 * at open so the j-th string is O(1).
 *
 * Writer: KVs and tensor infos are declared first, then tensor data is
 * streamed in declaration order into a temporary file next to the target,
 * which is renamed into place by finish. Tensor data is never buffered. */
#include "gguf.h"

#include "mmap.h"
#include "utf8.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define GG_MAGIC "GGUF"
#define GG_VERSION 3u
#define GG_DEFAULT_ALIGN 32u
#define GG_HEADER_BYTES 24u               /* magic, version, n_tensors, n_kv */
#define GG_MIN_KV_BYTES (8u + 1 + 4 + 1)  /* key len, 1-byte key, type, 1-byte value */
#define GG_MIN_TI_BYTES (8u + 1 + 4 + 8 + 4 + 8) /* name, n_dims, ne[0], type, offset */

/* ------------------------------------------------------------------------ */
/* shared helpers                                                            */

static size_t gg_vtype_size(uint32_t t) {
    switch (t) {
    case LLV_GGUF_U8: case LLV_GGUF_I8: case LLV_GGUF_BOOL: return 1;
    case LLV_GGUF_U16: case LLV_GGUF_I16: return 2;
    case LLV_GGUF_U32: case LLV_GGUF_I32: case LLV_GGUF_F32: return 4;
    case LLV_GGUF_U64: case LLV_GGUF_I64: case LLV_GGUF_F64: return 8;
    default: return 0; /* STRING, ARRAY or unknown */
    }
}

static const char *gg_vtype_name(uint32_t t) {
    static const char *names[] = {"u8", "i8", "u16", "i16", "u32", "i32", "f32", "bool", "string", "array",
                                  "u64", "i64", "f64"};
    return t < sizeof names / sizeof names[0] ? names[t] : "unknown";
}

static bool gg_is_int(uint32_t t) {
    return t == LLV_GGUF_U8 || t == LLV_GGUF_I8 || t == LLV_GGUF_U16 || t == LLV_GGUF_I16 || t == LLV_GGUF_U32 ||
           t == LLV_GGUF_I32 || t == LLV_GGUF_U64 || t == LLV_GGUF_I64;
}

/* Why a key or tensor name is unacceptable, or NULL if it is fine. */
static const char *gg_name_problem(const unsigned char *s, uint64_t n) {
    if (n == 0) return "is empty";
    if (n > LLV_GGUF_MAX_KEY) return "is longer than 65535 bytes";
    if (memchr(s, 0, (size_t)n)) return "contains a NUL byte";
    if (!llv_utf8_valid(s, (size_t)n)) return "is not valid UTF-8";
    return NULL;
}

/* Names of ggml types llv does not compute with (for messages). */
static const char *gg_ggml_type_name(uint32_t t) {
    static const char *names[] = {
        [4] = NULL, [5] = NULL, /* removed from ggml: Q4_2, Q4_3 */
        [9] = "Q8_1", [10] = "Q2_K", [11] = "Q3_K", [13] = "Q5_K", [15] = "Q8_K",
        [16] = "IQ2_XXS", [17] = "IQ2_XS", [18] = "IQ3_XXS", [19] = "IQ1_S", [20] = "IQ4_NL", [21] = "IQ3_S",
        [22] = "IQ2_S", [23] = "IQ4_XS", [29] = "IQ1_M", [34] = "TQ1_0", [35] = "TQ2_0", [39] = "MXFP4",
    };
    return t < sizeof names / sizeof names[0] ? names[t] : NULL;
}

static uint16_t gg_rd16(const uint8_t *p) { uint16_t v; memcpy(&v, p, 2); return v; }
static uint32_t gg_rd32(const uint8_t *p) { uint32_t v; memcpy(&v, p, 4); return v; }
static uint64_t gg_rd64(const uint8_t *p) { uint64_t v; memcpy(&v, p, 8); return v; }

/* ------------------------------------------------------------------------ */
/* reader                                                                    */

typedef struct gg_kv {
    char          *key;      /* NUL-terminated copy */
    uint32_t       type;
    uint32_t       arr_type;
    uint64_t       arr_n;
    size_t         val_off;  /* file offset of the value (after the type) */
    size_t         val_end;  /* file offset just past the value */
    size_t        *str_off;  /* string arrays: arr_n + 1 offsets of the length fields (last = end) */
} gg_kv;

struct llv_gguf {
    const uint8_t *base;
    size_t         size;
    llv_mapping    map;       /* the file's mapping; zeroed for llv_gguf_open_memory */
    uint32_t       version;
    size_t         alignment;
    size_t         data_off;
    gg_kv         *kvs;
    int64_t        n_kv;
    int64_t       *kv_sorted; /* kv indices sorted by key */
    llv_tensor    *tensors;
    int64_t        n_tensors;
    int64_t       *t_sorted;  /* tensor indices sorted by name */
};

typedef struct gg_rd { const uint8_t *p; size_t size, pos; } gg_rd;

static bool rd_has(const gg_rd *r, uint64_t n) { return n <= (uint64_t)(r->size - r->pos); }

/* "<what> at byte P: need N bytes, only M remain (file is S bytes)" */
static llv_status gg_eof(llv_error *err, const gg_rd *r, uint64_t need, const char *fmt, ...) LLV_PRINTF(4, 5);
static llv_status gg_eof(llv_error *err, const gg_rd *r, uint64_t need, const char *fmt, ...) {
    char what[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    return llv_err(err, LLV_ERR_FORMAT, "gguf: %s at byte %zu: need %llu bytes, only %zu remain (file is %zu bytes)",
                   what, r->pos, (unsigned long long)need, r->size - r->pos, r->size);
}

void llv_gguf_close(llv_gguf *g) {
    if (!g) return;
    for (int64_t i = 0; i < g->n_kv; i++) {
        free(g->kvs[i].key);
        free(g->kvs[i].str_off);
    }
    free(g->kvs);
    free(g->kv_sorted);
    for (int64_t i = 0; i < g->n_tensors; i++) free((char *)g->tensors[i].name);
    free(g->tensors);
    free(g->t_sorted);
    llv_file_unmap(&g->map);
    free(g);
}

/* Reads a string header (u64 length) and checks its bytes are present. */
static llv_status rd_string(gg_rd *r, const uint8_t **s, uint64_t *len, llv_error *err, const char *what) {
    if (!rd_has(r, 8)) return gg_eof(err, r, 8, "%s: string length", what);
    uint64_t n = gg_rd64(r->p + r->pos);
    r->pos += 8;
    if (!rd_has(r, n)) {
        r->pos -= 8;
        return llv_err(err, LLV_ERR_FORMAT, "gguf: %s at byte %zu: string length %llu runs past the end of the file "
                       "(%zu bytes remain after the length)", what, r->pos, (unsigned long long)n,
                       r->size - r->pos - 8);
    }
    *s = r->p + r->pos;
    *len = n;
    r->pos += (size_t)n;
    return LLV_OK;
}

/* Parses one KV value of type `type` for key kv->key, at r->pos. */
static llv_status gg_parse_value(gg_rd *r, gg_kv *kv, llv_error *err) {
    const char *key = kv->key;
    size_t es = gg_vtype_size(kv->type);
    kv->val_off = r->pos;
    if (es) {
        if (!rd_has(r, es)) return gg_eof(err, r, es, "key '%s': %s value", key, gg_vtype_name(kv->type));
        r->pos += es;
    } else if (kv->type == LLV_GGUF_STRING) {
        const uint8_t *s;
        uint64_t n;
        char what[96];
        snprintf(what, sizeof what, "key '%.60s': value", key);
        llv_status st = rd_string(r, &s, &n, err, what);
        if (st) return st;
    } else if (kv->type == LLV_GGUF_ARRAY) {
        if (!rd_has(r, 12)) return gg_eof(err, r, 12, "key '%s': array element type and count", key);
        kv->arr_type = gg_rd32(r->p + r->pos);
        kv->arr_n = gg_rd64(r->p + r->pos + 4);
        size_t at = r->pos;
        r->pos += 12;
        if (kv->arr_type == LLV_GGUF_ARRAY)
            return llv_err(err, LLV_ERR_FORMAT, "gguf: key '%s' at byte %zu: nested arrays are not supported "
                           "(expected an array of scalars or strings)", key, at);
        size_t aes = gg_vtype_size(kv->arr_type);
        if (aes) {
            uint64_t bytes;
            if (__builtin_mul_overflow(kv->arr_n, (uint64_t)aes, &bytes) || !rd_has(r, bytes))
                return llv_err(err, LLV_ERR_FORMAT, "gguf: key '%s' at byte %zu: array of %llu %s elements does not "
                               "fit in the %zu bytes that remain", key, at, (unsigned long long)kv->arr_n,
                               gg_vtype_name(kv->arr_type), r->size - r->pos);
            r->pos += (size_t)bytes;
        } else if (kv->arr_type == LLV_GGUF_STRING) {
            /* each string takes at least its 8-byte length: bound the count first */
            if (kv->arr_n > (uint64_t)(r->size - r->pos) / 8)
                return llv_err(err, LLV_ERR_FORMAT, "gguf: key '%s' at byte %zu: array of %llu strings does not fit "
                               "in the %zu bytes that remain (each needs at least 8)", key, at,
                               (unsigned long long)kv->arr_n, r->size - r->pos);
            kv->str_off = malloc(((size_t)kv->arr_n + 1) * sizeof *kv->str_off);
            if (!kv->str_off)
                return llv_err(err, LLV_ERR_OUT_OF_MEMORY, "gguf: key '%s': out of memory indexing %llu strings",
                               key, (unsigned long long)kv->arr_n);
            for (uint64_t j = 0; j < kv->arr_n; j++) {
                kv->str_off[j] = r->pos;
                const uint8_t *s;
                uint64_t n;
                char what[96];
                snprintf(what, sizeof what, "key '%.40s': string %llu", key, (unsigned long long)j);
                llv_status st = rd_string(r, &s, &n, err, what);
                if (st) return st;
            }
            kv->str_off[kv->arr_n] = r->pos;
        } else {
            return llv_err(err, LLV_ERR_FORMAT, "gguf: key '%s' at byte %zu: unknown array element type %u (expected "
                           "0..12, not 9)", key, at, kv->arr_type);
        }
    } else {
        return llv_err(err, LLV_ERR_FORMAT, "gguf: key '%s' at byte %zu: unknown value type %u (expected 0..12)", key,
                       r->pos - 4, kv->type);
    }
    kv->val_end = r->pos;
    return LLV_OK;
}

static int gg_cmp_names(const char *a, const char *b) { return strcmp(a, b); }

/* Sorting index arrays needs the names; C's qsort has no context pointer, so
 * sort (name, index) pairs instead. */
typedef struct gg_pair { const char *name; int64_t idx; } gg_pair;
static int gg_cmp_pair(const void *a, const void *b) {
    return gg_cmp_names(((const gg_pair *)a)->name, ((const gg_pair *)b)->name);
}

/* Builds a sorted index; returns the index of a duplicate (>=0 pair pos) or -1. */
static llv_status gg_build_index(const char *const *names, int64_t n, int64_t **out, int64_t *dup_a, int64_t *dup_b,
                                 llv_error *err) {
    *dup_a = *dup_b = -1;
    *out = NULL;
    if (n == 0) return LLV_OK;
    gg_pair *pairs = malloc((size_t)n * sizeof *pairs);
    int64_t *idx = malloc((size_t)n * sizeof *idx);
    if (!pairs || !idx) {
        free(pairs);
        free(idx);
        return llv_err(err, LLV_ERR_OUT_OF_MEMORY, "gguf: out of memory for an index of %lld names", (long long)n);
    }
    for (int64_t i = 0; i < n; i++) pairs[i] = (gg_pair){names[i], i};
    qsort(pairs, (size_t)n, sizeof *pairs, gg_cmp_pair);
    for (int64_t i = 0; i < n; i++) {
        idx[i] = pairs[i].idx;
        if (i > 0 && *dup_a < 0 && strcmp(pairs[i - 1].name, pairs[i].name) == 0) {
            *dup_a = LLV_MIN(pairs[i - 1].idx, pairs[i].idx);
            *dup_b = LLV_MAX(pairs[i - 1].idx, pairs[i].idx);
        }
    }
    free(pairs);
    *out = idx;
    return LLV_OK;
}

static char *gg_strndup(const uint8_t *s, size_t n) {
    char *p = malloc(n + 1);
    if (!p) return NULL;
    memcpy(p, s, n);
    p[n] = 0;
    return p;
}

static llv_status gg_parse(llv_gguf *g, llv_error *err) {
    gg_rd r = {g->base, g->size, 0};
    gg_rd *rp = &r;
    if (!rd_has(rp, GG_HEADER_BYTES)) return gg_eof(err, rp, GG_HEADER_BYTES, "header");
    if (memcmp(g->base, GG_MAGIC, 4) != 0)
        return llv_err(err, LLV_ERR_FORMAT, "gguf: bad magic at byte 0: found %02x %02x %02x %02x, expected "
                       "47 47 55 46 (\"GGUF\")", g->base[0], g->base[1], g->base[2], g->base[3]);
    g->version = gg_rd32(g->base + 4);
    if (g->version != GG_VERSION)
        return llv_err(err, LLV_ERR_FORMAT, "gguf: version %u at byte 4, expected 3 (only GGUF v3 is supported)",
                       g->version);
    uint64_t n_tensors = gg_rd64(g->base + 8), n_kv = gg_rd64(g->base + 16);
    r.pos = GG_HEADER_BYTES;
    size_t rest = g->size - r.pos;
    if (n_kv > LLV_GGUF_MAX_KV || n_kv > rest / GG_MIN_KV_BYTES)
        return llv_err(err, LLV_ERR_FORMAT, "gguf: KV count %llu at byte 16 is too large (at most %u, and the %zu "
                       "remaining bytes hold at most %zu)", (unsigned long long)n_kv, LLV_GGUF_MAX_KV, rest,
                       rest / GG_MIN_KV_BYTES);
    if (n_tensors > LLV_GGUF_MAX_TENSORS || n_tensors > rest / GG_MIN_TI_BYTES)
        return llv_err(err, LLV_ERR_FORMAT, "gguf: tensor count %llu at byte 8 is too large (at most %u, and the %zu "
                       "remaining bytes hold at most %zu)", (unsigned long long)n_tensors, LLV_GGUF_MAX_TENSORS, rest,
                       rest / GG_MIN_TI_BYTES);
    if (n_kv) {
        g->kvs = calloc((size_t)n_kv, sizeof *g->kvs);
        if (!g->kvs) return llv_err(err, LLV_ERR_OUT_OF_MEMORY, "gguf: out of memory for %llu KVs",
                                    (unsigned long long)n_kv);
    }
    /* --- KVs --- */
    for (uint64_t i = 0; i < n_kv; i++) {
        gg_kv *kv = &g->kvs[i];
        size_t at = r.pos;
        const uint8_t *ks = NULL;
        uint64_t kn = 0;
        char what[64];
        snprintf(what, sizeof what, "KV %llu: key", (unsigned long long)i);
        llv_status s = rd_string(rp, &ks, &kn, err, what);
        if (s) return s;
        const char *why = gg_name_problem(ks, kn);
        if (why) return llv_err(err, LLV_ERR_FORMAT, "gguf: KV %llu at byte %zu: key %s (expected 1..65535 bytes of "
                                "UTF-8)", (unsigned long long)i, at, why);
        kv->key = gg_strndup(ks, (size_t)kn);
        if (!kv->key) return llv_err(err, LLV_ERR_OUT_OF_MEMORY, "gguf: out of memory");
        g->n_kv = (int64_t)i + 1;
        if (!rd_has(rp, 4)) return gg_eof(err, rp, 4, "key '%s': value type", kv->key);
        kv->type = gg_rd32(r.p + r.pos);
        r.pos += 4;
        if ((s = gg_parse_value(rp, kv, err)) != LLV_OK) return s;
    }
    int64_t da, db;
    {
        const char **names = malloc((size_t)(n_kv ? n_kv : 1) * sizeof *names);
        if (!names) return llv_err(err, LLV_ERR_OUT_OF_MEMORY, "gguf: out of memory");
        for (int64_t i = 0; i < g->n_kv; i++) names[i] = g->kvs[i].key;
        llv_status s = gg_build_index(names, g->n_kv, &g->kv_sorted, &da, &db, err);
        free(names);
        if (s) return s;
        if (da >= 0)
            return llv_err(err, LLV_ERR_FORMAT, "gguf: duplicate key '%s' (KV %lld at byte %zu and KV %lld at byte "
                           "%zu)", g->kvs[db].key, (long long)da, g->kvs[da].val_off, (long long)db,
                           g->kvs[db].val_off);
    }
    /* --- alignment --- */
    g->alignment = GG_DEFAULT_ALIGN;
    int64_t ai = llv_gguf_find_key(g, "general.alignment");
    if (ai >= 0) {
        const gg_kv *kv = &g->kvs[ai];
        if (kv->type != LLV_GGUF_U32)
            return llv_err(err, LLV_ERR_FORMAT, "gguf: key 'general.alignment' at byte %zu has type %s, expected u32",
                           kv->val_off, gg_vtype_name(kv->type));
        uint32_t a = gg_rd32(g->base + kv->val_off);
        if (a == 0 || (a & (a - 1)) != 0)
            return llv_err(err, LLV_ERR_FORMAT, "gguf: key 'general.alignment' at byte %zu is %u, expected a power of "
                           "two", kv->val_off, a);
        g->alignment = a;
    }
    /* --- tensor infos --- */
    rest = g->size - r.pos;
    if (n_tensors > rest / GG_MIN_TI_BYTES)
        return llv_err(err, LLV_ERR_FORMAT, "gguf: tensor count %llu (byte 8) does not fit in the %zu bytes left "
                       "after the KVs (each tensor info needs at least %u)", (unsigned long long)n_tensors, rest,
                       GG_MIN_TI_BYTES);
    size_t *ofs = NULL;
    if (n_tensors) {
        g->tensors = calloc((size_t)n_tensors, sizeof *g->tensors);
        ofs = calloc((size_t)n_tensors, sizeof *ofs);
        if (!g->tensors || !ofs) {
            free(ofs);
            return llv_err(err, LLV_ERR_OUT_OF_MEMORY, "gguf: out of memory for %llu tensors",
                           (unsigned long long)n_tensors);
        }
    }
    llv_status s = LLV_OK;
    for (uint64_t i = 0; i < n_tensors; i++) {
        llv_tensor *t = &g->tensors[i];
        size_t at = r.pos;
        const uint8_t *ns = NULL;
        uint64_t nn = 0;
        char what[64];
        snprintf(what, sizeof what, "tensor %llu: name", (unsigned long long)i);
        if ((s = rd_string(rp, &ns, &nn, err, what)) != LLV_OK) goto fail;
        const char *why = gg_name_problem(ns, nn);
        if (why) {
            s = llv_err(err, LLV_ERR_FORMAT, "gguf: tensor %llu at byte %zu: name %s (expected 1..65535 bytes of "
                        "UTF-8)", (unsigned long long)i, at, why);
            goto fail;
        }
        t->name = gg_strndup(ns, (size_t)nn);
        if (!t->name) {
            s = llv_err(err, LLV_ERR_OUT_OF_MEMORY, "gguf: out of memory");
            goto fail;
        }
        g->n_tensors = (int64_t)i + 1;
        if (!rd_has(rp, 4)) {
            s = gg_eof(err, rp, 4, "tensor '%s': n_dims", t->name);
            goto fail;
        }
        uint32_t nd = gg_rd32(r.p + r.pos);
        if (nd < 1 || nd > LLV_MAX_DIMS) {
            s = llv_err(err, LLV_ERR_FORMAT, "gguf: tensor '%s' at byte %zu: n_dims %u, expected 1..%d", t->name,
                        r.pos, nd, LLV_MAX_DIMS);
            goto fail;
        }
        r.pos += 4;
        if (!rd_has(rp, (uint64_t)nd * 8 + 12)) {
            s = gg_eof(err, rp, (uint64_t)nd * 8 + 12, "tensor '%s': shape, type and offset", t->name);
            goto fail;
        }
        t->n_dims = (int32_t)nd;
        for (int d = 0; d < LLV_MAX_DIMS; d++) t->ne[d] = 1;
        for (uint32_t d = 0; d < nd; d++) {
            uint64_t v = gg_rd64(r.p + r.pos + 8 * d);
            if (v > (uint64_t)INT64_MAX) {
                s = llv_err(err, LLV_ERR_FORMAT, "gguf: tensor '%s' at byte %zu: ne[%u] = %llu is out of range "
                            "(expected < 2^63)", t->name, r.pos + 8 * d, d, (unsigned long long)v);
                goto fail;
            }
            t->ne[d] = (int64_t)v;
        }
        r.pos += 8 * (size_t)nd;
        uint32_t type = gg_rd32(r.p + r.pos);
        if (type >= LLV_TYPE_COUNT || llv_type_block_size((int)type) <= 0) {
            /* a real ggml type llv lacks is valid-but-unsupported; anything else is a broken file */
            const char *gn = gg_ggml_type_name(type);
            s = llv_err(err, gn ? LLV_ERR_UNSUPPORTED : LLV_ERR_FORMAT, "gguf: tensor '%s' at byte %zu: %s ggml type "
                        "%u%s%s%s (expected F32, F16, BF16, Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q2_K..Q6_K, I8..I64 or "
                        "F64)", t->name, r.pos, gn ? "unsupported" : "unknown", type, gn ? " (" : "", gn ? gn : "",
                        gn ? ")" : "");
            goto fail;
        }
        t->type = (llv_type)type;
        int64_t bs = llv_type_block_size((int)type);
        if (t->ne[0] % bs != 0) {
            s = llv_err(err, LLV_ERR_FORMAT, "gguf: tensor '%s' at byte %zu: ne[0] = %lld is not a multiple of the "
                        "block size %lld of type %u", t->name, r.pos, (long long)t->ne[0], (long long)bs, type);
            goto fail;
        }
        int64_t nel;
        size_t row, nbytes;
        if (!llv_tensor_nelements(t->ne, LLV_MAX_DIMS, &nel) || !llv_type_row_bytes((int)type, t->ne[0], &row) ||
            !llv_mul_size(row, (size_t)t->ne[1], &nbytes) || !llv_mul_size(nbytes, (size_t)t->ne[2], &nbytes) ||
            !llv_mul_size(nbytes, (size_t)t->ne[3], &nbytes)) {
            s = llv_err(err, LLV_ERR_FORMAT, "gguf: tensor '%s' at byte %zu: shape [%lld, %lld, %lld, %lld] "
                        "overflows the element count or byte size", t->name, r.pos - 8 * (size_t)nd,
                        (long long)t->ne[0], (long long)t->ne[1], (long long)t->ne[2], (long long)t->ne[3]);
            goto fail;
        }
        t->nbytes = nbytes;
        r.pos += 4;
        uint64_t off = gg_rd64(r.p + r.pos);
        if (off % g->alignment != 0) {
            s = llv_err(err, LLV_ERR_FORMAT, "gguf: tensor '%s' at byte %zu: data offset %llu is not a multiple of "
                        "the alignment %zu", t->name, r.pos, (unsigned long long)off, g->alignment);
            goto fail;
        }
        if (off > SIZE_MAX) off = SIZE_MAX; /* cannot be in the file; caught below */
        ofs[i] = (size_t)off;
        r.pos += 8;
    }
    {
        const char **names = malloc((size_t)(g->n_tensors ? g->n_tensors : 1) * sizeof *names);
        if (!names) {
            s = llv_err(err, LLV_ERR_OUT_OF_MEMORY, "gguf: out of memory");
            goto fail;
        }
        for (int64_t i = 0; i < g->n_tensors; i++) names[i] = g->tensors[i].name;
        s = gg_build_index(names, g->n_tensors, &g->t_sorted, &da, &db, err);
        free(names);
        if (s) goto fail;
        if (da >= 0) {
            s = llv_err(err, LLV_ERR_FORMAT, "gguf: duplicate tensor name '%s' (tensor infos %lld and %lld)",
                        g->tensors[db].name, (long long)da, (long long)db);
            goto fail;
        }
    }
    /* --- data section: starts at the end of the infos, padded to the alignment --- */
    size_t data_off;
    if (!llv_add_size(r.pos, g->alignment - 1, &data_off)) {
        s = llv_err(err, LLV_ERR_FORMAT, "gguf: data section offset overflows");
        goto fail;
    }
    data_off -= data_off % g->alignment;
    g->data_off = data_off;
    for (int64_t i = 0; i < g->n_tensors; i++) {
        llv_tensor *t = &g->tensors[i];
        size_t begin, end;
        if (!llv_add_size(data_off, ofs[i], &begin) || !llv_add_size(begin, t->nbytes, &end) || end > g->size) {
            s = llv_err(err, LLV_ERR_FORMAT, "gguf: tensor '%s': data at offset %zu (file byte %zu) + %zu bytes "
                        "extends past the end of the file (%zu bytes; data section starts at %zu)", t->name, ofs[i],
                        data_off + (ofs[i] < SIZE_MAX - data_off ? ofs[i] : 0), t->nbytes, g->size, data_off);
            goto fail;
        }
        t->data = g->base + begin;
    }
    free(ofs);
    return LLV_OK;
fail:
    free(ofs);
    return s;
}

/* Takes ownership of *map (if not NULL), also on failure. */
static llv_status gg_open_buf(const void *data, size_t size, llv_mapping *map, llv_gguf **out, llv_error *err) {
    llv_gguf *g = calloc(1, sizeof *g);
    if (!g) {
        if (map) llv_file_unmap(map);
        return llv_err(err, LLV_ERR_OUT_OF_MEMORY, "gguf: out of memory");
    }
    g->base = data;
    g->size = size;
    if (map) g->map = *map;
    llv_status s = gg_parse(g, err);
    if (s != LLV_OK) {
        llv_gguf_close(g);
        return s;
    }
    *out = g;
    return LLV_OK;
}

llv_status llv_gguf_open_memory(const void *data, size_t size, llv_gguf **out, llv_error *err) {
    if (!out || (!data && size)) return llv_err(err, LLV_ERR_INVALID_ARGUMENT, "llv_gguf_open_memory: NULL argument");
    *out = NULL;
    static const uint8_t empty[1] = {0};
    return gg_open_buf(size ? data : empty, size, NULL, out, err);
}

llv_status llv_gguf_open(const char *path, llv_gguf **out, llv_error *err) {
    if (!path || !out) return llv_err(err, LLV_ERR_INVALID_ARGUMENT, "llv_gguf_open: NULL argument");
    *out = NULL;
    llv_mapping map;
    llv_status s = llv_file_map(path, &map, err);
    if (s != LLV_OK) return s;
    if (map.size < GG_HEADER_BYTES) {
        size_t n = map.size;
        llv_file_unmap(&map);
        return llv_err(err, LLV_ERR_FORMAT, "%s: gguf: file is %zu bytes, expected at least %u (header)", path, n,
                       GG_HEADER_BYTES);
    }
    s = gg_open_buf(map.data, map.size, &map, out, err);
    if (s != LLV_OK) llv_err_prefix(err, "%s", path);
    return s;
}

uint32_t    llv_gguf_version(const llv_gguf *g) { return g ? g->version : 0; }
size_t      llv_gguf_alignment(const llv_gguf *g) { return g ? g->alignment : 0; }
size_t      llv_gguf_file_size(const llv_gguf *g) { return g ? g->size : 0; }
const void *llv_gguf_data_base(const llv_gguf *g) { return g ? g->base : NULL; }
int64_t     llv_gguf_n_kv(const llv_gguf *g) { return g ? g->n_kv : 0; }
int64_t     llv_gguf_n_tensors(const llv_gguf *g) { return g ? g->n_tensors : 0; }

static const gg_kv *gg_kv_at(const llv_gguf *g, int64_t i) {
    return (g && i >= 0 && i < g->n_kv) ? &g->kvs[i] : NULL;
}

const char *llv_gguf_key(const llv_gguf *g, int64_t i) {
    const gg_kv *kv = gg_kv_at(g, i);
    return kv ? kv->key : NULL;
}

int64_t llv_gguf_find_key(const llv_gguf *g, const char *key) {
    if (!g || !key) return -1;
    int64_t lo = 0, hi = g->n_kv;
    while (lo < hi) {
        int64_t mid = lo + (hi - lo) / 2;
        int c = strcmp(g->kvs[g->kv_sorted[mid]].key, key);
        if (c == 0) return g->kv_sorted[mid];
        if (c < 0) lo = mid + 1;
        else hi = mid;
    }
    return -1;
}

llv_gguf_vtype llv_gguf_kv_type(const llv_gguf *g, int64_t i) {
    const gg_kv *kv = gg_kv_at(g, i);
    return kv ? (llv_gguf_vtype)kv->type : (llv_gguf_vtype)-1;
}

llv_gguf_vtype llv_gguf_arr_type(const llv_gguf *g, int64_t i) {
    const gg_kv *kv = gg_kv_at(g, i);
    return (kv && kv->type == LLV_GGUF_ARRAY) ? (llv_gguf_vtype)kv->arr_type : (llv_gguf_vtype)-1;
}

uint64_t llv_gguf_arr_n(const llv_gguf *g, int64_t i) {
    const gg_kv *kv = gg_kv_at(g, i);
    return (kv && kv->type == LLV_GGUF_ARRAY) ? kv->arr_n : 0;
}

const void *llv_gguf_arr_data(const llv_gguf *g, int64_t i) {
    const gg_kv *kv = gg_kv_at(g, i);
    if (!kv || kv->type != LLV_GGUF_ARRAY || !gg_vtype_size(kv->arr_type)) return NULL;
    return g->base + kv->val_off + 12;
}

llv_gguf_str llv_gguf_arr_str(const llv_gguf *g, int64_t i, uint64_t j) {
    llv_gguf_str r = {NULL, 0};
    const gg_kv *kv = gg_kv_at(g, i);
    if (!kv || kv->type != LLV_GGUF_ARRAY || kv->arr_type != LLV_GGUF_STRING || j >= kv->arr_n) return r;
    r.ptr = (const char *)g->base + kv->str_off[j] + 8;
    r.len = kv->str_off[j + 1] - kv->str_off[j] - 8;
    return r;
}

const llv_tensor *llv_gguf_tensor(const llv_gguf *g, int64_t i) {
    return (g && i >= 0 && i < g->n_tensors) ? &g->tensors[i] : NULL;
}

const llv_tensor *llv_gguf_find_tensor(const llv_gguf *g, const char *name) {
    if (!g || !name) return NULL;
    int64_t lo = 0, hi = g->n_tensors;
    while (lo < hi) {
        int64_t mid = lo + (hi - lo) / 2;
        int c = strcmp(g->tensors[g->t_sorted[mid]].name, name);
        if (c == 0) return &g->tensors[g->t_sorted[mid]];
        if (c < 0) lo = mid + 1;
        else hi = mid;
    }
    return NULL;
}

/* --- typed getters --- */

static llv_status gg_lookup(const llv_gguf *g, const char *key, const gg_kv **out, llv_error *err) {
    int64_t i = llv_gguf_find_key(g, key);
    if (i < 0) return llv_err(err, LLV_ERR_NOT_FOUND, "gguf: key '%s' not found", key ? key : "(null)");
    *out = &g->kvs[i];
    return LLV_OK;
}

static llv_status gg_type_err(const gg_kv *kv, const char *expected, llv_error *err) {
    if (kv->type == LLV_GGUF_ARRAY)
        return llv_err(err, LLV_ERR_FORMAT, "gguf: key '%s' at byte %zu: expected %s, found array of %s", kv->key,
                       kv->val_off, expected, gg_vtype_name(kv->arr_type));
    return llv_err(err, LLV_ERR_FORMAT, "gguf: key '%s' at byte %zu: expected %s, found %s", kv->key, kv->val_off,
                   expected, gg_vtype_name(kv->type));
}

/* Reads an integer element of type t at p; false if it does not fit int64. */
static bool gg_int_at(uint32_t t, const uint8_t *p, int64_t *out) {
    switch (t) {
    case LLV_GGUF_U8: *out = p[0]; return true;
    case LLV_GGUF_I8: *out = (int8_t)p[0]; return true;
    case LLV_GGUF_U16: *out = gg_rd16(p); return true;
    case LLV_GGUF_I16: *out = (int16_t)gg_rd16(p); return true;
    case LLV_GGUF_U32: *out = gg_rd32(p); return true;
    case LLV_GGUF_I32: *out = (int32_t)gg_rd32(p); return true;
    case LLV_GGUF_I64: *out = (int64_t)gg_rd64(p); return true;
    case LLV_GGUF_U64: {
        uint64_t v = gg_rd64(p);
        if (v > (uint64_t)INT64_MAX) return false;
        *out = (int64_t)v;
        return true;
    }
    default: return false;
    }
}

static double gg_float_at(uint32_t t, const uint8_t *p) {
    if (t == LLV_GGUF_F32) {
        float f;
        memcpy(&f, p, 4);
        return f;
    }
    double d;
    memcpy(&d, p, 8);
    return d;
}

llv_status llv_gguf_get_i64(const llv_gguf *g, const char *key, int64_t *out, llv_error *err) {
    const gg_kv *kv = NULL;
    llv_status s = gg_lookup(g, key, &kv, err);
    if (s) return s;
    if (!gg_is_int(kv->type)) return gg_type_err(kv, "an integer", err);
    if (!gg_int_at(kv->type, g->base + kv->val_off, out))
        return llv_err(err, LLV_ERR_FORMAT, "gguf: key '%s' at byte %zu: value %llu does not fit in int64", key,
                       kv->val_off, (unsigned long long)gg_rd64(g->base + kv->val_off));
    return LLV_OK;
}

llv_status llv_gguf_get_u32(const llv_gguf *g, const char *key, uint32_t *out, llv_error *err) {
    int64_t v;
    llv_status s = llv_gguf_get_i64(g, key, &v, err);
    if (s) return s;
    if (v < 0 || v > (int64_t)UINT32_MAX)
        return llv_err(err, LLV_ERR_FORMAT, "gguf: key '%s': value %lld does not fit in u32", key, (long long)v);
    *out = (uint32_t)v;
    return LLV_OK;
}

llv_status llv_gguf_get_f32(const llv_gguf *g, const char *key, float *out, llv_error *err) {
    const gg_kv *kv = NULL;
    llv_status s = gg_lookup(g, key, &kv, err);
    if (s) return s;
    if (kv->type != LLV_GGUF_F32 && kv->type != LLV_GGUF_F64) return gg_type_err(kv, "f32 or f64", err);
    *out = (float)gg_float_at(kv->type, g->base + kv->val_off);
    return LLV_OK;
}

llv_status llv_gguf_get_bool(const llv_gguf *g, const char *key, bool *out, llv_error *err) {
    const gg_kv *kv = NULL;
    llv_status s = gg_lookup(g, key, &kv, err);
    if (s) return s;
    if (kv->type != LLV_GGUF_BOOL) return gg_type_err(kv, "bool", err);
    *out = g->base[kv->val_off] != 0;
    return LLV_OK;
}

llv_status llv_gguf_get_str(const llv_gguf *g, const char *key, llv_gguf_str *out, llv_error *err) {
    const gg_kv *kv = NULL;
    llv_status s = gg_lookup(g, key, &kv, err);
    if (s) return s;
    if (kv->type != LLV_GGUF_STRING) return gg_type_err(kv, "string", err);
    out->len = gg_rd64(g->base + kv->val_off);
    out->ptr = (const char *)g->base + kv->val_off + 8;
    return LLV_OK;
}

llv_status llv_gguf_get_arr_i64(const llv_gguf *g, const char *key, int64_t *out, size_t cap, size_t *n,
                                llv_error *err) {
    const gg_kv *kv = NULL;
    llv_status s = gg_lookup(g, key, &kv, err);
    if (s) return s;
    if (kv->type != LLV_GGUF_ARRAY || !gg_is_int(kv->arr_type)) return gg_type_err(kv, "an integer array", err);
    if (n) *n = (size_t)kv->arr_n;
    if (kv->arr_n > cap)
        return llv_err(err, LLV_ERR_BUFFER_TOO_SMALL, "gguf: key '%s': array has %llu elements, buffer holds %zu", key,
                       (unsigned long long)kv->arr_n, cap);
    size_t es = gg_vtype_size(kv->arr_type);
    const uint8_t *p = g->base + kv->val_off + 12;
    for (uint64_t j = 0; j < kv->arr_n; j++)
        if (!gg_int_at(kv->arr_type, p + j * es, &out[j]))
            return llv_err(err, LLV_ERR_FORMAT, "gguf: key '%s': element %llu does not fit in int64", key,
                           (unsigned long long)j);
    return LLV_OK;
}

llv_status llv_gguf_get_arr_f32(const llv_gguf *g, const char *key, float *out, size_t cap, size_t *n,
                                llv_error *err) {
    const gg_kv *kv = NULL;
    llv_status s = gg_lookup(g, key, &kv, err);
    if (s) return s;
    if (kv->type != LLV_GGUF_ARRAY || (kv->arr_type != LLV_GGUF_F32 && kv->arr_type != LLV_GGUF_F64))
        return gg_type_err(kv, "an f32 or f64 array", err);
    if (n) *n = (size_t)kv->arr_n;
    if (kv->arr_n > cap)
        return llv_err(err, LLV_ERR_BUFFER_TOO_SMALL, "gguf: key '%s': array has %llu elements, buffer holds %zu", key,
                       (unsigned long long)kv->arr_n, cap);
    size_t es = gg_vtype_size(kv->arr_type);
    const uint8_t *p = g->base + kv->val_off + 12;
    for (uint64_t j = 0; j < kv->arr_n; j++) out[j] = (float)gg_float_at(kv->arr_type, p + j * es);
    return LLV_OK;
}

/* ------------------------------------------------------------------------ */
/* writer                                                                    */

typedef struct gw_kv {
    char    *key;
    uint8_t *val;   /* encoded: u32 type + value, exactly as in the file */
    size_t   len;
} gw_kv;

typedef struct gw_tensor {
    char    *name;
    int      type;
    int      n_dims;
    int64_t  ne[LLV_MAX_DIMS];
    size_t   nbytes;
    uint64_t offset; /* relative to the data section, set by begin */
} gw_tensor;

struct llv_gguf_writer {
    gw_kv     *kvs;
    size_t     n_kv, cap_kv;
    gw_tensor *tensors;
    size_t     n_t, cap_t;
    /* streaming state */
    FILE      *f;
    char      *path, *tmp_path;
    size_t     alignment;
    uint64_t   pos;       /* bytes written to the file */
    uint64_t   data_off;  /* file offset of the data section */
    size_t     cur;       /* tensor being written */
    size_t     cur_done;  /* bytes of it written */
    bool       begun, finished, failed;
};

llv_status llv_gguf_writer_create(llv_gguf_writer **out, llv_error *err) {
    if (!out) return llv_err(err, LLV_ERR_INVALID_ARGUMENT, "llv_gguf_writer_create: NULL out");
    *out = calloc(1, sizeof **out);
    if (!*out) return llv_err(err, LLV_ERR_OUT_OF_MEMORY, "gguf writer: out of memory");
    return LLV_OK;
}

void llv_gguf_writer_free(llv_gguf_writer *w) {
    if (!w) return;
    if (w->f) fclose(w->f);
    if (w->tmp_path && !w->finished) unlink(w->tmp_path);
    for (size_t i = 0; i < w->n_kv; i++) {
        free(w->kvs[i].key);
        free(w->kvs[i].val);
    }
    free(w->kvs);
    for (size_t i = 0; i < w->n_t; i++) free(w->tensors[i].name);
    free(w->tensors);
    free(w->path);
    free(w->tmp_path);
    free(w);
}

static llv_status gw_check_open(llv_gguf_writer *w, const char *what, llv_error *err) {
    if (!w) return llv_err(err, LLV_ERR_INVALID_ARGUMENT, "gguf writer: NULL writer in %s", what);
    if (w->begun) return llv_err(err, LLV_ERR_STATE, "gguf writer: %s after llv_gguf_writer_begin", what);
    return LLV_OK;
}

/* Stores an encoded value (takes ownership of val) under key, replacing an
 * existing value in place so KVs keep their first insertion position. */
static llv_status gw_put(llv_gguf_writer *w, const char *key, uint8_t *val, size_t len, llv_error *err) {
    llv_status s = gw_check_open(w, "setting a key", err);
    if (s == LLV_OK && !key) s = llv_err(err, LLV_ERR_INVALID_ARGUMENT, "gguf writer: NULL key");
    const char *why = (s == LLV_OK) ? gg_name_problem((const unsigned char *)key, strlen(key)) : NULL;
    if (why) s = llv_err(err, LLV_ERR_INVALID_ARGUMENT, "gguf writer: key '%.80s' %s", key, why);
    if (s) {
        free(val);
        return s;
    }
    for (size_t i = 0; i < w->n_kv; i++) {
        if (strcmp(w->kvs[i].key, key) == 0) {
            free(w->kvs[i].val);
            w->kvs[i].val = val;
            w->kvs[i].len = len;
            return LLV_OK;
        }
    }
    if (w->n_kv >= LLV_GGUF_MAX_KV) {
        free(val);
        return llv_err(err, LLV_ERR_LIMIT, "gguf writer: more than %u keys", LLV_GGUF_MAX_KV);
    }
    if (w->n_kv == w->cap_kv) {
        size_t cap = w->cap_kv ? w->cap_kv * 2 : 32;
        gw_kv *p = realloc(w->kvs, cap * sizeof *p);
        if (!p) {
            free(val);
            return llv_err(err, LLV_ERR_OUT_OF_MEMORY, "gguf writer: out of memory");
        }
        w->kvs = p;
        w->cap_kv = cap;
    }
    size_t kl = strlen(key);
    char *k = malloc(kl + 1);
    if (!k) {
        free(val);
        return llv_err(err, LLV_ERR_OUT_OF_MEMORY, "gguf writer: out of memory");
    }
    memcpy(k, key, kl + 1);
    w->kvs[w->n_kv++] = (gw_kv){k, val, len};
    return LLV_OK;
}

static void gw_le32(uint8_t *p, uint32_t v) { memcpy(p, &v, 4); }
static void gw_le64(uint8_t *p, uint64_t v) { memcpy(p, &v, 8); }

static llv_status gw_scalar(llv_gguf_writer *w, const char *key, uint32_t type, const void *v, size_t n,
                            llv_error *err) {
    uint8_t *b = malloc(4 + n);
    if (!b) return llv_err(err, LLV_ERR_OUT_OF_MEMORY, "gguf writer: out of memory");
    gw_le32(b, type);
    memcpy(b + 4, v, n);
    return gw_put(w, key, b, 4 + n, err);
}

llv_status llv_gguf_set_u32(llv_gguf_writer *w, const char *key, uint32_t v, llv_error *err) {
    return gw_scalar(w, key, LLV_GGUF_U32, &v, 4, err);
}
llv_status llv_gguf_set_i32(llv_gguf_writer *w, const char *key, int32_t v, llv_error *err) {
    return gw_scalar(w, key, LLV_GGUF_I32, &v, 4, err);
}
llv_status llv_gguf_set_u64(llv_gguf_writer *w, const char *key, uint64_t v, llv_error *err) {
    return gw_scalar(w, key, LLV_GGUF_U64, &v, 8, err);
}
llv_status llv_gguf_set_f32(llv_gguf_writer *w, const char *key, float v, llv_error *err) {
    return gw_scalar(w, key, LLV_GGUF_F32, &v, 4, err);
}
llv_status llv_gguf_set_bool(llv_gguf_writer *w, const char *key, bool v, llv_error *err) {
    uint8_t b = v ? 1 : 0;
    return gw_scalar(w, key, LLV_GGUF_BOOL, &b, 1, err);
}

llv_status llv_gguf_set_val(llv_gguf_writer *w, const char *key, llv_gguf_vtype type, const void *value,
                            llv_error *err) {
    size_t es = gg_vtype_size((uint32_t)type);
    if (!es || !value)
        return llv_err(err, LLV_ERR_INVALID_ARGUMENT, "gguf writer: key '%s': type %d is not a fixed-size scalar type "
                       "(or value is NULL)", key ? key : "", (int)type);
    return gw_scalar(w, key, (uint32_t)type, value, es, err);
}

llv_status llv_gguf_set_str(llv_gguf_writer *w, const char *key, const char *v, llv_error *err) {
    if (!v) return llv_err(err, LLV_ERR_INVALID_ARGUMENT, "gguf writer: NULL string for key '%s'", key ? key : "");
    size_t n = strlen(v), total;
    if (!llv_add_size(n, 12, &total)) return llv_err(err, LLV_ERR_INVALID_ARGUMENT, "gguf writer: string too long");
    uint8_t *b = malloc(total);
    if (!b) return llv_err(err, LLV_ERR_OUT_OF_MEMORY, "gguf writer: out of memory");
    gw_le32(b, LLV_GGUF_STRING);
    gw_le64(b + 4, n);
    memcpy(b + 12, v, n);
    return gw_put(w, key, b, total, err);
}

llv_status llv_gguf_set_arr(llv_gguf_writer *w, const char *key, llv_gguf_vtype type, const void *data, size_t n,
                            llv_error *err) {
    size_t es = gg_vtype_size((uint32_t)type), bytes, total;
    if (!es)
        return llv_err(err, LLV_ERR_INVALID_ARGUMENT, "gguf writer: key '%s': array element type %d is not a "
                       "fixed-size scalar type", key ? key : "", (int)type);
    if (!llv_mul_size(n, es, &bytes) || !llv_add_size(bytes, 16, &total))
        return llv_err(err, LLV_ERR_INVALID_ARGUMENT, "gguf writer: key '%s': array too large", key ? key : "");
    if (n && !data) return llv_err(err, LLV_ERR_INVALID_ARGUMENT, "gguf writer: key '%s': NULL data", key ? key : "");
    uint8_t *b = malloc(total);
    if (!b) return llv_err(err, LLV_ERR_OUT_OF_MEMORY, "gguf writer: out of memory");
    gw_le32(b, LLV_GGUF_ARRAY);
    gw_le32(b + 4, (uint32_t)type);
    gw_le64(b + 8, n);
    if (bytes) memcpy(b + 16, data, bytes);
    return gw_put(w, key, b, total, err);
}

llv_status llv_gguf_set_arr_str(llv_gguf_writer *w, const char *key, const char *const *strs, const size_t *lens,
                                size_t n, llv_error *err) {
    if (n && !strs) return llv_err(err, LLV_ERR_INVALID_ARGUMENT, "gguf writer: key '%s': NULL strings", key ? key : "");
    size_t total = 16;
    for (size_t j = 0; j < n; j++) {
        if (!strs[j])
            return llv_err(err, LLV_ERR_INVALID_ARGUMENT, "gguf writer: key '%s': string %zu is NULL", key ? key : "",
                           j);
        size_t l = lens ? lens[j] : strlen(strs[j]);
        if (!llv_add_size(total, 8, &total) || !llv_add_size(total, l, &total))
            return llv_err(err, LLV_ERR_INVALID_ARGUMENT, "gguf writer: key '%s': array too large", key ? key : "");
    }
    uint8_t *b = malloc(total);
    if (!b) return llv_err(err, LLV_ERR_OUT_OF_MEMORY, "gguf writer: out of memory");
    gw_le32(b, LLV_GGUF_ARRAY);
    gw_le32(b + 4, LLV_GGUF_STRING);
    gw_le64(b + 8, n);
    size_t p = 16;
    for (size_t j = 0; j < n; j++) {
        size_t l = lens ? lens[j] : strlen(strs[j]);
        gw_le64(b + p, l);
        if (l) memcpy(b + p + 8, strs[j], l);
        p += 8 + l;
    }
    return gw_put(w, key, b, total, err);
}

llv_status llv_gguf_copy_kvs(llv_gguf_writer *w, const llv_gguf *src, llv_error *err) {
    llv_status s = gw_check_open(w, "llv_gguf_copy_kvs", err);
    if (s) return s;
    if (!src) return llv_err(err, LLV_ERR_INVALID_ARGUMENT, "llv_gguf_copy_kvs: NULL source");
    for (int64_t i = 0; i < src->n_kv; i++) {
        const gg_kv *kv = &src->kvs[i];
        size_t n = kv->val_end - kv->val_off;
        uint8_t *b = malloc(4 + n);
        if (!b) return llv_err(err, LLV_ERR_OUT_OF_MEMORY, "gguf writer: out of memory");
        gw_le32(b, kv->type);
        memcpy(b + 4, src->base + kv->val_off, n);
        if ((s = gw_put(w, kv->key, b, 4 + n, err)) != LLV_OK) return s;
    }
    return LLV_OK;
}

llv_status llv_gguf_add_tensor(llv_gguf_writer *w, const char *name, int type, int n_dims, const int64_t *ne,
                               llv_error *err) {
    llv_status s = gw_check_open(w, "llv_gguf_add_tensor", err);
    if (s) return s;
    if (!name || !ne) return llv_err(err, LLV_ERR_INVALID_ARGUMENT, "llv_gguf_add_tensor: NULL name or shape");
    const char *why = gg_name_problem((const unsigned char *)name, strlen(name));
    if (why) return llv_err(err, LLV_ERR_INVALID_ARGUMENT, "gguf writer: tensor name '%.80s' %s", name, why);
    if (type < 0 || type >= LLV_TYPE_COUNT || llv_type_block_size(type) <= 0)
        return llv_err(err, LLV_ERR_INVALID_ARGUMENT, "gguf writer: tensor '%s': unknown type %d", name, type);
    if (n_dims < 1 || n_dims > LLV_MAX_DIMS)
        return llv_err(err, LLV_ERR_INVALID_ARGUMENT, "gguf writer: tensor '%s': n_dims %d, expected 1..%d", name,
                       n_dims, LLV_MAX_DIMS);
    gw_tensor t = {.type = type, .n_dims = n_dims, .ne = {1, 1, 1, 1}};
    for (int d = 0; d < n_dims; d++) {
        if (ne[d] < 0)
            return llv_err(err, LLV_ERR_INVALID_ARGUMENT, "gguf writer: tensor '%s': ne[%d] = %lld is negative",
                           name, d, (long long)ne[d]);
        t.ne[d] = ne[d];
    }
    int64_t nel;
    size_t row;
    if (!llv_type_row_bytes(type, t.ne[0], &row))
        return llv_err(err, LLV_ERR_INVALID_ARGUMENT, "gguf writer: tensor '%s': ne[0] = %lld is not a multiple of "
                       "the block size %lld", name, (long long)t.ne[0], (long long)llv_type_block_size(type));
    if (!llv_tensor_nelements(t.ne, LLV_MAX_DIMS, &nel) || !llv_mul_size(row, (size_t)t.ne[1], &t.nbytes) ||
        !llv_mul_size(t.nbytes, (size_t)t.ne[2], &t.nbytes) || !llv_mul_size(t.nbytes, (size_t)t.ne[3], &t.nbytes))
        return llv_err(err, LLV_ERR_INVALID_ARGUMENT, "gguf writer: tensor '%s': shape overflows", name);
    for (size_t i = 0; i < w->n_t; i++)
        if (strcmp(w->tensors[i].name, name) == 0)
            return llv_err(err, LLV_ERR_INVALID_ARGUMENT, "gguf writer: duplicate tensor name '%s'", name);
    if (w->n_t >= LLV_GGUF_MAX_TENSORS)
        return llv_err(err, LLV_ERR_LIMIT, "gguf writer: more than %u tensors", LLV_GGUF_MAX_TENSORS);
    if (w->n_t == w->cap_t) {
        size_t cap = w->cap_t ? w->cap_t * 2 : 64;
        gw_tensor *p = realloc(w->tensors, cap * sizeof *p);
        if (!p) return llv_err(err, LLV_ERR_OUT_OF_MEMORY, "gguf writer: out of memory");
        w->tensors = p;
        w->cap_t = cap;
    }
    size_t nl = strlen(name);
    t.name = malloc(nl + 1);
    if (!t.name) return llv_err(err, LLV_ERR_OUT_OF_MEMORY, "gguf writer: out of memory");
    memcpy(t.name, name, nl + 1);
    w->tensors[w->n_t++] = t;
    return LLV_OK;
}

static llv_status gw_io(llv_gguf_writer *w, const void *p, size_t n, llv_error *err) {
    if (n && fwrite(p, 1, n, w->f) != n) {
        w->failed = true;
        return llv_err(err, LLV_ERR_IO, "%s: write failed at byte %llu: %s", w->tmp_path,
                       (unsigned long long)w->pos, strerror(errno));
    }
    w->pos += n;
    return LLV_OK;
}

static llv_status gw_pad(llv_gguf_writer *w, uint64_t to, llv_error *err) {
    static const uint8_t zeros[256];
    while (w->pos < to) {
        size_t n = (size_t)LLV_MIN(to - w->pos, (uint64_t)sizeof zeros);
        llv_status s = gw_io(w, zeros, n, err);
        if (s) return s;
    }
    return LLV_OK;
}

static llv_status gw_u32(llv_gguf_writer *w, uint32_t v, llv_error *err) {
    uint8_t b[4];
    gw_le32(b, v);
    return gw_io(w, b, 4, err);
}
static llv_status gw_u64(llv_gguf_writer *w, uint64_t v, llv_error *err) {
    uint8_t b[8];
    gw_le64(b, v);
    return gw_io(w, b, 8, err);
}
static llv_status gw_str(llv_gguf_writer *w, const char *s, llv_error *err) {
    size_t n = strlen(s);
    llv_status st = gw_u64(w, n, err);
    return st ? st : gw_io(w, s, n, err);
}

/* Skips tensors that are complete (zero-sized ones included). */
static void gw_advance(llv_gguf_writer *w) {
    while (w->cur < w->n_t && w->cur_done == w->tensors[w->cur].nbytes) {
        w->cur++;
        w->cur_done = 0;
    }
}

llv_status llv_gguf_writer_begin(llv_gguf_writer *w, const char *path, llv_error *err) {
    llv_status s = gw_check_open(w, "llv_gguf_writer_begin", err);
    if (s) return s;
    if (!path || !*path) return llv_err(err, LLV_ERR_INVALID_ARGUMENT, "llv_gguf_writer_begin: empty path");
    /* alignment */
    w->alignment = GG_DEFAULT_ALIGN;
    for (size_t i = 0; i < w->n_kv; i++) {
        if (strcmp(w->kvs[i].key, "general.alignment") != 0) continue;
        uint32_t type, a = 0;
        memcpy(&type, w->kvs[i].val, 4);
        if (type == LLV_GGUF_U32) memcpy(&a, w->kvs[i].val + 4, 4);
        if (type != LLV_GGUF_U32 || a == 0 || (a & (a - 1)))
            return llv_err(err, LLV_ERR_INVALID_ARGUMENT, "gguf writer: general.alignment must be a u32 power of two");
        w->alignment = a;
    }
    /* tensor offsets */
    uint64_t off = 0;
    for (size_t i = 0; i < w->n_t; i++) {
        off = (off + w->alignment - 1) / w->alignment * w->alignment;
        w->tensors[i].offset = off;
        if (__builtin_add_overflow(off, (uint64_t)w->tensors[i].nbytes, &off))
            return llv_err(err, LLV_ERR_INVALID_ARGUMENT, "gguf writer: total tensor size overflows");
    }
    size_t pl = strlen(path);
    w->path = malloc(pl + 1);
    w->tmp_path = malloc(pl + 16);
    if (!w->path || !w->tmp_path) return llv_err(err, LLV_ERR_OUT_OF_MEMORY, "gguf writer: out of memory");
    memcpy(w->path, path, pl + 1);
    snprintf(w->tmp_path, pl + 16, "%s.tmp.XXXXXX", path);
    int fd = mkstemp(w->tmp_path);
    if (fd < 0) {
        int e = errno;
        free(w->tmp_path);
        w->tmp_path = NULL;
        return llv_err(err, LLV_ERR_IO, "%s: cannot create a temporary file next to it: %s", path, strerror(e));
    }
    (void)fchmod(fd, 0644); /* mkstemp creates 0600; a model file is normally world-readable */
    w->f = fdopen(fd, "wb");
    if (!w->f) {
        close(fd);
        return llv_err(err, LLV_ERR_IO, "%s: fdopen failed: %s", w->tmp_path, strerror(errno));
    }
    w->begun = true;
    w->pos = 0;
    if ((s = gw_io(w, GG_MAGIC, 4, err)) || (s = gw_u32(w, GG_VERSION, err)) || (s = gw_u64(w, w->n_t, err)) ||
        (s = gw_u64(w, w->n_kv, err)))
        return s;
    for (size_t i = 0; i < w->n_kv; i++)
        if ((s = gw_str(w, w->kvs[i].key, err)) || (s = gw_io(w, w->kvs[i].val, w->kvs[i].len, err))) return s;
    for (size_t i = 0; i < w->n_t; i++) {
        const gw_tensor *t = &w->tensors[i];
        if ((s = gw_str(w, t->name, err)) || (s = gw_u32(w, (uint32_t)t->n_dims, err))) return s;
        for (int d = 0; d < t->n_dims; d++)
            if ((s = gw_u64(w, (uint64_t)t->ne[d], err))) return s;
        if ((s = gw_u32(w, (uint32_t)t->type, err)) || (s = gw_u64(w, t->offset, err))) return s;
    }
    w->data_off = (w->pos + w->alignment - 1) / w->alignment * w->alignment;
    if ((s = gw_pad(w, w->data_off, err))) return s;
    w->cur = 0;
    w->cur_done = 0;
    gw_advance(w);
    return LLV_OK;
}

llv_status llv_gguf_writer_write(llv_gguf_writer *w, const void *data, size_t nbytes, llv_error *err) {
    if (!w) return llv_err(err, LLV_ERR_INVALID_ARGUMENT, "llv_gguf_writer_write: NULL writer");
    if (!w->begun || w->finished)
        return llv_err(err, LLV_ERR_STATE, "gguf writer: write %s", w->finished ? "after finish" : "before begin");
    if (w->failed) return llv_err(err, LLV_ERR_STATE, "gguf writer: an earlier write failed");
    if (nbytes == 0) return LLV_OK;
    if (!data) return llv_err(err, LLV_ERR_INVALID_ARGUMENT, "llv_gguf_writer_write: NULL data");
    if (w->cur >= w->n_t)
        return llv_err(err, LLV_ERR_INVALID_ARGUMENT, "gguf writer: %zu bytes written but every tensor is complete",
                       nbytes);
    const gw_tensor *t = &w->tensors[w->cur];
    if (nbytes > t->nbytes - w->cur_done)
        return llv_err(err, LLV_ERR_INVALID_ARGUMENT, "gguf writer: tensor '%s': %zu bytes written, but only %zu of its "
                       "%zu bytes remain", t->name, nbytes, t->nbytes - w->cur_done, t->nbytes);
    llv_status s;
    if (w->cur_done == 0 && (s = gw_pad(w, w->data_off + t->offset, err))) return s;
    if ((s = gw_io(w, data, nbytes, err))) return s;
    w->cur_done += nbytes;
    gw_advance(w);
    return LLV_OK;
}

static void gw_fsync_dir(const char *dir) {
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0) {
        (void)fsync(fd);
        close(fd);
    }
}

llv_status llv_gguf_writer_finish(llv_gguf_writer *w, llv_error *err) {
    if (!w) return llv_err(err, LLV_ERR_INVALID_ARGUMENT, "llv_gguf_writer_finish: NULL writer");
    if (!w->begun || w->finished)
        return llv_err(err, LLV_ERR_STATE, "gguf writer: finish %s", w->finished ? "called twice" : "before begin");
    if (w->failed) return llv_err(err, LLV_ERR_STATE, "gguf writer: an earlier write failed");
    if (w->cur < w->n_t)
        return llv_err(err, LLV_ERR_STATE, "gguf writer: tensor '%s' (%zu of %zu) has %zu of %zu bytes written",
                       w->tensors[w->cur].name, w->cur + 1, w->n_t, w->cur_done, w->tensors[w->cur].nbytes);
    llv_status s = gw_pad(w, (w->pos + w->alignment - 1) / w->alignment * w->alignment, err);
    if (s) return s;
    FILE *f = w->f;
    w->f = NULL;
    bool ok = fflush(f) == 0;
    int e = errno;
    ok = ok && fsync(fileno(f)) == 0;
    if (!ok) e = errno;
    if (fclose(f) != 0 && ok) {
        ok = false;
        e = errno;
    }
    if (!ok) {
        w->failed = true;
        return llv_err(err, LLV_ERR_IO, "%s: flush/close failed: %s", w->tmp_path, strerror(e));
    }
    if (rename(w->tmp_path, w->path) != 0) {
        w->failed = true;
        return llv_err(err, LLV_ERR_IO, "cannot rename %s to %s: %s", w->tmp_path, w->path, strerror(errno));
    }
    w->finished = true;
    /* make the rename durable too (best effort: some filesystems refuse) */
    char *slash = strrchr(w->path, '/');
    if (slash == w->path) {
        gw_fsync_dir("/");
    } else if (slash) {
        *slash = 0;
        gw_fsync_dir(w->path);
        *slash = '/';
    } else {
        gw_fsync_dir(".");
    }
    return LLV_OK;
}
