/* quant-kq-zmm.h - AVX-512 register tiles for Q2_K, Q3_K and Q5_K, included
 * by quant-kq.h when QZMM is defined; the layouts of quant-zmm.h's K-quant
 * tiles: 64 values per 512-bit register, 16 int32 lanes folded exactly to 8
 * per output, two outputs per float register in the batched tiles (QMRK x 2),
 * and one weight row at a time in decode with the same operations per output.
 *
 * Q2_K / Q3_K: one 64-byte load of qs shifted by 2t holds the values
 * 32t + l (bytes 0-31) and 128 + 32t + l (32-63), so their activations are
 * stored with each half's 32-value chunks interleaved (quant_rows_k2); each
 * 128-bit lane of the products is one 16-value sub-block: 2t, 2t+1, 8+2t,
 * 9+2t. The high bits (Q3_K hmask, Q5_K qh) are set with a byte test mask
 * and a masked add. */

/* Q2_K/Q3_K activations: chunk 4h + t of each 256 values at slot 2t + h. */
static void quant_rows_k2(const float *x, int64_t ldx, int mr, int64_t K, xq_buf *b) {
    quant_rows_k_impl(x, ldx, mr, K, b, 2);
}
#define Q2K_QUANT quant_rows_k2
#define Q5K_QUANT quant_rows_k4

/* [v0 x 16 int16 | v1 | v2 | v3] per 128-bit lane */
QI __m512i lanes16(int v0, int v1, int v2, int v3) {
    return _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_set_m128i(_mm_set1_epi16((short)v1), _mm_set1_epi16((short)v0))),
                              _mm256_set_m128i(_mm_set1_epi16((short)v3), _mm_set1_epi16((short)v2)), 1);
}
/* [b0 x 32 bytes | b1 x 32] */
QI __m512i halves8(int b0, int b1) {
    return _mm512_inserti64x4(_mm512_set1_epi8((char)b0), _mm256_set1_epi8((char)b1), 1);
}

/* Lanes l and l + 8 of two rows' int32 sums folded: [row 0 | row 1], 8 each. */
QI __m512i fold2(__m512i i0, __m512i i1) {
    return _mm512_add_epi32(_mm512_shuffle_i64x2(i0, i1, _MM_SHUFFLE(1, 0, 1, 0)),
                            _mm512_shuffle_i64x2(i0, i1, _MM_SHUFFLE(3, 2, 3, 2)));
}
QI __m256i fold1(__m512i v) { return _mm256_add_epi32(_mm512_castsi512_si256(v), _mm512_extracti64x4_epi64(v, 1)); }

QI void store_pairs(int mr, __m512 acc[QMRK][QNR / 2], float *y, int64_t ldy, int nv) {
    for (int i = 0; i < mr; i++)
        for (int j = 0; j < QNR; j++)
            if (j < nv)
                y[i * ldy + j] = hsum8q((j & 1) ? _mm512_extractf32x8_ps(acc[i][j / 2], 1) : _mm512_castps512_ps256(acc[i][j / 2]));
}

/* [f(row 0) x 8 | f(row 1) x 8] */
QI __m512 pair8(float a, float b) { return _mm512_insertf32x8(_mm512_set1_ps(a), _mm256_set1_ps(b), 1); }

/* ------------------------------------------------------------------------- */
/* Q2_K                                                                      */
/* ------------------------------------------------------------------------- */

/* isum + the products of one step's weights q and activations a, per int32 lane scaled by s16 */
QI __m512i q2k_step(__m512i isum, __m512i q, __m512i s16, __m512i a) {
    return _mm512_dpwssd_epi32(isum, _mm512_maddubs_epi16(q, a), s16);
}

/* Step t of a Q2_K block: q * sc as bytes (at most 3 * 15), for vpdpbusd against the activations: one
 * int16 multiply per weight register instead of a vpdpwssd per x row. The scale of sub-block 2t, 2t+1,
 * 8+2t, 9+2t per 128-bit lane, zero-extended to int16 by pshufb; q * sc < 256 never carries into the
 * neighbouring byte. */
QI __m512i q2k_scaled(__m512i v, __m512i scl, int t) {
    const __m512i sel = lanes16(0xff00 | (2 * t), 0xff00 | (2 * t + 1), 0xff00 | (8 + 2 * t), 0xff00 | (9 + 2 * t));
    const __m512i q = _mm512_and_si512(_mm512_srli_epi16(v, 2 * t), _mm512_set1_epi8(0x03));
    return _mm512_mullo_epi16(q, _mm512_shuffle_epi8(scl, sel));
}

QI void tile_q2_K(int mr, const xq_buf *xb, const unsigned char *w, size_t rb, int64_t K, float *y, int64_t ldy,
                  int nv) {
    const unsigned char *wr[QNR];
    for (int j = 0; j < QNR; j++) wr[j] = w + (size_t)(j < nv ? j : nv - 1) * rb;
    const size_t pfd = kpf_dist(QNR, rb);
    __m512 acc[QMRK][QNR / 2];
    for (int i = 0; i < mr; i++)
        for (int j = 0; j < QNR / 2; j++) acc[i][j] = _mm512_setzero_ps();
    const __m128i m4 = _mm_set1_epi8(0x0f);
    for (int64_t b = 0; b < K / 256; b++) {
        const x86_block_q2_K *blk[QNR];
        __m512i scl[QNR], v[QNR], mnp[QNR / 2];
        __m512 ddp[QNR / 2], dmp[QNR / 2];
        __m256i mn[QNR];
        for (int j = 0; j < QNR; j++) {
            blk[j] = (const x86_block_q2_K *)(const void *)wr[j] + b;
            for (int l = 0; l < 2; l++) _mm_prefetch((const char *)blk[j] + pfd + 64 * l, _MM_HINT_T0);
            const __m128i s = _mm_loadu_si128((const __m128i *)(const void *)blk[j]->scales);
            scl[j] = _mm512_broadcast_i32x4(_mm_and_si128(s, m4)); /* sc0..sc15 in every 128-bit lane */
            mn[j] = _mm256_cvtepu8_epi16(_mm_and_si128(_mm_srli_epi16(s, 4), m4));
            v[j] = _mm512_loadu_si512((const void *)blk[j]->qs);
        }
        for (int j = 0; j < QNR / 2; j++) {
            mnp[j] = _mm512_inserti64x4(_mm512_castsi256_si512(mn[2 * j]), mn[2 * j + 1], 1);
            ddp[j] = pair8(f16(blk[2 * j]->d), f16(blk[2 * j + 1]->d));
            dmp[j] = pair8(f16(blk[2 * j]->dmin), f16(blk[2 * j + 1]->dmin));
        }
        __m512i isum[QMRK][QNR];
        for (int i = 0; i < mr; i++)
            for (int j = 0; j < QNR; j++) isum[i][j] = _mm512_setzero_si512();
        for (int t = 0; t < 4; t++) {
            __m512i q[QNR];
            for (int j = 0; j < QNR; j++) q[j] = q2k_scaled(v[j], scl[j], t);
            for (int i = 0; i < mr; i++) {
                const __m512i a = _mm512_loadu_si512((const void *)(XQ_QS(xb, i) + 256 * b + 64 * t));
                for (int j = 0; j < QNR; j++) isum[i][j] = _mm512_dpbusd_epi32(isum[i][j], q[j], a);
            }
        }
        for (int i = 0; i < mr; i++) {
            __m512i bs = _mm512_broadcast_i64x4(_mm256_loadu_si256((const __m256i *)(const void *)(XQ_BS(xb, i) + 16 * b)));
            __m512 da = _mm512_set1_ps(XQ_D(xb, i)[b]);
            for (int j = 0; j < QNR / 2; j++) {
                const __m512i sum = fold2(isum[i][2 * j], isum[i][2 * j + 1]);
                const __m512i mt = _mm512_madd_epi16(bs, mnp[j]); /* sum_s m_s * bs_s, 2 sub-blocks per lane */
                acc[i][j] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(sum), _mm512_mul_ps(ddp[j], da), acc[i][j]);
                acc[i][j] = _mm512_fnmadd_ps(_mm512_cvtepi32_ps(mt), _mm512_mul_ps(dmp[j], da), acc[i][j]);
            }
        }
    }
    store_pairs(mr, acc, y, ldy, nv);
}

QI void q2_K_row(int mr, const xq_buf *xb, const unsigned char *w, int64_t K, float *y, int64_t ldy) {
    const __m128i m4 = _mm_set1_epi8(0x0f);
    const x86_block_q2_K *blk = (const x86_block_q2_K *)(const void *)w;
    __m256 acc[DEC_MR];
    for (int i = 0; i < mr; i++) acc[i] = _mm256_setzero_ps();
    for (int64_t b = 0; b < K / 256; b++, blk++) {
        for (int l = 0; l < 2; l++) _mm_prefetch((const char *)blk + DEC_PF + 64 * l, _MM_HINT_T0);
        const __m128i s = _mm_loadu_si128((const __m128i *)(const void *)blk->scales);
        const __m512i scl = _mm512_broadcast_i32x4(_mm_and_si128(s, m4));
        const __m256i mn = _mm256_cvtepu8_epi16(_mm_and_si128(_mm_srli_epi16(s, 4), m4));
        const __m512i v = _mm512_loadu_si512((const void *)blk->qs);
        __m512i isum[DEC_MR];
        for (int i = 0; i < mr; i++) isum[i] = _mm512_setzero_si512();
        for (int t = 0; t < 4; t++) { /* as in tile_q2_K */
            const __m512i q = q2k_scaled(v, scl, t);
            for (int i = 0; i < mr; i++)
                isum[i] = _mm512_dpbusd_epi32(isum[i], q, _mm512_loadu_si512((const void *)(XQ_QS(xb, i) + 256 * b + 64 * t)));
        }
        uint32_t dm;
        memcpy(&dm, &blk->d, 4);
        const __m128 dmn = _mm_cvtph_ps(_mm_cvtsi32_si128((int)dm)); /* [d, dmin] */
        const __m256 d = _mm256_broadcastss_ps(dmn), dmin = _mm256_broadcastss_ps(_mm_movehdup_ps(dmn));
        for (int i = 0; i < mr; i++) {
            const __m256i bs = _mm256_loadu_si256((const __m256i *)(const void *)(XQ_BS(xb, i) + 16 * b));
            const __m256 da = _mm256_set1_ps(XQ_D(xb, i)[b]);
            acc[i] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(fold1(isum[i])), _mm256_mul_ps(d, da), acc[i]);
            acc[i] = _mm256_fnmadd_ps(_mm256_cvtepi32_ps(_mm256_madd_epi16(bs, mn)), _mm256_mul_ps(dmin, da), acc[i]);
        }
    }
    for (int i = 0; i < mr; i++) y[i * ldy] = hsum8q(acc[i]);
}

/* ------------------------------------------------------------------------- */
/* Q3_K                                                                      */
/* ------------------------------------------------------------------------- */

/* Step t of a Q3_K block: q3 = the 2 low bits + 4 * (hmask[l] bit t, resp. 4 + t, for bytes 0-31 / 32-63) */
QI __m512i q3k_q(__m512i v, __m512i hh, int t) {
    const __m512i q = _mm512_and_si512(_mm512_srli_epi16(v, 2 * t), _mm512_set1_epi8(0x03));
    const __mmask64 k = _mm512_test_epi8_mask(hh, halves8(1 << t, 1 << (4 + t)));
    return _mm512_mask_add_epi8(q, k, q, _mm512_set1_epi8(4));
}
/* vpermw indices for step t: the int16 scale of sub-block 2t, 2t+1, 8+2t, 9+2t per 128-bit lane */
QI __m512i q3k_sidx(int t) { return lanes16(2 * t, 2 * t + 1, 8 + 2 * t, 9 + 2 * t); }

QI void tile_q3_K(int mr, const xq_buf *xb, const unsigned char *w, size_t rb, int64_t K, float *y, int64_t ldy,
                  int nv) {
    const unsigned char *wr[QNR];
    for (int j = 0; j < QNR; j++) wr[j] = w + (size_t)(j < nv ? j : nv - 1) * rb;
    const size_t pfd = kpf_dist(QNR, rb);
    __m512 acc[QMRK][QNR / 2];
    for (int i = 0; i < mr; i++)
        for (int j = 0; j < QNR / 2; j++) acc[i][j] = _mm512_setzero_ps();
    for (int64_t b = 0; b < K / 256; b++) {
        const x86_block_q3_K *blk[QNR];
        __m512i v[QNR], hh[QNR], scp[QNR / 2];
        __m256i scv[QNR];
        __m512 dp[QNR / 2];
        for (int j = 0; j < QNR; j++) {
            blk[j] = (const x86_block_q3_K *)(const void *)wr[j] + b;
            for (int l = 0; l < 2; l++) _mm_prefetch((const char *)blk[j] + pfd + 64 * l, _MM_HINT_T0);
            scv[j] = _mm256_cvtepi8_epi16(q3k_scales16(blk[j]->scales));
            v[j] = _mm512_loadu_si512((const void *)blk[j]->qs);
            hh[j] = _mm512_broadcast_i64x4(_mm256_loadu_si256((const __m256i *)(const void *)blk[j]->hmask));
        }
        for (int j = 0; j < QNR / 2; j++) {
            scp[j] = _mm512_inserti64x4(_mm512_castsi256_si512(scv[2 * j]), scv[2 * j + 1], 1);
            dp[j] = pair8(f16(blk[2 * j]->d), f16(blk[2 * j + 1]->d));
        }
        __m512i isum[QMRK][QNR];
        for (int i = 0; i < mr; i++)
            for (int j = 0; j < QNR; j++) isum[i][j] = _mm512_setzero_si512();
        for (int t = 0; t < 4; t++) {
            const __m512i sidx = q3k_sidx(t);
            __m512i q[QNR], s16[QNR];
            for (int j = 0; j < QNR; j++) {
                q[j] = q3k_q(v[j], hh[j], t);
                s16[j] = _mm512_permutexvar_epi16(sidx, _mm512_castsi256_si512(scv[j]));
            }
            for (int i = 0; i < mr; i++) {
                const __m512i a = _mm512_loadu_si512((const void *)(XQ_QS(xb, i) + 256 * b + 64 * t));
                for (int j = 0; j < QNR; j++) isum[i][j] = q2k_step(isum[i][j], q[j], s16[j], a);
            }
        }
        for (int i = 0; i < mr; i++) {
            __m512i bs = _mm512_broadcast_i64x4(_mm256_loadu_si256((const __m256i *)(const void *)(XQ_BS(xb, i) + 16 * b)));
            __m512 da = _mm512_set1_ps(XQ_D(xb, i)[b]);
            for (int j = 0; j < QNR / 2; j++) { /* minus the offset terms 4 * sum_s sc_s * sum16_s */
                __m512i sum = fold2(isum[i][2 * j], isum[i][2 * j + 1]);
                sum = _mm512_sub_epi32(sum, _mm512_slli_epi32(_mm512_madd_epi16(bs, scp[j]), 2));
                acc[i][j] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(sum), _mm512_mul_ps(dp[j], da), acc[i][j]);
            }
        }
    }
    store_pairs(mr, acc, y, ldy, nv);
}

QI void q3_K_row(int mr, const xq_buf *xb, const unsigned char *w, int64_t K, float *y, int64_t ldy) {
    const x86_block_q3_K *blk = (const x86_block_q3_K *)(const void *)w;
    __m256 acc[DEC_MR];
    for (int i = 0; i < mr; i++) acc[i] = _mm256_setzero_ps();
    for (int64_t b = 0; b < K / 256; b++, blk++) {
        for (int l = 0; l < 2; l++) _mm_prefetch((const char *)blk + DEC_PF + 64 * l, _MM_HINT_T0);
        const __m256i scv = _mm256_cvtepi8_epi16(q3k_scales16(blk->scales));
        const __m512i v = _mm512_loadu_si512((const void *)blk->qs);
        const __m512i hh = _mm512_broadcast_i64x4(_mm256_loadu_si256((const __m256i *)(const void *)blk->hmask));
        __m512i isum[DEC_MR];
        for (int i = 0; i < mr; i++) isum[i] = _mm512_setzero_si512();
        for (int t = 0; t < 4; t++) { /* as in tile_q3_K */
            const __m512i q = q3k_q(v, hh, t);
            const __m512i s16 = _mm512_permutexvar_epi16(q3k_sidx(t), _mm512_castsi256_si512(scv));
            for (int i = 0; i < mr; i++) isum[i] = q2k_step(isum[i], q, s16, _mm512_loadu_si512((const void *)(XQ_QS(xb, i) + 256 * b + 64 * t)));
        }
        const __m256 d = _mm256_set1_ps(f16(blk->d));
        for (int i = 0; i < mr; i++) {
            const __m256i bs = _mm256_loadu_si256((const __m256i *)(const void *)(XQ_BS(xb, i) + 16 * b));
            const __m256i sum = _mm256_sub_epi32(fold1(isum[i]), _mm256_slli_epi32(_mm256_madd_epi16(bs, scv), 2));
            acc[i] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(sum), _mm256_mul_ps(d, _mm256_set1_ps(XQ_D(xb, i)[b])), acc[i]);
        }
    }
    for (int i = 0; i < mr; i++) y[i * ldy] = hsum8q(acc[i]);
}

/* ------------------------------------------------------------------------- */
/* Q5_K                                                                      */
/* ------------------------------------------------------------------------- */

/* 128 values h of a Q5_K block in tile_q4_K's layout: q0 = [sub-block 4h | 4h+2]
 * (low nibbles), q1 = [4h+1 | 4h+3] (high), each with qh bit = its sub-block. */
QI void q5k_q(const x86_block_q5_K *blk, __m512i hh, int h, __m512i *q0, __m512i *q1) {
    const __m512i lo4 = _mm512_set1_epi8(0x0f), b4 = _mm512_set1_epi8(0x10);
    const __m512i v = _mm512_loadu_si512((const void *)(blk->qs + 64 * h));
    const __m512i l = _mm512_and_si512(v, lo4), u = _mm512_and_si512(_mm512_srli_epi16(v, 4), lo4);
    const __mmask64 k0 = _mm512_test_epi8_mask(hh, halves8(1 << (4 * h), 1 << (4 * h + 2)));
    const __mmask64 k1 = _mm512_test_epi8_mask(hh, halves8(1 << (4 * h + 1), 1 << (4 * h + 3)));
    *q0 = _mm512_mask_add_epi8(l, k0, l, b4);
    *q1 = _mm512_mask_add_epi8(u, k1, u, b4);
}

QI void tile_q5_K(int mr, const xq_buf *xb, const unsigned char *w, size_t rb, int64_t K, float *y, int64_t ldy,
                  int nv) {
    const unsigned char *wr[QNR];
    for (int j = 0; j < QNR; j++) wr[j] = w + (size_t)(j < nv ? j : nv - 1) * rb;
    const size_t pfd = kpf_dist(QNR, rb);
    __m512 acc[QMRK][QNR / 2];
    for (int i = 0; i < mr; i++)
        for (int j = 0; j < QNR / 2; j++) acc[i][j] = _mm512_setzero_ps();
    /* as tile_q4_K: [d (dmin) of the first row x 8 | of the second x 8] from [d0 dmin0 - - d1 dmin1 - -] */
    const __m512i ddi = _mm512_setr_epi32(0, 0, 0, 0, 0, 0, 0, 0, 4, 4, 4, 4, 4, 4, 4, 4);
    const __m512i dmi = _mm512_setr_epi32(1, 1, 1, 1, 1, 1, 1, 1, 5, 5, 5, 5, 5, 5, 5, 5);
    for (int64_t b = 0; b < K / 256; b++) {
        const x86_block_q5_K *blk[QNR];
        __m512i scl[QNR], hh[QNR];
        __m512 ddp[QNR / 2], wmp[QNR / 2];
        __m128 dmn[QNR];
        __m128i sm[QNR];
        for (int j = 0; j < QNR; j++) {
            blk[j] = (const x86_block_q5_K *)(const void *)wr[j] + b;
            for (int l = 0; l < 3; l++) _mm_prefetch((const char *)blk[j] + pfd + 64 * l, _MM_HINT_T0);
            sm[j] = q4k_sm8(blk[j]->scales); /* 16 bytes: 4 past the scales, in qh */
            scl[j] = _mm512_broadcast_i32x4(sm[j]);
            uint32_t dm;
            memcpy(&dm, blk[j], 4);
            dmn[j] = _mm_cvtph_ps(_mm_cvtsi32_si128((int)dm));
            hh[j] = _mm512_broadcast_i64x4(_mm256_loadu_si256((const __m256i *)(const void *)blk[j]->qh));
        }
        for (int j = 0; j < QNR / 2; j++) {
            __m512 dpair = _mm512_castps256_ps512(_mm256_set_m128(dmn[2 * j + 1], dmn[2 * j]));
            ddp[j] = _mm512_permutexvar_ps(ddi, dpair);
            __m512i mm = _mm512_cvtepu8_epi32(_mm_unpackhi_epi64(sm[2 * j], sm[2 * j + 1]));
            wmp[j] = _mm512_mul_ps(_mm512_cvtepi32_ps(mm), _mm512_permutexvar_ps(dmi, dpair));
        }
        __m512i isum[QMRK][QNR];
        for (int i = 0; i < mr; i++)
            for (int j = 0; j < QNR; j++) isum[i][j] = _mm512_setzero_si512();
        for (int h = 0; h < 2; h++) {
            const __m512i sel0 = _mm512_inserti64x4(_mm512_set1_epi16((short)(0xff00 + 4 * h)),
                                                    _mm256_set1_epi16((short)(0xff00 + 4 * h + 2)), 1);
            const __m512i sel1 = _mm512_inserti64x4(_mm512_set1_epi16((short)(0xff00 + 4 * h + 1)),
                                                    _mm256_set1_epi16((short)(0xff00 + 4 * h + 3)), 1);
            __m512i q0[QNR], q1[QNR], s0[QNR], s1[QNR];
            for (int j = 0; j < QNR; j++) {
                q5k_q(blk[j], hh[j], h, &q0[j], &q1[j]);
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
                const __m512i sum = fold2(isum[i][2 * j], isum[i][2 * j + 1]);
                acc[i][j] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(sum), _mm512_mul_ps(ddp[j], da), acc[i][j]);
                acc[i][j] = _mm512_fnmadd_ps(xm, wmp[j], acc[i][j]);
            }
        }
    }
    store_pairs(mr, acc, y, ldy, nv);
}

QI void q5_K_row(int mr, const xq_buf *xb, const unsigned char *w, int64_t K, float *y, int64_t ldy) {
    const x86_block_q5_K *blk = (const x86_block_q5_K *)(const void *)w;
    __m256 acc[DEC_MR];
    for (int i = 0; i < mr; i++) acc[i] = _mm256_setzero_ps();
    for (int64_t b = 0; b < K / 256; b++, blk++) {
        for (int l = 0; l < 3; l++) _mm_prefetch((const char *)blk + DEC_PF + 64 * l, _MM_HINT_T0);
        const __m128i sm = q4k_sm8(blk->scales);
        const __m512i scl = _mm512_broadcast_i32x4(sm);
        const __m512i hh = _mm512_broadcast_i64x4(_mm256_loadu_si256((const __m256i *)(const void *)blk->qh));
        uint32_t dm;
        memcpy(&dm, blk, 4);
        const __m128 dmn = _mm_cvtph_ps(_mm_cvtsi32_si128((int)dm)); /* [d, dmin] */
        __m512i isum[DEC_MR];
        for (int i = 0; i < mr; i++) isum[i] = _mm512_setzero_si512();
        for (int h = 0; h < 2; h++) { /* as in tile_q5_K */
            const __m512i sel0 = _mm512_inserti64x4(_mm512_set1_epi16((short)(0xff00 + 4 * h)),
                                                    _mm256_set1_epi16((short)(0xff00 + 4 * h + 2)), 1);
            const __m512i sel1 = _mm512_inserti64x4(_mm512_set1_epi16((short)(0xff00 + 4 * h + 1)),
                                                    _mm256_set1_epi16((short)(0xff00 + 4 * h + 3)), 1);
            __m512i q0, q1;
            q5k_q(blk, hh, h, &q0, &q1);
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
            acc[i] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(fold1(isum[i])), _mm256_mul_ps(d, _mm256_set1_ps(XQ_D(xb, i)[b])), acc[i]);
            acc[i] = _mm256_fnmadd_ps(_mm256_loadu_ps(XQ_XM(xb, i) + 8 * b), wm, acc[i]);
        }
    }
    for (int i = 0; i < mr; i++) y[i * ldy] = hsum8q(acc[i]);
}

#define QROW_q2_K(mr, xb, w, rb, K, y, ldy) q2_K_row(mr, xb, w, K, y, ldy)
#define QROW_q3_K(mr, xb, w, rb, K, y, ldy) q3_K_row(mr, xb, w, K, y, ldy)
#define QROW_q5_K(mr, xb, w, rb, K, y, ldy) q5_K_row(mr, xb, w, K, y, ldy)
