"""Painting a label mask onto LiDAR points: the pinhole + plumb_bob projection against
hand-computed points and cv2.projectPoints, points the camera cannot see, bad input, and
the torch path against the numpy one."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from cicld_core.labels import IGNORE_INDEX
from cicld_core.painting import PinholeCamera, lidar_to_camera_matrix, paint_points, project_points

K = np.array([[500.0, 0.0, 320.0], [0.0, 400.0, 240.0], [0.0, 0.0, 1.0]])
D = np.array([-0.3, 0.12, 0.001, -0.002, -0.02])  # k1 k2 t1 t2 k3, a typical wide lens
CAMERA = PinholeCamera(640, 480, K, np.zeros(5))
DISTORTED = PinholeCamera(640, 480, K, D)


def test_pinhole_projection_of_hand_computed_points():
    points = np.array([[0.0, 0.0, 5.0], [1.0, 0.0, 2.0], [0.0, -1.0, 4.0], [-2.0, 1.0, 10.0]])
    uv, valid = project_points(points, CAMERA)
    # u = fx x / z + cx, v = fy y / z + cy
    np.testing.assert_allclose(uv, [[320, 240], [570, 240], [320, 140], [220, 280]])
    assert valid.all()


def test_plumb_bob_by_hand_and_against_opencv():
    x, y = 0.2, -0.1  # a point at z = 1
    r2 = x * x + y * y
    k1, k2, t1, t2, k3 = D
    radial = 1 + k1 * r2 + k2 * r2 ** 2 + k3 * r2 ** 3
    xd = x * radial + 2 * t1 * x * y + t2 * (r2 + 2 * x * x)
    yd = y * radial + t1 * (r2 + 2 * y * y) + 2 * t2 * x * y
    uv, _ = project_points(np.array([[x, y, 1.0]]), DISTORTED)
    np.testing.assert_allclose(uv[0], [500 * xd + 320, 400 * yd + 240], atol=1e-9)
    rng = np.random.default_rng(0)
    points = np.stack([rng.uniform(-3, 3, 500), rng.uniform(-2, 2, 500), rng.uniform(2, 30, 500)], 1)
    ours, valid = project_points(points, DISTORTED)
    reference, _ = cv2.projectPoints(points, np.zeros(3), np.zeros(3), K, D)
    assert valid.all()
    np.testing.assert_allclose(ours, reference[:, 0], atol=1e-6)


def test_points_the_camera_cannot_see_are_unlabelled():
    mask = np.full((480, 640), 7, np.uint8)
    points = np.array([
        [0.0, 0.0, 5.0],  # centre: seen
        [0.0, 0.0, -5.0],  # behind the camera
        [0.0, 0.0, 0.0],  # at the camera centre
        [10.0, 0.0, 1.0],  # in front but far outside the image
        [np.nan, 0.0, 5.0], [0.0, np.inf, 5.0],  # broken returns
        [50.0, 0.0, 1.0],  # beyond the lens model's valid radius: it must not fold back in
    ])
    for camera in (CAMERA, DISTORTED):
        painted = paint_points(points, mask, camera)
        assert painted.labels.tolist() == [7] + [IGNORE_INDEX] * 6
        assert painted.pixels[0].tolist() == [320, 240] and (painted.pixels[1:] == -1).all()


def test_pixel_centres_are_at_integer_coordinates():
    mask = np.zeros((480, 640), np.uint8)
    mask[240, 321] = 1  # the pixel whose centre is u = 321
    # u = 320.5 + e reads pixel 321, u = 320.5 - e pixel 320; u = 639.6 is off the right edge
    xs = np.array([0.5 + 1e-6, 0.5 - 1e-6, 319.6]) / 500 * 5
    painted = paint_points(np.stack([xs, np.zeros(3), np.full(3, 5.0)], 1), mask, CAMERA)
    assert painted.labels.tolist() == [1, 0, IGNORE_INDEX]


def test_the_extrinsic_moves_points_into_the_camera_frame():
    mask = np.arange(480 * 640, dtype=np.int64).reshape(480, 640).astype(np.uint8)
    lidar_points = np.array([[5.0, -1.0, 0.5], [8.0, 2.0, -1.0]])  # x forward, y left, z up
    # A LiDAR 0.3 m above and 0.5 m behind the camera, axes x forward, y left, z up
    rotation = np.array([[0.0, -1.0, 0.0], [0.0, 0.0, -1.0], [1.0, 0.0, 0.0]])
    transform = lidar_to_camera_matrix(rotation, translation=(0.0, -0.3, -0.5))
    np.testing.assert_allclose(lidar_to_camera_matrix(quaternion_xyzw=(0.5, -0.5, 0.5, 0.5), translation=(0.0, -0.3, -0.5)),
                               transform, atol=1e-12)
    in_camera = lidar_points @ rotation.T + [0.0, -0.3, -0.5]
    painted = paint_points(lidar_points, mask, CAMERA, transform)
    expected = paint_points(in_camera, mask, CAMERA)
    assert painted.labels.tolist() == expected.labels.tolist()
    assert painted.pixels[0].tolist() == [round(320 + 500 * 1.0 / 4.5), round(240 + 400 * (-0.5 - 0.3) / 4.5)]


def test_confidence_is_read_at_the_same_pixels():
    mask = np.zeros((480, 640), np.uint8)
    confidence = np.full((480, 640), 0.25, np.float32)
    confidence[240, 320] = 0.9
    painted = paint_points(np.array([[0.0, 0.0, 3.0], [0.0, 0.0, -3.0], [0.1, 0.0, 3.0]]), mask, CAMERA, confidence=confidence)
    np.testing.assert_allclose(painted.confidence, [0.9, 0.0, 0.25])


@pytest.mark.parametrize("info, message", [
    ({"width": 640, "height": 480, "k": [0.0] * 9, "d": [], "distortion_model": "plumb_bob"}, "focal length"),
    ({"width": 640, "height": 480, "k": K.ravel().tolist(), "d": [0.1, 0.0, 0.0], "distortion_model": "plumb_bob"},
     "5 coefficients"),
    ({"width": 640, "height": 480, "k": K.ravel().tolist(), "d": [0.1] * 4, "distortion_model": "equidistant"},
     "not supported"),
    ({"width": 0, "height": 480, "k": K.ravel().tolist(), "d": [], "distortion_model": ""}, "image size"),
    ({"width": 640, "height": 480, "k": [np.nan] * 9, "d": [], "distortion_model": "plumb_bob"}, "NaN"),
])
def test_bad_camera_info_is_refused_with_the_reason(info, message):
    with pytest.raises(ValueError, match=message):
        PinholeCamera.from_camera_info(info)


def test_mask_of_another_camera_or_bad_points_are_refused():
    with pytest.raises(ValueError, match="CameraInfo says 480x640"):
        paint_points(np.zeros((3, 3)), np.zeros((240, 320), np.uint8), CAMERA)
    with pytest.raises(ValueError, match=r"\(N, 3\)"):
        paint_points(np.zeros((3, 2)), np.zeros((480, 640), np.uint8), CAMERA)


def test_camera_info_message_objects_work_like_dicts():
    class Info:  # what rclpy hands over: attributes, arrays for k and d
        width, height, distortion_model = 640, 480, "plumb_bob"
        k, d = K.ravel(), D

    assert np.array_equal(PinholeCamera.from_camera_info(Info()).d, D)


def test_torch_gives_the_numpy_labels():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(1)
    points = np.stack([rng.uniform(-20, 20, 4000), rng.uniform(-5, 5, 4000), rng.uniform(-10, 40, 4000)], 1)
    points[::97] = np.nan
    mask = rng.integers(0, 19, (480, 640)).astype(np.uint8)
    confidence = rng.random((480, 640)).astype(np.float32)
    for camera in (CAMERA, DISTORTED):
        a = paint_points(points, mask, camera, confidence=confidence)
        b = paint_points(torch.as_tensor(points), torch.as_tensor(mask), camera, confidence=confidence, device="cpu")
        # float32 against float64: a point within ~1e-4 px of a pixel border may read the neighbour
        assert (a.labels != b.labels).mean() < 1e-3
        assert (a.visible == b.visible).mean() > 0.999 and a.visible.sum() > 500
        same = a.labels == b.labels
        np.testing.assert_allclose(a.confidence[same & a.visible & b.visible], b.confidence[same & a.visible & b.visible])


def test_speed_benchmark_runs_and_reports(tmp_path, capsys):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
    import painting_speed

    out = tmp_path / "speed.json"
    assert painting_speed.main(["--points", "2000", "--size", "64x32", "--repeats", "2", "--devices", "numpy", "cpu",
                                "--json", str(out)]) == 0
    report = json.loads(out.read_text())
    assert set(report["results"]) == {"numpy", "cpu"} and report["results"]["numpy"]["median_ms"] > 0
    assert "median of 2" in capsys.readouterr().out
