"""The node under a ROS 2 install: ``ros2 run cicld_ros segment_node [--no-autostart]`` / ``ros2 launch``.

A thin adapter: a managed (lifecycle) node whose transition callbacks call the shared
state machine of cicld_ros.lifecycle (configure loads the checkpoint and creates the
topics, activate segments, deactivate stops and frees the GPU, cleanup frees everything).
ROS parameters (declared with descriptions) feed NodeParams at configure, rclpy messages
are converted to and from the plain records of cicld_ros.messages, and the
SegmentationNode core does the rest; the painting parameters (``painting.<name>``, see
cicld_ros.painting_params) are declared at the first configure, once ``painting.cameras``
names the cameras. Inputs use sensor-data QoS (best effort, keep last
1); outputs are reliable with a small depth. By default the node configures and activates
itself at start, so ``ros2 run`` and ``ros2 launch`` segment in one command; with
``--no-autostart`` it waits for ``ros2 lifecycle set /segment_node configure`` (and
``activate``), or a lifecycle manager.
"""
from __future__ import annotations

import argparse
import sys
from typing import Any, Callable

from . import message_kinds as kinds

# .params (and through it torch) is imported where used, so `segment_node --help` answers at once


class RclpyTransport:
    """The core's transport under rclpy: each message kind's rclpy class and conversions come
    from the registry (cicld_ros.message_kinds); a kind not there is refused with an error."""

    def __init__(self, node: Any) -> None:
        self.node = node

    def publisher(self, topic: str, kind: str, reliable: bool = True, depth: int = 5, transient_local: bool = False):
        message_kind = kinds.message_kind(kind)  # before rclpy: an unknown kind is an error anywhere
        from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy

        qos = QoSProfile(depth=depth, reliability=ReliabilityPolicy.RELIABLE if reliable
                         else ReliabilityPolicy.BEST_EFFORT,
                         durability=DurabilityPolicy.TRANSIENT_LOCAL if transient_local else DurabilityPolicy.VOLATILE)
        ros_publisher = self.node.create_publisher(message_kind.rclpy_class(), topic, qos)
        to_rclpy = message_kind.to_rclpy

        class Publisher:
            ros = ros_publisher

            def publish(self, record: Any) -> None:
                ros_publisher.publish(to_rclpy(record))

            def subscription_count(self) -> int:
                return ros_publisher.get_subscription_count()

        return Publisher()

    def subscribe(self, topic: str, kind: str, callback: Callable[[Any], None], reliable: bool = False,
                  depth: int = 1):
        """Sensor-data QoS (best effort, keep last 5), what camera and LiDAR drivers offer; a
        best-effort reader also matches their reliable writers."""
        message_kind = kinds.message_kind(kind)
        from rclpy.qos import qos_profile_sensor_data

        from_rclpy = message_kind.from_rclpy
        return self.node.create_subscription(message_kind.rclpy_class(), topic, lambda msg: callback(from_rclpy(msg)),
                                             qos_profile_sensor_data)

    def release(self, entity: Any) -> None:
        """Destroy a publisher or subscription made here (the core's cleanup)."""
        if hasattr(entity, "ros"):
            self.node.destroy_publisher(entity.ros)
        else:
            self.node.destroy_subscription(entity)


def declare_parameters(node: Any) -> None:
    """Every NodeParams field as a ROS parameter, each writable: the run-time ones at any time, the
    others while the node is unconfigured (the set-parameters callback refuses them once configured)."""
    from rcl_interfaces.msg import ParameterDescriptor

    from .params import FIELDS, NodeParams

    defaults = NodeParams()
    for name, field in FIELDS.items():
        default = getattr(defaults, name)
        if isinstance(default, list) and not default:
            default = [""]  # ROS cannot type an empty list; [""] means none
        descriptor = ParameterDescriptor(description=field.metadata["description"])
        node.declare_parameter(name, default, descriptor)


def read_parameters(node: Any):
    """The parameters' current values as NodeParams (ValueError names a bad one); read at each configure."""
    from .params import FIELDS, NodeParams, with_changes

    return with_changes(NodeParams(), {name: node.get_parameter(name).value for name in FIELDS})


def without_ros_args(argv: list[str]) -> list[str]:
    """``argv`` less each ``--ros-args ... [--]`` block (what rclpy's remove_ros_args does),
    so the node's own options are read before rclpy is imported."""
    kept, in_ros_args = [], False
    for arg in argv:
        if arg == "--ros-args":
            in_ros_args = True
        elif in_ros_args and arg == "--":
            in_ros_args = False
        elif not in_ros_args:
            kept.append(arg)
    return kept


def parse_node_args(argv: list[str]) -> argparse.Namespace:
    """The node's own options (``argv`` without the ROS arguments, program name first)."""
    parser = argparse.ArgumentParser(prog="segment_node", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--autostart", action=argparse.BooleanOptionalAction, default=True,
                        help="configure and activate at start (default); --no-autostart waits unconfigured for "
                             "lifecycle transitions")
    return parser.parse_args(argv[1:])


def make_node(autostart: bool):
    """The lifecycle node (cicld_ros.rclpy_lifecycle_node; rclpy imported here, not at module load),
    configured and activated when ``autostart``."""
    from rclpy.lifecycle import TransitionCallbackReturn

    from .rclpy_lifecycle_node import SegmentLifecycleNode

    node = SegmentLifecycleNode()
    if autostart and node.trigger_configure() == TransitionCallbackReturn.SUCCESS:
        node.trigger_activate()
    return node


def main(argv: list[str] | None = None) -> int:
    argv = argv if argv is not None else sys.argv
    options = parse_node_args(without_ros_args(argv))  # --help ends here, without ROS
    import rclpy

    from .lifecycle import State

    rclpy.init(args=argv)
    node = None
    try:
        node = make_node(options.autostart)
        if options.autostart and node.managed.state is not State.ACTIVE:
            node.get_logger().fatal("autostart failed (see above); the node ends")
            return 2
        rclpy.spin(node)
    except KeyboardInterrupt:
        pass
    finally:
        if node is not None:
            node.managed.shutdown()
            node.destroy_node()
        if rclpy.ok():
            rclpy.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
