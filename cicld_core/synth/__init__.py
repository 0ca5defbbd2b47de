"""Procedural driving scenes with exact labels, in a synthetic-looking ``source`` style
and a camera-looking ``target`` style, written in the real GTA5, Synthia and Cityscapes
file layouts. Used by tests, demos and the domain-adaptation benchmark.

    frame = generate_frame(seed=0, index=3, size=(1024, 512), style="target", split="val")
    write_frame("data/synth_cs", "cityscapes", "val", 3, frame)

With ``lidar=LidarSpec()`` a frame also carries its depth map, a simulated LiDAR scan
with per-point trainIds, its CameraInfo and the LiDAR-to-camera extrinsic
(``sensors.py``; ``sensor_files.py`` writes and reads them). They draw no random
numbers, so the image and labels are the same with or without them.

The same (seed, split, index, size, style, version) gives byte-identical frames.

``version`` is the benchmark version. In version 1 the street does not depend on the
style (both styles of one seed show the same scene; only the rendering differs). In
version 2 the target style also changes what is in the scene: camera, class frequencies,
object shapes and sizes, road layout, colours and weather (``styles.py`` lists every
difference); its source style is version 1's, frame for frame. The Python API defaults
to version 1 because the shipped checkpoint and the figures measured on it are version 1;
the CLI and the benchmark preparation default to ``DEFAULT_VERSION`` (2).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..sizes import MAX_SIZE, MIN_SIZE, check_size  # noqa: F401 - part of this package's API
from .layouts import CITIES, LAYOUTS, image_relpath, write_frame, write_split_list
from .render import STYLES, render_image
from .scene import APPEARANCE_STREAM, GEOMETRY_STREAM, SPLIT_CODES, build_scene, frame_rng, make_camera, rasterise, sample_layout
from .sensor_files import read_sensors, write_sensors
from .sensors import LidarSpec, SensorFrame, generate_sensors
from .styles import DEFAULT_VERSION, VERSIONS, ContentStyle, check_version, content_style

# The benchmark version is the generator version: a change that makes the same seed give
# other frames must become a new version, never change an existing one.
GENERATOR_VERSION = str(DEFAULT_VERSION)
SPLITS = tuple(SPLIT_CODES)


@dataclass
class SynthFrame:
    image: np.ndarray  # (H, W, 3) RGB uint8
    train_ids: np.ndarray  # (H, W) uint8, trainIds 0..18, 255 ignore
    instance_ids: np.ndarray  # (H, W) int32, 0 = not an instance, else unique in the frame
    sensors: SensorFrame | None = None  # depth, LiDAR and calibration, when asked for


def generate_frame(seed: int, index: int, size: tuple[int, int], style: str, split: str = "train",
                   version: int = 1, lidar: LidarSpec | None = None) -> SynthFrame:
    """Frame ``index`` of the stream (seed, split) of benchmark ``version``; ``size`` is (width, height).
    With ``lidar``, also its sensors (depth, a scan of that LiDAR, calibration)."""
    size = check_size(size)
    if style not in STYLES:
        raise ValueError(f"style must be one of {STYLES}, got {style!r}")
    content = content_style(check_version(version), style)
    geometry = frame_rng(seed, split, index, GEOMETRY_STREAM)
    layout = sample_layout(geometry, content)
    camera = make_camera(layout, size)
    raster = rasterise(build_scene(layout, camera, geometry, content), size, camera.horizon)
    image = render_image(raster, style, frame_rng(seed, split, index, APPEARANCE_STREAM), version)
    sensors = generate_sensors(raster, camera, lidar) if lidar is not None else None
    return SynthFrame(image=image, train_ids=raster.train_ids, instance_ids=raster.instance_ids, sensors=sensors)


__all__ = [
    "CITIES", "ContentStyle", "DEFAULT_VERSION", "GENERATOR_VERSION", "VERSIONS", "content_style", "LAYOUTS", "LidarSpec", "SPLITS", "STYLES",
    "SensorFrame", "SynthFrame", "check_size", "generate_frame", "image_relpath", "read_sensors", "write_frame", "write_sensors",
    "write_split_list",
]
