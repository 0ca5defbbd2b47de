"""The trainer against bad values and bad data: evaluation never costs the training, values
that would only fail at evaluation stop before the first step, YAML errors in --set are one line."""
from __future__ import annotations

import json
import logging
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from cicld_core.model.checkpoint import read_header
from cicld_core.uda.config import ConfigError, load_config
from cicld_core.uda.trainer import Trainer, TrainingError
from tiny import TINY_RUN, tiny_overrides

REPO = Path(__file__).resolve().parents[1]
CONFIG = REPO / "config/uda/synth_cicld.yaml"


def overrides(root: Path, *extra: str) -> list[str]:
    return [f"data.source.root={root / 'source'}", f"data.target.root={root / 'target'}",
            f"data.val.root={root / 'target'}", *TINY_RUN, *tiny_overrides(), *extra]


def train_cli(root: Path, work_dir: Path, *extra: str, resume: bool = False) -> subprocess.CompletedProcess:
    sets = [arg for o in overrides(root, *extra) for arg in ("--set", o)]
    return subprocess.run([sys.executable, "train/uda.py", "--config", str(CONFIG), "--work-dir", str(work_dir),
                           *sets, *(["--resume"] if resume else [])],
                          cwd=REPO, capture_output=True, text=True, timeout=300)


def records(work_dir: Path, kind: str) -> list[dict]:
    lines = (work_dir / "metrics.jsonl").read_text().splitlines()
    return [r for r in map(json.loads, lines) if r["kind"] == kind]


@pytest.fixture
def corrupt_val(synth_root, tmp_path) -> tuple[Path, Path, bytes]:
    """A copy of the tiny data whose first validation image is cut off after 100 bytes:
    (data root, the cut file, its original bytes)."""
    root = tmp_path / "data"
    shutil.copytree(synth_root, root)
    image = sorted((root / "target/leftImg8bit/val").rglob("*.png"))[0]
    original = image.read_bytes()
    image.write_bytes(original[:100])
    return root, image, original


class StateAtFailure(logging.Handler):
    """Reads the saved iteration the moment the trainer logs a failed evaluation."""

    def __init__(self, latest: Path) -> None:
        super().__init__(logging.ERROR)
        self.latest, self.seen = latest, []

    def emit(self, record: logging.LogRecord) -> None:
        saved = read_header(self.latest)["training"]["iteration"] if self.latest.is_file() else None
        self.seen.append((record.getMessage(), saved))


def test_a_failed_evaluation_finds_its_iteration_saved_and_training_goes_on(corrupt_val, tmp_path):
    root, image, _ = corrupt_val
    work = tmp_path / "run"
    # checkpoints only at the end: the state at iteration 2 exists only if evaluation saves first
    t = Trainer(load_config(CONFIG, overrides(root, "run.eval_interval=2", "run.checkpoint_interval=100")), work)
    watcher = StateAtFailure(work / "latest.safetensors")
    logger = logging.getLogger("cicld_core.uda.trainer")
    logger.addHandler(watcher)
    try:
        t.run()
    finally:
        logger.removeHandler(watcher)
    assert [saved for _, saved in watcher.seen] == [2, 4]
    assert all(f"iteration {i} failed" in message and image.name in message
               for (message, _), i in zip(watcher.seen, (2, 4)))
    assert [(r["iter"], r["miou"], image.name in r["error"]) for r in records(work, "eval")] == [
        (2, None, True), (4, None, True)]
    assert [f["iter"] for f in t.eval_failures] == [2, 4] and t.iteration == 4
    assert read_header(work / "latest.safetensors")["training"]["iteration"] == 4
    assert not (work / "best.safetensors").exists()
    assert "evaluation failed" in (work / "report.md").read_text()


def test_the_command_reports_a_corrupt_validation_image_and_resume_continues(corrupt_val, tmp_path):
    root, image, original = corrupt_val
    work = tmp_path / "run"
    done = train_cli(root, work, "run.iters=2", "run.eval_interval=2")
    assert done.returncode == 1, done.stderr[-3000:]
    assert "Traceback" not in done.stderr
    assert f"evaluation at iteration 2 failed: cannot decode image {image}" in done.stderr
    assert done.stderr.strip().splitlines()[-1].startswith("error: 1 evaluation(s) failed, the last at iteration 2")
    assert read_header(work / "latest.safetensors")["training"]["iteration"] == 2
    image.write_bytes(original)  # the user repairs the data and goes on
    done = train_cli(root, work, "run.iters=4", "run.eval_interval=2", resume=True)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "at iteration 2" in done.stderr and "resumed" in done.stderr
    assert [r["iter"] for r in records(work, "train")] == [2, 4]
    evals = records(work, "eval")
    assert [r["iter"] for r in evals] == [2, 4] and "error" in evals[0] and evals[1]["miou"] is not None
    assert read_header(work / "best.safetensors")["provenance"]["iteration"] == 4


def test_resume_keeps_the_score_of_the_iteration_it_saved_before_evaluating(synth_root, tmp_path):
    first = Trainer(load_config(CONFIG, overrides(synth_root, "run.iters=2", "run.eval_interval=2")), tmp_path)
    first.run()
    assert first.best["iter"] == 2
    resumed = Trainer(load_config(CONFIG, overrides(synth_root, "run.eval_interval=2")), tmp_path, resume=True)
    assert resumed.iteration == 2 and resumed.best == first.best


@pytest.mark.parametrize("value,bounds,got", [
    ("run.eval_steps=-1", "run.eval_steps must be a whole number in [0, 100]", "got -1"),
    ("run.eval_strength=2", "run.eval_strength must be in (0, 1]", "got 2.0"),
    ("run.eval_protocol=7", "run.eval_protocol must be one of 19, 16, 13", "got 7"),
    ("run.eval_strength=0.0005", "run.eval_steps / run.eval_strength must be at most 1000", "got 1 / 0.0005"),
    ("run.seed=99999999999999999999", "run.seed must be a whole number in [0, 9223372036854774]",
     "got 99999999999999999999"),
    ("data.val.max_images=0", "data.val.max_images must be at least 1 or null", "got 0"),
])
def test_values_that_would_fail_at_evaluation_stop_before_the_first_step(synth_root, tmp_path, value, bounds, got):
    work = tmp_path / "run"
    done = train_cli(synth_root, work, value)
    assert done.returncode == 2, done.stderr[-3000:]
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: {bounds}") and got in lines[0], done.stderr
    assert not work.exists(), "nothing may be trained or written"


@pytest.mark.parametrize("value,expected", [
    ("data.crop_size=[48,64]", "data.crop_size must be (height, width), each a positive multiple of 32"),
    ("data.workers=-1", "data.workers must be at least 0 (0: load in the training process), got -1"),
    ("optim.lr=0", "optim.lr must be above 0, got 0.0"),
    ("optim.poly_power=-1", "optim.poly_power must be at least 0 (0: no decay), got -1.0"),
    ("optim.grad_clip=-1", "optim.grad_clip must be above 0 or null (no clipping), got -1.0"),
])
def test_values_that_would_fail_at_the_first_step_stop_at_start_up(synth_root, value, expected):
    with pytest.raises(ConfigError, match=re.escape(expected)):
        load_config(CONFIG, overrides(synth_root, value))


@pytest.mark.parametrize("value,expected", [
    ("uda.lambda_adv=[", "error: --set uda.lambda_adv: the value '[' is not valid YAML: expected the node content"),
    ("data.crop_size=[32,64", "error: --set data.crop_size: the value '[32,64' is not valid YAML: expected ','"),
])
def test_a_yaml_error_in_set_is_one_line_naming_the_key(synth_root, tmp_path, value, expected):
    done = train_cli(synth_root, tmp_path / "run", value)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(expected), done.stderr
    assert "column" in lines[0]


def test_a_config_file_that_is_not_a_mapping_is_one_line(tmp_path):
    config = tmp_path / "list.yaml"
    config.write_text("- run\n- data\n")
    done = subprocess.run([sys.executable, "train/uda.py", "--config", str(config), "--set", "run.iters=1"],
                          cwd=REPO, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and done.stderr.strip().splitlines() == [
        f"error: config file {config}: expected a mapping of sections (name, model, data, uda, optim, run) "
        "at the top, got a list"]


@pytest.mark.parametrize("workers", [0, 1])
def test_a_corrupt_training_image_stops_with_the_state_saved_and_resume_goes_on(synth_root, tmp_path, workers):
    root = tmp_path / "data"
    shutil.copytree(synth_root, root)
    images = sorted((root / "target/leftImg8bit/train").rglob("*.png"))
    originals = {image: image.read_bytes() for image in images[:1]}  # first drawn in iteration 3 (seed 0)
    for image, data in originals.items():
        image.write_bytes(data[:100])
    work = tmp_path / "run"
    settings = overrides(root, f"data.workers={workers}", "run.iters=6")
    with pytest.raises(TrainingError) as stopped:
        Trainer(load_config(CONFIG, settings), work).run()
    message = str(stopped.value)
    assert message.startswith("cannot decode image ") and "\n" not in message
    assert any(str(image) in message for image in originals)
    saved = read_header(work / "latest.safetensors")["training"]["iteration"]
    assert saved > 0, "the iterations trained before the bad image must be kept"
    assert f"stopped before iteration {saved + 1}, the state after iteration {saved} is saved" in message
    for image, data in originals.items():
        image.write_bytes(data)
    resumed = Trainer(load_config(CONFIG, settings), work, resume=True)
    assert resumed.iteration == saved
    resumed.run()
    assert read_header(work / "latest.safetensors")["training"]["iteration"] == 6
