"""What every segmentation dataset shares: a fixed, sorted sample list, label decoding
with id validation, and augmentation that is deterministic under a seed.

Subclasses find their files (and say what is wrong when they cannot) and decode their
label format; this class does the rest. Per-item randomness comes from
``np.random.default_rng([seed, epoch, index])``: the same seed, epoch and index give the
same tensors whichever DataLoader worker loads the item and in whatever order.
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Iterable, NamedTuple, Sequence

import cv2
import numpy as np
import torch
from torch.utils.data import Dataset

from ..image_header import encoded_image_size
from ..io import DataError, read_label_indices, read_rgb
from .transforms import SegTransform, SegTransformConfig

log = logging.getLogger(__name__)

# How many offending files or ids an error message lists before it says "and N more".
MAX_LISTED = 5

# enough for a PNG header and a JPEG whose EXIF block is not huge (common_image_size)
HEADER_BYTES = 1 << 16


class Sample(NamedTuple):
    image: Path
    label: Path | None
    name: str


def list_some(items: Sequence[Any], limit: int = MAX_LISTED) -> str:
    """'a, b, c' or 'a, b, c and 4 more': error messages stay readable for big datasets."""
    shown = ", ".join(str(i) for i in items[:limit])
    return shown if len(items) <= limit else f"{shown} and {len(items) - limit} more"


def describe_id_set(ids: Iterable[int]) -> str:
    """Compact ranges: {0..33} -> '0..33', {0..18, 255} -> '0..18, 255'."""
    ids = sorted(ids)
    runs: list[list[int]] = []
    for i in ids:
        if runs and i == runs[-1][1] + 1:
            runs[-1][1] = i
        else:
            runs.append([i, i])
    return ", ".join(str(a) if a == b else f"{a}..{b}" for a, b in runs)


def check_ids(raw: np.ndarray, allowed: frozenset[int], where: str, set_name: str) -> None:
    """Raise DataError if ``raw`` holds a value outside ``allowed``, listing the values."""
    if raw.dtype.kind in "ui" and raw.size and raw.min() >= 0 and raw.max() < 65536:
        present = np.flatnonzero(np.bincount(raw.ravel(), minlength=1))
    else:
        present = np.unique(raw)
    bad = [int(v) if float(v).is_integer() else float(v) for v in present if v not in allowed]
    if bad:
        raise DataError(
            f"{where} holds ids {bad[:20]}{' ...' if len(bad) > 20 else ''} outside the "
            f"{set_name} id set {describe_id_set(allowed)}"
        )


class SegmentationDataset(Dataset):
    """A map-style dataset of (image, trainId label or None) pairs.

    ``dataset[i]`` or ``dataset[(i, required_class)]`` (what ``RareClassSampler``
    yields) -> ``{"image": float32 (3, H, W), "label": int64 (H, W) or None, "name": str}``.
    With ``transform=None`` images are only normalised (no flip, no crop).

    Subclass hooks: ``read_label`` (file -> raw ids) and ``decode_label`` (raw ids ->
    trainIds, validating against the dataset's id set). ``resize_image_to_label``: a size
    mismatch between image and label is fixed by resizing the image (GTA5 ships a few
    such pairs) instead of being an error.
    """

    tag: str = "dataset"  # short name for messages and the class-statistics file
    display_name: str = "dataset"
    resize_image_to_label: bool = False

    def __init__(
        self,
        root: str | Path,
        samples: Sequence[Sample],
        transform: SegTransformConfig | None = None,
        seed: int = 0,
    ) -> None:
        self.root = Path(root)
        if not samples:
            raise DataError(f"{self.display_name}: no images found under {self.root}")
        self.samples: list[Sample] = sorted(samples, key=lambda s: str(s.image))
        self._check_unique_names()
        self.transform_config = transform if transform is not None else SegTransformConfig.no_augmentation()
        self.transform = SegTransform(self.transform_config)
        if int(seed) < 0:
            raise ValueError(f"seed must be >= 0, got {seed}")
        self.seed = int(seed)
        self.epoch = 0
        self._warned_sizes: set[Path] = set()

    def _check_unique_names(self) -> None:
        seen: dict[str, Path] = {}
        for sample in self.samples:
            if sample.name in seen:
                raise DataError(
                    f"{self.display_name}: {self.rel(seen[sample.name])} and {self.rel(sample.image)} "
                    f"share the sample name {sample.name!r}; names must be unique"
                )
            seen[sample.name] = sample.image

    # ---- the sample list -------------------------------------------------------

    def __len__(self) -> int:
        return len(self.samples)

    def common_image_size(self, limit: int | None = None) -> tuple[int, int] | None:
        """(width, height) that the first ``limit`` images (all when None) share, read from their PNG/JPEG
        headers without decoding; None when their sizes differ or a header does not say."""
        sizes = set()
        for sample in self.samples[:limit]:
            with open(sample.image, "rb") as handle:
                size = encoded_image_size(handle.read(HEADER_BYTES))
            if size is None:
                return None
            sizes.add(size)
            if len(sizes) > 1:
                return None
        return sizes.pop() if sizes else None

    @property
    def has_labels(self) -> bool:
        return self.samples[0].label is not None

    def rel(self, path: Path) -> str:
        """A path relative to the dataset root when it lies inside, for short messages."""
        try:
            return Path(path).relative_to(self.root).as_posix()
        except ValueError:
            return str(path)

    def set_epoch(self, epoch: int) -> None:
        """Change the augmentation stream. With ``persistent_workers=True`` a DataLoader's
        workers keep their own copy of the dataset, so call this before creating it."""
        if int(epoch) < 0:
            raise ValueError(f"epoch must be >= 0, got {epoch}")
        self.epoch = int(epoch)

    # ---- label hooks -----------------------------------------------------------

    def read_label(self, path: Path) -> np.ndarray:
        """The label file's raw ids, (H, W). Default: a single-channel or palette PNG."""
        raw = read_label_indices(path)
        if raw.ndim != 2:
            raise DataError(f"label file {self.rel(path)} is not a single-channel image (shape {raw.shape})")
        return raw

    def decode_label(self, raw: np.ndarray, path: Path) -> np.ndarray:
        """Raw ids -> (H, W) uint8 trainIds (255 ignore); DataError for ids outside the set."""
        raise NotImplementedError

    # ---- loading ---------------------------------------------------------------

    def load_label(self, index: int) -> np.ndarray | None:
        """The trainId label at full resolution, or None for an unlabelled dataset."""
        path = self.samples[index].label
        if path is None:
            return None
        train_ids = self.decode_label(self.read_label(path), path)
        return np.ascontiguousarray(train_ids, dtype=np.uint8)

    def load_raw(self, index: int) -> tuple[np.ndarray, np.ndarray | None]:
        """(RGB uint8 (H, W, 3), trainIds uint8 (H, W) or None), unaugmented."""
        sample = self.samples[index]
        image = read_rgb(sample.image)
        label = self.load_label(index)
        if label is not None and image.shape[:2] != label.shape:
            image = self._fix_size(image, label, sample)
        return image, label

    def _fix_size(self, image: np.ndarray, label: np.ndarray, sample: Sample) -> np.ndarray:
        sizes = f"image {self.rel(sample.image)} is {image.shape[1]}x{image.shape[0]} but label " \
                f"{self.rel(sample.label)} is {label.shape[1]}x{label.shape[0]}"
        if not self.resize_image_to_label:
            raise DataError(f"{self.display_name}: {sizes}; they must have the same size")
        if sample.image not in self._warned_sizes:
            self._warned_sizes.add(sample.image)
            log.warning("%s: %s; resizing the image to the label size", self.display_name, sizes)
        # The label is the ground truth; resampling it would corrupt class boundaries.
        return cv2.resize(image, (label.shape[1], label.shape[0]), interpolation=cv2.INTER_LINEAR)

    def rng_for(self, index: int) -> np.random.Generator:
        return np.random.default_rng([self.seed, self.epoch, index])

    def __getitem__(self, item: int | tuple[int, int]) -> dict[str, Any]:
        if isinstance(item, tuple):
            index, required_class = int(item[0]), int(item[1])
        else:
            index, required_class = int(item), None
        if not -len(self) <= index < len(self):
            raise IndexError(f"index {index} out of range for {self.display_name} of {len(self)} samples")
        index %= len(self)
        image, label = self.load_raw(index)
        image_t, label_t = self.transform(image, label, self.rng_for(index), required_class)
        return {"image": image_t, "label": label_t, "name": self.samples[index].name}


def collate(batch: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Stack a list of items; ``label`` is None when no item has one."""
    if not batch:
        raise ValueError("collate: empty batch")
    shapes = {tuple(item["image"].shape) for item in batch}
    if len(shapes) > 1:
        raise ValueError(
            f"collate: images of different sizes {sorted(shapes)}; set crop_size or resize so they match"
        )
    labels = [item["label"] for item in batch]
    n_missing = sum(label is None for label in labels)
    if 0 < n_missing < len(labels):
        raise ValueError("collate: some items have labels and some do not; batch one dataset at a time")
    return {
        "image": torch.stack([item["image"] for item in batch]),
        "label": None if n_missing else torch.stack(labels),
        "name": [item["name"] for item in batch],
    }
