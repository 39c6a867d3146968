"""Errors from the library, as Python exceptions carrying the C message."""

from __future__ import annotations

from . import _capi


class LLVError(RuntimeError):
    """A call into libllv failed.

    ``status`` is the library's status name (``"LLV_ERR_FORMAT"``, ...),
    ``code`` its number and ``message`` the library's message, which names
    what was wrong (a field, a file, a limit)."""

    def __init__(self, code: int, message: str):
        self.code = code
        self.status = _capi.ERR_NAMES.get(code, f"LLV_ERR_{code}")
        self.message = message
        super().__init__(f"{message} ({self.status})" if message else self.status)


class ContextLengthError(LLVError):
    """The conversation does not fit in the session's context (LLV_ERR_CONTEXT)."""


class CancelledError(LLVError):
    """A cancel request or a callback stopped the work (LLV_ERR_CANCELLED)."""


_BY_CODE = {12: ContextLengthError, 8: CancelledError}


def check(code: int, err: _capi.Error) -> None:
    if code != _capi.OK:
        raise _BY_CODE.get(code, LLVError)(code, err.message.decode("utf-8", "replace"))
