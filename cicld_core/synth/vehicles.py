"""Traffic: cars, trucks, buses and trams as flat-shaded boxes in the lanes and the
parking lanes, a tram crossing at a junction, and sometimes the ego vehicle's bonnet.

Vehicle parts are drawings in metres relative to the vehicle's box (bumper heights,
window insets, wheel positions); those coordinates stay inline next to the part they
draw. What varies between frames is named at the top.
"""
from __future__ import annotations

import numpy as np

from ..labels import TRAIN_ID_BY_NAME
from .builder import LAYER_EGO, LAYER_GROUND, LAYER_STREET, Face, SceneBuilder
from .materials import EGO_VEHICLE, ROAD, TRAIN, Mat
from .outlines import log_uniform
from .street import PARKING_LANE_WIDTH_M
from .surfaces import Plane

VEHICLE_WIDTH_M = {"car": (1.65, 1.95), "truck": (2.3, 2.55), "bus": 2.55, "train": (2.5, 2.7)}
TYRE_RADIUS_M = {"car": 0.32, "truck": 0.5, "bus": 0.5, "train": 0.45}
TRAFFIC_UNTIL_M = 110.0
GAP_BETWEEN_VEHICLES_M = 2.0  # free road kept between vehicles in one lane
EGO_LANE_CLEAR_M, OTHER_LANE_CLEAR_M = 9.0, 3.0  # the car ahead keeps its distance
CROSSING_TRAM_SHARE = 0.4  # of the frames with a tram: crossing at a junction instead of along a lane
RAILS_WITHOUT_TRAM_CHANCE = 0.25
PARKING_UNTIL_M, PARKING_SPACE_TAKEN_CHANCE, PARKED_TRUCK_LENGTH_M = 80.0, 0.7, 6.5
EGO_HOOD_CHANCE, EGO_HOOD_HEIGHT_FRAC = 0.3, (0.04, 0.09)  # the bonnet's height as a share of the frame's


def _visible_side(x0: float, x1: float) -> float | None:
    """The side face a camera at x = 0 can see, or None when the box straddles it."""
    if x0 > 0.3:
        return x0
    if x1 < -0.3:
        return x1
    return None


def add_box_vehicle(scene: SceneBuilder, kind: str, x: float, z: float, length: float, oncoming: bool) -> None:
    """Cars, trucks, buses and trams as boxes: hull (flat-shaded side), near face, windows, wheels."""
    rng = scene.rng
    train_id = TRAIN_ID_BY_NAME[kind]
    prop = scene.prop(LAYER_STREET, z)
    group = scene.new_group(train_id)

    def add(material: int, face: Face, **style) -> None:
        scene.add(prop, train_id, material, group, face, **style)

    z0, z1 = z, z + length
    # A width is drawn for every kind, in this order, and one is used: the first release
    # drew them so, and the random stream (so every later prop) depends on it.
    width = {name: rng.uniform(*span) if isinstance(span, tuple) else span for name, span in VEHICLE_WIDTH_M.items()}[kind]
    x0, x1 = x - width / 2, x + width / 2
    side_x = _visible_side(x0, x1)
    # Tyres under the body, seen below the bumper.
    tyre_r = TYRE_RADIUS_M[kind]
    for xa in (x0 + 0.05, x1 - 0.33):
        for za in (z0 + 0.5, z1 - 0.5 - 2 * tyre_r):
            add(Mat.TYRE, scene.box_hull(xa, xa + 0.28, 0.0, 2 * tyre_r, za, za + 2 * tyre_r))
    if kind == "car":
        height = rng.uniform(*scene.content.car_height)
        belt = 0.3 + rng.uniform(0.55, 0.7)
        # An oncoming car shows its bonnet first: the cabin sits further back.
        c0, c1 = scene.content.car_cabin_oncoming if oncoming else scene.content.car_cabin
        cab0, cab1 = z0 + c0 * length, z0 + c1 * length
        add(Mat.CAR_PAINT, scene.box_hull(x0, x1, 0.28, belt, z0, z1), shade=0.85)
        add(Mat.CAR_PAINT, scene.box_hull(x0 + 0.1, x1 - 0.1, belt, height, cab0, cab1), shade=0.85)
        add(Mat.CAR_PAINT, scene.quad_z(z0, x0, x1, 0.28, belt))
        add(Mat.CAR_PAINT, scene.quad_z(cab0, x0 + 0.1, x1 - 0.1, belt, height), shade=0.95)
        add(Mat.GLASS, scene.quad_z(cab0, x0 + 0.2, x1 - 0.2, belt + 0.05, height - 0.07))
        if side_x is not None:
            add(Mat.GLASS, scene.quad_x(side_x - np.sign(side_x) * 0.1, cab0 + 0.1, cab1 - 0.1, belt + 0.05, height - 0.07))
        light = Mat.HEAD_LIGHT if oncoming else Mat.TAIL_LIGHT
        for xa in (x0 + 0.08, x1 - 0.38):
            add(light, scene.quad_z(z0, xa, xa + 0.3, belt - 0.2, belt - 0.05))
    elif kind == "truck":
        height = rng.uniform(3.0, 3.9)
        cab_h = height * rng.uniform(0.72, 0.88)
        cab_len = 2.2
        cargo = (z0, z1 - cab_len - 0.3) if not oncoming else (z0 + cab_len + 0.3, z1)
        cab = (z1 - cab_len, z1) if not oncoming else (z0, z0 + cab_len)
        add(Mat.TYRE, scene.box_hull(x0 + 0.2, x1 - 0.2, 0.45, 1.05, z0, z1))  # chassis
        # Painter's order inside the truck: the far part first.
        parts = [("cargo", cargo), ("cab", cab)] if oncoming else [("cab", cab), ("cargo", cargo)]
        for name, (za, zb) in parts:
            if name == "cargo":
                add(Mat.CARGO, scene.box_hull(x0, x1, 1.0, height, za, zb), shade=0.85)
                add(Mat.CARGO, scene.quad_z(za, x0, x1, 1.0, height))
                xm = 0.5 * (x0 + x1)
                add(Mat.CARGO, scene.quad_z(za, xm - 0.03, xm + 0.03, 1.05, height - 0.05), shade=0.6)
            else:
                add(Mat.CAR_PAINT, scene.box_hull(x0 + 0.05, x1 - 0.05, 0.6, cab_h, za, zb), shade=0.85)
                add(Mat.CAR_PAINT, scene.quad_z(za, x0 + 0.05, x1 - 0.05, 0.6, cab_h))
                if oncoming:
                    add(Mat.GLASS, scene.quad_z(za, x0 + 0.2, x1 - 0.2, cab_h * 0.55, cab_h - 0.15))
                if side_x is not None:
                    add(Mat.GLASS, scene.quad_x(side_x, za + 0.2, za + 1.2, cab_h * 0.55, cab_h - 0.2))
    else:  # bus and train: long boxes with a band of windows
        height = rng.uniform(3.0, 3.3) if kind == "bus" else rng.uniform(3.4, 3.8)
        floor = 0.3 if kind == "bus" else 0.4
        paint = Mat.BUS_PAINT if kind == "bus" else Mat.TRAIN_PAINT
        add(paint, scene.box_hull(x0, x1, floor, height, z0, z1), shade=0.85)
        add(paint, scene.quad_z(z0, x0, x1, floor, height))
        add(Mat.GLASS, scene.quad_z(z0, x0 + 0.2, x1 - 0.2, 1.3 if oncoming or kind == "train" else 1.6, height - 0.3))
        if side_x is not None:
            pitch = rng.uniform(1.3, 1.8)
            zw = z0 + 0.8
            while zw + pitch < z1 - 0.5:
                add(Mat.GLASS, scene.quad_x(side_x, zw, zw + pitch - 0.25, 1.2, height - 0.55))
                zw += pitch
            for zc in (z0 + 2.2, z1 - 2.6):
                t = np.linspace(0, 2 * np.pi, 14, endpoint=False)
                add(Mat.TYRE, scene.project(Plane((1.0, 0.0, 0.0), side_x), np.full(14, side_x), tyre_r + tyre_r * np.sin(t), zc + tyre_r * np.cos(t)))
        if kind == "train":  # pantograph on the roof
            xm = 0.5 * (x0 + x1)
            zp = z0 + 0.3 * length
            pantograph = scene.project(Plane((1.0, 0.0, 0.0), xm), [xm, xm, xm, xm], [height, height + 0.9, height + 0.9, height], [zp, zp + 0.8, zp + 1.6, zp + 2.4])
            add(Mat.TRAIN_PAINT, pantograph, thickness=max(1.0, 0.06 * scene.camera.pixels_per_metre(zp)), shade=0.5)
    if kind == "car" and side_x is not None:
        for zc in (z0 + 0.8, z1 - 0.8):
            t = np.linspace(0, 2 * np.pi, 14, endpoint=False)
            add(Mat.TYRE, scene.project(Plane((1.0, 0.0, 0.0), side_x), np.full(14, side_x), tyre_r + tyre_r * np.sin(t), zc + tyre_r * np.cos(t)))


def add_crossing_train(scene: SceneBuilder) -> None:
    """A tram crossing the street at a junction, seen side-on between the property lines."""
    street, rng = scene.street, scene.rng
    zc = rng.uniform(30.0, 90.0)
    xa = float(street.lateral(-1, street.sides[0].verge + street.sides[0].sidewalk, zc))
    xb = float(street.lateral(1, street.sides[1].verge + street.sides[1].sidewalk, zc))
    height = rng.uniform(3.4, 3.8)
    rail_group = scene.new_group(ROAD)
    rails = scene.prop(LAYER_GROUND, 0.0)
    for off in (0.7, 2.1):
        scene.add(rails, ROAD, Mat.RAIL, rail_group, scene.on_ground([xa, xb, xb, xa], [zc + off, zc + off, zc + off + 0.12, zc + off + 0.12]))
    if rng.random() < RAILS_WITHOUT_TRAM_CHANCE:  # the rails alone, no tram right now
        return
    prop = scene.prop(LAYER_STREET, zc)
    group = scene.new_group(TRAIN)
    scene.add(prop, TRAIN, Mat.TRAIN_PAINT, group, scene.box_hull(xa, xb, 0.4, height, zc, zc + 2.7), shade=0.85)
    scene.add(prop, TRAIN, Mat.TRAIN_PAINT, group, scene.quad_z(zc, xa, xb, 0.4, height))
    pitch = rng.uniform(1.4, 1.9)
    x = xa + rng.uniform(0.0, pitch)
    while x + pitch < xb:
        scene.add(prop, TRAIN, Mat.GLASS, group, scene.quad_z(zc, x, x + pitch - 0.3, 1.2, height - 0.55))
        x += pitch
    scene.add(prop, TRAIN, Mat.TRAIN_PAINT, group, scene.quad_z(zc, xa, xb, 0.4, 0.9), shade=0.6)


def add_traffic(scene: SceneBuilder) -> None:
    street, rng, content = scene.street, scene.rng, scene.content
    taken: dict[int, list[tuple[float, float]]] = {lane: [] for lane in range(street.lanes)}

    def place(kind: str, lane: int, length: float, z_min: float) -> None:
        for _ in range(6):  # a few tries for a free stretch of the lane
            z = float(log_uniform(rng, z_min, TRAFFIC_UNTIL_M))
            if all(z + length + GAP_BETWEEN_VEHICLES_M < start or z > end + GAP_BETWEEN_VEHICLES_M for start, end in taken[lane]):
                taken[lane].append((z, z + length))
                oncoming = lane < street.lanes // 2
                add_box_vehicle(scene, kind, street.lane_centre(lane, z + length / 2) + rng.uniform(-0.3, 0.3), z, length, oncoming)
                return

    def z_min(lane: int) -> float:
        return EGO_LANE_CLEAR_M if lane == street.ego_lane else OTHER_LANE_CLEAR_M

    if rng.random() < content.tram_prob:
        if rng.random() < CROSSING_TRAM_SHARE:
            add_crossing_train(scene)
        else:  # a tram on rails along a lane
            lane = int(rng.integers(0, street.lanes))
            rails = scene.prop(LAYER_GROUND, 0.0)
            rail_group = scene.new_group(ROAD)
            mid = -street.road_width / 2 + (lane + 0.5) * street.lane_width
            for off in (mid - 0.72, mid + 0.72):
                scene.add(rails, ROAD, Mat.RAIL, rail_group, scene.band(off - 0.06, off + 0.06), convex=False)
            for _ in range(int(rng.integers(1, 3))):
                place("train", lane, rng.uniform(18.0, 40.0), max(z_min(lane), 6.0))
    heavy = []
    if rng.random() < content.truck_prob:
        heavy.append("truck")
    if rng.random() < content.bus_prob:
        heavy.append("bus")
    for kind in heavy:
        for _ in range(int(rng.choice([1, 1, 2]))):
            lane = int(rng.integers(0, street.lanes))
            place(kind, lane, rng.uniform(6.5, 10.0) if kind == "truck" else rng.uniform(10.0, 18.0), z_min(lane))
    for _ in range(int(rng.integers(*content.cars_n))):
        lane = int(rng.integers(0, street.lanes))
        place("car", lane, rng.uniform(*content.car_length), z_min(lane))
    for kerb in street.sides:  # parked cars in the parking lane
        if not kerb.parking:
            continue
        z = rng.uniform(1.0, 10.0)
        while z < PARKING_UNTIL_M:
            length = rng.uniform(*content.car_length)
            if rng.random() < PARKING_SPACE_TAKEN_CHANCE:
                kind = "car" if rng.random() < content.parked_car_share else "truck"
                add_box_vehicle(scene, kind, float(street.lateral(kerb.side, -PARKING_LANE_WIDTH_M / 2, z)), z, length if kind == "car" else PARKED_TRUCK_LENGTH_M, False)
            z += length + rng.uniform(0.6, 8.0)


def add_ego_hood(scene: SceneBuilder) -> None:
    """Sometimes the bonnet of the recording car, labelled ignore as in Cityscapes."""
    rng = scene.rng
    if rng.random() >= EGO_HOOD_CHANCE:
        return
    w, h = scene.camera.width, scene.camera.height
    top = rng.uniform(*EGO_HOOD_HEIGHT_FRAC)
    xs = np.linspace(-0.05, 1.05, 12)
    ys = 1.0 - top * (1.0 - ((xs - 0.5) / 0.6) ** 2)
    pts = np.concatenate([np.stack([xs * w, ys * h], -1), [[1.05 * w, 1.05 * h], [-0.05 * w, 1.05 * h]]])
    # Drawn in pixels (it moves with the camera): no surface, so no depth and no LiDAR
    # return, as a LiDAR driver's self-filter drops its own car.
    scene.add(scene.prop(LAYER_EGO, 0.0), EGO_VEHICLE, Mat.HOOD, scene.new_group(EGO_VEHICLE), Face(pts, None), convex=False)


