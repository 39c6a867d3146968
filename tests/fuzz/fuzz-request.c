/* fuzz-request.c - the HTTP server's request mapping (tools/server/api.c):
 * JSON body -> generation request, for both API families. Byte 0 picks the
 * API (bit 0: OpenAI; bit 3: Ollama, bit 4 its /api/chat) and the limits (bit 1: a max_tokens cap, bit 2: a 64 KB
 * image cap); the rest is the body. On success the request must be usable:
 * valid sampling parameters, images with bytes, messages the chat renderer
 * takes or rejects cleanly; on failure an HTTP 4xx/5xx with a message. */
#include "api.h"
#include "chat.h"
#include "fuzz.h"
#include "ollama.h"

#include <string.h>

LLV_FUZZ_TARGET(request) {
    if (size < 1) return 0;
    srv_api api = (data[0] & 1) ? SRV_API_OPENAI : SRV_API_WORKERS;
    srv_limits lim;
    memset(&lim, 0, sizeof lim);
    lim.max_tokens_cap = (data[0] & 2) ? 512 : 0;
    lim.max_image_bytes = (data[0] & 4) ? 65536 : 0;
    const char *body = (const char *)data + 1;
    size_t n = size - 1;
    srv_request req;
    srv_error e;
    memset(&req, 0, sizeof req);
    memset(&e, 0, sizeof e);
    bool ollama = data[0] & 8;
    bool ok = ollama ? srv_ollama_parse(body, n, data[0] & 16, &lim, &req, &e)
                     : srv_request_parse(body, n, api, &lim, &req, &e);
    if (!ok) {
        LLV_FUZZ_ASSERT(e.http >= 400 && e.http <= 599 && e.message[0] != '\0');
        srv_request_free(&req);
        return 0;
    }
    llv_error err;
    if (llv_sampling_params_validate(&req.sampling, &err) != LLV_OK) {
        fprintf(stderr, "accepted request has invalid sampling: %s\n", err.message);
        LLV_FUZZ_ASSERT(!"accepted sampling parameters are valid");
    }
    if (lim.max_tokens_cap) LLV_FUZZ_ASSERT(req.sampling.max_tokens <= lim.max_tokens_cap);
    LLV_FUZZ_ASSERT(req.n_stop >= 0 && req.n_stop <= (ollama ? SRV_MAX_STOP : 4));
    for (int i = 0; i < req.n_stop; i++) LLV_FUZZ_ASSERT(req.stop[i] != NULL);
    for (size_t i = 0; i < req.n_images; i++) {
        LLV_FUZZ_ASSERT(req.images[i].bytes != NULL || req.images[i].n == 0);
        if (lim.max_image_bytes) LLV_FUZZ_ASSERT(req.images[i].n <= lim.max_image_bytes);
        llv_fuzz_touch(req.images[i].bytes, req.images[i].n);
    }
    if (req.kind == SRV_KIND_PROMPT && !req.load_only) LLV_FUZZ_ASSERT(req.prompt != NULL);
    if (req.n_msgs > 0) {
        LLV_FUZZ_ASSERT(req.msgs != NULL);
        llv_chat_params cp = llv_chat_default_params();
        cp.tools_json = req.tools_json;
        cp.date_string = "26 Jul 2024";
        char *out = NULL;
        size_t len = 0;
        if (llv_chat_render_text(NULL, req.msgs, req.n_msgs, &cp, false, &out, &len, &err) == LLV_OK) {
            LLV_FUZZ_ASSERT(out && strlen(out) == len);
            free(out);
        }
    }
    srv_request_free(&req);
    return 0;
}
