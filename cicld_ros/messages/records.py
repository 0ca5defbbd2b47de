"""
The ROS 2 messages the node reads and writes, as plain Python records.

The node core works on these; each transport converts them to its own wire form (rclpy
message objects, or CDR bytes on Cyclone DDS). Field names and types follow the ROS 2
definitions (sensor_msgs/Image, sensor_msgs/CompressedImage, std_msgs/Header,
diagnostic_msgs/DiagnosticArray); the point cloud's PointCloud2 and CameraInfo records are
in cicld_ros.messages.pointcloud.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

# the kinds of topic a transport carries; cicld_ros.messages.message_kinds gives each its ROS 2
# type and codecs
IMAGE, COMPRESSED_IMAGE, DIAGNOSTICS = "image", "compressed_image", "diagnostics"
POINTCLOUD2, CAMERA_INFO = "pointcloud2", "camera_info"
LABEL_INFO = "label_info"


@dataclass
class Time:
    sec: int = 0
    nanosec: int = 0

    def to_seconds(self) -> float:
        return self.sec + self.nanosec * 1e-9

    @classmethod
    def from_seconds(cls, seconds: float) -> "Time":
        sec = int(seconds)
        return cls(sec, int(round((seconds - sec) * 1e9)) % 1_000_000_000)

    def key(self) -> tuple[int, int]:
        return self.sec, self.nanosec


@dataclass
class Header:
    stamp: Time = field(default_factory=Time)
    frame_id: str = ""


@dataclass
class Image:
    header: Header = field(default_factory=Header)
    height: int = 0
    width: int = 0
    encoding: str = ""
    is_bigendian: int = 0
    step: int = 0
    data: bytes | bytearray | memoryview | np.ndarray = b""


@dataclass
class CompressedImage:
    header: Header = field(default_factory=Header)
    format: str = ""  # noqa: A003 - sensor_msgs/CompressedImage names the field format
    data: bytes | bytearray | memoryview | np.ndarray = b""


@dataclass
class KeyValue:
    key: str = ""
    value: str = ""


@dataclass
class DiagnosticStatus:
    OK, WARN, ERROR, STALE = 0, 1, 2, 3
    level: int = 0
    name: str = ""
    message: str = ""
    hardware_id: str = ""
    values: list[KeyValue] = field(default_factory=list)


@dataclass
class DiagnosticArray:
    header: Header = field(default_factory=Header)
    status: list[DiagnosticStatus] = field(default_factory=list)


@dataclass
class VisionClass:
    class_id: int = 0  # uint16: the value in the mask
    class_name: str = ""


@dataclass
class LabelInfo:
    """
    vision_msgs/msg/LabelInfo (vision_msgs 4.1.0 and later).

    What each value of a class mask means.
    """

    header: Header = field(default_factory=Header)
    class_map: list[VisionClass] = field(default_factory=list)
    # float32: the confidence threshold of the inference (none here: argmax)
    threshold: float = 0.0
