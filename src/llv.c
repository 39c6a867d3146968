/* llv.c - version, status and type names: the small public entry points that
 * belong to no other concern. */
#include "common.h"

#include <string.h>
#include <strings.h>

#define LLV_STR_(x) #x
#define LLV_STR(x)  LLV_STR_(x)

const char *llv_version(void) {
    return LLV_STR(LLV_VERSION_MAJOR) "." LLV_STR(LLV_VERSION_MINOR) "." LLV_STR(LLV_VERSION_PATCH);
}

int llv_version_number(void) { return LLV_VERSION_NUMBER; }

const char *llv_status_name(llv_status s) {
    switch (s) {
    case LLV_OK: return "LLV_OK";
    case LLV_ERR_INVALID_ARGUMENT: return "LLV_ERR_INVALID_ARGUMENT";
    case LLV_ERR_IO: return "LLV_ERR_IO";
    case LLV_ERR_FORMAT: return "LLV_ERR_FORMAT";
    case LLV_ERR_UNSUPPORTED: return "LLV_ERR_UNSUPPORTED";
    case LLV_ERR_OUT_OF_MEMORY: return "LLV_ERR_OUT_OF_MEMORY";
    case LLV_ERR_LIMIT: return "LLV_ERR_LIMIT";
    case LLV_ERR_BUFFER_TOO_SMALL: return "LLV_ERR_BUFFER_TOO_SMALL";
    case LLV_ERR_CANCELLED: return "LLV_ERR_CANCELLED";
    case LLV_ERR_CONTEXT: return "LLV_ERR_CONTEXT";
    case LLV_ERR_STATE: return "LLV_ERR_STATE";
    case LLV_ERR_NOT_FOUND: return "LLV_ERR_NOT_FOUND";
    case LLV_ERR_INTERNAL: return "LLV_ERR_INTERNAL";
    }
    return "LLV_ERR_UNKNOWN";
}

static const struct { llv_type t; const char *name; } type_names[] = {
    {LLV_TYPE_F32, "f32"},   {LLV_TYPE_F16, "f16"},   {LLV_TYPE_BF16, "bf16"},   {LLV_TYPE_Q8_0, "q8_0"},
    {LLV_TYPE_Q4_0, "q4_0"}, {LLV_TYPE_Q4_1, "q4_1"}, {LLV_TYPE_Q5_0, "q5_0"}, {LLV_TYPE_Q5_1, "q5_1"},
    {LLV_TYPE_Q4_K, "q4_k"}, {LLV_TYPE_Q6_K, "q6_k"}, {LLV_TYPE_Q4_K_M, "q4_k_m"},
    {LLV_TYPE_Q2_K, "q2_k"}, {LLV_TYPE_Q3_K, "q3_k"}, {LLV_TYPE_Q5_K, "q5_k"},
};

const char *llv_type_name(llv_type t) {
    for (size_t i = 0; i < sizeof type_names / sizeof type_names[0]; i++)
        if (type_names[i].t == t) return type_names[i].name;
    return NULL;
}

llv_status llv_type_from_name(const char *name, llv_type *out, llv_error *err) {
    llv_err_clear(err);
    for (size_t i = 0; name && i < sizeof type_names / sizeof type_names[0]; i++)
        if (strcasecmp(name, type_names[i].name) == 0) {
            *out = type_names[i].t;
            return LLV_OK;
        }
    return llv_err(err, LLV_ERR_INVALID_ARGUMENT,
                   "unknown type '%s' (expected f32, f16, bf16, q8_0, q4_0, q4_1, q5_0, q5_1, q2_k, q3_k, q4_k, q5_k, "
                   "q6_k or q4_k_m)",
                   name ? name : "(null)");
}
