"""AdaBN (Li et al., 2016): a trained model's BatchNorm statistics re-estimated from
unlabelled target images, the cheapest adaptation there is.

The adaptation benchmark uses it on the source-only model as the baseline for what
target statistics alone buy, next to CICLD's ``uda.ema_bn_statistics=target``, which
keeps such statistics up to date while it trains (README, adaptation benchmark).
"""
from __future__ import annotations

from collections.abc import Iterable

import torch


@torch.no_grad()
def reestimate_norm_statistics(model: torch.nn.Module, batches: Iterable[torch.Tensor]) -> int:
    """Replace every BatchNorm layer's running statistics by their plain average over
    ``batches`` (image tensors, normalised as the model expects); returns how many
    batches went in. Only the encoder holds BatchNorm, so only it runs."""
    norms = [m for m in model.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    if not norms:
        raise ValueError("the model has no BatchNorm layers: there are no statistics to re-estimate")
    forward = getattr(model, "encode", model)
    momenta = [norm.momentum for norm in norms]
    modes = [norm.training for norm in norms]
    count = 0
    try:
        for norm in norms:
            norm.reset_running_stats()
            norm.momentum = None  # a cumulative average, not an exponential one
            norm.train()
        for images in batches:
            forward(images)
            count += 1
    finally:
        for norm, momentum, mode in zip(norms, momenta, modes):
            norm.momentum = momentum
            norm.train(mode)
    if count == 0:
        raise ValueError("no target batches were given: the statistics would be left reset")
    return count
