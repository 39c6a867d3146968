/* Quantized weight types Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, Q2_K, Q3_K, Q4_K,
 * Q5_K, Q6_K: known-answer dequantization of hand-built ggml blocks (byte
 * compatibility), quantizer bytes on exact grids, at rounding ties and
 * against ggml's, quantize->dequantize error bounds, matmul[type] ==
 * dequantize + F32 matmul at awkward sizes, and the Q4_K_M type policy. */
#include "testing.h"
#include "llv-tools.h"

#include "../kernels/kernels.h"
#include "../kernels/ref/ref-quant.h"
#include "common.h"
#include "gguf.h"
#include "quantize.h"
#include "tensor.h"

#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static uint64_t rng = 0x2545f4914f6cdd1dull;
static double urand(void) { /* uniform in (0, 1) */
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return ((double)(rng >> 11) + 0.5) / 9007199254740992.0;
}
static float grand(void) { /* standard normal (Box-Muller) */
    return (float)(sqrt(-2.0 * log(urand())) * cos(6.283185307179586 * urand()));
}

static const int qtypes[] = {LLV_TYPE_Q8_0, LLV_TYPE_Q4_0, LLV_TYPE_Q4_1, LLV_TYPE_Q5_0, LLV_TYPE_Q5_1,
                             LLV_TYPE_Q4_K, LLV_TYPE_Q6_K, LLV_TYPE_Q2_K, LLV_TYPE_Q3_K, LLV_TYPE_Q5_K};
#define NQ 10

static void put16(uint8_t *p, uint16_t v) {
    p[0] = (uint8_t)(v & 0xFF);
    p[1] = (uint8_t)(v >> 8);
}

/* --- known answers: blocks built byte by byte from ggml-common.h --- */

static void test_kat_q8_0(void) {
    const llv_kernels *k = llv_kernels_ref();
    uint8_t b[2 * 34];
    put16(b, 0x3800); /* d = 0.5 */
    for (int j = 0; j < 32; j++) b[2 + j] = (uint8_t)(int8_t)(j * 8 - 128);
    put16(b + 34, 0xC000); /* d = -2 */
    for (int j = 0; j < 32; j++) b[36 + j] = (uint8_t)(int8_t)(127 - j);
    float y[64];
    k->to_f32[LLV_TYPE_Q8_0](b, y, 64);
    int bad = 0;
    for (int j = 0; j < 32; j++) bad += y[j] != 0.5f * (float)(j * 8 - 128);
    for (int j = 0; j < 32; j++) bad += y[32 + j] != -2.0f * (float)(127 - j);
    CHECK_EQ_I(bad, 0);
}

static void test_kat_q4_0(void) {
    const llv_kernels *k = llv_kernels_ref();
    uint8_t b[18];
    put16(b, 0x4000); /* d = 2 */
    for (int j = 0; j < 16; j++) b[2 + j] = (uint8_t)((j & 0xF) | ((15 - j) << 4));
    float y[32];
    k->to_f32[LLV_TYPE_Q4_0](b, y, 32);
    int bad = 0;
    for (int j = 0; j < 16; j++) {
        bad += y[j] != 2.0f * (float)(j - 8);            /* low nibbles: first half  */
        bad += y[j + 16] != 2.0f * (float)(15 - j - 8);  /* high nibbles: second half */
    }
    CHECK_EQ_I(bad, 0);
}

static void test_kat_q4_1(void) {
    const llv_kernels *k = llv_kernels_ref();
    uint8_t b[2 * 20];
    put16(b, 0x3800);     /* d = 0.5 */
    put16(b + 2, 0xC200); /* m = -3 */
    for (int j = 0; j < 16; j++) b[4 + j] = (uint8_t)(j | ((15 - j) << 4));
    put16(b + 20, 0x3400); /* d = 0.25 */
    put16(b + 22, 0x3E00); /* m = 1.5 */
    for (int j = 0; j < 16; j++) b[24 + j] = 0x93; /* low nibble 3, high 9 */
    float y[64];
    k->to_f32[LLV_TYPE_Q4_1](b, y, 64);
    int bad = 0;
    for (int j = 0; j < 16; j++) {
        bad += y[j] != 0.5f * (float)j - 3.0f;             /* low nibbles: first half  */
        bad += y[j + 16] != 0.5f * (float)(15 - j) - 3.0f; /* high nibbles: second half */
        bad += y[32 + j] != 2.25f || y[48 + j] != 3.75f;   /* 0.25 * 3 + 1.5, 0.25 * 9 + 1.5 */
    }
    CHECK(y[0] == -3.0f && y[15] == 4.5f && y[16] == 4.5f && y[31] == -3.0f);
    CHECK_EQ_I(bad, 0);
}

/* The 5th bits of both Q5 KATs: qh = 01 80 00 FF (little-endian 0xFF008001):
 * values 0, 15 and 24..31 have it. Nibbles as in Q4_0's: qs[j] = j | (15 - j) << 4. */
static const uint8_t kat_qh[4] = {0x01, 0x80, 0x00, 0xFF};

static void test_kat_q5_0(void) {
    const llv_kernels *k = llv_kernels_ref();
    /* d = 0.5, x = 0.5 * (q - 16); q = 16, 1..14, 31 | 15..8 | 23..16 (worked out by hand) */
    static const float want[32] = {0,    -7.5f, -7,    -6.5f, -6,    -5.5f, -5,    -4.5f, -4,   -3.5f, -3,
                                   -2.5f, -2,    -1.5f, -1,    7.5f,  -0.5f, -1,    -1.5f, -2,   -2.5f, -3,
                                   -3.5f, -4,    3.5f,  3,     2.5f,  2,     1.5f,  1,     0.5f, 0};
    uint8_t b[2 * 22];
    put16(b, 0x3800);
    memcpy(b + 2, kat_qh, 4);
    for (int j = 0; j < 16; j++) b[6 + j] = (uint8_t)(j | ((15 - j) << 4));
    put16(b + 22, 0xBC00); /* d = -1, every q = 31: x = -15 */
    memset(b + 24, 0xFF, 20);
    float y[64];
    k->to_f32[LLV_TYPE_Q5_0](b, y, 64);
    int bad = 0;
    for (int j = 0; j < 32; j++) {
        if (y[j] != want[j]) {
            if (bad < 5) printf("  q5_0[%d] = %g, want %g\n", j, y[j], want[j]);
            bad++;
        }
        bad += y[32 + j] != -15.0f;
    }
    CHECK_EQ_I(bad, 0);
}

static void test_kat_q5_1(void) {
    const llv_kernels *k = llv_kernels_ref();
    /* d = 0.25, m = -4, x = 0.25 * q - 4; the same q as the Q5_0 KAT */
    static const float want[32] = {0,     -3.75f, -3.5f, -3.25f, -3,    -2.75f, -2.5f, -2.25f,
                                   -2,    -1.75f, -1.5f, -1.25f, -1,    -0.75f, -0.5f, 3.75f,
                                   -0.25f, -0.5f, -0.75f, -1,    -1.25f, -1.5f, -1.75f, -2,
                                   1.75f, 1.5f,   1.25f, 1,      0.75f, 0.5f,   0.25f, 0};
    uint8_t b[2 * 24];
    put16(b, 0x3400);
    put16(b + 2, 0xC400);
    memcpy(b + 4, kat_qh, 4);
    for (int j = 0; j < 16; j++) b[8 + j] = (uint8_t)(j | ((15 - j) << 4));
    put16(b + 24, 0x3C00); /* d = 1, m = 0.5, no 5th bits: x = 1.5 (nibble 1), 2.5 (nibble 2) */
    put16(b + 26, 0x3800);
    memset(b + 28, 0, 4);
    memset(b + 32, 0x21, 16);
    float y[64];
    k->to_f32[LLV_TYPE_Q5_1](b, y, 64);
    int bad = 0;
    for (int j = 0; j < 32; j++) {
        if (y[j] != want[j]) {
            if (bad < 5) printf("  q5_1[%d] = %g, want %g\n", j, y[j], want[j]);
            bad++;
        }
        bad += y[32 + j] != (j < 16 ? 1.5f : 2.5f);
    }
    CHECK_EQ_I(bad, 0);
}

static void test_kat_q4_K(void) {
    const llv_kernels *k = llv_kernels_ref();
    static const int sc[8] = {1, 2, 3, 4, 33, 17, 50, 63}, mn[8] = {5, 6, 7, 8, 40, 1, 20, 63};
    /* 12 scale bytes packed by hand (see ggml's get_scale_min_k4):
     * bytes 0-3: sc[0..3] | (sc[4..7] >> 4) << 6; bytes 4-7: mn[0..3] | (mn[4..7] >> 4) << 6;
     * bytes 8-11: (sc[4..7] & 15) | (mn[4..7] & 15) << 4 */
    static const uint8_t scales[12] = {129, 66, 195, 196, 133, 6, 71, 200, 129, 17, 66, 255};
    uint8_t b[144];
    put16(b, 0x3C00);     /* d = 1 */
    put16(b + 2, 0x3800); /* dmin = 0.5 */
    memcpy(b + 4, scales, 12);
    for (int i = 0; i < 128; i++) b[16 + i] = (uint8_t)(i * 7 + 3);
    float y[256];
    k->to_f32[LLV_TYPE_Q4_K](b, y, 256);
    int bad = 0;
    for (int e = 0; e < 256; e++) {
        int c = e / 64, hi = (e % 64) >= 32, l = e % 32; /* 64 values per 32 bytes */
        uint8_t byte = b[16 + 32 * c + l];
        int q = hi ? byte >> 4 : byte & 15, sb = 2 * c + hi;
        float want = 1.0f * (float)sc[sb] * (float)q - 0.5f * (float)mn[sb];
        if (y[e] != want) {
            if (bad < 5) printf("  q4_K[%d] = %g, want %g\n", e, y[e], want);
            bad++;
        }
    }
    CHECK_EQ_I(bad, 0);
}

static void test_kat_q6_K(void) {
    const llv_kernels *k = llv_kernels_ref();
    uint8_t b[210];
    for (int i = 0; i < 128; i++) b[i] = (uint8_t)(i * 13 + 5);      /* ql */
    for (int i = 0; i < 64; i++) b[128 + i] = (uint8_t)(i * 29 + 1); /* qh */
    int8_t s[16];
    for (int i = 0; i < 16; i++) s[i] = (int8_t)((i % 2 ? -1 : 1) * (i * 8 + 1));
    memcpy(b + 192, s, 16);
    put16(b + 208, 0x3400); /* d = 0.25 */
    float y[256];
    k->to_f32[LLV_TYPE_Q6_K](b, y, 256);
    int bad = 0;
    for (int e = 0; e < 256; e++) {
        int h = e / 128, r = e % 128, g = r / 32, l = r % 32;
        uint8_t lo = b[64 * h + l + 32 * (g & 1)];
        int nib = (g >> 1) ? lo >> 4 : lo & 15;
        int hb = (b[128 + 32 * h + l] >> (2 * g)) & 3;
        int q = (nib | (hb << 4)) - 32;
        float want = 0.25f * (float)s[8 * h + l / 16 + 2 * g] * (float)q;
        if (y[e] != want) {
            if (bad < 5) printf("  q6_K[%d] = %g, want %g\n", e, y[e], want);
            bad++;
        }
    }
    CHECK_EQ_I(bad, 0);
}

static void test_kat_q2_K(void) {
    const llv_kernels *k = llv_kernels_ref();
    uint8_t b[84]; /* scales[16] qs[64] d dmin */
    for (int s = 0; s < 16; s++) b[s] = (uint8_t)(((s * 7 + 1) & 15) | (((15 - s) & 15) << 4)); /* sc | m << 4 */
    for (int i = 0; i < 64; i++) b[16 + i] = (uint8_t)(i * 37 + 11);
    put16(b + 80, 0x3800); /* d = 0.5 */
    put16(b + 82, 0x3400); /* dmin = 0.25 */
    float y[256];
    k->to_f32[LLV_TYPE_Q2_K](b, y, 256);
    int bad = 0;
    for (int e = 0; e < 256; e++) {
        int h = e / 128, t = (e % 128) / 32, l = e % 32; /* value 128h + 32t + l: bits 2t of qs[32h + l] */
        int q = (b[16 + 32 * h + l] >> (2 * t)) & 3, s = e / 16;
        float want = 0.5f * (float)(b[s] & 15) * (float)q - 0.25f * (float)(b[s] >> 4);
        if (y[e] != want) {
            if (bad < 5) printf("  q2_K[%d] = %g, want %g\n", e, y[e], want);
            bad++;
        }
    }
    CHECK_EQ_I(bad, 0);
}

static void test_kat_q3_K(void) {
    const llv_kernels *k = llv_kernels_ref();
    static const int sc[16] = {-32, -31, -17, -5, -1, 0, 1, 2, 3, 9, 15, 16, 17, 30, 31, -8};
    uint8_t b[110]; /* hmask[32] qs[64] scales[12] d */
    for (int i = 0; i < 32; i++) b[i] = (uint8_t)(i * 53 + 7);
    for (int i = 0; i < 64; i++) b[32 + i] = (uint8_t)(i * 29 + 3);
    /* scales: u = sc + 32 (6 bits); u & 15 in the low nibble of byte s (s < 8) or the high nibble of byte
     * s - 8, u >> 4 in bits 2(s/4), 2(s/4)+1 of byte 8 + s%4 */
    memset(b + 96, 0, 12);
    for (int s = 0; s < 16; s++) {
        int u = sc[s] + 32;
        b[96 + s % 8] |= (uint8_t)((u & 15) << (s < 8 ? 0 : 4));
        b[96 + 8 + s % 4] |= (uint8_t)((u >> 4) << (2 * (s / 4)));
    }
    put16(b + 108, 0xB800); /* d = -0.5 */
    float y[256];
    k->to_f32[LLV_TYPE_Q3_K](b, y, 256);
    int bad = 0;
    for (int e = 0; e < 256; e++) {
        int h = e / 128, t = (e % 128) / 32, l = e % 32;
        int lo = (b[32 + 32 * h + l] >> (2 * t)) & 3, hi = (b[l] >> (4 * h + t)) & 1; /* high bit: hmask[e%32] bit e/32 */
        int q = lo + 4 * hi - 4;
        float want = -0.5f * (float)sc[e / 16] * (float)q;
        if (y[e] != want) {
            if (bad < 5) printf("  q3_K[%d] = %g, want %g\n", e, y[e], want);
            bad++;
        }
    }
    CHECK_EQ_I(bad, 0);
}

static void test_kat_q5_K(void) {
    const llv_kernels *k = llv_kernels_ref();
    /* the scales and mins of test_kat_q4_K, packed the same way */
    static const int sc[8] = {1, 2, 3, 4, 33, 17, 50, 63}, mn[8] = {5, 6, 7, 8, 40, 1, 20, 63};
    static const uint8_t scales[12] = {129, 66, 195, 196, 133, 6, 71, 200, 129, 17, 66, 255};
    uint8_t b[176]; /* d dmin scales[12] qh[32] qs[128] */
    put16(b, 0x4000);     /* d = 2 */
    put16(b + 2, 0x3C00); /* dmin = 1 */
    memcpy(b + 4, scales, 12);
    for (int i = 0; i < 32; i++) b[16 + i] = (uint8_t)(i * 89 + 21);
    for (int i = 0; i < 128; i++) b[48 + i] = (uint8_t)(i * 7 + 3);
    float y[256];
    k->to_f32[LLV_TYPE_Q5_K](b, y, 256);
    int bad = 0;
    for (int e = 0; e < 256; e++) {
        int c = e / 64, hi = (e % 64) >= 32, l = e % 32, sb = 2 * c + hi;
        uint8_t byte = b[48 + 32 * c + l];
        int q = (hi ? byte >> 4 : byte & 15) | (((b[16 + l] >> sb) & 1) << 4); /* fifth bit: qh[l] bit 2c + hi */
        float want = 2.0f * (float)sc[sb] * (float)q - 1.0f * (float)mn[sb];
        if (y[e] != want) {
            if (bad < 5) printf("  q5_K[%d] = %g, want %g\n", e, y[e], want);
            bad++;
        }
    }
    CHECK_EQ_I(bad, 0);
}

/* The K-quant quantizers write ggml's bytes: FNV-1a of 64 blocks of varied
 * data (outliers, zero and one-sided sub-blocks; no libm in the generator),
 * the constants from ggml's quantize_row_q*_K_ref on the same input. */
static void test_ggml_bytes(void) {
    enum { NB = 64, N = NB * 256 };
    static float x[N];
    static uint8_t q[NB * 210];
    uint32_t s = 12345u;
    for (int i = 0; i < N; i++) {
        s = s * 1664525u + 1013904223u;
        int v = (int)(s >> 16) % 2001 - 1000;
        float scale = (float)(1 + (i / 256) % 5) / 1024.0f;
        x[i] = (float)v * scale;
        if (i % 97 == 0) x[i] *= 8.0f;
        if ((i / 16) % 11 == 3) x[i] = 0.0f;
        if ((i / 16) % 13 == 5) x[i] = (float)(v > 0) * scale * 300.0f;
    }
    static const struct { int type; uint32_t fnv; } want[] = {
        {LLV_TYPE_Q2_K, 0x0938419eu}, {LLV_TYPE_Q3_K, 0x682bb624u}, {LLV_TYPE_Q4_K, 0xd707b595u},
        {LLV_TYPE_Q5_K, 0x7e6c67a5u}, {LLV_TYPE_Q6_K, 0x6ddac10bu}};
    const llv_kernels *k = llv_kernels_ref();
    for (size_t t = 0; t < sizeof want / sizeof want[0]; t++) {
        size_t rb;
        CHECK(llv_type_row_bytes(want[t].type, N, &rb));
        k->from_f32[want[t].type](x, q, N);
        uint32_t h = 2166136261u;
        for (size_t i = 0; i < rb; i++) {
            h ^= q[i];
            h *= 16777619u;
        }
        CHECK_MSG(h == want[t].fnv, "%s: quantized bytes hash 0x%08x, ggml's 0x%08x", llv_type_name(want[t].type), h,
                  want[t].fnv);
    }
}

/* Values on the quantization grid survive a round trip exactly (and the
 * quantizer writes the bytes ggml's would). */
static void test_exact_grid(void) {
    const llv_kernels *k = llv_kernels_ref();
    float x[32], y[32];
    for (int j = 0; j < 32; j++) x[j] = 0.5f * (float)(j * 7 - 100);
    x[31] = 63.5f; /* amax = 127 * 0.5 */
    uint8_t b8[34];
    k->from_f32[LLV_TYPE_Q8_0](x, b8, 32);
    CHECK(b8[0] == 0x00 && b8[1] == 0x38); /* d = 0.5 as fp16 */
    CHECK(b8[2] == (uint8_t)(int8_t)-100 && b8[33] == 127);
    k->to_f32[LLV_TYPE_Q8_0](b8, y, 32);
    CHECK_EQ_I(memcmp(x, y, sizeof x), 0);

    for (int j = 0; j < 32; j++) x[j] = 2.0f * (float)((j * 5) % 15 - 7);
    x[3] = -16.0f; /* largest magnitude, negative: d = -16 / -8 = 2 */
    uint8_t b4[18];
    k->from_f32[LLV_TYPE_Q4_0](x, b4, 32);
    CHECK(b4[0] == 0x00 && b4[1] == 0x40); /* d = 2 */
    CHECK_EQ_I(b4[2 + 3] & 15, 0);          /* -16 -> q 0 */
    k->to_f32[LLV_TYPE_Q4_0](b4, y, 32);
    CHECK_EQ_I(memcmp(x, y, sizeof x), 0);

    /* Q4_1 / Q5_1: values min + d * q, q a permutation of the levels; Q5_0: 0.5 * (q - 16) with
     * -8 the value of largest magnitude (d = -8 / -16). Bytes as ggml-common.h lays them out. */
    int q[32];
    uint32_t qh = 0;
    uint8_t b41[20], b50[22], b51[24];
    for (int j = 0; j < 32; j++) x[j] = -2.0f + 0.5f * (float)((j * 7) % 16);
    k->from_f32[LLV_TYPE_Q4_1](x, b41, 32);
    CHECK(b41[0] == 0x00 && b41[1] == 0x38 && b41[2] == 0x00 && b41[3] == 0xC0); /* d = 0.5, m = -2 */
    int off = 0;
    for (int j = 0; j < 16; j++) off += b41[4 + j] != (uint8_t)(((j * 7) % 16) * 0x11); /* q[j + 16] == q[j] */
    k->to_f32[LLV_TYPE_Q4_1](b41, y, 32);
    CHECK_EQ_I(off, 0);
    CHECK_EQ_I(memcmp(x, y, sizeof x), 0);

    for (int j = 0; j < 32; j++) q[j] = (j * 7) % 32, x[j] = 0.5f * (float)(q[j] - 16);
    for (int j = 0; j < 32; j++) qh |= (uint32_t)(q[j] >> 4) << j;
    k->from_f32[LLV_TYPE_Q5_0](x, b50, 32);
    CHECK(b50[0] == 0x00 && b50[1] == 0x38); /* d = 0.5 */
    CHECK(b50[2] == (uint8_t)qh && b50[3] == (uint8_t)(qh >> 8) && b50[4] == (uint8_t)(qh >> 16) &&
          b50[5] == (uint8_t)(qh >> 24));
    off = 0;
    for (int j = 0; j < 16; j++) off += b50[6 + j] != (uint8_t)((q[j] & 15) | (q[j + 16] & 15) << 4);
    k->to_f32[LLV_TYPE_Q5_0](b50, y, 32);
    CHECK_EQ_I(off, 0);
    CHECK_EQ_I(memcmp(x, y, sizeof x), 0);

    for (int j = 0; j < 32; j++) x[j] = -4.0f + 0.25f * (float)q[j]; /* max - min = 31 * 0.25 */
    k->from_f32[LLV_TYPE_Q5_1](x, b51, 32);
    CHECK(b51[0] == 0x00 && b51[1] == 0x34 && b51[2] == 0x00 && b51[3] == 0xC4); /* d = 0.25, m = -4 */
    CHECK(memcmp(b51 + 4, b50 + 2, 20) == 0); /* the same q: the same qh and qs */
    k->to_f32[LLV_TYPE_Q5_1](b51, y, 32);
    CHECK_EQ_I(memcmp(x, y, sizeof x), 0);

    /* ggml rounds by truncating q + 0.5 (ties away from zero on the level grid, not to even), and
     * Q4_0 / Q5_0 clamp the value of largest magnitude's opposite to the top level */
    for (int j = 0; j < 32; j++) x[j] = 0.0f;
    x[1] = 15.0f, x[2] = 2.5f, x[3] = 4.5f, x[4] = 0.49f, x[16] = 14.5f, x[17] = 6.5f; /* d = 1, m = 0 */
    k->from_f32[LLV_TYPE_Q4_1](x, b41, 32);
    CHECK(b41[0] == 0x00 && b41[1] == 0x3C && b41[2] == 0 && b41[3] == 0); /* d = 1, m = 0 */
    CHECK(b41[4] == 0xF0 && b41[5] == 0x7F && b41[6] == 0x03 && b41[7] == 0x05 && b41[8] == 0x00);
    for (int j = 0; j < 32; j++) x[j] = 0.0f;
    x[0] = 8.0f, x[1] = -8.0f, x[2] = -2.25f, x[18] = 1.75f; /* d = 8 / -16 = -0.5: q = 16 - 2x, ties up */
    k->from_f32[LLV_TYPE_Q5_0](x, b50, 32);
    CHECK(b50[0] == 0x00 && b50[1] == 0xB8); /* d = -0.5 */
    /* q: x0 -> 0, x1 -> 32 clamped to 31, x2 -> 20.5 -> 21, x18 -> 12.5 -> 13, the rest 16 */
    CHECK(b50[6] == 0x00 && b50[7] == 0x0F && b50[8] == 0xD5 && b50[9] == 0x00);
    uint32_t h = (uint32_t)b50[2] | (uint32_t)b50[3] << 8 | (uint32_t)b50[4] << 16 | (uint32_t)b50[5] << 24;
    CHECK_EQ_I(h, 0xFFFBFFFEu); /* every q >= 16 but x0's and x18's */
    k->to_f32[LLV_TYPE_Q5_0](b50, y, 32);
    CHECK(y[0] == 8.0f && y[1] == -7.5f && y[2] == -2.5f && y[18] == 1.5f);

    /* all-zero input quantizes to zeros without NaN */
    float z[256] = {0}, out[256];
    uint8_t buf[300];
    for (int t = 0; t < NQ; t++) {
        int64_t n = llv_type_block_size(qtypes[t]);
        k->from_f32[qtypes[t]](z, buf, n);
        for (int i = 0; i < n; i++) out[i] = 1.0f;
        k->to_f32[qtypes[t]](buf, out, n);
        int bad = 0;
        for (int i = 0; i < n; i++) bad += out[i] != 0.0f;
        CHECK_MSG(bad == 0, "%s: zeros round trip (%d bad)", llv_type_name(qtypes[t]), bad);
    }
}

/* RMSE / RMS of a quantize -> dequantize round trip. */
static double roundtrip_rel(int type, const float *x, float *y, uint8_t *q, int64_t n, bool *finite) {
    const llv_kernels *k = llv_kernels_ref();
    memset(y, 0, (size_t)n * 4);
    k->from_f32[type](x, q, n);
    k->to_f32[type](q, y, n);
    double se = 0, ss = 0;
    *finite = true;
    for (int64_t i = 0; i < n; i++) {
        se += ((double)y[i] - x[i]) * ((double)y[i] - x[i]);
        ss += (double)x[i] * x[i];
        *finite = *finite && isfinite(y[i]);
    }
    return sqrt(se / ss);
}

/* Random data: normal with a scale changing every 1024 values plus an
 * outlier, and uniform in [-1, 1). Limits sit ~10% above what ggml's
 * algorithms reach on such data (normal data is harder than uniform). */
static void test_error_bounds(void) {
    static const double lim_normal[NQ] = {0.006, 0.09, 0.086, 0.047, 0.042, 0.078, 0.02, 0.325, 0.167, 0.04};
    static const double lim_uniform[NQ] = {0.004, 0.07, 0.066, 0.034, 0.032, 0.06, 0.015, 0.26, 0.138, 0.031};
    const int64_t n = 256 * 64;
    float *x = malloc((size_t)n * 4), *xu = malloc((size_t)n * 4), *y = malloc((size_t)n * 4);
    uint8_t *q = malloc((size_t)n * 2);
    for (int64_t i = 0; i < n; i++) x[i] = grand() * (float)(0.01 * (1 + (i / 1024) % 7));
    x[100] = 0.5f; /* an outlier */
    for (int64_t i = 0; i < n; i++) xu[i] = (float)(urand() * 2 - 1);
    for (int t = 0; t < NQ; t++) {
        bool f1, f2;
        double rn = roundtrip_rel(qtypes[t], x, y, q, n, &f1), ru = roundtrip_rel(qtypes[t], xu, y, q, n, &f2);
        printf("  %-5s rmse/rms: normal %.3f%% (limit %.2f%%), uniform %.3f%% (limit %.2f%%)\n",
               llv_type_name(qtypes[t]), 100 * rn, 100 * lim_normal[t], 100 * ru, 100 * lim_uniform[t]);
        CHECK_MSG(f1 && f2 && rn < lim_normal[t] && ru < lim_uniform[t], "%s: relative RMSE %.5f / %.5f",
                  llv_type_name(qtypes[t]), rn, ru);
    }
    free(x);
    free(xu);
    free(y);
    free(q);
}

/* Per value, the 32-value types round to the nearest level: |x - y| <= d/2
 * (Q4_1, Q5_1, and Q8_0's round half away from zero) or <= |d| (Q4_0, Q5_0:
 * the value opposite the one of largest magnitude clamps to the top level),
 * plus the fp16 rounding of d (<= 2^-11 relative, times the largest |q|) and of m. */
static void test_value_bounds(void) {
    const llv_kernels *k = llv_kernels_ref();
    static const int ts[] = {LLV_TYPE_Q8_0, LLV_TYPE_Q4_0, LLV_TYPE_Q4_1, LLV_TYPE_Q5_0, LLV_TYPE_Q5_1};
    static const double qmax[] = {127, 8, 15, 16, 31};
    const int64_t n = 32 * 512;
    float *x = malloc((size_t)n * 4), *y = malloc((size_t)n * 4);
    uint8_t *q = malloc((size_t)n * 2);
    for (int64_t i = 0; i < n; i++) x[i] = grand() * (float)(0.01 * (1 + (i / 96) % 5)) + (i % 3 ? 0.0f : 0.02f);
    for (int64_t i = 0; i < n; i += 160) x[i] = -x[i] * 40; /* outliers */
    for (size_t t = 0; t < sizeof ts / sizeof ts[0]; t++) {
        const int type = ts[t];
        const size_t bb = llv_type_block_bytes(type);
        const bool has_m = type == LLV_TYPE_Q4_1 || type == LLV_TYPE_Q5_1;
        k->from_f32[type](x, q, n);
        k->to_f32[type](q, y, n);
        int bad = 0;
        double worst = 0;
        for (int64_t b = 0; b < n / 32; b++) {
            const uint8_t *blk = q + (size_t)b * bb;
            const double d = fabs(llv_f16_to_f32((uint16_t)(blk[0] | blk[1] << 8)));
            const double m = has_m ? fabs(llv_f16_to_f32((uint16_t)(blk[2] | blk[3] << 8))) : 0.0;
            const double half = has_m || type == LLV_TYPE_Q8_0 ? 0.5 : 1.0;
            const double lim = 1.01 * (half * d + qmax[t] * d * 0x1p-11 + m * 0x1p-11) + 1e-9;
            for (int j = 0; j < 32; j++) {
                const double e = fabs((double)x[32 * b + j] - y[32 * b + j]);
                worst = fmax(worst, e / (d > 0 ? d : 1));
                bad += !(e <= lim);
            }
        }
        printf("  %-5s worst |x - y| / d: %.3f\n", llv_type_name(type), worst);
        CHECK_MSG(bad == 0, "%s: %d values off by more than the rounding bound", llv_type_name(type), bad);
    }
    free(x);
    free(y);
    free(q);
}

/* matmul[type] equals dequantize + F32 matmul (same order: exactly). */
static void test_matmul(void) {
    const llv_kernels *k = llv_kernels_ref();
    static const int64_t Ks[] = {256, 512, 768}, Ms[] = {1, 3, 17}, Ns[] = {1, 7, 33};
    int cases = 0, bad = 0;
    for (int t = 0; t < NQ; t++) {
        int type = qtypes[t];
        for (int ki = 0; ki < 3; ki++) {
            int64_t K = Ks[ki];
            size_t rb;
            CHECK(llv_type_row_bytes(type, K, &rb));
            for (int mi = 0; mi < 3; mi++) {
                for (int ni = 0; ni < 3; ni++) {
                    int64_t M = Ms[mi], N = Ns[ni], ldx = K + 3, ldy = N + 2;
                    float *wf = malloc((size_t)(N * K) * 4), *wd = malloc((size_t)(N * K) * 4);
                    float *x = malloc((size_t)(M * ldx) * 4);
                    float *y = malloc((size_t)(M * ldy) * 4), *yr = malloc((size_t)(M * ldy) * 4);
                    uint8_t *wq = malloc(rb * (size_t)N);
                    for (int64_t i = 0; i < N * K; i++) wf[i] = grand() * 0.05f;
                    for (int64_t i = 0; i < M * ldx; i++) x[i] = grand();
                    for (int64_t r = 0; r < N; r++) {
                        k->from_f32[type](wf + r * K, wq + (size_t)r * rb, K);
                        k->to_f32[type](wq + (size_t)r * rb, wd + r * K, K);
                    }
                    for (int64_t i = 0; i < M * ldy; i++) y[i] = yr[i] = -7.0f;
                    /* two row ranges, as threads would split them */
                    int64_t mid = N / 2;
                    k->matmul[type](wq, rb, x, ldx, M, K, y, ldy, 0, mid);
                    k->matmul[type](wq, rb, x, ldx, M, K, y, ldy, mid, N);
                    k->matmul[LLV_TYPE_F32](wd, (size_t)K * 4, x, ldx, M, K, yr, ldy, 0, N);
                    llv_cmp c = llv_compare_f32(y, yr, M * ldy, 0.0, 1e-5);
                    cases++;
                    if (!c.ok) {
                        bad++;
                        printf("  %s K=%lld M=%lld N=%lld: max rel %g\n", llv_type_name(type), (long long)K,
                               (long long)M, (long long)N, c.max_rel);
                    }
                    free(wf); free(wd); free(x); free(y); free(yr); free(wq);
                }
            }
        }
    }
    printf("  matmul: %d cases, %d mismatches\n", cases, bad);
    CHECK_EQ_I(bad, 0);
}

static void test_table(void) {
    const llv_kernels *k = llv_kernels_ref();
    for (int t = 0; t < NQ; t++)
        CHECK_MSG(k->matmul[qtypes[t]] && k->to_f32[qtypes[t]] && k->from_f32[qtypes[t]], "%s entries",
                  llv_type_name(qtypes[t]));
}

static void test_policy(void);
static void test_quantize_file(void);
static void test_convert_quantized(void);
static void test_long_rows(void);
static void test_cli(void);

int main(int argc, char **argv) {
    llv_test_init(argc, argv);
    if (llv_test_case("table")) test_table();
    if (llv_test_case("kat")) {
        test_kat_q8_0();
        test_kat_q4_0();
        test_kat_q4_1();
        test_kat_q5_0();
        test_kat_q5_1();
        test_kat_q4_K();
        test_kat_q6_K();
        test_kat_q2_K();
        test_kat_q3_K();
        test_kat_q5_K();
    }
    if (llv_test_case("ggml")) test_ggml_bytes();
    if (llv_test_case("grid")) test_exact_grid();
    if (llv_test_case("error")) test_error_bounds();
    if (llv_test_case("values")) test_value_bounds();
    if (llv_test_case("matmul")) test_matmul();
    if (llv_test_case("policy")) test_policy();
    if (llv_test_case("file")) test_quantize_file();
    if (llv_test_case("convert")) test_convert_quantized();
    if (llv_test_case("longrows")) test_long_rows();
    if (llv_test_case("cli")) test_cli();
    return llv_test_finish();
}

/* --- type policy --- */

static int ptype(const llv_quant_policy *p, const char *name, int n_dims, int64_t ne0, int64_t ne1) {
    int64_t ne[4] = {ne0, ne1, 1, 1};
    return llv_quant_tensor_type(p, name, n_dims, ne);
}

static void test_policy(void) {
    /* use_more_bits over 40 layers (Llama 3.2 11B text): first/last eighth and every third between */
    static const int more40[] = {0, 1, 2, 3, 4, 7, 10, 13, 16, 19, 22, 25, 28, 31, 34, 35, 36, 37, 38, 39};
    int bad = 0;
    for (int i = 0, j = 0; i < 40; i++) {
        bool want = j < 20 && more40[j] == i;
        j += want;
        bad += llv_quant_use_more_bits(i, 40) != want;
    }
    CHECK_EQ_I(bad, 0);
    CHECK(llv_quant_use_more_bits(0, 8) && llv_quant_use_more_bits(3, 8) && llv_quant_use_more_bits(6, 8) &&
          llv_quant_use_more_bits(7, 8) && !llv_quant_use_more_bits(1, 8) && !llv_quant_use_more_bits(5, 8));

    /* the 11B text stack: 40 blocks, cross-attention at 3, 8, ..., 38 (no attn_v there). llama.cpp counts attn_v
     * tensors, so use_more_bits runs over the 32 self-attention blocks: indices 0-3, 6, 9, ..., 27, 28-31, i.e.
     * blocks 0, 1, 2, 4, 7, 11, 15, 19, 22, 26, 30, 34, 35, 36, 37, 39 */
    {
        llv_quant_policy p11 = {.target = LLV_TYPE_Q4_K_M, .n_layer = 40, .has_output = true};
        char name[64];
        for (int l = 0; l < 40; l++) {
            snprintf(name, sizeof name, "blk.%d.%s", l, l % 5 == 3 ? "cross_attn_v_proj.weight" : "attn_v.weight");
            llv_quant_policy_note(&p11, name);
            llv_quant_policy_note(&p11, name); /* noting twice changes nothing */
        }
        CHECK_EQ_I(p11.n_attn_v, 32);
        static const int v6[] = {0, 1, 2, 4, 7, 11, 15, 19, 22, 26, 30, 34, 35, 36, 37, 39};
        int badv = 0, badd = 0;
        for (int l = 0, j = 0; l < 40; l++) {
            if (l % 5 == 3) continue;
            bool want = j < 16 && v6[j] == l;
            j += want;
            snprintf(name, sizeof name, "blk.%d.attn_v.weight", l);
            badv += ptype(&p11, name, 2, 4096, 1024) != (want ? LLV_TYPE_Q6_K : LLV_TYPE_Q4_K);
            /* ffn_down (every block has one) keeps the block index over 40 */
            snprintf(name, sizeof name, "blk.%d.ffn_down.weight", l);
            badd += ptype(&p11, name, 2, 14336, 4096) != (llv_quant_use_more_bits(l, 40) ? LLV_TYPE_Q6_K : LLV_TYPE_Q4_K);
        }
        CHECK_EQ_I(badv, 0);
        CHECK_EQ_I(badd, 0);
    }

    llv_quant_policy km = {.target = LLV_TYPE_Q4_K_M, .n_layer = 40, .has_output = true};
    const int Q4K = LLV_TYPE_Q4_K, Q6K = LLV_TYPE_Q6_K, Q8 = LLV_TYPE_Q8_0, F16 = LLV_TYPE_F16, F32 = LLV_TYPE_F32;
    struct { const char *name; int n_dims; int64_t ne0, ne1; int want; } cases[] = {
        {"output.weight", 2, 4096, 128256, Q6K},
        {"token_embd.weight", 2, 4096, 128264, Q4K},
        {"output_norm.weight", 1, 4096, 1, F32},
        {"rope_freqs.weight", 1, 64, 1, F32},
        {"blk.0.attn_v.weight", 2, 4096, 1024, Q6K},
        {"blk.5.attn_v.weight", 2, 4096, 1024, Q4K},
        {"blk.7.attn_v.weight", 2, 4096, 1024, Q6K},
        {"blk.39.attn_v.weight", 2, 4096, 1024, Q6K},
        {"blk.6.ffn_down.weight", 2, 14336, 4096, Q4K},
        {"blk.10.ffn_down.weight", 2, 14336, 4096, Q6K},
        {"blk.36.ffn_down.weight", 2, 14336, 4096, Q6K},
        {"blk.0.attn_q.weight", 2, 4096, 4096, Q4K},
        {"blk.0.attn_k.weight", 2, 4096, 1024, Q4K},
        {"blk.0.attn_output.weight", 2, 4096, 4096, Q4K},
        {"blk.0.ffn_gate.weight", 2, 4096, 14336, Q4K},
        {"blk.0.ffn_up.weight", 2, 4096, 14336, Q4K},
        {"blk.3.cross_attn_v_proj.weight", 2, 4096, 1024, Q4K}, /* not "attn_v.weight": llama.cpp's rule */
        {"blk.3.cross_attn_q_norm.weight", 1, 128, 1, F32},
        {"blk.3.cross_attn_attn_gate", 1, 1, 1, F32},
        {"blk.0.attn_norm.weight", 1, 4096, 1, F32},
        {"v.blk.0.attn_q.weight", 2, 1280, 1280, F16},
        {"v.patch_embd.weight", 4, 14, 14, F16},
        {"v.position_embd.weight", 2, 1280, 1601, F16},
        {"v.blk.0.ln1.bias", 1, 1280, 1, F32},
        {"mm.0.weight", 2, 7680, 4096, F16},
        {"mm.0.bias", 1, 4096, 1, F32},
        /* rows not whole 256-blocks: Q8_0, else F16 */
        {"blk.1.attn_q.weight", 2, 96, 96, Q8},
        {"blk.0.ffn_down.weight", 2, 160, 64, Q8},
        {"output.weight", 2, 96, 300, Q8},
        {"blk.1.ffn_up.weight", 2, 40, 64, F16},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int got = ptype(&km, cases[i].name, cases[i].n_dims, cases[i].ne0, cases[i].ne1);
        CHECK_MSG(got == cases[i].want, "q4_k_m %s: %s, want %s", cases[i].name, llv_type_name((llv_type)got),
                  llv_type_name((llv_type)cases[i].want));
    }
    /* tied embeddings: token_embd plays output's role */
    llv_quant_policy tied = {.target = LLV_TYPE_Q4_K_M, .n_layer = 16, .has_output = false};
    CHECK_EQ_I(ptype(&tied, "token_embd.weight", 2, 2048, 128256), Q6K);
    /* single-type targets */
    llv_quant_policy q8 = {.target = LLV_TYPE_Q8_0, .n_layer = 40, .has_output = true};
    llv_quant_policy q40 = {.target = LLV_TYPE_Q4_0, .n_layer = 40, .has_output = true};
    llv_quant_policy q6 = {.target = LLV_TYPE_Q6_K, .n_layer = 40, .has_output = true};
    llv_quant_policy f16 = {.target = LLV_TYPE_F16, .n_layer = 40, .has_output = true};
    llv_quant_policy bf16 = {.target = LLV_TYPE_BF16, .n_layer = 40, .has_output = true};
    CHECK_EQ_I(ptype(&q8, "output.weight", 2, 4096, 1000), Q8);
    CHECK_EQ_I(ptype(&q8, "blk.0.attn_v.weight", 2, 4096, 1024), Q8);
    CHECK_EQ_I(ptype(&q8, "v.blk.0.attn_q.weight", 2, 1280, 1280), F16);
    CHECK_EQ_I(ptype(&q8, "blk.0.attn_q.weight", 2, 40, 40), F16);
    CHECK_EQ_I(ptype(&q40, "blk.0.attn_v.weight", 2, 4096, 1024), LLV_TYPE_Q4_0);
    CHECK_EQ_I(ptype(&q40, "blk.0.attn_v.weight", 2, 96, 96), LLV_TYPE_Q4_0);
    CHECK_EQ_I(ptype(&q40, "output.weight", 2, 4096, 1000), Q6K);
    /* Q4_1 / Q5_0 / Q5_1 targets as Q4_0: that type for the text weights, output.weight Q6_K (Q8_0 for
     * rows that are no multiple of 256), F16 for rows that are no multiple of 32 */
    static const llv_type legacy[] = {LLV_TYPE_Q4_1, LLV_TYPE_Q5_0, LLV_TYPE_Q5_1};
    for (int i = 0; i < 3; i++) {
        llv_quant_policy pl = {.target = legacy[i], .n_layer = 40, .has_output = true};
        CHECK_EQ_I(ptype(&pl, "blk.0.attn_v.weight", 2, 4096, 1024), legacy[i]);
        CHECK_EQ_I(ptype(&pl, "blk.10.ffn_down.weight", 2, 14336, 4096), legacy[i]);
        CHECK_EQ_I(ptype(&pl, "blk.0.attn_q.weight", 2, 96, 96), legacy[i]);
        CHECK_EQ_I(ptype(&pl, "blk.0.attn_q.weight", 2, 40, 40), F16);
        CHECK_EQ_I(ptype(&pl, "output.weight", 2, 4096, 1000), Q6K);
        CHECK_EQ_I(ptype(&pl, "output.weight", 2, 96, 1000), Q8);
        CHECK_EQ_I(ptype(&pl, "v.blk.0.attn_q.weight", 2, 1280, 1280), F16);
        CHECK_EQ_I(ptype(&pl, "blk.0.attn_norm.weight", 1, 4096, 1), F32);
        CHECK(llv_quant_target_valid(legacy[i]) && llv_quant_type_is_quantized(legacy[i]));
    }
    CHECK(!llv_quant_target_valid((llv_type)9) && !llv_quant_type_is_quantized(9)); /* Q8_1 */
    CHECK_EQ_I(ptype(&q6, "blk.2.ffn_down.weight", 2, 14336, 4096), Q6K);
    /* the plain K-quant targets: that type for every text weight but output.weight (Q6_K) */
    static const llv_type plain[] = {LLV_TYPE_Q2_K, LLV_TYPE_Q3_K, LLV_TYPE_Q5_K};
    for (int i = 0; i < 3; i++) {
        llv_quant_policy pk = {.target = plain[i], .n_layer = 40, .has_output = true};
        CHECK(llv_quant_target_valid(plain[i]) && llv_quant_type_is_quantized(plain[i]));
        CHECK_EQ_I(ptype(&pk, "blk.0.attn_v.weight", 2, 4096, 1024), plain[i]);
        CHECK_EQ_I(ptype(&pk, "blk.10.ffn_down.weight", 2, 14336, 4096), plain[i]);
        CHECK_EQ_I(ptype(&pk, "token_embd.weight", 2, 4096, 128264), plain[i]);
        CHECK_EQ_I(ptype(&pk, "output.weight", 2, 4096, 128256), Q6K);
        CHECK_EQ_I(ptype(&pk, "blk.0.attn_q.weight", 2, 40, 96), F16);
        CHECK_EQ_I(ptype(&pk, "blk.0.attn_q.weight", 2, 96, 96), Q8);
        CHECK_EQ_I(ptype(&pk, "v.blk.0.attn_q.weight", 2, 1280, 1280), F16);
    }
    CHECK_EQ_I(ptype(&f16, "v.blk.0.attn_q.weight", 2, 1280, 1280), F16);
    CHECK_EQ_I(ptype(&bf16, "blk.0.attn_q.weight", 2, 40, 40), LLV_TYPE_BF16);
    CHECK_EQ_I(ptype(&bf16, "blk.0.attn_norm.weight", 1, 40, 1), F32);
    CHECK_EQ_I(llv_quant_file_type(LLV_TYPE_Q4_K_M), 15);
    CHECK_EQ_I(llv_quant_file_type(LLV_TYPE_Q8_0), 7);
    CHECK_EQ_I(llv_quant_file_type(LLV_TYPE_Q4_0), 2);
    CHECK_EQ_I(llv_quant_file_type(LLV_TYPE_Q4_1), 3); /* LLAMA_FTYPE_MOSTLY_Q4_1 */
    CHECK_EQ_I(llv_quant_file_type(LLV_TYPE_Q5_0), 8); /* LLAMA_FTYPE_MOSTLY_Q5_0 */
    CHECK_EQ_I(llv_quant_file_type(LLV_TYPE_Q5_1), 9); /* LLAMA_FTYPE_MOSTLY_Q5_1 */
    CHECK_EQ_I(llv_quant_file_type(LLV_TYPE_Q6_K), 18);
    CHECK_EQ_I(llv_quant_file_type(LLV_TYPE_Q2_K), 10);
    CHECK_EQ_I(llv_quant_file_type(LLV_TYPE_Q3_K), 11);
    CHECK_EQ_I(llv_quant_file_type(LLV_TYPE_Q5_K), 16);
    CHECK_EQ_I(llv_quant_file_type(LLV_TYPE_F16), 1);
    CHECK_EQ_I(llv_quant_file_type(LLV_TYPE_BF16), 32);
    CHECK_EQ_I(llv_quant_file_type(LLV_TYPE_F32), 0);
}

/* --- llv_quantize on llv-synth files --- */

/* Checks out against in: every KV kept, ftype keys, tensors in order with the
 * policy's types, same-type tensors bit-equal, the rest within RMSE bounds. */
static void check_quantized(const char *in_path, const char *out_path, llv_type target, uint32_t ftype) {
    llv_gguf *gi = NULL, *go = NULL;
    llv_error err = {0};
    CHECK_OK(llv_gguf_open(in_path, &gi, &err), &err);
    CHECK_OK(llv_gguf_open(out_path, &go, &err), &err);
    if (!gi || !go) goto done;
    for (int64_t i = 0; i < llv_gguf_n_kv(gi); i++)
        CHECK_MSG(llv_gguf_find_key(go, llv_gguf_key(gi, i)) >= 0, "key %s kept", llv_gguf_key(gi, i));
    uint32_t ft = 99, qv = 0;
    CHECK_OK(llv_gguf_get_u32(go, "general.file_type", &ft, &err), &err);
    CHECK_OK(llv_gguf_get_u32(go, "general.quantization_version", &qv, &err), &err);
    CHECK_EQ_I(ft, ftype);
    CHECK_EQ_I(qv, 2);
    int64_t blocks = 0;
    CHECK_OK(llv_gguf_get_i64(gi, "mllama.block_count", &blocks, &err), &err);
    llv_quant_policy pol = {
        .target = target, .n_layer = blocks, .has_output = llv_gguf_find_tensor(gi, "output.weight") != NULL};
    for (int64_t i = 0; i < llv_gguf_n_tensors(gi); i++) llv_quant_policy_note(&pol, llv_gguf_tensor(gi, i)->name);
    CHECK_EQ_I(llv_gguf_n_tensors(go), llv_gguf_n_tensors(gi));
    const llv_kernels *k = llv_kernels_ref();
    int bad_type = 0, bad_copy = 0, bad_err = 0, n_quant = 0;
    for (int64_t i = 0; i < llv_gguf_n_tensors(gi) && i < llv_gguf_n_tensors(go); i++) {
        const llv_tensor *a = llv_gguf_tensor(gi, i), *b = llv_gguf_tensor(go, i);
        CHECK(strcmp(a->name, b->name) == 0 && a->n_dims == b->n_dims && a->ne[0] == b->ne[0] && a->ne[1] == b->ne[1]);
        int want = llv_quant_tensor_type(&pol, a->name, a->n_dims, a->ne);
        if ((int)b->type != want) {
            if (bad_type++ < 5) printf("  %s: %s, want %s\n", a->name, llv_type_name(b->type), llv_type_name((llv_type)want));
            continue;
        }
        if (a->type == b->type) {
            bad_copy += a->nbytes != b->nbytes || memcmp(a->data, b->data, a->nbytes) != 0;
            continue;
        }
        int64_t n = a->ne[0] * llv_tensor_rows(a);
        float *fa = malloc((size_t)n * 4), *fb = malloc((size_t)n * 4);
        k->to_f32[a->type](a->data, fa, n);
        k->to_f32[b->type](b->data, fb, n);
        double se = 0, ss = 0;
        for (int64_t e = 0; e < n; e++) {
            se += ((double)fa[e] - fb[e]) * ((double)fa[e] - fb[e]);
            ss += (double)fa[e] * fa[e];
        }
        double lim = b->type == LLV_TYPE_Q8_0                                 ? 0.01
                     : b->type == LLV_TYPE_Q6_K                               ? 0.03
                     : b->type == LLV_TYPE_Q5_K                               ? 0.05
                     : b->type == LLV_TYPE_Q5_0 || b->type == LLV_TYPE_Q5_1 ? 0.06
                     : b->type == LLV_TYPE_Q3_K                               ? 0.2
                     : b->type == LLV_TYPE_Q2_K                               ? 0.36
                                                                              : 0.12;
        if (llv_quant_type_is_quantized((int)b->type)) n_quant++;
        if (!(sqrt(se / (ss > 0 ? ss : 1)) < (b->type == LLV_TYPE_F16 || b->type == LLV_TYPE_BF16 ? 0.005 : lim))) {
            if (bad_err++ < 5) printf("  %s: relative RMSE %g\n", a->name, sqrt(se / ss));
        }
        free(fa);
        free(fb);
    }
    CHECK_EQ_I(bad_type, 0);
    CHECK_EQ_I(bad_copy, 0);
    CHECK_EQ_I(bad_err, 0);
    CHECK(n_quant > 0);
done:
    llv_gguf_close(gi);
    llv_gguf_close(go);
}

static bool progress_cb(const char *what, float f, void *user) {
    float *last = user;
    if (*last == -2) return false;
    CHECK(strcmp(what, "quantize") == 0 && f >= *last && f <= 1.0f);
    *last = f;
    return true;
}

static void test_quantize_file(void) {
    char *tmp = llv_test_tmpdir();
    CHECK(tmp != NULL);
    if (!tmp) return;
    char *f32 = llv_test_path(tmp, "tiny-f32.gguf"), *f16 = llv_test_path(tmp, "tiny-f16.gguf");
    char *out = llv_test_path(tmp, "out.gguf");
    llv_error err = {0};
    llv_synth_params sp = llv_synth_default_params();
    sp.preset = "demo"; /* ffn_down rows of 256: some real K-quant blocks */
    CHECK_OK(llv_synth(f32, &sp, &err), &err);
    sp.type = LLV_TYPE_F16;
    CHECK_OK(llv_synth(f16, &sp, &err), &err);

    static const struct { llv_type t; uint32_t ftype; } cases[] = {
        {LLV_TYPE_Q4_K_M, 15}, {LLV_TYPE_Q8_0, 7}, {LLV_TYPE_Q4_0, 2}, {LLV_TYPE_Q4_1, 3}, {LLV_TYPE_Q5_0, 8},
        {LLV_TYPE_Q5_1, 9},    {LLV_TYPE_Q6_K, 18}, {LLV_TYPE_Q4_K, 14}, {LLV_TYPE_Q2_K, 10}, {LLV_TYPE_Q3_K, 11},
        {LLV_TYPE_Q5_K, 16},   {LLV_TYPE_F16, 1}, {LLV_TYPE_BF16, 32}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        for (int src = 0; src < 2; src++) {
            const char *in = src ? f16 : f32;
            llv_status s = llv_quantize(in, out, cases[i].t, NULL, &err);
            CHECK_MSG(s == LLV_OK, "quantize %s from %s: %s", llv_type_name(cases[i].t), src ? "f16" : "f32",
                      err.message);
            if (s != LLV_OK) continue;
            if (cases[i].t != LLV_TYPE_F16 && cases[i].t != LLV_TYPE_BF16) check_quantized(in, out, cases[i].t, cases[i].ftype);
            llv_model *m = NULL;
            CHECK_OK(llv_model_load(out, NULL, &m, &err), &err);
            if (m) {
                llv_model_info info;
                llv_model_get_info(m, &info);
                printf("  %s from %s: predominant text type %s\n", llv_type_name(cases[i].t), src ? "f16" : "f32",
                       llv_type_name(info.weight_type));
                llv_model_free(m);
            }
        }
    }
    /* progress reaches 1 and can cancel */
    llv_convert_params cp = llv_convert_default_params();
    float last = -1;
    cp.progress = progress_cb;
    cp.progress_user = &last;
    CHECK_OK(llv_quantize(f32, out, LLV_TYPE_Q4_0, &cp, &err), &err);
    CHECK(last == 1.0f);
    last = -2; /* cancel at the first call */
    CHECK_STATUS(llv_quantize(f32, out, LLV_TYPE_Q4_0, &cp, &err), LLV_ERR_CANCELLED, &err);
    CHECK_STATUS(llv_quantize(f32, out, (llv_type)9, NULL, &err), LLV_ERR_INVALID_ARGUMENT, &err);
    CHECK_STATUS(llv_quantize(f32, out, LLV_TYPE_Q4_K_M, NULL, &err), LLV_OK, &err);
    CHECK(llv_quantize(out, out, LLV_TYPE_Q8_0, NULL, &err) == LLV_OK); /* requantize in place: via temp + rename */
    char *missing = llv_test_path(tmp, "missing.gguf"), *baddir = llv_test_path(tmp, "no/such/dir/x.gguf");
    CHECK(llv_quantize(missing, out, LLV_TYPE_Q8_0, NULL, &err) != LLV_OK);
    CHECK(llv_quantize(f32, baddir, LLV_TYPE_Q8_0, NULL, &err) != LLV_OK);
    CHECK(llv_quantize(NULL, out, LLV_TYPE_Q8_0, NULL, &err) == LLV_ERR_INVALID_ARGUMENT);
    unlink(f32);
    unlink(f16);
    unlink(out);
    rmdir(tmp);
    free(f32);
    free(f16);
    free(out);
    free(missing);
    free(baddir);
    free(tmp);
}

/* llv_convert straight to a quantized type writes the same bytes as
 * llv_convert to F32 followed by llv_quantize (same policy, same encoder). */
static void test_convert_quantized(void) {
    char *tmp = llv_test_tmpdir();
    CHECK(tmp != NULL);
    if (!tmp) return;
    char *hf = llv_test_path(tmp, "hf"), *f32 = llv_test_path(tmp, "f32.gguf");
    char *a = llv_test_path(tmp, "a.gguf"), *b = llv_test_path(tmp, "b.gguf");
    llv_error err = {0};
    llv_synth_params sp = llv_synth_default_params();
    sp.preset = "demo";
    sp.hf_dir = true;
    CHECK_OK(llv_synth(hf, &sp, &err), &err);
    llv_convert_params cp = llv_convert_default_params();
    cp.type = LLV_TYPE_F32;
    CHECK_OK(llv_convert(hf, f32, &cp, &err), &err);
    static const llv_type ts[] = {LLV_TYPE_Q4_K_M, LLV_TYPE_Q8_0, LLV_TYPE_Q4_0, LLV_TYPE_Q4_1, LLV_TYPE_Q5_0,
                                  LLV_TYPE_Q5_1,   LLV_TYPE_Q6_K, LLV_TYPE_Q2_K, LLV_TYPE_Q3_K, LLV_TYPE_Q5_K};
    for (size_t i = 0; i < sizeof ts / sizeof ts[0]; i++) {
        cp.type = ts[i];
        CHECK_OK(llv_convert(hf, a, &cp, &err), &err);
        CHECK_OK(llv_quantize(f32, b, ts[i], NULL, &err), &err);
        size_t na = 0, nb = 0;
        char *da = llv_test_read_file(a, &na), *db = llv_test_read_file(b, &nb);
        CHECK_MSG(da && db && na == nb && memcmp(da, db, na) == 0, "%s: convert == convert f32 + quantize (%zu vs %zu bytes)",
                  llv_type_name(ts[i]), na, nb);
        free(da);
        free(db);
        llv_model *m = NULL;
        CHECK_OK(llv_model_load(a, NULL, &m, &err), &err);
        llv_model_free(m);
    }
    cp.type = (llv_type)9;
    CHECK_STATUS(llv_convert(hf, a, &cp, &err), LLV_ERR_UNSUPPORTED, &err);
    unlink(f32);
    unlink(a);
    unlink(b);
    char cmd[1200];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmp);
    CHECK(system(cmd) == 0);
    free(hf);
    free(f32);
    free(a);
    free(b);
    free(tmp);
}

/* Rows longer than llv_quantize's 1M-element pieces (the 11B tile position
 * embedding has 8.2M-element rows) are split and reassembled correctly. */
static void test_long_rows(void) {
    char *tmp = llv_test_tmpdir();
    CHECK(tmp != NULL);
    if (!tmp) return;
    char *in = llv_test_path(tmp, "in.gguf"), *out = llv_test_path(tmp, "out.gguf");
    const int64_t ne_a[2] = {(int64_t)2621440 + 256, 3}, ne_b[2] = {(int64_t)1048576 * 3, 2};
    llv_error err = {0};
    llv_gguf_writer *w = NULL;
    CHECK_OK(llv_gguf_writer_create(&w, &err), &err);
    if (!w) return;
    CHECK_OK(llv_gguf_set_str(w, "general.architecture", "llama", &err), &err);
    CHECK_OK(llv_gguf_add_tensor(w, "blk.0.ffn_up.weight", LLV_TYPE_F32, 2, ne_a, &err), &err);
    CHECK_OK(llv_gguf_add_tensor(w, "v.tile_position_embd.weight", LLV_TYPE_F32, 2, ne_b, &err), &err);
    CHECK_OK(llv_gguf_writer_begin(w, in, &err), &err);
    int64_t na = ne_a[0] * ne_a[1], nb = ne_b[0] * ne_b[1];
    float *a = malloc((size_t)na * 4), *b = malloc((size_t)nb * 4), *y = malloc((size_t)na * 4);
    for (int64_t i = 0; i < na; i++) a[i] = grand();
    for (int64_t i = 0; i < nb; i++) b[i] = grand();
    CHECK_OK(llv_gguf_writer_write(w, a, (size_t)na * 4, &err), &err);
    CHECK_OK(llv_gguf_writer_write(w, b, (size_t)nb * 4, &err), &err);
    CHECK_OK(llv_gguf_writer_finish(w, &err), &err);
    llv_gguf_writer_free(w);
    CHECK_OK(llv_quantize(in, out, LLV_TYPE_Q4_K, NULL, &err), &err);
    llv_gguf *g = NULL;
    CHECK_OK(llv_gguf_open(out, &g, &err), &err);
    const llv_kernels *k = llv_kernels_ref();
    if (g) {
        const llv_tensor *ta = llv_gguf_find_tensor(g, "blk.0.ffn_up.weight");
        const llv_tensor *tb = llv_gguf_find_tensor(g, "v.tile_position_embd.weight");
        CHECK(ta && tb && ta->type == LLV_TYPE_Q4_K && tb->type == LLV_TYPE_F16);
        if (ta && tb && ta->type == LLV_TYPE_Q4_K && tb->type == LLV_TYPE_F16) {
            /* each row must equal quantizing that row alone */
            size_t rb;
            CHECK(llv_type_row_bytes(LLV_TYPE_Q4_K, ne_a[0], &rb));
            uint8_t *q = malloc(rb);
            int bad = 0;
            for (int64_t r = 0; r < ne_a[1]; r++) {
                k->from_f32[LLV_TYPE_Q4_K](a + r * ne_a[0], q, ne_a[0]);
                bad += memcmp(q, (const uint8_t *)ta->data + (size_t)r * rb, rb) != 0;
            }
            CHECK_EQ_I(bad, 0);
            free(q);
            k->to_f32[LLV_TYPE_F16](tb->data, y, nb);
            int bad16 = 0;
            for (int64_t i = 0; i < nb; i++) bad16 += y[i] != llv_f16_to_f32(llv_f32_to_f16(b[i]));
            CHECK_EQ_I(bad16, 0);
        }
        llv_gguf_close(g);
    }
    free(a);
    free(b);
    free(y);
    unlink(in);
    unlink(out);
    rmdir(tmp);
    free(in);
    free(out);
    free(tmp);
}

/* llv-quantize's exit codes (0 ok, 1 failure, 2 usage), when ctest gives the bin dir. */
static int run_cmd(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int run_cmd(const char *fmt, ...) {
    char cmd[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    int rc = system(cmd);
    return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

static void test_cli(void) {
    const char *bin = getenv("LLV_BIN_DIR");
    if (!bin) {
        printf("  (LLV_BIN_DIR unset: skipped)\n");
        return;
    }
    char *tool = llv_test_path(bin, "llv-quantize"), *tmp = llv_test_tmpdir();
    char *in = llv_test_path(tmp, "in.gguf"), *out = llv_test_path(tmp, "out.gguf");
    llv_error err = {0};
    llv_synth_params sp = llv_synth_default_params();
    CHECK_OK(llv_synth(in, &sp, &err), &err);
    CHECK_EQ_I(run_cmd("'%s' '%s' '%s' q4_k_m 2>/dev/null", tool, in, out), 0);
    llv_gguf *g = NULL;
    CHECK_OK(llv_gguf_open(out, &g, &err), &err);
    uint32_t ft = 0;
    if (g) CHECK_OK(llv_gguf_get_u32(g, "general.file_type", &ft, &err), &err);
    CHECK_EQ_I(ft, 15);
    llv_gguf_close(g);
    CHECK_EQ_I(run_cmd("'%s' '%s' '%s' iq4_xs 2>/dev/null", tool, in, out), 2);
    CHECK_EQ_I(run_cmd("'%s' '%s' 2>/dev/null", tool, in), 2);
    CHECK_EQ_I(run_cmd("'%s' '%s' '%s' q8_0 --quiet 2>/dev/null", tool, out, in), 0); /* requantize */
    CHECK_EQ_I(run_cmd("'%s' '%s/missing.gguf' '%s' q8_0 2>/dev/null", tool, tmp, out), 1);
    CHECK_EQ_I(run_cmd("'%s' --help >/dev/null", tool), 0);
    unlink(in);
    unlink(out);
    rmdir(tmp);
    free(tool);
    free(tmp);
    free(in);
    free(out);
}
