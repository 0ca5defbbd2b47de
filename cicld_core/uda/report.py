"""Rebuild the report of a training run (also of one still training, or one that was killed)::

    python -m cicld_core.uda.report WORK_DIR

writes ``report.md``, ``curves.png`` and ``per_class_iou.png`` from the run's ``metrics.jsonl``
(see metrics_log), and its ``config.yaml`` / ``command.txt`` when present. The pieces: metrics_log
reads, curves and cicld_core.plots draw, report_markdown writes; their names stay importable
from here for the trainer and benchmarks/uda_table.py.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import yaml

from ..plots import plot_per_class_iou
from .curves import CURVES_FILE, moving_average, plot_curves
from .metrics_log import (
    CHANCE_MARGIN, DIS_ACCURACY_PREFIX, METRICS_FILE, best_eval_record, discriminator_summary, latest_per_iter,
    read_metrics,
)
from .report_markdown import PER_CLASS_FILE, REPORT_FILE, write_report

CONFIG_FILE = "config.yaml"
COMMAND_FILE = "command.txt"

__all__ = [
    "CHANCE_MARGIN", "COMMAND_FILE", "CONFIG_FILE", "CURVES_FILE", "DIS_ACCURACY_PREFIX", "METRICS_FILE",
    "PER_CLASS_FILE", "REPORT_FILE", "best_eval_record", "discriminator_summary", "latest_per_iter", "main",
    "moving_average", "plot_curves", "plot_per_class_iou", "read_metrics", "write_report",
]


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


if __name__ == "__main__":
    sys.exit(main())
