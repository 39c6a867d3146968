#include "tool_cli.h"

#include <stdio.h>

const char *llv_tool_value(const char *tool, int argc, char **argv, int *i) {
    if (*i + 1 >= argc) {
        fprintf(stderr, "%s: %s needs a value\n", tool, argv[*i]);
        return NULL;
    }
    return argv[++*i];
}

bool llv_tool_type(const char *tool, const char *name, llv_type *type) {
    llv_error err;
    if (llv_type_from_name(name, type, &err) == LLV_OK) return true;
    fprintf(stderr, "%s: %s\n", tool, err.message);
    return false;
}

int llv_tool_fail(const char *tool, llv_status s, const llv_error *err, int last) {
    if (last >= 0 && last < 100) fputc('\n', stderr);
    fprintf(stderr, "%s: %s: %s\n", tool, llv_status_name(s), err->message);
    return 1;
}
