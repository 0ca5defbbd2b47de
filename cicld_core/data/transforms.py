"""Training-time augmentation for an (image, trainId label) pair, DAFormer/mmseg style.

Order: resize -> random crop (max single-class ratio, optional required class) -> flip
-> normalise -> pad to the crop size. Padding comes after normalisation, as in mmseg,
so a padded image pixel is 0 in normalised space (the mean colour) and a padded label
pixel is 255 (ignored by the loss).

Every random draw comes from the ``np.random.Generator`` the caller passes in, so the
result depends only on that generator's seed, never on global state or worker order.
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import torch

from ..labels import IGNORE_INDEX

IMAGENET_MEAN = (123.675, 116.28, 103.53)
IMAGENET_STD = (58.395, 57.12, 57.375)

# DAFormer/mmseg give up after this many rejected crops and keep the last one drawn.
MAX_CROP_TRIES = 10


@dataclass
class SegTransformConfig:
    """What to do to each sample. The defaults only normalise (plus a 50 % flip).

    resize: (width, height) for the whole image, or ``scale``: a factor on both sides
    (at most one of the two). crop_size: (height, width) of the random crop; an image
    smaller than the crop is cropped to its own size and then padded (label 255, image
    0 after normalisation). cat_max_ratio: a crop is rejected while one class covers at
    least this share of its labelled pixels (1.0 turns the check off).
    min_required_pixels: how many pixels of ``required_class`` a crop needs to count as
    containing it.
    """

    resize: tuple[int, int] | None = None
    scale: float | None = None
    crop_size: tuple[int, int] | None = None
    cat_max_ratio: float = 0.75
    flip_prob: float = 0.5
    mean: tuple[float, float, float] = IMAGENET_MEAN
    std: tuple[float, float, float] = IMAGENET_STD
    min_required_pixels: int = 1

    def __post_init__(self) -> None:
        # YAML gives lists; tuples keep the config hashable and comparable.
        if self.resize is not None:
            self.resize = _positive_pair(self.resize, "resize (width, height)")
        if self.crop_size is not None:
            self.crop_size = _positive_pair(self.crop_size, "crop_size (height, width)")
        if self.resize is not None and self.scale is not None:
            raise ValueError("SegTransformConfig: give either resize or scale, not both")
        if self.scale is not None and not self.scale > 0:
            raise ValueError(f"SegTransformConfig: scale must be > 0, got {self.scale}")
        if not 0.0 < self.cat_max_ratio <= 1.0:
            raise ValueError(f"SegTransformConfig: cat_max_ratio must be in (0, 1], got {self.cat_max_ratio}")
        if not 0.0 <= self.flip_prob <= 1.0:
            raise ValueError(f"SegTransformConfig: flip_prob must be in [0, 1], got {self.flip_prob}")
        self.mean = tuple(float(v) for v in self.mean)
        self.std = tuple(float(v) for v in self.std)
        if len(self.mean) != 3 or len(self.std) != 3 or min(self.std) <= 0:
            raise ValueError("SegTransformConfig: mean and std need 3 values each, std > 0")
        if self.min_required_pixels < 1:
            raise ValueError("SegTransformConfig: min_required_pixels must be >= 1")

    @classmethod
    def no_augmentation(cls, **kwargs) -> "SegTransformConfig":
        """Resize (if asked) and normalise only: for evaluation and statistics."""
        return cls(flip_prob=0.0, **kwargs)


def _positive_pair(value, what: str) -> tuple[int, int]:
    pair = tuple(int(v) for v in value)
    if len(pair) != 2 or min(pair) <= 0:
        raise ValueError(f"SegTransformConfig: {what} must be two positive integers, got {value!r}")
    return pair


def resize_pair(
    image: np.ndarray, label: np.ndarray | None, size_wh: tuple[int, int]
) -> tuple[np.ndarray, np.ndarray | None]:
    """Resize an image (area when shrinking, to avoid aliasing; else bilinear) and its label (nearest)."""
    height, width = image.shape[:2]
    new_w, new_h = size_wh
    if (new_w, new_h) == (width, height):
        return image, label
    shrinking = new_w <= width and new_h <= height
    image = cv2.resize(image, (new_w, new_h), interpolation=cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR)
    if label is not None:
        # Nearest keeps labels valid ids: any interpolation would invent classes on edges.
        label = cv2.resize(label, (new_w, new_h), interpolation=cv2.INTER_NEAREST)
    return image, label


def crop_accepted(label_crop: np.ndarray, cat_max_ratio: float) -> bool:
    """mmseg's rule: more than one labelled class, none covering cat_max_ratio or more."""
    if cat_max_ratio >= 1.0:
        return True
    counts = np.bincount(label_crop.ravel(), minlength=256)[:IGNORE_INDEX]
    counts = counts[counts > 0]
    return len(counts) > 1 and counts.max() / counts.sum() < cat_max_ratio


def choose_crop(
    label: np.ndarray | None,
    image_hw: tuple[int, int],
    crop_hw: tuple[int, int],
    rng: np.random.Generator,
    cat_max_ratio: float = 0.75,
    required_class: int | None = None,
    min_required_pixels: int = 1,
) -> tuple[int, int, int, int]:
    """Pick a crop window (top, left, height, width) inside an image of ``image_hw``.

    Without a label the window is uniform. With one, up to MAX_CROP_TRIES windows are
    drawn until one passes ``crop_accepted`` (the last draw is kept otherwise), as mmseg
    does. With a ``required_class`` (rare class sampling) each window is drawn around a
    random pixel of that class, so it always holds the class when the label does;
    DAFormer instead redraws uniform crops up to 10 times, which usually misses a
    class covering a small corner. That choice is repeated up to MAX_CROP_TRIES times
    until the window holds ``min_required_pixels`` of the class; failing that, the
    window with most pixels of the class is kept.
    """
    height, width = image_hw
    crop_h, crop_w = min(crop_hw[0], height), min(crop_hw[1], width)

    def uniform() -> tuple[int, int, int, int]:
        top = int(rng.integers(0, height - crop_h + 1))
        left = int(rng.integers(0, width - crop_w + 1))
        return top, left, crop_h, crop_w

    def window(box: tuple[int, int, int, int]) -> np.ndarray:
        top, left, h, w = box
        return label[top:top + h, left:left + w]

    def balanced(draw) -> tuple[int, int, int, int]:
        box = draw()
        if label is None:
            return box
        for _ in range(MAX_CROP_TRIES):
            if crop_accepted(window(box), cat_max_ratio):
                break
            box = draw()
        return box

    if required_class is None:
        return balanced(uniform)
    if label is None:
        raise ValueError("choose_crop: required_class needs a label to look for the class in")
    ys, xs = np.nonzero(label == required_class)
    if len(ys) == 0:
        # The class can vanish when a resize drops a thin structure: any crop will do.
        return balanced(uniform)

    def around_class_pixel() -> tuple[int, int, int, int]:
        k = int(rng.integers(len(ys)))
        y, x = int(ys[k]), int(xs[k])
        top = int(rng.integers(max(0, y - crop_h + 1), min(y, height - crop_h) + 1))
        left = int(rng.integers(max(0, x - crop_w + 1), min(x, width - crop_w) + 1))
        return top, left, crop_h, crop_w

    best_box, best_pixels = None, -1
    for _ in range(MAX_CROP_TRIES):
        box = balanced(around_class_pixel)
        pixels = int(np.count_nonzero(window(box) == required_class))
        if pixels >= min_required_pixels:
            return box
        if pixels > best_pixels:
            best_box, best_pixels = box, pixels
    return best_box


def normalize(image: np.ndarray, mean, std) -> np.ndarray:
    """(H, W, 3) uint8 RGB -> (3, H, W) float32 ``(x - mean) / std``."""
    mean = np.asarray(mean, dtype=np.float32)
    std = np.asarray(std, dtype=np.float32)
    out = (image.astype(np.float32) - mean) / std
    return np.ascontiguousarray(out.transpose(2, 0, 1))


class SegTransform:
    """Applies a ``SegTransformConfig`` to one (RGB uint8 HWC, trainId uint8 HW or None) pair."""

    def __init__(self, config: SegTransformConfig | None = None) -> None:
        self.config = config if config is not None else SegTransformConfig()

    def __call__(
        self,
        image: np.ndarray,
        label: np.ndarray | None,
        rng: np.random.Generator,
        required_class: int | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Returns (float32 (3, H, W) image, int64 (H, W) label or None)."""
        cfg = self.config
        if label is not None and label.shape != image.shape[:2]:
            raise ValueError(f"SegTransform: image is {image.shape[:2]} but label is {label.shape}")
        if required_class is not None and label is None:
            raise ValueError("SegTransform: required_class (rare class sampling) needs a labelled dataset")

        size = cfg.resize
        if size is None and cfg.scale is not None:
            h, w = image.shape[:2]
            size = (max(1, round(w * cfg.scale)), max(1, round(h * cfg.scale)))
        if size is not None:
            image, label = resize_pair(image, label, size)

        if cfg.crop_size is not None:
            top, left, h, w = choose_crop(
                label, image.shape[:2], cfg.crop_size, rng, cfg.cat_max_ratio,
                required_class, cfg.min_required_pixels,
            )
            image = image[top:top + h, left:left + w]
            if label is not None:
                label = label[top:top + h, left:left + w]

        # Always draw, so that flip_prob does not shift later draws of the same stream.
        if rng.random() < cfg.flip_prob:
            image = image[:, ::-1]
            label = label[:, ::-1] if label is not None else None

        chw = normalize(image, cfg.mean, cfg.std)
        if cfg.crop_size is not None:
            chw, label = _pad_to(chw, label, cfg.crop_size)
        image_t = torch.from_numpy(chw)
        label_t = torch.from_numpy(label.astype(np.int64)) if label is not None else None
        return image_t, label_t


def _pad_to(
    chw: np.ndarray, label: np.ndarray | None, size_hw: tuple[int, int]
) -> tuple[np.ndarray, np.ndarray | None]:
    """Pad bottom/right to ``size_hw``: image 0 (normalised mean colour), label ignore."""
    _, h, w = chw.shape
    out_h, out_w = size_hw
    if (h, w) == (out_h, out_w):
        return chw, label
    padded = np.zeros((3, out_h, out_w), dtype=np.float32)
    padded[:, :h, :w] = chw
    if label is not None:
        padded_label = np.full((out_h, out_w), IGNORE_INDEX, dtype=label.dtype)
        padded_label[:h, :w] = label
        label = padded_label
    return padded, label
