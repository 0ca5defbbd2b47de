"""
Replay a recorded drive through the segmentation model and score it.

    python -m cicld_ros.replay_eval --bag BAG --checkpoint CKPT --mode offline [--steps K]
        --report DIR

``offline`` reads the bag and runs the model directly: deterministic, the reference
number. ``live`` starts the node (the DDS-mode node, or with ``--transport rclpy`` the
rclpy segment_node that ros2 launch starts) in its own process, plays the bag to it
at ``--rate`` (or frame by frame, as fast as the node answers), records the masks it
publishes and matches them to the inputs by header.stamp: latency is publish-to-mask
time, and an input with no mask is a dropped frame; a frame that fails the checks the node
makes (the same decode and max_pixels) is counted as malformed in both modes and not waited
for. A bag with no camera frame stops with a message in both modes. Frames are paired with
their ground truth by header.stamp; mIoU and per-class IoU use the chosen protocol; a bag
without ground truth gives timing only. When the bag also holds a LiDAR ground-truth cloud
(``python -m cicld_ros.bag --lidar``), each mask paints that cloud as the node paints one and
the point mIoU is reported next to the pixel mIoU (cicld_ros.replay.replay_points). The report
folder gets report.json (all figures, the command, versions), report.md, a per-class IoU
chart, a latency histogram and a strip of the worst and best frames. Nothing is written
until the whole bag has been read, so a damaged bag never leaves a report that looks complete.
"""
from __future__ import annotations

import argparse
import heapq
import importlib.util
import math
import platform
import shlex
import sys
import threading
import time
from pathlib import Path

import cv2
import numpy as np
import torch
from tqdm import tqdm

from cicld_core import __version__
from cicld_core.device import pick_device
from cicld_core.io import atomic_path, write_json, write_png
from cicld_core.labels import ALL_PROTOCOLS, CAMVID_PROTOCOL, overlay
from cicld_core.metrics import ConfusionMatrix
from cicld_core.cli_types import fail
from cicld_core.evaluation import segment_at_size
from cicld_core.input_size_argument import NATIVE, add_input_size_argument, resolve_input_size
from cicld_core.measured_with import measured_with
from cicld_core.model import CheckpointError, load_model
from cicld_core.sampling_arguments import add_sampling_arguments, sampling_from_args

from ..bags.bag_reader import BagError, no_frames, read_frames
from ..messages.image_codec import InputError, decode, mono8_values
from ..messages.records import Header
from ..transports.dds.dds_start import DdsStartError
from .node_process import TRANSPORTS
from .replay_points import PointScores

STRIP_FRAMES, STRIP_WIDTH = 3, 512
MAX_PIXELS = 8192 * 8192  # frames above are malformed, in both modes (the node is told the same)


def frame_miou(prediction: np.ndarray, truth: np.ndarray, protocol: int) -> float:
    metric = ConfusionMatrix()
    metric.update(prediction, truth)
    return metric.miou(protocol)


class Scores:
    """
    Confusion matrix over the drive, per-frame timing, the best and worst frames.

    Also the point scores of the painted LiDAR ground truth when the bag has one.
    """

    def __init__(self, protocol: int, points: PointScores | None = None) -> None:
        self.metric, self.protocol, self.points = ConfusionMatrix(), protocol, points
        self.latency_ms: list[float] = []
        self.frames = self.with_truth = self.malformed = 0
        self.best: list = []
        self.worst: list = []

    def add(
        self,
        rgb: np.ndarray,
        prediction: np.ndarray,
        truth: np.ndarray | None,
        latency_ms: float,
        header: Header,
    ) -> None:
        self.frames += 1
        self.latency_ms.append(latency_ms)
        if self.points is not None:  # the LiDAR ground truth of this stamp, painted with this mask
            self.points.add(header, prediction)
        if truth is None:
            return
        self.with_truth += 1
        self.metric.update(prediction, truth)
        score = frame_miou(prediction, truth, self.protocol)
        scale = STRIP_WIDTH / rgb.shape[1]
        size = (STRIP_WIDTH, max(1, int(round(rgb.shape[0] * scale))))
        tile = np.concatenate(
            [
                cv2.resize(overlay(rgb, truth), size, interpolation=cv2.INTER_NEAREST),
                cv2.resize(overlay(rgb, prediction), size, interpolation=cv2.INTER_NEAREST),
            ],
            axis=1,
        )
        entry = (score, self.with_truth, f"{header.stamp.sec}.{header.stamp.nanosec:09d}", tile)
        for heap, key in ((self.best, entry), (self.worst, (-score, *entry[1:]))):
            heapq.heappush(heap, key)
            if len(heap) > STRIP_FRAMES:
                heapq.heappop(heap)

    def figures(self) -> dict:
        latency = np.array(self.latency_ms) if self.latency_ms else np.array([np.nan])
        figures = {
            "frames": self.frames,
            "frames_with_ground_truth": self.with_truth,
            "malformed_frames": self.malformed,
            "latency_ms": {
                f"p{q}": round(float(np.percentile(latency, q)), 2) for q in (50, 90, 99)
            },
        }
        if self.with_truth:
            figures |= self.metric.summary(self.protocol)
        return figures | (self.points.figures() if self.points is not None else {})


def run_offline(args: argparse.Namespace, model, device: torch.device,
                input_size: tuple[int, int] | None) -> tuple[Scores, dict]:
    image_topic, gt_topic, count, frames = read_frames(args.bag, args.image_topic, args.gt_topic)
    scores = Scores(args.protocol, PointScores.from_bag(args.bag, args.protocol))
    started = time.perf_counter()
    for frame in tqdm(
        frames, total=count, desc="offline replay", unit="frame", disable=args.no_progress
    ):
        try:
            rgb = decode(frame.image, max_pixels=MAX_PIXELS)
        except InputError as error:
            skip_malformed(scores, frame, error)
            continue
        t0 = time.perf_counter()
        prediction = segment_at_size(model, rgb, args.sampling, device, input_size)
        latency = (time.perf_counter() - t0) * 1000
        truth = mono8_values(frame.ground_truth) if frame.ground_truth is not None else None
        scores.add(rgb, prediction, truth, latency, frame.image.header)
    elapsed = time.perf_counter() - started
    if scores.frames + scores.malformed == 0:  # the bag's index promised frames it does not hold
        raise no_frames(args.bag, image_topic)
    return scores, {"image_topic": image_topic, "ground_truth_topic": gt_topic,
                    "throughput_fps": round(scores.frames / elapsed, 2) if elapsed > 0 else None}


def skip_malformed(scores: Scores, frame, error: InputError) -> None:
    scores.malformed += 1
    print(f"warning: frame {frame.image.header.stamp.key()} skipped: {error}", file=sys.stderr)


def run_live(args: argparse.Namespace) -> tuple[Scores, dict]:
    """
    Start the node (``--transport``: dds or rclpy) in its own process, play the bag, score it.

    What the node publishes is matched to the inputs by header.stamp.
    """
    import os

    from ..messages.records import COMPRESSED_IMAGE, IMAGE, CompressedImage
    from ..segmentation.core import output_topics
    from ..segmentation.params import sampling_params
    from ..transports.dds.dds_start import domain_id, open_transport
    from .node_process import node_process

    image_topic, gt_topic, count, frames = read_frames(args.bag, args.image_topic, args.gt_topic)
    first = next(frames, None)
    if first is None:
        raise no_frames(args.bag, image_topic)
    kind = COMPRESSED_IMAGE if isinstance(first.image, CompressedImage) else IMAGE
    mask_topic = output_topics(image_topic, "segmentation")["class_mask"]
    params = {
        "checkpoint": str(args.checkpoint),
        "image_topics": [""] if kind == COMPRESSED_IMAGE else [image_topic],
        "compressed_image_topics": [image_topic] if kind == COMPRESSED_IMAGE else [""],
        "device": args.device,
        "publish_color_mask": False,
        "publish_overlay": False,
        "max_batch": 1,
        "max_pixels": MAX_PIXELS,
    } | sampling_params(args.sampling)
    if args.input_size == NATIVE:
        params |= {"input_width": 0, "input_height": 0}
    elif args.input_size is not None:  # else the node's own default, the checkpoint's size
        params |= {"input_width": args.input_size[0], "input_height": args.input_size[1]}
    domain = domain_id(args.domain_id if args.domain_id is not None else 100 + os.getpid() % 100)
    received: dict[tuple[int, int], tuple[float, object]] = {}
    arrived = threading.Condition()

    def on_mask(msg) -> None:
        with arrived:
            received[msg.header.stamp.key()] = (time.perf_counter(), msg)
            arrived.notify_all()

    scores, sent = Scores(args.protocol, PointScores.from_bag(args.bag, args.protocol)), {}
    if args.transport == "rclpy":
        from .rclpy_player import rclpy_transport

        player = rclpy_transport(domain)
    else:
        player = open_transport(domain)
    with player as transport, node_process(params, domain, args.transport) as node:
        masks = transport.subscribe(
            mask_topic, IMAGE, on_mask, reliable=True, depth=16, keep_all=True
        )
        publisher = transport.publisher(image_topic, kind, reliable=True, depth=1)
        # the node segments a frame only once its mask writer has matched a reader: wait for both
        node.wait_until(
            lambda: publisher.subscription_count() > 0 and masks.publication_count() > 0,
            args.startup_timeout,
            f"subscribe to {image_topic} and publish {mask_topic}",
        )
        pending: dict[tuple[int, int], tuple] = {}
        started = time.perf_counter()
        primed = prime(publisher, first, received, arrived, node, args.startup_timeout)
        frames_iter = [first]
        for index, frame in enumerate(
            tqdm(
                _chain(frames_iter, frames),
                total=count,
                desc="live replay",
                unit="frame",
                disable=args.no_progress,
            )
        ):
            key = frame.image.header.stamp.key()
            if args.rate:
                time.sleep(max(0.0, started + index / args.rate - time.perf_counter()))
            # the node refuses what this refuses (same decode and max_pixels): no mask will come
            try:
                decode(frame.image, MAX_PIXELS)
            except InputError as error:
                skip_malformed(scores, frame, error)
                publisher.publish(frame.image)  # the node still gets what the bag holds
                continue
            pending[key] = frame
            if index == 0 and primed is not None:  # sent and answered already
                sent[key] = primed
                continue
            sent[key] = time.perf_counter()
            publisher.publish(frame.image)
            if not args.rate:  # as fast as the node keeps up: wait for this frame's mask
                with arrived:
                    arrived.wait_for(lambda: key in received, timeout=args.frame_timeout)
        with arrived:  # the last frames' outputs
            arrived.wait_for(lambda: all(k in received for k in sent), timeout=args.frame_timeout)
        finished = time.perf_counter()
    # throughput after the first frame: its answer waited on discovery and the node's first run
    first_key = first.image.header.stamp.key()
    if primed is not None and first_key in received:
        counted, elapsed = len(received) - 1, finished - received[first_key][0]
    else:
        counted, elapsed = len(received), finished - started
    for key, frame in pending.items():
        if key not in received:
            continue
        receive_time, msg = received[key]
        truth = mono8_values(frame.ground_truth) if frame.ground_truth is not None else None
        scores.add(
            decode(frame.image, MAX_PIXELS),
            mono8_values(msg),
            truth,
            (receive_time - sent[key]) * 1000,
            frame.image.header,
        )
    dropped = sum(1 for key in sent if key not in received)
    return scores, {
        "image_topic": image_topic,
        "ground_truth_topic": gt_topic,
        "frames_sent": len(sent),
        "frames_dropped": dropped,
        "rate_hz": args.rate,
        "throughput_fps": round(counted / elapsed, 2) if elapsed > 0 and counted > 0 else None,
    }


PRIME_INTERVAL = 2.0  # s between sends of the first frame while the node has not answered it


def prime(publisher, first, received: dict, arrived: threading.Condition, node, timeout: float
          ) -> float | None:
    """
    Send the first frame until its mask comes; return when the answered send left.

    Discovery is two-sided: when this side sees the node's mask writer, the node may not yet see
    this mask reader, and skips a frame nobody subscribes to. None when the frame is malformed
    (the replay counts it then).
    """
    try:
        decode(first.image, MAX_PIXELS)
    except InputError:
        return None
    key, deadline = first.image.header.stamp.key(), time.monotonic() + timeout
    while True:
        sent = time.perf_counter()
        publisher.publish(first.image)
        with arrived:
            if arrived.wait_for(lambda: key in received, timeout=PRIME_INTERVAL):
                return sent
        if node.process.poll() is not None:
            raise BagError(f"the node exited: {node.output()}")
        if time.monotonic() > deadline:
            raise BagError(f"the node answered no frame within {timeout:g} s")


def _chain(first: list, rest):
    yield from first
    yield from rest


def write_report(report_dir: Path, scores: Scores, info: dict) -> dict:
    from matplotlib.figure import Figure

    from cicld_core.plots import plot_per_class_iou

    report_dir.mkdir(parents=True, exist_ok=True)
    figures = scores.figures() | info
    files = {}
    if scores.with_truth:
        plot_per_class_iou(figures["per_class_iou"], report_dir / "per_class_iou.png",
                           f"{info['mode']} replay, K={info['steps']}", miou=figures["miou"])
        files["per_class_iou"] = "per_class_iou.png"
        rows = [tile for _, _, _, tile in sorted(scores.worst, reverse=True)] + \
               [tile for _, _, _, tile in sorted(scores.best)]
        write_png(report_dir / "frames.png", np.concatenate(rows, axis=0))
        files["frames"] = "frames.png"
    fig = Figure(figsize=(6, 3.2), layout="constrained")
    ax = fig.add_subplot()
    ax.hist(scores.latency_ms, bins=30, color="#2b7bba")
    ax.set_xlabel("latency per frame (ms)")
    ax.set_ylabel("frames")
    ax.set_title(f"{info['mode']} replay: p50 {figures['latency_ms']['p50']:.1f} ms, "
                 f"p99 {figures['latency_ms']['p99']:.1f} ms")
    with atomic_path(report_dir / "latency.png") as tmp:
        fig.savefig(tmp, dpi=110, format="png")
    files["latency"] = "latency.png"
    figures["files"] = files
    write_json(report_dir / "report.json", figures)
    lines = [
        f"# Replay evaluation: {Path(info['bag']).name}",
        "",
        "```bash",
        info["command"],
        "```",
        "",
        "| | |",
        "|---|---|",
        f"| mode | {info['mode']} |",
        f"| frames | {figures['frames']} "
        f"({figures['frames_with_ground_truth']} with ground truth, {figures['malformed_frames']} "
        "malformed) |",
        f"| denoising steps K, strength | {info['steps']}, {info['strength']} |",
        f"| model input size | {size_cell(info['input_size'])} |",
        f"| device | {info['device']} |",
        f"| checkpoint | {Path(info['checkpoint']).name}, "
        f"sha256 {info['checkpoint_sha256'][:16]} |",
    ]
    if scores.with_truth:
        lines.append(f"| mIoU ({info['protocol']} classes) | {figures['miou']:.2f} |")
    if "point_miou" in figures:
        lines.append(
            f"| point mIoU of the painted LiDAR cloud | {figures['point_miou']:.2f} "
            f"({figures['points_scored']} points the camera sees, in "
            f"{figures['point_clouds_scored']} clouds "
            f"of {figures['point_ground_truth_topic']}) |"
        )
    lines += [
        f"| latency p50 / p90 / p99 | {figures['latency_ms']['p50']} / "
        f"{figures['latency_ms']['p90']} / "
        f"{figures['latency_ms']['p99']} ms |",
        f"| throughput | {figures.get('throughput_fps')} frames/s |",
        f"| frames dropped | {figures.get('frames_dropped', 0)} |",
        "",
    ]
    if scores.with_truth:
        points = figures.get("point_per_class_iou")
        lines += [
            "![per-class IoU](per_class_iou.png)",
            "",
            "Worst frames (top rows) and best frames (bottom rows); "
            "left ground truth, right prediction:",
            "",
            "![frames](frames.png)",
            "",
            "| class | IoU |" + (" point IoU |" if points else ""),
            "|---|---:|" + ("---:|" if points else ""),
        ]
        lines += [
            f"| {name} | {iou_cell(value)} |"
            + (f" {iou_cell(points.get(name))} |" if points else "")
            for name, value in figures["per_class_iou"].items()
        ]
    lines += ["", "![latency](latency.png)", ""]
    with atomic_path(report_dir / "report.md") as tmp:
        tmp.write_text("\n".join(lines))
    return figures


def size_cell(size: list[int] | str) -> str:
    return "each frame's own" if size == NATIVE else f"{size[0]}x{size[1]}"


def iou_cell(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def positive_number(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not (value > 0 and math.isfinite(value)):
        raise argparse.ArgumentTypeError(f"must be a positive number, got {text}")
    return value


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m cicld_ros.replay_eval", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bag", type=Path, required=True)
    parser.add_argument("--checkpoint", type=Path, required=True)
    parser.add_argument(
        "--mode",
        choices=("offline", "live"),
        default="offline",
        help="offline: run the model on the bag directly (the reference); live: start the node "
        "in its own process and play the bag to it",
    )
    parser.add_argument(
        "--transport",
        choices=TRANSPORTS,
        default="dds",
        help="live: dds, the ROS-free DDS-mode node over Cyclone (default), or rclpy, the "
        "segment_node of ros2 launch on the ROS install's rmw (run from a sourced ROS 2 shell)",
    )
    parser.add_argument(
        "--rate",
        type=positive_number,
        default=None,
        help="live: play at this many frames/s (default: as fast as the node keeps up)",
    )
    parser.add_argument(
        "--domain-id",
        type=int,
        default=None,
        help="live: DDS domain for the node and the player (0..232)",
    )
    parser.add_argument("--frame-timeout", type=positive_number, default=30.0,
                        help="live: seconds to wait for an output")
    parser.add_argument("--startup-timeout", type=positive_number, default=120.0,
                        help="live: seconds for the node to start")
    add_sampling_arguments(parser)
    parser.add_argument(
        "--protocol",
        type=int,
        choices=sorted(ALL_PROTOCOLS),
        default=19,
        help=f"classes in the mean: 19, 16, 13 Cityscapes classes, or {CAMVID_PROTOCOL} for a "
        "CamVid bag (python -m cicld_ros.bag --from-camvid): prediction and truth merged into "
        "CamVid's 11 classes (default 19)",
    )
    add_input_size_argument(parser)  # live: the node's input_width / input_height
    parser.add_argument(
        "--image-topic", help="camera topic (default: the bag's only Image/CompressedImage topic)"
    )
    parser.add_argument(
        "--gt-topic",
        help="ground-truth topic (default: a mono8 Image topic named like ground_truth)",
    )
    parser.add_argument("--device", default="auto")
    parser.add_argument("--report", type=Path, required=True, help="folder for the report")
    parser.add_argument("--no-progress", action="store_true")
    args = parser.parse_args(argv)
    args.sampling = sampling_from_args(parser, args)
    if (
        args.mode == "live"
        and args.transport == "rclpy"
        and importlib.util.find_spec("rclpy") is None
    ):
        parser.error(
            "--transport rclpy needs ROS 2's rclpy, which this Python does not have: run it "
            "from a sourced ROS 2 shell (docs/install.md), or use --transport dds"
        )
    command = shlex.join(
        ["python", "-m", "cicld_ros.replay_eval", *(argv if argv is not None else sys.argv[1:])]
    )
    try:
        device = pick_device(args.device)
        model, metadata = load_model(args.checkpoint, device)
        args.sampling.validate(model.config.num_train_timesteps)
        # live: what the node resolves from the same parameter and checkpoint
        input_size = resolve_input_size(args.input_size, metadata)
        if args.mode == "offline":
            scores, info = run_offline(args, model, device, input_size)
        else:
            scores, info = run_live(args)
    except (BagError, CheckpointError, DdsStartError, ValueError) as error:
        return fail(error)
    info |= measured_with(args.checkpoint, input_size, args.sampling, device) | {
        "mode": args.mode,
        "transport": args.transport if args.mode == "live" else None,
        "protocol": args.protocol,
        "bag": str(args.bag),
        "command": command,
        "versions": {
            "cicld_ros": __version__,
            "torch": torch.__version__,
            "python": platform.python_version(),
        },
    }
    figures = write_report(args.report, scores, info)
    if scores.with_truth:
        summary = f"mIoU {figures['miou']:.2f}, "
    # the bag has ground truth, but no frame paired with it was segmented
    elif info["ground_truth_topic"]:
        summary = "mIoU n/a (no segmented frame had its ground truth), "
    else:
        summary = "no ground truth: timing only, "
    if "point_miou" in figures:
        summary += (
            f"point mIoU {figures['point_miou']:.2f} ({figures['points_scored']} LiDAR points), "
        )
    dropped = f", {info['frames_dropped']} dropped" if "frames_dropped" in info else ""
    print(
        f"{summary}{figures['frames']} frames ({scores.malformed} malformed{dropped}), latency "
        "p50 "
        f"{figures['latency_ms']['p50']} ms; report: {args.report / 'report.md'}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
