/* mmap.h - read-only whole-file mappings, shared by the GGUF and safetensors
 * readers so that opening, checking and mapping a file is done (and worded)
 * one way. */
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

#endif
