"""Writers for the three real dataset layouts, so that generated frames load through the
same dataset classes as the real GTA5, Synthia and Cityscapes downloads.

    cityscapes  leftImg8bit/<split>/<city>/<city>_<seq>_<frame>_leftImg8bit.png
                gtFine/<split>/<city>/..._gtFine_{labelIds,labelTrainIds,color,instanceIds}.png
    gta5        images/00001.png, labels/00001.png (palette PNG of Cityscapes labelIds)
    synthia     RGB/0000000.png, GT/LABELS/0000000.png (16-bit: R class, G instance),
                GT/COLOR/0000000.png

GTA5 and Synthia have no split folders; a split only picks the RNG stream, its frames
get their own file numbers (val starts at 50000) and ``<split>.txt`` lists them.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ..io import atomic_path, write_palette_png, write_png
from ..labels import (
    IGNORE_INDEX, LABEL_ID_PALETTE, PALETTE, TRAIN_ID_TO_SYNTHIA_ID, train_ids_to_label_ids,
)

if TYPE_CHECKING:
    from . import SynthFrame

LAYOUTS = ("cityscapes", "gta5", "synthia")
CITIES: dict[str, tuple[str, ...]] = {
    "train": ("aachen", "bochum", "bremen", "cologne", "darmstadt", "dusseldorf", "erfurt", "hamburg", "hanover",
              "jena", "krefeld", "monchengladbach", "strasbourg", "stuttgart", "tubingen", "ulm", "weimar", "zurich"),
    "val": ("frankfurt", "lindau", "munster"),
}
# A "drive": this many consecutive frames share a city, numbered upward within it.
FRAMES_PER_CITY = 25
# File-number offset per split in the flat layouts, so train and val can share a root.
SPLIT_FILE_OFFSET = {"train": 0, "val": 50000}

_SYNTHIA_LUT = np.zeros(256, np.uint16)
for _train_id, _synthia_id in TRAIN_ID_TO_SYNTHIA_ID.items():
    _SYNTHIA_LUT[_train_id] = _synthia_id
_SYNTHIA_LUT[IGNORE_INDEX] = 0  # void
# train_ids_to_label_ids as a table, for np.take (much faster than fancy indexing).
_LABEL_ID_OF_TRAIN_ID = train_ids_to_label_ids(np.arange(256, dtype=np.uint8))
_LABEL_ID_RGBA = np.concatenate([LABEL_ID_PALETTE, np.full((256, 1), 255, np.uint8)], 1)


def _check(layout: str, split: str, index: int) -> None:
    if layout not in LAYOUTS:
        raise ValueError(f"layout must be one of {LAYOUTS}, got {layout!r}")
    if split not in CITIES:
        raise ValueError(f"split must be one of {tuple(CITIES)}, got {split!r}")
    if index < 0:
        raise ValueError(f"frame index must be >= 0, got {index}")


def cityscapes_stem(split: str, index: int) -> tuple[str, str]:
    """(city, '<city>_<seq:06d>_<frame:06d>') of frame ``index``."""
    cities = CITIES[split]
    drive = index // FRAMES_PER_CITY
    city = cities[drive % len(cities)]
    return city, f"{city}_{drive // len(cities):06d}_{index % FRAMES_PER_CITY:06d}"


def image_relpath(layout: str, split: str, index: int) -> str:
    """Where frame ``index`` of ``split`` puts its image, relative to the output root."""
    _check(layout, split, index)
    if layout == "cityscapes":
        city, stem = cityscapes_stem(split, index)
        return f"leftImg8bit/{split}/{city}/{stem}_leftImg8bit.png"
    number = index + SPLIT_FILE_OFFSET[split]
    if layout == "gta5":
        return f"images/{number + 1:05d}.png"  # GTA5 counts from 1
    return f"RGB/{number:07d}.png"


def cityscapes_instance_ids(label_ids: np.ndarray, instance_ids: np.ndarray) -> np.ndarray:
    """The gtFine_instanceIds encoding: labelId*1000 + k (k counts instances per class
    from 0) on instance pixels, labelId elsewhere; 16-bit."""
    out = label_ids.astype(np.uint16)
    mask = instance_ids > 0
    inst = instance_ids[mask]
    if inst.size == 0:
        return out
    pixels = np.bincount(inst)
    # Every pixel of an instance has the same labelId, so the mean recovers it.
    label_of = np.round(np.bincount(inst, weights=label_ids[mask]) / np.maximum(pixels, 1)).astype(np.int64)
    lut = np.zeros(len(pixels), np.uint16)
    per_class: dict[int, int] = {}
    for k in np.flatnonzero(pixels[1:]) + 1:
        label = int(label_of[k])
        lut[k] = label * 1000 + per_class.get(label, 0)
        per_class[label] = per_class.get(label, 0) + 1
    out[mask] = np.take(lut, inst)
    return out


def frame_files(out_root: str | os.PathLike, layout: str, split: str, index: int) -> list[Path]:
    """Every file ``write_frame`` writes for frame ``index``: the image first, then the label
    file a loader reads (labelTrainIds for Cityscapes), then the rest."""
    root = Path(out_root)
    image_path = root / image_relpath(layout, split, index)
    if layout == "cityscapes":
        city, stem = cityscapes_stem(split, index)
        gt = root / "gtFine" / split / city
        return [image_path] + [gt / f"{stem}_gtFine_{kind}.png" for kind in ("labelTrainIds", "labelIds", "color", "instanceIds")]
    if layout == "gta5":
        return [image_path, root / "labels" / image_path.name]
    return [image_path, root / "GT" / "LABELS" / image_path.name, root / "GT" / "COLOR" / image_path.name]


def write_frame(out_root: str | os.PathLike, layout: str, split: str, index: int, frame: "SynthFrame") -> Path:
    """Write one frame's image and labels in ``layout``; returns the image path."""
    root = Path(out_root)
    image_path = root / image_relpath(layout, split, index)
    train_ids = frame.train_ids
    if layout == "cityscapes":
        label_ids = np.take(_LABEL_ID_OF_TRAIN_ID, train_ids)
        city, stem = cityscapes_stem(split, index)
        gt = root / "gtFine" / split / city
        write_png(image_path, frame.image)
        write_png(gt / f"{stem}_gtFine_labelIds.png", label_ids)
        write_png(gt / f"{stem}_gtFine_labelTrainIds.png", train_ids)
        write_png(gt / f"{stem}_gtFine_color.png", np.take(_LABEL_ID_RGBA, label_ids, axis=0))
        write_png(gt / f"{stem}_gtFine_instanceIds.png", cityscapes_instance_ids(label_ids, frame.instance_ids))
    elif layout == "gta5":
        write_png(image_path, frame.image)
        write_palette_png(root / "labels" / image_path.name, np.take(_LABEL_ID_OF_TRAIN_ID, train_ids), LABEL_ID_PALETTE)
    else:
        write_png(image_path, frame.image)
        # OpenCV order is BGR: channel 2 (R) holds the class, channel 1 (G) the instance.
        labels = np.zeros(train_ids.shape + (3,), np.uint16)
        labels[..., 2] = np.take(_SYNTHIA_LUT, train_ids)
        labels[..., 1] = np.clip(frame.instance_ids, 0, 65535).astype(np.uint16)
        write_png(root / "GT" / "LABELS" / image_path.name, labels, rgb=False)
        write_png(root / "GT" / "COLOR" / image_path.name, np.take(PALETTE, train_ids, axis=0))
    return image_path


def write_split_list(out_root: str | os.PathLike, layout: str, split: str, indices: range) -> Path | None:
    """``<out>/<split>.txt`` naming the split's image files (flat layouts only)."""
    if layout == "cityscapes":
        return None  # the split is the folder
    path = Path(out_root) / f"{split}.txt"
    names = [Path(image_relpath(layout, split, i)).name for i in indices]
    with atomic_path(path) as tmp:
        tmp.write_text("".join(f"{n}\n" for n in names))
    return path
