/* llv-synth - writes random models of preset shapes (with their own small
 * tokenizer) as a GGUF file or a Hugging Face checkpoint directory, and the
 * demo image. */
#include "llv.h"
#include "llv-tools.h"
#include "options.h"
#include "tool_progress.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wshadow"
#pragma GCC diagnostic ignored "-Wsign-compare"
#pragma GCC diagnostic ignored "-Wunused-function"
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"
#define STB_IMAGE_WRITE_IMPLEMENTATION
#define STB_IMAGE_WRITE_STATIC
#include <stb/stb_image_write.h>
#pragma GCC diagnostic pop

static const char *const synopsis =
    "llv-synth OUT [--preset P] [--layers N] [--seed N] [--type f32|f16|bf16] [--vision-interm I,J,..]\n"
    "          [--hf-dir] [--quiet]\n"
    "llv-synth OUT.png --image\n"
    "llv-synth OUT_DIR --lora-for PRESET [--rank R] [--seed N]";
static const char *const about =
    "Writes a random model (seeded, reproducible) with its own byte-level BPE tokenizer:\n"
    "a GGUF file at OUT, or with --hf-dir a Hugging Face checkpoint directory (config.json,\n"
    "safetensors, tokenizer files) for llv-convert. Presets: tiny (tests), demo\n"
    "(models/demo.gguf), 11b (the exact Llama 3.2 11B Vision shapes, 10.7 B parameters),\n"
    "90b (Llama 3.2 90B Vision's shapes, 88.6 B parameters: cut it with --layers),\n"
    "llama-tiny (LlamaForCausalLM, tied embeddings). --image writes the 64x48 demo PNG.\n";
static const char *const epilog = "exit status: 0 success, 1 failure, 2 usage error\n";

/* --vision-interm I,J,..: up to 16 layer indices (the library checks them against the preset) */
static bool parse_interm(const char *v, void *ctx, char *why, size_t n) {
    llv_synth_params *p = ctx;
    p->n_v_interm = 0;
    for (const char *c = v;;) {
        char *end;
        long k = strtol(c, &end, 10);
        if (end == c || k < 0 || k > 256 || p->n_v_interm >= 16 || (*end && *end != ',')) {
            snprintf(why, n, "expected up to 16 comma-separated layer indices");
            return false;
        }
        p->v_interm[p->n_v_interm++] = (int32_t)k;
        if (!*end) return true;
        c = end + 1;
    }
}

/* The demo image: a gradient with a red disc, a blue square and a yellow triangle. */
static int write_demo_png(const char *path) {
    enum { W = 64, H = 48 };
    static uint8_t px[W * H * 3];
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++) {
            uint8_t *p = &px[(y * W + x) * 3];
            p[0] = (uint8_t)(40 + x * 2);
            p[1] = (uint8_t)(90 + y * 3);
            p[2] = (uint8_t)(200 - x - y);
            int dx = x - 18, dy = y - 16;
            if (dx * dx + dy * dy <= 81) { p[0] = 220; p[1] = 30; p[2] = 40; }
            if (x >= 38 && x < 54 && y >= 8 && y < 24) { p[0] = 30; p[1] = 60; p[2] = 210; }
            if (y >= 28 && y < 44 && x >= 32 - (y - 28) && x <= 32 + (y - 28)) { p[0] = 240; p[1] = 210; p[2] = 40; }
        }
    return stbi_write_png(path, W, H, 3, px, W * 3) ? 0 : 1;
}

int main(int argc, char **argv) {
    const char *out = NULL;
    llv_synth_params p = llv_synth_default_params();
    bool quiet = false, image = false;
    const char *lora_for = NULL;
    int32_t rank = 8;
    const llv_opt table[] = {
        {0, "preset", "P", LLV_OPT_STR, {.str = &p.preset}, .help = "tiny, demo, 11b, 90b or llama-tiny"},
        {0, "layers", "N", LLV_OPT_INT, {.i = &p.layers}, 1, 256, .def = "all",
         .help = "only the preset's first N text layers (and the cross-attention layers among them)"},
        {0, "seed", "N", LLV_OPT_U64, {.u64 = &p.seed}, .help = "random seed"},
        {0, "type", "T", LLV_OPT_TYPE, {.type = &p.type}, .help = "weight type: f32, f16 or bf16"},
        {0, "vision-interm", "I,J,..", LLV_OPT_CALL, {.ctx = &p}, .fn = parse_interm, .def = "the preset's",
         .help = "the vision tower's intermediate_layers_indices (0..its layer count; the count is a valid index: "
                 "HF's last hidden state)"},
        {0, "hf-dir", NULL, LLV_OPT_FLAG, {.flag = &p.hf_dir},
         .help = "write a Hugging Face checkpoint directory instead of a GGUF file"},
        {0, "image", NULL, LLV_OPT_FLAG, {.flag = &image}, .help = "write the 64x48 demo PNG to OUT instead"},
        {0, "lora-for", "P", LLV_OPT_STR, {.str = &lora_for},
         .help = "write a random PEFT LoRA adapter directory for preset P instead (every text projection, "
                 "lora_alpha = 2 r, F32, plus the base config.json)"},
        {0, "rank", "R", LLV_OPT_INT, {.i = &rank}, 1, 1024, .help = "LoRA rank for --lora-for"},
        {'q', "quiet", NULL, LLV_OPT_FLAG, {.flag = &quiet}, .help = "no progress or log output"},
    };
    const llv_cli cli = {"llv-synth", synopsis, about, epilog, LLV_CLI_OPTS(table), 2, &out, 1, 1};
    int rc = llv_cli_parse(&cli, argc, argv, NULL);
    if (rc >= 0) return rc;
    if (image) {
        if (write_demo_png(out)) {
            fprintf(stderr, "llv-synth: cannot write %s\n", out);
            return 1;
        }
        return 0;
    }
    if (lora_for) {
        llv_error err = {0};
        llv_status s = llv_synth_lora(out, lora_for, rank, p.seed, &err);
        if (s != LLV_OK) {
            fprintf(stderr, "llv-synth: %s: %s\n", llv_status_name(s), err.message);
            return 1;
        }
        return 0;
    }
    int last = -1;
    if (!quiet) {
        p.log = llv_tool_log_stderr;
        p.progress = llv_tool_progress_stderr;
        p.progress_user = &last;
    }
    llv_error err = {0};
    llv_status s = llv_synth(out, &p, &err);
    return s == LLV_OK ? 0 : llv_tool_fail("llv-synth", s, &err, last);
}
