"""A rendered frame as a ``SynthFrame`` (image, trainIds, instance ids, sensors), the same
record the 2D renderer returns, so the dataset writers take it unchanged."""
from __future__ import annotations

import zlib

import numpy as np

from ...labels import TRAIN_ID_BY_NAME
from ...sizes import check_size
from .. import SynthFrame
from ..scene import SPLIT_CODES
from ..sensors import LidarSpec
from . import sensors
from .world import World, build_world

SKY = TRAIN_ID_BY_NAME["sky"]
FOG_COLOUR = np.array([200.0, 204.0, 208.0], np.float32)


def cycles_seed(seed: int, split: str, index: int) -> int:
    """Cycles' sampling seed of a frame: fixed by (seed, split, index), so a frame's pixel
    noise is the same on every run."""
    return zlib.crc32(f"{seed}/{SPLIT_CODES[split]}/{index}".encode()) & 0x7FFFFFFF


def labels_from_index(index: np.ndarray, table: list[tuple[int, int]]) -> tuple[np.ndarray, np.ndarray]:
    """(trainIds uint8, instance ids int32) of an object-index map: index 0 (no object) is sky."""
    train = np.array([SKY] + [t for t, _ in table[1:]], np.uint8)
    inst = np.array([0] + [i for _, i in table[1:]], np.int32)
    if index.min() < 0 or index.max() >= len(table):
        raise RuntimeError(f"object index pass holds {index.min()}..{index.max()}, outside the {len(table)} objects built")
    return np.take(train, index), np.take(inst, index)


def add_fog(image: np.ndarray, depth: np.ndarray, visibility_m: float) -> np.ndarray:
    """Blend toward a haze colour with distance (Koschmieder: contrast 5 % at the visibility);
    the sky fully."""
    keep = np.exp(-3.0 * np.where(np.isfinite(depth), depth, 1e6) / visibility_m).astype(np.float32)[..., None]
    return np.clip(image * keep + FOG_COLOUR * (1 - keep), 0, 255).round().astype(np.uint8)


def render_frame(session, seed: int, index: int, size: tuple[int, int], style: str, split: str = "train",
                 version: int = 2, lidar: LidarSpec | None = None):
    """Frame ``index`` of (seed, split) through Blender. ``session``: a ``cycles.Session``."""
    size = check_size(size)
    world: World = build_world(seed, split, index, style, version)
    table = session.build(world, size)
    passes = session.render(cycles_seed(seed, split, index))
    train_ids, instance_ids = labels_from_index(passes.index, table)
    image = passes.image
    if world.looks.fog_m is not None:
        image = add_fog(image, passes.depth, world.looks.fog_m)
    frame_sensors = None
    if lidar is not None:
        k = world.pose.intrinsics(size)
        frame_sensors = sensors.sensor_frame(passes.depth, train_ids, k, world.pose.pitch_deg, world.pose.height_m, lidar)
    return SynthFrame(image=image, train_ids=train_ids, instance_ids=instance_ids, sensors=frame_sensors)
