"""Images from what Python programs hold: encoded bytes, paths, data: URLs
and PIL images. Decoding and limits are the library's (one place): encoded
bytes go to llv_session_add_image, PIL images as RGB pixels to
llv_session_add_image_rgb."""

from __future__ import annotations

import base64
import binascii
import os
from dataclasses import dataclass
from typing import Any, Union

ImageInput = Union[bytes, bytearray, memoryview, str, "os.PathLike[str]", Any]


@dataclass(frozen=True)
class Image:
    """One image ready for the library: encoded bytes, or RGB rows."""

    data: bytes
    width: int = 0  # > 0: `data` is height rows of width RGB pixels
    height: int = 0


def _from_data_url(url: str) -> Image:
    head, sep, payload = url.partition(",")
    if not sep or not head.startswith("data:"):
        raise ValueError("image: a data: URL must look like data:image/png;base64,....")
    if not head.endswith(";base64"):
        raise ValueError("image: only base64 data: URLs are supported")
    try:
        return Image(base64.b64decode(payload, validate=True))
    except (binascii.Error, ValueError) as e:
        raise ValueError(f"image: the data: URL is not valid base64 ({e})") from None


def to_image(src: ImageInput) -> Image:
    """Converts one image input (see the module docstring)."""
    if isinstance(src, Image):
        return src
    if isinstance(src, (bytes, bytearray, memoryview)):
        return Image(bytes(src))
    if isinstance(src, str) and src.startswith("data:"):
        return _from_data_url(src)
    if isinstance(src, str) and src.startswith(("http://", "https://")):
        raise ValueError(
            "image: URLs are not fetched (llv does not download at run time); pass bytes, a path, a PIL image "
            "or a data: URL"
        )
    if isinstance(src, (str, os.PathLike)):
        with open(src, "rb") as f:
            return Image(f.read())
    if hasattr(src, "convert") and hasattr(src, "tobytes") and hasattr(src, "size"):  # PIL.Image.Image
        rgb = src if getattr(src, "mode", None) == "RGB" else src.convert("RGB")
        w, h = rgb.size
        return Image(rgb.tobytes(), int(w), int(h))
    raise TypeError(f"image: expected bytes, a path, a data: URL or a PIL image, not {type(src).__name__}")
