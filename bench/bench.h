/* bench.h - what llv-bench's files share: the clock, medians, the streaming
 * read ceiling, and the kernel benchmark (bench-kernels.c). */
#ifndef LLV_BENCH_H
#define LLV_BENCH_H

#include <stddef.h>

double bench_now_s(void);
/* median of v[0..n) (sorts v); 0 when n <= 0 */
double bench_median(double *v, int n); /* sorts v */
void   bench_sort(double *v, int n);   /* ascending */
/* one pass of every read pattern (unrolled AVX-512 with and without software
 * prefetch, AVX2) over buf[0..n) floats with `threads` threads: the best GB/s */
double bench_best_read(const float *buf, size_t n, int threads);

typedef struct bench_kernel_opts {
    const char *types;     /* comma-separated weight type names                    */
    const char *rows;      /* comma-separated x row counts (streams), 1..8         */
    size_t      mib;       /* weight matrix size per type                          */
    int         threads;
    int         runs;
    int         json;
} bench_kernel_opts;
/* llv-bench --kernels: the matmul kernels on one large matrix per type
 * against the read ceiling over the same memory; returns a process exit code */
int bench_kernels(const bench_kernel_opts *o);

#endif
