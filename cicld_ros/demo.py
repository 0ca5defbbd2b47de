"""
The main job, end to end, on the shipped checkpoint.

Generate a short Cityscapes-style drive with a LiDAR, write it as a rosbag2, start the segmentation
node (DDS transport) in its own process, replay the bag through it, and print mIoU, latency and
drops; then let the node paint a few LiDAR clouds and add their bird's-eye view and point mIoU to
the report.

With --camvid DIR the drive is a real one instead: CamVid's val sequence (Cambridge, 480x360,
labelled at 1 Hz) as the camera's JPEGs in a rosbag2, replayed through the node with the
checkpoint adapted to CamVid, scored on CamVid's 11 classes. CamVid is CC BY-NC 4.0 and is
read from DIR; nothing of it is kept but the report.

    bash demo.sh                 # = python -m cicld_ros.demo after setting up .venv
    bash demo.sh --camvid DIR    # a real drive
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
from cicld_core.io import atomic_path, write_png
from cicld_core.model import DEFAULT_STEPS
from cicld_core.synth import LidarSpec, generate_frame, write_frame, write_sensors

from .bags.bag import write_cityscapes_bag
from .bags.bag_lidar import LidarTopics
from .replay import replay_eval
from .replay.painting_demo import figure, paint_with_node, point_miou

PAINTED_FRAMES = 3  # clouds painted for the report's bird's-eye view

REPO = Path(__file__).resolve().parents[1]
DEFAULT_CHECKPOINT = REPO / "checkpoints/cicld_synth.safetensors"
CAMVID_CHECKPOINT = REPO / "checkpoints/cicld_camvid.safetensors"
CAMVID_INPUT_SIZE = (256, 192)  # what the CamVid checkpoint was trained and validated at


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bash demo.sh", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--out", type=Path, default=Path("runs/demo"), help="output folder (default runs/demo)"
    )
    parser.add_argument(
        "--frames", type=int_at_least(1), default=40, help="frames in the drive (default 40)"
    )
    parser.add_argument("--size", type=frame_size, default=(256, 128), metavar="WxH",
                        help="frame size; the shipped model was trained on 256x128 (default)")
    parser.add_argument("--seed", type=int_at_least(0), default=3, help="drive seed (default 3)")
    parser.add_argument(
        "--steps",
        type=int_at_least(0),
        default=DEFAULT_STEPS,
        help=f"denoising steps K (default {DEFAULT_STEPS}, from the quality-versus-steps curve)",
    )
    parser.add_argument(
        "--checkpoint",
        type=Path,
        default=None,
        help="default: checkpoints/cicld_synth.safetensors; with --camvid "
             "cicld_camvid.safetensors",
    )
    parser.add_argument(
        "--camvid",
        type=Path,
        default=None,
        metavar="DIR",
        help="replay a real drive: CamVid's val sequence from DIR (SegNet layout), scored on its "
             "11 "
        "classes (--frames, --size and --seed do not apply)",
    )
    parser.add_argument(
        "--rate",
        type=float,
        default=None,
        help="replay rate in frames/s (default: as fast as the node keeps up)",
    )
    args = parser.parse_args(argv)
    if args.camvid is not None:
        return camvid_demo(args)
    args.checkpoint = args.checkpoint or DEFAULT_CHECKPOINT
    started = time.perf_counter()
    drive, bag, report = args.out / "drive", args.out / "drive_bag", args.out / "report"
    for folder in (drive, bag):  # this command owns them: a rerun starts clean
        shutil.rmtree(folder, ignore_errors=True)
    print(
        f"1/4 generating a {args.frames}-frame drive ({args.size[0]}x{args.size[1]}, camera-like "
        "style, "
        f"a 32-beam LiDAR) in {drive}"
    )
    for index in tqdm(range(args.frames), unit="frame", leave=False):
        frame = generate_frame(args.seed, index, args.size, "target", "val", lidar=LidarSpec())
        write_frame(drive, "cityscapes", "val", index, frame)
        write_sensors(drive, "cityscapes", "val", index, frame.sensors)
    print(
        f"2/4 writing the rosbag2 {bag} (camera, ground truth, CameraInfo, LiDAR, /tf_static; "
        "MCAP)"
    )
    write_cityscapes_bag(
        drive, "val", bag, storage="mcap", rate=10.0, progress=False, lidar=LidarTopics()
    )
    print(
        f"3/4 starting the segmentation node (DDS) with {args.checkpoint.name} and replaying the "
        "bag to it"
    )
    replay_args = [
        "--bag",
        str(bag),
        "--checkpoint",
        str(args.checkpoint),
        "--mode",
        "live",
        "--steps",
        str(args.steps),
        "--report",
        str(report),
    ] + (["--rate", str(args.rate)] if args.rate else [])
    status = replay_eval.main(replay_args)
    if status != 0:
        return status
    lines, status = summary(
        json.loads((report / "report.json").read_text()), args.steps, args.size
    )
    if status == 0:
        lines.append(painted_clouds(bag, args.checkpoint, args.steps, report))
    print("\n" + "\n".join(lines), file=sys.stderr if status else sys.stdout)
    if status == 0:
        print(
            f"report: {report / 'report.md'} (overlays: {report / 'frames.png'}, painted clouds: "
            f"{report / 'painted_cloud.png'}); total {time.perf_counter() - started:.0f} s"
        )
    return status


def camvid_demo(args: argparse.Namespace) -> int:
    """Run the real drive: CamVid val as a bag of the camera's JPEGs, replayed through the node."""
    from cicld_core.io import DataError

    from .bags.bag import camvid_drive

    started = time.perf_counter()
    checkpoint = args.checkpoint or (
        CAMVID_CHECKPOINT if CAMVID_CHECKPOINT.is_file() else DEFAULT_CHECKPOINT
    )
    bag, report = args.out / "camvid_bag", args.out / "camvid_report"
    shutil.rmtree(bag, ignore_errors=True)
    print(
        f"1/2 writing CamVid val from {args.camvid} as a rosbag2 {bag} (the camera's JPEGs in "
        "time order, 1 Hz, "
        "ground truth; MCAP)"
    )
    try:
        drive = camvid_drive(args.camvid, "val")
    except DataError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    write_cityscapes_bag(
        args.camvid, "val", bag, compressed=True, rate=1.0, progress=False, dataset=drive
    )
    size = "x".join(str(v) for v in CAMVID_INPUT_SIZE)
    print(
        f"2/2 starting the segmentation node (DDS) with {checkpoint.name} at a {size} model input "
        "and replaying "
        "the drive to it as fast as it answers"
    )
    status = replay_eval.main(
        [
            "--bag",
            str(bag),
            "--checkpoint",
            str(checkpoint),
            "--mode",
            "live",
            "--steps",
            str(args.steps),
            "--protocol",
            "11",
            "--input-size",
            size,
            "--report",
            str(report),
        ]
        + (["--rate", str(args.rate)] if args.rate else [])
    )
    if status != 0:
        return status
    figures = json.loads((report / "report.json").read_text())
    lines, status = summary(figures, args.steps, (480, 360))
    print("\n" + "\n".join(lines).replace("(19 classes)", "(CamVid's 11 classes)"),
          file=sys.stderr if status else sys.stdout)
    if status == 0:
        print(f"report: {report / 'report.md'} (overlays: {report / 'frames.png'}); total "
              f"{time.perf_counter() - started:.0f} s")
    return status


def painted_clouds(bag: Path, checkpoint: Path, steps: int, report: Path) -> str:
    """
    Step 4: the node paints a few LiDAR clouds for the report.

    Their bird's-eye view and point mIoU go in the report. Returns the summary line.
    """
    print(
        f"4/4 starting the node with LiDAR painting and sending it {PAINTED_FRAMES} frames of the "
        "bag"
    )
    frames = paint_with_node(bag, checkpoint, steps, PAINTED_FRAMES)
    miou = point_miou(frames)
    write_png(report / "painted_cloud.png", figure(frames))
    points = sum(int((f.truth != 255).sum()) for f in frames)
    line = (
        f"painted LiDAR clouds: point mIoU {miou:.1f} over the {points} points the camera sees in "
        f"{len(frames)} clouds"
    )
    markdown = (report / "report.md").read_text() + (
        f"\n## Semantic point cloud\n\n{line[0].upper() + line[1:]} (bird's-eye view, 40 m around "
        "the car, "
        f"the node's labels left, ground truth right; grey: not seen by the camera):\n\n"
        f"![painted clouds](painted_cloud.png)\n"
    )
    with atomic_path(report / "report.md") as tmp:
        tmp.write_text(markdown)
    return line


def summary(figures: dict, steps: int, size: tuple[int, int]) -> tuple[list[str], int]:
    """Return what the replay measured, and the exit status: 1 when no mask came back at all."""
    sent, frames = figures.get("frames_sent", 0), figures.get("frames", 0)
    if not frames:
        return [
            f"error: the node answered none of the {sent} frames sent ({size[0]}x{size[1]}), so "
            "there is nothing "
            "to score. Large frames are lost when the DDS socket receive buffer cannot hold one "
            "(a warning "
            f"above says so when that is the cause): see docs/node.md on CYCLONEDDS_URI"
        ], 1
    latency = figures["latency_ms"]
    quality = (
        f"mIoU {figures['miou']:.1f} (19 classes)"
        if "miou" in figures
        else "no ground truth, so no mIoU"
    )
    return [f"{quality} on {frames} frames, K = {steps}",
            f"latency (publish -> mask) p50 {latency['p50']:.0f} ms, p90 {latency['p90']:.0f} ms, "
            f"p99 {latency['p99']:.0f} ms; {figures.get('throughput_fps')} frames/s; "
            f"{figures.get('frames_dropped', 0)} of {sent} frames dropped"], 0


if __name__ == "__main__":
    sys.exit(main())
