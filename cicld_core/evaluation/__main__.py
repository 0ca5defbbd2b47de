"""Score a CICLD checkpoint on a labelled dataset split: mIoU, pixel accuracy, per-class IoU.

Intersections and unions are summed over the whole split before dividing (the
Cityscapes convention). The protocol picks the classes that enter the mean: 19 for
GTA5 -> Cityscapes, 16 or 13 for Synthia -> Cityscapes; the other classes are still
counted as errors when predicted, only left out of the mean.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import torch

from ..cli_types import fail, int_at_least
from ..data import LABELLED_KINDS, build_dataset
from ..device import pick_device
from ..io import DataError, write_json
from ..labels import ALL_PROTOCOLS, CAMVID_PROTOCOL, NUM_TRAIN_CLASSES
from ..metrics import ConfusionMatrix
from ..input_size_argument import add_input_size_argument, resolve_input_size
from ..measured_with import measured_with
from ..model import CheckpointError, load_model
from ..sampling_arguments import add_sampling_arguments, sampling_from_args
from .scoring import eval_transform, evaluate_model
from .table import format_table

EPILOG = """\
example:
  python -m cicld_core.evaluate --checkpoint runs/gta2cs/final.safetensors \\
      --dataset cityscapes --root data/cityscapes --split val --steps 2 --json eval.json

datasets and splits:
  cityscapes  --split is the folder under leftImg8bit/ and gtFine/ (val, train, ...)
  gta5        --split names the list file <root>/<split>.txt; "all" takes every image
  synthia     as gta5
  camvid      --split is the frame folder (train, val, test), labels in <split>annot/; scored with
              protocol 11: predictions merged into CamVid's 11 classes (terrain counts as Tree).
              The original release (label_colors.txt, LabeledApproved_full/): --split all, or
              the list file <root>/<split>.txt (SegNet's val.txt works)

exit status: 0 on success, 2 on a usage error or an unusable checkpoint or dataset
(one "error: ..." line on stderr).
"""


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m cicld_core.evaluate", description=__doc__, epilog=EPILOG,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoint", required=True, type=Path, metavar="CKPT",
                        help="a CICLD .safetensors checkpoint")
    parser.add_argument("--dataset", required=True, choices=LABELLED_KINDS, help="the dataset's file layout")
    parser.add_argument("--root", required=True, type=Path, metavar="DIR", help="the dataset's root folder")
    parser.add_argument("--split", default="val", metavar="SPLIT", help="which split to score (default val; see below)")
    add_sampling_arguments(parser, samples=False)
    parser.add_argument("--protocol", type=int, choices=sorted(ALL_PROTOCOLS, reverse=True), default=None,
                        help="classes in the mean: 19, 16 or 13 Cityscapes classes, or 11 = CamVid's classes with "
                             "the prediction merged into them (default 11 for --dataset camvid, else 19)")
    add_input_size_argument(parser)
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N (default auto)")
    parser.add_argument("--max-images", type=int_at_least(1), default=None, metavar="N",
                        help="score only the first N images in name order (default: all)")
    parser.add_argument("--json", type=Path, default=None, metavar="OUT",
                        help="also write the figures and settings to this file")
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    args = parser.parse_args(argv)
    if args.protocol is None:
        args.protocol = CAMVID_PROTOCOL if args.dataset == "camvid" else 19
    elif args.dataset == "camvid" and args.protocol != CAMVID_PROTOCOL:
        parser.error(f"--dataset camvid is scored on CamVid's own classes: use --protocol {CAMVID_PROTOCOL} "
                     f"(CamVid labels are not Cityscapes ids, so protocol {args.protocol} cannot score them)")
    # steps / strength is bounded by the model's T, checked again once the model is loaded
    args.sampling = sampling_from_args(parser, args)
    return args


def report(args: argparse.Namespace, metric: ConfusionMatrix, images: int, device: torch.device,
           input_size: tuple[int, int] | None) -> dict[str, Any]:
    """ConfusionMatrix.summary plus what it takes to reproduce the figures."""
    arguments = {key: str(value) if isinstance(value, Path) else value for key, value in vars(args).items()
                 if key != "sampling"}
    return metric.summary(args.protocol) | {"where_pixels_go": metric.where_pixels_go(args.protocol)} | measured_with(
        args.checkpoint, input_size, args.sampling, device) | {
        "dataset": args.dataset, "split": args.split, "images": images, "arguments": arguments,
    }


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        device = pick_device(args.device)
        model, metadata = load_model(args.checkpoint, device)
        input_size = resolve_input_size(args.input_size, metadata)
        if model.config.num_classes != NUM_TRAIN_CLASSES:
            # the protocols and the datasets' labels are Cityscapes trainIds
            raise ValueError(f"checkpoint {args.checkpoint} predicts {model.config.num_classes} classes, but "
                             f"protocol {args.protocol} is defined on the {NUM_TRAIN_CLASSES} Cityscapes classes")
        if not args.root.is_dir():
            raise DataError(f"dataset root {args.root} is not a folder")
        dataset = build_dataset(args.dataset, args.root, args.split, transform=eval_transform(model.config))
        metric = evaluate_model(model, dataset, args.sampling, device=device, progress=not args.no_progress,
                                max_images=args.max_images, input_size=input_size)
    except (CheckpointError, DataError, ValueError) as error:
        return fail(error)
    images = len(dataset) if args.max_images is None else min(args.max_images, len(dataset))
    size = f"{input_size[0]}x{input_size[1]}" if input_size else "each image's own size"
    print(f"{args.dataset} {args.split} under {args.root}: steps {args.steps}, strength {args.strength}, "
          f"seed {args.seed}, {args.dtype} on {device}, model input {size}")
    print(format_table(metric, args.protocol, images))
    if args.json is not None:
        try:
            write_json(args.json, report(args, metric, images, device, input_size))
        except OSError as error:
            return fail(f"could not write {args.json}: {error}")
        print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
