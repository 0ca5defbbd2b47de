"""The Blender renderer (``python -m cicld_core.synth --renderer blender``): without bpy one
clear error line; its scene description (numpy) is deterministic and furnishes every class;
its LiDAR agrees with the depth and labels it is sampled from; and, where bpy is installed
(``pip install .[render]``), rendered batches hold only valid ids, every class, depth that
fits the camera model, LiDAR that agrees with the image, and files the loaders read."""
from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from cicld_core.data import CityscapesDataset, GTA5Dataset, SynthiaDataset
from cicld_core.io import read_label_indices
from cicld_core.labels import CITYSCAPES_LUT, IGNORE_INDEX, NUM_TRAIN_CLASSES, TRAIN_ID_BY_NAME
from cicld_core.synth import read_sensors
from cicld_core.synth.blender.sensors import camera_up, pixels_of, simulate_lidar
from cicld_core.synth.blender.world import INSTANCE_CLASSES, build_world
from cicld_core.synth.sensors import LIDAR_TO_CAMERA_ROTATION, LidarSpec

REPO = Path(__file__).resolve().parents[1]
HAVE_BPY = importlib.util.find_spec("bpy") is not None
needs_bpy = pytest.mark.skipif(not HAVE_BPY, reason='bpy is not installed: pip install "bpy==4.5.*" (or pip install .[render])')
# A batch at a tiny size and one sample (the renderer's costs are mostly per frame, not per pixel):
# seed 0's first frames show every class (the scene description test below checks they are built).
BATCH, SIZE = 10, "96x48"


def run_cli(*args: str, env_code: str = "") -> subprocess.CompletedProcess:
    code = f"import sys\n{env_code}\nfrom cicld_core.synth.__main__ import main\nsys.exit(main(sys.argv[1:]))"
    return subprocess.run([sys.executable, "-c", code, *args], cwd=REPO, capture_output=True, text=True, timeout=300)


# ---- without bpy ----------------------------------------------------------------------------

def test_without_bpy_the_command_says_how_to_get_it(tmp_path):
    out = tmp_path / "r"
    done = run_cli("--renderer", "blender", "--out", str(out), "--style", "source", "--layout", "gta5", "--num", "1",
                   env_code="sys.modules['bpy'] = None  # as if the extra were not installed")
    assert done.returncode == 2, done.stderr
    assert 'pip install "bpy==4.5.*"' in done.stderr and "pip install .[render]" in done.stderr
    assert "Traceback" not in done.stderr and len(done.stderr.strip().splitlines()) == 1
    assert not out.exists()


@pytest.mark.parametrize("workers", ["1", "2"])
def test_a_blender_that_cannot_start_is_one_error_not_a_hang(tmp_path, workers):
    # a bpy that is found but fails to import (a broken install): the workers report it once
    fake = tmp_path / "site" / "bpy"
    fake.mkdir(parents=True)
    (fake / "__init__.py").write_text("raise ImportError('this bpy is broken')\n")
    done = run_cli("--renderer", "blender", "--out", str(tmp_path / "r"), "--style", "source", "--layout", "gta5",
                   "--num", "3", "--size", "64x32", "--workers", workers,
                   env_code=f"sys.path.insert(0, {str(fake.parent)!r})\nimport os\n"
                   f"os.environ['PYTHONPATH'] = {str(fake.parent)!r} + os.pathsep + os.environ.get('PYTHONPATH', '')")
    assert done.returncode == 1, done.stderr[-2000:]
    assert "a Blender worker could not start: ImportError: this bpy is broken" in done.stderr
    assert "Traceback" not in done.stderr


def test_blender_options_are_refused_with_the_2d_renderer(tmp_path):
    done = run_cli("--out", str(tmp_path / "x"), "--style", "source", "--layout", "gta5", "--samples", "4")
    assert done.returncode == 2 and "--samples only apply to --renderer blender" in done.stderr


def test_only_the_renderers_bpy_modules_import_bpy():
    # Blender is GPL: bpy stays inside the optional renderer (docs/data.md)
    importing = sorted(str(p.relative_to(REPO)) for package in ("cicld_core", "cicld_ros") for p in (REPO / package).rglob("*.py")
                       if any(line.strip().startswith(("import bpy", "from bpy", "import _bpy"))
                              for line in p.read_text().splitlines()))
    assert importing == ["cicld_core/synth/blender/cycles.py", "cicld_core/synth/blender/materials.py"]


def test_the_set_up_script_installs_the_pin_setup_py_declares():
    # CICLD_RENDER=1 bash scripts/setup_env.sh reads the requirement from setup.py, not a copy
    script = (REPO / "scripts" / "setup_env.sh").read_text()
    assert "CICLD_RENDER" in script and "--no-deps" in script and "bpy==" not in script
    done = subprocess.run(["sed", "-n", r's/^RENDER_REQUIRES = \["\(.*\)"\]$/\1/p', str(REPO / "setup.py")],
                          capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "bpy==4.5.*"
    assert r's/^RENDER_REQUIRES = \["\(.*\)"\]$/\1/p' in script


# ---- the scene description (numpy, no bpy) ----------------------------------------------------

def test_one_seed_gives_one_scene():
    a, b = build_world(3, "val", 5, "source", 2), build_world(3, "val", 5, "source", 2)
    assert a.pose == b.pose and len(a.things) == len(b.things)
    for x, y in zip(a.things, b.things):
        assert (x.train_id, x.instance) == (y.train_id, y.instance)
        np.testing.assert_array_equal(x.mesh.arrays()[0], y.mesh.arrays()[0])
    other = build_world(3, "val", 6, "source", 2)
    assert other.pose != a.pose


def test_the_scene_is_the_2d_generators_street_layout():
    from cicld_core.synth.scene import GEOMETRY_STREAM, frame_rng, sample_layout
    from cicld_core.synth.styles import content_style

    world = build_world(1, "train", 4, "target", 2)
    assert world.layout == sample_layout(frame_rng(1, "train", 4, GEOMETRY_STREAM), content_style(2, "target"))


def test_every_class_is_built_in_the_batch_and_instances_are_unique():
    built = set()
    for index in range(BATCH):
        world = build_world(0, "train", index, "source", 2)
        ids = [(t.train_id, t.instance) for t in world.things]
        assert len(set(ids)) == len(ids)
        assert all((t.instance > 0) == (t.train_id in INSTANCE_CLASSES) for t in world.things)
        built |= {t for t, _ in ids}
    # the sky is no object: it is what a ray that hits nothing sees (object index 0)
    assert built == set(range(NUM_TRAIN_CLASSES)) - {TRAIN_ID_BY_NAME["sky"]}


def test_lidar_from_a_depth_map_lands_on_the_pixels_it_is_labelled_from():
    # a flat road seen by a pitched camera, labels in vertical stripes: every return inside the
    # image must lie on the road plane and project to a pixel with its own label
    w, h, pitch, height = 160, 80, 3.0, 1.6
    k = np.array([[90.0, 0, 79.5], [0, 90.0, 35.0], [0, 0, 1]])
    v, u = np.mgrid[0:h, 0:w]
    rays = np.stack([(u - k[0, 2]) / k[0, 0], (v - k[1, 2]) / k[1, 1], np.ones_like(u, float)], -1)
    facing = rays @ camera_up(pitch)
    depth = np.where(facing < 0, -height / np.minimum(facing, -1e-9), np.inf).astype(np.float32)
    labels = np.where(np.isfinite(depth), (u // 20) % NUM_TRAIN_CLASSES, TRAIN_ID_BY_NAME["sky"]).astype(np.uint8)
    scan = simulate_lidar(depth, labels, k, pitch, height, LidarSpec(beams=16, azimuth_steps=720))
    optical = scan.points.astype(np.float64) @ LIDAR_TO_CAMERA_ROTATION.T
    row, col, inside = pixels_of(k, (w, h), optical)
    assert inside.sum() > 500 and (~inside).sum() > 500
    np.testing.assert_array_equal(scan.train_ids[inside], labels[row[inside], col[inside]])
    assert (scan.train_ids[~inside] == IGNORE_INDEX).all()
    # inside the image at its pixel's depth; outside it on the road plane
    np.testing.assert_allclose(optical[inside, 2], depth[row[inside], col[inside]], rtol=1e-5)
    np.testing.assert_allclose(optical[~inside] @ camera_up(pitch), -height, atol=1e-4)


# ---- rendered (needs bpy) ---------------------------------------------------------------------

@pytest.fixture(scope="module")
def batch(tmp_path_factory):
    if not HAVE_BPY:
        pytest.skip('bpy is not installed: pip install "bpy==4.5.*" (or pip install .[render])')
    out = tmp_path_factory.mktemp("blender") / "gta5"
    done = run_cli("--renderer", "blender", "--out", str(out), "--style", "source", "--layout", "gta5", "--num", str(BATCH),
                   "--size", SIZE, "--samples", "1", "--lidar", "--lidar-beams", "16", "--lidar-steps", "720", "--workers", "2")
    assert done.returncode == 0, done.stderr[-3000:]
    return out, done


def train_ids_of(root: Path, index: int) -> np.ndarray:
    return np.take(CITYSCAPES_LUT, read_label_indices(root / "labels" / f"{index + 1:05d}.png"))


@needs_bpy
def test_a_rendered_batch_holds_valid_ids_and_every_class(batch):
    root, done = batch
    seen = set()
    for index in range(BATCH):
        ids = train_ids_of(root, index)
        assert ids.shape == (48, 96)
        assert set(np.unique(ids)) <= set(range(NUM_TRAIN_CLASSES))  # the renderer labels every pixel
        seen |= set(np.unique(ids).tolist())
    assert seen == set(range(NUM_TRAIN_CLASSES))
    info = json.loads((root / "synth_info.json").read_text())
    assert info["renderer"] == "blender" and info["rendered"] == BATCH and info["frames_per_s"] > 0
    assert "frames/s" in done.stdout and "share of frames containing each class" in done.stdout


@needs_bpy
def test_depth_fits_the_camera_and_lidar_agrees_with_the_image(batch):
    root, _ = batch
    for index in range(3):
        sensors = read_sensors(root, "gta5", "train", index)
        ids = train_ids_of(root, index)
        depth, k = sensors.depth, np.asarray(sensors.camera_info["k"]).reshape(3, 3)
        assert np.isnan(depth[ids == TRAIN_ID_BY_NAME["sky"]]).all()
        assert (depth[ids != TRAIN_ID_BY_NAME["sky"]] > 0).all()
        # every return inside the image carries the label of the pixel it projects to, at that pixel's depth
        optical = sensors.points.astype(np.float64) @ sensors.lidar_to_camera[:3, :3].T
        row, col, inside = pixels_of(k, (96, 48), optical)
        assert inside.sum() > 100
        np.testing.assert_array_equal(sensors.train_ids[inside], ids[row[inside], col[inside]])
        np.testing.assert_allclose(optical[inside, 2], depth[row[inside], col[inside]], rtol=1e-5)
        assert (sensors.train_ids[~inside] == IGNORE_INDEX).all()
    # the road's depth is where the camera model (K, pitch, height) puts the ground plane, in
    # every frame (each worker renders several frames in one Blender session)
    for index in range(0, BATCH, 2):
        calib = json.loads((root / "calib" / "train" / f"{index + 1:05d}.json").read_text())
        world = build_world(0, "train", index, "source", 2)
        assert calib["camera_height_m"] == pytest.approx(world.pose.height_m)
        k = np.asarray(calib["camera_info"]["k"]).reshape(3, 3)
        ids, depth = train_ids_of(root, index), read_sensors(root, "gta5", "train", index).depth
        v, u = np.nonzero(ids == TRAIN_ID_BY_NAME["road"])
        rays = np.stack([(u - k[0, 2]) / k[0, 0], (v - k[1, 2]) / k[1, 1], np.ones_like(u, float)], 1)
        expected = -world.pose.height_m / (rays @ camera_up(world.pose.pitch_deg))
        assert len(u) > 200, index
        # road markings stand 4 mm proud of the road, and a pixel's hit may lie anywhere in it
        assert np.median(np.abs(depth[v, u] / expected - 1)) < 0.01, index


@needs_bpy
def test_the_gta5_loader_reads_the_batch(batch):
    root, _ = batch
    dataset = GTA5Dataset(root, split_file=root / "train.txt")
    assert len(dataset) == BATCH
    sample = dataset[0]
    assert tuple(sample["image"].shape[-2:]) == (48, 96)
    np.testing.assert_array_equal(sample["label"].numpy(), train_ids_of(root, 0))


@needs_bpy
def test_one_seed_gives_one_frame_and_resuming_keeps_what_is_there(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    for out in (a, b):
        done = run_cli("--renderer", "blender", "--out", str(out), "--style", "target", "--layout", "cityscapes",
                       "--num", "2", "--size", "64x32", "--samples", "1", "--split", "val", "--seed", "5")
        assert done.returncode == 0, done.stderr[-3000:]
    labels = sorted(a.glob("gtFine/val/*/*_labelTrainIds.png"))
    assert len(labels) == 2
    for path in labels:
        np.testing.assert_array_equal(read_label_indices(path), read_label_indices(b / path.relative_to(a)))
    images = sorted(a.glob("leftImg8bit/val/*/*.png"))
    for path in images:  # Cycles' seed is the frame's: the pixels repeat too
        assert path.read_bytes() == (b / path.relative_to(a)).read_bytes()
    dataset = CityscapesDataset(a, split="val")
    assert len(dataset) == 2 and int(dataset[1]["label"].max()) < NUM_TRAIN_CLASSES
    # a third frame: the two on disk are kept, not rendered again
    stamp = images[0].stat().st_mtime_ns
    done = run_cli("--renderer", "blender", "--out", str(a), "--style", "target", "--layout", "cityscapes", "--num", "3",
                   "--size", "64x32", "--samples", "1", "--split", "val", "--seed", "5")
    assert done.returncode == 0, done.stderr[-3000:]
    assert "rendered 1 frames" in done.stdout and "kept 2" in done.stdout
    assert images[0].stat().st_mtime_ns == stamp
    assert len(sorted(a.glob("leftImg8bit/val/*/*.png"))) == 3


@needs_bpy
def test_the_synthia_layout_is_written_and_read(tmp_path):
    out = tmp_path / "s"
    done = run_cli("--renderer", "blender", "--out", str(out), "--style", "source", "--layout", "synthia", "--num", "1",
                   "--size", "64x32", "--samples", "1")
    assert done.returncode == 0, done.stderr[-3000:]
    dataset = SynthiaDataset(out, split_file=out / "train.txt")
    assert len(dataset) == 1
    label = dataset[0]["label"].numpy()
    assert label.shape == (32, 64) and set(np.unique(label)) <= set(range(NUM_TRAIN_CLASSES)) | {IGNORE_INDEX}


# ---- the benchmark ---------------------------------------------------------------------------

def run_benchmark(*args: str, env_code: str = "") -> subprocess.CompletedProcess:
    code = (f"import sys\n{env_code}\nsys.path.insert(0, 'benchmarks')\nimport render_blender\n"
            "sys.exit(render_blender.main(sys.argv[1:]))")
    return subprocess.run([sys.executable, "-c", code, *args], cwd=REPO, capture_output=True, text=True, timeout=300)


def test_the_benchmark_refuses_bad_options_and_needs_bpy(tmp_path):
    done = run_benchmark("--more-frames", "1")
    assert done.returncode == 2 and "--more-frames: must be at least 2" in done.stderr and "Traceback" not in done.stderr
    done = run_benchmark("--frames", "2", env_code="sys.modules['bpy'] = None")
    assert done.returncode == 2 and 'pip install "bpy==4.5.*"' in done.stderr and "Traceback" not in done.stderr


@needs_bpy
def test_the_benchmark_reports_speed_per_size_and_class_shares(tmp_path):
    out = tmp_path / "bench.json"
    done = run_benchmark("--frames", "3", "--more-frames", "2", "--sizes", "64x32", "80x40", "--samples", "1", "--workers", "1",
                         "--out", str(tmp_path / "kept"), "--json", str(out))
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(out.read_text())
    assert [row["size"] for row in report["speed"]] == ["64x32", "80x40"]
    assert all(row["frames_per_s"] > 0 and row["wall_s"] > 0 and row["cpu_s_per_frame"] > 0 for row in report["speed"])
    shares = report["batch"]["pixel_share_of_rendered_frames"]
    assert sum(shares.values()) == pytest.approx(1.0, abs=1e-3) and shares["road"] > 0
    assert report["batch"]["frame_share"]["sky"] == 1.0 and report["batch"]["frames"] == 3
    assert len(list((tmp_path / "kept" / "images").glob("*.png"))) == 3  # --out keeps the batch
    assert "frames/s steady" in done.stdout
