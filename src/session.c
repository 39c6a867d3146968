/* session.c - the public session API: one conversation over a model. It keeps
 * the token history with a per-row image bitmask, the KV cache (prefill only
 * what is pending, so later turns reuse earlier ones), the conversation's
 * images as cross-attention K/V and a queue of images waiting for their
 * image token; generation samples token by token and streams complete UTF-8
 * pieces. Pool, vision buffers, image cache and row scratch are the
 * engine's: the one the session attaches to, or its own engine of one. */
#include "chat.h"
#include "constraint.h"
#include "cross-kv.h"
#include "engine.h"
#include "image-cache.h"
#include "image.h"
#include "lora.h"
#include "mmap.h"
#include "model.h"
#include "sampler.h"
#include "session.h"
#include "text.h"
#include "tokenizer.h"
#include "vision.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* An image of the conversation or of the queue: encoded (ref) or waiting for
 * the encoder (tiles). */
typedef struct img_slot {
    uint64_t        hash;
    llv_kv_ref     *ref;
    llv_image_tiles tiles;
    bool            has_tiles;
} img_slot;

struct llv_session {
    const llv_model   *m;
    llv_session_params p;
    int32_t            n_ctx;
    int32_t            image_token; /* -1 without vision */
    llv_engine        *eng;        /* params.engine, or the session's own engine of one */
    bool               own_eng;    /* eng is the session's: nobody else shares its cache  */
    bool               generating; /* inside llv_session_generate               */
    llv_text_state    *ts;         /* KV cache; forwards run on the engine's scratch */
    float             *logits;       /* [n_vocab] of the last prefilled row */
    bool               logits_ready; /* logits belong to row n_tokens-1 and are unmodified */
    const llv_lora    *lora;         /* adapter selected for the next prefill (NULL: none) */
    const llv_lora    *kv_lora;      /* adapter the cached KV rows were computed with      */

    /* log-probabilities of the last generate (llv_session_logprobs) */
    bool               lp_on;        /* that generate asked for them                  */
    llv_logprob_entry *lp;           /* [cap_lp], n_lp used                           */
    size_t             n_lp, cap_lp;
    float             *lp_raw;       /* [n_vocab] the raw logits the sampler mutates  */

    int32_t  *tokens; /* [n_ctx] history */
    uint64_t *masks;  /* [n_ctx] image bitmask per row */
    uint8_t  *row_nimg; /* [n_ctx] images of the conversation when the row's KV was computed: a row
                           without an image still attends to all of them (HF), so its KV depends on them */
    int32_t   n_tokens;
    uint64_t  cur_mask; /* mask of the last row */

    img_slot imgs[LLV_MAX_IMAGES]; /* placed images, in order of their tokens */
    int32_t  n_imgs;
    img_slot queue[LLV_MAX_IMAGES]; /* queued, not yet placed */
    int32_t  n_queue;

    int32_t encoder_runs;

    /* prefix cache (llv_session_reset_keep_prefix): the KV rows of the old
     * conversation stay; appends compare each new row with the old one it
     * overwrites, and the next prefill keeps the rows that matched */
    bool     prefix_open;    /* still matching: every new row so far equals the old one */
    int32_t  prefix_old_n;   /* rows of the old conversation */
    int32_t  prefix_match;   /* leading rows equal to the old conversation's */
    uint64_t prefix_hash[LLV_MAX_IMAGES]; /* the old conversation's images, in order */
    int32_t  prefix_n_imgs;
    int32_t  n_cached;       /* rows the last prefill reused */

    /* llv_sampling_params.timeout_ms also covers the prefill and image encodes of a generate */
    double   deadline_s;     /* llv_time_s() deadline of the running generate, 0 = none */
    bool     timed_out;      /* the prefill stopped at it                               */

    /* accounting between generate calls */
    double  image_s;         /* decode + encode since the last generate */
    int32_t n_encoded;       /* encoder runs since the last generate */
    int32_t n_at_gen_end;    /* n_tokens when the last generate returned */
    bool    open_answer;     /* the last generate stopped without an end token */
    bool    closed_answer;   /* the last generate ended with its end token, nothing added since */
};

/* ------------------------------------------------------------------------- */
/* params, create, free                                                      */
/* ------------------------------------------------------------------------- */

void llv_session_params_init(llv_session_params *out, size_t size) {
    llv_session_params p;
    memset(&p, 0, sizeof p);
    p.n_ctx = 0;
    p.n_threads = 0;
    p.n_batch = 512;
    p.kv_type = LLV_KV_F16;
    p.max_images = 8;
    llv_image_limits lim;
    llv_image_limits_default(&lim);
    p.max_image_pixels = lim.max_pixels;
    p.max_image_bytes = lim.max_bytes;
    p.image_cache_entries = 4;
    llv_params_out(out, size, &p, sizeof p);
}

static llv_image_limits image_limits(const llv_session *s) {
    llv_image_limits lim = {s->p.max_image_pixels, s->p.max_image_bytes};
    return lim;
}

static void slot_clear(img_slot *sl) {
    llv_kv_ref_release(sl->ref);
    if (sl->has_tiles) llv_image_tiles_free(&sl->tiles);
    memset(sl, 0, sizeof *sl);
}

static llv_status session_create(const llv_model *model, const llv_session_params *params, bool check_memory,
                                 llv_session **out, llv_error *err) {
    if (!out) return llv_err(err, LLV_ERR_INVALID_ARGUMENT, "llv_session_create: out is NULL");
    *out = NULL;
    if (!model) return llv_err(err, LLV_ERR_INVALID_ARGUMENT, "llv_session_create: model is NULL");
    const llv_model *m = model;
    if (!m->has_weights)
        return llv_err(err, LLV_ERR_UNSUPPORTED,
                       "llv_session_create: the model file has no weights (vocabulary-only); it can tokenize but "
                       "not generate");
    llv_session_params p = params ? *params : llv_session_default_params();
    int32_t max_ctx = m->hp.n_ctx_train > 0 ? m->hp.n_ctx_train : 4096;
    if (p.n_ctx < 0 || p.n_ctx > max_ctx)
        return llv_err(err, LLV_ERR_INVALID_ARGUMENT,
                       "session params: n_ctx = %d out of range (0 = default, 1..%d, the model's maximum)", p.n_ctx,
                       max_ctx);
    llv_status st = llv_engine_check_params("session params", p.n_threads, p.image_cache_entries, err);
    if (st != LLV_OK) return st;
    if (p.n_batch < 0)
        return llv_err(err, LLV_ERR_INVALID_ARGUMENT, "session params: n_batch = %d must be >= 0 (0 = 512)",
                       p.n_batch);
    if (p.kv_type != LLV_KV_F32 && p.kv_type != LLV_KV_F16)
        return llv_err(err, LLV_ERR_INVALID_ARGUMENT, "session params: kv_type = %d (expected LLV_KV_F32 or LLV_KV_F16)",
                       (int)p.kv_type);
    if (p.max_images < 0 || p.max_images > LLV_MAX_IMAGES)
        return llv_err(err, LLV_ERR_INVALID_ARGUMENT, "session params: max_images = %d out of range (0..%d)",
                       p.max_images, LLV_MAX_IMAGES);
    if (p.n_ctx == 0) p.n_ctx = LLV_MIN(max_ctx, 4096);
    if (p.n_batch == 0) p.n_batch = 512;

    llv_session *s = calloc(1, sizeof *s);
    if (!s) return llv_err(err, LLV_ERR_OUT_OF_MEMORY, "llv_session_create: out of memory");
    s->m = m;
    s->p = p;
    s->n_ctx = p.n_ctx;
    s->image_token = m->hp.has_vision ? m->hp.image_token_id : -1;
    llv_engine *e = p.engine;
    if (!e) { /* an engine of one: its pool, vision buffers, cache and n_batch rows of scratch */
        llv_engine_params ep = llv_engine_default_params();
        ep.n_threads = p.n_threads;
        ep.max_rows = p.n_batch;
        ep.image_cache_entries = p.image_cache_entries;
        ep.gather_us = 0;
        if ((st = llv_engine_new(m, &ep, 1, &e, err)) != LLV_OK) goto fail;
    }
    if ((st = llv_engine_attach(e, m, err)) != LLV_OK) {
        if (!p.engine) llv_engine_free(e);
        goto fail;
    }
    s->eng = e;
    s->own_eng = !p.engine;
    /* forwards run on the engine's scratch: the state holds the KV cache only */
    if ((st = llv_text_state_create(m, p.n_ctx, 0, p.kv_type, &s->ts, err)) != LLV_OK) goto fail;
    s->tokens = malloc((size_t)p.n_ctx * sizeof *s->tokens);
    s->masks = malloc((size_t)p.n_ctx * sizeof *s->masks);
    s->row_nimg = malloc((size_t)p.n_ctx);
    s->logits = malloc((size_t)LLV_MAX(m->hp.n_vocab, 1) * sizeof *s->logits);
    if (!s->tokens || !s->masks || !s->row_nimg || !s->logits) {
        st = llv_err(err, LLV_ERR_OUT_OF_MEMORY, "llv_session_create: out of memory for %d-token history",
                     p.n_ctx);
        goto fail;
    }
    /* buffers are not touched yet: what fails here would otherwise swap or be killed later */
    uint64_t kv = 0, total = 0, avail = check_memory && !m->params.no_memory_check ? llv_mem_available() : 0;
    llv_session_memory(s, &kv, &total);
    if (avail && total > avail) {
        char a[32], b[32], c[32];
        st = llv_err(err, LLV_ERR_OUT_OF_MEMORY,
                     "a session of %d tokens needs %s (KV cache %s) but %s of memory are available; use a smaller "
                     "context (n_ctx, --ctx)", p.n_ctx, llv_fmt_bytes(total, a),
                     llv_fmt_bytes(kv, b), llv_fmt_bytes(avail, c));
        goto fail;
    }
    *out = s;
    return LLV_OK;
fail:
    llv_err_prefix(err, "llv_session_create");
    llv_session_free(s);
    return st;
}

static void clear_conversation(llv_session *s) {
    for (int32_t i = 0; i < s->n_imgs; i++) slot_clear(&s->imgs[i]);
    for (int32_t i = 0; i < s->n_queue; i++) slot_clear(&s->queue[i]);
    s->n_imgs = s->n_queue = 0;
    s->n_tokens = 0;
    s->cur_mask = 0;
    s->logits_ready = false;
    s->image_s = 0;
    s->n_encoded = 0;
    s->n_at_gen_end = 0;
    s->open_answer = false;
    s->closed_answer = false;
    s->prefix_open = false;
    s->prefix_old_n = s->prefix_match = s->prefix_n_imgs = 0;
    s->lp_on = false;
    s->n_lp = 0;
}

void llv_session_free(llv_session *s) {
    if (!s) return;
    clear_conversation(s);
    llv_text_state_free(s->ts);
    if (s->eng) {
        llv_engine_detach(s->eng);
        if (s->own_eng) llv_engine_free(s->eng);
    }
    free(s->tokens);
    free(s->masks);
    free(s->row_nimg);
    free(s->logits);
    free(s->lp);
    free(s->lp_raw);
    free(s);
}

llv_status llv_session_create(const llv_model *model, const llv_session_params *params, llv_session **out,
                              llv_error *err) {
    llv_err_clear(err);
    LLV_PARAMS_IN(llv_session_params, params, err);
    return session_create(model, params, true, out, err);
}

llv_status llv_memory_plan_get(const llv_model *model, const llv_session_params *params, llv_memory_plan *out,
                               llv_error *err) {
    llv_err_clear(err);
    if (!model || !out) return llv_err(err, LLV_ERR_INVALID_ARGUMENT, "llv_memory_plan_get: NULL argument");
    memset(out, 0, sizeof *out);
    LLV_PARAMS_IN(llv_session_params, params, err);
    llv_session_params p = params ? *params : llv_session_default_params();
    p.engine = NULL;
    p.n_threads = 1; /* the plan does not depend on it: no need to start workers */
    llv_session *s = NULL;
    llv_status st = session_create(model, &p, false, &s, err);
    if (st != LLV_OK) return st;
    llv_session_memory(s, &out->kv, &out->session);
    const llv_hparams *hp = &model->hp;
    if (hp->has_vision) {
        /* as image encoding allocates them: per cross layer K and V of [n_head_kv, tiles * P, head_dim] in the
         * KV type (plus the projected states when LoRA adapters may re-project them); the engine's projector
         * scratch once, at its first image */
        uint64_t tok = (uint64_t)hp->v_max_tiles * (uint64_t)hp->v_P, elem = p.kv_type == LLV_KV_F16 ? 2 : 4;
        uint64_t states = tok * (uint64_t)hp->n_embd * sizeof(float);
        out->per_image = (uint64_t)hp->n_cross * 2 * tok * (uint64_t)hp->n_head_kv * (uint64_t)hp->head_dim * elem +
                         (model->n_loras > 0 ? states : 0);
        out->session += states;
    }
    out->weights = model->has_weights ? llv_gguf_file_size(model->gguf) : 0;
    int32_t imgs = hp->has_vision ? LLV_MAX(p.max_images, 1) : 0;
    out->total = out->weights + out->session + (uint64_t)imgs * out->per_image;
    out->available = llv_mem_available();
    llv_session_free(s);
    return LLV_OK;
}

void llv_session_reset(llv_session *s) {
    if (!s) return;
    clear_conversation(s);
    llv_text_state_truncate(s->ts, 0);
    s->n_cached = 0;
}

void llv_session_reset_keep_prefix(llv_session *s) {
    if (!s) return;
    int32_t old_n = LLV_MIN(s->n_tokens, llv_text_state_n_past(s->ts)); /* rows whose KV is there */
    int32_t n_imgs = s->n_imgs;
    uint64_t hash[LLV_MAX_IMAGES];
    for (int32_t i = 0; i < n_imgs; i++) hash[i] = s->imgs[i].hash;
    clear_conversation(s);
    s->n_cached = 0;
    if (old_n <= 0 || s->kv_lora != s->lora) {
        llv_text_state_truncate(s->ts, 0);
        return;
    }
    s->prefix_open = true;
    s->prefix_old_n = old_n;
    s->prefix_n_imgs = n_imgs;
    memcpy(s->prefix_hash, hash, (size_t)n_imgs * sizeof hash[0]);
}

int32_t llv_session_cached_tokens(const llv_session *s) { return s ? s->n_cached : 0; }

void llv_session_memory(const llv_session *s, uint64_t *kv_bytes, uint64_t *total_bytes) {
    uint64_t kv = 0, total = 0;
    if (s) {
        kv = llv_text_state_kv_bytes(s->ts);
        total = llv_text_state_bytes(s->ts);
        total += (uint64_t)s->n_ctx * (sizeof(int32_t) + sizeof(uint64_t));
        total += (uint64_t)s->m->hp.n_vocab * sizeof(float);
        total += (uint64_t)s->cap_lp * sizeof *s->lp + (s->lp_raw ? (uint64_t)s->m->hp.n_vocab * sizeof(float) : 0);
        /* its own engine's buffers (scratch, vision, cache); a shared engine's are not the session's */
        if (s->own_eng) total += llv_engine_bytes(s->eng);
        /* conversation images not held by the cache */
        for (int32_t i = 0; i < s->n_imgs; i++) {
            const llv_kv_ref *r = s->imgs[i].ref;
            if (r && !llv_engine_cache_holds(s->eng, r)) total += llv_cross_kv_bytes(r->kv);
        }
    }
    if (kv_bytes) *kv_bytes = kv;
    if (total_bytes) *total_bytes = total;
}

const int32_t *llv_session_tokens(const llv_session *s, size_t *n) {
    if (n) *n = s ? (size_t)s->n_tokens : 0;
    return s ? s->tokens : NULL;
}

int32_t llv_session_encoder_runs(const llv_session *s) { return s ? s->encoder_runs : 0; }

const uint64_t *llv_session_row_images(const llv_session *s, size_t *n) {
    if (n) *n = s ? (size_t)s->n_tokens : 0;
    return s ? s->masks : NULL;
}

/* ------------------------------------------------------------------------- */
/* images                                                                    */
/* ------------------------------------------------------------------------- */

/* A cached image's K/V serve this session if they are stored in its KV type
 * (sessions of one engine may differ) and match its adapter or can be
 * recomputed (kept projector output); any_adapter: for any adapter of the
 * model (the adapter is chosen later, at generate). Otherwise released: the
 * image is decoded and encoded again. */
static llv_kv_ref *lora_usable(const llv_session *s, llv_kv_ref *r, bool any_adapter) {
    if (!r) return NULL;
    if (r->kv->type == s->p.kv_type && (r->kv->states || (!any_adapter && r->kv->lora == s->lora))) return r;
    llv_kv_ref_release(r);
    return NULL;
}

static llv_status check_session(const llv_session *s, const char *fn, llv_error *err) {
    llv_err_clear(err); /* the public session calls start here */
    if (!s) return llv_err(err, LLV_ERR_INVALID_ARGUMENT, "%s: session is NULL", fn);
    return LLV_OK;
}

static llv_status need_vision(const llv_session *s, const char *fn, llv_error *err) {
    if (s->image_token < 0) return llv_err(err, LLV_ERR_UNSUPPORTED, "%s: the model has no vision encoder", fn);
    return LLV_OK;
}

static llv_status image_room(const llv_session *s, llv_error *err) {
    if (s->n_imgs + s->n_queue >= s->p.max_images)
        return llv_err(err, LLV_ERR_LIMIT, "too many images: the session allows max_images = %d (%d placed, %d queued)",
                       s->p.max_images, s->n_imgs, s->n_queue);
    return LLV_OK;
}

/* Queues an image known by its hash: from the cache, else preprocessed from
 * img (or from the decoded bytes when img is NULL). */
static llv_status queue_image(llv_session *s, uint64_t hash, const llv_rgb_image *img, const void *bytes, size_t n,
                              const char *fn, double t0, llv_error *err) {
    const llv_hparams *hp = &s->m->hp;
    img_slot sl;
    memset(&sl, 0, sizeof sl);
    sl.hash = hash;
    sl.ref = lora_usable(s, llv_engine_cache_get(s->eng, hash), s->m->n_loras > 0);
    if (!sl.ref) {
        llv_status st = LLV_OK;
        llv_rgb_image dec;
        memset(&dec, 0, sizeof dec);
        if (!img) {
            llv_image_limits lim = image_limits(s);
            st = llv_image_decode(bytes, n, &lim, &dec, err);
            img = &dec;
        }
        if (st == LLV_OK)
            st = llv_image_preprocess(img, hp->v_image_size, hp->v_max_tiles, hp->image_mean, hp->image_std,
                                      &sl.tiles, NULL, err);
        llv_rgb_image_free(&dec);
        if (st != LLV_OK) {
            llv_err_prefix(err, "%s", fn);
            return st;
        }
        sl.has_tiles = true;
    }
    s->queue[s->n_queue++] = sl;
    s->image_s += llv_time_s() - t0;
    return LLV_OK;
}

/* the preprocessing settings that make one image's tiles (part of its hash) */
#define IMAGE_SETTINGS(hp) {(hp)->v_image_size, (hp)->v_max_tiles}

llv_status llv_session_add_image(llv_session *s, const void *bytes, size_t n_bytes, llv_error *err) {
    const char *fn = "llv_session_add_image";
    llv_status st = check_session(s, fn, err);
    if (st != LLV_OK || (st = need_vision(s, fn, err)) != LLV_OK) return st;
    if (!bytes || n_bytes == 0)
        return llv_err(err, LLV_ERR_INVALID_ARGUMENT, "%s: empty image (bytes %s, n_bytes %zu)", fn,
                       bytes ? "set" : "NULL", n_bytes);
    llv_image_limits lim = image_limits(s);
    if ((st = llv_image_check_bytes(n_bytes, &lim, err)) != LLV_OK) { /* a cached image too */
        llv_err_prefix(err, "max_image_bytes");
        return st;
    }
    if ((st = image_room(s, err)) != LLV_OK) return st;
    double t0 = llv_time_s();
    int32_t settings[2] = IMAGE_SETTINGS(&s->m->hp);
    return queue_image(s, llv_image_hash(bytes, n_bytes, settings, 2), NULL, bytes, n_bytes, fn, t0, err);
}

llv_status llv_session_add_image_rgb(llv_session *s, int32_t width, int32_t height, size_t stride, const void *rgb,
                                     llv_error *err) {
    const char *fn = "llv_session_add_image_rgb";
    llv_status st = check_session(s, fn, err);
    if (st != LLV_OK || (st = need_vision(s, fn, err)) != LLV_OK) return st;
    if (!rgb) return llv_err(err, LLV_ERR_INVALID_ARGUMENT, "%s: rgb is NULL", fn);
    if (width <= 0 || height <= 0)
        return llv_err(err, LLV_ERR_INVALID_ARGUMENT, "%s: image of %dx%d pixels (width and height must be > 0)", fn,
                       width, height);
    if (stride < (size_t)width * 3)
        return llv_err(err, LLV_ERR_INVALID_ARGUMENT, "%s: stride %zu is less than width * 3 = %zu bytes", fn, stride,
                       (size_t)width * 3);
    llv_image_limits lim = image_limits(s); /* the pixel limit of decoded images */
    if ((st = llv_image_check_dims("RGB", width, height, &lim, err)) != LLV_OK) {
        llv_err_prefix(err, "%s: max_image_pixels", fn);
        return st;
    }
    if ((st = image_room(s, err)) != LLV_OK) return st;
    size_t row = (size_t)width * 3, packed;
    if (!llv_mul_size(row, (size_t)height, &packed))
        return llv_err(err, LLV_ERR_LIMIT, "%s: image of %dx%d pixels is too large", fn, width, height);
    double t0 = llv_time_s();
    const llv_hparams *hp = &s->m->hp;
    int32_t settings[2] = IMAGE_SETTINGS(hp);
    uint64_t hash = llv_image_hash_rgb(width, height, stride, rgb, settings, 2);
    /* the preprocessing reads packed rows: copy only rows that are not */
    llv_rgb_image img = {width, height, (uint8_t *)(uintptr_t)rgb};
    uint8_t *copy = NULL;
    if (stride != row) {
        if (!(copy = malloc(packed)))
            return llv_err(err, LLV_ERR_OUT_OF_MEMORY, "%s: out of memory for %zu bytes of pixels", fn, packed);
        for (int32_t y = 0; y < height; y++) memcpy(copy + (size_t)y * row, (const uint8_t *)rgb + (size_t)y * stride, row);
        img.rgb = copy;
    }
    st = queue_image(s, hash, &img, NULL, 0, fn, t0, err);
    free(copy);
    return st;
}

llv_status llv_session_add_image_file(llv_session *s, const char *path, llv_error *err) {
    llv_status st = check_session(s, "llv_session_add_image_file", err);
    if (st != LLV_OK) return st;
    if (!path) return llv_err(err, LLV_ERR_INVALID_ARGUMENT, "llv_session_add_image_file: path is NULL");
    char *buf = NULL;
    size_t n = 0;
    llv_error e = {0};
    /* read at most the byte limit (one past it is read to tell it was exceeded) */
    st = llv_file_read(path, (size_t)LLV_MIN(s->p.max_image_bytes, (uint64_t)SIZE_MAX), &buf, &n, &e);
    if (st == LLV_ERR_LIMIT)
        return llv_err(err, LLV_ERR_LIMIT, "image '%s' exceeds max_image_bytes = %llu", path,
                       (unsigned long long)s->p.max_image_bytes);
    if (st != LLV_OK) /* a missing file is an I/O error here, as any other that cannot be opened */
        return llv_err(err, st == LLV_ERR_NOT_FOUND ? LLV_ERR_IO : st, "image: %s", e.message);
    if (n == 0) st = llv_err(err, LLV_ERR_FORMAT, "image '%s' is empty", path);
    else if ((st = llv_session_add_image(s, buf, n, err)) != LLV_OK) llv_err_prefix(err, "'%s'", path);
    free(buf);
    return st;
}

/* Makes a placed image's K/V those of the session's adapter, from the kept
 * projector output. In place when the engine is the session's own (nobody
 * else holds them); an engine shared with other sessions may hand them the
 * same K/V through its cache, so another adapter gets a private copy (the
 * same arithmetic). Under the compute lock. */
static llv_status adapt_slot(llv_session *s, img_slot *sl, llv_error *err) {
    llv_cross_kv *kv = sl->ref->kv;
    if (kv->lora == s->lora) return LLV_OK;
    llv_threadpool *pool = llv_engine_pool(s->eng);
    if (s->own_eng) return llv_cross_kv_compute(s->m, pool, s->lora, NULL, kv->type, &kv, err);
    const llv_cross_kv_input in = {
        .states = kv->states, .n_tok = kv->n_tok, .n_tiles = kv->n_tiles, .tile_tokens = kv->tile_tokens};
    llv_cross_kv *nk = NULL;
    llv_status st = llv_cross_kv_compute(s->m, pool, s->lora, &in, kv->type, &nk, err);
    if (st != LLV_OK) return st;
    llv_kv_ref *r = llv_kv_ref_new(nk);
    if (!r) return llv_err(err, LLV_ERR_OUT_OF_MEMORY, "image encode: out of memory");
    llv_kv_ref_release(sl->ref);
    sl->ref = r;
    return LLV_OK;
}

/* After each encoder layer: a generate's time limit, then the user's
 * progress (either may stop the encode). */
static bool encode_progress(const char *what, float fraction, void *user) {
    llv_session *s = user;
    if (s->deadline_s > 0 && llv_time_s() >= s->deadline_s) {
        s->timed_out = true;
        return false;
    }
    return !s->p.progress || s->p.progress(what, fraction, s->p.progress_user);
}

/* Between pieces of an image encode: the other sessions' waiting passes may
 * run (llv_engine_yield: at most one per slice_ms of encoding). */
static void encode_yield(const char *what, void *user) {
    llv_session *s = user;
    llv_engine_yield(s->eng, s->generating, what);
}

/* The pass after an encode is the first to use the cross layers' weights where
 * the conversations so far had no image (the cross layers are skipped then):
 * their pages are mapped here, one layer between yields, not by page faults in
 * a pass every decoding session waits for (at the 11B shapes on 2 cores those
 * made the first pass 0.7 s longer: 15 000 minor and 84 major faults). */
static void touch_cross_weights(llv_session *s) {
    const llv_hparams *hp = &s->m->hp;
    for (int32_t i = 0; i < hp->n_cross; i++) {
        const llv_text_layer *l = &s->m->text.layers[hp->cross_layers[i]];
        const llv_tensor *t[] = {l->wq, l->wo, l->ffn_gate, l->ffn_up, l->ffn_down};
        for (size_t k = 0; k < sizeof t / sizeof t[0]; k++)
            if (t[k]) llv_touch_pages(t[k]->data, t[k]->nbytes);
        encode_yield("cross layer weights", s);
    }
}

/* Encodes a placed image unless it already has K/V (also from the cache, which
 * catches the same image placed twice before the first encode, or encoded by
 * another session of the engine meanwhile). Under the compute lock. */
static llv_status encode_slot_locked(llv_session *s, img_slot *sl, llv_error *err) {
    /* K/V of another adapter are recomputed from the kept projector output */
    if (sl->ref) return adapt_slot(s, sl, err);
    if ((sl->ref = lora_usable(s, llv_engine_cache_get(s->eng, sl->hash), false)) != NULL) {
        llv_image_tiles_free(&sl->tiles);
        sl->has_tiles = false;
        return adapt_slot(s, sl, err);
    }
    const llv_hparams *hp = &s->m->hp;
    double t0 = llv_time_s();
    int32_t n_tok = hp->v_max_tiles * hp->v_P;
    size_t n;
    if (!llv_mul_size((size_t)n_tok, (size_t)hp->n_embd, &n))
        return llv_err(err, LLV_ERR_INTERNAL, "image encode: projector output size overflows");
    float *cross_states = NULL;
    llv_status st = llv_engine_cross_states(s->eng, n, &cross_states, err);
    if (st != LLV_OK) return st;
    llv_threadpool *pool = llv_engine_pool(s->eng);
    llv_vision_state *vs = llv_engine_vision(s->eng);
    llv_vision_set_yield(vs, encode_yield, s);
    st = llv_vision_encode(s->m, vs, pool, sl->tiles.pixels, sl->tiles.aspect_ratio_id, sl->tiles.n_tiles,
                           cross_states, NULL, encode_progress, s, err);
    llv_vision_set_yield(vs, NULL, NULL);
    if (st != LLV_OK) return st;
    touch_cross_weights(s);
    /* the K/V projections yield too: they and the projector are seconds of work at the 11B shapes */
    const llv_cross_kv_input in = {.states = cross_states, .n_tok = n_tok, .n_tiles = sl->tiles.n_tiles,
                                   .tile_tokens = hp->v_P, .yield = encode_yield, .yield_user = s};
    llv_cross_kv *kv = NULL;
    if ((st = llv_cross_kv_compute(s->m, pool, s->lora, &in, s->p.kv_type, &kv, err)) != LLV_OK) return st;
    if (!(sl->ref = llv_kv_ref_new(kv)))
        return llv_err(err, LLV_ERR_OUT_OF_MEMORY, "image encode: out of memory");
    llv_image_tiles_free(&sl->tiles);
    sl->has_tiles = false;
    llv_engine_cache_put(s->eng, sl->hash, sl->ref);
    llv_engine_count_encode(s->eng);
    s->encoder_runs++;
    s->n_encoded++;
    s->image_s += llv_time_s() - t0;
    return LLV_OK;
}

static llv_status encode_slot(llv_session *s, img_slot *sl, llv_error *err) {
    llv_engine_vision_begin(s->eng);
    llv_status st = encode_slot_locked(s, sl, err);
    llv_engine_vision_end(s->eng);
    return st;
}

/* ------------------------------------------------------------------------- */
/* token input                                                               */
/* ------------------------------------------------------------------------- */

/* Appends tokens atomically (all or nothing). Image tokens consume queued
 * images when allow_image; the row mask follows HF's
 * get_cross_attention_token_mask: image i covers rows from its token to the
 * next image token, and a run of consecutive image tokens all cover what
 * follows the run. */
static llv_status append_tokens(llv_session *s, const int32_t *toks, size_t n, bool allow_image, const char *fn,
                                llv_error *err) {
    const int32_t n_vocab = s->m->hp.n_vocab;
    int32_t n_img = 0;
    for (size_t i = 0; i < n; i++) {
        int32_t t = toks[i];
        if (allow_image && s->image_token >= 0 && t == s->image_token) {
            n_img++;
            continue;
        }
        if (t < 0 || t >= n_vocab)
            return llv_err(err, LLV_ERR_INVALID_ARGUMENT, "%s: token %zu has id %d, expected 0..%d%s", fn, i, t,
                           n_vocab - 1,
                           (s->image_token >= 0 && t == s->image_token)
                               ? " (the image token is only valid through the image calls)"
                               : "");
    }
    if (n_img > s->n_queue)
        return llv_err(err, LLV_ERR_STATE,
                       "%s: the input has %d <|image|> token(s) but only %d image(s) are queued (call "
                       "llv_session_add_image first)",
                       fn, n_img, s->n_queue);
    if ((size_t)s->n_tokens + n > (size_t)s->n_ctx)
        return llv_err(err, LLV_ERR_CONTEXT,
                       "%s: %zu new tokens after %d in the conversation exceed the context n_ctx = %d", fn, n,
                       s->n_tokens, s->n_ctx);
    for (size_t i = 0; i < n; i++) {
        int32_t t = toks[i];
        bool is_img = allow_image && s->image_token >= 0 && t == s->image_token;
        if (is_img) {
            int32_t k = s->n_imgs++;
            s->imgs[k] = s->queue[0];
            memmove(&s->queue[0], &s->queue[1], (size_t)(s->n_queue - 1) * sizeof s->queue[0]);
            s->n_queue--;
            memset(&s->queue[s->n_queue], 0, sizeof s->queue[0]);
            bool prev_img = s->n_tokens > 0 && s->tokens[s->n_tokens - 1] == s->image_token;
            s->cur_mask = (prev_img ? s->cur_mask : 0) | (1ull << k);
            /* an image the old conversation did not have at this place ends the match */
            if (k >= s->prefix_n_imgs || s->imgs[k].hash != s->prefix_hash[k]) s->prefix_open = false;
        }
        const int32_t r = s->n_tokens;
        if (s->prefix_open) { /* the old row r is still there: compare before overwriting it */
            if (r < s->prefix_old_n && s->tokens[r] == t && s->masks[r] == s->cur_mask) s->prefix_match = r + 1;
            else s->prefix_open = false;
        }
        s->tokens[r] = t;
        s->masks[r] = s->cur_mask;
        s->n_tokens++;
    }
    if (n > 0) s->logits_ready = false;
    return LLV_OK;
}

llv_status llv_session_add_tokens(llv_session *s, const int32_t *tokens, size_t n, llv_error *err) {
    llv_status st = check_session(s, "llv_session_add_tokens", err);
    if (st != LLV_OK) return st;
    if (n > 0 && !tokens) return llv_err(err, LLV_ERR_INVALID_ARGUMENT, "llv_session_add_tokens: tokens is NULL");
    /* the image token is accepted while images are queued: each takes the next one */
    return append_tokens(s, tokens, n, s->n_queue > 0, "llv_session_add_tokens", err);
}

llv_status llv_session_add_tokens_with_images(llv_session *s, const int32_t *tokens, size_t n, llv_error *err) {
    llv_status st = check_session(s, "llv_session_add_tokens_with_images", err);
    if (st != LLV_OK) return st;
    if (n > 0 && !tokens) return llv_err(err, LLV_ERR_INVALID_ARGUMENT, "llv_session_add_tokens_with_images: tokens is NULL");
    return append_tokens(s, tokens, n, true, "llv_session_add_tokens_with_images", err);
}

/* toks[0..n) (malloc'd) with tok inserted at index at, as a new malloc'd
 * array of n + 1; toks is freed either way (NULL: out of memory). */
static int32_t *insert_token(int32_t *toks, size_t n, size_t at, int32_t tok) {
    int32_t *t = malloc((n + 1) * sizeof *t);
    if (t) {
        memcpy(t, toks, at * sizeof *t);
        t[at] = tok;
        memcpy(t + at + 1, toks + at, (n - at) * sizeof *t);
    }
    free(toks);
    return t;
}

static llv_status need_tokenizer(const llv_session *s, const char *fn, llv_error *err) {
    if (!s->m->tok) return llv_err(err, LLV_ERR_UNSUPPORTED, "%s: the model file has no tokenizer", fn);
    return LLV_OK;
}

/* What a call taking text checks first. */
static llv_status text_input(const llv_session *s, const char *text, const char *fn, llv_error *err) {
    llv_status st = check_session(s, fn, err);
    if (st != LLV_OK) return st;
    if (!text) return llv_err(err, LLV_ERR_INVALID_ARGUMENT, "%s: text is NULL", fn);
    return need_tokenizer(s, fn, err);
}

llv_status llv_session_add_raw(llv_session *s, const char *text, llv_error *err) {
    const char *fn = "llv_session_add_raw";
    llv_status st = text_input(s, text, fn, err);
    if (st != LLV_OK) return st;
    int32_t *toks = NULL;
    size_t n = 0;
    st = llv_tokenizer_encode(s->m->tok, text, strlen(text), LLV_TOKENIZE_PARSE_SPECIAL, &toks, &n, err);
    if (st != LLV_OK) {
        llv_err_prefix(err, "%s", fn);
        return st;
    }
    int32_t bos = s->m->bos_id;
    bool has_bos = false;
    for (size_t i = 0; i < n; i++) has_bos |= toks[i] == bos;
    if (s->n_tokens == 0 && bos >= 0 && s->m->add_bos && !has_bos) { /* tokenizer.ggml.add_bos_token */
        /* MllamaProcessor: leading <|image|> tokens stay first, then BOS */
        size_t lead = 0;
        while (lead < n && s->image_token >= 0 && toks[lead] == s->image_token) lead++;
        if (!(toks = insert_token(toks, n++, lead, bos)))
            return llv_err(err, LLV_ERR_OUT_OF_MEMORY, "%s: out of memory", fn);
    }
    st = append_tokens(s, toks, n, true, fn, err);
    free(toks);
    if (st == LLV_OK) s->open_answer = s->closed_answer = false; /* raw text: the caller writes the turns */
    return st;
}

/* Tokenizes text[0..len) with special tokens parsed, the image token put
 * at each of the n_at byte offsets at[] (ascending); *out is malloc'd. */
static llv_status tokenize_with_images(const llv_session *s, const char *text, size_t len, const size_t *at,
                                       size_t n_at, int32_t **out, size_t *n_out, llv_error *err) {
    *out = NULL;
    *n_out = 0;
    size_t cap, bytes; /* every token covers >= 1 byte */
    if (!llv_add_size(len, n_at + 1, &cap) || !llv_mul_size(cap, sizeof(int32_t), &bytes))
        return llv_err(err, LLV_ERR_LIMIT, "tokenize: input of %zu bytes is too large", len);
    int32_t *all = malloc(bytes);
    if (!all) return llv_err(err, LLV_ERR_OUT_OF_MEMORY, "tokenize: out of memory for %zu bytes of text", len);
    size_t n = 0, pos = 0;
    for (size_t k = 0; k <= n_at; k++) {
        size_t end = k < n_at ? at[k] : len;
        int32_t *t = NULL;
        size_t nt = 0;
        llv_status st = llv_tokenizer_encode(s->m->tok, text + pos, end - pos, LLV_TOKENIZE_PARSE_SPECIAL, &t, &nt, err);
        if (st != LLV_OK) {
            free(all);
            return st;
        }
        memcpy(all + n, t, nt * sizeof *t);
        n += nt;
        free(t);
        if (k < n_at) all[n++] = s->image_token;
        pos = end;
    }
    *out = all;
    *n_out = n;
    return LLV_OK;
}

/* Renders msgs (continuation mode after the first turn) and appends them,
 * each image part as the image token itself (no "<|image|>" text).
 * After an answer, the format's end-of-turn text comes first: the whole end
 * when the answer stopped without its end token (<|eot_id|>, "<|im_end|>\n"),
 * else what follows the end token (ChatML's "\n"), so the history reads as
 * the template renders an assistant turn. */
static llv_status add_rendered(llv_session *s, const llv_message *msgs, size_t n_msgs, const llv_chat_params *cp,
                               const char *fn, llv_error *err) {
    const llv_chat_format *f = &s->m->chat;
    char *text = NULL;
    size_t len = 0, *at = NULL, n_at = 0;
    llv_status st = llv_chat_render_images(f, msgs, n_msgs, cp, s->n_tokens > 0, &text, &len, &at, &n_at, err);
    if (st != LLV_OK) {
        llv_err_prefix(err, "%s", fn);
        return st;
    }
    const char *lead = s->n_tokens == 0 ? "" : s->open_answer ? llv_chat_format_close(f)
                                           : s->closed_answer ? llv_chat_format_gap(f) : "";
    size_t nl = strlen(lead);
    if (nl) { /* one text with the turn, as the template renders it */
        char *joined = malloc(nl + len + 1);
        if (!joined) {
            free(text);
            free(at);
            return llv_err(err, LLV_ERR_OUT_OF_MEMORY, "%s: out of memory", fn);
        }
        memcpy(joined, lead, nl);
        memcpy(joined + nl, text, len + 1);
        free(text);
        text = joined;
        len += nl;
        for (size_t k = 0; k < n_at; k++) at[k] += nl;
    }
    int32_t *toks = NULL;
    size_t n = 0;
    st = tokenize_with_images(s, text, len, at, n_at, &toks, &n, err);
    free(text);
    free(at);
    if (st != LLV_OK) {
        llv_err_prefix(err, "%s", fn);
        return st;
    }
    st = append_tokens(s, toks, n, true, fn, err);
    free(toks);
    if (st == LLV_OK) s->open_answer = s->closed_answer = false;
    return st;
}

llv_status llv_session_add_text(llv_session *s, const char *text, llv_error *err) {
    const char *fn = "llv_session_add_text";
    llv_status st = text_input(s, text, fn, err);
    if (st != LLV_OK) return st;
    static const uint8_t placeholder = 0;
    llv_part parts[LLV_MAX_IMAGES + 1];
    size_t np = 0;
    for (int32_t i = 0; i < s->n_queue; i++) {
        memset(&parts[np], 0, sizeof parts[np]);
        parts[np].type = LLV_PART_IMAGE;
        parts[np].image = &placeholder; /* the renderer only needs to know where images are */
        parts[np].image_bytes = 1;
        np++;
    }
    memset(&parts[np], 0, sizeof parts[np]);
    parts[np].type = LLV_PART_TEXT;
    parts[np].text = text;
    np++;
    llv_message msg;
    memset(&msg, 0, sizeof msg);
    msg.role = "user";
    if (np == 1) msg.content = text;
    else {
        msg.parts = parts;
        msg.n_parts = np;
    }
    llv_chat_params cp = llv_chat_default_params();
    return add_rendered(s, &msg, 1, &cp, fn, err);
}

llv_status llv_session_add_messages(llv_session *s, const llv_message *msgs, size_t n_msgs,
                                    const llv_chat_params *params, llv_error *err) {
    const char *fn = "llv_session_add_messages";
    llv_status st = check_session(s, fn, err);
    if (st != LLV_OK) return st;
    if (n_msgs > 0 && !msgs) return llv_err(err, LLV_ERR_INVALID_ARGUMENT, "%s: msgs is NULL", fn);
    LLV_PARAMS_IN(llv_chat_params, params, err);
    if ((st = need_tokenizer(s, fn, err)) != LLV_OK) return st;
    /* Queue the images of the parts in order; on failure drop what was queued
     * here so the call has no effect. A part with no bytes uses an image
     * queued before by llv_session_add_image. */
    int32_t queued_before = s->n_queue;
    for (size_t i = 0; i < n_msgs; i++)
        for (size_t j = 0; j < msgs[i].n_parts; j++) {
            const llv_part *pt = &msgs[i].parts[j];
            if (pt->type != LLV_PART_IMAGE || !pt->image || pt->image_bytes == 0) continue;
            if ((st = llv_session_add_image(s, pt->image, pt->image_bytes, err)) != LLV_OK) {
                llv_err_prefix(err, "%s: message %zu part %zu", fn, i, j);
                goto undo;
            }
        }
    /* the renderer only needs to know where images are */
    size_t total_parts = 0;
    for (size_t i = 0; i < n_msgs; i++) total_parts += msgs[i].n_parts;
    llv_message *copy = malloc((n_msgs ? n_msgs : 1) * sizeof *copy);
    llv_part *parts = malloc((total_parts ? total_parts : 1) * sizeof *parts);
    if (!copy || !parts) {
        free(copy);
        free(parts);
        st = llv_err(err, LLV_ERR_OUT_OF_MEMORY, "%s: out of memory", fn);
        goto undo;
    }
    static const uint8_t placeholder = 0;
    size_t k = 0;
    for (size_t i = 0; i < n_msgs; i++) {
        copy[i] = msgs[i];
        if (msgs[i].n_parts) {
            copy[i].parts = parts + k;
            for (size_t j = 0; j < msgs[i].n_parts; j++, k++) {
                parts[k] = msgs[i].parts[j];
                if (parts[k].type == LLV_PART_IMAGE && (!parts[k].image || parts[k].image_bytes == 0)) {
                    parts[k].image = &placeholder;
                    parts[k].image_bytes = 1;
                }
            }
        }
    }
    llv_chat_params cp = params ? *params : llv_chat_default_params();
    st = add_rendered(s, copy, n_msgs, &cp, fn, err);
    free(copy);
    free(parts);
    if (st == LLV_OK) return LLV_OK;
undo:
    /* images queued by this call are at the end unless consumed (only on success) */
    while (s->n_queue > queued_before) slot_clear(&s->queue[--s->n_queue]);
    return st;
}

/* ------------------------------------------------------------------------- */
/* prefill and generation                                                    */
/* ------------------------------------------------------------------------- */

/* Runs rows from..to-1 in chunks of at most n_batch rows, each merged with
 * other sessions' rows when the engine serves several. With `report` (a
 * prompt's prefill), progress("prefill") follows every chunk and may cancel.
 * Rows of the chunks that ran stay in the KV cache whatever happens next, so
 * the next prefill continues after them. */
static llv_status forward_rows(llv_session *s, int32_t from, int32_t to, bool report, llv_error *err) {
    const llv_cross_kv *imgs[LLV_MAX_IMAGES];
    for (int32_t i = 0; i < s->n_imgs; i++) imgs[i] = s->imgs[i].ref->kv;
    llv_text_batch b;
    memset(&b, 0, sizeof b);
    b.images = imgs;
    b.n_images = s->n_imgs;
    b.lora = s->lora;
    s->logits_ready = false;
    const int32_t max_chunk = LLV_MIN(s->p.n_batch, llv_engine_max_rows(s->eng));
    for (int32_t r0 = from, chunk; r0 < to; r0 += chunk) {
        /* while other sessions decode, chunks stay short enough not to stall them */
        chunk = llv_engine_chunk_rows(s->eng, max_chunk, s->generating);
        b.tokens = s->tokens + r0;
        b.n = LLV_MIN(chunk, to - r0);
        b.row_images = s->masks + r0;
        b.logits = r0 + b.n == to ? s->logits : NULL;
        llv_status st = llv_engine_forward(s->eng, s->ts, &b, s->generating, err);
        if (st != LLV_OK) return st;
        memset(s->row_nimg + r0, s->n_imgs, (size_t)b.n);
        s->logits_ready = r0 + b.n == to;
        if (report && s->deadline_s > 0 && llv_time_s() >= s->deadline_s) {
            s->timed_out = true;
            return llv_err(err, LLV_ERR_CANCELLED, "time limit reached after %d of %d prompt rows", r0 + b.n - from,
                           to - from);
        }
        if (report && s->p.progress &&
            !s->p.progress("prefill", (float)(r0 + b.n - from) / (float)(to - from), s->p.progress_user))
            return llv_err(err, LLV_ERR_CANCELLED, "prefill cancelled after %d of %d rows", r0 + b.n - from,
                           to - from);
    }
    return LLV_OK;
}

/* Runs the encoder for placed images and the forward pass over pending rows;
 * afterwards s->logits are those of the last row. */
static llv_status prefill(llv_session *s, double *prefill_s, llv_error *err) {
    if (s->n_tokens == 0)
        return llv_err(err, LLV_ERR_STATE, "nothing to process: the conversation is empty (add text or tokens first)");
    llv_status st;
    if (s->prefix_old_n > 0) { /* after llv_session_reset_keep_prefix: keep the rows that match */
        int32_t keep = LLV_MIN(s->prefix_match, s->n_tokens - 1); /* the last row is computed for its logits */
        if (s->lora != s->kv_lora || keep < 0) keep = 0;
        /* rows without an image saw every image of their conversation: the same ones are needed */
        bool same_imgs = s->n_imgs <= s->prefix_n_imgs;
        for (int32_t i = 0; same_imgs && i < s->n_imgs; i++) same_imgs = s->imgs[i].hash == s->prefix_hash[i];
        for (int32_t r = 0; r < keep; r++)
            if (s->masks[r] == 0 && (s->row_nimg[r] != s->n_imgs || !same_imgs)) {
                keep = r;
                break;
            }
        llv_text_state_truncate(s->ts, keep);
        s->n_cached = keep;
        s->prefix_open = false;
        s->prefix_old_n = s->prefix_match = s->prefix_n_imgs = 0;
    }
    if (s->lora != s->kv_lora) { /* the cached rows belong to another adapter */
        llv_text_state_truncate(s->ts, 0);
        s->logits_ready = false;
        s->kv_lora = s->lora;
    }
    for (int32_t i = 0; i < s->n_imgs; i++)
        if ((st = encode_slot(s, &s->imgs[i], err)) != LLV_OK) {
            llv_err_prefix(err, "encoding image %d", i);
            return st;
        }
    int32_t n_past = llv_text_state_n_past(s->ts);
    if (n_past > s->n_tokens) { /* cannot happen; be safe */
        llv_text_state_truncate(s->ts, s->n_tokens);
        n_past = s->n_tokens;
    }
    if (n_past == s->n_tokens) {
        if (s->logits_ready) return LLV_OK;
        /* logits were consumed by the sampler: recompute the last row */
        llv_text_state_truncate(s->ts, s->n_tokens - 1);
        n_past = s->n_tokens - 1;
    }
    double t0 = llv_time_s();
    st = forward_rows(s, n_past, s->n_tokens, true, err);
    if (prefill_s) *prefill_s += llv_time_s() - t0;
    return st;
}

llv_status llv_session_set_lora(llv_session *s, const char *name, llv_error *err) {
    llv_status st = check_session(s, "llv_session_set_lora", err);
    if (st != LLV_OK) return st;
    const llv_lora *l = llv_model_lora_find(s->m, name);
    if (name && name[0] && !l) {
        char list[256] = "";
        size_t n = 0;
        for (size_t i = 0; i < s->m->n_loras && n + 2 < sizeof list; i++)
            n += (size_t)snprintf(list + n, sizeof list - n, "%s'%s'", i ? ", " : "", s->m->loras[i]->name);
        return llv_err(err, LLV_ERR_NOT_FOUND, "LoRA adapter '%s' not found (loaded: %s)", name,
                       s->m->n_loras ? list : "none");
    }
    s->lora = l;
    return LLV_OK;
}

llv_status llv_session_eval(llv_session *s, const float **logits, llv_error *err) {
    llv_status st = check_session(s, "llv_session_eval", err);
    if (st != LLV_OK) return st;
    if (logits) *logits = NULL;
    if ((st = prefill(s, NULL, err)) != LLV_OK) return st;
    if (logits) *logits = s->logits;
    return LLV_OK;
}

static bool is_eog(const llv_model *m, int32_t t) {
    for (int32_t i = 0; i < m->n_eog; i++)
        if (m->eog[i] == t) return true;
    return false;
}

typedef struct text_buf {
    char  *p;
    size_t n, cap;
} text_buf;

static bool text_append(text_buf *b, const char *s, size_t n) {
    if (b->n + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->n + n + 1) cap *= 2;
        char *q = realloc(b->p, cap);
        if (!q) return false;
        b->p = q;
        b->cap = cap;
    }
    memcpy(b->p + b->n, s, n);
    b->n += n;
    b->p[b->n] = 0;
    return true;
}

const llv_logprob_entry *llv_session_logprobs(const llv_session *s, size_t *n) {
    if (n) *n = s && s->lp_on ? s->n_lp : 0;
    return s && s->lp_on ? s->lp : NULL;
}

/* One more entry (grown by doubling, up to max_tokens); NULL when out of memory. */
static llv_logprob_entry *lp_next(llv_session *s, int32_t max_tokens) {
    if (s->n_lp == s->cap_lp) {
        size_t cap = s->cap_lp ? s->cap_lp * 2 : 64;
        if (cap > (size_t)max_tokens) cap = (size_t)max_tokens;
        if (cap <= s->n_lp) cap = s->n_lp + 1;
        llv_logprob_entry *q = realloc(s->lp, cap * sizeof *q);
        if (!q) return NULL;
        s->lp = q;
        s->cap_lp = cap;
    }
    return &s->lp[s->n_lp++];
}

void llv_result_free(llv_result *r) {
    if (!r) return;
    free(r->text);
    llv_tool_calls_free(r->tool_calls, r->n_tool_calls);
    memset(r, 0, sizeof *r);
}

static llv_status generate(llv_session *s, const llv_sampling_params *params, llv_piece_fn on_piece, void *user,
                           llv_result *result, llv_error *err) {
    const char *fn = "llv_session_generate";
    if (result) memset(result, 0, sizeof *result);
    llv_status st = check_session(s, fn, err);
    if (st != LLV_OK) return st;
    const llv_model *m = s->m;
    LLV_PARAMS_IN(llv_sampling_params, params, err);
    llv_sampling_params sp = params ? *params : llv_sampling_default_params();
    if ((st = llv_session_set_lora(s, sp.lora, err)) != LLV_OK) {
        llv_err_prefix(err, "%s", fn);
        return st;
    }
    if (s->n_queue > 0)
        return llv_err(err, LLV_ERR_STATE,
                       "%s: %d queued image(s) have no <|image|> token; add text (llv_session_add_text places them) "
                       "or reset the session",
                       fn, s->n_queue);
    llv_sampler *smp = NULL;
    if ((st = llv_sampler_create(&sp, m->hp.n_vocab, &smp, err)) != LLV_OK) return st;
    llv_constraint *con = NULL; /* structured output */
    if ((st = llv_constraint_create(m, &sp, &con, err)) != LLV_OK) {
        llv_sampler_free(smp);
        llv_err_prefix(err, "%s", fn);
        return st;
    }
    s->lp_on = sp.logprobs;
    s->n_lp = 0;
    if (sp.logprobs && !s->lp_raw && !(s->lp_raw = malloc((size_t)m->hp.n_vocab * sizeof *s->lp_raw))) {
        llv_sampler_free(smp);
        llv_constraint_free(con);
        s->lp_on = false;
        return llv_err(err, LLV_ERR_OUT_OF_MEMORY, "%s: out of memory for the logprobs", fn);
    }

    double t_start = llv_time_s();
    llv_timings tm;
    memset(&tm, 0, sizeof tm);
    tm.load_s = m->load_s;
    int32_t prompt_tokens = s->n_tokens - s->n_at_gen_end;
    s->deadline_s = sp.timeout_ms > 0 ? t_start + sp.timeout_ms / 1000.0 : 0;
    s->timed_out = false;
    st = prefill(s, &tm.prefill_s, err); /* encodes placed images first (image time) */
    s->deadline_s = 0;
    /* the time limit reached while reading the prompt: an answer of nothing, stopped by the timeout */
    const bool prefill_timeout = st == LLV_ERR_CANCELLED && s->timed_out;
    if (prefill_timeout) {
        llv_err_clear(err);
        st = LLV_OK;
    }
    if (st != LLV_OK) {
        llv_sampler_free(smp);
        llv_constraint_free(con);
        llv_err_prefix(err, "%s", fn);
        return st;
    }
    tm.image_s = s->image_s;
    tm.n_images_encoded = s->n_encoded;

    text_buf out = {0};
    llv_detok det;
    memset(&det, 0, sizeof det);
    char piece[512]; /* >= 3 * 64 + 12: a 64-byte slice may expand to U+FFFDs */
    int32_t text_tok = -1; /* the last token whose bytes went to the detokenizer */
    const int32_t gen_start = s->n_tokens;
    llv_stop_reason stop = LLV_STOP_NONE;
    bool oom = false, lp_oom = false;
    double t_dec = llv_time_s();
    int32_t completion = 0;
    if (prefill_timeout) stop = LLV_STOP_TIMEOUT;
    while (!prefill_timeout) {
        if (completion >= sp.max_tokens) {
            stop = LLV_STOP_LENGTH;
            break;
        }
        if (s->n_tokens >= s->n_ctx) {
            stop = LLV_STOP_CONTEXT;
            break;
        }
        /* the sampler processes the logits in place: logprobs need them raw */
        if (sp.logprobs) memcpy(s->lp_raw, s->logits, (size_t)m->hp.n_vocab * sizeof *s->lp_raw);
        /* structured output first: the sampler's settings act on the allowed tokens only */
        if (con && (st = llv_constraint_mask(con, s->logits, m->hp.n_vocab, err)) != LLV_OK) break;
        int32_t tok = llv_sampler_sample(smp, s->logits, s->tokens, (size_t)gen_start, s->tokens + gen_start,
                                         (size_t)(s->n_tokens - gen_start));
        s->logits_ready = false;
        if (con && (st = llv_constraint_accept(con, tok, err)) != LLV_OK) break;
        if (sp.logprobs) {
            llv_logprob_entry *lp = lp_next(s, sp.max_tokens);
            if (!lp) {
                lp_oom = oom = true;
                break;
            }
            llv_logprobs_fill(s->lp_raw, m->hp.n_vocab, tok, sp.top_logprobs, lp);
        }
        s->tokens[s->n_tokens] = tok;
        s->masks[s->n_tokens] = s->cur_mask; /* generated rows copy the last row's mask */
        s->n_tokens++;
        completion++;
        if (is_eog(m, tok)) {
            stop = LLV_STOP_EOG;
            break;
        }
        bool go_on = true;
        /* special tokens (<|python_tag|>, reserved ids...) are not part of the text,
         * as with HF's decode(skip_special_tokens=True) */
        if (m->tok && !llv_tokenizer_is_special(m->tok, tok)) {
            size_t nb = 0;
            const char *bytes = llv_tokenizer_token_bytes(m->tok, tok, &nb);
            text_tok = tok;
            /* long tokens are pushed in slices so the buffer stays small */
            while (bytes && nb > 0 && go_on) {
                size_t take = LLV_MIN(nb, (size_t)64);
                size_t w = llv_detok_push(&det, bytes, take, piece, sizeof piece);
                bytes += take;
                nb -= take;
                if (w > 0) {
                    if (!text_append(&out, piece, w)) oom = true;
                    if (on_piece && !on_piece(piece, w, tok, user)) go_on = false;
                }
            }
        }
        if (oom) break;
        if (!go_on) {
            stop = LLV_STOP_CALLBACK;
            break;
        }
        if (completion >= sp.max_tokens) {
            stop = LLV_STOP_LENGTH;
            break;
        }
        if (s->n_tokens >= s->n_ctx) {
            stop = LLV_STOP_CONTEXT;
            break;
        }
        if (sp.timeout_ms > 0 && (llv_time_s() - t_start) * 1000.0 >= (double)sp.timeout_ms) {
            stop = LLV_STOP_TIMEOUT;
            break;
        }
        if ((st = forward_rows(s, s->n_tokens - 1, s->n_tokens, false, err)) != LLV_OK) {
            llv_err_prefix(err, "%s: decoding token %d", fn, completion);
            break;
        }
    }
    tm.decode_s = llv_time_s() - t_dec;
    llv_sampler_free(smp);
    llv_constraint_free(con);
    if (!oom && st == LLV_OK) {
        size_t w = llv_detok_flush(&det, piece, sizeof piece);
        if (w > 0) {
            if (!text_append(&out, piece, w)) oom = true;
            else if (on_piece) on_piece(piece, w, text_tok, user);
        }
    }
    if (!oom && !out.p) oom = !text_append(&out, "", 0);
    s->open_answer = stop != LLV_STOP_EOG && completion > 0;
    s->closed_answer = stop == LLV_STOP_EOG;
    s->n_at_gen_end = s->n_tokens;
    s->image_s = 0;
    s->n_encoded = 0;
    if (oom && st == LLV_OK)
        st = llv_err(err, LLV_ERR_OUT_OF_MEMORY, "%s: out of memory for the answer %s", fn,
                     lp_oom ? "logprobs" : "text");
    if (st != LLV_OK) {
        free(out.p);
        return st;
    }
    if (result) {
        result->stop_reason = stop;
        result->prompt_tokens = prompt_tokens;
        result->completion_tokens = completion;
        result->text = out.p;
        result->text_len = out.n;
        result->timings = tm;
        llv_tool_call *calls = NULL;
        size_t nc = 0;
        if (llv_parse_tool_calls(out.p, out.n, &calls, &nc, NULL) == LLV_OK) {
            result->tool_calls = calls;
            result->n_tool_calls = nc;
        }
    } else {
        free(out.p);
    }
    return LLV_OK;
}

llv_status llv_session_generate(llv_session *s, const llv_sampling_params *params, llv_piece_fn on_piece, void *user,
                                llv_result *result, llv_error *err) {
    if (!s) return generate(s, params, on_piece, user, result, err);
    /* registered so that a pass waits for this session's next step */
    llv_engine_generating(s->eng, +1);
    s->generating = true;
    llv_status st = generate(s, params, on_piece, user, result, err);
    s->generating = false;
    llv_engine_generating(s->eng, -1);
    return st;
}
