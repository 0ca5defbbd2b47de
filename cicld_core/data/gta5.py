"""GTA5 ("Playing for Data") in its released layout.

    <root>/images/00001.png     RGB
    <root>/labels/00001.png     'P' palette PNG whose indices are Cityscapes labelIds

The labels must be read as palette indices (``read_label_indices``): decoding them to
colours, as OpenCV does, silently yields garbage ids. The dataset has no official
train/val folders; ``split_file`` (one file name per line, like the ``<split>.txt`` the
project's generator writes) selects a subset.

A few real GTA5 images differ in size from their labels; the image is resized to the
label (with a warning once per file) instead of failing.
"""
from __future__ import annotations

from pathlib import Path
from typing import Optional, Union

import numpy as np

from ..labels import CITYSCAPES_LUT, GTA5_ID_SET
from .base import SegmentationDataset, check_ids, pair_flat_folders
from .transforms import SegTransformConfig

LAYOUT = "<root>/images/*.png and <root>/labels/*.png with the same file names"


class GTA5Dataset(SegmentationDataset):
    tag = "gta5"
    display_name = "GTA5"
    resize_image_to_label = True

    def __init__(
        self,
        root: Union[str, Path],
        split_file: Optional[Union[str, Path]] = None,
        labels: bool = True,
        transform: Optional[SegTransformConfig] = None,
        seed: int = 0,
    ) -> None:
        root = Path(root)
        split_path = Path(split_file) if split_file is not None else None
        samples = pair_flat_folders(
            root, root / "images", root / "labels" if labels else None, split_path, self.display_name, LAYOUT
        )
        if split_path is not None:
            self.tag = f"gta5_{split_path.stem}"
        super().__init__(root, samples, transform=transform, seed=seed)

    def decode_label(self, raw: np.ndarray, path: Path) -> np.ndarray:
        check_ids(raw, GTA5_ID_SET, self.rel(path), "GTA5")
        # GTA5 labels are Cityscapes labelIds, so the Cityscapes table maps them.
        return CITYSCAPES_LUT[raw]
