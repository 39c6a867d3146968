/* tensor.h - a typed view of weight data (usually inside the mmapped GGUF).
 * Shapes use ggml's order: ne[0] is the fastest-varying (innermost)
 * dimension, so a PyTorch Linear weight [out, in] has ne = {in, out}. */
#ifndef LLV_TENSOR_H
#define LLV_TENSOR_H

#include "llv.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define LLV_MAX_DIMS 4

/* ggml type ids beyond the weight types of llv.h, for completeness of parsing */
enum { LLV_TYPE_I8 = 24, LLV_TYPE_I16 = 25, LLV_TYPE_I32 = 26, LLV_TYPE_I64 = 27, LLV_TYPE_F64 = 28 };
#define LLV_TYPE_COUNT 40 /* size of per-type tables, indexed by ggml id */

typedef struct llv_tensor {
    const char *name;          /* NUL-terminated, owned by the container       */
    llv_type    type;
    int32_t     n_dims;
    int64_t     ne[LLV_MAX_DIMS]; /* unused dims are 1                          */
    const void *data;          /* nbytes of row-major data                     */
    size_t      nbytes;
} llv_tensor;

/* Elements per block and bytes per block (1 and sizeof(elem) for plain types).
 * Both return 0 for a type llv does not know. */
int64_t llv_type_block_size(int type);
size_t  llv_type_block_bytes(int type);
/* true for the weight types of llv.h (F32, F16, BF16, Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, Q2_K..Q6_K) */
bool llv_type_is_weight(int type);

/* Bytes of one row of ne0 elements; false if ne0 is not a multiple of the
 * block size or on overflow. */
bool llv_type_row_bytes(int type, int64_t ne0, size_t *out);

/* Element count with overflow check; false on overflow or negative dims. */
/* "{ne0, ne1, ...}" of the first nd entries into buf (truncated to n bytes). */
void llv_tensor_fmt_ne(char *buf, size_t n, int nd, const int64_t *ne);
bool llv_tensor_nelements(const int64_t *ne, int n_dims, int64_t *out);

static inline int64_t llv_tensor_rows(const llv_tensor *t) { return t->ne[1] * t->ne[2] * t->ne[3]; }

#endif
