"""ctypes mirror of include/llv.h: the library, its structs and prototypes.

Only this module knows the C layout. tests/test_layout.py compiles a C
program that prints every struct's size and field offsets and compares them
with these definitions, so a change to llv.h that is not mirrored here fails.
ctypes releases the GIL for every call into the library; callbacks from the
library take it back while they run.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
from ctypes import (
    CFUNCTYPE,
    POINTER,
    Structure,
    c_bool,
    c_char,
    c_char_p,
    c_double,
    c_float,
    c_int,
    c_int32,
    c_size_t,
    c_uint8,
    c_uint32,
    c_uint64,
    c_void_p,
)
from pathlib import Path

ERROR_MESSAGE_SIZE = 512

# llv_status
OK = 0
ERR_NAMES = {
    0: "LLV_OK",
    1: "LLV_ERR_INVALID_ARGUMENT",
    2: "LLV_ERR_IO",
    3: "LLV_ERR_FORMAT",
    4: "LLV_ERR_UNSUPPORTED",
    5: "LLV_ERR_OUT_OF_MEMORY",
    6: "LLV_ERR_LIMIT",
    7: "LLV_ERR_BUFFER_TOO_SMALL",
    8: "LLV_ERR_CANCELLED",
    9: "LLV_ERR_STATE",
    10: "LLV_ERR_NOT_FOUND",
    11: "LLV_ERR_INTERNAL",
    12: "LLV_ERR_CONTEXT",
}
ERR_BUFFER_TOO_SMALL = 7
ERR_CANCELLED = 8

ISA = {"auto": 0, "ref": 1, "avx2": 2, "avx512": 3}
KV_TYPE = {"f32": 0, "f16": 1}
PART_TEXT, PART_IMAGE = 0, 1
TOKENIZE_ADD_BOS, TOKENIZE_PARSE_SPECIAL = 1, 2
STOP_REASONS = {0: "none", 1: "eog", 2: "length", 3: "callback", 4: "context", 5: "timeout"}
SAMPLING_MAX_TOKENS_MAX = 131072

LOG_FN = CFUNCTYPE(None, c_int, c_char_p, c_void_p)
PROGRESS_FN = CFUNCTYPE(c_bool, c_char_p, c_float, c_void_p)
PIECE_FN = CFUNCTYPE(c_bool, POINTER(c_char), c_size_t, c_int32, c_void_p)


class Error(Structure):
    _fields_ = [("status", c_int), ("message", c_char * ERROR_MESSAGE_SIZE)]


class ModelParams(Structure):
    _fields_ = [
        ("size", c_size_t),
        ("isa", c_int),
        ("n_threads", c_int32),
        ("use_mmap", c_bool),
        ("log", LOG_FN),
        ("log_user", c_void_p),
        ("progress", PROGRESS_FN),
        ("progress_user", c_void_p),
        ("chat_template", c_char_p),
        ("no_memory_check", c_bool),
    ]


class ModelInfo(Structure):
    _fields_ = [
        ("architecture", c_char_p),
        ("name", c_char_p),
        ("has_vision", c_bool),
        ("has_weights", c_bool),
        ("n_vocab", c_int32),
        ("n_ctx_train", c_int32),
        ("n_embd", c_int32),
        ("n_layer", c_int32),
        ("n_cross_layers", c_int32),
        ("image_size", c_int32),
        ("max_tiles", c_int32),
        ("bos_id", c_int32),
        ("pad_id", c_int32),
        ("image_token_id", c_int32),
        ("n_eog", c_int32),
        ("eog_ids", POINTER(c_int32)),
        ("weight_type", c_int),
        ("n_params", c_uint64),
        ("file_bytes", c_uint64),
        ("isa", c_char_p),
        ("chat_template", c_char_p),
        ("chat_format", c_char_p),
    ]


class Part(Structure):
    _fields_ = [
        ("type", c_int),
        ("text", c_char_p),
        ("image", POINTER(c_uint8)),
        ("image_bytes", c_size_t),
    ]


class Message(Structure):
    _fields_ = [
        ("role", c_char_p),
        ("content", c_char_p),
        ("parts", POINTER(Part)),
        ("n_parts", c_size_t),
        ("tool_call_name", c_char_p),
        ("tool_call_arguments", c_char_p),
    ]


class ChatParams(Structure):
    _fields_ = [
        ("size", c_size_t),
        ("tools_json", c_char_p),
        ("date_string", c_char_p),
        ("add_generation_prompt", c_bool),
    ]


class ToolCall(Structure):
    _fields_ = [("name", c_char_p), ("arguments", c_char_p)]


class SessionParams(Structure):
    _fields_ = [
        ("size", c_size_t),
        ("n_ctx", c_int32),
        ("n_threads", c_int32),
        ("n_batch", c_int32),
        ("kv_type", c_int),
        ("max_images", c_int32),
        ("max_image_pixels", c_uint64),
        ("max_image_bytes", c_uint64),
        ("image_cache_entries", c_size_t),
        ("progress", PROGRESS_FN),
        ("progress_user", c_void_p),
        ("engine", c_void_p),
    ]


class SamplingParams(Structure):
    _fields_ = [
        ("size", c_size_t),
        ("max_tokens", c_int32),
        ("temperature", c_float),
        ("top_p", c_float),
        ("top_k", c_int32),
        ("min_p", c_float),
        ("seed", c_uint64),
        ("repetition_penalty", c_float),
        ("frequency_penalty", c_float),
        ("presence_penalty", c_float),
        ("lora", c_char_p),
        ("timeout_ms", c_int32),
        ("logprobs", c_bool),
        ("top_logprobs", c_int32),
        ("grammar", c_char_p),
        ("json_schema", c_char_p),
        ("json_object", c_bool),
    ]


TOP_LOGPROBS_MAX = 20


class TokenLogprob(Structure):
    _fields_ = [("token", c_int32), ("logprob", c_float)]


class LogprobEntry(Structure):
    _fields_ = [("chosen", TokenLogprob), ("n_top", c_int32), ("top", TokenLogprob * TOP_LOGPROBS_MAX)]


class Timings(Structure):
    _fields_ = [
        ("load_s", c_double),
        ("image_s", c_double),
        ("prefill_s", c_double),
        ("decode_s", c_double),
        ("n_images_encoded", c_int32),
    ]


class Result(Structure):
    # llv_result has no size field and the library writes it whole: the
    # reserve keeps a newer library's extra fields inside this buffer.
    _fields_ = [
        ("stop_reason", c_int),
        ("prompt_tokens", c_int32),
        ("completion_tokens", c_int32),
        ("text", POINTER(c_char)),
        ("text_len", c_size_t),
        ("tool_calls", POINTER(ToolCall)),
        ("n_tool_calls", c_size_t),
        ("timings", Timings),
        ("_reserved", c_uint8 * 512),
    ]


RESULT_C_FIELDS = [f[0] for f in Result._fields_ if not f[0].startswith("_")]


def _candidates() -> list[str]:
    here = Path(__file__).resolve().parent
    env = os.environ.get("LLV_LIBRARY")
    if env:
        return [env]  # explicit: no fallback, so a wrong path is an error, not a silent other copy
    out = [str(p) for p in sorted(here.glob("libllv.so*"))]
    found = ctypes.util.find_library("llv")
    if found:
        out.append(found)
    return out


def _load() -> ctypes.CDLL:
    tried = []
    for path in _candidates():
        try:
            return ctypes.CDLL(path)
        except OSError as e:
            tried.append(f"{path}: {e}")
    raise ImportError(
        "llv: cannot find libllv.so (set LLV_LIBRARY=/path/to/libllv.so, or reinstall with "
        "`pip install ./python` which builds it)" + ("; tried " + "; ".join(tried) if tried else "")
    )


lib = _load()


def _proto(name: str, restype, *argtypes) -> None:
    f = getattr(lib, name)
    f.restype = restype
    f.argtypes = list(argtypes)


P = POINTER
_proto("llv_status_name", c_char_p, c_int)
_proto("llv_version", c_char_p)
_proto("llv_version_number", c_int)
_proto("llv_system_info", c_char_p)
_proto("llv_type_name", c_char_p, c_int)
_proto("llv_model_params_init", None, P(ModelParams), c_size_t)
_proto("llv_model_load", c_int, c_char_p, P(ModelParams), P(c_void_p), P(Error))
_proto("llv_model_free", None, c_void_p)
_proto("llv_model_get_info", None, c_void_p, P(ModelInfo))
_proto("llv_model_lora_add", c_int, c_void_p, c_char_p, c_char_p, c_float, P(Error))
_proto("llv_model_lora_name", c_char_p, c_void_p, c_size_t)
_proto("llv_tokenize", c_int, c_void_p, c_char_p, c_size_t, c_uint32, P(c_int32), c_size_t, P(c_size_t), P(Error))
_proto("llv_token_bytes", P(c_char), c_void_p, c_int32, P(c_size_t))
_proto("llv_detokenize", c_int, c_void_p, P(c_int32), c_size_t, c_bool, P(c_char), c_size_t, P(c_size_t), P(Error))
_proto("llv_token_is_eog", c_bool, c_void_p, c_int32)
_proto("llv_chat_params_init", None, P(ChatParams), c_size_t)
_proto(
    "llv_chat_render", c_int, c_void_p, P(Message), c_size_t, P(ChatParams), P(c_char), c_size_t, P(c_size_t), P(Error)
)
_proto("llv_session_params_init", None, P(SessionParams), c_size_t)
_proto("llv_session_create", c_int, c_void_p, P(SessionParams), P(c_void_p), P(Error))
_proto("llv_session_free", None, c_void_p)
_proto("llv_session_reset", None, c_void_p)
_proto("llv_session_memory", None, c_void_p, P(c_uint64), P(c_uint64))
_proto("llv_session_add_tokens", c_int, c_void_p, P(c_int32), c_size_t, P(Error))
_proto("llv_session_add_raw", c_int, c_void_p, c_char_p, P(Error))
_proto("llv_session_add_image", c_int, c_void_p, c_void_p, c_size_t, P(Error))
_proto("llv_session_add_image_rgb", c_int, c_void_p, c_int32, c_int32, c_size_t, c_void_p, P(Error))
_proto("llv_session_add_text", c_int, c_void_p, c_char_p, P(Error))
_proto("llv_session_add_messages", c_int, c_void_p, P(Message), c_size_t, P(ChatParams), P(Error))
_proto("llv_session_set_lora", c_int, c_void_p, c_char_p, P(Error))
_proto("llv_sampling_params_init", None, P(SamplingParams), c_size_t)
_proto("llv_sampling_params_validate", c_int, P(SamplingParams), P(Error))
_proto("llv_session_generate", c_int, c_void_p, P(SamplingParams), PIECE_FN, c_void_p, P(Result), P(Error))
_proto("llv_result_free", None, P(Result))
_proto("llv_session_eval", c_int, c_void_p, P(P(c_float)), P(Error))
_proto("llv_session_tokens", P(c_int32), c_void_p, P(c_size_t))
_proto("llv_session_encoder_runs", c_int32, c_void_p)
_proto("llv_session_logprobs", P(LogprobEntry), c_void_p, P(c_size_t))
_proto("llv_session_reset_keep_prefix", None, c_void_p)
_proto("llv_session_cached_tokens", c_int32, c_void_p)


def defaults(struct_type, init_name: str):
    """A params struct filled by the library's llv_*_params_init."""
    p = struct_type()
    getattr(lib, init_name)(ctypes.byref(p), ctypes.sizeof(p))
    return p
