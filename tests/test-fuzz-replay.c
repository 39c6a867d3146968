/* test-fuzz-replay.c - runs every fuzz target's entry function (tests/fuzz/
 * fuzz-*.c, compiled into this test with LLV_FUZZ_REPLAY) over its seed
 * corpus and its regression inputs, with a plain driver: every build, the
 * ASan+UBSan one included, replays all findings. A crash or a sanitizer
 * report fails the test; a broken invariant aborts (LLV_FUZZ_ASSERT).
 * Usage: test-fuzz-replay [target] [file...] (files: replay just those). */
#include "testing.h"

#include <dirent.h>
#include <stdlib.h>
#include <string.h>

typedef int (*fuzz_fn)(const uint8_t *data, size_t size);

int llv_fuzz_gguf(const uint8_t *data, size_t size);
int llv_fuzz_safetensors(const uint8_t *data, size_t size);
int llv_fuzz_image(const uint8_t *data, size_t size);
int llv_fuzz_tokenizer(const uint8_t *data, size_t size);
int llv_fuzz_chat(const uint8_t *data, size_t size);
int llv_fuzz_model(const uint8_t *data, size_t size);
int llv_fuzz_grammar(const uint8_t *data, size_t size);
/* the HTTP request mapping needs the server sources; absent in builds without them */
int llv_fuzz_request(const uint8_t *data, size_t size) __attribute__((weak));

static const struct {
    const char *name;
    fuzz_fn     fn;
} targets[] = {
    {"gguf", llv_fuzz_gguf},   {"safetensors", llv_fuzz_safetensors}, {"image", llv_fuzz_image},
    {"tokenizer", llv_fuzz_tokenizer}, {"chat", llv_fuzz_chat}, {"model", llv_fuzz_model},
    {"grammar", llv_fuzz_grammar},
    {"request", NULL}, /* weak: set below */
};

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

static int run_file(const char *target, fuzz_fn fn, const char *path) {
    size_t n = 0;
    char *buf = llv_test_read_file(path, &n);
    CHECK_MSG(buf != NULL, "%s: cannot read %s", target, path);
    if (!buf) return 0;
    /* an exact-size copy, so ASan sees reads past the input's end */
    uint8_t *copy = malloc(n ? n : 1);
    memcpy(copy, buf, n);
    free(buf);
    int r = fn(copy, n);
    free(copy);
    CHECK_MSG(r == 0, "%s: %s returned %d", target, path, r);
    return 1;
}

/* Replays every file of dir (sorted, so failures are reproducible); returns the count. */
static int run_dir(const char *target, fuzz_fn fn, const char *dir) {
    DIR *d = opendir(dir);
    if (!d) return 0;
    char **names = NULL;
    size_t n = 0, cap = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.') continue;
        if (n == cap) {
            cap = cap ? cap * 2 : 64;
            names = realloc(names, cap * sizeof *names);
        }
        names[n++] = strdup(e->d_name);
    }
    closedir(d);
    if (n) qsort(names, n, sizeof *names, cmp_str);
    int count = 0;
    for (size_t i = 0; i < n; i++) {
        char *path = llv_test_path(dir, names[i]);
        count += run_file(target, fn, path);
        free(path);
        free(names[i]);
    }
    free(names);
    return count;
}

int main(int argc, char **argv) {
    const char *src = getenv("LLV_SOURCE_DIR");
    char *fuzzdir = llv_test_path(src ? src : ".", "tests/fuzz");
    const char *only = argc > 1 ? argv[1] : NULL;
    int total = 0;
    for (size_t t = 0; t < sizeof targets / sizeof targets[0]; t++) {
        fuzz_fn fn = targets[t].fn;
        if (!fn && strcmp(targets[t].name, "request") == 0 && llv_fuzz_request) fn = llv_fuzz_request;
        if (only && strcmp(only, targets[t].name) != 0) continue;
        if (!fn) {
            printf("%-12s not built here (skipped)\n", targets[t].name);
            continue;
        }
        if (only && argc > 2) { /* explicit files */
            for (int i = 2; i < argc; i++) total += run_file(targets[t].name, fn, argv[i]);
            continue;
        }
        char sub[256];
        snprintf(sub, sizeof sub, "corpus/%s", targets[t].name);
        char *cdir = llv_test_path(fuzzdir, sub);
        snprintf(sub, sizeof sub, "regressions/%s", targets[t].name);
        char *rdir = llv_test_path(fuzzdir, sub);
        int nc = run_dir(targets[t].name, fn, cdir), nr = run_dir(targets[t].name, fn, rdir);
        printf("%-12s %4d corpus + %3d regression inputs replayed\n", targets[t].name, nc, nr);
        CHECK_MSG(nc > 0, "%s: no seed corpus in %s", targets[t].name, cdir);
        total += nc + nr;
        free(cdir);
        free(rdir);
    }
    free(fuzzdir);
    printf("%d inputs replayed\n", total);
    return llv_test_finish();
}
