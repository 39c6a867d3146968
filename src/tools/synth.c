/* synth.c - random models of any shape with their own small byte-level BPE
 * tokenizer, written as a Hugging Face checkpoint directory (config.json,
 * safetensors, tokenizer.json, tokenizer_config.json with the Llama 3.2
 * Vision chat template, generation_config.json, preprocessor_config.json) or
 * converted from such a directory to one GGUF with llv_convert.
 *
 * Presets: "tiny" (mllama, fast tests), "demo" (mllama, models/demo.gguf),
 * "11b" (the exact Llama 3.2 11B Vision shapes, 10.7 B parameters: written
 * shard by shard, one tensor chunk in memory at a time), "90b" (Llama 3.2
 * 90B Vision's shapes; cut to its first N text layers with
 * llv_synth_params.layers), "llama-tiny" (LlamaForCausalLM with tied
 * embeddings).
 *
 * Values: each tensor has its own splitmix64 stream seeded from (seed, name),
 * so values do not depend on order or dtype; normals by Box-Muller in double.
 * Rules (as the golden models): linear/conv weights N(0,1)/sqrt(fan_in),
 * gates +-U(0.35, 1.1), norm weights 1 + 0.25 N, biases 0.1 N, token and class
 * embeddings N(0,1), position/tile embeddings 0.5 N, lm_head 3 N/sqrt(hidden).
 *
 * The tokenizer: 256 byte tokens (GPT-2 byte-to-unicode order), merges learnt
 * from a small built-in English text, the Llama 3 special tokens in Llama's
 * order at the ids the config declares, and <|image|> = vocab_size. */
#include "common.h"
#include "llv-tools.h"
#include "model.h"
#include "utf8.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char chat_template[] =
    "{{- bos_token }}\n"
    "{%- if custom_tools is defined %}\n"
    "    {%- set tools = custom_tools %}\n"
    "{%- endif %}\n"
    "{%- if not tools_in_user_message is defined %}\n"
    "    {%- set tools_in_user_message = true %}\n"
    "{%- endif %}\n"
    "{%- if not date_string is defined %}\n"
    "    {%- if strftime_now is defined %}\n"
    "        {%- set date_string = strftime_now(\"%d %b %Y\") %}\n"
    "    {%- else %}\n"
    "        {%- set date_string = \"26 Jul 2024\" %}\n"
    "    {%- endif %}\n"
    "{%- endif %}\n"
    "{%- if not tools is defined %}\n"
    "    {%- set tools = none %}\n"
    "{%- endif %}\n"
    "\n"
    "{#- This block extracts the system message, so we can slot it into the right place. #}\n"
    "{%- if messages[0]['role'] == 'system' %}\n"
    "    {%- set system_message = messages[0]['content']|trim %}\n"
    "    {%- set messages = messages[1:] %}\n"
    "    {%- set user_supplied_system_message = true %}\n"
    "{%- else %}\n"
    "    {%- set system_message = \"\" %}\n"
    "    {%- set user_supplied_system_message = false %}\n"
    "{%- endif %}\n"
    "\n"
    "{#- Find out if there are any images #}\n"
    "{% set image_ns = namespace(has_images=false) %}      \n"
    "{%- for message in messages %}\n"
    "    {%- for content in message['content'] %}\n"
    "        {%- if content['type'] == 'image' %}\n"
    "            {%- set image_ns.has_images = true %}\n"
    "        {%- endif %}\n"
    "    {%- endfor %}\n"
    "{%- endfor %}\n"
    "\n"
    "{#- System message if there are no images, or if the user supplied one #}\n"
    "{%- if user_supplied_system_message or not image_ns.has_images %}\n"
    "    {{- \"<|start_header_id|>system<|end_header_id|>\\n\\n\" }}\n"
    "    {%- if tools is not none %}\n"
    "        {{- \"Environment: ipython\\n\" }}\n"
    "    {%- endif %}\n"
    "    {{- \"Cutting Knowledge Date: December 2023\\n\" }}\n"
    "    {{- \"Today Date: \" + date_string + \"\\n\\n\" }}\n"
    "    {%- if tools is not none and not tools_in_user_message %}\n"
    "        {{- \"You have access to the following functions. To call a function, please respond with JSON for a function call.\" }}\n"
    "        {{- 'Respond in the format {\"name\": function name, \"parameters\": dictionary of argument name and its value}.' }}\n"
    "        {{- \"Do not use variables.\\n\\n\" }}\n"
    "        {%- for t in tools %}\n"
    "            {{- t | tojson(indent=4) }}\n"
    "            {{- \"\\n\\n\" }}\n"
    "        {%- endfor %}\n"
    "    {%- endif %}\n"
    "    {{- system_message }}\n"
    "    {{- \"<|eot_id|>\" }}\n"
    "{%- endif %}\n"
    "\n"
    "{#- Custom tools are passed in a user message with some extra guidance #}\n"
    "{%- if tools_in_user_message and not tools is none %}\n"
    "    {#- Extract the first user message so we can plug it in here #}\n"
    "    {%- if messages | length != 0 %}\n"
    "        {%- set first_user_message = messages[0]['content']|trim %}\n"
    "        {%- set messages = messages[1:] %}\n"
    "    {%- else %}\n"
    "        {{- raise_exception(\"Cannot put tools in the first user message when there's no first user message!\") }}\n"
    "{%- endif %}\n"
    "    {{- '<|start_header_id|>user<|end_header_id|>\\n\\n' -}}\n"
    "    {{- \"Given the following functions, please respond with a JSON for a function call \" }}\n"
    "    {{- \"with its proper arguments that best answers the given prompt.\\n\\n\" }}\n"
    "    {{- 'Respond in the format {\"name\": function name, \"parameters\": dictionary of argument name and its value}.' }}\n"
    "    {{- \"Do not use variables.\\n\\n\" }}\n"
    "    {%- for t in tools %}\n"
    "        {{- t | tojson(indent=4) }}\n"
    "        {{- \"\\n\\n\" }}\n"
    "    {%- endfor %}\n"
    "    {{- first_user_message + \"<|eot_id|>\"}}\n"
    "{%- endif %}\n"
    "\n"
    "{%- for message in messages %}\n"
    "    {%- if not (message.role == 'ipython' or message.role == 'tool' or 'tool_calls' in message) %}\n"
    "    {{- '<|start_header_id|>' + message['role'] + '<|end_header_id|>\\n\\n' }}\n"
    "        {%- if message['content'] is string %}\n"
    "            {{- message['content'] }}\n"
    "        {%- else %}\n"
    "            {%- for content in message['content'] %}\n"
    "                {%- if content['type'] == 'image' %}\n"
    "                    {{- '<|image|>' }}\n"
    "                {%- elif content['type'] == 'text' %}\n"
    "                    {{- content['text'] }}\n"
    "                {%- endif %}\n"
    "            {%- endfor %}\n"
    "        {%- endif %}\n"
    "        {{- '<|eot_id|>' }}\n"
    "    {%- elif 'tool_calls' in message %}\n"
    "        {%- if not message.tool_calls|length == 1 %}\n"
    "            {{- raise_exception(\"This model only supports single tool-calls at once!\") }}\n"
    "        {%- endif %}\n"
    "        {%- set tool_call = message.tool_calls[0].function %}\n"
    "        {{- '<|start_header_id|>assistant<|end_header_id|>\\n\\n' -}}\n"
    "        {{- '{\"name\": \"' + tool_call.name + '\", ' }}\n"
    "        {{- '\"parameters\": ' }}\n"
    "        {{- tool_call.arguments | tojson }}\n"
    "        {{- \"}\" }}\n"
    "        {{- \"<|eot_id|>\" }}\n"
    "    {%- elif message.role == \"tool\" or message.role == \"ipython\" %}\n"
    "        {{- \"<|start_header_id|>ipython<|end_header_id|>\\n\\n\" }}\n"
    "        {%- if message.content is mapping or message.content is iterable %}\n"
    "            {{- message.content | tojson }}\n"
    "        {%- else %}\n"
    "            {{- message.content }}\n"
    "        {%- endif %}\n"
    "        {{- \"<|eot_id|>\" }}\n"
    "    {%- endif %}\n"
    "{%- endfor %}\n"
    "{%- if add_generation_prompt %}\n"
    "    {{- '<|start_header_id|>assistant<|end_header_id|>\\n\\n' }}\n"
    "{%- endif %}\n"
    ;

/* A small English text the tokenizer's merges are learnt from. */
static const char corpus[] =
    "The quick brown fox jumps over the lazy dog. A picture is worth a thousand words, and this model has seen "
    "none of them: its weights are random numbers, drawn from a seeded generator so that every run gives the "
    "same file. It can still describe an image, in the sense that it turns pixels into tokens, but the tokens "
    "mean nothing. What matters here is the shape of the computation. The vision encoder cuts the image into "
    "tiles, each tile into patches, and every patch becomes a vector. The text decoder reads the prompt one token "
    "at a time and, in a few of its layers, looks at the image through cross attention. When the answer is "
    "finished the model writes an end of turn token and stops.\n"
    "Describe this image in two sentences. What is the weather like today? There is a cat sitting on a red "
    "chair next to the window, and the sun is shining on the green garden outside. The house has three rooms, "
    "a kitchen and a small library with old books about the history of the world, about mountains, rivers and "
    "the sea. People often ask the assistant questions about their photos: what is in this picture, how many "
    "people are there, what colour is the car, where was this taken, and what time of the year is it?\n"
    "Hello! How can I help you today? I would like to know more about the stars and the planets. The sky at "
    "night is full of light; some of it left those stars thousands of years ago. Numbers like 1, 2, 3, 10, 42 "
    "and 2024 appear in text too, as do names, places and dates such as 26 Jul 2024 or December 2023.\n";

static const char *const special_names[11] = {
    "<|begin_of_text|>",  "<|end_of_text|>", "<|reserved_special_token_0|>", "<|reserved_special_token_1|>",
    "<|finetune_right_pad_id|>", "<|reserved_special_token_2|>", "<|start_header_id|>", "<|end_header_id|>",
    "<|eom_id|>", "<|eot_id|>", "<|python_tag|>"};

typedef struct preset {
    const char *name;
    bool        mllama, tie;
    int64_t     vocab, special_base, hidden, heads, kv, ff, layers, max_pos;
    int         n_cross;
    int32_t     cross[20];
    int64_t     v_hidden, v_heads, v_ff, v_layers, v_global, v_image;
    int         n_interm;
    int32_t     interm[LLV_MAX_INTERMEDIATE];
} preset;

static const preset presets[] = {
    {"tiny", true, false, 384, 368, 64, 4, 2, 128, 5, 131072, 2, {1, 3}, 32, 2, 64, 3, 1, 28, 2, {0, 2}},
    {"demo", true, false, 512, 496, 96, 4, 2, 256, 4, 131072, 1, {2}, 32, 2, 128, 2, 1, 56, 1, {1}},
    {"11b", true, false, 128256, 128000, 4096, 32, 8, 14336, 40, 131072, 8, {3, 8, 13, 18, 23, 28, 33, 38},
     1280, 16, 5120, 32, 8, 560, 5, {3, 7, 15, 23, 30}},
    /* Llama 3.2 90B Vision: Llama 3.1 70B's text layers plus 20 cross-attention layers, 11B's vision tower */
    {"90b", true, false, 128256, 128000, 8192, 64, 8, 28672, 100, 131072, 20,
     {3, 8, 13, 18, 23, 28, 33, 38, 43, 48, 53, 58, 63, 68, 73, 78, 83, 88, 93, 98},
     1280, 16, 5120, 32, 8, 560, 5, {3, 7, 15, 23, 30}},
    {"llama-tiny", false, true, 384, 368, 64, 4, 2, 128, 3, 131072, 0, {0}, 0, 0, 0, 0, 0, 0, 0, {0}},
};

void llv_synth_params_init(llv_synth_params *out, size_t size) {
    llv_synth_params p;
    memset(&p, 0, sizeof p);
    p.preset = "tiny";
    p.seed = 1;
    p.type = LLV_TYPE_F32;
    llv_params_out(out, size, &p, sizeof p);
}

/* ------------------------------------------------------------------------- */
/* Random numbers                                                            */
/* ------------------------------------------------------------------------- */

typedef struct rng { uint64_t s; double spare; bool has_spare; } rng;

static uint64_t rng_next(rng *r) {
    uint64_t z = (r->s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}
static double rng_uniform(rng *r) { return (double)(rng_next(r) >> 11) * (1.0 / 9007199254740992.0); }
static double rng_normal(rng *r) {
    if (r->has_spare) { r->has_spare = false; return r->spare; }
    double u1 = rng_uniform(r), u2 = rng_uniform(r);
    if (u1 < 1e-300) u1 = 1e-300;
    double rad = sqrt(-2.0 * log(u1)), th = 2.0 * M_PI * u2;
    r->spare = rad * sin(th);
    r->has_spare = true;
    return rad * cos(th);
}
static rng rng_for(uint64_t seed, const char *name) {
    uint64_t h = 0xcbf29ce484222325ull;
    for (const char *c = name; *c; c++) h = (h ^ (uint8_t)*c) * 0x100000001b3ull;
    rng r = {.s = seed * 0x9e3779b97f4a7c15ull ^ h};
    rng_next(&r);
    return r;
}

/* ------------------------------------------------------------------------- */
/* Tokenizer: byte-level BPE learnt from the corpus                          */
/* ------------------------------------------------------------------------- */

typedef struct bpe {
    char  **tok;      /* token strings (byte-level unicode, UTF-8) */
    int     n_tok, cap_tok;
    char  **merges;   /* "A B" */
    int     n_merges, cap_merges;
} bpe;

static void bpe_free(bpe *b) {
    for (int i = 0; i < b->n_tok; i++) free(b->tok[i]);
    for (int i = 0; i < b->n_merges; i++) free(b->merges[i]);
    free(b->tok);
    free(b->merges);
}

static int push_str(char ***arr, int *n, int *cap, char *s) {
    if (!s) return -1;
    if (*n == *cap) {
        int nc = *cap ? *cap * 2 : 512;
        char **na = realloc(*arr, (size_t)nc * sizeof *na);
        if (!na) { free(s); return -1; }
        *arr = na;
        *cap = nc;
    }
    (*arr)[(*n)++] = s;
    return 0;
}

/* GPT-2 bytes_to_unicode: byte -> code point; order[] lists bytes in vocab order. */
static void byte_unicode(int cp[256], int order[256]) {
    int n = 0, k = 0;
    bool printable[256] = {false};
    for (int b = 33; b <= 126; b++) printable[b] = true;
    for (int b = 161; b <= 172; b++) printable[b] = true;
    for (int b = 174; b <= 255; b++) printable[b] = true;
    for (int b = 0; b < 256; b++) if (printable[b]) { cp[b] = b; order[k++] = b; }
    for (int b = 0; b < 256; b++) if (!printable[b]) { cp[b] = 256 + n++; order[k++] = b; }
}

static char *cat2(const char *a, const char *sep, const char *b) {
    size_t x = strlen(a), y = strlen(sep), z = strlen(b);
    char *s = malloc(x + y + z + 1);
    if (!s) return NULL;
    memcpy(s, a, x);
    memcpy(s + x, sep, y);
    memcpy(s + x + y, b, z + 1);
    return s;
}

typedef struct word { int *ids; int n, count; } word;

static bool is_letter(unsigned char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }

/* Learns merges until the vocabulary has `target` tokens or no pair is left. */
static llv_status bpe_train(bpe *b, int target, llv_error *err) {
    int cp[256], order[256], id_of_byte[256];
    byte_unicode(cp, order);
    for (int i = 0; i < 256; i++) {
        char buf[4];
        int n = (int)llv_utf8_encode((uint32_t)cp[order[i]], buf);
        char *s = malloc((size_t)n + 1);
        if (s) { memcpy(s, buf, (size_t)n); s[n] = 0; }
        if (push_str(&b->tok, &b->n_tok, &b->cap_tok, s)) return llv_err(err, LLV_ERR_OUT_OF_MEMORY, "out of memory");
        id_of_byte[order[i]] = i;
    }
    /* pre-tokenize roughly like the Llama 3 regex: " word", digits, punctuation, whitespace */
    word *words = NULL;
    int n_words = 0, cap_words = 0;
    llv_status st = LLV_OK;
    const unsigned char *c = (const unsigned char *)corpus;
    size_t len = strlen(corpus), i = 0;
    while (i < len) {
        size_t s = i;
        if (c[i] == ' ' && i + 1 < len && c[i + 1] != ' ' && c[i + 1] != '\n') i++;
        if (is_letter(c[i])) while (i < len && is_letter(c[i])) i++;
        else if (c[i] >= '0' && c[i] <= '9') { int k = 0; while (i < len && c[i] >= '0' && c[i] <= '9' && k < 3) { i++; k++; } }
        else if (c[i] == '\n' || c[i] == ' ') i++;
        else while (i < len && !is_letter(c[i]) && c[i] != ' ' && c[i] != '\n' && !(c[i] >= '0' && c[i] <= '9')) i++;
        if (i == s) i++;
        int n = (int)(i - s), w;
        for (w = 0; w < n_words; w++) {
            if (words[w].n != n) continue;
            int k = 0;
            while (k < n && words[w].ids[k] == id_of_byte[c[s + k]]) k++;
            if (k == n) break;
        }
        if (w < n_words) { words[w].count++; continue; }
        if (n_words == cap_words) {
            cap_words = cap_words ? cap_words * 2 : 256;
            word *nw = realloc(words, (size_t)cap_words * sizeof *nw);
            if (!nw) { st = llv_err(err, LLV_ERR_OUT_OF_MEMORY, "out of memory"); goto done; }
            words = nw;
        }
        words[n_words].ids = malloc((size_t)n * sizeof(int));
        if (!words[n_words].ids) { st = llv_err(err, LLV_ERR_OUT_OF_MEMORY, "out of memory"); goto done; }
        for (int k = 0; k < n; k++) words[n_words].ids[k] = id_of_byte[c[s + k]];
        words[n_words].n = n;
        words[n_words].count = 1;
        n_words++;
    }
    while (b->n_tok < target) {
        /* best pair: highest count, ties to the smallest ids (open-addressing count table) */
        enum { HN = 1 << 14 };
        static const uint64_t empty = ~0ull;
        uint64_t *keys = malloc(HN * sizeof *keys);
        int *cnts = calloc(HN, sizeof *cnts);
        if (!keys || !cnts) { free(keys); free(cnts); st = llv_err(err, LLV_ERR_OUT_OF_MEMORY, "out of memory"); goto done; }
        for (int k = 0; k < HN; k++) keys[k] = empty;
        int best_a = -1, best_b = -1, best_n = 0;
        for (int w = 0; w < n_words; w++)
            for (int k = 0; k + 1 < words[w].n; k++) {
                uint64_t key = (uint64_t)words[w].ids[k] << 32 | (uint32_t)words[w].ids[k + 1];
                uint64_t h = (key * 0x9e3779b97f4a7c15ull) >> 50;
                while (keys[h] != empty && keys[h] != key) h = (h + 1) & (HN - 1);
                keys[h] = key;
                cnts[h] += words[w].count;
            }
        for (int k = 0; k < HN; k++) {
            if (keys[k] == empty) continue;
            int a = (int)(keys[k] >> 32), bb = (int)(uint32_t)keys[k];
            if (cnts[k] > best_n || (cnts[k] == best_n && (a < best_a || (a == best_a && bb < best_b)))) {
                best_n = cnts[k]; best_a = a; best_b = bb;
            }
        }
        free(keys);
        free(cnts);
        if (best_n == 0) break;
        char *m = cat2(b->tok[best_a], " ", b->tok[best_b]);
        char *t = cat2(b->tok[best_a], "", b->tok[best_b]);
        if (!m || !t || push_str(&b->merges, &b->n_merges, &b->cap_merges, m)) {
            free(t);
            st = llv_err(err, LLV_ERR_OUT_OF_MEMORY, "out of memory");
            goto done;
        }
        int nid = -1;
        for (int k = 0; k < b->n_tok; k++)
            if (!strcmp(b->tok[k], t)) { nid = k; break; }
        if (nid < 0) {
            nid = b->n_tok;
            if (push_str(&b->tok, &b->n_tok, &b->cap_tok, t)) { st = llv_err(err, LLV_ERR_OUT_OF_MEMORY, "out of memory"); goto done; }
        } else {
            free(t);
        }
        for (int w = 0; w < n_words; w++) {
            int o = 0;
            for (int k = 0; k < words[w].n; k++) {
                if (k + 1 < words[w].n && words[w].ids[k] == best_a && words[w].ids[k + 1] == best_b) {
                    words[w].ids[o++] = nid;
                    k++;
                } else {
                    words[w].ids[o++] = words[w].ids[k];
                }
            }
            words[w].n = o;
        }
    }
done:
    for (int w = 0; w < n_words; w++) free(words[w].ids);
    free(words);
    return st;
}

/* ------------------------------------------------------------------------- */
/* Files                                                                     */
/* ------------------------------------------------------------------------- */

typedef struct outdir {
    char  *dir;
    char **files; /* written, for cleanup of a temporary directory */
    int    n_files, cap_files;
} outdir;

static char *od_path(const outdir *o, const char *name) { return cat2(o->dir, "/", name); }

static llv_status write_text(outdir *o, const char *name, const char *text, llv_error *err) {
    char *path = od_path(o, name);
    if (!path) return llv_err(err, LLV_ERR_OUT_OF_MEMORY, "out of memory");
    FILE *f = fopen(path, "wb");
    if (!f) {
        llv_status s = llv_err(err, LLV_ERR_IO, "%s: %s", path, strerror(errno));
        free(path);
        return s;
    }
    size_t n = strlen(text);
    bool ok = fwrite(text, 1, n, f) == n && fputc('\n', f) != EOF;
    ok = (fclose(f) == 0) && ok;
    if (!ok) {
        llv_status s = llv_err(err, LLV_ERR_IO, "%s: write failed", path);
        free(path);
        return s;
    }
    if (push_str(&o->files, &o->n_files, &o->cap_files, path))
        return llv_err(err, LLV_ERR_OUT_OF_MEMORY, "out of memory");
    return LLV_OK;
}

static llv_status write_json(outdir *o, const char *name, cJSON *j, llv_error *err) {
    if (!j) return llv_err(err, LLV_ERR_OUT_OF_MEMORY, "out of memory building %s", name);
    char *txt = cJSON_Print(j);
    cJSON_Delete(j);
    if (!txt) return llv_err(err, LLV_ERR_OUT_OF_MEMORY, "out of memory printing %s", name);
    llv_status s = write_text(o, name, txt, err);
    cJSON_free(txt);
    return s;
}

static cJSON *int_array(const int32_t *v, int n) {
    cJSON *a = cJSON_CreateArray();
    for (int i = 0; a && i < n; i++) cJSON_AddItemToArray(a, cJSON_CreateNumber(v[i]));
    return a;
}

static const char *dtype_name(int type) {
    return type == LLV_TYPE_F32 ? "float32" : type == LLV_TYPE_F16 ? "float16" : "bfloat16";
}

static void add_rope_scaling(cJSON *o) {
    cJSON *rs = cJSON_AddObjectToObject(o, "rope_scaling");
    cJSON_AddNumberToObject(rs, "factor", 8.0);
    cJSON_AddNumberToObject(rs, "high_freq_factor", 4.0);
    cJSON_AddNumberToObject(rs, "low_freq_factor", 1.0);
    cJSON_AddNumberToObject(rs, "original_max_position_embeddings", 8192);
    cJSON_AddStringToObject(rs, "rope_type", "llama3");
}

static void add_text_keys(cJSON *o, const preset *p, const int32_t *eos) {
    cJSON_AddNumberToObject(o, "bos_token_id", (double)p->special_base);
    if (p->mllama) cJSON_AddItemToObject(o, "cross_attention_layers", int_array(p->cross, p->n_cross));
    cJSON_AddItemToObject(o, "eos_token_id", int_array(eos, 3));
    cJSON_AddStringToObject(o, "hidden_act", "silu");
    cJSON_AddNumberToObject(o, "hidden_size", (double)p->hidden);
    cJSON_AddNumberToObject(o, "intermediate_size", (double)p->ff);
    cJSON_AddNumberToObject(o, "max_position_embeddings", (double)p->max_pos);
    cJSON_AddStringToObject(o, "model_type", p->mllama ? "mllama_text_model" : "llama");
    cJSON_AddNumberToObject(o, "num_attention_heads", (double)p->heads);
    cJSON_AddNumberToObject(o, "num_hidden_layers", (double)p->layers);
    cJSON_AddNumberToObject(o, "num_key_value_heads", (double)p->kv);
    cJSON_AddNumberToObject(o, "pad_token_id", (double)(p->special_base + 4));
    cJSON_AddNumberToObject(o, "rms_norm_eps", 1e-5);
    add_rope_scaling(o);
    cJSON_AddNumberToObject(o, "rope_theta", 500000.0);
    cJSON_AddBoolToObject(o, "tie_word_embeddings", p->tie);
    cJSON_AddNumberToObject(o, "vocab_size", (double)p->vocab);
}

static llv_status write_configs(outdir *o, const preset *p, int type, llv_error *err) {
    int32_t eos[3] = {(int32_t)p->special_base + 1, (int32_t)p->special_base + 8, (int32_t)p->special_base + 9};
    char name[64];
    snprintf(name, sizeof name, "llv-synth-%s", p->name);
    cJSON *c = cJSON_CreateObject();
    cJSON_AddStringToObject(c, "_name_or_path", name);
    cJSON *arch = cJSON_AddArrayToObject(c, "architectures");
    cJSON_AddItemToArray(arch, cJSON_CreateString(p->mllama ? "MllamaForConditionalGeneration" : "LlamaForCausalLM"));
    if (p->mllama) {
        cJSON_AddNumberToObject(c, "image_token_index", (double)p->vocab);
        cJSON_AddStringToObject(c, "model_type", "mllama");
        add_text_keys(cJSON_AddObjectToObject(c, "text_config"), p, eos);
        cJSON_AddStringToObject(c, "torch_dtype", dtype_name(type));
        cJSON *v = cJSON_AddObjectToObject(c, "vision_config");
        cJSON_AddNumberToObject(v, "attention_heads", (double)p->v_heads);
        cJSON_AddStringToObject(v, "hidden_act", "gelu");
        cJSON_AddNumberToObject(v, "hidden_size", (double)p->v_hidden);
        cJSON_AddNumberToObject(v, "image_size", (double)p->v_image);
        cJSON_AddItemToObject(v, "intermediate_layers_indices", int_array(p->interm, p->n_interm));
        cJSON_AddNumberToObject(v, "intermediate_size", (double)p->v_ff);
        cJSON_AddNumberToObject(v, "max_num_tiles", 4);
        cJSON_AddStringToObject(v, "model_type", "mllama_vision_model");
        cJSON_AddNumberToObject(v, "norm_eps", 1e-5);
        cJSON_AddNumberToObject(v, "num_channels", 3);
        cJSON_AddNumberToObject(v, "num_global_layers", (double)p->v_global);
        cJSON_AddNumberToObject(v, "num_hidden_layers", (double)p->v_layers);
        cJSON_AddNumberToObject(v, "patch_size", 14);
        static const int32_t ar[8][2] = {{1, 1}, {1, 2}, {1, 3}, {1, 4}, {2, 1}, {2, 2}, {3, 1}, {4, 1}};
        cJSON *sa = cJSON_AddArrayToObject(v, "supported_aspect_ratios");
        for (int i = 0; i < 8; i++) cJSON_AddItemToArray(sa, int_array(ar[i], 2));
        cJSON_AddNumberToObject(v, "vision_output_dim", (double)(p->v_hidden * (p->n_interm + 1)));
    } else {
        add_text_keys(c, p, eos);
        cJSON_AddNumberToObject(c, "head_dim", (double)(p->hidden / p->heads));
        cJSON_AddStringToObject(c, "torch_dtype", dtype_name(type));
    }
    llv_status s = write_json(o, "config.json", c, err);
    if (s) return s;

    cJSON *g = cJSON_CreateObject();
    cJSON_AddNumberToObject(g, "bos_token_id", (double)p->special_base);
    cJSON_AddBoolToObject(g, "do_sample", true);
    cJSON_AddItemToObject(g, "eos_token_id", int_array(eos, 3));
    cJSON_AddNumberToObject(g, "pad_token_id", (double)(p->special_base + 4));
    cJSON_AddNumberToObject(g, "temperature", 0.6);
    cJSON_AddNumberToObject(g, "top_p", 0.9);
    if ((s = write_json(o, "generation_config.json", g, err))) return s;

    if (p->mllama) {
        cJSON *q = cJSON_CreateObject();
        cJSON_AddBoolToObject(q, "do_convert_rgb", true);
        cJSON_AddBoolToObject(q, "do_normalize", true);
        cJSON_AddBoolToObject(q, "do_pad", true);
        cJSON_AddBoolToObject(q, "do_rescale", true);
        cJSON_AddBoolToObject(q, "do_resize", true);
        const double mean[3] = {0.48145466, 0.4578275, 0.40821073}, sd[3] = {0.26862954, 0.26130258, 0.27577711};
        cJSON_AddItemToObject(q, "image_mean", cJSON_CreateDoubleArray(mean, 3));
        cJSON_AddStringToObject(q, "image_processor_type", "MllamaImageProcessor");
        cJSON_AddItemToObject(q, "image_std", cJSON_CreateDoubleArray(sd, 3));
        cJSON_AddNumberToObject(q, "max_image_tiles", 4);
        cJSON_AddNumberToObject(q, "resample", 2);
        cJSON_AddNumberToObject(q, "rescale_factor", 1.0 / 255.0);
        cJSON *sz = cJSON_AddObjectToObject(q, "size");
        cJSON_AddNumberToObject(sz, "height", (double)p->v_image);
        cJSON_AddNumberToObject(sz, "width", (double)p->v_image);
        if ((s = write_json(o, "preprocessor_config.json", q, err))) return s;
    }
    return LLV_OK;
}

static cJSON *added_token(int64_t id, const char *content) {
    cJSON *t = cJSON_CreateObject();
    cJSON_AddNumberToObject(t, "id", (double)id);
    cJSON_AddStringToObject(t, "content", content);
    cJSON_AddBoolToObject(t, "single_word", false);
    cJSON_AddBoolToObject(t, "lstrip", false);
    cJSON_AddBoolToObject(t, "rstrip", false);
    cJSON_AddBoolToObject(t, "normalized", false);
    cJSON_AddBoolToObject(t, "special", true);
    return t;
}

static void special_name(const preset *p, int64_t id, char *buf, size_t n) {
    int64_t k = id - p->special_base;
    if (id == p->vocab) snprintf(buf, n, "<|image|>");
    else if (k < 11) snprintf(buf, n, "%s", special_names[k]);
    else snprintf(buf, n, "<|reserved_special_token_%lld|>", (long long)(k - 11 + 3));
}

static llv_status write_tokenizer(outdir *o, const preset *p, llv_error *err) {
    bpe b;
    memset(&b, 0, sizeof b);
    int target = (int)LLV_MIN(p->special_base, 256 + 2048);
    llv_status s = bpe_train(&b, target, err);
    if (s) { bpe_free(&b); return s; }
    cJSON *t = cJSON_CreateObject();
    cJSON_AddStringToObject(t, "version", "1.0");
    cJSON_AddNullToObject(t, "truncation");
    cJSON_AddNullToObject(t, "padding");
    cJSON *added = cJSON_AddArrayToObject(t, "added_tokens");
    char nm[64];
    for (int64_t id = p->special_base; id <= p->vocab; id++) {
        special_name(p, id, nm, sizeof nm);
        cJSON_AddItemToArray(added, added_token(id, nm));
    }
    cJSON_AddNullToObject(t, "normalizer");
    cJSON *pre = cJSON_AddObjectToObject(t, "pre_tokenizer");
    cJSON_AddStringToObject(pre, "type", "Sequence");
    cJSON *pts = cJSON_AddArrayToObject(pre, "pretokenizers");
    cJSON *split = cJSON_CreateObject();
    cJSON_AddStringToObject(split, "type", "Split");
    cJSON_AddStringToObject(cJSON_AddObjectToObject(split, "pattern"), "Regex",
                            "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+"
                            "[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+");
    cJSON_AddStringToObject(split, "behavior", "Isolated");
    cJSON_AddBoolToObject(split, "invert", false);
    cJSON_AddItemToArray(pts, split);
    cJSON *bl = cJSON_CreateObject();
    cJSON_AddStringToObject(bl, "type", "ByteLevel");
    cJSON_AddBoolToObject(bl, "add_prefix_space", false);
    cJSON_AddBoolToObject(bl, "trim_offsets", true);
    cJSON_AddBoolToObject(bl, "use_regex", false);
    cJSON_AddItemToArray(pts, bl);
    const char *pp[2] = {"post_processor", "decoder"};
    for (int i = 0; i < 2; i++) {
        cJSON *x = cJSON_AddObjectToObject(t, pp[i]);
        cJSON_AddStringToObject(x, "type", "ByteLevel");
        cJSON_AddBoolToObject(x, "add_prefix_space", true);
        cJSON_AddBoolToObject(x, "trim_offsets", i == 1);
        cJSON_AddBoolToObject(x, "use_regex", true);
    }
    cJSON *m = cJSON_AddObjectToObject(t, "model");
    cJSON_AddStringToObject(m, "type", "BPE");
    cJSON_AddNullToObject(m, "dropout");
    cJSON_AddNullToObject(m, "unk_token");
    cJSON_AddNullToObject(m, "continuing_subword_prefix");
    cJSON_AddNullToObject(m, "end_of_word_suffix");
    cJSON_AddBoolToObject(m, "fuse_unk", false);
    cJSON_AddBoolToObject(m, "byte_fallback", false);
    cJSON_AddBoolToObject(m, "ignore_merges", true);
    cJSON *vocab = cJSON_AddObjectToObject(m, "vocab");
    for (int i = 0; i < b.n_tok; i++) cJSON_AddItemToObject(vocab, b.tok[i], cJSON_CreateNumber(i));
    /* ids between the learnt tokens and the specials: unreachable fillers */
    for (int64_t id = b.n_tok; id < p->special_base; id++) {
        char f[48];
        snprintf(f, sizeof f, "<|filler_%lld|>", (long long)id);
        cJSON_AddItemToObject(vocab, f, cJSON_CreateNumber((double)id));
    }
    cJSON *mg = cJSON_AddArrayToObject(m, "merges");
    for (int i = 0; i < b.n_merges; i++) cJSON_AddItemToArray(mg, cJSON_CreateString(b.merges[i]));
    bpe_free(&b);
    if ((s = write_json(o, "tokenizer.json", t, err))) return s;

    cJSON *c = cJSON_CreateObject();
    cJSON *dec = cJSON_AddObjectToObject(c, "added_tokens_decoder");
    for (int64_t id = p->special_base; id <= p->vocab; id++) {
        char key[24];
        snprintf(key, sizeof key, "%lld", (long long)id);
        special_name(p, id, nm, sizeof nm);
        cJSON *e = added_token(id, nm);
        cJSON_DeleteItemFromObject(e, "id");
        cJSON_AddItemToObject(dec, key, e);
    }
    cJSON_AddStringToObject(c, "bos_token", "<|begin_of_text|>");
    cJSON_AddStringToObject(c, "chat_template", chat_template);
    cJSON_AddBoolToObject(c, "clean_up_tokenization_spaces", true);
    cJSON_AddStringToObject(c, "eos_token", "<|eot_id|>");
    cJSON *names = cJSON_AddArrayToObject(c, "model_input_names");
    cJSON_AddItemToArray(names, cJSON_CreateString("input_ids"));
    cJSON_AddItemToArray(names, cJSON_CreateString("attention_mask"));
    cJSON_AddNumberToObject(c, "model_max_length", (double)p->max_pos);
    cJSON_AddStringToObject(c, "pad_token", "<|finetune_right_pad_id|>");
    cJSON_AddStringToObject(c, "padding_side", "left");
    cJSON_AddStringToObject(c, "tokenizer_class", "PreTrainedTokenizerFast");
    return write_json(o, "tokenizer_config.json", c, err);
}

/* ------------------------------------------------------------------------- */
/* Tensors                                                                   */
/* ------------------------------------------------------------------------- */

typedef enum init { I_NORMAL, I_NORM, I_BIAS, I_GATE } init;

typedef struct tspec {
    char    name[160];
    int     nd;
    int64_t shape[4];
    init    how;
    double  scale;
    int     shard;
    uint64_t off, nbytes;
} tspec;

typedef struct tlist { tspec *t; int n, cap; } tlist;

static int tl_add(tlist *l, const char *name, int nd, const int64_t *shape, init how, double scale) {
    if (l->n == l->cap) {
        int nc = l->cap ? l->cap * 2 : 256;
        tspec *nt = realloc(l->t, (size_t)nc * sizeof *nt);
        if (!nt) return -1;
        l->t = nt;
        l->cap = nc;
    }
    tspec *t = &l->t[l->n++];
    memset(t, 0, sizeof *t);
    snprintf(t->name, sizeof t->name, "%s", name);
    t->nd = nd;
    memcpy(t->shape, shape, (size_t)nd * sizeof *shape);
    t->how = how;
    t->scale = scale;
    return 0;
}

#define T1(a) ((const int64_t[]){a})
#define T2(a, b) ((const int64_t[]){a, b})

static int enumerate(tlist *l, const preset *p) {
    const char *tp = p->mllama ? "language_model.model." : "model.";
    int64_t H = p->hidden, hd = p->hidden / p->heads, qd = p->heads * hd, kd = p->kv * hd, F = p->ff;
    char n[160];
    int r = 0;
#define ADD(nd, shape, how, scale, ...) (snprintf(n, sizeof n, __VA_ARGS__), r |= tl_add(l, n, nd, shape, how, scale))
    ADD(2, T2(p->mllama ? p->vocab + 8 : p->vocab, H), I_NORMAL, 1.0, "%sembed_tokens.weight", tp);
    if (!p->tie) ADD(2, T2(p->vocab, H), I_NORMAL, 3.0 / sqrt((double)H), "%slm_head.weight", p->mllama ? "language_model." : "");
    ADD(1, T1(H), I_NORM, 0, "%snorm.weight", tp);
    int ci = 0;
    for (int64_t i = 0; i < p->layers; i++) {
        bool cross = ci < p->n_cross && p->cross[ci] == i;
        if (cross) ci++;
        const char *a = cross ? "cross_attn" : "self_attn";
        long long li = (long long)i;
        ADD(1, T1(H), I_NORM, 0, "%slayers.%lld.input_layernorm.weight", tp, li);
        ADD(2, T2(qd, H), I_NORMAL, 1 / sqrt((double)H), "%slayers.%lld.%s.q_proj.weight", tp, li, a);
        ADD(2, T2(kd, H), I_NORMAL, 1 / sqrt((double)H), "%slayers.%lld.%s.k_proj.weight", tp, li, a);
        ADD(2, T2(kd, H), I_NORMAL, 1 / sqrt((double)H), "%slayers.%lld.%s.v_proj.weight", tp, li, a);
        ADD(2, T2(H, qd), I_NORMAL, 1 / sqrt((double)qd), "%slayers.%lld.%s.o_proj.weight", tp, li, a);
        if (cross) {
            ADD(1, T1(hd), I_NORM, 0, "%slayers.%lld.cross_attn.q_norm.weight", tp, li);
            ADD(1, T1(hd), I_NORM, 0, "%slayers.%lld.cross_attn.k_norm.weight", tp, li);
            ADD(1, T1(1), I_GATE, 0, "%slayers.%lld.cross_attn_attn_gate", tp, li);
            ADD(1, T1(1), I_GATE, 0, "%slayers.%lld.cross_attn_mlp_gate", tp, li);
        }
        ADD(1, T1(H), I_NORM, 0, "%slayers.%lld.post_attention_layernorm.weight", tp, li);
        ADD(2, T2(F, H), I_NORMAL, 1 / sqrt((double)H), "%slayers.%lld.mlp.gate_proj.weight", tp, li);
        ADD(2, T2(F, H), I_NORMAL, 1 / sqrt((double)H), "%slayers.%lld.mlp.up_proj.weight", tp, li);
        ADD(2, T2(H, F), I_NORMAL, 1 / sqrt((double)F), "%slayers.%lld.mlp.down_proj.weight", tp, li);
    }
    if (p->mllama) {
        int64_t D = p->v_hidden, VF = p->v_ff, g = p->v_image / 14, P = g * g + 1, out = D * (p->n_interm + 1);
        const char *v = "vision_model.";
        ADD(4, ((const int64_t[]){D, 3, 14, 14}), I_NORMAL, 1 / sqrt(3.0 * 14 * 14), "%spatch_embedding.weight", v);
        ADD(1, T1(D), I_NORMAL, 1.0, "%sclass_embedding", v);
        ADD(2, T2(P, D), I_NORMAL, 0.5, "%sgated_positional_embedding.embedding", v);
        ADD(1, T1(1), I_GATE, 0, "%sgated_positional_embedding.gate", v);
        ADD(2, T2(9, 4 * P * D), I_NORMAL, 0.5, "%sgated_positional_embedding.tile_embedding.weight", v);
        ADD(2, T2(9, 4 * D), I_NORMAL, 0.5, "%spre_tile_positional_embedding.embedding.weight", v);
        ADD(1, T1(1), I_GATE, 0, "%spre_tile_positional_embedding.gate", v);
        ADD(2, T2(9, 4 * D), I_NORMAL, 0.5, "%spost_tile_positional_embedding.embedding.weight", v);
        ADD(1, T1(1), I_GATE, 0, "%spost_tile_positional_embedding.gate", v);
        ADD(1, T1(D), I_NORM, 0, "%slayernorm_pre.weight", v);
        ADD(1, T1(D), I_BIAS, 0, "%slayernorm_pre.bias", v);
        ADD(1, T1(D), I_NORM, 0, "%slayernorm_post.weight", v);
        ADD(1, T1(D), I_BIAS, 0, "%slayernorm_post.bias", v);
        for (int glob = 0; glob < 2; glob++) {
            const char *tr = glob ? "global_transformer" : "transformer";
            for (int64_t i = 0; i < (glob ? p->v_global : p->v_layers); i++) {
                long long li = (long long)i;
                const char *pr[4] = {"q", "k", "v", "o"};
                for (int k = 0; k < 4; k++)
                    ADD(2, T2(D, D), I_NORMAL, 1 / sqrt((double)D), "%s%s.layers.%lld.self_attn.%s_proj.weight", v, tr,
                        li, pr[k]);
                ADD(1, T1(D), I_NORM, 0, "%s%s.layers.%lld.input_layernorm.weight", v, tr, li);
                ADD(1, T1(D), I_BIAS, 0, "%s%s.layers.%lld.input_layernorm.bias", v, tr, li);
                ADD(1, T1(D), I_NORM, 0, "%s%s.layers.%lld.post_attention_layernorm.weight", v, tr, li);
                ADD(1, T1(D), I_BIAS, 0, "%s%s.layers.%lld.post_attention_layernorm.bias", v, tr, li);
                ADD(2, T2(VF, D), I_NORMAL, 1 / sqrt((double)D), "%s%s.layers.%lld.mlp.fc1.weight", v, tr, li);
                ADD(1, T1(VF), I_BIAS, 0, "%s%s.layers.%lld.mlp.fc1.bias", v, tr, li);
                ADD(2, T2(D, VF), I_NORMAL, 1 / sqrt((double)VF), "%s%s.layers.%lld.mlp.fc2.weight", v, tr, li);
                ADD(1, T1(D), I_BIAS, 0, "%s%s.layers.%lld.mlp.fc2.bias", v, tr, li);
                if (glob) {
                    ADD(1, T1(1), I_GATE, 0, "%s%s.layers.%lld.gate_attn", v, tr, li);
                    ADD(1, T1(1), I_GATE, 0, "%s%s.layers.%lld.gate_ffn", v, tr, li);
                }
            }
        }
        ADD(2, T2(H, out), I_NORMAL, 1 / sqrt((double)out), "multi_modal_projector.weight");
        ADD(1, T1(H), I_BIAS, 0, "multi_modal_projector.bias");
    }
#undef ADD
    return r;
}

static float draw(rng *r, const tspec *t) {
    switch (t->how) {
    case I_NORMAL: return (float)(t->scale * rng_normal(r));
    case I_NORM: return (float)(1.0 + 0.25 * rng_normal(r));
    case I_BIAS: return (float)(0.1 * rng_normal(r));
    case I_GATE: {
        double mag = 0.35 + 0.75 * rng_uniform(r);
        return (float)((rng_next(r) & 1) ? -mag : mag);
    }
    }
    return 0;
}

static const char *st_dtype(int type) { return type == LLV_TYPE_F32 ? "F32" : type == LLV_TYPE_F16 ? "F16" : "BF16"; }

#define SHARD_BYTES 5000000000ull
#define GEN_CHUNK   (1 << 20)

static llv_status write_weights(outdir *o, const preset *p, const llv_synth_params *sp, llv_error *err) {
    tlist l = {0};
    llv_status s = LLV_OK;
    float *buf = NULL;
    uint16_t *hbuf = NULL;
    FILE *f = NULL;
    char *path = NULL;
    cJSON *index = NULL;
    if (enumerate(&l, p)) { s = llv_err(err, LLV_ERR_OUT_OF_MEMORY, "out of memory"); goto done; }
    size_t esz = sp->type == LLV_TYPE_F32 ? 4 : 2;
    int n_shards = 1;
    uint64_t in_shard = 0, total = 0;
    for (int i = 0; i < l.n; i++) {
        tspec *t = &l.t[i];
        uint64_t n = 1;
        for (int d = 0; d < t->nd; d++) n *= (uint64_t)t->shape[d];
        t->nbytes = n * esz;
        if (in_shard > 0 && in_shard + t->nbytes > SHARD_BYTES) { n_shards++; in_shard = 0; }
        t->shard = n_shards - 1;
        t->off = in_shard;
        in_shard += t->nbytes;
        total += t->nbytes;
    }
    buf = malloc((size_t)GEN_CHUNK * 4);
    hbuf = malloc((size_t)GEN_CHUNK * 2);
    if (!buf || !hbuf) { s = llv_err(err, LLV_ERR_OUT_OF_MEMORY, "out of memory"); goto done; }
    if (n_shards > 1) {
        index = cJSON_CreateObject();
        cJSON_AddNumberToObject(cJSON_AddObjectToObject(index, "metadata"), "total_size", (double)total);
        cJSON_AddObjectToObject(index, "weight_map");
    }
    uint64_t done_bytes = 0;
    int ti = 0;
    for (int sh = 0; sh < n_shards; sh++) {
        char fname[64];
        if (n_shards == 1) snprintf(fname, sizeof fname, "model.safetensors");
        else snprintf(fname, sizeof fname, "model-%05d-of-%05d.safetensors", sh + 1, n_shards);
        cJSON *hdr = cJSON_CreateObject();
        cJSON_AddStringToObject(cJSON_AddObjectToObject(hdr, "__metadata__"), "format", "pt");
        int first = ti, last = ti;
        while (last < l.n && l.t[last].shard == sh) {
            tspec *t = &l.t[last];
            cJSON *e = cJSON_AddObjectToObject(hdr, t->name);
            cJSON_AddStringToObject(e, "dtype", st_dtype(sp->type));
            cJSON *shp = cJSON_AddArrayToObject(e, "shape");
            for (int d = 0; d < t->nd; d++) cJSON_AddItemToArray(shp, cJSON_CreateNumber((double)t->shape[d]));
            cJSON *offs = cJSON_AddArrayToObject(e, "data_offsets");
            cJSON_AddItemToArray(offs, cJSON_CreateNumber((double)t->off));
            cJSON_AddItemToArray(offs, cJSON_CreateNumber((double)(t->off + t->nbytes)));
            if (index)
                cJSON_AddItemToObject(cJSON_GetObjectItem(index, "weight_map"), t->name, cJSON_CreateString(fname));
            last++;
        }
        char *h = cJSON_PrintUnformatted(hdr);
        cJSON_Delete(hdr);
        if (!h) { s = llv_err(err, LLV_ERR_OUT_OF_MEMORY, "out of memory"); goto done; }
        size_t hl = strlen(h), padded = (hl + 7) / 8 * 8;
        free(path);
        path = od_path(o, fname);
        f = path ? fopen(path, "wb") : NULL;
        if (!f) { cJSON_free(h); s = llv_err(err, LLV_ERR_IO, "%s: %s", path ? path : fname, strerror(errno)); goto done; }
        uint8_t len8[8];
        for (int k = 0; k < 8; k++) len8[k] = (uint8_t)((uint64_t)padded >> (8 * k));
        bool ok = fwrite(len8, 1, 8, f) == 8 && fwrite(h, 1, hl, f) == hl;
        for (size_t k = hl; ok && k < padded; k++) ok = fputc(' ', f) != EOF;
        cJSON_free(h);
        for (int i = first; ok && i < last; i++) {
            tspec *t = &l.t[i];
            rng r = rng_for(sp->seed, t->name);
            uint64_t n = t->nbytes / esz;
            for (uint64_t e0 = 0; ok && e0 < n; e0 += GEN_CHUNK) {
                size_t m = (size_t)LLV_MIN((uint64_t)GEN_CHUNK, n - e0);
                for (size_t k = 0; k < m; k++) buf[k] = draw(&r, t);
                if (sp->type == LLV_TYPE_F16)
                    for (size_t k = 0; k < m; k++) hbuf[k] = llv_f32_to_f16(buf[k]);
                else if (sp->type == LLV_TYPE_BF16)
                    for (size_t k = 0; k < m; k++) hbuf[k] = llv_f32_to_bf16(buf[k]);
                ok = fwrite(sp->type == LLV_TYPE_F32 ? (const void *)buf : (const void *)hbuf, esz, m, f) == m;
            }
            done_bytes += t->nbytes;
            if (sp->progress && !sp->progress("synth", (float)((double)done_bytes / (double)total), sp->progress_user)) {
                fclose(f);
                f = NULL;
                s = llv_err(err, LLV_ERR_CANCELLED, "cancelled");
                goto done;
            }
        }
        ok = (fclose(f) == 0) && ok;
        f = NULL;
        if (!ok) { s = llv_err(err, LLV_ERR_IO, "%s: write failed", path); goto done; }
        if (push_str(&o->files, &o->n_files, &o->cap_files, path)) { path = NULL; s = llv_err(err, LLV_ERR_OUT_OF_MEMORY, "out of memory"); goto done; }
        path = NULL;
        llv_log(sp->log, sp->log_user, LLV_LOG_INFO, "wrote %s (%d tensors)", fname, last - first);
        ti = last;
    }
    if (index) {
        s = write_json(o, "model.safetensors.index.json", index, err);
        index = NULL;
    }
done:
    if (f) fclose(f);
    cJSON_Delete(index);
    free(path);
    free(buf);
    free(hbuf);
    free(l.t);
    return s;
}

/* ------------------------------------------------------------------------- */
/* Entry point                                                               */
/* ------------------------------------------------------------------------- */

static void od_cleanup(outdir *o, bool remove_files) {
    for (int i = 0; i < o->n_files; i++) {
        if (remove_files) unlink(o->files[i]);
        free(o->files[i]);
    }
    free(o->files);
    o->files = NULL;
    o->n_files = o->cap_files = 0;
}

static llv_status write_hf_dir(outdir *o, const preset *p, const llv_synth_params *sp, llv_error *err) {
    llv_status s;
    if ((s = write_configs(o, p, sp->type, err)) || (s = write_tokenizer(o, p, err)) ||
        (s = write_weights(o, p, sp, err)))
        return s;
    return LLV_OK;
}

llv_status llv_synth(const char *out, const llv_synth_params *params, llv_error *err) {
    llv_err_clear(err);
    LLV_PARAMS_IN(llv_synth_params, params, err);
    llv_synth_params sp = params ? *params : llv_synth_default_params();
    if (!out) return llv_err(err, LLV_ERR_INVALID_ARGUMENT, "llv_synth: NULL output path");
    if (sp.type != LLV_TYPE_F32 && sp.type != LLV_TYPE_F16 && sp.type != LLV_TYPE_BF16)
        return llv_err(err, LLV_ERR_UNSUPPORTED, "llv_synth: type %s not supported (f32, f16, bf16)",
                       llv_type_name(sp.type) ? llv_type_name(sp.type) : "?");
    const preset *p = NULL;
    const char *want = sp.preset ? sp.preset : "tiny";
    for (size_t i = 0; i < sizeof presets / sizeof presets[0]; i++)
        if (strcmp(presets[i].name, want) == 0) p = &presets[i];
    if (!p) return llv_err(err, LLV_ERR_INVALID_ARGUMENT, "unknown preset '%s' (tiny, demo, 11b, 90b, llama-tiny)",
                           want);
    preset cut = *p; /* the first sp.layers text layers, with the cross-attention layers among them */
    if (sp.layers < 0 || sp.layers > p->layers)
        return llv_err(err, LLV_ERR_INVALID_ARGUMENT, "layers = %d out of range (0 = all, 1..%lld for preset %s)",
                       sp.layers, (long long)p->layers, p->name);
    if (sp.layers > 0) {
        cut.layers = sp.layers;
        cut.n_cross = 0;
        for (int i = 0; i < p->n_cross; i++)
            if (p->cross[i] < sp.layers) cut.cross[cut.n_cross++] = p->cross[i];
    }
    if (sp.n_v_interm != 0) {
        if (!p->mllama) return llv_err(err, LLV_ERR_INVALID_ARGUMENT, "preset %s has no vision tower", p->name);
        if (sp.n_v_interm < 0 || sp.n_v_interm > (int32_t)(sizeof sp.v_interm / sizeof sp.v_interm[0]))
            return llv_err(err, LLV_ERR_INVALID_ARGUMENT, "n_v_interm = %d out of range (0..16)", sp.n_v_interm);
        cut.n_interm = sp.n_v_interm;
        memcpy(cut.interm, sp.v_interm, (size_t)sp.n_v_interm * sizeof cut.interm[0]);
        llv_hparams hp = {.v_n_embd = (int32_t)cut.v_hidden, .v_n_head = (int32_t)cut.v_heads,
                          .v_n_layer = (int32_t)cut.v_layers, .v_image_size = (int32_t)cut.v_image, .v_patch_size = 14,
                          .v_n_interm = cut.n_interm};
        memcpy(hp.v_interm, cut.interm, sizeof hp.v_interm);
        llv_status bad = llv_hparams_check_vision(&hp, err);
        if (bad) return bad;
    }
    p = &cut;

    outdir o = {0};
    llv_status s;
    if (sp.hf_dir) {
        if (mkdir(out, 0777) != 0 && errno != EEXIST) return llv_err(err, LLV_ERR_IO, "%s: %s", out, strerror(errno));
        o.dir = (char *)out;
        s = write_hf_dir(&o, p, &sp, err);
        od_cleanup(&o, false);
        return s;
    }
    /* GGUF: an HF directory in a scratch place, then the user's converter */
    const char *tmp = getenv("TMPDIR");
    char *tdir = cat2(tmp && *tmp ? tmp : "/tmp", "/", "llv-synth-XXXXXX");
    if (!tdir) return llv_err(err, LLV_ERR_OUT_OF_MEMORY, "out of memory");
    if (!mkdtemp(tdir)) {
        s = llv_err(err, LLV_ERR_IO, "cannot create a scratch directory %s: %s", tdir, strerror(errno));
        free(tdir);
        return s;
    }
    o.dir = tdir;
    s = write_hf_dir(&o, p, &sp, err);
    if (!s) {
        llv_convert_params cp = llv_convert_default_params();
        cp.type = sp.type;
        cp.log = sp.log;
        cp.log_user = sp.log_user;
        cp.progress = sp.progress;
        cp.progress_user = sp.progress_user;
        s = llv_convert(tdir, out, &cp, err);
    }
    od_cleanup(&o, true);
    rmdir(tdir);
    free(tdir);
    return s;
}

/* ------------------------------------------------------------------------- */
/* Random PEFT LoRA adapters                                                 */
/* ------------------------------------------------------------------------- */

/* A PEFT directory for a preset: every text projection of every layer gets
 * lora_A ~ N(0,1)/sqrt(n_in) and lora_B ~ 0.25 N(0,1)/sqrt(r) (PEFT starts B
 * at zero; random B makes the adapter visible), F32. */
llv_status llv_synth_lora(const char *out_dir, const char *preset_name, int32_t rank, uint64_t seed, llv_error *err) {
    llv_err_clear(err);
    if (!out_dir) return llv_err(err, LLV_ERR_INVALID_ARGUMENT, "llv_synth_lora: NULL output directory");
    if (rank == 0) rank = 8;
    if (rank < 1 || rank > 1024) return llv_err(err, LLV_ERR_INVALID_ARGUMENT, "llv_synth_lora: rank %d out of range 1..1024", rank);
    if (seed == 0) seed = 1;
    const preset *p = NULL;
    const char *want = preset_name ? preset_name : "tiny";
    for (size_t i = 0; i < sizeof presets / sizeof presets[0]; i++)
        if (strcmp(presets[i].name, want) == 0) p = &presets[i];
    if (!p) return llv_err(err, LLV_ERR_INVALID_ARGUMENT, "unknown preset '%s' (tiny, demo, 11b, 90b, llama-tiny)",
                           want);
    if (mkdir(out_dir, 0777) != 0 && errno != EEXIST) return llv_err(err, LLV_ERR_IO, "%s: %s", out_dir, strerror(errno));
    outdir o = {.dir = (char *)out_dir};
    llv_status s = write_configs(&o, p, LLV_TYPE_F32, err);
    tlist l = {0};
    float *buf = NULL;
    FILE *f = NULL;
    char *path = NULL;
    if (s) goto done;
    const char *tp = p->mllama ? "base_model.model.language_model.model." : "base_model.model.model.";
    const int64_t H = p->hidden, hd = p->hidden / p->heads, qd = p->heads * hd, kd = p->kv * hd, F = p->ff, r = rank;
    static const char *const mods[7] = {"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"};
    const int64_t in_of[7] = {H, H, H, qd, H, H, F}, out_of[7] = {qd, kd, kd, H, F, F, H};
    int ci = 0, bad = 0;
    for (int64_t i = 0; i < p->layers; i++) {
        bool cross = ci < p->n_cross && p->cross[ci] == i;
        if (cross) ci++;
        for (int k = 0; k < 7; k++) {
            char n[150];
            const char *grp = k >= 4 ? "mlp" : cross ? "cross_attn" : "self_attn";
            snprintf(n, sizeof n, "%slayers.%lld.%s.%s.lora_A.weight", tp, (long long)i, grp, mods[k]);
            bad |= tl_add(&l, n, 2, T2(r, in_of[k]), I_NORMAL, 1.0 / sqrt((double)in_of[k]));
            snprintf(n, sizeof n, "%slayers.%lld.%s.%s.lora_B.weight", tp, (long long)i, grp, mods[k]);
            bad |= tl_add(&l, n, 2, T2(out_of[k], r), I_NORMAL, 0.25 / sqrt((double)r));
        }
    }
    if (bad) { s = llv_err(err, LLV_ERR_OUT_OF_MEMORY, "out of memory"); goto done; }
    cJSON *hdr = cJSON_CreateObject();
    cJSON_AddStringToObject(cJSON_AddObjectToObject(hdr, "__metadata__"), "format", "pt");
    uint64_t off = 0;
    for (int i = 0; i < l.n; i++) {
        tspec *t = &l.t[i];
        t->nbytes = (uint64_t)t->shape[0] * (uint64_t)t->shape[1] * 4;
        t->off = off;
        off += t->nbytes;
        cJSON *e = cJSON_AddObjectToObject(hdr, t->name);
        cJSON_AddStringToObject(e, "dtype", "F32");
        cJSON *shp = cJSON_AddArrayToObject(e, "shape");
        for (int d = 0; d < 2; d++) cJSON_AddItemToArray(shp, cJSON_CreateNumber((double)t->shape[d]));
        cJSON *offs = cJSON_AddArrayToObject(e, "data_offsets");
        cJSON_AddItemToArray(offs, cJSON_CreateNumber((double)t->off));
        cJSON_AddItemToArray(offs, cJSON_CreateNumber((double)(t->off + t->nbytes)));
    }
    char *h = cJSON_PrintUnformatted(hdr);
    cJSON_Delete(hdr);
    path = od_path(&o, "adapter_model.safetensors");
    f = path ? fopen(path, "wb") : NULL;
    if (!h || !f) {
        cJSON_free(h);
        s = !path || !h ? llv_err(err, LLV_ERR_OUT_OF_MEMORY, "out of memory")
                        : llv_err(err, LLV_ERR_IO, "%s: %s", path, strerror(errno));
        goto done;
    }
    size_t hl = strlen(h), padded = (hl + 7) / 8 * 8;
    uint8_t len8[8];
    for (int k = 0; k < 8; k++) len8[k] = (uint8_t)((uint64_t)padded >> (8 * k));
    bool ok = fwrite(len8, 1, 8, f) == 8 && fwrite(h, 1, hl, f) == hl;
    for (size_t k = hl; ok && k < padded; k++) ok = fputc(' ', f) != EOF;
    cJSON_free(h);
    for (int i = 0; ok && i < l.n; i++) {
        tspec *t = &l.t[i];
        size_t m = (size_t)(t->nbytes / 4);
        float *nb = realloc(buf, m * sizeof *nb);
        if (!nb) { s = llv_err(err, LLV_ERR_OUT_OF_MEMORY, "out of memory"); goto done; }
        buf = nb;
        rng rg = rng_for(seed, t->name);
        for (size_t k = 0; k < m; k++) buf[k] = draw(&rg, t);
        ok = fwrite(buf, 4, m, f) == m;
    }
    ok = (fclose(f) == 0) && ok;
    f = NULL;
    if (!ok) { s = llv_err(err, LLV_ERR_IO, "%s: write failed", path); goto done; }

    cJSON *c = cJSON_CreateObject();
    char base[64];
    snprintf(base, sizeof base, "llv-synth-%s", p->name);
    cJSON_AddNullToObject(c, "alpha_pattern");
    cJSON_AddStringToObject(c, "base_model_name_or_path", base);
    cJSON_AddStringToObject(c, "bias", "none");
    cJSON_AddBoolToObject(c, "fan_in_fan_out", false);
    cJSON_AddBoolToObject(c, "inference_mode", true);
    cJSON_AddNumberToObject(c, "lora_alpha", 2.0 * rank);
    cJSON_AddNumberToObject(c, "lora_dropout", 0.0);
    cJSON_AddStringToObject(c, "peft_type", "LORA");
    cJSON_AddNumberToObject(c, "r", rank);
    cJSON *tm = cJSON_AddArrayToObject(c, "target_modules");
    for (int k = 0; k < 7; k++) cJSON_AddItemToArray(tm, cJSON_CreateString(mods[k]));
    cJSON_AddStringToObject(c, "task_type", "CAUSAL_LM");
    cJSON_AddBoolToObject(c, "use_dora", false);
    cJSON_AddBoolToObject(c, "use_rslora", false);
    s = write_json(&o, "adapter_config.json", c, err);
done:
    if (f) fclose(f);
    free(path);
    free(buf);
    free(l.t);
    od_cleanup(&o, false);
    return s;
}
