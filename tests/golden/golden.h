/* golden.h - llv-golden, the conformance runner over any directory laid out
 * like shared/golden (manifest.jsonl + files). Each area implements the
 * checker of its manifest kinds in its own file:
 *   golden-main.c    driver: manifest, model conversion (llv_convert) + load,
 *                    tensor round-trip checks (kind "weights")
 *   golden-text.c    text quantities of "model_case" entries, kind "rope"
 *   golden-vision.c  vision quantities of "model_case" entries + end to end
 *   golden-image.c   kinds "image_processor_case", "image_processor_canvas_table"
 *   golden-sampler.c kind "sampler"
 * A checker returns the number of failed quantities (0 = all passed). */
#ifndef LLV_GOLDEN_H
#define LLV_GOLDEN_H

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stdint.h>

#include "llv.h"
#include "llv-tools.h"
#include "safetensors.h"
#include "text.h"

typedef struct golden_ctx {
    const char *root;    /* the golden directory                         */
    const char *workdir; /* scratch directory for converted GGUF files    */
    int         n_pass, n_fail, n_skip;
    bool        verbose;
} golden_ctx;

/* Compares and prints one line: "<case> <quantity> n max_abs max_rel tol ok|FAIL".
 * Counts the result into ctx; returns true if within |a-b| <= atol + rtol*|ref|. */
bool golden_compare(golden_ctx *ctx, const char *case_name, const char *quantity, const float *got,
                    const float *ref, int64_t n, double atol, double rtol);
/* Exact integer comparison with the same reporting. */
bool golden_compare_i64(golden_ctx *ctx, const char *case_name, const char *quantity, const int64_t *got,
                        const int64_t *ref, int64_t n);
/* Records a pass/fail/skip with a message. */
void golden_record(golden_ctx *ctx, const char *case_name, const char *quantity, bool ok, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
void golden_skip(golden_ctx *ctx, const char *case_name, const char *what, const char *why);

/* ROOT/rel (malloc'd). */
char *golden_path(const golden_ctx *ctx, const char *rel);
/* Opens the safetensors file ROOT/rel; on failure records "<case> <quantity>
 * FAIL <why>" and returns NULL. */
llv_st *golden_open(golden_ctx *ctx, const char *case_name, const char *quantity, const char *rel);
/* Tolerance of a quantity from a manifest entry's "tolerance" object, with
 * the MANIFEST.md defaults (1e-4 / 1e-5) when absent. */
void golden_tolerance(const cJSON *entry, const char *quantity, double *atol, double *rtol);

/* The entries of ROOT/manifest.jsonl as a cJSON array (lines that are not
 * JSON are left out), or NULL if it cannot be read; free with cJSON_Delete.
 * llv-golden's driver reads it line by line instead, to report bad lines. */
cJSON *golden_manifest(const char *root);

/* Case data (tests/helpers/golden-case.c). A tensor's values as float32 /
 * int64 (malloc'd; NULL if absent or out of memory; *n = element count). */
float   *golden_tensor_f32(const llv_st_tensor *t);
float   *golden_read_f32(const llv_st *st, const char *name, int64_t *n);
int64_t *golden_read_i64(const llv_st *st, const char *name, int64_t *n);
/* ORs into rows[r] bit i when HF's cross_attention_mask [T, M, MT] lets row r
 * attend to any tile of image i. */
void golden_mask_rows(const int64_t *mask, int64_t T, int64_t M, int64_t MT, uint64_t *rows);
/* Greedy generation with the KV cache, starting from the prompt's last-row
 * logits `first` [n_vocab]: token i is the argmax (first index on ties, as
 * torch) of gen_logits[i * n_vocab ..] (row 0 = a copy of first); generated
 * rows attend to the images of last_row (HF appends a copy of the last mask
 * row). Stops after an end-of-generation token or max_new tokens; gen holds
 * max_new tokens, gen_logits max_new rows. On a failed decode step returns its
 * status with *n_gen the tokens chosen so far. */
llv_status golden_greedy(const llv_model *m, llv_text_state *ts, llv_threadpool *pool, llv_cross_kv *const *kvs,
                         int32_t M, uint64_t last_row, const float *first, int32_t max_new, int64_t *gen,
                         float *gen_logits, int32_t *n_gen, llv_error *err);

/* Returns a loaded model converted from DIR/models/<config> with llv_convert
 * (cached per config for the run), or NULL after recording a failure. */
llv_model *golden_model(golden_ctx *ctx, const char *config);

int golden_check_weights(golden_ctx *ctx, const cJSON *entry);          /* golden-main.c    */
int golden_check_rope(golden_ctx *ctx, const cJSON *entry);             /* golden-text.c    */
int golden_check_text_case(golden_ctx *ctx, const cJSON *entry, llv_model *m);    /* golden-text.c   */
int golden_check_vision_case(golden_ctx *ctx, const cJSON *entry, llv_model *m);  /* golden-vision.c */
int golden_check_image_case(golden_ctx *ctx, const cJSON *entry);       /* golden-image.c   */
int golden_check_canvas_table(golden_ctx *ctx, const cJSON *entry);     /* golden-image.c   */
int golden_check_sampler(golden_ctx *ctx, const cJSON *entry);          /* golden-sampler.c */

#endif
