"""The DDS wire format and transport: CDR bytes equal to rosbags', decoding refuses bad
buffers, and samples cross real process boundaries intact."""
from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from cyclonedds.core import DDSException
from rosbags.typesys import Stores, get_typestore

from cicld_ros.dds import cdr
from cicld_ros.dds.config import ensure_cyclonedds_uri, ros_topic_to_dds
from cicld_ros.dds.transport import DdsTransport
from cicld_ros.messages import (
    IMAGE, CompressedImage, DiagnosticArray, DiagnosticStatus, Header, Image, KeyValue, Time,
)

REPO = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("dds_camera", REPO / "test/helpers/dds_camera.py")
_camera = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_camera)
camera_frame = _camera.frame
STORE = get_typestore(Stores.ROS2_HUMBLE)
T = STORE.types


def ros_header(header: Header):
    return T["std_msgs/msg/Header"](stamp=T["builtin_interfaces/msg/Time"](sec=header.stamp.sec,
                                                                           nanosec=header.stamp.nanosec),
                                    frame_id=header.frame_id)


@pytest.mark.parametrize("frame_id,encoding,is_bigendian", [("", "rgb8", 0), ("c", "mono16", 1),
                                                             ("camera_front", "bgra8", 0), ("abcdefg", "mono8", 0)])
def test_image_cdr_equals_rosbags_and_round_trips(frame_id, encoding, is_bigendian):
    data = np.random.default_rng(0).integers(0, 256, 7 * 5, dtype=np.uint8)
    msg = Image(Header(Time(-3, 999_999_999), frame_id), 5, 7, encoding, is_bigendian, 7, data)
    ours = cdr.encode_image(msg)
    reference = STORE.serialize_cdr(T["sensor_msgs/msg/Image"](
        header=ros_header(msg.header), height=5, width=7, encoding=encoding, is_bigendian=is_bigendian, step=7,
        data=data), "sensor_msgs/msg/Image")
    assert bytes(ours) == bytes(reference)
    back = cdr.decode_image(ours)
    assert (back.header, back.height, back.width, back.encoding, back.is_bigendian, back.step) == (
        msg.header, 5, 7, encoding, is_bigendian, 7)
    assert bytes(back.data) == data.tobytes()
    assert STORE.deserialize_cdr(ours, "sensor_msgs/msg/Image").header.frame_id == frame_id


def test_compressed_image_and_diagnostics_cdr_equal_rosbags():
    jpeg = bytes(range(13))
    msg = CompressedImage(Header(Time(1, 2), "cam"), "jpeg", jpeg)
    reference = STORE.serialize_cdr(T["sensor_msgs/msg/CompressedImage"](
        header=ros_header(msg.header), format="jpeg", data=np.frombuffer(jpeg, np.uint8)),
        "sensor_msgs/msg/CompressedImage")
    assert bytes(cdr.encode_compressed_image(msg)) == bytes(reference)
    assert bytes(cdr.decode_compressed_image(reference).data) == jpeg
    diagnostics = DiagnosticArray(Header(Time(5, 6), ""), [
        DiagnosticStatus(1, "segment_node: /cam", "ok-ish", "/cam", [KeyValue("latency_ms", "12.5"), KeyValue("a", "")]),
        DiagnosticStatus(0, "x", "", "", [])])
    reference = STORE.serialize_cdr(T["diagnostic_msgs/msg/DiagnosticArray"](
        header=ros_header(diagnostics.header), status=[T["diagnostic_msgs/msg/DiagnosticStatus"](
            level=s.level, name=s.name, message=s.message, hardware_id=s.hardware_id,
            values=[T["diagnostic_msgs/msg/KeyValue"](key=v.key, value=v.value) for v in s.values])
            for s in diagnostics.status]), "diagnostic_msgs/msg/DiagnosticArray")
    assert bytes(cdr.encode_diagnostics(diagnostics)) == bytes(reference)
    assert cdr.decode_diagnostics(reference) == diagnostics


def test_truncated_and_foreign_buffers_are_refused_with_a_reason():
    good = cdr.encode_image(Image(Header(Time(1, 2), "cam"), 2, 2, "mono8", 0, 2, bytes(4)))
    for cut in range(0, len(good) - 1, 3):
        with pytest.raises(cdr.CdrError):
            cdr.decode_image(good[:cut])
    with pytest.raises(cdr.CdrError, match="big-endian"):
        cdr.decode_image(b"\x00\x00\x00\x00" + good[4:])
    with pytest.raises(cdr.CdrError, match="ends inside data"):
        cdr.decode_image(good[:-2])


def test_ros_topic_names_map_to_rt():
    assert ros_topic_to_dds("/cam/image_raw") == "rt/cam/image_raw"
    assert ros_topic_to_dds("diagnostics") == "rt/diagnostics"
    for bad in ("", "/", "cam//image", "/9cam", "cam image"):
        with pytest.raises(ValueError):
            ros_topic_to_dds(bad)


def test_images_cross_processes_intact_and_malformed_samples_are_survived():
    ensure_cyclonedds_uri()
    domain = 1 + (os.getpid() * 11) % 200
    received = []
    with DdsTransport(domain) as transport:
        subscription = transport.subscribe("/cam/image_raw", IMAGE, received.append, reliable=True, keep_all=True)
        camera = subprocess.Popen([sys.executable, str(REPO / "test/helpers/dds_camera.py"), "--domain", str(domain),
                                   "--topic", "/cam/image_raw", "--count", "20", "--rate", "50", "--size", "96x48",
                                   "--frame-id", "front", "--reliable"], cwd=REPO, stdout=subprocess.PIPE,
                                  stderr=subprocess.STDOUT, text=True)
        out, _ = camera.communicate(timeout=60)
        assert camera.returncode == 0, out
        deadline = time.monotonic() + 10
        while len(received) < 20 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert [m.header.stamp.sec for m in received] == list(range(1000, 1020))
        assert all(m.header.frame_id == "front" and (m.width, m.height, m.step) == (96, 48, 288) for m in received)
        np.testing.assert_array_equal(np.frombuffer(bytes(received[7].data), np.uint8).reshape(48, 96, 3),
                                      camera_frame(7, 96, 48))
        # Cyclone itself refuses to send a truncated sample; one it carries but we cannot
        # decode (a frame_id that is not UTF-8) is counted and skipped, and the next arrives
        publisher = transport.publisher("/cam/image_raw", IMAGE, reliable=True)
        good = cdr.encode_image(Image(Header(Time(5000, 0), "x"), 1, 1, "mono8", 0, 1, b"\x07"))
        with pytest.raises(DDSException):
            publisher.publish_cdr(good[:-8])
        publisher.publish_cdr(good.replace(b"x\x00", b"\xff\x00", 1))
        publisher.publish_cdr(good)
        deadline = time.monotonic() + 10
        while received[-1].header.stamp.sec != 5000 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert subscription.malformed == 1 and received[-1].header.stamp.sec == 5000
        assert len(received) == 21
