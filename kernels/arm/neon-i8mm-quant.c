/* NEON + dotprod + i8mm (SMMLA) quantized matmul: the kernels of
 * neon-quant-impl.h with 2 x 2 SMMLA tiles (QI8MM), built with
 * -march=armv8.2-a+dotprod+i8mm and entered only when HWCAP2_I8MM says the
 * CPU has it (kernels/dispatch.c). Bitwise equal to the neon table. */
#include "arm-kernels.h"

#include <arm_neon.h>

#define PFX(name) llv_neon_i8mm_##name
#define DOT(acc, a, b) vdotq_s32((acc), (a), (b))
#define QI8MM 1

#include "neon-quant-impl.h"
