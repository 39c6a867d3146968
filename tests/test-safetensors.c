/* safetensors reader: hand-built files round-trip, every truncation and a
 * corpus of broken headers fail cleanly, sharded checkpoints, golden files. */
#include "safetensors.h"
#include "testing.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

typedef struct buf { unsigned char *p; size_t n; } buf;

/* 8-byte length + header (space padded to 8) + data. */
static buf st_build(const char *header, const void *data, size_t n_data) {
    size_t h = strlen(header), hp = (h + 7) & ~(size_t)7;
    buf b = {malloc(8 + hp + n_data + 1), 8 + hp + n_data};
    uint64_t v = hp;
    for (int i = 0; i < 8; i++) b.p[i] = (unsigned char)(v >> (8 * i));
    memcpy(b.p + 8, header, h);
    memset(b.p + 8 + h, ' ', hp - h);
    if (n_data) memcpy(b.p + 8 + hp, data, n_data);
    return b;
}

static void write_file(const char *path, const buf *b) {
    FILE *f = fopen(path, "wb");
    CHECK_MSG(f != NULL, "cannot write %s", path);
    if (!f) return;
    CHECK(fwrite(b->p, 1, b->n, f) == b->n);
    fclose(f);
}

static void write_text(const char *path, const char *s) {
    buf b = {(unsigned char *)s, strlen(s)};
    write_file(path, &b);
}

/* Opens a private exact-size copy (so ASan sees any over-read) and expects
 * LLV_ERR_FORMAT with a message. */
static void expect_format(const void *data, size_t n, const char *what) {
    unsigned char *copy = malloc(n ? n : 1);
    if (n) memcpy(copy, data, n);
    llv_st *st = NULL;
    llv_error e = {0};
    llv_status s = llv_st_open_memory(copy, n, &st, &e);
    CHECK_MSG(s == LLV_ERR_FORMAT && e.message[0] && st == NULL, "%s: got %s '%s'", what, llv_status_name(s),
              e.message);
    llv_st_close(st);
    free(copy);
}

static const float k_f32[6] = {1.5f, -2.0f, 3.25f, 0.0f, 1e-3f, -7.0f};
static const int64_t k_i64[2] = {-5, 1234567890123LL};

/* data layout of the valid sample: f32[2,3] @0, i64[2] @24, f16[2] @40, bf16[1] @44,
 * u8[3] @46, bool[2] @49, f64[1] @51 (unaligned on purpose), scalar i32[] @59 */
static buf sample(void) {
    unsigned char d[63];
    memset(d, 0, sizeof d);
    memcpy(d, k_f32, 24);
    memcpy(d + 24, k_i64, 16);
    uint16_t h[2] = {llv_f32_to_f16(0.5f), llv_f32_to_f16(-3.0f)};
    memcpy(d + 40, h, 4);
    uint16_t bf = llv_f32_to_bf16(2.0f);
    memcpy(d + 44, &bf, 2);
    d[46] = 7; d[47] = 255; d[48] = 0;
    d[49] = 1; d[50] = 0;
    double f64 = 3.141592653589793;
    memcpy(d + 51, &f64, 8);
    int32_t i32 = -42;
    memcpy(d + 59, &i32, 4);
    return st_build("{\"__metadata__\":{\"format\":\"pt\",\"note\":\"x\"},"
                    "\"w\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[0,24]},"
                    "\"ids\":{\"dtype\":\"I64\",\"shape\":[2],\"data_offsets\":[24,40]},"
                    "\"h\":{\"dtype\":\"F16\",\"shape\":[2],\"data_offsets\":[40,44]},"
                    "\"b\":{\"dtype\":\"BF16\",\"shape\":[1,1],\"data_offsets\":[44,46]},"
                    "\"u\":{\"dtype\":\"U8\",\"shape\":[3],\"data_offsets\":[46,49]},"
                    "\"m\":{\"dtype\":\"BOOL\",\"shape\":[2],\"data_offsets\":[49,51]},"
                    "\"e\":{\"dtype\":\"F32\",\"shape\":[0,4],\"data_offsets\":[51,51]},"
                    "\"pi\":{\"dtype\":\"F64\",\"shape\":[1],\"data_offsets\":[51,59]},"
                    "\"s\":{\"dtype\":\"I32\",\"shape\":[],\"data_offsets\":[59,63]}}",
                    d, sizeof d);
}

static void check_sample(const llv_st *st) {
    CHECK_EQ_I(llv_st_n_tensors(st), 9);
    /* sorted by name */
    for (int64_t i = 1; i < llv_st_n_tensors(st); i++)
        CHECK(strcmp(llv_st_tensor_at(st, i - 1)->name, llv_st_tensor_at(st, i)->name) < 0);
    CHECK(llv_st_tensor_at(st, 9) == NULL && llv_st_tensor_at(st, -1) == NULL);
    const llv_st_tensor *w = llv_st_find(st, "w");
    CHECK(w != NULL);
    if (w) {
        CHECK_EQ_I(w->dtype, LLV_ST_F32);
        CHECK_EQ_I(w->n_dims, 2);
        CHECK_EQ_I(w->shape[0], 2);
        CHECK_EQ_I(w->shape[1], 3);
        CHECK_EQ_I(w->nbytes, 24);
        CHECK_EQ_I(llv_st_numel(w), 6);
        CHECK(memcmp(w->data, k_f32, 24) == 0);
        CHECK_CLOSE(llv_st_get_f64(w, 2), 3.25, 0);
        CHECK_EQ_I(llv_st_get_i64(w, 5), -7);
    }
    const llv_st_tensor *ids = llv_st_find(st, "ids");
    CHECK(ids && ids->dtype == LLV_ST_I64 && llv_st_get_i64(ids, 1) == 1234567890123LL &&
          llv_st_get_i64(ids, 0) == -5);
    const llv_st_tensor *h = llv_st_find(st, "h");
    CHECK(h && llv_st_get_f64(h, 0) == 0.5 && llv_st_get_f64(h, 1) == -3.0);
    const llv_st_tensor *b = llv_st_find(st, "b");
    CHECK(b && b->dtype == LLV_ST_BF16 && b->n_dims == 2 && llv_st_get_f64(b, 0) == 2.0);
    const llv_st_tensor *u = llv_st_find(st, "u");
    CHECK(u && llv_st_get_i64(u, 1) == 255 && llv_st_get_f64(u, 0) == 7.0);
    const llv_st_tensor *m = llv_st_find(st, "m");
    CHECK(m && m->dtype == LLV_ST_BOOL && llv_st_get_i64(m, 0) == 1 && llv_st_get_i64(m, 1) == 0);
    const llv_st_tensor *e = llv_st_find(st, "e");
    CHECK(e && e->nbytes == 0 && llv_st_numel(e) == 0 && e->shape[0] == 0 && e->shape[1] == 4);
    const llv_st_tensor *pi = llv_st_find(st, "pi");
    CHECK(pi && llv_st_get_f64(pi, 0) == 3.141592653589793);
    const llv_st_tensor *s = llv_st_find(st, "s");
    CHECK(s && s->n_dims == 0 && llv_st_numel(s) == 1 && llv_st_get_i64(s, 0) == -42);
    CHECK(llv_st_find(st, "nope") == NULL);
    const char *fmt = llv_st_metadata(st, "format");
    CHECK(fmt && strcmp(fmt, "pt") == 0);
    CHECK(llv_st_metadata(st, "missing") == NULL);
}

static void test_valid(void) {
    buf b = sample();
    llv_st *st = NULL;
    llv_error e = {0};
    CHECK_OK(llv_st_open_memory(b.p, b.n, &st, &e), &e);
    if (st) check_sample(st);
    llv_st_close(st);
    /* dtype table */
    CHECK_EQ_I(llv_st_dtype_size(LLV_ST_BF16), 2);
    CHECK_EQ_I(llv_st_dtype_size(LLV_ST_F8_E5M2), 1);
    CHECK(strcmp(llv_st_dtype_name(LLV_ST_F64), "F64") == 0);
    free(b.p);
}

static void test_fp8(void) {
    unsigned char d[4] = {0x38, 0xC0, 0x3C, 0x7F}; /* e4m3: 1.0, -2.0 ; e5m2: 1.0, nan */
    buf b = st_build("{\"a\":{\"dtype\":\"F8_E4M3\",\"shape\":[2],\"data_offsets\":[0,2]},"
                     "\"b\":{\"dtype\":\"F8_E5M2\",\"shape\":[2],\"data_offsets\":[2,4]}}", d, 4);
    llv_st *st = NULL;
    llv_error e = {0};
    CHECK_OK(llv_st_open_memory(b.p, b.n, &st, &e), &e);
    if (st) {
        const llv_st_tensor *a = llv_st_find(st, "a"), *c = llv_st_find(st, "b");
        CHECK(a && llv_st_get_f64(a, 0) == 1.0 && llv_st_get_f64(a, 1) == -2.0);
        CHECK(c && llv_st_get_f64(c, 0) == 1.0 && llv_st_get_f64(c, 1) != llv_st_get_f64(c, 1));
    }
    llv_st_close(st);
    free(b.p);
}

static void test_truncations(void) {
    buf b = sample();
    for (size_t k = 0; k < b.n; k++) {
        char what[64];
        snprintf(what, sizeof what, "truncated to %zu of %zu bytes", k, b.n);
        expect_format(b.p, k, what);
    }
    free(b.p);
}

/* random bit flips never crash; any error is a clean FORMAT */
static void test_flips(void) {
    buf b = sample();
    unsigned char *copy = malloc(b.n);
    uint64_t x = 0x2545F4914F6CDD1Dull;
    for (int it = 0; it < 3000; it++) {
        memcpy(copy, b.p, b.n);
        int flips = 1 + it % 3;
        for (int f = 0; f < flips; f++) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            copy[(x >> 8) % b.n] ^= (unsigned char)(1u << (x % 8));
        }
        llv_st *st = NULL;
        llv_error e = {0};
        llv_status s = llv_st_open_memory(copy, b.n, &st, &e);
        CHECK_MSG(s == LLV_OK || (s == LLV_ERR_FORMAT && e.message[0]), "flip %d: %s", it, llv_status_name(s));
        for (int64_t i = 0; st && i < llv_st_n_tensors(st); i++) {
            const llv_st_tensor *t = llv_st_tensor_at(st, i);
            volatile double v = llv_st_get_f64(t, llv_st_numel(t) - 1); /* touches the last byte */
            (void)v;
        }
        llv_st_close(st);
    }
    free(copy);
    free(b.p);
}

static void test_broken_headers(void) {
    static const char *bad[] = {
        "",
        "[]",
        "{",
        "{\"a\":1}",
        "{\"a\":{\"dtype\":\"F33\",\"shape\":[1],\"data_offsets\":[0,4]}}",
        "{\"a\":{\"dtype\":\"f32\",\"shape\":[1],\"data_offsets\":[0,4]}}",
        "{\"a\":{\"dtype\":7,\"shape\":[1],\"data_offsets\":[0,4]}}",
        "{\"a\":{\"shape\":[1],\"data_offsets\":[0,4]}}",
        "{\"a\":{\"dtype\":\"F32\",\"data_offsets\":[0,4]}}",
        "{\"a\":{\"dtype\":\"F32\",\"shape\":[1]}}",
        "{\"a\":{\"dtype\":\"F32\",\"shape\":[-1],\"data_offsets\":[0,4]}}",
        "{\"a\":{\"dtype\":\"F32\",\"shape\":[1.5],\"data_offsets\":[0,4]}}",
        "{\"a\":{\"dtype\":\"F32\",\"shape\":[\"1\"],\"data_offsets\":[0,4]}}",
        "{\"a\":{\"dtype\":\"F32\",\"shape\":[[1]],\"data_offsets\":[0,4]}}",
        "{\"a\":{\"dtype\":\"F32\",\"shape\":1,\"data_offsets\":[0,4]}}",
        "{\"a\":{\"dtype\":\"F32\",\"shape\":[1e300],\"data_offsets\":[0,4]}}",
        "{\"a\":{\"dtype\":\"F32\",\"shape\":[4503599627370496,4503599627370496],\"data_offsets\":[0,4]}}",
        "{\"a\":{\"dtype\":\"F64\",\"shape\":[4611686018427387904],\"data_offsets\":[0,0]}}",
        "{\"a\":{\"dtype\":\"F64\",\"shape\":[4503599627370495,4096],\"data_offsets\":[0,0]}}",
        "{\"a\":{\"dtype\":\"F32\",\"shape\":[1,1,1,1,1,1,1,1,1],\"data_offsets\":[0,4]}}",
        "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,4]}}",
        "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,0]}}",
        "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4,8]}}",
        "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0]}}",
        "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[-4,0]}}",
        "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}",           /* past the end */
        "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[9007199254740988,9007199254740992]}}",
        "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[1e19,1e19]}}",
        ("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
         "\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}"), /* duplicate name */
        "{\"__metadata__\":{\"k\":1},\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}",
        "{\"__metadata__\":[],\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}",
        "{\"__metadata__\":{},\"__metadata__\":{}}",
        "{\"\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}",
        "{\"\xff\xfe\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", /* non-UTF-8 name */
        "{\"\xc0\xaf\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", /* overlong */
        "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}} trailing",
    };
    const unsigned char data[4] = {0};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        buf b = st_build(bad[i], data, sizeof data);
        char what[96];
        snprintf(what, sizeof what, "bad header #%zu '%.60s'", i, bad[i]);
        expect_format(b.p, b.n, what);
        free(b.p);
    }
    /* header lengths: huge, past the end, > 100 MiB */
    buf b = st_build("{}", NULL, 0);
    const uint64_t lens[] = {UINT64_MAX, (uint64_t)b.n, (uint64_t)b.n - 7, 101ull << 20, 1ull << 63};
    for (size_t i = 0; i < sizeof lens / sizeof lens[0]; i++) {
        for (int k = 0; k < 8; k++) b.p[k] = (unsigned char)(lens[i] >> (8 * k));
        char what[64];
        snprintf(what, sizeof what, "header length %llu", (unsigned long long)lens[i]);
        expect_format(b.p, b.n, what);
    }
    free(b.p);
    /* an empty header object is a valid file with no tensors */
    b = st_build("{}", NULL, 0);
    llv_st *st = NULL;
    llv_error e = {0};
    CHECK_OK(llv_st_open_memory(b.p, b.n, &st, &e), &e);
    CHECK_EQ_I(llv_st_n_tensors(st), 0);
    llv_st_close(st);
    free(b.p);
    /* the error names the tensor, the offsets and what was expected */
    b = st_build("{\"wq\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,4]}}", data, 4);
    CHECK_STATUS(llv_st_open_memory(b.p, b.n, &st, &e), LLV_ERR_FORMAT, &e);
    CHECK_MSG(strstr(e.message, "'wq'") && strstr(e.message, "12"), "message: %s", e.message);
    free(b.p);
}

static void test_files_and_shards(void) {
    char *dir = llv_test_tmpdir();
    CHECK(dir != NULL);
    if (!dir) return;
    llv_st *st = NULL;
    llv_error e = {0};
    /* a single file, opened directly and through its directory */
    char *single_dir = llv_test_path(dir, "single");
    mkdir(single_dir, 0700);
    char *single = llv_test_path(single_dir, "model.safetensors");
    buf b = sample();
    write_file(single, &b);
    free(b.p);
    CHECK_OK(llv_st_open(single, &st, &e), &e);
    if (st) check_sample(st);
    llv_st_close(st);
    st = NULL;
    CHECK_OK(llv_st_open(single_dir, &st, &e), &e);
    if (st) check_sample(st);
    llv_st_close(st);
    st = NULL;

    /* truncated copies on disk fail cleanly too */
    b = sample();
    char *tp = llv_test_path(dir, "trunc.safetensors");
    for (size_t k = 0; k < b.n; k += 7) {
        buf cut = {b.p, k};
        write_file(tp, &cut);
        llv_status s = llv_st_open(tp, &st, &e);
        CHECK_MSG(s == LLV_ERR_FORMAT && e.message[0] && !st && strstr(e.message, "trunc.safetensors"),
                  "file truncated to %zu: %s '%s'", k, llv_status_name(s), e.message);
        llv_st_close(st);
        st = NULL;
    }
    unlink(tp);
    free(tp);
    free(b.p);

    /* two files without an index: ambiguous */
    char *other = llv_test_path(single_dir, "other.safetensors");
    b = st_build("{}", NULL, 0);
    write_file(other, &b);
    free(b.p);
    CHECK_STATUS(llv_st_open(single_dir, &st, &e), LLV_ERR_FORMAT, &e);
    unlink(other);
    unlink(single);
    /* no file at all */
    CHECK(llv_st_open(single_dir, &st, &e) != LLV_OK && e.message[0]);
    rmdir(single_dir);
    free(other);
    free(single);
    free(single_dir);

    /* a 2-shard checkpoint with an index */
    float a[4] = {1, 2, 3, 4}, c[2] = {5, 6};
    int64_t ids[3] = {7, 8, 9};
    unsigned char d1[24], d2[8];
    memcpy(d1, a, 16);
    memcpy(d1 + 16, c, 8);
    memcpy(d2, ids, 8);
    buf s1 = st_build("{\"__metadata__\":{\"format\":\"pt\"},"
                      "\"layer.0.w\":{\"dtype\":\"F32\",\"shape\":[2,2],\"data_offsets\":[0,16]},"
                      "\"layer.0.b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[16,24]}}", d1, 24);
    buf s2 = st_build("{\"__metadata__\":{\"format\":\"other\",\"only2\":\"yes\"},"
                      "\"ids\":{\"dtype\":\"I64\",\"shape\":[1],\"data_offsets\":[0,8]}}", d2, 8);
    char *p1 = llv_test_path(dir, "model-00001-of-00002.safetensors");
    char *p2 = llv_test_path(dir, "model-00002-of-00002.safetensors");
    char *pi = llv_test_path(dir, "model.safetensors.index.json");
    write_file(p1, &s1);
    write_file(p2, &s2);
    const char *index = "{\"metadata\":{\"total_size\":32},\"weight_map\":{"
                        "\"layer.0.w\":\"model-00001-of-00002.safetensors\","
                        "\"ids\":\"model-00002-of-00002.safetensors\","
                        "\"layer.0.b\":\"model-00001-of-00002.safetensors\"}}";
    write_text(pi, index);
    for (int via = 0; via < 2; via++) {
        st = NULL;
        CHECK_OK(llv_st_open(via ? pi : dir, &st, &e), &e);
        if (!st) continue;
        CHECK_EQ_I(llv_st_n_tensors(st), 3);
        CHECK(strcmp(llv_st_tensor_at(st, 0)->name, "ids") == 0);
        CHECK(strcmp(llv_st_tensor_at(st, 2)->name, "layer.0.w") == 0);
        const llv_st_tensor *w = llv_st_find(st, "layer.0.w"), *t = llv_st_find(st, "ids");
        CHECK(w && w->shape[0] == 2 && llv_st_get_f64(w, 3) == 4.0);
        CHECK(t && llv_st_get_i64(t, 0) == 7);
        const char *fmt = llv_st_metadata(st, "format"), *o2 = llv_st_metadata(st, "only2");
        CHECK(fmt && o2 && strcmp(o2, "yes") == 0);
        llv_st_close(st);
    }
    /* broken indexes */
    static const char *bad_index[] = {
        "{}",
        "{\"weight_map\":[]}",
        "{\"weight_map\":{}}",
        "{\"weight_map\":{\"ids\":3}}",
        "{\"weight_map\":{\"ids\":\"/etc/passwd\"}}",
        "{\"weight_map\":{\"ids\":\"../x.safetensors\"}}",
        /* mapped name absent */
        "{\"weight_map\":{\"nope\":\"model-00002-of-00002.safetensors\"}}",
        /* mapped to the wrong shard */
        "{\"weight_map\":{\"ids\":\"model-00001-of-00002.safetensors\","
        "\"layer.0.w\":\"model-00001-of-00002.safetensors\"}}",
        /* the same name twice */
        "{\"weight_map\":{\"ids\":\"model-00002-of-00002.safetensors\","
        "\"ids\":\"model-00002-of-00002.safetensors\"}}",
        "{\"weight_map\":{\"ids\":\"model-00002-of-00002.safetensors\"",
    };
    for (size_t i = 0; i < sizeof bad_index / sizeof bad_index[0]; i++) {
        write_text(pi, bad_index[i]);
        st = NULL;
        llv_status s = llv_st_open(dir, &st, &e);
        CHECK_MSG(s == LLV_ERR_FORMAT && e.message[0] && !st, "bad index #%zu: %s '%s'", i, llv_status_name(s),
                  e.message);
        llv_st_close(st);
    }
    /* a missing shard file is an I/O error */
    write_text(pi, "{\"weight_map\":{\"ids\":\"model-00003-of-00002.safetensors\"}}");
    CHECK_STATUS(llv_st_open(pi, &st, &e), LLV_ERR_IO, &e);
    /* the same tensor name in two shards */
    buf s3 = st_build("{\"ids\":{\"dtype\":\"I64\",\"shape\":[1],\"data_offsets\":[0,8]},"
                      "\"x\":{\"dtype\":\"I64\",\"shape\":[1],\"data_offsets\":[0,8]}}", d2, 8);
    write_file(p1, &s3);
    write_text(pi, "{\"weight_map\":{\"x\":\"model-00001-of-00002.safetensors\","
                   "\"ids\":\"model-00002-of-00002.safetensors\"}}");
    CHECK_STATUS(llv_st_open(pi, &st, &e), LLV_ERR_FORMAT, &e);
    CHECK_MSG(strstr(e.message, "ids") != NULL, "message: %s", e.message);
    /* a broken shard: its error surfaces */
    buf s4 = s1;
    s4.n -= 3;
    write_file(p1, &s4);
    write_text(pi, index);
    CHECK_STATUS(llv_st_open(dir, &st, &e), LLV_ERR_FORMAT, &e);
    /* and a file that is too short to hold the length */
    buf tiny = {(unsigned char *)"abc", 3};
    write_file(p1, &tiny);
    CHECK_STATUS(llv_st_open(p1, &st, &e), LLV_ERR_FORMAT, &e);
    unlink(p1);
    unlink(p2);
    unlink(pi);
    rmdir(dir);
    free(s1.p);
    free(s2.p);
    free(s3.p);
    free(p1);
    free(p2);
    free(pi);
    free(dir);
}

static void test_golden(void) {
    const char *sd = llv_test_shared_dir();
    if (!sd) {
        printf("golden files: skipped (no shared dir)\n");
        return;
    }
    llv_st *st = NULL;
    llv_error e = {0};
    char *p = llv_test_path(sd, "golden/image_processor/tiny_10x7.safetensors");
    CHECK_OK(llv_st_open(p, &st, &e), &e);
    if (st) {
        CHECK_EQ_I(llv_st_n_tensors(st), 10);
        const llv_st_tensor *t = llv_st_find(st, "input_hw");
        CHECK(t && t->dtype == LLV_ST_I64 && t->n_dims == 1 && t->shape[0] == 2);
        if (t) {
            CHECK_EQ_I(llv_st_get_i64(t, 0), 7);
            CHECK_EQ_I(llv_st_get_i64(t, 1), 10);
        }
        t = llv_st_find(st, "resized_hw");
        CHECK(t && llv_st_get_i64(t, 0) == 392 && llv_st_get_i64(t, 1) == 560);
        t = llv_st_find(st, "pixel_values_f32");
        CHECK(t && t->dtype == LLV_ST_F32 && t->n_dims == 4 && t->shape[1] == 3 && t->shape[3] == 560 &&
              t->nbytes == 3763200);
        t = llv_st_find(st, "rgb_hwc_u8");
        CHECK(t && t->dtype == LLV_ST_U8 && t->shape[0] == 7 && t->shape[1] == 10 && t->shape[2] == 3);
        t = llv_st_find(st, "tiles_hw"); /* at an unaligned offset */
        CHECK(t && llv_st_get_i64(t, 0) == 1 && llv_st_get_i64(t, 1) == 1);
        t = llv_st_find(st, "aspect_ratio_mask");
        CHECK(t && llv_st_get_i64(t, 0) == 1 && llv_st_get_i64(t, 1) == 0);
        const char *src = llv_st_metadata(st, "source");
        CHECK(src && strcmp(src, "tiny_10x7.png") == 0);
    }
    llv_st_close(st);
    st = NULL;
    free(p);
    p = llv_test_path(sd, "golden/models/tiny-a");
    CHECK_OK(llv_st_open(p, &st, &e), &e); /* a directory with one model.safetensors */
    if (st) {
        CHECK_EQ_I(llv_st_n_tensors(st), 211);
        const llv_st_tensor *t = llv_st_find(st, "language_model.model.embed_tokens.weight");
        CHECK(t && t->dtype == LLV_ST_F32 && t->shape[0] == 328 && t->shape[1] == 64);
        t = llv_st_find(st, "language_model.model.layers.0.mlp.down_proj.weight");
        CHECK(t && t->shape[0] == 64 && t->shape[1] == 176);
        const char *fmt = llv_st_metadata(st, "format");
        CHECK(fmt && strcmp(fmt, "pt") == 0);
        /* sanity on values: random weights, finite, not all zero */
        double sum = 0;
        int finite = 1;
        for (int64_t i = 0; t && i < llv_st_numel(t); i++) {
            double v = llv_st_get_f64(t, i);
            finite &= (v == v);
            sum += v * v;
        }
        CHECK(finite && sum > 0);
    }
    llv_st_close(st);
    st = NULL;
    free(p);
    /* a case file: F64 and F16 tensors as well */
    p = llv_test_path(sd, "golden/models/tiny-a/cases/text_only.safetensors");
    CHECK_OK(llv_st_open(p, &st, &e), &e);
    int seen_f64 = 0;
    for (int64_t i = 0; st && i < llv_st_n_tensors(st); i++) {
        const llv_st_tensor *t = llv_st_tensor_at(st, i);
        seen_f64 |= t->dtype == LLV_ST_F64;
    }
    CHECK(seen_f64);
    const llv_st_tensor *ids = st ? llv_st_find(st, "input_ids") : NULL;
    CHECK(ids && ids->dtype == LLV_ST_I64 && ids->shape[0] == 1);
    llv_st_close(st);
    free(p);
}

int main(int argc, char **argv) {
    llv_test_init(argc, argv);
    if (llv_test_case("valid file")) test_valid();
    if (llv_test_case("fp8")) test_fp8();
    if (llv_test_case("truncations")) test_truncations();
    if (llv_test_case("broken headers")) test_broken_headers();
    if (llv_test_case("bit flips")) test_flips();
    if (llv_test_case("files and shards")) test_files_and_shards();
    if (llv_test_case("golden")) test_golden();
    return llv_test_finish();
}
