/* tool_progress.h - stderr log and progress sinks shared by the command-line
 * tools (generic: any llv_log_fn / llv_progress_fn user). */
#ifndef LLV_TOOL_PROGRESS_H
#define LLV_TOOL_PROGRESS_H

#include "llv.h"

#include <stdbool.h>

/* Log sink printing "[level] msg" to stderr. `user` may point to an int
 * minimum level (llv_log_level), or be NULL for INFO. */
void llv_tool_log_stderr(llv_log_level level, const char *msg, void *user);

/* Progress sink printing "\rwhat: NN%" to stderr when the percentage changes
 * (newline at 100%). `user` must point to an int holding the last percentage
 * printed, initialised to -1. Never cancels. */
bool llv_tool_progress_stderr(const char *what, float fraction, void *user);

#endif
