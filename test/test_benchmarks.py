"""The speed and quality benchmarks run end to end (tiny sizes on the CPU) and report
what the README's tables are made of (the adaptation table: test_uda_table.py)."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))

import quality_vs_steps  # noqa: E402
import realtime  # noqa: E402


def test_realtime_reports_latency_split_memory_and_anchors(tmp_path):
    out = tmp_path / "realtime.json"
    realtime.main(["--device", "cpu", "--dtype", "fp32", "--preset", "demo", "--sizes", "64x32", "--steps", "0", "2",
                   "--cameras", "2", "--warmup", "1", "--repeats", "3", "--json", str(out)])
    report = json.loads(out.read_text())
    rows = report["rows"]
    assert [(r["batch"], r["steps"]) for r in rows] == [(1, 0), (1, 2), (2, 0), (2, 2)]
    assert report["matmul_peak_tflops"] > 0
    for row in rows:
        assert 0 < row["ms_p50"] <= row["ms_p99"]
        assert set(row["stage_ms"]) == {"encoder", "denoise", "decoder"}
        assert row["floor_ms"] > 0 and row["x_floor"] > 1  # nothing runs faster than its FLOPs allow
        # both are rounded (ms to 0.01, frames/s to 0.1), so frames/s lies between what the
        # ends of ms_p50's rounding interval give; at a few ms that interval is worth several frames/s
        fastest, slowest = (row["batch"] * 1000 / (row["ms_p50"] + d) for d in (-0.005, 0.005))
        assert slowest - 0.05 <= row["frames_per_s"] <= fastest + 0.05
    assert rows[0]["x_plain"] == 1.0 and rows[1]["gflops"] > rows[0]["gflops"]


def test_quality_vs_steps_writes_a_table_and_a_plot(checkpoint, tmp_path):
    results = quality_vs_steps.main(["--checkpoint", str(checkpoint), "--steps", "0", "1", "--strengths", "0.5", "1.0",
                                     "--frames", "2", "--json", str(tmp_path / "q.json"),
                                     "--plot", str(tmp_path / "q.png")])
    assert set(results["miou"]) == {"0.5", "1.0"} and set(results["miou"]["1.0"]) == {"0", "1"}
    assert results["miou"]["0.5"]["0"] == results["miou"]["1.0"]["0"]  # K = 0 ignores the strength
    assert json.loads((tmp_path / "q.json").read_text()) == results
    assert (tmp_path / "q.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
