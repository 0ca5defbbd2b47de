"""D with the inter-coder connection, and f_cls.

D reads a latent (z0 or a denoised z0_hat) and climbs back to 1/4 resolution. The
inter-coder connection feeds E's stages f3, f2, f1 straight into D's matching scales, so
fine detail bypasses the diffusion UNet (the paper's structural novelty). With
``inter_coder: false`` the skips are absent and D is narrower by their width;
``inter_coder_skips`` keeps only the finest ones (1: f1 alone, so D has to read the latent
for what f2 and f3 carried). D still climbs through every scale: a dropped skip only gives
its scale's size.
"""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from .config import ModelConfig

LEVELS = 3  # f3, f2, f1, coarsest first


def conv_gn_act(cin: int, cout: int, groups: int, kernel: int = 3) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, kernel, padding=kernel // 2, bias=False),
                         nn.GroupNorm(groups, cout), nn.SiLU(inplace=True))


class Decoder(nn.Module):
    def __init__(self, config: ModelConfig, encoder_skip_channels: tuple[int, int, int]) -> None:
        super().__init__()
        width, groups = config.decoder_channels, config.norm_groups
        # the levels (0 = f3 ... 2 = f1) that read a skip: the finest kept_skips of them. All three
        # keep the names and shapes of the weights checkpoints written before the option have.
        self.first_skip_level = LEVELS - config.kept_skips
        self.latent_in = conv_gn_act(config.latent_channels, width, groups)
        kept_channels = list(reversed(encoder_skip_channels))[self.first_skip_level:]
        self.skip_projs = nn.ModuleList(
            conv_gn_act(c, config.skip_channels, groups, kernel=1) for c in kept_channels
        ) if kept_channels else None
        self.fuses = nn.ModuleList(
            conv_gn_act(width + (config.skip_channels if self.reads_skip(level) else 0), width, groups)
            for level in range(LEVELS))
        self.dropout = nn.Dropout2d(0.1)
        self.classifier = nn.Conv2d(width, config.num_classes, 1)  # f_cls

    def reads_skip(self, level: int) -> bool:
        return level >= self.first_skip_level

    def forward(self, latent: torch.Tensor, skips: tuple[torch.Tensor, ...]) -> torch.Tensor:
        """Class logits at the resolution of f1 (1/4 of the input)."""
        x = self.latent_in(latent)
        for level, skip in enumerate(reversed(skips)):
            if x.shape[-2:] != skip.shape[-2:]:
                x = F.interpolate(x, size=skip.shape[-2:], mode="bilinear", align_corners=False)
            if self.reads_skip(level):
                x = torch.cat([x, self.skip_projs[level - self.first_skip_level](skip)], dim=1)
            x = self.fuses[level](x)
        return self.classifier(self.dropout(x))
