"""The node core without a network: decoding every input encoding and malformed input,
parameters and the parameter file, launch arguments, the latest-frame slots, and a
whole frame through the model with its outputs and headers (an in-memory transport
stands in for DDS here; test_node_dds.py runs the real processes)."""
from __future__ import annotations

import ast
import logging
import threading
from pathlib import Path

import cv2
import numpy as np
import pytest

from cicld_core.labels import PALETTE
from cicld_core.model import images_to_tensor
from cicld_ros.core import SegmentationNode, StartupError, camera_namespace, output_topics
from cicld_ros.image_codec import InputError, decode
from cicld_ros.latest_frames import LatestFrames
from cicld_ros.launch_args import LAUNCH_ARGUMENTS, parameter_overrides
from cicld_ros.messages import CompressedImage, Header, Image, Time
from cicld_ros.params import FIELDS, NodeParams, load_params, read_params_file, with_changes

REPO = Path(__file__).resolve().parents[1]


def rgb_frame(height: int = 24, width: int = 40, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)


def image_msg(rgb: np.ndarray, encoding: str = "rgb8", stamp=(12, 345), frame_id: str = "cam") -> Image:
    converted = {"rgb8": rgb, "bgr8": rgb[..., ::-1], "rgba8": np.dstack([rgb, np.full(rgb.shape[:2], 7, np.uint8)]),
                 "bgra8": np.dstack([rgb[..., ::-1], np.zeros(rgb.shape[:2], np.uint8)]),
                 "mono8": rgb[..., :1]}[encoding]
    converted = np.ascontiguousarray(converted)
    return Image(Header(Time(*stamp), frame_id), rgb.shape[0], rgb.shape[1], encoding, 0,
                 rgb.shape[1] * converted.shape[2], converted.tobytes())


# ---- decoding ----------------------------------------------------------------------------

@pytest.mark.parametrize("encoding", ["rgb8", "bgr8", "rgba8", "bgra8"])
def test_colour_encodings_decode_to_the_same_rgb(encoding):
    rgb = rgb_frame()
    np.testing.assert_array_equal(decode(image_msg(rgb, encoding), 10 ** 6), rgb)


def test_mono_padded_rows_and_16_bit_decode():
    rgb = rgb_frame()
    out = decode(image_msg(rgb, "mono8"), 10 ** 6)
    assert out.shape == rgb.shape and (out[..., 0] == rgb[..., 0]).all() and (out[..., 2] == rgb[..., 0]).all()
    padded = np.zeros((24, 48, 3), np.uint8)
    padded[:, :40] = rgb
    msg = Image(Header(), 24, 40, "rgb8", 0, 48 * 3, padded.tobytes())
    np.testing.assert_array_equal(decode(msg, 10 ** 6), rgb)
    grey16 = (np.arange(24 * 40, dtype=np.uint16).reshape(24, 40) * 60)
    for big_endian in (0, 1):
        data = grey16.astype(">u2" if big_endian else "<u2").tobytes()
        out = decode(Image(Header(), 24, 40, "mono16", big_endian, 80, data), 10 ** 6)
        np.testing.assert_array_equal(out[..., 1], (grey16 >> 8).astype(np.uint8))


def test_compressed_jpeg_and_png_decode():
    rgb = rgb_frame()
    for ext in (".png", ".jpg"):
        ok, data = cv2.imencode(ext, rgb[..., ::-1])
        out = decode(CompressedImage(Header(), ext[1:], data.tobytes()), 10 ** 6)
        assert out.shape == rgb.shape
        if ext == ".png":
            np.testing.assert_array_equal(out, rgb)


@pytest.mark.parametrize("msg,reason", [
    (Image(Header(), 4, 4, "yuv422", 0, 8, bytes(32)), "unsupported_encoding"),
    (Image(Header(), 4, 4, "rgb8", 0, 12, bytes(40)), "short_data"),
    (Image(Header(), 4, 4, "rgb8", 0, 6, bytes(48)), "bad_step"),
    (Image(Header(), 0, 4, "rgb8", 0, 12, b""), "zero_size"),
    (Image(Header(), 3000, 3000, "mono8", 0, 3000, bytes(9)), "too_large"),
    (CompressedImage(Header(), "jpeg", b"\xff\xd8\xff\xe0 not really a jpeg"), "corrupt_compressed"),
    (CompressedImage(Header(), "jpeg", b""), "zero_size"),
])
def test_malformed_inputs_name_their_problem(msg, reason):
    with pytest.raises(InputError) as caught:
        decode(msg, max_pixels=1_000_000)
    assert caught.value.reason == reason and str(caught.value)


# ---- parameters and launch ------------------------------------------------------------------

def test_parameter_file_lists_every_parameter_with_its_default():
    values = read_params_file(REPO / "config/segment.yaml")
    assert set(values) == set(FIELDS)
    loaded = load_params(REPO / "config/segment.yaml")
    assert loaded == NodeParams()
    text = (REPO / "config/segment.yaml").read_text()
    for name, field in FIELDS.items():
        assert field.metadata["description"] in text, name


def test_runtime_changes_are_checked_and_fixed_parameters_refused():
    params = NodeParams()
    assert with_changes(params, {"steps": 4, "overlay_alpha": 0.3}, at_runtime=True).steps == 4
    with pytest.raises(ValueError, match="device cannot change while the node runs"):
        with_changes(params, {"device": "cuda"}, at_runtime=True)
    with pytest.raises(ValueError, match="strength must be in"):
        with_changes(params, {"strength": 2.0}, at_runtime=True)
    with pytest.raises(ValueError, match="unknown parameter 'stepz'"):
        load_params(None, ["stepz=3"])
    with pytest.raises(ValueError, match="steps must be int"):
        load_params(None, ["steps=fast"])


def test_launch_file_declares_the_documented_arguments_and_maps_them():
    tree = ast.parse((REPO / "launch/segment.launch.py").read_text())
    assert {n.name for n in tree.body if isinstance(n, ast.FunctionDef)} >= {"generate_launch_description"}
    assert set(LAUNCH_ARGUMENTS) >= {"params_file", "checkpoint", "image_topic", "steps", "device", "namespace",
                                     "use_sim_time"}
    overrides = parameter_overrides({"checkpoint": "m.safetensors", "image_topic": "/front/image_raw", "steps": "4",
                                     "device": "", "use_sim_time": "true"})
    assert overrides == {"use_sim_time": True, "checkpoint": "m.safetensors", "image_topics": ["/front/image_raw"],
                         "steps": 4}
    assert set(overrides) - {"use_sim_time"} <= set(FIELDS)
    with pytest.raises(ValueError, match="steps"):
        parameter_overrides({"steps": "four"})


def test_output_topics_follow_the_camera_namespace():
    assert camera_namespace("/front/image_raw") == "/front"
    assert camera_namespace("/car/front/image_raw/compressed") == "/car/front"
    assert camera_namespace("/image_raw") == ""
    assert output_topics("/front/image_raw", "segmentation")["overlay"] == "/front/segmentation/overlay"


def test_latest_frames_keep_only_the_newest_and_count_drops():
    frames = LatestFrames(["a", "b"])
    for i in range(5):
        frames.put("a", i)
    frames.put("b", "x")
    taken = frames.take_all(timeout=0.1)
    assert [(t.camera, t.msg) for t in taken] == [("a", 4), ("b", "x")]
    assert frames.dropped == {"a": 4, "b": 0} and frames.received == {"a": 5, "b": 1}
    assert frames.take_all(timeout=0.01) == []
    threading.Timer(0.05, frames.close).start()
    assert frames.take_all(timeout=5) == []


# ---- a frame through the node --------------------------------------------------------------

class MemoryPublisher:
    def __init__(self) -> None:
        self.messages, self.subscribers = [], 1

    def publish(self, msg) -> None:
        self.messages.append(msg)

    def subscription_count(self) -> int:
        return self.subscribers


class MemoryTransport:
    def __init__(self) -> None:
        self.publishers: dict[str, MemoryPublisher] = {}
        self.callbacks: dict[str, object] = {}

    def publisher(self, topic, kind, reliable=True, depth=5):
        return self.publishers.setdefault(topic, MemoryPublisher())

    def subscribe(self, topic, kind, callback, reliable=False, depth=1):
        self.callbacks[topic] = callback


def make_node(checkpoint: Path, **changes) -> tuple[SegmentationNode, MemoryTransport]:
    params = with_changes(NodeParams(), {"checkpoint": str(checkpoint), "image_topics": ["/front/image_raw"],
                                         "compressed_image_topics": ["/rear/image_raw/compressed"]} | changes)
    transport = MemoryTransport()
    return SegmentationNode(params, transport, logging.getLogger("test")), transport


def test_outputs_carry_the_input_header_and_sizes(checkpoint):
    node, transport = make_node(checkpoint, publish_confidence=True)
    rgb = rgb_frame(30, 50)
    ok, jpeg = cv2.imencode(".jpg", rgb[..., ::-1])
    transport.callbacks["/front/image_raw"](image_msg(rgb, "bgr8", stamp=(7, 8), frame_id="front_cam"))
    transport.callbacks["/rear/image_raw/compressed"](
        CompressedImage(Header(Time(9, 10), "rear_cam"), "jpeg", jpeg.tobytes()))
    assert node.process(node.frames.take_all(0.1)) == 2
    mask = transport.publishers["/front/segmentation/class_mask"].messages[0]
    colour = transport.publishers["/front/segmentation/color_mask"].messages[0]
    overlay = transport.publishers["/rear/segmentation/overlay"].messages[0]
    confidence = transport.publishers["/front/segmentation/confidence"].messages[0]
    assert mask.header == Header(Time(7, 8), "front_cam") and overlay.header == Header(Time(9, 10), "rear_cam")
    assert (mask.encoding, mask.height, mask.width, mask.step) == ("mono8", 30, 50, 50)
    assert (colour.encoding, colour.step) == ("rgb8", 150) and confidence.encoding == "mono8"
    ids = np.frombuffer(np.asarray(mask.data).tobytes(), np.uint8).reshape(30, 50)
    np.testing.assert_array_equal(np.asarray(colour.data).reshape(30, 50, 3), PALETTE[ids])
    # the same frame segmented directly gives the same mask
    batch = images_to_tensor(rgb, node.model.config.mean, node.model.config.std)
    direct = node.model.segment(batch, steps=node.params.steps, strength=node.params.strength, seed=0).train_ids[0].numpy()
    np.testing.assert_array_equal(ids, direct)
    assert not transport.publishers["/front/segmentation/uncertainty"].messages  # num_samples is 1


def test_outputs_nobody_listens_to_are_not_computed_and_toggles_apply(checkpoint):
    node, transport = make_node(checkpoint)
    for name in ("class_mask", "color_mask", "overlay"):
        transport.publishers[f"/front/segmentation/{name}"].subscribers = 0
    transport.callbacks["/front/image_raw"](image_msg(rgb_frame()))
    assert node.process(node.frames.take_all(0.1)) == 0
    assert node.diagnostics.cameras["/front/image_raw"].skipped_no_subscribers == 1
    transport.publishers["/front/segmentation/class_mask"].subscribers = 1
    node.set_params({"color_encoding": "bgr8", "publish_class_mask": False, "publish_color_mask": True})
    transport.publishers["/front/segmentation/color_mask"].subscribers = 1
    transport.callbacks["/front/image_raw"](image_msg(rgb_frame()))
    node.process(node.frames.take_all(0.1))
    assert not transport.publishers["/front/segmentation/class_mask"].messages
    assert transport.publishers["/front/segmentation/color_mask"].messages[0].encoding == "bgr8"


def test_a_run_time_change_of_k_takes_effect_on_the_next_frame(checkpoint):
    node, transport = make_node(checkpoint)
    rgb = rgb_frame(30, 50)
    batch = images_to_tensor(rgb, node.model.config.mean, node.model.config.std)
    for steps, strength in ((0, 0.5), (3, 1.0)):
        node.set_params({"steps": steps, "strength": strength})
        transport.callbacks["/front/image_raw"](image_msg(rgb))
        node.process(node.frames.take_all(0.1))
        mask = transport.publishers["/front/segmentation/class_mask"].messages[-1]
        expected = node.model.segment(batch, steps=steps, strength=strength, seed=0).train_ids[0].numpy()
        np.testing.assert_array_equal(np.frombuffer(bytes(mask.data), np.uint8).reshape(30, 50), expected)
        assert node.engine(node.params, with_confidence=False).options.steps == steps
    assert len(node._engines) <= 2
    with pytest.raises(ValueError, match="compile cannot change while the node runs"):
        node.set_params({"compile": "default"})
    with pytest.raises(ValueError, match="compile must be one of"):
        with_changes(NodeParams(), {"compile": "fast"})


def test_malformed_frames_are_counted_and_warned_once_per_period(checkpoint, caplog):
    node, transport = make_node(checkpoint)
    with caplog.at_level(logging.WARNING, logger="test"):
        for _ in range(3):
            transport.callbacks["/front/image_raw"](Image(Header(), 4, 4, "rgb8", 0, 12, bytes(5)))
            node.process(node.frames.take_all(0.1))
    stats = node.diagnostics.cameras["/front/image_raw"]
    assert stats.bad_inputs == {"short_data": 3}
    assert len([r for r in caplog.records if "short" in r.getMessage() or "less than" in r.getMessage()]) == 1
    figures = node.diagnostics.snapshot(node.frames.received, node.frames.dropped)
    message = node.diagnostics.to_message(figures, "segment_node", 1.0)
    values = {kv.key: kv.value for kv in message.status[0].values}
    assert values["bad_input.short_data"] == "3" and message.status[0].level == 1


def test_missing_or_foreign_checkpoint_stops_start_up(tmp_path):
    with pytest.raises(StartupError, match="does not exist"):
        make_node(tmp_path / "missing.safetensors")
    (tmp_path / "x.safetensors").write_bytes(b"junk")
    with pytest.raises(StartupError, match="not a safetensors"):
        make_node(tmp_path / "x.safetensors")
    with pytest.raises(StartupError, match="no checkpoint"):
        SegmentationNode(NodeParams(), MemoryTransport())


def test_rclpy_adapter_imports_without_ros_and_node_help_explains():
    import subprocess
    import sys

    import cicld_ros.rclpy_node as rclpy_node  # rclpy is imported only inside main()

    assert callable(rclpy_node.main)
    done = subprocess.run([sys.executable, "-m", "cicld_ros.node", "--help"], cwd=REPO, capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0 and "--transport" in done.stdout and "--params-file" in done.stdout
    done = subprocess.run([sys.executable, "-m", "cicld_ros.node", "--transport", "rclpy", "--set", "steps=3"],
                          cwd=REPO, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and "--ros-args -p steps:=4" in done.stderr
