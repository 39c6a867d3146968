"""The golden tiny cases (Hugging Face's Mllama on random weights) through
Python: the logits equal the C library's bitwise (peer-logits, the same
inputs through the public API from C), the greedy tokens equal both C's and
Hugging Face's, and the logits are within the golden tolerance of HF's."""

from __future__ import annotations

import json
import math
from array import array

import llv
from conftest import as_list, peer_logits, read_safetensors

ATOL, RTOL = 1e-4, 1e-5  # MANIFEST.md: logits of a float32 engine


def cases(cfg):
    summary = json.loads((cfg / "summary.json").read_text())
    for c in summary["cases"]:
        t = read_safetensors(cfg / "cases" / f"{c['case']}.safetensors")
        yield c, as_list(t["input_ids"]), [str(cfg / im["file"]) for im in c["images"]], t


def test_golden_cases_equal_c_and_hf(golden_models):
    n_cases = 0
    for name, (cfg, gguf) in golden_models.items():
        model = llv.Model(str(gguf), n_ctx=1024, kv_type="f32")
        all_cases = list(cases(cfg))
        c_out = peer_logits(gguf, [{"ids": ids, "images": imgs, "max_tokens": 8} for _, ids, imgs, _ in all_cases])
        for (c, ids, imgs, t), cref in zip(all_cases, c_out):
            where = f"{name}/{c['case']}"
            assert "error" not in cref, f"{where}: C: {cref.get('error')}"
            s = model.session()
            for im in imgs:
                s.add_image(im)
            s.add_tokens(ids)
            logits = s.eval()
            assert s.tokens == ids == cref["ids"], where
            # peer-logits prints 15+ significant digits: enough to name each float32 exactly
            assert array("f", logits).tobytes() == array("f", cref["logits"]).tobytes(), f"{where}: not C's logits"
            hf = as_list(t["logits"])[-len(logits):]  # last position
            worst = max(abs(a - b) - (ATOL + RTOL * abs(b)) for a, b in zip(logits, hf))
            assert worst <= 0, f"{where}: logits off HF's by {worst + ATOL:.3g} beyond tolerance"
            r = s.generate(temperature=0, max_tokens=8)
            assert r.tokens == cref["greedy"], f"{where}: greedy tokens differ from C's"
            assert r.tokens == c["new_tokens"], f"{where}: greedy tokens differ from HF's"
            assert r.prompt_tokens == len(ids) and r.completion_tokens == len(r.tokens)
            assert all(math.isfinite(x) for x in logits)
            s.close()
            n_cases += 1
        model.close()
    assert n_cases >= 7, f"only {n_cases} golden cases ran"
