"""Synthetic manipulated datasets with exact masks, made from any folder of authentic photos.

Three kinds of manipulation (splicing, copy-move, removal by inpainting), object-like or
random region shapes, optional colour matching and feathering, whole-image
post-processing, authentic negatives, a COCO box file from the simulated annotator and a
manifest that records how every image was made. See ``docs/synth.md``.

    >>> from boxpromptiml.synth import make_dataset
    >>> make_dataset(None, "runs/synth/demo", n=20, seed=0)  # bundled photos  # doctest: +SKIP
"""

from __future__ import annotations

from boxpromptiml.synth.dataset import make_dataset
from boxpromptiml.synth.generate import KINDS, SynthConfig, SynthResult, synthesize
from boxpromptiml.synth.photos import DEFAULT_PHOTOS, Photo, as_photos, default_photos

__all__ = [
    "DEFAULT_PHOTOS",
    "KINDS",
    "Photo",
    "SynthConfig",
    "SynthResult",
    "as_photos",
    "default_photos",
    "make_dataset",
    "synthesize",
]
