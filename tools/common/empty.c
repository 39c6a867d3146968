/* keeps the tools helper library non-empty */
typedef int llv_tools_common_empty;
