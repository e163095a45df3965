"""Export a trained student to ONNX (dynamic batch), verified against PyTorch; optionally int8.

The fp32 model is checked on a batch of images: the largest difference of probabilities
between ONNX Runtime and PyTorch must be <= --atol (default 1e-4), or the export fails.
With --int8, a quantized copy is written too (static: calibrated on --calib images, QDQ or
QOperator format, per-channel weights; or dynamic), and with --eval DATASET the accuracy
price of int8 is measured: per-image pixel F1 at 0.5 of the fp32 and the int8 model on
that dataset, and their difference (should stay within 0.01).

examples:
  boxprompt export --model runs/train/exp/best.pt
  boxprompt export --model general-v4                   # the shipped default -> general-v4.onnx
  boxprompt export --model best.pt --int8 --calib data/casia2/Tp --eval data/coverage
  boxprompt export --model best.pt --int8 --quant dynamic --out deploy/student.onnx
"""

from __future__ import annotations

import argparse


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--model",
        "-m",
        required=True,
        metavar="MODEL",
        help="student checkpoint (.pt), or a shipped student by name (general-v4, ...; "
        "written to ./NAME.onnx unless --out is given)",
    )
    p.add_argument(
        "--format", choices=("onnx",), default="onnx", help="export format (default onnx)"
    )
    p.add_argument(
        "-o", "--out", default=None, help="output .onnx (default: next to the checkpoint)"
    )
    p.add_argument("--opset", type=int, default=17, help="ONNX opset (default 17)")
    p.add_argument(
        "--atol", type=float, default=1e-4, help="largest accepted probability difference"
    )
    p.add_argument("--no-verify", action="store_true", help="skip the comparison with PyTorch")
    p.add_argument(
        "--int8", action="store_true", help="also write an int8 model (<stem>.int8.onnx)"
    )
    p.add_argument(
        "--quant",
        choices=("static", "dynamic"),
        default="static",
        help="int8 method (default static)",
    )
    p.add_argument(
        "--quant-format",
        choices=("qdq", "qoperator"),
        default="qdq",
        help="static int8 graph format (default qdq)",
    )
    p.add_argument(
        "--calib", default=None, metavar="SOURCE", help="calibration images (folder, glob, list)"
    )
    p.add_argument(
        "--calib-count", type=int, default=64, help="calibration images used (default 64)"
    )
    p.add_argument(
        "--quant-exclude",
        nargs="*",
        default=[],
        metavar="NODE",
        help="ONNX node names kept in fp32",
    )
    p.add_argument(
        "--no-reduce-range",
        action="store_true",
        help="8-bit weights instead of 7 (only for CPUs with VNNI/AMX: AVX2 saturates)",
    )
    p.add_argument(
        "--eval", default=None, metavar="DATASET", help="measure the int8 F1 cost on this dataset"
    )
    p.add_argument("--eval-limit", type=int, default=None, help="use at most N images of --eval")


def run(args: argparse.Namespace) -> int:
    from boxpromptiml.errors import ConfigError
    from boxpromptiml.export import export_onnx, quantization_cost, quantize_onnx
    from boxpromptiml.predict.shipped import SHIPPED_MODELS, resolve_model

    if args.eval and not args.int8:
        raise ConfigError("--eval measures the int8 cost: add --int8")
    out = args.out
    if out is None and args.model in SHIPPED_MODELS:  # never write into the installed package
        out = f"{args.model}.onnx"
    report = export_onnx(
        resolve_model(args.model),
        out,
        opset=args.opset,
        verify=not args.no_verify,
        verify_images=args.calib,
        atol=args.atol,
    )
    line = f"exported {report.onnx} (input {report.input_size}x{report.input_size}, dynamic batch)"
    if report.max_abs_diff is not None:
        line += (
            f"; max |ONNX - PyTorch| = {report.max_abs_diff:.2e} on {report.verify_batch} images"
        )
    print(line)
    if args.int8:
        int8 = quantize_onnx(
            report.onnx,
            calibration=args.calib,
            calib_count=args.calib_count,
            method=args.quant,
            quant_format=args.quant_format,
            reduce_range=not args.no_reduce_range,
            exclude_nodes=args.quant_exclude,
        )
        print(
            f"int8 model: {int8} ({args.quant}, {args.quant_format if args.quant == 'static' else 'dynamic'})"
        )
        if args.eval:
            cost = quantization_cost(
                report.onnx, int8, args.eval, limit=args.eval_limit, progress=True
            )
            print(
                f"int8 cost on {args.eval} ({cost['n_images']} images): pixel F1 "
                f"{cost['f1_fp32']:.4f} (fp32) -> {cost['f1_int8']:.4f} (int8), "
                f"difference {cost['f1_delta']:+.4f}; masks differ on "
                f"{100 * cost['mask_disagreement']:.3f} % of pixels"
            )
    return 0
