"""The ctypes mirror (llv/_capi.py) has llv.h's layout: a C program compiled
against include/llv.h prints every mirrored struct's size and field offsets."""

from __future__ import annotations

import ctypes
import shutil
import subprocess

import pytest

from llv import _capi as C
from conftest import ROOT

STRUCTS = {
    "llv_error": C.Error,
    "llv_model_params": C.ModelParams,
    "llv_model_info": C.ModelInfo,
    "llv_part": C.Part,
    "llv_message": C.Message,
    "llv_chat_params": C.ChatParams,
    "llv_tool_call": C.ToolCall,
    "llv_session_params": C.SessionParams,
    "llv_sampling_params": C.SamplingParams,
    "llv_timings": C.Timings,
    "llv_result": C.Result,
    "llv_token_logprob": C.TokenLogprob,
    "llv_logprob_entry": C.LogprobEntry,
}


def test_struct_layouts_match_llv_h(tmp_path):
    cc = shutil.which("cc") or shutil.which("gcc") or shutil.which("clang")
    if not cc:
        pytest.skip("no C compiler")
    lines = ["#include <llv.h>", "#include <stddef.h>", "#include <stdio.h>", "int main(void) {"]
    for cname, st in STRUCTS.items():
        lines.append(f'    printf("{cname} sizeof() %zu\\n", sizeof({cname}));')
        for f in st._fields_:
            if f[0].startswith("_"):
                continue
            lines.append(f'    printf("{cname} {f[0]} %zu\\n", offsetof({cname}, {f[0]}));')
    lines += ["    return 0;", "}"]
    src = tmp_path / "layout.c"
    src.write_text("\n".join(lines) + "\n")
    exe = tmp_path / "layout"
    subprocess.run([cc, "-std=c11", "-I", str(ROOT / "include"), str(src), "-o", str(exe)], check=True)
    out = subprocess.run([str(exe)], capture_output=True, text=True, check=True).stdout
    got = {}
    for line in out.splitlines():
        cname, field, value = line.split()
        got[(cname, field)] = int(value)
    for cname, st in STRUCTS.items():
        for f in st._fields_:
            if not f[0].startswith("_"):
                assert getattr(st, f[0]).offset == got[(cname, f[0])], f"{cname}.{f[0]}: offset differs from llv.h"
        size = got[(cname, "sizeof()")]
        if cname == "llv_result":  # mirrored with a reserve: never smaller than the library's
            assert ctypes.sizeof(st) >= size + 256, "llv_result: the reserve is used up; mirror the new fields"
            assert C.Result.timings.offset + ctypes.sizeof(C.Timings) == C.Result._reserved.offset
        else:
            assert ctypes.sizeof(st) == size, f"{cname}: size {ctypes.sizeof(st)}, llv.h says {size}"

