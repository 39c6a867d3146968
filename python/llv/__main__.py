"""python -m llv: one question, like llv-run (streams the answer to stdout).

Exit codes as llv-run: 0 ok, 1 runtime error, 2 usage error, 3 bad or
missing model file, 4 bad or missing image file."""

from __future__ import annotations

import argparse
import json
import sys

from . import LLVError, Model, version


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m llv", description="Ask a Llama 3.2 Vision or Llama model one "
                                 "question and stream the answer to stdout.")
    ap.add_argument("-m", "--model", required=True, help="model file (GGUF)")
    ap.add_argument("-p", "--prompt", required=True, help="the question: one user turn")
    ap.add_argument("-i", "--image", action="append", default=[], help="attach an image (repeatable); images "
                    "come before the prompt text")
    ap.add_argument("-s", "--system", help="system message")
    ap.add_argument("-n", "--max-tokens", type=int, default=256, help="maximum tokens to generate (256)")
    ap.add_argument("--temperature", type=float, default=None, help="0 = greedy (default 0.6)")
    ap.add_argument("--top-p", type=float, default=None, help="nucleus sampling, 1 = off")
    ap.add_argument("--top-k", type=int, default=None, help="keep the K most likely tokens, 0 = off")
    ap.add_argument("--seed", type=int, default=None, help="random seed, 0 = random")
    ap.add_argument("-t", "--threads", type=int, default=0, help="worker threads, 0 = all cores")
    ap.add_argument("-c", "--ctx", type=int, default=0, help="context size in tokens, 0 = min(model max, 4096)")
    ap.add_argument("--json", action="store_true", help="print one JSON object {response, tool_calls, usage}")
    ap.add_argument("--version", action="version", version=f"llv {version()}")
    a = ap.parse_args(argv)

    try:
        model = Model(a.model, n_ctx=a.ctx, threads=a.threads)
        session = model.session()
    except (LLVError, OSError) as e:
        print(f"python -m llv: {a.model}: {e}", file=sys.stderr)
        return 3
    try:
        for img in a.image:
            session.add_image(img)  # decoded and checked now: a bad file is exit code 4
    except (LLVError, OSError, ValueError) as e:
        print(f"python -m llv: {e}", file=sys.stderr)
        return 4
    user = [{"type": "image"} for _ in a.image] + [{"type": "text", "text": a.prompt}]
    messages = ([{"role": "system", "content": a.system}] if a.system else []) + [{"role": "user", "content": user}]
    sampling = dict(max_tokens=a.max_tokens, temperature=a.temperature, top_p=a.top_p, top_k=a.top_k, seed=a.seed)
    try:
        session.add_messages(messages)
        if a.json:
            r = session.generate(**sampling)
            print(json.dumps({"response": r.text, "tool_calls": r.tool_calls,
                              "usage": {"prompt_tokens": r.prompt_tokens, "completion_tokens": r.completion_tokens}},
                             ensure_ascii=False))
        else:
            for piece in session.generate(stream=True, **sampling):
                sys.stdout.write(piece)
                sys.stdout.flush()
            sys.stdout.write("\n")
    except (ValueError, TypeError) as e:
        print(f"python -m llv: {e}", file=sys.stderr)
        return 2
    except LLVError as e:
        print(f"python -m llv: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
