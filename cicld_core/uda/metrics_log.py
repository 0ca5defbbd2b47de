"""Reading a training run's ``metrics.jsonl``: the trainer appends one JSON object per line::

    {"kind": "train", "iter": 50, "lr": 6e-05, "loss/seg_source": 1.2, ..., "dis_acc/source": 0.4, ..., "time_s": 12.3}
    {"kind": "eval", "iter": 100, "miou": 23.4, "protocol": 19, "per_class_iou": {...}, ...}
    {"kind": "eval", "iter": 200, "miou": null, "error": "cannot decode image ...", ...}  (a failed evaluation)
"""
from __future__ import annotations

import json
import os
import warnings
from pathlib import Path
from typing import Any, Iterable

import numpy as np

from ..plots import as_float, is_finite, is_number

METRICS_FILE = "metrics.jsonl"
LOSS_PREFIX = "loss/"
# f_dis's accuracy per domain, the mean over a log interval: near 1 / domains, the
# adversarial term carries no domain signal (issue 16: report it, do not hide it)
DIS_ACCURACY_PREFIX = "dis_acc/"
CHANCE_MARGIN = 0.1  # a last-quarter accuracy within this of chance counts as "at chance"


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
        if not is_number(record.get("iter")):
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
        if is_finite(miou) and (best is None or miou > best["miou"]):
            best = record
    return best


def discriminator_summary(train_records: list[dict]) -> dict[str, Any] | None:
    """f_dis's accuracy per domain: the first logged interval, the last, and the mean over the
    last quarter of the logged intervals, with chance and whether it ever left it. None when
    the run logged no accuracy (no adversarial term, or a run from before issue 16)."""
    train = latest_per_iter(train_records)
    keys = prefixed_keys(train, DIS_ACCURACY_PREFIX)
    if not keys:
        return None
    chance = 1.0 / len(keys)
    domains = {}
    for key in keys:
        values = [as_float(r[key]) for r in train if key in r]
        last_quarter = values[-max(1, len(values) // 4):]
        domains[key[len(DIS_ACCURACY_PREFIX):]] = {"first": values[0], "last": values[-1],
                                                   "last_quarter": float(np.nanmean(last_quarter))}
    overall = float(np.mean([d["last_quarter"] for d in domains.values()]))
    # the best interval over all domains at once: one domain's lucky interval is not a signal
    per_interval = [np.mean([as_float(r[key]) for key in keys]) for r in train if all(key in r for key in keys)]
    ever = float(np.nanmax(per_interval)) if per_interval else overall
    return {"chance": chance, "domains": domains, "last_quarter_mean": overall,
            "at_chance": overall <= chance + CHANCE_MARGIN, "never_left_chance": ever <= chance + CHANCE_MARGIN}


def loss_keys(records: list[dict]) -> list[str]:
    return prefixed_keys(records, LOSS_PREFIX)


def prefixed_keys(records: list[dict], prefix: str) -> list[str]:
    keys: dict[str, None] = {}
    for record in records:
        for key in record:
            if key.startswith(prefix):
                keys[key] = None
    return list(keys)
