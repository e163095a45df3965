"""Make a synthetic manipulated dataset with exact masks from authentic photos.

Each image is a photo with one or two regions spliced from another photo, copied and
moved within itself, or removed by inpainting; region shapes are object-like segments of
real photos, blobs or polygons covering about 1-30 % of the image. Whole-image resizing,
blur, noise and JPEG compression follow at random. Writes Tp/ + Gt/ (+ Au/ with
--authentic), boxes.json (COCO, simulated annotator with a 10 % margin) and manifest.json
(how each image was made). With no PHOTOS, real photos bundled with scikit-image,
scikit-learn and matplotlib are used: nothing is downloaded. The same --seed gives the
same files, whatever --workers; rerunning with the same --out resumes or extends a run.

examples:
  boxprompt synth --n 20
  boxprompt synth ~/photos --n 1000 --authentic 200 --workers 4 --out data/synth
  boxprompt synth ~/photos --kinds splice=0.5,removal=0.5 --no-post --size 768
  boxprompt synth --list-photos
"""

from __future__ import annotations

import argparse

from boxpromptiml.commands._common import add_output_arguments, output_from_args


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "photos",
        nargs="*",
        metavar="PHOTOS",
        help="folder, glob, .txt list or file(s) of authentic photos (default: bundled photos)",
    )
    add_output_arguments(p, "synth")
    p.add_argument("--n", type=int, default=100, help="number of manipulated images (default 100)")
    p.add_argument(
        "--authentic", type=int, default=0, help="number of authentic images for Au/ (default 0)"
    )
    p.add_argument(
        "--kinds",
        default="splice=0.4,copymove=0.35,removal=0.25",
        help="mix of manipulations, KIND=WEIGHT,... or KIND,... "
        "(default splice=0.4,copymove=0.35,removal=0.25)",
    )
    p.add_argument(
        "--size", type=int, default=512, help="cap of the longer side in px (default 512)"
    )
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument(
        "--area",
        default="0.01,0.30",
        metavar="MIN,MAX",
        help="range of region area as a fraction of the image (default 0.01,0.30)",
    )
    p.add_argument(
        "--two-regions",
        type=float,
        default=0.2,
        metavar="P",
        help="probability of two regions in one image (default 0.2)",
    )
    p.add_argument(
        "--no-post", action="store_true", help="no resize, blur, noise or JPEG post-processing"
    )
    p.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="any other setting of SynthConfig, e.g. feather=0 jpeg=0.8 jpeg_quality=70,90 "
        "(repeatable; see docs/synth.md)",
    )
    p.add_argument(
        "--workers", type=int, default=0, help="parallel processes (default 0 = one per core)"
    )
    p.add_argument("--no-progress", action="store_true", help="hide progress bars")
    p.add_argument(
        "--list-photos", action="store_true", help="list the bundled photos found and exit"
    )


def _parse_kinds(text: str) -> dict[str, float]:
    from boxpromptiml.errors import ConfigError

    out: dict[str, float] = {}
    for part in (t.strip() for t in text.split(",")):
        if not part:
            continue
        name, _, weight = part.partition("=")
        try:
            out[name.strip()] = float(weight) if weight else 1.0
        except ValueError as exc:
            raise ConfigError(f"--kinds: bad weight in {part!r} (expected KIND=NUMBER)") from exc
    if not out:
        raise ConfigError("--kinds is empty")
    return out


def _parse_range(text: str, option: str) -> tuple[float, float]:
    from boxpromptiml.errors import ConfigError

    try:
        lo, hi = (float(v) for v in text.split(","))
    except ValueError as exc:
        raise ConfigError(f"{option}: expected MIN,MAX, got {text!r}") from exc
    return lo, hi


def _parse_sets(items: list[str]) -> dict[str, object]:
    """``KEY=VALUE`` overrides (:mod:`boxpromptiml.overrides`): numbers, ``true``/``false``,
    ``A,B`` ranges or JSON (``shapes={"blob": 1}``); ``-`` in a key reads as ``_``."""
    import dataclasses
    import difflib

    from boxpromptiml.errors import ConfigError
    from boxpromptiml.overrides import parse_override
    from boxpromptiml.synth import SynthConfig

    fields = {f.name for f in dataclasses.fields(SynthConfig)}
    own = {"n", "authentic", "kinds", "size", "seed", "area", "two_regions", "post"}
    out: dict[str, object] = {}
    for item in items:
        key, value = parse_override(item)
        key = key.replace("-", "_")
        if key not in fields:
            close = difflib.get_close_matches(key, sorted(fields), n=1)
            hint = f"; did you mean {close[0]}?" if close else ""
            raise ConfigError(f"--set {item!r}: unknown setting{hint}")
        if key in own:
            raise ConfigError(f"--set {key}: use the --{key.replace('_', '-')} option instead")
        if value is None or isinstance(value, str):
            raise ConfigError(f"--set {item!r}: not a number, true/false, A,B range or JSON")
        out[key] = tuple(value) if isinstance(value, list) else value
    return out


def run(args: argparse.Namespace) -> int:
    import json
    import logging

    from boxpromptiml.synth import SynthConfig, default_photos, make_dataset
    from boxpromptiml.synth.dataset import default_workers

    if args.list_photos:
        for photo in default_photos():
            print(f"{photo.name:26s} {photo.path}")
        return 0
    config = SynthConfig(
        n=args.n,
        authentic=args.authentic,
        kinds=_parse_kinds(args.kinds),
        size=args.size,
        seed=args.seed,
        area=_parse_range(args.area, "--area"),
        two_regions=args.two_regions,
        post=not args.no_post,
        **_parse_sets(args.set),  # type: ignore[arg-type]
    )
    out = output_from_args(args, "synth")
    # skipped photos are listed below, once, instead of as log lines
    logging.getLogger("boxpromptiml.synth.dataset").setLevel(logging.ERROR)
    path = make_dataset(
        args.photos or None,
        out,
        config=config,
        workers=args.workers or default_workers(),
        progress=not args.no_progress,
    )
    manifest = json.loads((path / "manifest.json").read_text(encoding="utf-8"))
    boxes = json.loads((path / "boxes.json").read_text(encoding="utf-8"))
    counts = manifest["counts"]
    mix = ", ".join(f"{k} {v}" for k, v in sorted(counts.items()) if k != "authentic")
    print(
        f"{path}: {sum(counts.values()) - counts.get('authentic', 0)} manipulated ({mix}), "
        f"{counts.get('authentic', 0)} authentic, {len(boxes['annotations'])} boxes, "
        f"from {len(manifest['photos'])} photos (seed {manifest['seed']})"
    )
    for reason in manifest["skipped_photos"]:
        print(f"  skipped photo: {reason}")
    return 0
