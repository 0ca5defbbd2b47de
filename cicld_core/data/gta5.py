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

import numpy as np

from ..labels import CITYSCAPES_LUT, GTA5_ID_SET
from .base import check_ids
from .flat_folders import FlatFolderDataset


class GTA5Dataset(FlatFolderDataset):
    tag = "gta5"
    display_name = "GTA5"
    resize_image_to_label = True
    image_folder, label_folder = "images", "labels"
    layout = "<root>/images/*.png and <root>/labels/*.png with the same file names"

    def decode_label(self, raw: np.ndarray, path: Path) -> np.ndarray:
        check_ids(raw, GTA5_ID_SET, self.rel(path), "GTA5")
        # GTA5 labels are Cityscapes labelIds, so the Cityscapes table maps them.
        return CITYSCAPES_LUT[raw]
