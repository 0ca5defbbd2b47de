"""Small outlines in metres (circles, ellipses, wobbly blobs) and the depth draw shared
by the prop builders."""
from __future__ import annotations

import numpy as np

BLOB_RADIUS_WOBBLE = (0.78, 1.12)  # a blob's radius varies by this factor around its outline


def log_uniform(rng: np.random.Generator, lo: float, hi: float, n: int | None = None):
    """Depths drawn evenly in log z: objects spread evenly over on-screen sizes."""
    return np.exp(rng.uniform(np.log(lo), np.log(hi), n))


def circle(cx: float, cy: float, r: float, n: int = 12) -> np.ndarray:
    t = np.linspace(0, 2 * np.pi, n, endpoint=False)
    return np.stack([cx + r * np.cos(t), cy + r * np.sin(t)], -1)


def ellipse(cx: float, cy: float, rx: float, ry: float, n: int = 14) -> np.ndarray:
    t = np.linspace(0, 2 * np.pi, n, endpoint=False)
    return np.stack([cx + rx * np.cos(t), cy + ry * np.sin(t)], -1)


def blob(rng: np.random.Generator, cx: float, cy: float, rx: float, ry: float, n: int = 14) -> np.ndarray:
    """An irregular closed outline (tree crown, bush): an ellipse with a wobbly radius."""
    t = np.linspace(0, 2 * np.pi, n, endpoint=False)
    r = rng.uniform(*BLOB_RADIUS_WOBBLE, n)
    return np.stack([cx + rx * r * np.cos(t), cy + ry * r * np.sin(t)], -1)
