"""CamVid: the loader on generated files in CamVid's (SegNet) layout, the 11-class protocol
(predictions and labels merged into CamVid's classes), evaluation and training with CamVid as
the target, and the real frames when CICLD_CAMVID names a copy (.ci/run sets it when the data
is on the machine; CamVid is CC BY-NC 4.0, so none of its frames are in this repository)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from cicld_core.data import CamVidDataset, build_dataset
from cicld_core.evaluation import eval_transform, evaluate_model
from cicld_core.io import DataError
from cicld_core.labels import (
    CAMVID_CLASS_NAMES, CAMVID_PROTOCOL, CAMVID_TO_TRAIN_ID, IGNORE_INDEX, NUM_TRAIN_CLASSES, TRAIN_ID_BY_NAME,
    TRAIN_ID_TO_CAMVID, camvid_to_train_ids, train_ids_to_camvid,
)
from cicld_core.metrics import ConfusionMatrix
from cicld_core.model import load_model
from tiny import TINY_RUN, tiny_overrides

REPO = Path(__file__).resolve().parents[1]
CAMVID = os.environ.get("CICLD_CAMVID")


def write_camvid(root: Path, split: str, count: int, size: tuple[int, int] = (48, 36), seed: int = 0) -> None:
    """Frames (JPEG, as the shipped copy) and labels 0..11 in CamVid's layout."""
    rng = np.random.default_rng(seed)
    (root / split).mkdir(parents=True, exist_ok=True)
    (root / f"{split}annot").mkdir(parents=True, exist_ok=True)
    width, height = size
    for index in range(count):
        stem = f"0016E5_{index * 30:05d}"
        label = np.zeros((height, width), np.uint8)
        label[: height // 3] = 0  # sky
        label[height // 3: 2 * height // 3] = rng.integers(1, 11)
        label[2 * height // 3:] = 3  # road
        label[-2:, :4] = 11  # unlabelled
        frame = rng.integers(0, 255, (height, width, 3), dtype=np.uint8)
        cv2.imwrite(str(root / split / f"{stem}.jpg"), frame)
        cv2.imwrite(str(root / f"{split}annot" / f"{stem}.png"), label)


@pytest.fixture(scope="module")
def camvid_root(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("camvid")
    write_camvid(root, "train", 4, seed=1)
    write_camvid(root, "val", 3, seed=2)
    return root


# --------------------------------------------------------------------------- classes and merge


def test_every_train_class_merges_into_a_camvid_class_and_each_camvid_class_round_trips():
    assert len(TRAIN_ID_TO_CAMVID) == NUM_TRAIN_CLASSES and set(TRAIN_ID_TO_CAMVID) == set(range(11))
    for camvid_id, train_id in enumerate(CAMVID_TO_TRAIN_ID):
        assert TRAIN_ID_TO_CAMVID[train_id] == camvid_id, CAMVID_CLASS_NAMES[camvid_id]
    # the documented choices: terrain counts as Tree, every vehicle but two-wheelers as Car
    tree, car = CAMVID_CLASS_NAMES.index("Tree"), CAMVID_CLASS_NAMES.index("Car")
    assert TRAIN_ID_TO_CAMVID[TRAIN_ID_BY_NAME["terrain"]] == tree
    assert {TRAIN_ID_TO_CAMVID[TRAIN_ID_BY_NAME[n]] for n in ("car", "truck", "bus", "train")} == {car}
    assert camvid_to_train_ids(np.array([11, 0, 3], np.uint8)).tolist() == [IGNORE_INDEX, TRAIN_ID_BY_NAME["sky"],
                                                                            TRAIN_ID_BY_NAME["road"]]
    assert train_ids_to_camvid(np.array([IGNORE_INDEX, 14], np.uint8)).tolist() == [IGNORE_INDEX, car]


def test_protocol_11_scores_the_merged_classes_exactly():
    rng = np.random.default_rng(0)
    truth_camvid = rng.integers(0, 12, (40, 50)).astype(np.uint8)
    truth = camvid_to_train_ids(truth_camvid)
    prediction = rng.integers(0, NUM_TRAIN_CLASSES, (40, 50)).astype(np.uint8)
    metric = ConfusionMatrix()
    metric.update(prediction, truth)
    # the same pixels counted directly in CamVid's classes
    direct = ConfusionMatrix(num_classes=11)
    direct.update(train_ids_to_camvid(prediction), np.where(truth_camvid == 11, IGNORE_INDEX, truth_camvid))
    np.testing.assert_array_equal(metric.camvid().matrix, direct.matrix)
    summary = metric.summary(CAMVID_PROTOCOL)
    assert list(summary["per_class_iou"]) == list(CAMVID_CLASS_NAMES)
    assert summary["miou"] == pytest.approx(100 * direct.miou(), abs=1e-4)
    assert metric.miou(CAMVID_PROTOCOL) == pytest.approx(direct.miou())


def test_a_truck_on_a_car_label_is_right_under_protocol_11_and_wrong_under_19():
    truth = np.full((4, 4), TRAIN_ID_BY_NAME["car"], np.uint8)
    metric = ConfusionMatrix()
    metric.update(np.full((4, 4), TRAIN_ID_BY_NAME["truck"], np.uint8), truth)
    assert metric.summary(CAMVID_PROTOCOL)["per_class_iou"]["Car"] == 100.0
    assert metric.summary(19)["per_class_iou"]["car"] == 0.0


# --------------------------------------------------------------------------- the loader


def test_loader_reads_the_layout_and_maps_labels(camvid_root):
    dataset = build_dataset("camvid", camvid_root, "val", transform=eval_transform())
    assert isinstance(dataset, CamVidDataset) and len(dataset) == 3 and dataset.has_labels
    image, label = dataset.load_raw(0)
    assert image.shape == (36, 48, 3) and label.shape == (36, 48)
    assert label[0, 0] == TRAIN_ID_BY_NAME["sky"] and label[-1, -1] == TRAIN_ID_BY_NAME["road"]
    assert label[-1, 0] == IGNORE_INDEX  # CamVid's 11 (unlabelled)
    frames = build_dataset("camvid", camvid_root, "train", labels=False)
    assert not frames.has_labels and len(frames) == 4


def test_loader_says_what_is_wrong(camvid_root, tmp_path):
    with pytest.raises(DataError, match="frame folder .*test not found.*train, trainannot, val, valannot"):
        build_dataset("camvid", camvid_root, "test")
    write_camvid(tmp_path, "val", 2)
    (tmp_path / "valannot" / "0016E5_00030.png").unlink()
    with pytest.raises(DataError, match="frames without a label.*0016E5_00030"):
        build_dataset("camvid", tmp_path, "val")
    bad = tmp_path / "bad"
    write_camvid(bad, "val", 1)
    cv2.imwrite(str(bad / "valannot" / "0016E5_00000.png"), np.full((36, 48), 12, np.uint8))
    with pytest.raises(DataError, match="ids \\[12\\] outside the CamVid 11-class id set"):
        build_dataset("camvid", bad, "val").load_raw(0)


# --------------------------------------------------------------------------- evaluation


def test_evaluate_scores_camvid_with_protocol_11_by_default_at_an_input_size(camvid_root, checkpoint, tmp_path):
    out = tmp_path / "eval.json"
    done = subprocess.run([sys.executable, "-m", "cicld_core.evaluate", "--checkpoint", str(checkpoint), "--dataset",
                           "camvid", "--root", str(camvid_root), "--split", "val", "--steps", "0", "--input-size",
                           "32x24", "--json", str(out), "--no-progress"], cwd=REPO, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    assert "mIoU (CamVid 11 classes)" in done.stdout and "Bicyclist" in done.stdout
    report = json.loads(out.read_text())
    assert report["protocol"] == CAMVID_PROTOCOL and set(report["per_class_iou"]) == set(CAMVID_CLASS_NAMES)
    refused = subprocess.run([sys.executable, "-m", "cicld_core.evaluate", "--checkpoint", str(checkpoint), "--dataset",
                              "camvid", "--root", str(camvid_root), "--protocol", "19"], cwd=REPO, capture_output=True,
                             text=True, timeout=120)
    assert refused.returncode == 2 and "CamVid labels are not Cityscapes ids" in refused.stderr


def test_input_size_scores_every_label_pixel_and_differs_from_the_native_size(camvid_root, checkpoint):
    model, _ = load_model(checkpoint)
    dataset = build_dataset("camvid", camvid_root, "val", transform=eval_transform(model.config))
    small = evaluate_model(model, dataset, steps=0, progress=False, input_size=(32, 24))
    native = evaluate_model(model, dataset, steps=0, progress=False)
    labelled = sum(int((dataset.load_raw(i)[1] != IGNORE_INDEX).sum()) for i in range(len(dataset)))
    assert small.matrix.sum() + small.missed.sum() == labelled == native.matrix.sum() + native.missed.sum()
    assert not np.array_equal(small.matrix, native.matrix)


# --------------------------------------------------------------------------- training


def test_training_adapts_to_a_camvid_target_and_the_config_checks_the_protocol(synth_root, camvid_root, tmp_path):
    base = ["--config", "config/uda/synth_to_camvid.yaml", "--set", f"data.source.root={synth_root / 'source'}",
            "--set", f"data.target.root={camvid_root}", "--set", f"data.val.root={camvid_root}",
            "--set", "data.target_resize=[64,48]", "--set", "run.eval_input_size=[64,48]"]
    overrides = [*tiny_overrides(), *TINY_RUN, "data.crop_size=[32,64]", "uda.mode=dacs", "run.eval_steps=0"]
    command = [sys.executable, "train/uda.py", *base, "--work-dir", str(tmp_path / "run")]
    command += [arg for o in overrides for arg in ("--set", o)]
    done = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    evals = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()
             if '"eval"' in line]
    assert evals and evals[-1]["protocol"] == CAMVID_PROTOCOL and "Pavement" in evals[-1]["per_class_iou"]
    wrong = subprocess.run([sys.executable, "train/uda.py", *base, "--work-dir", str(tmp_path / "wrong"),
                            "--set", "run.eval_protocol=19"], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert wrong.returncode != 0 and "CamVid is scored with protocol 11" in wrong.stderr


# --------------------------------------------------------------------------- the real frames


@pytest.mark.skipif(not CAMVID, reason="CICLD_CAMVID is not set: no CamVid copy on this machine "
                                       "(.ci/run sets it when the data is there)")
def test_the_real_camvid_copy_loads_with_its_documented_counts():
    train = build_dataset("camvid", CAMVID, "train")
    val = build_dataset("camvid", CAMVID, "val", transform=eval_transform())
    assert (len(train), len(val)) == (367, 101)
    image, label = val.load_raw(0)
    assert image.shape == (360, 480, 3) and label.shape == (360, 480)
    assert set(np.unique(label)) <= {*CAMVID_TO_TRAIN_ID, IGNORE_INDEX}


def test_quality_vs_steps_on_camvid_reports_protocol_11_per_class(camvid_root, checkpoint, tmp_path):
    sys.path.insert(0, str(REPO / "benchmarks"))
    import quality_vs_steps

    results = quality_vs_steps.main(["--checkpoint", str(checkpoint), "--camvid", str(camvid_root), "--steps", "0", "1",
                                     "--strengths", "0.25", "--input-size", "32x24", "--json", str(tmp_path / "q.json"),
                                     "--plot", str(tmp_path / "q.png")])
    assert results["protocol"] == CAMVID_PROTOCOL and results["input_size"] == [32, 24]
    assert set(results["per_class_iou"]["0.25"]["1"]) == set(CAMVID_CLASS_NAMES)
    assert json.loads((tmp_path / "q.json").read_text()) == results
    assert (tmp_path / "q.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_uncertainty_on_camvid_judges_errors_in_camvids_classes(camvid_root, checkpoint):
    sys.path.insert(0, str(REPO / "benchmarks"))
    import uncertainty

    summary = uncertainty.main(["--checkpoint", str(checkpoint), "--data", str(camvid_root), "--camvid",
                                "--input-size", "32x24", "--frames", "2", "--samples", "2"])
    assert summary["protocol"] == CAMVID_PROTOCOL and summary["frames"] == 2
    # 32x24 frames, the unlabelled corner (CamVid 11) left out
    assert 0 < summary["pixels"] < 2 * 32 * 24 and 0 <= summary["error_rate"] <= 1


def test_latent_probe_scores_every_row_and_plain_is_the_models_k0(camvid_root, checkpoint):
    sys.path.insert(0, str(REPO / "benchmarks"))
    import latent_probe

    results = latent_probe.main(["--checkpoint", str(checkpoint), "--camvid", str(camvid_root), "--input-size", "32x24",
                                 "--strengths", "0.5", "--frames", "3"])
    assert list(results["miou"]) == ["plain", "swapped", "zero", "noised 0.5", "K = 1, strength 0.5"]
    model, _ = load_model(checkpoint)
    dataset = build_dataset("camvid", camvid_root, "val", transform=eval_transform(model.config))
    k0 = evaluate_model(model, dataset, steps=0, progress=False, input_size=(32, 24)).summary(CAMVID_PROTOCOL)
    assert results["miou"]["plain"] == round(k0["miou"], 2)


def test_diffusion_prior_trains_only_the_diffusion_part(camvid_root, synth_root, checkpoint, tmp_path):
    sys.path.insert(0, str(REPO / "benchmarks"))
    import diffusion_prior

    results = diffusion_prior.main(["--checkpoint", str(checkpoint), "--camvid", str(camvid_root), "--source",
                                    str(synth_root / "source"), "--prior", "source", "--input-size", "32x24",
                                    "--frames", "4", "--iters", "3", "--batch", "2", "--steps", "0", "1",
                                    "--strengths", "0.25", "--out", str(tmp_path)])
    before, _ = load_model(checkpoint)
    after, _ = load_model(tmp_path / "prior.safetensors")
    frozen = [n for n in before.state_dict() if not n.startswith(("denoiser.", "mask_encoder."))]
    assert all(torch.equal(before.state_dict()[n], after.state_dict()[n]) for n in frozen)
    assert any(not torch.equal(before.state_dict()[n], after.state_dict()[n]) for n in before.state_dict()
               if n.startswith("denoiser."))
    dataset = build_dataset("camvid", camvid_root, "val", transform=eval_transform(before.config))
    k0 = evaluate_model(before, dataset, steps=0, progress=False, input_size=(32, 24)).summary(CAMVID_PROTOCOL)
    assert results["miou"]["K=0"] == round(k0["miou"], 2) and set(results["miou"]) == {"K=0", "K=1 s=0.25"}


@pytest.mark.parametrize("train_on", ["source", "source+target"])
def test_label_diffusion_refines_the_frozen_models_first_pass(camvid_root, synth_root, checkpoint, tmp_path, train_on):
    sys.path.insert(0, str(REPO / "benchmarks"))
    import label_diffusion
    from safetensors.torch import load_file

    results = label_diffusion.main(["--checkpoint", str(checkpoint), "--camvid", str(camvid_root), "--source",
                                    str(synth_root / "source"), "--train-on", train_on, "--input-size", "32x24",
                                    "--frames", "4", "--iters", "3", "--batch", "2", "--width", "16",
                                    "--steps", "0", "1", "2", "--strengths", "0.25", "--out", str(tmp_path)])
    model, _ = load_model(checkpoint)
    dataset = build_dataset("camvid", camvid_root, "val", transform=eval_transform(model.config))
    k0 = evaluate_model(model, dataset, steps=0, progress=False, input_size=(32, 24)).summary(CAMVID_PROTOCOL)
    # K = 0 is the checkpoint's own score, computed the way evaluate scores it
    assert results["miou"]["K=0"] == round(k0["miou"], 2)
    assert set(results["miou"]) == {"K=0", "K=1 s=0.25", "K=2 s=0.25"} and np.isfinite(results["final_loss"])
    assert results["frames"] == (4 if train_on == "source" else 4 + 4)  # camvid_root has 4 train frames
    denoiser = label_diffusion.LabelDenoiser(model.config.num_classes, model.config.decoder_channels, width=16)
    denoiser.load_state_dict(load_file(tmp_path / "label_denoiser.safetensors"))


def test_label_diffusion_pseudo_labels_keep_only_confident_pixels():
    sys.path.insert(0, str(REPO / "benchmarks"))
    import label_diffusion

    logits = torch.zeros(1, 3, 1, 2)
    logits[0, 2, 0, 0] = 10.0  # confident class 2; the second pixel is a three-way tie
    labels = label_diffusion.pseudo_labelled({"logits": logits, "labels": torch.zeros(1, 1, 2)})["labels"]
    assert labels.tolist() == [[[2, IGNORE_INDEX]]]


SHIPPED_CAMVID = REPO / "checkpoints/cicld_camvid.safetensors"
# docs/camvid.md: 19.78 at K = 2, strength 0.5 (the trainer's own evaluation). Rounded to 0.01 in
# the docs; thread counts and CPU kernels move it by flipping near-tie pixels of the 256x192
# prediction, each worth about 3.5 label pixels at 480x360: K = 0 of the same weights read 19.53
# at 1 thread and 19.57 at 2. 0.1 covers that twice; a change of K or strength moves it by more
# (K = 0: 19.53, K = 1 at 0.25: 19.70).
SHIPPED_CAMVID_MIOU, SHIPPED_CAMVID_TOLERANCE = 19.78, 0.1


def test_the_camvid_checkpoint_says_what_it_is():
    model, metadata = load_model(SHIPPED_CAMVID)
    assert metadata["input_size"] == [256, 192] and model.config.num_classes == NUM_TRAIN_CLASSES
    provenance = metadata["provenance"]
    assert "config/uda/synth_to_camvid.yaml" in provenance["command"] and "uda.routing=paper" in provenance["command"]
    assert "CC BY-NC 4.0" in provenance["note"] and "/work" not in json.dumps(provenance)


@pytest.mark.skipif(not CAMVID, reason="CICLD_CAMVID is not set: no CamVid copy on this machine")
def test_the_camvid_checkpoint_reaches_its_documented_miou_on_camvid_val():
    model, _ = load_model(SHIPPED_CAMVID)
    dataset = build_dataset("camvid", CAMVID, "val", transform=eval_transform(model.config))
    summary = evaluate_model(model, dataset, steps=2, strength=0.5, seed=0, progress=False,
                             input_size=(256, 192)).summary(CAMVID_PROTOCOL)
    assert summary["miou"] == pytest.approx(SHIPPED_CAMVID_MIOU, abs=SHIPPED_CAMVID_TOLERANCE)
