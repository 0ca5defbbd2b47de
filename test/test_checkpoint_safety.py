"""A checkpoint is untrusted input: its metadata, config sizes and tensor shapes are checked
before any memory is spent on them, and every refusal is one line naming the problem."""
from __future__ import annotations

import json
import os
import resource
import stat
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from cicld_core.model.__main__ import main as model_command
from cicld_core.model.checkpoint import CheckpointError, load_model, read_header, save_checkpoint

def tensors_and_metadata(checkpoint: Path) -> tuple[dict[str, torch.Tensor], dict]:
    from safetensors.torch import load_file
    return load_file(str(checkpoint)), read_header(checkpoint)


def write_with_metadata(path: Path, tensors: dict[str, torch.Tensor], metadata: object) -> Path:
    save_file(tensors, str(path), metadata={"format": "cicld-checkpoint", "format_version": "1",
                                            "metadata": json.dumps(metadata)})
    return path


class Done:
    def __init__(self, returncode: int, stdout: str, stderr: str) -> None:
        self.returncode, self.stdout, self.stderr = returncode, stdout, stderr


def info(path: Path, capsys) -> Done:
    """``python -m cicld_core.model info PATH``, in this process (a traceback fails the test)."""
    capsys.readouterr()
    returncode = model_command(["info", str(path)])
    out = capsys.readouterr()
    return Done(returncode, out.out, out.err)


def test_a_small_file_claiming_a_huge_model_is_refused_without_allocating_it(checkpoint, tmp_path):
    tensors, metadata = tensors_and_metadata(checkpoint)
    metadata.pop("format_version")
    config = metadata["model_config"]
    # 3 KB that would make a 5e6-wide discriminator (2.3 GB) or one with 3e8 (115 GB)
    for hidden in (5_000_000, 300_000_000):
        path = write_with_metadata(tmp_path / f"huge{hidden}.safetensors", {"model.x": torch.zeros(2)},
                                   metadata | {"model_config": config | {"discriminator_hidden": hidden}})
        with pytest.raises(CheckpointError, match="discriminator_hidden must be in"):
            load_model(path)
    # within the bounds, but a 4096-wide last stage (600 MB of weights) the file does not hold:
    # refused from the header's shapes, the model built on the meta device only
    path = write_with_metadata(tmp_path / "wide.safetensors", {"model.x": torch.zeros(2)},
                               metadata | {"model_config": config | {"cnn_widths": [8, 8, 16, 4096]}})
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with pytest.raises(CheckpointError, match="does not fit the model its metadata describes"):
        load_model(path)
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - peak < 200_000  # KiB


@pytest.mark.parametrize("metadata,message", [
    ([1, 2, 3], "metadata must be a JSON object, got a JSON list"),
    ({"model_config": [1]}, "'model_config' must be a JSON object"),
    ({"model_config": {"latent_channels": "eight"}}, "latent_channels must be a whole number"),
    ({"class_names": "road"}, "'class_names' must be a JSON list"),
    ({"input_size": [256]}, "'input_size' must be null or \\[width, height\\]"),
    ({"input_size": [256, -128]}, "'input_size' must be null"), ({"input_size": "256x128"}, "'input_size' must be"),
    ({}, "no model config"),
])
def test_metadata_of_the_wrong_type_is_refused_in_one_line(checkpoint, tmp_path, capsys, metadata, message):
    tensors, real = tensors_and_metadata(checkpoint)
    real.pop("format_version")
    if isinstance(metadata, dict) and "model_config" in metadata and isinstance(metadata["model_config"], dict):
        metadata = real | {"model_config": real["model_config"] | metadata["model_config"]}
    elif isinstance(metadata, dict) and metadata:
        metadata = real | metadata
    path = write_with_metadata(tmp_path / "m.safetensors", tensors, metadata)
    with pytest.raises(CheckpointError, match=message):
        load_model(path)
    done = info(path, capsys)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert done.stderr.count("\n") == 1 and done.stderr.startswith("error:")


def test_a_timm_backbone_without_timm_is_refused_in_one_line(checkpoint, tmp_path, capsys):
    # without timm (as on CI) the model cannot be built; with timm the name is unknown to it
    tensors, metadata = tensors_and_metadata(checkpoint)
    metadata.pop("format_version")
    path = write_with_metadata(tmp_path / "timm.safetensors", tensors,
                               metadata | {"model_config": metadata["model_config"] | {"backbone": "timm:no_such_net"}})
    with pytest.raises(CheckpointError, match="cannot be built here"):
        load_model(path)
    done = info(path, capsys)
    assert done.returncode == 2 and "Traceback" not in done.stderr and done.stderr.count("\n") == 1


@pytest.mark.parametrize("cut", ["inside the header", "half the data", "the last byte"])
def test_a_truncated_checkpoint_is_called_truncated(checkpoint, tmp_path, capsys, cut):
    data = checkpoint.read_bytes()
    header_end = 8 + int.from_bytes(data[:8], "little")
    size = {"inside the header": header_end // 2, "half the data": (header_end + len(data)) // 2,
            "the last byte": len(data) - 1}[cut]
    path = tmp_path / "cut.safetensors"
    path.write_bytes(data[:size])
    # inside the header only the header's own length is known
    expected = header_end if cut == "inside the header" else len(data)
    with pytest.raises(CheckpointError, match=f"is truncated: it has {size} bytes but its header describes "
                                              f"{expected};"):
        load_model(path)
    done = info(path, capsys)
    assert done.returncode == 2 and "truncated" in done.stderr and done.stderr.count("\n") == 1


def test_info_on_a_folder_says_it_is_a_folder(checkpoint, capsys):
    done = info(checkpoint.parent, capsys)
    assert done.returncode == 2 and "is a folder" in done.stderr and "does not exist" not in done.stderr
    assert checkpoint.name in done.stderr  # names the checkpoint it found inside


def test_checkpoints_get_ordinary_file_permissions(checkpoint, tmp_path):
    umask = os.umask(0o022)
    os.umask(umask)
    tensors, metadata = tensors_and_metadata(checkpoint)
    path = tmp_path / "m.safetensors"
    save_checkpoint(path, tensors, metadata)
    assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~umask
    assert stat.S_IMODE(checkpoint.stat().st_mode) == 0o666 & ~umask  # save_model, via the fixture
