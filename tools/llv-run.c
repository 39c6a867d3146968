/* llv-run - run a prompt (with images) through a model and stream the answer.
 * Uses only the public API (include/llv.h) and cJSON for --json. */
#include "llv.h"
#include "options.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* exit codes */
enum { EXIT_OK = 0, EXIT_RUNTIME = 1, EXIT_USAGE = 2, EXIT_MODEL = 3, EXIT_IMAGE = 4 };

#define MAX_IMAGES 64
#define MAX_LORAS  16

typedef struct opts {
    const char  *model, *prompt, *file, *system;
    llv_opt_list images;
    bool         raw, json, chat, verbose, dry_run, no_memory_check;
    int32_t      threads, ctx;
    llv_sampling_params sp;
    llv_opt_list loras; /* "NAME=PATH[:SCALE]", split in place when loaded */
    const char  *use_lora;
    const char  *chat_template;
    const char  *grammar_file, *schema_file; /* structured output */
} opts;

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

static const char *const synopsis = "llv-run -m MODEL (-p PROMPT | -f FILE | --chat) [options]";
static const char *const about =
    "Runs a Llama 3.2 Vision (mllama) or Llama 3.x GGUF model on a prompt and\n"
    "streams the answer to stdout.\n";
static const char *const epilog =
    "exit codes: 0 ok, 1 runtime error, 2 usage error, 3 bad or missing model file,\n"
    "4 bad or missing image file\n";

int main(int argc, char **argv) {
    opts o;
    memset(&o, 0, sizeof o);
    o.sp = llv_sampling_default_params();
    o.images.max = MAX_IMAGES;
    o.loras.max = MAX_LORAS;
    const llv_opt table[] = {
        {'m', "model", "FILE", LLV_OPT_STR, {.str = &o.model}, .help = "model file (GGUF)", .required = true},
        {'p', "prompt", "TEXT", LLV_OPT_STR, {.str = &o.prompt}, .help = "the prompt: one user turn (raw text with --raw)"},
        {'f', "file", "FILE", LLV_OPT_STR, {.str = &o.file},
         .help = "read the prompt from FILE ('-' = stdin); one trailing newline is removed"},
        {'i', "image", "FILE", LLV_OPT_CALL, {.ctx = &o.images}, .fn = llv_opt_list_add,
         .help = "attach an image (JPEG, PNG, GIF, BMP, TGA, PNM); repeatable; images come before the prompt text"},
        {'s', "system", "TEXT", LLV_OPT_STR, {.str = &o.system}, .help = "system message"},
        {'n', "max-tokens", "N", LLV_OPT_INT, {.i = &o.sp.max_tokens}, 1, LLV_SAMPLING_MAX_TOKENS_MAX,
         .help = "maximum tokens to generate, end token included"},
        {0, "temperature", "T", LLV_OPT_FLOAT, {.f = &o.sp.temperature}, 0, LLV_SAMPLING_TEMPERATURE_MAX,
         .help = "sampling temperature, 0 = greedy"},
        {0, "top-p", "P", LLV_OPT_FLOAT, {.f = &o.sp.top_p}, 0, LLV_SAMPLING_TOP_P_MAX,
         .help = "nucleus sampling, 1 = off"},
        {0, "top-k", "K", LLV_OPT_INT, {.i = &o.sp.top_k}, 0, LLV_SAMPLING_TOP_K_MAX,
         .help = "keep the K most likely tokens, 0 = off"},
        {0, "seed", "N", LLV_OPT_U64, {.u64 = &o.sp.seed}, 0, (double)LLV_SAMPLING_SEED_MAX,
         .help = "random seed, 0 = random"},
        {0, "repetition-penalty", "R", LLV_OPT_FLOAT, {.f = &o.sp.repetition_penalty}, 0, LLV_SAMPLING_PENALTY_MAX,
         .help = "HF repetition penalty, 1 = off"},
        {0, "frequency-penalty", "F", LLV_OPT_FLOAT, {.f = &o.sp.frequency_penalty}, 0, LLV_SAMPLING_PENALTY_MAX,
         .help = "OpenAI frequency penalty, 0 = off"},
        {0, "presence-penalty", "P", LLV_OPT_FLOAT, {.f = &o.sp.presence_penalty}, 0, LLV_SAMPLING_PENALTY_MAX,
         .help = "OpenAI presence penalty, 0 = off"},
        {0, "raw", NULL, LLV_OPT_FLAG, {.flag = &o.raw},
         .help = "no chat template: the prompt is tokenized as given (special tokens parsed, BOS added); each "
                 "<|image|> takes the next image, and if the prompt has none, one <|image|> per image is put in "
                 "front"},
        {0, "json", NULL, LLV_OPT_FLAG, {.flag = &o.json},
         .help = "print one JSON object {response, tool_calls, usage} instead of streaming text"},
        {0, "json-schema", "FILE", LLV_OPT_STR, {.str = &o.schema_file},
         .help = "constrain the answer to a JSON document of the JSON Schema in FILE (docs/grammar.md)"},
        {0, "json-object", NULL, LLV_OPT_FLAG, {.flag = &o.sp.json_object},
         .help = "constrain the answer to a JSON object"},
        {0, "grammar", "FILE", LLV_OPT_STR, {.str = &o.grammar_file},
         .help = "constrain the answer to the GBNF grammar in FILE (llama.cpp's syntax, docs/grammar.md)"},
        {0, "chat", NULL, LLV_OPT_FLAG, {.flag = &o.chat},
         .help = "interactive multi-turn chat on stdin: each line is a user turn; '/image PATH' attaches an image "
                 "to the next turn, '/reset' starts over, '/quit' ends"},
        {0, "lora", "NAME=PATH[:SCALE]", LLV_OPT_CALL, {.ctx = &o.loras}, .fn = llv_opt_lora_add,
         .help = "load a LoRA adapter (GGUF, see llv-convert --lora) under NAME with SCALE (1); repeatable; a "
                 "single adapter is used, several need --use-lora"},
        {0, "use-lora", "NAME", LLV_OPT_STR, {.str = &o.use_lora}, .help = "the loaded adapter to generate with"},
        {0, "chat-template", "NAME", LLV_OPT_STR, {.str = &o.chat_template},
         .help = "render chats as llama3 or chatml instead of the format recognised from the file's template"},
        {0, "dry-run", NULL, LLV_OPT_FLAG, {.flag = &o.dry_run},
         .help = "print the memory plan (weights, KV cache, images, what this machine has) and exit: 0 fits, 1 "
                 "does not"},
        {0, "no-memory-check", NULL, LLV_OPT_FLAG, {.flag = &o.no_memory_check},
         .help = "load and run even when the model does not fit in available memory (it may swap or be killed)"},
        {'t', "threads", "N", LLV_OPT_INT, {.i = &o.threads}, 0, 1024, .help = "worker threads, 0 = all cores"},
        {'c', "ctx", "N", LLV_OPT_INT, {.i = &o.ctx}, 0, INT32_MAX,
         .help = "context size in tokens, 0 = min(model max, 4096)"},
        {0, "verbose", NULL, LLV_OPT_FLAG, {.flag = &o.verbose},
         .help = "print the memory plan, timings and the kernel ISA to stderr"},
    };
    const llv_cli cli = {"llv-run", synopsis, about, epilog, LLV_CLI_OPTS(table), EXIT_USAGE, NULL, 0, 0};
    int rc = llv_cli_parse(&cli, argc, argv, NULL);
    if (rc >= 0) return rc;
    if (o.prompt && o.file) return llv_cli_usage_error(&cli, "give either -p or -f, not both");
    if (!o.prompt && !o.file && !o.chat && !o.dry_run)
        return llv_cli_usage_error(&cli, "missing -p PROMPT, -f FILE or --chat");
    llv_error err;
    char *grammar_text = NULL, *schema_text = NULL;
    if (o.grammar_file && !(grammar_text = read_text(o.grammar_file)))
        return llv_cli_usage_error(&cli, "cannot read the grammar file '%s': %s", o.grammar_file, strerror(errno));
    if (o.schema_file && !(schema_text = read_text(o.schema_file))) {
        free(grammar_text);
        return llv_cli_usage_error(&cli, "cannot read the JSON schema file '%s': %s", o.schema_file, strerror(errno));
    }
    o.sp.grammar = grammar_text;
    o.sp.json_schema = schema_text;
    if (llv_sampling_params_validate(&o.sp, &err) != LLV_OK) {
        free(grammar_text);
        free(schema_text);
        return llv_cli_usage_error(&cli, "%s", err.message);
    }
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
        free(grammar_text);
        free(schema_text);
        return EXIT_MODEL;
    }
    if (tty) fprintf(stderr, "\r\033[K");
    if (!llv_opt_loras_load("llv-run", m, &o.loras)) {
        llv_model_free(m);
        free(file_text);
        free(grammar_text);
        free(schema_text);
        return EXIT_MODEL;
    }
    if (o.use_lora) o.sp.lora = o.use_lora;
    else if (o.loras.n == 1) o.sp.lora = o.loras.v[0]; /* NAME, split when loaded */
    else if (o.loras.n > 1) {
        fprintf(stderr, "llv-run: %d adapters loaded: choose one with --use-lora NAME\n", o.loras.n);
        llv_model_free(m);
        free(file_text);
        free(grammar_text);
        free(schema_text);
        return EXIT_USAGE;
    }
    bool known = false;
    for (size_t i = 0; o.sp.lora && llv_model_lora_name(m, i); i++) known |= !strcmp(llv_model_lora_name(m, i), o.sp.lora);
    if (o.sp.lora && !known) {
        fprintf(stderr, "llv-run: --use-lora %s: no adapter of that name is loaded (--lora NAME=PATH)\n", o.sp.lora);
        llv_model_free(m);
        free(file_text);
        free(grammar_text);
        free(schema_text);
        return EXIT_USAGE;
    }
    llv_model_info info;
    llv_model_get_info(m, &info);
    if (!info.has_weights) {
        fprintf(stderr, "llv-run: model '%s' has no weights (vocabulary-only file)\n", o.model);
        llv_model_free(m);
        free(file_text);
        free(grammar_text);
        free(schema_text);
        return EXIT_MODEL;
    }
    llv_session_params sp = llv_session_default_params();
    sp.n_threads = o.threads;
    sp.n_ctx = o.ctx;
    if (o.images.n > sp.max_images) sp.max_images = o.images.n;
    if (tty) sp.progress = progress_cb;
    llv_session *s = NULL;
    rc = EXIT_OK;
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
    for (int i = 0; i < o.images.n; i++)
        if (llv_session_add_image_file(s, o.images.v[i], &err) != LLV_OK) {
            fprintf(stderr, "llv-run: image '%s': %s\n", o.images.v[i], err.message);
            rc = EXIT_IMAGE;
            goto done;
        }
    if (o.chat) rc = chat_loop(&o, m, s, o.images.n);
    else rc = run_turn(&o, m, s, o.prompt, true, o.images.n);
done:
    llv_session_free(s);
    llv_model_free(m);
    free(file_text);
    free(grammar_text);
    free(schema_text);
    return rc;
}
