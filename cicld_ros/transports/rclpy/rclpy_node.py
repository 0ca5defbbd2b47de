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
import os
import signal
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


FAST_DDS_PROFILE_VARIABLES = ("FASTRTPS_DEFAULT_PROFILES_FILE", "FASTDDS_DEFAULT_PROFILES_FILE")


def use_camera_frame_profile(environ: dict[str, str], share_dir: Callable[[], str]) -> str | None:
    """
    Point Fast DDS at the shipped profile for camera-size frames (config/fastdds.xml).

    Left alone when the user chose an rmw other than Fast DDS or a profile of their own; returns
    the file it set. With Fast DDS's default buffers most best-effort camera frames are lost
    (measured: 1 of 10 1920x1080 frames between two processes; 10 of 10 with the profile), as the
    DDS mode's Cyclone settings keep them over Cyclone (cicld_ros.transports.dds.config).
    """
    if not environ.get("RMW_IMPLEMENTATION", "rmw_fastrtps_cpp").startswith("rmw_fastrtps"):
        return None
    if any(environ.get(name) for name in FAST_DDS_PROFILE_VARIABLES):
        return None
    try:
        profile = os.path.join(share_dir(), "config", "fastdds.xml")
    except LookupError:  # the package is not installed into an ament prefix (no colcon build)
        return None
    if not os.path.isfile(profile):
        return None
    environ["FASTRTPS_DEFAULT_PROFILES_FILE"] = profile
    return profile


SPIN_PERIOD = 0.1  # s: how soon a stop request is seen between callbacks


class StopRequest:
    """
    SIGINT and SIGTERM ask the node to stop; nothing is raised into a callback or the shutdown.

    The node owns the signals instead of rclpy (rclpy.init with SignalHandlerOptions.NO): rclpy's
    handler shuts the context down first, so everything the node logs while it stops would fail
    to reach /rosout ("publisher's context is invalid"), and a second Ctrl-C would raise
    KeyboardInterrupt into the shutdown and end the process with -2.
    """

    def __init__(self) -> None:
        self.signal: int | None = None
        for number in (signal.SIGINT, signal.SIGTERM):
            signal.signal(number, self._request)

    def _request(self, number: int, frame) -> None:
        self.signal = number

    @property
    def requested(self) -> bool:
        return self.signal is not None


def spin_until_stopped(spin_once: Callable[[float], None], stopped: Callable[[], bool]) -> None:
    """
    Run callbacks until ``stopped()``.

    That is a signal, the lifecycle's shutdown transition (``ros2 lifecycle set /segment_node
    shutdown``: finalized, nothing left to do) or the context shut down from elsewhere.
    """
    while not stopped():
        spin_once(SPIN_PERIOD)


def main(argv: list[str] | None = None) -> int:
    argv = argv if argv is not None else sys.argv
    options = parse_node_args(without_ros_args(argv))  # --help ends here, without ROS
    import rclpy
    from rclpy.executors import ExternalShutdownException, SingleThreadedExecutor
    from rclpy.signals import SignalHandlerOptions

    from ...segmentation.lifecycle import State

    from ament_index_python.packages import get_package_share_directory

    profile = use_camera_frame_profile(
        os.environ, lambda: get_package_share_directory("cicld_ros")
    )
    rclpy.init(args=argv, signal_handler_options=SignalHandlerOptions.NO)
    stop = StopRequest()
    node = None
    try:
        node = make_node(options.autostart)
        if profile:
            node.get_logger().info(f"Fast DDS profile for camera-size frames: {profile} (set "
                                   "FASTRTPS_DEFAULT_PROFILES_FILE to use your own)")
        if options.autostart and node.managed.state is not State.ACTIVE and not stop.requested:
            node.get_logger().fatal("autostart failed (see above); the node ends")
            return 2
        executor = SingleThreadedExecutor()
        executor.add_node(node)
        try:
            spin_until_stopped(
                lambda timeout: executor.spin_once(timeout_sec=timeout),
                lambda: stop.requested or node.managed.state is State.FINALIZED or not rclpy.ok(),
            )
        except (
            ExternalShutdownException
        ):  # the context was shut down by another part of the process
            pass
        if stop.requested:
            node.get_logger().info(f"{signal.Signals(stop.signal).name}: stopping")
    finally:
        if node is not None:
            node.managed.shutdown()
            node.destroy_node()
        rclpy.try_shutdown()
        # past this point CPython puts the default action back for a handler written in Python,
        # so a late second Ctrl-C (a terminal and ros2 launch both send one) would end the
        # process with -2 after a clean shutdown; ignored, the exit status stays 0
        for number in (signal.SIGINT, signal.SIGTERM):
            signal.signal(number, signal.SIG_IGN)
    return 0


if __name__ == "__main__":
    sys.exit(main())
