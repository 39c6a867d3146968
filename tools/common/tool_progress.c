#include "tool_progress.h"

#include <stdio.h>

void llv_tool_log_stderr(llv_log_level level, const char *msg, void *user) {
    int min = user ? *(const int *)user : LLV_LOG_INFO;
    if ((int)level < min) return;
    static const char *const names[] = {"debug", "info", "warn", "error"};
    fprintf(stderr, "[%s] %s\n", (unsigned)level < 4 ? names[level] : "?", msg);
}

bool llv_tool_progress_stderr(const char *what, float fraction, void *user) {
    int *last = user;
    int pct = (int)(fraction * 100.0f + 0.5f);
    if (pct < 0) pct = 0;
    if (pct > 100) pct = 100;
    if (last && *last == pct) return true;
    if (last) *last = pct;
    fprintf(stderr, "\r%s: %3d%%%s", what, pct, pct == 100 ? "\n" : "");
    fflush(stderr);
    return true;
}
