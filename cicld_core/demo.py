"""The main job, as far as the project goes today: make a short synthetic drive in the
Cityscapes layout, read it back through the Cityscapes loader, and show what it holds.

Later issues extend this to the whole product (bag, node, replay evaluation); the
command and its output folder stay the same.
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
from tqdm import tqdm

from .cli_types import frame_size, int_at_least
from .data import CityscapesDataset, load_or_compute_class_stats
from .io import write_png
from .labels import CLASS_NAMES, NUM_TRAIN_CLASSES, overlay
from .synth import generate_frame, write_frame


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="bash demo.sh",
        description="Generate a short Cityscapes-style synthetic drive (camera-like 'target' "
        "style), load it back with the Cityscapes loader, and write a preview strip.",
    )
    parser.add_argument("--out", type=Path, default=Path("runs/demo"), help="output folder (default: runs/demo)")
    parser.add_argument("--frames", type=int_at_least(1), default=24, help="frames in the drive (default: 24)")
    parser.add_argument("--size", type=frame_size, default=(1024, 512), metavar="WxH",
                        help="frame size (default: 1024x512)")
    parser.add_argument("--seed", type=int_at_least(0), default=0, help="random seed (default: 0)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    drive_root = args.out / "drive"
    start = time.perf_counter()
    for index in tqdm(range(args.frames), desc="generating drive", unit="frame"):
        frame = generate_frame(args.seed, index, args.size, style="target", split="val")
        write_frame(drive_root, "cityscapes", "val", index, frame)
    generation_s = time.perf_counter() - start

    dataset = CityscapesDataset(drive_root, split="val")
    stats = load_or_compute_class_stats(dataset)
    pixels = np.zeros(NUM_TRAIN_CLASSES, dtype=np.int64)
    frames_with = np.zeros(NUM_TRAIN_CLASSES, dtype=np.int64)
    for entry in stats:
        for class_id, count in entry["counts"].items():
            if int(class_id) < NUM_TRAIN_CLASSES and count > 0:
                pixels[int(class_id)] += count
                frames_with[int(class_id)] += 1

    preview_path = args.out / "preview.png"
    picks = np.linspace(0, len(dataset) - 1, num=min(4, len(dataset))).round().astype(int)
    tiles = []
    for index in picks:
        image, label = dataset.load_raw(int(index))
        tiles.append(np.concatenate([image, overlay(image, label, alpha=0.6)], axis=1))
    write_png(preview_path, np.concatenate(tiles, axis=0))

    print(f"\nwrote {len(dataset)} frames of {args.size[0]}x{args.size[1]} to {drive_root} "
          f"({len(dataset) / generation_s:.1f} frames/s), Cityscapes layout, split 'val'")
    print(f"{'class':<14}{'frames':>8}{'pixel share':>13}")
    for class_id, name in enumerate(CLASS_NAMES):
        share = 100.0 * pixels[class_id] / max(pixels.sum(), 1)
        print(f"{name:<14}{frames_with[class_id]:>8}{share:>12.2f}%")
    print(f"\npreview (image | ground-truth overlay): {preview_path}")


if __name__ == "__main__":
    main()
