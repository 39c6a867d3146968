/* engine.h - internals of engine.c (llv_engine in llv.h): the thread pool,
 * row scratch, vision buffers and image cache every session uses through
 * the engine it is attached to (a standalone session's own engine of one). */
#ifndef LLV_ENGINE_H
#define LLV_ENGINE_H

#include "image-cache.h"
#include "text.h"
#include "threadpool.h"
#include "vision.h"

/* The rules for what session and engine params share (n_threads,
 * image_cache_entries); `what` names the params in the message. */
llv_status llv_engine_check_params(const char *what, int32_t n_threads, size_t image_cache_entries, llv_error *err);

/* An engine of params already checked (llv_engine_create checks the public
 * ones) for at most max_sessions attached sessions (INT_MAX: any number);
 * n_threads 0 = the model's default. A standalone session creates one of
 * max_sessions 1 with max_rows = its n_batch and gather_us 0. */
llv_status llv_engine_new(const llv_model *m, const llv_engine_params *params, int max_sessions, llv_engine **out,
                          llv_error *err);

/* A session attaches at create (LLV_ERR_INVALID_ARGUMENT when the engine
 * serves another model, LLV_ERR_STATE when it serves max_sessions already)
 * and detaches at free. */
llv_status      llv_engine_attach(llv_engine *e, const llv_model *m, llv_error *err);
void            llv_engine_detach(llv_engine *e);
llv_threadpool *llv_engine_pool(llv_engine *e);
int32_t         llv_engine_max_rows(const llv_engine *e);

/* The session enters (+1) or leaves (-1) llv_session_generate: a leader waits
 * up to gather_us for every generating session to submit its next step. */
void llv_engine_generating(llv_engine *e, int delta);

/* Runs b on st in a forward pass merged with the other sessions' pending
 * requests of the same adapter; blocks until done. An invalid batch fails
 * alone (llv_text_check) and nothing runs for it. `generating`: the caller
 * counts as generating (llv_engine_generating). Batches of more than
 * max_rows rows run alone. */
llv_status llv_engine_forward(llv_engine *e, llv_text_state *st, const llv_text_batch *b, bool generating,
                              llv_error *err);

/* The compute lock: one pass, vision encode or cross K/V computation on the
 * engine's pool at a time (it waits while an image encode runs). Between begin and end the caller may use
 * llv_engine_pool, llv_engine_vision and llv_engine_cross_states. */
void llv_engine_compute_begin(llv_engine *e);
void llv_engine_compute_end(llv_engine *e);
/* An image encode: the compute lock plus the vision buffers, held for the
 * whole encode; llv_engine_yield, called between pieces of the encode, lets
 * one pass of the requests waiting meanwhile run once slice_ms of encoding
 * went by since the encode began or last yielded (the generating sessions
 * get up to gather_us to submit their next step first), so sessions that
 * decode are not stalled for the whole encode. Only the encoding
 * thread may call yield, between vision_begin and vision_end. */
void llv_engine_vision_begin(llv_engine *e);
void llv_engine_vision_end(llv_engine *e);
/* `what` names the piece of the encode that just ended (for the trace) */
void llv_engine_yield(llv_engine *e, bool self_generating, const char *what);

/* What held the compute lock, for llv-bench --stalls: a forward pass, or a
 * piece of an image encode from its start or last yield to the yield that
 * let others in (or to its end). */
typedef struct llv_engine_trace_hold {
    double      t0, t1;   /* llv_time_s()                                          */
    const char *what;     /* "pass", or the encode piece that ended it (static)     */
    int32_t     rows;     /* a pass: its rows and requests, and those of generating */
    int32_t     requests; /* sessions (decode steps)                                */
    int32_t     gen_requests;
} llv_engine_trace_hold;
/* fn is called at the end of every hold with the engine's mutex held: it
 * must not call into the engine. NULL = none. Set it while no session
 * computes on the engine. */
typedef void (*llv_engine_trace_fn)(const llv_engine_trace_hold *h, void *user);
void llv_engine_set_trace(llv_engine *e, llv_engine_trace_fn fn, void *user);
/* Rows of the next prompt chunk of a session that wants `want`: want when no
 * other session generates; else as many as fit a pass of slice_ms (or of
 * 1.5 x the decoders' pass, when that alone is longer) by the measured pass
 * times, at least 1. */
int32_t llv_engine_chunk_rows(llv_engine *e, int32_t want, bool self_generating);
/* The rule itself: `decoders` sessions decode meanwhile, and a pass of r rows
 * takes c0 + c1 * r seconds (c1 = 0: not measured yet). */
int32_t llv_chunk_rows_fit(int32_t want, double slice_s, double c0, double c1, int decoders);
/* The pass times, fitted by least squares over the recent passes of at most
 * LLV_PASS_FIT_MAX_ROWS rows (each older one weighs 0.9 of the next): get is
 * false while the passes had one size only; rows that cost nothing measurable
 * get c1 = 1e-12 (free). */
typedef struct llv_pass_fit {
    double n, x, y, xx, xy;
} llv_pass_fit;
#define LLV_PASS_FIT_MAX_ROWS 64 /* passes of more rows are left out of the fit */
void llv_pass_fit_add(llv_pass_fit *f, double rows, double s);
bool llv_pass_fit_get(const llv_pass_fit *f, double *c0, double *c1);
/* The engine's vision state (NULL without vision) and projector output
 * scratch of n floats (allocated on first use). Only under the compute lock. */
llv_vision_state *llv_engine_vision(llv_engine *e);
llv_status        llv_engine_cross_states(llv_engine *e, size_t n, float **out, llv_error *err);
void              llv_engine_count_encode(llv_engine *e);

/* The shared image cache (llv_image_cache semantics, under the engine's mutex). */
llv_kv_ref *llv_engine_cache_get(llv_engine *e, uint64_t hash);
void        llv_engine_cache_put(llv_engine *e, uint64_t hash, llv_kv_ref *r);
size_t      llv_engine_cache_bytes(llv_engine *e);
bool        llv_engine_cache_holds(llv_engine *e, const llv_kv_ref *r);
/* Bytes of the engine's own buffers (scratch, vision state, cache). */
size_t      llv_engine_bytes(llv_engine *e);

/* Tests: the next pass waits (without time limit) until n requests are
 * pending, so a test can make merging deterministic. */
void llv_engine_hold(llv_engine *e, int n);

#endif
