"""What stands beside the street: building rows (facades with window grids, sometimes
pitched roofs), parks with trees, and walls, fences and hedges on the property line."""
from __future__ import annotations

import numpy as np

from .builder import LAYER_BUILDINGS, LAYER_PROPERTY, Face, Group, Prop, SceneBuilder
from .materials import BUILDING, FENCE, VEGETATION, WALL, Mat
from .outlines import log_uniform
from .street import SideLayout
from .surfaces import Plane
from .vegetation import add_tree

NEAREST_FACADE_M = 1.0  # a building row starts no nearer than this (the camera stands beside it)
FLOOR_HEIGHT_M, BAY_WIDTH_M = (2.8, 3.6), (2.2, 4.0)
WINDOW_WIDTH_OF_BAY, WINDOW_HEIGHT_OF_FLOOR = (0.35, 0.7), (0.4, 0.65)
SHOP_FRONT_CHANCE = 0.4  # tall shop windows on the ground floor
ROOF_RISE_M = (2.0, 4.5)
SIDE_FACE_SHADE, FRONT_FACE_SHADE = 0.9, 0.72
MIN_WINDOW_AREA_PX = 2.0  # windows smaller than this are invisible anyway
# Building rows: gaps between buildings, their lengths, how far back from the property line, their depth.
ROW_STARTS_M, ROW_ENDS_M = (-8.0, 2.0), 170.0
GAP_CHANCE, GAP_M = 0.18, (4.0, 14.0)
BUILDING_LENGTH_M, BUILDING_SETBACK_JITTER_M, BUILDING_DEPTH_M = (8.0, 32.0), (0.0, 0.8), (8.0, 18.0)
# Parks: trees on the lawn and buildings far behind it.
PARK_TREES_UNTIL_M, PARK_TREE_START_M, PARK_TREE_SPACING_M = 120.0, (1.0, 8.0), (4.0, 12.0)
PARK_TREE_OUTWARD_M, PARK_TREE_SIZE = (2.0, 14.0), (1.0, 1.6)
PARK_BUILDING_START_M, PARK_BUILDING_LENGTH_M, PARK_BUILDING_GAP_M = (10.0, 40.0), (10.0, 30.0), (0.0, 20.0)
PARK_BUILDING_OUTWARD_M, PARK_BUILDING_HEIGHT_M, PARK_BUILDING_DEPTH_M = (22.0, 35.0), (8.0, 25.0), 12.0
# Walls, fences and hedges: likelier where there is a yard or a park to fence in.
LINE_KINDS = ("wall", "fence", "hedge")
LINE_CHANCES_WITH_YARD, LINE_CHANCES_WITHOUT = (0.45, 0.45, 0.3), (0.25, 0.25, 0.1)
LINE_START_M, LINE_LENGTH_M = (3.0, 60.0), (6.0, 45.0)
LINE_HEIGHT_M = {"wall": (0.8, 2.6), "fence": (0.9, 2.0), "hedge": (0.7, 1.8)}
LINE_THICKNESS_M = {"wall": 0.3, "fence": 0.06, "hedge": 0.9}
LINE_CLASS = {"wall": (WALL, Mat.WALL), "fence": (FENCE, Mat.FENCE), "hedge": (VEGETATION, Mat.FOLIAGE)}
LINE_PIECE_M = 6.0  # lines are cut into props this long, so the painter's order holds
FENCE_POST_GAP_M, FENCE_POST_MIN_M = (1.8, 3.0), 0.12
VERGE_RAILING_CHANCE, VERGE_RAILING_START_M, VERGE_RAILING_LENGTH_M = 0.25, (2.0, 30.0), (10.0, 60.0)


def add_building(scene: SceneBuilder, side: int, outward: float, z0: float, z1: float, height: float, depth: float) -> None:
    """A block from z0 to z1, its street facade ``outward`` metres beyond the road edge."""
    street, camera, rng = scene.street, scene.camera, scene.rng
    z_mid = 0.5 * (z0 + z1)
    x_in = float(street.lateral(side, outward, z_mid))
    x_out = x_in + side * depth
    z0 = max(z0, NEAREST_FACADE_M)
    floor_h = rng.uniform(*FLOOR_HEIGHT_M)
    bay = rng.uniform(*BAY_WIDTH_M)
    win_w, win_h = rng.uniform(*WINDOW_WIDTH_OF_BAY) * bay, rng.uniform(*WINDOW_HEIGHT_OF_FLOOR) * floor_h
    shop = rng.random() < SHOP_FRONT_CHANCE
    prop = scene.prop(LAYER_BUILDINGS, z0)
    group = scene.new_group(BUILDING)
    scene.add(prop, BUILDING, Mat.BUILDING, group, scene.box_hull(min(x_in, x_out), max(x_in, x_out), 0.0, height, z0, z1), shade=SIDE_FACE_SHADE)
    scene.add(prop, BUILDING, Mat.BUILDING, group, scene.quad_z(z0, x_in, x_out, 0.0, height), shade=FRONT_FACE_SHADE)
    if scene.content.roof_share > 0 and rng.random() < scene.content.roof_share:  # no draw at all when a style has no roofs
        add_roof(scene, prop, group, x_in, x_out, z0, z1, height)
    # Windows on the facade facing the street: one vectorised projection for the grid.
    n_bays, n_floors = int((z1 - z0) // bay), int((height - 0.6) // floor_h)
    if n_bays < 1 or n_floors < 1:
        return
    bay_i, floor_i = np.meshgrid(np.arange(n_bays), np.arange(n_floors), indexing="ij")
    z_left = z0 + (bay_i.ravel() + 0.5) * bay - win_w / 2
    y_bottom = floor_i.ravel() * floor_h + (floor_h - win_h) / 2 + 0.3
    win_heights = np.full_like(y_bottom, win_h)
    if shop:
        ground = floor_i.ravel() == 0
        y_bottom[ground], win_heights[ground] = 0.4, floor_h - 0.5
    zs = np.stack([z_left, z_left + win_w, z_left + win_w, z_left], 1)
    ys = np.stack([y_bottom, y_bottom, y_bottom + win_heights, y_bottom + win_heights], 1)
    quads = scene.project(Plane((1.0, 0.0, 0.0), x_in), np.full_like(zs, x_in), ys, zs)
    d1, d2 = quads.pixels[:, 2] - quads.pixels[:, 0], quads.pixels[:, 3] - quads.pixels[:, 1]
    area = np.abs(d1[:, 0] * d2[:, 1] - d1[:, 1] * d2[:, 0]) / 2
    # The grid's quads never overlap, so they go out as one multi-polygon shape: one fill
    # call per facade instead of one per window.
    keep = (area >= MIN_WINDOW_AREA_PX) & (z_left >= z0)
    if keep.any():
        scene.add(prop, BUILDING, Mat.WINDOW, group, Face(quads.pixels[keep], quads.surface))


def add_roof(scene: SceneBuilder, prop: Prop, group: Group, x_in: float, x_out: float, z0: float, z1: float,
             height: float) -> None:
    """A pitched roof over a building: the gable on the near face and the slope toward the
    street, a silhouette flat-topped blocks never have."""
    rise = scene.rng.uniform(*ROOF_RISE_M)
    x_ridge = 0.5 * (x_in + x_out)
    gable = scene.project(Plane((0.0, 0.0, 1.0), z0), [x_in, x_out, x_ridge], [height, height, height + rise], [z0, z0, z0])
    slope_plane = Plane.through((x_in, height, z0), (x_ridge, height + rise, z0), (x_in, height, z1))
    slope = scene.project(slope_plane, [x_in, x_in, x_ridge, x_ridge], [height, height, height + rise, height + rise], [z0, z1, z1, z0])
    scene.add(prop, BUILDING, Mat.BUILDING, group, slope, shade=0.6)
    scene.add(prop, BUILDING, Mat.BUILDING, group, gable, shade=0.8)


def add_property_line(scene: SceneBuilder, side: int, outward: float, z0: float, z1: float, kind: str) -> None:
    """A wall, fence or hedge along the property line, cut into short props so that the
    painter's order stays right against the street objects in front of it."""
    street, rng = scene.street, scene.rng
    # A height is drawn for every kind, in this order, and one is used: the first release
    # drew them so, and the random stream (so every later prop) depends on it.
    height = {name: rng.uniform(*LINE_HEIGHT_M[name]) for name in LINE_KINDS}[kind]
    thick = LINE_THICKNESS_M[kind]
    train_id, material = LINE_CLASS[kind]
    group = scene.new_group(train_id)
    post_gap = rng.uniform(*FENCE_POST_GAP_M)
    z = max(z0, NEAREST_FACADE_M)
    while z < z1:
        z_end = min(z + LINE_PIECE_M, z1)
        x_in = float(street.lateral(side, outward, 0.5 * (z + z_end)))
        x_out = x_in + side * thick
        prop = scene.prop(LAYER_PROPERTY, z)
        scene.add(prop, train_id, material, group, scene.box_hull(min(x_in, x_out), max(x_in, x_out), 0.0, height, z, z_end), shade=0.9)
        scene.add(prop, train_id, material, group, scene.quad_z(z, x_in, x_out, 0.0, height), shade=0.75)
        if kind == "fence":  # posts and a top rail: the lattice look that tells fence from wall
            z_post = z
            while z_post < z_end:
                post_w = max(FENCE_POST_MIN_M, 1.0 / scene.camera.pixels_per_metre(z_post))
                scene.add(prop, train_id, Mat.FENCE_POST, group, scene.quad_x(x_in, z_post, z_post + post_w, 0.0, height + 0.08))
                z_post += post_gap
            scene.add(prop, train_id, Mat.FENCE_POST, group, scene.quad_x(x_in, z, z_end, height - 0.12, height + 0.02))
        z = z_end


def add_side_structures(scene: SceneBuilder, side: SideLayout) -> None:
    """A building row or a park on one side, then what stands on its property line."""
    rng, content = scene.rng, scene.content
    property_line = side.verge + side.sidewalk
    if not side.park:
        z = rng.uniform(*ROW_STARTS_M)
        while z < ROW_ENDS_M:
            if rng.random() < GAP_CHANCE:
                z += rng.uniform(*GAP_M)
            length = rng.uniform(*BUILDING_LENGTH_M)
            low = rng.random() < content.low_building_share
            height = rng.uniform(*content.low_building_h) if low else rng.uniform(*content.tall_building_h)
            add_building(scene, side.side, property_line + side.setback + rng.uniform(*BUILDING_SETBACK_JITTER_M), z, z + length,
                         height, rng.uniform(*BUILDING_DEPTH_M))
            z += length
    else:
        z = rng.uniform(*PARK_TREE_START_M)
        while z < PARK_TREES_UNTIL_M:
            x = float(scene.street.lateral(side.side, property_line + rng.uniform(*PARK_TREE_OUTWARD_M), z))
            add_tree(scene, LAYER_BUILDINGS, x, z, rng.uniform(*PARK_TREE_SIZE))
            z += rng.uniform(*PARK_TREE_SPACING_M)
        z = rng.uniform(*PARK_BUILDING_START_M)
        while z < ROW_ENDS_M:
            length = rng.uniform(*PARK_BUILDING_LENGTH_M)
            add_building(scene, side.side, property_line + rng.uniform(*PARK_BUILDING_OUTWARD_M), z, z + length,
                         rng.uniform(*PARK_BUILDING_HEIGHT_M), PARK_BUILDING_DEPTH_M)
            z += length + rng.uniform(*PARK_BUILDING_GAP_M)
    # Walls, fences and hedges stand on the property line, in front of yards and parks.
    chances = LINE_CHANCES_WITH_YARD if (side.setback > 0 or side.park) else LINE_CHANCES_WITHOUT
    for kind, chance in zip(LINE_KINDS, chances):
        if rng.random() < chance:
            z0 = float(log_uniform(rng, *LINE_START_M))
            add_property_line(scene, side.side, property_line + 0.05, z0, z0 + rng.uniform(*LINE_LENGTH_M), kind)
    if side.verge > 0 and rng.random() < VERGE_RAILING_CHANCE:  # a low railing along the grass verge
        z0 = rng.uniform(*VERGE_RAILING_START_M)
        add_property_line(scene, side.side, side.verge * 0.5, z0, z0 + rng.uniform(*VERGE_RAILING_LENGTH_M), "fence")
