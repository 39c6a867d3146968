/* GGUF reader/writer: a file written by the streaming writer reads back
 * exactly (every KV type, every weight type); every truncation and a corpus
 * of hand-built broken files fail cleanly with LLV_ERR_FORMAT. */
#include "gguf.h"
#include "testing.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ------------------------------------------------------------------------ */
/* helpers                                                                   */

static char *g_tmpdir;

static uint64_t rng_state = 0x9E3779B97F4A7C15ull;
static uint64_t rng(void) {
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

static unsigned char *read_all(const char *path, size_t *n) { return (unsigned char *)llv_test_read_file(path, n); }

static int count_dir_entries(const char *dir) {
    DIR *d = opendir(dir);
    if (!d) return -1;
    int n = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL)
        if (de->d_name[0] != '.') n++;
    closedir(d);
    return n;
}

/* Opens a private exact-size copy and expects a clean LLV_ERR_FORMAT. */
static void expect_format(const void *data, size_t n, const char *what, const char *must_contain) {
    unsigned char *copy = malloc(n ? n : 1);
    if (n) memcpy(copy, data, n);
    llv_gguf *g = NULL;
    llv_error e = {0};
    llv_status s = llv_gguf_open_memory(copy, n, &g, &e);
    CHECK_MSG(s == LLV_ERR_FORMAT && e.message[0] && g == NULL, "%s: got %s '%s'", what, llv_status_name(s),
              e.message);
    if (must_contain && s == LLV_ERR_FORMAT)
        CHECK_MSG(strstr(e.message, must_contain) != NULL, "%s: message '%s' lacks '%s'", what, e.message,
                  must_contain);
    llv_gguf_close(g);
    free(copy);
}

/* a growable byte buffer for hand-built files */
typedef struct bb { unsigned char *p; size_t n, cap; } bb;
static void bb_put(bb *b, const void *d, size_t n) {
    if (b->n + n > b->cap) {
        b->cap = (b->n + n) * 2 + 64;
        b->p = realloc(b->p, b->cap);
    }
    memcpy(b->p + b->n, d, n);
    b->n += n;
}
static void bb_u32(bb *b, uint32_t v) { bb_put(b, &v, 4); }
static void bb_u64(bb *b, uint64_t v) { bb_put(b, &v, 8); }
static void bb_str(bb *b, const char *s) {
    bb_u64(b, strlen(s));
    bb_put(b, s, strlen(s));
}
static void bb_pad(bb *b, size_t a) {
    static const unsigned char z[64];
    while (b->n % a) bb_put(b, z, 1);
}

/* ------------------------------------------------------------------------ */
/* round trip                                                                */

typedef struct spec { const char *name; int type; int n_dims; int64_t ne[4]; } spec;

static const spec k_tensors[] = {
    {"token_embd.weight", LLV_TYPE_F32, 2, {64, 3, 1, 1}},
    {"blk.0.attn_q.weight", LLV_TYPE_F16, 2, {32, 5, 1, 1}},
    {"blk.0.attn_norm.weight", LLV_TYPE_BF16, 1, {48, 1, 1, 1}},
    {"blk.0.ffn_up.weight", LLV_TYPE_Q8_0, 2, {64, 3, 1, 1}},
    {"blk.0.ffn_gate.weight", LLV_TYPE_Q4_0, 3, {32, 3, 2, 1}},
    {"v.patch_embd.weight", LLV_TYPE_F16, 4, {2, 2, 3, 4}},
    {"empty", LLV_TYPE_F32, 2, {0, 7, 1, 1}},
    {"blk.0.ffn_down.weight", LLV_TYPE_Q6_K, 2, {512, 1, 1, 1}},
    {"blk.0.attn_k.weight", LLV_TYPE_Q4_1, 2, {64, 3, 1, 1}},
    {"blk.0.attn_v.weight", LLV_TYPE_Q5_0, 2, {32, 3, 1, 1}},
    {"blk.0.attn_output.weight", LLV_TYPE_Q5_1, 2, {96, 1, 1, 1}},
    /* last: 2 x 144 = 288 bytes, a multiple of 32, so the file ends exactly at its data */
    {"output.weight", LLV_TYPE_Q4_K, 2, {256, 2, 1, 1}},
};
#define N_T (sizeof k_tensors / sizeof k_tensors[0])

static size_t spec_bytes(const spec *s) {
    int64_t rows = s->ne[1] * s->ne[2] * s->ne[3];
    return (size_t)(s->ne[0] / llv_type_block_size(s->type)) * llv_type_block_bytes(s->type) * (size_t)rows;
}

static unsigned char *tensor_data(size_t i, size_t n) {
    unsigned char *d = malloc(n ? n : 1);
    for (size_t k = 0; k < n; k++) d[k] = (unsigned char)(k * 31 + i * 7 + 1);
    return d;
}

static const char *k_strs[] = {"", "hello", "Ġt", "héllo wörld", "<|image|>", "\xe2\x82\xac", "a b"};
#define N_STRS (sizeof k_strs / sizeof k_strs[0])

/* Declares the KVs of the sample file. */
static void declare_kvs(llv_gguf_writer *w, uint32_t alignment) {
    llv_error e = {0};
    CHECK_OK(llv_gguf_set_str(w, "general.architecture", "mllama", &e), &e);
    CHECK_OK(llv_gguf_set_u32(w, "u32", 4000000000u, &e), &e);
    CHECK_OK(llv_gguf_set_i32(w, "i32", -123456, &e), &e);
    CHECK_OK(llv_gguf_set_u64(w, "u64", 0xFFFFFFFFFFFFFFFFull, &e), &e);
    CHECK_OK(llv_gguf_set_f32(w, "f32", 1e-5f, &e), &e);
    CHECK_OK(llv_gguf_set_bool(w, "bool", true, &e), &e);
    uint8_t u8 = 200;
    int8_t i8 = -100;
    uint16_t u16 = 60000;
    int16_t i16 = -30000;
    int64_t i64 = -9000000000000LL;
    double f64 = 500000.25;
    CHECK_OK(llv_gguf_set_val(w, "u8", LLV_GGUF_U8, &u8, &e), &e);
    CHECK_OK(llv_gguf_set_val(w, "i8", LLV_GGUF_I8, &i8, &e), &e);
    CHECK_OK(llv_gguf_set_val(w, "u16", LLV_GGUF_U16, &u16, &e), &e);
    CHECK_OK(llv_gguf_set_val(w, "i16", LLV_GGUF_I16, &i16, &e), &e);
    CHECK_OK(llv_gguf_set_val(w, "i64", LLV_GGUF_I64, &i64, &e), &e);
    CHECK_OK(llv_gguf_set_val(w, "f64", LLV_GGUF_F64, &f64, &e), &e);
    CHECK_STATUS(llv_gguf_set_val(w, "bad", LLV_GGUF_STRING, &f64, &e), LLV_ERR_INVALID_ARGUMENT, &e);
    /* arrays of every fixed-size type */
    uint8_t a_u8[3] = {1, 2, 255};
    int8_t a_i8[2] = {-1, 127};
    uint16_t a_u16[2] = {1, 65535};
    int16_t a_i16[2] = {-32768, 5};
    uint32_t a_u32[3] = {3, 8, 13};
    int32_t a_i32[4] = {1, 3, 3, -1};
    float a_f32[3] = {0.5f, -1.5f, 3.0f};
    uint8_t a_bool[2] = {1, 0};
    uint64_t a_u64[2] = {0, 1ull << 40};
    int64_t a_i64[2] = {-(1LL << 40), 7};
    double a_f64[2] = {0.125, -2.5};
    CHECK_OK(llv_gguf_set_arr(w, "arr.u8", LLV_GGUF_U8, a_u8, 3, &e), &e);
    CHECK_OK(llv_gguf_set_arr(w, "arr.i8", LLV_GGUF_I8, a_i8, 2, &e), &e);
    CHECK_OK(llv_gguf_set_arr(w, "arr.u16", LLV_GGUF_U16, a_u16, 2, &e), &e);
    CHECK_OK(llv_gguf_set_arr(w, "arr.i16", LLV_GGUF_I16, a_i16, 2, &e), &e);
    CHECK_OK(llv_gguf_set_arr(w, "arr.u32", LLV_GGUF_U32, a_u32, 3, &e), &e);
    CHECK_OK(llv_gguf_set_arr(w, "arr.i32", LLV_GGUF_I32, a_i32, 4, &e), &e);
    CHECK_OK(llv_gguf_set_arr(w, "arr.f32", LLV_GGUF_F32, a_f32, 3, &e), &e);
    CHECK_OK(llv_gguf_set_arr(w, "arr.bool", LLV_GGUF_BOOL, a_bool, 2, &e), &e);
    CHECK_OK(llv_gguf_set_arr(w, "arr.u64", LLV_GGUF_U64, a_u64, 2, &e), &e);
    CHECK_OK(llv_gguf_set_arr(w, "arr.i64", LLV_GGUF_I64, a_i64, 2, &e), &e);
    CHECK_OK(llv_gguf_set_arr(w, "arr.f64", LLV_GGUF_F64, a_f64, 2, &e), &e);
    CHECK_OK(llv_gguf_set_arr(w, "arr.empty", LLV_GGUF_I32, NULL, 0, &e), &e);
    CHECK_STATUS(llv_gguf_set_arr(w, "arr.bad", LLV_GGUF_ARRAY, a_u8, 1, &e), LLV_ERR_INVALID_ARGUMENT, &e);
    CHECK_OK(llv_gguf_set_arr_str(w, "arr.str", k_strs, NULL, N_STRS, &e), &e);
    const char *with_nul[2] = {"a\0b", "xyz"};
    size_t lens[2] = {3, 2};
    CHECK_OK(llv_gguf_set_arr_str(w, "arr.strlen", with_nul, lens, 2, &e), &e);
    /* replacing keeps the first position */
    CHECK_OK(llv_gguf_set_str(w, "general.architecture", "llama", &e), &e);
    if (alignment) CHECK_OK(llv_gguf_set_u32(w, "general.alignment", alignment, &e), &e);
    /* bad keys are refused */
    CHECK_STATUS(llv_gguf_set_u32(w, "", 1, &e), LLV_ERR_INVALID_ARGUMENT, &e);
    CHECK_STATUS(llv_gguf_set_u32(w, "\xff", 1, &e), LLV_ERR_INVALID_ARGUMENT, &e);
}

static void check_kvs(const llv_gguf *g, uint32_t alignment) {
    llv_error e = {0};
    CHECK_EQ_I(llv_gguf_version(g), 3);
    CHECK_EQ_I(llv_gguf_alignment(g), alignment ? alignment : 32);
    CHECK_EQ_I(llv_gguf_n_kv(g), 26 + (alignment ? 1 : 0));
    CHECK(strcmp(llv_gguf_key(g, 0), "general.architecture") == 0);
    CHECK(strcmp(llv_gguf_key(g, 1), "u32") == 0);
    CHECK(llv_gguf_key(g, -1) == NULL && llv_gguf_key(g, 1000) == NULL);
    llv_gguf_str s = {0};
    CHECK_OK(llv_gguf_get_str(g, "general.architecture", &s, &e), &e);
    CHECK(s.len == 5 && memcmp(s.ptr, "llama", 5) == 0);
    uint32_t u32 = 0;
    int64_t i64 = 0;
    float f = 0;
    bool b = false;
    CHECK_OK(llv_gguf_get_u32(g, "u32", &u32, &e), &e);
    CHECK_EQ_I(u32, 4000000000u);
    CHECK_OK(llv_gguf_get_i64(g, "i32", &i64, &e), &e);
    CHECK_EQ_I(i64, -123456);
    CHECK_STATUS(llv_gguf_get_u32(g, "i32", &u32, &e), LLV_ERR_FORMAT, &e);
    CHECK_STATUS(llv_gguf_get_i64(g, "u64", &i64, &e), LLV_ERR_FORMAT, &e); /* does not fit */
    CHECK_OK(llv_gguf_get_f32(g, "f32", &f, &e), &e);
    CHECK(f == 1e-5f);
    CHECK_OK(llv_gguf_get_f32(g, "f64", &f, &e), &e);
    CHECK(f == 500000.25f);
    CHECK_OK(llv_gguf_get_bool(g, "bool", &b, &e), &e);
    CHECK(b);
    CHECK_OK(llv_gguf_get_i64(g, "u8", &i64, &e), &e);
    CHECK_EQ_I(i64, 200);
    CHECK_OK(llv_gguf_get_i64(g, "i8", &i64, &e), &e);
    CHECK_EQ_I(i64, -100);
    CHECK_OK(llv_gguf_get_u32(g, "u16", &u32, &e), &e);
    CHECK_EQ_I(u32, 60000);
    CHECK_OK(llv_gguf_get_i64(g, "i16", &i64, &e), &e);
    CHECK_EQ_I(i64, -30000);
    CHECK_OK(llv_gguf_get_i64(g, "i64", &i64, &e), &e);
    CHECK_EQ_I(i64, -9000000000000LL);
    CHECK_EQ_I(llv_gguf_kv_type(g, llv_gguf_find_key(g, "f64")), LLV_GGUF_F64);
    /* type mismatches and absent keys */
    CHECK_STATUS(llv_gguf_get_str(g, "u32", &s, &e), LLV_ERR_FORMAT, &e);
    CHECK_MSG(strstr(e.message, "u32") && strstr(e.message, "string"), "message: %s", e.message);
    CHECK_STATUS(llv_gguf_get_bool(g, "u8", &b, &e), LLV_ERR_FORMAT, &e);
    CHECK_STATUS(llv_gguf_get_f32(g, "i32", &f, &e), LLV_ERR_FORMAT, &e);
    CHECK_STATUS(llv_gguf_get_i64(g, "bool", &i64, &e), LLV_ERR_FORMAT, &e);
    CHECK_STATUS(llv_gguf_get_i64(g, "arr.i32", &i64, &e), LLV_ERR_FORMAT, &e);
    CHECK_STATUS(llv_gguf_get_i64(g, "nope", &i64, &e), LLV_ERR_NOT_FOUND, &e);
    CHECK_EQ_I(llv_gguf_find_key(g, "nope"), -1);
    /* arrays */
    int64_t ai[8];
    float af[8];
    size_t n = 0;
    CHECK_OK(llv_gguf_get_arr_i64(g, "arr.i32", ai, 8, &n, &e), &e);
    CHECK(n == 4 && ai[0] == 1 && ai[3] == -1);
    CHECK_OK(llv_gguf_get_arr_i64(g, "arr.u8", ai, 8, &n, &e), &e);
    CHECK(n == 3 && ai[2] == 255);
    CHECK_OK(llv_gguf_get_arr_i64(g, "arr.i8", ai, 8, &n, &e), &e);
    CHECK(n == 2 && ai[0] == -1 && ai[1] == 127);
    CHECK_OK(llv_gguf_get_arr_i64(g, "arr.u16", ai, 8, &n, &e), &e);
    CHECK(n == 2 && ai[1] == 65535);
    CHECK_OK(llv_gguf_get_arr_i64(g, "arr.i16", ai, 8, &n, &e), &e);
    CHECK(n == 2 && ai[0] == -32768);
    CHECK_OK(llv_gguf_get_arr_i64(g, "arr.u32", ai, 8, &n, &e), &e);
    CHECK(n == 3 && ai[2] == 13);
    CHECK_OK(llv_gguf_get_arr_i64(g, "arr.u64", ai, 8, &n, &e), &e);
    CHECK(n == 2 && ai[1] == (1LL << 40));
    CHECK_OK(llv_gguf_get_arr_i64(g, "arr.i64", ai, 8, &n, &e), &e);
    CHECK(n == 2 && ai[0] == -(1LL << 40));
    CHECK_OK(llv_gguf_get_arr_i64(g, "arr.empty", ai, 8, &n, &e), &e);
    CHECK_EQ_I(n, 0);
    CHECK_STATUS(llv_gguf_get_arr_i64(g, "arr.i32", ai, 2, &n, &e), LLV_ERR_BUFFER_TOO_SMALL, &e);
    CHECK_EQ_I(n, 4);
    CHECK_STATUS(llv_gguf_get_arr_i64(g, "arr.f32", ai, 8, &n, &e), LLV_ERR_FORMAT, &e);
    CHECK_OK(llv_gguf_get_arr_f32(g, "arr.f32", af, 8, &n, &e), &e);
    CHECK(n == 3 && af[0] == 0.5f && af[1] == -1.5f && af[2] == 3.0f);
    CHECK_OK(llv_gguf_get_arr_f32(g, "arr.f64", af, 8, &n, &e), &e);
    CHECK(n == 2 && af[0] == 0.125f && af[1] == -2.5f);
    CHECK_STATUS(llv_gguf_get_arr_f32(g, "arr.i32", af, 8, &n, &e), LLV_ERR_FORMAT, &e);
    int64_t ib = llv_gguf_find_key(g, "arr.bool");
    CHECK(ib >= 0 && llv_gguf_kv_type(g, ib) == LLV_GGUF_ARRAY && llv_gguf_arr_type(g, ib) == LLV_GGUF_BOOL &&
          llv_gguf_arr_n(g, ib) == 2);
    const unsigned char *bd = llv_gguf_arr_data(g, ib);
    CHECK(bd && bd[0] == 1 && bd[1] == 0);
    int64_t if64 = llv_gguf_find_key(g, "arr.f64");
    const unsigned char *fd = llv_gguf_arr_data(g, if64);
    double d1 = 0;
    if (fd) memcpy(&d1, fd + 8, 8);
    CHECK(d1 == -2.5);
    int64_t is = llv_gguf_find_key(g, "arr.str");
    CHECK(is >= 0 && llv_gguf_arr_type(g, is) == LLV_GGUF_STRING && llv_gguf_arr_n(g, is) == N_STRS);
    CHECK(llv_gguf_arr_data(g, is) == NULL);
    for (size_t j = 0; j < N_STRS; j++) {
        llv_gguf_str t = llv_gguf_arr_str(g, is, j);
        CHECK_MSG(t.len == strlen(k_strs[j]) && (t.len == 0 || memcmp(t.ptr, k_strs[j], t.len) == 0),
                  "string %zu", j);
    }
    CHECK(llv_gguf_arr_str(g, is, N_STRS).ptr == NULL);
    CHECK(llv_gguf_arr_str(g, ib, 0).ptr == NULL);
    int64_t il = llv_gguf_find_key(g, "arr.strlen");
    llv_gguf_str t0 = llv_gguf_arr_str(g, il, 0), t1 = llv_gguf_arr_str(g, il, 1);
    CHECK(t0.len == 3 && memcmp(t0.ptr, "a\0b", 3) == 0 && t1.len == 2 && memcmp(t1.ptr, "xy", 2) == 0);
}

static void check_tensors(const llv_gguf *g) {
    CHECK_EQ_I(llv_gguf_n_tensors(g), N_T);
    const unsigned char *base = llv_gguf_data_base(g);
    size_t align = llv_gguf_alignment(g);
    for (size_t i = 0; i < N_T; i++) {
        const spec *sp = &k_tensors[i];
        const llv_tensor *t = llv_gguf_find_tensor(g, sp->name);
        CHECK_MSG(t != NULL && t == llv_gguf_tensor(g, (int64_t)i), "tensor %s", sp->name);
        if (!t) continue;
        CHECK(strcmp(t->name, sp->name) == 0);
        CHECK_EQ_I(t->type, sp->type);
        CHECK_EQ_I(t->n_dims, sp->n_dims);
        for (int d = 0; d < 4; d++) CHECK_EQ_I(t->ne[d], sp->ne[d]);
        size_t nb = spec_bytes(sp);
        CHECK_EQ_I(t->nbytes, nb);
        CHECK_MSG(((size_t)((const unsigned char *)t->data - base)) % align == 0, "tensor %s alignment", sp->name);
        unsigned char *want = tensor_data(i, nb);
        CHECK_MSG(memcmp(t->data, want, nb) == 0, "tensor %s data", sp->name);
        free(want);
    }
    CHECK(llv_gguf_find_tensor(g, "nope") == NULL);
    CHECK(llv_gguf_tensor(g, -1) == NULL && llv_gguf_tensor(g, (int64_t)N_T) == NULL);
}

/* Writes the sample with the streaming writer, data in random-sized chunks. */
static bool write_sample(const char *path, uint32_t alignment) {
    llv_gguf_writer *w = NULL;
    llv_error e = {0};
    CHECK_OK(llv_gguf_writer_create(&w, &e), &e);
    if (!w) return false;
    declare_kvs(w, alignment);
    for (size_t i = 0; i < N_T; i++)
        CHECK_OK(llv_gguf_add_tensor(w, k_tensors[i].name, k_tensors[i].type, k_tensors[i].n_dims, k_tensors[i].ne,
                                     &e), &e);
    int64_t bad_ne[2] = {100, 2};
    CHECK_STATUS(llv_gguf_add_tensor(w, "bad", LLV_TYPE_Q4_K, 2, bad_ne, &e), LLV_ERR_INVALID_ARGUMENT, &e);
    CHECK_STATUS(llv_gguf_add_tensor(w, "bad", 99, 2, bad_ne, &e), LLV_ERR_INVALID_ARGUMENT, &e);
    CHECK_STATUS(llv_gguf_add_tensor(w, k_tensors[0].name, LLV_TYPE_F32, 2, bad_ne, &e), LLV_ERR_INVALID_ARGUMENT,
                 &e);
    CHECK_STATUS(llv_gguf_writer_write(w, "x", 1, &e), LLV_ERR_STATE, &e);
    CHECK_OK(llv_gguf_writer_begin(w, path, &e), &e);
    CHECK_STATUS(llv_gguf_set_u32(w, "late", 1, &e), LLV_ERR_STATE, &e);
    CHECK_STATUS(llv_gguf_writer_finish(w, &e), LLV_ERR_STATE, &e); /* nothing written yet */
    for (size_t i = 0; i < N_T; i++) {
        size_t nb = spec_bytes(&k_tensors[i]);
        unsigned char *d = tensor_data(i, nb);
        if (nb) CHECK_STATUS(llv_gguf_writer_write(w, d, nb + 1, &e), LLV_ERR_INVALID_ARGUMENT, &e); /* too much */
        size_t done = 0;
        while (done < nb) {
            size_t chunk = 1 + (size_t)(rng() % 97);
            if (chunk > nb - done) chunk = nb - done;
            CHECK_OK(llv_gguf_writer_write(w, d + done, chunk, &e), &e);
            done += chunk;
        }
        free(d);
    }
    CHECK_STATUS(llv_gguf_writer_write(w, "x", 1, &e), LLV_ERR_INVALID_ARGUMENT, &e);
    llv_status s = llv_gguf_writer_finish(w, &e);
    CHECK_OK(s, &e);
    llv_gguf_writer_free(w);
    return s == LLV_OK;
}

static unsigned char *g_sample; /* the written sample file, for the corpus */
static size_t g_sample_n;

static void test_round_trip(void) {
    llv_error e = {0};
    const uint32_t aligns[2] = {0, 64};
    for (int k = 0; k < 2; k++) {
        char *path = llv_test_path(g_tmpdir, k ? "sample64.gguf" : "sample.gguf");
        if (!write_sample(path, aligns[k])) {
            free(path);
            continue;
        }
        CHECK_EQ_I(count_dir_entries(g_tmpdir), k + 1); /* no temporary file left */
        llv_gguf *g = NULL;
        CHECK_OK(llv_gguf_open(path, &g, &e), &e);
        if (g) {
            check_kvs(g, aligns[k]);
            check_tensors(g);
            const llv_tensor *last = llv_gguf_tensor(g, (int64_t)N_T - 1);
            if (k == 0) /* default alignment: the last tensor ends the file, so every truncation must break it */
            CHECK_EQ_I((size_t)((const unsigned char *)last->data - (const unsigned char *)llv_gguf_data_base(g)) +
                           last->nbytes, llv_gguf_file_size(g));
        }
        /* same bytes through open_memory */
        size_t n = 0;
        unsigned char *bytes = read_all(path, &n);
        llv_gguf *gm = NULL;
        CHECK_OK(llv_gguf_open_memory(bytes, n, &gm, &e), &e);
        if (gm) {
            check_kvs(gm, aligns[k]);
            check_tensors(gm);
        }
        llv_gguf_close(gm);
        if (k == 0) {
            g_sample = bytes;
            g_sample_n = n;
        } else {
            free(bytes);
        }
        /* copy_kvs: rewrite with the same KVs and no tensors */
        if (g) {
            char *p2 = llv_test_path(g_tmpdir, "copy.gguf");
            llv_gguf_writer *w = NULL;
            CHECK_OK(llv_gguf_writer_create(&w, &e), &e);
            CHECK_OK(llv_gguf_copy_kvs(w, g, &e), &e);
            CHECK_OK(llv_gguf_writer_begin(w, p2, &e), &e);
            CHECK_OK(llv_gguf_writer_finish(w, &e), &e);
            llv_gguf_writer_free(w);
            llv_gguf *g2 = NULL;
            CHECK_OK(llv_gguf_open(p2, &g2, &e), &e);
            if (g2) {
                check_kvs(g2, aligns[k]);
                CHECK_EQ_I(llv_gguf_n_tensors(g2), 0);
                for (int64_t i = 0; i < llv_gguf_n_kv(g); i++)
                    CHECK(strcmp(llv_gguf_key(g, i), llv_gguf_key(g2, i)) == 0);
            }
            llv_gguf_close(g2);
            unlink(p2);
            free(p2);
        }
        llv_gguf_close(g);
        free(path);
    }
    /* free without finish removes the temporary file and leaves no target */
    int before = count_dir_entries(g_tmpdir);
    char *p3 = llv_test_path(g_tmpdir, "unfinished.gguf");
    llv_gguf_writer *w = NULL;
    CHECK_OK(llv_gguf_writer_create(&w, &e), &e);
    int64_t ne[1] = {32};
    CHECK_OK(llv_gguf_add_tensor(w, "t", LLV_TYPE_F32, 1, ne, &e), &e);
    CHECK_OK(llv_gguf_writer_begin(w, p3, &e), &e);
    CHECK_EQ_I(count_dir_entries(g_tmpdir), before + 1);
    CHECK_OK(llv_gguf_writer_write(w, "abcd", 4, &e), &e);
    CHECK_STATUS(llv_gguf_writer_finish(w, &e), LLV_ERR_STATE, &e); /* incomplete */
    CHECK_MSG(strstr(e.message, "'t'") != NULL, "message: %s", e.message);
    llv_gguf_writer_free(w);
    CHECK_EQ_I(count_dir_entries(g_tmpdir), before);
    CHECK(access(p3, F_OK) != 0);
    /* begin into a directory that does not exist: clean I/O error */
    char *p4 = llv_test_path(g_tmpdir, "no/such/dir.gguf");
    CHECK_OK(llv_gguf_writer_create(&w, &e), &e);
    CHECK_STATUS(llv_gguf_writer_begin(w, p4, &e), LLV_ERR_IO, &e);
    llv_gguf_writer_free(w);
    free(p3);
    free(p4);
}

/* A tokenizer-sized string array: open stays fast and lookups are O(1). */
static void test_big_vocab(void) {
    enum { N_TOK = 128257, N_MERGE = 280147 };
    char **toks = malloc(sizeof *toks * N_MERGE);
    for (int i = 0; i < N_MERGE; i++) {
        char buf[32];
        snprintf(buf, sizeof buf, i < N_TOK ? "tok%d" : "m %d", i);
        toks[i] = strdup(buf);
    }
    llv_error e = {0};
    llv_gguf_writer *w = NULL;
    CHECK_OK(llv_gguf_writer_create(&w, &e), &e);
    CHECK_OK(llv_gguf_set_arr_str(w, "tokenizer.ggml.tokens", (const char *const *)toks, NULL, N_TOK, &e), &e);
    CHECK_OK(llv_gguf_set_arr_str(w, "tokenizer.ggml.merges", (const char *const *)toks, NULL, N_MERGE, &e), &e);
    char *path = llv_test_path(g_tmpdir, "vocab.gguf");
    CHECK_OK(llv_gguf_writer_begin(w, path, &e), &e);
    CHECK_OK(llv_gguf_writer_finish(w, &e), &e);
    llv_gguf_writer_free(w);
    llv_gguf *g = NULL;
    CHECK_OK(llv_gguf_open(path, &g, &e), &e);
    if (g) {
        int64_t it = llv_gguf_find_key(g, "tokenizer.ggml.tokens"), im = llv_gguf_find_key(g, "tokenizer.ggml.merges");
        CHECK(llv_gguf_arr_n(g, it) == N_TOK && llv_gguf_arr_n(g, im) == N_MERGE);
        int bad = 0;
        for (int j = 0; j < N_MERGE; j += 997) {
            llv_gguf_str s = llv_gguf_arr_str(g, im, (uint64_t)j);
            bad += s.len != strlen(toks[j]) || memcmp(s.ptr, toks[j], s.len) != 0;
        }
        llv_gguf_str last = llv_gguf_arr_str(g, it, N_TOK - 1);
        bad += last.len != strlen(toks[N_TOK - 1]) || memcmp(last.ptr, toks[N_TOK - 1], last.len) != 0;
        CHECK_EQ_I(bad, 0);
    }
    llv_gguf_close(g);
    unlink(path);
    free(path);
    for (int i = 0; i < N_MERGE; i++) free(toks[i]);
    free(toks);
}

static void test_truncations(void) {
    if (!g_sample) return;
    for (size_t k = 0; k < g_sample_n; k++) {
        char what[64];
        snprintf(what, sizeof what, "truncated to %zu of %zu bytes", k, g_sample_n);
        expect_format(g_sample, k, what, NULL);
    }
    /* on disk too (a few sizes, incl. empty) */
    const size_t sizes[] = {0, 3, 23, 24, 100, g_sample_n / 2, g_sample_n - 1};
    char *path = llv_test_path(g_tmpdir, "trunc.gguf");
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        FILE *f = fopen(path, "wb");
        if (!f) continue;
        fwrite(g_sample, 1, sizes[i], f);
        fclose(f);
        llv_gguf *g = NULL;
        llv_error e = {0};
        llv_status s = llv_gguf_open(path, &g, &e);
        CHECK_MSG(s == LLV_ERR_FORMAT && e.message[0] && !g, "file truncated to %zu: %s '%s'", sizes[i],
                  llv_status_name(s), e.message);
        CHECK_MSG(strstr(e.message, "trunc.gguf") != NULL, "message names the file: %s", e.message);
        llv_gguf_close(g);
    }
    unlink(path);
    free(path);
}

/* ------------------------------------------------------------------------ */
/* hand-built broken files                                                   */

typedef struct tinfo { const char *name; uint32_t n_dims; uint64_t ne[4]; uint32_t type; uint64_t offset; } tinfo;

/* header + raw KV bytes + tensor infos + padding + data_bytes of zeros */
static bb build(uint32_t version, uint64_t n_tensors, uint64_t n_kv, const bb *kvs, const tinfo *ti, size_t n_ti,
                size_t align, size_t data_bytes) {
    bb b = {0};
    bb_put(&b, "GGUF", 4);
    bb_u32(&b, version);
    bb_u64(&b, n_tensors);
    bb_u64(&b, n_kv);
    if (kvs && kvs->n) bb_put(&b, kvs->p, kvs->n);
    for (size_t i = 0; i < n_ti; i++) {
        bb_str(&b, ti[i].name);
        bb_u32(&b, ti[i].n_dims);
        for (uint32_t d = 0; d < ti[i].n_dims && d < 4; d++) bb_u64(&b, ti[i].ne[d]);
        bb_u32(&b, ti[i].type);
        bb_u64(&b, ti[i].offset);
    }
    bb_pad(&b, align);
    for (size_t i = 0; i < data_bytes; i++) bb_put(&b, "", 1);
    return b;
}

static bb kv_u32(const char *key, uint32_t v) {
    bb b = {0};
    bb_str(&b, key);
    bb_u32(&b, LLV_GGUF_U32);
    bb_u32(&b, v);
    return b;
}

/* In memory, then the same bytes as a file through llv_gguf_open. */
static void expect_bad(bb b, const char *what, const char *must_contain) {
    expect_format(b.p, b.n, what, must_contain);
    char *path = llv_test_path(g_tmpdir, "bad.gguf");
    FILE *f = fopen(path, "wb");
    if (f) {
        fwrite(b.p, 1, b.n, f);
        fclose(f);
        llv_gguf *g = NULL;
        llv_error e = {0};
        llv_status s = llv_gguf_open(path, &g, &e);
        CHECK_MSG(s == LLV_ERR_FORMAT && e.message[0] && !g, "%s (file): got %s '%s'", what, llv_status_name(s),
                  e.message);
        llv_gguf_close(g);
        unlink(path);
    }
    free(path);
    free(b.p);
}

static void test_corpus(void) {
    const tinfo ok_t = {"w", 2, {32, 2}, LLV_TYPE_F32, 0};
    /* sanity: the template is valid */
    {
        bb kv = kv_u32("a.b", 7);
        bb b = build(3, 1, 1, &kv, &ok_t, 1, 32, 256);
        llv_gguf *g = NULL;
        llv_error e = {0};
        CHECK_OK(llv_gguf_open_memory(b.p, b.n, &g, &e), &e);
        llv_gguf_close(g);
        /* bad magic, version */
        b.p[0] = 'X';
        expect_format(b.p, b.n, "bad magic", "magic");
        b.p[0] = 'G';
        const uint32_t versions[] = {1, 2, 4, 0x03000000u, 0xFFFFFFFFu};
        for (size_t i = 0; i < 5; i++) {
            memcpy(b.p + 4, &versions[i], 4);
            expect_format(b.p, b.n, "version", "version");
        }
        free(b.p);
        free(kv.p);
    }
    /* no tensors and no padding after the KVs (vocab-only files end there): valid */
    {
        bb kv = kv_u32("a.b", 7);
        bb b = build(3, 0, 1, &kv, NULL, 0, 1, 0);
        llv_gguf *g = NULL;
        llv_error e = {0};
        CHECK_OK(llv_gguf_open_memory(b.p, b.n, &g, &e), &e);
        CHECK(g && llv_gguf_n_tensors(g) == 0 && llv_gguf_n_kv(g) == 1);
        llv_gguf_close(g);
        free(b.p);
        free(kv.p);
    }
    /* huge counts */
    const uint64_t huge[] = {UINT64_MAX, 1ull << 63, LLV_GGUF_MAX_KV + 1ull, 1000};
    for (size_t i = 0; i < 4; i++) {
        bb kv = kv_u32("a.b", 7);
        expect_bad(build(3, 1, huge[i], &kv, &ok_t, 1, 32, 256), "huge n_kv", "KV count");
        expect_bad(build(3, huge[i], 1, &kv, &ok_t, 1, 32, 256), "huge n_tensors", "tensor count");
        free(kv.p);
    }
    /* key problems */
    {
        const char *bad_keys[] = {"", "\xff\xfe", "a\xc0\xaf", "\xed\xa0\x80", "ab\xe2\x82"};
        for (size_t i = 0; i < 5; i++) {
            bb kv = kv_u32(bad_keys[i], 1);
            expect_bad(build(3, 0, 1, &kv, NULL, 0, 1, 0), "bad key", "key");
            free(kv.p);
        }
        bb kv = {0}; /* NUL inside a key */
        bb_u64(&kv, 3);
        bb_put(&kv, "a\0b", 3);
        bb_u32(&kv, LLV_GGUF_U8);
        bb_put(&kv, "x", 1);
        expect_bad(build(3, 0, 1, &kv, NULL, 0, 1, 0), "NUL in key", "NUL");
        free(kv.p);
        /* key longer than LLV_GGUF_MAX_KEY */
        size_t L = LLV_GGUF_MAX_KEY + 1;
        char *longkey = malloc(L + 1);
        memset(longkey, 'k', L);
        longkey[L] = 0;
        kv = kv_u32(longkey, 1);
        expect_bad(build(3, 0, 1, &kv, NULL, 0, 1, 0), "long key", "65535");
        free(kv.p);
        free(longkey);
        /* key length past the end, and huge */
        const uint64_t lens[] = {100, UINT64_MAX, 1ull << 62};
        for (size_t i = 0; i < 3; i++) {
            kv = (bb){0};
            bb_u64(&kv, lens[i]);
            bb_put(&kv, "abcdefgh", 8);
            expect_bad(build(3, 0, 1, &kv, NULL, 0, 1, 0), "key length past end", "KV 0");
            free(kv.p);
        }
        /* duplicate keys */
        kv = kv_u32("dup.key", 1);
        bb kv2 = kv_u32("dup.key", 2);
        bb_put(&kv, kv2.p, kv2.n);
        expect_bad(build(3, 0, 2, &kv, NULL, 0, 1, 0), "duplicate key", "dup.key");
        free(kv.p);
        free(kv2.p);
    }
    /* value problems */
    {
        const uint32_t bad_types[] = {13, 100, 0xFFFFFFFFu};
        for (size_t i = 0; i < 3; i++) {
            bb kv = {0};
            bb_str(&kv, "k");
            bb_u32(&kv, bad_types[i]);
            bb_u64(&kv, 0);
            expect_bad(build(3, 0, 1, &kv, NULL, 0, 1, 0), "unknown value type", "'k'");
            free(kv.p);
        }
        /* nested array */
        bb kv = {0};
        bb_str(&kv, "nest");
        bb_u32(&kv, LLV_GGUF_ARRAY);
        bb_u32(&kv, LLV_GGUF_ARRAY);
        bb_u64(&kv, 1);
        bb_u32(&kv, LLV_GGUF_U8);
        bb_u64(&kv, 1);
        bb_put(&kv, "x", 1);
        expect_bad(build(3, 0, 1, &kv, NULL, 0, 1, 0), "nested array", "nested");
        free(kv.p);
        /* unknown array element type */
        kv = (bb){0};
        bb_str(&kv, "arr");
        bb_u32(&kv, LLV_GGUF_ARRAY);
        bb_u32(&kv, 77);
        bb_u64(&kv, 0);
        expect_bad(build(3, 0, 1, &kv, NULL, 0, 1, 0), "array of unknown type", "'arr'");
        free(kv.p);
        /* array counts that overflow or exceed the file */
        const uint64_t counts[] = {UINT64_MAX, 1ull << 61, 1ull << 62, 5};
        const uint32_t etypes[] = {LLV_GGUF_U64, LLV_GGUF_F64, LLV_GGUF_U32, LLV_GGUF_STRING};
        for (size_t i = 0; i < 4; i++)
            for (size_t t = 0; t < 4; t++) {
                kv = (bb){0};
                bb_str(&kv, "arr");
                bb_u32(&kv, LLV_GGUF_ARRAY);
                bb_u32(&kv, etypes[t]);
                bb_u64(&kv, counts[i]);
                bb_u64(&kv, 3);
                bb_put(&kv, "abc", 3);
                expect_bad(build(3, 0, 1, &kv, NULL, 0, 1, 0), "array count", "'arr'");
                free(kv.p);
            }
        /* a string value / string element whose length runs past the end */
        kv = (bb){0};
        bb_str(&kv, "s");
        bb_u32(&kv, LLV_GGUF_STRING);
        bb_u64(&kv, 1000);
        bb_put(&kv, "abc", 3);
        expect_bad(build(3, 0, 1, &kv, NULL, 0, 1, 0), "string past end", "'s'");
        free(kv.p);
        kv = (bb){0};
        bb_str(&kv, "toks");
        bb_u32(&kv, LLV_GGUF_ARRAY);
        bb_u32(&kv, LLV_GGUF_STRING);
        bb_u64(&kv, 2);
        bb_str(&kv, "ok");
        bb_u64(&kv, UINT64_MAX - 3);
        bb_put(&kv, "abcdefgh", 8);
        expect_bad(build(3, 0, 1, &kv, NULL, 0, 1, 0), "string element past end", "string 1");
        free(kv.p);
    }
    /* alignment */
    {
        bb kv = {0};
        bb_str(&kv, "general.alignment");
        bb_u32(&kv, LLV_GGUF_U64);
        bb_u64(&kv, 32);
        expect_bad(build(3, 1, 1, &kv, &ok_t, 1, 32, 256), "alignment type", "general.alignment");
        free(kv.p);
        const uint32_t aligns[] = {0, 48, 3, 0x80000001u};
        for (size_t i = 0; i < 4; i++) {
            kv = kv_u32("general.alignment", aligns[i]);
            expect_bad(build(3, 1, 1, &kv, &ok_t, 1, 32, 256), "alignment value", "general.alignment");
            free(kv.p);
        }
        /* alignment 64: offset 32 is no longer aligned */
        kv = kv_u32("general.alignment", 64);
        tinfo t = ok_t;
        t.offset = 32;
        expect_bad(build(3, 1, 1, &kv, &t, 1, 64, 512), "offset vs alignment 64", "alignment");
        free(kv.p);
    }
    /* tensor infos */
    {
        struct { tinfo t; const char *what, *msg; size_t data; } cases[] = {
            {{"w", 0, {32}, LLV_TYPE_F32, 0}, "n_dims 0", "n_dims", 256},
            {{"w", 5, {32, 1, 1, 1}, LLV_TYPE_F32, 0}, "n_dims 5", "n_dims", 256},
            {{"w", 0xFFFFFFFFu, {32}, LLV_TYPE_F32, 0}, "n_dims huge", "n_dims", 256},
            {{"w", 2, {1ull << 63, 1}, LLV_TYPE_F32, 0}, "ne >= 2^63", "ne[0]", 256},
            {{"w", 2, {UINT64_MAX, 1}, LLV_TYPE_F32, 0}, "ne = 2^64-1", "ne[0]", 256},
            {{"w", 2, {1ull << 32, 1ull << 32}, LLV_TYPE_F32, 0}, "ne product overflow", "overflows", 256},
            {{"w", 4, {1ull << 16, 1ull << 16, 1ull << 16, 1ull << 16}, LLV_TYPE_F32, 0}, "4-D overflow",
             "overflows", 256},
            {{"w", 2, {1ull << 62, 2}, LLV_TYPE_F32, 0}, "byte size overflow", "overflows", 256},
            {{"w", 2, {32, 2}, 4, 0}, "removed type 4 (Q4_2)", "type", 256},
            {{"w", 2, {32, 2}, 5, 0}, "removed type 5 (Q4_3)", "type", 256},
            {{"w", 2, {32, 2}, 99, 0}, "type 99", "type", 256},
            {{"w", 2, {32, 2}, 0xFFFFFFFFu, 0}, "type -1", "type", 256},
            {{"w", 2, {100, 2}, LLV_TYPE_Q4_K, 0}, "ne[0] not a multiple of 256", "block size", 4096},
            {{"w", 2, {48, 2}, LLV_TYPE_Q8_0, 0}, "ne[0] not a multiple of 32", "block size", 4096},
            {{"w", 2, {40, 2}, LLV_TYPE_Q5_1, 0}, "Q5_1 ne[0] not a multiple of 32", "block size", 4096},
            {{"w", 2, {32, 2}, LLV_TYPE_F32, 16}, "unaligned offset", "alignment", 256},
            {{"w", 2, {32, 2}, LLV_TYPE_F32, 4096}, "offset past the end", "past the end", 256},
            {{"w", 2, {32, 2}, LLV_TYPE_F32, 0xFFFFFFFFFFFFFFE0ull}, "offset near 2^64", "past the end", 256},
            {{"w", 2, {32, 3}, LLV_TYPE_F32, 0}, "data one byte short", "past the end", 383},
            {{"w", 2, {1ull << 40, 1}, LLV_TYPE_F32, 0}, "huge dimension", "past the end", 256},
            {{"", 2, {32, 2}, LLV_TYPE_F32, 0}, "empty name", "name", 256},
            {{"\xff", 2, {32, 2}, LLV_TYPE_F32, 0}, "non-UTF-8 name", "name", 256},
        };
        for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
            expect_bad(build(3, 1, 0, NULL, &cases[i].t, 1, 32, cases[i].data), cases[i].what, cases[i].msg);
        /* a real ggml type llv does not handle (IQ4_XS = 23) is unsupported, not malformed */
        {
            tinfo iq = {"blk.0.ffn_down.weight", 2, {256, 2}, 23, 0};
            bb b = build(3, 1, 0, NULL, &iq, 1, 32, 4096);
            llv_gguf *g = NULL;
            llv_error e = {0};
            CHECK_STATUS(llv_gguf_open_memory(b.p, b.n, &g, &e), LLV_ERR_UNSUPPORTED, &e);
            CHECK_MSG(strstr(e.message, "IQ4_XS") && strstr(e.message, "blk.0.ffn_down.weight"), "message: %s",
                      e.message);
            free(b.p);
        }
        /* the message names the tensor */
        tinfo named = {"blk.3.attn_k.weight", 2, {32, 2}, LLV_TYPE_F32, 4096};
        expect_bad(build(3, 1, 0, NULL, &named, 1, 32, 256), "named tensor", "blk.3.attn_k.weight");
        /* duplicate tensor names */
        tinfo two[2] = {ok_t, ok_t};
        two[1].offset = 256;
        expect_bad(build(3, 2, 0, NULL, two, 2, 32, 512), "duplicate tensor", "duplicate");
        /* tensor count larger than the infos present */
        expect_bad(build(3, 2, 0, NULL, &ok_t, 1, 32, 0), "missing tensor info", NULL);
        /* the valid two-tensor variant opens, and overlapping names differ */
        two[1].name = "w2";
        bb b = build(3, 2, 0, NULL, two, 2, 32, 512);
        llv_gguf *g = NULL;
        llv_error e = {0};
        CHECK_OK(llv_gguf_open_memory(b.p, b.n, &g, &e), &e);
        CHECK(g && llv_gguf_find_tensor(g, "w2") && llv_gguf_find_tensor(g, "w"));
        llv_gguf_close(g);
        free(b.p);
    }
    /* random byte flips of the sample never crash; errors are FORMAT */
    if (g_sample) {
        unsigned char *copy = malloc(g_sample_n);
        for (int it = 0; it < 2000; it++) {
            memcpy(copy, g_sample, g_sample_n);
            int flips = 1 + (int)(rng() % 4);
            for (int f = 0; f < flips; f++) copy[rng() % g_sample_n] ^= (unsigned char)(1u << (rng() % 8));
            llv_gguf *g = NULL;
            llv_error e = {0};
            llv_status s = llv_gguf_open_memory(copy, g_sample_n, &g, &e);
            CHECK_MSG(s == LLV_OK || ((s == LLV_ERR_FORMAT || s == LLV_ERR_UNSUPPORTED) && e.message[0]), "flip %d: %s",
                      it, llv_status_name(s));
            llv_gguf_close(g);
        }
        free(copy);
    }
}

int main(int argc, char **argv) {
    llv_test_init(argc, argv);
    g_tmpdir = llv_test_tmpdir();
    if (!g_tmpdir) llv_test_skip("no temporary directory");
    if (llv_test_case("round trip")) test_round_trip();
    if (llv_test_case("big vocab")) test_big_vocab();
    if (llv_test_case("truncations")) test_truncations();
    if (llv_test_case("broken corpus")) test_corpus();
    free(g_sample);
    char *p1 = llv_test_path(g_tmpdir, "sample.gguf"), *p2 = llv_test_path(g_tmpdir, "sample64.gguf");
    unlink(p1);
    unlink(p2);
    free(p1);
    free(p2);
    CHECK_MSG(rmdir(g_tmpdir) == 0, "temporary directory %s left non-empty", g_tmpdir);
    free(g_tmpdir);
    return llv_test_finish();
}
