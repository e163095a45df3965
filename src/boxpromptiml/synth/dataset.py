"""A whole synthetic dataset on disk: images, exact masks, boxes and a manifest.

Layout written by :func:`make_dataset`::

    OUT/Tp/tp_00000.png ...   manipulated images (PNG; any JPEG step is already applied)
    OUT/Gt/tp_00000.png ...   their masks (255 = manipulated), same stem and size
    OUT/Au/au_00000.png ...   authentic images, when asked for
    OUT/boxes.json            COCO boxes drawn by the simulated annotator (margin 0.1)
    OUT/manifest.json         settings, photos used and skipped, and one record per image

``OUT`` loads back with :func:`~boxpromptiml.data.sources.load_dataset`. Every file is
written atomically. A run that is interrupted resumes where it stopped when started again
with the same settings and ``OUT`` (finished images are kept; ``.synth/`` holds the
records of a run in progress); a larger ``n`` or ``authentic`` extends a finished dataset.
Images are made in parallel processes; the result does not depend on their number.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from boxpromptiml.errors import ConfigError, DataError
from boxpromptiml.fileio import atomic_write_json, atomic_write_text
from boxpromptiml.synth.generate import SynthConfig, image_name, synthesize
from boxpromptiml.synth.photos import Photo, PhotoCache, as_photos, check_photo
from boxpromptiml.workers import spawn_pool

log = logging.getLogger(__name__)

PathLike = str | os.PathLike[str]
WORK_DIR = ".synth"
ANNOTATOR_MARGIN = 0.1
#: photo lists longer than this are checked in parallel
PARALLEL_CHECK_FROM = 32

# per-process state of pool workers, set once by _init_worker
_WORKER: dict[str, Any] = {}


def _init_worker(photos: list[Photo], config: SynthConfig, out: str, pooled: bool = True) -> None:
    if pooled:
        import cv2

        cv2.setNumThreads(1)  # the pool is the parallelism; keep OpenCV from oversubscribing
    _WORKER.clear()
    _WORKER.update(
        photos=photos, config=config, out=Path(out), cache=PhotoCache(photos, 2 * config.size)
    )


def _make_one(task: tuple[int, bool]) -> dict[str, Any]:
    """Synthesise one image and write it (mask first, then image, then its record)."""
    from boxpromptiml.data.images import save_png

    index, authentic = task
    out: Path = _WORKER["out"]
    res = synthesize(
        index, _WORKER["photos"], _WORKER["config"], authentic=authentic, cache=_WORKER["cache"]
    )
    record = dict(res.record)
    if authentic:
        record["file"], record["mask"] = f"Au/{res.name}.png", None
    else:
        record["file"], record["mask"] = f"Tp/{res.name}.png", f"Gt/{res.name}.png"
        save_png(out / record["mask"], res.mask)
    save_png(out / record["file"], res.image)
    atomic_write_json(out / WORK_DIR / "records" / f"{res.name}.json", record)
    return record


def _check_task(photo: Photo) -> str | None:
    return check_photo(photo)


def default_workers() -> int:
    """The number of CPU cores this process may use."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - macOS, Windows
        return max(1, os.cpu_count() or 1)


def _pool(workers: int, initializer: Any = None, initargs: tuple[Any, ...] = ()) -> Any:
    # spawned (safe with threads in the parent: tqdm, BLAS), ended with this process
    return spawn_pool(workers, initializer, initargs)


def _map(
    fn: Any, items: Sequence[Any], workers: int, desc: str, progress: bool, **pool_kw: Any
) -> Iterable[Any]:
    """Yield ``fn(item)`` for each item (in any order when parallel) under a progress bar."""
    from tqdm.auto import tqdm

    bar = tqdm(total=len(items), desc=desc, unit="img", disable=not progress)
    try:
        if workers <= 1 or len(items) <= 1:
            if "initializer" in pool_kw:
                pool_kw["initializer"](*pool_kw.get("initargs", ()), pooled=False)
            for it in items:
                yield fn(it)
                bar.update()
            return
        with _pool(min(workers, len(items)), **pool_kw) as pool:
            for res in pool.imap_unordered(fn, items, chunksize=1):
                yield res
                bar.update()
    finally:
        bar.close()


def check_photos(
    photos: Sequence[Photo], workers: int = 1, progress: bool = False
) -> tuple[list[Photo], list[str]]:
    """Split ``photos`` into usable ones (in their order) and one reason per skipped one.

    Every photo is decoded once (a header can look fine on a truncated file); a few dozen
    photos are checked in this process, more in a pool of ``workers`` processes.
    """
    from tqdm.auto import tqdm

    def bar(results: Iterable[str | None]) -> list[str | None]:
        return list(
            tqdm(results, total=len(photos), desc="photos", unit="img", disable=not progress)
        )

    if workers <= 1 or len(photos) <= PARALLEL_CHECK_FROM:
        reasons = bar(check_photo(p) for p in photos)
    else:
        with _pool(min(workers, len(photos))) as pool:
            reasons = bar(pool.imap(_check_task, photos, chunksize=4))
    usable = [p for p, r in zip(photos, reasons, strict=True) if r is None]
    skipped = [r for r in reasons if r is not None]
    return usable, skipped


def _manifest_text(manifest: Mapping[str, Any]) -> str:
    """JSON with the settings indented and one line per image record (easy to grep/diff)."""
    head = [
        f"  {json.dumps(k)}: " + json.dumps(v, indent=2, ensure_ascii=False).replace("\n", "\n  ")
        for k, v in manifest.items()
        if k != "images"
    ]
    rows = ",\n".join("    " + json.dumps(r, ensure_ascii=False) for r in manifest["images"])
    return "{\n" + ",\n".join([*head, f'  "images": [\n{rows}\n  ]']) + "\n}\n"


def _settings(config: SynthConfig, photos: Sequence[Photo]) -> dict[str, Any]:
    """What must match for a run to resume or extend an existing output folder."""
    cfg = config.to_dict()
    cfg.pop("n")
    cfg.pop("authentic")
    return {"config": cfg, "photos": [p.name for p in photos]}


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise DataError(f"{path}: unreadable ({exc}); remove it or choose another --out") from exc


def _existing_records(out: Path, settings: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Records of images already finished in ``out`` (after checking the settings match)."""
    manifest = out / "manifest.json"
    live = out / WORK_DIR / "settings.json"
    if not out.exists() or not any(out.iterdir()):
        return {}
    prior = None
    records: dict[str, dict[str, Any]] = {}
    if manifest.is_file():
        data = _read_json(manifest)
        try:
            cfg = SynthConfig.from_dict(data["config"])
            prior = _settings(cfg, [Photo(p["name"], Path()) for p in data["photos"]])
            records.update({r["name"]: r for r in data["images"]})
        except (KeyError, TypeError, ConfigError) as exc:
            raise DataError(
                f"{manifest}: not a synth manifest ({exc}); choose another --out"
            ) from exc
    if live.is_file():
        prior = _read_json(live)
    if prior is None:
        raise ConfigError(
            f"{out}: folder is not empty and holds no synth manifest; choose an empty or new --out"
        )
    if prior != settings:
        diff = sorted(
            k
            for k in set(prior["config"] or {}) | set(settings["config"])
            if (prior["config"] or {}).get(k) != settings["config"].get(k)
        )
        what = ", ".join(diff) if diff else "the photo list"
        raise ConfigError(
            f"{out}: holds a dataset made with other settings ({what}); "
            "use the same settings to resume or extend it, or choose another --out"
        )
    rec_dir = out / WORK_DIR / "records"
    if rec_dir.is_dir():
        for p in sorted(rec_dir.glob("*.json")):
            try:
                rec = json.loads(p.read_text(encoding="utf-8"))
            except (OSError, json.JSONDecodeError, UnicodeDecodeError):
                continue  # a record is written last and atomically; a bad one is redone
            records[rec["name"]] = rec
    # a record counts only when its files are there
    return {
        k: r
        for k, r in records.items()
        if (out / r["file"]).is_file() and (r["mask"] is None or (out / r["mask"]).is_file())
    }


def make_dataset(
    photos: PathLike | Sequence[PathLike | Photo] | None,
    out_dir: PathLike,
    *,
    n: int | None = None,
    kinds: Mapping[str, float] | Sequence[str] | None = None,
    seed: int | None = None,
    size: int | None = None,
    authentic: int | None = None,
    config: SynthConfig | None = None,
    workers: int = 1,
    progress: bool = True,
) -> Path:
    """Write a synthetic manipulation dataset with exact masks to ``out_dir``; return it.

    ``photos``: a folder, glob, ``.txt`` list, file, or a sequence of paths or
    :class:`~boxpromptiml.synth.photos.Photo`; ``None`` uses
    :func:`~boxpromptiml.synth.photos.default_photos`. Unreadable photos, and photos under
    64 px a side, are skipped and listed in ``manifest.json`` (``skipped_photos``).
    ``n`` manipulated images (``Tp/`` + ``Gt/``) and ``authentic`` untouched ones (``Au/``)
    are made; ``kinds`` weights ``splice``, ``copymove`` and ``removal`` (a list means equal
    weights); ``size`` caps the longer side; ``seed`` makes everything reproducible. Keyword
    values override the matching fields of ``config``. ``workers`` processes run in
    parallel (1 = in this process). Raises :class:`ConfigError` for bad settings or an
    ``out_dir`` holding something else, :class:`DataError` when no photo is usable.
    """
    from boxpromptiml import __version__
    from boxpromptiml.data.annotator import AnnotatorConfig, annotate_dataset
    from boxpromptiml.data.boxes import write_coco
    from boxpromptiml.data.sources import load_dataset

    cfg = config or SynthConfig()
    overrides: dict[str, Any] = {
        k: v
        for k, v in {"n": n, "seed": seed, "size": size, "authentic": authentic}.items()
        if v is not None
    }
    if kinds is not None:
        overrides["kinds"] = (
            dict(kinds) if isinstance(kinds, Mapping) else dict.fromkeys(kinds, 1.0)
        )
    cfg = replace(cfg, **overrides)
    if cfg.n < 1:
        raise ConfigError("n must be at least 1 (a dataset needs manipulated images)")
    if workers < 1:
        raise ConfigError(f"workers must be at least 1, got {workers}")
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise ConfigError(f"{out}: exists and is not a folder")

    if cfg.uses_objects():
        from boxpromptiml.synth.objects import check_available

        check_available()  # before any work: a missing weight file is named at once
    candidates = as_photos(photos)
    usable, skipped = check_photos(candidates, workers, progress=progress)
    for reason in skipped:
        log.warning("skipped photo: %s", reason)
    if not usable:
        raise DataError(
            f"none of the {len(candidates)} photo(s) is usable: {'; '.join(skipped[:5])}"
        )
    if len(usable) < 2 and "splice" in cfg.kinds:
        raise ConfigError(
            f"splicing needs at least 2 usable photos, got {len(usable)}; "
            "give more photos or leave splice out of kinds"
        )

    settings = _settings(cfg, usable)
    done = _existing_records(out, settings)
    too_many = [
        k
        for k, r in done.items()
        if r["index"] >= (cfg.authentic if r["kind"] == "authentic" else cfg.n)
    ]
    if too_many:
        raise ConfigError(
            f"{out}: already holds {len(done)} images, some beyond --n {cfg.n} / "
            f"--authentic {cfg.authentic} (e.g. {sorted(too_many)[0]}); ask for at least as many"
        )
    (out / WORK_DIR).mkdir(parents=True, exist_ok=True)
    atomic_write_json(out / WORK_DIR / "settings.json", settings)
    for sub in ("Tp", "Gt") + (("Au",) if cfg.authentic else ()):
        (out / sub).mkdir(exist_ok=True)

    tasks = [(i, False) for i in range(cfg.n) if image_name(i) not in done]
    tasks += [(j, True) for j in range(cfg.authentic) if image_name(j, True) not in done]
    if len(done):
        log.info("%s: resuming, %d image(s) already made, %d to make", out, len(done), len(tasks))
    records = dict(done)
    try:
        for rec in _map(
            _make_one,
            tasks,
            workers,
            "synth",
            progress,
            initializer=_init_worker,
            initargs=(usable, cfg, str(out)),
        ):
            records[rec["name"]] = rec
    finally:
        _WORKER.clear()  # the in-process run's photo cache

    ordered = sorted(records.values(), key=lambda r: (r["kind"] == "authentic", r["index"]))
    manifest = {
        "tool": f"boxpromptiml {__version__} synth",
        "seed": cfg.seed,
        "config": cfg.to_dict(),
        "photos": [{"name": p.name, "path": str(p.path)} for p in usable],
        "skipped_photos": skipped,
        "mask_convention": (
            "255 = replaced pixels (alpha > 0.5 for blended regions); outside the mask the "
            "image equals the prepared host photo before post-processing, except a feathered "
            "band with alpha <= 0.5"
        ),
        "counts": dict(Counter(r["kind"] for r in ordered)),
        "images": ordered,
    }
    atomic_write_text(out / "manifest.json", _manifest_text(manifest))

    dataset = load_dataset(out, name=out.name)
    boxes = annotate_dataset(
        dataset, AnnotatorConfig(margin=ANNOTATOR_MARGIN, seed=cfg.seed), progress=progress
    )
    if boxes.problems:  # every file was just written by us: a problem here is a bug
        raise RuntimeError(f"{out}: annotating the synthetic masks failed: {boxes.problems[0]}")
    # nothing written may depend on the folder's name: same seed, same bytes
    boxes.info["description"] = (
        f"boxes simulated from the exact masks (boxprompt synth, seed {cfg.seed})"
    )
    write_coco(out / "boxes.json", boxes)
    shutil.rmtree(out / WORK_DIR, ignore_errors=True)
    return out
