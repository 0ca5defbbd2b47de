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
    assert "painted LiDAR clouds: point mIoU" in done.stdout
    figures = json.loads((tmp_path / "report/report.json").read_text())
    assert figures["mode"] == "live" and figures["frames_sent"] == 6 and figures["frames_dropped"] == 0
    assert figures["miou"] > 5  # the shipped model, not an untrained one
    for name in ("report.md", "frames.png", "per_class_iou.png", "latency.png", "painted_cloud.png"):
        assert (tmp_path / "report" / name).is_file()
    assert "![painted clouds](painted_cloud.png)" in (tmp_path / "report/report.md").read_text()


def test_the_bird_eye_view_puts_points_where_they_are_in_their_class_colour():
    import numpy as np

    from cicld_core.labels import PALETTE
    from cicld_ros.replay.painting_demo import UNLABELLED, bird_eye_view

    # 10 m ahead (x), 10 m to the left (y), and one the camera does not see, 10 m behind
    view = bird_eye_view(np.array([[10.0, 0, 0], [0, 10.0, 0], [-10.0, 0, 0], [np.nan] * 3]),
                         np.array([0, 13, 255, 1], np.uint8), size=80, range_m=20.0)
    assert (view[20, 40] == PALETTE[0]).all() and (view[40, 20] == PALETTE[13]).all()
    assert (view[60, 40] == UNLABELLED).all()
