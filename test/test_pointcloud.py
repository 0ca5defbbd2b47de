"""PointCloud2 and CameraInfo for the semantic point cloud: the CDR bytes equal rosbags'
serialisation of the same message, clouds read back field by field, and clouds the node
cannot paint are refused with the reason (and a counter key)."""
from __future__ import annotations

import numpy as np
import pytest
from rosbags.typesys import Stores, get_typestore

from cicld_core.labels import IGNORE_INDEX
from cicld_core.painting import PinholeCamera, paint_points
from cicld_ros.messages import cdr
from cicld_ros.messages.pointcloud import (
    FLOAT32, FLOAT64, UINT8, UINT16, CameraInfo, PointCloud2, PointCloudError, PointField, RegionOfInterest, build_cloud,
    painted_cloud, read_cloud,
)
from cicld_ros.messages.records import Header, Time

STORE = get_typestore(Stores.ROS2_HUMBLE)
T = STORE.types


def rosbags_header(header: Header):
    return T["std_msgs/msg/Header"](stamp=T["builtin_interfaces/msg/Time"](sec=header.stamp.sec, nanosec=header.stamp.nanosec),
                                    frame_id=header.frame_id)


def rosbags_cloud(msg: PointCloud2):
    return T["sensor_msgs/msg/PointCloud2"](
        header=rosbags_header(msg.header), height=msg.height, width=msg.width,
        fields=[T["sensor_msgs/msg/PointField"](name=f.name, offset=f.offset, datatype=f.datatype, count=f.count) for f in msg.fields],
        is_bigendian=msg.is_bigendian, point_step=msg.point_step, row_step=msg.row_step,
        data=np.frombuffer(bytes(msg.data), np.uint8), is_dense=msg.is_dense)


def random_points(n: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).normal(0, 10, (n, 3)).astype(np.float32)


@pytest.mark.parametrize("frame_id,intensity,confidence", [
    ("lidar", True, "float32"), ("", False, None), ("velodyne_top", True, "uint8"), ("l", False, "float32"),
])
def test_semantic_cloud_cdr_equals_rosbags_and_round_trips(frame_id, intensity, confidence):
    n = 37
    xyz = random_points(n)
    labels = np.arange(n, dtype=np.uint8) % 19
    values = np.linspace(0, 1, n, dtype=np.float32)
    msg = build_cloud(Header(Time(12, 345), frame_id), xyz, labels, values if intensity else None,
                      values if confidence else None, confidence or "float32")
    ours = cdr.encode_pointcloud2(msg)
    assert bytes(ours) == bytes(STORE.serialize_cdr(rosbags_cloud(msg), "sensor_msgs/msg/PointCloud2"))
    reference = STORE.deserialize_cdr(ours, "sensor_msgs/msg/PointCloud2")
    assert [f.name for f in reference.fields] == ["x", "y", "z"] + (["intensity"] if intensity else []) + ["label"] + (
        ["confidence"] if confidence else [])
    assert reference.point_step % 4 == 0 and reference.row_step == n * reference.point_step and reference.is_dense
    back = read_cloud(cdr.decode_pointcloud2(ours))
    np.testing.assert_array_equal(back.xyz, xyz)
    np.testing.assert_array_equal(back.points["label"], labels)
    if intensity:
        np.testing.assert_array_equal(back.intensity, values)
    if confidence == "uint8":
        np.testing.assert_array_equal(back.points["confidence"], np.round(values * 255))
    elif confidence:
        np.testing.assert_array_equal(back.points["confidence"], values)


def test_camera_info_cdr_equals_rosbags_and_round_trips():
    for d in ([-0.3, 0.1, 0.001, -0.002, 0.0], []):
        info = CameraInfo(Header(Time(3, 4), "camera_optical_frame"), 1024, 2048, "plumb_bob", d,
                          [1000.0, 0, 1024, 0, 1000, 420, 0, 0, 1], [1.0, 0, 0, 0, 1, 0, 0, 0, 1],
                          [1000.0, 0, 1024, 0, 0, 1000, 420, 0, 0, 0, 1, 0], 0, 0, RegionOfInterest(1, 2, 3, 4, True))
        reference = STORE.serialize_cdr(T["sensor_msgs/msg/CameraInfo"](
            header=rosbags_header(info.header), height=1024, width=2048, distortion_model="plumb_bob",
            d=np.array(d, np.float64), k=np.array(info.k), r=np.array(info.r), p=np.array(info.p), binning_x=0, binning_y=0,
            roi=T["sensor_msgs/msg/RegionOfInterest"](x_offset=1, y_offset=2, height=3, width=4, do_rectify=True)),
            "sensor_msgs/msg/CameraInfo")
        assert bytes(cdr.encode_camera_info(info)) == bytes(reference)
        assert cdr.decode_camera_info(reference) == info
    # The decoded message feeds the painter as it is.
    assert PinholeCamera.from_camera_info(cdr.decode_camera_info(reference)).width == 2048


def test_camera_info_from_the_generators_calibration():
    info = CameraInfo.from_dict({"width": 256, "height": 128, "distortion_model": "plumb_bob", "d": [0.0] * 5,
                                 "k": [200.0, 0, 128, 0, 200, 50, 0, 0, 1]})
    assert info.p == [200.0, 0, 128, 0, 0, 200, 50, 0, 0, 0, 1, 0] and info.r == [1.0, 0, 0, 0, 1, 0, 0, 0, 1]
    assert len(cdr.encode_camera_info(info)) > 0


def lidar_cloud(xyz: np.ndarray, height: int = 1, extra=(), big_endian: bool = False) -> PointCloud2:
    """A driver-style cloud: x y z float32, intensity float32, ring uint16, padded to 32 bytes."""
    fields = [PointField("x", 0, FLOAT32), PointField("y", 4, FLOAT32), PointField("z", 8, FLOAT32),
              PointField("intensity", 16, FLOAT32), PointField("ring", 20, UINT16), *extra]
    order = ">" if big_endian else "<"
    dtype = np.dtype({"names": ["x", "y", "z", "intensity", "ring"], "formats": [order + "f4"] * 4 + [order + "u2"],
                      "offsets": [0, 4, 8, 16, 20], "itemsize": 32})
    points = np.zeros(len(xyz), dtype)
    points["x"], points["y"], points["z"] = xyz.T
    points["intensity"] = np.arange(len(xyz)) / len(xyz)
    width = len(xyz) // height
    return PointCloud2(Header(Time(7, 8), "lidar"), height, width, fields, big_endian, 32, 32 * width, points.tobytes(),
                       bool(np.isfinite(xyz).all()))


def test_painting_a_driver_cloud_keeps_its_points_rows_and_header():
    xyz = random_points(60)
    xyz[5] = np.nan  # an organised cloud marks missing returns with NaN
    source = lidar_cloud(xyz, height=3)
    cloud = read_cloud(source)
    assert cloud.xyz.shape == (60, 3) and not cloud.finite[5] and cloud.finite.sum() == 59
    camera = PinholeCamera(64, 48, np.array([[40.0, 0, 32], [0, 40, 24], [0, 0, 1]]), np.zeros(5))
    painted = paint_points(cloud.xyz, np.full((48, 64), 3, np.uint8), camera)
    out = painted_cloud(source, painted.labels, painted.confidence, cloud=cloud)
    assert (out.header, out.height, out.width, out.is_dense) == (source.header, 3, 20, False)
    back = read_cloud(cdr.decode_pointcloud2(cdr.encode_pointcloud2(out)))
    np.testing.assert_array_equal(back.xyz, cloud.xyz)
    np.testing.assert_array_equal(back.intensity, cloud.intensity)
    assert back.points["label"][5] == IGNORE_INDEX and set(back.points["label"]) <= {3, IGNORE_INDEX}


def test_big_endian_and_float64_clouds_are_read():
    xyz = random_points(10)
    np.testing.assert_array_equal(read_cloud(lidar_cloud(xyz, big_endian=True)).xyz, xyz)
    fields = [PointField("x", 0, FLOAT64), PointField("y", 8, FLOAT64), PointField("z", 16, FLOAT64)]
    data = xyz.astype("<f8").tobytes()
    np.testing.assert_array_equal(read_cloud(PointCloud2(Header(), 1, 10, fields, False, 24, 240, data)).xyz, xyz)


@pytest.mark.parametrize("change, reason, message", [
    (lambda c: setattr(c, "fields", [f for f in c.fields if f.name != "z"]), "no_xyz", "no z field"),
    (lambda c: setattr(c, "fields", []), "no_xyz", "fields: none"),
    (lambda c: setattr(c, "data", bytes(c.data)[:-1]), "truncated", "data holds"),
    (lambda c: setattr(c, "row_step", 8), "bad_layout", "row_step"),
    (lambda c: setattr(c, "point_step", 8), "bad_layout", "'z' .offset 8, 4 bytes. does not fit in point_step 8"),
    (lambda c: c.fields.append(PointField("label", 30, FLOAT32)), "bad_layout", "point_step"),
    (lambda c: c.fields.append(PointField("weird", 24, 11)), "bad_field", "datatype 11"),
    (lambda c: setattr(c.fields[0], "datatype", UINT8), "bad_field", "field x"),
])
def test_clouds_that_cannot_be_painted_name_the_problem(change, reason, message):
    cloud = lidar_cloud(random_points(8))
    change(cloud)
    with pytest.raises(PointCloudError, match=message) as error:
        read_cloud(cloud)
    assert error.value.reason == reason


def test_a_plain_lidar_cloud_for_recorded_drives():
    xyz = random_points(5)
    msg = build_cloud(Header(Time(1, 0), "lidar"), xyz, None, np.ones(5, np.float32))
    assert [f.name for f in msg.fields] == ["x", "y", "z", "intensity"] and msg.point_step == 16
    assert bytes(cdr.encode_pointcloud2(msg)) == bytes(STORE.serialize_cdr(rosbags_cloud(msg), "sensor_msgs/msg/PointCloud2"))


def test_build_cloud_checks_lengths():
    with pytest.raises(ValueError, match="4 points but 3 labels"):
        build_cloud(Header(), random_points(4), np.zeros(3, np.uint8))
    with pytest.raises(ValueError, match="do not form 3 rows"):
        build_cloud(Header(), random_points(4), np.zeros(4, np.uint8), height=3)
