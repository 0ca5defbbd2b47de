"""The frame sizes the generator and the commands accept: a leaf module (no OpenCV, no torch),
so a command's argument helper can check a size without loading the scene generator."""
from __future__ import annotations

MIN_SIZE, MAX_SIZE = 16, 8192


def check_size(size: tuple[int, int]) -> tuple[int, int]:
    """``size`` as (width, height) ints, or ValueError when either side is outside MIN_SIZE..MAX_SIZE."""
    try:
        width, height = (int(v) for v in size)
    except (TypeError, ValueError):
        raise ValueError(f"size must be (width, height), got {size!r}") from None
    if not (MIN_SIZE <= width <= MAX_SIZE and MIN_SIZE <= height <= MAX_SIZE):
        raise ValueError(f"size {width}x{height} out of range: width and height must be in {MIN_SIZE}..{MAX_SIZE}")
    return width, height
