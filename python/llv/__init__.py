"""llv from Python: Llama 3.2 Vision (mllama) and Llama text models on CPUs.

    import llv
    model = llv.Model("models/demo.gguf")
    print(model.chat([{"role": "user", "content": "What is in this image?"}], images=["models/demo.png"]))

Model loads a GGUF file; Model.chat and Model.create_chat_completion answer
one conversation each call (OpenAI-shaped dicts for the latter); a Session
keeps its KV cache across turns. Errors from the library are LLVError with
the library's message. The work runs in libllv with the GIL released.
"""

from ._capi import lib as _lib
from ._errors import CancelledError, ContextLengthError, LLVError
from ._images import Image
from ._model import Model, Result, Session, Stream

__all__ = ["Model", "Session", "Stream", "Result", "Image", "LLVError", "ContextLengthError", "CancelledError",
           "version", "system_info", "__version__"]


def version() -> str:
    """The loaded libllv's release ("0.1.0")."""
    return _lib.llv_version().decode()


def system_info() -> str:
    """The CPU's ISA and the kernels libllv chose."""
    return _lib.llv_system_info().decode()


__version__ = "0.1.0"
