/* fuzz-image.c - image decode (every format llv_image_decode sniffs) under
 * small limits, then the full preprocessing at a small tile size. The input
 * is the encoded image itself, so the seeds are plain image files; tile size
 * and tile count are derived from the input length. */
#include "fuzz.h"
#include "image.h"

#include <math.h>
#include <string.h>

LLV_FUZZ_TARGET(image) {
    const llv_image_limits lim = {1u << 18 /* pixels */, 1u << 20 /* bytes */};
    llv_rgb_image img;
    llv_error err;
    llv_status st = llv_image_decode(data, size, &lim, &img, &err);
    if (st != LLV_OK) {
        LLV_FUZZ_ASSERT(img.rgb == NULL && err.message[0] != '\0');
        return 0;
    }
    LLV_FUZZ_ASSERT(img.rgb && img.width > 0 && img.height > 0);
    LLV_FUZZ_ASSERT((uint64_t)img.width * (uint64_t)img.height <= lim.max_pixels);
    llv_fuzz_touch(img.rgb, (size_t)img.width * (size_t)img.height * 3);

    static const float mean[3] = {0.48145466f, 0.4578275f, 0.40821073f};
    static const float stdv[3] = {0.26862954f, 0.26130258f, 0.27577711f};
    int32_t tile = 8 + (int32_t)(size % 4) * 8, max_tiles = 1 + (int32_t)((size / 4) % 4);
    llv_image_tiles t;
    uint8_t *resized = NULL;
    st = llv_image_preprocess(&img, tile, max_tiles, mean, stdv, &t, &resized, &err);
    if (st == LLV_OK) {
        LLV_FUZZ_ASSERT(t.n_tiles >= 1 && t.n_tiles <= max_tiles);
        LLV_FUZZ_ASSERT(t.resized_h >= 1 && t.resized_h <= t.canvas_h && t.resized_w >= 1 && t.resized_w <= t.canvas_w);
        LLV_FUZZ_ASSERT(t.aspect_ratio_id >= 1);
        llv_fuzz_touch(resized, (size_t)t.resized_h * (size_t)t.resized_w * 3);
        size_t nf = (size_t)max_tiles * 3 * (size_t)tile * (size_t)tile;
        for (size_t i = 0; i < nf; i++) LLV_FUZZ_ASSERT(isfinite(t.pixels[i]));
        free(resized);
        llv_image_tiles_free(&t);
    } else {
        LLV_FUZZ_ASSERT(resized == NULL && err.message[0] != '\0');
    }
    llv_rgb_image_free(&img);
    return 0;
}
