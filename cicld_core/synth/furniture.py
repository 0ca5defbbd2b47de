"""Street furniture: lamp posts, bollards, traffic signs and traffic lights (some on a
mast arm over the road), and the crosswalk at an intersection."""
from __future__ import annotations

import numpy as np

from .builder import LAYER_GROUND, LAYER_STREET, Group, Prop, SceneBuilder
from .ground import add_crosswalk
from .materials import POLE, ROAD, TRAFFIC_LIGHT, TRAFFIC_SIGN, Mat
from .outlines import circle, log_uniform

SIGN_KINDS = ["circle", "circle", "triangle", "down", "square", "rect", "octagon", "diamond"]
SIGN_POLE_HEIGHT_M, SIGN_SIZE_M, SIGN_BACK_CHANCE, EXTRA_PLATE_CHANCE = (1.9, 2.8), (0.55, 0.9), 0.2, 0.3
SIGN_INNER_SCALE = 0.72  # the coloured face inside the border
LIGHT_BOX_M = (0.34, 0.95)  # width, height
LAMP_RADIUS_M, LAMP_PITCH_M, LOWEST_LAMP_M = 0.1, 0.3, 0.17
LIGHT_FACING_CHANCE = 0.75  # the rest are seen from behind: no lamps
MAST_HEIGHT_M, MAST_POLE_WIDTH_M, MAST_ARM_M, MAST_ARM_THICKNESS_M, MAST_LIGHTS = (5.5, 6.5), 0.22, 3.0, 0.14, (1, 3)
PEDESTRIAN_LIGHT_HEIGHT_M = (2.4, 3.4)
STREET_LAMP_CHANCE, STREET_LAMP_START_M, STREET_LAMP_SPACING_M, STREET_LAMP_HEIGHT_M = 0.8, (2.0, 25.0), (20.0, 35.0), (6.0, 9.0)
STREET_LAMPS_UNTIL_M, STREET_LAMP_ARM_M, STREET_LAMP_WIDTH_M, STREET_LAMP_ARM_THICKNESS_M = 140.0, 1.6, 0.2, 0.12
BOLLARDS_CHANCE, BOLLARDS_N, BOLLARD_SPACING_M, BOLLARD_HEIGHT_M, BOLLARD_WIDTH_M = 0.3, (2, 6), 1.5, 1.0, 0.15
SIGNS_PER_FRAME = [0, 1, 1, 2, 2, 3, 4]
INTERSECTION_CHANCE, INTERSECTION_Z_M, LIGHT_PER_SIDE_CHANCE, MAST_CHANCE = 0.6, (12.0, 60.0), 0.8, 0.4
INTERSECTION_CROSSWALK_CHANCE, CROSSWALK_BEFORE_M = 0.5, 4.0
PEDESTRIAN_LIGHT_CHANCE, PEDESTRIAN_LIGHT_Z_M = 0.35, (8.0, 40.0)


def add_pole(scene: SceneBuilder, prop: Prop, group: Group, x: float, z: float, height: float, width: float = 0.16) -> None:
    w = scene.at_least_pixels(z, width)
    scene.add(prop, POLE, Mat.POLE, group, scene.billboard(x, z, [[-w / 2, 0], [w / 2, 0], [w / 2, height], [-w / 2, height]]))


def add_sign(scene: SceneBuilder, x: float, z: float) -> None:
    rng = scene.rng
    prop = scene.prop(LAYER_STREET, z)
    pole_h = rng.uniform(*SIGN_POLE_HEIGHT_M)
    add_pole(scene, prop, scene.new_group(POLE), x, z, pole_h + 0.4, 0.08)
    group = scene.new_group(TRAFFIC_SIGN)
    size = rng.uniform(*SIGN_SIZE_M)
    kind = rng.choice(SIGN_KINDS)
    back = rng.random() < SIGN_BACK_CHANCE  # seen from behind: a plain plate
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
    scene.add(prop, TRAFFIC_SIGN, Mat.SIGN_BORDER, group, scene.billboard(x, z, outline))
    if not back:
        inner = (outline - [0, cy]) * SIGN_INNER_SCALE + [0, cy]
        scene.add(prop, TRAFFIC_SIGN, Mat.SIGN, group, scene.billboard(x, z, inner))
    if rng.random() < EXTRA_PLATE_CHANCE:  # an extra plate under the main one
        scene.add(prop, TRAFFIC_SIGN, Mat.SIGN_BORDER, group,
                  scene.billboard(x, z, [[-r, pole_h - 0.4], [r, pole_h - 0.4], [r, pole_h - 0.05], [-r, pole_h - 0.05]]))


def add_light_box(scene: SceneBuilder, prop: Prop, x: float, z: float, bottom: float, facing: bool) -> None:
    group = scene.new_group(TRAFFIC_LIGHT)
    w, h = LIGHT_BOX_M
    scene.add(prop, TRAFFIC_LIGHT, Mat.LIGHT_BOX, group,
              scene.billboard(x, z, [[-w / 2, bottom], [w / 2, bottom], [w / 2, bottom + h], [-w / 2, bottom + h]]))
    if facing:
        for k, material in enumerate((Mat.LAMP_GREEN, Mat.LAMP_AMBER, Mat.LAMP_RED)):
            scene.add(prop, TRAFFIC_LIGHT, material, group,
                      scene.billboard(x, z, circle(0, bottom + LOWEST_LAMP_M + k * LAMP_PITCH_M, LAMP_RADIUS_M, 10)))


def add_traffic_light(scene: SceneBuilder, side: int, z: float, mast: bool) -> None:
    street, rng = scene.street, scene.rng
    x = float(street.lateral(side, street.side(side).verge + 0.35, z))
    prop = scene.prop(LAYER_STREET, z)
    pole_group = scene.new_group(POLE)
    facing = rng.random() < LIGHT_FACING_CHANCE
    if mast:  # a mast arm over the road with hanging lights
        height = rng.uniform(*MAST_HEIGHT_M)
        add_pole(scene, prop, pole_group, x, z, height + 0.2, MAST_POLE_WIDTH_M)
        reach = rng.uniform(MAST_ARM_M, max(3.5, street.road_width * 0.75))
        t = scene.at_least_pixels(z, MAST_ARM_THICKNESS_M)
        scene.add(prop, POLE, Mat.POLE, pole_group,
                  scene.billboard(x, z, [[0, height - t], [-side * reach, height - t], [-side * reach, height], [0, height]]))
        for k in range(int(rng.integers(*MAST_LIGHTS))):
            add_light_box(scene, prop, x - side * reach * (0.55 + 0.4 * k), z, height - 1.05, facing)
    else:
        height = rng.uniform(*PEDESTRIAN_LIGHT_HEIGHT_M)
        add_pole(scene, prop, pole_group, x, z, height, 0.12)
        add_light_box(scene, prop, x, z, height - 0.2, facing)


def add_street_lamps(scene: SceneBuilder, side) -> None:
    street, rng = scene.street, scene.rng
    z = rng.uniform(*STREET_LAMP_START_M)
    spacing = rng.uniform(*STREET_LAMP_SPACING_M)
    height = rng.uniform(*STREET_LAMP_HEIGHT_M)
    while z < STREET_LAMPS_UNTIL_M:
        x = float(street.lateral(side.side, side.verge * 0.5 if side.verge else 0.45, z))
        prop = scene.prop(LAYER_STREET, z)
        group = scene.new_group(POLE)
        add_pole(scene, prop, group, x, z, height, STREET_LAMP_WIDTH_M)
        t = scene.at_least_pixels(z, STREET_LAMP_ARM_THICKNESS_M)
        arm = -side.side * STREET_LAMP_ARM_M
        scene.add(prop, POLE, Mat.POLE, group, scene.billboard(x, z, [[0, height - t], [arm, height + 0.3 - t], [arm, height + 0.3], [0, height]]))
        scene.add(prop, POLE, Mat.POLE, group, scene.billboard(
            x, z, [[arm - 0.35, height + 0.1], [arm + 0.35, height + 0.1], [arm + 0.3, height + 0.32], [arm - 0.3, height + 0.32]]), shade=0.8)
        z += spacing


def add_street_furniture(scene: SceneBuilder) -> None:
    street, rng = scene.street, scene.rng
    for side in street.sides:
        if rng.random() < STREET_LAMP_CHANCE:  # street lamps along the kerb
            add_street_lamps(scene, side)
        if rng.random() < BOLLARDS_CHANCE:  # bollards and posts
            z0 = float(log_uniform(rng, 5.0, 40.0))
            for k in range(int(rng.integers(*BOLLARDS_N))):
                z = z0 + BOLLARD_SPACING_M * k
                add_pole(scene, scene.prop(LAYER_STREET, z), scene.new_group(POLE), float(street.lateral(side.side, side.verge + 0.3, z)),
                         z, BOLLARD_HEIGHT_M, BOLLARD_WIDTH_M)
    for _ in range(int(rng.choice(SIGNS_PER_FRAME))):
        side = int(rng.choice([-1, 1]))
        z = float(log_uniform(rng, 6.0, 70.0))
        add_sign(scene, float(street.lateral(side, street.side(side).verge + rng.uniform(0.2, 0.8), z)), z)
    if rng.random() < INTERSECTION_CHANCE:  # an intersection with traffic lights
        z = float(log_uniform(rng, *INTERSECTION_Z_M))
        for side in (-1, 1):
            if rng.random() < LIGHT_PER_SIDE_CHANCE:
                add_traffic_light(scene, side, z + rng.uniform(0.0, 3.0), mast=bool(rng.random() < MAST_CHANCE))
        if rng.random() < INTERSECTION_CROSSWALK_CHANCE:
            add_crosswalk(scene, scene.prop(LAYER_GROUND, 0.0), scene.new_group(ROAD), z - CROSSWALK_BEFORE_M)
    elif rng.random() < PEDESTRIAN_LIGHT_CHANCE:  # a lone pedestrian light
        side = int(rng.choice([-1, 1]))
        add_traffic_light(scene, side, float(log_uniform(rng, *PEDESTRIAN_LIGHT_Z_M)), mast=False)
