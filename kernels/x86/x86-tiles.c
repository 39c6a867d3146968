/* The blocking loop of the tiled float matmuls, shared by the AVX2 and
 * AVX-512 kernels: plain C, so it carries no ISA flags itself. */
#include "x86-kernels.h"

void llv_x86_matmul_tiles(const llv_x86_tile_fn *tiles, const llv_x86_tile_fn *dec, int mr_max, int nr, size_t esz,
                          LLV_MATMUL_ARGS) {
    const unsigned char *wb = w;
    if (M >= 1 && M <= LLV_X86_DEC_MR) { /* decode: one weight row at a time */
        for (int64_t n = n0; n < n1; n++)
            dec[M - 1](x, ldx, wb + (size_t)n * w_row_bytes, w_row_bytes, K, y + n, ldy, 1);
        return;
    }
    int64_t nb = (int64_t)((256u << 10) / ((size_t)K * esz + 1)) / nr * nr;
    if (nb < nr) nb = nr;
    for (int64_t b0 = n0; b0 < n1; b0 += nb) {
        int64_t b1 = b0 + nb < n1 ? b0 + nb : n1;
        for (int64_t m = 0; m < M; m += mr_max) {
            int mr = (int)(M - m < mr_max ? M - m : mr_max);
            llv_x86_tile_fn f = tiles[mr - 1];
            for (int64_t n = b0; n < b1; n += nr) {
                int nv = (int)(b1 - n < nr ? b1 - n : nr);
                f(x + m * ldx, ldx, wb + (size_t)n * w_row_bytes, w_row_bytes, K, y + m * ldy + n, ldy, nv);
            }
        }
    }
}
