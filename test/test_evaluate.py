"""Evaluation: evaluate_model's counts and alignment, and the evaluate command line."""
from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from cicld_core.data import SegTransformConfig, build_dataset
from cicld_core.evaluate import main
from cicld_core.evaluation import eval_transform, evaluate_model, scoring
from cicld_core.labels import IGNORE_INDEX, NUM_TRAIN_CLASSES
from cicld_core.model import CICLD, ModelConfig, SamplingOptions, Segmentation, save_model
from cicld_core.synth import generate_frame, write_frame, write_split_list
from tiny import TINY

REPO = Path(__file__).resolve().parents[1]
SIZE = (64, 32)  # width != height, so a transposed prediction cannot line up with the label
FRAMES = 3


def tiny_model(seed: int = 0, **overrides) -> CICLD:
    torch.manual_seed(seed)
    return CICLD(ModelConfig(**(TINY | overrides))).eval()


def write_synth(root: Path, layout: str) -> list[np.ndarray]:
    """FRAMES val frames in ``layout``; returns their trainId labels in index order."""
    labels = []
    for index in range(FRAMES):
        frame = generate_frame(seed=0, index=index, size=SIZE, style="target", split="val")
        write_frame(root, layout, "val", index, frame)
        labels.append(frame.train_ids)
    write_split_list(root, layout, "val", range(FRAMES))
    return labels


@pytest.fixture(scope="module")
def cityscapes(tmp_path_factory) -> tuple[Path, list[np.ndarray]]:
    root = tmp_path_factory.mktemp("cityscapes")
    return root, write_synth(root, "cityscapes")


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("ckpt") / "random.safetensors"
    save_model(path, tiny_model(seed=1))
    return path


def val_dataset(root: Path, kind: str = "cityscapes"):
    return build_dataset(kind, root, "val", transform=eval_transform())


# ---- evaluate_model ---------------------------------------------------------------------

def test_counts_every_valid_label_pixel_and_is_deterministic(cityscapes):
    root, labels = cityscapes
    model = tiny_model()
    first = evaluate_model(model, val_dataset(root), steps=1, strength=0.5, seed=3, progress=False)
    second = evaluate_model(model, val_dataset(root), steps=1, strength=0.5, seed=3, progress=False)
    assert np.array_equal(first.matrix, second.matrix) and np.array_equal(first.missed, second.missed)
    # each true class's row holds exactly that class's pixels across the split
    truth = np.concatenate([label.ravel() for label in labels])
    expected_rows = np.bincount(truth[truth != IGNORE_INDEX], minlength=NUM_TRAIN_CLASSES)
    assert np.array_equal(first.matrix.sum(1) + first.missed, expected_rows)
    assert first.matrix.sum() == np.count_nonzero(truth != IGNORE_INDEX) > 0
    assert not model.training


def test_max_images_and_restores_training_mode(cityscapes):
    root, labels = cityscapes
    model = tiny_model().train()
    metric = evaluate_model(model, val_dataset(root), steps=0, progress=False, max_images=1)
    assert metric.matrix.sum() == np.count_nonzero(labels[0] != IGNORE_INDEX)
    assert model.training, "evaluation must hand the model back in the mode it came in"


def test_sampling_options_are_refused_before_the_first_image(cityscapes):
    root, _ = cityscapes
    model = tiny_model()
    for options, message in ((dict(steps=1000), "steps must be"), (dict(steps=50, strength=0.01), "steps / strength"),
                             (dict(seed=2**64), "seed must be")):
        with pytest.raises(ValueError, match=message):
            evaluate_model(model, BrokenDataset(val_dataset(root)), progress=False, **options)


class BrokenDataset:
    """Passes evaluate_model's checks, fails on reading any image."""

    def __init__(self, dataset) -> None:
        self.has_labels, self.transform_config = dataset.has_labels, dataset.transform_config

    def __len__(self) -> int:
        return 3

    def __getitem__(self, index: int):
        raise AssertionError("an image was read before the options were checked")

    load_raw = __getitem__


class LabelLookup:
    """Stands in for segment_rgb: answers each image with the label the dataset pairs with it,
    found by the image's bytes. It is perfect only if evaluate_model compares every prediction
    with its own image's label, unresized and untransposed."""

    def __init__(self, dataset, shift: int = 0) -> None:
        pairs = [dataset.load_raw(i) for i in range(len(dataset))]
        self.answers = {digest(rgb): torch.from_numpy(pairs[(i + shift) % len(pairs)][1])
                        for i, (rgb, _) in enumerate(pairs)}

    def __call__(self, model, rgb: np.ndarray, options, device) -> Segmentation:
        assert options.steps == 2
        return Segmentation(train_ids=self.answers[digest(rgb)][None].clamp(max=NUM_TRAIN_CLASSES - 1))


def digest(image: np.ndarray) -> str:
    return hashlib.sha1(np.ascontiguousarray(image).tobytes()).hexdigest()


def test_a_model_that_returns_the_ground_truth_scores_100(cityscapes, monkeypatch):
    root, _ = cityscapes
    dataset = val_dataset(root)
    monkeypatch.setattr(scoring, "segment_rgb", LabelLookup(dataset))
    perfect = evaluate_model(tiny_model(), dataset, SamplingOptions(steps=2), progress=False)
    assert perfect.miou(19) == pytest.approx(1.0) and perfect.pixel_accuracy() == 1.0
    # the same labels handed to the wrong images must score lower: the check can fail
    monkeypatch.setattr(scoring, "segment_rgb", LabelLookup(dataset, shift=1))
    shifted = evaluate_model(tiny_model(), dataset, SamplingOptions(steps=2), progress=False)
    assert shifted.pixel_accuracy() < 0.99


def test_refuses_unlabelled_augmented_or_wrongly_normalised_datasets(cityscapes):
    root, _ = cityscapes
    model = tiny_model()
    unlabelled = build_dataset("cityscapes", root, "val", labels=False, transform=eval_transform())
    with pytest.raises(ValueError, match="no labels"):
        evaluate_model(model, unlabelled, progress=False)
    flipping = build_dataset("cityscapes", root, "val", transform=SegTransformConfig(flip_prob=0.5))
    with pytest.raises(ValueError, match="eval_transform"):
        evaluate_model(model, flipping, progress=False)
    resizing = build_dataset("cityscapes", root, "val", transform=SegTransformConfig.no_augmentation(scale=0.5))
    with pytest.raises(ValueError, match="resizes"):
        evaluate_model(model, resizing, progress=False)
    other = tiny_model(mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5))
    with pytest.raises(ValueError, match="normalises"):
        evaluate_model(other, val_dataset(root), progress=False)
    assert evaluate_model(other, build_dataset("cityscapes", root, "val", transform=eval_transform(other.config)),
                          steps=0, progress=False).matrix.sum() > 0
    with pytest.raises(ValueError, match="max_images"):
        evaluate_model(model, val_dataset(root), progress=False, max_images=0)


# ---- the command line -------------------------------------------------------------------

def test_command_line_end_to_end_matches_evaluate_model(cityscapes, checkpoint, tmp_path):
    root, _ = cityscapes
    out = tmp_path / "eval.json"
    # the same thread count as this process: float32 logits change in the last bits with it
    # (measured here: 2e-6 between 1 and 2 threads), which can swap a near tie and so the mIoU;
    # pytest's own count is whatever earlier tests left, a child's would be the core count
    done = subprocess.run([sys.executable, "-m", "cicld_core.evaluate", "--checkpoint", str(checkpoint),
                           "--dataset", "cityscapes", "--root", str(root), "--steps", "1", "--strength", "0.7",
                           "--seed", "4", "--device", "cpu", "--json", str(out), "--no-progress"],
                          cwd=REPO, capture_output=True, text=True, timeout=120,
                          env=os.environ | {"OMP_NUM_THREADS": str(torch.get_num_threads())})
    assert done.returncode == 0, done.stderr
    report = json.loads(out.read_text())
    expected = evaluate_model(tiny_model(seed=1), val_dataset(root), steps=1, strength=0.7, seed=4, progress=False)
    assert report["miou"] == expected.summary(19)["miou"]
    assert report["images"] == FRAMES and report["steps"] == 1 and report["strength"] == 0.7
    assert report["checkpoint"] == str(checkpoint) and report["arguments"]["split"] == "val"
    assert len(report["per_class_iou"]) == 19
    assert "mIoU (19 classes)" in done.stdout and "images" in done.stdout


def test_protocol_16_reports_16_classes(cityscapes, checkpoint, tmp_path, capsys):
    root, _ = cityscapes
    out = tmp_path / "eval16.json"
    code = main(["--checkpoint", str(checkpoint), "--dataset", "cityscapes", "--root", str(root), "--steps", "0",
                 "--protocol", "16", "--max-images", "2", "--json", str(out), "--no-progress"])
    assert code == 0
    report = json.loads(out.read_text())
    assert report["protocol"] == 16 and len(report["per_class_iou"]) == 16 and report["images"] == 2
    assert "terrain" not in report["per_class_iou"]
    # what each class's pixels are read as, per true class of the protocol, each row at most 100 %
    assert set(report["where_pixels_go"]) <= set(report["per_class_iou"]) and report["where_pixels_go"]
    assert all(0 < sum(row.values()) <= 100.01 for row in report["where_pixels_go"].values())
    table = capsys.readouterr().out
    assert "mIoU (16 classes)" in table
    assert [line.split()[-1] for line in table.splitlines() if line.startswith("terrain")] == ["-"]


def test_gta5_layout_evaluates(tmp_path, checkpoint, capsys):
    write_synth(tmp_path / "gta5", "gta5")
    assert main(["--checkpoint", str(checkpoint), "--dataset", "gta5", "--root", str(tmp_path / "gta5"),
                 "--steps", "0", "--no-progress"]) == 0
    assert "images" in capsys.readouterr().out


def error_of(argv: list[str], capsys) -> str:
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1 and "Traceback" not in err
    return err


def test_errors_are_one_line_with_exit_status_2(cityscapes, checkpoint, tmp_path, capsys):
    root, _ = cityscapes
    args = ["--dataset", "cityscapes", "--root", str(root), "--no-progress"]
    assert "does not exist" in error_of(["--checkpoint", str(tmp_path / "nope.safetensors"), *args], capsys)
    empty = tmp_path / "empty"
    empty.mkdir()
    err = error_of(["--checkpoint", str(checkpoint), "--dataset", "cityscapes", "--root", str(empty)], capsys)
    assert str(empty / "leftImg8bit" / "val") in err
    assert str(tmp_path / "missing") in error_of(
        ["--checkpoint", str(checkpoint), "--dataset", "gta5", "--root", str(tmp_path / "missing")], capsys)
    # steps / strength above the model's T: known only once it is loaded
    assert "steps / strength must be at most 1000" in error_of(
        ["--checkpoint", str(checkpoint), *args, "--steps", "50", "--strength", "0.01"], capsys)
    eight_classes = tmp_path / "eight.safetensors"
    save_model(eight_classes, tiny_model(num_classes=8))
    assert "8 classes" in error_of(["--checkpoint", str(eight_classes), *args], capsys)


def test_bad_options_are_usage_errors(cityscapes, checkpoint):
    root, _ = cityscapes
    for bad in (["--strength", "0"], ["--steps", "-1"], ["--protocol", "15"], ["--max-images", "0"],
                ["--steps", "1000"], ["--seed", "99999999999999999999"]):
        with pytest.raises(SystemExit) as exit_info:
            main(["--checkpoint", str(checkpoint), "--dataset", "cityscapes", "--root", str(root), *bad])
        assert exit_info.value.code == 2
