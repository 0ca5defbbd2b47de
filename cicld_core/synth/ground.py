"""The ground and the far end of the street: sky, lawn, sidewalks, the road with its
markings and crosswalks, and the skyline at the horizon.

Like every prop builder, these draw their random numbers in metres only; what a prop
looks like in pixels comes from the camera, so the street does not depend on the size.
"""
from __future__ import annotations

from .builder import LAYER_GROUND, LAYER_SKY, LAYER_SKYLINE, Face, Group, Prop, SceneBuilder
from .materials import BUILDING, ROAD, SIDEWALK, SKY, TERRAIN, VEGETATION, Mat
from .outlines import blob
from .street import PARKING_LANE_WIDTH_M
from .surfaces import GROUND

# The sky and the lawn are drawn as rectangles this many frame sizes wide, so they cover
# the frame whatever the camera.
BACKDROP_OVERSIZE = 20.0
# A sidewalk without a front yard or park runs this much further out, under the buildings' feet.
SIDEWALK_UNDER_BUILDINGS_M = 1.0
KERB_M = (-0.05, 0.22)  # the kerb stone, outward from the road edge
LANE_LINES_UNTIL_M, MARKING_MAX_Z_M = 140.0, 300.0
SOLID_CENTRE_LINE_CHANCE = 0.5
SOLID_LINE = (200.0, 200.0)  # (dash, period): one dash longer than the lines are drawn
DASH_M, DASH_PERIOD_M, LINE_WIDTH_M = (2.5, 4.0), (8.0, 13.0), (0.1, 0.16)
EDGE_LINE_CHANCE, EDGE_LINE_M = 0.5, (-0.45, -0.32)  # a solid line just inside the road edge
CROSSWALK_CHANCE, CROSSWALK_Z_M = 0.3, (7.0, 45.0)
CROSSWALK_STRIPE_M, CROSSWALK_PITCH_M, CROSSWALK_LENGTH_M = 0.5, 1.0, 3.0
SKYLINE_Z_M = (110.0, 220.0)
SKYLINE_KINDS = ["buildings", "buildings", "buildings", "trees", "open"]
SKYLINE_SPAN = 0.9  # the skyline spans +-0.9 z to the sides: wider than any field of view
SKYLINE_BLOCK_WIDTH_M, SKYLINE_BLOCK_HEIGHT_M = (8.0, 35.0), (4.0, 32.0)
SKYLINE_GAP_CHANCE = 0.15
TREE_LINE_BEHIND_M = 5.0  # a tree line stands a little behind where buildings would


def add_ground(scene: SceneBuilder) -> None:
    street, camera, rng = scene.street, scene.camera, scene.rng
    w, h = camera.width, camera.height
    big = BACKDROP_OVERSIZE * (w + h)
    sky = scene.prop(LAYER_SKY, 0.0)
    scene.add(sky, SKY, Mat.SKY, scene.new_group(SKY), Face([[-big, -big], [w + big, -big], [w + big, h + big], [-big, h + big]], None))
    prop = scene.prop(LAYER_GROUND, 0.0)
    # Everything below the horizon starts as grass: what is not paved is lawn or verge.
    scene.add(prop, TERRAIN, Mat.TERRAIN, scene.new_group(TERRAIN),
              Face([[-big, camera.horizon], [w + big, camera.horizon], [w + big, h + big], [-big, h + big]], GROUND))
    for side in street.sides:
        group = scene.new_group(SIDEWALK)
        outer = side.verge + side.sidewalk + (SIDEWALK_UNDER_BUILDINGS_M if side.setback == 0 and not side.park else 0.0)
        scene.add(prop, SIDEWALK, Mat.SIDEWALK, group, scene.ground_strip(side.side, side.verge, outer), convex=False)
        scene.add(prop, SIDEWALK, Mat.CURB, group, scene.ground_strip(side.side, *KERB_M), convex=False)
    scene.add(prop, ROAD, Mat.ROAD, scene.new_group(ROAD), scene.band(-street.half_width(-1), street.half_width(1)), convex=False)
    # Markings are road, as in Cityscapes; they give the road a texture cue in both styles.
    group = scene.new_group(ROAD)
    for lane in range(1, street.lanes):
        centre_line = lane == street.lanes // 2 and street.lanes >= 2
        dash, period = SOLID_LINE if centre_line and rng.random() < SOLID_CENTRE_LINE_CHANCE else (rng.uniform(*DASH_M), rng.uniform(*DASH_PERIOD_M))
        width = rng.uniform(*LINE_WIDTH_M)
        z = rng.uniform(0.5, period)
        while z < LANE_LINES_UNTIL_M:
            z0, z1 = z, min(z + dash, MARKING_MAX_Z_M)
            x0 = float(street.road_centre(z0)) - street.road_width / 2 + lane * street.lane_width
            x1 = float(street.road_centre(z1)) - street.road_width / 2 + lane * street.lane_width
            scene.add(prop, ROAD, Mat.MARKING, group,
                      scene.on_ground([x0 - width / 2, x0 + width / 2, x1 + width / 2, x1 - width / 2], [z0, z0, z1, z1]))
            z += period
    for side in street.sides:
        if rng.random() < EDGE_LINE_CHANCE:
            parking = PARKING_LANE_WIDTH_M if side.parking else 0.0
            scene.add(prop, ROAD, Mat.MARKING, group,
                      scene.ground_strip(side.side, EDGE_LINE_M[0] - parking, EDGE_LINE_M[1] - parking), convex=False)
    if rng.random() < CROSSWALK_CHANCE:
        add_crosswalk(scene, prop, group, rng.uniform(*CROSSWALK_Z_M))


def add_crosswalk(scene: SceneBuilder, prop: Prop, group: Group, z: float) -> None:
    """Zebra stripes across the whole road at depth z."""
    street = scene.street
    left, right = float(street.lateral(-1, 0.0, z)), float(street.lateral(1, 0.0, z))
    x = left + 0.3
    while x < right - 0.5:
        scene.add(prop, ROAD, Mat.MARKING, group, scene.on_ground(
            [x, x + CROSSWALK_STRIPE_M, x + CROSSWALK_STRIPE_M, x], [z, z, z + CROSSWALK_LENGTH_M, z + CROSSWALK_LENGTH_M]))
        x += CROSSWALK_PITCH_M


def add_skyline(scene: SceneBuilder) -> None:
    """The far end of the street: a row of building fronts or a tree line at the horizon."""
    rng = scene.rng
    z_far = rng.uniform(*SKYLINE_Z_M)
    kind = rng.choice(SKYLINE_KINDS)
    x = -SKYLINE_SPAN * z_far
    while x < SKYLINE_SPAN * z_far:
        width = rng.uniform(*SKYLINE_BLOCK_WIDTH_M)
        height = rng.uniform(*SKYLINE_BLOCK_HEIGHT_M)
        skip = rng.random() < SKYLINE_GAP_CHANCE
        if kind == "buildings" and not skip:
            prop = scene.prop(LAYER_SKYLINE, z_far)
            scene.add(prop, BUILDING, Mat.FAR_BUILDING, scene.new_group(BUILDING), scene.quad_z(z_far, x, x + width, -1.0, height))
        elif kind != "open" or not skip:
            z_trees = z_far + TREE_LINE_BEHIND_M
            prop = scene.prop(LAYER_SKYLINE, z_trees)
            crown = blob(rng, 0.0, height * 0.35, width * 0.6, height * 0.45)
            if kind == "open":
                crown[:, 1] *= 0.5  # low bushes over open land
            scene.add(prop, VEGETATION, Mat.FOLIAGE, scene.new_group(VEGETATION),
                      scene.billboard(x + width / 2, z_trees, crown), convex=False)
        x += width
