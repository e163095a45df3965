"""Average several fine-tuned students into one (a uniform "model soup").

Train the same recipe with a few seeds from one starting checkpoint (``train --init-from``,
e.g. a model pretrained on synthetic forgeries), or recipe runs that share the seed and
differ in another setting, then average their weights: the soup runs at the cost of one
model and usually scores better than each ingredient. Runs that did not start from the
same weights (one init_from checkpoint, or one seed and pretrained backbone) are refused
(their heads were initialised apart), unless --force. Packaged recipe models (model.pt)
give a packaged soup: the inference settings they share travel with it.

examples:
  boxprompt soup runs/train/s0/last.pt runs/train/s1/last.pt runs/train/s2/last.pt \\
      --out runs/train/soup.pt
  boxprompt soup runs/recipe/a/model.pt runs/recipe/b/model.pt --out soup.pt
  boxprompt soup soup.pt runs/recipe/c/model.pt --weights 2,1 --out soup3.pt  # = a, b, c
  boxprompt predict photos/ --model runs/train/soup.pt
"""

from __future__ import annotations

import argparse


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("models", nargs="+", metavar="CKPT", help="two or more student checkpoints")
    p.add_argument("--out", "-o", required=True, help="the averaged checkpoint to write (.pt)")
    p.add_argument(
        "--weights",
        type=_weights,
        metavar="W,W,...",
        help="one weight per checkpoint, e.g. the number of runs each averages (default: equal)",
    )
    p.add_argument(
        "--force", action="store_true", help="average runs that did not start from the same weights"
    )


def _weights(text: str) -> list[float]:
    try:
        return [float(w) for w in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected numbers joined by commas, got {text!r}"
        ) from None


def run(args: argparse.Namespace) -> int:
    from boxpromptiml.train.soup import average_checkpoints

    out = average_checkpoints(args.models, args.out, force=args.force, weights=args.weights)
    how = f" weighted {':'.join(f'{w:g}' for w in args.weights)}" if args.weights else ""
    print(f"wrote {out}: the average of {len(args.models)} students{how}")
    return 0
