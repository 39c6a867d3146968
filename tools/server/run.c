/* run.c - see run.h. */
#include "run.h"

#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

static bool add_input(const srv_request *req, llv_session *s, srv_error *err);

bool srv_run_input(const srv_request *req, llv_session *s, srv_error *err) {
    if (!add_input(req, s, err)) return false;
    size_t n_prompt = 0;
    llv_session_tokens(s, &n_prompt);
    if (req->num_ctx > 0 && n_prompt >= (size_t)req->num_ctx) {
        srv_bad(err, req->api, "options.num_ctx",
                "the prompt has %zu tokens, more than options.num_ctx = %d allows (raise num_ctx)", n_prompt,
                (int)req->num_ctx);
        err->oai_code = "context_length_exceeded";
        return false;
    }
    return true;
}

static bool add_input(const srv_request *req, llv_session *s, srv_error *err) {
    llv_error e = {0};
    if (req->kind == SRV_KIND_PROMPT && req->raw) {
        for (size_t i = 0; i < req->n_images; i++)
            if (llv_session_add_image(s, req->images[i].bytes, req->images[i].n, &e)) {
                srv_error_from_llv(err, req->api, &e, "image");
                return false;
            }
        if (llv_session_add_raw(s, req->prompt, &e)) {
            srv_error_from_llv(err, req->api, &e, "prompt");
            return false;
        }
        return true;
    }
    llv_chat_params cp = llv_chat_default_params();
    cp.tools_json = req->tools_json;
    if (llv_session_add_messages(s, req->msgs, req->n_msgs, &cp, &e)) {
        /* a bad or oversized image is the image's fault, name it so */
        bool img = req->n_images && (e.status == LLV_ERR_FORMAT || e.status == LLV_ERR_LIMIT);
        srv_error_from_llv(err, req->api, &e, img ? "image" : req->kind == SRV_KIND_PROMPT ? "prompt" : "messages");
        return false;
    }
    return true;
}

/* A peer that closed its end shows as readable with 0 bytes (or an error). */
static bool client_gone(int fd) {
    if (fd < 0) return false;
    struct pollfd p = {.fd = fd, .events = POLLIN};
    if (poll(&p, 1, 0) <= 0) return false;
    if (p.revents & (POLLERR | POLLHUP | POLLNVAL)) return true;
    if (p.revents & POLLIN) {
        char c;
        ssize_t n = recv(fd, &c, 1, MSG_PEEK | MSG_DONTWAIT);
        return n == 0;
    }
    return false;
}

static size_t max_stop_len(const srv_request *q) {
    size_t m = 0;
    for (int i = 0; i < q->n_stop; i++) {
        size_t l = strlen(q->stop[i]);
        if (l > m) m = l;
    }
    return m;
}

/* Passes on text[emitted..upto), keeping UTF-8 sequences whole, with the
 * logprobs of the tokens whose text starts there. */
static bool flush_to(srv_run *r, size_t upto) {
    while (upto > r->emitted && upto < r->len && ((unsigned char)r->text[upto] & 0xC0) == 0x80) upto--;
    if (upto <= r->emitted) return true;
    size_t k = r->lp_sent;
    while (k < r->n_lp && r->lp[k].start < upto) k++;
    bool ok = r->emit ? r->emit(r->text + r->emitted, upto - r->emitted, r->lp + r->lp_sent, k - r->lp_sent,
                                r->emit_user)
                      : true;
    r->emitted = upto;
    r->lp_sent = k;
    return ok;
}

/* A token whose bytes are in the answer text (not a special token). */
static bool text_token(const llv_model *m, int32_t tok) {
    char c[8];
    size_t n = 0;
    llv_status st = llv_detokenize(m, &tok, 1, true, c, sizeof c, &n, NULL);
    return (st == LLV_OK || st == LLV_ERR_BUFFER_TOO_SMALL) && n > 0;
}

/* Takes the library's entries of the tokens that came with this piece (text
 * starting at `start`). */
static bool take_logprobs(srv_run *r, size_t start) {
    size_t k = 0;
    const llv_logprob_entry *e = llv_session_logprobs(r->session, &k);
    for (; r->lp_seen < k; r->lp_seen++) {
        if (!text_token(r->model, e[r->lp_seen].chosen.token)) continue;
        if (r->n_lp == r->cap_lp) {
            size_t cap = r->cap_lp ? r->cap_lp * 2 : 64;
            srv_logprob *q = realloc(r->lp, cap * sizeof *q);
            if (!q) return false;
            r->lp = q;
            r->cap_lp = cap;
        }
        r->lp[r->n_lp++] = (srv_logprob){.e = e[r->lp_seen], .start = start};
    }
    return true;
}

static double seconds_between(const struct timespec *a, const struct timespec *b) {
    return (double)(b->tv_sec - a->tv_sec) + (double)(b->tv_nsec - a->tv_nsec) / 1e9;
}

static bool on_piece(const char *piece, size_t n, int32_t token, void *user) {
    (void)token;
    srv_run *r = user;
    if (r->stop_hit || r->cancelled || r->oom) return false; /* the final flush after a stop */
    if (r->metrics) {
        struct timespec now;
        clock_gettime(CLOCK_MONOTONIC, &now);
        if (r->pieces == 0) srv_histo_observe(&r->metrics->ttft, seconds_between(&r->t0, &now));
        else srv_histo_observe(&r->metrics->itl, seconds_between(&r->last_piece, &now));
        r->last_piece = now;
    }
    if (r->req->sampling.logprobs && r->model && !take_logprobs(r, r->len)) {
        r->oom = true;
        return false;
    }
    if ((r->cancel && atomic_load(r->cancel)) || (r->shutdown && atomic_load(r->shutdown)) ||
        ((r->pieces++ & 7) == 0 && client_gone(r->client_fd))) {
        r->cancelled = true;
        return false;
    }
    /* a NUL byte (a token of byte 0) can't live in a C/cJSON string: it
     * becomes U+FFFD, the same in streamed and non-streamed answers */
    size_t nuls = 0;
    for (size_t i = 0; i < n; i++) nuls += piece[i] == 0;
    size_t m = n + 2 * nuls;
    if (r->len + m + 1 > r->cap) {
        size_t cap = r->cap ? r->cap * 2 : 256;
        while (cap < r->len + m + 1) cap *= 2;
        char *t = realloc(r->text, cap);
        if (!t) {
            r->oom = true;
            return false;
        }
        r->text = t;
        r->cap = cap;
    }
    if (nuls) {
        char *o = r->text + r->len;
        for (size_t i = 0; i < n; i++) {
            if (piece[i]) *o++ = piece[i];
            else {
                memcpy(o, "\xEF\xBF\xBD", 3);
                o += 3;
            }
        }
    } else {
        memcpy(r->text + r->len, piece, n);
    }
    r->len += m;
    n = m;
    r->text[r->len] = 0;
    size_t ms = max_stop_len(r->req);
    if (ms) {
        /* the earliest match among stop strings that could touch the new bytes */
        size_t from = r->len - n >= ms ? r->len - n - ms + 1 : 0;
        size_t best = SIZE_MAX;
        for (int i = 0; i < r->req->n_stop; i++) {
            const char *hit = strstr(r->text + from, r->req->stop[i]);
            if (hit && (size_t)(hit - r->text) < best) best = (size_t)(hit - r->text);
        }
        if (best != SIZE_MAX) {
            r->len = best;
            r->text[best] = 0;
            r->stop_hit = true;
            flush_to(r, best);
            return false;
        }
        return r->len >= ms ? flush_to(r, r->len - (ms - 1)) : true;
    }
    if (!flush_to(r, r->len)) {
        r->cancelled = true;
        return false;
    }
    return true;
}

bool srv_run_generate(srv_run *r, srv_error *err) {
    llv_result res;
    llv_error e = {0};
    memset(&res, 0, sizeof res);
    llv_sampling_params sp = r->req->sampling;
    if (r->req->num_ctx > 0) {
        /* Ollama's num_ctx: prompt and answer within it (srv_run_input
         * checked the prompt; the session's n_ctx stays the hard bound) */
        size_t n_prompt = 0;
        llv_session_tokens(r->session, &n_prompt);
        if ((int64_t)sp.max_tokens > (int64_t)r->req->num_ctx - (int64_t)n_prompt)
            sp.max_tokens = r->req->num_ctx - (int32_t)n_prompt;
    }
    llv_status st = llv_session_generate(r->session, &sp, on_piece, r, &res, &e);
    if (st) {
        srv_error_from_llv(err, r->req->api, &e, "generation");
        return false;
    }
    if (!r->text || r->oom) {
        if (!r->text) r->text = calloc(1, 1);
        if (!r->text || r->oom) {
            llv_result_free(&res);
            srv_error_set(err, 503, SRV_CODE_CAPACITY, "", "Out of memory");
            return false;
        }
    }
    if (!r->cancelled) flush_to(r, r->len);
    /* the answer's tokens: those with text before a stop string's cut */
    while (r->n_lp > 0 && r->lp[r->n_lp - 1].start >= r->len) r->n_lp--;
    r->stop = r->stop_hit ? LLV_STOP_EOG : res.stop_reason;
    r->prompt_tokens = res.prompt_tokens;
    r->cached_tokens = llv_session_cached_tokens(r->session);
    r->timings = res.timings;
    r->completion_tokens = res.completion_tokens;
    llv_result_free(&res);
    if (r->req->has_tools && !r->cancelled) {
        if (llv_parse_tool_calls(r->text, r->len, &r->tool_calls, &r->n_tool_calls, &e)) {
            r->tool_calls = NULL;
            r->n_tool_calls = 0;
        }
    }
    return true;
}

void srv_run_free(srv_run *r) {
    free(r->text);
    free(r->lp);
    r->lp = NULL;
    r->n_lp = r->cap_lp = 0;
    llv_tool_calls_free(r->tool_calls, r->n_tool_calls);
    r->text = NULL;
    r->tool_calls = NULL;
    r->n_tool_calls = 0;
}
