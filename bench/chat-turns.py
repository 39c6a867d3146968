"""Time to first token of each turn of a growing chat through llv-server's
/v1/chat/completions, with the prefix cache and without (--no-prefix-cache),
side by side. A chat client resends the whole conversation every turn: with
the cache the time to first token stays flat, without it grows with the
conversation. Python's standard library only; reported, never asserted.

    python3 bench/chat-turns.py -m MODEL.gguf [--turns 10] [--words 40] [--answer 16] [--threads N] [--image IMG]

Prints a table (turn, prompt tokens, cached tokens, TTFT with / without) and
the medians; --json prints one JSON object. The first turn may carry --image."""

import argparse
import base64
import json
import os
import re
import subprocess
import sys
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))


def start(server, model, threads, extra):
    p = subprocess.Popen([server, "-m", model, "--port", "0", "--threads", str(threads), "--ctx", "8192"] + extra,
                         stderr=subprocess.PIPE, text=True)
    for line in p.stderr:
        m = re.search(r"listening on (http://\S+)", line)
        if m:
            return p, m.group(1)
    raise SystemExit("llv-server did not start")


def turn(base, messages, answer):
    body = {"messages": messages, "max_tokens": answer, "temperature": 0, "stream": True,
            "stream_options": {"include_usage": True}}
    req = urllib.request.Request(base + "/v1/chat/completions", data=json.dumps(body).encode(),
                                 headers={"Content-Type": "application/json"})
    t0 = time.monotonic()
    ttft, text, usage = None, "", None
    with urllib.request.urlopen(req, timeout=3600) as r:
        for raw in r:
            line = raw.decode().strip()
            if not line.startswith("data: ") or line == "data: [DONE]":
                continue
            ch = json.loads(line[6:])
            if ch.get("usage"):
                usage = ch["usage"]
            if ch["choices"] and ch["choices"][0]["delta"].get("content"):
                if ttft is None:
                    ttft = time.monotonic() - t0
                text += ch["choices"][0]["delta"]["content"]
    return (ttft if ttft is not None else time.monotonic() - t0), text, usage


def chat(base, turns, words, answer, image):
    msgs, rows = [], []
    for i in range(turns):
        content = " ".join(f"word{(i * words + k) % 97}" for k in range(words))
        if i == 0 and image:
            url = "data:image/png;base64," + base64.b64encode(open(image, "rb").read()).decode()
            msgs.append({"role": "user", "content": [{"type": "image_url", "image_url": {"url": url}},
                                                     {"type": "text", "text": content}]})
        else:
            msgs.append({"role": "user", "content": content})
        ttft, text, usage = turn(base, msgs, answer)
        msgs.append({"role": "assistant", "content": text})
        rows.append((i + 1, usage["prompt_tokens"], usage["prompt_tokens_details"]["cached_tokens"], ttft))
    return rows


def median(v):
    v = sorted(v)
    return v[len(v) // 2] if v else 0


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("-m", "--model", required=True)
    ap.add_argument("--server", default=os.path.join(HERE, "..", "build", "bin", "llv-server"))
    ap.add_argument("--turns", type=int, default=10)
    ap.add_argument("--words", type=int, default=40, help="words of each user turn")
    ap.add_argument("--answer", type=int, default=16, help="tokens of each answer")
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 2)
    ap.add_argument("--image", help="an image in the first turn")
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()
    res = {}
    for mode, extra in (("cached", []), ("uncached", ["--no-prefix-cache"])):
        p, base = start(a.server, a.model, a.threads, extra)
        try:
            res[mode] = chat(base, a.turns, a.words, a.answer, a.image)
        finally:
            p.terminate()
            p.wait()
    c, u = res["cached"], res["uncached"]
    out = {"model": a.model, "turns": a.turns, "threads": a.threads,
           "turn": [{"turn": x[0], "prompt_tokens": x[1], "cached_tokens": x[2], "ttft_s": x[3], "ttft_uncached_s": y[3]}
                    for x, y in zip(c, u)],
           "ttft_last_over_second_turn": c[-1][3] / c[1][3] if len(c) > 1 and c[1][3] > 0 else None,
           "ttft_last_over_second_turn_uncached": u[-1][3] / u[1][3] if len(u) > 1 and u[1][3] > 0 else None}
    if a.json:
        print(json.dumps(out))
        return
    print("| turn | prompt tokens | cached | TTFT (s) | TTFT without the cache (s) |\n|---|---|---|---|---|")
    for x, y in zip(c, u):
        print(f"| {x[0]} | {x[1]} | {x[2]} | {x[3]:.3f} | {y[3]:.3f} |")
    print(f"\nlast turn / second turn: {out['ttft_last_over_second_turn']:.2f} with the cache, "
          f"{out['ttft_last_over_second_turn_uncached']:.2f} without")


if __name__ == "__main__":
    sys.exit(main())
