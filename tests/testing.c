#include "testing.h"

#include "mmap.h"

#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

llv_test_state llv_t;

void llv_test_init(int argc, char **argv) {
    memset(&llv_t, 0, sizeof llv_t);
    llv_t.filter = argc > 1 ? argv[1] : NULL;
    setvbuf(stdout, NULL, _IOLBF, 0);
}

int llv_test_finish(void) {
    printf("%d passed, %d failed\n", llv_t.passed, llv_t.failed);
    if (llv_t.passed + llv_t.failed == 0) {
        printf("no checks ran: treating as a failure\n");
        return 1;
    }
    return llv_t.failed ? 1 : 0;
}

const char *llv_test_errmsg(const llv_error *e) { return e ? e->message : ""; }

bool llv_test_case(const char *name) {
    if (llv_t.filter && !strstr(name, llv_t.filter)) return false;
    printf("== %s\n", name);
    return true;
}

void llv_test_check(bool ok, const char *file, int line, const char *fmt, ...) {
    if (ok) {
        llv_t.passed++;
        return;
    }
    llv_t.failed++;
    va_list ap;
    va_start(ap, fmt);
    printf("FAIL %s:%d: ", file, line);
    vprintf(fmt, ap);
    printf("\n");
    va_end(ap);
}

llv_cmp llv_compare_f32(const float *got, const float *ref, int64_t n, double atol, double rtol) {
    llv_cmp c = {0, 0, -1, 0, true};
    double ref_max = 0;
    for (int64_t i = 0; i < n; i++)
        if (isfinite(ref[i]) && fabs(ref[i]) > ref_max) ref_max = fabs(ref[i]);
    double worst_excess = -1;
    for (int64_t i = 0; i < n; i++) {
        double a = got[i], b = ref[i];
        if (!isfinite(a) || !isfinite(b)) {
            bool same = (isnan(a) && isnan(b)) || a == b;
            if (!same) {
                c.n_bad++;
                if (c.worst < 0) c.worst = i;
                c.ok = false;
            }
            continue;
        }
        double d = fabs(a - b);
        if (d > c.max_abs) c.max_abs = d;
        double excess = d - (atol + rtol * fabs(b));
        if (excess > 0) {
            c.n_bad++;
            c.ok = false;
        }
        if (excess > worst_excess) {
            worst_excess = excess;
            c.worst = i;
        }
    }
    c.max_rel = ref_max > 0 ? c.max_abs / ref_max : c.max_abs;
    return c;
}

bool llv_check_close_f32(const char *what, const float *got, const float *ref, int64_t n, double atol,
                         double rtol) {
    llv_cmp c = llv_compare_f32(got, ref, n, atol, rtol);
    printf("  %-48s n=%-9lld max_abs=%.3e max_rel=%.3e (atol %.0e rtol %.0e) %s\n", what, (long long)n, c.max_abs,
           c.max_rel, atol, rtol, c.ok ? "ok" : "FAIL");
    if (!c.ok && c.worst >= 0)
        printf("    worst at %lld: got %.9g ref %.9g (%lld bad)\n", (long long)c.worst, got[c.worst], ref[c.worst],
               (long long)c.n_bad);
    llv_test_check(c.ok, __FILE__, __LINE__, "%s within tolerance", what);
    return c.ok;
}

static int is_dir(const char *p) {
    struct stat st;
    return p && stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

const char *llv_test_shared_dir(void) {
    const char *e = getenv("LLV_SHARED_DIR");
    if (e && *e) return is_dir(e) ? e : NULL;
    e = getenv("LLV_SHARED_DIR_DEFAULT");
    if (is_dir(e)) return e;
    return is_dir("../shared") ? "../shared" : NULL;
}

void llv_test_skip(const char *why) {
    printf("SKIP: %s\n", why);
    exit(77);
}

char *llv_test_path(const char *dir, const char *rel) {
    size_t n = strlen(dir) + strlen(rel) + 2;
    char *p = malloc(n);
    if (p) snprintf(p, n, "%s/%s", dir, rel);
    return p;
}

char *llv_test_tmpdir(void) {
    const char *base = getenv("TMPDIR");
    char tmpl[512];
    snprintf(tmpl, sizeof tmpl, "%s/llv-test-XXXXXX", base && *base ? base : "/tmp");
    char *d = mkdtemp(tmpl);
    return d ? strdup(d) : NULL;
}

char *llv_test_read_file(const char *path, size_t *n) {
    char *buf = NULL;
    size_t len = 0;
    if (llv_file_read(path, SIZE_MAX, &buf, &len, NULL) != LLV_OK) return NULL;
    if (n) *n = len;
    return buf;
}

uint8_t *llv_test_ppm(int w, int h, int seed, size_t *n) {
    char head[64];
    int hn = snprintf(head, sizeof head, "P6\n%d %d\n255\n", w, h);
    size_t total = (size_t)hn + (size_t)w * h * 3;
    uint8_t *b = malloc(total);
    if (!b) return NULL;
    memcpy(b, head, (size_t)hn);
    for (int i = 0; i < w * h * 3; i++) b[hn + i] = (uint8_t)((i * 37 + seed * 101 + (i / 7) * seed) & 0xff);
    *n = total;
    return b;
}

char *llv_test_bin(const char *name) {
    const char *d = getenv("LLV_BIN_DIR");
    return llv_test_path(d && *d ? d : "build/bin", name);
}
