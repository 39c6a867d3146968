/* sampler.h - logits processing and sampling: repetition penalty (HF),
 * frequency/presence penalties (OpenAI), temperature, top-k, top-p, min-p,
 * seeded RNG; greedy at temperature 0. */
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

#endif
