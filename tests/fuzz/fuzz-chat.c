/* fuzz-chat.c - chat rendering and tool-call parsing.
 *
 * llv_parse_tool_calls runs on the raw input. Then the input becomes a
 * messages structure: byte 0 = flags (bit 0 continuation, bit 1
 * add_generation_prompt, bit 2 the first segment is tools_json, bit 3 the
 * next segment is date_string, bit 4 ChatML instead of Llama 3); the rest is
 * split at NUL bytes into segments, one message each: segment byte 0 picks
 * the role, byte 1 the shape (0 content text, 1 parts split at 0x1F - a part
 * starting with 0x01 is an image -, 2 a tool call "name 0x1F arguments", 3 no
 * content), the rest is the text. Seeds: tests/data/chat/conversations.json in this form
 * (tests/fuzz/gen-seeds.c). */
#include "chat.h"
#include "fuzz.h"

#include <string.h>

#define MAX_MSGS  64
#define MAX_PARTS 16

static const char *const roles[] = {"system", "user", "assistant", "tool", "ipython", "", "User", "bogus"};

LLV_FUZZ_TARGET(chat) {
    llv_error err;
    llv_tool_call *calls = NULL;
    size_t n_calls = 0;
    llv_status st = llv_parse_tool_calls((const char *)data, size, &calls, &n_calls, &err);
    LLV_FUZZ_ASSERT(st == LLV_OK);
    for (size_t i = 0; i < n_calls; i++) {
        LLV_FUZZ_ASSERT(calls[i].name && calls[i].name[0] && calls[i].arguments);
        LLV_FUZZ_ASSERT(calls[i].arguments[0] == '{');
    }
    llv_tool_calls_free(calls, n_calls);
    if (size < 1) return 0;

    /* a NUL-terminated copy: segments are strings in it */
    char *buf = malloc(size + 1);
    LLV_FUZZ_ASSERT(buf != NULL);
    memcpy(buf, data, size);
    buf[size] = '\0';
    uint8_t flags = (uint8_t)buf[0];
    char *p = buf + 1, *end = buf + size;
    llv_chat_params cp = llv_chat_default_params();
    cp.add_generation_prompt = (flags & 2) != 0;
    cp.date_string = "26 Jul 2024"; /* never "today": deterministic */
    if (flags & 4) {
        cp.tools_json = p;
        p += strlen(p) + 1;
    }
    if ((flags & 8) && p < end) {
        cp.date_string = p;
        p += strlen(p) + 1;
    }
    llv_message msgs[MAX_MSGS];
    llv_part parts[MAX_MSGS][MAX_PARTS];
    size_t nm = 0;
    static const uint8_t img[] = {0x89, 'P', 'N', 'G'};
    while (p < end && nm < MAX_MSGS) {
        char *seg = p;
        p += strlen(p) + 1;
        llv_message *m = &msgs[nm];
        memset(m, 0, sizeof *m);
        m->role = roles[(uint8_t)seg[0] % (sizeof roles / sizeof roles[0])];
        if (!seg[0]) { /* empty segment: a user turn with empty content */
            m->role = "user";
            m->content = seg;
            nm++;
            continue;
        }
        int shape = seg[1] ? (uint8_t)seg[1] % 4 : 0;
        char *text = seg[1] ? seg + 2 : seg + 1;
        if (shape == 0) {
            m->content = text;
        } else if (shape == 1) {
            size_t np = 0;
            char *q = text;
            for (;;) {
                char *sep = strchr(q, 0x1F);
                if (sep) *sep = '\0';
                llv_part *pt = &parts[nm][np++];
                memset(pt, 0, sizeof *pt);
                if (q[0] == 0x01) {
                    pt->type = LLV_PART_IMAGE;
                    pt->image = img;
                    pt->image_bytes = sizeof img;
                } else {
                    pt->type = LLV_PART_TEXT;
                    pt->text = q;
                }
                if (!sep || np == MAX_PARTS) break;
                q = sep + 1;
            }
            m->parts = parts[nm];
            m->n_parts = np;
        } else if (shape == 2) {
            char *sep = strchr(text, 0x1F);
            m->tool_call_name = text;
            if (sep) {
                *sep = '\0';
                m->tool_call_arguments = sep + 1;
            }
        }
        nm++;
    }
    char *out = NULL;
    size_t len = 0;
    /* flag bit 4 picks ChatML (with a default system turn) instead of Llama 3 */
    llv_chat_format chatml = {LLV_CHAT_CHATML, (char *)"<|im_start|>system\nbe brief<|im_end|>\n", ""};
    st = llv_chat_render_text((flags & 16) ? &chatml : NULL, msgs, nm, &cp, (flags & 1) != 0, &out, &len, &err);
    if (st == LLV_OK) {
        LLV_FUZZ_ASSERT(out != NULL && strlen(out) == len);
        /* one "<|image|>" per image part at least (user content may add more) */
        size_t n_img = 0, n_tag = 0;
        for (size_t i = 0; i < nm; i++)
            for (size_t j = 0; j < msgs[i].n_parts; j++) n_img += msgs[i].parts[j].type == LLV_PART_IMAGE;
        for (const char *q = out; (q = strstr(q, "<|image|>")) != NULL; q += 9) n_tag++;
        LLV_FUZZ_ASSERT(n_tag >= n_img);
        free(out);
    } else {
        LLV_FUZZ_ASSERT(out == NULL && err.message[0] != '\0');
    }
    free(buf);
    return 0;
}
