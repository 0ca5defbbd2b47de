"""Semantic point clouds: a camera's label mask painted onto LiDAR points (PointPainting).

Each point is moved into the camera's optical frame (x right, y down, z forward) by the
LiDAR-to-camera extrinsic, projected with the pinhole model and ``plumb_bob`` distortion
as OpenCV and ROS CameraInfo define it (k1 k2 t1 t2 k3), and takes the label of the pixel
it lands on. Pixel centres are at integer coordinates (OpenCV's convention), so a point
at (u, v) reads pixel (round(u), round(v)) with halves rounded up.

A point gets label 255 (``IGNORE_INDEX``) when it is NaN or infinite, behind the camera
(z <= 0), beyond the radius where the distortion polynomial stops growing (there a lens
model folds far-off points back into the image), or lands outside the image.

Everything is vectorised: numpy on the CPU, or torch on a device when one is given (the
node passes its model's device); both give the same labels up to float rounding at
pixel borders (numpy computes in float64, torch in float32).

    camera = PinholeCamera.from_camera_info(info)              # a dict or a CameraInfo message
    painted = paint_points(points, mask, camera, lidar_to_camera)
    painted.labels                                              # (N,) uint8
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from .labels import IGNORE_INDEX

PLUMB_BOB = "plumb_bob"
# Models that mean "no distortion" when their coefficients are all zero or absent.
NO_DISTORTION_MODELS = ("", "none", PLUMB_BOB, "rational_polynomial", "equidistant")


@dataclass(frozen=True)
class PinholeCamera:
    """Intrinsics of a camera as in sensor_msgs/CameraInfo: K (3x3) and plumb_bob D."""
    width: int
    height: int
    k: np.ndarray  # (3, 3)
    d: np.ndarray  # (5,) k1 k2 t1 t2 k3

    def __post_init__(self) -> None:
        k = np.asarray(self.k, np.float64).reshape(3, 3)
        d = np.zeros(5) if self.d is None or len(self.d) == 0 else np.asarray(self.d, np.float64).ravel()
        if d.shape != (5,):
            raise ValueError(f"plumb_bob distortion needs 5 coefficients (k1 k2 t1 t2 k3), got {d.size}")
        if not (np.isfinite(k).all() and np.isfinite(d).all()):
            raise ValueError("camera intrinsics hold NaN or infinite values: check the CameraInfo's K and D")
        if k[0, 0] <= 0 or k[1, 1] <= 0:
            raise ValueError(f"CameraInfo has focal length fx={k[0, 0]}, fy={k[1, 1]}: both must be > 0 "
                             f"(an uncalibrated camera publishes zeros; calibrate it or set the intrinsics in the parameter file)")
        if int(self.width) <= 0 or int(self.height) <= 0:
            raise ValueError(f"CameraInfo has image size {self.width}x{self.height}: both must be > 0")
        object.__setattr__(self, "k", k)
        object.__setattr__(self, "d", d)
        object.__setattr__(self, "width", int(self.width))
        object.__setattr__(self, "height", int(self.height))

    @classmethod
    def from_camera_info(cls, info: Any) -> "PinholeCamera":
        """From a CameraInfo message (rclpy or ``cicld_ros.messages.pointcloud.CameraInfo``) or a dict
        with its field names (width, height, distortion_model, d, k)."""
        get = info.get if isinstance(info, dict) else (lambda name, default=None: getattr(info, name, default))
        model = str(get("distortion_model", "") or "")
        d = get("d", None)
        d = np.zeros(0) if d is None else np.asarray(d, np.float64).ravel()
        if model != PLUMB_BOB:
            if model not in NO_DISTORTION_MODELS or np.any(d != 0):
                raise ValueError(f"distortion model {model!r} is not supported: use plumb_bob (k1 k2 t1 t2 k3) "
                                 f"or rectified images (all coefficients zero)")
            d = np.zeros(5)
        k = get("k", None)
        if k is None or np.size(k) != 9:
            raise ValueError(f"CameraInfo needs K as 9 numbers (3x3 row-major), got {k!r}")
        return cls(int(get("width", 0)), int(get("height", 0)), np.asarray(k, np.float64), d)

    @property
    def distorted(self) -> bool:
        return bool(np.any(self.d != 0))

    def max_valid_radius2(self) -> float:
        """The squared normalised radius up to which the radial polynomial r(1 + k1 r^2 +
        k2 r^4 + k3 r^6) still grows; beyond it the model folds points back inward."""
        k1, k2, _, _, k3 = self.d
        # d/dr of r (1 + k1 s + k2 s^2 + k3 s^3) with s = r^2: 1 + 3 k1 s + 5 k2 s^2 + 7 k3 s^3
        roots = np.roots([7 * k3, 5 * k2, 3 * k1, 1.0]) if (k1, k2, k3) != (0, 0, 0) else []
        positive = [r.real for r in np.atleast_1d(roots) if abs(r.imag) < 1e-12 and r.real > 0]
        return min(positive) if positive else np.inf


def lidar_to_camera_matrix(rotation: np.ndarray | None = None, translation=(0.0, 0.0, 0.0),
                           quaternion_xyzw=None) -> np.ndarray:
    """A 4x4 transform taking LiDAR-frame points to the camera's optical frame, from a
    3x3 rotation or a tf-style quaternion (x, y, z, w), and a translation in metres."""
    if (rotation is None) == (quaternion_xyzw is None):
        raise ValueError("give the LiDAR-to-camera rotation either as a 3x3 matrix or as a quaternion, not both")
    if quaternion_xyzw is not None:
        x, y, z, w = np.asarray(quaternion_xyzw, np.float64)
        norm = np.sqrt(x * x + y * y + z * z + w * w)
        if not np.isfinite(norm) or norm < 1e-9:
            raise ValueError(f"the extrinsic's quaternion {quaternion_xyzw} has no length")
        x, y, z, w = x / norm, y / norm, z / norm, w / norm
        rotation = np.array([[1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
                             [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
                             [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)]])
    transform = np.eye(4)
    transform[:3, :3] = np.asarray(rotation, np.float64).reshape(3, 3)
    transform[:3, 3] = np.asarray(translation, np.float64).reshape(3)
    return transform


def project_points(points_camera: np.ndarray, camera: PinholeCamera) -> tuple[np.ndarray, np.ndarray]:
    """Points in the optical frame (N, 3) -> pixel coordinates (N, 2) and a mask of the
    points the model can place (finite, in front, inside the lens's valid radius).
    Same formulas as cv2.projectPoints; invalid points get NaN coordinates."""
    points = np.asarray(points_camera, np.float64)
    u, v, valid = _project(points[:, 0], points[:, 1], points[:, 2], camera)
    uv = np.stack([u, v], 1)
    uv[~valid] = np.nan
    return uv, valid


def _project(x, y, z, camera: PinholeCamera, xp=np):
    """Pixel coordinates (u, v) and validity of optical-frame coordinates, in numpy or torch."""
    valid = xp.isfinite(x) & xp.isfinite(y) & (z > 0)  # NaN z fails z > 0
    xn, yn = x / z, y / z
    if camera.distorted:
        k1, k2, t1, t2, k3 = (float(c) for c in camera.d)
        r2 = xn * xn + yn * yn
        radial = 1 + r2 * (k1 + r2 * (k2 + r2 * k3))
        xy = xn * yn
        xn, yn = (xn * radial + 2 * t1 * xy + t2 * (r2 + 2 * xn * xn),
                  yn * radial + t1 * (r2 + 2 * yn * yn) + 2 * t2 * xy)
        valid &= r2 < camera.max_valid_radius2()
    k = camera.k
    u = float(k[0, 0]) * xn + float(k[0, 2]) if k[0, 1] == 0 else float(k[0, 0]) * xn + float(k[0, 1]) * yn + float(k[0, 2])
    v = float(k[1, 1]) * yn + float(k[1, 2])
    return u, v, valid


@dataclass
class PaintedPoints:
    labels: np.ndarray  # (N,) uint8 trainIds, IGNORE_INDEX where the camera does not see the point
    confidence: np.ndarray | None  # (N,) float32 in 0..1 (0 where unlabelled), when a confidence map was given
    pixels: np.ndarray  # (N, 2) int64 (column, row) of each labelled point, -1 elsewhere

    @property
    def visible(self) -> np.ndarray:
        return self.labels != IGNORE_INDEX


def paint_points(points: np.ndarray, mask: np.ndarray, camera: PinholeCamera, lidar_to_camera: np.ndarray | None = None,
                 confidence: np.ndarray | None = None, device: Any = None) -> PaintedPoints:
    """Label LiDAR points (N, 3) from a (H, W) uint8 trainId ``mask`` seen by ``camera``.

    ``lidar_to_camera`` (4x4) maps the points into the optical frame (identity when the
    points already are in it). ``confidence``: an optional (H, W) map in 0..1 read at the
    same pixels. ``device``: run on torch (e.g. "cuda:0" or "cpu") instead of numpy; the
    mask and confidence may then already be torch tensors on it."""
    if device is not None:
        return _paint_torch(points, mask, camera, lidar_to_camera, confidence, device)
    mask = np.asarray(mask)
    points = np.asarray(points)
    _check_shapes(points, mask, camera, confidence)
    # One contiguous float64 row per coordinate: column-wise arithmetic on (N, 3) rows
    # would stride through memory.
    x, y, z = np.ascontiguousarray(points.T, np.float64)
    if lidar_to_camera is not None:
        (r00, r01, r02, tx), (r10, r11, r12, ty), (r20, r21, r22, tz) = np.asarray(lidar_to_camera, np.float64)[:3].tolist()
        x, y, z = (r00 * x + r01 * y + r02 * z + tx, r10 * x + r11 * y + r12 * z + ty, r20 * x + r21 * y + r22 * z + tz)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        u, v, valid = _project(x, y, z, camera)
        cols, rows = np.floor(u + 0.5), np.floor(v + 0.5)
        valid &= (cols >= 0) & (cols < camera.width) & (rows >= 0) & (rows < camera.height)
    cols = np.where(valid, cols, -1).astype(np.int64)
    rows = np.where(valid, rows, -1).astype(np.int64)
    flat = np.where(valid, rows * camera.width + cols, 0)
    labels = np.where(valid, np.take(mask.reshape(-1), flat), np.uint8(IGNORE_INDEX)).astype(np.uint8, copy=False)
    point_confidence = None
    if confidence is not None:
        values = np.take(np.asarray(confidence, np.float32).reshape(-1), flat)
        point_confidence = np.where(valid, values, np.float32(0)).astype(np.float32, copy=False)
    return PaintedPoints(labels, point_confidence, np.stack([cols, rows], 1))


def _check_shapes(points, mask, camera: PinholeCamera, confidence) -> None:
    if points.ndim != 2 or points.shape[1] != 3:
        raise ValueError(f"points must be (N, 3) x, y, z, got shape {tuple(points.shape)}")
    if tuple(mask.shape) != (camera.height, camera.width):
        raise ValueError(f"the mask is {tuple(mask.shape)} (H, W) but the CameraInfo says {camera.height}x{camera.width}: "
                         f"paint with the CameraInfo of the camera that produced the mask")
    if confidence is not None and tuple(confidence.shape) != tuple(mask.shape):
        raise ValueError(f"confidence map {tuple(confidence.shape)} differs from the mask {tuple(mask.shape)}")


def _paint_torch(points, mask, camera: PinholeCamera, lidar_to_camera, confidence, device) -> PaintedPoints:
    import torch

    def tensor(value, dtype):
        if isinstance(value, torch.Tensor):
            return value.to(device=device, dtype=dtype)
        return torch.as_tensor(np.asarray(value), dtype=dtype, device=device)

    pts = tensor(points, torch.float32)
    mask_t = tensor(mask, torch.uint8)
    _check_shapes(pts, mask_t, camera, confidence)
    if lidar_to_camera is not None:
        transform = tensor(lidar_to_camera, torch.float32)
        pts = pts @ transform[:3, :3].T + transform[:3, 3]
    x, y, z = pts.unbind(1)
    u, v, valid = _project(x, y, z, camera, torch)
    cols, rows = torch.floor(u + 0.5), torch.floor(v + 0.5)
    valid &= (cols >= 0) & (cols < camera.width) & (rows >= 0) & (rows < camera.height)
    cols = torch.where(valid, cols, torch.full_like(cols, -1)).long()
    rows = torch.where(valid, rows, torch.full_like(rows, -1)).long()
    flat = (rows * camera.width + cols).clamp_min(0)
    labels = torch.where(valid, mask_t.reshape(-1)[flat], torch.full_like(flat, IGNORE_INDEX, dtype=torch.uint8))
    point_confidence = None
    if confidence is not None:
        values = tensor(confidence, torch.float32).reshape(-1)[flat]
        point_confidence = torch.where(valid, values, torch.zeros_like(values)).cpu().numpy()
    return PaintedPoints(labels.cpu().numpy(), point_confidence, torch.stack([cols, rows], 1).cpu().numpy())
