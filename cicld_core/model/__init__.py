"""The CICLD model (docs/design.md section 2): E, D with the inter-coder connection and f_cls,
the mask-conditioned latent diffusion UNet eps_theta, f_mask, f_dis, the loss terms,
few-step inference, the streaming engine and the safetensors checkpoint format.

What other layers (the node, the commands, the trainer, the benchmarks) use is exported here;
the submodules are this package's own layout.

The inference stack, top to bottom: ``SamplingOptions`` (options) -> ``SegmentationEngine``
(engine: prepares per input shape and streams) -> ``segment`` (inference: one batch) ->
``DenoisePlan`` (sampling: the K-step schedule) -> ``CICLD`` (cicld: the modules).
"""
from .checkpoint import CheckpointError, checkpoint_input_size, load_model, save_model
from .cicld import CICLD, count_parameters
from .config import IMAGENET_MEAN, IMAGENET_STD, MAX_TRAIN_TIMESTEPS, PRESETS, ModelConfig, preset
from .discriminator import MIXED, SOURCE, TARGET, DomainDiscriminator
from .encoder import Encoded
from .engine import COMPILE_MODES, STAGES, EngineOptions, EngineResult, PendingResult, SegmentationEngine
from .inference import (
    MIN_IMAGE_SIZE, Segmentation, autocast, images_to_tensor, pad_to_multiple, segment,
    segment_rgb,
)
from .losses import (
    DiffusionBranch, confusion_loss, discriminator_loss, discriminator_step, kl_to_uniform, latent_diffusion_loss,
    segmentation_loss,
)
from .options import DEFAULT_STEPS, DEFAULT_STRENGTH, DTYPES, SAMPLER_NAMES, SamplingOptions, parse_dtype

__all__ = [
    "CICLD", "COMPILE_MODES", "CheckpointError", "DEFAULT_STEPS", "DEFAULT_STRENGTH", "DTYPES", "DiffusionBranch",
    "DomainDiscriminator", "Encoded", "EngineOptions", "EngineResult", "IMAGENET_MEAN", "IMAGENET_STD",
    "MAX_TRAIN_TIMESTEPS", "MIN_IMAGE_SIZE", "MIXED", "ModelConfig", "PRESETS", "PendingResult",
    "SAMPLER_NAMES", "SOURCE", "STAGES", "SamplingOptions", "Segmentation", "SegmentationEngine", "TARGET",
    "autocast", "checkpoint_input_size", "confusion_loss", "count_parameters", "discriminator_loss", "discriminator_step", "images_to_tensor",
    "kl_to_uniform", "latent_diffusion_loss", "load_model", "pad_to_multiple", "parse_dtype", "preset",
    "save_model", "segment", "segment_rgb", "segmentation_loss",
]
