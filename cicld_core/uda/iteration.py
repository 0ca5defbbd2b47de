"""One CICLD training iteration (docs/design.md section 2, steps 1-9), as loss terms.

``adaptation_losses`` builds every term that updates E, D, eps_theta and f_mask, and
returns the branches the discriminator step reads, in three layers: self-training (steps 1-3,
DACS's and CICLD's alike), the method's own terms (METHODS: none for DACS; for CICLD steps 4-8,
latent diffusion and then ``paper_losses`` or ``decoupled_losses``, ROUTINGS), and the target
consistency terms any method composes (CONSISTENCY_TERMS: latent consistency, masked image
consistency). ``supervised_losses`` is the round-1 recipe on one labelled stream (source-only
and target-oracle runs).

Terms by routing (``uda.routing``; ``uda.mode=dacs`` keeps only the two ``seg_`` terms and the
consistency terms that are on):

| term | decoupled | paper |
|---|---|---|
| seg_source, seg_mixed | CE on the plain path: E, D | same |
| ldm | on detached z0: eps_theta, f_mask | same |
| seg_denoised_source/_mixed | - | CE on the denoised z0_hat: E, D, eps_theta, f_mask |
| adv | confusion on f_dis(eps_hat of ldm) or f_dis(z0_hat); E only with confusion_to_encoder | same |
| dec_denoised | D (and E via skips) on latents of a frozen denoiser | - |
| latent_consistency | target, lambda_latent_consistency > 0: E, D, eps_theta, f_mask (E, D without the denoiser) | same |
| masked_consistency | target, lambda_masked_consistency > 0: E, D (masked_consistency.py) | same |
"""
from __future__ import annotations

from dataclasses import dataclass, field

import torch

from ..model import (
    CICLD, MIXED, SOURCE, TARGET, DiffusionBranch, confusion_loss, latent_diffusion_loss, segmentation_loss,
)
from .adabn import target_batch_statistics
from .classmix import Mixed, classmix, strong_augmentation
from .conditioning import condition_labels, first_pass_labels
from .config import UDAConfig
from .denoised_path import DenoisedBranch, denoise_with_gradients, rerun_detached
from .latent_consistency import latent_consistency_loss
from .masked_consistency import masked_consistency_loss
from .teacher import PseudoLabels, pseudo_labels

DOMAIN_NAMES = {SOURCE: "source", MIXED: "mixed", TARGET: "target"}


@dataclass
class StepLosses:
    terms: dict[str, torch.Tensor] = field(default_factory=dict)  # name -> weighted scalar term
    adversarial_branches: list[DiffusionBranch] = field(default_factory=list)
    adversarial_domains: list[int] = field(default_factory=list)
    adversarial_names: list[str] = field(default_factory=list)  # source / mixed / target, for the logs
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
                           generator: torch.Generator | None, pixel_weight: torch.Tensor | None = None,
                           condition: torch.Tensor | None = None) -> torch.Tensor:
    """Step 8 of the decoupled routing: D learns to read denoised latents, as inference feeds
    it; the frozen denoiser is conditioned on ``condition`` (default: the labels)."""
    condition = labels if condition is None else condition
    z0_hat = denoised_latent(model, encoded.z0.detach(), condition, config.denoised_max_strength, generator)
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


@dataclass
class SharedSteps:
    """What steps 1-4, common to both routings, leave for the routing's own steps."""
    out: StepLosses
    source_labels: torch.Tensor
    mixed_labels: torch.Tensor
    mixed_weight: torch.Tensor
    encoded: dict[int, object]  # domain -> Encoded
    conditions: dict[int, torch.Tensor]  # domain -> the trainId map f_mask encodes
    branches: dict[int, DiffusionBranch]  # domain -> its latent diffusion branch (step 4)


@dataclass
class SelfTraining:
    """What steps 1-3, shared by DACS and CICLD, leave for the method's own terms."""
    pseudo: PseudoLabels  # the EMA model's labels of the clean target images
    mixed: Mixed
    encoded_source: object  # Encoded
    encoded_mixed: object
    logits_source: torch.Tensor  # 1/4-resolution plain-path logits
    logits_mixed: torch.Tensor


def adaptation_losses(model: CICLD, ema_model: CICLD, source_images: torch.Tensor, source_labels: torch.Tensor,
                      target_images: torch.Tensor, config: UDAConfig, mean: tuple[float, ...], std: tuple[float, ...],
                      generator: torch.Generator | None, cpu_generator: torch.Generator | None) -> StepLosses:
    """Every term of one adaptation step: self-training (steps 1-3), the method's own terms
    (METHODS: none for DACS, steps 4-8 for CICLD), then the target consistency terms any method
    composes (CONSISTENCY_TERMS, each on when its weight is above 0). The decoupled routing with
    label conditioning and eps_hat for f_dis draws the same random numbers in the same order as
    round 1, so it is round 1 exactly."""
    out = StepLosses()
    shared = self_training_terms(model, ema_model, source_images, source_labels, target_images, config, mean, std,
                                 cpu_generator, out)
    encoded_target = METHODS[config.mode](model, config, out, shared, source_labels, target_images, generator)
    # last, so the other terms draw what they drew without them
    target = TargetView(target_images, shared.pseudo, encoded_target, mean, std)
    for name, weight_key, term in CONSISTENCY_TERMS:
        if (weight := getattr(config, weight_key)) > 0:
            out.terms[name] = weight * term(model, target, config, generator, cpu_generator)
    return out


def self_training_terms(model: CICLD, ema_model: CICLD, source_images: torch.Tensor, source_labels: torch.Tensor,
                        target_images: torch.Tensor, config: UDAConfig, mean: tuple[float, ...],
                        std: tuple[float, ...], cpu_generator: torch.Generator | None,
                        out: StepLosses) -> SelfTraining:
    """DACS's steps: pseudo-labels, ClassMix with strong augmentation, CE on source and mixed."""
    # 1. pseudo-labels from the EMA model
    with target_batch_statistics(ema_model, enabled=config.ema_bn_statistics == "target"):
        pseudo = pseudo_labels(ema_model, target_images, config.pseudo_label_threshold, config.ignore_top,
                               config.ignore_bottom, config.pseudo_label_weighting)
    out.stats["pseudo_weight"] = pseudo.confident_share.mean().item()
    # 2. ClassMix, then the strong augmentation of the mixed image
    mixed = classmix(source_images, source_labels, target_images, pseudo.labels, pseudo.pixel_weight, cpu_generator)
    mixed_images = strong_augmentation(mixed.images, mean, std, config.color_jitter, config.blur, cpu_generator)
    # 3. segmentation on source and mixed; the 1/4-resolution logits are also the first pass
    # inference conditions on (segmentation_loss upsamples them as decode(size=) would)
    encoded_s, encoded_m = model.encode(source_images), model.encode(mixed_images)
    logits_s, logits_m = model.decode(encoded_s.z0, encoded_s.skips), model.decode(encoded_m.z0, encoded_m.skips)
    out.terms["seg_source"] = segmentation_loss(logits_s, source_labels)
    out.terms["seg_mixed"] = segmentation_loss(logits_m, mixed.labels, mixed.pixel_weight)
    return SelfTraining(pseudo, mixed, encoded_s, encoded_m, logits_s, logits_m)


def no_more_terms(model: CICLD, config: UDAConfig, out: StepLosses, shared: SelfTraining,
                  source_labels: torch.Tensor, target_images: torch.Tensor, generator: torch.Generator | None) -> None:
    """DACS: no diffusion, no adversarial term, nothing of them computed; the target is not encoded."""
    return None


def cicld_terms(model: CICLD, config: UDAConfig, out: StepLosses, shared: SelfTraining,
                source_labels: torch.Tensor, target_images: torch.Tensor, generator: torch.Generator | None):
    """Steps 4-8: latent diffusion on the three branches, then the routing's own terms
    (ROUTINGS). Returns E's output on the target, with its graph where a term may reach E through it."""
    with torch.set_grad_enabled((reads_z0_hat(config) and config.confusion_to_encoder)
                                or config.lambda_latent_consistency > 0):
        encoded_t = model.encode(target_images)
    encoded = {SOURCE: shared.encoded_source, MIXED: shared.encoded_mixed, TARGET: encoded_t}
    logits_t = None
    if config.condition_on != "labels":
        with torch.no_grad():
            logits_t = model.decode(encoded_t.z0, encoded_t.skips)
    conditions = branch_conditions(model, config, generator, {
        SOURCE: (source_labels, shared.logits_source), MIXED: (shared.mixed.labels, shared.logits_mixed),
        TARGET: (shared.pseudo.labels, logits_t)})
    # 4. latent diffusion on the three branches (z0 detached inside)
    branches = {domain: latent_diffusion_loss(model, encoded[domain].z0, conditions[domain], generator)
                for domain in (SOURCE, MIXED, TARGET)}
    out.terms["ldm"] = config.lambda_ldm * torch.stack([b.loss for b in branches.values()]).mean()
    steps = SharedSteps(out, source_labels, shared.mixed.labels, shared.mixed.pixel_weight, encoded, conditions,
                        branches)
    ROUTINGS[config.routing](model, config, steps, generator)
    return encoded_t


# uda.mode -> the terms a method adds to self-training (source_only and target_oracle train
# with supervised_losses instead)
METHODS = {"dacs": no_more_terms, "cicld": cicld_terms}


@dataclass
class TargetView:
    """The target batch as the consistency terms read it."""
    images: torch.Tensor
    pseudo: PseudoLabels
    encoded: object | None  # E's output with its graph, when the method computed it
    mean: tuple[float, ...]
    std: tuple[float, ...]


def latent_consistency_term(model: CICLD, target: TargetView, config: UDAConfig, generator: torch.Generator | None,
                            cpu_generator: torch.Generator | None) -> torch.Tensor:
    encoded = target.encoded if target.encoded is not None else model.encode(target.images)
    return latent_consistency_loss(model, encoded, target.pseudo, config, generator)


def masked_consistency_term(model: CICLD, target: TargetView, config: UDAConfig, generator: torch.Generator | None,
                            cpu_generator: torch.Generator | None) -> torch.Tensor:
    return masked_consistency_loss(model, target.images, target.pseudo, config, target.mean, target.std,
                                   cpu_generator)


# (term name, the config key weighing it, the term): composed by any self-training method, in this order
CONSISTENCY_TERMS = (("latent_consistency", "lambda_latent_consistency", latent_consistency_term),
                     ("masked_consistency", "lambda_masked_consistency", masked_consistency_term))


def reads_z0_hat(config: UDAConfig) -> bool:
    """f_dis reads the denoised latent z0_hat (rather than the ldm branches' eps_hat)."""
    return config.adversarial != "none" and config.discriminator_input == "z0_hat"


def paper_losses(model: CICLD, config: UDAConfig, shared: SharedSteps,
                 generator: torch.Generator | None) -> StepLosses:
    """The paper routing after steps 1-4: CE on the denoised latent (step 5), reaching D,
    eps_theta, f_mask and E; then the confusion term (steps 6-7)."""
    out, encoded, conditions = shared.out, shared.encoded, shared.conditions
    denoised: dict[int, tuple[DenoisedBranch, torch.Tensor | None]] = {}
    if config.lambda_denoised > 0 or reads_z0_hat(config):
        for domain, labels, weight, name in ((SOURCE, shared.source_labels, None, "source"),
                                             (MIXED, shared.mixed_labels, shared.mixed_weight, "mixed")):
            tokens = condition_tokens(model, conditions[domain])
            branch = denoise_with_gradients(model, encoded[domain].z0, tokens, config.denoised_max_strength,
                                            config.unroll_steps, generator)
            denoised[domain] = (branch, tokens)
            if config.lambda_denoised > 0:
                out.terms[f"seg_denoised_{name}"] = config.lambda_denoised * segmentation_loss(
                    model.decode(branch.z0_hat, encoded[domain].skips), labels, weight)
    confusion_term(model, config, shared, denoised, generator)
    return out


def decoupled_losses(model: CICLD, config: UDAConfig, shared: SharedSteps,
                     generator: torch.Generator | None) -> StepLosses:
    """The decoupled routing after steps 1-4: the confusion term (steps 6-7), then D trained on
    latents of the frozen denoiser, source and mixed (step 8)."""
    out, encoded, conditions = shared.out, shared.encoded, shared.conditions
    confusion_term(model, config, shared, {}, generator)
    if config.lambda_denoised > 0:
        out.terms["dec_denoised"] = config.lambda_denoised * 0.5 * (
            denoised_decoding_loss(model, encoded[SOURCE], shared.source_labels, config, generator,
                                   condition=conditions[SOURCE])
            + denoised_decoding_loss(model, encoded[MIXED], shared.mixed_labels, config, generator,
                                     shared.mixed_weight, condition=conditions[MIXED]))
    return out


def confusion_term(model: CICLD, config: UDAConfig, shared: SharedSteps,
                   denoised: dict[int, tuple[DenoisedBranch, torch.Tensor | None]],
                   generator: torch.Generator | None) -> None:
    """Steps 6-7: confusion against a frozen discriminator; its own step uses the branches later."""
    if config.adversarial == "none":
        return
    out, encoded = shared.out, shared.encoded
    domains = [SOURCE, MIXED, TARGET] if config.adversarial == "3class" else [SOURCE, TARGET]
    if reads_z0_hat(config):
        out.adversarial_branches = [adversarial_view(model, config, domain, encoded[domain].z0,
                                                     shared.conditions[domain], denoised.get(domain), generator)
                                    for domain in domains]
    else:
        out.adversarial_branches = [shared.branches[d] for d in domains]
    # 2-class discriminators number the domains 0 (source) and 1 (target)
    out.adversarial_domains = list(range(len(domains)))
    out.adversarial_names = [DOMAIN_NAMES[d] for d in domains]
    model.discriminator.requires_grad_(False)
    out.terms["adv"] = config.lambda_adv * confusion_loss(model, out.adversarial_branches)
    model.discriminator.requires_grad_(True)


# uda.routing -> the steps after 1-4 (docs/design.md section 2)
ROUTINGS = {"paper": paper_losses, "decoupled": decoupled_losses}


def branch_conditions(model: CICLD, config: UDAConfig, generator: torch.Generator | None,
                      branches: dict[int, tuple[torch.Tensor, torch.Tensor | None]]) -> dict[int, torch.Tensor]:
    """The trainId map f_mask encodes for each branch; ``branches`` maps a domain to its labels
    (pseudo-labels on the target) and its plain-path logits (needed unless conditioning on labels)."""
    conditions = {}
    for domain, (labels, logits) in branches.items():
        first = first_pass_labels(logits, labels.shape[-2:]) if config.condition_on != "labels" else None
        conditions[domain] = condition_labels(labels, first, config, model.config.num_classes, generator)
    return conditions


def condition_tokens(model: CICLD, condition: torch.Tensor) -> torch.Tensor | None:
    return model.mask_encoder(condition) if model.config.conditioning else None


def adversarial_view(model: CICLD, config: UDAConfig, domain: int, z0: torch.Tensor, condition: torch.Tensor,
                     denoised: tuple[DenoisedBranch, torch.Tensor | None] | None,
                     generator: torch.Generator | None) -> DenoisedBranch:
    """The z0_hat f_dis reads for one branch. The paper routing's source and mixed branches
    are reused; without ``confusion_to_encoder`` they are run again from the same z_t cut
    from E (the CE graph through z_t cannot be split), so E's confusion gradient is exactly 0."""
    if denoised is not None:
        branch, tokens = denoised
        return branch if config.confusion_to_encoder else rerun_detached(model, branch, tokens, config.unroll_steps)
    start = z0 if config.confusion_to_encoder else z0.detach()
    return denoise_with_gradients(model, start, condition_tokens(model, condition), config.denoised_max_strength,
                                  config.unroll_steps, generator)
