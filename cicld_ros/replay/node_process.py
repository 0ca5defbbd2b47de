"""
The segmentation node in its own process, as replay evaluation and the painting demo run it.

Started with a parameter file written for it (DDS transport or rclpy), waited for until its
topics match, and always stopped at the end.

    with node_process(params, domain) as node:
        node.wait_until(lambda: writer.subscription_count() > 0, timeout,
                        "subscribe to /camera/image_raw")
"""
from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterator

import yaml

from ..bags.bag_reader import BagError

STOP_TIMEOUT = 30.0  # s the node gets to shut down after SIGTERM before it is killed
LOG_TAIL = 2000  # characters of the node's output quoted when it exits at start-up


class NodeProcess:
    def __init__(self, process: subprocess.Popen, log_path: Path) -> None:
        self.process, self.log_path = process, log_path

    def output(self) -> str:
        """Return the end of what the node printed so far."""
        return self.log_path.read_text(errors="replace")[-LOG_TAIL:]

    def wait_until(self, ready: Callable[[], bool], timeout: float, what: str) -> None:
        """
        Wait until ``ready()`` (the node's readers and writers matched ours).

        BagError when the node exits first, naming its output, or when ``timeout`` s pass (``what``
        says what it did not do).
        """
        deadline = time.monotonic() + timeout
        while not ready():
            if self.process.poll() is not None:
                raise BagError(f"the node exited at start-up: {self.output()}")
            if time.monotonic() > deadline:
                raise BagError(f"the node did not {what} within {timeout:g} s")
            time.sleep(0.05)

    def stop(self) -> None:
        """SIGTERM, then SIGKILL if it has not ended within STOP_TIMEOUT."""
        self.process.terminate()
        try:
            self.process.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


TRANSPORTS = ("dds", "rclpy")


def node_command(
    params_path: Path, domain: int, transport: str
) -> tuple[list[str], dict[str, str]]:
    """Return the command line and environment of the node on ``transport``."""
    if transport == "dds":
        command = [sys.executable, "-m", "cicld_ros.node", "--transport", "dds", "--params-file",
                   str(params_path), "--domain-id", str(domain)]
        return command, dict(os.environ)
    # the segment_node that ros2 launch starts, on the rmw of the ROS install this Python has
    command = [sys.executable, "-m", "cicld_ros.transports.rclpy.rclpy_node", "--ros-args",
               "--params-file", str(params_path)]
    return command, dict(os.environ, ROS_DOMAIN_ID=str(domain))


@contextmanager
def node_process(
    params: dict[str, Any], domain: int, transport: str = "dds"
) -> Iterator[NodeProcess]:
    """
    Run the node on ``transport`` (``dds``: ``python -m cicld_ros.node``; ``rclpy``: segment_node).

    ``params`` are its ros__parameters, ``domain`` its DDS domain (ROS_DOMAIN_ID). The node is
    stopped when the block ends, however it ends. Its output goes to a file, not a pipe, so a
    chatty node never blocks on a full pipe nobody reads.
    """
    with tempfile.TemporaryDirectory() as tmp:
        params_path, log_path = Path(tmp) / "params.yaml", Path(tmp) / "node.log"
        params_path.write_text(yaml.safe_dump({"/**": {"ros__parameters": params}}))
        command, environment = node_command(params_path, domain, transport)
        with log_path.open("w") as log:
            process = subprocess.Popen(
                command, stdout=log, stderr=subprocess.STDOUT, text=True, env=environment
            )
        node = NodeProcess(process, log_path)
        try:
            yield node
        finally:
            node.stop()
