/* llv-convert - converts a Hugging Face checkpoint directory
 * (MllamaForConditionalGeneration or LlamaForCausalLM) to one GGUF file. */
#include "llv.h"
#include "llv-tools.h"
#include "options.h"
#include "tool_progress.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const synopsis =
    "llv-convert DIR OUT.gguf [--type T] [--vocab-only] [--quiet]\n"
    "llv-convert --lora ADAPTER_DIR OUT.gguf [--base BASE] [--type f32|f16|bf16]\n"
    "llv-convert BASE.gguf OUT.gguf --merge-lora ADAPTER.gguf [--lora-scale S]";
static const char *const about =
    "Converts a Hugging Face checkpoint directory (config.json, *.safetensors, tokenizer.json,\n"
    "tokenizer_config.json, generation_config.json, preprocessor_config.json) of a\n"
    "MllamaForConditionalGeneration (Llama 3.2 Vision) or LlamaForCausalLM model into one GGUF\n"
    "file holding the text and vision weights, the projector, the tokenizer, the chat template,\n"
    "the image processor settings and the generation defaults. Tensors stream one at a time.\n";
static const char *const epilog = "exit status: 0 success, 1 conversion failed, 2 usage error\n";

int main(int argc, char **argv) {
    const char *pos[2] = {NULL, NULL};
    llv_convert_params p = llv_convert_default_params();
    bool quiet = false, lora = false, type_set = false;
    const char *base = NULL, *merge = NULL;
    float scale = 1.0f;
    const llv_opt table[] = {
        {0, "type", "T", LLV_OPT_TYPE, {.type = &p.type}, .given = &type_set, .def = "bf16; f32 with --lora",
         .help = "weight type of 2-D+ tensors: f32, f16, bf16, q8_0, q4_0, q4_1, q5_0, q5_1, q2_k, q3_k, q4_k, "
                 "q5_k, q6_k or q4_k_m; norms, biases, gates stay f32; quantized types: the vision tower and "
                 "projector stay f16, q4_k_m is llama.cpp's Q4_K_M mix, short rows fall back to q8_0/f16 (see "
                 "llv-quantize)"},
        {0, "vocab-only", NULL, LLV_OPT_FLAG, {.flag = &p.vocab_only},
         .help = "write only the tokenizer (general.architecture = llama, no tensors)"},
        {0, "lora", NULL, LLV_OPT_FLAG, {.flag = &lora},
         .help = "DIR is a PEFT LoRA adapter (adapter_config.json, adapter_model.safetensors) of the text decoder: "
                 "writes a GGUF adapter (llama.cpp layout) for llv-run/llv-server --lora"},
        {0, "base", "BASE", LLV_OPT_STR, {.str = &base},
         .def = "base_model_name_or_path if local, else DIR/config.json",
         .help = "with --lora: the base model (HF directory or GGUF) whose shapes the adapter needs"},
        {0, "merge-lora", "A", LLV_OPT_STR, {.str = &merge},
         .help = "writes BASE.gguf with the GGUF adapter A merged into its f32/f16/bf16 weights (W + scale * "
                 "alpha / r * B A)"},
        {0, "lora-scale", "S", LLV_OPT_FLOAT, {.f = &scale}, .help = "with --merge-lora: the adapter's scale"},
        {'q', "quiet", NULL, LLV_OPT_FLAG, {.flag = &quiet}, .help = "no progress or log output"},
    };
    const llv_cli cli = {"llv-convert", synopsis, about, epilog, LLV_CLI_OPTS(table), 2, pos, 2, 2};
    int rc = llv_cli_parse(&cli, argc, argv, NULL);
    if (rc >= 0) return rc;
    const char *in = pos[0], *out = pos[1];
    if ((lora && merge) || (base && !lora) || (scale != 1.0f && !merge) || ((lora || merge) && p.vocab_only))
        return llv_cli_usage_error(&cli, "--lora (with --base) and --merge-lora (with --lora-scale) are separate "
                                         "modes");
    if (lora && !type_set) p.type = LLV_TYPE_F32;
    int last = -1;
    if (!quiet) {
        p.log = llv_tool_log_stderr;
        p.progress = llv_tool_progress_stderr;
        p.progress_user = &last;
    }
    llv_error err = {0};
    llv_status s;
    if (lora) s = llv_convert_lora(in, base, out, &p, &err);
    else if (merge) s = llv_lora_merge(in, merge, scale, out, &err);
    else s = llv_convert(in, out, &p, &err);
    return s == LLV_OK ? 0 : llv_tool_fail("llv-convert", s, &err, last);
}
