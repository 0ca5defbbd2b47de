"""The node under a real ROS 2 (issue 27): what Humble's and Jazzy's own sources do with our
parameter files, messages, lifecycle callbacks and signals, re-stated from those sources
(no ROS 2 can be installed here, as in test_launch_args.py) and checked against our code.

Each re-statement names its file and branch; docs/ros2_distros.md lists them. Where the DDS
mode shares the behaviour, the same rule is checked through it (cicld_ros.ros_rules.ros_params and
cicld_ros.ros_rules.ros_names are that shared code).
"""
from __future__ import annotations

import array
import logging
import re
import subprocess
import sys
import types
from collections import UserList, UserString
from collections.abc import Sequence, Set
from pathlib import Path

import numpy as np
import pytest
import yaml

from cicld_ros.messages.records import CompressedImage, Header, Image, Time
from cicld_ros.ros_rules.ros_names import NodeNames, Remap, parse_ros_args, split_ros_args
from cicld_ros.ros_rules.ros_params import load_rcl_yaml, node_sections
from cicld_ros.segmentation.lifecycle import ManagedNode, State
from cicld_ros.segmentation.painting_params import read_node_files
from cicld_ros.segmentation.params import FIELDS, NodeParams, load_params, read_params_file, ros_default, with_changes

REPO = Path(__file__).resolve().parents[1]
SHIPPED = [REPO / "config/segment.yaml", REPO / "config/painting.yaml"]


# ---- 1. which section of a parameter file a node gets ------------------------------------------

def rclpy_section_applies(key: str, node_fqn: str) -> bool:
    """ros2/rclpy humble and jazzy, rclpy/src/rclpy/node.cpp, _populate_node_parameters_from_rcl_params:
    a '/' is put before a node name that lacks one, then
    ``regex = find_and_replace(node_name, "/*", "(/\\\\w+)")`` must std::regex_match the node's FQN."""
    name = key if key.startswith("/") else "/" + key
    return re.fullmatch(name.replace("/*", r"(/\w+)"), node_fqn, re.ASCII) is not None


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.name)
@pytest.mark.parametrize("node_fqn", ["/segment_node", "/front/segment_node", "/car/front/segment_node",
                                      "/front/segment_front"])
def test_the_shipped_files_apply_to_the_node_under_any_namespace_or_name(path, node_fqn):
    """Defect 1: 'segment_node:' never matched /front/segment_node, so launching with namespace:=
    silently dropped the file. Each shipped section must apply whatever the namespace or name."""
    keys = [name for name, _ in node_sections(yaml.safe_load(path.read_text()))]
    assert keys and all(rclpy_section_applies(key, node_fqn) for key in keys), keys
    assert read_params_file(path, node_fqn)  # and the DDS mode reads the same file for that node


@pytest.mark.parametrize("key", ["segment_node", "/segment_node", "/**", "/**/segment_node", "/*/segment_node",
                                 "front/segment_node", "/front/*", "other_node"])
@pytest.mark.parametrize("node_fqn", ["/segment_node", "/front/segment_node", "/a/b/segment_node"])
def test_the_dds_mode_picks_sections_as_rclpy_does(tmp_path, key, node_fqn):
    path = tmp_path / "p.yaml"
    path.write_text(yaml.safe_dump({key: {"ros__parameters": {"steps": 3}}}))
    if rclpy_section_applies(key, node_fqn):
        assert read_params_file(path, node_fqn) == {"steps": 3}
    else:
        with pytest.raises(ValueError, match=r"no section applies to the node .*use '/\*\*:'"):
            read_params_file(path, node_fqn)


# ---- 5. what rcl's YAML parser and rclpy's declared types make of a value ----------------------

RCL_TRUE = "Y y yes Yes YES true True TRUE on On ON".split()  # rcl_yaml_param_parser/src/parse.c, get_value
RCL_FALSE = "N n no No NO false False FALSE off Off OFF".split()  # (ros2/rcl humble and rolling)


def rclpy_type(value) -> str:
    """ros2/rclpy humble and jazzy, rclpy/parameter.py, Parameter.Type.from_parameter_value."""
    if isinstance(value, bool):
        return "BOOL"
    if isinstance(value, int):
        return "INTEGER"
    if isinstance(value, float):
        return "DOUBLE"
    if isinstance(value, str):
        return "STRING"
    for kind, name in ((bytes, "BYTE_ARRAY"), (bool, "BOOL_ARRAY"), (int, "INTEGER_ARRAY"), (float, "DOUBLE_ARRAY"),
                       (str, "STRING_ARRAY")):
        if all(isinstance(v, kind) for v in value):
            return name
    raise TypeError(value)


def test_rcl_reads_unquoted_words_as_booleans_and_quoted_ones_as_strings():
    document = load_rcl_yaml("\n".join(f"t{i}: {w}" for i, w in enumerate(RCL_TRUE + RCL_FALSE))
                             + '\nq: "off"\nr: \'yes\'\ni: 010\nh: 0x10\nf: 1e3\nu: 1_0\n')
    assert [document[f"t{i}"] for i in range(len(RCL_TRUE + RCL_FALSE))] == [True] * 11 + [False] * 11
    # strtoll(value, 0) reads octal and hex, strtod reads 1e3; quoted scalars are strings
    assert (document["q"], document["r"], document["i"], document["h"], document["f"], document["u"]) == \
        ("off", "yes", 8, 16, 1000.0, "1_0")


def test_every_value_in_the_shipped_files_has_the_type_rclpy_declares_it_with():
    """A value whose type differs from the declared default's is refused by rclpy
    (rclpy/node.py _apply_descriptor, 'Wrong parameter type', raised at declare_parameter as
    InvalidParameterTypeException; humble and jazzy)."""
    from cicld_ros.segmentation.painting_params import CAMERA_ROS_DEFAULTS, ROS_DEFAULTS

    for path in SHIPPED:
        for _, parameters in node_sections(load_rcl_yaml(path.read_text())):
            flat = {}
            stack = [("", parameters)]
            while stack:
                prefix, mapping = stack.pop()
                for key, value in mapping.items():
                    if isinstance(value, dict):
                        stack.append((f"{prefix}{key}.", value))
                    else:
                        flat[f"{prefix}{key}"] = value
            for name, value in flat.items():
                if name.startswith("painting."):
                    rest = name.split(".", 2)
                    default = ROS_DEFAULTS.get(rest[1]) if len(rest) == 2 else CAMERA_ROS_DEFAULTS[rest[2]]
                else:
                    default = ros_default(name)
                assert rclpy_type(value) == rclpy_type(default), (path.name, name, value, default)


@pytest.mark.parametrize("text, fix", [
    ("strength: 1", r"strength is a DOUBLE parameter, got INTEGER 1: write it with a decimal point"),
    ("compile: off", r"compile is a STRING parameter, got BOOL False: quote it"),
    ("sampler: yes", r"sampler is a STRING parameter, got BOOL True"),
    ("overlay_alpha: 1", r"overlay_alpha is a DOUBLE parameter"),
    ("steps: 2.0", r"steps is an INTEGER parameter, got DOUBLE 2.0"),
    ("image_topics: camera/image_raw", r"image_topics is a STRING_ARRAY parameter, got STRING"),
])
def test_the_dds_mode_refuses_what_rclpy_refuses_and_names_the_fix(tmp_path, text, fix):
    """Defect 5: DDS mode took 1 for a double and 'off' parsed as false; rclpy refuses both."""
    path = tmp_path / "p.yaml"
    path.write_text(f"/**:\n  ros__parameters:\n    {text}\n")
    with pytest.raises(ValueError, match=fix):
        load_params(path)


@pytest.mark.parametrize("camera, fix", [
    ({"lidar_to_camera": {"translation": [0, 0, 0], "rotation_xyzw": [0.5, -0.5, 0.5, 0.5]}},
     r"painting.camera.lidar_to_camera.translation is a DOUBLE_ARRAY parameter, got INTEGER_ARRAY"),
    ({"camera_info_topic": "", "intrinsics": {"width": 64, "height": 32, "k": [30, 0, 32, 0, 30, 16, 0, 0, 1],
                                              "d": [0.0] * 5, "distortion_model": "plumb_bob"}},
     r"painting.camera.intrinsics.k is a DOUBLE_ARRAY parameter, got INTEGER_ARRAY"),
])
def test_painting_values_of_the_wrong_type_are_refused_in_dds_mode_as_under_ros(tmp_path, camera, fix):
    section = load_rcl_yaml(SHIPPED[1].read_text())["/**"]["ros__parameters"]["painting"]
    section["camera"] |= camera
    path = tmp_path / "p.yaml"
    path.write_text(yaml.safe_dump({"/**": {"ros__parameters": {"painting": section}}}))
    with pytest.raises(ValueError, match=fix):
        read_node_files([SHIPPED[0], path])
    path.write_text(SHIPPED[1].read_text().replace('confidence: "off"', "confidence: off"))
    with pytest.raises(ValueError, match=r"painting.confidence is a STRING parameter, got BOOL False: quote it"):
        read_node_files([SHIPPED[0], path])


def test_set_and_ros_args_values_are_typed_as_rcl_types_a_p_value():
    assert load_params(None, ["strength=0.5", "compile='off'"]).compile == "off"
    with pytest.raises(ValueError, match="strength is a DOUBLE parameter, got INTEGER 1"):
        load_params(None, ["strength=1"])
    parsed = parse_ros_args(["--ros-args", "-p", "compile:=off", "-p", "other_node:steps:=9", "-p", "steps:=4",
                             "--params-file", "x.yaml", "-r", "__ns:=/front", "--"], "segment_node")
    assert parsed.params == {"compile": False, "steps": 4} and parsed.params_files == [Path("x.yaml")]
    with pytest.raises(ValueError, match="the DDS mode takes -r/--remap, -p/--param and --params-file"):
        parse_ros_args(["--ros-args", "--log-level", "debug"], "segment_node")


# ---- 2. topic names: namespace, ~ and remapping as rcl resolves them ------------------------------

@pytest.mark.parametrize("rules, topic, resolved", [
    ([], "camera/image_raw", "/camera/image_raw"),
    (["__ns:=/front"], "camera/image_raw", "/front/camera/image_raw"),
    (["__ns:=/front"], "/camera/image_raw", "/camera/image_raw"),  # absolute: the namespace does not move it
    (["__ns:=/front"], "~/debug", "/front/segment_node/debug"),
    (["__ns:=/front", "camera/image_raw:=/cam0/image_raw"], "camera/image_raw", "/cam0/image_raw"),
    (["__ns:=/front", "/front/camera/image_raw:=cam0/image"], "camera/image_raw", "/front/cam0/image"),
    (["other_node:camera/image_raw:=/x"], "camera/image_raw", "/camera/image_raw"),  # another node's rule
    (["camera/image_raw:=/a", "camera/image_raw:=/b"], "camera/image_raw", "/a"),  # the first match wins
])
def test_names_resolve_as_rcl_expands_and_remaps_them(rules, topic, resolved):
    """ros2/rcl humble, rcl/src/rcl/expand_topic_name.c and remap.c (rcl_remap_first_match)."""
    assert NodeNames.from_rules("segment_node", [Remap.parse(r) for r in rules]).resolve(topic) == resolved


def test_outputs_follow_the_resolved_camera_name(checkpoint):
    """Defect 2: outputs were built from the parameter string, so a namespace or a remapping of
    the input moved the subscription but not the outputs (and a relative input gave absolute
    /segmentation/...). Now each camera's outputs are derived from its resolved name."""
    from test_node_core import MemoryTransport

    from cicld_ros.segmentation.core import SegmentationNode

    class NamespacedTransport(MemoryTransport):
        names = NodeNames.from_rules("segment_node", [Remap.parse("__ns:=/car"),
                                                      Remap.parse("rear/image_raw:=/cam1/image_raw")])
        node_name = names.fully_qualified_name
        resolve = staticmethod(names.resolve)

    transport = NamespacedTransport()
    params = with_changes(NodeParams(), {"checkpoint": str(checkpoint), "image_topics": ["camera/image_raw",
                                                                                         "rear/image_raw"]})
    node = SegmentationNode(params, transport, logging.getLogger("test"))
    assert set(node.inputs) == {"/car/camera/image_raw", "/cam1/image_raw"}
    assert set(transport.callbacks) == {"camera/image_raw", "rear/image_raw"}  # the transport resolves them
    assert {"/car/camera/segmentation/class_mask", "/cam1/segmentation/overlay"} <= set(transport.publishers)
    # defect 11: /diagnostics names the node by its real (namespaced) name
    status = node.diagnostics.to_message(node.figures(), node.node_name, 0.0).status
    assert {s.name for s in status} == {"car/segment_node: /car/camera/image_raw", "car/segment_node: /cam1/image_raw"}
    node.close()


# ---- 3. no per-byte check when a uint8[] field is filled -----------------------------------------

class HumbleUint8Sequence:
    """The setter rosidl_generator_py generates for an unbounded ``uint8[]`` field (ros2/rosidl_python
    humble, rosidl_generator_py/resource/_msg.py.em; uint8 is in SPECIAL_NESTED_BASIC_TYPES with
    type code 'B'): an array.array('B') is taken as it is, anything else goes through the
    ``if __debug__:`` check of every element (counted here), then into array.array('B', value)."""

    def __set_name__(self, owner, name):
        self.slot = "_" + name

    def __get__(self, msg, owner):
        return getattr(msg, self.slot)

    def __set__(self, msg, value):
        if isinstance(value, array.array):
            assert value.typecode == "B"
            setattr(msg, self.slot, value)
            return
        if __debug__:
            msg.checked_elements += len(value)
            assert ((isinstance(value, Sequence) or isinstance(value, Set) or isinstance(value, UserList))
                    and not isinstance(value, str) and not isinstance(value, UserString)
                    and all(isinstance(v, int) for v in value) and all(0 <= val < 256 for val in value))
        setattr(msg, self.slot, array.array("B", value))


class RosTime:
    sec = nanosec = 0


class RosHeader:
    def __init__(self):
        self.stamp, self.frame_id = RosTime(), ""


def generated(name: str, *fields: str):
    """A message class as generated: plain fields, ``data`` a uint8[] whose __init__ assigns
    array.array('B', kwargs.get('data', [])) through the setter."""
    def __init__(self, **kwargs):
        self.checked_elements = 0
        self.header = RosHeader()
        for f in fields:
            setattr(self, f, kwargs.get(f))
        self.data = array.array("B", kwargs.get("data", []))
    return type(name, (), {"__init__": __init__, "data": HumbleUint8Sequence()})


@pytest.fixture
def humble_sensor_msgs(monkeypatch):
    module = types.ModuleType("sensor_msgs.msg")
    module.Image = generated("Image", "height", "width", "encoding", "is_bigendian", "step")
    module.CompressedImage = generated("CompressedImage", "format")
    module.PointCloud2 = generated("PointCloud2", "height", "width", "fields", "is_bigendian", "point_step",
                                   "row_step", "is_dense")
    module.PointField = lambda **kwargs: types.SimpleNamespace(**kwargs)
    package = types.ModuleType("sensor_msgs")
    package.msg = module
    monkeypatch.setitem(sys.modules, "sensor_msgs", package)
    monkeypatch.setitem(sys.modules, "sensor_msgs.msg", module)
    return module


def test_outputs_fill_uint8_fields_without_humble_s_per_byte_check(humble_sensor_msgs):
    """Defect 3: ``msg.data = bytes`` ran the generated check over every byte (0.7 s per 1080p
    frame for three outputs). cv_bridge appends to the array instead (ros-perception/vision_opencv
    humble, cv_bridge/core.py: img_msg.data.frombytes(...)); so do we."""
    from cicld_ros.messages.pointcloud import build_cloud
    from cicld_ros.messages.rclpy_messages import to_rclpy_pointcloud2
    from cicld_ros.messages.rclpy_messages import compressed_image_to_rclpy, image_to_rclpy

    pixels = np.random.default_rng(0).integers(0, 256, (48, 64, 3), dtype=np.uint8)
    header = Header(Time(3, 4), "cam")
    image = image_to_rclpy(Image(header, 48, 64, "rgb8", 0, 192, pixels))
    jpeg = compressed_image_to_rclpy(CompressedImage(header, "jpeg", b"\xff\xd8jpeg bytes"))
    points = np.random.default_rng(1).normal(size=(100, 3)).astype(np.float32)
    cloud_record = build_cloud(header, points, np.zeros(100, np.uint8), None, None, "float32", 1, True)
    cloud = to_rclpy_pointcloud2(cloud_record)
    assert (image.checked_elements, jpeg.checked_elements, cloud.checked_elements) == (0, 0, 0)
    assert image.data.tobytes() == pixels.tobytes() and jpeg.data.tobytes() == b"\xff\xd8jpeg bytes"
    assert cloud.data.tobytes() == bytes(cloud_record.data)
    # the re-stated setter does count what ``msg.data = bytes`` (the old code) costs
    old = humble_sensor_msgs.Image()
    old.data = pixels.tobytes()
    assert old.checked_elements == pixels.size


# ---- 4. a failed transition is logged with its cause ---------------------------------------------

def rclpy_execute_callback(callback, previous_state=None) -> str:
    """ros2/rclpy humble and jazzy, rclpy/lifecycle/node.py, LifecycleNodeMixin.__execute_callback:
    ``try: return cb(previous_state) except Exception: # TODO(ivanpauno): log sth here; return ERROR``."""
    try:
        return callback(previous_state)
    except Exception:  # noqa: BLE001 - what rclpy does
        return "ERROR"


@pytest.mark.parametrize("failure, cause", [
    (RuntimeError("CUDA out of memory. Tried to allocate 2.00 GiB"), "RuntimeError: CUDA out of memory"),
    (type("InvalidParameterTypeException", (Exception,), {})("Trying to set parameter 'steps' to '2.0' of type "
                                                             "'DOUBLE', expecting type 'INTEGER'"),
     "InvalidParameterTypeException: Trying to set parameter 'steps'"),
    (ValueError("invalid ROS topic name '2cam'"), "invalid ROS topic name '2cam'"),
])
def test_every_configure_failure_is_logged_with_its_cause(caplog, failure, cause):
    """Defect 4: only StartupError/ValueError were caught; anything else reached rclpy, which
    swallows it, leaving only 'reset to unconfigured after an error'."""
    from cicld_ros.transports.rclpy.rclpy_node import run_transition

    def make_core():
        raise failure

    log = logging.getLogger("segment_node_test")
    managed = ManagedNode(make_core, log)
    with caplog.at_level(logging.ERROR):
        result = rclpy_execute_callback(lambda state: run_transition("configure", managed.configure, log))
    assert result == "FAILURE" and managed.state is State.UNCONFIGURED
    assert any(cause in r.getMessage() and "lifecycle: configure failed" in r.getMessage() for r in caplog.records)


def test_a_transition_that_raises_is_logged_with_its_traceback_and_is_an_error(caplog):
    from cicld_ros.transports.rclpy.rclpy_node import run_transition

    def broken():
        raise OSError("no space left on device")

    with caplog.at_level(logging.ERROR):
        assert rclpy_execute_callback(lambda state: run_transition("activate", broken, logging.getLogger("t"))) \
            == "ERROR"
    message = caplog.records[-1].getMessage()
    assert "lifecycle: activate failed with OSError: no space left on device" in message and "Traceback" in message


# ---- 8. SIGINT and SIGTERM end the rclpy node cleanly ----------------------------------------------

def test_a_signal_asks_the_node_to_stop_between_callbacks():
    """Defect 8 and issue 32 (1, 2): rclpy's own handler shut the context down before the node
    logged its shutdown (three rosout errors on every Ctrl-C), and a second Ctrl-C raised into the
    shutdown (exit -2). The node owns the signals: each one only asks the spin loop to stop, so the
    shutdown runs whole on a live context. test/ros2/ checks the real process under Jazzy."""
    import os
    import signal

    from cicld_ros.transports.rclpy.rclpy_node import StopRequest, spin_until_stopped

    previous = {number: signal.getsignal(number) for number in (signal.SIGINT, signal.SIGTERM)}
    try:
        for number in (signal.SIGINT, signal.SIGTERM):
            stop, calls = StopRequest(), []

            def spin_once(timeout: float) -> None:
                calls.append(timeout)
                if len(calls) == 3:
                    os.kill(os.getpid(), number)  # twice, as an impatient Ctrl-C: still no exception
                    os.kill(os.getpid(), number)

            spin_until_stopped(spin_once, lambda: stop.requested)
            assert stop.signal == number and len(calls) == 3
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)
    source = (REPO / "cicld_ros/transports/rclpy/rclpy_node.py").read_text()
    assert "signal_handler_options=SignalHandlerOptions.NO" in source


# ---- 9. --ros-args reach rclpy untouched -----------------------------------------------------------

def test_ros_args_after_the_node_s_options_pass_through_to_rclpy():
    from cicld_ros.node import parse_args, rclpy_argv

    argv = ["--transport", "rclpy", "--no-autostart", "--params-file", "a.yaml", "--ros-args", "-p", "steps:=4",
            "-r", "__ns:=/front", "--", "--ros-args", "--log-level", "debug"]
    own, ros = split_ros_args(argv)
    args = parse_args(own)  # before: "unrecognized arguments: --ros-args -p steps:=4"
    assert rclpy_argv(args, ros)[1:] == ["--no-autostart", "--ros-args", "--params-file", "a.yaml", "--",
                                         "--ros-args", "-p", "steps:=4", "-r", "__ns:=/front", "--",
                                         "--ros-args", "--log-level", "debug"]


@pytest.mark.skipif(subprocess.run([sys.executable, "-c", "import rclpy"], capture_output=True).returncode == 0,
                    reason="rclpy is installed here")
def test_the_suggested_ros_args_are_accepted_on_the_command_line():
    done = subprocess.run([sys.executable, "-m", "cicld_ros.node", "--transport", "rclpy", "--ros-args", "-p",
                           "steps:=4"], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert "unrecognized arguments" not in done.stderr, done.stderr
    assert "rclpy is not importable" in done.stderr  # it got as far as needing ROS


# ---- 10. parameters applied once rclpy committed them (Jazzy) --------------------------------------

def jazzy_set_parameters(changes: dict, on_set_callbacks: list, post_set_callbacks: list, stored: dict) -> bool:
    """ros2/rclpy jazzy, rclpy/node.py, _set_parameters_atomically_common: the set-parameters
    callbacks in list order (add_on_set_parameters_callback inserts at 0, so the last added runs
    first) until one refuses; only then are the values stored and the post-set callbacks run."""
    for callback in on_set_callbacks:
        if not callback(changes):
            return False
    stored.update(changes)
    for callback in post_set_callbacks:
        callback(changes)
    return True


def test_a_set_refused_by_a_later_callback_leaves_the_core_unchanged(checkpoint):
    from test_node_core import MemoryTransport

    from cicld_ros.segmentation.core import SegmentationNode
    from cicld_ros.transports.rclpy.rclpy_node import ParameterChanges

    params = with_changes(NodeParams(), {"checkpoint": str(checkpoint)})
    managed = ManagedNode(lambda: SegmentationNode(params, MemoryTransport(), logging.getLogger("t")),
                          logging.getLogger("t"))
    managed.configure()
    changes = ParameterChanges(managed, {}, apply_in_check=False)
    stored = {name: getattr(params, name) for name in FIELDS}
    time_source_refuses = lambda values: "use_sim_time" not in values  # noqa: E731 - added before ours
    on_set = [lambda values: changes.check(values) is None, time_source_refuses]  # ours inserted at 0
    assert not jazzy_set_parameters({"steps": 3, "use_sim_time": True}, on_set, [changes.apply], stored)
    assert managed.core.params.steps == params.steps == stored["steps"]  # ROS and the core agree
    assert jazzy_set_parameters({"steps": 3}, on_set, [changes.apply], stored)
    assert managed.core.params.steps == 3 == stored["steps"]
    assert not jazzy_set_parameters({"steps": 500}, on_set, [changes.apply], stored)  # refused by our check
    managed.shutdown()


def test_a_parameter_of_the_wrong_type_blocks_configure_until_it_is_set_right():
    problems = {"strength": "Trying to set parameter 'strength' to '1' of type 'INTEGER', expecting type 'DOUBLE'"}
    from cicld_ros.transports.rclpy.rclpy_node import ParameterChanges

    changes = ParameterChanges(ManagedNode(lambda: None, logging.getLogger("t")), problems, apply_in_check=True)
    assert changes.check({"steps": 2}) is None and "strength" in problems
    assert changes.check({"strength": 0.5}) is None and not problems


# ---- conventions: the camera encodings cv_bridge converts ---------------------------------------

def uyvy(y: int, u: int, v: int, height: int, width: int, yuy2: bool = False) -> bytes:
    """Packed 4:2:2: UYVY (ROS yuv422) or YUYV (yuv422_yuy2), one colour everywhere."""
    return bytes([y, u, y, v] if yuy2 else [u, y, v, y]) * (height * width // 2)


@pytest.mark.parametrize("encoding", ["yuv422", "yuv422_yuy2"])
def test_yuv422_frames_decode_as_cv_bridge_converts_them(encoding):
    from cicld_ros.messages.image_codec import check, decode

    msg = Image(Header(), 16, 20, encoding, 0, 40, uyvy(100, 128, 128, 16, 20, encoding == "yuv422_yuy2"))
    check(msg, 10**6)
    rgb = decode(msg, 10**6)
    # U = V = 128 is grey; OpenCV (as cv_bridge) reads video-range BT.601: (Y - 16) x 255 / 219
    assert rgb.shape == (16, 20, 3) and (rgb == round((100 - 16) * 255 / 219)).all()
    reddish = decode(Image(Header(), 16, 20, encoding, 0, 40, uyvy(120, 100, 200, 16, 20,
                                                                   encoding == "yuv422_yuy2")), 10**6)
    assert reddish[..., 0].mean() > reddish[..., 1].mean() and reddish[..., 0].mean() > reddish[..., 2].mean()


@pytest.mark.parametrize("encoding, pattern", [("bayer_rggb8", "RGGB"), ("bayer_bggr8", "BGGR"),
                                               ("bayer_gbrg8", "GBRG"), ("bayer_grbg8", "GRBG")])
def test_bayer_frames_demosaic_to_the_colour_they_hold(encoding, pattern):
    """A flat colour laid out in the encoding's 2x2 pattern comes back as that colour (the
    pattern is named by its first row, as in ROS; OpenCV names it by the second)."""
    from cicld_ros.messages.image_codec import decode

    colour = {"R": 200, "G": 120, "B": 40}
    tile = np.array([[colour[pattern[0]], colour[pattern[1]]], [colour[pattern[2]], colour[pattern[3]]]], np.uint8)
    mosaic = np.tile(tile, (8, 10))
    rgb = decode(Image(Header(), 16, 20, encoding, 0, 20, mosaic.tobytes()), 10**6)
    assert rgb.shape == (16, 20, 3)
    assert tuple(rgb[4:-4, 4:-4].reshape(-1, 3).mean(axis=0).round()) == (200, 120, 40)


def test_a_yuv422_frame_of_odd_width_is_refused_on_arrival():
    from cicld_ros.messages.image_codec import InputError, check

    with pytest.raises(InputError, match="width 21 must be even"):
        check(Image(Header(), 16, 21, "yuv422", 0, 42, bytes(16 * 42)), 10**6)
