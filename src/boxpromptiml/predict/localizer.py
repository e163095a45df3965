"""The student as a localizer: images in, one :class:`Prediction` per image out.

Typical use::

    from boxpromptiml.predict import Localizer

    loc = Localizer.from_checkpoint("runs/train/exp/best.pt")   # or "model.onnx"
    for r in loc.predict(["a.jpg", "b.png"]):
        print(r.name, r.score)           # image-level score (max of the map by default)
        r.save("out")                    # out/maps/a.png, out/masks/a.png, ...
        r.plot("a_overlay.jpg")

Every image is resized to the model's square input (``resize_image``), run in batches,
and its map resized back to the original size (bilinear). With ``tile=True``, images
larger than the input are instead cut into overlapping windows at full resolution and the
window maps blended (:mod:`boxpromptiml.predict.tiling`).

An ``.onnx`` file runs through ONNX Runtime; neither this module nor the ONNX path
imports torch.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from boxpromptiml.data.images import cap_size
from boxpromptiml.errors import ConfigError, DataError
from boxpromptiml.metrics import IMAGE_REDUCTIONS, image_score
from boxpromptiml.predict.backends import Backend, load_backend
from boxpromptiml.predict.preprocess import (
    as_image,
    images_to_batch,
    resize_image,
    resize_prob,
)
from boxpromptiml.predict.reference import check_reference, matches, untouched_share
from boxpromptiml.predict.result import Prediction
from boxpromptiml.predict.tiling import predict_tiled

__all__ = [
    "PACKAGED_SETTINGS",
    "TTA_MODES",
    "Localizer",
    "Skipped",
    "check_choices",
    "expand_sources",
]

PathLike = str | os.PathLike[str]

#: test-time augmentation modes of :class:`Localizer` (mirrorings averaged with the input)
TTA_MODES = ("none", "h", "hv")
#: inference settings a packaged model may carry (``inference`` in the checkpoint or the
#: ONNX metadata); :meth:`Localizer.from_checkpoint` applies them unless told otherwise
PACKAGED_SETTINGS = (
    "tile", "max_side", "image_score", "overlap", "threshold", "calibration", "gate", "tta",
    "reference",
)  # fmt: skip


@dataclass(frozen=True)
class Skipped:
    """An input that could not be predicted: its name, source and the one-line reason."""

    name: str
    source: str
    reason: str


@dataclass
class _Loaded:
    name: str
    source: Any
    image: np.ndarray | None
    path: Path | None
    load_ms: float
    error: str | None = None


def expand_sources(images: Any) -> list[Any]:
    """Flatten what :meth:`Localizer.predict` accepts into a list of single image sources.

    A folder, a glob or a ``.txt`` list expands to its image files
    (:func:`boxpromptiml.data.sources.resolve_images`); a list or tuple is expanded item by
    item; a file path, an array or a PIL image stays as it is. Missing files stay in the
    list (they fail, one by one, when loaded).
    """
    if isinstance(images, list | tuple):
        out: list[Any] = []
        for item in images:
            out.extend(expand_sources(item))
        return out
    if isinstance(images, str | os.PathLike):
        from boxpromptiml.data.sources import resolve_images

        p = Path(images)
        s = str(images)
        is_glob = not p.exists() and any(ch in s for ch in "*?[")
        if p.is_dir() or is_glob or (p.is_file() and p.suffix.lower() == ".txt"):
            return list(resolve_images(p if not is_glob else s))
        return [p]
    return [images]


def _unique_names(sources: Sequence[Any], start: int = 0) -> list[str]:
    """File stems for paths (``stem__1``, ``stem__2`` for repeats), ``image<i>`` otherwise."""
    seen: dict[str, int] = {}
    names = []
    for i, src in enumerate(sources):
        base = Path(src).stem if isinstance(src, str | os.PathLike) else f"image{start + i}"
        if base in seen:
            seen[base] += 1
            names.append(f"{base}__{seen[base]}")
        else:
            seen[base] = 0
            names.append(base)
    return names


def _load(name: str, source: Any) -> _Loaded:
    t0 = time.perf_counter()
    try:
        image, path = as_image(source)
    except DataError as exc:
        return _Loaded(name, source, None, None, 0.0, str(exc))
    return _Loaded(name, source, image, path, (time.perf_counter() - t0) * 1000.0)


def calibrate(prob: np.ndarray, c: float) -> np.ndarray:
    """``prob`` remapped so that ``c`` becomes 0.5: ``[0, c] → [0, 0.5]`` and
    ``[c, 1] → [0.5, 1]``, linearly on each side (monotone: order and AUC are kept)."""
    p = np.asarray(prob, dtype=np.float32)
    low = 0.5 * p / c
    high = 0.5 + 0.5 * (p - c) / (1.0 - c)
    return np.where(p <= c, low, high).astype(np.float32)


def check_choices(settings: Mapping[str, Any]) -> None:
    """Raise :class:`ConfigError` when ``tta`` or ``image_score`` in ``settings`` (when
    present and not ``None``) is not one the predictor knows (:data:`TTA_MODES`,
    :data:`boxpromptiml.metrics.IMAGE_REDUCTIONS`), or a ``reference`` is malformed
    (:func:`~boxpromptiml.predict.reference.check_reference`)."""
    if settings.get("reference") is not None:
        check_reference(settings["reference"])
    for key, allowed in (("tta", TTA_MODES), ("image_score", IMAGE_REDUCTIONS)):
        value = settings.get(key)
        if value is not None and value not in allowed:
            raise ConfigError(f"{key} must be one of {', '.join(allowed)}, got {value!r}")


def gate_map(prob: np.ndarray, gate: float, reduce: str = "top1pct") -> np.ndarray:
    """``prob`` unchanged when its image score (``reduce``) is at least ``gate``; else
    scaled so that its maximum is under 0.5 (no mask pixel; the order of pixels kept)."""
    if image_score(prob, reduce) >= gate:
        return prob
    top = float(prob.max())
    return prob if top < 0.5 else (prob * (0.499 / top)).astype(np.float32)


class Localizer:
    """Predict manipulation maps with a trained student.

    Args:
        backend: a :class:`~boxpromptiml.predict.backends.Backend` (PyTorch or ONNX Runtime);
            usually built by :meth:`from_checkpoint`.
        threshold: mask threshold (``prob > threshold``), in ``[0, 1]``.
        image_score: map → image score reduction: ``max`` (default), ``mean``, ``top1pct``,
            ``top5pct``, ... (:data:`boxpromptiml.metrics.IMAGE_REDUCTIONS`).
        batch_size: images (or tiles) per forward pass.
        tile: sliding-window inference at full resolution for images larger than the
            model input (default: resize every image to the input).
        overlap: fraction of a tile shared with its neighbours when tiling, in ``[0, 1)``.
        max_side: with ``tile``, images whose longer side exceeds this are first
            downscaled to it (area interpolation) and their map upscaled back: bounds the
            time of very large photos (``None``: always at full resolution).
        tta: test-time augmentation: ``"none"`` (default), ``"h"`` (mean of the map and of
            the map of the horizontally mirrored input, 2 passes) or ``"hv"`` (also the
            vertically mirrored input, 3 passes). Slower by the number of passes.
        calibration: ``None`` (the raw map) or the raw value ``c`` in ``(0, 1)`` that should
            read as 0.5: the map is remapped monotonically and piecewise linearly
            (``[0, c] → [0, 0.5]``, ``[c, 1] → [0.5, 1]``), so the fixed 0.5 cut of every
            consumer of the map (masks, pixel F1 at 0.5) sits where it was calibrated.
            Rankings, pixel AUC and image AUC do not change. Packaged models may carry it
            (``benchmarks/calibration.py`` chooses it on held-out data).
        gate: ``None`` or an image-score cut: an image whose score (``image_score``, after
            calibration) is under it has its map scaled so that no pixel reaches 0.5 (no
            mask, the ranking inside the image kept). Quiets untouched photos at the price
            of missed forgeries under the cut (``benchmarks/gate.py`` measures it).
        reference: ``None`` or the image scores of untouched reference photos with the
            settings they were computed with (:mod:`boxpromptiml.predict.reference`);
            when the settings match, each :class:`Prediction` carries
            ``untouched_share``, the share of those photos that scored at least as high.
    """

    def __init__(
        self,
        backend: Backend,
        *,
        threshold: float = 0.5,
        image_score: str = "max",
        batch_size: int = 8,
        tile: bool = False,
        overlap: float = 0.25,
        tta: str = "none",
        max_side: int | None = None,
        calibration: float | None = None,
        gate: float | None = None,
        reference: Mapping[str, Any] | None = None,
    ) -> None:
        self.reference = None if reference is None else check_reference(reference)
        if gate is not None and not (isinstance(gate, int | float) and 0.0 <= float(gate) <= 1.0):
            raise ConfigError(f"gate must lie in [0, 1] (or None), got {gate!r}")
        self.gate = None if gate is None else float(gate)
        if calibration is not None and not (
            isinstance(calibration, int | float) and 0.0 < float(calibration) < 1.0
        ):
            raise ConfigError(f"calibration must lie in (0, 1) (or None), got {calibration!r}")
        self.calibration = None if calibration is None else float(calibration)
        check_choices({"tta": tta, "image_score": image_score})
        if not 0.0 <= threshold <= 1.0:
            raise ConfigError(f"threshold must lie in [0, 1], got {threshold}")
        if batch_size < 1:
            raise ConfigError(f"batch_size must be >= 1, got {batch_size}")
        if not 0.0 <= overlap < 1.0:
            raise ConfigError(f"tile overlap must lie in [0, 1), got {overlap}")
        if max_side is not None and (isinstance(max_side, bool) or int(max_side) < 32):
            raise ConfigError(f"max_side must be an integer >= 32 (or None), got {max_side!r}")
        self.max_side = None if max_side is None else int(max_side)
        self.backend = backend
        self.threshold = float(threshold)
        self.image_score = image_score
        self.batch_size = int(batch_size)
        self.tile = bool(tile)
        self.overlap = float(overlap)
        self.tta = tta

    @classmethod
    def from_checkpoint(
        cls, path: PathLike, device: str = "auto", *, threads: int | None = None, **kwargs: Any
    ) -> Localizer:
        """Load a student checkpoint (``.pt``, PyTorch) or an exported ``.onnx`` model
        (ONNX Runtime, no torch needed).

        Args:
            path: the model file.
            device: ``"auto"`` (CUDA when available, else CPU), ``"cpu"``, ``"cuda[:i]"``.
            threads: CPU threads for inference (default: the runtime's default).
            kwargs: options of :class:`Localizer` (``threshold``, ``batch_size``, ``tile``, ...).

        Settings the model was packaged with (:data:`PACKAGED_SETTINGS`: ``tile``,
        ``max_side``, ``image_score``, ``tta``, ...; see
        :func:`boxpromptiml.recipes.general.package_model`) apply unless ``kwargs`` set them.

        Raises :class:`~boxpromptiml.errors.CheckpointError` for a missing, foreign or
        newer-version file.
        """
        backend = load_backend(path, device=device, threads=threads)
        packaged = {
            k: v
            for k, v in (getattr(backend, "inference", None) or {}).items()
            if k in PACKAGED_SETTINGS
        }
        return cls(backend, **{**packaged, **kwargs})

    @classmethod
    def pretrained(
        cls,
        name: str | None = None,
        device: str = "auto",
        *,
        threads: int | None = None,
        **kwargs: Any,
    ) -> Localizer:
        """A general-purpose student shipped with the package (see ``docs/model-card.md``):
        ``name`` ``"general-v4"`` (default), ``"general-v3"``, ``"general-v3-fast"``,
        ``"general-v2"`` or ``"general-v1"``, with the inference settings it was measured
        with. ``kwargs`` as for :meth:`from_checkpoint`. Raises
        :class:`~boxpromptiml.errors.CheckpointError` for an unknown name or when this
        installation lacks the file."""
        from boxpromptiml.predict.shipped import shipped_model

        return cls.from_checkpoint(shipped_model(name), device=device, threads=threads, **kwargs)

    @property
    def input_size(self) -> int:
        """Square input side ``S`` of the model."""
        return int(self.backend.input_size)

    @property
    def info(self) -> dict[str, Any]:
        """Runtime, device, model file, precision and settings (saved with each prediction)."""
        ref = self.reference if self.reference_applies else None
        return {
            **self.backend.info,
            "input_size": self.input_size,
            "tiled": self.tile,
            **({"tile_overlap": self.overlap} if self.tile else {}),
            **({"max_side": self.max_side} if self.tile and self.max_side else {}),
            **({"tta": self.tta} if self.tta != "none" else {}),
            **({"calibration": self.calibration} if self.calibration is not None else {}),
            **({"gate": self.gate} if self.gate is not None else {}),
            **(
                {"reference": ref["name"], "reference_photos": len(ref["scores"])}
                if ref is not None
                else {}
            ),
        }

    @property
    def score_settings(self) -> dict[str, Any]:
        """The settings that change an image score
        (:data:`~boxpromptiml.predict.reference.SCORE_SETTINGS`; ``None`` where unused)."""
        return {
            "image_score": self.image_score,
            "tile": self.tile,
            "overlap": self.overlap if self.tile else None,
            "max_side": self.max_side if self.tile else None,
            "tta": self.tta,
            "calibration": self.calibration,
            "gate": self.gate,
        }

    @property
    def reference_applies(self) -> bool:
        """Whether a reference is loaded and was computed with this localizer's settings."""
        return self.reference is not None and matches(self.reference, self.score_settings)

    def _forward(self, batch: np.ndarray) -> np.ndarray:
        """``(B, 3, S, S)`` float32 batch → ``(B, S, S)`` probabilities, averaged over the
        mirrored copies that :attr:`tta` asks for (each mapped back before averaging)."""
        probs = self.backend(batch)
        if self.tta == "none":
            return probs
        total = probs.astype(np.float32, copy=True)
        axes = (3,) if self.tta == "h" else (3, 2)  # width, then height, of NCHW
        for axis in axes:
            flipped = np.ascontiguousarray(np.flip(batch, axis=axis))
            total += np.flip(self.backend(flipped), axis=axis - 1)  # (B, S, S): one axis less
        return total / np.float32(1 + len(axes))

    # ------------------------------------------------------------------ low level

    def predict_maps(self, images: Sequence[np.ndarray]) -> list[np.ndarray]:
        """Probability maps ``(H_i, W_i)`` ``float32`` for ``(H_i, W_i, 3)`` ``uint8`` images,
        each at its original size (one pass in batches of :attr:`batch_size`)."""
        return [p for p, _ in self._maps(list(images))]

    def _run(self, windows: list[np.ndarray]) -> np.ndarray:
        """``n`` images ``(S, S, 3)`` uint8 → ``(n, S, S)`` float32 probabilities."""
        out = []
        for i in range(0, len(windows), self.batch_size):
            out.append(self._forward(images_to_batch(windows[i : i + self.batch_size])))
        return np.concatenate(out, axis=0)

    def _maps(self, images: list[np.ndarray]) -> list[tuple[np.ndarray, dict[str, float]]]:
        """Maps and per-image timings (ms) for already loaded images."""
        s = self.input_size
        results: list[tuple[np.ndarray, dict[str, float]] | None] = [None] * len(images)
        plain = [i for i, im in enumerate(images) if not (self.tile and max(im.shape[:2]) > s)]
        for start in range(0, len(plain), self.batch_size):
            idx = plain[start : start + self.batch_size]
            t0 = time.perf_counter()
            resized = [resize_image(images[i], s) for i in idx]
            batch = images_to_batch(resized)
            t1 = time.perf_counter()
            probs = self._forward(batch)
            t2 = time.perf_counter()
            n = len(idx)
            for k, i in enumerate(idx):
                t3 = time.perf_counter()
                prob = resize_prob(probs[k], images[i].shape[:2])
                results[i] = (
                    prob,
                    {
                        "preprocess": (t1 - t0) * 1000.0 / n,
                        "inference": (t2 - t1) * 1000.0 / n,
                        "postprocess": (time.perf_counter() - t3) * 1000.0,
                    },
                )
        for i, im in enumerate(images):
            if results[i] is not None:
                continue
            t0 = time.perf_counter()
            full = im.shape[:2]
            if self.max_side is not None and max(full) > self.max_side:
                im = cap_size(im, self.max_side)
            prob, n_windows = predict_tiled(im, self._run, s, self.overlap, self.batch_size)
            if prob.shape != full:
                prob = resize_prob(prob, full)
            results[i] = (
                prob,
                {"inference": (time.perf_counter() - t0) * 1000.0, "windows": float(n_windows)},
            )
        out = [r for r in results if r is not None]
        if self.calibration is not None:
            out = [(calibrate(p, self.calibration), t) for p, t in out]
        if self.gate is not None:
            out = [(gate_map(p, self.gate, self.image_score), t) for p, t in out]
        return out

    # ------------------------------------------------------------------ public

    def predict(self, images: Any, *, keep_image: bool = True) -> list[Prediction]:
        """One :class:`Prediction` per image, in order.

        Args:
            images: a file path, a folder / glob / ``.txt`` list (expanded), a NumPy array
                ``(H, W, 3)`` (RGB, ``uint8`` or float in ``[0, 1]``), a PIL image, or a
                list of any of these.
            keep_image: keep the input image in each result (for :meth:`Prediction.plot`).

        Raises :class:`~boxpromptiml.errors.DataError` on the first unreadable input; use
        :meth:`stream` to skip bad files instead.
        """
        out: list[Prediction] = []
        for item in self.stream(images, keep_image=keep_image):
            if isinstance(item, Skipped):
                raise DataError(item.reason)
            out.append(item)
        return out

    def stream(
        self, images: Any, *, keep_image: bool = True, prefetch: bool = True
    ) -> Iterator[Prediction | Skipped]:
        """Predict lazily, one batch in memory at a time: yields a :class:`Prediction` per
        image, or a :class:`Skipped` for an input that cannot be read, in input order.

        With ``prefetch`` the next batch is read by a background thread while the current
        one runs (at most two batches are held).
        """
        sources = expand_sources(images)
        if not sources:
            raise DataError("no images given")
        names = _unique_names(sources)
        chunks = [
            list(zip(names[i : i + self.batch_size], sources[i : i + self.batch_size], strict=True))
            for i in range(0, len(sources), self.batch_size)
        ]
        yield from self._stream_chunks(chunks, keep_image, prefetch)

    def _stream_chunks(
        self,
        chunks: Iterable[list[tuple[str, Any]]],
        keep_image: bool,
        prefetch: bool,
    ) -> Iterator[Prediction | Skipped]:
        def load_chunk(chunk: list[tuple[str, Any]]) -> list[_Loaded]:
            return [_load(name, src) for name, src in chunk]

        if not prefetch:
            for chunk in chunks:
                yield from self._predict_loaded(load_chunk(chunk), keep_image)
            return
        it = iter(chunks)
        first = next(it, None)
        if first is None:
            return
        pool = ThreadPoolExecutor(max_workers=1)
        try:
            pending: Future[list[_Loaded]] | None = pool.submit(load_chunk, first)
            while pending is not None:
                loaded = pending.result()
                following = next(it, None)
                pending = pool.submit(load_chunk, following) if following is not None else None
                yield from self._predict_loaded(loaded, keep_image)
                del loaded
        finally:
            pool.shutdown(wait=True, cancel_futures=True)

    def _maps_or_errors(
        self, good: list[_Loaded]
    ) -> dict[str, tuple[np.ndarray, dict[str, float]] | str]:
        """Maps of a batch by name; if the batch fails (e.g. out of memory on one huge
        image), each image is retried alone and a failure becomes its one-line reason."""
        images = [x.image for x in good if x.image is not None]
        try:
            return {x.name: m for x, m in zip(good, self._maps(images), strict=True)}
        except (KeyboardInterrupt, SystemExit):
            raise
        except Exception:
            out: dict[str, tuple[np.ndarray, dict[str, float]] | str] = {}
            for x, im in zip(good, images, strict=True):
                try:
                    [out[x.name]] = self._maps([im])
                except (KeyboardInterrupt, SystemExit):
                    raise
                except Exception as exc:
                    msg = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
                    out[x.name] = f"{x.source}: prediction failed ({type(exc).__name__}: {msg})"
            return out

    def _predict_loaded(
        self, loaded: list[_Loaded], keep_image: bool
    ) -> Iterator[Prediction | Skipped]:
        by_name = self._maps_or_errors([x for x in loaded if x.image is not None])
        info = self.info
        ref = self.reference if self.reference_applies else None
        for x in loaded:
            result = by_name.get(x.name)
            if x.error is not None or x.image is None or isinstance(result, str) or result is None:
                reason = x.error or (result if isinstance(result, str) else "unreadable image")
                yield Skipped(x.name, str(x.source), reason)
                continue
            prob, timings = result
            t0 = time.perf_counter()
            score = image_score(prob, self.image_score)
            timings = {"load": x.load_ms, **timings}
            timings["postprocess"] = (
                timings.get("postprocess", 0.0) + (time.perf_counter() - t0) * 1000.0
            )
            n_windows = timings.pop("windows", None)
            yield Prediction(
                name=x.name,
                prob=prob,
                threshold=self.threshold,
                score=score,
                score_reduce=self.image_score,
                untouched_share=None if ref is None else untouched_share(ref["scores"], score),
                image=x.image if keep_image else None,
                path=x.path,
                timings=timings,
                info={**info, **({"windows": int(n_windows)} if n_windows else {})},
            )
