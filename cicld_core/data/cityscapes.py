"""Cityscapes in its released layout.

    <root>/leftImg8bit/<split>/<city>/<city>_<seq>_<frame>_leftImg8bit.png
    <root>/gtFine/<split>/<city>/<city>_<seq>_<frame>_gtFine_labelIds.png
                                              (or _gtFine_labelTrainIds.png, made by
                                               cityscapesScripts' createTrainIdLabelImgs)

labelIds (0..33) go through the Cityscapes table to trainIds; labelTrainIds files
already hold trainIds (0..18, 255). With ``labels=False`` the dataset is an unlabelled
adaptation target and gtFine need not exist.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ..io import DataError
from ..labels import CITYSCAPES_ID_SET, CITYSCAPES_LUT, IGNORE_INDEX, NUM_TRAIN_CLASSES
from .base import Sample, SegmentationDataset, check_ids, list_some
from .transforms import SegTransformConfig

IMAGE_SUFFIX = "_leftImg8bit.png"
LABEL_TYPES = ("labelIds", "labelTrainIds")
TRAIN_ID_SET = frozenset(range(NUM_TRAIN_CLASSES)) | {IGNORE_INDEX}
LAYOUT = (
    "<root>/leftImg8bit/<split>/<city>/*_leftImg8bit.png and "
    "<root>/gtFine/<split>/<city>/*_gtFine_labelIds.png (or *_gtFine_labelTrainIds.png)"
)


class CityscapesDataset(SegmentationDataset):
    tag = "cityscapes"
    display_name = "Cityscapes"

    def __init__(
        self,
        root: str | Path,
        split: str = "train",
        label_type: str = "labelIds",
        labels: bool = True,
        transform: SegTransformConfig | None = None,
        seed: int = 0,
    ) -> None:
        if label_type not in LABEL_TYPES:
            raise ValueError(f"Cityscapes label_type must be one of {LABEL_TYPES}, got {label_type!r}")
        self.split = split
        self.label_type = label_type
        root = Path(root)
        samples = _scan(root, split, label_type if labels else None)
        self.tag = f"cityscapes_{split}_{label_type}"
        super().__init__(root, samples, transform=transform, seed=seed)

    def decode_label(self, raw: np.ndarray, path: Path) -> np.ndarray:
        if self.label_type == "labelTrainIds":
            check_ids(raw, TRAIN_ID_SET, self.rel(path), "Cityscapes labelTrainIds")
            return raw.astype(np.uint8)
        check_ids(raw, CITYSCAPES_ID_SET, self.rel(path), "Cityscapes labelIds")
        return CITYSCAPES_LUT[raw]


def _scan(root: Path, split: str, label_type: str | None) -> list[Sample]:
    image_dir = root / "leftImg8bit" / split
    if not image_dir.is_dir():
        raise DataError(f"Cityscapes: folder {image_dir} not found; expected layout: {LAYOUT}")
    # name = <city>_<seq>_<frame>, unique across cities because it starts with the city.
    images = {
        (p.parent.name, p.name[: -len(IMAGE_SUFFIX)]): p
        for p in image_dir.glob(f"*/*{IMAGE_SUFFIX}") if p.is_file()
    }
    if not images:
        raise DataError(f"Cityscapes: no *{IMAGE_SUFFIX} images in {image_dir}/<city>/; expected layout: {LAYOUT}")
    if label_type is None:
        return [Sample(path, None, stem) for (_, stem), path in images.items()]

    label_dir = root / "gtFine" / split
    if not label_dir.is_dir():
        raise DataError(
            f"Cityscapes: label folder {label_dir} not found; expected layout: {LAYOUT} "
            "(use labels=False to load the images as an unlabelled target)"
        )
    label_suffix = f"_gtFine_{label_type}.png"
    labels = {
        (p.parent.name, p.name[: -len(label_suffix)]): p
        for p in label_dir.glob(f"*/*{label_suffix}") if p.is_file()
    }
    rel = lambda p: p.relative_to(root).as_posix()  # noqa: E731
    unlabelled = sorted(k for k in images if k not in labels)
    if unlabelled:
        raise DataError(
            "Cityscapes: images without a label: "
            + list_some([f"{rel(images[k])} (expected {rel(label_dir / k[0] / (k[1] + label_suffix))})"
                         for k in unlabelled])
        )
    orphans = sorted(k for k in labels if k not in images)
    if orphans:
        raise DataError("Cityscapes: labels without an image: " + list_some([rel(labels[k]) for k in orphans]))
    return [Sample(images[k], labels[k], k[1]) for k in images]
