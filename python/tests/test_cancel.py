"""Cancellation from Python: from another thread, from the progress
callback inside prompt processing, by leaving a stream early, and Ctrl-C
(KeyboardInterrupt) inside the library's callbacks."""

from __future__ import annotations

import threading
from array import array

import pytest

import llv
from conftest import DEMO

LONG = "one two three four five six seven eight nine ten " * 12


@pytest.fixture()
def model():
    m = llv.Model(str(DEMO), n_ctx=1024)
    yield m
    m.close()


def test_cancel_in_prefill_keeps_the_conversation(model):
    calls = []

    def progress(what, fraction):
        calls.append((what, fraction))
        if len(calls) == 2:
            s.cancel()

    s = model.session(n_batch=8, progress=progress)
    s.add_raw(LONG)
    with pytest.raises(llv.CancelledError):
        s.eval()
    assert calls[0][0] == "prefill" and len(calls) == 2
    logits = s.eval()  # continues after the rows already computed
    fresh = model.session(n_batch=8)
    fresh.add_raw(LONG)
    assert array("f", logits) == array("f", fresh.eval()), "a cancelled prefill changed the result"
    assert calls[-1] == ("prefill", 1.0)


def test_progress_false_cancels(model):
    s = model.session(n_batch=8, progress=lambda what, f: False)
    s.add_raw(LONG)
    with pytest.raises(llv.CancelledError) as e:
        s.eval()
    assert e.value.status == "LLV_ERR_CANCELLED"


def test_keyboard_interrupt_in_a_callback_propagates(model):
    raised = []

    def progress(what, fraction):
        if not raised:
            raised.append(1)
            raise KeyboardInterrupt

    s = model.session(n_batch=8, progress=progress)
    s.add_raw(LONG)
    with pytest.raises(KeyboardInterrupt):
        s.eval()
    s.add_raw(" more")  # the session is still usable
    assert len(s.eval()) == model.info["n_vocab"]


def test_cancel_from_another_thread_stops_generation(model):
    s = model.session()
    s.add_text("Tell me a long story")
    first = threading.Event()
    stream = s.generate(stream=True, temperature=1.0, seed=3, max_tokens=800, repetition_penalty=0.5)
    pieces = []
    for p in stream:
        pieces.append(p)
        if len(pieces) == 3:
            threading.Thread(target=s.cancel).start()
            first.set()
    r = stream.result
    assert first.is_set() and r is not None
    assert r.stop_reason == "callback" and r.completion_tokens < 800


def test_leaving_a_stream_early_stops_generation(model):
    s = model.session()
    s.add_text("Tell me a long story")
    stream = s.generate(stream=True, temperature=1.0, seed=3, max_tokens=800, repetition_penalty=0.5)
    for i, _ in enumerate(stream):
        if i == 2:
            break
    stream.close()
    n = len(s.tokens)
    assert n < 200, f"generation went on to {n} tokens after the consumer left"
    s.add_text("And then?")  # the session continues from where it stopped
    assert s.generate(temperature=0, max_tokens=4).completion_tokens >= 1


def test_an_error_in_the_consumer_stops_generation(model):
    s = model.session()
    s.add_text("Tell me a long story")
    with pytest.raises(RuntimeError, match="consumer"):
        for i, _ in enumerate(s.generate(stream=True, temperature=1.0, seed=3, max_tokens=800)):
            if i == 2:
                raise RuntimeError("consumer failed")
    assert len(s.tokens) < 200
