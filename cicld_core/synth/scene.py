"""One frame's scene: a random street in metres (``street``), the props along it (ground,
buildings, vegetation, furniture, people, vehicles), projected through a pinhole camera
(``camera``) into an ordered list of pixel polygons (``builder``), each knowing its 3D
surface (``surfaces``); ``raster`` paints the list into a per-pixel shape index.

Everything the renderer, the labels and the depth need is looked up from that one index
map (``shape -> class, instance, colour, surface``), so the label is exact by
construction: a pixel shows the colour of the shape drawn last over it, and carries that
shape's class.

The layout is drawn in metres from the geometry RNG stream only, and no random draw
depends on the output size or the style: the same (seed, split, index) gives the same
street at any size and in both styles. Sizes only change the projection.
"""
from __future__ import annotations

import numpy as np

from .buildings import add_side_structures
from .builder import Shape, SceneBuilder
from .camera import Camera, make_camera
from .furniture import add_street_furniture
from .ground import add_ground, add_skyline
from .materials import Mat
from .people import add_people
from .raster import Raster, rasterise
from .street import StreetLayout, sample_layout
from .styles import V1_CONTENT, ContentStyle
from .vegetation import add_street_trees
from .vehicles import add_ego_hood, add_traffic

SPLIT_CODES: dict[str, int] = {"train": 0, "val": 1}
# Independent random streams of a frame: what is in the street, and how it is rendered.
GEOMETRY_STREAM = 0
APPEARANCE_STREAM = 1


def frame_rng(seed: int, split: str, index: int, stream: int) -> np.random.Generator:
    """The RNG of one frame and stream; geometry and appearance never share draws."""
    if split not in SPLIT_CODES:
        raise ValueError(f"split must be one of {sorted(SPLIT_CODES)}, got {split!r}")
    if seed < 0 or index < 0:
        raise ValueError(f"seed and index must be >= 0, got seed={seed}, index={index}")
    return np.random.default_rng([seed, SPLIT_CODES[split], index, stream])


def build_scene(layout: StreetLayout, camera: Camera, rng: np.random.Generator,
                content: ContentStyle = V1_CONTENT) -> list[Shape]:
    """All shapes of one frame, in painting order (the first one is the sky). The builders
    run in this order because each consumes the geometry stream in turn."""
    scene = SceneBuilder(layout, camera, rng, content)
    add_ground(scene)
    add_skyline(scene)
    for side in layout.sides:
        add_side_structures(scene, side)
    add_street_furniture(scene)
    add_street_trees(scene)
    add_people(scene)
    add_traffic(scene)
    add_ego_hood(scene)
    return scene.ordered_shapes()


__all__ = [
    "APPEARANCE_STREAM", "Camera", "GEOMETRY_STREAM", "Mat", "Raster", "Shape", "SPLIT_CODES", "StreetLayout",
    "build_scene", "frame_rng", "make_camera", "rasterise", "sample_layout",
]
