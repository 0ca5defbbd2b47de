"""The scene builder: props are collected in metres, projected through the camera into
pixel polygons (each with the 3D surface it lies on), and ordered for the painter."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import NamedTuple

import cv2
import numpy as np

from .camera import Camera
from .materials import INSTANCE_CLASSES
from .street import StreetLayout
from .styles import V1_CONTENT, ContentStyle
from .surfaces import GROUND, Box, Plane

# Ground strips run from just in front of the camera to beyond the skyline, sampled at
# this many depths (spaced evenly in log z) so curved streets stay smooth.
GROUND_NEAR_M, GROUND_FAR_M, GROUND_SAMPLES = 0.8, 400.0, 28
# Boxes are drawn from at least this depth: a box reaching behind the camera is cut there.
BOX_NEAREST_M = 0.5

# Painter's layers, back to front; within a layer props are drawn far to near. A layer
# is laterally farther from the road than the next, so it can never occlude it.
LAYER_SKY, LAYER_GROUND, LAYER_SKYLINE, LAYER_BUILDINGS, LAYER_PROPERTY, LAYER_STREET, LAYER_EGO = range(7)

Surface = Plane | Box | None  # None: nothing a sensor can range (the sky, the ego vehicle)


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
    surface: Surface = None  # where the shape lies in 3D, for depth and LiDAR


class Face(NamedTuple):
    """Projected pixels and the surface they lie on."""
    pixels: np.ndarray
    surface: Surface


class Group(NamedTuple):
    """An object's colour group and its instance id (0 for stuff)."""
    colour_group: int
    instance: int


@dataclass
class Prop:
    layer: int
    depth: float
    shapes: list[Shape] = field(default_factory=list)


class SceneBuilder:
    """Collects props in metres, projects them, and orders them for painting."""

    def __init__(self, street: StreetLayout, camera: Camera, rng: np.random.Generator,
                 content: ContentStyle = V1_CONTENT) -> None:
        self.street, self.camera, self.rng, self.content = street, camera, rng, content
        self.props: list[Prop] = []
        self.n_groups = 0
        self.n_instances = 0

    # ---- bookkeeping -------------------------------------------------------------

    def prop(self, layer: int, depth: float) -> Prop:
        prop = Prop(layer, depth)
        self.props.append(prop)
        return prop

    def new_group(self, train_id: int) -> Group:
        self.n_groups += 1
        instance = 0
        if train_id in INSTANCE_CLASSES:
            self.n_instances += 1
            instance = self.n_instances
        return Group(self.n_groups, instance)

    def add(self, prop: Prop, train_id: int, material: int, group: Group, face: Face, *, convex: bool = True,
            shade: float = 1.0, thickness: float = 0.0, closed: bool = False) -> None:
        prop.shapes.append(Shape(train_id, int(material), group.colour_group, group.instance,
                                 np.asarray(face.pixels, float), convex, shade, thickness, closed, face.surface))

    def ordered_shapes(self) -> list[Shape]:
        props = self.props
        order = sorted(range(len(props)), key=lambda i: (props[i].layer, -props[i].depth, i))
        return [shape for i in order for shape in props[i].shapes]

    # ---- projection helpers -------------------------------------------------------

    def project(self, surface: Surface, x, y, z) -> Face:
        """Metric points that lie on ``surface``, projected."""
        return Face(self.camera.project(x, y, z), surface)

    def on_ground(self, x, z) -> Face:
        return self.project(GROUND, x, 0.0, z)

    def billboard(self, x: float, z: float, outline_m) -> Face:
        """A flat upright shape at depth z: (dx, height) metres -> pixels."""
        camera = self.camera
        scale = camera.pixels_per_metre(z)
        pts = np.array(outline_m, float) * [scale, -scale]
        pts += [camera.cx + scale * x, camera.horizon + scale * camera.height_m]
        return Face(pts, Plane((0.0, 0.0, 1.0), float(z)))

    def box_hull(self, x0: float, x1: float, y0: float, y1: float, z0: float, z1: float) -> Face:
        """The outline of a box: its visible faces as one convex polygon."""
        z0, z1 = max(z0, BOX_NEAREST_M), max(z1, BOX_NEAREST_M)
        pts = self.camera.project([x0, x0, x0, x0, x1, x1, x1, x1], [y0, y0, y1, y1, y0, y0, y1, y1],
                                  [z0, z1, z0, z1, z0, z1, z0, z1]).astype(np.float32)
        return Face(cv2.convexHull(pts)[:, 0, :].astype(float), Box(x0, x1, y0, y1, z0, z1))

    def quad_z(self, z: float, x0: float, x1: float, y0: float, y1: float) -> Face:
        """A rectangle facing the camera at depth z."""
        return self.project(Plane((0.0, 0.0, 1.0), float(z)), [x0, x1, x1, x0], [y0, y0, y1, y1], [z] * 4)

    def quad_x(self, x: float, z0: float, z1: float, y0: float, y1: float) -> Face:
        """A rectangle on the plane x = const (a side face), z0 < z1."""
        return self.project(Plane((1.0, 0.0, 0.0), float(x)), [x] * 4, [y0, y0, y1, y1], [z0, z1, z1, z0])

    def band(self, off0: float, off1: float, z0: float = GROUND_NEAR_M, z1: float = GROUND_FAR_M) -> Face:
        """A ground strip following the road's curve, between lateral offsets from its centre."""
        zs = np.geomspace(z0, z1, GROUND_SAMPLES)
        centre = self.street.road_centre(zs)
        camera = self.camera
        return Face(np.concatenate([camera.project(centre + off0, 0.0, zs), camera.project(centre + off1, 0.0, zs)[::-1]]), GROUND)

    def ground_strip(self, side: int, d0: float, d1: float, z0: float = GROUND_NEAR_M, z1: float = GROUND_FAR_M) -> Face:
        """A strip from ``d0`` to ``d1`` metres outward of the road edge on ``side``."""
        edge = self.street.half_width(side)
        return self.band(side * (edge + d0), side * (edge + d1), z0, z1)

    def at_least_pixels(self, z: float, metres: float, minimum: float = 1.0) -> float:
        """A width in metres at depth z, widened so it spans at least ``minimum`` pixels:
        thin things (poles) stay visible at small sizes."""
        return max(minimum / self.camera.pixels_per_metre(z), metres)
