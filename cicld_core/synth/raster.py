"""The rasteriser: shapes painted in order into one per-pixel shape index, from which the
labels, the colours and the depth are all looked up (so they agree by construction)."""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from .builder import Shape

# Sub-pixel precision of the rasteriser (cv2 ``shift``): polygons keep 1/16 px vertices.
SUBPIXEL_BITS = 4
# Vertices are clipped to this many pixels so their fixed-point values fit in int32.
MAX_VERTEX_PX = 1e6


@dataclass
class Raster:
    """The painted scene: which shape is visible at each pixel, and per-shape attributes."""
    index: np.ndarray  # (H, W) int32 shape index
    shapes: list[Shape]
    horizon: float  # pixel row, for the sky's haze

    def lut(self, values: np.ndarray) -> np.ndarray:
        return np.take(values, self.index, axis=0)  # several times faster than values[index]

    @property
    def train_ids(self) -> np.ndarray:
        return self.lut(np.array([s.train_id for s in self.shapes], np.uint8))

    @property
    def instance_ids(self) -> np.ndarray:
        return self.lut(np.array([s.instance for s in self.shapes], np.int32))


def rasterise(shapes: list[Shape], size: tuple[int, int], horizon: float) -> Raster:
    """Paint the shapes in order into an index map, without anti-aliasing."""
    width, height = size
    index = np.zeros((height, width), np.int32)
    # Shapes wholly off screen are skipped: a polygon may have vertices far outside.
    for i, shape in enumerate(shapes):
        pts = shape.points
        flat = pts.reshape(-1, 2)
        lo, hi = flat.min(0), flat.max(0)
        pad = shape.thickness
        if hi[0] < -pad or lo[0] > width + pad or hi[1] < -pad or lo[1] > height + pad:
            continue
        if lo.min() < -MAX_VERTEX_PX or hi.max() > MAX_VERTEX_PX:
            pts = np.clip(pts, -MAX_VERTEX_PX, MAX_VERTEX_PX)
        fixed = np.round(pts * (1 << SUBPIXEL_BITS)).astype(np.int32)
        if pts.ndim == 3:
            cv2.fillPoly(index, list(fixed), i, cv2.LINE_8, SUBPIXEL_BITS)
        elif shape.thickness > 0:
            cv2.polylines(index, [fixed], shape.closed, i, max(1, int(round(shape.thickness))), cv2.LINE_8, SUBPIXEL_BITS)
        elif shape.convex:
            cv2.fillConvexPoly(index, fixed, i, cv2.LINE_8, SUBPIXEL_BITS)
        else:
            cv2.fillPoly(index, [fixed], i, cv2.LINE_8, SUBPIXEL_BITS)
    return Raster(index, shapes, horizon)
