#!/usr/bin/env python3
"""sse.py FILE workers|openai: parses an SSE stream and prints a JSON summary:
text (pieces joined), events, done_last, usage (from the last event before [DONE] that has it),
usage_before_done, ids (distinct chunk ids), finish (finish_reason values), errors,
logprobs (openai: the chunks' choices[0].logprobs.content joined; None when every chunk has "logprobs": null;
lp_text: the entries' text by chunk, whether each chunk's entries start in its own text)."""
import json
import sys

raw = open(sys.argv[1], "rb").read().decode("utf-8")
mode = sys.argv[2]
events = [b[len("data: "):] for b in raw.split("\n\n") if b.startswith("data: ")]
out = {"text": "", "events": len(events), "done_last": bool(events) and events[-1] == "[DONE]",
       "usage": None, "usage_before_done": False, "ids": [], "finish": [], "errors": [], "tool_calls": None,
       "bad": [], "empty": 0, "logprobs": None, "lp_in_chunk": True}
for i, e in enumerate(events):
    if e == "[DONE]":
        continue
    try:
        o = json.loads(e)
    except Exception:  # noqa: BLE001
        out["bad"].append(e[:80])
        continue
    if "error" in o or "errors" in o:
        out["errors"].append(o)
    if o.get("usage"):
        out["usage"] = o["usage"]
        out["usage_before_done"] = i + 1 < len(events) and events[-1] == "[DONE]"
    if mode == "workers":
        out["text"] += o.get("response", "")
        if o.get("response") == "" and not o.get("usage"):
            out["empty"] += 1
        if "tool_calls" in o:
            out["tool_calls"] = o["tool_calls"]
    else:
        if o.get("id") not in out["ids"]:
            out["ids"].append(o.get("id"))
        for c in o.get("choices", []):
            piece = (c.get("delta") or {}).get("content") or ""
            out["text"] += piece
            lp = c.get("logprobs")
            if lp is not None:
                out["logprobs"] = (out["logprobs"] or []) + lp["content"]
                # a chunk carries only tokens whose text starts in it: some text whenever it has entries
                if lp["content"] and not piece:
                    out["lp_in_chunk"] = False
            if c.get("finish_reason"):
                out["finish"].append(c["finish_reason"])
print(json.dumps(out))
