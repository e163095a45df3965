"""Give a packaged model the image scores of untouched reference photos, and check them.

    python benchmarks/score_reference.py src/boxpromptiml/assets/models/general-v3.pt \\
        --out runs/reference/general-v3.pt

Predicts the photos held out of the general recipe's training (``benchmarks/_wild.py``:
kodak24, every 4th cbsd68 photo, every 4th Debian wallpaper photo; none of them trained
any shipped student) with the model's own packaged settings, and writes a copy of the model
that carries their image scores (``reference``, :mod:`boxpromptiml.predict.reference`).
``boxprompt predict`` then reports, per image, the share of those photos that score at
least as high: an empirical false-alarm rate in place of a bare score.

How well such a share holds on photos outside the reference is checked by halves: the
photos are split in two (alternately, in path order); each half's scores serve as the
reference for the other half, and the result reports, for cuts of 5, 10 and 20 %, the share
of the other half's photos that would be flagged (ideally about the cut). On the forged
development sets (coverage-train, casia2, mixed; coverage-test is reported, not used) it
reports the share of forged images at or under each cut (the detection rate a user would
get). Writes ``benchmarks/results/score-reference-<label>.json``.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _runs import run_name
from _wild import WALLPAPERS, photo_split
from realworld import each_map, save

CUTS = (0.05, 0.10, 0.20)


def flagged(ref: list[float], scores: list[float], cut: float) -> float:
    """Share of ``scores`` whose untouched share against ``ref`` (what the predictor
    reports) is at most ``cut``."""
    from boxpromptiml.predict.reference import untouched_share

    return float(np.mean([untouched_share(ref, s) <= cut for s in scores]))


def reference_name(held: list[Path]) -> str:
    """A description of the held-out photos by source (a folder of ``shared/data/photos``
    or the Debian wallpapers)."""
    counts: dict[str, int] = {}
    for p in held:
        src = "Debian wallpapers" if p.is_relative_to(WALLPAPERS) else p.parent.name
        counts[src] = counts.get(src, 0) + 1
    parts = ", ".join(f"{k} {v}" for k, v in sorted(counts.items()))
    return f"{len(held)} untouched photos held out of training ({parts})"


def main() -> None:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("model", type=Path, help="a packaged student (.pt)")
    p.add_argument("--out", type=Path, required=True, help="the copy that carries the reference")
    p.add_argument("--label", help="result name (default: from the model path)")
    args = p.parse_args()
    from boxpromptiml.metrics import image_score
    from boxpromptiml.predict import Localizer
    from boxpromptiml.recipes import set_inference

    loc = Localizer.from_checkpoint(args.model, device="cpu", reference=None)
    _, held = photo_split()
    if len(held) < 10:
        raise SystemExit(f"only {len(held)} held-out photos found; see benchmarks/_wild.py")
    au: list[float] = []
    forged: dict[str, list[float]] = {}
    for set_name, prob, _ in each_map(loc):
        s = image_score(prob, loc.image_score)
        if set_name == "authentic":
            au.append(s)
        else:
            forged.setdefault(set_name, []).append(s)
    halves = (au[0::2], au[1::2])
    ref = {"name": reference_name(held), "scores": sorted(au), "settings": loc.score_settings}
    out: dict[str, Any] = {
        "label": args.label or run_name(args.model),
        "model": str(args.model),
        "settings": ref["settings"],
        "reference": {"name": ref["name"], "n": len(au)},
        "halves": {
            f"{cut:.2f}": [flagged(halves[0], halves[1], cut), flagged(halves[1], halves[0], cut)]
            for cut in CUTS
        },
        "forged_at_or_under": {
            name: {"n": len(v), **{f"{cut:.2f}": flagged(au, v, cut) for cut in CUTS}}
            for name, v in forged.items()
        },
        "command": "python benchmarks/score_reference.py " + " ".join(sys.argv[1:]),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    set_inference(args.model, args.out, reference=ref)
    check = Localizer.from_checkpoint(args.out, device="cpu")
    assert check.reference_applies, "the packaged reference does not match the packaged settings"
    path = save(out, name=f"score-reference-{out['label']}.json")
    print(json.dumps({k: out[k] for k in ("settings", "halves", "forged_at_or_under")}, indent=1))
    print(f"wrote {path} and {args.out}")


if __name__ == "__main__":
    main()
