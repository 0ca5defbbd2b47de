"""A CamVid drive through the bag maker and replay evaluation: frames in time order as the
camera's own JPEGs, ground truth scored with protocol 11, the node (DDS, its own process) at
a model input size equal to offline; and, when CICLD_CAMVID names the real data, the real
val drive through the bag maker."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from cicld_core.labels import CAMVID_CLASS_NAMES, CAMVID_PROTOCOL
from cicld_ros.bags.bag import camvid_drive, write_cityscapes_bag
from cicld_ros.bags.bag_reader import read_frames
from test_camvid import write_camvid

REPO = Path(__file__).resolve().parents[1]
CAMVID = os.environ.get("CICLD_CAMVID")


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", *args], cwd=REPO, capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def camvid_root(tmp_path_factory) -> Path:
    """Three frames at CamVid's own 480x360, two sequences."""
    root = tmp_path_factory.mktemp("camvid")
    write_camvid(root, "val", 3, size=(480, 360), seed=3)
    first = root / "val" / "0016E5_00000.jpg"
    first.rename(root / "val" / "0001TP_00000.jpg")
    (root / "valannot" / "0016E5_00000.png").rename(root / "valannot" / "0001TP_00000.png")
    return root


def test_a_camvid_bag_holds_the_recorded_jpegs_in_time_order(camvid_root, tmp_path):
    bag = tmp_path / "bag"
    done = run("cicld_ros.bag", "--from-camvid", str(camvid_root), "--split", "val", "--out", str(bag), "--compressed")
    assert done.returncode == 0, done.stderr
    assert "3 frames at 1 Hz" in done.stdout  # CamVid's labelled frames are a second apart
    image_topic, gt_topic, count, frames = read_frames(bag)
    assert (image_topic, count) == ("/camera/image_raw/compressed", 3)
    frames = list(frames)
    assert [f.image.header.stamp.sec - frames[0].image.header.stamp.sec for f in frames] == [0, 1, 2]
    stems = [s.name for s in camvid_drive(camvid_root, "val").samples]
    assert stems == ["0001TP_00000", "0016E5_00030", "0016E5_00060"]
    for frame, stem in zip(frames, stems):
        assert frame.image.format == "jpeg"
        assert bytes(frame.image.data) == (camvid_root / "val" / f"{stem}.jpg").read_bytes()
    one = tmp_path / "one"
    done = run("cicld_ros.bag", "--from-camvid", str(camvid_root), "--split", "val", "--out", str(one),
               "--sequence", "0016E5")
    assert done.returncode == 0 and read_frames(one)[2] == 2
    done = run("cicld_ros.bag", "--from-camvid", str(camvid_root), "--split", "val", "--out", str(tmp_path / "x"),
               "--sequence", "0006R0")
    assert done.returncode == 2 and "no sequence '0006R0'; it holds 0001TP, 0016E5" in done.stderr


def test_live_replay_of_a_camvid_drive_at_an_input_size_equals_offline(camvid_root, checkpoint, tmp_path):
    bag = tmp_path / "bag"
    write_cityscapes_bag(camvid_root, "val", bag, compressed=True, rate=1.0, progress=False,
                         dataset=camvid_drive(camvid_root, "val"))
    reports = {}
    for mode in ("offline", "live"):
        done = run("cicld_ros.replay_eval", "--bag", str(bag), "--checkpoint", str(checkpoint), "--mode", mode,
                   "--steps", "1", "--protocol", str(CAMVID_PROTOCOL), "--input-size", "64x48",
                   "--report", str(tmp_path / mode), "--no-progress",
                   *(["--domain-id", str(150 + (hash(str(tmp_path)) % 50))] if mode == "live" else []))
        assert done.returncode == 0, done.stderr[-3000:]
        reports[mode] = json.loads((tmp_path / mode / "report.json").read_text())
    live, offline = reports["live"], reports["offline"]
    assert live["frames"] == live["frames_with_ground_truth"] == 3 and live["frames_dropped"] == 0
    assert set(live["per_class_iou"]) == set(CAMVID_CLASS_NAMES)
    # the node resizes to 64x48 and back as offline does: the same masks, the same scores
    assert live["miou"] == offline["miou"] and live["per_class_iou"] == offline["per_class_iou"]
    assert "mIoU (11 classes)" in (tmp_path / "live" / "report.md").read_text()


@pytest.mark.skipif(not CAMVID, reason="CICLD_CAMVID is not set: no CamVid copy on this machine")
def test_the_real_val_drive_becomes_a_bag_in_time_order(tmp_path):
    bag = tmp_path / "camvid_val"
    assert write_cityscapes_bag(Path(CAMVID), "val", bag, compressed=True, rate=1.0, progress=False, max_frames=5,
                                dataset=camvid_drive(Path(CAMVID), "val")) == 5
    frames = list(read_frames(bag)[3])
    assert [bytes(f.image.data)[:2] for f in frames] == [b"\xff\xd8"] * 5  # JPEG start-of-image
    truth = np.frombuffer(bytes(frames[0].ground_truth.data), np.uint8)
    assert truth.size == 480 * 360


def test_the_demo_replays_a_camvid_drive_through_the_node(camvid_root, checkpoint, tmp_path):
    done = subprocess.run([sys.executable, "-m", "cicld_ros.demo", "--camvid", str(camvid_root), "--checkpoint",
                           str(checkpoint), "--steps", "1", "--out", str(tmp_path)], cwd=REPO, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "(CamVid's 11 classes) on 3 frames, K = 1" in done.stdout and "0 of 3 frames dropped" in done.stdout
    report = json.loads((tmp_path / "camvid_report" / "report.json").read_text())
    assert report["protocol"] == CAMVID_PROTOCOL and report["frames"] == 3
    assert (tmp_path / "camvid_report" / "frames.png").is_file()
