"""State of an annotation session: the images of one folder and their boxes.

Boxes are ``(N, 4)`` float XYXY in pixels of the original image (after EXIF orientation),
the frame of :mod:`boxpromptiml.data.boxes`. Every change is written at once to the COCO
file with :func:`~boxpromptiml.data.boxes.write_coco` (an atomic replace), so a killed
process loses at most the change in flight and a restart resumes from the file.

Per image, ``ImageBoxes.extra`` records:

- ``"status"``: ``"boxes"`` (has boxes), ``"authentic"`` (marked authentic: no boxes) or
  ``"todo"`` (all boxes deleted and not marked authentic);
- ``"annotation_seconds"``: accumulated time the page showed the image.

An image is *done* when it has boxes or was marked authentic. The file lists every image
of a loaded file (so nothing a CVAT export held is lost) plus each image finished here;
images never finished are left out, so they are not mistaken for authentic ones.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from boxpromptiml.data.boxes import BoxFile, ImageBoxes, clip_boxes, read_coco, write_coco
from boxpromptiml.data.images import image_size
from boxpromptiml.data.sources import resolve_images
from boxpromptiml.errors import ConfigError, DataError

DONE = ("boxes", "authentic")
MAX_SECONDS_PER_UPDATE = 600.0  # one report of elapsed time is capped (a tab left open)


@dataclass
class ImageState:
    """One image of the folder: its path and its (possibly not yet saved) box entry."""

    path: Path
    entry: ImageBoxes
    listed: bool  # written to the file even when not done (it came from a loaded file)

    @property
    def status(self) -> str:
        """``"boxes"``, ``"authentic"`` or ``"todo"``."""
        st = self.entry.extra.get("status")
        if st in ("boxes", "authentic", "todo"):
            return str(st)
        return "boxes" if len(self.entry.boxes) else "todo"

    @property
    def done(self) -> bool:
        return self.status in DONE

    def summary(self, index: int) -> dict[str, Any]:
        """JSON-ready description (boxes as lists of 4 floats, XYXY original pixels)."""
        return {
            "index": index,
            "name": self.path.name,
            "width": self.entry.width,
            "height": self.entry.height,
            "boxes": [[round(float(v), 3) for v in b] for b in self.entry.boxes],
            "status": self.status,
            "done": self.done,
            "seconds": round(float(self.entry.extra.get("annotation_seconds", 0.0)), 1),
        }


class AnnotationSession:
    """The images of ``image_dir`` (not recursive, sorted) and the COCO file ``out``.

    An existing ``out`` is read with :func:`read_coco`; its entries are matched to the
    folder's images by file name (base name). Entries naming images absent from the folder
    are kept untouched in the file. Thread-safe: every method holds one lock.
    """

    def __init__(self, image_dir: str | Path, out: str | Path) -> None:
        self.image_dir = Path(image_dir)
        if not self.image_dir.is_dir():
            raise DataError(f"{self.image_dir}: not a folder")
        self.out = Path(out)
        self._lock = threading.Lock()
        paths = resolve_images(self.image_dir)
        names = [p.name for p in paths]
        if len(set(names)) != len(names):
            raise DataError(f"{self.image_dir}: duplicate image names")
        loaded: dict[str, ImageBoxes] = {}
        self._others: list[ImageBoxes] = []
        self._info: dict[str, Any] = {}
        if self.out.exists():
            box_file = read_coco(self.out)
            self._info = dict(box_file.info)
            for im in box_file:
                key = Path(im.file_name).name
                if key in names and key not in loaded:
                    loaded[key] = im
                else:
                    self._others.append(im)
        self.images: list[ImageState] = []
        for p in paths:
            if p.name in loaded:
                entry = loaded[p.name]
                h, w = image_size(p)
                if (h, w) != (entry.height, entry.width):
                    raise DataError(
                        f"{self.out}: {p.name} is listed as {entry.width}x{entry.height} "
                        f"but the image is {w}x{h}"
                    )
                self.images.append(ImageState(p, entry, listed=True))
            else:
                h, w = image_size(p)
                entry = ImageBoxes(file_name=p.name, width=w, height=h)
                self.images.append(ImageState(p, entry, listed=False))

    def __len__(self) -> int:
        return len(self.images)

    def get(self, index: int) -> ImageState:
        """The image at ``index``; :class:`ConfigError` when out of range."""
        if not 0 <= index < len(self.images):
            raise ConfigError(f"image index {index} out of range 0..{len(self.images) - 1}")
        return self.images[index]

    def progress(self) -> dict[str, Any]:
        """Counts and the index of the first image not done (``None`` when all are)."""
        with self._lock:
            done = [s.done for s in self.images]
        todo = [i for i, d in enumerate(done) if not d]
        return {
            "count": len(done),
            "done": sum(done),
            "first_todo": todo[0] if todo else None,
        }

    def next_todo(self, after: int) -> int | None:
        """The first image not done after ``after`` (wrapping around), or ``None``."""
        n = len(self.images)
        with self._lock:
            for k in range(1, n + 1):
                i = (after + k) % n
                if not self.images[i].done:
                    return i
        return None

    def set_boxes(self, index: int, boxes: Any, seconds: float = 0.0) -> ImageState:
        """Replace the boxes of image ``index`` (``(N, 4)`` XYXY original pixels) and save.

        Boxes are clipped to the image; degenerate ones (under 1 px) are dropped. With no
        box left the status becomes ``"todo"``.
        """
        state = self.get(index)
        try:
            arr = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"boxes must be a list of [x1, y1, x2, y2] ({exc})") from exc
        kept, _ = clip_boxes(arr, state.entry.width, state.entry.height)
        with self._lock:
            state.entry.boxes = kept
            state.entry.extra["status"] = "boxes" if len(kept) else "todo"
            self._add_seconds(state, seconds)
            self._save()
        return state

    def mark_authentic(self, index: int, seconds: float = 0.0) -> ImageState:
        """Mark image ``index`` authentic (removes its boxes) and save."""
        state = self.get(index)
        with self._lock:
            state.entry.boxes = np.zeros((0, 4))
            state.entry.extra["status"] = "authentic"
            self._add_seconds(state, seconds)
            self._save()
        return state

    def add_time(self, index: int, seconds: float) -> ImageState:
        """Add ``seconds`` of annotation time to image ``index``; saved when it is listed."""
        state = self.get(index)
        with self._lock:
            self._add_seconds(state, seconds)
            if state.listed or state.done:
                self._save()
        return state

    @staticmethod
    def _add_seconds(state: ImageState, seconds: float) -> None:
        s = float(seconds)
        if not np.isfinite(s) or s < 0:
            raise ConfigError(f"seconds must be a non-negative number, got {seconds}")
        total = float(state.entry.extra.get("annotation_seconds", 0.0))
        state.entry.extra["annotation_seconds"] = round(total + min(s, MAX_SECONDS_PER_UPDATE), 3)

    def _save(self) -> None:
        entries = [s.entry for s in self.images if s.listed or s.done]
        for s in self.images:
            if s.done:
                s.listed = True  # once written, an image stays in the file
        write_coco(self.out, BoxFile(entries + self._others, self._info))
