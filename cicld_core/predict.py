"""Segment images with a CICLD checkpoint and write masks, colour masks and overlays.

    python -m cicld_core.predict --checkpoint model.safetensors --input frames/ --output out/ --steps 2

For each image ``<name>`` it writes ``<name>_trainIds.png`` (8-bit trainIds, 255 ignore),
``<name>_color.png`` (Cityscapes palette) and ``<name>_overlay.png``; with ``--samples``
above 1 also ``<name>_uncertainty.png`` (share of noise samples that disagree, 0..255).

An image that cannot be segmented (truncated, corrupt, smaller than 8x8, or above
--max-pixels, which is read from the PNG/JPEG header before decoding) is skipped with a
warning and the others go on. An --output folder inside --input is not searched for
images. Exit status: 0 when every image was written, 1 when some were skipped or a
result could not be written, 2 on a usage error or an unusable checkpoint or input.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
from tqdm import tqdm

from .cli_types import fail, int_at_least
from .data.image_folder import IMAGE_EXTENSIONS, ImageFolderDataset
from .device import pick_device
from .evaluation.scoring import segment_at_size_with_uncertainty
from .input_size_argument import add_input_size_argument, resolve_input_size
from .io import DataError, read_rgb, write_png
from .labels import colorize, overlay
from .model import MIN_IMAGE_SIZE, CheckpointError, load_model
from .sampling_arguments import add_sampling_arguments, sampling_from_args

DEFAULT_MAX_PIXELS = 4096 * 4096  # as the node's max_pixels


def list_images(source: Path, exclude: Path | None = None) -> list[tuple[Path, str]]:
    """(path, output name) for a single image or every image below a folder, leaving out
    the folder ``exclude`` (the output folder, so earlier results are not segmented again)."""
    if source.is_file():
        if source.suffix.lower() not in IMAGE_EXTENSIONS:
            raise DataError(f"{source} is not a {'/'.join(IMAGE_EXTENSIONS)} image")
        return [(source, source.stem)]
    if not source.exists():
        raise DataError(f"input {source} does not exist")
    images = [(sample.image, sample.name) for sample in ImageFolderDataset(source).samples]
    if exclude is not None:
        exclude = exclude.resolve()
        images = [(path, name) for path, name in images if not path.resolve().is_relative_to(exclude)]
        if not images:
            raise DataError(f"input {source} holds no images outside the output folder {exclude}")
    return images


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m cicld_core.predict", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoint", required=True, type=Path, help="a CICLD .safetensors checkpoint")
    parser.add_argument("--input", required=True, type=Path, help="an image, or a folder searched recursively")
    parser.add_argument("--output", required=True, type=Path, help="folder for the results (sub-folders kept)")
    add_sampling_arguments(parser)
    add_input_size_argument(parser)
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N (default auto)")
    parser.add_argument("--alpha", type=float, default=0.5, help="overlay opacity of the colour mask (default 0.5)")
    parser.add_argument("--max-pixels", type=int_at_least(MIN_IMAGE_SIZE ** 2), default=DEFAULT_MAX_PIXELS,
                        metavar="N", help=f"skip images with more pixels than this (default {DEFAULT_MAX_PIXELS}, "
                                          "4096x4096)")
    args = parser.parse_args(argv)
    # steps / strength is bounded by the model's T, checked again once the model is loaded
    args.sampling = sampling_from_args(parser, args)
    if not 0 <= args.alpha <= 1:
        parser.error("--alpha must be in [0, 1]")
    if args.input.is_dir() and args.output.resolve() == args.input.resolve():
        parser.error("--output must not be the --input folder (the results would be segmented on the next run); "
                     "give a separate folder or a sub-folder")
    return args


def load_image(path: Path, max_pixels: int) -> np.ndarray:
    """The image, or DataError saying why it cannot be segmented."""
    rgb = read_rgb(path, max_pixels=max_pixels)
    if min(rgb.shape[:2]) < MIN_IMAGE_SIZE:
        raise DataError(f"image {path} is {rgb.shape[1]}x{rgb.shape[0]}, smaller than the "
                        f"{MIN_IMAGE_SIZE}x{MIN_IMAGE_SIZE} the model needs")
    return rgb


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        device = pick_device(args.device)
        model, metadata = load_model(args.checkpoint, device)
        args.sampling.validate(model.config.num_train_timesteps)
        input_size = resolve_input_size(args.input_size, metadata)
        images = list_images(args.input, exclude=args.output if args.input.is_dir() else None)
    except (CheckpointError, DataError, ValueError) as error:
        return fail(error)
    written, skipped = 0, 0
    for path, name in tqdm(images, desc="segmenting", unit="image"):
        try:
            rgb = load_image(path, args.max_pixels)
        except DataError as error:
            skipped += 1
            tqdm.write(f"warning: skipped {error}", file=sys.stderr)
            continue
        train_ids, uncertainty = segment_at_size_with_uncertainty(model, rgb, args.sampling, device, input_size)
        try:
            write_png(args.output / f"{name}_trainIds.png", train_ids)
            write_png(args.output / f"{name}_color.png", colorize(train_ids))
            write_png(args.output / f"{name}_overlay.png", overlay(rgb, train_ids, alpha=args.alpha))
            if uncertainty is not None:
                write_png(args.output / f"{name}_uncertainty.png", (uncertainty * 255).round().astype(np.uint8))
        except (DataError, OSError) as error:
            return fail(f"could not write the results of {path}: {error}", status=1)
        written += 1
    print(f"wrote {written} of {len(images)} images ({3 + (args.samples > 1)} files each) to {args.output}"
          + (f"; skipped {skipped} (warnings above)" if skipped else ""))
    return 1 if skipped else 0


if __name__ == "__main__":
    sys.exit(main())
