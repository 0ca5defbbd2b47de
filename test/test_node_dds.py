"""The node in its own process on Cyclone DDS, fed by camera processes, watched by this
process as a ROS 2 subscriber would: outputs, headers, several cameras and a
CompressedImage, malformed frames, a flood, diagnostics, and processes ending by themselves."""
from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import yaml
from rosbags.typesys import Stores, get_typestore

from cicld_ros.dds.config import ensure_cyclonedds_uri
from cicld_ros.dds.transport import DdsTransport
from cicld_ros.messages import DIAGNOSTICS, IMAGE

REPO = Path(__file__).resolve().parents[1]
OUTPUTS = ("class_mask", "color_mask", "overlay")


def domain_id(offset: int) -> int:
    return 1 + (os.getpid() * 7 + offset) % 200


def params_file(tmp_path: Path, checkpoint: Path, **values) -> Path:
    params = {"checkpoint": str(checkpoint), "image_topics": ["/cam0/image_raw", "/cam1/image_raw"],
              "compressed_image_topics": ["/cam2/image_raw/compressed"], "steps": 1, "diagnostics_period": 0.5,
              "warn_period": 60.0} | values
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump({"segment_node": {"ros__parameters": params}}))
    return path


def start_node(params: Path, domain: int, duration: float) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "cicld_ros.node", "--transport", "dds", "--params-file", str(params),
                             "--domain-id", str(domain), "--duration", str(duration)], cwd=REPO,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env=os.environ | {"OMP_NUM_THREADS": "1"})


def camera(domain: int, topic: str, *args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, str(REPO / "test/helpers/dds_camera.py"), "--domain", str(domain),
                             "--topic", topic, *args], cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True)


class Recorder:
    """Collects everything published on the given topics (reliable, keep all)."""

    def __init__(self, transport: DdsTransport, topics: dict[str, str]) -> None:
        self.messages: dict[str, list] = {topic: [] for topic in topics}
        self.lock = threading.Lock()
        for topic, kind in topics.items():
            transport.subscribe(topic, kind, lambda msg, t=topic: self.add(t, msg), reliable=True, depth=100,
                                keep_all=True)

    def add(self, topic: str, msg) -> None:
        with self.lock:
            self.messages[topic].append(msg)

    def count(self, topic: str) -> int:
        with self.lock:
            return len(self.messages[topic])


def wait_for(condition, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.1)
    return condition()


def finish(*processes: subprocess.Popen, timeout: float = 60) -> list[str]:
    outputs = []
    for process in processes:
        try:
            out, _ = process.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            out, _ = process.communicate()
            raise AssertionError(f"process did not end by itself: {process.args}\n{out[-2000:]}")
        outputs.append(out)
        assert process.returncode == 0, out[-3000:]
    return outputs


def test_node_segments_several_cameras_and_keeps_headers(checkpoint, tmp_path):
    ensure_cyclonedds_uri()
    domain = domain_id(0)
    topics = {f"/cam{i}/segmentation/{name}": IMAGE for i in range(3) for name in OUTPUTS}
    topics["/diagnostics"] = DIAGNOSTICS
    with DdsTransport(domain) as transport:
        recorder = Recorder(transport, topics)
        raw_masks = []
        transport.subscribe("/cam0/segmentation/class_mask", IMAGE, raw_masks.append, reliable=True, depth=100,
                            keep_all=True, raw=True)
        node = start_node(params_file(tmp_path, checkpoint), domain, duration=40)
        cameras = [camera(domain, "/cam0/image_raw", "--count", "6", "--rate", "2", "--encoding", "rgb8",
                          "--frame-id", "cam0", "--size", "64x32", "--stamp-sec", "1000", "--malformed-every", "3"),
                   camera(domain, "/cam1/image_raw", "--count", "4", "--rate", "2", "--encoding", "bgr8",
                          "--frame-id", "cam1", "--size", "48x40", "--stamp-sec", "2000"),
                   camera(domain, "/cam2/image_raw/compressed", "--count", "4", "--rate", "2", "--encoding", "jpeg",
                          "--frame-id", "cam2", "--size", "80x48", "--stamp-sec", "3000")]
        finish(*cameras)
        assert wait_for(lambda: all(recorder.count(f"/cam{i}/segmentation/overlay") >= 2 for i in range(3)), 30)
        node.terminate()
        log = finish(node)[0]
        sizes = {0: (32, 64), 1: (40, 48), 2: (48, 80)}
        for i, (height, width) in sizes.items():
            masks = recorder.messages[f"/cam{i}/segmentation/class_mask"]
            colours = recorder.messages[f"/cam{i}/segmentation/color_mask"]
            assert masks and colours
            for msg in masks:
                assert (msg.encoding, msg.height, msg.width, msg.step) == ("mono8", height, width, width)
                assert msg.header.frame_id == f"cam{i}" and msg.header.stamp.nanosec == 0
                assert 1000 * (i + 1) <= msg.header.stamp.sec < 1000 * (i + 1) + 6
                assert np.frombuffer(bytes(msg.data), np.uint8).max() < 19
            assert {m.header.stamp.sec for m in colours} == {m.header.stamp.sec for m in masks}
            assert all(m.encoding == "rgb8" and m.step == 3 * width for m in colours)
        # what the node writes is exactly the CDR rosbags (and so ROS 2) produces for that message
        store = get_typestore(Stores.ROS2_HUMBLE)
        assert raw_masks
        for data in raw_masks:
            reference = bytes(store.serialize_cdr(store.deserialize_cdr(bytes(data), "sensor_msgs/msg/Image"),
                                                  "sensor_msgs/msg/Image"))
            assert bytes(data)[:len(reference)] == reference and not any(bytes(data)[len(reference):])
        # frames 2 and 5 of cam0 were malformed: never segmented, counted in the diagnostics
        assert not {1002, 1005} & {m.header.stamp.sec for m in recorder.messages["/cam0/segmentation/class_mask"]}
        diagnostics = recorder.messages["/diagnostics"]
        assert diagnostics, log
        last = {s.name: {kv.key: kv.value for kv in s.values} for s in diagnostics[-1].status}
        cam0 = last["segment_node: /cam0/image_raw"]
        assert int(cam0["bad_input.short_data"]) == 2 and int(cam0["frames_in"]) == 6


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def test_a_flood_keeps_memory_flat_and_only_newest_frames_processed(checkpoint, tmp_path):
    ensure_cyclonedds_uri()
    domain = domain_id(1)
    with DdsTransport(domain) as transport:
        recorder = Recorder(transport, {"/cam0/segmentation/class_mask": IMAGE, "/diagnostics": DIAGNOSTICS})
        # a model several times slower than the camera: 320x160 frames at 100 Hz, K = 4
        node = start_node(params_file(tmp_path, checkpoint, image_topics=["/cam0/image_raw"],
                                      compressed_image_topics=[""], steps=4), domain, duration=60)
        warm = camera(domain, "/cam0/image_raw", "--count", "5", "--rate", "5", "--size", "320x160",
                      "--stamp-sec", "100")
        finish(warm)
        assert wait_for(lambda: recorder.count("/cam0/segmentation/class_mask") >= 1, 30)
        memory_before = rss_kib(node.pid)
        flood = camera(domain, "/cam0/image_raw", "--count", "600", "--rate", "100", "--size", "320x160",
                       "--stamp-sec", "5000")
        finish(flood)
        assert wait_for(lambda: any(m.header.stamp.sec == 5599 for m in recorder.messages[
            "/cam0/segmentation/class_mask"]), 30), "the newest frame must be processed"
        memory_after = rss_kib(node.pid)
        time.sleep(1.2)  # one more diagnostics period
        node.terminate()
        finish(node)
    flood_outputs = [m.header.stamp.sec for m in recorder.messages["/cam0/segmentation/class_mask"]
                     if m.header.stamp.sec >= 5000]
    assert flood_outputs == sorted(flood_outputs)
    assert len(flood_outputs) < 300, "a slow model must skip frames, not queue them"
    # frames lost before the node (best-effort, keep last 1) or replaced in its slot are never queued
    last = {kv.key: kv.value for kv in recorder.messages["/diagnostics"][-1].status[0].values}
    assert int(last["frames_out"]) <= int(last["frames_in"]) - int(last["frames_dropped"])
    assert memory_after - memory_before < 100 * 1024, f"RSS grew by {(memory_after - memory_before) / 1024:.0f} MiB"


def test_missing_checkpoint_stops_the_node_with_a_message(tmp_path):
    node = start_node(params_file(tmp_path, tmp_path / "nope.safetensors"), domain_id(2), duration=5)
    out, _ = node.communicate(timeout=60)
    assert node.returncode == 2 and "does not exist" in out and "Traceback" not in out
