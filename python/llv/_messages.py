"""OpenAI-shaped chat messages to llv_message arrays.

Accepted: {"role", "content"} with content a string, None, or a list of
parts {"type": "text", "text"}, {"type": "image_url", "image_url": {"url"}}
(a data: URL; other URLs are refused: nothing is downloaded),
{"type": "image", "image": bytes | path | PIL image}, or {"type": "image"}
alone: the next image queued with Session.add_image; assistant messages
with "tool_calls" (one call per message, as the Llama 3.1 format writes
them); "tool" messages with the result as content. Image parts are queued
on the session in order and passed to the library as parts without bytes,
which take the queued images in turn."""

from __future__ import annotations

import ctypes
import json
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

from . import _capi as C
from ._images import Image, ImageInput, to_image


_PLACEHOLDER = (ctypes.c_uint8 * 1)(0)


@dataclass
class CMessages:
    array: Any  # ctypes array of C.Message
    n: int
    images: list[Image] = field(default_factory=list)
    keep: list[Any] = field(default_factory=list)  # what the array points into


def _text(v: Any, where: str) -> str:
    if not isinstance(v, str):
        raise TypeError(f"{where}: expected a string, got {type(v).__name__}")
    return v


def _parts(content: Sequence[Any], where: str, images: list[Image], placeholders_only: bool) -> list[tuple[int, Any]]:
    out: list[tuple[int, Any]] = []
    for j, part in enumerate(content):
        pw = f"{where}.content[{j}]"
        if isinstance(part, str):
            out.append((C.PART_TEXT, part))
            continue
        if not isinstance(part, Mapping):
            raise TypeError(f"{pw}: expected an object, got {type(part).__name__}")
        kind = part.get("type")
        if kind == "text":
            out.append((C.PART_TEXT, _text(part.get("text"), pw + ".text")))
        elif kind in ("image_url", "image"):
            src = part.get(kind)
            if kind == "image_url" and isinstance(src, Mapping):
                src = src.get("url")
            if src is None and kind == "image_url":
                raise ValueError(f"{pw}: the image_url part has no url")
            if src is not None and not placeholders_only:
                images.append(to_image(src))
            out.append((C.PART_IMAGE, None))
        else:
            raise ValueError(f"{pw}: unknown part type {kind!r} (text, image_url, image)")
    return out


def convert_messages(
    messages: Sequence[Mapping[str, Any]],
    images: Sequence[ImageInput] | None,
    placeholders_only: bool = False,
) -> CMessages:
    if isinstance(messages, (str, bytes)) or not isinstance(messages, Sequence):
        raise TypeError("messages: expected a list of {'role': ..., 'content': ...} objects")
    if not messages:
        raise ValueError("messages: the list is empty")
    extra = [to_image(i) for i in images] if images else []
    last_user = max((i for i, m in enumerate(messages) if isinstance(m, Mapping) and m.get("role") == "user"),
                    default=-1)
    if extra and last_user < 0:
        raise ValueError("images: there is no user message to attach them to")
    arr = (C.Message * len(messages))()
    cm = CMessages(arr, len(messages))
    for i, m in enumerate(messages):
        where = f"messages[{i}]"
        if not isinstance(m, Mapping):
            raise TypeError(f"{where}: expected an object, got {type(m).__name__}")
        role = _text(m.get("role"), where + ".role")
        content = m.get("content")
        parts: list[tuple[int, Any]] | None = None
        if i == last_user and extra:
            cm.images.extend(extra)
            parts = [(C.PART_IMAGE, None)] * len(extra)
            if isinstance(content, str):
                parts.append((C.PART_TEXT, content))
            elif content is not None:
                parts += _parts(content, where, cm.images, placeholders_only)
        elif isinstance(content, (list, tuple)):
            parts = _parts(content, where, cm.images, placeholders_only)
        elif content is not None and not isinstance(content, str):
            raise TypeError(f"{where}.content: expected a string or a list of parts, got {type(content).__name__}")
        c = arr[i]
        b = role.encode("utf-8")
        cm.keep.append(b)
        c.role = b
        if parts is not None:
            pa = (C.Part * max(1, len(parts)))()
            for j, (kind, text) in enumerate(parts):
                pa[j].type = kind
                if kind == C.PART_IMAGE and placeholders_only:  # rendering only: any bytes will do
                    pa[j].image, pa[j].image_bytes = _PLACEHOLDER, 1
                if text is not None:
                    tb = text.encode("utf-8")
                    cm.keep.append(tb)
                    pa[j].text = tb
            cm.keep.append(pa)
            c.parts = pa
            c.n_parts = len(parts)
        elif content is not None:
            cb = content.encode("utf-8")
            cm.keep.append(cb)
            c.content = cb
        calls = m.get("tool_calls")
        if calls:
            if len(calls) != 1:
                raise ValueError(f"{where}.tool_calls: one call per assistant message (the Llama 3.1 format)")
            fn = calls[0].get("function", calls[0]) if isinstance(calls[0], Mapping) else None
            if not isinstance(fn, Mapping):
                raise TypeError(f"{where}.tool_calls[0]: expected {{'function': {{'name', 'arguments'}}}}")
            args = fn.get("arguments", {})
            args = args if isinstance(args, str) else json.dumps(args)
            nb, ab = _text(fn.get("name"), where + ".tool_calls[0].function.name").encode(), args.encode()
            cm.keep += [nb, ab]
            c.tool_call_name, c.tool_call_arguments = nb, ab
    return cm

