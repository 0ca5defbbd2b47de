"""AdamW with per-part learning rates, linear warm-up then poly decay, stepped per
iteration (DAFormer's schedule)."""
from __future__ import annotations

import torch

from ..model import CICLD
from .config import OptimConfig

DIFFUSION_MODULES = ("denoiser", "mask_encoder")


def build_optimizer(model: CICLD, config: OptimConfig) -> torch.optim.AdamW:
    """E at lr (it may start pretrained); D and f_cls at head_lr_mult x lr (DAFormer's
    10x for the decode head); eps_theta and f_mask at diffusion_lr_mult x lr (the paper
    trains its three components at one rate)."""
    groups = [
        {"params": list(model.encoder.parameters()), "lr": config.lr, "name": "encoder"},
        {"params": list(model.decoder.parameters()), "lr": config.lr * config.head_lr_mult, "name": "decoder"},
        {"params": [p for name in DIFFUSION_MODULES for p in getattr(model, name).parameters()],
         "lr": config.lr * config.diffusion_lr_mult, "name": "diffusion"},
    ]
    return torch.optim.AdamW(groups, lr=config.lr, betas=(0.9, 0.999), weight_decay=config.weight_decay)


def build_discriminator_optimizer(model: CICLD, config: OptimConfig) -> torch.optim.AdamW:
    return torch.optim.AdamW(model.discriminator.parameters(), lr=config.lr * config.diffusion_lr_mult,
                             betas=(0.9, 0.99), weight_decay=config.weight_decay)


def lr_factor(iteration: int, total: int, warmup: int, power: float) -> float:
    """Linear warm-up from 1e-6 of the rate to the full rate, then (1 - progress) ** power."""
    if iteration < warmup:
        return 1e-6 + (1 - 1e-6) * iteration / warmup
    return (1 - (iteration - warmup) / max(1, total - warmup)) ** power


def build_scheduler(optimizer: torch.optim.Optimizer, config: OptimConfig, total_iters: int,
                    ) -> torch.optim.lr_scheduler.LambdaLR:
    warmup = min(config.warmup_iters, total_iters // 2)
    return torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda it: max(0.0, lr_factor(it, total_iters, warmup, config.poly_power)))
