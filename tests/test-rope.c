/* llv_rope_inv_freq / llv_rope_cos_sin against HF's rotary tables in
 * shared/golden/rope/rope.safetensors (real config up to position 131071,
 * tiny configs 0..399), tolerance 1e-6. */
#include "testing.h"

#include "model.h"
#include "safetensors.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static void check_config(const llv_st *st, const char *name, int32_t head_dim) {
    llv_hparams hp;
    memset(&hp, 0, sizeof hp);
    hp.head_dim = head_dim;
    hp.rope_theta = 500000.0f;
    hp.rope_llama3 = true;
    hp.rope_factor = 8.0f;
    hp.rope_low_freq_factor = 1.0f;
    hp.rope_high_freq_factor = 4.0f;
    hp.rope_orig_ctx = 8192;
    char key[64];
    snprintf(key, sizeof key, "%s.inv_freq", name);
    const llv_st_tensor *tinv = llv_st_find(st, key);
    snprintf(key, sizeof key, "%s.positions", name);
    const llv_st_tensor *tpos = llv_st_find(st, key);
    snprintf(key, sizeof key, "%s.cos", name);
    const llv_st_tensor *tcos = llv_st_find(st, key);
    snprintf(key, sizeof key, "%s.sin", name);
    const llv_st_tensor *tsin = llv_st_find(st, key);
    CHECK_MSG(tinv && tpos && tcos && tsin, "%s tensors present", name);
    if (!tinv || !tpos || !tcos || !tsin) return;
    int nf = head_dim / 2;
    CHECK_EQ_I(llv_st_numel(tinv), nf);
    float inv[LLV_MAX_HEAD_DIM / 2], ref[LLV_MAX_HEAD_DIM / 2];
    llv_rope_inv_freq(&hp, inv);
    for (int i = 0; i < nf; i++) ref[i] = (float)llv_st_get_f64(tinv, i);
    char what[96];
    snprintf(what, sizeof what, "%s inv_freq", name);
    llv_check_close_f32(what, inv, ref, nf, 0, 1e-6);
    int64_t np = llv_st_numel(tpos);
    float *c = malloc(np * head_dim * 4), *s = malloc(np * head_dim * 4), *rc = malloc(np * head_dim * 4),
          *rs = malloc(np * head_dim * 4);
    for (int64_t p = 0; p < np; p++) {
        int64_t pos = llv_st_get_i64(tpos, p);
        llv_rope_cos_sin(inv, nf, pos, c + p * head_dim, s + p * head_dim);
        memcpy(c + p * head_dim + nf, c + p * head_dim, nf * 4); /* HF: cat(freqs, freqs) */
        memcpy(s + p * head_dim + nf, s + p * head_dim, nf * 4);
    }
    for (int64_t i = 0; i < np * head_dim; i++) {
        rc[i] = (float)llv_st_get_f64(tcos, i);
        rs[i] = (float)llv_st_get_f64(tsin, i);
    }
    snprintf(what, sizeof what, "%s cos (%lld positions, last %lld)", name, (long long)np,
             (long long)llv_st_get_i64(tpos, np - 1));
    llv_check_close_f32(what, c, rc, np * head_dim, 1e-6, 0);
    snprintf(what, sizeof what, "%s sin", name);
    llv_check_close_f32(what, s, rs, np * head_dim, 1e-6, 0);
    free(c);
    free(s);
    free(rc);
    free(rs);
}

/* The three llama3 regimes for head_dim 128: 29 unchanged, 6 smoothed, 29 / 8. */
static void check_regimes(void) {
    llv_hparams hp;
    memset(&hp, 0, sizeof hp);
    hp.head_dim = 128;
    hp.rope_theta = 500000.0f;
    hp.rope_factor = 8.0f;
    hp.rope_low_freq_factor = 1.0f;
    hp.rope_high_freq_factor = 4.0f;
    hp.rope_orig_ctx = 8192;
    float plain[64], scaled[64];
    llv_rope_inv_freq(&hp, plain);
    hp.rope_llama3 = true;
    llv_rope_inv_freq(&hp, scaled);
    int same = 0, div8 = 0, smooth = 0;
    for (int i = 0; i < 64; i++) {
        if (scaled[i] == plain[i]) same++;
        else if (scaled[i] == plain[i] / 8.0f) div8++;
        else smooth++;
    }
    CHECK_EQ_I(same, 29);
    CHECK_EQ_I(smooth, 6);
    CHECK_EQ_I(div8, 29);
    CHECK(plain[0] == 1.0f);
}

int main(int argc, char **argv) {
    llv_test_init(argc, argv);
    check_regimes();
    const char *shared = llv_test_shared_dir();
    if (!shared) llv_test_skip("shared dir not found (rope tables)");
    char *path = llv_test_path(shared, "golden/rope/rope.safetensors");
    llv_st *st = NULL;
    llv_error err;
    CHECK_OK(llv_st_open(path, &st, &err), &err);
    if (st) {
        check_config(st, "real", 128);
        check_config(st, "tiny-a", 16);
        check_config(st, "tiny-b", 12);
        check_config(st, "tiny-c", 8);
        llv_st_close(st);
    }
    free(path);
    return llv_test_finish();
}
