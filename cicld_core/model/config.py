"""The model's shape, as one typed record: what a checkpoint stores to rebuild the model."""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields
from typing import Any

from ..labels import NUM_TRAIN_CLASSES

# ImageNet statistics on 0..1 RGB, the convention of every pretrained backbone.
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

MAX_WIDTH = 4096  # channels of any layer (ResNet-101's widest feature is 2048)
MAX_TRAIN_TIMESTEPS = 10000
# inclusive bounds of the sizes; the lists are (most entries, smallest, largest entry)
SIZE_BOUNDS = {"num_classes": (2, 1024), "latent_channels": (1, MAX_WIDTH), "decoder_channels": (1, MAX_WIDTH),
               "skip_channels": (1, MAX_WIDTH), "unet_layers_per_block": (1, 16), "mask_hidden_channels": (1, MAX_WIDTH),
               "discriminator_hidden": (1, 16384), "num_train_timesteps": (1, MAX_TRAIN_TIMESTEPS),
               "norm_groups": (1, 1024), "inter_coder_skips": (0, 3)}
LIST_BOUNDS = {"cnn_widths": (4, 2, MAX_WIDTH), "cnn_depths": (4, 1, 64), "unet_channels": (6, 1, MAX_WIDTH),
               "discriminator_channels": (6, 1, MAX_WIDTH)}
BETA_SCHEDULES = ("linear", "scaled_linear", "squaredcos_cap_v2", "sigmoid")  # the ones diffusers' DDPMScheduler knows
FIELD_KINDS = {"num_classes": "int", "backbone": "str", "backbone_weights": "path", "cnn_widths": "ints",
               "cnn_depths": "ints", "latent_stride": "int", "latent_channels": "int", "decoder_channels": "int",
               "skip_channels": "int", "inter_coder": "bool", "inter_coder_skips": "int",
               "unet_channels": "ints", "unet_layers_per_block": "int",
               "conditioning": "bool", "mask_hidden_channels": "int", "discriminator_channels": "ints",
               "discriminator_hidden": "int", "num_domains": "int", "num_train_timesteps": "int",
               "beta_schedule": "str", "norm_groups": "int", "mean": "floats", "std": "floats"}


def is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


@dataclass
class ModelConfig:
    """Every architectural choice of a CICLD model.

    ``backbone`` is ``"cnn"`` (the built-in compact CNN, shaped by ``cnn_widths`` and
    ``cnn_depths``) or ``"timm:<name>"`` (e.g. ``timm:resnet101``, needs timm installed;
    ``backbone_weights`` is a local file, nothing is downloaded). ``latent_stride`` is the
    stride of the last stage and of the latent z0 (8, 16 or 32).
    """

    num_classes: int = NUM_TRAIN_CLASSES
    backbone: str = "cnn"
    backbone_weights: str | None = None
    cnn_widths: tuple[int, ...] = (16, 32, 64, 128)
    cnn_depths: tuple[int, ...] = (1, 1, 2, 1)
    latent_stride: int = 16
    latent_channels: int = 32
    decoder_channels: int = 32
    skip_channels: int = 16
    inter_coder: bool = True
    # how many of E's skips D reads, finest first: 3 = f1, f2, f3; 1 = f1 only. With a stride-16
    # latent f3 has z0's resolution and D can decode from it without reading z0; f1 alone cannot.
    inter_coder_skips: int = 3
    unet_channels: tuple[int, ...] = (48, 96)
    unet_layers_per_block: int = 1
    conditioning: bool = True
    mask_hidden_channels: int = 48
    discriminator_channels: tuple[int, ...] = (48, 96)
    discriminator_hidden: int = 1024
    num_domains: int = 3
    num_train_timesteps: int = 1000
    beta_schedule: str = "linear"
    norm_groups: int = 8
    mean: tuple[float, float, float] = IMAGENET_MEAN
    std: tuple[float, float, float] = IMAGENET_STD

    def __post_init__(self) -> None:
        problems = self._type_problems()
        if problems:  # the checks below assume the types are right
            raise ValueError("invalid model config: " + "; ".join(problems))
        for name in ("cnn_widths", "cnn_depths", "unet_channels", "discriminator_channels", "mean", "std"):
            setattr(self, name, tuple(getattr(self, name)))
        problems = self._size_problems()
        if not (self.backbone == "cnn" or self.backbone.startswith("timm:")):
            problems.append(f"backbone must be 'cnn' or 'timm:<model name>', got {self.backbone!r}")
        if self.backbone == "cnn" and (len(self.cnn_widths) != 4 or len(self.cnn_depths) != 4):
            problems.append("cnn_widths and cnn_depths need four entries, one per stage")
        if self.latent_stride not in (8, 16, 32):
            problems.append(f"latent_stride must be 8, 16 or 32, got {self.latent_stride}")
        if self.num_domains not in (2, 3):
            problems.append(f"num_domains must be 2 (source/target) or 3 (source/mixed/target), got {self.num_domains}")
        if self.beta_schedule not in BETA_SCHEDULES:
            problems.append(f"beta_schedule must be one of {', '.join(BETA_SCHEDULES)}, got {self.beta_schedule!r}")
        grouped = [self.latent_channels, self.decoder_channels, self.skip_channels, self.mask_hidden_channels,
                   *self.unet_channels, *self.discriminator_channels]
        if self.norm_groups >= 1 and any(c % self.norm_groups for c in grouped):
            problems.append(f"every latent, decoder, skip, mask, UNet and discriminator width must be a multiple "
                            f"of norm_groups={self.norm_groups}")
        if len(self.mean) != 3 or len(self.std) != 3 or min(self.std) <= 0:
            problems.append("mean and std need three values each, std positive")
        if problems:
            raise ValueError("invalid model config: " + "; ".join(problems))

    def _type_problems(self) -> list[str]:
        problems = []
        for spec in fields(self):
            value, kind = getattr(self, spec.name), FIELD_KINDS[spec.name]
            if kind == "int" and not is_int(value):
                problems.append(f"{spec.name} must be a whole number, got {value!r}")
            elif kind == "bool" and not isinstance(value, bool):
                problems.append(f"{spec.name} must be true or false, got {value!r}")
            elif kind == "str" and not isinstance(value, str):
                problems.append(f"{spec.name} must be a string, got {value!r}")
            elif kind == "path" and not (value is None or isinstance(value, str)):
                problems.append(f"{spec.name} must be a file path or null, got {value!r}")
            elif kind == "ints" and not (isinstance(value, (list, tuple)) and all(is_int(v) for v in value)):
                problems.append(f"{spec.name} must be a list of whole numbers, got {value!r}")
            elif kind == "floats" and not (isinstance(value, (list, tuple)) and all(
                    isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in value)):
                problems.append(f"{spec.name} must be a list of finite numbers, got {value!r}")
        return problems

    def _size_problems(self) -> list[str]:
        # A checkpoint's config decides how much memory building the model takes, so every
        # size is bounded well above any real model and far below what would exhaust a machine.
        problems = []
        for name, (low, high) in SIZE_BOUNDS.items():
            value = getattr(self, name)
            if not low <= value <= high:
                problems.append(f"{name} must be in [{low}, {high}], got {value}")
        for name, (length, low, high) in LIST_BOUNDS.items():
            values = getattr(self, name)
            if not 1 <= len(values) <= length or not all(low <= v <= high for v in values):
                problems.append(f"{name} needs 1 to {length} entries, each in [{low}, {high}], got {list(values)}")
        return problems

    @property
    def kept_skips(self) -> int:
        """How many inter-coder skips D reads (0 with ``inter_coder: false``)."""
        return self.inter_coder_skips if self.inter_coder else 0

    @property
    def size_multiple(self) -> int:
        """Input height and width are padded to a multiple of this (undone at the output)."""
        return self.latent_stride * 2 ** (len(self.unet_channels) - 1)

    def normalisation_255(self) -> dict[str, tuple[float, ...]]:
        """mean and std for 0..255 pixels, the scale the dataset transforms normalise on."""
        return {"mean": tuple(255.0 * v for v in self.mean), "std": tuple(255.0 * v for v in self.std)}

    def to_dict(self) -> dict[str, Any]:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> "ModelConfig":
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(f"unknown model config keys {unknown}; known keys: {sorted(known)}")
        return cls(**values)


# Named presets: the CPU demo model, and a Cityscapes-size model for GPUs.
PRESETS: dict[str, ModelConfig] = {
    "demo": ModelConfig(),
    "cityscapes": ModelConfig(
        cnn_widths=(64, 128, 320, 512), cnn_depths=(2, 3, 6, 2), latent_channels=256, decoder_channels=256,
        skip_channels=64, unet_channels=(256, 384, 512), unet_layers_per_block=2, mask_hidden_channels=256,
        discriminator_channels=(256, 384), norm_groups=32,
    ),
}


def preset(name: str, **overrides: Any) -> ModelConfig:
    if name not in PRESETS:
        raise ValueError(f"unknown model preset {name!r}; presets: {sorted(PRESETS)}")
    return ModelConfig.from_dict(PRESETS[name].to_dict() | overrides)


__all__ = ["IMAGENET_MEAN", "IMAGENET_STD", "ModelConfig", "PRESETS", "preset"]
