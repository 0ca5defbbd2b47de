"""CamVid, in either of the two layouts it is found in. The loader tells them apart by the root.

SegNet's 11-class, 480x360 version (the one most sim-to-real papers score):

    <root>/<split>/<stem>.png|.jpg        RGB frames (split: train, val, test)
    <root>/<split>annot/<stem>.png        8-bit class index per pixel, 0..10, 11 = unlabelled

The original release (Brostow et al., 960x720, 32 classes coded by colour), read when the root
holds ``label_colors.txt`` and ``LabeledApproved_full/``:

    <root>/701_StillsRaw_full/<stem>.png  RGB frames (e.g. 0001TP_006690, Seq05VD_f00000)
    <root>/LabeledApproved_full/<stem>_L.png   RGB, one colour per class
    <root>/label_colors.txt               "R G B<tab>Name" per class (e.g. "64 128 64	Animal")
    <root>/<split>.txt                    optional frame lists (SegNet's train.txt, val.txt, ...)

The release has no split: ``split="all"`` takes every labelled frame, any other split reads
``<root>/<split>.txt`` (the stem of each line's first word, so SegNet's own lists work). The
colours are read from ``label_colors.txt`` and the 32 names merged into CamVid's 11 classes as
SegNet did (``labels.CAMVID_ORIGINAL_MERGE``); a colour the file does not list is an error.

Both layouts' labels become the trainIds that merge back to their own CamVid class
(``labels.CAMVID_TO_TRAIN_ID``), so CamVid flows through the trainId pipeline (an oracle can
train on it) and is scored with protocol 11, which merges prediction and truth into CamVid's
classes. ``labels=False`` reads the frames alone (an unlabelled target).

CamVid is licensed CC BY-NC 4.0: read it from a path given at run time, never commit it.
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import NamedTuple

import numpy as np

from ..io import DataError, read_rgb
from ..labels import CAMVID_ID_SET, CAMVID_ORIGINAL_TO_CAMVID, camvid_to_train_ids
from .base import Sample, SegmentationDataset, check_ids, list_some
from .transforms import SegTransformConfig

log = logging.getLogger(__name__)

FRAME_EXTENSIONS = (".png", ".jpg", ".jpeg")
LAYOUT = "<root>/<split>/*.png|*.jpg and <root>/<split>annot/*.png with the same stems"

# The original release's names, below the root
ORIGINAL_FRAMES, ORIGINAL_LABELS, ORIGINAL_COLOURS = "701_StillsRaw_full", "LabeledApproved_full", "label_colors.txt"
LABEL_SUFFIX = "_L.png"
ORIGINAL_LAYOUT = (f"<root>/{ORIGINAL_FRAMES}/<stem>.png, <root>/{ORIGINAL_LABELS}/<stem>{LABEL_SUFFIX} "
                   f"and <root>/{ORIGINAL_COLOURS}")
ALL_FRAMES = "all"


def is_original_release(root: Path) -> bool:
    """True when ``root`` is laid out as the original CamVid release (colour labels)."""
    return (root / ORIGINAL_COLOURS).is_file() and (root / ORIGINAL_LABELS).is_dir()


class ColourTable(NamedTuple):
    """label_colors.txt as a lookup: colours packed as 0xRRGGBB (sorted) and their CamVid class."""

    packed: np.ndarray  # int32, sorted
    camvid: np.ndarray  # uint8 CamVid index (CAMVID_IGNORE_ID for Void), in the order of ``packed``
    source: Path

    def to_camvid(self, rgb: np.ndarray, where: str) -> np.ndarray:
        """(H, W, 3) uint8 colours -> (H, W) CamVid indices; DataError naming any unlisted colour."""
        packed = pack_rgb(rgb)
        index = np.searchsorted(self.packed, packed)
        np.minimum(index, len(self.packed) - 1, out=index)
        known = self.packed[index] == packed
        if not known.all():
            colours, counts = np.unique(packed[~known], return_counts=True)
            shown = [f"{unpack(int(c))} on {int(n)} pixels" for c, n in zip(colours, counts)]
            raise DataError(f"CamVid: label {where} holds colours that {self.source} does not list: "
                            f"{list_some(shown)}")
        return self.camvid[index]


def pack_rgb(rgb: np.ndarray) -> np.ndarray:
    rgb = rgb.astype(np.int32, copy=False)
    return (rgb[..., 0] << 16) | (rgb[..., 1] << 8) | rgb[..., 2]


def unpack(packed: int) -> tuple[int, int, int]:
    return packed >> 16, (packed >> 8) & 255, packed & 255


def read_label_colours(path: Path) -> ColourTable:
    """label_colors.txt: one "R G B Name" line per class (tabs or spaces), merged by name."""
    if not path.is_file():
        raise DataError(f"CamVid: {path} not found; the original release's layout is {ORIGINAL_LAYOUT}")
    colours: dict[int, tuple[int, str]] = {}
    for number, line in enumerate(path.read_text(encoding="utf-8-sig").splitlines(), start=1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        parts = line.split(None, 3)
        try:
            rgb = tuple(int(v) for v in parts[:3])
        except ValueError:
            rgb = ()
        if len(parts) != 4 or len(rgb) != 3 or not all(0 <= v <= 255 for v in rgb):
            raise DataError(f"CamVid: {path} line {number} is {line!r}; expected 'R G B Name' with R, G, B in 0..255")
        name = parts[3].strip()
        if name not in CAMVID_ORIGINAL_TO_CAMVID:
            raise DataError(f"CamVid: {path} line {number} names the class {name!r}, which the merge into CamVid's "
                            f"11 classes does not know; known: {', '.join(sorted(CAMVID_ORIGINAL_TO_CAMVID))}")
        key = (rgb[0] << 16) | (rgb[1] << 8) | rgb[2]
        if key in colours and colours[key][1] != name:
            raise DataError(f"CamVid: {path} gives the colour {rgb} to both {colours[key][1]!r} and {name!r}")
        colours[key] = (CAMVID_ORIGINAL_TO_CAMVID[name], name)
    if not colours:
        raise DataError(f"CamVid: {path} lists no classes")
    packed = np.array(sorted(colours), dtype=np.int32)
    return ColourTable(packed, np.array([colours[int(k)][0] for k in packed], dtype=np.uint8), path)


def read_split_stems(path: Path) -> list[str]:
    """Frame stems, one per line: the stem of the line's first word, so '0001TP_006690',
    '0001TP_006690.png' and SegNet's '/SegNet/CamVid/train/0001TP_006690.png <label path>' all
    name the same frame. Blank lines and '#' comments are skipped."""
    stems = []
    for line in path.read_text(encoding="utf-8-sig").splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            stems.append(Path(line.split()[0].replace("\\", "/")).stem)
    if not stems:
        raise DataError(f"CamVid: split file {path} lists no frames")
    if len(set(stems)) != len(stems):
        duplicates = sorted({s for s in stems if stems.count(s) > 1})
        raise DataError(f"CamVid: split file {path} lists {list_some(duplicates)} more than once")
    return stems


def list_frames(folder: Path) -> dict[str, Path]:
    return {p.stem: p for p in folder.iterdir()
            if p.suffix.lower() in FRAME_EXTENSIONS and p.is_file() and not p.name.startswith(".")}


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
        self.colours: ColourTable | None = None
        if is_original_release(root):
            self.layout = "original"
            if labels:
                self.colours = read_label_colours(root / ORIGINAL_COLOURS)
            samples = original_samples(root, split, labels)
        else:
            self.layout = "segnet"
            samples = segnet_samples(root, split, labels)
        self.split = split
        self.tag = f"camvid_{split}"
        super().__init__(root, samples, transform=transform, seed=seed)

    def read_label(self, path: Path) -> np.ndarray:
        if self.colours is None:
            return super().read_label(path)
        return read_rgb(path)

    def decode_label(self, raw: np.ndarray, path: Path) -> np.ndarray:
        if self.colours is not None:
            return camvid_to_train_ids(self.colours.to_camvid(raw, self.rel(path)))
        check_ids(raw, CAMVID_ID_SET, self.rel(path), "CamVid 11-class")
        return camvid_to_train_ids(raw)


def segnet_samples(root: Path, split: str, labels: bool) -> list[Sample]:
    frame_dir, label_dir = root / split, root / f"{split}annot"
    if not frame_dir.is_dir():
        present = sorted(p.name for p in root.iterdir() if p.is_dir()) if root.is_dir() else []
        hint = ""
        if (root / ORIGINAL_COLOURS).is_file() or (root / ORIGINAL_LABELS).is_dir():
            missing = ORIGINAL_LABELS + "/" if (root / ORIGINAL_COLOURS).is_file() else ORIGINAL_COLOURS
            hint = f"; it looks like the original release but lacks {missing} (layout: {ORIGINAL_LAYOUT})"
        raise DataError(f"CamVid: frame folder {frame_dir} not found (root holds: "
                        f"{', '.join(present) or 'nothing'}); expected layout: {LAYOUT}{hint}")
    frames = list_frames(frame_dir)
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
    return [Sample(frames[stem], label_paths.get(stem), stem) for stem in sorted(frames)]


def original_samples(root: Path, split: str, labels: bool) -> list[Sample]:
    """The original release: every labelled frame ("all") or those ``<root>/<split>.txt`` lists."""
    frame_dir, label_dir = root / ORIGINAL_FRAMES, root / ORIGINAL_LABELS
    if not frame_dir.is_dir():
        raise DataError(f"CamVid: frame folder {frame_dir} not found; the original release's layout is "
                        f"{ORIGINAL_LAYOUT}")
    frames = list_frames(frame_dir)
    label_paths = {p.name[:-len(LABEL_SUFFIX)]: p for p in label_dir.glob(f"*{LABEL_SUFFIX}") if p.is_file()}
    if not label_paths:
        raise DataError(f"CamVid: no <stem>{LABEL_SUFFIX} labels in {label_dir}; the original release's layout is "
                        f"{ORIGINAL_LAYOUT}")
    orphans = sorted(set(label_paths) - set(frames))
    if orphans:
        raise DataError(f"CamVid: labels in {label_dir} without a frame in {frame_dir}: {list_some(orphans)}")
    if split == ALL_FRAMES:
        stems = sorted(label_paths)
        skipped = len(frames) - len(stems)
        if skipped:
            log.info("CamVid: %d frames in %s have no label and are left out", skipped, frame_dir)
    else:
        split_file = root / f"{split}.txt"
        if not split_file.is_file():
            lists = sorted(p.stem for p in root.glob("*.txt") if p.is_file() and p.name != ORIGINAL_COLOURS)
            raise DataError(
                f"CamVid: split {split!r} needs the list file {split_file} (one frame per line: a stem, a file name "
                f"or SegNet's '<frame path> <label path>'); the original release has no split of its own. "
                f"Splits here: {', '.join([ALL_FRAMES, *lists])} ('{ALL_FRAMES}' = every labelled frame)")
        stems = read_split_stems(split_file)
        missing = [s for s in stems if s not in frames]
        if missing:
            raise DataError(f"CamVid: split file {split_file} lists frames missing from {frame_dir}: "
                            f"{list_some(missing)}")
        unlabelled = [s for s in stems if s not in label_paths]
        if labels and unlabelled:
            raise DataError(f"CamVid: split file {split_file} lists frames without a label in {label_dir}: "
                            f"{list_some(unlabelled)}")
    return [Sample(frames[s], label_paths[s] if labels else None, s) for s in sorted(stems)]

