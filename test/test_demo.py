"""The README's main command runs the whole product and says what it measured."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_main_job_runs_end_to_end(tmp_path):
    done = subprocess.run([sys.executable, "-m", "cicld_ros.demo", "--out", str(tmp_path), "--frames", "6"],
                          cwd=REPO, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert "mIoU" in done.stdout and "latency (publish -> mask) p50" in done.stdout and "dropped" in done.stdout
    figures = json.loads((tmp_path / "report/report.json").read_text())
    assert figures["mode"] == "live" and figures["frames_sent"] == 6 and figures["frames_dropped"] == 0
    assert figures["miou"] > 5  # the shipped model, not an untrained one
    for name in ("report.md", "frames.png", "per_class_iou.png", "latency.png"):
        assert (tmp_path / "report" / name).is_file()
