"""The whole training state in one safetensors checkpoint, for an exact ``--resume``.

Group ``model`` holds the EMA weights (the model to ship, so ``load_model`` on a training
checkpoint gives the deployable network); ``train_model`` the gradient-trained weights;
``optimizer``/``dis_optimizer`` the optimizer tensors; ``rng`` the random states. What is
not a tensor (iteration, scheduler, optimizer hyper-parameters, best score) is JSON in
the header. Nothing is pickled.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from ..model import CICLD
from ..model.checkpoint import (
    CheckpointError, check_state_fits, differing_config_keys, group, load_checkpoint, model_metadata, save_checkpoint,
)


def flatten_optimizer(optimizer: torch.optim.Optimizer, prefix: str) -> tuple[dict[str, torch.Tensor], dict]:
    state = optimizer.state_dict()
    tensors = {}
    for index, values in state["state"].items():
        for key, value in values.items():
            tensors[f"{prefix}.{index}.{key}"] = torch.as_tensor(value)
    return tensors, {"param_groups": state["param_groups"]}


def restore_optimizer(optimizer: torch.optim.Optimizer, tensors: dict[str, torch.Tensor], info: dict) -> None:
    state: dict[int, dict[str, torch.Tensor]] = {}
    for name, value in tensors.items():
        index, key = name.split(".", 1)
        state.setdefault(int(index), {})[key] = value
    optimizer.load_state_dict({"state": state, "param_groups": info["param_groups"]})


def save_training_state(path: Path, *, model: CICLD, ema_model: CICLD, optimizer, dis_optimizer, scheduler,
                        dis_scheduler, generators: dict[str, torch.Generator], iteration: int,
                        training: dict[str, Any], provenance: dict[str, Any],
                        input_size: tuple[int, int] | None = None) -> None:
    tensors = {f"model.{k}": v for k, v in ema_model.state_dict().items()}
    tensors |= {f"train_model.{k}": v for k, v in model.state_dict().items()}
    opt_tensors, opt_info = flatten_optimizer(optimizer, "optimizer")
    dis_tensors, dis_info = flatten_optimizer(dis_optimizer, "dis_optimizer")
    tensors |= opt_tensors | dis_tensors
    tensors["rng.torch"] = torch.get_rng_state()
    if torch.cuda.is_available():
        tensors["rng.cuda"] = torch.cuda.get_rng_state()
    tensors |= {f"rng.{name}": g.get_state() for name, g in generators.items()}
    metadata = model_metadata(ema_model, provenance, input_size)
    metadata["training"] = training | {
        "iteration": iteration, "optimizer": opt_info, "dis_optimizer": dis_info,
        "scheduler": scheduler.state_dict(), "dis_scheduler": dis_scheduler.state_dict(),
    }
    save_checkpoint(path, tensors, metadata)


def load_training_state(path: Path, *, model: CICLD, ema_model: CICLD, optimizer, dis_optimizer, scheduler,
                        dis_scheduler, generators: dict[str, torch.Generator]) -> dict[str, Any]:
    """Restore everything in place; returns the ``training`` metadata (iteration, best, ...)."""
    tensors, metadata = load_checkpoint(path)
    training = metadata.get("training")
    if training is None:
        raise CheckpointError(f"{path} holds a model but no training state (it cannot be resumed)")
    differing = differing_config_keys(model, metadata)
    if differing:
        raise CheckpointError(f"{path} was trained with a different model config ({', '.join(differing)}); "
                              "resume with the config it was started with, or use a new --work-dir")
    for name, module in (("model", ema_model), ("train_model", model)):
        state = group(tensors, name)
        check_state_fits(module, state, f"checkpoint {path} (tensor group '{name}')")
        module.load_state_dict(state)
    restore_optimizer(optimizer, group(tensors, "optimizer"), training["optimizer"])
    restore_optimizer(dis_optimizer, group(tensors, "dis_optimizer"), training["dis_optimizer"])
    scheduler.load_state_dict(training["scheduler"])
    dis_scheduler.load_state_dict(training["dis_scheduler"])
    torch.set_rng_state(tensors["rng.torch"])
    if "rng.cuda" in tensors and torch.cuda.is_available():
        torch.cuda.set_rng_state(tensors["rng.cuda"])
    for name, generator in generators.items():
        generator.set_state(tensors[f"rng.{name}"])
    return training
