"""Drives llv-server's OpenAI routes with the unmodified official `openai`
Python SDK (pinned in requirements-clients.txt): a completion, a stream with
usage (the same text), an image as a data URL, models.retrieve, and the errors
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
check(r.usage.completion_tokens <= 10 and r.usage.prompt_tokens_details.cached_tokens == 0, f"usage {r.usage}")
text, usage = "", None
for ch in c.chat.completions.create(model=model, messages=msgs, max_tokens=10, temperature=0, seed=5, stream=True,
                                    stream_options={"include_usage": True}):
    if ch.choices:
        text += ch.choices[0].delta.content or ""
    if ch.usage:
        usage = ch.usage
check(text == r.choices[0].message.content, "stream: same text as non-streamed")
check(usage is not None and usage.completion_tokens == r.usage.completion_tokens, "stream: usage")
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
print("openai python client:", "FAILED" if fails else "all passed", f"({len(fails)} failures)")
sys.exit(1 if fails else 0)
