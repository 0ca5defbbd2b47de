"""eps_theta: a timestep-conditioned UNet over latents, built from diffusers blocks, with
the paper's mask conditioning (Eq. 5) in its middle block."""
from __future__ import annotations

import math

import torch
import torch.nn as nn
from diffusers.models.embeddings import TimestepEmbedding, Timesteps
from diffusers.models.resnet import ResnetBlock2D
from diffusers.models.unets.unet_2d_blocks import get_down_block, get_up_block

from .config import ModelConfig


class MaskConditioning(nn.Module):
    """Eq. 5: o_hat = o + sigmoid(o c^T / sqrt(C)) c, with o the (B, N, C) flattened feature
    map and c the (B, M, C) mask tokens."""

    def forward(self, features: torch.Tensor, tokens: torch.Tensor) -> torch.Tensor:
        batch, channels, height, width = features.shape
        o = features.flatten(2).transpose(1, 2)
        tokens = tokens.to(o.dtype)
        gate = torch.sigmoid(o @ tokens.transpose(1, 2) / math.sqrt(channels))
        return (o + gate @ tokens).transpose(1, 2).reshape(batch, channels, height, width)


class TimestepEmbedder(nn.Module):
    """Sinusoidal timestep features and their MLP, as in diffusers' UNet2DModel."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.proj = Timesteps(channels, flip_sin_to_cos=True, downscale_freq_shift=0)
        self.mlp = TimestepEmbedding(channels, channels * 4)
        self.dim = channels * 4

    def forward(self, timesteps: torch.Tensor, batch: int, dtype: torch.dtype) -> torch.Tensor:
        timesteps = torch.as_tensor(timesteps, device=self.mlp.linear_1.weight.device).reshape(-1)
        features = self.proj(timesteps.expand(batch) if timesteps.numel() == 1 else timesteps)
        return self.mlp(features.to(dtype))


def down_blocks(channels: tuple[int, ...], layers: int, temb: int, groups: int) -> nn.ModuleList:
    blocks, cin = [], channels[0]
    for i, cout in enumerate(channels):
        blocks.append(get_down_block(
            "DownBlock2D", num_layers=layers, in_channels=cin, out_channels=cout, temb_channels=temb,
            add_downsample=i < len(channels) - 1, resnet_eps=1e-6, resnet_act_fn="silu", resnet_groups=groups,
            downsample_padding=1, attention_head_dim=cout))
        cin = cout
    return nn.ModuleList(blocks)


class Denoiser(nn.Module):
    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        channels, groups = config.unet_channels, config.norm_groups
        self.time = TimestepEmbedder(channels[0])
        temb = self.time.dim
        self.conv_in = nn.Conv2d(config.latent_channels, channels[0], 3, padding=1)
        self.down = down_blocks(channels, config.unet_layers_per_block, temb, groups)
        mid = channels[-1]
        self.mid_in = ResnetBlock2D(in_channels=mid, temb_channels=temb, groups=groups)
        self.conditioning = MaskConditioning() if config.conditioning else None
        self.mid_out = ResnetBlock2D(in_channels=mid, temb_channels=temb, groups=groups)
        reversed_channels = list(reversed(channels))
        self.up = nn.ModuleList()
        cout = reversed_channels[0]
        for i in range(len(channels)):
            prev, cout = cout, reversed_channels[i]
            self.up.append(get_up_block(
                "UpBlock2D", num_layers=config.unet_layers_per_block + 1,
                in_channels=reversed_channels[min(i + 1, len(channels) - 1)], out_channels=cout,
                prev_output_channel=prev, temb_channels=temb, add_upsample=i < len(channels) - 1,
                resnet_eps=1e-6, resnet_act_fn="silu", resnet_groups=groups, attention_head_dim=cout))
        self.out = nn.Sequential(nn.GroupNorm(groups, channels[0]), nn.SiLU(),
                                 nn.Conv2d(channels[0], config.latent_channels, 3, padding=1))

    def forward(self, latent: torch.Tensor, timesteps: torch.Tensor, tokens: torch.Tensor | None) -> torch.Tensor:
        """Predicted noise eps_hat for the noised latent z_t at ``timesteps`` given mask tokens."""
        emb = self.time(timesteps, latent.shape[0], latent.dtype)
        x = self.conv_in(latent)
        residuals = (x,)
        for block in self.down:
            x, res = block(hidden_states=x, temb=emb)
            residuals += res
        x = self.mid_in(x, emb)
        if self.conditioning is not None:
            if tokens is None:
                raise ValueError("this denoiser is mask-conditioned: pass the mask tokens from f_mask")
            x = self.conditioning(x, tokens)
        x = self.mid_out(x, emb)
        for block in self.up:
            count = len(block.resnets)
            res, residuals = residuals[-count:], residuals[:-count]
            x = block(x, res, emb)
        return self.out(x)
