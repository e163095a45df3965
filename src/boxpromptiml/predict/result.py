"""One prediction per image: the probability map, the mask, the image score, timings.

Files written by :meth:`Prediction.save`, under an output folder ``OUT``::

    OUT/maps/<name>.png       probability map, 8-bit (0-255), the image's size:
                              ``boxprompt evaluate DATASET --pred OUT/maps`` reads it
    OUT/masks/<name>.png      binary mask (0/255), ``prob > threshold``
    OUT/overlays/<name>.jpg   pixels above the threshold tinted, mask outlined, colour
                              bar, file name and score
    OUT/json/<name>.json      score, sizes, timings, model and settings
    OUT/maps_npy/<name>.npy   float32 map in [0, 1] (only with ``npy=True``)
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from boxpromptiml.data.images import save_png
from boxpromptiml.fileio import atomic_write, atomic_write_json

__all__ = ["SAVE_KINDS", "Prediction", "heatmap_overlay"]

PathLike = str | os.PathLike[str]

#: Sub-folder and file suffix of each kind of output.
SAVE_KINDS: dict[str, tuple[str, str]] = {
    "map": ("maps", ".png"),
    "mask": ("masks", ".png"),
    "overlay": ("overlays", ".jpg"),
    "json": ("json", ".json"),
    "npy": ("maps_npy", ".npy"),
}


def _jet(prob: np.ndarray) -> np.ndarray:
    grey = np.clip(np.rint(prob * 255.0), 0, 255).astype(np.uint8)
    return cv2.cvtColor(cv2.applyColorMap(grey, cv2.COLORMAP_JET), cv2.COLOR_BGR2RGB)


def _legend(out: np.ndarray, lo: float, caption: str | None) -> None:
    """Draw, in place, a colour bar from ``lo`` to 1 and ``caption`` in the bottom-left
    corner of ``out`` (skipped on images too small to hold it)."""
    h, w = out.shape[:2]
    scale = max(0.35, min(1.0, w / 1000))
    pad, bar_h = round(6 * scale) + 2, round(10 * scale) + 4
    bar_w = min(w - 2 * pad, round(160 * scale) + 40)
    font = cv2.FONT_HERSHEY_SIMPLEX
    text_h = round(22 * scale) + 4
    box_h = bar_h + text_h * (2 if caption else 1) + pad
    if w < 140 or h < box_h + 2 * pad:
        return
    y0 = h - box_h - pad
    region = out[y0 : h - pad, pad : pad + bar_w + 2 * pad]
    region[:] = (region.astype(np.float32) * 0.35).astype(np.uint8)  # darken the backdrop
    ramp = np.linspace(lo, 1.0, bar_w, dtype=np.float32)[None, :].repeat(bar_h, axis=0)
    out[y0 + pad : y0 + pad + bar_h, 2 * pad : 2 * pad + bar_w] = _jet(ramp)
    white = (255, 255, 255)
    ty = y0 + pad + bar_h + text_h - 4
    cv2.putText(out, f"{lo:.2f}", (2 * pad, ty), font, 0.45 * scale + 0.1, white, 1, cv2.LINE_AA)
    cv2.putText(
        out, "1.0", (2 * pad + bar_w - round(24 * scale) - 8, ty), font, 0.45 * scale + 0.1,
        white, 1, cv2.LINE_AA,
    )  # fmt: skip
    if caption:
        cv2.putText(out, caption[:60], (2 * pad, ty + text_h), font, 0.45 * scale + 0.1, white,
                    1, cv2.LINE_AA)  # fmt: skip


def heatmap_overlay(
    image: np.ndarray,
    prob: np.ndarray,
    mask: np.ndarray | None = None,
    alpha: float = 0.45,
    *,
    threshold: float | None = None,
    caption: str | None = None,
) -> np.ndarray:
    """Blend a JET heatmap of ``prob`` over ``image`` and outline ``mask`` in white.

    Args:
        image: ``(H, W, 3)`` ``uint8`` RGB.
        prob: ``(H, W)`` probabilities in ``[0, 1]``.
        mask: optional ``(H, W)`` bool; its outline is drawn.
        alpha: heatmap opacity in ``[0, 1]``.
        threshold: when given, only pixels with ``prob > threshold`` are tinted (an
            untouched photo stays as it is) and a colour bar from ``threshold`` to 1 is
            drawn in the bottom-left corner, with ``caption`` under it (e.g. the file name
            and the image score), on images of at least 140 px a side.
        caption: one line of text under the colour bar.

    Returns ``(H, W, 3)`` ``uint8`` RGB of the image's size.
    """
    heat = _jet(prob)
    blended = cv2.addWeighted(image, 1.0 - alpha, heat, alpha, 0.0)
    if threshold is None:
        out = blended
    else:
        out = np.where((prob > threshold)[:, :, None], blended, image).astype(np.uint8)
    if mask is not None and mask.any():
        contours, _ = cv2.findContours(
            mask.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE
        )
        thickness = max(1, round(max(image.shape[:2]) / 400))
        cv2.drawContours(out, contours, -1, (255, 255, 255), thickness)
    if threshold is not None:
        out = np.ascontiguousarray(out)
        _legend(out, float(threshold), caption)
    return out


def _save_rgb(path: PathLike, rgb: np.ndarray) -> Path:
    """Save an RGB array as PNG or JPEG (quality 90) by the suffix of ``path``, atomically."""
    from PIL import Image

    img = Image.fromarray(rgb)
    fmt = "JPEG" if Path(path).suffix.lower() in (".jpg", ".jpeg") else "PNG"
    kwargs: dict[str, Any] = {"quality": 90} if fmt == "JPEG" else {}
    return atomic_write(path, lambda tmp: img.save(tmp, format=fmt, **kwargs))


@dataclass
class Prediction:
    """The localizer's output for one image.

    Attributes:
        name: unique name (the file stem for files; ``image<i>`` for arrays).
        prob: ``(H, W)`` ``float32`` probability map in ``[0, 1]`` at the original size.
        threshold: a pixel is in :attr:`mask` when ``prob > threshold``.
        score: image-level score in ``[0, 1]`` (:func:`boxpromptiml.metrics.image_score`).
        score_reduce: how the score was computed (one of
            :data:`boxpromptiml.metrics.IMAGE_REDUCTIONS`).
        untouched_share: share in ``[0, 1]`` of the model's untouched reference photos
            that scored at least :attr:`score` (:mod:`boxpromptiml.predict.reference`);
            ``None`` when the model carries no reference for the settings used.
        image: ``(H, W, 3)`` ``uint8`` RGB input (kept for :meth:`plot`; may be ``None``).
        path: the source file, ``None`` for in-memory images.
        timings: milliseconds spent per stage: ``load``, ``preprocess``, ``inference``
            (this image's share of its batch), ``postprocess``.
        info: how it was made: runtime, device, model file, precision, input size, tiling.
    """

    name: str
    prob: np.ndarray
    threshold: float
    score: float
    score_reduce: str = "max"
    untouched_share: float | None = None
    image: np.ndarray | None = None
    path: Path | None = None
    timings: dict[str, float] = field(default_factory=dict)
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def mask(self) -> np.ndarray:
        """``(H, W)`` bool: ``prob > threshold`` (the convention of :mod:`boxpromptiml.metrics`)."""
        return self.prob > self.threshold

    @property
    def shape(self) -> tuple[int, int]:
        """``(H, W)`` of the original image."""
        h, w = self.prob.shape
        return int(h), int(w)

    @property
    def mask_fraction(self) -> float:
        """Fraction of pixels in the mask, in ``[0, 1]``."""
        return float(np.count_nonzero(self.mask)) / max(1, self.prob.size)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready summary (no arrays)."""
        h, w = self.shape
        return {
            "name": self.name,
            "source": str(self.path) if self.path is not None else None,
            "width": w,
            "height": h,
            "score": round(self.score, 6),
            "score_reduce": self.score_reduce,
            **(
                {"untouched_share": round(self.untouched_share, 6)}
                if self.untouched_share is not None
                else {}
            ),
            "threshold": self.threshold,
            "mask_fraction": round(self.mask_fraction, 6),
            "timings_ms": {k: round(v, 3) for k, v in self.timings.items()},
            **self.info,
        }

    def plot(self, path: PathLike | None = None, alpha: float = 0.45) -> np.ndarray:
        """Heatmap overlay ``(H, W, 3)`` ``uint8`` RGB: the pixels above :attr:`threshold`
        tinted by their probability, the mask outlined, a colour bar with the file name and
        the image score in a corner; saved to ``path`` (PNG, or JPEG for ``.jpg``) if given.

        Without the image (``image=None``) the heatmap alone is drawn.
        """
        caption = f"{self.name}  score {self.score:.2f}"
        if self.image is None:
            base = np.zeros((*self.shape, 3), dtype=np.uint8)
            out = heatmap_overlay(
                base, self.prob, self.mask, alpha=1.0, threshold=self.threshold, caption=caption
            )
        else:
            out = heatmap_overlay(
                self.image, self.prob, self.mask, alpha=alpha, threshold=self.threshold,
                caption=caption,
            )  # fmt: skip
        if path is not None:
            _save_rgb(path, out)
        return out

    def save(
        self,
        out_dir: PathLike,
        *,
        map: bool = True,
        mask: bool = True,
        overlay: bool = True,
        json: bool = True,
        npy: bool = False,
    ) -> dict[str, Path]:
        """Write the chosen outputs under ``out_dir`` (layout in the module docstring).

        Returns a dict from kind (``map``, ``mask``, ``overlay``, ``json``, ``npy``) to the
        written path. Every file is written atomically.
        """
        out = Path(out_dir)
        wanted = {"map": map, "mask": mask, "overlay": overlay, "npy": npy}
        paths = {
            kind: out / SAVE_KINDS[kind][0] / f"{self.name}{SAVE_KINDS[kind][1]}"
            for kind, on in wanted.items()
            if on
        }
        if "map" in paths:
            save_png(paths["map"], self.prob)
        if "mask" in paths:
            save_png(paths["mask"], self.mask)
        if "overlay" in paths:
            self.plot(paths["overlay"])
        if "npy" in paths:
            target = paths["npy"]
            atomic_write(target, lambda tmp: np.save(tmp, self.prob.astype(np.float32)))
        if json:
            paths["json"] = out / SAVE_KINDS["json"][0] / f"{self.name}.json"
            record = self.to_dict()
            # relative to out_dir, so that the folder can be moved
            record["files"] = {k: str(p.relative_to(out)) for k, p in paths.items() if k != "json"}
            atomic_write_json(paths["json"], _finite(record))
        return paths


def _finite(obj: Any) -> Any:
    """Replace NaN/inf floats by ``None`` so the JSON is strict."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: _finite(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_finite(v) for v in obj]
    return obj
