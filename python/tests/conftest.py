"""Fixtures: the built C tools (LLV_BIN_DIR), the shared reference data
(LLV_SHARED_DIR, default ../shared beside the checkout), the demo model.
Tests needing what is absent skip with a message."""

from __future__ import annotations

import json
import os
import struct
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(os.environ.get("LLV_BIN_DIR", ROOT / "build" / "bin"))
SHARED = Path(os.environ.get("LLV_SHARED_DIR", os.environ.get("LLV_SHARED_DIR_DEFAULT", ROOT.parent / "shared")))
DEMO = ROOT / "models" / "demo.gguf"
DEMO_PNG = ROOT / "models" / "demo.png"


def tool(name: str) -> Path:
    p = BIN / name
    if not p.exists():
        pytest.skip(f"{p} is not built")
    return p


@pytest.fixture(scope="session")
def demo_model():
    import llv

    if not DEMO.exists():
        pytest.skip(f"{DEMO} is absent")
    m = llv.Model(str(DEMO), n_ctx=512)
    yield m
    m.close()


def read_safetensors(path: Path) -> dict[str, tuple[str, list[int], bytes]]:
    """name -> (dtype, shape, raw bytes): enough of the format for the cases."""
    data = path.read_bytes()
    (n,) = struct.unpack_from("<Q", data, 0)
    head = json.loads(data[8 : 8 + n])
    base = 8 + n
    out = {}
    for k, v in head.items():
        if k == "__metadata__":
            continue
        a, b = v["data_offsets"]
        out[k] = (v["dtype"], v["shape"], data[base + a : base + b])
    return out


def as_list(t: tuple[str, list[int], bytes]) -> list:
    dtype, _, raw = t
    fmt = {"I64": "q", "F32": "f", "I32": "i"}[dtype]
    return list(struct.unpack(f"<{len(raw) // struct.calcsize(fmt)}{fmt}", raw))


@pytest.fixture(scope="session")
def golden_models(tmp_path_factory):
    """The tiny golden HF checkpoints converted by llv-convert (the user's path)."""
    models = SHARED / "golden" / "models"
    if not models.is_dir():
        pytest.skip(f"{models} is absent (set LLV_SHARED_DIR)")
    convert = tool("llv-convert")
    out = {}
    d = tmp_path_factory.mktemp("golden")
    for cfg in sorted(p for p in models.iterdir() if (p / "summary.json").exists()):
        gguf = d / f"{cfg.name}.gguf"
        subprocess.run([str(convert), str(cfg), str(gguf), "--type", "f32", "--quiet"], check=True)
        out[cfg.name] = (cfg, gguf)
    return out


def peer_logits(model: Path, requests: list[dict], kv: str = "f32") -> list[dict]:
    """The C results (tests/peer/peer-logits, the public API from C)."""
    exe = tool("peer-logits")
    inp = "".join(json.dumps(r) + "\n" for r in requests)
    p = subprocess.run([str(exe), str(model), "--kv", kv, "--threads", "2"], input=inp, capture_output=True,
                       text=True, check=True)
    return [json.loads(line) for line in p.stdout.splitlines()]
