"""Whole salient objects of a photo, for splices that paste an object as real ones do.

Real splices (CASIA v2, IMD2020, most hand-made fakes) paste a *whole object* of another
photo (a person, an animal, a car) cut along its outline. The synthesiser's drawn shapes
(superpixel segments, blobs, polygons) are parts of a scene instead. :func:`salient_object`
finds the photo's most salient object with U²-Netp (Qin et al. 2020, Apache-2.0 weights,
the same file as the ``u2netp`` teacher; fetched at set-up with
``python -m boxpromptiml.weights fetch``) and returns it as a mask when the network is
sure of it.

Acceptance rules (a donor that fails them yields ``None``; the caller draws again):

* the saliency map (min-max normalised per photo) is thresholded at 0.5 and the largest
  8-connected part kept, holes filled (:func:`~boxpromptiml.synth.shapes.clean_region`);
* the object covers ``MIN_AREA`` to ``MAX_AREA`` of the photo;
* the map is crisp: the masks at 0.35 and 0.65 agree (IoU >= ``MIN_STABILITY``, the
  teachers' SAM-style :func:`~boxpromptiml.teachers.maps.stability`);
* at most ``MAX_BORDER`` of the image border touches it, so that few objects are cut by
  the photo's frame (a pasted object with a straight cut edge is an easy clue).

The network runs once per call with one ONNX Runtime thread: the synthesiser's worker pool
is the parallelism. The session is created on first use in each process and kept.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from boxpromptiml.synth.shapes import clean_region
from boxpromptiml.teachers.maps import stability

MIN_AREA = 0.01
MAX_AREA = 0.6
MIN_STABILITY = 0.7
MAX_BORDER = 0.2

_SESSION: dict[str, Any] = {}


def _saliency(image: np.ndarray) -> np.ndarray:
    """U²-Netp saliency of an ``(H, W, 3)`` uint8 RGB image, ``(H, W)`` float32 in [0, 1]."""
    teacher = _SESSION.get("u2netp")
    if teacher is None:
        from boxpromptiml.teachers.u2netp import U2NetpTeacher

        teacher = _SESSION["u2netp"] = U2NetpTeacher(threads=1)
    out: np.ndarray = teacher.saliency([image])[0]
    return out


def check_available() -> None:
    """Raise :class:`~boxpromptiml.errors.CheckpointError` naming the set-up command when
    the U²-Netp weights are missing (call before starting a batch that needs them)."""
    from boxpromptiml.weights import require

    require("u2netp")


def border_share(mask: np.ndarray) -> float:
    """Share of the border pixels of an ``(H, W)`` bool mask's frame that lie inside it."""
    edge = np.concatenate([mask[0], mask[-1], mask[1:-1, 0], mask[1:-1, -1]])
    return float(edge.mean()) if edge.size else 0.0


def object_mask(saliency: np.ndarray) -> np.ndarray | None:
    """The object an ``(H, W)`` saliency map in [0, 1] shows, as an ``(H, W)`` bool mask,
    or ``None`` when it breaks an acceptance rule (see the module docstring)."""
    mask = clean_region(saliency > 0.5, open_px=2, close_px=2)
    area = float(mask.mean())
    if not MIN_AREA <= area <= MAX_AREA:
        return None
    if stability(saliency) < MIN_STABILITY:
        return None
    if border_share(mask) > MAX_BORDER:
        return None
    return mask


def salient_object(image: np.ndarray) -> np.ndarray | None:
    """The most salient whole object of an ``(H, W, 3)`` uint8 RGB photo as an ``(H, W)``
    bool mask in the photo's pixel frame, or ``None`` when there is no clear one."""
    return object_mask(_saliency(image))
