"""Replay evaluation through the rclpy node (issue 32): `replay_eval --mode live --transport rclpy`
plays a generated bag to the rclpy segment_node on the ROS install's rmw and scores what offline
scores, within the frames it reports dropped; and the benchmark of the rclpy node against the
DDS-mode node runs end to end and prints its figures."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest

import ros_tier
from ros_tier import CHECKPOINT, REPO

ros_tier.require_ros()

DOMAIN = ros_tier.domain_for(7)


def run(*args: str, timeout: float = 600) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, *args], cwd=REPO, capture_output=True, text=True, timeout=timeout,
                          env=ros_tier.ros_env(DOMAIN))


@pytest.fixture(scope="module")
def bag(tmp_path_factory):
    from cicld_core.synth import generate_frame, write_frame
    from cicld_ros.bags.bag import write_cityscapes_bag

    root = tmp_path_factory.mktemp("drive")
    for index in range(4):
        write_frame(root / "drive", "cityscapes", "val", index, generate_frame(5, index, (640, 320), "target", "val"))
    write_cityscapes_bag(root / "drive", "val", root / "bag", progress=False)
    return root / "bag"


def test_live_replay_through_the_rclpy_node_scores_what_offline_scores(bag, tmp_path):
    reports = {}
    for mode, extra in (("offline", []), ("live", ["--transport", "rclpy", "--domain-id", str(DOMAIN)])):
        done = run("-m", "cicld_ros.replay_eval", "--bag", str(bag), "--checkpoint", str(CHECKPOINT), "--mode", mode,
                   "--steps", "1", "--report", str(tmp_path / mode), "--no-progress", *extra)
        assert done.returncode == 0, done.stderr[-3000:]
        reports[mode] = json.loads((tmp_path / mode / "report.json").read_text())
    live, offline = reports["live"], reports["offline"]
    assert live["transport"] == "rclpy" and live["frames_sent"] == 4
    assert live["frames"] + live["frames_dropped"] == 4 and live["frames"] >= 1
    if live["frames_dropped"] == 0:  # every frame answered: the node's masks are the offline masks
        assert live["miou"] == offline["miou"] and live["per_class_iou"] == offline["per_class_iou"]
    assert 0 < live["latency_ms"]["p50"] <= live["latency_ms"]["p99"]


def test_the_rclpy_node_benchmark_prints_conversions_and_both_transports(tmp_path):
    out = tmp_path / "bench.json"
    done = run(str(REPO / "benchmarks/rclpy_node.py"), "--frames", "2", "--size", "320x160", "--repeats", "3",
               "--domain-id", str(DOMAIN + 100), "--json", str(out))
    assert done.returncode == 0, done.stderr[-3000:]
    figures = json.loads(out.read_text())
    assert set(figures["nodes"]) == {"dds", "rclpy"}
    for transport in figures["nodes"].values():
        assert transport["frames"] + transport["frames_dropped"] == 2
    assert figures["conversions"]["total_per_frame"]["median_ms"] > 0
    assert "frames/s" in done.stdout and "rclpy conversions at 320x160" in done.stdout
