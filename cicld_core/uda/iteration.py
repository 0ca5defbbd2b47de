"""One CICLD training iteration (DESIGN.md section 2, steps 1-7), as loss terms.

``adaptation_losses`` builds every term that updates E, D, eps_theta and f_mask, and
returns the denoiser outputs the discriminator step needs; ``supervised_losses`` is the
same recipe on one labelled stream (source-only and target-oracle runs).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import torch

from ..model import (
    CICLD, MIXED, SOURCE, TARGET, DiffusionBranch, confusion_loss, latent_diffusion_loss, segmentation_loss,
)
from .classmix import classmix, colour_jitter, gaussian_blur
from .config import UDAConfig
from .adabn import target_batch_statistics
from .teacher import pseudo_labels


@dataclass
class StepLosses:
    terms: dict[str, torch.Tensor] = field(default_factory=dict)  # name -> weighted scalar term
    adversarial_branches: list[DiffusionBranch] = field(default_factory=list)
    adversarial_domains: list[int] = field(default_factory=list)
    stats: dict[str, float] = field(default_factory=dict)

    def total(self) -> torch.Tensor:
        return torch.stack(list(self.terms.values())).sum()


@torch.no_grad()
def denoised_latent(model: CICLD, z0: torch.Tensor, labels: torch.Tensor, max_strength: float,
                    generator: torch.Generator | None) -> torch.Tensor:
    """A one-step denoised estimate of z0 from a noise level inference would use."""
    max_t = max(1, int(round(max_strength * model.config.num_train_timesteps)))
    t = torch.randint(0, max_t, (z0.shape[0],), device=z0.device, generator=generator)
    noise = torch.randn(z0.shape, device=z0.device, dtype=z0.dtype, generator=generator)
    z_t = model.add_noise(z0, noise, t)
    tokens = model.mask_encoder(labels) if model.config.conditioning else None
    return model.predict_z0(z_t, model.denoiser(z_t, t, tokens), t)


def denoised_decoding_loss(model: CICLD, encoded, labels: torch.Tensor, config: UDAConfig,
                           generator: torch.Generator | None, pixel_weight: torch.Tensor | None = None) -> torch.Tensor:
    """Step 7: D learns to read denoised latents, as inference feeds it."""
    z0_hat = denoised_latent(model, encoded.z0.detach(), labels, config.denoised_max_strength, generator)
    logits = model.decode(z0_hat, encoded.skips, labels.shape[-2:])
    return segmentation_loss(logits, labels, pixel_weight)


def supervised_losses(model: CICLD, images: torch.Tensor, labels: torch.Tensor, config: UDAConfig,
                      generator: torch.Generator | None) -> StepLosses:
    out = StepLosses()
    encoded = model.encode(images)
    out.terms["seg_source"] = segmentation_loss(model.decode(encoded.z0, encoded.skips, labels.shape[-2:]), labels)
    branch = latent_diffusion_loss(model, encoded.z0, labels, generator)
    out.terms["ldm"] = config.lambda_ldm * branch.loss
    if config.lambda_denoised > 0:
        out.terms["dec_denoised"] = config.lambda_denoised * denoised_decoding_loss(
            model, encoded, labels, config, generator)
    return out


def adaptation_losses(model: CICLD, ema_model: CICLD, source_images: torch.Tensor, source_labels: torch.Tensor,
                      target_images: torch.Tensor, config: UDAConfig, mean: tuple[float, ...], std: tuple[float, ...],
                      generator: torch.Generator | None, cpu_generator: torch.Generator | None) -> StepLosses:
    out = StepLosses()
    # 1. pseudo-labels from the EMA model
    with target_batch_statistics(ema_model, enabled=config.ema_bn_statistics == "target"):
        pseudo = pseudo_labels(ema_model, target_images, config.pseudo_label_threshold, config.ignore_top,
                               config.ignore_bottom, config.pseudo_label_weighting)
    out.stats["pseudo_weight"] = pseudo.confident_share.mean().item()
    # 2. ClassMix, then the strong augmentation of the mixed image
    mixed = classmix(source_images, source_labels, target_images, pseudo.labels, pseudo.pixel_weight, cpu_generator)
    mixed_images = colour_jitter(mixed.images, mean, std, config.color_jitter, cpu_generator)
    if config.blur:
        mixed_images = gaussian_blur(mixed_images, cpu_generator)
    # 3. segmentation on source and mixed
    size = source_labels.shape[-2:]
    encoded_s, encoded_m = model.encode(source_images), model.encode(mixed_images)
    out.terms["seg_source"] = segmentation_loss(model.decode(encoded_s.z0, encoded_s.skips, size), source_labels)
    out.terms["seg_mixed"] = segmentation_loss(model.decode(encoded_m.z0, encoded_m.skips, size), mixed.labels,
                                               mixed.pixel_weight)
    # 4. latent diffusion on the three branches (z0 detached inside)
    with torch.no_grad():
        z0_t = model.encode(target_images).z0
    branches = {
        SOURCE: latent_diffusion_loss(model, encoded_s.z0, source_labels, generator),
        MIXED: latent_diffusion_loss(model, encoded_m.z0, mixed.labels, generator),
        TARGET: latent_diffusion_loss(model, z0_t, pseudo.labels, generator),
    }
    out.terms["ldm"] = config.lambda_ldm * torch.stack([b.loss for b in branches.values()]).mean()
    # 5-6. confusion against a frozen discriminator; its own step uses the branches later
    if config.adversarial != "none":
        domains = [SOURCE, MIXED, TARGET] if config.adversarial == "3class" else [SOURCE, TARGET]
        out.adversarial_branches = [branches[d] for d in domains]
        # 2-class discriminators number the domains 0 (source) and 1 (target)
        out.adversarial_domains = list(range(len(domains)))
        model.discriminator.requires_grad_(False)
        out.terms["adv"] = config.lambda_adv * confusion_loss(model, out.adversarial_branches)
        model.discriminator.requires_grad_(True)
    # 7. D on denoised latents, source and mixed
    if config.lambda_denoised > 0:
        out.terms["dec_denoised"] = config.lambda_denoised * 0.5 * (
            denoised_decoding_loss(model, encoded_s, source_labels, config, generator)
            + denoised_decoding_loss(model, encoded_m, mixed.labels, config, generator, mixed.pixel_weight))
    return out
