"""Dataset loaders for the real dataset formats, augmentation, class statistics and
rare class sampling. ``build_dataset`` picks a loader by name (for configs and CLIs).
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from ..io import DataError
from .base import SegmentationDataset, collate
from .camvid import CamVidDataset
from .cityscapes import CityscapesDataset
from .class_stats import load_or_compute_class_stats
from .gta5 import GTA5Dataset
from .image_folder import ImageFolderDataset
from .rare_class_sampling import RareClassSampler
from .synthia import SynthiaDataset
from .transforms import SegTransform, SegTransformConfig

log = logging.getLogger(__name__)

LABELLED_KINDS = ("cityscapes", "gta5", "synthia", "camvid")  # the kinds evaluation can score
DATASET_KINDS = (*LABELLED_KINDS, "folder")


def build_dataset(kind: str, root: str | Path, split: str | None = None, **kw: Any) -> SegmentationDataset:
    """A dataset by kind; ``kw`` goes to the loader (transform, seed, labels, ...).

    cityscapes: ``split`` is the folder under leftImg8bit/ (default "train").
    gta5, synthia: no split folders exist; ``split`` names ``<root>/<split>.txt``. None
    or "all" takes every image, and so does "train" when there is no train.txt (the real
    datasets are used whole for training).
    camvid: SegNet's layout: ``split`` is the frame folder (train, val, test), labels in
    ``<split>annot/``. The original release (a root with ``label_colors.txt`` and
    ``LabeledApproved_full/``): "all" takes every labelled frame, any other split names
    ``<root>/<split>.txt``. ``labels=False`` reads the frames alone.
    folder: every image below root; ``split`` is not used.
    """
    root = Path(root)
    if kind == "cityscapes":
        return CityscapesDataset(root, split=split or "train", **kw)
    if kind in ("gta5", "synthia"):
        loader = GTA5Dataset if kind == "gta5" else SynthiaDataset
        return loader(root, split_file=_split_file(root, split, kind), **kw)
    if kind == "camvid":
        return CamVidDataset(root, split=split or "train", **kw)
    if kind == "folder":
        return ImageFolderDataset(root, **kw)
    raise ValueError(f"unknown dataset kind {kind!r}; valid kinds: {', '.join(DATASET_KINDS)}")


def _split_file(root: Path, split: str | None, kind: str) -> Path | None:
    if split in (None, "all"):
        return None
    path = root / f"{split}.txt"
    if path.is_file():
        return path
    if split == "train":
        log.info("%s: no %s; using every image for training", kind, path)
        return None
    raise DataError(
        f"{kind}: split {split!r} needs the list file {path} (one image file name per line); "
        "use split='all' for every image"
    )


__all__ = [
    "DATASET_KINDS", "LABELLED_KINDS", "CamVidDataset", "CityscapesDataset", "DataError", "GTA5Dataset", "ImageFolderDataset",
    "RareClassSampler", "SegTransform", "SegTransformConfig", "SegmentationDataset",
    "SynthiaDataset", "build_dataset", "collate", "load_or_compute_class_stats",
]
