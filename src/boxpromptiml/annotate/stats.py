"""Annotation effort from a box file: time and boxes per image, to compare with the paper.

The annotation app stores per image ``"annotation_seconds"`` (time the page showed it) and
``"status"``. :func:`annotation_stats` summarises them; the paper reports about 7 s per
image for boxes against about 23 minutes for a pixel mask (PAPER.md).
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from boxpromptiml.data.boxes import read_coco

__all__ = ["PAPER_SECONDS_PER_IMAGE", "annotation_stats", "format_stats"]

#: The paper's reported box-annotation time per image (seconds).
PAPER_SECONDS_PER_IMAGE = 7.0


def _describe(values: list[float]) -> dict[str, float]:
    if not values:
        return {"n": 0, "mean": float("nan"), "median": float("nan"), "total": 0.0}
    v = np.asarray(values, dtype=np.float64)
    return {
        "n": int(v.size),
        "mean": float(v.mean()),
        "median": float(np.median(v)),
        "p90": float(np.quantile(v, 0.9)),
        "total": float(v.sum()),
    }


def annotation_stats(
    box_file: str | os.PathLike[str], image_dir: str | os.PathLike[str] | None = None
) -> dict[str, Any]:
    """Counts and timings of a COCO box file written by ``boxprompt annotate``.

    Returns ``images`` (entries), ``status`` (count per status; entries without one count
    as ``"boxes"`` or ``"authentic"`` by their boxes), ``boxes_per_image`` and
    ``seconds_per_image`` (over entries with recorded time: n, mean, median, p90, total),
    ``seconds_per_box`` (total time / boxes, over boxed images with time), and, with
    ``image_dir``, ``not_annotated``: images of the folder the file does not list (they
    are left out of pseudo-labelling, not taken as authentic).
    """
    bf = read_coco(box_file)
    status: dict[str, int] = {}
    boxes, seconds, boxed_time, boxed_n = [], [], 0.0, 0
    for e in bf:
        st = str(e.extra.get("status") or ("boxes" if len(e.boxes) else "authentic"))
        status[st] = status.get(st, 0) + 1
        boxes.append(float(len(e.boxes)))
        s = e.extra.get("annotation_seconds")
        if isinstance(s, int | float) and s > 0:
            seconds.append(float(s))
            if len(e.boxes):
                boxed_time += float(s)
                boxed_n += len(e.boxes)
    out: dict[str, Any] = {
        "file": str(box_file),
        "images": len(bf),
        "status": status,
        "boxes_per_image": _describe(boxes),
        "seconds_per_image": _describe(seconds),
        "seconds_per_box": boxed_time / boxed_n if boxed_n else float("nan"),
        "paper_seconds_per_image": PAPER_SECONDS_PER_IMAGE,
    }
    if image_dir is not None:
        from boxpromptiml.data.sources import resolve_images

        listed = {e.stem for e in bf}
        out["not_annotated"] = sorted(
            p.name for p in resolve_images(image_dir) if p.stem not in listed
        )
    return out


def format_stats(stats: dict[str, Any]) -> str:
    """The stats as a few lines of text."""
    t, b = stats["seconds_per_image"], stats["boxes_per_image"]
    status = ", ".join(f"{k} {v}" for k, v in sorted(stats["status"].items()))
    lines = [
        f"{stats['file']}: {stats['images']} image(s) ({status or 'none'})",
        f"boxes per image: mean {b['mean']:.2f}, median {b['median']:.1f}",
    ]
    if t["n"]:
        lines.append(
            f"seconds per image ({t['n']} timed): mean {t['mean']:.1f}, median "
            f"{t['median']:.1f}, 90th percentile {t['p90']:.1f}, total {t['total'] / 60:.1f} min; "
            f"per box {stats['seconds_per_box']:.1f} s (paper: about "
            f"{stats['paper_seconds_per_image']:g} s per image)"
        )
    else:
        lines.append("no annotation time recorded (the file was not made with boxprompt annotate)")
    missing = stats.get("not_annotated")
    if missing:
        lines.append(
            f"{len(missing)} image(s) of the folder not annotated yet (left out of pseudo "
            f"labelling, not taken as authentic): {', '.join(missing[:5])}"
            + (" ..." if len(missing) > 5 else "")
        )
    return "\n".join(lines)
