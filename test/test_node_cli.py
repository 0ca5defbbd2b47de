"""The node's command line in its own process: SIGHUP (during start-up, without a parameter
file, reloads that keep --set overrides, name each change and refuse bad files), values that
would make every frame fail, and one clear error line for each bad setting."""
from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import yaml

from cicld_ros.segmentation.params import MIN_INPUT_SIDE, NodeParams, load_params, read_params_file, with_changes
from cicld_ros.transports.dds.dds_start import DdsStartError, domain_id

REPO = Path(__file__).resolve().parents[1]
START_TIMEOUT = 180  # seconds for a node to import torch and load the tiny model on a busy machine


def node_domain(offset: int) -> int:
    return 1 + (os.getpid() * 11 + offset) % 200


class NodeProcess:
    """``python -m cicld_ros.node`` with its log read line by line as it comes."""

    def __init__(self, *args: str, env: dict[str, str] | None = None) -> None:
        self.process = subprocess.Popen([sys.executable, "-m", "cicld_ros.node", "--transport", "dds", *args],
                                        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                        env=os.environ | {"OMP_NUM_THREADS": "1"} | (env or {}))
        self.lines: list[str] = []
        self.cursor = 0
        self.changed = threading.Condition()
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        for line in self.process.stdout:
            with self.changed:
                self.lines.append(line.rstrip("\n"))
                self.changed.notify_all()
        with self.changed:
            self.changed.notify_all()

    def expect(self, pattern: str, timeout: float = 60) -> str:
        """The next log line (after the last one expected) that matches ``pattern``."""
        regex = re.compile(pattern)

        def found() -> int | None:
            return next((i for i in range(self.cursor, len(self.lines)) if regex.search(self.lines[i])), None)

        with self.changed:
            self.changed.wait_for(lambda: found() is not None or not self.reader.is_alive(), timeout)
            index = found()
            assert index is not None, f"no log line matching {pattern!r}; exit status {self.process.poll()}, " \
                                      f"log:\n" + "\n".join(self.lines[-40:])
            self.cursor = index + 1
            return self.lines[index]

    def hangup(self) -> None:
        assert self.process.poll() is None, "\n".join(self.lines[-40:])
        self.process.send_signal(signal.SIGHUP)

    def stop(self) -> str:
        self.process.terminate()
        self.process.wait(timeout=60)
        self.reader.join(timeout=10)
        log = "\n".join(self.lines)
        assert self.process.returncode == 0, log[-4000:]
        assert "Traceback" not in log, log[-4000:]
        return log


def write_params(path: Path, document) -> None:
    partial = path.with_name(path.name + ".partial")
    partial.write_text(yaml.safe_dump(document))
    partial.replace(path)  # a reload never sees half a file


def node_params(checkpoint: Path, **values) -> dict:
    return {"segment_node": {"ros__parameters": {"checkpoint": str(checkpoint), "image_topics": ["/cam0/image_raw"],
                                                 "steps": 1} | values}}


def wait_until_torch_loads(pid: int) -> None:
    """Block until the process has mapped libtorch: the model is not loaded yet, and a node that
    caught SIGHUP only once ready would die of it now."""
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        try:
            if "libtorch" in Path(f"/proc/{pid}/maps").read_text():
                return
        except (FileNotFoundError, ProcessLookupError):
            raise AssertionError("the node ended before loading torch") from None
        time.sleep(0.01)
    raise AssertionError("the node did not load torch in time")


@pytest.mark.skipif(not Path("/proc/self/maps").exists(), reason="needs /proc")
def test_sighup_during_start_up_then_reloads_keep_set_overrides_and_name_each_change(checkpoint, tmp_path):
    params = tmp_path / "params.yaml"
    write_params(params, node_params(checkpoint))
    node = NodeProcess("--params-file", str(params), "--set", "seed=7", "--domain-id", str(node_domain(0)))
    wait_until_torch_loads(node.process.pid)
    node.hangup()  # while torch loads: applied once the node is ready, never a silent exit 129
    node.expect(r"segmenting /cam0/image_raw", START_TIMEOUT)
    node.expect(r"reloaded .*: no run-time parameter changed \(--set kept over the file: seed\)")

    # run-time values change, --set stays over the file, a non-run-time change is named and left alone
    write_params(params, node_params(checkpoint, steps=2, seed=3, overlay_alpha=0.25, max_batch=2))
    node.hangup()
    warning = node.expect(r"reload of .*max_batch")
    assert "max_batch 4 -> 2 not applied: only a restart changes these" in warning and "[WARNING]" in warning
    line = node.expect(r"reloaded |refused")
    assert "steps 1 -> 2, overlay_alpha 0.5 -> 0.25 (--set kept over the file: seed)" in line, line
    assert "seed 7" not in line

    # files that must change nothing: unknown key, a list, invalid values, broken YAML, no file
    refusals = [(node_params(checkpoint, steps=3, stepz=3), "unknown parameter 'stepz'"),
                ([1, 2, 3], "holds a list, not a mapping"),
                (node_params(checkpoint, steps=300), r"steps must be a whole number in \[0, 100\], got 300"),
                (node_params(checkpoint, num_samples=1000), r"num_samples must be a whole number in \[1, 64\]"),
                (node_params(checkpoint, input_width=1, input_height=1), f"at least {MIN_INPUT_SIDE}")]
    for document, reason in refusals:
        write_params(params, document)
        node.hangup()
        line = node.expect(r"reloaded |refused")
        assert re.search("refused, parameters unchanged: .*" + reason, line) and "[WARNING]" in line, line
    params.write_text("segment_node: {ros__parameters: {steps: [\n")
    node.hangup()
    assert "is not valid YAML" in node.expect(r"reloaded |refused")
    params.unlink()
    node.hangup()
    assert "not found" in node.expect(r"reloaded |refused")

    # and after all that, the values of the last good reload are still the ones in force
    write_params(params, node_params(checkpoint, steps=2, overlay_alpha=0.25, max_batch=2))
    node.hangup()
    assert "no run-time parameter changed" in node.expect(r"reloaded |refused")
    node.stop()


def test_sighup_without_a_params_file_is_logged_and_ignored(checkpoint):
    node = NodeProcess("--set", f"checkpoint={checkpoint}", "--set", "image_topics=['/cam0/image_raw']",
                       "--domain-id", str(node_domain(1)))
    node.expect(r"segmenting /cam0/image_raw", START_TIMEOUT)
    node.hangup()
    line = node.expect(r"SIGHUP")
    assert "[WARNING]" in line and "ignored: the node was started without --params-file" in line
    node.hangup()
    node.expect(r"SIGHUP.*ignored")
    node.stop()


# ---- values that would make every frame fail -------------------------------------------------

@pytest.mark.parametrize("changes, message", [
    ({"steps": 300}, r"steps must be a whole number in \[0, 100\]"),
    ({"steps": 10, "strength": 0.001}, r"steps / strength must be at most 1000"),
    ({"seed": 99999999999999999999}, r"seed must be a whole number in \[0, 2\*\*63 - 1\]"),
    ({"seed": -1}, "seed must be"),
    ({"num_samples": 1000}, r"num_samples must be a whole number in \[1, 64\]"),
    ({"sampler": "euler"}, "sampler must be one of ddim, dpmsolver"),
    ({"input_width": 1, "input_height": 1}, f"both at least {MIN_INPUT_SIDE}"),
    ({"input_width": 640, "input_height": 0}, "both at least"),
    ({"input_width": -1, "input_height": 0}, r"both be -1 \(auto"), ({"input_width": -2, "input_height": -2}, r"both 0 \(native\)"),
    ({"input_width": 8192, "input_height": 8192, "max_pixels": 1_000_000}, "over max_pixels"),
])
def test_values_that_fail_every_frame_are_refused_at_start_and_at_run_time(changes, message):
    # the node checks against its loaded model's T (here the default model's, 1000) at configure and on a change
    with pytest.raises(ValueError, match=message):
        with_changes(NodeParams(), changes, num_train_timesteps=1000)
    runtime = {k: v for k, v in changes.items() if k in ("steps", "strength", "seed", "num_samples", "sampler")}
    if runtime:
        with pytest.raises(ValueError, match=message):
            with_changes(NodeParams(), runtime, at_runtime=True, num_train_timesteps=1000)


def test_sizes_from_the_model_s_multiple_up_are_accepted():
    assert with_changes(NodeParams(), {"input_width": MIN_INPUT_SIDE, "input_height": 480}).input_width == 32
    assert with_changes(NodeParams(), {"steps": 100, "strength": 1.0, "seed": 2**63 - 1}).steps == 100


def test_a_params_file_that_is_not_a_mapping_is_named(tmp_path):
    path = tmp_path / "list.yaml"
    path.write_text("- 1\n- 2\n")
    with pytest.raises(ValueError, match="holds a list, not a mapping"):
        read_params_file(path)
    with pytest.raises(ValueError, match="--set 'steps=\\[': the value is not valid YAML"):
        load_params(None, ["steps=["])


# ---- one error line, exit 2, no traceback -----------------------------------------------------

def test_domain_ids_are_checked():
    assert domain_id(None, {}) == 0 and domain_id(None, {"ROS_DOMAIN_ID": "232"}) == 232
    assert domain_id(5, {"ROS_DOMAIN_ID": "abc"}) == 5  # --domain-id wins
    with pytest.raises(DdsStartError, match="out of range: ROS 2 DDS domains are 0..232"):
        domain_id(233)
    with pytest.raises(DdsStartError, match="ROS_DOMAIN_ID='abc' is not a number"):
        domain_id(None, {"ROS_DOMAIN_ID": "abc"})


def bad_settings(checkpoint: Path) -> list[tuple[list[str], dict[str, str], str]]:
    good = ["--set", f"checkpoint={checkpoint}"]
    return [
        ([*good, "--set", "steps=["], {}, r"--set 'steps=\[': the value is not valid YAML"),
        ([*good, "--set", "image_topics=['/front camera/image_raw']"], {},
         r"invalid ROS topic name '/front camera/image_raw'"),
        (good, {"ROS_DOMAIN_ID": "abc"}, r"ROS_DOMAIN_ID='abc' is not a number: set it to a whole number in 0..232"),
        ([*good, "--domain-id", "500"], {}, r"--domain-id 500 is out of range: ROS 2 DDS domains are 0..232"),
        (good, {"ROS_DOMAIN_ID": "233"}, r"ROS_DOMAIN_ID=233 is out of range"),
        (good, {"CYCLONEDDS_URI": "<CycloneDDS><Bogus/></CycloneDDS>"},
         r"the configuration is invalid .*'unset CYCLONEDDS_URI'"),
    ]


def test_each_bad_setting_stops_the_node_with_one_error_line(checkpoint):
    cases = bad_settings(checkpoint)
    env = os.environ | {"OMP_NUM_THREADS": "1"}
    env.pop("ROS_DOMAIN_ID", None)
    processes = [subprocess.Popen([sys.executable, "-m", "cicld_ros.node", "--transport", "dds", *args,
                                   *(["--domain-id", str(node_domain(2))] if "--domain-id" not in args
                                     and "ROS_DOMAIN_ID" not in extra else [])],
                                  cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                  env=env | extra) for args, extra, _ in cases]
    for process, (args, extra, message) in zip(processes, cases):
        _, err = process.communicate(timeout=START_TIMEOUT)
        assert process.returncode == 2 and "Traceback" not in err, (args, extra, err)
        assert len([line for line in err.splitlines() if line.startswith("error: ")]) == 1, (args, extra, err)
        assert re.search(message, err), (args, extra, err)


def test_invalid_names_in_parameters_are_refused_before_any_topic_is_made():
    with pytest.raises(ValueError, match=r"invalid ROS topic name '/2cam/compressed'"):
        with_changes(NodeParams(), {"compressed_image_topics": ["/2cam/compressed"]})
    with pytest.raises(ValueError, match="output_namespace '' must be a relative ROS name"):
        with_changes(NodeParams(), {"output_namespace": ""})
    assert with_changes(NodeParams(), {"image_topics": ["front/image_raw", "/car/rear/image"]})


@pytest.mark.skipif(subprocess.run([sys.executable, "-c", "import rclpy"], capture_output=True).returncode == 0,
                    reason="rclpy is installed here")
def test_rclpy_transport_without_ros_says_what_to_do():
    done = subprocess.run([sys.executable, "-m", "cicld_ros.node", "--transport", "rclpy"], cwd=REPO,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr
    assert done.stderr.startswith("error: --transport rclpy needs ROS 2, but rclpy is not importable")
    assert "--transport dds" in done.stderr and "setup.bash" in done.stderr


def test_a_namespace_and_remappings_move_inputs_outputs_and_the_diagnostics_name(checkpoint):
    """Issue 27, defects 2 and 11, through the DDS transport: relative names resolve in the node's
    namespace (-r __ns:=), a remapped camera takes its outputs along, and /diagnostics names the
    node by its full name, as rcl resolves names (cicld_ros.ros_rules.ros_names re-states it)."""
    from cicld_ros.messages.records import DIAGNOSTICS, IMAGE
    from cicld_ros.transports.dds.config import ensure_cyclonedds_uri
    from cicld_ros.transports.dds.transport import DdsTransport
    from waiting import wait_for

    ensure_cyclonedds_uri()
    domain = node_domain(5)
    node = NodeProcess("--params-file", str(REPO / "config/segment.yaml"), "--set", f"checkpoint={checkpoint}",
                       "--domain-id", str(domain), "--ros-args", "-r", "__ns:=/car", "-r",
                       "rear/image_raw:=/cam1/image_raw", "-p", "image_topics:=[camera/image_raw, rear/image_raw]")
    try:
        node.expect(r"segmenting /car/camera/image_raw, /cam1/image_raw on", START_TIMEOUT)
        names: set[str] = set()
        with DdsTransport(domain) as client:
            writers = [client.publisher(t, IMAGE, reliable=False, depth=1)
                       for t in ("/car/camera/image_raw", "/cam1/image_raw")]
            readers = [client.subscribe(t, IMAGE, lambda msg: None, reliable=True, depth=1)
                       for t in ("/car/camera/segmentation/class_mask", "/cam1/segmentation/overlay")]
            client.subscribe("/diagnostics", DIAGNOSTICS, lambda msg: names.update(s.name for s in msg.status),
                             reliable=True, depth=10)
            assert wait_for(lambda: all(w.subscription_count() for w in writers)
                            and all(r.publication_count() for r in readers), 60), "topics did not match"
            assert wait_for(lambda: {"car/segment_node: /car/camera/image_raw",
                                     "car/segment_node: /cam1/image_raw"} <= names, 60), names
    finally:
        node.stop()
