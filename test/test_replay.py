"""Rosbag replay: generator -> bag (both storages) -> offline evaluation equals
python -m cicld_core.evaluate on the same frames; bags from real ROS 2 are read; bad
bags and missing topics fail clearly, without a report."""
from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from cicld_core.model import CICLD, ModelConfig, save_model
from cicld_core.synth import generate_frame, write_frame
from cicld_ros.bags.bag import write_cityscapes_bag
from cicld_ros.bags.bag_reader import BagError, read_frames
from tiny import TINY

REPO = Path(__file__).resolve().parents[1]
# recorded by ROS 2 itself (ros2/rosbag2 test resources, Apache-2.0; see its README)
FIXTURES = REPO / "test/fixtures/rosbag2-real"


@pytest.fixture(scope="module")
def drive(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("drive")
    for index in range(4):
        write_frame(root, "cityscapes", "val", index, generate_frame(5, index, (64, 32), "target", "val"))
    return root


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", *args], cwd=REPO, capture_output=True, text=True, timeout=180)


@pytest.mark.parametrize("storage,compressed", [("mcap", False), ("sqlite3", False), ("mcap", True)])
def test_bag_holds_the_drive_with_paired_ground_truth(drive, tmp_path, storage, compressed):
    bag = tmp_path / "drive_bag"
    assert write_cityscapes_bag(drive, "val", bag, storage=storage, rate=5.0, compressed=compressed,
                                progress=False) == 4
    assert not list(tmp_path.glob(".*partial*")), "no staging folder left behind"
    image_topic, gt_topic, count, frames = read_frames(bag)
    assert (image_topic, gt_topic, count) == (
        "/camera/image_raw/compressed" if compressed else "/camera/image_raw", "/camera/ground_truth", 4)
    frames = list(frames)
    assert [f.image.header.stamp.nanosec for f in frames] == [0, 200_000_000, 400_000_000, 600_000_000]
    assert all(f.ground_truth.header == f.image.header and f.ground_truth.encoding == "mono8" for f in frames)
    with pytest.raises(FileExistsError):
        write_cityscapes_bag(drive, "val", bag, progress=False)


@pytest.mark.parametrize("storage", ["mcap", "sqlite3"])
def test_offline_replay_matches_the_dataset_evaluation(drive, checkpoint, tmp_path, storage):
    bag = tmp_path / "bag"
    done = run("cicld_ros.bag", "--from-cityscapes", str(drive), "--split", "val", "--out", str(bag),
               "--storage", storage)
    assert done.returncode == 0, done.stderr
    report = tmp_path / "report"
    done = run("cicld_ros.replay_eval", "--bag", str(bag), "--checkpoint", str(checkpoint), "--mode", "offline",
               "--steps", "1", "--report", str(report), "--no-progress")
    assert done.returncode == 0, done.stderr
    figures = json.loads((report / "report.json").read_text())
    done = run("cicld_core.evaluate", "--checkpoint", str(checkpoint), "--dataset", "cityscapes", "--root", str(drive),
               "--split", "val", "--steps", "1", "--json", str(tmp_path / "eval.json"), "--no-progress")
    assert done.returncode == 0, done.stderr
    reference = json.loads((tmp_path / "eval.json").read_text())
    assert figures["frames"] == figures["frames_with_ground_truth"] == 4
    assert figures["miou"] == pytest.approx(reference["miou"], abs=0.05)
    for name in ("report.md", "per_class_iou.png", "latency.png", "frames.png"):
        assert (report / name).is_file(), name
    assert "mIoU (19 classes)" in (report / "report.md").read_text()


def test_evaluate_and_offline_replay_default_to_the_checkpoints_size_and_record_how_they_measured(drive, tmp_path):
    """One model, one set of frames, one answer: both commands run the model at the size the checkpoint
    records (not the frames' 64x32), and their reports say so, with K, strength, device and file hash."""
    torch.manual_seed(0)
    checkpoint = tmp_path / "sized.safetensors"
    save_model(checkpoint, CICLD(ModelConfig(**TINY)), input_size=(32, 16))
    sha256 = hashlib.sha256(checkpoint.read_bytes()).hexdigest()
    bag = tmp_path / "bag"
    write_cityscapes_bag(drive, "val", bag, progress=False)
    results = {}
    for size in ([], ["--input-size", "native"]):
        name = "checkpoint" if not size else "native"
        done = run("cicld_ros.replay_eval", "--bag", str(bag), "--checkpoint", str(checkpoint), "--steps", "1",
                   "--strength", "0.5", "--report", str(tmp_path / name), "--no-progress", *size)
        assert done.returncode == 0, done.stderr
        done = run("cicld_core.evaluate", "--checkpoint", str(checkpoint), "--dataset", "cityscapes", "--root",
                   str(drive), "--split", "val", "--steps", "1", "--strength", "0.5", "--json",
                   str(tmp_path / f"{name}.json"), "--no-progress", *size)
        assert done.returncode == 0, done.stderr
        results[name] = (json.loads((tmp_path / name / "report.json").read_text()),
                         json.loads((tmp_path / f"{name}.json").read_text()))
    for name, expected_size in (("checkpoint", [32, 16]), ("native", "native")):
        replay, evaluation = results[name]
        assert replay["miou"] == pytest.approx(evaluation["miou"], abs=0.05), name
        for report in (replay, evaluation):
            assert report["input_size"] == expected_size
            assert (report["steps"], report["strength"], report["device"]) == (1, 0.5, "cpu")
            assert report["checkpoint_sha256"] == sha256
    assert "| model input size | 32x16 |" in (tmp_path / "checkpoint" / "report.md").read_text()
    # the two sizes give two different models' worth of predictions: the default really is the 32x16 one
    assert results["checkpoint"][0]["per_class_iou"] != results["native"][0]["per_class_iou"]


@pytest.mark.parametrize("name", ["mcap_talker", "sqlite3_talker"])
def test_bags_from_real_ros2_are_read_and_a_missing_camera_is_named(name, checkpoint, tmp_path):
    with pytest.raises(BagError, match="no camera topic .* it holds: /topic \\(std_msgs/msg/String, 10\\)"):
        read_frames(FIXTURES / name)
    done = run("cicld_ros.replay_eval", "--bag", str(FIXTURES / name), "--checkpoint", str(checkpoint),
               "--report", str(tmp_path / "r"))
    assert done.returncode == 2 and "/rosout (rcl_interfaces/msg/Log, 10)" in done.stderr
    assert not (tmp_path / "r").exists()


def test_truncated_bag_and_missing_topic_fail_without_a_report(drive, checkpoint, tmp_path):
    bag = tmp_path / "bag"
    write_cityscapes_bag(drive, "val", bag, progress=False)
    with pytest.raises(BagError, match="has no topic /nope"):
        read_frames(bag, image_topic="/nope")
    broken = tmp_path / "broken"
    shutil.copytree(bag, broken)
    data_file = next(broken.glob("*.mcap"))
    data_file.write_bytes(data_file.read_bytes()[: data_file.stat().st_size // 2])
    done = run("cicld_ros.replay_eval", "--bag", str(broken), "--checkpoint", str(checkpoint),
               "--report", str(tmp_path / "r"), "--no-progress")
    assert done.returncode == 2 and ("truncated or damaged" in done.stderr or "cannot be opened" in done.stderr)
    assert not (tmp_path / "r" / "report.json").exists()


def test_live_replay_through_the_node_process_equals_offline(drive, checkpoint, tmp_path):
    bag = tmp_path / "bag"
    write_cityscapes_bag(drive, "val", bag, progress=False)
    reports = {}
    for mode in ("offline", "live"):
        done = run("cicld_ros.replay_eval", "--bag", str(bag), "--checkpoint", str(checkpoint), "--mode", mode,
                   "--steps", "1", "--report", str(tmp_path / mode), "--no-progress",
                   *(["--domain-id", str(150 + (hash(str(tmp_path)) % 50))] if mode == "live" else []))
        assert done.returncode == 0, done.stderr[-3000:]
        reports[mode] = json.loads((tmp_path / mode / "report.json").read_text())
    live, offline = reports["live"], reports["offline"]
    assert live["frames_sent"] == 4 and live["frames_dropped"] == 0 and live["frames"] == 4
    # at a rate the node sustains, the node's masks are the offline masks: a difference is a bug
    assert live["miou"] == offline["miou"]
    assert live["per_class_iou"] == offline["per_class_iou"]
    assert 0 < live["latency_ms"]["p50"] <= live["latency_ms"]["p99"]
    assert "point_miou" not in live and "point_miou" not in offline  # no LiDAR in this bag


def test_a_bag_without_ground_truth_gives_timing_only(drive, checkpoint, tmp_path):
    from rosbags.rosbag2 import Writer
    from rosbags.typesys import Stores, get_typestore

    full = tmp_path / "full"
    write_cityscapes_bag(drive, "val", full, progress=False)
    camera_only = tmp_path / "camera_only"
    _, _, _, frames = read_frames(full)
    from cicld_ros.messages import cdr
    with Writer(camera_only, version=9) as writer:
        connection = writer.add_connection("/front/image_raw", "sensor_msgs/msg/Image",
                                           typestore=get_typestore(Stores.ROS2_HUMBLE))
        for frame in frames:
            writer.write(connection, frame.bag_time_ns, cdr.encode_image(frame.image))
    done = run("cicld_ros.replay_eval", "--bag", str(camera_only), "--checkpoint", str(checkpoint),
               "--report", str(tmp_path / "r"), "--no-progress")
    assert done.returncode == 0, done.stderr
    figures = json.loads((tmp_path / "r/report.json").read_text())
    assert figures["frames"] == 4 and figures["frames_with_ground_truth"] == 0 and "miou" not in figures
    assert figures["latency_ms"]["p50"] > 0 and "timing only" in done.stdout


def rewrite_bag(source: Path, out: Path, change=lambda index, frame: frame.image) -> None:
    """The camera and ground-truth messages of ``source``, the camera ones passed through ``change``."""
    from rosbags.rosbag2 import Writer
    from rosbags.typesys import Stores, get_typestore

    from cicld_ros.messages import cdr

    store = get_typestore(Stores.ROS2_HUMBLE)
    _, _, _, frames = read_frames(source)
    with Writer(out, version=9) as writer:
        images = writer.add_connection("/camera/image_raw", "sensor_msgs/msg/Image", typestore=store)
        truths = writer.add_connection("/camera/ground_truth", "sensor_msgs/msg/Image", typestore=store)
        for index, frame in enumerate(frames):
            writer.write(images, frame.bag_time_ns, cdr.encode_image(change(index, frame)))
            writer.write(truths, frame.bag_time_ns, cdr.encode_image(frame.ground_truth))


def test_malformed_frames_are_counted_in_both_modes_and_live_does_not_wait_for_them(drive, checkpoint, tmp_path):
    from dataclasses import replace

    full = tmp_path / "full"
    write_cityscapes_bag(drive, "val", full, progress=False)
    bag = tmp_path / "half_malformed"
    # frames 1 and 3 hold half their pixels: the node would refuse them (short_data)
    rewrite_bag(full, bag, lambda index, frame: replace(frame.image, data=bytes(frame.image.data)[
        : len(frame.image.data) // 2]) if index % 2 else frame.image)
    reports = {}
    for mode in ("offline", "live"):
        done = run("cicld_ros.replay_eval", "--bag", str(bag), "--checkpoint", str(checkpoint), "--mode", mode,
                   "--steps", "1", "--report", str(tmp_path / mode), "--no-progress", "--frame-timeout", "60",
                   *(["--domain-id", str(150 + (hash(str(tmp_path)) % 50))] if mode == "live" else []))
        assert done.returncode == 0, done.stderr[-3000:]
        reports[mode] = (json.loads((tmp_path / mode / "report.json").read_text()), done)
    (live, live_run), (offline, offline_run) = reports["live"], reports["offline"]
    assert offline["malformed_frames"] == live["malformed_frames"] == 2
    assert offline["frames"] == live["frames"] == 2
    assert live["frames_sent"] == 2 and live["frames_dropped"] == 0
    assert live["miou"] == offline["miou"]
    for done in (live_run, offline_run):
        assert done.stderr.count("skipped: data holds") == 2, done.stderr[-3000:]
        assert "(2 malformed" in done.stdout


@pytest.mark.parametrize("option, value", [("--rate", "-5"), ("--rate", "0"), ("--rate", "nan"),
                                           ("--frame-timeout", "-1"), ("--frame-timeout", "0"),
                                           ("--startup-timeout", "inf")])
def test_live_replay_refuses_rates_and_timeouts_that_are_not_positive(checkpoint, tmp_path, capsys, option, value):
    from cicld_ros.replay.replay_eval import main

    with pytest.raises(SystemExit) as stopped:
        main(["--bag", str(tmp_path / "no_bag"), "--checkpoint", str(checkpoint), "--mode", "live",
              "--report", str(tmp_path / "r"), option, value])
    assert stopped.value.code == 2
    assert f"error: argument {option}: must be a positive number, got {value}" in capsys.readouterr().err


def test_an_empty_bag_stops_both_modes_with_the_same_message(checkpoint, tmp_path, capsys):
    from rosbags.rosbag2 import Writer
    from rosbags.typesys import Stores, get_typestore

    from cicld_ros.replay.replay_eval import main

    bag = tmp_path / "empty"
    with Writer(bag, version=9) as writer:
        writer.add_connection("/camera/image_raw", "sensor_msgs/msg/Image", typestore=get_typestore(Stores.ROS2_HUMBLE))
    errors = []
    for mode in ("offline", "live"):
        assert main(["--bag", str(bag), "--checkpoint", str(checkpoint), "--mode", mode, "--no-progress",
                     "--report", str(tmp_path / mode)]) == 2
        errors.append(capsys.readouterr().err)
        assert not (tmp_path / mode).exists()
    assert errors[0] == errors[1] == f"error: bag {bag} holds no frames on /camera/image_raw: nothing to replay\n"


@pytest.mark.parametrize("option, value, message", [
    ("--rate", "1e-9", "--rate must be in 0.01..1000 frames/s, got 1e-09"),
    ("--rate", "nan", "--rate must be in 0.01..1000 frames/s, got nan"),
    ("--rate", "1e6", "--rate must be in 0.01..1000 frames/s, got 1e+06"),
    ("--max-frames", "-1", "--max-frames must be at least 1, got -1 (leave it out to write every frame)"),
    ("--max-frames", "0", "--max-frames must be at least 1, got 0"),
])
def test_bag_refuses_absurd_rates_and_frame_counts(drive, tmp_path, capsys, option, value, message):
    from cicld_ros.bags.bag import main

    out = tmp_path / "bag"
    assert main(["--from-cityscapes", str(drive), "--out", str(out), option, value]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {message}") and err.count("\n") == 1, err
    assert not out.exists() and not list(tmp_path.glob(".*partial*"))
    assert main(["--from-cityscapes", str(drive), "--out", str(out), "--max-frames", "2", "--rate", "0.01"]) == 0
    assert "2 frames" in capsys.readouterr().out
    assert [f.image.header.stamp.sec for f in read_frames(out)[3]] == [1_700_000_000, 1_700_000_100]


def test_live_replay_checks_the_domain_before_starting_a_node(drive, checkpoint, tmp_path, capsys):
    from cicld_ros.replay.replay_eval import main

    bag = tmp_path / "bag"
    write_cityscapes_bag(drive, "val", bag, progress=False)
    assert main(["--bag", str(bag), "--checkpoint", str(checkpoint), "--mode", "live", "--domain-id", "500",
                 "--no-progress", "--report", str(tmp_path / "r")]) == 2
    assert capsys.readouterr().err == "error: --domain-id 500 is out of range: ROS 2 DDS domains are 0..232\n"
    assert not (tmp_path / "r").exists()


def test_a_node_that_exits_at_start_up_is_named_with_its_output(tmp_path):
    from cicld_ros.replay.node_process import node_process

    missing = tmp_path / "missing.safetensors"
    with node_process({"checkpoint": str(missing)}, domain=3) as node:
        with pytest.raises(BagError, match=r"the node exited at start-up: .*missing\.safetensors"):
            node.wait_until(lambda: False, timeout=120, what="start")
    assert node.process.returncode == 2


# ---- the LiDAR topics of a generated drive, and point-level scores ----------------------------

@pytest.fixture(scope="module")
def lidar_drive(tmp_path_factory) -> Path:
    from cicld_core.synth import LidarSpec, write_sensors

    root = tmp_path_factory.mktemp("lidar_drive")
    for index in range(3):
        frame = generate_frame(6, index, (128, 64), "target", "val", lidar=LidarSpec(beams=16, azimuth_steps=720))
        write_frame(root, "cityscapes", "val", index, frame)
        write_sensors(root, "cityscapes", "val", index, frame.sensors)
    return root


def mask_of(image) -> "np.ndarray":
    import numpy as np

    return np.frombuffer(bytes(image.data), np.uint8, image.height * image.width).reshape(image.height, image.width)


def test_a_lidar_bag_holds_clouds_camera_info_and_tf_static_for_every_distro(lidar_drive, tmp_path):
    import numpy as np
    from rosbags.rosbag2 import Reader

    from cicld_core.synth import read_sensors
    from cicld_ros.messages import cdr
    from cicld_ros.messages.pointcloud import read_cloud
    from test_bag_distros import DECODERS, metadata_of

    bag = tmp_path / "lidar_bag"
    result = run("cicld_ros.bag", "--from-cityscapes", str(lidar_drive), "--split", "val", "--out", str(bag), "--lidar")
    assert result.returncode == 0, result.stderr
    for decode in DECODERS.values():  # Humble's and Jazzy's rosbag2 read its metadata (version 8)
        assert len(decode(metadata_of(bag))) == 6
    with Reader(bag) as reader:
        counts = {c.topic: (c.msgtype, c.msgcount) for c in reader.connections}
        assert counts == {"/camera/image_raw": ("sensor_msgs/msg/Image", 3),
                          "/camera/ground_truth": ("sensor_msgs/msg/Image", 3),
                          "/camera/camera_info": ("sensor_msgs/msg/CameraInfo", 3),
                          "/lidar/points": ("sensor_msgs/msg/PointCloud2", 3),
                          "/lidar/ground_truth": ("sensor_msgs/msg/PointCloud2", 3),
                          "/tf_static": ("tf2_msgs/msg/TFMessage", 1)}
        first = {c.topic: raw for c, _, raw in reader.messages() if c.topic in ("/lidar/points", "/lidar/ground_truth")}
    sensors = read_sensors(lidar_drive, "cityscapes", "val", 2)  # the last message of each topic is frame 2
    points, truth = cdr.decode_pointcloud2(first["/lidar/points"]), read_cloud(cdr.decode_pointcloud2(first["/lidar/ground_truth"]))
    assert [f.name for f in points.fields] == ["x", "y", "z", "intensity"] and points.header.frame_id == "lidar"
    np.testing.assert_array_equal(read_cloud(points).xyz, sensors.points)
    np.testing.assert_array_equal(truth.points["label"], sensors.train_ids)
    # the replay reader still finds the camera and its ground truth among the new topics
    assert read_frames(bag)[:3] == ("/camera/image_raw", "/camera/ground_truth", 3)


def test_point_scores_are_perfect_for_the_ground_truth_masks_and_absent_without_lidar(lidar_drive, drive, tmp_path):
    """The ground-truth masks paint the ground-truth clouds exactly (the geometry is right),
    a wrong mask scores lower, and a bag without LiDAR has no point scores."""
    import numpy as np

    from cicld_ros.replay.replay_points import PointScores

    bag = tmp_path / "lidar_bag"
    assert run("cicld_ros.bag", "--from-cityscapes", str(lidar_drive), "--out", str(bag), "--lidar").returncode == 0
    perfect, wrong = PointScores.from_bag(bag, 19), PointScores.from_bag(bag, 19)
    for frame in read_frames(bag)[3]:
        perfect.add(frame.image.header, mask_of(frame.ground_truth))
        wrong.add(frame.image.header, np.zeros_like(mask_of(frame.ground_truth)))
    figures = perfect.figures()
    assert figures["point_miou"] == 100.0 and figures["point_clouds_scored"] == 3 and figures["points_scored"] > 300
    assert figures["point_ground_truth_topic"] == "/lidar/ground_truth" and wrong.figures()["point_miou"] < 50
    plain = tmp_path / "plain_bag"
    write_cityscapes_bag(drive, "val", plain, progress=False)
    assert PointScores.from_bag(plain) is None


def test_replay_reports_point_miou_next_to_pixel_miou_in_both_modes(lidar_drive, checkpoint, tmp_path):
    """A bag with LiDAR ground truth: each mask paints the ground-truth cloud of its stamp, and
    the point mIoU is reported beside the pixel mIoU; the node's masks paint what offline's do."""
    bag = tmp_path / "lidar_bag"
    assert run("cicld_ros.bag", "--from-cityscapes", str(lidar_drive), "--out", str(bag), "--lidar").returncode == 0
    reports, outputs = {}, {}
    for mode in ("offline", "live"):
        done = run("cicld_ros.replay_eval", "--bag", str(bag), "--checkpoint", str(checkpoint), "--mode", mode,
                   "--steps", "1", "--report", str(tmp_path / mode), "--no-progress",
                   *(["--domain-id", str(100 + (hash(str(tmp_path)) % 50))] if mode == "live" else []))
        assert done.returncode == 0, done.stderr[-3000:]
        reports[mode], outputs[mode] = json.loads((tmp_path / mode / "report.json").read_text()), done.stdout
    live, offline = reports["live"], reports["offline"]
    assert offline["point_clouds_scored"] == 3 and offline["points_scored"] > 300
    assert offline["point_ground_truth_topic"] == "/lidar/ground_truth"
    assert 0 <= offline["point_miou"] <= 100 and set(offline["point_per_class_iou"]) == set(offline["per_class_iou"])
    assert live["frames_dropped"] == 0
    for key in ("point_miou", "point_per_class_iou", "points_scored", "point_clouds_scored"):
        assert live[key] == offline[key], key
    for mode in ("offline", "live"):
        assert f"point mIoU {offline['point_miou']:.2f} ({offline['points_scored']} LiDAR points)" in outputs[mode]
        markdown = (tmp_path / mode / "report.md").read_text()
        assert "| point mIoU of the painted LiDAR cloud |" in markdown and "| class | IoU | point IoU |" in markdown
