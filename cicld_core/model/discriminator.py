"""f_dis: which domain did a denoiser output come from?

The trunk is the UNet's encoder half (own weights, timestep-aware), then global pooling,
FC 1024 and FC to 3 domains (source / mixed / target) or 2 (source / target, the
ablation).
"""
from __future__ import annotations

import torch
import torch.nn as nn

from .config import ModelConfig
from .denoiser import TimestepEmbedder, down_blocks

SOURCE, MIXED, TARGET = 0, 1, 2


class DomainDiscriminator(nn.Module):
    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        channels, groups = config.discriminator_channels, config.norm_groups
        self.num_domains = config.num_domains
        self.time = TimestepEmbedder(channels[0])
        self.conv_in = nn.Conv2d(config.latent_channels, channels[0], 3, padding=1)
        self.trunk = down_blocks(channels, 1, self.time.dim, groups)
        self.pool = nn.Sequential(nn.GroupNorm(groups, channels[-1]), nn.SiLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.head = nn.Sequential(nn.Linear(channels[-1], config.discriminator_hidden), nn.LeakyReLU(0.2),
                                  nn.Linear(config.discriminator_hidden, config.num_domains))

    def forward(self, eps_hat: torch.Tensor, timesteps: torch.Tensor) -> torch.Tensor:
        """Domain logits (B, num_domains)."""
        emb = self.time(timesteps, eps_hat.shape[0], eps_hat.dtype)
        x = self.conv_in(eps_hat)
        for block in self.trunk:
            x, _ = block(hidden_states=x, temb=emb)
        return self.head(self.pool(x))
