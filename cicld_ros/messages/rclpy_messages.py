"""
The node's plain message records to and from rclpy message objects.

The records are cicld_ros.messages.records and cicld_ros.messages.pointcloud; one pair of functions
per message kind.

The ROS message packages (sensor_msgs, diagnostic_msgs) are imported inside each
function, so this module imports without a ROS install (the registry in
cicld_ros.messages.message_kinds names these functions for every kind).

A ``uint8[]`` field is never assigned bytes: Humble's generated setter
(ros2/rosidl_python humble, rosidl_generator_py/resource/_msg.py.em) checks every element
in Python under ``if __debug__:`` unless the value is an ``array.array`` (about 47 ms per MB,
holding the GIL). The bytes are appended to the field's own array.array('B') instead, as
cv_bridge does (ros-perception/vision_opencv humble, cv_bridge/core.py:
``img_msg.data.frombytes(...)``); Jazzy checks only with ROS_PYTHON_CHECK_FIELDS=1, and
this path is as fast there.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from . import records as m
from .pointcloud import CameraInfo, PointCloud2, PointField, RegionOfInterest


def header_record(ros_header: Any) -> m.Header:
    return m.Header(m.Time(ros_header.stamp.sec, ros_header.stamp.nanosec), ros_header.frame_id)


def fill_header(ros_header: Any, header: m.Header) -> None:
    ros_header.stamp.sec, ros_header.stamp.nanosec = header.stamp.sec, header.stamp.nanosec
    ros_header.frame_id = header.frame_id


def fill_uint8(sequence: Any, data: Any) -> None:
    """
    Append ``data`` (bytes, a buffer or a numpy array) to a message's uint8[] field.

    The field is an array.array('B'); this goes without the generated setter and its per-element
    check.
    """
    view = (
        memoryview(np.ascontiguousarray(data))
        if isinstance(data, np.ndarray)
        else memoryview(data)
    )
    sequence.frombytes(view.cast("B"))


def image_from_rclpy(msg: Any) -> m.Image:
    return m.Image(
        header_record(msg.header),
        msg.height,
        msg.width,
        msg.encoding,
        msg.is_bigendian,
        msg.step,
        memoryview(msg.data),
    )


def image_to_rclpy(record: m.Image) -> Any:
    from sensor_msgs.msg import Image

    msg = Image()
    fill_header(msg.header, record.header)
    msg.height, msg.width, msg.encoding = record.height, record.width, record.encoding
    msg.is_bigendian, msg.step = record.is_bigendian, record.step
    fill_uint8(msg.data, record.data)
    return msg


def compressed_image_from_rclpy(msg: Any) -> m.CompressedImage:
    return m.CompressedImage(header_record(msg.header), msg.format, memoryview(msg.data))


def compressed_image_to_rclpy(record: m.CompressedImage) -> Any:
    from sensor_msgs.msg import CompressedImage

    msg = CompressedImage()
    fill_header(msg.header, record.header)
    msg.format = record.format
    fill_uint8(msg.data, record.data)
    return msg


def diagnostics_from_rclpy(msg: Any) -> m.DiagnosticArray:
    return m.DiagnosticArray(
        header_record(msg.header),
        [
            m.DiagnosticStatus(
                (
                    int.from_bytes(bytes(s.level), "little")
                    if isinstance(s.level, bytes)
                    else int(s.level)
                ),
                s.name,
                s.message,
                s.hardware_id,
                [m.KeyValue(v.key, v.value) for v in s.values],
            )
            for s in msg.status
        ],
    )


def diagnostics_to_rclpy(record: m.DiagnosticArray) -> Any:
    from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue

    msg = DiagnosticArray()
    fill_header(msg.header, record.header)
    msg.status = [
        DiagnosticStatus(
            level=bytes([s.level]),
            name=s.name,
            message=s.message,
            hardware_id=s.hardware_id,
            values=[KeyValue(key=v.key, value=v.value) for v in s.values],
        )
        for s in record.status
    ]
    return msg


def pointcloud2_from_rclpy(msg: Any) -> PointCloud2:
    """Return the record of an rclpy PointCloud2; ``data`` stays a view of the message's buffer."""
    fields = [PointField(f.name, f.offset, f.datatype, f.count) for f in msg.fields]
    return PointCloud2(
        header_record(msg.header),
        msg.height,
        msg.width,
        fields,
        bool(msg.is_bigendian),
        msg.point_step,
        msg.row_step,
        memoryview(msg.data),
        bool(msg.is_dense),
    )


def camera_info_from_rclpy(msg: Any) -> CameraInfo:
    roi = msg.roi
    return CameraInfo(
        header_record(msg.header),
        msg.height,
        msg.width,
        msg.distortion_model,
        [float(v) for v in msg.d],
        [float(v) for v in msg.k],
        [float(v) for v in msg.r],
        [float(v) for v in msg.p],
        msg.binning_x,
        msg.binning_y,
        RegionOfInterest(roi.x_offset, roi.y_offset, roi.height, roi.width, bool(roi.do_rectify)),
    )


def label_info_from_rclpy(msg: Any) -> m.LabelInfo:
    return m.LabelInfo(
        header_record(msg.header),
        [m.VisionClass(c.class_id, c.class_name) for c in msg.class_map],
        msg.threshold,
    )


def label_info_to_rclpy(record: m.LabelInfo) -> Any:
    # vision_msgs 4.1.0 and later (Humble's first releases, 4.0.x, lack it: the node then skips the
    # topic)
    from vision_msgs.msg import LabelInfo, VisionClass

    msg = LabelInfo()
    fill_header(msg.header, record.header)
    msg.class_map = [
        VisionClass(class_id=c.class_id, class_name=c.class_name) for c in record.class_map
    ]
    msg.threshold = float(record.threshold)
    return msg


def to_rclpy_pointcloud2(cloud: PointCloud2) -> Any:
    """Return the rclpy message of ``cloud`` (sensor_msgs is imported here, not at module load)."""
    from sensor_msgs.msg import PointCloud2 as RosPointCloud2
    from sensor_msgs.msg import PointField as RosPointField

    msg = RosPointCloud2()
    fill_header(msg.header, cloud.header)
    msg.height, msg.width, msg.is_bigendian = cloud.height, cloud.width, cloud.is_bigendian
    msg.fields = [
        RosPointField(name=f.name, offset=f.offset, datatype=f.datatype, count=f.count)
        for f in cloud.fields
    ]
    msg.point_step, msg.row_step, msg.is_dense = cloud.point_step, cloud.row_step, cloud.is_dense
    fill_uint8(msg.data, cloud.data)
    return msg


def to_rclpy_camera_info(info: CameraInfo) -> Any:
    from sensor_msgs.msg import CameraInfo as RosCameraInfo

    msg = RosCameraInfo()
    fill_header(msg.header, info.header)
    msg.height, msg.width, msg.distortion_model = info.height, info.width, info.distortion_model
    msg.d, msg.k, msg.r, msg.p = list(info.d), list(info.k), list(info.r), list(info.p)
    msg.binning_x, msg.binning_y = info.binning_x, info.binning_y
    return msg
