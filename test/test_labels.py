import numpy as np
import pytest

from cicld_core import labels as L


def test_table_has_34_ids_and_19_contiguous_train_ids():
    assert [l.id for l in L.CITYSCAPES_LABELS] == list(range(34))
    assert [l.train_id for l in L.TRAIN_LABELS] == list(range(19))
    assert L.CLASS_NAMES[0] == "road" and L.CLASS_NAMES[18] == "bicycle"
    ignored = {l.name for l in L.CITYSCAPES_LABELS if l.train_id == L.IGNORE_INDEX}
    assert {"unlabeled", "parking", "guard rail", "caravan", "trailer", "polegroup"} <= ignored
    assert all(l.ignore_in_eval == (l.train_id == 255) for l in L.CITYSCAPES_LABELS)


def test_known_cityscapes_entries():
    by_name = {l.name: l for l in L.CITYSCAPES_LABELS}
    assert (by_name["road"].id, by_name["road"].train_id, by_name["road"].color) == (7, 0, (128, 64, 128))
    assert (by_name["sky"].id, by_name["sky"].train_id, by_name["sky"].category) == (23, 10, "sky")
    assert (by_name["train"].id, by_name["train"].train_id) == (31, 16)
    assert by_name["car"].has_instances and not by_name["road"].has_instances


def test_gta5_map_matches_design():
    ids = [7, 8, 11, 12, 13, 17, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 31, 32, 33]
    assert L.GTA5_ID_TO_TRAIN_ID == {i: t for t, i in enumerate(ids)}
    lut = L.CITYSCAPES_LUT
    assert lut[np.array([0, 7, 9, 33, 29])].tolist() == [255, 0, 255, 18, 255]


def test_synthia_map_matches_design_and_inverse_round_trips():
    expected = {3: 0, 4: 1, 2: 2, 21: 3, 5: 4, 7: 5, 15: 6, 9: 7, 6: 8, 1: 10,
                10: 11, 17: 12, 8: 13, 19: 15, 12: 17, 11: 18}
    assert L.SYNTHIA_ID_TO_TRAIN_ID == expected
    for train_id, synthia_id in L.TRAIN_ID_TO_SYNTHIA_ID.items():
        assert L.SYNTHIA_LUT[synthia_id] == (255 if train_id in (9, 14, 16) else train_id)
    assert L.SYNTHIA_ID_SET == frozenset(range(23))


def test_protocols():
    assert len(L.protocol_classes(19)) == 19
    assert len(L.protocol_classes(16)) == 16 and not {9, 14, 16} & set(L.protocol_classes(16))
    assert len(L.protocol_classes(13)) == 13 and not {3, 4, 5, 9, 14, 16} & set(L.protocol_classes(13))
    with pytest.raises(ValueError, match="19, 16|13, 16, 19"):
        L.protocol_classes(7)


def test_train_ids_to_label_ids_inverts_the_map():
    train_ids = np.array([[0, 18, 255], [10, 13, 5]], dtype=np.uint8)
    label_ids = L.train_ids_to_label_ids(train_ids)
    assert label_ids.tolist() == [[7, 33, 0], [23, 26, 17]]
    assert (L.CITYSCAPES_LUT[label_ids] == train_ids).all()


def test_colorize_and_overlay():
    mask = np.array([[0, 255], [10, 13]], dtype=np.uint8)
    colour = L.colorize(mask)
    assert colour.shape == (2, 2, 3) and colour.dtype == np.uint8
    assert colour[0, 0].tolist() == [128, 64, 128] and colour[0, 1].tolist() == [0, 0, 0]
    assert colour[1, 1].tolist() == [0, 0, 142]
    image = np.full((2, 2, 3), 100, np.uint8)
    blended = L.overlay(image, mask, alpha=0.5)
    assert blended[0, 0].tolist() == [114, 82, 114]
    assert blended[0, 1].tolist() == [100, 100, 100]  # ignore keeps the image
    assert (L.overlay(image, mask, alpha=0.0) == image).all()
    with pytest.raises(ValueError, match="must match"):
        L.overlay(image, mask[:1])
    with pytest.raises(ValueError, match="alpha"):
        L.overlay(image, mask, alpha=1.5)



def test_overlay_takes_the_colour_mask_the_caller_already_has():
    image = np.random.default_rng(1).integers(0, 256, (6, 5, 3), dtype=np.uint8)
    mask = np.random.default_rng(2).integers(0, L.NUM_TRAIN_CLASSES, (6, 5)).astype(np.uint8)
    mask[0, 0] = L.IGNORE_INDEX
    np.testing.assert_array_equal(L.overlay(image, mask, 0.3, colour=L.colorize(mask)), L.overlay(image, mask, 0.3))
