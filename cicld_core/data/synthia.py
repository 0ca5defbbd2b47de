"""Synthia RAND-CITYSCAPES in its released layout.

    <root>/RGB/0000000.png          RGB
    <root>/GT/LABELS/0000000.png    16-bit, 3 (or 4) channels; the class id is the R
                                    channel, i.e. channel 2 of OpenCV's BGR order

Ids 0..22 follow the dataset's README and map to trainIds with the standard 16-class
table (terrain, truck and train become ignore). Like GTA5 there are no split folders;
``split_file`` selects a subset.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ..io import DataError, read_unchanged
from ..labels import SYNTHIA_ID_SET, SYNTHIA_LUT
from .base import check_ids
from .flat_folders import FlatFolderDataset


class SynthiaDataset(FlatFolderDataset):
    tag = "synthia"
    display_name = "Synthia"
    image_folder, label_folder = "RGB", "GT/LABELS"
    layout = "<root>/RGB/*.png and <root>/GT/LABELS/*.png (16-bit) with the same file names"

    def read_label(self, path: Path) -> np.ndarray:
        raw = read_unchanged(path)
        # An 8-bit or single-channel file is not a Synthia label (a colour render, or a
        # re-saved copy that lost the ids): reading channel 2 of it would be garbage.
        if raw.dtype != np.uint16 or raw.ndim != 3 or raw.shape[2] not in (3, 4):
            channels = raw.shape[2] if raw.ndim == 3 else 1
            raise DataError(
                f"Synthia label {self.rel(path)} is {raw.dtype} with {channels} channel(s); "
                "expected a 16-bit (uint16) PNG with 3 or 4 channels, class id in the R channel"
            )
        return raw[:, :, 2]

    def decode_label(self, raw: np.ndarray, path: Path) -> np.ndarray:
        check_ids(raw, SYNTHIA_ID_SET, self.rel(path), "Synthia")
        return SYNTHIA_LUT[raw]
