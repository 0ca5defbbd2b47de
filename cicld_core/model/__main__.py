"""Make a freshly initialised checkpoint, or show what a checkpoint holds.

    python -m cicld_core.model init --preset demo --out runs/random.safetensors
    python -m cicld_core.model info runs/random.safetensors
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch

from ..cli_types import fail
from .checkpoint import CheckpointError, load_model, save_model
from .cicld import CICLD, count_parameters
from .config import PRESETS, preset


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m cicld_core.model", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    init = commands.add_parser("init", help="write a randomly initialised model (for tests and plumbing)")
    init.add_argument("--preset", choices=sorted(PRESETS), default="demo")
    init.add_argument("--seed", type=int, default=0)
    init.add_argument("--out", type=Path, required=True)
    info = commands.add_parser("info", help="print a checkpoint's metadata and parameter counts")
    info.add_argument("checkpoint", type=Path)
    args = parser.parse_args(argv)
    if args.command == "init":
        torch.manual_seed(args.seed)
        model = CICLD(preset(args.preset))
        save_model(args.out, model, provenance={"kind": "random init", "preset": args.preset, "seed": args.seed})
        print(f"wrote {args.out} ({count_parameters(model) / 1e6:.2f} M parameters, untrained)")
        return 0
    try:
        model, metadata = load_model(args.checkpoint)
    except CheckpointError as error:
        return fail(error)
    print(json.dumps(metadata, indent=2))
    for name in ("encoder", "decoder", "denoiser", "mask_encoder", "discriminator"):
        print(f"{name:>14}: {count_parameters(getattr(model, name)) / 1e6:6.2f} M parameters")
    return 0


if __name__ == "__main__":
    sys.exit(main())
