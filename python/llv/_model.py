"""Model and Session: the library's handles with Python lifetimes, sampling
parameters as keyword arguments, streaming as iterators, cancellation."""

from __future__ import annotations

import ctypes
import json
import queue
import threading
import weakref
from ctypes import byref
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Iterator, Mapping, Sequence

from . import _capi as C
from ._errors import LLVError, check
from ._images import ImageInput, to_image
from ._messages import CMessages, convert_messages

# keyword -> llv_sampling_params field (the C names, plus the llama-cpp-python
# spelling of the repetition penalty)
_SAMPLING_FIELDS = {
    "max_tokens": "max_tokens",
    "temperature": "temperature",
    "top_p": "top_p",
    "top_k": "top_k",
    "min_p": "min_p",
    "seed": "seed",
    "repetition_penalty": "repetition_penalty",
    "repeat_penalty": "repetition_penalty",
    "frequency_penalty": "frequency_penalty",
    "presence_penalty": "presence_penalty",
    "lora": "lora",
    "timeout_ms": "timeout_ms",
    "logprobs": "logprobs",
    "top_logprobs": "top_logprobs",
    "grammar": "grammar",          # GBNF text (docs/grammar.md)
    "json_schema": "json_schema",  # a JSON Schema: a dict, or its JSON text
    "json_object": "json_object",  # any JSON object
}


def _b(s: str | None) -> bytes | None:
    return None if s is None else s.encode("utf-8")


def _s(b: bytes | None) -> str | None:
    return None if b is None else b.decode("utf-8", "replace")


def sampling_params(**kw: Any) -> C.SamplingParams:
    """llv_sampling_params from keywords (None = the library's default),
    validated by the library (the message names the field)."""
    p = C.defaults(C.SamplingParams, "llv_sampling_params_init")
    keep = []
    for k, v in kw.items():
        if k not in _SAMPLING_FIELDS:
            raise TypeError(f"unknown sampling parameter '{k}' (known: {', '.join(sorted(_SAMPLING_FIELDS))})")
        if v is None:
            continue
        name = _SAMPLING_FIELDS[k]
        if name in ("lora", "grammar", "json_schema"):
            if name == "json_schema" and not isinstance(v, str):
                v = json.dumps(v)
            if not isinstance(v, str):
                raise TypeError(f"{k}: expected a string, got {type(v).__name__}")
            v = _b(v)
            keep.append(v)
        elif name in ("logprobs", "json_object"):
            if not isinstance(v, bool):
                raise TypeError(f"{k}: expected a bool, got {type(v).__name__}")
        elif name in ("max_tokens", "top_k", "timeout_ms", "seed", "top_logprobs"):
            if isinstance(v, bool) or not isinstance(v, int):
                raise TypeError(f"{k}: expected an int, got {type(v).__name__}")
            if name == "seed" and v < 0:
                raise ValueError(f"seed: must be >= 0, got {v}")
            if name != "seed" and not -(2**31) <= v < 2**31:
                raise ValueError(f"{k}: out of range: {v}")
        else:
            if isinstance(v, bool) or not isinstance(v, (int, float)):
                raise TypeError(f"{k}: expected a number, got {type(v).__name__}")
        setattr(p, name, v)
    err = C.Error()
    check(C.lib.llv_sampling_params_validate(byref(p), byref(err)), err)
    p._keep = keep  # the lora string must outlive the call
    return p


@dataclass
class Result:
    """One answer: its text, the generated token ids (the end token
    included), why it stopped and what it cost."""

    text: str
    tokens: list[int]
    stop_reason: str  # "eog", "length", "context", "callback" (cancelled or a stop string), "timeout"
    prompt_tokens: int
    completion_tokens: int
    tool_calls: list[dict[str, str]] = field(default_factory=list)  # [{"name": ..., "arguments": JSON text}]
    timings: dict[str, float] = field(default_factory=dict)
    stopped_by: str | None = None  # the stop string that ended the answer
    # with logprobs=True: per generated token {"token", "logprob", "top": [(token, logprob), ...]}, the
    # model's log-softmax of the raw logits (llv_session_logprobs)
    logprobs: list[dict[str, Any]] | None = None
    cached_tokens: int = 0  # prompt rows reused from the kept prefix (Session.reset(keep_prefix=True))

    @property
    def finish_reason(self) -> str:
        """OpenAI's finish_reason: "tool_calls", "length" (max_tokens or a
        full context), else "stop"."""
        if self.tool_calls:
            return "tool_calls"
        return "length" if self.stop_reason in ("length", "context") else "stop"


def _entry(e: C.LogprobEntry) -> dict[str, Any]:
    return {"token": e.chosen.token, "logprob": e.chosen.logprob,
            "top": [(e.top[j].token, e.top[j].logprob) for j in range(e.n_top)]}


class _StopStrings:
    """Cuts the answer at the first stop string; holds back the text that
    could be the start of one, so streamed pieces never show a stop string."""

    def __init__(self, stops: Sequence[str]):
        self.stops = [s for s in stops if s]
        self.hold = max((len(s) for s in self.stops), default=1) - 1
        self.text = ""
        self.sent = 0
        self.hit: str | None = None

    def push(self, piece: str) -> str:
        self.text += piece
        if self.stops:
            cut = -1
            for s in self.stops:
                i = self.text.find(s, max(0, self.sent - len(s)))
                if i >= 0 and (cut < 0 or i < cut):
                    cut, self.hit = i, s
            if cut >= 0:
                self.text = self.text[:cut]
                out = self.text[self.sent :]
                self.sent = len(self.text)
                return out
            safe = max(self.sent, len(self.text) - self.hold)
        else:
            safe = len(self.text)
        out = self.text[self.sent : safe]
        self.sent = safe
        return out

    def flush(self) -> str:
        out = self.text[self.sent :]
        self.sent = len(self.text)
        return out


class Stream:
    """The pieces of an answer as they are generated (an iterator of str).
    After the last piece, ``result`` holds the Result. Leaving the loop early
    or calling close() stops generation (the answer so far stays in the
    session's conversation)."""

    def __init__(self, session: "Session", sp: C.SamplingParams, stop: Sequence[str], with_logprobs: bool = False):
        self._session = session
        self._with_logprobs = with_logprobs
        self._q: queue.Queue = queue.Queue()
        self.result: Result | None = None
        self._error: BaseException | None = None
        self._closed = False
        self._thread = threading.Thread(target=self._run, args=(sp, stop), name="llv-generate", daemon=True)
        self._thread.start()

    def _run(self, sp: C.SamplingParams, stop: Sequence[str]) -> None:
        try:
            self.result = self._session._generate(sp, stop, lambda piece, entries: self._q.put((piece, entries)) or True)
        except BaseException as e:  # noqa: BLE001 - handed to the consumer
            self._error = e
        finally:
            self._q.put(None)

    def __iter__(self) -> Iterator[str]:
        return self

    def __next__(self) -> str:
        try:
            while True:
                try:
                    piece = self._q.get(timeout=0.1)  # wakes up for KeyboardInterrupt
                    break
                except queue.Empty:
                    continue
        except BaseException:
            self.close()
            raise
        if piece is None:
            self._thread.join()
            if self._error is not None:
                e, self._error = self._error, None
                raise e
            raise StopIteration
        if not self._with_logprobs and not piece[0]:
            return self.__next__()  # entries without text (the end token's)
        return piece if self._with_logprobs else piece[0]

    def close(self) -> None:
        """Stops generation and waits for it to end."""
        if not self._closed:
            self._closed = True
            self._session.cancel()
            self._thread.join()

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:  # noqa: BLE001 - interpreter shutdown
            pass


class _Handle:
    """A library handle's Python lifetime: close() frees it (with, or when
    garbage-collected); methods call _check_open first."""

    _what = "handle"
    _h = None

    def close(self) -> None:  # pragma: no cover - every subclass has its own
        raise NotImplementedError

    def __enter__(self):
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:  # noqa: BLE001 - interpreter shutdown
            pass

    def _check_open(self) -> None:
        if not self._h:
            raise ValueError(f"the {self._what} is closed")


class Session(_Handle):
    """One conversation with its KV cache: turns added later reuse
    everything computed before. Use a session from one thread at a time;
    cancel() may be called from any thread. ``progress(what, fraction)`` is
    called during image encoding ("image", per encoder layer) and prompt
    processing ("prefill", per chunk of n_batch tokens); returning False
    cancels the call (CancelledError), as cancel() does."""

    _what = "session"

    def __init__(
        self,
        model: "Model",
        *,
        n_ctx: int = 0,
        threads: int = 0,
        n_batch: int = 512,
        kv_type: str = "f16",
        max_images: int | None = None,
        max_image_pixels: int | None = None,
        max_image_bytes: int | None = None,
        image_cache_entries: int | None = None,
        progress: Callable[[str, float], Any] | None = None,
    ):
        if kv_type not in C.KV_TYPE:
            raise ValueError(f"kv_type: expected one of {sorted(C.KV_TYPE)}, got {kv_type!r}")
        model._check_open()
        self._user_progress = progress
        self.model = model
        self._lock = threading.Lock()
        self._cancel = threading.Event()
        self._raised: list[BaseException] = []
        p = C.defaults(C.SessionParams, "llv_session_params_init")
        p.n_ctx, p.n_threads, p.n_batch, p.kv_type = n_ctx, threads, n_batch, C.KV_TYPE[kv_type]
        for name, v in (
            ("max_images", max_images),
            ("max_image_pixels", max_image_pixels),
            ("max_image_bytes", max_image_bytes),
            ("image_cache_entries", image_cache_entries),
        ):
            if v is not None:
                if v < 0:
                    raise ValueError(f"{name}: must be >= 0, got {v}")
                setattr(p, name, v)
        self._progress = C.PROGRESS_FN(self._on_progress)  # referenced for the session's life
        p.progress = self._progress
        h = ctypes.c_void_p()
        err = C.Error()
        check(C.lib.llv_session_create(model._h, byref(p), byref(h), byref(err)), err)
        self._h = h
        self.n_ctx = n_ctx if n_ctx > 0 else min(model.info["n_ctx_train"], 4096)
        model._sessions.add(self)

    # -- lifetime --------------------------------------------------------
    def close(self) -> None:
        """Frees the session (also done when it is garbage-collected)."""
        h, self._h = getattr(self, "_h", None), None
        if h:
            with self._lock:
                C.lib.llv_session_free(h)


    # -- callbacks ---------------------------------------------------------
    def _on_progress(self, what: bytes, fraction: float, user: object) -> bool:
        try:
            if self._user_progress is not None and self._user_progress(what.decode(), fraction) is False:
                return False
            return not self._cancel.is_set()
        except BaseException as e:  # noqa: BLE001 - KeyboardInterrupt lands here
            self._raised.append(e)
            return False

    def cancel(self) -> None:
        """Stops the call running now (image encoding, prompt processing or
        generation) at its next check: the call raises CancelledError
        (generation returns with stop_reason "callback" instead)."""
        self._cancel.set()

    def _call(self, fn: Callable[..., int], *args: Any) -> None:
        """Runs a library call that takes the session and an llv_error."""
        self._check_open()
        err = C.Error()
        with self._lock:
            self._cancel.clear()
            self._raised.clear()
            code = fn(self._h, *args, byref(err))
        if self._raised:
            raise self._raised.pop()
        check(code, err)

    # -- input -------------------------------------------------------------
    def reset(self, keep_prefix: bool = False) -> None:
        """Forgets the conversation; keeps buffers and the image cache. With
        keep_prefix, the old conversation's KV cache serves as a prefix
        cache: the next prompt reuses the rows it shares with the old one
        from the start (bitwise the same results; Result.cached_tokens)."""
        self._check_open()
        with self._lock:
            (C.lib.llv_session_reset_keep_prefix if keep_prefix else C.lib.llv_session_reset)(self._h)

    def add_tokens(self, tokens: Iterable[int]) -> None:
        ids = list(tokens)
        arr = (ctypes.c_int32 * max(1, len(ids)))(*ids)
        self._call(C.lib.llv_session_add_tokens, arr, len(ids))

    def add_raw(self, text: str) -> None:
        """Text tokenized as given (special tokens parsed); each <|image|>
        takes the next image queued with add_image."""
        self._call(C.lib.llv_session_add_raw, text.encode("utf-8"))

    def add_image(self, image: ImageInput) -> None:
        """Queues an image (bytes, path, data: URL or PIL image); decoded and
        checked against the session's limits at once."""
        img = to_image(image)
        if img.width:
            self._call(C.lib.llv_session_add_image_rgb, img.width, img.height, img.width * 3, img.data)
        else:
            self._call(C.lib.llv_session_add_image, img.data, len(img.data))

    def add_messages(
        self,
        messages: Sequence[Mapping[str, Any]],
        images: Sequence[ImageInput] | None = None,
        tools: Sequence[Mapping[str, Any]] | None = None,
        add_generation_prompt: bool = True,
        date_string: str | None = None,
    ) -> None:
        """Appends chat turns (OpenAI-shaped messages; ``images`` go in
        front of the last user message's text) rendered with the model's chat
        format. The first call starts the conversation (BOS, system block);
        later calls continue it, reusing the KV cache."""
        cm = convert_messages(messages, images)
        self._add_converted(cm, tools, add_generation_prompt, date_string)

    def _add_converted(self, cm: CMessages, tools, add_generation_prompt: bool, date_string: str | None) -> None:
        for img in cm.images:
            self.add_image(img)
        cp = C.defaults(C.ChatParams, "llv_chat_params_init")
        tools_json = _b(json.dumps(list(tools))) if tools else None
        cp.tools_json = tools_json
        cp.date_string = _b(date_string)
        cp.add_generation_prompt = add_generation_prompt
        self._call(C.lib.llv_session_add_messages, cm.array, cm.n, byref(cp))

    def add_text(self, text: str, images: Sequence[ImageInput] | None = None) -> None:
        """One user turn: every queued image (add_image, then ``images``),
        then the text."""
        for img in images or []:
            self.add_image(img)
        self._call(C.lib.llv_session_add_text, text.encode("utf-8"))

    # -- output ------------------------------------------------------------
    @property
    def tokens(self) -> list[int]:
        """The conversation's token ids (prompt and generated)."""
        self._check_open()
        n = ctypes.c_size_t()
        p = C.lib.llv_session_tokens(self._h, byref(n))
        return p[: n.value] if n.value else []

    @property
    def encoder_runs(self) -> int:
        """How many times the vision encoder ran (image cache misses)."""
        self._check_open()
        return int(C.lib.llv_session_encoder_runs(self._h))

    def eval(self) -> list[float]:
        """Processes pending input; returns the last position's logits."""
        out = ctypes.POINTER(ctypes.c_float)()
        self._call(C.lib.llv_session_eval, byref(out))
        return out[: self.model.info["n_vocab"]]

    def generate(self, *, stream: bool = False, stop: Sequence[str] | str | None = None, **sampling: Any):
        """Generates the answer to what was added. Keywords: max_tokens,
        temperature, top_p, top_k, min_p, seed, repetition_penalty (or
        repeat_penalty), frequency_penalty, presence_penalty, lora,
        timeout_ms (None = the library's default), and stop (strings that
        end the answer; not part of it). stream=True returns a Stream of
        pieces; otherwise a Result."""
        stops = [stop] if isinstance(stop, str) else list(stop or [])
        sp = sampling_params(**sampling)
        self._check_open()
        if stream:
            return Stream(self, sp, stops)
        return self._generate(sp, stops, None)

    def chat(
        self,
        messages: Sequence[Mapping[str, Any]],
        images: Sequence[ImageInput] | None = None,
        *,
        stream: bool = False,
        tools: Sequence[Mapping[str, Any]] | None = None,
        **sampling: Any,
    ):
        """add_messages + generate: the answer's text (a Stream of pieces
        with stream=True). The answer stays in the conversation, so the next
        chat() continues it."""
        self.add_messages(messages, images=images, tools=tools)
        out = self.generate(stream=stream, **sampling)
        return out if stream else out.text

    def _generate(
        self, sp: C.SamplingParams, stops: Sequence[str], on_text: Callable[[str, list], bool] | None
    ) -> Result:
        """Runs generation; on_text(text, entries) gets the answer as it can
        be shown (stop strings held back) with the logprobs entries of the
        tokens completed since the last call (when sp.logprobs)."""
        matcher = _StopStrings(stops)
        raised: list[BaseException] = []
        seen = [0]  # logprobs entries handed on so far
        pending: list[dict[str, Any]] = []

        def new_entries() -> None:
            if not sp.logprobs:
                return
            n = ctypes.c_size_t()
            arr = C.lib.llv_session_logprobs(self._h, byref(n))
            pending.extend(_entry(arr[i]) for i in range(seen[0], n.value))
            seen[0] = n.value

        def on_piece(ptr, n, token, user) -> bool:
            try:
                if self._cancel.is_set():
                    return False
                new_entries()
                out = matcher.push(ctypes.string_at(ptr, n).decode("utf-8", "replace"))
                if out and on_text is not None:
                    entries = pending[:]
                    pending.clear()
                    if not on_text(out, entries):
                        return False
                return matcher.hit is None
            except BaseException as e:  # noqa: BLE001 - KeyboardInterrupt, or the consumer's error
                raised.append(e)
                return False

        cb = C.PIECE_FN(on_piece)
        res = C.Result()
        err = C.Error()
        self._check_open()
        with self._lock:
            self._cancel.clear()
            self._raised.clear()
            n0 = len(self.tokens)
            code = C.lib.llv_session_generate(self._h, byref(sp), cb, None, byref(res), byref(err))
        try:
            if raised or self._raised:
                raise (raised or self._raised).pop()
            check(code, err)
            rest = matcher.flush() if matcher.hit is None else ""
            if matcher.hit is None:
                new_entries()  # the end token's, and those of tokens that gave no piece
            if (rest or pending) and on_text is not None and matcher.hit is None:
                on_text(rest, pending[:])
            tool_calls = [
                {"name": _s(res.tool_calls[i].name) or "", "arguments": _s(res.tool_calls[i].arguments) or "{}"}
                for i in range(res.n_tool_calls)
            ]
            t = res.timings
            lp = None
            if sp.logprobs:
                n = ctypes.c_size_t()
                arr = C.lib.llv_session_logprobs(self._h, byref(n))
                lp = [_entry(arr[i]) for i in range(n.value)]
            return Result(
                text=matcher.text,
                tokens=self.tokens[n0:],
                stop_reason=C.STOP_REASONS.get(res.stop_reason, "none"),
                prompt_tokens=res.prompt_tokens,
                completion_tokens=res.completion_tokens,
                tool_calls=tool_calls if matcher.hit is None else [],
                timings={"load_s": t.load_s, "image_s": t.image_s, "prefill_s": t.prefill_s,
                         "decode_s": t.decode_s, "images_encoded": t.n_images_encoded},
                stopped_by=matcher.hit,
                logprobs=lp,
                cached_tokens=int(C.lib.llv_session_cached_tokens(self._h)),
            )
        finally:
            C.lib.llv_result_free(byref(res))


class Model(_Handle):
    """A loaded GGUF model (read-only, shared by its sessions).

    >>> m = llv.Model("models/demo.gguf")
    >>> m.chat([{"role": "user", "content": "What is in this image?"}], images=["models/demo.png"])
    """

    _what = "model"

    def __init__(
        self,
        path: str,
        *,
        n_ctx: int = 0,
        threads: int = 0,
        n_batch: int = 512,
        kv_type: str = "f16",
        chat_template: str | None = None,
        lora: Mapping[str, str] | str | None = None,
        use_mmap: bool = True,
        isa: str = "auto",
        no_memory_check: bool = False,
        verbose: bool = False,
    ):
        if isa not in C.ISA:
            raise ValueError(f"isa: expected one of {sorted(C.ISA)}, got {isa!r}")
        self._h = None
        self._sessions: weakref.WeakSet[Session] = weakref.WeakSet()
        self._lock = threading.Lock()
        self._chat_session: Session | None = None
        self._session_kw = dict(n_ctx=n_ctx, threads=threads, n_batch=n_batch, kv_type=kv_type)
        if kv_type not in C.KV_TYPE:
            raise ValueError(f"kv_type: expected one of {sorted(C.KV_TYPE)}, got {kv_type!r}")
        p = C.defaults(C.ModelParams, "llv_model_params_init")
        p.isa, p.n_threads, p.use_mmap, p.no_memory_check = C.ISA[isa], threads, use_mmap, no_memory_check
        tmpl = _b(chat_template)
        p.chat_template = tmpl
        if verbose:
            import sys

            def log(level: int, msg: bytes, user: object) -> None:
                print("llv:", msg.decode("utf-8", "replace"), file=sys.stderr)

            self._log = C.LOG_FN(log)  # referenced for the model's life
            p.log = self._log
        h = ctypes.c_void_p()
        err = C.Error()
        check(C.lib.llv_model_load(str(path).encode(), byref(p), byref(h), byref(err)), err)
        self._h = h
        self.path = str(path)
        inf = C.ModelInfo()
        C.lib.llv_model_get_info(self._h, byref(inf))
        self.info: dict[str, Any] = {
            name: (_s(getattr(inf, name)) if isinstance(getattr(inf, name), bytes) else getattr(inf, name))
            for name, _ in C.ModelInfo._fields_
            if name != "eog_ids"
        }
        self.info["eog_ids"] = [inf.eog_ids[i] for i in range(inf.n_eog)]
        self.info["weight_type"] = _s(C.lib.llv_type_name(inf.weight_type))
        if isinstance(lora, str):
            lora = {"default": lora}
        for name, lpath in (lora or {}).items():
            self.add_lora(name, lpath)

    # -- lifetime ----------------------------------------------------------
    def close(self) -> None:
        """Frees the model and every session made from it."""
        for s in list(self._sessions):
            s.close()
        h, self._h = self._h, None
        if h:
            C.lib.llv_model_free(h)


    # -- tokens ------------------------------------------------------------
    def tokenize(self, text: str | bytes, *, add_bos: bool = True, special: bool = False) -> list[int]:
        """Token ids of text (BOS first when add_bos and the model adds one;
        special=True turns "<|eot_id|>"-style text into special ids)."""
        self._check_open()
        data = text.encode("utf-8") if isinstance(text, str) else bytes(text)
        flags = (C.TOKENIZE_ADD_BOS if add_bos else 0) | (C.TOKENIZE_PARSE_SPECIAL if special else 0)
        cap = len(data) + 8
        for _ in range(2):
            buf = (ctypes.c_int32 * cap)()
            n = ctypes.c_size_t()
            err = C.Error()
            code = C.lib.llv_tokenize(self._h, data, len(data), flags, buf, cap, byref(n), byref(err))
            if code == C.ERR_BUFFER_TOO_SMALL:
                cap = n.value
                continue
            check(code, err)
            return buf[: n.value]
        raise LLVError(C.ERR_BUFFER_TOO_SMALL, "tokenize: the token count changed between calls")

    def detokenize(self, tokens: Sequence[int], *, skip_special: bool = False) -> bytes:
        """The bytes of the tokens (may end inside a UTF-8 sequence)."""
        self._check_open()
        ids = (ctypes.c_int32 * max(1, len(tokens)))(*tokens)
        cap = 16 * len(tokens) + 16
        for _ in range(2):
            buf = ctypes.create_string_buffer(cap)
            n = ctypes.c_size_t()
            err = C.Error()
            code = C.lib.llv_detokenize(self._h, ids, len(tokens), skip_special, buf, cap, byref(n), byref(err))
            if code == C.ERR_BUFFER_TOO_SMALL:
                cap = n.value + 1
                continue
            check(code, err)
            return buf.raw[: n.value]
        raise LLVError(C.ERR_BUFFER_TOO_SMALL, "detokenize: the size changed between calls")

    def token_bytes(self, token: int) -> bytes:
        """The bytes of one token (special tokens: their text)."""
        self._check_open()
        n = ctypes.c_size_t()
        p = C.lib.llv_token_bytes(self._h, token, byref(n))
        if not p:
            raise ValueError(f"token {token} is outside the vocabulary")
        return ctypes.string_at(p, n.value)

    def token_is_eog(self, token: int) -> bool:
        self._check_open()
        return bool(C.lib.llv_token_is_eog(self._h, token))

    # -- adapters ----------------------------------------------------------
    def add_lora(self, name: str, path: str, scale: float = 1.0) -> None:
        """Loads a LoRA adapter (GGUF) under name; generate with lora=name."""
        self._check_open()
        err = C.Error()
        check(C.lib.llv_model_lora_add(self._h, _b(name), str(path).encode(), scale, byref(err)), err)

    @property
    def loras(self) -> list[str]:
        self._check_open()
        out = []
        while (n := C.lib.llv_model_lora_name(self._h, len(out))) is not None:
            out.append(_s(n))
        return out

    # -- chat --------------------------------------------------------------
    def session(self, **kw: Any) -> Session:
        """A new conversation; keywords as Session (defaults: the model's)."""
        return Session(self, **{**self._session_kw, **kw})

    def render_chat(
        self,
        messages: Sequence[Mapping[str, Any]],
        *,
        tools: Sequence[Mapping[str, Any]] | None = None,
        add_generation_prompt: bool = True,
        date_string: str | None = None,
    ) -> str:
        """The prompt text the model's chat format makes of messages."""
        self._check_open()
        cm = convert_messages(messages, None, placeholders_only=True)
        cp = C.defaults(C.ChatParams, "llv_chat_params_init")
        cp.tools_json = _b(json.dumps(list(tools))) if tools else None
        cp.date_string = _b(date_string)
        cp.add_generation_prompt = add_generation_prompt
        cap = 4096
        for _ in range(2):
            buf = ctypes.create_string_buffer(cap)
            n = ctypes.c_size_t()
            err = C.Error()
            code = C.lib.llv_chat_render(self._h, cm.array, cm.n, byref(cp), buf, cap, byref(n), byref(err))
            if code == C.ERR_BUFFER_TOO_SMALL:
                cap = n.value + 1
                continue
            check(code, err)
            return buf.raw[: n.value].decode("utf-8")
        raise LLVError(C.ERR_BUFFER_TOO_SMALL, "render_chat: the size changed between calls")

    def _one_shot(self) -> Session:
        if self._chat_session is None or not self._chat_session._h:
            self._chat_session = self.session()
        self._chat_session.reset()
        return self._chat_session

    def chat(
        self,
        messages: Sequence[Mapping[str, Any]],
        images: Sequence[ImageInput] | None = None,
        *,
        stream: bool = False,
        tools: Sequence[Mapping[str, Any]] | None = None,
        **sampling: Any,
    ):
        """One answer to messages (a new conversation each call): its text,
        or with stream=True an iterator of pieces. For follow-up turns that
        reuse the KV cache, use a session()."""
        if stream:
            return self._stream_text(messages, images, tools, sampling)
        with self._lock:
            s = self._one_shot()
            return s.chat(messages, images=images, tools=tools, **sampling)

    def _stream_text(self, messages, images, tools, sampling) -> Iterator[str]:
        with self._lock:
            s = self._one_shot()
            s.add_messages(messages, images=images, tools=tools)
            st = s.generate(stream=True, **sampling)
            try:
                yield from st
            finally:
                st.close()

    def create_chat_completion(
        self,
        messages: Sequence[Mapping[str, Any]],
        images: Sequence[ImageInput] | None = None,
        *,
        stream: bool = False,
        tools: Sequence[Mapping[str, Any]] | None = None,
        tool_choice: Any = None,
        max_tokens: int | None = None,
        max_completion_tokens: int | None = None,
        stop: Sequence[str] | str | None = None,
        stream_options: Mapping[str, Any] | None = None,
        response_format: Mapping[str, Any] | None = None,
        logprobs: bool | None = None,
        top_logprobs: int | None = None,
        **sampling: Any,
    ):
        """An OpenAI chat.completion dict (or, with stream=True, an iterator
        of chat.completion.chunk dicts), as llama-cpp-python returns them.
        Messages may carry OpenAI content parts, images as image_url data:
        URLs. max_tokens None = up to the context."""
        from . import _openai

        _openai.response_format(response_format, sampling)
        if tool_choice == "none":
            tools = None
        elif tool_choice not in (None, "auto"):
            _openai.force_tool(tools, tool_choice, sampling)
        if top_logprobs is not None and not logprobs:
            raise ValueError("top_logprobs: needs logprobs=True (as OpenAI says)")
        sampling["logprobs"] = bool(logprobs)
        sampling["top_logprobs"] = top_logprobs
        limit = max_completion_tokens if max_completion_tokens is not None else max_tokens
        sampling["max_tokens"] = limit if limit is not None else C.SAMPLING_MAX_TOKENS_MAX
        cm = convert_messages(messages, images)
        sp = sampling_params(**sampling)
        stops = [stop] if isinstance(stop, str) else list(stop or [])
        name = self.info.get("name") or self.path
        if not stream:
            with self._lock:
                s = self._one_shot()
                s._add_converted(cm, tools, True, None)
                r = s._generate(sp, stops, None)
            return _openai.completion(r, name, self)
        include_usage = bool((stream_options or {}).get("include_usage"))
        return self._stream_chunks(cm, tools, sp, stops, name, include_usage)

    def _stream_chunks(self, cm, tools, sp, stops, name, include_usage) -> Iterator[dict]:
        from . import _openai

        with self._lock:
            s = self._one_shot()
            s._add_converted(cm, tools, True, None)
            st = Stream(s, sp, stops, with_logprobs=True)
            chunks = _openai.Chunks(name, self if sp.logprobs else None)
            try:
                yield chunks.first()
                held, held_lp = [], []  # with tools the answer may be a call: sent whole at the end
                for piece, entries in st:
                    if tools:
                        held.append(piece)
                        held_lp += entries
                    elif piece or entries:
                        yield chunks.content(piece, entries)
                r = st.result
                if r is None:
                    return
                if r.tool_calls:
                    yield chunks.tool_calls(r.tool_calls)
                elif held or held_lp:
                    yield chunks.content("".join(held), held_lp)
                yield chunks.finish(r.finish_reason)
                if include_usage:
                    yield chunks.usage(r)
            finally:
                st.close()
