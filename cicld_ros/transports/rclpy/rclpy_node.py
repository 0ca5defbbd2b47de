"""
The node under a ROS 2 install.

``ros2 run cicld_ros segment_node [--no-autostart]`` / ``ros2 launch``.

A thin adapter: a managed (lifecycle) node whose transition callbacks call the shared state machine
of cicld_ros.segmentation.lifecycle (configure loads the checkpoint and creates the topics,
activate segments, deactivate stops and frees the GPU, cleanup frees everything). ROS parameters
(declared with descriptions) feed NodeParams at configure, rclpy messages are converted to and from
the plain records of cicld_ros.messages.records, and the SegmentationNode core does the rest; the
painting parameters (``painting.<name>``, see cicld_ros.segmentation.painting_params) are declared
at the first configure, once ``painting.cameras`` names the cameras. Topic names are handed to
rclpy as configured (relative ones resolve in the node's namespace, remappings apply) and each
camera's outputs follow its resolved name. Inputs use sensor-data QoS (best effort, keep last 1);
outputs are reliable with a small depth. Every transition failure is logged with its cause (rclpy
logs nothing), a parameter of the wrong type in a file is named with its fix instead of a
traceback, and SIGTERM ends the node as cleanly as Ctrl-C. By default the node configures and
activates itself at start, so ``ros2 run`` and ``ros2 launch`` segment in one command; with
``--no-autostart`` it waits for ``ros2 lifecycle set /segment_node configure`` (and ``activate``),
or a lifecycle manager.
"""
from __future__ import annotations

import argparse
import sys
from typing import Callable

# the adapter's pieces (cicld_ros.transports.rclpy.rclpy_adapter), importable from here as before
# they moved;
# rclpy itself is imported where used, so `segment_node --help` answers at once
from .rclpy_adapter import (  # noqa: F401
    ParameterChanges,
    RclpyTransport,
    declare_parameters,
    parameter_descriptor,
    read_parameters,
    run_transition,
)


def without_ros_args(argv: list[str]) -> list[str]:
    """
    Return ``argv`` less each ``--ros-args ... [--]`` block.

    As rclpy's remove_ros_args does, so the node's own options are read before rclpy is imported.
    """
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
    """Return the node's own options (``argv`` without the ROS arguments, program name first)."""
    parser = argparse.ArgumentParser(prog="segment_node", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--autostart",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="configure and activate at start (default); --no-autostart waits unconfigured for "
        "lifecycle transitions",
    )
    return parser.parse_args(argv[1:])


def make_node(autostart: bool):
    """
    Return the lifecycle node, configured and activated when ``autostart``.

    The class is cicld_ros.transports.rclpy.rclpy_lifecycle_node's; rclpy is imported here, not at
    module load.
    """
    from rclpy.lifecycle import TransitionCallbackReturn

    from .rclpy_lifecycle_node import SegmentLifecycleNode

    node = SegmentLifecycleNode()
    if autostart and node.trigger_configure() == TransitionCallbackReturn.SUCCESS:
        node.trigger_activate()
    return node


def spin_until_shutdown(
    spin: Callable[[], None], shutdown_exceptions: tuple[type[BaseException], ...]
) -> None:
    """
    Spin until the node is stopped: Ctrl-C (KeyboardInterrupt) or SIGTERM.

    On SIGTERM (docker stop, systemd, launch's escalation) rclpy's signal handler shuts the context
    down and the executor raises ExternalShutdownException out of rclpy.spin (rclpy/executors.py,
    wait_for_ready_callbacks; SingleThreadedExecutor does not catch it, humble and jazzy): both are
    a clean stop, not an error.
    """
    try:
        spin()
    except (KeyboardInterrupt, *shutdown_exceptions):
        pass


def main(argv: list[str] | None = None) -> int:
    argv = argv if argv is not None else sys.argv
    options = parse_node_args(without_ros_args(argv))  # --help ends here, without ROS
    import rclpy
    from rclpy.executors import ExternalShutdownException

    from ...segmentation.lifecycle import State

    rclpy.init(args=argv)
    node = None
    try:
        node = make_node(options.autostart)
        if options.autostart and node.managed.state is not State.ACTIVE:
            node.get_logger().fatal("autostart failed (see above); the node ends")
            return 2
        spin_until_shutdown(lambda: rclpy.spin(node), (ExternalShutdownException,))
    except (KeyboardInterrupt, ExternalShutdownException):  # while the node was made
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
