"""Drives llv-server's OpenAI routes with the unmodified official `openai`
Python SDK (pinned in requirements-clients.txt): a completion, a stream with
usage (the same text), logprobs (streamed and not, as the SDK's types), an
image as a data URL, models.retrieve, and the errors
the SDK raises (context_length_exceeded, unknown model).
Usage: python openai-client.py BASE_URL MODEL IMAGE. Exit 0 = all passed."""
import base64
import sys

import openai

base, model, image = sys.argv[1:4]
c = openai.OpenAI(base_url=base, api_key="unused", max_retries=0, timeout=120)
fails = []


def check(cond, what):
    if not cond:
        fails.append(what)
        print("FAIL:", what)


msgs = [{"role": "user", "content": "Say hello."}]
r = c.chat.completions.create(model=model, messages=msgs, max_tokens=10, temperature=0, seed=5)
check(r.object == "chat.completion" and r.choices[0].finish_reason in ("stop", "length"), f"completion {r}")
cached = r.usage.prompt_tokens_details.cached_tokens  # the prefix cache: at most all but the last prompt token
check(r.usage.completion_tokens <= 10 and 0 <= cached < r.usage.prompt_tokens, f"usage {r.usage}")
text, usage = "", None
for ch in c.chat.completions.create(model=model, messages=msgs, max_tokens=10, temperature=0, seed=5, stream=True,
                                    stream_options={"include_usage": True}):
    if ch.choices:
        text += ch.choices[0].delta.content or ""
    if ch.usage:
        usage = ch.usage
check(text == r.choices[0].message.content, "stream: same text as non-streamed")
check(usage is not None and usage.completion_tokens == r.usage.completion_tokens, "stream: usage")
# logprobs, parsed into the SDK's types: the streamed chunks' entries are the completion's
lp = c.chat.completions.create(model=model, messages=msgs, max_tokens=10, temperature=0, seed=5, logprobs=True,
                               top_logprobs=3)
content = lp.choices[0].logprobs.content if lp.choices[0].logprobs else None
check(bool(content) and all(len(e.top_logprobs) == 3 and e.top_logprobs[0].token == e.token and
                            e.top_logprobs[0].logprob >= e.top_logprobs[-1].logprob and e.logprob <= 0 and
                            isinstance(e.bytes, list) for e in content), f"logprobs {lp.choices[0].logprobs}")
check(bool(content) and type(content[0].top_logprobs[0]).__name__ == "TopLogprob", "logprobs: the SDK's TopLogprob")
check(lp.choices[0].message.content == r.choices[0].message.content, "logprobs: the same answer")
streamed = []
for ch in c.chat.completions.create(model=model, messages=msgs, max_tokens=10, temperature=0, seed=5, stream=True,
                                    logprobs=True, top_logprobs=3):
    if ch.choices and ch.choices[0].logprobs and ch.choices[0].logprobs.content:
        streamed += ch.choices[0].logprobs.content
check(content is not None and [e.model_dump() for e in streamed] == [e.model_dump() for e in content],
      "logprobs: stream entries equal the completion's")
try:
    c.chat.completions.create(model=model, messages=msgs, max_tokens=2, logprobs=True, top_logprobs=21)
    check(False, "top_logprobs 21: no error")
except openai.BadRequestError as e:
    check(e.param == "top_logprobs", f"top_logprobs 21: param {e.param}")
url = "data:image/png;base64," + base64.b64encode(open(image, "rb").read()).decode()
ri = c.chat.completions.create(model=model, max_tokens=4, messages=[{"role": "user", "content": [
    {"type": "image_url", "image_url": {"url": url}}, {"type": "text", "text": "What is it?"}]}])
rt = c.chat.completions.create(model=model, max_tokens=4, messages=[{"role": "user", "content": "What is it?"}])
# the template drops its dated system block when an image is present (as HF's does)
check(ri.usage.prompt_tokens != rt.usage.prompt_tokens and ri.choices[0].message.content is not None, "image")
check(c.models.retrieve(model).id == model, "models.retrieve")
try:
    c.chat.completions.create(model=model, max_tokens=2, messages=[{"role": "user", "content": "word " * 6000}])
    check(False, "context overflow: no error")
except openai.BadRequestError as e:
    check(e.code == "context_length_exceeded", f"context overflow code {e.code}")
try:
    c.models.retrieve("nope")
    check(False, "unknown model: no error")
except openai.NotFoundError:
    pass
# structured output through the SDK's own parse(): a pydantic model as response_format
import pydantic  # noqa: E402 - the openai SDK depends on it


class Record(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(extra="forbid")
    name: str = pydantic.Field(max_length=8)
    count: int = pydantic.Field(ge=0, le=9)
    ok: bool


p = c.beta.chat.completions.parse(model=model, messages=[{"role": "user", "content": "a record"}],
                                  response_format=Record, temperature=1, seed=3)
check(isinstance(p.choices[0].message.parsed, Record), f"parse(): {p.choices[0].message}")
tools = [{"type": "function", "function": {"name": "forecast", "parameters": {
    "type": "object", "properties": {"city": {"type": "string", "maxLength": 10}}, "required": ["city"]}}}]
r = c.chat.completions.create(model=model, messages=[{"role": "user", "content": "weather?"}], tools=tools,
                              tool_choice="required", temperature=1, seed=2, max_tokens=300)
check(r.choices[0].finish_reason == "tool_calls" and r.choices[0].message.tool_calls[0].function.name == "forecast",
      f"tool_choice required: {r.choices[0]}")
print("openai python client:", "FAILED" if fails else "all passed", f"({len(fails)} failures)")
sys.exit(1 if fails else 0)
