/* test-mmap.c - whole-file access (src/mmap.c): mapping and whole reads of
 * missing, empty, non-regular, exactly-at-the-limit and over-the-limit files,
 * reads that grow the buffer several times, mapping a range's pages ahead
 * (llv_touch_pages), and path joining. */
#include "testing.h"

#include "mmap.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

static char *write_tmp(const char *dir, const char *name, size_t n) {
    char *p = llv_test_path(dir, name);
    FILE *f = fopen(p, "wb");
    CHECK(f != NULL);
    for (size_t i = 0; f && i < n; i++) fputc((int)(i * 31 % 251), f);
    if (f) fclose(f);
    return p;
}

/* Minor and major page faults of reading one byte per page of [p, p + n). */
static long read_faults(const void *p, size_t n) {
    struct rusage r0, r1;
    getrusage(RUSAGE_SELF, &r0);
    volatile unsigned char sink = 0;
    for (size_t i = 0; i < n; i += 4096) sink ^= ((const volatile unsigned char *)p)[i];
    (void)sink;
    getrusage(RUSAGE_SELF, &r1);
    return (r1.ru_minflt - r0.ru_minflt) + (r1.ru_majflt - r0.ru_majflt);
}

static bool pattern_ok(const char *b, size_t n) {
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)b[i] != (unsigned char)(i * 31 % 251)) return false;
    return true;
}

int main(int argc, char **argv) {
    llv_test_init(argc, argv);
    char *dir = llv_test_tmpdir();
    char *missing = llv_test_path(dir, "missing");
    char *empty = write_tmp(dir, "empty", 0);
    char *small = write_tmp(dir, "small", 100);
    char *big = write_tmp(dir, "big", 300000); /* grows past 65536 twice */
    llv_error err = {0};

    if (llv_test_case("map")) {
        llv_mapping m;
        CHECK_STATUS(llv_file_map(missing, &m, &err), LLV_ERR_IO, &err);
        CHECK(m.data == NULL && strstr(err.message, "cannot open") != NULL);
        CHECK_STATUS(llv_file_map(dir, &m, &err), LLV_ERR_IO, &err);
        CHECK(strstr(err.message, "not a regular file") != NULL);
        CHECK_OK(llv_file_map(empty, &m, &err), &err);
        CHECK(m.data == NULL && m.size == 0);
        llv_file_unmap(&m);
        CHECK_OK(llv_file_map(big, &m, &err), &err);
        CHECK(m.size == 300000 && m.data && pattern_ok(m.data, m.size));
        llv_file_unmap(&m);
        CHECK(m.data == NULL && m.size == 0);
        llv_file_unmap(&m); /* a zeroed mapping is a no-op */
    }

    if (llv_test_case("touch")) {
        /* after llv_touch_pages, reading every page of the mapping faults no more:
         * the pages are mapped (without it, each 4 KiB page or fault-around group
         * of a fresh mapping faults once) */
        char *t = write_tmp(dir, "touch", (size_t)8 << 20);
        llv_mapping a, b;
        CHECK_OK(llv_file_map(t, &a, &err), &err);
        CHECK_OK(llv_file_map(t, &b, &err), &err);
        long fresh = read_faults(a.data, a.size);
        llv_touch_pages((const char *)b.data + 1, b.size - 1); /* an unaligned start still covers its page */
        long touched = read_faults(b.data, b.size);
        printf("touch: reading 8 MiB of a fresh mapping: %ld faults; after llv_touch_pages: %ld\n", fresh, touched);
        CHECK_MSG(fresh >= 8 && touched <= 1, "%ld faults fresh, %ld after touching", fresh, touched);
        CHECK(pattern_ok(b.data, b.size));
        llv_touch_pages(NULL, 0); /* nothing to do */
        llv_file_unmap(&a);
        llv_file_unmap(&b);
        free(t);
    }

    if (llv_test_case("read")) {
        char *b = (char *)1;
        size_t n = 7;
        CHECK_STATUS(llv_file_read(missing, 1000, &b, &n, &err), LLV_ERR_NOT_FOUND, &err);
        CHECK(b == NULL && n == 0);
        CHECK_STATUS(llv_file_read(dir, 1000, &b, &n, &err), LLV_ERR_IO, &err);
        CHECK(b == NULL);
        CHECK_OK(llv_file_read(empty, 0, &b, &n, &err), &err);
        CHECK(b && n == 0 && b[0] == 0);
        free(b);
        CHECK_OK(llv_file_read(small, 100, &b, &n, &err), &err); /* exactly at the limit */
        CHECK(b && n == 100 && pattern_ok(b, n) && b[n] == 0);
        free(b);
        CHECK_STATUS(llv_file_read(small, 99, &b, &n, &err), LLV_ERR_LIMIT, &err);
        CHECK(b == NULL && strstr(err.message, "larger than 99 bytes") != NULL);
        CHECK_OK(llv_file_read(big, SIZE_MAX, &b, &n, &err), &err);
        CHECK(b && n == 300000 && pattern_ok(b, n) && b[n] == 0);
        free(b);
        CHECK_OK(llv_file_read(big, 300000, &b, &n, &err), &err);
        CHECK(b && n == 300000 && pattern_ok(b, n));
        free(b);
        CHECK_STATUS(llv_file_read(big, 299999, &b, &n, &err), LLV_ERR_LIMIT, &err);
        CHECK_STATUS(llv_file_read(big, 70000, &b, &n, &err), LLV_ERR_LIMIT, &err);
    }

    if (llv_test_case("path_join")) {
        char *p = llv_path_join("a/b", "c.json");
        CHECK(p && strcmp(p, "a/b/c.json") == 0);
        free(p);
    }

    unlink(empty), unlink(small), unlink(big);
    rmdir(dir);
    free(missing), free(empty), free(small), free(big), free(dir);
    return llv_test_finish();
}
