/* tokenizer-convert.c - HF tokenizer.json (+ tokenizer_config.json,
 * generation_config.json, chat_template.*) to the tokenizer.ggml.* GGUF keys
 * llama.cpp writes for Llama 3 ("gpt2" model, "llama-bpe" pre-tokenizer). */
#include "tokenizer-convert.h"

#include "gguf.h"
#include "mmap.h"
#include "tokenizer.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define HF_MAX_FILE    ((size_t)1 << 30) /* JSON files we are willing to parse */
#define HF_MAX_TOKENS  (1 << 24)
#define HF_MAX_EOG     16

struct llv_tokenizer_hf {
    cJSON              *json, *config, *gen;
    llv_tokenizer_desc  desc;
    const char        **tokens;
    size_t             *token_lens;
    int32_t            *types;
    char              **owned;      /* "[PADn]" names, merges joined from pairs */
    size_t              n_owned;
    const char        **merges;
    size_t             *merge_lens;
    int32_t             eog[HF_MAX_EOG];
    char               *chat_template;
};

/* Reads a whole file; *missing = true (and OK) when it does not exist. */
static llv_status read_file(const char *path, char **out, size_t *n, bool *missing, llv_error *err) {
    llv_error e = {0};
    llv_status st = llv_file_read(path, HF_MAX_FILE, out, n, &e);
    *missing = st == LLV_ERR_NOT_FOUND;
    if (st == LLV_OK || *missing) return LLV_OK;
    if (err) *err = e;
    return st;
}

static llv_status parse_json_file(const char *dir, const char *name, cJSON **out, bool *missing, llv_error *err) {
    *out = NULL;
    char path[4096];
    if ((size_t)snprintf(path, sizeof path, "%s/%s", dir, name) >= sizeof path)
        return llv_err(err, LLV_ERR_INVALID_ARGUMENT, "path too long: %s/%s", dir, name);
    char *text;
    size_t n;
    llv_status st = read_file(path, &text, &n, missing, err);
    if (st != LLV_OK || *missing) return st;
    const char *end = NULL;
    *out = cJSON_ParseWithLengthOpts(text, n, &end, false);
    if (!*out) {
        size_t at = end && end >= text ? (size_t)(end - text) : 0;
        free(text);
        return llv_err(err, LLV_ERR_FORMAT, "%s: invalid JSON near byte %zu", path, at);
    }
    free(text);
    return LLV_OK;
}

static char *own(llv_tokenizer_hf *h, char *s) {
    if (!s) return NULL;
    char **no = realloc(h->owned, (h->n_owned + 1) * sizeof *no);
    if (!no) {
        free(s);
        return NULL;
    }
    h->owned = no;
    h->owned[h->n_owned++] = s;
    return s;
}

/* The text of a token given in tokenizer_config.json: "..." or {"content": "..."}. */
static const char *config_token_text(const cJSON *config, const char *key) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(config, key);
    if (cJSON_IsString(v)) return v->valuestring;
    if (cJSON_IsObject(v)) {
        const cJSON *c = cJSON_GetObjectItemCaseSensitive(v, "content");
        if (cJSON_IsString(c)) return c->valuestring;
    }
    return NULL;
}

static int32_t find_token(const llv_tokenizer_hf *h, const char *text) {
    if (!text) return -1;
    size_t n = strlen(text);
    for (size_t i = h->desc.n_tokens; i-- > 0;) /* added tokens sit at the end: search backwards */
        if (h->token_lens[i] == n && memcmp(h->tokens[i], text, n) == 0) return (int32_t)i;
    return -1;
}

static void add_eog(llv_tokenizer_hf *h, int32_t id) {
    if (id < 0 || (size_t)id >= h->desc.n_tokens) return;
    for (size_t i = 0; i < h->desc.n_eog; i++)
        if (h->eog[i] == id) return;
    if (h->desc.n_eog < HF_MAX_EOG) h->eog[h->desc.n_eog++] = id;
}

/* Pre-tokenizer -> llama.cpp pre name: the Llama 3 Split regex is "llama-bpe";
 * a plain ByteLevel(use_regex) is "gpt-2"; Digits(individual_digits) then
 * ByteLevel(use_regex) is "smollm" (SmolLM, StarCoder). */
static llv_status detect_pre(const cJSON *pt, const char **pre, llv_error *err) {
    const cJSON *list = pt;
    bool seq = false;
    if (cJSON_IsObject(pt)) {
        const cJSON *ty = cJSON_GetObjectItemCaseSensitive(pt, "type");
        if (cJSON_IsString(ty) && strcmp(ty->valuestring, "Sequence") == 0) {
            list = cJSON_GetObjectItemCaseSensitive(pt, "pretokenizers");
            seq = true;
        }
    }
    bool split_llama3 = false, bytelevel_regex = false, digits = false;
    size_t n = seq ? (size_t)cJSON_GetArraySize(list) : (pt && !cJSON_IsNull(pt) ? 1 : 0);
    for (size_t i = 0; i < n; i++) {
        const cJSON *it = seq ? cJSON_GetArrayItem(list, (int)i) : pt;
        const cJSON *ty = cJSON_GetObjectItemCaseSensitive(it, "type");
        if (!cJSON_IsString(ty)) continue;
        if (strcmp(ty->valuestring, "Split") == 0) {
            const cJSON *pat = cJSON_GetObjectItemCaseSensitive(it, "pattern");
            const cJSON *re = cJSON_GetObjectItemCaseSensitive(pat, "Regex");
            if (cJSON_IsString(re) && strcmp(re->valuestring, LLV_LLAMA3_REGEX) == 0) split_llama3 = true;
            else
                return llv_err(err, LLV_ERR_UNSUPPORTED,
                               "tokenizer.json: pre-tokenizer Split pattern '%.200s' is not the Llama 3 regex",
                               cJSON_IsString(re) ? re->valuestring : "(not a regex)");
        } else if (strcmp(ty->valuestring, "Digits") == 0 && i == 0 && seq) {
            const cJSON *ind = cJSON_GetObjectItemCaseSensitive(it, "individual_digits");
            if (!cJSON_IsTrue(ind))
                return llv_err(err, LLV_ERR_UNSUPPORTED, "tokenizer.json: Digits pre-tokenizer without individual_digits");
            digits = true;
        } else if (strcmp(ty->valuestring, "ByteLevel") == 0) {
            const cJSON *ur = cJSON_GetObjectItemCaseSensitive(it, "use_regex");
            if (!cJSON_IsFalse(ur)) bytelevel_regex = true;
        } else
            return llv_err(err, LLV_ERR_UNSUPPORTED, "tokenizer.json: pre-tokenizer '%s' is not supported",
                           ty->valuestring);
    }
    if (split_llama3 && !bytelevel_regex && !digits) *pre = "llama-bpe";
    else if (!split_llama3 && bytelevel_regex) *pre = digits ? "smollm" : "gpt-2";
    else
        return llv_err(err, LLV_ERR_UNSUPPORTED,
                       "tokenizer.json: unsupported pre-tokenizer (expected the Llama 3 Split regex + ByteLevel)");
    return LLV_OK;
}

static llv_status read_chat_template(llv_tokenizer_hf *h, const char *dir, llv_error *err) {
    const cJSON *ct = h->config ? cJSON_GetObjectItemCaseSensitive(h->config, "chat_template") : NULL;
    const char *s = NULL;
    if (cJSON_IsString(ct)) s = ct->valuestring;
    else if (cJSON_IsArray(ct)) { /* [{name, template}]: the "default" one, else the first */
        const cJSON *e;
        cJSON_ArrayForEach(e, ct) {
            const cJSON *nm = cJSON_GetObjectItemCaseSensitive(e, "name");
            const cJSON *tp = cJSON_GetObjectItemCaseSensitive(e, "template");
            if (!cJSON_IsString(tp)) continue;
            if (!s || (cJSON_IsString(nm) && strcmp(nm->valuestring, "default") == 0)) s = tp->valuestring;
        }
    }
    if (s) {
        h->chat_template = strdup(s);
        return h->chat_template ? LLV_OK : llv_err(err, LLV_ERR_OUT_OF_MEMORY, "out of memory");
    }
    /* newer checkpoints keep it beside the tokenizer */
    char path[4096];
    bool missing;
    size_t n;
    snprintf(path, sizeof path, "%s/chat_template.jinja", dir);
    llv_status st = read_file(path, &h->chat_template, &n, &missing, err);
    if (st != LLV_OK || !missing) return st;
    cJSON *j = NULL;
    st = parse_json_file(dir, "chat_template.json", &j, &missing, err);
    if (st != LLV_OK || missing) return st;
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(j, "chat_template");
    if (cJSON_IsString(t) && !(h->chat_template = strdup(t->valuestring)))
        st = llv_err(err, LLV_ERR_OUT_OF_MEMORY, "out of memory");
    cJSON_Delete(j);
    return st;
}

void llv_tokenizer_hf_free(llv_tokenizer_hf *h) {
    if (!h) return;
    cJSON_Delete(h->json);
    cJSON_Delete(h->config);
    cJSON_Delete(h->gen);
    free(h->tokens);
    free(h->token_lens);
    free(h->types);
    for (size_t i = 0; i < h->n_owned; i++) free(h->owned[i]);
    free(h->owned);
    free(h->merges);
    free(h->merge_lens);
    free(h->chat_template);
    free(h);
}

const llv_tokenizer_desc *llv_tokenizer_hf_desc(const llv_tokenizer_hf *h) { return &h->desc; }
const char *llv_tokenizer_hf_chat_template(const llv_tokenizer_hf *h) { return h->chat_template; }

static llv_status hf_build(llv_tokenizer_hf *h, const char *dir, llv_error *err) {
    const cJSON *model = cJSON_GetObjectItemCaseSensitive(h->json, "model");
    const cJSON *mtype = cJSON_GetObjectItemCaseSensitive(model, "type");
    if (!cJSON_IsObject(model) || (mtype && (!cJSON_IsString(mtype) || strcmp(mtype->valuestring, "BPE") != 0)))
        return llv_err(err, LLV_ERR_UNSUPPORTED, "tokenizer.json: model type '%s' is not supported (expected BPE)",
                       cJSON_IsString(mtype) ? mtype->valuestring : "?");
    if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(model, "byte_fallback")))
        return llv_err(err, LLV_ERR_UNSUPPORTED, "tokenizer.json: byte_fallback BPE (SentencePiece style) is not supported");
    const cJSON *vocab = cJSON_GetObjectItemCaseSensitive(model, "vocab");
    const cJSON *added = cJSON_GetObjectItemCaseSensitive(h->json, "added_tokens");
    const cJSON *merges = cJSON_GetObjectItemCaseSensitive(model, "merges");
    if (!cJSON_IsObject(vocab) || !cJSON_IsArray(merges))
        return llv_err(err, LLV_ERR_FORMAT, "tokenizer.json: model.vocab (object) and model.merges (array) are required");
    llv_status st = detect_pre(cJSON_GetObjectItemCaseSensitive(h->json, "pre_tokenizer"), &h->desc.pre, err);
    if (st != LLV_OK) return st;
    /* vocabulary size: highest id + 1 */
    long long max_id = -1;
    const cJSON *e;
    cJSON_ArrayForEach(e, vocab) {
        if (!cJSON_IsNumber(e) || e->valuedouble < 0 || e->valuedouble >= HF_MAX_TOKENS ||
            e->valuedouble != (double)(int)e->valuedouble)
            return llv_err(err, LLV_ERR_FORMAT, "tokenizer.json: vocab entry '%.64s' has a bad id", e->string);
        if (e->valueint > max_id) max_id = e->valueint;
    }
    cJSON_ArrayForEach(e, added) {
        const cJSON *id = cJSON_GetObjectItemCaseSensitive(e, "id");
        const cJSON *c = cJSON_GetObjectItemCaseSensitive(e, "content");
        if (!cJSON_IsNumber(id) || id->valuedouble < 0 || id->valuedouble >= HF_MAX_TOKENS || !cJSON_IsString(c))
            return llv_err(err, LLV_ERR_FORMAT, "tokenizer.json: an added_tokens entry lacks a valid id or content");
        if (id->valueint > max_id) max_id = id->valueint;
    }
    if (max_id < 0) return llv_err(err, LLV_ERR_FORMAT, "tokenizer.json: empty vocabulary");
    size_t n = (size_t)max_id + 1;
    h->tokens = calloc(n, sizeof *h->tokens);
    h->token_lens = calloc(n, sizeof *h->token_lens);
    h->types = calloc(n, sizeof *h->types);
    if (!h->tokens || !h->token_lens || !h->types) return llv_err(err, LLV_ERR_OUT_OF_MEMORY, "out of memory");
    h->desc.n_tokens = n;
    cJSON_ArrayForEach(e, vocab) {
        int id = e->valueint;
        if (h->tokens[id])
            return llv_err(err, LLV_ERR_FORMAT, "tokenizer.json: id %d is used by '%.64s' and '%.64s'", id,
                           h->tokens[id], e->string);
        h->tokens[id] = e->string;
        h->token_lens[id] = strlen(e->string);
        h->types[id] = LLV_TOKEN_NORMAL;
    }
    cJSON_ArrayForEach(e, added) { /* an added token overrides a vocab entry of the same id */
        int id = cJSON_GetObjectItemCaseSensitive(e, "id")->valueint;
        const char *c = cJSON_GetObjectItemCaseSensitive(e, "content")->valuestring;
        h->tokens[id] = c;
        h->token_lens[id] = strlen(c);
        h->types[id] = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(e, "special")) ? LLV_TOKEN_CONTROL
                                                                                     : LLV_TOKEN_USER_DEFINED;
    }
    for (size_t i = 0; i < n; i++) { /* holes: "[PADn]" as llama.cpp's converter writes */
        if (h->tokens[i]) continue;
        char *s = malloc(32);
        if (s) snprintf(s, 32, "[PAD%zu]", i);
        if (!own(h, s)) return llv_err(err, LLV_ERR_OUT_OF_MEMORY, "out of memory");
        h->tokens[i] = s;
        h->token_lens[i] = strlen(s);
        h->types[i] = LLV_TOKEN_UNUSED;
    }
    /* merges: "a b" strings, or [a, b] pairs (tokenizers >= 0.20) */
    size_t nm = (size_t)cJSON_GetArraySize(merges);
    h->merges = calloc(nm ? nm : 1, sizeof *h->merges);
    h->merge_lens = calloc(nm ? nm : 1, sizeof *h->merge_lens);
    if (!h->merges || !h->merge_lens) return llv_err(err, LLV_ERR_OUT_OF_MEMORY, "out of memory");
    size_t i = 0;
    cJSON_ArrayForEach(e, merges) {
        if (cJSON_IsString(e)) h->merges[i] = e->valuestring;
        else if (cJSON_IsArray(e) && cJSON_GetArraySize(e) == 2 && cJSON_IsString(cJSON_GetArrayItem(e, 0)) &&
                 cJSON_IsString(cJSON_GetArrayItem(e, 1))) {
            const char *a = cJSON_GetArrayItem(e, 0)->valuestring, *b = cJSON_GetArrayItem(e, 1)->valuestring;
            size_t la = strlen(a), lb = strlen(b);
            char *s = malloc(la + lb + 2);
            if (s) {
                memcpy(s, a, la);
                s[la] = ' ';
                memcpy(s + la + 1, b, lb + 1);
            }
            if (!own(h, s)) return llv_err(err, LLV_ERR_OUT_OF_MEMORY, "out of memory");
            h->merges[i] = s;
        } else
            return llv_err(err, LLV_ERR_FORMAT, "tokenizer.json: merges[%zu] is neither \"a b\" nor [a, b]", i);
        h->merge_lens[i] = strlen(h->merges[i]);
        i++;
    }
    h->desc.model = "gpt2";
    h->desc.tokens = h->tokens;
    h->desc.token_lens = h->token_lens;
    h->desc.token_types = h->types;
    h->desc.n_merges = nm;
    h->desc.merges = h->merges;
    h->desc.merge_lens = h->merge_lens;
    h->desc.eog_ids = h->eog;

    /* special ids: tokenizer_config.json when present, else Llama 3's names */
    bool missing;
    if ((st = parse_json_file(dir, "tokenizer_config.json", &h->config, &missing, err)) != LLV_OK) return st;
    if ((st = parse_json_file(dir, "generation_config.json", &h->gen, &missing, err)) != LLV_OK) return st;
    const cJSON *cfg = h->config;
    h->desc.bos_id = find_token(h, cfg ? config_token_text(cfg, "bos_token") : "<|begin_of_text|>");
    h->desc.eos_id = find_token(h, cfg ? config_token_text(cfg, "eos_token") : "<|end_of_text|>");
    h->desc.pad_id = find_token(h, cfg ? config_token_text(cfg, "pad_token") : NULL);
    if (h->desc.pad_id < 0) h->desc.pad_id = find_token(h, "<|finetune_right_pad_id|>"); /* Mllama's pad_token_id */
    h->desc.eot_id = find_token(h, "<|eot_id|>");
    h->desc.eom_id = find_token(h, "<|eom_id|>");
    const cJSON *ab = cfg ? cJSON_GetObjectItemCaseSensitive(cfg, "add_bos_token") : NULL;
    h->desc.add_bos = cJSON_IsBool(ab) ? cJSON_IsTrue(ab) : strcmp(h->desc.pre, "llama-bpe") == 0;
    /* end of generation: eos, generation_config's eos_token_id(s), eot/eom/end_of_text */
    add_eog(h, h->desc.eos_id);
    const cJSON *ge = h->gen ? cJSON_GetObjectItemCaseSensitive(h->gen, "eos_token_id") : NULL;
    if (cJSON_IsNumber(ge)) add_eog(h, ge->valueint);
    if (cJSON_IsArray(ge)) {
        cJSON_ArrayForEach(e, ge) if (cJSON_IsNumber(e)) add_eog(h, e->valueint);
    }
    static const char *const eog_names[] = {"<|end_of_text|>", "<|eom_id|>", "<|eot_id|>"};
    for (size_t k = 0; k < sizeof eog_names / sizeof eog_names[0]; k++) {
        int32_t id = find_token(h, eog_names[k]);
        if (id >= 0 && h->types[id] == LLV_TOKEN_CONTROL) add_eog(h, id);
    }
    return read_chat_template(h, dir, err);
}

llv_status llv_tokenizer_hf_read(const char *hf_dir, llv_tokenizer_hf **out, bool *found, llv_error *err) {
    *out = NULL;
    *found = false;
    llv_tokenizer_hf *h = calloc(1, sizeof *h);
    if (!h) return llv_err(err, LLV_ERR_OUT_OF_MEMORY, "out of memory");
    bool missing = false;
    llv_status st = parse_json_file(hf_dir, "tokenizer.json", &h->json, &missing, err);
    if (st == LLV_OK && missing) {
        llv_tokenizer_hf_free(h);
        return LLV_OK;
    }
    if (st == LLV_OK) st = hf_build(h, hf_dir, err);
    if (st != LLV_OK) {
        llv_tokenizer_hf_free(h);
        return st;
    }
    *found = true;
    *out = h;
    return LLV_OK;
}

llv_status llv_convert_tokenizer(const char *hf_dir, struct llv_gguf_writer *w, bool *found, llv_error *err) {
    llv_tokenizer_hf *h;
    llv_status st = llv_tokenizer_hf_read(hf_dir, &h, found, err);
    if (st != LLV_OK || !*found) return st;
    const llv_tokenizer_desc *d = &h->desc;
    /* build it once so a broken vocabulary fails here, not at load time */
    llv_tokenizer *t = NULL;
    st = llv_tokenizer_create(d, &t, err);
    llv_tokenizer_free(t);
    if (st == LLV_OK) st = llv_gguf_set_str(w, "tokenizer.ggml.model", d->model, err);
    if (st == LLV_OK) st = llv_gguf_set_str(w, "tokenizer.ggml.pre", d->pre, err);
    if (st == LLV_OK) st = llv_gguf_set_arr_str(w, "tokenizer.ggml.tokens", d->tokens, d->token_lens, d->n_tokens, err);
    if (st == LLV_OK)
        st = llv_gguf_set_arr(w, "tokenizer.ggml.token_type", LLV_GGUF_I32, d->token_types, d->n_tokens, err);
    if (st == LLV_OK) st = llv_gguf_set_arr_str(w, "tokenizer.ggml.merges", d->merges, d->merge_lens, d->n_merges, err);
    const struct { const char *key; int32_t v; } ids[] = {
        {"tokenizer.ggml.bos_token_id", d->bos_id},     {"tokenizer.ggml.eos_token_id", d->eos_id},
        {"tokenizer.ggml.padding_token_id", d->pad_id}, {"tokenizer.ggml.eot_token_id", d->eot_id},
        {"tokenizer.ggml.eom_token_id", d->eom_id}};
    for (size_t i = 0; i < sizeof ids / sizeof ids[0] && st == LLV_OK; i++)
        if (ids[i].v >= 0) st = llv_gguf_set_u32(w, ids[i].key, (uint32_t)ids[i].v, err);
    if (st == LLV_OK && d->n_eog)
        st = llv_gguf_set_arr(w, "tokenizer.ggml.eos_token_ids", LLV_GGUF_I32, d->eog_ids, d->n_eog, err);
    if (st == LLV_OK) st = llv_gguf_set_bool(w, "tokenizer.ggml.add_bos_token", d->add_bos != 0, err);
    if (st == LLV_OK) st = llv_gguf_set_bool(w, "tokenizer.ggml.add_eos_token", false, err);
    if (st == LLV_OK && h->chat_template) st = llv_gguf_set_str(w, "tokenizer.chat_template", h->chat_template, err);
    if (st != LLV_OK) llv_err_prefix(err, "converting the tokenizer of %s", hf_dir);
    llv_tokenizer_hf_free(h);
    return st;
}
