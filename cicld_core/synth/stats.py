"""Content statistics of a style, measured on generated frames: what the benchmark's
content shift actually is, for tests and for ``benchmarks/synth_domain_gap.py``.

Two kinds of figures: the camera and object counts of the scenes as built (the layout
and the shapes, before anything can hide them), which must match the configured ranges
of ``styles.ContentStyle``; and what the labels show (horizon row, class pixel shares,
visible instances), which is what a model trained on one style meets in the other.
"""
from __future__ import annotations

import numpy as np

from ..labels import CLASS_NAMES, NUM_TRAIN_CLASSES, TRAIN_ID_BY_NAME
from . import check_size, generate_frame
from .scene import GEOMETRY_STREAM, build_scene, frame_rng, make_camera, sample_layout
from .styles import content_style

GROUND = np.array([TRAIN_ID_BY_NAME[n] for n in ("road", "sidewalk", "terrain")])
COUNTED = ("person", "rider", "bicycle", "motorcycle", "car", "truck", "bus", "train")


def measure_style(version: int, style: str, num: int = 100, size: tuple[int, int] = (256, 128),
                  seed: int = 0, split: str = "train") -> dict:
    """Means over ``num`` frames of (seed, split): camera, built and visible objects per
    class, class pixel shares and the horizon row read off the labels."""
    width, height = check_size(size)
    content = content_style(version, style)
    cam_height, focal, horizon_true, horizon_seen = [], [], [], []
    built = {name: 0 for name in COUNTED}
    visible = {name: 0 for name in COUNTED}
    pixels = np.zeros(256, np.int64)
    for index in range(num):
        # The scene as built: the same draws generate_frame makes.
        rng = frame_rng(seed, split, index, GEOMETRY_STREAM)
        layout = sample_layout(rng, content)
        camera = make_camera(layout, (width, height))
        shapes = build_scene(layout, camera, rng, content)
        instances = {(s.train_id, s.instance) for s in shapes if s.instance}
        for name in COUNTED:
            built[name] += sum(tid == TRAIN_ID_BY_NAME[name] for tid, _ in instances)
        cam_height.append(layout.cam_height)
        focal.append(layout.focal_frac)
        horizon_true.append(layout.horizon_frac)
        frame = generate_frame(seed, index, (width, height), style, split, version=version)
        ids = frame.train_ids
        pixels += np.bincount(ids.ravel(), minlength=256)
        for name in COUNTED:
            visible[name] += len(np.unique(frame.instance_ids[ids == TRAIN_ID_BY_NAME[name]]))
        # Ground starts at the horizon row; the top ground row of the frame is the horizon
        # where nothing stands in front of it (far buildings hide a pixel or two).
        rows = np.flatnonzero(np.isin(ids, GROUND).any(1))
        horizon_seen.append(rows[0] / height if len(rows) else np.nan)
    share = pixels[:NUM_TRAIN_CLASSES] / max(pixels.sum(), 1)
    fov = 2 * np.degrees(np.arctan(0.5 / np.asarray(focal)))
    return {
        "version": version, "style": style, "frames": num, "size": f"{width}x{height}",
        "cam_height_m": round(float(np.mean(cam_height)), 3),
        "focal_frac": round(float(np.mean(focal)), 3),
        "horizontal_fov_deg": round(float(np.mean(fov)), 1),
        "horizon_frac": round(float(np.mean(horizon_true)), 3),
        "horizon_frac_from_labels": round(float(np.nanmean(horizon_seen)), 3),
        "built_per_frame": {k: round(v / num, 3) for k, v in built.items()},
        "visible_per_frame": {k: round(v / num, 3) for k, v in visible.items()},
        "pixel_share": {name: round(float(s), 4) for name, s in zip(CLASS_NAMES, share)},
    }


def format_comparison(a: dict, b: dict) -> str:
    """Two measure_style results side by side, as a plain-text table."""
    lines = [f"{'':<28}{a['style'] + ' v' + str(a['version']):>14}{b['style'] + ' v' + str(b['version']):>14}"]
    for key in ("cam_height_m", "horizontal_fov_deg", "horizon_frac", "horizon_frac_from_labels"):
        lines.append(f"{key:<28}{a[key]:>14}{b[key]:>14}")
    for group in ("built_per_frame", "visible_per_frame"):
        for name in COUNTED:
            lines.append(f"{group + ': ' + name:<28}{a[group][name]:>14}{b[group][name]:>14}")
    for name in CLASS_NAMES:
        lines.append(f"{'pixel % ' + name:<28}{100 * a['pixel_share'][name]:>14.2f}{100 * b['pixel_share'][name]:>14.2f}")
    return "\n".join(lines)
