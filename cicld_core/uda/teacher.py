"""The EMA model and its pseudo-labels (DACS / DAFormer's teacher).

The paper names the gradient-trained network "teacher" and the EMA one "student"; here
they are ``model`` and ``ema_model``. The EMA model labels the target images. With
``share`` weighting (DACS, the paper's) each pseudo-label image gets one confidence weight
q, the share of its pixels whose top probability reaches the threshold; with ``pixel``
weighting each pixel gets 1 if it reaches the threshold and 0 otherwise (FixMatch's hard
mask), which keeps low-confidence labels out entirely (on the synthetic benchmark it did
worse than ``share``: docs/benchmarks.md, adaptation benchmark).
"""
from __future__ import annotations

import copy
from dataclasses import dataclass

import torch

from ..labels import IGNORE_INDEX


def ema_alpha(iteration: int, max_alpha: float) -> float:
    """alpha = min(1 - 1 / (iteration + 1), max_alpha): a plain average while the run is young."""
    return min(1.0 - 1.0 / (iteration + 1), max_alpha)


def make_ema_model(model: torch.nn.Module) -> torch.nn.Module:
    ema_model = copy.deepcopy(model).eval()
    ema_model.requires_grad_(False)
    return ema_model


@torch.no_grad()
def update_ema(ema_model: torch.nn.Module, model: torch.nn.Module, iteration: int, max_alpha: float,
               copy_buffers: bool = True) -> float:
    """ema = alpha * ema + (1 - alpha) * model for parameters; buffers (BatchNorm
    statistics) are copied, as DAFormer does, unless the EMA model keeps its own
    (``copy_buffers=False``, see ``adabn.target_batch_statistics``)."""
    alpha = ema_alpha(iteration, max_alpha)
    for ema_param, param in zip(ema_model.parameters(), model.parameters()):
        ema_param.mul_(alpha).add_(param.detach(), alpha=1 - alpha)
    if copy_buffers:
        for ema_buffer, buffer in zip(ema_model.buffers(), model.buffers()):
            ema_buffer.copy_(buffer)
    return alpha


@dataclass
class PseudoLabels:
    labels: torch.Tensor  # (B, H, W) long trainIds; IGNORE_INDEX in the ignored margins
    pixel_weight: torch.Tensor  # (B, H, W) float: q per image (or the pixel's 0/1), 0 in the margins
    confident_share: torch.Tensor  # (B,) q


@torch.no_grad()
def pseudo_labels(ema_model, target_images: torch.Tensor, threshold: float, ignore_top: int = 0,
                  ignore_bottom: int = 0, weighting: str = "share") -> PseudoLabels:
    """Labels from the EMA model's plain E -> D path on the target images."""
    probs = ema_model(target_images).float().softmax(1)
    confidence, labels = probs.max(1)
    confident = confidence >= threshold
    height = labels.shape[1]
    if ignore_top or ignore_bottom:
        margin = torch.zeros_like(confident)
        margin[:, :ignore_top] = True
        margin[:, height - ignore_bottom:] = True
        labels = labels.masked_fill(margin, IGNORE_INDEX)
        confident = confident & ~margin
        inside = (~margin).sum((1, 2)).clamp(min=1)
    else:
        margin, inside = None, torch.full((labels.shape[0],), labels[0].numel(), device=labels.device)
    share = confident.sum((1, 2)).float() / inside
    if weighting == "pixel":
        weight = confident.float()
    else:
        weight = share.view(-1, 1, 1).expand_as(confidence).clone()
    if margin is not None:
        weight[margin] = 0.0
    return PseudoLabels(labels=labels, pixel_weight=weight, confident_share=share)
