/* mmap.c - read-only whole-file mappings (see mmap.h). */
#include "mmap.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
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
