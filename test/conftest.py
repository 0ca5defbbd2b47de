"""Fixtures shared by the test files."""
from __future__ import annotations

from pathlib import Path

import pytest
import torch

from cicld_core.model import CICLD, ModelConfig, save_model
from cicld_core.synth import generate_frame, write_frame
from tiny import TINY


def pytest_configure(config):
    # the markers of the ament lint tests (test_flake8.py, test_pep257.py); ROS 2's ament_lint
    # plugins register them too, but without ROS pytest would warn about unknown marks
    for marker in ("linter: an ament linter test", "flake8: ament_flake8 on the ROS package",
                   "pep257: ament_pep257 on the ROS package"):
        config.addinivalue_line("markers", marker)


@pytest.fixture(autouse=True)
def torch_threads_restored():
    """The trainer and some benchmarks set torch's thread count for their process; in the test
    process that would leak into every later test (slower, and a different summation order)."""
    threads = torch.get_num_threads()
    yield
    if torch.get_num_threads() != threads:
        torch.set_num_threads(threads)


@pytest.fixture(scope="session")
def checkpoint(tmp_path_factory) -> Path:
    """A saved, untrained tiny model (weights from seed 0)."""
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("ckpt") / "tiny.safetensors"
    save_model(path, CICLD(ModelConfig(**TINY)))
    return path


@pytest.fixture(scope="session")
def synth_root(tmp_path_factory) -> Path:
    """Tiny generated UDA data: source/ (GTA5 layout, 6 frames), target/ (Cityscapes
    layout, 6 train + 3 val frames), 64x32, as the adaptation benchmark lays it out."""
    root = tmp_path_factory.mktemp("synth")
    for split, style, layout, count, seed in (("train", "source", "gta5", 6, 1), ("train", "target", "cityscapes", 6, 2),
                                              ("val", "target", "cityscapes", 3, 3)):
        for index in range(count):
            write_frame(root / style, layout, split, index, generate_frame(seed, index, (64, 32), style, split))
    return root
