"""The node under a ROS 2 install: ``ros2 run cicld_ros segment_node`` / ``ros2 launch``.

A thin adapter: ROS parameters (declared with descriptions) feed NodeParams, rclpy
messages are converted to and from the plain records of cicld_ros.messages, and the
SegmentationNode core does the rest. Inputs use sensor-data QoS (best effort, keep last
1); outputs are reliable with a small depth.
"""
from __future__ import annotations

import sys
from typing import Any, Callable

import numpy as np

from . import messages as m
from .params import FIELDS, NODE_NAME, NodeParams, with_changes


def to_record(msg: Any, kind: str) -> m.Image | m.CompressedImage:
    header = m.Header(m.Time(msg.header.stamp.sec, msg.header.stamp.nanosec), msg.header.frame_id)
    if kind == m.COMPRESSED_IMAGE:
        return m.CompressedImage(header, msg.format, memoryview(msg.data))
    return m.Image(header, msg.height, msg.width, msg.encoding, msg.is_bigendian, msg.step, memoryview(msg.data))


def fill_header(ros_header: Any, header: m.Header) -> None:
    ros_header.stamp.sec, ros_header.stamp.nanosec = header.stamp.sec, header.stamp.nanosec
    ros_header.frame_id = header.frame_id


def to_ros(record: Any, kind: str) -> Any:
    from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
    from sensor_msgs.msg import Image

    if kind == m.IMAGE:
        msg = Image()
        fill_header(msg.header, record.header)
        msg.height, msg.width, msg.encoding = record.height, record.width, record.encoding
        msg.is_bigendian, msg.step = record.is_bigendian, record.step
        msg.data = np.ascontiguousarray(record.data).tobytes()
        return msg
    msg = DiagnosticArray()
    fill_header(msg.header, record.header)
    msg.status = [DiagnosticStatus(level=bytes([s.level]), name=s.name, message=s.message, hardware_id=s.hardware_id,
                                   values=[KeyValue(key=v.key, value=v.value) for v in s.values])
                  for s in record.status]
    return msg


class RclpyTransport:
    def __init__(self, node: Any) -> None:
        self.node = node

    def publisher(self, topic: str, kind: str, reliable: bool = True, depth: int = 5):
        from diagnostic_msgs.msg import DiagnosticArray
        from rclpy.qos import QoSProfile, ReliabilityPolicy
        from sensor_msgs.msg import Image

        qos = QoSProfile(depth=depth, reliability=ReliabilityPolicy.RELIABLE if reliable
                         else ReliabilityPolicy.BEST_EFFORT)
        ros_publisher = self.node.create_publisher(Image if kind == m.IMAGE else DiagnosticArray, topic, qos)

        class Publisher:
            def publish(self, record: Any) -> None:
                ros_publisher.publish(to_ros(record, kind))

            def subscription_count(self) -> int:
                return ros_publisher.get_subscription_count()

        return Publisher()

    def subscribe(self, topic: str, kind: str, callback: Callable[[Any], None], reliable: bool = False,
                  depth: int = 1):
        from rclpy.qos import qos_profile_sensor_data
        from sensor_msgs.msg import CompressedImage, Image

        ros_type = CompressedImage if kind == m.COMPRESSED_IMAGE else Image
        return self.node.create_subscription(ros_type, topic, lambda msg: callback(to_record(msg, kind)),
                                             qos_profile_sensor_data)


def declare_parameters(node: Any) -> NodeParams:
    from rcl_interfaces.msg import ParameterDescriptor

    defaults = NodeParams()
    values = {}
    for name, field in FIELDS.items():
        default = getattr(defaults, name)
        if isinstance(default, list) and not default:
            default = [""]  # ROS cannot type an empty list; [""] means none
        descriptor = ParameterDescriptor(description=field.metadata["description"],
                                         read_only=not field.metadata["runtime"])
        values[name] = node.declare_parameter(name, default, descriptor).value
    return with_changes(defaults, values)


def main(argv: list[str] | None = None) -> int:
    import rclpy
    from rcl_interfaces.msg import SetParametersResult

    from .core import SegmentationNode, StartupError

    rclpy.init(args=argv if argv is not None else sys.argv)
    node = rclpy.create_node(NODE_NAME)
    try:
        try:
            core = SegmentationNode(declare_parameters(node), RclpyTransport(node), log=node.get_logger(),
                                    clock=lambda: node.get_clock().now().nanoseconds * 1e-9)
        except (StartupError, ValueError) as error:
            node.get_logger().fatal(str(error))
            return 2

        def on_set(parameters) -> SetParametersResult:
            try:
                core.set_params({p.name: p.value for p in parameters if p.name in FIELDS})
            except ValueError as error:
                return SetParametersResult(successful=False, reason=str(error))
            return SetParametersResult(successful=True)

        node.add_on_set_parameters_callback(on_set)
        core.start()
        rclpy.spin(node)
    except KeyboardInterrupt:
        pass
    finally:
        if "core" in locals():
            core.stop()
        node.destroy_node()
        if rclpy.ok():
            rclpy.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
