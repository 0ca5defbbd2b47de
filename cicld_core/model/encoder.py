"""E: a hierarchical backbone giving features f1..f4 and the latent z0 = proj(f4)."""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn as nn

from .config import ModelConfig


@dataclass
class Encoded:
    z0: torch.Tensor  # (B, latent_channels, H / latent_stride, W / latent_stride)
    skips: tuple[torch.Tensor, ...]  # f1, f2, f3: the inter-coder connections into D


def conv_bn_act(cin: int, cout: int, stride: int = 1, dilation: int = 1) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(cin, cout, 3, stride, padding=dilation, dilation=dilation, bias=False),
        nn.BatchNorm2d(cout), nn.ReLU(inplace=True),
    )


class BasicBlock(nn.Module):
    """The ResNet basic block; a strided or widening block gets a 1x1 projection shortcut."""

    def __init__(self, cin: int, cout: int, stride: int, dilation: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            conv_bn_act(cin, cout, stride, dilation),
            nn.Conv2d(cout, cout, 3, 1, padding=dilation, dilation=dilation, bias=False), nn.BatchNorm2d(cout),
        )
        self.shortcut = nn.Identity() if stride == 1 and cin == cout else nn.Sequential(
            nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))
        self.act = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.body(x) + self.shortcut(x))


def stage_strides(latent_stride: int) -> list[tuple[int, int]]:
    """(stride, dilation) of stages 1..4: strides 4, 8, 16, 32, with the deepest ones dilated
    instead of strided when the latent is finer than 1/32 (as DeepLab's output stride)."""
    plan, dilation = [], 1
    for target in (4, 8, 16, 32):
        if target <= latent_stride:
            plan.append((2, 1))
        else:
            dilation *= 2
            plan.append((1, dilation))
    return plan


class CompactCNN(nn.Module):
    """The built-in backbone: a stride-2 stem and four stages of basic blocks."""

    def __init__(self, widths: tuple[int, ...], depths: tuple[int, ...], latent_stride: int) -> None:
        super().__init__()
        self.stem = conv_bn_act(3, widths[0] // 2, stride=2)
        stages, cin = [], widths[0] // 2
        for width, depth, (stride, dilation) in zip(widths, depths, stage_strides(latent_stride)):
            blocks = [BasicBlock(cin, width, stride, dilation)]
            blocks += [BasicBlock(width, width, 1, dilation) for _ in range(depth - 1)]
            stages.append(nn.Sequential(*blocks))
            cin = width
        self.stages = nn.ModuleList(stages)
        self.channels = tuple(widths)
        self.strides = tuple(min(s, latent_stride) for s in (4, 8, 16, 32))

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        features, x = [], self.stem(x)
        for stage in self.stages:
            x = stage(x)
            features.append(x)
        return features


class TimmBackbone(nn.Module):
    """A timm model with ``features_only``; weights only from a local file."""

    def __init__(self, name: str, latent_stride: int, weights: str | None) -> None:
        super().__init__()
        try:
            import timm
        except Exception as error:  # timm imports torchvision, which can fail to load too
            raise RuntimeError(f"backbone 'timm:{name}' needs the timm package, which did not import ({error}). "
                               "Install timm (and a torchvision matching your torch) or use backbone 'cnn'.") from error
        kwargs = {"features_only": True, "out_indices": (-4, -3, -2, -1)}
        if latent_stride != 32:
            kwargs["output_stride"] = latent_stride
        if weights:
            kwargs |= {"pretrained": True, "pretrained_cfg_overlay": {"file": str(weights)}}
        self.model = timm.create_model(name, **kwargs)
        self.channels = tuple(self.model.feature_info.channels())
        self.strides = tuple(self.model.feature_info.reduction())

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        return list(self.model(x))


class Encoder(nn.Module):
    """E. The latent is normalised per group without affine parameters, so z0 has unit scale
    whatever the backbone does: the diffusion noise schedule assumes it, and E cannot
    shrink z0 to make denoising trivial."""

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        if config.backbone == "cnn":
            self.backbone = CompactCNN(config.cnn_widths, config.cnn_depths, config.latent_stride)
        else:
            self.backbone = TimmBackbone(config.backbone.removeprefix("timm:"), config.latent_stride,
                                         config.backbone_weights)
        self.proj = nn.Conv2d(self.backbone.channels[3], config.latent_channels, 1)
        self.latent_norm = nn.GroupNorm(config.norm_groups, config.latent_channels, affine=False)

    @property
    def skip_channels(self) -> tuple[int, int, int]:
        return tuple(self.backbone.channels[:3])

    def forward(self, images: torch.Tensor) -> Encoded:
        f1, f2, f3, f4 = self.backbone(images)
        return Encoded(z0=self.latent_norm(self.proj(f4)), skips=(f1, f2, f3))
