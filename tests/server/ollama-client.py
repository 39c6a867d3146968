"""Drives llv-server's Ollama routes with the unmodified official `ollama`
Python client (pinned in requirements-clients.txt): list, show, ps, chat with
an image (streaming and not: the same text at temperature 0), generate, a
conversation that carries a tool call, options, and the errors the client
structured output (format: a JSON schema, and "json"), and the errors the
client raises (unknown model, pull, an unsupported schema keyword, bad options).
Usage: python ollama-client.py BASE IMAGE. Exit 0 = all passed."""
import json
import sys

import ollama

base, image = sys.argv[1], sys.argv[2]
c = ollama.Client(host=base)
name = "llama3.2-vision"
img = open(image, "rb").read()
fails = []


def check(cond, what):
    if not cond:
        fails.append(what)
        print("FAIL:", what)


def raises(fn, status, what):
    try:
        fn()
    except ollama.ResponseError as e:
        check(e.status_code == status, f"{what}: status {e.status_code}, expected {status} ({e.error})")
        check(isinstance(e.error, str) and len(e.error) > 5, f"{what}: error text {e.error!r}")
        return
    check(False, f"{what}: no error raised")


tags = c.list()
check(any(m.model == "llama3.2-vision:latest" for m in tags.models), f"list: {tags}")
check(tags.models[0].details.family == "mllama", "list: family")
show = c.show(name)
check("vision" in (show.capabilities or []), f"show: capabilities {show.capabilities}")
check(show.modelinfo.get("general.architecture") == "mllama", "show: model_info")
ps = c.ps()
check(len(ps.models) == 1 and ps.models[0].model == "llama3.2-vision:latest", f"ps: {ps}")

opts = {"temperature": 0, "num_predict": 12, "seed": 7}
msgs = [{"role": "user", "content": "What is in this image?", "images": [img]}]
r = c.chat(model=name, messages=msgs, options=opts)
check(r.done and r.done_reason == "length", f"chat: done {r.done} {r.done_reason}")
check(r.message.role == "assistant" and isinstance(r.message.content, str), "chat: message")
# prompt_eval_count: the prompt tokens evaluated (those the prefix cache kept are not)
check(r.eval_count == 12 and r.prompt_eval_count >= 1, f"chat: counts {r.eval_count} {r.prompt_eval_count}")
check(r.total_duration >= r.eval_duration > 0 and r.prompt_eval_duration > 0, "chat: durations")
parts = list(c.chat(model=name, messages=msgs, options=opts, stream=True))
check(parts[-1].done and not any(p.done for p in parts[:-1]), "chat stream: done only last")
check("".join(p.message.content for p in parts) == r.message.content, "chat stream: same text as non-streamed")
check(parts[-1].eval_count == 12, "chat stream: final counts")

g = c.generate(model=name, prompt="Name the colour.", images=[img], options=opts)
check(g.done and isinstance(g.response, str) and g.eval_count == 12, f"generate: {g.done} {g.eval_count}")
gs = list(c.generate(model=name, prompt="Name the colour.", images=[img], options=opts, stream=True))
check("".join(p.response for p in gs) == g.response, "generate stream: same text")
g2 = c.generate(model=name, prompt="Hi", system="Answer briefly.", options={"num_predict": 3, "stop": ["\n"]})
check(g2.done and g2.eval_count <= 3, "generate: system + stop")

# a conversation that carries a tool call and its result
tools = [{"type": "function", "function": {"name": "get_weather", "description": "Weather of a city",
                                           "parameters": {"type": "object", "properties": {"city": {"type": "string"}},
                                                          "required": ["city"]}}}]
conv = [{"role": "user", "content": "Weather in Paris?"},
        {"role": "assistant", "content": "", "tool_calls": [{"function": {"name": "get_weather",
                                                                          "arguments": {"city": "Paris"}}}]},
        {"role": "tool", "content": "18 C, sunny", "tool_name": "get_weather"}]
t = c.chat(model=name, messages=conv, tools=tools, options={"num_predict": 4})
check(t.done and t.message.role == "assistant", "chat: tools conversation")

# load / unload requests (no messages)
check(c.generate(model=name).done_reason == "load", "generate: load")
check(c.chat(model=name, messages=[], keep_alive=0).done_reason == "unload", "chat: unload")

# structured output: format as a JSON schema (what ollama-python's docs show with pydantic's model_json_schema)
schema = {"type": "object", "properties": {"city": {"type": "string", "maxLength": 10},
                                           "sunny": {"type": "boolean"}}, "required": ["city", "sunny"]}
s = c.chat(model=name, messages=[{"role": "user", "content": "Weather?"}], format=schema,
           options={"temperature": 1, "seed": 4})
doc = json.loads(s.message.content)
check(s.done_reason == "stop" and set(doc) == {"city", "sunny"} and isinstance(doc["sunny"], bool), f"format {doc}")
g = c.generate(model=name, prompt="JSON please", format="json", options={"temperature": 1, "seed": 5,
                                                                          "num_predict": 2000})
check(g.done_reason == "length" or isinstance(json.loads(g.response), dict), "format json")
raises(lambda: c.chat(model=name, messages=msgs, format={"type": "object", "not": {}}), 400, "unsupported keyword")

raises(lambda: c.chat(model="nope", messages=msgs), 404, "unknown model")
raises(lambda: c.pull("llama3.2-vision"), 501, "pull")
raises(lambda: c.delete("llama3.2-vision"), 501, "delete")
raises(lambda: c.chat(model=name, messages=msgs, options={"temperature": 9}), 400, "temperature out of range")
raises(lambda: c.chat(model=name, messages=[{"role": "user", "content": "x", "images": [b"not an image"]}]), 400,
       "bad image")
raises(lambda: c.chat(model=name, messages=msgs, think=True), 400, "think")
print("ollama client:", "FAILED" if fails else "all passed", f"({len(fails)} failures)")
sys.exit(1 if fails else 0)
