/* llv-quantize - rewrites a GGUF model with quantized weights. */
#include "llv.h"
#include "tool_progress.h"

#include <stdio.h>
#include <string.h>

static void usage(FILE *f) {
    fprintf(f,
            "usage: llv-quantize IN.gguf OUT.gguf TYPE [--verbose] [--quiet]\n"
            "\n"
            "Rewrites a GGUF model (normally F32, F16 or BF16, e.g. from llv-convert) with weights of TYPE:\n"
            "  q8_0, q4_0, q4_1, q5_0,  that type for the text weights (output.weight: q6_k, or q8_0 for q8_0)\n"
            "  q5_1, q4_k, q6_k\n"
            "  q2_k, q3_k, q5_k         likewise (llama.cpp's plain K-quant types; output.weight: q6_k)\n"
            "  q4_k_m                   llama.cpp's Q4_K_M mix: q6_k for output.weight and for attn_v and\n"
            "                           ffn_down of some layers, q4_k for the other text weights\n"
            "  f32, f16, bf16           plain float types\n"
            "The vision tower and projector stay f16, norms, biases and gates f32; rows that are not whole\n"
            "blocks of TYPE fall back to q8_0 or f16. Every metadata key is copied; general.file_type and\n"
            "general.quantization_version are set. Tensors stream one at a time (bounded memory).\n"
            "\n"
            "  --verbose      print each tensor's type\n"
            "  --quiet        no progress or log output\n"
            "\n"
            "exit status: 0 success, 1 quantization failed, 2 usage error\n");
}

int main(int argc, char **argv) {
    const char *pos[3] = {NULL, NULL, NULL};
    int npos = 0;
    bool quiet = false, verbose = false;
    for (int i = 1; i < argc; i++) {
        if (llv_tool_is_help(argv[i])) {
            usage(stdout);
            return 0;
        } else if (!strcmp(argv[i], "--quiet") || !strcmp(argv[i], "-q")) {
            quiet = true;
        } else if (!strcmp(argv[i], "--verbose") || !strcmp(argv[i], "-v")) {
            verbose = true;
        } else if (argv[i][0] == '-' && argv[i][1]) {
            fprintf(stderr, "llv-quantize: unknown option '%s'\n", argv[i]);
            usage(stderr);
            return 2;
        } else if (npos < 3) {
            pos[npos++] = argv[i];
        } else {
            fprintf(stderr, "llv-quantize: unexpected argument '%s'\n", argv[i]);
            return 2;
        }
    }
    if (npos != 3) {
        usage(stderr);
        return 2;
    }
    llv_type type;
    llv_error err = {0};
    if (llv_type_from_name(pos[2], &type, &err) != LLV_OK) {
        fprintf(stderr, "llv-quantize: %s\n", err.message);
        return 2;
    }
    llv_convert_params p = llv_convert_default_params();
    int last = -1, level = verbose ? LLV_LOG_DEBUG : LLV_LOG_INFO;
    if (!quiet) {
        p.log = llv_tool_log_stderr;
        p.log_user = &level;
        p.progress = llv_tool_progress_stderr;
        p.progress_user = &last;
    }
    llv_status s = llv_quantize(pos[0], pos[1], type, &p, &err);
    if (s != LLV_OK) {
        if (!quiet && last >= 0 && last < 100) fputc('\n', stderr);
        fprintf(stderr, "llv-quantize: %s: %s\n", llv_status_name(s), err.message);
        return 1;
    }
    return 0;
}
