"""The checkpoint in the repository: it loads, says how it was made, and reaches the
mIoU the README states on the generator's validation drive."""
from __future__ import annotations

from pathlib import Path

import pytest
import torch

from cicld_core.data import CityscapesDataset
from cicld_core.evaluation import eval_transform, evaluate_model
from cicld_core.model import load_model
from cicld_core.synth import generate_frame, write_frame

REPO = Path(__file__).resolve().parents[1]
SHIPPED = REPO / "checkpoints/cicld_synth.safetensors"
README_MIOU = 21.6  # docs/training.md, "The shipped checkpoint" (and the README's headline numbers): the 100-frame validation drive of benchmarks/uda_table.py --prepare


def test_shipped_checkpoint_loads_with_its_provenance():
    model, metadata = load_model(SHIPPED)
    assert "train/uda.py" in metadata["provenance"]["command"]
    assert "config/uda/synth_cicld.yaml" in metadata["provenance"]["command"]
    assert metadata["provenance"]["iteration"] == 600
    assert model.config.num_classes == 19


def test_shipped_checkpoint_reaches_the_stated_miou(tmp_path):
    # the validation drive of benchmarks/uda_table.py --prepare: seed 3, 100 frames of 256x128
    for index in range(100):
        write_frame(tmp_path, "cityscapes", "val", index, generate_frame(3, index, (256, 128), "target", "val"))
    model, _ = load_model(SHIPPED)
    torch.set_num_threads(2)
    dataset = CityscapesDataset(tmp_path, split="val", transform=eval_transform(model.config))
    metric = evaluate_model(model, dataset, steps=2, strength=0.5, seed=0, progress=False)
    assert metric.summary(19)["miou"] == pytest.approx(README_MIOU, abs=0.3)
