"""Per-image class pixel counts, computed once and cached as JSON beside the data.

Rare class sampling needs, for every labelled image, how many pixels of each trainId it
holds (full resolution, no augmentation). Reading 25k GTA5 labels takes minutes, so the
result is written to ``<root>/cicld_class_stats_<tag>.json`` and reused while the file
list (label paths and byte sizes) is unchanged; any change recomputes it. A read-only
dataset folder only costs the cache: the statistics are still returned.
"""
from __future__ import annotations

import json
import logging
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from ..io import write_json
from ..labels import IGNORE_INDEX
from .base import SegmentationDataset

log = logging.getLogger(__name__)

STATS_VERSION = 1


def stats_path(dataset: SegmentationDataset) -> Path:
    return dataset.root / f"cicld_class_stats_{dataset.tag}.json"


def _file_list(dataset: SegmentationDataset) -> list[list[Any]]:
    # Sizes catch labels regenerated under the same names; mtimes would not survive a copy.
    return [[dataset.rel(s.label), os.path.getsize(s.label)] for s in dataset.samples]


def image_class_counts(train_ids: np.ndarray) -> dict[str, int]:
    """{"<trainId>": pixels} for the trainIds present (ignore left out); JSON keys are strings."""
    counts = np.bincount(train_ids.ravel(), minlength=256)
    return {str(c): int(counts[c]) for c in np.flatnonzero(counts) if c != IGNORE_INDEX}


def load_or_compute_class_stats(
    dataset: SegmentationDataset, num_workers: int | None = None
) -> list[dict[str, Any]]:
    """[{"name": sample name, "counts": {"<trainId>": pixels}}] in dataset order.

    ``num_workers`` threads decode labels in parallel (PNG decoding releases the GIL);
    default: the CPU count, at most 8.
    """
    if not dataset.has_labels:
        raise ValueError(f"{dataset.display_name} at {dataset.root} has no labels: class statistics need them")
    path = stats_path(dataset)
    files = _file_list(dataset)
    cached = _read_cache(path)
    if cached is not None and cached.get("version") == STATS_VERSION and cached.get("files") == files:
        return cached["stats"]
    if cached is not None:
        log.info("class statistics in %s do not match the current files; recomputing", path)

    workers = num_workers or min(8, os.cpu_count() or 1)
    with ThreadPoolExecutor(max_workers=workers) as pool:
        counts = list(tqdm(
            pool.map(lambda i: image_class_counts(dataset.load_label(i)), range(len(dataset))),
            total=len(dataset), desc=f"class statistics ({dataset.display_name})", unit="img",
        ))
    stats = [{"name": s.name, "counts": c} for s, c in zip(dataset.samples, counts)]
    try:
        write_json(path, {"version": STATS_VERSION, "dataset": dataset.tag, "files": files, "stats": stats})
    except OSError as exc:
        log.warning("could not cache class statistics at %s (%s); they will be recomputed next time", path, exc)
    return stats


def _read_cache(path: Path) -> dict[str, Any] | None:
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        log.warning("ignoring unreadable class statistics file %s (%s)", path, exc)
        return None
    return data if isinstance(data, dict) else None
