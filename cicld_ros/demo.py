"""The main job, end to end, on the shipped checkpoint: generate a short Cityscapes-style
drive, write it as a rosbag2, start the segmentation node (DDS transport) in its own
process, replay the bag through it, and print mIoU, latency and drops.

    bash demo.sh            # = python -m cicld_ros.demo after setting up .venv
"""
from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from pathlib import Path

from tqdm import tqdm

from cicld_core.cli_types import frame_size, int_at_least
from cicld_core.model.sampling import DEFAULT_STEPS
from cicld_core.synth import generate_frame, write_frame

from . import replay_eval
from .bag import write_cityscapes_bag

REPO = Path(__file__).resolve().parents[1]
DEFAULT_CHECKPOINT = REPO / "checkpoints/cicld_synth.safetensors"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bash demo.sh", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=Path("runs/demo"), help="output folder (default runs/demo)")
    parser.add_argument("--frames", type=int_at_least(1), default=40, help="frames in the drive (default 40)")
    parser.add_argument("--size", type=frame_size, default=(256, 128), metavar="WxH",
                        help="frame size; the shipped model was trained on 256x128 (default)")
    parser.add_argument("--seed", type=int_at_least(0), default=3, help="drive seed (default 3)")
    parser.add_argument("--steps", type=int_at_least(0), default=DEFAULT_STEPS,
                        help=f"denoising steps K (default {DEFAULT_STEPS}, from the quality-versus-steps curve)")
    parser.add_argument("--checkpoint", type=Path, default=DEFAULT_CHECKPOINT)
    parser.add_argument("--rate", type=float, default=None, help="replay rate in frames/s (default: as fast as "
                                                                 "the node keeps up)")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    drive, bag, report = args.out / "drive", args.out / "drive_bag", args.out / "report"
    for folder in (drive, bag):  # this command owns them: a rerun starts clean
        shutil.rmtree(folder, ignore_errors=True)
    print(f"1/3 generating a {args.frames}-frame drive ({args.size[0]}x{args.size[1]}, camera-like style) "
          f"in {drive}")
    for index in tqdm(range(args.frames), unit="frame", leave=False):
        write_frame(drive, "cityscapes", "val", index, generate_frame(args.seed, index, args.size, "target", "val"))
    print(f"2/3 writing the rosbag2 {bag} (camera + ground truth, MCAP)")
    write_cityscapes_bag(drive, "val", bag, storage="mcap", rate=10.0, progress=False)
    print(f"3/3 starting the segmentation node (DDS) with {args.checkpoint.name} and replaying the bag to it")
    replay_args = ["--bag", str(bag), "--checkpoint", str(args.checkpoint), "--mode", "live", "--steps",
                   str(args.steps), "--report", str(report)] + (["--rate", str(args.rate)] if args.rate else [])
    status = replay_eval.main(replay_args)
    if status != 0:
        return status
    lines, status = summary(json.loads((report / "report.json").read_text()), args.steps, args.size)
    print("\n" + "\n".join(lines), file=sys.stderr if status else sys.stdout)
    if status == 0:
        print(f"report: {report / 'report.md'} (overlays: {report / 'frames.png'}); "
              f"total {time.perf_counter() - started:.0f} s")
    return status


def summary(figures: dict, steps: int, size: tuple[int, int]) -> tuple[list[str], int]:
    """What the replay measured, and the exit status: 1 when no mask came back at all."""
    sent, frames = figures.get("frames_sent", 0), figures.get("frames", 0)
    if not frames:
        return [f"error: the node answered none of the {sent} frames sent ({size[0]}x{size[1]}), so there is nothing "
                f"to score. Large frames are lost when the DDS socket receive buffer cannot hold one (a warning "
                f"above says so when that is the cause): see the README on CYCLONEDDS_URI"], 1
    latency = figures["latency_ms"]
    quality = (f"mIoU {figures['miou']:.1f} (19 classes)" if "miou" in figures else "no ground truth, so no mIoU")
    return [f"{quality} on {frames} frames, K = {steps}",
            f"latency (publish -> mask) p50 {latency['p50']:.0f} ms, p90 {latency['p90']:.0f} ms, "
            f"p99 {latency['p99']:.0f} ms; {figures.get('throughput_fps')} frames/s; "
            f"{figures.get('frames_dropped', 0)} of {sent} frames dropped"], 0


if __name__ == "__main__":
    sys.exit(main())
