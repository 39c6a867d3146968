/* stubs.c - TEMP weak stubs until `session` (src/session.c) and `convert`
 * (src/model.c) land on main. They fake a tiny echo model so the HTTP layer
 * can be built and tested meanwhile. Each group compiles only while the
 * library file that implements it is absent, so the real code always wins
 * (weak definitions would otherwise keep the linker from pulling the
 * archive member). Delete this file once both have landed. */
#include "llv.h"

#if !__has_include("../../src/model.c") || !__has_include("../../src/session.c")
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static void stub_err(llv_error *err, llv_status st, const char *msg) {
    if (!err) return;
    err->status = st;
    snprintf(err->message, sizeof err->message, "%s", msg);
}
#endif

#if !__has_include("../../src/model.c")
struct llv_model {
    int dummy;
};

__attribute__((weak)) llv_model_params llv_model_default_params(void) {
    llv_model_params p;
    memset(&p, 0, sizeof p);
    p.use_mmap = true;
    return p;
}

__attribute__((weak)) llv_status llv_model_load(const char *path, const llv_model_params *params, llv_model **out,
                                                llv_error *err) {
    (void)params;
    FILE *f = fopen(path, "rb");
    if (!f) {
        stub_err(err, LLV_ERR_IO, "stub model: cannot open the file");
        return LLV_ERR_IO;
    }
    fclose(f);
    *out = calloc(1, sizeof **out);
    return *out ? LLV_OK : LLV_ERR_OUT_OF_MEMORY;
}

__attribute__((weak)) void llv_model_free(llv_model *m) { free(m); }
#endif

#if !__has_include("../../src/session.c")
struct llv_session {
    char    text[4096];
    int     n_images, n_queued;
    int32_t prompt_tokens;
};

__attribute__((weak)) llv_session_params llv_session_default_params(void) {
    llv_session_params p;
    memset(&p, 0, sizeof p);
    p.n_batch = 512;
    p.max_images = 8;
    p.image_cache_entries = 4;
    return p;
}

__attribute__((weak)) llv_status llv_session_create(const llv_model *m, const llv_session_params *p, llv_session **out,
                                                    llv_error *err) {
    (void)m;
    (void)p;
    (void)err;
    *out = calloc(1, sizeof **out);
    return *out ? LLV_OK : LLV_ERR_OUT_OF_MEMORY;
}

__attribute__((weak)) void llv_session_free(llv_session *s) { free(s); }

__attribute__((weak)) void llv_session_reset(llv_session *s) { memset(s, 0, sizeof *s); }

static llv_status stub_image(llv_session *s, const uint8_t *b, size_t n, llv_error *err) {
    bool png = n >= 8 && !memcmp(b, "\x89PNG\r\n\x1a\n", 8);
    bool jpg = n >= 3 && b[0] == 0xFF && b[1] == 0xD8 && b[2] == 0xFF;
    if (!png && !jpg) {
        stub_err(err, LLV_ERR_FORMAT, "image: unknown format (not PNG or JPEG)");
        return LLV_ERR_FORMAT;
    }
    s->n_images++;
    return LLV_OK;
}

static void stub_append(llv_session *s, const char *t) {
    size_t l = strlen(s->text);
    snprintf(s->text + l, sizeof s->text - l, "%s", t ? t : "");
    s->prompt_tokens += (int32_t)(strlen(t ? t : "") / 4 + 1);
}

__attribute__((weak)) llv_status llv_session_add_image(llv_session *s, const void *bytes, size_t n, llv_error *err) {
    llv_status st = stub_image(s, bytes, n, err);
    if (!st) s->n_queued++;
    return st;
}

__attribute__((weak)) llv_status llv_session_add_raw(llv_session *s, const char *text, llv_error *err) {
    (void)err;
    stub_append(s, text);
    return LLV_OK;
}

__attribute__((weak)) llv_status llv_session_add_messages(llv_session *s, const llv_message *msgs, size_t n,
                                                          const llv_chat_params *p, llv_error *err) {
    for (size_t i = 0; i < n; i++) {
        if (msgs[i].content) stub_append(s, msgs[i].content);
        for (size_t j = 0; j < msgs[i].n_parts; j++) {
            if (msgs[i].parts[j].type == LLV_PART_TEXT) stub_append(s, msgs[i].parts[j].text);
            else if (stub_image(s, msgs[i].parts[j].image, msgs[i].parts[j].image_bytes, err)) return err->status;
        }
    }
    if (p && p->tools_json) stub_append(s, " TOOLS");
    return LLV_OK;
}

__attribute__((weak)) llv_status llv_session_generate(llv_session *s, const llv_sampling_params *params,
                                                      llv_piece_fn on_piece, void *user, llv_result *res,
                                                      llv_error *err) {
    llv_sampling_params d = llv_sampling_default_params();
    if (!params) params = &d;
    llv_status st = llv_sampling_params_validate(params, err);
    if (st) return st;
    uint64_t x = params->seed ? params->seed : (uint64_t)time(NULL) ^ (uint64_t)(uintptr_t)s;
    for (const char *c = s->text; *c; c++) x = x * 31 + (unsigned char)*c;
    memset(res, 0, sizeof *res);
    size_t cap = 4096, len = 0;
    char *text = calloc(1, cap);
    bool tool = strstr(s->text, "TOOLS") && strstr(s->text, "weather");
    int n = tool ? 1 : 4 + (int)(x % 6);
    llv_stop_reason stop = LLV_STOP_EOG;
    int i;
    for (i = 0; i < n; i++) {
        if (i >= params->max_tokens) {
            stop = LLV_STOP_LENGTH;
            break;
        }
        char piece[128];
        if (tool) snprintf(piece, sizeof piece, "{\"name\": \"get_weather\", \"parameters\": {\"city\": \"Paris\"}}");
        else snprintf(piece, sizeof piece, "%s%s%u", i ? " " : "", s->n_images ? "img" : "w",
                      (unsigned)((x >> (i * 5)) % 1000));
        if (strstr(s->text, "SLOW")) {
            struct timespec ts = {0, 100 * 1000000};
            nanosleep(&ts, NULL);
        }
        size_t pl = strlen(piece);
        if (len + pl + 1 < cap) {
            memcpy(text + len, piece, pl + 1);
            len += pl;
        }
        if (on_piece && !on_piece(piece, pl, user)) {
            stop = LLV_STOP_CALLBACK;
            i++;
            break;
        }
    }
    res->stop_reason = stop;
    res->prompt_tokens = s->prompt_tokens;
    res->completion_tokens = i + (stop == LLV_STOP_EOG);
    res->text = text;
    res->text_len = len;
    return LLV_OK;
}

__attribute__((weak)) void llv_result_free(llv_result *r) {
    if (!r) return;
    free(r->text);
    llv_tool_calls_free(r->tool_calls, r->n_tool_calls);
    memset(r, 0, sizeof *r);
}
#endif
