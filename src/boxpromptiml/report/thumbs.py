"""Small pictures for the report: bounded thumbnails, the error overlay, PNG/JPEG bytes.

Conventions as in :mod:`boxpromptiml.data.images`: an image is ``(H, W, 3)`` uint8 RGB,
a mask ``(H, W)`` bool (``True`` = manipulated), a map ``(H, W)`` float in ``[0, 1]``.
"""

from __future__ import annotations

import io

import numpy as np
from PIL import Image

#: Overlay colours (RGB): predicted and manipulated, predicted but authentic, missed.
TP_COLOR = (0, 200, 70)
FP_COLOR = (235, 40, 40)
FN_COLOR = (40, 110, 255)
#: How strongly a class colour covers the image in the overlay, in ``[0, 1]``.
OVERLAY_ALPHA = 0.6


def fit_size(hw: tuple[int, int], longest: int) -> tuple[int, int]:
    """``(H, W)`` scaled so that the longer side is at most ``longest`` (never enlarged)."""
    h, w = hw
    if longest <= 0:
        raise ValueError(f"thumbnail size must be positive, got {longest}")
    scale = min(1.0, longest / max(h, w))
    return max(1, round(h * scale)), max(1, round(w * scale))


def shrink(arr: np.ndarray, longest: int) -> np.ndarray:
    """Downscale a uint8 ``(H, W)`` or ``(H, W, 3)`` array to fit ``longest`` (area filter)."""
    import cv2

    h, w = fit_size(arr.shape[:2], longest)
    if (h, w) == arr.shape[:2]:
        return arr
    return np.asarray(cv2.resize(arr, (w, h), interpolation=cv2.INTER_AREA))


def to_uint8(values: np.ndarray) -> np.ndarray:
    """A bool mask (0/255) or a float map in ``[0, 1]`` (scaled, rounded) as uint8."""
    arr = np.asarray(values)
    if arr.dtype == np.uint8:
        return arr
    if arr.dtype == np.bool_:
        return arr.astype(np.uint8) * 255
    return np.clip(np.rint(arr.astype(np.float32) * 255.0), 0, 255).astype(np.uint8)


def overlay(image: np.ndarray, mask: np.ndarray, predicted: np.ndarray) -> np.ndarray:
    """The image, dimmed, with true positives green, false positives red, misses blue.

    ``image`` ``(H, W, 3)`` uint8; ``mask`` and ``predicted`` ``(H, W)`` bool at the image
    size. Returns ``(H, W, 3)`` uint8.
    """
    if mask.shape != image.shape[:2] or predicted.shape != image.shape[:2]:
        raise ValueError(
            f"overlay needs image, mask and prediction of one size, got {image.shape[:2]}, "
            f"{mask.shape}, {predicted.shape}"
        )
    out = image.astype(np.float32) * 0.75
    for sel, color in (
        (predicted & mask, TP_COLOR),
        (predicted & ~mask, FP_COLOR),
        (~predicted & mask, FN_COLOR),
    ):
        out[sel] = out[sel] * (1.0 - OVERLAY_ALPHA) + np.asarray(color, np.float32) * OVERLAY_ALPHA
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


def encode_png(arr: np.ndarray) -> bytes:
    """PNG bytes of a uint8 ``(H, W)`` or ``(H, W, 3)`` array."""
    buf = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(arr)).save(buf, format="PNG", compress_level=6)
    return buf.getvalue()


def encode_jpeg(arr: np.ndarray, quality: int = 85) -> bytes:
    """JPEG bytes of a uint8 ``(H, W, 3)`` (or grey) array."""
    buf = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(arr)).save(buf, format="JPEG", quality=quality)
    return buf.getvalue()


def encode(arr: np.ndarray, fmt: str) -> tuple[bytes, str]:
    """``(bytes, mime)`` of ``arr`` as ``fmt`` (``"png"`` or ``"jpeg"``)."""
    if fmt == "png":
        return encode_png(arr), "image/png"
    if fmt in ("jpeg", "jpg"):
        return encode_jpeg(arr), "image/jpeg"
    raise ValueError(f"image format must be png or jpeg, got {fmt!r}")
