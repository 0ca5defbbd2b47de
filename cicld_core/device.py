"""Turn a device setting ("auto", "cpu", "cuda", "cuda:1") into a torch device, once for every entry point."""
from __future__ import annotations

import torch


def pick_device(name: str) -> torch.device:
    """"auto" is the first GPU when there is one, else the CPU; a GPU asked for but absent is an error."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise ValueError(f"device {name!r} is not a device: use auto, cpu, cuda or cuda:N") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {name!r}: this machine or torch build has no CUDA GPU; use cpu")
    return device


def synchronize(device: torch.device) -> None:
    """Wait for the work queued on ``device`` (a no-op on the CPU), so a timer reads finished work."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)
