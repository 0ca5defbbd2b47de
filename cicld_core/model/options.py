"""The sampling options of few-step inference: one frozen record, one validation, one set of defaults.

Every path that segments reads its K, strength, sampler, noise samples, seed and precision from one
``SamplingOptions`` object, carried whole: ``segment()``, the streaming engine (``EngineOptions`` holds
one), the node (``NodeParams.sampling()`` makes it from the flat ROS parameters), the commands
(``cicld_core.sampling_arguments``) and the trainer's evaluation. ``problems`` / ``validate`` is the one
check. Its steps / strength bound is the loaded model's T; before a model is loaded the check leaves
that bound out (``num_train_timesteps=None``). This module imports nothing else of the model, so any
layer can use it.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
import torch

# The fewest steps within 0.1 mIoU of K = 50 at the best strength on the shipped checkpoint
# (benchmarks/quality_vs_steps.py; the figures are in docs/benchmarks.md).
DEFAULT_STEPS = 1
DEFAULT_STRENGTH = 0.25
SAMPLER_NAMES = ("ddim", "dpmsolver")  # sampling.SAMPLERS builds each
DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}
MAX_STEPS = 100  # far past where quality stops changing (K = 50 matches K = 1 on the curve)
MAX_SAMPLES = 64
SEED_RANGE = (0, 2**63 - 1)  # what torch.Generator.manual_seed takes on every device


@dataclass(frozen=True)
class SamplingOptions:
    steps: int = DEFAULT_STEPS  # K denoising steps; 0 is the plain encoder-decoder path
    strength: float = DEFAULT_STRENGTH  # noise level the denoising starts from, in (0, 1]
    sampler: str = "ddim"
    num_samples: int = 1  # noise samples per image; above 1 the result carries their disagreement
    seed: int | None = 0  # None: fresh noise on every call
    dtype: str = "fp32"  # compute precision, a key of DTYPES

    def problems(self, num_train_timesteps: int | None = None) -> list[str]:
        """Every reason these options cannot run, as messages naming the option and its bounds (empty
        when they can). ``num_train_timesteps`` is the loaded model's T, which bounds steps / strength
        (a value accepted at start-up must never make every frame fail later); None leaves that bound
        to the check made once the model is loaded."""
        problems = []
        steps, strength = self.steps, self.strength
        whole = isinstance(steps, (int, np.integer)) and not isinstance(steps, bool)
        if not whole or not 0 <= steps <= MAX_STEPS:
            problems.append(f"steps must be a whole number in [0, {MAX_STEPS}], got {steps!r}")
        number = isinstance(strength, (int, float, np.floating, np.integer)) and not isinstance(strength, bool)
        if not number or not 0 < strength <= 1:
            problems.append(f"strength must be in (0, 1], got {strength!r}")
        elif whole and 0 < steps <= MAX_STEPS and num_train_timesteps is not None \
                and round(steps / strength) > num_train_timesteps:
            # the schedule spaces steps / strength timesteps over the T the model was trained with
            problems.append(f"steps / strength must be at most {num_train_timesteps} (the model's training "
                            f"timesteps), got {steps} / {strength}: use fewer steps or a higher strength")
        if self.sampler not in SAMPLER_NAMES:
            problems.append(f"sampler must be one of {', '.join(sorted(SAMPLER_NAMES))}, got {self.sampler!r}")
        samples = self.num_samples
        if not isinstance(samples, (int, np.integer)) or isinstance(samples, bool) or not 1 <= samples <= MAX_SAMPLES:
            problems.append(f"num_samples must be a whole number in [1, {MAX_SAMPLES}], got {samples!r}")
        seed = self.seed
        if seed is not None and (not isinstance(seed, (int, np.integer)) or isinstance(seed, bool)
                                 or not SEED_RANGE[0] <= seed <= SEED_RANGE[1]):
            problems.append(f"seed must be a whole number in [0, 2**63 - 1], got {seed!r}")
        if not (isinstance(self.dtype, str) and self.dtype in DTYPES):
            problems.append(f"dtype must be one of {', '.join(DTYPES)}, got {self.dtype!r}")
        return problems

    def validate(self, num_train_timesteps: int | None = None) -> "SamplingOptions":
        """These options, or ValueError naming every invalid one (see problems)."""
        problems = self.problems(num_train_timesteps)
        if problems:
            raise ValueError("; ".join(problems))
        return self

    def replace(self, **changes: object) -> "SamplingOptions":
        return dataclasses.replace(self, **changes)

    @property
    def noise_samples(self) -> int:
        """Noise samples actually drawn: K = 0 draws none, so there is one result per image."""
        return self.num_samples if self.steps > 0 else 1

    @property
    def torch_dtype(self) -> torch.dtype:
        return parse_dtype(self.dtype)


def parse_dtype(dtype: str | torch.dtype | None) -> torch.dtype:
    if dtype is None:
        return torch.float32
    if isinstance(dtype, torch.dtype):
        if dtype not in DTYPES.values():
            raise ValueError(f"dtype must be one of {list(DTYPES)}, got {dtype}")
        return dtype
    if dtype not in DTYPES:
        raise ValueError(f"dtype must be one of {list(DTYPES)}, got {dtype!r}")
    return DTYPES[dtype]
