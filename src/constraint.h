/* constraint.h - structured output: the grammar constraint of one generate
 * (llv_sampling_params.grammar / json_schema / json_object), on the model's
 * vocabulary. Before the sampler sees the logits, every token that would
 * make the output leave the language is set to -inf (the end token only
 * where the output is complete); the sampled token then advances the
 * matcher. Code of the languages: grammar.c, json-schema.c. */
#ifndef LLV_CONSTRAINT_H
#define LLV_CONSTRAINT_H

#include "model.h"

typedef struct llv_constraint llv_constraint;

/* The constraint validated params ask for (*out = NULL when none); a bad
 * grammar or schema fails with the converter's status and a message naming
 * the field. The model's vocabulary trie is built at the first call. */
llv_status llv_constraint_create(const llv_model *m, const llv_sampling_params *p, llv_constraint **out,
                                 llv_error *err);
void       llv_constraint_free(llv_constraint *c);
/* The grammar parses and the schema converts (no model needed): what
 * llv_sampling_params_validate checks. */
llv_status llv_constraint_check(const llv_sampling_params *p, llv_error *err);

/* Masks logits[n_vocab] in place. LLV_ERR_STATE when no token can continue
 * (the model's vocabulary cannot spell what the language needs next, or the
 * grammar is too ambiguous to mask within its budget). */
llv_status llv_constraint_mask(llv_constraint *c, float *logits, int32_t n_vocab, llv_error *err);
/* Advances over the sampled token (one the mask allowed). */
llv_status llv_constraint_accept(llv_constraint *c, int32_t token, llv_error *err);

#endif
