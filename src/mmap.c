/* mmap.c - whole-file access: read-only mappings and whole reads (see mmap.h). */
#include "mmap.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

llv_status llv_file_map(const char *path, llv_mapping *map, llv_error *err) {
    map->data = NULL;
    map->size = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return llv_err(err, LLV_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    struct stat sb;
    if (fstat(fd, &sb) != 0) {
        int e = errno;
        close(fd);
        return llv_err(err, LLV_ERR_IO, "%s: cannot stat: %s", path, strerror(e));
    }
    if (!S_ISREG(sb.st_mode)) {
        close(fd);
        return llv_err(err, LLV_ERR_IO, "%s: not a regular file", path);
    }
    if ((uint64_t)sb.st_size > SIZE_MAX) {
        close(fd);
        return llv_err(err, LLV_ERR_IO, "%s: file too large to map", path);
    }
    if (sb.st_size == 0) { /* mmap refuses a zero length; callers reject short files */
        close(fd);
        return LLV_OK;
    }
    void *m = mmap(NULL, (size_t)sb.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
    int e = errno;
    close(fd);
    if (m == MAP_FAILED) return llv_err(err, LLV_ERR_IO, "%s: mmap failed: %s", path, strerror(e));
    map->data = m;
    map->size = (size_t)sb.st_size;
    return LLV_OK;
}

void llv_file_unmap(llv_mapping *map) {
    if (map->data) munmap((void *)map->data, map->size);
    map->data = NULL;
    map->size = 0;
}

llv_status llv_file_read(const char *path, size_t max_bytes, char **out, size_t *n, llv_error *err) {
    *out = NULL;
    *n = 0;
    FILE *f = fopen(path, "rb");
    if (!f) {
        int e = errno;
        return llv_err(err, e == ENOENT ? LLV_ERR_NOT_FOUND : LLV_ERR_IO, "%s: cannot open: %s", path, strerror(e));
    }
    /* grow to at most max_bytes + 1: reading one byte past the limit is how
     * an oversized file is told apart without reading all of it */
    const size_t limit = max_bytes < SIZE_MAX - 1 ? max_bytes + 1 : SIZE_MAX - 1;
    char *buf = NULL;
    size_t len = 0, cap = 0;
    llv_status st = LLV_OK;
    for (;;) {
        if (len == cap) {
            size_t nc = cap == 0 ? 65536 : cap <= limit / 2 ? cap * 2 : limit;
            if (nc > limit) nc = limit;
            char *nb = realloc(buf, nc + 1); /* + the NUL */
            if (!nb) {
                st = llv_err(err, LLV_ERR_OUT_OF_MEMORY, "%s: out of memory reading %zu bytes", path, nc);
                break;
            }
            buf = nb;
            cap = nc;
        }
        size_t r = fread(buf + len, 1, cap - len, f);
        len += r;
        if (len > max_bytes) {
            st = llv_err(err, LLV_ERR_LIMIT, "%s: larger than %zu bytes", path, max_bytes);
            break;
        }
        if (r == 0) {
            if (ferror(f)) st = llv_err(err, LLV_ERR_IO, "%s: read error", path);
            break;
        }
    }
    fclose(f);
    if (st != LLV_OK) {
        free(buf);
        return st;
    }
    buf[len] = 0;
    *out = buf;
    *n = len;
    return LLV_OK;
}

char *llv_path_join(const char *dir, const char *name) {
    size_t a = strlen(dir), b = strlen(name);
    char *p = malloc(a + b + 2);
    if (!p) return NULL;
    memcpy(p, dir, a);
    p[a] = '/';
    memcpy(p + a + 1, name, b + 1);
    return p;
}

void llv_touch_pages(const void *data, size_t n) {
    long ps = sysconf(_SC_PAGESIZE);
    if (ps <= 0 || n == 0 || !data) return;
    uintptr_t a = (uintptr_t)data & ~((uintptr_t)ps - 1), b = (uintptr_t)data + n;
    (void)madvise((void *)a, b - a, MADV_WILLNEED); /* read ahead what is not cached, all at once */
    volatile unsigned char sink = 0;
    for (uintptr_t p = (uintptr_t)data; p < b; p += (uintptr_t)ps) sink ^= *(const volatile unsigned char *)p;
    (void)sink;
}

void llv_drop_pages(const void *data, size_t n) {
    long ps = sysconf(_SC_PAGESIZE);
    if (ps <= 0 || n == 0) return;
    uintptr_t a = (uintptr_t)data, b = a + n;
    a = (a + (uintptr_t)ps - 1) & ~((uintptr_t)ps - 1);
    b &= ~((uintptr_t)ps - 1);
    if (b > a) (void)madvise((void *)a, b - a, MADV_DONTNEED);
}
