"""The street of one frame in metres, independent of the image size: lanes, the two
sides (verge, sidewalk, front yard, park, parking lane) and the camera's pose."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .styles import V1_CONTENT, ContentStyle

PARKING_LANE_WIDTH_M = 2.2
# Where the camera looks across the frame: the principal point's column as a share of the width.
PRINCIPAL_COLUMN_FRAC = (0.46, 0.54)
VERGE_WIDTH_M = (0.8, 2.5)  # grass between road and sidewalk, when there is a verge
FRONT_YARD_DEPTH_M = (1.5, 6.0)  # between sidewalk and buildings, when there is a yard
# Which side has a park instead of buildings: left, none (three times as likely), right.
PARK_SIDE_CHOICES = [-1, 0, 0, 0, 1]


@dataclass(frozen=True)
class SideLayout:
    side: int  # -1 left, +1 right
    verge: float  # grass strip between road and sidewalk (0 = none)
    sidewalk: float
    setback: float  # front yard between sidewalk and buildings
    park: bool  # trees and lawn instead of a building row
    parking: bool  # a parking lane (part of the road) along the kerb


@dataclass(frozen=True)
class StreetLayout:
    """The size-independent part of a scene: the street in metres and the camera pose."""
    horizon_frac: float
    focal_frac: float
    cx_frac: float
    cam_height: float
    lanes: int
    lane_width: float
    ego_lane: int  # counted from the left
    curvature: float
    sides: tuple[SideLayout, SideLayout]

    @property
    def road_width(self) -> float:
        return self.lanes * self.lane_width

    @property
    def road_centre_at_camera(self) -> float:
        """Lateral position of the road centre relative to the camera at z = 0."""
        return self.road_width / 2 - (self.ego_lane + 0.5) * self.lane_width

    def road_centre(self, z):
        """x of the road centre at depth z: the street bends as a parabola."""
        return self.road_centre_at_camera + 0.5 * self.curvature * np.square(z)

    def side(self, side: int) -> SideLayout:
        return self.sides[(side + 1) // 2]

    def half_width(self, side: int) -> float:
        """Road centre to road edge on ``side``: the lanes plus a parking lane if any."""
        return self.road_width / 2 + (PARKING_LANE_WIDTH_M if self.side(side).parking else 0.0)

    def lateral(self, side: int, outward: float, z):
        """x of a line ``outward`` metres beyond the road edge on ``side`` at depth z."""
        return self.road_centre(z) + side * (self.half_width(side) + outward)

    def lane_centre(self, lane: int, z: float) -> float:
        return float(self.road_centre(z)) - self.road_width / 2 + (lane + 0.5) * self.lane_width


def sample_layout(rng: np.random.Generator, content: ContentStyle = V1_CONTENT) -> StreetLayout:
    """Draw a street from ``content``'s ranges (the first draws of the geometry stream)."""
    lanes = int(rng.choice(list(content.lane_choices)))
    park_side = int(rng.choice(PARK_SIDE_CHOICES))
    sides = []
    for side in (-1, 1):
        verge = float(rng.uniform(*VERGE_WIDTH_M)) if rng.random() < content.verge_prob else 0.0
        sides.append(SideLayout(
            side=side, verge=verge, sidewalk=float(rng.uniform(*content.sidewalk)),
            setback=float(rng.uniform(*FRONT_YARD_DEPTH_M)) if rng.random() < content.setback_prob else 0.0,
            park=park_side == side, parking=bool(rng.random() < content.parking_prob),
        ))
    return StreetLayout(
        horizon_frac=float(rng.uniform(*content.horizon_frac)), focal_frac=float(rng.uniform(*content.focal_frac)),
        cx_frac=float(rng.uniform(*PRINCIPAL_COLUMN_FRAC)), cam_height=float(rng.uniform(*content.cam_height)),
        lanes=lanes, lane_width=float(rng.uniform(*content.lane_w)), ego_lane=int(rng.integers(lanes // 2, lanes)),
        curvature=float(rng.uniform(-1, 1) * content.curvature), sides=(sides[0], sides[1]),
    )
