/* json-schema.h - JSON Schema -> GBNF (grammar.h), like llama.cpp's
 * json-schema-to-grammar, for constrained JSON output. The supported subset
 * is in docs/grammar.md; anything else is an error, never ignored. */
#ifndef LLV_JSON_SCHEMA_H
#define LLV_JSON_SCHEMA_H

#include "common.h"

#include <stddef.h>

/* ---- limits (the one place) ---- */
#define LLV_SCHEMA_MAX_BYTES    (256u << 10) /* schema JSON text                              */
#define LLV_SCHEMA_MAX_DEPTH    64           /* nesting of subschemas (JSON nesting: cJSON's) */
#define LLV_SCHEMA_MAX_NODES    20000        /* subschemas visited, $ref expansions included  */
#define LLV_SCHEMA_MAX_ENUM     4096         /* values of one enum                            */
#define LLV_SCHEMA_MAX_PROPS    256          /* properties of one object                      */
#define LLV_SCHEMA_MAX_ITEMS    1000         /* minItems / maxItems / minLength / maxLength   */
#define LLV_SCHEMA_MAX_DIGITS   15           /* integer and fraction digits of a number       */

/* Converts schema_json[0..n) to GBNF text with root rule `root`; *gbnf_out is
 * malloc'd, NUL-terminated, owned by the caller (free()). The output allows a
 * bounded amount of whitespace between tokens and parses with
 * llv_grammar_parse. Errors: LLV_ERR_FORMAT for JSON that does not parse,
 * LLV_ERR_UNSUPPORTED naming a keyword (and its JSON pointer) or feature not
 * handled, LLV_ERR_INVALID_ARGUMENT for a schema that is wrong (bad $ref,
 * minimum > maximum, ...) or over a limit above. */
llv_status llv_json_schema_to_grammar(const char *schema_json, size_t n, char **gbnf_out, llv_error *err);

/* The grammar of any JSON object (response_format json_object / Ollama
 * "json"): the conversion of {"type":"object"}, malloc'd as above. */
llv_status llv_json_object_grammar(char **gbnf_out, llv_error *err);

#endif
