/* test-api.c - the public API through include/llv.h only: NULL handling,
 * parameter errors, BUFFER_TOO_SMALL, reset, multi-turn KV reuse, the image
 * cache, context limits, stop conditions and thread determinism; and what an
 * embedder relies on: the version and the shared library's soname, params
 * structs that grow (their size field), llv_error cleared by every public
 * call that succeeds, log callbacks, and a library that never prints.
 * Runs on models/demo.gguf, else on a tiny model made with llv_synth; the
 * embedder checks on tiny llv_synth models. */
#include "testing.h"
#include "llv-tools.h"

#include <cjson/cJSON.h>
#include <dlfcn.h>
#include <elf.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static llv_model *g_model;

static llv_session *new_session(int32_t n_threads, int32_t n_ctx, size_t cache) {
    llv_session_params p = llv_session_default_params();
    p.n_threads = n_threads;
    p.n_ctx = n_ctx;
    p.image_cache_entries = cache;
    llv_session *s = NULL;
    llv_error err;
    llv_status st = llv_session_create(g_model, &p, &s, &err);
    CHECK_MSG(st == LLV_OK, "session create: %s", llv_test_errmsg(&err));
    return s;
}

static llv_sampling_params greedy(int32_t max_tokens) {
    llv_sampling_params sp = llv_sampling_default_params();
    sp.temperature = 0.0f;
    sp.max_tokens = max_tokens;
    return sp;
}

typedef struct pieces {
    char    buf[8192];
    size_t  n;
    int     calls, stop_after;
    int32_t tok[512];            /* the token of each piece            */
    size_t  start[512], len[512]; /* where each piece is in buf        */
} pieces;

static bool on_piece(const char *p, size_t n, int32_t token, void *user) {
    pieces *pc = user;
    if (pc->calls < 512) {
        pc->tok[pc->calls] = token;
        pc->start[pc->calls] = pc->n;
        pc->len[pc->calls] = n;
    }
    if (pc->n + n < sizeof pc->buf) {
        memcpy(pc->buf + pc->n, p, n);
        pc->n += n;
    }
    pc->calls++;
    return pc->stop_after == 0 || pc->calls < pc->stop_after;
}

static size_t g_ascii_pieces; /* pieces compared with their token's text */

/* A token's text in the answer: none for special tokens. */
static size_t text_bytes(int32_t tok) {
    char b[256];
    size_t nb = 0;
    llv_error err;
    llv_status st = llv_detokenize(g_model, &tok, 1, true, b, sizeof b, &nb, &err);
    return st == LLV_OK || st == LLV_ERR_BUFFER_TOO_SMALL ? nb : 0;
}

/* The token ids that came with the pieces are the generated tokens gen[0..n)
 * in order (one token may give several pieces, one piece may end several
 * tokens), the last piece's is the last token with text, and a piece of
 * ASCII text only (no bytes of an earlier token in it) is its token's text. */
static void check_piece_tokens(const pieces *pc, const int32_t *gen, size_t n) {
    size_t k = 0;
    int np = pc->calls < 512 ? pc->calls : 512;
    for (int i = 0; i < np; i++) {
        while (k < n && gen[k] != pc->tok[i]) k++;
        CHECK_MSG(k < n, "piece %d: token %d is not a generated token at or after the previous piece's", i, pc->tok[i]);
        if (k == n) return;
        bool only_ascii = true;
        for (size_t j = 0; j < pc->len[i]; j++) only_ascii &= (unsigned char)pc->buf[pc->start[i] + j] < 0x80;
        size_t nb = 0;
        const char *tb = llv_token_bytes(g_model, pc->tok[i], &nb);
        if (only_ascii && tb && nb <= 64) {
            g_ascii_pieces++;
            CHECK_MSG(nb == pc->len[i] && memcmp(tb, pc->buf + pc->start[i], nb) == 0,
                      "piece %d ('%.*s') is not the text of its token %d ('%.*s')", i, (int)pc->len[i],
                      pc->buf + pc->start[i], pc->tok[i], (int)nb, tb ? tb : "");
        }
    }
    size_t last = n;
    while (last > 0 && text_bytes(gen[last - 1]) == 0) last--;
    if (np > 0 && last > 0) CHECK_MSG(pc->tok[np - 1] == gen[last - 1], "last piece: token %d, last text token %d",
                                      pc->tok[np - 1], gen[last - 1]);
}

static bool slow_piece(const char *p, size_t n, int32_t token, void *user) {
    (void)p, (void)n, (void)token, (void)user;
    usleep(3000);
    return true;
}

static void test_null_and_err(void) {
    if (!llv_test_case("null_and_err")) return;
    llv_session_free(NULL);
    llv_result_free(NULL);
    llv_model_free(NULL);
    llv_tool_calls_free(NULL, 0);
    llv_session_reset(NULL);
    uint64_t kv = 1, tot = 1;
    llv_session_memory(NULL, &kv, &tot);
    CHECK(kv == 0 && tot == 0);
    CHECK_EQ_I(llv_session_encoder_runs(NULL), 0);
    size_t n = 5;
    CHECK(llv_session_tokens(NULL, &n) == NULL && n == 0);
    llv_session *s = (llv_session *)1;
    CHECK_EQ_I(llv_session_create(NULL, NULL, &s, NULL), LLV_ERR_INVALID_ARGUMENT);
    CHECK(s == NULL);
    CHECK_EQ_I(llv_session_add_text(NULL, "x", NULL), LLV_ERR_INVALID_ARGUMENT);
    llv_result r;
    CHECK_EQ_I(llv_session_generate(NULL, NULL, NULL, NULL, &r, NULL), LLV_ERR_INVALID_ARGUMENT);
    llv_result_free(&r); /* a failed generate leaves a freeable (zeroed) result */
    llv_model *m = (llv_model *)1;
    CHECK(llv_model_load("/nonexistent/model.gguf", NULL, &m, NULL) != LLV_OK);
}

static void test_bad_params(void) {
    if (!llv_test_case("bad_params")) return;
    llv_model_info info;
    llv_model_get_info(g_model, &info);
    llv_error err;
    llv_session *s = NULL;
    llv_session_params p = llv_session_default_params();
    p.n_ctx = info.n_ctx_train + 1;
    CHECK_STATUS(llv_session_create(g_model, &p, &s, &err), LLV_ERR_INVALID_ARGUMENT, &err);
    CHECK_MSG(strstr(err.message, "n_ctx") != NULL, "message names n_ctx: %s", err.message);
    p = llv_session_default_params();
    p.max_images = 1000;
    CHECK_STATUS(llv_session_create(g_model, &p, &s, &err), LLV_ERR_INVALID_ARGUMENT, &err);
    CHECK_MSG(strstr(err.message, "max_images") != NULL, "message names max_images: %s", err.message);
    p = llv_session_default_params();
    p.n_threads = -3;
    CHECK_STATUS(llv_session_create(g_model, &p, &s, &err), LLV_ERR_INVALID_ARGUMENT, &err);
    CHECK_MSG(strstr(err.message, "n_threads") != NULL, "message names n_threads: %s", err.message);
    CHECK(s == NULL);

    s = new_session(1, 256, 4);
    if (!s) return;
    CHECK_OK(llv_session_add_text(s, "hello", &err), &err);
    llv_sampling_params sp = llv_sampling_default_params();
    sp.temperature = 9.0f;
    llv_result r;
    CHECK_STATUS(llv_session_generate(s, &sp, NULL, NULL, &r, &err), LLV_ERR_INVALID_ARGUMENT, &err);
    CHECK_MSG(strstr(err.message, "temperature") != NULL, "message names temperature: %s", err.message);
    sp = llv_sampling_default_params();
    sp.top_p = -1.0f;
    CHECK_STATUS(llv_session_generate(s, &sp, NULL, NULL, &r, &err), LLV_ERR_INVALID_ARGUMENT, &err);
    CHECK_MSG(strstr(err.message, "top_p") != NULL, "message names top_p: %s", err.message);
    /* token ids out of range, and the image token through add_tokens */
    int32_t bad[2] = {1, info.n_vocab + 5};
    CHECK_STATUS(llv_session_add_tokens(s, bad, 2, &err), LLV_ERR_INVALID_ARGUMENT, &err);
    if (info.image_token_id >= 0) {
        int32_t img = info.image_token_id;
        CHECK_STATUS(llv_session_add_tokens(s, &img, 1, &err), LLV_ERR_INVALID_ARGUMENT, &err);
    }
    llv_session_free(s);
}

static void test_buffer_too_small(void) {
    if (!llv_test_case("buffer_too_small")) return;
    llv_error err;
    const char *text = "Hello world, this is a test.";
    size_t need = 0;
    int32_t one[1];
    CHECK_STATUS(llv_tokenize(g_model, text, strlen(text), 0, one, 1, &need, &err), LLV_ERR_BUFFER_TOO_SMALL, &err);
    CHECK(need > 1);
    int32_t *toks = malloc(need * sizeof *toks);
    size_t got = 0;
    CHECK_OK(llv_tokenize(g_model, text, strlen(text), 0, toks, need, &got, &err), &err);
    CHECK_EQ_I(got, need);
    size_t nb = 0;
    char small[2];
    CHECK_STATUS(llv_detokenize(g_model, toks, got, false, small, sizeof small, &nb, &err), LLV_ERR_BUFFER_TOO_SMALL,
                 &err);
    CHECK_EQ_I(nb, strlen(text));
    char *buf = malloc(nb + 1);
    size_t nb2 = 0;
    CHECK_OK(llv_detokenize(g_model, toks, got, false, buf, nb, &nb2, &err), &err);
    CHECK(nb2 == nb && memcmp(buf, text, nb) == 0);
    free(buf);
    free(toks);
    llv_message msg = {.role = "user", .content = "hi"};
    llv_chat_params cp = llv_chat_default_params();
    cp.date_string = "26 Jul 2024";
    size_t need_r = 0;
    CHECK_STATUS(llv_chat_render(g_model, &msg, 1, &cp, small, sizeof small, &need_r, &err), LLV_ERR_BUFFER_TOO_SMALL,
                 &err);
    char *rb = malloc(need_r + 1);
    size_t got_r = 0;
    CHECK_OK(llv_chat_render(g_model, &msg, 1, &cp, rb, need_r + 1, &got_r, &err), &err);
    CHECK_EQ_I(got_r, need_r);
    CHECK(strlen(rb) == need_r);
    free(rb);
}

/* Greedy answer of a fresh one-turn conversation. */
static char *answer(llv_session *s, const char *prompt, int32_t max_tokens, llv_result *out) {
    llv_error err;
    CHECK_OK(llv_session_add_text(s, prompt, &err), &err);
    llv_sampling_params sp = greedy(max_tokens);
    pieces pc = {0};
    llv_result r;
    llv_status st = llv_session_generate(s, &sp, on_piece, &pc, &r, &err);
    CHECK_MSG(st == LLV_OK, "generate: %s", llv_test_errmsg(&err));
    if (st != LLV_OK) return NULL;
    CHECK_MSG(pc.n == r.text_len && memcmp(pc.buf, r.text, pc.n) == 0, "pieces concatenate to the text");
    size_t nt = 0;
    const int32_t *all = llv_session_tokens(s, &nt);
    if (nt >= (size_t)r.completion_tokens)
        check_piece_tokens(&pc, all + nt - r.completion_tokens, (size_t)r.completion_tokens);
    CHECK(r.completion_tokens >= 1 && r.completion_tokens <= max_tokens);
    CHECK(r.stop_reason == LLV_STOP_EOG || r.stop_reason == LLV_STOP_LENGTH);
    char *t = strdup(r.text);
    if (out) *out = r;
    else llv_result_free(&r);
    return t;
}

static void test_generate_basics(void) {
    if (!llv_test_case("generate_basics")) return;
    llv_session *s = new_session(1, 512, 4);
    if (!s) return;
    llv_error err;
    llv_result r;
    char *a = answer(s, "Tell me a story.", 12, &r);
    CHECK_MSG(g_ascii_pieces > 0, "no ASCII piece was compared with its token's text");
    size_t n = 0;
    const int32_t *toks = llv_session_tokens(s, &n);
    CHECK(n > 0 && (int32_t)n >= r.prompt_tokens + r.completion_tokens);
    CHECK_EQ_I(r.prompt_tokens + r.completion_tokens, (int64_t)n); /* first turn: everything */
    if (r.stop_reason == LLV_STOP_EOG) CHECK(llv_token_is_eog(g_model, toks[n - 1]));
    CHECK(r.timings.prefill_s >= 0 && r.timings.decode_s >= 0);
    llv_result_free(&r);
    llv_result_free(&r); /* freeing twice is harmless after the first zeroes it */

    /* callback stop after the first piece */
    llv_session_reset(s);
    CHECK_OK(llv_session_add_text(s, "Tell me a story.", &err), &err);
    llv_sampling_params sp = greedy(12);
    pieces pc = {.stop_after = 1};
    CHECK_OK(llv_session_generate(s, &sp, on_piece, &pc, &r, &err), &err);
    if (pc.calls > 0) {
        CHECK_EQ_I(r.stop_reason, LLV_STOP_CALLBACK);
        CHECK_EQ_I(pc.calls, 1);
    }
    llv_result_free(&r);

    /* reset, then the same question gives the same greedy answer */
    llv_session_reset(s);
    CHECK(llv_session_tokens(s, &n) != NULL && n == 0);
    char *b = answer(s, "Tell me a story.", 12, NULL);
    CHECK_MSG(a && b && strcmp(a, b) == 0, "same answer after reset: '%s' vs '%s'", a ? a : "", b ? b : "");
    free(a);
    free(b);

    /* max_tokens = 1: one token, the pieces of at most one token */
    llv_session_reset(s);
    CHECK_OK(llv_session_add_text(s, "Hi", &err), &err);
    sp = greedy(1);
    CHECK_OK(llv_session_generate(s, &sp, NULL, NULL, &r, &err), &err);
    CHECK_EQ_I(r.completion_tokens, 1);
    CHECK(r.stop_reason == LLV_STOP_LENGTH || r.stop_reason == LLV_STOP_EOG);
    CHECK(r.text != NULL);
    llv_result_free(&r);
    sp.max_tokens = 0; /* out of range: the message names the field */
    CHECK_STATUS(llv_session_generate(s, &sp, NULL, NULL, &r, &err), LLV_ERR_INVALID_ARGUMENT, &err);
    CHECK_MSG(strstr(err.message, "max_tokens") != NULL, "message names max_tokens: %s", err.message);
    sp.max_tokens = 1;
    /* timeout: the callback sleeps 3 ms per piece, the limit is 1 ms */
    llv_session_reset(s);
    CHECK_OK(llv_session_add_text(s, "Tell me a story.", &err), &err);
    sp = greedy(40);
    sp.timeout_ms = 1;
    CHECK_OK(llv_session_generate(s, &sp, slow_piece, NULL, &r, &err), &err);
    CHECK_MSG(r.stop_reason == LLV_STOP_TIMEOUT || r.stop_reason == LLV_STOP_EOG, "stop reason %d",
              (int)r.stop_reason);
    CHECK(r.completion_tokens < 40);
    llv_result_free(&r);
    sp.timeout_ms = 0;
    /* result may be NULL */
    CHECK_OK(llv_session_generate(s, &sp, NULL, NULL, NULL, &err), &err);
    /* an empty conversation has nothing to generate from */
    llv_session_reset(s);
    CHECK_STATUS(llv_session_generate(s, &sp, NULL, NULL, &r, &err), LLV_ERR_STATE, &err);
    /* unknown LoRA adapter */
    CHECK_OK(llv_session_add_text(s, "Hi", &err), &err);
    sp.lora = "nope";
    CHECK_STATUS(llv_session_generate(s, &sp, NULL, NULL, &r, &err), LLV_ERR_NOT_FOUND, &err);
    llv_session_free(s);
}

static void test_multi_turn(void) {
    if (!llv_test_case("multi_turn")) return;
    llv_session *s = new_session(1, 1024, 4);
    if (!s) return;
    llv_error err;
    llv_result r1, r2;
    char *a1 = answer(s, "What is the capital of France?", 8, &r1);
    size_t n1 = 0;
    llv_session_tokens(s, &n1);
    CHECK_OK(llv_session_add_text(s, "And of Italy?", &err), &err);
    size_t n2 = 0;
    const int32_t *t2 = llv_session_tokens(s, &n2);
    CHECK(n2 > n1);
    /* the second turn is a continuation: no second BOS */
    llv_model_info info;
    llv_model_get_info(g_model, &info);
    int n_bos = 0;
    for (size_t i = 0; i < n2; i++) n_bos += t2[i] == info.bos_id;
    CHECK_EQ_I(n_bos, 1);
    /* logits after KV reuse equal those of a fresh session fed the whole history */
    const float *lg = NULL;
    CHECK_OK(llv_session_eval(s, &lg, &err), &err);
    llv_session *f = new_session(1, 1024, 4);
    const float *lf = NULL;
    if (f && lg) {
        float *copy = malloc((size_t)info.n_vocab * sizeof *copy);
        memcpy(copy, lg, (size_t)info.n_vocab * sizeof *copy);
        CHECK_OK(llv_session_add_tokens(f, t2, n2, &err), &err);
        CHECK_OK(llv_session_eval(f, &lf, &err), &err);
        if (lf) llv_check_close_f32("turn-2 logits: KV reuse vs full prefill", copy, lf, info.n_vocab, 1e-3, 1e-3);
        free(copy);
    }
    llv_session_free(f);
    llv_sampling_params sp = greedy(8);
    CHECK_OK(llv_session_generate(s, &sp, NULL, NULL, &r2, &err), &err);
    CHECK_MSG(r2.prompt_tokens == (int32_t)(n2 - n1), "second turn prompt_tokens %d == new tokens %zu",
              r2.prompt_tokens, n2 - n1);
    CHECK(r2.prompt_tokens < (int32_t)n2);
    llv_result_free(&r1);
    llv_result_free(&r2);
    free(a1);
    llv_session_free(s);
}

static void test_image_cache(void) {
    if (!llv_test_case("image_cache")) return;
    llv_model_info info;
    llv_model_get_info(g_model, &info);
    if (!info.has_vision) {
        printf("image_cache: model has no vision, skipped\n");
        return;
    }
    size_t n1, n2;
    uint8_t *img1 = llv_test_ppm(40, 30, 1, &n1), *img2 = llv_test_ppm(30, 50, 2, &n2);
    llv_session *s = new_session(1, 1024, 4);
    if (!s) return;
    llv_error err;
    llv_result r;
    CHECK_OK(llv_session_add_image(s, img1, n1, &err), &err);
    char *a = answer(s, "Describe the image.", 6, &r);
    CHECK_EQ_I(llv_session_encoder_runs(s), 1);
    CHECK_EQ_I(r.timings.n_images_encoded, 1);
    llv_result_free(&r);
    /* same image, new conversation: no encoder run, same answer */
    llv_session_reset(s);
    CHECK_OK(llv_session_add_image(s, img1, n1, &err), &err);
    char *b = answer(s, "Describe the image.", 6, &r);
    CHECK_EQ_I(llv_session_encoder_runs(s), 1);
    CHECK_EQ_I(r.timings.n_images_encoded, 0);
    CHECK_MSG(a && b && strcmp(a, b) == 0, "cached image gives the same answer");
    llv_result_free(&r);
    /* a different image runs the encoder */
    llv_session_reset(s);
    CHECK_OK(llv_session_add_image(s, img2, n2, &err), &err);
    free(answer(s, "Describe the image.", 6, NULL));
    CHECK_EQ_I(llv_session_encoder_runs(s), 2);
    /* the same image twice in one turn: one encoder run */
    llv_session_reset(s);
    CHECK_OK(llv_session_add_image(s, img1, n1, &err), &err);
    CHECK_OK(llv_session_add_image(s, img1, n1, &err), &err);
    free(answer(s, "Compare.", 4, NULL));
    CHECK_EQ_I(llv_session_encoder_runs(s), 2);
    /* a queued image with no <|image|> token is an error at generate */
    llv_session_reset(s);
    CHECK_OK(llv_session_add_image(s, img1, n1, &err), &err);
    int32_t tok = info.bos_id >= 0 ? info.bos_id : 0;
    CHECK_OK(llv_session_add_tokens(s, &tok, 1, &err), &err);
    CHECK_STATUS(llv_session_generate(s, NULL, NULL, NULL, &r, &err), LLV_ERR_STATE, &err);
    /* raw mode: <|image|> consumes the queued image; leading images stay before BOS */
    llv_session_reset(s);
    CHECK_STATUS(llv_session_add_raw(s, "<|image|>Describe", &err), LLV_ERR_STATE, &err);
    CHECK_OK(llv_session_add_image(s, img1, n1, &err), &err);
    CHECK_OK(llv_session_add_raw(s, "<|image|>Describe", &err), &err);
    size_t n = 0;
    const int32_t *toks = llv_session_tokens(s, &n);
    CHECK(n >= 3 && toks[0] == info.image_token_id && toks[1] == info.bos_id);
    /* add_messages with an image part gives the same tokens as add_image + add_text */
    llv_session_reset(s);
    CHECK_OK(llv_session_add_image(s, img2, n2, &err), &err);
    CHECK_OK(llv_session_add_text(s, "What is it?", &err), &err);
    size_t na = 0;
    const int32_t *ta = llv_session_tokens(s, &na);
    int32_t *copy = malloc(na * sizeof *copy);
    memcpy(copy, ta, na * sizeof *copy);
    llv_session_reset(s);
    llv_part parts[2] = {{.type = LLV_PART_IMAGE, .image = img2, .image_bytes = n2},
                         {.type = LLV_PART_TEXT, .text = "What is it?"}};
    llv_message um = {.role = "user", .parts = parts, .n_parts = 2};
    CHECK_OK(llv_session_add_messages(s, &um, 1, NULL, &err), &err);
    size_t nb = 0;
    const int32_t *tb = llv_session_tokens(s, &nb);
    CHECK(na == nb && memcmp(copy, tb, na * sizeof *copy) == 0);
    free(copy);
    int32_t runs = llv_session_encoder_runs(s);
    CHECK_OK(llv_session_generate(s, NULL, NULL, NULL, NULL, &err), &err);
    CHECK_EQ_I(llv_session_encoder_runs(s), runs); /* img2 is cached */
    /* a failing add_messages has no effect */
    llv_session_reset(s);
    static const uint8_t junk2[8] = "garbage";
    llv_part bad_parts[2] = {{.type = LLV_PART_IMAGE, .image = img1, .image_bytes = n1},
                             {.type = LLV_PART_IMAGE, .image = junk2, .image_bytes = sizeof junk2}};
    llv_message bm = {.role = "user", .parts = bad_parts, .n_parts = 2};
    CHECK(llv_session_add_messages(s, &bm, 1, NULL, &err) != LLV_OK);
    llv_session_tokens(s, &nb);
    CHECK_EQ_I(nb, 0);
    CHECK_OK(llv_session_add_text(s, "No image queued now.", &err), &err);
    CHECK_OK(llv_session_generate(s, NULL, NULL, NULL, NULL, &err), &err);
    /* bad image bytes and limits */
    static const uint8_t junk[16] = "not an image!!!";
    CHECK(llv_session_add_image(s, junk, sizeof junk, &err) != LLV_OK);
    CHECK_STATUS(llv_session_add_image_file(s, "/nonexistent.png", &err), LLV_ERR_IO, &err);
    llv_session_free(s);
    llv_session_params p = llv_session_default_params();
    p.max_image_pixels = 100;
    s = NULL;
    CHECK_OK(llv_session_create(g_model, &p, &s, &err), &err);
    if (s) CHECK_STATUS(llv_session_add_image(s, img1, n1, &err), LLV_ERR_LIMIT, &err);
    llv_session_free(s);
    /* cache disabled: the encoder runs every time */
    s = new_session(1, 1024, 0);
    for (int i = 0; s && i < 2; i++) {
        llv_session_reset(s);
        CHECK_OK(llv_session_add_image(s, img1, n1, &err), &err);
        free(answer(s, "Describe the image.", 2, NULL));
    }
    if (s) CHECK_EQ_I(llv_session_encoder_runs(s), 2);
    llv_session_free(s);
    free(a);
    free(b);
    free(img1);
    free(img2);
}

static void test_ctx_limit(void) {
    if (!llv_test_case("ctx_limit")) return;
    llv_error err;
    /* measure the templated prompt, then make a context just a bit larger */
    llv_session *m = new_session(1, 1024, 4);
    if (!m) return;
    CHECK_OK(llv_session_add_text(m, "Hi", &err), &err);
    size_t n_hi = 0;
    llv_session_tokens(m, &n_hi);
    llv_session_free(m);
    int32_t n_ctx = (int32_t)n_hi + 3;
    llv_session *s = new_session(1, n_ctx, 4);
    if (!s) return;
    char text[2048];
    text[0] = 0;
    for (int i = 0; i < 100; i++) strcat(text, "word ");
    CHECK_STATUS(llv_session_add_text(s, text, &err), LLV_ERR_CONTEXT, &err);
    CHECK_MSG(strstr(err.message, "n_ctx") != NULL, "message names n_ctx: %s", err.message);
    size_t n = 9;
    llv_session_tokens(s, &n);
    CHECK_EQ_I(n, 0); /* nothing was added */
    /* the context fills during generation */
    CHECK_OK(llv_session_add_text(s, "Hi", &err), &err);
    llv_sampling_params sp = greedy(1000);
    llv_result r;
    CHECK_OK(llv_session_generate(s, &sp, NULL, NULL, &r, &err), &err);
    CHECK(r.stop_reason == LLV_STOP_CONTEXT || r.stop_reason == LLV_STOP_EOG);
    CHECK(r.completion_tokens <= 3);
    llv_session_tokens(s, &n);
    CHECK(n <= (size_t)n_ctx);
    /* a full context: nothing more fits */
    if (r.stop_reason == LLV_STOP_CONTEXT) CHECK_STATUS(llv_session_add_text(s, "More", &err), LLV_ERR_CONTEXT, &err);
    llv_result_free(&r);
    llv_session_free(s);
}

static void test_threads(void) {
    if (!llv_test_case("threads")) return;
    llv_session *s1 = new_session(1, 512, 4), *s2 = new_session(2, 512, 4);
    if (!s1 || !s2) {
        llv_session_free(s1);
        llv_session_free(s2);
        return;
    }
    char *a = answer(s1, "Count to ten.", 16, NULL);
    char *b = answer(s2, "Count to ten.", 16, NULL);
    CHECK_MSG(a && b && strcmp(a, b) == 0, "1 vs 2 threads: '%s' vs '%s'", a ? a : "", b ? b : "");
    size_t n1, n2;
    const int32_t *t1 = llv_session_tokens(s1, &n1), *t2 = llv_session_tokens(s2, &n2);
    CHECK(n1 == n2 && memcmp(t1, t2, n1 * sizeof *t1) == 0);
    free(a);
    free(b);
    llv_session_free(s1);
    llv_session_free(s2);
}

static void test_memory(void) {
    if (!llv_test_case("memory")) return;
    llv_session *s = new_session(1, 256, 4);
    if (!s) return;
    uint64_t kv = 0, tot = 0;
    llv_session_memory(s, &kv, &tot);
    CHECK(kv > 0 && tot >= kv);
    llv_session_free(s);
}

/* ------------------------------------------------------------------------- */
/* What an embedder relies on                                                 */
/* ------------------------------------------------------------------------- */

/* DT_SONAME of an ELF64 shared library (malloc'd), or NULL. */
static char *elf_soname(const char *path) {
    size_t n = 0;
    char *buf = llv_test_read_file(path, &n), *out = NULL;
    if (!buf || n < sizeof(Elf64_Ehdr) || memcmp(buf, ELFMAG, SELFMAG) != 0 || buf[EI_CLASS] != ELFCLASS64) {
        free(buf);
        return NULL;
    }
    const Elf64_Ehdr *eh = (const Elf64_Ehdr *)buf;
    const Elf64_Shdr *sh = (const Elf64_Shdr *)(buf + eh->e_shoff);
    if (eh->e_shoff + (uint64_t)eh->e_shnum * sizeof *sh > n) eh = NULL;
    for (int i = 0; eh && !out && i < eh->e_shnum; i++) {
        if (sh[i].sh_type != SHT_DYNAMIC || sh[i].sh_link >= eh->e_shnum) continue;
        const Elf64_Shdr *str = &sh[sh[i].sh_link];
        if (sh[i].sh_offset + sh[i].sh_size > n || str->sh_offset + str->sh_size > n) break;
        const Elf64_Dyn *d = (const Elf64_Dyn *)(buf + sh[i].sh_offset);
        for (size_t k = 0; k < sh[i].sh_size / sizeof *d && d[k].d_tag != DT_NULL; k++)
            if (d[k].d_tag == DT_SONAME && d[k].d_un.d_val < str->sh_size)
                out = strndup(buf + str->sh_offset + d[k].d_un.d_val, str->sh_size - d[k].d_un.d_val);
    }
    free(buf);
    return out;
}

/* The version in the header, in llv_version*() and in the shared library's
 * soname (libllv.so.LLV_ABI_VERSION), which answers with the same number. */
static void test_version(void) {
    if (!llv_test_case("version")) return;
    char want[32];
    snprintf(want, sizeof want, "%d.%d.%d", LLV_VERSION_MAJOR, LLV_VERSION_MINOR, LLV_VERSION_PATCH);
    CHECK_MSG(strcmp(llv_version(), want) == 0, "llv_version() = %s, header %s", llv_version(), want);
    CHECK_EQ_I(llv_version_number(), LLV_VERSION_NUMBER);
    CHECK_EQ_I(LLV_VERSION_NUMBER, LLV_VERSION_MAJOR * 10000 + LLV_VERSION_MINOR * 100 + LLV_VERSION_PATCH);
    CHECK(LLV_ABI_VERSION >= 1);
    const char *bd = getenv("LLV_BUILD_DIR");
    if (!bd) {
        printf("(LLV_BUILD_DIR unset: the shared library is not checked)\n");
        return;
    }
    char *lib = llv_test_path(bd, "lib/libllv.so");
    char *so = elf_soname(lib), wantso[32];
    snprintf(wantso, sizeof wantso, "libllv.so.%d", LLV_ABI_VERSION);
    CHECK_MSG(so && strcmp(so, wantso) == 0, "soname of %s: %s (expected %s)", lib, so ? so : "(none)", wantso);
    void *h = dlopen(lib, RTLD_NOW | RTLD_LOCAL);
    CHECK_MSG(h != NULL, "dlopen %s: %s", lib, dlerror());
    if (h) {
        int (*number)(void) = NULL;
        *(void **)&number = dlsym(h, "llv_version_number");
        CHECK_MSG(number && number() == LLV_VERSION_NUMBER, "the shared library's llv_version_number()");
        /* the defaults functions are inline in llv.h; the library exports the init behind them */
        CHECK(dlsym(h, "llv_session_params_init") != NULL && dlsym(h, "llv_model_params_init") != NULL);
        dlclose(h);
    }
    free(so);
    free(lib);
}

typedef struct logbook {
    int  n_info, n_warn, n_other;
    char all[4096];
} logbook;

static void log_cb(llv_log_level level, const char *msg, void *user) {
    logbook *b = user;
    if (level == LLV_LOG_INFO) b->n_info++;
    else if (level == LLV_LOG_WARN) b->n_warn++;
    else b->n_other++;
    if (level == LLV_LOG_DEBUG) return;
    size_t at = strlen(b->all);
    snprintf(b->all + at, sizeof b->all - at, "%s\n", msg);
}

static void dirty(llv_error *e) {
    e->status = LLV_ERR_INTERNAL;
    snprintf(e->message, sizeof e->message, "stale message");
}

/* A successful call leaves err cleared, whatever it held before. */
#define CHECK_CLEAN(call, e)                                                                                       \
    do {                                                                                                           \
        dirty(e);                                                                                                  \
        llv_status s_ = (call);                                                                                    \
        CHECK_MSG(s_ == LLV_OK && (e)->status == LLV_OK && (e)->message[0] == 0,                                  \
                  "%s -> %s, err {%s, '%s'} (cleared on success)", #call, llv_status_name(s_),                     \
                  llv_status_name((e)->status), (e)->message);                                                     \
    } while (0)
/* A failing call returns `want` and fills err with it and a message containing `needle`. */
#define CHECK_FAILS(call, want, needle, e)                                                                         \
    do {                                                                                                           \
        dirty(e);                                                                                                  \
        llv_status s_ = (call);                                                                                    \
        CHECK_MSG(s_ == (want) && (e)->status == s_ && strstr((e)->message, (needle)) != NULL,                    \
                  "%s -> %s (expected %s), err {%s, '%s'} (expected to name '%s')", #call, llv_status_name(s_),    \
                  llv_status_name(want), llv_status_name((e)->status), (e)->message, (needle));                    \
    } while (0)

/* HF tokenizer_config.json with a chat template llv cannot render. */
static bool set_chat_template(const char *hf_dir, const char *tmpl) {
    char *path = llv_test_path(hf_dir, "tokenizer_config.json");
    char *txt = llv_test_read_file(path, NULL);
    cJSON *o = txt ? cJSON_Parse(txt) : NULL;
    bool ok = o && cJSON_ReplaceItemInObject(o, "chat_template", cJSON_CreateString(tmpl));
    char *out = ok ? cJSON_Print(o) : NULL;
    FILE *f = out ? fopen(path, "wb") : NULL;
    ok = f && fputs(out, f) >= 0;
    if (f) ok = fclose(f) == 0 && ok;
    free(out);
    cJSON_Delete(o);
    free(txt);
    free(path);
    return ok;
}

/* Every public call that takes an llv_error, each params struct's size rule
 * and the log callbacks, on tiny llv_synth models. */
static void test_embedder(void) {
    if (!llv_test_case("embedder")) return;
    char *dir = llv_test_tmpdir();
    char *tiny = llv_test_path(dir, "tiny.gguf"), *hf = llv_test_path(dir, "hf"), *conv = llv_test_path(dir, "c.gguf"),
         *q8 = llv_test_path(dir, "q8.gguf"), *lora_dir = llv_test_path(dir, "lora"),
         *ad = llv_test_path(dir, "ad.gguf"), *merged = llv_test_path(dir, "merged.gguf"),
         *img = llv_test_path(dir, "img.ppm"), *quiet = llv_test_path(dir, "quiet.txt"),
         *none = llv_test_path(dir, "none.gguf");
    llv_error e;
    logbook lb;
    llv_type ty;
    CHECK_CLEAN(llv_type_from_name("q8_0", &ty, &e), &e);
    CHECK_FAILS(llv_type_from_name("q9_9", &ty, &e), LLV_ERR_INVALID_ARGUMENT, "q9_9", &e);

    /* the tools' params: log messages reach the callback with its user pointer */
    memset(&lb, 0, sizeof lb);
    llv_synth_params sp = llv_synth_default_params();
    CHECK_EQ_I(sp.size, sizeof sp);
    sp.log = log_cb;
    sp.log_user = &lb;
    CHECK_CLEAN(llv_synth(tiny, &sp, &e), &e);
    CHECK_MSG(lb.n_info > 0 && strstr(lb.all, tiny), "llv_synth logs what it wrote: '%s'", lb.all);
    sp.hf_dir = true;
    CHECK_CLEAN(llv_synth(hf, &sp, &e), &e);
    CHECK(set_chat_template(hf, "{% for m in messages %}[{{ m['content'] }}]{% endfor %}"));
    llv_convert_params cp = llv_convert_default_params();
    CHECK_EQ_I(cp.size, sizeof cp);
    cp.type = LLV_TYPE_F32;
    cp.log = log_cb;
    cp.log_user = &lb;
    memset(&lb, 0, sizeof lb);
    CHECK_CLEAN(llv_convert(hf, conv, &cp, &e), &e);
    CHECK_MSG(lb.n_info > 0 && strstr(lb.all, conv), "llv_convert logs what it wrote: '%s'", lb.all);
    memset(&lb, 0, sizeof lb);
    CHECK_CLEAN(llv_quantize(tiny, q8, LLV_TYPE_Q8_0, &cp, &e), &e);
    CHECK_MSG(lb.n_info > 0 && strstr(lb.all, q8), "llv_quantize logs what it wrote: '%s'", lb.all);

    /* the model's log: the load (naming the file), a chat template it cannot render, adapters */
    llv_model_params mp = llv_model_default_params();
    CHECK_EQ_I(mp.size, sizeof mp);
    mp.log = log_cb;
    mp.log_user = &lb;
    llv_model *m = NULL;
    memset(&lb, 0, sizeof lb);
    CHECK_CLEAN(llv_model_load(conv, &mp, &m, &e), &e);
    CHECK_MSG(lb.n_warn == 1 && strstr(lb.all, "chat template") && lb.n_info > 0 && strstr(lb.all, conv),
              "the model's log gets the load and the template warning: '%s'", lb.all);
    llv_model_free(m);
    m = NULL;
    CHECK_FAILS(llv_model_load(none, &mp, &m, &e), LLV_ERR_IO, "none.gguf", &e);
    CHECK_CLEAN(llv_model_load(tiny, &mp, &m, &e), &e);
    if (!m) goto done;
    CHECK_CLEAN(llv_synth_lora(lora_dir, "tiny", 4, 7, &e), &e);
    CHECK_CLEAN(llv_convert_lora(lora_dir, NULL, ad, &cp, &e), &e);
    memset(&lb, 0, sizeof lb);
    CHECK_CLEAN(llv_model_lora_add(m, "a", ad, 1.0f, &e), &e);
    CHECK_MSG(lb.n_info > 0, "llv_model_lora_add logs to the model's log: '%s'", lb.all);
    CHECK_CLEAN(llv_lora_merge(tiny, ad, 0.5f, merged, &e), &e);

    /* tokens, chat, tool calls */
    int32_t toks[64];
    size_t nt = 0, nb = 0;
    char text[1024];
    CHECK_CLEAN(llv_tokenize(m, "hello world", 11, LLV_TOKENIZE_ADD_BOS, toks, 64, &nt, &e), &e);
    CHECK_CLEAN(llv_detokenize(m, toks, nt, true, text, sizeof text, &nb, &e), &e);
    llv_message msg = {.role = "user", .content = "hi"};
    llv_chat_params chp = llv_chat_default_params();
    CHECK_EQ_I(chp.size, sizeof chp);
    chp.date_string = "26 Jul 2024";
    CHECK_CLEAN(llv_chat_render(m, &msg, 1, &chp, text, sizeof text, &nb, &e), &e);
    llv_tool_call *calls = NULL;
    size_t nc = 0;
    const char *tc = "{\"name\": \"f\", \"parameters\": {}}";
    CHECK_CLEAN(llv_parse_tool_calls(tc, strlen(tc), &calls, &nc, &e), &e);
    llv_tool_calls_free(calls, nc);

    /* a session through every input call */
    llv_session_params ssp = llv_session_default_params();
    CHECK_EQ_I(ssp.size, sizeof ssp);
    ssp.n_ctx = 512;
    ssp.n_threads = 1;
    llv_memory_plan plan;
    CHECK_CLEAN(llv_memory_plan_get(m, &ssp, &plan, &e), &e);
    llv_session *s = NULL;
    CHECK_CLEAN(llv_session_create(m, &ssp, &s, &e), &e);
    llv_sampling_params gp = llv_sampling_default_params();
    CHECK_EQ_I(gp.size, sizeof gp);
    gp.temperature = 0.0f;
    gp.max_tokens = 2;
    CHECK_CLEAN(llv_sampling_params_validate(&gp, &e), &e);
    if (s) {
        size_t ni = 0;
        uint8_t *ppm = llv_test_ppm(32, 24, 3, &ni);
        FILE *f = fopen(img, "wb");
        CHECK(f && fwrite(ppm, 1, ni, f) == ni);
        if (f) fclose(f);
        CHECK_CLEAN(llv_session_add_image(s, ppm, ni, &e), &e);
        CHECK_CLEAN(llv_session_add_image_file(s, img, &e), &e);
        free(ppm);
        CHECK_CLEAN(llv_session_add_text(s, "Describe both.", &e), &e);
        llv_result r;
        CHECK_CLEAN(llv_session_generate(s, &gp, NULL, NULL, &r, &e), &e);
        llv_result_free(&r);
        CHECK_CLEAN(llv_session_add_tokens(s, &toks[nt - 1], 1, &e), &e);
        const float *lg = NULL;
        CHECK_CLEAN(llv_session_eval(s, &lg, &e), &e);
        CHECK_CLEAN(llv_session_add_raw(s, " more", &e), &e);
        CHECK_CLEAN(llv_session_add_messages(s, &msg, 1, &chp, &e), &e);
        CHECK_CLEAN(llv_session_set_lora(s, "a", &e), &e);
        CHECK_FAILS(llv_session_set_lora(s, "nope", &e), LLV_ERR_NOT_FOUND, "nope", &e);
        /* params structs with size 0 (a zeroed struct): refused, naming the defaults function */
        llv_chat_params zc;
        memset(&zc, 0, sizeof zc);
        CHECK_FAILS(llv_session_add_messages(s, &msg, 1, &zc, &e), LLV_ERR_INVALID_ARGUMENT,
                    "llv_chat_default_params()", &e);
        llv_sampling_params zg;
        memset(&zg, 0, sizeof zg);
        CHECK_FAILS(llv_session_generate(s, &zg, NULL, NULL, &r, &e), LLV_ERR_INVALID_ARGUMENT,
                    "llv_sampling_default_params()", &e);
        llv_result_free(&r); /* zeroed by the failed call */
        llv_session_free(s);
    }
    llv_engine_params ep = llv_engine_default_params();
    CHECK_EQ_I(ep.size, sizeof ep);
    ep.n_threads = 1;
    llv_engine *eng = NULL;
    CHECK_CLEAN(llv_engine_create(m, &ep, &eng, &e), &e);
    llv_engine_free(eng);

    /* size 0 at every other consumer */
    {
        llv_model_params zm;
        llv_session_params zs;
        llv_engine_params ze;
        llv_chat_params zc;
        llv_sampling_params zg;
        llv_convert_params zv;
        llv_synth_params zy;
        memset(&zm, 0, sizeof zm), memset(&zs, 0, sizeof zs), memset(&ze, 0, sizeof ze), memset(&zc, 0, sizeof zc);
        memset(&zg, 0, sizeof zg), memset(&zv, 0, sizeof zv), memset(&zy, 0, sizeof zy);
        llv_model *m2 = NULL;
        CHECK_FAILS(llv_model_load(tiny, &zm, &m2, &e), LLV_ERR_INVALID_ARGUMENT, "llv_model_default_params()", &e);
        CHECK(m2 == NULL);
        CHECK_FAILS(llv_session_create(m, &zs, &s, &e), LLV_ERR_INVALID_ARGUMENT, "llv_session_default_params()",
                    &e);
        CHECK_FAILS(llv_memory_plan_get(m, &zs, &plan, &e), LLV_ERR_INVALID_ARGUMENT, "llv_session_default_params()",
                    &e);
        CHECK_FAILS(llv_engine_create(m, &ze, &eng, &e), LLV_ERR_INVALID_ARGUMENT, "llv_engine_default_params()", &e);
        CHECK_FAILS(llv_chat_render(m, &msg, 1, &zc, text, sizeof text, &nb, &e), LLV_ERR_INVALID_ARGUMENT,
                    "llv_chat_default_params()", &e);
        CHECK_FAILS(llv_sampling_params_validate(&zg, &e), LLV_ERR_INVALID_ARGUMENT, "llv_sampling_default_params()",
                    &e);
        CHECK_FAILS(llv_convert(hf, merged, &zv, &e), LLV_ERR_INVALID_ARGUMENT, "llv_convert_default_params()", &e);
        CHECK_FAILS(llv_quantize(tiny, merged, LLV_TYPE_Q8_0, &zv, &e), LLV_ERR_INVALID_ARGUMENT,
                    "llv_convert_default_params()", &e);
        CHECK_FAILS(llv_convert_lora(lora_dir, NULL, merged, &zv, &e), LLV_ERR_INVALID_ARGUMENT,
                    "llv_convert_default_params()", &e);
        CHECK_FAILS(llv_synth(merged, &zy, &e), LLV_ERR_INVALID_ARGUMENT, "llv_synth_default_params()", &e);
    }
    /* a caller built against a newer llv.h: its struct is larger; init zeroes the bytes this
     * library does not know, which are then accepted; a field set there is refused */
    {
        struct {
            llv_session_params p;
            uint64_t           newer[2];
        } big;
        memset(&big, 0xab, sizeof big);
        llv_session_params_init(&big.p, sizeof big);
        CHECK(big.p.size == sizeof big && big.newer[0] == 0 && big.newer[1] == 0 && big.p.n_batch == 512);
        big.p.n_ctx = 128;
        big.p.n_threads = 1;
        s = NULL;
        CHECK_CLEAN(llv_session_create(m, &big.p, &s, &e), &e);
        llv_session_free(s);
        big.newer[1] = 5;
        CHECK_FAILS(llv_session_create(m, &big.p, &s, &e), LLV_ERR_UNSUPPORTED, "llv_session_params", &e);
        /* init for an older, smaller struct writes only its bytes */
        union {
            llv_session_params p;
            unsigned char      b[sizeof(llv_session_params)];
        } old;
        memset(&old, 0xab, sizeof old);
        size_t cut = offsetof(llv_session_params, max_images);
        llv_session_params_init(&old.p, cut);
        CHECK(old.p.size == cut && old.p.n_batch == 512 && old.b[cut] == 0xab);
        /* smaller than the first layout: refused */
        CHECK_FAILS(llv_session_create(m, &old.p, &s, &e), LLV_ERR_INVALID_ARGUMENT, "first layout", &e);
        /* llv_sampling_params as before logprobs were appended: accepted, logprobs off */
        union {
            llv_sampling_params p;
            unsigned char       b[sizeof(llv_sampling_params)];
        } osp;
        memset(&osp, 0xab, sizeof osp);
        size_t cut_sp = offsetof(llv_sampling_params, logprobs);
        llv_sampling_params_init(&osp.p, cut_sp);
        CHECK(osp.p.size == cut_sp && osp.b[cut_sp] == 0xab);
        CHECK_CLEAN(llv_sampling_params_validate(&osp.p, &e), &e);
        osp.p.max_tokens = 2;
        s = NULL;
        CHECK_CLEAN(llv_session_create(m, NULL, &s, &e), &e);
        if (s) {
            CHECK_CLEAN(llv_session_add_text(s, "Hi", &e), &e);
            CHECK_CLEAN(llv_session_generate(s, &osp.p, NULL, NULL, NULL, &e), &e);
            size_t n_lp = 1;
            CHECK(llv_session_logprobs(s, &n_lp) == NULL && n_lp == 0);
        }
        llv_session_free(s);
        osp.p.size = cut_sp - 1;
        CHECK_FAILS(llv_sampling_params_validate(&osp.p, &e), LLV_ERR_INVALID_ARGUMENT, "first layout", &e);
    }

    /* the library never prints: no log callback, stdout and stderr stay empty */
    {
        fflush(stdout);
        fflush(stderr);
        int o1 = dup(1), o2 = dup(2), fd = open(quiet, O_CREAT | O_TRUNC | O_WRONLY, 0600);
        dup2(fd, 1);
        dup2(fd, 2);
        llv_model *m3 = NULL, *m4 = NULL, *m5 = NULL;
        llv_session *s3 = NULL;
        llv_result r3;
        memset(&r3, 0, sizeof r3);
        llv_convert_params qp = llv_convert_default_params();
        llv_status st[7] = {
            llv_model_load(conv, NULL, &m5, &e), /* its template warning has no log to go to */
            llv_model_load(none, NULL, &m4, &e),
            llv_model_load(tiny, NULL, &m3, &e),
            m3 ? llv_session_create(m3, NULL, &s3, &e) : LLV_ERR_INTERNAL,
            s3 ? llv_session_add_text(s3, "hi", &e) : LLV_ERR_INTERNAL,
            s3 ? llv_session_generate(s3, &gp, NULL, NULL, &r3, &e) : LLV_ERR_INTERNAL,
            llv_quantize(tiny, q8, LLV_TYPE_Q8_0, &qp, &e),
        };
        llv_result_free(&r3);
        llv_session_free(s3);
        llv_model_free(m3);
        llv_model_free(m5);
        fflush(stdout);
        fflush(stderr);
        dup2(o1, 1);
        dup2(o2, 2);
        close(o1), close(o2), close(fd);
        struct stat stt;
        CHECK(stat(quiet, &stt) == 0 && stt.st_size == 0);
        int bad = 0;
        for (int i = 0; i < 7; i++) bad += st[i] != (i == 1 ? LLV_ERR_IO : LLV_OK);
        CHECK_MSG(bad == 0, "quiet calls: %s %s %s %s %s %s %s (%s)", llv_status_name(st[0]), llv_status_name(st[1]),
                  llv_status_name(st[2]), llv_status_name(st[3]), llv_status_name(st[4]), llv_status_name(st[5]),
                  llv_status_name(st[6]), e.message);
    }
done:
    llv_model_free(m);
    char cmd[1200];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    CHECK(system(cmd) == 0);
    free(tiny), free(hf), free(conv), free(q8), free(lora_dir), free(ad), free(merged), free(img), free(quiet);
    free(none), free(dir);
}

int main(int argc, char **argv) {
    llv_test_init(argc, argv);
    test_version();
    test_embedder();
    printf("system: %s\n", llv_system_info());
    test_null_and_err();
    const char *src = getenv("LLV_SOURCE_DIR");
    char *path = src ? llv_test_path(src, "models/demo.gguf") : NULL;
    llv_error err;
    FILE *f = path ? fopen(path, "rb") : NULL;
    if (f) fclose(f);
    else {
        /* no demo model yet: make a tiny one */
        free(path);
        char *dir = llv_test_tmpdir();
        path = llv_test_path(dir, "tiny.gguf");
        free(dir);
        llv_synth_params sp = llv_synth_default_params();
        sp.preset = "tiny";
        if (llv_synth(path, &sp, &err) != LLV_OK) {
            free(path);
            llv_test_skip("no models/demo.gguf and llv_synth failed");
        }
    }
    if (llv_model_load(path, NULL, &g_model, &err) != LLV_OK) {
        printf("model load failed: %s\n", err.message);
        CHECK(0);
        free(path);
        return llv_test_finish();
    }
    printf("model: %s\n", path);
    char *synth_path = (src && strstr(path, "/models/demo.gguf")) ? NULL : path;
    if (!synth_path) free(path);
    test_bad_params();
    test_buffer_too_small();
    test_generate_basics();
    test_multi_turn();
    test_image_cache();
    test_ctx_limit();
    test_threads();
    test_memory();
    llv_model_free(g_model);
    if (synth_path) { /* the tiny model made above, and its directory */
        remove(synth_path);
        char *slash = strrchr(synth_path, '/');
        if (slash) *slash = 0;
        rmdir(synth_path);
    }
    free(synth_path);
    return llv_test_finish();
}
