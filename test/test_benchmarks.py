"""The speed and quality benchmarks run end to end (tiny sizes on the CPU) and report
what the README's tables are made of."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))

import quality_vs_steps  # noqa: E402
import realtime  # noqa: E402
import uda_table  # noqa: E402
from tiny import TINY_RUN, tiny_overrides  # noqa: E402


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
        assert row["frames_per_s"] == pytest.approx(row["batch"] * 1000 / row["ms_p50"], abs=0.1)  # both rounded
    assert rows[0]["x_plain"] == 1.0 and rows[1]["gflops"] > rows[0]["gflops"]


def test_quality_vs_steps_writes_a_table_and_a_plot(checkpoint, tmp_path):
    results = quality_vs_steps.main(["--checkpoint", str(checkpoint), "--steps", "0", "1", "--strengths", "0.5", "1.0",
                                     "--frames", "2", "--json", str(tmp_path / "q.json"),
                                     "--plot", str(tmp_path / "q.png")])
    assert set(results["miou"]) == {"0.5", "1.0"} and set(results["miou"]["1.0"]) == {"0", "1"}
    assert results["miou"]["0.5"]["0"] == results["miou"]["1.0"]["0"]  # K = 0 ignores the strength
    assert json.loads((tmp_path / "q.json").read_text()) == results
    assert (tmp_path / "q.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_uda_table_runs_side_by_side_builds_the_table_and_skips_finished_runs(synth_root, tmp_path, capsys):
    out = tmp_path / "table"
    args = ["--data", str(synth_root), "--out", str(out), "--only", "source_only", "cicld", "target_oracle",
            "--seeds", "0", "1", "--jobs", "2", *[a for o in TINY_RUN + tiny_overrides() for a in ("--set", o)]]
    uda_table.main(args)
    figures = json.loads((out / "table.json").read_text())
    for name in ("source_only", "cicld", "target_oracle", "source_only_adabn"):
        assert len(figures[name]["final_miou"]) == 2 and figures[name]["seeds"] == [0, 1], name
        assert (out / f"{name}_s1" / "report.md").is_file()
    assert "uda.mode=source_only" in (out / "source_only_s0" / "train.log").read_text()  # each run logs its own output
    gap = figures["target_oracle"]["mean"] - figures["source_only"]["mean"]
    assert figures["gap"] == pytest.approx(gap, abs=0.01)
    assert figures["gap_closed"] == pytest.approx((figures["cicld"]["mean"] - figures["source_only"]["mean"]) / gap,
                                                  abs=1e-3)
    assert (out / "table.png").stat().st_size > 0 and "CICLD closes" in (out / "table.md").read_text()

    stamps = {p: p.stat().st_mtime_ns for p in out.glob("*/latest.safetensors")}
    capsys.readouterr()
    uda_table.main(args)
    assert capsys.readouterr().out.count("done already") == 8  # 6 trained runs and 2 AdaBN rows
    assert {p: p.stat().st_mtime_ns for p in out.glob("*/latest.safetensors")} == stamps


def test_uda_table_names_the_log_of_a_failed_run_and_asks_for_data(synth_root, tmp_path):
    with pytest.raises(SystemExit, match=r"1 run\(s\) failed: .*source_only_s0/train.log"):
        uda_table.main(["--data", str(synth_root), "--out", str(tmp_path / "t"), "--only", "source_only", "--seeds", "0",
                        "--jobs", "2", "--set", "uda.no_such_key=1"])
    assert "no_such_key" in (tmp_path / "t" / "source_only_s0" / "train.log").read_text()
    with pytest.raises(SystemExit):
        uda_table.main(["--data", str(tmp_path / "missing"), "--out", str(tmp_path / "t")])
