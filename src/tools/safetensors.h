/* safetensors.h - reader for safetensors files and sharded checkpoints
 * (model.safetensors.index.json). mmap, header parsed with cJSON, every offset
 * checked. Shapes are in PyTorch order (shape[0] outermost). */
#ifndef LLV_SAFETENSORS_H
#define LLV_SAFETENSORS_H

#include "common.h"

#include <stdint.h>

typedef enum llv_st_dtype {
    LLV_ST_BOOL, LLV_ST_U8, LLV_ST_I8, LLV_ST_I16, LLV_ST_U16, LLV_ST_F16, LLV_ST_BF16, LLV_ST_I32, LLV_ST_U32,
    LLV_ST_F32, LLV_ST_I64, LLV_ST_U64, LLV_ST_F64, LLV_ST_F8_E4M3, LLV_ST_F8_E5M2
} llv_st_dtype;

#define LLV_ST_MAX_DIMS 8

typedef struct llv_st_tensor {
    const char  *name;
    llv_st_dtype dtype;
    int32_t      n_dims;
    int64_t      shape[LLV_ST_MAX_DIMS];
    const void  *data;
    size_t       nbytes;
} llv_st_tensor;

typedef struct llv_st llv_st;

/* `path` is a .safetensors file, an index JSON, or a directory holding
 * model.safetensors.index.json or a single *.safetensors file. */
llv_status llv_st_open(const char *path, llv_st **out, llv_error *err);
/* Over a caller-owned buffer (fuzzing, tests). */
llv_status llv_st_open_memory(const void *data, size_t size, llv_st **out, llv_error *err);
void       llv_st_close(llv_st *st);

int64_t              llv_st_n_tensors(const llv_st *st);
const llv_st_tensor *llv_st_tensor_at(const llv_st *st, int64_t i);   /* sorted by name */
const llv_st_tensor *llv_st_find(const llv_st *st, const char *name);  /* NULL if absent */
/* Value of a __metadata__ string entry (first file that has it), or NULL. */
const char          *llv_st_metadata(const llv_st *st, const char *key);

size_t      llv_st_dtype_size(llv_st_dtype t);
/* n elements of a F32, F16 or BF16 tensor's row to float32 (the kernels'
 * reference conversions; other dtypes are the caller's error to prevent). */
void        llv_st_row_to_f32(const llv_st_tensor *t, const void *row, int64_t n, float *out);
const char *llv_st_dtype_name(llv_st_dtype t);

/* Reads element i of a tensor as double / int64 (any dtype), for tests. */
double  llv_st_get_f64(const llv_st_tensor *t, int64_t i);
int64_t llv_st_get_i64(const llv_st_tensor *t, int64_t i);
int64_t llv_st_numel(const llv_st_tensor *t);

#endif
