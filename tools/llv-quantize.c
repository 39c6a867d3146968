/* llv-quantize - rewrites a GGUF model with quantized weights. */
#include "llv.h"
#include "llv-tools.h"
#include "options.h"
#include "tool_progress.h"

#include <stdio.h>
#include <string.h>

static const char *const synopsis = "llv-quantize IN.gguf OUT.gguf TYPE [--verbose] [--quiet]";
static const char *const about =
    "Rewrites a GGUF model (normally F32, F16 or BF16, e.g. from llv-convert) with weights of TYPE:\n"
    "  q8_0, q4_0, q4_1, q5_0,  that type for the text weights (output.weight: q6_k, or q8_0 for q8_0)\n"
    "  q5_1, q4_k, q6_k\n"
    "  q2_k, q3_k, q5_k         likewise (llama.cpp's plain K-quant types; output.weight: q6_k)\n"
    "  q4_k_m                   llama.cpp's Q4_K_M mix: q6_k for output.weight and for attn_v and\n"
    "                           ffn_down of some layers, q4_k for the other text weights\n"
    "  f32, f16, bf16           plain float types\n"
    "The vision tower and projector stay f16, norms, biases and gates f32; rows that are not whole\n"
    "blocks of TYPE fall back to q8_0 or f16. Every metadata key is copied; general.file_type and\n"
    "general.quantization_version are set. Tensors stream one at a time (bounded memory).\n";
static const char *const epilog = "exit status: 0 success, 1 quantization failed, 2 usage error\n";

int main(int argc, char **argv) {
    const char *pos[3] = {NULL, NULL, NULL};
    bool quiet = false, verbose = false;
    const llv_opt table[] = {
        {'v', "verbose", NULL, LLV_OPT_FLAG, {.flag = &verbose}, .help = "print each tensor's type"},
        {'q', "quiet", NULL, LLV_OPT_FLAG, {.flag = &quiet}, .help = "no progress or log output"},
    };
    const llv_cli cli = {"llv-quantize", synopsis, about, epilog, LLV_CLI_OPTS(table), 2, pos, 3, 3};
    int rc = llv_cli_parse(&cli, argc, argv, NULL);
    if (rc >= 0) return rc;
    llv_type type;
    llv_error err = {0};
    if (llv_type_from_name(pos[2], &type, &err) != LLV_OK) return llv_cli_usage_error(&cli, "%s", err.message);
    llv_convert_params p = llv_convert_default_params();
    int last = -1, level = verbose ? LLV_LOG_DEBUG : LLV_LOG_INFO;
    if (!quiet) {
        p.log = llv_tool_log_stderr;
        p.log_user = &level;
        p.progress = llv_tool_progress_stderr;
        p.progress_user = &last;
    }
    llv_status s = llv_quantize(pos[0], pos[1], type, &p, &err);
    return s == LLV_OK ? 0 : llv_tool_fail("llv-quantize", s, &err, last);
}
