"""What f_mask encodes during training (``uda.condition_on``, docs/design.md section 2).

Inference conditions the denoiser on its own first pass, ``argmax f_cls(D(z0))``, which is
sometimes wrong; training on ground-truth labels (the paper) lets D and eps_theta rely on a
condition inference never has. The condition is built here as one trainId map per image:

- ``labels``: the branch's labels (pseudo-labels on the target), optionally with a share of
  their regions given a random class (``condition_corrupt_share``), so the denoiser sees
  conditions it has to correct;
- ``first_pass``: the argmax of the model's own detached plain-path logits, as inference;
- ``mix``: labels with probability ``condition_label_prob`` per image, else the first pass.

f_mask reduces any map to class fractions on a coarse grid, so the first pass at 1/4
resolution is upsampled (nearest) to the label size without changing what f_mask sees.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from ..labels import IGNORE_INDEX
from .config import UDAConfig

# Label regions for corruption: one class inside one cell of this grid, a local mistake
# the size a first pass makes, rather than a whole class swapped across the image.
CORRUPT_GRID = (4, 4)


def first_pass_labels(logits: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Inference's condition: argmax of the plain-path logits (detached), at ``size``."""
    labels = logits.detach().argmax(1)
    if tuple(labels.shape[-2:]) != tuple(size):
        labels = F.interpolate(labels[:, None].float(), size=size, mode="nearest")[:, 0].long()
    return labels


def corrupt_regions(labels: torch.Tensor, share: float, num_classes: int,
                    generator: torch.Generator | None) -> torch.Tensor:
    """Give each (class, grid cell) region of ``labels`` a random other class with probability
    ``share``; ignored pixels stay ignored."""
    if share <= 0:
        return labels
    batch, height, width = labels.shape
    rows, cols = CORRUPT_GRID
    cell_y = (torch.arange(height, device=labels.device) * rows // height).view(-1, 1)
    cell_x = (torch.arange(width, device=labels.device) * cols // width).view(1, -1)
    cell = (cell_y * cols + cell_x).expand(batch, height, width)
    valid = labels != IGNORE_INDEX
    region = cell * num_classes + torch.where(valid, labels, 0).long()  # (B, H, W) in [0, cells * classes)
    regions = rows * cols * num_classes
    hit = torch.rand((batch, regions), generator=generator, device=labels.device) < share
    shift = torch.randint(1, num_classes, (batch, regions), generator=generator, device=labels.device)
    hit, shift = hit.gather(1, region.flatten(1)).view_as(labels), shift.gather(1, region.flatten(1)).view_as(labels)
    corrupted = (labels.long() + shift) % num_classes  # a shift in [1, C) never gives the same class back
    return torch.where(hit & valid, corrupted, labels.long())


def condition_labels(labels: torch.Tensor, first_pass: torch.Tensor | None, config: UDAConfig, num_classes: int,
                     generator: torch.Generator | None) -> torch.Tensor:
    """The trainId map f_mask encodes for one branch. ``first_pass`` (B, H, W) is needed for
    ``first_pass`` and ``mix``. With ``labels`` and no corruption nothing random is drawn, so
    the decoupled routing's random streams stay those of round 1."""
    mode = config.condition_on
    if mode == "first_pass":
        return first_pass
    with_labels = corrupt_regions(labels, config.condition_corrupt_share, num_classes, generator)
    if mode == "labels":
        return with_labels
    use_labels = torch.rand((labels.shape[0],), generator=generator, device=labels.device) < config.condition_label_prob
    return torch.where(use_labels.view(-1, 1, 1), with_labels.long(), first_pass.long())
