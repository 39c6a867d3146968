/* llv-synth - writes random models of preset shapes (with their own small
 * tokenizer) as a GGUF file or a Hugging Face checkpoint directory, and the
 * demo image. */
#include "llv.h"
#include "tool_cli.h"
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

static void usage(FILE *f) {
    fprintf(f,
            "usage: llv-synth OUT [--preset tiny|demo|11b|90b|llama-tiny] [--layers N] [--seed N]\n"
            "                 [--type f32|f16|bf16] [--vision-interm I,J,..] [--hf-dir] [--quiet]\n"
            "       llv-synth OUT.png --image\n"
            "       llv-synth OUT_DIR --lora-for PRESET [--rank R] [--seed N]\n"
            "\n"
            "Writes a random model (seeded, reproducible) with its own byte-level BPE tokenizer:\n"
            "a GGUF file at OUT, or with --hf-dir a Hugging Face checkpoint directory (config.json,\n"
            "safetensors, tokenizer files) for llv-convert. Presets: tiny (tests), demo\n"
            "(models/demo.gguf), 11b (the exact Llama 3.2 11B Vision shapes, 10.7 B parameters),\n"
            "90b (Llama 3.2 90B Vision's shapes, 88.6 B parameters: cut it with --layers),\n"
            "llama-tiny (LlamaForCausalLM, tied embeddings). --image writes the 64x48 demo PNG.\n"
            "\n"
            "  --preset P   default tiny\n"
            "  --layers N   only the preset's first N text layers (and the cross-attention layers\n"
            "               among them); default all\n"
            "  --seed N     default 1\n"
            "  --vision-interm I,J,..\n"
            "               the vision tower's intermediate_layers_indices (0..its layer count;\n"
            "               the count is a valid index: HF's last hidden state); default the preset's\n"
            "  --type T     weight type (default f32)\n"
            "  --lora-for P writes a random PEFT LoRA adapter directory for preset P instead (every\n"
            "               text projection, lora_alpha = 2 r, F32, plus the base config.json)\n"
            "  --rank R     LoRA rank for --lora-for (default 8)\n"
            "\n"
            "exit status: 0 success, 1 failure, 2 usage error\n");
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
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (llv_tool_is_help(a)) {
            usage(stdout);
            return 0;
        } else if (!strcmp(a, "--lora-for") || !strcmp(a, "--rank")) {
            if (i + 1 >= argc) {
                fprintf(stderr, "llv-synth: %s needs a value\n", a);
                return 2;
            }
            const char *v = argv[++i];
            if (!strcmp(a, "--lora-for")) {
                lora_for = v;
            } else {
                char *end;
                long r = strtol(v, &end, 10);
                if (!*v || *end || r < 1 || r > 1024) {
                    fprintf(stderr, "llv-synth: bad rank '%s' (1..1024)\n", v);
                    return 2;
                }
                rank = (int32_t)r;
            }
        } else if (!strcmp(a, "--layers")) {
            const char *v = llv_tool_value("llv-synth", argc, argv, &i);
            if (!v) return 2;
            char *end;
            long n = strtol(v, &end, 10);
            if (!*v || *end || n < 1 || n > 256) {
                fprintf(stderr, "llv-synth: bad --layers '%s' (1..256)\n", v);
                return 2;
            }
            p.layers = (int32_t)n;
        } else if (!strcmp(a, "--preset") || !strcmp(a, "--seed") || !strcmp(a, "--type")) {
            const char *v = llv_tool_value("llv-synth", argc, argv, &i);
            if (!v) return 2;
            if (!strcmp(a, "--preset")) {
                p.preset = v;
            } else if (!strcmp(a, "--seed")) {
                char *end;
                p.seed = strtoull(v, &end, 10);
                if (!*v || *end) {
                    fprintf(stderr, "llv-synth: bad seed '%s'\n", v);
                    return 2;
                }
            } else if (!llv_tool_type("llv-synth", v, &p.type)) {
                return 2;
            }
        } else if (!strcmp(a, "--vision-interm")) {
            const char *v = llv_tool_value("llv-synth", argc, argv, &i);
            if (!v) return 2;
            p.n_v_interm = 0;
            for (const char *c = v;;) {
                char *end;
                long k = strtol(c, &end, 10);
                if (end == c || k < 0 || k > 256 || p.n_v_interm >= 16 || (*end && *end != ',')) {
                    fprintf(stderr, "llv-synth: bad --vision-interm '%s' (up to 16 comma-separated layer indices)\n",
                            v);
                    return 2;
                }
                p.v_interm[p.n_v_interm++] = (int32_t)k;
                if (!*end) break;
                c = end + 1;
            }
        } else if (!strcmp(a, "--hf-dir")) {
            p.hf_dir = true;
        } else if (!strcmp(a, "--image")) {
            image = true;
        } else if (!strcmp(a, "--quiet") || !strcmp(a, "-q")) {
            quiet = true;
        } else if (a[0] == '-' && a[1]) {
            fprintf(stderr, "llv-synth: unknown option '%s'\n", a);
            usage(stderr);
            return 2;
        } else if (!out) {
            out = a;
        } else {
            fprintf(stderr, "llv-synth: unexpected argument '%s'\n", a);
            return 2;
        }
    }
    if (!out) {
        usage(stderr);
        return 2;
    }
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
