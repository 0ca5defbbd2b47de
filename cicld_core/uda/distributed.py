"""Several processes (``torchrun``): the same config, one data stream per rank, gradients
averaged before every optimizer step, rank 0 alone writes files.

The CICLD iteration calls its modules many times per step (three encoder passes, three
UNet branches, two discriminator passes), which DistributedDataParallel's forward hooks
do not follow without ``find_unused_parameters``; one flattened all-reduce of the
gradients per optimizer step is the same arithmetic, explicit. BatchNorm statistics are
taken from rank 0 after each step, as DDP's ``broadcast_buffers`` does.
"""
from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch._utils import _flatten_dense_tensors, _unflatten_dense_tensors


@dataclass
class DistInfo:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def init_from_env(device_type: str) -> DistInfo:
    """Join the process group when launched by torchrun (WORLD_SIZE > 1)."""
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    if world_size <= 1:
        return DistInfo()
    info = DistInfo(int(os.environ["RANK"]), world_size, int(os.environ.get("LOCAL_RANK", "0")))
    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if device_type == "cuda" else "gloo")
    return info


def broadcast_module(module: torch.nn.Module) -> None:
    for tensor in list(module.parameters()) + list(module.buffers()):
        dist.broadcast(tensor.data, src=0)


def broadcast_buffers(module: torch.nn.Module) -> None:
    for buffer in module.buffers():
        dist.broadcast(buffer.data, src=0)


def average_gradients(parameters: list[torch.nn.Parameter], world_size: int) -> None:
    # every rank must reduce the same list, so a parameter without a gradient gets zeros
    for p in parameters:
        if p.grad is None:
            p.grad = torch.zeros_like(p)
    grads = [p.grad for p in parameters]
    flat = _flatten_dense_tensors(grads)
    dist.all_reduce(flat)
    flat /= world_size
    for grad, averaged in zip(grads, _unflatten_dense_tensors(flat, grads)):
        grad.copy_(averaged)


def barrier(info: DistInfo) -> None:
    if info.enabled:
        dist.barrier()


def shutdown(info: DistInfo) -> None:
    if info.enabled and dist.is_initialized():
        dist.destroy_process_group()
