"""
Point-level scores of the semantic point cloud, next to the pixel scores of replay evaluation.

When a bag holds a LiDAR ground-truth cloud (sensor_msgs/PointCloud2 with a ``label``
field, as ``python -m cicld_ros.bag --lidar`` writes it), the camera's CameraInfo and
/tf_static with the LiDAR-to-camera transform, each predicted mask paints the
ground-truth cloud of its stamp exactly as the node paints a cloud (cicld_core.painting),
and the painted labels are scored against the ground-truth labels over the points the
camera sees: point mIoU and per-class IoU, with the same protocol as the pixels.

    points = PointScores.from_bag(bag, protocol)      # None: the bag has no LiDAR ground truth
    points.add(image_header, predicted_mask)          # each frame, the offline or the node's mask
    figures |= points.figures()                       # point_miou, point_per_class_iou, ...

Only the points the camera sees are kept in memory (the ground truth labels the others
255), about a quarter of a spinning LiDAR's returns.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from rosbags.typesys import Stores, get_typestore

from cicld_core.metrics import ConfusionMatrix
from cicld_core.painting import PinholeCamera, lidar_to_camera_matrix, paint_points

from ..bags.bag_reader import BagError, describe, open_bag
from ..messages import cdr
from ..messages.pointcloud import LABEL_FIELD, read_cloud
from ..messages.records import Header

POINTCLOUD2, CAMERA_INFO, TF_MESSAGE = (
    "sensor_msgs/msg/PointCloud2",
    "sensor_msgs/msg/CameraInfo",
    "tf2_msgs/msg/TFMessage",
)
GROUND_TRUTH_HINTS = ("ground_truth", "groundtruth", "label", "semantic", "gt")


@dataclass
class GroundTruthCloud:
    xyz: np.ndarray  # (N, 3) float32, LiDAR frame: the points the camera sees
    labels: np.ndarray  # (N,) uint8 trainIds


class PointScores:

    def __init__(
        self,
        clouds: dict[tuple[int, int], GroundTruthCloud],
        cameras: dict[tuple[int, int], PinholeCamera],
        lidar_to_camera: np.ndarray,
        protocol: int,
        topic: str,
    ) -> None:
        """
        Score painted clouds against ``clouds``, the ground truth of each stamp.

        ``cameras``: the CameraInfo of each stamp (a generated drive's camera changes from frame to
        frame); a stamp without one takes the latest before it.
        """
        self.clouds, self.cameras, self.lidar_to_camera = clouds, cameras, lidar_to_camera
        self.protocol, self.topic = protocol, topic
        self.metric = ConfusionMatrix()
        self.scored_clouds = self.scored_points = 0

    @classmethod
    def from_bag(
        cls, bag: Path, protocol: int = 19, gt_topic: str | None = None
    ) -> "PointScores | None":
        """
        Return the bag's LiDAR ground truth, or None when it has none.

        BagError when it has one but no CameraInfo or /tf_static to paint it with.
        """
        reader = open_bag(bag)
        try:
            topics = {c.topic: c.msgtype for c in reader.connections}
            clouds = [
                t
                for t, kind in topics.items()
                if kind == POINTCLOUD2 and any(h in t.lower() for h in GROUND_TRUTH_HINTS)
            ]
            gt_topic = gt_topic or (clouds[0] if clouds else None)
            if gt_topic is None:
                return None
            infos = [t for t, kind in topics.items() if kind == CAMERA_INFO]
            if not infos or "/tf_static" not in topics:
                raise BagError(
                    f"bag {bag} has the LiDAR ground truth {gt_topic} but not the CameraInfo and "
                    "/tf_static "
                    f"to paint it; it holds: {describe(reader)}"
                )
            cameras, transform, ground_truth = {}, None, {}
            store = get_typestore(Stores.ROS2_HUMBLE)
            wanted = [
                c for c in reader.connections if c.topic in (gt_topic, infos[0], "/tf_static")
            ]
            for connection, _, raw in reader.messages(connections=wanted):
                if connection.topic == infos[0]:
                    info = cdr.decode_camera_info(raw)
                    cameras[info.header.stamp.key()] = PinholeCamera.from_camera_info(info)
                elif connection.topic == "/tf_static":
                    transform = transform if transform is not None else first_transform(store, raw)
                elif connection.topic == gt_topic:
                    msg = cdr.decode_pointcloud2(raw)
                    cloud = read_cloud(msg)
                    labels = cloud.points[LABEL_FIELD].astype(np.uint8)
                    seen = labels != 255
                    ground_truth[msg.header.stamp.key()] = GroundTruthCloud(
                        cloud.xyz[seen], labels[seen]
                    )
        except (cdr.CdrError, ValueError) as error:
            raise BagError(f"bag {bag}: the LiDAR ground truth cannot be read: {error}") from None
        finally:
            reader.close()
        if transform is None or not cameras:
            raise BagError(
                f"bag {bag}: "
                + ('/tf_static holds no transform' if cameras else infos[0] + ' holds no message')
                + f"; the LiDAR ground truth {gt_topic} cannot be painted"
            )
        return cls(ground_truth, cameras, transform, protocol, gt_topic)

    def add(self, header: Header, prediction: np.ndarray) -> None:
        """
        Paint the ground-truth cloud of this stamp with the predicted mask and score it.

        Nothing happens when the stamp has none.
        """
        cloud = self.clouds.get(header.stamp.key())
        if cloud is None:
            return
        key = header.stamp.key()
        camera = (
            self.cameras.get(key)
            or self.cameras[max((k for k in self.cameras if k <= key), default=min(self.cameras))]
        )
        painted = paint_points(cloud.xyz, prediction, camera, self.lidar_to_camera)
        self.metric.update(painted.labels, cloud.labels)
        self.scored_clouds += 1
        self.scored_points += len(cloud.labels)

    def figures(self) -> dict:
        figures = {"point_clouds_scored": self.scored_clouds, "points_scored": self.scored_points,
                   "point_ground_truth_topic": self.topic}
        if self.scored_clouds:
            summary = self.metric.summary(self.protocol)
            figures |= {
                "point_miou": summary["miou"],
                "point_per_class_iou": summary["per_class_iou"],
            }
        return figures


def first_transform(store, raw) -> np.ndarray | None:
    """
    Return the first transform of a tf2_msgs/TFMessage as a 4x4 child -> parent matrix.

    LiDAR -> camera when the camera is the parent, as the bag writes it.
    """
    transforms = store.deserialize_cdr(bytes(raw), TF_MESSAGE).transforms
    if not transforms:
        return None
    t = transforms[0].transform
    return lidar_to_camera_matrix(
        translation=(t.translation.x, t.translation.y, t.translation.z),
        quaternion_xyzw=(t.rotation.x, t.rotation.y, t.rotation.z, t.rotation.w),
    )
