"""The one checkpoint format: a safetensors file whose header carries JSON metadata.

Tensors are named ``<group>.<name>`` (``model.`` for the shipped weights; the trainer adds
its own groups). The metadata holds the model config, class names, normalisation, the
training provenance and the format version, so :func:`load_model` rebuilds the exact
model from the file alone. Nothing is ever unpickled; files are written atomically.
"""
from __future__ import annotations

import datetime as dt
import json
import os
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file

from ..io import atomic_path
from ..labels import CLASS_NAMES
from .cicld import CICLD
from .config import ModelConfig

FORMAT_NAME = "cicld-checkpoint"
FORMAT_VERSION = 1
MODEL_GROUP = "model"


class CheckpointError(RuntimeError):
    """A checkpoint is missing, not in this project's format, or does not fit the model."""


def save_checkpoint(path: str | os.PathLike, tensors: dict[str, torch.Tensor], metadata: dict[str, Any]) -> None:
    """Write ``tensors`` and JSON ``metadata`` atomically as one safetensors file."""
    header = {"format": FORMAT_NAME, "format_version": str(FORMAT_VERSION), "metadata": json.dumps(metadata)}
    cpu = {name: t.detach().to("cpu").contiguous() for name, t in tensors.items()}
    with atomic_path(path, ".safetensors") as tmp:
        save_file(cpu, str(tmp), metadata=header)


def describe_non_safetensors(path: Path) -> str:
    with open(path, "rb") as handle:
        head = handle.read(8)
    if head[:2] == b"PK" or head[:1] == b"\x80":
        return (f"{path} looks like a PyTorch pickle (torch.save), which is never loaded because unpickling runs "
                "arbitrary code; convert it with safetensors on a machine you trust")
    return f"{path} is not a safetensors file"


def read_header(path: str | os.PathLike) -> dict[str, Any]:
    """The checkpoint's metadata, checked for format and version, without reading tensors."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path} does not exist")
    try:
        with safe_open(str(path), framework="pt") as handle:
            header = handle.metadata() or {}
    except (SafetensorError, OSError, ValueError) as error:
        raise CheckpointError(f"{describe_non_safetensors(path)} ({error})") from None
    if header.get("format") != FORMAT_NAME:
        raise CheckpointError(f"{path} is a safetensors file but not a CICLD checkpoint (no '{FORMAT_NAME}' header)")
    try:
        version = int(header.get("format_version", ""))
        metadata = json.loads(header["metadata"])
    except (KeyError, ValueError) as error:
        raise CheckpointError(f"{path} has a damaged CICLD header ({error})") from None
    if version > FORMAT_VERSION:
        raise CheckpointError(f"{path} uses checkpoint format {version}, newer than this version of cicld "
                              f"understands ({FORMAT_VERSION}); upgrade cicld_ros to read it")
    return metadata | {"format_version": version}


def load_checkpoint(path: str | os.PathLike, device: str | torch.device = "cpu",
                    ) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """All tensors and the metadata of a checkpoint."""
    metadata = read_header(path)
    try:
        with safe_open(str(path), framework="pt", device=str(device)) as handle:
            tensors = {name: handle.get_tensor(name) for name in handle.keys()}
    except (SafetensorError, OSError, ValueError) as error:
        raise CheckpointError(f"checkpoint {path} could not be read, it may be truncated ({error})") from None
    return tensors, metadata


def group(tensors: dict[str, torch.Tensor], name: str) -> dict[str, torch.Tensor]:
    prefix = f"{name}."
    return {key[len(prefix):]: value for key, value in tensors.items() if key.startswith(prefix)}


def check_state_fits(module: torch.nn.Module, state: dict[str, torch.Tensor], where: str) -> None:
    expected = module.state_dict()
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    mismatched = [f"{k}: file {tuple(state[k].shape)} vs model {tuple(expected[k].shape)}"
                  for k in sorted(set(state) & set(expected)) if state[k].shape != expected[k].shape]
    problems = []
    for label, items in (("missing tensors", missing), ("unexpected tensors", unexpected),
                         ("shape mismatches", mismatched)):
        if items:
            problems.append(f"{len(items)} {label} (first: {', '.join(items[:3])})")
    if problems:
        raise CheckpointError(f"{where} does not fit the model its metadata describes: " + "; ".join(problems))


def model_metadata(model: CICLD, provenance: dict[str, Any] | None = None) -> dict[str, Any]:
    import diffusers

    from .. import __version__

    config = model.config.to_dict()
    return {
        "model_config": config,
        "class_names": list(CLASS_NAMES[: model.config.num_classes]) if model.config.num_classes <= len(CLASS_NAMES)
        else [f"class_{i}" for i in range(model.config.num_classes)],
        "normalisation": {"mean": config["mean"], "std": config["std"], "input": "RGB in 0..1"},
        "provenance": provenance or {},
        "created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "versions": {"cicld_ros": __version__, "torch": torch.__version__, "diffusers": diffusers.__version__},
    }


def save_model(path: str | os.PathLike, model: CICLD, provenance: dict[str, Any] | None = None,
               extra_tensors: dict[str, torch.Tensor] | None = None, extra_metadata: dict[str, Any] | None = None,
               ) -> None:
    """Save the model's weights (group ``model``) with the metadata to rebuild it."""
    tensors = {f"{MODEL_GROUP}.{k}": v for k, v in model.state_dict().items()} | (extra_tensors or {})
    save_checkpoint(path, tensors, model_metadata(model, provenance) | (extra_metadata or {}))


def build_model(metadata: dict[str, Any], where: str) -> CICLD:
    try:
        # the pretrained backbone file was only needed before training; the weights are in here
        config = ModelConfig.from_dict(metadata["model_config"] | {"backbone_weights": None})
    except (KeyError, TypeError, ValueError) as error:
        raise CheckpointError(f"{where} has an unusable model config: {error}") from None
    return CICLD(config)


def load_model(path: str | os.PathLike, device: str | torch.device = "cpu",
               group_name: str = MODEL_GROUP) -> tuple[CICLD, dict[str, Any]]:
    """Rebuild the model a checkpoint describes and load its weights; in eval mode."""
    tensors, metadata = load_checkpoint(path)
    model = build_model(metadata, str(path))
    state = group(tensors, group_name)
    check_state_fits(model, state, f"checkpoint {path} (tensor group '{group_name}')")
    model.load_state_dict(state)
    return model.to(device).eval(), metadata
