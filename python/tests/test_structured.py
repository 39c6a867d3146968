"""Structured output: seeded random JSON schemas (objects, arrays, enums,
numbers, nesting; 200 on the demo model and 60 on a synthetic Llama) answered
at temperature 1 always parse and validate (jsonschema, pinned: an
independent validator); json_object answers are objects; a GBNF grammar's
answers are in its language; a forced tool call validates against the tool's
parameters; unsupported keywords are refused naming them."""

from __future__ import annotations

import json
import random
import re
import subprocess

import pytest

import llv
from conftest import DEMO, tool

jsonschema = pytest.importorskip("jsonschema")

WORDS = ["red", "green", "blue", "cat", "dog", "x", "a b", "é", "42"]


def gen_schema(rng: random.Random, depth: int = 0) -> dict:
    """A random schema whose language is finite (strings and arrays bounded),
    so a random model at temperature 1 must finish it."""
    kinds = ["string", "integer", "number", "boolean", "null", "enum", "const", "anyof", "nullable"]
    if depth < 3:
        kinds += ["object", "object", "array"]
    k = rng.choice(kinds)
    if k == "string":
        s = {"type": "string", "maxLength": rng.randint(1, 10)}
        r = rng.random()
        if r < 0.2:
            s["minLength"] = rng.randint(0, s["maxLength"])
        elif r < 0.3:
            s = {"type": "string", "pattern": "^[a-z]{1,6}[0-9]?$"}
        elif r < 0.4:
            s = {"type": "string", "format": rng.choice(["date", "uuid", "time", "date-time"])}
        return s
    if k == "integer":
        lo = rng.randint(-1000, 1000)
        return {"type": "integer", "minimum": lo, "maximum": lo + rng.randint(0, 5000)}
    if k == "number":
        lo = rng.randint(-50, 50)
        return {"type": "number", "minimum": lo, "maximum": lo + rng.randint(1, 100)}
    if k == "boolean":
        return {"type": "boolean"}
    if k == "null":
        return {"type": "null"}
    if k == "enum":
        vals = rng.sample(WORDS, rng.randint(1, 4)) + rng.sample([1, 2.5, True, None, -3], rng.randint(0, 2))
        return {"enum": vals}
    if k == "const":
        return {"const": rng.choice(WORDS + [7, False])}
    if k == "anyof":
        return {"anyOf": [gen_schema(rng, depth + 1) for _ in range(rng.randint(2, 3))]}
    if k == "nullable":
        return {"type": ["integer", "null"], "minimum": 0, "maximum": 9}
    if k == "array":
        lo = rng.randint(0, 2)
        return {"type": "array", "items": gen_schema(rng, depth + 1), "minItems": lo, "maxItems": lo + rng.randint(0, 3)}
    props = {f"p{i}_{rng.choice(WORDS[:5])}": gen_schema(rng, depth + 1) for i in range(rng.randint(1, 4))}
    req = [p for p in props if rng.random() < 0.6]
    return {"type": "object", "properties": props, "required": req, "additionalProperties": False}


def run_schemas(model: llv.Model, n: int, seed: int) -> int:
    rng = random.Random(seed)
    checked = 0
    for i in range(n):
        schema = gen_schema(rng)
        r = model.create_chat_completion(
            [{"role": "user", "content": "Answer in JSON."}],
            response_format={"type": "json_schema", "json_schema": {"name": "s", "schema": schema, "strict": True}},
            temperature=1.0, seed=seed * 1000 + i, max_tokens=3000)
        text = r["choices"][0]["message"]["content"]
        assert r["choices"][0]["finish_reason"] == "stop", f"schema {i} {schema}: unfinished {text[:200]!r}"
        doc = json.loads(text)
        jsonschema.validate(doc, schema, cls=jsonschema.Draft202012Validator,
                            format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER)
        checked += 1
    return checked


def test_random_schemas_on_the_demo_model(demo_model):
    assert run_schemas(demo_model, 200, seed=1) == 200


def test_random_schemas_on_a_synthetic_llama(tmp_path):
    path = tmp_path / "llama-tiny.gguf"
    subprocess.run([str(tool("llv-synth")), str(path), "--preset", "llama-tiny", "--quiet"], check=True)
    m = llv.Model(str(path))
    assert run_schemas(m, 60, seed=2) == 60
    m.close()


def test_json_object_and_grammar(demo_model):
    msgs = [{"role": "user", "content": "JSON"}]
    for seed in range(5):
        r = demo_model.create_chat_completion(msgs, response_format={"type": "json_object"}, temperature=1.0,
                                              seed=seed, max_tokens=4000, top_k=20)
        if r["choices"][0]["finish_reason"] == "stop":
            assert isinstance(json.loads(r["choices"][0]["message"]["content"]), dict)
    g = 'root ::= "yes" | "no" | num\nnum ::= [1-9] [0-9]{0,3}'
    for seed in range(20):
        t = demo_model.chat(msgs, grammar=g, temperature=1.0, seed=seed, max_tokens=50)
        assert re.fullmatch(r"yes|no|[1-9][0-9]{0,3}", t), t


def test_forced_tool_call():
    demo_model = llv.Model(str(DEMO), n_ctx=2048)  # the tool definitions make a long prompt
    params = {"type": "object", "properties": {"city": {"type": "string", "maxLength": 12},
                                               "days": {"type": "integer", "minimum": 1, "maximum": 7}},
              "required": ["city", "days"]}
    tools = [{"type": "function", "function": {"name": "forecast", "parameters": params}},
             {"type": "function", "function": {"name": "other", "parameters": {"type": "object"}}}]
    for seed in range(10):
        r = demo_model.create_chat_completion([{"role": "user", "content": "weather?"}], tools=tools,
                                              tool_choice={"type": "function", "function": {"name": "forecast"}},
                                              temperature=1.0, seed=seed, max_tokens=500)
        ch = r["choices"][0]
        assert ch["finish_reason"] == "tool_calls", ch
        call = ch["message"]["tool_calls"][0]["function"]
        assert call["name"] == "forecast"
        jsonschema.validate(json.loads(call["arguments"]), params)
    demo_model.close()


def test_unsupported_keywords_and_bad_grammars(demo_model):
    msgs = [{"role": "user", "content": "x"}]
    for schema, word in (({"type": "object", "patternProperties": {"a": {}}}, "patternProperties"),
                         ({"not": {"type": "string"}}, "not"), ({"type": "array", "uniqueItems": True}, "uniqueItems")):
        with pytest.raises(llv.LLVError) as e:
            demo_model.chat(msgs, json_schema=schema)
        assert word in e.value.message and e.value.status == "LLV_ERR_UNSUPPORTED"
    for g in ("root ::= root \"a\"", "root ::= undefined", "root ::= \"a", "x ::= \"a\""):
        with pytest.raises(llv.LLVError) as e:
            demo_model.chat(msgs, grammar=g)
        assert e.value.status == "LLV_ERR_INVALID_ARGUMENT" and "grammar" in e.value.message
    with pytest.raises(llv.LLVError) as e:
        demo_model.chat(msgs, grammar="root ::= \"a\"", json_object=True)
    assert "exclusive" in e.value.message
