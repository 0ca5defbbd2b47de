"""The Blender renderer's scene description: the generator's street layout in metres
(``street.sample_layout``, the same first draws of the geometry stream the 2D renderer
makes) furnished with 3D objects, and the frame's camera, sun, sky and weather. Pure
numpy: ``build.py`` hands it to bpy, the tests read it without Blender.

Every object is a ``Thing``: one labelled mesh (a trainId, and an instance id for
people and vehicles). The renderer gives each a unique object index, so the label of a
pixel is the trainId of the object its first camera ray hits.

Random streams of frame (seed, split, index): the layout comes from the geometry
stream, the props from ``PROP_STREAM``, the looks (colours, sky, weather, camera
jitter) from ``LOOK_STREAM``. No draw depends on the image size.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ...labels import TRAIN_ID_BY_NAME
from ..scene import GEOMETRY_STREAM, frame_rng
from ..street import PARKING_LANE_WIDTH_M, StreetLayout, sample_layout
from ..styles import ContentStyle, content_style
from .geometry import Mesh, add_plate, add_tube, blob, box, centred_box, placed, ribbon
from .looks import Looks, draw_looks, srgb

PROP_STREAM, LOOK_STREAM = 2, 3
ID = TRAIN_ID_BY_NAME
INSTANCE_CLASSES = frozenset(ID[n] for n in ("person", "rider", "car", "truck", "bus", "train", "motorcycle", "bicycle"))

KERB_HEIGHT_M = 0.13
GROUND_NEAR_M, GROUND_FAR_M = -12.0, 420.0
STREET_UNTIL_M = 170.0  # buildings, furniture and traffic stop here; the skyline stands beyond
PITCH_DEG = (-1.0, 5.0)  # camera pitch, down positive
FOCAL_JITTER = (0.9, 1.1)
CAM_HEIGHT_JITTER_M = (-0.1, 0.25)


@dataclass
class Thing:
    train_id: int
    instance: int
    mesh: Mesh


@dataclass(frozen=True)
class Pose:
    """The camera: pinhole with square pixels, the principal point given as fractions of the
    frame, pitched down by ``pitch_deg`` about its x axis, no roll."""
    height_m: float
    pitch_deg: float
    focal_frac: float  # focal length in pixels / width
    cx_frac: float  # principal point column / width
    cy_frac: float  # principal point row / height

    def intrinsics(self, size: tuple[int, int]) -> np.ndarray:
        """K in OpenCV's convention (pixel centres at integer coordinates)."""
        w, h = size
        f = self.focal_frac * w
        return np.array([[f, 0.0, self.cx_frac * w - 0.5], [0.0, f, self.cy_frac * h - 0.5], [0.0, 0.0, 1.0]])


@dataclass
class World:
    things: list[Thing]
    pose: Pose
    looks: Looks
    layout: StreetLayout


class Builder:
    """Collects the things of one frame; stuff of a class shares one mesh (one object)."""

    def __init__(self, layout: StreetLayout, content: ContentStyle, rng: np.random.Generator, looks: Looks) -> None:
        self.layout, self.content, self.rng, self.looks = layout, content, rng, looks
        self.stuff: dict[int, Mesh] = {}
        self.things: list[Thing] = []

    def mesh(self, train_id: int) -> Mesh:
        """A new instance (people and vehicles) or the class's shared stuff mesh."""
        if train_id in INSTANCE_CLASSES:
            thing = Thing(train_id, len(self.things) + 1, Mesh())
            self.things.append(thing)
            return thing.mesh
        return self.stuff.setdefault(train_id, Mesh())

    def all_things(self) -> list[Thing]:
        stuff = [Thing(t, 0, m) for t, m in sorted(self.stuff.items()) if not m.empty]
        return stuff + [t for t in self.things if not t.mesh.empty]

    def yaw_at(self, y: float) -> float:
        """The road's heading at depth y: the street bends as a parabola."""
        return float(-np.arctan(self.layout.curvature * y))

    def lateral(self, side: int, outward: float, y: float) -> float:
        return float(self.layout.lateral(side, outward, y))


# ---- ground ----------------------------------------------------------------------------------

def ground_ys() -> np.ndarray:
    return np.concatenate([np.linspace(GROUND_NEAR_M, 4.0, 6), np.geomspace(6.0, GROUND_FAR_M, 30)])


def band(b: Builder, off0: float, off1: float, z: float, ys=None) -> tuple[np.ndarray, np.ndarray]:
    """A ground strip between lateral offsets from the road centre, following its curve."""
    ys = ground_ys() if ys is None else ys
    centre = b.layout.road_centre(ys)
    left = np.stack([centre + off0, ys, np.full_like(ys, z)], 1)
    right = np.stack([centre + off1, ys, np.full_like(ys, z)], 1)
    if off0 > off1:
        left, right = right, left
    return ribbon(left, right)


def add_ground(b: Builder) -> None:
    lay, looks = b.layout, b.looks
    terrain = b.mesh(ID["terrain"])
    terrain.add(*box(-400, 400, GROUND_NEAR_M, GROUND_FAR_M + 200, -0.3, -0.02), "grass", looks.grass)
    road = b.mesh(ID["road"])
    road.add(*band(b, -lay.half_width(-1), lay.half_width(1), 0.0), "asphalt", looks.asphalt)
    sidewalk = b.mesh(ID["sidewalk"])
    for side in lay.sides:
        s = side.side
        edge = lay.half_width(s)
        # kerb face at the road edge, the raised walk, grass on a verge, its outer kerb face
        ys = ground_ys()
        c = lay.road_centre(ys)
        x_edge = c + s * edge
        low = np.stack([x_edge, ys, np.zeros_like(ys)], 1)
        high = np.stack([x_edge, ys, np.full_like(ys, KERB_HEIGHT_M)], 1)
        sidewalk.add(*ribbon(low, high), "kerb", looks.kerb)
        sidewalk.add(*band(b, s * edge, s * (edge + 0.25), KERB_HEIGHT_M), "kerb", looks.kerb)
        outer = side.verge + side.sidewalk + (1.5 if side.setback == 0 and not side.park else 0.0)
        if side.verge > 0:
            b.mesh(ID["terrain"]).add(*band(b, s * (edge + 0.25), s * (edge + side.verge), KERB_HEIGHT_M - 0.01), "grass", looks.grass)
        sidewalk.add(*band(b, s * (edge + max(side.verge, 0.25)), s * (edge + outer), KERB_HEIGHT_M), "paving", looks.paving)
        if side.setback > 0 or side.park:  # a lawn or yard behind the walk
            b.mesh(ID["terrain"]).add(*band(b, s * (edge + outer), s * (edge + outer + side.setback + (40 if side.park else 0)),
                                            KERB_HEIGHT_M - 0.01), "grass", looks.grass)
    add_markings(b, road)


def add_markings(b: Builder, road: Mesh) -> None:
    lay, rng, looks = b.layout, b.rng, b.looks
    z = 0.004
    for lane in range(1, lay.lanes):
        solid = lane == lay.lanes // 2 and rng.random() < 0.4
        dash, period = (300.0, 300.0) if solid else (rng.uniform(2.5, 4.0), rng.uniform(8.0, 13.0))
        width = rng.uniform(0.1, 0.16)
        y = rng.uniform(-3.0, period - 3.0)
        while y < 140.0:
            y1 = min(y + dash, 300.0)
            ys = np.linspace(y, y1, 2 if dash < 10 else 24)
            off = -lay.road_width / 2 + lane * lay.lane_width
            road.add(*band(b, off - width / 2, off + width / 2, z, ys), "marking", looks.paint)
            y += period
    for side in lay.sides:
        if rng.random() < 0.5:
            off = side.side * (lay.half_width(side.side) - (PARKING_LANE_WIDTH_M if side.parking else 0.0) - 0.35)
            road.add(*band(b, off - 0.06, off + 0.06, z, np.linspace(-5, 200, 40)), "marking", looks.paint)
    if rng.random() < 0.3:  # a zebra crossing
        y = rng.uniform(7.0, 45.0)
        left, right = -lay.half_width(-1), lay.half_width(1)
        x = left + 0.3
        c = float(lay.road_centre(y))
        while x < right - 0.5:
            road.add(*box(c + x, c + x + 0.5, y, y + 3.0, 0.0, z), "marking", looks.paint)
            x += 1.0


# ---- buildings, walls, fences, hedges ---------------------------------------------------------

def add_building(b: Builder, side: int, outward: float, y0: float, y1: float, height: float, depth: float) -> None:
    rng, looks = b.rng, b.looks
    mesh = b.mesh(ID["building"])
    y_mid = 0.5 * (y0 + y1)
    x_in = b.lateral(side, outward, y_mid)
    length = y1 - y0
    facade = "brick" if rng.random() < looks.brick_share else "plaster"
    colour = looks.pick(looks.facades if facade == "plaster" else looks.bricks, rng)
    # local frame: x outward from the street (facade at x = 0), y along the street, z up
    with placed(mesh, (x_in, y_mid, 0.0), b.yaw_at(y_mid)):
        sx = side  # local x grows outward: mirror on the left side
        mesh.add(*box(min(0, sx * depth), max(0, sx * depth), -length / 2, length / 2, 0.0, height), facade, colour)
        if rng.random() < b.looks.roof_share:
            rise = rng.uniform(2.0, 4.5)
            ridge = sx * depth / 2
            verts = np.array([[0, -length / 2, height], [sx * depth, -length / 2, height], [ridge, -length / 2, height + rise],
                              [0, length / 2, height], [sx * depth, length / 2, height], [ridge, length / 2, height + rise]])
            roof = looks.pick(looks.roofs, rng)
            mesh.add(verts, np.array([[0, 1, 2], [3, 5, 4]]), facade, colour)
            mesh.add(verts, np.array([[0, 2, 5, 3], [1, 4, 5, 2]]), "roof", roof)
        # windows on the street facade: a glass pane and its frame a little in front of the wall
        floor_h, bay = rng.uniform(2.8, 3.6), rng.uniform(2.2, 4.0)
        win_w, win_h = rng.uniform(0.35, 0.7) * bay, rng.uniform(0.4, 0.65) * floor_h
        n_bays, n_floors = int(length // bay), int((height - 0.6) // floor_h)
        frame_colour = looks.pick(looks.frames, rng)
        shop = rng.random() < 0.4
        door_bay = int(rng.integers(0, max(n_bays, 1)))
        for i in range(n_bays):
            yc = -length / 2 + (i + 0.5) * (length / max(n_bays, 1))
            for k in range(n_floors):
                if k == 0 and i == door_bay:
                    w, z0, z1 = 1.1, 0.0, 2.2
                    mesh.add(*_pane(sx, yc, w + 0.16, z0, z1 + 0.1, 0.06), "frame", frame_colour)
                    mesh.add(*_pane(sx, yc, w, z0, z1, 0.08), "door", looks.pick(looks.doors, rng))
                    continue
                if k == 0 and shop:
                    w, z0, z1 = 0.85 * length / max(n_bays, 1), 0.45, floor_h - 0.4
                else:
                    w, z0 = win_w, k * floor_h + (floor_h - win_h) / 2 + 0.3
                    z1 = z0 + win_h
                mesh.add(*_pane(sx, yc, w + 0.16, z0 - 0.08, z1 + 0.08, 0.04), "frame", frame_colour)
                mesh.add(*_pane(sx, yc, w, z0, z1, 0.06), "glass", looks.window_tint)


def _pane(sx: int, yc: float, w: float, z0: float, z1: float, proud: float):
    """A thin box standing ``proud`` metres in front of a facade at x = 0 (toward the street)."""
    x0, x1 = sorted((-sx * proud, -sx * (proud - 0.03)))
    return box(x0, x1, yc - w / 2, yc + w / 2, z0, z1)


def add_property_line(b: Builder, side: int, outward: float, y0: float, y1: float, kind: str) -> None:
    rng, looks = b.rng, b.looks
    height = {"wall": rng.uniform(0.8, 2.4), "hedge": rng.uniform(0.8, 1.8)}.get(kind, rng.uniform(0.9, 1.9))
    piece = 6.0
    y = y0
    if kind == "wall":
        mesh, material = b.mesh(ID["wall"]), ("brick" if rng.random() < 0.4 else "concrete")
        colour = looks.pick(looks.bricks if material == "brick" else looks.concrete, rng)
    elif kind == "hedge":
        mesh, material, colour = b.mesh(ID["vegetation"]), "leaves", looks.pick(looks.hedges, rng)
    else:
        mesh = b.mesh(ID["fence"])
        style = kind.split(":")[1]
        material = "wood" if style == "picket" else "metal"
        colour = looks.pick(looks.woods if material == "wood" else looks.metals, rng)
    while y < y1:
        y_end = min(y + piece, y1)
        ym = 0.5 * (y + y_end)
        with placed(mesh, (b.lateral(side, outward, ym), ym, KERB_HEIGHT_M), b.yaw_at(ym)):
            half = (y_end - y) / 2
            if kind == "wall":
                mesh.add(*box(-0.15, 0.15, -half, half, 0.0, height), material, colour)
                mesh.add(*box(-0.2, 0.2, -half, half, height, height + 0.08), "concrete", looks.pick(looks.concrete, rng))
            elif kind == "hedge":
                verts, faces = blob(rng, (0, 0, height / 2), (0.5, half + 0.3, height / 2 + 0.05), 0.12, 2)
                mesh.add(verts, faces, material, colour)
            else:
                _fence_piece(mesh, kind.split(":")[1], half, height, material, colour)
        y = y_end


def _fence_piece(mesh: Mesh, style: str, half: float, height: float, material: str, colour) -> None:
    for yp in np.arange(-half, half + 1e-6, 2.0):
        mesh.add(*centred_box((0.08, 0.08, height + 0.1), (0, yp, (height + 0.1) / 2)), material, colour)
    if style == "picket":  # vertical slats between two rails
        for yp in np.arange(-half + 0.06, half, 0.14):
            mesh.add(*centred_box((0.02, 0.08, height - 0.1), (0.05, yp, (height - 0.1) / 2 + 0.05)), material, colour)
        rails = (0.25, height - 0.3)
    elif style == "bars":  # thin metal bars
        for yp in np.arange(-half + 0.06, half, 0.12):
            mesh.add(*centred_box((0.02, 0.02, height), (0.0, yp, height / 2)), material, colour)
        rails = (0.1, height - 0.05)
    else:  # post and rail
        rails = tuple(np.linspace(0.3, height, 3))
    for z in rails:
        mesh.add(*centred_box((0.05, 2 * half, 0.07), (0.0, 0.0, z)), material, colour)


def add_sides(b: Builder) -> None:
    lay, rng, content = b.layout, b.rng, b.content
    for side in lay.sides:
        s = side.side
        edge_to_line = side.verge + side.sidewalk
        if not side.park:
            y = rng.uniform(-10.0, 2.0)
            while y < STREET_UNTIL_M:
                if rng.random() < 0.18:
                    y += rng.uniform(4.0, 14.0)
                length = rng.uniform(8.0, 30.0)
                tall = rng.random() >= content.low_building_share
                height = rng.uniform(*content.tall_building_h) if tall else rng.uniform(*content.low_building_h)
                add_building(b, s, edge_to_line + side.setback + rng.uniform(0.0, 0.8), y, y + length, height, rng.uniform(8, 18))
                y += length
        else:
            y = rng.uniform(1.0, 8.0)
            while y < 120.0:
                add_tree(b, s, edge_to_line + rng.uniform(2.0, 14.0), y, rng.uniform(1.0, 1.6))
                y += rng.uniform(4.0, 12.0)
            y = rng.uniform(10.0, 40.0)
            while y < STREET_UNTIL_M:
                length = rng.uniform(10.0, 30.0)
                add_building(b, s, edge_to_line + rng.uniform(25.0, 40.0), y, y + length, rng.uniform(8.0, 25.0), 12.0)
                y += length + rng.uniform(0.0, 20.0)
        chances = (0.45, 0.45, 0.3) if (side.setback > 0 or side.park) else (0.25, 0.25, 0.12)
        for kind, chance in zip(("wall", "fence", "hedge"), chances):
            if rng.random() < chance:
                y0 = float(np.exp(rng.uniform(np.log(3.0), np.log(60.0))))
                if kind == "fence":
                    kind = "fence:" + str(rng.choice(["picket", "bars", "rails"]))
                add_property_line(b, s, edge_to_line + 0.1, y0, y0 + rng.uniform(6.0, 45.0), kind)
        if side.verge > 0 and rng.random() < 0.25:
            y0 = rng.uniform(2.0, 30.0)
            add_property_line(b, s, side.verge * 0.5, y0, y0 + rng.uniform(10.0, 60.0), "fence:rails")


def add_skyline(b: Builder) -> None:
    rng, looks = b.rng, b.looks
    y = rng.uniform(160.0, 260.0)
    mesh = b.mesh(ID["building"])
    trees = rng.random() < 0.3
    x = -1.2 * y
    while x < 1.2 * y:
        w, h = rng.uniform(8.0, 35.0), rng.uniform(4.0, 32.0)
        if rng.random() > 0.15:
            if trees:
                b.mesh(ID["vegetation"]).add(*blob(rng, (x + w / 2, y + 5, h * 0.3), (w * 0.6, 6.0, h * 0.4), 0.2, 1), "leaves",
                                             looks.pick(looks.leaves, rng))
            else:
                mesh.add(*box(x, x + w, y, y + rng.uniform(8, 20), -1.0, h), "plaster", looks.pick(looks.facades, rng))
        x += w


# ---- vegetation -----------------------------------------------------------------------------

def add_tree(b: Builder, side: int, outward: float, y: float, size: float, kind: str | None = None) -> None:
    """Trees of several kinds, picked by the season: leafy crowns, bare branching winter
    trees, conifers."""
    rng, looks = b.rng, b.looks
    if kind is None:
        kind = str(rng.choice(["leafy", "bare", "conifer"], p=looks.tree_kinds))
    x = b.lateral(side, outward, y)
    mesh = b.mesh(ID["vegetation"])
    bark = looks.pick(looks.barks, rng)
    with placed(mesh, (x, y, KERB_HEIGHT_M), rng.uniform(0, 2 * np.pi)):
        if kind == "conifer":
            height = rng.uniform(6.0, 12.0) * size
            add_tube(mesh, (0, 0, 0), (0, 0, height * 0.3), 0.15 * size, 0.1 * size, "bark", bark, 6)
            colour = looks.pick(looks.needles, rng)
            layers = int(rng.integers(3, 6))
            for k in range(layers):
                z0 = height * (0.2 + 0.75 * k / layers)
                r = (1.0 - k / layers) * rng.uniform(1.6, 2.4) * size
                add_tube(mesh, (0, 0, z0), (0, 0, z0 + height * 0.35), r, 0.05, "needles", colour, 9)
        elif kind == "bare":
            height = rng.uniform(5.0, 10.0) * size
            _branch(mesh, rng, np.zeros(3), np.array([0, 0, 1.0]), height * 0.45, 0.16 * size, 4, bark)
        else:
            trunk = rng.uniform(1.8, 3.2) * size
            radius = rng.uniform(1.3, 3.0) * size
            add_tube(mesh, (0, 0, 0), (0, 0, trunk + radius * 0.5), 0.14 * size, 0.09 * size, "bark", bark, 6)
            colour = looks.pick(looks.leaves, rng)
            add_crown(mesh, rng, (0.0, 0.0, trunk + radius * 0.8), radius, colour, looks)


def add_crown(mesh: Mesh, rng: np.random.Generator, centre, radius: float, colour, looks: Looks) -> None:
    """A leafy crown: clumps of foliage in an ellipsoid, each its own shade, so the silhouette is
    ragged and light falls unevenly (one smooth ball reads as a green blob, not as a tree)."""
    squash = rng.uniform(0.7, 1.1)
    for _ in range(int(rng.integers(7, 14))):
        direction = rng.normal(0, 1, 3)
        direction /= np.linalg.norm(direction)
        offset = direction * radius * rng.uniform(0.2, 0.75) * [1.0, 1.0, squash]
        r = radius * rng.uniform(0.35, 0.55)
        shade = colour * rng.uniform(0.75, 1.2)
        mesh.add(*blob(rng, np.asarray(centre) + offset, (r, r, r * 0.85), 0.3, 1), "leaves", np.clip(shade, 0, 1))


def _branch(mesh: Mesh, rng: np.random.Generator, start: np.ndarray, direction: np.ndarray, length: float,
            radius: float, depth: int, colour) -> None:
    """A bare tree: a limb that splits into two or three thinner ones, ``depth`` times."""
    end = start + direction * length
    add_tube(mesh, start, end, radius, radius * 0.7, "bark", colour, 5 if depth > 1 else 4, caps=False)
    if depth == 0:
        return
    for _ in range(int(rng.integers(2, 4))):
        tilt, turn = rng.uniform(0.35, 0.8), rng.uniform(0, 2 * np.pi)
        side = np.array([np.cos(turn), np.sin(turn), 0.0])
        new = direction * np.cos(tilt) + side * np.sin(tilt)
        new[2] = max(new[2], 0.15)
        new /= np.linalg.norm(new)
        _branch(mesh, rng, end, new, length * rng.uniform(0.55, 0.75), radius * 0.62, depth - 1, colour)


def add_street_trees(b: Builder) -> None:
    lay, rng = b.layout, b.rng
    for side in lay.sides:
        if rng.random() < 0.55:
            outward = side.verge * 0.5 if side.verge else rng.uniform(0.7, 1.2)
            y, spacing = rng.uniform(3.0, 15.0), rng.uniform(8.0, 16.0)
            kind = str(rng.choice(["leafy", "bare", "conifer"], p=b.looks.tree_kinds))  # an avenue: one kind
            while y < 100.0:
                add_tree(b, side.side, outward, y, rng.uniform(0.8, 1.2), kind)
                y += spacing * rng.uniform(0.8, 1.2)
        if rng.random() < 0.35:  # bushes in the yard or on the verge
            mesh = b.mesh(ID["vegetation"])
            for _ in range(int(rng.integers(1, 5))):
                y = float(np.exp(rng.uniform(np.log(5.0), np.log(60.0))))
                x = b.lateral(side.side, side.verge + side.sidewalk + rng.uniform(0.3, 2.0), y)
                r = rng.uniform(0.5, 1.2)
                mesh.add(*blob(rng, (x, y, KERB_HEIGHT_M + r * 0.6), (r * 1.3, r * 1.1, r * 0.8), 0.2, 2), "leaves",
                         b.looks.pick(b.looks.hedges, rng))


# ---- street furniture ----------------------------------------------------------------------

def add_furniture(b: Builder) -> None:
    lay, rng, looks = b.layout, b.rng, b.looks
    pole, sign_mesh, light_mesh = b.mesh(ID["pole"]), b.mesh(ID["traffic sign"]), b.mesh(ID["traffic light"])
    metal = looks.pick(looks.metals, rng)
    for side in lay.sides:  # street lamps at the kerb
        if rng.random() < 0.8:
            y = rng.uniform(2.0, 25.0)
            height = rng.uniform(6.0, 9.0)
            while y < 140.0:
                x = b.lateral(side.side, 0.5, y)
                with placed(pole, (x, y, KERB_HEIGHT_M), b.yaw_at(y)):
                    add_tube(pole, (0, 0, 0), (0, 0, height), 0.1, 0.07, "metal", metal, 8)
                    add_tube(pole, (0, 0, height - 0.2), (-side.side * 1.6, 0, height), 0.05, 0.05, "metal", metal, 5)
                    pole.add(*centred_box((0.6, 0.25, 0.12), (-side.side * 1.7, 0, height - 0.02)), "metal", metal)
                    pole.add(*centred_box((0.5, 0.2, 0.02), (-side.side * 1.7, 0, height - 0.09)), "lamp", looks.lamp_colour)
                y += rng.uniform(20.0, 35.0)
    for _ in range(int(rng.choice([0, 1, 1, 2, 2, 3, 4]))):  # signs
        s = int(rng.choice([-1, 1]))
        y = float(np.exp(rng.uniform(np.log(5.0), np.log(70.0))))
        add_sign(b, pole, sign_mesh, b.lateral(s, 0.4, y), y)
    if rng.random() < 0.6:  # an intersection with traffic lights
        y = rng.uniform(12.0, 60.0)
        for s in (-1, 1):
            if rng.random() < 0.8:
                add_traffic_light(b, pole, light_mesh, s, y, mast=bool(rng.random() < 0.4))
    if rng.random() < 0.35:  # a pedestrian light
        y = rng.uniform(8.0, 40.0)
        add_traffic_light(b, pole, light_mesh, int(rng.choice([-1, 1])), y, mast=False, pedestrian=True)
    if rng.random() < 0.3:  # bollards
        s = int(rng.choice([-1, 1]))
        y0 = rng.uniform(4.0, 30.0)
        for k in range(int(rng.integers(2, 6))):
            y = y0 + 1.5 * k
            add_tube(pole, (b.lateral(s, 0.35, y), y, KERB_HEIGHT_M), (b.lateral(s, 0.35, y), y, KERB_HEIGHT_M + 1.0),
                     0.08, 0.08, "metal", metal, 8)


SIGN_KINDS = ("circle", "triangle", "down", "square", "rect", "octagon", "diamond")


def sign_outline(kind: str, r: float) -> np.ndarray:
    def ring(n: int, start: float = 0.0) -> np.ndarray:
        t = start + np.linspace(0, 2 * np.pi, n, endpoint=False)
        return np.stack([r * np.cos(t), r * np.sin(t)], 1)
    return {
        "circle": ring(16), "octagon": ring(8, np.pi / 8), "triangle": ring(3, np.pi / 2), "down": ring(3, -np.pi / 2),
        "square": np.array([[-r, -r], [r, -r], [r, r], [-r, r]]) * 0.85, "diamond": ring(4, 0.0),
        "rect": np.array([[-1.5 * r, -0.6 * r], [1.5 * r, -0.6 * r], [1.5 * r, 0.6 * r], [-1.5 * r, 0.6 * r]]),
    }[kind]


def add_sign(b: Builder, pole: Mesh, mesh: Mesh, x: float, y: float) -> None:
    rng, looks = b.rng, b.looks
    height, size = rng.uniform(1.9, 2.8), rng.uniform(0.55, 0.9)
    kind = str(rng.choice(SIGN_KINDS))
    facing = rng.random() >= 0.2  # the rest face the other way: the camera sees the plain back
    yaw = b.yaw_at(y) + (0.0 if facing else np.pi) + rng.uniform(-0.3, 0.3)
    metal = looks.pick(looks.metals, rng)
    add_tube(pole, (x, y + 0.05, KERB_HEIGHT_M), (x, y + 0.05, KERB_HEIGHT_M + height + size), 0.035, 0.035, "metal", metal, 6)
    with placed(mesh, (x, y, KERB_HEIGHT_M + height + size / 2), yaw):
        outline = sign_outline(kind, size / 2)
        add_plate(mesh, outline, 0.0, 0.03, "sign", looks.pick(looks.sign_faces, rng), "metal", metal)
        if rng.random() < 0.3:  # an extra plate under it
            add_plate(mesh, np.array([[-0.3, -0.75], [0.3, -0.75], [0.3, -0.45], [-0.3, -0.45]]) * [size / 0.6, 1],
                      0.0, 0.02, "sign", srgb((235, 235, 230)), "metal", metal)


def add_traffic_light(b: Builder, pole: Mesh, mesh: Mesh, side: int, y: float, mast: bool,
                      pedestrian: bool = False) -> None:
    rng, looks = b.rng, b.looks
    x = b.lateral(side, b.layout.side(side).verge + 0.35, y)
    facing = rng.random() < 0.75
    metal = looks.pick(looks.metals, rng)
    heads = []
    if mast:
        height = rng.uniform(5.5, 6.5)
        reach = rng.uniform(3.0, max(3.5, b.layout.road_width * 0.75))
        add_tube(pole, (x, y, KERB_HEIGHT_M), (x, y, height + 0.3), 0.12, 0.1, "metal", metal, 8)
        add_tube(pole, (x, y, height), (x - side * reach, y, height), 0.07, 0.05, "metal", metal, 6)
        for k in range(int(rng.integers(1, 3))):
            heads.append((x - side * reach * (0.55 + 0.4 * k), height - 1.05))
    else:
        height = rng.uniform(2.4, 3.4) if pedestrian else rng.uniform(3.0, 4.0)
        add_tube(pole, (x, y, KERB_HEIGHT_M), (x, y, KERB_HEIGHT_M + height + 0.9), 0.07, 0.06, "metal", metal, 8)
        heads.append((x, KERB_HEIGHT_M + height))
    lit = int(rng.integers(0, 3))
    yaw = b.yaw_at(y) + (0.0 if facing else np.pi)
    for hx, bottom in heads:
        with placed(mesh, (hx, y - 0.15, bottom), yaw):
            n = 2 if pedestrian else 3
            mesh.add(*box(-0.17, 0.17, -0.12, 0.12, 0.0, 0.32 * n + 0.04), "housing", looks.housing)
            mesh.add(*box(-0.24, 0.24, 0.12, 0.14, -0.06, 0.32 * n + 0.1), "housing", looks.housing)  # back plate
            for k in range(n):
                colour = ((0.05, 1.0, 0.25), (1.0, 0.55, 0.0), (1.0, 0.05, 0.02))[k if n == 3 else 2 * k]
                on = k == lit % n
                lamp = "lamp_on" if on else "lamp_off"
                zc = 0.2 + 0.32 * (n - 1 - k)
                add_tube(mesh, (0, -0.12, zc), (0, -0.125, zc), 0.1, 0.1, lamp, colour if on else np.array(colour) * 0.15, 10)
                add_tube(mesh, (0, -0.12, zc + 0.1), (0, -0.3, zc + 0.1), 0.005, 0.005, "housing", looks.housing, 3, caps=False)
                mesh.add(*box(-0.12, 0.12, -0.3, -0.12, zc + 0.1, zc + 0.12), "housing", looks.housing)  # visor


# ---- people, riders, two-wheelers -----------------------------------------------------------

def add_person(mesh: Mesh, rng: np.random.Generator, looks: Looks, height: float, phase: float | None,
               riding: str | None = None) -> None:
    """An articulated figure facing -y at the origin: legs, torso, arms, neck, head, hair or a
    helmet, in clothes of the frame's palette. ``phase``: walking (radians) or None, standing.
    ``riding``: 'bicycle' or 'motorcycle' seats it, feet on the pedals, hands on the bars."""
    h = height
    build = rng.uniform(0.85, 1.2)
    skin, top, bottom = looks.pick(looks.skins, rng), looks.pick(looks.clothes, rng), looks.pick(looks.trousers, rng)
    shoes = looks.pick(looks.trousers, rng) * 0.4
    leg = 0.47 * h
    hip_z = leg + 0.03 * h
    if riding:
        hip_z = 0.95 if riding == "bicycle" else 0.8
    pelvis = np.array([0.0, 0.0, hip_z])
    for s in (-1, 1):
        hip = pelvis + [s * 0.09 * h * build, 0, 0]
        if riding:
            knee = hip + [s * 0.03, -0.42 * h * 0.5, -0.08]
            foot = np.array([hip[0], -0.05 + s * 0.05, 0.3 if riding == "bicycle" else 0.35])
        else:
            swing = 0.35 * np.sin(phase + (0 if s > 0 else np.pi)) if phase is not None else rng.uniform(-0.05, 0.05)
            bend = 0.5 * max(0.0, np.sin(phase + (0.5 if s > 0 else 0.5 + np.pi))) if phase is not None else 0.0
            knee = hip + 0.5 * leg * np.array([0, -np.sin(swing), -np.cos(swing)])
            foot = knee + 0.5 * leg * np.array([0, -np.sin(swing - bend), -np.cos(swing - bend)])
            foot[2] = max(foot[2], 0.04)
        add_tube(mesh, hip, knee, 0.075 * h * build * 0.6, 0.055 * h * 0.6, "cloth", bottom, 6)
        add_tube(mesh, knee, foot, 0.05 * h * 0.6, 0.04 * h * 0.6, "cloth", bottom, 6)
        mesh.add(*centred_box((0.1, 0.25, 0.08), foot + [0, -0.06, -0.0]), "cloth", shoes)
    lean = 0.35 if riding == "bicycle" else (0.2 if riding else rng.uniform(-0.05, 0.05))
    neck = pelvis + 0.33 * h * np.array([0, -np.sin(lean), np.cos(lean)])
    add_tube(mesh, pelvis - [0, 0, 0.02 * h], neck, 0.15 * h * build * 0.75, 0.17 * h * build * 0.75, "cloth", top, 8)
    arm = 0.33 * h
    for s in (-1, 1):
        shoulder = neck + [s * 0.2 * h * build * 0.8, 0, -0.03 * h]
        if riding:
            hand = np.array([s * 0.28, -0.55 if riding == "bicycle" else -0.5, 1.05 if riding == "bicycle" else 0.95])
            elbow = 0.5 * (shoulder + hand) + [s * 0.05, 0, -0.05]
        else:
            swing = -0.3 * np.sin(phase + (0 if s > 0 else np.pi)) if phase is not None else 0.05 * s
            elbow = shoulder + 0.5 * arm * np.array([s * 0.12, -np.sin(swing), -np.cos(swing)])
            hand = elbow + 0.5 * arm * np.array([s * 0.05, -np.sin(swing + 0.3), -np.cos(swing + 0.3)])
        add_tube(mesh, shoulder, elbow, 0.045 * h, 0.038 * h, "cloth", top, 6)
        add_tube(mesh, elbow, hand, 0.035 * h, 0.03 * h, "cloth" if rng.random() < 0.5 else "skin", top, 6)
        mesh.add(*blob(rng, hand, (0.045, 0.045, 0.05), 0.05, 1), "skin", skin)
    head_r = 0.062 * h
    head = neck + [0, -0.02, 0.05 * h + head_r]
    add_tube(mesh, neck - [0, 0, 0.01], neck + [0, 0, 0.05 * h], 0.028 * h, 0.028 * h, "skin", skin, 6)
    mesh.add(*blob(rng, head, (head_r * 0.85, head_r * 0.95, head_r * 1.1), 0.04, 2), "skin", skin)
    if riding == "motorcycle" or (riding and rng.random() < 0.5):
        mesh.add(*blob(rng, head + [0, 0.01, 0.02], (head_r * 1.25, head_r * 1.35, head_r * 1.25), 0.02, 2), "paint",
                 looks.pick(looks.paints, rng))
    elif rng.random() < 0.8:
        mesh.add(*blob(rng, head + [0, 0.015, 0.025], (head_r * 0.95, head_r * 1.02, head_r * 1.05), 0.05, 2), "hair",
                 looks.pick(looks.hairs, rng))
    if not riding and rng.random() < 0.3:  # a bag or backpack
        mesh.add(*centred_box((0.28 * h * build * 0.8, 0.14, 0.3), 0.5 * (pelvis + neck) + [0, 0.17 * h * build * 0.75, 0.05]),
                 "cloth", looks.pick(looks.clothes, rng))


def ring_wheel(mesh: Mesh, centre, radius: float, thickness: float, material: str, colour, segments: int = 12) -> None:
    """A wheel in the y-z plane: a ring of short tubes (a tyre you can see through)."""
    t = np.linspace(0, 2 * np.pi, segments + 1)
    pts = np.stack([np.zeros_like(t), radius * np.cos(t), radius * np.sin(t)], 1) + np.asarray(centre, float)
    for p0, p1 in zip(pts[:-1], pts[1:]):
        add_tube(mesh, p0, p1, thickness, thickness, material, colour, 4, caps=False)


def add_bicycle(mesh: Mesh, rng: np.random.Generator, looks: Looks) -> None:
    """A bicycle along y (front wheel at -y), standing at the origin."""
    frame = looks.pick(looks.paints, rng)
    black = srgb((25, 25, 27))
    r = 0.34
    rear, front = np.array([0, 0.52, r]), np.array([0, -0.52, r])
    crank, seat, head = np.array([0, 0.05, 0.3]), np.array([0, 0.22, 0.88]), np.array([0, -0.38, 0.9])
    for c in (rear, front):
        ring_wheel(mesh, c, r, 0.022, "rubber", black)
        add_tube(mesh, c - [0.03, 0, 0], c + [0.03, 0, 0], 0.03, 0.03, "metal", looks.metals[0], 6)
    for p0, p1 in ((rear, crank), (rear, seat), (crank, seat), (crank, head), (seat, head), (head, front)):
        add_tube(mesh, p0, p1, 0.018, 0.018, "paint", frame, 5, caps=False)
    add_tube(mesh, head, head + [0, 0.02, 0.12], 0.015, 0.015, "metal", looks.metals[0], 5)
    add_tube(mesh, head + [-0.28, 0.02, 0.12], head + [0.28, 0.02, 0.12], 0.012, 0.012, "rubber", black, 5)
    mesh.add(*centred_box((0.12, 0.25, 0.05), seat + [0, 0, 0.05]), "rubber", black)


def add_motorcycle(mesh: Mesh, rng: np.random.Generator, looks: Looks) -> None:
    paint = looks.pick(looks.paints, rng)
    black = srgb((22, 22, 24))
    r = 0.32
    for yc in (0.7, -0.7):
        add_tube(mesh, (-0.07, yc, r), (0.07, yc, r), r, r, "rubber", black, 14)
        add_tube(mesh, (-0.075, yc, r), (0.075, yc, r), 0.16, 0.16, "metal", looks.metals[0], 10)
    mesh.add(*centred_box((0.3, 0.9, 0.3), (0, 0.05, 0.55)), "paint", paint)  # engine and body
    mesh.add(*blob(rng, (0, -0.2, 0.8), (0.17, 0.28, 0.13), 0.05, 1), "paint", paint)  # tank
    mesh.add(*centred_box((0.26, 0.55, 0.08), (0, 0.35, 0.8)), "rubber", black)  # seat
    add_tube(mesh, (0, -0.7, r), (0, -0.55, 1.0), 0.03, 0.03, "metal", looks.metals[0], 6)
    add_tube(mesh, (-0.35, -0.52, 1.02), (0.35, -0.52, 1.02), 0.018, 0.018, "metal", looks.metals[0], 6)
    mesh.add(*centred_box((0.16, 0.06, 0.14), (0, -0.62, 0.9)), "head_light", (1.0, 0.95, 0.85))
    add_tube(mesh, (0.17, 0.0, 0.35), (0.17, 0.75, 0.45), 0.045, 0.04, "metal", looks.metals[1], 8)


def add_people(b: Builder) -> None:
    lay, rng, content, looks = b.layout, b.rng, b.content, b.looks
    groups = int(rng.integers(0, content.pedestrian_groups_hi)) + int(rng.random() < 0.85)
    for _ in range(groups):
        side = lay.side(int(rng.choice([-1, 1])))
        y = float(np.exp(rng.uniform(np.log(3.0), np.log(80.0))))
        crossing = rng.random() < 0.1
        heading = rng.choice([0.0, np.pi]) + rng.uniform(-0.4, 0.4)
        for k in range(int(rng.choice([1, 1, 1, 2, 3]))):
            yk = y + rng.uniform(-1.0, 1.0)
            if crossing:
                x = float(lay.road_centre(yk)) + rng.uniform(-0.5, 0.5) * lay.road_width
                yaw, z = rng.choice([-1, 1]) * np.pi / 2 + rng.uniform(-0.3, 0.3), 0.0
            else:
                x = b.lateral(side.side, side.verge + rng.uniform(0.3, 0.9) * side.sidewalk, yk)
                yaw, z = heading + rng.uniform(-0.3, 0.3), KERB_HEIGHT_M
            child = rng.random() < content.child_share
            height = rng.uniform(1.1, 1.4) if child else rng.uniform(*content.adult_height)
            mesh = b.mesh(ID["person"])
            with placed(mesh, (x, yk, z), yaw):
                walking = rng.random() < 0.7
                add_person(mesh, rng, looks, height, rng.uniform(0, 2 * np.pi) if walking else None)
    if rng.random() < content.rider_prob:  # riders near the kerb, going either way
        for _ in range(int(rng.integers(*content.riders_n))):
            motor = rng.random() < content.motor_share
            s = int(rng.choice([-1, 1]))
            y = float(np.exp(rng.uniform(np.log(5.0), np.log(70.0))))
            x = b.lateral(s, -rng.uniform(0.6, 1.4) - (PARKING_LANE_WIDTH_M if lay.side(s).parking else 0.0), y)
            yaw = b.yaw_at(y) + (np.pi if rng.random() < 0.5 else 0.0) + rng.uniform(-0.15, 0.15)
            vehicle = b.mesh(ID["motorcycle"] if motor else ID["bicycle"])
            with placed(vehicle, (x, y, 0.0), yaw):
                (add_motorcycle if motor else add_bicycle)(vehicle, rng, looks)
            rider = b.mesh(ID["rider"])
            with placed(rider, (x, y, 0.0), yaw):
                add_person(rider, rng, looks, rng.uniform(1.6, 1.9), None, riding="motorcycle" if motor else "bicycle")
    for side in lay.sides:  # parked two-wheelers on the walk
        for kind, chance, n in (("bicycle", content.parked_bikes_prob, content.parked_bikes_n),
                                ("motorcycle", content.parked_moto_prob, (1, 3))):
            if rng.random() < chance:
                y0 = float(np.exp(rng.uniform(np.log(4.0), np.log(50.0))))
                for k in range(int(rng.integers(*n))):
                    y = y0 + k * rng.uniform(0.6, 1.2)
                    mesh = b.mesh(ID[kind])
                    x = b.lateral(side.side, side.verge + 0.6, y)
                    with placed(mesh, (x, y, KERB_HEIGHT_M), np.pi / 2 + rng.uniform(-0.3, 0.3)):
                        (add_bicycle if kind == "bicycle" else add_motorcycle)(mesh, rng, looks)


# ---- vehicles -------------------------------------------------------------------------------

def add_vehicle(b: Builder, kind: str, x: float, y: float, length: float, yaw: float) -> None:
    """Cars, trucks, buses and trams along their local y (front at +y) with wheels, glass and lights."""
    rng, looks = b.rng, b.looks
    train_id = ID[kind]
    mesh = b.mesh(train_id)
    paint = looks.pick(looks.paints if kind == "car" else looks.heavy_paints, rng)
    black, glass = srgb((20, 20, 22)), looks.car_glass
    with placed(mesh, (x, y, 0.0), yaw):
        L = length
        if kind == "car":
            W, H = rng.uniform(1.65, 1.95), rng.uniform(*b.content.car_height)
            c0, c1 = (np.array(b.content.car_cabin) + rng.uniform(-0.05, 0.05, 2)) * L - L / 2
            belt = 0.55 * H
            mesh.add(*box(-W / 2, W / 2, -L / 2, L / 2, 0.28, belt), "paint", paint)
            # the cabin: glass all round under a painted roof, narrower at the top
            t = 0.12 * W
            verts = np.array([[-W / 2 + 0.03, c0, belt], [W / 2 - 0.03, c0, belt], [W / 2 - 0.03, c1, belt], [-W / 2 + 0.03, c1, belt],
                              [-W / 2 + t, c0 + 0.35, H - 0.04], [W / 2 - t, c0 + 0.35, H - 0.04], [W / 2 - t, c1 - 0.25, H - 0.04],
                              [-W / 2 + t, c1 - 0.25, H - 0.04]])
            mesh.add(verts, np.array([[0, 1, 5, 4], [1, 2, 6, 5], [2, 3, 7, 6], [3, 0, 4, 7]]), "glass", glass)
            mesh.add(*box(-W / 2 + t, W / 2 - t, c0 + 0.35, c1 - 0.25, H - 0.05, H), "paint", paint)
            for s in (-1, 1):  # pillars
                add_tube(mesh, (s * (W / 2 - 0.05), c1, belt), (s * (W / 2 - t), c1 - 0.25, H - 0.04), 0.04, 0.04, "paint", paint, 4)
            wheel_r, axles, body_bottom = 0.32, (-L / 2 + 0.75, L / 2 - 0.8), 0.28
        else:
            W = rng.uniform(2.3, 2.55) if kind == "truck" else 2.55
            H = rng.uniform(3.0, 3.8) if kind != "train" else 3.5
            wheel_r = 0.5 if kind != "train" else 0.42
            body_bottom = 0.45
            if kind == "truck":  # a cab in front of a cargo box
                cab = min(2.2, 0.3 * L)
                mesh.add(*box(-W / 2, W / 2, L / 2 - cab, L / 2, body_bottom, 2.6), "paint", looks.pick(looks.paints, rng))
                mesh.add(*box(-W / 2 + 0.05, W / 2 - 0.05, L / 2 - 0.02, L / 2 + 0.01, 1.5, 2.4), "glass", glass)
                mesh.add(*box(-W / 2, W / 2, -L / 2, L / 2 - cab - 0.15, body_bottom + 0.3, H), "paint", paint)
                axles = (-L / 2 + 1.2, L / 2 - 1.3)
            else:  # bus or tram: a long box with a band of windows
                mesh.add(*box(-W / 2, W / 2, -L / 2, L / 2, body_bottom, H), "paint", paint)
                mesh.add(*box(-W / 2 - 0.02, W / 2 + 0.02, -L / 2 + 0.3, L / 2 - 0.3, 1.35, H - 0.45), "glass", glass)
                mesh.add(*box(-W / 2 + 0.1, W / 2 - 0.1, -L / 2 - 0.02, L / 2 + 0.02, 1.2, H - 0.35), "glass", glass)
                axles = (-L / 2 + 2.5, L / 2 - 2.5) if kind == "bus" else tuple(np.linspace(-L / 2 + 2.0, L / 2 - 2.0, 4))
                if kind == "train":
                    add_tube(mesh, (0, 0, H), (0, -1.0, H + 0.9), 0.03, 0.03, "metal", looks.metals[0], 4)
                    mesh.add(*centred_box((1.4, 0.1, 0.05), (0, -1.0, H + 0.9)), "metal", looks.metals[0])
        for ya in axles:
            for s in (-1, 1):
                xw = s * (W / 2 - 0.12)
                add_tube(mesh, (xw - 0.12, ya, wheel_r), (xw + 0.12, ya, wheel_r), wheel_r, wheel_r, "rubber", black, 14)
                add_tube(mesh, (xw + s * 0.125, ya, wheel_r), (xw + s * 0.13, ya, wheel_r), wheel_r * 0.55, wheel_r * 0.55,
                         "metal", looks.metals[0], 10)
        # lights and plates: heads at the front (+y), tails at the back
        for s in (-1, 1):  # a lamp 0.25 m wide in each front and rear corner
            x0, x1 = sorted((s * (W / 2 - 0.05), s * (W / 2 - 0.3)))
            mesh.add(*box(x0, x1, L / 2 - 0.02, L / 2 + 0.02, body_bottom + 0.25, body_bottom + 0.42), "head_light", (1.0, 0.95, 0.8))
            mesh.add(*box(x0, x1, -L / 2 - 0.02, -L / 2 + 0.02, body_bottom + 0.3, body_bottom + 0.5), "tail_light", (1.0, 0.02, 0.01))
        for yp in (L / 2 + 0.01, -L / 2 - 0.01):
            mesh.add(*centred_box((0.52, 0.04, 0.12), (0, yp, body_bottom + 0.15)), "paint", srgb((230, 230, 225)))
        mesh.add(*box(-W / 2 + 0.05, W / 2 - 0.05, -L / 2 + 0.1, L / 2 - 0.1, 0.12, body_bottom + 0.02), "rubber", black)


def add_traffic(b: Builder) -> None:
    lay, rng, content = b.layout, b.rng, b.content
    occupied: dict[int, list[tuple[float, float]]] = {}

    def place(lane_key: int, y: float, length: float) -> bool:
        spans = occupied.setdefault(lane_key, [])
        if any(y < e + 2.0 and y + length > s - 2.0 for s, e in spans):
            return False
        spans.append((y, y + length))
        return True

    def lane_x(lane: int, y: float) -> float:
        return lay.lane_centre(lane, y) + rng.uniform(-0.25, 0.25)

    oncoming_lanes = lay.lanes // 2 if lay.lanes >= 2 else 0
    kinds = ["car"] * int(rng.integers(*content.cars_n))
    kinds += ["truck"] * int(rng.random() < content.truck_prob) * int(rng.integers(1, 3))
    kinds += ["bus"] * int(rng.random() < content.bus_prob) * int(rng.integers(1, 3))
    if rng.random() < content.tram_prob:
        kinds.append("train")
    for kind in kinds:
        length = {"car": rng.uniform(*content.car_length), "truck": rng.uniform(6.0, 10.0), "bus": rng.uniform(10.0, 13.0),
                  "train": rng.uniform(20.0, 32.0)}[kind]
        lane = int(rng.integers(0, lay.lanes))
        nearest = 9.0 if lane == lay.ego_lane else 3.0
        y = float(np.exp(rng.uniform(np.log(nearest), np.log(110.0))))
        if kind == "train" and rng.random() < 0.4:  # a tram crossing at a junction
            y = rng.uniform(15.0, 50.0)
            add_vehicle(b, kind, float(lay.road_centre(y)) + rng.uniform(-8, 8), y + 1.5, length, np.pi / 2)
            continue
        if not place(lane, y, length):
            continue
        oncoming = lane < oncoming_lanes
        yaw = b.yaw_at(y + length / 2) + (np.pi if oncoming else 0.0)
        add_vehicle(b, kind, lane_x(lane, y + length / 2), y + length / 2, length, yaw)
    for side in lay.sides:  # parked vehicles
        if not side.parking:
            continue
        y = rng.uniform(-2.0, 8.0)
        while y < 80.0:
            truck = rng.random() >= content.parked_car_share
            length = 6.5 if truck else rng.uniform(*content.car_length)
            if rng.random() < 0.7:
                x = b.lateral(side.side, -PARKING_LANE_WIDTH_M / 2, y + length / 2)
                yaw = b.yaw_at(y) + (np.pi if side.side < 0 and rng.random() < 0.5 else 0.0)
                add_vehicle(b, "truck" if truck else "car", x, y + length / 2, length, yaw)
            y += length + rng.uniform(0.6, 4.3)


# ---- the frame --------------------------------------------------------------------------------

def build_world(seed: int, split: str, index: int, style: str, version: int) -> World:
    """The 3D scene of frame ``index`` of (seed, split): the layout of ``style`` in ``version``."""
    content = content_style(version, style)
    layout = sample_layout(frame_rng(seed, split, index, GEOMETRY_STREAM), content)
    look_rng = frame_rng(seed, split, index, LOOK_STREAM)
    looks = draw_looks(look_rng)
    pitch = float(look_rng.uniform(*PITCH_DEG))
    focal = layout.focal_frac * float(look_rng.uniform(*FOCAL_JITTER))
    height = layout.cam_height + float(look_rng.uniform(*CAM_HEIGHT_JITTER_M))
    # the principal point row puts the horizon where the layout wants it, within lens-shift reach
    aspect = 0.5  # rows per column of the frames the generator makes (its fractions are per side)
    cy = float(np.clip(layout.horizon_frac + focal / aspect * np.tan(np.radians(pitch)), 0.3, 0.7))
    pose = Pose(height, pitch, focal, layout.cx_frac, cy)
    b = Builder(layout, content, frame_rng(seed, split, index, PROP_STREAM), looks)
    add_ground(b)
    add_sides(b)
    add_skyline(b)
    add_street_trees(b)
    add_furniture(b)
    add_people(b)
    add_traffic(b)
    return World(b.all_things(), pose, looks, layout)
