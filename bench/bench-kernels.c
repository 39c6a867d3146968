/* bench-kernels.c - llv-bench --kernels: each weight type's matmul kernel on
 * one large matrix (default 1 GiB, K = 4096, rows split between the threads
 * as in a decode pass), with M = 1, 2, 4 x rows (decode streams), against the
 * read ceiling measured over the same memory right before and after each
 * kernel pass. The ratio is the kernel's bandwidth efficiency without the
 * rest of the model around it: where decode_bw_efficiency falls short, this
 * tells whether the kernel or something else is the cause. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"
#include "kernels.h"
#include "tensor.h"
#include "threadpool.h"

#define KB_K 4096
#define KB_MAX_ROWS 8
#define KB_MAX_TYPES 16

typedef struct mv_job {
    const llv_kernels   *kern;
    int                  type;
    const unsigned char *w;
    size_t               rb;
    const float         *x;
    int64_t              m, ldy;
    float               *y;
} mv_job;

static void mv_task(void *ctx, int64_t n0, int64_t n1, int thread) {
    (void)thread;
    const mv_job *j = ctx;
    j->kern->matmul[j->type](j->w, j->rb, j->x, KB_K, j->m, KB_K, j->y, j->ldy, n0, n1);
}

static int parse_list(const char *s, char items[][16], int max) {
    int n = 0;
    while (*s && n < max) {
        size_t len = strcspn(s, ",");
        if (len == 0 || len >= 16) return -1;
        memcpy(items[n], s, len);
        items[n++][len] = '\0';
        s += len + (s[len] == ',');
    }
    return *s ? -1 : n;
}

int bench_kernels(const bench_kernel_opts *o) {
    char tnames[KB_MAX_TYPES][16], rnames[4][16];
    int  nt = parse_list(o->types, tnames, KB_MAX_TYPES), nr = parse_list(o->rows, rnames, 4), rows[4];
    if (nt <= 0 || nr <= 0) {
        fprintf(stderr, "llv-bench: --kernels: bad --kernel-types or --kernel-rows list\n");
        return 1;
    }
    for (int i = 0; i < nr; i++) {
        rows[i] = atoi(rnames[i]);
        if (rows[i] < 1 || rows[i] > KB_MAX_ROWS) {
            fprintf(stderr, "llv-bench: --kernel-rows: each 1..%d, got '%s'\n", KB_MAX_ROWS, rnames[i]);
            return 1;
        }
    }
    const llv_kernels *kern = llv_kernels_get(LLV_ISA_AUTO);
    llv_type           types[KB_MAX_TYPES];
    for (int i = 0; i < nt; i++)
        if (llv_type_from_name(tnames[i], &types[i], NULL) != LLV_OK || types[i] == LLV_TYPE_Q4_K_M ||
            !kern->matmul[types[i]] || !kern->from_f32[types[i]]) {
            fprintf(stderr, "llv-bench: --kernel-types: '%s' is not a weight type with a matmul kernel\n", tnames[i]);
            return 1;
        }
    llv_threadpool    *pool = NULL;
    llv_error          err;
    if (llv_threadpool_create(o->threads, &pool, &err) != LLV_OK) {
        fprintf(stderr, "llv-bench: %s\n", err.message);
        return 2;
    }
    float *x = malloc(sizeof(float) * KB_K * KB_MAX_ROWS), *row = malloc(sizeof(float) * KB_K);
    if (!x || !row) {
        free(x), free(row);
        llv_threadpool_free(pool);
        fprintf(stderr, "llv-bench: --kernels: out of memory\n");
        return 2;
    }
    for (int i = 0; i < KB_K * KB_MAX_ROWS; i++) x[i] = (float)((i * 13) % 7 - 3) / 3.0f;
    for (int i = 0; i < KB_K; i++) row[i] = (float)((i * 37) % 101 - 50) / 50.0f;
    if (o->json) printf("{\"isa\": \"%s\", \"threads\": %d, \"mib\": %zu, \"kernels\": [", kern->name, o->threads, o->mib);
    else
        printf("kernels (%s, %d threads, %zu MiB per matrix, K = %d), medians of %d runs\n%-6s %5s %10s %10s %7s\n",
               kern->name, o->threads, o->mib, KB_K, o->runs, "type", "rows", "GB/s", "read GB/s", "ratio");
    int first = 1, rc = 0;
    for (int ti = 0; ti < nt && rc == 0; ti++) {
        const llv_type ty = types[ti];
        const size_t  rb = (size_t)(KB_K / llv_type_block_size(ty)) * llv_type_block_bytes(ty);
        const int64_t n = (int64_t)((o->mib << 20) / rb) & ~(int64_t)63;
        const size_t  bytes = rb * (size_t)n;
        unsigned char *w = NULL;
        float         *y = malloc(sizeof(float) * (size_t)n * KB_MAX_ROWS);
        if (n < 64 || posix_memalign((void **)&w, 64, bytes) != 0 || !y) {
            fprintf(stderr, "llv-bench: --kernels: cannot allocate %zu MiB\n", o->mib);
            free(y);
            rc = 2;
            break;
        }
        for (int64_t r = 0; r < 64; r++) kern->from_f32[ty](row, w + (size_t)r * rb, KB_K); /* then copies: fast */
        for (int64_t r = 64; r < n; r++) memcpy(w + (size_t)r * rb, w + (size_t)(r % 64) * rb, rb);
        double gbs[4][32], ratio[4][32], rd[4][32];
        for (int run = 0; run < o->runs; run++)
            for (int i = 0; i < nr; i++) {
                mv_job j = {kern, ty, w, rb, x, rows[i], n, y};
                double before = bench_best_read((const float *)(const void *)w, bytes / 4, o->threads);
                double t0 = bench_now_s();
                llv_threadpool_parallel_for(pool, n, 16, mv_task, &j);
                double g = (double)bytes / (bench_now_s() - t0) * 1e-9;
                double after = bench_best_read((const float *)(const void *)w, bytes / 4, o->threads);
                gbs[i][run] = g;
                rd[i][run] = 0.5 * (before + after);
                ratio[i][run] = g / rd[i][run];
            }
        for (int i = 0; i < nr; i++) {
            double g = bench_median(gbs[i], o->runs), r = bench_median(rd[i], o->runs),
                   q = bench_median(ratio[i], o->runs);
            if (o->json)
                printf("%s{\"type\": \"%s\", \"rows\": %d, \"gbs\": %.2f, \"read_gbs\": %.2f, \"ratio\": %.3f}",
                       first ? "" : ", ", llv_type_name(ty), rows[i], g, r, q);
            else printf("%-6s %5d %10.1f %10.1f %7.3f\n", llv_type_name(ty), rows[i], g, r, q);
            first = 0;
        }
        free(w);
        free(y);
    }
    if (o->json) printf("]}\n");
    free(x);
    free(row);
    llv_threadpool_free(pool);
    return rc;
}
