/* gen-seeds.c - writes the seed corpora of the fuzz targets from the
 * project's own writers and test data: usage `llv-fuzz-gen-seeds SRC_DIR`
 * (SRC_DIR = repository root; writes SRC_DIR/tests/fuzz/corpus/<target>/).
 * Run by hand when a format changes; the output is committed (tiny files). */
#define STB_IMAGE_WRITE_STATIC
#define STB_IMAGE_WRITE_IMPLEMENTATION
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-function"
#include <stb_image_write.h>
#pragma GCC diagnostic pop

#include "gguf.h"
#include "llv.h"
#include "llv-tools.h"
#include "tensor.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <jpeglib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char g_dir[4096];

static void die(const char *what, const llv_error *e) {
    fprintf(stderr, "gen-seeds: %s: %s\n", what, e ? e->message : strerror(errno));
    exit(1);
}

static void put(const char *target, const char *name, const void *d, size_t n) {
    char path[8192];
    snprintf(path, sizeof path, "%s/%s", g_dir, target);
    mkdir(path, 0755);
    snprintf(path, sizeof path, "%s/%s/%s", g_dir, target, name);
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(d, 1, n, f) != n || fclose(f) != 0) die(path, NULL);
}

static unsigned char *slurp(const char *path, size_t *n) {
    FILE *f = fopen(path, "rb");
    if (!f) die(path, NULL);
    fseek(f, 0, SEEK_END);
    long sz = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *p = malloc((size_t)sz + 1);
    if (fread(p, 1, (size_t)sz, f) != (size_t)sz) die(path, NULL);
    fclose(f);
    p[sz] = 0;
    *n = (size_t)sz;
    return p;
}

static unsigned char *slurp_seed(const char *target, const char *name, size_t *n) {
    char path[8192];
    snprintf(path, sizeof path, "%s/%s/%s", g_dir, target, name);
    return slurp(path, n);
}

/* ------------------------------------------------------------------ GGUF */

static void gguf_finish(const char *name, llv_gguf_writer *w, const char *tmp) {
    llv_error e;
    if (llv_gguf_writer_finish(w, &e) != LLV_OK) die("writer_finish", &e);
    llv_gguf_writer_free(w);
    size_t n;
    unsigned char *p = slurp(tmp, &n);
    put("gguf", name, p, n);
    free(p);
    unlink(tmp);
}

static void seeds_gguf(void) {
    llv_error e;
    /* 1: every KV type, small tensors of the weight types */
    {
        llv_gguf_writer *w;
        if (llv_gguf_writer_create(&w, &e) != LLV_OK) die("writer", &e);
        if (llv_gguf_set_str(w, "general.architecture", "mllama", &e) != LLV_OK) die("gguf key", &e);
        if (llv_gguf_set_str(w, "general.name", "seed", &e) != LLV_OK) die("gguf key", &e);
        if (llv_gguf_set_u32(w, "u32", 7, &e) != LLV_OK) die("gguf key", &e);
        if (llv_gguf_set_i32(w, "i32", -7, &e) != LLV_OK) die("gguf key", &e);
        if (llv_gguf_set_u64(w, "u64", 1ull << 40, &e) != LLV_OK) die("gguf key", &e);
        if (llv_gguf_set_f32(w, "f32", 1.5f, &e) != LLV_OK) die("gguf key", &e);
        if (llv_gguf_set_bool(w, "bool", true, &e) != LLV_OK) die("gguf key", &e);
        uint8_t u8 = 200;
        int16_t i16 = -300;
        double f64 = 2.25;
        int64_t i64 = -5;
        if (llv_gguf_set_val(w, "u8", LLV_GGUF_U8, &u8, &e) != LLV_OK) die("gguf key", &e);
        if (llv_gguf_set_val(w, "i16", LLV_GGUF_I16, &i16, &e) != LLV_OK) die("gguf key", &e);
        if (llv_gguf_set_val(w, "f64", LLV_GGUF_F64, &f64, &e) != LLV_OK) die("gguf key", &e);
        if (llv_gguf_set_val(w, "i64", LLV_GGUF_I64, &i64, &e) != LLV_OK) die("gguf key", &e);
        int32_t ai[4] = {1, -2, 3, 1 << 30};
        float af[3] = {0.5f, -1.0f, 3.0f};
        if (llv_gguf_set_arr(w, "arr.i32", LLV_GGUF_I32, ai, 4, &e) != LLV_OK) die("gguf key", &e);
        if (llv_gguf_set_arr(w, "arr.f32", LLV_GGUF_F32, af, 3, &e) != LLV_OK) die("gguf key", &e);
        const char *strs[] = {"a", "", "<|image|>", "\xc3\xa9t\xc3\xa9"};
        if (llv_gguf_set_arr_str(w, "arr.str", strs, NULL, 4, &e) != LLV_OK) die("gguf key", &e);
        int64_t ne1[1] = {4}, ne2[2] = {32, 2}, ne3[2] = {256, 1};
        if (llv_gguf_add_tensor(w, "t.f32", LLV_TYPE_F32, 1, ne1, &e) != LLV_OK) die("gguf key", &e);
        if (llv_gguf_add_tensor(w, "t.f16", LLV_TYPE_F16, 2, ne2, &e) != LLV_OK) die("gguf key", &e);
        if (llv_gguf_add_tensor(w, "t.q8_0", LLV_TYPE_Q8_0, 2, ne2, &e) != LLV_OK) die("gguf key", &e);
        if (llv_gguf_add_tensor(w, "t.q4_k", LLV_TYPE_Q4_K, 2, ne3, &e) != LLV_OK) die("gguf key", &e);
        char tmp[] = "/tmp/llv-seed-XXXXXX";
        close(mkstemp(tmp));
        if (llv_gguf_writer_begin(w, tmp, &e) != LLV_OK) die("writer_begin", &e);
        unsigned char zero[1024] = {0};
        size_t sizes[4] = {16, 128, 2 * 34, 144};
        for (int i = 0; i < 4; i++) {
            for (size_t k = 0; k < sizes[i]; k++) zero[k] = (unsigned char)(k * 7 + i);
            if (llv_gguf_writer_write(w, zero, sizes[i], &e) != LLV_OK) die("writer_write", &e);
        }
        gguf_finish("kv-types-tensors.gguf", w, tmp);
    }
    /* 2: the tokenizer and hyperparameter keys of a synthetic model, no tensors */
    {
        char model[] = "/tmp/llv-seed-model-XXXXXX";
        close(mkstemp(model));
        llv_synth_params sp = llv_synth_default_params();
        sp.preset = "tiny";
        if (llv_synth(model, &sp, &e) != LLV_OK) die("synth", &e);
        llv_gguf *g;
        if (llv_gguf_open(model, &g, &e) != LLV_OK) die("open synth", &e);
        llv_gguf_writer *w;
        llv_gguf_writer_create(&w, &e);
        if (llv_gguf_copy_kvs(w, g, &e) != LLV_OK) die("copy_kvs", &e);
        char tmp[] = "/tmp/llv-seed-XXXXXX";
        close(mkstemp(tmp));
        if (llv_gguf_writer_begin(w, tmp, &e) != LLV_OK) die("writer_begin", &e);
        gguf_finish("tiny-model-kvs.gguf", w, tmp);
        llv_gguf_close(g);
        unlink(model);
        /* fuzz-model: the same metadata (a vocabulary-only file) and a whole small model */
        size_t n;
        unsigned char *p = slurp_seed("gguf", "tiny-model-kvs.gguf", &n);
        put("model", "tiny-model-kvs.gguf", p, n);
        free(p);
        sp.preset = "llama-tiny";
        sp.type = LLV_TYPE_BF16;
        if (llv_synth(model, &sp, &e) != LLV_OK) die("synth llama-tiny", &e);
        p = slurp(model, &n);
        put("model", "llama-tiny-bf16.gguf", p, n);
        free(p);
        unlink(model);
    }
    /* 3: empty file (header only) */
    {
        llv_gguf_writer *w;
        llv_gguf_writer_create(&w, &e);
        char tmp[] = "/tmp/llv-seed-XXXXXX";
        close(mkstemp(tmp));
        if (llv_gguf_writer_begin(w, tmp, &e) != LLV_OK) die("writer_begin", &e);
        gguf_finish("empty.gguf", w, tmp);
    }
}

/* ----------------------------------------------------------- safetensors */

static void st_put(const char *name, const char *header, const void *data, size_t n_data) {
    size_t h = strlen(header), hp = (h + 7) & ~(size_t)7;
    unsigned char *b = malloc(8 + hp + n_data);
    uint64_t v = hp;
    for (int i = 0; i < 8; i++) b[i] = (unsigned char)(v >> (8 * i));
    memcpy(b + 8, header, h);
    memset(b + 8 + h, ' ', hp - h);
    if (n_data) memcpy(b + 8 + hp, data, n_data);
    put("safetensors", name, b, 8 + hp + n_data);
    free(b);
}

static void seeds_safetensors(void) {
    unsigned char d[64];
    for (int i = 0; i < 64; i++) d[i] = (unsigned char)(i * 37 + 1);
    st_put("sample.safetensors",
           "{\"__metadata__\":{\"format\":\"pt\",\"note\":\"x\"},"
           "\"w\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[0,24]},"
           "\"ids\":{\"dtype\":\"I64\",\"shape\":[2],\"data_offsets\":[24,40]},"
           "\"h\":{\"dtype\":\"F16\",\"shape\":[2],\"data_offsets\":[40,44]},"
           "\"b\":{\"dtype\":\"BF16\",\"shape\":[1,1],\"data_offsets\":[44,46]},"
           "\"u\":{\"dtype\":\"U8\",\"shape\":[3],\"data_offsets\":[46,49]},"
           "\"m\":{\"dtype\":\"BOOL\",\"shape\":[2],\"data_offsets\":[49,51]},"
           "\"e\":{\"dtype\":\"F32\",\"shape\":[0,4],\"data_offsets\":[51,51]},"
           "\"pi\":{\"dtype\":\"F64\",\"shape\":[1],\"data_offsets\":[51,59]},"
           "\"s\":{\"dtype\":\"I32\",\"shape\":[],\"data_offsets\":[59,63]}}",
           d, 63);
    st_put("fp8.safetensors",
           "{\"a\":{\"dtype\":\"F8_E4M3\",\"shape\":[4],\"data_offsets\":[0,4]},"
           "\"b\":{\"dtype\":\"F8_E5M2\",\"shape\":[2,2],\"data_offsets\":[4,8]},"
           "\"c\":{\"dtype\":\"U16\",\"shape\":[2],\"data_offsets\":[8,12]},"
           "\"d\":{\"dtype\":\"I16\",\"shape\":[1],\"data_offsets\":[12,14]},"
           "\"e\":{\"dtype\":\"U32\",\"shape\":[1],\"data_offsets\":[14,18]},"
           "\"f\":{\"dtype\":\"U64\",\"shape\":[1],\"data_offsets\":[18,26]},"
           "\"g\":{\"dtype\":\"I8\",\"shape\":[2],\"data_offsets\":[26,28]}}",
           d, 28);
    st_put("empty.safetensors", "{}", NULL, 0);
}

/* ---------------------------------------------------------------- images */

typedef struct mbuf { unsigned char *p; size_t n, cap; } mbuf;
static void mb_put(void *ctx, void *data, int size) {
    mbuf *b = ctx;
    if (b->n + (size_t)size > b->cap) {
        b->cap = (b->n + (size_t)size) * 2;
        b->p = realloc(b->p, b->cap);
    }
    memcpy(b->p + b->n, data, (size_t)size);
    b->n += (size_t)size;
}

static void jpeg_seed(const char *name, int w, int h, int comps, J_COLOR_SPACE cs, const uint8_t *px, int progressive) {
    struct jpeg_compress_struct c;
    struct jpeg_error_mgr jerr;
    unsigned char *out = NULL;
    unsigned long n = 0;
    c.err = jpeg_std_error(&jerr);
    jpeg_create_compress(&c);
    jpeg_mem_dest(&c, &out, &n);
    c.image_width = (JDIMENSION)w;
    c.image_height = (JDIMENSION)h;
    c.input_components = comps;
    c.in_color_space = cs;
    jpeg_set_defaults(&c);
    jpeg_set_quality(&c, 80, TRUE);
    if (progressive) jpeg_simple_progression(&c);
    jpeg_start_compress(&c, TRUE);
    while (c.next_scanline < c.image_height) {
        JSAMPROW row = (JSAMPROW)(px + (size_t)c.next_scanline * (size_t)w * (size_t)comps);
        jpeg_write_scanlines(&c, &row, 1);
    }
    jpeg_finish_compress(&c);
    jpeg_destroy_compress(&c);
    put("image", name, out, n);
    free(out);
}

static void seeds_image(const char *src) {
    enum { W = 13, H = 9 };
    uint8_t px[W * H * 4];
    for (int i = 0; i < W * H * 4; i++) px[i] = (uint8_t)(i * 29 + (i / 7) * 3);
    mbuf b = {0};
    stbi_write_png_to_func(mb_put, &b, W, H, 3, px, W * 3), put("image", "rgb.png", b.p, b.n), b.n = 0;
    stbi_write_png_to_func(mb_put, &b, W, H, 4, px, W * 4), put("image", "rgba.png", b.p, b.n), b.n = 0;
    stbi_write_png_to_func(mb_put, &b, W, H, 1, px, W), put("image", "gray.png", b.p, b.n), b.n = 0;
    stbi_write_png_to_func(mb_put, &b, W, H, 2, px, W * 2), put("image", "gray-alpha.png", b.p, b.n), b.n = 0;
    stbi_write_bmp_to_func(mb_put, &b, W, H, 3, px), put("image", "rgb.bmp", b.p, b.n), b.n = 0;
    stbi_write_bmp_to_func(mb_put, &b, W, H, 4, px), put("image", "rgba.bmp", b.p, b.n), b.n = 0;
    stbi_write_tga_with_rle = 0;
    stbi_write_tga_to_func(mb_put, &b, W, H, 3, px), put("image", "rgb.tga", b.p, b.n), b.n = 0;
    stbi_write_tga_with_rle = 1;
    stbi_write_tga_to_func(mb_put, &b, W, H, 4, px), put("image", "rgba-rle.tga", b.p, b.n), b.n = 0;
    free(b.p);
    jpeg_seed("rgb.jpg", W, H, 3, JCS_RGB, px, 0);
    jpeg_seed("gray.jpg", W, H, 1, JCS_GRAYSCALE, px, 0);
    jpeg_seed("progressive.jpg", W, H, 3, JCS_RGB, px, 1);
    jpeg_seed("cmyk.jpg", W, H, 4, JCS_CMYK, px, 0);
    /* binary PNM */
    char hdr[64];
    int hn = snprintf(hdr, sizeof hdr, "P6\n# c\n%d %d\n255\n", W, H);
    unsigned char pnm[64 + W * H * 3];
    memcpy(pnm, hdr, (size_t)hn);
    memcpy(pnm + hn, px, W * H * 3);
    put("image", "rgb.ppm", pnm, (size_t)hn + W * H * 3);
    hn = snprintf(hdr, sizeof hdr, "P5 %d %d 65535\n", W, H);
    memcpy(pnm, hdr, (size_t)hn);
    memcpy(pnm + hn, px, W * H * 2);
    put("image", "gray16.pgm", pnm, (size_t)hn + W * H * 2);
    /* a 2x2 GIF89a with a 4-colour palette and transparency */
    static const unsigned char gif[] = {
        'G', 'I', 'F', '8', '9', 'a', 2, 0, 2, 0, 0x81, 0, 0, 255, 0, 0, 0, 255, 0, 0, 0, 255, 255, 255, 255,
        0x21, 0xF9, 4, 1, 0, 0, 3, 0, 0x2C, 0, 0, 0, 0, 2, 0, 2, 0, 0, 2, 3, 0x44, 0x34, 0x05, 0, 0x3B};
    put("image", "tiny.gif", gif, sizeof gif);
    /* the demo image, if the repository has one */
    char path[8192];
    snprintf(path, sizeof path, "%s/models/demo.png", src);
    if (access(path, R_OK) == 0) {
        size_t n;
        unsigned char *p = slurp(path, &n);
        put("image", "demo.png", p, n);
        free(p);
    }
}

/* ------------------------------------------------------------- tokenizer */

static void seeds_tokenizer(void) {
    static const char *const texts[] = {
        "Hello world! How are you doing today?",
        "<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\n<|image|>Describe the image.<|eot_id|>",
        "  leading spaces\n\n\ttabs\r\nand CRLF   ",
        "numbers 1234567 3.14159 and contractions: I'm, you're, they'll, it's, we've, I'd",
        "\xc3\xa9\xc3\xa8 \xe4\xb8\xad\xe6\x96\x87 \xf0\x9f\x98\x80 \xd0\xbf\xd1\x80\xd0\xb8\xd0\xb2\xd0\xb5\xd1\x82",
        "broken utf8 \xff\xfe \xc3 \xe2\x82 \xf0\x9f\x98 end",
        "def f(x):\n    return x ** 2  # comment\n",
        "",
    };
    for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++) {
        for (unsigned flags = 0; flags < 4; flags += (i % 2) ? 3 : 1) {
            unsigned char buf[512];
            size_t n = strlen(texts[i]);
            buf[0] = (unsigned char)(flags | ((i * 5) << 2));
            memcpy(buf + 1, texts[i], n);
            char name[64];
            snprintf(name, sizeof name, "text%zu-flags%u", i, flags);
            put("tokenizer", name, buf, n + 1);
        }
    }
}

/* ------------------------------------------------------------------ chat */

typedef struct cbuf { char *p; size_t n, cap; } cbuf;
static void cb_put(cbuf *b, const void *d, size_t n) {
    if (b->n + n + 1 > b->cap) {
        b->cap = (b->n + n + 1) * 2;
        b->p = realloc(b->p, b->cap);
    }
    memcpy(b->p + b->n, d, n);
    b->n += n;
}
static void cb_str(cbuf *b, const char *s) { cb_put(b, s, strlen(s) + 1); } /* with its NUL */
static void cb_byte(cbuf *b, int c) { char ch = (char)c; cb_put(b, &ch, 1); }

static int role_index(const char *r) {
    static const char *const roles[] = {"system", "user", "assistant", "tool", "ipython"};
    for (int i = 0; i < 5; i++)
        if (strcmp(r, roles[i]) == 0) return i;
    return 7;
}

static void seeds_chat(const char *src) {
    char path[8192];
    snprintf(path, sizeof path, "%s/tests/data/chat/conversations.json", src);
    size_t n;
    char *text = (char *)slurp(path, &n);
    cJSON *root = cJSON_Parse(text);
    if (!root) die("conversations.json: bad JSON", NULL);
    const cJSON *convs = cJSON_GetObjectItem(root, "conversations"), *c;
    int k = 0;
    cJSON_ArrayForEach(c, convs) {
        cbuf b = {0};
        const cJSON *tools = cJSON_GetObjectItem(c, "tools_json");
        const cJSON *agp = cJSON_GetObjectItem(c, "add_generation_prompt");
        int flags = (cJSON_IsFalse(agp) ? 0 : 2) | (cJSON_IsString(tools) ? 4 : 0);
        cb_byte(&b, flags);
        if (cJSON_IsString(tools)) cb_str(&b, tools->valuestring);
        const cJSON *m;
        cJSON_ArrayForEach(m, cJSON_GetObjectItem(c, "messages")) {
            const cJSON *role = cJSON_GetObjectItem(m, "role"), *content = cJSON_GetObjectItem(m, "content");
            const cJSON *tc = cJSON_GetObjectItem(m, "tool_call");
            cb_byte(&b, role_index(cJSON_IsString(role) ? role->valuestring : ""));
            if (cJSON_IsObject(tc)) {
                const cJSON *nm = cJSON_GetObjectItem(tc, "name"), *args = cJSON_GetObjectItem(tc, "arguments_json");
                cb_byte(&b, 2);
                cb_put(&b, nm->valuestring, strlen(nm->valuestring));
                cb_byte(&b, 0x1F);
                cb_str(&b, cJSON_IsString(args) ? args->valuestring : "{}");
            } else if (cJSON_IsArray(content)) {
                cb_byte(&b, 1);
                const cJSON *p;
                int first = 1;
                cJSON_ArrayForEach(p, content) {
                    if (!first) cb_byte(&b, 0x1F);
                    first = 0;
                    const cJSON *type = cJSON_GetObjectItem(p, "type"), *t = cJSON_GetObjectItem(p, "text");
                    if (cJSON_IsString(type) && strcmp(type->valuestring, "image") == 0) cb_byte(&b, 0x01);
                    else if (cJSON_IsString(t)) cb_put(&b, t->valuestring, strlen(t->valuestring));
                }
                cb_byte(&b, 0);
            } else if (cJSON_IsString(content)) {
                cb_byte(&b, 4); /* shape 0 (4 % 4): plain content; never a NUL byte */
                cb_str(&b, content->valuestring);
            } else {
                cb_byte(&b, 3);
                cb_byte(&b, 0);
            }
        }
        char name[128];
        const cJSON *nm = cJSON_GetObjectItem(c, "name");
        snprintf(name, sizeof name, "conv-%02d-%s", k++, cJSON_IsString(nm) ? nm->valuestring : "x");
        put("chat", name, b.p, b.n);
        free(b.p);
    }
    cJSON_Delete(root);
    free(text);
    /* model answers for the tool-call parser */
    static const char *const answers[] = {
        "<|python_tag|>{\"name\": \"get_weather\", \"parameters\": {\"city\": \"Paris\", \"days\": 3}}<|eom_id|>",
        "[{\"name\": \"a\", \"arguments\": \"{\\\"x\\\": 1}\"}, {\"name\": \"b\", \"parameters\": {}}]",
        "{\"name\": \"f\", \"parameters\": {\"q\": [1, 2.5e3, null, true]}}; {\"name\": \"g\", \"parameters\": {}}",
        "Just a plain answer, not a tool call.",
    };
    for (size_t i = 0; i < sizeof answers / sizeof answers[0]; i++) {
        char name[32];
        snprintf(name, sizeof name, "answer-%zu", i);
        put("chat", name, answers[i], strlen(answers[i]));
    }
}

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: %s SRC_DIR\n", argv[0]);
        return 2;
    }
    snprintf(g_dir, sizeof g_dir, "%s/tests/fuzz/corpus", argv[1]);
    mkdir(g_dir, 0755);
    seeds_gguf();
    seeds_safetensors();
    seeds_image(argv[1]);
    seeds_tokenizer();
    seeds_chat(argv[1]);
    printf("seeds written to %s\n", g_dir);
    return 0;
}
