/* quant-zmm.h - AVX-512 register tiles for the quantized matmul, included by
 * quant-impl.h in place of its 256-bit tiles when QZMM is defined. Two
 * 32-value blocks (or 64 values of a K-quant super-block) per 512-bit
 * register: half the instructions of the 256-bit tiles, which matters on
 * cores with full-width 512-bit units. Each tile documents its lane layout
 * (Q8_0: even / odd block in lanes 0-7 / 8-15; Q4_0, Q4_1, Q5_0, Q5_1: 4
 * lanes per block of a 4-block group; Q4_K/Q6_K: 16 lanes folded exactly to 8
 * per output, two outputs per float register); lanes accumulate in block
 * order and are reduced by one fixed tree, so the order still depends only on
 * K. The 32-value types' tiles take QNR32 weight rows (their per-block float
 * work per output is
 * larger, so wider tiles pay), the K-quants QMRK x 2. Decode (M <= DEC_MR)
 * takes one weight row at a time (QROW_* below), with the same arithmetic
 * per output. */

/* Batched tiles (many instructions per weight line) prefetch the same block
 * of their rows about 16 KiB ahead for the K-quants, the next tile for
 * Q4_0/Q8_0; decode: DEC_PF in quant-impl.h. */
QI size_t kpf_dist(int nrc, size_t rb) {
    const size_t t = (size_t)nrc * rb;
    return (16384 + t - 1) / t * t;
}

QI float hsum16q(__m512 v) {
    __m256 a = _mm256_add_ps(_mm512_castps512_ps256(v), _mm512_extractf32x8_ps(v, 1));
    __m128 b = _mm_add_ps(_mm256_castps256_ps128(a), _mm256_extractf128_ps(a, 1));
    __m128 c = _mm_add_ps(b, _mm_movehl_ps(b, b));
    return _mm_cvtss_f32(_mm_add_ss(c, _mm_movehdup_ps(c)));
}

QI void store_tile16(int mr, __m512 acc[QMR][QNR], float *y, int64_t ldy, int nv) {
    for (int i = 0; i < mr; i++)
        for (int j = 0; j < QNR; j++)
            if (j < nv) y[i * ldy + j] = hsum16q(acc[i][j]);
}

/* [x0 x8, x1 x8] from two floats (x1 ignored, 0, when !two) */
QI __m512 pair_ps(float x0, float x1) {
    return _mm512_insertf32x8(_mm512_set1_ps(x0), _mm256_set1_ps(x1), 1);
}

/* Q4_0 activations for the tile below: per group of 4 blocks (128 values)
 * the first 16 values of each block ([0, 64): the low nibbles' partners)
 * then the last 16 of each ([64, 128)); rows padded with zero blocks to a
 * multiple of 4 blocks (the row stride b->K is K rounded up to 128). The
 * per-block terms as quant_rows_32_impl's: off * sum(q), or d * sum(q). */
QI void quant_rows_40_impl(const float *x, int64_t ldx, int mr, int64_t K, xq_buf *b, int off, bool xm) {
    const int64_t nb = K / 32, nbp = b->K / 32;
    for (int i = 0; i < mr; i++) {
        const float *xr = x + i * ldx;
        int8_t *qs = XQ_QS(b, i);
        for (int64_t k = 0; k < nb; k++) {
            float amax = amax32(xr + 32 * k);
            float d = amax / 127.0f, id = amax > 0.0f ? 127.0f / amax : 0.0f;
            __m256i sum;
            _Alignas(32) int8_t t[32];
            quant32(xr + 32 * k, id, t, &sum);
            int8_t *g = qs + 128 * (k / 4) + 16 * (k % 4);
            memcpy(g, t, 16);
            memcpy(g + 64, t + 16, 16);
            const int32_t s = hsum8i(sum);
            XQ_D(b, i)[k] = d;
            if (xm) XQ_XM(b, i)[k] = d * (float)s;
            else XQ_S8(b, i)[k] = off * s;
        }
        for (int64_t k = nb; k < nbp; k++) {
            int8_t *g = qs + 128 * (k / 4) + 16 * (k % 4);
            memset(g, 0, 16);
            memset(g + 64, 0, 16);
            XQ_D(b, i)[k] = 0.0f;
            if (xm) XQ_XM(b, i)[k] = 0.0f;
            else XQ_S8(b, i)[k] = 0;
        }
    }
}

static void quant_rows_40(const float *x, int64_t ldx, int mr, int64_t K, xq_buf *b) {
    quant_rows_40_impl(x, ldx, mr, K, b, -8, false);
}
static void quant_rows_40h(const float *x, int64_t ldx, int mr, int64_t K, xq_buf *b) {
    quant_rows_40_impl(x, ldx, mr, K, b, -16, false);
}
static void quant_rows_40m(const float *x, int64_t ldx, int mr, int64_t K, xq_buf *b) {
    quant_rows_40_impl(x, ldx, mr, K, b, 0, true);
}

/* Four blocks (128 values) per step: the 4 x 16 packed bytes in one
 * register give the low nibbles (values 0-15 of each block) and the high
 * ones (16-31), against the two halves of quant_rows_40's group; int32 lanes
 * 4k..4k+3 hold block k. A last partial group loads only its blocks. */
QI void tile_q4_0_n(int mr, int nrc, size_t pfd, const xq_buf *xb, const unsigned char *w, size_t rb, int64_t K, float *y,
                    int64_t ldy, int nv) {
    const unsigned char *wr[QNR32];
    for (int j = 0; j < nrc; j++) wr[j] = w + (size_t)(j < nv ? j : nv - 1) * rb;
    __m512 acc[QMR][QNR32];
    for (int i = 0; i < mr; i++)
        for (int j = 0; j < nrc; j++) acc[i][j] = _mm512_setzero_ps();
    const __m512i lo4 = _mm512_set1_epi8(0x0f);
    /* the fp16 d of blocks 0-3 (words 0, 9, 18, 27 of the 72-byte group), each 4 times */
    const __m512i widx = _mm512_setr_epi32(0, 0, 0x00090009, 0x00090009, 0x00120012, 0x00120012, 0x001b001b,
                                           0x001b001b, 0, 0, 0, 0, 0, 0, 0, 0);
    const __m512i didx = _mm512_setr_epi32(0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3);
    const int64_t nb = K / 32;
    for (int64_t g = 0; g < nb; g += 4) {
        const int nt = nb - g < 4 ? (int)(nb - g) : 4;
        __m512i lo[QNR32], hi[QNR32];
        __m512 dw[QNR32];
        for (int j = 0; j < nrc; j++) {
            const unsigned char *p = wr[j] + (size_t)g * sizeof(x86_block_q4_0);
            _mm_prefetch((const char *)p + pfd, _MM_HINT_T0);
            _mm_prefetch((const char *)p + pfd + 64, _MM_HINT_T0);
            __m512i a, q;
            if (nt == 4) {
                a = _mm512_loadu_si512((const void *)p);
                q = _mm512_castsi128_si512(_mm_loadu_si128((const __m128i *)(const void *)(p + 2)));
                q = _mm512_inserti32x4(q, _mm_loadu_si128((const __m128i *)(const void *)(p + 20)), 1);
                q = _mm512_inserti32x4(q, _mm_loadu_si128((const __m128i *)(const void *)(p + 38)), 2);
                q = _mm512_inserti32x4(q, _mm_loadu_si128((const __m128i *)(const void *)(p + 56)), 3);
            } else {
                a = _mm512_maskz_loadu_epi8(((__mmask64)1 << (18 * nt)) - 1, p);
                q = _mm512_castsi128_si512(_mm_loadu_si128((const __m128i *)(const void *)(p + 2)));
                if (nt > 1) q = _mm512_inserti32x4(q, _mm_loadu_si128((const __m128i *)(const void *)(p + 20)), 1);
                else q = _mm512_zextsi128_si512(_mm512_castsi512_si128(q));
                if (nt > 2) q = _mm512_inserti32x4(q, _mm_loadu_si128((const __m128i *)(const void *)(p + 38)), 2);
                else q = _mm512_inserti32x4(q, _mm_setzero_si128(), 2);
                q = _mm512_inserti32x4(q, _mm_setzero_si128(), 3);
            }
            dw[j] = _mm512_cvtph_ps(_mm512_castsi512_si256(_mm512_permutexvar_epi16(widx, a)));
            lo[j] = _mm512_and_si512(q, lo4);
            hi[j] = _mm512_and_si512(_mm512_srli_epi16(q, 4), lo4);
        }
        for (int i = 0; i < mr; i++) {
            const int8_t *xq = XQ_QS(xb, i) + 32 * g;
            __m512i xl = _mm512_loadu_si512((const void *)xq), xh = _mm512_loadu_si512((const void *)(xq + 64));
            __m512 da = _mm512_permutexvar_ps(didx, _mm512_castps128_ps512(_mm_loadu_ps(XQ_D(xb, i) + g)));
            __m512i off = _mm512_maskz_permutexvar_epi32(
                0x1111, didx, _mm512_castsi128_si512(_mm_loadu_si128((const __m128i *)(const void *)(XQ_S8(xb, i) + g))));
            for (int j = 0; j < nrc; j++) {
                __m512i sm = _mm512_dpbusd_epi32(_mm512_dpbusd_epi32(off, lo[j], xl), hi[j], xh); /* sum (q - 8) * a */
                acc[i][j] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(sm), _mm512_mul_ps(dw[j], da), acc[i][j]);
            }
        }
    }
    for (int i = 0; i < mr; i++)
        for (int j = 0; j < nrc; j++)
            if (j < nv) y[i * ldy + j] = hsum16q(acc[i][j]);
}
QI void tile_q4_0(int mr, const xq_buf *xb, const unsigned char *w, size_t rb, int64_t K, float *y, int64_t ldy, int nv) {
    tile_q4_0_n(mr, QNR32, QNR32 * rb, xb, w, rb, K, y, ldy, nv);
}
#define Q40_QUANT quant_rows_40, 128
#define Q50_QUANT quant_rows_40h, 128
#define QMIN_QUANT quant_rows_40m, 128

/* Q4_1, Q5_0, Q5_1 (t) as tile_q4_0_n, against the same activation layout:
 * four blocks per step, int32 lanes 4k..4k+3 holding block k. One word
 * permute of the 80-96-byte group (its first 64 bytes and bytes 64-79) gives
 * [d0 x 4 .. d3 x 4 | m0..m3, -, qh halves]: Q5's 5th bits are added to the
 * nibble bytes by masks that a byte shuffle and bit test make of the qh bits
 * 0-15 (low nibbles) and 16-31 (high nibbles) of the four blocks; Q5_0's
 * offset -16*sum(q) starts lane 4k's int32 sum; Q4_1/Q5_1's min term
 * m * d*sum(q) of block k is added to float lane k (any fixed lane would do).
 * A last partial group is copied into a zeroed one (zero blocks add 0: their
 * activations are 0 too). */
QI void tile_q32_n(const int t, int mr, int nrc, size_t pfd, const xq_buf *xb, const unsigned char *w, size_t rb,
                   int64_t K, float *y, int64_t ldy, int nv) {
    const size_t bsz = Q32_BYTES(t);
    const bool has_m = t != LLV_TYPE_Q5_0, has_h = t != LLV_TYPE_Q4_1;
    const unsigned char *wr[QNR32];
    for (int j = 0; j < nrc; j++) wr[j] = w + (size_t)(j < nv ? j : nv - 1) * rb;
    __m512 acc[QMR][QNR32];
    for (int i = 0; i < mr; i++)
        for (int j = 0; j < nrc; j++) acc[i][j] = _mm512_setzero_ps();
    const __m512i lo4 = _mm512_set1_epi8(0x0f), bit4 = _mm512_set1_epi8(0x10);
    /* word indices (32 and up: the second source, bytes 64-79): d of block k is word k * s, m word k * s + 1, qh
     * bits 0-15 word k * s + h, bits 16-31 the next */
    const int s = (int)bsz / 2, h = Q32_QH(t) / 2, u = 0x10001;
    const __m512i widx = _mm512_setr_epi32(0, 0, s * u, s * u, 2 * s * u, 2 * s * u, 3 * s * u, 3 * s * u,
                                           1 | (s + 1) << 16, (2 * s + 1) | (3 * s + 1) << 16, 0, 0,
                                           h | (s + h) << 16, (2 * s + h) | (3 * s + h) << 16,
                                           (h + 1) | (s + h + 1) << 16, (2 * s + h + 1) | (3 * s + h + 1) << 16);
    /* byte j of lane k (block k's values j or 16 + j) takes qh byte 2k + j / 8 (+ 8: bits 16-31), tests bit j % 8 */
    const __m512i hsel = _mm512_set_epi64(0x0707070707070707ll, 0x0606060606060606ll, 0x0505050505050505ll,
                                          0x0404040404040404ll, 0x0303030303030303ll, 0x0202020202020202ll,
                                          0x0101010101010101ll, 0);
    const __m512i hbit = _mm512_set1_epi64((long long)0x8040201008040201ull);
    const __m512i didx = _mm512_setr_epi32(0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3);
    const int64_t nb = K / 32;
    for (int64_t g = 0; g < nb; g += 4) {
        const int nt = nb - g < 4 ? (int)(nb - g) : 4;
        __m512i lo[QNR32], hi[QNR32];
        __m512 dw[QNR32], mw[QNR32];
        for (int j = 0; j < nrc; j++) {
            const unsigned char *p = wr[j] + (size_t)g * bsz;
            _mm_prefetch((const char *)p + pfd, _MM_HINT_T0);
            _mm_prefetch((const char *)p + pfd + 64, _MM_HINT_T0);
            _Alignas(64) unsigned char part[4 * 24];
            if (nt < 4) {
                memset(part, 0, sizeof part);
                memcpy(part, p, (size_t)nt * bsz);
                p = part;
            }
            const unsigned char *qs = p + Q32_QS(t);
            __m512i q = _mm512_castsi128_si512(_mm_loadu_si128((const __m128i *)(const void *)qs));
            q = _mm512_inserti32x4(q, _mm_loadu_si128((const __m128i *)(const void *)(qs + bsz)), 1);
            q = _mm512_inserti32x4(q, _mm_loadu_si128((const __m128i *)(const void *)(qs + 2 * bsz)), 2);
            q = _mm512_inserti32x4(q, _mm_loadu_si128((const __m128i *)(const void *)(qs + 3 * bsz)), 3);
            const __m512i a = _mm512_loadu_si512((const void *)p);
            const __m512i dm =
                t == LLV_TYPE_Q4_1
                    ? _mm512_permutexvar_epi16(widx, a)
                    : _mm512_permutex2var_epi16(
                          a, widx, _mm512_castsi128_si512(_mm_loadu_si128((const __m128i *)(const void *)(p + 64))));
            dw[j] = _mm512_cvtph_ps(_mm512_castsi512_si256(dm));
            mw[j] = has_m ? _mm512_zextps128_ps512(_mm_cvtph_ps(_mm512_extracti32x4_epi32(dm, 2))) /* m0..m3 */
                          : _mm512_setzero_ps();
            lo[j] = _mm512_and_si512(q, lo4);
            hi[j] = _mm512_and_si512(_mm512_srli_epi16(q, 4), lo4);
            if (has_h) {
                const __m512i qh = _mm512_shuffle_i32x4(dm, dm, _MM_SHUFFLE(3, 3, 3, 3)); /* the qh halves, 4 times */
                const __mmask64 ml = _mm512_test_epi8_mask(_mm512_shuffle_epi8(qh, hsel), hbit);
                const __mmask64 mh =
                    _mm512_test_epi8_mask(_mm512_shuffle_epi8(qh, _mm512_add_epi8(hsel, _mm512_set1_epi8(8))), hbit);
                lo[j] = _mm512_mask_add_epi8(lo[j], ml, lo[j], bit4);
                hi[j] = _mm512_mask_add_epi8(hi[j], mh, hi[j], bit4);
            }
        }
        for (int i = 0; i < mr; i++) {
            const int8_t *xq = XQ_QS(xb, i) + 32 * g;
            __m512i xl = _mm512_loadu_si512((const void *)xq), xh = _mm512_loadu_si512((const void *)(xq + 64));
            __m512 da = _mm512_permutexvar_ps(didx, _mm512_castps128_ps512(_mm_loadu_ps(XQ_D(xb, i) + g)));
            __m512i off = _mm512_setzero_si512();
            if (t == LLV_TYPE_Q5_0) {
                const __m128i o = _mm_loadu_si128((const __m128i *)(const void *)(XQ_S8(xb, i) + g));
                off = _mm512_maskz_permutexvar_epi32(0x1111, didx, _mm512_castsi128_si512(o));
            }
            __m512 xm = has_m ? _mm512_zextps128_ps512(_mm_loadu_ps(XQ_XM(xb, i) + g)) : _mm512_setzero_ps();
            for (int j = 0; j < nrc; j++) {
                __m512i sm = _mm512_dpbusd_epi32(_mm512_dpbusd_epi32(off, lo[j], xl), hi[j], xh);
                acc[i][j] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(sm), _mm512_mul_ps(dw[j], da), acc[i][j]);
                if (has_m) acc[i][j] = _mm512_mask3_fmadd_ps(mw[j], xm, acc[i][j], 0x000f);
            }
        }
    }
    for (int i = 0; i < mr; i++)
        for (int j = 0; j < nrc; j++)
            if (j < nv) y[i * ldy + j] = hsum16q(acc[i][j]);
}
Q32_TILES_N
#define Q32_TILE(T)                                                                                                  \
    QI void tile_##T(int mr, const xq_buf *xb, const unsigned char *w, size_t rb, int64_t K, float *y, int64_t ldy, \
                     int nv) {                                                                                       \
        tile_##T##_n(mr, QNR32, QNR32 * rb, xb, w, rb, K, y, ldy, nv);                                              \
    }
Q32_TILE(q4_1)
Q32_TILE(q5_0)
Q32_TILE(q5_1)

/* Q8_0 activations as u8 (q + 128) for vpdpbusd against the signed
 * weights; the weight rows' -128 * sum(w) per int32 lane starts each sum, so
 * every lane holds exactly sum(q * w). */
static void quant_rows_32u(const float *x, int64_t ldx, int mr, int64_t K, xq_buf *b) {
    quant_rows_32(x, ldx, mr, K, b);
    const __m512i flip = _mm512_set1_epi8((char)0x80);
    for (int i = 0; i < mr; i++) {
        int8_t *q = XQ_QS(b, i);
        int64_t k = 0;
        for (; k + 64 <= K; k += 64)
            _mm512_storeu_si512((void *)(q + k), _mm512_xor_si512(_mm512_loadu_si512((const void *)(q + k)), flip));
        for (; k < K; k++) q[k] = (int8_t)(q[k] ^ (int8_t)0x80);
    }
}
#define Q80_QUANT quant_rows_32u

/* Two blocks per register (lanes 0-7 the even block, 8-15 the odd), four
 * blocks per step where K allows: the four fp16 d of a 136-byte group by one
 * vpermt2w + cvtph. The same float operations in the same order either way. */
QI void q8_0_step(int mr, int nrc, const xq_buf *xb, int64_t b, bool two, const __m512i *wq, const __m512i *corr,
                  const __m512 *dw, __m512 acc[QMR][QNR32]) {
    for (int i = 0; i < mr; i++) {
        __m512i a = two ? _mm512_loadu_si512((const void *)(XQ_QS(xb, i) + 32 * b))
                        : _mm512_zextsi256_si512(_mm256_loadu_si256((const __m256i *)(const void *)(XQ_QS(xb, i) + 32 * b)));
        __m512 da = pair_ps(XQ_D(xb, i)[b], two ? XQ_D(xb, i)[b + 1] : 0.0f);
        for (int j = 0; j < nrc; j++) {
            __m512i s = _mm512_dpbusd_epi32(corr[j], a, wq[j]);
            acc[i][j] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(s), _mm512_mul_ps(dw[j], da), acc[i][j]);
        }
    }
}

/* -128 * the sum of each int32 lane's 4 weights */
QI __m512i q8_corr(__m512i w) {
    return _mm512_sub_epi32(_mm512_setzero_si512(),
                            _mm512_dpbusd_epi32(_mm512_setzero_si512(), _mm512_set1_epi8((char)0x80), w));
}

QI void tile_q8_0_n(int mr, int nrc, size_t pfd, const xq_buf *xb, const unsigned char *w, size_t rb, int64_t K, float *y,
                    int64_t ldy, int nv) {
    const unsigned char *wr[QNR32];
    for (int j = 0; j < nrc; j++) wr[j] = w + (size_t)(j < nv ? j : nv - 1) * rb;
    __m512 acc[QMR][QNR32];
    for (int i = 0; i < mr; i++)
        for (int j = 0; j < nrc; j++) acc[i][j] = _mm512_setzero_ps();
    /* words of the group's first 64 bytes (0-31) and next 64 (32-63): d0 = 0, d1 = 17, d2 = 34, d3 = 51,
     * as [d0 x 8, d1 x 8 | d2 x 8, d3 x 8] */
    const __m512i didx = _mm512_setr_epi32(0, 0, 0, 0, 0x00110011, 0x00110011, 0x00110011, 0x00110011, 0x00220022,
                                           0x00220022, 0x00220022, 0x00220022, 0x00330033, 0x00330033, 0x00330033,
                                           0x00330033);
    const int64_t nb = K / 32;
    int64_t b = 0;
    for (; b + 4 <= nb; b += 4) {
        __m512i wq0[QNR32], wq1[QNR32], c0[QNR32], c1[QNR32];
        __m512 dw0[QNR32], dw1[QNR32];
        for (int j = 0; j < nrc; j++) {
            const unsigned char *p = wr[j] + (size_t)b * sizeof(x86_block_q8_0);
            for (int l = 0; l < 3; l++) _mm_prefetch((const char *)p + pfd + 64 * l, _MM_HINT_T0);
            __m512i d = _mm512_permutex2var_epi16(_mm512_loadu_si512((const void *)p), didx,
                                                  _mm512_loadu_si512((const void *)(p + 64)));
            dw0[j] = _mm512_cvtph_ps(_mm512_castsi512_si256(d));
            dw1[j] = _mm512_cvtph_ps(_mm512_extracti64x4_epi64(d, 1));
            wq0[j] = _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_loadu_si256((const __m256i *)(const void *)(p + 2))),
                                        _mm256_loadu_si256((const __m256i *)(const void *)(p + 36)), 1);
            wq1[j] = _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_loadu_si256((const __m256i *)(const void *)(p + 70))),
                                        _mm256_loadu_si256((const __m256i *)(const void *)(p + 104)), 1);
            c0[j] = q8_corr(wq0[j]);
            c1[j] = q8_corr(wq1[j]);
        }
        q8_0_step(mr, nrc, xb, b, true, wq0, c0, dw0, acc);
        q8_0_step(mr, nrc, xb, b + 2, true, wq1, c1, dw1, acc);
    }
    for (; b < nb; b += 2) {
        const bool two = b + 1 < nb;
        __m512i wq[QNR32], c[QNR32];
        __m512 dw[QNR32];
        for (int j = 0; j < nrc; j++) {
            const x86_block_q8_0 *b0 = (const x86_block_q8_0 *)(const void *)wr[j] + b, *b1 = b0 + 1;
            __m256i v0 = _mm256_loadu_si256((const __m256i *)(const void *)b0->qs);
            __m256i v1 = two ? _mm256_loadu_si256((const __m256i *)(const void *)b1->qs) : _mm256_setzero_si256();
            wq[j] = _mm512_inserti64x4(_mm512_castsi256_si512(v0), v1, 1);
            c[j] = q8_corr(wq[j]);
            dw[j] = pair_ps(f16(b0->d), two ? f16(b1->d) : 0.0f);
        }
        q8_0_step(mr, nrc, xb, b, two, wq, c, dw, acc);
    }
    for (int i = 0; i < mr; i++)
        for (int j = 0; j < nrc; j++)
            if (j < nv) y[i * ldy + j] = hsum16q(acc[i][j]);
}
QI void tile_q8_0(int mr, const xq_buf *xb, const unsigned char *w, size_t rb, int64_t K, float *y, int64_t ldy, int nv) {
    tile_q8_0_n(mr, QNR32, QNR32 * rb, xb, w, rb, K, y, ldy, nv);
}

/* The 8 scales and mins of a Q4_K block as bytes [sc0..sc7, m0..m7], in
 * vector ops (ggml's get_scale_min_k4 on all sub-blocks at once). Reads 16
 * bytes at the scales: 4 past them, still inside the 144-byte block. */
QI __m128i q4k_sm8(const uint8_t *q) {
    const __m128i s = _mm_loadu_si128((const __m128i *)(const void *)q);
    /* A: low parts [q0-3 | q8-11 | q4-7 | q8-11]; B: the 2-bit high parts [0 | q0-3 | 0 | q4-7] */
    const __m128i a = _mm_shuffle_epi8(s, _mm_setr_epi8(0, 1, 2, 3, 8, 9, 10, 11, 4, 5, 6, 7, 8, 9, 10, 11));
    const __m128i b = _mm_shuffle_epi8(s, _mm_setr_epi8(-1, -1, -1, -1, 0, 1, 2, 3, -1, -1, -1, -1, 4, 5, 6, 7));
    const __m128i lo = _mm_and_si128(_mm_srlv_epi16(a, _mm_setr_epi16(0, 0, 0, 0, 0, 0, 4, 4)),
                                     _mm_setr_epi32(0x3f3f3f3f, 0x0f0f0f0f, 0x3f3f3f3f, 0x0f0f0f0f));
    const __m128i hi = _mm_and_si128(_mm_srli_epi16(b, 2), _mm_setr_epi32(0, 0x30303030, 0, 0x30303030));
    return _mm_or_si128(lo, hi);
}

/* Per output, per super-block: the scale sums in 16 int32 lanes are folded
 * exactly to 8 (lane l + lane l+8), and the outputs of weight rows 2jp and
 * 2jp+1 share one float register (8 lanes each): acc += sums * (d * da), then
 * acc -= (da * x sum) * (dmin * m) per 32-value sub-block (xq_buf.xm times the
 * weights' min terms, one float product per lane); y = the sum of its 8
 * lanes. Half the float work of one register per output, and 8 x 2 tiles
 * keep their accumulators in registers. */
/* Q4_K activations in the tile's sub-block order (quant_rows_k_impl). */
static void quant_rows_k4(const float *x, int64_t ldx, int mr, int64_t K, xq_buf *b) {
    quant_rows_k_impl(x, ldx, mr, K, b, 1);
}
#define Q4K_QUANT quant_rows_k4

QI void tile_q4_K(int mr, const xq_buf *xb, const unsigned char *w, size_t rb, int64_t K, float *y, int64_t ldy,
                  int nv) {
    const unsigned char *wr[QNR];
    for (int j = 0; j < QNR; j++) wr[j] = w + (size_t)(j < nv ? j : nv - 1) * rb;
    const size_t pfd = kpf_dist(QNR, rb);
    __m512 acc[QMRK][QNR / 2];
    for (int i = 0; i < mr; i++)
        for (int j = 0; j < QNR / 2; j++) acc[i][j] = _mm512_setzero_ps();
    const __m512i lo4 = _mm512_set1_epi8(0x0f);
    /* [d (dmin) of the first row x 8 | of the second x 8] from [d0 dmin0 - - d1 dmin1 - -] */
    const __m512i ddi = _mm512_setr_epi32(0, 0, 0, 0, 0, 0, 0, 0, 4, 4, 4, 4, 4, 4, 4, 4);
    const __m512i dmi = _mm512_setr_epi32(1, 1, 1, 1, 1, 1, 1, 1, 5, 5, 5, 5, 5, 5, 5, 5);
    for (int64_t b = 0; b < K / 256; b++) {
        const x86_block_q4_K *blk[QNR];
        __m512i scl[QNR];
        __m512 ddp[QNR / 2], wmp[QNR / 2];
        __m128 dmn[QNR]; /* [d, dmin] */
        __m128i sm[QNR];
        for (int j = 0; j < QNR; j++) {
            blk[j] = (const x86_block_q4_K *)(const void *)wr[j] + b;
            for (int l = 0; l < 3; l++) _mm_prefetch((const char *)blk[j] + pfd + 64 * l, _MM_HINT_T0);
            sm[j] = q4k_sm8(blk[j]->scales);
            scl[j] = _mm512_broadcast_i32x4(sm[j]); /* sc0..sc7 m0..m7 bytes in every 128-bit lane */
            uint32_t dm;
            memcpy(&dm, blk[j], 4);
            dmn[j] = _mm_cvtph_ps(_mm_cvtsi32_si128((int)dm));
        }
        for (int j = 0; j < QNR / 2; j++) {
            __m512 dpair = _mm512_castps256_ps512(_mm256_set_m128(dmn[2 * j + 1], dmn[2 * j]));
            ddp[j] = _mm512_permutexvar_ps(ddi, dpair);
            /* [dmin * m0..m7 of row 2j | of row 2j+1] */
            __m512i mm = _mm512_cvtepu8_epi32(_mm_unpackhi_epi64(sm[2 * j], sm[2 * j + 1]));
            wmp[j] = _mm512_mul_ps(_mm512_cvtepi32_ps(mm), _mm512_permutexvar_ps(dmi, dpair));
        }
        __m512i isum[QMRK][QNR];
        for (int i = 0; i < mr; i++)
            for (int j = 0; j < QNR; j++) isum[i][j] = _mm512_setzero_si512();
        for (int h = 0; h < 2; h++) { /* 128 values: sub-blocks 4h .. 4h+3 */
            /* the low nibbles of qs[64h, 64h + 64) are [sub-block 4h | 4h+2], the high ones [4h+1 | 4h+3], against
             * quant_rows_k4's [0 2 | 1 3] order; pshufb indices: that sub-block's scale byte zero-extended to int16 */
            const __m512i sel0 = _mm512_inserti64x4(_mm512_set1_epi16((short)(0xff00 + 4 * h)),
                                                    _mm256_set1_epi16((short)(0xff00 + 4 * h + 2)), 1);
            const __m512i sel1 = _mm512_inserti64x4(_mm512_set1_epi16((short)(0xff00 + 4 * h + 1)),
                                                    _mm256_set1_epi16((short)(0xff00 + 4 * h + 3)), 1);
            __m512i q0[QNR], q1[QNR], s0[QNR], s1[QNR];
            for (int j = 0; j < QNR; j++) {
                __m512i v = _mm512_loadu_si512((const void *)(blk[j]->qs + 64 * h));
                q0[j] = _mm512_and_si512(v, lo4);
                q1[j] = _mm512_and_si512(_mm512_srli_epi16(v, 4), lo4);
                s0[j] = _mm512_shuffle_epi8(scl[j], sel0);
                s1[j] = _mm512_shuffle_epi8(scl[j], sel1);
            }
            for (int i = 0; i < mr; i++) {
                const int8_t *xq = XQ_QS(xb, i) + 256 * b + 128 * h;
                __m512i a0 = _mm512_loadu_si512((const void *)xq), a1 = _mm512_loadu_si512((const void *)(xq + 64));
                for (int j = 0; j < QNR; j++) {
                    isum[i][j] = _mm512_dpwssd_epi32(isum[i][j], _mm512_maddubs_epi16(q0[j], a0), s0[j]);
                    isum[i][j] = _mm512_dpwssd_epi32(isum[i][j], _mm512_maddubs_epi16(q1[j], a1), s1[j]);
                }
            }
        }
        for (int i = 0; i < mr; i++) {
            __m512 xm = _mm512_broadcast_f32x8(_mm256_loadu_ps(XQ_XM(xb, i) + 8 * b));
            __m512 da = _mm512_set1_ps(XQ_D(xb, i)[b]);
            for (int j = 0; j < QNR / 2; j++) {
                const __m512i i0 = isum[i][2 * j], i1 = isum[i][2 * j + 1];
                const __m512i sum = _mm512_add_epi32(_mm512_shuffle_i64x2(i0, i1, _MM_SHUFFLE(1, 0, 1, 0)),
                                                     _mm512_shuffle_i64x2(i0, i1, _MM_SHUFFLE(3, 2, 3, 2)));
                acc[i][j] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(sum), _mm512_mul_ps(ddp[j], da), acc[i][j]);
                acc[i][j] = _mm512_fnmadd_ps(xm, wmp[j], acc[i][j]);
            }
        }
    }
    for (int i = 0; i < mr; i++)
        for (int j = 0; j < QNR; j++)
            if (j < nv)
                y[i * ldy + j] = hsum8q((j & 1) ? _mm512_extractf32x8_ps(acc[i][j / 2], 1) : _mm512_castps512_ps256(acc[i][j / 2]));
}

QI void tile_q6_K(int mr, const xq_buf *xb, const unsigned char *w, size_t rb, int64_t K, float *y, int64_t ldy,
                  int nv) {
    const unsigned char *wr[QNR];
    for (int j = 0; j < QNR; j++) wr[j] = w + (size_t)(j < nv ? j : nv - 1) * rb;
    const size_t pfd = kpf_dist(QNR, rb);
    __m512 acc[QMRK][QNR / 2];
    for (int i = 0; i < mr; i++)
        for (int j = 0; j < QNR / 2; j++) acc[i][j] = _mm512_setzero_ps();
    const __m512i ddi = _mm512_setr_epi32(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1);
    const __m512i m4 = _mm512_set1_epi8(0x0f);
    /* per 64-value pair of chunks (c, c+1) = ([ql & 15 | hb bits 0-1], [ql2 & 15 | bits 2-3]) or the high nibbles
     * with bits 4-5 / 6-7: the 2-bit field is shifted to bits 4-5 by a per-half variable shift */
    const __m512i hsh01 = _mm512_setr_epi64(0, 0, 0, 0, 0x0002000200020002ll, 0x0002000200020002ll,
                                            0x0002000200020002ll, 0x0002000200020002ll); /* left: 4 / 2 */
    for (int64_t b = 0; b < K / 256; b++) {
        const x86_block_q6_K *blk[QNR];
        __m256i scv[QNR];
        for (int j = 0; j < QNR; j++) {
            blk[j] = (const x86_block_q6_K *)(const void *)wr[j] + b;
            for (int l = 0; l < 4; l++) _mm_prefetch((const char *)blk[j] + pfd + 64 * l, _MM_HINT_T0);
            scv[j] = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(const void *)blk[j]->scales));
        }
        __m512i scp[QNR / 2];
        __m512 dp[QNR / 2];
        for (int j = 0; j < QNR / 2; j++) {
            scp[j] = _mm512_inserti64x4(_mm512_castsi256_si512(scv[2 * j]), scv[2 * j + 1], 1);
            uint32_t d2 = (uint32_t)blk[2 * j]->d | (uint32_t)blk[2 * j + 1]->d << 16;
            dp[j] = _mm512_permutexvar_ps(ddi, _mm512_castps128_ps512(_mm_cvtph_ps(_mm_cvtsi32_si128((int)d2))));
        }
        __m512i isum[QMRK][QNR];
        for (int i = 0; i < mr; i++)
            for (int j = 0; j < QNR; j++) isum[i][j] = _mm512_setzero_si512();
        for (int h = 0; h < 2; h++) {
            for (int c = 0; c < 4; c += 2) { /* chunks c, c+1: values 128h + 32c .. +63 */
                __m512i q[QNR], s16[QNR];
                /* int16 lane t takes scale 8h + 2c + t/8 (16 values per scale, 2 per lane) */
                const int s0 = 8 * h + 2 * c;
                const __m512i sidx = _mm512_inserti64x4(
                    _mm512_castsi256_si512(_mm256_set_m128i(_mm_set1_epi16((short)(s0 + 1)), _mm_set1_epi16((short)s0))),
                    _mm256_set_m128i(_mm_set1_epi16((short)(s0 + 3)), _mm_set1_epi16((short)(s0 + 2))), 1);
                for (int j = 0; j < QNR; j++) {
                    const uint8_t *ql = blk[j]->ql + 64 * h, *qh = blk[j]->qh + 32 * h;
                    __m512i l = _mm512_loadu_si512((const void *)ql); /* [ql 0-31 | ql 32-63] */
                    __m512i hh = _mm512_broadcast_i64x4(_mm256_loadu_si256((const __m256i *)(const void *)qh));
                    __m512i lo, hi;
                    if (c == 0) { /* chunk 0: bits 0-1 << 4; chunk 1: bits 2-3 << 2 */
                        lo = _mm512_and_si512(l, m4);
                        hi = _mm512_sllv_epi16(hh, _mm512_sub_epi16(_mm512_set1_epi16(4), hsh01));
                        hi = _mm512_and_si512(hi, _mm512_set1_epi8(0x30));
                    } else { /* chunk 2: bits 4-5 as they are; chunk 3: bits 6-7 >> 2 */
                        lo = _mm512_and_si512(_mm512_srli_epi16(l, 4), m4);
                        hi = _mm512_and_si512(_mm512_srlv_epi16(hh, hsh01), _mm512_set1_epi8(0x30));
                    }
                    q[j] = _mm512_or_si512(lo, hi);
                    s16[j] = _mm512_permutexvar_epi16(sidx, _mm512_castsi256_si512(scv[j]));
                }
                for (int i = 0; i < mr; i++) {
                    __m512i a = _mm512_loadu_si512((const void *)(XQ_QS(xb, i) + 256 * b + 128 * h + 32 * c));
                    for (int j = 0; j < QNR; j++)
                        isum[i][j] = _mm512_dpwssd_epi32(isum[i][j], _mm512_maddubs_epi16(q[j], a), s16[j]);
                }
            }
        }
        for (int i = 0; i < mr; i++) {
            __m512i bs = _mm512_broadcast_i64x4(_mm256_loadu_si256((const __m256i *)(const void *)(XQ_BS(xb, i) + 16 * b)));
            __m512 da = _mm512_set1_ps(XQ_D(xb, i)[b]);
            for (int j = 0; j < QNR / 2; j++) {
                /* lanes l and l+8 folded exactly, two weight rows per register, minus the -32 offset terms
                 * 32 * sum_s sc_s * sum16_s */
                const __m512i i0 = isum[i][2 * j], i1 = isum[i][2 * j + 1];
                __m512i sum = _mm512_add_epi32(_mm512_shuffle_i64x2(i0, i1, _MM_SHUFFLE(1, 0, 1, 0)),
                                               _mm512_shuffle_i64x2(i0, i1, _MM_SHUFFLE(3, 2, 3, 2)));
                sum = _mm512_sub_epi32(sum, _mm512_slli_epi32(_mm512_madd_epi16(bs, scp[j]), 5));
                acc[i][j] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(sum), _mm512_mul_ps(dp[j], da), acc[i][j]);
            }
        }
    }
    for (int i = 0; i < mr; i++)
        for (int j = 0; j < QNR; j++)
            if (j < nv)
                y[i * ldy + j] = hsum8q((j & 1) ? _mm512_extractf32x8_ps(acc[i][j / 2], 1) : _mm512_castps512_ps256(acc[i][j / 2]));
}

/* Decode (M <= DEC_MR, one x row per stream): one weight row at a time, so
 * that each thread reads its rows in address order (see DEC_PF). The
 * per-output operations are those of the batched tiles' 8 float lanes (here
 * in 256-bit registers), so the bits are the same. */
QI void q4_K_row(int mr, const xq_buf *xb, const unsigned char *w, int64_t K, float *y, int64_t ldy) {
    const __m512i lo4 = _mm512_set1_epi8(0x0f);
    const x86_block_q4_K *blk = (const x86_block_q4_K *)(const void *)w;
    __m256 acc[DEC_MR];
    for (int i = 0; i < mr; i++) acc[i] = _mm256_setzero_ps();
    for (int64_t b = 0; b < K / 256; b++, blk++) {
        for (int l = 0; l < 3; l++) _mm_prefetch((const char *)blk + DEC_PF + 64 * l, _MM_HINT_T0);
        const __m128i sm = q4k_sm8(blk->scales);
        const __m512i scl = _mm512_broadcast_i32x4(sm);
        uint32_t dm;
        memcpy(&dm, blk, 4);
        const __m128 dmn = _mm_cvtph_ps(_mm_cvtsi32_si128((int)dm)); /* [d, dmin] */
        __m512i isum[DEC_MR];
        for (int i = 0; i < mr; i++) isum[i] = _mm512_setzero_si512();
        for (int h = 0; h < 2; h++) { /* as in tile_q4_K */
            const __m512i sel0 = _mm512_inserti64x4(_mm512_set1_epi16((short)(0xff00 + 4 * h)),
                                                    _mm256_set1_epi16((short)(0xff00 + 4 * h + 2)), 1);
            const __m512i sel1 = _mm512_inserti64x4(_mm512_set1_epi16((short)(0xff00 + 4 * h + 1)),
                                                    _mm256_set1_epi16((short)(0xff00 + 4 * h + 3)), 1);
            const __m512i v = _mm512_loadu_si512((const void *)(blk->qs + 64 * h));
            const __m512i q0 = _mm512_and_si512(v, lo4), q1 = _mm512_and_si512(_mm512_srli_epi16(v, 4), lo4);
            const __m512i s0 = _mm512_shuffle_epi8(scl, sel0), s1 = _mm512_shuffle_epi8(scl, sel1);
            for (int i = 0; i < mr; i++) {
                const int8_t *xq = XQ_QS(xb, i) + 256 * b + 128 * h;
                const __m512i a0 = _mm512_loadu_si512((const void *)xq), a1 = _mm512_loadu_si512((const void *)(xq + 64));
                isum[i] = _mm512_dpwssd_epi32(isum[i], _mm512_maddubs_epi16(q0, a0), s0);
                isum[i] = _mm512_dpwssd_epi32(isum[i], _mm512_maddubs_epi16(q1, a1), s1);
            }
        }
        const __m256 wm = _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_unpackhi_epi64(sm, sm))),
                                        _mm256_broadcastss_ps(_mm_movehdup_ps(dmn)));
        const __m256 d = _mm256_broadcastss_ps(dmn);
        for (int i = 0; i < mr; i++) {
            const __m256i sum = _mm256_add_epi32(_mm512_castsi512_si256(isum[i]), _mm512_extracti64x4_epi64(isum[i], 1));
            acc[i] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(sum), _mm256_mul_ps(d, _mm256_set1_ps(XQ_D(xb, i)[b])), acc[i]);
            acc[i] = _mm256_fnmadd_ps(_mm256_loadu_ps(XQ_XM(xb, i) + 8 * b), wm, acc[i]);
        }
    }
    for (int i = 0; i < mr; i++) y[i * ldy] = hsum8q(acc[i]);
}

QI void q6_K_row(int mr, const xq_buf *xb, const unsigned char *w, int64_t K, float *y, int64_t ldy) {
    const __m512i m4 = _mm512_set1_epi8(0x0f);
    const __m512i hsh01 = _mm512_setr_epi64(0, 0, 0, 0, 0x0002000200020002ll, 0x0002000200020002ll,
                                            0x0002000200020002ll, 0x0002000200020002ll);
    const x86_block_q6_K *blk = (const x86_block_q6_K *)(const void *)w;
    __m256 acc[DEC_MR];
    for (int i = 0; i < mr; i++) acc[i] = _mm256_setzero_ps();
    for (int64_t b = 0; b < K / 256; b++, blk++) {
        for (int l = 0; l < 4; l++) _mm_prefetch((const char *)blk + DEC_PF + 64 * l, _MM_HINT_T0);
        const __m256i scv = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(const void *)blk->scales));
        __m512i isum[DEC_MR];
        for (int i = 0; i < mr; i++) isum[i] = _mm512_setzero_si512();
        for (int h = 0; h < 2; h++) {
            const __m512i l = _mm512_loadu_si512((const void *)(blk->ql + 64 * h));
            const __m512i hh = _mm512_broadcast_i64x4(_mm256_loadu_si256((const __m256i *)(const void *)(blk->qh + 32 * h)));
            for (int c = 0; c < 4; c += 2) { /* as in tile_q6_K */
                const int s0 = 8 * h + 2 * c;
                const __m512i sidx = _mm512_inserti64x4(
                    _mm512_castsi256_si512(_mm256_set_m128i(_mm_set1_epi16((short)(s0 + 1)), _mm_set1_epi16((short)s0))),
                    _mm256_set_m128i(_mm_set1_epi16((short)(s0 + 3)), _mm_set1_epi16((short)(s0 + 2))), 1);
                __m512i lo, hi;
                if (c == 0) {
                    lo = _mm512_and_si512(l, m4);
                    hi = _mm512_and_si512(_mm512_sllv_epi16(hh, _mm512_sub_epi16(_mm512_set1_epi16(4), hsh01)),
                                          _mm512_set1_epi8(0x30));
                } else {
                    lo = _mm512_and_si512(_mm512_srli_epi16(l, 4), m4);
                    hi = _mm512_and_si512(_mm512_srlv_epi16(hh, hsh01), _mm512_set1_epi8(0x30));
                }
                const __m512i q = _mm512_or_si512(lo, hi);
                const __m512i sc = _mm512_permutexvar_epi16(sidx, _mm512_castsi256_si512(scv));
                for (int i = 0; i < mr; i++) {
                    const __m512i a = _mm512_loadu_si512((const void *)(XQ_QS(xb, i) + 256 * b + 128 * h + 32 * c));
                    isum[i] = _mm512_dpwssd_epi32(isum[i], _mm512_maddubs_epi16(q, a), sc);
                }
            }
        }
        const __m256 d = _mm256_set1_ps(f16(blk->d));
        for (int i = 0; i < mr; i++) {
            const __m256i bs = _mm256_loadu_si256((const __m256i *)(const void *)(XQ_BS(xb, i) + 16 * b));
            __m256i sum = _mm256_add_epi32(_mm512_castsi512_si256(isum[i]), _mm512_extracti64x4_epi64(isum[i], 1));
            sum = _mm256_sub_epi32(sum, _mm256_slli_epi32(_mm256_madd_epi16(bs, scv), 5));
            acc[i] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(sum), _mm256_mul_ps(d, _mm256_set1_ps(XQ_D(xb, i)[b])), acc[i]);
        }
    }
    for (int i = 0; i < mr; i++) y[i * ldy] = hsum8q(acc[i]);
}
#define QROW_q4_K(mr, xb, w, rb, K, y, ldy) q4_K_row(mr, xb, w, K, y, ldy)
#define QROW_q6_K(mr, xb, w, rb, K, y, ldy) q6_K_row(mr, xb, w, K, y, ldy)
#define QROW_q4_0(mr, xb, w, rb, K, y, ldy) tile_q4_0_n(mr, 1, DEC_PF, xb, w, rb, K, y, ldy, 1)
#define QROW_q4_1(mr, xb, w, rb, K, y, ldy) tile_q4_1_n(mr, 1, DEC_PF, xb, w, rb, K, y, ldy, 1)
#define QROW_q5_0(mr, xb, w, rb, K, y, ldy) tile_q5_0_n(mr, 1, DEC_PF, xb, w, rb, K, y, ldy, 1)
#define QROW_q5_1(mr, xb, w, rb, K, y, ldy) tile_q5_1_n(mr, 1, DEC_PF, xb, w, rb, K, y, ldy, 1)
#define QROW_q8_0(mr, xb, w, rb, K, y, ldy) tile_q8_0_n(mr, 1, DEC_PF, xb, w, rb, K, y, ldy, 1)
