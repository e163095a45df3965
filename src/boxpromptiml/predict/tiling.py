"""Tiled (sliding-window) inference: full-resolution maps for images larger than the model.

The image is cut into overlapping ``tile × tile`` windows at its native resolution; each
window goes through the model unchanged (no resizing), and the window maps are blended
with a weight that falls towards the window borders, where the model sees the least
context. Every pixel is covered by at least one window and the blend is normalised by the
summed weights, so a model that acts pixel by pixel is reproduced exactly.

An image smaller than a tile along a side is padded (reflection) to the tile and the map is
cropped back, or, with ``clip`` (for a model that takes any input size), the window is cut
to the image along that side.
"""

from __future__ import annotations

from collections.abc import Callable

import cv2
import numpy as np

from boxpromptiml.errors import ConfigError

__all__ = ["blend_weights", "predict_tiled", "tile_starts"]


def tile_starts(length: int, tile: int, overlap: float) -> list[int]:
    """Start offsets of windows of size ``tile`` covering ``[0, length)``.

    Consecutive windows overlap by at least ``overlap`` (a fraction of ``tile`` in
    ``[0, 1)``); the last window ends exactly at ``length``. ``length <= tile`` gives
    ``[0]``.
    """
    if tile < 1:
        raise ConfigError(f"tile size must be >= 1, got {tile}")
    if not 0.0 <= overlap < 1.0:
        raise ConfigError(f"tile overlap must lie in [0, 1), got {overlap}")
    if length <= tile:
        return [0]
    stride = max(1, int(tile * (1.0 - overlap)))
    n = -(-(length - tile) // stride) + 1  # ceil division: windows needed
    # spread the windows evenly between 0 and length - tile (overlap never below the request)
    return [round(i * (length - tile) / (n - 1)) for i in range(n)]


def blend_weights(tile: int, overlap: float, shape: tuple[int, int] | None = None) -> np.ndarray:
    """``(tile, tile)`` ``float32`` blending weights: 1 in the centre, a linear ramp over the
    ``overlap`` margin down to a small positive value at the border (never 0, so that a
    pixel seen by one window only keeps its value). ``shape`` ``(h, w)``: the weights of a
    window clipped to that size (the margin still that of a ``tile`` window)."""
    margin = max(1, round(tile * overlap / 2))

    def ramp(n: int) -> np.ndarray:
        idx = np.arange(n, dtype=np.float32)
        dist = np.minimum(idx, n - 1 - idx) + 1.0  # 1 at the border
        return np.minimum(dist / (margin + 1.0), 1.0)

    h, w = shape or (tile, tile)
    return np.outer(ramp(h), ramp(w)).astype(np.float32)


def predict_tiled(
    image: np.ndarray,
    run: Callable[[list[np.ndarray]], np.ndarray],
    tile: int,
    overlap: float = 0.25,
    batch_size: int = 8,
    *,
    clip: bool = False,
) -> tuple[np.ndarray, int]:
    """Full-resolution map of ``image`` by sliding-window inference.

    Args:
        image: ``(H, W, 3)`` ``uint8`` RGB.
        run: maps a list of ``n`` windows ``(th, tw, 3)`` ``uint8`` to probabilities
            ``(n, th, tw)`` ``float32`` (``th = tw = tile`` unless ``clip``).
        tile: window side in pixels (the model's input size).
        overlap: fraction of ``tile`` shared by neighbouring windows, in ``[0, 1)``.
        batch_size: windows per call of ``run``.
        clip: along a side shorter than ``tile``, cut the window to the image instead of
            padding the image (for a model that takes any input size: no mirrored border).

    Returns ``(prob, n_windows)``: ``prob`` ``(H, W)`` ``float32`` in ``[0, 1]``.
    """
    h, w = image.shape[:2]
    th, tw = (min(h, tile), min(w, tile)) if clip else (tile, tile)
    ph, pw = max(h, th), max(w, tw)
    if (ph, pw) != (h, w):
        padded = cv2.copyMakeBorder(image, 0, ph - h, 0, pw - w, cv2.BORDER_REFLECT_101)
    else:
        padded = image
    ys, xs = tile_starts(ph, th, overlap), tile_starts(pw, tw, overlap)
    windows = [(y, x) for y in ys for x in xs]
    weight = blend_weights(tile, overlap, (th, tw))
    acc = np.zeros((ph, pw), dtype=np.float32)
    norm = np.zeros((ph, pw), dtype=np.float32)
    for i in range(0, len(windows), max(1, batch_size)):
        chunk = windows[i : i + max(1, batch_size)]
        probs = run([padded[y : y + th, x : x + tw] for y, x in chunk])
        for (y, x), p in zip(chunk, probs, strict=True):
            acc[y : y + th, x : x + tw] += p * weight
            norm[y : y + th, x : x + tw] += weight
    prob = acc[:h, :w] / norm[:h, :w]
    return np.clip(prob, 0.0, 1.0), len(windows)
