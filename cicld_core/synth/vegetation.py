"""Trees (a trunk and one to three crowns) and street trees and bushes along the sidewalks."""
from __future__ import annotations

from .builder import LAYER_PROPERTY, LAYER_STREET, SceneBuilder
from .materials import VEGETATION, Mat
from .outlines import blob, log_uniform

TRUNK_HEIGHT, CROWN_RADIUS, TRUNK_WIDTH = (1.8, 3.2), (1.3, 3.0), 0.25  # metres, times the tree's size
CROWNS = (1, 4)  # integer range [lo, hi)
CROWN_OFFSET_X, CROWN_OFFSET_Y, CROWN_SQUASH = (-0.5, 0.5), (0.6, 1.2), (0.7, 1.0)  # times the crown radius
STREET_TREES_CHANCE, STREET_TREE_START_M, STREET_TREE_SPACING_M, STREET_TREES_UNTIL_M = 0.55, (3.0, 15.0), (8.0, 16.0), 100.0
STREET_TREE_IN_SIDEWALK_M, STREET_TREE_SIZE, SPACING_JITTER = (0.7, 1.2), (0.8, 1.2), (0.8, 1.2)
BUSHES_CHANCE, BUSHES_N, BUSH_Z_M, BUSH_OUTWARD_M, BUSH_RADIUS_M = 0.35, (1, 5), (5.0, 60.0), (0.3, 2.0), (0.5, 1.2)


def add_tree(scene: SceneBuilder, layer: int, x: float, z: float, size: float) -> None:
    rng = scene.rng
    trunk_h = rng.uniform(*TRUNK_HEIGHT) * size
    radius = rng.uniform(*CROWN_RADIUS) * size
    prop = scene.prop(layer, z)
    group = scene.new_group(VEGETATION)
    half = scene.at_least_pixels(z, TRUNK_WIDTH * size) / 2
    top = trunk_h + radius * 0.5  # the trunk reaches into the crown
    scene.add(prop, VEGETATION, Mat.TRUNK, group, scene.billboard(x, z, [[-half, 0], [half, 0], [half, top], [-half, top]]))
    for _ in range(int(rng.integers(*CROWNS))):
        ox, oy = rng.uniform(*CROWN_OFFSET_X) * radius, rng.uniform(*CROWN_OFFSET_Y) * radius
        crown = blob(rng, ox, trunk_h + oy, radius * rng.uniform(*CROWN_SQUASH), radius * rng.uniform(*CROWN_SQUASH))
        scene.add(prop, VEGETATION, Mat.FOLIAGE, group, scene.billboard(x, z, crown), convex=False)


def add_street_trees(scene: SceneBuilder) -> None:
    street, rng = scene.street, scene.rng
    for side in street.sides:
        if rng.random() < STREET_TREES_CHANCE:
            outward = side.verge * 0.5 if side.verge else side.verge + rng.uniform(*STREET_TREE_IN_SIDEWALK_M)
            z = rng.uniform(*STREET_TREE_START_M)
            spacing = rng.uniform(*STREET_TREE_SPACING_M)
            while z < STREET_TREES_UNTIL_M:
                add_tree(scene, LAYER_STREET, float(street.lateral(side.side, outward, z)), z, rng.uniform(*STREET_TREE_SIZE))
                z += spacing * rng.uniform(*SPACING_JITTER)
        if rng.random() < BUSHES_CHANCE:  # bushes in the yard or on the verge
            for _ in range(int(rng.integers(*BUSHES_N))):
                z = float(log_uniform(rng, *BUSH_Z_M))
                outward = side.verge + side.sidewalk + rng.uniform(*BUSH_OUTWARD_M)
                prop = scene.prop(LAYER_PROPERTY, z)
                radius = rng.uniform(*BUSH_RADIUS_M)
                scene.add(prop, VEGETATION, Mat.FOLIAGE, scene.new_group(VEGETATION),
                          scene.billboard(float(street.lateral(side.side, outward, z)), z,
                                          blob(rng, 0, radius * 0.7, radius * 1.4, radius)), convex=False)
