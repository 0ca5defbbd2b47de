"""Depth, LiDAR and calibration of a rendered frame, from its Z pass and its labels (numpy
only). The LiDAR sits at the camera's optical centre, rigidly mounted with it (so pitched
with it), as in the 2D generator (``synth/sensors.py``): a beam inside the image returns
from the surface seen at its pixel, at that pixel's depth, and carries that pixel's trainId;
a beam outside the image returns from the road plane when it points at it (trainId 255);
the sky returns nothing. The files are the ones ``synth.write_sensors`` writes."""
from __future__ import annotations

import numpy as np

from ...labels import IGNORE_INDEX, TRAIN_ID_BY_NAME
from ..sensors import LIDAR_TO_CAMERA_ROTATION, LidarScan, LidarSpec, SensorFrame, lidar_to_camera

# intensity (share of the beam sent back) per class: a coarse stand-in for the materials
REFLECTIVITY_BY_CLASS = {"road": 0.12, "sidewalk": 0.25, "building": 0.3, "wall": 0.3, "fence": 0.3, "pole": 0.4,
                         "traffic light": 0.5, "traffic sign": 0.9, "vegetation": 0.45, "terrain": 0.4, "person": 0.25,
                         "rider": 0.25, "car": 0.35, "truck": 0.35, "bus": 0.35, "train": 0.35, "motorcycle": 0.3,
                         "bicycle": 0.3}
_REFLECTIVITY = np.full(256, 0.25, np.float32)
for _name, _value in REFLECTIVITY_BY_CLASS.items():
    _REFLECTIVITY[TRAIN_ID_BY_NAME[_name]] = _value


def camera_up(pitch_deg: float) -> np.ndarray:
    """The world's up direction in the optical frame (x right, y down, z forward) of a camera
    pitched down by ``pitch_deg``."""
    p = np.radians(pitch_deg)
    return np.array([0.0, -np.cos(p), -np.sin(p)])


def camera_info(k: np.ndarray, size: tuple[int, int]) -> dict:
    w, h = size
    return {"width": int(w), "height": int(h), "distortion_model": "plumb_bob", "d": [0.0] * 5, "k": k.ravel().tolist(),
            "r": np.eye(3).ravel().tolist(), "p": np.concatenate([k, np.zeros((3, 1))], 1).ravel().tolist(),
            "binning_x": 0, "binning_y": 0}


def pixels_of(k: np.ndarray, size: tuple[int, int], optical: np.ndarray):
    """(row, col, inside) of optical-frame directions or points (N, 3)."""
    w, h = size
    z = optical[:, 2]
    with np.errstate(divide="ignore", invalid="ignore"):
        u = k[0, 0] * optical[:, 0] / z + k[0, 2]
        v = k[1, 1] * optical[:, 1] / z + k[1, 2]
        col, row = np.floor(u + 0.5), np.floor(v + 0.5)
        inside = (z > 0) & (col >= 0) & (col < w) & (row >= 0) & (row < h)
    return np.where(inside, row, 0).astype(np.int64), np.where(inside, col, 0).astype(np.int64), inside


def simulate_lidar(depth: np.ndarray, train_ids: np.ndarray, k: np.ndarray, pitch_deg: float, height_m: float,
                   spec: LidarSpec) -> LidarScan:
    h, w = depth.shape
    directions, rings = spec.directions()
    optical = directions @ LIDAR_TO_CAMERA_ROTATION.T
    row, col, inside = pixels_of(k, (w, h), optical)
    rng_m = np.full(len(directions), np.inf)
    rng_m[inside] = depth[row[inside], col[inside]] / optical[inside, 2]
    up = camera_up(pitch_deg)
    facing = optical @ up
    down = ~inside & (facing < 0)
    rng_m[down] = height_m / -facing[down]
    keep = np.isfinite(rng_m) & (rng_m >= spec.range_m[0]) & (rng_m <= spec.range_m[1])
    points = (directions[keep] * rng_m[keep, None]).astype(np.float32)
    labels = np.where(inside, train_ids[row, col], IGNORE_INDEX)[keep].astype(np.uint8)
    # a float32 point may round onto a neighbouring pixel: drop those few, so every return's
    # range and label come from the pixel it projects to
    row32, col32, inside32 = pixels_of(k, (w, h), points.astype(np.float64) @ LIDAR_TO_CAMERA_ROTATION.T)
    same = (inside32 == inside[keep]) & (~inside32 | ((row32 == row[keep]) & (col32 == col[keep])))
    return LidarScan(points[same], _REFLECTIVITY[labels[same]], rings[keep][same].copy(), labels[same])


def sensor_frame(depth: np.ndarray, train_ids: np.ndarray, k: np.ndarray, pitch_deg: float, height_m: float,
                 spec: LidarSpec) -> SensorFrame:
    h, w = depth.shape
    lidar = simulate_lidar(depth, train_ids, k, pitch_deg, height_m, spec)
    return SensorFrame(np.where(np.isfinite(depth), depth, np.nan).astype(np.float32), lidar, camera_info(k, (w, h)),
                       lidar_to_camera(), height_m, spec)
