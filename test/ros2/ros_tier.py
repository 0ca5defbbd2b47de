"""What the real-ROS tier's modules share: the check that ROS 2 is there (skip, or fail under
CICLD_REQUIRE_ROS=1), a domain per module, processes whose output is read line by line
(ros2 launch, ros2 run, the camera), the ros2 command-line verbs, and an rclpy listener in
the test process.

Everything waits on an event (a line in a process's output, a message received, a topic
matched, a process exited) up to a generous deadline; nothing sleeps a fixed time and nothing
asserts how long a step took, except the 5 s the issue gives a stopped process to exit.
rclpy is imported inside the functions, so this module imports where ROS is missing.
"""
from __future__ import annotations

import importlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import pytest

REPO = Path(__file__).resolve().parents[2]
HELPERS = Path(__file__).resolve().parent / "helpers"
PROFILE_LINE = r"Fast DDS profile for camera-size frames: \S*share/cicld_ros/config/fastdds\.xml"
CHECKPOINT = REPO / "checkpoints" / "cicld_synth.safetensors"
# The Fast DDS profile for camera-size frames the package ships. The tier's cameras, listener and
# ros2 verbs are started with it, as docs/node.md tells users to start theirs; the nodes are not,
# they apply it themselves. CICLD_TIER_FASTDDS_PROFILE gives every process another one instead.
SHIPPED_FASTDDS_PROFILE = REPO / "config" / "fastdds.xml"
FASTDDS_PROFILE = Path(os.environ.get("CICLD_TIER_FASTDDS_PROFILE") or SHIPPED_FASTDDS_PROFILE)
OUTPUTS = ("class_mask", "color_mask", "overlay")
ANSI = re.compile(r"\x1b\[[0-9;]*m")
# a slow step on a loaded 2-core machine (torch import, model load, discovery): generous
START_TIMEOUT = 120.0
ANSWER_TIMEOUT = 90.0
REQUIRED = ("rclpy", "rclpy.lifecycle", "launch", "launch_ros", "ros2cli", "sensor_msgs.msg", "vision_msgs.msg",
            "diagnostic_msgs.msg", "lifecycle_msgs.msg", "ament_index_python")


def require_ros() -> None:
    """Skip the calling module (at collection) when ROS 2 with cicld_ros built into it is not
    there, saying what is missing; with CICLD_REQUIRE_ROS=1 (CI) that is a failure instead."""
    missing = []
    for name in REQUIRED:
        try:
            module = importlib.import_module(name)
        except Exception as error:  # noqa: BLE001 - any failure to import means no usable ROS
            missing.append(f"{name} ({type(error).__name__})")
            continue
        if name == "launch" and not hasattr(module, "LaunchDescription"):  # the repository's launch/ folder
            missing.append("launch (ROS 2's; only this repository's launch/ folder is importable)")
    if shutil.which("ros2") is None:
        missing.append("the ros2 command on PATH")
    if not missing:
        try:
            from ament_index_python.packages import get_package_share_directory

            get_package_share_directory("cicld_ros")
        except Exception as error:  # noqa: BLE001
            missing.append(f"cicld_ros in the ament index ({error}; colcon-build it: scripts/setup_jazzy.sh)")
    if missing:
        reason = ("real-ROS tier: needs ROS 2 (rclpy, launch, ros2cli) with cicld_ros colcon-built "
                  "(bash scripts/test_ros2.sh sets that up); missing: " + "; ".join(missing))
        if os.environ.get("CICLD_REQUIRE_ROS") == "1":
            pytest.fail(reason + " [CICLD_REQUIRE_ROS=1: this must run, not skip]", pytrace=False)
        pytest.skip(reason, allow_module_level=True)


def domain_for(module_index: int) -> int:
    """A ROS domain of its own for each module of each pytest run (derived from the pid), so
    two modules or two runs on one machine do not see each other's topics. Fast DDS's ports
    stay valid up to domain 232; 101 and below are what ROS 2 documents for Linux."""
    return 11 + (os.getpid() * 5 + module_index * 17) % 90


def ros_env(domain: int, node: bool = False, **extra: str) -> dict[str, str]:
    """The environment of every ROS process of a module: its domain, the Fast DDS profile for
    camera-size frames (not for a ``node``: the node applies the shipped one itself when none is
    set), plain (uncoloured, unbuffered) log lines, one torch thread."""
    env = dict(os.environ)
    env.update(ROS_DOMAIN_ID=str(domain), FASTRTPS_DEFAULT_PROFILES_FILE=str(FASTDDS_PROFILE),
               RCUTILS_COLORIZED_OUTPUT="0", RCUTILS_LOGGING_BUFFERED_STREAM="0", PYTHONUNBUFFERED="1",
               OMP_NUM_THREADS="1")
    if node and not os.environ.get("CICLD_TIER_FASTDDS_PROFILE"):
        env.pop("FASTRTPS_DEFAULT_PROFILES_FILE")
        env.pop("FASTDDS_DEFAULT_PROFILES_FILE", None)
    env.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")
    env.setdefault("RMW_IMPLEMENTATION", "rmw_fastrtps_cpp")
    env.update(extra)
    return env


def interruptible() -> None:
    """preexec_fn: SIGINT back to its default action (a process started from a non-interactive
    shell, or from a test runner, inherits SIG_IGN for it, and ros2 launch then ignores Ctrl-C)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)


class Process:
    """A process in its own session whose output (stdout and stderr together) is read into
    ``lines`` as it comes, so a test can wait for a line."""

    def __init__(self, name: str, args: list[str], env: dict[str, str], stdin: bool = False) -> None:
        self.name, self.args = name, args
        self.lines: list[str] = []
        self._changed = threading.Condition()
        self.popen = subprocess.Popen(args, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                      stdin=subprocess.PIPE if stdin else subprocess.DEVNULL, text=True, bufsize=1,
                                      start_new_session=True, preexec_fn=interruptible)
        self._reader = threading.Thread(target=self._read, name=f"read {name}", daemon=True)
        self._reader.start()

    def _read(self) -> None:
        for line in self.popen.stdout:
            with self._changed:
                self.lines.append(ANSI.sub("", line.rstrip("\n")))
                self._changed.notify_all()
        with self._changed:
            self._changed.notify_all()

    @property
    def pid(self) -> int:
        return self.popen.pid

    def output(self) -> str:
        with self._changed:
            return "\n".join(self.lines)

    def tail(self, count: int = 60) -> str:
        with self._changed:
            return f"--- last lines of {self.name} ({' '.join(self.args)[:300]}) ---\n" + "\n".join(self.lines[-count:])

    def mark(self) -> int:
        """The number of lines so far: wait_line(since=mark) looks only at later lines."""
        with self._changed:
            return len(self.lines)

    def find(self, pattern: str, since: int = 0) -> list[str]:
        regex = re.compile(pattern)
        with self._changed:
            return [line for line in self.lines[since:] if regex.search(line)]

    def wait_line(self, pattern: str, timeout: float = START_TIMEOUT, since: int = 0, count: int = 1) -> list[str]:
        """The first ``count`` lines after ``since`` matching ``pattern``; fails, with the output,
        if the process ends or the deadline passes first."""
        regex, deadline = re.compile(pattern), time.monotonic() + timeout
        with self._changed:
            while True:
                found = [line for line in self.lines[since:] if regex.search(line)]
                if len(found) >= count:
                    return found[:count]
                if self.popen.poll() is not None and not self._reader.is_alive():
                    pytest.fail(f"{self.name} ended (rc {self.popen.returncode}) before a line matching "
                                f"{pattern!r}\n{self.tail()}", pytrace=False)
                left = deadline - time.monotonic()
                if left <= 0:
                    pytest.fail(f"no line matching {pattern!r} from {self.name} within {timeout:g} s\n{self.tail()}",
                                pytrace=False)
                self._changed.wait(min(left, 0.5))

    def send_signal(self, signum: int) -> None:
        self.popen.send_signal(signum)

    def wait_exit(self, timeout: float) -> int | None:
        """The exit code, or None if it is still running after ``timeout`` s; its output read to the end."""
        try:
            rc = self.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            return None
        self._reader.join(timeout=10)
        return rc

    def kill(self) -> None:
        """End the process and everything in its session (ros2 launch's children included)."""
        if self.popen.poll() is None:
            try:
                os.killpg(self.popen.pid, signal.SIGINT)
            except ProcessLookupError:
                pass
            if self.wait_exit(10) is None:
                try:
                    os.killpg(self.popen.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                self.popen.wait(10)
        else:  # children may remain after their parent (ros2 launch sent SIGTERM leaves them)
            try:
                os.killpg(self.popen.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        self._reader.join(timeout=10)


def launch(domain: int, *arguments: str, name: str = "ros2 launch") -> Process:
    return Process(name, ["ros2", "launch", "cicld_ros", "segment.launch.py", *arguments], ros_env(domain, node=True))


def run_node(domain: int, *ros_args: str, node_args: tuple[str, ...] = (), name: str = "ros2 run",
             direct: bool = False) -> Process:
    """`ros2 run cicld_ros segment_node`; ``direct``: the installed executable itself, the node's
    own process (`ros2 run` is a process of its own that starts the node as its child: a
    signal sent to it alone does not reach the node, and SIGTERM leaves the node running)."""
    command = [node_executable()] if direct else ["ros2", "run", "cicld_ros", "segment_node"]
    return Process(name, [*command, *node_args, "--ros-args", *ros_args], ros_env(domain, node=True))


def node_executable() -> str:
    """The segment_node the colcon build installed (<prefix>/lib/cicld_ros/segment_node)."""
    from ament_index_python.packages import get_package_prefix

    return str(Path(get_package_prefix("cicld_ros")) / "lib" / "cicld_ros" / "segment_node")


ACTIVE_LINE = r"lifecycle: activate: inactive -> active"


@dataclass
class CliResult:
    rc: int
    out: str
    err: str

    @property
    def text(self) -> str:
        return self.out + self.err


def ros2(domain: int, *args: str, timeout: float = 60.0, attempts: int = 8) -> CliResult:
    """A ros2 verb against the module's domain, without the ros2 daemon (nothing left running).
    Its discovery of the node is given a few seconds and retried while the answer is "Node not
    found" (discovery on a loaded machine can take longer; the verb then did nothing)."""
    spin = 1.0
    for attempt in range(attempts):
        completed = subprocess.run(["ros2", *args, "--no-daemon", "--spin-time", f"{spin:g}"], cwd=REPO,
                                   env=ros_env(domain), capture_output=True, text=True, timeout=timeout,
                                   preexec_fn=interruptible)
        result = CliResult(completed.returncode, ANSI.sub("", completed.stdout), ANSI.sub("", completed.stderr))
        if "Node not found" not in result.text:
            return result
        spin = min(spin * 1.5, 8.0)
    return result


def lifecycle_set(domain: int, node: str, transition: str) -> CliResult:
    return ros2(domain, "lifecycle", "set", node, transition)


def lifecycle_get(domain: int, node: str) -> str:
    return ros2(domain, "lifecycle", "get", node).out.strip()


# -- the rclpy listener, in the test process ---------------------------------------------------
@dataclass
class Received:
    """What a test checks of an Image output (the pixels are not kept: 1080p frames are big)."""
    sec: int
    nanosec: int
    frame_id: str
    width: int
    height: int
    encoding: str
    step: int
    size: int

    @property
    def stamp(self) -> tuple[int, int]:
        return self.sec, self.nanosec


class Listener:
    """An rclpy node on the module's domain in the test process, spun by an executor thread;
    each subscription keeps what it received, and a test waits for a message by predicate."""

    def __init__(self, domain: int) -> None:
        import rclpy
        from rclpy.executors import SingleThreadedExecutor
        from rclpy.signals import SignalHandlerOptions

        os.environ["FASTRTPS_DEFAULT_PROFILES_FILE"] = str(FASTDDS_PROFILE)
        self.context = rclpy.Context()
        rclpy.init(context=self.context, domain_id=domain, signal_handler_options=SignalHandlerOptions.NO)
        self.node = rclpy.create_node(f"tier_listener_{os.getpid()}", context=self.context)
        self.executor = SingleThreadedExecutor(context=self.context)
        self.executor.add_node(self.node)
        self.messages: dict[str, list[Any]] = {}
        self.subscriptions: dict[str, Any] = {}
        self._changed = threading.Condition()
        self._thread = threading.Thread(target=self._spin, name="listener", daemon=True)
        self._thread.start()

    def _spin(self) -> None:
        from rclpy.executors import ExternalShutdownException

        try:
            self.executor.spin()
        except (ExternalShutdownException, Exception):  # noqa: BLE001 - the context shut down at close
            pass

    def subscribe(self, topic: str, msg_type: Any, qos: Any = None, keep: Callable[[Any], Any] | None = None) -> None:
        """Keep every message on ``topic`` (``keep`` turns one into what is kept); reliable, depth 20 unless ``qos``."""
        from rclpy.qos import QoSProfile, ReliabilityPolicy

        qos = qos or QoSProfile(depth=20, reliability=ReliabilityPolicy.RELIABLE)
        self.messages.setdefault(topic, [])
        keep = keep or (lambda msg: msg)

        def add(msg: Any) -> None:
            with self._changed:
                self.messages[topic].append(keep(msg))
                self._changed.notify_all()

        self.subscriptions[topic] = self.node.create_subscription(msg_type, topic, add, qos)

    def subscribe_images(self, topics: list[str]) -> None:
        from sensor_msgs.msg import Image

        for topic in topics:
            self.subscribe(topic, Image, keep=lambda m: Received(m.header.stamp.sec, m.header.stamp.nanosec,
                                                                 m.header.frame_id, m.width, m.height, m.encoding,
                                                                 m.step, len(m.data)))

    def unsubscribe(self, topic: str) -> None:
        self.node.destroy_subscription(self.subscriptions.pop(topic))

    def wait_matched(self, topics: list[str], timeout: float = START_TIMEOUT) -> None:
        """Until each subscription matched a publisher (the node created its topics)."""
        from waiting import wait_for

        assert wait_for(lambda: all(self.node.count_publishers(t) > 0 for t in topics), timeout), \
            f"no publisher for {[t for t in topics if self.node.count_publishers(t) == 0]} within {timeout:g} s"

    def wait_lifecycle_node(self, full_name: str, process: Process, timeout: float = START_TIMEOUT) -> None:
        """Until this process sees ``full_name``'s lifecycle services in the ROS graph (the node
        is up; a ros2 verb then finds it without retries), or fails if ``process`` ended."""
        from rclpy._rclpy_pybind11 import NodeNameNonExistentError

        namespace, _, name = full_name.rpartition("/")

        def seen() -> bool:
            if process.popen.poll() is not None:
                return True
            try:
                services = self.node.get_service_names_and_types_by_node(name, namespace or "/")
            except NodeNameNonExistentError:
                return False
            return any(service == f"{full_name}/get_state" for service, _ in services)

        from waiting import wait_for

        assert wait_for(seen, timeout) and process.popen.poll() is None, \
            f"{full_name} did not come up within {timeout:g} s\n{process.tail()}"

    def got(self, topic: str) -> list[Any]:
        with self._changed:
            return list(self.messages.get(topic, []))

    def wait(self, condition: Callable[[], bool], timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        with self._changed:
            while not condition():
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._changed.wait(min(left, 0.5))
            return True

    def first(self, topic: str, predicate: Callable[[Any], bool], timeout: float) -> Any | None:
        found: list[Any] = []

        def check() -> bool:
            found[:] = [m for m in self.messages.get(topic, []) if predicate(m)]
            return bool(found)

        return found[0] if self.wait(check, timeout) else None

    def close(self) -> None:
        self.executor.shutdown(timeout_sec=5)
        self.node.destroy_node()
        self.context.try_shutdown()
        self._thread.join(timeout=10)


# -- the camera, a separate rclpy process ------------------------------------------------------
class Camera:
    """test/ros2/helpers/rclpy_camera.py in its own process (the Jazzy python), driven by JSON
    lines on its stdin; it publishes best effort with sensor-data QoS, as camera drivers do."""

    def __init__(self, domain: int, env_extra: dict[str, str] | None = None, script: str = "rclpy_camera.py") -> None:
        self.process = Process("camera", [sys.executable, str(HELPERS / script)], ros_env(domain, **(env_extra or {})),
                               stdin=True)
        self.process.wait_line(r"^ready$")
        self._sent = 0

    def command(self, **fields: Any) -> dict[str, Any]:
        since = self.process.mark()
        self._sent += 1
        fields["id"] = self._sent
        self.process.popen.stdin.write(json.dumps(fields) + "\n")
        self.process.popen.stdin.flush()
        line = self.process.wait_line(rf'^(ok|error) {{"id": {self._sent}\b', timeout=ANSWER_TIMEOUT, since=since)[0]
        status, _, payload = line.partition(" ")
        answer = json.loads(payload)
        assert status == "ok", f"camera: {answer}"
        return answer

    def publish(self, topic: str, **frame: Any) -> None:
        self.command(op="publish", topic=topic, **frame)

    def wait_subscribed(self, topic: str, kind: str = "image", timeout: float = START_TIMEOUT) -> None:
        """Until the camera's publisher on ``topic`` matched a subscription (the node's)."""
        answer = self.command(op="wait_subscribed", topic=topic, kind=kind, timeout=timeout)
        assert answer["count"] > 0, f"no subscriber matched the camera on {topic} within {timeout:g} s"

    def close(self) -> None:
        if self.process.popen.poll() is None:
            try:
                self.process.popen.stdin.close()
            except OSError:
                pass
            if self.process.wait_exit(15) is None:
                self.process.kill()


def assert_stopped_cleanly(process: "Process", after: str, launched: bool = False) -> None:
    """``process`` ends within 5 s of ``after`` (a signal), with status 0, no traceback and no
    rclpy rosout error; under ``ros2 launch`` (``launched``) launch also says the node finished
    cleanly."""
    rc = process.wait_exit(5)
    assert rc is not None, f"{process.name} still runs 5 s after {after}\n{process.tail()}"
    output = process.output()
    assert rc == 0, f"{process.name} ended with rc {rc} after {after}\n{process.tail()}"
    assert "Traceback" not in output, process.tail(120)
    assert "Failed to publish log message to rosout" not in output, process.tail(120)
    if launched:
        assert process.find(r"\[segment_node-1\]: process has finished cleanly"), process.tail()


def serve(camera: Camera, listener: Listener, topic: str, outputs: list[str], timeout: float = ANSWER_TIMEOUT,
          **frame: Any) -> dict[str, Received]:
    """Publish one frame until every output topic in ``outputs`` carried an answer with its stamp.
    Best effort may lose a frame, and the node only publishes an output once it has seen the
    subscriber, so the same frame is sent again (after 3, 6, 12 ... s) until it is answered."""
    stamp = (frame["sec"], frame.get("nanosec", 0))
    deadline, wait = time.monotonic() + timeout, 3.0
    answered: dict[str, Received] = {}

    def check() -> bool:
        for output in outputs:
            if output not in answered:
                match = [m for m in listener.messages.get(output, []) if m.stamp == stamp]
                if match:
                    answered[output] = match[0]
        return len(answered) == len(outputs)

    while True:
        camera.publish(topic, **frame)
        if listener.wait(check, min(wait, max(0.0, deadline - time.monotonic()))):
            return answered
        if time.monotonic() >= deadline:
            pytest.fail(f"frame {stamp} on {topic} not answered on {sorted(set(outputs) - set(answered))} within "
                        f"{timeout:g} s", pytrace=False)
        wait *= 2


def diagnostics_keep(msg: Any) -> dict[str, Any]:
    """A DiagnosticArray as plain data: its statuses by name, with level, message and values."""
    return {status.name: {"level": int.from_bytes(status.level, "little") if isinstance(status.level, bytes)
                          else int(status.level), "message": status.message,
                          "values": {kv.key: kv.value for kv in status.values}}
            for status in msg.status}
