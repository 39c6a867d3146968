/* fuzz-model.c - the model loader (src/model.c) on a hostile GGUF: metadata
 * -> hyperparameters -> tensor binding, plus a vocabulary-only load. The
 * input is handed to llv_model_load through a memfd (/proc/self/fd/N), so
 * nothing touches the disk. Seeds: the tiny model's metadata without
 * tensors (a vocabulary-only file) and the GGUF seeds. */
#define _GNU_SOURCE
#include "fuzz.h"
#include "llv.h"

#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

LLV_FUZZ_TARGET(model) {
    int fd = memfd_create("llv-fuzz-model", MFD_CLOEXEC);
    if (fd < 0) return 0; /* no memfd here: nothing to test */
    size_t off = 0;
    while (off < size) {
        ssize_t w = write(fd, data + off, size - off);
        LLV_FUZZ_ASSERT(w > 0);
        off += (size_t)w;
    }
    char path[64];
    snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    llv_model *m = NULL;
    llv_error err;
    llv_status st = llv_model_load(path, NULL, &m, &err);
    if (st != LLV_OK) {
        LLV_FUZZ_ASSERT(m == NULL && err.message[0] != '\0');
    } else {
        llv_model_info info;
        llv_model_get_info(m, &info);
        LLV_FUZZ_ASSERT(info.architecture != NULL && info.name != NULL);
        LLV_FUZZ_ASSERT(info.n_eog >= 0 && (info.n_eog == 0 || info.eog_ids != NULL));
        int32_t ids[64];
        size_t n = 0;
        static const char text[] = "<|image|>Hello, world! 42";
        if (llv_tokenize(m, text, sizeof text - 1, LLV_TOKENIZE_ADD_BOS | LLV_TOKENIZE_PARSE_SPECIAL, ids, 64, &n,
                         &err) == LLV_OK) {
            char buf[512];
            size_t nb;
            (void)llv_detokenize(m, ids, n, false, buf, sizeof buf, &nb, &err);
        }
        llv_message msg = {.role = "user", .content = "hi"};
        llv_chat_params cp = llv_chat_default_params();
        cp.date_string = "26 Jul 2024";
        size_t need = 0;
        (void)llv_chat_render(m, &msg, 1, &cp, NULL, 0, &need, &err);
        llv_model_free(m);
    }
    close(fd);
    return 0;
}
