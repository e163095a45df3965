"""Pseudo-labelling a dataset: images + a COCO box file in, one pseudo-mask PNG per image out.

Output folder::

    OUT/<image stem>.png   pseudo-mask at the image's size: probability 0–255 (default;
                           > 127 is the mask) or binary 0/255 (``binary=True``)
    OUT/manifest.json      the teacher (name, version, checkpoint hash, options), the
                           encoding, and per image: boxes, confidences, sources,
                           fallbacks, problems; plus failed, missing and unboxed images

Images are paired with box-file entries by file stem. An entry with no boxes (an
authentic image) gets an all-zero pseudo-mask. An image absent from the box file is
reported (``unboxed``) and not labelled; a box-file entry without an image is reported
(``missing``); an unreadable image, or one whose size differs from the size the box file
records, is skipped and listed (``failed``) — the run goes on.

**Resumable.** Every PNG and every manifest update is written atomically (temporary file +
rename), PNG first, so a killed run leaves no half-written file. The manifest is rewritten
as images finish (at most once a second, and at the end). A rerun skips the images whose
manifest entry and PNG both exist; failed images are tried again. A folder made by another
teacher (or other options, or the other encoding) is refused unless ``overwrite=True``.

**Parallel.** ``workers > 1`` runs that many processes, each with its own teacher and one
compute thread (``BOXPROMPT_THREADS``); ``batch_size > 1`` (one process) hands the
teacher several images at a time, which the SAM teacher batches on a GPU.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from boxpromptiml import __version__
from boxpromptiml.data.boxes import BoxFile, ImageBoxes, read_coco
from boxpromptiml.data.images import image_size, load_image, save_png
from boxpromptiml.data.sources import Dataset, images_dataset
from boxpromptiml.errors import ConfigError, DataError
from boxpromptiml.fileio import atomic_write_json, output_dir
from boxpromptiml.teachers.base import Teacher
from boxpromptiml.teachers.quality import QualityReport, pseudo_quality
from boxpromptiml.teachers.registry import DEFAULT_TEACHER, build_teacher

PathLike = str | os.PathLike[str]
MANIFEST = "manifest.json"
FORMAT = "boxpromptiml-pseudo/1"
THREADS_ENV = "BOXPROMPT_THREADS"


@dataclass(frozen=True)
class Task:
    """One image to label: where it is, its boxes (``(N, 4)`` XYXY, original frame), the
    size the box file records ``(H, W)`` and where its PNG goes."""

    stem: str
    image: Path
    boxes: np.ndarray
    size_hw: tuple[int, int]
    out: Path


@dataclass
class PseudoResult:
    """What a :func:`pseudo_label` run did."""

    out_dir: Path
    manifest: Path
    labelled: list[str] = field(default_factory=list)
    resumed: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    missing: list[str] = field(default_factory=list)
    unboxed: list[str] = field(default_factory=list)
    fallbacks: int = 0
    seconds: float = 0.0
    quality: QualityReport | None = None
    #: boxes the box file held but that were dropped (NaN, zero-size, outside the image),
    #: and images left without any box by that (treated as authentic)
    box_problems: list[str] = field(default_factory=list)

    def summary(self) -> str:
        rate = len(self.labelled) / self.seconds if self.seconds > 0 else 0.0
        parts = [
            f"{self.out_dir}: {len(self.labelled)} labelled ({rate:.2f} img/s)",
            f"{len(self.resumed)} already done",
            f"{len(self.failed)} failed",
            f"{self.fallbacks} box fallbacks",
        ]
        if self.missing:
            parts.append(f"{len(self.missing)} box-file entries without an image")
        if self.unboxed:
            parts.append(f"{len(self.unboxed)} images not in the box file")
        if self.box_problems:
            parts.append(
                f"{len(self.box_problems)} box-file problem(s) (dropped boxes, images left "
                "without one), listed under box_problems in the manifest"
            )
        return ", ".join(parts)


# --------------------------------------------------------------------------- pairing


def _samples(images: PathLike | Sequence[PathLike] | Dataset) -> dict[str, Path]:
    ds = images if isinstance(images, Dataset) else images_dataset(images)
    out: dict[str, Path] = {}
    for s in ds:
        stem = s.image.stem
        if stem in out:
            raise DataError(f"two images share the stem '{stem}': {out[stem]} and {s.image}")
        out[stem] = s.image
    return out


def plan(
    images: PathLike | Sequence[PathLike] | Dataset, box_file: PathLike | BoxFile, out_dir: PathLike
) -> tuple[list[Task], list[str], list[str]]:
    """Pair images with box-file entries by stem: ``(tasks, missing, unboxed)``.

    ``missing``: box-file entries with no image; ``unboxed``: images with no entry.
    """
    boxes = box_file if isinstance(box_file, BoxFile) else read_coco(box_file)
    by_stem: dict[str, ImageBoxes] = boxes.by_stem()
    paths = _samples(images)
    out = Path(out_dir)
    tasks = [
        Task(
            stem,
            paths[stem],
            np.asarray(e.boxes, dtype=np.float64).reshape(-1, 4),
            (e.height, e.width),
            out / f"{stem}.png",
        )
        for stem, e in by_stem.items()
        if stem in paths
    ]
    missing = sorted(set(by_stem) - set(paths))
    unboxed = sorted(set(paths) - set(by_stem))
    return tasks, missing, unboxed


# --------------------------------------------------------------------------- labelling


def label_one(teacher: Teacher, task: Task, binary: bool) -> dict[str, Any]:
    """Label one image and write its PNG; returns its manifest record.

    Raises :class:`DataError` for an unreadable image or a size that differs from the box
    file's.
    """
    t0, c0 = time.perf_counter(), time.process_time()
    h, w = task.size_hw
    if len(task.boxes) == 0:  # authentic: no need to decode the pixels
        hw = image_size(task.image)
        _check_size(task, hw)
        prob = np.zeros(hw, dtype=np.float32)
        record: dict[str, Any] = {
            "boxes": [],
            "confidence": [],
            "source": [],
            "fallback": [],
            "problems": [],
        }
    else:
        image = load_image(task.image)
        _check_size(task, image.shape[:2])
        out = teacher.predict(image, task.boxes)
        prob, record = out.combined(), out.record()
    record = _save(task, prob, record, binary, time.perf_counter() - t0, (h, w))
    record["cpu_seconds"] = round(time.process_time() - c0, 4)
    return record


def boxes_key(task: Task) -> str:
    """sha256 of an image's boxes (rounded to 1/1000 px) and recorded size: a resumed run
    redoes an image whose boxes changed since its pseudo-mask was made."""
    import hashlib

    boxes = [[round(float(v), 3) for v in b] for b in np.asarray(task.boxes).reshape(-1, 4)]
    text = json.dumps({"boxes": boxes, "size": [int(v) for v in task.size_hw]})
    return hashlib.sha256(text.encode()).hexdigest()


def _check_size(task: Task, hw: tuple[int, ...]) -> None:
    if tuple(hw) != tuple(task.size_hw):
        raise DataError(
            f"{task.image}: image is {hw[1]}x{hw[0]} but the box file records "
            f"{task.size_hw[1]}x{task.size_hw[0]} (W x H)"
        )


def _save(
    task: Task,
    prob: np.ndarray,
    record: dict[str, Any],
    binary: bool,
    seconds: float,
    hw: tuple[int, int],
) -> dict[str, Any]:
    save_png(task.out, prob > 0.5 if binary else prob)
    return {
        "file": task.out.name,
        "image": str(task.image),
        "size": [int(hw[0]), int(hw[1])],
        "boxes_sha256": boxes_key(task),
        **record,
        "seconds": round(seconds, 4),
    }


# worker processes --------------------------------------------------------------------

_WORKER: dict[str, Any] = {}


def _init_worker(name: str, options: dict[str, Any], binary: bool, threads: int) -> None:
    os.environ[THREADS_ENV] = str(threads)
    import cv2

    cv2.setNumThreads(threads)
    try:  # torch only matters for the sam teacher; do not import it otherwise
        import sys

        if "torch" in sys.modules or name.startswith("sam"):
            import torch

            torch.set_num_threads(threads)
    except ImportError:
        pass
    _WORKER["teacher"] = build_teacher(name, **options)
    _WORKER["binary"] = binary


def _work(task: Task) -> tuple[str, dict[str, Any] | None, str | None]:
    import warnings

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # box problems are in the record
            return task.stem, label_one(_WORKER["teacher"], task, _WORKER["binary"]), None
    except DataError as exc:
        return task.stem, None, str(exc)


# manifest ----------------------------------------------------------------------------


class _Manifest:
    """The manifest in memory, written atomically at most every ``interval`` seconds."""

    def __init__(
        self, path: Path, header: dict[str, Any], overwrite: bool, interval: float = 1.0
    ) -> None:
        self.path = path
        self.interval = interval
        self._last = 0.0
        self.data: dict[str, Any] = {
            **header,
            "images": {},
            "failed": {},
            "missing": [],
            "unboxed": [],
        }
        if path.is_file() and not overwrite:
            try:
                old = json.loads(path.read_text(encoding="utf-8"))
            except (json.JSONDecodeError, UnicodeDecodeError) as exc:
                raise DataError(
                    f"{path}: malformed manifest ({exc}); use overwrite to start again"
                ) from exc
            for key in ("format", "teacher", "encoding"):
                if old.get(key) != header[key]:
                    raise DataError(
                        f"{path}: this folder holds pseudo-masks made with another {key} "
                        f"({_short(old.get(key))} vs {_short(header[key])}); use another output "
                        "folder or --overwrite"
                    )
            self.data["images"] = dict(old.get("images", {}))

    def done(self, task: Task) -> bool:
        """The image's pseudo-mask exists and was made from the boxes it has now."""
        rec = self.data["images"].get(task.stem)
        if rec is None or not (self.path.parent / rec["file"]).is_file():
            return False
        if "boxes_sha256" in rec:
            return bool(rec["boxes_sha256"] == boxes_key(task))
        # a manifest written before boxes were hashed: compare the boxes themselves
        old = np.asarray(rec.get("boxes") or [], dtype=np.float64).reshape(-1, 4)
        new = np.asarray(task.boxes, dtype=np.float64).reshape(-1, 4)
        return old.shape == new.shape and bool(np.allclose(old, new, atol=1e-3))

    def add(self, stem: str, record: dict[str, Any] | None, error: str | None) -> None:
        if record is not None:
            self.data["images"][stem] = record
            self.data["failed"].pop(stem, None)
        else:
            self.data["failed"][stem] = error
        if time.monotonic() - self._last >= self.interval:
            self.write()

    def write(self) -> None:
        images = self.data["images"].values()
        self.data["summary"] = {
            "images": len(self.data["images"]),
            "authentic": sum(1 for r in images if not r["boxes"]),
            "boxes": sum(len(r["boxes"]) for r in images),
            "fallbacks": sum(sum(f is not None for f in r["fallback"]) for r in images),
            "failed": len(self.data["failed"]),
        }
        atomic_write_json(self.path, self.data)
        self._last = time.monotonic()


def _short(value: Any) -> str:
    if isinstance(value, dict):
        return f"{value.get('name')} v{value.get('version')} ({str(value.get('checkpoint'))[:12]})"
    return str(value)


def _teacher_spec(
    teacher: str | Teacher, options: dict[str, Any] | None
) -> tuple[Teacher | None, str, dict[str, Any]]:
    if isinstance(teacher, Teacher):
        if options:
            raise ConfigError("teacher options go with a teacher name, not a built teacher")
        return teacher, teacher.label, {}
    return None, teacher, dict(options or {})


def _refuse_input_folders(out: Path, tasks: Sequence[Task], gt: Dataset | None) -> None:
    """Refuse an output folder that holds input images or ground-truth masks: the
    pseudo-masks (``<stem>.png``) would replace them without a word."""
    target = out.resolve()
    inputs = {t.image.resolve().parent for t in tasks}
    masks = {s.mask.resolve().parent for s in (gt or []) if s.mask is not None}
    if target in inputs:
        raise ConfigError(f"{out}: the output folder holds the input images; choose another")
    if target in masks:
        raise ConfigError(f"{out}: the output folder holds the ground-truth masks; choose another")


def pseudo_label(
    images: PathLike | Sequence[PathLike] | Dataset,
    box_file: PathLike | BoxFile,
    out_dir: PathLike,
    teacher: str | Teacher = DEFAULT_TEACHER,
    *,
    teacher_options: dict[str, Any] | None = None,
    binary: bool = False,
    workers: int = 1,
    batch_size: int = 1,
    overwrite: bool = False,
    progress: bool = True,
    gt: Dataset | None = None,
) -> PseudoResult:
    """Write a pseudo-mask per image of ``box_file`` into ``out_dir`` (see the module docstring).

    Args:
        images: an image folder, glob, ``.txt`` list, a list of those, or a
            :class:`~boxpromptiml.data.sources.Dataset` (its images; masks unused).
        box_file: a COCO box file (path) or a :class:`~boxpromptiml.data.boxes.BoxFile`.
        out_dir: output folder (created).
        teacher: a registered name (``"ensemble"``, ``"u2netp+grabcut"``, ...) or a built
            :class:`Teacher` (then ``workers`` must be 1).
        teacher_options: options for :func:`~boxpromptiml.teachers.build_teacher`.
        binary: write 0/255 masks instead of 0–255 probabilities.
        workers: processes (each builds its own teacher).
        batch_size: images per :meth:`Teacher.predict_batch` call (one process only).
        overwrite: start again in a folder made with another teacher or encoding.
        progress: show a tqdm progress bar.
        gt: a dataset with ground-truth masks: score the pseudo-masks
            (:func:`~boxpromptiml.teachers.quality.pseudo_quality`) and write
            ``quality.json``.
    """
    from tqdm.auto import tqdm

    if workers < 1 or batch_size < 1:
        raise ConfigError(
            f"workers and batch_size must be at least 1, got {workers} and {batch_size}"
        )
    built, name, options = _teacher_spec(teacher, teacher_options)
    if built is not None and workers > 1:
        raise ConfigError("pass the teacher by name to use several workers (each builds its own)")
    if workers > 1 and batch_size > 1:
        raise ConfigError(
            "use either several workers (CPU) or a batch size above 1 (GPU), not both"
        )
    out = Path(out_dir)
    if not isinstance(box_file, BoxFile):
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # listed in the manifest and the summary instead
            box_source: PathLike | BoxFile = box_file
            box_file = read_coco(box_file)
    else:
        box_source = "(in memory)"
    box_problems = list(box_file.problems)
    box_problems += [
        f"{name}: every box was dropped: treated as authentic" for name in box_file.emptied
    ]
    box_problems += [
        f"{e.file_name}: status 'todo' in the annotation app (its boxes were deleted and it "
        "was not marked authentic): treated as authentic"
        for e in box_file
        if e.extra.get("status") == "todo" and not len(e.boxes)
    ]
    tasks, missing, unboxed = plan(images, box_file, out)
    _refuse_input_folders(out, tasks, gt)
    if built is None and workers == 1:
        built = build_teacher(name, **options)
    info = built.info.to_dict() if built is not None else _probe_info(name, options)
    header = {
        "format": FORMAT,
        "teacher": info,
        "encoding": "binary" if binary else "probability",
        "created_by": f"boxpromptiml {__version__}",
        "box_file": str(box_source),
    }
    output_dir(out, "pseudo-mask folder")
    _remove_stale_temporaries(out, [t.stem for t in tasks])
    manifest = _Manifest(out / MANIFEST, header, overwrite)
    manifest.data["missing"], manifest.data["unboxed"] = missing, unboxed
    manifest.data["box_problems"] = box_problems
    result = PseudoResult(
        out, manifest.path, missing=missing, unboxed=unboxed, box_problems=box_problems
    )
    finished = [manifest.done(t) for t in tasks]
    todo = [t for t, f in zip(tasks, finished, strict=True) if not f]
    result.resumed = [t.stem for t, f in zip(tasks, finished, strict=True) if f]
    t0 = time.perf_counter()
    bar = tqdm(total=len(todo), unit="img", desc=f"pseudo {name}", disable=not progress)
    try:
        for stem, record, error in _run(todo, built, name, options, binary, workers, batch_size):
            manifest.add(stem, record, error)
            if record is not None:
                result.labelled.append(stem)
                result.fallbacks += sum(f is not None for f in record["fallback"])
            else:
                result.failed[stem] = str(error)
            bar.update(1)
    finally:
        bar.close()
        manifest.write()
        result.seconds = time.perf_counter() - t0
    if gt is not None:
        result.quality = pseudo_quality(out, gt)
        result.quality.save(out / "quality.json")
    return result


def _remove_stale_temporaries(out: Path, stems: list[str]) -> None:
    """Delete the temporary files a killed process left (``.<stem>.<random>.png``, see
    :func:`boxpromptiml.fileio.atomic_write`); the files they were meant for are intact."""
    prefixes = tuple(f".{s}." for s in [*stems, "manifest", "quality"])
    for p in out.iterdir():
        if p.name.startswith(prefixes) and p.suffix in (".png", ".json") and p.is_file():
            p.unlink(missing_ok=True)


def _probe_info(name: str, options: dict[str, Any]) -> dict[str, Any]:
    """The teacher's info, from a throw-away instance (workers build their own)."""
    return build_teacher(name, **options).info.to_dict()


def _run(
    todo: list[Task],
    teacher: Teacher | None,
    name: str,
    options: dict[str, Any],
    binary: bool,
    workers: int,
    batch_size: int,
) -> Iterator[tuple[str, dict[str, Any] | None, str | None]]:
    if not todo:
        return
    if workers > 1:
        from boxpromptiml.workers import spawn_pool

        threads = max(1, (os.cpu_count() or 1) // workers)
        # spawned: onnxruntime and torch thread pools do not survive fork
        with spawn_pool(workers, _init_worker, (name, options, binary, threads)) as pool:
            yield from pool.imap_unordered(_work, todo)
        return
    assert teacher is not None
    for start in range(0, len(todo), batch_size):
        chunk = todo[start : start + batch_size]
        if batch_size == 1:
            t = chunk[0]
            try:
                yield t.stem, label_one(teacher, t, binary), None
            except DataError as exc:
                yield t.stem, None, str(exc)
            continue
        yield from _run_batch(teacher, chunk, binary)


def _run_batch(
    teacher: Teacher, chunk: list[Task], binary: bool
) -> Iterator[tuple[str, dict[str, Any] | None, str | None]]:
    """Label ``chunk`` with one :meth:`Teacher.predict_batch` call (authentic ones apart)."""
    ready: list[tuple[Task, np.ndarray]] = []
    for t in chunk:
        if len(t.boxes) == 0:
            try:
                yield t.stem, label_one(teacher, t, binary), None
            except DataError as exc:
                yield t.stem, None, str(exc)
            continue
        try:
            image = load_image(t.image)
            _check_size(t, image.shape[:2])
        except DataError as exc:
            yield t.stem, None, str(exc)
            continue
        ready.append((t, image))
    if not ready:
        return
    t0 = time.perf_counter()
    outs = teacher.predict_batch([im for _, im in ready], [t.boxes for t, _ in ready])
    each = (time.perf_counter() - t0) / len(ready)
    for (t, _), o in zip(ready, outs, strict=True):
        yield t.stem, _save(t, o.combined(), o.record(), binary, each, t.size_hw), None
