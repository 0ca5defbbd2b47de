"""Fixtures shared by the test files."""
from __future__ import annotations

from pathlib import Path

import pytest
import torch

from cicld_core.model import CICLD, ModelConfig
from cicld_core.model.checkpoint import save_model
from tiny import TINY


@pytest.fixture(scope="session")
def checkpoint(tmp_path_factory) -> Path:
    """A saved, untrained tiny model (weights from seed 0)."""
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("ckpt") / "tiny.safetensors"
    save_model(path, CICLD(ModelConfig(**TINY)))
    return path
