"""Choices of the general recipe, compared on held-out real data at a reduced budget.

    python benchmarks/general_ablation.py --data runs/recipe/general/data \\
        --variant native --variant resize --variant resize384:input_size=384,crop=resize

Each variant trains the general recipe's student on the first ``--forged`` manipulated
and ``--authentic`` untouched images of an existing recipe data folder (made by
``boxprompt recipe general``) for ``--epochs`` epochs, with the recipe's settings except
those the variant names (``NAME:key=value,...``; ``native`` and ``resize`` are shorthands
for ``crop=native`` and ``crop=resize``). Each trained student is then scored by
``benchmarks/realworld.py`` (real forgeries and held-out untouched photos, none of them
used in training) and the table is printed. Runs are kept under ``--work`` and resume.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import realworld

REPO = Path(__file__).resolve().parents[1]


def parse_variant(text: str) -> tuple[str, dict[str, Any]]:
    """``NAME[:k=v,...]`` → name and recipe overrides (:mod:`boxpromptiml.overrides`)."""
    from boxpromptiml.overrides import parse_overrides, split_items
    from boxpromptiml.recipes import GeneralRecipe

    name, _, rest = text.partition(":")
    over: dict[str, Any] = {}
    if name in ("native", "resize") and not rest:
        over["crop"] = name
    over.update(
        parse_overrides(split_items(rest), "--variant", dataclasses.asdict(GeneralRecipe()))
    )
    return name, over


def main() -> None:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--data", type=Path, required=True, help="a recipe data folder")
    p.add_argument("--variant", action="append", required=True, metavar="NAME[:k=v,...]")
    p.add_argument("--forged", type=int, default=3000)
    p.add_argument("--authentic", type=int, default=2000)
    p.add_argument("--epochs", type=int, default=1)
    p.add_argument("--work", type=Path, default=REPO / "runs" / "bench-general-ablation")
    args = p.parse_args()

    from boxpromptiml.recipes.general import get_recipe
    from boxpromptiml.train.loop import fit

    results = []
    for spec in args.variant:
        name, over = parse_variant(spec)
        recipe = dataclasses.replace(get_recipe("general"), epochs=args.epochs, **over)
        run = args.work / name
        cfg = recipe.train_config(args.data, run)
        forged = [s for s in cfg.train if s.mask is not None][: args.forged]
        authentic = [s for s in cfg.train if s.mask is None][: args.authentic]
        cfg.train = forged + authentic
        t0 = time.perf_counter()
        res = fit(cfg)
        minutes = (time.perf_counter() - t0) / 60
        inference = {"tile": recipe.crop == "native", "max_side": recipe.max_side}
        out = realworld.score_model(res.last, inference["tile"], inference["max_side"])
        out.update(label=f"ablation-{name}", model=str(res.last), variant=over,
                   train={"forged": len(forged), "authentic": len(authentic),
                          "epochs": args.epochs, "minutes": round(minutes, 1)},
                   command="python benchmarks/general_ablation.py " + " ".join(sys.argv[1:]))  # fmt: skip
        realworld.save(out)
        results.append(out)
        print(realworld.table([out]).splitlines()[-1], flush=True)
    print(realworld.table(results))


if __name__ == "__main__":
    main()
