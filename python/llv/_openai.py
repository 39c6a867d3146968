"""Results shaped as OpenAI's chat.completion and chat.completion.chunk
objects (the shapes llama-cpp-python's create_chat_completion returns)."""

from __future__ import annotations

import json
import secrets
import time
from typing import Any, Mapping, Sequence

from ._model import Result


def _id(prefix: str) -> str:
    return prefix + secrets.token_hex(12)


def _usage(r: Result) -> dict[str, Any]:
    return {
        "prompt_tokens": r.prompt_tokens,
        "completion_tokens": r.completion_tokens,
        "total_tokens": r.prompt_tokens + r.completion_tokens,
        "prompt_tokens_details": {"cached_tokens": r.cached_tokens},
    }


def _token(model: Any, token: int, logprob: float) -> dict[str, Any]:
    """OpenAI's token entry: the text, or "bytes:\\xNN..." when the token's bytes
    are not UTF-8 on their own (as llv-server and OpenAI name them)."""
    b = model.token_bytes(token)
    try:
        text = b.decode("utf-8")
        if "\0" in text:
            raise UnicodeDecodeError("utf-8", b, 0, 1, "NUL")
    except UnicodeDecodeError:
        text = "bytes:" + "".join(f"\\x{c:02x}" for c in b)
    return {"token": text, "logprob": logprob if logprob > -1e30 else -9999.0, "bytes": list(b)}


def _logprobs(model: Any, entries: list[dict[str, Any]] | None) -> dict[str, Any] | None:
    if entries is None:
        return None
    content = []
    for e in entries:
        d = _token(model, e["token"], e["logprob"])
        d["top_logprobs"] = [_token(model, t, lp) for t, lp in e["top"]]
        content.append(d)
    return {"content": content, "refusal": None}


def _tool_calls(calls: list[dict[str, str]], indexed: bool) -> list[dict[str, Any]]:
    out = []
    for i, c in enumerate(calls):
        d: dict[str, Any] = {"id": _id("call_"), "type": "function",
                             "function": {"name": c["name"], "arguments": c["arguments"]}}
        if indexed:
            d = {"index": i, **d}
        out.append(d)
    return out


def completion(r: Result, model: str, m: Any) -> dict[str, Any]:
    msg: dict[str, Any] = {"role": "assistant", "content": None if r.tool_calls else r.text}
    if r.tool_calls:
        msg["tool_calls"] = _tool_calls(r.tool_calls, False)
    return {
        "id": _id("chatcmpl-"),
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [{"index": 0, "message": msg, "logprobs": _logprobs(m, r.logprobs),
                     "finish_reason": r.finish_reason}],
        "usage": _usage(r),
    }


class Chunks:
    """Builds the chunks of one streamed completion (one id and time)."""

    def __init__(self, model: str, m: Any = None):
        self.base = {"id": _id("chatcmpl-"), "object": "chat.completion.chunk", "created": int(time.time()),
                     "model": model}
        self.m = m  # the Model when logprobs were asked for

    def _chunk(self, delta: dict[str, Any], finish: str | None = None, entries: list | None = None) -> dict[str, Any]:
        lp = _logprobs(self.m, entries) if self.m is not None and entries is not None else None
        return {**self.base, "choices": [{"index": 0, "delta": delta, "logprobs": lp, "finish_reason": finish}]}

    def first(self) -> dict[str, Any]:
        return self._chunk({"role": "assistant", "content": ""})

    def content(self, text: str, entries: list | None = None) -> dict[str, Any]:
        return self._chunk({"content": text}, None, entries)

    def tool_calls(self, calls: list[dict[str, str]]) -> dict[str, Any]:
        return self._chunk({"tool_calls": _tool_calls(calls, True)})

    def finish(self, reason: str) -> dict[str, Any]:
        return self._chunk({}, reason)

    def usage(self, r: Result) -> dict[str, Any]:
        return {**self.base, "choices": [], "usage": _usage(r)}


def response_format(rf: Mapping[str, Any] | None, sampling: dict[str, Any]) -> None:
    """OpenAI's response_format into the sampling keywords (json_object / json_schema)."""
    if rf is None:
        return
    kind = rf.get("type", "text")
    if kind == "text":
        return
    if kind == "json_object":
        sampling["json_object"] = True
    elif kind == "json_schema":
        js = rf.get("json_schema")
        if not isinstance(js, Mapping):
            raise ValueError("response_format.json_schema: expected {'name': ..., 'schema': {...}}")
        sampling["json_schema"] = json.dumps(js.get("schema", {}))
    else:
        raise ValueError(f"response_format.type: expected 'text', 'json_object' or 'json_schema', got {kind!r}")


def force_tool(tools: Sequence[Mapping[str, Any]] | None, choice: Any, sampling: dict[str, Any]) -> None:
    """tool_choice 'required' or {'type': 'function', 'function': {'name': ...}}: the answer is forced to be a
    call in the Llama 3.1 JSON format ({"name": ..., "parameters": {...}}), as llv-server does."""
    if not tools:
        raise ValueError("tool_choice: needs tools")
    want = None
    if isinstance(choice, Mapping):
        want = (choice.get("function") or {}).get("name")
        if not isinstance(want, str):
            raise ValueError("tool_choice.function.name: expected a string")
    elif choice != "required":
        raise ValueError(f"tool_choice: expected 'none', 'auto', 'required' or a function, got {choice!r}")
    calls = []
    for t in tools:
        f = t.get("function", t)
        if want is not None and f.get("name") != want:
            continue
        calls.append({"type": "object", "properties": {"name": {"const": f.get("name")},
                                                        "parameters": f.get("parameters") or {}},
                      "required": ["name", "parameters"]})
    if not calls:
        raise ValueError(f"tool_choice: {want!r} is not among the tools")
    sampling["json_schema"] = json.dumps({"anyOf": calls})

