"""Pre- and post-processing shared by every inference backend, without torch.

The PyTorch and ONNX Runtime paths call the same functions here, so that an exported
model sees exactly the pixels the PyTorch model sees. Only NumPy and OpenCV are used:
a slim install (``onnxruntime``, no torch) can import this module.

Conventions (see :mod:`boxpromptiml.data.images`):

* **image**: ``(H, W, 3)`` ``uint8`` RGB.
* **batch**: ``(B, 3, S, S)`` ``float32`` RGB in ``[0, 1]`` (what ``Student.forward`` and
  the exported ONNX model take; normalisation happens inside the model).
* **map**: ``(H, W)`` ``float32`` probabilities in ``[0, 1]``.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from boxpromptiml.errors import DataError

__all__ = [
    "as_image",
    "images_to_batch",
    "resize_image",
    "resize_prob",
]


def resize_image(image: np.ndarray, size: int) -> np.ndarray:
    """Resize an ``(H, W, 3)`` ``uint8`` image to ``(size, size, 3)``.

    Area interpolation when shrinking both sides, bilinear otherwise: the same rule as
    the training augmentation (``area_for_downscale``), so that training, validation and
    prediction see the same resampling. An image already at ``size × size`` is returned
    unchanged (no copy).
    """
    h, w = image.shape[:2]
    if (h, w) == (size, size):
        return image
    interp = cv2.INTER_AREA if size < h and size < w else cv2.INTER_LINEAR
    return cv2.resize(image, (size, size), interpolation=interp)


def images_to_batch(images: Sequence[np.ndarray]) -> np.ndarray:
    """Stack ``B`` images ``(S, S, 3)`` ``uint8`` into a ``(B, 3, S, S)`` ``float32`` batch in
    ``[0, 1]`` (division by 255 in float32, bit-identical to ``image_to_tensor``)."""
    arr = np.stack([np.ascontiguousarray(im) for im in images])  # (B, S, S, 3) uint8
    out = arr.transpose(0, 3, 1, 2).astype(np.float32)
    out /= np.float32(255.0)
    return np.ascontiguousarray(out)


def resize_prob(prob: np.ndarray, size_hw: tuple[int, int]) -> np.ndarray:
    """Resize a ``(h, w)`` probability map to ``size_hw = (H, W)``, bilinear with half-pixel
    centres (``align_corners=False``), clipped to ``[0, 1]``; returns ``float32``."""
    h, w = size_hw
    p: np.ndarray = np.asarray(prob, dtype=np.float32)
    if p.shape != (h, w):
        p = cv2.resize(p, (w, h), interpolation=cv2.INTER_LINEAR)
    return np.clip(p, 0.0, 1.0).astype(np.float32, copy=False)


def as_image(source: Any) -> tuple[np.ndarray, Path | None]:
    """Turn one image source into ``(image, path)``.

    ``source`` is a file path (``str`` or ``os.PathLike``), a ``PIL.Image.Image`` (any
    mode, converted to RGB), or a NumPy array: ``(H, W, 3)`` RGB, ``(H, W, 4)`` RGBA (alpha
    dropped) or ``(H, W)`` grey; ``uint8``, or float in ``[0, 1]``. ``path`` is ``None``
    for in-memory images. Raises :class:`DataError` for an unreadable file or an array of
    the wrong shape or range.
    """
    from boxpromptiml.data.images import load_image

    if isinstance(source, str | os.PathLike):
        path = Path(source)
        return load_image(path), path
    if isinstance(source, np.ndarray):
        return _array_to_image(source), None
    try:
        from PIL import Image
    except ImportError:  # pragma: no cover - Pillow is a core dependency
        Image = None  # type: ignore[assignment]
    if Image is not None and isinstance(source, Image.Image):
        return np.asarray(source.convert("RGB"), dtype=np.uint8).copy(), None
    raise DataError(
        f"cannot read an image from {type(source).__name__}: give a path, a NumPy array "
        "(H, W, 3) or a PIL image"
    )


def _array_to_image(arr: np.ndarray) -> np.ndarray:
    """Validate an in-memory array and return it as ``(H, W, 3)`` ``uint8`` RGB."""
    a = np.asarray(arr)
    if a.ndim == 2:
        a = a[:, :, None]
    if a.ndim != 3 or a.shape[2] not in (1, 3, 4) or a.shape[0] == 0 or a.shape[1] == 0:
        raise DataError(
            f"image array must have shape (H, W, 3), (H, W, 4) or (H, W), got {arr.shape}"
        )
    if a.shape[2] == 4:
        a = a[:, :, :3]
    elif a.shape[2] == 1:
        a = np.repeat(a, 3, axis=2)
    if a.dtype == np.uint8:
        return np.ascontiguousarray(a)
    if a.dtype == np.bool_:
        return np.ascontiguousarray(a.astype(np.uint8) * 255)
    if np.issubdtype(a.dtype, np.floating):
        if not np.all(np.isfinite(a)) or a.min() < 0.0 or a.max() > 1.0:
            raise DataError("a float image array must hold finite values in [0, 1]")
        return np.ascontiguousarray(np.rint(a * 255.0).astype(np.uint8))
    raise DataError(f"image array must be uint8 (0-255) or float in [0, 1], got dtype {a.dtype}")
