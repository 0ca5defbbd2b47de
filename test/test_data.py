"""Dataset loaders on tiny fixtures written in each dataset's real on-disk format."""
from __future__ import annotations

import logging
import math
import os
from pathlib import Path

import numpy as np
import pytest
import torch

from cicld_core import labels as L
from cicld_core.data import (
    CityscapesDataset, DataError, GTA5Dataset, ImageFolderDataset, RareClassSampler,
    SegTransform, SegTransformConfig, SynthiaDataset, build_dataset, collate,
    load_or_compute_class_stats,
)
from cicld_core.data.class_stats import stats_path
from cicld_core.data.rare_class_sampling import class_frequencies, rcs_probabilities
from cicld_core.data.transforms import choose_crop, crop_accepted
from cicld_core.io import write_palette_png, write_png

H, W = 32, 64

# A label in Cityscapes labelIds: sky above, road below, a car, and two ids that the
# table sends to ignore (0 unlabeled, 29 caravan).
LABEL_IDS = np.full((H, W), 7, dtype=np.uint8)
LABEL_IDS[:10] = 23
LABEL_IDS[20:28, 5:25] = 26
LABEL_IDS[28:, :8] = 0
LABEL_IDS[28:, 56:] = 29
EXPECTED_TRAIN_IDS = np.full((H, W), 0, dtype=np.uint8)
EXPECTED_TRAIN_IDS[:10] = 10
EXPECTED_TRAIN_IDS[20:28, 5:25] = 13
EXPECTED_TRAIN_IDS[28:, :8] = 255
EXPECTED_TRAIN_IDS[28:, 56:] = 255


def rgb(seed: int, h: int = H, w: int = W) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


def make_gta5(root: Path, n: int = 3) -> Path:
    for i in range(n):
        write_png(root / "images" / f"{i:05d}.png", rgb(i))
        write_palette_png(root / "labels" / f"{i:05d}.png", LABEL_IDS, L.LABEL_ID_PALETTE)
    return root


def make_cityscapes(root: Path, split: str = "train") -> Path:
    for city, n in (("aachen", 2), ("bremen", 1)):
        for i in range(n):
            stem = f"{city}_{i:06d}_000019"
            write_png(root / "leftImg8bit" / split / city / f"{stem}_leftImg8bit.png", rgb(i))
            gt = root / "gtFine" / split / city
            write_png(gt / f"{stem}_gtFine_labelIds.png", LABEL_IDS)
            write_png(gt / f"{stem}_gtFine_labelTrainIds.png", L.CITYSCAPES_LUT[LABEL_IDS])
    return root


# Synthia ids: 1 sky -> 10, 3 road -> 0, 8 car -> 13, 16 terrain -> 255, 0 void -> 255.
SYNTHIA_IDS = np.full((H, W), 3, dtype=np.uint16)
SYNTHIA_IDS[:10] = 1
SYNTHIA_IDS[20:28, 5:25] = 8
SYNTHIA_IDS[28:, :8] = 16
SYNTHIA_IDS[28:, 56:] = 0


def synthia_label(ids: np.ndarray) -> np.ndarray:
    """(H, W, 3) uint16 in OpenCV's BGR order: class in channel 2, instance ids elsewhere."""
    bgr = np.zeros((*ids.shape, 3), dtype=np.uint16)
    bgr[:, :, 2] = ids
    bgr[:, :, 1] = 1000  # instance ids use the full 16 bits; they must not leak into classes
    bgr[:, :, 0] = 40000
    return bgr


def make_synthia(root: Path, n: int = 2) -> Path:
    for i in range(n):
        write_png(root / "RGB" / f"{i:07d}.png", rgb(i))
        write_png(root / "GT" / "LABELS" / f"{i:07d}.png", synthia_label(SYNTHIA_IDS), rgb=False)
    return root


# ---- decoding of each real format -------------------------------------------------

def test_gta5_palette_labels_map_to_train_ids(tmp_path):
    ds = GTA5Dataset(make_gta5(tmp_path))
    assert [s.name for s in ds.samples] == ["00000", "00001", "00002"]
    image, label = ds.load_raw(1)
    assert image.dtype == np.uint8 and image.shape == (H, W, 3)
    np.testing.assert_array_equal(image, rgb(1))
    np.testing.assert_array_equal(label, EXPECTED_TRAIN_IDS)


def test_cityscapes_label_ids_and_label_train_ids_agree(tmp_path):
    root = make_cityscapes(tmp_path)
    by_ids = CityscapesDataset(root, label_type="labelIds")
    by_train_ids = CityscapesDataset(root, label_type="labelTrainIds")
    assert [s.name for s in by_ids.samples] == [
        "aachen_000000_000019", "aachen_000001_000019", "bremen_000000_000019"]
    for i in range(len(by_ids)):
        np.testing.assert_array_equal(by_ids.load_raw(i)[1], EXPECTED_TRAIN_IDS)
        np.testing.assert_array_equal(by_train_ids.load_raw(i)[1], EXPECTED_TRAIN_IDS)
        assert torch.equal(by_ids[i]["label"], by_train_ids[i]["label"])


def test_cityscapes_as_unlabelled_target_needs_no_gtfine(tmp_path):
    root = make_cityscapes(tmp_path)
    for p in (root / "gtFine").rglob("*.png"):
        p.unlink()
    ds = CityscapesDataset(root, labels=False)
    assert len(ds) == 3 and ds[0]["label"] is None and ds.load_raw(0)[1] is None


def test_synthia_16bit_labels_decode_the_r_channel(tmp_path):
    ds = SynthiaDataset(make_synthia(tmp_path))
    _, label = ds.load_raw(0)
    np.testing.assert_array_equal(label, EXPECTED_TRAIN_IDS)


def test_image_folder_is_recursive_sorted_and_unlabelled(tmp_path):
    write_png(tmp_path / "cam1" / "b.png", rgb(0))
    write_png(tmp_path / "cam0" / "z.JPG", rgb(1))  # extension case must not matter
    write_png(tmp_path / "a.jpeg", rgb(2))
    (tmp_path / "notes.txt").write_text("not an image")
    ds = ImageFolderDataset(tmp_path)
    assert [s.name for s in ds.samples] == ["a", "cam0/z", "cam1/b"]
    item = ds[2]
    assert item["label"] is None and item["image"].shape == (3, H, W) and item["name"] == "cam1/b"


def test_build_dataset_kinds_and_split_file(tmp_path):
    root = make_gta5(tmp_path / "gta", n=4)
    (root / "val.txt").write_text("00001\n00003.png\n\n")
    assert [s.name for s in build_dataset("gta5", root, "val").samples] == ["00001", "00003"]
    assert len(build_dataset("gta5", root, "train")) == 4  # no train.txt: the whole dataset
    with pytest.raises(DataError, match="test.txt"):
        build_dataset("gta5", root, "test")
    assert isinstance(build_dataset("cityscapes", make_cityscapes(tmp_path / "cs"), "train"), CityscapesDataset)
    assert isinstance(build_dataset("synthia", make_synthia(tmp_path / "syn")), SynthiaDataset)
    assert isinstance(build_dataset("folder", root / "images"), ImageFolderDataset)
    with pytest.raises(ValueError, match="cityscapes, gta5, synthia, camvid, folder"):
        build_dataset("kitti", root)


# ---- augmentation -------------------------------------------------------------------

def test_normalisation_values_dtypes_and_shapes(tmp_path):
    image = np.zeros((4, 6, 3), dtype=np.uint8)
    image[..., 0], image[..., 1], image[..., 2] = 0, 128, 255
    label = np.full((4, 6), 7, dtype=np.uint8)
    out, lab = SegTransform(SegTransformConfig.no_augmentation())(image, label, np.random.default_rng(0))
    assert out.dtype == torch.float32 and out.shape == (3, 4, 6)
    assert lab.dtype == torch.int64 and lab.shape == (4, 6)
    expected = [(0 - 123.675) / 58.395, (128 - 116.28) / 57.12, (255 - 103.53) / 57.375]
    for c in range(3):
        assert torch.allclose(out[c], torch.full((4, 6), expected[c]), atol=1e-5)


def test_flip_moves_image_and_label_together():
    image, label = rgb(3), EXPECTED_TRAIN_IDS
    plain, plain_lab = SegTransform(SegTransformConfig(flip_prob=0.0))(image, label, np.random.default_rng(0))
    flipped, flipped_lab = SegTransform(SegTransformConfig(flip_prob=1.0))(image, label, np.random.default_rng(0))
    assert torch.equal(flipped, plain.flip(-1)) and torch.equal(flipped_lab, plain_lab.flip(-1))
    assert not torch.equal(flipped_lab, plain_lab)  # the fixture is not symmetric


def test_resize_uses_nearest_for_labels():
    out, lab = SegTransform(SegTransformConfig(resize=(20, 10), flip_prob=0))(rgb(0), EXPECTED_TRAIN_IDS,
                                                                              np.random.default_rng(0))
    assert out.shape == (3, 10, 20) and lab.shape == (10, 20)
    assert set(lab.unique().tolist()) <= {0, 10, 13, 255}  # no blended ids on class borders
    out, lab = SegTransform(SegTransformConfig(scale=0.5, flip_prob=0))(rgb(0), EXPECTED_TRAIN_IDS,
                                                                        np.random.default_rng(0))
    assert out.shape == (3, H // 2, W // 2)
    with pytest.raises(ValueError, match="either resize or scale"):
        SegTransformConfig(resize=(10, 10), scale=0.5)


def test_crop_larger_than_image_pads_label_ignore_and_image_zero():
    cfg = SegTransformConfig(crop_size=(40, 70), flip_prob=0.0)
    out, lab = SegTransform(cfg)(rgb(0), EXPECTED_TRAIN_IDS, np.random.default_rng(0))
    assert out.shape == (3, 40, 70) and lab.shape == (40, 70)
    np.testing.assert_array_equal(lab[:H, :W].numpy(), EXPECTED_TRAIN_IDS)
    assert (lab[H:] == 255).all() and (lab[:, W:] == 255).all()
    assert (out[:, H:] == 0).all() and (out[:, :, W:] == 0).all()


def test_cat_max_ratio_rejects_crops_dominated_by_one_class():
    # Class 0 in the left half, class 1 in the right half of 40 columns: a 20-wide crop
    # at column `left` holds `left` columns of class 1 and passes the 0.75 rule only for
    # 6 <= left <= 14 (9 of 21 positions).
    label = np.zeros((8, 40), dtype=np.uint8)
    label[:, 20:] = 1
    label[0, :] = 255  # ignore pixels must not count either way

    def accepted_share(ratio: float) -> float:
        boxes = [choose_crop(label, label.shape, (8, 20), np.random.default_rng(s), ratio) for s in range(100)]
        return np.mean([crop_accepted(label[t:t + h, l:l + w], 0.75) for t, l, h, w in boxes])

    assert accepted_share(1.0) < 0.6  # uniform crops: about 9/21 pass
    assert accepted_share(0.75) > 0.95
    assert crop_accepted(label[:, 10:30], 0.75)
    assert not crop_accepted(label[:, 5:25], 0.75)  # 15 of 20 columns one class: ratio 0.75
    assert not crop_accepted(label[:, 20:40], 0.75)  # one class plus ignore is still one class


def test_required_class_crop_contains_the_class():
    label = np.zeros((H, W), dtype=np.uint8)
    label[:, W // 2:] = 1
    label[28:, 60:] = 5  # a 4x4 rare-class blob in a corner: uniform crops nearly always miss it
    cfg = SegTransformConfig(crop_size=(16, 16), flip_prob=0.5)
    for seed in range(30):
        _, lab = SegTransform(cfg)(rgb(seed), label, np.random.default_rng(seed), required_class=5)
        assert (lab == 5).any(), seed


def test_same_seed_and_epoch_give_the_same_tensors(tmp_path):
    root = make_gta5(tmp_path)
    cfg = SegTransformConfig(crop_size=(16, 16), flip_prob=0.5)
    a, b = GTA5Dataset(root, transform=cfg, seed=7), GTA5Dataset(root, transform=cfg, seed=7)
    items_b = [b[i] for i in reversed(range(len(b)))][::-1]  # another access order
    for i in range(len(a)):
        assert torch.equal(a[i]["image"], items_b[i]["image"]) and torch.equal(a[i]["label"], items_b[i]["label"])

    def stack(ds):
        return torch.stack([ds[i]["image"] for i in range(len(ds))])

    other_seed = GTA5Dataset(root, transform=cfg, seed=8)
    assert not torch.equal(stack(a), stack(other_seed))
    before = stack(a)
    a.set_epoch(1)
    assert not torch.equal(before, stack(a))
    a.set_epoch(0)
    assert torch.equal(before, stack(a))


def test_collate_stacks_and_keeps_missing_labels_none(tmp_path):
    write_png(tmp_path / "f" / "0.png", rgb(0))
    write_png(tmp_path / "f" / "1.png", rgb(1))
    batch = collate([ImageFolderDataset(tmp_path / "f")[i] for i in range(2)])
    assert batch["image"].shape == (2, 3, H, W) and batch["label"] is None and batch["name"] == ["0", "1"]
    gta = GTA5Dataset(make_gta5(tmp_path / "g"))
    batch = collate([gta[0], gta[1]])
    assert batch["label"].shape == (2, H, W) and batch["label"].dtype == torch.int64
    with pytest.raises(ValueError, match="some items have labels"):
        collate([gta[0], ImageFolderDataset(tmp_path / "f")[0]])


# ---- class statistics and rare class sampling ------------------------------------------

def test_class_stats_are_cached_and_recomputed_when_files_change(tmp_path, monkeypatch):
    root = make_gta5(tmp_path, n=2)
    stats = load_or_compute_class_stats(GTA5Dataset(root))
    counts = {int(c): n for c, n in stats[0]["counts"].items()}
    assert counts == {10: 10 * W, 13: 8 * 20, 0: 22 * W - 8 * 20 - 2 * 4 * 8}
    path = stats_path(GTA5Dataset(root))
    assert path.name == "cicld_class_stats_gta5.json"
    mtime = path.stat().st_mtime_ns

    reloaded_ds = GTA5Dataset(root)
    monkeypatch.setattr(reloaded_ds, "load_label", lambda i: pytest.fail("stats were recomputed"))
    assert load_or_compute_class_stats(reloaded_ds) == stats
    assert path.stat().st_mtime_ns == mtime

    make_gta5(root, n=3)
    grown = load_or_compute_class_stats(GTA5Dataset(root))
    assert [s["name"] for s in grown] == ["00000", "00001", "00002"]
    assert path.stat().st_mtime_ns != mtime


def test_rcs_probabilities_match_a_hand_computation():
    stats = [{"name": "a", "counts": {"0": 9000, "5": 400}}, {"name": "b", "counts": {"0": 0, "5": 600}}]
    freq = class_frequencies(stats)
    assert freq == pytest.approx({0: 0.9, 5: 0.1})
    p0 = math.exp(0.1 / 0.5) / (math.exp(0.1 / 0.5) + math.exp(0.9 / 0.5))
    assert rcs_probabilities(freq, temperature=0.5) == pytest.approx({0: p0, 5: 1 - p0})
    sampler = RareClassSampler(stats, num_samples=10, temperature=0.5, min_pixels=500)
    assert sampler.class_probabilities == pytest.approx({0: p0, 5: 1 - p0})
    assert sampler.images_per_class == {0: [0], 5: [1]}  # image a's 400 pixels are below min_pixels


def test_rare_class_is_sampled_far_above_its_pixel_share():
    stats = [{"name": str(i), "counts": {"0": 9500, "1": 500}} if i == 3 else {"name": str(i), "counts": {"0": 10000}}
             for i in range(10)]
    sampler = RareClassSampler(stats, num_samples=2000, min_pixels=300, seed=1)
    draws = list(sampler)
    rare = sum(c == 1 for _, c in draws) / len(draws)
    assert rare > 0.95  # while class 1 holds 0.5 % of the pixels
    assert all(i == 3 for i, c in draws if c == 1)
    assert draws == list(RareClassSampler(stats, num_samples=2000, min_pixels=300, seed=1))
    with pytest.raises(ValueError, match="lower min_pixels"):
        RareClassSampler(stats, num_samples=10, min_pixels=20000)


def test_rcs_draws_depend_on_seed_and_epoch_only():
    stats = [{"name": str(i), "counts": {"0": 100 * (i + 1), "1": 50, "2": 10 * i}} for i in range(6)]
    make = lambda seed: RareClassSampler(stats, num_samples=50, temperature=1.0, min_pixels=1, seed=seed)  # noqa: E731
    sampler = make(0)
    first = list(sampler)
    assert first == list(sampler) == list(make(0)) and first != list(make(1))
    sampler.set_epoch(1)
    assert list(sampler) != first


def test_sampler_pairs_feed_the_dataset_through_a_dataloader(tmp_path):
    ds = GTA5Dataset(make_gta5(tmp_path), transform=SegTransformConfig(crop_size=(8, 8)))
    sampler = RareClassSampler(load_or_compute_class_stats(ds), num_samples=6, min_pixels=100)
    assert set(sampler.class_probabilities) == {0, 10, 13}
    loader = torch.utils.data.DataLoader(ds, batch_size=3, sampler=sampler, collate_fn=collate)
    for batch, pairs in zip(loader, [list(sampler)[:3], list(sampler)[3:]]):
        for lab, (_, c) in zip(batch["label"], pairs):
            assert (lab == c).any()


# ---- bad input fails loudly, naming the file --------------------------------------------

def test_missing_folders_say_what_layout_is_expected(tmp_path):
    with pytest.raises(DataError, match=r"leftImg8bit/train.*expected layout"):
        CityscapesDataset(tmp_path)
    (tmp_path / "leftImg8bit" / "train" / "aachen").mkdir(parents=True)
    with pytest.raises(DataError, match="no \\*_leftImg8bit.png images"):
        CityscapesDataset(tmp_path)
    with pytest.raises(DataError, match="images"):
        GTA5Dataset(tmp_path / "nowhere")
    with pytest.raises(DataError, match=r"GT/LABELS"):
        (tmp_path / "syn" / "RGB").mkdir(parents=True)
        SynthiaDataset(tmp_path / "syn")


def test_image_without_label_and_label_without_image(tmp_path):
    root = make_gta5(tmp_path / "gta")
    (root / "labels" / "00001.png").unlink()
    with pytest.raises(DataError, match="images/00001.png"):
        GTA5Dataset(root)
    make_gta5(root)
    (root / "images" / "00002.png").unlink()
    with pytest.raises(DataError, match="labels/00002.png"):
        GTA5Dataset(root)

    cs = make_cityscapes(tmp_path / "cs")
    (cs / "gtFine/train/bremen/bremen_000000_000019_gtFine_labelIds.png").unlink()
    with pytest.raises(DataError, match="leftImg8bit/train/bremen/bremen_000000_000019_leftImg8bit.png"):
        CityscapesDataset(cs)
    make_cityscapes(cs)
    (cs / "leftImg8bit/train/aachen/aachen_000001_000019_leftImg8bit.png").unlink()
    with pytest.raises(DataError, match="aachen_000001_000019_gtFine_labelIds.png"):
        CityscapesDataset(cs)


def test_corrupt_png_names_the_file(tmp_path):
    root = make_gta5(tmp_path)
    (root / "images" / "00001.png").write_bytes(b"\x89PNG not really")
    ds = GTA5Dataset(root)
    with pytest.raises(DataError, match="00001.png"):
        ds[1]
    make_gta5(root)
    (root / "labels" / "00002.png").write_bytes(os.urandom(100))
    with pytest.raises(DataError, match="labels/00002.png"):
        GTA5Dataset(root).load_raw(2)


def test_ids_outside_the_id_set_are_listed_with_the_file(tmp_path):
    root = make_gta5(tmp_path / "gta")
    bad = LABEL_IDS.copy()
    bad[0, :2] = (40, 41)
    write_palette_png(root / "labels" / "00001.png", bad, L.LABEL_ID_PALETTE)
    with pytest.raises(DataError, match=r"labels/00001.png holds ids \[40, 41\] outside the GTA5 id set 0..33"):
        GTA5Dataset(root)[1]

    cs = make_cityscapes(tmp_path / "cs")
    bad_train = L.CITYSCAPES_LUT[LABEL_IDS]
    bad_train[0, 0] = 19
    write_png(cs / "gtFine/train/aachen/aachen_000000_000019_gtFine_labelTrainIds.png", bad_train)
    with pytest.raises(DataError, match=r"aachen_000000_000019_gtFine_labelTrainIds.png holds ids \[19\].*0..18, 255"):
        CityscapesDataset(cs, label_type="labelTrainIds").load_raw(0)

    syn = make_synthia(tmp_path / "syn")
    ids = SYNTHIA_IDS.copy()
    ids[5, 5] = 23
    write_png(syn / "GT/LABELS/0000001.png", synthia_label(ids), rgb=False)
    with pytest.raises(DataError, match=r"GT/LABELS/0000001.png holds ids \[23\] outside the Synthia id set 0..22"):
        SynthiaDataset(syn).load_raw(1)


def test_synthia_label_with_wrong_bit_depth_or_channels(tmp_path):
    syn = make_synthia(tmp_path)
    write_png(syn / "GT/LABELS/0000000.png", synthia_label(SYNTHIA_IDS).astype(np.uint8), rgb=False)
    with pytest.raises(DataError, match=r"GT/LABELS/0000000.png is uint8.*16-bit"):
        SynthiaDataset(syn).load_raw(0)
    write_png(syn / "GT/LABELS/0000000.png", SYNTHIA_IDS, rgb=False)
    with pytest.raises(DataError, match=r"0000000.png is uint16 with 1 channel"):
        SynthiaDataset(syn).load_raw(0)


def test_empty_image_folder(tmp_path):
    (tmp_path / "frames" / "sub").mkdir(parents=True)
    with pytest.raises(DataError, match="frames holds no"):
        ImageFolderDataset(tmp_path / "frames")
    with pytest.raises(DataError, match="not found"):
        ImageFolderDataset(tmp_path / "missing")


def test_size_mismatch_resizes_gta5_images_once_warned_and_fails_elsewhere(tmp_path, caplog):
    root = make_gta5(tmp_path / "gta")
    write_png(root / "images" / "00001.png", rgb(1, H + 2, W + 4))
    ds = GTA5Dataset(root)
    with caplog.at_level(logging.WARNING):
        image, label = ds.load_raw(1)
        ds.load_raw(1)
    assert image.shape == (H, W, 3)
    assert sum("images/00001.png" in r.getMessage() for r in caplog.records) == 1

    cs = make_cityscapes(tmp_path / "cs")
    write_png(cs / "leftImg8bit/train/aachen/aachen_000000_000019_leftImg8bit.png", rgb(0, H + 2, W))
    with pytest.raises(DataError, match=r"aachen_000000_000019_leftImg8bit.png is 64x34 but label .*labelIds.png is 64x32"):
        CityscapesDataset(cs).load_raw(0)


def test_batches_do_not_depend_on_the_number_of_workers(tmp_path):
    ds = GTA5Dataset(make_gta5(tmp_path, n=4), transform=SegTransformConfig(crop_size=(16, 16)), seed=3)

    def batches(workers: int) -> list[torch.Tensor]:
        loader = torch.utils.data.DataLoader(ds, batch_size=2, num_workers=workers, collate_fn=collate)
        return [torch.cat([b["image"].flatten(), b["label"].flatten().float()]) for b in loader]

    for single, parallel in zip(batches(0), batches(2)):
        assert torch.equal(single, parallel)
