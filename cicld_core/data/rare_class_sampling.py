"""DAFormer's rare class sampling (RCS): draw source images by class, rare classes first.

From the per-image class statistics: the frequency of class c is
``f_c = pixels of c / labelled pixels of the dataset`` (classes never seen are left
out), and a class is drawn with ``P(c) = softmax((1 - f_c) / T)``; a small temperature T
(0.01) strongly favours rare classes. Then an image is drawn uniformly among those with
at least ``min_pixels`` pixels of the class, and the dataset crops around the class
(``dataset[(index, class)]``).
"""
from __future__ import annotations

import logging
from typing import Any, Iterator, Sequence

import numpy as np
from torch.utils.data import Sampler

log = logging.getLogger(__name__)


def class_frequencies(stats: Sequence[dict[str, Any]]) -> dict[int, float]:
    """trainId -> share of the labelled pixels (ignore excluded), for classes that occur."""
    totals: dict[int, int] = {}
    for entry in stats:
        for c, n in entry["counts"].items():
            totals[int(c)] = totals.get(int(c), 0) + int(n)
    totals = {c: n for c, n in totals.items() if n > 0}
    grand_total = sum(totals.values())
    if grand_total == 0:
        raise ValueError("rare class sampling: the dataset has no labelled pixels")
    return {c: totals[c] / grand_total for c in sorted(totals)}


def rcs_probabilities(frequencies: dict[int, float], temperature: float = 0.01) -> dict[int, float]:
    """P(c) = softmax((1 - f_c) / T) over the given classes."""
    if not temperature > 0:
        raise ValueError(f"rare class sampling: temperature must be > 0, got {temperature}")
    classes = sorted(frequencies)
    logits = (1.0 - np.array([frequencies[c] for c in classes])) / temperature
    weights = np.exp(logits - logits.max())  # shifted so that exp cannot overflow
    probs = weights / weights.sum()
    return {c: float(p) for c, p in zip(classes, probs)}


def images_with_class(stats: Sequence[dict[str, Any]], min_pixels: int) -> dict[int, list[int]]:
    """trainId -> indices of the images holding at least ``min_pixels`` pixels of it."""
    result: dict[int, list[int]] = {}
    for index, entry in enumerate(stats):
        for c, n in entry["counts"].items():
            if int(n) >= min_pixels:
                result.setdefault(int(c), []).append(index)
    return result


class RareClassSampler(Sampler):
    """Yields ``num_samples`` ``(dataset index, trainId)`` pairs per epoch.

    ``min_pixels`` (DAFormer: 3000, for GTA5's full-resolution labels) is multiplied by
    ``pixel_scale``: pass the area ratio when the images are smaller (e.g. 0.25 for
    half-size frames). Classes with no image above the threshold cannot be drawn; the
    others' probabilities are renormalised. ``class_probabilities`` holds what is used.
    The draws depend only on ``seed`` and the epoch (``set_epoch``).
    """

    def __init__(
        self,
        stats: Sequence[dict[str, Any]],
        num_samples: int,
        temperature: float = 0.01,
        min_pixels: int = 3000,
        pixel_scale: float = 1.0,
        seed: int = 0,
    ) -> None:
        if num_samples < 1:
            raise ValueError(f"rare class sampling: num_samples must be >= 1, got {num_samples}")
        if not pixel_scale > 0:
            raise ValueError(f"rare class sampling: pixel_scale must be > 0, got {pixel_scale}")
        self.num_samples = int(num_samples)
        self.seed = int(seed)
        self.epoch = 0
        self.min_pixels = max(1, int(round(min_pixels * pixel_scale)))
        self.class_frequencies = class_frequencies(stats)
        probabilities = rcs_probabilities(self.class_frequencies, temperature)
        self.images_per_class = images_with_class(stats, self.min_pixels)

        usable = {c: p for c, p in probabilities.items() if self.images_per_class.get(c)}
        if not usable:
            raise ValueError(
                f"rare class sampling: no image has {self.min_pixels} or more pixels of any class; "
                "lower min_pixels (or pixel_scale for small images)"
            )
        dropped = sorted(set(probabilities) - set(usable))
        if dropped:
            log.warning(
                "rare class sampling: trainIds %s never reach %d pixels in one image and will not be drawn",
                dropped, self.min_pixels,
            )
        total = sum(usable.values())
        self.class_probabilities: dict[int, float] = {c: p / total for c, p in usable.items()}

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return self.num_samples

    def draw(self, rng: np.random.Generator) -> tuple[int, int]:
        """One (dataset index, trainId): a class by P(c), then an image holding it."""
        classes = list(self.class_probabilities)
        probs = np.array([self.class_probabilities[c] for c in classes])
        c = classes[int(rng.choice(len(classes), p=probs / probs.sum()))]
        candidates = self.images_per_class[c]
        return candidates[int(rng.integers(len(candidates)))], c

    def __iter__(self) -> Iterator[tuple[int, int]]:
        rng = np.random.default_rng([self.seed, self.epoch])
        for _ in range(self.num_samples):
            yield self.draw(rng)
