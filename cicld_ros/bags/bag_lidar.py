"""
The LiDAR topics of a generated drive (``python -m cicld_core.synth ... --lidar``) in a bag.

Per frame the camera's CameraInfo, the LiDAR cloud (x, y, z, intensity) and its ground truth (x, y,
z, label: the generator's trainId of each return, 255 where the camera does not see it), all
stamped as the frame's image; and once, ``/tf_static`` with the LiDAR-to-camera transform (parent:
the camera's frame_id, child: the LiDAR's).

The generator's scan is taken at the moment of its image, so the cloud and the mask of a
frame share one stamp; replay evaluation pairs the painted cloud with the ground-truth
cloud by that stamp (cicld_ros.replay.replay_points).
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rosbags.interfaces import (
    Qos,
    QosDurability,
    QosHistory,
    QosLiveliness,
    QosReliability,
    QosTime,
)

from cicld_core.io import DataError
from cicld_core.synth import read_sensors
from cicld_core.synth.sensor_files import frame_name, sensor_paths

from ..messages import cdr
from ..messages.pointcloud import CameraInfo, build_cloud
from ..messages.records import Header

NEVER = QosTime(0x7FFFFFFF, 0xFFFFFFFF)
# what tf2's static broadcaster offers: late joiners get the transform
TF_STATIC_QOS = Qos(
    QosHistory.KEEP_LAST,
    1,
    QosReliability.RELIABLE,
    QosDurability.TRANSIENT_LOCAL,
    NEVER,
    NEVER,
    QosLiveliness.AUTOMATIC,
    NEVER,
    False,
)
LIDAR_FRAME_ID = "lidar"


@dataclass(frozen=True)
class LidarTopics:
    points: str = "/lidar/points"
    ground_truth: str = "/lidar/ground_truth"
    camera_info: str = "/camera/camera_info"
    frame_id: str = LIDAR_FRAME_ID


class GeneratedSensors:
    """Finds each frame's sensor files by the frame's name (the image stem)."""

    def __init__(self, root: Path, split: str, count: int) -> None:
        self.root, self.split = root, split
        self.index_of = {frame_name("cityscapes", split, i): i for i in range(count)}

    def read(self, name: str):
        if name not in self.index_of:
            raise DataError(
                f"{self.root}: frame {name} has no LiDAR files: generate the drive with "
                f"python -m cicld_core.synth --layout cityscapes --lidar"
            )
        index = self.index_of[name]
        return read_sensors(self.root, "cityscapes", self.split, index), sensor_paths(
            self.root, "cityscapes", self.split, index)["calib"]


def lidar_messages(sensors: Any, header: Header, topics: LidarTopics) -> dict[str, bytes]:
    """One frame's CameraInfo (the camera's header), LiDAR cloud and ground-truth cloud as CDR."""
    lidar_header = Header(header.stamp, topics.frame_id)
    return {
        topics.camera_info: cdr.encode_camera_info(
            CameraInfo.from_dict(sensors.camera_info, header)
        ),
        topics.points: cdr.encode_pointcloud2(
            build_cloud(lidar_header, sensors.points, None, sensors.intensity)
        ),
        topics.ground_truth: cdr.encode_pointcloud2(
            build_cloud(lidar_header, sensors.points, sensors.train_ids)
        ),
    }


def tf_static_message(typestore, calib_path: Path, header: Header, lidar_frame_id: str) -> bytes:
    """tf2_msgs/TFMessage with the LiDAR-to-camera transform of the calibration file."""
    extrinsic = json.loads(calib_path.read_text())["lidar_to_camera"]
    types = typestore.types
    stamp = types["builtin_interfaces/msg/Time"](
        sec=header.stamp.sec, nanosec=header.stamp.nanosec
    )
    transform = types["geometry_msgs/msg/TransformStamped"](
        header=types["std_msgs/msg/Header"](stamp=stamp, frame_id=header.frame_id),
        child_frame_id=lidar_frame_id,
        transform=types["geometry_msgs/msg/Transform"](
            translation=types["geometry_msgs/msg/Vector3"](*map(float, extrinsic["translation"])),
            rotation=types["geometry_msgs/msg/Quaternion"](
                *map(float, extrinsic["rotation_xyzw"])
            ),
        ),
    )
    return bytes(typestore.serialize_cdr(types["tf2_msgs/msg/TFMessage"](transforms=[transform]),
                                         "tf2_msgs/msg/TFMessage"))
