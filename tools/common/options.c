#include "options.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { HELP_COL = 30, HELP_WIDTH = 79 };

/* the options every tool has */
enum { BUILTIN_NONE, BUILTIN_HELP, BUILTIN_VERSION, BUILTIN_LIST };

static bool takes_value(const llv_opt *o) { return o->kind != LLV_OPT_FLAG && o->kind != LLV_OPT_SET; }

/* "--model" or "-m": how messages name an option */
static const char *opt_label(const llv_opt *o, char buf[80]) {
    if (o->name) snprintf(buf, 80, "--%s", o->name);
    else snprintf(buf, 80, "-%c", o->short_name);
    return buf;
}

static void vreport(const llv_cli *cli, const char *fmt, va_list ap) {
    fprintf(stderr, "%s: ", cli->tool);
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\nTry '%s --help'.\n", cli->tool);
}

int llv_cli_usage_error(const llv_cli *cli, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vreport(cli, fmt, ap);
    va_end(ap);
    return cli->usage_exit;
}

/* ------------------------------------------------------------------ values */

static bool parse_i64(const char *s, long long *out) {
    if (!*s) return false;
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || *end) return false;
    *out = v;
    return true;
}

static bool parse_u64(const char *s, uint64_t *out) {
    if (!*s || *s == '-' || *s == '+') return false;
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || *end) return false;
    *out = v;
    return true;
}

static bool parse_size(const char *s, uint64_t *out) {
    if (!*s || *s == '-' || *s == '+') return false;
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || end == s) return false;
    unsigned long long mul = 1;
    if (*end == 'k' || *end == 'K') mul = 1ull << 10, end++;
    else if (*end == 'm' || *end == 'M') mul = 1ull << 20, end++;
    else if (*end == 'g' || *end == 'G') mul = 1ull << 30, end++;
    if (*end || v > SIZE_MAX / mul) return false;
    *out = v * mul;
    return true;
}

/* 32m, 20m, 1k, 1000: as a size option is written */
static void fmt_size(double v, char *buf, size_t n) {
    unsigned long long b = (unsigned long long)v;
    if (b && b % (1ull << 30) == 0) snprintf(buf, n, "%llug", b >> 30);
    else if (b && b % (1ull << 20) == 0) snprintf(buf, n, "%llum", b >> 20);
    else if (b && b % (1ull << 10) == 0) snprintf(buf, n, "%lluk", b >> 10);
    else snprintf(buf, n, "%llu", b);
}

/* the range as the help and the messages write it ("0..1024", ">= 1"), or "" */
static void fmt_range(const llv_opt *o, char *buf, size_t n) {
    buf[0] = 0;
    char a[24], b[24];
    switch (o->kind) {
    case LLV_OPT_INT:
        if (o->hi < INT_MAX) snprintf(buf, n, "%.0f..%.0f", o->lo, o->hi);
        else if (o->lo > 0) snprintf(buf, n, ">= %.0f", o->lo);
        break;
    case LLV_OPT_U64:
        if (o->lo < o->hi) snprintf(buf, n, "%.0f..%.0f", o->lo, o->hi);
        break;
    case LLV_OPT_FLOAT:
        if (o->lo < o->hi) snprintf(buf, n, "%g..%g", o->lo, o->hi);
        break;
    case LLV_OPT_SIZE:
        fmt_size(o->lo, a, sizeof a);
        fmt_size(o->hi, b, sizeof b);
        if (o->lo < o->hi && o->hi < (double)SIZE_MAX) snprintf(buf, n, "%s..%s", a, b);
        else if (o->lo > 0) snprintf(buf, n, ">= %s", a);
        break;
    default: break;
    }
}

/* the default as the help shows it, or "" */
static void fmt_default(const llv_opt *o, char *buf, size_t n) {
    buf[0] = 0;
    if (o->def) {
        snprintf(buf, n, "%s", o->def);
        return;
    }
    switch (o->kind) {
    case LLV_OPT_STR:
        if (*o->to.str && **o->to.str) snprintf(buf, n, "%s", *o->to.str);
        break;
    case LLV_OPT_INT: snprintf(buf, n, "%d", *o->to.i); break;
    case LLV_OPT_U64: snprintf(buf, n, "%llu", (unsigned long long)*o->to.u64); break;
    case LLV_OPT_FLOAT: snprintf(buf, n, "%g", (double)*o->to.f); break;
    case LLV_OPT_SIZE: fmt_size((double)*o->to.size, buf, n); break;
    case LLV_OPT_TYPE: snprintf(buf, n, "%s", llv_type_name(*o->to.type) ? llv_type_name(*o->to.type) : "?"); break;
    default: break;
    }
}

/* Stores a value; false with the reason in why. */
static bool set_value(const llv_opt *o, const char *v, char *why, size_t n) {
    char range[64];
    fmt_range(o, range, sizeof range);
    long long i;
    uint64_t u;
    switch (o->kind) {
    case LLV_OPT_STR: *o->to.str = v; return true;
    case LLV_OPT_INT:
        if (!parse_i64(v, &i) || (double)i < o->lo || (double)i > o->hi) {
            if (o->hi < INT_MAX) snprintf(why, n, "expected an integer in %s", range);
            else snprintf(why, n, "expected an integer >= %.0f", o->lo);
            return false;
        }
        *o->to.i = (int)i;
        return true;
    case LLV_OPT_U64:
        if (!parse_u64(v, &u) || (o->lo < o->hi && ((double)u < o->lo || (double)u > o->hi))) {
            snprintf(why, n, "expected a non-negative integer%s%s", range[0] ? " in " : "", range);
            return false;
        }
        *o->to.u64 = u;
        return true;
    case LLV_OPT_FLOAT: {
        char *end;
        errno = 0;
        double d = *v ? strtod(v, &end) : NAN;
        if (!*v || errno || *end || !isfinite(d) || (o->lo < o->hi && (d < o->lo || d > o->hi))) {
            snprintf(why, n, "expected a number%s%s", range[0] ? " in " : "", range);
            return false;
        }
        *o->to.f = (float)d;
        return true;
    }
    case LLV_OPT_SIZE:
        if (!parse_size(v, &u) || (double)u < o->lo || (o->lo < o->hi && (double)u > o->hi)) {
            snprintf(why, n, "expected bytes with an optional k, m or g suffix%s%s", range[0] ? ", " : "", range);
            return false;
        }
        *o->to.size = (size_t)u;
        return true;
    case LLV_OPT_TYPE: {
        llv_error err;
        if (llv_type_from_name(v, o->to.type, &err) == LLV_OK) return true;
        snprintf(why, n, "%s", err.message);
        return false;
    }
    case LLV_OPT_CALL: return o->fn(v, o->to.ctx, why, n);
    default: return false;
    }
}

/* ------------------------------------------------------------------- help */

/* Writes text from column `col`, wrapped at HELP_WIDTH; the first line
 * continues at column `at`. */
static void put_wrapped(FILE *f, const char *text, int at, int col) {
    const char *p = text;
    while (*p) {
        while (*p == ' ') p++;
        const char *w = p;
        while (*w && *w != ' ') w++;
        int len = (int)(w - p);
        if (at > col && at + 1 + len > HELP_WIDTH) {
            fprintf(f, "\n%*s", col, "");
            at = col;
        } else if (at > col) {
            fputc(' ', f);
            at++;
        }
        fwrite(p, 1, (size_t)len, f);
        at += len;
        p = w;
    }
    fputc('\n', f);
}

static void help_line(FILE *f, char short_name, const char *name, const char *meta, const char *text) {
    char left[128];
    int n = snprintf(left, sizeof left, "  %c%c%s", short_name ? '-' : ' ', short_name ? short_name : ' ',
                     short_name && name ? ", " : "  ");
    if (name) n += snprintf(left + n, sizeof left - (size_t)n, "--%s", name);
    if (meta) snprintf(left + n, sizeof left - (size_t)n, " %s", meta);
    int len = (int)strlen(left);
    fputs(left, f);
    if (len + 2 > HELP_COL) {
        fprintf(f, "\n%*s", HELP_COL, "");
        len = HELP_COL;
    }
    fprintf(f, "%*s", HELP_COL - len, "");
    put_wrapped(f, text, HELP_COL, HELP_COL);
}

void llv_cli_help(const llv_cli *cli, FILE *f) {
    const char *s = cli->synopsis;
    for (bool first = true; *s; first = false) {
        const char *e = strchr(s, '\n');
        size_t len = e ? (size_t)(e - s) : strlen(s);
        fprintf(f, "%s%.*s\n", first ? "usage: " : "       ", (int)len, s);
        s += len + (e ? 1 : 0);
    }
    if (cli->about) fprintf(f, "\n%s", cli->about);
    fputs("\noptions:\n", f);
    for (size_t i = 0; i < cli->n_opts; i++) {
        const llv_opt *o = &cli->opts[i];
        char text[1024], def[128], range[64];
        fmt_default(o, def, sizeof def);
        fmt_range(o, range, sizeof range);
        int n = snprintf(text, sizeof text, "%s", o->help);
        if (o->required) n += snprintf(text + n, sizeof text - (size_t)n, " (required)");
        else if (def[0] && range[0]) snprintf(text + n, sizeof text - (size_t)n, " (default %s; %s)", def, range);
        else if (def[0]) snprintf(text + n, sizeof text - (size_t)n, " (default %s)", def);
        else if (range[0]) snprintf(text + n, sizeof text - (size_t)n, " (%s)", range);
        help_line(f, o->short_name, o->name, o->meta, text);
    }
    help_line(f, 'h', "help", NULL, "show this help and exit");
    help_line(f, 0, "version", NULL, "print the version and exit");
    if (cli->epilog) fprintf(f, "\n%s", cli->epilog);
}

/* --list-options: each option's spellings, one option a line */
static void list_options(const llv_cli *cli) {
    for (size_t i = 0; i < cli->n_opts; i++) {
        const llv_opt *o = &cli->opts[i];
        if (o->short_name) printf("-%c%s", o->short_name, o->name ? " " : "");
        if (o->name) printf("--%s", o->name);
        putchar('\n');
    }
    puts("-h --help");
    puts("--version");
}

/* ---------------------------------------------------------------- parsing */

static const llv_opt *find_long(const llv_cli *cli, const char *name, size_t len) {
    for (size_t i = 0; i < cli->n_opts; i++)
        if (cli->opts[i].name && strlen(cli->opts[i].name) == len && !strncmp(cli->opts[i].name, name, len))
            return &cli->opts[i];
    return NULL;
}

static const llv_opt *find_short(const llv_cli *cli, char c) {
    for (size_t i = 0; i < cli->n_opts; i++)
        if (cli->opts[i].short_name == c) return &cli->opts[i];
    return NULL;
}

static int builtin(const char *a) {
    if (!strcmp(a, "-h") || !strcmp(a, "--help")) return BUILTIN_HELP;
    if (!strcmp(a, "--version")) return BUILTIN_VERSION;
    if (!strcmp(a, "--list-options")) return BUILTIN_LIST;
    return BUILTIN_NONE;
}

/* One pass over argv. dry: only looks for the built-in options (so that
 * "--help" works whatever else is wrong, while "-p --help" stays a prompt);
 * returns their exit status, or -1. Otherwise stores everything; returns -1
 * or the usage error status. */
static int pass(const llv_cli *cli, int argc, char **argv, int *n_pos, bool dry) {
    char why[512], label[80];
    bool options = true;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!options || a[0] != '-' || !a[1]) { /* a positional argument ("-" included) */
            if (dry) continue;
            if (!cli->pos || *n_pos >= cli->max_pos) return llv_cli_usage_error(cli, "unexpected argument '%s'", a);
            cli->pos[(*n_pos)++] = a;
            continue;
        }
        if (!strcmp(a, "--")) {
            options = false;
            continue;
        }
        int b = builtin(a);
        if (b != BUILTIN_NONE) {
            if (!dry) continue;
            if (b == BUILTIN_HELP) llv_cli_help(cli, stdout);
            else if (b == BUILTIN_VERSION) printf("%s %s\n", cli->tool, llv_version());
            else list_options(cli);
            return fflush(stdout) == 0 ? 0 : 1;
        }
        const llv_opt *o;
        const char *value = NULL;
        if (a[1] == '-') {
            const char *eq = strchr(a + 2, '=');
            o = find_long(cli, a + 2, eq ? (size_t)(eq - a - 2) : strlen(a + 2));
            if (o && eq) {
                if (!takes_value(o)) {
                    if (dry) continue;
                    return llv_cli_usage_error(cli, "option '%s' takes no value", opt_label(o, label));
                }
                value = eq + 1;
            }
        } else {
            o = find_short(cli, a[1]);
            if (o && a[2]) {
                if (!takes_value(o)) o = NULL; /* no bundled flags */
                else value = a + 2;
            }
        }
        if (!o) {
            if (dry) continue;
            return llv_cli_usage_error(cli, "unknown option '%s'", a);
        }
        if (takes_value(o) && !value) {
            if (i + 1 >= argc) {
                if (dry) continue;
                return llv_cli_usage_error(cli, "option '%s' needs a value", a);
            }
            value = argv[++i];
        }
        if (dry) continue;
        if (o->given) *o->given = true;
        if (o->kind == LLV_OPT_FLAG) *o->to.flag = true;
        else if (o->kind == LLV_OPT_SET) *o->to.i = (int)o->lo;
        else if (!set_value(o, value, why, sizeof why))
            return llv_cli_usage_error(cli, "bad %s '%s': %s", opt_label(o, label), value, why);
    }
    return -1;
}

int llv_cli_parse(const llv_cli *cli, int argc, char **argv, int *n_pos) {
    int np = 0;
    int rc = pass(cli, argc, argv, &np, true);
    if (rc >= 0) return rc;
    rc = pass(cli, argc, argv, &np, false);
    if (rc >= 0) return rc;
    for (size_t i = 0; i < cli->n_opts; i++) {
        const llv_opt *o = &cli->opts[i];
        if (!o->required) continue;
        bool given = o->kind == LLV_OPT_STR ? *o->to.str != NULL : !o->given || *o->given;
        if (!given) {
            char label[80];
            if (o->short_name) snprintf(label, sizeof label, "-%c", o->short_name);
            else opt_label(o, label);
            return llv_cli_usage_error(cli, "missing %s%s%s", label, o->meta ? " " : "", o->meta ? o->meta : "");
        }
    }
    if (np < cli->min_pos) {
        fprintf(stderr, "%s: missing arguments\n", cli->tool);
        const char *s = cli->synopsis;
        for (bool first = true; *s; first = false) {
            const char *e = strchr(s, '\n');
            size_t len = e ? (size_t)(e - s) : strlen(s);
            fprintf(stderr, "%s%.*s\n", first ? "usage: " : "       ", (int)len, s);
            s += len + (e ? 1 : 0);
        }
        fprintf(stderr, "Try '%s --help'.\n", cli->tool);
        return cli->usage_exit;
    }
    if (n_pos) *n_pos = np;
    return -1;
}

/* ------------------------------------------------------------ list values */

bool llv_opt_list_add(const char *value, void *ctx, char *why, size_t why_size) {
    llv_opt_list *l = ctx;
    int max = l->max > 0 && l->max <= LLV_OPT_LIST_MAX ? l->max : LLV_OPT_LIST_MAX;
    if (l->n >= max) {
        snprintf(why, why_size, "given more than %d times", max);
        return false;
    }
    l->v[l->n++] = value;
    return true;
}

bool llv_opt_lora_add(const char *value, void *ctx, char *why, size_t why_size) {
    const char *eq = strchr(value, '=');
    if (!eq || eq == value || !eq[1]) {
        snprintf(why, why_size, "expected NAME=PATH[:SCALE]");
        return false;
    }
    return llv_opt_list_add(value, ctx, why, why_size);
}

bool llv_opt_loras_load(const char *tool, llv_model *m, llv_opt_list *l) {
    for (int i = 0; i < l->n; i++) {
        char *name = (char *)l->v[i], *eq = strchr(name, '='), *colon = strrchr(eq + 1, ':'), *end = NULL;
        float scale = 1.0f;
        *eq = 0;
        if (colon && colon[1]) {
            float f = strtof(colon + 1, &end);
            if (!*end) scale = f, *colon = 0;
        }
        llv_error err;
        if (llv_model_lora_add(m, name, eq + 1, scale, &err) != LLV_OK) {
            fprintf(stderr, "%s: --lora %s: %s\n", tool, name, err.message);
            return false;
        }
    }
    return true;
}

int llv_tool_fail(const char *tool, llv_status s, const llv_error *err, int last) {
    if (last >= 0 && last < 100) fputc('\n', stderr);
    fprintf(stderr, "%s: %s: %s\n", tool, llv_status_name(s), err->message);
    return 1;
}
