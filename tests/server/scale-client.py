"""Concurrent requests through a load balancer (tests/test-server-scale.sh),
Python's standard library only.

    scale-client.py expect BASE IMAGE > answers.json     the answers of the request mix, one by one
    scale-client.py wave BASE IMAGE answers.json N [--during CMD]

A wave sends N requests at once (the mix in turn: OpenAI text, OpenAI with an
image, an OpenAI stream, Workers AI, an Ollama chat stream), each with its own
X-Conversation-Id, and checks every answer is complete (a stream: its end
marker) and equal to the expected one (temperature 0: deterministic). With
--during, CMD runs (in a shell) once a quarter of the answers are in. Prints
one JSON line {"ok": n, "failed": n, "wrong": n, "streams_failed": n, ...} and
exits 1 if an answer was wrong (complete but different)."""

import base64
import json
import subprocess
import sys
import threading
import urllib.error
import urllib.request
import uuid

NAME = "@cf/meta/llama-3.2-11b-vision-instruct"


def mix(image_b64):
    url = "data:image/png;base64," + image_b64
    q = [{"role": "user", "content": "Tell me about the sky"}]
    qi = [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": url}},
                                       {"type": "text", "text": "What is in this image?"}]}]
    return [
        ("openai", "/v1/chat/completions", {"messages": q, "max_tokens": 24, "temperature": 0}),
        ("openai", "/v1/chat/completions", {"messages": qi, "max_tokens": 24, "temperature": 0}),
        ("openai-stream", "/v1/chat/completions", {"messages": q, "max_tokens": 24, "temperature": 0, "stream": True}),
        ("workers", "/ai/run/" + NAME, {"prompt": "Count to five", "max_tokens": 24, "temperature": 0}),
        ("ollama-stream", "/api/chat", {"model": "llama3.2-vision", "messages": q,
                                        "options": {"num_predict": 24, "temperature": 0}}),
    ]


def answer(kind, resp):
    """The answer text of a complete response, or raise."""
    if kind == "openai":
        return json.loads(resp.read())["choices"][0]["message"]["content"]
    if kind == "workers":
        return json.loads(resp.read())["result"]["response"]
    text, done = "", False
    for raw in resp:
        line = raw.decode().strip()
        if not line:
            continue
        if kind == "openai-stream":
            if line == "data: [DONE]":
                done = True
                break
            if line.startswith("data: "):
                ch = json.loads(line[6:])
                if "error" in ch:
                    raise RuntimeError(ch["error"])
                if ch["choices"]:
                    text += ch["choices"][0]["delta"].get("content") or ""
        else:
            o = json.loads(line)
            if "error" in o:
                raise RuntimeError(o["error"])
            text += o.get("message", {}).get("content", "")
            if o.get("done"):
                done = True
                break
    if not done:
        raise RuntimeError("the stream ended before its end marker")
    return text


def send(base, item, timeout=120):
    kind, path, body = item
    req = urllib.request.Request(base + path, data=json.dumps(body).encode(),
                                 headers={"Content-Type": "application/json", "X-Conversation-Id": str(uuid.uuid4())})
    with urllib.request.urlopen(req, timeout=timeout) as resp:
        return answer(kind, resp)


def main():
    cmd, base, image = sys.argv[1], sys.argv[2], sys.argv[3]
    items = mix(base64.b64encode(open(image, "rb").read()).decode())
    if cmd == "expect":
        print(json.dumps([send(base, it) for it in items]))
        return 0
    expected = json.load(open(sys.argv[4]))
    n = int(sys.argv[5])
    during = sys.argv[7] if len(sys.argv) > 7 and sys.argv[6] == "--during" else None
    res = [None] * n
    lock = threading.Lock()
    done = [0]
    fired = threading.Event()

    def run(i):
        it = items[i % len(items)]
        try:
            res[i] = ("ok", send(base, it))
        except (urllib.error.URLError, OSError, RuntimeError, ValueError, KeyError) as e:
            res[i] = ("failed", f"{type(e).__name__}: {e}")
        with lock:
            done[0] += 1
            if during and done[0] >= n // 4 and not fired.is_set():
                fired.set()
                subprocess.run(during, shell=True)

    th = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in th:
        t.start()
    for t in th:
        t.join()
    out = {"ok": 0, "failed": 0, "wrong": 0, "streams_failed": 0, "failures": []}
    for i, (st, v) in enumerate(res):
        kind = items[i % len(items)][0]
        if st == "failed":
            out["failed"] += 1
            out["streams_failed"] += kind.endswith("stream")
            out["failures"].append(f"{kind}: {v}")
        elif v != expected[i % len(items)]:
            out["wrong"] += 1
            out["failures"].append(f"{kind}: wrong answer {v!r}")
        else:
            out["ok"] += 1
    out["failures"] = out["failures"][:8]
    print(json.dumps(out))
    return 1 if out["wrong"] else 0


if __name__ == "__main__":
    sys.exit(main())
