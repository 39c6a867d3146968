/* gguf.h - GGUF v3 reader (mmap, zero-copy, every length/offset/count checked
 * against the file) and streaming writer. Knows nothing of model semantics. */
#ifndef LLV_GGUF_H
#define LLV_GGUF_H

#include "common.h"
#include "tensor.h"

#include <stdbool.h>
#include <stdint.h>

typedef enum llv_gguf_vtype {
    LLV_GGUF_U8 = 0, LLV_GGUF_I8 = 1, LLV_GGUF_U16 = 2, LLV_GGUF_I16 = 3, LLV_GGUF_U32 = 4, LLV_GGUF_I32 = 5,
    LLV_GGUF_F32 = 6, LLV_GGUF_BOOL = 7, LLV_GGUF_STRING = 8, LLV_GGUF_ARRAY = 9, LLV_GGUF_U64 = 10,
    LLV_GGUF_I64 = 11, LLV_GGUF_F64 = 12
} llv_gguf_vtype;

/* A GGUF string: pointer into the file (NOT NUL-terminated) and its length. */
typedef struct llv_gguf_str { const char *ptr; uint64_t len; } llv_gguf_str;

typedef struct llv_gguf llv_gguf;

/* Limits that keep a hostile file from forcing huge allocations. */
#define LLV_GGUF_MAX_KV      (1u << 20)
#define LLV_GGUF_MAX_TENSORS (1u << 20)
#define LLV_GGUF_MAX_KEY     65535u

/* Opens and validates a file (mmap, read-only). */
llv_status llv_gguf_open(const char *path, llv_gguf **out, llv_error *err);
/* Same over a caller-owned buffer that must outlive the handle (fuzzing, tests). */
llv_status llv_gguf_open_memory(const void *data, size_t size, llv_gguf **out, llv_error *err);
void       llv_gguf_close(llv_gguf *g);

uint32_t    llv_gguf_version(const llv_gguf *g);
size_t      llv_gguf_alignment(const llv_gguf *g);
size_t      llv_gguf_file_size(const llv_gguf *g);
const void *llv_gguf_data_base(const llv_gguf *g); /* start of the mapping */

/* --- metadata --- */
int64_t        llv_gguf_n_kv(const llv_gguf *g);
const char    *llv_gguf_key(const llv_gguf *g, int64_t i);       /* NUL-terminated copy */
int64_t        llv_gguf_find_key(const llv_gguf *g, const char *key); /* -1 if absent */
llv_gguf_vtype llv_gguf_kv_type(const llv_gguf *g, int64_t i);
/* For arrays: element type and count. */
llv_gguf_vtype llv_gguf_arr_type(const llv_gguf *g, int64_t i);
uint64_t       llv_gguf_arr_n(const llv_gguf *g, int64_t i);
/* For arrays of fixed-size elements: pointer to the packed little-endian data.
 * It may be unaligned: read elements with memcpy (or use llv_gguf_get_arr_*). */
const void    *llv_gguf_arr_data(const llv_gguf *g, int64_t i);
/* For arrays of strings: the j-th string (O(1): an index is built at open). */
llv_gguf_str   llv_gguf_arr_str(const llv_gguf *g, int64_t i, uint64_t j);

/* Typed getters by key. They fail with LLV_ERR_NOT_FOUND if absent and
 * LLV_ERR_FORMAT (naming key, expected and found type) on a type mismatch.
 * Integer getters accept any integer type whose value fits; float getters
 * accept F32 and F64. */
llv_status llv_gguf_get_i64(const llv_gguf *g, const char *key, int64_t *out, llv_error *err);
llv_status llv_gguf_get_u32(const llv_gguf *g, const char *key, uint32_t *out, llv_error *err);
llv_status llv_gguf_get_f32(const llv_gguf *g, const char *key, float *out, llv_error *err);
llv_status llv_gguf_get_bool(const llv_gguf *g, const char *key, bool *out, llv_error *err);
llv_status llv_gguf_get_str(const llv_gguf *g, const char *key, llv_gguf_str *out, llv_error *err);
/* Integer array as int64 into a caller buffer of `cap` entries; *n = count. */
llv_status llv_gguf_get_arr_i64(const llv_gguf *g, const char *key, int64_t *out, size_t cap, size_t *n,
                                llv_error *err);
/* Float array (F32/F64) likewise. */
llv_status llv_gguf_get_arr_f32(const llv_gguf *g, const char *key, float *out, size_t cap, size_t *n,
                                llv_error *err);

/* --- tensors --- */
int64_t           llv_gguf_n_tensors(const llv_gguf *g);
const llv_tensor *llv_gguf_tensor(const llv_gguf *g, int64_t i);
const llv_tensor *llv_gguf_find_tensor(const llv_gguf *g, const char *name); /* NULL if absent */

/* --- writer: declare KVs and tensors, then stream tensor data in order --- */
typedef struct llv_gguf_writer llv_gguf_writer;

llv_status llv_gguf_writer_create(llv_gguf_writer **out, llv_error *err);
void       llv_gguf_writer_free(llv_gguf_writer *w);   /* also closes/removes an unfinished file */

/* Setting a key twice replaces the value. Strings are copied. */
llv_status llv_gguf_set_u32(llv_gguf_writer *w, const char *key, uint32_t v, llv_error *err);
llv_status llv_gguf_set_i32(llv_gguf_writer *w, const char *key, int32_t v, llv_error *err);
llv_status llv_gguf_set_u64(llv_gguf_writer *w, const char *key, uint64_t v, llv_error *err);
llv_status llv_gguf_set_f32(llv_gguf_writer *w, const char *key, float v, llv_error *err);
llv_status llv_gguf_set_bool(llv_gguf_writer *w, const char *key, bool v, llv_error *err);
/* Any fixed-size scalar type (U8..F64 except STRING/ARRAY); value points to
 * one element of that type. */
llv_status llv_gguf_set_val(llv_gguf_writer *w, const char *key, llv_gguf_vtype type, const void *value,
                            llv_error *err);
llv_status llv_gguf_set_str(llv_gguf_writer *w, const char *key, const char *v, llv_error *err);
/* Array of fixed-size elements (type: U8..F64 except STRING/ARRAY); data copied. */
llv_status llv_gguf_set_arr(llv_gguf_writer *w, const char *key, llv_gguf_vtype type, const void *data, size_t n,
                            llv_error *err);
/* Array of strings with explicit lengths (lens may be NULL: NUL-terminated). */
llv_status llv_gguf_set_arr_str(llv_gguf_writer *w, const char *key, const char *const *strs, const size_t *lens,
                                size_t n, llv_error *err);
/* Copies every KV of an open file (e.g. to rewrite a file with other tensors). */
llv_status llv_gguf_copy_kvs(llv_gguf_writer *w, const llv_gguf *src, llv_error *err);

/* Declares a tensor (ne in ggml order). Returns its index via *index. */
llv_status llv_gguf_add_tensor(llv_gguf_writer *w, const char *name, int type, int n_dims, const int64_t *ne,
                               llv_error *err);
/* Opens `path`, writes header, KVs and tensor infos (alignment 32 unless
 * general.alignment was set). */
llv_status llv_gguf_writer_begin(llv_gguf_writer *w, const char *path, llv_error *err);
/* Writes the data of the next declared tensor (exactly its byte size), in
 * declaration order; may be called in several chunks (`final` on the last). */
llv_status llv_gguf_writer_write(llv_gguf_writer *w, const void *data, size_t nbytes, llv_error *err);
/* Checks that every tensor was written, flushes and closes (atomically renames
 * a temporary file into place). */
llv_status llv_gguf_writer_finish(llv_gguf_writer *w, llv_error *err);

#endif
