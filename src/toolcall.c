/* toolcall.c - parses a model answer in the Llama 3.1/3.2 JSON tool-call
 * format: {"name": ..., "parameters": {...}} ("arguments" accepted too, also as
 * a string holding a JSON object), optionally after <|python_tag|>, optionally
 * followed by <|eom_id|> / <|eot_id|>. Several calls may be given as a JSON
 * array or separated by ';'. Anything else is not a tool call (n = 0): the
 * answer stays plain text. Malformed JSON is never an error. */
#include "common.h"

#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

static bool is_ws(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

static bool strip_prefix(const char **s, const char *end, const char *pre) {
    size_t n = strlen(pre);
    if ((size_t)(end - *s) >= n && memcmp(*s, pre, n) == 0) {
        *s += n;
        return true;
    }
    return false;
}

static bool strip_suffix(const char *s, const char **end, const char *suf) {
    size_t n = strlen(suf);
    if ((size_t)(*end - s) >= n && memcmp(*end - n, suf, n) == 0) {
        *end -= n;
        return true;
    }
    return false;
}

void llv_tool_calls_free(llv_tool_call *calls, size_t n) {
    if (!calls) return;
    for (size_t i = 0; i < n; i++) {
        free(calls[i].name);
        free(calls[i].arguments);
    }
    free(calls);
}

typedef struct call_list {
    llv_tool_call *v;
    size_t n, cap;
} call_list;

/* 1 = added, 0 = not a call object, -1 = out of memory */
static int add_call(call_list *l, const cJSON *obj) {
    if (!cJSON_IsObject(obj)) return 0;
    const cJSON *name = cJSON_GetObjectItemCaseSensitive(obj, "name");
    if (!cJSON_IsString(name) || !name->valuestring[0]) return 0;
    const cJSON *args = cJSON_GetObjectItemCaseSensitive(obj, "parameters");
    if (!args) args = cJSON_GetObjectItemCaseSensitive(obj, "arguments");
    cJSON *parsed = NULL;
    if (cJSON_IsString(args)) { /* OpenAI style: arguments as JSON text */
        parsed = cJSON_Parse(args->valuestring);
        args = parsed;
    }
    if (!cJSON_IsObject(args)) {
        cJSON_Delete(parsed);
        return 0;
    }
    char *text = cJSON_PrintUnformatted(args);
    char *nm = strdup(name->valuestring);
    cJSON_Delete(parsed);
    if (!text || !nm || (l->n == l->cap && l->cap > SIZE_MAX / 2 / sizeof *l->v)) {
        free(text), free(nm);
        return -1;
    }
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 2;
        llv_tool_call *v = realloc(l->v, cap * sizeof *v);
        if (!v) {
            free(text), free(nm);
            return -1;
        }
        l->v = v;
        l->cap = cap;
    }
    l->v[l->n].name = nm;
    l->v[l->n].arguments = text;
    l->n++;
    return 1;
}

llv_status llv_parse_tool_calls(const char *text, size_t len, llv_tool_call **calls, size_t *n, llv_error *err) {
    llv_err_clear(err);
    if (!calls || !n) return llv_err(err, LLV_ERR_INVALID_ARGUMENT, "llv_parse_tool_calls: calls or n is NULL");
    *calls = NULL;
    *n = 0;
    if (!text) {
        if (len == 0) return LLV_OK;
        return llv_err(err, LLV_ERR_INVALID_ARGUMENT, "llv_parse_tool_calls: text is NULL but len = %zu", len);
    }
    const char *s = text, *end = text + len;
    /* the answer may end with the end-of-turn markers, in either order or repeated */
    for (;;) {
        while (end > s && is_ws(end[-1])) end--;
        if (!strip_suffix(s, &end, "<|eom_id|>") && !strip_suffix(s, &end, "<|eot_id|>")) break;
    }
    while (s < end && is_ws(*s)) s++;
    if (strip_prefix(&s, end, "<|python_tag|>"))
        while (s < end && is_ws(*s)) s++;
    if (s == end || (*s != '{' && *s != '[')) return LLV_OK;
    if (memchr(s, '\0', (size_t)(end - s))) return LLV_OK; /* cJSON would stop there */

    call_list l = {0};
    bool ok = true;
    while (s < end && ok) {
        const char *stop = NULL;
        cJSON *v = cJSON_ParseWithLengthOpts(s, (size_t)(end - s), &stop, false);
        if (!v || !stop || stop <= s || stop > end) {
            cJSON_Delete(v);
            ok = false;
            break;
        }
        int r;
        if (cJSON_IsArray(v)) {
            const cJSON *it;
            r = cJSON_GetArraySize(v) > 0 ? 1 : 0;
            cJSON_ArrayForEach(it, v) {
                int k = add_call(&l, it);
                if (k <= 0) {
                    r = k;
                    break;
                }
            }
        } else {
            r = add_call(&l, v);
        }
        cJSON_Delete(v);
        if (r < 0) {
            llv_tool_calls_free(l.v, l.n);
            return llv_err(err, LLV_ERR_OUT_OF_MEMORY, "llv_parse_tool_calls: out of memory");
        }
        if (r == 0) {
            ok = false;
            break;
        }
        s = stop;
        while (s < end && (is_ws(*s) || *s == ';')) s++;
    }
    if (!ok || l.n == 0) { /* not (entirely) tool calls: the text is the answer */
        llv_tool_calls_free(l.v, l.n);
        return LLV_OK;
    }
    *calls = l.v;
    *n = l.n;
    return LLV_OK;
}
