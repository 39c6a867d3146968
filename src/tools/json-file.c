/* json-file.c - reading one JSON object file (HF config.json and friends,
 * PEFT adapter_config.json), for the converters. */
#include "json-file.h"

#include "common.h"
#include "mmap.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* Reads dir/name as JSON. *out = NULL and OK when the file is absent and
 * !required. */
llv_status llv_json_read_object(const char *dir, const char *name, bool required, cJSON **out, llv_error *err) {
    *out = NULL;
    char *path = llv_path_join(dir, name);
    if (!path) return llv_err(err, LLV_ERR_OUT_OF_MEMORY, "out of memory");
    char *buf = NULL;
    size_t n = 0;
    llv_error e = {0};
    llv_status rs = llv_file_read(path, LLV_JSON_FILE_MAX, &buf, &n, &e);
    if (rs != LLV_OK) {
        llv_status s = LLV_OK;
        if (rs != LLV_ERR_NOT_FOUND) s = llv_err(err, rs, "%s", e.message);
        else if (required)
            s = llv_err(err, LLV_ERR_NOT_FOUND, "%s: %s", path,
                        strerror(ENOENT));
        free(path);
        return s;
    }
    cJSON *j = cJSON_ParseWithLength(buf, n);
    free(buf);
    if (!j || !cJSON_IsObject(j)) {
        cJSON_Delete(j);
        llv_status s = llv_err(err, LLV_ERR_FORMAT, "%s: not a valid JSON object", path);
        free(path);
        return s;
    }
    free(path);
    *out = j;
    return LLV_OK;
}
