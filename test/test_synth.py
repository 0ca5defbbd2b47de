"""The procedural street-scene generator: determinism, exact labels, class coverage, the
real dataset file formats, the CLI, and a measurable gap between the two styles."""
from __future__ import annotations

import json
import subprocess
import sys
from contextlib import contextmanager
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from cicld_core.data import CityscapesDataset, GTA5Dataset, SynthiaDataset
from cicld_core.labels import (
    CITYSCAPES_ID_SET, CITYSCAPES_LUT, CLASS_NAMES, IGNORE_INDEX, LABEL_ID_PALETTE, NUM_TRAIN_CLASSES, PALETTE,
    SYNTHIA_ID_TO_TRAIN_ID, TRAIN_ID_BY_NAME, TRAIN_ID_TO_SYNTHIA_ID, train_ids_to_label_ids,
)
from cicld_core.painting import PinholeCamera, lidar_to_camera_matrix, paint_points
from cicld_core.synth import LidarSpec, generate_frame, image_relpath, read_sensors, write_frame
from cicld_core.synth.render import LOOKS
from cicld_core.synth.scene import GEOMETRY_STREAM, build_scene, frame_rng, make_camera, sample_layout
from cicld_core.synth.stats import measure_style
from cicld_core.synth.styles import V1_CONTENT, V2_TARGET_CONTENT, content_style

SMALL = (128, 64)
REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def coverage_frames():
    return [generate_frame(7, i, (256, 128), "source") for i in range(60)]


# ---- determinism ---------------------------------------------------------------------

@pytest.mark.parametrize("style", ["source", "target"])
def test_same_arguments_give_identical_frames(style):
    a = generate_frame(3, 5, SMALL, style, "train")
    b = generate_frame(3, 5, SMALL, style, "train")
    assert a.image.tobytes() == b.image.tobytes()
    assert a.train_ids.tobytes() == b.train_ids.tobytes()
    assert a.instance_ids.tobytes() == b.instance_ids.tobytes()
    assert a.image.dtype == np.uint8 and a.image.shape == (64, 128, 3)
    assert a.train_ids.dtype == np.uint8 and a.train_ids.shape == (64, 128)
    assert a.instance_ids.dtype == np.int32


def test_other_seed_index_or_split_give_other_streets():
    base = generate_frame(3, 5, SMALL, "source", "train").train_ids
    for other in (generate_frame(4, 5, SMALL, "source", "train"), generate_frame(3, 6, SMALL, "source", "train"),
                  generate_frame(3, 5, SMALL, "source", "val")):
        assert (other.train_ids != base).mean() > 0.05


def test_written_files_are_byte_identical(tmp_path):
    for run in ("a", "b"):
        for i in range(2):
            write_frame(tmp_path / run, "cityscapes", "train", i, generate_frame(1, i, SMALL, "target"))
    files_a = sorted(p.relative_to(tmp_path / "a") for p in (tmp_path / "a").rglob("*.png"))
    assert len(files_a) == 10
    for rel in files_a:
        assert (tmp_path / "a" / rel).read_bytes() == (tmp_path / "b" / rel).read_bytes(), rel


def test_geometry_does_not_depend_on_style_in_version_1():
    for index in range(4):
        src, tgt = generate_frame(11, index, SMALL, "source"), generate_frame(11, index, SMALL, "target")
        np.testing.assert_array_equal(src.train_ids, tgt.train_ids)
        np.testing.assert_array_equal(src.instance_ids, tgt.instance_ids)
        assert not np.array_equal(src.image, tgt.image)


def test_layout_draws_do_not_depend_on_size():
    # The same street at two sizes: the geometry stream is consumed identically, and the
    # same objects (instances) are built. Only tiny windows are culled by pixel size.
    states, objects = [], []
    for size in ((128, 64), (1024, 512)):
        rng = frame_rng(2, "train", 9, GEOMETRY_STREAM)
        layout = sample_layout(rng)
        shapes = build_scene(layout, make_camera(layout, size), rng)
        states.append(rng.bit_generator.state)
        objects.append(sorted({(s.train_id, s.instance) for s in shapes if s.instance}))
    assert states[0] == states[1]
    assert objects[0] == objects[1] and len(objects[0]) > 0


def test_bad_arguments_are_rejected():
    with pytest.raises(ValueError, match="style"):
        generate_frame(0, 0, SMALL, "cartoon")
    with pytest.raises(ValueError, match="split"):
        generate_frame(0, 0, SMALL, "source", "test")
    with pytest.raises(ValueError, match="size"):
        generate_frame(0, 0, (4, 4), "source")
    with pytest.raises(ValueError, match=">= 0"):
        generate_frame(-1, 0, SMALL, "source")


# ---- labels --------------------------------------------------------------------------

def test_every_class_appears_often_and_none_dominates(coverage_frames):
    present = np.zeros(NUM_TRAIN_CLASSES)
    pixels = np.zeros(256)
    for frame in coverage_frames:
        counts = np.bincount(frame.train_ids.ravel(), minlength=256)
        present += counts[:NUM_TRAIN_CLASSES] > 0
        pixels += counts
    share = present / len(coverage_frames)
    for class_id, name in enumerate(CLASS_NAMES):
        assert share[class_id] >= (0.1 if name == "train" else 0.2), f"{name} in only {share[class_id]:.0%} of frames"
    pixel_share = pixels[:NUM_TRAIN_CLASSES] / pixels.sum()
    assert pixel_share.max() < 0.45, dict(zip(CLASS_NAMES, pixel_share.round(3)))
    assert pixels[IGNORE_INDEX] / pixels.sum() < 0.05
    assert set(np.flatnonzero(pixels)) <= set(range(NUM_TRAIN_CLASSES)) | {IGNORE_INDEX}


def test_instances_belong_to_instance_classes_and_one_class_each(coverage_frames):
    instance_classes = {CLASS_NAMES.index(n) for n in ("person", "rider", "car", "truck", "bus", "train", "motorcycle", "bicycle")}
    seen_rider_with_vehicle = False
    for frame in coverage_frames:
        inst, ids = frame.instance_ids, frame.train_ids
        assert set(np.unique(ids[inst > 0])) <= instance_classes
        assert set(np.unique(ids[inst == 0])).isdisjoint(instance_classes)
        for k in np.unique(inst[inst > 0]):
            assert len(np.unique(ids[inst == k])) == 1
        if (ids == CLASS_NAMES.index("rider")).any() and np.isin(ids, [17, 18]).any():
            seen_rider_with_vehicle = True
    assert seen_rider_with_vehicle


def test_source_labels_line_up_with_image_edges(coverage_frames):
    # The source style is flat-coloured per shape, so wherever the label changes the
    # colour must change too: a label drawn from other shapes or with other rounding
    # (even one pixel off) breaks this at many boundary pixels.
    mismatched = total = 0
    for frame in coverage_frames[:20]:
        img = frame.image.astype(np.int16)
        for axis in (0, 1):
            label_edge = np.diff(frame.train_ids.astype(np.int16), axis=axis) != 0
            colour_edge = np.abs(np.diff(img, axis=axis)).sum(-1) > 0
            total += label_edge.sum()
            mismatched += (label_edge & ~colour_edge).sum()
    assert total > 1000
    assert mismatched / total < 0.002


def test_source_pixels_have_their_class_colours():
    # Every pixel of class c is near a source colour of one of c's materials (times a
    # flat shade in [0.5, 1]); the materials of each class come from the scene shapes.
    from cicld_core.synth.scene import rasterise

    for index in range(6):
        rng = frame_rng(5, "train", index, GEOMETRY_STREAM)
        layout = sample_layout(rng)
        camera = make_camera(layout, (256, 128))
        shapes = build_scene(layout, camera, rng)
        frame = generate_frame(5, index, (256, 128), "source")
        np.testing.assert_array_equal(rasterise(shapes, (256, 128), camera.horizon).train_ids, frame.train_ids)
        for class_id in np.unique(frame.train_ids):
            options = np.array([c for s in shapes if s.train_id == class_id for c in LOOKS[s.material].source], float)
            pixels = frame.image[frame.train_ids == class_id].astype(float)
            # Distance from each pixel to each segment {option * t, t in [0.5, 1]}.
            t = np.clip((pixels @ options.T) / (options ** 2).sum(1), 0.5, 1.0)
            dist = np.linalg.norm(pixels[:, None, :] - t[..., None] * options[None], axis=-1).min(1)
            assert (dist < 90).mean() > 0.99, f"class {CLASS_NAMES[class_id] if class_id < 19 else class_id}"


# ---- file formats --------------------------------------------------------------------

def test_cityscapes_layout_has_the_real_formats(tmp_path):
    frame = generate_frame(2, 0, SMALL, "target", "train")
    image_path = write_frame(tmp_path, "cityscapes", "train", 0, frame)
    assert image_path == tmp_path / "leftImg8bit/train/aachen/aachen_000000_000000_leftImg8bit.png"
    gt = tmp_path / "gtFine/train/aachen/aachen_000000_000000_gtFine_"
    with Image.open(image_path) as im:
        assert im.mode == "RGB"
    with Image.open(f"{gt}labelIds.png") as im:
        assert im.mode == "L"
        label_ids = np.asarray(im)
    with Image.open(f"{gt}labelTrainIds.png") as im:
        assert im.mode == "L"
        train_ids = np.asarray(im)
    np.testing.assert_array_equal(train_ids, frame.train_ids)
    assert set(np.unique(label_ids)) <= CITYSCAPES_ID_SET
    np.testing.assert_array_equal(CITYSCAPES_LUT[label_ids], train_ids)
    with Image.open(f"{gt}color.png") as im:
        assert im.mode == "RGBA"
        rgba = np.asarray(im)
    assert (rgba[..., 3] == 255).all()
    np.testing.assert_array_equal(rgba[..., :3], LABEL_ID_PALETTE[label_ids])
    instance = cv2.imread(f"{gt}instanceIds.png", cv2.IMREAD_UNCHANGED)
    assert instance.dtype == np.uint16 and instance.ndim == 2
    is_instance = instance >= 1000
    np.testing.assert_array_equal(is_instance, frame.instance_ids > 0)
    np.testing.assert_array_equal(np.where(is_instance, instance // 1000, instance), label_ids)
    # k counts per class from 0, one value per instance
    for k in np.unique(frame.instance_ids[frame.instance_ids > 0]):
        assert len(np.unique(instance[frame.instance_ids == k])) == 1
    val_path = write_frame(tmp_path, "cityscapes", "val", 60, frame)
    assert val_path.parent.name in ("frankfurt", "lindau", "munster")
    loaded = CityscapesDataset(tmp_path, split="train")
    np.testing.assert_array_equal(loaded.load_raw(0)[1], frame.train_ids)


def test_cityscapes_frames_form_drives():
    names = [image_relpath("cityscapes", "train", i) for i in range(60)]
    cities = [n.split("/")[2] for n in names]
    assert cities[0] == cities[1] == "aachen" and len(set(cities)) >= 2
    changes = sum(a != b for a, b in zip(cities, cities[1:]))
    assert changes == len(set(cities)) - 1  # each city is one consecutive block
    assert len(set(names)) == 60


def test_gta5_layout_has_palette_labels(tmp_path):
    frame = generate_frame(2, 0, SMALL, "source")
    image_path = write_frame(tmp_path, "gta5", "train", 0, frame)
    assert image_path == tmp_path / "images/00001.png"
    with Image.open(tmp_path / "labels/00001.png") as im:
        assert im.mode == "P"
        ids = np.asarray(im)
        palette = np.array(im.getpalette()[: 256 * 3]).reshape(-1, 3)
    assert set(np.unique(ids)) <= CITYSCAPES_ID_SET
    np.testing.assert_array_equal(palette, LABEL_ID_PALETTE)
    np.testing.assert_array_equal(ids, train_ids_to_label_ids(frame.train_ids))
    # the GTA5 loader turns the written labelIds back into exactly the generator's trainIds
    np.testing.assert_array_equal(GTA5Dataset(tmp_path).load_raw(0)[1], frame.train_ids)
    np.testing.assert_array_equal(GTA5Dataset(tmp_path)[0]["label"].numpy(), frame.train_ids)
    # val frames get their own file numbers, so both splits can share a root
    assert write_frame(tmp_path, "gta5", "val", 0, frame).name != image_path.name


def test_synthia_layout_has_16bit_labels(tmp_path):
    frame = generate_frame(2, 0, SMALL, "source")
    image_path = write_frame(tmp_path, "synthia", "train", 0, frame)
    assert image_path == tmp_path / "RGB/0000000.png"
    raw = cv2.imread(str(tmp_path / "GT/LABELS/0000000.png"), cv2.IMREAD_UNCHANGED)
    assert raw.dtype == np.uint16 and raw.shape == (64, 128, 3)
    lut = np.zeros(256, np.uint16)
    for train_id, synthia_id in TRAIN_ID_TO_SYNTHIA_ID.items():
        lut[train_id] = synthia_id
    np.testing.assert_array_equal(raw[..., 2], lut[frame.train_ids])
    np.testing.assert_array_equal(raw[..., 1], frame.instance_ids)
    assert (raw[..., 0] == 0).all()
    colour = cv2.imread(str(tmp_path / "GT/COLOR/0000000.png"), cv2.IMREAD_UNCHANGED)
    assert colour.dtype == np.uint8 and colour.shape == (64, 128, 3)
    np.testing.assert_array_equal(colour[..., ::-1], PALETTE[frame.train_ids])
    # Synthia has no terrain, truck or train: the loader must give those 255, the rest unchanged
    in_synthia = np.isin(frame.train_ids, list(SYNTHIA_ID_TO_TRAIN_ID.values()))
    expected = np.where(in_synthia, frame.train_ids, IGNORE_INDEX)
    np.testing.assert_array_equal(SynthiaDataset(tmp_path).load_raw(0)[1], expected)


# ---- CLI -----------------------------------------------------------------------------

def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "cicld_core.synth", *args], cwd=REPO,
                          capture_output=True, text=True, timeout=120)


def test_cli_writes_a_dataset_with_info_and_split_list(tmp_path):
    out = tmp_path / "gta"
    result = run_cli("--out", str(out), "--style", "source", "--layout", "gta5", "--num", "3",
                     "--size", "128x64", "--seed", "4", "--split", "val")
    assert result.returncode == 0, result.stderr
    assert "3 source frames" in result.stdout and "frames/s" in result.stdout and "road" in result.stdout
    images = sorted(p.name for p in (out / "images").glob("*.png"))
    assert len(images) == 3 and sorted(p.name for p in (out / "labels").glob("*.png")) == images
    assert (out / "val.txt").read_text().split() == images
    info = json.loads((out / "synth_info.json").read_text())
    assert info["frames"] == 3 and info["args"]["layout"] == "gta5" and info["args"]["seed"] == 4
    assert set(info["class_presence"]) == set(CLASS_NAMES) and info["class_presence"]["road"] == 1.0
    assert info["frames_per_s"] > 0 and "version" in info
    # the files are the API's frames
    expected = generate_frame(4, 1, SMALL, "source", "val")
    with Image.open(out / "images" / images[1]) as im:
        np.testing.assert_array_equal(np.asarray(im), expected.image)


@pytest.mark.parametrize("args, message", [
    (["--size", "1024x"], "WIDTHxHEIGHT"),
    (["--size", "4x4"], "out of range"),
    (["--num", "0"], "at least 1"),
    (["--num", "many"], "whole number"),
    (["--seed", "-3"], "at least 0"),
    (["--style", "cartoon"], "invalid choice"),
    (["--layout", "kitti"], "invalid choice"),
])
def test_cli_rejects_bad_arguments(tmp_path, args, message):
    base = {"--out": str(tmp_path / "x"), "--style": "source", "--layout": "gta5", "--num": "1", "--size": "64x32"}
    for key, value in zip(args[::2], args[1::2]):
        base[key] = value
    result = run_cli(*[t for kv in base.items() for t in kv])
    assert result.returncode != 0
    assert message in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "x").exists()


def test_cli_help_has_an_example():
    result = run_cli("--help")
    assert result.returncode == 0 and "example" in result.stdout and "--layout" in result.stdout


# ---- the domain gap ------------------------------------------------------------------

def test_target_style_differs_measurably_from_source():
    diffs, hf_source, hf_target, sat_source, sat_target = [], [], [], [], []
    for index in range(6):
        src = generate_frame(8, index, (256, 128), "source")
        tgt = generate_frame(8, index, (256, 128), "target")
        diffs.append(np.abs(src.image.astype(float) - tgt.image.astype(float)).mean())
        # High-frequency energy where the source is flat (3x3 neighbourhood of one colour):
        # texture, noise and compression make the target busy there.
        grey_src = cv2.cvtColor(src.image, cv2.COLOR_RGB2GRAY)
        flat = cv2.dilate(grey_src, None) == cv2.erode(grey_src, None)
        assert flat.mean() > 0.3
        for image, store in ((src.image, hf_source), (tgt.image, hf_target)):
            grey = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY).astype(np.float32)
            store.append(np.abs(cv2.Laplacian(grey, cv2.CV_32F))[flat].mean())
        sat_source.append(cv2.cvtColor(src.image, cv2.COLOR_RGB2HSV)[..., 1].mean())
        sat_target.append(cv2.cvtColor(tgt.image, cv2.COLOR_RGB2HSV)[..., 1].mean())
    assert np.mean(diffs) > 20
    assert np.mean(hf_source) == 0 and np.mean(hf_target) > 5.0
    assert np.mean(sat_target) < 0.8 * np.mean(sat_source)


# ---- benchmark versions --------------------------------------------------------------

def frames_digest(frames) -> str:
    import hashlib

    digest = hashlib.sha256()
    for frame in frames:
        for array in (frame.image, frame.train_ids, frame.instance_ids):
            digest.update(array.tobytes())
    return digest.hexdigest()


@contextmanager
def opencv_baseline():
    """Run OpenCV on its baseline code only (no AVX2 / AVX-512 dispatch, no IPP).

    The target look blurs a float32 image (cv2.GaussianBlur) before rounding it to uint8, and
    OpenCV's AVX2/FMA kernel rounds differently from its baseline one: with AVX2 dispatch off
    (OPENCV_CPU_DISABLE=...,AVX2, as on a CPU without it) 60 values of 1 frame of the 24 below
    moved by 1. x86-64's baseline (SSE2) is the same code on every x86-64 CPU, so the digests
    are taken there. Checked: under it the digests are the same with AVX-512 and AVX2
    dispatch on or off, NPY_DISABLE_CPU_FEATURES="X86_V3 X86_V4 AVX512_ICL" (numpy's float64
    sin/cos/exp/log for the geometry) and ATEN_CPU_CAPABILITY=default/avx2/avx512; the labels
    do not depend on it at all (integer rasterisation)."""
    optimized = cv2.useOptimized()
    cv2.setUseOptimized(False)
    try:
        yield
    finally:
        cv2.setUseOptimized(optimized)


DIGEST_SMALL = [(1 + i % 3, i, (256, 128), style, split)
                for style in ("source", "target") for split in ("train", "val") for i in range(6)]
DIGEST_LARGE = [(0, 3, (512, 256), style, "val") for style in ("source", "target")]


def test_version_1_frames_are_byte_identical_to_the_first_release():
    # Digests of the generator before versions existed (commit e5e06f3) run on OpenCV's
    # baseline: every number measured on version-1 data stays reproducible. With AVX2
    # dispatch the first release gave 1ca10ca2... for the small set on this project's
    # machines; that digest is the CPU's, not the generator's.
    with opencv_baseline():
        small = [generate_frame(*args) for args in DIGEST_SMALL]
        large = [generate_frame(*args, version=1) for args in DIGEST_LARGE]
    assert frames_digest(small) == "68d66734f5d8f6de5bc767b0394a94e61c6ea419f1c8f54dc975c0d251956645"
    assert frames_digest(large) == "b209960797974193ef46c5f39afd343c96d126ddc6cedaa9faf1c7c584eb8b50"
    # the CPU's own OpenCV kernels change pixel values only, never a label
    for args, frame in zip(DIGEST_SMALL, small):
        ours = generate_frame(*args)
        assert np.array_equal(ours.train_ids, frame.train_ids) and np.array_equal(ours.instance_ids,
                                                                                 frame.instance_ids), args


def test_version_2_frames_are_byte_identical_to_before_the_scene_split():
    # Digests of the generator before scene.py was split into modules (issue 18, 1e97fa8~1),
    # on OpenCV's baseline: the refactor and the sensor outputs (depth, LiDAR) must not
    # change a pixel of version 2 either.
    with opencv_baseline():
        small = [generate_frame(*args, version=2) for args in DIGEST_SMALL]
        large = [generate_frame(*args, version=2) for args in DIGEST_LARGE]
    assert frames_digest(small) == "986047ee9d395f2861bfbda9ee1ada87ca685152229f43598bce0656d710ee62"
    assert frames_digest(large) == "7fd120c738ce8f9a65757be9541968d5162e4ac298e91a801849028b4fc26308"


def test_version_2_keeps_the_source_and_changes_the_target():
    for index in range(3):
        v1 = generate_frame(6, index, SMALL, "source", version=1)
        v2 = generate_frame(6, index, SMALL, "source", version=2)
        assert frames_digest([v1]) == frames_digest([v2])
        t1, t2 = generate_frame(6, index, SMALL, "target", version=1), generate_frame(6, index, SMALL, "target", version=2)
        assert (t1.train_ids != t2.train_ids).mean() > 0.05  # other content, not just other pixels
        again = generate_frame(6, index, SMALL, "target", version=2)
        assert frames_digest([t2]) == frames_digest([again])
    with pytest.raises(ValueError, match="version"):
        generate_frame(0, 0, SMALL, "target", version=3)


def test_version_2_target_content_is_shifted_by_the_configured_amounts():
    source, target = content_style(2, "source"), content_style(2, "target")
    assert source == V1_CONTENT and target == V2_TARGET_CONTENT and content_style(1, "target") == V1_CONTENT
    # The configured shift itself: a higher camera pitched further down with a wider view,
    # and a street with more persons and bicycles and fewer trucks and buses.
    assert target.mean_cam_height - source.mean_cam_height >= 0.7
    assert source.mean_horizon_frac - target.mean_horizon_frac >= 0.1
    assert source.mean_focal_frac / target.mean_focal_frac >= 1.4
    assert target.expected_pedestrians >= 1.8 * source.expected_pedestrians
    assert target.expected_heavy <= 0.35 * source.expected_heavy
    # What the generated frames show matches those values.
    measured = {style: measure_style(2, style, num=40, size=(128, 64), seed=4) for style in ("source", "target")}
    for style, content in (("source", source), ("target", target)):
        m = measured[style]
        assert abs(m["cam_height_m"] - content.mean_cam_height) < 0.06, (style, m["cam_height_m"])
        assert abs(m["focal_frac"] - content.mean_focal_frac) < 0.03, (style, m["focal_frac"])
        # Read off the labels: far buildings hide the ground's first rows now and then.
        assert -0.01 < m["horizon_frac_from_labels"] - content.mean_horizon_frac < 0.06, (style, m)
        built = m["built_per_frame"]
        assert abs(built["person"] / content.expected_pedestrians - 1) < 0.2, (style, built)
        assert 0.6 < (built["truck"] + built["bus"]) / content.expected_heavy < 1.15, (style, built)
    shift = (measured["source"]["horizon_frac_from_labels"] - measured["target"]["horizon_frac_from_labels"])
    assert abs(shift - (source.mean_horizon_frac - target.mean_horizon_frac)) < 0.04
    # Class frequencies in the labels: persons and bicycles up, trucks and buses down.
    share = {style: measured[style]["pixel_share"] for style in measured}
    assert share["target"]["person"] + share["target"]["bicycle"] > 1.4 * (share["source"]["person"] + share["source"]["bicycle"])
    assert share["target"]["truck"] + share["target"]["bus"] < 0.35 * (share["source"]["truck"] + share["source"]["bus"])
    assert share["target"]["sidewalk"] > 1.5 * share["source"]["sidewalk"]  # wider sidewalks


def test_cli_version_flag(tmp_path):
    for version in ("1", "2"):
        out = tmp_path / f"v{version}"
        result = run_cli("--out", str(out), "--style", "target", "--layout", "gta5", "--num", "1",
                         "--size", "128x64", "--seed", "4", "--version", version)
        assert result.returncode == 0, result.stderr
        info = json.loads((out / "synth_info.json").read_text())
        assert info["benchmark_version"] == int(version) and info["generator_version"] == version
        with Image.open(out / "images/00001.png") as im:
            expected = generate_frame(4, 0, SMALL, "target", version=int(version)).image
            np.testing.assert_array_equal(np.asarray(im), expected)
    result = run_cli("--out", str(tmp_path / "d"), "--style", "source", "--layout", "gta5", "--num", "1", "--size", "64x32")
    assert json.loads((tmp_path / "d/synth_info.json").read_text())["benchmark_version"] == 2  # new data is v2
    result = run_cli("--out", str(tmp_path / "x"), "--style", "source", "--layout", "gta5", "--version", "3")
    assert result.returncode != 0 and "invalid choice" in result.stderr


# ---- sensors: depth, LiDAR, calibration ------------------------------------------------

def drive_with_sensors(tmp_path, version: str, size: str = "256x128", num: int = 2, beams: str = "32"):
    out = tmp_path / f"drive_v{version}"
    result = run_cli("--out", str(out), "--style", "target", "--layout", "cityscapes", "--num", str(num), "--size", size,
                     "--seed", "5", "--split", "val", "--version", version, "--lidar", "--lidar-beams", beams)
    assert result.returncode == 0, result.stderr
    return out


def test_lidar_leaves_images_and_labels_byte_identical(tmp_path):
    # Sensors draw no random numbers: the same frames as without --lidar, in memory and on disk.
    for version in (1, 2):
        plain = generate_frame(5, 1, (256, 128), "target", "val", version=version)
        with_lidar = generate_frame(5, 1, (256, 128), "target", "val", version=version, lidar=LidarSpec())
        assert frames_digest([plain]) == frames_digest([with_lidar]) and with_lidar.sensors is not None
    out = drive_with_sensors(tmp_path, "2")
    for index in range(2):
        frame = generate_frame(5, index, (256, 128), "target", "val", version=2)
        with Image.open(out / image_relpath("cityscapes", "val", index)) as im:
            np.testing.assert_array_equal(np.asarray(im), frame.image)


@pytest.mark.parametrize("version", ["1", "2"])
def test_painting_ground_truth_masks_reproduces_the_lidar_labels(tmp_path, version):
    # The geometry chain end to end, read back from the files as a user would: the painter
    # (independent projection code) with the written CameraInfo and extrinsic puts every
    # return the camera sees on the pixel whose label the generator gave it.
    out = drive_with_sensors(tmp_path, version)
    for index in range(2):
        sensors = read_sensors(out, "cityscapes", "val", index)
        mask = cv2.imread(str(out / image_relpath("cityscapes", "val", index)).replace("leftImg8bit", "gtFine")
                          .replace("_gtFine.png", "_gtFine_labelTrainIds.png"), cv2.IMREAD_UNCHANGED)
        camera = PinholeCamera.from_camera_info(sensors.camera_info)
        painted = paint_points(sensors.points, mask, camera, sensors.lidar_to_camera)
        np.testing.assert_array_equal(painted.labels, sensors.train_ids)
        seen = painted.visible
        assert seen.sum() > 1000 and (~seen).sum() > 1000  # the camera sees part of the spin, not all
        assert len(np.unique(sensors.train_ids[seen])) >= 5


def test_lidar_returns_lie_on_the_scene_surfaces(tmp_path):
    out = drive_with_sensors(tmp_path, "2", size="512x256", num=1, beams="64")
    sensors = read_sensors(out, "cityscapes", "val", 0)
    calib = json.loads((out / "calib/val/frankfurt_000000_000000.json").read_text())
    height = calib["camera_height_m"]
    # Road, sidewalk and terrain returns lie on the road plane, camera height below the sensor.
    ground = np.isin(sensors.train_ids, [TRAIN_ID_BY_NAME[n] for n in ("road", "sidewalk", "terrain")])
    np.testing.assert_allclose(sensors.points[ground, 2], -height, atol=1e-4)
    # Returns the camera sees have the depth the depth map gives at their pixel (the map is
    # sampled at pixel centres, the returns anywhere in the pixel: a small relative spread).
    camera = PinholeCamera.from_camera_info(calib["camera_info"])
    painted = paint_points(sensors.points, np.zeros_like(sensors.depth, np.uint8), camera, sensors.lidar_to_camera)
    cols, rows = painted.pixels[painted.visible].T
    z = (sensors.points[painted.visible] @ sensors.lidar_to_camera[:3, :3].T)[:, 2]
    relative = np.abs(z - sensors.depth[rows, cols]) / sensors.depth[rows, cols]
    assert np.median(relative) < 0.005 and np.percentile(relative, 95) < 0.03, np.percentile(relative, [50, 95])
    # No return from the sky; the intensities and rings are in range; 64 beams were fired.
    assert TRAIN_ID_BY_NAME["sky"] not in sensors.train_ids
    assert sensors.intensity.min() >= 0 and sensors.intensity.max() <= 1 and sensors.ring.max() == 63
    assert np.isnan(sensors.depth).any() and np.nanmin(sensors.depth) > 0


def test_calibration_is_a_ros_camera_info_and_a_tf_transform(tmp_path):
    out = drive_with_sensors(tmp_path, "1", num=1)
    calib = json.loads((out / "calib/val/frankfurt_000000_000000.json").read_text())
    info = calib["camera_info"]
    assert (info["width"], info["height"], info["distortion_model"], info["d"]) == (256, 128, "plumb_bob", [0.0] * 5)
    k = np.array(info["k"]).reshape(3, 3)
    assert k[0, 0] == k[1, 1] > 0 and 0 < k[0, 2] < 256 and 0 < k[1, 2] < 128
    np.testing.assert_array_equal(np.array(info["p"]).reshape(3, 4)[:, :3], k)
    extrinsic = calib["lidar_to_camera"]
    np.testing.assert_allclose(lidar_to_camera_matrix(quaternion_xyzw=extrinsic["rotation_xyzw"], translation=extrinsic["translation"]),
                               extrinsic["matrix"], atol=1e-12)
    # LiDAR forward (x) is the optical axis (z); LiDAR up (z) is image up (-y).
    np.testing.assert_array_equal(np.array(extrinsic["matrix"])[:3, :3] @ [1, 0, 0], [0, 0, 1])
    np.testing.assert_array_equal(np.array(extrinsic["matrix"])[:3, :3] @ [0, 0, 1], [0, -1, 0])
    assert json.loads((out / "synth_info.json").read_text())["args"]["lidar"] is True


def test_full_size_frame_with_a_64_beam_lidar_paints_exactly():
    # The one full-size frame of this path: 2048x1024, as the node sees a camera.
    frame = generate_frame(8, 0, (2048, 1024), "target", "val", version=2, lidar=LidarSpec(beams=64))
    sensors = frame.sensors
    camera = PinholeCamera.from_camera_info(sensors.camera_info)
    painted = paint_points(sensors.lidar.points, frame.train_ids, camera, sensors.lidar_to_camera)
    np.testing.assert_array_equal(painted.labels, sensors.lidar.train_ids)
    assert painted.visible.sum() > 10000 and sensors.depth.shape == (1024, 2048)
