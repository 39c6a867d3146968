/* golden-report.c - the reporting side of the golden checkers (llv-golden and
 * the unit tests that run its checkers: test-image, test-text, test-sampler):
 * one line per quantity, counted into the golden_ctx, plus the manifest's
 * tolerances and paths under the golden root. */
#include "golden/golden.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

bool golden_compare(golden_ctx *ctx, const char *case_name, const char *quantity, const float *got,
                    const float *ref, int64_t n, double atol, double rtol) {
    double max_abs = 0, max_ref = 0;
    int64_t n_bad = 0, worst = -1;
    for (int64_t i = 0; i < n; i++) {
        double a = got[i], b = ref[i];
        if (!isfinite(a) || !isfinite(b)) {
            bool same = (isnan(a) && isnan(b)) || a == b;
            if (!same) {
                n_bad++;
                if (worst < 0) worst = i;
                max_abs = INFINITY;
            }
            continue;
        }
        double d = fabs(a - b);
        if (fabs(b) > max_ref) max_ref = fabs(b);
        if (d > max_abs) {
            max_abs = d;
            worst = i;
        }
        if (d > atol + rtol * fabs(b)) n_bad++;
    }
    bool ok = n_bad == 0;
    double rel = max_ref > 0 ? max_abs / max_ref : max_abs;
    printf("%s %s n=%lld max_abs=%.3g max_rel=%.3g tol=%.3g/%.3g %s", case_name, quantity, (long long)n, max_abs,
           rel, atol, rtol, ok ? "ok" : "FAIL");
    if (!ok && worst >= 0)
        printf(" (%lld bad; worst [%lld] got %.9g ref %.9g)", (long long)n_bad, (long long)worst, (double)got[worst],
               (double)ref[worst]);
    printf("\n");
    if (ok) ctx->n_pass++;
    else ctx->n_fail++;
    return ok;
}

bool golden_compare_i64(golden_ctx *ctx, const char *case_name, const char *quantity, const int64_t *got,
                        const int64_t *ref, int64_t n) {
    int64_t first = -1, n_bad = 0;
    for (int64_t i = 0; i < n; i++)
        if (got[i] != ref[i]) {
            if (first < 0) first = i;
            n_bad++;
        }
    bool ok = n_bad == 0;
    printf("%s %s n=%lld exact %s", case_name, quantity, (long long)n, ok ? "ok" : "FAIL");
    if (!ok)
        printf(" (%lld differ; first [%lld] got %lld ref %lld)", (long long)n_bad, (long long)first,
               (long long)got[first], (long long)ref[first]);
    printf("\n");
    if (ok) ctx->n_pass++;
    else ctx->n_fail++;
    return ok;
}

void golden_record(golden_ctx *ctx, const char *case_name, const char *quantity, bool ok, const char *fmt, ...) {
    char msg[1024] = "";
    if (fmt) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(msg, sizeof msg, fmt, ap);
        va_end(ap);
    }
    printf("%s %s %s%s%s\n", case_name, quantity, ok ? "ok" : "FAIL", *msg ? " " : "", msg);
    if (ok) ctx->n_pass++;
    else ctx->n_fail++;
}

void golden_skip(golden_ctx *ctx, const char *case_name, const char *what, const char *why) {
    printf("%s %s SKIP (%s)\n", case_name, what, why ? why : "");
    ctx->n_skip++;
}

char *golden_path(const golden_ctx *ctx, const char *rel) {
    size_t a = strlen(ctx->root), b = strlen(rel);
    char *p = malloc(a + b + 2);
    if (!p) return NULL;
    memcpy(p, ctx->root, a);
    p[a] = '/';
    memcpy(p + a + 1, rel, b + 1);
    return p;
}

static bool tol_from(const cJSON *v, double *atol, double *rtol) {
    if (cJSON_IsString(v) && strncmp(v->valuestring, "exact", 5) == 0) {
        *atol = *rtol = 0;
        return true;
    }
    if (cJSON_IsNumber(v)) {
        *atol = v->valuedouble;
        *rtol = 0;
        return true;
    }
    if (cJSON_IsObject(v)) {
        const cJSON *a = cJSON_GetObjectItemCaseSensitive(v, "atol");
        const cJSON *r = cJSON_GetObjectItemCaseSensitive(v, "rtol");
        if (!cJSON_IsNumber(a) && !cJSON_IsNumber(r)) return false;
        *atol = cJSON_IsNumber(a) ? a->valuedouble : 0;
        *rtol = cJSON_IsNumber(r) ? r->valuedouble : 0;
        return true;
    }
    return false;
}

llv_st *golden_open(golden_ctx *ctx, const char *case_name, const char *quantity, const char *rel) {
    char *path = golden_path(ctx, rel);
    llv_st *st = NULL;
    llv_error err = {0};
    if (!path) golden_record(ctx, case_name, quantity, false, "out of memory");
    else if (llv_st_open(path, &st, &err) != LLV_OK) golden_record(ctx, case_name, quantity, false, "%s", err.message);
    free(path);
    return st;
}

void golden_tolerance(const cJSON *entry, const char *quantity, double *atol, double *rtol) {
    *atol = 1e-4;
    *rtol = 1e-5;
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(entry, "tolerance");
    if (!t) return;
    if (quantity && tol_from(cJSON_GetObjectItemCaseSensitive(t, quantity), atol, rtol)) return;
    tol_from(t, atol, rtol); /* a single tolerance for the whole entry ({"atol": ...}) */
}
