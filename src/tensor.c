#include "tensor.h"

#include "common.h"

#include <stdio.h>

int64_t llv_type_block_size(int type) {
    switch (type) {
    case LLV_TYPE_F32: case LLV_TYPE_F16: case LLV_TYPE_BF16: case LLV_TYPE_I8: case LLV_TYPE_I16:
    case LLV_TYPE_I32: case LLV_TYPE_I64: case LLV_TYPE_F64: return 1;
    case LLV_TYPE_Q4_0: case LLV_TYPE_Q4_1: case LLV_TYPE_Q5_0: case LLV_TYPE_Q5_1: case LLV_TYPE_Q8_0: return 32;
    case LLV_TYPE_Q4_K: case LLV_TYPE_Q6_K: return 256;
    case LLV_TYPE_Q2_K: case LLV_TYPE_Q3_K: case LLV_TYPE_Q5_K: return 256;
    default: return 0;
    }
}

size_t llv_type_block_bytes(int type) {
    switch (type) {
    case LLV_TYPE_F32: return 4;
    case LLV_TYPE_F16: case LLV_TYPE_BF16: return 2;
    case LLV_TYPE_I8: return 1;
    case LLV_TYPE_I16: return 2;
    case LLV_TYPE_I32: return 4;
    case LLV_TYPE_I64: case LLV_TYPE_F64: return 8;
    case LLV_TYPE_Q4_0: return 18;
    case LLV_TYPE_Q4_1: return 20;
    case LLV_TYPE_Q5_0: return 22;
    case LLV_TYPE_Q5_1: return 24;
    case LLV_TYPE_Q8_0: return 34;
    case LLV_TYPE_Q4_K: return 144;
    case LLV_TYPE_Q6_K: return 210;
    case LLV_TYPE_Q2_K: return 84;
    case LLV_TYPE_Q3_K: return 110;
    case LLV_TYPE_Q5_K: return 176;
    default: return 0;
    }
}

bool llv_type_is_weight(int type) {
    switch (type) {
    case LLV_TYPE_F32: case LLV_TYPE_F16: case LLV_TYPE_BF16: case LLV_TYPE_Q4_0: case LLV_TYPE_Q4_1:
    case LLV_TYPE_Q5_0: case LLV_TYPE_Q5_1: case LLV_TYPE_Q8_0: case LLV_TYPE_Q4_K: case LLV_TYPE_Q6_K: return true;
    case LLV_TYPE_Q2_K: case LLV_TYPE_Q3_K: case LLV_TYPE_Q5_K: return true;
    default: return false;
    }
}

bool llv_type_row_bytes(int type, int64_t ne0, size_t *out) {
    int64_t bs = llv_type_block_size(type);
    if (bs <= 0 || ne0 < 0 || ne0 % bs) return false;
    return llv_mul_size((size_t)(ne0 / bs), llv_type_block_bytes(type), out);
}

bool llv_tensor_nelements(const int64_t *ne, int n_dims, int64_t *out) {
    int64_t n = 1;
    for (int i = 0; i < n_dims; i++) {
        if (ne[i] < 0 || !llv_mul_i64(n, ne[i], &n)) return false;
    }
    *out = n;
    return true;
}

void llv_tensor_fmt_ne(char *buf, size_t n, int nd, const int64_t *ne) {
    if (n == 0) return;
    size_t a = (size_t)snprintf(buf, n, "{");
    for (int i = 0; i < nd && a < n; i++) a += (size_t)snprintf(buf + a, n - a, "%s%lld", i ? ", " : "", (long long)ne[i]);
    if (a < n) snprintf(buf + a, n - a, "}");
}
