"""Figures shared by training and replay evaluation: the per-class IoU chart, and the figure
helpers both draw with. Figures are drawn on a ``matplotlib.figure.Figure`` (no pyplot, no global
backend state), and every file goes through ``atomic_path`` so a crash never leaves half a PNG.
"""
from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any

import numpy as np

from .io import atomic_path
from .labels import CAMVID_CLASS_NAMES, CAMVID_TO_TRAIN_ID, CLASS_NAMES, PALETTE, TRAIN_ID_BY_NAME

DPI = 100


def plot_per_class_iou(
    per_class_iou: dict[str, float | None], out_png: str | os.PathLike, title: str,
    miou: float | None = None,
) -> Path:
    """Horizontal bar chart of per-class IoU (in %), each bar in its Cityscapes colour (CamVid's
    classes in the colour of the Cityscapes class they stand for).

    Classes with ``None`` (absent from truth and prediction) are labelled "n/a". The
    dashed line is ``miou``, by default the mean over the classes that have a value
    (which is what ``ConfusionMatrix.summary`` reports). Returns the PNG path.
    """
    out_png = Path(out_png)
    order = {name: i for i, name in enumerate(CAMVID_CLASS_NAMES if set(per_class_iou) <= set(CAMVID_CLASS_NAMES)
                                              else CLASS_NAMES)}
    names = sorted(per_class_iou, key=lambda n: (order.get(n, len(order)), n))
    fig = new_figure((7.5, max(2.5, 0.32 * len(names) + 1.3)))
    ax = fig.subplots()
    if not names:
        empty_panel(ax, "no classes to show")
    else:
        values = [as_float(per_class_iou[n]) for n in names]
        heights = [0.0 if math.isnan(v) else v for v in values]
        colours = [class_colour(n) for n in names]
        positions = np.arange(len(names))
        ax.barh(positions, heights, color=colours, edgecolor="0.25", linewidth=0.5)
        for y, value in zip(positions, values):
            text = "n/a" if math.isnan(value) else f"{value:.1f}"
            ax.text((0 if math.isnan(value) else value) + 1.0, y, text, va="center", fontsize=8,
                    color="0.45" if math.isnan(value) else "0.1",
                    style="italic" if math.isnan(value) else "normal",
                    bbox={"facecolor": "white", "edgecolor": "none", "alpha": 0.85, "pad": 0.5}, zorder=4)
        ax.set_yticks(positions, labels=names, fontsize=9)
        ax.invert_yaxis()
        ax.set_xlim(0, 100)
        finite = [v for v in values if not math.isnan(v)]
        line = miou if is_finite(miou) else (float(np.mean(finite)) if finite else None)
        if line is not None:
            ax.axvline(line, color="0.2", linestyle="--", linewidth=1.2, label=f"mIoU {line:.1f}")
            ax.legend(loc="lower right", fontsize=8, framealpha=0.9)
        ax.grid(True, axis="x", alpha=0.3)
    ax.set_xlabel("IoU (%)")
    ax.set_title(title, fontsize=10)
    return save_figure(fig, out_png)


def new_figure(size: tuple[float, float]):
    from matplotlib.figure import Figure  # lazy: the trainer imports this module early

    return Figure(figsize=size, dpi=DPI, layout="constrained")


def save_figure(fig, out_png: Path) -> Path:
    with atomic_path(out_png, ".png") as tmp:
        fig.savefig(tmp, format="png", dpi=DPI)
    return out_png


def empty_panel(ax, message: str) -> None:
    ax.text(0.5, 0.5, message, ha="center", va="center", transform=ax.transAxes, fontsize=12, color="0.4")
    ax.set_xticks([])
    ax.set_yticks([])


def cycle_colours(n: int) -> list:
    from matplotlib import colormaps

    if n <= 10:
        return [colormaps["tab10"](i) for i in range(n)]
    return [colormaps["tab20"](i % 20) for i in range(n)]


def class_colour(name: str) -> tuple[float, float, float]:
    if name in TRAIN_ID_BY_NAME:
        return tuple(float(c) / 255.0 for c in PALETTE[TRAIN_ID_BY_NAME[name]])
    if name in CAMVID_CLASS_NAMES:
        return tuple(float(c) / 255.0 for c in PALETTE[CAMVID_TO_TRAIN_ID[CAMVID_CLASS_NAMES.index(name)]])
    return (0.6, 0.6, 0.6)


def format_iteration(value: Any) -> str:
    if not is_number(value):
        return "—"
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


def is_number(value: Any) -> bool:
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool)


def is_finite(value: Any) -> bool:
    return is_number(value) and math.isfinite(float(value))


def as_float(value: Any) -> float:
    return float(value) if is_number(value) else float("nan")
