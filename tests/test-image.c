/* test-image.c - image decoding and preprocessing: generated images of every
 * supported format and mode (PNG with a tiny stored-zlib writer, JPEG with
 * libjpeg's compressor, BMP/TGA with stb_image_write, GIF/PNM by hand),
 * hostile inputs (truncated, corrupt, bombs, unsupported formats) with their
 * exact status, the canvas plan, the resampler, and the golden data:
 * shared/golden/image_processor (through the golden-image.c checkers) and the
 * images of every golden model case against its pixel_values. */
#include "testing.h"

#include "image.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jpeglib.h>
#include <webp/encode.h>

#define STB_IMAGE_WRITE_STATIC
#define STB_IMAGE_WRITE_IMPLEMENTATION
#if defined(__GNUC__)
#pragma GCC diagnostic ignored "-Wunused-function"
#pragma GCC diagnostic ignored "-Wsign-compare"
#pragma GCC diagnostic ignored "-Wshadow"
#pragma GCC diagnostic ignored "-Wimplicit-fallthrough"
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"
#endif
#include <stb/stb_image_write.h>

/* the checkers of llv-golden, run here over the manifest too (their reporting
 * helpers are tests/helpers/golden-report.c) */
#include "golden/golden-image.c"

/* ------------------------------------------------------------------------- */
/* byte buffers                                                              */
/* ------------------------------------------------------------------------- */

typedef struct buf {
    uint8_t *p;
    size_t   n, cap;
} buf;

static void buf_put(buf *b, const void *d, size_t n) {
    if (b->n + n > b->cap) {
        b->cap = (b->n + n) * 2 + 64;
        b->p   = realloc(b->p, b->cap);
    }
    memcpy(b->p + b->n, d, n);
    b->n += n;
}
static void buf_u8(buf *b, uint8_t v) { buf_put(b, &v, 1); }
static void buf_be32(buf *b, uint32_t v) {
    uint8_t d[4] = {(uint8_t)(v >> 24), (uint8_t)(v >> 16), (uint8_t)(v >> 8), (uint8_t)v};
    buf_put(b, d, 4);
}
static void buf_le16(buf *b, uint16_t v) {
    uint8_t d[2] = {(uint8_t)v, (uint8_t)(v >> 8)};
    buf_put(b, d, 2);
}
static void stbw_cb(void *ctx, void *data, int size) { buf_put(ctx, data, (size_t)size); }

/* ------------------------------------------------------------------------- */
/* a PNG writer for any colour type / depth (zlib "stored" blocks)           */
/* ------------------------------------------------------------------------- */

static uint32_t crc32_of(const uint8_t *d, size_t n) {
    uint32_t c = 0xFFFFFFFFu;
    for (size_t i = 0; i < n; i++) {
        c ^= d[i];
        for (int k = 0; k < 8; k++) c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
    }
    return c ^ 0xFFFFFFFFu;
}

static void png_chunk(buf *b, const char *type, const uint8_t *d, size_t n) {
    buf_be32(b, (uint32_t)n);
    size_t start = b->n;
    buf_put(b, type, 4);
    if (n) buf_put(b, d, n);
    buf_be32(b, crc32_of(b->p + start, n + 4));
}

/* raw: the filtered scanlines' payload without filter bytes (each row
 * row_bytes long). plte/trns optional. */
static buf png_make(uint32_t w, uint32_t h, int depth, int ctype, const uint8_t *raw, size_t row_bytes,
                    const uint8_t *plte, size_t plte_n, const uint8_t *trns, size_t trns_n) {
    buf b = {0};
    buf_put(&b, "\x89PNG\r\n\x1a\n", 8);
    uint8_t ihdr[13];
    for (int i = 0; i < 4; i++) ihdr[i] = (uint8_t)(w >> (24 - 8 * i)), ihdr[4 + i] = (uint8_t)(h >> (24 - 8 * i));
    ihdr[8] = (uint8_t)depth, ihdr[9] = (uint8_t)ctype, ihdr[10] = ihdr[11] = ihdr[12] = 0;
    png_chunk(&b, "IHDR", ihdr, 13);
    if (plte) png_chunk(&b, "PLTE", plte, plte_n);
    if (trns) png_chunk(&b, "tRNS", trns, trns_n);
    /* zlib stream: header, stored blocks, adler32 */
    buf     z = {0}, data = {0};
    for (uint32_t y = 0; y < h; y++) {
        buf_u8(&data, 0);
        buf_put(&data, raw + y * row_bytes, row_bytes);
    }
    buf_u8(&z, 0x78);
    buf_u8(&z, 0x01);
    size_t off = 0;
    do {
        size_t len = data.n - off > 65535 ? 65535 : data.n - off;
        buf_u8(&z, off + len == data.n ? 1 : 0);
        buf_le16(&z, (uint16_t)len);
        buf_le16(&z, (uint16_t)~len);
        buf_put(&z, data.p + off, len);
        off += len;
    } while (off < data.n);
    uint32_t a = 1, bb = 0;
    for (size_t i = 0; i < data.n; i++) a = (a + data.p[i]) % 65521, bb = (bb + a) % 65521;
    buf_be32(&z, (bb << 16) | a);
    png_chunk(&b, "IDAT", z.p, z.n);
    png_chunk(&b, "IEND", NULL, 0);
    free(z.p);
    free(data.p);
    return b;
}

/* ------------------------------------------------------------------------- */
/* helpers                                                                   */
/* ------------------------------------------------------------------------- */

static uint8_t ref_over_white(uint32_t v, uint32_t a) {
    if (a == 0) return 255;
    uint32_t coef1 = a * 255 * 255 * 128 / (a * 255 + 255 * (255 - a));
    uint32_t t     = v * coef1 + 255 * (255 * 128 - coef1) + (128 << 7);
    return (uint8_t)((((t >> 8) + t) >> 8) >> 7);
}

static llv_status dec(const buf *b, llv_rgb_image *img, llv_error *err) {
    memset(err, 0, sizeof(*err));
    return llv_image_decode(b->p, b->n, NULL, img, err);
}

/* decodes and expects failure with `want` and a non-empty message */
static void expect_fail(const char *what, const void *p, size_t n, const llv_image_limits *lim, llv_status want) {
    llv_error     err = {0};
    llv_rgb_image img = {0};
    llv_status    st  = llv_image_decode(p, n, lim, &img, &err);
    CHECK_MSG(st == want && err.message[0] != 0 && img.rgb == NULL, "%s: got %s (%s), want %s", what,
              llv_status_name(st), err.message, llv_status_name(want));
    llv_rgb_image_free(&img);
}

static int same_rgb(const llv_rgb_image *img, const uint8_t *want, int w, int h) {
    return img->rgb && img->width == w && img->height == h && memcmp(img->rgb, want, (size_t)w * h * 3) == 0;
}

static void pattern(uint8_t *p, size_t n, uint32_t seed) {
    for (size_t i = 0; i < n; i++) {
        seed = seed * 1664525u + 1013904223u;
        p[i] = (uint8_t)(seed >> 24);
    }
}

/* Random byte mutations and truncations of a valid file: any result is
 * fine as long as it is a clean success or a clean error (run under
 * ASan/UBSan to catch memory errors in the decoders). */
static void mutate_check(const char *what, const buf *b) {
    uint32_t seed = 12345;
    int      bad = 0, n_ok = 0;
    uint8_t *c = malloc(b->n);
    for (int it = 0; it < 300; it++) {
        memcpy(c, b->p, b->n);
        size_t n = b->n;
        seed     = seed * 1664525u + 1013904223u;
        int k    = 1 + (int)(seed >> 30);
        for (int j = 0; j < k; j++) {
            seed = seed * 1664525u + 1013904223u;
            size_t at = (seed >> 8) % b->n;
            seed      = seed * 1664525u + 1013904223u;
            c[at]     = (seed >> 28) < 4 ? (uint8_t)(seed >> 20) : (uint8_t)(c[at] ^ (1u << ((seed >> 16) & 7)));
        }
        if (it % 5 == 0) n = (size_t)(seed >> 4) % b->n;
        llv_error     err = {0};
        llv_rgb_image img = {0};
        llv_status    st  = llv_image_decode(c, n, NULL, &img, &err);
        if (st == LLV_OK) {
            n_ok++;
            if (!img.rgb || img.width <= 0 || img.height <= 0) bad++;
        } else if (!err.message[0] || img.rgb) {
            bad++;
        }
        llv_rgb_image_free(&img);
    }
    free(c);
    CHECK_MSG(bad == 0, "%s mutations: %d bad results (%d decoded)", what, bad, n_ok);
}

/* ------------------------------------------------------------------------- */
/* PNG                                                                       */
/* ------------------------------------------------------------------------- */

static void test_png_modes(void) {
    llv_error     err;
    llv_rgb_image img = {0};
    enum { W = 7, H = 5 };
    uint8_t rgba[W * H * 4], want[W * H * 3];
    pattern(rgba, sizeof rgba, 1);
    for (int i = 0; i < W * H; i++) rgba[4 * i + 3] = (uint8_t)(i % 3 == 0 ? 0 : i % 3 == 1 ? 255 : rgba[4 * i + 3]);

    /* RGB 8-bit, through stb_image_write (zlib-compressed) */
    buf b = {0};
    uint8_t rgb[W * H * 3];
    for (int i = 0; i < W * H; i++) memcpy(rgb + 3 * i, rgba + 4 * i, 3);
    CHECK(stbi_write_png_to_func(stbw_cb, &b, W, H, 3, rgb, W * 3));
    CHECK_OK(dec(&b, &img, &err), &err);
    CHECK(same_rgb(&img, rgb, W, H));
    llv_rgb_image_free(&img);
    free(b.p);

    /* RGBA over white, Pillow's integer formula */
    b = (buf){0};
    CHECK(stbi_write_png_to_func(stbw_cb, &b, W, H, 4, rgba, W * 4));
    for (int i = 0; i < W * H; i++)
        for (int c = 0; c < 3; c++) want[3 * i + c] = ref_over_white(rgba[4 * i + c], rgba[4 * i + 3]);
    CHECK_OK(dec(&b, &img, &err), &err);
    CHECK(same_rgb(&img, want, W, H));
    llv_rgb_image_free(&img);
    free(b.p);

    /* alpha 255 composite is the identity for every value */
    for (uint32_t v = 0; v < 256; v++) CHECK_EQ_I(ref_over_white(v, 255), v);

    /* gray + alpha (LA) */
    uint8_t la[W * H * 2];
    for (int i = 0; i < W * H; i++) la[2 * i] = rgba[4 * i], la[2 * i + 1] = rgba[4 * i + 3];
    b = png_make(W, H, 8, 4, la, W * 2, NULL, 0, NULL, 0);
    for (int i = 0; i < W * H; i++) want[3 * i] = want[3 * i + 1] = want[3 * i + 2] = ref_over_white(la[2 * i], la[2 * i + 1]);
    CHECK_OK(dec(&b, &img, &err), &err);
    CHECK(same_rgb(&img, want, W, H));
    llv_rgb_image_free(&img);
    free(b.p);

    /* gray 8-bit with tRNS: value == trns → white */
    uint8_t g[W * H];
    for (int i = 0; i < W * H; i++) g[i] = (uint8_t)(i * 7);
    uint8_t trns_g[2] = {0, 14};
    b = png_make(W, H, 8, 0, g, W, NULL, 0, trns_g, 2);
    for (int i = 0; i < W * H; i++) want[3 * i] = want[3 * i + 1] = want[3 * i + 2] = g[i] == 14 ? 255 : g[i];
    CHECK_OK(dec(&b, &img, &err), &err);
    CHECK(same_rgb(&img, want, W, H));
    llv_rgb_image_free(&img);
    free(b.p);

    /* 2-bit gray: scaled by 0x55 (Pillow L;2 = stb) */
    uint8_t g2[2 * H]; /* W=7 → 14 bits → 2 bytes per row */
    for (int y = 0; y < H; y++) g2[2 * y] = 0x1B, g2[2 * y + 1] = (uint8_t)(0xE4);
    b = png_make(W, H, 2, 0, g2, 2, NULL, 0, NULL, 0);
    static const uint8_t vals[7] = {0, 0x55, 0xAA, 0xFF, 0xFF, 0xAA, 0x55};
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++) memset(want + 3 * (y * W + x), vals[x], 3);
    CHECK_OK(dec(&b, &img, &err), &err);
    CHECK(same_rgb(&img, want, W, H));
    llv_rgb_image_free(&img);
    free(b.p);

    /* palette with tRNS alpha */
    uint8_t plte[4 * 3] = {255, 0, 0, 0, 255, 0, 0, 0, 255, 10, 20, 30};
    uint8_t trns_p[3]   = {0, 128, 255}; /* index 3: opaque (absent) */
    uint8_t idx[W * H];
    for (int i = 0; i < W * H; i++) idx[i] = (uint8_t)(i % 4);
    b = png_make(W, H, 8, 3, idx, W, plte, sizeof plte, trns_p, sizeof trns_p);
    for (int i = 0; i < W * H; i++) {
        int k = idx[i], a = k < 3 ? trns_p[k] : 255;
        for (int c = 0; c < 3; c++) want[3 * i + c] = ref_over_white(plte[3 * k + c], (uint32_t)a);
    }
    CHECK_OK(dec(&b, &img, &err), &err);
    CHECK(same_rgb(&img, want, W, H));
    llv_rgb_image_free(&img);
    free(b.p);

    /* RGB with tRNS: mode "RGB", HF's convert_to_rgb keeps it as is */
    uint8_t trns_rgb[6] = {0, rgb[0], 0, rgb[1], 0, rgb[2]};
    b = png_make(W, H, 8, 2, rgb, W * 3, NULL, 0, trns_rgb, 6);
    CHECK_OK(dec(&b, &img, &err), &err);
    CHECK(same_rgb(&img, rgb, W, H));
    llv_rgb_image_free(&img);
    free(b.p);

    /* 16-bit RGB: high byte; 16-bit RGBA: high bytes then composite */
    uint8_t rgb16[W * H * 6], rgba16[W * H * 8];
    pattern(rgb16, sizeof rgb16, 7);
    pattern(rgba16, sizeof rgba16, 9);
    for (int i = 0; i < W * H * 3; i++) want[i] = rgb16[2 * i];
    b = png_make(W, H, 16, 2, rgb16, W * 6, NULL, 0, NULL, 0);
    CHECK_OK(dec(&b, &img, &err), &err);
    CHECK(same_rgb(&img, want, W, H));
    llv_rgb_image_free(&img);
    free(b.p);
    for (int i = 0; i < W * H; i++)
        for (int c = 0; c < 3; c++) want[3 * i + c] = ref_over_white(rgba16[8 * i + 2 * c], rgba16[8 * i + 6]);
    b = png_make(W, H, 16, 6, rgba16, W * 8, NULL, 0, NULL, 0);
    CHECK_OK(dec(&b, &img, &err), &err);
    CHECK(same_rgb(&img, want, W, H));
    llv_rgb_image_free(&img);
    free(b.p);

    /* 16-bit gray: Pillow mode "I", converted with clipping to 0..255 */
    uint8_t g16[W * H * 2];
    for (int i = 0; i < W * H; i++) {
        uint16_t v = (uint16_t)(i < 10 ? i * 20 : i * 1500);
        g16[2 * i] = (uint8_t)(v >> 8), g16[2 * i + 1] = (uint8_t)v;
        memset(want + 3 * i, v > 255 ? 255 : v, 3);
    }
    b = png_make(W, H, 16, 0, g16, W * 2, NULL, 0, NULL, 0);
    CHECK_OK(dec(&b, &img, &err), &err);
    CHECK(same_rgb(&img, want, W, H));
    llv_rgb_image_free(&img);
    free(b.p);
}

static void test_png_hostile(void) {
    enum { W = 9, H = 6 };
    uint8_t rgb[W * H * 3];
    pattern(rgb, sizeof rgb, 3);
    buf b = {0};
    CHECK(stbi_write_png_to_func(stbw_cb, &b, W, H, 3, rgb, W * 3));
    /* every truncation is an error (never a partial image) */
    int bad = 0;
    for (size_t n = 0; n < b.n; n++) {
        llv_error     err = {0};
        llv_rgb_image img = {0};
        llv_status    st  = llv_image_decode(b.p, n, NULL, &img, &err);
        if (st != LLV_ERR_FORMAT || !err.message[0]) {
            bad++;
            printf("truncated PNG at %zu of %zu: %s (%s)\n", n, b.n, llv_status_name(st), err.message);
        }
        llv_rgb_image_free(&img);
    }
    CHECK_EQ_I(bad, 0);
    mutate_check("PNG", &b);
    /* a flipped byte anywhere after the signature is caught by the CRCs */
    bad = 0;
    for (size_t i = 8; i < b.n; i++) {
        uint8_t *c = malloc(b.n);
        memcpy(c, b.p, b.n);
        c[i] ^= 0x40;
        llv_error     err = {0};
        llv_rgb_image img = {0};
        llv_status    st  = llv_image_decode(c, b.n, NULL, &img, &err);
        if (st != LLV_ERR_FORMAT && st != LLV_ERR_LIMIT) bad++;
        llv_rgb_image_free(&img);
        free(c);
    }
    CHECK_EQ_I(bad, 0);
    /* corrupt zlib data with valid CRCs */
    {
        buf     p = png_make(W, H, 8, 2, rgb, W * 3, NULL, 0, NULL, 0);
        /* IDAT starts after sig(8) + IHDR(25): len(4) type(4) then zlib */
        uint8_t *z = p.p + 8 + 25 + 8;
        z[2]       = 0x07; /* block type 3: invalid */
        uint32_t zl = ((uint32_t)p.p[33] << 24) | ((uint32_t)p.p[34] << 16) | ((uint32_t)p.p[35] << 8) | p.p[36];
        uint32_t crc = crc32_of(p.p + 37, zl + 4);
        uint8_t *cp  = p.p + 37 + 4 + zl;
        cp[0] = (uint8_t)(crc >> 24), cp[1] = (uint8_t)(crc >> 16), cp[2] = (uint8_t)(crc >> 8), cp[3] = (uint8_t)crc;
        expect_fail("PNG bad zlib", p.p, p.n, NULL, LLV_ERR_FORMAT);
        free(p.p);
    }
    /* decompression bomb: 100000 x 100000 declared, rejected from IHDR */
    {
        uint8_t one[3] = {1, 2, 3};
        buf     p      = png_make(1, 1, 8, 2, one, 3, NULL, 0, NULL, 0);
        uint8_t *ih    = p.p + 16;
        uint32_t v     = 100000;
        for (int i = 0; i < 4; i++) ih[i] = ih[4 + i] = (uint8_t)(v >> (24 - 8 * i));
        uint32_t crc = crc32_of(p.p + 12, 17);
        for (int i = 0; i < 4; i++) p.p[29 + i] = (uint8_t)(crc >> (24 - 8 * i));
        expect_fail("PNG 100000x100000", p.p, p.n, NULL, LLV_ERR_LIMIT);
        /* zero width */
        memset(ih, 0, 4);
        crc = crc32_of(p.p + 12, 17);
        for (int i = 0; i < 4; i++) p.p[29 + i] = (uint8_t)(crc >> (24 - 8 * i));
        expect_fail("PNG width 0", p.p, p.n, NULL, LLV_ERR_FORMAT);
        free(p.p);
    }
    /* configurable limits */
    {
        llv_image_limits lim = {.max_pixels = W * H - 1, .max_bytes = 1 << 20};
        expect_fail("PNG over pixel budget", b.p, b.n, &lim, LLV_ERR_LIMIT);
        lim = (llv_image_limits){.max_pixels = 1000, .max_bytes = b.n - 1};
        expect_fail("PNG over byte limit", b.p, b.n, &lim, LLV_ERR_LIMIT);
        lim.max_bytes = b.n;
        llv_error     err = {0};
        llv_rgb_image img = {0};
        CHECK_OK(llv_image_decode(b.p, b.n, &lim, &img, &err), &err);
        llv_rgb_image_free(&img);
    }
    free(b.p);
}

/* ------------------------------------------------------------------------- */
/* JPEG                                                                      */
/* ------------------------------------------------------------------------- */

static buf jpeg_make(int w, int h, int comps, J_COLOR_SPACE cs, const uint8_t *px, int quality) {
    struct jpeg_compress_struct c;
    struct jpeg_error_mgr       e;
    unsigned char              *out = NULL;
    unsigned long               n   = 0;
    c.err = jpeg_std_error(&e);
    jpeg_create_compress(&c);
    jpeg_mem_dest(&c, &out, &n);
    c.image_width      = (JDIMENSION)w;
    c.image_height     = (JDIMENSION)h;
    c.input_components = comps;
    c.in_color_space   = cs;
    jpeg_set_defaults(&c);
    jpeg_set_quality(&c, quality, TRUE);
    jpeg_start_compress(&c, TRUE);
    while (c.next_scanline < c.image_height) {
        JSAMPROW r = (JSAMPROW)(px + (size_t)c.next_scanline * w * comps);
        jpeg_write_scanlines(&c, &r, 1);
    }
    jpeg_finish_compress(&c);
    jpeg_destroy_compress(&c);
    buf b = {0};
    buf_put(&b, out, n);
    free(out);
    return b;
}

static void test_jpeg(void) {
    enum { W = 37, H = 21 };
    uint8_t rgb[W * H * 3], gray[W * H];
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++) {
            uint8_t *p = rgb + 3 * (y * W + x);
            p[0] = (uint8_t)(x * 6), p[1] = (uint8_t)(y * 10), p[2] = (uint8_t)(128 + x - y);
            gray[y * W + x] = (uint8_t)(x * 3 + y * 5);
        }
    llv_error     err;
    llv_rgb_image img = {0};
    buf           b   = jpeg_make(W, H, 3, JCS_RGB, rgb, 98);
    CHECK_OK(dec(&b, &img, &err), &err);
    CHECK(img.width == W && img.height == H);
    int maxd = 0;
    for (int i = 0; img.rgb && i < W * H * 3; i++) maxd = LLV_MAX(maxd, abs(img.rgb[i] - rgb[i]));
    CHECK_MSG(maxd <= 12, "JPEG round trip max diff %d", maxd);
    llv_rgb_image_free(&img);

    /* truncations: every one is an error */
    int bad = 0;
    for (size_t n = 0; n < b.n; n += (n < 700 ? 1 : 7)) {
        llv_rgb_image im2 = {0};
        llv_error     e2  = {0};
        llv_status    st  = llv_image_decode(b.p, n, NULL, &im2, &e2);
        if (st != LLV_ERR_FORMAT || !e2.message[0]) {
            bad++;
            if (bad < 5) printf("truncated JPEG at %zu of %zu: %s (%s)\n", n, b.n, llv_status_name(st), e2.message);
        }
        llv_rgb_image_free(&im2);
    }
    CHECK_EQ_I(bad, 0);
    mutate_check("JPEG", &b);
    /* corrupt entropy data: a marker in the middle of the scan */
    {
        uint8_t *c = malloc(b.n);
        memcpy(c, b.p, b.n);
        size_t mid = b.n - 60;
        c[mid] = 0xFF, c[mid + 1] = 0xD0 + 3; /* stray RST marker → "Corrupt JPEG data" warning */
        c[mid + 2] = 0x12, c[mid + 3] = 0x34;
        expect_fail("JPEG corrupt scan", c, b.n, NULL, LLV_ERR_FORMAT);
        free(c);
    }
    /* bomb: patch the SOF0 size to 60000 x 60000 */
    {
        uint8_t *c = malloc(b.n);
        memcpy(c, b.p, b.n);
        for (size_t i = 2; i + 8 < b.n; i++)
            if (c[i] == 0xFF && c[i + 1] == 0xC0) {
                c[i + 5] = 0xEA, c[i + 6] = 0x60, c[i + 7] = 0xEA, c[i + 8] = 0x60;
                break;
            }
        expect_fail("JPEG 60000x60000", c, b.n, NULL, LLV_ERR_LIMIT);
        /* zero height */
        for (size_t i = 2; i + 8 < b.n; i++)
            if (c[i] == 0xFF && c[i + 1] == 0xC0) {
                c[i + 5] = 0, c[i + 6] = 0;
                break;
            }
        expect_fail("JPEG height 0", c, b.n, NULL, LLV_ERR_FORMAT);
        free(c);
    }
    free(b.p);

    /* grayscale JPEG → (l, l, l) */
    b = jpeg_make(W, H, 1, JCS_GRAYSCALE, gray, 95);
    CHECK_OK(dec(&b, &img, &err), &err);
    int eq = img.rgb != NULL;
    for (int i = 0; img.rgb && i < W * H; i++)
        eq &= img.rgb[3 * i] == img.rgb[3 * i + 1] && img.rgb[3 * i] == img.rgb[3 * i + 2] &&
              abs(img.rgb[3 * i] - gray[i]) <= 6;
    CHECK(eq);
    llv_rgb_image_free(&img);
    free(b.p);

    /* CMYK: unsupported */
    uint8_t cmyk[W * H * 4];
    pattern(cmyk, sizeof cmyk, 5);
    b = jpeg_make(W, H, 4, JCS_CMYK, cmyk, 90);
    expect_fail("JPEG CMYK", b.p, b.n, NULL, LLV_ERR_UNSUPPORTED);
    free(b.p);
}

/* ------------------------------------------------------------------------- */
/* BMP, TGA, GIF, PNM, other formats                                         */
/* ------------------------------------------------------------------------- */

static void test_other_formats(void) {
    enum { W = 11, H = 7 };
    uint8_t rgb[W * H * 3], rgba[W * H * 4], want[W * H * 3];
    pattern(rgb, sizeof rgb, 11);
    pattern(rgba, sizeof rgba, 12);
    llv_error     err;
    llv_rgb_image img = {0};

    /* BMP 24-bit */
    buf b = {0};
    CHECK(stbi_write_bmp_to_func(stbw_cb, &b, W, H, 3, rgb));
    CHECK_OK(dec(&b, &img, &err), &err);
    CHECK(same_rgb(&img, rgb, W, H));
    llv_rgb_image_free(&img);
    mutate_check("BMP", &b);
    /* pixel data shorter than declared (stb would zero-fill) */
    expect_fail("BMP truncated pixels", b.p, b.n - 5, NULL, LLV_ERR_FORMAT);
    expect_fail("BMP truncated header", b.p, 20, NULL, LLV_ERR_FORMAT);
    {
        uint8_t *c = malloc(b.n);
        memcpy(c, b.p, b.n);
        memset(c + 18, 0, 4); /* width 0 */
        expect_fail("BMP width 0", c, b.n, NULL, LLV_ERR_FORMAT);
        memcpy(c, b.p, b.n);
        c[30] = 1; /* RLE8 */
        expect_fail("BMP RLE", c, b.n, NULL, LLV_ERR_UNSUPPORTED);
        memcpy(c, b.p, b.n);
        c[18] = 0x10, c[19] = 0x27, c[20] = 0, c[21] = 0; /* width 10000, height 7: data too short */
        expect_fail("BMP wider than its data", c, b.n, NULL, LLV_ERR_FORMAT);
        free(c);
    }
    free(b.p);

    /* 16-bit BMPs, forged: BI_RGB (5-5-5) and BITFIELDS 5-6-5, top-down */
    for (int k = 0; k < 2; k++) {
        enum { BW = 3, BH = 2 };
        static const uint16_t px[BH][BW] = {{0x0000, 0x7FFF, 0x0421}, {0x1234, 0xF800, 0x07E0}};
        uint32_t hdr_sz = 40, off = 14 + 40 + (k ? 12 : 0), stride = 8;
        b               = (buf){0};
        buf_put(&b, "BM", 2);
        uint8_t le[4];
#define PUT32(v) (le[0] = (uint8_t)(v), le[1] = (uint8_t)((v) >> 8), le[2] = (uint8_t)((v) >> 16), le[3] = (uint8_t)((v) >> 24), buf_put(&b, le, 4))
        PUT32(off + stride * BH);
        PUT32(0u);
        PUT32(off);
        PUT32(hdr_sz);
        PUT32((uint32_t)BW);
        PUT32((uint32_t)-BH); /* top-down */
        buf_le16(&b, 1);
        buf_le16(&b, 16);
        PUT32(k ? 3u : 0u);
        for (int i = 0; i < 5; i++) PUT32(0u);
        if (k) {
            PUT32(0xF800u);
            PUT32(0x7E0u);
            PUT32(0x1Fu);
        }
#undef PUT32
        for (int y = 0; y < BH; y++) {
            for (int x = 0; x < BW; x++) buf_le16(&b, px[y][x]);
            buf_le16(&b, 0);
        }
        uint8_t w16[BW * BH * 3];
        for (int y = 0; y < BH; y++)
            for (int x = 0; x < BW; x++) {
                uint32_t v = px[y][x];
                uint8_t *o = w16 + 3 * (y * BW + x);
                if (k) o[0] = (uint8_t)(((v >> 11) & 31) * 255 / 31), o[1] = (uint8_t)(((v >> 5) & 63) * 255 / 63);
                else o[0] = (uint8_t)(((v >> 10) & 31) * 255 / 31), o[1] = (uint8_t)(((v >> 5) & 31) * 255 / 31);
                o[2] = (uint8_t)((v & 31) * 255 / 31);
            }
        CHECK_OK(dec(&b, &img, &err), &err);
        CHECK_MSG(same_rgb(&img, w16, BW, BH), "16-bit BMP %s", k ? "565" : "555");
        /* 0x1234 (5-5-5): red field 4 → 4*255/31 = 32 (bit replication would give 33) */
        if (!k) CHECK(img.rgb && img.rgb[3 * 3] == 32);
        llv_rgb_image_free(&img);
        expect_fail("BMP16 truncated", b.p, b.n - 1, NULL, LLV_ERR_FORMAT);
        if (k) {
            b.p[54] = 0x00, b.p[55] = 0xF0; /* mask 0xF000: a layout Pillow refuses */
            expect_fail("BMP16 odd bit fields", b.p, b.n, NULL, LLV_ERR_UNSUPPORTED);
        }
        free(b.p);
    }

    /* TGA uncompressed and RLE, RGB and RGBA */
    for (int rle = 0; rle < 2; rle++) {
        stbi_write_tga_with_rle = rle;
        b                       = (buf){0};
        CHECK(stbi_write_tga_to_func(stbw_cb, &b, W, H, 3, rgb));
        CHECK_OK(dec(&b, &img, &err), &err);
        CHECK(same_rgb(&img, rgb, W, H));
        llv_rgb_image_free(&img);
        mutate_check(rle ? "TGA RLE" : "TGA", &b);
        for (size_t n = 0; n < b.n; n++) {
            /* stb_image_write appends a 26-byte TGA 2.0 footer that is not pixel data */
            if (n >= b.n - 26) break;
            char what[96];
            snprintf(what, sizeof what, "TGA (rle %d) truncated at %zu of %zu", rle, n, b.n);
            expect_fail(what, b.p, n, NULL, LLV_ERR_FORMAT);
        }
        free(b.p);
        b = (buf){0};
        CHECK(stbi_write_tga_to_func(stbw_cb, &b, W, H, 4, rgba));
        for (int i = 0; i < W * H; i++)
            for (int c = 0; c < 3; c++) want[3 * i + c] = ref_over_white(rgba[4 * i + c], rgba[4 * i + 3]);
        CHECK_OK(dec(&b, &img, &err), &err);
        CHECK(same_rgb(&img, want, W, H));
        llv_rgb_image_free(&img);
        free(b.p);
    }
    stbi_write_tga_with_rle = 1;

    /* PNM P6 / P5 (with a comment), truncated, 16-bit PGM clipped */
    b = (buf){0};
    char hdr[64];
    int  hn = snprintf(hdr, sizeof hdr, "P6\n# c\n%d %d\n255\n", W, H);
    buf_put(&b, hdr, (size_t)hn);
    buf_put(&b, rgb, sizeof rgb);
    CHECK_OK(dec(&b, &img, &err), &err);
    CHECK(same_rgb(&img, rgb, W, H));
    llv_rgb_image_free(&img);
    expect_fail("PPM truncated", b.p, b.n - 1, NULL, LLV_ERR_FORMAT);
    mutate_check("PPM", &b);
    free(b.p);
    b  = (buf){0};
    hn = snprintf(hdr, sizeof hdr, "P5 %d %d 65535\n", W, H);
    buf_put(&b, hdr, (size_t)hn);
    for (int i = 0; i < W * H; i++) {
        uint16_t v = (uint16_t)(i * 5);
        buf_u8(&b, (uint8_t)(v >> 8));
        buf_u8(&b, (uint8_t)v);
        memset(want + 3 * i, v > 255 ? 255 : v, 3);
    }
    CHECK_OK(dec(&b, &img, &err), &err);
    CHECK(same_rgb(&img, want, W, H));
    llv_rgb_image_free(&img);
    free(b.p);
    /* maxval 15: rescaled as Pillow's PpmDecoder, round(v / 15 * 255) */
    {
        static const uint8_t p5[] = {'P', '5', ' ', '4', ' ', '1', ' ', '1', '5', '\n', 0, 1, 7, 15};
        static const uint8_t w4[] = {0, 0, 0, 17, 17, 17, 119, 119, 119, 255, 255, 255};
        b = (buf){0};
        buf_put(&b, p5, sizeof p5);
        CHECK_OK(dec(&b, &img, &err), &err);
        CHECK(same_rgb(&img, w4, 4, 1));
        llv_rgb_image_free(&img);
        free(b.p);
    }
    expect_fail("PPM zero width", "P6 0 5 255\n", 11, NULL, LLV_ERR_FORMAT);
    expect_fail("PNM ASCII", "P3 1 1 255\n1 2 3\n", 17, NULL, LLV_ERR_UNSUPPORTED);

    /* GIF 4x2, 4 colours, index 3 transparent; LZW with 3-bit codes kept
     * fixed by a clear code after every 2 pixels */
    {
        static const uint8_t pal[12] = {255, 0, 0, 0, 255, 0, 0, 0, 255, 9, 9, 9};
        static const uint8_t pix[8]  = {0, 1, 2, 3, 3, 2, 1, 0};
        buf                  g       = {0};
        buf_put(&g, "GIF89a", 6);
        buf_le16(&g, 4);
        buf_le16(&g, 2);
        buf_u8(&g, 0xF1); /* global colour table, 4 entries */
        buf_u8(&g, 0);
        buf_u8(&g, 0);
        buf_put(&g, pal, 12);
        static const uint8_t gce[8] = {0x21, 0xF9, 4, 0x01, 0, 0, 3, 0};
        buf_put(&g, gce, 8);
        buf_u8(&g, 0x2C);
        buf_le16(&g, 0);
        buf_le16(&g, 0);
        buf_le16(&g, 4);
        buf_le16(&g, 2);
        buf_u8(&g, 0);
        buf_u8(&g, 2); /* min code size */
        uint32_t codes[16];
        int      nc = 0;
        codes[nc++] = 4;
        for (int i = 0; i < 8; i++) {
            codes[nc++] = pix[i];
            if (i % 2 == 1 && i != 7) codes[nc++] = 4;
        }
        codes[nc++] = 5;
        uint8_t  data[16] = {0};
        uint32_t bitpos   = 0;
        for (int i = 0; i < nc; i++)
            for (int k = 0; k < 3; k++, bitpos++)
                if (codes[i] >> k & 1) data[bitpos / 8] |= (uint8_t)(1 << (bitpos % 8));
        uint8_t nbytes = (uint8_t)((bitpos + 7) / 8);
        buf_u8(&g, nbytes);
        buf_put(&g, data, nbytes);
        buf_u8(&g, 0);
        buf_u8(&g, 0x3B);
        for (int i = 0; i < 8; i++) {
            if (pix[i] == 3)
                memset(want + 3 * i, 255, 3);
            else
                memcpy(want + 3 * i, pal + 3 * pix[i], 3);
        }
        CHECK_OK(dec(&g, &img, &err), &err);
        CHECK(same_rgb(&img, want, 4, 2));
        llv_rgb_image_free(&img);
        expect_fail("GIF truncated header", g.p, 10, NULL, LLV_ERR_FORMAT);
        mutate_check("GIF", &g);
        /* every truncation before the trailer is an error */
        for (size_t n = 0; n + 1 < g.n; n++) {
            char what[96];
            snprintf(what, sizeof what, "GIF truncated at %zu of %zu", n, g.n);
            expect_fail(what, g.p, n, NULL, LLV_ERR_FORMAT);
        }
        free(g.p);
    }

    /* other formats and garbage */
    expect_fail("empty", "", 0, NULL, LLV_ERR_FORMAT);
    expect_fail("NULL", NULL, 0, NULL, LLV_ERR_FORMAT);
    expect_fail("WebP header only", "RIFF\x10\0\0\0WEBPVP8 \0\0\0\0", 20, NULL, LLV_ERR_FORMAT);
    expect_fail("TIFF", "II*\0\x08\0\0\0\0\0\0\0", 12, NULL, LLV_ERR_UNSUPPORTED);
    expect_fail("text", "hello, this is not an image at all", 34, NULL, LLV_ERR_FORMAT);
    uint8_t junk[200];
    pattern(junk, sizeof junk, 99);
    junk[2] = 0x55; /* not a TGA image type */
    expect_fail("random bytes", junk, sizeof junk, NULL, LLV_ERR_FORMAT);
    expect_fail("JPEG SOI only", "\xFF\xD8\xFF", 3, NULL, LLV_ERR_FORMAT);
    expect_fail("PNG signature only", "\x89PNG\r\n\x1a\n", 8, NULL, LLV_ERR_FORMAT);
}

/* ------------------------------------------------------------------------- */
/* plan, resize, preprocess                                                  */
/* ------------------------------------------------------------------------- */

static void test_plan(void) {
    /* h, w → canvas_h, canvas_w, resized_h, resized_w, tiles_h, tiles_w, id (notes §3.2-3.3) */
    static const int32_t cases[][9] = {
        {45, 100, 560, 560, 251, 560, 1, 1, 1},     {768, 1024, 1120, 1120, 768, 1024, 2, 2, 6},
        {600, 512, 1120, 560, 600, 512, 2, 1, 5},  {7, 10, 560, 560, 392, 560, 1, 1, 1},
        {512, 512, 560, 560, 560, 560, 1, 1, 1},   {1080, 1920, 1120, 1120, 630, 1120, 2, 2, 6},
        {300, 2000, 560, 2240, 300, 2000, 1, 4, 4},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int32_t v[7];
        llv_image_plan(cases[i][0], cases[i][1], 560, 4, &v[0], &v[1], &v[2], &v[3], &v[4], &v[5], &v[6]);
        int ok = 1;
        for (int k = 0; k < 7; k++) ok &= v[k] == cases[i][2 + k];
        CHECK_MSG(ok, "plan %dx%d: got %d %d %d %d %d %d %d", cases[i][0], cases[i][1], v[0], v[1], v[2], v[3], v[4],
                  v[5], v[6]);
    }
}

static void test_plan_args(void) {
    int32_t v[7];
    /* max_tiles 6: list (1,1)..(1,6),(2,1),(2,2),(2,3),(3,1),(3,2),(4,1),(5,1),(6,1) */
    llv_image_plan(560, 3360, 560, 6, &v[0], &v[1], &v[2], &v[3], &v[4], &v[5], &v[6]);
    CHECK(v[0] == 560 && v[1] == 3360 && v[4] == 1 && v[5] == 6 && v[6] == 6);
    llv_image_plan(1000, 1500, 560, 6, &v[0], &v[1], &v[2], &v[3], &v[4], &v[5], &v[6]);
    CHECK_MSG(v[4] == 2 && v[5] == 3 && v[6] == 9, "2x3 tiles: got %dx%d id %d", v[4], v[5], v[6]);
    llv_image_plan(10, 10, 560, 0, &v[0], &v[1], &v[2], &v[3], &v[4], &v[5], &v[6]);
    CHECK(v[0] == 0 && v[6] == 0);
    llv_image_plan(0, 10, 560, 4, &v[0], &v[1], &v[2], &v[3], &v[4], &v[5], &v[6]);
    CHECK(v[0] == 0 && v[6] == 0);
}

static void test_resize(void) {
    llv_error err = {0};
    /* constant images stay constant under up- and downscaling */
    uint8_t src[13 * 9 * 3], dst[40 * 5 * 3];
    memset(src, 77, sizeof src);
    CHECK_OK(llv_image_resize_bilinear(src, 13, 9, 3, dst, 40, 5, &err), &err);
    int ok = 1;
    for (size_t i = 0; i < sizeof dst; i++) ok &= dst[i] == 77;
    CHECK(ok);
    /* 2:1 downscale of a 0/255 stripe pattern: antialiased average */
    uint8_t s1[8] = {0, 255, 0, 255, 0, 255, 0, 255}, d1[4];
    CHECK_OK(llv_image_resize_bilinear(s1, 8, 1, 1, d1, 4, 1, &err), &err);
    for (int i = 1; i < 3; i++) CHECK_MSG(d1[i] == 128 || d1[i] == 127, "d1[%d] = %d", i, d1[i]);
    CHECK_STATUS(llv_image_resize_bilinear(src, 0, 9, 3, dst, 4, 4, &err), LLV_ERR_INVALID_ARGUMENT, &err);
}

static void test_preprocess(void) {
    llv_error     err = {0};
    uint8_t       px[3 * 2 * 3];
    pattern(px, sizeof px, 4);
    llv_rgb_image img  = {.width = 3, .height = 2, .rgb = px};
    float         mean[3] = {0.5f, 0.5f, 0.5f}, std[3] = {0.5f, 0.5f, 0.5f};
    llv_image_tiles t;
    uint8_t        *rs = NULL;
    /* 2x3 → tile 4: canvas 4x4, resized 2x... (upscale until a side reaches 4) */
    CHECK_OK(llv_image_preprocess(&img, 4, 4, mean, std, &t, &rs, &err), &err);
    CHECK_EQ_I(t.n_tiles, 1);
    CHECK_EQ_I(t.aspect_ratio_id, 1);
    CHECK(t.resized_w == 4 && t.resized_h == 2);
    /* bottom rows are padding: (0 - 0.5) / 0.5 = -1 */
    CHECK(t.pixels[3 * 4 + 0] == -1.0f);
    int zero = 1;
    for (int i = 3 * 16; i < 4 * 3 * 16; i++) zero &= t.pixels[i] == 0.0f;
    CHECK(zero);
    free(rs);
    llv_image_tiles_free(&t);
    CHECK_STATUS(llv_image_preprocess(&img, 0, 4, mean, std, &t, NULL, &err), LLV_ERR_INVALID_ARGUMENT, &err);
    /* 1 x 4000: HF computes a resized height of 0 (and Pillow then fails) */
    uint8_t      *wide = calloc(4000 * 3, 1);
    llv_rgb_image w1   = {.width = 4000, .height = 1, .rgb = wide};
    CHECK_STATUS(llv_image_preprocess(&w1, 560, 4, mean, std, &t, NULL, &err), LLV_ERR_UNSUPPORTED, &err);
    free(wide);
}

/* ------------------------------------------------------------------------- */
/* golden                                                                    */
/* ------------------------------------------------------------------------- */

static void test_golden(void) {
    const char *shared = llv_test_shared_dir();
    if (!shared) {
        printf("SKIP golden image checks: no shared dir\n");
        return;
    }
    char  *root = llv_test_path(shared, "golden");
    cJSON *man  = golden_manifest(root);
    if (!man) {
        printf("SKIP golden image checks: no manifest\n");
        free(root);
        return;
    }
    golden_ctx   ctx = {.root = root, .workdir = "/tmp"};
    int          n_cases = 0, n_model = 0, n_table = 0;
    const cJSON *e;
    cJSON_ArrayForEach(e, man) {
        const char *k = jstr(e, "kind");
        if (k && !strcmp(k, "image_processor_case") && llv_test_case("golden_image")) {
            golden_check_image_case(&ctx, e);
            n_cases++;
        } else if (k && !strcmp(k, "image_processor_canvas_table") && llv_test_case("golden_canvas")) {
            golden_check_canvas_table(&ctx, e);
            n_table++;
        } else if (k && !strcmp(k, "model_case") && llv_test_case("golden_model")) {
            if (cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(e, "images")) > 0) n_model++;
            golden_check_model_case_images(&ctx, e);
        }
    }
    cJSON_Delete(man);
    printf("golden: %d image cases, %d canvas tables, %d model cases with images: %d passed, %d failed\n", n_cases,
           n_table, n_model, ctx.n_pass, ctx.n_fail);
    CHECK_EQ_I(ctx.n_fail, 0);
    CHECK(ctx.n_pass > 0);
    free(root);
}

/* WebP (libwebp, as Pillow): lossless files decode to their exact pixels;
 * alpha is composited over white like PNG's RGBA; hostile files fail cleanly. */
static void test_webp(void) {
    enum { W = 37, H = 23 };
    uint8_t rgb[W * H * 3], rgba[W * H * 4];
    for (int i = 0; i < W * H; i++) {
        for (int c = 0; c < 3; c++) rgb[3 * i + c] = (uint8_t)(i * 7 + c * 50);
        for (int c = 0; c < 3; c++) rgba[4 * i + c] = rgb[3 * i + c];
        rgba[4 * i + 3] = (uint8_t)(i * 13);
    }
    uint8_t *enc = NULL;
    size_t n = WebPEncodeLosslessRGB(rgb, W, H, W * 3, &enc);
    CHECK(n > 0);
    llv_rgb_image img = {0};
    llv_error err = {0};
    CHECK_OK(llv_image_decode(enc, n, NULL, &img, &err), &err);
    CHECK(img.width == W && img.height == H && img.rgb && !memcmp(img.rgb, rgb, sizeof rgb));
    llv_rgb_image_free(&img);
    /* every truncation fails, never crashes */
    for (size_t k = 0; k < n; k += 1 + k / 8) {
        char what[64];
        snprintf(what, sizeof what, "WebP truncated at %zu of %zu", k, n);
        expect_fail(what, enc, k, NULL, LLV_ERR_FORMAT);
    }
    /* the pixel limit is checked from the header */
    llv_image_limits lim;
    llv_image_limits_default(&lim);
    lim.max_pixels = W * H - 1;
    expect_fail("WebP over pixel budget", enc, n, &lim, LLV_ERR_LIMIT);
    WebPFree(enc);
    n = WebPEncodeLosslessRGBA(rgba, W, H, W * 4, &enc);
    CHECK(n > 0);
    CHECK_OK(llv_image_decode(enc, n, NULL, &img, &err), &err);
    int bad = 0;
    for (int i = 0; i < W * H && img.rgb; i++)
        for (int c = 0; c < 3; c++) bad += img.rgb[3 * i + c] != ref_over_white(rgba[4 * i + c], rgba[4 * i + 3]);
    CHECK_MSG(img.rgb && bad == 0, "WebP RGBA: %d values differ from the white composite", bad);
    llv_rgb_image_free(&img);
    WebPFree(enc);
}

int main(int argc, char **argv) {
    llv_test_init(argc, argv);
    if (llv_test_case("png_modes")) test_png_modes();
    if (llv_test_case("png_hostile")) test_png_hostile();
    if (llv_test_case("jpeg")) test_jpeg();
    if (llv_test_case("other_formats")) test_other_formats();
    if (llv_test_case("webp")) test_webp();
    if (llv_test_case("plan")) test_plan();
    if (llv_test_case("plan_args")) test_plan_args();
    if (llv_test_case("resize")) test_resize();
    if (llv_test_case("preprocess")) test_preprocess();
    if (llv_test_case("golden")) test_golden();
    return llv_test_finish();
}
