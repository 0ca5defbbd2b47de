"""The CICLD model (docs/design.md section 2): E, D with the inter-coder connection and f_cls,
the mask-conditioned latent diffusion UNet eps_theta, f_mask, f_dis, the loss terms,
few-step inference and the safetensors checkpoint format."""
from .cicld import CICLD, count_parameters
from .config import IMAGENET_MEAN, IMAGENET_STD, PRESETS, ModelConfig, preset
from .discriminator import MIXED, SOURCE, TARGET, DomainDiscriminator
from .encoder import Encoded
from .inference import DTYPES, Segmentation, images_to_tensor, parse_dtype, segment
from .losses import (
    DiffusionBranch, confusion_loss, discriminator_loss, kl_to_uniform, latent_diffusion_loss, segmentation_loss,
)
from .sampling import DEFAULT_STEPS, DEFAULT_STRENGTH, SAMPLERS

__all__ = [
    "CICLD", "DEFAULT_STEPS", "DEFAULT_STRENGTH", "DTYPES", "DiffusionBranch", "DomainDiscriminator", "Encoded", "IMAGENET_MEAN", "IMAGENET_STD",
    "MIXED", "ModelConfig", "PRESETS", "SAMPLERS", "SOURCE", "Segmentation", "TARGET", "confusion_loss",
    "count_parameters", "discriminator_loss", "images_to_tensor", "kl_to_uniform", "latent_diffusion_loss",
    "parse_dtype", "preset", "segment", "segmentation_loss",
]
