/* llv-convert - converts a Hugging Face checkpoint directory
 * (MllamaForConditionalGeneration or LlamaForCausalLM) to one GGUF file. */
#include "llv.h"
#include "tool_cli.h"
#include "tool_progress.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void usage(FILE *f) {
    fprintf(f,
            "usage: llv-convert DIR OUT.gguf [--type f32|f16|bf16|q8_0|q4_0|q4_1|q5_0|q5_1|q2_k..q6_k|q4_k_m]\n"
            "                   [--vocab-only] [--quiet]\n"
            "       llv-convert --lora ADAPTER_DIR OUT.gguf [--base BASE] [--type f32|f16|bf16]\n"
            "       llv-convert BASE.gguf OUT.gguf --merge-lora ADAPTER.gguf [--lora-scale S]\n"
            "\n"
            "Converts a Hugging Face checkpoint directory (config.json, *.safetensors, tokenizer.json,\n"
            "tokenizer_config.json, generation_config.json, preprocessor_config.json) of a\n"
            "MllamaForConditionalGeneration (Llama 3.2 Vision) or LlamaForCausalLM model into one GGUF\n"
            "file holding the text and vision weights, the projector, the tokenizer, the chat template,\n"
            "the image processor settings and the generation defaults. Tensors stream one at a time.\n"
            "\n"
            "  --type T       weight type of 2-D+ tensors (default bf16); norms, biases, gates stay f32;\n"
            "                 quantized types: the vision tower and projector stay f16, q4_k_m is\n"
            "                 llama.cpp's Q4_K_M mix, short rows fall back to q8_0/f16 (see llv-quantize)\n"
            "  --vocab-only   write only the tokenizer (general.architecture = llama, no tensors)\n"
            "  --lora         DIR is a PEFT LoRA adapter (adapter_config.json, adapter_model.safetensors)\n"
            "                 of the text decoder: writes a GGUF adapter (llama.cpp layout) for\n"
            "                 llv-run/llv-server --lora; default type f32\n"
            "  --base BASE    with --lora: the base model (HF directory or GGUF) whose shapes the adapter\n"
            "                 needs; default: base_model_name_or_path if local, else DIR/config.json\n"
            "  --merge-lora A writes BASE.gguf with the GGUF adapter A merged into its f32/f16/bf16 weights\n"
            "                 (W + scale * alpha / r * B A)\n"
            "  --lora-scale S with --merge-lora: the adapter's scale (default 1)\n"
            "  --quiet        no progress or log output\n"
            "\n"
            "exit status: 0 success, 1 conversion failed, 2 usage error\n");
}

int main(int argc, char **argv) {
    const char *in = NULL, *out = NULL;
    llv_convert_params p = llv_convert_default_params();
    bool quiet = false, lora = false, type_set = false;
    const char *base = NULL, *merge = NULL;
    float scale = 1.0f;
    for (int i = 1; i < argc; i++) {
        if (llv_tool_is_help(argv[i])) {
            usage(stdout);
            return 0;
        } else if (!strcmp(argv[i], "--type")) {
            const char *v = llv_tool_value("llv-convert", argc, argv, &i);
            if (!v || !llv_tool_type("llv-convert", v, &p.type)) return 2;
            type_set = true;
        } else if (!strcmp(argv[i], "--lora")) {
            lora = true;
        } else if (!strcmp(argv[i], "--base") || !strcmp(argv[i], "--merge-lora") ||
                   !strcmp(argv[i], "--lora-scale")) {
            const char *o = argv[i];
            const char *v = llv_tool_value("llv-convert", argc, argv, &i);
            if (!v) return 2;
            if (!strcmp(o, "--base")) {
                base = v;
            } else if (!strcmp(o, "--merge-lora")) {
                merge = v;
            } else {
                char *end;
                scale = strtof(v, &end);
                if (!*v || *end) {
                    fprintf(stderr, "llv-convert: bad --lora-scale '%s'\n", v);
                    return 2;
                }
            }
        } else if (!strcmp(argv[i], "--vocab-only")) {
            p.vocab_only = true;
        } else if (!strcmp(argv[i], "--quiet") || !strcmp(argv[i], "-q")) {
            quiet = true;
        } else if (argv[i][0] == '-' && argv[i][1]) {
            fprintf(stderr, "llv-convert: unknown option '%s'\n", argv[i]);
            usage(stderr);
            return 2;
        } else if (!in) {
            in = argv[i];
        } else if (!out) {
            out = argv[i];
        } else {
            fprintf(stderr, "llv-convert: unexpected argument '%s'\n", argv[i]);
            return 2;
        }
    }
    if (!in || !out) {
        usage(stderr);
        return 2;
    }
    if ((lora && merge) || (base && !lora) || (scale != 1.0f && !merge) || ((lora || merge) && p.vocab_only)) {
        fprintf(stderr, "llv-convert: --lora (with --base) and --merge-lora (with --lora-scale) are separate modes\n");
        return 2;
    }
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
