/* fuzz-safetensors.c - safetensors parsing: llv_st_open_memory, then every
 * accessor (lookup by name, metadata, element reads at both ends). */
#include "fuzz.h"
#include "safetensors.h"

#include <string.h>

LLV_FUZZ_TARGET(safetensors) {
    llv_st *st = NULL;
    llv_error err;
    if (llv_st_open_memory(data, size, &st, &err) != LLV_OK) {
        LLV_FUZZ_ASSERT(st == NULL && err.message[0] != '\0');
        return 0;
    }
    int64_t n = llv_st_n_tensors(st);
    LLV_FUZZ_ASSERT(n >= 0);
    const uint8_t *lo = data, *hi = data + size;
    for (int64_t i = 0; i < n; i++) {
        const llv_st_tensor *t = llv_st_tensor_at(st, i);
        LLV_FUZZ_ASSERT(t && t->name);
        LLV_FUZZ_ASSERT(llv_st_find(st, t->name) == t);
        LLV_FUZZ_ASSERT(t->n_dims >= 0 && t->n_dims <= LLV_ST_MAX_DIMS);
        LLV_FUZZ_ASSERT(llv_st_dtype_name(t->dtype) != NULL && llv_st_dtype_size(t->dtype) > 0);
        /* nbytes agrees with the shape */
        uint64_t numel = 1;
        for (int d = 0; d < t->n_dims; d++) {
            LLV_FUZZ_ASSERT(t->shape[d] >= 0);
            LLV_FUZZ_ASSERT(!__builtin_mul_overflow(numel, (uint64_t)t->shape[d], &numel));
        }
        LLV_FUZZ_ASSERT(numel * llv_st_dtype_size(t->dtype) == t->nbytes);
        LLV_FUZZ_ASSERT(llv_st_numel(t) == (int64_t)numel);
        if (t->nbytes) {
            const uint8_t *p = t->data;
            LLV_FUZZ_ASSERT(p >= lo && p <= hi && t->nbytes <= (size_t)(hi - p));
            (void)llv_st_get_f64(t, 0);
            (void)llv_st_get_i64(t, (int64_t)numel - 1);
        }
        (void)llv_st_get_f64(t, (int64_t)numel); /* out of range: NaN, no read */
        (void)llv_st_get_i64(t, -1);
    }
    (void)llv_st_tensor_at(st, n);
    (void)llv_st_find(st, "");
    const char *m = llv_st_metadata(st, "format");
    if (m) llv_fuzz_touch(m, strlen(m));
    llv_st_close(st);
    return 0;
}
