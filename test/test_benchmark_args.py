"""The benchmarks' command lines: bad options are one error line, --help works anywhere,
and a GPU-only script says so in one line on a machine without one."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))

import model_speed  # noqa: E402
import quality_vs_steps  # noqa: E402


def usage_error(main, argv: list[str], capsys) -> str:
    with pytest.raises(SystemExit) as stopped:
        main(argv)
    err = capsys.readouterr().err
    assert stopped.value.code == 2 and "Traceback" not in err
    assert len([line for line in err.splitlines() if "error:" in line]) == 1
    return err


@pytest.mark.parametrize("argv,message", [
    (["--repeats", "0"], "--repeats: must be at least 1, got 0"),
    (["--steps", "500"], r"steps must be a whole number in [0, 100]"),
    (["--sizes", "64"], "--sizes: must look like WIDTHxHEIGHT"),
    (["--threads", "0"], "--threads: must be at least 1"),
])
def test_model_speed_refuses_bad_options_in_one_line(argv, message, capsys):
    assert message in usage_error(model_speed.main, argv, capsys)


def test_model_speed_runs_with_one_repeat(tmp_path, capsys):
    out = tmp_path / "speed.json"
    assert model_speed.main(["--preset", "demo", "--sizes", "64x32", "--steps", "0", "--repeats", "1",
                             "--json", str(out)]) == 0
    report = json.loads(out.read_text())
    assert report["presets"]["demo"]["results"][0]["per_k"]["0"]["ms"] > 0


def test_quality_vs_steps_refuses_a_schedule_that_cannot_exist(checkpoint, tmp_path, capsys):
    assert "steps must be a whole number in [0, 100]" in usage_error(
        quality_vs_steps.main, ["--checkpoint", str(checkpoint), "--steps", "1000"], capsys)


def run_cuda_smoke(*args: str) -> subprocess.CompletedProcess:
    # no GPU visible, whatever the machine has
    env = os.environ | {"CUDA_VISIBLE_DEVICES": ""}
    return subprocess.run([sys.executable, str(REPO / "benchmarks" / "cuda_smoke.py"), *args], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=300)


def test_cuda_smoke_has_help_and_says_in_one_line_that_it_needs_a_gpu():
    done = run_cuda_smoke("--help")
    assert done.returncode == 0 and done.stdout.startswith("usage:") and "CUDA" in done.stdout
    done = run_cuda_smoke()
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert done.stderr.count("\n") == 1 and done.stderr.startswith("error:") and "needs a CUDA GPU" in done.stderr
