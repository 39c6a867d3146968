/* Weight type policy and GGUF -> GGUF quantization (llv_quantize).
 *
 * The output keeps every KV of the input (plus general.file_type and
 * general.quantization_version) and every tensor in the same order; each
 * tensor's data streams through float32 pieces of at most PIECE elements,
 * converted in parallel, so memory stays bounded whatever the model size. */
#include "quantize.h"

#include "../kernels/kernels.h"
#include "gguf.h"
#include "mmap.h"
#include "tensor.h"
#include "threadpool.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define PIECE (1 << 20)           /* elements per work item: a multiple of every block size */
#define CHUNK_BYTES (16u << 20)   /* output bytes handed to the writer at a time */
#define MAX_THREADS 16

/* ------------------------------------------------------------------------- */
/* Policy                                                                    */
/* ------------------------------------------------------------------------- */

bool llv_quant_target_valid(llv_type t) {
    switch (t) {
    case LLV_TYPE_F32: case LLV_TYPE_F16: case LLV_TYPE_BF16: case LLV_TYPE_Q8_0: case LLV_TYPE_Q4_0:
    case LLV_TYPE_Q4_1: case LLV_TYPE_Q5_0: case LLV_TYPE_Q5_1: case LLV_TYPE_Q4_K: case LLV_TYPE_Q6_K:
    case LLV_TYPE_Q4_K_M: return true;
    case LLV_TYPE_Q2_K: case LLV_TYPE_Q3_K: case LLV_TYPE_Q5_K: return true;
    default: return false;
    }
}

bool llv_quant_type_is_quantized(int t) {
    switch (t) {
    case LLV_TYPE_Q8_0: case LLV_TYPE_Q4_0: case LLV_TYPE_Q4_1: case LLV_TYPE_Q5_0: case LLV_TYPE_Q5_1:
    case LLV_TYPE_Q2_K: case LLV_TYPE_Q3_K: case LLV_TYPE_Q4_K: case LLV_TYPE_Q5_K: case LLV_TYPE_Q6_K: return true;
    default: return false;
    }
}

bool llv_quant_use_more_bits(int64_t i, int64_t n) { return i < n / 8 || i >= 7 * n / 8 || (i - n / 8) % 3 == 2; }

uint32_t llv_quant_file_type(llv_type t) {
    switch (t) {
    case LLV_TYPE_F16: return 1;
    case LLV_TYPE_Q4_0: return 2;
    case LLV_TYPE_Q4_1: return 3;
    case LLV_TYPE_Q8_0: return 7;
    case LLV_TYPE_Q5_0: return 8;
    case LLV_TYPE_Q5_1: return 9;
    case LLV_TYPE_Q4_K: return 14; /* LLAMA_FTYPE_MOSTLY_Q4_K_S: "mostly Q4_K" */
    case LLV_TYPE_Q4_K_M: return 15;
    case LLV_TYPE_Q6_K: return 18;
    case LLV_TYPE_Q2_K: return 10; /* LLAMA_FTYPE_MOSTLY_Q2_K */
    case LLV_TYPE_Q3_K: return 11; /* LLAMA_FTYPE_MOSTLY_Q3_K_S: "mostly Q3_K" */
    case LLV_TYPE_Q5_K: return 16; /* LLAMA_FTYPE_MOSTLY_Q5_K_S: "mostly Q5_K" */
    case LLV_TYPE_BF16: return 32;
    default: return 0;
    }
}

/* "blk.N.rest" -> N and rest; false for other names. */
static bool parse_blk(const char *name, int64_t *layer, const char **rest) {
    if (strncmp(name, "blk.", 4) != 0) return false;
    const char *p = name + 4;
    int64_t v = 0;
    if (*p < '0' || *p > '9') return false;
    while (*p >= '0' && *p <= '9') {
        if (v > 1000000) return false;
        v = v * 10 + (*p++ - '0');
    }
    if (*p != '.') return false;
    *layer = v;
    *rest = p + 1;
    return true;
}

static bool fits(int type, int64_t ne0) { return ne0 % llv_type_block_size(type) == 0; }

void llv_quant_policy_note(llv_quant_policy *pol, const char *name) {
    int64_t layer;
    const char *rest;
    if (!parse_blk(name, &layer, &rest) || strcmp(rest, "attn_v.weight") != 0 || layer >= LLV_QUANT_MAX_BLOCKS) return;
    uint64_t bit = (uint64_t)1 << (layer % 64);
    if (pol->attn_v[layer / 64] & bit) return;
    pol->attn_v[layer / 64] |= bit;
    pol->n_attn_v++;
}

/* attn_v of block `layer`: its index among the blocks with attn_v, and their count */
static void attn_v_index(const llv_quant_policy *pol, int64_t layer, int64_t *i, int64_t *n) {
    if (pol->n_attn_v == 0 || layer >= LLV_QUANT_MAX_BLOCKS) {
        *i = layer, *n = pol->n_layer;
        return;
    }
    int64_t c = 0;
    for (int64_t l = 0; l < layer; l++) c += (pol->attn_v[l / 64] >> (l % 64)) & 1;
    *i = c, *n = pol->n_attn_v;
}

int llv_quant_tensor_type(const llv_quant_policy *pol, const char *name, int n_dims, const int64_t *ne) {
    if (n_dims < 2) return LLV_TYPE_F32;
    llv_type tg = pol->target;
    if (tg == LLV_TYPE_F32 || tg == LLV_TYPE_F16 || tg == LLV_TYPE_BF16) return (int)tg;
    /* Ollama never quantizes the vision tower or the projector */
    if (!strncmp(name, "v.", 2) || !strncmp(name, "mm.", 3)) return LLV_TYPE_F16;

    int type = tg == LLV_TYPE_Q4_K_M ? LLV_TYPE_Q4_K : (int)tg;
    bool is_output = !strcmp(name, "output.weight") || (!pol->has_output && !strcmp(name, "token_embd.weight"));
    int64_t layer;
    const char *rest;
    if (is_output) {
        if (type != LLV_TYPE_Q8_0) type = LLV_TYPE_Q6_K;
    } else if (tg == LLV_TYPE_Q4_K_M && parse_blk(name, &layer, &rest)) {
        int64_t i = layer, n = pol->n_layer;
        if (!strcmp(rest, "attn_v.weight")) attn_v_index(pol, layer, &i, &n);
        if ((!strcmp(rest, "attn_v.weight") || !strcmp(rest, "ffn_down.weight")) && llv_quant_use_more_bits(i, n))
            type = LLV_TYPE_Q6_K;
    }
    if (!fits(type, ne[0])) type = fits(LLV_TYPE_Q8_0, ne[0]) ? LLV_TYPE_Q8_0 : LLV_TYPE_F16;
    return type;
}

/* ------------------------------------------------------------------------- */
/* Streaming conversion                                                      */
/* ------------------------------------------------------------------------- */

typedef struct conv_job {
    const llv_kernels *k;
    int                src_type, dst_type;
    const uint8_t     *src;
    uint8_t           *dst;          /* output of the current batch */
    size_t             src_rb, dst_rb;
    int64_t            ne0, ppr;     /* pieces per row */
    int64_t            item0;        /* first item of the batch */
    float             *buf[MAX_THREADS];
} conv_job;

/* Bytes of `n` elements of `type` (n a multiple of its block size). */
static size_t span_bytes(int type, int64_t n) {
    return (size_t)(n / llv_type_block_size(type)) * llv_type_block_bytes(type);
}

/* Batches start at row boundaries: item g of the tensor is piece g % ppr of
 * row g / ppr, written at its place inside the batch's output. */
static void conv_task(void *ctx, int64_t i0, int64_t i1, int thread) {
    conv_job *j = ctx;
    float *f = j->buf[thread];
    int64_t row0 = j->item0 / j->ppr;
    for (int64_t it = i0; it < i1; it++) {
        int64_t g = j->item0 + it, row = g / j->ppr, e0 = (g % j->ppr) * PIECE;
        int64_t n = LLV_MIN((int64_t)PIECE, j->ne0 - e0);
        const uint8_t *s = j->src + (size_t)row * j->src_rb + span_bytes(j->src_type, e0);
        uint8_t *d = j->dst + (size_t)(row - row0) * j->dst_rb + span_bytes(j->dst_type, e0);
        j->k->to_f32[j->src_type](s, f, n);
        j->k->from_f32[j->dst_type](f, d, n);
    }
}

static llv_status stream_tensor(llv_gguf_writer *w, const llv_tensor *t, int dst_type, conv_job *job,
                                llv_threadpool *pool, uint8_t *chunk, llv_error *err) {
    llv_status s;
    if (dst_type == (int)t->type) { /* bit-exact copy */
        for (size_t off = 0; off < t->nbytes; off += CHUNK_BYTES) {
            if ((s = llv_gguf_writer_write(w, (const uint8_t *)t->data + off, LLV_MIN(CHUNK_BYTES, t->nbytes - off),
                                           err)))
                return s;
            llv_drop_pages((const uint8_t *)t->data + off, LLV_MIN(CHUNK_BYTES, t->nbytes - off));
        }
        return LLV_OK;
    }
    int64_t ne0 = t->ne[0], rows = llv_tensor_rows(t);
    job->src_type = (int)t->type;
    job->dst_type = dst_type;
    job->src = t->data;
    job->ne0 = ne0;
    job->ppr = ne0 > 0 ? (ne0 + PIECE - 1) / PIECE : 0;
    if (!llv_type_row_bytes((int)t->type, ne0, &job->src_rb) || !llv_type_row_bytes(dst_type, ne0, &job->dst_rb))
        return llv_err(err, LLV_ERR_FORMAT, "tensor '%s': row of %lld elements is not whole %s/%s blocks", t->name,
                       (long long)ne0, llv_type_name(t->type), llv_type_name((llv_type)dst_type));
    int64_t items = rows * job->ppr;
    /* a batch is whole rows when rows are short, else the pieces of one row */
    int64_t per_batch = job->ppr > 1 ? job->ppr : LLV_MAX(1, (int64_t)(CHUNK_BYTES / LLV_MAX(job->dst_rb, 1)));
    size_t dropped = 0;
    for (int64_t i0 = 0; i0 < items; i0 += per_batch) {
        int64_t n = LLV_MIN(per_batch, items - i0);
        size_t nb = job->ppr > 1 ? job->dst_rb : (size_t)n * job->dst_rb;
        job->item0 = i0;
        job->dst = chunk;
        llv_threadpool_parallel_for(pool, n, 1, conv_task, job);
        /* pieces of one long row: written in sub-chunks of at most CHUNK_BYTES */
        for (size_t off = 0; off < nb; off += CHUNK_BYTES)
            if ((s = llv_gguf_writer_write(w, chunk + off, LLV_MIN(CHUNK_BYTES, nb - off), err))) return s;
        /* the source rows read so far are done: keep RSS small inside big tensors */
        size_t used = (size_t)((i0 + n) / job->ppr) * job->src_rb;
        if (used > dropped + CHUNK_BYTES) {
            llv_drop_pages(job->src + dropped, used - dropped);
            dropped = used;
        }
    }
    return LLV_OK;
}

typedef struct rows_job {
    const llv_kernels *k;
    int                type;
    int64_t            bs;
    size_t             bb;
    const float       *src;
    uint8_t           *dst;
} rows_job;

static void rows_task(void *ctx, int64_t b0, int64_t b1, int thread) {
    (void)thread;
    const rows_job *j = ctx;
    j->k->from_f32[j->type](j->src + b0 * j->bs, j->dst + (size_t)b0 * j->bb, (b1 - b0) * j->bs);
}

void llv_quant_from_f32(llv_threadpool *pool, int type, const float *src, void *dst, int64_t n) {
    const llv_kernels *k = llv_kernels_ref();
    rows_job j = {k, type, llv_type_block_size(type), llv_type_block_bytes(type), src, dst};
    if (j.bs <= 0 || !k->from_f32[type] || n <= 0) return;
    /* grain: 8 K-quant blocks (~2k values) per task keeps the sync cost small */
    llv_threadpool_parallel_for(pool, n / j.bs, LLV_MAX(1, 2048 / j.bs), rows_task, &j);
}

/* ------------------------------------------------------------------------- */
/* Entry point                                                               */
/* ------------------------------------------------------------------------- */

static int64_t text_layers(const llv_gguf *g) {
    llv_gguf_str arch;
    int64_t n = 0;
    if (llv_gguf_get_str(g, "general.architecture", &arch, NULL) == LLV_OK && arch.len < 64) {
        char key[128];
        snprintf(key, sizeof key, "%.*s.block_count", (int)arch.len, arch.ptr);
        if (llv_gguf_get_i64(g, key, &n, NULL) == LLV_OK && n > 0) return n;
    }
    /* no metadata: one more than the largest blk.N */
    n = 0;
    for (int64_t i = 0; i < llv_gguf_n_tensors(g); i++) {
        int64_t l;
        const char *rest;
        if (parse_blk(llv_gguf_tensor(g, i)->name, &l, &rest) && l + 1 > n) n = l + 1;
    }
    return n;
}

LLV_API llv_status llv_quantize(const char *in_gguf, const char *out_gguf, llv_type type,
                                const llv_convert_params *params, llv_error *err) {
    llv_err_clear(err);
    LLV_PARAMS_IN(llv_convert_params, params, err);
    llv_convert_params p = params ? *params : llv_convert_default_params();
    if (!in_gguf || !out_gguf) return llv_err(err, LLV_ERR_INVALID_ARGUMENT, "llv_quantize: NULL path");
    if (!llv_quant_target_valid(type))
        return llv_err(err, LLV_ERR_INVALID_ARGUMENT,
                       "llv_quantize: type %d is not a target (f32, f16, bf16, q8_0, q4_0, q4_1, q5_0, q5_1, "
                       "q2_k..q6_k, q4_k_m)",
                       (int)type);
    double t0 = llv_time_s();
    const llv_kernels *k = llv_kernels_ref();
    llv_gguf *g = NULL;
    llv_gguf_writer *w = NULL;
    llv_threadpool *pool = NULL;
    uint8_t *chunk = NULL;
    int *types = NULL;
    conv_job job;
    memset(&job, 0, sizeof job);
    job.k = k;
    llv_status s;

    if ((s = llv_gguf_open(in_gguf, &g, err))) return s;
    int64_t nt = llv_gguf_n_tensors(g);
    llv_quant_policy pol = {
        .target = type, .n_layer = text_layers(g), .has_output = llv_gguf_find_tensor(g, "output.weight") != NULL};
    for (int64_t i = 0; i < nt; i++) llv_quant_policy_note(&pol, llv_gguf_tensor(g, i)->name);
    types = malloc((size_t)LLV_MAX(nt, 1) * sizeof *types);
    if (!types) {
        s = llv_err(err, LLV_ERR_OUT_OF_MEMORY, "out of memory");
        goto done;
    }
    if ((s = llv_gguf_writer_create(&w, err)) || (s = llv_gguf_copy_kvs(w, g, err)) ||
        (s = llv_gguf_set_u32(w, "general.file_type", llv_quant_file_type(type), err)) ||
        (s = llv_gguf_set_u32(w, "general.quantization_version", 2, err)))
        goto done;

    uint64_t total = 0, done_bytes = 0, out_bytes = 0;
    int64_t count[LLV_TYPE_COUNT] = {0}, fallbacks = 0, requant = 0;
    for (int64_t i = 0; i < nt; i++) {
        const llv_tensor *t = llv_gguf_tensor(g, i);
        int dt = (int)t->type;
        if (llv_type_is_weight(dt) && k->to_f32[dt]) {
            dt = llv_quant_tensor_type(&pol, t->name, t->n_dims, t->ne);
            /* the type the rule would give a row length that fits every block size */
            int64_t ne_any[LLV_MAX_DIMS] = {0, 1, 1, 1};
            if (dt != llv_quant_tensor_type(&pol, t->name, t->n_dims, ne_any)) {
                fallbacks++;
                llv_log(p.log, p.log_user, LLV_LOG_DEBUG, "%s: rows of %lld: %s fallback", t->name,
                        (long long)t->ne[0], llv_type_name((llv_type)dt));
            }
            if (dt != (int)t->type && llv_quant_type_is_quantized((int)t->type)) requant++;
        }
        types[i] = dt;
        if (dt >= 0 && dt < LLV_TYPE_COUNT) count[dt]++;
        size_t rb = 0;
        if ((s = llv_gguf_add_tensor(w, t->name, dt, t->n_dims, t->ne, err))) goto done;
        if (llv_type_row_bytes(dt, t->ne[0], &rb)) out_bytes += (uint64_t)rb * (uint64_t)llv_tensor_rows(t);
        total += t->nbytes;
        llv_log(p.log, p.log_user, LLV_LOG_DEBUG, "%s: %s -> %s", t->name, llv_type_name(t->type),
                llv_type_name((llv_type)dt) ? llv_type_name((llv_type)dt) : "?");
    }
    llv_log(p.log, p.log_user, LLV_LOG_INFO, "%s -> %s: %s, %lld tensors, %lld text layers", in_gguf, out_gguf,
            llv_type_name(type), (long long)nt, (long long)pol.n_layer);
    if (fallbacks)
        llv_log(p.log, p.log_user, LLV_LOG_INFO,
                "%lld tensors have rows that are not whole blocks of the target type: Q8_0 or F16 instead",
                (long long)fallbacks);
    if (requant)
        llv_log(p.log, p.log_user, LLV_LOG_WARN, "%lld tensors are already quantized: dequantized and requantized",
                (long long)requant);

    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    int nth = (int)LLV_MAX(1, LLV_MIN((long)MAX_THREADS, ncpu));
    if ((s = llv_threadpool_create(nth, &pool, err))) goto done;
    for (int i = 0; i < nth; i++) {
        job.buf[i] = llv_alloc_aligned((size_t)PIECE * sizeof(float));
        if (!job.buf[i]) {
            s = llv_err(err, LLV_ERR_OUT_OF_MEMORY, "out of memory (%d conversion buffers)", nth);
            goto done;
        }
    }
    /* one batch: CHUNK_BYTES of short rows, or one long row (PIECE-element pieces) */
    size_t chunk_cap = CHUNK_BYTES;
    for (int64_t i = 0; i < nt; i++) {
        size_t rb;
        const llv_tensor *t = llv_gguf_tensor(g, i);
        if (types[i] != (int)t->type && llv_type_row_bytes(types[i], t->ne[0], &rb) && rb > chunk_cap) chunk_cap = rb;
    }
    chunk = llv_alloc_aligned(chunk_cap);
    if (!chunk) {
        s = llv_err(err, LLV_ERR_OUT_OF_MEMORY, "out of memory (%zu-byte output buffer)", chunk_cap);
        goto done;
    }

    if ((s = llv_gguf_writer_begin(w, out_gguf, err))) goto done;
    for (int64_t i = 0; i < nt; i++) {
        const llv_tensor *t = llv_gguf_tensor(g, i);
        if ((s = stream_tensor(w, t, types[i], &job, pool, chunk, err))) {
            llv_err_prefix(err, "quantizing '%s'", t->name);
            goto done;
        }
        llv_drop_pages(t->data, t->nbytes);
        done_bytes += t->nbytes;
        if (p.progress &&
            !p.progress("quantize", total ? (float)((double)done_bytes / (double)total) : 1.0f, p.progress_user)) {
            s = llv_err(err, LLV_ERR_CANCELLED, "quantization cancelled");
            goto done;
        }
    }
    if ((s = llv_gguf_writer_finish(w, err))) goto done;
    {
        char mix[256] = "";
        size_t at = 0;
        for (int t = 0; t < LLV_TYPE_COUNT && at < sizeof mix - 32; t++)
            if (count[t])
                at += (size_t)snprintf(mix + at, sizeof mix - at, "%s%s %lld", at ? ", " : "",
                                       llv_type_name((llv_type)t) ? llv_type_name((llv_type)t) : "other",
                                       (long long)count[t]);
        llv_log(p.log, p.log_user, LLV_LOG_INFO, "wrote %s: %.1f MiB -> %.1f MiB (%s), %.1f s", out_gguf,
                (double)total / 1048576.0, (double)out_bytes / 1048576.0, mix, llv_time_s() - t0);
    }
    s = LLV_OK;
done:
    llv_gguf_writer_free(w);
    llv_gguf_close(g);
    llv_threadpool_free(pool);
    for (int i = 0; i < MAX_THREADS; i++) llv_free_aligned(job.buf[i]);
    llv_free_aligned(chunk);
    free(types);
    return s;
}
