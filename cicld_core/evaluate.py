"""Score a CICLD checkpoint on a labelled dataset split: mIoU, pixel accuracy, per-class IoU.

Intersections and unions are summed over the whole split before dividing (the
Cityscapes convention). The protocol picks the classes that enter the mean: 19 for
GTA5 -> Cityscapes, 16 or 13 for Synthia -> Cityscapes; the other classes are still
counted as errors when predicted, only left out of the mean.
"""
from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path
from typing import Any

import torch

from .cli_types import int_at_least
from .data import build_dataset
from .evaluation import eval_transform, evaluate_model
from .io import DataError, write_json
from .labels import CLASS_NAMES, NUM_TRAIN_CLASSES, PROTOCOLS
from .metrics import ConfusionMatrix
from .model import DEFAULT_STEPS, DEFAULT_STRENGTH, DTYPES
from .model.checkpoint import CheckpointError, load_model
from .model.config import MAX_TRAIN_TIMESTEPS
from .model.sampling import sampling_problems
from .device import pick_device

DATASETS = ("cityscapes", "gta5", "synthia")

EPILOG = """\
example:
  python -m cicld_core.evaluate --checkpoint runs/gta2cs/final.safetensors \\
      --dataset cityscapes --root data/cityscapes --split val --steps 2 --json eval.json

datasets and splits:
  cityscapes  --split is the folder under leftImg8bit/ and gtFine/ (val, train, ...)
  gta5        --split names the list file <root>/<split>.txt; "all" takes every image
  synthia     as gta5

exit status: 0 on success, 2 on a usage error or an unusable checkpoint or dataset
(one "error: ..." line on stderr).
"""


def strength_value(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number, got {text!r}") from None
    if not 0 < value <= 1:
        raise argparse.ArgumentTypeError(f"must be in (0, 1], got {value}")
    return value


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m cicld_core.evaluate", description=__doc__, epilog=EPILOG,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoint", required=True, type=Path, metavar="CKPT",
                        help="a CICLD .safetensors checkpoint")
    parser.add_argument("--dataset", required=True, choices=DATASETS, help="the dataset's file layout")
    parser.add_argument("--root", required=True, type=Path, metavar="DIR", help="the dataset's root folder")
    parser.add_argument("--split", default="val", metavar="SPLIT", help="which split to score (default val; see below)")
    parser.add_argument("--steps", type=int_at_least(0), default=DEFAULT_STEPS, metavar="K",
                        help=f"denoising steps K; 0 = the plain encoder-decoder path (default {DEFAULT_STEPS})")
    parser.add_argument("--strength", type=strength_value, default=DEFAULT_STRENGTH, metavar="S",
                        help=f"noise level the denoising starts from, (0, 1] (default {DEFAULT_STRENGTH})")
    parser.add_argument("--protocol", type=int, choices=sorted(PROTOCOLS, reverse=True), default=19,
                        help="classes in the mean: 19, 16 or 13 (default 19)")
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N (default auto)")
    parser.add_argument("--dtype", choices=list(DTYPES), default="fp32", help="compute precision (default fp32)")
    parser.add_argument("--seed", type=int_at_least(0), default=0,
                        help="noise seed, the same for every image (default 0)")
    parser.add_argument("--max-images", type=int_at_least(1), default=None, metavar="N",
                        help="score only the first N images in name order (default: all)")
    parser.add_argument("--json", type=Path, default=None, metavar="OUT",
                        help="also write the figures and settings to this file")
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    args = parser.parse_args(argv)
    # steps / strength is bounded by the model's T, checked again once the model is loaded
    problems = sampling_problems(args.steps, args.strength, seed=args.seed, num_train_timesteps=MAX_TRAIN_TIMESTEPS)
    if problems:
        parser.error("; ".join(problems))
    return args


def format_table(metric: ConfusionMatrix, protocol: int, images: int) -> str:
    """One line per class (IoU in %, '-' outside the protocol, 'n/a' when the class never
    occurs in truth or prediction), then mIoU, pixel accuracy and the image count."""
    iou = metric.iou()
    scored = set(PROTOCOLS[protocol])
    mean_label = f"mIoU ({protocol} classes)"
    width = max(len(mean_label), *(len(name) for name in CLASS_NAMES)) + 2
    lines = [f"{'class':<{width}}IoU %"]
    for class_id, name in enumerate(CLASS_NAMES[: metric.num_classes]):
        value = "-" if class_id not in scored else "n/a" if math.isnan(iou[class_id]) else f"{100 * iou[class_id]:.2f}"
        lines.append(f"{name:<{width}}{value}")
    lines.append("")
    lines.append(f"{mean_label:<{width}}{percent(metric.miou(protocol))}")
    lines.append(f"{'pixel accuracy':<{width}}{percent(metric.pixel_accuracy())}")
    lines.append(f"{'images':<{width}}{images}")
    return "\n".join(lines)


def percent(value: float) -> str:
    return "n/a" if math.isnan(value) else f"{100 * value:.2f}"


def report(args: argparse.Namespace, metric: ConfusionMatrix, images: int, device: torch.device) -> dict[str, Any]:
    """ConfusionMatrix.summary plus what it takes to reproduce the figures."""
    arguments = {key: str(value) if isinstance(value, Path) else value for key, value in vars(args).items()}
    return metric.summary(args.protocol) | {
        "checkpoint": str(args.checkpoint), "dataset": args.dataset, "split": args.split, "images": images,
        "steps": args.steps, "strength": args.strength, "device": str(device), "arguments": arguments,
    }


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        device = pick_device(args.device)
        model, _ = load_model(args.checkpoint, device)
        if model.config.num_classes != NUM_TRAIN_CLASSES:
            # the protocols and the datasets' labels are Cityscapes trainIds
            raise ValueError(f"checkpoint {args.checkpoint} predicts {model.config.num_classes} classes, but "
                             f"protocol {args.protocol} is defined on the {NUM_TRAIN_CLASSES} Cityscapes classes")
        if not args.root.is_dir():
            raise DataError(f"dataset root {args.root} is not a folder")
        dataset = build_dataset(args.dataset, args.root, args.split, transform=eval_transform(model.config))
        metric = evaluate_model(model, dataset, steps=args.steps, strength=args.strength, seed=args.seed,
                                device=device, dtype=args.dtype, progress=not args.no_progress,
                                max_images=args.max_images)
    except (CheckpointError, DataError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    images = len(dataset) if args.max_images is None else min(args.max_images, len(dataset))
    print(f"{args.dataset} {args.split} under {args.root}: steps {args.steps}, strength {args.strength}, "
          f"seed {args.seed}, {args.dtype} on {device}")
    print(format_table(metric, args.protocol, images))
    if args.json is not None:
        try:
            write_json(args.json, report(args, metric, images, device))
        except OSError as error:
            print(f"error: could not write {args.json}: {error}", file=sys.stderr)
            return 2
        print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
