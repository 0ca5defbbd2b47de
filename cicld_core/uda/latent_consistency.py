"""Latent consistency on the target (issue 25): masked-image consistency in latent space.

The target latent z0 = E(x_t) is noised to a t below ``latent_consistency_max_strength * T``
and denoised in one step, conditioned as inference conditions it (f_mask of the model's own
detached first pass); D decodes the result against the EMA teacher's pseudo-labels of the
clean image, with DACS's pixel weights. The gradient reaches D, eps_theta, f_mask and E: the
denoised path is trained where the shift is, on the target.

The control (``latent_consistency_denoise: false``) decodes z_t / sqrt(abar_t), an unbiased
noisy estimate of z0, with no denoiser: the same t and noise, so the two are paired and only
the denoiser differs. It needs nothing of the diffusion part, so it also runs beside DACS.
"""
from __future__ import annotations

import torch

from ..model import CICLD, segmentation_loss
from .conditioning import first_pass_labels
from .config import UDAConfig
from .denoised_path import denoise_with_gradients, draw_start
from .teacher import PseudoLabels


def latent_consistency_loss(model: CICLD, encoded, pseudo: PseudoLabels, config: UDAConfig,
                            generator: torch.Generator | None) -> torch.Tensor:
    """The unweighted term; ``encoded`` is E's output on the target images, with its graph."""
    size = pseudo.labels.shape[-2:]
    strength = config.latent_consistency_max_strength
    if config.latent_consistency_denoise:
        with torch.no_grad():
            first_pass = first_pass_labels(model.decode(encoded.z0, encoded.skips), size)
        tokens = model.mask_encoder(first_pass) if model.config.conditioning else None
        z0_hat = denoise_with_gradients(model, encoded.z0, tokens, strength, 1, generator).z0_hat
    else:
        t, noise = draw_start(model, encoded.z0, strength, generator)
        abar = model.noise_schedule.alphas_cumprod.to(encoded.z0.device)[t].to(encoded.z0.dtype)
        z0_hat = model.add_noise(encoded.z0, noise, t) / abar.sqrt().view(-1, 1, 1, 1)
    return segmentation_loss(model.decode(z0_hat, encoded.skips), pseudo.labels, pseudo.pixel_weight)
