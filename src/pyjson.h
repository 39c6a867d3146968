/* pyjson.h - JSON as Python's json module sees it, for the chat template's
 * tojson (json.dumps): json.loads semantics on reading (number lexemes kept,
 * so int vs float survive; duplicate keys: the first position, the last
 * value; NaN/Infinity accepted) and json.dumps(ensure_ascii=False) on
 * writing (repr(float) digits, ", " / ": " separators or an indent). cJSON,
 * used everywhere else, keeps neither lexemes nor Python's float repr. */
#ifndef LLV_PYJSON_H
#define LLV_PYJSON_H

#include "common.h"

#define LLV_PJ_MAX_DEPTH     512
#define LLV_PJ_MAX_DEPTH_STR "512"

typedef enum { LLV_PJ_NULL, LLV_PJ_FALSE, LLV_PJ_TRUE, LLV_PJ_INT, LLV_PJ_FLOAT, LLV_PJ_STR, LLV_PJ_ARR, LLV_PJ_OBJ } llv_pj_type;

typedef struct llv_pj {
    llv_pj_type    t;
    char          *s;      /* STR: decoded bytes; INT/FLOAT: the lexeme (or NaN/Infinity) */
    size_t         n;
    struct llv_pj *items;  /* ARR / OBJ values */
    struct llv_pj *keys;   /* OBJ keys (LLV_PJ_STR) */
    size_t         count;
} llv_pj;

/* Parses s[0..n), one JSON value (valid UTF-8 required). `what` names the
 * text in messages ("tools_json: invalid JSON at byte 12: ..."). Deeper than
 * LLV_PJ_MAX_DEPTH: LLV_ERR_LIMIT. On failure *out is empty. */
llv_status llv_pj_parse(const char *s, size_t n, const char *what, llv_pj *out, llv_error *err);
void       llv_pj_free(llv_pj *v);

/* json.dumps(v, ensure_ascii=False, indent=indent or None) appended to b. */
void llv_pj_dump(const llv_pj *v, llv_buf *b, int indent);
/* json.dumps of the string s[0..n) appended to b. */
void llv_pj_string(const char *s, size_t n, llv_buf *b);

#endif
