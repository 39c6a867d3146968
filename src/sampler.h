/* sampler.h - logits processing and sampling: repetition penalty (HF),
 * frequency/presence penalties (OpenAI), temperature, top-k, top-p, min-p,
 * seeded RNG; greedy at temperature 0.
 *
 * Order of application (HF generate()'s order for the parts HF has):
 *   1. repetition penalty  (HF RepetitionPenaltyLogitsProcessor) over prompt +
 *      generated ids, each distinct id once: logit > 0 divided by the penalty,
 *      logit < 0 multiplied; ids outside [0, n_vocab) skipped; 0 or 1 = off
 *   2. frequency / presence (OpenAI) over generated ids:
 *      logit -= count * frequency + (count > 0) * presence
 *   3. temperature 0: stop here and take the argmax (first index on ties);
 *      otherwise logits /= temperature (HF TemperatureLogitsWarper)
 *   4. top-k   (HF TopKLogitsWarper: keeps every logit >= the k-th largest)
 *   5. top-p   (HF TopPLogitsWarper: ascending sort, float softmax, cumulative
 *      sum; drops entries whose cumulative probability <= 1 - top_p, keeping
 *      at least the largest); top_p >= 1 = off
 *   6. min-p   (HF MinPLogitsWarper: drops p < min_p * p_max, keeps the max)
 *   7. sampling: softmax (double) over the kept logits, inverse CDF over the
 *      ids in index order with one double uniform in [0, 1) from xoshiro256**
 *      seeded through splitmix64 from the seed (seed 0 = random from the OS).
 * Removed entries are set to -inf. */
#ifndef LLV_SAMPLER_H
#define LLV_SAMPLER_H

#include "common.h"

typedef struct llv_sampler llv_sampler;

/* Validates params (message names the field) and allocates scratch for n_vocab. */
llv_status llv_sampler_create(const llv_sampling_params *p, int32_t n_vocab, llv_sampler **out, llv_error *err);
void       llv_sampler_free(llv_sampler *s);

/* Picks the next token from logits[n_vocab] (modified in place). `prompt` are
 * the conversation's tokens before generation (repetition penalty sees them
 * and the generated ones; ids >= n_vocab are ignored), `generated` the tokens
 * generated so far (frequency/presence penalties). Deterministic for a seed. */
int32_t llv_sampler_sample(llv_sampler *s, float *logits, const int32_t *prompt, size_t n_prompt,
                           const int32_t *generated, size_t n_generated);

/* Internal, for tests: applies steps 1-6 above to logits[n_vocab] in place
 * (at temperature 0 only steps 1-2), leaving -inf for removed entries. */
llv_status llv_sampler_process(const llv_sampling_params *p, float *logits, int32_t n_vocab, const int32_t *prompt,
                               size_t n_prompt, const int32_t *generated, size_t n_generated, llv_error *err);

/* probs[i] = softmax over the finite entries of logits (0 for -inf ones),
 * computed in double. All -inf (or n == 0): all zeros. */
void llv_softmax_kept(const float *logits, int32_t n, float *probs);

/* Fills *e for the token `chosen` sampled from raw logits[n] (llv.h,
 * llv_logprob_entry): log-softmax in double with the max subtracted, the
 * min(k, n, LLV_SAMPLING_TOP_LOGPROBS_MAX) best by logprob, ties by lower id
 * (NaN logits excluded). */
void llv_logprobs_fill(const float *logits, int32_t n, int32_t chosen, int32_t k, llv_logprob_entry *e);
/* First index of the largest value (NaN ignored; 0 if none). */
int32_t llv_argmax_f32(const float *logits, int32_t n);

#endif
