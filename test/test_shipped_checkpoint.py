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
README_MIOU = 21.6  # README, "Quick start": the 100-frame validation drive of benchmarks/uda_table.py --prepare
# The README rounds to 0.1, so the value lies within 0.05 of it. Another CPU moves it only by
# argmax flips of pixels within float32 rounding of a tie (and by the few JPEG values OpenCV's
# SIMD level changes in the frames, see test_synth.opencv_baseline): 21.5762 under
# ATEN_CPU_CAPABILITY default / avx2 / avx512 at 1 and 2 threads, 21.576 on frames made by
# OpenCV's baseline; 0.02 is 100 times that. The strength or step changes the sweep in the
# README measured move it by more (K = 0: 21.93, strength 0.25: 21.81).
MIOU_TOLERANCE = 0.05 + 0.02


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
    threads = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        dataset = CityscapesDataset(tmp_path, split="val", transform=eval_transform(model.config))
        metric = evaluate_model(model, dataset, steps=2, strength=0.5, seed=0, progress=False)
    finally:
        torch.set_num_threads(threads)  # later tests keep the thread count pytest started with
    assert metric.summary(19)["miou"] == pytest.approx(README_MIOU, abs=MIOU_TOLERANCE)
