"""Bad input raises a Python exception carrying the library's message, and
never crashes (this suite also runs against the ASan build of libllv)."""

from __future__ import annotations

import pytest

import llv
from conftest import DEMO, DEMO_PNG


def test_missing_and_malformed_models(tmp_path):
    with pytest.raises(llv.LLVError) as e:
        llv.Model(str(tmp_path / "absent.gguf"))
    assert e.value.status == "LLV_ERR_IO" and "absent.gguf" in e.value.message
    bad = tmp_path / "bad.gguf"
    for data in (b"", b"GGUF", b"GGUF\x03\x00\x00\x00" + b"\xff" * 64, DEMO.read_bytes()[:4096]):
        bad.write_bytes(data)
        with pytest.raises(llv.LLVError) as e:
            llv.Model(str(bad))
        assert e.value.status in ("LLV_ERR_FORMAT", "LLV_ERR_IO") and e.value.message


def test_bad_images(demo_model, tmp_path):
    s = demo_model.session()
    png = DEMO_PNG.read_bytes()
    for data in (b"", b"not an image", png[: len(png) // 2], b"\x89PNG\r\n\x1a\n" + b"\0" * 100):
        with pytest.raises(llv.LLVError) as e:
            s.add_image(data)
        assert e.value.status in ("LLV_ERR_FORMAT", "LLV_ERR_INVALID_ARGUMENT"), e.value
    with pytest.raises(FileNotFoundError):
        s.add_image(str(tmp_path / "absent.png"))
    with pytest.raises(ValueError, match="not fetched"):
        s.add_image("https://example.com/cat.png")
    with pytest.raises(ValueError, match="base64"):
        s.add_image("data:image/png;base64,@@@")
    with pytest.raises(TypeError):
        s.add_image(12345)
    small = demo_model.session(max_image_bytes=100)
    with pytest.raises(llv.LLVError) as e:
        small.add_image(png)
    assert e.value.status == "LLV_ERR_LIMIT"
    # the session still works after every refusal
    s.add_image(png)
    s.add_text("What is in this image?")
    assert s.generate(temperature=0, max_tokens=4).completion_tokens >= 1


def test_bad_parameters(demo_model):
    msgs = [{"role": "user", "content": "Hi"}]
    with pytest.raises(llv.LLVError) as e:
        demo_model.chat(msgs, temperature=9.0)
    assert e.value.status == "LLV_ERR_INVALID_ARGUMENT" and "temperature" in e.value.message
    with pytest.raises(llv.LLVError) as e:
        demo_model.chat(msgs, top_k=-3)
    assert "top_k" in e.value.message
    with pytest.raises(TypeError, match="unknown sampling parameter"):
        demo_model.chat(msgs, temprature=0.5)
    with pytest.raises(TypeError):
        demo_model.chat(msgs, max_tokens="10")
    with pytest.raises(ValueError):
        demo_model.chat(msgs, seed=-1)
    with pytest.raises(llv.LLVError) as e:
        demo_model.chat(msgs, lora="nope")
    assert e.value.status == "LLV_ERR_NOT_FOUND" and "nope" in e.value.message
    with pytest.raises(ValueError):
        llv.Model(str(DEMO), kv_type="q4")
    with pytest.raises(llv.LLVError) as e:
        demo_model.session(n_ctx=-5)
    assert "n_ctx" in e.value.message


def test_bad_messages(demo_model):
    for msgs, exc in (
        ("hello", TypeError),
        ([], ValueError),
        ([{"content": "x"}], TypeError),
        ([{"role": "user", "content": 5}], TypeError),
        ([{"role": "user", "content": [{"type": "video"}]}], ValueError),
        ([{"role": "user", "content": [{"type": "image_url", "image_url": {}}]}], ValueError),
        ([{"role": "robot", "content": "x"}], llv.LLVError),
    ):
        with pytest.raises(exc):
            demo_model.chat(msgs, max_tokens=2)
    with pytest.raises(ValueError, match="no user message"):
        demo_model.chat([{"role": "system", "content": "x"}], images=[DEMO_PNG.read_bytes()])
    with pytest.raises(UnicodeEncodeError):
        demo_model.chat([{"role": "user", "content": "\ud800"}])


def test_prompt_longer_than_the_context():
    m = llv.Model(str(DEMO), n_ctx=128)
    with pytest.raises(llv.ContextLengthError) as e:
        m.chat([{"role": "user", "content": "word " * 200}])
    assert e.value.status == "LLV_ERR_CONTEXT" and "n_ctx" in e.value.message
    assert m.chat([{"role": "user", "content": "Hi"}], max_tokens=2, temperature=0) is not None
    m.close()


def test_closed_handles(tmp_path):
    m = llv.Model(str(DEMO))
    s = m.session()
    m.close()
    with pytest.raises(ValueError, match="closed"):
        s.add_text("x")
    with pytest.raises(ValueError, match="closed"):
        m.tokenize("x")
    m.close()  # twice is fine
