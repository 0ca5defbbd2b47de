"""What does ROS 2 cost the node? Run from a sourced ROS 2 shell (docs/install.md).

    python benchmarks/rclpy_node.py [--frames 20] [--size 1920x1080] [--steps 0] [--json OUT]

1. The rclpy message conversions at camera size: a sensor_msgs/Image in (rclpy message ->
   the core's record, which the node decodes without a copy) and the three outputs back out
   (class mask mono8, colour mask and overlay rgb8: record -> rclpy message), median and p99
   per frame over ``--repeats``. rclpy issue #836 measured 350 ms for a naive 720p conversion;
   the goal here is under 10 ms a frame at 1920x1080.
2. The node end to end, both transports on the same machine, model and frames, in one run:
   a generated drive of ``--frames`` frames written as a rosbag2, replayed live (frame by frame,
   each sent when the previous mask arrived) to the DDS-mode node (Cyclone) and to the rclpy
   segment_node (the ROS install's rmw, Fast DDS by default), through replay_eval; frames/s and
   latency p50 / p99 (publish to mask) of each.
"""
from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from cicld_core.cli_types import frame_size, int_at_least
from cicld_core.io import write_json

REPO = Path(__file__).resolve().parents[1]
CHECKPOINT = REPO / "checkpoints" / "cicld_synth.safetensors"


def conversion_ms(size: tuple[int, int], repeats: int) -> dict[str, dict[str, float]]:
    """Median and p99 ms per frame of each conversion the rclpy node makes at ``size``."""
    from cicld_ros.messages import rclpy_messages
    from cicld_ros.messages.image_codec import decode
    from cicld_ros.messages.records import Header, Image, Time
    from cicld_ros.segmentation.node_outputs import colour, mono8

    width, height = size
    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
    train_ids = rng.integers(0, 19, (height, width), dtype=np.uint8)
    header = Header(Time(1, 2), "camera")
    camera = rclpy_messages.image_to_rclpy(Image(header, height, width, "rgb8", 0, width * 3, rgb.tobytes()))
    steps = {
        "image_in (rclpy -> record -> pixels)": lambda: decode(rclpy_messages.image_from_rclpy(camera), 1 << 30),
        "class_mask_out (mono8)": lambda: rclpy_messages.image_to_rclpy(mono8(header, train_ids, "rgb8")),
        "color_mask_out (rgb8)": lambda: rclpy_messages.image_to_rclpy(colour(header, rgb, "rgb8")),
        "overlay_out (rgb8)": lambda: rclpy_messages.image_to_rclpy(colour(header, rgb, "rgb8")),
    }
    figures = {}
    for name, step in steps.items():
        step()  # the first call imports and allocates
        times = []
        for _ in range(repeats):
            started = time.perf_counter()
            step()
            times.append((time.perf_counter() - started) * 1000)
        figures[name] = {"median_ms": round(statistics.median(times), 3),
                         "p99_ms": round(float(np.percentile(times, 99)), 3)}
    figures["total_per_frame"] = {
        "median_ms": round(sum(v["median_ms"] for v in figures.values()), 3),
        "p99_ms": round(sum(v["p99_ms"] for v in figures.values()), 3),
    }
    return figures


def node_runs(bag: Path, checkpoint: Path, steps: int, work: Path, domain: int) -> dict[str, dict]:
    """replay_eval live through each transport: frames/s, latency p50 / p99, dropped frames."""
    results = {}
    for index, transport in enumerate(("dds", "rclpy")):
        report = work / f"report_{transport}"
        command = [sys.executable, "-m", "cicld_ros.replay_eval", "--bag", str(bag), "--checkpoint",
                   str(checkpoint), "--mode", "live", "--transport", transport, "--steps", str(steps),
                   "--domain-id", str(domain + index), "--report", str(report), "--no-progress"]
        done = subprocess.run(command, capture_output=True, text=True)
        if done.returncode != 0:
            raise SystemExit(f"error: the {transport} run failed:\n{done.stderr[-3000:]}")
        figures = json.loads((report / "report.json").read_text())
        results[transport] = {"frames": figures["frames"], "frames_dropped": figures.get("frames_dropped", 0),
                              "throughput_fps": figures["throughput_fps"], "latency_ms": figures["latency_ms"],
                              "miou": figures.get("miou")}
    return results


def write_drive(root: Path, frames: int, size: tuple[int, int]) -> Path:
    from cicld_core.synth import generate_frame, write_frame
    from cicld_ros.bags.bag import write_cityscapes_bag

    for index in range(frames):
        write_frame(root / "drive", "cityscapes", "val", index, generate_frame(7, index, size, "target", "val"))
    write_cityscapes_bag(root / "drive", "val", root / "bag", progress=False)
    return root / "bag"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="benchmarks/rclpy_node.py", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=frame_size, default=(1920, 1080), metavar="WxH",
                        help="camera frame size (default 1920x1080)")
    parser.add_argument("--repeats", type=int_at_least(1), default=50, help="conversion repeats (default 50)")
    parser.add_argument("--frames", type=int_at_least(1), default=20,
                        help="frames of the drive each node segments (default 20)")
    parser.add_argument("--steps", type=int, default=0, help="denoising steps K of both nodes (default 0)")
    parser.add_argument("--checkpoint", type=Path, default=CHECKPOINT, help="default: the shipped checkpoint")
    parser.add_argument("--domain-id", type=int, default=140, help="DDS domains used: this and the next")
    parser.add_argument("--json", type=Path, default=None, metavar="OUT", help="also write the figures here")
    args = parser.parse_args(argv)
    try:
        import rclpy  # noqa: F401
    except ImportError:
        parser.error("needs ROS 2's rclpy: run it from a sourced ROS 2 shell (docs/install.md)")
    results = {"size": list(args.size), "conversions": conversion_ms(args.size, args.repeats)}
    print(f"rclpy conversions at {args.size[0]}x{args.size[1]} (ms a frame, median / p99):")
    for name, value in results["conversions"].items():
        print(f"  {name:40s} {value['median_ms']:8.2f} / {value['p99_ms']:.2f}")
    with tempfile.TemporaryDirectory() as tmp:
        bag = write_drive(Path(tmp), args.frames, args.size)
        results["nodes"] = node_runs(bag, args.checkpoint, args.steps, Path(tmp), args.domain_id)
    print(f"the node, {args.frames} frames of {args.size[0]}x{args.size[1]}, K = {args.steps}, each sent "
          "when the previous mask arrived:")
    for transport, value in results["nodes"].items():
        latency = value["latency_ms"]
        print(f"  {transport:6s} {value['throughput_fps']} frames/s, latency p50 {latency['p50']} ms, "
              f"p99 {latency['p99']} ms, {value['frames_dropped']} dropped, mIoU {value['miou']}")
    if args.json is not None:
        write_json(args.json, results)
        print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
