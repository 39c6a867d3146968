/* AVX2 quantized matmul: vpmaddubsw + vpmaddwd in place of the VNNI dot
 * products (no saturation: |u8 * s8| pair sums stay below 2^15 for every
 * weight type here), a 2 x 2 register tile. The kernels are in quant-impl.h. */
#include "x86-kernels.h"

#define PFX(name) llv_avx2_##name
#define QMR 2
#define QNR 2
#define DPBUSD(acc, u, s) _mm256_add_epi32((acc), _mm256_madd_epi16(_mm256_maddubs_epi16((u), (s)), _mm256_set1_epi16(1)))
#define DPWSSD(acc, a, b) _mm256_add_epi32((acc), _mm256_madd_epi16((a), (b)))

#include "quant-impl.h"
