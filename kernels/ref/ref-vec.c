/* Reference vector kernels. Reductions of norms run in double (one fixed
 * order, closer to torch's pairwise float32 sums than a naive float loop);
 * elementwise math follows torch's float32 operation order. */
#include "ref-internal.h"

#include <math.h>

float llv_ref_dot_f32(const float *a, const float *b, int64_t n) {
    float acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        for (int j = 0; j < 8; j++) acc[j] += a[i + j] * b[i + j];
    for (int j = 0; i < n; i++, j++) acc[j] += a[i] * b[i];
    return ((acc[0] + acc[4]) + (acc[2] + acc[6])) + ((acc[1] + acc[5]) + (acc[3] + acc[7]));
}

void llv_ref_axpy_f32(float a, const float *x, float *y, int64_t n) {
    for (int64_t i = 0; i < n; i++) y[i] += a * x[i];
}

void llv_ref_attn_pv(const float *p, int64_t ldp, int32_t h, const float *v, int64_t n, int64_t hd, float *o) {
    for (int32_t i = 0; i < h; i++)
        for (int64_t t = 0; t < n; t++) llv_ref_axpy_f32(p[i * ldp + t], v + t * hd, o + i * hd, hd);
}

void llv_ref_rmsnorm(const float *x, const float *w, float *y, int64_t n, float eps) {
    double ss = 0.0;
    for (int64_t i = 0; i < n; i++) ss += (double)x[i] * (double)x[i];
    float var = (float)(ss / (double)n);
    float r = 1.0f / sqrtf(var + eps);
    for (int64_t i = 0; i < n; i++) {
        float v = x[i] * r;
        y[i] = w ? w[i] * v : v;
    }
}

void llv_ref_layernorm(const float *x, const float *w, const float *b, float *y, int64_t n, float eps) {
    double s = 0.0;
    for (int64_t i = 0; i < n; i++) s += x[i];
    double mean = s / (double)n;
    double ss = 0.0;
    for (int64_t i = 0; i < n; i++) {
        double d = (double)x[i] - mean;
        ss += d * d;
    }
    float var = (float)(ss / (double)n);
    float r = 1.0f / sqrtf(var + eps);
    float mf = (float)mean;
    for (int64_t i = 0; i < n; i++) {
        float v = (x[i] - mf) * r;
        if (w) v = v * w[i];
        if (b) v = v + b[i];
        y[i] = v;
    }
}

void llv_ref_softmax(float *x, int64_t n) {
    if (n <= 0) return;
    float mx = x[0];
    for (int64_t i = 1; i < n; i++)
        if (x[i] > mx) mx = x[i];
    double s = 0.0;
    for (int64_t i = 0; i < n; i++) {
        x[i] = expf(x[i] - mx);
        s += x[i];
    }
    float inv = (float)s;
    for (int64_t i = 0; i < n; i++) x[i] = x[i] / inv;
}

void llv_ref_silu_mul(float *g, const float *u, int64_t n) {
    for (int64_t i = 0; i < n; i++) {
        float v = g[i];
        g[i] = (v / (1.0f + expf(-v))) * u[i];
    }
}

void llv_ref_gelu(float *x, int64_t n) {
    for (int64_t i = 0; i < n; i++) {
        float v = x[i];
        x[i] = v * 0.5f * (1.0f + erff(v * (float)M_SQRT1_2));
    }
}

void llv_ref_rope_pairs(float *x, const float *cos_t, const float *sin_t, int64_t hd) {
    for (int64_t i = 0; i < hd / 2; i++) {
        float a = x[2 * i], b = x[2 * i + 1], c = cos_t[i], s = sin_t[i];
        x[2 * i] = a * c - b * s;
        x[2 * i + 1] = b * c + a * s;
    }
}
