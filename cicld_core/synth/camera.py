"""The pinhole camera of a generated frame: level (no roll, no pitch; the horizon row is
the principal point's row), square pixels, no lens distortion, placed ``height_m`` above
the road. Pixel centres sit at integer coordinates, as in OpenCV and ROS CameraInfo."""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from .street import StreetLayout

# Points nearer than this are drawn as if they were this near: polygons that reach behind
# the camera (the road under it) stay finite instead of flipping through infinity.
NEAREST_DRAWN_DEPTH_M = 0.3


@dataclass(frozen=True)
class Camera:
    width: int
    height: int
    focal: float  # pixels
    cx: float
    horizon: float  # pixel row of the horizon
    height_m: float  # camera height above the road

    def project(self, x: np.ndarray, y: np.ndarray, z: np.ndarray) -> np.ndarray:
        """Metric points (x right, y up from the road, z forward) -> (N, 2) pixels."""
        inv = self.focal / np.maximum(np.asarray(z, float), NEAREST_DRAWN_DEPTH_M)
        u = self.cx + np.asarray(x, float) * inv
        v = self.horizon + (self.height_m - np.asarray(y, float)) * inv
        out = np.empty((u.shape if u.shape == v.shape else np.broadcast_shapes(u.shape, v.shape)) + (2,))
        out[..., 0] = u
        out[..., 1] = v
        return out

    def pixels_per_metre(self, z: float) -> float:
        """How many pixels one metre spans at depth z (facing the camera)."""
        return self.focal / max(z, NEAREST_DRAWN_DEPTH_M)

    @property
    def intrinsics(self) -> np.ndarray:
        """The 3x3 matrix K of the optical frame (x right, y down, z forward)."""
        return np.array([[self.focal, 0.0, self.cx], [0.0, self.focal, self.horizon], [0.0, 0.0, 1.0]])


def make_camera(layout: "StreetLayout", size: tuple[int, int]) -> Camera:
    """The camera of ``layout`` at ``size`` (width, height): its fractions times the size."""
    width, height = size
    return Camera(width, height, focal=layout.focal_frac * width, cx=layout.cx_frac * width,
                  horizon=layout.horizon_frac * height, height_m=layout.cam_height)
