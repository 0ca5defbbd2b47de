"""
Every kind of message the node reads or writes, in one registry that both transports read.

A kind names its ROS 2 type, its CDR codec (the DDS transport writes and reads these
bytes) and its rclpy conversions (the rclpy transport); the DDS type that registers the
topic follows from the ROS type name, as rmw_cyclonedds names it. Adding a message kind
is one entry here (plus the codec and record it points to); asking for a kind that is not
here is an error in either transport, never a silent fallback to another type.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from . import rclpy_messages as rclpy
from . import cdr
from .records import CAMERA_INFO, COMPRESSED_IMAGE, DIAGNOSTICS, IMAGE, LABEL_INFO, POINTCLOUD2


@dataclass(frozen=True)
class MessageKind:
    name: str
    ros_type: str  # "sensor_msgs/msg/Image"
    encode: Callable[[Any], bytes]  # record -> CDR bytes (the DDS transport)
    decode: Callable[[Any], Any]  # CDR bytes -> record; raises cdr.CdrError naming the problem
    to_rclpy: Callable[[Any], Any]  # record -> rclpy message
    from_rclpy: Callable[[Any], Any]  # rclpy message -> record

    @property
    def dds_typename(self) -> str:
        """
        Return the DDS type name rmw_cyclonedds gives the ROS type.

        sensor_msgs::msg::dds_::Image_.
        """
        package, namespace, name = self.ros_type.split("/")
        return f"{package}::{namespace}::dds_::{name}_"

    def rclpy_class(self) -> type:
        """Return the rclpy message class (its package imported here: this needs a ROS install)."""
        import importlib

        package, namespace, name = self.ros_type.split("/")
        return getattr(importlib.import_module(f"{package}.{namespace}"), name)


KINDS: dict[str, MessageKind] = {
    kind.name: kind
    for kind in (
        MessageKind(
            IMAGE,
            "sensor_msgs/msg/Image",
            cdr.encode_image,
            cdr.decode_image,
            rclpy.image_to_rclpy,
            rclpy.image_from_rclpy,
        ),
        MessageKind(
            COMPRESSED_IMAGE,
            "sensor_msgs/msg/CompressedImage",
            cdr.encode_compressed_image,
            cdr.decode_compressed_image,
            rclpy.compressed_image_to_rclpy,
            rclpy.compressed_image_from_rclpy,
        ),
        MessageKind(
            DIAGNOSTICS,
            "diagnostic_msgs/msg/DiagnosticArray",
            cdr.encode_diagnostics,
            cdr.decode_diagnostics,
            rclpy.diagnostics_to_rclpy,
            rclpy.diagnostics_from_rclpy,
        ),
        MessageKind(
            POINTCLOUD2,
            "sensor_msgs/msg/PointCloud2",
            cdr.encode_pointcloud2,
            cdr.decode_pointcloud2,
            rclpy.to_rclpy_pointcloud2,
            rclpy.pointcloud2_from_rclpy,
        ),
        MessageKind(
            CAMERA_INFO,
            "sensor_msgs/msg/CameraInfo",
            cdr.encode_camera_info,
            cdr.decode_camera_info,
            rclpy.to_rclpy_camera_info,
            rclpy.camera_info_from_rclpy,
        ),
        MessageKind(
            LABEL_INFO,
            "vision_msgs/msg/LabelInfo",
            cdr.encode_label_info,
            cdr.decode_label_info,
            rclpy.label_info_to_rclpy,
            rclpy.label_info_from_rclpy,
        ),
    )
}


def message_kind(name: str) -> MessageKind:
    """Return the registered kind, or ValueError naming the kinds there are."""
    try:
        return KINDS[name]
    except (KeyError, TypeError):
        raise ValueError(f"unknown message kind {name!r}; the kinds are: {', '.join(KINDS)} "
                         f"(cicld_ros.messages.message_kinds registers them)") from None
