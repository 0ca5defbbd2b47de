"""People: pedestrians alone or in small groups on the sidewalks (some crossing), riders
on bicycles and motorcycles, and parked two-wheelers.

The outlines are drawings in metres (x across, y up from the ground, for a person
facing the camera or seen in profile); their coordinates are body proportions, not
tuning knobs, so they stay inline.
"""
from __future__ import annotations

import numpy as np

from .builder import LAYER_STREET, SceneBuilder
from .materials import BICYCLE, MOTORCYCLE, PERSON, RIDER, Mat
from .outlines import circle, ellipse, log_uniform

CHILD_HEIGHT_M = (1.1, 1.4)
PROFILE_CHANCE = 0.45  # walking across the view instead of toward or away from the camera
HAIR_CHANCE, HELMET_CHANCE = 0.8, 0.5  # motorcyclists always wear a helmet
EXTRA_GROUP_CHANCE = 0.85  # one more pedestrian group on top of the style's count
GROUP_SIZES = [1, 1, 1, 2, 3]
CROSSING_CHANCE = 0.1

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
    if rng.random() < HAIR_CHANCE:
        t = np.linspace(0, np.pi, 7)
        parts.append((Mat.HAIR, np.stack([head_x + r * 1.05 * np.cos(t), shoulder + 0.04 + r * 1.15 + r * 0.95 * np.sin(t)], -1)))
    if facing < 0:
        parts = [(m, pts * [-1, 1]) for m, pts in parts]
    return parts


def add_person(scene: SceneBuilder, x: float, z: float) -> None:
    rng = scene.rng
    height = rng.uniform(*CHILD_HEIGHT_M) if rng.random() < scene.content.child_share else rng.uniform(*scene.content.adult_height)
    parts = person_outline(rng, height, profile=bool(rng.random() < PROFILE_CHANCE), facing=int(rng.choice([-1, 1])))
    prop = scene.prop(LAYER_STREET, z)
    group = scene.new_group(PERSON)
    for mat, pts in parts:
        scene.add(prop, PERSON, mat, group, scene.billboard(x, z, pts))


def add_two_wheeler(scene: SceneBuilder, x: float, z: float, motor: bool, ridden: bool) -> None:
    """A bicycle or motorcycle in a turned profile view (squash k: 1 side-on, small head-on),
    with its rider: rider label on the person, bicycle/motorcycle label on the vehicle."""
    rng = scene.rng
    k = rng.uniform(0.25, 1.0) * float(rng.choice([-1, 1]))
    prop = scene.prop(LAYER_STREET, z)
    train_id = MOTORCYCLE if motor else BICYCLE
    group = scene.new_group(train_id)
    px_per_m = scene.camera.pixels_per_metre(z)
    r = 0.32 if motor else 0.34  # wheel radius
    hub = 0.55 if motor else 0.52  # wheel centre to the middle of the bike
    line = max(1.0, 0.05 * px_per_m)
    for cxw in (-hub * k, hub * k):
        if motor:
            scene.add(prop, train_id, Mat.TYRE, group, scene.billboard(x, z, ellipse(cxw, r, abs(k) * r, r)))
        else:
            scene.add(prop, train_id, Mat.TYRE, group, scene.billboard(x, z, ellipse(cxw, r, abs(k) * r, r, 16)), thickness=line, closed=True)
    seat_y = 0.8 if motor else 0.92
    if motor:
        body = np.array([[-0.45 * k, 0.35], [0.3 * k, 0.3], [0.45 * k, 0.75], [0.1 * k, 0.95], [-0.55 * k, 0.85]])
        scene.add(prop, train_id, Mat.MOTO_PAINT, group, scene.billboard(x, z, body), convex=False)
        scene.add(prop, train_id, Mat.MOTO_PAINT, group, scene.billboard(x, z, [[0.4 * k, 1.05], [0.52 * k, 0.35]]), thickness=line)
    else:
        frame = np.array([[-hub * k, r], [-0.2 * k, seat_y], [0.0, r], [-hub * k, r], [0.0, r], [0.38 * k, 0.85],
                          [-0.2 * k, seat_y - 0.05], [0.38 * k, 0.85], [hub * k, r], [0.38 * k, 0.85], [0.42 * k, 1.0]])
        scene.add(prop, train_id, Mat.BIKE_FRAME, group, scene.billboard(x, z, frame), thickness=line)
        scene.add(prop, train_id, Mat.BIKE_FRAME, group, scene.billboard(x, z, [[-0.3 * k, seat_y], [-0.1 * k, seat_y], [-0.1 * k, seat_y + 0.06], [-0.3 * k, seat_y + 0.06]]))
    if not ridden:
        return
    rider_group = scene.new_group(RIDER)
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
    if motor or rng.random() < HELMET_CHANCE:
        t = np.linspace(0, np.pi, 7)
        parts.append((Mat.HAIR, np.stack([shoulder[0] + 0.04 * kp + 0.14 * np.cos(t), shoulder[1] + 0.17 + 0.13 * np.sin(t)], -1)))
    for mat, pts in parts:
        scene.add(prop, RIDER, mat, rider_group, scene.billboard(x, z, pts), convex=False)


def add_people(scene: SceneBuilder) -> None:
    street, rng, content = scene.street, scene.rng, scene.content
    n = int(rng.integers(0, content.pedestrian_groups_hi)) + int(rng.random() < EXTRA_GROUP_CHANCE)
    for _ in range(n):
        z = float(log_uniform(rng, 5.5, 70.0))
        if rng.random() < CROSSING_CHANCE:  # crossing the street
            x = float(street.road_centre(z)) + rng.uniform(-0.5, 0.5) * street.road_width
        else:
            walk = street.sides[int(rng.integers(0, 2))]
            x = float(street.lateral(walk.side, walk.verge + rng.uniform(0.3, max(0.4, walk.sidewalk - 0.3)), z))
        for k in range(int(rng.choice(GROUP_SIZES))):  # alone or in a small group
            add_person(scene, x + k * rng.uniform(0.5, 0.9) * float(rng.choice([-1, 1])), z + k * rng.uniform(-0.6, 0.6))
    if rng.random() < content.rider_prob:  # riders on the road edge or a bike lane
        for _ in range(int(rng.integers(*content.riders_n))):
            z = float(log_uniform(rng, 6.0, 60.0))
            side = int(rng.choice([-1, 1]))
            x = float(street.lateral(side, -rng.uniform(0.6, 1.6), z))
            add_two_wheeler(scene, x, z, motor=bool(rng.random() < content.motor_share), ridden=True)
    for kerb in street.sides:  # parked bicycles and motorcycles
        if rng.random() < content.parked_bikes_prob:
            z0 = float(log_uniform(rng, 5.0, 40.0))
            for k in range(int(rng.integers(*content.parked_bikes_n))):
                z = z0 + 0.8 * k
                add_two_wheeler(scene, float(street.lateral(kerb.side, kerb.verge + kerb.sidewalk - 0.5, z)), z, motor=False, ridden=False)
        if rng.random() < content.parked_moto_prob:
            z = float(log_uniform(rng, 5.0, 40.0))
            add_two_wheeler(scene, float(street.lateral(kerb.side, -0.8, z)), z, motor=True, ridden=False)


