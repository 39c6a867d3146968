/* AVX-512 VNNI quantized matmul: vpdpbusd / vpdpwssd on 512-bit vectors
 * (quant-zmm.h, quant-kq-zmm.h), 4 x 4 register tiles for Q4_0/Q8_0 and 8 x 2 for the K-quants (one row at a time in decode); activation quantization and the
 * drivers are in quant-impl.h. */
#include "x86-kernels.h"

#define PFX(name) llv_avx512_##name
#define QMR 4
#define QNR 2
#define QMRK 8
#define QNR32 4
#define DPBUSD(acc, u, s) _mm256_dpbusd_epi32((acc), (u), (s))
#define DPWSSD(acc, a, b) _mm256_dpwssd_epi32((acc), (a), (b))
#define QZMM 1

#include "quant-impl.h"
