"""What each benchmark version's styles put in a scene, as explicit parameters.

Benchmark version 1 draws the same streets in both styles: the target differs from the
source in rendering only, and BatchNorm statistics alone (AdaBN) closed 40 % of the gap.
Version 2 keeps the source exactly as in version 1 and moves the target's *content* too:
a higher camera pitched further down with a wider field of view, more pedestrians and
bicycles and fewer trucks and buses, boxier cars, lower buildings with pitched roofs,
narrower roads with wider sidewalks, other material colours, and weather (overcast, fog,
rain). Each difference is a field below, so tests can check the generated frames
against the configured values.

The version-1 values are the constants the generator had before versions existed; the
scene builders read them in the same order, so version 1 stays byte-identical.
"""
from __future__ import annotations

from dataclasses import dataclass, field

VERSIONS = (1, 2)
DEFAULT_VERSION = 2  # what new data is generated as (CLI and benchmark preparation)
RGB = tuple[int, int, int]


@dataclass(frozen=True)
class ContentStyle:
    """Random ranges of a style's scene content. (lo, hi) pairs are uniform ranges,
    ``*_n`` pairs are integer ranges [lo, hi), ``*_prob`` are per-draw probabilities."""
    # camera: height above the road in metres, horizon row as a fraction of the height
    # (smaller = pitched further down), focal length as a fraction of the width
    # (smaller = wider field of view)
    cam_height: tuple[float, float] = (1.25, 1.8)
    horizon_frac: tuple[float, float] = (0.36, 0.5)
    focal_frac: tuple[float, float] = (0.7, 1.0)
    # road and sidewalk layout
    lane_choices: tuple[int, ...] = (2, 2, 3, 4)
    lane_w: tuple[float, float] = (3.0, 3.7)
    verge_prob: float = 0.4
    sidewalk: tuple[float, float] = (1.8, 4.5)
    setback_prob: float = 0.45
    parking_prob: float = 0.45
    curvature: float = 0.0025
    # buildings: a share of low ones, the rest tall; pitched roofs (0 = flat tops)
    low_building_share: float = 0.5
    low_building_h: tuple[float, float] = (6.0, 14.0)
    tall_building_h: tuple[float, float] = (12.0, 30.0)
    roof_share: float = 0.0
    # pedestrians: groups per frame = integers(0, pedestrian_groups_hi) + (random < 0.85)
    pedestrian_groups_hi: int = 7
    child_share: float = 0.08
    adult_height: tuple[float, float] = (1.55, 1.95)
    # riding two-wheelers, parked bicycles and parked motorcycles (per side of the street)
    rider_prob: float = 0.55
    riders_n: tuple[int, int] = (1, 4)
    motor_share: float = 0.4  # of the ridden two-wheelers
    parked_bikes_prob: float = 0.3
    parked_bikes_n: tuple[int, int] = (1, 4)
    parked_moto_prob: float = 0.2
    # traffic
    tram_prob: float = 0.3
    truck_prob: float = 0.45
    bus_prob: float = 0.4
    cars_n: tuple[int, int] = (1, 9)
    car_length: tuple[float, float] = (3.8, 4.9)
    car_height: tuple[float, float] = (1.35, 1.75)
    car_cabin: tuple[float, float] = (0.2, 0.78)  # cabin start/end along the car (from its near end)
    car_cabin_oncoming: tuple[float, float] = (0.32, 0.85)
    parked_car_share: float = 0.93  # of the parked vehicles; the rest are trucks

    # ---- expected values, from the ranges above: what the tests compare frames with ----
    @property
    def mean_cam_height(self) -> float:
        return sum(self.cam_height) / 2

    @property
    def mean_horizon_frac(self) -> float:
        return sum(self.horizon_frac) / 2

    @property
    def mean_focal_frac(self) -> float:
        return sum(self.focal_frac) / 2

    @property
    def expected_pedestrians(self) -> float:
        """Persons built per frame: groups times the mean group size (1, 1, 1, 2, 3)."""
        return ((self.pedestrian_groups_hi - 1) / 2 + 0.85) * 1.6

    @property
    def expected_heavy(self) -> float:
        """Trucks and buses built per frame, roughly: in the lanes (1, 1 or 2 per kind
        drawn) plus parked trucks (about 80 m of parking lane per side, a slot per car
        length and a 4.3 m gap, 70 % taken). An upper estimate: a full lane refuses some."""
        lanes = (self.truck_prob + self.bus_prob) * 4 / 3
        slots = 80.0 / (sum(self.car_length) / 2 + 4.3)
        parked = 2 * self.parking_prob * slots * 0.7 * (1.0 - self.parked_car_share)
        return lanes + parked


@dataclass(frozen=True)
class Weather:
    """Per-frame weather of the version-2 target: chances of each kind (the rest is
    clear) and its strength ranges."""
    overcast: float = 0.0
    fog: float = 0.0
    rain: float = 0.0
    fog_density: tuple[float, float] = (0.35, 0.7)  # blend toward the fog colour at the horizon
    rain_streaks: tuple[int, int] = (150, 400)  # per 256x128 frame, scaled with the area


@dataclass(frozen=True)
class RenderStyle:
    """Which colour table the renderer uses and the weather on top of the camera effects."""
    colours: str  # "source", "target" or "target_v2"
    weather: Weather = field(default_factory=Weather)


V1_CONTENT = ContentStyle()

# Version 2's target: every difference from the source is a field here.
V2_TARGET_CONTENT = ContentStyle(
    cam_height=(2.1, 2.6),  # a roof-mounted camera: +0.83 m on average
    horizon_frac=(0.24, 0.34),  # pitched down: the horizon 0.14 of the height higher
    focal_frac=(0.45, 0.6),  # wide angle: about 88 degrees across instead of 61
    lane_choices=(1, 2, 2, 3),
    lane_w=(2.7, 3.2),
    verge_prob=0.15,
    sidewalk=(3.5, 6.5),
    setback_prob=0.2,
    parking_prob=0.7,
    curvature=0.006,
    low_building_share=0.8,
    low_building_h=(5.0, 10.0),
    tall_building_h=(10.0, 16.0),
    roof_share=0.7,
    pedestrian_groups_hi=15,
    child_share=0.25,
    adult_height=(1.5, 1.9),
    rider_prob=0.9,
    riders_n=(2, 7),
    motor_share=0.15,
    parked_bikes_prob=0.75,
    parked_bikes_n=(2, 8),
    parked_moto_prob=0.1,
    tram_prob=0.15,
    truck_prob=0.1,
    bus_prob=0.08,
    cars_n=(1, 6),
    car_length=(3.2, 4.2),
    car_height=(1.5, 1.95),
    car_cabin=(0.12, 0.92),  # boxy hatchbacks and vans: a cabin almost as long as the car
    car_cabin_oncoming=(0.2, 0.95),
    parked_car_share=0.98,
)

V2_TARGET_WEATHER = Weather(overcast=0.35, fog=0.25, rain=0.25)

# Colours of version 2's target where they differ from version 1's target: cars in other
# paints, white and ochre plaster instead of brick tones, autumn trees, concrete roads and
# a grey or dusky sky. A per-material change is not one affine map of the colour channels,
# so re-estimated BatchNorm statistics cannot undo it.
# Keyed by material name (scene.Mat imports this module, so it cannot be imported here).
V2_TARGET_COLOURS: dict[str, tuple[RGB, ...]] = {
    "SKY": ((120, 124, 132), (150, 150, 154), (178, 150, 140), (96, 104, 120)),
    "ROAD": ((128, 126, 120), (112, 112, 110), (140, 136, 128)),
    "SIDEWALK": ((110, 92, 84), (96, 88, 86), (124, 104, 92)),
    "BUILDING": ((214, 206, 188), (196, 170, 120), (220, 220, 214), (170, 184, 176), (186, 150, 130)),
    "WALL": ((186, 176, 160), (160, 164, 150)),
    "FOLIAGE": ((150, 96, 40), (170, 120, 46), (118, 70, 36), (96, 100, 44)),
    "TERRAIN": ((120, 104, 70), (104, 96, 66), (136, 120, 84)),
    "CAR_PAINT": ((90, 150, 170), (170, 130, 90), (110, 60, 90), (200, 190, 150), (76, 96, 60), (60, 60, 80)),
    "CARGO": ((96, 110, 70), (120, 96, 120)),
    "BUS_PAINT": ((90, 140, 110), (120, 100, 140)),
    "TOP": ((200, 90, 40), (60, 130, 150), (210, 180, 60), (90, 60, 110), (50, 50, 52), (180, 180, 176)),
    "BIKE_FRAME": ((60, 150, 120), (200, 120, 40), (160, 160, 60), (40, 40, 42)),
    "WINDOW": ((30, 34, 40), (150, 160, 168)),
}


def content_style(version: int, style: str) -> ContentStyle:
    """The content parameters of ``style`` in benchmark ``version``."""
    check_version(version)
    return V2_TARGET_CONTENT if (version, style) == (2, "target") else V1_CONTENT


def render_style(version: int, style: str) -> RenderStyle:
    check_version(version)
    if (version, style) == (2, "target"):
        return RenderStyle("target_v2", V2_TARGET_WEATHER)
    return RenderStyle(style)


def check_version(version: int) -> int:
    if version not in VERSIONS:
        raise ValueError(f"benchmark version must be one of {VERSIONS}, got {version!r}")
    return version
