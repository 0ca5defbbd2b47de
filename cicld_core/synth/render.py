"""Appearance: the same painted scene rendered in two domains.

``source`` looks like a game engine: saturated flat colours, hard edges, no noise.
``target`` looks like a camera: the same hue family per material, but desaturated,
textured (asphalt, bricks, leaves, grass), lit by a gradient, colour cast, vignetted,
noisy, slightly blurred and JPEG-compressed.

Shapes and each material's rough hue are shared, so a model can adapt from one to the
other; saturation, brightness, texture and sensor effects differ, so it must. Several
materials of different classes share colours on purpose (walls, buildings, sidewalks;
trucks, buses, trams; persons and riders), so colour alone never names the class.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import cv2
import numpy as np

from .materials import Mat
from .raster import Raster
from .styles import V2_TARGET_COLOURS, Weather, render_style

STYLES = ("source", "target")
# Colour tables: the two styles of version 1 and version 2's target (other colours for
# several materials, see styles.V2_TARGET_COLOURS). Version 2's source is version 1's.
PALETTES = ("source", "target", "target_v2")
RGB = tuple[int, int, int]


@dataclass(frozen=True)
class Look:
    """How one material looks in each domain.

    ``source``/``target``: colour options (one is picked per object); ``jitter``: per-object
    RGB spread in each domain; ``texture``: (fine, mid, coarse) noise amplitudes in target.
    """
    source: tuple[RGB, ...]
    target: tuple[RGB, ...]
    jitter: tuple[float, float] = (10.0, 14.0)
    texture: tuple[float, float, float] = (0.03, 0.03, 0.04)


# Paints shared by several vehicle classes: the model has to use shape to tell them apart.
_PAINT_SRC = ((220, 30, 30), (30, 60, 200), (232, 232, 236), (32, 32, 36), (160, 165, 178), (40, 150, 60), (240, 200, 30))
_PAINT_TGT = ((150, 45, 42), (48, 66, 120), (198, 198, 196), (38, 38, 40), (132, 135, 140), (62, 96, 68), (178, 160, 78))
_CLOTH_SRC = ((230, 40, 40), (40, 80, 230), (245, 245, 245), (30, 30, 30), (40, 180, 60), (240, 200, 30), (160, 60, 200), (120, 120, 130))
_CLOTH_TGT = ((150, 55, 52), (55, 70, 125), (195, 195, 190), (35, 35, 37), (70, 110, 75), (175, 155, 80), (110, 75, 125), (105, 105, 110))

LOOKS: dict[Mat, Look] = {
    # Sky differs most between domains: game blue against a hazy, often overcast sky.
    Mat.SKY: Look(((90, 160, 250), (110, 175, 255)), ((170, 195, 222), (198, 203, 210), (150, 180, 215), (215, 215, 212)), (8, 12), (0.0, 0.01, 0.02)),
    Mat.ROAD: Look(((125, 100, 145),), ((92, 90, 96), (80, 80, 84), (106, 102, 100)), (10, 10), (0.08, 0.03, 0.05)),
    Mat.MARKING: Look(((250, 250, 250),), ((196, 196, 190),), (4, 12), (0.08, 0.05, 0.05)),
    Mat.RAIL: Look(((175, 175, 185),), ((118, 114, 110),), (6, 10), (0.05, 0.03, 0.03)),
    Mat.SIDEWALK: Look(((205, 160, 185), (190, 170, 175)), ((152, 146, 142), (165, 160, 150), (136, 131, 129)), (14, 14), (0.05, 0.03, 0.05)),
    Mat.CURB: Look(((232, 200, 216),), ((172, 170, 166),), (8, 10), (0.05, 0.04, 0.04)),
    Mat.BUILDING: Look(((215, 140, 90), (180, 180, 195), (232, 205, 140), (165, 90, 70), (150, 160, 205), (205, 160, 185)),
                       ((152, 122, 102), (140, 140, 142), (176, 166, 140), (128, 88, 74), (120, 126, 142), (150, 145, 140)), (22, 22), (0.04, 0.03, 0.05)),
    Mat.FAR_BUILDING: Look(((195, 175, 205), (175, 180, 205)), ((150, 152, 158), (166, 162, 158)), (14, 14), (0.03, 0.04, 0.05)),
    Mat.WINDOW: Look(((60, 110, 165), (80, 140, 190)), ((55, 64, 74), (82, 90, 100), (110, 118, 125)), (14, 14), (0.03, 0.04, 0.03)),
    Mat.WALL: Look(((170, 170, 205), (205, 170, 150), (190, 170, 180)), ((136, 136, 142), (152, 142, 128), (145, 140, 138)), (18, 18), (0.05, 0.03, 0.05)),
    Mat.FENCE: Look(((205, 150, 90), (120, 165, 120), (160, 160, 175)), ((130, 106, 82), (96, 112, 96), (126, 126, 130)), (16, 16), (0.08, 0.06, 0.05)),
    Mat.FENCE_POST: Look(((120, 90, 60), (80, 80, 95)), ((84, 70, 56), (70, 70, 73)), (10, 10), (0.05, 0.04, 0.03)),
    Mat.POLE: Look(((150, 150, 168), (90, 100, 125)), ((112, 112, 114), (76, 80, 86)), (12, 12), (0.04, 0.03, 0.03)),
    Mat.LIGHT_BOX: Look(((40, 40, 46), (232, 190, 30)), ((36, 36, 39), (165, 145, 62)), (8, 10), (0.03, 0.03, 0.02)),
    Mat.LAMP_RED: Look(((255, 40, 40),), ((190, 62, 52),), (8, 10), (0.02, 0.02, 0.02)),
    Mat.LAMP_AMBER: Look(((255, 180, 0),), ((190, 142, 52),), (8, 10), (0.02, 0.02, 0.02)),
    Mat.LAMP_GREEN: Look(((40, 255, 120),), ((72, 170, 112),), (8, 10), (0.02, 0.02, 0.02)),
    Mat.SIGN: Look(((230, 30, 30), (30, 80, 230), (255, 220, 0), (250, 250, 250)), ((176, 56, 50), (52, 82, 160), (200, 176, 62), (210, 210, 205)), (8, 12), (0.03, 0.03, 0.02)),
    Mat.SIGN_BORDER: Look(((250, 250, 250), (230, 30, 30), (170, 170, 182)), ((200, 200, 196), (170, 60, 56), (130, 130, 132)), (8, 12), (0.03, 0.03, 0.02)),
    # Vegetation also differs strongly: bright game green against darker olive foliage.
    Mat.FOLIAGE: Look(((40, 190, 40), (90, 205, 30), (30, 160, 70)), ((70, 96, 42), (86, 106, 52), (60, 82, 46)), (18, 16), (0.2, 0.16, 0.05)),
    Mat.TRUNK: Look(((125, 80, 40),), ((76, 62, 48),), (10, 10), (0.08, 0.05, 0.03)),
    Mat.TERRAIN: Look(((160, 230, 80), (190, 220, 100)), ((116, 132, 72), (132, 136, 88), (142, 126, 92)), (16, 16), (0.12, 0.08, 0.06)),
    Mat.SKIN: Look(((240, 190, 150), (190, 130, 90), (130, 85, 60)), ((200, 160, 136), (160, 116, 86), (112, 82, 62)), (10, 12), (0.03, 0.02, 0.02)),
    Mat.HAIR: Look(((60, 40, 20), (200, 170, 90), (20, 20, 20), (240, 240, 240)), ((52, 42, 32), (150, 126, 82), (30, 28, 28), (190, 190, 188)), (10, 12), (0.05, 0.03, 0.02)),
    Mat.TOP: Look(_CLOTH_SRC, _CLOTH_TGT, (18, 18), (0.05, 0.04, 0.02)),
    Mat.BOTTOM: Look(((30, 50, 125), (30, 30, 30), (110, 90, 60), (150, 150, 165)), ((46, 56, 86), (36, 36, 38), (96, 86, 70), (120, 120, 126)), (12, 12), (0.05, 0.04, 0.02)),
    Mat.CAR_PAINT: Look(_PAINT_SRC, _PAINT_TGT, (14, 14), (0.02, 0.04, 0.04)),
    Mat.GLASS: Look(((50, 70, 115),), ((44, 50, 58), (70, 78, 88)), (10, 12), (0.03, 0.05, 0.03)),
    Mat.TYRE: Look(((22, 22, 22),), ((30, 30, 32),), (4, 6), (0.04, 0.02, 0.02)),
    Mat.TAIL_LIGHT: Look(((255, 0, 0),), ((170, 32, 32),), (6, 10), (0.02, 0.02, 0.02)),
    Mat.HEAD_LIGHT: Look(((255, 255, 200),), ((210, 210, 190),), (6, 10), (0.02, 0.02, 0.02)),
    Mat.CARGO: Look(((242, 242, 242), (200, 60, 60), (60, 100, 205), (222, 222, 100)), ((206, 206, 200), (150, 60, 56), (70, 90, 140), (182, 176, 112)), (12, 14), (0.03, 0.04, 0.05)),
    Mat.BUS_PAINT: Look(((240, 200, 30), (220, 40, 40), (40, 90, 215), (240, 240, 240)), ((190, 166, 62), (160, 50, 46), (60, 90, 150), (205, 205, 200)), (12, 14), (0.02, 0.04, 0.04)),
    Mat.TRAIN_PAINT: Look(((240, 240, 240), (220, 40, 40), (40, 165, 205), (240, 200, 30)), ((205, 205, 200), (160, 50, 46), (70, 130, 150), (190, 166, 62)), (12, 14), (0.02, 0.04, 0.04)),
    Mat.MOTO_PAINT: Look(((30, 30, 30), (220, 30, 30), (30, 60, 200)), ((36, 36, 38), (150, 42, 42), (46, 66, 126)), (10, 12), (0.03, 0.03, 0.02)),
    Mat.BIKE_FRAME: Look(((30, 30, 30), (200, 30, 30), (30, 60, 200), (222, 222, 222)), ((36, 36, 38), (150, 52, 50), (52, 72, 130), (190, 190, 188)), (10, 12), (0.03, 0.03, 0.02)),
    Mat.HOOD: Look(((60, 60, 72),), ((40, 40, 46),), (6, 8), (0.02, 0.03, 0.03)),
}


@dataclass(frozen=True)
class CameraEffects:
    """Ranges of the per-frame camera effects of the target style."""
    brightness: tuple[float, float] = (0.72, 1.18)
    light_gradient: tuple[float, float] = (0.1, 0.4)  # relative change across the frame
    white_balance: float = 0.12  # max red/blue gain change (warm or cool cast)
    tint: float = 0.05  # max green gain change
    vignette: tuple[float, float] = (0.15, 0.4)
    blur_sigma_px_at_1024: tuple[float, float] = (0.6, 1.2)
    noise_sigma: tuple[float, float] = (2.0, 6.0)
    gamma: tuple[float, float] = (0.85, 1.15)
    jpeg_quality: tuple[int, int] = (60, 92)
    brick_share: float = 0.45  # share of buildings with a brick texture


def _tables() -> tuple[np.ndarray, ...]:
    n = max(LOOKS) + 1
    v2 = {mat: V2_TARGET_COLOURS.get(mat.name, look.target) for mat, look in LOOKS.items()}
    width = max(max(len(l.source), len(l.target), len(v2[m])) for m, l in LOOKS.items())
    colours = np.zeros((len(PALETTES), n, width, 3), np.float32)
    counts = np.ones((len(PALETTES), n), np.int64)
    jitter = np.zeros((len(PALETTES), n), np.float32)
    texture = np.zeros((n, 3), np.float32)
    for mat, look in LOOKS.items():
        for d, options in enumerate((look.source, look.target, v2[mat])):
            colours[d, mat, : len(options)] = options
            counts[d, mat] = len(options)
            jitter[d, mat] = look.jitter[min(d, 1)]
        texture[mat] = look.texture
    return colours, counts, jitter, texture


_COLOURS, _COUNTS, _JITTER, _TEXTURE = _tables()


def shape_colours(raster: Raster, palette: str, rng: np.random.Generator) -> np.ndarray:
    """(n_shapes, 3) float colours: one option and jitter per (object, material), times the
    face's flat shade. All parts of one object made of one material share a colour."""
    d = PALETTES.index(palette)
    shapes = raster.shapes
    mats = np.array([s.material for s in shapes], np.int64)
    keys = np.array([s.group for s in shapes], np.int64) * 64 + mats
    uniq, inverse = np.unique(keys, return_inverse=True)
    umat = uniq % 64
    pick = (rng.random(len(uniq)) * _COUNTS[d, umat]).astype(np.int64)
    base = _COLOURS[d, umat, pick]
    # Per-object brightness and hue jitter: wide enough that colour alone never decides.
    jitter = (rng.normal(0, 1, (len(uniq), 3)) * 0.5 + rng.normal(0, 1, (len(uniq), 1))) * _JITTER[d, umat][:, None]
    shade = np.array([s.shade for s in shapes], np.float32)
    if palette != "source":
        shade = 1.0 - 0.7 * (1.0 - shade)  # softer diffuse light than the game's
    return np.clip(base[inverse] * shade[:, None] + jitter[inverse], 0, 255).astype(np.float32)


def render_source(raster: Raster, rng: np.random.Generator) -> np.ndarray:
    table = np.round(shape_colours(raster, "source", rng)).astype(np.uint8)
    return np.take(table, raster.index, axis=0)


@lru_cache(maxsize=4)
def _radius2(height: int, width: int) -> np.ndarray:
    y = (np.arange(height, dtype=np.float32) - height / 2) / (height / 2)
    x = (np.arange(width, dtype=np.float32) - width / 2) / (width / 2)
    return (x[None, :] ** 2 * 0.6 + y[:, None] ** 2 * 0.4).astype(np.float32)


NOISE_MARGIN = 64


@lru_cache(maxsize=4)
def _noise_tile(height: int, width: int, channels: int) -> np.ndarray:
    """A fixed Gaussian noise tile a little larger than the frame. Frames take a window
    at a random offset: drawing millions of normals per frame would cost more than the
    rest of the rendering together, and a fixed seed keeps frames reproducible."""
    rng = np.random.default_rng(20240601 + channels)
    shape = (height + NOISE_MARGIN, width + NOISE_MARGIN) + ((channels,) if channels > 1 else ())
    return rng.standard_normal(shape, dtype=np.float32)


def _noise_window(rng: np.random.Generator, height: int, width: int, channels: int) -> np.ndarray:
    oy, ox = rng.integers(0, NOISE_MARGIN, 2)
    return _noise_tile(height, width, channels)[oy:oy + height, ox:ox + width]


@lru_cache(maxsize=16)
def _mortar(height: int, width: int, brick_h: int) -> np.ndarray:
    """Running-bond mortar lines (1.0 on mortar) of bricks ``brick_h`` pixels tall."""
    bw = 2.3 * brick_h
    yy = np.arange(height)[:, None]
    xx = np.arange(width, dtype=np.float32)[None, :]
    row = yy // brick_h
    return (((yy % brick_h) < 1) | (((xx + (row % 2) * bw / 2) % bw) < 1.0)).astype(np.float32)


def _smooth_noise(rng: np.random.Generator, size: tuple[int, int], cell: int) -> np.ndarray:
    """Roughly unit Gaussian noise with features about ``cell`` pixels wide."""
    w, h = size
    small = rng.standard_normal((h // cell + 2, w // cell + 2), dtype=np.float32)
    return cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)


def render_target(raster: Raster, rng: np.random.Generator, fx: CameraEffects = CameraEffects(),
                  palette: str = "target", weather: Weather | None = None) -> np.ndarray:
    index = raster.index
    h, w = index.shape
    shapes = raster.shapes
    colours = shape_colours(raster, palette, rng)
    mats = np.array([s.material for s in shapes], np.int64)
    # Textures: noise at three scales, weighted per material.
    scale = max(1, round(w / 1024 * 3))
    fine = _noise_window(rng, h, w, 1)
    mid = _smooth_noise(rng, (w, h), scale * 3)
    coarse = _smooth_noise(rng, (w, h), scale * 16)
    # Bricks: mortar lines on some buildings (screen-aligned; at street scale it reads
    # fine), as a fourth texture weight so one gather fetches all four.
    brick_groups = rng.random(max(s.group for s in shapes) + 1) < fx.brick_share
    mortar_depth = np.array([0.28 if s.material == Mat.BUILDING and brick_groups[s.group] else 0.0 for s in shapes], np.float32)
    brick_h = int(max(2, round(h / 90 * rng.uniform(0.8, 1.3))))
    amp = np.take(np.concatenate([_TEXTURE[mats], mortar_depth[:, None]], 1), index, axis=0)
    tex = 1.0 + amp[..., 0] * fine + amp[..., 1] * mid + amp[..., 2] * coarse - amp[..., 3] * _mortar(h, w, brick_h)
    # Light: a gradient in a random direction, the frame's exposure, vignetting.
    angle = rng.uniform(0, 2 * np.pi)
    strength = rng.uniform(*fx.light_gradient)
    gx = (np.arange(w, dtype=np.float32) / w - 0.5) * np.cos(angle)
    gy = (np.arange(h, dtype=np.float32) / h - 0.5) * np.sin(angle)
    gain = (rng.uniform(*fx.brightness) * (1.0 + strength * (gx[None, :] + gy[:, None]))).astype(np.float32)
    gain *= 1.0 - rng.uniform(*fx.vignette) * _radius2(h, w)
    # Sky: darker overhead, hazy toward the horizon. Only rows above the horizon can be sky.
    top = min(h, int(raster.horizon) + 2)
    if top > 0:
        ramp = (0.82 + 0.3 * np.clip(np.arange(top, dtype=np.float32) / max(raster.horizon, 1.0), 0, 1))[:, None]
        sky = np.take(mats == Mat.SKY, index[:top])
        gain[:top] = np.where(sky, gain[:top] * ramp, gain[:top])
    # White balance scales whole colours, so it is applied to the per-shape table.
    warm = rng.uniform(-fx.white_balance, fx.white_balance)
    colours *= np.array([1 + warm, 1 + rng.uniform(-fx.tint, fx.tint), 1 - warm], np.float32)
    tex *= gain
    image = np.take(colours, index, axis=0)
    image *= tex[..., None]
    if weather is not None:  # version 1 draws nothing here, so its frames stay as they were
        image = apply_weather(image, raster, rng, weather)
    # The lens blurs before the sensor adds noise; the codec comes last.
    sigma = rng.uniform(*fx.blur_sigma_px_at_1024) * w / 1024
    sigma = max(sigma, 0.35)
    k = 2 * int(np.ceil(2 * sigma)) + 1  # +-2 sigma is plenty; OpenCV's default kernel is twice as wide
    image = cv2.GaussianBlur(image, (k, k), sigma)
    image = cv2.scaleAdd(_noise_window(rng, h, w, 3), float(rng.uniform(*fx.noise_sigma)), image)
    out = np.clip(image, 0, 255, out=image).astype(np.uint8)
    gamma = rng.uniform(*fx.gamma)
    out = cv2.LUT(out, (255.0 * (np.arange(256) / 255.0) ** gamma).round().astype(np.uint8))
    quality = int(rng.integers(fx.jpeg_quality[0], fx.jpeg_quality[1] + 1))
    ok, buf = cv2.imencode(".jpg", cv2.cvtColor(out, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise RuntimeError("JPEG encoding failed")
    return cv2.cvtColor(cv2.imdecode(buf, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)


WEATHER_KINDS = ("clear", "overcast", "fog", "rain")


def draw_weather(rng: np.random.Generator, weather: Weather) -> str:
    r = rng.random()
    for kind, chance in (("overcast", weather.overcast), ("fog", weather.fog), ("rain", weather.rain)):
        if r < chance:
            return kind
        r -= chance
    return "clear"


def apply_weather(image: np.ndarray, raster: Raster, rng: np.random.Generator, weather: Weather) -> np.ndarray:
    """Overcast, fog or rain on the lit float image, before the lens and the sensor.
    Fog thickens toward the horizon row (far away) instead of a global contrast change, and
    rain streaks are local, so neither is one affine map of the channels."""
    kind = draw_weather(rng, weather)
    if kind == "clear":
        return image
    h, w = image.shape[:2]
    grey = image.mean(-1, keepdims=True)
    if kind == "overcast":
        return (grey + 0.6 * (image - grey)) * rng.uniform(0.7, 0.9)
    if kind == "fog":
        density = rng.uniform(*weather.fog_density)
        rows = np.abs(np.arange(h, dtype=np.float32) - raster.horizon) / (0.5 * h)
        alpha = (density * np.clip(1.0 - rows, 0.0, 1.0) ** 1.5)[:, None, None]
        fog = np.float32(rng.uniform(170, 215))
        return image * (1.0 - alpha) + fog * alpha
    # rain: darker and duller, with bright slanted streaks
    image = (grey + 0.75 * (image - grey)) * rng.uniform(0.65, 0.85)
    streaks = np.zeros((h, w), np.float32)
    n = int(rng.integers(*weather.rain_streaks) * h * w / (256 * 128))
    x0, y0 = rng.uniform(0, w, n), rng.uniform(-0.1 * h, h, n)
    length = rng.uniform(0.04, 0.12, n) * h
    slant = rng.uniform(-0.25, 0.1)
    for x, y, ln in zip(x0, y0, length):
        cv2.line(streaks, (int(x), int(y)), (int(x + slant * ln), int(y + ln)), 1.0, 1)
    return image + streaks[..., None] * np.float32(rng.uniform(25, 60))


def render_image(raster: Raster, style: str, rng: np.random.Generator, version: int = 1) -> np.ndarray:
    """(H, W, 3) RGB uint8 of the painted scene in ``style`` of benchmark ``version``."""
    if style not in STYLES:
        raise ValueError(f"style must be one of {STYLES}, got {style!r}")
    spec = render_style(version, style)
    if style == "source":
        return render_source(raster, rng)
    return render_target(raster, rng, palette=spec.colours, weather=spec.weather if version >= 2 else None)
