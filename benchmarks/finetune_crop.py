"""Fine-tune the default student at another training crop size, then score it on real data.

    python benchmarks/finetune_crop.py --size 224     # the control: more training, same crop
    python benchmarks/finetune_crop.py --size 448     # four times the context per crop

Does a student that sees more of the image per crop localize real forgeries better? The
shipped students train on 224² windows at native resolution; at test time, larger windows
alone do not help them (``benchmarks/window_study.py``). This benchmark fine-tunes the
shipped ``general-v3`` for one epoch on synthetic data made like the general recipe's
(its settings and seed, ``--forged`` forgeries + ``--authentic`` untouched photos from the
recipe's training photos, ``benchmarks/_wild.py``), at native ``--size``² crops, AdamW lr 1e-4, batch 8, the
recipe's losses; packages it with general-v3's inference settings (tiled, mirrored, the
map's mean as image score) and scores it like ``benchmarks/realworld.py`` with windows of
its training size (``window_study.py``'s clipped windows for sizes other than 224).

Stages run through the pipeline engine, so a rerun skips what is done: the synthetic data
in ``DATA_ROOT/data`` (shared by every size), the training in ``RUN/train``
(``RUN`` default ``runs/finetune-crop/ft<size>``). Writes
``benchmarks/results/realworld-general-v3-ft<size>.json``.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import realworld
from _wild import write_lists

REPO = Path(__file__).resolve().parents[1]
START = REPO / "src" / "boxpromptiml" / "assets" / "models" / "general-v3.pt"


def main() -> None:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--size", type=int, required=True, help="training crop side (native)")
    p.add_argument("--forged", type=int, default=3000)
    p.add_argument("--authentic", type=int, default=2000)
    p.add_argument("--data-root", type=Path, default=REPO / "runs" / "finetune-crop")
    p.add_argument("--photos", type=Path,
                   help="list of training photos (default: the recipe's, written to DATA_ROOT)")  # fmt: skip
    p.add_argument("--run", type=Path, help="run folder (default DATA_ROOT/ft<size>)")
    p.add_argument("--label", help="result name (default general-v3-ft<size>)")
    args = p.parse_args()
    from boxpromptiml.pipeline import Pipeline
    from boxpromptiml.recipes.general import get_recipe, package_model
    from boxpromptiml.student.checkpoint import read_checkpoint
    from boxpromptiml.synth.dataset import default_workers

    train_list = args.photos or write_lists(args.data_root)[0]
    recipe = get_recipe("general").replace(
        photos=[str(train_list)], forged=args.forged, authentic=args.authentic
    )
    data = Pipeline(args.data_root, tag="recipe").synth(
        "data",
        list(recipe.photos),
        recipe.synth_config(),
        folder=args.data_root / "data",
        workers=default_workers(),
        isolate=True,
    )
    run = args.run or args.data_root / f"ft{args.size}"
    cfg = recipe.replace(progress=True).train_config(data, run / "train")
    cfg = dataclasses.replace(
        cfg,
        init_from=START,
        pretrained=None,
        epochs=1,
        batch_size=8,
        input_size=args.size,
        lr=1e-4,
        warmup_epochs=0.05,
        save_every=100,
    )
    trained = Pipeline(run, tag="ft").train(cfg)
    inference = read_checkpoint(START).get("inference")  # general-v3's own settings
    model = package_model(trained.last, run / "model.pt", inference=inference)
    if args.size == 224:
        out = realworld.score_model(model, None, None, None)
    else:
        import boxpromptiml.predict as predict
        from window_study import windowed_localizer

        predict.Localizer = windowed_localizer(args.size)
        out = realworld.score_model(model, True, None, None)
        out["window"] = args.size
    out.update(
        label=args.label or f"general-v3-ft{args.size}",
        model=str(model),
        command="python benchmarks/finetune_crop.py " + " ".join(sys.argv[1:]),
    )
    print(realworld.table([out]).splitlines()[-1])
    print(f"wrote {realworld.save(out)}")


if __name__ == "__main__":
    main()
