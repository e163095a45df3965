"""Wall-clock time of one large photo through tiled inference (ONNX Runtime, CPU).

    python benchmarks/tiled_speed.py --model src/boxpromptiml/assets/models/general-v1.pt
    python benchmarks/tiled_speed.py --model m.onnx --size 4000x3000 --threads 2 --repeats 5

Exports a ``.pt`` model to ONNX fp32 first (in ``--work``), then times
``Localizer.predict_maps`` on a random ``--size`` RGB image with the model's packaged
inference settings (tiling, ``max_side``, test-time mirroring unless ``--tta`` says
otherwise), after one warm-up run: loading and decoding the
file are not included, resizing, tiling, blending and upsampling the map back are.
Writes ``benchmarks/results/tiled-speed-<model>[-tta-<mode>].json`` with the machine (CPU flags, load).
Check ``uptime`` first: a shared machine gives meaningless times.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import numpy as np

RESULTS = Path(__file__).resolve().parent / "results"
REPO = Path(__file__).resolve().parents[1]


def main() -> None:
    from boxpromptiml.predict.localizer import TTA_MODES

    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--model", type=Path, required=True)
    p.add_argument("--size", default="4000x3000", help="WxH of the test image")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--batch", type=int, default=16, help="tiles per forward pass")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--work", type=Path, default=REPO / "runs" / "bench-tiled")
    p.add_argument("--tta", choices=TTA_MODES, default=None,
                   help="test-time mirroring (default: the model's packaged setting)")  # fmt: skip
    args = p.parse_args()

    from boxpromptiml.bench import machine_info
    from boxpromptiml.predict import Localizer

    model = args.model
    if model.suffix != ".onnx":
        from boxpromptiml.export import export_onnx

        model = export_onnx(model, args.work / f"{model.stem}.onnx").onnx
    w, h = (int(v) for v in args.size.lower().split("x"))
    image = np.random.default_rng(0).integers(0, 256, (h, w, 3), dtype=np.uint8)
    before = machine_info()
    given = {"tta": args.tta} if args.tta else {}
    loc = Localizer.from_checkpoint(model, device="cpu", threads=args.threads,
                                    batch_size=args.batch, **given)  # fmt: skip
    loc.predict_maps([image])  # warm-up
    times = []
    for _ in range(args.repeats):
        t0 = time.perf_counter()
        prob = loc.predict_maps([image])[0]
        times.append(time.perf_counter() - t0)
    assert prob.shape == (h, w)
    out = {
        "model": str(args.model), "size": [w, h], "threads": args.threads,
        "batch": args.batch, "inference": loc.info, "tta": loc.tta, "seconds": times,
        "median_s": statistics.median(times), "machine": before,
        "load_after": machine_info()["load_avg"],
    }  # fmt: skip
    RESULTS.mkdir(parents=True, exist_ok=True)
    suffix = "" if loc.tta == "none" else f"-tta-{loc.tta}"
    dest = RESULTS / f"tiled-speed-{args.model.stem}{suffix}.json"
    dest.write_text(json.dumps(out, indent=2) + "\n")
    print(f"{args.size}: median {out['median_s']:.3f} s over {args.repeats} runs "
          f"({loc.info.get('max_side')} px cap, tiles of {loc.input_size}); {dest}")  # fmt: skip


if __name__ == "__main__":
    main()
