/* tool_cli.h - option parsing and failure reporting shared by the
 * command-line tools, so they word usage errors and failures alike. */
#ifndef LLV_TOOL_CLI_H
#define LLV_TOOL_CLI_H

#include "llv.h"

#include <stdbool.h>

/* The value of option argv[*i]: advances *i and returns argv[*i], or prints
 * "<tool>: <option> needs a value" to stderr and returns NULL. */
const char *llv_tool_value(const char *tool, int argc, char **argv, int *i);

/* Parses a weight type name (f32, f16, bf16, ...); on failure prints
 * "<tool>: <why>" to stderr and returns false. */
bool llv_tool_type(const char *tool, const char *name, llv_type *type);

/* Reports a failed call as "<tool>: <STATUS>: <message>" on stderr, first
 * ending a progress line that llv_tool_progress_stderr left unfinished
 * (`last` is its percentage, -1 if none was printed). Returns 1, the tools'
 * exit status for a failure. */
int llv_tool_fail(const char *tool, llv_status s, const llv_error *err, int last);

#endif
