/* llv-tokenize - tokenizes text with a model's tokenizer (any llv GGUF,
 * including vocabulary-only files) and prints the ids and pieces.
 * Exit codes: 0 ok, 1 usage, 2 model error, 3 input error. */
#include "llv.h"
#include "options.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char *read_all(const char *path, size_t *n) {
    FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
    if (!f) return NULL;
    size_t cap = 1 << 16, len = 0;
    char *buf = malloc(cap);
    while (buf) {
        if (len == cap) {
            char *nb = realloc(buf, cap *= 2);
            if (!nb) {
                free(buf);
                buf = NULL;
                break;
            }
            buf = nb;
        }
        size_t r = fread(buf + len, 1, cap - len, f);
        len += r;
        if (r == 0) {
            if (ferror(f)) {
                free(buf);
                buf = NULL;
            }
            break;
        }
    }
    if (f != stdin) fclose(f);
    *n = len;
    return buf;
}

/* Length of a valid UTF-8 character at p (0 if invalid or cut). */
static size_t utf8_char(const unsigned char *p, size_t n) {
    unsigned char c = p[0];
    size_t len;
    unsigned char lo = 0x80, hi = 0xbf;
    if (c < 0x80) return 1;
    if (c >= 0xc2 && c <= 0xdf) len = 2;
    else if (c >= 0xe0 && c <= 0xef) {
        len = 3;
        lo = c == 0xe0 ? 0xa0 : 0x80;
        hi = c == 0xed ? 0x9f : 0xbf;
    } else if (c >= 0xf0 && c <= 0xf4) {
        len = 4;
        lo = c == 0xf0 ? 0x90 : 0x80;
        hi = c == 0xf4 ? 0x8f : 0xbf;
    } else return 0;
    if (n < len || p[1] < lo || p[1] > hi) return 0;
    for (size_t k = 2; k < len; k++)
        if ((p[k] & 0xc0) != 0x80) return 0;
    return len;
}

/* Writes a piece with C-style escapes (json: JSON escapes, invalid bytes as U+FFFD). */
static void put_piece(const char *s, size_t n, bool json) {
    const unsigned char *p = (const unsigned char *)s;
    for (size_t i = 0; i < n;) {
        unsigned char c = p[i];
        size_t l = utf8_char(p + i, n - i);
        if (l > 1) {
            fwrite(p + i, 1, l, stdout);
            i += l;
            continue;
        }
        i++;
        if (l == 0) {
            if (json) fputs("\\ufffd", stdout);
            else printf("\\x%02x", c);
        } else if (c == '\n') fputs("\\n", stdout);
        else if (c == '\t') fputs("\\t", stdout);
        else if (c == '\r') fputs("\\r", stdout);
        else if (c == '\\') fputs("\\\\", stdout);
        else if (json && c == '"') fputs("\\\"", stdout);
        else if (!json && c == '\'') fputs("\\'", stdout);
        else if (c < 0x20 || c == 0x7f) printf(json ? "\\u%04x" : "\\x%02x", c);
        else putchar(c);
    }
}

/* --chat: messages JSON -> the model's chat format (malloc'd), or NULL with a message. */
static char *render_chat(const llv_model *m, const char *json, size_t n) {
    cJSON *arr = cJSON_ParseWithLength(json, n);
    if (!cJSON_IsArray(arr) || cJSON_GetArraySize(arr) == 0) {
        fprintf(stderr, "llv-tokenize: --chat needs a JSON array of {\"role\", \"content\"} objects\n");
        cJSON_Delete(arr);
        return NULL;
    }
    size_t nm = (size_t)cJSON_GetArraySize(arr);
    llv_message *msgs = calloc(nm, sizeof *msgs);
    char *out = NULL;
    size_t i = 0;
    for (const cJSON *it = arr->child; it && msgs; it = it->next, i++) {
        const cJSON *r = cJSON_GetObjectItemCaseSensitive(it, "role"), *c = cJSON_GetObjectItemCaseSensitive(it, "content");
        if (!cJSON_IsString(r) || !cJSON_IsString(c)) {
            fprintf(stderr, "llv-tokenize: message %zu: needs string \"role\" and \"content\"\n", i);
            goto done;
        }
        msgs[i].role = r->valuestring;
        msgs[i].content = c->valuestring;
    }
    if (!msgs) goto done;
    llv_error err = {0};
    size_t need = 0;
    llv_chat_params cp = llv_chat_default_params();
    llv_status st = llv_chat_render(m, msgs, nm, &cp, NULL, 0, &need, &err);
    if (st == LLV_ERR_BUFFER_TOO_SMALL && (out = malloc(need + 1)) != NULL)
        st = llv_chat_render(m, msgs, nm, &cp, out, need + 1, &need, &err);
    if (st != LLV_OK) {
        fprintf(stderr, "llv-tokenize: %s\n", err.message);
        free(out);
        out = NULL;
    }
done:
    free(msgs);
    cJSON_Delete(arr);
    return out;
}

static const char *const synopsis = "llv-tokenize -m MODEL.gguf (-p TEXT | -f FILE) [options]";
static const char *const about =
    "Tokenizes TEXT (or the bytes of FILE; '-' reads stdin) with the model's tokenizer.\n";
static const char *const epilog =
    "Pieces are printed with C escapes (\\n, \\t, \\xNN for bytes that are not printable\n"
    "or not complete UTF-8). Exit codes: 0 ok, 1 usage, 2 model error, 3 input error.\n";

enum { OUT_PIECES, OUT_IDS, OUT_JSON };

int main(int argc, char **argv) {
    const char *model_path = NULL, *prompt = NULL, *file = NULL;
    bool no_bos = false, no_special = false, chat = false, render = false;
    const char *chat_template = NULL;
    int mode = OUT_PIECES;
    const llv_opt table[] = {
        {'m', "model", "FILE", LLV_OPT_STR, {.str = &model_path}, .help = "GGUF model or vocabulary-only GGUF",
         .required = true},
        {'p', "prompt", "TEXT", LLV_OPT_STR, {.str = &prompt}, .help = "text to tokenize"},
        {'f', "file", "FILE", LLV_OPT_STR, {.str = &file}, .help = "read the text from FILE (bytes as they are)"},
        {0, "no-bos", NULL, LLV_OPT_FLAG, {.flag = &no_bos},
         .help = "do not prepend BOS (default: as the model's add_bos_token says)"},
        {0, "no-parse-special", NULL, LLV_OPT_FLAG, {.flag = &no_special},
         .help = "treat special-token text such as <|eot_id|> as plain text"},
        {0, "ids", NULL, LLV_OPT_SET, {.i = &mode}, OUT_IDS, .help = "print only the ids, as [1, 2, 3]"},
        {0, "pieces", NULL, LLV_OPT_SET, {.i = &mode}, OUT_PIECES,
         .help = "print one 'id -> piece' line per token (default)"},
        {0, "json", NULL, LLV_OPT_SET, {.i = &mode}, OUT_JSON,
         .help = "print {\"n_tokens\", \"ids\", \"pieces\", \"pieces_hex\"}"},
        {0, "chat", NULL, LLV_OPT_FLAG, {.flag = &chat},
         .help = "the text is a JSON array of messages [{\"role\", \"content\"}]: render it with the model's "
                 "chat format (and a generation prompt), then tokenize the result"},
        {0, "render", NULL, LLV_OPT_FLAG, {.flag = &render}, .help = "with --chat: print the rendered text and stop"},
        {0, "chat-template", "NAME", LLV_OPT_STR, {.str = &chat_template},
         .help = "with --chat: render as llama3 or chatml"},
    };
    const llv_cli cli = {"llv-tokenize", synopsis, about, epilog, LLV_CLI_OPTS(table), 1, NULL, 0, 0};
    int rc = llv_cli_parse(&cli, argc, argv, NULL);
    if (rc >= 0) return rc;
    if (!prompt == !file) return llv_cli_usage_error(&cli, "need exactly one of -p TEXT or -f FILE");
    bool bos = !no_bos, special = !no_special;
    chat |= render;
    size_t n = 0;
    char *text = NULL;
    if (file) {
        text = read_all(file, &n);
        if (!text) {
            fprintf(stderr, "llv-tokenize: cannot read %s\n", file);
            return 3;
        }
    } else {
        n = strlen(prompt);
    }
    llv_error err = {0};
    llv_model *m = NULL;
    llv_model_params mp = llv_model_default_params();
    mp.chat_template = chat_template;
    if (llv_model_load(model_path, &mp, &m, &err) != LLV_OK) {
        fprintf(stderr, "llv-tokenize: %s: %s\n", model_path, err.message);
        free(text);
        return 2;
    }
    uint32_t flags = (bos ? LLV_TOKENIZE_ADD_BOS : 0) | (special ? LLV_TOKENIZE_PARSE_SPECIAL : 0);
    const char *src = file ? text : prompt;
    if (chat) {
        char *rendered = render_chat(m, src, n);
        free(text);
        if (!rendered) {
            llv_model_free(m);
            return 3;
        }
        if (render) {
            fputs(rendered, stdout);
            free(rendered);
            llv_model_free(m);
            return 0;
        }
        text = rendered;
        src = rendered;
        n = strlen(rendered);
        flags = LLV_TOKENIZE_PARSE_SPECIAL; /* the template writes BOS where the model wants one */
    }
    size_t cap = n + 1, nt = 0; /* a token covers at least one byte: n + 1 always fits */
    int32_t *ids = malloc(cap * sizeof *ids);
    if (!ids) {
        fprintf(stderr, "llv-tokenize: out of memory for %zu bytes of text\n", n);
        free(text);
        llv_model_free(m);
        return 3;
    }
    llv_status st = llv_tokenize(m, src, n, flags, ids, cap, &nt, &err);
    if (st != LLV_OK) {
        fprintf(stderr, "llv-tokenize: %s\n", err.message);
        free(ids);
        free(text);
        llv_model_free(m);
        return st == LLV_ERR_UNSUPPORTED ? 2 : 3;
    }
    if (mode == OUT_IDS) {
        putchar('[');
        for (size_t i = 0; i < nt; i++) printf(i ? ", %d" : "%d", (int)ids[i]);
        puts("]");
    } else if (mode == OUT_JSON) {
        printf("{\"n_tokens\": %zu, \"ids\": [", nt);
        for (size_t i = 0; i < nt; i++) printf(i ? ", %d" : "%d", (int)ids[i]);
        fputs("], \"pieces\": [", stdout);
        for (size_t i = 0; i < nt; i++) {
            size_t len;
            const char *p = llv_token_bytes(m, ids[i], &len);
            fputs(i ? ", \"" : "\"", stdout);
            put_piece(p, len, true);
            putchar('"');
        }
        fputs("], \"pieces_hex\": [", stdout);
        for (size_t i = 0; i < nt; i++) {
            size_t len;
            const unsigned char *p = (const unsigned char *)llv_token_bytes(m, ids[i], &len);
            fputs(i ? ", \"" : "\"", stdout);
            for (size_t k = 0; k < len; k++) printf("%02x", p[k]);
            putchar('"');
        }
        puts("]}");
    } else {
        for (size_t i = 0; i < nt; i++) {
            size_t len;
            const char *p = llv_token_bytes(m, ids[i], &len);
            printf("%6d -> '", (int)ids[i]);
            put_piece(p, len, false);
            puts("'");
        }
    }
    free(ids);
    free(text);
    llv_model_free(m);
    return fflush(stdout) == 0 ? 0 : 3;
}
