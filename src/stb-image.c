/* stb-image.c - the one translation unit that compiles stb_image (Debian's
 * libstb-dev header). Everything of stb stays static here; image.c reaches
 * it only through the llv_stbi_* wrappers declared in image.h, so the static
 * and shared libraries export no stbi_* symbols that could clash with an
 * application's own copy. JPEG is decoded by libjpeg-turbo (image.c), so
 * only PNG, GIF, BMP, TGA and PNM are compiled in. */
#include "image.h"

#include <limits.h>
#include <stdlib.h>

/* stb grows its zlib output buffer by doubling with no bound of its own; a
 * small PNG whose IDAT inflates to gigabytes (a zlib bomb with modest
 * declared dimensions is impossible, since image.c checks the dimensions
 * first, but the inflated stream may still be longer than the image) must
 * not exhaust memory. 1 GiB is above any image allowed by the default pixel
 * budget (50 M pixels * 4 channels * 2 bytes = 400 MB + filter bytes). */
#define LLV_STBI_MAX_ALLOC ((size_t)1 << 30)

static void *llv_stbi_malloc(size_t n) { return n > LLV_STBI_MAX_ALLOC ? NULL : malloc(n); }
static void *llv_stbi_realloc(void *p, size_t n) { return n > LLV_STBI_MAX_ALLOC ? NULL : realloc(p, n); }

#define STBI_MALLOC(sz)     llv_stbi_malloc(sz)
#define STBI_REALLOC(p, sz) llv_stbi_realloc(p, sz)
#define STBI_FREE(p)        free(p)

#define STB_IMAGE_STATIC
#define STB_IMAGE_IMPLEMENTATION
#define STBI_NO_STDIO
#define STBI_NO_LINEAR
#define STBI_NO_HDR
#define STBI_ONLY_PNG
#define STBI_ONLY_GIF
#define STBI_ONLY_BMP
#define STBI_ONLY_TGA
#define STBI_ONLY_PNM
/* image.c enforces the configurable pixel budget before decoding; this is
 * only stb's own backstop. */
#define STBI_MAX_DIMENSIONS (1 << 24)

#if defined(__GNUC__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-function"
#pragma GCC diagnostic ignored "-Wunused-parameter"
#pragma GCC diagnostic ignored "-Wshadow"
#pragma GCC diagnostic ignored "-Wsign-compare"
#pragma GCC diagnostic ignored "-Wimplicit-fallthrough"
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
#pragma GCC diagnostic ignored "-Wdouble-promotion"
#pragma GCC diagnostic ignored "-Wcast-qual"
#pragma GCC diagnostic ignored "-Wstrict-prototypes"
#endif
#include <stb/stb_image.h>
/* (no pop: unused-function warnings are reported at the end of the TU) */

int llv_stbi_info(const uint8_t *bytes, size_t n, int *w, int *h, int *comp, int *is16) {
    if (n > INT_MAX) return 0;
    if (!stbi_info_from_memory(bytes, (int)n, w, h, comp)) return 0;
    *is16 = stbi_is_16_bit_from_memory(bytes, (int)n);
    return 1;
}

uint8_t *llv_stbi_load8(const uint8_t *bytes, size_t n, int req_comp, int *w, int *h) {
    int c = 0;
    if (n > INT_MAX) return NULL;
    return stbi_load_from_memory(bytes, (int)n, w, h, &c, req_comp);
}

uint16_t *llv_stbi_load16(const uint8_t *bytes, size_t n, int req_comp, int *w, int *h) {
    int c = 0;
    if (n > INT_MAX) return NULL;
    return stbi_load_16_from_memory(bytes, (int)n, w, h, &c, req_comp);
}

const char *llv_stbi_failure(void) {
    const char *r = stbi_failure_reason();
    return r ? r : "unknown error";
}

void llv_stbi_free(void *p) { stbi_image_free(p); }
