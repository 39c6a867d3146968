"""Results shaped as OpenAI's chat.completion and chat.completion.chunk
objects (the shapes llama-cpp-python's create_chat_completion returns)."""

from __future__ import annotations

import secrets
import time
from typing import Any

from ._model import Result


def _id(prefix: str) -> str:
    return prefix + secrets.token_hex(12)


def _usage(r: Result) -> dict[str, Any]:
    return {
        "prompt_tokens": r.prompt_tokens,
        "completion_tokens": r.completion_tokens,
        "total_tokens": r.prompt_tokens + r.completion_tokens,
        "prompt_tokens_details": {"cached_tokens": 0},
    }


def _tool_calls(calls: list[dict[str, str]], indexed: bool) -> list[dict[str, Any]]:
    out = []
    for i, c in enumerate(calls):
        d: dict[str, Any] = {"id": _id("call_"), "type": "function",
                             "function": {"name": c["name"], "arguments": c["arguments"]}}
        if indexed:
            d = {"index": i, **d}
        out.append(d)
    return out


def completion(r: Result, model: str) -> dict[str, Any]:
    msg: dict[str, Any] = {"role": "assistant", "content": None if r.tool_calls else r.text}
    if r.tool_calls:
        msg["tool_calls"] = _tool_calls(r.tool_calls, False)
    return {
        "id": _id("chatcmpl-"),
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [{"index": 0, "message": msg, "logprobs": None, "finish_reason": r.finish_reason}],
        "usage": _usage(r),
    }


class Chunks:
    """Builds the chunks of one streamed completion (one id and time)."""

    def __init__(self, model: str):
        self.base = {"id": _id("chatcmpl-"), "object": "chat.completion.chunk", "created": int(time.time()),
                     "model": model}

    def _chunk(self, delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
        return {**self.base, "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}]}

    def first(self) -> dict[str, Any]:
        return self._chunk({"role": "assistant", "content": ""})

    def content(self, text: str) -> dict[str, Any]:
        return self._chunk({"content": text})

    def tool_calls(self, calls: list[dict[str, str]]) -> dict[str, Any]:
        return self._chunk({"tool_calls": _tool_calls(calls, True)})

    def finish(self, reason: str) -> dict[str, Any]:
        return self._chunk({}, reason)

    def usage(self, r: Result) -> dict[str, Any]:
        return {**self.base, "choices": [], "usage": _usage(r)}
