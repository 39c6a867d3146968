#!/usr/bin/env python3
"""jcheck.py FILE EXPR: exit 0 if EXPR (Python, `j` = the parsed JSON of FILE) is true; else print why, exit 1."""
import json
import sys

try:
    with open(sys.argv[1], "rb") as f:
        j = json.loads(f.read().decode("utf-8"))
except Exception as e:  # noqa: BLE001
    print(f"jcheck: {sys.argv[1]} is not JSON: {e}", file=sys.stderr)
    sys.exit(1)
try:
    ok = eval(sys.argv[2], {"j": j, "json": json, "isint": lambda v: isinstance(v, int) and not isinstance(v, bool)})
except Exception as e:  # noqa: BLE001
    ok = False
    print(f"jcheck: {sys.argv[2]}: {type(e).__name__}: {e}", file=sys.stderr)
if not ok:
    print(f"jcheck: false: {sys.argv[2]}\n  on: {json.dumps(j)[:600]}", file=sys.stderr)
    sys.exit(1)
