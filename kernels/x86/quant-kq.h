/* quant-kq.h - Q2_K, Q3_K and Q5_K register tiles, included by quant-impl.h
 * after its own tiles (so once per ISA): the 256-bit tiles here, the 512-bit
 * ones in quant-kq-zmm.h when QZMM is defined. They follow the Q6_K tile
 * (Q2_K, Q3_K: 16-value sub-blocks, one scale per 8 int16 lanes) and the
 * Q4_K tile (Q5_K: its nibbles plus the fifth bit from qh). Activations are
 * Q8_K-style (quant_rows_k); the weights' min terms (Q2_K) and offsets (Q3_K:
 * q - 4) go through the 16-value activation sums XQ_BS, so every product
 * stays exact in int32 (maddubs pair sums at most 2 * 31 * 127 < 2^15):
 *   Q2_K: sum d*sc*q*a - dmin * sum_s m_s * bs_s
 *   Q3_K: d * (sum sc*q3*a - 4 * sum_s sc_s * bs_s), q3 = q + 4 in [0, 8)
 *   Q5_K: as Q4_K with q in [0, 32).
 * As everywhere in quant-impl.h, each output's int32 and float operations
 * depend only on K, not on the tile it lands in. */

/* The 16 signed Q3_K scales as int8 (llv_q3k_scales in vector ops): reads
 * the 16 bytes that end with the scales (the last 4 of qs before them), so
 * never past the 110-byte block. */
QI __m128i q3k_scales16(const uint8_t *scales) {
    const __m128i s = _mm_loadu_si128((const __m128i *)(const void *)(scales - 4)); /* scales at bytes 4-15 */
    /* low 4 bits: bytes 0-7 of the scales for scales 0-7, their high nibbles for 8-15 */
    __m128i lo = _mm_shuffle_epi8(s, _mm_setr_epi8(4, 5, 6, 7, 8, 9, 10, 11, 4, 5, 6, 7, 8, 9, 10, 11));
    lo = _mm_and_si128(_mm_srlv_epi64(lo, _mm_set_epi64x(4, 0)), _mm_set1_epi8(0x0f));
    /* high 2 bits: byte 8 + s%4, bits 2(s/4) */
    __m128i hi = _mm_shuffle_epi8(s, _mm_setr_epi8(12, 13, 14, 15, 12, 13, 14, 15, 12, 13, 14, 15, 12, 13, 14, 15));
    hi = _mm_and_si128(_mm_srlv_epi32(hi, _mm_setr_epi32(0, 2, 4, 6)), _mm_set1_epi8(0x03));
    return _mm_sub_epi8(_mm_or_si128(lo, _mm_slli_epi16(hi, 4)), _mm_set1_epi8(32));
}

#ifndef QZMM
/* Bit b (0..7) of every byte of v moved to bit `to`, other bits cleared. */
QI __m256i bit_to(__m256i v, int b, int to) {
    v = _mm256_and_si256(v, _mm256_set1_epi8((char)(1 << b)));
    return b > to ? _mm256_srli_epi16(v, b - to) : _mm256_slli_epi16(v, to - b);
}

/* pshufb indices: byte s0 zero-extended to int16 in the low 128 bits, s1 in the high */
QI __m256i sel_bytes(int s0, int s1) {
    return _mm256_set_m128i(_mm_set1_epi16((short)(0xff00 | s1)), _mm_set1_epi16((short)(0xff00 | s0)));
}

/* Q2_K / Q3_K: per 128 values h and shift t, the 32 values 128h + 32t + l
 * come from qs[32h + l] >> 2t: one register, sub-blocks 8h + 2t (low 128
 * bits of the int16 products) and 8h + 2t + 1 (high). */
QI void tile_q2_K_n(int mr, int nrc, size_t pfd, const xq_buf *xb, const unsigned char *w, size_t rb, int64_t K,
                    float *y, int64_t ldy, int nv) {
    const unsigned char *wr[QNR];
    wrows(wr, w, rb, nv);
    __m256 acc[QMR][QNR];
    for (int i = 0; i < mr; i++)
        for (int j = 0; j < nrc; j++) acc[i][j] = _mm256_setzero_ps();
    const __m256i m3 = _mm256_set1_epi8(0x03);
    const __m128i m4 = _mm_set1_epi8(0x0f);
    for (int64_t b = 0; b < K / 256; b++) {
        const x86_block_q2_K *blk[QNR];
        __m256i scl[QNR], mins[QNR];
        __m256 dd[QNR], dm[QNR];
        for (int j = 0; j < nrc; j++) {
            blk[j] = (const x86_block_q2_K *)(const void *)wr[j] + b;
            for (int l = 0; l < 2; l++) _mm_prefetch((const char *)blk[j] + pfd + 64 * l, _MM_HINT_T0);
            const __m128i s = _mm_loadu_si128((const __m128i *)(const void *)blk[j]->scales);
            scl[j] = _mm256_broadcastsi128_si256(_mm_and_si128(s, m4));                     /* sc0..sc15 twice */
            mins[j] = _mm256_cvtepu8_epi16(_mm_and_si128(_mm_srli_epi16(s, 4), m4)); /* m0..m15 */
            dd[j] = _mm256_set1_ps(f16(blk[j]->d));
            dm[j] = _mm256_set1_ps(f16(blk[j]->dmin));
        }
        __m256i isum[QMR][QNR];
        for (int i = 0; i < mr; i++)
            for (int j = 0; j < nrc; j++) isum[i][j] = _mm256_setzero_si256();
        for (int h = 0; h < 2; h++) {
            __m256i v[QNR];
            for (int j = 0; j < nrc; j++) v[j] = _mm256_loadu_si256((const __m256i *)(const void *)(blk[j]->qs + 32 * h));
            for (int t = 0; t < 4; t++) {
                const __m256i sel = sel_bytes(8 * h + 2 * t, 8 * h + 2 * t + 1);
                __m256i q[QNR], s16[QNR];
                for (int j = 0; j < nrc; j++) {
                    q[j] = _mm256_and_si256(_mm256_srli_epi16(v[j], 2 * t), m3);
                    s16[j] = _mm256_shuffle_epi8(scl[j], sel);
                }
                for (int i = 0; i < mr; i++) {
                    __m256i a = _mm256_load_si256((const __m256i *)(const void *)(XQ_QS(xb, i) + 256 * b + 128 * h + 32 * t));
                    for (int j = 0; j < nrc; j++) isum[i][j] = DPWSSD(isum[i][j], _mm256_maddubs_epi16(q[j], a), s16[j]);
                }
            }
        }
        for (int i = 0; i < mr; i++) {
            __m256i bs = _mm256_load_si256((const __m256i *)(const void *)(XQ_BS(xb, i) + 16 * b));
            __m256 da = _mm256_set1_ps(XQ_D(xb, i)[b]);
            for (int j = 0; j < nrc; j++) {
                __m256i mt = _mm256_madd_epi16(bs, mins[j]);
                acc[i][j] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(isum[i][j]), _mm256_mul_ps(dd[j], da), acc[i][j]);
                acc[i][j] = _mm256_fnmadd_ps(_mm256_cvtepi32_ps(mt), _mm256_mul_ps(dm[j], da), acc[i][j]);
            }
        }
    }
    store_tile(mr, nrc, acc, y, ldy, nv);
}

/* Q3_K: Q2_K's low bits plus bit 4h + t of hmask[l] as bit 2 (q3 = q + 4). */
QI void tile_q3_K_n(int mr, int nrc, size_t pfd, const xq_buf *xb, const unsigned char *w, size_t rb, int64_t K,
                    float *y, int64_t ldy, int nv) {
    const unsigned char *wr[QNR];
    wrows(wr, w, rb, nv);
    __m256 acc[QMR][QNR];
    for (int i = 0; i < mr; i++)
        for (int j = 0; j < nrc; j++) acc[i][j] = _mm256_setzero_ps();
    const __m256i m3 = _mm256_set1_epi8(0x03);
    for (int64_t b = 0; b < K / 256; b++) {
        const x86_block_q3_K *blk[QNR];
        __m256i scv[QNR], sch[QNR][2], hm[QNR];
        for (int j = 0; j < nrc; j++) {
            blk[j] = (const x86_block_q3_K *)(const void *)wr[j] + b;
            for (int l = 0; l < 2; l++) _mm_prefetch((const char *)blk[j] + pfd + 64 * l, _MM_HINT_T0);
            scv[j] = _mm256_cvtepi8_epi16(q3k_scales16(blk[j]->scales));
            sch[j][0] = _mm256_broadcastsi128_si256(_mm256_castsi256_si128(scv[j])); /* scales 0-7 twice */
            sch[j][1] = _mm256_broadcastsi128_si256(_mm256_extracti128_si256(scv[j], 1)); /* 8-15 twice */
            hm[j] = _mm256_loadu_si256((const __m256i *)(const void *)blk[j]->hmask);
        }
        __m256i isum[QMR][QNR];
        for (int i = 0; i < mr; i++) {
            __m256i bs = _mm256_load_si256((const __m256i *)(const void *)(XQ_BS(xb, i) + 16 * b));
            for (int j = 0; j < nrc; j++) /* the -4 offset: -4 * sum_s sc_s * sum16_s */
                isum[i][j] = _mm256_sub_epi32(_mm256_setzero_si256(), _mm256_slli_epi32(_mm256_madd_epi16(bs, scv[j]), 2));
        }
        for (int h = 0; h < 2; h++) {
            __m256i v[QNR];
            for (int j = 0; j < nrc; j++) v[j] = _mm256_loadu_si256((const __m256i *)(const void *)(blk[j]->qs + 32 * h));
            for (int t = 0; t < 4; t++) {
                /* int16 lane 2t of sch[h] in the low 128 bits, 2t + 1 in the high */
                const __m256i sel = _mm256_set_m128i(_mm_set1_epi16((short)(0x0100 + 0x0202 * (2 * t + 1))),
                                                     _mm_set1_epi16((short)(0x0100 + 0x0202 * (2 * t))));
                __m256i q[QNR], s16[QNR];
                for (int j = 0; j < nrc; j++) {
                    q[j] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(v[j], 2 * t), m3), bit_to(hm[j], 4 * h + t, 2));
                    s16[j] = _mm256_shuffle_epi8(sch[j][h], sel);
                }
                for (int i = 0; i < mr; i++) {
                    __m256i a = _mm256_load_si256((const __m256i *)(const void *)(XQ_QS(xb, i) + 256 * b + 128 * h + 32 * t));
                    for (int j = 0; j < nrc; j++) isum[i][j] = DPWSSD(isum[i][j], _mm256_maddubs_epi16(q[j], a), s16[j]);
                }
            }
        }
        for (int i = 0; i < mr; i++) {
            float da = XQ_D(xb, i)[b];
            for (int j = 0; j < nrc; j++)
                acc[i][j] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(isum[i][j]), _mm256_set1_ps(f16(blk[j]->d) * da),
                                            acc[i][j]);
        }
    }
    store_tile(mr, nrc, acc, y, ldy, nv);
}

/* Q5_K: tile_q4_K_n with bits 2p (low nibbles) and 2p + 1 (high) of qh as bit 4. */
QI void tile_q5_K_n(int mr, int nrc, size_t pfd, const xq_buf *xb, const unsigned char *w, size_t rb, int64_t K,
                    float *y, int64_t ldy, int nv) {
    const unsigned char *wr[QNR];
    wrows(wr, w, rb, nv);
    __m256 acc[QMR][QNR];
    for (int i = 0; i < mr; i++)
        for (int j = 0; j < nrc; j++) acc[i][j] = _mm256_setzero_ps();
    const __m256i lo4 = _mm256_set1_epi8(0x0f);
    for (int64_t b = 0; b < K / 256; b++) {
        const x86_block_q5_K *blk[QNR];
        __m256i scl[QNR], mins[QNR], hb[QNR];
        __m256 dd[QNR], dm[QNR];
        for (int j = 0; j < nrc; j++) {
            blk[j] = (const x86_block_q5_K *)(const void *)wr[j] + b;
            for (int l = 0; l < 3; l++) _mm_prefetch((const char *)blk[j] + pfd + 64 * l, _MM_HINT_T0);
            __m256i sm = q4k_scales_mins(blk[j]->scales);
            __m128i sc = _mm256_castsi256_si128(sm), mn = _mm256_extracti128_si256(sm, 1);
            scl[j] = _mm256_broadcastsi128_si256(sc);
            mins[j] = _mm256_set_m128i(_mm_unpackhi_epi16(mn, mn), _mm_unpacklo_epi16(mn, mn));
            hb[j] = _mm256_loadu_si256((const __m256i *)(const void *)blk[j]->qh);
            dd[j] = _mm256_set1_ps(f16(blk[j]->d));
            dm[j] = _mm256_set1_ps(f16(blk[j]->dmin));
        }
        __m256i isum[QMR][QNR];
        for (int i = 0; i < mr; i++)
            for (int j = 0; j < nrc; j++) isum[i][j] = _mm256_setzero_si256();
        for (int p = 0; p < 4; p++) { /* 64 values: sub-blocks 2p (low nibbles), 2p+1 (high) */
            const __m256i bl = _mm256_set1_epi16((short)(0x0100 + 0x0202 * (2 * p)));
            const __m256i bh = _mm256_set1_epi16((short)(0x0100 + 0x0202 * (2 * p + 1)));
            __m256i ql[QNR], qh[QNR], sl[QNR], sh[QNR];
            for (int j = 0; j < nrc; j++) {
                __m256i v = _mm256_loadu_si256((const __m256i *)(const void *)(blk[j]->qs + 32 * p));
                ql[j] = _mm256_or_si256(_mm256_and_si256(v, lo4), bit_to(hb[j], 2 * p, 4));
                qh[j] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(v, 4), lo4), bit_to(hb[j], 2 * p + 1, 4));
                sl[j] = _mm256_shuffle_epi8(scl[j], bl);
                sh[j] = _mm256_shuffle_epi8(scl[j], bh);
            }
            for (int i = 0; i < mr; i++) {
                const int8_t *q8 = XQ_QS(xb, i) + 256 * b + 64 * p;
                __m256i a0 = _mm256_load_si256((const __m256i *)(const void *)q8);
                __m256i a1 = _mm256_load_si256((const __m256i *)(const void *)(q8 + 32));
                for (int j = 0; j < nrc; j++) {
                    isum[i][j] = DPWSSD(isum[i][j], _mm256_maddubs_epi16(ql[j], a0), sl[j]);
                    isum[i][j] = DPWSSD(isum[i][j], _mm256_maddubs_epi16(qh[j], a1), sh[j]);
                }
            }
        }
        for (int i = 0; i < mr; i++) {
            __m256i bs = _mm256_load_si256((const __m256i *)(const void *)(XQ_BS(xb, i) + 16 * b));
            __m256 da = _mm256_set1_ps(XQ_D(xb, i)[b]);
            for (int j = 0; j < nrc; j++) {
                __m256i mt = _mm256_madd_epi16(bs, mins[j]);
                acc[i][j] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(isum[i][j]), _mm256_mul_ps(dd[j], da), acc[i][j]);
                acc[i][j] = _mm256_fnmadd_ps(_mm256_cvtepi32_ps(mt), _mm256_mul_ps(dm[j], da), acc[i][j]);
            }
        }
    }
    store_tile(mr, nrc, acc, y, ldy, nv);
}

QTILE_WRAP(q2_K)
QTILE_WRAP(q3_K)
QTILE_WRAP(q5_K)
#define QROW_q2_K(mr, xb, w, rb, K, y, ldy) tile_q2_K_n(mr, 1, DEC_PF, xb, w, rb, K, y, ldy, 1)
#define QROW_q3_K(mr, xb, w, rb, K, y, ldy) tile_q3_K_n(mr, 1, DEC_PF, xb, w, rb, K, y, ldy, 1)
#define QROW_q5_K(mr, xb, w, rb, K, y, ldy) tile_q5_K_n(mr, 1, DEC_PF, xb, w, rb, K, y, ldy, 1)
#define Q2K_QUANT quant_rows_k
#define Q5K_QUANT quant_rows_k
#else
#include "quant-kq-zmm.h"
#endif
