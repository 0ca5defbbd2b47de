"""
The replay's side of a live run under ROS 2: a bag player and mask recorder on rclpy.

``replay_eval --mode live --transport rclpy`` plays a bag to the rclpy node (the
``segment_node`` that ``ros2 launch`` starts) through the rmw of the ROS install, as the DDS
transport plays it to the DDS-mode node. It offers the two calls the live replay makes of a
transport, so the replay itself does not depend on which one it talks through:

    with rclpy_transport(domain) as transport:
        masks = transport.subscribe(mask_topic, IMAGE, on_mask, reliable=True, depth=16)
        camera = transport.publisher(image_topic, IMAGE, reliable=True, depth=1)
"""
from __future__ import annotations

import os
import threading
from contextlib import contextmanager
from typing import Any, Callable, Iterator

from ..transports.rclpy.rclpy_adapter import RclpyTransport
from ..transports.rclpy.rclpy_node import use_camera_frame_profile

PLAYER_NODE = "cicld_replay_player"


class RclpyPlayer:
    """RclpyTransport on a node of its own, with the counts the live replay waits on."""

    def __init__(self, node: Any) -> None:
        self.node, self.transport = node, RclpyTransport(node)

    def publisher(self, topic: str, kind: str, reliable: bool = True, depth: int = 5):
        return self.transport.publisher(topic, kind, reliable=reliable, depth=depth)

    def subscribe(self, topic: str, kind: str, callback: Callable[[Any], None],
                  reliable: bool = False, depth: int = 1, keep_all: bool = False):
        """Subscribe; ``keep_all`` becomes a deep history (KEEP_ALL would need resource limits)."""
        subscription = self.transport.subscribe(
            topic, kind, callback, reliable=reliable, depth=max(depth, 100) if keep_all else depth
        )
        resolved = self.node.resolve_topic_name(topic)
        node = self.node

        class Subscription:
            ros = subscription

            def publication_count(self) -> int:
                """Return the matched publishers (Jazzy on), else those in the graph (Humble)."""
                matched = getattr(subscription, "get_publisher_count", None)
                return matched() if matched is not None else node.count_publishers(resolved)

        return Subscription()


@contextmanager
def rclpy_transport(domain: int) -> Iterator[RclpyPlayer]:
    """
    Yield a player node on ``domain`` in a context of its own, spun in a background thread.

    Under Fast DDS it uses the package's profile for camera-size frames unless one is set, as the
    node does (both ends of a best-effort camera topic need it); the node's process inherits it.
    """
    import rclpy
    from ament_index_python.packages import get_package_share_directory
    from rclpy.executors import ExternalShutdownException, SingleThreadedExecutor
    from rclpy.signals import SignalHandlerOptions

    use_camera_frame_profile(os.environ, lambda: get_package_share_directory("cicld_ros"))
    context = rclpy.Context()
    rclpy.init(context=context, domain_id=domain, signal_handler_options=SignalHandlerOptions.NO)
    node = rclpy.create_node(PLAYER_NODE, context=context)
    executor = SingleThreadedExecutor(context=context)
    executor.add_node(node)

    def spin() -> None:
        try:
            executor.spin()
        except ExternalShutdownException:
            pass

    spinner = threading.Thread(target=spin, name="rclpy player", daemon=True)
    spinner.start()
    try:
        yield RclpyPlayer(node)
    finally:
        executor.shutdown()
        node.destroy_node()
        rclpy.try_shutdown(context=context)
        spinner.join(timeout=5)
