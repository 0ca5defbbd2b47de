"""Any folder of frames as an unlabelled target (a fleet's own camera images).

Every .png/.jpg/.jpeg below ``root`` (recursively, any letter case) in sorted order; the
sample name is the path relative to root without its extension, so sub-folders per
camera keep their frames apart.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ..io import DataError
from .base import Sample, SegmentationDataset
from .transforms import SegTransformConfig

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg")


class ImageFolderDataset(SegmentationDataset):
    tag = "folder"
    display_name = "image folder"

    def __init__(
        self,
        root: str | Path,
        transform: SegTransformConfig | None = None,
        seed: int = 0,
    ) -> None:
        root = Path(root)
        if not root.is_dir():
            raise DataError(f"image folder {root} not found")
        paths = sorted(
            p for p in root.rglob("*")
            if p.suffix.lower() in IMAGE_EXTENSIONS and p.is_file() and not p.name.startswith(".")
        )
        if not paths:
            raise DataError(f"image folder {root} holds no {'/'.join(IMAGE_EXTENSIONS)} files (searched recursively)")
        samples = [Sample(p, None, p.relative_to(root).with_suffix("").as_posix()) for p in paths]
        super().__init__(root, samples, transform=transform, seed=seed)

    def decode_label(self, raw: np.ndarray, path: Path) -> np.ndarray:
        raise DataError(f"image folder {self.root} has no labels")
