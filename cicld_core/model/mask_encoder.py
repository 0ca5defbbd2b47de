"""f_mask: a label map (or class probabilities) -> mask tokens c for the denoiser.

The label map is reduced to class fractions on a fixed grid of ``token_grid`` cells, with
two coordinate channels so a token knows where it is. A fixed number of tokens keeps
Eq. 5's sum over tokens the same size at every input resolution (training crops and
full frames differ).
"""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..labels import IGNORE_INDEX


class MaskEncoder(nn.Module):
    def __init__(self, num_classes: int, hidden: int, token_channels: int, groups: int,
                 token_grid: tuple[int, int] = (8, 8)) -> None:
        super().__init__()
        self.num_classes = num_classes
        self.token_grid = token_grid
        self.net = nn.Sequential(
            nn.Conv2d(num_classes + 2, hidden, 1), nn.GroupNorm(groups, hidden), nn.SiLU(inplace=True),
            nn.Conv2d(hidden, hidden, 3, padding=1), nn.GroupNorm(groups, hidden), nn.SiLU(inplace=True),
            nn.Conv2d(hidden, token_channels, 1),
        )

    def class_fractions(self, labels: torch.Tensor) -> torch.Tensor:
        """(B, H, W) trainIds (ignore -> no class) or (B, K, H, W) probabilities -> (B, K, gh, gw)."""
        if labels.dim() == 3:
            if labels.dtype.is_floating_point:
                raise ValueError("a label map for f_mask must hold integer trainIds")
            valid = labels != IGNORE_INDEX
            one_hot = F.one_hot(torch.where(valid, labels, 0).long(), self.num_classes)
            probs = (one_hot * valid[..., None]).permute(0, 3, 1, 2).float()
        elif labels.dim() == 4 and labels.shape[1] == self.num_classes:
            probs = labels.float()
        else:
            raise ValueError(f"f_mask takes (B, H, W) trainIds or (B, {self.num_classes}, H, W) probabilities, "
                             f"got shape {tuple(labels.shape)}")
        return F.adaptive_avg_pool2d(probs, self.token_grid)

    def forward(self, labels: torch.Tensor) -> torch.Tensor:
        """Mask tokens c: (B, M, C) with M = gh * gw."""
        fractions = self.class_fractions(labels)
        batch, _, gh, gw = fractions.shape
        ys = torch.linspace(-1, 1, gh, device=fractions.device)
        xs = torch.linspace(-1, 1, gw, device=fractions.device)
        coords = torch.stack(torch.meshgrid(ys, xs, indexing="ij")).expand(batch, -1, -1, -1)
        tokens = self.net(torch.cat([fractions, coords], dim=1).to(self.net[0].weight.dtype))
        return tokens.flatten(2).transpose(1, 2)
