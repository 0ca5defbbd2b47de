"""Stopping the node as a shell, docker or systemd does: SIGINT (Ctrl-C) and SIGTERM sent to the
node's own process (the installed segment_node that `ros2 run cicld_ros segment_node` starts,
run directly with `--ros-args -p checkpoint:=...`: `ros2 run` is a parent process of its own
that does not hand a signal on), while it segments; each exits within 5 s with rc 0, without a traceback and without rclpy's "Failed to
publish log message to rosout". (SIGINT to `ros2 launch` is in test_rclpy_launch.py, Ctrl-C
in a launch terminal in test_rclpy_names.py.) The two nodes start together."""
from __future__ import annotations

import signal

import pytest

import ros_tier
from ros_tier import ACTIVE_LINE, CHECKPOINT, OUTPUTS, Camera, Listener, run_node, serve

ros_tier.require_ros()

DOMAIN = ros_tier.domain_for(5)
SIGNALS = {"SIGINT": signal.SIGINT, "SIGTERM": signal.SIGTERM}


def camera_topic(name: str) -> str:
    return f"/{name.lower()}_cam/image_raw"


@pytest.fixture(scope="module")
def stack():
    listener = Listener(DOMAIN)
    outputs = {name: [f"/{name.lower()}_cam/segmentation/{o}" for o in OUTPUTS] for name in SIGNALS}
    listener.subscribe_images([t for topics in outputs.values() for t in topics])
    nodes = {name: run_node(DOMAIN, "-p", f"checkpoint:={CHECKPOINT}", "-p", "steps:=0", "-r", f"__node:=node_{name}",
                            "-p", f"image_topics:=[{camera_topic(name)}]", name=f"segment_node ({name})", direct=True)
             for name in SIGNALS}
    camera = None
    try:
        camera = Camera(DOMAIN)
        for node in nodes.values():
            node.wait_line(ACTIVE_LINE)
        yield nodes, outputs, camera, listener
    finally:
        if camera is not None:
            camera.close()
        for node in nodes.values():
            node.kill()
        listener.close()


@pytest.mark.parametrize("name", list(SIGNALS))
def test_a_signal_to_the_running_node_ends_it_cleanly_within_5_s(stack, name):
    nodes, outputs, camera, listener = stack
    node = nodes[name]
    # it serves first: the signal finds it segmenting, not starting up
    listener.wait_matched(outputs[name])
    camera.wait_subscribed(camera_topic(name))
    serve(camera, listener, camera_topic(name), outputs[name], encoding="rgb8", width=640, height=480,
          frame_id=name, sec=6000 + len(name))
    node.send_signal(SIGNALS[name])
    ros_tier.assert_stopped_cleanly(node, name)
