"""
The segmentation node in its own process, as replay evaluation and the painting demo run it.

Started with a parameter file written for it (DDS transport), waited for until its topics match,
and always stopped at the end.

    with node_process(params, domain) as node:
        node.wait_until(lambda: writer.subscription_count() > 0, timeout,
                        "subscribe to /camera/image_raw")
"""
from __future__ import annotations

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


@contextmanager
def node_process(params: dict[str, Any], domain: int) -> Iterator[NodeProcess]:
    """
    Run ``python -m cicld_ros.node`` over DDS on ``domain`` with ``params``.

    ``params`` are its ros__parameters. The node is stopped when the block ends, however it ends.
    Its output goes to a file, not a pipe, so a chatty node never blocks on a full pipe nobody
    reads.
    """
    with tempfile.TemporaryDirectory() as tmp:
        params_path, log_path = Path(tmp) / "params.yaml", Path(tmp) / "node.log"
        params_path.write_text(yaml.safe_dump({"/**": {"ros__parameters": params}}))
        with log_path.open("w") as log:
            process = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "cicld_ros.node",
                    "--transport",
                    "dds",
                    "--params-file",
                    str(params_path),
                    "--domain-id",
                    str(domain),
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                text=True,
            )
        node = NodeProcess(process, log_path)
        try:
            yield node
        finally:
            node.stop()
