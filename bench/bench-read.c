/* bench-read.c - the streaming read ceiling: well-unrolled read loops (with
 * and without software prefetch, AVX-512 and AVX2) over a buffer, threads
 * splitting it in halves; the best pattern is the machine's read bandwidth. */
#include <immintrin.h>
#include <pthread.h>
#include <stdlib.h>
#include <time.h>

#include "bench.h"

double bench_now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

void bench_sort(double *v, int n) {
    if (n > 0) qsort(v, (size_t)n, sizeof *v, cmp_double);
}

double bench_median(double *v, int n) {
    if (n <= 0) return 0;
    bench_sort(v, n);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

typedef struct read_job {
    const float *p;
    size_t       n; /* floats, multiple of 128 */
    int          pattern;
    double       sink;
} read_job;

__attribute__((target("avx512f"))) static double read_avx512(const float *p, size_t n, int prefetch) {
    __m512 a0 = _mm512_setzero_ps(), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0, a6 = a0, a7 = a0;
    for (size_t i = 0; i < n; i += 128) {
        if (prefetch) _mm_prefetch((const char *)(p + i + 1024), _MM_HINT_T0);
        a0 = _mm512_add_ps(a0, _mm512_load_ps(p + i));
        a1 = _mm512_add_ps(a1, _mm512_load_ps(p + i + 16));
        a2 = _mm512_add_ps(a2, _mm512_load_ps(p + i + 32));
        a3 = _mm512_add_ps(a3, _mm512_load_ps(p + i + 48));
        a4 = _mm512_add_ps(a4, _mm512_load_ps(p + i + 64));
        a5 = _mm512_add_ps(a5, _mm512_load_ps(p + i + 80));
        a6 = _mm512_add_ps(a6, _mm512_load_ps(p + i + 96));
        a7 = _mm512_add_ps(a7, _mm512_load_ps(p + i + 112));
    }
    a0 = _mm512_add_ps(_mm512_add_ps(_mm512_add_ps(a0, a1), _mm512_add_ps(a2, a3)),
                       _mm512_add_ps(_mm512_add_ps(a4, a5), _mm512_add_ps(a6, a7)));
    return _mm512_reduce_add_ps(a0);
}

__attribute__((target("avx2"))) static double read_avx2(const float *p, size_t n) {
    __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0, a6 = a0, a7 = a0;
    for (size_t i = 0; i < n; i += 64) {
        a0 = _mm256_add_ps(a0, _mm256_load_ps(p + i));
        a1 = _mm256_add_ps(a1, _mm256_load_ps(p + i + 8));
        a2 = _mm256_add_ps(a2, _mm256_load_ps(p + i + 16));
        a3 = _mm256_add_ps(a3, _mm256_load_ps(p + i + 24));
        a4 = _mm256_add_ps(a4, _mm256_load_ps(p + i + 32));
        a5 = _mm256_add_ps(a5, _mm256_load_ps(p + i + 40));
        a6 = _mm256_add_ps(a6, _mm256_load_ps(p + i + 48));
        a7 = _mm256_add_ps(a7, _mm256_load_ps(p + i + 56));
    }
    a0 = _mm256_add_ps(_mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3)),
                       _mm256_add_ps(_mm256_add_ps(a4, a5), _mm256_add_ps(a6, a7)));
    float t[8];
    _mm256_storeu_ps(t, a0);
    return t[0] + t[1] + t[2] + t[3] + t[4] + t[5] + t[6] + t[7];
}

static void *read_worker(void *arg) {
    read_job *j = arg;
    if (j->pattern == 2)
        j->sink = read_avx2(j->p, j->n);
    else
        j->sink = read_avx512(j->p, j->n, j->pattern == 1);
    return NULL;
}


double bench_best_read(const float *buf, size_t n, int threads) {
    int    has512 = __builtin_cpu_supports("avx512f"), has2 = __builtin_cpu_supports("avx2");
    double best = 0;
    for (int pattern = 0; pattern < 3; pattern++) {
        if ((pattern < 2 && !has512) || (pattern == 2 && !has2)) continue;
        pthread_t th[64];
        read_job  jobs[64];
        size_t    per = (n / (size_t)threads) & ~(size_t)127;
        double    t0 = bench_now_s();
        for (int t = 0; t < threads; t++) {
            jobs[t] = (read_job){buf + per * (size_t)t, per, pattern, 0};
            pthread_create(&th[t], NULL, read_worker, &jobs[t]);
        }
        for (int t = 0; t < threads; t++) pthread_join(th[t], NULL);
        double gbs = (double)per * (double)threads * sizeof(float) / (bench_now_s() - t0) * 1e-9;
        if (gbs > best) best = gbs;
    }
    return best;
}

