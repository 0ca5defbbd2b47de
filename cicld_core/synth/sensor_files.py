"""The files ``python -m cicld_core.synth ... --lidar`` writes beside each frame's image,
and their reader. ``<frame>`` is the image file's stem (without ``_leftImg8bit`` in the
Cityscapes layout), so a frame's sensors are found from its image name:

    lidar/<split>/<frame>.bin     float32 (N, 4): x, y, z (metres, LiDAR frame: x forward,
                                  y left, z up) and intensity (0..1), one row per return
                                  in firing order (the KITTI velodyne layout)
    lidar/<split>/<frame>.label   uint8 (N,): each return's ground-truth trainId, 255 where
                                  the camera does not see it
    lidar/<split>/<frame>.ring    uint16 (N,): the beam that fired it, 0 = lowest
    depth/<split>/<frame>.npy     float32 (H, W): depth along the optical axis in metres at
                                  each pixel centre, NaN where there is no surface (sky,
                                  the ego vehicle's bonnet)
    calib/<split>/<frame>.json    camera_info: sensor_msgs/CameraInfo fields (width, height,
                                  distortion_model, d, k, r, p, binning_x, binning_y);
                                  lidar_to_camera: matrix (4x4, p_camera = T p_lidar),
                                  translation and rotation_xyzw (a tf transform with parent
                                  frames.camera and child frames.lidar); lidar: the beam
                                  pattern; camera_height_m

Every file is written atomically (a temporary file renamed into place).
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..io import DataError, atomic_path, write_json
from .layouts import image_relpath
from .sensors import SensorFrame, calibration_record


def frame_name(layout: str, split: str, index: int) -> str:
    return Path(image_relpath(layout, split, index)).stem.removesuffix("_leftImg8bit")


def sensor_paths(root: str | os.PathLike, layout: str, split: str, index: int) -> dict[str, Path]:
    root, name = Path(root), frame_name(layout, split, index)
    return {
        "points": root / "lidar" / split / f"{name}.bin", "labels": root / "lidar" / split / f"{name}.label",
        "ring": root / "lidar" / split / f"{name}.ring", "depth": root / "depth" / split / f"{name}.npy",
        "calib": root / "calib" / split / f"{name}.json",
    }


def _write_array(path: Path, array: np.ndarray) -> None:
    with atomic_path(path) as tmp:
        if path.suffix == ".npy":
            np.save(tmp, array)
        else:
            array.tofile(tmp)


def write_sensors(root: str | os.PathLike, layout: str, split: str, index: int, sensors: SensorFrame) -> dict[str, Path]:
    """Write one frame's LiDAR scan, depth map and calibration; returns the paths."""
    paths = sensor_paths(root, layout, split, index)
    scan = sensors.lidar
    _write_array(paths["points"], np.concatenate([scan.points, scan.intensity[:, None]], 1).astype("<f4"))
    _write_array(paths["labels"], scan.train_ids.astype(np.uint8))
    _write_array(paths["ring"], scan.ring.astype("<u2"))
    _write_array(paths["depth"], sensors.depth.astype(np.float32))
    write_json(paths["calib"], calibration_record(sensors))
    return paths


@dataclass
class SensorFiles:
    """One frame's sensor files, read back."""
    points: np.ndarray  # (N, 3) float32, LiDAR frame
    intensity: np.ndarray  # (N,) float32
    train_ids: np.ndarray  # (N,) uint8
    ring: np.ndarray  # (N,) uint16
    depth: np.ndarray  # (H, W) float32
    camera_info: dict
    lidar_to_camera: np.ndarray  # (4, 4)


def read_sensors(root: str | os.PathLike, layout: str, split: str, index: int) -> SensorFiles:
    paths = sensor_paths(root, layout, split, index)
    for path in paths.values():
        if not path.is_file():
            raise DataError(f"sensor file not found: {path} (generate the data with --lidar)")
    points = np.fromfile(paths["points"], "<f4")
    if points.size % 4:
        raise DataError(f"{paths['points']} holds {points.size} floats, not rows of 4 (x, y, z, intensity)")
    points = points.reshape(-1, 4)
    labels, ring = np.fromfile(paths["labels"], np.uint8), np.fromfile(paths["ring"], "<u2")
    if not len(labels) == len(ring) == len(points):
        raise DataError(f"{paths['points'].parent}: {len(points)} points but {len(labels)} labels and {len(ring)} rings")
    calib = json.loads(paths["calib"].read_text())
    return SensorFiles(points[:, :3], points[:, 3], labels, ring, np.load(paths["depth"]), calib["camera_info"],
                       np.asarray(calib["lidar_to_camera"]["matrix"], np.float64))
