/* test-server-api - the server's request mapping (tools/server/api.c) and
 * response formatting (format.c), Ollama's (ollama.c), without HTTP (a synthetic
 * model only for the logprobs entries' token bytes). */
#include "llv-tools.h"
#include "testing.h"

#include "api.h"
#include "format.h"
#include "ollama.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const srv_limits LIM = {0, 0, 1 << 20, false, NULL, NULL, NULL};

/* Parses `body`; expects failure with `http` and an error naming `field`. */
static void expect_err(srv_api api, const char *body, int http, int code, const char *field) {
    srv_request r;
    srv_error e;
    memset(&e, 0, sizeof e);
    bool ok = srv_request_parse(body, strlen(body), api, &LIM, &r, &e);
    CHECK_MSG(!ok, "expected failure for %s", body);
    if (!ok) {
        CHECK_MSG(e.http == http, "http %d, expected %d for %s (%s)", e.http, http, body, e.message);
        CHECK_MSG(e.code == code, "code %d, expected %d for %s", e.code, code, body);
        if (field) CHECK_MSG(strstr(e.message, field) != NULL, "message '%s' names '%s'", e.message, field);
        if (api == SRV_API_WORKERS && code == SRV_CODE_BAD_INPUT)
            CHECK_MSG(!strncmp(e.message, "AiError: Bad input: ", 20), "hosted wording: %s", e.message);
    }
    srv_request_free(&r);
}

static bool parse_ok(srv_api api, const char *body, srv_request *r) {
    srv_error e;
    memset(&e, 0, sizeof e);
    bool ok = srv_request_parse(body, strlen(body), api, &LIM, r, &e);
    CHECK_MSG(ok, "parse %s: %s", body, e.message);
    return ok;
}

static void test_depth_and_base64(void) {
    if (!llv_test_case("depth_base64")) return;
    CHECK_EQ_I(srv_json_depth("{\"a\":[1,{\"b\":2}]}", 17, 64), 3);
    CHECK_EQ_I(srv_json_depth("{\"a\":\"[[[[\"}", 12, 64), 1); /* brackets in strings don't count */
    CHECK_EQ_I(srv_json_depth("[[[[[", 5, 3), 4);
    uint8_t *out;
    size_t n;
    CHECK(srv_base64_decode("aGVsbG8=", 8, &out, &n) && n == 5 && !memcmp(out, "hello", 5));
    free(out);
    CHECK(srv_base64_decode("aGVsbG8", 7, &out, &n) && n == 5);
    free(out);
    CHECK(!srv_base64_decode("aGV*bG8=", 8, &out, &n));
    CHECK(!srv_base64_decode("a", 1, &out, &n));
    CHECK(!srv_base64_decode("aGVsbG8=x", 9, &out, &n));
    const uint8_t bytes[] = {0, 255, 1, 2, 3};
    char *enc = srv_base64_encode(bytes, 5);
    CHECK(enc && !strcmp(enc, "AP8BAgM="));
    CHECK(srv_base64_decode(enc, strlen(enc), &out, &n) && n == 5 && !memcmp(out, bytes, 5));
    free(out);
    free(enc);
}

static void test_prompt_variant(void) {
    if (!llv_test_case("prompt")) return;
    srv_request r;
    if (parse_ok(SRV_API_WORKERS, "{\"prompt\":\"hi\"}", &r)) {
        CHECK(r.kind == SRV_KIND_PROMPT && !r.raw && !r.stream);
        CHECK_EQ_I(r.sampling.max_tokens, 256);
        CHECK_CLOSE(r.sampling.temperature, 0.6, 1e-6);
        CHECK_EQ_I(r.n_msgs, 1);
        CHECK(r.msgs && !strcmp(r.msgs[0].role, "user") && !strcmp(r.msgs[0].content, "hi"));
    }
    srv_request_free(&r);
    if (parse_ok(SRV_API_WORKERS,
                 "{\"prompt\":\"x\",\"max_tokens\":7,\"temperature\":0,\"top_p\":0.5,\"top_k\":3,\"seed\":42,"
                 "\"repetition_penalty\":1.1,\"frequency_penalty\":0.2,\"presence_penalty\":0.3,\"stream\":true,"
                 "\"image\":[137,80,78,71]}",
                 &r)) {
        CHECK_EQ_I(r.sampling.max_tokens, 7);
        CHECK_CLOSE(r.sampling.temperature, 0, 0);
        CHECK_CLOSE(r.sampling.top_p, 0.5, 1e-6);
        CHECK_EQ_I(r.sampling.top_k, 3);
        CHECK_EQ_I(r.sampling.seed, 42);
        CHECK_CLOSE(r.sampling.repetition_penalty, 1.1, 1e-6);
        CHECK(r.stream);
        /* one user turn: image part first, then the text */
        CHECK_EQ_I(r.n_images, 1);
        CHECK(r.n_msgs == 1 && r.msgs[0].n_parts == 2 && r.msgs[0].parts[0].type == LLV_PART_IMAGE &&
              r.msgs[0].parts[0].image_bytes == 4 && r.msgs[0].parts[1].type == LLV_PART_TEXT);
    }
    srv_request_free(&r);
    /* base64 image string, raw with <|image|> */
    if (parse_ok(SRV_API_WORKERS, "{\"prompt\":\"<|image|>hi\",\"raw\":true,\"image\":\"iVBORw0KGgo=\"}", &r)) {
        CHECK(r.raw && r.n_images == 1 && r.images[0].n == 8 && r.images[0].bytes[0] == 0x89);
        CHECK_EQ_I(r.n_msgs, 0);
    }
    srv_request_free(&r);
    /* seed at the top of its range stays exact */
    if (parse_ok(SRV_API_WORKERS, "{\"prompt\":\"x\",\"seed\":9999999999}", &r)) CHECK(r.sampling.seed == 9999999999ull);
    srv_request_free(&r);
}

static void test_messages_variant(void) {
    if (!llv_test_case("messages")) return;
    srv_request r;
    const char *b = "{\"messages\":[{\"role\":\"system\",\"content\":\"be brief\"},"
                    "{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"what?\"},"
                    "{\"type\":\"image_url\",\"image_url\":{\"url\":\"data:image/png;base64,iVBORw0KGgo=\"}}]},"
                    "{\"role\":\"assistant\",\"content\":{\"type\":\"text\",\"text\":\"a cat\"}}],"
                    "\"tools\":[{\"name\":\"f\",\"description\":\"d\",\"parameters\":{\"type\":\"object\",\"properties\":{}}}]}";
    if (parse_ok(SRV_API_WORKERS, b, &r)) {
        CHECK(r.kind == SRV_KIND_MESSAGES);
        CHECK_EQ_I(r.n_msgs, 3);
        CHECK(!strcmp(r.msgs[0].content, "be brief"));
        CHECK(r.msgs[1].n_parts == 2 && r.msgs[1].parts[1].type == LLV_PART_IMAGE &&
              r.msgs[1].parts[1].image_bytes == 8);
        CHECK(r.msgs[2].n_parts == 1 && !strcmp(r.msgs[2].parts[0].text, "a cat"));
        CHECK(r.has_tools && r.tools_json && r.tools_json[0] == '[');
    }
    srv_request_free(&r);
    /* deprecated top-level image goes first into the first user message */
    if (parse_ok(SRV_API_WORKERS, "{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"image\":[255,216,255]}", &r)) {
        CHECK(r.msgs[0].n_parts == 2 && r.msgs[0].parts[0].type == LLV_PART_IMAGE &&
              !strcmp(r.msgs[0].parts[1].text, "x"));
    }
    srv_request_free(&r);
    if (parse_ok(SRV_API_WORKERS,
                 "{\"messages\":[{\"role\":\"system\",\"content\":[{\"type\":\"text\",\"text\":\"s\"}]},"
                 "{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"u\"}]}],\"image\":\"/9j/\"}",
                 &r)) {
        CHECK(r.msgs[0].n_parts == 1 && r.msgs[1].n_parts == 2 && r.msgs[1].parts[0].type == LLV_PART_IMAGE &&
              !strcmp(r.msgs[1].parts[1].text, "u") && !strcmp(r.msgs[0].parts[0].text, "s"));
    }
    srv_request_free(&r);
}

static void test_openai(void) {
    if (!llv_test_case("openai")) return;
    srv_request r;
    const char *b = "{\"model\":\"m\",\"messages\":[{\"role\":\"developer\",\"content\":\"s\"},"
                    "{\"role\":\"user\",\"content\":\"hi\"},"
                    "{\"role\":\"assistant\",\"content\":null,\"tool_calls\":[{\"id\":\"c1\",\"type\":\"function\","
                    "\"function\":{\"name\":\"f\",\"arguments\":\"{\\\"a\\\":1}\"}}]},"
                    "{\"role\":\"tool\",\"tool_call_id\":\"c1\",\"content\":\"42\"}],"
                    "\"max_completion_tokens\":5,\"stream\":true,\"stream_options\":{\"include_usage\":true},"
                    "\"stop\":[\"END\",\"\\n\\n\"],\"seed\":0}";
    if (parse_ok(SRV_API_OPENAI, b, &r)) {
        CHECK(!strcmp(r.msgs[0].role, "system"));
        CHECK(r.msgs[2].tool_call_name && !strcmp(r.msgs[2].tool_call_name, "f") &&
              !strcmp(r.msgs[2].tool_call_arguments, "{\"a\":1}"));
        CHECK(!strcmp(r.msgs[3].role, "tool"));
        CHECK_EQ_I(r.sampling.max_tokens, 5);
        CHECK(r.stream && r.include_usage);
        CHECK_EQ_I(r.n_stop, 2);
        CHECK(!strcmp(r.model, "m"));
    }
    srv_request_free(&r);
    /* tool_choice none drops the tools */
    if (parse_ok(SRV_API_OPENAI,
                 "{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],\"tool_choice\":\"none\","
                 "\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"f\"}}]}",
                 &r))
        CHECK(!r.has_tools);
    srv_request_free(&r);
}

static void test_errors(void) {
    if (!llv_test_case("errors")) return;
    const srv_api W = SRV_API_WORKERS, O = SRV_API_OPENAI;
    expect_err(W, "{\"prompt\":", 400, SRV_CODE_BAD_INPUT, "malformed JSON");
    expect_err(W, "{\"prompt\":\"x\"} trailing", 400, SRV_CODE_BAD_INPUT, "malformed JSON");
    expect_err(W, "[1,2]", 400, SRV_CODE_BAD_INPUT, "expected object");
    expect_err(W, "{}", 400, SRV_CODE_BAD_INPUT, "'prompt'");
    expect_err(W, "{\"prompt\":\"x\",\"messages\":[]}", 400, SRV_CODE_BAD_INPUT, "not both");
    expect_err(W, "{\"prompt\":5}", 400, SRV_CODE_BAD_INPUT, "prompt");
    expect_err(W, "{\"prompt\":\"\"}", 400, SRV_CODE_BAD_INPUT, "prompt");
    expect_err(W, "{\"prompt\":\"x\",\"max_tokens\":1.5}", 400, SRV_CODE_BAD_INPUT, "max_tokens");
    expect_err(W, "{\"prompt\":\"x\",\"max_tokens\":\"10\"}", 400, SRV_CODE_BAD_INPUT, "max_tokens");
    expect_err(W, "{\"prompt\":\"x\",\"max_tokens\":0}", 400, SRV_CODE_BAD_INPUT, "max_tokens");
    expect_err(W, "{\"prompt\":\"x\",\"max_tokens\":1e300}", 400, SRV_CODE_BAD_INPUT, "max_tokens");
    expect_err(W, "{\"prompt\":\"x\",\"temperature\":5.5}", 400, SRV_CODE_BAD_INPUT, "temperature");
    expect_err(W, "{\"prompt\":\"x\",\"temperature\":-1}", 400, SRV_CODE_BAD_INPUT, "temperature");
    expect_err(W, "{\"prompt\":\"x\",\"top_p\":2.5}", 400, SRV_CODE_BAD_INPUT, "top_p");
    expect_err(W, "{\"prompt\":\"x\",\"top_k\":0}", 400, SRV_CODE_BAD_INPUT, "top_k");
    expect_err(W, "{\"prompt\":\"x\",\"top_k\":51}", 400, SRV_CODE_BAD_INPUT, "top_k");
    expect_err(W, "{\"prompt\":\"x\",\"seed\":0}", 400, SRV_CODE_BAD_INPUT, "seed");
    expect_err(W, "{\"prompt\":\"x\",\"seed\":10000000000}", 400, SRV_CODE_BAD_INPUT, "seed");
    expect_err(W, "{\"prompt\":\"x\",\"repetition_penalty\":3}", 400, SRV_CODE_BAD_INPUT, "repetition_penalty");
    expect_err(W, "{\"prompt\":\"x\",\"frequency_penalty\":-0.1}", 400, SRV_CODE_BAD_INPUT, "frequency_penalty");
    expect_err(W, "{\"prompt\":\"x\",\"presence_penalty\":true}", 400, SRV_CODE_BAD_INPUT, "presence_penalty");
    expect_err(W, "{\"prompt\":\"x\",\"stream\":\"yes\"}", 400, SRV_CODE_BAD_INPUT, "stream");
    expect_err(W, "{\"prompt\":\"x\",\"raw\":1}", 400, SRV_CODE_BAD_INPUT, "raw");
    expect_err(W, "{\"prompt\":\"x\",\"lora\":\"mine\"}", 400, SRV_CODE_BAD_INPUT, "lora");
    expect_err(W, "{\"prompt\":\"x\",\"lora\":3}", 400, SRV_CODE_BAD_INPUT, "lora");
    expect_err(W, "{\"prompt\":\"x\",\"image\":\"not base64!\"}", 400, SRV_CODE_BAD_BASE64, "image");
    expect_err(W, "{\"prompt\":\"x\",\"image\":[1,256]}", 400, SRV_CODE_BAD_INPUT, "image[1]");
    expect_err(W, "{\"prompt\":\"x\",\"image\":[1,\"a\"]}", 400, SRV_CODE_BAD_INPUT, "image[1]");
    expect_err(W, "{\"prompt\":\"x\",\"image\":{}}", 400, SRV_CODE_BAD_INPUT, "image");
    expect_err(W, "{\"prompt\":\"x\",\"image\":[]}", 400, SRV_CODE_BAD_INPUT, "image");
    expect_err(W, "{\"prompt\":\"no tag\",\"raw\":true,\"image\":[1,2]}", 400, SRV_CODE_BAD_INPUT, "<|image|>");
    expect_err(W, "{\"messages\":{}}", 400, SRV_CODE_BAD_INPUT, "messages");
    expect_err(W, "{\"messages\":[]}", 400, SRV_CODE_BAD_INPUT, "messages");
    expect_err(W, "{\"messages\":[5]}", 400, SRV_CODE_BAD_INPUT, "messages[0]");
    expect_err(W, "{\"messages\":[{\"content\":\"x\"}]}", 400, SRV_CODE_BAD_INPUT, "messages[0].role");
    expect_err(W, "{\"messages\":[{\"role\":\"king\",\"content\":\"x\"}]}", 400, SRV_CODE_BAD_INPUT, "messages[0].role");
    expect_err(W, "{\"messages\":[{\"role\":\"user\",\"content\":5}]}", 400, SRV_CODE_BAD_INPUT, "messages[0].content");
    expect_err(W, "{\"messages\":[{\"role\":\"user\"}]}", 400, SRV_CODE_BAD_INPUT, "messages[0].content");
    expect_err(W, "{\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"audio\"}]}]}", 400, SRV_CODE_BAD_INPUT,
               "messages[0].content[0].type");
    expect_err(W, "{\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"text\"}]}]}", 400, SRV_CODE_BAD_INPUT,
               "messages[0].content[0].text");
    expect_err(W,
               "{\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"image_url\",\"image_url\":{\"url\":"
               "\"http://example.com/a.png\"}}]}]}",
               400, SRV_CODE_BAD_INPUT, "data URL");
    expect_err(W,
               "{\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"image_url\",\"image_url\":{\"url\":"
               "\"data:image/png;base64,@@@\"}}]}]}",
               400, SRV_CODE_BAD_BASE64, "messages[0].content[0].image_url.url");
    expect_err(W, "{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"tools\":[{\"description\":\"d\"}]}", 400,
               SRV_CODE_BAD_INPUT, "tools[0].name");
    expect_err(W, "{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"functions\":[{\"name\":\"n\"}]}", 400,
               SRV_CODE_BAD_INPUT, "functions[0].code");
    /* deep nesting is refused before cJSON sees it */
    char deep[400];
    size_t k = 0;
    k += (size_t)snprintf(deep, sizeof deep, "{\"prompt\":\"x\",\"a\":");
    for (int i = 0; i < 100; i++) deep[k++] = '[';
    for (int i = 0; i < 100; i++) deep[k++] = ']';
    deep[k++] = '}';
    deep[k] = 0;
    expect_err(W, deep, 400, SRV_CODE_BAD_INPUT, "nested");
    /* OpenAI: same checks, OpenAI-form params */
    expect_err(O, "{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"n\":2}", 400, SRV_CODE_BAD_INPUT, "'n'");
    expect_err(O, "{\"prompt\":\"x\"}", 400, SRV_CODE_BAD_INPUT, "messages");
    expect_err(O, "{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"max_tokens\":1.5}", 400, SRV_CODE_BAD_INPUT,
               "max_tokens");
    expect_err(O, "{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"stop\":[1]}", 400, SRV_CODE_BAD_INPUT,
               "stop");
    srv_request r;
    srv_error e;
    const char *bad_mt = "{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"temperature\":\"hot\"}";
    CHECK(!srv_request_parse(bad_mt, strlen(bad_mt), O, &LIM, &r, &e));
    CHECK(!strcmp(e.param, "temperature"));
    CHECK(strncmp(e.message, "AiError", 7) != 0);
    srv_request_free(&r);
}

static void test_format(void) {
    if (!llv_test_case("format")) return;
    srv_error e = {400, SRV_CODE_BAD_INPUT, "max_tokens", "AiError: Bad input: \"max_tokens\"", NULL};
    char *s = srv_fmt_error(SRV_API_WORKERS, &e);
    cJSON *o = cJSON_Parse(s);
    CHECK(o && cJSON_IsNull(cJSON_GetObjectItem(o, "result")) && cJSON_IsFalse(cJSON_GetObjectItem(o, "success")));
    cJSON *e0 = cJSON_GetArrayItem(cJSON_GetObjectItem(o, "errors"), 0);
    CHECK(e0 && cJSON_GetObjectItem(e0, "code")->valueint == 5006);
    CHECK(cJSON_IsArray(cJSON_GetObjectItem(o, "messages")));
    cJSON_Delete(o);
    free(s);
    s = srv_fmt_error(SRV_API_OPENAI, &e);
    o = cJSON_Parse(s);
    cJSON *err = cJSON_GetObjectItem(o, "error");
    CHECK(err && !strcmp(cJSON_GetObjectItem(err, "type")->valuestring, "invalid_request_error"));
    CHECK(!strcmp(cJSON_GetObjectItem(err, "param")->valuestring, "max_tokens"));
    cJSON_Delete(o);
    free(s);
    llv_tool_call tc = {"get_weather", "{\"city\":\"Paris\"}"};
    srv_usage u = {3, 4, 0};
    s = srv_fmt_workers_result("a\"b", &tc, 1, u);
    o = cJSON_Parse(s);
    cJSON *res = cJSON_GetObjectItem(o, "result");
    CHECK(res && !strcmp(cJSON_GetObjectItem(res, "response")->valuestring, "a\"b"));
    cJSON *t0 = cJSON_GetArrayItem(cJSON_GetObjectItem(res, "tool_calls"), 0);
    CHECK(t0 && cJSON_IsObject(cJSON_GetObjectItem(t0, "arguments")));
    CHECK(cJSON_GetObjectItem(cJSON_GetObjectItem(res, "usage"), "total_tokens")->valueint == 7);
    cJSON_Delete(o);
    free(s);
    s = srv_fmt_openai_result("chatcmpl-1", 5, "m", "x", &tc, 1, "tool_calls", u, NULL);
    o = cJSON_Parse(s);
    cJSON *msg = cJSON_GetObjectItem(cJSON_GetArrayItem(cJSON_GetObjectItem(o, "choices"), 0), "message");
    cJSON *c0 = cJSON_GetArrayItem(cJSON_GetObjectItem(msg, "tool_calls"), 0);
    CHECK(c0 && !strcmp(cJSON_GetObjectItem(c0, "type")->valuestring, "function"));
    CHECK(cJSON_IsString(cJSON_GetObjectItem(cJSON_GetObjectItem(c0, "function"), "arguments")));
    CHECK(cJSON_GetObjectItem(o, "created")->valueint == 5);
    cJSON_Delete(o);
    free(s);
    s = srv_fmt_workers_piece("h\xc3\xa9", 3);
    CHECK(s && !strncmp(s, "data: {\"response\":\"h\xc3\xa9\"}\n\n", strlen(s)));
    free(s);
    CHECK(!strcmp(srv_finish_reason(LLV_STOP_LENGTH, 0), "length"));
    CHECK(!strcmp(srv_finish_reason(LLV_STOP_EOG, 0), "stop"));
    CHECK(!strcmp(srv_finish_reason(LLV_STOP_EOG, 1), "tool_calls"));
    CHECK(strcmp(srv_finish_reason(LLV_STOP_TIMEOUT, 0), "length") != 0); /* a timeout is not a length stop */
}

static void test_error_mapping(void) {
    if (!llv_test_case("error_mapping")) return;
    llv_error le = {LLV_ERR_FORMAT, "image: not a PNG or JPEG"};
    srv_error e;
    srv_error_from_llv(&e, SRV_API_WORKERS, &le, "image");
    CHECK(e.http == 400 && e.code == SRV_CODE_BAD_INPUT && strstr(e.message, "image") && !strcmp(e.param, "image"));
    le.status = LLV_ERR_LIMIT;
    srv_error_from_llv(&e, SRV_API_WORKERS, &le, "prompt");
    CHECK(e.http == 400 && strstr(e.message, "AiError: Bad input: prompt"));
    le.status = LLV_ERR_OUT_OF_MEMORY;
    srv_error_from_llv(&e, SRV_API_WORKERS, &le, "generation");
    CHECK(e.http == 503 && e.code == SRV_CODE_CAPACITY);
    le.status = LLV_ERR_INTERNAL;
    srv_error_from_llv(&e, SRV_API_WORKERS, &le, "generation");
    CHECK(e.http == 500 && e.code == SRV_CODE_INTERNAL);
    /* a full context: 400; OpenAI's code names it; no Workers prefix elsewhere */
    le.status = LLV_ERR_CONTEXT;
    srv_error_from_llv(&e, SRV_API_OPENAI, &le, "messages");
    CHECK(e.http == 400 && e.oai_code && !strcmp(e.oai_code, "context_length_exceeded") &&
          !strstr(e.message, "AiError"));
    char *body = srv_fmt_error(SRV_API_OPENAI, &e);
    CHECK(body && strstr(body, "\"code\":\"context_length_exceeded\""));
    free(body);
    srv_error_from_llv(&e, SRV_API_OLLAMA, &le, "messages");
    body = srv_fmt_error(SRV_API_OLLAMA, &e);
    CHECK(body && !strncmp(body, "{\"error\":\"messages: ", 20));
    free(body);
    /* too many JSON values is a 413, before cJSON allocates them */
    size_t n = (4u << 20) * 3;
    char *big = malloc(n + 1);
    if (big) {
        size_t k = (size_t)sprintf(big, "{\"prompt\":\"x\",\"image\":[");
        while (k + 3 < n) {
            big[k++] = '0';
            big[k++] = ',';
        }
        big[k++] = '0';
        big[k++] = ']';
        big[k++] = '}';
        srv_request r;
        CHECK(!srv_request_parse(big, k, SRV_API_WORKERS, &LIM, &r, &e));
        CHECK_EQ_I(e.http, 413);
        CHECK_EQ_I(e.code, SRV_CODE_TOO_LARGE);
        srv_request_free(&r);
        free(big);
    }
}

static void test_ollama(void) {
    if (!llv_test_case("ollama")) return;
    srv_request r;
    srv_error e;
    memset(&e, 0, sizeof e);
    /* defaults: streamed, the model's sampling, no answer limit but the context */
    const char *b = "{\"model\":\"llama3.2-vision\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\","
                    "\"images\":[\"iVBORw0KGgo=\",\"iVBORw0KGgo=\"]}]}";
    bool ok = srv_ollama_parse(b, strlen(b), true, &LIM, &r, &e);
    CHECK(ok);
    if (ok) {
        CHECK(r.stream && r.api == SRV_API_OLLAMA && !strcmp(r.model, "llama3.2-vision"));
        CHECK(r.sampling.max_tokens == LLV_SAMPLING_MAX_TOKENS_MAX && r.sampling.temperature == 0.6f &&
              r.sampling.top_p == 0.9f);
        /* images before the text, in order */
        CHECK(r.n_msgs == 1 && r.msgs[0].n_parts == 3 && r.msgs[0].parts[0].type == LLV_PART_IMAGE &&
              r.msgs[0].parts[1].type == LLV_PART_IMAGE && r.msgs[0].parts[2].type == LLV_PART_TEXT &&
              !strcmp(r.msgs[0].parts[2].text, "hi"));
    }
    srv_request_free(&r);
    /* options map onto the sampler; -1 seed = random; num_predict -1 = the context */
    b = "{\"model\":\"m\",\"prompt\":\"x\",\"system\":\"be brief\",\"stream\":false,\"options\":{\"temperature\":0,"
        "\"top_k\":0,\"repeat_penalty\":1.2,\"seed\":-1,\"num_predict\":-1,\"num_ctx\":64,\"stop\":[\"a\",\"b\"],"
        "\"num_gpu\":99}}";
    ok = srv_ollama_parse(b, strlen(b), false, &LIM, &r, &e);
    CHECK(ok);
    if (ok) {
        CHECK(!r.stream && r.sampling.temperature == 0 && r.sampling.top_k == 0 &&
              r.sampling.repetition_penalty == 1.2f && r.sampling.seed == 0 && r.num_ctx == 64 && r.n_stop == 2);
        CHECK(r.sampling.max_tokens == LLV_SAMPLING_MAX_TOKENS_MAX);
        CHECK(r.n_msgs == 2 && !strcmp(r.msgs[0].role, "system") && !strcmp(r.msgs[1].content, "x"));
    }
    srv_request_free(&r);
    /* no messages: a load request; keep_alive 0: unload */
    b = "{\"model\":\"m\",\"messages\":[],\"keep_alive\":0}";
    ok = srv_ollama_parse(b, strlen(b), true, &LIM, &r, &e);
    CHECK(ok && r.load_only && r.unload);
    srv_request_free(&r);
    /* refused fields name themselves */
    const char *badb[] = {"{\"model\":\"m\",\"prompt\":\"x\",\"template\":\"t\"}",
                          "{\"model\":\"m\",\"prompt\":\"x\",\"options\":{\"top_p\":1.5}}",
                          "{\"model\":\"m\",\"prompt\":\"x\",\"format\":5}", "{\"prompt\":\"x\"}"};
    const char *field[] = {"template", "top_p", "format", "model"};
    for (int i = 0; i < 4; i++) {
        CHECK(!srv_ollama_parse(badb[i], strlen(badb[i]), false, &LIM, &r, &e) && e.http == 400 &&
              strstr(e.message, field[i]) && !strstr(e.message, "AiError"));
        srv_request_free(&r);
    }
    /* names: "x" is "x:latest"; the other routes' name works too */
    CHECK(srv_ollama_name_matches("llama3.2-vision", "llama3.2-vision:latest", "@cf/x"));
    CHECK(srv_ollama_name_matches("Llama3.2-Vision:latest", "llama3.2-vision:latest", NULL));
    CHECK(srv_ollama_name_matches("@cf/x", "llama3.2-vision:latest", "@cf/x"));
    CHECK(!srv_ollama_name_matches("llama3.2-vision:11b", "llama3.2-vision:latest", "@cf/x"));
    /* answers: tool call arguments as an object, NDJSON lines, done_reason */
    llv_tool_call tc = {.name = "get_weather", .arguments = "{\"city\":\"Paris\"}"};
    srv_ollama_timing t = {1000, 1, 2, 3, 4, 5};
    char *o = srv_ollama_final(true, "m", "", &tc, 1, "stop", &t, NULL);
    CHECK(o && strstr(o, "\"arguments\":{\"city\":\"Paris\"}") && strstr(o, "\"eval_count\":5") &&
          o[strlen(o) - 1] == '\n' && strstr(o, "\"done\":true"));
    free(o);
    o = srv_ollama_piece(false, "m", "ab", 1, NULL);
    CHECK(o && strstr(o, "\"response\":\"a\"") && strstr(o, "\"done\":false") && strstr(o, "Z\""));
    free(o);
    CHECK(!strcmp(srv_ollama_done_reason(LLV_STOP_CONTEXT), "length") &&
          !strcmp(srv_ollama_done_reason(LLV_STOP_EOG), "stop"));
}

/* logprobs: the request fields (both APIs), the one raw-prompt image rule,
 * and the response entries (token names, bytes, -inf, Ollama's omitted
 * fields) on a synthetic model's byte-level vocabulary */
static void test_logprobs(void) {
    if (!llv_test_case("logprobs")) return;
    srv_request r;
    if (parse_ok(SRV_API_OPENAI, "{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],\"logprobs\":true,"
                                 "\"top_logprobs\":20}", &r))
        CHECK(r.sampling.logprobs && r.sampling.top_logprobs == 20);
    srv_request_free(&r);
    if (parse_ok(SRV_API_OPENAI, "{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],\"logprobs\":null}", &r))
        CHECK(!r.sampling.logprobs && r.sampling.top_logprobs == 0);
    srv_request_free(&r);
    const char *m = "{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],";
    char b[256];
    const char *bad[] = {"\"top_logprobs\":1}", "\"logprobs\":false,\"top_logprobs\":0}",
                         "\"logprobs\":true,\"top_logprobs\":21}", "\"logprobs\":true,\"top_logprobs\":-1}",
                         "\"logprobs\":true,\"top_logprobs\":1.5}", "\"logprobs\":3}"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        snprintf(b, sizeof b, "%s%s", m, bad[i]);
        expect_err(SRV_API_OPENAI, b, 400, SRV_CODE_BAD_INPUT, strstr(bad[i], "top_") ? "top_logprobs" : "logprobs");
    }
    srv_error e;
    const char *ob = "{\"model\":\"m\",\"prompt\":\"hi\",\"logprobs\":true,\"top_logprobs\":3}";
    bool ok = srv_ollama_parse(ob, strlen(ob), false, &LIM, &r, &e);
    CHECK(ok && r.sampling.logprobs && r.sampling.top_logprobs == 3);
    srv_request_free(&r);
    ob = "{\"model\":\"m\",\"prompt\":\"hi\",\"top_logprobs\":3}";
    ok = srv_ollama_parse(ob, strlen(ob), false, &LIM, &r, &e);
    CHECK(ok && !r.sampling.logprobs && r.sampling.top_logprobs == 0);
    srv_request_free(&r);
    ob = "{\"model\":\"m\",\"prompt\":\"hi\",\"logprobs\":true,\"top_logprobs\":21}";
    CHECK(!srv_ollama_parse(ob, strlen(ob), false, &LIM, &r, &e) && e.http == 400 && strstr(e.message, "top_logprobs"));
    srv_request_free(&r);
    /* the raw-prompt rule, in both APIs' words */
    ob = "{\"model\":\"m\",\"prompt\":\"<|image|><|image|>x\",\"raw\":true,\"images\":[\"aGVsbG8=\"]}";
    CHECK(!srv_ollama_parse(ob, strlen(ob), false, &LIM, &r, &e) && strstr(e.message, "2 <|image|> tag(s) but 1 image"));
    srv_request_free(&r);
    expect_err(SRV_API_WORKERS, "{\"prompt\":\"x\",\"raw\":true,\"image\":\"aGVsbG8=\"}", 400, SRV_CODE_BAD_INPUT,
               "0 <|image|> tag(s) but 1 image");

    /* entries on a model: a synthetic one with a byte-level vocabulary */
    char *dir = llv_test_tmpdir();
    char *path = llv_test_path(dir, "tiny.gguf");
    llv_synth_params sp = llv_synth_default_params();
    sp.preset = "tiny";
    llv_error err;
    llv_model *mdl = NULL;
    CHECK_OK(llv_synth(path, &sp, &err), &err);
    CHECK_OK(llv_model_load(path, NULL, &mdl, &err), &err);
    remove(path);
    rmdir(dir);
    free(path);
    free(dir);
    if (!mdl) return;
    int32_t ascii = -1, part = -1;
    for (int32_t t = 0; t < 100000 && (ascii < 0 || part < 0); t++) {
        size_t n = 0;
        const char *p = llv_token_bytes(mdl, t, &n);
        if (!p) break;
        if (n == 2 && p[0] == 'h' && p[1] == 'e') ascii = t;
        if (n == 1 && (unsigned char)p[0] == 0xe2) part = t;
    }
    CHECK(ascii >= 0 && part >= 0);
    srv_logprob lp[2];
    memset(lp, 0, sizeof lp);
    lp[0].e = (llv_logprob_entry){.chosen = {ascii, -0.25f}, .n_top = 2, .top = {{ascii, -0.25f}, {part, -INFINITY}}};
    lp[1].e = (llv_logprob_entry){.chosen = {part, -1.5f}, .n_top = 0};
    srv_logprobs l = {mdl, lp, 2};
    cJSON *arr = srv_json_logprobs(&l, false);
    char *j = cJSON_PrintUnformatted(arr);
    cJSON_Delete(arr);
    CHECK_MSG(j && !strcmp(j, "[{\"token\":\"he\",\"logprob\":-0.25,\"bytes\":[104,101],\"top_logprobs\":["
                                "{\"token\":\"he\",\"logprob\":-0.25,\"bytes\":[104,101]},"
                                "{\"token\":\"bytes:\\\\xe2\",\"logprob\":-9999,\"bytes\":[226]}]},"
                                "{\"token\":\"bytes:\\\\xe2\",\"logprob\":-1.5,\"bytes\":[226],\"top_logprobs\":[]}]"),
              "OpenAI entries: %s", j ? j : "(null)");
    free(j);
    char *o = srv_ollama_piece(true, "m", "x", 1, &l);
    CHECK_MSG(o && strstr(o, "\"logprobs\":[{\"token\":\"he\"") &&
                  strstr(o, "{\"token\":\"bytes:\\\\xe2\",\"logprob\":-1.5,\"bytes\":[226]}]"),
              "Ollama's: no empty top_logprobs: %s", o ? o : "(null)");
    free(o);
    l.n = 0;
    o = srv_ollama_piece(true, "m", "x", 1, &l);
    CHECK(o && !strstr(o, "logprobs"));
    free(o);
    char *c = srv_fmt_openai_chunk("id", 1, "m", NULL, "x", 1, NULL, NULL, 0, &l);
    CHECK(c && strstr(c, "\"logprobs\":{\"content\":[],\"refusal\":null}"));
    free(c);
    c = srv_fmt_openai_chunk("id", 1, "m", NULL, "x", 1, NULL, NULL, 0, NULL);
    CHECK(c && strstr(c, "\"logprobs\":null"));
    free(c);
    llv_model_free(mdl);
}

int main(int argc, char **argv) {
    llv_test_init(argc, argv);
    test_depth_and_base64();
    test_prompt_variant();
    test_messages_variant();
    test_openai();
    test_errors();
    test_format();
    test_error_mapping();
    test_ollama();
    test_logprobs();
    return llv_test_finish();
}
