"""
The semantic point cloud in a picture, for the demo's report.

The node (DDS transport, in its own process) paints a few LiDAR clouds of a drive recorded with
``python -m cicld_ros.bag --lidar``, and a bird's-eye view shows each painted cloud coloured by
class beside the ground-truth cloud, with the point mIoU of those clouds.

The frames are played as a car would send them: CameraInfo, the cloud, then the camera
image, each frame once the previous one came back painted.
"""
from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from rosbags.rosbag2 import Reader
from rosbags.typesys import Stores, get_typestore

from cicld_core.labels import IGNORE_INDEX, PALETTE
from cicld_core.metrics import ConfusionMatrix

from ..bags.bag_lidar import LidarTopics
from ..bags.bag_reader import BagError
from ..messages import cdr
from ..messages.pointcloud import LABEL_FIELD, read_cloud
from ..messages.records import CAMERA_INFO, IMAGE, POINTCLOUD2
from ..segmentation.core import painted_topic
from ..transports.dds.transport import DdsTransport
from .node_process import node_process

UNLABELLED = (70, 70, 70)  # points the camera does not see
BACKGROUND = (16, 16, 16)


@dataclass
class PaintedFrame:
    xyz: np.ndarray  # (N, 3) LiDAR frame
    painted: np.ndarray  # (N,) the node's labels
    truth: np.ndarray  # (N,) ground-truth labels


def bird_eye_view(
    xyz: np.ndarray, labels: np.ndarray, size: int = 360, range_m: float = 40.0
) -> np.ndarray:
    """
    Return an RGB top view of a cloud in the LiDAR frame (x forward = up, y left = left).

    The car is at the centre, each point a 2x2 dot in its class colour (grey where unlabelled).
    """
    image = np.full((size, size, 3), BACKGROUND, np.uint8)
    scale = size / (2 * range_m)
    with np.errstate(invalid="ignore"):
        rows = np.floor(size / 2 - xyz[:, 0] * scale).astype(np.int64, copy=False)
        cols = np.floor(size / 2 - xyz[:, 1] * scale).astype(np.int64, copy=False)
    inside = (
        np.isfinite(xyz).all(1) & (rows >= 0) & (rows < size - 1) & (cols >= 0) & (cols < size - 1)
    )
    colours = np.where((labels == IGNORE_INDEX)[:, None], np.array(UNLABELLED, np.uint8),
                       PALETTE[np.minimum(labels, len(PALETTE) - 1)])
    for labelled in (False, True):  # classes drawn over the unlabelled points
        keep = inside & ((labels != IGNORE_INDEX) == labelled)
        for dr in (0, 1):
            for dc in (0, 1):
                image[rows[keep] + dr, cols[keep] + dc] = colours[keep]
    cv2.drawMarker(image, (size // 2, size // 2), (255, 255, 255), cv2.MARKER_TRIANGLE_UP, 10, 2)
    return image


def figure(frames: list[PaintedFrame]) -> np.ndarray:
    """One row per frame: the node's painted cloud, then the ground truth."""
    rows = []
    for frame in frames:
        tiles = [bird_eye_view(frame.xyz, frame.painted), bird_eye_view(frame.xyz, frame.truth)]
        for tile, title in zip(tiles, ("painted by the node", "ground truth")):
            cv2.putText(
                tile,
                title,
                (8, 20),
                cv2.FONT_HERSHEY_SIMPLEX,
                0.5,
                (255, 255, 255),
                1,
                cv2.LINE_AA,
            )
        rows.append(np.concatenate(tiles, 1))
    return np.concatenate(rows, 0)


def point_miou(frames: list[PaintedFrame]) -> float:
    metric = ConfusionMatrix()
    for frame in frames:
        metric.update(frame.painted, frame.truth)
    return metric.summary(19)["miou"]


def recorded(
    bag: Path, image_topic: str, topics: LidarTopics, count: int
) -> tuple[list[dict], dict]:
    """
    Return the first ``count`` frames' CDR by topic and the /tf_static transform.

    The frames are keyed by bag time.
    """
    wanted = (image_topic, topics.camera_info, topics.points, topics.ground_truth)
    frames: dict[int, dict] = {}
    extrinsic = None
    with Reader(bag) as reader:
        store = get_typestore(Stores.ROS2_HUMBLE)
        for connection, timestamp, raw in reader.messages():
            if connection.topic == "/tf_static" and extrinsic is None:
                t = (
                    store.deserialize_cdr(bytes(raw), "tf2_msgs/msg/TFMessage")
                    .transforms[0]
                    .transform
                )
                extrinsic = {
                    "translation": [t.translation.x, t.translation.y, t.translation.z],
                    "rotation_xyzw": [t.rotation.x, t.rotation.y, t.rotation.z, t.rotation.w],
                }
            elif connection.topic in wanted:
                frames.setdefault(timestamp, {})[connection.topic] = bytes(raw)
    complete = [f for _, f in sorted(frames.items()) if len(f) == len(wanted)][:count]
    if not complete or extrinsic is None:
        raise BagError(
            f"bag {bag} holds no frame with {', '.join(wanted)} and no /tf_static: write it with "
            f"python -m cicld_ros.bag --lidar"
        )
    return complete, extrinsic


def paint_with_node(
    bag: Path,
    checkpoint: Path,
    steps: int,
    count: int = 3,
    image_topic: str = "/camera/image_raw",
    topics: LidarTopics = LidarTopics(),
    timeout: float = 120.0,
) -> list[PaintedFrame]:
    """
    Start the node with painting on and play ``count`` frames of the bag to it.

    Return the clouds it painted with their ground truth.
    """
    frames, extrinsic = recorded(bag, image_topic, topics, count)
    output = painted_topic(image_topic, "segmentation")
    params = {
        "checkpoint": str(checkpoint),
        "image_topics": [image_topic],
        "compressed_image_topics": [""],
        "steps": steps,
        "publish_color_mask": False,
        "publish_overlay": False,
        "publish_class_mask": False,
        "painting": {
            "cameras": ["camera"],
            "max_wait": timeout,
            "camera": {
                "image_topic": image_topic,
                "lidar_topic": topics.points,
                "camera_info_topic": topics.camera_info,
                "lidar_to_camera": extrinsic,
            },
        },
    }
    answers: dict[tuple[int, int], object] = {}
    arrived = threading.Condition()

    def on_painted(msg) -> None:
        with arrived:
            answers[msg.header.stamp.key()] = msg
            arrived.notify_all()

    domain = 150 + os.getpid() % 80
    with DdsTransport(domain) as transport, node_process(params, domain) as node:
        painted = transport.subscribe(
            output, POINTCLOUD2, on_painted, reliable=True, depth=16, keep_all=True
        )
        writers = {
            image_topic: transport.publisher(image_topic, IMAGE, reliable=True, depth=1),
            topics.camera_info: transport.publisher(
                topics.camera_info, CAMERA_INFO, reliable=True, depth=1
            ),
            topics.points: transport.publisher(topics.points, POINTCLOUD2, reliable=True, depth=1),
        }
        node.wait_until(
            lambda: painted.publication_count() > 0
            and all(w.subscription_count() for w in writers.values()),
            timeout,
            "match the LiDAR topics",
        )
        results = []
        for frame in frames:
            truth_msg = cdr.decode_pointcloud2(frame[topics.ground_truth])
            truth, key = read_cloud(truth_msg), truth_msg.header.stamp.key()
            until = time.monotonic() + timeout
            while True:  # again every few seconds: a first sample may go before both sides matched
                # the cloud before its image
                for topic in (topics.camera_info, topics.points, image_topic):
                    writers[topic].publish_cdr(frame[topic])
                with arrived:
                    if arrived.wait_for(lambda: key in answers, 3.0):
                        break
                if time.monotonic() > until:
                    raise BagError(f"the node painted no cloud within {timeout:g} s")
            labels = read_cloud(answers[key]).points[LABEL_FIELD]
            results.append(
                PaintedFrame(truth.xyz, labels.copy(), truth.points[LABEL_FIELD].copy())
            )
    return results
