"""The CICLD model: E, D + f_cls, eps_theta, f_mask and f_dis, and the noise schedule.

A leaf of the inference stack: sampling plans the denoising loop over these modules and
``inference.segment`` runs it; nothing here calls back into either."""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F
from diffusers import DDPMScheduler

from .config import ModelConfig
from .decoder import Decoder
from .denoiser import Denoiser
from .discriminator import DomainDiscriminator
from .encoder import Encoded, Encoder
from .mask_encoder import MaskEncoder


class CICLD(nn.Module):
    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.config = config
        self.encoder = Encoder(config)
        self.decoder = Decoder(config, self.encoder.skip_channels)
        self.denoiser = Denoiser(config)
        self.mask_encoder = MaskEncoder(config.num_classes, config.mask_hidden_channels, config.unet_channels[-1],
                                        config.norm_groups)
        self.discriminator = DomainDiscriminator(config)
        # The training noise schedule; clean latents are unit-scale, not images in [-1, 1].
        self.noise_schedule = DDPMScheduler(num_train_timesteps=config.num_train_timesteps,
                                            beta_schedule=config.beta_schedule, clip_sample=False)

    # -- the pieces, for the trainer ------------------------------------------------------
    def encode(self, images: torch.Tensor) -> Encoded:
        return self.encoder(images)

    def decode(self, latent: torch.Tensor, skips: tuple[torch.Tensor, ...], size: tuple[int, int] | None = None,
               ) -> torch.Tensor:
        """Class logits from a latent; at 1/4 resolution, or bilinearly resized to ``size``."""
        logits = self.decoder(latent, skips)
        if size is not None and tuple(logits.shape[-2:]) != tuple(size):
            logits = F.interpolate(logits, size=size, mode="bilinear", align_corners=False)
        return logits

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """The plain E -> D -> f_cls path (no diffusion): logits at the input resolution."""
        encoded = self.encode(images)
        return self.decode(encoded.z0, encoded.skips, images.shape[-2:])

    def add_noise(self, z0: torch.Tensor, noise: torch.Tensor, timesteps: torch.Tensor) -> torch.Tensor:
        """z_t = sqrt(abar_t) z0 + sqrt(1 - abar_t) eps."""
        return self.noise_schedule.add_noise(z0, noise, timesteps)

    def predict_z0(self, z_t: torch.Tensor, eps_hat: torch.Tensor, timesteps: torch.Tensor) -> torch.Tensor:
        """The one-step estimate of the clean latent from a noise prediction."""
        abar = self.noise_schedule.alphas_cumprod.to(z_t.device)[timesteps].to(z_t.dtype).view(-1, 1, 1, 1)
        return (z_t - (1 - abar).sqrt() * eps_hat) / abar.sqrt()

    def sample_timesteps(self, batch: int, device: torch.device, generator: torch.Generator | None = None,
                         ) -> torch.Tensor:
        return torch.randint(0, self.config.num_train_timesteps, (batch,), device=device, generator=generator)


def count_parameters(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())
