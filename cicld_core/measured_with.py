"""What a figure was measured with: written into every evaluation and replay report, so a number
can be traced to the checkpoint file and the settings that made it."""
from __future__ import annotations

import hashlib
import os
from typing import Any

import torch

from .input_size_argument import input_size_record
from .model import SamplingOptions


def file_sha256(path: str | os.PathLike) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def measured_with(checkpoint: str | os.PathLike, input_size: tuple[int, int] | None, sampling: SamplingOptions,
                  device: torch.device | str) -> dict[str, Any]:
    """The checkpoint (path and SHA-256), the model's input size ('native': each frame's own), the
    sampling options (K = steps, strength, ...) and the device."""
    return {"checkpoint": str(checkpoint), "checkpoint_sha256": file_sha256(checkpoint),
            "input_size": input_size_record(input_size), "steps": sampling.steps, "strength": sampling.strength,
            "sampler": sampling.sampler, "seed": sampling.seed, "dtype": sampling.dtype, "device": str(device)}
