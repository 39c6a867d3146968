"""The Python API on the demo model: answers equal the C tools' (llv-run,
the same library from C), streaming equals non-streaming, every image input
kind gives the same answer, OpenAI-shaped results, stop strings, sessions
that keep their KV cache across turns, tokens."""

from __future__ import annotations

import base64
import json
import subprocess
import threading

import pytest

import llv
from conftest import DEMO, DEMO_PNG, tool

Q = "What is in this image?"
GREEDY = dict(temperature=0, max_tokens=24)


def llv_run(*args: str) -> str:
    p = subprocess.run([str(tool("llv-run")), "-m", str(DEMO), *args], capture_output=True, check=True)
    return p.stdout.decode("utf-8")


def test_version_and_info(demo_model):
    assert llv.version() == llv.__version__
    assert "isa" in llv.system_info().lower() or llv.system_info()
    info = demo_model.info
    assert info["architecture"] == "mllama" and info["has_vision"] and info["n_vocab"] > 0
    assert info["chat_format"] == "llama3" and info["eog_ids"]


def test_chat_with_image_equals_llv_run(demo_model):
    want = llv_run("-p", Q, "-i", str(DEMO_PNG), "-n", "24", "--temperature", "0")
    got = demo_model.chat([{"role": "user", "content": Q}], images=[str(DEMO_PNG)], **GREEDY)
    assert got + "\n" == want
    text_only = llv_run("-p", "Hello", "-n", "24", "--temperature", "0")
    assert demo_model.chat([{"role": "user", "content": "Hello"}], **GREEDY) + "\n" == text_only


def test_stream_equals_whole(demo_model):
    msgs = [{"role": "user", "content": Q}]
    whole = demo_model.chat(msgs, images=[str(DEMO_PNG)], **GREEDY)
    pieces = list(demo_model.chat(msgs, images=[str(DEMO_PNG)], stream=True, **GREEDY))
    assert len(pieces) > 1 and "".join(pieces) == whole


def test_every_image_input_gives_the_same_answer(demo_model):
    PIL = pytest.importorskip("PIL.Image")
    data = DEMO_PNG.read_bytes()
    url = "data:image/png;base64," + base64.b64encode(data).decode()
    want = demo_model.chat([{"role": "user", "content": Q}], images=[data], **GREEDY)
    inputs = [str(DEMO_PNG), DEMO_PNG, bytearray(data), url, PIL.open(DEMO_PNG), PIL.open(DEMO_PNG).convert("RGBA")]
    for img in inputs:
        assert demo_model.chat([{"role": "user", "content": Q}], images=[img], **GREEDY) == want, type(img)
    parts = [{"type": "image_url", "image_url": {"url": url}}, {"type": "text", "text": Q}]
    assert demo_model.chat([{"role": "user", "content": parts}], **GREEDY) == want
    parts = [{"type": "image", "image": data}, {"type": "text", "text": Q}]
    assert demo_model.chat([{"role": "user", "content": parts}], **GREEDY) == want


def test_create_chat_completion_shapes(demo_model):
    msgs = [{"role": "user", "content": [{"type": "text", "text": Q}]}]
    r = demo_model.create_chat_completion(msgs, images=[str(DEMO_PNG)], **GREEDY)
    assert r["object"] == "chat.completion" and r["id"].startswith("chatcmpl-")
    ch = r["choices"][0]
    assert ch["message"]["role"] == "assistant" and ch["finish_reason"] in ("stop", "length")
    assert r["usage"]["total_tokens"] == r["usage"]["prompt_tokens"] + r["usage"]["completion_tokens"]
    assert ch["message"]["content"] == demo_model.chat(msgs, images=[str(DEMO_PNG)], **GREEDY)
    chunks = list(demo_model.create_chat_completion(msgs, images=[str(DEMO_PNG)], stream=True,
                                                    stream_options={"include_usage": True}, **GREEDY))
    assert all(c["object"] == "chat.completion.chunk" and c["id"] == chunks[0]["id"] for c in chunks)
    assert chunks[0]["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    text = "".join(c["choices"][0]["delta"].get("content", "") for c in chunks if c["choices"])
    assert text == ch["message"]["content"]
    assert chunks[-2]["choices"][0]["finish_reason"] == ch["finish_reason"]
    assert chunks[-1]["choices"] == [] and chunks[-1]["usage"] == r["usage"]
    json.dumps(r), json.dumps(chunks)  # plain JSON values only


def test_max_tokens_absent_is_up_to_the_context():
    m = llv.Model(str(DEMO), n_ctx=128)
    r = m.create_chat_completion([{"role": "user", "content": "Hi"}], temperature=1.0, seed=7,
                                 repetition_penalty=0.5)
    assert r["choices"][0]["finish_reason"] in ("stop", "length")
    assert r["usage"]["completion_tokens"] > 24 or r["choices"][0]["finish_reason"] == "stop"
    assert r["usage"]["total_tokens"] <= 128
    m.close()


def test_stop_strings(demo_model):
    msgs = [{"role": "user", "content": Q}]
    whole = demo_model.chat(msgs, images=[str(DEMO_PNG)], **GREEDY)
    stop = whole[5:8]
    assert len(stop) == 3
    cut = whole[: whole.index(stop)]
    r = demo_model.create_chat_completion(msgs, images=[str(DEMO_PNG)], stop=[stop, "never-there"], **GREEDY)
    assert r["choices"][0]["message"]["content"] == cut and r["choices"][0]["finish_reason"] == "stop"
    pieces = list(demo_model.chat(msgs, images=[str(DEMO_PNG)], stream=True, stop=stop, **GREEDY))
    assert "".join(pieces) == cut


def test_session_keeps_kv_across_turns(demo_model):
    s = demo_model.session()
    s.add_messages([{"role": "user", "content": Q}], images=[str(DEMO_PNG)])
    r1 = s.generate(**GREEDY)
    n1 = len(s.tokens)
    assert s.encoder_runs == 1
    s.add_messages([{"role": "user", "content": "And the colour?"}])
    r2 = s.generate(**GREEDY)
    assert r2.prompt_tokens < n1, "the second turn must not prefill the first one again"
    assert len(s.tokens) == n1 + r2.prompt_tokens + r2.completion_tokens and s.encoder_runs == 1
    assert r1.text and r2.finish_reason in ("stop", "length")
    s.reset()
    assert s.tokens == []
    s.close()


def test_sampling_is_deterministic_for_a_seed(demo_model):
    kw = dict(temperature=1.0, top_p=0.9, top_k=40, seed=42, max_tokens=16)
    a = demo_model.chat([{"role": "user", "content": "Hello"}], **kw)
    b = demo_model.chat([{"role": "user", "content": "Hello"}], **kw)
    c = demo_model.chat([{"role": "user", "content": "Hello"}], **{**kw, "seed": 43})
    assert a == b and (a != c or len(a) < 4)


def test_tokenize_roundtrip_and_render(demo_model):
    ids = demo_model.tokenize("Hello world <|eot_id|>", special=True)
    assert ids[0] == demo_model.info["bos_id"]
    assert demo_model.detokenize(ids[1:]) == b"Hello world <|eot_id|>"
    assert demo_model.token_is_eog(ids[-1])
    plain = demo_model.tokenize("<|eot_id|>", add_bos=False)
    assert len(plain) > 1 and not any(demo_model.token_is_eog(t) for t in plain)
    text = demo_model.render_chat([{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "x"}]}],
                                  date_string="7 Dec 2026")
    assert text.startswith("<|begin_of_text|>") and "<|image|>x<|eot_id|>" in text
    assert text.endswith("<|start_header_id|>assistant<|end_header_id|>\n\n")


def test_gil_is_released_during_generation(demo_model):
    ticks = 0
    stop = threading.Event()

    def count():
        nonlocal ticks
        while not stop.is_set():
            ticks += 1

    t = threading.Thread(target=count)
    s = demo_model.session()
    s.add_text("Tell me a story")
    t.start()
    before = ticks
    s.generate(temperature=1.0, seed=1, max_tokens=48)
    during = ticks - before
    stop.set()
    t.join()
    s.close()
    assert during > 1000, f"a Python thread ran only {during} steps while the library generated"


def test_logprobs_openai_shape(demo_model):
    msgs = [{"role": "user", "content": Q}]
    kw = dict(images=[str(DEMO_PNG)], logprobs=True, top_logprobs=3, **GREEDY)
    r = demo_model.create_chat_completion(msgs, **kw)
    content = r["choices"][0]["logprobs"]["content"]
    assert len(content) == r["usage"]["completion_tokens"]
    for e in content:
        assert len(e["top_logprobs"]) == 3 and e["logprob"] <= 0
        assert e["top_logprobs"][0]["token"] == e["token"]  # greedy: the chosen one is the most likely
        lps = [t["logprob"] for t in e["top_logprobs"]]
        assert lps == sorted(lps, reverse=True)
        assert e["token"].startswith("bytes:") or bytes(e["bytes"]).decode("utf-8") == e["token"]
    text = b"".join(bytes(e["bytes"]) for e in content[:-1]) if r["choices"][0]["finish_reason"] == "stop" else \
        b"".join(bytes(e["bytes"]) for e in content)
    assert text.decode("utf-8", "replace") == r["choices"][0]["message"]["content"]
    chunks = list(demo_model.create_chat_completion(msgs, stream=True, **kw))
    streamed = [e for c in chunks if c["choices"] and c["choices"][0]["logprobs"]
                for e in c["choices"][0]["logprobs"]["content"]]
    strip = lambda es: [(e["token"], e["logprob"], e["bytes"]) for e in es]  # noqa: E731
    assert strip(streamed) == strip(content)
    plain = demo_model.create_chat_completion(msgs, images=[str(DEMO_PNG)], **GREEDY)
    assert plain["choices"][0]["logprobs"] is None
    assert plain["choices"][0]["message"]["content"] == r["choices"][0]["message"]["content"]
    with pytest.raises(ValueError):
        demo_model.create_chat_completion(msgs, top_logprobs=2)
    with pytest.raises(llv.LLVError) as e:
        demo_model.create_chat_completion(msgs, logprobs=True, top_logprobs=21)
    assert "top_logprobs" in e.value.message


def test_prefix_cache_from_python(demo_model):
    s = demo_model.session()
    s.add_messages([{"role": "user", "content": Q}], images=[str(DEMO_PNG)])
    first = s.generate(**GREEDY)
    sent = s.tokens
    s.reset(keep_prefix=True)
    s.add_image(str(DEMO_PNG))
    s.add_tokens(sent)
    s.add_text("And then?")
    again = s.generate(**GREEDY)
    assert again.cached_tokens == len(sent) - 1 and first.cached_tokens == 0
    fresh = demo_model.session()
    fresh.add_image(str(DEMO_PNG))
    fresh.add_tokens(sent)
    fresh.add_text("And then?")
    assert fresh.generate(**GREEDY).text == again.text
