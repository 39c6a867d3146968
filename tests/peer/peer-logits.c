/* peer-logits - what tools/peer/compare.py compares with llama.cpp: for each
 * prompt, llv's prompt token ids, the logits of its last position, and the
 * greedy answer's token ids, through the public API (the path llv-run takes).
 *
 *   peer-logits MODEL [--threads N] [--kv f16|f32] < prompts.jsonl > results.jsonl
 *
 * The KV cache is F16 by default (llv's and llama.cpp's default), f32 for
 * comparisons with Hugging Face.
 *
 * Each input line: {"text": "...", "chat": false, "max_tokens": 64}: chat =
 * true sends the text as one user turn of the model's chat format, false
 * tokenizes it as given (special tokens parsed, BOS as the model says); or
 * {"ids": [...], "images": ["a.png", ...]}: the image files are queued and
 * the ids appended as given (each image token takes the next image), the
 * Python package's tests compare with this (python/tests). Each
 * output line: {"ids": [...], "logits": [n_vocab floats], "greedy": [...]} or
 * {"error": "..."}. With "follow": [ids] (another engine's answer) the
 * prompt is instead continued with those tokens one at a time (teacher
 * forcing), and "forced" lists for each step before a token is added llv's
 * [argmax, its logit, the logit of the followed token]. */
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

static void run(const llv_model *m, llv_session *s, const cJSON *req) {
    llv_error err;
    const cJSON *text = cJSON_GetObjectItemCaseSensitive(req, "text");
    const cJSON *chat = cJSON_GetObjectItemCaseSensitive(req, "chat");
    const cJSON *max = cJSON_GetObjectItemCaseSensitive(req, "max_tokens");
    const cJSON *in_ids = cJSON_GetObjectItemCaseSensitive(req, "ids");
    const cJSON *images = cJSON_GetObjectItemCaseSensitive(req, "images");
    cJSON *o = cJSON_CreateObject();
    if (!cJSON_IsString(text) && !cJSON_IsArray(in_ids)) {
        cJSON_AddStringToObject(o, "error", "text: expected a string (or ids: an array)");
        emit(o);
        return;
    }
    llv_session_reset(s);
    llv_status st = LLV_OK;
    const cJSON *it;
    cJSON_ArrayForEach(it, images) {
        if (st == LLV_OK && cJSON_IsString(it)) st = llv_session_add_image_file(s, it->valuestring, &err);
    }
    if (st == LLV_OK && cJSON_IsArray(in_ids)) {
        int n_in = cJSON_GetArraySize(in_ids), k = 0;
        int32_t *buf = malloc(sizeof *buf * (size_t)(n_in > 0 ? n_in : 1));
        if (!buf) {
            cJSON_AddStringToObject(o, "error", "out of memory");
            emit(o);
            return;
        }
        cJSON_ArrayForEach(it, in_ids) buf[k++] = (int32_t)it->valuedouble;
        st = llv_session_add_tokens(s, buf, (size_t)n_in, &err);
        free(buf);
    } else if (st == LLV_OK) {
        st = cJSON_IsTrue(chat) ? llv_session_add_text(s, text->valuestring, &err)
                                : llv_session_add_raw(s, text->valuestring, &err);
    }
    const float *logits = NULL;
    if (st == LLV_OK) st = llv_session_eval(s, &logits, &err);
    if (st != LLV_OK) {
        cJSON_AddStringToObject(o, "error", err.message);
        emit(o);
        return;
    }
    size_t n = 0;
    const int32_t *ids = llv_session_tokens(s, &n);
    cJSON *a = cJSON_AddArrayToObject(o, "ids");
    for (size_t i = 0; i < n; i++) cJSON_AddItemToArray(a, cJSON_CreateNumber(ids[i]));
    llv_model_info info;
    llv_model_get_info(m, &info);
    a = cJSON_AddArrayToObject(o, "logits");
    for (int32_t i = 0; i < info.n_vocab; i++) cJSON_AddItemToArray(a, cJSON_CreateNumber(logits[i]));
    size_t n_prompt = n;
    const cJSON *follow = cJSON_GetObjectItemCaseSensitive(req, "follow");
    if (cJSON_IsArray(follow)) {
        llv_model_info mi;
        llv_model_get_info(m, &mi);
        cJSON *f = cJSON_AddArrayToObject(o, "forced");
        cJSON_ArrayForEach(it, follow) {
            int32_t best = 0, want = (int32_t)it->valueint;
            for (int32_t i = 1; i < mi.n_vocab; i++)
                if (logits[i] > logits[best]) best = i;
            cJSON *step = cJSON_CreateArray();
            cJSON_AddItemToArray(step, cJSON_CreateNumber(best));
            cJSON_AddItemToArray(step, cJSON_CreateNumber(logits[best]));
            cJSON_AddItemToArray(step, cJSON_CreateNumber(want >= 0 && want < mi.n_vocab ? logits[want] : 0));
            cJSON_AddItemToArray(f, step);
            if ((st = llv_session_add_tokens(s, &want, 1, &err)) != LLV_OK ||
                (st = llv_session_eval(s, &logits, &err)) != LLV_OK) {
                cJSON_AddStringToObject(o, "error", err.message);
                break;
            }
        }
        emit(o);
        return;
    }
    llv_sampling_params sp = llv_sampling_default_params();
    sp.temperature = 0;
    sp.max_tokens = cJSON_IsNumber(max) ? max->valueint : 64;
    llv_result r;
    if ((st = llv_session_generate(s, &sp, NULL, NULL, &r, &err)) != LLV_OK) {
        cJSON_AddStringToObject(o, "error", err.message);
        emit(o);
        return;
    }
    ids = llv_session_tokens(s, &n);
    a = cJSON_AddArrayToObject(o, "greedy");
    for (size_t i = n_prompt; i < n; i++) cJSON_AddItemToArray(a, cJSON_CreateNumber(ids[i]));
    cJSON_AddStringToObject(o, "text", r.text);
    llv_result_free(&r);
    emit(o);
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: peer-logits MODEL [--threads N] < prompts.jsonl\n");
        return 2;
    }
    int threads = 0;
    llv_kv_type kv = LLV_KV_F16;
    for (int i = 2; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--threads")) threads = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--kv")) kv = strcmp(argv[i + 1], "f32") == 0 ? LLV_KV_F32 : LLV_KV_F16;
    }
    llv_error err;
    llv_model *m = NULL;
    llv_model_params mp = llv_model_default_params();
    mp.n_threads = threads;
    if (llv_model_load(argv[1], &mp, &m, &err) != LLV_OK) {
        fprintf(stderr, "peer-logits: %s\n", err.message);
        return 1;
    }
    llv_session_params sp = llv_session_default_params();
    sp.n_ctx = 2048;
    sp.kv_type = kv;
    llv_session *s = NULL;
    if (llv_session_create(m, &sp, &s, &err) != LLV_OK) {
        fprintf(stderr, "peer-logits: %s\n", err.message);
        llv_model_free(m);
        return 1;
    }
    char *line = NULL;
    size_t cap = 0;
    while (getline(&line, &cap, stdin) > 0) {
        cJSON *req = cJSON_Parse(line);
        if (req) run(m, s, req);
        else {
            cJSON *o = cJSON_CreateObject();
            cJSON_AddStringToObject(o, "error", "bad JSON line");
            emit(o);
        }
        cJSON_Delete(req);
    }
    free(line);
    llv_session_free(s);
    llv_model_free(m);
    return 0;
}
