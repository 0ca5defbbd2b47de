"""Segment images with a CICLD checkpoint and write masks, colour masks and overlays.

    python -m cicld_core.predict --checkpoint model.safetensors --input frames/ --output out/ --steps 2

For each image ``<name>`` it writes ``<name>_trainIds.png`` (8-bit trainIds, 255 ignore),
``<name>_color.png`` (Cityscapes palette) and ``<name>_overlay.png``; with ``--samples``
above 1 also ``<name>_uncertainty.png`` (share of noise samples that disagree, 0..255).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
from tqdm import tqdm

from .device import pick_device
from .data.image_folder import IMAGE_EXTENSIONS, ImageFolderDataset
from .io import DataError, read_rgb, write_png
from .labels import colorize, overlay
from .model import DEFAULT_STEPS, DEFAULT_STRENGTH, DTYPES, SAMPLERS, images_to_tensor
from .model.checkpoint import CheckpointError, load_model


def list_images(source: Path) -> list[tuple[Path, str]]:
    """(path, output name) for a single image or every image below a folder."""
    if source.is_file():
        if source.suffix.lower() not in IMAGE_EXTENSIONS:
            raise DataError(f"{source} is not a {'/'.join(IMAGE_EXTENSIONS)} image")
        return [(source, source.stem)]
    if not source.exists():
        raise DataError(f"input {source} does not exist")
    return [(sample.image, sample.name) for sample in ImageFolderDataset(source).samples]


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m cicld_core.predict", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoint", required=True, type=Path, help="a CICLD .safetensors checkpoint")
    parser.add_argument("--input", required=True, type=Path, help="an image, or a folder searched recursively")
    parser.add_argument("--output", required=True, type=Path, help="folder for the results (sub-folders kept)")
    parser.add_argument("--steps", type=int, default=DEFAULT_STEPS,
                        help=f"denoising steps K; 0 = no diffusion (default {DEFAULT_STEPS})")
    parser.add_argument("--strength", type=float, default=DEFAULT_STRENGTH,
                        help=f"noise level to start from, (0, 1] (default {DEFAULT_STRENGTH})")
    parser.add_argument("--samples", type=int, default=1, help="noise samples per image; >1 adds uncertainty maps")
    parser.add_argument("--sampler", choices=sorted(SAMPLERS), default="ddim")
    parser.add_argument("--seed", type=int, default=0, help="noise seed (default 0)")
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N (default auto)")
    parser.add_argument("--dtype", choices=sorted(DTYPES), default="fp32", help="compute precision (default fp32)")
    parser.add_argument("--alpha", type=float, default=0.5, help="overlay opacity of the colour mask (default 0.5)")
    args = parser.parse_args(argv)
    if args.steps < 0:
        parser.error("--steps must be 0 or more")
    if not 0 < args.strength <= 1:
        parser.error("--strength must be in (0, 1]")
    if args.samples < 1:
        parser.error("--samples must be at least 1")
    if not 0 <= args.alpha <= 1:
        parser.error("--alpha must be in [0, 1]")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        device = pick_device(args.device)
        model, metadata = load_model(args.checkpoint, device)
        images = list_images(args.input)
    except (CheckpointError, DataError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    config = model.config
    for path, name in tqdm(images, desc="segmenting", unit="image"):
        rgb = read_rgb(path)
        batch = images_to_tensor(rgb, config.mean, config.std, device)
        result = model.segment(batch, steps=args.steps, strength=args.strength, seed=args.seed,
                               num_samples=args.samples, dtype=args.dtype, sampler=args.sampler)
        train_ids = result.train_ids[0].cpu().numpy()
        write_png(args.output / f"{name}_trainIds.png", train_ids)
        write_png(args.output / f"{name}_color.png", colorize(train_ids))
        write_png(args.output / f"{name}_overlay.png", overlay(rgb, train_ids, alpha=args.alpha))
        if result.uncertainty is not None:
            uncertainty = (result.uncertainty[0].cpu().numpy() * 255).round().astype(np.uint8)
            write_png(args.output / f"{name}_uncertainty.png", uncertainty)
    print(f"wrote {len(images)} x {3 + (args.samples > 1)} files to {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
