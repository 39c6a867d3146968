/* image.h - image decoding (libjpeg-turbo for JPEG, stb_image for the rest)
 * and the exact MllamaImageProcessor preprocessing: RGBA over white, canvas
 * and tile choice, Pillow's antialiased bilinear resize on uint8, pad,
 * rescale, normalise, tile split (shared/notes/mllama-reference.md §3). */
#ifndef LLV_IMAGE_H
#define LLV_IMAGE_H

#include "common.h"

typedef struct llv_rgb_image {
    int32_t  width, height;
    uint8_t *rgb; /* height * width * 3, row-major HWC */
} llv_rgb_image;

typedef struct llv_image_limits {
    uint64_t max_pixels; /* width * height, checked from the header before decoding */
    uint64_t max_bytes;  /* encoded size */
} llv_image_limits;

/* The limits' checks, the one place for each: encoded size (LLV_ERR_LIMIT),
 * and width x height (> 0, else LLV_ERR_FORMAT naming `fmt`; within
 * max_pixels, else LLV_ERR_LIMIT), used by the decoders on the header and
 * for raw RGB input alike. */
llv_status llv_image_check_bytes(uint64_t n, const llv_image_limits *lim, llv_error *err);
llv_status llv_image_check_dims(const char *fmt, int64_t w, int64_t h, const llv_image_limits *lim, llv_error *err);

/* Decodes JPEG, PNG, GIF (first frame), BMP, TGA, PNM. Corrupt or truncated
 * data, zero dimensions and sizes over the limits are errors. */
llv_status llv_image_decode(const void *bytes, size_t n, const llv_image_limits *limits, llv_rgb_image *out,
                            llv_error *err);
void       llv_rgb_image_free(llv_rgb_image *img);

#define LLV_IMAGE_MAX_TILES 32

/* HF's get_optimal_tiled_canvas + get_image_size_fit_to_canvas (float64
 * arithmetic as the reference). aspect_ratio_id is 1-based. A resized side
 * can be 0 for extreme aspect ratios (as in HF; preprocess then fails).
 * Invalid arguments (sizes <= 0, max_tiles outside 1..LLV_IMAGE_MAX_TILES)
 * give all zeros. */
void llv_image_plan(int32_t h, int32_t w, int32_t tile, int32_t max_tiles, int32_t *canvas_h, int32_t *canvas_w,
                    int32_t *resized_h, int32_t *resized_w, int32_t *tiles_h, int32_t *tiles_w,
                    int32_t *aspect_ratio_id);

typedef struct llv_image_tiles {
    int32_t tile_size, max_tiles;
    int32_t tiles_h, tiles_w, n_tiles, aspect_ratio_id;
    int32_t resized_h, resized_w, canvas_h, canvas_w;
    float  *pixels; /* [max_tiles, 3, tile, tile]; tiles >= n_tiles are exact 0 */
} llv_image_tiles;

/* Full preprocessing. If resized_out is not NULL it receives the resized
 * uint8 HWC image (malloc'd, resized_h*resized_w*3) for golden checks. */
llv_status llv_image_preprocess(const llv_rgb_image *img, int32_t tile_size, int32_t max_tiles, const float mean[3],
                                const float std[3], llv_image_tiles *out, uint8_t **resized_out, llv_error *err);
void       llv_image_tiles_free(llv_image_tiles *t);

/* Default limits (the session defaults of llv.h): 50,000,000 pixels, 64 MiB. */
void llv_image_limits_default(llv_image_limits *l);

/* Pillow's antialiased bilinear resize of an 8-bit HWC image with `ch`
 * channels (two passes, 22-bit fixed point; bit-exact with Image.resize).
 * dst is dw*dh*ch. Fails with LLV_ERR_OUT_OF_MEMORY / LLV_ERR_INVALID_ARGUMENT. */
llv_status llv_image_resize_bilinear(const uint8_t *src, int32_t sw, int32_t sh, int32_t ch, uint8_t *dst,
                                     int32_t dw, int32_t dh, llv_error *err);

/* Internal: the stb_image wrappers of src/stb-image.c (stb stays static
 * there). info: 1 on success; load: NULL on failure, then llv_stbi_failure()
 * says why; free results with llv_stbi_free. */
int         llv_stbi_info(const uint8_t *bytes, size_t n, int *w, int *h, int *comp, int *is16);
uint8_t    *llv_stbi_load8(const uint8_t *bytes, size_t n, int req_comp, int *w, int *h);
uint16_t   *llv_stbi_load16(const uint8_t *bytes, size_t n, int req_comp, int *w, int *h);
const char *llv_stbi_failure(void);
void        llv_stbi_free(void *p);

#endif
