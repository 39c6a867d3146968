/* common.h - helpers shared by every file of the library: error reporting,
 * checked size arithmetic, aligned allocation, timing, logging. */
#ifndef LLV_COMMON_H
#define LLV_COMMON_H

#include "llv.h"

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

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

#define LLV_MIN(a, b) ((a) < (b) ? (a) : (b))
#define LLV_MAX(a, b) ((a) > (b) ? (a) : (b))

#endif
