#!/usr/bin/env python3
"""Renders tests/data/chat/conversations.json with the Llama 3.2 Vision Jinja
chat template into tests/data/chat/expected.json, the byte-exact expectations
of tests/test-chat.c.

The Jinja environment is set up as Hugging Face transformers'
apply_chat_template does (v4.47, utils/chat_template_utils.py): a sandboxed
environment with trim_blocks / lstrip_blocks and loopcontrols, transformers'
own tojson filter (json.dumps, ensure_ascii=False, no HTML escaping), and the
raise_exception / strftime_now globals. Uses Debian's python3-jinja2.

usage: render.py [TEMPLATE] (default: ../shared/reference/chat-template/
       llama-3.2-11b-vision-instruct.jinja relative to the repository root)
"""
import datetime
import json
import os
import sys

import jinja2
import jinja2.ext
from jinja2.sandbox import ImmutableSandboxedEnvironment

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, "..", "..", ".."))
DEFAULT_TEMPLATE = os.path.join(ROOT, "..", "shared", "reference", "chat-template",
                                "llama-3.2-11b-vision-instruct.jinja")


class TemplateError(Exception):
    pass


def raise_exception(message):
    raise TemplateError(message)


def tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
    # transformers' filter: plain json.dumps (jinja's own escapes HTML characters)
    return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys)


def strftime_now(fmt):
    return datetime.datetime.now().strftime(fmt)


def to_hf_message(m):
    """conversations.json message -> the dict transformers would pass."""
    out = {"role": m["role"]}
    if "content" in m:
        out["content"] = m["content"]
    if "tool_call" in m:
        tc = m["tool_call"]
        out["tool_calls"] = [{"type": "function", "function": {
            "name": tc["name"], "arguments": json.loads(tc["arguments_json"])}}]
    return out


def main():
    template_path = sys.argv[1] if len(sys.argv) > 1 else DEFAULT_TEMPLATE
    with open(template_path, encoding="utf-8") as f:
        source = f.read()
    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True, extensions=[jinja2.ext.loopcontrols])
    env.filters["tojson"] = tojson
    env.globals["raise_exception"] = raise_exception
    env.globals["strftime_now"] = strftime_now
    template = env.from_string(source)

    with open(os.path.join(HERE, "conversations.json"), encoding="utf-8") as f:
        data = json.load(f)
    results = []
    for conv in data["conversations"]:
        kwargs = {
            "messages": [to_hf_message(m) for m in conv["messages"]],
            "bos_token": "<|begin_of_text|>",
            "eos_token": "<|eot_id|>",
            "add_generation_prompt": conv.get("add_generation_prompt", True),
            "date_string": conv.get("date_string", data["default_date_string"]),
        }
        if "tools_json" in conv:
            kwargs["tools"] = json.loads(conv["tools_json"])
        try:
            results.append({"name": conv["name"], "text": template.render(**kwargs)})
        except TemplateError as e:
            results.append({"name": conv["name"], "error": str(e)})
    with open(os.path.join(HERE, "expected.json"), "w", encoding="utf-8") as f:
        json.dump({"template": os.path.basename(template_path), "jinja2": jinja2.__version__,
                   "renders": results}, f, ensure_ascii=False, indent=1)
        f.write("\n")
    print(f"rendered {len(results)} conversations")


if __name__ == "__main__":
    main()
