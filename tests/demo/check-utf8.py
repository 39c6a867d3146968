"""Streamed and --json output is valid UTF-8 and equals Hugging Face's decode.

A random model (llv-synth --preset demo: its byte-level vocabulary makes sampled
answers full of lone bytes of multi-byte characters) answers at temperature 1.5
with many seeds. For every answer:
  - each streamed piece is valid UTF-8 on its own (a piece that ended inside a
    character would not be), and the pieces joined are the answer;
  - the answer equals Hugging Face's tokenizer.decode(ids, skip_special_tokens=True)
    of the generated ids, which turns invalid sequences into U+FFFD;
  - llv-run's streamed stdout and its --json "response" are valid UTF-8 and equal.
The run must have exercised both cases: characters split across tokens, and U+FFFD.

    python tests/demo/check-utf8.py BIN_DIR WORK_DIR
"""

import json
import os
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tools", "demo"))
from train import bytes_to_unicode  # noqa: E402


def main():
    bin_dir, work = sys.argv[1], sys.argv[2]
    from transformers import PreTrainedTokenizerFast
    hf_dir, gguf = os.path.join(work, "random-hf"), os.path.join(work, "random.gguf")
    subprocess.run([os.path.join(bin_dir, "llv-synth"), hf_dir, "--preset", "demo", "--seed", "1", "--hf-dir",
                    "--quiet"], check=True)
    subprocess.run([os.path.join(bin_dir, "llv-convert"), hf_dir, gguf, "--type", "f32", "--quiet"], check=True)
    tok = PreTrainedTokenizerFast(tokenizer_file=os.path.join(hf_dir, "tokenizer.json"))
    byte_of = {c: b for b, c in zip(*bytes_to_unicode())}

    seeds = range(1, 41)
    prompts = ["Write something.", "Describe a picture.", "Say hello in many languages."]
    req = "".join(json.dumps({"image": None, "turns": [prompts[s % 3], prompts[(s + 1) % 3]], "max_tokens": 48,
                              "temperature": 1.5, "seed": s}) + "\n" for s in seeds)
    p = subprocess.run([os.path.join(bin_dir, "demo-answer"), gguf], input=req.encode(), capture_output=True)
    if p.returncode != 0:
        sys.exit(f"demo-answer failed ({p.returncode}): {p.stderr.decode(errors='replace')}")
    failures, split, fffd, checked, skipped = [], 0, 0, 0, 0
    for n, raw in enumerate(p.stdout.splitlines()):
        try:
            out = json.loads(raw.decode("utf-8"))  # strict: invalid UTF-8 raises
        except UnicodeDecodeError as e:
            failures.append(f"request {n}: output is not valid UTF-8: {e}")
            continue
        if "error" in out:
            failures.append(f"request {n}: {out['error']}")
            continue
        for ans, ids, pieces in zip(out["answers"], out["tokens"], out["pieces"]):
            ref = tok.decode(ids, skip_special_tokens=True)
            if "\0" in ref:  # a NUL byte ends a C string: not comparable here
                skipped += 1
                continue
            checked += 1
            if "".join(pieces) != ans:
                failures.append(f"request {n}: pieces joined {''.join(pieces)!r} != answer {ans!r}")
            if ans != ref:
                failures.append(f"request {n}: llv {ans!r} != HF decode {ref!r}")
            fffd += "\ufffd" in ref
            split += _splits_a_character([bytes(byte_of[c] for c in tok.convert_ids_to_tokens(t) if c in byte_of)
                                          for t in ids])
    # llv-run: streamed stdout and --json
    for s in range(1, 11):
        base = [os.path.join(bin_dir, "llv-run"), "-m", gguf, "-p", prompts[s % 3], "--temperature", "1.5",
                "--seed", str(s), "-n", "48"]
        stream = subprocess.run(base, capture_output=True).stdout
        js = subprocess.run(base + ["--json"], capture_output=True).stdout
        try:
            text = stream.decode("utf-8")
            resp = json.loads(js.decode("utf-8"))["response"]
        except (UnicodeDecodeError, ValueError, KeyError) as e:
            failures.append(f"llv-run seed {s}: {e}")
            continue
        if "\0" not in text and text != resp + "\n":
            failures.append(f"llv-run seed {s}: stream {text!r} != --json {resp!r}")
    for f in failures:
        print("FAIL", f)
    print(f"check-utf8: {checked} answers checked ({skipped} with a NUL byte skipped): {split} with characters "
          f"split across tokens, {fffd} with U+FFFD; {len(failures)} failures")
    if failures:
        sys.exit(1)
    if split == 0 or fffd == 0:
        sys.exit("check-utf8: the samples did not exercise both split characters and U+FFFD")


def _splits_a_character(token_bytes):
    """Whether a valid multi-byte character of the joined bytes starts in one token and ends in another."""
    b = b"".join(token_bytes)
    cuts, o = set(), 0
    for t in token_bytes:
        o += len(t)
        cuts.add(o)
    i = 0
    while i < len(b):
        for k in (2, 3, 4):
            try:
                b[i:i + k].decode("utf-8")
            except UnicodeDecodeError:
                continue
            if b[i] >= 0x80:
                if any(i < c < i + k for c in cuts):
                    return True
                i += k - 1
            break
        i += 1
    return False


if __name__ == "__main__":
    main()
