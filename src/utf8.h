/* utf8.h - strict UTF-8 (no overlongs, no surrogates, nothing above U+10FFFF),
 * the one definition the file readers and the chat renderer check against. */
#ifndef LLV_UTF8_H
#define LLV_UTF8_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Decodes the sequence at s[0..n); returns its length (1-4) and sets *cp, or
 * returns 0 if it is invalid or truncated (also for n == 0). */
size_t llv_utf8_decode(const unsigned char *s, size_t n, uint32_t *cp);
/* Length of the longest valid prefix of s[0..n) (n when all of it is valid). */
size_t llv_utf8_valid_prefix(const unsigned char *s, size_t n);
static inline bool llv_utf8_valid(const unsigned char *s, size_t n) { return llv_utf8_valid_prefix(s, n) == n; }

#endif
