"""The node in its own process on Cyclone DDS, fed by camera processes, watched by this
process as a ROS 2 subscriber would: outputs, headers, several cameras and a
CompressedImage, full-size camera frames, malformed frames, a flood, diagnostics, and
processes ending by themselves.

Nothing here waits a fixed time or counts on the machine's speed: the test's readers wait
until they matched the node's writers, and each camera sends a warm-up frame until the
node answers it (so both sides matched) before the frames that are checked."""
from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import yaml
from rosbags.typesys import Stores, get_typestore

import pytest

from cicld_ros.messages.records import DIAGNOSTICS, IMAGE
from cicld_ros.transports.dds.config import WANTED_RECEIVE_BUFFER, ensure_cyclonedds_uri
from cicld_ros.transports.dds.transport import DdsTransport
from waiting import wait_for

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
        self.subscriptions = [transport.subscribe(topic, kind, lambda msg, t=topic: self.add(t, msg), reliable=True,
                                                  depth=100, keep_all=True) for topic, kind in topics.items()]

    def wait_matched(self, node: subprocess.Popen, timeout: float = 60) -> None:
        """Until every reader matched the node's writer (the node has loaded its model by then)."""
        matched = wait_for(lambda: node.poll() is not None or all(s.publication_count() for s in self.subscriptions),
                           timeout)
        assert matched and node.poll() is None, finish(node)[0][-3000:] if node.poll() is not None else "no match"

    def add(self, topic: str, msg) -> None:
        with self.lock:
            self.messages[topic].append(msg)

    def count(self, topic: str) -> int:
        with self.lock:
            return len(self.messages[topic])

    def stamps(self, topic: str) -> list[int]:
        with self.lock:
            return [m.header.stamp.sec for m in self.messages[topic]]

    def last_diagnostics(self) -> dict[str, dict[str, str]]:
        with self.lock:
            last = self.messages["/diagnostics"][-1] if self.messages["/diagnostics"] else None
        return {s.name: {kv.key: kv.value for kv in s.values} for s in last.status} if last else {}


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


def finish_cameras(node: subprocess.Popen, *cameras: subprocess.Popen, timeout: float = 180) -> list[str]:
    """finish() for camera processes; when one fails, the node's log is in the message too."""
    try:
        return finish(*cameras, timeout=timeout)
    except AssertionError as error:
        node.terminate()
        try:
            log = node.communicate(timeout=30)[0]
        except subprocess.TimeoutExpired:
            node.kill()
            log = node.communicate()[0]
        raise AssertionError(f"{error}\n--- the node's log:\n{log[-4000:]}") from None


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
        node = start_node(params_file(tmp_path, checkpoint), domain, duration=120)
        recorder.wait_matched(node)
        cameras = [camera(domain, "/cam0/image_raw", "--count", "7", "--rate", "2", "--encoding", "rgb8",
                          "--frame-id", "cam0", "--size", "64x32", "--stamp-sec", "1000", "--malformed-every", "3",
                          "--answer-topic", "/cam0/segmentation/class_mask", "--last-answered"),
                   camera(domain, "/cam1/image_raw", "--count", "4", "--rate", "2", "--encoding", "bgr8",
                          "--frame-id", "cam1", "--size", "48x40", "--stamp-sec", "2000",
                          "--answer-topic", "/cam1/segmentation/class_mask", "--last-answered"),
                   camera(domain, "/cam2/image_raw/compressed", "--count", "4", "--rate", "2", "--encoding", "jpeg",
                          "--frame-id", "cam2", "--size", "80x48", "--stamp-sec", "3000",
                          "--answer-topic", "/cam2/segmentation/class_mask", "--last-answered")]
        finish_cameras(node, *cameras)
        assert wait_for(lambda: all(recorder.count(f"/cam{i}/segmentation/overlay") >= 2 for i in range(3)), 30)
        # the diagnostics once every frame cam0 sent is settled (its last frame was answered)
        assert wait_for(lambda: recorder.last_diagnostics().get("segment_node: /cam0/image_raw", {}).get(
            "frames_pending") == "0" and int(recorder.last_diagnostics()["segment_node: /cam0/image_raw"][
                "bad_input.short_data"]) == 2, 30), recorder.last_diagnostics()
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
                assert 1000 * (i + 1) - 1 <= msg.header.stamp.sec < 1000 * (i + 1) + 7  # - 1: the warm-up
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
        # frames_in also holds the warm-up frames, sent until one was answered
        last = recorder.last_diagnostics()
        cam0 = last.get("segment_node: /cam0/image_raw")
        assert cam0, last
        assert int(cam0["bad_input.short_data"]) == 2 and int(cam0["frames_in"]) >= 7, log


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def settled(figures: dict[str, str]) -> bool:
    """Every frame the camera's subscription took has ended in exactly one count."""
    ends = ("frames_out", "frames_dropped", "skipped_no_subscribers", "bad_inputs", "errors")
    return bool(figures) and int(figures["frames_pending"]) == 0 and int(figures["frames_in"]) == sum(
        int(figures[key]) for key in ends)


def test_a_flood_keeps_memory_flat_and_only_newest_frames_processed(checkpoint, tmp_path):
    ensure_cyclonedds_uri()
    domain = domain_id(1)
    mask_topic = "/cam0/segmentation/class_mask"
    with DdsTransport(domain) as transport:
        recorder = Recorder(transport, {mask_topic: IMAGE, "/diagnostics": DIAGNOSTICS})
        # 320x160 frames at 100 Hz and K = 4: on most machines the model is slower than the camera
        node = start_node(params_file(tmp_path, checkpoint, image_topics=["/cam0/image_raw"],
                                      compressed_image_topics=[""], steps=4), domain, duration=300)
        recorder.wait_matched(node)
        finish_cameras(node, camera(domain, "/cam0/image_raw", "--count", "0", "--size", "320x160", "--stamp-sec",
                                    "100", "--answer-topic", mask_topic))
        assert wait_for(lambda: recorder.count(mask_topic) >= 1, 30)
        memory_before = rss_kib(node.pid)
        # the camera resends its last frame until answered: the newest frame is always processed,
        # even when the loaded machine's socket dropped the first copy
        finish_cameras(node, camera(domain, "/cam0/image_raw", "--count", "600", "--rate", "100", "--size", "320x160",
                                    "--stamp-sec", "5000", "--answer-topic", mask_topic, "--last-answered",
                                    "--resend", "5"))
        assert wait_for(lambda: 5599 in recorder.stamps(mask_topic), 30), "the newest frame must be processed"
        memory_after = rss_kib(node.pid)
        camera_name = "segment_node: /cam0/image_raw"
        assert wait_for(lambda: settled(recorder.last_diagnostics().get(camera_name, {})), 30), \
            recorder.last_diagnostics()
        node.terminate()
        finish(node)
    figures = recorder.last_diagnostics()[camera_name]
    outputs = recorder.stamps(mask_topic)
    flood_outputs = [stamp for stamp in outputs if stamp >= 5000]
    assert flood_outputs == sorted(flood_outputs), "frames are processed in order, newest last"
    assert flood_outputs[-1] == 5599
    # every frame taken is counted once: processed, replaced in the slot while the model was
    # busy, or skipped; none queues, so outputs never exceed the frames taken from the slot
    frames_in, frames_out, dropped = (int(figures[key]) for key in ("frames_in", "frames_out", "frames_dropped"))
    assert frames_out == len(outputs) and frames_out <= frames_in - dropped
    assert int(figures["bad_inputs"]) == int(figures["errors"]) == 0
    assert memory_after - memory_before < 100 * 1024, f"RSS grew by {(memory_after - memory_before) / 1024:.0f} MiB"


FULL_SIZE = [("/cam0/image_raw", "rgb8", 1920, 1080), ("/cam1/image_raw", "rgb8", 2048, 1024),
             ("/cam2/image_raw/compressed", "jpeg", 1920, 1080), ("/cam3/image_raw/compressed", "jpeg", 2048, 1024)]


def test_full_size_camera_frames_are_each_answered(checkpoint, tmp_path):
    """1920x1080 and Cityscapes' 2048x1024, as Image and CompressedImage: every frame arrives
    (best effort) and is answered with a mask of its size and its header."""
    ensure_cyclonedds_uri()
    domain = domain_id(3)
    masks = {topic: f"/cam{i}/segmentation/class_mask" for i, (topic, *_) in enumerate(FULL_SIZE)}
    with DdsTransport(domain) as transport:
        if transport.receive_buffer_bytes is not None and transport.receive_buffer_bytes < WANTED_RECEIVE_BUFFER:
            pytest.skip("this kernel caps socket receive buffers below a full-size frame (net.core.rmem_max < 4 MiB): "
                        "sudo sysctl -w net.core.rmem_max=67108864")
        recorder = Recorder(transport, {topic: IMAGE for topic in masks.values()})
        node = start_node(params_file(
            tmp_path, checkpoint, image_topics=[t for t, e, *_ in FULL_SIZE if e != "jpeg"],
            compressed_image_topics=[t for t, e, *_ in FULL_SIZE if e == "jpeg"], publish_color_mask=False,
            publish_overlay=False, input_width=256, input_height=128), domain, duration=300)
        recorder.wait_matched(node)
        # one camera at a time, each frame once the previous one was answered: a frame is lost
        # only if the node's socket cannot hold it, never because two arrived together
        for index, (topic, encoding, width, height) in enumerate(FULL_SIZE):
            out = finish_cameras(node, camera(
                domain, topic, "--count", "3", "--size", f"{width}x{height}", "--encoding", encoding, "--frame-id",
                f"cam{index}", "--stamp-sec", str(1000 * (index + 1)), "--answer-topic", masks[topic],
                "--each-answered"))[0]
            assert "all 3 frames answered" in out, out
        node.terminate()
        finish(node)
    for index, (topic, encoding, width, height) in enumerate(FULL_SIZE):
        first = 1000 * (index + 1)
        answers = [m for m in recorder.messages[masks[topic]] if m.header.stamp.sec >= first]
        assert sorted({m.header.stamp.sec for m in answers}) == [first, first + 1, first + 2], (topic, encoding)
        for msg in answers:
            assert (msg.width, msg.height, msg.step, msg.encoding) == (width, height, width, "mono8")
            assert msg.header.frame_id == f"cam{index}" and len(bytes(msg.data)) == width * height


def test_missing_checkpoint_stops_the_node_with_a_message(tmp_path):
    node = start_node(params_file(tmp_path, tmp_path / "nope.safetensors"), domain_id(2), duration=5)
    out, _ = node.communicate(timeout=60)
    assert node.returncode == 2 and "does not exist" in out and "Traceback" not in out


def test_the_demo_says_so_when_no_mask_came_back():
    from cicld_ros.demo import summary
    from cicld_ros.replay.replay_eval import Scores

    nothing = Scores(19).figures() | {"frames_sent": 3, "frames_dropped": 3, "throughput_fps": 0.0}
    lines, status = summary(nothing, 1, (2048, 1024))
    assert status == 1 and len(lines) == 1 and "none of the 3 frames sent (2048x1024)" in lines[0]
    scores = Scores(19)
    scores.add(np.zeros((8, 16, 3), np.uint8), np.zeros((8, 16), np.uint8), None, 12.0, "1.0")
    lines, status = summary(scores.figures() | {"frames_sent": 3, "frames_dropped": 2, "throughput_fps": 1.0},
                            1, (2048, 1024))
    assert status == 0 and lines[0].startswith("no ground truth") and "2 of 3 frames dropped" in lines[1]


def lidar(domain: int, *args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, str(REPO / "test/helpers/dds_lidar.py"), "--domain", str(domain), *args],
                            cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def test_full_size_lidar_clouds_come_back_painted_with_the_mask_of_their_moment(checkpoint, tmp_path):
    """A 2048x1024 camera, a generated 64-beam LiDAR with its CameraInfo and this process's
    subscriber, each in its own process around the node: every cloud comes back with its
    header, each point labelled from the class mask of the same stamp; a CameraInfo with zero
    focal length, a cloud without x/y/z and one no mask matches are counted, and the node
    goes on painting."""
    from cicld_core.painting import PinholeCamera, paint_points
    from cicld_ros.messages.pointcloud import read_cloud
    from cicld_ros.messages.records import POINTCLOUD2

    ensure_cyclonedds_uri()
    domain = domain_id(4)
    mask_topic, painted_topic = "/cam0/segmentation/class_mask", "/cam0/segmentation/painted_points"
    with DdsTransport(domain) as transport:
        if transport.receive_buffer_bytes is not None and transport.receive_buffer_bytes < WANTED_RECEIVE_BUFFER:
            pytest.skip("this kernel caps socket receive buffers below a full-size frame (net.core.rmem_max < 4 MiB)")
        recorder = Recorder(transport, {mask_topic: IMAGE, painted_topic: POINTCLOUD2, "/diagnostics": DIAGNOSTICS})
        params = params_file(tmp_path, checkpoint, image_topics=["/cam0/image_raw"], compressed_image_topics=[""],
                             publish_color_mask=False, publish_overlay=False, input_width=256, input_height=128)
        painting = {"cameras": ["cam0"], "stamp_tolerance": 0.01, "max_wait": 120.0, "confidence": "uint8",
                    "cam0": {"image_topic": "/cam0/image_raw", "lidar_topic": "/cam0/points",
                             "camera_info_topic": "/cam0/camera_info",
                             "lidar_to_camera": {"translation": [0.0, 0.0, 0.0],
                                                 "rotation_xyzw": [0.5, -0.5, 0.5, 0.5]}}}
        painting_file = tmp_path / "painting.yaml"
        painting_file.write_text(yaml.safe_dump({"segment_node": {"ros__parameters": {"painting": painting}}}))
        node = subprocess.Popen([sys.executable, "-m", "cicld_ros.node", "--params-file", str(params), "--params-file",
                                 str(painting_file), "--domain-id", str(domain), "--duration", "400"], cwd=REPO,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                env=os.environ | {"OMP_NUM_THREADS": "1"})
        recorder.wait_matched(node)
        processes = [camera(domain, "/cam0/image_raw", "--count", "2", "--size", "2048x1024", "--frame-id", "cam0",
                            "--stamp-sec", "1000", "--answer-topic", mask_topic, "--each-answered",
                            "--answer-timeout", "180"),
                     lidar(domain, "--topic", "/cam0/points", "--info-topic", "/cam0/camera_info", "--answer-topic",
                           painted_topic, "--size", "2048x1024", "--beams", "64", "--stamps", "1000,1001",
                           "--nan-points", "100", "--bad-inputs", "999.5", "--answer-timeout", "300")]
        outputs = finish_cameras(node, *processes, timeout=400)
        assert "all 2 clouds answered" in outputs[1], outputs[1]
        assert wait_for(lambda: (lambda d: d.get("bad_input.no_matching_mask") == "1" and d.get("frames_pending") == "0")(
            recorder.last_diagnostics().get("segment_node: /cam0/points", {})), 60), recorder.last_diagnostics()
        figures = recorder.last_diagnostics()
        node.terminate()
        finish(node)
    cloud = figures["segment_node: /cam0/points"]
    assert cloud["bad_input.no_xyz"] == "1" and int(cloud["note.nan_points"]) >= 300 and int(cloud["frames_out"]) >= 3
    assert figures["segment_node: /cam0/camera_info"]["bad_input.unusable_camera_info"] == "1"
    helper = importlib.util.spec_from_file_location("dds_lidar", REPO / "test/helpers/dds_lidar.py")
    module = importlib.util.module_from_spec(helper)
    helper.loader.exec_module(module)
    points, intensity, info, extrinsic = module.scan(2048, 1024, 64, nan_points=100)
    camera_model = PinholeCamera.from_camera_info(info)
    masks = {m.header.stamp.sec: np.frombuffer(bytes(m.data), np.uint8).reshape(1024, 2048)
             for m in recorder.messages[mask_topic]}
    painted = recorder.messages[painted_topic]
    assert {m.header.stamp.sec for m in painted} == {1000, 1001}
    for msg in painted:
        assert msg.header.frame_id == "lidar" and msg.header.stamp.nanosec == 0 and msg.width == len(points)
        values = read_cloud(msg).points
        expected = paint_points(points, masks[msg.header.stamp.sec], camera_model, extrinsic)
        np.testing.assert_array_equal(values["label"], expected.labels)
        np.testing.assert_array_equal(values["intensity"], intensity)
        assert (values["label"][:100] == 255).all() and expected.visible.sum() > 10000
        assert values["confidence"].dtype == np.uint8
