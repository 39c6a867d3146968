/* hf-vision.h - test-only helpers for the vision encoder:
 *  - a binder that fills the hparams and vision weights of an llv_model
 *    straight from a Hugging Face checkpoint (config.json + model.safetensors),
 *    applying the gate transforms the GGUF loader applies, so vision.c can be
 *    checked without the converter;
 *  - the golden comparison of one "model_case" manifest entry, shared by
 *    tests/test-vision.c and tests/golden/golden-vision.c. */
#ifndef LLV_TESTS_HF_VISION_H
#define LLV_TESTS_HF_VISION_H

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stdint.h>

#include "model.h"
#include "threadpool.h"

/* model_dir holds config.json and model.safetensors. The model has only
 * hparams (vision + text n_embd) and vision weights; free with hfv_model_free. */
llv_status hfv_model_load(const char *model_dir, llv_isa isa, llv_model **out, llv_error *err);
void       hfv_model_free(llv_model *m);

/* Reports one compared quantity; returns whether it passed. */
typedef bool (*hfv_compare_fn)(void *user, const char *case_name, const char *quantity, const float *got,
                               const float *ref, int64_t n, double atol, double rtol);
/* Reports a failure that is not a comparison (missing tensor, encode error). */
typedef void (*hfv_fail_fn)(void *user, const char *case_name, const char *what, const char *msg);

/* For each image of a "model_case" entry (golden_root/entry.path): runs
 * llv_vision_encode on its pixel_values with a capture and compares every
 * vision quantity and cross_attention_states. Entries without images return
 * 0 with *n_images = 0. Returns the number of failed quantities. */
int hfv_check_case(const char *golden_root, const cJSON *entry, const llv_model *m, llv_threadpool *pool,
                   hfv_compare_fn cmp, hfv_fail_fn fail, void *user, int *n_images);

/* End to end through the vision side: for each image of a "model_case"
 * entry, decodes its file (models/<config>/<file>) and preprocesses it with
 * llv's own image pipeline (mean/std from the hparams), compares the pixels
 * (exactly), the aspect ratio id and tile count with the case's processor
 * output, then encodes and compares cross_attention_states. */
int hfv_check_case_e2e(const char *golden_root, const cJSON *entry, const llv_model *m, llv_threadpool *pool,
                       hfv_compare_fn cmp, hfv_fail_fn fail, void *user, int *n_images);

#endif
