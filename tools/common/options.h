/* options.h - the command-line tools' options. Each tool declares its options
 * once, in a table (flags, value kind, range, default, help text); parsing,
 * range checks, usage errors, --help and the hidden --list-options (the
 * option names, for the README check in tests/test-options.sh) all come
 * from that table, as llama.cpp's common/arg does. Every tool also gets
 * -h/--help and --version. Usage errors print "<tool>: <what>" and
 * "Try '<tool> --help'." to stderr; failures of calls are worded by
 * llv_tool_fail. */
#ifndef LLV_OPTIONS_H
#define LLV_OPTIONS_H

#include "llv.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

typedef enum llv_opt_kind {
    LLV_OPT_FLAG,  /* no value: *to.flag = true                                       */
    LLV_OPT_SET,   /* no value: *to.i = lo (options that choose one of several modes) */
    LLV_OPT_STR,   /* *to.str = the value                                             */
    LLV_OPT_INT,   /* *to.i = a decimal integer in lo..hi                             */
    LLV_OPT_U64,   /* *to.u64 = a decimal integer, in lo..hi when lo < hi             */
    LLV_OPT_FLOAT, /* *to.f = a finite number, in lo..hi when lo < hi                 */
    LLV_OPT_SIZE,  /* *to.size = bytes, suffix k, m or g (1024-based), in lo..hi       */
    LLV_OPT_TYPE,  /* *to.type = a weight type name (f32, bf16, q4_k_m, ...)          */
    LLV_OPT_CALL   /* fn(value, to.ctx): repeatable or structured values              */
} llv_opt_kind;

/* An option's value handler for LLV_OPT_CALL: false with a reason in why. */
typedef bool (*llv_opt_fn)(const char *value, void *ctx, char *why, size_t why_size);

typedef struct llv_opt {
    char         short_name; /* 'm' for -m; 0 = none                                     */
    const char  *name;       /* "model" for --model; NULL = short only                     */
    const char  *meta;       /* the value's name in the help ("FILE"); NULL for FLAG, SET  */
    llv_opt_kind kind;
    union {
        bool        *flag;
        int         *i;
        const char **str;
        uint64_t    *u64;
        float       *f;
        size_t      *size;
        llv_type    *type;
        void        *ctx;
    } to;
    double      lo, hi; /* range; SET: the value stored in lo                           */
    const char *help;   /* one sentence: the default and the range are appended         */
    const char *def;    /* the default shown instead of *to's value ("" = none shown)   */
    llv_opt_fn  fn;     /* LLV_OPT_CALL                                                  */
    bool       *given;  /* set to true when the option is given (may be NULL)           */
    bool        required; /* STR: *to.str must be set; other kinds: *given must be true */
} llv_opt;

typedef struct llv_cli {
    const char    *tool;       /* "llv-run"                                                  */
    const char    *synopsis;   /* usage lines without "usage: ", '\n'-separated              */
    const char    *about;      /* text between the synopsis and the options (may be NULL)    */
    const char    *epilog;     /* text after the options, e.g. exit codes (may be NULL)      */
    const llv_opt *opts;
    size_t         n_opts;
    int            usage_exit; /* exit status of a usage error                               */
    const char   **pos;        /* positional arguments are stored here; NULL = none allowed  */
    int            min_pos, max_pos;
} llv_cli;

/* The table and its length, for an llv_cli initializer. */
#define LLV_CLI_OPTS(table) (table), sizeof(table) / sizeof((table)[0])

/* Parses argv by the table: "--name VALUE", "--name=VALUE", "-x VALUE", "-xVALUE",
 * "--" ends the options. Returns -1 to go on (*n_pos positional arguments in
 * cli->pos; n_pos may be NULL), else the exit status the tool returns now:
 * 0 after --help, --version or --list-options (printed to stdout), or
 * cli->usage_exit after a usage error (printed to stderr). */
int llv_cli_parse(const llv_cli *cli, int argc, char **argv, int *n_pos);

/* A usage error found after parsing: prints as the parser does and returns
 * cli->usage_exit. */
int llv_cli_usage_error(const llv_cli *cli, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Prints the generated help (what --help prints) to f. */
void llv_cli_help(const llv_cli *cli, FILE *f);

/* A repeatable option's values, in order (LLV_OPT_CALL with llv_opt_list_add). */
#define LLV_OPT_LIST_MAX 64
typedef struct llv_opt_list {
    const char *v[LLV_OPT_LIST_MAX];
    int         n, max; /* max <= LLV_OPT_LIST_MAX */
} llv_opt_list;
bool llv_opt_list_add(const char *value, void *list, char *why, size_t why_size);

/* --lora NAME=PATH[:SCALE] (llv-run, llv-server): checks the form, then adds
 * it to an llv_opt_list. */
bool llv_opt_lora_add(const char *value, void *list, char *why, size_t why_size);
/* Adds every --lora of the list to the model's registry; each entry is split
 * in place, so l->v[i] is then the adapter's NAME (a trailing ":number" is the
 * scale, default 1). On failure prints "<tool>: --lora NAME: <message>" and
 * returns false. */
bool llv_opt_loras_load(const char *tool, llv_model *m, llv_opt_list *l);

/* Reports a failed call as "<tool>: <STATUS>: <message>" on stderr, first
 * ending a progress line that llv_tool_progress_stderr left unfinished
 * (`last` is its percentage, -1 if none was printed). Returns 1, the tools'
 * exit status for a failure. */
int llv_tool_fail(const char *tool, llv_status s, const llv_error *err, int last);

#endif
