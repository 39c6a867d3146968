/* llv-run - run a prompt (with images) through a model and stream the answer.
 * Uses only the public API (include/llv.h) and cJSON for --json. */
#include "llv.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* exit codes */
enum { EXIT_OK = 0, EXIT_RUNTIME = 1, EXIT_USAGE = 2, EXIT_MODEL = 3, EXIT_IMAGE = 4 };

#define MAX_IMAGES 64
#define MAX_LORAS  16

static const char *usage_text =
    "usage: llv-run -m MODEL (-p PROMPT | -f FILE | --chat) [options]\n"
    "\n"
    "Runs a Llama 3.2 Vision (mllama) or Llama 3.x GGUF model on a prompt and\n"
    "streams the answer to stdout.\n"
    "\n"
    "options:\n"
    "  -m, --model FILE            model file (GGUF), required\n"
    "  -p, --prompt TEXT           the prompt: one user turn (raw text with --raw)\n"
    "  -f, --file FILE             read the prompt from FILE ('-' = stdin); one\n"
    "                              trailing newline is removed\n"
    "  -i, --image FILE            attach an image (JPEG, PNG, GIF, BMP, TGA, PNM);\n"
    "                              repeatable; images come before the prompt text\n"
    "  -s, --system TEXT           system message\n"
    "  -n, --max-tokens N          maximum tokens to generate, end token included (256)\n"
    "      --temperature T         sampling temperature, 0 = greedy (0.6; range 0..5)\n"
    "      --top-p P               nucleus sampling, 1 = off (1.0; range 0..2)\n"
    "      --top-k K               keep the K most likely tokens, 0 = off (0; range 1..50)\n"
    "      --seed N                random seed, 0 = random (0)\n"
    "      --repetition-penalty R  HF repetition penalty, 1 = off (1.0; range 0..2)\n"
    "      --frequency-penalty F   OpenAI frequency penalty, 0 = off (0; range 0..2)\n"
    "      --presence-penalty P    OpenAI presence penalty, 0 = off (0; range 0..2)\n"
    "      --raw                   no chat template: the prompt is tokenized as given\n"
    "                              (special tokens parsed, BOS added); each <|image|>\n"
    "                              takes the next image, and if the prompt has none,\n"
    "                              one <|image|> per image is put in front\n"
    "      --json                  print one JSON object {response, tool_calls, usage}\n"
    "                              instead of streaming text\n"
    "      --chat                  interactive multi-turn chat on stdin: each line is a\n"
    "                              user turn; '/image PATH' attaches an image to the\n"
    "                              next turn, '/reset' starts over, '/quit' ends\n"
    "      --lora NAME=PATH[:SCALE]\n"
    "                              load a LoRA adapter (GGUF, see llv-convert --lora)\n"
    "                              under NAME with SCALE (1); repeatable; a single\n"
    "                              adapter is used, several need --use-lora\n"
    "      --use-lora NAME         the loaded adapter to generate with\n"
    "      --chat-template NAME    render chats as llama3 or chatml instead of the format\n"
    "                              recognised from the file's template\n"
    "      --dry-run               print the memory plan (weights, KV cache, images,\n"
    "                              what this machine has) and exit: 0 fits, 1 does not\n"
    "      --no-memory-check       load and run even when the model does not fit in\n"
    "                              available memory (it may swap or be killed)\n"
    "  -t, --threads N             worker threads (0 = all cores)\n"
    "  -c, --ctx N                 context size in tokens (0 = min(model max, 4096))\n"
    "      --verbose               print the memory plan, timings and the kernel ISA to\n"
    "                              stderr\n"
    "  -h, --help                  show this help and exit\n"
    "\n"
    "exit codes: 0 ok, 1 runtime error, 2 usage error, 3 bad or missing model file,\n"
    "4 bad or missing image file\n";

typedef struct opts {
    const char *model, *prompt, *file, *system;
    const char *images[MAX_IMAGES];
    int         n_images;
    bool        raw, json, chat, verbose, dry_run, no_memory_check;
    int32_t     threads, ctx;
    llv_sampling_params sp;
    char       *loras[MAX_LORAS]; /* "NAME=PATH[:SCALE]" copies, split in place */
    int         n_loras;
    const char *use_lora;
    const char *chat_template;
} opts;

__attribute__((format(printf, 1, 2))) static int usage_error(const char *fmt, ...) {
    va_list ap;
    fprintf(stderr, "llv-run: ");
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\nTry 'llv-run --help'.\n");
    return EXIT_USAGE;
}

static bool parse_i64(const char *s, long long lo, long long hi, long long *out) {
    if (!s || !*s) return false;
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || *end || v < lo || v > hi) return false;
    *out = v;
    return true;
}

static bool parse_u64(const char *s, uint64_t *out) {
    if (!s || !*s || *s == '-') return false;
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || *end) return false;
    *out = v;
    return true;
}

static bool parse_f(const char *s, float *out) {
    if (!s || !*s) return false;
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || *end || !isfinite(v)) return false;
    *out = (float)v;
    return true;
}

/* Reads a whole file ("-" = stdin), removing one trailing newline. */
static char *read_text(const char *path) {
    FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
    if (!f) return NULL;
    size_t n = 0, cap = 4096;
    char *buf = malloc(cap);
    while (buf) {
        if (n + 1 >= cap) {
            char *nb = realloc(buf, cap * 2);
            if (!nb) {
                free(buf);
                buf = NULL;
                break;
            }
            buf = nb;
            cap *= 2;
        }
        size_t got = fread(buf + n, 1, cap - 1 - n, f);
        n += got;
        if (got == 0) break;
    }
    if (f != stdin) fclose(f);
    if (!buf) return NULL;
    buf[n] = 0;
    if (n > 0 && buf[n - 1] == '\n') buf[--n] = 0;
    if (n > 0 && buf[n - 1] == '\r') buf[--n] = 0;
    return buf;
}

/* ------------------------------------------------------------------------- */

static bool progress_cb(const char *what, float fraction, void *user) {
    (void)user;
    fprintf(stderr, "\r%s: %3d%%",
            strcmp(what, "load") == 0 ? "loading model" : strcmp(what, "prefill") == 0 ? "reading the prompt"
                                                                                      : "encoding image",
            (int)(fraction * 100.0f + 0.5f));
    if (fraction >= 1.0f) fprintf(stderr, "\r\033[K");
    fflush(stderr);
    return true;
}

static bool stream_cb(const char *piece, size_t n, int32_t token, void *user) {
    (void)token, (void)user;
    fwrite(piece, 1, n, stdout);
    fflush(stdout);
    return true;
}

static void print_json(const llv_result *r) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "response", r->text ? r->text : "");
    if (r->n_tool_calls > 0) {
        cJSON *arr = cJSON_AddArrayToObject(o, "tool_calls");
        for (size_t i = 0; i < r->n_tool_calls; i++) {
            cJSON *c = cJSON_CreateObject();
            cJSON_AddStringToObject(c, "name", r->tool_calls[i].name ? r->tool_calls[i].name : "");
            cJSON *args = r->tool_calls[i].arguments ? cJSON_Parse(r->tool_calls[i].arguments) : NULL;
            if (!args) args = cJSON_CreateObject();
            cJSON_AddItemToObject(c, "arguments", args);
            cJSON_AddItemToArray(arr, c);
        }
    }
    cJSON *u = cJSON_AddObjectToObject(o, "usage");
    cJSON_AddNumberToObject(u, "prompt_tokens", r->prompt_tokens);
    cJSON_AddNumberToObject(u, "completion_tokens", r->completion_tokens);
    cJSON_AddNumberToObject(u, "total_tokens", r->prompt_tokens + r->completion_tokens);
    char *txt = cJSON_PrintUnformatted(o);
    if (txt) printf("%s\n", txt);
    fflush(stdout);
    free(txt);
    cJSON_Delete(o);
}

static const char *stop_name(llv_stop_reason r) {
    switch (r) {
    case LLV_STOP_EOG: return "end token";
    case LLV_STOP_LENGTH: return "max tokens";
    case LLV_STOP_CALLBACK: return "callback";
    case LLV_STOP_CONTEXT: return "context full";
    case LLV_STOP_TIMEOUT: return "timeout";
    default: return "none";
    }
}

static void print_verbose(const llv_model *m, const llv_result *r) {
    llv_model_info info;
    llv_model_get_info(m, &info);
    const llv_timings *t = &r->timings;
    fprintf(stderr, "isa: %s | %s\n", info.isa ? info.isa : "?", llv_system_info());
    fprintf(stderr, "load: %.3f s\n", t->load_s);
    fprintf(stderr, "image: %.3f s (%d encoded)\n", t->image_s, t->n_images_encoded);
    fprintf(stderr, "prefill: %d tokens in %.3f s (%.1f tokens/s)\n", r->prompt_tokens, t->prefill_s,
            t->prefill_s > 0 ? r->prompt_tokens / t->prefill_s : 0.0);
    fprintf(stderr, "decode: %d tokens in %.3f s (%.1f tokens/s)\n", r->completion_tokens, t->decode_s,
            t->decode_s > 0 ? r->completion_tokens / t->decode_s : 0.0);
    fprintf(stderr, "stop: %s\n", stop_name(r->stop_reason));
}

static void print_bytes(FILE *f, const char *what, uint64_t b, const char *note) {
    if (b >= (1ull << 30)) fprintf(f, "  %-10s %9.2f GiB%s%s\n", what, (double)b / (1ull << 30), note[0] ? "  " : "", note);
    else fprintf(f, "  %-10s %9.1f MiB%s%s\n", what, (double)b / (1 << 20), note[0] ? "  " : "", note);
}

/* --dry-run (stdout) and --verbose (stderr): what the model needs before it runs. */
static void print_plan(FILE *f, const llv_model_info *info, const llv_session_params *sp, const llv_memory_plan *p) {
    char note[128];
    fprintf(f, "memory plan: %s, %d layers (%d cross), %.2f B parameters, %s weights\n", info->architecture,
            info->n_layer, info->n_cross_layers, (double)info->n_params * 1e-9,
            llv_type_name(info->weight_type) ? llv_type_name(info->weight_type) : "mixed");
    print_bytes(f, "weights", p->weights, "mapped from the file");
    snprintf(note, sizeof note, "KV cache %.1f MiB (%s, %d tokens), scratch, history", (double)p->kv / (1 << 20),
             sp->kv_type == LLV_KV_F16 ? "f16" : "f32", sp->n_ctx ? sp->n_ctx : (info->n_ctx_train > 0 && info->n_ctx_train < 4096 ? info->n_ctx_train : 4096));
    print_bytes(f, "session", p->session, note);
    if (info->has_vision) {
        snprintf(note, sizeof note, "cross-attention K/V, up to %d images", sp->max_images);
        print_bytes(f, "per image", p->per_image, note);
    }
    print_bytes(f, "total", p->total, "");
    if (p->available) {
        print_bytes(f, "available", p->available, "MemAvailable");
        fprintf(f, "  %s\n", p->total <= p->available ? "fits" : "does NOT fit: expect swapping or the OOM killer");
    }
}

/* One user turn: images (already queued) + text, then generation. */
static int run_turn(const opts *o, const llv_model *m, llv_session *s, const char *text, bool first, int n_queued) {
    llv_error err;
    llv_status st;
    if (o->raw) {
        const char *img_tok = "<|image|>";
        char *buf = NULL;
        if (n_queued > 0 && !strstr(text, img_tok)) {
            size_t n = strlen(text) + (size_t)n_queued * strlen(img_tok) + 1;
            buf = malloc(n);
            if (!buf) {
                fprintf(stderr, "llv-run: out of memory\n");
                return EXIT_RUNTIME;
            }
            buf[0] = 0;
            for (int i = 0; i < n_queued; i++) strcat(buf, img_tok);
            strcat(buf, text);
        }
        st = llv_session_add_raw(s, buf ? buf : text, &err);
        free(buf);
    } else if (first && o->system) {
        llv_part parts[MAX_IMAGES + 1];
        memset(parts, 0, sizeof parts);
        int np = 0;
        for (int i = 0; i < n_queued && np < MAX_IMAGES; i++) parts[np++].type = LLV_PART_IMAGE; /* queued ones */
        parts[np].type = LLV_PART_TEXT;
        parts[np].text = text;
        np++;
        llv_message msgs[2];
        memset(msgs, 0, sizeof msgs);
        msgs[0].role = "system";
        msgs[0].content = o->system;
        msgs[1].role = "user";
        msgs[1].parts = parts;
        msgs[1].n_parts = (size_t)np;
        llv_chat_params cp = llv_chat_default_params();
        st = llv_session_add_messages(s, msgs, 2, &cp, &err);
    } else {
        st = llv_session_add_text(s, text, &err);
    }
    if (st != LLV_OK) {
        fprintf(stderr, "llv-run: %s\n", err.message);
        return EXIT_RUNTIME;
    }
    llv_result r;
    st = llv_session_generate(s, &o->sp, o->json ? NULL : stream_cb, NULL, &r, &err);
    if (st != LLV_OK) {
        fprintf(stderr, "\nllv-run: %s\n", err.message);
        return EXIT_RUNTIME;
    }
    if (o->json) print_json(&r);
    else {
        fputc('\n', stdout);
        fflush(stdout);
    }
    if (o->verbose) print_verbose(m, &r);
    llv_result_free(&r);
    return EXIT_OK;
}

static int chat_loop(const opts *o, const llv_model *m, llv_session *s, int n_queued) {
    bool first = true, tty = isatty(0);
    char *line = NULL;
    size_t cap = 0;
    int rc = EXIT_OK;
    if (o->prompt) { /* -p / -f give the first turn */
        rc = run_turn(o, m, s, o->prompt, true, n_queued);
        if (rc != EXIT_OK) return rc;
        first = false;
        n_queued = 0;
    }
    for (;;) {
        if (tty) {
            fprintf(stderr, "> ");
            fflush(stderr);
        }
        ssize_t n = getline(&line, &cap, stdin);
        if (n < 0) break;
        while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r')) line[--n] = 0;
        if (n == 0) continue;
        if (strcmp(line, "/quit") == 0 || strcmp(line, "/exit") == 0) break;
        if (strcmp(line, "/reset") == 0) {
            llv_session_reset(s);
            first = true;
            n_queued = 0;
            continue;
        }
        if (strncmp(line, "/image ", 7) == 0) {
            llv_error err;
            const char *path = line + 7;
            while (*path == ' ') path++;
            if (llv_session_add_image_file(s, path, &err) != LLV_OK) fprintf(stderr, "llv-run: %s\n", err.message);
            else n_queued++;
            continue;
        }
        rc = run_turn(o, m, s, line, first, n_queued);
        n_queued = 0;
        if (rc != EXIT_OK) {
            /* a failed turn leaves images queued; start the next turn clean */
            llv_session_reset(s);
            first = true;
            continue;
        }
        first = false;
    }
    free(line);
    return EXIT_OK;
}

int main(int argc, char **argv) {
    enum {
        O_TEMP = 256, O_TOPP, O_TOPK, O_SEED, O_REP, O_FREQ, O_PRES, O_RAW, O_JSON, O_CHAT, O_VERBOSE, O_LORA,
        O_USE_LORA,
        O_CHAT_TEMPLATE,
        O_DRY_RUN,
        O_NO_MEM_CHECK
    };
    static const struct option longopts[] = {
        {"model", required_argument, 0, 'm'},
        {"prompt", required_argument, 0, 'p'},
        {"file", required_argument, 0, 'f'},
        {"image", required_argument, 0, 'i'},
        {"system", required_argument, 0, 's'},
        {"max-tokens", required_argument, 0, 'n'},
        {"temperature", required_argument, 0, O_TEMP},
        {"top-p", required_argument, 0, O_TOPP},
        {"top-k", required_argument, 0, O_TOPK},
        {"seed", required_argument, 0, O_SEED},
        {"repetition-penalty", required_argument, 0, O_REP},
        {"frequency-penalty", required_argument, 0, O_FREQ},
        {"presence-penalty", required_argument, 0, O_PRES},
        {"raw", no_argument, 0, O_RAW},
        {"json", no_argument, 0, O_JSON},
        {"chat", no_argument, 0, O_CHAT},
        {"threads", required_argument, 0, 't'},
        {"ctx", required_argument, 0, 'c'},
        {"verbose", no_argument, 0, O_VERBOSE},
        {"lora", required_argument, 0, O_LORA},
        {"use-lora", required_argument, 0, O_USE_LORA},
        {"chat-template", required_argument, 0, O_CHAT_TEMPLATE},
        {"dry-run", no_argument, 0, O_DRY_RUN},
        {"no-memory-check", no_argument, 0, O_NO_MEM_CHECK},
        {"help", no_argument, 0, 'h'},
        {0, 0, 0, 0},
    };
    opts o;
    memset(&o, 0, sizeof o);
    o.sp = llv_sampling_default_params();
    opterr = 0;
    int c;
    long long v;
    while ((c = getopt_long(argc, argv, ":m:p:f:i:s:n:t:c:h", longopts, NULL)) != -1) {
        switch (c) {
        case 'm': o.model = optarg; break;
        case 'p': o.prompt = optarg; break;
        case 'f': o.file = optarg; break;
        case 'i':
            if (o.n_images == MAX_IMAGES) return usage_error("too many images (at most %d)", MAX_IMAGES);
            o.images[o.n_images++] = optarg;
            break;
        case 's': o.system = optarg; break;
        case 'n':
            if (!parse_i64(optarg, 0, INT32_MAX, &v)) return usage_error("bad --max-tokens '%s'", optarg);
            o.sp.max_tokens = (int32_t)v;
            break;
        case O_TEMP:
            if (!parse_f(optarg, &o.sp.temperature)) return usage_error("bad --temperature '%s'", optarg);
            break;
        case O_TOPP:
            if (!parse_f(optarg, &o.sp.top_p)) return usage_error("bad --top-p '%s'", optarg);
            break;
        case O_TOPK:
            if (!parse_i64(optarg, 0, INT32_MAX, &v)) return usage_error("bad --top-k '%s'", optarg);
            o.sp.top_k = (int32_t)v;
            break;
        case O_SEED:
            if (!parse_u64(optarg, &o.sp.seed)) return usage_error("bad --seed '%s'", optarg);
            break;
        case O_REP:
            if (!parse_f(optarg, &o.sp.repetition_penalty))
                return usage_error("bad --repetition-penalty '%s'", optarg);
            break;
        case O_FREQ:
            if (!parse_f(optarg, &o.sp.frequency_penalty)) return usage_error("bad --frequency-penalty '%s'", optarg);
            break;
        case O_PRES:
            if (!parse_f(optarg, &o.sp.presence_penalty)) return usage_error("bad --presence-penalty '%s'", optarg);
            break;
        case O_RAW: o.raw = true; break;
        case O_JSON: o.json = true; break;
        case O_CHAT: o.chat = true; break;
        case 't':
            if (!parse_i64(optarg, 0, 1024, &v)) return usage_error("bad --threads '%s' (0..1024)", optarg);
            o.threads = (int32_t)v;
            break;
        case 'c':
            if (!parse_i64(optarg, 0, INT32_MAX, &v)) return usage_error("bad --ctx '%s'", optarg);
            o.ctx = (int32_t)v;
            break;
        case O_VERBOSE: o.verbose = true; break;
        case O_LORA:
            if (o.n_loras == MAX_LORAS) return usage_error("too many --lora (at most %d)", MAX_LORAS);
            if (!strchr(optarg, '=') || optarg[0] == '=' || !strchr(optarg, '=')[1])
                return usage_error("bad --lora '%s' (expected NAME=PATH[:SCALE])", optarg);
            o.loras[o.n_loras++] = optarg;
            break;
        case O_USE_LORA: o.use_lora = optarg; break;
        case O_CHAT_TEMPLATE: o.chat_template = optarg; break;
        case O_DRY_RUN: o.dry_run = true; break;
        case O_NO_MEM_CHECK: o.no_memory_check = true; break;
        case 'h': fputs(usage_text, stdout); return EXIT_OK;
        case ':': return usage_error("option '%s' needs a value", argv[optind - 1]);
        default: return usage_error("unknown option '%s'", argv[optind - 1]);
        }
    }
    if (optind < argc) return usage_error("unexpected argument '%s'", argv[optind]);
    if (!o.model) return usage_error("%s", "missing -m MODEL");
    if (o.prompt && o.file) return usage_error("%s", "give either -p or -f, not both");
    if (!o.prompt && !o.file && !o.chat && !o.dry_run)
        return usage_error("%s", "missing -p PROMPT, -f FILE or --chat");
    llv_error err;
    if (llv_sampling_params_validate(&o.sp, &err) != LLV_OK) return usage_error("%s", err.message);
    char *file_text = NULL;
    if (o.file) {
        if (!(file_text = read_text(o.file))) {
            fprintf(stderr, "llv-run: cannot read prompt file '%s': %s\n", o.file, strerror(errno));
            return EXIT_USAGE;
        }
        o.prompt = file_text;
    }

    bool tty = isatty(2);
    llv_model_params mp = llv_model_default_params();
    mp.n_threads = o.threads;
    mp.chat_template = o.chat_template;
    mp.no_memory_check = o.no_memory_check || o.dry_run; /* a dry run reports what does not fit */
    if (tty) mp.progress = progress_cb;
    llv_model *m = NULL;
    if (llv_model_load(o.model, &mp, &m, &err) != LLV_OK) {
        if (tty) fprintf(stderr, "\r\033[K");
        fprintf(stderr, "llv-run: cannot load model '%s': %s\n", o.model, err.message);
        free(file_text);
        return EXIT_MODEL;
    }
    if (tty) fprintf(stderr, "\r\033[K");
    /* adapters: NAME=PATH[:SCALE]; a trailing ":number" is the scale */
    for (int i = 0; i < o.n_loras; i++) {
        char *arg = o.loras[i], *eq = strchr(arg, '='), *colon = strrchr(eq + 1, ':'), *end = NULL;
        float scale = 1.0f;
        *eq = 0;
        if (colon && colon[1]) {
            float f = strtof(colon + 1, &end);
            if (!*end) scale = f, *colon = 0;
        }
        if (llv_model_lora_add(m, arg, eq + 1, scale, &err) != LLV_OK) {
            fprintf(stderr, "llv-run: --lora %s: %s\n", arg, err.message);
            llv_model_free(m);
            free(file_text);
            return EXIT_MODEL;
        }
    }
    if (o.use_lora) o.sp.lora = o.use_lora;
    else if (o.n_loras == 1) o.sp.lora = o.loras[0]; /* NAME, split above */
    else if (o.n_loras > 1) {
        fprintf(stderr, "llv-run: %d adapters loaded: choose one with --use-lora NAME\n", o.n_loras);
        llv_model_free(m);
        free(file_text);
        return EXIT_USAGE;
    }
    bool known = false;
    for (size_t i = 0; o.sp.lora && llv_model_lora_name(m, i); i++) known |= !strcmp(llv_model_lora_name(m, i), o.sp.lora);
    if (o.sp.lora && !known) {
        fprintf(stderr, "llv-run: --use-lora %s: no adapter of that name is loaded (--lora NAME=PATH)\n", o.sp.lora);
        llv_model_free(m);
        free(file_text);
        return EXIT_USAGE;
    }
    llv_model_info info;
    llv_model_get_info(m, &info);
    if (!info.has_weights) {
        fprintf(stderr, "llv-run: model '%s' has no weights (vocabulary-only file)\n", o.model);
        llv_model_free(m);
        free(file_text);
        return EXIT_MODEL;
    }
    llv_session_params sp = llv_session_default_params();
    sp.n_threads = o.threads;
    sp.n_ctx = o.ctx;
    if (o.n_images > sp.max_images) sp.max_images = o.n_images;
    if (tty) sp.progress = progress_cb;
    llv_session *s = NULL;
    int rc = EXIT_OK;
    llv_status st;
    if (o.dry_run || o.verbose) {
        llv_memory_plan plan;
        if ((st = llv_memory_plan_get(m, &sp, &plan, &err)) != LLV_OK) {
            fprintf(stderr, "llv-run: %s\n", err.message);
            rc = st == LLV_ERR_INVALID_ARGUMENT ? EXIT_USAGE : EXIT_RUNTIME;
            goto done;
        }
        print_plan(o.dry_run ? stdout : stderr, &info, &sp, &plan);
        if (o.dry_run) {
            rc = plan.available && plan.total > plan.available ? EXIT_RUNTIME : EXIT_OK;
            goto done;
        }
    }
    st = llv_session_create(m, &sp, &s, &err);
    if (st != LLV_OK) {
        fprintf(stderr, "llv-run: %s\n", err.message);
        rc = st == LLV_ERR_INVALID_ARGUMENT ? EXIT_USAGE : EXIT_RUNTIME;
        goto done;
    }
    for (int i = 0; i < o.n_images; i++)
        if (llv_session_add_image_file(s, o.images[i], &err) != LLV_OK) {
            fprintf(stderr, "llv-run: image '%s': %s\n", o.images[i], err.message);
            rc = EXIT_IMAGE;
            goto done;
        }
    if (o.chat) rc = chat_loop(&o, m, s, o.n_images);
    else rc = run_turn(&o, m, s, o.prompt, true, o.n_images);
done:
    llv_session_free(s);
    llv_model_free(m);
    free(file_text);
    return rc;
}
