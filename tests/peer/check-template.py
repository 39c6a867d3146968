"""The chat template inside a GGUF rendered by Hugging Face's way (jinja2 with
trim_blocks and lstrip_blocks, as transformers' apply_chat_template) must equal
llv's rendering (llv-tokenize --render) for several conversations.

    python tests/peer/check-template.py MODEL.gguf LLV_BIN_DIR
"""
import json
import struct
import subprocess
import sys

import jinja2


def gguf_template(path):
    with open(path, "rb") as f:
        def rd(fmt):
            return struct.unpack("<" + fmt, f.read(struct.calcsize("<" + fmt)))

        def rs():
            n, = rd("Q")
            return f.read(n).decode("utf-8")

        sizes = {0: "B", 1: "b", 2: "H", 3: "h", 4: "I", 5: "i", 6: "f", 7: "?", 10: "Q", 11: "q", 12: "d"}

        def skip(t):
            if t == 8:
                return rs()
            if t == 9:
                et, n = rd("IQ")
                for _ in range(n):
                    skip(et)
                return None
            return rd(sizes[t])[0]

        magic, _ver, _nt, nkv = rd("4sIQQ")
        assert magic == b"GGUF"
        for _ in range(nkv):
            k = rs()
            t, = rd("I")
            v = skip(t)
            if k == "tokenizer.chat_template":
                return v
    return None


CONVERSATIONS = [
    [{"role": "user", "content": "What is the capital of France?"}],
    [{"role": "system", "content": "You are terse."}, {"role": "user", "content": "Hi"}],
    [{"role": "user", "content": "Hello"}, {"role": "assistant", "content": "Hi! How can I help?"},
     {"role": "user", "content": "Tell me a joke.\nA short one."}],
    [{"role": "user", "content": "  spaces and ünïcödé 日本  "}],
]


def main():
    model, bin_dir = sys.argv[1], sys.argv[2]
    src = gguf_template(model)
    if src is None:
        print("check-template: the file has no chat template")
        return 1
    env = jinja2.Environment(trim_blocks=True, lstrip_blocks=True)
    tmpl = env.from_string(src)
    fails = 0
    for conv in CONVERSATIONS:
        want = tmpl.render(messages=conv, add_generation_prompt=True, bos_token="", eos_token="")
        got = subprocess.run([bin_dir + "/llv-tokenize", "-m", model, "-p", json.dumps(conv), "--render"],
                             capture_output=True, text=True, check=True).stdout
        if got != want:
            fails += 1
            print(f"FAIL: {conv[-1]['content'][:30]!r}:\n  jinja2: {want!r}\n  llv:    {got!r}")
    print(f"check-template: {len(CONVERSATIONS) - fails}/{len(CONVERSATIONS)} conversations render as jinja2 does")
    return 1 if fails else 0


if __name__ == "__main__":
    sys.exit(main())
