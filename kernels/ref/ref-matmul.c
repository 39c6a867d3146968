/* Reference matrix products y = x . W^T for float weight types.
 * The summation order of every output depends only on K (never on M, the
 * row range or the thread count), so prefill and decode give equal results. */
#include "ref-internal.h"

#include "common.h"

#define CHUNK 512 /* weight elements converted to float32 at a time */

/* 8 float32 lanes over the chunk, reduced pairwise: a fixed order. */
static float dot_chunk(const float *a, const float *b, int64_t n) {
    float acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        for (int j = 0; j < 8; j++) acc[j] += a[i + j] * b[i + j];
    for (int j = 0; i < n; i++, j++) acc[j] += a[i] * b[i];
    return ((acc[0] + acc[4]) + (acc[2] + acc[6])) + ((acc[1] + acc[5]) + (acc[3] + acc[7]));
}

typedef void (*row_conv)(const void *src, float *dst, int64_t n);

static void matmul_generic(row_conv conv, size_t elem, const void *w, size_t w_row_bytes, const float *x,
                           int64_t ldx, int64_t M, int64_t K, float *y, int64_t ldy, int64_t n0, int64_t n1) {
    float buf[CHUNK];
    for (int64_t n = n0; n < n1; n++) {
        const unsigned char *wr = (const unsigned char *)w + (size_t)n * w_row_bytes;
        for (int64_t m = 0; m < M; m++) y[m * ldy + n] = 0.0f;
        for (int64_t k0 = 0; k0 < K; k0 += CHUNK) {
            int64_t len = LLV_MIN(CHUNK, K - k0);
            const float *wf;
            if (conv) {
                conv(wr + (size_t)k0 * elem, buf, len);
                wf = buf;
            } else {
                wf = (const float *)(const void *)wr + k0;
            }
            for (int64_t m = 0; m < M; m++) y[m * ldy + n] += dot_chunk(x + m * ldx + k0, wf, len);
        }
    }
}

void llv_ref_matmul_f32(const void *w, size_t w_row_bytes, const float *x, int64_t ldx, int64_t M, int64_t K,
                        float *y, int64_t ldy, int64_t n0, int64_t n1) {
    matmul_generic(NULL, 4, w, w_row_bytes, x, ldx, M, K, y, ldy, n0, n1);
}

void llv_ref_matmul_f16(const void *w, size_t w_row_bytes, const float *x, int64_t ldx, int64_t M, int64_t K,
                        float *y, int64_t ldy, int64_t n0, int64_t n1) {
    matmul_generic(llv_ref_f16_to_f32, 2, w, w_row_bytes, x, ldx, M, K, y, ldy, n0, n1);
}

void llv_ref_matmul_bf16(const void *w, size_t w_row_bytes, const float *x, int64_t ldx, int64_t M, int64_t K,
                         float *y, int64_t ldy, int64_t n0, int64_t n1) {
    matmul_generic(llv_ref_bf16_to_f32, 2, w, w_row_bytes, x, ldx, M, K, y, ldy, n0, n1);
}
