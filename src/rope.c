/* RoPE frequencies and tables, computed in float32 exactly as HF's
 * modeling_rope_utils (_compute_default / _compute_llama3_parameters) and
 * MllamaRotaryEmbedding do: every intermediate is a float32 tensor op, and the
 * angle is the float32 product float(pos) * inv_freq. */
#include "model.h"

#include <math.h>

void llv_rope_inv_freq(const llv_hparams *hp, float *out) {
    const int32_t hd = hp->head_dim, nf = hd / 2;
    const float theta = hp->rope_theta;
    for (int32_t i = 0; i < nf; i++) {
        float e = (float)(2 * i) / (float)hd;   /* arange(0, dim, 2).float() / dim */
        out[i] = 1.0f / powf(theta, e);         /* 1.0 / (base ** e), float32      */
    }
    if (!hp->rope_llama3) return;
    const float factor = hp->rope_factor, lo = hp->rope_low_freq_factor, hi = hp->rope_high_freq_factor;
    const float old_ctx = (float)hp->rope_orig_ctx;
    const float low_wl = old_ctx / lo, high_wl = old_ctx / hi; /* python floats; exact for the configs seen */
    const float two_pi = (float)(2.0 * M_PI);
    for (int32_t i = 0; i < nf; i++) {
        float inv = out[i];
        float wavelen = two_pi / inv;
        float llama = wavelen > low_wl ? inv / factor : inv;
        if (!(wavelen < high_wl) && !(wavelen > low_wl)) {
            float smooth = (old_ctx / wavelen - lo) / (hi - lo);
            llama = (1.0f - smooth) * llama / factor + smooth * llama;
        }
        out[i] = llama;
    }
}

void llv_rope_cos_sin(const float *inv_freq, int32_t n_freq, int64_t pos, float *cos_out, float *sin_out) {
    const float p = (float)pos;
    for (int32_t i = 0; i < n_freq; i++) {
        float angle = p * inv_freq[i]; /* float32 angle, as HF */
        /* cos/sin of the float angle evaluated in double, then rounded: within
         * half an ulp of the exact value, as HF's float32 cos/sin (<= 1 ulp). */
        cos_out[i] = (float)cos((double)angle);
        sin_out[i] = (float)sin((double)angle);
    }
}
