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
MAX_HEADER_BYTES = 100_000_000  # the largest header safetensors reads
MAX_INPUT_SIDE = 65_535  # the largest side a PNG or JPEG header records: a bound, not a size anyone trains at


class CheckpointError(RuntimeError):
    """A checkpoint is missing, not in this project's format, or does not fit the model."""


def save_checkpoint(path: str | os.PathLike, tensors: dict[str, torch.Tensor], metadata: dict[str, Any]) -> None:
    """Write ``tensors`` and JSON ``metadata`` atomically as one safetensors file."""
    header = {"format": FORMAT_NAME, "format_version": str(FORMAT_VERSION), "metadata": json.dumps(metadata)}
    cpu = {name: t.detach().to("cpu").contiguous() for name, t in tensors.items()}
    with atomic_path(path, ".safetensors") as tmp:
        save_file(cpu, str(tmp), metadata=header)


def describe_unreadable(path: Path) -> str:
    """Why safetensors could not open ``path``: a pickle, a cut-off copy, or something else."""
    size = path.stat().st_size
    with open(path, "rb") as handle:
        head = handle.read(8)
        # safetensors: an 8-byte little-endian header length, a JSON header, then the tensor data. Checked
        # first: a header length whose low byte is 0x80 starts like a pickle's protocol marker
        header_size = int.from_bytes(head, "little") if len(head) == 8 else 0
        if len(head) < 8 or not 2 <= header_size <= MAX_HEADER_BYTES or handle.read(2) not in (b'{"', b"{}"):
            if head[:2] == b"PK" or head[:1] == b"\x80":
                return (f"{path} looks like a PyTorch pickle (torch.save), which is never loaded because unpickling "
                        "runs arbitrary code; convert it with safetensors on a machine you trust")
            return f"{path} is not a safetensors file"
        needed = 8 + header_size
        if size >= needed:
            handle.seek(8)
            try:
                header = json.loads(handle.read(header_size))
                needed += max((int(entry["data_offsets"][1]) for name, entry in header.items()
                               if name != "__metadata__"), default=0)
            except (ValueError, TypeError, KeyError, IndexError, AttributeError):
                return f"{path} is not a safetensors file (its header is damaged)"
    if size < needed:
        return (f"{path} is truncated: it has {size} bytes but its header describes {needed}; "
                "the copy or download was cut off, fetch the file again")
    return f"{path} is not a safetensors file"


def open_checkpoint(path: Path, device: str = "cpu"):
    """safe_open, with its errors turned into a CheckpointError that says what is wrong with the file."""
    if path.is_dir():
        raise CheckpointError(f"checkpoint {path} is a folder; give the path of a .safetensors checkpoint file"
                              f"{inside(path)}")
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path} does not exist")
    try:
        return safe_open(str(path), framework="pt", device=device)
    except (SafetensorError, OSError, ValueError) as error:
        raise CheckpointError(f"{describe_unreadable(path)} ({error})") from None


def inside(folder: Path) -> str:
    found = sorted(p.name for p in folder.glob("*.safetensors"))[:3]
    return f" (this folder holds {', '.join(found)})" if found else ""


def read_header(path: str | os.PathLike) -> dict[str, Any]:
    """The checkpoint's metadata, checked for format, version and types, without reading tensors."""
    path = Path(path)
    with open_checkpoint(path) as handle:
        header = handle.metadata() or {}
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
    problems = metadata_problems(metadata)
    if problems:
        raise CheckpointError(f"{path} has a damaged CICLD header: {'; '.join(problems)}")
    return metadata | {"format_version": version}


def metadata_problems(metadata: object) -> list[str]:
    """What in the metadata does not have the type this module writes (see model_metadata)."""
    if not isinstance(metadata, dict):
        return [f"its metadata must be a JSON object, got a JSON {json_type(metadata)}"]
    expected = {"model_config": dict, "class_names": list, "normalisation": dict, "provenance": dict,
                "versions": dict, "created": str}
    problems = [f"'{key}' must be a JSON {json_type(kind())}, got a JSON {json_type(metadata[key])}"
                for key, kind in expected.items() if key in metadata and not isinstance(metadata[key], kind)]
    if isinstance(metadata.get("class_names"), list) and not all(isinstance(n, str) for n in metadata["class_names"]):
        problems.append("'class_names' must be a list of strings")
    size = metadata.get("input_size")
    if size is not None and not (isinstance(size, list) and len(size) == 2
                                 and all(isinstance(v, int) and not isinstance(v, bool) and 1 <= v <= MAX_INPUT_SIDE
                                         for v in size)):
        problems.append(f"'input_size' must be null or [width, height], each a whole number in "
                        f"[1, {MAX_INPUT_SIDE}], got {size!r}")
    return problems


def json_type(value: object) -> str:
    names = {dict: "object", list: "list", str: "string", bool: "boolean", int: "number", float: "number"}
    return "null" if value is None else names.get(type(value), type(value).__name__)


def read_shapes(path: str | os.PathLike, group_name: str | None = None) -> dict[str, tuple[int, ...]]:
    """Tensor name -> shape from the safetensors header (of one group, without its prefix), no data read."""
    path = Path(path)
    prefix = f"{group_name}." if group_name else ""
    with open_checkpoint(path) as handle:
        return {key[len(prefix):]: tuple(handle.get_slice(key).get_shape())
                for key in handle.keys() if key.startswith(prefix)}


def load_checkpoint(path: str | os.PathLike, device: str | torch.device = "cpu", group_name: str | None = None,
                    ) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """The tensors (all, or those of one group with the prefix kept) and the metadata of a checkpoint."""
    metadata = read_header(path)
    prefix = f"{group_name}." if group_name else ""
    try:
        with open_checkpoint(Path(path), str(device)) as handle:
            tensors = {name: handle.get_tensor(name) for name in handle.keys() if name.startswith(prefix)}
    except (SafetensorError, OSError, ValueError) as error:
        raise CheckpointError(f"checkpoint {path} could not be read, it may be truncated ({error})") from None
    return tensors, metadata


def group(tensors: dict[str, torch.Tensor], name: str) -> dict[str, torch.Tensor]:
    prefix = f"{name}."
    return {key[len(prefix):]: value for key, value in tensors.items() if key.startswith(prefix)}


def check_state_fits(module: torch.nn.Module, state: dict[str, torch.Tensor | tuple[int, ...]], where: str) -> None:
    """Refuse a state (tensors, or shapes from read_shapes) whose names or shapes differ from the module's."""
    expected = {name: tuple(tensor.shape) for name, tensor in module.state_dict().items()}
    shapes = {name: tuple(value.shape) if isinstance(value, torch.Tensor) else tuple(value)
              for name, value in state.items()}
    missing = sorted(set(expected) - set(shapes))
    unexpected = sorted(set(shapes) - set(expected))
    mismatched = [f"{k}: file {shapes[k]} vs model {expected[k]}"
                  for k in sorted(set(shapes) & set(expected)) if shapes[k] != expected[k]]
    problems = []
    for label, items in (("missing tensors", missing), ("unexpected tensors", unexpected),
                         ("shape mismatches", mismatched)):
        if items:
            problems.append(f"{len(items)} {label} (first: {', '.join(items[:3])})")
    if problems:
        raise CheckpointError(f"{where} does not fit the model its metadata describes: " + "; ".join(problems))


def differing_config_keys(model: CICLD, metadata: dict[str, Any], ignored: frozenset[str] = frozenset()) -> list[str]:
    """The model config keys (less ``ignored``) whose value in a checkpoint's metadata is not the model's."""
    saved = metadata.get("model_config") or {}
    current = model.config.to_dict()
    return sorted(k for k in current if k not in ignored and saved.get(k) != current[k])


def model_metadata(model: CICLD, provenance: dict[str, Any] | None = None,
                   input_size: tuple[int, int] | None = None) -> dict[str, Any]:
    """The metadata of a checkpoint. ``input_size`` is (width, height) of the frames the model was
    validated at (what its scores mean); a node with ``input_width/input_height: -1`` resizes to it."""
    import diffusers

    from .. import __version__

    config = model.config.to_dict()
    return {
        "model_config": config,
        "class_names": list(CLASS_NAMES[: model.config.num_classes]) if model.config.num_classes <= len(CLASS_NAMES)
        else [f"class_{i}" for i in range(model.config.num_classes)],
        "normalisation": {"mean": config["mean"], "std": config["std"], "input": "RGB in 0..1"},
        "provenance": provenance or {},
        "input_size": list(input_size) if input_size else None,
        "created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "versions": {"cicld_ros": __version__, "torch": torch.__version__, "diffusers": diffusers.__version__},
    }


def save_model(path: str | os.PathLike, model: CICLD, provenance: dict[str, Any] | None = None,
               extra_tensors: dict[str, torch.Tensor] | None = None, extra_metadata: dict[str, Any] | None = None,
               input_size: tuple[int, int] | None = None) -> None:
    """Save the model's weights (group ``model``) with the metadata to rebuild it (``input_size``: see
    model_metadata)."""
    tensors = {f"{MODEL_GROUP}.{k}": v for k, v in model.state_dict().items()} | (extra_tensors or {})
    save_checkpoint(path, tensors, model_metadata(model, provenance, input_size) | (extra_metadata or {}))


def checkpoint_input_size(metadata: dict[str, Any]) -> tuple[int, int] | None:
    """The (width, height) a checkpoint was validated at, or None when it does not say (older files)."""
    size = metadata.get("input_size")
    return (int(size[0]), int(size[1])) if size else None


def model_config(metadata: dict[str, Any], where: str) -> ModelConfig:
    """The checked config of a checkpoint's model (its sizes bounded, see ModelConfig)."""
    values = metadata.get("model_config")
    if not isinstance(values, dict):
        raise CheckpointError(f"{where} has no model config in its metadata")
    try:
        # the pretrained backbone file was only needed before training; the weights are in here
        return ModelConfig.from_dict(values | {"backbone_weights": None})
    except (TypeError, ValueError) as error:
        raise CheckpointError(f"{where} has an unusable model config: {error}") from None


def build_model(config: ModelConfig, where: str, device: str | torch.device = "cpu") -> CICLD:
    """The model a config describes; on the ``meta`` device it costs no memory."""
    try:
        with torch.device(device):
            return CICLD(config)
    except (ImportError, RuntimeError, ValueError, TypeError) as error:  # e.g. timm missing or an unknown timm name
        raise CheckpointError(f"{where} describes a model that cannot be built here: {error}") from None


def load_model(path: str | os.PathLike, device: str | torch.device = "cpu",
               group_name: str = MODEL_GROUP) -> tuple[CICLD, dict[str, Any]]:
    """Rebuild the model a checkpoint describes and load its weights; in eval mode.

    Everything the file says is checked before memory is spent on it: the metadata's
    types, the config's sizes, and the header's tensor shapes against a model built on the
    ``meta`` device; only then are the tensors read and the real model built."""
    where = f"checkpoint {path} (tensor group '{group_name}')"
    metadata = read_header(path)
    config = model_config(metadata, f"checkpoint {path}")
    check_state_fits(build_model(config, f"checkpoint {path}", "meta"), read_shapes(path, group_name), where)
    tensors, _ = load_checkpoint(path, group_name=group_name)
    model = build_model(config, f"checkpoint {path}")
    model.load_state_dict(group(tensors, group_name))
    return model.to(device).eval(), metadata
