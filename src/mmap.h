/* mmap.h - whole-file access: read-only mappings (the GGUF and safetensors
 * readers) and whole reads into memory (JSON, image files), so that opening,
 * checking and reading a file is done (and worded) one way. */
#ifndef LLV_MMAP_H
#define LLV_MMAP_H

#include "common.h"

#include <stddef.h>

typedef struct llv_mapping {
    const void *data; /* NULL for an empty file (nothing is mapped) */
    size_t      size;
} llv_mapping;

/* Maps the regular file `path` read-only and private. On failure *map is
 * zeroed and err says what failed ("<path>: cannot open: ..."). */
llv_status llv_file_map(const char *path, llv_mapping *map, llv_error *err);
/* Unmaps and zeroes *map; a zeroed mapping is a no-op. */
void llv_file_unmap(llv_mapping *map);

/* Drops the whole pages inside [data, data + n) from a mapping (they stay in
 * the page cache), so RSS does not grow with a streamed file's size. */
void llv_drop_pages(const void *data, size_t n);

/* Maps the pages of [data, data + n) of a mapping into the process (reading
 * them from the file where they are not in the page cache): a pass that
 * first uses those weights then takes no page faults. */
void llv_touch_pages(const void *data, size_t n);

/* "dir/name" (malloc'd; NULL when out of memory). */
char *llv_path_join(const char *dir, const char *name);

/* Reads the whole file `path` into *out (malloc'd, NUL-terminated; *n bytes
 * without the NUL). LLV_ERR_NOT_FOUND if it does not exist, LLV_ERR_LIMIT if
 * it holds more than max_bytes (it is not read further), LLV_ERR_IO or
 * LLV_ERR_OUT_OF_MEMORY; *out is NULL on failure. */
llv_status llv_file_read(const char *path, size_t max_bytes, char **out, size_t *n, llv_error *err);

#endif
