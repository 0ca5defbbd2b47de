"""Write a Cityscapes-style drive as a rosbag2: camera images plus ground-truth masks.

    python -m cicld_ros.bag --from-cityscapes ROOT --split val --out BAG [--storage mcap|sqlite3]
        [--rate HZ] [--compressed] [--topic /camera/image_raw] [--gt-topic /camera/ground_truth]
        [--lidar [--lidar-topic /lidar/points] [--lidar-gt-topic /lidar/ground_truth]]

Works on real Cityscapes folders and on the generator's output (``python -m
cicld_core.synth --layout cityscapes``). Frame i is stamped start + i / rate, in the
message header and as the bag time; the ground truth (mono8 trainIds, 255 ignore) has
the same header.stamp and frame_id as its image, which is how replay evaluation pairs
them. The bag is written to a temporary folder and renamed when complete.

With --lidar (a drive generated with ``python -m cicld_core.synth --layout cityscapes
--lidar``) the bag also holds, per frame and with the frame's stamp, the camera's
CameraInfo (``<camera namespace>/camera_info``), the LiDAR cloud and its ground-truth
cloud (cicld_ros.bag_lidar), and /tf_static with the LiDAR-to-camera transform.

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
from rosbags.interfaces import Qos, QosDurability, QosHistory, QosLiveliness, QosReliability, QosTime
from rosbags.rosbag2 import StoragePlugin, Writer
from rosbags.typesys import Stores, get_typestore
from tqdm import tqdm

from cicld_core.cli_types import fail
from cicld_core.data import CityscapesDataset
from cicld_core.io import DataError

from .bag_lidar import TF_STATIC_QOS, GeneratedSensors, LidarTopics, lidar_messages, tf_static_message
from .core import camera_namespace
from .dds import cdr
from .messages import CompressedImage, Header, Image, Time

START_SECONDS = 1_700_000_000  # a fixed start keeps bags of the same input byte-identical
# Camera rates, frames/s. Slower than a frame every 100 s is no camera (and 1e-9 runs the stamps
# past the int32 seconds of a ROS Time); faster than 1 kHz neither, and stamps must stay distinct.
RATE_RANGE = (0.01, 1000.0)
NEVER = QosTime(0x7FFFFFFF, 0xFFFFFFFF)
# The newest metadata version whose offered_qos_profiles Humble can still parse (see above);
# rosbags writes 8 or 9 only, and Humble's decoder reads what it knows of 8 (fields up to 5).
METADATA_VERSION = 8


def qos(reliable: bool, depth: int) -> Qos:
    return Qos(QosHistory.KEEP_LAST, depth, QosReliability.RELIABLE if reliable else QosReliability.BEST_EFFORT,
               QosDurability.VOLATILE, NEVER, NEVER, QosLiveliness.AUTOMATIC, NEVER, False)


CAMERA_QOS = qos(reliable=False, depth=5)  # what a camera driver offers: sensor data
GROUND_TRUTH_QOS = qos(reliable=True, depth=10)


def write_cityscapes_bag(root: Path, split: str, out: Path, storage: str = "mcap", rate: float = 10.0,
                         compressed: bool = False, topic: str = "/camera/image_raw",
                         gt_topic: str = "/camera/ground_truth", frame_id: str = "camera",
                         max_frames: int | None = None, progress: bool = True, lidar: LidarTopics | None = None) -> int:
    """Write the bag; returns the number of frames (``max_frames`` None: all of them). ``lidar``:
    also the generated drive's CameraInfo, LiDAR and ground-truth clouds and /tf_static."""
    check_options(rate, max_frames)
    dataset = CityscapesDataset(root, split=split)
    if not dataset.has_labels:
        raise DataError(f"{root} split {split!r} has no gtFine labels to use as ground truth")
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
    image_topic = topic + "/compressed" if compressed and not topic.endswith("/compressed") else topic
    typestore = get_typestore(Stores.ROS2_HUMBLE)
    plugin = StoragePlugin.MCAP if storage == "mcap" else StoragePlugin.SQLITE3
    try:
        with Writer(partial, version=METADATA_VERSION, storage_plugin=plugin) as writer:
            image_type = "sensor_msgs/msg/CompressedImage" if compressed else "sensor_msgs/msg/Image"
            images = writer.add_connection(image_topic, image_type, typestore=typestore,
                                           offered_qos_profiles=[CAMERA_QOS])
            truths = writer.add_connection(gt_topic, "sensor_msgs/msg/Image", typestore=typestore,
                                           offered_qos_profiles=[GROUND_TRUTH_QOS])
            if lidar:
                lidar_connections = {
                    lidar.camera_info: writer.add_connection(lidar.camera_info, "sensor_msgs/msg/CameraInfo",
                                                             typestore=typestore, offered_qos_profiles=[CAMERA_QOS]),
                    lidar.points: writer.add_connection(lidar.points, "sensor_msgs/msg/PointCloud2",
                                                        typestore=typestore, offered_qos_profiles=[CAMERA_QOS]),
                    lidar.ground_truth: writer.add_connection(lidar.ground_truth, "sensor_msgs/msg/PointCloud2",
                                                              typestore=typestore,
                                                              offered_qos_profiles=[GROUND_TRUTH_QOS])}
                tf_static = writer.add_connection("/tf_static", "tf2_msgs/msg/TFMessage", typestore=typestore,
                                                  offered_qos_profiles=[TF_STATIC_QOS])
            for index in tqdm(range(count), desc=f"writing {out.name}", unit="frame", disable=not progress):
                rgb, train_ids = dataset.load_raw(index)
                nanoseconds = START_SECONDS * 1_000_000_000 + int(round(index * 1e9 / rate))
                header = Header(Time(nanoseconds // 1_000_000_000, nanoseconds % 1_000_000_000), frame_id)
                if compressed:
                    ok, jpeg = cv2.imencode(".jpg", rgb[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, 95])
                    data = cdr.encode_compressed_image(CompressedImage(header, "jpeg", jpeg))
                else:
                    height, width = rgb.shape[:2]
                    data = cdr.encode_image(Image(header, height, width, "rgb8", 0, width * 3, np.ascontiguousarray(rgb)))
                writer.write(images, nanoseconds, data)
                mask = np.ascontiguousarray(train_ids, dtype=np.uint8)
                writer.write(truths, nanoseconds, cdr.encode_image(
                    Image(header, mask.shape[0], mask.shape[1], "mono8", 0, mask.shape[1], mask)))
                if lidar:
                    frame_sensors, calib = sensors.read(dataset.samples[index].name)
                    if index == 0:
                        writer.write(tf_static, nanoseconds, tf_static_message(typestore, calib, header, lidar.frame_id))
                    for topic, data in lidar_messages(frame_sensors, header, lidar).items():
                        writer.write(lidar_connections[topic], nanoseconds, data)
        partial.rename(out)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return count


def check_options(rate: float, max_frames: int | None) -> None:
    if not RATE_RANGE[0] <= rate <= RATE_RANGE[1]:  # also refuses nan
        raise ValueError(f"--rate must be in {RATE_RANGE[0]:g}..{RATE_RANGE[1]:g} frames/s, got {rate:g}")
    if max_frames is not None and max_frames < 1:
        raise ValueError(f"--max-frames must be at least 1, got {max_frames} (leave it out to write every frame)")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m cicld_ros.bag", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--from-cityscapes", dest="root", type=Path, required=True,
                        help="a Cityscapes-layout root (leftImg8bit/, gtFine/)")
    parser.add_argument("--split", default="val")
    parser.add_argument("--out", type=Path, required=True, help="the bag folder to create")
    parser.add_argument("--storage", choices=("mcap", "sqlite3"), default="mcap",
                        help="mcap (default since ROS 2 Iron) or sqlite3 (Humble's default); both are "
                             "readable by Humble, Jazzy, Kilted and Rolling")
    parser.add_argument("--rate", type=float, default=10.0,
                        help=f"frames per second of the recording, {RATE_RANGE[0]:g}..{RATE_RANGE[1]:g} (default 10)")
    parser.add_argument("--compressed", action="store_true", help="write sensor_msgs/CompressedImage (jpeg)")
    parser.add_argument("--topic", default="/camera/image_raw", help="camera topic (/compressed is appended "
                                                                     "with --compressed)")
    parser.add_argument("--gt-topic", default="/camera/ground_truth", help="ground-truth mask topic")
    parser.add_argument("--frame-id", default="camera")
    parser.add_argument("--max-frames", type=int, default=None, help="write only the first N frames (default: all)")
    parser.add_argument("--lidar", action="store_true",
                        help="also write the drive's CameraInfo (<camera namespace>/camera_info), LiDAR cloud, "
                             "ground-truth cloud and /tf_static (a drive generated with --lidar)")
    parser.add_argument("--lidar-topic", default=LidarTopics.points, help="LiDAR cloud topic (x, y, z, intensity)")
    parser.add_argument("--lidar-gt-topic", default=LidarTopics.ground_truth,
                        help="ground-truth cloud topic (x, y, z, label)")
    parser.add_argument("--lidar-frame-id", default=LidarTopics.frame_id)
    args = parser.parse_args(argv)
    lidar = LidarTopics(args.lidar_topic, args.lidar_gt_topic, f"{camera_namespace(args.topic)}/camera_info",
                        args.lidar_frame_id) if args.lidar else None
    try:
        count = write_cityscapes_bag(args.root, args.split, args.out, args.storage, args.rate, args.compressed,
                                     args.topic, args.gt_topic, args.frame_id, args.max_frames, lidar=lidar)
    except (DataError, FileExistsError, ValueError) as error:
        return fail(error)
    print(f"wrote {args.out}: {count} frames at {args.rate:g} Hz ({args.storage})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
