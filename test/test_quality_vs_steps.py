"""benchmarks/quality_vs_steps.py --data: the curve on a drive already on disk (benchmark v2's
target val split), and a clear refusal of a folder that is not one."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

import quality_vs_steps  # noqa: E402


def test_scores_the_val_split_of_a_given_folder(checkpoint, synth_root, tmp_path):
    results = quality_vs_steps.main(["--checkpoint", str(checkpoint), "--data", str(synth_root / "target"),
                                     "--steps", "0", "1", "--strengths", "0.5", "--frames", "50",
                                     "--json", str(tmp_path / "q.json"), "--plot", str(tmp_path / "q.png")])
    assert results["data"] == str(synth_root / "target")
    assert results["frames"] == 3  # the folder's val split holds 3 frames, fewer than --frames
    assert set(results["miou"]["0.5"]) == {"0", "1"}


def test_refuses_a_folder_without_a_val_split(checkpoint, tmp_path, capsys):
    with pytest.raises(SystemExit):
        quality_vs_steps.main(["--checkpoint", str(checkpoint), "--data", str(tmp_path)])
    assert "no leftImg8bit/val folder" in capsys.readouterr().err
