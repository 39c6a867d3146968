/* json-file.h - reading one JSON object file. */
#ifndef LLV_JSON_FILE_H
#define LLV_JSON_FILE_H

#include "llv.h"

#include <cjson/cJSON.h>
#include <stdbool.h>

/* Configuration files are small; a larger one is refused (LLV_ERR_LIMIT). */
#define LLV_JSON_FILE_MAX ((size_t)64 << 20)

/* Reads dir/name as a JSON object into *out (free with cJSON_Delete). When the
 * file is absent: *out = NULL and LLV_OK if !required, else LLV_ERR_NOT_FOUND
 * naming the path. LLV_ERR_FORMAT when it is not a JSON object. */
llv_status llv_json_read_object(const char *dir, const char *name, bool required, cJSON **out, llv_error *err);

#endif
