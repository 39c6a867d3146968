/* Row conversions between float32 and the plain float weight types. */
#include "ref-internal.h"

#include "common.h"

#include <string.h>

void llv_ref_f32_to_f32(const void *src, float *dst, int64_t n) { memmove(dst, src, (size_t)n * sizeof(float)); }

void llv_ref_f32_from_f32(const float *src, void *dst, int64_t n) { memmove(dst, src, (size_t)n * sizeof(float)); }

void llv_ref_f16_to_f32(const void *src, float *dst, int64_t n) {
    const uint16_t *s = src;
    for (int64_t i = 0; i < n; i++) dst[i] = llv_f16_to_f32(s[i]);
}

void llv_ref_bf16_to_f32(const void *src, float *dst, int64_t n) {
    const uint16_t *s = src;
    for (int64_t i = 0; i < n; i++) dst[i] = llv_bf16_to_f32(s[i]);
}

void llv_ref_f16_from_f32(const float *src, void *dst, int64_t n) {
    uint16_t *d = dst;
    for (int64_t i = 0; i < n; i++) d[i] = llv_f32_to_f16(src[i]);
}

void llv_ref_bf16_from_f32(const float *src, void *dst, int64_t n) {
    uint16_t *d = dst;
    for (int64_t i = 0; i < n; i++) d[i] = llv_f32_to_bf16(src[i]);
}
