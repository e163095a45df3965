"""The ``boxprompt`` command line: a thin layer over the Python API.

Each subcommand lives in ``boxpromptiml/commands/<name>.py`` and defines
``add_arguments(parser)`` and ``run(args) -> int``. Command modules import heavy libraries
(torch, onnxruntime, ...) inside ``run`` so that ``boxprompt --help`` stays fast.

Errors a user can fix (:class:`~boxpromptiml.errors.BoxPromptError`) print one line,
``boxprompt: error: ...``, and exit with status 2; ``--debug`` shows the traceback.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
import warnings
from collections.abc import Sequence

from boxpromptiml import __version__
from boxpromptiml.errors import BoxPromptError

# name -> (module, one-line help). Order is the order of the pipeline.
COMMANDS: dict[str, tuple[str, str]] = {
    "demo": (
        "boxpromptiml.commands.demo",
        "run the whole loop on embedded photos (minutes on a CPU)",
    ),
    "synth": ("boxpromptiml.commands.synth", "make a forged dataset with exact masks from photos"),
    "annotate": ("boxpromptiml.commands.annotate", "draw boxes in the browser, saved to COCO JSON"),
    "boxes": ("boxpromptiml.commands.boxes", "simulate box annotations from masks (COCO JSON)"),
    "pseudo": ("boxpromptiml.commands.pseudo", "turn boxes into pseudo-masks (frozen teacher)"),
    "train": ("boxpromptiml.commands.train", "train a student on pseudo-masks (or --gt masks)"),
    "recipe": ("boxpromptiml.commands.recipe", "one command from photos to a general student"),
    "soup": ("boxpromptiml.commands.soup", "average students fine-tuned from one start into one"),
    "predict": ("boxpromptiml.commands.predict", "localize manipulations in images (maps, masks)"),
    "evaluate": ("boxpromptiml.commands.evaluate", "score predicted maps against ground truth"),
    "robust": ("boxpromptiml.commands.robust", "degradation under JPEG, resizing, blur, noise"),
    "report": ("boxpromptiml.commands.report", "self-contained HTML report of an evaluation run"),
    "export": ("boxpromptiml.commands.export", "export a student to ONNX (fp32, int8), verified"),
    "bench": ("boxpromptiml.commands.bench", "measure params, MACs, latency and throughput"),
    "protocol": ("boxpromptiml.commands.protocol", "the paper's protocol from a config: ID/OOD F1"),
}

EPILOG = """the pipeline:
  boxprompt demo                                             # everything, on embedded photos
  boxprompt annotate photos/ --out boxes.json                # draw boxes in the browser
  boxprompt boxes data/coverage --out boxes.json             # or simulate them from masks
  boxprompt pseudo data/coverage/Tp --boxes boxes.json --out pseudo/
  boxprompt train data/coverage/Tp,pseudo/ --epochs 20
  boxprompt predict photos/ --model runs/train/exp/best.pt
  boxprompt evaluate data/coverage --pred runs/predict/exp/maps --on-size-mismatch skip
  boxprompt report runs/evaluate/exp

run 'boxprompt COMMAND --help' for the options of a command."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="boxprompt",
        description="Weakly supervised image manipulation localization from coarse boxes.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"boxpromptiml {__version__}")
    parser.add_argument(
        "--debug", action="store_true", help="show full tracebacks and debug logging"
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (module_name, help_text) in COMMANDS.items():
        module = importlib.import_module(module_name)
        p = sub.add_parser(
            name,
            help=help_text,
            description=(module.__doc__ or help_text).strip(),
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        p.add_argument("--debug", action="store_true", help=argparse.SUPPRESS)
        module.add_arguments(p)
        if name not in OWN_CONFIG:
            p.add_argument(
                "--config",
                metavar="FILE",
                default=None,
                help='JSON file of option values ({"epochs": 20, "lr": 0.001}; keys are '
                "option names); options given on the command line win",
            )
        p.set_defaults(_run=module.run, _parser=p)
    return parser


#: commands whose --config means their own configuration file (a protocol, a recipe)
OWN_CONFIG = ("protocol", "recipe")


def _with_config(
    parser: argparse.ArgumentParser, args: argparse.Namespace, argv: Sequence[str] | None
) -> argparse.Namespace:
    """``argv`` parsed again with the ``--config`` file's values as the subcommand's
    defaults: the file fills what the command line leaves out."""
    import json
    from pathlib import Path

    from boxpromptiml.errors import ConfigError, DataError, reject_unknown

    path = Path(args.config)
    if not path.is_file():
        raise DataError(f"{path}: --config file not found")
    try:
        values = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ConfigError(f"{path}: not a JSON object of option values ({exc})") from None
    if not isinstance(values, dict):
        raise ConfigError(f"{path}: expected a JSON object of option values")
    sub: argparse.ArgumentParser = args._parser
    actions = {a.dest: a for a in sub._actions if a.dest not in ("help", "config", "debug")}
    by_flag = {
        o.lstrip("-").replace("-", "_"): a.dest for a in actions.values() for o in a.option_strings
    }
    given = {}
    for key, value in values.items():
        norm = str(key).lstrip("-").replace("-", "_")
        given[by_flag.get(norm, norm)] = value
    reject_unknown(given, sorted(actions), f"option in {path}:")
    old = {k: sub.get_default(k) for k in given}
    sub.set_defaults(**given)
    try:
        return parser.parse_args(argv)
    finally:
        sub.set_defaults(**old)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``boxprompt``; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 0
    if getattr(args, "config", None) and args.command not in OWN_CONFIG:
        try:
            args = _with_config(parser, args, argv)
        except BoxPromptError as exc:
            print(f"boxprompt: error: {exc}", file=sys.stderr)
            return 2
    logging.basicConfig(
        level=logging.DEBUG if args.debug else logging.INFO, format="%(levelname)s: %(message)s"
    )
    if not args.debug:
        warnings.simplefilter("default")
        warnings.formatwarning = lambda msg, cat, *a, **k: f"warning: {msg}\n"  # type: ignore[assignment]
    try:
        return int(args._run(args) or 0)
    except BoxPromptError as exc:
        if args.debug:
            raise
        print(f"boxprompt: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("boxprompt: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
