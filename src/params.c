/* params.c - the rule by which params structs grow without breaking the ABI
 * (llv.h, Conventions): each starts with its size; the library reads what
 * the caller's size covers and takes the defaults for the rest. */
#include "common.h"

#include <string.h>

void llv_params_out(void *out, size_t size, const void *defaults, size_t lib_size) {
    if (!out || size < sizeof(size_t)) return;
    size_t n = LLV_MIN(size, lib_size);
    memcpy(out, defaults, n);
    if (size > n) memset((char *)out + n, 0, size - n); /* fields this library does not know: 0 */
    memcpy(out, &size, sizeof size);
}

llv_status llv_params_copy(void *dst, size_t lib_size, size_t first_size, const void *in, const char *name,
                           llv_error *err) {
    size_t n;
    memcpy(&n, in, sizeof n);
    int stem = (int)(strlen(name) - strlen("_params"));
    if (n < first_size)
        return llv_err(err, LLV_ERR_INVALID_ARGUMENT,
                       "%s: size = %zu is below its first layout's %zu bytes: start from %.*s_default_params()", name,
                       n, first_size, stem, name);
    for (size_t i = lib_size; i < n; i++)
        if (((const unsigned char *)in)[i])
            return llv_err(err, LLV_ERR_UNSUPPORTED,
                           "%s: byte %zu of %zu is set, but this library (llv %s) knows only the first %zu bytes of "
                           "it: a field of a newer llv.h", name, i, n, llv_version(), lib_size);
    memcpy(dst, in, LLV_MIN(n, lib_size));
    memcpy(dst, &lib_size, sizeof lib_size);
    return LLV_OK;
}
