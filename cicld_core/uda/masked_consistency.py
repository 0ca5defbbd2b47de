"""Masked image consistency on the target (MIC, Hoyer et al., CVPR 2023).

The student sees a strongly augmented target image with a random share of square blocks
blanked out and must predict the EMA teacher's pseudo-labels of the whole, clean image, with
DACS's pseudo-label weights. Predicting a blanked block needs the context around it, so the
model learns the target's spatial context relations rather than only local appearance. The
term reads nothing but the plain E -> D path and the pseudo-labels every self-training method
already has, so any method composes it (``uda.lambda_masked_consistency > 0``): DACS, or
CICLD under either routing.

MIC's defaults are a mask ratio of 0.7 and 64-pixel blocks on 1024-pixel-wide frames; the
block size here is a config key (``uda.masked_consistency_block``, default 16 for the
256-pixel-wide frames of this project's benchmarks: the same share of the frame's width).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from ..model import CICLD, segmentation_loss
from .classmix import strong_augmentation
from .config import UDAConfig
from .teacher import PseudoLabels


def block_mask(batch: int, height: int, width: int, block: int, mask_ratio: float,
               generator: torch.Generator | None = None, device: torch.device | str = "cpu") -> torch.Tensor:
    """(B, 1, H, W) float: 1 where the image is kept, 0 in the blanked blocks. Each block of
    ``block`` x ``block`` pixels is blanked with probability ``mask_ratio``; blocks on the right
    and bottom edges are cut to the frame."""
    blocks_h, blocks_w = -(-height // block), -(-width // block)
    keep = (torch.rand(batch, 1, blocks_h, blocks_w, generator=generator) >= mask_ratio).float()
    keep = F.interpolate(keep, scale_factor=block, mode="nearest")[..., :height, :width]
    return keep.to(device)


def masked_target_images(images: torch.Tensor, config: UDAConfig, mean: tuple[float, ...],
                         std: tuple[float, ...], generator: torch.Generator | None) -> torch.Tensor:
    """The student's input: the target images under DACS's strong augmentation, then blanked
    blocks set to 0 in normalised space (the dataset's mean colour), as MIC masks them."""
    augmented = strong_augmentation(images, mean, std, config.color_jitter, config.blur, generator)
    batch, _, height, width = images.shape
    keep = block_mask(batch, height, width, config.masked_consistency_block, config.masked_consistency_ratio,
                      generator, images.device)
    return augmented * keep.to(augmented.dtype)


def masked_consistency_loss(model: CICLD, target_images: torch.Tensor, pseudo: PseudoLabels, config: UDAConfig,
                            mean: tuple[float, ...], std: tuple[float, ...],
                            generator: torch.Generator | None) -> torch.Tensor:
    """The unweighted term: CE of the student on the masked target against the pseudo-labels
    of the clean target; the gradient reaches E and D. ``generator`` is a CPU generator, as
    ClassMix's augmentation draws on one."""
    masked = masked_target_images(target_images, config, mean, std, generator)
    encoded = model.encode(masked)
    return segmentation_loss(model.decode(encoded.z0, encoded.skips), pseudo.labels, pseudo.pixel_weight)
