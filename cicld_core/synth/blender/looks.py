"""What a rendered frame looks like, drawn from its look stream: colour palettes (per
object picks), the season (leafy, autumn or bare trees), sun height and direction, overcast,
fog, a wet road, exposure and white balance, and the texture scales of the materials.
Pure numpy; ``materials.py`` and ``render.py`` apply it through bpy."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

SEASONS = ("summer", "autumn", "winter")


def srgb(rgb) -> np.ndarray:
    """8-bit sRGB -> linear RGB (what Blender's colour inputs take)."""
    c = np.asarray(rgb, float) / 255.0
    return np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)


def _table(*rgbs) -> np.ndarray:
    return np.array([srgb(c) for c in rgbs])


@dataclass
class Looks:
    season: str
    tree_kinds: tuple[float, float, float]  # chances of leafy, bare, conifer
    sun_elevation_deg: float
    sun_azimuth_deg: float
    overcast: float  # 0 clear .. 1 fully overcast
    fog_m: float | None  # visibility (metres) or no fog
    wet: float  # 0 dry .. 1 puddled road
    exposure: float  # stops
    white_balance_k: float
    tint: float
    texture_scale: float  # multiplies every procedural texture's scale
    brick_share: float
    roof_share: float
    asphalt: np.ndarray
    grass: np.ndarray
    paving: np.ndarray
    kerb: np.ndarray
    paint: np.ndarray  # lane markings
    window_tint: np.ndarray
    car_glass: np.ndarray
    housing: np.ndarray
    lamp_colour: np.ndarray
    facades: np.ndarray
    bricks: np.ndarray
    roofs: np.ndarray
    frames: np.ndarray
    doors: np.ndarray
    concrete: np.ndarray
    woods: np.ndarray
    metals: np.ndarray
    leaves: np.ndarray
    needles: np.ndarray
    hedges: np.ndarray
    barks: np.ndarray
    sign_faces: np.ndarray
    skins: np.ndarray
    hairs: np.ndarray
    clothes: np.ndarray
    trousers: np.ndarray
    paints: np.ndarray
    heavy_paints: np.ndarray

    @staticmethod
    def pick(table: np.ndarray, rng: np.random.Generator, spread: float = 0.12) -> np.ndarray:
        """One colour of ``table`` with a per-object brightness and hue jitter."""
        colour = table[int(rng.integers(0, len(table)))]
        return np.clip(colour * rng.uniform(1 - spread, 1 + spread) * rng.uniform(1 - spread / 2, 1 + spread / 2, 3), 0, 1)


LEAVES = {"summer": _table((60, 88, 38), (78, 104, 46), (52, 74, 40), (92, 112, 50)),
          "autumn": _table((150, 96, 40), (170, 120, 46), (118, 70, 36), (96, 100, 44), (160, 60, 30)),
          "winter": _table((58, 70, 44), (70, 76, 50))}
GRASS = {"summer": ((88, 112, 52), (104, 118, 62)), "autumn": ((116, 112, 66), (120, 104, 70)),
         "winter": ((110, 104, 84), (96, 92, 76), (130, 126, 110))}
TREE_KINDS = {"summer": (0.7, 0.1, 0.2), "autumn": (0.6, 0.2, 0.2), "winter": (0.1, 0.6, 0.3)}


def draw_looks(rng: np.random.Generator) -> Looks:
    season = SEASONS[int(rng.choice(3, p=[0.45, 0.25, 0.3]))]
    overcast = float(rng.choice([0.0, rng.uniform(0.2, 0.6), 1.0], p=[0.5, 0.2, 0.3]))
    fog = float(rng.uniform(60.0, 300.0)) if rng.random() < 0.2 else None
    wet = float(rng.uniform(0.4, 1.0)) if rng.random() < (0.35 if overcast > 0.5 else 0.08) else 0.0
    grass = GRASS[season]
    return Looks(
        season=season, tree_kinds=TREE_KINDS[season],
        sun_elevation_deg=float(rng.uniform(4.0, 60.0)), sun_azimuth_deg=float(rng.uniform(0.0, 360.0)),
        overcast=overcast, fog_m=fog, wet=wet,
        exposure=float(rng.uniform(-0.4, 0.4)), white_balance_k=float(rng.uniform(5000.0, 7600.0)),
        tint=float(rng.uniform(-8.0, 8.0)), texture_scale=float(rng.uniform(0.7, 1.4)),
        brick_share=float(rng.uniform(0.2, 0.6)), roof_share=float(rng.uniform(0.0, 0.6)),
        asphalt=srgb(np.array((86, 86, 90)) * rng.uniform(0.75, 1.3)), grass=_table(*grass)[int(rng.integers(len(grass)))],
        paving=srgb(np.array((150, 144, 138)) * rng.uniform(0.7, 1.15)), kerb=srgb((160, 158, 152)),
        paint=srgb((225, 225, 215) if rng.random() < 0.85 else (230, 190, 60)), window_tint=srgb((40, 48, 56)),
        car_glass=srgb((30, 36, 42)), housing=srgb((30, 30, 32) if rng.random() < 0.7 else (180, 150, 40)),
        lamp_colour=srgb((255, 220, 170)),
        facades=_table((214, 206, 188), (196, 170, 120), (220, 220, 214), (170, 184, 176), (186, 150, 130), (150, 145, 140),
                       (120, 126, 142), (176, 166, 140)),
        bricks=_table((150, 80, 60), (128, 88, 74), (170, 110, 80), (110, 70, 60), (160, 150, 140)),
        roofs=_table((120, 60, 50), (70, 70, 76), (90, 60, 50)),
        frames=_table((235, 235, 230), (60, 50, 44), (40, 40, 42), (120, 90, 60)),
        doors=_table((90, 60, 40), (40, 50, 70), (120, 30, 30), (60, 60, 60)),
        concrete=_table((150, 148, 142), (130, 128, 124), (176, 170, 160)),
        woods=_table((130, 100, 70), (100, 80, 60), (200, 200, 195), (80, 100, 80)),
        metals=_table((150, 152, 156), (70, 72, 76), (40, 60, 50), (110, 112, 116)),
        leaves=LEAVES[season], needles=_table((34, 52, 30), (40, 60, 36), (28, 44, 30)),
        hedges=_table((44, 70, 34), (56, 80, 40), (48, 62, 36)),
        barks=_table((70, 60, 52), (90, 84, 78), (56, 48, 42), (110, 104, 96)),
        sign_faces=_table((200, 30, 30), (30, 70, 170), (230, 190, 20), (235, 235, 230), (30, 120, 60)),
        skins=_table((230, 190, 160), (200, 150, 115), (150, 105, 75), (100, 70, 50)),
        hairs=_table((50, 36, 24), (150, 120, 70), (25, 22, 22), (180, 180, 176), (110, 60, 30)),
        clothes=_table((150, 45, 42), (48, 66, 120), (200, 200, 196), (38, 38, 40), (62, 96, 68), (178, 160, 78), (110, 75, 125),
                       (200, 90, 40), (60, 130, 150), (90, 80, 70)),
        trousers=_table((46, 56, 86), (36, 36, 38), (96, 86, 70), (120, 120, 126), (60, 50, 40)),
        paints=_table((150, 30, 28), (30, 50, 110), (210, 210, 208), (25, 25, 27), (130, 133, 138), (50, 90, 60), (200, 170, 40),
                      (90, 150, 170), (170, 130, 90), (110, 60, 90)),
        heavy_paints=_table((230, 230, 226), (200, 170, 40), (180, 40, 36), (40, 80, 150), (90, 140, 110), (120, 120, 124)),
    )
