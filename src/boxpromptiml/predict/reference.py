"""What an image score means: the scores of untouched reference photos a model may carry.

An image score (the map's mean, its top 1 %, ...) is a number in ``[0, 1]`` whose scale
depends on the model and its settings; a user cannot tell from ``0.063`` alone whether the
photo is suspicious. A packaged model may carry the image scores that it gave to a set of
untouched photos it never trained on (``reference`` in its inference settings, written by
``benchmarks/score_reference.py``), together with the settings they were computed with.
:func:`untouched_share` turns a new image's score into the share of those photos that
scored at least as high: ``0.04`` reads "only 4 % of the untouched reference photos look
this suspicious to the model", an empirical false-alarm rate a user can threshold.

The reference is only as good as its photos: a few dozen, from the sources it names.
The share is reported only when the localizer runs with the settings the reference was
computed with (:func:`matches`); other settings change every score.

A reference is a dict::

    {"name": str,                # what the photos are
     "scores": [float, ...],     # their image scores, each in [0, 1] (at least 10)
     "settings": {...}}          # the Localizer settings they were computed with
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from boxpromptiml.errors import ConfigError

__all__ = ["MIN_PHOTOS", "SCORE_SETTINGS", "check_reference", "matches", "untouched_share"]

#: the fewest reference photos accepted (with fewer, a share is too coarse to act on)
MIN_PHOTOS = 10
#: the Localizer settings that change an image's score, so a reference must match them
SCORE_SETTINGS = ("image_score", "tile", "overlap", "max_side", "tta", "calibration", "gate")


def check_reference(ref: Any) -> dict[str, Any]:
    """Validate a reference (see the module docstring) and return a clean copy with the
    scores sorted; raises :class:`~boxpromptiml.errors.ConfigError` naming the problem."""
    if not isinstance(ref, Mapping):
        raise ConfigError(f"reference must be a mapping with name, scores, settings; got {ref!r}")
    missing = [k for k in ("name", "scores", "settings") if k not in ref]
    if missing:
        raise ConfigError(f"reference lacks {', '.join(missing)}")
    scores = ref["scores"]
    if not isinstance(scores, list | tuple) or len(scores) < MIN_PHOTOS:
        raise ConfigError(
            f"reference scores must be a list of at least {MIN_PHOTOS} numbers, "
            f"got {len(scores) if isinstance(scores, list | tuple) else type(scores).__name__}"
        )
    clean = []
    for s in scores:
        if (
            isinstance(s, bool)
            or not isinstance(s, int | float)
            or not math.isfinite(s)
            or not 0.0 <= s <= 1.0
        ):
            raise ConfigError(f"reference scores must lie in [0, 1], got {s!r}")
        clean.append(float(s))
    settings = ref["settings"]
    if not isinstance(settings, Mapping) or "image_score" not in settings:
        raise ConfigError("reference settings must be a mapping that names its image_score")
    unknown = sorted(set(settings) - set(SCORE_SETTINGS))
    if unknown:
        raise ConfigError(f"reference settings: unknown {', '.join(unknown)}")
    return {"name": str(ref["name"]), "scores": sorted(clean), "settings": dict(settings)}


def matches(ref: Mapping[str, Any], settings: Mapping[str, Any]) -> bool:
    """Whether ``settings`` (a localizer's :data:`SCORE_SETTINGS`) are those the reference
    scores were computed with (a setting the reference does not name must be at its
    default, which the caller passes as absent or ``None``)."""
    want = ref["settings"]
    for key in SCORE_SETTINGS:
        a, b = want.get(key), settings.get(key)
        if isinstance(a, float) or isinstance(b, float):
            if a is None or b is None or not math.isclose(float(a), float(b), abs_tol=1e-9):
                return False
        elif a != b:
            return False
    return True


def untouched_share(scores: Sequence[float], score: float) -> float:
    """Share in ``[0, 1]`` of the reference ``scores`` (a reference's ``"scores"``) that are
    at least ``score``."""
    return sum(1 for s in scores if s >= score) / len(scores)
