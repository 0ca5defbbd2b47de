"""Depth and a simulated spinning LiDAR, sampled from the same scene as the image, with
the CameraInfo and the LiDAR-to-camera extrinsic that relate them.

The LiDAR's optical centre is the camera's (a co-located sensor): a return is where the
beam meets the surface of the shape drawn at the beam's pixel, so the camera sees every
return that falls in its image, occlusion included, and each such return carries exactly
that pixel's trainId. (With an offset between the sensors some returns would be hidden
from the camera behind a nearer object, and their painted label would be the occluder's.)
Only the axes differ: the LiDAR frame follows REP 103 (x forward, y left, z up), the
camera's optical frame x right, y down, z forward; the extrinsic is that rotation.

Beams that leave the image (the scene is modelled only inside the camera's view) return
from the flat road plane when they point down, with trainId 255: they exist, so a
painter must leave them unlabelled. Sky and the ego vehicle's bonnet return nothing.

Nothing here draws random numbers, so the image and labels of a frame do not change
when its sensors are generated.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from ..labels import IGNORE_INDEX
from .builder import Shape
from .camera import Camera
from .materials import Mat
from .raster import Raster
from .surfaces import Box, Plane, box_depth, plane_depth

# p_camera = LIDAR_TO_CAMERA_ROTATION @ p_lidar: optical x = -lidar y, y = -lidar z, z = lidar x.
LIDAR_TO_CAMERA_ROTATION = np.array([[0.0, -1.0, 0.0], [0.0, 0.0, -1.0], [1.0, 0.0, 0.0]])
# The same rotation as a tf quaternion (x, y, z, w): /tf_static with parent (header.frame_id)
# the camera's optical frame and child the LiDAR.
LIDAR_TO_CAMERA_QUATERNION_XYZW = (0.5, -0.5, 0.5, 0.5)
CAMERA_FRAME, LIDAR_FRAME = "camera_optical_frame", "lidar"
DEPTH_ROWS_PER_CHUNK = 128  # bounds the temporary arrays of the depth map at large sizes

# Share of the beam's energy a material sends back: paint and markings are bright, glass
# and tyres dark, the rest in between. The LiDAR's intensity channel (no range falloff).
REFLECTIVITY = {Mat.MARKING: 0.8, Mat.SIGN: 0.9, Mat.SIGN_BORDER: 0.9, Mat.TAIL_LIGHT: 0.85, Mat.HEAD_LIGHT: 0.85,
                Mat.LAMP_RED: 0.6, Mat.LAMP_AMBER: 0.6, Mat.LAMP_GREEN: 0.6, Mat.GLASS: 0.05, Mat.TYRE: 0.04,
                Mat.ROAD: 0.12, Mat.RAIL: 0.5, Mat.CAR_PAINT: 0.35, Mat.BUS_PAINT: 0.35, Mat.TRAIN_PAINT: 0.35,
                Mat.MOTO_PAINT: 0.35, Mat.FOLIAGE: 0.45, Mat.TERRAIN: 0.4, Mat.WINDOW: 0.08}
DEFAULT_REFLECTIVITY = 0.25


@dataclass(frozen=True)
class LidarSpec:
    """A spinning multi-beam LiDAR: ``beams`` lasers at elevations spread evenly over
    ``elevation_deg``, each fired ``azimuth_steps`` times per turn (0 = straight ahead,
    counter-clockwise seen from above)."""
    beams: int = 32
    elevation_deg: tuple[float, float] = (-25.0, 15.0)
    azimuth_steps: int = 1800
    range_m: tuple[float, float] = (0.5, 120.0)

    def __post_init__(self) -> None:
        if self.beams < 1 or self.azimuth_steps < 1:
            raise ValueError(f"a LiDAR needs at least one beam and one azimuth step, got {self.beams} and {self.azimuth_steps}")
        if not -90 < self.elevation_deg[0] <= self.elevation_deg[1] < 90:
            raise ValueError(f"elevations must lie in (-90, 90) degrees, low to high, got {self.elevation_deg}")
        if not 0 < self.range_m[0] < self.range_m[1]:
            raise ValueError(f"range must be (min, max) metres with 0 < min < max, got {self.range_m}")

    def directions(self) -> tuple[np.ndarray, np.ndarray]:
        """Unit beam directions (N, 3) in the LiDAR frame in firing order (azimuth by
        azimuth, each firing all beams bottom to top), and each one's beam index (ring)."""
        elevation = np.radians(np.linspace(*self.elevation_deg, self.beams))
        azimuth = 2 * np.pi * np.arange(self.azimuth_steps) / self.azimuth_steps
        elevation, azimuth = np.meshgrid(elevation, azimuth)
        directions = np.stack([np.cos(elevation) * np.cos(azimuth), np.cos(elevation) * np.sin(azimuth), np.sin(elevation)], -1)
        rings = np.broadcast_to(np.arange(self.beams, dtype=np.uint16), elevation.shape)
        return directions.reshape(-1, 3), rings.reshape(-1)


@dataclass
class LidarScan:
    points: np.ndarray  # (N, 3) float32 metres in the LiDAR frame
    intensity: np.ndarray  # (N,) float32 in 0..1
    ring: np.ndarray  # (N,) uint16 beam index, 0 = lowest
    train_ids: np.ndarray  # (N,) uint8 ground truth, 255 outside the camera's image


@dataclass
class SensorFrame:
    depth: np.ndarray  # (H, W) float32 metres along the optical axis, NaN where nothing (sky, ego bonnet)
    lidar: LidarScan
    camera_info: dict  # sensor_msgs/CameraInfo fields
    lidar_to_camera: np.ndarray  # (4, 4) p_camera = T @ p_lidar
    cam_height_m: float
    lidar_spec: LidarSpec


class SurfaceTable:
    """Every shape's surface as arrays, for vectorised ray casting."""
    NONE, PLANE, BOX = 0, 1, 2

    def __init__(self, shapes: list[Shape]) -> None:
        count = len(shapes)
        self.kind = np.zeros(count, np.int8)
        self.plane = np.zeros((count, 4))  # normal x y z, offset
        self.box = np.zeros((count, 6))
        self.reflectivity = np.full(count, DEFAULT_REFLECTIVITY, np.float32)
        for i, shape in enumerate(shapes):
            self.reflectivity[i] = REFLECTIVITY.get(Mat(shape.material), DEFAULT_REFLECTIVITY)
            surface = shape.surface
            if isinstance(surface, Plane):
                self.kind[i] = self.PLANE
                self.plane[i] = (*surface.normal, surface.offset)
            elif isinstance(surface, Box):
                self.kind[i] = self.BOX
                self.box[i] = (surface.x0, surface.x1, surface.y0, surface.y1, surface.z0, surface.z1)

    def depth(self, shape: np.ndarray, a: np.ndarray, b: np.ndarray, cam_height: float) -> np.ndarray:
        """z where the rays (a, b) (see surfaces.py) meet the surface of ``shape``; inf where
        the shape has none or the ray never meets it."""
        z = np.full(a.shape, np.inf)
        kind = self.kind[shape]
        on_plane, on_box = kind == self.PLANE, kind == self.BOX
        plane = self.plane[shape[on_plane]]
        z[on_plane] = plane_depth(plane[:, :3], plane[:, 3], a[on_plane], b[on_plane], cam_height)
        z[on_box] = box_depth(self.box[shape[on_box]], a[on_box], b[on_box], cam_height)
        return z


def depth_map(raster: Raster, camera: Camera, table: SurfaceTable | None = None) -> np.ndarray:
    """(H, W) float32 depth (optical z, metres) at every pixel centre, NaN where nothing."""
    table = table or SurfaceTable(raster.shapes)
    height, width = raster.index.shape
    a = (np.arange(width) - camera.cx) / camera.focal
    depth = np.empty((height, width), np.float32)
    for top in range(0, height, DEPTH_ROWS_PER_CHUNK):
        rows = np.arange(top, min(top + DEPTH_ROWS_PER_CHUNK, height))
        b = (rows - camera.horizon) / camera.focal
        aa, bb = np.broadcast_to(a, (len(rows), width)).ravel(), np.repeat(b, width)
        z = table.depth(raster.index[rows].ravel(), aa, bb, camera.height_m)
        depth[rows] = np.where(np.isfinite(z), z, np.nan).reshape(len(rows), width)
    return depth


def pixel_of(camera: Camera, points_camera: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(row, column, inside) of optical-frame points, by the generator's own camera model
    (the painter's projection is independent code, which the tests compare with)."""
    x, y, z = (points_camera[:, i].astype(np.float64) for i in range(3))
    with np.errstate(divide="ignore", invalid="ignore"):
        u = camera.cx + x * (camera.focal / z)
        v = camera.horizon + y * (camera.focal / z)
        col, row = np.floor(u + 0.5), np.floor(v + 0.5)
        inside = (z > 0) & (col >= 0) & (col < camera.width) & (row >= 0) & (row < camera.height)
    return np.where(inside, row, 0).astype(np.int64), np.where(inside, col, 0).astype(np.int64), inside


def simulate_lidar(raster: Raster, camera: Camera, spec: LidarSpec = LidarSpec(),
                   table: SurfaceTable | None = None) -> LidarScan:
    """One turn of ``spec``'s LiDAR through the scene of ``raster`` (see the module text)."""
    table = table or SurfaceTable(raster.shapes)
    directions, rings = spec.directions()
    optical = directions @ LIDAR_TO_CAMERA_ROTATION.T
    row, col, in_image = pixel_of(camera, optical)
    shape = raster.index[row, col]
    # Range along each beam: to the surface drawn at its pixel, or (outside the image) to the road plane.
    rng_m = np.full(len(directions), np.inf)
    with np.errstate(divide="ignore", invalid="ignore"):
        a, b = optical[in_image, 0] / optical[in_image, 2], optical[in_image, 1] / optical[in_image, 2]
        rng_m[in_image] = table.depth(shape[in_image], a, b, camera.height_m) / optical[in_image, 2]
        down = ~in_image & (directions[:, 2] < 0)
        rng_m[down] = camera.height_m / -directions[down, 2]
    keep = (rng_m >= spec.range_m[0]) & (rng_m <= spec.range_m[1])
    points = (directions[keep] * rng_m[keep, None]).astype(np.float32)
    shape_train_ids = np.array([s.train_id for s in raster.shapes], np.uint8)
    train_ids = np.where(in_image, shape_train_ids[shape], IGNORE_INDEX)[keep]
    reflectivity = np.where(in_image, table.reflectivity[shape], REFLECTIVITY[Mat.ROAD])[keep]
    # float32 storage moves a point by ~1e-4 px; the rare return that lands on another
    # pixel than its beam's is dropped, so every point's range and label come from one pixel.
    row32, col32, in_image32 = pixel_of(camera, points @ LIDAR_TO_CAMERA_ROTATION.T)
    same_pixel = (in_image32 == in_image[keep]) & (~in_image32 | ((row32 == row[keep]) & (col32 == col[keep])))
    return LidarScan(points[same_pixel], reflectivity[same_pixel].astype(np.float32), rings[keep][same_pixel].copy(),
                     train_ids[same_pixel].astype(np.uint8))


def camera_info(camera: Camera) -> dict:
    """The frame's sensor_msgs/CameraInfo fields (no header): an ideal pinhole, plumb_bob
    with zero coefficients, identity rectification and P = [K | 0]."""
    k = camera.intrinsics
    return {
        "width": camera.width, "height": camera.height, "distortion_model": "plumb_bob",
        "d": [0.0] * 5, "k": k.ravel().tolist(), "r": np.eye(3).ravel().tolist(),
        "p": np.concatenate([k, np.zeros((3, 1))], 1).ravel().tolist(),
        "binning_x": 0, "binning_y": 0,
    }


def lidar_to_camera() -> np.ndarray:
    transform = np.eye(4)
    transform[:3, :3] = LIDAR_TO_CAMERA_ROTATION
    return transform


def generate_sensors(raster: Raster, camera: Camera, spec: LidarSpec = LidarSpec()) -> SensorFrame:
    table = SurfaceTable(raster.shapes)
    return SensorFrame(depth_map(raster, camera, table), simulate_lidar(raster, camera, spec, table), camera_info(camera),
                       lidar_to_camera(), camera.height_m, spec)


def calibration_record(sensors: SensorFrame) -> dict:
    """What ``calib/<split>/<frame>.json`` holds."""
    return {
        "camera_info": sensors.camera_info,
        "lidar_to_camera": {"matrix": sensors.lidar_to_camera.tolist(), "translation": [0.0, 0.0, 0.0],
                            "rotation_xyzw": list(LIDAR_TO_CAMERA_QUATERNION_XYZW)},
        "frames": {"camera": CAMERA_FRAME, "lidar": LIDAR_FRAME},  # tf parent, child
        "lidar": {**asdict(sensors.lidar_spec), "points": int(len(sensors.lidar.points))},
        "camera_height_m": sensors.cam_height_m,
    }
