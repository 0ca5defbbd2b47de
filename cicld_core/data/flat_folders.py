"""Datasets kept as two flat folders whose files share names, one of images and one of labels
(GTA5, Synthia), with an optional ``<split>.txt`` list of file names choosing a subset.

A subclass names its two folders and its layout and decodes its label format;
``FlatFolderDataset`` pairs the files and says exactly what is missing when it cannot.
"""
from __future__ import annotations

from pathlib import Path

from ..io import DataError
from .base import Sample, SegmentationDataset, list_some
from .transforms import SegTransformConfig


class FlatFolderDataset(SegmentationDataset):
    image_folder = "images"  # below the root
    label_folder = "labels"
    layout = "<root>/images/*.png and <root>/labels/*.png with the same file names"  # for error messages

    def __init__(
        self,
        root: str | Path,
        split_file: str | Path | None = None,
        labels: bool = True,
        transform: SegTransformConfig | None = None,
        seed: int = 0,
    ) -> None:
        root = Path(root)
        split_path = Path(split_file) if split_file is not None else None
        samples = pair_flat_folders(root, root / self.image_folder, root / self.label_folder if labels else None,
                                    split_path, self.display_name, self.layout)
        if split_path is not None:
            self.tag = f"{self.tag}_{split_path.stem}"
        super().__init__(root, samples, transform=transform, seed=seed)


def read_split_file(path: Path, display_name: str) -> list[str]:
    """File names listed one per line (blank lines and '#' comments skipped).

    Accepts '00001', '00001.png' or 'images/00001.png': only the base name counts, and
    '.png' is added when there is no extension.
    """
    if not path.is_file():
        raise DataError(f"{display_name}: split file not found: {path}")
    names = []
    for line in path.read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        name = Path(line).name
        names.append(name if Path(name).suffix else f"{name}.png")
    if not names:
        raise DataError(f"{display_name}: split file {path} lists no files")
    duplicates = sorted({n for n in names if names.count(n) > 1}) if len(set(names)) != len(names) else []
    if duplicates:
        raise DataError(f"{display_name}: split file {path} lists {list_some(duplicates)} more than once")
    return names


def pair_flat_folders(
    root: Path,
    image_dir: Path,
    label_dir: Path | None,
    split_file: Path | None,
    display_name: str,
    layout: str,
) -> list[Sample]:
    """Samples from an images folder and a labels folder whose files share names (GTA5, Synthia).

    Every image needs its label and every label its image (within the split file's
    names when one is given): a missing partner is an error, never a silent skip.
    """
    if not image_dir.is_dir():
        raise DataError(f"{display_name}: image folder {image_dir} not found; expected layout: {layout}")
    if label_dir is not None and not label_dir.is_dir():
        raise DataError(f"{display_name}: label folder {label_dir} not found; expected layout: {layout}")
    images = {p.name: p for p in image_dir.glob("*.png") if p.is_file()}
    labels = {p.name: p for p in label_dir.glob("*.png") if p.is_file()} if label_dir is not None else None

    if split_file is not None:
        wanted = read_split_file(split_file, display_name)
        missing = [n for n in wanted if n not in images]
        if missing:
            raise DataError(
                f"{display_name}: split file {split_file} lists images missing from {image_dir}: "
                f"{list_some(missing)}"
            )
        names = sorted(wanted)
    else:
        names = sorted(images)
        if labels is not None:
            orphans = sorted(set(labels) - set(images))
            if orphans:
                raise DataError(
                    f"{display_name}: labels without an image in {image_dir}: "
                    + list_some([(label_dir / n).relative_to(root).as_posix() for n in orphans])
                )
    if not names:
        raise DataError(f"{display_name}: no .png images in {image_dir}; expected layout: {layout}")
    if labels is not None:
        unlabelled = [n for n in names if n not in labels]
        if unlabelled:
            raise DataError(
                f"{display_name}: images without a label in {label_dir}: "
                + list_some([(image_dir / n).relative_to(root).as_posix() for n in unlabelled])
            )
    return [
        Sample(images[n], labels[n] if labels is not None else None, Path(n).stem) for n in names
    ]
