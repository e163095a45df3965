"""Dataset sources: where images and their masks come from.

Three kinds of source are understood, all resolved here and nowhere else:

(a) **Paired folders**: a root with ``Tp/`` (images) and ``Gt/`` (masks), optionally
    ``Au/`` (authentic images, no masks); or an image folder plus an explicit mask folder.
    Images and masks are paired **by file stem** (extensions may differ; a mask stem may
    carry a suffix such as ``_gt`` or ``_mask``). Unpaired files are an error that lists them,
    never a silent pairing by sort order.
(b) **JSON lists** in the IMDL-BenCo style: ``[[image_path, mask_path], ...]`` where the mask
    path ``"Negative"`` marks an authentic image. Relative paths are resolved against the
    JSON file's folder.
(c) **Plain images** without masks (for predict): a file, a folder, a glob, or a ``.txt``
    list of paths (one a line, ``#`` comments allowed).
"""

from __future__ import annotations

import glob as globlib
import json
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
from PIL import Image

from boxpromptiml.data.images import IMAGE_EXTENSIONS, load_image, load_mask, resize_mask
from boxpromptiml.errors import DataError

PathLike = str | os.PathLike[str]
SizeMismatch = Literal["error", "skip", "resize"]
DEFAULT_MASK_SUFFIXES: tuple[str, ...] = ("", "_gt", "_mask", "_GT", "_Mask")
NEGATIVE = "Negative"


@dataclass(frozen=True)
class Sample:
    """One image of a dataset.

    ``name`` is unique within its dataset (the image's file stem); ``mask`` is ``None``
    for authentic or unlabelled images; ``label`` is 1 (manipulated), 0 (authentic) or
    ``None`` (unknown, e.g. images given to predict).
    """

    name: str
    image: Path
    mask: Path | None = None
    label: int | None = None


@dataclass
class Dataset:
    """A named list of samples plus the problems met while resolving it."""

    name: str
    samples: list[Sample]
    problems: list[str] = field(default_factory=list)
    #: How to resolve the dataset again: ``{"source", "masks", "mask_suffixes"}`` with
    #: absolute paths (set by :func:`load_dataset`; empty for hand-made datasets).
    spec: dict[str, Any] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.samples)

    def __iter__(self) -> Iterator[Sample]:
        return iter(self.samples)

    def subset(self, names: Sequence[str], name: str | None = None) -> Dataset:
        """Samples whose name is in ``names`` (in that order); unknown names raise DataError."""
        by_name = {s.name: s for s in self.samples}
        missing = [n for n in names if n not in by_name]
        if missing:
            raise DataError(
                f"{self.name}: {len(missing)} requested name(s) not in the dataset: "
                + ", ".join(missing[:10])
                + (" ..." if len(missing) > 10 else "")
            )
        return Dataset(name or self.name, [by_name[n] for n in names], list(self.problems))


def _list_images(folder: Path) -> list[Path]:
    return sorted(
        p
        for p in folder.iterdir()
        if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS and not p.name.startswith(".")
    )


def _by_stem(paths: list[Path], what: str, folder: Path) -> dict[str, Path]:
    out: dict[str, Path] = {}
    dupes: list[str] = []
    for p in paths:
        if p.stem in out:
            dupes.append(f"{out[p.stem].name} / {p.name}")
        out[p.stem] = p
    if dupes:
        raise DataError(
            f"{folder}: several {what} files share a stem, cannot pair them: "
            + "; ".join(dupes[:10])
        )
    return out


def _strip_suffix(stem: str, suffixes: Sequence[str]) -> str:
    # the longest matching suffix wins, so "_mask" is stripped before "" matches
    for suf in sorted(suffixes, key=len, reverse=True):
        if suf and stem.endswith(suf):
            return stem[: -len(suf)]
    return stem


def pair_folders(
    images: PathLike,
    masks: PathLike,
    *,
    mask_suffixes: Sequence[str] = DEFAULT_MASK_SUFFIXES,
    name: str | None = None,
    allow_unpaired: bool = False,
) -> Dataset:
    """Pair an image folder with a mask folder by file stem.

    A mask ``Gt/12t_gt.png`` pairs with ``Tp/12t.jpg`` when ``"_gt"`` is in ``mask_suffixes``.
    Images without a mask, or masks without an image, raise :class:`DataError` listing them,
    unless ``allow_unpaired`` (they are then recorded in ``Dataset.problems`` and left out).
    """
    img_dir, mask_dir = Path(images), Path(masks)
    for d, what in ((img_dir, "image folder"), (mask_dir, "mask folder")):
        if not d.is_dir():
            raise DataError(f"{d}: {what} not found")
    imgs = _by_stem(_list_images(img_dir), "image", img_dir)
    if not imgs:
        raise DataError(f"{img_dir}: no images found (looked for {', '.join(IMAGE_EXTENSIONS)})")
    mask_paths = _list_images(mask_dir)
    masks_by_key: dict[str, Path] = {}
    for p in mask_paths:
        key = p.stem if p.stem in imgs else _strip_suffix(p.stem, mask_suffixes)
        if key in masks_by_key:
            raise DataError(
                f"{mask_dir}: masks {masks_by_key[key].name} and {p.name} both pair with image stem '{key}'"
            )
        masks_by_key[key] = p
    no_mask = sorted(set(imgs) - set(masks_by_key))
    no_image = sorted(set(masks_by_key) - set(imgs))
    problems: list[str] = []
    if no_mask or no_image:
        parts = []
        if no_mask:
            parts.append(
                f"{len(no_mask)} image(s) without a mask: "
                + ", ".join(imgs[s].name for s in no_mask[:10])
                + (" ..." if len(no_mask) > 10 else "")
            )
        if no_image:
            parts.append(
                f"{len(no_image)} mask(s) without an image: "
                + ", ".join(masks_by_key[s].name for s in no_image[:10])
                + (" ..." if len(no_image) > 10 else "")
            )
        msg = f"{img_dir} / {mask_dir}: unpaired files; " + "; ".join(parts)
        if not allow_unpaired:
            raise DataError(msg + " (pairing is by file stem; see --mask-suffix)")
        problems.append(msg)
    samples = [
        Sample(stem, imgs[stem], masks_by_key[stem], 1)
        for stem in sorted(imgs)
        if stem in masks_by_key
    ]
    return Dataset(name or img_dir.parent.name or img_dir.name, samples, problems)


def load_json_list(path: PathLike, name: str | None = None) -> Dataset:
    """Read an IMDL-BenCo-style JSON list ``[[image, mask_or_"Negative"], ...]``."""
    p = Path(path)
    if not p.is_file():
        raise DataError(f"{p}: dataset JSON not found")
    try:
        data = json.loads(p.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise DataError(f"{p}: malformed JSON ({exc})") from exc
    if not isinstance(data, list):
        raise DataError(f"{p}: expected a JSON list of [image_path, mask_path] pairs")
    base = p.parent
    samples: list[Sample] = []
    seen: dict[str, int] = {}
    for i, item in enumerate(data):
        if (
            not isinstance(item, list | tuple)
            or len(item) != 2
            or not all(isinstance(x, str) for x in item)
        ):
            raise DataError(f"{p}: entry {i} is not a pair of strings: {item!r}")
        img = Path(item[0]) if os.path.isabs(item[0]) else base / item[0]
        if item[1] == NEGATIVE:
            mask, label = None, 0
        else:
            mask = Path(item[1]) if os.path.isabs(item[1]) else base / item[1]
            label = 1
        stem = img.stem
        if stem in seen:  # keep names unique, stable across runs
            seen[stem] += 1
            stem = f"{stem}__{seen[stem]}"
        else:
            seen[stem] = 0
        samples.append(Sample(stem, img, mask, label))
    if not samples:
        raise DataError(f"{p}: the dataset list is empty")
    return Dataset(name or p.stem, samples)


def load_dataset(
    source: PathLike,
    masks: PathLike | None = None,
    *,
    mask_suffixes: Sequence[str] = DEFAULT_MASK_SUFFIXES,
    name: str | None = None,
    allow_unpaired: bool = False,
) -> Dataset:
    """Resolve a dataset with masks from any supported source.

    * ``source`` a ``.json`` file: an IMDL-BenCo list.
    * ``source`` a folder with ``Tp/`` and ``Gt/`` (and optionally ``Au/``): paired by stem.
    * ``source`` an image folder and ``masks`` a mask folder: paired by stem.

    The returned dataset's ``spec`` records the absolute source paths.
    """
    ds = _load_dataset(
        source, masks, mask_suffixes=mask_suffixes, name=name, allow_unpaired=allow_unpaired
    )
    ds.spec = {
        "source": str(Path(source).resolve()),
        "masks": None if masks is None else str(Path(masks).resolve()),
        "mask_suffixes": list(mask_suffixes),
    }
    return ds


def _load_dataset(
    source: PathLike,
    masks: PathLike | None = None,
    *,
    mask_suffixes: Sequence[str] = DEFAULT_MASK_SUFFIXES,
    name: str | None = None,
    allow_unpaired: bool = False,
) -> Dataset:
    src = Path(source)
    if src.suffix.lower() == ".json":
        return load_json_list(src, name)
    if not src.exists():
        raise DataError(f"{src}: dataset not found")
    if masks is not None:
        return pair_folders(
            src, masks, mask_suffixes=mask_suffixes, name=name, allow_unpaired=allow_unpaired
        )
    tp, gt, au = src / "Tp", src / "Gt", src / "Au"
    if tp.is_dir() and gt.is_dir():
        ds = pair_folders(
            tp,
            gt,
            mask_suffixes=mask_suffixes,
            name=name or src.name,
            allow_unpaired=allow_unpaired,
        )
        if au.is_dir():
            taken = {s.name for s in ds.samples}
            for p in _list_images(au):
                if p.stem in taken:
                    raise DataError(f"{p}: authentic image has the same stem as a tampered one")
                ds.samples.append(Sample(p.stem, p, None, 0))
        return ds
    raise DataError(
        f"{src}: not a dataset: expected a .json list, a folder with Tp/ and Gt/, "
        "or an image folder together with a mask folder"
    )


def resolve_images(source: PathLike | Sequence[PathLike]) -> list[Path]:
    """Turn a file, folder, glob, ``.txt`` list of paths, or a sequence of those into image paths.

    A folder gives its images; a folder holding none but subfolders that do (a folder of
    folders) gives theirs, at any depth, sorted (hidden folders skipped). Raises
    :class:`DataError` when nothing matches. Non-image files in folders are ignored.
    """
    if isinstance(source, list | tuple):
        out: list[Path] = []
        for s in source:
            out.extend(resolve_images(s))
        if not out:
            raise DataError("no images given")
        return out
    s = str(source)
    p = Path(s)
    if p.is_dir():
        paths = _list_images(p)
        if not paths:
            # a folder of folders (e.g. photos/kodak24, photos/cbsd68): their images, sorted
            paths = [
                x
                for x in sorted(p.rglob("*"))
                if x.is_file()
                and x.suffix.lower() in IMAGE_EXTENSIONS
                and not any(part.startswith(".") for part in x.relative_to(p).parts)
            ]
        if not paths:
            raise DataError(f"{p}: folder holds no images ({', '.join(IMAGE_EXTENSIONS)})")
        return paths
    if p.is_file() and p.suffix.lower() == ".txt":
        try:
            lines = [ln.strip() for ln in p.read_text(encoding="utf-8").splitlines()]
        except UnicodeDecodeError as exc:
            raise DataError(
                f"{p}: a list file must be UTF-8 text, one path per line (byte {exc.start} "
                "is not UTF-8)"
            ) from exc
        except OSError as exc:
            raise DataError(f"{p}: cannot read the list file ({exc.strerror})") from exc
        entries = [ln for ln in lines if ln and not ln.startswith("#")]
        if not entries:
            raise DataError(f"{p}: list file is empty")
        return [Path(e) if os.path.isabs(e) else p.parent / e for e in entries]
    if p.is_file():
        return [p]
    if any(ch in s for ch in "*?["):
        matches = sorted(Path(m) for m in globlib.glob(s, recursive=True))
        paths = [m for m in matches if m.is_file() and m.suffix.lower() in IMAGE_EXTENSIONS]
        if not paths:
            raise DataError(f"{s}: glob matches no images")
        return paths
    raise DataError(f"{p}: no such file or folder")


def images_dataset(source: PathLike | Sequence[PathLike], name: str | None = None) -> Dataset:
    """Source (c): images without masks as a :class:`Dataset` with ``label=None``."""
    paths = resolve_images(source)
    seen: dict[str, int] = {}
    samples = []
    for path in paths:
        stem = path.stem
        if stem in seen:
            seen[stem] += 1
            stem = f"{stem}__{seen[stem]}"
        else:
            seen[stem] = 0
        samples.append(Sample(stem, path, None, None))
    default = Path(str(source)).stem if not isinstance(source, list | tuple) else "images"
    return Dataset(name or default, samples)


class SizeMismatchError(DataError):
    """An image and its mask have different sizes."""


def load_sample_mask(
    sample: Sample, image_hw: tuple[int, int], *, resize: bool = False, invert: bool = False
) -> np.ndarray:
    """The sample's mask as ``(H, W)`` bool at ``image_hw``; all-False for authentic images.

    When the mask's size differs from ``image_hw`` it is resized (nearest) if ``resize``,
    else :class:`SizeMismatchError` names the pair and both sizes. Callers implement the
    ``--on-size-mismatch error|skip|resize`` policy with :func:`mask_or_skip`.
    """
    if sample.mask is None:
        return np.zeros(image_hw, dtype=bool)
    mask = load_mask(sample.mask, invert=invert)
    if mask.shape != tuple(image_hw):
        if resize:
            return resize_mask(mask, image_hw)
        raise SizeMismatchError(
            f"{sample.image} / {sample.mask}: image is {image_hw[1]}x{image_hw[0]} but mask is "
            f"{mask.shape[1]}x{mask.shape[0]} (W x H); see --on-size-mismatch skip|resize"
        )
    return mask


def find_size_mismatches(dataset: Dataset) -> list[str]:
    """Names of samples whose mask size differs from the image size (headers only, fast).

    Each entry reads ``"<name> (image WxH, mask WxH)"``. Unreadable files are not reported
    here; they fail later, where they are loaded.
    """
    from boxpromptiml.data.images import image_size

    out: list[str] = []
    for s in dataset:
        if s.mask is None:
            continue
        try:
            ih, iw = image_size(s.image)
            with Image.open(s.mask) as m:
                mw, mh = m.size
        except (DataError, OSError, Image.DecompressionBombError):
            continue  # unreadable here: reported, with its reason, where it is loaded
        if (ih, iw) != (mh, mw):
            out.append(f"{s.name} (image {iw}x{ih}, mask {mw}x{mh})")
    return out


def check_sizes(dataset: Dataset, policy: SizeMismatch) -> None:
    """Under the ``"error"`` policy, raise one :class:`SizeMismatchError` listing every
    image/mask pair of ``dataset`` whose sizes differ; other policies do nothing."""
    if policy != "error":
        return
    bad = find_size_mismatches(dataset)
    if bad:
        raise SizeMismatchError(
            f"{dataset.name}: {len(bad)} image/mask pair(s) differ in size: {'; '.join(bad)}. "
            "Fix the masks, or pass --on-size-mismatch skip (leave them out) or resize"
        )


def mask_or_skip(
    sample: Sample,
    image_hw: tuple[int, int],
    policy: SizeMismatch,
    problems: list[str],
    *,
    invert: bool = False,
) -> np.ndarray | None:
    """Apply a size-mismatch policy: the mask, or ``None`` (recorded in ``problems``) for
    a mismatch under ``"skip"``; ``"error"`` re-raises :class:`SizeMismatchError`."""
    if policy not in ("error", "skip", "resize"):
        raise ValueError(f"on_size_mismatch must be error, skip or resize, got {policy!r}")
    try:
        return load_sample_mask(sample, image_hw, resize=policy == "resize", invert=invert)
    except SizeMismatchError as exc:
        if policy == "error":
            raise
        problems.append(f"{exc} [skipped]")
        return None


def load_sample(
    sample: Sample, *, resize_mask_to_image: bool = False, invert: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    """Image ``(H, W, 3)`` uint8 and mask ``(H, W)`` bool (all-False for authentic images)."""
    image = load_image(sample.image)
    mask = load_sample_mask(sample, image.shape[:2], resize=resize_mask_to_image, invert=invert)
    return image, mask


def parse_dataset_spec(spec: str, mask_suffixes: tuple[str, ...]) -> Dataset:
    """The dataset named by one command-line DATASET string.

    ``IMAGES`` (a folder with ``Tp/`` + ``Gt/``, or images with masks beside them by
    suffix) or ``IMAGES,MASKS`` (two folders paired by stem), each optionally prefixed by
    ``NAME=`` (the name used in tables).
    """
    name = None
    if "=" in spec.split(",")[0] and not spec.startswith(("/", ".")):
        name, spec = spec.split("=", 1)
    if "," in spec:
        images, masks = spec.split(",", 1)
        return load_dataset(images, masks, mask_suffixes=mask_suffixes, name=name)
    return load_dataset(spec, mask_suffixes=mask_suffixes, name=name)


def read_split(spec: str | os.PathLike[str]) -> tuple[str, list[str]]:
    """``FILE:KEY`` (e.g. ``coverage/split.json:test``) -> ``(KEY, the stems listed)``.

    ``FILE`` is a JSON object mapping split names to lists of image stems, like
    ``coverage/split.json``. Raises :class:`DataError` naming the file when it is missing,
    not such a JSON object, or lacks ``KEY`` (the keys it has are listed).
    """
    text = os.fspath(spec)
    path_text, sep, key = text.rpartition(":")
    if not sep or not path_text or not key:
        raise DataError(f"--split {text}: give FILE:KEY, e.g. split.json:test")
    path = Path(path_text)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DataError(f"{path}: split file not found") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DataError(f"{path}: not a readable JSON split file ({exc})") from None
    if not isinstance(data, dict):
        raise DataError(f"{path}: a split file is a JSON object of name -> list of stems")
    if key not in data:
        keys = ", ".join(k for k, v in data.items() if isinstance(v, list))
        raise DataError(f"{path}: no split {key!r}; it has: {keys}")
    stems = data[key]
    if not isinstance(stems, list) or not all(isinstance(x, str) for x in stems):
        raise DataError(f"{path}: split {key!r} is not a list of image stems")
    return key, stems
