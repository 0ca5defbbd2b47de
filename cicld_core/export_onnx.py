"""Export a CICLD checkpoint to ONNX: the encoder, one denoising step and the decoder, each
checked against PyTorch with ONNX Runtime before anything is kept (cicld_core.model.export_onnx
does the work and describes the graphs and export.json).

    python -m cicld_core.export_onnx --checkpoint CKPT --size 1024x512 --out runs/onnx

Into an existing --out folder only the files the export writes are replaced; nothing else there
is ever removed or replaced.
"""
from __future__ import annotations

import argparse
import importlib.util
import sys
from pathlib import Path

from .cli_types import fail, frame_size, int_at_least
from .model import CheckpointError, load_model
from .model.export_onnx import check_out, export, is_own_file
from .sampling_arguments import add_sampling_arguments, sampling_from_args


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m cicld_core.export_onnx", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoint", required=True, type=Path, help="a CICLD .safetensors checkpoint")
    parser.add_argument("--size", type=frame_size, default=(1024, 512), metavar="WxH", help="input size (default 1024x512)")
    parser.add_argument("--batch", type=int_at_least(1), default=1, help="cameras per batch (default 1)")
    parser.add_argument("--out", required=True, type=Path,
                        help="folder for the .onnx files and export.json; in an existing folder only those "
                             "files are replaced, nothing else is touched")
    parser.add_argument("--opset", type=int, default=18, help="ONNX opset (default 18)")
    add_sampling_arguments(parser, sampler=False, samples=False, seed=False, dtype=False)  # the schedule in export.json
    args = parser.parse_args(argv)
    # steps / strength is bounded by the model's T, known once it is loaded; the rest is checked now
    sampling = sampling_from_args(parser, args)
    if args.checkpoint.resolve().parent == args.out.resolve() and is_own_file(args.checkpoint.name):
        parser.error(f"the export would replace the checkpoint {args.checkpoint}: choose another --out")
    if importlib.util.find_spec("onnxruntime") is None or importlib.util.find_spec("onnx") is None:
        return fail("ONNX export needs onnx and onnxruntime: pip install -e .[onnx]")
    try:
        check_out(args.out)
        model, _ = load_model(args.checkpoint, "cpu")
        sampling.validate(model.config.num_train_timesteps)
    except (CheckpointError, ValueError) as error:
        return fail(error)
    try:
        report = export(model, args.batch, args.size, args.out, args.opset, sampling.steps, sampling.strength)
    except (RuntimeError, OSError) as error:
        return fail(error, status=1)
    for name, graph in report["graphs"].items():
        print(f"{args.out / (name + '.onnx')}: max |ONNX Runtime - PyTorch| = {graph['max_abs_diff']:.2e} "
              f"(values up to {graph['max_abs_value']:.2f})")
    print(f"{args.out / 'export.json'}: shapes, checks and the K={args.steps} DDIM schedule")
    return 0


if __name__ == "__main__":
    sys.exit(main())
