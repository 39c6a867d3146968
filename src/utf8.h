/* utf8.h - strict UTF-8 (no overlongs, no surrogates, nothing above U+10FFFF),
 * the one definition the file readers, the tokenizer's streaming decoder, the
 * chat renderer and the JSON readers check against and encode with. */
#ifndef LLV_UTF8_H
#define LLV_UTF8_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Length of the sequence a lead byte starts (1-4), 0 if c cannot lead one. */
static inline size_t llv_utf8_seq_len(unsigned char c) {
    if (c < 0x80) return 1;
    if (c >= 0xc2 && c <= 0xdf) return 2;
    if (c >= 0xe0 && c <= 0xef) return 3;
    if (c >= 0xf0 && c <= 0xf4) return 4;
    return 0;
}

/* Is c acceptable as continuation byte number idx (1-based) after lead? The
 * second byte's narrower ranges are what exclude overlongs, surrogates and
 * code points above U+10FFFF. */
static inline bool llv_utf8_cont_ok(unsigned char lead, size_t idx, unsigned char c) {
    unsigned char lo = 0x80, hi = 0xbf;
    if (idx == 1) {
        if (lead == 0xe0) lo = 0xa0;
        else if (lead == 0xed) hi = 0x9f;
        else if (lead == 0xf0) lo = 0x90;
        else if (lead == 0xf4) hi = 0x8f;
    }
    return c >= lo && c <= hi;
}

/* Decodes the sequence at s[0..n); returns its length (1-4) and sets *cp, or
 * returns 0 if it is invalid or truncated (also for n == 0). */
size_t llv_utf8_decode(const unsigned char *s, size_t n, uint32_t *cp);
/* Length of the longest valid prefix of s[0..n) (n when all of it is valid). */
size_t llv_utf8_valid_prefix(const unsigned char *s, size_t n);
static inline bool llv_utf8_valid(const unsigned char *s, size_t n) { return llv_utf8_valid_prefix(s, n) == n; }

/* Writes the encoding of cp (<= U+10FFFF, not a surrogate) to out; returns
 * its length (1-4), or 0 for a value that has none. */
size_t llv_utf8_encode(uint32_t cp, char out[4]);

#endif
