"""AdamW with a 10x learning rate for the parts trained from scratch, linear warm-up then
poly decay, stepped per iteration (DAFormer's schedule)."""
from __future__ import annotations

import torch

from ..model import CICLD
from .config import OptimConfig

# E may start from pretrained weights; everything else starts from scratch.
HEAD_MODULES = ("decoder", "denoiser", "mask_encoder")


def build_optimizer(model: CICLD, config: OptimConfig) -> torch.optim.AdamW:
    head = [p for name in HEAD_MODULES for p in getattr(model, name).parameters()]
    groups = [
        {"params": list(model.encoder.parameters()), "lr": config.lr, "name": "encoder"},
        {"params": head, "lr": config.lr * config.head_lr_mult, "name": "head"},
    ]
    return torch.optim.AdamW(groups, lr=config.lr, betas=(0.9, 0.999), weight_decay=config.weight_decay)


def build_discriminator_optimizer(model: CICLD, config: OptimConfig) -> torch.optim.AdamW:
    return torch.optim.AdamW(model.discriminator.parameters(), lr=config.lr * config.head_lr_mult,
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
