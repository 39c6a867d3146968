/* AVX-512 VNNI quantized matmul: vpdpbusd / vpdpwssd on 256-bit vectors
 * (AVX512-VL), a 4 x 2 register tile. The kernels are in quant-impl.h. */
#include "x86-kernels.h"

#define PFX(name) llv_avx512_##name
#define QMR 4
#define QNR 2
#define DPBUSD(acc, u, s) _mm256_dpbusd_epi32((acc), (u), (s))
#define DPWSSD(acc, a, b) _mm256_dpwssd_epi32((acc), (a), (b))

#include "quant-impl.h"
