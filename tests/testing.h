/* testing.h - a small test harness: checks keep going after a failure, the
 * summary line is "N passed, N failed", and main returns non-zero if anything
 * failed. Tests needing ../shared call llv_test_shared_dir() and skip (77). */
#ifndef LLV_TESTING_H
#define LLV_TESTING_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "llv.h"

typedef struct llv_test_state {
    int passed, failed;
    const char *filter; /* argv[1]: run only cases whose name contains it */
} llv_test_state;

extern llv_test_state llv_t;

void llv_test_init(int argc, char **argv);
const char *llv_test_errmsg(const llv_error *e);
/* Prints the summary; returns the process exit code (0 ok, 1 failures). */
int  llv_test_finish(void);
/* true if the named case should run (filter). */
bool llv_test_case(const char *name);

void llv_test_check(bool ok, const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

#define CHECK(cond) llv_test_check((cond), __FILE__, __LINE__, "%s", #cond)
#define CHECK_MSG(cond, ...) llv_test_check((cond), __FILE__, __LINE__, __VA_ARGS__)
#define CHECK_EQ_I(a, b)                                                                             \
    do {                                                                                             \
        long long _a = (long long)(a), _b = (long long)(b);                                          \
        llv_test_check(_a == _b, __FILE__, __LINE__, "%s == %s (%lld vs %lld)", #a, #b, _a, _b);       \
    } while (0)
#define CHECK_CLOSE(a, b, tol)                                                                       \
    do {                                                                                             \
        double _a = (double)(a), _b = (double)(b);                                                   \
        llv_test_check(_a - _b <= (tol) && _b - _a <= (tol), __FILE__, __LINE__,                     \
                       "%s ~ %s (%.9g vs %.9g, tol %g)", #a, #b, _a, _b, (double)(tol));             \
    } while (0)
/* Checks a call's status; on failure prints the error message. */
#define CHECK_OK(call, errp)                                                                         \
    do {                                                                                             \
        llv_status _s = (call);                                                                      \
        llv_test_check(_s == LLV_OK, __FILE__, __LINE__, "%s -> %s: %s", #call, llv_status_name(_s), \
                       llv_test_errmsg(errp));                                               \
    } while (0)
#define CHECK_STATUS(call, expected, errp)                                                           \
    do {                                                                                             \
        llv_status _s = (call);                                                                      \
        llv_test_check(_s == (expected), __FILE__, __LINE__, "%s -> %s, expected %s (%s)", #call,    \
                       llv_status_name(_s), llv_status_name(expected), llv_test_errmsg(errp)); \
    } while (0)

/* Result of comparing float arrays with |a-b| <= atol + rtol*|ref|. NaN/Inf
 * must match exactly. */
typedef struct llv_cmp {
    double  max_abs, max_rel; /* max |a-b| and max |a-b| / max|ref| */
    int64_t worst, n_bad;
    bool    ok;
} llv_cmp;
llv_cmp llv_compare_f32(const float *got, const float *ref, int64_t n, double atol, double rtol);
/* Compares, records a check named `what`, prints a line with the errors. */
bool llv_check_close_f32(const char *what, const float *got, const float *ref, int64_t n, double atol,
                         double rtol);

/* The shared data directory: $LLV_SHARED_DIR, else $LLV_SHARED_DIR_DEFAULT,
 * else ../shared relative to the source dir. NULL if absent. */
const char *llv_test_shared_dir(void);
/* Exits with 77 (CTest skip) after printing why. */
void llv_test_skip(const char *why) __attribute__((noreturn));
/* Path helpers: writes dir/rel into a static-per-call buffer the caller owns. */
char *llv_test_path(const char *dir, const char *rel); /* malloc'd */
/* A fresh temporary directory (malloc'd path). */
char *llv_test_tmpdir(void);
/* Reads a whole file (malloc'd, NUL-terminated); NULL on error. */
char *llv_test_read_file(const char *path, size_t *n);
/* A binary PPM (P6) image of w x h pixels in a pattern chosen by seed
 * (malloc'd, *n bytes). */
uint8_t *llv_test_ppm(int w, int h, int seed, size_t *n);
/* $LLV_BIN_DIR/<name> (malloc'd). */
char *llv_test_bin(const char *name);

#endif
