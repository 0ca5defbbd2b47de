"""Streaming confusion-matrix segmentation metrics.

Intersection and union are summed over the whole split before dividing (the Cityscapes
convention), never averaged per image. A protocol (19, 16 or 13 classes) selects which
classes enter the mean; the confusion matrix always keeps all 19 so that, for example,
a Synthia-trained model's terrain predictions still count as errors on Cityscapes.
Protocol 11 is CamVid's: truth and prediction are merged into CamVid's 11 classes
(``labels.TRAIN_ID_TO_CAMVID``) and every one of them is scored.
"""
from __future__ import annotations

import numpy as np

from .labels import (
    CAMVID_CLASS_NAMES, CAMVID_PROTOCOL, CLASS_NAMES, IGNORE_INDEX, NUM_TRAIN_CLASSES, TRAIN_ID_TO_CAMVID,
    protocol_classes,
)


class ConfusionMatrix:
    """Accumulates a (num_classes x num_classes) confusion matrix: rows truth, columns prediction."""

    def __init__(self, num_classes: int = NUM_TRAIN_CLASSES, ignore_index: int = IGNORE_INDEX) -> None:
        self.num_classes = num_classes
        self.ignore_index = ignore_index
        self.matrix = np.zeros((num_classes, num_classes), dtype=np.int64)
        # Per true class, pixels predicted as ignore or an id outside the classes: they
        # count in the class's union but have no column in the matrix.
        self.missed = np.zeros(num_classes, dtype=np.int64)

    def update(self, prediction, target) -> None:
        """Add one image or a batch. Accepts numpy arrays or torch tensors of equal shape."""
        prediction = _as_numpy(prediction)
        target = _as_numpy(target)
        if prediction.shape != target.shape:
            raise ValueError(
                f"prediction shape {prediction.shape} differs from target shape {target.shape}; "
                "resize the prediction to the label resolution first"
            )
        valid = target != self.ignore_index
        truth = target[valid].astype(np.int64)
        predicted = prediction[valid].astype(np.int64)
        if truth.size and (truth.min() < 0 or truth.max() >= self.num_classes):
            raise ValueError(
                f"target holds class ids outside 0..{self.num_classes - 1} (and ignore {self.ignore_index}): "
                f"{sorted(set(np.unique(truth).tolist()) - set(range(self.num_classes)))}"
            )
        # A prediction of ignore (or any id outside the classes) is a miss for the true class.
        outside = (predicted < 0) | (predicted >= self.num_classes)
        if outside.any():
            self.missed += np.bincount(truth[outside], minlength=self.num_classes)
            truth, predicted = truth[~outside], predicted[~outside]
        self.matrix += np.bincount(
            truth * self.num_classes + predicted, minlength=self.num_classes**2
        ).reshape(self.num_classes, self.num_classes)

    def merge(self, other: "ConfusionMatrix") -> None:
        """Add another accumulator's counts (e.g. from another process)."""
        self.matrix += other.matrix
        self.missed += other.missed

    def iou(self) -> np.ndarray:
        """Per-class IoU; NaN for a class absent from both truth and prediction."""
        intersection = np.diag(self.matrix).astype(np.float64)
        truth_total = self.matrix.sum(axis=1) + self.missed
        union = truth_total + self.matrix.sum(axis=0) - intersection
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(union > 0, intersection / union, np.nan)

    def merged(self, class_map: "list[int] | tuple[int, ...]", num_classes: int) -> "ConfusionMatrix":
        """The matrix with class i counted as class_map[i]: rows and columns summed by group."""
        if len(class_map) != self.num_classes:
            raise ValueError(f"class_map has {len(class_map)} entries for {self.num_classes} classes")
        one_hot = np.zeros((self.num_classes, num_classes), dtype=np.int64)
        one_hot[np.arange(self.num_classes), list(class_map)] = 1
        merged = ConfusionMatrix(num_classes, self.ignore_index)
        merged.matrix = one_hot.T @ self.matrix @ one_hot
        merged.missed = one_hot.T @ self.missed
        return merged

    def camvid(self) -> "ConfusionMatrix":
        """Truth and prediction merged into CamVid's 11 classes (protocol 11)."""
        if self.num_classes != NUM_TRAIN_CLASSES:
            raise ValueError(f"the CamVid merge needs the {NUM_TRAIN_CLASSES} train classes, this matrix has "
                             f"{self.num_classes}")
        return self.merged(TRAIN_ID_TO_CAMVID, len(CAMVID_CLASS_NAMES))

    def miou(self, protocol: int | None = None) -> float:
        """Mean IoU over the protocol's classes (all classes when None) that occur in
        truth or prediction."""
        if protocol == CAMVID_PROTOCOL:
            return self.camvid().miou()
        scores = self.iou()[list(self._classes(protocol))]
        return float(np.nanmean(scores)) if np.isfinite(scores).any() else float("nan")

    def _classes(self, protocol: int | None) -> tuple[int, ...]:
        if protocol is None:
            return tuple(range(self.num_classes))
        if self.num_classes != NUM_TRAIN_CLASSES:
            raise ValueError(
                f"protocol {protocol} is defined on the {NUM_TRAIN_CLASSES} Cityscapes train "
                f"classes, but this matrix has {self.num_classes}"
            )
        return protocol_classes(protocol)

    def pixel_accuracy(self) -> float:
        total = self.matrix.sum() + self.missed.sum()
        return float(np.trace(self.matrix) / total) if total else float("nan")

    def summary(self, protocol: int = 19) -> dict:
        """JSON-ready figures: mIoU (in %), per-class IoU by name, pixel accuracy."""
        if protocol == CAMVID_PROTOCOL:
            camvid = self.camvid()
            return {
                "protocol": protocol,
                "miou": _percent(camvid.miou()),
                "pixel_accuracy": _percent(camvid.pixel_accuracy()),
                "per_class_iou": {name: _percent(v) for name, v in zip(CAMVID_CLASS_NAMES, camvid.iou())},
            }
        iou = self.iou()
        classes = self._classes(protocol)
        return {
            "protocol": protocol,
            "miou": _percent(self.miou(protocol)),
            "pixel_accuracy": _percent(self.pixel_accuracy()),
            "per_class_iou": {CLASS_NAMES[c]: _percent(iou[c]) for c in classes},
        }

    def where_pixels_go(self, protocol: int = 19, top: int = 3) -> dict[str, dict[str, float]]:
        """Per true class of the protocol: the ``top`` classes its pixels are predicted as, in %
        of the class's labelled pixels (itself included; "(ignore)" for predictions outside the
        classes). Says what a low IoU is made of, e.g. Tree read as Building."""
        if protocol == CAMVID_PROTOCOL:
            camvid = self.camvid()
            matrix, missed, names, classes = camvid.matrix, camvid.missed, CAMVID_CLASS_NAMES, range(len(CAMVID_CLASS_NAMES))
        else:
            matrix, missed, names, classes = self.matrix, self.missed, CLASS_NAMES, self._classes(protocol)
        shares = {}
        for truth in classes:
            total = matrix[truth].sum() + missed[truth]
            if not total:
                continue
            counts = {names[c]: int(matrix[truth, c]) for c in range(matrix.shape[1])} | {"(ignore)": int(missed[truth])}
            ranked = sorted(((n, k) for n, k in counts.items() if k), key=lambda item: -item[1])[:top]
            shares[names[truth]] = {n: round(100.0 * k / total, 2) for n, k in ranked}
        return shares


def _percent(value: float) -> float | None:
    return None if np.isnan(value) else round(100.0 * float(value), 4)


def _as_numpy(array) -> np.ndarray:
    if hasattr(array, "detach"):
        array = array.detach().cpu().numpy()
    return np.asarray(array)
