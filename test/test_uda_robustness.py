"""The trainer against bad values: values that would only fail at evaluation stop before the
first step, YAML errors in --set are one line."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

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
