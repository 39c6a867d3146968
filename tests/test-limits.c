/* test-limits.c - every library-level limit, crossed through the public API
 * on the demo model (models/demo.gguf, else a "demo" model written by
 * llv_synth): image bytes, image pixels, images per session, prompt tokens vs
 * n_ctx, n_ctx vs the model's maximum, max_tokens range and stop, timeout_ms,
 * the JSON nesting depth of tools_json. Each must fail (or stop) cleanly with
 * the documented status and a message naming the limit. The server's limits
 * (body size, JSON depth of requests, concurrency, per-request time) are
 * tested with the server (tests/test-server*). */
#include "testing.h"
#include "llv-tools.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static llv_model *g_model;

static int contains(const llv_error *e, const char *s) { return strstr(e->message, s) != NULL; }

/* A W x H binary PPM (P6) in a malloc'd buffer. */
static uint8_t *ppm(int w, int h, size_t *n) {
    char hdr[64];
    int hn = snprintf(hdr, sizeof hdr, "P6\n%d %d\n255\n", w, h);
    size_t px = (size_t)w * (size_t)h * 3;
    uint8_t *b = malloc((size_t)hn + px);
    memcpy(b, hdr, (size_t)hn);
    for (size_t i = 0; i < px; i++) b[hn + i] = (uint8_t)(i * 31 + 7);
    *n = (size_t)hn + px;
    return b;
}

static llv_session *session(const llv_session_params *p) {
    llv_session *s = NULL;
    llv_error err;
    CHECK_OK(llv_session_create(g_model, p, &s, &err), &err);
    return s;
}

static void test_image_limits(void) {
    if (!llv_test_case("image_limits")) return;
    llv_error err;
    size_t n;
    uint8_t *img = ppm(13, 9, &n); /* 117 pixels */

    /* bytes: one byte over the limit */
    llv_session_params p = llv_session_default_params();
    p.max_image_bytes = n - 1;
    llv_session *s = session(&p);
    if (s) {
        CHECK_STATUS(llv_session_add_image(s, img, n, &err), LLV_ERR_LIMIT, &err);
        CHECK_MSG(contains(&err, "max_image_bytes"), "message names max_image_bytes: %s", err.message);
        /* the file path is checked the same way */
        char *dir = llv_test_tmpdir(), *path = llv_test_path(dir, "img.ppm");
        FILE *f = fopen(path, "wb");
        fwrite(img, 1, n, f);
        fclose(f);
        CHECK_STATUS(llv_session_add_image_file(s, path, &err), LLV_ERR_LIMIT, &err);
        CHECK_MSG(contains(&err, "max_image_bytes"), "file: message names max_image_bytes: %s", err.message);
        unlink(path);
        rmdir(dir);
        free(path);
        free(dir);
        llv_session_free(s);
    }
    /* exactly at the limit is fine */
    p.max_image_bytes = n;
    if ((s = session(&p)) != NULL) {
        CHECK_OK(llv_session_add_image(s, img, n, &err), &err);
        llv_session_free(s);
    }

    /* pixels: 117 > 116 */
    p = llv_session_default_params();
    p.max_image_pixels = 116;
    if ((s = session(&p)) != NULL) {
        CHECK_STATUS(llv_session_add_image(s, img, n, &err), LLV_ERR_LIMIT, &err);
        CHECK_MSG(contains(&err, "116") || contains(&err, "pixel"), "message names the pixel limit: %s",
                  err.message);
        llv_session_free(s);
    }
    p.max_image_pixels = 117;
    if ((s = session(&p)) != NULL) {
        CHECK_OK(llv_session_add_image(s, img, n, &err), &err);
        llv_session_free(s);
    }

    /* images per session: the (max_images + 1)-th fails, the others stay */
    p = llv_session_default_params();
    p.max_images = 2;
    if ((s = session(&p)) != NULL) {
        CHECK_OK(llv_session_add_image(s, img, n, &err), &err);
        CHECK_OK(llv_session_add_image(s, img, n, &err), &err);
        CHECK_STATUS(llv_session_add_image(s, img, n, &err), LLV_ERR_LIMIT, &err);
        CHECK_MSG(contains(&err, "max_images"), "message names max_images: %s", err.message);
        llv_session_free(s);
    }
    p.max_images = 0; /* no images at all */
    if ((s = session(&p)) != NULL) {
        CHECK_STATUS(llv_session_add_image(s, img, n, &err), LLV_ERR_LIMIT, &err);
        llv_session_free(s);
    }
    p.max_images = 65; /* above what the session supports */
    llv_session *bad = NULL;
    CHECK_STATUS(llv_session_create(g_model, &p, &bad, &err), LLV_ERR_INVALID_ARGUMENT, &err);
    CHECK(bad == NULL && contains(&err, "max_images"));
    free(img);
}

static void test_context_limits(void) {
    if (!llv_test_case("context_limits")) return;
    llv_error err;
    llv_model_info info;
    llv_model_get_info(g_model, &info);
    llv_session_params p = llv_session_default_params();
    llv_session *s = NULL;

    /* n_ctx above the model's maximum */
    p.n_ctx = info.n_ctx_train + 1;
    CHECK_STATUS(llv_session_create(g_model, &p, &s, &err), LLV_ERR_INVALID_ARGUMENT, &err);
    CHECK_MSG(s == NULL && contains(&err, "n_ctx"), "names n_ctx: %s", err.message);
    p.n_ctx = -1;
    CHECK_STATUS(llv_session_create(g_model, &p, &s, &err), LLV_ERR_INVALID_ARGUMENT, &err);

    /* prompt tokens: n_ctx + 1 tokens fail, all-or-nothing */
    p.n_ctx = 16;
    if ((s = session(&p)) == NULL) return;
    int32_t toks[17];
    for (int i = 0; i < 17; i++) toks[i] = 65 + i % 20;
    CHECK_STATUS(llv_session_add_tokens(s, toks, 17, &err), LLV_ERR_CONTEXT, &err);
    CHECK_MSG(contains(&err, "n_ctx"), "message names n_ctx: %s", err.message);
    size_t nt = 99;
    llv_session_tokens(s, &nt);
    CHECK_EQ_I(nt, 0);
    CHECK_OK(llv_session_add_tokens(s, toks, 10, &err), &err);
    CHECK_STATUS(llv_session_add_tokens(s, toks, 7, &err), LLV_ERR_CONTEXT, &err);
    CHECK_OK(llv_session_add_tokens(s, toks, 6, &err), &err); /* exactly n_ctx */
    llv_session_tokens(s, &nt);
    CHECK_EQ_I(nt, 16);
    /* a full context: generation stops with LLV_STOP_CONTEXT, not an error */
    llv_sampling_params sp = llv_sampling_default_params();
    sp.temperature = 0;
    llv_result r;
    CHECK_OK(llv_session_generate(s, &sp, NULL, NULL, &r, &err), &err);
    CHECK_EQ_I(r.stop_reason, LLV_STOP_CONTEXT);
    CHECK_EQ_I(r.completion_tokens, 0);
    llv_result_free(&r);

    /* text: a long prompt fails the same way */
    llv_session_reset(s);
    char text[400];
    for (int i = 0; i < 399; i++) text[i] = (char)('a' + (i * 7) % 26 - (i % 5 == 4 ? 'a' - ' ' : 0));
    text[399] = '\0';
    CHECK_STATUS(llv_session_add_text(s, text, &err), LLV_ERR_CONTEXT, &err);
    CHECK_MSG(contains(&err, "n_ctx"), "message names n_ctx: %s", err.message);
    llv_session_tokens(s, &nt);
    CHECK_EQ_I(nt, 0);
    llv_session_free(s);
}

static bool slow_piece(const char *piece, size_t n, int32_t token, void *user) {
    (void)piece, (void)n, (void)token;
    ++*(int *)user;
    struct timespec ts = {0, 5 * 1000 * 1000};
    nanosleep(&ts, NULL);
    return true;
}

static void test_generation_limits(void) {
    if (!llv_test_case("generation_limits")) return;
    llv_error err;
    llv_sampling_params sp = llv_sampling_default_params();
    CHECK_OK(llv_sampling_params_validate(&sp, &err), &err);
    sp.max_tokens = 0;
    CHECK_STATUS(llv_sampling_params_validate(&sp, &err), LLV_ERR_INVALID_ARGUMENT, &err);
    CHECK_MSG(contains(&err, "max_tokens"), "names max_tokens: %s", err.message);
    sp.max_tokens = 131073;
    CHECK_STATUS(llv_sampling_params_validate(&sp, &err), LLV_ERR_INVALID_ARGUMENT, &err);
    CHECK_MSG(contains(&err, "max_tokens"), "names max_tokens: %s", err.message);
    sp.max_tokens = 131072;
    CHECK_OK(llv_sampling_params_validate(&sp, &err), &err);
    sp = llv_sampling_default_params();
    sp.timeout_ms = -1;
    CHECK_STATUS(llv_sampling_params_validate(&sp, &err), LLV_ERR_INVALID_ARGUMENT, &err);
    CHECK_MSG(contains(&err, "timeout_ms"), "names timeout_ms: %s", err.message);

    llv_session_params p = llv_session_default_params();
    p.n_ctx = 256;
    llv_session *s = session(&p);
    if (!s) return;
    /* generate validates too, before touching the session */
    sp = llv_sampling_default_params();
    sp.max_tokens = -5;
    llv_result r;
    CHECK_OK(llv_session_add_text(s, "Hello", &err), &err);
    CHECK_STATUS(llv_session_generate(s, &sp, NULL, NULL, &r, &err), LLV_ERR_INVALID_ARGUMENT, &err);
    CHECK_MSG(contains(&err, "max_tokens"), "names max_tokens: %s", err.message);

    /* max_tokens stops generation (EOG may come first) */
    sp = llv_sampling_default_params();
    sp.temperature = 1.0f;
    sp.seed = 7;
    sp.max_tokens = 3;
    CHECK_OK(llv_session_generate(s, &sp, NULL, NULL, &r, &err), &err);
    CHECK(r.completion_tokens >= 1 && r.completion_tokens <= 3);
    CHECK(r.stop_reason == LLV_STOP_LENGTH || r.stop_reason == LLV_STOP_EOG);
    llv_result_free(&r);

    /* timeout_ms: each piece takes >= 5 ms, the budget is 1 ms; checked between tokens */
    llv_session_reset(s);
    CHECK_OK(llv_session_add_text(s, "Tell me a long story.", &err), &err);
    sp.max_tokens = 100;
    sp.timeout_ms = 1;
    int pieces = 0;
    CHECK_OK(llv_session_generate(s, &sp, slow_piece, &pieces, &r, &err), &err);
    printf("timeout: stop %d after %d tokens, %d pieces\n", (int)r.stop_reason, r.completion_tokens, pieces);
    CHECK(r.stop_reason == LLV_STOP_TIMEOUT || (r.stop_reason == LLV_STOP_EOG && r.completion_tokens == 1));
    CHECK(r.completion_tokens < 100);
    llv_result_free(&r);
    llv_session_free(s);
}

static void test_json_depth(void) {
    if (!llv_test_case("json_depth")) return;
    llv_error err;
    /* tools_json nested 600 deep: the chat renderer's parser stops at 512 */
    size_t depth = 600;
    char *tools = malloc(2 * depth + 3);
    size_t k = 0;
    tools[k++] = '[';
    for (size_t i = 0; i < depth; i++) tools[k++] = '[';
    for (size_t i = 0; i < depth; i++) tools[k++] = ']';
    tools[k++] = ']';
    tools[k] = '\0';
    llv_message m = {.role = "user", .content = "hi"};
    llv_chat_params cp = llv_chat_default_params();
    cp.tools_json = tools;
    cp.date_string = "26 Jul 2024";
    size_t need = 0;
    llv_status st = llv_chat_render(g_model, &m, 1, &cp, NULL, 0, &need, &err);
    CHECK_MSG(st == LLV_ERR_LIMIT || st == LLV_ERR_INVALID_ARGUMENT || st == LLV_ERR_FORMAT,
              "deep tools_json: %s (%s)", llv_status_name(st), err.message);
    CHECK_MSG(contains(&err, "512") || contains(&err, "deep"), "names the depth: %s", err.message);
    free(tools);
    /* deep JSON in a model answer is simply not a tool call */
    char *ans = malloc(2 * 5000 + 1);
    for (int i = 0; i < 5000; i++) ans[i] = '[', ans[5000 + i] = ']';
    ans[10000] = '\0';
    llv_tool_call *calls = NULL;
    size_t nc = 9;
    CHECK_OK(llv_parse_tool_calls(ans, 10000, &calls, &nc, &err), &err);
    CHECK_EQ_I(nc, 0);
    llv_tool_calls_free(calls, nc);
    free(ans);
}

int main(int argc, char **argv) {
    llv_test_init(argc, argv);
    llv_error err;
    const char *src = getenv("LLV_SOURCE_DIR");
    char *demo = llv_test_path(src ? src : ".", "models/demo.gguf"), *tmp = NULL, *synth = NULL;
    if (access(demo, R_OK) != 0) {
        tmp = llv_test_tmpdir();
        synth = llv_test_path(tmp, "demo.gguf");
        llv_synth_params sp = llv_synth_default_params();
        sp.preset = "demo";
        CHECK_OK(llv_synth(synth, &sp, &err), &err);
    }
    const char *path = synth ? synth : demo;
    printf("model: %s\n", path);
    CHECK_OK(llv_model_load(path, NULL, &g_model, &err), &err);
    if (g_model) {
        test_image_limits();
        test_context_limits();
        test_generation_limits();
        test_json_depth();
        llv_model_free(g_model);
    }
    if (synth) {
        unlink(synth);
        rmdir(tmp);
    }
    free(synth);
    free(tmp);
    free(demo);
    return llv_test_finish();
}
