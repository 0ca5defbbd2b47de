"""File I/O that fails loudly and never leaves a half-written file behind.

Writers go through a temporary file in the destination folder and ``os.replace``, so a
crash or Ctrl-C leaves either the old file or the new one. Readers raise
``DataError`` naming the file when it is missing or cannot be decoded.
"""
from __future__ import annotations

import json
import os
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

import cv2
import numpy as np
from PIL import Image

from .image_header import encoded_image_size


class DataError(RuntimeError):
    """A dataset file or folder is missing, unreadable or holds values it must not."""


class ImageTooLarge(DataError):
    """An image has more pixels than the caller allows."""


@contextmanager
def atomic_path(path: str | os.PathLike, suffix: str = "") -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success it is renamed onto ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=suffix or path.suffix, dir=path.parent)
    os.close(fd)
    try:
        yield Path(tmp)
        # mkstemp makes the file private (0600), and a writer may replace the file with its own
        # temporary (safetensors does): give what was written the permissions a plain open() would
        os.chmod(tmp, 0o666 & ~current_umask())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def current_umask() -> int:
    # os.umask can only be read by setting it, which races with other threads creating files;
    # Linux reports it in /proc without changing it
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except OSError:
        pass
    umask = os.umask(0o022)
    os.umask(umask)
    return umask


def write_json(path: str | os.PathLike, data: Any) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")


def write_png(path: str | os.PathLike, array: np.ndarray, rgb: bool = True) -> None:
    """Write an 8- or 16-bit PNG. 3/4-channel arrays are taken as RGB(A) unless ``rgb=False``."""
    if rgb and array.ndim == 3:
        code = cv2.COLOR_RGB2BGR if array.shape[2] == 3 else cv2.COLOR_RGBA2BGRA
        array = cv2.cvtColor(array, code)
    with atomic_path(path, ".png") as tmp:
        if not cv2.imwrite(str(tmp), array):
            raise DataError(f"could not write PNG {path}")


def write_palette_png(path: str | os.PathLike, indices: np.ndarray, palette: np.ndarray) -> None:
    """Write an 8-bit palette ('P' mode) PNG, the format of GTA5 label files."""
    image = Image.fromarray(indices.astype(np.uint8), mode="P")
    image.putpalette(palette.astype(np.uint8).reshape(-1).tolist())
    with atomic_path(path, ".png") as tmp:
        image.save(tmp, format="PNG")


def read_rgb(path: str | os.PathLike, max_pixels: int | None = None) -> np.ndarray:
    """Read a colour image as (H, W, 3) RGB uint8.

    With ``max_pixels``, a larger image is refused with ImageTooLarge: for PNG and JPEG
    from the size in the header, before any decoding (a few hundred kilobytes of PNG can
    take gigabytes and seconds to decode); for other formats after decoding."""
    if not os.path.isfile(path):
        raise DataError(f"image file not found: {path}")
    with open(path, "rb") as handle:
        data = handle.read()
    if not data:
        raise DataError(f"cannot decode image {path}: the file is empty")
    if max_pixels is not None:
        check_pixels(encoded_image_size(data), path, max_pixels)
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    if image is None:
        raise DataError(f"cannot decode image {path}: the file is truncated, corrupt or not an image")
    if max_pixels is not None:
        check_pixels((image.shape[1], image.shape[0]), path, max_pixels)
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


def check_pixels(size: tuple[int, int] | None, path: str | os.PathLike, max_pixels: int) -> None:
    if size is not None and size[0] * size[1] > max_pixels:
        raise ImageTooLarge(f"image {path} is {size[0]}x{size[1]} = {size[0] * size[1]} pixels, "
                            f"more than the limit of {max_pixels}")


def read_label_indices(path: str | os.PathLike) -> np.ndarray:
    """Read a single-channel label PNG (grayscale or palette) as its raw indices.

    PIL keeps palette indices; OpenCV would expand a palette image to colours, which
    silently turns GTA5 label ids into garbage.
    """
    if not os.path.isfile(path):
        raise DataError(f"label file not found: {path}")
    try:
        with Image.open(path) as image:
            if image.mode not in ("L", "P", "I;16", "I"):
                raise DataError(
                    f"label file {path} has PNG mode {image.mode!r}; expected a single-channel "
                    "('L'), palette ('P') or 16-bit image of class ids"
                )
            return np.asarray(image)
    except (OSError, SyntaxError) as exc:
        raise DataError(f"cannot decode label file {path}: {exc}") from exc


def read_unchanged(path: str | os.PathLike) -> np.ndarray:
    """Read an image with its bit depth and channels as stored (BGR order for colour)."""
    if not os.path.isfile(path):
        raise DataError(f"file not found: {path}")
    image = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if image is None:
        raise DataError(f"cannot decode image {path}: the file is corrupt or not an image")
    return image
