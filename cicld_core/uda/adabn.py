"""BatchNorm statistics of the target domain (AdaBN, Li et al., 2016).

``target_batch_statistics`` keeps the EMA model's statistics from the target batches it
labels while CICLD trains (``uda.ema_bn_statistics=target``); ``reestimate_norm_statistics``
replaces a trained model's statistics once, from unlabelled target images, the cheapest
adaptation there is: the adaptation benchmark's source-only + AdaBN baseline.
"""
from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator

import torch


def batch_norms(module: torch.nn.Module) -> list[torch.nn.Module]:
    return [m for m in module.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]


@contextlib.contextmanager
def target_batch_statistics(ema_model: torch.nn.Module, enabled: bool = True) -> Iterator[None]:
    """The EMA model's BatchNorm layers normalise the target batch with its own statistics
    and fold them into their running ones.

    The student's running statistics average source, mixed and target batches, which fit
    no single domain: the target images it is scored on come out normalised wrongly and
    its pseudo-labels suffer. Kept from target batches only, they are what the EMA model
    meets at evaluation and deployment (AdaBN, Li et al. 2016, kept up to date as it trains).
    """
    norms = batch_norms(ema_model) if enabled else []
    modes = [norm.training for norm in norms]
    for norm in norms:
        norm.train()
    try:
        yield
    finally:
        for norm, mode in zip(norms, modes):
            norm.train(mode)


@torch.no_grad()
def reestimate_norm_statistics(model: torch.nn.Module, batches: Iterable[torch.Tensor]) -> int:
    """Replace every BatchNorm layer's running statistics by their plain average over
    ``batches`` (image tensors, normalised as the model expects); returns how many
    batches went in. Only the encoder holds BatchNorm, so only it runs."""
    norms = batch_norms(model)
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
