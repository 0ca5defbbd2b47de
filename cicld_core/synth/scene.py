"""Street-scene geometry: a random layout in metres, projected through a pinhole camera
into an ordered list of integer-rasterisable shapes, and the rasteriser that turns the
list into a per-pixel shape index.

Everything the renderer and the labels need is looked up from that one index map
(``shape -> class, instance, colour``), so the label is exact by construction: a pixel
shows the colour of the shape drawn last over it, and carries that shape's class.

The layout is drawn in metres from the geometry RNG stream only, and no random draw
depends on the output size or the style: the same (seed, split, index) gives the same
street at any size and in both styles. Sizes only change the projection.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from enum import IntEnum

import cv2
import numpy as np

from ..labels import IGNORE_INDEX, TRAIN_ID_BY_NAME
from .styles import V1_CONTENT, ContentStyle

SPLIT_CODES: dict[str, int] = {"train": 0, "val": 1}
GEOMETRY_STREAM = 0
APPEARANCE_STREAM = 1

T = TRAIN_ID_BY_NAME  # short alias: the builders below name classes constantly
INSTANCE_CLASSES = frozenset(T[n] for n in ("person", "rider", "car", "truck", "bus", "train", "motorcycle", "bicycle"))

# Sub-pixel precision of the rasteriser (cv2 ``shift``): polygons keep 1/16 px vertices.
SHIFT = 4
PARKING_W = 2.2


def frame_rng(seed: int, split: str, index: int, stream: int) -> np.random.Generator:
    """The RNG of one frame and stream; geometry and appearance never share draws."""
    if split not in SPLIT_CODES:
        raise ValueError(f"split must be one of {sorted(SPLIT_CODES)}, got {split!r}")
    if seed < 0 or index < 0:
        raise ValueError(f"seed and index must be >= 0, got seed={seed}, index={index}")
    return np.random.default_rng([seed, SPLIT_CODES[split], index, stream])


class Mat(IntEnum):
    """Surface materials: what the renderer colours and textures. Several per class."""
    SKY = 0
    ROAD = 1
    MARKING = 2
    RAIL = 3
    SIDEWALK = 4
    CURB = 5
    BUILDING = 6
    WINDOW = 7
    WALL = 8
    FENCE = 9
    FENCE_POST = 10
    POLE = 11
    LIGHT_BOX = 12
    LAMP_RED = 13
    LAMP_AMBER = 14
    LAMP_GREEN = 15
    SIGN = 16
    SIGN_BORDER = 17
    FOLIAGE = 18
    TRUNK = 19
    TERRAIN = 20
    SKIN = 21
    HAIR = 22
    TOP = 23
    BOTTOM = 24
    CAR_PAINT = 25
    GLASS = 26
    TYRE = 27
    TAIL_LIGHT = 28
    HEAD_LIGHT = 29
    CARGO = 30
    BUS_PAINT = 31
    TRAIN_PAINT = 32
    MOTO_PAINT = 33
    BIKE_FRAME = 34
    HOOD = 35
    FAR_BUILDING = 36


@dataclass
class Shape:
    """One filled polygon (or a polyline when ``thickness`` > 0) in pixel coordinates."""
    train_id: int
    material: int
    group: int  # the object it belongs to: shapes of a group share colour choices
    instance: int  # 0 for stuff classes
    points: np.ndarray  # (N, 2) float pixel coordinates, or (K, N, 2): K disjoint polygons
    convex: bool = True
    shade: float = 1.0  # flat-shading factor of the face (geometry, so shared by both styles)
    thickness: float = 0.0  # pixels; > 0 draws an open/closed polyline
    closed: bool = False


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
        inv = self.focal / np.maximum(np.asarray(z, float), 0.3)  # nothing is drawn behind the camera
        u = self.cx + np.asarray(x, float) * inv
        v = self.horizon + (self.height_m - np.asarray(y, float)) * inv
        out = np.empty((u.shape if u.shape == v.shape else np.broadcast_shapes(u.shape, v.shape)) + (2,))
        out[..., 0] = u
        out[..., 1] = v
        return out

    def scale(self, z: float) -> float:
        return self.focal / max(z, 0.3)


@dataclass(frozen=True)
class SideLayout:
    side: int  # -1 left, +1 right
    verge: float  # grass strip between road and sidewalk (0 = none)
    sidewalk: float
    setback: float  # front yard between sidewalk and buildings
    park: bool  # trees and lawn instead of a building row
    parking: bool  # a parking lane (part of the road) along the kerb


@dataclass(frozen=True)
class Layout:
    """The size-independent part of a scene: the street in metres and the camera pose."""
    horizon_frac: float
    focal_frac: float
    cx_frac: float
    cam_height: float
    lanes: int
    lane_w: float
    ego_lane: int  # counted from the left
    curvature: float
    sides: tuple[SideLayout, SideLayout]

    @property
    def road_w(self) -> float:
        return self.lanes * self.lane_w

    @property
    def c0(self) -> float:
        # Lateral position of the road centre relative to the camera at z = 0.
        return self.road_w / 2 - (self.ego_lane + 0.5) * self.lane_w

    def center(self, z):
        return self.c0 + 0.5 * self.curvature * np.square(z)

    def half_width(self, side: int) -> float:
        """Road centre to road edge on ``side``: the lanes plus a parking lane if any."""
        return self.road_w / 2 + (PARKING_W if self.sides[(side + 1) // 2].parking else 0.0)

    def lateral(self, side: int, d: float, z):
        """x of a line ``d`` metres outward from the road edge on ``side`` at depth z."""
        return self.center(z) + side * (self.half_width(side) + d)

    def lane_x(self, lane: int, z: float) -> float:
        return float(self.center(z)) - self.road_w / 2 + (lane + 0.5) * self.lane_w


def sample_layout(rng: np.random.Generator, content: ContentStyle = V1_CONTENT) -> Layout:
    C = content
    lanes = int(rng.choice(list(C.lane_choices)))
    park_side = int(rng.choice([-1, 0, 0, 0, 1]))
    sides = []
    for side in (-1, 1):
        verge = float(rng.uniform(0.8, 2.5)) if rng.random() < C.verge_prob else 0.0
        sides.append(SideLayout(
            side=side, verge=verge, sidewalk=float(rng.uniform(*C.sidewalk)),
            setback=float(rng.uniform(1.5, 6.0)) if rng.random() < C.setback_prob else 0.0,
            park=park_side == side, parking=bool(rng.random() < C.parking_prob),
        ))
    return Layout(
        horizon_frac=float(rng.uniform(*C.horizon_frac)), focal_frac=float(rng.uniform(*C.focal_frac)),
        cx_frac=float(rng.uniform(0.46, 0.54)), cam_height=float(rng.uniform(*C.cam_height)),
        lanes=lanes, lane_w=float(rng.uniform(*C.lane_w)), ego_lane=int(rng.integers(lanes // 2, lanes)),
        curvature=float(rng.uniform(-1, 1) * C.curvature), sides=(sides[0], sides[1]),
    )


def log_uniform(rng: np.random.Generator, lo: float, hi: float, n: int | None = None):
    """Depths drawn evenly in log z: objects spread evenly over on-screen sizes."""
    return np.exp(rng.uniform(np.log(lo), np.log(hi), n))


def circle(cx: float, cy: float, r: float, n: int = 12) -> np.ndarray:
    t = np.linspace(0, 2 * np.pi, n, endpoint=False)
    return np.stack([cx + r * np.cos(t), cy + r * np.sin(t)], -1)


# Painter's layers, back to front; within a layer props are drawn far to near. A layer
# is laterally farther from the road than the next, so it can never occlude it.
LAYER_SKY, LAYER_GROUND, LAYER_SKYLINE, LAYER_BUILDINGS, LAYER_PROPERTY, LAYER_STREET, LAYER_EGO = range(7)


@dataclass
class _Prop:
    layer: int
    depth: float
    shapes: list[Shape] = field(default_factory=list)


class SceneBuilder:
    """Collects props in metres, projects them, and orders them for painting."""

    def __init__(self, layout: Layout, camera: Camera, rng: np.random.Generator,
                 content: ContentStyle = V1_CONTENT) -> None:
        self.L, self.cam, self.rng, self.C = layout, camera, rng, content
        self.props: list[_Prop] = []
        self.n_groups = 0
        self.n_instances = 0

    # ---- bookkeeping -------------------------------------------------------------

    def prop(self, layer: int, depth: float) -> _Prop:
        p = _Prop(layer, depth)
        self.props.append(p)
        return p

    def new_group(self, train_id: int) -> tuple[int, int]:
        self.n_groups += 1
        instance = 0
        if train_id in INSTANCE_CLASSES:
            self.n_instances += 1
            instance = self.n_instances
        return self.n_groups, instance

    def add(self, p: _Prop, tid: int, mat: int, gi: tuple[int, int], pts: np.ndarray, *, convex: bool = True,
            shade: float = 1.0, thickness: float = 0.0, closed: bool = False) -> None:
        p.shapes.append(Shape(tid, int(mat), gi[0], gi[1], np.asarray(pts, float), convex, shade, thickness, closed))

    def ordered_shapes(self) -> list[Shape]:
        order = sorted(range(len(self.props)), key=lambda i: (self.props[i].layer, -self.props[i].depth, i))
        return [s for i in order for s in self.props[i].shapes]

    # ---- projection helpers -------------------------------------------------------

    def billboard(self, x: float, z: float, pts_m: np.ndarray) -> np.ndarray:
        """A flat upright shape at depth z: (dx, height) metres -> pixels."""
        cam = self.cam
        s = cam.scale(z)
        pts = np.array(pts_m, float) * [s, -s]
        pts += [cam.cx + s * x, cam.horizon + s * cam.height_m]
        return pts

    def box_hull(self, x0: float, x1: float, y0: float, y1: float, z0: float, z1: float) -> np.ndarray:
        z0, z1 = max(z0, 0.5), max(z1, 0.5)
        pts = self.cam.project([x0, x0, x0, x0, x1, x1, x1, x1], [y0, y0, y1, y1, y0, y0, y1, y1],
                               [z0, z1, z0, z1, z0, z1, z0, z1]).astype(np.float32)
        return cv2.convexHull(pts)[:, 0, :].astype(float)

    def quad_z(self, z: float, x0: float, x1: float, y0: float, y1: float) -> np.ndarray:
        """A rectangle facing the camera at depth z."""
        return self.cam.project([x0, x1, x1, x0], [y0, y0, y1, y1], [z] * 4)

    def quad_x(self, x: float, z0: float, z1: float, y0: float, y1: float) -> np.ndarray:
        """A rectangle on the plane x = const (a side face), z0 < z1."""
        return self.cam.project([x] * 4, [y0, y0, y1, y1], [z0, z1, z1, z0])

    def band(self, off0: float, off1: float, z0: float = 0.8, z1: float = 400.0) -> np.ndarray:
        """A ground strip following the road's curve, between lateral offsets from its centre."""
        zs = np.geomspace(z0, z1, 28)
        c = self.L.center(zs)
        return np.concatenate([self.cam.project(c + off0, 0.0, zs), self.cam.project(c + off1, 0.0, zs)[::-1]])

    def ground_strip(self, side: int, d0: float, d1: float, z0: float = 0.8, z1: float = 400.0) -> np.ndarray:
        """A strip from ``d0`` to ``d1`` metres outward of the road edge on ``side``."""
        edge = self.L.half_width(side)
        return self.band(side * (edge + d0), side * (edge + d1), z0, z1)

    def min_px(self, z: float, metres: float, minimum: float = 1.0) -> float:
        """A width in metres at depth z, in pixels, never thinner than ``minimum`` so thin
        things (poles) stay visible at small sizes."""
        return max(minimum / self.cam.scale(z), metres)


# ---- prop builders --------------------------------------------------------------------
# Each draws its random numbers in metres only; what a prop looks like in pixels comes
# from the camera, so the draws (and with them the whole street) do not depend on size.

def add_ground(b: SceneBuilder) -> None:
    L, cam, rng = b.L, b.cam, b.rng
    w, h = cam.width, cam.height
    big = 20.0 * (w + h)
    sky = b.prop(LAYER_SKY, 0.0)
    b.add(sky, T["sky"], Mat.SKY, b.new_group(T["sky"]), [[-big, -big], [w + big, -big], [w + big, h + big], [-big, h + big]])
    p = b.prop(LAYER_GROUND, 0.0)
    # Everything below the horizon starts as grass: what is not paved is lawn or verge.
    b.add(p, T["terrain"], Mat.TERRAIN, b.new_group(T["terrain"]),
          [[-big, cam.horizon], [w + big, cam.horizon], [w + big, h + big], [-big, h + big]])
    for s in L.sides:
        g = b.new_group(T["sidewalk"])
        outer = s.verge + s.sidewalk + (1.0 if s.setback == 0 and not s.park else 0.0)
        b.add(p, T["sidewalk"], Mat.SIDEWALK, g, b.ground_strip(s.side, s.verge, outer), convex=False)
        b.add(p, T["sidewalk"], Mat.CURB, g, b.ground_strip(s.side, -0.05, 0.22), convex=False)
    b.add(p, T["road"], Mat.ROAD, b.new_group(T["road"]), b.band(-L.half_width(-1), L.half_width(1)), convex=False)
    # Markings are road, as in Cityscapes; they give the road a texture cue in both styles.
    g = b.new_group(T["road"])
    for lane in range(1, L.lanes):
        centre_line = lane == L.lanes // 2 and L.lanes >= 2
        dash, period = (200.0, 200.0) if centre_line and rng.random() < 0.5 else (rng.uniform(2.5, 4.0), rng.uniform(8.0, 13.0))
        width = rng.uniform(0.1, 0.16)
        z = rng.uniform(0.5, period)
        while z < 140:
            z0, z1 = z, min(z + dash, 300.0)
            x0 = float(L.center(z0)) - L.road_w / 2 + lane * L.lane_w
            x1 = float(L.center(z1)) - L.road_w / 2 + lane * L.lane_w
            b.add(p, T["road"], Mat.MARKING, g,
                  cam.project([x0 - width / 2, x0 + width / 2, x1 + width / 2, x1 - width / 2], 0.0, [z0, z0, z1, z1]))
            z += period
    for s in L.sides:
        if rng.random() < 0.5:
            b.add(p, T["road"], Mat.MARKING, g, b.ground_strip(s.side, -0.45 - (PARKING_W if s.parking else 0.0),
                                                                -0.32 - (PARKING_W if s.parking else 0.0)), convex=False)
    if rng.random() < 0.3:
        zc = rng.uniform(7.0, 45.0)
        add_crosswalk(b, p, g, zc)


def add_crosswalk(b: SceneBuilder, p: _Prop, g: tuple[int, int], zc: float) -> None:
    L = b.L
    left, right = float(L.lateral(-1, 0.0, zc)), float(L.lateral(1, 0.0, zc))
    x = left + 0.3
    while x < right - 0.5:
        b.add(p, T["road"], Mat.MARKING, g, b.cam.project([x, x + 0.5, x + 0.5, x], 0.0, [zc, zc, zc + 3.0, zc + 3.0]))
        x += 1.0


def add_skyline(b: SceneBuilder) -> None:
    """The far end of the street: a row of building fronts or a tree line at the horizon."""
    rng = b.rng
    zb = rng.uniform(110.0, 220.0)
    kind = rng.choice(["buildings", "buildings", "buildings", "trees", "open"])
    x = -0.9 * zb
    while x < 0.9 * zb:
        width = rng.uniform(8.0, 35.0)
        height = rng.uniform(4.0, 32.0)
        skip = rng.random() < 0.15
        if kind == "buildings" and not skip:
            p = b.prop(LAYER_SKYLINE, zb)
            b.add(p, T["building"], Mat.FAR_BUILDING, b.new_group(T["building"]), b.quad_z(zb, x, x + width, -1.0, height))
        elif kind != "open" or not skip:
            p = b.prop(LAYER_SKYLINE, zb + 5.0)
            pts = blob(rng, 0.0, height * 0.35, width * 0.6, height * 0.45)
            if kind == "open":
                pts[:, 1] *= 0.5
            b.add(p, T["vegetation"], Mat.FOLIAGE, b.new_group(T["vegetation"]),
                  b.billboard(x + width / 2, zb + 5.0, pts), convex=False)
        x += width


def blob(rng: np.random.Generator, cx: float, cy: float, rx: float, ry: float, n: int = 14) -> np.ndarray:
    """An irregular closed outline (tree crown, bush): an ellipse with a wobbly radius."""
    t = np.linspace(0, 2 * np.pi, n, endpoint=False)
    r = rng.uniform(0.78, 1.12, n)
    return np.stack([cx + rx * r * np.cos(t), cy + ry * r * np.sin(t)], -1)


def add_building(b: SceneBuilder, side: int, d: float, z0: float, z1: float, height: float, depth: float) -> None:
    L, cam, rng = b.L, b.cam, b.rng
    zm = 0.5 * (z0 + z1)
    x_in = float(L.lateral(side, d, zm))
    x_out = x_in + side * depth
    z0 = max(z0, 1.0)
    floor_h = rng.uniform(2.8, 3.6)
    bay = rng.uniform(2.2, 4.0)
    win_w, win_h = rng.uniform(0.35, 0.7) * bay, rng.uniform(0.4, 0.65) * floor_h
    shop = rng.random() < 0.4
    p = b.prop(LAYER_BUILDINGS, z0)
    g = b.new_group(T["building"])
    b.add(p, T["building"], Mat.BUILDING, g, b.box_hull(min(x_in, x_out), max(x_in, x_out), 0.0, height, z0, z1), shade=0.9)
    b.add(p, T["building"], Mat.BUILDING, g, b.quad_z(z0, x_in, x_out, 0.0, height), shade=0.72)
    if b.C.roof_share > 0 and rng.random() < b.C.roof_share:  # no draw at all when a style has no roofs
        add_roof(b, p, g, x_in, x_out, z0, z1, height)
    # Windows on the facade facing the street: one vectorised projection for the grid.
    n_bays, n_floors = int((z1 - z0) // bay), int((height - 0.6) // floor_h)
    if n_bays < 1 or n_floors < 1:
        return
    zi, yi = np.meshgrid(np.arange(n_bays), np.arange(n_floors), indexing="ij")
    za = z0 + (zi.ravel() + 0.5) * bay - win_w / 2
    ya = yi.ravel() * floor_h + (floor_h - win_h) / 2 + 0.3
    wh = np.full_like(ya, win_h)
    if shop:  # tall shop windows on the ground floor
        ground = yi.ravel() == 0
        ya[ground], wh[ground] = 0.4, floor_h - 0.5
    zs = np.stack([za, za + win_w, za + win_w, za], 1)
    ys = np.stack([ya, ya, ya + wh, ya + wh], 1)
    quads = cam.project(np.full_like(zs, x_in), ys, zs)
    d1, d2 = quads[:, 2] - quads[:, 0], quads[:, 3] - quads[:, 1]
    area = np.abs(d1[:, 0] * d2[:, 1] - d1[:, 1] * d2[:, 0]) / 2
    # Windows under ~2 px are invisible anyway. The grid's quads never overlap, so they go
    # out as one multi-polygon shape: one fill call per facade instead of one per window.
    keep = (area >= 2.0) & (za >= z0)
    if keep.any():
        b.add(p, T["building"], Mat.WINDOW, g, quads[keep])


def add_roof(b: SceneBuilder, p: _Prop, g: tuple[int, int], x_in: float, x_out: float, z0: float, z1: float,
             height: float) -> None:
    """A pitched roof over a building: the gable on the near face and the slope toward the
    street, a silhouette flat-topped blocks never have."""
    rise = b.rng.uniform(2.0, 4.5)
    xm = 0.5 * (x_in + x_out)
    gable = b.cam.project([x_in, x_out, xm], [height, height, height + rise], [z0, z0, z0])
    slope = b.cam.project([x_in, x_in, xm, xm], [height, height, height + rise, height + rise], [z0, z1, z1, z0])
    b.add(p, T["building"], Mat.BUILDING, g, slope, shade=0.6)
    b.add(p, T["building"], Mat.BUILDING, g, gable, shade=0.8)


def add_tree(b: SceneBuilder, layer: int, x: float, z: float, size: float) -> None:
    rng = b.rng
    trunk_h = rng.uniform(1.8, 3.2) * size
    r = rng.uniform(1.3, 3.0) * size
    p = b.prop(layer, z)
    g = b.new_group(T["vegetation"])
    tw = b.min_px(z, 0.25 * size)
    b.add(p, T["vegetation"], Mat.TRUNK, g, b.billboard(x, z, [[-tw / 2, 0], [tw / 2, 0], [tw / 2, trunk_h + r * 0.5], [-tw / 2, trunk_h + r * 0.5]]))
    for _ in range(int(rng.integers(1, 4))):
        ox, oy = rng.uniform(-0.5, 0.5) * r, rng.uniform(0.6, 1.2) * r
        pts = blob(rng, ox, trunk_h + oy, r * rng.uniform(0.7, 1.0), r * rng.uniform(0.7, 1.0))
        b.add(p, T["vegetation"], Mat.FOLIAGE, g, b.billboard(x, z, pts), convex=False)


def add_segment_line(b: SceneBuilder, side: int, d: float, z0: float, z1: float, kind: str) -> None:
    """A wall, fence or hedge along the property line, cut into short props so that the
    painter's order stays right against the street objects in front of it."""
    L, rng = b.L, b.rng
    height = {"wall": rng.uniform(0.8, 2.6), "fence": rng.uniform(0.9, 2.0), "hedge": rng.uniform(0.7, 1.8)}[kind]
    thick = {"wall": 0.3, "fence": 0.06, "hedge": 0.9}[kind]
    tid, mat = {"wall": (T["wall"], Mat.WALL), "fence": (T["fence"], Mat.FENCE), "hedge": (T["vegetation"], Mat.FOLIAGE)}[kind]
    g = b.new_group(tid)
    post_gap = rng.uniform(1.8, 3.0)
    z = max(z0, 1.0)
    while z < z1:
        ze = min(z + 6.0, z1)
        x_in = float(L.lateral(side, d, 0.5 * (z + ze)))
        x_out = x_in + side * thick
        p = b.prop(LAYER_PROPERTY, z)
        b.add(p, tid, mat, g, b.box_hull(min(x_in, x_out), max(x_in, x_out), 0.0, height, z, ze), shade=0.9)
        b.add(p, tid, mat, g, b.quad_z(z, x_in, x_out, 0.0, height), shade=0.75)
        if kind == "fence":  # posts and a top rail: the lattice look that tells fence from wall
            zp = z
            while zp < ze:
                wz = max(0.12, 1.0 / b.cam.scale(zp))
                b.add(p, tid, Mat.FENCE_POST, g, b.quad_x(x_in, zp, zp + wz, 0.0, height + 0.08))
                zp += post_gap
            b.add(p, tid, Mat.FENCE_POST, g, b.quad_x(x_in, z, ze, height - 0.12, height + 0.02))
        z = ze


def add_side_structures(b: SceneBuilder, s: SideLayout) -> None:
    rng = b.rng
    d_prop = s.verge + s.sidewalk
    if not s.park:
        z = rng.uniform(-8.0, 2.0)
        while z < 170.0:
            if rng.random() < 0.18:
                z += rng.uniform(4.0, 14.0)
            length = rng.uniform(8.0, 32.0)
            C = b.C
            height = rng.uniform(*C.low_building_h) if rng.random() < C.low_building_share else rng.uniform(*C.tall_building_h)
            add_building(b, s.side, d_prop + s.setback + rng.uniform(0.0, 0.8), z, z + length, height, rng.uniform(8.0, 18.0))
            z += length
    else:
        z = rng.uniform(1.0, 8.0)
        while z < 120.0:
            add_tree(b, LAYER_BUILDINGS, float(b.L.lateral(s.side, d_prop + rng.uniform(2.0, 14.0), z)), z, rng.uniform(1.0, 1.6))
            z += rng.uniform(4.0, 12.0)
        z = rng.uniform(10.0, 40.0)
        while z < 170.0:
            length = rng.uniform(10.0, 30.0)
            add_building(b, s.side, d_prop + rng.uniform(22.0, 35.0), z, z + length, rng.uniform(8.0, 25.0), 12.0)
            z += length + rng.uniform(0.0, 20.0)
    # Walls, fences and hedges stand on the property line, in front of yards and parks.
    chances = (0.45, 0.45, 0.3) if (s.setback > 0 or s.park) else (0.25, 0.25, 0.1)
    for kind, chance in zip(("wall", "fence", "hedge"), chances):
        if rng.random() < chance:
            z0 = float(log_uniform(rng, 3.0, 60.0))
            add_segment_line(b, s.side, d_prop + 0.05, z0, z0 + rng.uniform(6.0, 45.0), kind)
    if s.verge > 0 and rng.random() < 0.25:  # a low railing along the grass verge
        z0 = rng.uniform(2.0, 30.0)
        add_segment_line(b, s.side, s.verge * 0.5, z0, z0 + rng.uniform(10.0, 60.0), "fence")


def add_pole(b: SceneBuilder, p: _Prop, g: tuple[int, int], x: float, z: float, height: float, width: float = 0.16) -> None:
    w = b.min_px(z, width)
    b.add(p, T["pole"], Mat.POLE, g, b.billboard(x, z, [[-w / 2, 0], [w / 2, 0], [w / 2, height], [-w / 2, height]]))


def add_sign(b: SceneBuilder, x: float, z: float) -> None:
    rng = b.rng
    p = b.prop(LAYER_STREET, z)
    pole_h = rng.uniform(1.9, 2.8)
    add_pole(b, p, b.new_group(T["pole"]), x, z, pole_h + 0.4, 0.08)
    g = b.new_group(T["traffic sign"])
    size = rng.uniform(0.55, 0.9)
    kind = rng.choice(["circle", "circle", "triangle", "down", "square", "rect", "octagon", "diamond"])
    back = rng.random() < 0.2  # seen from behind: a plain plate
    cy = pole_h + size / 2
    r = size / 2
    outline = {
        "circle": circle(0, cy, r, 16), "octagon": circle(0, cy, r, 8),
        "triangle": np.array([[-r, cy - r * 0.8], [r, cy - r * 0.8], [0, cy + r]]),
        "down": np.array([[-r, cy + r * 0.8], [r, cy + r * 0.8], [0, cy - r]]),
        "square": np.array([[-r, cy - r], [r, cy - r], [r, cy + r], [-r, cy + r]]),
        "rect": np.array([[-r * 1.5, cy - r * 0.6], [r * 1.5, cy - r * 0.6], [r * 1.5, cy + r * 0.6], [-r * 1.5, cy + r * 0.6]]),
        "diamond": np.array([[0, cy - r], [r, cy], [0, cy + r], [-r, cy]]),
    }[kind]
    b.add(p, T["traffic sign"], Mat.SIGN_BORDER, g, b.billboard(x, z, outline))
    if not back:
        inner = (outline - [0, cy]) * 0.72 + [0, cy]
        b.add(p, T["traffic sign"], Mat.SIGN, g, b.billboard(x, z, inner))
    if rng.random() < 0.3:  # an extra plate under the main one
        b.add(p, T["traffic sign"], Mat.SIGN_BORDER, g,
              b.billboard(x, z, [[-r, pole_h - 0.4], [r, pole_h - 0.4], [r, pole_h - 0.05], [-r, pole_h - 0.05]]))


def add_light_box(b: SceneBuilder, p: _Prop, x: float, z: float, bottom: float, facing: bool) -> None:
    g = b.new_group(T["traffic light"])
    w, h = 0.34, 0.95
    b.add(p, T["traffic light"], Mat.LIGHT_BOX, g, b.billboard(x, z, [[-w / 2, bottom], [w / 2, bottom], [w / 2, bottom + h], [-w / 2, bottom + h]]))
    if facing:
        for k, mat in enumerate((Mat.LAMP_GREEN, Mat.LAMP_AMBER, Mat.LAMP_RED)):
            b.add(p, T["traffic light"], mat, g, b.billboard(x, z, circle(0, bottom + 0.17 + k * 0.3, 0.1, 10)))


def add_traffic_light(b: SceneBuilder, side: int, z: float, mast: bool) -> None:
    L, rng = b.L, b.rng
    s = L.sides[(side + 1) // 2]
    x = float(L.lateral(side, s.verge + 0.35, z))
    p = b.prop(LAYER_STREET, z)
    gp = b.new_group(T["pole"])
    facing = rng.random() < 0.75
    if mast:  # a mast arm over the road with hanging lights
        height = rng.uniform(5.5, 6.5)
        add_pole(b, p, gp, x, z, height + 0.2, 0.22)
        reach = rng.uniform(3.0, max(3.5, L.road_w * 0.75))
        t = b.min_px(z, 0.14)
        b.add(p, T["pole"], Mat.POLE, gp, b.billboard(x, z, [[0, height - t], [-side * reach, height - t], [-side * reach, height], [0, height]]))
        for k in range(int(rng.integers(1, 3))):
            add_light_box(b, p, x - side * reach * (0.55 + 0.4 * k), z, height - 1.05, facing)
    else:
        height = rng.uniform(2.4, 3.4)
        add_pole(b, p, gp, x, z, height, 0.12)
        add_light_box(b, p, x, z, height - 0.2, facing)


def add_street_furniture(b: SceneBuilder) -> None:
    L, rng = b.L, b.rng
    for s in L.sides:
        if rng.random() < 0.8:  # street lamps along the kerb
            z = rng.uniform(2.0, 25.0)
            spacing = rng.uniform(20.0, 35.0)
            height = rng.uniform(6.0, 9.0)
            while z < 140.0:
                x = float(L.lateral(s.side, s.verge * 0.5 if s.verge else 0.45, z))
                p = b.prop(LAYER_STREET, z)
                g = b.new_group(T["pole"])
                add_pole(b, p, g, x, z, height, 0.2)
                t = b.min_px(z, 0.12)
                arm = -s.side * 1.6
                b.add(p, T["pole"], Mat.POLE, g, b.billboard(x, z, [[0, height - t], [arm, height + 0.3 - t], [arm, height + 0.3], [0, height]]))
                b.add(p, T["pole"], Mat.POLE, g, b.billboard(x, z, [[arm - 0.35, height + 0.1], [arm + 0.35, height + 0.1], [arm + 0.3, height + 0.32], [arm - 0.3, height + 0.32]]), shade=0.8)
                z += spacing
        if rng.random() < 0.3:  # bollards and posts
            z0 = float(log_uniform(rng, 5.0, 40.0))
            for k in range(int(rng.integers(2, 6))):
                zk = z0 + 1.5 * k
                add_pole(b, b.prop(LAYER_STREET, zk), b.new_group(T["pole"]), float(L.lateral(s.side, s.verge + 0.3, zk)), zk, 1.0, 0.15)
    for _ in range(int(rng.choice([0, 1, 1, 2, 2, 3, 4]))):
        side = int(rng.choice([-1, 1]))
        s = L.sides[(side + 1) // 2]
        z = float(log_uniform(rng, 6.0, 70.0))
        add_sign(b, float(L.lateral(side, s.verge + rng.uniform(0.2, 0.8), z)), z)
    if rng.random() < 0.6:  # an intersection with traffic lights
        z = float(log_uniform(rng, 12.0, 60.0))
        for side in (-1, 1):
            if rng.random() < 0.8:
                add_traffic_light(b, side, z + rng.uniform(0.0, 3.0), mast=bool(rng.random() < 0.4))
        if rng.random() < 0.5:
            p = b.prop(LAYER_GROUND, 0.0)
            add_crosswalk(b, p, b.new_group(T["road"]), z - 4.0)
    elif rng.random() < 0.35:  # a lone pedestrian light
        side = int(rng.choice([-1, 1]))
        add_traffic_light(b, side, float(log_uniform(rng, 8.0, 40.0)), mast=False)


def add_street_trees(b: SceneBuilder) -> None:
    L, rng = b.L, b.rng
    for s in L.sides:
        if rng.random() < 0.55:
            d = s.verge * 0.5 if s.verge else s.verge + rng.uniform(0.7, 1.2)
            z = rng.uniform(3.0, 15.0)
            spacing = rng.uniform(8.0, 16.0)
            while z < 100.0:
                add_tree(b, LAYER_STREET, float(L.lateral(s.side, d, z)), z, rng.uniform(0.8, 1.2))
                z += spacing * rng.uniform(0.8, 1.2)
        if rng.random() < 0.35:  # bushes in the yard or on the verge
            for _ in range(int(rng.integers(1, 5))):
                z = float(log_uniform(rng, 5.0, 60.0))
                d = s.verge + s.sidewalk + rng.uniform(0.3, 2.0)
                p = b.prop(LAYER_PROPERTY, z)
                r = rng.uniform(0.5, 1.2)
                b.add(p, T["vegetation"], Mat.FOLIAGE, b.new_group(T["vegetation"]),
                      b.billboard(float(L.lateral(s.side, d, z)), z, blob(rng, 0, r * 0.7, r * 1.4, r)), convex=False)


def person_outline(rng: np.random.Generator, height: float, profile: bool, facing: int) -> list[tuple[int, np.ndarray]]:
    """The parts of a standing or walking person in metres: (material, polygon) pairs."""
    h = height
    build = rng.uniform(0.85, 1.2)
    hip, shoulder = 0.48 * h, 0.81 * h
    parts: list[tuple[int, np.ndarray]] = []
    if profile:
        stride = rng.uniform(0.0, 0.35) * h
        for foot in (-stride / 2, stride / 2):
            parts.append((Mat.BOTTOM, np.array([[foot - 0.06, 0], [foot + 0.08, 0], [0.07, hip + 0.02], [-0.08, hip + 0.02]])))
        tw = 0.13 * build
        parts.append((Mat.TOP, np.array([[-tw, hip - 0.03], [tw, hip - 0.03], [tw * 1.1, shoulder], [-tw * 0.9, shoulder]])))
        swing = rng.uniform(-0.25, 0.25) * h
        parts.append((Mat.TOP, np.array([[-0.04, shoulder], [0.05, shoulder], [swing * 0.5 + 0.04, hip + 0.02], [swing * 0.5 - 0.05, hip + 0.02]])))
        head_x = 0.03 * facing
    else:
        spread = rng.uniform(0.0, 0.06)
        for sgn in (-1, 1):
            parts.append((Mat.BOTTOM, np.array([[sgn * (0.03 + spread), 0], [sgn * (0.15 + spread), 0], [sgn * 0.16 * build, hip + 0.02], [sgn * 0.01, hip + 0.02]])))
        tw, sw = 0.16 * build, 0.21 * build
        parts.append((Mat.TOP, np.array([[-tw, hip - 0.03], [tw, hip - 0.03], [sw, shoulder], [-sw, shoulder]])))
        for sgn in (-1, 1):
            parts.append((Mat.TOP, np.array([[sgn * sw, shoulder], [sgn * (sw + 0.08), shoulder - 0.02], [sgn * (sw + 0.07), hip], [sgn * (sw - 0.01), hip]])))
        head_x = 0.0
    r = 0.065 * h
    parts.append((Mat.SKIN, np.array([[-0.035, shoulder - 0.02], [0.035, shoulder - 0.02], [0.035, shoulder + 0.06], [-0.035, shoulder + 0.06]])))
    parts.append((Mat.SKIN, circle(head_x, shoulder + 0.04 + r, r, 12)))
    if rng.random() < 0.8:
        t = np.linspace(0, np.pi, 7)
        parts.append((Mat.HAIR, np.stack([head_x + r * 1.05 * np.cos(t), shoulder + 0.04 + r * 1.15 + r * 0.95 * np.sin(t)], -1)))
    if facing < 0:
        parts = [(m, pts * [-1, 1]) for m, pts in parts]
    return parts


def add_person(b: SceneBuilder, x: float, z: float) -> None:
    rng = b.rng
    height = rng.uniform(1.1, 1.4) if rng.random() < b.C.child_share else rng.uniform(*b.C.adult_height)
    parts = person_outline(rng, height, profile=bool(rng.random() < 0.45), facing=int(rng.choice([-1, 1])))
    p = b.prop(LAYER_STREET, z)
    g = b.new_group(T["person"])
    for mat, pts in parts:
        b.add(p, T["person"], mat, g, b.billboard(x, z, pts))


def ellipse(cx: float, cy: float, rx: float, ry: float, n: int = 14) -> np.ndarray:
    t = np.linspace(0, 2 * np.pi, n, endpoint=False)
    return np.stack([cx + rx * np.cos(t), cy + ry * np.sin(t)], -1)


def add_two_wheeler(b: SceneBuilder, x: float, z: float, motor: bool, ridden: bool) -> None:
    """A bicycle or motorcycle in a turned profile view (squash k: 1 side-on, small head-on),
    with its rider: rider label on the person, bicycle/motorcycle label on the vehicle."""
    rng = b.rng
    k = rng.uniform(0.25, 1.0) * float(rng.choice([-1, 1]))
    p = b.prop(LAYER_STREET, z)
    tid = T["motorcycle"] if motor else T["bicycle"]
    g = b.new_group(tid)
    s = b.cam.scale(z)
    r = 0.32 if motor else 0.34
    hub = 0.55 if motor else 0.52
    line = max(1.0, 0.05 * s)
    for cxw in (-hub * k, hub * k):
        if motor:
            b.add(p, tid, Mat.TYRE, g, b.billboard(x, z, ellipse(cxw, r, abs(k) * r, r)))
        else:
            b.add(p, tid, Mat.TYRE, g, b.billboard(x, z, ellipse(cxw, r, abs(k) * r, r, 16)), thickness=line, closed=True)
    seat_y = 0.8 if motor else 0.92
    if motor:
        body = np.array([[-0.45 * k, 0.35], [0.3 * k, 0.3], [0.45 * k, 0.75], [0.1 * k, 0.95], [-0.55 * k, 0.85]])
        b.add(p, tid, Mat.MOTO_PAINT, g, b.billboard(x, z, body), convex=False)
        b.add(p, tid, Mat.MOTO_PAINT, g, b.billboard(x, z, [[0.4 * k, 1.05], [0.52 * k, 0.35]]), thickness=line)
    else:
        frame = np.array([[-hub * k, r], [-0.2 * k, seat_y], [0.0, r], [-hub * k, r], [0.0, r], [0.38 * k, 0.85],
                          [-0.2 * k, seat_y - 0.05], [0.38 * k, 0.85], [hub * k, r], [0.38 * k, 0.85], [0.42 * k, 1.0]])
        b.add(p, tid, Mat.BIKE_FRAME, g, b.billboard(x, z, frame), thickness=line)
        b.add(p, tid, Mat.BIKE_FRAME, g, b.billboard(x, z, [[-0.3 * k, seat_y], [-0.1 * k, seat_y], [-0.1 * k, seat_y + 0.06], [-0.3 * k, seat_y + 0.06]]))
    if not ridden:
        return
    gr = b.new_group(T["rider"])
    kp = np.sign(k) * (0.55 + 0.45 * abs(k))  # a body seen from behind is still shoulder-wide
    hip = np.array([-0.2 * k, seat_y + 0.05])
    shoulder = np.array([0.05 * kp, seat_y + 0.62])
    tw = 0.16
    parts = [
        (Mat.BOTTOM, np.array([hip + [-0.08, 0.05], hip + [0.1 * kp, 0.1], [0.05 * kp, 0.35], [-0.05 * kp, 0.3]])),
        (Mat.TOP, np.array([hip + [-tw * abs(kp), -0.02], hip + [tw * abs(kp), -0.02], shoulder + [tw, 0.0], shoulder + [-tw, 0.0]])),
        (Mat.TOP, np.array([shoulder + [-0.05, 0], shoulder + [0.05, 0], [0.42 * k + 0.03, 0.98], [0.42 * k - 0.03, 0.95]])),
        (Mat.SKIN, circle(shoulder[0] + 0.04 * kp, shoulder[1] + 0.16, 0.12, 12)),
    ]
    if motor or rng.random() < 0.5:  # helmet
        t = np.linspace(0, np.pi, 7)
        parts.append((Mat.HAIR, np.stack([shoulder[0] + 0.04 * kp + 0.14 * np.cos(t), shoulder[1] + 0.17 + 0.13 * np.sin(t)], -1)))
    for mat, pts in parts:
        b.add(p, T["rider"], mat, gr, b.billboard(x, z, pts), convex=False)


def add_people(b: SceneBuilder) -> None:
    L, rng, C = b.L, b.rng, b.C
    n = int(rng.integers(0, C.pedestrian_groups_hi)) + int(rng.random() < 0.85)
    for _ in range(n):
        z = float(log_uniform(rng, 5.5, 70.0))
        if rng.random() < 0.1:  # crossing the street
            x = float(L.center(z)) + rng.uniform(-0.5, 0.5) * L.road_w
        else:
            s = L.sides[int(rng.integers(0, 2))]
            x = float(L.lateral(s.side, s.verge + rng.uniform(0.3, max(0.4, s.sidewalk - 0.3)), z))
        for k in range(int(rng.choice([1, 1, 1, 2, 3]))):  # alone or in a small group
            add_person(b, x + k * rng.uniform(0.5, 0.9) * float(rng.choice([-1, 1])), z + k * rng.uniform(-0.6, 0.6))
    if rng.random() < C.rider_prob:  # riders on the road edge or a bike lane
        for _ in range(int(rng.integers(*C.riders_n))):
            z = float(log_uniform(rng, 6.0, 60.0))
            side = int(rng.choice([-1, 1]))
            x = float(L.lateral(side, -rng.uniform(0.6, 1.6), z))
            add_two_wheeler(b, x, z, motor=bool(rng.random() < C.motor_share), ridden=True)
    for s in L.sides:  # parked bicycles and motorcycles
        if rng.random() < C.parked_bikes_prob:
            z0 = float(log_uniform(rng, 5.0, 40.0))
            for k in range(int(rng.integers(*C.parked_bikes_n))):
                z = z0 + 0.8 * k
                add_two_wheeler(b, float(L.lateral(s.side, s.verge + s.sidewalk - 0.5, z)), z, motor=False, ridden=False)
        if rng.random() < C.parked_moto_prob:
            z = float(log_uniform(rng, 5.0, 40.0))
            add_two_wheeler(b, float(L.lateral(s.side, -0.8, z)), z, motor=True, ridden=False)


@dataclass(frozen=True)
class _Box:
    x0: float
    x1: float
    z0: float
    z1: float


def _visible_side(x0: float, x1: float) -> float | None:
    """The side face a camera at x = 0 can see, or None when the box straddles it."""
    if x0 > 0.3:
        return x0
    if x1 < -0.3:
        return x1
    return None


def add_box_vehicle(b: SceneBuilder, kind: str, x: float, z: float, length: float, oncoming: bool) -> None:
    """Cars, trucks, buses and trams as boxes: hull (flat-shaded side), near face, windows, wheels."""
    rng = b.rng
    tid = T[kind]
    p = b.prop(LAYER_STREET, z)
    g = b.new_group(tid)
    add = lambda mat, pts, **kw: b.add(p, tid, mat, g, pts, **kw)  # noqa: E731
    z0, z1 = z, z + length
    width = {"car": rng.uniform(1.65, 1.95), "truck": rng.uniform(2.3, 2.55), "bus": 2.55, "train": rng.uniform(2.5, 2.7)}[kind]
    x0, x1 = x - width / 2, x + width / 2
    side_x = _visible_side(x0, x1)
    # Tyres under the body, seen below the bumper.
    tyre_r = {"car": 0.32, "truck": 0.5, "bus": 0.5, "train": 0.45}[kind]
    for xa in (x0 + 0.05, x1 - 0.33):
        for za in (z0 + 0.5, z1 - 0.5 - 2 * tyre_r):
            add(Mat.TYRE, b.box_hull(xa, xa + 0.28, 0.0, 2 * tyre_r, za, za + 2 * tyre_r))
    if kind == "car":
        height = rng.uniform(*b.C.car_height)
        belt = 0.3 + rng.uniform(0.55, 0.7)
        # An oncoming car shows its bonnet first: the cabin sits further back.
        c0, c1 = b.C.car_cabin_oncoming if oncoming else b.C.car_cabin
        cab0, cab1 = z0 + c0 * length, z0 + c1 * length
        add(Mat.CAR_PAINT, b.box_hull(x0, x1, 0.28, belt, z0, z1), shade=0.85)
        add(Mat.CAR_PAINT, b.box_hull(x0 + 0.1, x1 - 0.1, belt, height, cab0, cab1), shade=0.85)
        add(Mat.CAR_PAINT, b.quad_z(z0, x0, x1, 0.28, belt))
        add(Mat.CAR_PAINT, b.quad_z(cab0, x0 + 0.1, x1 - 0.1, belt, height), shade=0.95)
        add(Mat.GLASS, b.quad_z(cab0, x0 + 0.2, x1 - 0.2, belt + 0.05, height - 0.07))
        if side_x is not None:
            add(Mat.GLASS, b.quad_x(side_x - np.sign(side_x) * 0.1, cab0 + 0.1, cab1 - 0.1, belt + 0.05, height - 0.07))
        light = Mat.HEAD_LIGHT if oncoming else Mat.TAIL_LIGHT
        for xa in (x0 + 0.08, x1 - 0.38):
            add(light, b.quad_z(z0, xa, xa + 0.3, belt - 0.2, belt - 0.05))
    elif kind == "truck":
        height = rng.uniform(3.0, 3.9)
        cab_h = height * rng.uniform(0.72, 0.88)
        cab_len = 2.2
        cargo = (z0, z1 - cab_len - 0.3) if not oncoming else (z0 + cab_len + 0.3, z1)
        cab = (z1 - cab_len, z1) if not oncoming else (z0, z0 + cab_len)
        add(Mat.TYRE, b.box_hull(x0 + 0.2, x1 - 0.2, 0.45, 1.05, z0, z1))  # chassis
        # Painter's order inside the truck: the far part first.
        parts = [("cargo", cargo), ("cab", cab)] if oncoming else [("cab", cab), ("cargo", cargo)]
        for name, (za, zb) in parts:
            if name == "cargo":
                add(Mat.CARGO, b.box_hull(x0, x1, 1.0, height, za, zb), shade=0.85)
                add(Mat.CARGO, b.quad_z(za, x0, x1, 1.0, height))
                xm = 0.5 * (x0 + x1)
                add(Mat.CARGO, b.quad_z(za, xm - 0.03, xm + 0.03, 1.05, height - 0.05), shade=0.6)
            else:
                add(Mat.CAR_PAINT, b.box_hull(x0 + 0.05, x1 - 0.05, 0.6, cab_h, za, zb), shade=0.85)
                add(Mat.CAR_PAINT, b.quad_z(za, x0 + 0.05, x1 - 0.05, 0.6, cab_h))
                if oncoming:
                    add(Mat.GLASS, b.quad_z(za, x0 + 0.2, x1 - 0.2, cab_h * 0.55, cab_h - 0.15))
                if side_x is not None:
                    add(Mat.GLASS, b.quad_x(side_x, za + 0.2, za + 1.2, cab_h * 0.55, cab_h - 0.2))
    else:  # bus and train: long boxes with a band of windows
        height = rng.uniform(3.0, 3.3) if kind == "bus" else rng.uniform(3.4, 3.8)
        floor = 0.3 if kind == "bus" else 0.4
        paint = Mat.BUS_PAINT if kind == "bus" else Mat.TRAIN_PAINT
        add(paint, b.box_hull(x0, x1, floor, height, z0, z1), shade=0.85)
        add(paint, b.quad_z(z0, x0, x1, floor, height))
        add(Mat.GLASS, b.quad_z(z0, x0 + 0.2, x1 - 0.2, 1.3 if oncoming or kind == "train" else 1.6, height - 0.3))
        if side_x is not None:
            pitch = rng.uniform(1.3, 1.8)
            zw = z0 + 0.8
            while zw + pitch < z1 - 0.5:
                add(Mat.GLASS, b.quad_x(side_x, zw, zw + pitch - 0.25, 1.2, height - 0.55))
                zw += pitch
            for zc in (z0 + 2.2, z1 - 2.6):
                t = np.linspace(0, 2 * np.pi, 14, endpoint=False)
                add(Mat.TYRE, b.cam.project(np.full(14, side_x), tyre_r + tyre_r * np.sin(t), zc + tyre_r * np.cos(t)))
        if kind == "train":  # pantograph on the roof
            xm = 0.5 * (x0 + x1)
            zp = z0 + 0.3 * length
            pts = b.cam.project([xm, xm, xm, xm], [height, height + 0.9, height + 0.9, height], [zp, zp + 0.8, zp + 1.6, zp + 2.4])
            add(Mat.TRAIN_PAINT, pts, thickness=max(1.0, 0.06 * b.cam.scale(zp)), shade=0.5)
    if kind == "car" and side_x is not None:
        for zc in (z0 + 0.8, z1 - 0.8):
            t = np.linspace(0, 2 * np.pi, 14, endpoint=False)
            add(Mat.TYRE, b.cam.project(np.full(14, side_x), tyre_r + tyre_r * np.sin(t), zc + tyre_r * np.cos(t)))


def add_crossing_train(b: SceneBuilder) -> None:
    """A tram crossing the street at a junction, seen side-on between the property lines."""
    L, rng = b.L, b.rng
    zc = rng.uniform(30.0, 90.0)
    xa = float(L.lateral(-1, L.sides[0].verge + L.sides[0].sidewalk, zc))
    xb = float(L.lateral(1, L.sides[1].verge + L.sides[1].sidewalk, zc))
    height = rng.uniform(3.4, 3.8)
    gr = b.new_group(T["road"])
    pr = b.prop(LAYER_GROUND, 0.0)
    for off in (0.7, 2.1):
        b.add(pr, T["road"], Mat.RAIL, gr, b.cam.project([xa, xb, xb, xa], 0.0, [zc + off, zc + off, zc + off + 0.12, zc + off + 0.12]))
    if rng.random() < 0.25:  # the rails alone, no tram right now
        return
    p = b.prop(LAYER_STREET, zc)
    g = b.new_group(T["train"])
    b.add(p, T["train"], Mat.TRAIN_PAINT, g, b.box_hull(xa, xb, 0.4, height, zc, zc + 2.7), shade=0.85)
    b.add(p, T["train"], Mat.TRAIN_PAINT, g, b.quad_z(zc, xa, xb, 0.4, height))
    pitch = rng.uniform(1.4, 1.9)
    x = xa + rng.uniform(0.0, pitch)
    while x + pitch < xb:
        b.add(p, T["train"], Mat.GLASS, g, b.quad_z(zc, x, x + pitch - 0.3, 1.2, height - 0.55))
        x += pitch
    b.add(p, T["train"], Mat.TRAIN_PAINT, g, b.quad_z(zc, xa, xb, 0.4, 0.9), shade=0.6)


def add_traffic(b: SceneBuilder) -> None:
    L, rng, C = b.L, b.rng, b.C
    taken: dict[int, list[tuple[float, float]]] = {lane: [] for lane in range(L.lanes)}

    def place(kind: str, lane: int, length: float, z_min: float) -> None:
        for _ in range(6):  # a few tries for a free stretch of the lane
            z = float(log_uniform(rng, z_min, 110.0))
            if all(z + length + 2.0 < a or z > e + 2.0 for a, e in taken[lane]):
                taken[lane].append((z, z + length))
                oncoming = lane < L.lanes // 2
                add_box_vehicle(b, kind, L.lane_x(lane, z + length / 2) + rng.uniform(-0.3, 0.3), z, length, oncoming)
                return

    def z_min(lane: int) -> float:
        return 9.0 if lane == L.ego_lane else 3.0

    if rng.random() < C.tram_prob:
        if rng.random() < 0.4:
            add_crossing_train(b)
        else:  # a tram on rails along a lane
            lane = int(rng.integers(0, L.lanes))
            pr = b.prop(LAYER_GROUND, 0.0)
            gr = b.new_group(T["road"])
            mid = -L.road_w / 2 + (lane + 0.5) * L.lane_w
            for off in (mid - 0.72, mid + 0.72):
                b.add(pr, T["road"], Mat.RAIL, gr, b.band(off - 0.06, off + 0.06), convex=False)
            for _ in range(int(rng.integers(1, 3))):
                place("train", lane, rng.uniform(18.0, 40.0), max(z_min(lane), 6.0))
    heavy = []
    if rng.random() < C.truck_prob:
        heavy.append("truck")
    if rng.random() < C.bus_prob:
        heavy.append("bus")
    for kind in heavy:
        for _ in range(int(rng.choice([1, 1, 2]))):
            lane = int(rng.integers(0, L.lanes))
            place(kind, lane, rng.uniform(6.5, 10.0) if kind == "truck" else rng.uniform(10.0, 18.0), z_min(lane))
    for _ in range(int(rng.integers(*C.cars_n))):
        lane = int(rng.integers(0, L.lanes))
        place("car", lane, rng.uniform(*C.car_length), z_min(lane))
    for s in L.sides:  # parked cars in the parking lane
        if not s.parking:
            continue
        z = rng.uniform(1.0, 10.0)
        while z < 80.0:
            length = rng.uniform(*C.car_length)
            if rng.random() < 0.7:
                kind = "car" if rng.random() < C.parked_car_share else "truck"
                add_box_vehicle(b, kind, float(L.lateral(s.side, -PARKING_W / 2, z)), z, length if kind == "car" else 6.5, False)
            z += length + rng.uniform(0.6, 8.0)


def add_ego_hood(b: SceneBuilder) -> None:
    """Sometimes the bonnet of the recording car, labelled ignore as in Cityscapes."""
    rng = b.rng
    if rng.random() >= 0.3:
        return
    w, h = b.cam.width, b.cam.height
    top = rng.uniform(0.04, 0.09)
    xs = np.linspace(-0.05, 1.05, 12)
    ys = 1.0 - top * (1.0 - ((xs - 0.5) / 0.6) ** 2)
    pts = np.concatenate([np.stack([xs * w, ys * h], -1), [[1.05 * w, 1.05 * h], [-0.05 * w, 1.05 * h]]])
    b.add(b.prop(LAYER_EGO, 0.0), IGNORE_INDEX, Mat.HOOD, b.new_group(IGNORE_INDEX), pts, convex=False)


def build_scene(layout: Layout, camera: Camera, rng: np.random.Generator,
                content: ContentStyle = V1_CONTENT) -> list[Shape]:
    """All shapes of one frame, in painting order (the first one is the sky)."""
    b = SceneBuilder(layout, camera, rng, content)
    add_ground(b)
    add_skyline(b)
    for side in layout.sides:
        add_side_structures(b, side)
    add_street_furniture(b)
    add_street_trees(b)
    add_people(b)
    add_traffic(b)
    add_ego_hood(b)
    return b.ordered_shapes()


def make_camera(layout: Layout, size: tuple[int, int]) -> Camera:
    width, height = size
    return Camera(width, height, focal=layout.focal_frac * width, cx=layout.cx_frac * width,
                  horizon=layout.horizon_frac * height, height_m=layout.cam_height)


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
    for i, s in enumerate(shapes):
        pts = s.points
        flat = pts.reshape(-1, 2)
        lo, hi = flat.min(0), flat.max(0)
        pad = s.thickness
        if hi[0] < -pad or lo[0] > width + pad or hi[1] < -pad or lo[1] > height + pad:
            continue
        if lo.min() < -1e6 or hi.max() > 1e6:  # keep fixed-point vertices inside int32
            pts = np.clip(pts, -1e6, 1e6)
        ipts = np.round(pts * (1 << SHIFT)).astype(np.int32)
        if pts.ndim == 3:
            cv2.fillPoly(index, list(ipts), i, cv2.LINE_8, SHIFT)
        elif s.thickness > 0:
            cv2.polylines(index, [ipts], s.closed, i, max(1, int(round(s.thickness))), cv2.LINE_8, SHIFT)
        elif s.convex:
            cv2.fillConvexPoly(index, ipts, i, cv2.LINE_8, SHIFT)
        else:
            cv2.fillPoly(index, [ipts], i, cv2.LINE_8, SHIFT)
    return Raster(index, shapes, horizon)


__all__ = [
    "APPEARANCE_STREAM", "Camera", "GEOMETRY_STREAM", "IGNORE_INDEX", "Layout", "Mat", "Raster", "Shape",
    "SPLIT_CODES", "build_scene", "frame_rng", "make_camera", "rasterise", "sample_layout",
]
