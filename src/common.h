/* common.h - helpers shared by every file of the library: error reporting,
 * checked size arithmetic, aligned allocation, timing, logging. */
#ifndef LLV_COMMON_H
#define LLV_COMMON_H

#include "llv.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#if defined(__GNUC__)
#define LLV_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define LLV_PRINTF(a, b)
#endif

/* Sets err (if not NULL) and returns `status`, so callers can write
 *     return llv_err(err, LLV_ERR_FORMAT, "tensor '%s': ...", name);       */
llv_status llv_err(llv_error *err, llv_status status, const char *fmt, ...) LLV_PRINTF(3, 4);

/* Prefixes an existing error message with context ("loading x.gguf: ..."). */
void llv_err_prefix(llv_error *err, const char *fmt, ...) LLV_PRINTF(2, 3);

/* Clears err (if not NULL): status LLV_OK, empty message. Every public
 * function taking an llv_error calls it first, so success leaves no stale
 * message (llv.h, Conventions). */
void llv_err_clear(llv_error *err);

/* Params structs (llv.h, Conventions: they grow without breaking the ABI).
 * llv_params_out ends every llv_*_params_init: copies the library's defaults
 * (lib_size bytes) into the caller's struct of `size` bytes (a larger one gets
 * zeros past them) and sets its size field to `size`. */
void llv_params_out(void *out, size_t size, const void *defaults, size_t lib_size);
/* Copies a caller's struct `in` over dst (holding the defaults, lib_size
 * bytes): the first min(in->size, lib_size) bytes; fails for a size below
 * first_size (INVALID_ARGUMENT) or non-zero bytes past lib_size (UNSUPPORTED). */
llv_status llv_params_copy(void *dst, size_t lib_size, size_t first_size, const void *in, const char *name,
                           llv_error *err);
/* The size of each struct's first layout, the smallest a caller may pass:
 * when a field is appended, its constant becomes offsetof(T, that field). */
#define LLV_FIRST_SIZE_llv_model_params    sizeof(llv_model_params)
#define LLV_FIRST_SIZE_llv_session_params  sizeof(llv_session_params)
#define LLV_FIRST_SIZE_llv_engine_params   offsetof(llv_engine_params, slice_ms)
#define LLV_FIRST_SIZE_llv_chat_params     sizeof(llv_chat_params)
#define LLV_FIRST_SIZE_llv_sampling_params offsetof(llv_sampling_params, logprobs)
#define LLV_FIRST_SIZE_llv_convert_params  sizeof(llv_convert_params)
#define LLV_FIRST_SIZE_llv_synth_params    sizeof(llv_synth_params)
/* At the top of a public function taking `const T *p` (NULL = defaults):
 * points p at a full-size local copy (the caller's fields over the defaults),
 * or returns the error of a bad size. */
#define LLV_PARAMS_IN(T, p, err)                                                                                   \
    T p##_in_;                                                                                                    \
    do {                                                                                                          \
        T##_init(&p##_in_, sizeof p##_in_);                                                                       \
        llv_status p##_st_ = (p) ? llv_params_copy(&p##_in_, sizeof p##_in_, LLV_FIRST_SIZE_##T, (p), #T, (err)) \
                                 : LLV_OK;                                                                        \
        if (p##_st_ != LLV_OK) return p##_st_;                                                                    \
        (p) = &p##_in_;                                                                                           \
    } while (0)

/* Checked arithmetic: return false on overflow (result unspecified then). */
static inline int llv_mul_size(size_t a, size_t b, size_t *out) { return !__builtin_mul_overflow(a, b, out); }
static inline int llv_add_size(size_t a, size_t b, size_t *out) { return !__builtin_add_overflow(a, b, out); }
static inline int llv_mul_i64(int64_t a, int64_t b, int64_t *out) { return !__builtin_mul_overflow(a, b, out); }

/* 64-byte aligned allocation (AVX-512 width); sizes rounded up. NULL on
 * failure or on a zero size. Free with llv_free_aligned. */
void *llv_alloc_aligned(size_t size);
void  llv_free_aligned(void *p);

/* Monotonic seconds. */
double llv_time_s(void);

/* Bytes of memory this machine can still give (MemAvailable of /proc/meminfo;
 * the environment variable LLV_MEM_AVAILABLE=BYTES overrides); 0 = unknown. */
uint64_t llv_mem_available(void);
/* "812.4 MiB", "41.50 GiB": for messages; returns buf. */
const char *llv_fmt_bytes(uint64_t bytes, char buf[32]);

/* Log through a callback (no-op when fn is NULL). */
void llv_log(llv_log_fn fn, void *user, llv_log_level level, const char *fmt, ...) LLV_PRINTF(4, 5);

/* FP16/BF16 scalar conversions (round to nearest even; NaN preserved). */
float    llv_f16_to_f32(uint16_t h);
uint16_t llv_f32_to_f16(float f);
float    llv_bf16_to_f32(uint16_t h);
uint16_t llv_f32_to_bf16(float f);

/* A growable byte string, always NUL-terminated once written to. Appends
 * never fail loudly: the first allocation failure (or size overflow) sets
 * `oom` and later appends do nothing, so a builder checks once at the end.
 * Zero-initialise; free(b.p) when done. */
typedef struct llv_buf {
    char  *p;
    size_t len, cap;
    bool   oom;
} llv_buf;
void llv_buf_put(llv_buf *b, const void *s, size_t n);
static inline void llv_buf_str(llv_buf *b, const char *s) { llv_buf_put(b, s, strlen(s)); }
static inline void llv_buf_chr(llv_buf *b, char c) { llv_buf_put(b, &c, 1); }

#define LLV_MIN(a, b) ((a) < (b) ? (a) : (b))
#define LLV_MAX(a, b) ((a) > (b) ? (a) : (b))

#endif
