"""Run a named recipe end to end, resumably: photos → synthetic data → student → model.pt.

'general' trains the general-purpose student (the one that ships with boxpromptiml:
docs/model-card.md) on synthetic forgeries and untouched photos made from PHOTOS, with
native-resolution crops; no real label is used. 'general-tiny' is the same at the size of
a quick check. Run the same command again to resume: finished stages are skipped, an
interrupted one resumes (synthesis per image, training from last.pt). On a GPU the same
command trains there (Lightning Fabric; --devices N for several).

OUT (default runs/recipe/<recipe>) receives recipe.json, data/ (Tp/ Gt/ Au/, manifest),
train/ (last.pt, log.csv) and model.pt (fp16, with the recipe, the data manifest's sha256
and the inference settings), ready for: boxprompt predict photo.jpg --model OUT/model.pt

examples:
  boxprompt recipe general-tiny
  boxprompt recipe general --photos ~/photos --photos wallpapers.txt --out runs/general
  boxprompt recipe general --photos ~/photos --set epochs=1 --set forged=2000
  boxprompt recipe general --config my-recipe.json --accelerator cuda --devices 2
"""

from __future__ import annotations

import argparse


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("recipe", metavar="RECIPE", help="recipe name: general, general-tiny")
    p.add_argument(
        "--photos",
        action="append",
        metavar="SOURCE",
        help="authentic photos: folder, glob, .txt list or file (repeatable; default: the "
        "photos bundled with the dependencies)",
    )
    p.add_argument("--out", "-o", help="output folder (default runs/recipe/<recipe>)")
    p.add_argument("--config", metavar="FILE", help="JSON file of recipe settings to override")
    p.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="one recipe setting (repeatable): a number, true/false, a JSON list or object, "
        "or text, e.g. epochs=1 crop=resize 'synth={\"camera\": 0.8}'",
    )
    p.add_argument("--workers", type=int, help="data-loading workers while training")
    p.add_argument("--accelerator", default="auto", help="auto, cpu or cuda (default auto)")
    p.add_argument("--devices", default="auto", help="GPUs: auto or a number")
    p.add_argument("--precision", default="auto", help="auto, 32-true, bf16-mixed, 16-mixed")
    p.add_argument("--no-progress", action="store_true", help="hide progress bars")


def _settings(args: argparse.Namespace) -> dict[str, object]:
    import dataclasses
    import json
    from pathlib import Path

    from boxpromptiml.errors import ConfigError
    from boxpromptiml.overrides import parse_overrides
    from boxpromptiml.recipes import get_recipe

    out: dict[str, object] = {}
    if args.config:
        path = Path(args.config)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except OSError as exc:
            raise ConfigError(f"{path}: cannot read the recipe config ({exc.strerror})") from exc
        except (ValueError, UnicodeDecodeError) as exc:
            raise ConfigError(f"{path}: not a JSON file ({exc})") from exc
        if not isinstance(data, dict):
            raise ConfigError(f"{path}: a recipe config must be a JSON object")
        out.update(data)
    like = {**dataclasses.asdict(get_recipe(args.recipe)), **out}
    out.update(parse_overrides(args.set, "--set", like))
    return out


def run(args: argparse.Namespace) -> int:
    import dataclasses
    from pathlib import Path

    from boxpromptiml.errors import ConfigError
    from boxpromptiml.recipes import GeneralRecipe, get_recipe, run_recipe

    recipe = get_recipe(args.recipe)
    given = _settings(args)
    data = {**recipe.to_dict(), **given}
    extra_synth = given.get("synth")
    if isinstance(extra_synth, dict):  # synthesiser fields add to the recipe's own
        data["synth"] = {**recipe.synth, **extra_synth}
    if args.photos:
        data["photos"] = [str(Path(p).resolve()) for p in args.photos]
    devices: object = args.devices if args.devices == "auto" else int(args.devices)
    try:
        recipe = GeneralRecipe.from_dict(data)
    except TypeError as exc:
        raise ConfigError(f"recipe settings: {exc}") from exc
    recipe = dataclasses.replace(
        recipe,
        workers=args.workers,
        accelerator=args.accelerator,
        devices=devices,  # type: ignore[arg-type]
        precision=args.precision,
        progress=not args.no_progress,
    )
    out = Path(args.out) if args.out else Path("runs") / "recipe" / args.recipe
    result = run_recipe(recipe, out)
    print(
        f"{result.model}: the {args.recipe} student "
        f"(data manifest sha256 {result.manifest_sha256[:12]}); "
        f"use it with: boxprompt predict PHOTOS --model {result.model}"
    )
    return 0
