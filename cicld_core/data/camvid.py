"""CamVid in SegNet's 11-class, 480x360 layout (the one most sim-to-real papers score):

    <root>/<split>/<stem>.png|.jpg        RGB frames (split: train, val, test)
    <root>/<split>annot/<stem>.png        8-bit class index per pixel, 0..10, 11 = unlabelled

Labels become the trainIds that merge back to their own CamVid class
(``labels.CAMVID_TO_TRAIN_ID``), so CamVid flows through the trainId pipeline (an oracle
can train on it) and is scored with protocol 11, which merges prediction and truth into
CamVid's classes. ``labels=False`` reads the frames alone (an unlabelled target).

CamVid is licensed CC BY-NC 4.0: read it from a path given at run time, never commit it.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ..io import DataError
from ..labels import CAMVID_ID_SET, camvid_to_train_ids
from .base import Sample, SegmentationDataset, check_ids, list_some
from .transforms import SegTransformConfig

FRAME_EXTENSIONS = (".png", ".jpg", ".jpeg")
LAYOUT = "<root>/<split>/*.png|*.jpg and <root>/<split>annot/*.png with the same stems"


class CamVidDataset(SegmentationDataset):
    tag = "camvid"
    display_name = "CamVid"

    def __init__(
        self,
        root: str | Path,
        split: str = "train",
        labels: bool = True,
        transform: SegTransformConfig | None = None,
        seed: int = 0,
    ) -> None:
        root = Path(root)
        frame_dir, label_dir = root / split, root / f"{split}annot"
        if not frame_dir.is_dir():
            present = sorted(p.name for p in root.iterdir() if p.is_dir()) if root.is_dir() else []
            raise DataError(f"CamVid: frame folder {frame_dir} not found (root holds: "
                            f"{', '.join(present) or 'nothing'}); expected layout: {LAYOUT}")
        frames = {p.stem: p for p in frame_dir.iterdir()
                  if p.suffix.lower() in FRAME_EXTENSIONS and p.is_file() and not p.name.startswith(".")}
        if not frames:
            raise DataError(f"CamVid: no {'/'.join(FRAME_EXTENSIONS)} frames in {frame_dir}; expected layout: {LAYOUT}")
        label_paths: dict[str, Path] = {}
        if labels:
            if not label_dir.is_dir():
                raise DataError(f"CamVid: label folder {label_dir} not found; expected layout: {LAYOUT} "
                                "(or read the frames alone as an unlabelled target)")
            label_paths = {p.stem: p for p in label_dir.glob("*.png") if p.is_file()}
            unlabelled = sorted(set(frames) - set(label_paths))
            if unlabelled:
                raise DataError(f"CamVid: frames without a label in {label_dir}: {list_some(unlabelled)}")
            orphans = sorted(set(label_paths) - set(frames))
            if orphans:
                raise DataError(f"CamVid: labels without a frame in {frame_dir}: {list_some(orphans)}")
        self.split = split
        self.tag = f"camvid_{split}"
        samples = [Sample(frames[stem], label_paths.get(stem), stem) for stem in sorted(frames)]
        super().__init__(root, samples, transform=transform, seed=seed)

    def decode_label(self, raw: np.ndarray, path: Path) -> np.ndarray:
        check_ids(raw, CAMVID_ID_SET, self.rel(path), "CamVid 11-class")
        return camvid_to_train_ids(raw)
