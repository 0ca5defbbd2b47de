"""
Write a Cityscapes-style drive, or a real CamVid drive, as a rosbag2.

Camera images plus ground-truth masks.

    python -m cicld_ros.bag --from-cityscapes ROOT --split val --out BAG [--storage mcap|sqlite3]
        [--rate HZ] [--compressed] [--topic /camera/image_raw] [--gt-topic /camera/ground_truth]
        [--lidar [--lidar-topic /lidar/points] [--lidar-gt-topic /lidar/ground_truth]]
    python -m cicld_ros.bag --from-camvid ROOT --split val --out BAG --compressed
        [--sequence 0016E5]

CamVid (either layout ``cicld_core.data.camvid`` reads): frames are written in time order (their
stems are ``<sequence>_<frame number>``; one sequence with --sequence), as JPEG
CompressedImage with --compressed, as a camera driver publishes them; the ground truth holds
the trainIds that merge back to CamVid's classes, so replay evaluation scores it with
``--protocol 11``. CamVid is CC BY-NC 4.0: a bag made from it is for research use and is
not to be shipped with this repository.

Works on real Cityscapes folders and on the generator's output (``python -m
cicld_core.synth --layout cityscapes``). Frame i is stamped start + i / rate, in the
message header and as the bag time; the ground truth (mono8 trainIds, 255 ignore) has
the same header.stamp and frame_id as its image, which is how replay evaluation pairs
them. The bag is written to a temporary folder and renamed when complete.

With --lidar (a drive generated with ``python -m cicld_core.synth --layout cityscapes
--lidar``) the bag also holds, per frame and with the frame's stamp, the camera's
CameraInfo (``<camera namespace>/camera_info``), the LiDAR cloud and its ground-truth
cloud (cicld_ros.bags.bag_lidar), and /tf_static with the LiDAR-to-camera transform.

One bag for every supported distro (Humble, Jazzy, Kilted, Rolling): metadata version 8,
where ``offered_qos_profiles`` is a YAML *string* with numeric policies. Version 9 (what
Jazzy records) makes it a YAML list with named policies, which Humble's rosbag2 cannot
parse ("yaml-cpp: bad conversion", ros2/rosbag2#2013); Jazzy and newer still read the
string form for versions 4..8 (rosbag2_storage yaml.hpp, qos.cpp). docs/replay.md, "Replay
evaluation on recorded drives", lists the sources this rests on.
"""
from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

import cv2
import numpy as np
from rosbags.interfaces import (
    Qos,
    QosDurability,
    QosHistory,
    QosLiveliness,
    QosReliability,
    QosTime,
)
from rosbags.rosbag2 import StoragePlugin, Writer
from rosbags.typesys import Stores, get_typestore
from tqdm import tqdm

from cicld_core.cli_types import fail
from cicld_core.data import CamVidDataset, CityscapesDataset
from cicld_core.data.base import SegmentationDataset
from cicld_core.io import DataError

from ..messages import cdr
from ..messages.records import CompressedImage, Header, Image, Time
from ..segmentation.core import camera_namespace
from .bag_lidar import (
    TF_STATIC_QOS,
    GeneratedSensors,
    LidarTopics,
    lidar_messages,
    tf_static_message,
)

START_SECONDS = 1_700_000_000  # a fixed start keeps bags of the same input byte-identical
# Camera rates, frames/s. Slower than a frame every 100 s is no camera (and 1e-9 runs the stamps
# past the int32 seconds of a ROS Time); faster than 1 kHz neither, and stamps must stay distinct.
RATE_RANGE = (0.01, 1000.0)
NEVER = QosTime(0x7FFFFFFF, 0xFFFFFFFF)
# The newest metadata version whose offered_qos_profiles Humble can still parse (see above);
# rosbags writes 8 or 9 only, and Humble's decoder reads what it knows of 8 (fields up to 5).
METADATA_VERSION = 8


def qos(reliable: bool, depth: int) -> Qos:
    return Qos(
        QosHistory.KEEP_LAST,
        depth,
        QosReliability.RELIABLE if reliable else QosReliability.BEST_EFFORT,
        QosDurability.VOLATILE,
        NEVER,
        NEVER,
        QosLiveliness.AUTOMATIC,
        NEVER,
        False,
    )


CAMERA_QOS = qos(reliable=False, depth=5)  # what a camera driver offers: sensor data
GROUND_TRUTH_QOS = qos(reliable=True, depth=10)


def camvid_drive(root: Path, split: str, sequence: str | None = None) -> CamVidDataset:
    """
    Return a CamVid split with labels, in time order.

    Sorted stems are ``<sequence>_<frame>`` with a zero-padded frame number, so the loader's order
    is the drive's; ``sequence`` keeps one.
    """
    dataset = CamVidDataset(root, split=split)
    sequences = sorted({sample.name.split("_")[0] for sample in dataset.samples})
    if sequence is not None:
        if sequence not in sequences:
            raise DataError(
                f"CamVid {split}: no sequence {sequence!r}; it holds {', '.join(sequences)}"
            )
        dataset.samples = [s for s in dataset.samples if s.name.split("_")[0] == sequence]
    return dataset


def write_cityscapes_bag(
    root: Path,
    split: str,
    out: Path,
    storage: str = "mcap",
    rate: float = 10.0,
    compressed: bool = False,
    topic: str = "/camera/image_raw",
    gt_topic: str = "/camera/ground_truth",
    frame_id: str = "camera",
    max_frames: int | None = None,
    progress: bool = True,
    lidar: LidarTopics | None = None,
    dataset: SegmentationDataset | None = None,
) -> int:
    """
    Write the bag; returns the number of frames (``max_frames`` None: all of them).

    ``lidar``: also the generated drive's CameraInfo, LiDAR and ground-truth clouds and /tf_static.
    ``dataset``: the drive to write instead of the Cityscapes split under ``root`` (CamVid).
    """
    check_options(rate, max_frames)
    if lidar and dataset is not None:
        raise ValueError(
            "--lidar needs a generated Cityscapes-layout drive (python -m cicld_core.synth "
            "--lidar)"
        )
    dataset = dataset if dataset is not None else CityscapesDataset(root, split=split)
    if not dataset.has_labels:
        raise DataError(f"{root} split {split!r} has no labels to use as ground truth")
    count = len(dataset) if max_frames is None else min(max_frames, len(dataset))
    sensors = GeneratedSensors(root, split, len(dataset)) if lidar else None
    if out.exists():
        raise FileExistsError(f"{out} exists; remove it or choose another --out")
    # written under a hidden folder with the final name (rosbag2 names its files after the
    # folder), then moved into place
    staging = out.parent / f".{out.name}.partial"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    partial = staging / out.name
    image_topic = (
        topic + "/compressed" if compressed and not topic.endswith("/compressed") else topic
    )
    typestore = get_typestore(Stores.ROS2_HUMBLE)
    plugin = StoragePlugin.MCAP if storage == "mcap" else StoragePlugin.SQLITE3
    try:
        with Writer(partial, version=METADATA_VERSION, storage_plugin=plugin) as writer:
            image_type = (
                "sensor_msgs/msg/CompressedImage" if compressed else "sensor_msgs/msg/Image"
            )
            images = writer.add_connection(image_topic, image_type, typestore=typestore,
                                           offered_qos_profiles=[CAMERA_QOS])
            truths = writer.add_connection(gt_topic, "sensor_msgs/msg/Image", typestore=typestore,
                                           offered_qos_profiles=[GROUND_TRUTH_QOS])
            if lidar:
                lidar_connections = {
                    lidar.camera_info: writer.add_connection(
                        lidar.camera_info,
                        "sensor_msgs/msg/CameraInfo",
                        typestore=typestore,
                        offered_qos_profiles=[CAMERA_QOS],
                    ),
                    lidar.points: writer.add_connection(
                        lidar.points,
                        "sensor_msgs/msg/PointCloud2",
                        typestore=typestore,
                        offered_qos_profiles=[CAMERA_QOS],
                    ),
                    lidar.ground_truth: writer.add_connection(
                        lidar.ground_truth,
                        "sensor_msgs/msg/PointCloud2",
                        typestore=typestore,
                        offered_qos_profiles=[GROUND_TRUTH_QOS],
                    ),
                }
                tf_static = writer.add_connection(
                    "/tf_static",
                    "tf2_msgs/msg/TFMessage",
                    typestore=typestore,
                    offered_qos_profiles=[TF_STATIC_QOS],
                )
            for index in tqdm(
                range(count), desc=f"writing {out.name}", unit="frame", disable=not progress
            ):
                rgb, train_ids = dataset.load_raw(index)
                nanoseconds = START_SECONDS * 1_000_000_000 + int(round(index * 1e9 / rate))
                header = Header(
                    Time(nanoseconds // 1_000_000_000, nanoseconds % 1_000_000_000), frame_id
                )
                source_file = dataset.samples[index].image
                if compressed and source_file.suffix.lower() in (".jpg", ".jpeg"):
                    # the recorded JPEG itself, as a camera driver publishes it: no second
                    # compression
                    jpeg = np.frombuffer(source_file.read_bytes(), dtype=np.uint8)
                    data = cdr.encode_compressed_image(CompressedImage(header, "jpeg", jpeg))
                elif compressed:
                    ok, jpeg = cv2.imencode(".jpg", rgb[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, 95])
                    data = cdr.encode_compressed_image(CompressedImage(header, "jpeg", jpeg))
                else:
                    height, width = rgb.shape[:2]
                    data = cdr.encode_image(
                        Image(
                            header, height, width, "rgb8", 0, width * 3, np.ascontiguousarray(rgb)
                        )
                    )
                writer.write(images, nanoseconds, data)
                mask = np.ascontiguousarray(train_ids, dtype=np.uint8)
                writer.write(truths, nanoseconds, cdr.encode_image(
                    Image(header, mask.shape[0], mask.shape[1], "mono8", 0, mask.shape[1], mask)))
                if lidar:
                    frame_sensors, calib = sensors.read(dataset.samples[index].name)
                    if index == 0:
                        writer.write(
                            tf_static,
                            nanoseconds,
                            tf_static_message(typestore, calib, header, lidar.frame_id),
                        )
                    for topic, data in lidar_messages(frame_sensors, header, lidar).items():
                        writer.write(lidar_connections[topic], nanoseconds, data)
        partial.rename(out)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return count


def check_options(rate: float, max_frames: int | None) -> None:
    if not RATE_RANGE[0] <= rate <= RATE_RANGE[1]:  # also refuses nan
        raise ValueError(
            f"--rate must be in {RATE_RANGE[0]:g}..{RATE_RANGE[1]:g} frames/s, got {rate:g}"
        )
    if max_frames is not None and max_frames < 1:
        raise ValueError(
            f"--max-frames must be at least 1, got {max_frames} (leave it out to write every "
            "frame)"
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m cicld_ros.bag", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--from-cityscapes", dest="root", type=Path,
                        help="a Cityscapes-layout root (leftImg8bit/, gtFine/)")
    source.add_argument(
        "--from-camvid",
        dest="camvid",
        type=Path,
        help="a CamVid root (SegNet's layout, <split>/ and <split>annot/, or the original "
        "release's): a real drive in time order",
    )
    parser.add_argument(
        "--sequence",
        default=None,
        help="CamVid: write only this sequence (e.g. 0016E5, the val split's only one)",
    )
    parser.add_argument("--split", default="val")
    parser.add_argument("--out", type=Path, required=True, help="the bag folder to create")
    parser.add_argument(
        "--storage",
        choices=("mcap", "sqlite3"),
        default="mcap",
        help="mcap (default since ROS 2 Iron) or sqlite3 (Humble's default); both are "
        "readable by Humble, Jazzy, Kilted and Rolling",
    )
    parser.add_argument(
        "--rate",
        type=float,
        default=None,
        help=f"frames per second of the recording, {RATE_RANGE[0]:g}..{RATE_RANGE[1]:g} (default "
             "10; "
        "CamVid 1, the rate its labelled frames were taken at)",
    )
    parser.add_argument(
        "--compressed", action="store_true", help="write sensor_msgs/CompressedImage (jpeg)"
    )
    parser.add_argument(
        "--topic",
        default="/camera/image_raw",
        help="camera topic (/compressed is appended with --compressed)",
    )
    parser.add_argument(
        "--gt-topic", default="/camera/ground_truth", help="ground-truth mask topic"
    )
    parser.add_argument("--frame-id", default="camera")
    parser.add_argument(
        "--max-frames", type=int, default=None, help="write only the first N frames (default: all)"
    )
    parser.add_argument(
        "--lidar",
        action="store_true",
        help="also write the drive's CameraInfo (<camera namespace>/camera_info), LiDAR cloud, "
        "ground-truth cloud and /tf_static (a drive generated with --lidar)",
    )
    parser.add_argument(
        "--lidar-topic", default=LidarTopics.points, help="LiDAR cloud topic (x, y, z, intensity)"
    )
    parser.add_argument("--lidar-gt-topic", default=LidarTopics.ground_truth,
                        help="ground-truth cloud topic (x, y, z, label)")
    parser.add_argument("--lidar-frame-id", default=LidarTopics.frame_id)
    args = parser.parse_args(argv)
    if args.rate is None:
        args.rate = 1.0 if args.camvid is not None else 10.0
    lidar = (
        LidarTopics(
            args.lidar_topic,
            args.lidar_gt_topic,
            f"{camera_namespace(args.topic)}/camera_info",
            args.lidar_frame_id,
        )
        if args.lidar
        else None
    )
    try:
        if args.sequence is not None and args.camvid is None:
            raise ValueError("--sequence selects a CamVid sequence: use it with --from-camvid")
        drive = (
            camvid_drive(args.camvid, args.split, args.sequence)
            if args.camvid is not None
            else None
        )
        count = write_cityscapes_bag(
            args.root or args.camvid,
            args.split,
            args.out,
            args.storage,
            args.rate,
            args.compressed,
            args.topic,
            args.gt_topic,
            args.frame_id,
            args.max_frames,
            lidar=lidar,
            dataset=drive,
        )
    except (DataError, FileExistsError, ValueError) as error:
        return fail(error)
    print(f"wrote {args.out}: {count} frames at {args.rate:g} Hz ({args.storage})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
