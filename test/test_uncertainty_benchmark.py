"""benchmarks/uncertainty.py: the AUROC arithmetic against hand-counted pairs, and a run end to
end on a tiny model and drive."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

import uncertainty  # noqa: E402


def test_auroc_counts_pairs_and_splits_ties():
    errors = np.array([True, False, True, False, False])
    scores = np.array([0.9, 0.1, 0.5, 0.5, 0.2])
    # error 0.9 outranks all 3 right pixels; error 0.5 outranks 0.1 and 0.2 and ties 0.5: 5.5 of 6 pairs
    assert uncertainty.auroc(scores, errors) == pytest.approx(5.5 / 6)
    assert uncertainty.auroc(-scores, errors) == pytest.approx(0.5 / 6)
    assert uncertainty.auroc(np.zeros(5), errors) == pytest.approx(0.5)  # one constant score is chance
    assert np.isnan(uncertainty.auroc(scores, np.zeros(5, bool)))  # no wrong pixel: undefined


def test_auroc_matches_the_pair_count_on_random_scores():
    rng = np.random.default_rng(0)
    scores, errors = rng.integers(0, 6, 300).astype(float), rng.random(300) < 0.3
    wins = (scores[errors][:, None] > scores[~errors][None]).sum()
    ties = (scores[errors][:, None] == scores[~errors][None]).sum()
    assert uncertainty.auroc(scores, errors) == pytest.approx((wins + ties / 2) / (errors.sum() * (~errors).sum()))


def test_writes_every_signal_a_json_and_a_plot(checkpoint, synth_root, tmp_path):
    summary = uncertainty.main(["--checkpoint", str(checkpoint), "--data", str(synth_root / "target"), "--frames", "2",
                                "--samples", "3", "--json", str(tmp_path / "u.json"), "--plot", str(tmp_path / "u.png")])
    assert set(summary["auroc"]) == set(uncertainty.SIGNALS)
    assert summary["frames"] == 2 and summary["pixels"] > 0 and 0 <= summary["error_rate"] <= 1
    assert json.loads((tmp_path / "u.json").read_text()) == summary
    assert (tmp_path / "u.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize("args, message", [(["--samples", "1"], "samples 2 or more"),
                                           (["--steps", "0"], "steps 1 or more"),
                                           (["--frames", "0"], "--frames")])
def test_refuses_settings_without_a_disagreement(args, message, capsys):
    with pytest.raises(SystemExit):
        uncertainty.parse_args(["--checkpoint", "x", "--data", "y", *args])
    assert message in capsys.readouterr().err
