"""The training run's human-facing outputs: loss and mIoU curves, a per-class IoU chart
and a Markdown report, all rebuilt from the run's work dir.

The trainer appends one JSON object per line to ``WORK_DIR/metrics.jsonl``::

    {"kind": "train", "iter": 50, "lr": 6e-05, "loss/seg_source": 1.2, ..., "dis_acc/source": 0.4, ..., "time_s": 12.3}
    {"kind": "eval", "iter": 100, "miou": 23.4, "protocol": 19, "per_class_iou": {...}, ...}
    {"kind": "eval", "iter": 200, "miou": null, "error": "cannot decode image ...", ...}  (a failed evaluation)

Rebuild the report of a run (also of one still training, or one that was killed)::

    python -m cicld_core.uda.report WORK_DIR

Figures are drawn on a ``matplotlib.figure.Figure`` (no pyplot, no global backend
state), and every file goes through ``atomic_path`` so a crash never leaves half a PNG.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import sys
import warnings
from pathlib import Path
from typing import Any, Iterable

import numpy as np
import yaml

from ..io import atomic_path
from ..labels import CLASS_NAMES, PALETTE, TRAIN_ID_BY_NAME

METRICS_FILE = "metrics.jsonl"
REPORT_FILE = "report.md"
CURVES_FILE = "curves.png"
PER_CLASS_FILE = "per_class_iou.png"
CONFIG_FILE = "config.yaml"
COMMAND_FILE = "command.txt"

_LOSS_PREFIX = "loss/"
# f_dis's accuracy per domain, the mean over a log interval: near 1 / domains, the
# adversarial term carries no domain signal (issue 16: report it, do not hide it)
DIS_ACCURACY_PREFIX = "dis_acc/"
CHANCE_MARGIN = 0.1  # a last-quarter accuracy within this of chance counts as "at chance"
_DPI = 100


# --------------------------------------------------------------------------- reading


def read_metrics(path: str | os.PathLike) -> tuple[list[dict], list[dict]]:
    """Read a ``metrics.jsonl`` log into (train records, eval records), in file order.

    Blank lines and records of other kinds are skipped. A last line that is not a
    JSON object is taken as a write cut short by a killed run: it is skipped with a
    warning. A bad line anywhere else raises ``ValueError`` naming the file and line.
    Records of a resumed run may repeat iterations; see ``latest_per_iter``.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"metrics log not found: {path}")
    lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    last = max((i for i, line in enumerate(lines) if line.strip()), default=-1)
    train: list[dict] = []
    evals: list[dict] = []
    for index, line in enumerate(lines):
        if not line.strip():
            continue
        number = index + 1
        try:
            record = json.loads(line)
            if not isinstance(record, dict):
                raise ValueError(f"expected a JSON object, got {type(record).__name__}")
        except ValueError as exc:  # json.JSONDecodeError is a ValueError
            if index == last:
                warnings.warn(
                    f"{path}:{number}: skipping a truncated last line (run killed mid-write?)",
                    RuntimeWarning, stacklevel=2,
                )
                continue
            raise ValueError(f"{path}:{number}: not a JSON object record: {exc}; line: {line[:120]!r}") from None
        kind = record.get("kind")
        if kind not in ("train", "eval"):
            continue
        if not _is_number(record.get("iter")):
            raise ValueError(f"{path}:{number}: {kind} record without a numeric 'iter': {line[:120]!r}")
        (train if kind == "train" else evals).append(record)
    return train, evals


def latest_per_iter(records: Iterable[dict]) -> list[dict]:
    """Sort by iteration, keeping the last-logged record of each iteration.

    A run resumed from a checkpoint logs again the iterations after that checkpoint;
    the later records are the ones of the run that went on.
    """
    by_iter: dict[Any, dict] = {}
    for record in records:
        by_iter[record["iter"]] = record
    return [by_iter[key] for key in sorted(by_iter)]


def best_eval_record(eval_records: Iterable[dict]) -> dict | None:
    """The eval record with the highest mIoU (the earliest on ties); None if none has one."""
    best = None
    for record in eval_records:
        miou = record.get("miou")
        if _is_finite(miou) and (best is None or miou > best["miou"]):
            best = record
    return best


# --------------------------------------------------------------------------- figures


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
    accuracy_keys = _prefixed_keys(train, DIS_ACCURACY_PREFIX)
    if accuracy_keys:  # a third panel: f_dis's accuracy per domain against chance
        fig = _new_figure((18.0, 4.8))
        ax_loss, ax_miou, ax_dis = fig.subplots(1, 3, gridspec_kw={"width_ratios": [1.25, 1.0, 1.0]})
        _plot_discriminator_accuracy(ax_dis, train, accuracy_keys)
    else:
        fig = _new_figure((13.0, 4.8))
        ax_loss, ax_miou = fig.subplots(1, 2, gridspec_kw={"width_ratios": [1.25, 1.0]})

    loss_keys = _loss_keys(train)
    if loss_keys:
        iters = np.array([r["iter"] for r in train], dtype=np.float64)
        all_finite: list[np.ndarray] = []
        colours = _cycle_colours(len(loss_keys))
        for key, colour in zip(loss_keys, colours):
            values = np.array([_as_float(r.get(key)) for r in train], dtype=np.float64)
            present = np.array([key in r for r in train])  # a term may start late
            x, y = iters[present], values[present]
            if not np.isfinite(y).any():
                continue
            all_finite.append(y[np.isfinite(y)])
            marker = "o" if len(y) < 3 else None
            ax_loss.plot(x, y, color=colour, alpha=0.25, linewidth=0.8, marker=marker, markersize=3)
            ax_loss.plot(x, moving_average(y, _smoothing_window(len(y))), color=colour,
                         linewidth=1.8, marker=marker, markersize=3, label=key[len(_LOSS_PREFIX):])
        finite = np.concatenate(all_finite) if all_finite else np.array([])
        if finite.size and (finite > 0).all():
            ax_loss.set_yscale("log")
        ax_loss.legend(loc="upper right", fontsize=8, framealpha=0.8)
        ax_loss.grid(True, which="major", alpha=0.3)
        ax_loss.set_xlim(left=0)
    else:
        _empty_panel(ax_loss, "no training losses yet")
    ax_loss.set_title("training losses (light: raw, bold: moving average)", fontsize=10)
    ax_loss.set_xlabel("iteration")
    ax_loss.set_ylabel("loss")

    points = [(r["iter"], float(r["miou"])) for r in evals if _is_finite(r.get("miou"))]
    protocol = next((r.get("protocol") for r in reversed(evals) if r.get("protocol")), None)
    if points:
        xs, ys = zip(*points)
        ax_miou.plot(xs, ys, marker="o", markersize=4, color="tab:blue", linewidth=1.5)
        best_index = int(np.argmax(ys))
        best_x, best_y = xs[best_index], ys[best_index]
        ax_miou.plot([best_x], [best_y], marker="*", markersize=14, color="tab:red", zorder=3)
        right_half = len(xs) > 1 and best_x > (min(xs) + max(xs)) / 2
        ax_miou.annotate(
            f"best {best_y:.1f} @ {_fmt_iter(best_x)}", xy=(best_x, best_y),
            xytext=(-10 if right_half else 10, 10), textcoords="offset points",
            ha="right" if right_half else "left", fontsize=9, color="tab:red",
        )
        ax_miou.set_ylim(0, min(100.0, max(best_y * 1.2, best_y + 5.0)))
        ax_miou.set_xlim(left=0, right=max(max(xs), train[-1]["iter"] if train else 0) * 1.05 or 1)
        ax_miou.grid(True, alpha=0.3)
    else:
        _empty_panel(ax_miou, "no evaluation yet")
    suffix = f" ({protocol} classes)" if protocol else ""
    ax_miou.set_title(f"target mIoU{suffix}", fontsize=10)
    ax_miou.set_xlabel("iteration")
    ax_miou.set_ylabel("mIoU (%)")
    return _save(fig, out_png)


def _plot_discriminator_accuracy(ax, train: list[dict], keys: list[str]) -> None:
    chance = 1.0 / len(keys)
    for key, colour in zip(keys, _cycle_colours(len(keys))):
        points = [(r["iter"], _as_float(r[key])) for r in train if key in r]
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


def discriminator_summary(train_records: list[dict]) -> dict[str, Any] | None:
    """f_dis's accuracy per domain: the first logged interval, the last, and the mean over the
    last quarter of the logged intervals, with chance and whether it ever left it. None when
    the run logged no accuracy (no adversarial term, or a run from before issue 16)."""
    train = latest_per_iter(train_records)
    keys = _prefixed_keys(train, DIS_ACCURACY_PREFIX)
    if not keys:
        return None
    chance = 1.0 / len(keys)
    domains = {}
    for key in keys:
        values = [_as_float(r[key]) for r in train if key in r]
        last_quarter = values[-max(1, len(values) // 4):]
        domains[key[len(DIS_ACCURACY_PREFIX):]] = {"first": values[0], "last": values[-1],
                                                   "last_quarter": float(np.nanmean(last_quarter))}
    overall = float(np.mean([d["last_quarter"] for d in domains.values()]))
    # the best interval over all domains at once: one domain's lucky interval is not a signal
    per_interval = [np.mean([_as_float(r[key]) for key in keys]) for r in train if all(key in r for key in keys)]
    ever = float(np.nanmax(per_interval)) if per_interval else overall
    return {"chance": chance, "domains": domains, "last_quarter_mean": overall,
            "at_chance": overall <= chance + CHANCE_MARGIN, "never_left_chance": ever <= chance + CHANCE_MARGIN}


def _discriminator_lines(summary: dict[str, Any] | None) -> list[str]:
    if summary is None:
        return []
    lines = ["## Discriminator", "", "f_dis's accuracy per domain on the batches it was about to learn from "
             f"(chance {summary['chance']:.2f}).", "",
             "| domain | first interval | last interval | mean, last quarter |", "|---|---:|---:|---:|"]
    for name, values in summary["domains"].items():
        lines.append(f"| {_cell(name)} | {values['first']:.2f} | {values['last']:.2f} | {values['last_quarter']:.2f} |")
    lines.append("")
    if summary["at_chance"]:
        verdict = "never left chance" if summary["never_left_chance"] else "ended at chance"
        lines += [f"**The discriminator {verdict}** (mean {summary['last_quarter_mean']:.2f} over the last quarter, "
                  f"chance {summary['chance']:.2f}): the adversarial term carried no domain signal in this run.", ""]
    else:
        lines += [f"The discriminator tells the domains apart above chance (mean {summary['last_quarter_mean']:.2f} "
                  f"over the last quarter, chance {summary['chance']:.2f}).", ""]
    return lines


def plot_per_class_iou(
    per_class_iou: dict[str, float | None], out_png: str | os.PathLike, title: str,
    miou: float | None = None,
) -> Path:
    """Horizontal bar chart of per-class IoU (in %), each bar in its Cityscapes colour.

    Classes with ``None`` (absent from truth and prediction) are labelled "n/a". The
    dashed line is ``miou``, by default the mean over the classes that have a value
    (which is what ``ConfusionMatrix.summary`` reports). Returns the PNG path.
    """
    out_png = Path(out_png)
    order = {name: i for i, name in enumerate(CLASS_NAMES)}
    names = sorted(per_class_iou, key=lambda n: (order.get(n, len(order)), n))
    fig = _new_figure((7.5, max(2.5, 0.32 * len(names) + 1.3)))
    ax = fig.subplots()
    if not names:
        _empty_panel(ax, "no classes to show")
    else:
        values = [_as_float(per_class_iou[n]) for n in names]
        heights = [0.0 if math.isnan(v) else v for v in values]
        colours = [_class_colour(n) for n in names]
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
        line = miou if _is_finite(miou) else (float(np.mean(finite)) if finite else None)
        if line is not None:
            ax.axvline(line, color="0.2", linestyle="--", linewidth=1.2, label=f"mIoU {line:.1f}")
            ax.legend(loc="lower right", fontsize=8, framealpha=0.9)
        ax.grid(True, axis="x", alpha=0.3)
    ax.set_xlabel("IoU (%)")
    ax.set_title(title, fontsize=10)
    return _save(fig, out_png)


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


# --------------------------------------------------------------------------- report


def write_report(
    work_dir: str | os.PathLike,
    config: dict,
    final_eval: dict | None,
    best_eval: dict | None,
    command: str,
    extra: dict | None = None,
) -> Path:
    """Write ``work_dir/report.md`` with ``curves.png`` and ``per_class_iou.png`` beside it.

    The report holds the command, a summary table (iterations done, best and final
    mIoU, wall time from ``extra["wall_time_s"]``; any other ``extra`` entries become
    rows too), the figures, a per-class IoU table (best and final) and the config as
    YAML. Curves come from ``work_dir/metrics.jsonl`` when it exists, else from the
    two evals given. Returns the report's path.
    """
    work_dir = Path(work_dir)
    work_dir.mkdir(parents=True, exist_ok=True)
    extra = dict(extra or {})
    metrics_path = work_dir / METRICS_FILE
    if metrics_path.is_file():
        train_records, eval_records = read_metrics(metrics_path)
    else:
        train_records, eval_records = [], [e for e in (best_eval, final_eval) if e and "iter" in e]

    plot_curves(train_records, eval_records, work_dir / CURVES_FILE)
    shown = best_eval if best_eval and best_eval.get("per_class_iou") else final_eval
    per_class_png = None
    if shown and shown.get("per_class_iou"):
        which = "best" if shown is best_eval else "final"
        per_class_png = plot_per_class_iou(
            shown["per_class_iou"], work_dir / PER_CLASS_FILE,
            f"per-class IoU, {which} evaluation (iteration {_fmt_iter(shown.get('iter'))})",
            miou=shown.get("miou"),
        )

    iterations = extra.pop("iterations", None)
    if iterations is None:
        known = [r["iter"] for r in (*train_records, *eval_records)]
        known += [e["iter"] for e in (final_eval, best_eval) if e and _is_number(e.get("iter"))]
        iterations = max(known) if known else None
    wall = extra.pop("wall_time_s", None)

    lines = [f"# Training report: {work_dir.resolve().name}", ""]
    lines += ["Command that produced this run:", "", *_fenced(command or "unknown", "bash"), ""]
    lines += ["## Summary", "", "| | |", "|---|---|"]
    lines.append(f"| iterations done | {_fmt_iter(iterations)} |")
    lines.append(f"| best mIoU | {_eval_cell(best_eval)} |")
    lines.append(f"| final mIoU | {_eval_cell(final_eval)} |")
    protocol = (best_eval or final_eval or {}).get("protocol")
    if protocol:
        lines.append(f"| evaluation protocol | {protocol} classes |")
    failed = [r for r in latest_per_iter(eval_records) if r.get("error")]
    if failed:
        lines.append(f"| failed evaluations | {len(failed)}, the last at iteration {_fmt_iter(failed[-1]['iter'])}: "
                     f"{_cell(failed[-1]['error'])} |")
    if _is_finite(wall):
        lines.append(f"| wall time | {_fmt_duration(float(wall))} |")
    for key, value in extra.items():
        lines.append(f"| {_cell(key)} | {_cell(_fmt_value(value))} |")
    lines.append("")

    lines += ["## Curves", "", f"![training curves]({CURVES_FILE})", ""]
    lines += _discriminator_lines(discriminator_summary(train_records))
    lines += ["## Per-class IoU", ""]
    if per_class_png is not None:
        lines += [f"![per-class IoU]({PER_CLASS_FILE})", ""]
    if best_eval or final_eval:
        lines += ["| class | best | final |", "|---|---:|---:|"]
        for name in _table_classes(best_eval, final_eval):
            lines.append(f"| {_cell(name)} | {_iou_cell(best_eval, name)} | {_iou_cell(final_eval, name)} |")
        lines.append(f"| **mIoU** | **{_fmt_pct((best_eval or {}).get('miou'))}** "
                     f"| **{_fmt_pct((final_eval or {}).get('miou'))}** |")
        lines += ["", "IoU in %. n/a: class absent from both ground truth and prediction; "
                  "—: class not scored by the evaluation protocol.", ""]
    else:
        lines += ["No evaluation yet.", ""]

    lines += ["## Config", "", *_fenced(_dump_yaml(config), "yaml"), ""]

    report = work_dir / REPORT_FILE
    with atomic_path(report) as tmp:
        tmp.write_text("\n".join(lines), encoding="utf-8")
    return report


# --------------------------------------------------------------------------- command line


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m cicld_core.uda.report",
        description="Rebuild a training run's report.md, curves.png and per_class_iou.png from "
        f"its work dir ({METRICS_FILE}, and {CONFIG_FILE} / {COMMAND_FILE} when present).",
    )
    parser.add_argument("work_dir", type=Path, metavar="WORK_DIR", help="the training run's work dir")
    args = parser.parse_args(argv)
    work_dir: Path = args.work_dir
    try:
        if not work_dir.is_dir():
            raise _UsageError(f"work dir {work_dir} does not exist or is not a folder")
        metrics_path = work_dir / METRICS_FILE
        if not metrics_path.is_file():
            raise _UsageError(f"{metrics_path} not found: is {work_dir} a training run's work dir?")
        train_records, eval_records = read_metrics(metrics_path)
        config: dict = {}
        config_path = work_dir / CONFIG_FILE
        if config_path.is_file():
            try:
                loaded = yaml.safe_load(config_path.read_text(encoding="utf-8"))
            except yaml.YAMLError as exc:
                raise _UsageError(f"cannot parse {config_path}: {exc}") from None
            if loaded is not None and not isinstance(loaded, dict):
                raise _UsageError(f"{config_path} does not hold a mapping (got {type(loaded).__name__})")
            config = loaded or {}
        command_path = work_dir / COMMAND_FILE
        command = command_path.read_text(encoding="utf-8").strip() if command_path.is_file() else ""
        evals = latest_per_iter(eval_records)
        report = write_report(work_dir, config, evals[-1] if evals else None,
                              best_eval_record(evals), command or "unknown")
    except (_UsageError, ValueError, OSError) as error:
        print(f"{parser.prog}: error: {error}", file=sys.stderr)
        return 2
    print(f"wrote {report} ({len(train_records)} train and {len(eval_records)} eval records)")
    return 0


class _UsageError(Exception):
    pass


# --------------------------------------------------------------------------- helpers


def _new_figure(size: tuple[float, float]):
    from matplotlib.figure import Figure  # lazy: the trainer imports this module early

    return Figure(figsize=size, dpi=_DPI, layout="constrained")


def _save(fig, out_png: Path) -> Path:
    with atomic_path(out_png, ".png") as tmp:
        fig.savefig(tmp, format="png", dpi=_DPI)
    return out_png


def _empty_panel(ax, message: str) -> None:
    ax.text(0.5, 0.5, message, ha="center", va="center", transform=ax.transAxes, fontsize=12, color="0.4")
    ax.set_xticks([])
    ax.set_yticks([])


def _cycle_colours(n: int) -> list:
    from matplotlib import colormaps

    if n <= 10:
        return [colormaps["tab10"](i) for i in range(n)]
    return [colormaps["tab20"](i % 20) for i in range(n)]


def _loss_keys(records: list[dict]) -> list[str]:
    return _prefixed_keys(records, _LOSS_PREFIX)


def _prefixed_keys(records: list[dict], prefix: str) -> list[str]:
    keys: dict[str, None] = {}
    for record in records:
        for key in record:
            if key.startswith(prefix):
                keys[key] = None
    return list(keys)


def _smoothing_window(n: int) -> int:
    return int(min(50, max(1, n // 10)))


def _class_colour(name: str) -> tuple[float, float, float]:
    if name in TRAIN_ID_BY_NAME:
        return tuple(float(c) / 255.0 for c in PALETTE[TRAIN_ID_BY_NAME[name]])
    return (0.6, 0.6, 0.6)


def _table_classes(*evals: dict | None) -> list[str]:
    names = list(CLASS_NAMES)
    for record in evals:
        for name in (record or {}).get("per_class_iou") or {}:
            if name not in names:
                names.append(name)
    return names


def _iou_cell(record: dict | None, name: str) -> str:
    per_class = (record or {}).get("per_class_iou") or {}
    if name not in per_class:
        return "—"
    return _fmt_pct(per_class[name])


def _eval_cell(record: dict | None) -> str:
    if not record:
        return "—"
    text = "evaluation failed" if record.get("error") else _fmt_pct(record.get("miou"))
    if _is_number(record.get("iter")):
        text += f" @ iteration {_fmt_iter(record['iter'])}"
    return text


def _fmt_pct(value: Any) -> str:
    return f"{float(value):.2f}" if _is_finite(value) else "n/a"


def _fmt_iter(value: Any) -> str:
    if not _is_number(value):
        return "—"
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


def _fmt_duration(seconds: float) -> str:
    seconds = int(round(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d} ({seconds} s)"


def _fmt_value(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, (dict, list, tuple)):
        return json.dumps(_plain(value))
    return str(value)


def _cell(text: Any) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _fenced(text: str, language: str) -> list[str]:
    """A Markdown code block whose fence is longer than any backtick run in ``text``."""
    longest, run = 0, 0
    for char in text:
        run = run + 1 if char == "`" else 0
        longest = max(longest, run)
    fence = "`" * max(3, longest + 1)
    return [f"{fence}{language}", text.rstrip("\n"), fence]


def _dump_yaml(config: dict | None) -> str:
    if not config:
        return "{}"
    return yaml.safe_dump(_plain(config), sort_keys=False, allow_unicode=True, default_flow_style=False)


def _plain(value: Any) -> Any:
    """Turn paths, tuples, sets and numpy values into what ``yaml.safe_dump`` accepts."""
    if isinstance(value, dict):
        return {str(k) if not isinstance(k, (str, int, float, bool)) else k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, (set, frozenset)):
        return sorted((_plain(v) for v in value), key=repr)
    if isinstance(value, np.ndarray):
        return _plain(value.tolist())
    if isinstance(value, np.generic):
        return value.item()
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    return str(value)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool)


def _is_finite(value: Any) -> bool:
    return _is_number(value) and math.isfinite(float(value))


def _as_float(value: Any) -> float:
    return float(value) if _is_number(value) else float("nan")


if __name__ == "__main__":
    sys.exit(main())
