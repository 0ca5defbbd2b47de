"""The semantic point cloud in the node core, without a network: its parameters, a cloud
matched to the mask nearest in time and painted with it, a cloud that arrives before its
mask, and every bad input (a cloud without x/y/z, NaN points, a CameraInfo with zero focal
length, no CameraInfo yet, no mask near enough) skipped with a counter while the node goes
on painting. test_node_dds.py runs the same through real processes."""
from __future__ import annotations

import logging

import numpy as np
import pytest

from cicld_core.painting import PinholeCamera, paint_points
from cicld_ros.messages.pointcloud import CameraInfo, PointCloud2, PointField, build_cloud, read_cloud
from cicld_ros.messages.records import Header, Time
from cicld_ros.segmentation.core import SegmentationNode, StartupError, painted_topic
from cicld_ros.segmentation.painting_params import PaintingParams, painting_params, split_painting
from cicld_ros.segmentation.params import NodeParams, with_changes
from test_node_core import MemoryTransport, image_msg, rgb_frame

WIDTH, HEIGHT = 40, 24
INTRINSICS = {"width": WIDTH, "height": HEIGHT, "distortion_model": "plumb_bob", "d": [0.1, -0.05, 0.001, 0.0, 0.0],
              "k": [20.0, 0.0, 20.0, 0.0, 20.0, 12.0, 0.0, 0.0, 1.0]}
# the generator's LiDAR frame (x forward, y left, z up) to the optical frame (x right, y down, z forward)
LIDAR_TO_CAMERA = {"translation": [0.0, 0.1, 0.0], "rotation_xyzw": [0.5, -0.5, 0.5, 0.5]}


def section(confidence: str = "off", **front) -> dict:
    return {"cameras": ["front", "rear"], "stamp_tolerance": 0.05, "max_wait": 60.0, "confidence": confidence,
            "front": {"image_topic": "/front/image_raw", "lidar_topic": "/front/points", "intrinsics": INTRINSICS,
                      "lidar_to_camera": LIDAR_TO_CAMERA} | front,
            "rear": {"image_topic": "/rear/image_raw/compressed", "lidar_topic": "/rear/points",
                     "camera_info_topic": "/rear/camera_info", "lidar_to_camera": LIDAR_TO_CAMERA,
                     "output_topic": "/rear/semantic_points"}}


def make_node(checkpoint, **painting) -> tuple[SegmentationNode, MemoryTransport]:
    params = with_changes(NodeParams(), {"checkpoint": str(checkpoint), "image_topics": ["/front/image_raw"],
                                         "compressed_image_topics": ["/rear/image_raw/compressed"]})
    transport = MemoryTransport()
    node = SegmentationNode(params, transport, logging.getLogger("test"), painting=painting_params(section(**painting)))
    node.active = True  # as start() makes it, with the test's thread doing the work
    return node, transport


def lidar_points(count: int = 400, seed: int = 0) -> np.ndarray:
    """Points ahead of the LiDAR (x forward), most of them in the camera's view."""
    rng = np.random.default_rng(seed)
    return np.stack([rng.uniform(2, 20, count), rng.uniform(-15, 15, count), rng.uniform(-6, 6, count)], 1)


def cloud_msg(seconds: float, points: np.ndarray | None = None) -> PointCloud2:
    points = lidar_points() if points is None else points
    return build_cloud(Header(Time.from_seconds(seconds), "lidar"), points, None, np.linspace(0, 1, len(points)))


def segment(node: SegmentationNode, transport: MemoryTransport, seconds: float) -> np.ndarray:
    """Send a front frame stamped ``seconds`` through the node; its class mask."""
    transport.callbacks["/front/image_raw"](image_msg(rgb_frame(HEIGHT, WIDTH), stamp=Time.from_seconds(seconds).key()))
    assert node.process(node.frames.take_all(0.1)) == 1
    mask = transport.publishers["/front/segmentation/class_mask"].messages[-1]
    return np.asarray(mask.data).reshape(HEIGHT, WIDTH)


def counts(node: SegmentationNode, topic: str) -> dict:
    return node.figures()[topic]


def test_painting_parameters_are_checked_and_every_problem_named():
    params = painting_params(section())
    front = params.cameras[0]
    assert (front.name, front.lidar_topic, params.confidence_type) == ("front", "/front/points", None)
    np.testing.assert_allclose(front.lidar_to_camera[:3, :3] @ [1, 0, 0], [0, 0, 1], atol=1e-12)  # forward -> z
    assert painting_params(None) == PaintingParams()
    bad = section(confidence="float16", lidar_topic="/9points", intrinsics=dict(INTRINSICS, k=[0.0] * 9))
    bad["rear"]["intrinsics"] = INTRINSICS  # and camera_info_topic: both
    bad["stamp_tolerance"] = -1
    with pytest.raises(ValueError) as caught:
        painting_params(bad)
    message = str(caught.value)
    for problem in ("painting.confidence must be one of off, float32, uint8", "painting.front.lidar_topic",
                    "focal length", "painting.rear: give either camera_info_topic or intrinsics",
                    "painting.stamp_tolerance"):
        assert problem in message, message
    with pytest.raises(ValueError, match="painting.front is missing"):
        painting_params({"cameras": ["front"]})
    # the section as YAML nests it and as ROS flattens it (painting.<name>) reads the same
    own, nested = split_painting({"steps": 2, "painting": {"cameras": ["a"]}, "painting.a.lidar_topic": "/p"})
    assert own == {"steps": 2} and nested == {"cameras": ["a"], "a": {"lidar_topic": "/p"}}


def test_a_cloud_is_painted_with_the_nearest_mask_and_keeps_its_header(checkpoint):
    node, transport = make_node(checkpoint, confidence="uint8")
    out = transport.publishers["/front/segmentation/painted_points"]
    assert painted_topic("/front/image_raw", "segmentation") == "/front/segmentation/painted_points"
    masks = {seconds: segment(node, transport, seconds) for seconds in (10.0, 10.1, 10.2)}
    cloud = cloud_msg(10.09)  # nearest: 10.1
    node.on_cloud("front", cloud)
    assert node.painter.paint_ready() == 1
    painted = out.messages[-1]
    assert painted.header == cloud.header and (painted.height, painted.width) == (1, 400)
    assert [f.name for f in painted.fields] == ["x", "y", "z", "intensity", "label", "confidence"]
    points = read_cloud(painted).points
    params = painting_params(section())
    expected = paint_points(lidar_points(), masks[10.1], PinholeCamera.from_camera_info(INTRINSICS),
                            params.cameras[0].lidar_to_camera)
    np.testing.assert_array_equal(points["label"], expected.labels)
    assert expected.visible.sum() > 100 and (points["label"][~expected.visible] == 255).all()
    np.testing.assert_array_equal(points["intensity"], np.linspace(0, 1, 400, dtype=np.float32))
    assert counts(node, "/front/points")["frames_out"] == 1


def test_a_cloud_before_its_mask_waits_for_it(checkpoint):
    node, transport = make_node(checkpoint)
    segment(node, transport, 20.0)
    node.on_cloud("front", cloud_msg(20.5))
    assert node.painter.paint_ready() == 0  # the mask at 20.5 may still come
    mask = segment(node, transport, 20.51)
    assert node.painter.paint_ready() == 1
    labels = read_cloud(transport.publishers["/front/segmentation/painted_points"].messages[-1]).points["label"]
    np.testing.assert_array_equal(labels, paint_points(lidar_points(), mask, PinholeCamera.from_camera_info(INTRINSICS),
                                                       node.painter.params.cameras[0].lidar_to_camera).labels)


def test_bad_clouds_and_camera_infos_are_skipped_with_a_counter_and_painting_goes_on(checkpoint):
    node, transport = make_node(checkpoint)
    out = transport.publishers["/front/segmentation/painted_points"]
    segment(node, transport, 30.0)
    no_xyz = PointCloud2(Header(Time(30, 0)), 1, 2, [PointField("intensity", 0, 7)], False, 4, 8, bytes(8), True)
    node.on_cloud("front", no_xyz)
    node.on_cloud("front", cloud_msg(5.0))  # no mask near it
    points = lidar_points()
    points[:7] = np.nan
    node.on_cloud("front", cloud_msg(30.0, points))
    assert node.painter.paint_ready() == 1
    labels = read_cloud(out.messages[-1]).points["label"]
    assert (labels[:7] == 255).all() and (labels[7:] != 255).any()
    front = counts(node, "/front/points")
    assert front["bad_input.no_xyz"] == 1 and front["bad_input.no_matching_mask"] == 1
    assert front["note.nan_points"] == 7 and front["frames_out"] == 1 and front["frames_pending"] == 0
    # the rear camera's intrinsics come from its topic: none yet, then a zero focal length, then a good one
    transport.callbacks["/rear/image_raw/compressed"](_jpeg(31.0))
    node.process(node.frames.take_all(0.1))
    node.on_cloud("rear", cloud_msg(31.0))
    assert node.painter.paint_ready() == 0
    transport.callbacks["/rear/camera_info"](CameraInfo.from_dict(dict(INTRINSICS, k=[0.0] * 9)))
    transport.callbacks["/rear/camera_info"](CameraInfo.from_dict(INTRINSICS))
    node.on_cloud("rear", cloud_msg(31.0))
    assert node.painter.paint_ready() == 1
    assert transport.publishers["/rear/semantic_points"].messages[-1].header.stamp == Time(31, 0)
    assert counts(node, "/rear/points")["bad_input.no_camera_info"] == 1
    info = counts(node, "/rear/camera_info")
    assert info["bad_input.unusable_camera_info"] == 1 and info["frames_out"] == 1


def test_nobody_listening_means_no_painting_and_an_unknown_camera_stops_start_up(checkpoint):
    node, transport = make_node(checkpoint)
    for topic in ("class_mask", "color_mask", "overlay", "painted_points"):
        transport.publishers[f"/front/segmentation/{topic}"].subscribers = 0
    transport.callbacks["/front/image_raw"](image_msg(rgb_frame(HEIGHT, WIDTH)))
    assert node.process(node.frames.take_all(0.1)) == 0
    transport.publishers["/front/segmentation/painted_points"].subscribers = 1  # the cloud alone needs the mask
    transport.callbacks["/front/image_raw"](image_msg(rgb_frame(HEIGHT, WIDTH), stamp=(40, 0)))
    assert node.process(node.frames.take_all(0.1)) == 1
    assert not transport.publishers["/front/segmentation/class_mask"].messages
    node.on_cloud("front", cloud_msg(40.0))
    assert node.painter.paint_ready() == 1
    params = with_changes(NodeParams(), {"checkpoint": str(checkpoint), "image_topics": ["/side/image_raw"]})
    with pytest.raises(StartupError, match="painting: camera topic /front/image_raw.* not one of the node.s image_topics"):
        SegmentationNode(params, MemoryTransport(), painting=painting_params(section()))


def _jpeg(seconds: float):
    import cv2

    from cicld_ros.messages.records import CompressedImage

    ok, data = cv2.imencode(".jpg", rgb_frame(HEIGHT, WIDTH))
    return CompressedImage(Header(Time.from_seconds(seconds), "rear"), "jpeg", data.tobytes())


def flattened(values: dict, prefix: str = "") -> dict:
    """Nested parameter-file values as ROS names them: painting.camera.lidar_topic."""
    out = {}
    for key, value in values.items():
        out |= flattened(value, f"{prefix}{key}.") if isinstance(value, dict) else {f"{prefix}{key}": value}
    return out


def test_the_painting_section_reads_the_same_from_the_file_and_as_ros_parameters():
    """config/painting.yaml through the DDS node's reader and through ROS's declare-then-get."""
    import yaml

    from cicld_ros.segmentation.painting_params import declared_painting, read_node_files
    from test_node_core import REPO

    from cicld_ros.ros_rules.ros_params import load_rcl_yaml

    files = [REPO / "config/segment.yaml", REPO / "config/painting.yaml"]
    own, from_file = read_node_files(files)
    assert "painting" not in own and from_file.cameras[0].camera_info_topic == "camera/camera_info"
    overrides = flattened(load_rcl_yaml(files[1].read_text())["/**"]["ros__parameters"])
    declared = {}

    def declare(name, default):  # rclpy: an override of another type than the default's is refused
        value = overrides.get(name, default)
        assert type(value) is type(default) and (not isinstance(value, list) or
                                                 {type(v) for v in value} <= {type(v) for v in default}), name
        return declared.setdefault(name, value)

    from_ros = declared_painting(declare)
    assert from_ros == from_file
    assert "painting.camera.intrinsics.k" in declared  # declared, left at its default: no inline intrinsics
    inline = section()["front"]
    overrides = {"painting.cameras": ["front"]} | flattened(inline, "painting.front.")
    assert declared_painting(lambda name, default: overrides.get(name, default)).cameras[0].intrinsics.k == INTRINSICS["k"]
