import json
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml
from PIL import Image

from cicld_core.labels import CLASS_NAMES
from cicld_core.uda.report import (
    best_eval_record,
    latest_per_iter,
    moving_average,
    plot_curves,
    plot_per_class_iou,
    read_metrics,
    write_report,
)

REPO_ROOT = Path(__file__).resolve().parents[1]
LOSS_KEYS = ("loss/seg_source", "loss/seg_mixed", "loss/ldm", "loss/dis", "loss/adv", "loss/dec_denoised")


def train_record(it: int, keys=LOSS_KEYS) -> dict:
    record = {"kind": "train", "iter": it, "lr": 6e-5, "pseudo_weight": 0.4, "time_s": 0.2 * it}
    for k, key in enumerate(keys):
        record[key] = (k + 1) * 1.5 / (1 + it / 200) + 0.05 * math.sin(it + k)
    return record


def eval_record(it: int, miou: float, protocol: int = 19) -> dict:
    per_class = {name: round(miou + 10 * math.sin(i), 2) for i, name in enumerate(CLASS_NAMES)}
    per_class["train"] = None
    return {"kind": "eval", "iter": it, "miou": miou, "protocol": protocol,
            "per_class_iou": per_class, "pixel_accuracy": 70.2}


def write_log(path: Path, records: list[dict], tail: str = "") -> None:
    path.write_text("".join(json.dumps(r) + "\n" for r in records) + tail)


def assert_png(path: Path, min_width: int = 200) -> None:
    assert path.is_file() and path.stat().st_size > 0
    with Image.open(path) as image:
        assert image.format == "PNG"
        assert image.size[0] >= min_width and image.size[1] > 100
        image.load()


def test_read_metrics_splits_kinds_and_skips_a_truncated_last_line(tmp_path):
    log = tmp_path / "metrics.jsonl"
    records = [train_record(50), train_record(100), eval_record(100, 20.0), train_record(150)]
    write_log(log, records, tail='\n{"kind": "train", "iter": 200, "loss/seg')
    with pytest.warns(RuntimeWarning, match="truncated"):
        train, evals = read_metrics(log)
    assert [r["iter"] for r in train] == [50, 100, 150]
    assert [r["iter"] for r in evals] == [100]
    assert evals[0]["per_class_iou"]["train"] is None


def test_read_metrics_rejects_garbage_in_the_middle(tmp_path):
    log = tmp_path / "metrics.jsonl"
    text = json.dumps(train_record(50)) + "\nthis is not json\n" + json.dumps(train_record(100)) + "\n"
    log.write_text(text)
    with pytest.raises(ValueError, match=r"metrics\.jsonl:2"):
        read_metrics(log)
    log.write_text(json.dumps(train_record(50)) + "\n[1, 2]\n" + json.dumps(train_record(100)) + "\n")
    with pytest.raises(ValueError, match=r"metrics\.jsonl:2"):
        read_metrics(log)


def test_resumed_run_keeps_the_latest_record_of_each_iteration():
    first = [eval_record(100, 10.0), eval_record(200, 30.0)]
    resumed = [eval_record(200, 25.0), eval_record(300, 28.0)]
    evals = latest_per_iter(first + resumed)
    assert [(r["iter"], r["miou"]) for r in evals] == [(100, 10.0), (200, 25.0), (300, 28.0)]
    assert best_eval_record(evals)["iter"] == 300
    assert best_eval_record([{"iter": 1, "miou": None}]) is None


def test_moving_average_ignores_nan():
    smoothed = moving_average(np.array([1.0, 3.0, np.nan, 5.0]), 3)  # centred window
    assert np.allclose(smoothed, [2.0, 2.0, 4.0, 5.0])
    assert np.isnan(moving_average(np.array([np.nan, np.nan]), 1)).all()
    assert np.allclose(moving_average(np.arange(5.0), 1), np.arange(5.0))


def test_plot_curves_several_losses_and_evals(tmp_path):
    train = [train_record(it) for it in range(50, 3001, 50)]
    train[10]["loss/adv"] = float("nan")  # a diverged step leaves a gap, not a crash
    del train[0]["loss/dis"]  # a term that starts late
    evals = [eval_record(it, 10 + it / 100) for it in range(500, 3001, 500)]
    out = plot_curves(train, evals, tmp_path / "curves.png")
    assert out == tmp_path / "curves.png"
    assert_png(out, min_width=800)
    assert sorted(os.listdir(tmp_path)) == ["curves.png"]


def test_plot_curves_without_evals_single_record_and_negative_losses(tmp_path):
    assert_png(plot_curves([train_record(50)], [], tmp_path / "a.png"))
    record = train_record(50, keys=("loss/adv",))
    record["loss/adv"] = -0.2  # not log-scalable
    assert_png(plot_curves([record, train_record(100, keys=("loss/adv",))], [eval_record(100, 5.0)],
                           tmp_path / "b.png"))
    assert_png(plot_curves([], [], tmp_path / "c.png"))
    assert sorted(os.listdir(tmp_path)) == ["a.png", "b.png", "c.png"]


def test_plot_per_class_iou_with_none_entries(tmp_path):
    per_class = {name: (None if i % 5 == 0 else 3.0 * i) for i, name in enumerate(CLASS_NAMES)}
    out = plot_per_class_iou(per_class, tmp_path / "iou.png", "per-class IoU")
    assert_png(out)
    assert sorted(os.listdir(tmp_path)) == ["iou.png"]


def test_write_report(tmp_path):
    work = tmp_path / "run"
    work.mkdir()
    evals = [eval_record(it, m) for it, m in ((1000, 30.0), (2000, 41.2), (3000, 39.5))]
    write_log(work / "metrics.jsonl", [train_record(it) for it in range(50, 3001, 50)] + evals)
    config = {"model": {"backbone": "mit_b5", "crop": (512, 512)}, "work_dir": work, "lr": 6e-5}
    command = "python -m cicld_core.uda.train --config configs/gta2cs.yaml"
    report = write_report(work, config, evals[-1], evals[1], command, extra={"wall_time_s": 3725.0})
    assert report == work / "report.md"
    text = report.read_text()
    assert command in text
    assert "![training curves](curves.png)" in text
    assert "![per-class IoU](per_class_iou.png)" in text
    assert "41.20 @ iteration 2000" in text and "39.50 @ iteration 3000" in text
    assert "1:02:05" in text
    assert "| iterations done | 3000 |" in text
    for name in CLASS_NAMES:
        best = evals[1]["per_class_iou"][name]
        final = evals[2]["per_class_iou"][name]
        cell = lambda v: "n/a" if v is None else f"{v:.2f}"  # noqa: E731
        assert f"| {name} | {cell(best)} | {cell(final)} |" in text, name
    yaml_block = text.split("```yaml\n", 1)[1].split("\n```", 1)[0]
    assert yaml.safe_load(yaml_block) == {"model": {"backbone": "mit_b5", "crop": [512, 512]},
                                          "work_dir": str(work), "lr": 6e-5}
    assert text.index("backbone") < text.index("lr:")  # config order kept
    assert_png(work / "curves.png", min_width=800)
    assert_png(work / "per_class_iou.png")
    assert sorted(os.listdir(work)) == ["curves.png", "metrics.jsonl", "per_class_iou.png", "report.md"]


def test_write_report_before_any_evaluation(tmp_path):
    report = write_report(tmp_path, {}, None, None, "cmd")
    text = report.read_text()
    assert "No evaluation yet." in text and "![per-class IoU]" not in text
    assert sorted(os.listdir(tmp_path)) == ["curves.png", "report.md"]


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "cicld_core.uda.report", *args], cwd=REPO_ROOT,
                          capture_output=True, text=True, timeout=60)


def test_cli_rebuilds_a_report_and_reports_missing_inputs(tmp_path):
    work = tmp_path / "run"
    work.mkdir()
    evals = [eval_record(1000, 33.3), eval_record(2000, 44.4), eval_record(3000, 40.0, protocol=16)]
    write_log(work / "metrics.jsonl", [train_record(it) for it in range(50, 3001, 50)] + evals,
              tail='{"kind": "eval", "it')  # killed mid-write
    (work / "config.yaml").write_text("max_iters: 40000\nsource: gta5\n")
    (work / "command.txt").write_text("bash train.sh --max-iters 40000\n")

    result = run_cli(str(work))
    assert result.returncode == 0, result.stderr
    text = (work / "report.md").read_text()
    assert "bash train.sh --max-iters 40000" in text
    assert "44.40 @ iteration 2000" in text and "40.00 @ iteration 3000" in text
    assert "max_iters: 40000" in text
    assert sorted(os.listdir(work)) == ["command.txt", "config.yaml", "curves.png", "metrics.jsonl",
                                        "per_class_iou.png", "report.md"]

    (work / "command.txt").unlink()
    (work / "config.yaml").unlink()
    assert run_cli(str(work)).returncode == 0
    assert "```bash\nunknown\n```" in (work / "report.md").read_text()

    missing = run_cli(str(tmp_path / "nope"))
    assert missing.returncode == 2 and "does not exist" in missing.stderr and not missing.stdout
    (work / "metrics.jsonl").unlink()
    no_log = run_cli(str(work))
    assert no_log.returncode == 2 and "metrics.jsonl" in no_log.stderr
