"""Few-step latent-diffusion inference (docs/design.md section 2, "Inference").

1. E(x) -> z0 and skips. 2. First pass y0 = argmax f_cls(D(z0, skips)); c = f_mask(y0).
3. Noise z0 to t_start = strength * T (SDEdit-style). 4. K sampler steps with
eps_theta(., t, c). 5. argmax f_cls(D(z0_hat, skips)). K = 0 is the plain E -> D path.
"""
from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable

import numpy as np
import torch
import torch.nn.functional as F

from .options import SamplingOptions
from .sampling import DenoisePlan, plan_for

if TYPE_CHECKING:
    from .cicld import CICLD

MIN_IMAGE_SIZE = 8  # pixels a side: smaller inputs have no extent left at the deepest feature maps


@dataclass
class Segmentation:
    train_ids: torch.Tensor  # (B, H, W) uint8 at the input resolution
    confidence: torch.Tensor | None = None  # (B, H, W) max class probability (mean over noise samples)
    uncertainty: torch.Tensor | None = None  # (B, H, W) share of noise samples that disagree with the result
    logits: torch.Tensor | None = None  # (B, K, H, W) float32, averaged over noise samples


def check_images(images: torch.Tensor, num_channels: int = 3) -> torch.Tensor:
    """A normalised (B, 3, H, W) float batch, or a single (3, H, W) image."""
    if not isinstance(images, torch.Tensor):
        raise TypeError(f"images must be a torch.Tensor, got {type(images).__name__}; "
                        "use cicld_core.model.images_to_tensor() for uint8 arrays")
    if images.dim() == 3:
        images = images[None]
    if images.dim() != 4 or images.shape[1] != num_channels:
        raise ValueError(f"images must be (B, {num_channels}, H, W) or ({num_channels}, H, W), "
                         f"got shape {tuple(images.shape)}")
    if not images.dtype.is_floating_point:
        raise ValueError(f"images must be normalised floats, got {images.dtype}; "
                         "use cicld_core.model.images_to_tensor() to convert uint8 images")
    if images.shape[0] == 0 or min(images.shape[-2:]) < MIN_IMAGE_SIZE:
        raise ValueError(f"images must hold at least one image of {MIN_IMAGE_SIZE}x{MIN_IMAGE_SIZE} pixels or more, "
                         f"got shape {tuple(images.shape)}")
    return images


def images_to_tensor(images: np.ndarray | list[np.ndarray], mean: tuple[float, ...], std: tuple[float, ...],
                     device: torch.device | str = "cpu") -> torch.Tensor:
    """RGB uint8 images, (H, W, 3) or (B, H, W, 3) or a list of same-size (H, W, 3), -> a normalised batch."""
    array = np.stack(images) if isinstance(images, (list, tuple)) else np.asarray(images)
    if array.ndim == 3:
        array = array[None]
    if array.ndim != 4 or array.shape[-1] != 3 or array.dtype != np.uint8:
        raise ValueError(f"expected RGB uint8 images (H, W, 3), got {array.dtype} of shape {array.shape}")
    if not array.flags.writeable:  # e.g. a view of a received message buffer; torch wants to own writable memory
        array = array.copy()
    frames = torch.from_numpy(np.ascontiguousarray(array)).to(device)
    mean_t = torch.tensor(mean, device=frames.device).view(1, 3, 1, 1)
    std_t = torch.tensor(std, device=frames.device).view(1, 3, 1, 1)
    return normalise(frames, mean_t, std_t)


def normalise(frames: torch.Tensor, mean: torch.Tensor, std: torch.Tensor) -> torch.Tensor:
    """(B, H, W, 3) uint8 frames, on any device -> a normalised (B, 3, H, W) float batch."""
    return (frames.permute(0, 3, 1, 2).float().div_(255) - mean) / std


def pad_to_multiple(images: torch.Tensor, multiple: int) -> torch.Tensor:
    """Pad bottom and right by replication so H and W are multiples of ``multiple``."""
    height, width = images.shape[-2:]
    pad_h, pad_w = -height % multiple, -width % multiple
    return F.pad(images, (0, pad_w, 0, pad_h), mode="replicate") if pad_h or pad_w else images


def autocast(device: torch.device, dtype: torch.dtype, cache_enabled: bool = True):
    if dtype == torch.float32:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=dtype, cache_enabled=cache_enabled)


def segment(model: "CICLD", images: torch.Tensor, options: SamplingOptions | None = None, *,
            with_confidence: bool = False, return_logits: bool = False, **changes: object) -> Segmentation:
    """Segment a normalised (B, 3, H, W) batch with ``options`` (SamplingOptions' defaults when None);
    keyword ``changes`` (steps=2, seed=None, ...) replace single options.

    ``strength`` in (0, 1] sets how far the first-pass latent is noised (1: pure noise).
    ``num_samples`` > 1 draws several noise samples per image, averages their class
    probabilities, and reports per-pixel disagreement as ``uncertainty``. A fixed ``seed``
    makes the result deterministic on CPU.
    """
    options = (options or SamplingOptions()).replace(**changes).validate(model.config.num_train_timesteps)
    images = check_images(images)
    device = images.device
    height, width = images.shape[-2:]
    samples = options.noise_samples
    padded = pad_to_multiple(images, model.config.size_multiple)
    plan = plan_for(model, options, device)
    generator = torch.Generator(device=device).manual_seed(options.seed) if options.seed is not None else None

    def draw_noise(shape: torch.Size) -> torch.Tensor:
        return torch.randn(shape, generator=generator, device=device, dtype=torch.float32)

    with torch.no_grad(), autocast(device, options.torch_dtype):
        logits = denoised_logits(model, padded, samples, plan, draw_noise)
    return finish(logits, padded.shape[-2:], (height, width), samples, with_confidence, return_logits)


def segment_rgb(model: "CICLD", rgb: np.ndarray, options: SamplingOptions | None = None,
                device: torch.device | str = "cpu", **flags: bool) -> Segmentation:
    """Segment RGB uint8 images, (H, W, 3) or (B, H, W, 3): the one normalisation (images_to_tensor,
    as the engine's) that every path from uint8 pixels uses: predict, evaluation, replay.
    ``flags`` are segment()'s with_confidence / return_logits."""
    return segment(model, images_to_tensor(rgb, model.config.mean, model.config.std, device), options, **flags)


@dataclass
class FirstPass:
    logits: torch.Tensor  # (B, C, h, w) class logits of the plain E -> D path
    latent: torch.Tensor | None = None  # (B * samples, ...) z0 noised to the start timestep (K > 0)
    tokens: torch.Tensor | None = None  # f_mask(argmax logits), repeated per noise sample
    skips: tuple[torch.Tensor, ...] = ()  # encoder skips, repeated per noise sample


def first_pass(model: "CICLD", padded: torch.Tensor, samples: int, plan: DenoisePlan | None,
               draw_noise: Callable[[torch.Size], torch.Tensor]) -> FirstPass:
    """Steps 1-3 of the docstring above."""
    encoded = model.encode(padded)
    logits = model.decode(encoded.z0, encoded.skips)
    if plan is None:
        return FirstPass(logits)
    tokens = model.mask_encoder(logits.argmax(1)) if model.config.conditioning else None
    repeat = (lambda x: x.repeat_interleave(samples, 0)) if samples > 1 else (lambda x: x)
    z0, skips = repeat(encoded.z0), tuple(repeat(s) for s in encoded.skips)
    tokens = repeat(tokens) if tokens is not None else None
    latent = plan.add_noise(z0, draw_noise(z0.shape).to(z0.dtype))
    return FirstPass(logits, latent, tokens, skips)


def denoised_logits(model: "CICLD", padded: torch.Tensor, samples: int, plan: DenoisePlan | None,
                    draw_noise: Callable[[torch.Size], torch.Tensor]) -> torch.Tensor:
    """Class logits at 1/4 resolution after steps 1-5, (B * samples, C, h, w); with no plan
    (K = 0) the plain E -> D logits, (B, C, h, w)."""
    first = first_pass(model, padded, samples, plan, draw_noise)
    if plan is None:
        return first.logits
    return model.decode(plan.run(model, first.latent, first.tokens), first.skips)


def finish(logits: torch.Tensor, padded_size: tuple[int, int], size: tuple[int, int], samples: int,
           with_confidence: bool = False, return_logits: bool = False) -> Segmentation:
    """Upsample 1/4-resolution logits, undo the padding, and reduce them to the segmentation."""
    height, width = size
    # channels-last makes the upsampling and the per-pixel argmax several times faster on CPU
    logits = logits.float().contiguous(memory_format=torch.channels_last)
    logits = F.interpolate(logits, size=tuple(padded_size), mode="bilinear", align_corners=False)
    logits = logits[..., :height, :width]
    if samples == 1:
        result = Segmentation(train_ids=logits.argmax(1).to(torch.uint8))
        if with_confidence:
            result.confidence = logits.softmax(1).amax(1)
        if return_logits:
            result.logits = logits
        return result
    logits = logits.view(-1, samples, *logits.shape[1:])
    probs = logits.softmax(2).mean(1)
    train_ids = probs.argmax(1)
    disagreement = (logits.argmax(2) != train_ids[:, None]).float().mean(1)
    return Segmentation(train_ids=train_ids.to(torch.uint8), uncertainty=disagreement,
                        confidence=probs.amax(1) if with_confidence else None,
                        logits=logits.mean(1) if return_logits else None)
