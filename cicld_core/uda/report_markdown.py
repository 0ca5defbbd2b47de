"""A training run's ``report.md``: the command, a summary table, the figures, per-class IoU and
the config, rebuilt from the work dir."""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from ..io import atomic_path
from ..labels import CLASS_NAMES
from ..plots import format_iteration, is_finite, is_number, plot_per_class_iou
from .curves import CURVES_FILE, plot_curves
from .metrics_log import METRICS_FILE, discriminator_summary, latest_per_iter, read_metrics

REPORT_FILE = "report.md"
PER_CLASS_FILE = "per_class_iou.png"


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
            f"per-class IoU, {which} evaluation (iteration {format_iteration(shown.get('iter'))})",
            miou=shown.get("miou"),
        )

    iterations = extra.pop("iterations", None)
    if iterations is None:
        known = [r["iter"] for r in (*train_records, *eval_records)]
        known += [e["iter"] for e in (final_eval, best_eval) if e and is_number(e.get("iter"))]
        iterations = max(known) if known else None
    wall = extra.pop("wall_time_s", None)

    lines = [f"# Training report: {work_dir.resolve().name}", ""]
    lines += ["Command that produced this run:", "", *_fenced(command or "unknown", "bash"), ""]
    lines += ["## Summary", "", "| | |", "|---|---|"]
    lines.append(f"| iterations done | {format_iteration(iterations)} |")
    lines.append(f"| best mIoU | {_eval_cell(best_eval)} |")
    lines.append(f"| final mIoU | {_eval_cell(final_eval)} |")
    protocol = (best_eval or final_eval or {}).get("protocol")
    if protocol:
        lines.append(f"| evaluation protocol | {protocol} classes |")
    failed = [r for r in latest_per_iter(eval_records) if r.get("error")]
    if failed:
        lines.append(f"| failed evaluations | {len(failed)}, the last at iteration {format_iteration(failed[-1]['iter'])}: "
                     f"{_cell(failed[-1]['error'])} |")
    if is_finite(wall):
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
    if is_number(record.get("iter")):
        text += f" @ iteration {format_iteration(record['iter'])}"
    return text


def _fmt_pct(value: Any) -> str:
    return f"{float(value):.2f}" if is_finite(value) else "n/a"


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
