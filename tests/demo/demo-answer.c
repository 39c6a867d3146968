/* demo-answer - answers a batch of chats for tools/demo/eval.py through the
 * public API (the path llv-run takes), reporting the generated token ids so
 * that they can be compared with Hugging Face's greedy tokens.
 *
 *   demo-answer MODEL [--kv f32|f16] [--threads N] < requests.jsonl > answers.jsonl
 *
 * Each input line: {"image": PATH or null, "turns": ["question", ...],
 * "max_tokens": N, "temperature": T, "seed": S} (greedy unless temperature is
 * given). Each output line: {"answers": [...], "tokens": [[ids of each answer,
 * end token included], ...], "pieces": [[the streamed pieces of each answer],
 * ...]} or {"error": "..."}. Turns after the first continue the conversation
 * with the model's own earlier answers, as a chat does. Pieces and answers are
 * printed byte for byte (cJSON does not re-encode), so a reader that decodes
 * the output strictly sees any invalid UTF-8.
 * With "logits": true, only the first turn is prefilled and the output is
 * {"input_ids": [...], "logits": [last position's logits]} (tests/demo/check-interm.py). */
#include "llv.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void emit(cJSON *o) {
    char *s = cJSON_PrintUnformatted(o);
    if (s) {
        puts(s);
        fflush(stdout);
    }
    cJSON_free(s);
    cJSON_Delete(o);
}

static void emit_error(const char *msg) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "error", msg);
    emit(o);
}

static bool on_piece(const char *piece, size_t n, int32_t token, void *user) {
    (void)token;
    cJSON *list = user;
    char *copy = malloc(n + 1);
    if (!copy) return false;
    memcpy(copy, piece, n);
    copy[n] = 0;
    cJSON_AddItemToArray(list, cJSON_CreateString(copy));
    free(copy);
    return true;
}

static void answer(llv_session *s, int32_t n_vocab, const cJSON *req) {
    llv_error err;
    const cJSON *image = cJSON_GetObjectItemCaseSensitive(req, "image");
    const cJSON *turns = cJSON_GetObjectItemCaseSensitive(req, "turns");
    const cJSON *max = cJSON_GetObjectItemCaseSensitive(req, "max_tokens");
    const cJSON *temp = cJSON_GetObjectItemCaseSensitive(req, "temperature");
    const cJSON *seed = cJSON_GetObjectItemCaseSensitive(req, "seed");
    if (!cJSON_IsArray(turns) || cJSON_GetArraySize(turns) < 1) {
        emit_error("turns: expected a non-empty array of strings");
        return;
    }
    llv_session_reset(s);
    if (cJSON_IsString(image) && llv_session_add_image_file(s, image->valuestring, &err) != LLV_OK) {
        emit_error(err.message);
        return;
    }
    if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(req, "logits"))) {
        const cJSON *t0 = cJSON_GetArrayItem(turns, 0);
        const float *logits = NULL;
        if (!cJSON_IsString(t0)) {
            emit_error("turns: expected strings");
            return;
        }
        if (llv_session_add_text(s, t0->valuestring, &err) != LLV_OK ||
            llv_session_eval(s, &logits, &err) != LLV_OK) {
            emit_error(err.message);
            return;
        }
        size_t n = 0;
        const int32_t *ids = llv_session_tokens(s, &n);
        cJSON *out = cJSON_CreateObject();
        cJSON *jid = cJSON_AddArrayToObject(out, "input_ids");
        for (size_t i = 0; i < n; i++) cJSON_AddItemToArray(jid, cJSON_CreateNumber(ids[i]));
        cJSON *jl = cJSON_AddArrayToObject(out, "logits");
        for (int32_t i = 0; i < n_vocab; i++)
            cJSON_AddItemToArray(jl, cJSON_CreateNumber(logits[i]));
        emit(out);
        return;
    }
    llv_sampling_params sp = llv_sampling_default_params();
    sp.temperature = 0.0f;
    sp.max_tokens = cJSON_IsNumber(max) ? max->valueint : 64;
    if (cJSON_IsNumber(temp)) sp.temperature = (float)temp->valuedouble;
    if (cJSON_IsNumber(seed)) sp.seed = (uint64_t)seed->valuedouble;
    cJSON *out = cJSON_CreateObject();
    cJSON *answers = cJSON_AddArrayToObject(out, "answers");
    cJSON *tokens = cJSON_AddArrayToObject(out, "tokens");
    cJSON *pieces = cJSON_AddArrayToObject(out, "pieces");
    const cJSON *t;
    cJSON_ArrayForEach(t, turns) {
        if (!cJSON_IsString(t)) {
            cJSON_Delete(out);
            emit_error("turns: expected strings");
            return;
        }
        llv_result r;
        size_t n = 0;
        cJSON *pl = cJSON_CreateArray();
        cJSON_AddItemToArray(pieces, pl);
        if (llv_session_add_text(s, t->valuestring, &err) != LLV_OK) goto fail;
        if (llv_session_generate(s, &sp, on_piece, pl, &r, &err) != LLV_OK) goto fail;
        const int32_t *ids = llv_session_tokens(s, &n);
        size_t before = n - (size_t)r.completion_tokens; /* the answer is the tail */
        cJSON_AddItemToArray(answers, cJSON_CreateString(r.text));
        cJSON *a = cJSON_CreateArray();
        for (size_t i = before; i < n; i++) cJSON_AddItemToArray(a, cJSON_CreateNumber(ids[i]));
        cJSON_AddItemToArray(tokens, a);
        llv_result_free(&r);
        continue;
    fail:
        cJSON_Delete(out);
        emit_error(err.message);
        return;
    }
    emit(out);
}

int main(int argc, char **argv) {
    const char *model_path = NULL;
    llv_session_params sp = llv_session_default_params();
    sp.kv_type = LLV_KV_F32; /* the exact path by default */
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--kv") && i + 1 < argc) {
            const char *v = argv[++i];
            if (strcmp(v, "f32") && strcmp(v, "f16")) {
                fprintf(stderr, "demo-answer: --kv: expected f32 or f16, got '%s'\n", v);
                return 2;
            }
            sp.kv_type = !strcmp(v, "f32") ? LLV_KV_F32 : LLV_KV_F16;
        } else if (!strcmp(argv[i], "--threads") && i + 1 < argc) {
            sp.n_threads = atoi(argv[++i]);
        } else if (argv[i][0] != '-' && !model_path) {
            model_path = argv[i];
        } else {
            fprintf(stderr, "usage: demo-answer MODEL [--kv f32|f16] [--threads N] < requests.jsonl\n");
            return 2;
        }
    }
    if (!model_path) {
        fprintf(stderr, "usage: demo-answer MODEL [--kv f32|f16] [--threads N] < requests.jsonl\n");
        return 2;
    }
    llv_error err;
    llv_model *model = NULL;
    if (llv_model_load(model_path, NULL, &model, &err) != LLV_OK) {
        fprintf(stderr, "demo-answer: %s\n", err.message);
        return 3;
    }
    llv_session *s = NULL;
    if (llv_session_create(model, &sp, &s, &err) != LLV_OK) {
        fprintf(stderr, "demo-answer: %s\n", err.message);
        llv_model_free(model);
        return 1;
    }
    llv_model_info info;
    llv_model_get_info(model, &info);
    size_t cap = 1 << 16;
    char *line = malloc(cap);
    int rc = line ? 0 : 1;
    while (line && fgets(line, (int)cap, stdin)) {
        size_t len = strlen(line);
        if (len == cap - 1 && line[len - 1] != '\n') {
            emit_error("request line too long");
            int c;
            while ((c = getchar()) != EOF && c != '\n') {}
            continue;
        }
        cJSON *req = cJSON_Parse(line);
        if (!req) emit_error("request: not JSON");
        else answer(s, info.n_vocab, req);
        cJSON_Delete(req);
    }
    free(line);
    llv_session_free(s);
    llv_model_free(model);
    return rc;
}
