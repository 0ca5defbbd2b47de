"""ClassMix (DACS): paste half of the classes of each source image onto a target image,
then colour jitter and blur the mixed image.

Pixel weights: 1 on pasted source pixels (true labels), the pseudo-label weight q on
target pixels.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from ..labels import IGNORE_INDEX


@dataclass
class Mixed:
    images: torch.Tensor  # (B, 3, H, W) normalised
    labels: torch.Tensor  # (B, H, W)
    pixel_weight: torch.Tensor  # (B, H, W)
    masks: torch.Tensor  # (B, H, W) bool: True where the source was pasted


def class_masks(source_labels: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """Per image: a random half (rounded up) of the classes present, as a pixel mask."""
    masks = []
    for labels in source_labels:
        classes = labels.unique()
        classes = classes[classes != IGNORE_INDEX]
        order = torch.randperm(len(classes), generator=generator, device="cpu").to(classes.device)
        chosen = classes[order[: (len(classes) + 1) // 2]]
        masks.append(torch.isin(labels, chosen))
    return torch.stack(masks)


def classmix(source_images: torch.Tensor, source_labels: torch.Tensor, target_images: torch.Tensor,
             target_labels: torch.Tensor, target_weight: torch.Tensor, generator: torch.Generator | None = None,
             ) -> Mixed:
    masks = class_masks(source_labels, generator)
    m = masks[:, None]
    return Mixed(
        images=torch.where(m, source_images, target_images),
        labels=torch.where(masks, source_labels, target_labels),
        pixel_weight=torch.where(masks, torch.ones_like(target_weight), target_weight),
        masks=masks,
    )


def strong_augmentation(images: torch.Tensor, mean: tuple[float, ...], std: tuple[float, ...], jitter: float,
                        blur: bool, generator: torch.Generator | None = None) -> torch.Tensor:
    """DACS's strong augmentation: colour jitter, then (when ``blur``) a random Gaussian blur."""
    images = colour_jitter(images, mean, std, jitter, generator)
    return gaussian_blur(images, generator) if blur else images


def colour_jitter(images: torch.Tensor, mean: tuple[float, ...], std: tuple[float, ...], strength: float,
                  generator: torch.Generator | None = None) -> torch.Tensor:
    """Random brightness, contrast and saturation per image (in 0..1 RGB, then renormalised)."""
    if strength <= 0:
        return images
    mean_t = torch.tensor(mean, device=images.device).view(1, 3, 1, 1)
    std_t = torch.tensor(std, device=images.device).view(1, 3, 1, 1)
    rgb = images * std_t + mean_t
    batch = images.shape[0]

    def factor() -> torch.Tensor:
        return (1 + (torch.rand(batch, 1, 1, 1, generator=generator) * 2 - 1) * strength).to(images.device)

    rgb = rgb * factor()
    grey_mean = rgb.mean((1, 2, 3), keepdim=True)
    rgb = (rgb - grey_mean) * factor() + grey_mean
    grey = rgb.mean(1, keepdim=True)
    rgb = (rgb - grey) * factor() + grey
    return (rgb.clamp(0, 1) - mean_t) / std_t


def gaussian_blur(images: torch.Tensor, generator: torch.Generator | None = None, max_sigma: float = 1.5,
                  probability: float = 0.5) -> torch.Tensor:
    """Blur each image with probability 0.5 and a random sigma, as DACS's strong augmentation."""
    out = images.clone()
    for i in range(images.shape[0]):
        if torch.rand(1, generator=generator).item() >= probability:
            continue
        sigma = 0.15 + torch.rand(1, generator=generator).item() * (max_sigma - 0.15)
        radius = max(1, int(round(2 * sigma)))
        x = torch.arange(-radius, radius + 1, device=images.device, dtype=images.dtype)
        kernel = torch.exp(-(x ** 2) / (2 * sigma ** 2))
        kernel = kernel / kernel.sum()
        image = out[i:i + 1]
        image = F.conv2d(F.pad(image, (radius, radius, 0, 0), mode="reflect"), kernel.view(1, 1, 1, -1).repeat(3, 1, 1, 1),
                         groups=3)
        image = F.conv2d(F.pad(image, (0, 0, radius, radius), mode="reflect"), kernel.view(1, 1, -1, 1).repeat(3, 1, 1, 1),
                         groups=3)
        out[i:i + 1] = image
    return out
