"""scripts/ship_checkpoint.py: a run's checkpoint made shippable (model group only, placeholders for paths)."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import torch
from safetensors import safe_open

from cicld_core.model import CICLD, ModelConfig, load_model
from cicld_core.model.checkpoint import save_model
from tiny import TINY

REPO = Path(__file__).resolve().parents[1]


def test_ship_keeps_the_scored_weights_and_input_size_and_hides_machine_paths(tmp_path):
    torch.manual_seed(0)
    model = CICLD(ModelConfig(**TINY)).eval()
    run = tmp_path / "run" / "latest.safetensors"
    run.parent.mkdir()
    provenance = {"command": "python train/uda.py --config /home/me/repo/config/uda/x.yaml --set data.target.root=/data/camvid",
                  "config": {"data": {"target": {"root": "/data/camvid"}}}, "note": "old"}
    save_model(run, model, provenance=provenance, input_size=(64, 48),
               extra_tensors={"optimizer.state": torch.zeros(3)})  # a training state's other groups
    out = tmp_path / "shipped" / "model.safetensors"
    done = subprocess.run([sys.executable, str(REPO / "scripts/ship_checkpoint.py"), str(run), str(out),
                           "--replace", "/data/camvid=CAMVID_DIR", "--replace", "/home/me/repo/=", "--note", "a test"],
                          cwd=REPO, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    shipped, metadata = load_model(out)
    assert all(torch.equal(a, b) for a, b in zip(shipped.state_dict().values(), model.state_dict().values()))
    with safe_open(str(out), "pt") as handle:
        assert {key.split(".")[0] for key in handle.keys()} == {"model"}
    assert metadata["input_size"] == [64, 48]
    assert metadata["provenance"] == {"command": "python train/uda.py --config config/uda/x.yaml "
                                                 "--set data.target.root=CAMVID_DIR",
                                      "config": {"data": {"target": {"root": "CAMVID_DIR"}}}, "note": "a test"}
    assert "/data" not in json.dumps(metadata) and "/home" not in json.dumps(metadata)


def test_ship_names_a_bad_checkpoint_and_a_bad_replacement(tmp_path):
    bad = tmp_path / "x.safetensors"
    bad.write_bytes(b"not a checkpoint")
    done = subprocess.run([sys.executable, str(REPO / "scripts/ship_checkpoint.py"), str(bad), str(tmp_path / "o")],
                          cwd=REPO, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and "x.safetensors" in done.stderr and not (tmp_path / "o").exists()
    done = subprocess.run([sys.executable, str(REPO / "scripts/ship_checkpoint.py"), str(bad), str(tmp_path / "o"),
                           "--replace", "no-equals-sign"], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and "OLD=NEW" in done.stderr
