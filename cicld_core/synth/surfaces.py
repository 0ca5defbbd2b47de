"""The 3D surface behind each drawn shape, in street coordinates (metres; x right, y up
from the road, z forward; the origin on the road below the camera). Shapes are drawn as
2D polygons; their surface gives the depth of every pixel they cover, which is what the
depth map and the simulated LiDAR are sampled from.

A ray through a pixel is the set of points (a z, h - b z, z) for z > 0, with
a = (u - cx) / f, b = (v - horizon) / f and h the camera height; both surfaces below
return the z at which that ray meets them (inf where it never does).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Plane:
    """The points p with normal . p = offset."""
    normal: tuple[float, float, float]
    offset: float

    @staticmethod
    def through(p0, p1, p2) -> "Plane":
        """The plane through three points (a sloped roof)."""
        p0, p1, p2 = (np.asarray(p, float) for p in (p0, p1, p2))
        normal = np.cross(p1 - p0, p2 - p0)
        return Plane((float(normal[0]), float(normal[1]), float(normal[2])), float(normal @ p0))


@dataclass(frozen=True)
class Box:
    """An axis-aligned box; a ray meets it where it enters (its nearest face)."""
    x0: float
    x1: float
    y0: float
    y1: float
    z0: float
    z1: float


GROUND = Plane((0.0, 1.0, 0.0), 0.0)


def plane_depth(normal: np.ndarray, offset: np.ndarray, a: np.ndarray, b: np.ndarray, cam_height: float) -> np.ndarray:
    """z where the rays (a, b) meet the planes (normal (N, 3), offset (N,)); inf when the
    plane is behind the camera or parallel to the ray."""
    denom = normal[..., 0] * a - normal[..., 1] * b + normal[..., 2]
    with np.errstate(divide="ignore", invalid="ignore"):
        z = (offset - normal[..., 1] * cam_height) / denom
    return np.where(np.isfinite(z) & (z > 0), z, np.inf)


def box_depth(bounds: np.ndarray, a: np.ndarray, b: np.ndarray, cam_height: float) -> np.ndarray:
    """z where the rays (a, b) enter the boxes (bounds (N, 6): x0 x1 y0 y1 z0 z1): the
    largest of the three slabs' entry depths. A ray that just misses a box (the raster
    covers whole pixels, the box does not) gets the depth of the nearest face's plane."""
    with np.errstate(divide="ignore", invalid="ignore"):
        # x = a z lies in [x0, x1]; y = h - b z lies in [y0, y1]
        x_near = np.minimum(bounds[..., 0] / a, bounds[..., 1] / a)
        y_near = np.minimum((cam_height - bounds[..., 2]) / b, (cam_height - bounds[..., 3]) / b)
    x_near = np.where(np.isfinite(x_near), x_near, -np.inf)  # a ray parallel to a slab: that slab does not limit it
    y_near = np.where(np.isfinite(y_near), y_near, -np.inf)
    z = np.maximum(np.maximum(x_near, y_near), bounds[..., 4])
    return np.where(z > 0, z, np.inf)
