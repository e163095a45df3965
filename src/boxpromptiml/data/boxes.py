"""Box annotations in COCO detection JSON, the format CVAT and Label Studio export.

Coordinate frame used everywhere in the tool: **XYXY in pixels of the original image**
(after EXIF orientation), continuous coordinates with the origin at the top-left corner of
the top-left pixel, so a box ``(x1, y1, x2, y2)`` covers the pixel columns
``floor(x1) .. ceil(x2) - 1``. COCO stores ``bbox = [x, y, w, h]`` in the same frame.

An image listed in ``images`` with no annotation is **authentic**. Only one category is
used ("manipulated"); files with other category names are accepted when they hold exactly
one category, or when the category to use is named.
"""

from __future__ import annotations

import json
import os
import warnings
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from boxpromptiml.errors import DataError
from boxpromptiml.fileio import atomic_write_json

CATEGORY = "manipulated"
PathLike = str | os.PathLike[str]


class BoxWarning(UserWarning):
    """A box was clipped or dropped while reading or writing a box file."""


@dataclass
class ImageBoxes:
    """The boxes of one image: ``boxes`` is ``(N, 4)`` float64 XYXY, original pixel frame.

    ``N == 0`` means the image was judged authentic. ``extra`` keeps additional per-image
    fields (for example the annotation time in seconds) through a read/write round trip.
    """

    file_name: str
    width: int
    height: int
    boxes: np.ndarray = field(default_factory=lambda: np.zeros((0, 4)))
    image_id: int = 0
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def stem(self) -> str:
        return Path(self.file_name).stem

    @property
    def authentic(self) -> bool:
        return len(self.boxes) == 0


@dataclass
class BoxFile:
    """All box annotations of a dataset, in the order of the COCO ``images`` list."""

    images: list[ImageBoxes]
    info: dict[str, Any] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    #: file names of images that had boxes in the file, every one of them dropped as invalid
    emptied: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.images)

    def __iter__(self) -> Iterator[ImageBoxes]:
        return iter(self.images)

    def by_stem(self) -> dict[str, ImageBoxes]:
        """Map from file stem to entry; duplicate stems raise :class:`DataError`."""
        out: dict[str, ImageBoxes] = {}
        for im in self.images:
            if im.stem in out:
                raise DataError(f"box file lists two images with stem '{im.stem}'")
            out[im.stem] = im
        return out


def clip_boxes(
    boxes: np.ndarray, width: int, height: int, *, where: str = "", min_size: float = 1.0
) -> tuple[np.ndarray, list[str]]:
    """Clip ``(N, 4)`` XYXY boxes to the image; drop those smaller than ``min_size`` px.

    Returns the kept boxes and one message per clipped or dropped box.
    """
    msgs: list[str] = []
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    kept = []
    for i, b in enumerate(boxes):
        if not np.all(np.isfinite(b)):
            msgs.append(f"{where}box {i} {b.tolist()} has non-finite coordinates: dropped")
            continue
        x1, y1, x2, y2 = b
        c = np.array([max(0.0, x1), max(0.0, y1), min(float(width), x2), min(float(height), y2)])
        if c[2] - c[0] < min_size - 1e-6 or c[3] - c[1] < min_size - 1e-6:  # float error
            msgs.append(
                f"{where}box {i} {np.round(b, 2).tolist()} is degenerate "
                f"(under {min_size:g} px wide or high inside the {width}x{height} image): dropped"
            )
            continue
        if not np.allclose(c, b):
            msgs.append(
                f"{where}box {i} {np.round(b, 2).tolist()} extends outside the "
                f"{width}x{height} image: clipped to {np.round(c, 2).tolist()}"
            )
        kept.append(c)
    return (np.array(kept, dtype=np.float64).reshape(-1, 4), msgs)


def boxes_to_mask(boxes: np.ndarray, height: int, width: int) -> np.ndarray:
    """Union of XYXY boxes rasterised as an ``(H, W)`` bool mask (pixel-cover convention)."""
    mask = np.zeros((height, width), dtype=bool)
    for x1, y1, x2, y2 in np.asarray(boxes, dtype=np.float64).reshape(-1, 4):
        c0, r0 = max(0, int(np.floor(x1))), max(0, int(np.floor(y1)))
        c1, r1 = min(width, int(np.ceil(x2))), min(height, int(np.ceil(y2)))
        mask[r0:r1, c0:c1] = True
    return mask


def _pick_category(cats: list[dict[str, Any]], path: Path, category: str | None) -> set[int]:
    if not cats:
        return set()  # no categories: take every annotation
    wanted = category or CATEGORY
    ids = {int(c["id"]) for c in cats if str(c.get("name", "")).lower() == wanted.lower()}
    if ids:
        return ids
    if category is None and len(cats) == 1:
        return {int(cats[0]["id"])}
    names = ", ".join(repr(c.get("name")) for c in cats)
    raise DataError(f"{path}: no category named '{wanted}' among {names}; name the category to use")


def read_coco(path: PathLike, *, category: str | None = None, strict: bool = False) -> BoxFile:
    """Read a COCO detection JSON into a :class:`BoxFile`.

    Boxes outside the image are clipped and degenerate ones dropped, each with a
    :class:`BoxWarning`; annotations naming an unknown image id are reported the same way.
    With ``strict=True`` those problems raise :class:`DataError` instead.
    Problems are also collected in ``BoxFile.problems``.
    """
    p = Path(path)
    if not p.is_file():
        raise DataError(f"{p}: box file not found")
    try:
        data = json.loads(p.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise DataError(f"{p}: malformed JSON ({exc})") from exc
    if not isinstance(data, dict) or not isinstance(data.get("images"), list):
        raise DataError(f"{p}: not a COCO file (needs an 'images' list)")
    anns = data.get("annotations", [])
    if not isinstance(anns, list):
        raise DataError(f"{p}: 'annotations' must be a list")
    cats = data.get("categories") or []
    if not isinstance(cats, list) or not all(isinstance(c, dict) for c in cats):
        raise DataError(
            f'{p}: \'categories\' must be a list of objects like {{"id": 1, "name": "manipulated"}}'
        )
    try:
        cat_ids = _pick_category(cats, p, category)
    except (KeyError, TypeError, ValueError) as exc:
        raise DataError(f"{p}: malformed 'categories' ({exc})") from exc

    images: dict[int, ImageBoxes] = {}
    order: list[int] = []
    for i, im in enumerate(data["images"]):
        try:
            iid = int(im["id"])
            entry = ImageBoxes(
                file_name=str(im["file_name"]),
                width=int(im["width"]),
                height=int(im["height"]),
                image_id=iid,
                extra={
                    k: v for k, v in im.items() if k not in ("id", "file_name", "width", "height")
                },
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise DataError(
                f"{p}: images[{i}] needs integer 'id', 'width', 'height' and a 'file_name' ({exc})"
            ) from exc
        if entry.width <= 0 or entry.height <= 0:
            raise DataError(f"{p}: images[{i}] ({entry.file_name}) has a non-positive size")
        if iid in images:
            raise DataError(f"{p}: image id {iid} appears twice")
        images[iid] = entry
        order.append(iid)

    problems: list[str] = []
    raw: dict[int, list[list[float]]] = {iid: [] for iid in images}
    for j, ann in enumerate(anns):
        try:
            iid = int(ann["image_id"])
            if not isinstance(ann["bbox"], list | tuple):
                raise TypeError(f"bbox is {type(ann['bbox']).__name__}, not a list")
            bbox = [float(v) for v in ann["bbox"]]
            cid = int(ann.get("category_id", -1))
        except (KeyError, TypeError, ValueError) as exc:
            raise DataError(f"{p}: annotations[{j}] needs 'image_id' and 'bbox' ({exc})") from exc
        if len(bbox) != 4:
            raise DataError(f"{p}: annotations[{j}] bbox must be [x, y, w, h], got {bbox}")
        if cat_ids and cid not in cat_ids:
            continue
        if iid not in images:
            problems.append(f"{p}: annotations[{j}] refers to unknown image id {iid}: ignored")
            continue
        x, y, w, h = bbox
        raw[iid].append([x, y, x + w, y + h])
    emptied: list[str] = []
    for iid in order:
        im = images[iid]
        boxes, msgs = clip_boxes(
            np.array(raw[iid]), im.width, im.height, where=f"{p}: {im.file_name}: "
        )
        im.boxes = boxes
        problems.extend(msgs)
        if raw[iid] and not len(boxes):
            emptied.append(im.file_name)
    if problems:
        if strict:
            raise DataError(
                problems[0] + (f" (and {len(problems) - 1} more)" if len(problems) > 1 else "")
            )
        for msg in problems:
            warnings.warn(msg, BoxWarning, stacklevel=2)
    info = data.get("info") if isinstance(data.get("info"), dict) else {}
    return BoxFile([images[i] for i in order], dict(info or {}), problems, emptied)


def to_coco(box_file: BoxFile | Iterable[ImageBoxes]) -> dict[str, Any]:
    """The COCO detection dict of a box file (ids renumbered from 1, boxes clipped)."""
    entries = list(box_file.images if isinstance(box_file, BoxFile) else box_file)
    info = dict(box_file.info) if isinstance(box_file, BoxFile) else {}
    images, annotations = [], []
    ann_id = 1
    for k, im in enumerate(entries, start=1):
        boxes, msgs = clip_boxes(im.boxes, im.width, im.height, where=f"{im.file_name}: ")
        for msg in msgs:
            warnings.warn(msg, BoxWarning, stacklevel=2)
        images.append(
            {
                "id": k,
                "file_name": im.file_name,
                "width": int(im.width),
                "height": int(im.height),
                **im.extra,
            }
        )
        for x1, y1, x2, y2 in boxes:
            w, h = x2 - x1, y2 - y1
            annotations.append(
                {
                    "id": ann_id,
                    "image_id": k,
                    "category_id": 1,
                    "bbox": [
                        round(float(x1), 3),
                        round(float(y1), 3),
                        round(float(w), 3),
                        round(float(h), 3),
                    ],
                    "area": round(float(w * h), 3),
                    "iscrowd": 0,
                }
            )
            ann_id += 1
    return {
        "info": info,
        "images": images,
        "annotations": annotations,
        "categories": [{"id": 1, "name": CATEGORY, "supercategory": ""}],
    }


def write_coco(path: PathLike, box_file: BoxFile | Iterable[ImageBoxes]) -> Path:
    """Write a COCO detection JSON atomically; returns the path."""
    return atomic_write_json(path, to_coco(box_file))
