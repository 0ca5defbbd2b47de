"""The CICLD loss terms (docs/design.md section 2, steps 3-7), each one stopping gradients
where the method says, so the trainer only has to add them up.

| term | updates |
|---|---|
| segmentation (3) and denoised-latent decoding (7) | E, D, f_cls (7: D and f_cls only) |
| latent diffusion (4) | eps_theta, f_mask (never E: z0 is detached) |
| discriminator (5) | f_dis only (its input is detached) |
| confusion (6) | eps_theta, f_mask (the trainer freezes f_dis for it); E too where its input carries E's graph |

f_dis reads a branch's ``discriminator_input``: eps_hat of a ``DiffusionBranch`` (round 1)
or z0_hat of a denoised-path branch (``cicld_core.uda.denoised_path``).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Protocol, Sequence

import torch
import torch.nn.functional as F

from ..labels import IGNORE_INDEX
from .cicld import CICLD


def segmentation_loss(logits: torch.Tensor, labels: torch.Tensor, pixel_weight: torch.Tensor | None = None,
                      ) -> torch.Tensor:
    """Cross-entropy over valid pixels; ``pixel_weight`` (B, H, W) scales each pixel (ClassMix's q)."""
    if logits.shape[-2:] != labels.shape[-2:]:
        logits = F.interpolate(logits, size=labels.shape[-2:], mode="bilinear", align_corners=False)
    per_pixel = F.cross_entropy(logits.float(), labels.long(), ignore_index=IGNORE_INDEX, reduction="none")
    if pixel_weight is not None:
        per_pixel = per_pixel * pixel_weight
    valid = (labels != IGNORE_INDEX).sum().clamp(min=1)
    return per_pixel.sum() / valid


@dataclass
class DiffusionBranch:
    loss: torch.Tensor  # ||eps - eps_hat||^2, mean
    eps_hat: torch.Tensor  # the denoiser output, for f_dis
    z_t: torch.Tensor
    timesteps: torch.Tensor

    @property
    def discriminator_input(self) -> torch.Tensor:
        return self.eps_hat

    def z0_hat(self, model: CICLD) -> torch.Tensor:
        """One-step estimate of the clean latent, for training D on denoised latents (step 7)."""
        return model.predict_z0(self.z_t, self.eps_hat, self.timesteps)


def latent_diffusion_loss(model: CICLD, z0: torch.Tensor, labels: torch.Tensor,
                          generator: torch.Generator | None = None) -> DiffusionBranch:
    """Step 4 for one branch: noise the detached z0 to a random t, predict the noise given
    f_mask(labels). ``labels`` are trainIds (B, H, W) or class probabilities (B, K, H, W)."""
    z0 = z0.detach()
    timesteps = model.sample_timesteps(z0.shape[0], z0.device, generator)
    noise = torch.randn(z0.shape, generator=generator, device=z0.device, dtype=z0.dtype)
    z_t = model.add_noise(z0, noise, timesteps)
    tokens = model.mask_encoder(labels) if model.config.conditioning else None
    eps_hat = model.denoiser(z_t, timesteps, tokens)
    return DiffusionBranch(F.mse_loss(eps_hat.float(), noise.float()), eps_hat, z_t, timesteps)


class DiscriminatorView(Protocol):
    """What f_dis reads of a branch: a latent-shaped tensor and the timesteps it came from."""
    timesteps: torch.Tensor

    @property
    def discriminator_input(self) -> torch.Tensor: ...


@dataclass
class DiscriminatorStep:
    loss: torch.Tensor
    accuracy: list[float]  # per branch: the share of its images f_dis put in the right domain


def discriminator_step(model: CICLD, branches: Sequence[DiscriminatorView], domains: list[int]) -> DiscriminatorStep:
    """Step 5: f_dis learns which domain each (detached) input came from; the accuracy is
    measured on the same logits, before f_dis learns from this batch."""
    losses, accuracy = [], []
    for branch, domain in zip(branches, domains):
        logits = model.discriminator(branch.discriminator_input.detach(), branch.timesteps)
        target = torch.full((logits.shape[0],), domain, device=logits.device, dtype=torch.long)
        losses.append(F.cross_entropy(logits.float(), target))
        accuracy.append((logits.detach().argmax(-1) == target).float().mean().item())
    return DiscriminatorStep(torch.stack(losses).mean(), accuracy)


def discriminator_loss(model: CICLD, branches: Sequence[DiscriminatorView], domains: list[int]) -> torch.Tensor:
    """Step 5's loss alone (see ``discriminator_step``)."""
    return discriminator_step(model, branches, domains).loss


def kl_to_uniform(logits: torch.Tensor) -> torch.Tensor:
    """KL(softmax(logits) || uniform) = sum p log p + log K, per row, written out by hand
    (``F.kl_div``'s argument order is a classic source of a silently wrong sign)."""
    log_p = F.log_softmax(logits.float(), dim=-1)
    return (log_p.exp() * log_p).sum(-1) + math.log(logits.shape[-1])


def confusion_loss(model: CICLD, branches: Sequence[DiscriminatorView]) -> torch.Tensor:
    """Step 6: push f_dis's view of every branch to uniform; gradients reach whatever the
    inputs were computed from (eps_theta and f_mask; E only through a z_t not cut from it).
    Freeze f_dis's parameters around this call."""
    return torch.stack([kl_to_uniform(model.discriminator(b.discriminator_input, b.timesteps)).mean()
                        for b in branches]).sum()
