"""The training curves figure: losses, target mIoU and f_dis's accuracy against iteration."""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from ..plots import as_float, cycle_colours, empty_panel, format_iteration, is_finite, new_figure, save_figure
from .metrics_log import DIS_ACCURACY_PREFIX, LOSS_PREFIX, latest_per_iter, loss_keys, prefixed_keys

CURVES_FILE = "curves.png"


def plot_curves(train_records: list[dict], eval_records: list[dict], out_png: str | os.PathLike) -> Path:
    """Draw the training curves into one PNG and return its path.

    Left panel: every ``loss/...`` term found in the train records against iteration,
    the raw values as a light line and a moving average in the same colour (log y-axis
    when all values are positive). Right panel: target mIoU against iteration, the
    best point annotated. Either panel says so when it has nothing to show yet.
    """
    out_png = Path(out_png)
    train = latest_per_iter(train_records)
    evals = latest_per_iter(eval_records)
    accuracy_keys = prefixed_keys(train, DIS_ACCURACY_PREFIX)
    if accuracy_keys:  # a third panel: f_dis's accuracy per domain against chance
        fig = new_figure((18.0, 4.8))
        ax_loss, ax_miou, ax_dis = fig.subplots(1, 3, gridspec_kw={"width_ratios": [1.25, 1.0, 1.0]})
        _plot_discriminator_accuracy(ax_dis, train, accuracy_keys)
    else:
        fig = new_figure((13.0, 4.8))
        ax_loss, ax_miou = fig.subplots(1, 2, gridspec_kw={"width_ratios": [1.25, 1.0]})

    loss_names = loss_keys(train)
    if loss_names:
        iters = np.array([r["iter"] for r in train], dtype=np.float64)
        all_finite: list[np.ndarray] = []
        colours = cycle_colours(len(loss_names))
        for key, colour in zip(loss_names, colours):
            values = np.array([as_float(r.get(key)) for r in train], dtype=np.float64)
            present = np.array([key in r for r in train])  # a term may start late
            x, y = iters[present], values[present]
            if not np.isfinite(y).any():
                continue
            all_finite.append(y[np.isfinite(y)])
            marker = "o" if len(y) < 3 else None
            ax_loss.plot(x, y, color=colour, alpha=0.25, linewidth=0.8, marker=marker, markersize=3)
            ax_loss.plot(x, moving_average(y, _smoothing_window(len(y))), color=colour,
                         linewidth=1.8, marker=marker, markersize=3, label=key[len(LOSS_PREFIX):])
        finite = np.concatenate(all_finite) if all_finite else np.array([])
        if finite.size and (finite > 0).all():
            ax_loss.set_yscale("log")
        ax_loss.legend(loc="upper right", fontsize=8, framealpha=0.8)
        ax_loss.grid(True, which="major", alpha=0.3)
        ax_loss.set_xlim(left=0)
    else:
        empty_panel(ax_loss, "no training losses yet")
    ax_loss.set_title("training losses (light: raw, bold: moving average)", fontsize=10)
    ax_loss.set_xlabel("iteration")
    ax_loss.set_ylabel("loss")

    points = [(r["iter"], float(r["miou"])) for r in evals if is_finite(r.get("miou"))]
    protocol = next((r.get("protocol") for r in reversed(evals) if r.get("protocol")), None)
    if points:
        xs, ys = zip(*points)
        ax_miou.plot(xs, ys, marker="o", markersize=4, color="tab:blue", linewidth=1.5)
        best_index = int(np.argmax(ys))
        best_x, best_y = xs[best_index], ys[best_index]
        ax_miou.plot([best_x], [best_y], marker="*", markersize=14, color="tab:red", zorder=3)
        right_half = len(xs) > 1 and best_x > (min(xs) + max(xs)) / 2
        ax_miou.annotate(
            f"best {best_y:.1f} @ {format_iteration(best_x)}", xy=(best_x, best_y),
            xytext=(-10 if right_half else 10, 10), textcoords="offset points",
            ha="right" if right_half else "left", fontsize=9, color="tab:red",
        )
        ax_miou.set_ylim(0, min(100.0, max(best_y * 1.2, best_y + 5.0)))
        ax_miou.set_xlim(left=0, right=max(max(xs), train[-1]["iter"] if train else 0) * 1.05 or 1)
        ax_miou.grid(True, alpha=0.3)
    else:
        empty_panel(ax_miou, "no evaluation yet")
    suffix = f" ({protocol} classes)" if protocol else ""
    ax_miou.set_title(f"target mIoU{suffix}", fontsize=10)
    ax_miou.set_xlabel("iteration")
    ax_miou.set_ylabel("mIoU (%)")
    return save_figure(fig, out_png)


def _plot_discriminator_accuracy(ax, train: list[dict], keys: list[str]) -> None:
    chance = 1.0 / len(keys)
    for key, colour in zip(keys, cycle_colours(len(keys))):
        points = [(r["iter"], as_float(r[key])) for r in train if key in r]
        xs, ys = zip(*points)
        ax.plot(xs, ys, color=colour, linewidth=1.5, marker="o" if len(xs) < 3 else None, markersize=3,
                label=key[len(DIS_ACCURACY_PREFIX):])
    ax.axhline(chance, color="0.3", linestyle="--", linewidth=1.0, label=f"chance {chance:.2f}")
    ax.set_ylim(-0.02, 1.02)
    ax.set_xlim(left=0)
    ax.grid(True, alpha=0.3)
    ax.legend(loc="upper right", fontsize=8, framealpha=0.8)
    ax.set_title("discriminator accuracy per domain (mean per log interval)", fontsize=10)
    ax.set_xlabel("iteration")
    ax.set_ylabel("accuracy")


def moving_average(values: np.ndarray, window: int) -> np.ndarray:
    """Centred mean over ``window`` values (shrinking at the ends), ignoring NaN/inf;
    NaN where a window holds no finite value. Centred, so the curve does not lag."""
    values = np.asarray(values, dtype=np.float64)
    window = max(1, int(window))
    finite = np.isfinite(values)
    sums = np.concatenate([[0.0], np.cumsum(np.where(finite, values, 0.0))])
    counts = np.concatenate([[0], np.cumsum(finite)])
    index = np.arange(len(values))
    starts = np.maximum(index - window // 2, 0)
    ends = np.minimum(index + window - window // 2, len(values))
    n = counts[ends] - counts[starts]
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(n > 0, (sums[ends] - sums[starts]) / np.maximum(n, 1), np.nan)


def _smoothing_window(n: int) -> int:
    return int(min(50, max(1, n // 10)))
