/* image.c - image decoding and MllamaImageProcessor preprocessing, bit-exact
 * with the reference (HF transformers + Pillow 9.4 + libjpeg-turbo 2.1.5);
 * see shared/notes/mllama-reference.md §3.
 *
 * Decoding follows what convert_to_rgb(PIL.Image.open(f)) yields:
 *  - JPEG: libjpeg-turbo, islow IDCT, fancy upsampling (its defaults, as
 *    Pillow). Grayscale → (l,l,l). CMYK/YCCK are refused (LLV_ERR_UNSUPPORTED).
 *    Every libjpeg warning (corrupt data, premature end) is an error, as
 *    Pillow refuses truncated files.
 *  - WebP: libwebp (as Pillow), alpha composited over white; animation refused.
 *  - PNG/GIF/BMP/TGA: stb_image, after our own header checks; PNM here. Images
 *    whose Pillow mode carries alpha (RGBA, LA, P with tRNS/transparency)
 *    are composited over white with Pillow's integer alpha_composite; modes
 *    Pillow opens as "RGB" keep their bytes and ignore any alpha (PNG RGB
 *    with tRNS, 32-bit BI_RGB BMP), since convert_to_rgb returns RGB as is.
 *  - 16-bit PNG: RGB/RGBA/LA keep the high byte (Pillow's ;16B unpackers,
 *    = stb's >> 8). 16-bit grayscale opens in Pillow as mode "I" whose
 *    conversion to RGBA clips to 0..255 (i2rgb), so we clip too (most
 *    16-bit grey values become 255, exactly as the reference); the same for
 *    16-bit PGM (see decode_pnm). Gray tRNS follows Pillow's rgbT2rgba: a
 *    pixel is transparent iff its 8-bit value equals the low byte of the
 *    tRNS sample.
 *  - No EXIF orientation (the processor applies none).
 *  - 16-bit BMP: decoded here as Pillow's BGR;15/BGR;16 (v*255/31); bit
 *    field layouts other than 5-5-5 and 5-6-5 are refused, as Pillow does.
 * Known differences from Pillow (not in the golden data): a GIF whose first
 * frame does not cover the logical screen and has no transparent index gets
 * white where Pillow paints palette entry 0; BMP bit-field layouts Pillow
 * refuses (other than 16-bit ones) are decoded by stb. */
#include "image.h"

#include <math.h>
#include <setjmp.h>
#include <stdio.h> /* before jpeglib.h, which uses FILE */

#include <jpeglib.h>
#include <jerror.h>
#include <stdlib.h>
#include <string.h>
#include <webp/decode.h>

void llv_image_limits_default(llv_image_limits *l) {
    l->max_pixels = 50000000u;
    l->max_bytes  = (uint64_t)64 << 20;
}

void llv_rgb_image_free(llv_rgb_image *img) {
    if (!img) return;
    free(img->rgb);
    img->rgb   = NULL;
    img->width = img->height = 0;
}

static uint32_t rd_be32(const uint8_t *p) {
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}
static uint32_t rd_le32(const uint8_t *p) {
    return ((uint32_t)p[3] << 24) | ((uint32_t)p[2] << 16) | ((uint32_t)p[1] << 8) | p[0];
}
static uint16_t rd_le16(const uint8_t *p) { return (uint16_t)(p[0] | (p[1] << 8)); }

llv_status llv_image_check_bytes(uint64_t n, const llv_image_limits *lim, llv_error *err) {
    if (n > lim->max_bytes)
        return llv_err(err, LLV_ERR_LIMIT, "image of %llu bytes exceeds the limit of %llu bytes", (unsigned long long)n,
                       (unsigned long long)lim->max_bytes);
    return LLV_OK;
}

llv_status llv_image_check_dims(const char *fmt, int64_t w, int64_t h, const llv_image_limits *lim, llv_error *err) {
    if (w <= 0 || h <= 0)
        return llv_err(err, LLV_ERR_FORMAT, "%s: invalid image size %lldx%lld (width and height must be > 0)", fmt,
                       (long long)w, (long long)h);
    int64_t px;
    if (!llv_mul_i64(w, h, &px) || (uint64_t)px > lim->max_pixels)
        return llv_err(err, LLV_ERR_LIMIT, "%s: image of %lldx%lld pixels exceeds the limit of %llu pixels", fmt,
                       (long long)w, (long long)h, (unsigned long long)lim->max_pixels);
    return LLV_OK;
}

/* Pillow's Image.alpha_composite(white, rgba) for one channel value
 * (AlphaComposite.c, 7 bits of precision); a == 0 gives the white dst. */
static uint8_t over_white(uint32_t v, uint32_t a) {
    if (a == 0) return 255;
    uint32_t blend   = 255 * (255 - a);
    uint32_t outa255 = a * 255 + blend;
    uint32_t coef1   = a * 255 * 255 * 128 / outa255;
    uint32_t coef2   = 255 * 128 - coef1;
    uint32_t t       = v * coef1 + 255 * coef2 + (0x80 << 7);
    return (uint8_t)((((t >> 8) + t) >> 8) >> 7);
}

/* ------------------------------------------------------------------ JPEG */

typedef struct jpeg_err_ctx {
    struct jpeg_error_mgr pub;
    jmp_buf               jb;
    char                  msg[JMSG_LENGTH_MAX];
} jpeg_err_ctx;

static void jpeg_on_error(j_common_ptr c) {
    jpeg_err_ctx *e = (jpeg_err_ctx *)c->err;
    (*c->err->format_message)(c, e->msg);
    longjmp(e->jb, 1);
}

/* Warnings (level -1: corrupt data, premature end of file) are errors, as
 * Pillow refuses truncated files; only two harmless header remarks pass
 * (an unknown JFIF revision or Adobe transform code does not change the
 * pixels libjpeg produces). Trace messages (level >= 0) are ignored.
 * Nothing is printed. */
static void jpeg_on_message(j_common_ptr c, int level) {
    if (level >= 0) return;
    if (c->err->msg_code == JWRN_JFIF_MAJOR || c->err->msg_code == JWRN_ADOBE_XFORM) return;
    jpeg_on_error(c);
}

static void jpeg_no_output(j_common_ptr c) { (void)c; }

/* WebP through libwebp (what Pillow uses): the header's size is checked
 * before any pixel is decoded; with alpha, composited over white as the
 * other RGBA modes. Animated files are refused (Pillow would give frame 0). */
static llv_status decode_webp(const uint8_t *b, size_t n, const llv_image_limits *lim, llv_rgb_image *out,
                              llv_error *err) {
    WebPBitstreamFeatures f;
    VP8StatusCode vs = WebPGetFeatures(b, n, &f);
    if (vs == VP8_STATUS_NOT_ENOUGH_DATA) return llv_err(err, LLV_ERR_FORMAT, "WebP: truncated header");
    if (vs != VP8_STATUS_OK) return llv_err(err, LLV_ERR_FORMAT, "WebP: corrupt header (libwebp status %d)", (int)vs);
    if (f.has_animation) return llv_err(err, LLV_ERR_UNSUPPORTED, "WebP: animated images are not supported");
    llv_status st = llv_image_check_dims("WebP", f.width, f.height, lim, err);
    if (st != LLV_OK) return st;
    size_t npx = (size_t)f.width * (size_t)f.height, total, total4;
    if (!llv_mul_size(npx, 3, &total) || !llv_mul_size(npx, 4, &total4))
        return llv_err(err, LLV_ERR_LIMIT, "WebP: image too large");
    uint8_t *rgb = malloc(total);
    if (!rgb) return llv_err(err, LLV_ERR_OUT_OF_MEMORY, "WebP: cannot allocate %zu bytes", total);
    if (!f.has_alpha) {
        if (!WebPDecodeRGBInto(b, n, rgb, total, f.width * 3)) {
            free(rgb);
            return llv_err(err, LLV_ERR_FORMAT, "WebP: corrupt or truncated data");
        }
    } else {
        uint8_t *px = malloc(total4);
        if (!px) {
            free(rgb);
            return llv_err(err, LLV_ERR_OUT_OF_MEMORY, "WebP: cannot allocate %zu bytes", total4);
        }
        if (!WebPDecodeRGBAInto(b, n, px, total4, f.width * 4)) {
            free(px);
            free(rgb);
            return llv_err(err, LLV_ERR_FORMAT, "WebP: corrupt or truncated data");
        }
        for (size_t i = 0; i < npx; i++)
            for (int c = 0; c < 3; c++) rgb[3 * i + c] = over_white(px[4 * i + c], px[4 * i + 3]);
        free(px);
    }
    out->width = f.width;
    out->height = f.height;
    out->rgb = rgb;
    return LLV_OK;
}

static llv_status decode_jpeg(const uint8_t *bytes, size_t n, const llv_image_limits *lim, llv_rgb_image *out,
                              llv_error *err) {
    struct jpeg_decompress_struct cinfo;
    jpeg_err_ctx                  je;
    uint8_t *volatile             rgb = NULL;
    uint8_t *volatile             row = NULL;
    llv_status                    st  = LLV_OK;

    memset(&cinfo, 0, sizeof(cinfo));
    cinfo.err               = jpeg_std_error(&je.pub);
    je.pub.error_exit       = jpeg_on_error;
    je.pub.emit_message     = jpeg_on_message;
    je.pub.output_message   = jpeg_no_output;
    je.msg[0]               = 0;
    if (setjmp(je.jb)) {
        jpeg_destroy_decompress(&cinfo);
        free(rgb);
        free(row);
        return llv_err(err, LLV_ERR_FORMAT, "JPEG: corrupt or truncated data: %s", je.msg);
    }
    jpeg_create_decompress(&cinfo);
    jpeg_mem_src(&cinfo, bytes, (unsigned long)n);
    jpeg_read_header(&cinfo, TRUE);

    st = llv_image_check_dims("JPEG", cinfo.image_width, cinfo.image_height, lim, err);
    if (st != LLV_OK) goto done;
    switch (cinfo.jpeg_color_space) {
    case JCS_GRAYSCALE: cinfo.out_color_space = JCS_GRAYSCALE; break;
    case JCS_YCbCr:
    case JCS_RGB: cinfo.out_color_space = JCS_RGB; break;
    case JCS_CMYK:
    case JCS_YCCK:
        st = llv_err(err, LLV_ERR_UNSUPPORTED, "JPEG: %s colour space is not supported (only grayscale, YCbCr, RGB)",
                     cinfo.jpeg_color_space == JCS_CMYK ? "CMYK" : "YCCK");
        goto done;
    default:
        st = llv_err(err, LLV_ERR_UNSUPPORTED, "JPEG: unknown colour space with %d components is not supported",
                     cinfo.num_components);
        goto done;
    }
    /* libjpeg defaults = Pillow's: JDCT_ISLOW, do_fancy_upsampling TRUE. */
    cinfo.dct_method          = JDCT_ISLOW;
    cinfo.do_fancy_upsampling = TRUE;
    jpeg_start_decompress(&cinfo);

    {
        size_t w = cinfo.output_width, h = cinfo.output_height, nc = (size_t)cinfo.output_components, total;
        if (!llv_mul_size(w * 3, h, &total)) {
            st = llv_err(err, LLV_ERR_LIMIT, "JPEG: image too large");
            goto done;
        }
        rgb = malloc(total);
        row = malloc(w * nc);
        if (!rgb || !row) {
            st = llv_err(err, LLV_ERR_OUT_OF_MEMORY, "JPEG: cannot allocate %zu bytes for %zux%zu pixels", total, w, h);
            goto done;
        }
        while (cinfo.output_scanline < cinfo.output_height) {
            size_t   y  = cinfo.output_scanline;
            JSAMPROW rp = row;
            if (jpeg_read_scanlines(&cinfo, &rp, 1) != 1) {
                st = llv_err(err, LLV_ERR_FORMAT, "JPEG: truncated data at row %zu of %zu", y, h);
                goto done;
            }
            uint8_t *dst = rgb + y * w * 3;
            if (nc == 3)
                memcpy(dst, row, w * 3);
            else
                for (size_t x = 0; x < w; x++) dst[3 * x] = dst[3 * x + 1] = dst[3 * x + 2] = row[x];
        }
        jpeg_finish_decompress(&cinfo);
        out->width  = (int32_t)w;
        out->height = (int32_t)h;
        out->rgb    = rgb;
        rgb         = NULL;
    }
done:
    jpeg_destroy_decompress(&cinfo);
    free(rgb);
    free(row);
    return st;
}

/* ------------------------------------------------------------------- PNG */

typedef struct png_info {
    uint32_t w, h;
    int      depth, color_type;
    int      has_trns;
    uint16_t trns_gray; /* tRNS sample of a grayscale image */
} png_info;

/* Walks every chunk: lengths within the buffer, CRCs right (Pillow checks
 * them), IHDR first, IDAT present, IEND reached (else: truncated). */
static llv_status png_scan(const uint8_t *b, size_t n, png_info *pi, llv_error *err) {
    uint32_t table[256];
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++) c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
        table[i] = c;
    }
    memset(pi, 0, sizeof(*pi));
    size_t pos = 8;
    int    n_idat = 0, first = 1;
    for (;;) {
        if (n - pos < 12)
            return llv_err(err, LLV_ERR_FORMAT, "PNG: truncated file (chunk header at byte %zu of %zu, no IEND)", pos,
                           n);
        uint32_t len = rd_be32(b + pos);
        const uint8_t *type = b + pos + 4;
        if (len > n - pos - 12)
            return llv_err(err, LLV_ERR_FORMAT, "PNG: truncated file (chunk '%.4s' of %u bytes at byte %zu of %zu)",
                           (const char *)type, len, pos, n);
        uint32_t crc = 0xFFFFFFFFu;
        for (size_t i = 0; i < (size_t)len + 4; i++) crc = table[(crc ^ type[i]) & 0xFF] ^ (crc >> 8);
        crc ^= 0xFFFFFFFFu;
        if (crc != rd_be32(type + 4 + len))
            return llv_err(err, LLV_ERR_FORMAT, "PNG: corrupt chunk '%.4s' at byte %zu (CRC mismatch)",
                           (const char *)type, pos);
        const uint8_t *d = type + 4;
        if (first) {
            if (memcmp(type, "IHDR", 4) != 0 || len != 13)
                return llv_err(err, LLV_ERR_FORMAT, "PNG: first chunk must be a 13-byte IHDR");
            pi->w          = rd_be32(d);
            pi->h          = rd_be32(d + 4);
            pi->depth      = d[8];
            pi->color_type = d[9];
            first          = 0;
        } else if (memcmp(type, "tRNS", 4) == 0) {
            pi->has_trns = 1;
            if (pi->color_type == 0 && len >= 2) pi->trns_gray = (uint16_t)((d[0] << 8) | d[1]);
        } else if (memcmp(type, "IDAT", 4) == 0) {
            n_idat++;
        } else if (memcmp(type, "IEND", 4) == 0) {
            break;
        }
        pos += (size_t)len + 12;
    }
    if (n_idat == 0) return llv_err(err, LLV_ERR_FORMAT, "PNG: no image data (IDAT chunk missing)");
    return LLV_OK;
}

/* --------------------------------------------------------- stb formats */

/* Whether Pillow's mode for this file carries alpha (then we composite);
 * `gray16` selects the mode-"I" clipping path (16-bit gray PNG / PGM). */
typedef struct stb_plan {
    int         req_comp; /* 3 (RGB, alpha ignored), 4 (RGBA), 1 (gray, see flags) */
    int         gray16;   /* load 16-bit gray and clip to 0..255 */
    int         gray_trns;/* gray with tRNS: value == trns_low → white */
    uint8_t     trns_low;
    int         bmp16;    /* 555 or 565: 16-bit BMP decoded by decode_bmp16 */
    const char *name;
} stb_plan;

static llv_status bmp_check(const uint8_t *b, size_t n, stb_plan *p, llv_error *err) {
    if (n < 26) return llv_err(err, LLV_ERR_FORMAT, "BMP: truncated header (%zu bytes)", n);
    uint32_t off = rd_le32(b + 10), hsz = rd_le32(b + 14);
    if (hsz == 12) return LLV_OK; /* OS/2 core header: stb handles, always palette or 24-bit */
    if (n < 14 + 40 || hsz < 40) return llv_err(err, LLV_ERR_FORMAT, "BMP: truncated or unknown info header");
    int32_t  w    = (int32_t)rd_le32(b + 18);
    int32_t  h    = (int32_t)rd_le32(b + 22);
    uint16_t bpp  = rd_le16(b + 28);
    uint32_t comp = rd_le32(b + 30);
    if (comp == 1 || comp == 2 || comp == 4 || comp == 5)
        return llv_err(err, LLV_ERR_UNSUPPORTED, "BMP: compression method %u (RLE/JPEG/PNG) is not supported", comp);
    if (comp != 0 && comp != 3 && comp != 6)
        return llv_err(err, LLV_ERR_FORMAT, "BMP: unknown compression method %u", comp);
    if (bpp == 32 && comp == 0) p->req_comp = 3; /* Pillow: mode RGB, raw "BGRX" */
    if (bpp == 16) {
        /* decoded here: Pillow scales 5/6-bit fields by v*255/31 (v*255/63),
         * stb replicates bits; and Pillow knows only two layouts */
        uint32_t rm = 0x7C00, gm = 0x3E0, bm = 0x1F;
        if (comp == 3 || comp == 6) {
            if (n < 66) return llv_err(err, LLV_ERR_FORMAT, "BMP: truncated bit masks");
            rm = rd_le32(b + 54), gm = rd_le32(b + 58), bm = rd_le32(b + 62);
        }
        if (rm == 0xF800 && gm == 0x7E0 && bm == 0x1F)
            p->bmp16 = 565;
        else if (rm == 0x7C00 && gm == 0x3E0 && bm == 0x1F)
            p->bmp16 = 555;
        else
            return llv_err(err, LLV_ERR_UNSUPPORTED, "BMP: 16-bit bit-field layout %#x/%#x/%#x is not supported", rm, gm,
                           bm);
    }
    if (w <= 0 || h == 0 || h == INT32_MIN)
        return llv_err(err, LLV_ERR_FORMAT, "BMP: invalid image size %dx%d", w, h);
    if (bpp == 0 || bpp > 32) return llv_err(err, LLV_ERR_FORMAT, "BMP: invalid bits per pixel %u", bpp);
    /* stb zero-fills missing pixel rows; Pillow refuses a short file. */
    uint64_t stride = (((uint64_t)(uint32_t)w * bpp + 31) / 32) * 4;
    uint64_t need   = (uint64_t)off + stride * (uint64_t)(h < 0 ? -(int64_t)h : h);
    if (off < 14 + hsz || need > n)
        return llv_err(err, LLV_ERR_FORMAT,
                       "BMP: truncated pixel data (header declares %llu bytes up to the end of the pixels, file has %zu)",
                       (unsigned long long)need, n);
    return LLV_OK;
}

/* 16-bit BMP as Pillow's BGR;15 / BGR;16 unpackers (bmp_check validated the
 * header and that the pixel data is complete). */
static llv_status decode_bmp16(const uint8_t *b, size_t n, int mode, const llv_image_limits *lim, llv_rgb_image *out,
                               llv_error *err) {
    int32_t    w = (int32_t)rd_le32(b + 18), h = (int32_t)rd_le32(b + 22);
    int        bottom_up = h > 0;
    int64_t    ah        = bottom_up ? h : -(int64_t)h;
    llv_status st        = llv_image_check_dims("BMP", w, ah, lim, err);
    if (st != LLV_OK) return st;
    size_t   stride = (((size_t)w * 16 + 31) / 32) * 4, off = rd_le32(b + 10);
    uint8_t *rgb    = malloc((size_t)w * (size_t)ah * 3);
    if (!rgb) return llv_err(err, LLV_ERR_OUT_OF_MEMORY, "BMP: cannot allocate %dx%lld pixels", w, (long long)ah);
    (void)n;
    for (int64_t r = 0; r < ah; r++) {
        const uint8_t *row = b + off + (size_t)r * stride;
        uint8_t       *o   = rgb + (size_t)(bottom_up ? ah - 1 - r : r) * (size_t)w * 3;
        for (int32_t x = 0; x < w; x++) {
            uint32_t v = rd_le16(row + 2 * x);
            if (mode == 565) {
                o[3 * x]     = (uint8_t)(((v >> 11) & 31) * 255 / 31);
                o[3 * x + 1] = (uint8_t)(((v >> 5) & 63) * 255 / 63);
            } else {
                o[3 * x]     = (uint8_t)(((v >> 10) & 31) * 255 / 31);
                o[3 * x + 1] = (uint8_t)(((v >> 5) & 31) * 255 / 31);
            }
            o[3 * x + 2] = (uint8_t)((v & 31) * 255 / 31);
        }
    }
    out->width  = w;
    out->height = (int32_t)ah;
    out->rgb    = rgb;
    return LLV_OK;
}

static int pnm_space(uint8_t c) { return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r'; }

/* P5/P6 (binary PGM/PPM), decoded here rather than by stb (stb 2.27 reads
 * 16-bit samples in the wrong byte order and zero-fills short files). As
 * Pillow 9.4: maxval 255 is raw; P5 with maxval > 255 is mode "I" (values
 * round(v / maxval * 65535), then clipped to 0..255 by the RGB conversion);
 * any other maxval is rescaled as PpmDecoder does, min(255, round(v / maxval
 * * 255)) with Python's round (half to even). */
static llv_status decode_pnm(const uint8_t *b, size_t n, const llv_image_limits *lim, llv_rgb_image *out,
                             llv_error *err) {
    size_t   i = 2;
    uint64_t v[3];
    for (int k = 0; k < 3; k++) {
        for (;;) {
            while (i < n && pnm_space(b[i])) i++;
            if (i < n && b[i] == '#') {
                while (i < n && b[i] != '\n' && b[i] != '\r') i++;
                continue;
            }
            break;
        }
        if (i >= n || b[i] < '0' || b[i] > '9') return llv_err(err, LLV_ERR_FORMAT, "PNM: malformed header");
        v[k] = 0;
        while (i < n && b[i] >= '0' && b[i] <= '9') {
            v[k] = v[k] * 10 + (uint64_t)(b[i] - '0');
            if (v[k] > 0xFFFFFFFFu) return llv_err(err, LLV_ERR_FORMAT, "PNM: number too large in header");
            i++;
        }
    }
    if (i >= n || !pnm_space(b[i])) return llv_err(err, LLV_ERR_FORMAT, "PNM: malformed header (no pixel data)");
    i++;
    llv_status st = llv_image_check_dims("PNM", (int64_t)v[0], (int64_t)v[1], lim, err);
    if (st != LLV_OK) return st;
    uint64_t maxv = v[2];
    if (maxv == 0 || maxv > 65535)
        return llv_err(err, LLV_ERR_FORMAT, "PNM: invalid maxval %llu (must be 1..65535)", (unsigned long long)maxv);
    size_t comp = b[1] == '6' ? 3 : 1, bytes = maxv > 255 ? 2 : 1, npx = (size_t)v[0] * (size_t)v[1];
    size_t need = npx * comp * bytes; /* no overflow: npx is within the pixel budget (< 2^63 / 6 in practice) */
    if (npx > SIZE_MAX / 6 || n - i < need)
        return llv_err(err, LLV_ERR_FORMAT, "PNM: truncated pixel data (%llux%llu pixels need %zu bytes, %zu present)",
                       (unsigned long long)v[0], (unsigned long long)v[1], need, n - i);
    uint8_t *rgb = malloc(npx * 3);
    if (!rgb) return llv_err(err, LLV_ERR_OUT_OF_MEMORY, "PNM: cannot allocate %zu bytes", npx * 3);
    const uint8_t *d      = b + i;
    int            mode_i = comp == 1 && maxv > 255;
    double         omax   = mode_i ? 65535.0 : 255.0;
    for (size_t p = 0; p < npx; p++)
        for (size_t c = 0; c < 3; c++) {
            size_t   s  = p * comp + (comp == 3 ? c : 0);
            uint32_t x  = bytes == 2 ? ((uint32_t)d[2 * s] << 8 | d[2 * s + 1]) : d[s];
            if (maxv != 255) {
                double r = nearbyint((double)x / (double)maxv * omax); /* Python round(): half to even */
                x        = r > omax ? (uint32_t)omax : (uint32_t)r;
            }
            rgb[p * 3 + c] = (uint8_t)(x > 255 ? 255 : x);
        }
    out->width  = (int32_t)v[0];
    out->height = (int32_t)v[1];
    out->rgb    = rgb;
    return LLV_OK;
}

/* stb decodes a GIF whose data stops early as if the rest were transparent;
 * Pillow refuses it. Walk the blocks up to the first frame's image data and
 * require its sub-blocks to be complete (through the 0 terminator). */
static llv_status gif_check(const uint8_t *b, size_t n, llv_error *err) {
    if (n < 13) return llv_err(err, LLV_ERR_FORMAT, "GIF: truncated header (%zu bytes)", n);
    size_t pos = 13;
    if (b[10] & 0x80) pos += (size_t)3 << ((b[10] & 7) + 1);
    for (;;) {
        if (pos >= n) return llv_err(err, LLV_ERR_FORMAT, "GIF: truncated before the first image");
        uint8_t tag = b[pos];
        if (tag == 0x21) { /* extension: label, then sub-blocks */
            pos += 2;
        } else if (tag == 0x2C) { /* image descriptor, optional local table, LZW size */
            if (n - pos < 10) return llv_err(err, LLV_ERR_FORMAT, "GIF: truncated image descriptor");
            uint8_t flags = b[pos + 9];
            pos += 10;
            if (flags & 0x80) pos += (size_t)3 << ((flags & 7) + 1);
            pos += 1;
        } else if (tag == 0x3B) {
            return llv_err(err, LLV_ERR_FORMAT, "GIF: no image before the trailer");
        } else {
            return llv_err(err, LLV_ERR_FORMAT, "GIF: unknown block 0x%02x at byte %zu", tag, pos);
        }
        for (;;) { /* sub-blocks */
            if (pos >= n)
                return llv_err(err, LLV_ERR_FORMAT, "GIF: truncated data (block at byte %zu of %zu)", pos, n);
            size_t len = b[pos];
            pos += 1 + len;
            if (len == 0) break;
        }
        if (tag == 0x2C) return LLV_OK;
    }
}

/* stb zero-fills TGA pixels past the end of the buffer: check that the
 * pixel data (raw, or RLE packets walked here) is complete. */
static llv_status tga_check(const uint8_t *b, size_t n, llv_error *err) {
    if (n < 18) return llv_err(err, LLV_ERR_FORMAT, "TGA: truncated header");
    int      type = b[2];
    uint64_t bpp  = (b[16] + 7u) / 8u;
    uint64_t cmap = b[1] ? (uint64_t)rd_le16(b + 5) * ((b[7] + 7u) / 8u) : 0;
    uint64_t pos = 18 + (uint64_t)b[0] + cmap, npx = (uint64_t)rd_le16(b + 12) * rd_le16(b + 14);
    if (type == 1 || type == 2 || type == 3) {
        if (pos + npx * bpp > n)
            return llv_err(err, LLV_ERR_FORMAT, "TGA: truncated pixel data (%llu bytes needed, %zu present)",
                           (unsigned long long)(pos + npx * bpp), n);
    } else if (type == 9 || type == 10 || type == 11) {
        uint64_t got = 0;
        while (got < npx) {
            if (pos >= n)
                return llv_err(err, LLV_ERR_FORMAT, "TGA: truncated RLE data (%llu of %llu pixels present)",
                               (unsigned long long)got, (unsigned long long)npx);
            uint64_t cnt = (b[pos] & 0x7Fu) + 1, len = (b[pos] & 0x80u) ? bpp : cnt * bpp;
            pos += 1 + len;
            if (pos > n)
                return llv_err(err, LLV_ERR_FORMAT, "TGA: truncated RLE packet at pixel %llu of %llu",
                               (unsigned long long)got, (unsigned long long)npx);
            got += cnt;
        }
    }
    return LLV_OK;
}

static llv_status decode_stb(const uint8_t *b, size_t n, stb_plan *p, const llv_image_limits *lim, llv_rgb_image *out,
                             llv_error *err) {
    int w = 0, h = 0, comp = 0, is16 = 0;
    if (n > INT32_MAX) return llv_err(err, LLV_ERR_LIMIT, "%s: %zu bytes (stb_image reads at most 2 GiB)", p->name, n);
    if (!llv_stbi_info(b, n, &w, &h, &comp, &is16))
        return llv_err(err, LLV_ERR_FORMAT, "%s: corrupt header (%s)", p->name, llv_stbi_failure());
    llv_status st = llv_image_check_dims(p->name, w, h, lim, err);
    if (st != LLV_OK) return st;
    if (p->req_comp == 0) p->req_comp = (comp == 2 || comp == 4) ? 4 : 3;

    size_t npx = (size_t)w * (size_t)h, total;
    if (!llv_mul_size(npx, 3, &total)) return llv_err(err, LLV_ERR_LIMIT, "%s: image too large", p->name);
    uint8_t *rgb = malloc(total);
    if (!rgb) return llv_err(err, LLV_ERR_OUT_OF_MEMORY, "%s: cannot allocate %zu bytes", p->name, total);

    int lw = 0, lh = 0;
    if (p->gray16) {
        uint16_t *g = llv_stbi_load16(b, n, 1, &lw, &lh);
        if (!g) goto fail;
        for (size_t i = 0; i < npx; i++) {
            uint8_t v = g[i] > 255 ? 255 : (uint8_t)g[i]; /* Pillow i2rgb: clip */
            if (p->gray_trns && v == p->trns_low) v = 255;
            rgb[3 * i] = rgb[3 * i + 1] = rgb[3 * i + 2] = v;
        }
        llv_stbi_free(g);
    } else {
        uint8_t *px = llv_stbi_load8(b, n, p->req_comp, &lw, &lh);
        if (!px) goto fail;
        if (lw != w || lh != h) {
            llv_stbi_free(px);
            free(rgb);
            return llv_err(err, LLV_ERR_FORMAT, "%s: size changed between header and decode", p->name);
        }
        if (p->req_comp == 1) {
            for (size_t i = 0; i < npx; i++) {
                uint8_t v = px[i];
                if (p->gray_trns && v == p->trns_low) v = 255;
                rgb[3 * i] = rgb[3 * i + 1] = rgb[3 * i + 2] = v;
            }
        } else if (p->req_comp == 3) {
            memcpy(rgb, px, total);
        } else {
            for (size_t i = 0; i < npx; i++) {
                uint32_t a = px[4 * i + 3];
                for (int c = 0; c < 3; c++) rgb[3 * i + c] = over_white(px[4 * i + c], a);
            }
        }
        llv_stbi_free(px);
    }
    out->width  = w;
    out->height = h;
    out->rgb    = rgb;
    return LLV_OK;
fail:
    free(rgb);
    {
        const char *why = llv_stbi_failure();
        if (strstr(why, "outofmem") || strstr(why, "Out of memory"))
            return llv_err(err, LLV_ERR_OUT_OF_MEMORY, "%s: out of memory while decoding", p->name);
        return llv_err(err, LLV_ERR_FORMAT, "%s: corrupt or truncated data (%s)", p->name, why);
    }
}

/* ---------------------------------------------------------------- decode */

llv_status llv_image_decode(const void *bytes, size_t n, const llv_image_limits *limits, llv_rgb_image *out,
                            llv_error *err) {
    llv_image_limits lim;
    if (limits)
        lim = *limits;
    else
        llv_image_limits_default(&lim);
    if (!out) return llv_err(err, LLV_ERR_INVALID_ARGUMENT, "image decode: out is NULL");
    memset(out, 0, sizeof(*out));
    if (!bytes || n == 0) return llv_err(err, LLV_ERR_FORMAT, "image: empty input (0 bytes)");
    llv_status st = llv_image_check_bytes(n, &lim, err);
    if (st != LLV_OK) return st;
    const uint8_t *b = bytes;

    if (n >= 3 && b[0] == 0xFF && b[1] == 0xD8 && b[2] == 0xFF) return decode_jpeg(b, n, &lim, out, err);

    stb_plan p;
    memset(&p, 0, sizeof(p));

    if (n >= 8 && memcmp(b, "\x89PNG\r\n\x1a\n", 8) == 0) {
        png_info pi;
        p.name = "PNG";
        if ((st = png_scan(b, n, &pi, err)) != LLV_OK) return st;
        if ((st = llv_image_check_dims("PNG", pi.w, pi.h, &lim, err)) != LLV_OK) return st;
        switch (pi.color_type) {
        case 0:
            p.req_comp  = 1;
            p.gray16    = pi.depth == 16;
            p.gray_trns = pi.has_trns;
            p.trns_low  = (uint8_t)(pi.trns_gray & 0xFF);
            break;
        case 2: p.req_comp = 3; break; /* mode RGB: tRNS ignored by convert_to_rgb */
        case 3:
        case 4:
        case 6: p.req_comp = 4; break;
        default: return llv_err(err, LLV_ERR_FORMAT, "PNG: invalid colour type %d", pi.color_type);
        }
    } else if (n >= 6 && (memcmp(b, "GIF87a", 6) == 0 || memcmp(b, "GIF89a", 6) == 0)) {
        p.name     = "GIF";
        p.req_comp = 4;
        if ((st = gif_check(b, n, err)) != LLV_OK) return st;
    } else if (n >= 2 && b[0] == 'B' && b[1] == 'M') {
        p.name = "BMP";
        if ((st = bmp_check(b, n, &p, err)) != LLV_OK) return st;
        if (p.bmp16) return decode_bmp16(b, n, p.bmp16, &lim, out, err);
    } else if (n >= 2 && b[0] == 'P' && b[1] >= '1' && b[1] <= '7') {
        if (b[1] != '5' && b[1] != '6')
            return llv_err(err, LLV_ERR_UNSUPPORTED, "PNM: format P%c is not supported (only binary P5/P6)", b[1]);
        return decode_pnm(b, n, &lim, out, err);
    } else if (n >= 12 && memcmp(b, "RIFF", 4) == 0 && memcmp(b + 8, "WEBP", 4) == 0) {
        return decode_webp(b, n, &lim, out, err);
    } else if (n >= 4 && (memcmp(b, "II*\0", 4) == 0 || memcmp(b, "MM\0*", 4) == 0)) {
        return llv_err(err, LLV_ERR_UNSUPPORTED, "image: TIFF is not supported (JPEG, PNG, WebP, GIF, BMP, TGA, PNM are)");
    } else if (n >= 12 && memcmp(b + 4, "ftyp", 4) == 0) {
        return llv_err(err, LLV_ERR_UNSUPPORTED,
                       "image: HEIF/AVIF is not supported (JPEG, PNG, WebP, GIF, BMP, TGA, PNM are)");
    } else if (n >= 4 && memcmp(b, "8BPS", 4) == 0) {
        return llv_err(err, LLV_ERR_UNSUPPORTED, "image: PSD is not supported (JPEG, PNG, WebP, GIF, BMP, TGA, PNM are)");
    } else {
        /* TGA has no signature: accept only what stb's TGA probe accepts. */
        int w, h, c, is16;
        if (n < 18 || (b[2] != 1 && b[2] != 2 && b[2] != 3 && b[2] != 9 && b[2] != 10 && b[2] != 11) ||
            !llv_stbi_info(b, n, &w, &h, &c, &is16))
            return llv_err(err, LLV_ERR_FORMAT,
                           "image: unrecognised format (first bytes %02x %02x %02x %02x; expected JPEG, PNG, WebP, GIF, "
                           "BMP, TGA or PNM)",
                           b[0], n > 1 ? b[1] : 0, n > 2 ? b[2] : 0, n > 3 ? b[3] : 0);
        p.name = "TGA";
        if ((st = tga_check(b, n, err)) != LLV_OK) return st;
    }
    return decode_stb(b, n, &p, &lim, out, err);
}

/* ------------------------------------------------------------------ plan */

static int aspect_ratios(int32_t max_tiles, int32_t (*r)[2], int cap) {
    int k = 0;
    for (int32_t a = 1; a <= max_tiles; a++)
        for (int32_t b = 1; b <= max_tiles; b++)
            if (a * b <= max_tiles && k < cap) {
                r[k][0] = a;
                r[k][1] = b;
                k++;
            }
    return k;
}

#define LLV_MAX_RATIOS 256 /* > the 119 pairs of LLV_IMAGE_MAX_TILES = 32 */

void llv_image_plan(int32_t h, int32_t w, int32_t tile, int32_t max_tiles, int32_t *canvas_h, int32_t *canvas_w,
                    int32_t *resized_h, int32_t *resized_w, int32_t *tiles_h, int32_t *tiles_w,
                    int32_t *aspect_ratio_id) {
    int32_t r[LLV_MAX_RATIOS][2];
    if (h <= 0 || w <= 0 || tile <= 0 || max_tiles < 1 || max_tiles > LLV_IMAGE_MAX_TILES) {
        *canvas_h = *canvas_w = *resized_h = *resized_w = *tiles_h = *tiles_w = *aspect_ratio_id = 0;
        return;
    }
    int nr = aspect_ratios(max_tiles, r, LLV_MAX_RATIOS);
    double  scales[LLV_MAX_RATIOS];
    /* get_optimal_tiled_canvas (float64, as numpy) */
    int    have_up = 0;
    double sel     = 0;
    for (int i = 0; i < nr; i++) {
        double sh = (double)(r[i][0] * tile) / (double)h;
        double sw = (double)(r[i][1] * tile) / (double)w;
        scales[i] = sw > sh ? sh : sw;
        if (scales[i] >= 1 && (!have_up || scales[i] < sel)) {
            sel     = scales[i];
            have_up = 1;
        }
    }
    if (!have_up) {
        sel = -1;
        for (int i = 0; i < nr; i++)
            if (scales[i] > sel) sel = scales[i];
    }
    int     best      = -1;
    int64_t best_area = 0;
    for (int i = 0; i < nr; i++) {
        if (scales[i] != sel) continue;
        int64_t area = (int64_t)r[i][0] * tile * r[i][1] * tile;
        if (best < 0 || area < best_area) {
            best      = i;
            best_area = area;
        }
    }
    int32_t ch = r[best][0] * tile, cw = r[best][1] * tile;
    /* get_image_size_fit_to_canvas */
    int32_t tw = w < tile ? tile : (w > cw ? cw : w);
    int32_t th = h < tile ? tile : (h > ch ? ch : h);
    double  sh = (double)th / (double)h, sw = (double)tw / (double)w;
    int32_t nh, nw;
    if (sw < sh) {
        nw         = tw;
        double f   = floor((double)h * sw);
        int64_t fh = (int64_t)f; /* may be 0 for extreme ratios, as in HF */
        nh = (int32_t)(fh < th ? fh : th);
    } else {
        nh         = th;
        double f   = floor((double)w * sh);
        int64_t fw = (int64_t)f;
        nw = (int32_t)(fw < tw ? fw : tw);
    }
    *canvas_h        = ch;
    *canvas_w        = cw;
    *resized_h       = nh;
    *resized_w       = nw;
    *tiles_h         = r[best][0];
    *tiles_w         = r[best][1];
    *aspect_ratio_id = best + 1;
}

/* ---------------------------------------------------------------- resize */

typedef struct resample_axis {
    int32_t  ksize;
    int32_t *bounds; /* [out][2]: xmin, count */
    int32_t *k;      /* [out][ksize], 22-bit fixed point */
} resample_axis;

#define LLV_PRECISION_BITS 22

static void axis_free(resample_axis *a) {
    free(a->bounds);
    free(a->k);
}

/* Pillow Resample.c precompute_coeffs + normalize_coeffs_8bpc, bilinear. */
static llv_status axis_init(resample_axis *a, int32_t in, int32_t out, llv_error *err) {
    memset(a, 0, sizeof(*a));
    double scale = (double)in / (double)out;
    double fs    = scale < 1.0 ? 1.0 : scale;
    double sup   = 1.0 * fs;
    double ss    = 1.0 / fs;
    a->ksize     = (int32_t)ceil(sup) * 2 + 1;
    size_t nk;
    if (!llv_mul_size((size_t)out, (size_t)a->ksize, &nk))
        return llv_err(err, LLV_ERR_INVALID_ARGUMENT, "resize: %d -> %d too large", in, out);
    a->k      = calloc(nk, sizeof(int32_t));
    a->bounds = malloc((size_t)out * 2 * sizeof(int32_t));
    double *w = malloc((size_t)a->ksize * sizeof(double));
    if (!a->k || !a->bounds || !w) {
        free(w);
        axis_free(a);
        return llv_err(err, LLV_ERR_OUT_OF_MEMORY, "resize: cannot allocate coefficients");
    }
    for (int32_t xx = 0; xx < out; xx++) {
        double  center = (xx + 0.5) * scale;
        double  ww     = 0.0;
        int32_t xmin   = (int32_t)(center - sup + 0.5);
        if (xmin < 0) xmin = 0;
        int32_t xmax = (int32_t)(center + sup + 0.5);
        if (xmax > in) xmax = in;
        xmax -= xmin;
        for (int32_t x = 0; x < xmax; x++) {
            double t = ((x + xmin) - center + 0.5) * ss;
            if (t < 0) t = -t;
            double v = t < 1.0 ? 1.0 - t : 0.0;
            w[x]     = v;
            ww += v;
        }
        int32_t *k = a->k + (size_t)xx * a->ksize;
        for (int32_t x = 0; x < xmax; x++) {
            double v = ww != 0.0 ? w[x] / ww : w[x];
            k[x] = v < 0 ? (int32_t)(-0.5 + v * (1 << LLV_PRECISION_BITS)) : (int32_t)(0.5 + v * (1 << LLV_PRECISION_BITS));
        }
        a->bounds[2 * xx]     = xmin;
        a->bounds[2 * xx + 1] = xmax;
    }
    free(w);
    return LLV_OK;
}

static inline uint8_t clip8(int32_t v) {
    v >>= LLV_PRECISION_BITS;
    return v < 0 ? 0 : v > 255 ? 255 : (uint8_t)v;
}

llv_status llv_image_resize_bilinear(const uint8_t *src, int32_t sw, int32_t sh, int32_t ch, uint8_t *dst,
                                     int32_t dw, int32_t dh, llv_error *err) {
    if (sw <= 0 || sh <= 0 || dw <= 0 || dh <= 0 || ch <= 0 || ch > 4)
        return llv_err(err, LLV_ERR_INVALID_ARGUMENT, "resize: invalid sizes %dx%dx%d -> %dx%d", sw, sh, ch, dw, dh);
    if (sw == dw && sh == dh) {
        memcpy(dst, src, (size_t)sw * sh * ch);
        return LLV_OK;
    }
    llv_status    st;
    resample_axis ax = {0}, ay = {0};
    const uint8_t *cur = src;
    uint8_t       *tmp = NULL;
    if (sw != dw) {
        if ((st = axis_init(&ax, sw, dw, err)) != LLV_OK) return st;
        uint8_t *hout = sh == dh ? dst : (tmp = malloc((size_t)dw * sh * ch));
        if (!hout) {
            axis_free(&ax);
            return llv_err(err, LLV_ERR_OUT_OF_MEMORY, "resize: cannot allocate %dx%d intermediate", dw, sh);
        }
        for (int32_t y = 0; y < sh; y++) {
            const uint8_t *row = src + (size_t)y * sw * ch;
            uint8_t       *o   = hout + (size_t)y * dw * ch;
            for (int32_t xx = 0; xx < dw; xx++) {
                const int32_t *k = ax.k + (size_t)xx * ax.ksize;
                int32_t xmin = ax.bounds[2 * xx], cnt = ax.bounds[2 * xx + 1];
                for (int32_t c = 0; c < ch; c++) {
                    int32_t acc = 1 << (LLV_PRECISION_BITS - 1);
                    for (int32_t x = 0; x < cnt; x++) acc += row[(size_t)(xmin + x) * ch + c] * k[x];
                    o[(size_t)xx * ch + c] = clip8(acc);
                }
            }
        }
        axis_free(&ax);
        cur = hout;
    }
    if (sh != dh) {
        if ((st = axis_init(&ay, sh, dh, err)) != LLV_OK) {
            free(tmp);
            return st;
        }
        size_t rowlen = (size_t)dw * ch;
        for (int32_t yy = 0; yy < dh; yy++) {
            const int32_t *k = ay.k + (size_t)yy * ay.ksize;
            int32_t ymin = ay.bounds[2 * yy], cnt = ay.bounds[2 * yy + 1];
            uint8_t *o = dst + (size_t)yy * rowlen;
            for (size_t i = 0; i < rowlen; i++) {
                int32_t acc = 1 << (LLV_PRECISION_BITS - 1);
                for (int32_t y = 0; y < cnt; y++) acc += cur[(size_t)(ymin + y) * rowlen + i] * k[y];
                o[i] = clip8(acc);
            }
        }
        axis_free(&ay);
    }
    free(tmp);
    return LLV_OK;
}

/* ------------------------------------------------------------ preprocess */

void llv_image_tiles_free(llv_image_tiles *t) {
    if (!t) return;
    llv_free_aligned(t->pixels);
    t->pixels = NULL;
}

llv_status llv_image_preprocess(const llv_rgb_image *img, int32_t tile_size, int32_t max_tiles, const float mean[3],
                                const float std[3], llv_image_tiles *out, uint8_t **resized_out, llv_error *err) {
    if (resized_out) *resized_out = NULL;
    if (!img || !img->rgb || img->width <= 0 || img->height <= 0 || !out || !mean || !std)
        return llv_err(err, LLV_ERR_INVALID_ARGUMENT, "image preprocess: empty image or NULL argument");
    if (tile_size <= 0 || tile_size > 65536 || max_tiles <= 0 || max_tiles > LLV_IMAGE_MAX_TILES)
        return llv_err(err, LLV_ERR_INVALID_ARGUMENT, "image preprocess: tile size %d / max tiles %d out of range",
                       tile_size, max_tiles);
    memset(out, 0, sizeof(*out));
    llv_image_tiles *t = out;
    t->tile_size       = tile_size;
    t->max_tiles       = max_tiles;
    llv_image_plan(img->height, img->width, tile_size, max_tiles, &t->canvas_h, &t->canvas_w, &t->resized_h,
                   &t->resized_w, &t->tiles_h, &t->tiles_w, &t->aspect_ratio_id);
    t->n_tiles = t->tiles_h * t->tiles_w;
    if (t->resized_h <= 0 || t->resized_w <= 0) /* HF/Pillow fail here too (resize to a zero size) */
        return llv_err(err, LLV_ERR_UNSUPPORTED,
                       "image preprocess: %dx%d image has too extreme an aspect ratio (it would be resized to %dx%d)",
                       img->width, img->height, t->resized_w, t->resized_h);

    size_t tile_px = (size_t)tile_size * (size_t)tile_size, nfloat, nbytes, rbytes;
    if (!llv_mul_size(tile_px, 3 * (size_t)max_tiles, &nfloat) || !llv_mul_size(nfloat, sizeof(float), &nbytes) ||
        !llv_mul_size((size_t)t->resized_h * (size_t)t->resized_w, 3, &rbytes))
        return llv_err(err, LLV_ERR_INVALID_ARGUMENT, "image preprocess: sizes overflow");
    uint8_t *rs = malloc(rbytes);
    t->pixels   = llv_alloc_aligned(nbytes);
    if (!rs || !t->pixels) {
        free(rs);
        llv_image_tiles_free(t);
        return llv_err(err, LLV_ERR_OUT_OF_MEMORY, "image preprocess: cannot allocate %zu bytes", nbytes + rbytes);
    }
    llv_status st = llv_image_resize_bilinear(img->rgb, img->width, img->height, 3, rs, t->resized_w, t->resized_h,
                                              err);
    if (st != LLV_OK) {
        free(rs);
        llv_image_tiles_free(t);
        return st;
    }
    /* rescale: float32(u8 * (1/255) in double); normalise in float32 */
    float lut[3][256];
    for (int c = 0; c < 3; c++)
        for (int v = 0; v < 256; v++) {
            float x   = (float)((double)v * (1.0 / 255.0));
            lut[c][v] = (x - mean[c]) / std[c];
        }
    memset(t->pixels, 0, nbytes);
    for (int32_t ti = 0; ti < t->n_tiles; ti++) {
        int32_t row = ti / t->tiles_w, col = ti % t->tiles_w;
        for (int c = 0; c < 3; c++) {
            float *plane = t->pixels + ((size_t)ti * 3 + c) * tile_px;
            for (int32_t y = 0; y < tile_size; y++) {
                int32_t sy = row * tile_size + y;
                float  *o  = plane + (size_t)y * tile_size;
                for (int32_t x = 0; x < tile_size; x++) {
                    int32_t sx = col * tile_size + x;
                    uint8_t v  = 0; /* zero padding (bottom/right) */
                    if (sy < t->resized_h && sx < t->resized_w) v = rs[((size_t)sy * t->resized_w + sx) * 3 + c];
                    o[x] = lut[c][v];
                }
            }
        }
    }
    if (resized_out)
        *resized_out = rs;
    else
        free(rs);
    return LLV_OK;
}
