"""Does real data through boxes help the general student on *other* real data?

    python benchmarks/real_finetune.py --data /path/to/general-v2/data --label general-v2-covft

Fine-tunes the shipped ``general-v2`` on COVERAGE's 62 train images with pseudo-masks from
simulated boxes (10 % margin, seed 0, the default teacher: the box-supervised setting, no
ground-truth mask), oversampled ``--repeat`` times, replaying ``--mix`` synthetic forgeries
and ``--authentic`` untouched photos of general-v2's own training data (``--data``: the
``OUT/data`` folder of ``boxprompt recipe general``) against forgetting. Then packages it
with general-v2's inference settings and scores it with ``benchmarks/realworld.py`` next to
general-v2 and general-v1. Held out: ``casia2`` and ``mixed`` (other real forgeries), the
COVERAGE test split, the untouched photos of ``benchmarks/_wild.py``.

COVERAGE is for research use only, so a model made this way could not be the licence-clean
default; the question is whether real manipulation traces carry to other real sets.
Stages are cached under ``--work`` (pseudo-masks through the pipeline engine, the training
run resumes from ``last.pt``).
"""

from __future__ import annotations

import argparse
import os
import random
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _wild import SHARED, coverage_split

REPO = Path(__file__).resolve().parents[1]


def _pairs(work: Path, repeat: int) -> tuple[Path, Path]:
    """Folders of COVERAGE-train images and their pseudo-masks, each pair linked ``repeat``
    times under distinct stems (``r<k>_<stem>.png``)."""
    from coverage import _pseudo

    train, _ = coverage_split()
    pseudo_dir, iou, _ = _pseudo(work, "ensemble", train)
    print(f"pseudo-masks of coverage-train: mean IoU {iou:.3f} ({pseudo_dir})")
    img, msk = work / "pairs" / "img", work / "pairs" / "pseudo"
    img.mkdir(parents=True, exist_ok=True)
    msk.mkdir(parents=True, exist_ok=True)
    for k in range(repeat):
        for s in train:
            for folder, src in ((img, Path(s.image)), (msk, pseudo_dir / f"{s.name}.png")):
                dst = folder / f"r{k}_{s.name}.png"
                if not dst.exists():
                    os.symlink(src.resolve(), dst)
    return img, msk


def main() -> None:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--data", type=Path, required=True, help="general-v2's synthetic data folder")
    p.add_argument("--work", type=Path, default=REPO / "runs" / "bench-real-finetune")
    p.add_argument("--label", default="general-v2-covft")
    p.add_argument("--repeat", type=int, default=4, help="times each COVERAGE pair is seen")
    p.add_argument("--mix", type=int, default=1200, help="synthetic forgeries replayed")
    p.add_argument("--authentic", type=int, default=600, help="untouched photos replayed")
    p.add_argument("--epochs", type=int, default=5)
    p.add_argument("--lr", type=float, default=2e-4)
    args = p.parse_args()
    if not (SHARED / "coverage" / "split.json").is_file():
        raise SystemExit(f"needs {SHARED / 'coverage'}")
    if not (args.data / "Au").is_dir():
        raise SystemExit(f"{args.data}: not a synthetic data folder (no Au/)")
    from boxpromptiml.cli import main as boxprompt
    from boxpromptiml.predict.shipped import shipped_model
    from boxpromptiml.recipes.general import package_model
    from boxpromptiml.student.checkpoint import read_checkpoint

    args.work.mkdir(parents=True, exist_ok=True)
    img, msk = _pairs(args.work, args.repeat)
    au = sorted((args.data / "Au").iterdir())
    random.Random(0).shuffle(au)
    au_list = args.work / f"au{args.authentic}.txt"
    au_list.write_text("".join(f"{q}\n" for q in au[: args.authentic]))
    base = shipped_model("general-v2")
    run = args.work / "run"
    argv = [
        "train", f"{img},{msk}", "--init-from", str(base),
        "--mix", str(args.data), "--mix-count", str(args.mix), "--authentic", str(au_list),
        "--crop", "native", "--imgsz", "224", "--epochs", str(args.epochs), "--batch", "16",
        "--lr", str(args.lr), "--warmup-epochs", "0.1", "--pos-weight", "2", "--dice", "1",
        "--image-weight", "1", "--seed", "0", "--workers", "1", "--no-progress",
        "-o", str(run), "--exist-ok",
    ]  # fmt: skip
    todo = argv
    if (run / "last.pt").is_file():  # finished, or interrupted: resume
        done = read_checkpoint(run / "last.pt").get("epoch") or 0
        todo = [] if done >= args.epochs else ["train", "--resume", str(run)]
    if todo and boxprompt(todo) != 0:
        raise SystemExit("training failed")
    v2 = read_checkpoint(base)
    model = package_model(
        run / "last.pt", args.work / "model.pt",
        recipe={**v2["recipe"], "finetune": " ".join(["boxprompt", *argv])},
        manifest_sha256=v2["manifest_sha256"], inference=v2["inference"],
    )  # fmt: skip
    cmd = [sys.executable, str(REPO / "benchmarks" / "realworld.py"), str(model),
           "--label", args.label, "--load", "general-v2", "--load", "general-v1"]  # fmt: skip
    raise SystemExit(subprocess.call(cmd))


if __name__ == "__main__":
    main()
