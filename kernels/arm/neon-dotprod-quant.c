/* NEON + dotprod (ARMv8.2-A SDOT) quantized matmul: the kernels of
 * neon-quant-impl.h with vdotq_s32, built with -march=armv8.2-a+dotprod and
 * entered only when HWCAP_ASIMDDP says the CPU has it (kernels/dispatch.c).
 * Bitwise equal to the neon table: only the grouping of the exact int32
 * partial sums differs. */
#include "arm-kernels.h"

#include <arm_neon.h>

#define PFX(name) llv_neon_dotprod_##name
#define DOT(acc, a, b) vdotq_s32((acc), (a), (b))

#include "neon-quant-impl.h"
