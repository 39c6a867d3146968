/* fuzz.h - shared glue of the libFuzzer targets (tests/fuzz/fuzz-*.c).
 *
 * Each target defines its entry with LLV_FUZZ_TARGET(name). In a libFuzzer
 * build (tests/fuzz/CMakeLists.txt, tools/fuzz.sh) that is
 * LLVMFuzzerTestOneInput; with LLV_FUZZ_REPLAY defined (tests/test-fuzz-replay.c
 * links every target into one ordinary CTest) it is llv_fuzz_<name>, so every
 * build, the sanitizer one included, replays the corpora and regressions. */
#ifndef LLV_FUZZ_H
#define LLV_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#ifdef LLV_FUZZ_REPLAY
#define LLV_FUZZ_TARGET(name) int llv_fuzz_##name(const uint8_t *data, size_t size)
#else
#define LLV_FUZZ_TARGET(name)                                                                                      \
    int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);                                                  \
    int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
#endif

/* A broken invariant: report and abort so libFuzzer (or the replay test)
 * records the input as a finding. */
#define LLV_FUZZ_ASSERT(cond)                                                                                      \
    do {                                                                                                           \
        if (!(cond)) {                                                                                             \
            fprintf(stderr, "%s:%d: fuzz invariant failed: %s\n", __FILE__, __LINE__, #cond);                     \
            abort();                                                                                               \
        }                                                                                                          \
    } while (0)

/* Reads every byte of [p, p+n) so ASan sees an out-of-bounds range. */
static inline unsigned llv_fuzz_touch(const void *p, size_t n) {
    const volatile unsigned char *b = p;
    unsigned s = 0;
    for (size_t i = 0; i < n; i++) s += b[i];
    return s;
}

#endif
