"""The node core without a network: decoding every input encoding and malformed input,
parameters and the parameter file, launch arguments, the latest-frame slots, and a
whole frame through the model with its outputs and headers (an in-memory transport
stands in for DDS here; test_node_dds.py runs the real processes)."""
from __future__ import annotations

import ast
import logging
import struct
import threading
import zlib
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
import yaml

from cicld_core.labels import PALETTE
from cicld_core.labels import overlay as overlay_rgb
from cicld_core.model import images_to_tensor, segment
from cicld_core.model.inference import check_images
from cicld_ros.messages.image_codec import MIN_SIDE, InputError, check, decode
from cicld_ros.messages.records import CompressedImage, DiagnosticStatus, Header, Image, Time
from cicld_ros.segmentation.core import SegmentationNode, StartupError, camera_namespace, output_topics
from cicld_ros.segmentation.diagnostics import RECENT_REPORTS
from cicld_ros.segmentation.latest_frames import LatestFrames
from cicld_ros.segmentation.params import (FIELDS, NodeParams, configured_change_problem, fixed_while_configured,
                                           load_params, read_params_file, with_changes)
from cicld_ros.transports.rclpy.launch_args import LAUNCH_ARGUMENTS, parameter_overrides
from waiting import wait_for

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


def encoded(rgb: np.ndarray, ext: str) -> bytes:
    ok, data = cv2.imencode(ext, rgb[..., ::-1])
    return data.tobytes()


def png_claiming(width: int, height: int) -> bytes:
    """A small real PNG whose IHDR (checksum fixed) claims another size, as a decompression bomb's does."""
    data = bytearray(encoded(rgb_frame(), ".png"))
    data[16:24] = struct.pack(">II", width, height)
    data[29:33] = struct.pack(">I", zlib.crc32(bytes(data[12:29])))
    return bytes(data)


@pytest.mark.parametrize("msg,reason", [
    (Image(Header(), 8, 8, "yuv444", 0, 24, bytes(192)), "unsupported_encoding"),
    (Image(Header(), 8, 8, "rgb8", 0, 24, bytes(190)), "short_data"),
    (Image(Header(), 8, 8, "rgb8", 0, 12, bytes(192)), "bad_step"),
    (Image(Header(), 0, 8, "rgb8", 0, 24, b""), "zero_size"),
    (Image(Header(), 1, 1, "rgb8", 0, 3, bytes(3)), "too_small"),
    (Image(Header(), 8, 7, "mono8", 0, 7, bytes(56)), "too_small"),
    (Image(Header(), 3000, 3000, "mono8", 0, 3000, bytes(9)), "too_large"),
    (CompressedImage(Header(), "jpeg", b"\xff\xd8\xff\xe0 not really a jpeg"), "corrupt_compressed"),
    (CompressedImage(Header(), "jpeg", b""), "zero_size"),
    (CompressedImage(Header(), "webp?", b"RIFF1234WEBPVP8 "), "unsupported_format"),
    (CompressedImage(Header(), "png", png_claiming(24000, 24000)), "too_large"),
    (CompressedImage(Header(), "png", encoded(rgb_frame(1, 1), ".png")), "too_small"),
    (CompressedImage(Header(), "jpeg", encoded(rgb_frame(2000, 600), ".jpg")), "too_large"),
    (CompressedImage(Header(), "png", encoded(rgb_frame(), ".png")[:-30]), "corrupt_compressed"),
])
def test_malformed_inputs_name_their_problem_from_the_header(msg, reason):
    """``check`` (on arrival, no pixels touched) and ``decode`` refuse each for the same reason."""
    for refuse in (check, decode):
        with pytest.raises(InputError) as caught:
            refuse(msg, max_pixels=1_000_000)
        assert caught.value.reason == reason and str(caught.value)


def test_the_smallest_frame_accepted_is_the_models_smallest_input(checkpoint):
    check_images(torch.zeros(1, 3, MIN_SIDE, MIN_SIDE))
    with pytest.raises(ValueError, match="at least"):
        check_images(torch.zeros(1, 3, MIN_SIDE - 1, MIN_SIDE))
    node, transport = make_node(checkpoint)
    transport.callbacks["/front/image_raw"](image_msg(rgb_frame(MIN_SIDE, MIN_SIDE)))
    transport.callbacks["/front/image_raw"](image_msg(rgb_frame(1, 1)))
    assert node.process(node.frames.take_all(0.1)) == 1
    figures = node.figures()["/front/image_raw"]
    assert figures["bad_input.too_small"] == 1 and figures["errors"] == 0 and figures["frames_out"] == 1


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
    with pytest.raises(ValueError, match="steps is an INTEGER parameter, got STRING 'fast'"):
        load_params(None, ["steps=fast"])


def test_one_file_configures_the_node_and_its_painting(tmp_path):
    from cicld_ros.segmentation.painting_params import read_node_files

    combined = tmp_path / "both.yaml"
    combined.write_text(yaml.safe_dump({"segment_node": {"ros__parameters": (
        read_params_file(REPO / "config/segment.yaml") | read_params_file(REPO / "config/painting.yaml")
        | {"steps": 3})}}))
    assert load_params(combined, ["seed=5"]) == with_changes(NodeParams(), {"steps": 3, "seed": 5})
    values, painting = read_node_files([combined])
    assert values["steps"] == 3 and [c.name for c in painting.cameras] == ["camera"]


def test_fixed_parameters_change_only_while_unconfigured():
    """Under rclpy every parameter is writable; once configured, only the run-time ones may change
    (the set-parameters callback returns configured_change_problem as its reason)."""
    assert fixed_while_configured(["steps", "overlay_alpha", "use_sim_time"]) == []
    assert configured_change_problem(["steps", "publish_overlay"]) is None
    assert fixed_while_configured(["steps", "checkpoint", "painting.cameras", "device"]) == [
        "checkpoint", "device", "painting.cameras"]
    problem = configured_change_problem(["checkpoint"])
    assert problem.startswith("checkpoint can change only while the node is unconfigured") and "clean up" in problem


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


def test_latest_frames_keep_only_the_newest_and_hand_back_what_they_replace():
    frames = LatestFrames(["a", "b"])
    replaced = [frames.put("a", i) for i in range(5)]
    assert replaced[0] is None and [r.msg for r in replaced[1:]] == [0, 1, 2, 3]
    assert frames.put("b", "x") is None
    assert frames.take("b", timeout=0.1).msg == "x" and frames.take("b", timeout=0.01) is None
    frames.put("b", "y")
    taken = frames.take_all(timeout=0.1)
    assert [(t.camera, t.msg) for t in taken] == [("a", 4), ("b", "y")]
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


class MemorySubscription:
    """Counts as DdsTransport's subscriptions keep them, for samples that never reach the callback."""

    def __init__(self) -> None:
        self.received = self.malformed = self.lost = self.rejected = 0


class MemoryTransport:
    def __init__(self) -> None:
        self.publishers: dict[str, MemoryPublisher] = {}
        self.callbacks: dict[str, object] = {}
        self.subscriptions: dict[str, MemorySubscription] = {}
        self.qos: dict[str, tuple[bool, int, bool]] = {}  # topic -> (reliable, depth, transient_local)

    def publisher(self, topic, kind, reliable=True, depth=5, transient_local=False):
        self.qos[topic] = (reliable, depth, transient_local)
        return self.publishers.setdefault(topic, MemoryPublisher())

    def subscribe(self, topic, kind, callback, reliable=False, depth=1, transient_local=False):
        self.callbacks[topic] = callback
        self.qos[topic] = (reliable, depth, transient_local)
        return self.subscriptions.setdefault(topic, MemorySubscription())


def make_node(checkpoint: Path, **changes) -> tuple[SegmentationNode, MemoryTransport]:
    params = with_changes(NodeParams(), {"checkpoint": str(checkpoint), "image_topics": ["/front/image_raw"],
                                         "compressed_image_topics": ["/rear/image_raw/compressed"]} | changes)
    transport = MemoryTransport()
    node = SegmentationNode(params, transport, logging.getLogger("test"))
    node.active = True  # accepts frames as start() makes it, with the test's thread doing the work
    return node, transport


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
    front_overlay = transport.publishers["/front/segmentation/overlay"].messages[0]  # the one overlay (labels.py)
    np.testing.assert_array_equal(np.asarray(front_overlay.data).reshape(30, 50, 3), overlay_rgb(rgb, ids, 0.5))
    # the same frame segmented directly gives the same mask
    batch = images_to_tensor(rgb, node.model.config.mean, node.model.config.std)
    direct = segment(node.model, batch, steps=node.params.steps, strength=node.params.strength, seed=0).train_ids[0].numpy()
    np.testing.assert_array_equal(ids, direct)
    # num_samples is 1: the uncertainty output is not even advertised (issue 32, 6)
    assert "/front/segmentation/uncertainty" not in transport.publishers


def test_a_failing_subscriber_query_costs_one_frame_not_the_camera(checkpoint, caplog, monkeypatch):
    node, transport = make_node(checkpoint)
    mask_writer = transport.publishers["/front/segmentation/class_mask"]
    failures = [IndexError("invalid index")]  # cyclonedds' query when a reader matches between its two calls

    def flaky_count() -> int:
        if failures:
            raise failures.pop()
        return mask_writer.subscribers
    monkeypatch.setattr(mask_writer, "subscription_count", flaky_count)
    for second in (1, 2):
        transport.callbacks["/front/image_raw"](image_msg(rgb_frame(), stamp=(second, 0)))
        node.process(node.frames.take_all(0.1))
    masks = transport.publishers["/front/segmentation/class_mask"].messages
    assert [m.header.stamp.sec for m in masks] == [2]
    assert node.diagnostics.cameras["/front/image_raw"].errors == 1
    assert "finding its subscribers failed: IndexError" in caplog.text


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
        expected = segment(node.model, batch, steps=steps, strength=strength, seed=0).train_ids[0].numpy()
        np.testing.assert_array_equal(np.frombuffer(bytes(mask.data), np.uint8).reshape(30, 50), expected)
        assert node.engine(node.params, with_confidence=False).options.sampling.steps == steps
    # every sampling parameter reaches the engine as one SamplingOptions (params.sampling(), carried whole)
    changed = with_changes(node.params, {"num_samples": 3, "seed": 7, "strength": 0.75})
    assert node.engine(changed, with_confidence=True).options.sampling == changed.sampling()
    assert len(node._engines) <= 2
    with pytest.raises(ValueError, match="compile cannot change while the node runs"):
        node.set_params({"compile": "default"})
    with pytest.raises(ValueError, match="compile must be one of"):
        with_changes(NodeParams(), {"compile": "fast"})


def test_malformed_frames_are_counted_and_warned_once_per_period(checkpoint, caplog):
    node, transport = make_node(checkpoint)
    with caplog.at_level(logging.WARNING, logger="test"):
        for _ in range(3):
            transport.callbacks["/front/image_raw"](Image(Header(), 8, 8, "rgb8", 0, 24, bytes(5)))
            node.process(node.frames.take_all(0.1))
    stats = node.diagnostics.cameras["/front/image_raw"]
    assert stats.bad_inputs == {"short_data": 3}
    assert len([r for r in caplog.records if "short" in r.getMessage() or "less than" in r.getMessage()]) == 1
    message = node.diagnostics.to_message(node.figures(), "segment_node", 1.0)
    values = {kv.key: kv.value for kv in message.status[0].values}
    assert values["bad_input.short_data"] == "3" and message.status[0].level == 1


def test_a_malformed_burst_never_displaces_a_good_frame_and_is_counted_by_reason(checkpoint):
    node, transport = make_node(checkpoint)
    good = image_msg(rgb_frame(), stamp=(5, 0))
    transport.callbacks["/front/image_raw"](good)
    bad = [Image(Header(), 8, 8, "rgb8", 0, 24, bytes(5)), Image(Header(), 1, 1, "rgb8", 0, 3, bytes(3)),
           Image(Header(), 8, 8, "nv12", 0, 8, bytes(64)), Image(Header(), 8, 8, "rgb8", 0, 2, bytes(192))]
    for index in range(100):
        transport.callbacks["/front/image_raw"](bad[index % len(bad)])
    taken = node.frames.take_all(0.1)
    assert [a.msg for a in taken] == [good]
    assert node.process(taken) == 1
    figures = node.figures()["/front/image_raw"]
    assert figures["frames_dropped"] == 0 and figures["errors"] == 0 and figures["frames_out"] == 1
    assert {k: v for k, v in figures.items() if k.startswith("bad_input.")} == {
        "bad_input.bad_step": 25, "bad_input.short_data": 25, "bad_input.too_small": 25,
        "bad_input.unsupported_encoding": 25}


def test_every_frame_is_counted_once_by_what_became_of_it(checkpoint):
    """received (with what the transport refused) = processed + dropped + skipped + malformed + errors."""
    node, transport = make_node(checkpoint)
    front, rear = "/front/image_raw", "/rear/image_raw/compressed"
    for stamp in range(3):  # two replaced in the slot, one processed
        transport.callbacks[front](image_msg(rgb_frame(), stamp=(stamp, 0)))
    transport.callbacks[front](image_msg(rgb_frame(4, 40)))  # too small
    jpeg = encoded(rgb_frame(), ".jpg")
    sos = jpeg.index(b"\xff\xda")
    transport.callbacks[rear](CompressedImage(Header(), "jpeg", jpeg[:sos + 20]))  # header fine, scan cut short
    transport.subscriptions[front].malformed, transport.subscriptions[front].lost = 7, 2
    transport.subscriptions[front].malformed_reasons = {"encapsulation": 5, "utf8": 2}
    transport.subscriptions[rear].rejected = 1
    assert node.process(node.frames.take_all(0.1)) == 1
    for name in ("class_mask", "color_mask", "overlay"):
        transport.publishers[f"/front/segmentation/{name}"].subscribers = 0
    transport.callbacks[front](image_msg(rgb_frame()))
    assert node.process(node.frames.take_all(0.1)) == 0
    figures = node.figures()
    f, r = figures[front], figures[rear]
    assert (f["frames_in"], f["frames_out"], f["frames_dropped"], f["skipped_no_subscribers"]) == (12, 1, 2, 1)
    assert (f["bad_inputs"], f["bad_input.too_small"], f["bad_input.cdr"], f["samples_lost"]) == (8, 1, 7, 2)
    assert (f["cdr.encapsulation"], f["cdr.utf8"]) == (5, 2)
    assert (r["frames_in"], r["bad_inputs"], r["bad_input.corrupt_compressed"], r["samples_rejected"]) == (1, 1, 1, 1)
    for values in (f, r):
        assert values["frames_pending"] == 0 and values["errors"] == 0
        assert values["frames_in"] == (values["frames_out"] + values["frames_dropped"] + values["bad_inputs"]
                                       + values["skipped_no_subscribers"] + values["errors"])


def test_a_camera_is_at_warn_only_while_it_had_recent_problems(checkpoint):
    node, transport = make_node(checkpoint)
    levels = []
    for report in range(2 * RECENT_REPORTS):
        frame = image_msg(rgb_frame(1, 1) if report == 2 else rgb_frame())
        transport.callbacks["/front/image_raw"](frame)
        node.process(node.frames.take_all(0.1))
        status = node.diagnostics.to_message(node.figures(), "segment_node", 1.0).status[0]
        levels.append(status.level)
    assert levels[:2] == [DiagnosticStatus.OK] * 2
    assert levels[2:2 + RECENT_REPORTS] == [DiagnosticStatus.WARN] * RECENT_REPORTS
    assert levels[2 + RECENT_REPORTS:] == [DiagnosticStatus.OK] * (RECENT_REPORTS - 2)


def test_datagrams_the_kernel_dropped_get_a_status_of_their_own_over_the_recent_window(checkpoint):
    node, transport = make_node(checkpoint)
    levels = []
    for report, drops in enumerate([0, 0, 3] + [3] * RECENT_REPORTS):
        sockets = node.diagnostics.socket_figures(drops)
        status = node.diagnostics.to_message(node.figures(), "segment_node", 1.0, sockets).status[0]
        assert status.name == "segment_node: transport" and {kv.key: kv.value for kv in status.values}[
            "socket_drops"] == str(drops)
        levels.append(status.level)
    assert levels == [DiagnosticStatus.OK] * 2 + [DiagnosticStatus.WARN] * RECENT_REPORTS + [DiagnosticStatus.OK]


def test_a_png_whose_header_is_too_large_is_refused_on_arrival(checkpoint):
    node, transport = make_node(checkpoint)
    transport.callbacks["/rear/image_raw/compressed"](CompressedImage(Header(), "png", png_claiming(24000, 24000)))
    assert node.frames.take_all(0.01) == []  # never reached the slot, so never the decoder
    assert node.figures()["/rear/image_raw/compressed"]["bad_input.too_large"] == 1


class SlowDecodingNode(SegmentationNode):
    """Frames with frame_id 'slow' take until ``release`` is set to decode, as a huge PNG would."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.release = threading.Event()

    def decode_image(self, msg, max_pixels):
        if msg.header.frame_id == "slow":
            assert self.release.wait(60)
        return super().decode_image(msg, max_pixels)


def test_a_camera_slow_to_decode_does_not_hold_up_the_others(checkpoint):
    params = with_changes(NodeParams(), {"checkpoint": str(checkpoint), "image_topics": ["/front/image_raw"],
                                         "compressed_image_topics": ["/rear/image_raw/compressed"]})
    transport = MemoryTransport()
    node = SlowDecodingNode(params, transport, logging.getLogger("test"))
    node.start()
    try:
        transport.callbacks["/rear/image_raw/compressed"](
            CompressedImage(Header(Time(1, 0), "slow"), "png", encoded(rgb_frame(), ".png")))
        transport.callbacks["/front/image_raw"](image_msg(rgb_frame(), stamp=(2, 0), frame_id="fast"))
        front = transport.publishers["/front/segmentation/class_mask"].messages
        rear = transport.publishers["/rear/segmentation/class_mask"].messages
        assert wait_for(lambda: len(front) == 1, 60), "the front camera waited for the rear camera's decoding"
        assert not rear
        node.release.set()
        assert wait_for(lambda: len(rear) == 1, 60)
    finally:
        node.release.set()
        node.stop()


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

    import cicld_ros.transports.rclpy.rclpy_node as rclpy_node  # rclpy is imported only inside main()

    assert callable(rclpy_node.main)
    done = subprocess.run([sys.executable, "-m", "cicld_ros.node", "--help"], cwd=REPO, capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0 and "--transport" in done.stdout and "--params-file" in done.stdout
    done = subprocess.run([sys.executable, "-m", "cicld_ros.node", "--transport", "rclpy", "--set", "steps=3"],
                          cwd=REPO, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and "--ros-args -p steps:=4" in done.stderr


def test_steps_over_strength_is_bounded_by_the_loaded_models_timesteps(tmp_path):
    from cicld_core.model import CICLD, ModelConfig, save_model
    from tiny import TINY

    torch.manual_seed(0)
    short = tmp_path / "t100.safetensors"
    save_model(short, CICLD(ModelConfig(**TINY, num_train_timesteps=100)))
    # 4 / 0.02 = 200 timesteps: fine for a model trained with T = 1000, not for T = 100
    assert with_changes(NodeParams(), {"steps": 4, "strength": 0.02}).steps == 4
    with pytest.raises(StartupError, match="at most 100"):
        make_node(short, steps=4, strength=0.02)
    node, _ = make_node(short)
    with pytest.raises(ValueError, match="at most 100"):
        node.set_params({"steps": 4, "strength": 0.02})
    node.set_params({"steps": 4, "strength": 0.05})
    assert node.params.strength == 0.05


def test_an_output_is_advertised_only_once_a_parameter_switches_it_on(checkpoint):
    """Issue 32, 6: confidence and uncertainty were advertised while switched off."""
    node, transport = make_node(checkpoint)
    assert "/front/segmentation/class_mask" in transport.publishers
    assert "/front/segmentation/confidence" not in transport.publishers
    node.set_params({"publish_confidence": True})
    assert "/front/segmentation/confidence" in transport.publishers
    assert "/front/segmentation/uncertainty" not in transport.publishers  # needs num_samples > 1
    with pytest.raises(ValueError):
        node.set_params({"publish_uncertainty": True, "num_samples": 0})
    assert "/front/segmentation/uncertainty" not in transport.publishers  # a refused set creates nothing


def test_the_class_map_is_published_again_in_the_camera_s_frame_once_a_frame_names_it(checkpoint):
    """Issue 32, 6: LabelInfo's header.frame_id was empty; a late joiner gets the latest (latched)."""
    node, transport = make_node(checkpoint)
    label_info = transport.publishers["/front/segmentation/label_info"].messages
    assert [m.header.frame_id for m in label_info] == [""]
    for stamp in ((1, 0), (2, 0)):
        transport.callbacks["/front/image_raw"](image_msg(rgb_frame(30, 50), stamp=stamp, frame_id="front_cam"))
        assert node.process(node.frames.take_all(0.1)) == 1
    assert [m.header.frame_id for m in label_info] == ["", "front_cam"]  # once per frame_id, not per frame
    assert label_info[-1].header.stamp == Time(1, 0)
    assert [c.class_name for c in label_info[-1].class_map] == node.metadata["class_names"]


def test_rates_span_several_reports_and_no_frame_reads_as_none_yet(monkeypatch):
    """Issue 32, 6: a 0.5 Hz camera read 'in 0.0 Hz' (rates were over one 1 s report) and status
    lines said 'p50 nan ms' before the first frame."""
    from cicld_ros.segmentation import diagnostics as diagnostics_module
    from cicld_ros.segmentation.core import milliseconds
    from cicld_ros.segmentation.diagnostics import NodeDiagnostics

    now = [100.0]
    monkeypatch.setattr(diagnostics_module.time, "monotonic", lambda: now[0])
    stats = NodeDiagnostics(["/cam"], 5.0, logging.getLogger("test"))
    rates = []
    for second in range(12):  # one frame every other second, one report a second
        if second % 2 == 0:
            stats.count("/cam", "received")
        rates.append(stats.snapshot()["/cam"]["input_hz"])
        now[0] += 1.0
    assert all(rate > 0 for rate in rates[2:]) and rates[-1] == pytest.approx(0.5, abs=0.1)
    figures = stats.snapshot()["/cam"]
    assert milliseconds(figures["latency_ms_p50"]) == "- (no frame yet)" and milliseconds(12.4) == "12 ms"
    inactive = NodeDiagnostics.to_message({"/cam": figures}, "segment_node", 0.0, active=False)
    assert inactive.status[0].level == inactive.status[0].WARN and "inactive" in inactive.status[0].message
    active = NodeDiagnostics.to_message({"/cam": figures}, "segment_node", 0.0)
    assert "nan" not in active.status[0].message


def test_the_qos_of_inputs_and_outputs_comes_from_parameters_with_sensor_data_defaults(checkpoint):
    node, transport = make_node(checkpoint)
    assert transport.qos["/front/image_raw"] == (False, 5, False)  # sensor data: best effort, volatile
    assert transport.qos["/front/segmentation/class_mask"] == (True, 5, False)
    assert transport.qos["/front/segmentation/label_info"] == (True, 1, True)  # latched, whatever the outputs
    node, transport = make_node(checkpoint, input_reliability="reliable", input_depth=2,
                                input_durability="transient_local", output_reliability="best_effort",
                                output_durability="transient_local", output_depth=1)
    assert transport.qos["/rear/image_raw/compressed"] == (True, 2, True)
    assert transport.qos["/rear/segmentation/overlay"] == (False, 1, True)
    for bad, message in (({"input_reliability": "sometimes"}, "input_reliability must be best_effort or reliable"),
                         ({"output_depth": 0}, "output_depth must be 1..1000")):
        with pytest.raises(ValueError, match=message):
            make_node(checkpoint, **bad)
