"""Tiled inference with other window sizes: does more context per window help?

    python benchmarks/window_study.py MODEL --window 320 --label NAME
    python benchmarks/window_study.py MODEL --window 448 --label NAME

The shipped students run 224² windows at each image's own resolution (their training
crop). This study scores a model with square windows of another side ``W`` on the sets of
``benchmarks/realworld.py`` (same metrics, same JSON, plus ``window``): every image at its
own resolution (after the model's ``max_side`` cap), cut into ``W × W`` windows with the
model's overlap, a window never larger than the image along a side (clipped, so an image
smaller than ``W`` runs whole: no upsampling, no padding, no mirrored border). It needs a
PyTorch checkpoint (an ONNX graph has a fixed input side). ``--window`` equal to the
model's input size reproduces the shipped inference on every image whose sides are both at
least the window (all images of these sets for 224).

Writes ``benchmarks/results/realworld-<label>.json`` (``realworld.py --load LABEL`` puts it
in the table).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import realworld
from _runs import run_name


def windowed_localizer(window: int) -> Any:
    """A :class:`~boxpromptiml.predict.Localizer` subclass whose maps come from clipped
    ``window``-sided tiles at native resolution (see the module docstring)."""
    from boxpromptiml.data.images import cap_size
    from boxpromptiml.predict import Localizer
    from boxpromptiml.predict.preprocess import resize_prob
    from boxpromptiml.predict.tiling import predict_tiled

    class Windowed(Localizer):
        def _maps(self, images: list[np.ndarray]) -> list[tuple[np.ndarray, dict[str, float]]]:
            out = []
            for im in images:
                full = im.shape[:2]
                if self.max_side is not None and max(full) > self.max_side:
                    im = cap_size(im, self.max_side)
                prob, _ = predict_tiled(
                    im, self._run, window, self.overlap, self.batch_size, clip=True
                )
                out.append((prob if prob.shape == full else resize_prob(prob, full), {}))
            return out

    return Windowed


def main() -> None:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("model", type=Path, help="student checkpoint (.pt)")
    p.add_argument("--window", type=int, required=True, help="window side in pixels")
    p.add_argument("--label", help="result name (default: <run folder>-w<window>)")
    args = p.parse_args()
    if not args.model.is_file() or args.model.suffix == ".onnx":
        p.error(f"{args.model}: give an existing PyTorch checkpoint (.pt)")
    if args.window < 32:
        p.error("--window must be at least 32")
    import boxpromptiml.predict as predict

    predict.Localizer = windowed_localizer(args.window)  # what score_model builds
    out = realworld.score_model(args.model, True, None, None)
    out.update(
        label=args.label or f"{run_name(args.model)}-w{args.window}",
        model=str(args.model),
        window=args.window,
        command="python benchmarks/window_study.py " + " ".join(sys.argv[1:]),
    )
    print(realworld.table([out]).splitlines()[-1])
    print(f"wrote {realworld.save(out)}")


if __name__ == "__main__":
    main()
