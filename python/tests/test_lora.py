"""LoRA adapters from Python, as in the C API: the answer with an adapter
equals llv-run's with the same adapter and scale, differs from the base
model's, and a merged model answers the same."""

from __future__ import annotations

import json
import subprocess

import llv
from conftest import tool

ASK = [{"role": "user", "content": "Tell me about the sky"}]
GREEDY = dict(temperature=0, max_tokens=12)


def test_lora_equals_llv_run(tmp_path):
    synth, convert, run = tool("llv-synth"), tool("llv-convert"), tool("llv-run")
    base, peft, ad = tmp_path / "tiny.gguf", tmp_path / "peft", tmp_path / "ad.gguf"
    subprocess.run([str(synth), str(base), "--preset", "tiny", "--quiet"], check=True)
    subprocess.run([str(synth), str(peft), "--lora-for", "tiny", "--rank", "4", "--seed", "9"], check=True,
                   capture_output=True)
    subprocess.run([str(convert), "--lora", str(peft), str(ad), "--quiet"], check=True)

    def c_answer(*extra: str) -> str:
        p = subprocess.run([str(run), "-m", str(base), *extra, "-p", ASK[0]["content"], "--temperature", "0", "-n",
                            "12", "--json"], capture_output=True, check=True, text=True)
        return json.loads(p.stdout)["response"]

    m = llv.Model(str(base), lora={"a": str(ad)})
    m.add_lora("half", str(ad), scale=0.5)
    assert m.loras == ["a", "half"]
    with_a = m.chat(ASK, lora="a", **GREEDY)
    assert with_a == c_answer("--lora", f"a={ad}")
    assert m.chat(ASK, lora="half", **GREEDY) == c_answer("--lora", f"a={ad}:0.5")
    assert m.chat(ASK, **GREEDY) == c_answer()
    assert with_a != m.chat(ASK, **GREEDY), "the adapter changes nothing"
    m.close()
