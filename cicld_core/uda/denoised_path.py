"""The denoised path with gradients (docs/design.md section 2, step 5 of the ``paper`` routing).

z0 -> noise to a t below ``strength * T`` (the range inference noises to) -> ``steps`` DDIM
steps (eta 0) with eps_theta -> z0_hat, every operation differentiable, so a loss on
z0_hat reaches eps_theta (through every step), f_mask, and whatever z0 came from.

Inference's ``DenoisePlan`` fixes one start timestep for the whole batch and a schedule
of scalars; training draws a start per image, so the same trailing spacing is built per
image here: from start t the K steps are t_i = ceil((t + 1) (K - i) / K) - 1 and the last
one steps to abar = 1. For t = 499, K = 2 that is 499 -> 249 -> clean, exactly what the
inference schedule does from strength 0.5 with 2 steps; for K = 1 it is one-step
``predict_z0``.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from ..model import CICLD


@dataclass
class DenoisedBranch:
    z0_hat: torch.Tensor  # the latent D reads after the last step
    eps_hat: torch.Tensor  # the first step's noise prediction
    z_t: torch.Tensor  # the noised start latent
    timesteps: torch.Tensor  # (B,) start timesteps

    @property
    def discriminator_input(self) -> torch.Tensor:
        return self.z0_hat


def max_timestep(model: CICLD, strength: float) -> int:
    """Start timesteps are drawn from [0, this): the share ``strength`` of T."""
    return max(1, int(round(strength * model.config.num_train_timesteps)))


def draw_start(model: CICLD, z0: torch.Tensor, strength: float, generator: torch.Generator | None,
               ) -> tuple[torch.Tensor, torch.Tensor]:
    """Start timesteps and noise, in the order ``denoised_latent`` of round 1 draws them."""
    t = torch.randint(0, max_timestep(model, strength), (z0.shape[0],), device=z0.device, generator=generator)
    noise = torch.randn(z0.shape, device=z0.device, dtype=z0.dtype, generator=generator)
    return t, noise


def step_timesteps(start: torch.Tensor, steps: int) -> list[torch.Tensor]:
    """The K per-image timesteps of the trailing schedule from ``start`` (see the module doc)."""
    return [torch.clamp(torch.ceil((start + 1).double() * (steps - i) / steps).long() - 1, min=0)
            for i in range(steps)]


def unroll(model: CICLD, z_t: torch.Tensor, start: torch.Tensor, tokens: torch.Tensor | None, steps: int,
           ) -> tuple[torch.Tensor, torch.Tensor]:
    """DDIM (eta 0) from z_t at ``start`` to an estimate of z0; returns (z0_hat, first eps_hat)."""
    alphas = model.noise_schedule.alphas_cumprod.to(z_t.device)
    timesteps = step_timesteps(start, steps)
    latent, first_eps = z_t, None
    for i, t in enumerate(timesteps):
        eps_hat = model.denoiser(latent, t, tokens)
        first_eps = eps_hat if first_eps is None else first_eps
        z0_hat = model.predict_z0(latent, eps_hat, t)
        if i == steps - 1:
            return z0_hat, first_eps
        abar_prev = alphas[timesteps[i + 1]].to(latent.dtype).view(-1, 1, 1, 1)
        latent = abar_prev.sqrt() * z0_hat + (1 - abar_prev).sqrt() * eps_hat
    raise AssertionError("unreachable")


def denoise_with_gradients(model: CICLD, z0: torch.Tensor, tokens: torch.Tensor | None, strength: float,
                           steps: int, generator: torch.Generator | None) -> DenoisedBranch:
    """One denoised-path branch from ``z0`` (detach it first where E must not learn)."""
    if steps < 1 or not math.isfinite(strength):
        raise ValueError(f"steps must be at least 1 and strength finite, got {steps}, {strength}")
    t, noise = draw_start(model, z0, strength, generator)
    z_t = model.add_noise(z0, noise, t)
    z0_hat, eps_hat = unroll(model, z_t, t, tokens, steps)
    return DenoisedBranch(z0_hat, eps_hat, z_t, t)


def rerun_detached(model: CICLD, branch: DenoisedBranch, tokens: torch.Tensor | None, steps: int,
                   ) -> DenoisedBranch:
    """The same branch (same t and noise, so the same values) with z_t cut from E: what the
    confusion term reads when its gradient must not reach E."""
    z_t = branch.z_t.detach()
    z0_hat, eps_hat = unroll(model, z_t, branch.timesteps, tokens, steps)
    return DenoisedBranch(z0_hat, eps_hat, z_t, branch.timesteps)
