import numpy as np
import pytest
import torch

from cicld_core.metrics import ConfusionMatrix


def test_hand_made_case():
    target = np.array([[0, 0, 1, 1], [2, 2, 255, 255]])
    prediction = np.array([[0, 1, 1, 1], [2, 0, 0, 2]])
    metric = ConfusionMatrix(num_classes=3)
    metric.update(prediction, target)
    # class 0: tp 1, truth 2, predicted 2 -> 1/3; class 1: tp 2, truth 2, pred 3 -> 2/3;
    # class 2: tp 1, truth 2, pred 1 -> 1/2. Ignore pixels count nowhere.
    assert np.allclose(metric.iou(), [1 / 3, 2 / 3, 1 / 2])
    assert metric.miou() == pytest.approx(np.mean([1 / 3, 2 / 3, 1 / 2]))
    assert metric.matrix.sum() == 6
    assert metric.pixel_accuracy() == pytest.approx(4 / 6)


def test_split_level_sums_not_per_image_mean():
    metric = ConfusionMatrix(num_classes=2)
    metric.update(np.array([0, 0, 0, 0]), np.array([0, 0, 0, 1]))  # per-image IoU0 = 3/4
    metric.update(np.array([1]), np.array([0]))  # per-image IoU0 = 0
    # summed: tp0 = 3, truth0 = 4, pred0 = 4 -> 3/5, not the per-image mean 3/8
    assert metric.iou()[0] == pytest.approx(3 / 5)


def test_protocol_means_only_its_classes_and_absent_classes_are_nan():
    target = np.array([0, 1, 9, 14, 16])
    prediction = np.array([0, 1, 0, 0, 0])
    metric = ConfusionMatrix()
    metric.update(torch.as_tensor(prediction), torch.as_tensor(target))
    iou = metric.iou()
    assert iou[0] == pytest.approx(1 / 4) and iou[1] == 1.0
    assert np.isnan(iou[2]) and iou[9] == 0.0
    assert metric.miou(19) == pytest.approx((0.25 + 1.0 + 0 + 0 + 0) / 5)
    assert metric.miou(16) == pytest.approx((0.25 + 1.0) / 2)
    summary = metric.summary(16)
    assert set(summary["per_class_iou"]) >= {"road", "sidewalk"} and "terrain" not in summary["per_class_iou"]
    assert summary["miou"] == pytest.approx(62.5)


def test_ignore_prediction_is_a_miss_and_merge_adds():
    a, b = ConfusionMatrix(num_classes=2), ConfusionMatrix(num_classes=2)
    a.update(np.array([255, 0]), np.array([0, 0]))
    assert a.iou()[0] == pytest.approx(1 / 2)
    b.update(np.array([1]), np.array([1]))
    a.merge(b)
    assert a.iou()[1] == 1.0 and a.iou()[0] == pytest.approx(1 / 2)


def test_bad_shapes_and_ids_raise():
    metric = ConfusionMatrix(num_classes=3)
    with pytest.raises(ValueError, match="shape"):
        metric.update(np.zeros((2, 2)), np.zeros((2, 3)))
    with pytest.raises(ValueError, match="outside"):
        metric.update(np.zeros(2), np.array([0, 7]))


def test_where_pixels_go_ranks_each_true_class_by_what_it_is_predicted_as():
    from cicld_core.labels import CLASS_NAMES

    vegetation, building, road, terrain = (CLASS_NAMES.index(n) for n in ("vegetation", "building", "road", "terrain"))
    # 10 vegetation pixels: 6 read as building, 3 as vegetation, 1 as ignore; 2 terrain pixels read as road
    target = np.array([vegetation] * 10 + [terrain] * 2 + [road])
    prediction = np.array([building] * 6 + [vegetation] * 3 + [255] + [road] * 2 + [road])
    metric = ConfusionMatrix()
    metric.update(prediction, target)
    shares = metric.where_pixels_go(19)
    assert shares["vegetation"] == {"building": 60.0, "vegetation": 30.0, "(ignore)": 10.0}
    assert list(shares["vegetation"]) == ["building", "vegetation", "(ignore)"]  # largest first
    assert "sky" not in shares  # no labelled pixels: no row
    assert metric.where_pixels_go(19, top=1)["vegetation"] == {"building": 60.0}
    # CamVid's protocol merges first: vegetation and terrain are both Tree
    camvid = metric.where_pixels_go(11)
    assert camvid["Tree"] == {"Building": 50.0, "Tree": 25.0, "Road": pytest.approx(16.67)}
    assert camvid["Road"] == {"Road": 100.0}
