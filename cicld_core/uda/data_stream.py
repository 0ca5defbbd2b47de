"""Training batches as a pure function of (seed, rank, iteration).

Sample k of iteration i is drawn (image, rare class, crop, flip) from a generator seeded
with (seed, rank, i, k), so a resumed run sees exactly the batches the uninterrupted run
would have seen, with any number of loader workers, and no loader state is saved.
"""
from __future__ import annotations

from typing import Any, Iterator

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, Sampler

from ..data import RareClassSampler, SegmentationDataset, collate


class DrawnSamples(Dataset):
    def __init__(self, dataset: SegmentationDataset, seed: int, rank: int, stream: int,
                 rare_classes: RareClassSampler | None = None) -> None:
        self.dataset, self.rare_classes = dataset, rare_classes
        self.key = (seed, rank, stream)

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, key: tuple[int, int]) -> dict[str, Any]:
        iteration, slot = key
        rng = np.random.default_rng([*self.key, iteration, slot])
        if self.rare_classes is not None:
            index, required_class = self.rare_classes.draw(rng)
        else:
            index, required_class = int(rng.integers(len(self.dataset))), None
        image, label = self.dataset.load_raw(index)
        image_t, label_t = self.dataset.transform(image, label, rng, required_class)
        return {"image": image_t, "label": label_t, "name": self.dataset.samples[index].name}


class IterationBatches(Sampler):
    def __init__(self, start: int, stop: int, batch_size: int) -> None:
        self.start, self.stop, self.batch_size = start, stop, batch_size

    def __len__(self) -> int:
        return max(0, self.stop - self.start)

    def __iter__(self) -> Iterator[list[tuple[int, int]]]:
        for iteration in range(self.start, self.stop):
            yield [(iteration, slot) for slot in range(self.batch_size)]


def batch_stream(samples: DrawnSamples, start: int, stop: int, batch_size: int, workers: int) -> DataLoader:
    # The loader draws a base seed when iterated; its own generator keeps that draw off the
    # global RNG, whose state the checkpoint restores (dropout), so resuming stays exact.
    return DataLoader(samples, batch_sampler=IterationBatches(start, stop, batch_size), collate_fn=collate,
                      num_workers=workers, persistent_workers=False, pin_memory=False,
                      generator=torch.Generator().manual_seed(0))
