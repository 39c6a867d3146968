/* chat.c - chat formats: the Llama 3.2 Vision chat template
 * (shared/reference/chat-template/llama-3.2-11b-vision-instruct.jinja, the
 * current hub version) implemented natively, byte for byte, as rendered by
 * transformers' apply_chat_template (jinja2 with trim_blocks/lstrip_blocks,
 * transformers' tojson = json.dumps(ensure_ascii=False)).
 *
 * What the template does, in order:
 *   BOS; a first "system" message is taken out (content |trim);
 *   the system block ("Environment: ipython" when tools are given, the
 *   knowledge/today dates, the system text) is emitted if the user supplied a
 *   system message or no remaining message has an image part;
 *   with tools, the first remaining message is taken out and its (trimmed)
 *   content follows the tool JSON schemas (json.dumps(indent=4)) in a user turn;
 *   every remaining message becomes a turn: assistant tool calls as
 *   {"name": "...", "parameters": <json.dumps(arguments)>}, tool/ipython
 *   results under the "ipython" header as json.dumps(content) (a string is
 *   JSON-quoted: jinja's `iterable` test is true for strings), others as
 *   header + content (image parts -> "<|image|>");
 *   the generation prompt.
 *
 * Deliberate differences where the template would produce garbage: a system
 * message or a tools-first-user message given as parts is rendered from its
 * parts (the template would print Python's repr of the list); image parts are
 * rejected in system and tool messages (no place for them).
 *
 * Every image part becomes exactly one "<|image|>", in message and part
 * order (images are accepted only where the template prints them); for the
 * session it becomes its offset in the text instead, where the session puts
 * the image token itself.
 *
 * Tool JSON is parsed by a small parser that keeps what json.loads would see
 * (number lexemes: int vs float; duplicate keys: first position, last value),
 * so the output equals Python's json.dumps.
 *
 * ChatML (SmolLM2, Qwen2 without tools) is the second format; a model's
 * format is recognised from its tokenizer.chat_template (llv_chat_format_init)
 * or named by the user. */
#include "chat.h"

#include "model.h"
#include "pyjson.h"
#include "utf8.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ------------------------------------------------------------------------- */
/* Growable output buffer                                                    */
/* ------------------------------------------------------------------------- */

typedef struct sbuf {
    llv_buf s;
    /* want_marks: image parts are not written but their offsets recorded */
    bool    want_marks;
    size_t *marks, n_marks, cap_marks;
} sbuf;

static void sb_put(sbuf *b, const char *s, size_t n) { llv_buf_put(&b->s, s, n); }
static void sb_str(sbuf *b, const char *s) { llv_buf_str(&b->s, s); }
static void sb_chr(sbuf *b, char c) { llv_buf_chr(&b->s, c); }

/* ------------------------------------------------------------------------- */
/* UTF-8                                                                     */
/* ------------------------------------------------------------------------- */

/* Returns SIZE_MAX if valid, else the offset of the first invalid byte. */
static size_t utf8_invalid_at(const char *s, size_t n) {
    size_t v = llv_utf8_valid_prefix((const unsigned char *)s, n);
    return v == n ? SIZE_MAX : v;
}

/* Python's str.isspace() (what jinja's |trim strips). */
static bool py_isspace(uint32_t c) {
    return (c >= 0x09 && c <= 0x0D) || (c >= 0x1C && c <= 0x20) || c == 0x85 || c == 0xA0 || c == 0x1680 ||
           (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 || c == 0x202F || c == 0x205F ||
           c == 0x3000;
}

/* Python str.strip() on valid UTF-8: [*start, *end). */
static void py_strip(const char *s, size_t n, size_t *start, size_t *end) {
    const unsigned char *u = (const unsigned char *)s;
    size_t a = 0, b = n;
    while (a < b) {
        uint32_t cp;
        size_t l = llv_utf8_decode(u + a, b - a, &cp);
        if (!l || !py_isspace(cp)) break;
        a += l;
    }
    while (b > a) {
        size_t k = b - 1;
        while (k > a && (u[k] & 0xC0) == 0x80) k--;
        uint32_t cp;
        size_t l = llv_utf8_decode(u + k, b - k, &cp);
        if (!l || !py_isspace(cp)) break;
        b = k;
    }
    *start = a;
    *end = b;
}

/* ------------------------------------------------------------------------- */
/* Messages                                                                  */
/* ------------------------------------------------------------------------- */

typedef enum { ROLE_SYSTEM, ROLE_USER, ROLE_ASSISTANT, ROLE_TOOL } role_kind;

static bool has_text(const llv_message *m) { return m->content != NULL || m->n_parts > 0; }

static llv_status check_utf8(const char *s, size_t idx, const char *field, llv_error *err) {
    size_t n = strlen(s), bad = utf8_invalid_at(s, n);
    if (bad != SIZE_MAX)
        return llv_err(err, LLV_ERR_INVALID_ARGUMENT, "message %zu: %s is not valid UTF-8 (byte %zu of %zu)", idx,
                       field, bad, n);
    return LLV_OK;
}

static llv_status check_message(const llv_message *m, size_t idx, role_kind *role, llv_error *err) {
    if (!m->role) return llv_err(err, LLV_ERR_INVALID_ARGUMENT, "message %zu: role is NULL", idx);
    if (strcmp(m->role, "system") == 0) *role = ROLE_SYSTEM;
    else if (strcmp(m->role, "user") == 0) *role = ROLE_USER;
    else if (strcmp(m->role, "assistant") == 0) *role = ROLE_ASSISTANT;
    else if (strcmp(m->role, "tool") == 0 || strcmp(m->role, "ipython") == 0) *role = ROLE_TOOL;
    else {
        char shown[40];
        snprintf(shown, sizeof shown, "%s", m->role);
        return llv_err(err, LLV_ERR_INVALID_ARGUMENT,
                       "message %zu: unknown role '%s' (expected system, user, assistant, tool or ipython)", idx,
                       shown);
    }
    if (m->content && m->n_parts > 0)
        return llv_err(err, LLV_ERR_INVALID_ARGUMENT,
                       "message %zu: both content and %zu parts given (use one or the other)", idx, m->n_parts);
    if (m->n_parts > 0 && !m->parts)
        return llv_err(err, LLV_ERR_INVALID_ARGUMENT, "message %zu: parts is NULL but n_parts = %zu", idx,
                       m->n_parts);
    if (m->content) {
        llv_status st = check_utf8(m->content, idx, "content", err);
        if (st) return st;
    }
    for (size_t j = 0; j < m->n_parts; j++) {
        const llv_part *pt = &m->parts[j];
        if (pt->type == LLV_PART_TEXT) {
            if (!pt->text)
                return llv_err(err, LLV_ERR_INVALID_ARGUMENT, "message %zu: part %zu: text part with NULL text", idx, j);
            size_t n = strlen(pt->text), bad = utf8_invalid_at(pt->text, n);
            if (bad != SIZE_MAX)
                return llv_err(err, LLV_ERR_INVALID_ARGUMENT,
                               "message %zu: part %zu: text is not valid UTF-8 (byte %zu of %zu)", idx, j, bad, n);
        } else if (pt->type == LLV_PART_IMAGE) {
            if (!pt->image || pt->image_bytes == 0)
                return llv_err(err, LLV_ERR_INVALID_ARGUMENT, "message %zu: part %zu: image part without bytes", idx,
                               j);
            if (*role == ROLE_SYSTEM || *role == ROLE_TOOL)
                return llv_err(err, LLV_ERR_INVALID_ARGUMENT,
                               "message %zu: part %zu: image parts are only allowed in user and assistant messages "
                               "(role '%s')", idx, j, m->role);
        } else {
            return llv_err(err, LLV_ERR_INVALID_ARGUMENT, "message %zu: part %zu: unknown part type %d", idx, j,
                           (int)pt->type);
        }
    }
    if (m->tool_call_arguments && !m->tool_call_name)
        return llv_err(err, LLV_ERR_INVALID_ARGUMENT, "message %zu: tool_call_arguments without tool_call_name", idx);
    if (m->tool_call_name) {
        if (*role != ROLE_ASSISTANT)
            return llv_err(err, LLV_ERR_INVALID_ARGUMENT,
                           "message %zu: tool_call_name is only valid in an assistant message (role '%s')", idx,
                           m->role);
        llv_status st = check_utf8(m->tool_call_name, idx, "tool_call_name", err);
        if (st) return st;
        if (!m->tool_call_name[0])
            return llv_err(err, LLV_ERR_INVALID_ARGUMENT, "message %zu: tool_call_name is empty", idx);
    } else if (!has_text(m)) {
        return llv_err(err, LLV_ERR_INVALID_ARGUMENT, "message %zu: no content (content is NULL and no parts)", idx);
    }
    return LLV_OK;
}

/* An image part: "<|image|>" as the template prints it, or its offset. */
static void put_image(sbuf *b, size_t at) {
    if (!b->want_marks) {
        sb_str(b, "<|image|>");
        return;
    }
    if (b->s.oom) return;
    if (b->n_marks == b->cap_marks) {
        size_t cap = b->cap_marks ? 2 * b->cap_marks : 8;
        size_t *q = cap < SIZE_MAX / sizeof *q ? realloc(b->marks, cap * sizeof *q) : NULL;
        if (!q) {
            b->s.oom = true;
            return;
        }
        b->marks = q;
        b->cap_marks = cap;
    }
    b->marks[b->n_marks++] = at;
}

/* The content as the template prints a string content or iterates parts. */
static void put_content(sbuf *b, const llv_message *m) {
    if (m->content) {
        sb_str(b, m->content);
        return;
    }
    for (size_t j = 0; j < m->n_parts; j++) {
        if (m->parts[j].type == LLV_PART_IMAGE) put_image(b, b->s.len);
        else sb_str(b, m->parts[j].text);
    }
}

/* content | trim; an image's offset is not stripped across (as its
 * "<|image|>" would not be) */
static bool put_content_trimmed(sbuf *b, const llv_message *m) {
    sbuf t = {0};
    t.want_marks = b->want_marks;
    put_content(&t, m);
    if (t.s.oom) {
        free(t.s.p);
        free(t.marks);
        return false;
    }
    size_t a = 0, e = 0;
    if (t.s.p) /* NULL for empty content: no pointer arithmetic on it */
        py_strip(t.s.p, t.s.len, &a, &e);
    if (t.n_marks) {
        size_t lo = t.marks[0], hi = t.marks[t.n_marks - 1];
        bool blank = a >= e; /* only white space around the images */
        a = blank ? lo : LLV_MIN(a, lo);
        e = blank ? hi : LLV_MAX(e, hi);
    }
    size_t base = b->s.len;
    if (t.s.p) sb_put(b, t.s.p + a, e - a);
    for (size_t k = 0; k < t.n_marks; k++) put_image(b, base + t.marks[k] - a);
    free(t.s.p);
    free(t.marks);
    return true;
}

static llv_status render_turn(sbuf *b, const llv_message *m, role_kind role, size_t idx, llv_error *err) {
    if (m->tool_call_name) {
        llv_pj args;
        const char *a = m->tool_call_arguments ? m->tool_call_arguments : "{}";
        char what[64];
        snprintf(what, sizeof what, "message %zu: tool_call_arguments", idx);
        llv_status st = llv_pj_parse(a, strlen(a), what, &args, err);
        if (st) return st;
        sb_str(b, "<|start_header_id|>assistant<|end_header_id|>\n\n{\"name\": \"");
        sb_str(b, m->tool_call_name);
        sb_str(b, "\", \"parameters\": ");
        llv_pj_dump(&args, &b->s, 0);
        sb_str(b, "}<|eot_id|>");
        llv_pj_free(&args);
        return LLV_OK;
    }
    if (role == ROLE_TOOL) {
        sb_str(b, "<|start_header_id|>ipython<|end_header_id|>\n\n");
        if (m->content) {
            llv_pj_string(m->content, strlen(m->content), &b->s);
        } else { /* a list of parts: json.dumps of [{"type": "text", "text": ...}] */
            sb_chr(b, '[');
            for (size_t j = 0; j < m->n_parts; j++) {
                if (j) sb_str(b, ", ");
                sb_str(b, "{\"type\": \"text\", \"text\": ");
                llv_pj_string(m->parts[j].text, strlen(m->parts[j].text), &b->s);
                sb_chr(b, '}');
            }
            sb_chr(b, ']');
        }
        sb_str(b, "<|eot_id|>");
        return LLV_OK;
    }
    sb_str(b, "<|start_header_id|>");
    sb_str(b, m->role);
    sb_str(b, "<|end_header_id|>\n\n");
    put_content(b, m);
    sb_str(b, "<|eot_id|>");
    return LLV_OK;
}

static void today_string(char out[32]) {
    static const char *const months[12] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                           "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    time_t now = time(NULL);
    struct tm tm;
    if (!localtime_r(&now, &tm)) {
        snprintf(out, 32, "26 Jul 2024"); /* the template's own fallback */
        return;
    }
    /* strftime("%d %b %Y") in the C locale, independent of the process locale */
    snprintf(out, 32, "%02d %s %d", tm.tm_mday, months[tm.tm_mon % 12], tm.tm_year + 1900);
}

void llv_chat_params_init(llv_chat_params *out, size_t size) {
    llv_chat_params p;
    memset(&p, 0, sizeof p);
    p.tools_json = NULL;
    p.date_string = NULL;
    p.add_generation_prompt = true;
    llv_params_out(out, size, &p, sizeof p);
}

static const char TOOLS_PREAMBLE[] =
    "<|start_header_id|>user<|end_header_id|>\n\n"
    "Given the following functions, please respond with a JSON for a function call "
    "with its proper arguments that best answers the given prompt.\n\n"
    "Respond in the format {\"name\": function name, \"parameters\": dictionary of argument name and its value}."
    "Do not use variables.\n\n";

static llv_status render_llama3(const llv_message *msgs, size_t n_msgs, const llv_chat_params *p, bool continuation,
                                char **out, size_t *len, size_t **images, size_t *n_images, llv_error *err) {
    role_kind *roles = malloc(n_msgs * sizeof *roles);
    if (!roles) return llv_err(err, LLV_ERR_OUT_OF_MEMORY, "chat render: out of memory");
    llv_status st = LLV_OK;
    for (size_t i = 0; i < n_msgs && !st; i++) st = check_message(&msgs[i], i, &roles[i], err);
    llv_pj tools = {0};
    bool have_tools = false;
    if (!st && p->tools_json && !continuation) {
        st = llv_pj_parse(p->tools_json, strlen(p->tools_json), "tools_json", &tools, err);
        if (!st && tools.t != LLV_PJ_ARR) {
            llv_pj_free(&tools);
            st = llv_err(err, LLV_ERR_INVALID_ARGUMENT, "tools_json: expected a JSON array of tool definitions");
        }
        have_tools = !st;
    }
    if (!st && p->date_string && utf8_invalid_at(p->date_string, strlen(p->date_string)) != SIZE_MAX)
        st = llv_err(err, LLV_ERR_INVALID_ARGUMENT, "date_string is not valid UTF-8");
    if (st) {
        free(roles);
        llv_pj_free(&tools);
        return st;
    }

    sbuf b = {0};
    b.want_marks = images != NULL;
    size_t i = 0;
    if (!continuation) {
        sb_str(&b, "<|begin_of_text|>");
        bool user_system = roles[0] == ROLE_SYSTEM;
        if (user_system) i = 1;
        bool has_images = false;
        for (size_t k = i; k < n_msgs; k++)
            for (size_t j = 0; j < msgs[k].n_parts; j++)
                if (msgs[k].parts[j].type == LLV_PART_IMAGE) has_images = true;
        if (user_system || !has_images) {
            sb_str(&b, "<|start_header_id|>system<|end_header_id|>\n\n");
            if (have_tools) sb_str(&b, "Environment: ipython\n");
            char today[32];
            if (!p->date_string) today_string(today);
            sb_str(&b, "Cutting Knowledge Date: December 2023\nToday Date: ");
            sb_str(&b, p->date_string ? p->date_string : today);
            sb_str(&b, "\n\n");
            if (user_system && !put_content_trimmed(&b, &msgs[0])) b.s.oom = true;
            sb_str(&b, "<|eot_id|>");
        }
        if (have_tools) {
            if (i >= n_msgs) {
                st = llv_err(err, LLV_ERR_INVALID_ARGUMENT,
                             "chat render: tools need a first user message to go into, but there is none");
            } else {
                sb_str(&b, TOOLS_PREAMBLE);
                for (size_t t = 0; t < tools.count; t++) {
                    llv_pj_dump(&tools.items[t], &b.s, 4);
                    sb_str(&b, "\n\n");
                }
                if (!put_content_trimmed(&b, &msgs[i])) b.s.oom = true;
                sb_str(&b, "<|eot_id|>");
                i++;
            }
        }
    }
    for (; i < n_msgs && !st; i++) st = render_turn(&b, &msgs[i], roles[i], i, err);
    if (!st && p->add_generation_prompt) sb_str(&b, "<|start_header_id|>assistant<|end_header_id|>\n\n");
    free(roles);
    llv_pj_free(&tools);
    if (!st && b.s.oom) st = llv_err(err, LLV_ERR_OUT_OF_MEMORY, "chat render: out of memory (rendered %zu bytes)", b.s.len);
    if (st) {
        free(b.s.p);
        free(b.marks);
        return st;
    }
    if (!b.s.p) { /* cannot happen (BOS or a header is always written), but keep the contract */
        b.s.p = calloc(1, 1);
        if (!b.s.p) {
            free(b.marks);
            return llv_err(err, LLV_ERR_OUT_OF_MEMORY, "chat render: out of memory");
        }
    }
    *out = b.s.p;
    if (len) *len = b.s.len;
    if (images) {
        *images = b.marks;
        *n_images = b.n_marks;
    }
    return LLV_OK;
}

/* ------------------------------------------------------------------------- */
/* ChatML                                                                    */
/* ------------------------------------------------------------------------- */

/* The ChatML templates of SmolLM2, Qwen2 and friends without tools:
 *   {% for message in messages %}
 *     {% if loop.first and messages[0]['role'] != 'system' %}{{ DEFAULT }}{% endif %}
 *     {{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n' }}
 *   {% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}
 * DEFAULT is the template's own default system turn (may be absent). Text
 * parts are joined (the template would fail on a list); images and tools have
 * no place in this format and are refused. */
static llv_status render_chatml(const llv_chat_format *f, const llv_message *msgs, size_t n_msgs,
                                const llv_chat_params *p, bool continuation, char **out, size_t *len, llv_error *err) {
    role_kind role;
    for (size_t i = 0; i < n_msgs; i++) {
        llv_status st = check_message(&msgs[i], i, &role, err);
        if (st) return st;
        if (msgs[i].tool_call_name)
            return llv_err(err, LLV_ERR_UNSUPPORTED, "message %zu: this model's chat template (ChatML) has no tool "
                           "calls", i);
        for (size_t j = 0; j < msgs[i].n_parts; j++)
            if (msgs[i].parts[j].type == LLV_PART_IMAGE)
                return llv_err(err, LLV_ERR_UNSUPPORTED, "message %zu: part %zu: this model takes no images", i, j);
    }
    if (p->tools_json && !continuation)
        return llv_err(err, LLV_ERR_UNSUPPORTED, "tools: this model's chat template (ChatML) has no tools");
    sbuf b = {0};
    for (size_t i = 0; i < n_msgs; i++) {
        if (i == 0 && !continuation && f->default_system && strcmp(msgs[0].role, "system") != 0)
            sb_str(&b, f->default_system);
        sb_str(&b, "<|im_start|>");
        sb_str(&b, msgs[i].role);
        sb_chr(&b, '\n');
        put_content(&b, &msgs[i]);
        sb_str(&b, "<|im_end|>\n");
    }
    if (p->add_generation_prompt) sb_str(&b, "<|im_start|>assistant\n");
    if (b.s.oom) {
        free(b.s.p);
        return llv_err(err, LLV_ERR_OUT_OF_MEMORY, "chat render: out of memory (rendered %zu bytes)", b.s.len);
    }
    *out = b.s.p;
    if (len) *len = b.s.len;
    return LLV_OK;
}

/* ------------------------------------------------------------------------- */
/* Formats                                                                   */
/* ------------------------------------------------------------------------- */

/* A Jinja string literal starting at s[0] (the quote): its decoded text,
 * malloc'd, or NULL if unterminated. Python escapes \n \t \\ \' \". */
static char *jinja_literal(const char *s) {
    char q = s[0];
    sbuf b = {0};
    for (const char *c = s + 1; *c; c++) {
        if (*c == q) {
            if (!b.s.p && !b.s.oom) b.s.p = calloc(1, 1);
            if (b.s.oom) free(b.s.p);
            return b.s.oom ? NULL : b.s.p;
        }
        if (*c == '\\' && c[1]) {
            c++;
            char e = *c == 'n' ? '\n' : *c == 't' ? '\t' : *c;
            if (*c != 'n' && *c != 't' && *c != '\\' && *c != '\'' && *c != '"') break; /* unknown escape */
            sb_chr(&b, e);
        } else {
            sb_chr(&b, *c);
        }
    }
    free(b.s.p);
    return NULL;
}

const char *llv_chat_format_name(const llv_chat_format *f) {
    switch (f->kind) {
    case LLV_CHAT_LLAMA3: return "llama3";
    case LLV_CHAT_CHATML: return "chatml";
    default: return "unsupported";
    }
}

llv_status llv_chat_format_init(llv_chat_format *f, const char *tmpl, const char *name, llv_error *err) {
    memset(f, 0, sizeof *f);
    if (name && *name) {
        if (strcmp(name, "llama3") == 0 || strcmp(name, "llama-3") == 0) f->kind = LLV_CHAT_LLAMA3;
        else if (strcmp(name, "chatml") == 0) f->kind = LLV_CHAT_CHATML;
        else
            return llv_err(err, LLV_ERR_INVALID_ARGUMENT, "chat template '%.64s' is not one llv has (llama3, chatml)",
                           name);
        return LLV_OK;
    }
    if (!tmpl || strstr(tmpl, "<|start_header_id|>")) { /* no template: the Llama 3 family is llv's own */
        f->kind = LLV_CHAT_LLAMA3;
        return LLV_OK;
    }
    if (strstr(tmpl, "<|im_start|>") && strstr(tmpl, "message['role'] + '\n' + message['content'] + '<|im_end|>'") &&
        strstr(tmpl, "add_generation_prompt") && !strstr(tmpl, "tool")) {
        f->kind = LLV_CHAT_CHATML;
        const char *d = strstr(tmpl, "<|im_start|>system\n");
        if (d && d > tmpl && (d[-1] == '\'' || d[-1] == '"') && strstr(tmpl, "messages[0]['role'] != 'system'")) {
            f->default_system = jinja_literal(d - 1);
            if (!f->default_system) {
                f->kind = LLV_CHAT_UNSUPPORTED;
                snprintf(f->why, sizeof f->why, "its default system message is not a plain string literal");
            }
        }
        return LLV_OK;
    }
    f->kind = LLV_CHAT_UNSUPPORTED;
    snprintf(f->why, sizeof f->why, "it is neither a Llama 3 nor a ChatML template");
    return LLV_OK;
}

void llv_chat_format_free(llv_chat_format *f) {
    free(f->default_system);
    f->default_system = NULL;
}

const char *llv_chat_format_close(const llv_chat_format *f) {
    return f->kind == LLV_CHAT_CHATML ? "<|im_end|>\n" : "<|eot_id|>";
}

const char *llv_chat_format_gap(const llv_chat_format *f) { return f->kind == LLV_CHAT_CHATML ? "\n" : ""; }

llv_status llv_chat_render_images(const llv_chat_format *f, const llv_message *msgs, size_t n_msgs,
                                  const llv_chat_params *params, bool continuation, char **out, size_t *len,
                                  size_t **images, size_t *n_images, llv_error *err) {
    if (!out) return llv_err(err, LLV_ERR_INVALID_ARGUMENT, "chat render: out is NULL");
    *out = NULL;
    if (len) *len = 0;
    if (images) *images = NULL;
    if (n_images) *n_images = 0;
    if (images && !n_images) return llv_err(err, LLV_ERR_INVALID_ARGUMENT, "chat render: n_images is NULL");
    if (n_msgs == 0) return llv_err(err, LLV_ERR_INVALID_ARGUMENT, "chat render: no messages");
    if (!msgs) return llv_err(err, LLV_ERR_INVALID_ARGUMENT, "chat render: messages is NULL (n_msgs = %zu)", n_msgs);
    llv_chat_params def = llv_chat_default_params();
    const llv_chat_params *p = params ? params : &def;
    static const llv_chat_format llama3 = {LLV_CHAT_LLAMA3, NULL, ""};
    if (!f) f = &llama3;
    switch (f->kind) {
    case LLV_CHAT_LLAMA3: return render_llama3(msgs, n_msgs, p, continuation, out, len, images, n_images, err);
    case LLV_CHAT_CHATML: return render_chatml(f, msgs, n_msgs, p, continuation, out, len, err); /* no images */
    default:
        return llv_err(err, LLV_ERR_UNSUPPORTED,
                       "the model's chat template cannot be rendered (%s); choose one with --chat-template "
                       "llama3|chatml (llv_model_params.chat_template) or send a raw prompt", f->why);
    }
}

llv_status llv_chat_render_text(const llv_chat_format *f, const llv_message *msgs, size_t n_msgs,
                                const llv_chat_params *params, bool continuation, char **out, size_t *len,
                                llv_error *err) {
    return llv_chat_render_images(f, msgs, n_msgs, params, continuation, out, len, NULL, NULL, err);
}

llv_status llv_chat_render(const llv_model *model, const llv_message *msgs, size_t n_msgs,
                           const llv_chat_params *params, char *buf, size_t capacity, size_t *n_bytes,
                           llv_error *err) {
    llv_err_clear(err);
    LLV_PARAMS_IN(llv_chat_params, params, err);
    if (capacity > 0 && !buf)
        return llv_err(err, LLV_ERR_INVALID_ARGUMENT, "llv_chat_render: buf is NULL but capacity = %zu", capacity);
    char *text;
    size_t len;
    llv_status st = llv_chat_render_text(model ? &model->chat : NULL, msgs, n_msgs, params, false, &text, &len, err);
    if (st) return st;
    if (n_bytes) *n_bytes = len;
    if (len >= capacity) {
        free(text);
        return llv_err(err, LLV_ERR_BUFFER_TOO_SMALL, "llv_chat_render: %zu bytes needed (plus NUL), capacity %zu",
                       len, capacity);
    }
    memcpy(buf, text, len + 1);
    free(text);
    return LLV_OK;
}
