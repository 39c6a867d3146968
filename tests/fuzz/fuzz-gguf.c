/* fuzz-gguf.c - GGUF parsing: llv_gguf_open_memory, then every KV and tensor
 * accessor over what it accepted, then the tokenizer loader on the result. */
#include "fuzz.h"
#include "gguf.h"
#include "tokenizer.h"

#include <string.h>

static void walk_kv(const llv_gguf *g, int64_t i) {
    const char *key = llv_gguf_key(g, i);
    LLV_FUZZ_ASSERT(key != NULL);
    LLV_FUZZ_ASSERT(llv_gguf_find_key(g, key) >= 0);
    llv_gguf_vtype t = llv_gguf_kv_type(g, i);
    llv_error err;
    int64_t iv;
    uint32_t u;
    float f;
    bool b;
    llv_gguf_str s;
    (void)llv_gguf_get_i64(g, key, &iv, &err);
    (void)llv_gguf_get_u32(g, key, &u, &err);
    (void)llv_gguf_get_f32(g, key, &f, &err);
    (void)llv_gguf_get_bool(g, key, &b, &err);
    if (llv_gguf_get_str(g, key, &s, &err) == LLV_OK) llv_fuzz_touch(s.ptr, s.len);
    if (t != LLV_GGUF_ARRAY) return;
    llv_gguf_vtype at = llv_gguf_arr_type(g, i);
    uint64_t n = llv_gguf_arr_n(g, i);
    if (at == LLV_GGUF_STRING) {
        uint64_t lim = n < 4096 ? n : 4096;
        for (uint64_t j = 0; j < lim; j++) {
            llv_gguf_str e = llv_gguf_arr_str(g, i, j);
            if (e.len) LLV_FUZZ_ASSERT(e.ptr != NULL);
            llv_fuzz_touch(e.ptr, e.len);
        }
        if (n) llv_fuzz_touch(llv_gguf_arr_str(g, i, n - 1).ptr, llv_gguf_arr_str(g, i, n - 1).len);
        (void)llv_gguf_arr_str(g, i, n); /* out of range: must not crash */
    } else {
        const void *d = llv_gguf_arr_data(g, i);
        static const size_t esz[] = {1, 1, 2, 2, 4, 4, 4, 1, 0, 0, 8, 8, 8};
        if (d && (unsigned)at < sizeof esz / sizeof esz[0] && n <= (1u << 24)) llv_fuzz_touch(d, n * esz[at]);
        int64_t ibuf[64];
        float fbuf[64];
        size_t got;
        (void)llv_gguf_get_arr_i64(g, key, ibuf, 64, &got, &err);
        (void)llv_gguf_get_arr_f32(g, key, fbuf, 64, &got, &err);
    }
}

LLV_FUZZ_TARGET(gguf) {
    llv_gguf *g = NULL;
    llv_error err;
    if (llv_gguf_open_memory(data, size, &g, &err) != LLV_OK) {
        LLV_FUZZ_ASSERT(g == NULL && err.message[0] != '\0');
        return 0;
    }
    LLV_FUZZ_ASSERT(llv_gguf_file_size(g) == size);
    int64_t n_kv = llv_gguf_n_kv(g), n_t = llv_gguf_n_tensors(g);
    LLV_FUZZ_ASSERT(n_kv >= 0 && n_t >= 0);
    for (int64_t i = 0; i < n_kv; i++) walk_kv(g, i);
    (void)llv_gguf_key(g, n_kv);
    (void)llv_gguf_kv_type(g, -1);
    (void)llv_gguf_find_key(g, "");
    const uint8_t *lo = data, *hi = data + size;
    for (int64_t i = 0; i < n_t; i++) {
        const llv_tensor *t = llv_gguf_tensor(g, i);
        LLV_FUZZ_ASSERT(t && t->name);
        LLV_FUZZ_ASSERT(llv_gguf_find_tensor(g, t->name) != NULL);
        LLV_FUZZ_ASSERT(t->n_dims >= 0 && t->n_dims <= LLV_MAX_DIMS);
        if (t->nbytes) {
            const uint8_t *p = t->data;
            /* tensor data must lie inside the buffer */
            LLV_FUZZ_ASSERT(p >= lo && p <= hi && t->nbytes <= (size_t)(hi - p));
            llv_fuzz_touch(p, 1);
            llv_fuzz_touch(p + t->nbytes - 1, 1);
        }
    }
    (void)llv_gguf_tensor(g, n_t);
    llv_tokenizer *tok = NULL;
    if (llv_tokenizer_load(g, &tok, &err) == LLV_OK && tok) {
        static const char text[] = "Hello world! <|image|> 123 \xc3\xa9\xff";
        int32_t *ids = NULL;
        size_t n = 0;
        if (llv_tokenizer_encode(tok, text, sizeof text - 1, LLV_TOKENIZE_PARSE_SPECIAL, &ids, &n, &err) == LLV_OK) {
            for (size_t i = 0; i < n; i++) {
                size_t nb = 0;
                const char *p = llv_tokenizer_token_bytes(tok, ids[i], &nb);
                LLV_FUZZ_ASSERT(p != NULL);
                llv_fuzz_touch(p, nb);
            }
            free(ids);
        }
        llv_tokenizer_free(tok);
    }
    llv_gguf_close(g);
    return 0;
}
